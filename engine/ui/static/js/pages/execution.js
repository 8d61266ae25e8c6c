// One execution: its DAG coloured live (server-sent events), jobs, a Gantt of attempts, logs streaming live,
// why a job is not running, cancel and resubmit, the event history, and time travel over those events.
import { get, post, query, stream } from "../api.js";
import { act, badge, duration, fill, flowLink, h, message, seconds, table, when } from "../dom.js";
import { dagView } from "../dag.js";
import { gantt } from "../charts.js";
import { navigate, onLeave } from "../nav.js";

const ENDED = new Set(["SUCCEEDED", "FAILED", "CANCELLED", "REJECTED"]);
const JOB_ENDED = new Set(["SUCCEEDED", "FAILED", "SKIPPED", "CANCELLED"]);

// Why a job that has not ended is not running, in words, from the view and the flow's DAG.
export function whyNot(job, byName, graphNode, execution) {
  if (execution.status === "SUBMITTED") return "the engine has not accepted the execution yet";
  if (job.waiting) return `${job.waiting}: start a worker of that pool (kafkaban worker --pool ${job.pool})`;
  switch (job.status) {
    case "PENDING": {
      const open = (graphNode ? graphNode.depends_on : []).filter((d) => !JOB_ENDED.has((byName[d] || {}).status));
      if (open.length) return `waiting for ${open.length === 1 ? "its dependency" : "its dependencies"} ${open.join(", ")}`;
      if (graphNode && graphNode.condition) return `waiting for its condition: ${graphNode.condition}`;
      return ENDED.has(execution.status) ? "the execution ended before it ran" : "about to be queued";
    }
    case "QUEUED": return `queued for a free slot in pool ${job.pool}`;
    case "DISPATCHED": return `sent to pool ${job.pool}; waiting for a worker to start it`;
    case "RETRY_WAIT": return `failed attempt ${job.attempt}; waiting to retry${job.error ? ` (${job.error})` : ""}`;
    default: return null;
  }
}

function summary(event) {
  const p = event.payload || {};
  const who = p.submitter || p.requested_by || p.worker_id || "";
  const what = p.job ? `${p.job}${p.attempt ? ` #${p.attempt}` : ""}` : "";
  return [what, p.status, p.exit_code !== undefined && p.exit_code !== null ? `exit ${p.exit_code}` : "", p.reason, p.error, who ? `by ${who}` : ""]
    .filter(Boolean).join(" · ");
}

export async function show(main, id) {
  const [graph, first] = await Promise.all([get(`/api/v1/executions/${encodeURIComponent(id)}/graph`),
                                           get(`/api/v1/executions/${encodeURIComponent(id)}`)]);
  const order = graph.order;
  const nodeOf = Object.fromEntries(graph.nodes.map((n) => [n.name, n]));
  let selected = null;
  let current = first;
  let travelling = false;
  let logSource = null;

  const head = h("div", {});
  const actions = h("div", { class: "row" });
  const liveNote = h("span", { class: "muted", "aria-live": "polite" });
  const why = h("div", {});
  const dag = dagView(graph, { onSelect: (name) => selectJob(name) });
  const jobsBox = h("div", {});
  const ganttBox = h("div", {});
  const logBox = h("div", {});
  const eventsBox = h("div", {});
  const slider = h("input", { type: "range", min: 0, max: 0, value: 0, step: 1, id: "travel",
                              "aria-label": "Time travel: the execution as it stood at an event" });
  const sliderLabel = h("output", { for: "travel" }, "now (live)");
  const travel = h("div", { class: "card" }, h("h2", {}, "Time travel"),
    h("p", { class: "muted" }, "Move back through the execution's events: the DAG and the jobs show what the log said then (folded with the engine's own evolve)."),
    slider, sliderLabel);

  fill(main, head, actions, liveNote, why, h("h2", {}, "DAG"), dag.el, travel, h("h2", {}, "Jobs"), jobsBox,
                       h("h2", {}, "Timeline"), ganttBox, logBox, h("h2", {}, "Event history"), eventsBox);

  function drawHead(x) {
    fill(head, 
      h("h1", {}, `Execution ${x.execution_id}`),
      h("p", {}, badge(x.status), " ", flowLink(x.flow_name, x.project), " · submitted ", when(x.submitted_at),
        ` by ${x.submitter}`, x.schedule_id ? [" · schedule ", h("a", { href: `/schedules/${encodeURIComponent(x.schedule_id)}` }, x.schedule_id)] : "",
        " · ran ", duration(x.started_at, x.ended_at)),
      Object.keys(x.params || {}).length ? h("p", {}, "Params: ", h("code", {}, Object.entries(x.params).map(([k, v]) => `${k}=${v}`).join("  "))) : "",
      (x.errors || []).length ? h("p", { class: "message", role: "alert" }, x.errors.join("; ")) : "",
      x.cancel_requested_by ? h("p", { class: "warning" }, `cancel requested by ${x.cancel_requested_by}`) : "");
  }

  function drawActions(x) {
    const cancel = h("button", { type: "button", class: "danger", id: "cancel", disabled: ENDED.has(x.status) || travelling },
                     "Cancel execution");
    cancel.addEventListener("click", () => {
      if (!window.confirm(`Cancel execution ${x.execution_id}?`)) return;
      act("cancel", () => post(`/api/v1/executions/${encodeURIComponent(x.execution_id)}/cancel`, { reason: "cancelled from the web UI" }),
          () => "cancel requested");
    });
    const resubmit = h("button", { type: "button", id: "resubmit" }, "Resubmit with the same params");
    resubmit.addEventListener("click", async () => {
      const flow = x.project ? `${x.project}/${x.flow_name}` : x.flow_name;
      const answer = await act("resubmit", () => post("/api/v1/executions", {
        flow, version: x.project ? x.archive : x.version, params: x.params || {} }));
      if (answer) navigate(`/executions/${encodeURIComponent(answer.execution_id)}`);
    });
    fill(actions, cancel, resubmit, h("a", { class: "button", href: `/api/v1/executions/${encodeURIComponent(x.execution_id)}/events` }, "Events as JSON"));
  }

  function drawJobs(x) {
    const byName = Object.fromEntries(x.jobs.map((j) => [j.job, j]));
    dag.update(Object.fromEntries(x.jobs.map((j) => [j.job, j.status])));
    const rows = order.map((name) => byName[name] || { job: name, status: "PENDING", attempt: 0 });
    fill(jobsBox, table([
      { title: "Job", cell: (j) => h("button", { type: "button", class: "linklike", onclick: () => selectJob(j.job) }, j.job) },
      { title: "Status", cell: (j) => badge(j.status) },
      { title: "Attempt", cell: (j) => String(j.attempt || 0) },
      { title: "Pool / worker", cell: (j) => [j.pool || nodeOf[j.job]?.pool || "", j.worker_id ? ` · ${j.worker_id}` : ""] },
      { title: "Started", cell: (j) => when(j.started_at) },
      { title: "Duration", cell: (j) => duration(j.started_at, j.ended_at) },
      { title: "Exit", cell: (j) => (j.exit_code === null || j.exit_code === undefined ? "" : String(j.exit_code)) },
      { title: "Note", cell: (j) => j.error || j.reason || (JOB_ENDED.has(j.status) || j.status === "RUNNING" ? "" : whyNot(j, byName, nodeOf[j.job], x) || "") },
    ], rows, (j) => ({ "data-job": j.job, "data-status": j.status, class: j.job === selected ? "selected" : null })));
    const stuck = rows.filter((j) => !JOB_ENDED.has(j.status) && j.status !== "RUNNING")
      .map((j) => [j.job, whyNot(j, byName, nodeOf[j.job], x)]).filter(([, reason]) => reason);
    fill(why, !ENDED.has(x.status) && stuck.length ? h("details", { class: "card", open: stuck.length <= 5 },
      h("summary", {}, `Why is this not running? (${stuck.length} job${stuck.length === 1 ? "" : "s"} waiting)`),
      h("ul", {}, stuck.slice(0, 200).map(([job, reason]) => h("li", {}, h("strong", {}, job), `: ${reason}`)))) : "");
    fill(ganttBox, gantt(rows));
  }

  function draw(x) {
    drawHead(x);
    drawActions(x);
    drawJobs(x);
  }

  async function selectJob(name) {
    selected = name;
    if (logSource) { logSource.close(); logSource = null; }
    const job = current.jobs.find((j) => j.job === name);
    for (const row of jobsBox.querySelectorAll("tr[data-job]")) row.classList.toggle("selected", row.dataset.job === name);
    const attempts = job && job.attempts && job.attempts.length ? job.attempts : [];
    const lines = h("pre", { class: "log", "aria-label": `Log of ${name}`, tabindex: "0" });
    const picker = h("div", { class: "row" }, attempts.map((a) =>
      h("button", { type: "button", onclick: () => showLog(a.attempt) }, `attempt ${a.attempt} · ${a.status}`)));
    fill(logBox, h("h2", {}, `Log of ${name}`), picker,
      attempts.length ? table([
        { title: "Attempt", cell: (a) => String(a.attempt) }, { title: "Status", cell: (a) => badge(a.status) },
        { title: "Worker", cell: (a) => a.worker_id || "" }, { title: "Started", cell: (a) => when(a.started_at) },
        { title: "Duration", cell: (a) => duration(a.started_at, a.ended_at) },
        { title: "Exit", cell: (a) => (a.exit_code === null || a.exit_code === undefined ? "" : String(a.exit_code)) },
        { title: "Error", cell: (a) => a.error || "" }], attempts) : h("p", { class: "muted" }, "No attempt has started yet."),
      lines);
    function showLog(attempt) {
      if (logSource) { logSource.close(); logSource = null; }
      fill(lines, );
      const path = `/api/v1/executions/${encodeURIComponent(id)}/jobs/${encodeURIComponent(name)}/logs`;
      const add = (line) => {
        lines.append(h("span", { class: line.stream }, `${line.line}\n`));
        lines.scrollTop = lines.scrollHeight;
      };
      logSource = stream(`${path}${query({ attempt, follow: "true" })}`, {
        line: add,
        end: () => { logSource.close(); logSource = null; lines.append(h("span", { class: "muted" }, "— end of the attempt's output —\n")); },
      }, () => { if (logSource) { logSource.close(); logSource = null; get(`${path}${query({ attempt })}`).then((a) => { fill(lines, ); a.lines.forEach(add); }).catch((e) => message(`log: ${e.message}`)); } });
    }
    if (attempts.length) showLog(attempts[attempts.length - 1].attempt);
  }

  let events = [];
  async function loadEvents() {
    const answer = await get(`/api/v1/executions/${encodeURIComponent(id)}/events`);
    events = answer.events;
    fill(eventsBox, table([
      { title: "#", cell: (e) => String(events.indexOf(e) + 1) },
      { title: "Offset", cell: (e) => `${e.partition}:${e.offset}` },
      { title: "When", cell: (e) => when(e.occurred_at) },
      { title: "Event", cell: (e) => e.type },
      { title: "What and who", cell: (e) => summary(e) },
      { title: "Producer", cell: (e) => e.producer },
      { title: "Payload", cell: (e) => h("details", {}, h("summary", {}, "show"), h("pre", {}, JSON.stringify(e.payload, null, 2))) },
    ], events));
    const atEnd = Number(slider.value) >= Number(slider.max);
    slider.max = String(events.length);
    if (atEnd) slider.value = String(events.length);
  }

  slider.addEventListener("input", async () => {
    const index = Number(slider.value);
    if (index >= events.length) {
      travelling = false;
      sliderLabel.textContent = "now (live)";
      current = await get(`/api/v1/executions/${encodeURIComponent(id)}`);
      draw(current);
      return;
    }
    travelling = true;
    const event = events[index - 1] || events[0];
    const past = await act("time travel", () => get(`/api/v1/executions/${encodeURIComponent(id)}${query({ as_of: String(event.offset) })}`));
    if (!past || Number(slider.value) !== index) return;
    fill(sliderLabel, `after event ${Math.max(index, 1)} of ${events.length}: ${event.type} at `, when(event.occurred_at));
    draw(past);
  });

  // a busy execution changes many times a second: draw once a frame, reread its history at most every 2 s
  let framed = false;
  const redraw = () => {
    if (framed) return;
    framed = true;
    requestAnimationFrame(() => { framed = false; if (!travelling) draw(current); });
  };
  let eventsDue = null;
  const reloadEvents = () => {
    if (eventsDue) return;
    eventsDue = setTimeout(() => { eventsDue = null; loadEvents().catch(() => {}); }, 2000);
  };
  onLeave(() => clearTimeout(eventsDue));

  draw(first);
  await loadEvents();
  if (!ENDED.has(first.status)) {
    const watch = stream(`/api/v1/executions/${encodeURIComponent(id)}/watch`, {
      state: (x) => {
        current = x;
        liveNote.textContent = `Live · last change ${new Date().toLocaleTimeString()}`;
        if (!travelling) redraw();
        reloadEvents();
      },
      end: () => { watch.close(); liveNote.textContent = `Ended ${current.status}`; clearTimeout(eventsDue); eventsDue = null; loadEvents().catch(() => {}); },
    }, () => { liveNote.textContent = "Live updates interrupted; retrying…"; });
    onLeave(() => watch.close());
  } else {
    liveNote.textContent = `Ended ${first.status} after ${seconds(new Date(first.ended_at) - new Date(first.started_at || first.submitted_at))}`;
  }
  onLeave(() => { if (logSource) logSource.close(); });
}

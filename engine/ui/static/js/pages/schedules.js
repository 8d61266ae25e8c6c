// Schedules: the list with next fire and last run; a create form with a live preview of the next fires in the
// schedule's zone; a schedule's actions (pause, resume, trigger, backfill, delete), its ticks with their reasons,
// its backfills' progress, its event trigger's dependencies, and its history.
import { api, get, post, query } from "../api.js";
import { act, badge, executionLink, fill, h, table, when } from "../dom.js";
import { every, navigate } from "../nav.js";

const zone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

function previewer(cronInput, zoneInput, out) {
  let timer = null, asked = 0;
  async function refresh() {
    const cron = cronInput.value.trim();
    const mine = ++asked;
    if (!cron) { fill(out, h("p", { class: "muted" }, "Type an expression to see its next fires.")); return; }
    try {
      const answer = await get(`/api/v1/schedules/preview${query({ cron, timezone: zoneInput.value.trim() || "UTC", count: 5 })}`);
      if (mine !== asked) return;  // a later keystroke's answer wins
      fill(out, answer.fires.length
        ? h("ol", { "aria-label": "Next fires" }, answer.fires.map((f) => h("li", {}, h("code", {}, f.local), " · yours: ", when(f.utc))))
        : h("p", { class: "warning" }, `“${cron}” never fires: no date matches it.`));
    } catch (error) {
      if (mine === asked) fill(out, h("p", { class: "message", role: "alert" }, error.message));
    }
  }
  const later = () => { clearTimeout(timer); timer = setTimeout(refresh, 250); };
  cronInput.addEventListener("input", later);
  zoneInput.addEventListener("input", later);
  refresh();
}

function paramsOf(text) {
  const params = {};
  for (const line of text.split("\n")) {
    const at = line.indexOf("=");
    if (at > 0) params[line.slice(0, at).trim()] = line.slice(at + 1);
  }
  return params;
}

function createForm(flow) {
  const cron = h("input", { name: "cron", required: true, maxlength: 200, placeholder: "0 2 * * *, @daily or every 15m" });
  const tz = h("input", { name: "timezone", value: zone(), maxlength: 64 });
  const out = h("div", { class: "preview", "aria-live": "polite" });
  const form = h("form", { class: "card", id: "create-schedule", "aria-label": "Create a schedule" },
    h("div", { class: "row" },
      h("label", {}, "Flow (NAME or PROJECT/FLOW)", h("input", { name: "flow", required: true, maxlength: 511, value: flow || "" })),
      h("label", {}, "Schedule id (optional)", h("input", { name: "schedule_id", maxlength: 200 })),
      h("label", {}, "When (cron)", cron), h("label", {}, "Time zone", tz),
      h("label", {}, "If the last run is still going", h("select", { name: "overlap" },
        ["skip", "buffer_one", "buffer_all", "cancel_other", "terminate_other", "allow_all"].map((o) => h("option", { value: o }, o)))),
      h("label", {}, "Params (name=value a line)", h("textarea", { name: "params", rows: 2, cols: 30 }))),
    h("h3", {}, "Next fires"), out,
    h("button", { type: "submit", class: "primary" }, "Create schedule"));
  previewer(cron, tz, out);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const body = { flow: String(data.get("flow")).trim(), cron: cron.value.trim(), timezone: tz.value.trim() || "UTC",
                   overlap: String(data.get("overlap")), params: paramsOf(String(data.get("params") || "")) };
    const id = String(data.get("schedule_id") || "").trim();
    if (id) body.schedule_id = id;
    const answer = await act("create schedule", () => post("/api/v1/schedules", body), (a) => `schedule ${a.schedule_id} created`);
    if (answer) navigate(`/schedules/${encodeURIComponent(answer.schedule_id)}`);
  });
  return form;
}

// the runs an event trigger started, each with the records that met its dependencies (where they sit in the log)
function triggered(events) {
  const fired = events.filter((e) => e.type === "ScheduleFired" && e.payload && (e.payload.dependencies || []).length);
  if (!fired.length) return "";
  const at = (t) => when(typeof t === "number" ? new Date(t).toISOString() : t);
  return [h("h2", {}, "Runs the trigger started"), table([
    { title: "Logical time", cell: (e) => at(e.payload.logical_time) },
    { title: "Execution", cell: (e) => executionLink(e.payload.execution_id) },
    { title: "Met by", cell: (e) => h("ul", {}, e.payload.dependencies.map((d) =>
      h("li", {}, `${d.name}: `, h("code", {}, `${d.topic}[${d.partition}]@${d.offset}`)))) },
  ], fired)];
}

export async function list(main) {
  const flow = new URLSearchParams(window.location.search).get("flow") || "";
  const body = h("div", {});
  fill(main, h("h1", {}, "Schedules"), body, h("h2", {}, "Create a schedule"), createForm(flow));
  async function load() {
    const answer = await get("/api/v1/schedules");
    fill(body, table([
      { title: "Schedule", cell: (x) => h("a", { href: `/schedules/${encodeURIComponent(x.schedule_id)}` }, x.schedule_id) },
      { title: "Flow", cell: (x) => x.flow },
      { title: "When", cell: (x) => [h("code", {}, x.cron), ` (${x.timezone})`] },
      { title: "Status", cell: (x) => badge(x.status) },
      { title: "Next fire", cell: (x) => when(x.next_fire_at) },
      { title: "Last run", cell: (x) => (x.last_execution_id ? [executionLink(x.last_execution_id), " ", badge(x.last_status)] : h("span", { class: "muted" }, "none yet")) },
      { title: "Fired / skipped", cell: (x) => `${x.fired} / ${x.skipped}` },
    ], answer.schedules, (x) => ({ "data-schedule": x.schedule_id })));
  }
  await load();
  every(5000, () => load().catch(() => {}));
}

export async function show(main, id) {
  const path = `/api/v1/schedules/${encodeURIComponent(id)}`;
  const box = h("div", {});
  fill(main, box);
  async function load() {
    const [x, history] = await Promise.all([get(`${path}?fires=100`), get(`${path}/events`)]);
    const control = (verb, label, extra) => h("button", { type: "button", id: `schedule-${verb}`, class: verb === "delete" ? "danger" : null,
      onclick: async () => {
        if (verb === "delete" && !window.confirm(`Delete schedule ${id}?`)) return;
        const done = await act(label, () => (verb === "delete" ? api("DELETE", path, {}) : post(`${path}/${verb}`, extra || {})), () => `${label}: done`);
        if (done) load();
      } }, label);
    const from = h("input", { type: "datetime-local", name: "from", required: true });
    const to = h("input", { type: "datetime-local", name: "to", required: true });
    const backfill = h("form", { class: "row", "aria-label": "Backfill" }, h("label", {}, "Backfill from", from), h("label", {}, "to", to),
      h("button", { type: "submit" }, "Backfill"));
    backfill.addEventListener("submit", async (event) => {
      event.preventDefault();
      const done = await act("backfill", () => post(`${path}/backfill`, { from: new Date(from.value).toISOString(), to: new Date(to.value).toISOString() }),
                             (a) => `backfill ${a.backfill_id || ""} requested`);
      if (done) load();
    });
    const deps = x.dependencies || [];
    fill(box, 
      h("h1", {}, `Schedule ${x.schedule_id}`),
      h("p", {}, badge(x.status), ` ${x.flow} · `, h("code", {}, x.cron), ` in ${x.timezone} · overlap ${x.overlap} · catch-up ${x.catchup}`,
        " · next fire ", when(x.next_fire_at), ` · created by ${x.created_by} `, when(x.created_at)),
      h("div", { class: "row" }, x.status === "ACTIVE" ? control("pause", "Pause") : "", x.status === "PAUSED" ? control("resume", "Resume") : "",
        x.status !== "DELETED" ? [control("trigger", "Trigger now"), control("delete", "Delete")] : ""),
      x.status !== "DELETED" ? h("div", { class: "card" }, backfill) : "",
      deps.length ? [h("h2", {}, "Event trigger"), table([
        { title: "Dependency", cell: (d) => d.name }, { title: "Kind", cell: (d) => d.type },
        { title: "Params", cell: (d) => h("code", {}, JSON.stringify(d.params || {})) }], deps),
      h("h3", {}, "Ticks waiting for their dependencies"),
      h("pre", {}, JSON.stringify(x.waiting || [], null, 2))] : "",
      triggered(history.events || []),
      h("h2", {}, "Backfills"),
      table([
        { title: "Backfill", cell: (b) => b.backfill_id }, { title: "Range", cell: (b) => [when(b.range_start), " → ", when(b.range_end)] },
        { title: "Status", cell: (b) => badge(b.status) }, { title: "Ticks", cell: (b) => String(b.ticks) },
        { title: "Decided through", cell: (b) => when(b.decided_through) }, { title: "Reason", cell: (b) => b.reason || "" }], x.backfills || []),
      h("h2", {}, "Ticks"),
      table([
        { title: "Logical time", cell: (f) => when(f.logical_time) }, { title: "Outcome", cell: (f) => badge(f.outcome) },
        { title: "Cause / reason", cell: (f) => f.reason || f.cause || "" },
        { title: "Execution", cell: (f) => (f.execution_id ? [executionLink(f.execution_id), " ", badge(f.execution_status)] : "") },
        { title: "Decided", cell: (f) => when(f.decided_at) }], x.fires || []),
      h("h2", {}, "History"),
      table([
        { title: "Offset", cell: (e) => `${e.partition}:${e.offset}` }, { title: "When", cell: (e) => when(e.occurred_at) },
        { title: "Event", cell: (e) => e.type }, { title: "Producer", cell: (e) => e.producer },
        { title: "Payload", cell: (e) => h("details", {}, h("summary", {}, "show"), h("pre", {}, JSON.stringify(e.payload, null, 2))) }], history.events || []));
  }
  await load();
  every(5000, () => { if (!box.contains(document.activeElement) || document.activeElement === document.body) load().catch(() => {}); });
}

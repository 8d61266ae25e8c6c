// Workers and pools, and dead letters: the operator's pages.
import { get, query } from "../api.js";
import { executionLink, fill, h, table, when } from "../dom.js";
import { every } from "../nav.js";

// a heartbeat names each attempt as execution_id/job/attempt (a job of an embedded flow has slashes of its own)
function attempt(text) {
  const parts = String(text).split("/");
  if (parts.length < 3) return String(text);
  return [executionLink(parts[0]), ` ${parts.slice(1, -1).join("/")} #${parts[parts.length - 1]}`];
}

export async function workers(main) {
  const body = h("div", {});
  fill(main, h("h1", {}, "Workers & pools"), body);
  async function load() {
    const [w, running] = await Promise.all([get("/api/v1/workers"),
      get(`/api/v1/executions${query({ status: "RUNNING", limit: 200 })}`)]);
    const pools = new Map();
    for (const worker of w.workers) {
      if (!pools.has(worker.pool)) pools.set(worker.pool, { live: 0, slots: 0, used: 0 });
      const pool = pools.get(worker.pool);
      if (worker.alive) { pool.live += 1; pool.slots += worker.slots; pool.used += (worker.running || []).length; }
    }
    // jobs waiting per pool, from the running executions' jobs (their queued and dispatched ones)
    const waiting = new Map();
    const views = await Promise.all(running.executions.slice(0, 50).map((x) => get(`/api/v1/executions/${encodeURIComponent(x.execution_id)}`).catch(() => null)));
    for (const view of views.filter(Boolean)) {
      for (const job of view.jobs) {
        if (job.status !== "QUEUED" && job.status !== "DISPATCHED") continue;
        if (!waiting.has(job.pool)) waiting.set(job.pool, []);
        waiting.get(job.pool).push({ execution: view.execution_id, job: job.job });
        if (!pools.has(job.pool)) pools.set(job.pool, { live: 0, slots: 0, used: 0 });
      }
    }
    const poolRows = [...pools.entries()].map(([name, p]) => ({ name, ...p, waiting: waiting.get(name) || [] }));
    fill(body, 
      poolRows.filter((p) => p.live === 0 && p.waiting.length).map((p) =>
        h("p", { class: "message", role: "alert" }, `Pool ${p.name} has no live worker and ${p.waiting.length} job(s) waiting for one: start one with kafkaban worker --pool ${p.name}`)),
      h("h2", {}, "Pools"),
      table([
        { title: "Pool", cell: (p) => p.name },
        { title: "Live workers", cell: (p) => (p.live ? String(p.live) : h("span", { class: "warning" }, "none")) },
        { title: "Slots used", cell: (p) => `${p.used} / ${p.slots}` },
        { title: "Jobs waiting", cell: (p) => (p.waiting.length ? h("details", {}, h("summary", {}, String(p.waiting.length)),
          h("ul", {}, p.waiting.slice(0, 100).map((j) => h("li", {}, executionLink(j.execution), ` ${j.job}`)))) : "0") },
      ], poolRows, (p) => ({ "data-pool": p.name })),
      h("h2", {}, "Workers"),
      table([
        { title: "Worker", cell: (x) => x.worker_id },
        { title: "Pool", cell: (x) => x.pool },
        { title: "Alive", cell: (x) => (x.alive ? "yes" : h("span", { class: "warning" }, "no")) },
        { title: "Slots", cell: (x) => `${(x.running || []).length} / ${x.slots}` },
        { title: "Running", cell: (x) => h("ul", {}, (x.running || []).map((r) => h("li", {}, attempt(r)))) },
        { title: "Last heartbeat", cell: (x) => when(x.last_heartbeat) },
      ], w.workers, (x) => ({ "data-worker": x.worker_id })));
  }
  await load();
  every(5000, () => load().catch(() => {}));
}

export async function deadLetters(main) {
  const params = new URLSearchParams(window.location.search);
  const answer = await get(`/api/v1/dead-letters${query({ topic: params.get("topic") || "", limit: 200 })}`);
  fill(main, 
    h("h1", {}, "Dead letters"),
    h("p", { class: "muted" }, `Records the engine or the projector refused, newest first, from the topic ${answer.topic}. Each keeps where it came from in the log and why it was refused.`),
    table([
      { title: "Reason", cell: (d) => d.reason || "" },
      { title: "From", cell: (d) => h("code", {}, `${d.source_topic ?? "?"}[${d.source_partition ?? "?"}]@${d.source_offset ?? "?"}`) },
      { title: "Event", cell: (d) => [d.event_type || h("span", { class: "muted" }, "undecodable"), d.execution_id ? [" ", executionLink(d.execution_id)] : ""] },
      { title: "Key", cell: (d) => h("code", {}, d.key || "") },
      { title: "Value", cell: (d) => h("details", {}, h("summary", {}, `${d.value_size} bytes`), h("pre", {}, d.value_preview)) },
      { title: "Here", cell: (d) => h("code", {}, `${answer.topic}[${d.partition}]@${d.offset}`) },
    ], answer.dead_letters, (d) => ({ "data-dead-letter": `${d.partition}:${d.offset}` })));
}

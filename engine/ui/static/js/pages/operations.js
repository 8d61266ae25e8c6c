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

// What the worker offers jobs and what its running jobs reserved; a worker older than heartbeats v2 sends none.
function resources(x) {
  if (x.cpu == null) return h("span", { class: "muted" }, "not reported");
  const load = x.load_1m == null ? "" : `, load ${x.load_1m.toFixed(2)}`;
  return h("span", { "data-resources": "" },
    `${+x.cpu_reserved.toFixed(2)} / ${+x.cpu.toFixed(2)} cpu, ${x.memory_reserved_mb} / ${x.memory_mb} MiB${load}`);
}

export async function workers(main) {
  const body = h("div", {});
  fill(main, h("h1", {}, "Workers & pools"), body);
  async function load() {
    const [w, p] = await Promise.all([get("/api/v1/workers"), get("/api/v1/pools")]);
    fill(body,
      p.pools.filter((pool) => pool.live_workers === 0 && pool.waiting).map((pool) =>
        h("p", { class: "message", role: "alert", "data-warning": pool.pool }, `Pool ${pool.pool} has no live worker and ${pool.waiting} job(s) waiting for one: start one with kafkaban worker --pool ${pool.pool}`)),
      h("h2", {}, "Pools"),
      table([
        { title: "Pool", cell: (x) => x.pool },
        { title: "Live workers", cell: (x) => (x.live_workers ? String(x.live_workers) : h("span", { class: "warning" }, "none")) },
        { title: "Slots used", cell: (x) => `${x.used} / ${x.slots}` },
        { title: "Jobs waiting", cell: (x) => (x.waiting ? h("details", {}, h("summary", {}, String(x.waiting)),
          h("ul", {}, x.waiting_jobs.map((j) => h("li", {}, executionLink(j.execution_id), ` ${j.job} (${j.status})`)))) : "0") },
      ], p.pools, (x) => ({ "data-pool": x.pool })),
      h("h2", {}, "Workers"),
      table([
        { title: "Worker", cell: (x) => x.worker_id },
        { title: "Pool", cell: (x) => x.pool },
        { title: "Alive", cell: (x) => (x.alive ? "yes" : h("span", { class: "warning" }, "no")) },
        { title: "Slots", cell: (x) => `${(x.running || []).length} / ${x.slots}` },
        { title: "Resources", cell: resources },
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
    h("p", { class: "muted" }, `Records the engine or a worker refused, newest first, from the topic ${answer.topic}. Each keeps where it came from in the log and why it was refused.`),
    table([
      { title: "Refused", cell: (d) => when(d.dead_lettered_at) },
      { title: "Reason", cell: (d) => d.reason || "" },
      { title: "From", cell: (d) => h("code", {}, `${d.source_topic ?? "?"}[${d.source_partition ?? "?"}]@${d.source_offset ?? "?"}`) },
      { title: "Event", cell: (d) => [d.event_type || h("span", { class: "muted" }, "undecodable"), d.execution_id ? [" ", executionLink(d.execution_id)] : ""] },
      { title: "Key", cell: (d) => h("code", {}, d.key || "") },
      { title: "Value", cell: (d) => h("details", {}, h("summary", {}, `${d.value_size} bytes`), h("pre", {}, d.value_preview)) },
      { title: "Here", cell: (d) => h("code", {}, `${answer.topic}[${d.partition}]@${d.offset}`) },
    ], answer.dead_letters, (d) => ({ "data-dead-letter": `${d.partition}:${d.offset}` })));
}

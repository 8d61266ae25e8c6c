// A flow: its versions (and the archive each pins), its DAG, a Run form built from its params, its runs with a
// duration chart, and its schedules. A registered flow and a project's flow differ only in where they are read.
import { get, post, query } from "../api.js";
import { act, fill, h, table, when } from "../dom.js";
import { dagView } from "../dag.js";
import { durationChart } from "../charts.js";
import { navigate } from "../nav.js";
import { executionRows } from "./executions.js";

export function runForm(graph, flowRef, version) {
  const inputs = graph.params.map((p) => h("label", {}, `${p.name}${p.required ? " (required)" : ""}`,
    h("input", { name: p.name, value: p.default ?? "", required: p.required, maxlength: 65536, "data-param": p.name })));
  const extra = h("textarea", { name: "extra", rows: 2, cols: 40, placeholder: "more params, one name=value a line" });
  const form = h("form", { class: "card", id: "run-form", "aria-label": `Run ${flowRef}` },
    h("div", { class: "row" }, inputs.length ? inputs : h("p", { class: "muted" }, "This flow declares no params."),
      h("label", {}, "Other params", extra)),
    h("button", { type: "submit", class: "primary" }, `Run ${flowRef}`));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const params = {};
    for (const input of form.querySelectorAll("input[data-param]")) params[input.name] = input.value;
    for (const line of extra.value.split("\n")) {
      const at = line.indexOf("=");
      if (at > 0) params[line.slice(0, at).trim()] = line.slice(at + 1);
    }
    const answer = await act("run", () => post("/api/v1/executions", { flow: flowRef, version, params }));
    if (answer) navigate(`/executions/${encodeURIComponent(answer.execution_id)}`);
  });
  return form;
}

export async function show(main, name, project) {
  const wanted = new URLSearchParams(window.location.search).get("version") || "";
  const flowRef = project ? `${project}/${name}` : name;
  let versions, graph;
  if (project) {
    const [p, g] = await Promise.all([get(`/api/v1/projects/${encodeURIComponent(project)}`),
      get(`/api/v1/projects/${encodeURIComponent(project)}/flows/${encodeURIComponent(name)}/graph${query({ archive: wanted })}`)]);
    graph = g;
    versions = table([
      { title: "Archive (sha256)", cell: (u) => h("a", { href: `?version=${u.archive_sha256}` }, h("code", {}, u.archive_sha256.slice(0, 16))) },
      { title: "Uploaded", cell: (u) => [when(u.uploaded_at), ` by ${u.uploaded_by}`] },
      { title: "", cell: (u) => (u.archive_sha256 === g.archive ? "shown" : "") },
    ], p.uploads.filter((u) => u.flows.some((f) => f.flow === name)));
  } else {
    const [v, g] = await Promise.all([get(`/api/v1/flows/${encodeURIComponent(name)}`),
      get(`/api/v1/flows/${encodeURIComponent(name)}/graph${query({ version: wanted })}`)]);
    graph = g;
    versions = table([
      { title: "Version", cell: (r) => h("a", { href: `?version=${r.version}` }, h("code", {}, r.version.slice(0, 19))) },
      { title: "Jobs", cell: (r) => String(r.jobs) },
      { title: "Registered", cell: (r) => [when(r.registered_at), ` by ${r.registered_by}`] },
      { title: "Source", cell: (r) => h("details", {}, h("summary", {}, "YAML"), h("pre", {}, r.source)) },
      { title: "", cell: (r) => (r.version === g.version ? "shown" : "") },
    ], v.versions);
  }
  const version = project ? graph.archive : graph.version;
  const runs = await get(`/api/v1/executions${query({ flow: name, project: project || "default", limit: 100 })}`);
  const schedules = await get(`/api/v1/schedules${query({ flow: flowRef })}`).catch(() => ({ schedules: [] }));
  fill(main, 
    h("h1", {}, `Flow ${flowRef}`),
    h("p", { class: "muted" }, `${graph.nodes.length} jobs in ${graph.layers} layers · failure policy ${graph.failure_policy}`,
      project ? [" · project ", h("a", { href: `/projects/${encodeURIComponent(project)}` }, project)] : ""),
    h("h2", {}, "Run"), runForm(graph, flowRef, version),
    h("h2", {}, "DAG"), dagView(graph).el,
    h("h2", {}, "Runs"), durationChart(runs.executions), executionRows(runs.executions),
    h("p", {}, h("a", { href: `/executions${query({ flow: name, project: project || "default" })}` }, "All runs of this flow")),
    h("h2", {}, "Schedules"),
    schedules.schedules.length ? h("ul", {}, schedules.schedules.map((sc) => h("li", {}, h("a", { href: `/schedules/${encodeURIComponent(sc.schedule_id)}` }, sc.schedule_id), ` · ${sc.cron} (${sc.timezone}) · ${sc.status}`)))
      : h("p", { class: "muted" }, "Not scheduled. ", h("a", { href: `/schedules${query({ flow: flowRef })}` }, "Create a schedule")),
    h("h2", {}, project ? "Archives" : "Versions"), versions);
}

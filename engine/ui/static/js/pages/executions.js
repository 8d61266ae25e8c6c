// Executions: filters in the URL (a filtered list is a link), status counts, cursor paging, a live first page.
import { get, query } from "../api.js";
import { badge, duration, executionLink, fill, flowLink, h, table, when } from "../dom.js";
import { every, navigate } from "../nav.js";

export const STATUSES = ["SUBMITTED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED", "REJECTED"];
const FILTERS = ["status", "flow", "project", "schedule", "submitter", "since", "until"];

function localInput(iso) {
  // a datetime-local input holds the browser zone's wall time
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
}

export function executionRows(rows) {
  return table([
    { title: "Execution", cell: (r) => executionLink(r.execution_id) },
    { title: "Flow", cell: (r) => flowLink(r.flow_name, r.project) },
    { title: "Status", cell: (r) => badge(r.status) },
    { title: "Submitted", cell: (r) => when(r.submitted_at) },
    { title: "Duration", cell: (r) => duration(r.started_at, r.ended_at) },
    { title: "Submitter", cell: (r) => r.submitter },
    { title: "Schedule", cell: (r) => r.schedule_id ? h("a", { href: `/schedules/${encodeURIComponent(r.schedule_id)}` }, r.schedule_id) : "" },
  ], rows, (r) => ({ "data-execution": r.execution_id, "data-status": r.status }));
}

export async function list(main) {
  const params = new URLSearchParams(window.location.search);
  const filters = Object.fromEntries(FILTERS.map((f) => [f, params.get(f) || ""]));
  const cursor = params.get("cursor") || "";
  const form = h("form", { class: "card row", "aria-label": "Filter executions" },
    h("label", {}, "Status", h("select", { name: "status" }, h("option", { value: "" }, "any"),
      STATUSES.map((s) => h("option", { value: s, selected: filters.status === s }, s)))),
    ["flow", "project", "schedule", "submitter"].map((f) =>
      h("label", {}, f[0].toUpperCase() + f.slice(1), h("input", { name: f, value: filters[f], maxlength: 255 }))),
    h("label", {}, "Submitted from", h("input", { type: "datetime-local", name: "since", value: localInput(filters.since) })),
    h("label", {}, "until", h("input", { type: "datetime-local", name: "until", value: localInput(filters.until) })),
    h("button", { type: "submit", class: "primary" }, "Filter"),
    h("a", { href: "/executions", class: "button" }, "Clear"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const chosen = {};
    for (const f of FILTERS) {
      let value = String(data.get(f) || "").trim();
      if (value && (f === "since" || f === "until")) value = new Date(value).toISOString();
      chosen[f] = value;
    }
    navigate(`/executions${query(chosen)}`);
  });
  const counts = h("div", { class: "counts", "aria-label": "Executions by status" });
  const body = h("div", {});
  const pager = h("div", { class: "pager" });
  const live = h("span", { class: "muted" });
  fill(main, h("h1", {}, "Executions"), form, counts, live, body, pager);

  async function load() {
    const answer = await get(`/api/v1/executions${query({ ...filters, cursor, limit: 50 })}`);
    if (answer.counts) {
      const total = Object.values(answer.counts).reduce((a, b) => a + b, 0);
      fill(counts, h("span", {}, `${total.toLocaleString()} executions:`),
        STATUSES.filter((s) => answer.counts[s]).map((s) =>
          h("a", { href: `/executions${query({ ...filters, status: s })}` }, badge(s), ` ${answer.counts[s].toLocaleString()}`)));
    }
    fill(body, executionRows(answer.executions));
    fill(pager, 
      cursor ? h("a", { href: `/executions${query(filters)}`, class: "button" }, "« Newest") : "",
      answer.next_cursor ? h("a", { href: `/executions${query({ ...filters, cursor: answer.next_cursor })}`, class: "button", rel: "next" }, "Older »") : "");
    live.textContent = cursor ? "" : `Live: updated ${new Date().toLocaleTimeString()}`;
  }
  await load();
  if (!cursor) every(3000, () => load().catch((error) => { live.textContent = `Not updating: ${error.message}`; }));
}

// Building the page: elements from data with textContent only (a value from the API never becomes markup),
// times in the browser's zone with UTC on hover, messages instead of blank pages.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const SVG = "http://www.w3.org/2000/svg";
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value);
  }
  append(el, children);
  return el;
}

const local = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
export function when(iso) {
  if (!iso) return h("span", { class: "muted" }, "—");
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return h("span", {}, iso);
  return h("time", { datetime: date.toISOString(), title: `${date.toISOString().replace(".000Z", "Z")} UTC` },
           local.format(date));
}

export function seconds(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "—";
  const total = ms / 1000;
  if (total < 60) return `${total.toFixed(total < 10 ? 1 : 0)} s`;
  const m = Math.floor(total / 60), sec = Math.round(total % 60);
  if (m < 60) return `${m} min ${sec} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function duration(start, end) {
  if (!start) return "—";
  const stop = end ? new Date(end) : new Date();
  return seconds(stop - new Date(start)) + (end ? "" : " so far");
}

export const badge = (status) => h("span", { class: `badge ${status || ""}` }, status || "—");

export function table(columns, rows, rowAttrs) {
  return h("table", {},
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c.title)))),
    h("tbody", {}, rows.length ? rows.map((row) => h("tr", rowAttrs ? rowAttrs(row) : {},
      columns.map((c) => h("td", {}, c.cell(row)))))
      : h("tr", {}, h("td", { colspan: columns.length, class: "muted" }, "nothing here yet"))));
}

export function message(text, ok) {
  const box = document.getElementById("messages");
  const el = h("div", { class: ok ? "message ok" : "message", role: ok ? "status" : "alert" },
    h("span", {}, text), h("button", { type: "button", "aria-label": "Dismiss", onclick: () => el.remove() }, "×"));
  box.append(el);
  if (ok) setTimeout(() => el.remove(), 6000);
  return el;
}

export function clearMessages() {
  document.getElementById("messages").replaceChildren();
}

// Runs an action of a button or form, showing the API's answer as a message; never leaves a blank page.
export async function act(what, action, done) {
  try {
    const result = await action();
    if (done) message(done(result), true);
    return result;
  } catch (error) {
    message(`${what}: ${error.message}`);
    return undefined;
  }
}

export const link = (href, text) => h("a", { href }, text);
export const executionLink = (id) => link(`/executions/${encodeURIComponent(id)}`, id.slice(0, 8));
export function flowLink(name, project) {
  if (project && project !== "default") {
    return link(`/projects/${encodeURIComponent(project)}/flows/${encodeURIComponent(name)}`, `${project}/${name}`);
  }
  return link(`/flows/${encodeURIComponent(name)}`, name);
}

// replaceChildren, taking nested arrays and skipping empty parts as h() does (the DOM's own would print an array)
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

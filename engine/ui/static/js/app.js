// The page router: each URL of the UI names a page; the server gave every one the same shell.
import { post } from "./api.js";
import { clearMessages, fill, h, message } from "./dom.js";
import { leave, navigate } from "./nav.js";
import * as executions from "./pages/executions.js";
import * as execution from "./pages/execution.js";
import * as projects from "./pages/projects.js";
import * as flow from "./pages/flow.js";
import * as schedules from "./pages/schedules.js";
import * as operations from "./pages/operations.js";

const ROUTES = [
  [/^\/executions\/?$/, "executions", executions.list],
  [/^\/executions\/([^/]+)$/, "executions", execution.show],
  [/^\/projects\/?$/, "projects", projects.list],
  [/^\/flows\/?$/, "projects", projects.list],
  [/^\/projects\/([^/]+)$/, "projects", projects.show],
  [/^\/projects\/([^/]+)\/flows\/([^/]+)$/, "projects", (main, p, f) => flow.show(main, f, p)],
  [/^\/flows\/([^/]+)$/, "projects", (main, f) => flow.show(main, f, null)],
  [/^\/schedules\/?$/, "schedules", schedules.list],
  [/^\/schedules\/([^/]+)$/, "schedules", schedules.show],
  [/^\/workers\/?$/, "workers", operations.workers],
  [/^\/dead-letters\/?$/, "dead-letters", operations.deadLetters],
];

async function route() {
  leave();
  clearMessages();
  const main = document.getElementById("main");
  const path = window.location.pathname;
  for (const [pattern, nav, page] of ROUTES) {
    const match = pattern.exec(path);
    if (!match) continue;
    for (const a of document.querySelectorAll("header nav a")) {
      if (a.dataset.nav === nav) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
    }
    fill(main, h("p", { class: "muted" }, "Loading…"));
    try {
      await page(main, ...match.slice(1).map(decodeURIComponent));
    } catch (error) {
      fill(main, h("h1", {}, "This page could not be shown"), h("p", { class: "message", role: "alert" }, error.message));
    }
    return;
  }
  fill(main, h("h1", {}, "No such page"), h("p", {}, h("a", { href: "/executions" }, "Executions")));
}

// links within the UI change the page without reloading it; the URL stays the page's own
document.addEventListener("click", (event) => {
  const a = event.target.closest("a");
  if (!a || a.getAttribute("target") || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
  const url = new URL(a.getAttribute("href") || "", window.location.href);  // an SVG link's href is no string
  if (url.origin !== window.location.origin || !ROUTES.some(([p]) => p.test(url.pathname))) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
});

window.addEventListener("popstate", route);
window.addEventListener("kafkaban:navigate", route);

document.getElementById("logout").addEventListener("click", async () => {
  try { await post("/api/v1/logout"); } catch (error) { message(`log out: ${error.message}`); return; }
  window.location.assign("/login");
});

const theme = document.getElementById("theme");
const dark = () => document.documentElement.classList.contains("dark");
function setTheme(on) {
  document.documentElement.classList.toggle("dark", on);
  theme.setAttribute("aria-pressed", String(on));
  localStorage.setItem("kafkaban-theme", on ? "dark" : "light");
}
setTheme((localStorage.getItem("kafkaban-theme") || (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light")) === "dark");
theme.addEventListener("click", () => setTheme(!dark()));

route();

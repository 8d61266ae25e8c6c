// Projects and flows: every project with its flows' last runs, the registered flows, and a project's uploads with
// the upload of a new archive (the loader's problems shown per file).
import { api, get } from "../api.js";
import { badge, duration, fill, flowLink, h, message, table, when } from "../dom.js";
import { navigate } from "../nav.js";

const lastRun = (run) => (run ? [badge(run.status), " ", h("a", { href: `/executions/${encodeURIComponent(run.execution_id)}` }, "last run"),
  ` · ${duration(run.started_at, run.ended_at)} · `, when(run.submitted_at)] : h("span", { class: "muted" }, "never run"));

export function uploadForm(fixedName) {
  const name = h("input", { name: "project", required: true, maxlength: 64, value: fixedName || "", readonly: Boolean(fixedName),
                            pattern: "[A-Za-z0-9][A-Za-z0-9._@-]*" });
  const file = h("input", { type: "file", name: "archive", accept: ".zip,application/zip", required: true });
  const problems = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "card row", id: "upload", "aria-label": "Upload a project archive" },
    h("label", {}, "Project", name), h("label", {}, "Archive (.zip)", file),
    h("button", { type: "submit", class: "primary" }, fixedName ? "Upload a new version" : "Upload"), problems);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    fill(problems, );
    const chosen = file.files[0];
    if (!chosen) return;
    try {
      const answer = await api("POST", `/api/v1/projects/${encodeURIComponent(name.value.trim())}`, chosen, "application/zip");
      message(`uploaded ${answer.project}: ${answer.flows.length} flow(s), archive ${answer.archive.slice(0, 12)}`, true);
      navigate(`/projects/${encodeURIComponent(answer.project)}`);
    } catch (error) {
      message(`upload: ${error.message.split(": ")[0]}`);
      const details = Array.isArray(error.details) ? error.details : [];
      const byFile = new Map();
      for (const d of details) {
        const where = d.file || d.path || d.where || "(the archive)";
        if (!byFile.has(where)) byFile.set(where, []);
        byFile.get(where).push(d.message || JSON.stringify(d));
      }
      if (byFile.size) {
        fill(problems, h("div", { class: "message", role: "alert" }, h("div", {},
          h("strong", {}, "The loader refused the archive:"),
          h("ul", {}, [...byFile.entries()].map(([where, list]) => h("li", {}, h("code", {}, where), h("ul", {}, list.map((m) => h("li", {}, m)))))))));
      } else {
        fill(problems, h("div", { class: "message", role: "alert" }, error.message));
      }
    }
  });
  return form;
}

export async function list(main) {
  const [projects, flows] = await Promise.all([get("/api/v1/projects"), get("/api/v1/flows")]);
  fill(main, 
    h("h1", {}, "Projects & flows"),
    h("h2", {}, "Upload a project"), uploadForm(),
    h("h2", {}, "Projects"),
    table([
      { title: "Project", cell: (p) => h("a", { href: `/projects/${encodeURIComponent(p.project)}` }, p.project) },
      { title: "Flows and their last runs", cell: (p) => h("ul", {}, p.flows.map((f) => h("li", {}, flowLink(f, p.project), " ", lastRun(p.last_runs[f])))) },
      { title: "Uploads", cell: (p) => String(p.uploads) },
      { title: "Latest upload", cell: (p) => [when(p.uploaded_at), ` by ${p.uploaded_by}`] },
    ], projects.projects),
    h("h2", {}, "Registered flows"),
    table([
      { title: "Flow", cell: (f) => flowLink(f.name) },
      { title: "Jobs", cell: (f) => String(f.jobs) },
      { title: "Versions", cell: (f) => String(f.versions) },
      { title: "Last run", cell: (f) => lastRun(f.last_run) },
      { title: "Registered", cell: (f) => [when(f.registered_at), ` by ${f.registered_by}`] },
    ], flows.flows));
}

export async function show(main, name) {
  const project = await get(`/api/v1/projects/${encodeURIComponent(name)}`);
  fill(main, 
    h("h1", {}, `Project ${project.project}`),
    h("h2", {}, "Flows"),
    h("ul", {}, project.flows.map((f) => h("li", {}, flowLink(f.flow, project.project), " ", h("span", { class: "muted" }, f.file)))),
    h("h2", {}, "Uploads"),
    table([
      { title: "Archive (sha256)", cell: (u) => h("a", { href: `/api/v1/archives/${u.archive_sha256}` }, h("code", {}, u.archive_sha256.slice(0, 16))) },
      { title: "Size", cell: (u) => `${(u.archive_size / 1024).toFixed(1)} KiB` },
      { title: "Flows", cell: (u) => u.flows.map((f) => f.flow).join(", ") },
      { title: "Uploaded", cell: (u) => [when(u.uploaded_at), ` by ${u.uploaded_by}`] },
    ], project.uploads),
    h("h2", {}, "Upload a new version"), uploadForm(project.project),
    h("p", {}, h("a", { href: `/executions?project=${encodeURIComponent(project.project)}` }, "This project's executions")));
}

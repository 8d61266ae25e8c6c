// Small SVG charts: a Gantt of an execution's attempts, and the durations of a flow's runs (Azkaban's flow stats).
import { h, s, seconds } from "./dom.js";

const t = (iso) => (iso ? new Date(iso).getTime() : null);

export function gantt(jobs) {
  const bars = [];
  for (const job of jobs) {
    const attempts = job.attempts && job.attempts.length ? job.attempts
      : (job.started_at ? [{ attempt: job.attempt, status: job.status, started_at: job.started_at, ended_at: job.ended_at }] : []);
    for (const a of attempts) if (a.started_at) bars.push({ job: job.job, ...a });
  }
  if (!bars.length) return h("p", { class: "muted" }, "No attempt has started yet.");
  const now = Date.now();
  const start = Math.min(...bars.map((b) => t(b.started_at)));
  const end = Math.max(...bars.map((b) => t(b.ended_at) || now));
  const span = Math.max(end - start, 1);
  const names = [...new Set(bars.map((b) => b.job))];
  const LABEL = 180, WIDTH = 720, ROW = 18;
  const svg = s("svg", { width: LABEL + WIDTH + 20, height: names.length * ROW + 30, role: "img",
                         "aria-label": `Timeline of ${bars.length} attempts over ${seconds(span)}` });
  names.forEach((name, i) => svg.append(s("text", { x: 4, y: i * ROW + 13 }, name.length > 26 ? `${name.slice(0, 25)}…` : name)));
  for (const b of bars) {
    const x = LABEL + ((t(b.started_at) - start) / span) * WIDTH;
    const w = Math.max((((t(b.ended_at) || now) - t(b.started_at)) / span) * WIDTH, 2);
    svg.append(s("rect", { class: `bar ${b.status}`, x, y: names.indexOf(b.job) * ROW + 3, width: w, height: ROW - 6 },
      s("title", {}, `${b.job} attempt ${b.attempt}: ${b.status}, ${seconds((t(b.ended_at) || now) - t(b.started_at))}`)));
  }
  const y = names.length * ROW + 4;
  svg.append(s("line", { class: "axis", x1: LABEL, x2: LABEL + WIDTH, y1: y, y2: y }),
             s("text", { x: LABEL, y: y + 16 }, "0 s"), s("text", { x: LABEL + WIDTH - 60, y: y + 16 }, seconds(span)));
  return h("div", { class: "chart" }, svg);
}

export function durationChart(runs) {
  const done = runs.filter((r) => r.started_at && r.ended_at).reverse();
  if (!done.length) return h("p", { class: "muted" }, "No finished run yet.");
  const values = done.map((r) => t(r.ended_at) - t(r.started_at));
  const max = Math.max(...values, 1);
  const BAR = Math.max(4, Math.min(24, Math.floor(720 / done.length))), HEIGHT = 140;
  const svg = s("svg", { width: done.length * BAR + 70, height: HEIGHT + 30, role: "img",
                         "aria-label": `Durations of the last ${done.length} runs; longest ${seconds(max)}` });
  done.forEach((r, i) => {
    const height = Math.max((values[i] / max) * HEIGHT, 1);
    const bar = s("rect", { class: `bar ${r.status}`, x: 60 + i * BAR, y: HEIGHT - height + 5, width: BAR - 1, height },
      s("title", {}, `${r.execution_id.slice(0, 8)} ${r.status}: ${seconds(values[i])}`));
    const a = s("a", { href: `/executions/${encodeURIComponent(r.execution_id)}` }, bar);
    svg.append(a);
  });
  svg.append(s("text", { x: 0, y: 14 }, seconds(max)), s("text", { x: 0, y: HEIGHT + 5 }, "0 s"),
             s("line", { class: "axis", x1: 58, x2: 60 + done.length * BAR, y1: HEIGHT + 5, y2: HEIGHT + 5 }));
  return h("div", { class: "chart" }, svg);
}

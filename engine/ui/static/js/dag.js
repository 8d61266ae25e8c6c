// A flow's DAG as SVG, left to right in the layers the server computed (engine/domain/layers.py). Embedded
// flows fold into one node; statuses update in place, without redrawing, so a live page stays cheap.
import { fill, h, s } from "./dom.js";

const W = 170, H = 30, GX = 70, GY = 24, PAD = 24;

function outermost(name, collapsed) {
  // the outermost folded embedded flow a job is in, or the job itself
  const parts = name.split("/");
  for (let i = 1; i < parts.length; i++) {
    const group = parts.slice(0, i).join("/");
    if (collapsed.has(group)) return group;
  }
  return name;
}

function visible(graph, collapsed) {
  const members = new Map();
  for (const node of graph.nodes) {
    const id = outermost(node.name, collapsed);
    if (!members.has(id)) members.set(id, []);
    members.get(id).push(node);
  }
  const nodes = [...members.entries()].map(([id, list]) => {
    const group = list.length > 1 || list[0].name !== id;
    return { id, group, members: list, row: Math.min(...list.map((n) => n.row)), layer: 0,
             base: Math.min(...list.map((n) => n.layer)), condition: group ? null : list[0].condition,
             type: group ? "flow" : list[0].type };
  });
  const seen = new Set(), edges = [];
  for (const edge of graph.edges) {
    const from = outermost(edge.from, collapsed), to = outermost(edge.to, collapsed);
    const key = `${from}\u0000${to}`;
    if (from === to || seen.has(key)) continue;
    seen.add(key);
    edges.push({ from, to, condition: members.get(to).length === 1 ? edge.condition : null });
  }
  if (collapsed.size === 0) {
    for (const node of nodes) node.layer = node.members[0].layer;
  } else {
    // layers again for the folded graph: Kahn's order over the visible edges
    const byId = new Map(nodes.map((n) => [n.id, n]));
    const waiting = new Map(nodes.map((n) => [n.id, 0]));
    const kids = new Map(nodes.map((n) => [n.id, []]));
    for (const e of edges) { waiting.set(e.to, waiting.get(e.to) + 1); kids.get(e.from).push(e.to); }
    const ready = nodes.filter((n) => waiting.get(n.id) === 0).map((n) => n.id);
    while (ready.length) {
      const id = ready.pop();
      for (const kid of kids.get(id)) {
        byId.get(kid).layer = Math.max(byId.get(kid).layer, byId.get(id).layer + 1);
        waiting.set(kid, waiting.get(kid) - 1);
        if (waiting.get(kid) === 0) ready.push(kid);
      }
    }
    const layers = new Map();
    for (const n of nodes) { if (!layers.has(n.layer)) layers.set(n.layer, []); layers.get(n.layer).push(n); }
    for (const list of layers.values()) list.sort((a, b) => a.row - b.row).forEach((n, i) => { n.row = i; });
  }
  return { nodes, edges };
}

const ORDER = ["FAILED", "RUNNING", "DISPATCHED", "QUEUED", "READY", "CANCELLED", "PENDING", "SKIPPED", "SUCCEEDED"];
function groupStatus(list, statuses) {
  const found = new Set(list.map((n) => statuses[n.name] || "PENDING"));
  if (found.size === 1) return [...found][0];
  for (const status of ORDER) if (found.has(status) && status !== "SUCCEEDED" && status !== "SKIPPED") return status;
  return "SUCCEEDED";
}

const short = (text, n) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);

export function dagView(graph, { onSelect } = {}) {
  const collapsed = new Set();
  let statuses = {};
  const toolbar = h("div", { class: "row" });
  const box = h("div", { class: "graph", role: "group", "aria-label": `DAG of ${graph.flow}` });
  const root = h("div", {}, toolbar, box);
  let nodeEls = [];

  function draw() {
    const view = visible(graph, collapsed);
    const place = new Map(view.nodes.map((n) => [n.id, { x: PAD + n.layer * (W + GX), y: PAD + n.row * (H + GY) }]));
    const width = PAD * 2 + (Math.max(0, ...view.nodes.map((n) => n.layer)) + 1) * (W + GX);
    const height = PAD * 2 + (Math.max(0, ...view.nodes.map((n) => n.row)) + 1) * (H + GY);
    const svg = s("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
                           "aria-label": `${view.nodes.length} jobs in ${graph.layers} layers` });
    const edgeLayer = s("g", {}), nodeLayer = s("g", {});
    for (const edge of view.edges) {
      const a = place.get(edge.from), b = place.get(edge.to);
      const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2, mid = (x1 + x2) / 2;
      edgeLayer.append(s("path", { class: "edge", d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`,
                                   "marker-end": "url(#arrow)" }));
      if (edge.condition) {
        edgeLayer.append(s("text", { class: "edge-label", x: x2 - GX + 4, y: y2 - 4 },
                           s("title", {}, edge.condition), short(edge.condition, 14)));
      }
    }
    nodeEls = [];
    for (const node of view.nodes) {
      const at = place.get(node.id);
      const label = node.group ? `▸ ${node.id} (${node.members.length})` : node.id;
      const title = node.group ? `embedded flow ${node.id}: ${node.members.length} jobs (Enter to unfold)`
        : `${node.id} (${node.type})${node.condition ? `\ncondition: ${node.condition}` : ""}`;
      const el = s("g", { class: node.group ? "node group" : "node", transform: `translate(${at.x},${at.y})`,
                          tabindex: "0", role: "button", "data-job": node.id, "aria-label": title },
        s("title", {}, title), s("rect", { width: W, height: H, rx: 6 }),
        s("text", { x: 8, y: H / 2 + 4 }, label.length > 24 ? `…${label.slice(-23)}` : label));
      const pick = () => {
        if (node.group) { collapsed.delete(node.id); draw(); } else if (onSelect) onSelect(node.id);
      };
      el.addEventListener("click", pick);
      el.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); pick(); } });
      el._node = node;
      nodeEls.push(el);
      nodeLayer.append(el);
    }
    // an unfolded embedded flow: a dashed box around its jobs, its name a button that folds it
    const boxes = s("g", {});
    for (const group of graph.groups) {
      const inside = view.nodes.filter((n) => !n.group && n.id.startsWith(`${group}/`)).map((n) => place.get(n.id));
      if (!inside.length || [...collapsed].some((c) => group === c || group.startsWith(`${c}/`))) continue;
      const depth = group.split("/").length;
      const x = Math.min(...inside.map((p) => p.x)) - 8 + depth, y = Math.min(...inside.map((p) => p.y)) - 14 + depth;
      const w = Math.max(...inside.map((p) => p.x)) + W + 8 - depth - x, hh = Math.max(...inside.map((p) => p.y)) + H + 6 - depth - y;
      const fold = s("text", { class: "group-label", x: x + 4, y: y + 10, tabindex: "0", role: "button",
                               "aria-label": `fold the embedded flow ${group}` }, `▾ ${group}`);
      const act = () => { collapsed.add(group); draw(); };
      fold.addEventListener("click", act);
      fold.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); act(); } });
      boxes.append(s("rect", { class: "group-box", x, y, width: w, height: hh, rx: 8 }), fold);
    }
    svg.append(s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7,
                                           markerHeight: 7, orient: "auto-start-reverse" },
                                s("path", { d: "M0,0 L10,5 L0,10 z", fill: "currentColor" }))), boxes, edgeLayer, nodeLayer);
    fill(box, svg);
    paint();
    fill(toolbar, ...graph.groups.filter((g) => !g.includes("/") || !collapsed.has(g.split("/")[0])).map((group) =>
      h("label", { class: "inline" }, h("span", {}, `fold ${group}`),
        h("input", { type: "checkbox", checked: collapsed.has(group), "data-group": group,
                     onchange: (event) => { if (event.target.checked) collapsed.add(group); else collapsed.delete(group); draw(); } }))));
  }

  function paint() {
    for (const el of nodeEls) {
      const node = el._node;
      el.setAttribute("data-status", node.group ? groupStatus(node.members, statuses) : statuses[node.id] || "PENDING");
    }
  }

  draw();
  return {
    el: root,
    update(next) { statuses = next; paint(); },
    fold(group) { collapsed.add(group); draw(); },
  };
}

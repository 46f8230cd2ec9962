// The volume histogram (uPlot, stacked bars per level) and the level donut
// (a small SVG).

import { LEVELS } from "./api.js";

const SVG = "http://www.w3.org/2000/svg";

function css(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

export function levelColor(level) {
  return css(`--lvl-${level.toLowerCase()}`) || css("--lvl-other");
}

/** Levels present in any bucket, in stacking order (unknown ones last). */
function levelsOf(buckets) {
  const seen = new Set();
  for (const b of buckets) for (const l of b.levels?.buckets ?? []) seen.add(String(l.key));
  const known = LEVELS.filter((l) => seen.has(l));
  const other = [...seen].filter((l) => !LEVELS.includes(l)).sort();
  return [...known, ...other];
}

const pad = (n) => String(n).padStart(2, "0");

/** Axis labels in 24-hour local time, with the date when the range is long. */
function fmtTick(ms, span) {
  const d = new Date(ms);
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  if (span <= 86400e3) return span <= 3 * 60e3 ? `${hm}:${pad(d.getSeconds())}` : hm;
  return `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hm}`;
}

function fmtCount(n) {
  return n == null ? "" : n.toLocaleString("en-US");
}

export class Histogram {
  constructor(el, legendEl) {
    this.el = el;
    this.legendEl = legendEl;
    this.plot = null;
    this.last = null;
    new ResizeObserver(() => this.resize()).observe(el);
    matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
      if (this.last) this.draw(...this.last);
    });
  }

  size() {
    return { width: Math.max(200, this.el.clientWidth), height: Math.max(120, this.el.clientHeight) };
  }

  resize() {
    if (this.plot) this.plot.setSize(this.size());
  }

  /** buckets: the date_histogram's buckets (each with a `levels` terms). */
  draw(buckets, from, to, step) {
    this.last = [buckets, from, to, step];
    const levels = levelsOf(buckets);
    const xs = buckets.map((b) => b.key / 1000);
    const raw = levels.map((l) => buckets.map((b) => b.levels?.buckets?.find((x) => String(x.key) === l)?.doc_count ?? 0));
    // Stacked: series i is the sum of levels 0..i; drawn tallest first so
    // each shorter one covers the bottom of the one before.
    const stacked = [];
    raw.forEach((r, i) => stacked.push(r.map((v, j) => v + (i ? stacked[i - 1][j] : 0))));
    const order = levels.map((_, i) => levels.length - 1 - i);
    const axis = { stroke: css("--muted"), grid: { stroke: css("--grid"), width: 1 }, ticks: { stroke: css("--grid"), width: 1 } };
    const bars = uPlot.paths.bars({ size: [0.9, 60], align: 1 });
    const opts = {
      ...this.size(),
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      scales: {
        x: { time: true, range: () => [from / 1000, Math.max(to, (buckets.at(-1)?.key ?? 0) + step) / 1000] },
        y: { range: (u, min, max) => [0, Math.max(1, max * 1.05)] },
      },
      axes: [
        { ...axis, values: (u, splits) => splits.map((v) => fmtTick(v * 1000, to - from)) },
        { ...axis, size: 50, values: (u, vals) => vals.map((v) => (Number.isInteger(v) ? fmtCount(v) : "")) },
      ],
      series: [
        {},
        ...order.map((i) => ({
          label: levels[i],
          stroke: levelColor(levels[i]),
          fill: levelColor(levels[i]),
          width: 0,
          paths: bars,
          points: { show: false },
        })),
      ],
    };
    const data = [xs, ...order.map((i) => stacked[i])];
    if (this.plot) this.plot.destroy();
    this.el.replaceChildren();
    this.plot = new uPlot(opts, data, this.el);
    this.el.dataset.total = String(buckets.reduce((s, b) => s + b.doc_count, 0));
    this.el.dataset.step = String(step);
    this.el.dataset.bars = String(buckets.length);
    this.legendEl.replaceChildren(
      ...levels.map((l, i) => {
        const li = document.createElement("li");
        li.dataset.level = l;
        li.dataset.count = String(raw[i].reduce((a, b) => a + b, 0));
        const sw = document.createElement("span");
        sw.className = "swatch";
        sw.style.background = levelColor(l);
        li.append(sw, `${l} ${fmtCount(Number(li.dataset.count))}`);
        return li;
      }),
    );
  }
}

/**
 * The donut: one <circle> arc per level, each with `data-level`,
 * `data-count` and a <title>; `onPick(level)` on click or Enter.
 */
export function drawDonut(svg, legendEl, buckets, onPick) {
  const total = buckets.reduce((s, b) => s + b.doc_count, 0);
  const sorted = [...buckets].sort((a, b) => {
    const ia = LEVELS.indexOf(String(a.key));
    const ib = LEVELS.indexOf(String(b.key));
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || String(a.key).localeCompare(String(b.key));
  });
  const r = 70;
  const c = 2 * Math.PI * r;
  const parts = [];
  const ring = document.createElementNS(SVG, "circle");
  ring.setAttribute("class", "ring");
  Object.entries({ cx: 100, cy: 100, r, fill: "none", "stroke-width": 34 }).forEach(([k, v]) => ring.setAttribute(k, v));
  parts.push(ring);
  let at = 0;
  for (const b of sorted) {
    const level = String(b.key);
    const len = total ? (b.doc_count / total) * c : 0;
    const g = document.createElementNS(SVG, "circle");
    const attrs = {
      class: "slice",
      cx: 100,
      cy: 100,
      r,
      fill: "none",
      stroke: levelColor(level),
      "stroke-width": 34,
      // a hair less than the share, so that neighbours stay apart
      "stroke-dasharray": `${Math.max(0, len - (sorted.length > 1 ? 1 : 0))} ${c}`,
      "stroke-dashoffset": String(-at),
      transform: "rotate(-90 100 100)",
      tabindex: "0",
      role: "button",
      "data-level": level,
      "data-count": String(b.doc_count),
      "aria-label": `${level}: ${fmtCount(b.doc_count)} events; filter by ${level}`,
    };
    Object.entries(attrs).forEach(([k, v]) => g.setAttribute(k, v));
    const title = document.createElementNS(SVG, "title");
    const pct = total ? ((100 * b.doc_count) / total).toFixed(1) : "0";
    title.textContent = `${level}: ${b.doc_count} (${pct} %)`;
    g.append(title);
    g.addEventListener("click", () => onPick(level));
    g.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        onPick(level);
      }
    });
    parts.push(g);
    at += len;
  }
  const label = document.createElementNS(SVG, "text");
  label.setAttribute("x", "100");
  label.setAttribute("y", "100");
  label.setAttribute("class", "donut-total");
  label.textContent = fmtCount(total);
  const sub = document.createElementNS(SVG, "text");
  sub.setAttribute("x", "100");
  sub.setAttribute("y", "120");
  sub.setAttribute("class", "donut-sub");
  sub.textContent = total ? "events" : "no events";
  parts.push(label, sub);
  svg.replaceChildren(...parts);
  svg.dataset.total = String(total);

  legendEl.replaceChildren(
    ...sorted.map((b) => {
      const level = String(b.key);
      const li = document.createElement("li");
      const btn = document.createElement("button");
      btn.type = "button";
      btn.className = "pick";
      btn.dataset.level = level;
      btn.dataset.count = String(b.doc_count);
      btn.title = `Filter by ${level}`;
      const sw = document.createElement("span");
      sw.className = "swatch";
      sw.style.background = levelColor(level);
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = level;
      const n = document.createElement("span");
      n.className = "n";
      n.textContent = fmtCount(b.doc_count);
      btn.append(sw, name, n);
      btn.addEventListener("click", () => onPick(level));
      li.append(btn);
      return li;
    }),
  );
}

// The charts: the volume histogram (uPlot, stacked bars per level, drag to
// zoom), the level donut (a small SVG), the trend chart (uPlot: counts,
// smoothing, forecast with 80/95 % bands, anomalies) and sparklines (SVG).

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

/** Axes in the page's colours. */
function axisStyle() {
  return { stroke: css("--muted"), grid: { stroke: css("--grid"), width: 1 }, ticks: { stroke: css("--grid"), width: 1 } };
}

export class Histogram {
  /** `onZoom(fromMs, toMs)` when the user drags across the chart. */
  constructor(el, legendEl, onZoom) {
    this.el = el;
    this.legendEl = legendEl;
    this.onZoom = onZoom;
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
    const axis = axisStyle();
    const bars = uPlot.paths.bars({ size: [0.9, 60], align: 1 });
    const opts = {
      ...this.size(),
      legend: { show: false },
      cursor: { drag: { x: true, y: false, setScale: false }, points: { show: false } },
      select: { show: true },
      hooks: {
        setSelect: [
          (u) => {
            if (u.select.width < 4 || !this.onZoom) return;
            const a = u.posToVal(u.select.left, "x") * 1000;
            const b = u.posToVal(u.select.left + u.select.width, "x") * 1000;
            u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
            this.onZoom(Math.round(a), Math.round(b));
          },
        ],
      },
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

/** A sparkline of counts as an inline SVG (`data-sum` holds their sum). */
export function sparkline(values, width = 120, height = 26) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", String(width));
  svg.setAttribute("height", String(height));
  svg.setAttribute("class", "spark");
  svg.setAttribute("aria-hidden", "true");
  const max = Math.max(1, ...values);
  const n = values.length;
  const pts = values.map((v, i) => `${n > 1 ? ((i / (n - 1)) * (width - 2) + 1).toFixed(1) : width / 2},${(height - 2 - (v / max) * (height - 4)).toFixed(1)}`);
  const area = document.createElementNS(SVG, "polygon");
  area.setAttribute("points", `1,${height - 1} ${pts.join(" ")} ${width - 1},${height - 1}`);
  area.setAttribute("class", "spark-area");
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("points", pts.join(" "));
  line.setAttribute("class", "spark-line");
  svg.append(area, line);
  svg.dataset.sum = String(values.reduce((a, b) => a + b, 0));
  return svg;
}

/**
 * The trend chart: counts per interval (bars), the smoothed line, the
 * forecast (dashed) inside its 80 % and 95 % bands, anomalies as rings.
 */
export class TrendChart {
  constructor(el, legendEl) {
    this.el = el;
    this.legendEl = legendEl;
    this.plot = null;
    this.last = null;
    new ResizeObserver(() => this.plot?.setSize(this.size())).observe(el);
    matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
      if (this.last) this.draw(...this.last);
    });
  }

  size() {
    return { width: Math.max(200, this.el.clientWidth), height: Math.max(160, this.el.clientHeight) };
  }

  /** `fc`: the forecast answer; `marks`: [{ts, label}] of anomalies. */
  draw(fc, marks) {
    this.last = [fc, marks];
    const pts = fc.points ?? [];
    const ahead = fc.forecast ?? [];
    const xs = [...pts.map((p) => p.ts / 1000), ...ahead.map((p) => p.ts / 1000)];
    const n = pts.length;
    const pad = (arr, before) => (before ? [...Array(n).fill(null), ...arr] : [...arr, ...Array(ahead.length).fill(null)]);
    const actual = pad(pts.map((p) => p.actual), false);
    const smoothed = pad(pts.map((p) => p.smoothed ?? null), false);
    // the forecast starts at the last smoothed point, so the lines join
    const join = (k) => (n ? [...Array(n - 1).fill(null), pts[n - 1].smoothed ?? pts[n - 1].actual, ...ahead.map((p) => p[k])] : ahead.map((p) => p[k]));
    const forecast = join("forecast");
    const lo80 = join("lower80"), hi80 = join("upper80"), lo95 = join("lower95"), hi95 = join("upper95");
    const byTs = new Map(pts.map((p) => [p.ts, p.actual]));
    const step = fc.interval_ms || 60e3;
    const marked = new Array(xs.length).fill(null);
    let shown = 0;
    for (const m of marks) {
      const b = Math.floor(m.ts / step) * step;
      const i = pts.findIndex((p) => p.ts === b);
      if (i >= 0) {
        marked[i] = byTs.get(b);
        shown++;
      }
    }
    const c = {
      bars: css("--lvl-info"),
      smooth: css("--fg"),
      fc: css("--accent"),
      band80: "color-mix(in srgb, " + css("--accent") + " 30%, transparent)",
      band95: "color-mix(in srgb, " + css("--accent") + " 14%, transparent)",
      anomaly: css("--lvl-error"),
    };
    const axis = axisStyle();
    const span = (xs.at(-1) ?? 0) * 1000 - (xs[0] ?? 0) * 1000;
    const none = () => null;
    const opts = {
      ...this.size(),
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, (max ?? 1) * 1.08)] } },
      axes: [
        { ...axis, values: (u, splits) => splits.map((v) => fmtTick(v * 1000, span)) },
        { ...axis, size: 56, values: (u, vals) => vals.map((v) => (Math.abs(v - Math.round(v)) < 1e-9 ? fmtCount(v) : "")) },
      ],
      series: [
        {},
        { label: "count", stroke: c.bars, fill: "color-mix(in srgb, " + c.bars + " 55%, transparent)", width: 0, paths: uPlot.paths.bars({ size: [0.85, 40], align: 0 }), points: { show: false } },
        { label: "smoothed", stroke: c.smooth, width: 2, points: { show: false } },
        { label: "95 % high", stroke: "transparent", width: 0, points: { show: false } },
        { label: "95 % low", stroke: "transparent", width: 0, points: { show: false } },
        { label: "80 % high", stroke: "transparent", width: 0, points: { show: false } },
        { label: "80 % low", stroke: "transparent", width: 0, points: { show: false } },
        { label: "forecast", stroke: c.fc, width: 2, dash: [6, 4], points: { show: false } },
        { label: "anomaly", stroke: c.anomaly, width: 2, paths: none, points: { show: true, size: 13, width: 2.5, stroke: c.anomaly, fill: "transparent" } },
      ],
      bands: [
        { series: [3, 4], fill: c.band95 },
        { series: [5, 6], fill: c.band80 },
      ],
    };
    const data = [xs, actual, smoothed, hi95, lo95, hi80, lo80, forecast, marked];
    if (this.plot) this.plot.destroy();
    this.el.replaceChildren();
    this.plot = new uPlot(opts, data, this.el);
    const ds = this.el.dataset;
    ds.points = String(n);
    ds.total = String(pts.reduce((s, p) => s + (p.actual ?? 0), 0));
    ds.forecast = String(ahead.length);
    ds.bands = ahead.length && ahead.every((p) => p.lower95 <= p.lower80 && p.lower80 <= p.forecast && p.forecast <= p.upper80 && p.upper80 <= p.upper95) ? "80,95" : "";
    ds.anomalies = String(shown);
    const item = (cls, color, text) => {
      const li = document.createElement("li");
      li.className = cls;
      const sw = document.createElement("span");
      sw.className = "swatch";
      sw.style.background = color;
      li.append(sw, text);
      return li;
    };
    this.legendEl.replaceChildren(
      item("l-count", c.bars, "count per interval"),
      item("l-smooth", c.smooth, `smoothed (${fc.model ?? "?"})`),
      item("l-forecast", c.fc, "forecast"),
      item("l-band80", c.band80, "80 % band"),
      item("l-band95", c.band95, "95 % band"),
      item("l-anomaly", c.anomaly, `anomalies (${shown})`),
    );
  }
}

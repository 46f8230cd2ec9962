// The trend view: the query's counts per interval with the smoothed line and
// the forecast inside its 80 % and 95 % bands (`/api/v1/forecast`), and the
// anomalies of the range (`/api/v1/anomalies`) marked on the chart and
// listed beside it, each a link to its events.

import { get, request, url, windowOf } from "../api.js";
import { TrendChart } from "../charts.js";
import { fmtTime } from "../table.js";

const $ = (id) => document.getElementById(id);

/** The search view around an anomaly: its query, five intervals each side. */
export function anomalyLink(a, index, pad) {
  const p = new URLSearchParams();
  p.set("view", "search");
  p.set("index", index);
  p.set("q", a.query ?? "");
  p.set("range", "custom");
  p.set("from", String(a.start - pad));
  p.set("to", String(a.end + pad));
  return "#" + p.toString().replace(/\+/g, "%20");
}

function fmtNum(v) {
  if (v == null || !Number.isFinite(v)) return "?";
  if (Math.abs(v) < 1 && v !== 0) return v.toFixed(3);
  return Math.abs(v) >= 100 ? Math.round(v).toLocaleString("en-US") : v.toFixed(1);
}

export class TrendView {
  constructor() {
    this.chart = new TrendChart($("trend-chart"), $("trend-legend"));
    this.list = $("anomaly-list");
    this.empty = $("anomaly-empty");
    this.model = $("trend-model");
  }

  /** Loads and draws; throws ApiError for the page to show. */
  async load(state, signal) {
    const { from, to } = windowOf(state);
    const fc = await get("/api/v1/forecast", { index: state.index, query: state.q, from, to, horizon: 12 }, signal);
    const an = await get("/api/v1/anomalies", { from, to, size: 200 }, signal).catch((e) => {
      if (e.name === "AbortError") throw e;
      return { anomalies: [], error: e.message };
    });
    const anomalies = (an.anomalies ?? []).filter((a) => a.end >= from && a.start <= to).sort((a, b) => b.start - a.start);
    this.chart.draw(fc, anomalies.map((a) => ({ ts: a.start, label: a.kind })));
    const p = fc.params ?? {};
    this.model.textContent = `· ${fc.model ?? ""}${p.alpha != null ? `, α = ${p.alpha.toFixed(2)}` : ""}${fc.season ? `, season ${fc.season}` : ""} · interval ${Math.round((fc.interval_ms ?? 0) / 1000)} s`;
    const pad = 5 * (fc.interval_ms || 60e3);
    this.list.replaceChildren(
      ...anomalies.map((a) => {
        const li = document.createElement("li");
        li.className = `anomaly sev-${a.severity}`;
        li.dataset.kind = a.kind;
        li.dataset.start = String(a.start);
        const link = document.createElement("a");
        link.href = anomalyLink(a, state.index, pad);
        link.className = "anomaly-link";
        const what = a.template ? `${a.kind.replace(/_/g, " ")}: ${a.template}` : `${a.kind.replace(/_/g, " ")}${a.service ? ` in ${a.service}` : ""}`;
        const head = document.createElement("span");
        head.className = "what";
        head.textContent = what;
        const sev = document.createElement("span");
        sev.className = "sev";
        sev.textContent = a.severity;
        const when = document.createElement("span");
        when.className = "when muted";
        when.textContent = `${fmtTime(a.start)} · expected ${fmtNum(a.expected)}, seen ${fmtNum(a.observed)}`;
        link.append(sev, head, when);
        li.append(link);
        return li;
      }),
    );
    this.empty.hidden = anomalies.length > 0;
    this.empty.textContent = an.error ? `Anomalies unavailable: ${an.error}` : "No anomalies in this range.";
    return (fc.points ?? []).reduce((s, pt) => s + (pt.actual ?? 0), 0);
  }

  /** Runs the server's watches over the range (past data), then reloads. */
  static async detect(state) {
    const { from, to } = windowOf(state);
    return request("POST", url("/api/v1/anomalies/_detect", { from, to }));
  }
}

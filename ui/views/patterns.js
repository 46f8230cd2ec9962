// The patterns view: the templates of the current query and range
// (`/api/v1/patterns`) with counts, share, a sparkline, levels, first and
// last seen, a badge for those that are new (a `new_pattern` anomaly in the
// range); a click filters the search by `_pattern:<id>`.

import { get, windowOf } from "../api.js";
import { sparkline, levelColor } from "../charts.js";
import { fmtTime, normLevel } from "../table.js";

const $ = (id) => document.getElementById(id);

/** Template text with its placeholders (`<NUM>`, `<IP>`) marked. */
function templateNodes(t) {
  const out = [];
  for (const part of t.split(/(<[A-Z_]+>)/)) {
    if (!part) continue;
    if (/^<[A-Z_]+>$/.test(part)) {
      const m = document.createElement("mark");
      m.textContent = part;
      out.push(m);
    } else out.push(document.createTextNode(part));
  }
  return out;
}

export class PatternsView {
  constructor(onPick) {
    this.tbody = $("patterns").querySelector("tbody");
    this.empty = $("patterns-empty");
    this.onPick = onPick;
  }

  async load(state, signal) {
    const { from, to } = windowOf(state);
    const res = await get("/api/v1/patterns", { index: state.index, query: state.q, from, to, size: 50 }, signal);
    const fresh = await get("/api/v1/anomalies", { from, to, kind: "new_pattern", size: 1000 }, signal).catch((e) => {
      if (e.name === "AbortError") throw e;
      return { anomalies: [] };
    });
    const isNew = new Set((fresh.anomalies ?? []).map((a) => a.pattern).filter(Boolean));
    const pats = res.patterns ?? [];
    const total = pats.reduce((s, p) => s + p.count, 0);
    const rows = pats.map((p) => {
      const tr = document.createElement("tr");
      tr.className = "pattern";
      tr.dataset.id = p.id;
      tr.dataset.count = String(p.count);
      tr.tabIndex = 0;
      tr.title = `Search the events of this pattern (_pattern:${p.id})`;
      const cnt = document.createElement("td");
      cnt.className = "num count";
      cnt.textContent = p.count.toLocaleString("en-US");
      const share = document.createElement("td");
      share.className = "num";
      share.textContent = total ? `${((100 * p.count) / total).toFixed(1)} %` : "";
      const spark = document.createElement("td");
      spark.append(sparkline(p.sparkline ?? []));
      const tpl = document.createElement("td");
      tpl.className = "template";
      const code = document.createElement("code");
      code.append(...templateNodes(p.template));
      tpl.append(code);
      if (isNew.has(p.id)) {
        const b = document.createElement("span");
        b.className = "new-badge";
        b.textContent = "new";
        b.title = "A new pattern: first seen in this range (new_pattern anomaly)";
        tpl.prepend(b);
        tr.dataset.new = "true";
      }
      const sample = document.createElement("div");
      sample.className = "sample muted";
      sample.textContent = p.samples?.[0] ?? "";
      tpl.append(sample);
      const lv = document.createElement("td");
      lv.className = "levels";
      for (const [l, n] of Object.entries(p.levels ?? {})) {
        const s = document.createElement("span");
        s.className = "badge";
        s.style.setProperty("--c", levelColor(normLevel(l)));
        s.textContent = l;
        s.title = `${n} ${l}`;
        lv.append(s);
      }
      const seen = document.createElement("td");
      seen.className = "seen muted";
      seen.textContent = `${fmtTime(p.first_seen)}\n${fmtTime(p.last_seen)}`;
      tr.append(cnt, share, spark, tpl, lv, seen);
      const pickIt = () => this.onPick(p.id);
      tr.addEventListener("click", pickIt);
      tr.addEventListener("keydown", (e) => {
        if (e.key === "Enter") pickIt();
      });
      return tr;
    });
    this.tbody.replaceChildren(...rows);
    this.empty.hidden = rows.length > 0;
    return total;
  }
}

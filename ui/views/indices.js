// The indices view: documents, size on disk, the span of the events and
// when retention deletes each index (`/api/v1/indices`).

import { get } from "../api.js";
import { fmtTime } from "../table.js";

const $ = (id) => document.getElementById(id);

export function fmtBytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i ? v.toFixed(1) : v} ${units[i]}`;
}

function ago(ms) {
  if (ms == null) return "";
  const d = Date.now() - ms;
  const abs = Math.abs(d);
  const s = abs < 3600e3 ? `${Math.round(abs / 60e3)} min` : abs < 172800e3 ? `${Math.round(abs / 3600e3)} h` : `${Math.round(abs / 86400e3)} days`;
  return d >= 0 ? `${s} ago` : `in ${s}`;
}

export class IndicesView {
  constructor() {
    this.tbody = $("indices").querySelector("tbody");
    this.empty = $("indices-empty");
  }

  async load(state, signal) {
    const res = await get("/api/v1/indices", {}, signal);
    const list = res.indices ?? [];
    const rows = list.map((x) => {
      const tr = document.createElement("tr");
      tr.dataset.index = x.index;
      tr.dataset.docs = String(x.docs);
      const cell = (cls, text, title) => {
        const td = document.createElement("td");
        td.className = cls;
        td.textContent = text;
        if (title) td.title = title;
        return td;
      };
      const name = document.createElement("td");
      const a = document.createElement("a");
      a.href = `#view=search&index=${encodeURIComponent(x.index)}&range=7d`;
      a.textContent = x.index;
      name.append(a);
      tr.append(
        name,
        cell("num", x.docs.toLocaleString("en-US")),
        cell("num", fmtBytes(x.bytes)),
        cell("time", x.oldest == null ? "" : `${fmtTime(x.oldest)} (${ago(x.oldest)})`),
        cell("time", x.newest == null ? "" : `${fmtTime(x.newest)} (${ago(x.newest)})`),
        cell("", x.deleted_after == null ? "kept (no retention)" : `deleted ${ago(x.deleted_after)}`, x.deleted_after == null ? "" : fmtTime(x.deleted_after)),
      );
      return tr;
    });
    this.tbody.replaceChildren(...rows);
    this.empty.hidden = rows.length > 0;
    return list.reduce((s, x) => s + x.docs, 0);
  }
}

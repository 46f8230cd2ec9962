// Event rows: the results table and the live tail share them. A row shows
// time, level, service, the chosen columns and the message; a click opens
// the full JSON and a "show context" button (the events just before and
// after it from the same service and host).

import { get } from "./api.js";
import { levelColor } from "./charts.js";

const pad = (n, w = 2) => String(n).padStart(w, "0");

/** Local time with milliseconds, as people read logs. */
export function fmtTime(ms) {
  if (ms == null || Number.isNaN(ms)) return "";
  const d = new Date(ms);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`
  );
}

/** A value under one of the usual names (`a.b` also as nested objects). */
export function pick(src, names) {
  for (const n of names) {
    if (src[n] != null && typeof src[n] !== "object") return String(src[n]);
    const parts = n.split(".");
    if (parts.length > 1) {
      let v = src;
      for (const p of parts) v = v && typeof v === "object" ? v[p] : undefined;
      if (v != null && typeof v !== "object") return String(v);
    }
  }
  return "";
}

/** A field's value for a column: scalars as text, objects as JSON. */
function column(src, name) {
  let v = src[name];
  if (v === undefined && name.includes(".")) {
    v = src;
    for (const p of name.replace(/\.keyword$/, "").split(".")) v = v && typeof v === "object" ? v[p] : undefined;
  }
  if (v == null) return "";
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

const LEVEL_NAMES = ["level", "severity", "log.level", "lvl"];
const SERVICE_NAMES = ["service", "service.name", "app"];
const MESSAGE_NAMES = ["message", "msg", "log"];

export function normLevel(l) {
  const u = l.toUpperCase();
  if (u.startsWith("WARN")) return "WARN";
  if (u === "ERR") return "ERROR";
  if (u === "CRITICAL" || u === "CRIT" || u === "EMERG" || u === "ALERT") return "FATAL";
  return u;
}

/** The event's time: the sort value when sorted by time, else its field. */
export function timeOf(h) {
  const src = h._source ?? {};
  const s = Array.isArray(h.sort) ? Number(h.sort[0]) : NaN;
  return Number.isFinite(s) ? s : Date.parse(src["@timestamp"] ?? src.timestamp);
}

/** `<thead>` for the chosen columns. */
export function renderHead(thead, cols) {
  const tr = document.createElement("tr");
  const names = ["", "Time", "Level", "Service", ...cols, "Message"];
  for (const [i, n] of names.entries()) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = n;
    if (i === 0) th.className = "c-toggle";
    else if (n === "Time") th.className = "c-time";
    else if (n === "Level") th.className = "c-level";
    else if (n === "Service") th.className = "c-service";
    else if (i >= 4 && i < 4 + cols.length) th.className = "c-col";
    tr.append(th);
  }
  thead.replaceChildren(tr);
}

function td(cls, text) {
  const el = document.createElement("td");
  el.className = cls;
  el.textContent = text;
  return el;
}

/** A level cell: the level as a badge in its colour. */
function levelCell(level) {
  const cell = td("level", "");
  const badge = document.createElement("span");
  badge.className = "badge";
  badge.textContent = level;
  if (level) badge.style.setProperty("--c", levelColor(normLevel(level)));
  cell.append(badge);
  return cell;
}

/** The small table of a context answer (before, the event, after). */
function contextTable(answer, cols) {
  const wrap = document.createElement("div");
  wrap.className = "context";
  const head = document.createElement("p");
  head.className = "muted";
  head.textContent = `Context: events from service ${answer.service ?? "(none)"} on host ${answer.host ?? "(none)"}`;
  const table = document.createElement("table");
  table.className = "context-rows";
  const body = document.createElement("tbody");
  const add = (h, cls) => {
    const tr = document.createElement("tr");
    tr.className = cls;
    tr.dataset.id = `${h._index}/${h._id}`;
    const src = h._source ?? {};
    const level = pick(src, LEVEL_NAMES);
    const lv = levelCell(level);
    tr.append(td("time", fmtTime(timeOf(h))), lv, ...cols.map((c) => td("col", column(src, c))), td("message", pick(src, MESSAGE_NAMES) || JSON.stringify(src)));
    body.append(tr);
  };
  for (const h of answer.before ?? []) add(h, "ctx before");
  add(answer.anchor, "ctx anchor");
  for (const h of answer.after ?? []) add(h, "ctx after");
  table.append(body);
  wrap.append(head, table);
  return wrap;
}

/**
 * Rows for hits: `<tr class="row">` and its hidden `<tr class="detail">`.
 * `expanded` keeps which rows are open across re-renders; `scope` is the
 * index pattern being read, where context looks for neighbours (they may
 * sit in the next daily index).
 */
export function buildRows(hits, cols, expanded, scope) {
  const rows = [];
  const width = 5 + cols.length;
  for (const h of hits) {
    const src = h._source ?? {};
    const ts = timeOf(h);
    const level = pick(src, LEVEL_NAMES);
    const key = `${h._index}/${h._id}`;
    const tr = document.createElement("tr");
    tr.className = "row";
    tr.dataset.id = key;
    const tdT = document.createElement("td");
    const btn = document.createElement("button");
    btn.type = "button";
    btn.className = "toggle";
    btn.setAttribute("aria-label", "Show the event's JSON");
    btn.textContent = "▸";
    tdT.append(btn);
    const time = td("time", fmtTime(ts));
    if (!Number.isNaN(ts)) time.title = new Date(ts).toISOString();
    const lv = levelCell(level);
    const colCells = cols.map((c) => {
      const v = column(src, c);
      const cell = td("col", v);
      cell.title = v;
      return cell;
    });
    const m = pick(src, MESSAGE_NAMES);
    tr.append(tdT, time, lv, td("service", pick(src, SERVICE_NAMES)), ...colCells, td("message", m || JSON.stringify(src)));

    const detail = document.createElement("tr");
    detail.className = "detail";
    const dtd = document.createElement("td");
    dtd.colSpan = width;
    const bar = document.createElement("div");
    bar.className = "detail-bar";
    const ctxBtn = document.createElement("button");
    ctxBtn.type = "button";
    ctxBtn.className = "show-context";
    ctxBtn.textContent = "Show context";
    ctxBtn.title = "The events just before and after this one from the same service and host";
    bar.append(ctxBtn);
    const pre = document.createElement("pre");
    pre.textContent = JSON.stringify({ _index: h._index, _id: h._id, "@timestamp": Number.isNaN(ts) ? undefined : new Date(ts).toISOString(), _source: src }, null, 2);
    const ctxSlot = document.createElement("div");
    dtd.append(bar, ctxSlot, pre);
    detail.append(dtd);

    ctxBtn.addEventListener("click", async (e) => {
      e.stopPropagation();
      ctxBtn.disabled = true;
      ctxBtn.textContent = "Loading context…";
      try {
        const answer = await get(`/api/v1/context/${encodeURIComponent(h._index)}/${encodeURIComponent(h._id)}`, { size: 5, indices: scope || h._index });
        ctxSlot.replaceChildren(contextTable(answer, cols));
        ctxBtn.textContent = "Context shown";
      } catch (err) {
        const p = document.createElement("p");
        p.className = "error small";
        p.textContent = `context: ${err.message}`;
        ctxSlot.replaceChildren(p);
        ctxBtn.disabled = false;
        ctxBtn.textContent = "Show context";
      }
    });

    const setOpen = (open) => {
      detail.hidden = !open;
      btn.textContent = open ? "▾" : "▸";
      btn.setAttribute("aria-expanded", String(open));
      tr.classList.toggle("open", open);
      if (open) expanded.add(key);
      else expanded.delete(key);
    };
    setOpen(expanded.has(key));
    tr.addEventListener("click", (e) => {
      if (e.target.closest("a") || getSelection().toString()) return;
      setOpen(detail.hidden);
    });
    rows.push(tr, detail);
  }
  return rows;
}

// The dashboard page: state in the URL hash (bookmarkable), one `_search`
// per view, rendering of the total, charts and results table.

import { RANGES, searchBody, search } from "./api.js";
import { Histogram, drawDonut, levelColor } from "./charts.js";

const $ = (id) => document.getElementById(id);
const els = {
  form: $("search"),
  index: $("index"),
  q: $("q"),
  range: $("range"),
  refresh: $("refresh"),
  error: $("error"),
  total: $("total"),
  totalLabel: $("total-label"),
  span: $("span"),
  status: $("status"),
  tbody: document.querySelector("#results tbody"),
  empty: $("empty"),
};

const DEFAULTS = { index: "*", q: "", range: "1h", refresh: "off" };

/** The view as the URL hash says: `#q=...&range=1h&refresh=off&index=*`. */
function readHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  const s = { ...DEFAULTS };
  for (const k of Object.keys(DEFAULTS)) if (p.has(k)) s[k] = p.get(k);
  if (!(s.range in RANGES)) s.range = DEFAULTS.range;
  if (!["off", "10s"].includes(s.refresh)) s.refresh = DEFAULTS.refresh;
  return s;
}

function hashOf(s) {
  const p = new URLSearchParams();
  for (const k of Object.keys(DEFAULTS)) if (s[k] !== DEFAULTS[k] || k === "q") p.set(k, s[k]);
  return "#" + p.toString().replace(/\+/g, "%20");
}

let state = readHash();

function fillForm(s) {
  els.index.value = s.index;
  els.q.value = s.q;
  els.range.value = s.range;
  els.refresh.value = s.refresh;
}

function formState() {
  return { index: els.index.value.trim() || "*", q: els.q.value, range: els.range.value, refresh: els.refresh.value };
}

/** Apply a view: into the URL (a history entry when it changed) and run it. */
function go(s) {
  const h = hashOf(s);
  if (h !== location.hash) {
    history.pushState(null, "", h);
  }
  state = s;
  fillForm(s);
  schedule();
  run();
}

// ---------------------------------------------------------------- errors

function showError(msg) {
  els.error.textContent = msg;
  document.body.classList.add("stale");
  els.status.textContent = "· showing the last good search";
  els.error.hidden = false;
  els.q.setAttribute("aria-invalid", "true");
}

function clearError() {
  document.body.classList.remove("stale");
  els.error.hidden = true;
  els.error.textContent = "";
  els.q.removeAttribute("aria-invalid");
}

// ---------------------------------------------------------------- table

const pad = (n, w = 2) => String(n).padStart(w, "0");

function fmtTime(ms) {
  if (ms == null || Number.isNaN(ms)) return "";
  const d = new Date(ms);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`
  );
}

/** A value under one of the usual names (`a.b` also as nested objects). */
function pick(src, names) {
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

const LEVEL_NAMES = ["level", "severity", "log.level", "lvl"];
const SERVICE_NAMES = ["service", "service.name", "app"];
const MESSAGE_NAMES = ["message", "msg", "log"];

function normLevel(l) {
  const u = l.toUpperCase();
  if (u.startsWith("WARN")) return "WARN";
  if (u === "ERR") return "ERROR";
  if (u === "CRITICAL" || u === "CRIT" || u === "EMERG" || u === "ALERT") return "FATAL";
  return u;
}

const expanded = new Set();

function renderRows(hits) {
  const rows = [];
  for (const h of hits) {
    const src = h._source ?? {};
    const ts = Array.isArray(h.sort) ? Number(h.sort[0]) : Date.parse(src["@timestamp"] ?? src.timestamp);
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
    const time = document.createElement("td");
    time.className = "time";
    time.textContent = fmtTime(ts);
    if (!Number.isNaN(ts)) time.title = new Date(ts).toISOString();
    const lv = document.createElement("td");
    lv.className = "level";
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = level;
    if (level) badge.style.setProperty("--c", levelColor(normLevel(level)));
    lv.append(badge);
    const svc = document.createElement("td");
    svc.className = "service";
    svc.textContent = pick(src, SERVICE_NAMES);
    const msg = document.createElement("td");
    msg.className = "message";
    const m = pick(src, MESSAGE_NAMES);
    msg.textContent = m || JSON.stringify(src);
    tr.append(tdT, time, lv, svc, msg);

    const detail = document.createElement("tr");
    detail.className = "detail";
    const dtd = document.createElement("td");
    dtd.colSpan = 5;
    const pre = document.createElement("pre");
    pre.textContent = JSON.stringify({ _index: h._index, _id: h._id, "@timestamp": Number.isNaN(ts) ? undefined : new Date(ts).toISOString(), _source: src }, null, 2);
    dtd.append(pre);
    detail.append(dtd);

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
  els.tbody.replaceChildren(...rows);
  els.empty.hidden = hits.length > 0;
}

// ---------------------------------------------------------------- run

const histogram = new Histogram($("histogram"), $("histogram-legend"));
let seq = 0;
let inflight = null;

function pickLevel(level) {
  const clause = `@level:${level}`;
  const q = state.q.trim();
  go({ ...state, q: q ? `(${q}) AND ${clause}` : clause });
}

async function run() {
  const my = ++seq;
  if (inflight) inflight.abort();
  inflight = new AbortController();
  document.body.classList.add("loading");
  els.status.textContent = "loading…";
  const { body, from, to, step } = searchBody(state);
  try {
    const t0 = performance.now();
    const res = await search(state.index, body, inflight.signal);
    if (my !== seq) return;
    clearError();
    const total = res.hits?.total?.value ?? res.hits?.total ?? 0;
    els.total.textContent = total.toLocaleString("en-US");
    els.total.dataset.total = String(total);
    els.totalLabel.textContent = total === 1 ? "event" : "events";
    els.span.textContent = `from ${fmtTime(from)} to ${fmtTime(to)}`;
    histogram.draw(res.aggregations?.volume?.buckets ?? [], from, to, step);
    drawDonut($("donut"), $("donut-legend"), res.aggregations?.levels?.buckets ?? [], pickLevel);
    renderRows(res.hits?.hits ?? []);
    els.status.textContent = `· ${Math.round(performance.now() - t0)} ms`;
    document.body.dataset.state = "ready";
  } catch (e) {
    if (e.name === "AbortError" || my !== seq) return;
    showError(e.message);
    document.body.dataset.state = "error";
  } finally {
    if (my === seq) {
      document.body.classList.remove("loading");
      inflight = null;
    }
  }
}

let timer = null;
function schedule() {
  clearInterval(timer);
  timer = null;
  if (state.refresh === "10s") {
    timer = setInterval(() => {
      if (!inflight && document.visibilityState === "visible") run();
    }, 10_000);
  }
}

// ---------------------------------------------------------------- events

els.form.addEventListener("submit", (e) => {
  e.preventDefault();
  go(formState());
});
for (const el of [els.range, els.refresh]) el.addEventListener("change", () => go(formState()));

addEventListener("popstate", () => {
  state = readHash();
  fillForm(state);
  schedule();
  run();
});
addEventListener("hashchange", () => {
  const s = readHash();
  if (hashOf(s) !== hashOf(state)) {
    state = s;
    fillForm(s);
    schedule();
    run();
  }
});

addEventListener("keydown", (e) => {
  const t = e.target;
  const typing = t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement || t.isContentEditable;
  if (e.key === "/" && !typing && !e.ctrlKey && !e.metaKey && !e.altKey) {
    e.preventDefault();
    els.q.focus();
    els.q.select();
  } else if (e.key === "Escape" && t === els.q) {
    els.q.blur();
  }
});

fillForm(state);
schedule();
run();

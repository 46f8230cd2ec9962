// The dashboard page: the view in the URL hash (bookmarkable and shareable),
// the query bar with field-name completion, the time picker, saved
// searches, keyboard shortcuts, and the views (search with its field
// sidebar and live tail, trend, patterns, alerts, indices).

import { RANGES, NEWEST_FIRST, PAGE, fieldNames, get, queryOf, request, search, searchBody, url, windowOf } from "./api.js";
import { Histogram, drawDonut } from "./charts.js";
import { buildRows, fmtTime, renderHead } from "./table.js";
import { Sidebar } from "./sidebar.js";
import { LiveTail } from "./tail.js";
import { TrendView } from "./views/trend.js";
import { PatternsView } from "./views/patterns.js";
import { AlertsView } from "./views/alerts.js";
import { IndicesView } from "./views/indices.js";

const $ = (id) => document.getElementById(id);
const els = {
  form: $("search"),
  index: $("index"),
  q: $("q"),
  suggest: $("suggest"),
  range: $("range"),
  absolute: $("absolute"),
  from: $("from"),
  to: $("to"),
  refresh: $("refresh"),
  error: $("error"),
  total: $("total"),
  totalLabel: $("total-label"),
  span: $("span"),
  status: $("status"),
  thead: document.querySelector("#results thead"),
  tbody: document.querySelector("#results tbody"),
  empty: $("empty"),
  older: $("older"),
  live: $("live"),
  liveStatus: $("live-status"),
  resultsWrap: $("results-wrap"),
  tailWrap: $("tail-wrap"),
  exportCsv: $("export-csv"),
  exportNdjson: $("export-ndjson"),
};

const VIEWS = ["search", "trend", "patterns", "alerts", "indices"];
const REFRESH_MS = { off: 0, "10s": 10_000, "1m": 60_000 };
const DEFAULTS = { view: "search", index: "*", q: "", range: "1h", from: NaN, to: NaN, refresh: "off", cols: [] };

// ---------------------------------------------------------------- URL state

/** The view as the URL hash says: `#view=search&q=...&range=1h&index=*`. */
function readHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  const s = { ...DEFAULTS, cols: [] };
  for (const k of ["view", "index", "q", "range", "refresh"]) if (p.has(k)) s[k] = p.get(k);
  s.from = p.has("from") ? Number(p.get("from")) : NaN;
  s.to = p.has("to") ? Number(p.get("to")) : NaN;
  s.cols = (p.get("cols") ?? "").split(",").map((c) => c.trim()).filter(Boolean);
  if (!VIEWS.includes(s.view)) s.view = DEFAULTS.view;
  if (!(s.range in RANGES) && s.range !== "custom") s.range = DEFAULTS.range;
  if (s.range === "custom" && !(s.from < s.to)) s.range = DEFAULTS.range;
  if (!(s.refresh in REFRESH_MS)) s.refresh = DEFAULTS.refresh;
  return s;
}

function hashOf(s) {
  const p = new URLSearchParams();
  if (s.view !== DEFAULTS.view) p.set("view", s.view);
  if (s.index !== DEFAULTS.index) p.set("index", s.index);
  p.set("q", s.q);
  p.set("range", s.range);
  if (s.range === "custom") {
    p.set("from", String(s.from));
    p.set("to", String(s.to));
  }
  if (s.refresh !== DEFAULTS.refresh) p.set("refresh", s.refresh);
  if (s.cols.length) p.set("cols", s.cols.join(","));
  return "#" + p.toString().replace(/\+/g, "%20");
}

let state = readHash();

/** `datetime-local` value of epoch ms, in local time. */
function localInput(ms) {
  if (!Number.isFinite(ms)) return "";
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60e3);
  return d.toISOString().slice(0, 19);
}

function fillForm(s) {
  els.index.value = s.index;
  els.q.value = s.q;
  els.range.value = s.range;
  els.refresh.value = s.refresh;
  els.absolute.hidden = s.range !== "custom";
  if (s.range === "custom") {
    els.from.value = localInput(s.from);
    els.to.value = localInput(s.to);
  }
  document.body.dataset.view = s.view;
  for (const a of document.querySelectorAll("nav.views a")) {
    const on = a.dataset.view === s.view;
    if (on) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  for (const v of document.querySelectorAll("section.view")) v.hidden = v.dataset.view !== s.view;
}

function formState() {
  const s = { ...state, index: els.index.value.trim() || "*", q: els.q.value, range: els.range.value, refresh: els.refresh.value };
  if (s.range === "custom") {
    const f = Date.parse(els.from.value);
    const t = Date.parse(els.to.value);
    if (Number.isFinite(f) && Number.isFinite(t) && f < t) {
      s.from = f;
      s.to = t;
    } else {
      // a custom range starts as the window shown now
      const w = windowOf(state);
      s.from = w.from;
      s.to = w.to;
    }
  }
  return s;
}

/** Apply a view: into the URL (a history entry when it changed) and run it. */
function go(s) {
  const h = hashOf(s);
  if (h !== location.hash) history.pushState(null, "", h);
  const indexChanged = s.index !== state.index;
  state = s;
  fillForm(s);
  if (indexChanged) loadFields();
  schedule();
  run();
}

// ---------------------------------------------------------------- errors

function showError(msg) {
  els.error.textContent = msg;
  document.body.classList.add("stale");
  els.status.textContent = "· showing the last good answer";
  els.error.hidden = false;
  els.q.setAttribute("aria-invalid", "true");
}

function clearError() {
  document.body.classList.remove("stale");
  els.error.hidden = true;
  els.error.textContent = "";
  els.q.removeAttribute("aria-invalid");
}

function setTotal(n, label) {
  els.total.textContent = n.toLocaleString("en-US");
  els.total.dataset.total = String(n);
  els.totalLabel.textContent = label ?? (n === 1 ? "event" : "events");
}

// ---------------------------------------------------------------- query bar

/** Adds a clause to the query with AND. */
function addClause(clause) {
  const q = state.q.trim();
  go({ ...state, view: "search", q: q ? `(${q}) AND ${clause}` : clause });
}

let fields = new Map();
let fieldsFor = null;

async function loadFields() {
  const index = state.index;
  fieldsFor = index;
  try {
    const names = await fieldNames(index);
    if (fieldsFor !== index) return;
    fields = names;
    sidebar.setFields(names);
  } catch {
    /* completion and sidebar stay as they were */
  }
}

/** The word being typed at the cursor, when it can be a field name. */
function tokenAtCursor() {
  const v = els.q.value;
  const end = els.q.selectionStart ?? v.length;
  let start = end;
  while (start > 0 && !/[\s()!+\-]/.test(v[start - 1])) start--;
  const word = v.slice(start, end);
  if (!word || word.includes(":") || word.includes('"')) return null;
  return { start, end, word };
}

let suggestions = [];
let active = -1;

function closeSuggest() {
  els.suggest.hidden = true;
  els.q.setAttribute("aria-expanded", "false");
  els.q.removeAttribute("aria-activedescendant");
  suggestions = [];
  active = -1;
}

function renderSuggest() {
  els.suggest.replaceChildren(
    ...suggestions.map((name, i) => {
      const li = document.createElement("li");
      li.id = `suggest-${i}`;
      li.role = "option";
      li.dataset.field = name;
      li.setAttribute("aria-selected", String(i === active));
      const t = document.createElement("span");
      t.className = "type";
      t.textContent = fields.get(name) ?? "";
      li.append(name, t);
      li.addEventListener("mousedown", (e) => {
        e.preventDefault();
        accept(i);
      });
      return li;
    }),
  );
  els.suggest.hidden = suggestions.length === 0;
  els.q.setAttribute("aria-expanded", String(suggestions.length > 0));
  if (active >= 0) els.q.setAttribute("aria-activedescendant", `suggest-${active}`);
  else els.q.removeAttribute("aria-activedescendant");
}

function updateSuggest() {
  const t = tokenAtCursor();
  if (!t) return closeSuggest();
  const w = t.word.toLowerCase();
  const names = [...fields.keys()].filter((n) => n.toLowerCase().startsWith(w) && n.toLowerCase() !== w);
  names.sort((a, b) => a.length - b.length || a.localeCompare(b));
  suggestions = names.slice(0, 8);
  active = suggestions.length ? 0 : -1;
  renderSuggest();
}

function accept(i) {
  const t = tokenAtCursor();
  const name = suggestions[i];
  if (!t || !name) return closeSuggest();
  const v = els.q.value;
  els.q.value = v.slice(0, t.start) + name + ":" + v.slice(t.end);
  const pos = t.start + name.length + 1;
  els.q.setSelectionRange(pos, pos);
  closeSuggest();
}

els.q.addEventListener("input", updateSuggest);
els.q.addEventListener("blur", () => setTimeout(closeSuggest, 100));
els.q.addEventListener("keydown", (e) => {
  if (els.suggest.hidden) return;
  if (e.key === "ArrowDown" || e.key === "ArrowUp") {
    e.preventDefault();
    const n = suggestions.length;
    active = (active + (e.key === "ArrowDown" ? 1 : n - 1)) % n;
    renderSuggest();
  } else if (e.key === "Tab" || (e.key === "Enter" && active >= 0)) {
    e.preventDefault();
    accept(active);
  } else if (e.key === "Escape") {
    e.stopPropagation();
    closeSuggest();
  }
});

// ---------------------------------------------------------------- search view

const histogram = new Histogram($("histogram"), $("histogram-legend"), (from, to) => {
  if (to - from < 1000) return;
  go({ ...state, range: "custom", from, to, refresh: "off" });
});
const expanded = new Set();
let lastHit = null;

const sidebar = new Sidebar({
  list: $("field-list"),
  filter: $("field-filter"),
  state: () => state,
  onFilter: addClause,
  onColumn: (name) => {
    const cols = state.cols.includes(name) ? state.cols.filter((c) => c !== name) : [...state.cols, name];
    go({ ...state, cols });
  },
});

const tail = new LiveTail({
  scroll: $("tail-scroll"),
  table: $("tail"),
  jump: $("tail-jump"),
  status: els.liveStatus,
  onState: (on) => {
    els.live.setAttribute("aria-pressed", String(on));
    els.live.textContent = on ? "■ Stop live tail" : "▶ Live tail";
    els.resultsWrap.hidden = on;
    els.tailWrap.hidden = !on;
  },
});

function pickLevel(level) {
  addClause(`@level:${level}`);
}

function setExports(s, from, to) {
  const p = { index: s.index, query: s.q, from, to };
  els.exportCsv.href = url("/api/v1/export", { ...p, format: "csv", fields: ["@timestamp", "level", "service", "host", ...s.cols, "message"].filter((v, i, a) => a.indexOf(v) === i).join(",") });
  els.exportNdjson.href = url("/api/v1/export", { ...p, format: "ndjson" });
}

async function runSearch(signal) {
  const { body, from, to, step } = searchBody(state);
  const res = await search(state.index, body, signal);
  const total = res.hits?.total?.value ?? res.hits?.total ?? 0;
  setTotal(total);
  els.span.textContent = `from ${fmtTime(from)} to ${fmtTime(to)}`;
  histogram.draw(res.aggregations?.volume?.buckets ?? [], from, to, step);
  drawDonut($("donut"), $("donut-legend"), res.aggregations?.levels?.buckets ?? [], pickLevel);
  const hits = res.hits?.hits ?? [];
  renderHead(els.thead, state.cols);
  els.tbody.replaceChildren(...buildRows(hits, state.cols, expanded, state.index));
  els.empty.hidden = hits.length > 0;
  lastHit = hits.at(-1) ?? null;
  els.older.hidden = !(hits.length === PAGE && total > hits.length);
  setExports(state, from, to);
  sidebar.refresh();
  if (tail.running) tail.start(state);
}

/** The next page of older events, after the last row shown. */
async function loadOlder() {
  if (!lastHit?.sort) return;
  els.older.disabled = true;
  const { from, to } = windowOf(state);
  try {
    const res = await search(state.index, { size: PAGE, track_total_hits: false, sort: NEWEST_FIRST, search_after: lastHit.sort, query: queryOf(state.q, from, to) });
    const hits = res.hits?.hits ?? [];
    els.tbody.append(...buildRows(hits, state.cols, expanded, state.index));
    lastHit = hits.at(-1) ?? lastHit;
    els.older.hidden = hits.length < PAGE;
  } catch (e) {
    showError(e.message);
  } finally {
    els.older.disabled = false;
  }
}
els.older.addEventListener("click", loadOlder);

els.live.addEventListener("click", () => {
  if (tail.running) tail.stop();
  else tail.start(state);
});
$("tail-scroll").addEventListener("keydown", (e) => {
  if (e.key === " " && tail.running) {
    e.preventDefault();
    tail.setPaused(!tail.paused);
  }
});

// ---------------------------------------------------------------- other views

const trend = new TrendView();
const patterns = new PatternsView((id) => addClause(`_pattern:${id}`));
const alerts = new AlertsView();
const indices = new IndicesView();

async function runTrend(signal) {
  const total = await trend.load(state, signal);
  const { from, to } = windowOf(state);
  setTotal(total);
  els.span.textContent = `from ${fmtTime(from)} to ${fmtTime(to)}`;
}

async function runPatterns(signal) {
  const total = await patterns.load(state, signal);
  const { from, to } = windowOf(state);
  setTotal(total, "events in the patterns shown");
  els.span.textContent = `from ${fmtTime(from)} to ${fmtTime(to)}`;
}

async function runAlerts(signal) {
  const firing = await alerts.load(state, signal);
  setTotal(firing, firing === 1 ? "alert firing" : "alerts firing");
  els.span.textContent = "";
}

async function runIndices(signal) {
  const docs = await indices.load(state, signal);
  setTotal(docs, "documents in all indices");
  els.span.textContent = "";
}

const RUNNERS = { search: runSearch, trend: runTrend, patterns: runPatterns, alerts: runAlerts, indices: runIndices };

// ---------------------------------------------------------------- run

let seq = 0;
let inflight = null;

async function run() {
  const my = ++seq;
  if (inflight) inflight.abort();
  inflight = new AbortController();
  document.body.classList.add("loading");
  els.status.textContent = "loading…";
  if (state.view !== "search" && tail.running) tail.stop();
  try {
    const t0 = performance.now();
    await RUNNERS[state.view](inflight.signal);
    if (my !== seq) return;
    clearError();
    els.status.textContent = `· ${Math.round(performance.now() - t0)} ms`;
    document.body.dataset.state = "ready";
    // for measurements (tests/node/ui.bench.js): when a view was complete
    performance.mark(`logweave:ready:${state.view}`);
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
  const ms = REFRESH_MS[state.refresh];
  if (ms) {
    timer = setInterval(() => {
      if (!inflight && document.visibilityState === "visible") run();
    }, ms);
  }
}

// ---------------------------------------------------------------- saved searches

const saved = {
  menu: $("saved"),
  list: $("saved-list"),
  empty: $("saved-empty"),
  name: $("saved-name"),
  save: $("saved-save"),
  error: $("saved-error"),
};

function savedError(msg) {
  saved.error.textContent = msg;
  saved.error.hidden = !msg;
}

async function loadSaved() {
  try {
    const res = await get("/api/v1/searches");
    const items = (res.searches ?? []).map((s) => {
      const li = document.createElement("li");
      li.dataset.name = s.name;
      const open = document.createElement("button");
      open.type = "button";
      open.className = "saved-open";
      open.textContent = s.name;
      open.title = `${s.query || "(everything)"} · ${s.index} · ${s.range ?? "custom range"}`;
      open.addEventListener("click", () => {
        saved.menu.open = false;
        const range = s.range && (s.range in RANGES) ? s.range : s.from && s.to ? "custom" : "1h";
        go({ ...DEFAULTS, view: VIEWS.includes(s.view) ? s.view : "search", index: s.index || "*", q: s.query ?? "", range, from: Number(s.from), to: Number(s.to), cols: s.columns ?? [] });
      });
      const del = document.createElement("button");
      del.type = "button";
      del.className = "saved-delete";
      del.textContent = "✕";
      del.title = `Delete the saved search ${s.name}`;
      del.setAttribute("aria-label", del.title);
      del.addEventListener("click", async () => {
        try {
          await request("DELETE", `/api/v1/searches/${encodeURIComponent(s.name)}`);
          savedError("");
          loadSaved();
        } catch (e) {
          savedError(e.message);
        }
      });
      li.append(open, del);
      return li;
    });
    saved.list.replaceChildren(...items);
    saved.empty.hidden = items.length > 0;
  } catch (e) {
    savedError(e.message);
  }
}

async function saveCurrent() {
  const name = saved.name.value.trim();
  if (!name) return savedError("Give the search a name.");
  const s = formState();
  const body = { index: s.index, query: s.q, view: s.view, columns: s.cols };
  if (s.range === "custom") Object.assign(body, { from: String(s.from), to: String(s.to) });
  else body.range = s.range;
  try {
    await request("PUT", `/api/v1/searches/${encodeURIComponent(name)}`, body);
    saved.name.value = "";
    savedError("");
    loadSaved();
  } catch (e) {
    savedError(e.message);
  }
}

saved.save.addEventListener("click", saveCurrent);
saved.name.addEventListener("keydown", (e) => {
  if (e.key === "Enter") {
    e.preventDefault();
    saveCurrent();
  }
});
saved.menu.addEventListener("toggle", () => {
  if (saved.menu.open) loadSaved();
});

// ---------------------------------------------------------------- events

els.form.addEventListener("submit", (e) => {
  e.preventDefault();
  closeSuggest();
  go(formState());
});
els.range.addEventListener("change", () => go(formState()));
els.refresh.addEventListener("change", () => go(formState()));
for (const el of [els.from, els.to]) el.addEventListener("change", () => go(formState()));

for (const a of document.querySelectorAll("nav.views a")) {
  a.addEventListener("click", (e) => {
    e.preventDefault();
    go({ ...formState(), view: a.dataset.view });
  });
}

addEventListener("popstate", () => {
  const s = readHash();
  const indexChanged = s.index !== state.index;
  state = s;
  fillForm(state);
  if (indexChanged) loadFields();
  schedule();
  run();
});
addEventListener("hashchange", () => {
  const s = readHash();
  if (hashOf(s) !== hashOf(state)) {
    const indexChanged = s.index !== state.index;
    state = s;
    fillForm(s);
    if (indexChanged) loadFields();
    schedule();
    run();
  }
});

// Shortcuts: `/` the query bar, `t` the time range, `g` then s/t/p/a/i a
// view, `l` the live tail, `r` refresh; Escape leaves the query bar.
let gPressed = 0;
addEventListener("keydown", (e) => {
  const t = e.target;
  const typing = t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement || t.isContentEditable;
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === "Escape" && t === els.q) {
    els.q.blur();
    return;
  }
  if (typing) return;
  const now = Date.now();
  if (now - gPressed < 1500) {
    const v = { s: "search", t: "trend", p: "patterns", a: "alerts", i: "indices" }[e.key];
    gPressed = 0;
    if (v) {
      e.preventDefault();
      go({ ...state, view: v });
      return;
    }
  }
  if (e.key === "/") {
    e.preventDefault();
    els.q.focus();
    els.q.select();
  } else if (e.key === "t") {
    e.preventDefault();
    els.range.focus();
  } else if (e.key === "g") {
    gPressed = now;
  } else if (e.key === "l" && state.view === "search") {
    e.preventDefault();
    els.live.click();
  } else if (e.key === "r") {
    e.preventDefault();
    run();
  }
});

// The trend view's on-demand detection (past data the watches did not see live).
const detectBtn = document.createElement("button");
detectBtn.type = "button";
detectBtn.id = "detect";
detectBtn.textContent = "Detect anomalies in this range";
detectBtn.title = "Run the server's anomaly watches over the range shown";
detectBtn.addEventListener("click", async () => {
  detectBtn.disabled = true;
  detectBtn.textContent = "Detecting…";
  try {
    await TrendView.detect(state);
    await run();
  } catch (e) {
    showError(e.message);
  } finally {
    detectBtn.disabled = false;
    detectBtn.textContent = "Detect anomalies in this range";
  }
});
document.querySelector("#view-trend .anomalies h2").after(detectBtn);

fillForm(state);
loadFields();
schedule();
run();

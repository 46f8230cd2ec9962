// The field sidebar: the fields of the searched indices; a click shows a
// field's top values with their share of the whole result (a `terms`
// aggregation over every matching event, not the loaded page), each with
// buttons to filter in or out, and a toggle to show the field as a column.

import { search, queryOf, windowOf } from "./api.js";

/** Types a `terms` aggregation can count directly. */
const AGGREGATABLE = new Set(["keyword", "long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float", "boolean", "ip", "date", "unsigned_long"]);

/** A value as a Lucene term: quoted unless it is a plain word or number. */
export function luceneValue(v) {
  const s = String(v);
  if (/^[A-Za-z0-9_.@-]+$/.test(s) && !/^(AND|OR|NOT|TO)$/.test(s)) return s;
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/** Escapes a field name's Lucene specials (`@` and `.` are fine). */
function luceneField(f) {
  return f.replace(/([+\-!(){}[\]^"~*?:\\/ ])/g, "\\$1");
}

/** The field a `terms` aggregation can run on for a listed field. */
function aggField(name, names) {
  const type = names.get(name);
  if (AGGREGATABLE.has(type)) return name;
  if (type === "text" && names.get(`${name}.keyword`) === "keyword") return `${name}.keyword`;
  return null;
}

export class Sidebar {
  /**
   * `onFilter(clause)` adds a query clause; `onColumn(name)` toggles a
   * column; `state()` gives the current view.
   */
  constructor({ list, filter, state, onFilter, onColumn }) {
    this.list = list;
    this.filterEl = filter;
    this.state = state;
    this.onFilter = onFilter;
    this.onColumn = onColumn;
    this.names = new Map();
    this.open = null; // the field whose values are shown
    this.seq = 0;
    filter.addEventListener("input", () => this.render());
  }

  /** New field names (the index pattern changed or data arrived). */
  setFields(names) {
    this.names = names;
    this.render();
    if (this.open) this.values(this.open);
  }

  /** After a search: the shown values follow the new result. */
  refresh() {
    if (this.open) this.values(this.open);
  }

  /** Listed fields: no `.keyword` twins; normalised ones first. */
  listed() {
    const f = this.filterEl.value.trim().toLowerCase();
    const out = [];
    for (const name of this.names.keys()) {
      if (name.endsWith(".keyword") && this.names.has(name.slice(0, -8))) continue;
      if (f && !name.toLowerCase().includes(f)) continue;
      out.push(name);
    }
    const rank = (n) => (n.startsWith("@") ? 0 : n.startsWith("_") ? 2 : 1);
    return out.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  }

  render() {
    const cols = this.state().cols;
    const items = this.listed().map((name) => {
      const li = document.createElement("li");
      li.className = "field";
      li.dataset.field = name;
      const row = document.createElement("div");
      row.className = "field-row";
      const btn = document.createElement("button");
      btn.type = "button";
      btn.className = "field-name";
      btn.setAttribute("aria-expanded", String(this.open === name));
      const type = document.createElement("span");
      type.className = "type";
      type.textContent = (this.names.get(name) ?? "?").slice(0, 4);
      type.title = this.names.get(name) ?? "";
      btn.append(type, name);
      btn.addEventListener("click", () => {
        this.open = this.open === name ? null : name;
        this.render();
        if (this.open) this.values(name);
      });
      const col = document.createElement("button");
      col.type = "button";
      col.className = "col-toggle";
      const on = cols.includes(name);
      col.setAttribute("aria-pressed", String(on));
      col.title = on ? `Remove the ${name} column` : `Show ${name} as a column`;
      col.textContent = on ? "−col" : "+col";
      col.addEventListener("click", () => this.onColumn(name));
      row.append(btn, col);
      li.append(row);
      if (this.open === name) {
        const vals = document.createElement("ol");
        vals.className = "values";
        vals.dataset.field = name;
        vals.setAttribute("aria-busy", "true");
        li.append(vals);
      }
      return li;
    });
    this.list.replaceChildren(...items);
  }

  /** Top values of `name` over the whole result. */
  async values(name) {
    const my = ++this.seq;
    const ol = this.list.querySelector(`ol.values[data-field="${CSS.escape(name)}"]`);
    if (!ol) return;
    const field = aggField(name, this.names);
    if (!field) {
      ol.replaceChildren(Object.assign(document.createElement("li"), { className: "muted", textContent: "Full text: not counted by value (search it in the query bar)." }));
      ol.removeAttribute("aria-busy");
      return;
    }
    const s = this.state();
    const { from, to } = windowOf(s);
    let res;
    try {
      res = await search(s.index, {
        size: 0,
        track_total_hits: true,
        query: queryOf(s.q, from, to),
        aggs: { top: { terms: { field, size: 10 } } },
      });
    } catch (e) {
      if (my !== this.seq) return;
      ol.replaceChildren(Object.assign(document.createElement("li"), { className: "error small", textContent: e.message }));
      ol.removeAttribute("aria-busy");
      return;
    }
    if (my !== this.seq) return;
    const total = res.hits?.total?.value ?? 0;
    const buckets = res.aggregations?.top?.buckets ?? [];
    const items = buckets.map((b) => {
      const key = b.key_as_string ?? b.key;
      const share = total ? (100 * b.doc_count) / total : 0;
      const li = document.createElement("li");
      li.className = "value";
      li.dataset.value = String(key);
      li.dataset.count = String(b.doc_count);
      li.style.setProperty("--share", `${share.toFixed(2)}%`);
      const label = document.createElement("span");
      label.className = "v";
      label.textContent = String(key);
      label.title = String(key);
      const pct = document.createElement("span");
      pct.className = "pct";
      pct.textContent = `${share < 10 ? share.toFixed(1) : Math.round(share)} %`;
      pct.title = `${b.doc_count.toLocaleString("en-US")} of ${total.toLocaleString("en-US")} events`;
      const plus = document.createElement("button");
      plus.type = "button";
      plus.className = "in";
      plus.textContent = "+";
      plus.title = `Only events with ${name} = ${key}`;
      plus.setAttribute("aria-label", plus.title);
      plus.addEventListener("click", () => this.onFilter(`${luceneField(field)}:${luceneValue(key)}`));
      const minus = document.createElement("button");
      minus.type = "button";
      minus.className = "out";
      minus.textContent = "−";
      minus.title = `Leave out events with ${name} = ${key}`;
      minus.setAttribute("aria-label", minus.title);
      minus.addEventListener("click", () => this.onFilter(`NOT ${luceneField(field)}:${luceneValue(key)}`));
      li.append(label, pct, plus, minus);
      return li;
    });
    if (!items.length) items.push(Object.assign(document.createElement("li"), { className: "muted", textContent: "No values in this result." }));
    const other = res.aggregations?.top?.sum_other_doc_count ?? 0;
    const counted = buckets.reduce((a, b) => a + b.doc_count, 0);
    const missing = Math.max(0, total - counted - other);
    if (other || missing) {
      const li = document.createElement("li");
      li.className = "muted rest";
      li.textContent = [other ? `${other.toLocaleString("en-US")} in other values` : "", missing ? `${missing.toLocaleString("en-US")} without a value` : ""].filter(Boolean).join(" · ");
      items.push(li);
    }
    ol.replaceChildren(...items);
    ol.dataset.total = String(total);
    ol.removeAttribute("aria-busy");
    performance.mark(`logweave:values:${name}`);
  }
}

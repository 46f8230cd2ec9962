// The alerts view: firing and pending alerts, silences, notifications that
// could not be delivered, and recent history (`/api/v1/alerts`,
// `/api/v1/silences`, `/api/v1/rules`).

import { get } from "../api.js";
import { fmtTime } from "../table.js";

const $ = (id) => document.getElementById(id);

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A section with a heading and a table, or a line saying it is empty. */
function section(id, title, cols, rows, empty) {
  const s = el("section", "panel alert-section");
  s.id = id;
  const h = el("h2", "", `${title} `);
  h.append(el("span", "muted count", `(${rows.length})`));
  s.append(h);
  if (!rows.length) {
    s.append(el("p", "muted empty", empty));
    return s;
  }
  const t = el("table", "alert-table");
  const hr = el("tr");
  for (const c of cols) {
    const th = el("th", "", c);
    th.scope = "col";
    hr.append(th);
  }
  t.append(el("thead"), el("tbody"));
  t.tHead.append(hr);
  for (const r of rows) t.tBodies[0].append(r);
  s.append(t);
  return s;
}

function groupText(a) {
  return (a.group ?? []).map(([k, v]) => `${k}=${v}`).join(", ") || "—";
}

function searchLink(a, index) {
  const p = new URLSearchParams({ view: "search", index: index || "*", q: a.query ?? "", range: "1h" });
  const link = el("a", "", "events");
  link.href = "#" + p.toString().replace(/\+/g, "%20");
  return link;
}

export class AlertsView {
  constructor() {
    this.root = $("alerts");
  }

  async load(state, signal) {
    const [alerts, silences, rules] = await Promise.all([
      get("/api/v1/alerts", {}, signal),
      get("/api/v1/silences", {}, signal).catch(() => ({ silences: [] })),
      get("/api/v1/rules", {}, signal).catch(() => ({ rules: [] })),
    ]);
    const indexOf = new Map((rules.rules ?? []).map((r) => [r.name, r.index]));
    const active = alerts.alerts ?? [];
    const alertRow = (a) => {
      const tr = el("tr", `alert st-${a.status}`);
      tr.dataset.rule = a.rule;
      tr.dataset.status = a.status;
      const st = el("td", "", "");
      st.append(el("span", `state ${a.status}`, a.status));
      if (a.silenced_by) st.append(el("span", "muted", " silenced"));
      const sum = el("td", "summary");
      sum.append(el("strong", "", a.rule), document.createTextNode(" "), el("span", "muted", a.annotations?.summary ?? ""));
      if (a.detail) sum.append(el("div", "muted small", a.detail));
      const links = el("td");
      links.append(searchLink(a, indexOf.get(a.rule)));
      tr.append(
        st,
        sum,
        el("td", "", groupText(a)),
        el("td", "num", `${Number(a.value).toLocaleString("en-US")} (${a.threshold})`),
        el("td", "time", fmtTime(a.starts_at ?? a.active_since)),
        links,
      );
      return tr;
    };
    const firing = active.filter((a) => a.status === "firing");
    const pending = active.filter((a) => a.status === "pending");
    const cols = ["State", "Rule", "Group", "Value", "Since", ""];
    const silRows = (silences.silences ?? []).map((s) => {
      const tr = el("tr", `silence st-${s.status?.state ?? s.state ?? ""}`);
      const m = (s.matchers ?? []).map((x) => `${x.name}${x.isEqual === false ? "!" : ""}${x.isRegex ? "=~" : "="}${x.value}`).join(", ");
      tr.append(el("td", "", s.status?.state ?? s.state ?? ""), el("td", "mono", m), el("td", "", s.comment ?? ""), el("td", "time", fmtTime(Date.parse(s.startsAt))), el("td", "time", fmtTime(Date.parse(s.endsAt))));
      return tr;
    });
    const undRows = (alerts.undeliverable ?? []).map((n) => {
      const tr = el("tr", "undeliverable");
      tr.append(el("td", "", n.channel), el("td", "", `${n.alert?.rule ?? ""} (${n.reason})`), el("td", "num", String(n.attempts)), el("td", "error-text", n.last_error ?? ""), el("td", "time", fmtTime(n.created)));
      return tr;
    });
    const histRows = (alerts.history ?? []).slice(0, 50).map((a) => {
      const tr = el("tr", "history");
      tr.dataset.rule = a.rule;
      tr.append(el("td", "", a.rule), el("td", "", groupText(a)), el("td", "time", fmtTime(a.starts_at ?? a.active_since)), el("td", "time", fmtTime(a.ends_at)), el("td", "num", Number(a.value).toLocaleString("en-US")));
      return tr;
    });
    this.root.replaceChildren(
      section("alerts-firing", "Firing", cols, firing.map(alertRow), "Nothing is firing."),
      section("alerts-pending", "Pending", cols, pending.map(alertRow), "Nothing is pending."),
      section("alerts-silences", "Silences", ["State", "Matchers", "Comment", "From", "Until"], silRows, "No silences."),
      section("alerts-undeliverable", "Undeliverable notifications", ["Channel", "Alert", "Attempts", "Last error", "Created"], undRows, "Every notification was delivered."),
      section("alerts-history", "Resolved (newest first)", ["Rule", "Group", "Fired", "Resolved", "Value"], histRows, "No resolved alerts yet."),
    );
    return firing.length;
  }
}

//! The report as one self-contained HTML file: the charts as inline SVG,
//! the tables, inline CSS; no scripts, no fonts, no requests to anywhere,
//! so it opens the same from a mail attachment or an incident ticket.
//!
//! Everything that comes from the data (templates, series, messages, the
//! query) goes through [`escape`].

use std::fmt::Write;

use super::figure::{pie_svg, trend_svg, PIE_SIZE, TREND_SIZE};
use super::pie::{percent, slices};
use super::{human_ms, value_text, Alert, Report, ReportError, Section};
use crate::generate::format_ts;

/// Text made safe for HTML content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 24px auto;
  max-width: 1240px; padding: 0 16px; color: #1d1d1f; background: #fff; line-height: 1.4; }
h1 { font-size: 1.6em; margin: 0 0 4px; }
h2 { font-size: 1.2em; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 1em; margin: 16px 0 6px; }
.meta { color: #555; margin: 0; }
.total { font-size: 1.25em; margin: 12px 0; }
.chart svg { max-width: 100%; height: auto; display: block; }
.row { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
table { border-collapse: collapse; font-size: 0.92em; }
th, td { text-align: left; padding: 4px 10px; border-bottom: 1px solid #eee; vertical-align: top; }
th { background: #f5f5f7; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font-family: ui-monospace, 'DejaVu Sans Mono', monospace; font-size: 0.95em; }
td.tpl { font-family: ui-monospace, 'DejaVu Sans Mono', monospace; word-break: break-all; }
.quiet { color: #666; font-style: italic; }
.firing { color: #b00020; font-weight: 600; }
.pending { color: #a15c00; font-weight: 600; }
.sev-high { color: #b00020; font-weight: 600; }
.sev-medium { color: #a15c00; }
footer { margin-top: 32px; color: #777; font-size: 0.85em; }
";

/// The whole page.
pub fn render(r: &Report) -> Result<String, ReportError> {
    let trend = trend_svg(r)?;
    let pie = pie_svg(r)?;
    let mut h = String::with_capacity(64 * 1024 + trend.len() + pie.len());
    let title = format!("logweave report: {} ({})", r.index, r.range_text());
    let query = if r.query.trim().is_empty() {
        "every event".to_string()
    } else {
        format!("query <code>{}</code>", escape(&r.query))
    };
    // writing to a String cannot fail
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<header>\n\
         <h1>logweave report</h1>\n<p class=\"meta\">index <code>{}</code> · {query} · {} · every {}</p>\n\
         <p class=\"meta\">from the server at <code>{}</code></p>\n</header>\n",
        escape(&title),
        escape(&r.index),
        escape(&r.range_text()),
        human_ms(r.interval_ms),
        escape(&r.server),
    );
    let _ = writeln!(
        h,
        "<p class=\"total\"><strong id=\"total\">{}</strong> events in the range</p>",
        r.total
    );

    let _ = write!(
        h,
        "<section>\n<h2>Trend</h2>\n<div class=\"chart\" role=\"img\" aria-label=\"events per {}, smoothed, forecast with 80 and 95 % bands, anomalies\">\n{}</div>\n",
        human_ms(r.interval_ms),
        inline_svg(&trend)
    );
    if let Section::Unavailable(why) = &r.forecast {
        let _ = writeln!(h, "<p class=\"quiet\">{}</p>", escape(why));
    }
    h.push_str("</section>\n");

    levels(&mut h, r, &pie);
    patterns(&mut h, r);
    anomalies(&mut h, r);
    alerts(&mut h, r);

    let _ = write!(
        h,
        "<footer>Made by <code>logweave report</code> from the server's public API; \
         charts {}×{} and {}×{} px (SVG).</footer>\n</body>\n</html>\n",
        TREND_SIZE.0, TREND_SIZE.1, PIE_SIZE.0, PIE_SIZE.1
    );
    Ok(h)
}

/// plotters' SVG document without its XML declaration, ready to sit in
/// HTML.
fn inline_svg(svg: &str) -> &str {
    let s = svg.trim_start();
    match s.strip_prefix("<?xml") {
        Some(rest) => rest.find("?>").map_or(s, |i| rest[i + 2..].trim_start()),
        None => s,
    }
}

fn levels(h: &mut String, r: &Report, pie: &str) {
    h.push_str("<section>\n<h2>Levels</h2>\n<div class=\"row\">\n");
    let _ = write!(
        h,
        "<div class=\"chart\" role=\"img\" aria-label=\"share of events per level\">\n{}</div>\n",
        inline_svg(pie)
    );
    h.push_str(
        "<table class=\"levels\">\n<thead><tr><th>level</th><th class=\"num\">events</th><th class=\"num\">share</th></tr></thead>\n<tbody>\n",
    );
    for s in slices(&r.levels) {
        let _ = writeln!(
            h,
            "<tr data-level=\"{0}\"><td>{0}</td><td class=\"num\">{1}</td><td class=\"num\">{2}</td></tr>",
            escape(&s.level),
            s.count,
            percent(s.share)
        );
    }
    let _ = write!(
        h,
        "</tbody>\n<tfoot><tr><th>all</th><th class=\"num\">{}</th><th class=\"num\"></th></tr></tfoot>\n</table>\n</div>\n</section>\n",
        r.total
    );
}

fn patterns(h: &mut String, r: &Report) {
    h.push_str("<section>\n<h2>Top patterns</h2>\n");
    match &r.patterns {
        Section::Unavailable(why) => {
            let _ = writeln!(h, "<p class=\"quiet\">{}</p>", escape(why));
        }
        Section::Ready(list) if list.is_empty() => {
            h.push_str("<p class=\"quiet\">no patterns in the range</p>\n");
        }
        Section::Ready(list) => {
            h.push_str(
                "<table>\n<thead><tr><th class=\"num\">events</th><th class=\"num\">share</th><th>levels</th><th>template</th></tr></thead>\n<tbody>\n",
            );
            for p in list {
                let share = if r.total > 0 {
                    percent(p.count as f64 / r.total as f64)
                } else {
                    String::new()
                };
                let levels: Vec<String> = p
                    .levels
                    .iter()
                    .map(|(l, n)| format!("{} {n}", escape(l)))
                    .collect();
                let _ = writeln!(
                    h,
                    "<tr><td class=\"num\">{}</td><td class=\"num\">{share}</td><td>{}</td><td class=\"tpl\" title=\"pattern {}\">{}</td></tr>",
                    p.count,
                    levels.join(", "),
                    escape(&p.id),
                    escape(&p.template)
                );
            }
            h.push_str("</tbody>\n</table>\n");
        }
    }
    h.push_str("</section>\n");
}

fn anomalies(h: &mut String, r: &Report) {
    h.push_str("<section>\n<h2>Anomalies in the range</h2>\n");
    if r.narrowed() && r.anomalies.ready().is_some() {
        h.push_str("<p class=\"quiet\">found by the server's watches over all their events: not narrowed by this report's index or query</p>\n");
    }
    match &r.anomalies {
        Section::Unavailable(why) => {
            let _ = writeln!(h, "<p class=\"quiet\">{}</p>", escape(why));
        }
        Section::Ready(list) if list.is_empty() => {
            h.push_str("<p class=\"quiet\">none found in the range</p>\n");
        }
        Section::Ready(list) => {
            h.push_str(
                "<table>\n<thead><tr><th>time (UTC)</th><th>what</th><th class=\"num\">expected</th><th class=\"num\">seen</th><th>severity</th></tr></thead>\n<tbody>\n",
            );
            for a in list {
                let mut what = format!("{} in <code>{}</code>", escape(&a.kind), escape(&a.series));
                if let Some(t) = &a.template {
                    let _ = write!(what, ": <code>{}</code>", escape(t));
                }
                let end = if a.end > a.start {
                    format!(" to {}", format_ts(a.end).get(11..).unwrap_or(""))
                } else {
                    String::new()
                };
                let _ = writeln!(
                    h,
                    "<tr><td>{}{end}</td><td>{what}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"sev-{}\">{}</td></tr>",
                    format_ts(a.start),
                    value_text(a.expected),
                    value_text(a.observed),
                    escape(&a.severity),
                    escape(&a.severity)
                );
            }
            h.push_str("</tbody>\n</table>\n");
        }
    }
    h.push_str("</section>\n");
}

fn alert_rows(h: &mut String, list: &[Alert], resolved: bool) {
    let head = if resolved { "resolved" } else { "since" };
    let _ = write!(
        h,
        "<table>\n<thead><tr><th>status</th><th>rule</th><th>group</th><th class=\"num\">value</th><th>threshold</th><th>{head}</th><th>summary</th></tr></thead>\n<tbody>\n"
    );
    for a in list {
        let group: Vec<String> = a
            .group
            .iter()
            .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
            .collect();
        let value = match &a.detail {
            Some(d) => escape(d),
            None => value_text(a.value),
        };
        let when = if resolved {
            a.ends_at.map(format_ts).unwrap_or_default()
        } else {
            format_ts(a.starts_at.unwrap_or(a.active_since))
        };
        let mut summary = a.summary.as_deref().map(escape).unwrap_or_default();
        if let Some(s) = &a.silenced_by {
            let _ = write!(
                summary,
                " <span class=\"quiet\">(silenced by {})</span>",
                escape(s)
            );
        }
        let _ = writeln!(
            h,
            "<tr><td class=\"{0}\">{0}</td><td>{1}</td><td>{2}</td><td class=\"num\">{3}</td><td>{4}</td><td>{when}</td><td>{summary}</td></tr>",
            escape(&a.status),
            escape(&a.rule),
            group.join(", "),
            value,
            escape(&a.threshold),
        );
    }
    h.push_str("</tbody>\n</table>\n");
}

fn alerts(h: &mut String, r: &Report) {
    h.push_str("<section>\n<h2>Alerts</h2>\n");
    match &r.alerts {
        Section::Unavailable(why) => {
            let _ = writeln!(h, "<p class=\"quiet\">{}</p>", escape(why));
        }
        Section::Ready(a) => {
            h.push_str("<h3>Firing and pending now</h3>\n");
            if a.active.is_empty() {
                h.push_str("<p class=\"quiet\">none</p>\n");
            } else {
                alert_rows(h, &a.active, false);
            }
            h.push_str("<h3>Resolved in the range</h3>\n");
            if a.history.is_empty() {
                h.push_str("<p class=\"quiet\">none</p>\n");
            } else {
                alert_rows(h, &a.history, true);
            }
            if a.undeliverable > 0 {
                let _ = writeln!(
                    h,
                    "<p class=\"firing\">{} notifications could not be delivered (see <code>logweave alerts</code>)</p>",
                    a.undeliverable
                );
            }
        }
    }
    h.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert("x & 'y'")</script>"#),
            "&lt;script&gt;alert(&quot;x &amp; &#39;y&#39;&quot;)&lt;/script&gt;"
        );
        assert_eq!(escape("ошибка <*> ok"), "ошибка &lt;*&gt; ok");
    }

    #[test]
    fn the_page_escapes_the_data_and_names_missing_parts() {
        let page = render(&crate::report::sample()).expect("rendering");
        assert!(!page.contains("<script>"), "unescaped template");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt; &lt;*&gt;"));
        assert!(page.contains("app-&lt;logs&gt;-*"));
        assert!(page.contains("not enabled on this server: analysis is off"));
        assert!(page.contains("<tr data-level=\"ERROR\"><td>ERROR</td><td class=\"num\">12</td>"));
        assert!(!page.contains("<?xml"), "an XML declaration inside HTML");
        assert_eq!(page.matches("<svg").count(), 2, "trend and pie");
    }

    #[test]
    fn the_xml_declaration_is_dropped_for_inline_svg() {
        assert_eq!(inline_svg("<?xml version=\"1.0\"?>\n<svg/>"), "<svg/>");
        assert_eq!(inline_svg("<svg/>"), "<svg/>");
    }
}

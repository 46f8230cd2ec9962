//! The report as a terminal summary (`logweave report` without `--out`):
//! the total, counts per level, a sparkline of the counts, the top
//! patterns, the anomalies and the alerts, in plain lines.

use std::fmt::Write;

use super::pie::{percent, slices};
use super::{human_ms, value_text, Report, Section};
use crate::cli::analyze_server::{sparkline, squeeze};
use crate::generate::format_ts;

/// Patterns, anomalies and alerts listed at most; the files have more.
const ROWS: usize = 10;

/// The summary as text, one line per fact.
pub fn render(r: &Report) -> String {
    let mut o = String::new();
    let query = if r.query.trim().is_empty() {
        String::new()
    } else {
        format!("  query {}", r.query)
    };
    let _ = writeln!(o, "index {}  {}{query}", r.index, r.range_text());
    let _ = writeln!(o, "total {} events", r.total);
    let levels: Vec<String> = slices(&r.levels)
        .iter()
        .map(|s| format!("{} {} ({})", s.level, s.count, percent(s.share)))
        .collect();
    if !levels.is_empty() {
        let _ = writeln!(o, "levels {}", levels.join("  "));
    }
    let values: Vec<f64> = r.counts.iter().map(|p| p.1).collect();
    let max = values.iter().copied().fold(0.0, f64::max);
    let _ = writeln!(
        o,
        "counts {}  every {}, max {}",
        sparkline(&squeeze(&values)),
        human_ms(r.interval_ms),
        value_text(max)
    );
    match &r.forecast {
        Section::Ready(f) => {
            if let (Some(first), Some(last)) = (f.ahead.first(), f.ahead.last()) {
                let _ = writeln!(
                    o,
                    "forecast ({}) next {} intervals: {} to {} (95 % up to {})",
                    f.model,
                    f.ahead.len(),
                    value_text(first.forecast),
                    value_text(last.forecast),
                    value_text(f.ahead.iter().map(|b| b.upper95).fold(0.0, f64::max))
                );
            }
        }
        Section::Unavailable(why) => {
            let _ = writeln!(o, "forecast: {why}");
        }
    }

    o.push_str("\ntop patterns\n");
    match &r.patterns {
        Section::Ready(list) if list.is_empty() => o.push_str("  none in the range\n"),
        Section::Ready(list) => {
            for p in list.iter().take(ROWS) {
                let _ = writeln!(o, "  {:>9}  {}", p.count, p.template);
            }
        }
        Section::Unavailable(why) => {
            let _ = writeln!(o, "  {why}");
        }
    }

    o.push_str(if r.narrowed() && r.anomalies.ready().is_some() {
        "\nanomalies (the server's watches: not narrowed by --index or --query)\n"
    } else {
        "\nanomalies\n"
    });
    match &r.anomalies {
        Section::Ready(list) if list.is_empty() => o.push_str("  none in the range\n"),
        Section::Ready(list) => {
            // the latest: what a look at the terminal is for
            let skip = list.len().saturating_sub(ROWS);
            if skip > 0 {
                let _ = writeln!(o, "  ({skip} earlier ones not shown)");
            }
            for a in &list[skip..] {
                let what = a
                    .template
                    .as_deref()
                    .map(|t| format!("  \"{t}\""))
                    .unwrap_or_default();
                let _ = writeln!(
                    o,
                    "  {}  {:<6}  {} in {}: expected {}, seen {}{what}",
                    format_ts(a.start),
                    a.severity,
                    a.kind,
                    a.series,
                    value_text(a.expected),
                    value_text(a.observed)
                );
            }
        }
        Section::Unavailable(why) => {
            let _ = writeln!(o, "  {why}");
        }
    }

    o.push_str("\nalerts\n");
    match &r.alerts {
        Section::Ready(a) => {
            if a.active.is_empty() {
                o.push_str("  none firing or pending\n");
            }
            for x in a.active.iter().take(ROWS) {
                let group: Vec<String> = x.group.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let _ = writeln!(
                    o,
                    "  {:<8} {} [{}] {} ({}) since {}",
                    x.status,
                    x.rule,
                    group.join(" "),
                    x.detail.clone().unwrap_or_else(|| value_text(x.value)),
                    x.threshold,
                    format_ts(x.starts_at.unwrap_or(x.active_since))
                );
            }
            let _ = writeln!(o, "  {} resolved in the range", a.history.len());
            if a.undeliverable > 0 {
                let _ = writeln!(o, "  {} notifications undeliverable", a.undeliverable);
            }
        }
        Section::Unavailable(why) => {
            let _ = writeln!(o, "  {why}");
        }
    }
    o
}

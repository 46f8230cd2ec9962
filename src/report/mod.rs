//! `logweave report`: what a server knows about a range, as one file to
//! mail or attach to an incident (HTML, PNG or SVG), or as a summary on the
//! terminal.
//!
//! [`gather`] reads everything through the public HTTP API (the same calls
//! a script would make) into a typed [`Report`]; the renderers only read
//! that struct, so they need no server and are tested on their own:
//! [`trend`] and [`pie`] draw on any plotters drawing area (the same code
//! makes the PNG and the SVG), [`figure`] lays them out as one image
//! ([`bitmap`] fixes plotters' text spacing in the PNG),
//! [`html`] writes a self-contained page and [`terminal`] the summary.

pub mod bitmap;
pub mod figure;
pub mod gather;
pub mod html;
pub mod pie;
pub mod terminal;
pub mod trend;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// What a report could not do, with what the user can change.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// `--out` names a format we do not write.
    #[error("--out {path}: the extension must be .html, .png or .svg")]
    Extension { path: String },
    /// Nothing answers at the server address.
    #[error("cannot reach the server at {server}: is `logweave server` running? ({detail})")]
    Unreachable { server: String, detail: String },
    /// The server answered a required call with an error.
    #[error("{what}: the server answered {status}: {reason}")]
    Refused {
        what: String,
        status: u16,
        reason: String,
    },
    /// The server answered something that is not the API's shape.
    #[error("{what}: unexpected answer from the server: {detail}")]
    BadAnswer { what: String, detail: String },
    /// plotters failed while drawing (a font or backend problem).
    #[error("drawing the {chart}: {detail}")]
    Draw { chart: &'static str, detail: String },
    /// The output file could not be written.
    #[error("writing {}: {cause}", path.display())]
    Write {
        path: PathBuf,
        // not a `source`: the message already says it, once
        cause: std::io::Error,
    },
}

/// The output formats, chosen by the extension of `--out`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Html,
    Png,
    Svg,
}

impl Format {
    /// The format of an output path (case-insensitive extension).
    pub fn from_path(path: &Path) -> Result<Format, ReportError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("html") | Some("htm") => Ok(Format::Html),
            Some("png") => Ok(Format::Png),
            Some("svg") => Ok(Format::Svg),
            _ => Err(ReportError::Extension {
                path: path.display().to_string(),
            }),
        }
    }
}

/// Everything one report shows, as gathered from the server.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The server asked, as given on the command line.
    pub server: String,
    pub index: String,
    /// The Lucene query; empty for every event.
    pub query: String,
    pub from_ms: i64,
    pub to_ms: i64,
    /// Width of one point of `counts`, as the series API chose it.
    pub interval_ms: i64,
    /// Events in the range (the search's total, exact).
    pub total: u64,
    /// Events per level, most first; events without a level last.
    pub levels: Vec<LevelCount>,
    /// Events per interval: `(start ms, count)`.
    pub counts: Vec<(i64, f64)>,
    pub forecast: Section<Forecast>,
    pub patterns: Section<Vec<Pattern>>,
    pub anomalies: Section<Vec<Anomaly>>,
    pub alerts: Section<Alerts>,
}

/// A part of the report that depends on something the server may not run
/// (analysis, alerting) or may refuse (a forecast of too short a series):
/// the report still goes out and says why the part is missing.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Section<T> {
    Ready(T),
    /// Why it is missing, in words for the reader.
    Unavailable(String),
}

impl<T> Section<T> {
    /// The data, when there is some.
    pub fn ready(&self) -> Option<&T> {
        match self {
            Section::Ready(t) => Some(t),
            Section::Unavailable(_) => None,
        }
    }
}

/// The level of events that carry none (absent `@level`).
pub const NO_LEVEL: &str = "(no level)";

/// Events of one level.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LevelCount {
    pub level: String,
    pub count: u64,
}

/// The smoothed line and the forecast ahead, from `/api/v1/forecast`.
#[derive(Debug, Clone, Serialize)]
pub struct Forecast {
    pub model: String,
    /// `(start ms, smoothed value)` per closed interval.
    pub smoothed: Vec<(i64, f64)>,
    pub ahead: Vec<Band>,
}

/// One forecast interval with its prediction bands.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Band {
    pub ts: i64,
    pub forecast: f64,
    pub lower80: f64,
    pub upper80: f64,
    pub lower95: f64,
    pub upper95: f64,
}

/// A log template and how often it occurred in the range.
#[derive(Debug, Clone, Serialize)]
pub struct Pattern {
    pub id: String,
    pub template: String,
    pub count: u64,
    pub levels: BTreeMap<String, u64>,
}

/// A stored anomaly that overlaps the range.
#[derive(Debug, Clone, Serialize)]
pub struct Anomaly {
    pub kind: String,
    pub series: String,
    pub service: Option<String>,
    pub start: i64,
    pub end: i64,
    pub expected: f64,
    pub observed: f64,
    pub severity: String,
    pub template: Option<String>,
}

/// Alerts of the server: active now, and recently ended.
#[derive(Debug, Clone, Serialize)]
pub struct Alerts {
    /// Pending and firing.
    pub active: Vec<Alert>,
    /// Resolved alerts whose life overlaps the range, newest first.
    pub history: Vec<Alert>,
    /// Notifications that could not be delivered.
    pub undeliverable: usize,
}

/// One alert as `/api/v1/alerts` shows it, reduced to what a report lists.
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    pub rule: String,
    pub status: String,
    pub group: Vec<(String, String)>,
    pub active_since: i64,
    pub starts_at: Option<i64>,
    pub ends_at: Option<i64>,
    pub value: f64,
    pub detail: Option<String>,
    pub threshold: String,
    pub summary: Option<String>,
    pub silenced_by: Option<String>,
}

impl Report {
    /// Whether the events are narrowed by index or query, which the
    /// anomalies (found by the server's own watches) are not.
    pub fn narrowed(&self) -> bool {
        self.index.trim() != "*" || !self.query.trim().is_empty()
    }

    /// The range as text for titles: `2026-11-24 10:00:00 to ... UTC`.
    pub fn range_text(&self) -> String {
        format!(
            "{} to {} UTC",
            crate::generate::format_ts(self.from_ms),
            crate::generate::format_ts(self.to_ms)
        )
    }
}

/// Renders a report in `format` and writes it to `path`.
pub fn write(report: &Report, format: Format, path: &Path) -> Result<(), ReportError> {
    let write_err = |cause| ReportError::Write {
        path: path.to_path_buf(),
        cause,
    };
    // plotters' own error for a missing folder says little; say it here
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            return Err(write_err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("the folder {} does not exist", dir.display()),
            )));
        }
    }
    match format {
        Format::Html => std::fs::write(path, html::render(report)?).map_err(write_err),
        Format::Svg => std::fs::write(path, figure::svg(report)?).map_err(write_err),
        Format::Png => figure::png(report, path),
    }
}

/// A duration in ms as the shortest unit that divides it (`10m`, `1h`),
/// as the alerting and the CLI print durations.
pub use crate::alerting::human_ms;

/// A count or a value with at most one decimal, for tables.
pub fn value_text(v: f64) -> String {
    if !v.is_finite() {
        "-".into()
    } else if v.fract() == 0.0 && v.abs() < 9e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.1}")
    }
}

/// A small report for the renderers' tests, with data that must be
/// escaped and sections that are missing.
#[cfg(test)]
pub(crate) fn sample() -> Report {
    let t0 = 1_764_000_000_000;
    Report {
        server: "http://127.0.0.1:9200".into(),
        index: "app-<logs>-*".into(),
        query: "level:ERROR OR msg:\"<b>\"".into(),
        from_ms: t0,
        to_ms: t0 + 3_600_000,
        interval_ms: 60_000,
        total: 107,
        levels: vec![
            LevelCount {
                level: "INFO".into(),
                count: 90,
            },
            LevelCount {
                level: "ERROR".into(),
                count: 12,
            },
            LevelCount {
                level: NO_LEVEL.into(),
                count: 5,
            },
        ],
        counts: (0..60).map(|i| (t0 + i * 60_000, (i % 7) as f64)).collect(),
        forecast: Section::Ready(Forecast {
            model: "ses".into(),
            smoothed: (0..59).map(|i| (t0 + i * 60_000, 3.0)).collect(),
            ahead: (60..66)
                .map(|i| Band {
                    ts: t0 + i * 60_000,
                    forecast: 3.0,
                    lower80: 1.0,
                    upper80: 5.0,
                    lower95: 0.0,
                    upper95: 7.0,
                })
                .collect(),
        }),
        patterns: Section::Ready(vec![Pattern {
            id: "abc".into(),
            template: "<script>alert(1)</script> <*>".into(),
            count: 12,
            levels: [("ERROR".to_string(), 12)].into_iter().collect(),
        }]),
        anomalies: Section::Unavailable(
            "not enabled on this server: analysis is off on this server".into(),
        ),
        alerts: Section::Unavailable("not enabled on this server: alerting is not running".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extension_picks_the_format() {
        assert_eq!(
            Format::from_path(Path::new("r.html")).ok(),
            Some(Format::Html)
        );
        assert_eq!(
            Format::from_path(Path::new("a/r.PNG")).ok(),
            Some(Format::Png)
        );
        assert_eq!(
            Format::from_path(Path::new("r.svg")).ok(),
            Some(Format::Svg)
        );
        for bad in ["r.jpg", "report", "r.png.gz"] {
            let e = Format::from_path(Path::new(bad)).unwrap_err().to_string();
            assert!(e.contains(bad) && e.contains(".html, .png or .svg"), "{e}");
        }
    }

    #[test]
    fn values_read_as_counts_or_one_decimal() {
        assert_eq!(value_text(42.0), "42");
        assert_eq!(value_text(2.71), "2.7");
        assert_eq!(value_text(f64::NAN), "-");
        assert_eq!(human_ms(600_000), "10m");
        assert_eq!(human_ms(1500), "1500ms");
    }
}

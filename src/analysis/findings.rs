//! Anomalies found by the watches and by `_detect`, kept durably.
//!
//! Consecutive anomalous points of one series and kind are one anomaly with
//! a start and an end, not one per interval: a point that continues an
//! anomaly (within `gap` of its end) extends it. Every change is appended
//! to `anomalies.log` (one JSON object per line, the last line of an id
//! wins) and fsynced, so anomalies survive `kill -9`; the file is rewritten
//! without old versions and expired anomalies when it has grown.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::anomaly::Severity;

/// What kind of change an anomaly is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// More events (or a higher value) than expected.
    Spike,
    /// Fewer than expected.
    Drop,
    /// A busy series that fell to nothing.
    Silence,
    /// A lasting move to another level.
    LevelShift,
    /// The share of errors among a service's events jumped.
    ErrorRatio,
    /// One pattern's count jumped.
    PatternSurge,
    /// A kind of WARN/ERROR message never seen before.
    NewPattern,
}

impl Kind {
    /// Every kind, for validation messages.
    pub const ALL: [Kind; 7] = [
        Kind::Spike,
        Kind::Drop,
        Kind::Silence,
        Kind::LevelShift,
        Kind::ErrorRatio,
        Kind::PatternSurge,
        Kind::NewPattern,
    ];

    /// The API's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Spike => "spike",
            Kind::Drop => "drop",
            Kind::Silence => "silence",
            Kind::LevelShift => "level_shift",
            Kind::ErrorRatio => "error_ratio",
            Kind::PatternSurge => "pattern_surge",
            Kind::NewPattern => "new_pattern",
        }
    }

    /// From the API's name.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One anomaly as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anomaly {
    pub id: String,
    pub kind: Kind,
    /// The watch (or `_detect` selection) and series key it was found in,
    /// e.g. `errors/checkout`.
    pub series: String,
    pub service: Option<String>,
    /// Epoch ms of the first anomalous interval.
    pub start: i64,
    /// Epoch ms of the end of the last anomalous interval.
    pub end: i64,
    /// What was expected and what was seen at the most unusual point.
    pub expected: f64,
    pub observed: f64,
    /// The highest score over the anomaly, in [0, 1].
    pub score: f64,
    #[serde(with = "severity_name")]
    pub severity: Severity,
    /// A Lucene query (with the range in `start`/`end`) showing the events.
    pub query: String,
    /// Pattern id and template, for pattern anomalies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
}

mod severity_name {
    use super::Severity;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(s: &Severity, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(s.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Severity, D::Error> {
        let s = String::deserialize(de)?;
        super::parse_severity(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown severity {s}")))
    }
}

/// `low`, `medium` or `high`.
pub fn parse_severity(s: &str) -> Option<Severity> {
    match s {
        "low" => Some(Severity::Low),
        "medium" => Some(Severity::Medium),
        "high" => Some(Severity::High),
        _ => None,
    }
}

/// A finding before it is merged into the stored anomalies: one anomalous
/// interval (or a run of them) of a series.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub kind: Kind,
    pub series: String,
    pub service: Option<String>,
    pub start: i64,
    pub end: i64,
    pub expected: f64,
    pub observed: f64,
    pub score: f64,
    pub query: String,
    pub pattern: Option<String>,
    pub template: Option<String>,
}

/// A filter for listing.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub service: Option<String>,
    pub kind: Option<Kind>,
    pub min_severity: Option<Severity>,
}

/// The stored anomalies.
pub struct Findings {
    by_id: HashMap<String, Anomaly>,
    log: Option<(PathBuf, File)>,
    lines_in_log: usize,
    retention_ms: i64,
}

/// An anomaly as it was stored or changed by [`Findings::record`].
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    New(Anomaly),
    Extended(Anomaly),
    Unchanged,
}

impl Findings {
    /// Anomalies kept in memory only.
    pub fn in_memory(retention_ms: i64) -> Findings {
        Findings {
            by_id: HashMap::new(),
            log: None,
            lines_in_log: 0,
            retention_ms,
        }
    }

    /// Opens `dir/anomalies.log` (created if absent) and loads it; a torn
    /// last line is dropped. Anomalies that ended before the retention are
    /// forgotten.
    pub fn open(dir: &Path, retention_ms: i64) -> anyhow::Result<Findings> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join("anomalies.log");
        let mut f = Findings::in_memory(retention_ms);
        if let Ok(file) = File::open(&path) {
            for line in BufReader::new(file).lines() {
                let Ok(line) = line else { break };
                let Ok(a) = serde_json::from_str::<Anomaly>(&line) else {
                    continue;
                };
                f.lines_in_log += 1;
                f.by_id.insert(a.id.clone(), a);
            }
        }
        f.expire(crate::event::now_ms());
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        f.log = Some((path, file));
        if f.lines_in_log > 2 * f.by_id.len() + 1000 {
            f.compact()?;
        }
        Ok(f)
    }

    fn expire(&mut self, now: i64) {
        if self.retention_ms > 0 {
            let cut = now - self.retention_ms;
            self.by_id.retain(|_, a| a.end >= cut);
        }
    }

    /// Rewrites the log with the current anomalies only.
    fn compact(&mut self) -> anyhow::Result<()> {
        let Some((path, _)) = &self.log else {
            return Ok(());
        };
        let path = path.clone();
        let tmp = path.with_extension("log.tmp");
        let mut buf = Vec::new();
        for a in self.sorted() {
            serde_json::to_writer(&mut buf, a)?;
            buf.push(b'\n');
        }
        let mut t = File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
        t.write_all(&buf)?;
        t.sync_all()?;
        std::fs::rename(&tmp, &path).with_context(|| format!("cannot replace {}", path.display()))?;
        if let Some(dir) = path.parent() {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        let file = OpenOptions::new().append(true).open(&path)?;
        self.lines_in_log = self.by_id.len();
        self.log = Some((path, file));
        Ok(())
    }

    fn sorted(&self) -> Vec<&Anomaly> {
        let mut v: Vec<&Anomaly> = self.by_id.values().collect();
        v.sort_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));
        v
    }

    /// Merges findings into the stored anomalies: a finding that overlaps or
    /// continues (within `gap_ms`) an anomaly of the same series and kind
    /// extends it; others become new anomalies. Writes and fsyncs what
    /// changed, and returns it.
    pub fn record(&mut self, findings: &[Finding], gap_ms: i64) -> anyhow::Result<Vec<Recorded>> {
        let mut out = Vec::new();
        let mut changed: Vec<Anomaly> = Vec::new();
        for f in findings {
            let Some(severity) = Severity::from_score(f.score) else {
                continue;
            };
            let existing = self
                .by_id
                .values_mut()
                .filter(|a| {
                    a.kind == f.kind
                        && a.series == f.series
                        && a.pattern == f.pattern
                        && f.start <= a.end + gap_ms
                        && f.end + gap_ms >= a.start
                })
                .min_by_key(|a| a.start);
            match existing {
                Some(a) => {
                    let mut n = a.clone();
                    n.start = n.start.min(f.start);
                    n.end = n.end.max(f.end);
                    if f.score > n.score {
                        n.score = f.score;
                        n.severity = severity;
                        n.expected = f.expected;
                        n.observed = f.observed;
                    }
                    n.query = f.query.clone();
                    if n != *a {
                        *a = n.clone();
                        changed.push(n.clone());
                        out.push(Recorded::Extended(n));
                    } else {
                        out.push(Recorded::Unchanged);
                    }
                }
                None => {
                    let a = Anomaly {
                        id: anomaly_id(f),
                        kind: f.kind,
                        series: f.series.clone(),
                        service: f.service.clone(),
                        start: f.start,
                        end: f.end,
                        expected: f.expected,
                        observed: f.observed,
                        score: f.score,
                        severity,
                        query: f.query.clone(),
                        pattern: f.pattern.clone(),
                        template: f.template.clone(),
                    };
                    if self.by_id.contains_key(&a.id) {
                        out.push(Recorded::Unchanged);
                        continue;
                    }
                    self.by_id.insert(a.id.clone(), a.clone());
                    changed.push(a.clone());
                    out.push(Recorded::New(a));
                }
            }
        }
        if !changed.is_empty() {
            if let Some((path, file)) = &mut self.log {
                let mut buf = Vec::new();
                for a in &changed {
                    serde_json::to_writer(&mut buf, a)?;
                    buf.push(b'\n');
                }
                file.write_all(&buf)
                    .and_then(|_| file.sync_data())
                    .with_context(|| format!("cannot write {}", path.display()))?;
                self.lines_in_log += changed.len();
            }
        }
        if self.lines_in_log > 2 * self.by_id.len() + 1000 {
            self.expire(crate::event::now_ms());
            self.compact()?;
        }
        Ok(out)
    }

    /// Anomalies that overlap the filter's range and match it, oldest first.
    pub fn list(&self, f: &Filter) -> Vec<Anomaly> {
        self.sorted()
            .into_iter()
            .filter(|a| f.from.is_none_or(|from| a.end >= from))
            .filter(|a| f.to.is_none_or(|to| a.start <= to))
            .filter(|a| f.kind.is_none_or(|k| a.kind == k))
            .filter(|a| f.min_severity.is_none_or(|s| a.severity >= s))
            .filter(|a| {
                f.service
                    .as_deref()
                    .is_none_or(|s| a.service.as_deref() == Some(s))
            })
            .cloned()
            .collect()
    }
}

/// A stable id: the series, kind, pattern and start.
fn anomaly_id(f: &Finding) -> String {
    let key = format!(
        "{}\u{1f}{}\u{1f}{}\u{1f}{}",
        f.series,
        f.kind.as_str(),
        f.pattern.as_deref().unwrap_or(""),
        f.start
    );
    crate::analysis::patterns::PatternId::of("anomaly", &key).to_hex()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(start: i64, end: i64, score: f64) -> Finding {
        Finding {
            kind: Kind::Spike,
            series: "volume/checkout".into(),
            service: Some("checkout".into()),
            start,
            end,
            expected: 10.0,
            observed: 100.0 * score,
            score,
            query: "service:checkout".into(),
            pattern: None,
            template: None,
        }
    }

    #[test]
    fn a_run_of_intervals_is_one_anomaly_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let minute = 60_000;
        let now = crate::event::now_ms();
        let t0 = now - 3_600_000;
        let ids;
        {
            let mut f = Findings::open(dir.path(), 0).unwrap();
            let r = f.record(&[finding(t0, t0 + minute, 0.9)], minute).unwrap();
            assert!(matches!(r[0], Recorded::New(_)));
            let r = f
                .record(&[finding(t0 + minute, t0 + 2 * minute, 0.95)], minute)
                .unwrap();
            assert!(matches!(r[0], Recorded::Extended(_)));
            // the same again changes nothing (a re-run of detection)
            let r = f
                .record(&[finding(t0 + minute, t0 + 2 * minute, 0.95)], minute)
                .unwrap();
            assert_eq!(r[0], Recorded::Unchanged);
            // below low severity: not an anomaly
            assert!(f
                .record(&[finding(t0 + 9 * minute, t0 + 10 * minute, 0.1)], minute)
                .unwrap()
                .is_empty());
            // far later: a second anomaly
            f.record(&[finding(t0 + 30 * minute, t0 + 31 * minute, 0.75)], minute)
                .unwrap();
            let all = f.list(&Filter::default());
            assert_eq!(all.len(), 2);
            assert_eq!((all[0].start, all[0].end), (t0, t0 + 2 * minute));
            assert_eq!(all[0].severity, Severity::High);
            assert_eq!(all[1].severity, Severity::Medium);
            ids = all.iter().map(|a| a.id.clone()).collect::<Vec<_>>();
        }
        let f = Findings::open(dir.path(), 0).unwrap();
        let all = f.list(&Filter::default());
        assert_eq!(all.iter().map(|a| a.id.clone()).collect::<Vec<_>>(), ids);
        assert_eq!(all[0].end, t0 + 2 * minute, "the extended end was kept");
        let high = f.list(&Filter {
            min_severity: Some(Severity::High),
            ..Filter::default()
        });
        assert_eq!(high.len(), 1);
        let later = f.list(&Filter {
            from: Some(t0 + 20 * minute),
            ..Filter::default()
        });
        assert_eq!(later.len(), 1);
    }

    #[test]
    fn retention_forgets_old_anomalies() {
        let dir = tempfile::tempdir().unwrap();
        let day = 86_400_000;
        let now = crate::event::now_ms();
        {
            let mut f = Findings::open(dir.path(), 7 * day).unwrap();
            f.record(&[finding(now - 30 * day, now - 30 * day + 60_000, 0.9)], 60_000)
                .unwrap();
            f.record(&[finding(now - day, now - day + 60_000, 0.9)], 60_000)
                .unwrap();
        }
        let f = Findings::open(dir.path(), 7 * day).unwrap();
        assert_eq!(f.list(&Filter::default()).len(), 1);
    }
}

//! Watches: the series the server keeps an eye on, and how one detection
//! over a range works. Every detection is stateless: it reads the series
//! from `lookback` before the range to its end from the store and scores
//! every point from the points before it, so the live watch (the last
//! intervals, each time one closes) and a detection over a past range
//! (`_detect`, backfilled or late data) give the same findings.

use std::collections::HashMap;

use crate::analysis::anomaly::{self, DetectorConfig, Severity};
use crate::analysis::findings::{Finding, Kind};
use crate::analysis::series::{self, AggSource, Metric, Series, SeriesRequest};
use crate::config::analysis::{WatchKind, WatchSpec};
use crate::query::agg_result::{AggResult, AggResults};
use crate::query::aggs::{AggKind, AggSpec, BucketOrder};
use crate::query::lucene;
use crate::query::model::{Order, Query};

/// An error-ratio point is judged only with at least this many events in
/// its interval (3 errors out of 4 events at night is no 75 % alarm).
pub const RATIO_MIN_EVENTS: f64 = 20.0;
/// ... and at least this many errors.
pub const RATIO_MIN_ERRORS: f64 = 5.0;
/// A split value (a service) is silent when it logs nothing for an
/// interval after the median of its previous [`SILENCE_HISTORY`] intervals
/// was at least this many events; the score is that of seeing 0 from a
/// Poisson count with that mean, so 15 a minute going quiet is medium
/// severity and 5 a minute going quiet is no alarm.
pub const SILENCE_MIN_EXPECTED: f64 = 5.0;
/// Intervals whose median is the expected count of a silence.
pub const SILENCE_HISTORY: usize = 10;
/// Consecutive anomalous intervals on the same side that make a level
/// shift rather than a spike or drop.
pub const SHIFT_RUN: usize = 5;
/// Score of a new ERROR/FATAL pattern (high) and of a new WARN one (medium).
pub const NEW_ERROR_SCORE: f64 = 0.9;
pub const NEW_WARN_SCORE: f64 = 0.75;
/// Patterns one `new_patterns` detection looks at, most frequent first.
pub const NEW_PATTERNS_SIZE: usize = 1000;

/// What the watches need to know about pattern ids: the id their template
/// now has (merges) and its text.
pub trait PatternNames {
    /// `(root id, template)` of a stored id, `None` if unknown.
    fn resolve(&self, id: &str) -> Option<(String, String)>;
}

/// No pattern names (mining off).
pub struct NoPatterns;

impl PatternNames for NoPatterns {
    fn resolve(&self, _id: &str) -> Option<(String, String)> {
        None
    }
}

/// One detection: which watch, over which range, at which interval.
pub struct Detection<'a> {
    pub src: &'a dyn AggSource,
    pub names: &'a dyn PatternNames,
    pub detector: &'a DetectorConfig,
    /// Start of the range findings are reported for (epoch ms, inclusive).
    pub from_ms: i64,
    /// End (exclusive); a whole number of intervals after `from_ms` is best.
    pub to_ms: i64,
    pub interval_ms: i64,
    /// History read before `from_ms`.
    pub lookback_ms: i64,
}

fn parse_query(q: &str) -> anyhow::Result<Query> {
    if q.trim().is_empty() {
        return Ok(Query::MatchAll);
    }
    lucene::parse(q, &lucene::Options::default()).map_err(|e| anyhow::anyhow!("{e}"))
}

/// `a AND b` in Lucene syntax, either side possibly empty.
fn and(a: &str, b: &str) -> String {
    match (a.trim().is_empty(), b.trim().is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("({a}) AND {b}"),
    }
}

/// `field:"value"` with the value quoted for Lucene.
fn term(field: &str, value: &str) -> String {
    let v = value.replace('\\', "\\\\").replace('"', "\\\"");
    format!("{field}:\"{v}\"")
}

impl Detection<'_> {
    /// Aligns the start down to the interval so live and past detections
    /// see the same buckets.
    fn start(&self) -> i64 {
        let first = self.from_ms - self.lookback_ms;
        first - first.rem_euclid(self.interval_ms)
    }

    fn series(
        &self,
        spec: &WatchSpec,
        query: &str,
        split: Option<&str>,
    ) -> anyhow::Result<Vec<Series>> {
        let req = SeriesRequest {
            index: spec.index.clone(),
            query: parse_query(query)?,
            query_text: query.to_string(),
            from_ms: self.start(),
            to_ms: self.to_ms,
            interval: series::IntervalSpec::Fixed(self.interval_ms),
            time_zone: None,
            split: split.map(String::from),
            size: spec.size.clamp(1, series::MAX_SPLIT),
            metric: Metric::Count,
            field: None,
        };
        Ok(series::run(self.src, &req)?.series)
    }

    /// Runs the watch and returns its findings in the range.
    pub fn run(&self, spec: &WatchSpec) -> anyhow::Result<Vec<Finding>> {
        match spec.kind {
            WatchKind::Count => self.count(spec),
            WatchKind::ErrorRatio => self.error_ratio(spec),
            WatchKind::Patterns => self.patterns(spec),
            WatchKind::NewPatterns => self.new_patterns(spec),
        }
    }

    fn count(&self, spec: &WatchSpec) -> anyhow::Result<Vec<Finding>> {
        let mut out = Vec::new();
        for s in self.series(spec, &spec.query, spec.split.as_deref())? {
            let (name, service, query) = match &spec.split {
                Some(f) => (
                    format!("{}:{}", spec.name, s.key),
                    (f == "@service" || f == "service").then(|| s.key.clone()),
                    and(&spec.query, &term(f, &s.key)),
                ),
                None => (spec.name.clone(), None, spec.query.clone()),
            };
            let split = spec.split.is_some();
            out.extend(self.score(&s, &name, service, &query, split, None));
        }
        Ok(out)
    }

    /// Scores a count series and turns its unusual points in the range
    /// into findings: spikes, drops, level shifts (a run of
    /// [`SHIFT_RUN`] on one side) and silence (a split value that stops).
    fn score(
        &self,
        s: &Series,
        name: &str,
        service: Option<String>,
        query: &str,
        silence: bool,
        pattern: Option<(&str, &str)>,
    ) -> Vec<Finding> {
        let ts: Vec<i64> = s.points.iter().map(|p| p.0).collect();
        let vals = s.values();
        let scores = anomaly::score_series(self.detector, &ts, &vals);
        let mut out = Vec::new();
        // Runs of unusual points on one side, so a lasting change is one
        // level shift and not a row of spikes.
        let mut run_len = 0usize;
        let mut run_side = 0i8;
        for (i, p) in scores.iter().enumerate() {
            if silence && vals[i] == 0.0 && i >= SILENCE_HISTORY {
                let mut prev = vals[i - SILENCE_HISTORY..i].to_vec();
                prev.sort_by(f64::total_cmp);
                let lambda = prev[SILENCE_HISTORY / 2];
                let lg = lambda * std::f64::consts::LOG10_E; // -log10 P(0)
                let score = lg / (lg + 3.0);
                if lambda >= SILENCE_MIN_EXPECTED && Severity::from_score(score).is_some() {
                    run_len = 0;
                    run_side = 0;
                    if ts[i] >= self.from_ms && ts[i] < self.to_ms {
                        out.push(Finding {
                            kind: Kind::Silence,
                            series: name.to_string(),
                            service: service.clone(),
                            start: ts[i],
                            end: ts[i] + self.interval_ms,
                            expected: lambda,
                            observed: 0.0,
                            score,
                            query: query.to_string(),
                            pattern: None,
                            template: None,
                        });
                    }
                    continue;
                }
            }
            let side = if vals[i] > p.expected { 1 } else { -1 };
            let unusual = Severity::from_score(p.score).is_some();
            if unusual && side == run_side {
                run_len += 1;
            } else if unusual {
                run_side = side;
                run_len = 1;
            } else {
                run_len = 0;
                run_side = 0;
            }
            if !unusual || ts[i] < self.from_ms || ts[i] >= self.to_ms {
                continue;
            }
            let kind = if pattern.is_some() {
                if side < 0 {
                    continue; // a pattern getting rarer is no news
                }
                Kind::PatternSurge
            } else if run_len >= SHIFT_RUN {
                Kind::LevelShift
            } else if side > 0 {
                Kind::Spike
            } else {
                Kind::Drop
            };
            out.push(Finding {
                kind,
                series: name.to_string(),
                service: service.clone(),
                start: ts[i],
                end: ts[i] + self.interval_ms,
                expected: p.expected.max(0.0),
                observed: vals[i],
                score: p.score,
                query: query.to_string(),
                pattern: pattern.map(|p| p.0.to_string()),
                template: pattern.map(|p| p.1.to_string()),
            });
        }
        out
    }

    fn error_ratio(&self, spec: &WatchSpec) -> anyhow::Result<Vec<Finding>> {
        let split = spec.split.as_deref().unwrap_or("@service");
        let errors_q = and(&spec.query, "@level:(ERROR OR FATAL)");
        let all = self.series(spec, &spec.query, Some(split))?;
        let errors: HashMap<String, Series> = self
            .series(spec, &errors_q, Some(split))?
            .into_iter()
            .map(|s| (s.key.clone(), s))
            .collect();
        let mut out = Vec::new();
        for s in &all {
            let Some(e) = errors.get(&s.key) else {
                continue;
            };
            let n = s.values();
            let err: Vec<f64> = e.values();
            let (mut e_hist, mut n_hist) = (0.0, 0.0);
            for i in 0..n.len().min(err.len()) {
                let (ei, ni) = (err[i], n[i]);
                let t = s.points[i].0;
                // Baseline: every interval before this one (Laplace prior).
                let p0 = (e_hist + 1.0) / (n_hist + 2.0);
                e_hist += ei;
                n_hist += ni;
                if t < self.from_ms || t >= self.to_ms {
                    continue;
                }
                if ni < RATIO_MIN_EVENTS || ei < RATIO_MIN_ERRORS || ei / ni < 2.0 * p0 + 0.05 {
                    continue;
                }
                let p = binomial_tail(ei, ni, p0);
                let lg = -p.max(1e-300).log10();
                let score = lg / (lg + 3.0);
                if Severity::from_score(score).is_none() {
                    continue;
                }
                let service = (split == "@service" || split == "service").then(|| s.key.clone());
                out.push(Finding {
                    kind: Kind::ErrorRatio,
                    series: format!("{}:{}", spec.name, s.key),
                    service,
                    start: t,
                    end: t + self.interval_ms,
                    expected: p0,
                    observed: ei / ni,
                    score,
                    query: and(&errors_q, &term(split, &s.key)),
                    pattern: None,
                    template: None,
                });
            }
        }
        Ok(out)
    }

    /// Count per pattern (ids merged into one template summed), surges only.
    fn patterns(&self, spec: &WatchSpec) -> anyhow::Result<Vec<Finding>> {
        let raw = self.series(spec, &spec.query, Some("_pattern"))?;
        let mut merged: Vec<(String, String, Series)> = Vec::new();
        for s in raw {
            let (root, template) = self
                .names
                .resolve(&s.key)
                .unwrap_or_else(|| (s.key.clone(), String::new()));
            match merged.iter_mut().find(|m| m.0 == root) {
                Some(m) => {
                    for (a, b) in m.2.points.iter_mut().zip(&s.points) {
                        a.1 = Some(a.1.unwrap_or(0.0) + b.1.unwrap_or(0.0));
                    }
                }
                None => merged.push((root, template, s)),
            }
        }
        let mut out = Vec::new();
        for (root, template, s) in &merged {
            let query = and(&spec.query, &format!("_pattern:{root}"));
            let name = format!("{}:{root}", spec.name);
            out.extend(self.score(s, &name, None, &query, false, Some((root, template))));
        }
        Ok(out)
    }

    /// WARN and ERROR patterns first seen in the range (not in the
    /// lookback before it).
    fn new_patterns(&self, spec: &WatchSpec) -> anyhow::Result<Vec<Finding>> {
        let mut out = Vec::new();
        for (levels, score) in [
            ("@level:(ERROR OR FATAL)", NEW_ERROR_SCORE),
            ("@level:WARN", NEW_WARN_SCORE),
        ] {
            let q = and(&spec.query, levels);
            let query = series::within(parse_query(&q)?, self.start(), self.to_ms);
            let aggs = [AggSpec {
                name: "p".into(),
                kind: AggKind::Terms {
                    field: "_pattern".into(),
                    size: NEW_PATTERNS_SIZE,
                    min_doc_count: 1,
                    order: vec![BucketOrder::Count(Order::Desc)],
                    missing: None,
                },
                subs: vec![
                    AggSpec {
                        name: "first".into(),
                        kind: AggKind::Min {
                            field: "@timestamp".into(),
                            missing: None,
                        },
                        subs: vec![],
                    },
                    AggSpec {
                        name: "last".into(),
                        kind: AggKind::Max {
                            field: "@timestamp".into(),
                            missing: None,
                        },
                        subs: vec![],
                    },
                ],
            }];
            let res = self.src.aggregate(&spec.index, &query, &aggs)?;
            for p in first_seen(&res, self.names) {
                if p.first < self.from_ms || p.first >= self.to_ms {
                    continue;
                }
                out.push(Finding {
                    kind: Kind::NewPattern,
                    series: format!("{}:{}", spec.name, p.root),
                    service: None,
                    start: p.first,
                    end: p.last.max(p.first) + 1,
                    expected: 0.0,
                    observed: p.count as f64,
                    score,
                    query: and(&q, &format!("_pattern:{}", p.root)),
                    pattern: Some(p.root.clone()),
                    template: Some(p.template.clone()),
                });
            }
        }
        Ok(out)
    }
}

/// A pattern's extent in an aggregation over `_pattern`.
#[derive(Debug, Clone, PartialEq)]
pub struct SeenPattern {
    pub root: String,
    pub template: String,
    pub count: u64,
    pub first: i64,
    pub last: i64,
}

/// Reads a `terms` on `_pattern` named `p` with `first`/`last` min/max of
/// `@timestamp`, merging the ids that now share a template.
pub fn first_seen(res: &AggResults, names: &dyn PatternNames) -> Vec<SeenPattern> {
    let Some(AggResult::Terms(t)) = res.get("p") else {
        return Vec::new();
    };
    let mut out: Vec<SeenPattern> = Vec::new();
    for b in &t.buckets {
        let id = series::key_text(&b.key);
        let (root, template) = names
            .resolve(&id)
            .unwrap_or_else(|| (id.clone(), String::new()));
        let first = b
            .aggs
            .get("first")
            .and_then(AggResult::value)
            .unwrap_or(0.0) as i64;
        let last = b.aggs.get("last").and_then(AggResult::value).unwrap_or(0.0) as i64;
        match out.iter_mut().find(|p| p.root == root) {
            Some(p) => {
                p.count += b.doc_count;
                p.first = p.first.min(first);
                p.last = p.last.max(last);
            }
            None => out.push(SeenPattern {
                root,
                template,
                count: b.doc_count,
                first,
                last,
            }),
        }
    }
    out
}

/// `P(X >= k)` for `X ~ Binomial(n, p)`: exact sum of terms for small `n`,
/// the normal approximation with continuity correction above.
pub fn binomial_tail(k: f64, n: f64, p: f64) -> f64 {
    if k <= 0.0 {
        return 1.0;
    }
    if k > n {
        return 0.0;
    }
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    if n <= 2000.0 {
        let (n_i, k_i) = (n.round() as i64, k.round() as i64);
        let ln_choose = |j: i64| {
            libm::lgamma(n_i as f64 + 1.0)
                - libm::lgamma(j as f64 + 1.0)
                - libm::lgamma((n_i - j) as f64 + 1.0)
        };
        let mut sum = 0.0;
        for j in k_i..=n_i {
            let t = (ln_choose(j) + j as f64 * p.ln() + (n_i - j) as f64 * (1.0 - p).ln()).exp();
            sum += t;
            if t < sum * 1e-17 {
                break;
            }
        }
        return sum.min(1.0);
    }
    let mean = n * p;
    let sd = (n * p * (1.0 - p)).sqrt();
    let z = (k - 0.5 - mean) / sd;
    0.5 * libm::erfc(z / std::f64::consts::SQRT_2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binomial_tail_matches_hand_sums() {
        // P(X >= 2), n = 3, p = 0.5: (3 + 1) / 8.
        assert!((binomial_tail(2.0, 3.0, 0.5) - 0.5).abs() < 1e-12);
        // P(X >= 3), n = 3, p = 0.1: 0.001.
        assert!((binomial_tail(3.0, 3.0, 0.1) - 0.001).abs() < 1e-12);
        assert_eq!(binomial_tail(0.0, 10.0, 0.3), 1.0);
        // Normal approximation: P(X >= 5100), n = 10000, p = 0.5 is about
        // P(Z >= 1.99) = 0.0233.
        let p = binomial_tail(5100.0, 10_000.0, 0.5);
        assert!((p - 0.0233).abs() < 0.001, "{p}");
    }

    #[test]
    fn lucene_helpers_quote_values() {
        assert_eq!(and("", "a:b"), "a:b");
        assert_eq!(and("x OR y", "a:b"), "(x OR y) AND a:b");
        assert_eq!(term("@service", "we\"b"), "@service:\"we\\\"b\"");
    }
}

//! A checked alert rule: what to count, over which window, per which
//! groups, and when that is worth telling someone.

use std::collections::BTreeMap;

use serde::Serialize;

use super::template::Template;

/// How bad an alert is; goes into labels, subjects and the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// The config's names.
    pub fn parse(s: &str) -> Option<Severity> {
        match s {
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// What a `metric` condition computes over a numeric field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MetricAgg {
    Avg,
    Min,
    Max,
    Sum,
    /// The given percentile, 0 to 100 (99 = p99).
    Percentile(f64),
}

impl MetricAgg {
    /// How people name it: `avg`, `max`, `p99`.
    pub fn name(self) -> String {
        match self {
            MetricAgg::Avg => "avg".into(),
            MetricAgg::Min => "min".into(),
            MetricAgg::Max => "max".into(),
            MetricAgg::Sum => "sum".into(),
            MetricAgg::Percentile(p) => format!("p{p}"),
        }
    }
}

/// How a `change` condition compares a window with the one before it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ChangeBy {
    /// Now against `factor` × before: above it for a factor over 1, below
    /// it for a factor under 1. The value is now / before.
    Factor(f64),
    /// Now − before: above `delta` when it is positive, below it (a drop by
    /// more than |delta|) when it is negative. The value is now − before.
    Delta(f64),
}

/// When a group's value makes an alert.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// Events in the window: above, below, or strictly between both.
    Count {
        above: Option<f64>,
        below: Option<f64>,
    },
    /// The fraction of the group's events (the rule's query) that also match
    /// `numerator`, for groups with at least `min_denominator` events.
    Ratio {
        numerator: String,
        above: Option<f64>,
        below: Option<f64>,
        min_denominator: f64,
    },
    /// The window's count against the window before it, for groups with at
    /// least `min_previous` events then.
    Change { by: ChangeBy, min_previous: f64 },
    /// Groups that logged in the `lookback` before the window and have
    /// fewer than `below` events in it now.
    Flatline { lookback_ms: i64, below: f64 },
    /// Values of `field` in the window that did not occur in the `lookback`
    /// before it; one alert per value.
    NewTerm { field: String, lookback_ms: i64 },
    /// Distinct values of `field` in the window.
    Cardinality {
        field: String,
        above: Option<f64>,
        below: Option<f64>,
    },
    /// A statistic of the numeric `field` over the window's events, for
    /// groups where the field has values.
    Metric {
        field: String,
        agg: MetricAgg,
        above: Option<f64>,
        below: Option<f64>,
    },
    /// Anomalies the analysis stored (live watches or `_detect`) that were
    /// active in the window: one alert per kind, series and service.
    Anomaly {
        min_severity: crate::analysis::anomaly::Severity,
        kind: Option<crate::analysis::findings::Kind>,
        service: Option<String>,
    },
    /// New patterns the analysis found in the window: ERROR/FATAL ones only,
    /// or WARN ones too.
    NewPattern { errors_only: bool },
}

/// The group fields an anomaly or new-pattern alert has (for templates).
pub const ANOMALY_GROUP: [&str; 4] = ["kind", "series", "service", "pattern"];

fn within_bounds(value: f64, above: Option<f64>, below: Option<f64>) -> bool {
    above.is_none_or(|a| value > a) && below.is_none_or(|b| value < b)
}

fn bounds_text(above: Option<f64>, below: Option<f64>, show: impl Fn(f64) -> String) -> String {
    match (above, below) {
        (Some(a), Some(b)) => format!("between {} and {}", show(a), show(b)),
        (Some(a), None) => format!("> {}", show(a)),
        (None, Some(b)) => format!("< {}", show(b)),
        (None, None) => "never".into(),
    }
}

/// A fraction as a percentage without float noise: 0.05 → `5 %`.
pub fn percent_text(fraction: f64) -> String {
    let p = (fraction * 100.0 * 1000.0).round() / 1000.0;
    format!("{p} %")
}

impl Condition {
    /// Whether `value` meets the condition.
    pub fn holds(&self, value: f64) -> bool {
        match self {
            Condition::Count { above, below }
            | Condition::Ratio { above, below, .. }
            | Condition::Cardinality { above, below, .. }
            | Condition::Metric { above, below, .. } => within_bounds(value, *above, *below),
            Condition::Change { by, .. } => match *by {
                ChangeBy::Factor(f) if f > 1.0 => value > f,
                ChangeBy::Factor(f) => value < f,
                ChangeBy::Delta(d) if d > 0.0 => value > d,
                ChangeBy::Delta(d) => value < d,
            },
            Condition::Flatline { below, .. } => value < *below,
            // the observation is already filtered: being there is the condition
            Condition::NewTerm { .. }
            | Condition::Anomaly { .. }
            | Condition::NewPattern { .. } => true,
        }
    }

    /// The threshold as people read it: `> 10`, `< 1`, `between 5 and 9`,
    /// `ratio > 5 %`, `> 3× the previous window`, `new value of user_agent`.
    pub fn threshold_text(&self) -> String {
        match self {
            Condition::Count { above, below } => bounds_text(*above, *below, |v| v.to_string()),
            Condition::Ratio { above, below, .. } => {
                format!("ratio {}", bounds_text(*above, *below, percent_text))
            }
            Condition::Change { by, .. } => match *by {
                ChangeBy::Factor(f) if f > 1.0 => format!("> {f}× the previous window"),
                ChangeBy::Factor(f) => format!("< {f}× the previous window"),
                ChangeBy::Delta(d) if d > 0.0 => format!("> {d} more than the previous window"),
                ChangeBy::Delta(d) => format!("> {} fewer than the previous window", -d),
            },
            Condition::Flatline { lookback_ms, below } => {
                let before = super::human_ms(*lookback_ms);
                if *below == 1.0 {
                    format!("silent after logging in the {before} before")
                } else {
                    format!("< {below} after logging in the {before} before")
                }
            }
            Condition::NewTerm { field, .. } => format!("new value of {field}"),
            Condition::Cardinality {
                field,
                above,
                below,
            } => format!(
                "{} distinct {field}",
                bounds_text(*above, *below, |v| v.to_string())
            ),
            Condition::Metric {
                field,
                agg,
                above,
                below,
            } => format!(
                "{} of {field} {}",
                agg.name(),
                bounds_text(*above, *below, |v| v.to_string())
            ),
            Condition::Anomaly { min_severity, .. } => {
                format!("anomaly of severity {} or more", min_severity.as_str())
            }
            Condition::NewPattern { errors_only: true } => "a new ERROR pattern".into(),
            Condition::NewPattern { errors_only: false } => "a new WARN or ERROR pattern".into(),
        }
    }

    /// Whether groups seen in the window before count as 0 when absent now.
    pub fn wants_absent_groups(&self) -> bool {
        match self {
            Condition::Count { below, .. } => below.is_some(),
            _ => false,
        }
    }

    /// Whether the rule reads the analysis' anomalies rather than counts.
    pub fn reads_anomalies(&self) -> bool {
        matches!(
            self,
            Condition::Anomaly { .. } | Condition::NewPattern { .. }
        )
    }
}

/// A rule, ready to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: String,
    /// Index pattern.
    pub index: String,
    /// Lucene syntax, already checked; empty = every event.
    pub query: String,
    /// An Elasticsearch DSL query instead, already checked.
    pub query_dsl: Option<serde_json::Value>,
    pub window_ms: i64,
    pub every_ms: i64,
    pub group_by: Vec<String>,
    pub condition: Condition,
    pub for_ms: i64,
    pub keep_firing_for_ms: i64,
    /// 0: no reminders.
    pub repeat_ms: i64,
    /// Windows end this long before the evaluation (late events).
    pub delay_ms: i64,
    /// Firing notices starting within this long go out together.
    pub group_wait_ms: i64,
    pub severity: Severity,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, Template>,
    pub channels: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_hold_strictly() {
        let c = Condition::Ratio {
            numerator: "level:ERROR".into(),
            above: Some(0.05),
            below: None,
            min_denominator: 50.0,
        };
        assert!(c.holds(10.0 / 60.0));
        assert!(!c.holds(0.05));
        assert!(!c.holds(1.0 / 60.0));
        let between = Condition::Metric {
            field: "duration_ms".into(),
            agg: MetricAgg::Percentile(99.0),
            above: Some(100.0),
            below: Some(200.0),
        };
        assert!(between.holds(150.0));
        assert!(!between.holds(100.0) && !between.holds(200.0));
    }

    #[test]
    fn change_compares_the_way_the_sign_says() {
        let rise = |by| Condition::Change {
            by,
            min_previous: 1.0,
        };
        assert!(rise(ChangeBy::Factor(3.0)).holds(3.5));
        assert!(!rise(ChangeBy::Factor(3.0)).holds(1.2));
        // a factor under 1 is a drop
        assert!(rise(ChangeBy::Factor(0.5)).holds(0.2));
        assert!(!rise(ChangeBy::Factor(0.5)).holds(0.8));
        assert!(rise(ChangeBy::Delta(50.0)).holds(51.0));
        assert!(!rise(ChangeBy::Delta(50.0)).holds(50.0));
        // a negative delta: dropped by more than 50
        assert!(rise(ChangeBy::Delta(-50.0)).holds(-60.0));
        assert!(!rise(ChangeBy::Delta(-50.0)).holds(-10.0));
        assert!(!rise(ChangeBy::Delta(-50.0)).holds(30.0));
    }

    #[test]
    fn flatline_and_new_term_hold_on_what_observe_keeps() {
        let f = Condition::Flatline {
            lookback_ms: 60_000,
            below: 1.0,
        };
        assert!(f.holds(0.0));
        assert!(!f.holds(1.0));
        let n = Condition::NewTerm {
            field: "user_agent".into(),
            lookback_ms: 30 * 86_400_000,
        };
        assert!(n.holds(1.0));
    }

    #[test]
    fn thresholds_read_as_people_write_them() {
        let t = |c: Condition| c.threshold_text();
        assert_eq!(
            t(Condition::Ratio {
                numerator: "level:ERROR".into(),
                above: Some(0.05),
                below: None,
                min_denominator: 1.0,
            }),
            "ratio > 5 %"
        );
        assert_eq!(
            t(Condition::Ratio {
                numerator: "x".into(),
                above: Some(0.001),
                below: Some(0.125),
                min_denominator: 1.0,
            }),
            "ratio between 0.1 % and 12.5 %"
        );
        assert_eq!(
            t(Condition::Change {
                by: ChangeBy::Factor(3.0),
                min_previous: 1.0
            }),
            "> 3× the previous window"
        );
        assert_eq!(
            t(Condition::Change {
                by: ChangeBy::Factor(0.5),
                min_previous: 1.0
            }),
            "< 0.5× the previous window"
        );
        assert_eq!(
            t(Condition::Change {
                by: ChangeBy::Delta(-40.0),
                min_previous: 0.0
            }),
            "> 40 fewer than the previous window"
        );
        assert_eq!(
            t(Condition::Flatline {
                lookback_ms: 600_000,
                below: 1.0
            }),
            "silent after logging in the 10m before"
        );
        assert_eq!(
            t(Condition::NewTerm {
                field: "user_agent".into(),
                lookback_ms: 86_400_000
            }),
            "new value of user_agent"
        );
        assert_eq!(
            t(Condition::Cardinality {
                field: "user".into(),
                above: Some(10.0),
                below: None
            }),
            "> 10 distinct user"
        );
        assert_eq!(
            t(Condition::Metric {
                field: "duration_ms".into(),
                agg: MetricAgg::Percentile(99.0),
                above: Some(800.0),
                below: None
            }),
            "p99 of duration_ms > 800"
        );
        assert_eq!(percent_text(0.07), "7 %");
    }
}

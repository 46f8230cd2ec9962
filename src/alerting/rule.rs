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

/// When a group's value makes an alert.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// Events in the window: above, below, or strictly between both.
    Count {
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

impl Condition {
    /// Whether `value` meets the condition.
    pub fn holds(&self, value: f64) -> bool {
        match self {
            Condition::Count { above, below } => {
                above.is_none_or(|a| value > a) && below.is_none_or(|b| value < b)
            }
            // the observation is already filtered: being there is the condition
            Condition::Anomaly { .. } | Condition::NewPattern { .. } => true,
        }
    }

    /// The threshold as people read it: `> 10`, `< 1`, `between 5 and 9`.
    pub fn threshold_text(&self) -> String {
        match self {
            Condition::Count { above, below } => match (above, below) {
                (Some(a), Some(b)) => format!("between {a} and {b}"),
                (Some(a), None) => format!("> {a}"),
                (None, Some(b)) => format!("< {b}"),
                (None, None) => "never".into(),
            },
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
    pub window_ms: i64,
    pub every_ms: i64,
    pub group_by: Vec<String>,
    pub condition: Condition,
    pub for_ms: i64,
    pub keep_firing_for_ms: i64,
    /// 0: no reminders.
    pub repeat_ms: i64,
    pub severity: Severity,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, Template>,
    pub channels: Vec<String>,
}

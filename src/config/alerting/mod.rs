//! `[alerting]`: rules over the stored events and the channels their
//! notifications go to. Every key of a rule but `name` and `condition` has
//! a default; the server log is always a channel, called `log`.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::alerting::rule::{Condition, Rule, Severity};
use crate::alerting::template::Template;

mod channels;
mod rules;

pub use channels::{Channel, EmailChannel, SmtpTls, WebhookChannel, WebhookFormat};

/// `[alerting]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertingSection {
    /// Evaluate the rules (off: none run, the API still lists them).
    pub enabled: Spanned<bool>,
    /// `[alerting.channels.<name>]`.
    pub channels: BTreeMap<String, ChannelSection>,
    /// `[[alerting.rules]]`.
    pub rules: Vec<RuleSection>,
}

impl Default for AlertingSection {
    fn default() -> Self {
        AlertingSection {
            enabled: Spanned::new(0..0, true),
            channels: BTreeMap::new(),
            rules: Vec::new(),
        }
    }
}

/// `[alerting.channels.<name>]`: where notifications go.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelSection {
    /// `webhook` or `email` (besides the built-in `log`).
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    /// Email: the SMTP server's host name.
    #[serde(default)]
    pub host: Option<Spanned<String>>,
    /// Email: the port (default 587 with STARTTLS, 465 with implicit TLS,
    /// 25 without TLS).
    #[serde(default)]
    pub port: Option<Spanned<u16>>,
    /// Email: `starttls` (default), `tls` (implicit, port 465) or `none`.
    #[serde(default)]
    pub tls: Option<Spanned<String>>,
    /// Email: a PEM file of a CA to trust besides the public roots (a
    /// company's own mail relay).
    #[serde(default)]
    pub ca_file: Option<Spanned<String>>,
    /// Email: SMTP AUTH user and password (both or neither).
    #[serde(default)]
    pub username: Option<Spanned<String>>,
    #[serde(default)]
    pub password: Option<Spanned<String>>,
    /// Email: sender address.
    #[serde(default)]
    pub from: Option<Spanned<String>>,
    /// Email: recipients.
    #[serde(default)]
    pub to: Option<Spanned<Vec<String>>>,
    /// The webhook's URL (http or https).
    #[serde(default)]
    pub url: Option<Spanned<String>>,
    /// Signs each body with HMAC-SHA256 in `X-Logweave-Signature`.
    #[serde(default)]
    pub secret: Option<Spanned<String>>,
    /// Extra request headers (say an `Authorization`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `alertmanager` (default: the shape Alertmanager's webhook receivers
    /// parse) or `slack` (`{"text": ...}`).
    #[serde(default)]
    pub format: Option<Spanned<String>>,
    /// Keep retrying a notification this long before it goes to the
    /// undeliverable list (a duration; default 10m; webhook and email).
    #[serde(default)]
    pub retry_for: Option<Spanned<String>>,
    /// At most this many messages per rolling hour (webhook and email;
    /// default: no limit). Past it notifications wait, and go out
    /// together, one message per rule, when the hour allows again.
    #[serde(default)]
    pub max_per_hour: Option<Spanned<u32>>,
}

/// `[[alerting.rules]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSection {
    pub name: Spanned<String>,
    #[serde(default)]
    pub index: Option<Spanned<String>>,
    /// Lucene query syntax; empty = every event.
    #[serde(default)]
    pub query: Option<Spanned<String>>,
    /// Or an Elasticsearch query DSL object (a table, or its JSON as a
    /// string), for queries Lucene syntax cannot say.
    #[serde(default)]
    pub query_dsl: Option<Spanned<toml::Value>>,
    /// The events counted are those of the last `window` (default 5m).
    #[serde(default)]
    pub window: Option<Spanned<String>>,
    /// How often the rule is evaluated (default 30s).
    #[serde(default)]
    pub every: Option<Spanned<String>>,
    /// One alert per value (combination) of these fields.
    #[serde(default)]
    pub group_by: Vec<Spanned<String>>,
    pub condition: ConditionSection,
    /// The condition must hold this long before the alert fires.
    #[serde(default, rename = "for")]
    pub for_: Option<Spanned<String>>,
    /// A firing alert resolves only after the condition failed this long.
    #[serde(default)]
    pub keep_firing_for: Option<Spanned<String>>,
    /// Reminder while an alert fires (default 4h; 0s: never).
    #[serde(default)]
    pub repeat_interval: Option<Spanned<String>>,
    /// Each window ends this long before the evaluation (default 0s), so
    /// events that reach the server late (an agent's buffer, a shipper's
    /// batch) are in it when it is counted.
    #[serde(default)]
    pub delay: Option<Spanned<String>>,
    /// Firing notices of this rule that start within this long of each
    /// other go out as one (default 0s: each at once).
    #[serde(default)]
    pub group_wait: Option<Spanned<String>>,
    /// `low`, `medium` (default), `high` or `critical`.
    #[serde(default)]
    pub severity: Option<Spanned<String>>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Texts with `{{field}}` placeholders (`summary`, `description`, ...).
    #[serde(default)]
    pub annotations: BTreeMap<String, Spanned<String>>,
    /// Channel names (default: `log`).
    #[serde(default)]
    pub channels: Option<Spanned<Vec<String>>>,
}

/// A rule's `condition`. Each type takes its own keys; a key of another
/// type is an error naming it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionSection {
    /// `count` (events matching the query in the window, per group),
    /// `ratio`, `change`, `flatline`, `new_term`, `cardinality`, `metric`,
    /// `anomaly` (anomalies the analysis found) or `new_pattern`.
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    /// `anomaly`: `low`, `medium` or `high` (default).
    #[serde(default)]
    pub min_severity: Option<Spanned<String>>,
    /// `anomaly`: only this kind (`spike`, `drop`, `silence`, ...).
    #[serde(default, rename = "kind")]
    pub anomaly_kind: Option<Spanned<String>>,
    /// `anomaly`: only this service.
    #[serde(default)]
    pub service: Option<Spanned<String>>,
    /// `new_pattern`: `ERROR` (default: ERROR and FATAL) or `WARN` (WARN too).
    #[serde(default)]
    pub min_level: Option<Spanned<String>>,
    /// Fires when the value is above this (`count`, `ratio` as a fraction,
    /// `cardinality`, `metric`).
    #[serde(default)]
    pub above: Option<Spanned<f64>>,
    /// Fires when the value is below this; with `count` and `group_by`,
    /// for the groups seen in the window before (a service that went quiet).
    /// `flatline`: fewer events than this in the window (default 1).
    #[serde(default)]
    pub below: Option<Spanned<f64>>,
    /// `ratio`: the Lucene query of the events counted over those of the
    /// rule's `query` (say `level:ERROR` for an error ratio).
    #[serde(default)]
    pub numerator: Option<Spanned<String>>,
    /// `ratio`: groups with fewer events than this are not judged (a 1 of 2
    /// error ratio says little); default 1.
    #[serde(default)]
    pub min_denominator: Option<Spanned<f64>>,
    /// `change`: fires when now > factor × the window before (factor over
    /// 1) or now < factor × before (under 1).
    #[serde(default)]
    pub factor: Option<Spanned<f64>>,
    /// `change`: fires when now − before > delta, or for a negative delta
    /// when the count dropped by more than |delta|.
    #[serde(default)]
    pub delta: Option<Spanned<f64>>,
    /// `change`: groups with fewer events the window before are not judged
    /// (default 1 with `factor`, so no infinite factors; 0 with `delta`).
    #[serde(default)]
    pub min_previous: Option<Spanned<f64>>,
    /// `flatline`: how long before the window a group must have logged to
    /// be missed (default: one window). `new_term`: how far back a value
    /// counts as known (default 30d, at most 90d).
    #[serde(default)]
    pub lookback: Option<Spanned<String>>,
    /// `new_term`, `cardinality`, `metric`: the field whose values are read.
    #[serde(default)]
    pub field: Option<Spanned<String>>,
    /// `metric`: `avg`, `min`, `max`, `sum` or `percentile`.
    #[serde(default)]
    pub agg: Option<Spanned<String>>,
    /// `metric` with `agg = "percentile"`: which one, 0 to 100 (99 = p99).
    #[serde(default)]
    pub percentile: Option<Spanned<f64>>,
}

/// The checked `[alerting]`.
#[derive(Debug, Clone, Default)]
pub struct AlertingConfig {
    pub enabled: bool,
    /// By name; `log` is always there.
    pub channels: BTreeMap<String, Channel>,
    pub rules: Vec<Rule>,
}

impl AlertingConfig {
    /// What the demo runs: the classic ERROR-polling script done right
    /// (one alert per service, a reminder every hour, a resolved notice),
    /// and one alert per high-severity anomaly, into the server log.
    pub fn demo(index: &str) -> AlertingConfig {
        let rule = Rule {
            name: "errors_by_service".into(),
            index: index.into(),
            query: "@level:(ERROR OR FATAL)".into(),
            query_dsl: None,
            window_ms: 5 * 60_000,
            every_ms: 30_000,
            group_by: vec!["@service".into()],
            condition: Condition::Count {
                above: Some(10.0),
                below: None,
            },
            for_ms: 0,
            keep_firing_for_ms: 60_000,
            repeat_ms: 3_600_000,
            delay_ms: 0,
            group_wait_ms: 10_000,
            severity: Severity::High,
            labels: BTreeMap::new(),
            annotations: [(
                "summary".to_string(),
                Template::parse(
                    "{{value}} ERROR/FATAL events in {{window}} from {{group.@service}} (threshold {{threshold}})",
                )
                .unwrap_or_default(),
            )]
            .into_iter()
            .collect(),
            channels: vec!["log".into()],
        };
        let anomalies = Rule {
            name: "high_anomalies".into(),
            index: "*".into(),
            query: String::new(),
            query_dsl: None,
            window_ms: 15 * 60_000,
            every_ms: 30_000,
            group_by: Vec::new(),
            condition: Condition::Anomaly {
                min_severity: crate::analysis::anomaly::Severity::High,
                kind: None,
                service: None,
            },
            for_ms: 0,
            keep_firing_for_ms: 0,
            repeat_ms: 0,
            delay_ms: 0,
            group_wait_ms: 10_000,
            severity: Severity::High,
            labels: BTreeMap::new(),
            annotations: [(
                "summary".to_string(),
                Template::parse("{{group.kind}} in {{group.series}}: {{detail}}")
                    .unwrap_or_default(),
            )]
            .into_iter()
            .collect(),
            channels: vec!["log".into()],
        };
        AlertingConfig {
            enabled: true,
            channels: [("log".to_string(), Channel::Log)].into_iter().collect(),
            rules: vec![rule, anomalies],
        }
    }
}

pub(crate) type Bad<'a> = dyn FnMut(std::ops::Range<usize>, &str, String) + 'a;

/// A duration key checked against `min..=max` (`0s` is a duration), the
/// default when absent or wrong; for `[alerting]` and `[analysis]`.
pub(crate) fn duration(
    s: Option<&Spanned<String>>,
    default_ms: i64,
    key: &str,
    (min, max): (i64, i64),
    bad: &mut Bad<'_>,
) -> i64 {
    let Some(s) = s else { return default_ms };
    // `0s` (off) is a duration here, as in Alertmanager's settings
    let t = s.get_ref().trim();
    let zero = !t.is_empty()
        && t.trim_start_matches('0').len() < t.len()
        && t.trim_start_matches('0')
            .bytes()
            .all(|b| b.is_ascii_alphabetic());
    let parsed = if zero {
        Some(0)
    } else {
        crate::query::datemath::parse_duration_ms(t)
    };
    match parsed {
        Some(ms) if (min..=max).contains(&ms) => ms,
        Some(_) => {
            bad(
                s.span(),
                key,
                format!(
                    "'{}' is out of range: between {} and {}",
                    s.get_ref(),
                    crate::alerting::human_ms(min),
                    crate::alerting::human_ms(max)
                ),
            );
            default_ms
        }
        None => {
            bad(
                s.span(),
                key,
                format!("'{}' is not a duration like 30s, 5m, 1h or 1d", s.get_ref()),
            );
            default_ms
        }
    }
}

pub(super) const DAY: i64 = 86_400_000;

/// Checks the section; each problem goes to `bad(span, key, message)`.
pub fn build(raw: &AlertingSection, bad: &mut Bad<'_>) -> AlertingConfig {
    let channels = channels::build(raw, bad);
    let rules = rules::build(raw, &channels, bad);
    AlertingConfig {
        enabled: *raw.enabled.get_ref(),
        channels,
        rules,
    }
}

/// Keys of a rule as the API shows it that are not part of its definition;
/// dropped from a body so a rule read with GET can be sent back with PUT.
pub const READ_ONLY_RULE_KEYS: [&str; 3] = ["threshold", "source", "last_evaluation"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiDoc {
    alerting: ApiRules,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiRules {
    rules: Vec<RuleSection>,
}

fn strip_nulls(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// A rule sent through the API as a JSON object with the keys of a
/// `[[alerting.rules]]` table, checked by the very same code (it is turned
/// into that table), so the API and `check-config` accept and refuse the
/// same rules. Problems come back as `key: message`; a `null` is a key
/// left out.
pub fn rule_from_json(
    body: &serde_json::Value,
    channels: &BTreeMap<String, Channel>,
) -> Result<Rule, Vec<String>> {
    let mut body = body.clone();
    let Some(m) = body.as_object_mut() else {
        return Err(vec!["a rule must be a JSON object".into()]);
    };
    for k in READ_ONLY_RULE_KEYS {
        m.remove(k);
    }
    strip_nulls(&mut body);
    let doc = serde_json::json!({"alerting": {"rules": [body]}});
    let text = toml::to_string(&doc).map_err(|e| vec![format!("cannot read the rule: {e}")])?;
    let prefix = |k: &str| {
        k.strip_prefix("alerting.rules[0].")
            .or_else(|| k.strip_prefix("alerting.rules[0]"))
            .unwrap_or(k)
            .to_string()
    };
    let collected = super::collect::deserialize_all::<ApiDoc>(&text);
    let mut problems: Vec<String> = collected
        .problems
        .iter()
        .map(|p| match prefix(&p.key).as_str() {
            "" => p.message.clone(),
            k => format!("{k}: {}", p.message),
        })
        .collect();
    let Some(doc) = collected.value.filter(|_| problems.is_empty()) else {
        if problems.is_empty() {
            problems.push("cannot read the rule".into());
        }
        return Err(problems);
    };
    let raw = AlertingSection {
        rules: doc.alerting.rules,
        ..AlertingSection::default()
    };
    let mut rules = rules::build(&raw, channels, &mut |_, key, msg| {
        problems.push(match prefix(key).as_str() {
            "" => msg,
            k => format!("{k}: {msg}"),
        })
    });
    match (problems.is_empty(), rules.pop()) {
        (true, Some(r)) => Ok(r),
        (true, None) => Err(vec!["cannot read the rule".into()]),
        (false, _) => Err(problems),
    }
}

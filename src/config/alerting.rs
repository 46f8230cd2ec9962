//! `[alerting]`: rules over the stored events and the channels their
//! notifications go to. Every key of a rule but `name` and `condition` has
//! a default; the server log is always a channel, called `log`.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::alerting::rule::{Condition, Rule, Severity};
use crate::alerting::template::Template;

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

/// A rule's `condition`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionSection {
    /// `count` (events matching the query in the window, per group),
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
    /// Fires when the count is above this.
    #[serde(default)]
    pub above: Option<Spanned<f64>>,
    /// Fires when the count is below this; with `group_by`, for the groups
    /// seen in the window before (a service that went quiet).
    #[serde(default)]
    pub below: Option<Spanned<f64>>,
}

/// A channel, checked.
#[derive(Debug, Clone, PartialEq)]
pub enum Channel {
    /// The server's own log.
    Log,
    Webhook(WebhookChannel),
    Email(EmailChannel),
}

/// How an email channel speaks TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    StartTls,
    Implicit,
    None,
}

/// An email channel, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct EmailChannel {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// PEM of an extra CA, read at load.
    pub ca_pem: Option<Vec<u8>>,
    pub credentials: Option<(String, String)>,
    pub from: String,
    pub to: Vec<String>,
    pub retry_for_ms: i64,
}

/// Payload shapes a webhook can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    Alertmanager,
    Slack,
}

/// A webhook channel, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookChannel {
    pub url: String,
    pub secret: Option<String>,
    pub headers: Vec<(String, String)>,
    pub format: WebhookFormat,
    pub retry_for_ms: i64,
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
    /// into the server log.
    pub fn demo(index: &str) -> AlertingConfig {
        let rule = Rule {
            name: "errors_by_service".into(),
            index: index.into(),
            query: "@level:(ERROR OR FATAL)".into(),
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
        AlertingConfig {
            enabled: true,
            channels: [("log".to_string(), Channel::Log)].into_iter().collect(),
            rules: vec![rule],
        }
    }
}

type Bad<'a> = dyn FnMut(std::ops::Range<usize>, &str, String) + 'a;

fn duration(
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

const DAY: i64 = 86_400_000;

fn email_channel(
    c: &ChannelSection,
    key: &dyn Fn(&str) -> String,
    bad: &mut Bad<'_>,
) -> Option<EmailChannel> {
    let mut ok = true;
    let need = |v: &Option<Spanned<String>>, k: &str, bad: &mut Bad<'_>| -> Option<String> {
        match v {
            Some(s) if !s.get_ref().trim().is_empty() => Some(s.get_ref().trim().to_string()),
            _ => {
                bad(
                    c.kind.span(),
                    &key(k),
                    format!("an email channel needs `{k}`"),
                );
                None
            }
        }
    };
    let host = need(&c.host, "host", bad);
    let from = need(&c.from, "from", bad);
    ok &= host.is_some() && from.is_some();
    let tls = match c.tls.as_ref().map(|t| t.get_ref().as_str()) {
        None | Some("starttls") => SmtpTls::StartTls,
        Some("tls") => SmtpTls::Implicit,
        Some("none") => SmtpTls::None,
        Some(other) => {
            if let Some(t) = &c.tls {
                bad(
                    t.span(),
                    &key("tls"),
                    format!("'{other}' is not one of starttls, tls, none"),
                );
            }
            ok = false;
            SmtpTls::StartTls
        }
    };
    let port = c.port.as_ref().map_or(
        match tls {
            SmtpTls::StartTls => 587,
            SmtpTls::Implicit => 465,
            SmtpTls::None => 25,
        },
        |p| *p.get_ref(),
    );
    let address = |a: &str, span: std::ops::Range<usize>, k: &str, bad: &mut Bad<'_>| -> bool {
        let fine = a.parse::<lettre::message::Mailbox>().is_ok();
        if !fine {
            bad(span, &key(k), format!("'{a}' is not a mail address"));
        }
        fine
    };
    if let Some(f) = &c.from {
        ok &= address(f.get_ref(), f.span(), "from", bad);
    }
    let to = match &c.to {
        Some(t) if !t.get_ref().is_empty() => {
            for a in t.get_ref() {
                ok &= address(a, t.span(), "to", bad);
            }
            t.get_ref().clone()
        }
        _ => {
            bad(
                c.kind.span(),
                &key("to"),
                "an email channel needs `to`, a list of recipients".into(),
            );
            ok = false;
            Vec::new()
        }
    };
    let credentials = match (&c.username, &c.password) {
        (Some(u), Some(p)) => Some((u.get_ref().clone(), p.get_ref().clone())),
        (None, None) => None,
        (Some(u), None) => {
            bad(
                u.span(),
                &key("password"),
                "`username` without `password`".into(),
            );
            ok = false;
            None
        }
        (None, Some(p)) => {
            bad(
                p.span(),
                &key("username"),
                "`password` without `username`".into(),
            );
            ok = false;
            None
        }
    };
    let ca_pem = match &c.ca_file {
        Some(f) => match std::fs::read(f.get_ref()) {
            Ok(pem) => Some(pem),
            Err(e) => {
                bad(
                    f.span(),
                    &key("ca_file"),
                    format!("cannot read '{}': {e}", f.get_ref()),
                );
                ok = false;
                None
            }
        },
        None => None,
    };
    let retry_for_ms = duration(
        c.retry_for.as_ref(),
        10 * 60_000,
        &key("retry_for"),
        (0, 7 * DAY),
        bad,
    );
    ok.then(|| EmailChannel {
        host: host.unwrap_or_default(),
        port,
        tls,
        ca_pem,
        credentials,
        from: from.unwrap_or_default(),
        to,
        retry_for_ms,
    })
}

/// Checks the section; each problem goes to `bad(span, key, message)`.
pub fn build(raw: &AlertingSection, bad: &mut Bad<'_>) -> AlertingConfig {
    let mut channels = BTreeMap::new();
    channels.insert("log".to_string(), Channel::Log);
    for (name, c) in &raw.channels {
        let key = |k: &str| format!("alerting.channels.{name}.{k}");
        if name == "log" {
            bad(
                c.kind.span(),
                &key("type"),
                "'log' is the built-in channel (the server log); give this one another name".into(),
            );
            continue;
        }
        match c.kind.get_ref().as_str() {
            "webhook" => {
                let url = match &c.url {
                    Some(u) => match reqwest::Url::parse(u.get_ref()) {
                        Ok(p) if matches!(p.scheme(), "http" | "https") => u.get_ref().clone(),
                        _ => {
                            bad(
                                u.span(),
                                &key("url"),
                                format!("'{}' is not an http(s) URL", u.get_ref()),
                            );
                            String::new()
                        }
                    },
                    None => {
                        bad(c.kind.span(), &key("url"), "a webhook needs a url".into());
                        String::new()
                    }
                };
                let format = match c.format.as_ref().map(|f| f.get_ref().as_str()) {
                    None | Some("alertmanager") => WebhookFormat::Alertmanager,
                    Some("slack") => WebhookFormat::Slack,
                    Some(other) => {
                        if let Some(f) = &c.format {
                            bad(
                                f.span(),
                                &key("format"),
                                format!("'{other}' is not one of alertmanager, slack"),
                            );
                        }
                        WebhookFormat::Alertmanager
                    }
                };
                for h in c.headers.keys() {
                    if reqwest::header::HeaderName::from_bytes(h.as_bytes()).is_err() {
                        bad(
                            c.kind.span(),
                            &key(&format!("headers.{h}")),
                            format!("'{h}' is not a valid header name"),
                        );
                    }
                }
                let retry_for_ms = duration(
                    c.retry_for.as_ref(),
                    10 * 60_000,
                    &key("retry_for"),
                    (0, 7 * DAY),
                    bad,
                );
                channels.insert(
                    name.clone(),
                    Channel::Webhook(WebhookChannel {
                        url,
                        secret: c.secret.as_ref().map(|s| s.get_ref().clone()),
                        headers: c
                            .headers
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                        format,
                        retry_for_ms,
                    }),
                );
            }
            "email" => {
                if let Some(e) = email_channel(c, &key, bad) {
                    channels.insert(name.clone(), Channel::Email(e));
                }
            }
            other => bad(
                c.kind.span(),
                &key("type"),
                format!(
                    "'{other}' is not a channel type; known: webhook, email (and the built-in log)"
                ),
            ),
        }
    }
    let mut rules: Vec<Rule> = Vec::new();
    for (i, r) in raw.rules.iter().enumerate() {
        let key = |k: &str| format!("alerting.rules[{i}].{k}");
        let name = r.name.get_ref().trim().to_string();
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
        {
            bad(
                r.name.span(),
                &key("name"),
                format!("'{name}' must be letters, digits, '_', '-' or '.' (it names the rule in the API)"),
            );
        } else if rules.iter().any(|o| o.name == name) {
            bad(
                r.name.span(),
                &key("name"),
                format!("'{name}' is already a rule; names are unique"),
            );
        }
        let query = r
            .query
            .as_ref()
            .map(|q| q.get_ref().clone())
            .unwrap_or_default();
        if let (Some(q), false) = (&r.query, query.trim().is_empty()) {
            if let Err(e) = crate::query::lucene::parse(&query, &Default::default()) {
                bad(q.span(), &key("query"), e.to_string());
            }
        }
        let window_ms = duration(
            r.window.as_ref(),
            5 * 60_000,
            &key("window"),
            (1000, 30 * DAY),
            bad,
        );
        let every_ms = duration(r.every.as_ref(), 30_000, &key("every"), (1000, DAY), bad);
        let for_ms = duration(r.for_.as_ref(), 0, &key("for"), (0, 7 * DAY), bad);
        let keep_firing_for_ms = duration(
            r.keep_firing_for.as_ref(),
            0,
            &key("keep_firing_for"),
            (0, 7 * DAY),
            bad,
        );
        let repeat_ms = duration(
            r.repeat_interval.as_ref(),
            4 * 3_600_000,
            &key("repeat_interval"),
            (0, 30 * DAY),
            bad,
        );
        let condition = match r.condition.kind.get_ref().as_str() {
            "count" => {
                let above = r.condition.above.as_ref().map(|v| *v.get_ref());
                let below = r.condition.below.as_ref().map(|v| *v.get_ref());
                match (above, below) {
                    (None, None) => bad(
                        r.condition.kind.span(),
                        &key("condition"),
                        "a count condition needs `above`, `below` or both (between)".into(),
                    ),
                    (Some(a), Some(b)) if a >= b => bad(
                        r.condition.kind.span(),
                        &key("condition"),
                        format!(
                            "`above` ({a}) must be less than `below` ({b}) for a between condition"
                        ),
                    ),
                    _ => {}
                }
                for (v, k) in [(&r.condition.above, "above"), (&r.condition.below, "below")] {
                    if let Some(v) = v {
                        if !v.get_ref().is_finite() || *v.get_ref() < 0.0 {
                            bad(
                                v.span(),
                                &key(&format!("condition.{k}")),
                                "must be a count, 0 or more".into(),
                            );
                        }
                    }
                }
                Condition::Count { above, below }
            }
            "anomaly" => {
                let min_severity = match &r.condition.min_severity {
                    None => crate::analysis::anomaly::Severity::High,
                    Some(s) => crate::analysis::findings::parse_severity(s.get_ref())
                        .unwrap_or_else(|| {
                            bad(
                                s.span(),
                                &key("condition.min_severity"),
                                format!("'{}' is not one of low, medium, high", s.get_ref()),
                            );
                            crate::analysis::anomaly::Severity::High
                        }),
                };
                let kind = r.condition.anomaly_kind.as_ref().and_then(|k| {
                    let parsed = crate::analysis::findings::Kind::parse(k.get_ref());
                    if parsed.is_none() {
                        bad(
                            k.span(),
                            &key("condition.kind"),
                            format!("'{}' is not one of spike, drop, silence, level_shift, error_ratio, pattern_surge, new_pattern", k.get_ref()),
                        );
                    }
                    parsed
                });
                Condition::Anomaly {
                    min_severity,
                    kind,
                    service: r.condition.service.as_ref().map(|s| s.get_ref().clone()),
                }
            }
            "new_pattern" => {
                let errors_only = match r
                    .condition
                    .min_level
                    .as_ref()
                    .map(|l| l.get_ref().to_ascii_uppercase())
                {
                    None => true,
                    Some(l) if l == "ERROR" => true,
                    Some(l) if l == "WARN" => false,
                    Some(l) => {
                        if let Some(s) = &r.condition.min_level {
                            bad(
                                s.span(),
                                &key("condition.min_level"),
                                format!("'{l}' is not one of WARN, ERROR"),
                            );
                        }
                        true
                    }
                };
                Condition::NewPattern { errors_only }
            }
            other => {
                bad(
                    r.condition.kind.span(),
                    &key("condition.type"),
                    format!(
                        "'{other}' is not a condition type; known: count, anomaly, new_pattern"
                    ),
                );
                Condition::Count {
                    above: None,
                    below: None,
                }
            }
        };
        let misplaced: Vec<(&str, std::ops::Range<usize>)> = match &condition {
            Condition::Count { .. } => [
                (
                    "min_severity",
                    r.condition.min_severity.as_ref().map(|v| v.span()),
                ),
                ("kind", r.condition.anomaly_kind.as_ref().map(|v| v.span())),
                ("service", r.condition.service.as_ref().map(|v| v.span())),
                (
                    "min_level",
                    r.condition.min_level.as_ref().map(|v| v.span()),
                ),
            ]
            .into_iter()
            .filter_map(|(k, s)| s.map(|s| (k, s)))
            .collect(),
            _ => [
                ("above", r.condition.above.as_ref().map(|v| v.span())),
                ("below", r.condition.below.as_ref().map(|v| v.span())),
            ]
            .into_iter()
            .filter_map(|(k, s)| s.map(|s| (k, s)))
            .collect(),
        };
        for (k, span) in misplaced {
            bad(
                span,
                &key(&format!("condition.{k}")),
                format!("not a key of a '{}' condition", r.condition.kind.get_ref()),
            );
        }
        if condition.reads_anomalies() {
            for (k, present) in [
                ("group_by", !r.group_by.is_empty()),
                ("query", r.query.is_some()),
                ("index", r.index.is_some()),
            ] {
                if present {
                    bad(
                        r.condition.kind.span(),
                        &key(k),
                        format!("an '{}' rule reads the analysis' anomalies: it takes no {k} (its alerts are grouped by kind, series, service and pattern)", r.condition.kind.get_ref()),
                    );
                }
            }
        }
        let severity = match &r.severity {
            None => Severity::Medium,
            Some(s) => Severity::parse(s.get_ref()).unwrap_or_else(|| {
                bad(
                    s.span(),
                    &key("severity"),
                    format!(
                        "'{}' is not one of low, medium, high, critical",
                        s.get_ref()
                    ),
                );
                Severity::Medium
            }),
        };
        let group_by: Vec<String> = r.group_by.iter().map(|g| g.get_ref().clone()).collect();
        for (j, g) in r.group_by.iter().enumerate() {
            if g.get_ref().trim().is_empty() {
                bad(
                    g.span(),
                    &key(&format!("group_by[{j}]")),
                    "must be a field name".into(),
                );
            }
        }
        let template_groups: Vec<String> = if condition.reads_anomalies() {
            crate::alerting::rule::ANOMALY_GROUP
                .iter()
                .map(|g| g.to_string())
                .collect()
        } else {
            group_by.clone()
        };
        let mut annotations = BTreeMap::new();
        for (k, t) in &r.annotations {
            match Template::parse(t.get_ref()) {
                Ok(tpl) => match tpl.check(&template_groups) {
                    Ok(()) => {
                        annotations.insert(k.clone(), tpl);
                    }
                    Err(e) => bad(t.span(), &key(&format!("annotations.{k}")), e),
                },
                Err(e) => bad(t.span(), &key(&format!("annotations.{k}")), e),
            }
        }
        let chans = match &r.channels {
            Some(c) => {
                for ch in c.get_ref() {
                    if !channels.contains_key(ch) && !raw.channels.contains_key(ch) {
                        bad(
                            c.span(),
                            &key("channels"),
                            format!(
                                "'{ch}' is not a channel; known: {}",
                                raw.channels
                                    .keys()
                                    .map(String::as_str)
                                    .chain(["log"])
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        );
                    }
                }
                c.get_ref().clone()
            }
            None => vec!["log".into()],
        };
        rules.push(Rule {
            name,
            index: r
                .index
                .as_ref()
                .map_or_else(|| "*".to_string(), |s| s.get_ref().clone()),
            query,
            window_ms,
            every_ms,
            group_by,
            condition,
            for_ms,
            keep_firing_for_ms,
            repeat_ms,
            severity,
            labels: r.labels.clone(),
            annotations,
            channels: chans,
        });
    }
    AlertingConfig {
        enabled: *raw.enabled.get_ref(),
        channels,
        rules,
    }
}

//! The rules of `[[alerting.rules]]`, checked: every problem named by the
//! rule's key.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;

use super::{duration, AlertingSection, Bad, Channel, ConditionSection, RuleSection, DAY};
use crate::alerting::rule::{ChangeBy, Condition, MetricAgg, Rule, Severity};
use crate::alerting::template::Template;

/// The rules, in the file's order.
pub(super) fn build(
    raw: &AlertingSection,
    channels: &BTreeMap<String, Channel>,
    bad: &mut Bad<'_>,
) -> Vec<Rule> {
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
        let query_dsl = r.query_dsl.as_ref().and_then(|d| {
            let v = match d.get_ref() {
                toml::Value::String(text) => serde_json::from_str::<serde_json::Value>(text)
                    .map_err(|e| format!("is not JSON: {e}")),
                other => serde_json::to_value(other).map_err(|e| e.to_string()),
            };
            let checked = v.and_then(|v| {
                crate::query::es_dsl::parse_query(&v, 0)
                    .map(|_| v)
                    .map_err(|e| format!("{e}"))
            });
            match checked {
                Ok(v) if !query.trim().is_empty() => {
                    bad(
                        d.span(),
                        &key("query_dsl"),
                        "give `query` (Lucene syntax) or `query_dsl`, not both".into(),
                    );
                    Some(v)
                }
                Ok(v) => Some(v),
                Err(e) => {
                    bad(d.span(), &key("query_dsl"), e);
                    None
                }
            }
        });
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
        let delay_ms = duration(r.delay.as_ref(), 0, &key("delay"), (0, 3_600_000), bad);
        let group_wait_ms = duration(
            r.group_wait.as_ref(),
            0,
            &key("group_wait"),
            (0, 3_600_000),
            bad,
        );
        let condition = condition(r, window_ms, &key, bad);
        if condition.reads_anomalies() {
            for (k, present) in [
                ("group_by", !r.group_by.is_empty()),
                ("query", r.query.is_some()),
                ("query_dsl", r.query_dsl.is_some()),
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
        let template_groups: Vec<String> = match &condition {
            c if c.reads_anomalies() => crate::alerting::rule::ANOMALY_GROUP
                .iter()
                .map(|g| g.to_string())
                .collect(),
            Condition::NewTerm { field, .. } => vec![field.clone()],
            _ => group_by.clone(),
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
                                    .chain(channels.keys())
                                    .map(String::as_str)
                                    .collect::<std::collections::BTreeSet<_>>()
                                    .into_iter()
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
            query_dsl,
            window_ms,
            every_ms,
            group_by,
            condition,
            for_ms,
            keep_firing_for_ms,
            repeat_ms,
            delay_ms,
            group_wait_ms,
            severity,
            labels: r.labels.clone(),
            annotations,
            channels: chans,
        });
    }
    rules
}

/// The condition types and the keys each takes besides `type`.
const TYPES: [(&str, &[&str]); 9] = [
    ("count", &["above", "below"]),
    ("ratio", &["numerator", "above", "below", "min_denominator"]),
    ("change", &["factor", "delta", "min_previous"]),
    ("flatline", &["lookback", "below"]),
    ("new_term", &["field", "lookback"]),
    ("cardinality", &["field", "above", "below"]),
    ("metric", &["field", "agg", "percentile", "above", "below"]),
    ("anomaly", &["min_severity", "kind", "service"]),
    ("new_pattern", &["min_level"]),
];

/// The condition's keys that are set, with where they are.
fn present(c: &ConditionSection) -> Vec<(&'static str, Range<usize>)> {
    fn s<T>(v: &Option<Spanned<T>>) -> Option<Range<usize>> {
        v.as_ref().map(|v| v.span())
    }
    [
        ("min_severity", s(&c.min_severity)),
        ("kind", s(&c.anomaly_kind)),
        ("service", s(&c.service)),
        ("min_level", s(&c.min_level)),
        ("above", s(&c.above)),
        ("below", s(&c.below)),
        ("numerator", s(&c.numerator)),
        ("min_denominator", s(&c.min_denominator)),
        ("factor", s(&c.factor)),
        ("delta", s(&c.delta)),
        ("min_previous", s(&c.min_previous)),
        ("lookback", s(&c.lookback)),
        ("field", s(&c.field)),
        ("agg", s(&c.agg)),
        ("percentile", s(&c.percentile)),
    ]
    .into_iter()
    .filter_map(|(k, s)| s.map(|s| (k, s)))
    .collect()
}

type Key<'a> = &'a dyn Fn(&str) -> String;

/// The checked condition of rule `r`; keys of another type are refused
/// by name.
fn condition(r: &RuleSection, window_ms: i64, key: Key<'_>, bad: &mut Bad<'_>) -> Condition {
    let c = &r.condition;
    let kind = c.kind.get_ref().as_str();
    let Some((_, allowed)) = TYPES.iter().find(|(t, _)| *t == kind) else {
        bad(
            c.kind.span(),
            &key("condition.type"),
            format!(
                "'{kind}' is not a condition type; known: {}",
                TYPES.map(|(t, _)| t).join(", ")
            ),
        );
        return Condition::Count {
            above: None,
            below: None,
        };
    };
    for (k, span) in present(c) {
        if !allowed.contains(&k) {
            bad(
                span,
                &key(&format!("condition.{k}")),
                format!(
                    "not a key of a '{kind}' condition (it takes {})",
                    allowed.join(", ")
                ),
            );
        }
    }
    let count = |v: f64| v >= 0.0;
    match kind {
        "count" => {
            let (above, below) = bounds(c, count, "must be a count, 0 or more", key, bad);
            Condition::Count { above, below }
        }
        "ratio" => {
            let (above, below) = bounds(
                c,
                |v| (0.0..=1.0).contains(&v),
                "must be a fraction from 0 to 1 (0.05 = 5 %)",
                key,
                bad,
            );
            let numerator = required(
                &c.numerator,
                c,
                "numerator",
                "a Lucene query, say level:ERROR",
                key,
                bad,
            );
            if !numerator.is_empty() {
                if let (Some(q), Err(e)) = (
                    &c.numerator,
                    crate::query::lucene::parse(&numerator, &Default::default()),
                ) {
                    bad(q.span(), &key("condition.numerator"), e.to_string());
                }
            }
            let min_denominator = number(
                &c.min_denominator,
                1.0,
                |v| v >= 1.0,
                "must be 1 or more (groups with fewer events are not judged)",
                "condition.min_denominator",
                key,
                bad,
            );
            Condition::Ratio {
                numerator,
                above,
                below,
                min_denominator,
            }
        }
        "change" => {
            let by = match (&c.factor, &c.delta) {
                (Some(f), None) => {
                    let v = *f.get_ref();
                    if !(v.is_finite() && v > 0.0 && v != 1.0) {
                        bad(
                            f.span(),
                            &key("condition.factor"),
                            "must be more than 0 and not 1: over 1 fires on a rise (3 = three times the window before), under 1 on a drop (0.5 = half)".into(),
                        );
                    }
                    ChangeBy::Factor(v)
                }
                (None, Some(d)) => {
                    let v = *d.get_ref();
                    if !(v.is_finite() && v != 0.0) {
                        bad(
                            d.span(),
                            &key("condition.delta"),
                            "must not be 0: positive fires on a rise by more than delta, negative on a drop by more than |delta|".into(),
                        );
                    }
                    ChangeBy::Delta(v)
                }
                (Some(_), Some(d)) => {
                    bad(
                        d.span(),
                        &key("condition.delta"),
                        "a change condition takes `factor` or `delta`, not both".into(),
                    );
                    ChangeBy::Delta(1.0)
                }
                (None, None) => {
                    bad(
                        c.kind.span(),
                        &key("condition"),
                        "a change condition needs `factor` (3 = three times the window before, 0.5 = half) or `delta` (50 = 50 more events, -50 = 50 fewer)".into(),
                    );
                    ChangeBy::Delta(1.0)
                }
            };
            let min_previous = match by {
                ChangeBy::Factor(_) => number(
                    &c.min_previous,
                    1.0,
                    |v| v >= 1.0,
                    "must be 1 or more with `factor` (a group new since the window before has no factor)",
                    "condition.min_previous",
                    key,
                    bad,
                ),
                ChangeBy::Delta(_) => number(
                    &c.min_previous,
                    0.0,
                    count,
                    "must be a count, 0 or more",
                    "condition.min_previous",
                    key,
                    bad,
                ),
            };
            Condition::Change { by, min_previous }
        }
        "flatline" => {
            if r.group_by.is_empty() {
                bad(
                    c.kind.span(),
                    &key("group_by"),
                    "a flatline condition needs `group_by`: it finds the groups that stopped logging".into(),
                );
            }
            let lookback_ms = duration(
                c.lookback.as_ref(),
                window_ms,
                &key("condition.lookback"),
                (1000, 30 * DAY),
                bad,
            );
            let below = number(
                &c.below,
                1.0,
                |v| v > 0.0,
                "must be more than 0 (fewer events than this in the window fire; default 1)",
                "condition.below",
                key,
                bad,
            );
            Condition::Flatline { lookback_ms, below }
        }
        "new_term" => {
            if let Some(g) = r.group_by.first() {
                bad(
                    g.span(),
                    &key("group_by"),
                    "a new_term rule takes no group_by: its alerts are one per new value of `field`".into(),
                );
            }
            let field = required(
                &c.field,
                c,
                "field",
                "the field whose new values alert",
                key,
                bad,
            );
            let lookback_ms = duration(
                c.lookback.as_ref(),
                30 * DAY,
                &key("condition.lookback"),
                (1000, 90 * DAY),
                bad,
            );
            if lookback_ms <= window_ms {
                bad(
                    c.lookback.as_ref().map_or(c.kind.span(), |l| l.span()),
                    &key("condition.lookback"),
                    format!(
                        "must be longer than the window ({}): a value is new when it is not in the look-back before the window",
                        crate::alerting::human_ms(window_ms)
                    ),
                );
            }
            Condition::NewTerm { field, lookback_ms }
        }
        "cardinality" => {
            let field = required(
                &c.field,
                c,
                "field",
                "the field whose distinct values are counted",
                key,
                bad,
            );
            let (above, below) = bounds(c, count, "must be a count, 0 or more", key, bad);
            Condition::Cardinality {
                field,
                above,
                below,
            }
        }
        "metric" => {
            let field = required(
                &c.field,
                c,
                "field",
                "a numeric field, say duration_ms",
                key,
                bad,
            );
            let (above, below) = bounds(c, f64::is_finite, "must be a number", key, bad);
            let agg = match c.agg.as_ref().map(|a| a.get_ref().as_str()) {
                None => {
                    bad(
                        c.kind.span(),
                        &key("condition.agg"),
                        "a metric condition needs `agg`: avg, min, max, sum or percentile".into(),
                    );
                    MetricAgg::Avg
                }
                Some("avg") => MetricAgg::Avg,
                Some("min") => MetricAgg::Min,
                Some("max") => MetricAgg::Max,
                Some("sum") => MetricAgg::Sum,
                Some("percentile") => match &c.percentile {
                    Some(p) => {
                        let v = *p.get_ref();
                        if !(0.0..=100.0).contains(&v) {
                            bad(
                                p.span(),
                                &key("condition.percentile"),
                                format!("{v} is not a percentile from 0 to 100 (99 = p99)"),
                            );
                        }
                        MetricAgg::Percentile(v)
                    }
                    None => {
                        bad(
                            c.kind.span(),
                            &key("condition.percentile"),
                            "agg = \"percentile\" needs `percentile`, from 0 to 100 (99 = p99)"
                                .into(),
                        );
                        MetricAgg::Percentile(50.0)
                    }
                },
                Some(other) => {
                    if let Some(a) = &c.agg {
                        bad(
                            a.span(),
                            &key("condition.agg"),
                            format!("'{other}' is not one of avg, min, max, sum, percentile"),
                        );
                    }
                    MetricAgg::Avg
                }
            };
            if let (Some(p), false) = (&c.percentile, matches!(agg, MetricAgg::Percentile(_))) {
                bad(
                    p.span(),
                    &key("condition.percentile"),
                    "only with agg = \"percentile\"".into(),
                );
            }
            Condition::Metric {
                field,
                agg,
                above,
                below,
            }
        }
        "anomaly" => {
            let min_severity = match &c.min_severity {
                None => crate::analysis::anomaly::Severity::High,
                Some(s) => {
                    crate::analysis::findings::parse_severity(s.get_ref()).unwrap_or_else(|| {
                        bad(
                            s.span(),
                            &key("condition.min_severity"),
                            format!("'{}' is not one of low, medium, high", s.get_ref()),
                        );
                        crate::analysis::anomaly::Severity::High
                    })
                }
            };
            let kind = c.anomaly_kind.as_ref().and_then(|k| {
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
                service: c.service.as_ref().map(|s| s.get_ref().clone()),
            }
        }
        _ => {
            let errors_only = match c.min_level.as_ref() {
                None => true,
                Some(l) => match l.get_ref().to_ascii_uppercase().as_str() {
                    "ERROR" => true,
                    "WARN" => false,
                    other => {
                        bad(
                            l.span(),
                            &key("condition.min_level"),
                            format!("'{other}' is not one of WARN, ERROR"),
                        );
                        true
                    }
                },
            };
            Condition::NewPattern { errors_only }
        }
    }
}

/// `above` and `below` of a threshold: at least one, each passing `ok`,
/// and `above` under `below` when both are there (between).
fn bounds(
    c: &ConditionSection,
    ok: impl Fn(f64) -> bool,
    must: &str,
    key: Key<'_>,
    bad: &mut Bad<'_>,
) -> (Option<f64>, Option<f64>) {
    let kind = c.kind.get_ref();
    let above = c.above.as_ref().map(|v| *v.get_ref());
    let below = c.below.as_ref().map(|v| *v.get_ref());
    match (above, below) {
        (None, None) => bad(
            c.kind.span(),
            &key("condition"),
            format!("a {kind} condition needs `above`, `below` or both (between)"),
        ),
        (Some(a), Some(b)) if a >= b => bad(
            c.kind.span(),
            &key("condition"),
            format!("`above` ({a}) must be less than `below` ({b}) for a between condition"),
        ),
        _ => {}
    }
    for (v, k) in [(&c.above, "above"), (&c.below, "below")] {
        if let Some(v) = v {
            if !v.get_ref().is_finite() || !ok(*v.get_ref()) {
                bad(v.span(), &key(&format!("condition.{k}")), must.into());
            }
        }
    }
    (above, below)
}

/// A required text key of the condition, trimmed; empty when missing.
fn required(
    v: &Option<Spanned<String>>,
    c: &ConditionSection,
    k: &str,
    what: &str,
    key: Key<'_>,
    bad: &mut Bad<'_>,
) -> String {
    let text = v
        .as_ref()
        .map(|s| s.get_ref().trim().to_string())
        .unwrap_or_default();
    if text.is_empty() {
        bad(
            v.as_ref().map_or(c.kind.span(), |s| s.span()),
            &key(&format!("condition.{k}")),
            format!("a {} condition needs `{k}` ({what})", c.kind.get_ref()),
        );
    }
    text
}

/// An optional number of the condition, `default` when missing.
fn number(
    v: &Option<Spanned<f64>>,
    default: f64,
    ok: impl Fn(f64) -> bool,
    must: &str,
    k: &str,
    key: Key<'_>,
    bad: &mut Bad<'_>,
) -> f64 {
    match v {
        None => default,
        Some(v) if v.get_ref().is_finite() && ok(*v.get_ref()) => *v.get_ref(),
        Some(v) => {
            bad(v.span(), &key(k), must.into());
            default
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rules of `[alerting]` text, and each problem as `key: message`.
    fn load(text: &str) -> (Vec<Rule>, Vec<String>) {
        let raw: AlertingSection = toml::from_str(text).expect("parses as [alerting]");
        let mut problems = Vec::new();
        let cfg = super::super::build(&raw, &mut |_, k: &str, m: String| {
            problems.push(format!("{k}: {m}"))
        });
        (cfg.rules, problems)
    }

    fn one(cond: &str, extra: &str) -> (Vec<Rule>, Vec<String>) {
        load(&format!(
            "[[rules]]\nname = \"r\"\nwindow = \"5m\"\n{extra}\ncondition = {{ {cond} }}\n"
        ))
    }

    #[test]
    fn each_new_condition_loads_with_its_defaults() {
        let (rules, problems) = one(
            r#"type = "ratio", numerator = "level:ERROR", above = 0.05"#,
            "group_by = [\"service\"]",
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            rules[0].condition,
            Condition::Ratio {
                numerator: "level:ERROR".into(),
                above: Some(0.05),
                below: None,
                min_denominator: 1.0
            }
        );
        let (rules, problems) = one(r#"type = "change", factor = 3"#, "");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            rules[0].condition,
            Condition::Change {
                by: ChangeBy::Factor(3.0),
                min_previous: 1.0
            }
        );
        let (rules, _) = one(r#"type = "change", delta = -20"#, "");
        assert_eq!(
            rules[0].condition,
            Condition::Change {
                by: ChangeBy::Delta(-20.0),
                min_previous: 0.0
            }
        );
        let (rules, problems) = one(r#"type = "flatline""#, "group_by = [\"service\"]");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            rules[0].condition,
            Condition::Flatline {
                lookback_ms: 300_000,
                below: 1.0
            }
        );
        let (rules, problems) = one(r#"type = "new_term", field = "user_agent""#, "");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            rules[0].condition,
            Condition::NewTerm {
                field: "user_agent".into(),
                lookback_ms: 30 * DAY
            }
        );
        let (rules, problems) = one(
            r#"type = "metric", field = "duration_ms", agg = "percentile", percentile = 99, above = 800"#,
            "",
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            rules[0].condition,
            Condition::Metric {
                field: "duration_ms".into(),
                agg: MetricAgg::Percentile(99.0),
                above: Some(800.0),
                below: None
            }
        );
        let (_, problems) = one(r#"type = "cardinality", field = "user", below = 2"#, "");
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn wrong_and_missing_keys_are_named() {
        let cases: &[(&str, &str, &str)] = &[
            (r#"type = "ratio", above = 0.1"#, "", "alerting.rules[0].condition.numerator: a ratio condition needs `numerator`"),
            (r#"type = "ratio", numerator = "level:(ERROR", above = 0.1"#, "", "alerting.rules[0].condition.numerator:"),
            (r#"type = "ratio", numerator = "x", above = 5"#, "", "alerting.rules[0].condition.above: must be a fraction from 0 to 1"),
            (r#"type = "ratio", numerator = "x", above = 0.1, factor = 2"#, "", "alerting.rules[0].condition.factor: not a key of a 'ratio' condition"),
            (r#"type = "ratio", numerator = "x", above = 0.1, min_denominator = 0"#, "", "alerting.rules[0].condition.min_denominator: must be 1 or more"),
            (r#"type = "change""#, "", "alerting.rules[0].condition: a change condition needs `factor`"),
            (r#"type = "change", factor = 2, delta = 5"#, "", "alerting.rules[0].condition.delta: a change condition takes `factor` or `delta`, not both"),
            (r#"type = "change", factor = 1"#, "", "alerting.rules[0].condition.factor: must be more than 0 and not 1"),
            (r#"type = "change", factor = 2, min_previous = 0"#, "", "alerting.rules[0].condition.min_previous: must be 1 or more with `factor`"),
            (r#"type = "change", delta = 0"#, "", "alerting.rules[0].condition.delta: must not be 0"),
            (r#"type = "change", factor = 2, above = 3"#, "", "alerting.rules[0].condition.above: not a key of a 'change' condition"),
            (r#"type = "flatline""#, "", "alerting.rules[0].group_by: a flatline condition needs `group_by`"),
            (r#"type = "flatline", numerator = "x""#, "group_by = [\"s\"]", "alerting.rules[0].condition.numerator: not a key of a 'flatline' condition"),
            (r#"type = "flatline", lookback = "soon""#, "group_by = [\"s\"]", "alerting.rules[0].condition.lookback: 'soon' is not a duration"),
            (r#"type = "new_term""#, "", "alerting.rules[0].condition.field: a new_term condition needs `field`"),
            (r#"type = "new_term", field = "ua""#, "group_by = [\"s\"]", "alerting.rules[0].group_by: a new_term rule takes no group_by"),
            (r#"type = "new_term", field = "ua", lookback = "100d""#, "", "alerting.rules[0].condition.lookback: '100d' is out of range"),
            (r#"type = "new_term", field = "ua", lookback = "1m""#, "", "alerting.rules[0].condition.lookback: must be longer than the window (5m)"),
            (r#"type = "new_term", field = "ua", below = 1"#, "", "alerting.rules[0].condition.below: not a key of a 'new_term' condition"),
            (r#"type = "cardinality", above = 3"#, "", "alerting.rules[0].condition.field: a cardinality condition needs `field`"),
            (r#"type = "cardinality", field = "u""#, "", "alerting.rules[0].condition: a cardinality condition needs `above`, `below` or both"),
            (r#"type = "cardinality", field = "u", above = 1, agg = "avg""#, "", "alerting.rules[0].condition.agg: not a key of a 'cardinality' condition"),
            (r#"type = "metric", field = "d", above = 1"#, "", "alerting.rules[0].condition.agg: a metric condition needs `agg`"),
            (r#"type = "metric", field = "d", agg = "median", above = 1"#, "", "alerting.rules[0].condition.agg: 'median' is not one of avg, min, max, sum, percentile"),
            (r#"type = "metric", field = "d", agg = "percentile", above = 1"#, "", "alerting.rules[0].condition.percentile: agg = \"percentile\" needs `percentile`"),
            (r#"type = "metric", field = "d", agg = "percentile", percentile = 120, above = 1"#, "", "alerting.rules[0].condition.percentile: 120 is not a percentile from 0 to 100"),
            (r#"type = "metric", field = "d", agg = "avg", percentile = 99, above = 1"#, "", "alerting.rules[0].condition.percentile: only with agg = \"percentile\""),
            (r#"type = "metric", field = "d", agg = "avg", lookback = "1h", above = 1"#, "", "alerting.rules[0].condition.lookback: not a key of a 'metric' condition"),
            (r#"type = "count", above = 1, field = "x""#, "", "alerting.rules[0].condition.field: not a key of a 'count' condition"),
            (r#"type = "new_pattern", min_severity = "low""#, "", "alerting.rules[0].condition.min_severity: not a key of a 'new_pattern' condition"),
            (r#"type = "sum""#, "", "alerting.rules[0].condition.type: 'sum' is not a condition type; known: count, ratio, change, flatline, new_term, cardinality, metric, anomaly, new_pattern"),
        ];
        for (cond, extra, want) in cases {
            let (_, problems) = one(cond, extra);
            assert!(
                problems.iter().any(|p| p.starts_with(want)),
                "{cond}: want {want:?} in {problems:#?}"
            );
        }
    }
}

//! The rules of `[[alerting.rules]]`, checked: every problem named by the
//! rule's key.

use std::collections::BTreeMap;

use super::{duration, AlertingSection, Bad, Channel, DAY};
use crate::alerting::rule::{Condition, Rule, Severity};
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
    rules
}

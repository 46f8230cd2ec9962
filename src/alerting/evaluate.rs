//! One evaluation of a rule: the value of each group in the window (a
//! count, a ratio, a change against the window before, a new value, a
//! statistic), from the store's aggregations (never by fetching the
//! events), with a few sample lines per group for the notification.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::number_text;
use super::rule::{ChangeBy, Condition, MetricAgg, Rule};
use crate::analysis::series::{within, AggSource};
use crate::query::agg_result::{AggResult, AggResults, BucketKey};
use crate::query::aggs::{AggKind, AggSpec, BucketOrder};
use crate::query::lucene;
use crate::query::model::{BoolQuery, MinShould, Order, Query};

/// Groups a rule follows at most; more are cut (and logged).
pub const MAX_GROUPS: usize = 1000;
/// Sample lines kept per group.
pub const SAMPLES: usize = 3;

/// A group's value in one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// `(field, value)` per `group_by` field, in its order.
    pub group: Vec<(String, String)>,
    pub value: f64,
    /// Messages of the newest events of the group in the window (a ratio's:
    /// of its numerator; a silent flatline group's: the last before it).
    pub samples: Vec<String>,
    /// The query behind it when it is not the rule's (an anomaly's own).
    pub query: Option<String>,
    /// What the value is made of, for people: `7 of 60 events (11.7 %)`,
    /// `120 now, 35 the window before`.
    pub detail: Option<String>,
}

fn parse(q: &str) -> anyhow::Result<Query> {
    if q.trim().is_empty() {
        return Ok(Query::MatchAll);
    }
    lucene::parse(q, &lucene::Options::default()).map_err(|e| anyhow::anyhow!("{e}"))
}

fn samples_agg() -> AggSpec {
    crate::analysis::samples::newest("samples", SAMPLES)
}

/// Nested `terms` over the group fields with `leaf` under the last one
/// (under one `filter` bucket of every event without group fields).
fn group_aggs(fields: &[String], leaf: Vec<AggSpec>) -> AggSpec {
    let mut spec: Option<AggSpec> = None;
    for (depth, f) in fields.iter().enumerate().rev() {
        let subs = match spec.take() {
            Some(s) => vec![s],
            None => leaf.clone(),
        };
        spec = Some(AggSpec {
            name: format!("g{depth}"),
            kind: terms(f, MAX_GROUPS),
            subs,
        });
    }
    spec.unwrap_or_else(|| AggSpec {
        name: "g0".into(),
        kind: AggKind::Filter(Query::MatchAll),
        subs: leaf,
    })
}

fn terms(field: &str, size: usize) -> AggKind {
    AggKind::Terms {
        field: field.to_string(),
        size,
        min_doc_count: 1,
        order: vec![BucketOrder::Count(Order::Desc)],
        missing: None,
    }
}

fn key_text(k: &BucketKey) -> String {
    match k {
        BucketKey::Str(s) => s.clone(),
        BucketKey::Long(i) | BucketKey::Date(i) => i.to_string(),
        BucketKey::Double(f) => f.to_string(),
        BucketKey::Bool(b) => b.to_string(),
    }
}

/// A bucket key as the JSON value a `terms` query matches it with.
fn key_value(k: &BucketKey) -> Value {
    match k {
        BucketKey::Str(s) => Value::String(s.clone()),
        BucketKey::Long(i) | BucketKey::Date(i) => Value::from(*i),
        BucketKey::Double(f) => Value::from(*f),
        BucketKey::Bool(b) => Value::Bool(*b),
    }
}

fn sample_lines(aggs: &AggResults) -> Vec<String> {
    crate::analysis::samples::messages(aggs.get("samples"))
}

/// One group of an aggregation by [`group_aggs`]: its `(field, value)`s,
/// its events and the leaf's results.
struct Row {
    group: Vec<(String, String)>,
    count: u64,
    aggs: AggResults,
}

fn rows(res: &AggResults, fields: &[String]) -> Vec<Row> {
    fn walk(
        res: &AggResults,
        fields: &[String],
        depth: usize,
        prefix: &mut Vec<(String, String)>,
        out: &mut Vec<Row>,
    ) {
        match res.get(&format!("g{depth}")) {
            Some(AggResult::Terms(t)) => {
                for b in &t.buckets {
                    prefix.push((fields[depth].clone(), key_text(&b.key)));
                    if depth + 1 < fields.len() {
                        walk(&b.aggs, fields, depth + 1, prefix, out);
                    } else {
                        out.push(Row {
                            group: prefix.clone(),
                            count: b.doc_count,
                            aggs: b.aggs.clone(),
                        });
                    }
                    prefix.pop();
                }
            }
            Some(AggResult::Single(b)) => out.push(Row {
                group: Vec::new(),
                count: b.doc_count,
                aggs: b.aggs.clone(),
            }),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(res, fields, 0, &mut Vec::new(), &mut out);
    out
}

/// The groups of the rule's events in `[from, to)`, with `leaf` per group.
fn grouped(
    src: &dyn AggSource,
    rule: &Rule,
    q: &Query,
    (from, to): (i64, i64),
    leaf: Vec<AggSpec>,
) -> anyhow::Result<Vec<Row>> {
    let res = src.aggregate(
        &rule.index,
        &within(q.clone(), from, to),
        &[group_aggs(&rule.group_by, leaf)],
    )?;
    Ok(rows(&res, &rule.group_by))
}

fn observation(group: Vec<(String, String)>, value: f64, samples: Vec<String>) -> Observation {
    Observation {
        group,
        value,
        samples,
        query: None,
        detail: None,
    }
}

/// The value of every group the rule's condition judges in the window
/// ending at `now_ms` (see each condition); groups it does not judge (too
/// few events to tell) are left out, so their alerts do not hold.
pub fn observe(src: &dyn AggSource, rule: &Rule, now_ms: i64) -> anyhow::Result<Vec<Observation>> {
    let q = match &rule.query_dsl {
        Some(d) => crate::query::es_dsl::parse_query(d, 0).map_err(|e| anyhow::anyhow!("{e}"))?,
        None => parse(&rule.query)?,
    };
    let window = (now_ms - rule.window_ms, now_ms);
    match &rule.condition {
        Condition::Count { .. } => observe_count(src, rule, &q, window),
        Condition::Ratio {
            numerator,
            min_denominator,
            ..
        } => observe_ratio(src, rule, &q, window, numerator, *min_denominator),
        Condition::Change { by, min_previous } => {
            observe_change(src, rule, &q, window, *by, *min_previous)
        }
        Condition::Flatline { lookback_ms, .. } => {
            observe_flatline(src, rule, &q, window, *lookback_ms)
        }
        Condition::NewTerm { field, lookback_ms } => {
            observe_new_term(src, rule, &q, window, field, *lookback_ms)
        }
        Condition::Cardinality { field, .. } => {
            let leaf = vec![
                AggSpec {
                    name: "m".into(),
                    kind: AggKind::Cardinality {
                        field: field.clone(),
                    },
                    subs: vec![],
                },
                samples_agg(),
            ];
            let mut out = Vec::new();
            for r in grouped(src, rule, &q, window, leaf)? {
                let distinct = r.aggs.get("m").and_then(AggResult::value).unwrap_or(0.0);
                let mut o = observation(r.group, distinct, sample_lines(&r.aggs));
                o.detail = Some(format!(
                    "{} distinct {field} in {} events",
                    number_text(distinct),
                    r.count
                ));
                out.push(o);
            }
            Ok(with_empty_group(rule, out))
        }
        Condition::Metric { field, agg, .. } => {
            let mut leaf = metric_aggs(field, *agg);
            leaf.push(samples_agg());
            let mut out = Vec::new();
            for r in grouped(src, rule, &q, window, leaf)? {
                // a group without values of the field is not judged
                let Some((v, n)) = metric_value(&r.aggs, *agg) else {
                    continue;
                };
                let mut o = observation(r.group, v, sample_lines(&r.aggs));
                o.detail = Some(format!(
                    "{} of {field} {} ({n} values)",
                    agg.name(),
                    number_text(v)
                ));
                out.push(o);
            }
            Ok(out)
        }
        // they read the analysis' findings: see `observe_anomalies`
        Condition::Anomaly { .. } | Condition::NewPattern { .. } => Ok(Vec::new()),
    }
}

/// An ungrouped rule always has its one observation (0 when nothing
/// matched).
fn with_empty_group(rule: &Rule, mut out: Vec<Observation>) -> Vec<Observation> {
    if rule.group_by.is_empty() && out.is_empty() {
        out.push(observation(Vec::new(), 0.0, Vec::new()));
    }
    out
}

/// The count per group, and with a `below` condition also the groups of
/// the window before, at 0 when they are absent now.
fn observe_count(
    src: &dyn AggSource,
    rule: &Rule,
    q: &Query,
    (from, to): (i64, i64),
) -> anyhow::Result<Vec<Observation>> {
    let mut out: Vec<Observation> = grouped(src, rule, q, (from, to), vec![samples_agg()])?
        .into_iter()
        .map(|r| observation(r.group, r.count as f64, sample_lines(&r.aggs)))
        .collect();
    out = with_empty_group(rule, out);
    if rule.condition.wants_absent_groups() && !rule.group_by.is_empty() {
        let before = grouped(src, rule, q, (from - rule.window_ms, from), vec![])?;
        for s in before {
            if !out.iter().any(|o| o.group == s.group) {
                out.push(observation(s.group, 0.0, Vec::new()));
            }
        }
    }
    Ok(out)
}

/// `numerator / denominator` when the denominator is big enough to judge.
pub fn ratio_value(numerator: u64, denominator: u64, min_denominator: f64) -> Option<f64> {
    (denominator > 0 && denominator as f64 >= min_denominator)
        .then(|| numerator as f64 / denominator as f64)
}

/// Per group: the share of its events that match the numerator; samples
/// are the numerator's events.
fn observe_ratio(
    src: &dyn AggSource,
    rule: &Rule,
    q: &Query,
    window: (i64, i64),
    numerator: &str,
    min_denominator: f64,
) -> anyhow::Result<Vec<Observation>> {
    let leaf = vec![AggSpec {
        name: "num".into(),
        kind: AggKind::Filter(parse(numerator)?),
        subs: vec![samples_agg()],
    }];
    let mut out = Vec::new();
    for r in grouped(src, rule, q, window, leaf)? {
        let (n, samples) = match r.aggs.get("num") {
            Some(AggResult::Single(b)) => (b.doc_count, sample_lines(&b.aggs)),
            _ => (0, Vec::new()),
        };
        let Some(v) = ratio_value(n, r.count, min_denominator) else {
            continue;
        };
        let query = events_query(rule, Some(numerator), &r.group);
        let mut o = observation(r.group, v, samples);
        o.detail = Some(format!("{n} of {} events ({})", r.count, ratio_text(v)));
        o.query = Some(query);
        out.push(o);
    }
    Ok(out)
}

/// A ratio as a percentage with one decimal: `11.7 %`.
fn ratio_text(v: f64) -> String {
    format!("{:.1} %", v * 100.0)
}

/// What a `change` condition compares, when the window before had enough
/// events to judge: now / before for a factor, now − before for a delta.
pub fn change_value(now: u64, before: u64, by: ChangeBy, min_previous: f64) -> Option<f64> {
    if (before as f64) < min_previous {
        return None;
    }
    match by {
        ChangeBy::Factor(_) => (before > 0).then(|| now as f64 / before as f64),
        ChangeBy::Delta(_) => Some(now as f64 - before as f64),
    }
}

/// Per group (of either window): the count now against the window before.
fn observe_change(
    src: &dyn AggSource,
    rule: &Rule,
    q: &Query,
    (from, to): (i64, i64),
    by: ChangeBy,
    min_previous: f64,
) -> anyhow::Result<Vec<Observation>> {
    let now = grouped(src, rule, q, (from, to), vec![samples_agg()])?;
    let before = grouped(src, rule, q, (from - rule.window_ms, from), vec![])?;
    let before_counts: HashMap<&[(String, String)], u64> = before
        .iter()
        .map(|r| (r.group.as_slice(), r.count))
        .collect();
    let judge = |group: &[(String, String)], n: u64, b: u64, samples: Vec<String>| {
        let v = change_value(n, b, by, min_previous)?;
        let mut o = observation(group.to_vec(), v, samples);
        o.detail = Some(format!("{n} now, {b} the window before"));
        Some(o)
    };
    let mut out: Vec<Observation> = now
        .iter()
        .filter_map(|r| {
            let b = before_counts.get(r.group.as_slice()).copied().unwrap_or(0);
            judge(&r.group, r.count, b, sample_lines(&r.aggs))
        })
        .collect();
    // the groups of the window before that are absent now count 0
    let now_groups: HashSet<&[(String, String)]> = now.iter().map(|r| r.group.as_slice()).collect();
    out.extend(
        before
            .iter()
            .filter(|r| !now_groups.contains(r.group.as_slice()))
            .filter_map(|r| judge(&r.group, 0, r.count, Vec::new())),
    );
    Ok(out)
}

/// The groups that logged in the `lookback` before the window, valued at
/// their count now (0 when absent); samples are the window's events, else
/// the last ones before it.
fn observe_flatline(
    src: &dyn AggSource,
    rule: &Rule,
    q: &Query,
    (from, to): (i64, i64),
    lookback_ms: i64,
) -> anyhow::Result<Vec<Observation>> {
    let now = grouped(src, rule, q, (from, to), vec![samples_agg()])?;
    let before = grouped(
        src,
        rule,
        q,
        (from - lookback_ms, from),
        vec![samples_agg()],
    )?;
    let now_by: HashMap<&[(String, String)], &Row> =
        now.iter().map(|r| (r.group.as_slice(), r)).collect();
    let mut out = Vec::new();
    for b in &before {
        let (n, samples) = match now_by.get(b.group.as_slice()) {
            Some(r) => (r.count, sample_lines(&r.aggs)),
            None => (0, sample_lines(&b.aggs)),
        };
        let mut o = observation(b.group.clone(), n as f64, samples);
        o.detail = Some(format!(
            "{n} now, {} in the {} before",
            b.count,
            crate::alerting::human_ms(lookback_ms)
        ));
        out.push(o);
    }
    Ok(out)
}

/// The values of `field` in the window that the look-back
/// `[now − lookback, window start)` does not have: one `terms` over the
/// window (at most [`MAX_GROUPS`] values), then one over the look-back
/// restricted to those values.
fn observe_new_term(
    src: &dyn AggSource,
    rule: &Rule,
    q: &Query,
    (from, to): (i64, i64),
    field: &str,
    lookback_ms: i64,
) -> anyhow::Result<Vec<Observation>> {
    let res = src.aggregate(
        &rule.index,
        &within(q.clone(), from, to),
        // rarest first: with more values than that, new ones are the rare
        &[AggSpec {
            name: "g0".into(),
            kind: AggKind::Terms {
                field: field.to_string(),
                size: MAX_GROUPS,
                min_doc_count: 1,
                order: vec![BucketOrder::Count(Order::Asc), BucketOrder::Key(Order::Asc)],
                missing: None,
            },
            subs: vec![samples_agg()],
        }],
    )?;
    let Some(AggResult::Terms(seen)) = res.get("g0") else {
        return Ok(Vec::new());
    };
    if seen.buckets.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<&BucketKey> = seen.buckets.iter().map(|b| &b.key).collect();
    let (exact, raw) = look_back_filters(field, &keys);
    let old_terms = |name: &str, q: &Query| AggSpec {
        name: name.into(),
        kind: AggKind::Filter(q.clone()),
        subs: vec![AggSpec {
            name: "t".into(),
            kind: terms(field, keys.len()),
            subs: vec![],
        }],
    };
    let mut aggs = vec![old_terms("raw", &raw)];
    let mut either = vec![raw.clone()];
    if let Some(exact) = &exact {
        aggs.push(old_terms("exact", exact));
        either.push(exact.clone());
    }
    let old_res = src.aggregate(
        &rule.index,
        &within(
            Query::Bool(Box::new(BoolQuery {
                must: vec![q.clone()],
                should: either,
                minimum_should_match: Some(MinShould::Count(1)),
                ..Default::default()
            })),
            to - lookback_ms,
            from,
        ),
        &aggs,
    )?;
    let values: HashSet<String> = keys.iter().map(|k| key_text(k)).collect();
    let mut old: HashSet<String> = HashSet::new();
    for name in ["raw", "exact"] {
        let Some(AggResult::Single(b)) = old_res.get(name) else {
            continue;
        };
        if let Some(AggResult::Terms(t)) = b.aggs.get("t") {
            // a text field's words can match other values: keep the asked
            old.extend(
                t.buckets
                    .iter()
                    .map(|b| key_text(&b.key))
                    .filter(|k| values.contains(k)),
            );
        }
    }
    let lookback = crate::alerting::human_ms(lookback_ms);
    let mut out = Vec::new();
    for b in &seen.buckets {
        let value = key_text(&b.key);
        if old.contains(&value) {
            continue;
        }
        let mut o = observation(
            vec![(field.to_string(), value)],
            b.doc_count as f64,
            sample_lines(&b.aggs),
        );
        o.detail = Some(format!(
            "{} events now, none in the {lookback} look-back",
            b.doc_count
        ));
        out.push(o);
    }
    Ok(out)
}

/// The look-back's events with one of `keys` in `field`: a `terms` query
/// on the field (exact for keyword, numeric and normalised fields; the
/// words of a text field), and for string values one on its `.keyword`
/// column (exact for a text field). Under each, a `terms` of at most
/// `keys.len()` buckets: the exact one is never cut, and what the words
/// find besides is read only for the keys asked.
fn look_back_filters(field: &str, keys: &[&BucketKey]) -> (Option<Query>, Query) {
    let values: Vec<Value> = keys.iter().map(|k| key_value(k)).collect();
    let strings: Vec<Value> = values.iter().filter(|v| v.is_string()).cloned().collect();
    let exact = (!strings.is_empty() && !field.ends_with(".keyword")).then(|| Query::Terms {
        field: format!("{field}.keyword"),
        values: strings,
    });
    let raw = Query::Terms {
        field: field.to_string(),
        values,
    };
    (exact, raw)
}

/// The aggregations a `metric` condition reads: `stats` (count, min, max,
/// sum) or a percentile with the count of values.
fn metric_aggs(field: &str, agg: MetricAgg) -> Vec<AggSpec> {
    let spec = |name: &str, kind| AggSpec {
        name: name.into(),
        kind,
        subs: vec![],
    };
    match agg {
        MetricAgg::Percentile(p) => vec![
            spec(
                "m",
                AggKind::Percentiles {
                    field: field.to_string(),
                    percents: vec![p],
                    keyed: false,
                },
            ),
            spec(
                "n",
                AggKind::ValueCount {
                    field: field.to_string(),
                },
            ),
        ],
        _ => vec![spec(
            "m",
            AggKind::Stats {
                field: field.to_string(),
                missing: None,
            },
        )],
    }
}

/// The metric's value and its number of values; `None` without values.
fn metric_value(aggs: &AggResults, agg: MetricAgg) -> Option<(f64, u64)> {
    match (agg, aggs.get("m")?) {
        (MetricAgg::Percentile(p), r) => {
            let n = aggs.get("n").and_then(AggResult::value).unwrap_or(0.0) as u64;
            Some((r.percentile(p)?, n)).filter(|_| n > 0)
        }
        (_, AggResult::Stats(s)) if s.count > 0 => {
            let v = match agg {
                MetricAgg::Avg => s.avg()?,
                MetricAgg::Min => s.min?,
                MetricAgg::Max => s.max?,
                _ => s.sum,
            };
            Some((v, s.count))
        }
        _ => None,
    }
}

/// The Lucene query that shows a group's events (the rule's query and the
/// group's values).
pub fn group_query(rule: &Rule, group: &[(String, String)]) -> String {
    events_query(rule, None, group)
}

/// For a rule with a DSL query: the DSL query that shows a group's events
/// (the rule's, a ratio's numerator and the group's values, as filters).
pub fn group_query_dsl(rule: &Rule, group: &[(String, String)]) -> Option<serde_json::Value> {
    let dsl = rule.query_dsl.as_ref()?;
    let mut filter = vec![dsl.clone()];
    if let Condition::Ratio { numerator, .. } = &rule.condition {
        filter.push(serde_json::json!({"query_string": {"query": numerator}}));
    }
    for (f, v) in group {
        filter.push(serde_json::json!({"match_phrase": {f: v}}));
    }
    Some(serde_json::json!({"bool": {"filter": filter}}))
}

/// The rule's query, `extra` (a ratio's numerator) and the group's values.
fn events_query(rule: &Rule, extra: Option<&str>, group: &[(String, String)]) -> String {
    let mut parts: Vec<String> = Vec::new();
    for q in std::iter::once(rule.query.as_str()).chain(extra) {
        if !q.trim().is_empty() {
            parts.push(format!("({q})"));
        }
    }
    for (f, v) in group {
        let v = v.replace('\\', "\\\\").replace('"', "\\\"");
        parts.push(format!("{f}:\"{v}\""));
    }
    parts.join(" AND ")
}

/// The stored anomalies an anomaly or new-pattern rule sees: those active
/// in the window ending at `now_ms` that pass its filters, one observation
/// per kind, series, service and pattern (the newest episode), valued at
/// what was observed.
pub fn observe_anomalies(
    findings: &crate::analysis::findings::Findings,
    rule: &Rule,
    now_ms: i64,
) -> Vec<Observation> {
    use crate::analysis::findings::{Filter, Kind};
    use crate::analysis::watch::NEW_ERROR_SCORE;
    let filter = match &rule.condition {
        Condition::Anomaly {
            min_severity,
            kind,
            service,
        } => Filter {
            from: Some(now_ms - rule.window_ms),
            to: Some(now_ms),
            service: service.clone(),
            kind: *kind,
            min_severity: Some(*min_severity),
        },
        Condition::NewPattern { .. } => Filter {
            from: Some(now_ms - rule.window_ms),
            to: Some(now_ms),
            service: None,
            kind: Some(Kind::NewPattern),
            min_severity: None,
        },
        _ => return Vec::new(),
    };
    let errors_only = matches!(rule.condition, Condition::NewPattern { errors_only: true });
    let mut out: Vec<Observation> = Vec::new();
    for a in findings.list(&filter) {
        if errors_only && a.score < NEW_ERROR_SCORE {
            continue;
        }
        let group = vec![
            ("kind".to_string(), a.kind.as_str().to_string()),
            ("series".to_string(), a.series.clone()),
            ("service".to_string(), a.service.clone().unwrap_or_default()),
            ("pattern".to_string(), a.pattern.clone().unwrap_or_default()),
        ];
        let o = Observation {
            group,
            value: a.observed,
            samples: a.template.iter().cloned().collect(),
            query: Some(a.query.clone()),
            detail: None,
        };
        // the list is oldest first: a later episode of the same group wins
        match out.iter_mut().find(|x| x.group == o.group) {
            Some(x) => *x = o,
            None => out.push(o),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::agg_result::{Bucket, Percentile, Stats};

    #[test]
    fn ratio_is_judged_from_min_denominator_on() {
        assert_eq!(ratio_value(10, 60, 50.0), Some(10.0 / 60.0));
        assert_eq!(ratio_value(3, 4, 50.0), None);
        assert_eq!(ratio_value(0, 50, 50.0), Some(0.0));
        // nothing at all is never 0/0
        assert_eq!(ratio_value(0, 0, 0.0), None);
    }

    #[test]
    fn change_needs_a_window_before() {
        let f = ChangeBy::Factor(3.0);
        assert_eq!(change_value(70, 20, f, 1.0), Some(3.5));
        assert_eq!(change_value(5, 0, f, 1.0), None);
        assert_eq!(change_value(5, 0, f, 0.0), None, "no infinite factor");
        assert_eq!(change_value(40, 4, f, 5.0), None);
        let d = ChangeBy::Delta(-10.0);
        assert_eq!(change_value(0, 30, d, 0.0), Some(-30.0));
        assert_eq!(change_value(12, 0, d, 0.0), Some(12.0));
    }

    fn leaf(results: Vec<(&str, AggResult)>) -> AggResults {
        AggResults(
            results
                .into_iter()
                .map(|(n, r)| (n.to_string(), r))
                .collect(),
        )
    }

    #[test]
    fn metric_values_and_groups_without_values() {
        let stats = leaf(vec![(
            "m",
            AggResult::Stats(Stats {
                count: 4,
                min: Some(1.0),
                max: Some(9.0),
                sum: 20.0,
                sum_of_squares: 0.0,
            }),
        )]);
        assert_eq!(metric_value(&stats, MetricAgg::Avg), Some((5.0, 4)));
        assert_eq!(metric_value(&stats, MetricAgg::Min), Some((1.0, 4)));
        assert_eq!(metric_value(&stats, MetricAgg::Max), Some((9.0, 4)));
        assert_eq!(metric_value(&stats, MetricAgg::Sum), Some((20.0, 4)));
        let none = leaf(vec![("m", AggResult::Stats(Stats::default()))]);
        assert_eq!(metric_value(&none, MetricAgg::Sum), None);
        let p = |value, n| {
            leaf(vec![
                (
                    "m",
                    AggResult::Percentiles(vec![Percentile {
                        percent: 99.0,
                        value,
                    }]),
                ),
                ("n", AggResult::Count(n)),
            ])
        };
        assert_eq!(
            metric_value(&p(Some(812.0), 60), MetricAgg::Percentile(99.0)),
            Some((812.0, 60))
        );
        assert_eq!(metric_value(&p(None, 0), MetricAgg::Percentile(99.0)), None);
    }

    #[test]
    fn rows_flatten_nested_groups() {
        let bucket = |k: &str, n: u64, aggs: AggResults| Bucket {
            key: BucketKey::Str(k.into()),
            doc_count: n,
            aggs,
        };
        let terms = |name: &str, buckets| {
            leaf(vec![(
                name,
                AggResult::Terms(crate::query::agg_result::Terms {
                    buckets,
                    sum_other_doc_count: 0,
                    doc_count_error_upper_bound: 0,
                    value_type: Default::default(),
                }),
            )])
        };
        let res = terms(
            "g0",
            vec![bucket(
                "api",
                5,
                terms(
                    "g1",
                    vec![
                        bucket("h1", 3, AggResults::default()),
                        bucket("h2", 2, AggResults::default()),
                    ],
                ),
            )],
        );
        let fields = vec!["service".to_string(), "host".to_string()];
        let got: Vec<(Vec<(String, String)>, u64)> = rows(&res, &fields)
            .into_iter()
            .map(|r| (r.group, r.count))
            .collect();
        let g = |h: &str| vec![("service".into(), "api".into()), ("host".into(), h.into())];
        assert_eq!(got, vec![(g("h1"), 3), (g("h2"), 2)]);
    }

    #[test]
    fn new_term_look_back_matches_exact_and_typed_values() {
        let keys = [BucketKey::Str("curl/8.0".into()), BucketKey::Long(7)];
        let refs: Vec<&BucketKey> = keys.iter().collect();
        let (exact, raw) = look_back_filters("user_agent", &refs);
        assert_eq!(
            raw,
            Query::Terms {
                field: "user_agent".into(),
                values: vec![Value::from("curl/8.0"), Value::from(7)],
            }
        );
        assert_eq!(
            exact,
            Some(Query::Terms {
                field: "user_agent.keyword".into(),
                values: vec![Value::from("curl/8.0")],
            })
        );
        let (exact, _) = look_back_filters("status", &[&BucketKey::Long(500)]);
        assert_eq!(exact, None);
    }
}

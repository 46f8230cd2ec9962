//! One evaluation of a rule: the count of the window per group, from the
//! store's aggregations (never by fetching the events), with a few sample
//! lines per group for the notification.

use serde_json::Value;

use super::rule::Rule;
use crate::analysis::series::{within, AggSource};
use crate::query::agg_result::{AggResult, AggResults, BucketKey};
use crate::query::aggs::{AggKind, AggSpec, BucketOrder};
use crate::query::lucene;
use crate::query::model::{Missing, Order, Query, SortKey, SortSpec, SourceFilter};

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
    /// Messages of the newest events of the group in the window.
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
    AggSpec {
        name: "samples".into(),
        kind: AggKind::TopHits {
            size: SAMPLES,
            from: 0,
            sort: vec![SortSpec {
                key: SortKey::Field {
                    field: "@timestamp".into(),
                    missing: Missing::Last,
                    format: None,
                    unmapped_type: Some("date".into()),
                },
                order: Order::Desc,
            }],
            source: SourceFilter::default(),
        },
        subs: vec![],
    }
}

/// Nested `terms` over the group fields with the samples at the leaf.
fn group_aggs(fields: &[String], samples: bool) -> AggSpec {
    let leaf = || {
        if samples {
            vec![samples_agg()]
        } else {
            Vec::new()
        }
    };
    let mut spec: Option<AggSpec> = None;
    for (depth, f) in fields.iter().enumerate().rev() {
        let subs = match spec.take() {
            Some(s) => vec![s],
            None => leaf(),
        };
        spec = Some(AggSpec {
            name: format!("g{depth}"),
            kind: AggKind::Terms {
                field: f.clone(),
                size: MAX_GROUPS,
                min_doc_count: 1,
                order: vec![BucketOrder::Count(Order::Desc)],
                missing: None,
            },
            subs,
        });
    }
    spec.unwrap_or_else(|| AggSpec {
        name: "g0".into(),
        kind: AggKind::Filter(Query::MatchAll),
        subs: leaf(),
    })
}

fn key_text(k: &BucketKey) -> String {
    match k {
        BucketKey::Str(s) => s.clone(),
        BucketKey::Long(i) | BucketKey::Date(i) => i.to_string(),
        BucketKey::Double(f) => f.to_string(),
        BucketKey::Bool(b) => b.to_string(),
    }
}

fn sample_lines(aggs: &AggResults) -> Vec<String> {
    let Some(AggResult::TopHits(t)) = aggs.get("samples") else {
        return Vec::new();
    };
    t.hits
        .iter()
        .filter_map(|h| {
            let Some(Value::Object(m)) = &h.source else {
                return None;
            };
            let found = crate::event::detect(m);
            Some(match found.message {
                Some(msg) => msg.to_string(),
                None => Value::Object(m.clone()).to_string(),
            })
        })
        .collect()
}

fn flatten(
    res: &AggResults,
    fields: &[String],
    depth: usize,
    prefix: &mut Vec<(String, String)>,
    out: &mut Vec<Observation>,
) {
    match res.get(&format!("g{depth}")) {
        Some(AggResult::Terms(t)) => {
            for b in &t.buckets {
                prefix.push((fields[depth].clone(), key_text(&b.key)));
                if depth + 1 < fields.len() {
                    flatten(&b.aggs, fields, depth + 1, prefix, out);
                } else {
                    out.push(Observation {
                        group: prefix.clone(),
                        value: b.doc_count as f64,
                        samples: sample_lines(&b.aggs),
                        query: None,
                        detail: None,
                    });
                }
                prefix.pop();
            }
        }
        Some(AggResult::Single(b)) => out.push(Observation {
            group: Vec::new(),
            value: b.doc_count as f64,
            samples: sample_lines(&b.aggs),
            query: None,
            detail: None,
        }),
        _ => {}
    }
}

/// The value of every group in the window ending at `now_ms`, and with a
/// `below` condition also the groups of the window before, at 0 when they
/// are absent now. Ungrouped rules give one observation, 0 when nothing
/// matched.
pub fn observe(src: &dyn AggSource, rule: &Rule, now_ms: i64) -> anyhow::Result<Vec<Observation>> {
    let q = parse(&rule.query)?;
    let from = now_ms - rule.window_ms;
    let res = src.aggregate(
        &rule.index,
        &within(q.clone(), from, now_ms),
        &[group_aggs(&rule.group_by, true)],
    )?;
    let mut out = Vec::new();
    flatten(&res, &rule.group_by, 0, &mut Vec::new(), &mut out);
    if rule.group_by.is_empty() && out.is_empty() {
        out.push(Observation {
            group: Vec::new(),
            value: 0.0,
            samples: Vec::new(),
            query: None,
            detail: None,
        });
    }
    if rule.condition.wants_absent_groups() && !rule.group_by.is_empty() {
        let before = src.aggregate(
            &rule.index,
            &within(q, from - rule.window_ms, from),
            &[group_aggs(&rule.group_by, false)],
        )?;
        let mut seen = Vec::new();
        flatten(&before, &rule.group_by, 0, &mut Vec::new(), &mut seen);
        for s in seen {
            if !out.iter().any(|o| o.group == s.group) {
                out.push(Observation {
                    group: s.group,
                    value: 0.0,
                    samples: Vec::new(),
                    query: None,
                    detail: None,
                });
            }
        }
    }
    Ok(out)
}

/// The Lucene query that shows a group's events (the rule's query and the
/// group's values).
pub fn group_query(rule: &Rule, group: &[(String, String)]) -> String {
    let mut parts: Vec<String> = Vec::new();
    if !rule.query.trim().is_empty() {
        parts.push(format!("({})", rule.query));
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
    use super::rule::Condition;
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
        Condition::Count { .. } => return Vec::new(),
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

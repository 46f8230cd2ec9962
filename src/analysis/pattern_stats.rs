//! The patterns of a query and range: one aggregation on `_pattern` with
//! first/last seen, levels, sample lines and a sparkline per pattern, ids
//! that were merged into one template counted as one.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::analysis::series::{self, AggSource};
use crate::analysis::watch::PatternNames;
use crate::query::agg_result::{AggResult, Bucket, BucketKey};
use crate::query::aggs::{AggKind, AggSpec, BucketOrder, Interval};
use crate::query::model::{Order, Query};

/// Points of each pattern's sparkline.
pub const SPARK_POINTS: i64 = 24;
/// Sample lines per pattern.
pub const SAMPLES: usize = 3;
/// Most patterns one request may ask for.
pub const MAX_PATTERNS: usize = 500;

/// One pattern of the answer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PatternSummary {
    pub id: String,
    pub template: String,
    pub count: u64,
    /// Epoch ms of the first and last event in the range.
    pub first_seen: i64,
    pub last_seen: i64,
    /// Events per normalised level.
    pub levels: BTreeMap<String, u64>,
    /// The newest messages.
    pub samples: Vec<String>,
    /// Counts over the range in [`SPARK_POINTS`] equal parts.
    pub sparkline: Vec<u64>,
}

/// The top `size` patterns of `query` over `[from_ms, to_ms)`.
pub fn top_patterns(
    src: &dyn AggSource,
    names: &dyn PatternNames,
    index: &str,
    query: Query,
    from_ms: i64,
    to_ms: i64,
    size: usize,
) -> anyhow::Result<Vec<PatternSummary>> {
    anyhow::ensure!(to_ms > from_ms, "the range is empty");
    let step = ((to_ms - from_ms) as f64 / SPARK_POINTS as f64)
        .ceil()
        .max(1.0) as i64;
    let sub = |name: &str, kind| AggSpec {
        name: name.into(),
        kind,
        subs: vec![],
    };
    let aggs = [AggSpec {
        name: "p".into(),
        kind: AggKind::Terms {
            field: "_pattern".into(),
            // merged ids share a template: ask for more to fill `size`
            size: (size * 3).min(3 * MAX_PATTERNS),
            min_doc_count: 1,
            order: vec![BucketOrder::Count(Order::Desc)],
            missing: None,
        },
        subs: vec![
            sub(
                "first",
                AggKind::Min {
                    field: "@timestamp".into(),
                    missing: None,
                },
            ),
            sub(
                "last",
                AggKind::Max {
                    field: "@timestamp".into(),
                    missing: None,
                },
            ),
            sub(
                "levels",
                AggKind::Terms {
                    field: "@level".into(),
                    size: 8,
                    min_doc_count: 1,
                    order: vec![BucketOrder::Count(Order::Desc)],
                    missing: None,
                },
            ),
            super::samples::newest("samples", SAMPLES),
            sub(
                "spark",
                AggKind::DateHistogram {
                    field: "@timestamp".into(),
                    interval: Interval::Fixed(step),
                    time_zone: None,
                    offset_ms: from_ms.rem_euclid(step),
                    min_doc_count: 0,
                    extended_bounds: Some((from_ms.into(), (to_ms - 1).into())),
                    hard_bounds: Some((from_ms.into(), (to_ms - 1).into())),
                    format: None,
                    keyed: false,
                    order: None,
                },
            ),
        ],
    }];
    let res = src.aggregate(index, &series::within(query, from_ms, to_ms), &aggs)?;
    let Some(AggResult::Terms(t)) = res.get("p") else {
        return Ok(Vec::new());
    };
    let mut out: Vec<PatternSummary> = Vec::new();
    for b in &t.buckets {
        let one = summary(b, names, from_ms, step);
        match out.iter_mut().find(|p| p.id == one.id) {
            Some(p) => merge(p, one),
            None => out.push(one),
        }
    }
    out.sort_by(|a, b| b.count.cmp(&a.count).then(a.id.cmp(&b.id)));
    out.truncate(size);
    Ok(out)
}

fn summary(
    b: &Bucket<BucketKey>,
    names: &dyn PatternNames,
    from_ms: i64,
    step: i64,
) -> PatternSummary {
    let id = series::key_text(&b.key);
    let (root, template) = names.resolve(&id).unwrap_or((id, String::new()));
    let num = |n: &str| b.aggs.get(n).and_then(AggResult::value).unwrap_or(0.0) as i64;
    let mut levels = BTreeMap::new();
    if let Some(AggResult::Terms(l)) = b.aggs.get("levels") {
        for lb in &l.buckets {
            levels.insert(series::key_text(&lb.key), lb.doc_count);
        }
    }
    let samples = super::samples::messages(b.aggs.get("samples"));
    let mut sparkline = vec![0u64; SPARK_POINTS as usize];
    if let Some(buckets) = b.aggs.get("spark").and_then(AggResult::as_date_histogram) {
        for sb in buckets {
            let i = ((sb.key - from_ms).max(0) / step) as usize;
            if let Some(s) = sparkline.get_mut(i) {
                *s += sb.doc_count;
            }
        }
    }
    PatternSummary {
        id: root,
        template,
        count: b.doc_count,
        first_seen: num("first"),
        last_seen: num("last"),
        levels,
        samples,
        sparkline,
    }
}

fn merge(p: &mut PatternSummary, o: PatternSummary) {
    p.count += o.count;
    p.first_seen = p.first_seen.min(o.first_seen);
    p.last_seen = p.last_seen.max(o.last_seen);
    for (k, v) in o.levels {
        *p.levels.entry(k).or_insert(0) += v;
    }
    for s in o.samples {
        if p.samples.len() < SAMPLES {
            p.samples.push(s);
        }
    }
    for (a, b) in p.sparkline.iter_mut().zip(o.sparkline) {
        *a += b;
    }
    if p.template.is_empty() {
        p.template = o.template;
    }
}

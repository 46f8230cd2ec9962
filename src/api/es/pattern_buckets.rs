//! `terms` on `_pattern` counts by template as it is now: ids the miner
//! has since merged into one template are one bucket, keyed by the id the
//! template has now (the one `_pattern:<id>` finds all of them by).

use crate::query::agg_result::{AggResult, AggResults, BucketKey};
use crate::query::aggs::{AggKind, AggSpec};

/// Whether any `terms` in the tree aggregates `_pattern`.
pub fn mentions_pattern(specs: &[AggSpec]) -> bool {
    specs.iter().any(|s| {
        matches!(&s.kind, AggKind::Terms { field, .. } if field == "_pattern")
            || mentions_pattern(&s.subs)
    })
}

/// Merges the buckets of every `terms` on `_pattern` in `results` (at any
/// depth) by `root(id)`. The merged bucket's count is the sum; its
/// sub-aggregations are those of its largest member (sub-results such as
/// averages cannot be summed), which holds nearly all of its events since
/// merges happen while a template is young.
pub fn merge(
    specs: &[AggSpec],
    results: &mut AggResults,
    root: &mut dyn FnMut(&str) -> Option<String>,
) {
    for spec in specs {
        let Some((_, res)) = results.0.iter_mut().find(|(n, _)| *n == spec.name) else {
            continue;
        };
        if let (
            AggKind::Terms {
                field, size, order, ..
            },
            AggResult::Terms(t),
        ) = (&spec.kind, &mut *res)
        {
            if field == "_pattern" {
                let mut merged: Vec<crate::query::agg_result::Bucket<BucketKey>> = Vec::new();
                for b in t.buckets.drain(..) {
                    let id = match &b.key {
                        BucketKey::Str(s) => s.clone(),
                        _ => {
                            merged.push(b);
                            continue;
                        }
                    };
                    let r = root(&id).unwrap_or(id);
                    match merged
                        .iter_mut()
                        .find(|m| m.key.as_str() == Some(r.as_str()))
                    {
                        Some(m) => {
                            if b.doc_count > m.doc_count {
                                m.aggs = b.aggs;
                            }
                            m.doc_count += b.doc_count;
                        }
                        None => merged.push(crate::query::agg_result::Bucket {
                            key: BucketKey::Str(r),
                            ..b
                        }),
                    }
                }
                // by count when that is the order (other orders are kept)
                let by_count = matches!(
                    order.first(),
                    None | Some(crate::query::aggs::BucketOrder::Count(
                        crate::query::model::Order::Desc
                    ))
                );
                if by_count {
                    merged.sort_by_key(|b| std::cmp::Reverse(b.doc_count));
                }
                merged.truncate(*size);
                t.buckets = merged;
            }
        }
        // sub-aggregations of every bucket
        let subs = &spec.subs;
        if subs.is_empty() {
            continue;
        }
        match res {
            AggResult::Terms(t) => t
                .buckets
                .iter_mut()
                .for_each(|b| merge(subs, &mut b.aggs, root)),
            AggResult::DateHistogram { buckets, .. } => buckets
                .iter_mut()
                .for_each(|b| merge(subs, &mut b.aggs, root)),
            AggResult::Histogram { buckets } => buckets
                .iter_mut()
                .for_each(|b| merge(subs, &mut b.aggs, root)),
            AggResult::Range { buckets } => buckets
                .iter_mut()
                .for_each(|b| merge(subs, &mut b.aggs, root)),
            AggResult::DateRange { buckets, .. } => buckets
                .iter_mut()
                .for_each(|b| merge(subs, &mut b.aggs, root)),
            AggResult::Filters { buckets, other } => {
                buckets
                    .iter_mut()
                    .for_each(|b| merge(subs, &mut b.aggs, root));
                if let Some(o) = other {
                    merge(subs, &mut o.aggs, root);
                }
            }
            AggResult::Single(b) => merge(subs, &mut b.aggs, root),
            _ => {}
        }
    }
}

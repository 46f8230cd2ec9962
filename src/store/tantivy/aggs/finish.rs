//! Merged partial results → typed [`AggResult`]s: bucket order, `size`,
//! `min_doc_count`, empty histogram buckets, the bucket limit, metric values.
//! Everything here is the answer; nothing is about how it is printed.

use std::cmp::Ordering;

use jiff::tz::TimeZone;
use serde_json::Value;

use super::{
    bound_ms, date_range_ctx, dh_key, dh_next, dh_params, empty, empty_bucket, explicit_format,
    too_many_buckets, Bucket, Key, Partial, MAX_BUCKETS,
};
use crate::query::agg_result::{
    self as res, AggResult, AggResults, BucketKey, Percentile, RangeKey, SortValue, TopHit,
    ValueType,
};
use crate::query::aggs::{AggKind, AggSpec, BucketOrder};
use crate::query::date_format::DateFormat;
use crate::query::model::Order;
use crate::store::tantivy::columns::ValueKind;
use crate::store::tantivy::search::{self, Part, SortVal};
use crate::store::StoreError;

/// Finish sibling aggregations, in the request's order. `parts` are the
/// searched indices (their mappings decide date formats).
pub(super) fn finish_all(
    specs: &[AggSpec],
    partials: Vec<Partial>,
    parts: &[Part],
) -> Result<AggResults, StoreError> {
    let mut out = Vec::with_capacity(specs.len());
    for (spec, p) in specs.iter().zip(partials) {
        out.push((spec.name.clone(), finish(spec, p, parts)?));
    }
    Ok(AggResults(out))
}

fn value_type(kind: ValueKind) -> ValueType {
    match kind {
        ValueKind::Date(shape) => ValueType::Date(shape),
        _ => ValueType::Plain,
    }
}

/// A bucket with its sub-aggregations finished (empty ones when the bucket
/// never saw a document).
fn bucket<K>(
    spec: &AggSpec,
    key: K,
    b: Bucket,
    parts: &[Part],
) -> Result<res::Bucket<K>, StoreError> {
    let subs = if b.subs.is_empty() {
        spec.subs.iter().map(empty).collect()
    } else {
        b.subs
    };
    Ok(res::Bucket {
        key,
        doc_count: b.count,
        aggs: finish_all(&spec.subs, subs, parts)?,
    })
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    let w = rank - lo as f64;
    Some(sorted[lo] * (1.0 - w) + sorted[hi.min(sorted.len() - 1)] * w)
}

fn sort_values(v: &mut [f64]) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(Ordering::Equal));
}

/// A single number a bucket can be ordered by (`avg_latency`, `stats.max`).
fn metric_of(bucket: &Bucket, specs: &[AggSpec], path: &str) -> Option<f64> {
    let (name, prop) = match path.split_once(['.', '[']) {
        Some((n, p)) => (n, Some(p.trim_end_matches(']'))),
        None => (path, None),
    };
    let i = specs.iter().position(|s| s.name == name)?;
    match (&bucket.subs[i], &specs[i].kind) {
        (Partial::Stats { stats, .. }, k) => {
            if stats.count == 0 {
                return None;
            }
            let avg = stats.sum / stats.count as f64;
            Some(match (k, prop) {
                (_, Some("min")) | (AggKind::Min { .. }, None) => stats.min,
                (_, Some("max")) | (AggKind::Max { .. }, None) => stats.max,
                (_, Some("sum")) | (AggKind::Sum { .. }, None) => stats.sum,
                (_, Some("count")) => stats.count as f64,
                _ => avg,
            })
        }
        (Partial::Count(n), _) => Some(*n as f64),
        (Partial::Card(s), _) => Some(s.len() as f64),
        (Partial::Fixed(b), _) if b.len() == 1 => Some(b[0].count as f64),
        (Partial::Values(v), _) => {
            let mut v = v.clone();
            sort_values(&mut v);
            percentile(&v, prop.and_then(|p| p.parse().ok()).unwrap_or(50.0))
        }
        _ => None,
    }
}

/// Apply a sort direction to an ascending comparison.
fn directed(c: Ordering, o: Order) -> Ordering {
    match o {
        Order::Asc => c,
        Order::Desc => c.reverse(),
    }
}

fn sort_hist(list: &mut Vec<(i64, Bucket)>, o: &BucketOrder, subs: &[AggSpec]) {
    match o {
        BucketOrder::Key(d) => list.sort_by(|(ka, _), (kb, _)| directed(ka.cmp(kb), *d)),
        BucketOrder::Count(d) => list
            .sort_by(|(ka, ba), (kb, bb)| directed(ba.count.cmp(&bb.count).then(ka.cmp(kb)), *d)),
        BucketOrder::Metric { path, order } => {
            let mut decorated: Vec<(Option<f64>, (i64, Bucket))> = list
                .drain(..)
                .map(|x| (metric_of(&x.1, subs, path), x))
                .collect();
            decorated.sort_by(|(a, _), (b, _)| {
                directed(a.partial_cmp(b).unwrap_or(Ordering::Equal), *order)
            });
            list.extend(decorated.into_iter().map(|(_, x)| x));
        }
    }
}

/// Terms buckets in the requested order, cut to `size`; also the count of
/// documents in the buckets cut off.
fn order_terms(
    spec: &AggSpec,
    buckets: std::collections::HashMap<Key, Bucket>,
    size: usize,
    min_doc_count: u64,
    order: &[BucketOrder],
) -> (Vec<(Key, Bucket)>, u64) {
    // Metric sort keys are computed once per bucket, not per comparison.
    let paths: Vec<&str> = order
        .iter()
        .filter_map(|o| match o {
            BucketOrder::Metric { path, .. } => Some(path.as_str()),
            _ => None,
        })
        .collect();
    let mut decorated: Vec<(Key, Bucket, Vec<Option<f64>>)> = buckets
        .into_iter()
        .filter(|(_, b)| b.count >= min_doc_count)
        .map(|(k, b)| {
            let m = paths.iter().map(|p| metric_of(&b, &spec.subs, p)).collect();
            (k, b, m)
        })
        .collect();
    decorated.sort_by(|(ka, ba, ma), (kb, bb, mb)| {
        let mut mi = 0;
        for o in order {
            let c = match o {
                BucketOrder::Count(d) => directed(ba.count.cmp(&bb.count), *d),
                BucketOrder::Key(d) => directed(ka.cmp_key(kb), *d),
                BucketOrder::Metric { order, .. } => {
                    mi += 1;
                    let c = ma[mi - 1]
                        .partial_cmp(&mb[mi - 1])
                        .unwrap_or(Ordering::Equal);
                    directed(c, *order)
                }
            };
            if c != Ordering::Equal {
                return c;
            }
        }
        // Ties: count desc then key asc, as Elasticsearch breaks them.
        bb.count.cmp(&ba.count).then_with(|| ka.cmp_key(kb))
    });
    let mut list: Vec<(Key, Bucket)> = decorated.into_iter().map(|(k, b, _)| (k, b)).collect();
    let other: u64 = list.iter().skip(size).map(|(_, b)| b.count).sum();
    list.truncate(size);
    (list, other)
}

fn terms_key(k: Key, kind: &ValueKind) -> BucketKey {
    match k {
        Key::S(s) => BucketKey::Str(s.to_string()),
        Key::I(i) if matches!(kind, ValueKind::Date(_)) => BucketKey::Date(i),
        Key::I(i) => BucketKey::Long(i),
        Key::F(f) => BucketKey::Double(f64::from_bits(f)),
        Key::B(b) => BucketKey::Bool(b),
    }
}

fn stats_of(s: &super::Stats) -> res::Stats {
    let seen = s.count > 0;
    res::Stats {
        count: s.count,
        min: seen.then_some(s.min),
        max: seen.then_some(s.max),
        sum: s.sum,
        sum_of_squares: s.sum_sq,
    }
}

fn sort_value(v: &SortVal) -> SortValue {
    match v {
        SortVal::Num(f) => SortValue::Num(*f),
        SortVal::Str(s) => SortValue::Str(s.to_string()),
        SortVal::Missing => SortValue::Missing,
    }
}

/// Evaluate a `date_range` bound (date math, the request's format and zone).
fn date_bound(
    v: &Option<Value>,
    tz: &TimeZone,
    fmt: Option<&DateFormat>,
) -> Result<Option<i64>, StoreError> {
    Ok(v.as_ref()
        .map(|v| bound_ms(v, tz, fmt, false))
        .transpose()?
        .flatten())
}

fn finish(spec: &AggSpec, p: Partial, parts: &[Part]) -> Result<AggResult, StoreError> {
    Ok(match (&spec.kind, p) {
        (
            AggKind::Terms {
                size,
                min_doc_count,
                order,
                ..
            },
            Partial::Terms { kind, buckets },
        ) => {
            let (list, other) = order_terms(spec, buckets, *size, *min_doc_count, order);
            let mut out = Vec::with_capacity(list.len());
            for (k, b) in list {
                out.push(bucket(spec, terms_key(k, &kind), b, parts)?);
            }
            AggResult::Terms(res::Terms {
                buckets: out,
                sum_other_doc_count: other,
                doc_count_error_upper_bound: 0,
                value_type: value_type(kind),
            })
        }
        (
            AggKind::DateHistogram {
                interval,
                time_zone,
                offset_ms,
                min_doc_count,
                extended_bounds,
                format,
                order,
                ..
            },
            Partial::Hist { kind, mut buckets },
        ) => {
            let (tz, interval) = dh_params(interval, time_zone)?;
            if *min_doc_count == 0 {
                let mut lo = buckets.keys().next().copied();
                let mut hi = buckets.keys().next_back().copied();
                if let Some((elo, ehi)) = extended_bounds {
                    let fmt = format
                        .as_deref()
                        .and_then(|f| DateFormat::parse_spec(f).ok());
                    if let Some(v) = bound_ms(elo, &tz, fmt.as_ref(), false)? {
                        let k = dh_key(v, &interval, &tz, *offset_ms);
                        lo = Some(lo.map_or(k, |l| l.min(k)));
                    }
                    if let Some(v) = bound_ms(ehi, &tz, fmt.as_ref(), true)? {
                        let k = dh_key(v, &interval, &tz, *offset_ms);
                        hi = Some(hi.map_or(k, |h| h.max(k)));
                    }
                }
                if let (Some(lo), Some(hi)) = (lo, hi) {
                    let mut k = lo;
                    let mut n = 0;
                    while k <= hi {
                        if n >= MAX_BUCKETS {
                            return Err(too_many_buckets(&spec.name));
                        }
                        buckets.entry(k).or_insert_with(|| empty_bucket(&spec.subs));
                        let next = dh_next(k, &interval, &tz, *offset_ms);
                        if next <= k {
                            break;
                        }
                        k = next;
                        n += 1;
                    }
                }
            }
            let mut list: Vec<(i64, Bucket)> = buckets
                .into_iter()
                .filter(|(_, b)| b.count >= *min_doc_count)
                .collect();
            if list.len() > MAX_BUCKETS {
                return Err(too_many_buckets(&spec.name));
            }
            if let Some(o) = order {
                sort_hist(&mut list, o, &spec.subs);
            }
            let mut out = Vec::with_capacity(list.len());
            for (k, b) in list {
                out.push(bucket(spec, k, b, parts)?);
            }
            AggResult::DateHistogram {
                buckets: out,
                value_type: value_type(kind),
            }
        }
        (
            AggKind::Histogram {
                interval,
                offset,
                min_doc_count,
                extended_bounds,
                ..
            },
            Partial::Hist { mut buckets, .. },
        ) => {
            if *min_doc_count == 0 {
                let idx = |v: f64| ((v - offset) / interval).floor() as i64;
                let mut lo = buckets.keys().next().copied();
                let mut hi = buckets.keys().next_back().copied();
                if let Some((a, b)) = extended_bounds {
                    lo = Some(lo.map_or(idx(*a), |l| l.min(idx(*a))));
                    hi = Some(hi.map_or(idx(*b), |h| h.max(idx(*b))));
                }
                if let (Some(lo), Some(hi)) = (lo, hi) {
                    if hi.saturating_sub(lo) >= MAX_BUCKETS as i64 {
                        return Err(too_many_buckets(&spec.name));
                    }
                    for k in lo..=hi {
                        buckets.entry(k).or_insert_with(|| empty_bucket(&spec.subs));
                    }
                }
            }
            let mut out = Vec::new();
            for (k, b) in buckets
                .into_iter()
                .filter(|(_, b)| b.count >= *min_doc_count)
            {
                out.push(bucket(spec, k as f64 * interval + offset, b, parts)?);
            }
            AggResult::Histogram { buckets: out }
        }
        (AggKind::Range { ranges, .. }, Partial::Fixed(bs)) => {
            let mut out = Vec::with_capacity(bs.len());
            for (r, b) in ranges.iter().zip(bs) {
                let key = RangeKey {
                    key: r.key.clone(),
                    from: r.from.as_ref().and_then(Value::as_f64),
                    to: r.to.as_ref().and_then(Value::as_f64),
                };
                out.push(bucket(spec, key, b, parts)?);
            }
            AggResult::Range { buckets: out }
        }
        (
            AggKind::DateRange {
                field,
                ranges,
                format,
                time_zone,
                ..
            },
            Partial::Fixed(bs),
        ) => {
            let field_format = parts
                .iter()
                .find_map(|p| explicit_format(&p.mapping, field));
            let (tz, fmt) = date_range_ctx(time_zone, format, field_format.clone())?;
            let mut out = Vec::with_capacity(bs.len());
            for (r, b) in ranges.iter().zip(bs) {
                let key = RangeKey {
                    key: r.key.clone(),
                    from: date_bound(&r.from, &tz, fmt.as_ref())?,
                    to: date_bound(&r.to, &tz, fmt.as_ref())?,
                };
                out.push(bucket(spec, key, b, parts)?);
            }
            AggResult::DateRange {
                buckets: out,
                field_format,
            }
        }
        (AggKind::Filter(_), Partial::Fixed(mut bs))
        | (AggKind::Missing { .. }, Partial::Fixed(mut bs)) => {
            let b = bs.pop().unwrap_or_else(|| empty_bucket(&spec.subs));
            AggResult::Single(bucket(spec, (), b, parts)?)
        }
        (
            AggKind::Filters {
                filters,
                other_bucket_key,
            },
            Partial::Fixed(bs),
        ) => {
            let mut bs = bs.into_iter();
            let mut buckets = Vec::with_capacity(filters.len());
            for ((name, _), b) in filters.iter().zip(bs.by_ref()) {
                buckets.push(bucket(spec, name.clone(), b, parts)?);
            }
            let other = match (other_bucket_key, bs.next()) {
                (Some(k), Some(b)) => Some(bucket(spec, k.clone(), b, parts)?),
                _ => None,
            };
            AggResult::Filters { buckets, other }
        }
        (AggKind::Avg { .. }, Partial::Stats { kind, stats }) => AggResult::Value {
            value: (stats.count > 0).then(|| stats.sum / stats.count as f64),
            value_type: value_type(kind),
        },
        (AggKind::Sum { .. }, Partial::Stats { kind, stats }) => AggResult::Value {
            value: Some(stats.sum),
            value_type: value_type(kind),
        },
        (AggKind::Min { .. }, Partial::Stats { kind, stats }) => AggResult::Value {
            value: (stats.count > 0).then_some(stats.min),
            value_type: value_type(kind),
        },
        (AggKind::Max { .. }, Partial::Stats { kind, stats }) => AggResult::Value {
            value: (stats.count > 0).then_some(stats.max),
            value_type: value_type(kind),
        },
        (AggKind::Stats { .. }, Partial::Stats { stats, .. }) => AggResult::Stats(stats_of(&stats)),
        (AggKind::ExtendedStats { .. }, Partial::Stats { stats, .. }) => {
            AggResult::ExtendedStats(stats_of(&stats))
        }
        (AggKind::ValueCount { .. }, Partial::Count(n)) => AggResult::Count(n),
        (AggKind::Cardinality { .. }, Partial::Card(s)) => AggResult::Count(s.len() as u64),
        (AggKind::Percentiles { percents, .. }, Partial::Values(mut v)) => {
            sort_values(&mut v);
            AggResult::Percentiles(
                percents
                    .iter()
                    .map(|p| Percentile {
                        percent: *p,
                        value: percentile(&v, *p),
                    })
                    .collect(),
            )
        }
        (
            AggKind::TopHits {
                from,
                size,
                source,
                sort,
            },
            Partial::Top { hits, total },
        ) => {
            // Sorted by fields: no scores, the sort values instead.
            let by_fields = !sort.is_empty();
            let hits = hits
                .into_iter()
                .skip(*from)
                .take(*size)
                .map(|h| TopHit {
                    sort: by_fields.then(|| h.keys.iter().map(sort_value).collect()),
                    index: h.index,
                    id: h.id,
                    score: (!by_fields).then_some(h.score),
                    source: search::filter_source(h.source, source),
                })
                .collect();
            AggResult::TopHits(res::TopHits {
                total,
                max_score: (!by_fields).then_some(1.0),
                hits,
            })
        }
        (_, p) => {
            return Err(StoreError::Engine(format!(
                "aggregation [{}]: internal result mismatch ({p:?})",
                spec.name
            )))
        }
    })
}

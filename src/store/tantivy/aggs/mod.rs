//! The aggregation engine: Elasticsearch bucket and metric aggregations
//! computed over tantivy's fast-field columns, segment by segment, merged,
//! then finished (`finish.rs`) into the engine-neutral typed results of
//! [`crate::query::agg_result`]. Printing them is the API's business.
//!
//! Each segment's matched documents are grouped per bucket and sub-aggs run
//! on each bucket's documents, so nesting works to any depth.

mod finish;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use jiff::tz::TimeZone;
use serde_json::Value;
use tantivy::{DocId, SegmentReader};

use super::columns::{self, FieldCol, ValueKind};
use super::compile::parse_tz;
use super::search::{self, KeyMaker, Part, SortVal, Sorter};
use crate::query::agg_result::AggResults;
use crate::query::aggs::{AggKind, AggSpec, Interval};
use crate::query::date_format::DateFormat;
use crate::query::datemath::{self, add_units, floor_to_unit};
use crate::store::StoreError;

/// Most buckets one aggregation may return (Elasticsearch's `search.max_buckets`).
const MAX_BUCKETS: usize = 65_535;

fn too_many_buckets(name: &str) -> StoreError {
    StoreError::BadQuery(format!(
        "too_many_buckets_exception: aggregation [{name}] would create more than {MAX_BUCKETS} buckets; use a larger interval or a narrower range"
    ))
}

/// What the engine needs about the segment being collected.
pub struct SegCtx<'a> {
    pub part: &'a Part,
    pub part_ord: u32,
    pub seg_ord: u32,
    pub seg: &'a SegmentReader,
}

/// A terms/bucket key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    I(i64),
    F(u64),
    S(Arc<str>),
    B(bool),
}

impl Key {
    fn num(&self) -> Option<f64> {
        match self {
            Key::I(i) => Some(*i as f64),
            Key::F(b) => Some(f64::from_bits(*b)),
            Key::B(b) => Some(*b as u8 as f64),
            Key::S(_) => None,
        }
    }
    fn cmp_key(&self, other: &Key) -> std::cmp::Ordering {
        match (self.num(), other.num(), self, other) {
            (Some(a), Some(b), _, _) => a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal),
            (_, _, Key::S(a), Key::S(b)) => a.cmp(b),
            (Some(_), None, _, _) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        }
    }
}

#[derive(Debug, Clone)]
struct Bucket {
    count: u64,
    subs: Vec<Partial>,
}

#[derive(Debug, Clone, Default)]
struct Stats {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    sum_sq: f64,
}

impl Stats {
    fn add(&mut self, v: f64) {
        if self.count == 0 {
            self.min = v;
            self.max = v;
        } else {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        self.count += 1;
        self.sum += v;
        self.sum_sq += v * v;
    }
    fn merge(&mut self, o: &Stats) {
        if o.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = o.clone();
            return;
        }
        self.count += o.count;
        self.sum += o.sum;
        self.sum_sq += o.sum_sq;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
    }
}

#[derive(Debug, Clone)]
struct TopCand {
    keys: Vec<SortVal>,
    score: f32,
    pos: (u32, u32, DocId),
    index: String,
    id: String,
    source: Value,
}

#[derive(Debug, Clone)]
enum Partial {
    Terms {
        kind: ValueKind,
        buckets: HashMap<Key, Bucket>,
    },
    Hist {
        kind: ValueKind,
        buckets: BTreeMap<i64, Bucket>,
    },
    Fixed(Vec<Bucket>),
    Stats {
        kind: ValueKind,
        stats: Stats,
    },
    Count(u64),
    Card(HashSet<Key>),
    Values(Vec<f64>),
    Top {
        hits: Vec<TopCand>,
        total: u64,
    },
}

fn empty(spec: &AggSpec) -> Partial {
    match &spec.kind {
        AggKind::Terms { .. } => Partial::Terms {
            kind: ValueKind::Unknown,
            buckets: HashMap::new(),
        },
        AggKind::DateHistogram { .. } | AggKind::Histogram { .. } => Partial::Hist {
            kind: ValueKind::Unknown,
            buckets: BTreeMap::new(),
        },
        AggKind::Range { ranges, .. } | AggKind::DateRange { ranges, .. } => {
            Partial::Fixed(ranges.iter().map(|_| empty_bucket(&spec.subs)).collect())
        }
        AggKind::Filters {
            filters,
            other_bucket_key,
        } => Partial::Fixed(
            (0..filters.len() + other_bucket_key.is_some() as usize)
                .map(|_| empty_bucket(&spec.subs))
                .collect(),
        ),
        AggKind::Filter(_) | AggKind::Missing { .. } => {
            Partial::Fixed(vec![empty_bucket(&spec.subs)])
        }
        AggKind::Avg { .. }
        | AggKind::Sum { .. }
        | AggKind::Min { .. }
        | AggKind::Max { .. }
        | AggKind::Stats { .. }
        | AggKind::ExtendedStats { .. } => Partial::Stats {
            kind: ValueKind::Unknown,
            stats: Stats::default(),
        },
        AggKind::ValueCount { .. } => Partial::Count(0),
        AggKind::Cardinality { .. } => Partial::Card(HashSet::new()),
        AggKind::Percentiles { .. } => Partial::Values(Vec::new()),
        AggKind::TopHits { .. } => Partial::Top {
            hits: Vec::new(),
            total: 0,
        },
    }
}

fn empty_bucket(subs: &[AggSpec]) -> Bucket {
    Bucket {
        count: 0,
        subs: subs.iter().map(empty).collect(),
    }
}

/// Accumulates partial results across segments and indices.
pub struct AggState<'s> {
    specs: &'s [AggSpec],
    partials: Vec<Partial>,
}

impl<'s> AggState<'s> {
    pub fn new(specs: &'s [AggSpec]) -> AggState<'s> {
        AggState {
            specs,
            partials: specs.iter().map(empty).collect(),
        }
    }

    /// Add the matched `docs` of one segment.
    pub fn collect(&mut self, ctx: &SegCtx, docs: &[DocId]) -> Result<(), StoreError> {
        let new = collect_all(self.specs, ctx, docs, 0)?;
        for ((p, n), spec) in self.partials.iter_mut().zip(new).zip(self.specs) {
            merge(p, n, spec);
        }
        Ok(())
    }

    /// The typed results, one per requested aggregation; `parts` are the
    /// indices searched.
    pub fn finish(self, parts: &[Part]) -> Result<AggResults, StoreError> {
        finish::finish_all(self.specs, self.partials, parts)
    }
}

fn collect_all(
    specs: &[AggSpec],
    ctx: &SegCtx,
    docs: &[DocId],
    depth: usize,
) -> Result<Vec<Partial>, StoreError> {
    specs
        .iter()
        .map(|s| collect_one(s, ctx, docs, depth))
        .collect()
}

fn sub_bucket(
    spec: &AggSpec,
    ctx: &SegCtx,
    docs: &[DocId],
    count: u64,
    depth: usize,
) -> Result<Bucket, StoreError> {
    Ok(Bucket {
        count,
        subs: if spec.subs.is_empty() {
            Vec::new()
        } else {
            collect_all(&spec.subs, ctx, docs, depth + 1)?
        },
    })
}

fn num_key(kind: &ValueKind, v: f64) -> Key {
    match kind {
        ValueKind::Long | ValueKind::Date(_) => Key::I(v as i64),
        ValueKind::Bool => Key::B(v != 0.0),
        _ => Key::F(v.to_bits()),
    }
}

fn json_key(v: &Value, kind: &ValueKind) -> Key {
    match v {
        Value::Number(n) => num_key(kind, n.as_f64().unwrap_or(0.0)),
        Value::Bool(b) => Key::B(*b),
        Value::String(s) => Key::S(Arc::from(s.as_str())),
        other => Key::S(Arc::from(other.to_string().as_str())),
    }
}

/// Group documents by key: with sub-aggs each bucket keeps its documents.
fn group<K: std::hash::Hash + Eq + Clone>(
    docs: &[DocId],
    mut keys_of: impl FnMut(DocId, &mut Vec<K>),
) -> HashMap<K, Vec<DocId>> {
    let mut out: HashMap<K, Vec<DocId>> = HashMap::new();
    let mut ks = Vec::new();
    for &d in docs {
        ks.clear();
        keys_of(d, &mut ks);
        for (i, k) in ks.iter().enumerate() {
            if ks[..i].contains(k) {
                continue;
            }
            out.entry(k.clone()).or_default().push(d);
        }
    }
    out
}

fn dh_params(
    interval: &Interval,
    time_zone: &Option<String>,
) -> Result<(TimeZone, Interval), StoreError> {
    let tz = match time_zone {
        Some(z) => parse_tz(z)?,
        None => TimeZone::UTC,
    };
    Ok((tz, *interval))
}

fn dh_key(ms: i64, interval: &Interval, tz: &TimeZone, offset: i64) -> i64 {
    let t = ms - offset;
    let k = match interval {
        Interval::Fixed(len) => {
            if tz == &TimeZone::UTC {
                t - t.rem_euclid(*len)
            } else {
                let off = jiff::Timestamp::from_millisecond(t)
                    .map(|ts| tz.to_offset(ts).seconds() as i64 * 1000)
                    .unwrap_or(0);
                let local = t + off;
                local - local.rem_euclid(*len) - off
            }
        }
        Interval::Calendar(u) => floor_to_unit(t, *u, tz),
    };
    k + offset
}

fn dh_next(key: i64, interval: &Interval, tz: &TimeZone, offset: i64) -> i64 {
    match interval {
        Interval::Fixed(len) => key + len,
        Interval::Calendar(u) => add_units(key - offset, 1, *u, tz) + offset,
    }
}

/// Per histogram bucket: its key, doc count, then a count per term
/// ordinal and one for documents without a term (`width` counts).
#[derive(Default)]
struct HistRows {
    rows: Vec<(i64, u64, Vec<u64>)>,
    index: HashMap<i64, usize>,
    last: Option<(i64, usize)>,
    width: usize,
}

impl HistRows {
    fn row(&mut self, k: i64) -> &mut (i64, u64, Vec<u64>) {
        // documents mostly come in time order: the previous bucket is
        // nearly always the one
        let i = match self.last {
            Some((lk, i)) if lk == k => i,
            _ => {
                let (rows, width) = (&mut self.rows, self.width);
                let i = *self.index.entry(k).or_insert_with(|| {
                    rows.push((k, 0, vec![0; width]));
                    rows.len() - 1
                });
                self.last = Some((k, i));
                i
            }
        };
        &mut self.rows[i]
    }
}

/// Terms sub-aggregations over more distinct values than this take the
/// general path (a count per bucket and value would not pay).
const FAST_TERMS_MAX: usize = 4096;

/// The shape dashboards ask most (a volume histogram, stacked by level):
/// a `date_histogram` with no sub-aggregation, or with one `terms` on a
/// keyword whose own buckets have none. Counted in one pass over the
/// documents, a count per (bucket, term ordinal), without the per-bucket
/// document lists the general path builds for arbitrary sub-aggregations.
/// `None` when the request has another shape.
fn hist_counts(
    spec: &AggSpec,
    ctx: &SegCtx,
    docs: &[DocId],
    col: &FieldCol,
    key_of: &dyn Fn(i64) -> Option<i64>,
) -> Result<Option<BTreeMap<i64, Bucket>>, StoreError> {
    let mapping = &ctx.part.mapping;
    // the one terms sub-aggregation, its column, kind and `missing` key
    let sub = match spec.subs.as_slice() {
        [] => None,
        [t] if t.subs.is_empty() => match &t.kind {
            AggKind::Terms { field, missing, .. } => {
                let kind = columns::kind_of(mapping, field)?;
                match columns::open(ctx.seg, mapping, field, &ctx.part.name)? {
                    FieldCol::Str(c) if c.num_terms() <= FAST_TERMS_MAX => {
                        let miss = missing.as_ref().map(|m| json_key(m, &kind));
                        Some((c, kind, miss))
                    }
                    _ => return Ok(None),
                }
            }
            _ => return Ok(None),
        },
        _ => return Ok(None),
    };
    let n_terms = sub.as_ref().map_or(0, |(c, _, _)| c.num_terms());
    let mut rows = HistRows {
        width: if sub.is_some() { n_terms + 1 } else { 0 },
        ..HistRows::default()
    };
    // one time value and at most one term per document: batched reads
    let batched = match col {
        FieldCol::Date(dc) => {
            columns::single_valued(dc)
                && sub
                    .as_ref()
                    .is_none_or(|(c, _, _)| columns::single_valued(c.ords()))
        }
        _ => false,
    };
    if let (FieldCol::Date(dc), true) = (col, batched) {
        let (mut times, mut ords) = (Vec::new(), Vec::new());
        for block in docs.chunks(columns::BLOCK) {
            columns::first_vals(dc, block, &mut times);
            if let Some((c, _, _)) = &sub {
                columns::first_vals(c.ords(), block, &mut ords);
            }
            for (i, t) in times.iter().enumerate() {
                let Some(k) = t.and_then(|t| key_of(t.into_timestamp_millis())) else {
                    continue;
                };
                let r = rows.row(k);
                r.1 += 1;
                if sub.is_some() {
                    let o = ords[i].map_or(n_terms, |o| (o as usize).min(n_terms));
                    r.2[o] += 1;
                }
            }
        }
    } else {
        let mut keys: Vec<i64> = Vec::with_capacity(2);
        for &d in docs {
            keys.clear();
            col.for_each_num(d, |v| {
                if let Some(k) = key_of(v as i64) {
                    if !keys.contains(&k) {
                        keys.push(k);
                    }
                }
            });
            for &k in &keys {
                let r = rows.row(k);
                r.1 += 1;
                if let Some((c, _, _)) = &sub {
                    let mut any = false;
                    for o in c.term_ords(d) {
                        if let Some(x) = r.2.get_mut(o as usize) {
                            *x += 1;
                        }
                        any = true;
                    }
                    if !any {
                        r.2[n_terms] += 1;
                    }
                }
            }
        }
    }
    let rows = rows.rows;
    if rows.len() > MAX_BUCKETS {
        return Err(too_many_buckets(&spec.name));
    }
    let mut names: Vec<Option<Arc<str>>> = vec![None; n_terms];
    let mut out = BTreeMap::new();
    let mut buf = String::new();
    for (k, count, ords) in rows {
        let subs = match &sub {
            None => Vec::new(),
            Some((c, kind, miss)) => {
                let mut buckets = HashMap::new();
                for (o, n) in ords.iter().take(n_terms).enumerate() {
                    if *n == 0 {
                        continue;
                    }
                    let name = names[o].get_or_insert_with(|| {
                        buf.clear();
                        let _ = c.ord_to_str(o as u64, &mut buf);
                        Arc::from(buf.as_str())
                    });
                    buckets.insert(
                        Key::S(name.clone()),
                        Bucket {
                            count: *n,
                            subs: Vec::new(),
                        },
                    );
                }
                if let (Some(m), true) = (miss, ords[n_terms] > 0) {
                    buckets
                        .entry(m.clone())
                        .or_insert(Bucket {
                            count: 0,
                            subs: Vec::new(),
                        })
                        .count += ords[n_terms];
                }
                vec![Partial::Terms {
                    kind: kind.clone(),
                    buckets,
                }]
            }
        };
        out.insert(k, Bucket { count, subs });
    }
    Ok(Some(out))
}

fn bound_ms(
    v: &Value,
    tz: &TimeZone,
    fmt: Option<&DateFormat>,
    round_up: bool,
) -> Result<Option<i64>, StoreError> {
    Ok(match v {
        Value::Null => None,
        Value::Number(n) => n.as_i64(),
        Value::String(s) => Some(
            datemath::eval(s, crate::event::now_ms(), round_up, tz, fmt)
                .map_err(|e| StoreError::BadQuery(e.to_string()))?,
        ),
        _ => return Err(StoreError::BadQuery(format!("bad date bound {v}"))),
    })
}

fn collect_one(
    spec: &AggSpec,
    ctx: &SegCtx,
    docs: &[DocId],
    depth: usize,
) -> Result<Partial, StoreError> {
    let mapping = &ctx.part.mapping;
    let open = |field: &str| columns::open(ctx.seg, mapping, field, &ctx.part.name);
    Ok(match &spec.kind {
        AggKind::Terms { field, missing, .. } => {
            let kind = columns::kind_of(mapping, field)?;
            let col = open(field)?;
            let miss_key = missing.as_ref().map(|m| json_key(m, &kind));
            let mut buckets = HashMap::new();
            match &col {
                FieldCol::Str(c) if spec.subs.is_empty() => {
                    let mut counts = vec![0u64; c.num_terms()];
                    let mut missing_count = 0u64;
                    if columns::single_valued(c.ords()) {
                        let mut ords = Vec::with_capacity(columns::BLOCK);
                        for block in docs.chunks(columns::BLOCK) {
                            columns::first_vals(c.ords(), block, &mut ords);
                            for o in &ords {
                                match o.and_then(|o| counts.get_mut(o as usize)) {
                                    Some(x) => *x += 1,
                                    None => missing_count += 1,
                                }
                            }
                        }
                    } else {
                        for &d in docs {
                            let mut any = false;
                            for o in c.term_ords(d) {
                                if let Some(x) = counts.get_mut(o as usize) {
                                    *x += 1;
                                }
                                any = true;
                            }
                            if !any {
                                missing_count += 1;
                            }
                        }
                    }
                    let mut s = String::new();
                    for (o, n) in counts.iter().enumerate() {
                        if *n > 0 {
                            s.clear();
                            let _ = c.ord_to_str(o as u64, &mut s);
                            buckets.insert(
                                Key::S(Arc::from(s.as_str())),
                                Bucket {
                                    count: *n,
                                    subs: Vec::new(),
                                },
                            );
                        }
                    }
                    if let (Some(k), true) = (&miss_key, missing_count > 0) {
                        buckets
                            .entry(k.clone())
                            .or_insert(Bucket {
                                count: 0,
                                subs: Vec::new(),
                            })
                            .count += missing_count;
                    }
                }
                _ => {
                    let mut cache = match &col {
                        FieldCol::Str(c) => Some(columns::StrCache::new(c)),
                        _ => None,
                    };
                    let groups = group(docs, |d, out: &mut Vec<Key>| {
                        match &col {
                            FieldCol::Str(c) => {
                                if let Some(cache) = cache.as_mut() {
                                    for o in c.term_ords(d) {
                                        out.push(Key::S(cache.get(o)));
                                    }
                                }
                            }
                            FieldCol::Const(s) => out.push(Key::S(s.clone())),
                            other => other.for_each_num(d, |v| out.push(num_key(&kind, v))),
                        }
                        if out.is_empty() {
                            if let Some(k) = &miss_key {
                                out.push(k.clone());
                            }
                        }
                    });
                    for (k, ds) in groups {
                        buckets.insert(k, sub_bucket(spec, ctx, &ds, ds.len() as u64, depth)?);
                    }
                }
            }
            Partial::Terms { kind, buckets }
        }
        AggKind::DateHistogram {
            field,
            interval,
            time_zone,
            offset_ms,
            hard_bounds,
            ..
        } => {
            let kind = columns::kind_of(mapping, field)?;
            let col = open(field)?;
            let (tz, interval) = dh_params(interval, time_zone)?;
            let hb = match hard_bounds {
                Some((lo, hi)) => Some((
                    bound_ms(lo, &tz, None, false)?,
                    bound_ms(hi, &tz, None, true)?,
                )),
                None => None,
            };
            // In UTC a bucket is exactly [key, next key): documents in
            // time order mostly fall in the previous one, found without
            // any calendar arithmetic.
            let utc = tz == TimeZone::UTC;
            let last = std::cell::Cell::new((1i64, 0i64));
            let key_of = |ms: i64| -> Option<i64> {
                if let Some((lo, hi)) = hb {
                    if lo.is_some_and(|l| ms < l) || hi.is_some_and(|h| ms > h) {
                        return None;
                    }
                }
                if !utc {
                    return Some(dh_key(ms, &interval, &tz, *offset_ms));
                }
                let (k, next) = last.get();
                if ms >= k && ms < next {
                    return Some(k);
                }
                let k = dh_key(ms, &interval, &tz, *offset_ms);
                last.set((k, dh_next(k, &interval, &tz, *offset_ms)));
                Some(k)
            };
            if let Some(buckets) = hist_counts(spec, ctx, docs, &col, &key_of)? {
                return Ok(Partial::Hist { kind, buckets });
            }
            let groups = group(docs, |d, out: &mut Vec<i64>| {
                col.for_each_num(d, |v| {
                    if let Some(k) = key_of(v as i64) {
                        out.push(k);
                    }
                })
            });
            let mut buckets = BTreeMap::new();
            for (k, ds) in groups {
                buckets.insert(k, sub_bucket(spec, ctx, &ds, ds.len() as u64, depth)?);
            }
            Partial::Hist { kind, buckets }
        }
        AggKind::Histogram {
            field,
            interval,
            offset,
            ..
        } => {
            let kind = columns::kind_of(mapping, field)?;
            let col = open(field)?;
            let groups = group(docs, |d, out: &mut Vec<i64>| {
                col.for_each_num(d, |v| out.push(((v - offset) / interval).floor() as i64))
            });
            let mut buckets = BTreeMap::new();
            for (k, ds) in groups {
                buckets.insert(k, sub_bucket(spec, ctx, &ds, ds.len() as u64, depth)?);
            }
            Partial::Hist { kind, buckets }
        }
        AggKind::Range { field, ranges, .. } => {
            let col = open(field)?;
            let bounds: Vec<(Option<f64>, Option<f64>)> = ranges
                .iter()
                .map(|r| {
                    (
                        r.from.as_ref().and_then(Value::as_f64),
                        r.to.as_ref().and_then(Value::as_f64),
                    )
                })
                .collect();
            range_buckets(spec, ctx, docs, &col, &bounds, depth)?
        }
        AggKind::DateRange {
            field,
            ranges,
            format,
            time_zone,
            ..
        } => {
            let col = open(field)?;
            let (tz, fmt) = date_range_ctx(time_zone, format, explicit_format(mapping, field))?;
            let mut bounds = Vec::new();
            for r in ranges {
                bounds.push((
                    r.from
                        .as_ref()
                        .map(|v| bound_ms(v, &tz, fmt.as_ref(), false))
                        .transpose()?
                        .flatten()
                        .map(|x| x as f64),
                    r.to.as_ref()
                        .map(|v| bound_ms(v, &tz, fmt.as_ref(), false))
                        .transpose()?
                        .flatten()
                        .map(|x| x as f64),
                ));
            }
            range_buckets(spec, ctx, docs, &col, &bounds, depth)?
        }
        AggKind::Filter(q) => {
            let set = search::matching_set(ctx.part, ctx.seg, q)?;
            let ds: Vec<DocId> = docs.iter().copied().filter(|d| set.contains(*d)).collect();
            Partial::Fixed(vec![sub_bucket(spec, ctx, &ds, ds.len() as u64, depth)?])
        }
        AggKind::Filters {
            filters,
            other_bucket_key,
        } => {
            let sets = filters
                .iter()
                .map(|(_, q)| search::matching_set(ctx.part, ctx.seg, q))
                .collect::<Result<Vec<_>, _>>()?;
            let mut out = Vec::new();
            for set in &sets {
                let ds: Vec<DocId> = docs.iter().copied().filter(|d| set.contains(*d)).collect();
                out.push(sub_bucket(spec, ctx, &ds, ds.len() as u64, depth)?);
            }
            if other_bucket_key.is_some() {
                let ds: Vec<DocId> = docs
                    .iter()
                    .copied()
                    .filter(|d| !sets.iter().any(|s| s.contains(*d)))
                    .collect();
                out.push(sub_bucket(spec, ctx, &ds, ds.len() as u64, depth)?);
            }
            Partial::Fixed(out)
        }
        AggKind::Missing { field } => {
            let col = open(field)?;
            let ds: Vec<DocId> = docs
                .iter()
                .copied()
                .filter(|d| col.count(*d) == 0)
                .collect();
            Partial::Fixed(vec![sub_bucket(spec, ctx, &ds, ds.len() as u64, depth)?])
        }
        AggKind::Avg { field, missing }
        | AggKind::Sum { field, missing }
        | AggKind::Min { field, missing }
        | AggKind::Max { field, missing }
        | AggKind::Stats { field, missing }
        | AggKind::ExtendedStats { field, missing, .. } => {
            let kind = columns::kind_of(mapping, field)?;
            let col = open(field)?;
            if col.is_str() {
                return Err(StoreError::BadQuery(format!(
                    "Field [{field}] of type [keyword] is not supported for aggregation [{}]",
                    spec.name
                )));
            }
            let mut stats = Stats::default();
            for &d in docs {
                let mut any = false;
                col.for_each_num(d, |v| {
                    any = true;
                    stats.add(v)
                });
                if let (false, Some(m)) = (any, missing) {
                    stats.add(*m);
                }
            }
            Partial::Stats { kind, stats }
        }
        AggKind::ValueCount { field } => {
            let col = open(field)?;
            Partial::Count(docs.iter().map(|d| col.count(*d) as u64).sum())
        }
        AggKind::Cardinality { field } => {
            let kind = columns::kind_of(mapping, field)?;
            let col = open(field)?;
            let mut set = HashSet::new();
            match &col {
                FieldCol::Str(c) => {
                    let mut ords = HashSet::new();
                    for &d in docs {
                        ords.extend(c.term_ords(d));
                    }
                    let mut s = String::new();
                    for o in ords {
                        s.clear();
                        let _ = c.ord_to_str(o, &mut s);
                        set.insert(Key::S(Arc::from(s.as_str())));
                    }
                }
                FieldCol::Const(s) => {
                    if !docs.is_empty() {
                        set.insert(Key::S(s.clone()));
                    }
                }
                other => {
                    for &d in docs {
                        other.for_each_num(d, |v| {
                            set.insert(num_key(&kind, v));
                        });
                    }
                }
            }
            Partial::Card(set)
        }
        AggKind::Percentiles { field, .. } => {
            let col = open(field)?;
            let mut vals = Vec::new();
            for &d in docs {
                col.for_each_num(d, |v| vals.push(v));
            }
            Partial::Values(vals)
        }
        AggKind::TopHits {
            size, from, sort, ..
        } => {
            let sorter = Sorter::new(sort);
            let srcs = search::open_sort_srcs(&sorter, ctx.seg, mapping, &ctx.part.name)?;
            let mut km =
                KeyMaker::new(&srcs).with_doc_base(search::doc_base(ctx.part_ord, ctx.seg_ord));
            let n = sorter.specs.len();
            let mut flat = Vec::with_capacity(docs.len() * n);
            for &d in docs {
                km.key(d, 1.0, &mut flat);
            }
            let mut idx: Vec<usize> = (0..docs.len()).collect();
            let k = from + size;
            idx.sort_by(|a, b| {
                sorter
                    .cmp(&flat[a * n..(a + 1) * n], &flat[b * n..(b + 1) * n])
                    .then(a.cmp(b))
            });
            idx.truncate(k);
            let mut hits = Vec::new();
            for j in idx {
                let (id, source) = search::load_hit(ctx.part, ctx.seg_ord, docs[j])?;
                hits.push(TopCand {
                    keys: flat[j * n..(j + 1) * n].to_vec(),
                    score: 1.0,
                    pos: (ctx.part_ord, ctx.seg_ord, docs[j]),
                    index: ctx.part.name.clone(),
                    id,
                    source,
                });
            }
            Partial::Top {
                hits,
                total: docs.len() as u64,
            }
        }
    })
}

/// The explicit mapping `format` of a date field, if it has one.
fn explicit_format(mapping: &crate::store::mapping::Mapping, field: &str) -> Option<DateFormat> {
    match mapping.resolve(field) {
        crate::store::mapping::Resolved::Path {
            kind: crate::store::mapping::FieldKind::Date { format, .. },
            ..
        } => format,
        _ => None,
    }
}

/// Zone and format of a `date_range`: the request's format, else the
/// field's explicit one (bounds are read and keys shown in it).
fn date_range_ctx(
    time_zone: &Option<String>,
    format: &Option<String>,
    field_format: Option<DateFormat>,
) -> Result<(TimeZone, Option<DateFormat>), StoreError> {
    let tz = match time_zone {
        Some(z) => parse_tz(z)?,
        None => TimeZone::UTC,
    };
    let fmt = match format {
        Some(f) => {
            Some(DateFormat::parse_spec(f).map_err(|e| StoreError::BadQuery(e.to_string()))?)
        }
        None => field_format,
    };
    Ok((tz, fmt))
}

fn range_buckets(
    spec: &AggSpec,
    ctx: &SegCtx,
    docs: &[DocId],
    col: &FieldCol,
    bounds: &[(Option<f64>, Option<f64>)],
    depth: usize,
) -> Result<Partial, StoreError> {
    let mut per: Vec<Vec<DocId>> = vec![Vec::new(); bounds.len()];
    let mut vals = Vec::new();
    for &d in docs {
        vals.clear();
        col.for_each_num(d, |v| vals.push(v));
        for (i, (lo, hi)) in bounds.iter().enumerate() {
            if vals
                .iter()
                .any(|v| lo.is_none_or(|l| *v >= l) && hi.is_none_or(|h| *v < h))
            {
                per[i].push(d);
            }
        }
    }
    let mut out = Vec::new();
    for ds in per {
        out.push(sub_bucket(spec, ctx, &ds, ds.len() as u64, depth)?);
    }
    Ok(Partial::Fixed(out))
}

fn merge_kind(a: &mut ValueKind, b: ValueKind) {
    if *a == ValueKind::Unknown {
        *a = b;
    }
}

fn merge_bucket(a: &mut Bucket, b: Bucket, spec: &AggSpec) {
    a.count += b.count;
    if a.subs.is_empty() {
        a.subs = b.subs;
        return;
    }
    for ((x, y), s) in a.subs.iter_mut().zip(b.subs).zip(&spec.subs) {
        merge(x, y, s);
    }
}

fn merge(a: &mut Partial, b: Partial, spec: &AggSpec) {
    match (a, b) {
        (
            Partial::Terms { kind, buckets },
            Partial::Terms {
                kind: k2,
                buckets: b2,
            },
        ) => {
            merge_kind(kind, k2);
            for (k, v) in b2 {
                match buckets.get_mut(&k) {
                    Some(x) => merge_bucket(x, v, spec),
                    None => {
                        buckets.insert(k, v);
                    }
                }
            }
        }
        (
            Partial::Hist { kind, buckets },
            Partial::Hist {
                kind: k2,
                buckets: b2,
            },
        ) => {
            merge_kind(kind, k2);
            for (k, v) in b2 {
                match buckets.get_mut(&k) {
                    Some(x) => merge_bucket(x, v, spec),
                    None => {
                        buckets.insert(k, v);
                    }
                }
            }
        }
        (Partial::Fixed(a), Partial::Fixed(b)) => {
            for (x, y) in a.iter_mut().zip(b) {
                merge_bucket(x, y, spec);
            }
        }
        (
            Partial::Stats { kind, stats },
            Partial::Stats {
                kind: k2,
                stats: s2,
            },
        ) => {
            merge_kind(kind, k2);
            stats.merge(&s2);
        }
        (Partial::Count(a), Partial::Count(b)) => *a += b,
        (Partial::Card(a), Partial::Card(b)) => a.extend(b),
        (Partial::Values(a), Partial::Values(b)) => a.extend(b),
        (
            Partial::Top { hits, total },
            Partial::Top {
                hits: h2,
                total: t2,
            },
        ) => {
            hits.extend(h2);
            *total += t2;
            if let AggKind::TopHits {
                size, from, sort, ..
            } = &spec.kind
            {
                let sorter = Sorter::new(sort);
                hits.sort_by(|x, y| sorter.cmp(&x.keys, &y.keys).then(x.pos.cmp(&y.pos)));
                hits.truncate(size + from);
            }
        }
        _ => {}
    }
}

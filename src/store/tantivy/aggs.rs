//! The aggregation engine: Elasticsearch bucket and metric aggregations
//! computed over tantivy's fast-field columns, segment by segment, merged,
//! then rendered in Elasticsearch's response shape.
//!
//! Each segment's matched documents are grouped per bucket and sub-aggs run
//! on each bucket's documents, so nesting works to any depth.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use jiff::tz::TimeZone;
use serde_json::{json, Map, Value};
use tantivy::{DocId, SegmentReader};

use super::columns::{self, FieldCol, ValueKind};
use super::compile::parse_tz;
use super::search::{self, KeyMaker, Part, SortVal, Sorter};
use crate::query::aggs::{AggKind, AggSpec, BucketOrder, Interval, RangeSpec};
use crate::query::date_format::DateFormat;
use crate::query::datemath::{self, add_units, floor_to_unit};
use crate::query::model::Order;
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

    /// Render the final `aggregations` object.
    pub fn finish(self, parts: &[Part]) -> Result<Value, StoreError> {
        let mut out = Map::new();
        for (spec, p) in self.specs.iter().zip(self.partials) {
            out.insert(spec.name.clone(), finish(spec, p, parts)?);
        }
        Ok(Value::Object(out))
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
    Ok((tz, interval.clone()))
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
            let groups = group(docs, |d, out: &mut Vec<i64>| {
                col.for_each_num(d, |v| {
                    let ms = v as i64;
                    if let Some((lo, hi)) = hb {
                        if lo.is_some_and(|l| ms < l) || hi.is_some_and(|h| ms > h) {
                            return;
                        }
                    }
                    out.push(dh_key(ms, &interval, &tz, *offset_ms));
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

/// Format a percent the way Java prints a double (`50.0`, `99.9`).
fn pct_key(p: f64) -> String {
    if p.fract() == 0.0 {
        format!("{p:.1}")
    } else {
        format!("{p}")
    }
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

fn date_string(kind: &ValueKind, ms: i64, fmt: Option<&str>, tz: &TimeZone) -> String {
    if let Some(f) = fmt {
        if let Ok(df) = DateFormat::parse_spec(f) {
            return df.format(ms, tz);
        }
    }
    match kind {
        ValueKind::Date(Some(df)) => df.format(ms, tz),
        _ => DateFormat::default_format().format(ms, tz),
    }
}

fn opt_num(v: Option<f64>) -> Value {
    match v {
        Some(x) if x.is_finite() => json!(x),
        _ => Value::Null,
    }
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
            v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
            percentile(&v, prop.and_then(|p| p.parse().ok()).unwrap_or(50.0))
        }
        _ => None,
    }
}

fn render_subs(
    specs: &[AggSpec],
    subs: Vec<Partial>,
    parts: &[Part],
    into: &mut Map<String, Value>,
) -> Result<(), StoreError> {
    for (s, p) in specs.iter().zip(subs) {
        into.insert(s.name.clone(), finish(s, p, parts)?);
    }
    Ok(())
}

fn bucket_json(
    spec: &AggSpec,
    b: Bucket,
    parts: &[Part],
    mut m: Map<String, Value>,
) -> Result<Value, StoreError> {
    m.insert("doc_count".into(), json!(b.count));
    let subs = if b.subs.is_empty() {
        spec.subs.iter().map(empty).collect()
    } else {
        b.subs
    };
    render_subs(&spec.subs, subs, parts, &mut m)?;
    Ok(Value::Object(m))
}

fn range_key(from: Option<&str>, to: Option<&str>) -> String {
    format!("{}-{}", from.unwrap_or("*"), to.unwrap_or("*"))
}

fn java_double(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

fn finish(spec: &AggSpec, p: Partial, parts: &[Part]) -> Result<Value, StoreError> {
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
                .filter(|(_, b)| b.count >= *min_doc_count)
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
                                .unwrap_or(std::cmp::Ordering::Equal);
                            directed(c, *order)
                        }
                    };
                    if c != std::cmp::Ordering::Equal {
                        return c;
                    }
                }
                // Ties: count desc then key asc, as Elasticsearch breaks them.
                bb.count.cmp(&ba.count).then_with(|| ka.cmp_key(kb))
            });
            let mut list: Vec<(Key, Bucket)> =
                decorated.into_iter().map(|(k, b, _)| (k, b)).collect();
            let other: u64 = list.iter().skip(*size).map(|(_, b)| b.count).sum();
            list.truncate(*size);
            let mut out = Vec::new();
            for (k, b) in list {
                let mut m = Map::new();
                match (&k, &kind) {
                    (Key::S(s), _) => {
                        m.insert("key".into(), json!(s.as_ref()));
                    }
                    (Key::I(i), ValueKind::Date(_)) => {
                        m.insert("key".into(), json!(i));
                        m.insert(
                            "key_as_string".into(),
                            json!(date_string(&kind, *i, None, &TimeZone::UTC)),
                        );
                    }
                    (Key::I(i), _) => {
                        m.insert("key".into(), json!(i));
                    }
                    (Key::F(f), _) => {
                        m.insert("key".into(), json!(f64::from_bits(*f)));
                    }
                    (Key::B(b), _) => {
                        m.insert("key".into(), json!(*b as u8));
                        m.insert("key_as_string".into(), json!(b.to_string()));
                    }
                }
                out.push(bucket_json(spec, b, parts, m)?);
            }
            json!({"doc_count_error_upper_bound": 0, "sum_other_doc_count": other, "buckets": out})
        }
        (
            AggKind::DateHistogram {
                interval,
                time_zone,
                offset_ms,
                min_doc_count,
                extended_bounds,
                format,
                keyed,
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
            let mut arr = Vec::new();
            let mut obj = Map::new();
            for (k, b) in list {
                let ks = date_string(&kind, k, format.as_deref(), &tz);
                let mut m = Map::new();
                m.insert("key_as_string".into(), json!(ks));
                m.insert("key".into(), json!(k));
                let v = bucket_json(spec, b, parts, m)?;
                if *keyed {
                    obj.insert(ks, v);
                } else {
                    arr.push(v);
                }
            }
            if *keyed {
                json!({"buckets": obj})
            } else {
                json!({"buckets": arr})
            }
        }
        (
            AggKind::Histogram {
                interval,
                offset,
                min_doc_count,
                extended_bounds,
                keyed,
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
            let mut arr = Vec::new();
            let mut obj = Map::new();
            for (k, b) in buckets
                .into_iter()
                .filter(|(_, b)| b.count >= *min_doc_count)
            {
                let key = k as f64 * interval + offset;
                let mut m = Map::new();
                m.insert("key".into(), json!(key));
                let v = bucket_json(spec, b, parts, m)?;
                if *keyed {
                    obj.insert(java_double(key), v);
                } else {
                    arr.push(v);
                }
            }
            if *keyed {
                json!({"buckets": obj})
            } else {
                json!({"buckets": arr})
            }
        }
        (AggKind::Range { ranges, keyed, .. }, Partial::Fixed(bs)) => {
            render_ranges(spec, ranges, bs, *keyed, parts, None)?
        }
        (
            AggKind::DateRange {
                field,
                ranges,
                keyed,
                format,
                time_zone,
                ..
            },
            Partial::Fixed(bs),
        ) => {
            let field_fmt = parts
                .iter()
                .find_map(|p| explicit_format(&p.mapping, field));
            let (tz, fmt) = date_range_ctx(time_zone, format, field_fmt)?;
            render_ranges(spec, ranges, bs, *keyed, parts, Some((tz, fmt)))?
        }
        (AggKind::Filter(_), Partial::Fixed(mut bs))
        | (AggKind::Missing { .. }, Partial::Fixed(mut bs)) => {
            let b = bs.pop().unwrap_or_else(|| empty_bucket(&spec.subs));
            bucket_json(spec, b, parts, Map::new())?
        }
        (
            AggKind::Filters {
                filters,
                other_bucket_key,
            },
            Partial::Fixed(bs),
        ) => {
            let named = filters.iter().all(|(n, _)| n.is_some());
            let mut names: Vec<Option<String>> = filters.iter().map(|(n, _)| n.clone()).collect();
            if let Some(o) = other_bucket_key {
                names.push(Some(o.clone()));
            }
            if named {
                let mut obj = Map::new();
                for (n, b) in names.into_iter().zip(bs) {
                    obj.insert(
                        n.unwrap_or_default(),
                        bucket_json(spec, b, parts, Map::new())?,
                    );
                }
                json!({"buckets": obj})
            } else {
                let mut arr = Vec::new();
                for b in bs {
                    arr.push(bucket_json(spec, b, parts, Map::new())?);
                }
                json!({"buckets": arr})
            }
        }
        (AggKind::Avg { .. }, Partial::Stats { kind, stats }) => metric_value(
            &kind,
            (stats.count > 0).then(|| stats.sum / stats.count as f64),
        ),
        (AggKind::Sum { .. }, Partial::Stats { kind, stats }) => {
            metric_value(&kind, Some(stats.sum))
        }
        (AggKind::Min { .. }, Partial::Stats { kind, stats }) => {
            metric_value(&kind, (stats.count > 0).then_some(stats.min))
        }
        (AggKind::Max { .. }, Partial::Stats { kind, stats }) => {
            metric_value(&kind, (stats.count > 0).then_some(stats.max))
        }
        (AggKind::Stats { .. }, Partial::Stats { stats, .. }) => stats_json(&stats),
        (AggKind::ExtendedStats { sigma, .. }, Partial::Stats { stats, .. }) => {
            let mut v = stats_json(&stats);
            let n = stats.count as f64;
            let (var_pop, var_samp, avg) = if stats.count > 0 {
                let avg = stats.sum / n;
                let var_pop = (stats.sum_sq / n - avg * avg).max(0.0);
                let var_samp = if stats.count > 1 {
                    (var_pop * n / (n - 1.0)).max(0.0)
                } else {
                    f64::NAN
                };
                (
                    Some(var_pop),
                    Some(var_samp).filter(|x| x.is_finite()),
                    Some(avg),
                )
            } else {
                (None, None, None)
            };
            let sd_pop = var_pop.map(f64::sqrt);
            let sd_samp = var_samp.map(f64::sqrt);
            if let Value::Object(m) = &mut v {
                m.insert(
                    "sum_of_squares".into(),
                    opt_num((stats.count > 0).then_some(stats.sum_sq)),
                );
                m.insert("variance".into(), opt_num(var_pop));
                m.insert("variance_population".into(), opt_num(var_pop));
                m.insert("variance_sampling".into(), opt_num(var_samp));
                m.insert("std_deviation".into(), opt_num(sd_pop));
                m.insert("std_deviation_population".into(), opt_num(sd_pop));
                m.insert("std_deviation_sampling".into(), opt_num(sd_samp));
                let b = |sd: Option<f64>, s: f64| avg.zip(sd).map(|(a, d)| a + s * d);
                m.insert(
                    "std_deviation_bounds".into(),
                    json!({
                        "upper": opt_num(b(sd_pop, *sigma)),
                        "lower": opt_num(b(sd_pop, -*sigma)),
                        "upper_population": opt_num(b(sd_pop, *sigma)),
                        "lower_population": opt_num(b(sd_pop, -*sigma)),
                        "upper_sampling": opt_num(b(sd_samp, *sigma)),
                        "lower_sampling": opt_num(b(sd_samp, -*sigma)),
                    }),
                );
            }
            v
        }
        (AggKind::ValueCount { .. }, Partial::Count(n)) => json!({"value": n}),
        (AggKind::Cardinality { .. }, Partial::Card(s)) => json!({"value": s.len()}),
        (
            AggKind::Percentiles {
                percents, keyed, ..
            },
            Partial::Values(mut v),
        ) => {
            v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
            if *keyed {
                let mut m = Map::new();
                for p in percents {
                    m.insert(pct_key(*p), opt_num(percentile(&v, *p)));
                }
                json!({"values": m})
            } else {
                let arr: Vec<Value> = percents
                    .iter()
                    .map(|p| json!({"key": p, "value": opt_num(percentile(&v, *p))}))
                    .collect();
                json!({"values": arr})
            }
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
            let show_sort = !sort.is_empty();
            let arr: Vec<Value> = hits
                .into_iter()
                .skip(*from)
                .take(*size)
                .map(|h| {
                    let mut m = Map::new();
                    m.insert("_index".into(), json!(h.index));
                    m.insert("_id".into(), json!(h.id));
                    m.insert(
                        "_score".into(),
                        if show_sort {
                            Value::Null
                        } else {
                            json!(h.score)
                        },
                    );
                    if let Some(s) = search::filter_source(h.source, source) {
                        m.insert("_source".into(), s);
                    }
                    if show_sort {
                        let sv: Vec<Value> = h
                            .keys
                            .iter()
                            .map(|k| match k {
                                SortVal::Num(f) if f.fract() == 0.0 => json!(*f as i64),
                                SortVal::Num(f) => json!(f),
                                SortVal::Str(s) => json!(s.as_ref()),
                                SortVal::Missing => Value::Null,
                            })
                            .collect();
                        m.insert("sort".into(), json!(sv));
                    }
                    Value::Object(m)
                })
                .collect();
            json!({"hits": {"total": {"value": total, "relation": "eq"}, "max_score": if show_sort { Value::Null } else { json!(1.0) }, "hits": arr}})
        }
        (_, p) => {
            return Err(StoreError::Engine(format!(
                "aggregation [{}]: internal result mismatch ({p:?})",
                spec.name
            )))
        }
    })
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
                directed(
                    a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
                    *order,
                )
            });
            list.extend(decorated.into_iter().map(|(_, x)| x));
        }
    }
}

/// Apply a sort direction to an ascending comparison.
fn directed(c: std::cmp::Ordering, o: Order) -> std::cmp::Ordering {
    match o {
        Order::Asc => c,
        Order::Desc => c.reverse(),
    }
}

fn metric_value(kind: &ValueKind, v: Option<f64>) -> Value {
    let mut m = Map::new();
    m.insert("value".into(), opt_num(v));
    if let (ValueKind::Date(_), Some(x)) = (kind, v) {
        m.insert(
            "value_as_string".into(),
            json!(date_string(kind, x as i64, None, &TimeZone::UTC)),
        );
    }
    Value::Object(m)
}

fn stats_json(s: &Stats) -> Value {
    if s.count == 0 {
        return json!({"count": 0, "min": null, "max": null, "avg": null, "sum": 0.0});
    }
    json!({"count": s.count, "min": s.min, "max": s.max, "avg": s.sum / s.count as f64, "sum": s.sum})
}

fn render_ranges(
    spec: &AggSpec,
    ranges: &[RangeSpec],
    bs: Vec<Bucket>,
    keyed: bool,
    parts: &[Part],
    dates: Option<(TimeZone, Option<DateFormat>)>,
) -> Result<Value, StoreError> {
    let mut arr = Vec::new();
    let mut obj = Map::new();
    for (r, b) in ranges.iter().zip(bs) {
        let mut m = Map::new();
        let (from, to, from_s, to_s) = match &dates {
            Some((tz, fmt)) => {
                let f = r
                    .from
                    .as_ref()
                    .map(|v| bound_ms(v, tz, fmt.as_ref(), false))
                    .transpose()?
                    .flatten();
                let t =
                    r.to.as_ref()
                        .map(|v| bound_ms(v, tz, fmt.as_ref(), false))
                        .transpose()?
                        .flatten();
                let render = |ms: i64| match fmt {
                    Some(df) => df.format(ms, tz),
                    None => DateFormat::default_format().format(ms, tz),
                };
                (
                    f.map(|x| x as f64),
                    t.map(|x| x as f64),
                    f.map(render),
                    t.map(render),
                )
            }
            None => {
                let f = r.from.as_ref().and_then(Value::as_f64);
                let t = r.to.as_ref().and_then(Value::as_f64);
                (f, t, f.map(java_double), t.map(java_double))
            }
        };
        let key = r
            .key
            .clone()
            .unwrap_or_else(|| range_key(from_s.as_deref(), to_s.as_deref()));
        if !keyed {
            m.insert("key".into(), json!(key));
        }
        if let Some(f) = from {
            m.insert("from".into(), json!(f));
            if dates.is_some() {
                m.insert("from_as_string".into(), json!(from_s));
            }
        }
        if let Some(t) = to {
            m.insert("to".into(), json!(t));
            if dates.is_some() {
                m.insert("to_as_string".into(), json!(to_s));
            }
        }
        let v = bucket_json(spec, b, parts, m)?;
        if keyed {
            obj.insert(key, v);
        } else {
            arr.push(v);
        }
    }
    Ok(if keyed {
        json!({"buckets": obj})
    } else {
        json!({"buckets": arr})
    })
}

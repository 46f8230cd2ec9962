//! Running a search over a snapshot of indices: match, count, sort, page,
//! load `_source`, and hand matched documents to the aggregation engine.

use std::cmp::Ordering;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};
use tantivy::query::EnableScoring;
use tantivy::schema::Value as _;
use tantivy::{DocAddress, DocId, DocSet, Score, Searcher, TantivyDocument, TERMINATED};

use super::aggs;
use super::columns::{self, FieldCol, StrCache, ValueKind};
use super::compile::{self, Ctx};
use super::highlight;
use super::schema::Fields;
use crate::event::timestamp::format_iso_millis;
use crate::query::date_format::DateFormat;
use crate::query::model::{
    Missing, Order, Query, SearchRequest, SortKey, SortSpec, SourceFilter, TrackTotal,
};
use crate::store::mapping::{wildcard_match, Mapping, Resolved};
use crate::store::{pack_position, Hit, SearchResult, Snapshot, StoreError};

/// One index of a snapshot.
pub struct Part {
    pub name: String,
    pub searcher: Searcher,
    pub mapping: Arc<Mapping>,
    pub fields: Fields,
}

/// A point-in-time view over some indices.
pub struct TantivySnapshot {
    pub parts: Vec<Part>,
}

/// A sort value of one document for one criterion.
#[derive(Debug, Clone)]
pub enum SortVal {
    Missing,
    Num(f64),
    Str(Arc<str>),
}

fn cmp_val(a: &SortVal, b: &SortVal, order: Order, missing_first: bool) -> Ordering {
    let o = match (a, b) {
        (SortVal::Missing, SortVal::Missing) => return Ordering::Equal,
        (SortVal::Missing, _) => {
            return if missing_first {
                Ordering::Less
            } else {
                Ordering::Greater
            }
        }
        (_, SortVal::Missing) => {
            return if missing_first {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
        (SortVal::Num(x), SortVal::Num(y)) => x.partial_cmp(y).unwrap_or(Ordering::Equal),
        (SortVal::Str(x), SortVal::Str(y)) => x.cmp(y),
        (SortVal::Num(_), SortVal::Str(_)) => Ordering::Less,
        (SortVal::Str(_), SortVal::Num(_)) => Ordering::Greater,
    };
    match order {
        Order::Asc => o,
        Order::Desc => o.reverse(),
    }
}

/// The effective sort criteria: the request's, or `_score` desc.
pub struct Sorter {
    pub specs: Vec<SortSpec>,
}

impl Sorter {
    pub fn new(specs: &[SortSpec]) -> Sorter {
        let specs = if specs.is_empty() {
            vec![SortSpec {
                key: SortKey::Score,
                order: Order::Desc,
            }]
        } else {
            specs.to_vec()
        };
        Sorter { specs }
    }

    pub fn needs_score(&self) -> bool {
        self.specs.iter().any(|s| s.key == SortKey::Score)
    }

    fn missing_first(&self, i: usize) -> bool {
        matches!(
            &self.specs[i].key,
            SortKey::Field {
                missing: Missing::First,
                ..
            }
        )
    }

    /// Compare two key rows; ties are left to the caller's tiebreak.
    pub fn cmp(&self, a: &[SortVal], b: &[SortVal]) -> Ordering {
        for (i, spec) in self.specs.iter().enumerate() {
            let o = cmp_val(&a[i], &b[i], spec.order, self.missing_first(i));
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    }

    /// Order of two values of the first sort key alone.
    pub fn cmp_first(&self, a: &SortVal, b: &SortVal) -> Ordering {
        match self.specs.first() {
            Some(spec) => cmp_val(a, b, spec.order, self.missing_first(0)),
            None => Ordering::Equal,
        }
    }

    /// Whether the sort is just `_score` (the default).
    pub fn is_score_only(&self) -> bool {
        self.specs.len() == 1 && self.specs[0].key == SortKey::Score
    }
}

/// Where one sort criterion's values come from in a segment.
pub enum SortSrc {
    Score,
    Doc,
    Field {
        col: FieldCol,
        missing: Option<SortVal>,
    },
}

/// Open the sort sources of one segment.
pub fn open_sort_srcs(
    sorter: &Sorter,
    seg: &tantivy::SegmentReader,
    mapping: &Mapping,
    index_name: &str,
) -> Result<Vec<SortSrc>, StoreError> {
    sorter
        .specs
        .iter()
        .map(|s| match &s.key {
            SortKey::Score => Ok(SortSrc::Score),
            SortKey::Doc => Ok(SortSrc::Doc),
            SortKey::Field { field, missing, .. } => {
                let col = columns::open(seg, mapping, field, index_name)?;
                let missing = match missing {
                    Missing::Value(v) => Some(match v {
                        Value::Number(n) => SortVal::Num(n.as_f64().unwrap_or(0.0)),
                        Value::String(s) => SortVal::Str(Arc::from(s.as_str())),
                        _ => SortVal::Missing,
                    }),
                    _ => None,
                };
                Ok(SortSrc::Field { col, missing })
            }
        })
        .collect()
}

/// Builds key rows for documents of one segment.
pub struct KeyMaker<'a> {
    srcs: &'a [SortSrc],
    caches: Vec<Option<StrCache<'a>>>,
    /// Added to segment doc ids to make the `_doc` sort value: the
    /// position of the segment in the snapshot (see [`doc_base`]).
    doc_base: u64,
}

/// Base of the `_doc` sort values of one segment (see
/// [`pack_position`]), so that `_doc` orders and pages like a position.
pub fn doc_base(part_ord: u32, seg_ord: u32) -> u64 {
    pack_position(part_ord, seg_ord, 0)
}

impl<'a> KeyMaker<'a> {
    pub fn new(srcs: &'a [SortSrc]) -> KeyMaker<'a> {
        let caches = srcs
            .iter()
            .map(|s| match s {
                SortSrc::Field {
                    col: FieldCol::Str(c),
                    ..
                } => Some(StrCache::new(c)),
                _ => None,
            })
            .collect();
        KeyMaker {
            srcs,
            caches,
            doc_base: 0,
        }
    }

    /// Set the segment's position for `_doc` values (see [`doc_base`]).
    pub fn with_doc_base(mut self, base: u64) -> KeyMaker<'a> {
        self.doc_base = base;
        self
    }

    /// Append the key row of `doc` to `out`.
    pub fn key(&mut self, doc: DocId, score: Score, out: &mut Vec<SortVal>) {
        for (i, src) in self.srcs.iter().enumerate() {
            let v = match src {
                SortSrc::Score => SortVal::Num(score as f64),
                SortSrc::Doc => SortVal::Num((self.doc_base | doc as u64) as f64),
                SortSrc::Field { col, missing } => {
                    let v = match col {
                        FieldCol::Str(c) => {
                            match (c.term_ords(doc).next(), self.caches[i].as_mut()) {
                                (Some(ord), Some(cache)) => SortVal::Str(cache.get(ord)),
                                _ => SortVal::Missing,
                            }
                        }
                        FieldCol::Const(s) => SortVal::Str(s.clone()),
                        c => c.first_num(doc).map_or(SortVal::Missing, SortVal::Num),
                    };
                    match (v, missing) {
                        (SortVal::Missing, Some(m)) => m.clone(),
                        (v, _) => v,
                    }
                }
            };
            out.push(v);
        }
    }
}

/// Tiebreak position: (index, segment, doc) within the snapshot.
pub type Pos = (u32, u32, DocId);

struct Cand {
    keys: Vec<SortVal>,
    score: Score,
    pos: Pos,
}

/// The kinds sort values render with before any index is seen: those of
/// `unmapped_type` (how Elasticsearch shows the missing values of indices
/// without the field). A field that no searched index maps and that has no
/// `unmapped_type` is an error, as in Elasticsearch; one mapped by only some
/// indices sorts their documents and puts the others' last.
fn unmapped_sort_kinds(sorter: &Sorter, parts: &[Part]) -> Result<Vec<ValueKind>, StoreError> {
    sorter
        .specs
        .iter()
        .map(|s| {
            let SortKey::Field {
                field,
                unmapped_type,
                ..
            } = &s.key
            else {
                return Ok(ValueKind::Unknown);
            };
            let kind = match unmapped_type.as_deref() {
                None => ValueKind::Unknown,
                Some("long" | "integer" | "short" | "byte" | "unsigned_long") => ValueKind::Long,
                Some("float" | "double" | "half_float" | "scaled_float") => ValueKind::Float,
                Some("date" | "date_nanos") => ValueKind::Date(None),
                Some("boolean") => ValueKind::Bool,
                Some(
                    "keyword" | "text" | "match_only_text" | "wildcard" | "constant_keyword" | "ip",
                ) => ValueKind::Str,
                Some(other) => {
                    return Err(StoreError::QueryShard(format!(
                        "No mapper found for type [{other}] (unmapped_type of sort field [{field}])"
                    )))
                }
            };
            let mapped = parts
                .iter()
                .any(|p| !matches!(p.mapping.resolve(field), Resolved::Unmapped));
            if !mapped && unmapped_type.is_none() && !parts.is_empty() {
                return Err(StoreError::QueryShard(format!(
                    "No mapping found for [{field}] in order to sort on"
                )));
            }
            Ok(kind)
        })
        .collect()
}

/// Convert a user's `search_after` values to sort values.
fn after_vals(sorter: &Sorter, after: &[Value]) -> Result<Vec<SortVal>, StoreError> {
    if after.len() != sorter.specs.len() {
        return Err(StoreError::BadQuery(format!(
            "search_after has {} value(s) but sort has {}",
            after.len(),
            sorter.specs.len()
        )));
    }
    Ok(after
        .iter()
        .map(|v| match v {
            Value::Number(n) => SortVal::Num(n.as_f64().unwrap_or(0.0)),
            Value::String(s) => match s.parse::<f64>() {
                Ok(f) => SortVal::Num(f),
                Err(_) => SortVal::Str(Arc::from(s.as_str())),
            },
            _ => SortVal::Missing,
        })
        .collect())
}

fn sort_value_json(v: &SortVal, spec: &SortSpec, kind: &ValueKind) -> Value {
    match v {
        SortVal::Missing => match (kind, spec.order, &spec.key) {
            (ValueKind::Str, _, _) | (ValueKind::Unknown, _, _) => Value::Null,
            (
                _,
                Order::Asc,
                SortKey::Field {
                    missing: Missing::Last,
                    ..
                },
            ) => json!(i64::MAX),
            (
                _,
                Order::Desc,
                SortKey::Field {
                    missing: Missing::Last,
                    ..
                },
            ) => json!(i64::MIN),
            (_, Order::Asc, _) => json!(i64::MIN),
            (_, Order::Desc, _) => json!(i64::MAX),
        },
        SortVal::Num(f) => match (kind, &spec.key) {
            (_, SortKey::Doc) => json!(*f as u64),
            (
                ValueKind::Date(_),
                SortKey::Field {
                    format: Some(fmt), ..
                },
            ) => match DateFormat::parse_spec(fmt) {
                Ok(df) => json!(df.format(*f as i64, &jiff::tz::TimeZone::UTC)),
                Err(_) => json!(format_iso_millis(*f as i64)),
            },
            (ValueKind::Long | ValueKind::Date(_), _) => json!(*f as i64),
            (ValueKind::Bool, _) => json!(*f as i64),
            _ => json!(f),
        },
        SortVal::Str(s) => json!(s.as_ref()),
    }
}

/// Load the `_source` of a document.
pub fn load_source(
    searcher: &Searcher,
    fields: &Fields,
    seg: u32,
    doc: DocId,
) -> Result<Value, StoreError> {
    let d: TantivyDocument = searcher.doc(DocAddress::new(seg, doc))?;
    let bytes = d
        .get_first(fields.source)
        .and_then(|v| v.as_bytes())
        .unwrap_or(b"{}");
    Ok(serde_json::from_slice(bytes).unwrap_or(Value::Null))
}

fn load_id(
    searcher: &Searcher,
    fields: &Fields,
    seg: u32,
    doc: DocId,
) -> Result<(String, Value), StoreError> {
    let d: TantivyDocument = searcher.doc(DocAddress::new(seg, doc))?;
    let id = match d.get_first(fields.id).and_then(|v| v.as_str()) {
        Some(id) => id.to_string(),
        None => super::id_match::id_of(searcher.segment_reader(seg), doc)?.unwrap_or_default(),
    };
    let bytes = d
        .get_first(fields.source)
        .and_then(|v| v.as_bytes())
        .unwrap_or(b"{}");
    Ok((id, serde_json::from_slice(bytes).unwrap_or(Value::Null)))
}

/// Apply `_source` includes/excludes (with `*` patterns on dotted paths).
pub fn filter_source(src: Value, f: &SourceFilter) -> Option<Value> {
    if f.disabled {
        return None;
    }
    if f.includes.is_empty() && f.excludes.is_empty() {
        return Some(src);
    }
    fn walk(v: &Value, prefix: &str, f: &SourceFilter) -> Option<Value> {
        match v {
            Value::Object(m) => {
                let mut out = serde_json::Map::new();
                for (k, val) in m {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    if f.excludes.iter().any(|p| wildcard_match(p, &path)) {
                        continue;
                    }
                    let included = f.includes.is_empty()
                        || f.includes.iter().any(|p| {
                            wildcard_match(p, &path) || wildcard_match(&format!("{p}.*"), &path)
                        });
                    let could_have_children = f
                        .includes
                        .iter()
                        .any(|p| p.starts_with(&format!("{path}.")) || p.starts_with('*'));
                    if included {
                        if let Some(x) = walk_all(val, &path, f) {
                            out.insert(k.clone(), x);
                        }
                    } else if could_have_children {
                        if let Some(x) = walk(val, &path, f) {
                            if !(x.is_object() && x.as_object().is_some_and(|o| o.is_empty())) {
                                out.insert(k.clone(), x);
                            }
                        }
                    }
                }
                Some(Value::Object(out))
            }
            _ => None,
        }
    }
    fn walk_all(v: &Value, prefix: &str, f: &SourceFilter) -> Option<Value> {
        match v {
            Value::Object(_) if !f.excludes.is_empty() => {
                let g = SourceFilter {
                    disabled: false,
                    includes: Vec::new(),
                    excludes: f.excludes.clone(),
                };
                walk(v, prefix, &g)
            }
            other => Some(other.clone()),
        }
    }
    walk(&src, "", f)
}

impl TantivySnapshot {
    fn ctx<'a>(&self, p: &'a Part) -> Ctx<'a> {
        Ctx {
            fields: &p.fields,
            mapping: &p.mapping,
            index_name: &p.name,
        }
    }
}

fn parse_cursor(c: &[Value], n: usize) -> Option<(Vec<Value>, Pos)> {
    if c.len() != n + 3 {
        return None;
    }
    let pos = (
        c[n].as_u64()? as u32,
        c[n + 1].as_u64()? as u32,
        c[n + 2].as_u64()? as u32,
    );
    Some((c[..n].to_vec(), pos))
}

impl Snapshot for TantivySnapshot {
    fn search(
        &self,
        req: &SearchRequest,
        after_cursor: Option<&[Value]>,
    ) -> Result<SearchResult, StoreError> {
        let started = Instant::now();
        let sorter = Sorter::new(&req.sort);
        let k = req.from.saturating_add(req.size);
        // with no hits to show, scores are never seen (max_score is null)
        let need_score = (sorter.needs_score() || req.track_scores) && req.size > 0;
        let cursor = match after_cursor {
            Some(c) => Some(
                parse_cursor(c, sorter.specs.len())
                    .ok_or_else(|| StoreError::BadQuery("invalid scroll cursor".into()))?,
            ),
            None => None,
        };
        let after_keys = match (&cursor, &req.search_after) {
            (Some((vals, _)), _) => Some(after_vals(&sorter, vals)?),
            (None, Some(sa)) => Some(after_vals(&sorter, sa)?),
            _ => None,
        };
        let after_pos = cursor.as_ref().map(|c| c.1);
        let mut total: u64 = 0;
        let mut cands: Vec<Cand> = Vec::new();
        let mut max_score: Option<Score> = None;
        let mut agg_state = aggs::AggState::new(&req.aggs);
        let mut timed_out = false;
        let mut kinds = unmapped_sort_kinds(&sorter, &self.parts)?;
        let highlight = req
            .highlight
            .as_ref()
            .map(|h| highlight::Plan::new(h, &req.query));
        // A pure `_doc` scan (what `helpers.scan` and scroll exports ask for)
        // with nothing else to compute takes the streaming path below.
        let doc_order_scan = sorter.specs.len() == 1
            && sorter.specs[0].key == SortKey::Doc
            && sorter.specs[0].order == Order::Asc
            && req.aggs.is_empty()
            && req.post_filter.is_none()
            && req.search_after.is_none()
            && k > 0;

        for (pi, part) in self.parts.iter().enumerate() {
            if let Some(t) = req.timeout_ms {
                if started.elapsed().as_millis() as u64 > t {
                    timed_out = true;
                    break;
                }
            }
            let ctx = self.ctx(part);
            let query = compile::compile(&ctx, &req.query)?;
            let scoring = if need_score {
                EnableScoring::enabled_from_searcher(&part.searcher)
            } else {
                EnableScoring::disabled_from_searcher(&part.searcher)
            };
            let weight = query.weight(scoring)?;
            let post = match &req.post_filter {
                Some(pf) => Some(
                    compile::compile(&ctx, pf)?
                        .weight(EnableScoring::disabled_from_searcher(&part.searcher))?,
                ),
                None => None,
            };
            for (i, s) in sorter.specs.iter().enumerate() {
                if let SortKey::Field { field, .. } = &s.key {
                    let kk = columns::kind_of(&part.mapping, field)?;
                    if kk != ValueKind::Unknown {
                        kinds[i] = kk;
                    }
                }
            }
            for (si, seg) in part.searcher.segment_readers().iter().enumerate() {
                if doc_order_scan {
                    // `_doc` order is iteration order: count everything, but
                    // collect only from the cursor on, and stop at k. This
                    // keeps a scroll over N documents O(N) in total.
                    total += weight.count(seg)? as u64;
                    let pos = (pi as u32, si as u32);
                    let after_doc = match after_pos {
                        Some((ap, asi, ad)) if (ap, asi) == pos => Some(ad),
                        Some((ap, asi, _)) if (ap, asi) > pos => continue,
                        _ => None,
                    };
                    if cands.len() >= k {
                        continue;
                    }
                    let mut scorer = weight.scorer(seg, 1.0)?;
                    let mut d = match after_doc {
                        Some(ad) if ad + 1 >= seg.max_doc() => TERMINATED,
                        Some(ad) => scorer.seek(ad + 1),
                        None => scorer.doc(),
                    };
                    while d != TERMINATED && cands.len() < k {
                        if !seg.is_deleted(d) {
                            cands.push(Cand {
                                keys: vec![SortVal::Num(
                                    (doc_base(pi as u32, si as u32) | d as u64) as f64,
                                )],
                                score: 1.0,
                                pos: (pi as u32, si as u32, d),
                            });
                        }
                        d = scorer.advance();
                    }
                    continue;
                }
                if k == 0 && req.aggs.is_empty() && post.is_none() && !need_score {
                    // only the total: tantivy counts without listing
                    total += weight.count(seg)? as u64;
                    continue;
                }
                let mut docs: Vec<DocId> = Vec::new();
                let mut scores: Vec<Score> = Vec::new();
                if need_score {
                    weight.for_each(seg, &mut |d, s| {
                        if !seg.is_deleted(d) {
                            docs.push(d);
                            scores.push(s);
                        }
                    })?;
                } else {
                    if seg.has_deletes() {
                        weight.for_each_no_score(seg, &mut |ds| {
                            docs.extend(ds.iter().copied().filter(|d| !seg.is_deleted(*d)));
                        })?;
                    } else {
                        weight.for_each_no_score(seg, &mut |ds| docs.extend_from_slice(ds))?;
                    }
                }
                if docs.is_empty() {
                    continue;
                }
                if !req.aggs.is_empty() {
                    let sctx = aggs::SegCtx {
                        part,
                        part_ord: pi as u32,
                        seg_ord: si as u32,
                        seg,
                    };
                    agg_state.collect(&sctx, &docs)?;
                }
                if let Some(pw) = &post {
                    let mut keep = DocBits::with_max_value(seg.max_doc());
                    pw.for_each_no_score(seg, &mut |ds| ds.iter().for_each(|d| keep.insert(*d)))?;
                    let mut nd = Vec::with_capacity(docs.len());
                    let mut ns = Vec::new();
                    for (j, d) in docs.iter().enumerate() {
                        if keep.contains(*d) {
                            nd.push(*d);
                            if need_score {
                                ns.push(scores[j]);
                            }
                        }
                    }
                    docs = nd;
                    scores = ns;
                }
                total += docs.len() as u64;
                if need_score {
                    for s in &scores {
                        max_score = Some(max_score.map_or(*s, |m: Score| m.max(*s)));
                    }
                }
                if k == 0 {
                    continue;
                }
                // Keys of every matched document, then the best k of them.
                let srcs = open_sort_srcs(&sorter, seg, &part.mapping, &part.name)?;
                let mut keys = KeyMaker::new(&srcs).with_doc_base(doc_base(pi as u32, si as u32));
                let n_keys = sorter.specs.len();
                let pos_of = |j: usize| -> Pos { (pi as u32, si as u32, docs[j]) };
                // The best k of the segment in one pass: rows are kept only
                // while they beat the k-th best seen so far (`bar`), so a
                // large match costs a key per document and few copies.
                let mut kept: Vec<(Vec<SortVal>, usize)> = Vec::with_capacity(2 * k.min(4096));
                let mut bar: Option<Vec<SortVal>> = None;
                let mut row: Vec<SortVal> = Vec::with_capacity(n_keys);
                let by_rank = |a: &(Vec<SortVal>, usize), b: &(Vec<SortVal>, usize)| {
                    sorter.cmp(&a.0, &b.0).then_with(|| a.1.cmp(&b.1))
                };
                // The first sort key read in blocks (a single-valued number
                // or date): a document worse on it than the bar is skipped
                // before its whole key row is made.
                let first_src = match srcs.first() {
                    Some(SortSrc::Field { col, missing })
                        if after_keys.is_none() && col.is_single_num() =>
                    {
                        Some((col, missing))
                    }
                    _ => None,
                };
                let mut firsts: Vec<Option<f64>> = Vec::new();
                let mut firsts_from = usize::MAX;
                // Logs are mostly stored in time order: when the last
                // document ranks before the first on the first key (newest
                // first), walk backwards so the bar rises at once. Ties
                // then meet the bar from the later side and are kept.
                let backwards = match (first_src, docs.first(), docs.last()) {
                    (Some((col, _)), Some(a), Some(z)) => {
                        match (col.first_num(*a), col.first_num(*z)) {
                            (Some(a), Some(z)) => {
                                sorter.cmp_first(&SortVal::Num(z), &SortVal::Num(a))
                                    == Ordering::Less
                            }
                            _ => false,
                        }
                    }
                    _ => false,
                };
                let n_docs = docs.len();
                for n in 0..n_docs {
                    let j = if backwards { n_docs - 1 - n } else { n };
                    let d = &docs[j];
                    if let (Some((col, missing)), Some(b)) = (first_src, bar.as_ref()) {
                        let block = j - j % columns::BLOCK;
                        if block != firsts_from {
                            let end = (block + columns::BLOCK).min(n_docs);
                            firsts_from = if col.first_nums(&docs[block..end], &mut firsts) {
                                block
                            } else {
                                usize::MAX
                            };
                        }
                        if let Some(v) = j.checked_sub(firsts_from).and_then(|i| firsts.get(i)) {
                            let first = match (v, missing) {
                                (Some(v), _) => SortVal::Num(*v),
                                (None, Some(m)) => m.clone(),
                                (None, None) => SortVal::Missing,
                            };
                            if sorter.cmp_first(&first, &b[0]) == Ordering::Greater {
                                continue;
                            }
                        }
                    }
                    row.clear();
                    let score = if need_score { scores[j] } else { 1.0 };
                    keys.key(*d, score, &mut row);
                    if let Some(ak) = &after_keys {
                        let after = match (sorter.cmp(&row, ak), after_pos) {
                            (Ordering::Greater, _) => true,
                            (Ordering::Equal, Some(ap)) => pos_of(j) > ap,
                            _ => false,
                        };
                        if !after {
                            continue;
                        }
                    }
                    // ties go to the earlier document: walking forwards, a
                    // tie with the bar is a later one and loses
                    if bar.as_ref().is_some_and(|b| match sorter.cmp(&row, b) {
                        Ordering::Less => false,
                        Ordering::Equal => !backwards,
                        Ordering::Greater => true,
                    }) {
                        continue;
                    }
                    kept.push((row.clone(), j));
                    if kept.len() >= 2 * k {
                        kept.select_nth_unstable_by(k - 1, by_rank);
                        kept.truncate(k);
                        bar = kept
                            .iter()
                            .max_by(|a, b| by_rank(a, b))
                            .map(|x| x.0.clone());
                    }
                }
                if kept.len() > k {
                    kept.select_nth_unstable_by(k - 1, by_rank);
                    kept.truncate(k);
                }
                for (keys_row, j) in kept {
                    cands.push(Cand {
                        keys: keys_row,
                        score: if need_score { scores[j] } else { 1.0 },
                        pos: pos_of(j),
                    });
                }
                if cands.len() > 4 * k.max(64) {
                    cands.sort_by(|a, b| sorter.cmp(&a.keys, &b.keys).then(a.pos.cmp(&b.pos)));
                    cands.truncate(k);
                }
            }
        }
        cands.sort_by(|a, b| sorter.cmp(&a.keys, &b.keys).then(a.pos.cmp(&b.pos)));
        let page: Vec<&Cand> = cands.iter().skip(req.from).take(req.size).collect();
        let show_sort = !req.sort.is_empty() && !sorter.is_score_only();
        let mut hits = Vec::with_capacity(page.len());
        for c in page {
            let part = &self.parts[c.pos.0 as usize];
            let (id, src) = load_id(&part.searcher, &part.fields, c.pos.1, c.pos.2)?;
            let sort_json: Vec<Value> = c
                .keys
                .iter()
                .enumerate()
                .map(|(i, v)| sort_value_json(v, &sorter.specs[i], &kinds[i]))
                .collect();
            let mut cursor = sort_json.clone();
            cursor.extend([json!(c.pos.0), json!(c.pos.1), json!(c.pos.2)]);
            // Cursor values must round-trip exactly; keep raw numbers there.
            for (i, v) in c.keys.iter().enumerate() {
                cursor[i] = match v {
                    SortVal::Num(f) => json!(f),
                    SortVal::Str(s) => json!(s.as_ref()),
                    SortVal::Missing => Value::Null,
                };
            }
            let time_ms = part
                .searcher
                .segment_reader(c.pos.1)
                .fast_fields()
                .date("@timestamp")
                .ok()
                .and_then(|col| col.first(c.pos.2))
                .map(|d| d.into_timestamp_millis());
            hits.push(Hit {
                time_ms,
                index: part.name.clone(),
                id,
                score: if show_sort && !req.track_scores {
                    None
                } else {
                    Some(c.score)
                },
                highlight: highlight.as_ref().and_then(|h| h.hit(&part.mapping, &src)),
                source: filter_source(src, &req.source),
                sort: if show_sort { Some(sort_json) } else { None },
                cursor,
            });
        }
        let aggregations = if req.aggs.is_empty() {
            None
        } else {
            Some(agg_state.finish(&self.parts)?)
        };
        let (total_v, exact, track) = match req.track_total_hits {
            TrackTotal::Exact => (total, true, true),
            TrackTotal::UpTo(n) if total > n => (n, false, true),
            TrackTotal::UpTo(_) => (total, true, true),
            TrackTotal::Off => (total, true, false),
        };
        Ok(SearchResult {
            total: total_v,
            total_exact: exact,
            track_total: track,
            max_score: if (show_sort && !req.track_scores) || req.size == 0 {
                None
            } else {
                max_score.or(if total > 0 { Some(1.0) } else { None })
            },
            hits,
            aggregations,
            timed_out,
            shards: self.parts.len(),
        })
    }
}

/// A set of document ids of one segment.
pub struct DocBits(Vec<u64>);

impl DocBits {
    pub fn with_max_value(max: u32) -> DocBits {
        DocBits(vec![0; (max as usize).div_ceil(64) + 1])
    }
    pub fn insert(&mut self, d: DocId) {
        if let Some(w) = self.0.get_mut(d as usize / 64) {
            *w |= 1 << (d % 64);
        }
    }
    pub fn contains(&self, d: DocId) -> bool {
        self.0
            .get(d as usize / 64)
            .is_some_and(|w| w & (1 << (d % 64)) != 0)
    }
}

/// Used by the aggregation engine's `filter`/`filters`: matching docs of a
/// sub-query in one segment.
pub fn matching_set(
    part: &Part,
    seg: &tantivy::SegmentReader,
    q: &Query,
) -> Result<DocBits, StoreError> {
    let ctx = Ctx {
        fields: &part.fields,
        mapping: &part.mapping,
        index_name: &part.name,
    };
    let w =
        compile::compile(&ctx, q)?.weight(EnableScoring::disabled_from_searcher(&part.searcher))?;
    let mut set = DocBits::with_max_value(seg.max_doc().max(1));
    w.for_each_no_score(seg, &mut |ds| ds.iter().for_each(|d| set.insert(*d)))?;
    Ok(set)
}

/// Load id and `_source` for top hits.
pub fn load_hit(part: &Part, seg: u32, doc: DocId) -> Result<(String, Value), StoreError> {
    load_id(&part.searcher, &part.fields, seg, doc)
}

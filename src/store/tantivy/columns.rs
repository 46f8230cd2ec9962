//! Reading field values of matched documents from tantivy's columnar fast
//! fields, for sorting and aggregations.

use std::collections::HashMap;
use std::sync::Arc;

use tantivy::columnar::{Cardinality, Column, DynamicColumn, StrColumn};
use tantivy::{DocId, SegmentReader};

use crate::store::mapping::{FieldKind, Mapping, Resolved};
use crate::store::StoreError;

/// A numeric column whatever type tantivy chose for it.
pub enum NumCol {
    I64(Column<i64>),
    U64(Column<u64>),
    F64(Column<f64>),
}

/// The values of one field in one segment.
pub enum FieldCol {
    Num(NumCol),
    /// Epoch milliseconds.
    Date(Column<tantivy::DateTime>),
    Str(StrColumn),
    Bool(Column<bool>),
    /// The same string for every document (`_index`).
    Const(Arc<str>),
    Absent,
}

/// How values of the field should be rendered.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueKind {
    Long,
    Float,
    /// A date shown in the field's format (`None`: `@timestamp`'s default).
    Date(Option<crate::query::date_format::DateFormat>),
    Str,
    Bool,
    Unknown,
}

/// A message field's `.keyword` in an index that keeps no column for it
/// cannot be aggregated or sorted on (Elasticsearch answers the same for a
/// keyword without doc values).
fn no_column_check(mapping: &Mapping, field: &str, r: &Resolved) -> Result<(), StoreError> {
    match r {
        Resolved::Path {
            path,
            kind: FieldKind::Text,
            keyword: true,
        } if !mapping.keyword_column(path) => Err(StoreError::BadQuery(format!(
            "[{field}] has no doc values: message fields are searched, not aggregated or sorted on \
             (exact and prefix matches on it work); aggregate on another field, or map [{path}] \
             as keyword in an index template"
        ))),
        _ => Ok(()),
    }
}

/// Resolve `field` for aggregation or sorting.
pub fn kind_of(mapping: &Mapping, field: &str) -> Result<ValueKind, StoreError> {
    let resolved = mapping.resolve(field);
    no_column_check(mapping, field, &resolved)?;
    Ok(match resolved {
        Resolved::Timestamp => ValueKind::Date(None),
        Resolved::Normalized(_) | Resolved::Index => ValueKind::Str,
        Resolved::Id => {
            return Err(StoreError::BadQuery(
                "Fielddata access on the _id field is disallowed".into(),
            ))
        }
        Resolved::Path { kind, .. } => match kind {
            FieldKind::Text | FieldKind::Keyword => ValueKind::Str,
            FieldKind::Long => ValueKind::Long,
            FieldKind::Float => ValueKind::Float,
            FieldKind::Boolean => ValueKind::Bool,
            k @ FieldKind::Date { .. } => ValueKind::Date(k.date_format()),
        },
        Resolved::Unmapped => ValueKind::Unknown,
    })
}

/// Open the column of `field` in one segment.
pub fn open(
    seg: &SegmentReader,
    mapping: &Mapping,
    field: &str,
    index_name: &str,
) -> Result<FieldCol, StoreError> {
    let ff = seg.fast_fields();
    let resolved = mapping.resolve(field);
    no_column_check(mapping, field, &resolved)?;
    Ok(match resolved {
        Resolved::Timestamp => FieldCol::Date(ff.date("@timestamp")?),
        Resolved::Normalized(name) => ff.str(name)?.map_or(FieldCol::Absent, FieldCol::Str),
        Resolved::Index => FieldCol::Const(Arc::from(index_name)),
        Resolved::Id => {
            return Err(StoreError::BadQuery(
                "Fielddata access on the _id field is disallowed".into(),
            ))
        }
        Resolved::Path { path, kind, .. } => {
            let name = format!("_kf.{path}");
            let handles = ff.dynamic_column_handles(&name)?;
            let want_str = matches!(kind, FieldKind::Text | FieldKind::Keyword);
            let mut found = FieldCol::Absent;
            for h in handles {
                let col = h.open()?;
                let c = match (col, &kind) {
                    (DynamicColumn::Str(c), _) if want_str => FieldCol::Str(c),
                    (DynamicColumn::I64(c), FieldKind::Long | FieldKind::Float) => {
                        FieldCol::Num(NumCol::I64(c))
                    }
                    (DynamicColumn::U64(c), FieldKind::Long | FieldKind::Float) => {
                        FieldCol::Num(NumCol::U64(c))
                    }
                    (DynamicColumn::F64(c), FieldKind::Long | FieldKind::Float) => {
                        FieldCol::Num(NumCol::F64(c))
                    }
                    (DynamicColumn::DateTime(c), FieldKind::Date { .. }) => FieldCol::Date(c),
                    (DynamicColumn::Bool(c), FieldKind::Boolean) => FieldCol::Bool(c),
                    _ => continue,
                };
                found = c;
                break;
            }
            found
        }
        Resolved::Unmapped => FieldCol::Absent,
    })
}

/// Documents read per batched column access.
pub const BLOCK: usize = 512;

/// Whether every document holds at most one value, so the batched reads
/// below see all of them.
pub fn single_valued<T: PartialOrd + Copy + std::fmt::Debug + Send + Sync + 'static>(
    c: &Column<T>,
) -> bool {
    c.get_cardinality() != Cardinality::Multivalued
}

/// The value of each of `docs` (at most [`BLOCK`]) in a single-valued
/// column, into `out`. tantivy's batched read skips the per-document
/// iterator, which is most of the cost of scanning a million documents.
pub fn first_vals<T: PartialOrd + Copy + std::fmt::Debug + Send + Sync + 'static>(
    c: &Column<T>,
    docs: &[DocId],
    out: &mut Vec<Option<T>>,
) {
    out.clear();
    out.resize(docs.len(), None);
    c.first_vals(docs, out);
}

impl FieldCol {
    /// The first numeric value of each of `docs` into `out` (as
    /// [`FieldCol::first_num`]); `false`, leaving `out` alone, when the
    /// column may hold several values per document or is not numeric.
    pub fn first_nums(&self, docs: &[DocId], out: &mut Vec<Option<f64>>) -> bool {
        fn conv<T: PartialOrd + Copy + std::fmt::Debug + Send + Sync + 'static>(
            c: &Column<T>,
            docs: &[DocId],
            out: &mut Vec<Option<f64>>,
            f: impl Fn(T) -> f64,
        ) -> bool {
            let mut tmp = Vec::with_capacity(docs.len());
            first_vals(c, docs, &mut tmp);
            out.clear();
            out.extend(tmp.into_iter().map(|v| v.map(&f)));
            true
        }
        if !self.is_single_num() {
            return false;
        }
        match self {
            FieldCol::Num(NumCol::I64(c)) => conv(c, docs, out, |v| v as f64),
            FieldCol::Num(NumCol::U64(c)) => conv(c, docs, out, |v| v as f64),
            FieldCol::Num(NumCol::F64(c)) => conv(c, docs, out, |v| v),
            FieldCol::Date(c) => conv(c, docs, out, |v| v.into_timestamp_millis() as f64),
            FieldCol::Bool(c) => conv(c, docs, out, |v| v as u8 as f64),
            _ => false,
        }
    }

    /// Whether [`FieldCol::first_nums`] reads this column.
    pub fn is_single_num(&self) -> bool {
        match self {
            FieldCol::Num(NumCol::I64(c)) => single_valued(c),
            FieldCol::Num(NumCol::U64(c)) => single_valued(c),
            FieldCol::Num(NumCol::F64(c)) => single_valued(c),
            FieldCol::Date(c) => single_valued(c),
            FieldCol::Bool(c) => single_valued(c),
            _ => false,
        }
    }

    /// Call `f` with each numeric value of `doc` (dates as epoch millis,
    /// booleans as 0/1).
    pub fn for_each_num(&self, doc: DocId, mut f: impl FnMut(f64)) {
        match self {
            FieldCol::Num(NumCol::I64(c)) => c.values_for_doc(doc).for_each(|v| f(v as f64)),
            FieldCol::Num(NumCol::U64(c)) => c.values_for_doc(doc).for_each(|v| f(v as f64)),
            FieldCol::Num(NumCol::F64(c)) => c.values_for_doc(doc).for_each(f),
            FieldCol::Date(c) => c
                .values_for_doc(doc)
                .for_each(|v| f(v.into_timestamp_millis() as f64)),
            FieldCol::Bool(c) => c.values_for_doc(doc).for_each(|v| f(v as u8 as f64)),
            _ => {}
        }
    }

    /// First numeric value (for sorting).
    pub fn first_num(&self, doc: DocId) -> Option<f64> {
        match self {
            FieldCol::Num(NumCol::I64(c)) => c.first(doc).map(|v| v as f64),
            FieldCol::Num(NumCol::U64(c)) => c.first(doc).map(|v| v as f64),
            FieldCol::Num(NumCol::F64(c)) => c.first(doc),
            FieldCol::Date(c) => c.first(doc).map(|v| v.into_timestamp_millis() as f64),
            FieldCol::Bool(c) => c.first(doc).map(|v| v as u8 as f64),
            _ => None,
        }
    }

    /// Whether values are strings (ordinals) rather than numbers.
    pub fn is_str(&self) -> bool {
        matches!(self, FieldCol::Str(_) | FieldCol::Const(_))
    }

    /// Number of values `doc` has.
    pub fn count(&self, doc: DocId) -> usize {
        match self {
            FieldCol::Num(NumCol::I64(c)) => c.values_for_doc(doc).count(),
            FieldCol::Num(NumCol::U64(c)) => c.values_for_doc(doc).count(),
            FieldCol::Num(NumCol::F64(c)) => c.values_for_doc(doc).count(),
            FieldCol::Date(c) => c.values_for_doc(doc).count(),
            FieldCol::Bool(c) => c.values_for_doc(doc).count(),
            FieldCol::Str(c) => c.term_ords(doc).count(),
            FieldCol::Const(_) => 1,
            FieldCol::Absent => 0,
        }
    }
}

/// Caches ordinal-to-string lookups of one string column.
pub struct StrCache<'a> {
    col: &'a StrColumn,
    cache: HashMap<u64, Arc<str>>,
    buf: String,
}

impl<'a> StrCache<'a> {
    pub fn new(col: &'a StrColumn) -> Self {
        StrCache {
            col,
            cache: HashMap::new(),
            buf: String::new(),
        }
    }

    pub fn get(&mut self, ord: u64) -> Arc<str> {
        if let Some(s) = self.cache.get(&ord) {
            return s.clone();
        }
        self.buf.clear();
        let _ = self.col.ord_to_str(ord, &mut self.buf);
        let s: Arc<str> = Arc::from(self.buf.as_str());
        self.cache.insert(ord, s.clone());
        s
    }
}

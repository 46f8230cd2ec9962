//! Turning an event into a tantivy document under the index's dynamic
//! mapping. New fields are added to the mapping the first time they are
//! seen; a value that does not fit its field's type is kept in `_source` but
//! not indexed (Elasticsearch's `ignore_malformed`), so no log line is lost
//! to a type clash.

use serde_json::{Map, Value};
use tantivy::schema::document::{ReferenceValue, ReferenceValueLeaf};
use tantivy::{DateTime, TantivyDocument};

use super::schema::{id_fingerprint, is_id_token, Fields, ID_TOKEN_MIN};
use crate::event::timestamp::{detect_date, parse_timestamp_str};
use crate::event::{self, Event};
use crate::store::mapping::{path_ok, FieldKind, Mapping, TIMESTAMP};

/// Longest string indexed as an exact `.keyword` value of a text field
/// (Elasticsearch's dynamic `ignore_above`).
pub const KEYWORD_IGNORE_ABOVE: usize = 256;
/// Tantivy and Lucene limit single terms; longer keywords are not indexed.
const MAX_TERM_BYTES: usize = 32_000;
/// Deeper objects than this are kept in `_source` only.
const MAX_DEPTH: usize = 32;
/// More distinct fields than this per index and new ones are not indexed.
pub const MAX_FIELDS: usize = 1_000;

/// One indexed value, borrowed from the record where it can be.
#[derive(Debug, Clone)]
enum Leaf<'r> {
    Str(&'r str),
    Owned(String),
    I64(i64),
    F64(f64),
    Bool(bool),
    Date(DateTime),
}

/// Values collected per JSON field, as flat `(dotted path, value)` pairs;
/// a path repeats for array elements (tantivy indexes each). Paths live in
/// one string and values borrow from the record, so building a document
/// copies each value once, into tantivy's own document.
#[derive(Default)]
struct Builder<'r> {
    paths: String,
    text: Vec<(u32, u32, Leaf<'r>)>,
    kf: Vec<(u32, u32, Leaf<'r>)>,
    mapping_changed: bool,
    malformed: u32,
    names: Vec<String>,
    /// Zone for naive date strings.
    tz: Option<jiff::tz::TimeZone>,
    /// Fingerprints of the id-like tokens of text values, when the index
    /// keeps them in `_hx` instead of its term dictionary.
    id_fps: Option<Vec<u64>>,
    profile: event::FieldProfile,
}

/// A view of the collected pairs as a tantivy JSON object.
#[derive(Debug, Clone, Copy)]
enum View<'a> {
    Object(&'a str, &'a [(u32, u32, Leaf<'a>)]),
    Leaf(&'a Leaf<'a>),
}

impl<'a> tantivy::schema::Value<'a> for View<'a> {
    type ArrayIter = std::iter::Empty<View<'a>>;
    type ObjectIter = ObjectIter<'a>;

    fn as_value(&self) -> ReferenceValue<'a, Self> {
        match *self {
            View::Object(paths, entries) => ReferenceValue::Object(ObjectIter { paths, entries }),
            View::Leaf(l) => ReferenceValue::Leaf(match l {
                Leaf::Str(s) => ReferenceValueLeaf::Str(s),
                Leaf::Owned(s) => ReferenceValueLeaf::Str(s.as_str()),
                Leaf::I64(n) => ReferenceValueLeaf::I64(*n),
                Leaf::F64(f) => ReferenceValueLeaf::F64(*f),
                Leaf::Bool(b) => ReferenceValueLeaf::Bool(*b),
                Leaf::Date(d) => ReferenceValueLeaf::Date(*d),
            }),
        }
    }
}

/// Walks the pairs of a [`View::Object`].
struct ObjectIter<'a> {
    paths: &'a str,
    entries: &'a [(u32, u32, Leaf<'a>)],
}

impl<'a> Iterator for ObjectIter<'a> {
    type Item = (&'a str, View<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let ((start, end, leaf), rest) = self.entries.split_first()?;
        self.entries = rest;
        let path = self.paths.get(*start as usize..*end as usize).unwrap_or("");
        Some((path, View::Leaf(leaf)))
    }
}

fn date(ms: i64) -> DateTime {
    // tantivy keeps dates as i64 nanoseconds (years 1677..2262): saturate
    // instead of overflowing (a panic in debug builds, wrong dates in release).
    DateTime::from_timestamp_nanos(ms.saturating_mul(1_000_000))
}

impl<'r> Builder<'r> {
    /// The path of the current leaf, stored once for all its values.
    fn path_range(&mut self, path: &str) -> (u32, u32) {
        let start = self.paths.len() as u32;
        self.paths.push_str(path);
        (start, self.paths.len() as u32)
    }

    fn leaf(&mut self, mapping: &mut Mapping, path: &str, v: &'r Value, now_ms: i64) {
        let kind = match mapping.fields.get(path) {
            Some(k) => k.clone(),
            None => {
                if mapping.fields.len() >= MAX_FIELDS || !path_ok(path) {
                    return;
                }
                let k = match v {
                    Value::String(_) if self.profile.keyword(path) => FieldKind::Keyword,
                    Value::String(s) => match detect_date(s) {
                        Some((_, shape)) => FieldKind::dynamic_date(shape),
                        None => FieldKind::Text,
                    },
                    Value::Number(n) if n.is_i64() || n.is_u64() => FieldKind::Long,
                    Value::Number(_) => FieldKind::Float,
                    Value::Bool(_) => FieldKind::Boolean,
                    _ => return,
                };
                mapping.fields.insert(path.to_string(), k.clone());
                self.mapping_changed = true;
                k
            }
        };
        let mut no_column = false;
        let (start, end) = self.path_range(path);
        let push = |m: &mut Vec<(u32, u32, Leaf<'r>)>, val: Leaf<'r>| {
            m.push((start, end, val));
        };
        let as_string = || match v {
            Value::String(s) => Some(Leaf::Str(s.as_str())),
            Value::Number(n) => Some(Leaf::Owned(n.to_string())),
            Value::Bool(b) => Some(Leaf::Str(if *b { "true" } else { "false" })),
            _ => None,
        };
        let len = |l: &Leaf| match l {
            Leaf::Str(s) => s.len(),
            Leaf::Owned(s) => s.len(),
            _ => 0,
        };
        let ok = match kind {
            FieldKind::Text => match as_string() {
                Some(s) => {
                    if len(&s) <= KEYWORD_IGNORE_ABOVE
                        && self.profile.keyword_column(path)
                        && mapping.keyword_column(path)
                    {
                        push(&mut self.kf, s.clone());
                    } else {
                        // No column value: `exists` needs the name listed.
                        no_column = true;
                    }
                    if let Some(fps) = self.id_fps.as_mut() {
                        match &s {
                            Leaf::Str(t) => id_fingerprints(t, fps),
                            Leaf::Owned(t) => id_fingerprints(t, fps),
                            _ => {}
                        }
                    }
                    push(&mut self.text, s);
                    true
                }
                None => false,
            },
            FieldKind::Keyword => match as_string() {
                Some(s) if len(&s) <= MAX_TERM_BYTES => {
                    push(&mut self.kf, s);
                    true
                }
                _ => false,
            },
            FieldKind::Long => {
                let n = match v {
                    Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
                    Value::String(s) => s
                        .trim()
                        .parse::<i64>()
                        .ok()
                        .or_else(|| s.trim().parse::<f64>().ok().map(|f| f as i64)),
                    _ => None,
                };
                n.map(|n| push(&mut self.kf, Leaf::I64(n))).is_some()
            }
            FieldKind::Float => {
                let n = match v {
                    Value::Number(n) => n.as_f64(),
                    Value::String(s) => s.trim().parse::<f64>().ok(),
                    _ => None,
                };
                n.filter(|f| f.is_finite())
                    .map(|f| push(&mut self.kf, Leaf::F64(f)))
                    .is_some()
            }
            FieldKind::Boolean => {
                let b = match v {
                    Value::Bool(b) => Some(*b),
                    Value::String(s) if s == "true" => Some(true),
                    Value::String(s) if s == "false" => Some(false),
                    _ => None,
                };
                b.map(|b| push(&mut self.kf, Leaf::Bool(b))).is_some()
            }
            FieldKind::Date { format, .. } => {
                let ms = match (format, v) {
                    // An explicit format is the contract: only what it reads
                    // is indexed (numbers are read as their text, as in
                    // Elasticsearch, so `epoch_millis` must be listed).
                    (Some(f), Value::String(s)) => {
                        f.parse(s, self.tz.as_ref().unwrap_or(&jiff::tz::TimeZone::UTC))
                    }
                    (Some(f), Value::Number(n)) => f.parse(
                        &n.to_string(),
                        self.tz.as_ref().unwrap_or(&jiff::tz::TimeZone::UTC),
                    ),
                    (None, Value::String(s)) => parse_timestamp_str(s, self.tz.as_ref(), now_ms),
                    // Numbers in a date field are epoch millis, as in Elasticsearch.
                    (None, Value::Number(n)) => n.as_i64(),
                    _ => None,
                };
                ms.map(|ms| push(&mut self.kf, Leaf::Date(date(ms))))
                    .is_some()
            }
        };
        if !ok {
            self.malformed += 1;
        } else if no_column {
            let mut p = path;
            loop {
                self.names.push(p.to_string());
                match p.rfind('.') {
                    Some(i) => p = &p[..i],
                    None => break,
                }
            }
        }
    }

    fn walk(
        &mut self,
        mapping: &mut Mapping,
        path: &mut String,
        v: &'r Value,
        depth: usize,
        now_ms: i64,
    ) {
        if depth > MAX_DEPTH {
            return;
        }
        match v {
            Value::Null => {}
            Value::Object(m) => self.walk_object(mapping, path, m, depth + 1, now_ms),
            Value::Array(a) => {
                for x in a {
                    self.walk(mapping, path, x, depth + 1, now_ms);
                }
            }
            leaf => self.leaf(mapping, path, leaf, now_ms),
        }
    }

    fn walk_object(
        &mut self,
        mapping: &mut Mapping,
        path: &mut String,
        m: &'r Map<String, Value>,
        depth: usize,
        now_ms: i64,
    ) {
        let top = path.is_empty();
        for (k, v) in m {
            if k.is_empty() || (top && (k == TIMESTAMP || k.starts_with('_') && is_meta(k))) {
                continue;
            }
            let len = path.len();
            if !top {
                path.push('.');
            }
            path.push_str(k);
            self.walk(mapping, path, v, depth, now_ms);
            path.truncate(len);
        }
    }
}

/// Metadata field names a document body may not use for its own fields.
fn is_meta(k: &str) -> bool {
    matches!(
        k,
        "_id" | "_index" | "_source" | "_routing" | "_type" | "_version"
    )
}

/// Adds the fingerprints of the id-like tokens of `text` (as the `_text`
/// analyser splits it) to `out`.
fn id_fingerprints(text: &str, out: &mut Vec<u64>) {
    // most values have no run of hex digits long enough: skip tokenizing them
    let mut run = 0;
    if !text.bytes().any(|b| {
        run = if b.is_ascii_hexdigit() { run + 1 } else { 0 };
        run >= ID_TOKEN_MIN
    }) {
        return;
    }
    for (_, w) in super::words::words(text) {
        if is_id_token(w) {
            out.push(id_fingerprint(&w.to_ascii_lowercase()));
        }
    }
}

/// What building a document found out besides the document.
pub struct Built {
    pub doc: TantivyDocument,
    pub mapping_changed: bool,
    /// Values that did not fit their field's type and were not indexed.
    pub malformed: u32,
}

/// Build the document for `ev` whose parsed record is `record`; `now` is
/// what relative dates in it are read against (one clock read per batch).
pub fn build(
    fields: &Fields,
    mapping: &mut Mapping,
    ev: &Event,
    record: &Map<String, Value>,
    tz: Option<&jiff::tz::TimeZone>,
    now: i64,
) -> Built {
    let mut b = Builder {
        tz: tz.cloned(),
        profile: ev.profile,
        paths: String::with_capacity(256),
        id_fps: fields.id_tokens.map(|_| Vec::new()),
        ..Builder::default()
    };
    let mut path = String::with_capacity(64);
    b.walk_object(mapping, &mut path, record, 0, now);
    let mut doc = TantivyDocument::new();
    // A generated id goes to the id columns; an id the client chose is text
    // (it may be replaced by id later, and has any shape).
    match (fields.compact_id, ev.explicit_id) {
        (Some(cols), false) => match event::DocId::decode(&ev.id) {
            Some(id) => {
                doc.add_u64(cols.ms, id.ms);
                doc.add_u64(cols.seq, id.seq);
                doc.add_u64(cols.node, id.node);
            }
            None => doc.add_text(fields.id, &ev.id),
        },
        _ => doc.add_text(fields.id, &ev.id),
    }
    doc.add_bytes(fields.source, &ev.source);
    doc.add_date(fields.timestamp, date(ev.timestamp_ms));
    if !b.text.is_empty() {
        doc.add_field_value(fields.text, View::Object(&b.paths, &b.text));
    }
    if !b.kf.is_empty() {
        doc.add_field_value(fields.kf, View::Object(&b.paths, &b.kf));
    }
    if let (Some(f), Some(fps)) = (fields.id_tokens, b.id_fps.as_mut()) {
        fps.sort_unstable();
        fps.dedup();
        for fp in fps.iter() {
            doc.add_u64(f, *fp);
        }
    }
    b.names.sort_unstable();
    b.names.dedup();
    for n in &b.names {
        doc.add_text(fields.names, n);
    }
    let found = event::detect(record);
    if let Some(l) = found.level {
        doc.add_text(fields.level, l.as_str());
    }
    if let Some(s) = found.service {
        doc.add_text(fields.service, s);
    }
    if let Some(h) = found.host {
        doc.add_text(fields.host, h);
    }
    if let (Some(f), Some(id)) = (fields.pattern, ev.pattern) {
        doc.add_text(f, crate::analysis::patterns::PatternId(id).to_hex());
    }
    Built {
        doc,
        mapping_changed: b.mapping_changed,
        malformed: b.malformed,
    }
}

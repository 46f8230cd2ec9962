//! Finding documents by id when generated ids are kept as three numeric
//! columns ([`super::schema::IdColumns`]) and client-chosen ids as text in
//! `_id`. Every lookup asks both: the text term, and the columns when the id
//! has the generated shape. A segment whose columns' value ranges cannot
//! hold the id is skipped without reading it.

use std::collections::HashSet;
use std::sync::Arc;

use tantivy::columnar::Column;
use tantivy::query::{
    BitSetDocSet, BooleanQuery, ConstScorer, EmptyScorer, EnableScoring, Explanation, Occur, Query,
    RegexQuery, Scorer, TermSetQuery, Weight,
};
use tantivy::{BitSet, DocId, Score, SegmentReader, Term};

use super::columns::{first_vals, BLOCK};
use super::fast_match::Matcher;
use super::schema::{Fields, ID_MS, ID_NODE, ID_SEQ};
use crate::event::DocId as GenId;

/// Which generated ids match.
#[derive(Debug, Clone)]
enum IdFilter {
    Set(Arc<HashSet<GenId>>),
    /// Ids whose text the matcher accepts (a regex over every document).
    Pattern(Matcher),
}

/// Documents whose generated id matches, read from the id columns.
#[derive(Debug, Clone)]
pub struct CompactIdQuery {
    filter: IdFilter,
}

impl CompactIdQuery {
    /// The documents with one of `ids`; `None` when none has the generated
    /// shape (then only the text ids can match).
    pub fn ids<'a>(ids: impl IntoIterator<Item = &'a str>) -> Option<CompactIdQuery> {
        let set: HashSet<GenId> = ids.into_iter().filter_map(GenId::decode).collect();
        (!set.is_empty()).then(|| CompactIdQuery {
            filter: IdFilter::Set(Arc::new(set)),
        })
    }

    /// The documents whose id text `m` accepts.
    pub fn pattern(m: Matcher) -> CompactIdQuery {
        CompactIdQuery {
            filter: IdFilter::Pattern(m),
        }
    }
}

/// The three id columns of a segment, when it has them.
struct Cols {
    ms: Column<u64>,
    seq: Column<u64>,
    node: Column<u64>,
}

fn open(reader: &SegmentReader) -> tantivy::Result<Option<Cols>> {
    let ff = reader.fast_fields();
    let (Some(ms), Some(seq), Some(node)) = (
        ff.u64(ID_MS).ok(),
        ff.u64(ID_SEQ).ok(),
        ff.u64(ID_NODE).ok(),
    ) else {
        return Ok(None);
    };
    Ok(Some(Cols { ms, seq, node }))
}

impl Cols {
    fn id(&self, doc: DocId) -> Option<GenId> {
        Some(GenId {
            ms: self.ms.first(doc)?,
            seq: self.seq.first(doc)?,
            node: self.node.first(doc)?,
        })
    }

    fn may_hold(&self, id: &GenId) -> bool {
        let within = |c: &Column<u64>, v: u64| c.min_value() <= v && v <= c.max_value();
        within(&self.seq, id.seq) && within(&self.ms, id.ms) && within(&self.node, id.node)
    }
}

/// The generated id of `doc`, when it has one.
pub fn id_of(reader: &SegmentReader, doc: DocId) -> tantivy::Result<Option<String>> {
    Ok(open(reader)?.and_then(|c| c.id(doc)).map(|id| id.encode()))
}

impl CompactIdQuery {
    fn matching_docs(&self, reader: &SegmentReader) -> tantivy::Result<Option<BitSet>> {
        let Some(cols) = open(reader)? else {
            return Ok(None);
        };
        if cols.seq.values.num_vals() == 0 {
            return Ok(None);
        }
        let max_doc = reader.max_doc();
        let mut docs = BitSet::with_max_value(max_doc.max(1));
        let mut n = 0;
        match &self.filter {
            IdFilter::Set(set) => {
                let wanted: Vec<&GenId> = set.iter().filter(|id| cols.may_hold(id)).collect();
                if wanted.is_empty() {
                    return Ok(None);
                }
                if wanted.len() <= 64 {
                    // The column's own range scan, one per id.
                    let mut buf = Vec::new();
                    for id in wanted {
                        buf.clear();
                        cols.seq
                            .get_docids_for_value_range(id.seq..=id.seq, 0..max_doc, &mut buf);
                        for &d in &buf {
                            if cols.id(d).as_ref() == Some(id) {
                                docs.insert(d);
                                n += 1;
                            }
                        }
                    }
                } else {
                    let seqs: HashSet<u64> = wanted.iter().map(|id| id.seq).collect();
                    scan(&cols, max_doc, |d, seq| {
                        if seqs.contains(&seq) {
                            if let Some(id) = cols.id(d) {
                                if set.contains(&id) {
                                    docs.insert(d);
                                    n += 1;
                                }
                            }
                        }
                    });
                }
            }
            IdFilter::Pattern(m) => scan(&cols, max_doc, |d, _| {
                if let Some(id) = cols.id(d) {
                    if m.matches(&id.encode()) {
                        docs.insert(d);
                        n += 1;
                    }
                }
            }),
        }
        Ok((n > 0).then_some(docs))
    }
}

/// Every document with a generated id and its sequence number, read in
/// tantivy's batches.
fn scan(cols: &Cols, max_doc: DocId, mut f: impl FnMut(DocId, u64)) {
    let mut block = Vec::with_capacity(BLOCK);
    let mut vals = Vec::with_capacity(BLOCK);
    let mut start = 0;
    while start < max_doc {
        let end = (start + BLOCK as DocId).min(max_doc);
        block.clear();
        block.extend(start..end);
        first_vals(&cols.seq, &block, &mut vals);
        for (d, v) in block.iter().zip(&vals) {
            if let Some(seq) = v {
                f(*d, *seq);
            }
        }
        start = end;
    }
}

impl Query for CompactIdQuery {
    fn weight(&self, _scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(self.clone()))
    }
}

impl Weight for CompactIdQuery {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        Ok(match self.matching_docs(reader)? {
            Some(docs) => Box::new(ConstScorer::new(BitSetDocSet::from(docs), boost)),
            None => Box::new(EmptyScorer),
        })
    }

    fn explain(&self, _reader: &SegmentReader, _doc: DocId) -> tantivy::Result<Explanation> {
        Ok(Explanation::new("generated id in the id columns", 1.0))
    }
}

/// The documents with one of `ids`, text or generated.
pub fn ids_query(fields: &Fields, ids: &[String]) -> Box<dyn Query> {
    let text = TermSetQuery::new(ids.iter().map(|s| Term::from_field_text(fields.id, s)));
    match (
        fields.compact_id,
        CompactIdQuery::ids(ids.iter().map(String::as_str)),
    ) {
        (Some(_), Some(c)) => Box::new(BooleanQuery::new(vec![
            (Occur::Should, Box::new(text) as Box<dyn Query>),
            (Occur::Should, Box::new(c)),
        ])),
        _ => Box::new(text),
    }
}

/// The documents whose id matches `regex` (anchored, as Lucene's are).
pub fn regex_query(fields: &Fields, regex: &str) -> Result<Box<dyn Query>, String> {
    let text = RegexQuery::from_pattern(regex, fields.id)
        .map_err(|e| format!("invalid pattern [{regex}]: {e}"))?;
    if fields.compact_id.is_none() {
        return Ok(Box::new(text));
    }
    let re = regex::Regex::new(&format!("^(?:{regex})$"))
        .map_err(|e| format!("invalid pattern [{regex}]: {e}"))?;
    Ok(Box::new(BooleanQuery::new(vec![
        (Occur::Should, Box::new(text) as Box<dyn Query>),
        (
            Occur::Should,
            Box::new(CompactIdQuery::pattern(Matcher::Regex(Arc::new(re)))),
        ),
    ])))
}

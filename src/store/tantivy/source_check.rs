//! Exact matches on a text field that keeps no `.keyword` column (the
//! message fields of newer indices): candidates come from the text index
//! (documents with the value's words, or with the field at all) and each is
//! checked against its `_source`, so the answer is the one the column gave.
//! It costs a stored-document read per candidate, which is fine for the
//! exact-message lookups it serves and slow (about a second per million
//! candidates) for a regex over every message.

use tantivy::query::{
    BitSetDocSet, BooleanQuery, ConstScorer, EmptyScorer, EnableScoring, Explanation, Occur, Query,
    Scorer, TermQuery, Weight,
};
use tantivy::schema::{IndexRecordOption, Value as _};
use tantivy::{BitSet, DocId, DocSet, Score, SegmentReader, TantivyDocument, Term, TERMINATED};

use super::document::KEYWORD_IGNORE_ABOVE;
use super::fast_match::Matcher;
use super::schema::{analyze, Fields};

/// What a string value at the path must satisfy.
#[derive(Debug, Clone)]
pub enum Check {
    /// The whole value (at most [`KEYWORD_IGNORE_ABOVE`] bytes, as the
    /// `.keyword` column kept), by a matcher.
    Exact(Matcher),
    /// The value's analysed tokens contain these consecutively (the last
    /// one as a prefix when `prefix_last`); with `slop` above 0, anywhere.
    Tokens {
        toks: Vec<String>,
        prefix_last: bool,
        slop: u32,
    },
}

impl Check {
    fn accepts(&self, s: &str) -> bool {
        match self {
            Check::Exact(m) => s.len() <= KEYWORD_IGNORE_ABOVE && m.matches(s),
            Check::Tokens {
                toks,
                prefix_last,
                slop,
            } => {
                let have = analyze(s);
                let eq = |i: usize, h: &str| match toks.get(i) {
                    Some(t) if *prefix_last && i + 1 == toks.len() => h.starts_with(t.as_str()),
                    Some(t) => h == t,
                    None => false,
                };
                if toks.is_empty() {
                    return false;
                }
                if *slop > 0 {
                    return (0..toks.len()).all(|i| have.iter().any(|h| eq(i, h)));
                }
                have.len() >= toks.len()
                    && (0..=have.len() - toks.len())
                        .any(|at| (0..toks.len()).all(|i| eq(i, &have[at + i])))
            }
        }
    }
}

/// Documents whose `path` in `_source` has a string value the check
/// accepts, among `candidates`.
#[derive(Debug)]
pub struct SourceCheckQuery {
    candidates: Box<dyn Query>,
    source: tantivy::schema::Field,
    path: String,
    check: Check,
}

impl SourceCheckQuery {
    /// `words` are text the value must contain (its analysed tokens narrow
    /// the candidates); empty means every document with the field.
    pub fn new(fields: &Fields, path: &str, words: &str, matcher: Matcher) -> SourceCheckQuery {
        let tokens = analyze(words);
        let candidates: Box<dyn Query> = if tokens.is_empty() {
            Box::new(TermQuery::new(
                Term::from_field_text(fields.names, path),
                IndexRecordOption::Basic,
            ))
        } else {
            Box::new(BooleanQuery::new(
                tokens
                    .iter()
                    .map(|t| {
                        let mut term = Term::from_field_json_path(fields.text, path, true);
                        term.append_type_and_str(t);
                        (
                            Occur::Must,
                            Box::new(TermQuery::new(term, IndexRecordOption::Basic))
                                as Box<dyn Query>,
                        )
                    })
                    .collect(),
            ))
        };
        Self::with_candidates(candidates, fields, path, Check::Exact(matcher))
    }

    /// Checks `candidates` (a superset of the answer) against `_source`.
    pub fn with_candidates(
        candidates: Box<dyn Query>,
        fields: &Fields,
        path: &str,
        check: Check,
    ) -> SourceCheckQuery {
        SourceCheckQuery {
            candidates,
            source: fields.source,
            path: path.to_string(),
            check,
        }
    }
}

impl Clone for SourceCheckQuery {
    fn clone(&self) -> Self {
        SourceCheckQuery {
            candidates: self.candidates.box_clone(),
            source: self.source,
            path: self.path.clone(),
            check: self.check.clone(),
        }
    }
}

impl Query for SourceCheckQuery {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let inner = self.candidates.weight(match scoring {
            EnableScoring::Enabled { searcher, .. } => {
                EnableScoring::disabled_from_searcher(searcher)
            }
            other => other,
        })?;
        Ok(Box::new(SourceCheckWeight {
            inner,
            source: self.source,
            path: self.path.clone(),
            check: self.check.clone(),
        }))
    }
}

struct SourceCheckWeight {
    inner: Box<dyn Weight>,
    source: tantivy::schema::Field,
    path: String,
    check: Check,
}

/// Whether a value at `path` (dotted, through objects and arrays) of
/// `v` is a string the check accepts.
fn value_matches(v: &serde_json::Value, path: &str, m: &Check) -> bool {
    match v {
        serde_json::Value::Array(items) => items.iter().any(|i| value_matches(i, path, m)),
        serde_json::Value::String(s) if path.is_empty() => m.accepts(s),
        serde_json::Value::Object(o) if !path.is_empty() => {
            // a literal dotted key first, then each split point
            if let Some(x) = o.get(path) {
                if value_matches(x, "", m) {
                    return true;
                }
            }
            let mut at = 0;
            while let Some(i) = path[at..].find('.') {
                let (head, tail) = (&path[..at + i], &path[at + i + 1..]);
                if let Some(x) = o.get(head) {
                    if value_matches(x, tail, m) {
                        return true;
                    }
                }
                at += i + 1;
            }
            false
        }
        _ => false,
    }
}

impl SourceCheckWeight {
    fn matching_docs(&self, reader: &SegmentReader) -> tantivy::Result<Option<BitSet>> {
        let mut cands = self.inner.scorer(reader, 1.0)?;
        if cands.doc() == TERMINATED {
            return Ok(None);
        }
        let store = reader.get_store_reader(8)?;
        let alive = reader.alive_bitset();
        let mut docs = BitSet::with_max_value(reader.max_doc().max(1));
        let mut n = 0;
        let mut d = cands.doc();
        while d != TERMINATED {
            if alive.is_none_or(|a| a.is_alive(d)) {
                let doc: TantivyDocument = store.get(d)?;
                let src = doc.get_first(self.source).and_then(|v| v.as_bytes());
                if let Some(Ok(v)) = src.map(serde_json::from_slice::<serde_json::Value>) {
                    if value_matches(&v, &self.path, &self.check) {
                        docs.insert(d);
                        n += 1;
                    }
                }
            }
            d = cands.advance();
        }
        Ok((n > 0).then_some(docs))
    }
}

impl Weight for SourceCheckWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        Ok(match self.matching_docs(reader)? {
            Some(docs) => Box::new(ConstScorer::new(BitSetDocSet::from(docs), boost)),
            None => Box::new(EmptyScorer),
        })
    }

    fn explain(&self, _reader: &SegmentReader, _doc: DocId) -> tantivy::Result<Explanation> {
        Ok(Explanation::new("exact value checked against _source", 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::Arc;

    fn set(v: &str) -> Check {
        Check::Exact(Matcher::Set(Arc::new(HashSet::from([v.to_string()]))))
    }

    fn toks(t: &[&str], prefix_last: bool, slop: u32) -> Check {
        Check::Tokens {
            toks: t.iter().map(|s| s.to_string()).collect(),
            prefix_last,
            slop,
        }
    }

    #[test]
    fn token_checks_follow_the_analyser() {
        let v = "GET /cart 200 user=bob req_id=BD9C66B3AD3C2D6D";
        assert!(toks(&["req_id", "bd9c66b3ad3c2d6d"], false, 0).accepts(v));
        assert!(!toks(&["bd9c66b3ad3c2d6d", "req_id"], false, 0).accepts(v));
        assert!(toks(&["bd9c66b3ad3c2d6d", "req_id"], false, 2).accepts(v));
        assert!(toks(&["bd9c66"], true, 0).accepts(v));
        assert!(!toks(&["bd9c66"], false, 0).accepts(v));
        assert!(toks(&["bob", "req_id", "bd9c"], true, 0).accepts(v));
        assert!(!toks(&[], false, 0).accepts(v));
    }

    #[test]
    fn values_are_found_through_objects_arrays_and_dotted_keys() {
        let v = serde_json::json!({
            "message": "a b",
            "log": {"msg": ["x", "y"]},
            "k.dot": "lit",
            "long": "z".repeat(KEYWORD_IGNORE_ABOVE + 1),
        });
        assert!(value_matches(&v, "message", &set("a b")));
        assert!(!value_matches(&v, "message", &set("a")));
        assert!(value_matches(&v, "log.msg", &set("y")));
        assert!(value_matches(&v, "k.dot", &set("lit")));
        assert!(!value_matches(&v, "missing", &set("a b")));
        let long = "z".repeat(KEYWORD_IGNORE_ABOVE + 1);
        assert!(
            !value_matches(&v, "long", &set(&long)),
            "over ignore_above, as the column"
        );
    }
}

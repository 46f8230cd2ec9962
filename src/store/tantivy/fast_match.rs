//! Exact-value matching on string fast-field columns: the dictionary of each
//! segment's column is tested once per distinct value (set membership, a
//! regex, or an edit distance), then the documents whose ordinals matched
//! are collected. This replaces an inverted index for keyword values.

use std::collections::HashSet;
use std::sync::Arc;

use tantivy::query::{
    BitSetDocSet, ConstScorer, EmptyScorer, EnableScoring, Explanation, Query, Scorer, Weight,
};
use tantivy::{BitSet, DocId, Score, SegmentReader};

/// Which dictionary values match.
#[derive(Debug, Clone)]
pub enum Matcher {
    Set(Arc<HashSet<String>>),
    Regex(Arc<regex::Regex>),
    /// Within this Levenshtein distance of the value.
    Fuzzy(Arc<str>, u8),
}

impl Matcher {
    /// Whether `s` is one of the values this matcher accepts.
    pub fn matches(&self, s: &str) -> bool {
        match self {
            Matcher::Set(set) => set.contains(s),
            Matcher::Regex(re) => re.is_match(s),
            Matcher::Fuzzy(v, d) => levenshtein_within(v, s, *d as usize),
        }
    }
}

/// Bounded Levenshtein distance check.
fn levenshtein_within(a: &str, b: &str, max: usize) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > max {
        return false;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + (ca != cb) as usize)
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        if cur.iter().min().copied().unwrap_or(0) > max {
            return false;
        }
        prev = cur;
    }
    prev[b.len()] <= max
}

/// Documents whose string column `column` has a value the matcher accepts.
#[derive(Debug, Clone)]
pub struct FastStrQuery {
    pub column: String,
    pub matcher: Matcher,
}

impl FastStrQuery {
    pub fn set(column: String, values: impl IntoIterator<Item = String>) -> FastStrQuery {
        FastStrQuery {
            column,
            matcher: Matcher::Set(Arc::new(values.into_iter().collect())),
        }
    }
}

impl Query for FastStrQuery {
    fn weight(&self, _scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(self.clone()))
    }
}

impl FastStrQuery {
    fn matching_docs(&self, reader: &SegmentReader) -> tantivy::Result<Option<BitSet>> {
        let Some(col) = reader.fast_fields().str(&self.column)? else {
            return Ok(None);
        };
        let dict = col.dictionary();
        let mut ok = vec![false; col.num_terms()];
        let mut any = false;
        match &self.matcher {
            Matcher::Set(set) if set.len() < 64 => {
                for v in set.iter() {
                    if let Some(o) = dict.term_ord(v.as_bytes())? {
                        if let Some(x) = ok.get_mut(o as usize) {
                            *x = true;
                            any = true;
                        }
                    }
                }
            }
            m => {
                let mut stream = dict.stream()?;
                while stream.advance() {
                    if let Ok(s) = std::str::from_utf8(stream.key()) {
                        if m.matches(s) {
                            if let Some(x) = ok.get_mut(stream.term_ord() as usize) {
                                *x = true;
                                any = true;
                            }
                        }
                    }
                }
            }
        }
        if !any {
            return Ok(None);
        }
        let max_doc = reader.max_doc();
        let mut docs = BitSet::with_max_value(max_doc.max(1));
        let mut n = 0;
        // Runs of consecutive matching ordinals: the column's own range scan
        // is much faster than reading documents one by one.
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for (o, hit) in ok.iter().enumerate() {
            if !*hit {
                continue;
            }
            match runs.last_mut() {
                Some(r) if r.1 + 1 == o as u64 => r.1 = o as u64,
                _ => runs.push((o as u64, o as u64)),
            }
        }
        if runs.len() <= 64 {
            let mut buf = Vec::new();
            for (lo, hi) in runs {
                buf.clear();
                col.ords()
                    .get_docids_for_value_range(lo..=hi, 0..max_doc, &mut buf);
                for d in &buf {
                    docs.insert(*d);
                    n += 1;
                }
            }
        } else {
            for d in 0..max_doc {
                if col
                    .term_ords(d)
                    .any(|o| ok.get(o as usize).copied().unwrap_or(false))
                {
                    docs.insert(d);
                    n += 1;
                }
            }
        }
        Ok((n > 0).then_some(docs))
    }
}

impl Weight for FastStrQuery {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        Ok(match self.matching_docs(reader)? {
            Some(docs) => Box::new(ConstScorer::new(BitSetDocSet::from(docs), boost)),
            None => Box::new(EmptyScorer),
        })
    }

    fn explain(&self, _reader: &SegmentReader, _doc: DocId) -> tantivy::Result<Explanation> {
        Ok(Explanation::new("exact match on a keyword column", 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance() {
        assert!(levenshtein_within("error", "eror", 1));
        assert!(levenshtein_within("app1", "app2", 1));
        assert!(!levenshtein_within("app1", "service", 2));
        assert!(levenshtein_within("", "ab", 2));
    }
}

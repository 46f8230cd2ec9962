//! The engine-neutral query model. The Elasticsearch DSL and the Lucene
//! query-string syntax are parsed into these types; each store backend
//! translates them to its own engine. Nothing here knows about tantivy.

use serde_json::Value;

/// How the terms of an analysed `match` combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Or,
    And,
}

/// `minimum_should_match` as an absolute count or a percentage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MinShould {
    Count(i64),
    Percent(f64),
}

impl MinShould {
    /// How many of `n` optional clauses must match.
    pub fn resolve(self, n: usize) -> usize {
        let n_i = n as i64;
        let v = match self {
            MinShould::Count(c) if c < 0 => n_i + c,
            MinShould::Count(c) => c,
            MinShould::Percent(p) if p < 0.0 => n_i - ((-p) / 100.0 * n as f64).floor() as i64,
            MinShould::Percent(p) => (p / 100.0 * n as f64).floor() as i64,
        };
        v.clamp(0, n_i) as usize
    }
}

/// One bound of a range. Dates stay unparsed (`now-15m/m`, a formatted
/// string, or a number) until the engine knows the field's type.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeBound {
    pub value: Value,
    pub inclusive: bool,
}

/// A range over one field.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Range {
    pub lower: Option<RangeBound>,
    pub upper: Option<RangeBound>,
    /// Elasticsearch date `format` for string bounds.
    pub format: Option<String>,
    /// Time zone for naive date bounds and date-math rounding.
    pub time_zone: Option<String>,
}

/// A field reference as the user wrote it: `message`, `level.keyword`,
/// `http.status`, or a pattern like `mess*` / `*` where clauses allow one.
pub type FieldName = String;

/// The query tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    MatchAll,
    MatchNone,
    /// Analysed full-text match. `fields` empty means "all text fields".
    Match {
        fields: Vec<FieldName>,
        text: String,
        operator: Operator,
        minimum_should_match: Option<MinShould>,
        /// Skip fields whose type cannot take the text (e.g. words on a number).
        lenient: bool,
        /// Levenshtein distance per term (`fuzziness`).
        fuzziness: Option<u8>,
    },
    /// Terms in order, at most `slop` positions apart.
    MatchPhrase {
        fields: Vec<FieldName>,
        text: String,
        slop: u32,
        lenient: bool,
        /// Last term is a prefix (`match_phrase_prefix`).
        prefix: bool,
    },
    /// Exact value (not analysed).
    Term {
        field: FieldName,
        value: Value,
        case_insensitive: bool,
    },
    Terms {
        field: FieldName,
        values: Vec<Value>,
    },
    Range {
        field: FieldName,
        range: Range,
    },
    Exists {
        field: FieldName,
    },
    Prefix {
        field: FieldName,
        value: String,
        case_insensitive: bool,
    },
    /// `*` and `?` wildcards.
    Wildcard {
        field: FieldName,
        pattern: String,
        case_insensitive: bool,
    },
    Regexp {
        field: FieldName,
        pattern: String,
        case_insensitive: bool,
    },
    Fuzzy {
        field: FieldName,
        value: String,
        distance: u8,
    },
    Ids(Vec<String>),
    Bool(Box<BoolQuery>),
    /// Every match scores `boost`.
    ConstantScore {
        filter: Box<Query>,
        boost: f32,
    },
    /// Multiply the scores of `inner`.
    Boost {
        inner: Box<Query>,
        boost: f32,
    },
    /// Restrict to documents of some indices (`_index` field).
    Indices(Vec<String>),
}

/// `bool` query clauses.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BoolQuery {
    pub must: Vec<Query>,
    pub should: Vec<Query>,
    pub must_not: Vec<Query>,
    pub filter: Vec<Query>,
    pub minimum_should_match: Option<MinShould>,
}

/// Sort order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Asc,
    Desc,
}

/// Where documents without a value go.
#[derive(Debug, Clone, PartialEq)]
pub enum Missing {
    First,
    Last,
    Value(Value),
}

/// One sort criterion.
#[derive(Debug, Clone, PartialEq)]
pub enum SortKey {
    Score,
    Doc,
    Field {
        field: FieldName,
        missing: Missing,
        format: Option<String>,
        /// `unmapped_type`: sort indices that do not map the field as if it
        /// had this type and no values; without it, a field no searched
        /// index maps is an error (as in Elasticsearch).
        unmapped_type: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct SortSpec {
    pub key: SortKey,
    pub order: Order,
}

/// `_source` filtering.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SourceFilter {
    /// `_source: false`
    pub disabled: bool,
    pub includes: Vec<String>,
    pub excludes: Vec<String>,
}

/// How one field of the hits is highlighted (`highlight` of a search).
#[derive(Debug, Clone, PartialEq)]
pub struct HighlightOptions {
    pub pre_tag: String,
    pub post_tag: String,
    /// Characters per fragment (roughly: fragments are cut at word starts).
    pub fragment_size: usize,
    /// Most fragments per field; 0 returns each matching value whole.
    pub number_of_fragments: usize,
    /// Characters from the start of the field to return when nothing matched.
    pub no_match_size: usize,
    /// Only terms from clauses on this field highlight it.
    pub require_field_match: bool,
    /// Fragments best first instead of in the order of the text.
    pub order_by_score: bool,
    /// HTML-escape the text (`encoder: html`).
    pub html_encode: bool,
    /// Terms come from this query instead of the search's.
    pub query: Option<Query>,
}

impl Default for HighlightOptions {
    fn default() -> Self {
        HighlightOptions {
            pre_tag: "<em>".into(),
            post_tag: "</em>".into(),
            fragment_size: 100,
            number_of_fragments: 5,
            no_match_size: 0,
            require_field_match: true,
            order_by_score: false,
            html_encode: false,
            query: None,
        }
    }
}

/// The fields to highlight (names or `*` patterns), in request order,
/// each with its options (global ones already merged in).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Highlight {
    pub fields: Vec<(FieldName, HighlightOptions)>,
}

/// How many hits to count exactly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TrackTotal {
    /// Exact up to this many, then `gte`.
    UpTo(u64),
    Exact,
    Off,
}

/// A complete search request, engine-neutral.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub query: Query,
    pub from: usize,
    pub size: usize,
    pub sort: Vec<SortSpec>,
    pub search_after: Option<Vec<Value>>,
    pub source: SourceFilter,
    pub track_total_hits: TrackTotal,
    pub track_scores: bool,
    pub aggs: Vec<super::aggs::AggSpec>,
    /// Optional timeout; partial results are flagged `timed_out`.
    pub timeout_ms: Option<u64>,
    /// Return `_version`-like extras is not supported; kept for completeness.
    pub post_filter: Option<Query>,
    pub highlight: Option<Highlight>,
}

impl Default for SearchRequest {
    fn default() -> Self {
        SearchRequest {
            query: Query::MatchAll,
            from: 0,
            size: 10,
            sort: Vec::new(),
            search_after: None,
            source: SourceFilter::default(),
            track_total_hits: TrackTotal::UpTo(10_000),
            track_scores: false,
            aggs: Vec::new(),
            timeout_ms: None,
            post_filter: None,
            highlight: None,
        }
    }
}

impl Query {
    /// Replaces, anywhere in the tree, an exact match on `field` (a `term`
    /// or `terms` clause) by a `terms` clause over what `expand` gives for
    /// each value. Used for `_pattern`: a merged template's id must also
    /// find the events stored under the ids merged into it.
    pub fn expand_terms(&mut self, field: &str, expand: &mut dyn FnMut(&str) -> Vec<String>) {
        let values_of = |vals: Vec<Value>, expand: &mut dyn FnMut(&str) -> Vec<String>| {
            let mut out: Vec<Value> = Vec::new();
            for v in vals {
                match v.as_str() {
                    Some(s) => out.extend(expand(s).into_iter().map(Value::String)),
                    None => out.push(v),
                }
            }
            out
        };
        match self {
            Query::Term {
                field: f, value, ..
            } if f == field => {
                let values = values_of(vec![value.clone()], expand);
                *self = Query::Terms {
                    field: field.to_string(),
                    values,
                };
            }
            Query::Terms { field: f, values } if f == field => {
                *values = values_of(std::mem::take(values), expand);
            }
            Query::Bool(b) => {
                for q in b
                    .must
                    .iter_mut()
                    .chain(b.should.iter_mut())
                    .chain(b.must_not.iter_mut())
                    .chain(b.filter.iter_mut())
                {
                    q.expand_terms(field, expand);
                }
            }
            Query::ConstantScore { filter: q, .. } | Query::Boost { inner: q, .. } => {
                q.expand_terms(field, expand)
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod expand_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn term_becomes_terms_of_its_members_at_any_depth() {
        let mut q = Query::Bool(Box::new(BoolQuery {
            must: vec![Query::Term {
                field: "_pattern".into(),
                value: json!("a"),
                case_insensitive: false,
            }],
            must_not: vec![Query::Terms {
                field: "_pattern".into(),
                values: vec![json!("b")],
            }],
            filter: vec![Query::Term {
                field: "level".into(),
                value: json!("a"),
                case_insensitive: false,
            }],
            ..BoolQuery::default()
        }));
        q.expand_terms("_pattern", &mut |v| vec![v.to_string(), format!("{v}2")]);
        let Query::Bool(b) = q else { panic!() };
        assert_eq!(
            b.must[0],
            Query::Terms {
                field: "_pattern".into(),
                values: vec![json!("a"), json!("a2")]
            }
        );
        assert_eq!(
            b.must_not[0],
            Query::Terms {
                field: "_pattern".into(),
                values: vec![json!("b"), json!("b2")]
            }
        );
        assert!(matches!(&b.filter[0], Query::Term { field, .. } if field == "level"));
    }
}

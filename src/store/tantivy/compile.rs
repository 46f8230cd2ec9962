//! Translating the neutral query model into tantivy queries, using one
//! index's mapping to decide how each field is searched.

use std::ops::Bound;

use jiff::tz::TimeZone;
use serde_json::Value;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, EmptyQuery, ExistsQuery, FuzzyTermQuery,
    Occur, PhrasePrefixQuery, PhraseQuery, Query as TQuery, RangeQuery, RegexQuery, TermQuery,
    TermSetQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DateTime, Term};

use super::fast_match::{FastStrQuery, Matcher};
use super::id_match;
use super::schema::{analyze, id_fingerprint, id_fingerprint_range, is_id_token, Fields};
use super::source_check::{Check, SourceCheckQuery};
use crate::event::timestamp::{epoch_number_to_millis, parse_timestamp_str};
use crate::query::date_format::DateFormat;
use crate::query::datemath;
use crate::query::model::{BoolQuery, MinShould, Operator, Query, Range, RangeBound};
use crate::store::mapping::{FieldKind, Mapping, Resolved};
use crate::store::StoreError;

/// What compiling needs to know about the index.
pub struct Ctx<'a> {
    pub fields: &'a Fields,
    pub mapping: &'a Mapping,
    pub index_name: &'a str,
}

type Q = Box<dyn TQuery>;

fn empty() -> Q {
    Box::new(EmptyQuery)
}

fn bad(msg: impl Into<String>) -> StoreError {
    StoreError::BadQuery(msg.into())
}

/// Maximum clauses a single query may expand to (Elasticsearch's
/// `indices.query.bool.max_clause_count`).
const MAX_CLAUSES: usize = 4096;

/// A `_kf` JSON term for a path, with no value yet (used as range bounds
/// on the fast columns).
fn kw_term(ctx: &Ctx, path: &str) -> Term {
    Term::from_field_json_path(ctx.fields.kf, path, true)
}

/// The fast column name of a path's exact values.
fn kf_column(path: &str) -> String {
    format!("_kf.{path}")
}

fn str_set(column: String, values: impl IntoIterator<Item = String>) -> Q {
    Box::new(FastStrQuery::set(column, values))
}

fn str_regex(column: String, regex: &str, ci: bool) -> Result<Q, StoreError> {
    Ok(Box::new(FastStrQuery {
        column,
        matcher: regex_matcher(regex, ci)?,
    }))
}

/// Exact values of `path`'s column; for a text field whose index keeps no
/// column for it ([`Mapping::keyword_column`]), candidates with `words`
/// checked against `_source` instead.
fn exact_match(ctx: &Ctx, path: &str, kind: &FieldKind, words: &str, matcher: Matcher) -> Q {
    if *kind == FieldKind::Text && !ctx.mapping.keyword_column(path) {
        Box::new(SourceCheckQuery::new(ctx.fields, path, words, matcher))
    } else {
        Box::new(FastStrQuery {
            column: kf_column(path),
            matcher,
        })
    }
}

fn set_matcher(values: impl IntoIterator<Item = String>) -> Matcher {
    Matcher::Set(std::sync::Arc::new(values.into_iter().collect()))
}

fn regex_matcher(regex: &str, ci: bool) -> Result<Matcher, StoreError> {
    let flags = if ci { "(?i)" } else { "" };
    let re = regex::Regex::new(&format!("^{flags}(?:{regex})$"))
        .map_err(|e| bad(format!("invalid pattern [{regex}]: {e}")))?;
    Ok(Matcher::Regex(std::sync::Arc::new(re)))
}

/// The part of a literal prefix made of whole words: a trailing word may
/// continue in the value, so it cannot narrow the candidates.
fn whole_words(prefix: &str) -> &str {
    match prefix.chars().last() {
        Some(c) if c.is_alphanumeric() => {
            let cut = prefix
                .char_indices()
                .rev()
                .find(|(_, c)| !c.is_alphanumeric())
                .map_or(0, |(i, _)| i);
            &prefix[..cut]
        }
        _ => prefix,
    }
}

/// A token of a text field: its term, or for an id-like token in an index
/// that keeps those as fingerprints, the documents with its fingerprint
/// whose `_source` has it.
fn text_token_q(ctx: &Ctx, path: &str, token: &str) -> Q {
    match ctx.fields.id_tokens {
        Some(f) if is_id_token(token) => id_token_q(ctx, f, path, token, false),
        _ => term_q(text_term(ctx, path, token)),
    }
}

/// Documents whose `path` has the id-like `token` (or, with `prefix`, a
/// token starting with it), found by fingerprint and checked in `_source`.
fn id_token_q(ctx: &Ctx, f: Field, path: &str, token: &str, prefix: bool) -> Q {
    Box::new(SourceCheckQuery::with_candidates(
        id_fingerprints_q(f, token, prefix),
        ctx.fields,
        path,
        Check::Tokens {
            toks: vec![token.to_string()],
            prefix_last: prefix,
            slop: 0,
        },
    ))
}

fn id_fingerprints_q(f: Field, token: &str, prefix: bool) -> Q {
    let (lo, hi) = if prefix {
        id_fingerprint_range(token)
    } else {
        let fp = id_fingerprint(token);
        (fp, fp)
    };
    range_q(
        Bound::Included(Term::from_field_u64(f, lo)),
        Bound::Included(Term::from_field_u64(f, hi)),
    )
}

fn text_term(ctx: &Ctx, path: &str, token: &str) -> Term {
    let mut t = Term::from_field_json_path(ctx.fields.text, path, true);
    t.append_type_and_str(token);
    t
}

fn kw_str_term(ctx: &Ctx, path: &str, s: &str) -> Term {
    let mut t = kw_term(ctx, path);
    t.append_type_and_str(s);
    t
}

fn term_q(t: Term) -> Q {
    Box::new(TermQuery::new(t, IndexRecordOption::WithFreqs))
}

fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn parse_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Typed value for a numeric JSON path, normalised like tantivy's indexing
/// (whole floats become i64) so that range bounds compare correctly.
fn num_term(ctx: &Ctx, path: &str, v: f64) -> Term {
    let mut t = kw_term(ctx, path);
    if v.fract() == 0.0 && v >= i64::MIN as f64 && v <= i64::MAX as f64 {
        t.append_type_and_fast_value(v as i64);
    } else {
        t.append_type_and_fast_value(v);
    }
    t
}

fn date_term(ctx: &Ctx, target: DateTarget, ms: i64) -> Term {
    // tantivy keeps dates as i64 nanoseconds (years 1677..2262): saturate
    // instead of overflowing (a panic in debug builds, wrong dates in release).
    let dt = DateTime::from_timestamp_nanos(ms.saturating_mul(1_000_000));
    match target {
        DateTarget::Timestamp => Term::from_field_date(ctx.fields.timestamp, dt),
        DateTarget::Path(path) => {
            let mut t = kw_term(ctx, path);
            t.append_type_and_fast_value(dt);
            t
        }
    }
}

#[derive(Clone, Copy)]
enum DateTarget<'a> {
    Timestamp,
    Path(&'a str),
}

fn range_q(lo: Bound<Term>, hi: Bound<Term>) -> Q {
    Box::new(RangeQuery::new(lo, hi))
}

fn exact_date(ctx: &Ctx, target: DateTarget, ms: i64) -> Q {
    range_q(
        Bound::Included(date_term(ctx, target, ms)),
        Bound::Included(date_term(ctx, target, ms)),
    )
}

fn exact_num(ctx: &Ctx, path: &str, v: f64) -> Q {
    range_q(
        Bound::Included(num_term(ctx, path, v)),
        Bound::Included(num_term(ctx, path, v)),
    )
}

/// A term value for a date field: epoch millis, date math, or a string in
/// the field's explicit `format` (only that, as in Elasticsearch) or, for
/// dynamically mapped dates, any form ingest recognises.
fn parse_date_value(v: &Value, format: Option<&DateFormat>) -> Option<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().and_then(epoch_number_to_millis)),
        Value::String(s) => {
            let now = crate::event::now_ms();
            match datemath::eval(s, now, false, &TimeZone::UTC, format) {
                Ok(ms) => Some(ms),
                Err(_) if format.is_none() => parse_timestamp_str(s, None, now),
                Err(_) => None,
            }
        }
        _ => None,
    }
}

/// What a failed date value says: the value, the field and the format.
fn date_value_error(text: &str, field: &str, format: Option<&DateFormat>) -> StoreError {
    match format {
        Some(f) => bad(format!(
            "failed to parse date field [{text}] with format [{}] of [{field}]",
            f.spec()
        )),
        None => bad(format!("failed to parse date field [{text}] of [{field}]")),
    }
}

pub(super) fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~\"<>@".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Regex over a JSON field's term dictionary restricted to one path's
/// string terms: tantivy stores JSON terms as `path \0 s value`, with path
/// segments separated by `\x01`.
fn json_str_regex(
    field: Field,
    path: &str,
    value_regex: &str,
    case_insensitive: bool,
) -> Result<Q, StoreError> {
    let path_re: Vec<String> = path.split('.').map(regex_escape).collect();
    let flags = if case_insensitive { "(?i)" } else { "" };
    let pattern = format!("{}\\x00s{flags}(?:{value_regex})", path_re.join("\\x01"));
    RegexQuery::from_pattern(&pattern, field)
        .map(|q| Box::new(q) as Q)
        .map_err(|e| bad(format!("invalid pattern [{value_regex}]: {e}")))
}

pub(super) fn wildcard_to_regex(p: &str) -> String {
    let mut out = String::new();
    for c in p.chars() {
        match c {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            c => out.push_str(&regex_escape(&c.to_string())),
        }
    }
    out
}

/// Which fields a multi-field clause targets: the given names (patterns
/// expanded) or, when empty, every text and keyword field.
fn target_fields(ctx: &Ctx, fields: &[String]) -> Vec<String> {
    if fields.is_empty() {
        return ctx
            .mapping
            .fields
            .iter()
            .filter(|(_, k)| matches!(k, FieldKind::Text | FieldKind::Keyword))
            .map(|(f, _)| f.clone())
            .collect();
    }
    fields.iter().flat_map(|f| ctx.mapping.expand(f)).collect()
}

fn disjunction(qs: Vec<Q>) -> Q {
    match qs.len() {
        0 => empty(),
        1 => qs.into_iter().next().unwrap_or_else(empty),
        _ => Box::new(BooleanQuery::with_minimum_required_clauses(
            qs.into_iter().map(|q| (Occur::Should, q)).collect(),
            1,
        )),
    }
}

/// One clause per target field, OR-ed; with `lenient`, fields whose type
/// cannot take the value are skipped instead of failing the query.
fn per_field(
    ctx: &Ctx,
    fields: &[String],
    lenient: bool,
    mut build: impl FnMut(&str) -> Result<Q, StoreError>,
) -> Result<Q, StoreError> {
    let mut qs = Vec::new();
    for f in target_fields(ctx, fields) {
        match build(&f) {
            Ok(q) => qs.push(q),
            Err(e) if !lenient => return Err(e),
            Err(_) => {}
        }
    }
    Ok(disjunction(qs))
}

/// Compile a query for one index.
pub fn compile(ctx: &Ctx, q: &Query) -> Result<Q, StoreError> {
    Ok(match q {
        Query::MatchAll => Box::new(AllQuery),
        Query::MatchNone => empty(),
        Query::Match {
            fields,
            text,
            operator,
            minimum_should_match,
            lenient,
            fuzziness,
        } => {
            let lenient = *lenient || fields.is_empty() || fields.iter().any(|f| f.contains('*'));
            per_field(ctx, fields, lenient, |f| {
                match_field(ctx, f, text, *operator, *minimum_should_match, *fuzziness)
            })?
        }
        Query::MatchPhrase {
            fields,
            text,
            slop,
            lenient,
            prefix,
        } => {
            let lenient = *lenient || fields.is_empty();
            per_field(ctx, fields, lenient, |f| {
                phrase_field(ctx, f, text, *slop, *prefix)
            })?
        }
        Query::Term {
            field,
            value,
            case_insensitive,
        } => term_field(ctx, field, value, *case_insensitive)?,
        Query::Terms { field, values } => {
            if values.len() > 65_536 {
                return Err(bad("[terms] query has more than 65536 values"));
            }
            match ctx.mapping.resolve(field) {
                Resolved::Path {
                    path,
                    kind: kind @ (FieldKind::Text | FieldKind::Keyword),
                    keyword,
                } => {
                    let vals = values.iter().filter_map(value_text);
                    if keyword && (kind == FieldKind::Keyword || ctx.mapping.keyword_column(&path))
                    {
                        str_set(kf_column(&path), vals)
                    } else if keyword && values.len() <= 64 {
                        // each value narrows its own candidates
                        disjunction(
                            vals.map(|v| {
                                exact_match(ctx, &path, &kind, &v, set_matcher([v.clone()]))
                            })
                            .collect(),
                        )
                    } else if keyword {
                        exact_match(ctx, &path, &kind, "", set_matcher(vals))
                    } else {
                        let (ids, words): (Vec<String>, Vec<String>) = values
                            .iter()
                            .filter_map(value_text)
                            .partition(|s| ctx.fields.id_tokens.is_some() && is_id_token(s));
                        let terms: Vec<Term> =
                            words.iter().map(|s| text_term(ctx, &path, s)).collect();
                        let mut qs: Vec<Q> = vec![Box::new(TermSetQuery::new(terms))];
                        qs.extend(ids.iter().map(|s| text_token_q(ctx, &path, s)));
                        disjunction(qs)
                    }
                }
                Resolved::Id => {
                    let ids: Vec<String> = values.iter().filter_map(value_text).collect();
                    id_match::ids_query(ctx.fields, &ids)
                }
                // one set lookup over the column, however many values
                // (a merged pattern's ids)
                Resolved::Normalized(name) if name != "_level" => {
                    str_set(name.to_string(), values.iter().filter_map(value_text))
                }
                _ => {
                    let qs = values
                        .iter()
                        .map(|v| term_field(ctx, field, v, false))
                        .collect::<Result<Vec<_>, _>>()?;
                    disjunction(qs)
                }
            }
        }
        Query::Range { field, range } => range_field(ctx, field, range)?,
        Query::Exists { field } => {
            if field == "@timestamp" || field == "_id" || field == "_index" {
                Box::new(AllQuery)
            } else {
                // A value with a column (nearly all) is found by the column;
                // text too long for `.keyword` is listed in `_fields`.
                let mut qs: Vec<Q> = Vec::new();
                for n in ctx.mapping.expand(field) {
                    match n.strip_suffix(".keyword") {
                        Some(base) if !ctx.mapping.keyword_column(base) => {
                            qs.push(term_q(Term::from_field_text(ctx.fields.names, base)))
                        }
                        Some(base) => qs.push(Box::new(ExistsQuery::new(kf_column(base), false))),
                        None => {
                            qs.push(Box::new(ExistsQuery::new(kf_column(&n), true)));
                            qs.push(term_q(Term::from_field_text(ctx.fields.names, &n)));
                        }
                    }
                }
                disjunction(qs)
            }
        }
        Query::Prefix {
            field,
            value,
            case_insensitive,
        } => {
            let q = pattern_field(
                ctx,
                field,
                &format!("{}.*", regex_escape(value)),
                whole_words(value),
                *case_insensitive,
            )?;
            let p = value.to_lowercase();
            match ctx.fields.id_tokens {
                // an id-like token starting with it is not in the term index
                Some(f) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    let mut qs = vec![q];
                    for name in ctx.mapping.expand(field) {
                        if let Resolved::Path {
                            path,
                            kind: FieldKind::Text,
                            keyword: false,
                        } = ctx.mapping.resolve(&name)
                        {
                            if *case_insensitive || p == *value {
                                qs.push(id_token_q(ctx, f, &path, &p, true));
                            }
                        }
                    }
                    disjunction(qs)
                }
                _ => q,
            }
        }
        Query::Wildcard {
            field,
            pattern,
            case_insensitive,
        } => {
            let literal = pattern
                .find(['*', '?', '\\'])
                .map_or(pattern.as_str(), |i| &pattern[..i]);
            pattern_field(
                ctx,
                field,
                &wildcard_to_regex(pattern),
                whole_words(literal),
                *case_insensitive,
            )?
        }
        Query::Regexp {
            field,
            pattern,
            case_insensitive,
        } => pattern_field(ctx, field, pattern, "", *case_insensitive)?,
        Query::Fuzzy {
            field,
            value,
            distance,
        } => match ctx.mapping.resolve(field) {
            Resolved::Path {
                path,
                kind: FieldKind::Text,
                keyword: false,
            } => {
                let toks = analyze(value);
                let tok = toks.first().cloned().unwrap_or_default();
                let d = auto_fuzz(*distance, &tok);
                Box::new(FuzzyTermQuery::new(text_term(ctx, &path, &tok), d, true))
            }
            Resolved::Path {
                path,
                kind: kind @ (FieldKind::Text | FieldKind::Keyword),
                ..
            } => exact_match(
                ctx,
                &path,
                &kind,
                "",
                Matcher::Fuzzy(
                    std::sync::Arc::from(value.as_str()),
                    auto_fuzz(*distance, value),
                ),
            ),
            _ => empty(),
        },
        Query::Ids(ids) => id_match::ids_query(ctx.fields, ids),
        Query::Bool(b) => compile_bool(ctx, b)?,
        Query::ConstantScore { filter, boost } => {
            Box::new(ConstScoreQuery::new(compile(ctx, filter)?, *boost))
        }
        Query::Boost { inner, boost } => Box::new(BoostQuery::new(compile(ctx, inner)?, *boost)),
        Query::Indices(names) => {
            if names
                .iter()
                .any(|n| crate::store::mapping::wildcard_match(n, ctx.index_name))
            {
                Box::new(AllQuery)
            } else {
                empty()
            }
        }
    })
}

pub(super) fn auto_fuzz(d: u8, term: &str) -> u8 {
    if d != u8::MAX {
        return d.min(2);
    }
    match term.chars().count() {
        0..=2 => 0,
        3..=5 => 1,
        _ => 2,
    }
}

fn compile_bool(ctx: &Ctx, b: &BoolQuery) -> Result<Q, StoreError> {
    let n = b.must.len() + b.should.len() + b.must_not.len() + b.filter.len();
    if n > MAX_CLAUSES {
        return Err(bad(format!(
            "too many clauses in [bool]: {n} > {MAX_CLAUSES}"
        )));
    }
    let mut subs: Vec<(Occur, Q)> = Vec::new();
    for q in &b.must {
        subs.push((Occur::Must, compile(ctx, q)?));
    }
    for q in &b.filter {
        subs.push((
            Occur::Must,
            Box::new(ConstScoreQuery::new(compile(ctx, q)?, 0.0)),
        ));
    }
    for q in &b.must_not {
        subs.push((Occur::MustNot, compile(ctx, q)?));
    }
    for q in &b.should {
        subs.push((Occur::Should, compile(ctx, q)?));
    }
    let required = b.must.len() + b.filter.len();
    let min = match b.minimum_should_match {
        Some(m) => m.resolve(b.should.len()),
        None if required == 0 && !b.should.is_empty() => 1,
        None => 0,
    };
    if required == 0 && b.should.is_empty() {
        // Only must_not: everything else matches.
        subs.push((
            Occur::Must,
            Box::new(ConstScoreQuery::new(Box::new(AllQuery), 0.0)),
        ));
    }
    if min > b.should.len() {
        return Ok(empty());
    }
    Ok(Box::new(BooleanQuery::with_minimum_required_clauses(
        subs, min,
    )))
}

fn number_error(field: &str, text: &str) -> StoreError {
    bad(format!(
        "failed to create query: For input string: \"{text}\" (field [{field}] is numeric)"
    ))
}

fn match_field(
    ctx: &Ctx,
    field: &str,
    text: &str,
    op: Operator,
    msm: Option<MinShould>,
    fuzziness: Option<u8>,
) -> Result<Q, StoreError> {
    match ctx.mapping.resolve(field) {
        Resolved::Path {
            path,
            kind: FieldKind::Text,
            keyword: false,
        } => {
            let toks = analyze(text);
            if toks.is_empty() {
                return Ok(empty());
            }
            let qs: Vec<Q> = toks
                .iter()
                .map(|t| match fuzziness {
                    Some(d) if auto_fuzz(d, t) > 0 => Box::new(FuzzyTermQuery::new(
                        text_term(ctx, &path, t),
                        auto_fuzz(d, t),
                        true,
                    )) as Q,
                    _ => text_token_q(ctx, &path, t),
                })
                .collect();
            if qs.len() == 1 {
                return Ok(qs.into_iter().next().unwrap_or_else(empty));
            }
            let n = qs.len();
            let min = match (op, msm) {
                (Operator::And, _) => n,
                (Operator::Or, Some(m)) => m.resolve(n).max(1),
                (Operator::Or, None) => 1,
            };
            Ok(Box::new(BooleanQuery::with_minimum_required_clauses(
                qs.into_iter().map(|q| (Occur::Should, q)).collect(),
                min,
            )))
        }
        _ => term_field(ctx, field, &Value::String(text.to_string()), false),
    }
}

fn phrase_field(
    ctx: &Ctx,
    field: &str,
    text: &str,
    slop: u32,
    prefix: bool,
) -> Result<Q, StoreError> {
    match ctx.mapping.resolve(field) {
        Resolved::Path {
            path,
            kind: FieldKind::Text,
            keyword: false,
        } => {
            let toks = analyze(text);
            // an open last word of hex digits may grow into an id-like
            // token, which only the fingerprints know
            let open_hex = prefix
                && toks
                    .last()
                    .is_some_and(|t| t.bytes().all(|b| b.is_ascii_hexdigit()));
            let with_ids = match ctx.fields.id_tokens {
                Some(f) if toks.iter().any(|t| is_id_token(t)) => {
                    return Ok(phrase_with_ids(ctx, f, &path, toks, slop, prefix));
                }
                Some(f) if open_hex => {
                    Some(phrase_with_ids(ctx, f, &path, toks.clone(), slop, prefix))
                }
                _ => None,
            };
            let terms: Vec<(usize, Term)> = toks
                .iter()
                .enumerate()
                .map(|(i, t)| (i, text_term(ctx, &path, t)))
                .collect();
            let words: Q = match terms.len() {
                0 => empty(),
                1 if !prefix => term_q(text_term(ctx, &path, &toks[0])),
                1 => json_str_regex(
                    ctx.fields.text,
                    &path,
                    &format!("{}.*", regex_escape(&toks[0])),
                    false,
                )?,
                _ if prefix => Box::new(PhrasePrefixQuery::new_with_offset(terms)),
                _ => Box::new(PhraseQuery::new_with_offset_and_slop(terms, slop)),
            };
            Ok(match with_ids {
                Some(q) => disjunction(vec![words, q]),
                None => words,
            })
        }
        _ => term_field(ctx, field, &Value::String(text.to_string()), false),
    }
}

/// A phrase with id-like tokens, which the term index does not have: the
/// phrase of the other tokens (at their offsets) and each id's
/// fingerprint give the candidates; `_source` decides.
fn phrase_with_ids(
    ctx: &Ctx,
    f: Field,
    path: &str,
    toks: Vec<String>,
    slop: u32,
    prefix: bool,
) -> Q {
    let last = toks.len().saturating_sub(1);
    let mut must: Vec<Q> = Vec::new();
    let mut words: Vec<(usize, Term)> = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        let open_end = prefix && i == last;
        // an open last word of hex digits narrows by its fingerprint range
        // (without it, a lone open word would leave no candidates)
        if is_id_token(t) || (open_end && t.bytes().all(|b| b.is_ascii_hexdigit())) {
            must.push(id_fingerprints_q(f, t, open_end));
        } else if !open_end {
            words.push((i, text_term(ctx, path, t)));
        }
    }
    match words.len() {
        0 => {}
        1 => must.extend(words.into_iter().map(|(_, t)| term_q(t))),
        _ if slop > 0 => must.extend(words.into_iter().map(|(_, t)| term_q(t))),
        _ => must.push(Box::new(PhraseQuery::new_with_offset(words))),
    }
    let candidates: Q = Box::new(BooleanQuery::new(
        must.into_iter().map(|q| (Occur::Must, q)).collect(),
    ));
    Box::new(SourceCheckQuery::with_candidates(
        candidates,
        ctx.fields,
        path,
        Check::Tokens {
            toks,
            prefix_last: prefix,
            slop,
        },
    ))
}

fn term_field(ctx: &Ctx, field: &str, value: &Value, ci: bool) -> Result<Q, StoreError> {
    let text = value_text(value)
        .ok_or_else(|| bad(format!("[term] value for [{field}] must be a scalar")))?;
    Ok(match ctx.mapping.resolve(field) {
        Resolved::Timestamp => match parse_date_value(value, None) {
            Some(ms) => exact_date(ctx, DateTarget::Timestamp, ms),
            None => return Err(date_value_error(&text, field, None)),
        },
        Resolved::Id => id_match::ids_query(ctx.fields, &[text]),
        Resolved::Index => {
            if text == ctx.index_name {
                Box::new(AllQuery)
            } else {
                empty()
            }
        }
        Resolved::Normalized(name) => {
            let t = if name == "_level" {
                text.to_ascii_uppercase()
            } else {
                text
            };
            str_set(name.to_string(), [t])
        }
        Resolved::Path {
            path,
            kind,
            keyword,
        } => match kind {
            FieldKind::Text if !keyword => {
                match ctx.fields.id_tokens {
                    // the token is indexed lowercase: any case of it
                    Some(_) if ci && is_id_token(&text) => {
                        text_token_q(ctx, &path, &text.to_ascii_lowercase())
                    }
                    _ if ci => json_str_regex(ctx.fields.text, &path, &regex_escape(&text), true)?,
                    _ => text_token_q(ctx, &path, &text),
                }
            }
            FieldKind::Text | FieldKind::Keyword => {
                let matcher = if ci {
                    regex_matcher(&regex_escape(&text), true)?
                } else {
                    set_matcher([text.clone()])
                };
                exact_match(ctx, &path, &kind, &text, matcher)
            }
            FieldKind::Long | FieldKind::Float => match parse_f64(value) {
                Some(v) => exact_num(ctx, &path, v),
                None => return Err(number_error(field, &text)),
            },
            FieldKind::Boolean => {
                let b = match text.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(bad(format!(
                            "Can't parse boolean value [{text}], expected [true] or [false]"
                        )))
                    }
                };
                let mut t = kw_term(ctx, &path);
                t.append_type_and_fast_value(b);
                range_q(Bound::Included(t.clone()), Bound::Included(t))
            }
            FieldKind::Date { format, .. } => match parse_date_value(value, format.as_ref()) {
                Some(ms) => exact_date(ctx, DateTarget::Path(&path), ms),
                None => return Err(date_value_error(&text, field, format.as_ref())),
            },
        },
        Resolved::Unmapped => empty(),
    })
}

/// `words`: text every match contains (whole words), to narrow the
/// candidates where values are checked against `_source`.
fn pattern_field(
    ctx: &Ctx,
    field: &str,
    regex: &str,
    words: &str,
    ci: bool,
) -> Result<Q, StoreError> {
    let names = ctx.mapping.expand(field);
    let mut qs = Vec::new();
    for name in names {
        match ctx.mapping.resolve(&name) {
            Resolved::Path {
                path,
                kind: FieldKind::Text,
                keyword: false,
            } => {
                // Text terms are lowercased at indexing; match them that way.
                qs.push(json_str_regex(ctx.fields.text, &path, regex, ci)?)
            }
            Resolved::Path {
                path,
                kind: kind @ (FieldKind::Text | FieldKind::Keyword),
                ..
            } => qs.push(exact_match(
                ctx,
                &path,
                &kind,
                words,
                regex_matcher(regex, ci)?,
            )),
            Resolved::Normalized(name) => qs.push(str_regex(name.to_string(), regex, ci)?),
            Resolved::Id => qs.push(id_match::regex_query(ctx.fields, regex).map_err(bad)?),
            Resolved::Index => {
                let re =
                    regex::Regex::new(&format!("^(?:{regex})$")).map_err(|e| bad(e.to_string()))?;
                qs.push(if re.is_match(ctx.index_name) {
                    Box::new(AllQuery) as Q
                } else {
                    empty()
                });
            }
            _ => {}
        }
    }
    Ok(disjunction(qs))
}

fn bound_value(
    field: &str,
    b: &RangeBound,
    upper: bool,
    date_ctx: Option<(&TimeZone, Option<&DateFormat>)>,
) -> Result<f64, StoreError> {
    match date_ctx {
        Some((tz, fmt)) => {
            let round_up = if upper { b.inclusive } else { !b.inclusive };
            let ms = match &b.value {
                Value::Number(n) => n
                    .as_i64()
                    .ok_or_else(|| bad(format!("bad date bound for [{field}]")))?,
                Value::String(s) => datemath::eval(s, crate::event::now_ms(), round_up, tz, fmt)
                    .map_err(|e| bad(e.to_string()))?,
                _ => return Err(bad(format!("bad date bound for [{field}]"))),
            };
            Ok(ms as f64)
        }
        None => parse_f64(&b.value)
            .ok_or_else(|| number_error(field, &value_text(&b.value).unwrap_or_default())),
    }
}

fn range_field(ctx: &Ctx, field: &str, r: &Range) -> Result<Q, StoreError> {
    let resolved = ctx.mapping.resolve(field);
    let tz = match &r.time_zone {
        Some(z) => parse_tz(z)?,
        None => TimeZone::UTC,
    };
    let mut fmt = match &r.format {
        Some(f) => Some(DateFormat::parse_spec(f).map_err(|e| bad(e.to_string()))?),
        None => None,
    };
    let date_target = match &resolved {
        Resolved::Timestamp => Some(DateTarget::Timestamp),
        Resolved::Path {
            path,
            kind: FieldKind::Date { format, .. },
            ..
        } => {
            // Bounds are read in the field's own format unless the query
            // names another one.
            if fmt.is_none() {
                fmt = format.clone();
            }
            Some(DateTarget::Path(path))
        }
        _ => None,
    };
    if let Some(target) = date_target {
        let dctx = Some((&tz, fmt.as_ref()));
        let lo = match &r.lower {
            None => Bound::Unbounded,
            Some(b) => {
                let v = bound_value(field, b, false, dctx)? as i64;
                let t = date_term(ctx, target, v);
                if b.inclusive {
                    Bound::Included(t)
                } else {
                    Bound::Excluded(t)
                }
            }
        };
        let hi = match &r.upper {
            None => Bound::Unbounded,
            Some(b) => {
                let v = bound_value(field, b, true, dctx)? as i64;
                let t = date_term(ctx, target, v);
                if b.inclusive {
                    Bound::Included(t)
                } else {
                    Bound::Excluded(t)
                }
            }
        };
        if matches!((&lo, &hi), (Bound::Unbounded, Bound::Unbounded)) {
            return compile(
                ctx,
                &Query::Exists {
                    field: field.to_string(),
                },
            );
        }
        return Ok(range_q(lo, hi));
    }
    match resolved {
        Resolved::Path {
            path,
            kind: FieldKind::Long | FieldKind::Float,
            ..
        } => {
            let mk = |b: &Option<RangeBound>, upper: bool| -> Result<Bound<Term>, StoreError> {
                Ok(match b {
                    None => Bound::Unbounded,
                    Some(b) => {
                        let v = bound_value(field, b, upper, None)?;
                        let t = num_term(ctx, &path, v);
                        if b.inclusive {
                            Bound::Included(t)
                        } else {
                            Bound::Excluded(t)
                        }
                    }
                })
            };
            let lo = mk(&r.lower, false)?;
            let hi = mk(&r.upper, true)?;
            if matches!((&lo, &hi), (Bound::Unbounded, Bound::Unbounded)) {
                return compile(
                    ctx,
                    &Query::Exists {
                        field: field.to_string(),
                    },
                );
            }
            Ok(range_q(lo, hi))
        }
        Resolved::Path {
            path,
            kind: FieldKind::Text | FieldKind::Keyword,
            ..
        } => {
            let mk = |b: &Option<RangeBound>| -> Bound<Term> {
                match b {
                    None => Bound::Unbounded,
                    Some(b) => {
                        let t = kw_str_term(ctx, &path, &value_text(&b.value).unwrap_or_default());
                        if b.inclusive {
                            Bound::Included(t)
                        } else {
                            Bound::Excluded(t)
                        }
                    }
                }
            };
            let (lo, hi) = (mk(&r.lower), mk(&r.upper));
            if matches!((&lo, &hi), (Bound::Unbounded, Bound::Unbounded)) {
                return compile(
                    ctx,
                    &Query::Exists {
                        field: field.to_string(),
                    },
                );
            }
            Ok(range_q(lo, hi))
        }
        Resolved::Unmapped => Ok(empty()),
        _ => Err(bad(format!(
            "field [{field}] does not support range queries"
        ))),
    }
}

/// Parse a `time_zone` parameter: an IANA name or a fixed offset like `+01:00`.
pub fn parse_tz(z: &str) -> Result<TimeZone, StoreError> {
    crate::query::datemath::parse_time_zone(z).map_err(bad)
}

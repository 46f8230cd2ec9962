//! The plain highlighter: the terms of a query's text clauses are found
//! again in each hit's `_source` values, analysed with the same analyser
//! that indexed them, wrapped in tags and cut into fragments. Working from
//! `_source` needs no extra index (no term vectors or offsets on disk);
//! highlighting only touches the hits of one page.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{Map, Value};
use tantivy::tokenizer::TokenStream;

use super::compile::{auto_fuzz, regex_escape, wildcard_to_regex};
use super::fast_match::Matcher;
use super::schema::text_analyzer;
use crate::query::model::{Highlight, HighlightOptions, Query};
use crate::store::mapping::{wildcard_match, FieldKind, Mapping, Resolved};

/// Bytes of a value analysed for highlighting; matches past them are not
/// marked (Elasticsearch's `index.highlight.max_analyzed_offset` default).
const MAX_ANALYZED_BYTES: usize = 1_000_000;

/// What one query clause asks to highlight.
#[derive(Debug, Clone)]
enum Want {
    /// Analysed text (`match`, query-string terms): its terms on text
    /// fields, in a row when `phrase`; the whole text on keyword fields.
    Text {
        text: String,
        terms: Vec<String>,
        phrase: bool,
        slop: u32,
        /// The last term is a prefix (`match_phrase_prefix`).
        prefix: bool,
        fuzziness: Option<u8>,
    },
    /// An exact term (`term`, `terms`): one indexed term of a text field,
    /// the whole value of a keyword field.
    Exact { value: String, ci: bool },
    /// Prefix, wildcard, regexp and fuzzy clauses.
    Pattern(Matcher),
}

/// A clause and the fields (names or patterns) it is on; none: every field.
#[derive(Debug, Clone)]
struct Clause {
    fields: Vec<String>,
    want: Want,
}

/// Collect the highlightable clauses of `q` (not those under `must_not`).
fn clauses(q: &Query, out: &mut Vec<Clause>) {
    let on = |f: &str| vec![f.to_string()];
    let text = |fields: &[String], text: &str, phrase: bool, slop: u32, prefix: bool, fz| Clause {
        fields: fields.to_vec(),
        want: Want::Text {
            text: text.to_string(),
            terms: super::schema::analyze(text),
            phrase,
            slop,
            prefix,
            fuzziness: fz,
        },
    };
    let pattern = |field: &str, regex: &str, ci: bool| {
        let flags = if ci { "(?i)" } else { "" };
        regex::Regex::new(&format!("^{flags}(?:{regex})$"))
            .ok()
            .map(|re| Clause {
                fields: on(field),
                want: Want::Pattern(Matcher::Regex(Arc::new(re))),
            })
    };
    match q {
        Query::Match {
            fields,
            text: t,
            fuzziness,
            ..
        } => out.push(text(fields, t, false, 0, false, *fuzziness)),
        Query::MatchPhrase {
            fields,
            text: t,
            slop,
            prefix,
            ..
        } => out.push(text(fields, t, true, *slop, *prefix, None)),
        Query::Term {
            field,
            value,
            case_insensitive,
        } => out.extend(scalar(value).map(|v| Clause {
            fields: on(field),
            want: Want::Exact {
                value: v,
                ci: *case_insensitive,
            },
        })),
        Query::Terms { field, values } => {
            out.extend(values.iter().filter_map(scalar).map(|v| Clause {
                fields: on(field),
                want: Want::Exact {
                    value: v,
                    ci: false,
                },
            }))
        }
        Query::Prefix {
            field,
            value,
            case_insensitive,
        } => out.extend(pattern(
            field,
            &format!("{}.*", regex_escape(value)),
            *case_insensitive,
        )),
        Query::Wildcard {
            field,
            pattern: p,
            case_insensitive,
        } => out.extend(pattern(field, &wildcard_to_regex(p), *case_insensitive)),
        Query::Regexp {
            field,
            pattern: p,
            case_insensitive,
        } => out.extend(pattern(field, p, *case_insensitive)),
        Query::Fuzzy {
            field,
            value,
            distance,
        } => out.push(Clause {
            fields: on(field),
            want: Want::Pattern(Matcher::Fuzzy(
                Arc::from(value.to_lowercase().as_str()),
                auto_fuzz(*distance, value),
            )),
        }),
        Query::Bool(b) => {
            for c in b.must.iter().chain(&b.should).chain(&b.filter) {
                clauses(c, out);
            }
        }
        Query::ConstantScore { filter: inner, .. } | Query::Boost { inner, .. } => {
            clauses(inner, out)
        }
        Query::MatchAll
        | Query::MatchNone
        | Query::Range { .. }
        | Query::Exists { .. }
        | Query::Ids(_)
        | Query::Indices(_) => {}
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The highlighting of one search, prepared once for all its hits.
pub struct Plan {
    fields: Vec<(String, HighlightOptions, Vec<Clause>)>,
}

impl Plan {
    /// Extract the clauses of the search query (or of each field's
    /// `highlight_query`).
    pub fn new(h: &Highlight, query: &Query) -> Plan {
        let mut main = Vec::new();
        clauses(query, &mut main);
        let fields = h
            .fields
            .iter()
            .map(|(name, opts)| {
                let cs = match &opts.query {
                    Some(q) => {
                        let mut own = Vec::new();
                        clauses(q, &mut own);
                        own
                    }
                    None => main.clone(),
                };
                (name.clone(), opts.clone(), cs)
            })
            .collect();
        Plan { fields }
    }

    /// `highlight` of one hit: field name to fragments, `None` when no
    /// field has any (Elasticsearch then leaves the key out).
    pub fn hit(&self, mapping: &Mapping, source: &Value) -> Option<Map<String, Value>> {
        let mut out = Map::new();
        for (pattern, opts, cs) in &self.fields {
            for name in mapping.expand(pattern) {
                if out.contains_key(&name) {
                    continue;
                }
                let (path, keyword) = match mapping.resolve(&name) {
                    Resolved::Path {
                        path,
                        kind: FieldKind::Text,
                        keyword,
                    } => (path, keyword),
                    Resolved::Path {
                        path,
                        kind: FieldKind::Keyword,
                        ..
                    } => (path, true),
                    _ => continue,
                };
                let applying: Vec<&Want> = cs
                    .iter()
                    .filter(|c| {
                        !opts.require_field_match
                            || c.fields.is_empty()
                            || c.fields.iter().any(|f| wildcard_match(f, &name))
                    })
                    .map(|c| &c.want)
                    .collect();
                let mut values = Vec::new();
                values_at(source, &path, &mut values);
                if keyword
                    && !matches!(
                        mapping.resolve(&name),
                        Resolved::Path {
                            kind: FieldKind::Keyword,
                            ..
                        }
                    )
                {
                    // `x.keyword` holds values up to its `ignore_above`.
                    values.retain(|v| v.chars().count() <= super::document::KEYWORD_IGNORE_ABOVE);
                }
                let frags = field_fragments(&values, &applying, keyword, opts);
                if !frags.is_empty() {
                    out.insert(
                        name,
                        Value::Array(frags.into_iter().map(Value::String).collect()),
                    );
                }
            }
        }
        (!out.is_empty()).then_some(out)
    }
}

/// Every string value at a dotted path of `_source`, through nested
/// objects, dotted keys and arrays.
fn values_at<'a>(v: &'a Value, path: &str, out: &mut Vec<&'a str>) {
    match v {
        Value::Array(a) => a.iter().for_each(|x| values_at(x, path, out)),
        Value::Object(m) => {
            for (k, x) in m {
                if k == path {
                    leaves(x, out);
                } else if let Some(rest) = path
                    .strip_prefix(k.as_str())
                    .and_then(|r| r.strip_prefix('.'))
                {
                    values_at(x, rest, out);
                }
            }
        }
        _ => {}
    }
}

fn leaves<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|x| leaves(x, out)),
        _ => {}
    }
}

/// One analysed token of a value: byte range and lowercased text.
struct Tok {
    from: usize,
    to: usize,
    text: String,
}

fn tokens(value: &str) -> Vec<Tok> {
    let mut cut = value.len().min(MAX_ANALYZED_BYTES);
    while !value.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut a = text_analyzer();
    let mut ts = a.token_stream(&value[..cut]);
    let mut out = Vec::new();
    while ts.advance() {
        let t = ts.token();
        out.push(Tok {
            from: t.offset_from,
            to: t.offset_to,
            text: t.text.clone(),
        });
    }
    out
}

/// Which tokens of a text value the clauses mark, and which marked tokens
/// belong to one phrase match (fragments are not cut inside those).
fn mark_text(toks: &[Tok], wants: &[&Want]) -> (Vec<bool>, Vec<Option<usize>>) {
    let mut marked = vec![false; toks.len()];
    let mut group: Vec<Option<usize>> = vec![None; toks.len()];
    let mut groups = 0;
    for w in wants {
        match w {
            Want::Text {
                terms,
                phrase: true,
                slop,
                prefix,
                ..
            } if terms.len() > 1 => {
                let n = terms.len();
                let term_ok = |j: usize, t: &Tok| {
                    if *prefix && j == n - 1 {
                        t.text.starts_with(terms[j].as_str())
                    } else {
                        t.text == terms[j]
                    }
                };
                for start in 0..toks.len() {
                    if !term_ok(0, &toks[start]) {
                        continue;
                    }
                    // The rest in order, within `slop` extra positions.
                    let mut hit = vec![start];
                    let window = (start + n + *slop as usize).min(toks.len());
                    let mut j = 1;
                    for (i, t) in toks.iter().enumerate().take(window).skip(start + 1) {
                        if j < n && term_ok(j, t) {
                            hit.push(i);
                            j += 1;
                        }
                    }
                    if j == n {
                        for i in hit {
                            marked[i] = true;
                            group[i] = Some(groups);
                        }
                        groups += 1;
                    }
                }
            }
            Want::Text {
                terms,
                prefix,
                fuzziness,
                ..
            } => {
                for (i, t) in toks.iter().enumerate() {
                    let hit = terms.iter().enumerate().any(|(j, q)| match fuzziness {
                        _ if *prefix && j == terms.len() - 1 => t.text.starts_with(q.as_str()),
                        Some(d) => {
                            Matcher::Fuzzy(Arc::from(q.as_str()), auto_fuzz(*d, q)).matches(&t.text)
                        }
                        None => t.text == *q,
                    });
                    marked[i] |= hit;
                }
            }
            Want::Exact { value, ci } => {
                for (i, t) in toks.iter().enumerate() {
                    marked[i] |= if *ci {
                        t.text == value.to_lowercase()
                    } else {
                        t.text == *value
                    };
                }
            }
            Want::Pattern(m) => {
                for (i, t) in toks.iter().enumerate() {
                    marked[i] |= m.matches(&t.text);
                }
            }
        }
    }
    (marked, group)
}

/// Whether a keyword value as a whole is asked for.
fn keyword_hit(value: &str, wants: &[&Want]) -> bool {
    wants.iter().any(|w| match w {
        Want::Text { text, .. } => value == text,
        Want::Exact { value: v, ci: true } => value.to_lowercase() == v.to_lowercase(),
        Want::Exact {
            value: v,
            ci: false,
        } => value == v,
        Want::Pattern(m) => m.matches(value),
    })
}

/// A fragment before selection: where it comes from and how good it is.
struct Frag {
    /// Distinct marked terms in it.
    score: usize,
    /// Position in the field (value, then fragment), for field order.
    order: usize,
    text: String,
}

/// The fragments of one field, as Elasticsearch returns them.
fn field_fragments(
    values: &[&str],
    wants: &[&Want],
    keyword: bool,
    opts: &HighlightOptions,
) -> Vec<String> {
    let mut frags: Vec<Frag> = Vec::new();
    for value in values {
        if keyword {
            if keyword_hit(value, wants) {
                frags.push(Frag {
                    score: 1,
                    order: frags.len(),
                    text: tagged(value, &[(0, value.len())], opts),
                });
            }
            continue;
        }
        let toks = tokens(value);
        let (marked, group) = mark_text(&toks, wants);
        if !marked.contains(&true) {
            continue;
        }
        for (from, to) in cut(value, &toks, &group, opts) {
            let inside: Vec<usize> = (0..toks.len())
                .filter(|&i| marked[i] && toks[i].from >= from && toks[i].to <= to)
                .collect();
            let distinct: HashSet<&str> = inside.iter().map(|&i| toks[i].text.as_str()).collect();
            if distinct.is_empty() {
                continue;
            }
            let spans: Vec<(usize, usize)> = inside
                .iter()
                .map(|&i| (toks[i].from - from, toks[i].to - from))
                .collect();
            frags.push(Frag {
                score: distinct.len(),
                order: frags.len(),
                text: tagged(&value[from..to], &spans, opts),
            });
        }
    }
    if frags.is_empty() {
        return no_match(values, opts).into_iter().collect();
    }
    if opts.number_of_fragments > 0 {
        // The best fragments (earlier ones win ties), shown in field order
        // unless `order: score`.
        frags.sort_by(|a, b| b.score.cmp(&a.score).then(a.order.cmp(&b.order)));
        frags.truncate(opts.number_of_fragments);
        if !opts.order_by_score {
            frags.sort_by_key(|f| f.order);
        }
    }
    frags.into_iter().map(|f| f.text).collect()
}

/// Byte ranges of the fragments of a value: the whole value when
/// `number_of_fragments` (or `fragment_size`) is 0; else a new fragment
/// starts at the first token ending past the next multiple of
/// `fragment_size` characters (as Lucene's simple fragmenter does), never
/// inside a phrase match. Fragments are trimmed of surrounding whitespace.
fn cut(
    value: &str,
    toks: &[Tok],
    group: &[Option<usize>],
    opts: &HighlightOptions,
) -> Vec<(usize, usize)> {
    if opts.number_of_fragments == 0 || opts.fragment_size == 0 {
        return vec![(0, value.len())];
    }
    let mut starts = vec![0usize];
    {
        let mut chars = 0usize;
        let mut at = 0usize;
        let mut n = 1usize;
        let mut first_in_frag = true;
        for (i, t) in toks.iter().enumerate() {
            chars += value[at..t.to].chars().count();
            at = t.to;
            let in_phrase = i > 0 && group[i].is_some() && group[i] == group[i - 1];
            if !first_in_frag && !in_phrase && chars >= opts.fragment_size * n {
                starts.push(t.from);
                // Lucene counts fragments, not their lengths.
                n = chars / opts.fragment_size + 1;
                first_in_frag = true;
            } else {
                first_in_frag = false;
            }
        }
    }
    let mut out = Vec::with_capacity(starts.len());
    for (k, &s) in starts.iter().enumerate() {
        let e = starts.get(k + 1).copied().unwrap_or(value.len());
        let piece = &value[s..e];
        let lead = piece.len() - piece.trim_start().len();
        let trail = piece.len() - piece.trim_end().len();
        if s + lead < e - trail {
            out.push((s + lead, e - trail));
        }
    }
    out
}

/// `text` with `spans` (sorted byte ranges) wrapped in the tags.
fn tagged(text: &str, spans: &[(usize, usize)], opts: &HighlightOptions) -> String {
    let mut out = String::with_capacity(text.len() + spans.len() * 9);
    let mut at = 0;
    for &(s, e) in spans {
        if s < at {
            continue;
        }
        push_text(&mut out, &text[at..s], opts.html_encode);
        out.push_str(&opts.pre_tag);
        push_text(&mut out, &text[s..e], opts.html_encode);
        out.push_str(&opts.post_tag);
        at = e;
    }
    push_text(&mut out, &text[at..], opts.html_encode);
    out
}

fn push_text(out: &mut String, s: &str, html: bool) {
    if !html {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
}

/// `no_match_size`: the start of the first value when nothing matched,
/// ending at a word boundary when one is near.
fn no_match(values: &[&str], opts: &HighlightOptions) -> Option<String> {
    if opts.no_match_size == 0 {
        return None;
    }
    let v = values.iter().find(|v| !v.trim().is_empty())?.trim_start();
    let mut end = v
        .char_indices()
        .nth(opts.no_match_size)
        .map_or(v.len(), |(i, _)| i);
    if end < v.len() {
        if let Some(space) = v[..end].rfind(char::is_whitespace) {
            end = space;
        }
    }
    let mut out = String::new();
    push_text(&mut out, v[..end].trim_end(), opts.html_encode);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::lucene;
    use crate::query::model::HighlightOptions;
    use serde_json::json;

    fn mapping() -> Mapping {
        let mut m = Mapping::default();
        m.fields.insert("message".into(), FieldKind::Text);
        m.fields.insert("title".into(), FieldKind::Text);
        m.fields.insert("service".into(), FieldKind::Keyword);
        m.fields.insert("n".into(), FieldKind::Long);
        m
    }

    fn hl(
        fields: &[&str],
        opts: HighlightOptions,
        q: &str,
        src: &Value,
    ) -> Option<Map<String, Value>> {
        let h = Highlight {
            fields: fields
                .iter()
                .map(|f| (f.to_string(), opts.clone()))
                .collect(),
        };
        let query = lucene::parse(q, &lucene::Options::default()).unwrap();
        Plan::new(&h, &query).hit(&mapping(), src)
    }

    /// Fragments of `field`, or none.
    fn frags(out: &Option<Map<String, Value>>, field: &str) -> Vec<String> {
        out.as_ref()
            .and_then(|m| m.get(field))
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn terms_phrases_tags_and_field_match() {
        let src = json!({"message": "Connection RESET by peer; reset again", "title": "reset", "service": "api-gw", "n": 5});
        let d = HighlightOptions::default();
        let out = hl(&["message"], d.clone(), "message:reset", &src);
        assert_eq!(
            frags(&out, "message"),
            ["Connection <em>RESET</em> by peer; <em>reset</em> again"]
        );
        // Only the phrase occurrence, each term tagged.
        let out = hl(&["message"], d.clone(), "message:\"reset by\"", &src);
        assert_eq!(
            frags(&out, "message"),
            ["Connection <em>RESET</em> <em>by</em> peer; reset again"]
        );
        // require_field_match: a clause on `message` does not mark `title`.
        let out = hl(&["*"], d.clone(), "message:reset", &src);
        assert_eq!(frags(&out, "title"), Vec::<String>::new());
        assert_eq!(frags(&out, "message").len(), 1);
        let loose = HighlightOptions {
            require_field_match: false,
            ..d.clone()
        };
        let out = hl(&["*"], loose, "message:reset", &src);
        assert_eq!(frags(&out, "title"), ["<em>reset</em>"]);
        // Terms without a field mark every field; keyword values whole;
        // numbers are not highlighted.
        let out = hl(&["*"], d.clone(), "reset OR api-gw OR 5", &src);
        assert_eq!(frags(&out, "title"), ["<em>reset</em>"]);
        assert_eq!(frags(&out, "service"), ["<em>api-gw</em>"]);
        assert!(frags(&out, "n").is_empty());
        // Wildcards, prefixes, fuzzy.
        let out = hl(
            &["message"],
            d.clone(),
            "message:conn* OR message:peeer~1",
            &src,
        );
        assert_eq!(
            frags(&out, "message"),
            ["<em>Connection</em> RESET by <em>peer</em>; reset again"]
        );
        // Other tags; HTML encoding; no match at all: no key.
        let tags = HighlightOptions {
            pre_tag: "[".into(),
            post_tag: "]".into(),
            html_encode: true,
            ..d.clone()
        };
        let out = hl(
            &["message"],
            tags,
            "message:peer",
            &json!({"message": "a<b> & peer"}),
        );
        assert_eq!(frags(&out, "message"), ["a&lt;b&gt; &amp; [peer]"]);
        assert_eq!(hl(&["message"], d, "message:nothing", &src), None);
    }

    #[test]
    fn fragments_sizes_counts_and_order() {
        // 30 words of 9 characters; "match" in words 3, 12 (twice) and 25.
        let words: Vec<String> = (0..30)
            .map(|i| match i {
                3 | 25 => "matchword".to_string(),
                12 => "match mat".to_string(),
                _ => format!("filler{i:03}"),
            })
            .collect();
        let text = words.join(" ");
        let src = json!({"message": [text.clone(), "second value with match"]});
        let opts = HighlightOptions {
            fragment_size: 40,
            ..HighlightOptions::default()
        };
        let q = "message:matchword OR message:match";
        let out = frags(&hl(&["message"], opts.clone(), q, &src), "message");
        let plain = |f: &str| f.replace("<em>", "").replace("</em>", "");
        assert_eq!(out.len(), 4, "{out:?}");
        for f in &out {
            assert!(f.contains("<em>"), "{f}");
            // Cut at word starts from the value's own text, about 40 chars.
            assert!(
                text.contains(&plain(f)) || plain(f) == "second value with match",
                "{f}"
            );
            assert!(plain(f).chars().count() <= 40 + 10, "{f}");
        }
        assert_eq!(out[3], "second value with <em>match</em>");
        assert!(out[0].contains("<em>matchword</em>") && out[2].contains("<em>matchword</em>"));
        // Best two (the fragment with both terms first), in field order.
        let two = HighlightOptions {
            number_of_fragments: 2,
            ..opts.clone()
        };
        let best = frags(&hl(&["message"], two.clone(), q, &src), "message");
        assert_eq!(best.len(), 2);
        assert!(best[0].contains("<em>matchword</em>"), "{best:?}");
        assert!(best[1].contains("<em>match</em>"), "{best:?}");
        let by_score = HighlightOptions {
            order_by_score: true,
            ..two
        };
        let best = frags(
            &hl(&["message"], by_score, "message:match OR message:mat", &src),
            "message",
        );
        assert!(best[0].contains("<em>match</em> <em>mat</em>"), "{best:?}");
        // 0 fragments: every matching value whole.
        let whole = HighlightOptions {
            number_of_fragments: 0,
            ..opts.clone()
        };
        let all = frags(&hl(&["message"], whole, q, &src), "message");
        assert_eq!(all.len(), 2);
        assert_eq!(plain(&all[0]), text);
        // no_match_size: the start of the field when nothing matched.
        let nm = HighlightOptions {
            no_match_size: 20,
            ..opts
        };
        let start = frags(&hl(&["message"], nm, "message:absent", &src), "message");
        assert_eq!(start, ["filler000 filler001"]);
    }

    #[test]
    fn values_from_nested_and_dotted_sources() {
        let mut m = Mapping::default();
        m.fields.insert("http.msg".into(), FieldKind::Text);
        let h = Highlight {
            fields: vec![("http.msg".into(), HighlightOptions::default())],
        };
        let q = lucene::parse("http.msg:slow", &lucene::Options::default()).unwrap();
        let plan = Plan::new(&h, &q);
        for src in [
            json!({"http": {"msg": "slow call"}}),
            json!({"http.msg": "slow call"}),
            json!({"http": [{"msg": "fast"}, {"msg": "slow call"}]}),
        ] {
            let out = plan.hit(&m, &src);
            assert_eq!(frags(&out, "http.msg"), ["<em>slow</em> call"], "{src}");
        }
    }
}

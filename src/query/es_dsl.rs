//! The Elasticsearch query DSL and search body, parsed into the neutral
//! model. Every unknown clause or malformed parameter is an error that names
//! it, as Elasticsearch's `parsing_exception` does.

use serde_json::{Map, Value};

use super::aggs::parse_aggs;
use super::lucene;
use super::model::*;

/// Why a request body could not be understood.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DslError {
    /// A malformed clause or parameter.
    #[error("{0}")]
    Parsing(String),
    /// A query type we do not know.
    #[error("unknown query [{0}]")]
    UnknownQuery(String),
    /// An aggregation type we do not know.
    #[error("{0}")]
    UnknownAgg(String),
    /// A Lucene query-string syntax error.
    #[error("{0}")]
    QueryString(#[from] lucene::LuceneError),
}

const MAX_DEPTH: usize = 64;

fn perr(msg: impl Into<String>) -> DslError {
    DslError::Parsing(msg.into())
}

/// `{"field": value}` or `{"field": {"value"/"query": ..., opts}}`: split
/// into field name, the inner options object (if any) and the shorthand value.
fn single_field<'a>(typ: &str, body: &'a Value) -> Result<(&'a str, &'a Value), DslError> {
    let m = body
        .as_object()
        .ok_or_else(|| perr(format!("[{typ}] query malformed, expected an object")))?;
    let mut field = None;
    for (k, v) in m {
        if k == "boost" || k == "_name" {
            continue;
        }
        if field.is_some() {
            return Err(perr(format!(
                "[{typ}] query doesn't support multiple fields, found [{}] and [{k}]",
                field.map(|f: (&str, &Value)| f.0).unwrap_or_default()
            )));
        }
        field = Some((k.as_str(), v));
    }
    field.ok_or_else(|| perr(format!("[{typ}] query requires a field")))
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn parse_min_should(v: &Value) -> Result<MinShould, DslError> {
    match v {
        Value::Number(n) => Ok(MinShould::Count(n.as_i64().unwrap_or(0))),
        Value::String(s) => {
            let t = s.trim();
            if let Some(p) = t.strip_suffix('%') {
                p.trim()
                    .parse::<f64>()
                    .map(MinShould::Percent)
                    .map_err(|_| perr(format!("cannot parse [minimum_should_match] [{s}]")))
            } else {
                t.parse::<i64>()
                    .map(MinShould::Count)
                    .map_err(|_| perr(format!("cannot parse [minimum_should_match] [{s}]")))
            }
        }
        _ => Err(perr("[minimum_should_match] must be a number or string")),
    }
}

fn parse_fuzziness(v: &Value) -> Result<Option<u8>, DslError> {
    Ok(match v {
        Value::Number(n) => Some(n.as_u64().unwrap_or(0).min(2) as u8),
        Value::String(s) if s.eq_ignore_ascii_case("auto") || s.starts_with("AUTO") => {
            Some(u8::MAX)
        }
        Value::String(s) => Some(
            s.parse::<u8>()
                .map_err(|_| perr(format!("invalid [fuzziness] [{s}]")))?
                .min(2),
        ),
        _ => None,
    })
}

fn get_bool(m: &Map<String, Value>, k: &str) -> bool {
    match m.get(k) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    }
}

fn check_keys(typ: &str, m: &Map<String, Value>, allowed: &[&str]) -> Result<(), DslError> {
    for k in m.keys() {
        if !allowed.contains(&k.as_str()) && k != "boost" && k != "_name" {
            return Err(perr(format!("[{typ}] query does not support [{k}]")));
        }
    }
    Ok(())
}

fn parse_operator(v: Option<&Value>) -> Result<Operator, DslError> {
    match v
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("or") => Ok(Operator::Or),
        Some("and") => Ok(Operator::And),
        Some(o) => Err(perr(format!("unknown operator [{o}]"))),
    }
}

fn boost_of(m: &Map<String, Value>) -> Option<f32> {
    m.get("boost").and_then(Value::as_f64).map(|b| b as f32)
}

fn with_boost(q: Query, b: Option<f32>) -> Query {
    match b {
        Some(b) if (b - 1.0).abs() > f32::EPSILON => Query::Boost {
            inner: Box::new(q),
            boost: b,
        },
        _ => q,
    }
}

fn clauses(v: &Value, depth: usize) -> Result<Vec<Query>, DslError> {
    match v {
        Value::Array(a) => a.iter().map(|q| parse_query(q, depth + 1)).collect(),
        Value::Object(_) => Ok(vec![parse_query(v, depth + 1)?]),
        _ => Err(perr("[bool] clauses must be objects or arrays of objects")),
    }
}

fn field_list(v: Option<&Value>) -> Result<Vec<String>, DslError> {
    match v {
        None => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|f| {
                f.as_str()
                    .map(|s| s.split('^').next().unwrap_or(s).to_string())
                    .ok_or_else(|| perr("[fields] must be strings"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|v| v.into_iter().filter(|f| f != "*").collect()),
        Some(Value::String(s)) => Ok(if s == "*" {
            Vec::new()
        } else {
            vec![s.clone()]
        }),
        Some(_) => Err(perr("[fields] must be an array of strings")),
    }
}

/// Parse one query object such as `{"match": {"level": "ERROR"}}`.
pub fn parse_query(v: &Value, depth: usize) -> Result<Query, DslError> {
    if depth > MAX_DEPTH {
        return Err(perr(format!("query nested deeper than {MAX_DEPTH} levels")));
    }
    let m = v
        .as_object()
        .ok_or_else(|| perr("query malformed, expected an object with one query type"))?;
    if m.is_empty() {
        return Ok(Query::MatchAll);
    }
    if m.len() != 1 {
        let keys: Vec<&str> = m.keys().map(String::as_str).collect();
        return Err(perr(format!(
            "[{}] malformed query, expected [END_OBJECT] but found [FIELD_NAME]",
            keys.join(", ")
        )));
    }
    let (typ, body) = m.iter().next().ok_or_else(|| perr("empty query"))?;
    let empty = Map::new();
    let obj = body.as_object().unwrap_or(&empty);
    let q = match typ.as_str() {
        "match_all" => with_boost(Query::MatchAll, boost_of(obj)),
        "match_none" => Query::MatchNone,
        "match" | "match_phrase" | "match_phrase_prefix" | "match_bool_prefix" => {
            let (field, inner) = single_field(typ, body)?;
            let (text, opts) = match inner {
                Value::Object(o) => {
                    let text = o.get("query").and_then(as_text).ok_or_else(|| {
                        perr(format!(
                            "[{typ}] query requires [query] for field [{field}]"
                        ))
                    })?;
                    (text, Some(o))
                }
                other => (
                    as_text(other).ok_or_else(|| {
                        perr(format!("[{typ}] unknown token for field [{field}]"))
                    })?,
                    None,
                ),
            };
            let empty = Map::new();
            let o = opts.unwrap_or(&empty);
            if typ == "match" || typ == "match_bool_prefix" {
                check_keys(
                    typ,
                    o,
                    &[
                        "query",
                        "operator",
                        "minimum_should_match",
                        "fuzziness",
                        "lenient",
                        "analyzer",
                        "zero_terms_query",
                        "auto_generate_synonyms_phrase_query",
                        "prefix_length",
                        "max_expansions",
                        "fuzzy_transpositions",
                    ],
                )?;
                Query::Match {
                    fields: vec![field.to_string()],
                    text,
                    operator: parse_operator(o.get("operator"))?,
                    minimum_should_match: o
                        .get("minimum_should_match")
                        .map(parse_min_should)
                        .transpose()?,
                    lenient: get_bool(o, "lenient"),
                    fuzziness: match o.get("fuzziness") {
                        Some(f) => parse_fuzziness(f)?,
                        None => None,
                    },
                }
            } else {
                check_keys(
                    typ,
                    o,
                    &[
                        "query",
                        "slop",
                        "analyzer",
                        "max_expansions",
                        "zero_terms_query",
                    ],
                )?;
                Query::MatchPhrase {
                    fields: vec![field.to_string()],
                    text,
                    slop: o.get("slop").and_then(Value::as_u64).unwrap_or(0) as u32,
                    lenient: false,
                    prefix: typ == "match_phrase_prefix",
                }
            }
        }
        "multi_match" => {
            check_keys(
                typ,
                obj,
                &[
                    "query",
                    "fields",
                    "type",
                    "operator",
                    "minimum_should_match",
                    "lenient",
                    "slop",
                    "fuzziness",
                    "tie_breaker",
                    "analyzer",
                ],
            )?;
            let text = obj
                .get("query")
                .and_then(as_text)
                .ok_or_else(|| perr("[multi_match] requires [query]"))?;
            let fields = field_list(obj.get("fields"))?;
            let typ_s = obj
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("best_fields");
            match typ_s {
                "phrase" | "phrase_prefix" => Query::MatchPhrase {
                    fields,
                    text,
                    slop: obj.get("slop").and_then(Value::as_u64).unwrap_or(0) as u32,
                    lenient: true,
                    prefix: typ_s == "phrase_prefix",
                },
                "best_fields" | "most_fields" | "cross_fields" | "bool_prefix" => Query::Match {
                    fields,
                    text,
                    operator: parse_operator(obj.get("operator"))?,
                    minimum_should_match: obj
                        .get("minimum_should_match")
                        .map(parse_min_should)
                        .transpose()?,
                    lenient: true,
                    fuzziness: match obj.get("fuzziness") {
                        Some(f) => parse_fuzziness(f)?,
                        None => None,
                    },
                },
                other => return Err(perr(format!("[multi_match] unknown type [{other}]"))),
            }
        }
        "term" => {
            let (field, inner) = single_field(typ, body)?;
            let (value, ci) = match inner {
                Value::Object(o) => {
                    check_keys(typ, o, &["value", "case_insensitive"])?;
                    (
                        o.get("value").cloned().ok_or_else(|| {
                            perr(format!("[term] query requires [value] for field [{field}]"))
                        })?,
                        get_bool(o, "case_insensitive"),
                    )
                }
                Value::Array(_) => {
                    return Err(perr(format!(
                        "[term] query does not support array of values for field [{field}]"
                    )))
                }
                v => (v.clone(), false),
            };
            if value.is_null() || value.is_object() || value.is_array() {
                return Err(perr(format!(
                    "[term] query value for field [{field}] must be a string, number or boolean"
                )));
            }
            Query::Term {
                field: field.to_string(),
                value,
                case_insensitive: ci,
            }
        }
        "terms" => {
            let (field, inner) = single_field(typ, body)?;
            let values = inner.as_array().ok_or_else(|| {
                perr(format!(
                    "[terms] query requires an array of values for field [{field}]"
                ))
            })?;
            Query::Terms {
                field: field.to_string(),
                values: values.clone(),
            }
        }
        "range" => {
            let (field, inner) = single_field(typ, body)?;
            let o = inner
                .as_object()
                .ok_or_else(|| perr(format!("[range] query malformed for field [{field}]")))?;
            let mut r = Range::default();
            let mut include_lower = true;
            let mut include_upper = true;
            let mut from = None;
            let mut to = None;
            for (k, v) in o {
                let val = || RangeBound {
                    value: v.clone(),
                    inclusive: false,
                };
                match k.as_str() {
                    "gte" => {
                        r.lower = Some(RangeBound {
                            inclusive: true,
                            ..val()
                        })
                    }
                    "gt" => r.lower = Some(val()),
                    "lte" => {
                        r.upper = Some(RangeBound {
                            inclusive: true,
                            ..val()
                        })
                    }
                    "lt" => r.upper = Some(val()),
                    "from" => from = Some(v.clone()),
                    "to" => to = Some(v.clone()),
                    "include_lower" => include_lower = v.as_bool().unwrap_or(true),
                    "include_upper" => include_upper = v.as_bool().unwrap_or(true),
                    "format" => r.format = v.as_str().map(str::to_string),
                    "time_zone" => r.time_zone = v.as_str().map(str::to_string),
                    "boost" | "relation" | "_name" => {}
                    other => return Err(perr(format!("[range] query does not support [{other}]"))),
                }
            }
            if let Some(f) = from.filter(|v| !v.is_null()) {
                r.lower = Some(RangeBound {
                    value: f,
                    inclusive: include_lower,
                });
            }
            if let Some(t) = to.filter(|v| !v.is_null()) {
                r.upper = Some(RangeBound {
                    value: t,
                    inclusive: include_upper,
                });
            }
            for b in [&r.lower, &r.upper].into_iter().flatten() {
                if b.value.is_null() || b.value.is_object() || b.value.is_array() {
                    return Err(perr(format!(
                        "[range] bound for field [{field}] must be a string or number"
                    )));
                }
            }
            Query::Range {
                field: field.to_string(),
                range: r,
            }
        }
        "exists" => Query::Exists {
            field: obj
                .get("field")
                .and_then(Value::as_str)
                .ok_or_else(|| perr("[exists] query requires [field]"))?
                .to_string(),
        },
        "prefix" | "wildcard" | "regexp" | "fuzzy" => {
            let (field, inner) = single_field(typ, body)?;
            let (value, ci, fuzz) = match inner {
                Value::Object(o) => (
                    o.get("value")
                        .or_else(|| o.get(typ.as_str()))
                        .and_then(as_text)
                        .ok_or_else(|| {
                            perr(format!(
                                "[{typ}] query requires [value] for field [{field}]"
                            ))
                        })?,
                    get_bool(o, "case_insensitive"),
                    o.get("fuzziness"),
                ),
                v => (
                    as_text(v)
                        .ok_or_else(|| perr(format!("[{typ}] query value must be a string")))?,
                    false,
                    None,
                ),
            };
            let field = field.to_string();
            match typ.as_str() {
                "prefix" => Query::Prefix {
                    field,
                    value,
                    case_insensitive: ci,
                },
                "wildcard" => Query::Wildcard {
                    field,
                    pattern: value,
                    case_insensitive: ci,
                },
                "regexp" => Query::Regexp {
                    field,
                    pattern: value,
                    case_insensitive: ci,
                },
                _ => Query::Fuzzy {
                    field,
                    value,
                    distance: match fuzz {
                        Some(f) => parse_fuzziness(f)?.unwrap_or(u8::MAX),
                        None => u8::MAX,
                    },
                },
            }
        }
        "ids" => {
            let vals = obj
                .get("values")
                .and_then(Value::as_array)
                .ok_or_else(|| perr("[ids] query requires [values] array"))?;
            Query::Ids(vals.iter().filter_map(as_text).collect())
        }
        "query_string" | "simple_query_string" => {
            let simple = typ == "simple_query_string";
            let query = obj
                .get("query")
                .and_then(as_text)
                .ok_or_else(|| perr(format!("[{typ}] requires [query]")))?;
            let mut fields = field_list(obj.get("fields"))?;
            if let Some(df) = obj.get("default_field").and_then(Value::as_str) {
                if df != "*" {
                    fields = vec![df.to_string()];
                }
            }
            let opts = lucene::Options {
                default_fields: fields,
                default_operator: parse_operator(obj.get("default_operator"))?,
                simple,
            };
            lucene::parse(&query, &opts)?
        }
        "bool" => {
            let mut b = BoolQuery::default();
            for (k, v) in obj {
                match k.as_str() {
                    "must" => b.must = clauses(v, depth)?,
                    "should" => b.should = clauses(v, depth)?,
                    "must_not" => b.must_not = clauses(v, depth)?,
                    "filter" => b.filter = clauses(v, depth)?,
                    "minimum_should_match" => b.minimum_should_match = Some(parse_min_should(v)?),
                    "boost" | "_name" | "adjust_pure_negative" => {}
                    other => return Err(perr(format!("[bool] query does not support [{other}]"))),
                }
            }
            with_boost(Query::Bool(Box::new(b)), boost_of(obj))
        }
        "constant_score" => Query::ConstantScore {
            filter: Box::new(parse_query(
                obj.get("filter")
                    .ok_or_else(|| perr("[constant_score] requires a 'filter' element"))?,
                depth + 1,
            )?),
            boost: boost_of(obj).unwrap_or(1.0),
        },
        "dis_max" => {
            let qs = obj
                .get("queries")
                .ok_or_else(|| perr("[dis_max] requires [queries]"))?;
            Query::Bool(Box::new(BoolQuery {
                should: clauses(qs, depth)?,
                ..Default::default()
            }))
        }
        "boosting" => {
            let pos = obj
                .get("positive")
                .ok_or_else(|| perr("[boosting] requires [positive]"))?;
            parse_query(pos, depth + 1)?
        }
        other => return Err(DslError::UnknownQuery(other.to_string())),
    };
    Ok(q)
}

/// Parse `sort` in any of its forms: `"field"`, `{"field": "desc"}`,
/// `{"field": {"order": "desc", "missing": "_first"}}`, or arrays of these.
pub fn parse_sort(v: &Value) -> Result<Vec<SortSpec>, DslError> {
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    let mut out = Vec::new();
    for it in items {
        match it {
            Value::String(s) => {
                for part in s.split(',') {
                    let (f, o) = match part.split_once(':') {
                        Some((f, o)) => (f, parse_order(o)?),
                        None => (part, None),
                    };
                    out.push(sort_spec(f.trim(), o, Missing::Last, None, None));
                }
            }
            Value::Object(m) => {
                for (f, spec) in m {
                    match spec {
                        Value::String(o) => {
                            out.push(sort_spec(f, parse_order(o)?, Missing::Last, None, None))
                        }
                        Value::Object(o) => {
                            let order = match o.get("order") {
                                Some(Value::String(s)) => parse_order(s)?,
                                _ => None,
                            };
                            let missing = match o.get("missing") {
                                None => Missing::Last,
                                Some(Value::String(s)) if s == "_last" => Missing::Last,
                                Some(Value::String(s)) if s == "_first" => Missing::First,
                                Some(v) => Missing::Value(v.clone()),
                            };
                            let format =
                                o.get("format").and_then(Value::as_str).map(str::to_string);
                            let unmapped = match o.get("unmapped_type") {
                                None | Some(Value::Null) => None,
                                Some(Value::String(t)) => Some(t.clone()),
                                Some(_) => {
                                    return Err(perr(format!(
                                        "[unmapped_type] of sort field [{f}] must be a string"
                                    )))
                                }
                            };
                            out.push(sort_spec(f, order, missing, format, unmapped));
                        }
                        _ => return Err(perr(format!("malformed sort for field [{f}]"))),
                    }
                }
            }
            _ => return Err(perr("[sort] must be a string, object or array")),
        }
    }
    Ok(out)
}

fn parse_order(s: &str) -> Result<Option<Order>, DslError> {
    match s.to_ascii_lowercase().as_str() {
        "asc" => Ok(Some(Order::Asc)),
        "desc" => Ok(Some(Order::Desc)),
        other => Err(perr(format!(
            "unknown sort order [{other}], expected [asc] or [desc]"
        ))),
    }
}

fn sort_spec(
    field: &str,
    order: Option<Order>,
    missing: Missing,
    format: Option<String>,
    unmapped_type: Option<String>,
) -> SortSpec {
    match field {
        "_score" => SortSpec {
            key: SortKey::Score,
            order: order.unwrap_or(Order::Desc),
        },
        "_doc" => SortSpec {
            key: SortKey::Doc,
            order: order.unwrap_or(Order::Asc),
        },
        f => SortSpec {
            key: SortKey::Field {
                field: f.to_string(),
                missing,
                format,
                unmapped_type,
            },
            order: order.unwrap_or(Order::Asc),
        },
    }
}

/// `_source`: `false`, `"field"`, `["a", "b*"]` or `{"includes": .., "excludes": ..}`.
pub fn parse_source_filter(v: &Value) -> Result<SourceFilter, DslError> {
    let list = |v: Option<&Value>| -> Result<Vec<String>, DslError> {
        match v {
            None => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| {
                    x.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| perr("[_source] patterns must be strings"))
                })
                .collect(),
            Some(_) => Err(perr("[_source] patterns must be strings")),
        }
    };
    Ok(match v {
        Value::Bool(b) => SourceFilter {
            disabled: !b,
            ..Default::default()
        },
        Value::String(_) | Value::Array(_) => SourceFilter {
            includes: list(Some(v))?,
            ..Default::default()
        },
        Value::Object(m) => SourceFilter {
            disabled: false,
            includes: list(m.get("includes").or_else(|| m.get("include")))?,
            excludes: list(m.get("excludes").or_else(|| m.get("exclude")))?,
        },
        _ => return Err(perr("[_source] must be a boolean, string, array or object")),
    })
}

/// Parse a whole `_search` body.
pub fn parse_search_body(body: &Value) -> Result<SearchRequest, DslError> {
    let mut req = SearchRequest::default();
    let m = match body {
        Value::Null => return Ok(req),
        Value::Object(m) => m,
        _ => return Err(perr("request body must be a JSON object")),
    };
    for (k, v) in m {
        match k.as_str() {
            "query" => req.query = parse_query(v, 0)?,
            "from" => req.from = usize_of(k, v)?,
            "size" => req.size = usize_of(k, v)?,
            "sort" => req.sort = parse_sort(v)?,
            "search_after" => {
                req.search_after = Some(
                    v.as_array()
                        .ok_or_else(|| perr("[search_after] must be an array"))?
                        .clone(),
                )
            }
            "_source" => req.source = parse_source_filter(v)?,
            "track_total_hits" => req.track_total_hits = parse_track_total(v)?,
            "track_scores" => req.track_scores = v.as_bool().unwrap_or(false),
            "aggs" | "aggregations" => req.aggs = parse_aggs(v, 0)?,
            "timeout" => {
                req.timeout_ms = v
                    .as_str()
                    .and_then(super::datemath::parse_duration_ms)
                    .map(|x| x as u64)
            }
            "post_filter" => req.post_filter = Some(parse_query(v, 0)?),
            "highlight" => req.highlight = Some(parse_highlight(v)?),
            // Grafana and Kibana send them empty; a real one would be
            // silently wrong if ignored (a runtime field matches nothing)
            "runtime_mappings" | "script_fields" => {
                if v.as_object().is_some_and(|m| !m.is_empty()) {
                    let what = if k == "runtime_mappings" {
                        "runtime fields ([runtime_mappings])"
                    } else {
                        "[script_fields]"
                    };
                    return Err(perr(format!(
                        "{what} are not supported by logweave: scripts do not run; index the value as a field instead"
                    )));
                }
            }
            // Accepted and ignored: they do not change which documents match.
            "version"
            | "seq_no_primary_term"
            | "explain"
            | "stored_fields"
            | "docvalue_fields"
            | "fields"
            | "min_score"
            | "terminate_after"
            | "profile"
            | "stats"
            | "indices_boost"
            | "pit"
            | "collapse"
            | "rescore"
            | "suggest"
            | "ext" => {}
            other => {
                return Err(perr(format!(
                    "Unknown key for a START_OBJECT in [{other}]."
                )));
            }
        }
    }
    Ok(req)
}

/// `highlight`: options at the top apply to every field; `fields` (an
/// object, or an array of one-field objects to keep an order) names the
/// fields or patterns and may override them per field.
pub fn parse_highlight(v: &Value) -> Result<Highlight, DslError> {
    let m = v
        .as_object()
        .ok_or_else(|| perr("[highlight] must be an object"))?;
    let mut global = HighlightOptions::default();
    let mut fields = None;
    for (k, val) in m {
        if k == "fields" {
            fields = Some(val);
        } else {
            highlight_option(&mut global, k, val)?;
        }
    }
    let mut out = Highlight::default();
    let mut add = |name: &str, opts: &Value| -> Result<(), DslError> {
        let mut o = global.clone();
        match opts {
            Value::Object(fm) => {
                for (k, val) in fm {
                    highlight_option(&mut o, k, val)?;
                }
            }
            Value::Null => {}
            _ => {
                return Err(perr(format!(
                    "[highlight] field [{name}] must be an object"
                )))
            }
        }
        out.fields.push((name.to_string(), o));
        Ok(())
    };
    match fields {
        Some(Value::Object(fs)) => {
            for (name, opts) in fs {
                add(name, opts)?;
            }
        }
        Some(Value::Array(items)) => {
            for it in items {
                let one = it.as_object().filter(|o| o.len() == 1).ok_or_else(|| {
                    perr("[highlight] [fields] array items must be objects with one field")
                })?;
                for (name, opts) in one {
                    add(name, opts)?;
                }
            }
        }
        Some(Value::String(name)) => add(name, &Value::Null)?,
        None => return Err(perr("[highlight] requires [fields]")),
        Some(_) => return Err(perr("[highlight] [fields] must be an object or an array")),
    }
    Ok(out)
}

/// One highlight option (global or per field).
fn highlight_option(o: &mut HighlightOptions, k: &str, v: &Value) -> Result<(), DslError> {
    let tags = |v: &Value| -> Result<String, DslError> {
        let first = match v {
            Value::String(s) => Some(s.clone()),
            Value::Array(a) => a.first().and_then(Value::as_str).map(str::to_string),
            _ => None,
        };
        first.ok_or_else(|| {
            perr(format!(
                "[highlight] [{k}] must be a string or an array of strings"
            ))
        })
    };
    let count = |v: &Value| -> Result<usize, DslError> {
        match v {
            Value::Number(n) => n.as_u64().map(|x| x as usize),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
        .ok_or_else(|| {
            perr(format!(
                "[highlight] [{k}] must be a non-negative integer, got {v}"
            ))
        })
    };
    match k {
        // The plain highlighter uses the first tag of each list.
        "pre_tags" => o.pre_tag = tags(v)?,
        "post_tags" => o.post_tag = tags(v)?,
        "tags_schema" => match v.as_str() {
            Some("styled") => {
                o.pre_tag = "<em class=\"hlt1\">".into();
                o.post_tag = "</em>".into();
            }
            _ => return Err(perr(format!("Unknown tag schema [{v}]"))),
        },
        "fragment_size" => o.fragment_size = count(v)?,
        "number_of_fragments" => o.number_of_fragments = count(v)?,
        "no_match_size" => o.no_match_size = count(v)?,
        "require_field_match" => {
            o.require_field_match = match v {
                Value::Bool(b) => *b,
                Value::String(s) if s == "true" || s == "false" => s == "true",
                _ => return Err(perr("[highlight] [require_field_match] must be a boolean")),
            }
        }
        "order" => {
            o.order_by_score = match v.as_str() {
                Some("score") => true,
                Some("none") => false,
                _ => {
                    return Err(perr(format!(
                        "[highlight] unknown order [{v}], expected [score] or [none]"
                    )))
                }
            }
        }
        "encoder" => {
            o.html_encode = match v.as_str() {
                Some("html") => true,
                Some("default") => false,
                _ => {
                    return Err(perr(format!(
                        "[highlight] unknown encoder [{v}], expected [default] or [html]"
                    )))
                }
            }
        }
        "highlight_query" => o.query = Some(parse_query(v, 0)?),
        // Every highlighter type is answered by the plain one; the tuning
        // knobs of the others do not apply to it.
        "type" => match v.as_str() {
            Some("plain" | "unified" | "fvh") => {}
            _ => return Err(perr(format!("unknown highlighter type [{v}]"))),
        },
        "fragmenter"
        | "boundary_chars"
        | "boundary_max_scan"
        | "boundary_scanner"
        | "boundary_scanner_locale"
        | "force_source"
        | "phrase_limit"
        | "fragment_offset"
        | "matched_fields"
        | "max_analyzed_offset" => {}
        other => return Err(perr(format!("[highlight] unknown field [{other}]"))),
    }
    Ok(())
}

/// `track_total_hits`: bool or a number.
pub fn parse_track_total(v: &Value) -> Result<TrackTotal, DslError> {
    Ok(match v {
        Value::Bool(true) => TrackTotal::Exact,
        Value::Bool(false) => TrackTotal::Off,
        Value::Number(n) => match n.as_i64() {
            Some(-1) => TrackTotal::Off,
            Some(n) if n >= 0 => TrackTotal::UpTo(n as u64),
            _ => {
                return Err(perr(
                    "[track_total_hits] must be a boolean or a non-negative number",
                ))
            }
        },
        Value::String(s) if s == "true" => TrackTotal::Exact,
        Value::String(s) if s == "false" => TrackTotal::Off,
        Value::String(s) => TrackTotal::UpTo(
            s.parse()
                .map_err(|_| perr("[track_total_hits] must be a boolean or number"))?,
        ),
        _ => return Err(perr("[track_total_hits] must be a boolean or number")),
    })
}

fn usize_of(k: &str, v: &Value) -> Result<usize, DslError> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .map(|x| x as usize)
            .ok_or_else(|| perr(format!("[{k}] must be a non-negative integer"))),
        Value::String(s) => s
            .parse()
            .map_err(|_| perr(format!("[{k}] must be a non-negative integer"))),
        _ => Err(perr(format!("[{k}] must be a non-negative integer"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn common_queries() {
        let q = parse_query(&json!({"match": {"level": "ERROR"}}), 0).unwrap();
        assert!(
            matches!(q, Query::Match { ref fields, .. } if fields == &vec!["level".to_string()])
        );
        let q = parse_query(&json!({"range": {"ts": {"gte": "now-15m/m", "lt": 5}}}), 0).unwrap();
        assert!(
            matches!(q, Query::Range { ref range, .. } if range.lower.as_ref().unwrap().inclusive && !range.upper.as_ref().unwrap().inclusive)
        );
        let q = parse_query(
            &json!({"bool": {"must": {"term": {"a": 1}}, "filter": [{"exists": {"field": "b"}}]}}),
            0,
        )
        .unwrap();
        assert!(matches!(q, Query::Bool(ref b) if b.must.len() == 1 && b.filter.len() == 1));
    }

    #[test]
    fn errors_name_the_clause() {
        assert_eq!(
            parse_query(&json!({"matchh": {}}), 0),
            Err(DslError::UnknownQuery("matchh".into()))
        );
        let e = parse_query(&json!({"match": {"a": {"query": "x", "bogus": 1}}}), 0).unwrap_err();
        assert!(e.to_string().contains("bogus"), "{e}");
        let e = parse_query(&json!({"term": {"a": {"value": [1]}}}), 0).unwrap_err();
        assert!(e.to_string().contains("[term]"), "{e}");
        let e = parse_search_body(&json!({"size": "x"})).unwrap_err();
        assert!(e.to_string().contains("size"));
        let e = parse_search_body(&json!({"aggs": {"x": {"bogus_agg": {}}}})).unwrap_err();
        assert!(e.to_string().contains("bogus_agg"));
    }

    #[test]
    fn deep_nesting_is_rejected() {
        let mut v = json!({"match_all": {}});
        for _ in 0..200 {
            v = json!({"bool": {"must": [v]}});
        }
        assert!(parse_query(&v, 0).is_err());
    }

    #[test]
    fn highlight_options_merge_and_errors_name_the_option() {
        let h = parse_highlight(&json!({
            "pre_tags": ["<b>"], "post_tags": ["</b>"], "fragment_size": 50,
            "fields": {"message": {"number_of_fragments": 0}, "mess*": {}, "title": {
                "require_field_match": false, "highlight_query": {"match": {"title": "x"}},
                "order": "score", "encoder": "html", "type": "unified"}}
        }))
        .unwrap();
        let names: Vec<&str> = h.fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["message", "mess*", "title"]);
        let (m, star, t) = (&h.fields[0].1, &h.fields[1].1, &h.fields[2].1);
        assert_eq!((m.pre_tag.as_str(), m.post_tag.as_str()), ("<b>", "</b>"));
        assert_eq!((m.fragment_size, m.number_of_fragments), (50, 0));
        assert_eq!(star.number_of_fragments, 5);
        assert!(!t.require_field_match && t.order_by_score && t.html_encode && t.query.is_some());
        let d = HighlightOptions::default();
        assert_eq!(
            (d.pre_tag.as_str(), d.fragment_size, d.number_of_fragments),
            ("<em>", 100, 5)
        );
        // Array form keeps the order.
        let h = parse_highlight(&json!({"fields": [{"b": {}}, {"a": {}}]})).unwrap();
        assert_eq!(h.fields[0].0, "b");
        for (bad, says) in [
            (
                json!({"fields": {"m": {"fragmnt_size": 3}}}),
                "fragmnt_size",
            ),
            (
                json!({"fields": {"m": {}}, "number_of_fragments": -1}),
                "number_of_fragments",
            ),
            (json!({"pre_tags": "<b>"}), "[fields]"),
            (json!({"fields": {"m": {"order": "best"}}}), "order"),
        ] {
            let e = parse_search_body(&json!({"highlight": bad})).unwrap_err();
            assert!(e.to_string().contains(says), "{e}");
        }
        let s = parse_sort(&json!([{"x": {"order": "desc", "unmapped_type": "long"}}])).unwrap();
        assert!(matches!(&s[0].key, SortKey::Field { unmapped_type: Some(t), .. } if t == "long"));
    }

    #[test]
    fn sorts() {
        let s =
            parse_sort(&json!([{"timestamp": {"order": "desc"}}, "_score", {"a": "asc"}])).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].order, Order::Desc);
        assert_eq!(s[1].key, SortKey::Score);
    }
}

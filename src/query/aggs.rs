//! Aggregation requests: the Elasticsearch `aggs` JSON parsed into an
//! engine-neutral tree. Unknown aggregation types and bad parameters are
//! rejected here with the aggregation's name in the message.

use serde_json::{Map, Value};

use super::datemath::{parse_duration_ms, CalUnit};
use super::es_dsl::{parse_query, DslError};
use super::model::{Order, Query, SortSpec, SourceFilter};

/// A date histogram's bucket width.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Interval {
    Fixed(i64),
    Calendar(CalUnit),
}

/// How terms buckets are ordered.
#[derive(Debug, Clone, PartialEq)]
pub enum BucketOrder {
    Count(Order),
    Key(Order),
    /// By a metric sub-aggregation (`"avg_latency": "desc"` or `"stats.max"`).
    Metric {
        path: String,
        order: Order,
    },
}

/// One range of a `range` / `date_range` aggregation.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSpec {
    pub key: Option<String>,
    pub from: Option<Value>,
    pub to: Option<Value>,
}

/// What an aggregation computes.
#[derive(Debug, Clone, PartialEq)]
pub enum AggKind {
    Terms {
        field: String,
        size: usize,
        min_doc_count: u64,
        order: Vec<BucketOrder>,
        missing: Option<Value>,
    },
    DateHistogram {
        field: String,
        interval: Interval,
        time_zone: Option<String>,
        offset_ms: i64,
        min_doc_count: u64,
        extended_bounds: Option<(Value, Value)>,
        hard_bounds: Option<(Value, Value)>,
        format: Option<String>,
        keyed: bool,
        order: Option<BucketOrder>,
    },
    Histogram {
        field: String,
        interval: f64,
        offset: f64,
        min_doc_count: u64,
        extended_bounds: Option<(f64, f64)>,
        keyed: bool,
    },
    Range {
        field: String,
        ranges: Vec<RangeSpec>,
        keyed: bool,
    },
    DateRange {
        field: String,
        ranges: Vec<RangeSpec>,
        format: Option<String>,
        time_zone: Option<String>,
        keyed: bool,
    },
    Filter(Query),
    Filters {
        /// `None` names for the anonymous (array) form.
        filters: Vec<(Option<String>, Query)>,
        other_bucket_key: Option<String>,
    },
    Avg {
        field: String,
        missing: Option<f64>,
    },
    Sum {
        field: String,
        missing: Option<f64>,
    },
    Min {
        field: String,
        missing: Option<f64>,
    },
    Max {
        field: String,
        missing: Option<f64>,
    },
    Stats {
        field: String,
        missing: Option<f64>,
    },
    ExtendedStats {
        field: String,
        missing: Option<f64>,
        sigma: f64,
    },
    ValueCount {
        field: String,
    },
    Cardinality {
        field: String,
    },
    Percentiles {
        field: String,
        percents: Vec<f64>,
        keyed: bool,
    },
    TopHits {
        size: usize,
        from: usize,
        sort: Vec<SortSpec>,
        source: SourceFilter,
    },
    Missing {
        field: String,
    },
}

/// A named aggregation and its sub-aggregations.
#[derive(Debug, Clone, PartialEq)]
pub struct AggSpec {
    pub name: String,
    pub kind: AggKind,
    pub subs: Vec<AggSpec>,
}

impl AggKind {
    /// Whether this aggregation makes buckets (and so may have sub-aggs).
    pub fn is_bucket(&self) -> bool {
        matches!(
            self,
            AggKind::Terms { .. }
                | AggKind::DateHistogram { .. }
                | AggKind::Histogram { .. }
                | AggKind::Range { .. }
                | AggKind::DateRange { .. }
                | AggKind::Filter(_)
                | AggKind::Filters { .. }
                | AggKind::Missing { .. }
        )
    }
}

fn bad(name: &str, reason: impl std::fmt::Display) -> DslError {
    DslError::Parsing(format!("aggregation [{name}]: {reason}"))
}

fn field_of(name: &str, body: &Map<String, Value>) -> Result<String, DslError> {
    match body.get("field") {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(bad(name, "[field] must be a string")),
        None => {
            if body.contains_key("script") {
                Err(bad(name, "scripts are not supported; use [field]"))
            } else {
                Err(bad(name, "required parameter [field] is missing"))
            }
        }
    }
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn usize_param(
    name: &str,
    body: &Map<String, Value>,
    key: &str,
    default: usize,
) -> Result<usize, DslError> {
    match body.get(key) {
        None => Ok(default),
        Some(v) => num(v)
            .filter(|n| *n >= 0.0)
            .map(|n| n as usize)
            .ok_or_else(|| bad(name, format!("[{key}] must be a non-negative number"))),
    }
}

fn bool_param(body: &Map<String, Value>, key: &str) -> bool {
    matches!(body.get(key), Some(Value::Bool(true)))
}

fn missing_num(name: &str, body: &Map<String, Value>) -> Result<Option<f64>, DslError> {
    match body.get("missing") {
        None => Ok(None),
        Some(v) => num(v)
            .map(Some)
            .ok_or_else(|| bad(name, "[missing] must be a number")),
    }
}

fn parse_order_dir(name: &str, v: &Value) -> Result<Order, DslError> {
    match v.as_str().map(str::to_ascii_lowercase).as_deref() {
        Some("asc") => Ok(Order::Asc),
        Some("desc") => Ok(Order::Desc),
        _ => Err(bad(name, format!("unknown order direction {v}"))),
    }
}

fn parse_bucket_order(name: &str, v: &Value) -> Result<Vec<BucketOrder>, DslError> {
    let items: Vec<&Map<String, Value>> = match v {
        Value::Object(m) => vec![m],
        Value::Array(a) => a
            .iter()
            .map(|x| {
                x.as_object()
                    .ok_or_else(|| bad(name, "[order] entries must be objects"))
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(bad(name, "[order] must be an object or array")),
    };
    let mut out = Vec::new();
    for m in items {
        for (k, dir) in m {
            let o = parse_order_dir(name, dir)?;
            out.push(match k.as_str() {
                "_count" => BucketOrder::Count(o),
                "_key" | "_term" | "_time" => BucketOrder::Key(o),
                path => BucketOrder::Metric {
                    path: path.to_string(),
                    order: o,
                },
            });
        }
    }
    Ok(out)
}

/// The interval of a `date_histogram` body: `calendar_interval`,
/// `fixed_interval` or the older `interval`.
pub fn date_histogram_interval(name: &str, b: &Map<String, Value>) -> Result<Interval, DslError> {
    Ok(if let Some(v) = b.get("calendar_interval") {
        parse_interval(name, v.as_str().unwrap_or(""), true)?
    } else if let Some(v) = b.get("fixed_interval") {
        let s = v.as_str().unwrap_or("");
        Interval::Fixed(
            parse_duration_ms(s)
                .ok_or_else(|| bad(name, format!("failed to parse [fixed_interval] [{s}]")))?,
        )
    } else if let Some(v) = b.get("interval") {
        match v {
            Value::Number(n) => Interval::Fixed(n.as_f64().unwrap_or(0.0).max(1.0) as i64),
            Value::String(s) => parse_interval(name, s, false)?,
            _ => return Err(bad(name, "[interval] must be a string")),
        }
    } else {
        return Err(bad(
            name,
            "required one of [calendar_interval, fixed_interval] is missing",
        ));
    })
}

/// Map the intervals older clients send (`interval: "minute"`, `"1h"`) and
/// the `calendar_interval` names onto calendar units or fixed lengths.
fn parse_interval(name: &str, s: &str, calendar_only: bool) -> Result<Interval, DslError> {
    let unit = match s {
        "second" | "1s" => Some(CalUnit::Second),
        "minute" | "1m" => Some(CalUnit::Minute),
        "hour" | "1h" => Some(CalUnit::Hour),
        "day" | "1d" => Some(CalUnit::Day),
        "week" | "1w" => Some(CalUnit::Week),
        "month" | "1M" => Some(CalUnit::Month),
        "quarter" | "1q" => Some(CalUnit::Quarter),
        "year" | "1y" => Some(CalUnit::Year),
        _ => None,
    };
    if let Some(u) = unit {
        return Ok(Interval::Calendar(u));
    }
    if calendar_only {
        return Err(bad(
            name,
            format!(
                "the supplied calendar interval [{s}] could not be parsed as a calendar interval"
            ),
        ));
    }
    parse_duration_ms(s)
        .map(Interval::Fixed)
        .ok_or_else(|| bad(name, format!("failed to parse interval [{s}]")))
}

fn parse_ranges(name: &str, body: &Map<String, Value>) -> Result<Vec<RangeSpec>, DslError> {
    let arr = body
        .get("ranges")
        .and_then(Value::as_array)
        .ok_or_else(|| bad(name, "[ranges] must be a non-empty array"))?;
    if arr.is_empty() {
        return Err(bad(name, "[ranges] must not be empty"));
    }
    arr.iter()
        .map(|r| {
            let m = r
                .as_object()
                .ok_or_else(|| bad(name, "each range must be an object"))?;
            for k in m.keys() {
                if !matches!(k.as_str(), "from" | "to" | "key") {
                    return Err(bad(name, format!("unknown range parameter [{k}]")));
                }
            }
            Ok(RangeSpec {
                key: m.get("key").and_then(Value::as_str).map(str::to_string),
                from: m.get("from").filter(|v| !v.is_null()).cloned(),
                to: m.get("to").filter(|v| !v.is_null()).cloned(),
            })
        })
        .collect()
}

fn bounds(name: &str, v: Option<&Value>) -> Result<Option<(Value, Value)>, DslError> {
    let Some(v) = v else { return Ok(None) };
    let m = v
        .as_object()
        .ok_or_else(|| bad(name, "bounds must be an object with min and max"))?;
    Ok(Some((
        m.get("min").cloned().unwrap_or(Value::Null),
        m.get("max").cloned().unwrap_or(Value::Null),
    )))
}

const KNOWN_KEYS_COMMON: &[&str] = &["meta"];

/// Parse the `aggs` / `aggregations` object of a request.
pub fn parse_aggs(v: &Value, depth: usize) -> Result<Vec<AggSpec>, DslError> {
    if depth > 32 {
        return Err(DslError::Parsing(
            "aggregations nested deeper than 32 levels".into(),
        ));
    }
    let m = v
        .as_object()
        .ok_or_else(|| DslError::Parsing("[aggs] must be an object".into()))?;
    let mut out = Vec::new();
    for (name, def) in m {
        let def = def
            .as_object()
            .ok_or_else(|| bad(name, "definition must be an object"))?;
        let mut kind = None;
        let mut subs = Vec::new();
        for (k, body) in def {
            match k.as_str() {
                "aggs" | "aggregations" => subs = parse_aggs(body, depth + 1)?,
                k if KNOWN_KEYS_COMMON.contains(&k) => {}
                typ => {
                    if kind.is_some() {
                        return Err(bad(
                            name,
                            format!("found two aggregation types: [{typ}] and another"),
                        ));
                    }
                    kind = Some(parse_kind(name, typ, body, depth)?);
                }
            }
        }
        let kind = kind.ok_or_else(|| bad(name, "missing aggregation type"))?;
        if !subs.is_empty() && !kind.is_bucket() {
            return Err(bad(
                name,
                "a metrics aggregation cannot have sub-aggregations",
            ));
        }
        out.push(AggSpec {
            name: name.clone(),
            kind,
            subs,
        });
    }
    Ok(out)
}

fn parse_kind(name: &str, typ: &str, body: &Value, depth: usize) -> Result<AggKind, DslError> {
    let empty = Map::new();
    let b = match body {
        Value::Object(m) => m,
        _ if typ == "filter" => &empty,
        _ => return Err(bad(name, format!("[{typ}] body must be an object"))),
    };
    let metric = |f: fn(String, Option<f64>) -> AggKind| -> Result<AggKind, DslError> {
        Ok(f(field_of(name, b)?, missing_num(name, b)?))
    };
    Ok(match typ {
        "terms" => AggKind::Terms {
            field: field_of(name, b)?,
            size: usize_param(name, b, "size", 10)?,
            min_doc_count: usize_param(name, b, "min_doc_count", 1)? as u64,
            order: match b.get("order") {
                Some(o) => parse_bucket_order(name, o)?,
                None => vec![BucketOrder::Count(Order::Desc), BucketOrder::Key(Order::Asc)],
            },
            missing: b.get("missing").cloned(),
        },
        "date_histogram" => {
            let interval = date_histogram_interval(name, b)?;
            let offset_ms = match b.get("offset") {
                None => 0,
                Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
                Some(Value::String(s)) => {
                    let (neg, rest) = s.strip_prefix('-').map_or((false, s.trim_start_matches('+')), |r| (true, r));
                    let v = parse_duration_ms(rest).ok_or_else(|| bad(name, format!("failed to parse [offset] [{s}]")))?;
                    if neg {
                        -v
                    } else {
                        v
                    }
                }
                Some(_) => return Err(bad(name, "[offset] must be a string")),
            };
            AggKind::DateHistogram {
                field: field_of(name, b)?,
                interval,
                time_zone: b.get("time_zone").and_then(Value::as_str).map(str::to_string),
                offset_ms,
                min_doc_count: usize_param(name, b, "min_doc_count", 0)? as u64,
                extended_bounds: bounds(name, b.get("extended_bounds"))?,
                hard_bounds: bounds(name, b.get("hard_bounds"))?,
                format: b.get("format").and_then(Value::as_str).map(str::to_string),
                keyed: bool_param(b, "keyed"),
                order: match b.get("order") {
                    Some(o) => parse_bucket_order(name, o)?.into_iter().next(),
                    None => None,
                },
            }
        }
        "histogram" => {
            let interval = b
                .get("interval")
                .and_then(num)
                .filter(|v| *v > 0.0)
                .ok_or_else(|| bad(name, "[interval] must be a positive number"))?;
            let eb = match bounds(name, b.get("extended_bounds"))? {
                Some((lo, hi)) => Some((
                    num(&lo).ok_or_else(|| bad(name, "extended_bounds.min must be a number"))?,
                    num(&hi).ok_or_else(|| bad(name, "extended_bounds.max must be a number"))?,
                )),
                None => None,
            };
            AggKind::Histogram {
                field: field_of(name, b)?,
                interval,
                offset: b.get("offset").and_then(num).unwrap_or(0.0),
                min_doc_count: usize_param(name, b, "min_doc_count", 0)? as u64,
                extended_bounds: eb,
                keyed: bool_param(b, "keyed"),
            }
        }
        "range" => AggKind::Range {
            field: field_of(name, b)?,
            ranges: parse_ranges(name, b)?,
            keyed: bool_param(b, "keyed"),
        },
        "date_range" => AggKind::DateRange {
            field: field_of(name, b)?,
            ranges: parse_ranges(name, b)?,
            format: b.get("format").and_then(Value::as_str).map(str::to_string),
            time_zone: b.get("time_zone").and_then(Value::as_str).map(str::to_string),
            keyed: bool_param(b, "keyed"),
        },
        "filter" => AggKind::Filter(parse_query(body, depth + 1)?),
        "filters" => {
            let f = b.get("filters").ok_or_else(|| bad(name, "[filters] is missing"))?;
            let filters = match f {
                Value::Object(m) => m
                    .iter()
                    .map(|(k, q)| Ok((Some(k.clone()), parse_query(q, depth + 1)?)))
                    .collect::<Result<Vec<_>, DslError>>()?,
                Value::Array(a) => a
                    .iter()
                    .map(|q| Ok((None, parse_query(q, depth + 1)?)))
                    .collect::<Result<Vec<_>, DslError>>()?,
                _ => return Err(bad(name, "[filters] must be an object or array")),
            };
            let other = if bool_param(b, "other_bucket") || b.contains_key("other_bucket_key") {
                Some(
                    b.get("other_bucket_key")
                        .and_then(Value::as_str)
                        .unwrap_or("_other_")
                        .to_string(),
                )
            } else {
                None
            };
            AggKind::Filters {
                filters,
                other_bucket_key: other,
            }
        }
        "avg" => metric(|field, missing| AggKind::Avg { field, missing })?,
        "sum" => metric(|field, missing| AggKind::Sum { field, missing })?,
        "min" => metric(|field, missing| AggKind::Min { field, missing })?,
        "max" => metric(|field, missing| AggKind::Max { field, missing })?,
        "stats" => metric(|field, missing| AggKind::Stats { field, missing })?,
        "extended_stats" => AggKind::ExtendedStats {
            field: field_of(name, b)?,
            missing: missing_num(name, b)?,
            sigma: b.get("sigma").and_then(num).unwrap_or(2.0),
        },
        "value_count" => AggKind::ValueCount { field: field_of(name, b)? },
        "cardinality" => AggKind::Cardinality { field: field_of(name, b)? },
        "missing" => AggKind::Missing { field: field_of(name, b)? },
        "percentiles" => {
            let percents = match b.get("percents") {
                None => vec![1.0, 5.0, 25.0, 50.0, 75.0, 95.0, 99.0],
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|v| num(v).filter(|p| (0.0..=100.0).contains(p)))
                    .collect::<Option<Vec<f64>>>()
                    .ok_or_else(|| bad(name, "[percents] must be numbers between 0 and 100"))?,
                Some(_) => return Err(bad(name, "[percents] must be an array")),
            };
            AggKind::Percentiles {
                field: field_of(name, b)?,
                percents,
                keyed: b.get("keyed").and_then(Value::as_bool).unwrap_or(true),
            }
        }
        "top_hits" => {
            let sort = match b.get("sort") {
                Some(s) => super::es_dsl::parse_sort(s)?,
                None => Vec::new(),
            };
            AggKind::TopHits {
                size: usize_param(name, b, "size", 3)?.min(100),
                from: usize_param(name, b, "from", 0)?,
                sort,
                source: match b.get("_source") {
                    Some(s) => super::es_dsl::parse_source_filter(s)?,
                    None => SourceFilter::default(),
                },
            }
        }
        other => {
            return Err(DslError::UnknownAgg(format!(
                "Unknown aggregation type [{other}] did you mean one of [terms, date_histogram, histogram, range, date_range, filter, filters, avg, sum, min, max, stats, extended_stats, value_count, cardinality, percentiles, top_hits, missing]? (aggregation [{name}])"
            )))
        }
    })
}

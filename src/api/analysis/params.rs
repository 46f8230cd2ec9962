//! Parameters of the analysis endpoints: the same names in the URL (GET)
//! and in a JSON object body (POST), each checked with an error that names
//! it. Unknown parameters are refused, so a misspelt one is not silently
//! ignored.

use serde_json::{Map, Value};

use crate::analysis::series::{IntervalSpec, Metric, SeriesRequest};
use crate::api::error::ApiError;
use crate::api::es::Params;
use crate::query::lucene;
use crate::query::model::Query;

/// The parameters of one request, URL and body merged (the body wins).
pub struct Args {
    map: Map<String, Value>,
}

/// A refused parameter, in the API's error shape.
pub fn bad(param: &str, msg: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request("illegal_argument_exception", format!("[{param}] {msg}"))
}

impl Args {
    /// Reads the URL parameters and a JSON object body; refuses names not
    /// in `allowed`.
    pub fn read(p: &Params, body: &[u8], allowed: &[&str]) -> Result<Args, ApiError> {
        let mut map: Map<String, Value> = p
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        if body.iter().any(|b| !b.is_ascii_whitespace()) {
            match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(m)) => map.extend(m),
                Ok(_) => {
                    return Err(ApiError::bad_request(
                        "parse_exception",
                        "the request body must be a JSON object of parameters",
                    ))
                }
                Err(e) => {
                    return Err(ApiError::bad_request(
                        "parse_exception",
                        format!("the request body is not JSON: {e}"),
                    ))
                }
            }
        }
        if let Some(k) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(bad(
                k,
                format!(
                    "is not a parameter of this endpoint; known: {}",
                    allowed.join(", ")
                ),
            ));
        }
        Ok(Args { map })
    }

    /// A parameter as given.
    pub fn map_get(&self, k: &str) -> Option<&Value> {
        self.map.get(k)
    }

    /// A parameter as text (numbers and booleans as written).
    pub fn str(&self, k: &str) -> Result<Option<String>, ApiError> {
        match self.map.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(_) => Err(bad(k, "must be a string or a number")),
        }
    }

    /// A whole number in `min..=max`.
    pub fn int(&self, k: &str, default: i64, min: i64, max: i64) -> Result<i64, ApiError> {
        let Some(s) = self.str(k)? else {
            return Ok(default);
        };
        let v: i64 = s
            .trim()
            .parse()
            .map_err(|_| bad(k, format!("'{s}' is not a whole number")))?;
        if !(min..=max).contains(&v) {
            return Err(bad(
                k,
                format!("{v} is out of range: between {min} and {max}"),
            ));
        }
        Ok(v)
    }

    /// A number.
    pub fn float(&self, k: &str) -> Result<Option<f64>, ApiError> {
        let Some(s) = self.str(k)? else {
            return Ok(None);
        };
        s.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .map(Some)
            .ok_or_else(|| bad(k, format!("'{s}' is not a number")))
    }

    /// A time: epoch ms, an RFC 3339 or `yyyy-MM-dd HH:mm:ss` date, or
    /// date math (`now-24h`, `now/d`).
    pub fn time(&self, k: &str, default: &str, now: i64) -> Result<i64, ApiError> {
        let s = self.str(k)?.unwrap_or_else(|| default.to_string());
        parse_time(&s, now, k == "to").map_err(|m| bad(k, m))
    }
}

/// Reads a time parameter.
pub fn parse_time(s: &str, now: i64, round_up: bool) -> Result<i64, String> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().map_err(|_| format!("'{s}' is out of range"));
    }
    crate::query::datemath::eval(t, now, round_up, &jiff::tz::TimeZone::UTC, None).map_err(|e| {
        format!("'{s}' is not a time: give epoch ms, an RFC 3339 date or date math such as now-24h ({e})")
    })
}

/// Parses a Lucene query parameter.
pub fn lucene_query(param: &str, q: &str) -> Result<Query, ApiError> {
    if q.trim().is_empty() {
        return Ok(Query::MatchAll);
    }
    lucene::parse(q, &lucene::Options::default()).map_err(|e| bad(param, e))
}

/// The names a series selection takes.
pub const SELECTION: [&str; 10] = [
    "index",
    "query",
    "from",
    "to",
    "interval",
    "split",
    "size",
    "metric",
    "field",
    "time_zone",
];

/// The series selection of a request (default: all indices, the last hour,
/// an automatic interval).
pub fn selection(a: &Args, now: i64) -> Result<SeriesRequest, ApiError> {
    let query_text = a.str("query")?.unwrap_or_default();
    let interval_s = a.str("interval")?.unwrap_or_else(|| "auto".into());
    let interval = IntervalSpec::parse(&interval_s).ok_or_else(|| {
        bad(
            "interval",
            format!("'{interval_s}' is not an interval: auto, 30s, 5m, 1h, 1d, 1w, 1M, ..."),
        )
    })?;
    let metric_s = a.str("metric")?.unwrap_or_else(|| "count".into());
    let metric = Metric::parse(&metric_s).ok_or_else(|| {
        bad(
            "metric",
            format!("'{metric_s}' is not one of count, avg, min, max, sum, p<0-100> (p99)"),
        )
    })?;
    let time_zone = a.str("time_zone")?;
    if let Some(tz) = &time_zone {
        crate::query::datemath::parse_time_zone(tz).map_err(|e| bad("time_zone", e))?;
    }
    Ok(SeriesRequest {
        index: a.str("index")?.unwrap_or_else(|| "*".into()),
        query: lucene_query("query", &query_text)?,
        query_text,
        from_ms: a.time("from", "now-1h", now)?,
        to_ms: a.time("to", "now", now)?,
        interval,
        time_zone,
        split: a.str("split")?.filter(|s| !s.trim().is_empty()),
        size: a.int("size", 10, 1, crate::analysis::series::MAX_SPLIT as i64)? as usize,
        metric,
        field: a.str("field")?,
    })
}

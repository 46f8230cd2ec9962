//! `rate` and `top_metrics`, the two metrics Grafana offers that the
//! store has no kind for: rewritten into ones it has before the search
//! (`rate` into `sum` or `value_count` of its field, or the bucket's own
//! count; `top_metrics` into `top_hits` with the metric fields as
//! `_source`), and turned back into Elasticsearch's shapes afterwards.
//! Like the pipelines, the engines know nothing of them.

use std::collections::BTreeMap;

use jiff::tz::TimeZone;
use serde_json::{json, Map, Value};

use crate::api::error::ApiError;
use crate::query::aggs::{date_histogram_interval, Interval};
use crate::query::datemath::{add_units, CalUnit};

/// What one rewritten aggregation must become again.
#[derive(Debug, Clone)]
enum Rewrite {
    Rate {
        /// `None`: the rate of documents (the bucket's `doc_count`).
        field: Option<String>,
        unit: Option<CalUnit>,
    },
    TopMetrics {
        metrics: Vec<String>,
    },
}

/// The rewrites of one level of `aggs` and of the levels below it.
#[derive(Debug, Default, Clone)]
pub struct Rewrites {
    /// Set when this level's aggregation is a `date_histogram`.
    interval: Option<Interval>,
    here: Vec<(String, Rewrite)>,
    children: BTreeMap<String, Rewrites>,
}

impl Rewrites {
    /// Whether anything was rewritten.
    pub fn is_empty(&self) -> bool {
        self.here.is_empty() && self.children.values().all(Rewrites::is_empty)
    }
}

fn bad(msg: String) -> ApiError {
    ApiError::bad_request("illegal_argument_exception", msg)
}

/// Rewrites `rate` and `top_metrics` in a search body; what to undo later.
pub fn take(body: &mut Value) -> Result<Rewrites, ApiError> {
    let mut out = Rewrites::default();
    if let Some(m) = body.as_object_mut() {
        for key in ["aggs", "aggregations"] {
            if let Some(Value::Object(aggs)) = m.get_mut(key) {
                take_level(aggs, &mut out, None)?;
            }
        }
    }
    Ok(out)
}

fn take_level(
    aggs: &mut Map<String, Value>,
    out: &mut Rewrites,
    interval: Option<Interval>,
) -> Result<(), ApiError> {
    for (name, def) in aggs.iter_mut() {
        let Some(def) = def.as_object_mut() else {
            continue;
        };
        let kind = def
            .keys()
            .find(|k| !matches!(k.as_str(), "aggs" | "aggregations" | "meta"))
            .cloned();
        match kind.as_deref() {
            Some("rate") => {
                let body = def
                    .get("rate")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                let Some(interval) = interval else {
                    return Err(bad(format!(
                        "[{name}]: the rate aggregation can only be used inside a date histogram"
                    )));
                };
                let (rw, replacement) = rate(name, &body, interval)?;
                def.remove("rate");
                if let Some((k, v)) = replacement {
                    def.insert(k, v);
                }
                out.here.push((name.clone(), rw));
                if def.is_empty() {
                    // counted from the bucket: nothing for the store to do;
                    // a `filter` that matches all stands in so the name stays
                    def.insert("filter".into(), json!({"match_all": {}}));
                }
            }
            Some("top_metrics") => {
                let body = def
                    .get("top_metrics")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                let (metrics, top_hits) = top_metrics(name, &body)?;
                def.remove("top_metrics");
                def.insert("top_hits".into(), top_hits);
                out.here
                    .push((name.clone(), Rewrite::TopMetrics { metrics }));
            }
            Some(k) => {
                let own = if k == "date_histogram" {
                    def.get(k)
                        .and_then(Value::as_object)
                        .map(|b| date_histogram_interval(name, b))
                        .transpose()?
                } else {
                    None
                };
                for key in ["aggs", "aggregations"] {
                    if let Some(Value::Object(sub)) = def.get_mut(key) {
                        let child = out.children.entry(name.clone()).or_default();
                        child.interval = own;
                        take_level(sub, child, own.or(interval))?;
                    }
                }
            }
            None => {}
        }
    }
    Ok(())
}

fn unit_of(name: &str, s: &str) -> Result<CalUnit, ApiError> {
    Ok(match s {
        "second" | "1s" => CalUnit::Second,
        "minute" | "1m" => CalUnit::Minute,
        "hour" | "1h" => CalUnit::Hour,
        "day" | "1d" => CalUnit::Day,
        "week" | "1w" => CalUnit::Week,
        "month" | "1M" => CalUnit::Month,
        "quarter" | "1q" => CalUnit::Quarter,
        "year" | "1y" => CalUnit::Year,
        other => {
            return Err(bad(format!(
                "[{name}]: unsupported rate unit [{other}]; use second, minute, hour, day, week, month, quarter or year"
            )))
        }
    })
}

/// Months in a month-based unit, `None` for the fixed ones.
fn months(u: CalUnit) -> Option<i64> {
    match u {
        CalUnit::Month => Some(1),
        CalUnit::Quarter => Some(3),
        CalUnit::Year => Some(12),
        _ => None,
    }
}

fn unit_ms(u: CalUnit) -> i64 {
    match u {
        CalUnit::Second => 1000,
        CalUnit::Minute => 60_000,
        CalUnit::Hour => 3_600_000,
        CalUnit::Day => 86_400_000,
        CalUnit::Week => 7 * 86_400_000,
        // only reached for month-based buckets, handled by months()
        CalUnit::Month | CalUnit::Quarter | CalUnit::Year => 30 * 86_400_000,
    }
}

type Replacement = Option<(String, Value)>;

fn rate(
    name: &str,
    body: &Map<String, Value>,
    interval: Interval,
) -> Result<(Rewrite, Replacement), ApiError> {
    for k in body.keys() {
        if !matches!(k.as_str(), "field" | "unit" | "mode" | "format") {
            return Err(bad(format!("[{name}]: [rate] unknown field [{k}]")));
        }
    }
    let field = match body.get("field") {
        None => None,
        Some(Value::String(f)) => Some(f.clone()),
        Some(other) => {
            return Err(bad(format!(
                "[{name}]: [field] must be a string, got {other}"
            )))
        }
    };
    let unit = match body.get("unit") {
        None => None,
        Some(Value::String(u)) => Some(unit_of(name, u)?),
        Some(other) => {
            return Err(bad(format!(
                "[{name}]: [unit] must be a string, got {other}"
            )))
        }
    };
    if let Some(u) = unit {
        let bucket_months = match interval {
            Interval::Calendar(c) => months(c),
            Interval::Fixed(_) => None,
        };
        if months(u).is_some() && bucket_months.is_none() {
            return Err(bad(format!(
                "[{name}]: cannot use month-based rate unit [{}] with a non-month based histogram interval; only month, quarter and year intervals are supported for it",
                body.get("unit").and_then(Value::as_str).unwrap_or("")
            )));
        }
    }
    let mode = body.get("mode").and_then(Value::as_str).unwrap_or("sum");
    let replacement = match (&field, mode) {
        (None, _) => None,
        (Some(f), "sum") => Some(("sum".to_string(), json!({"field": f}))),
        (Some(f), "value_count") => Some(("value_count".to_string(), json!({"field": f}))),
        (_, other) => {
            return Err(bad(format!(
                "[{name}]: rate mode [{other}] is not sum or value_count"
            )))
        }
    };
    Ok((Rewrite::Rate { field, unit }, replacement))
}

fn top_metrics(name: &str, body: &Map<String, Value>) -> Result<(Vec<String>, Value), ApiError> {
    let metric_field = |m: &Value| -> Result<String, ApiError> {
        m.get("field")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| bad(format!("[{name}]: each of [metrics] needs a [field]")))
    };
    let metrics = match body.get("metrics") {
        Some(Value::Array(a)) => a.iter().map(metric_field).collect::<Result<Vec<_>, _>>()?,
        Some(m @ Value::Object(_)) => vec![metric_field(m)?],
        _ => return Err(bad(format!("[{name}]: [top_metrics] needs [metrics]"))),
    };
    let Some(sort) = body.get("sort") else {
        return Err(bad(format!("[{name}]: [top_metrics] needs a [sort]")));
    };
    let size = match body.get("size") {
        None => 1,
        Some(n) => n.as_u64().ok_or_else(|| {
            bad(format!(
                "[{name}]: [size] must be a positive integer, got {n}"
            ))
        })?,
    };
    Ok((
        metrics.clone(),
        json!({"size": size, "sort": sort, "_source": {"includes": metrics}}),
    ))
}

/// Puts the Elasticsearch shapes back into rendered `aggregations`.
pub fn apply(rw: &Rewrites, aggregations: &mut Value) -> Result<(), ApiError> {
    if let Value::Object(container) = aggregations {
        apply_level(rw, container, None)?;
    }
    Ok(())
}

/// `bucket` is the enclosing date histogram bucket: its start and width.
fn apply_level(
    rw: &Rewrites,
    container: &mut Map<String, Value>,
    bucket: Option<(i64, Interval)>,
) -> Result<(), ApiError> {
    for (name, child) in &rw.children {
        let Some(agg) = container.get_mut(name) else {
            continue;
        };
        let own = child.interval;
        let mut each = |b: &mut Value| -> Result<(), ApiError> {
            let here = match (own, b.get("key").and_then(Value::as_i64)) {
                (Some(iv), Some(key)) => Some((key, iv)),
                _ => bucket,
            };
            if let Value::Object(bm) = b {
                apply_level(child, bm, here)?;
            }
            Ok(())
        };
        match agg.get_mut("buckets") {
            Some(Value::Array(bs)) => bs.iter_mut().try_for_each(&mut each)?,
            Some(Value::Object(keyed)) => keyed.values_mut().try_for_each(&mut each)?,
            _ => {
                if let Value::Object(m) = agg {
                    apply_level(child, m, bucket)?;
                }
            }
        }
    }
    let doc_count = container.get("doc_count").and_then(Value::as_f64);
    for (name, r) in &rw.here {
        let v = match r {
            Rewrite::Rate { field, unit } => {
                let base = match field {
                    Some(_) => container
                        .get(name)
                        .and_then(|v| v.get("value"))
                        .and_then(Value::as_f64),
                    None => doc_count,
                };
                let scaled = match (base, bucket) {
                    (Some(x), Some((start, iv))) => Some(x * per_unit(start, iv, *unit)),
                    (Some(x), None) => Some(x),
                    _ => None,
                };
                json!({"value": scaled.unwrap_or(0.0)})
            }
            Rewrite::TopMetrics { metrics } => top_json(container.get(name), metrics),
        };
        container.insert(name.clone(), v);
    }
    Ok(())
}

/// The factor from "per bucket" to "per unit" for a bucket starting at
/// `start`: units of the bucket's width in one `unit`.
fn per_unit(start: i64, iv: Interval, unit: Option<CalUnit>) -> f64 {
    let Some(unit) = unit else { return 1.0 };
    match (iv, months(unit)) {
        (Interval::Calendar(c), Some(um)) => {
            let bm = months(c).unwrap_or(1);
            um as f64 / bm as f64
        }
        (iv, _) => {
            let width = bucket_ms(start, iv).max(1);
            unit_ms(unit) as f64 / width as f64
        }
    }
}

fn bucket_ms(start: i64, iv: Interval) -> i64 {
    match iv {
        Interval::Fixed(ms) => ms,
        Interval::Calendar(c) => {
            if months(c).is_some() {
                add_units(start, 1, c, &TimeZone::UTC) - start
            } else {
                unit_ms(c)
            }
        }
    }
}

/// A rendered `top_hits` as `top_metrics`: each hit's sort values and the
/// metric fields of its source.
fn top_json(rendered: Option<&Value>, metrics: &[String]) -> Value {
    let hits = rendered
        .and_then(|r| r.pointer("/hits/hits"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let top: Vec<Value> = hits
        .iter()
        .map(|h| {
            let src = h.get("_source").unwrap_or(&Value::Null);
            let mut m = Map::new();
            for f in metrics {
                m.insert(f.clone(), field_value(src, f).unwrap_or(Value::Null));
            }
            json!({"sort": h.get("sort").cloned().unwrap_or(json!([])), "metrics": m})
        })
        .collect();
    json!({"top": top})
}

/// A field of a source by its dotted path, as a flat key or nested.
fn field_value(src: &Value, path: &str) -> Option<Value> {
    if let Some(v) = src.get(path) {
        return Some(first(v));
    }
    let mut cur = src;
    for part in path.split('.') {
        cur = cur.get(part)?;
    }
    Some(first(cur))
}

/// Multi-valued fields give their first value, as doc values would.
fn first(v: &Value) -> Value {
    match v {
        Value::Array(a) => a.first().cloned().unwrap_or(Value::Null),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_scale_by_the_bucket_width() {
        // a 30 s bucket per minute doubles; per second divides by 30
        let iv = Interval::Fixed(30_000);
        assert_eq!(per_unit(0, iv, Some(CalUnit::Minute)), 2.0);
        assert!((per_unit(0, iv, Some(CalUnit::Second)) - 1.0 / 30.0).abs() < 1e-12);
        assert_eq!(per_unit(0, iv, None), 1.0);
        // February 2026 has 28 days: a monthly bucket per day divides by 28
        let feb = 1_769_904_000_000; // 2026-02-01T00:00:00Z
        let m = Interval::Calendar(CalUnit::Month);
        assert!((per_unit(feb, m, Some(CalUnit::Day)) - 1.0 / 28.0).abs() < 1e-12);
        assert_eq!(per_unit(feb, m, Some(CalUnit::Year)), 12.0);
    }

    #[test]
    fn rewrites_replace_the_metrics_and_refuse_what_cannot_work() {
        let mut body = json!({"aggs": {"h": {
            "date_histogram": {"field": "@timestamp", "fixed_interval": "30s"},
            "aggs": {
                "r": {"rate": {"field": "bytes", "unit": "minute"}},
                "c": {"rate": {"unit": "minute"}},
                "t": {"top_metrics": {"metrics": [{"field": "v"}], "sort": {"@timestamp": "desc"}}},
            }
        }}});
        let rw = take(&mut body).expect("rewrites");
        assert!(!rw.is_empty());
        let subs = &body["aggs"]["h"]["aggs"];
        assert_eq!(subs["r"], json!({"sum": {"field": "bytes"}}));
        assert_eq!(subs["c"], json!({"filter": {"match_all": {}}}));
        assert_eq!(subs["t"]["top_hits"]["size"], 1);
        let mut top = json!({"aggs": {"r": {"rate": {"unit": "minute"}}}});
        assert!(take(&mut top).is_err(), "a rate needs a date histogram");
        let mut month = json!({"aggs": {"h": {
            "date_histogram": {"field": "@timestamp", "fixed_interval": "1h"},
            "aggs": {"r": {"rate": {"unit": "month"}}}
        }}});
        assert!(take(&mut month).is_err());
    }
}

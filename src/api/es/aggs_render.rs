//! Typed aggregation results → the `aggregations` object of an
//! Elasticsearch search response. Everything about printing lives here:
//! `keyed` maps, `key_as_string` and `value_as_string`, the request's
//! `format` and `time_zone`, range keys, Java-style numbers as map keys.
//! The store already decided what the buckets are and in which order.

use jiff::tz::TimeZone;
use serde_json::{json, Map, Value};

use crate::query::agg_result::{
    AggResult, AggResults, Bucket, BucketKey, Percentile, RangeKey, SortValue, Stats, TopHits,
    ValueType,
};
use crate::query::aggs::{AggKind, AggSpec};
use crate::query::date_format::DateFormat;
use crate::query::datemath::parse_time_zone;

/// Render `results`, which a store computed for `specs`, in Elasticsearch's
/// shape. The store has already rejected bad time zones and formats, so
/// here an unparsable one falls back to UTC or the field's format.
pub fn render(specs: &[AggSpec], results: &AggResults) -> Value {
    let mut out = Map::new();
    render_into(specs, results, &mut out);
    Value::Object(out)
}

fn render_into(specs: &[AggSpec], results: &AggResults, into: &mut Map<String, Value>) {
    for (spec, (name, r)) in specs.iter().zip(&results.0) {
        into.insert(name.clone(), render_one(spec, r));
    }
}

/// A bucket object: what the caller put in `m` (key, bounds), then
/// `doc_count`, then the sub-aggregations.
fn bucket_json<K>(spec: &AggSpec, b: &Bucket<K>, mut m: Map<String, Value>) -> Value {
    m.insert("doc_count".into(), json!(b.doc_count));
    render_into(&spec.subs, &b.aggs, &mut m);
    Value::Object(m)
}

fn buckets_json(keyed: bool, arr: Vec<Value>, obj: Map<String, Value>) -> Value {
    if keyed {
        json!({ "buckets": obj })
    } else {
        json!({ "buckets": arr })
    }
}

fn tz_of(time_zone: Option<&str>) -> TimeZone {
    time_zone
        .and_then(|z| parse_time_zone(z).ok())
        .unwrap_or(TimeZone::UTC)
}

/// A date as Elasticsearch prints it: in the request's format if any, else
/// in the shape the field's data was written in, else the default format.
fn date_string(vt: &ValueType, ms: i64, fmt: Option<&str>, tz: &TimeZone) -> String {
    if let Some(df) = fmt.and_then(|f| DateFormat::parse_spec(f).ok()) {
        return df.format(ms, tz);
    }
    match vt {
        ValueType::Date(Some(df)) => df.format(ms, tz),
        _ => DateFormat::default_format().format(ms, tz),
    }
}

/// A number, or `null` when there is none or it is not finite.
fn opt_num(v: Option<f64>) -> Value {
    match v {
        Some(x) if x.is_finite() => json!(x),
        _ => Value::Null,
    }
}

/// Format a double the way Java prints it (`50.0`, `99.9`), as
/// Elasticsearch does in keys.
fn java_double(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

/// Format a percent key (`50.0`, `99.9`).
fn pct_key(p: f64) -> String {
    if p.fract() == 0.0 {
        format!("{p:.1}")
    } else {
        format!("{p}")
    }
}

fn range_key(from: Option<&str>, to: Option<&str>) -> String {
    format!("{}-{}", from.unwrap_or("*"), to.unwrap_or("*"))
}

fn render_one(spec: &AggSpec, r: &AggResult) -> Value {
    match r {
        AggResult::Terms(t) => {
            let buckets: Vec<Value> = t
                .buckets
                .iter()
                .map(|b| bucket_json(spec, b, terms_key(&b.key, &t.value_type)))
                .collect();
            json!({
                "doc_count_error_upper_bound": t.doc_count_error_upper_bound,
                "sum_other_doc_count": t.sum_other_doc_count,
                "buckets": buckets,
            })
        }
        AggResult::DateHistogram {
            buckets,
            value_type,
        } => {
            let (format, tz, keyed) = match &spec.kind {
                AggKind::DateHistogram {
                    format,
                    time_zone,
                    keyed,
                    ..
                } => (format.as_deref(), tz_of(time_zone.as_deref()), *keyed),
                _ => (None, TimeZone::UTC, false),
            };
            let mut arr = Vec::new();
            let mut obj = Map::new();
            for b in buckets {
                let ks = date_string(value_type, b.key, format, &tz);
                let mut m = Map::new();
                m.insert("key_as_string".into(), json!(ks));
                m.insert("key".into(), json!(b.key));
                let v = bucket_json(spec, b, m);
                if keyed {
                    obj.insert(ks, v);
                } else {
                    arr.push(v);
                }
            }
            buckets_json(keyed, arr, obj)
        }
        AggResult::Histogram { buckets } => {
            let keyed = matches!(spec.kind, AggKind::Histogram { keyed: true, .. });
            let mut arr = Vec::new();
            let mut obj = Map::new();
            for b in buckets {
                let mut m = Map::new();
                m.insert("key".into(), json!(b.key));
                let v = bucket_json(spec, b, m);
                if keyed {
                    obj.insert(java_double(b.key), v);
                } else {
                    arr.push(v);
                }
            }
            buckets_json(keyed, arr, obj)
        }
        AggResult::Range { buckets } => {
            let keyed = matches!(spec.kind, AggKind::Range { keyed: true, .. });
            render_ranges(
                spec,
                buckets,
                keyed,
                |v| java_double(*v),
                |v| json!(v),
                false,
            )
        }
        AggResult::DateRange {
            buckets,
            field_format,
        } => {
            let (keyed, fmt, tz) = match &spec.kind {
                AggKind::DateRange {
                    keyed,
                    format,
                    time_zone,
                    ..
                } => (
                    *keyed,
                    format
                        .as_deref()
                        .and_then(|f| DateFormat::parse_spec(f).ok()),
                    tz_of(time_zone.as_deref()),
                ),
                _ => (false, None, TimeZone::UTC),
            };
            // The request's format, else the field's explicit one.
            let df = fmt
                .or_else(|| field_format.clone())
                .unwrap_or_else(DateFormat::default_format);
            render_ranges(
                spec,
                buckets,
                keyed,
                |ms| df.format(*ms, &tz),
                |ms| json!(*ms as f64),
                true,
            )
        }
        AggResult::Filters { buckets, other } => {
            if buckets.iter().all(|b| b.key.is_some()) {
                let mut obj = Map::new();
                for b in buckets {
                    obj.insert(
                        b.key.clone().unwrap_or_default(),
                        bucket_json(spec, b, Map::new()),
                    );
                }
                if let Some(o) = other {
                    obj.insert(o.key.clone(), bucket_json(spec, o, Map::new()));
                }
                json!({ "buckets": obj })
            } else {
                let mut arr: Vec<Value> = buckets
                    .iter()
                    .map(|b| bucket_json(spec, b, Map::new()))
                    .collect();
                if let Some(o) = other {
                    arr.push(bucket_json(spec, o, Map::new()));
                }
                json!({ "buckets": arr })
            }
        }
        AggResult::Single(b) => bucket_json(spec, b, Map::new()),
        AggResult::Value { value, value_type } => {
            let mut m = Map::new();
            m.insert("value".into(), opt_num(*value));
            if let (ValueType::Date(_), Some(x)) = (value_type, value) {
                m.insert(
                    "value_as_string".into(),
                    json!(date_string(value_type, *x as i64, None, &TimeZone::UTC)),
                );
            }
            Value::Object(m)
        }
        AggResult::Stats(s) => stats_json(s),
        AggResult::ExtendedStats(s) => {
            let sigma = match spec.kind {
                AggKind::ExtendedStats { sigma, .. } => sigma,
                _ => 2.0,
            };
            extended_stats_json(s, sigma)
        }
        AggResult::Count(n) => json!({ "value": n }),
        AggResult::Percentiles(ps) => {
            let keyed = match spec.kind {
                AggKind::Percentiles { keyed, .. } => keyed,
                _ => true,
            };
            percentiles_json(ps, keyed)
        }
        AggResult::TopHits(t) => top_hits_json(t),
    }
}

/// `key` (and `key_as_string` for dates and booleans) of a terms bucket.
fn terms_key(k: &BucketKey, vt: &ValueType) -> Map<String, Value> {
    let mut m = Map::new();
    match k {
        BucketKey::Str(s) => {
            m.insert("key".into(), json!(s));
        }
        BucketKey::Date(ms) => {
            m.insert("key".into(), json!(ms));
            m.insert(
                "key_as_string".into(),
                json!(date_string(vt, *ms, None, &TimeZone::UTC)),
            );
        }
        BucketKey::Long(i) => {
            m.insert("key".into(), json!(i));
        }
        BucketKey::Double(f) => {
            m.insert("key".into(), json!(f));
        }
        BucketKey::Bool(b) => {
            m.insert("key".into(), json!(*b as u8));
            m.insert("key_as_string".into(), json!(b.to_string()));
        }
    }
    m
}

/// `range` and `date_range` buckets: `text` prints a bound for the default
/// key (and, for dates, `*_as_string`), `num` prints it as a number.
fn render_ranges<T>(
    spec: &AggSpec,
    buckets: &[Bucket<RangeKey<T>>],
    keyed: bool,
    text: impl Fn(&T) -> String,
    num: impl Fn(&T) -> Value,
    dates: bool,
) -> Value {
    let mut arr = Vec::new();
    let mut obj = Map::new();
    for b in buckets {
        let r = &b.key;
        let from_s = r.from.as_ref().map(&text);
        let to_s = r.to.as_ref().map(&text);
        let key = r
            .key
            .clone()
            .unwrap_or_else(|| range_key(from_s.as_deref(), to_s.as_deref()));
        let mut m = Map::new();
        if !keyed {
            m.insert("key".into(), json!(key));
        }
        if let Some(f) = &r.from {
            m.insert("from".into(), num(f));
            if dates {
                m.insert("from_as_string".into(), json!(from_s));
            }
        }
        if let Some(t) = &r.to {
            m.insert("to".into(), num(t));
            if dates {
                m.insert("to_as_string".into(), json!(to_s));
            }
        }
        let v = bucket_json(spec, b, m);
        if keyed {
            obj.insert(key, v);
        } else {
            arr.push(v);
        }
    }
    buckets_json(keyed, arr, obj)
}

fn stats_json(s: &Stats) -> Value {
    match (s.count, s.min, s.max, s.avg()) {
        (1.., Some(min), Some(max), Some(avg)) => {
            json!({"count": s.count, "min": min, "max": max, "avg": avg, "sum": s.sum})
        }
        _ => json!({"count": 0, "min": null, "max": null, "avg": null, "sum": 0.0}),
    }
}

fn extended_stats_json(s: &Stats, sigma: f64) -> Value {
    let mut v = stats_json(s);
    let avg = s.avg();
    let var_pop = s.variance_population();
    let var_samp = s.variance_sampling();
    let sd_pop = var_pop.map(f64::sqrt);
    let sd_samp = var_samp.map(f64::sqrt);
    let bound = |sd: Option<f64>, k: f64| avg.zip(sd).map(|(a, d)| a + k * d);
    if let Value::Object(m) = &mut v {
        m.insert(
            "sum_of_squares".into(),
            opt_num((s.count > 0).then_some(s.sum_of_squares)),
        );
        m.insert("variance".into(), opt_num(var_pop));
        m.insert("variance_population".into(), opt_num(var_pop));
        m.insert("variance_sampling".into(), opt_num(var_samp));
        m.insert("std_deviation".into(), opt_num(sd_pop));
        m.insert("std_deviation_population".into(), opt_num(sd_pop));
        m.insert("std_deviation_sampling".into(), opt_num(sd_samp));
        m.insert(
            "std_deviation_bounds".into(),
            json!({
                "upper": opt_num(bound(sd_pop, sigma)),
                "lower": opt_num(bound(sd_pop, -sigma)),
                "upper_population": opt_num(bound(sd_pop, sigma)),
                "lower_population": opt_num(bound(sd_pop, -sigma)),
                "upper_sampling": opt_num(bound(sd_samp, sigma)),
                "lower_sampling": opt_num(bound(sd_samp, -sigma)),
            }),
        );
    }
    v
}

fn percentiles_json(ps: &[Percentile], keyed: bool) -> Value {
    if keyed {
        let mut m = Map::new();
        for p in ps {
            m.insert(pct_key(p.percent), opt_num(p.value));
        }
        json!({ "values": m })
    } else {
        let arr: Vec<Value> = ps
            .iter()
            .map(|p| json!({"key": p.percent, "value": opt_num(p.value)}))
            .collect();
        json!({ "values": arr })
    }
}

fn sort_value_json(v: &SortValue) -> Value {
    match v {
        SortValue::Num(f) if f.fract() == 0.0 => json!(*f as i64),
        SortValue::Num(f) => json!(f),
        SortValue::Str(s) => json!(s),
        SortValue::Missing => Value::Null,
    }
}

fn top_hits_json(t: &TopHits) -> Value {
    let hits: Vec<Value> = t
        .hits
        .iter()
        .map(|h| {
            let mut m = Map::new();
            m.insert("_index".into(), json!(h.index));
            m.insert("_id".into(), json!(h.id));
            m.insert("_score".into(), h.score.map_or(Value::Null, |s| json!(s)));
            if let Some(s) = &h.source {
                m.insert("_source".into(), s.clone());
            }
            if let Some(sort) = &h.sort {
                m.insert(
                    "sort".into(),
                    Value::Array(sort.iter().map(sort_value_json).collect()),
                );
            }
            Value::Object(m)
        })
        .collect();
    json!({"hits": {
        "total": {"value": t.total, "relation": "eq"},
        "max_score": t.max_score.map_or(Value::Null, |s| json!(s)),
        "hits": hits,
    }})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::aggs::parse_aggs;

    fn bucket<K>(key: K, doc_count: u64) -> Bucket<K> {
        Bucket {
            key,
            doc_count,
            aggs: AggResults::default(),
        }
    }

    #[test]
    fn typed_results_render_keyed_and_in_the_time_zone_the_request_asked() {
        // 2026-11-24T12:00:00Z and one hour later; Elasticsearch prints
        // `key_as_string` in the request's zone and keys a `keyed` map by it.
        let t0 = 1_795_521_600_000;
        let specs = parse_aggs(
            &json!({"h": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1h",
                "time_zone": "+01:00", "keyed": true}}}),
            0,
        )
        .unwrap();
        let results = AggResults(vec![(
            "h".into(),
            AggResult::DateHistogram {
                buckets: vec![bucket(t0, 2), bucket(t0 + 3_600_000, 0)],
                value_type: ValueType::Date(None),
            },
        )]);
        assert_eq!(
            render(&specs, &results),
            json!({"h": {"buckets": {
                "2026-11-24T13:00:00.000+01:00": {"key_as_string": "2026-11-24T13:00:00.000+01:00", "key": t0, "doc_count": 2},
                "2026-11-24T14:00:00.000+01:00": {"key_as_string": "2026-11-24T14:00:00.000+01:00", "key": t0 + 3_600_000, "doc_count": 0}
            }}})
        );
    }

    #[test]
    fn typed_results_render_terms_ranges_and_filters_as_elasticsearch() {
        let specs = parse_aggs(
            &json!({
                "ok": {"terms": {"field": "ok"}},
                "r": {"range": {"field": "x", "ranges": [{"to": 1}, {"from": 1, "to": 2.5}]}},
                "f": {"filters": {"filters": [{"match_all": {}}], "other_bucket": true}},
                "p": {"percentiles": {"field": "x", "percents": [50, 99.9]}}
            }),
            0,
        )
        .unwrap();
        let results = AggResults(vec![
            (
                "ok".into(),
                AggResult::Terms(crate::query::agg_result::Terms {
                    buckets: vec![bucket(BucketKey::Bool(true), 3)],
                    sum_other_doc_count: 1,
                    doc_count_error_upper_bound: 0,
                    value_type: ValueType::Plain,
                }),
            ),
            (
                "r".into(),
                AggResult::Range {
                    buckets: vec![
                        bucket(
                            RangeKey {
                                key: None,
                                from: None,
                                to: Some(1.0),
                            },
                            1,
                        ),
                        bucket(
                            RangeKey {
                                key: None,
                                from: Some(1.0),
                                to: Some(2.5),
                            },
                            2,
                        ),
                    ],
                },
            ),
            (
                "f".into(),
                AggResult::Filters {
                    buckets: vec![bucket(None, 4)],
                    other: Some(bucket("_other_".to_string(), 0)),
                },
            ),
            (
                "p".into(),
                AggResult::Percentiles(vec![
                    Percentile {
                        percent: 50.0,
                        value: Some(1.5),
                    },
                    Percentile {
                        percent: 99.9,
                        value: None,
                    },
                ]),
            ),
        ]);
        // Booleans: key 1 and key_as_string "true"; range keys from Java
        // doubles ("*-1.0"); anonymous filters as an array, other bucket last;
        // percentiles keyed by Java doubles.
        assert_eq!(
            render(&specs, &results).to_string(),
            json!({
                "ok": {"doc_count_error_upper_bound": 0, "sum_other_doc_count": 1,
                       "buckets": [{"key": 1, "key_as_string": "true", "doc_count": 3}]},
                "r": {"buckets": [{"key": "*-1.0", "to": 1.0, "doc_count": 1},
                                  {"key": "1.0-2.5", "from": 1.0, "to": 2.5, "doc_count": 2}]},
                "f": {"buckets": [{"doc_count": 4}, {"doc_count": 0}]},
                "p": {"values": {"50.0": 1.5, "99.9": null}}
            })
            .to_string()
        );
    }

    #[test]
    fn metrics_render_nulls_when_empty_and_keys_in_elasticsearch_order() {
        let specs = parse_aggs(
            &json!({
                "a": {"avg": {"field": "x"}},
                "m": {"min": {"field": "@timestamp"}},
                "s": {"stats": {"field": "x"}},
                "n": {"value_count": {"field": "x"}},
                "e": {"extended_stats": {"field": "x", "sigma": 3}}
            }),
            0,
        )
        .unwrap();
        // Values 1 and 3: count 2, sum 4, sum of squares 10, mean 2,
        // population variance 10/2 - 4 = 1, sample variance 2.
        let e = Stats {
            count: 2,
            min: Some(1.0),
            max: Some(3.0),
            sum: 4.0,
            sum_of_squares: 10.0,
        };
        let t0 = 1_795_521_600_000_i64;
        let results = AggResults(vec![
            (
                "a".into(),
                AggResult::Value {
                    value: None,
                    value_type: ValueType::Plain,
                },
            ),
            (
                "m".into(),
                AggResult::Value {
                    value: Some(t0 as f64),
                    value_type: ValueType::Date(None),
                },
            ),
            ("s".into(), AggResult::Stats(Stats::default())),
            ("n".into(), AggResult::Count(5)),
            ("e".into(), AggResult::ExtendedStats(e)),
        ]);
        let sd_s = 2f64.sqrt();
        let want = json!({
            "a": {"value": null},
            "m": {"value": t0 as f64, "value_as_string": "2026-11-24T12:00:00.000Z"},
            "s": {"count": 0, "min": null, "max": null, "avg": null, "sum": 0.0},
            "n": {"value": 5},
            "e": {"count": 2, "min": 1.0, "max": 3.0, "avg": 2.0, "sum": 4.0,
                  "sum_of_squares": 10.0, "variance": 1.0, "variance_population": 1.0,
                  "variance_sampling": 2.0, "std_deviation": 1.0,
                  "std_deviation_population": 1.0, "std_deviation_sampling": sd_s,
                  "std_deviation_bounds": {"upper": 5.0, "lower": -1.0,
                      "upper_population": 5.0, "lower_population": -1.0,
                      "upper_sampling": 2.0 + 3.0 * sd_s, "lower_sampling": 2.0 - 3.0 * sd_s}}
        });
        // Compared as text: key order is part of the answer.
        assert_eq!(render(&specs, &results).to_string(), want.to_string());
    }

    #[test]
    fn top_hits_show_sort_values_or_scores() {
        let specs = parse_aggs(
            &json!({"by_field": {"top_hits": {"size": 1, "sort": [{"n": "desc"}]}},
                    "by_score": {"top_hits": {"size": 1}}}),
            0,
        )
        .unwrap();
        let hit = |score, sort| crate::query::agg_result::TopHit {
            index: "logs".into(),
            id: "1".into(),
            score,
            source: Some(json!({"n": 3})),
            sort,
        };
        let results = AggResults(vec![
            (
                "by_field".into(),
                AggResult::TopHits(TopHits {
                    total: 4,
                    max_score: None,
                    hits: vec![hit(
                        None,
                        Some(vec![
                            SortValue::Num(3.0),
                            SortValue::Num(0.5),
                            SortValue::Str("a".into()),
                            SortValue::Missing,
                        ]),
                    )],
                }),
            ),
            (
                "by_score".into(),
                AggResult::TopHits(TopHits {
                    total: 4,
                    max_score: Some(1.0),
                    hits: vec![crate::query::agg_result::TopHit {
                        source: None,
                        ..hit(Some(1.0), None)
                    }],
                }),
            ),
        ]);
        // Integral sort values print as integers, like Elasticsearch's longs;
        // a disabled `_source` is left out.
        let want = json!({
            "by_field": {"hits": {"total": {"value": 4, "relation": "eq"}, "max_score": null,
                "hits": [{"_index": "logs", "_id": "1", "_score": null, "_source": {"n": 3},
                          "sort": [3, 0.5, "a", null]}]}},
            "by_score": {"hits": {"total": {"value": 4, "relation": "eq"}, "max_score": 1.0,
                "hits": [{"_index": "logs", "_id": "1", "_score": 1.0}]}}
        });
        assert_eq!(render(&specs, &results).to_string(), want.to_string());
    }

    #[test]
    fn date_ranges_print_bounds_in_the_request_format_and_zone() {
        let specs = parse_aggs(
            &json!({
                "d": {"date_range": {"field": "@timestamp", "format": "yyyy-MM-dd HH:mm",
                    "time_zone": "+02:00", "ranges": [{"from": "x"}, {"key": "early", "to": "y"}]}},
                "k": {"date_range": {"field": "@timestamp", "keyed": true,
                    "ranges": [{"from": "x", "to": "y"}]}},
                "e": {"date_range": {"field": "seen", "ranges": [{"from": "x"}]}}
            }),
            0,
        )
        .unwrap();
        let t0 = 1_795_521_600_000_i64; // 2026-11-24T12:00:00Z
        let t1 = t0 + 86_400_000;
        let day = DateFormat::parse_spec("dd/MM/yyyy").unwrap();
        let dr = |buckets, field_format| AggResult::DateRange {
            buckets,
            field_format,
        };
        let results = AggResults(vec![
            (
                "d".into(),
                dr(
                    vec![
                        bucket(
                            RangeKey {
                                key: None,
                                from: Some(t0),
                                to: None,
                            },
                            3,
                        ),
                        bucket(
                            RangeKey {
                                key: Some("early".into()),
                                from: None,
                                to: Some(t0),
                            },
                            1,
                        ),
                    ],
                    Some(day.clone()),
                ),
            ),
            (
                "k".into(),
                dr(
                    vec![bucket(
                        RangeKey {
                            key: None,
                            from: Some(t0),
                            to: Some(t1),
                        },
                        2,
                    )],
                    None,
                ),
            ),
            (
                "e".into(),
                dr(
                    vec![bucket(
                        RangeKey {
                            key: None,
                            from: Some(t0),
                            to: None,
                        },
                        5,
                    )],
                    Some(day),
                ),
            ),
        ]);
        // Bounds print as doubles (Elasticsearch's range buckets do); the
        // default key joins the printed bounds with `-`, `*` for open ends;
        // keyed buckets carry no `key`. The request's format wins over the
        // field's explicit one, which wins over the default.
        let want = json!({
            "d": {"buckets": [
                {"key": "2026-11-24 14:00-*", "from": t0 as f64,
                 "from_as_string": "2026-11-24 14:00", "doc_count": 3},
                {"key": "early", "to": t0 as f64, "to_as_string": "2026-11-24 14:00", "doc_count": 1}
            ]},
            "k": {"buckets": {
                "2026-11-24T12:00:00.000Z-2026-11-25T12:00:00.000Z": {
                    "from": t0 as f64, "from_as_string": "2026-11-24T12:00:00.000Z",
                    "to": t1 as f64, "to_as_string": "2026-11-25T12:00:00.000Z", "doc_count": 2}
            }},
            "e": {"buckets": [{"key": "24/11/2026-*", "from": t0 as f64,
                "from_as_string": "24/11/2026", "doc_count": 5}]}
        });
        assert_eq!(render(&specs, &results).to_string(), want.to_string());
    }

    #[test]
    fn sub_aggregations_follow_doc_count_and_named_filters_are_a_map() {
        let specs = parse_aggs(
            &json!({
                "f": {"filters": {"filters": {"err": {"match_all": {}}}, "other_bucket_key": "rest"},
                      "aggs": {"h": {"histogram": {"field": "x", "interval": 2.5, "keyed": true},
                                     "aggs": {"mx": {"max": {"field": "x"}}}}}}
            }),
            0,
        )
        .unwrap();
        let mx = |v: Option<f64>| {
            AggResults(vec![(
                "mx".into(),
                AggResult::Value {
                    value: v,
                    value_type: ValueType::Plain,
                },
            )])
        };
        let hist = |buckets: Vec<Bucket<f64>>| {
            AggResults(vec![("h".into(), AggResult::Histogram { buckets })])
        };
        let results = AggResults(vec![(
            "f".into(),
            AggResult::Filters {
                buckets: vec![Bucket {
                    key: Some("err".into()),
                    doc_count: 2,
                    aggs: hist(vec![
                        Bucket {
                            key: 0.0,
                            doc_count: 1,
                            aggs: mx(Some(1.0)),
                        },
                        Bucket {
                            key: 2.5,
                            doc_count: 0,
                            aggs: mx(None),
                        },
                    ]),
                }],
                other: Some(Bucket {
                    key: "rest".into(),
                    doc_count: 0,
                    aggs: hist(vec![]),
                }),
            },
        )]);
        // Keyed histogram buckets are keyed by the Java double ("0.0").
        let want = json!({"f": {"buckets": {
            "err": {"doc_count": 2, "h": {"buckets": {
                "0.0": {"key": 0.0, "doc_count": 1, "mx": {"value": 1.0}},
                "2.5": {"key": 2.5, "doc_count": 0, "mx": {"value": null}}
            }}},
            "rest": {"doc_count": 0, "h": {"buckets": {}}}
        }}});
        assert_eq!(render(&specs, &results).to_string(), want.to_string());
    }

    #[test]
    fn dates_print_in_the_field_format_unless_the_request_gives_one() {
        let specs = parse_aggs(
            &json!({
                "t": {"terms": {"field": "seen"}},
                "h": {"date_histogram": {"field": "seen", "calendar_interval": "day"}},
                "r": {"date_histogram": {"field": "seen", "calendar_interval": "day",
                    "format": "yyyy-MM-dd"}},
                "mx": {"max": {"field": "seen"}}
            }),
            0,
        )
        .unwrap();
        let t0 = 1_795_521_600_000_i64; // 2026-11-24T12:00:00Z
        let seen = ValueType::Date(Some(
            DateFormat::parse_spec("yyyy-MM-dd HH:mm:ss||epoch_millis").unwrap(),
        ));
        let hist = |vt: &ValueType| AggResult::DateHistogram {
            buckets: vec![bucket(t0, 1)],
            value_type: vt.clone(),
        };
        let results = AggResults(vec![
            (
                "t".into(),
                AggResult::Terms(crate::query::agg_result::Terms {
                    buckets: vec![bucket(BucketKey::Date(t0), 1)],
                    sum_other_doc_count: 0,
                    doc_count_error_upper_bound: 0,
                    value_type: seen.clone(),
                }),
            ),
            ("h".into(), hist(&seen)),
            ("r".into(), hist(&seen)),
            (
                "mx".into(),
                AggResult::Value {
                    value: Some(t0 as f64),
                    value_type: seen.clone(),
                },
            ),
        ]);
        let want = json!({
            "t": {"doc_count_error_upper_bound": 0, "sum_other_doc_count": 0, "buckets": [
                {"key": t0, "key_as_string": "2026-11-24 12:00:00", "doc_count": 1}]},
            "h": {"buckets": [{"key_as_string": "2026-11-24 12:00:00", "key": t0, "doc_count": 1}]},
            "r": {"buckets": [{"key_as_string": "2026-11-24", "key": t0, "doc_count": 1}]},
            "mx": {"value": t0 as f64, "value_as_string": "2026-11-24 12:00:00"}
        });
        assert_eq!(render(&specs, &results).to_string(), want.to_string());
    }
}

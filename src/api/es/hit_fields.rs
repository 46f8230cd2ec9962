//! The `fields` section of search hits, for the request's `fields` and
//! `docvalue_fields` (names, `*` patterns, or `{"field", "format"}`).
//! Grafana reads each log line's time from it. Values come from `_source`;
//! the time fields give the event's time as the store indexed it, formatted
//! as asked, since a record's own time text may be naive or in any format.

use serde_json::{Map, Value};

use crate::api::error::ApiError;
use crate::event::timestamp::format_iso_millis;
use crate::event::TIMESTAMP_FIELDS;
use crate::store::mapping::wildcard_match;
use crate::store::Hit;

/// One requested field.
#[derive(Debug, Clone, PartialEq)]
pub struct Wanted {
    /// A name or a `*` pattern.
    pub field: String,
    /// A date format: `epoch_millis`, `epoch_second`, else RFC 3339.
    pub format: Option<String>,
}

/// The `fields` and `docvalue_fields` of a search body.
pub fn requested(body: &Value) -> Result<Vec<Wanted>, ApiError> {
    let mut out = Vec::new();
    for key in ["fields", "docvalue_fields"] {
        let Some(v) = body.get(key) else { continue };
        let items = v.as_array().ok_or_else(|| {
            ApiError::bad_request(
                "parsing_exception",
                format!(
                    "[{key}] must be an array of field names or {{\"field\", \"format\"}} objects"
                ),
            )
        })?;
        for it in items {
            let w = match it {
                Value::String(f) => Wanted {
                    field: f.clone(),
                    format: None,
                },
                Value::Object(o) => Wanted {
                    field: o
                        .get("field")
                        .and_then(Value::as_str)
                        .ok_or_else(|| {
                            ApiError::bad_request(
                                "parsing_exception",
                                format!("[{key}] objects need a [field] name"),
                            )
                        })?
                        .to_string(),
                    format: o.get("format").and_then(Value::as_str).map(str::to_string),
                },
                _ => {
                    return Err(ApiError::bad_request(
                        "parsing_exception",
                        format!(
                            "[{key}] entries are field names or {{\"field\", \"format\"}} objects"
                        ),
                    ))
                }
            };
            if !out.contains(&w) {
                out.push(w);
            }
        }
    }
    Ok(out)
}

/// The hit's `fields`: each matching field's values as an array.
pub fn render(wanted: &[Wanted], h: &Hit) -> Map<String, Value> {
    let mut out = Map::new();
    let mut leaves: Vec<(String, Vec<Value>)> = Vec::new();
    if let Some(src) = &h.source {
        flatten("", src, &mut leaves);
    }
    for w in wanted {
        // the event's time under `@timestamp` and the name it came from
        let time_names = std::iter::once("@timestamp").chain(
            TIMESTAMP_FIELDS
                .iter()
                .copied()
                .filter(|n| leaves.iter().any(|(k, _)| k == n)),
        );
        for name in time_names {
            if wildcard_match(&w.field, name) && !out.contains_key(name) {
                if let Some(ms) = h.time_ms {
                    out.insert(name.to_string(), Value::Array(vec![time_value(ms, w)]));
                }
            }
        }
        for (name, vals) in &leaves {
            if out.contains_key(name) || !wildcard_match(&w.field, name) {
                continue;
            }
            out.insert(name.clone(), Value::Array(vals.clone()));
        }
    }
    out
}

fn time_value(ms: i64, w: &Wanted) -> Value {
    match w.format.as_deref() {
        Some("epoch_millis") => Value::String(ms.to_string()),
        Some("epoch_second") => Value::String((ms.div_euclid(1000)).to_string()),
        _ => Value::String(format_iso_millis(ms)),
    }
}

/// Leaf values by dotted path; arrays of scalars are one field's values.
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, Vec<Value>)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&name, x, out);
            }
        }
        Value::Array(items) => {
            let scalars: Vec<Value> = items
                .iter()
                .filter(|x| !x.is_object() && !x.is_array() && !x.is_null())
                .cloned()
                .collect();
            if !scalars.is_empty() {
                out.push((prefix.to_string(), scalars));
            }
            for x in items.iter().filter(|x| x.is_object()) {
                flatten(prefix, x, out);
            }
        }
        Value::Null => {}
        scalar => out.push((prefix.to_string(), vec![scalar.clone()])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hit(src: Value, ms: Option<i64>) -> Hit {
        Hit {
            index: "i".into(),
            id: "1".into(),
            score: None,
            source: Some(src),
            sort: None,
            highlight: None,
            cursor: Vec::new(),
            time_ms: ms,
        }
    }

    #[test]
    fn the_time_comes_from_the_store_and_other_fields_from_the_source() {
        let body = json!({
            "fields": [{"field": "@timestamp", "format": "strict_date_optional_time_nanos"}, "level"],
            "docvalue_fields": [{"field": "timestamp", "format": "epoch_millis"}, "a.*"],
        });
        let w = requested(&body).expect("valid");
        assert_eq!(w.len(), 4);
        let h = hit(
            json!({"timestamp": "2026-11-24 12:00:00", "level": "INFO", "a": {"b": 1, "c": ["x", "y"]}}),
            Some(1_795_000_000_123),
        );
        let f = render(&w, &h);
        assert_eq!(f["@timestamp"], json!(["2026-11-18T11:06:40.123Z"]));
        assert_eq!(
            f["timestamp"],
            json!(["1795000000123"]),
            "the record's own name, as epoch_millis"
        );
        assert_eq!(f["level"], json!(["INFO"]));
        assert_eq!(f["a.b"], json!([1]));
        assert_eq!(f["a.c"], json!(["x", "y"]));
        assert!(!f.contains_key("message"));
    }

    #[test]
    fn bad_shapes_are_named() {
        for body in [
            json!({"fields": "x"}),
            json!({"fields": [1]}),
            json!({"docvalue_fields": [{"format": "x"}]}),
        ] {
            let e = requested(&body).expect_err("refused");
            assert!(e.reason.contains("fields"), "{}", e.reason);
        }
    }
}

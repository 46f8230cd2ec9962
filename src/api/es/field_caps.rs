//! `GET|POST /{index}/_field_caps?fields=` and `/_field_caps`: which
//! fields exist, their types, whether they can be searched and aggregated;
//! Grafana's data source finds the time field and the fields it offers
//! through it. Built from the mappings (objects dotted, multi-fields as
//! `name.sub`) plus the normalised fields every event has.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State as AxState};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::{json_response, resolve_opts, Params};
use crate::api::error::ApiError;
use crate::api::{Body, State};
use crate::store::mapping::wildcard_match;

/// Fields every event has, whatever its record holds.
const NORMALISED: [(&str, &str); 4] = [
    ("@level", "keyword"),
    ("@service", "keyword"),
    ("@host", "keyword"),
    ("_pattern", "keyword"),
];

/// `GET|POST /_field_caps`
pub async fn field_caps_all(
    st: AxState<State>,
    p: Query<Params>,
    body: Body,
) -> Result<Response, ApiError> {
    answer(st.0, "_all".to_string(), p.0, body.0)
}

/// `GET|POST /{index}/_field_caps`
pub async fn field_caps(
    st: AxState<State>,
    Path(index): Path<String>,
    p: Query<Params>,
    body: Body,
) -> Result<Response, ApiError> {
    answer(st.0, index, p.0, body.0)
}

fn answer(st: State, index: String, p: Params, body: bytes::Bytes) -> Result<Response, ApiError> {
    // `fields` in the URL or in a JSON body, a comma list or an array
    let mut patterns: Vec<String> = p
        .get("fields")
        .map(|f| f.split(',').map(|s| s.trim().to_string()).collect())
        .unwrap_or_default();
    if patterns.is_empty() && !body.iter().all(u8::is_ascii_whitespace) {
        let v: Value = serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(
                "parse_exception",
                format!("the request body is not JSON: {e}"),
            )
        })?;
        if let Some(a) = v.get("fields").and_then(Value::as_array) {
            patterns = a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect();
        }
    }
    patterns.retain(|s| !s.is_empty());
    if patterns.is_empty() {
        return Err(ApiError::bad_request(
            "action_request_validation_exception",
            "Validation Failed: 1: specified fields can't be null or empty;",
        ));
    }
    let names = st.ingest.store.resolve(&index, resolve_opts(&p))?;
    // field → type → indices having it with that type
    let mut caps: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for n in &names {
        let mut fields = Vec::new();
        if let Some(m) = st.ingest.store.mapping(n) {
            walk("", m.get("properties"), &mut fields);
        }
        for (f, t) in NORMALISED {
            fields.push((f.to_string(), t.to_string()));
        }
        fields.push(("_id".into(), "_id".into()));
        fields.push(("_index".into(), "_index".into()));
        for (f, t) in fields {
            if patterns.iter().any(|p| wildcard_match(p, &f)) {
                let e = caps.entry(f).or_default().entry(t).or_default();
                if !e.contains(n) {
                    e.push(n.clone());
                }
            }
        }
    }
    let mut out = Map::new();
    for (field, types) in caps {
        // the same type with and without doc values (older and newer
        // indices) is one type, aggregatable only where all have them
        let mut merged: BTreeMap<String, (bool, Vec<String>)> = BTreeMap::new();
        for (t, idx) in types {
            let (t, doc_values) = match t.strip_suffix(NO_DOC_VALUES) {
                Some(base) => (base.to_string(), false),
                None => (t, true),
            };
            let e = merged.entry(t).or_insert((true, Vec::new()));
            e.0 &= doc_values;
            e.1.extend(idx);
        }
        let mut per = Map::new();
        let several = merged.len() > 1;
        for (t, (doc_values, idx)) in merged {
            let meta = t.starts_with('_');
            let mut c = json!({
                "type": t,
                "metadata_field": meta,
                "searchable": true,
                "aggregatable": doc_values && t != "text" && t != "_id",
            });
            // which indices, only when not all have this type
            if several || idx.len() < names.len() {
                c["indices"] = json!(idx);
            }
            per.insert(t, c);
        }
        out.insert(field, Value::Object(per));
    }
    Ok(json_response(
        StatusCode::OK,
        json!({"indices": names, "fields": out}).to_string(),
    ))
}

/// Marks a type in [`walk`]'s output as having no doc values.
const NO_DOC_VALUES: &str = "\u{0}no_doc_values";

/// `(dotted name, type)` of every mapped field, multi-fields included.
fn walk(prefix: &str, props: Option<&Value>, out: &mut Vec<(String, String)>) {
    let Some(Value::Object(props)) = props else {
        return;
    };
    for (k, v) in props {
        let name = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        if let Some(t) = v.get("type").and_then(Value::as_str) {
            out.push((name.clone(), t.to_string()));
        } else if v.get("properties").is_some() {
            out.push((name.clone(), "object".to_string()));
        }
        if let Some(Value::Object(subs)) = v.get("fields") {
            for (sk, sv) in subs {
                if let Some(t) = sv.get("type").and_then(Value::as_str) {
                    // a keyword without doc values (a message's `.keyword`)
                    // is searchable, not aggregatable
                    let t = if sv.get("doc_values") == Some(&Value::Bool(false)) {
                        format!("{t}{NO_DOC_VALUES}")
                    } else {
                        t.to_string()
                    };
                    out.push((format!("{name}.{sk}"), t));
                }
            }
        }
        walk(&name, v.get("properties"), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_objects_and_multi_fields() {
        let m = json!({
            "@timestamp": {"type": "date"},
            "level": {"type": "text", "fields": {"keyword": {"type": "keyword"}}},
            "http": {"properties": {"status": {"type": "long"}, "took": {"type": "float"}}},
        });
        let mut out = Vec::new();
        walk("", Some(&m), &mut out);
        let got: Vec<(&str, &str)> = out.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        assert_eq!(
            got,
            [
                ("@timestamp", "date"),
                ("level", "text"),
                ("level.keyword", "keyword"),
                ("http", "object"),
                ("http.status", "long"),
                ("http.took", "float"),
            ]
        );
    }
}

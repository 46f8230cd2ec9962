//! `POST /_msearch` and `/{index}/_msearch` (what Grafana's Elasticsearch
//! data source sends for every panel): NDJSON pairs of a header and a
//! search body; one entry in `responses` per pair, each with its own
//! `status`, a failing search answering its error in place while its
//! neighbours succeed.

use std::time::Instant;

use axum::extract::{Path, Query, State as AxState};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::search::do_search;
use super::{json_response, Params};
use crate::api::error::ApiError;
use crate::api::{Body, State};

/// Header keys passed on to the search as its URL parameters would be.
const PASSED: [&str; 3] = ["ignore_unavailable", "allow_no_indices", "expand_wildcards"];

/// `GET|POST /_msearch`
pub async fn msearch(
    AxState(st): AxState<State>,
    Query(p): Query<Params>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    run(st, None, p, body).await
}

/// `GET|POST /{index}/_msearch`
pub async fn msearch_index(
    AxState(st): AxState<State>,
    Path(index): Path<String>,
    Query(p): Query<Params>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    run(st, Some(index), p, body).await
}

/// One search of the request: its index expression, parameters and body.
struct Entry {
    index: Option<String>,
    params: Params,
    body: bytes::Bytes,
}

/// Splits the body into pairs; a header that is not a JSON object fails
/// the whole request with its line number, as Elasticsearch does.
fn entries(default_index: Option<&str>, url: &Params, body: &[u8]) -> Result<Vec<Entry>, ApiError> {
    let mut lines: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
    while lines
        .last()
        .is_some_and(|l| l.iter().all(u8::is_ascii_whitespace))
    {
        lines.pop();
    }
    if lines.is_empty() {
        return Err(ApiError::bad_request(
            "action_request_validation_exception",
            "Validation Failed: 1: no requests added;",
        ));
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line_no = i + 1;
        let head = lines[i];
        let header: serde_json::Map<String, Value> = if head.iter().all(u8::is_ascii_whitespace) {
            serde_json::Map::new()
        } else {
            match serde_json::from_slice::<Value>(head) {
                Ok(Value::Object(m)) => m,
                Ok(_) => {
                    return Err(ApiError::bad_request(
                        "parse_exception",
                        format!("_msearch line {line_no}: a header must be a JSON object"),
                    ))
                }
                Err(e) => {
                    return Err(ApiError::bad_request(
                        "parse_exception",
                        format!("_msearch line {line_no}: the header is not valid JSON: {e}"),
                    ))
                }
            }
        };
        let Some(body) = lines.get(i + 1) else {
            return Err(ApiError::bad_request(
                "parse_exception",
                format!("_msearch line {line_no}: a header without a search body after it"),
            ));
        };
        let index = match header.get("index") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Array(a)) => Some(
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            Some(_) => {
                return Err(ApiError::bad_request(
                    "parse_exception",
                    format!(
                        "_msearch line {line_no}: [index] must be a string or an array of strings"
                    ),
                ))
            }
            None => default_index.map(str::to_string),
        };
        let mut params: Params = url
            .iter()
            .filter(|(k, _)| PASSED.contains(&k.as_str()) || k.as_str() == "rest_total_hits_as_int")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for k in PASSED {
            match header.get(k) {
                Some(Value::Bool(b)) => {
                    params.insert(k.to_string(), b.to_string());
                }
                Some(Value::String(s)) => {
                    params.insert(k.to_string(), s.clone());
                }
                _ => {}
            }
        }
        out.push(Entry {
            index,
            params,
            body: bytes::Bytes::copy_from_slice(body),
        });
        i += 2;
    }
    Ok(out)
}

async fn run(
    st: State,
    index: Option<String>,
    p: Params,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let list = entries(index.as_deref(), &p, &body)?;
    let mut responses = Vec::with_capacity(list.len());
    for e in list {
        let one = match do_search(st.clone(), e.index, e.params, e.body).await {
            Ok(text) => match serde_json::from_str::<Value>(&text) {
                Ok(mut v) => {
                    v["status"] = json!(200);
                    v
                }
                Err(err) => ApiError::internal(err).body(),
            },
            Err(err) => err.body(),
        };
        responses.push(one);
    }
    Ok(json_response(
        StatusCode::OK,
        json!({"took": started.elapsed().as_millis() as u64, "responses": responses}).to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_headers_and_bodies_and_names_a_broken_line() {
        let url: Params = [("max_concurrent_shard_requests".to_string(), "5".to_string())]
            .into_iter()
            .collect();
        let body = b"{\"index\":\"a,b\",\"ignore_unavailable\":true}\n{\"size\":0}\n\n{}\n{\"index\":[\"c\",\"d\"]}\n{}\n";
        let got = entries(Some("x"), &url, body).expect("valid");
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].index.as_deref(), Some("a,b"));
        assert_eq!(
            got[0].params.get("ignore_unavailable").map(String::as_str),
            Some("true")
        );
        assert!(!got[0].params.contains_key("max_concurrent_shard_requests"));
        assert_eq!(
            got[1].index.as_deref(),
            Some("x"),
            "an empty header takes the path's index"
        );
        assert_eq!(&got[1].body[..], b"{}");
        assert_eq!(got[2].index.as_deref(), Some("c,d"), "an array of indices");
        let e = entries(None, &url, b"{}\n{}\n{not json\n{}\n")
            .err()
            .expect("refused");
        assert!(e.reason.contains("line 3"), "{}", e.reason);
        let e = entries(None, &url, b"{}\n{}\n{}\n").err().expect("refused");
        assert!(
            e.reason.contains("line 3") && e.reason.contains("without"),
            "{}",
            e.reason
        );
        assert!(entries(None, &url, b"\n").is_err());
    }
}

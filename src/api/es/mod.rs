//! Elasticsearch-compatible handlers: writes, searches, scroll/PIT and the
//! admin endpoints clients probe.

pub mod admin;
pub mod aggs_render;
pub mod aliases;
pub mod by_query;
pub mod cat;
pub mod field_caps;
pub mod hit_fields;
pub mod metric_rewrites;
pub mod msearch;
pub mod nodes;
pub mod pattern_buckets;
pub mod pipeline;
pub mod scroll;
pub mod search;
pub mod tasks;
pub mod templates;
pub mod update;
pub mod write;

use std::collections::HashMap;

use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};

/// Query-string parameters, as given.
pub type Params = HashMap<String, String>;

/// Answer JSON the way Elasticsearch does.
pub fn json_response(status: axum::http::StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    r
}

/// `ignore_unavailable` / `allow_no_indices` as given in the URL.
pub fn resolve_opts(p: &Params) -> crate::store::ResolveOptions {
    crate::store::ResolveOptions {
        ignore_unavailable: flag(p, "ignore_unavailable").unwrap_or(false),
        allow_no_indices: flag(p, "allow_no_indices").unwrap_or(true),
    }
}

/// A boolean query parameter (`?pretty`, `?ignore_unavailable=true`).
pub fn flag(p: &Params, key: &str) -> Option<bool> {
    p.get(key).map(|v| v.is_empty() || v == "true")
}

//! Requests no handler answers, answered as Elasticsearch answers them.
//!
//! - A path nobody serves: 400 `no handler found for uri [..] and method
//!   [..]`, for every method. A first path segment that starts with `_` is
//!   an API name, never an index (`_all` aside), so `/_nodes` or
//!   `POST /_something` get that answer too instead of "no such index" or
//!   an empty 405 from the `/{index}` routes.
//! - A served path asked with another method: 405 naming what is allowed.
//! - `OPTIONS`: 200 with `Allow`.
//! - Requests the connection layer refused ([`super::wire`]) and the
//!   plain-text rejections of axum's extractors and tower-http layers:
//!   Elasticsearch-shaped errors with the same status.

use axum::body::to_bytes;
use axum::extract::{MatchedPath, Request};
use axum::http::header::{ALLOW, CONTENT_TYPE};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::{method_not_allowed, no_handler, ApiError};
use super::wire;

/// The router's fallback.
pub async fn fallback(req: Request) -> Response {
    if req.method() == Method::OPTIONS {
        return StatusCode::OK.into_response();
    }
    no_handler(req.method(), req.uri())
}

/// Whether `/{index}...` matched a first segment that cannot be an index.
fn api_name_taken_for_index(req: &Request) -> bool {
    let matched = req
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|m| m.as_str().starts_with("/{index}"));
    let first = req
        .uri()
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    matched && first.starts_with('_') && first != "_all"
}

fn allowed_methods(res: &Response) -> Vec<String> {
    let mut v: Vec<String> = res
        .headers()
        .get_all(ALLOW)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(','))
        .map(|m| m.trim().to_ascii_uppercase())
        .filter(|m| !m.is_empty())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Middleware inside the router, where the matched route is known: an API
/// name in the place of an index has no handler, whatever the method.
pub async fn api_names_are_not_indices(req: Request, next: Next) -> Response {
    if !api_name_taken_for_index(&req) {
        return next.run(req).await;
    }
    if req.method() == Method::OPTIONS {
        StatusCode::OK.into_response()
    } else {
        no_handler(req.method(), req.uri())
    }
}

/// Middleware around the whole router (where axum's 405 already carries
/// `Allow`): refused requests, 405, `OPTIONS` and plain-text rejections.
pub async fn es_answers(req: Request, next: Next) -> Response {
    if let Some((status, kind, reason)) = req
        .headers()
        .get(wire::REFUSED_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(wire::refusal)
    {
        return ApiError::new(status, kind, reason).into_response();
    }
    let method = req.method().clone();
    let uri = req.uri().clone();
    let res = next.run(req).await;
    let status = res.status();
    if status == StatusCode::METHOD_NOT_ALLOWED {
        let allowed = allowed_methods(&res);
        if method == Method::OPTIONS {
            let mut ok = StatusCode::OK.into_response();
            if let Ok(v) = HeaderValue::from_str(&allowed.join(",")) {
                ok.headers_mut().insert(ALLOW, v);
            }
            return ok;
        }
        return method_not_allowed(&method, &uri, &allowed);
    }
    let is_json = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|c| c.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    if status.as_u16() < 400 || is_json || method == Method::HEAD {
        return res;
    }
    // A rejection in plain text (or none): same status, Elasticsearch's shape.
    let text = to_bytes(res.into_body(), 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let reason = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    let kind = match status.as_u16() {
        413 => "content_too_long_exception",
        429 => "es_rejected_execution_exception",
        500.. => "exception",
        _ => "illegal_argument_exception",
    };
    ApiError::new(status, kind, reason).into_response()
}

//! One error type for every HTTP handler, rendered in Elasticsearch's error
//! shape so that clients raise the exception they expect.

use axum::http::header::{ALLOW, CONTENT_TYPE};
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::query::es_dsl::DslError;
use crate::store::StoreError;

/// An error answered to an HTTP client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub reason: String,
    pub index: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, reason: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind,
            reason: reason.into(),
            index: None,
        }
    }
    pub fn bad_request(kind: &'static str, reason: impl Into<String>) -> ApiError {
        Self::new(StatusCode::BAD_REQUEST, kind, reason)
    }
    pub fn not_found_index(index: &str) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            kind: "index_not_found_exception",
            reason: format!("no such index [{index}]"),
            index: Some(index.to_string()),
        }
    }
    /// The write-ahead log refused a write: nothing of the request was
    /// acknowledged, the client should retry.
    pub fn write_failed(e: impl std::fmt::Display) -> ApiError {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable_shards_exception",
            format!("write failed: {e}"),
        )
    }
    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %e, "internal error answering a request");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "exception",
            "internal error; see the server log",
        )
    }
}

impl From<DslError> for ApiError {
    fn from(e: DslError) -> Self {
        match e {
            DslError::UnknownQuery(name) => {
                ApiError::bad_request("parsing_exception", format!("unknown query [{name}]"))
            }
            DslError::UnknownAgg(msg) => {
                ApiError::bad_request("named_object_not_found_exception", msg)
            }
            DslError::QueryString(e) => {
                ApiError::bad_request("query_shard_exception", e.to_string())
            }
            DslError::Parsing(msg) => ApiError::bad_request("parsing_exception", msg),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::IndexNotFound(i) => ApiError::not_found_index(&i),
            StoreError::InvalidIndexName { .. } => {
                ApiError::bad_request("invalid_index_name_exception", e.to_string())
            }
            StoreError::BadQuery(m) => ApiError::bad_request("search_phase_execution_exception", m),
            StoreError::QueryShard(m) => ApiError::bad_request("query_shard_exception", m),
            StoreError::Rejected {
                status,
                kind,
                reason,
            } => ApiError::new(
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
                kind,
                reason,
            ),
            other => ApiError::internal(other),
        }
    }
}

impl ApiError {
    /// The error as Elasticsearch's JSON body (with `status`), also one
    /// entry of an `_msearch` answer.
    pub fn body(&self) -> serde_json::Value {
        let mut cause = json!({"type": self.kind, "reason": self.reason});
        if let Some(i) = &self.index {
            cause["index"] = json!(i);
            cause["resource.type"] = json!("index_or_alias");
            cause["resource.id"] = json!(i);
        }
        let body = json!({
            "error": {
                "root_cause": [cause.clone()],
                "type": cause["type"],
                "reason": cause["reason"],
                "index": cause.get("index"),
            },
            "status": self.status.as_u16(),
        });
        let mut body = body;
        if self.index.is_none() {
            if let Some(e) = body.get_mut("error").and_then(|e| e.as_object_mut()) {
                e.remove("index");
            }
        }
        body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.body();
        (self.status, axum::Json(body)).into_response()
    }
}

fn json_error(status: StatusCode, body: serde_json::Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// Elasticsearch's answer for a path no handler takes, whatever the method
/// (its RestController): 400 with a bare `error` string and no `status`.
pub fn no_handler(method: &Method, uri: &Uri) -> Response {
    json_error(
        StatusCode::BAD_REQUEST,
        json!({"error": format!("no handler found for uri [{uri}] and method [{method}]")}),
    )
}

/// Elasticsearch's answer for a known path asked with a method it does
/// not take: 405, `error` and `status`, and `Allow`.
pub fn method_not_allowed(method: &Method, uri: &Uri, allowed: &[String]) -> Response {
    let mut r = json_error(
        StatusCode::METHOD_NOT_ALLOWED,
        json!({
            "error": format!(
                "Incorrect HTTP method for uri [{uri}] and method [{method}], allowed: [{}]",
                allowed.join(", ")
            ),
            "status": 405,
        }),
    );
    if let Ok(v) = HeaderValue::from_str(&allowed.join(",")) {
        r.headers_mut().insert(ALLOW, v);
    }
    r
}

//! `?pretty` on every endpoint: a JSON answer re-printed with indentation
//! and a final newline (what Elasticsearch does, and what people add to
//! curl commands to read an answer).

use axum::extract::Request;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Whether the query string asks for it (`pretty`, `pretty=true`; not
/// `pretty=false`).
fn wants_pretty(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        q.split('&').any(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            k == "pretty" && v != "false"
        })
    })
}

/// The middleware.
pub async fn pretty(req: Request, next: Next) -> Response {
    let want = wants_pretty(req.uri().query());
    let res = next.run(req).await;
    if !want {
        return res;
    }
    let is_json = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    // JSON answers are built in memory already; 256 MiB is far above them
    let Ok(bytes) = axum::body::to_bytes(body, 256 << 20).await else {
        return (parts.status, "").into_response();
    };
    let out = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(v) => match serde_json::to_vec_pretty(&v) {
            Ok(mut p) => {
                p.push(b'\n');
                p
            }
            Err(_) => bytes.to_vec(),
        },
        Err(_) => bytes.to_vec(),
    };
    parts.headers.remove(CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_is_a_flag() {
        assert!(wants_pretty(Some("pretty")));
        assert!(wants_pretty(Some("q=a&pretty=true")));
        assert!(wants_pretty(Some("pretty=")));
        assert!(!wants_pretty(Some("pretty=false")));
        assert!(!wants_pretty(Some("prettyx")));
        assert!(!wants_pretty(None));
    }
}

//! `GET /api/v1/indices`: each index with its documents, size on disk, the
//! time span of its events and, when retention is on, when it goes: what
//! the dashboard's indices view shows and what `_cat/indices` lacks.

use axum::extract::State as AxState;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::error::ApiError;
use super::es::{aggs_render, json_response};
use super::State;
use crate::query::es_dsl::parse_search_body;

const DAY_MS: i64 = 86_400_000;

/// `GET /api/v1/indices`
pub async fn list(AxState(st): AxState<State>) -> Result<Response, ApiError> {
    let store = st.ingest.store.clone();
    let retention_days = st.retention_days;
    let body = tokio::task::spawn_blocking(move || -> Result<Value, ApiError> {
        let req = parse_search_body(&json!({
            "size": 0,
            "track_total_hits": false,
            "aggs": {
                "oldest": {"min": {"field": "@timestamp"}},
                "newest": {"max": {"field": "@timestamp"}},
            },
        }))?;
        let mut infos = store.list();
        infos.sort_by(|a, b| a.name.cmp(&b.name));
        let mut out = Vec::with_capacity(infos.len());
        for info in infos {
            // the span of an index's events, from its own aggregations
            let (oldest, newest) = match store.snapshot(std::slice::from_ref(&info.name)) {
                Ok(snap) => match snap.search(&req, None) {
                    Ok(res) => {
                        let aggs = res
                            .aggregations
                            .as_ref()
                            .map(|a| aggs_render::render(&req.aggs, a))
                            .unwrap_or(Value::Null);
                        (
                            aggs["oldest"]["value"].as_f64().map(|v| v as i64),
                            aggs["newest"]["value"].as_f64().map(|v| v as i64),
                        )
                    }
                    Err(_) => (None, None),
                },
                Err(_) => (None, None),
            };
            let newest = newest.or(info.max_timestamp_ms);
            let deleted_after = match (retention_days, newest) {
                (d, Some(n)) if d > 0 => Some(n + d as i64 * DAY_MS),
                _ => None,
            };
            out.push(json!({
                "index": info.name,
                "docs": info.docs,
                "bytes": info.bytes,
                "oldest": oldest,
                "newest": newest,
                "deleted_after": deleted_after,
            }));
        }
        Ok(json!({
            "indices": out,
            "retention_days": if retention_days > 0 { json!(retention_days) } else { Value::Null },
        }))
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(json_response(StatusCode::OK, body.to_string()))
}

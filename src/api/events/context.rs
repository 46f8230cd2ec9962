//! `GET /api/v1/context/{index}/{id}`: the events just before and after
//! one event from the same service and host ("show context"), as a person
//! reading an error wants to see what led to it. One snapshot answers all
//! three searches, so the `_doc` tiebreak orders events of the same
//! millisecond consistently.

use axum::extract::{Path, Query as UrlQuery, State as AxState};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::{blocking, hit_json};
use crate::api::analysis::params::Args;
use crate::api::error::ApiError;
use crate::api::es::aggs_render;
use crate::api::es::{json_response, Params};
use crate::api::State;
use crate::query::es_dsl::parse_search_body;
use crate::query::model::{BoolQuery, Query, SearchRequest};
use crate::store::{ResolveOptions, Snapshot};

/// Neighbours on each side when `size` is not given.
const DEFAULT_SIZE: i64 = 10;

/// `GET /api/v1/context/{index}/{id}?size=&index_pattern=`
pub async fn context(
    AxState(st): AxState<State>,
    Path((index, id)): Path<(String, String)>,
    UrlQuery(p): UrlQuery<Params>,
) -> Result<Response, ApiError> {
    let a = Args::read(&p, &[], &["size", "indices"])?;
    let size = a.int("size", DEFAULT_SIZE, 1, 500)? as usize;
    // Neighbours may sit in the next daily index: `indices` widens the
    // search (default: the event's own index).
    let scope = a.str("indices")?.unwrap_or_else(|| index.clone());
    let store = st.ingest.store.clone();
    let body = blocking(move || {
        let mut names = store.resolve(
            &scope,
            ResolveOptions {
                ignore_unavailable: true,
                allow_no_indices: true,
            },
        )?;
        if !names.contains(&index) {
            names.extend(store.resolve(
                &index,
                ResolveOptions {
                    ignore_unavailable: false,
                    allow_no_indices: false,
                },
            )?);
        }
        let snap = store.snapshot(&names)?;
        let Some((anchor, service, host)) = find_anchor(snap.as_ref(), &index, &id)? else {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "resource_not_found_exception",
                format!("no event [{id}] in index [{index}]"),
            ));
        };
        let cursor = anchor
            .get("sort")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let same = same_source(service.as_deref(), host.as_deref());
        let mut before = neighbours(snap.as_ref(), &same, &cursor, "desc", size)?;
        before.reverse();
        let after = neighbours(snap.as_ref(), &same, &cursor, "asc", size)?;
        Ok(json!({
            "anchor": anchor,
            "service": service,
            "host": host,
            "before": before,
            "after": after,
        }))
    })
    .await?;
    Ok(json_response(StatusCode::OK, body.to_string()))
}

/// The event (with its sort cursor), its service and its host.
type Anchor = (Value, Option<String>, Option<String>);

/// The event with its sort cursor, and its service and host as the store
/// normalised them (`@service`, `@host`).
fn find_anchor(snap: &dyn Snapshot, index: &str, id: &str) -> Result<Option<Anchor>, ApiError> {
    let mut req = request(
        "desc",
        1,
        json!({
            "service": {"terms": {"field": "@service", "size": 1}},
            "host": {"terms": {"field": "@host", "size": 1}},
        }),
    )?;
    req.query = Query::Bool(Box::new(BoolQuery {
        filter: vec![
            Query::Ids(vec![id.to_string()]),
            Query::Indices(vec![index.to_string()]),
        ],
        ..Default::default()
    }));
    let res = snap.search(&req, None)?;
    let Some(hit) = res.hits.first() else {
        return Ok(None);
    };
    let aggs = res
        .aggregations
        .as_ref()
        .map(|r| aggs_render::render(&req.aggs, r))
        .unwrap_or(Value::Null);
    let key = |name: &str| aggs[name]["buckets"][0]["key"].as_str().map(str::to_string);
    Ok(Some((hit_json(hit), key("service"), key("host"))))
}

/// Same service and same host; an event without one matches events
/// without one.
fn same_source(service: Option<&str>, host: Option<&str>) -> Query {
    let mut b = BoolQuery::default();
    for (field, v) in [("@service", service), ("@host", host)] {
        match v {
            Some(v) => b.filter.push(Query::Term {
                field: field.into(),
                value: json!(v),
                case_insensitive: false,
            }),
            None => b.must_not.push(Query::Exists {
                field: field.into(),
            }),
        }
    }
    Query::Bool(Box::new(b))
}

/// Up to `size` events after `cursor` in `order` (desc: older ones).
fn neighbours(
    snap: &dyn Snapshot,
    same: &Query,
    cursor: &[Value],
    order: &str,
    size: usize,
) -> Result<Vec<Value>, ApiError> {
    let mut req = request(order, size, json!({}))?;
    req.query = same.clone();
    req.search_after = Some(cursor.to_vec());
    let res = snap.search(&req, None)?;
    Ok(res.hits.iter().map(hit_json).collect())
}

/// A search sorted by time with `_doc` as the tiebreak.
fn request(order: &str, size: usize, aggs: Value) -> Result<SearchRequest, ApiError> {
    let body = json!({
        "size": size,
        "track_total_hits": false,
        "sort": [
            {"@timestamp": {"order": order, "unmapped_type": "date"}},
            {"_doc": {"order": order}},
        ],
        "aggs": aggs,
    });
    parse_search_body(&body).map_err(|e| ApiError::internal(format!("context request: {e}")))
}

//! `_delete_by_query` and `_update_by_query`: what a data-removal request
//! ("delete everything of user X") or a shipper's cleanup runs. The
//! matches are read from one snapshot taken after a refresh, so every
//! acknowledged write is seen, and deleted through the write-ahead log in
//! batches like any other delete: durable once the request answers, and a
//! cancelled or failed run keeps what it deleted so far. With
//! `wait_for_completion=false` the run becomes a task (`tasks.rs`).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, Query, State as AxState};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::search::parse_body;
use super::tasks::{node_id, TaskHandle};
use super::write::{apply_refresh, refresh_param, Refresh};
use super::{json_response, resolve_opts, Params};
use crate::api::error::ApiError;
use crate::api::{Body, State};
use crate::event::{self, Event, WriteOp};
use crate::query::es_dsl;
use crate::query::lucene;
use crate::query::model::{Query as Q, SearchRequest, SourceFilter, TrackTotal};

/// Which of the two a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Delete,
    Update,
}

impl Kind {
    fn action(self) -> &'static str {
        match self {
            Kind::Delete => "indices:data/write/delete/byquery",
            Kind::Update => "indices:data/write/update/byquery",
        }
    }

    fn counts(self) -> &'static str {
        match self {
            Kind::Delete => "deleted",
            Kind::Update => "updated",
        }
    }
}

/// A parsed request, ready to run.
struct Job {
    kind: Kind,
    indices: Vec<String>,
    query: Q,
    max_docs: Option<u64>,
    batch: usize,
    refresh: Refresh,
}

fn bad(kind: &'static str, reason: impl Into<String>) -> ApiError {
    ApiError::bad_request(kind, reason)
}

fn parse_job(
    st: &State,
    kind: Kind,
    index: &str,
    p: &Params,
    body: &[u8],
) -> Result<Job, ApiError> {
    let v = parse_body(body)?;
    if let Value::Object(m) = &v {
        for k in m.keys() {
            match (k.as_str(), kind) {
                ("query" | "max_docs" | "conflicts" | "slice", _) => {}
                ("script", Kind::Update) => {
                    return Err(bad(
                        "illegal_argument_exception",
                        "[script] is not supported by logweave (no Painless); an update by query \
                         without a script is accepted, to change documents send them again with \
                         _bulk update or index",
                    ))
                }
                _ => {
                    return Err(bad(
                        "parsing_exception",
                        format!("[{}] unknown field [{k}]", kind.action()),
                    ))
                }
            }
        }
    } else if !v.is_null() {
        return Err(bad(
            "parsing_exception",
            "request body must be a JSON object",
        ));
    }
    let conflicts = p
        .get("conflicts")
        .map(String::as_str)
        .or_else(|| v.get("conflicts").and_then(Value::as_str));
    if let Some(c) = conflicts {
        if c != "abort" && c != "proceed" {
            return Err(bad(
                "illegal_argument_exception",
                format!("conflicts may only be \"proceed\" or \"abort\" but was [{c}]"),
            ));
        }
    }
    let mut query = match v.get("query") {
        Some(q) => es_dsl::parse_query(q, 0)?,
        None if kind == Kind::Delete && p.get("q").is_none() => {
            return Err(bad(
                "action_request_validation_exception",
                "Validation Failed: 1: query is missing;",
            ))
        }
        None => Q::MatchAll,
    };
    if let Some(q) = p.get("q") {
        query = lucene::parse(
            q,
            &lucene::Options {
                default_fields: p.get("df").map(|d| vec![d.clone()]).unwrap_or_default(),
                ..Default::default()
            },
        )
        .map_err(es_dsl::DslError::from)?;
    }
    st.expand_patterns(&mut query);
    let number = |k: &str, from_body: Option<&Value>| -> Result<Option<u64>, ApiError> {
        match (p.get(k), from_body) {
            (Some(s), _) => s.parse::<u64>().map(Some).map_err(|_| {
                bad(
                    "illegal_argument_exception",
                    format!("[{k}] must be a non-negative integer, got [{s}]"),
                )
            }),
            (None, Some(n)) => n.as_u64().map(Some).ok_or_else(|| {
                bad(
                    "x_content_parse_exception",
                    format!("[{k}] must be a non-negative integer, got {n}"),
                )
            }),
            (None, None) => Ok(None),
        }
    };
    let max_docs = number("max_docs", v.get("max_docs"))?;
    let batch = number("scroll_size", None)?
        .unwrap_or(1000)
        .clamp(1, 10_000) as usize;
    let indices = st.ingest.store.resolve(index, resolve_opts(p))?;
    Ok(Job {
        kind,
        indices,
        query,
        max_docs,
        batch,
        refresh: refresh_param(p)?,
    })
}

/// Runs a job, counting into `h`; the Elasticsearch response body.
async fn run(st: State, job: Job, h: &TaskHandle) -> Result<Value, ApiError> {
    let started = Instant::now();
    st.ingest.refresh_all().await.map_err(ApiError::internal)?;
    let snap = st.ingest.store.snapshot(&job.indices)?;
    let mut cursor: Option<Vec<Value>> = None;
    let mut left = job.max_docs.unwrap_or(u64::MAX);
    let mut last_lsn = None;
    let mut first = true;
    while left > 0 && !h.cancelled.load(Ordering::Relaxed) {
        let req = SearchRequest {
            query: job.query.clone(),
            size: job.batch.min(left.min(usize::MAX as u64) as usize),
            track_total_hits: if first {
                TrackTotal::Exact
            } else {
                TrackTotal::Off
            },
            source: SourceFilter {
                disabled: true,
                ..Default::default()
            },
            ..Default::default()
        };
        let s = snap.clone();
        let after = cursor.clone();
        let res =
            crate::api::blocking(move || s.search(&req, after.as_deref()).map_err(ApiError::from))
                .await?;
        if first {
            let total = res.total.min(job.max_docs.unwrap_or(u64::MAX));
            h.progress.total.store(total, Ordering::Relaxed);
            first = false;
        }
        let Some(last) = res.hits.last() else { break };
        cursor = Some(last.cursor.clone());
        let n = res.hits.len() as u64;
        if job.kind == Kind::Delete {
            let now = event::now_ms();
            let events: Vec<Event> = res
                .hits
                .iter()
                .map(|hit| Event {
                    index: hit.index.clone(),
                    id: hit.id.clone(),
                    explicit_id: true,
                    op: WriteOp::Delete,
                    timestamp_ms: now,
                    source: bytes::Bytes::new(),
                    parsed: None,
                    profile: crate::event::FieldProfile::Dynamic,
                    pattern: None,
                })
                .collect();
            last_lsn = Some(
                st.ingest
                    .write(events)
                    .await
                    .map_err(ApiError::write_failed)?,
            );
        }
        left = left.saturating_sub(n);
        h.progress.done.fetch_add(n, Ordering::Relaxed);
        h.progress.batches.fetch_add(1, Ordering::Relaxed);
    }
    if let Some(lsn) = last_lsn {
        apply_refresh(&st, job.refresh, lsn).await?;
    }
    let mut out = json!({
        "took": started.elapsed().as_millis() as u64,
        "timed_out": false,
        "failures": [],
    });
    if let (Value::Object(o), Value::Object(s)) = (&mut out, h.progress.status()) {
        o.extend(s);
    }
    if h.cancelled.load(Ordering::Relaxed) {
        out["canceled"] = json!("by user request");
    }
    Ok(out)
}

async fn by_query(
    st: State,
    kind: Kind,
    index: String,
    p: Params,
    body: &[u8],
) -> Result<Response, ApiError> {
    let job = parse_job(&st, kind, &index, &p, body)?;
    let verb = match kind {
        Kind::Delete => "delete",
        Kind::Update => "update",
    };
    let description = format!("{verb}-by-query [{index}]");
    let (id, handle) = st.tasks.start(kind.action(), description, kind.counts());
    let background = super::flag(&p, "wait_for_completion") == Some(false);
    let handle = Arc::new(handle);
    let work = {
        let st = st.clone();
        let handle = handle.clone();
        async move {
            let r = run(st.clone(), job, &handle).await;
            let outcome = match &r {
                Ok(v) => Ok(v.clone()),
                Err(e) => Err(e.body()["error"].clone()),
            };
            st.tasks.finish(id, outcome);
            r
        }
    };
    if background {
        tokio::spawn(work);
        return Ok(json_response(
            StatusCode::OK,
            json!({"task": format!("{}:{id}", node_id(&st))}).to_string(),
        ));
    }
    // in its own task, so a client that hangs up does not stop the run
    // halfway without anyone seeing it
    let v = tokio::spawn(work).await.map_err(ApiError::internal)??;
    Ok(json_response(StatusCode::OK, v.to_string()))
}

/// `POST /{index}/_delete_by_query`
pub async fn delete_by_query(
    AxState(st): AxState<State>,
    Path(index): Path<String>,
    Query(p): Query<Params>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    by_query(st, Kind::Delete, index, p, &body).await
}

/// `POST /{index}/_update_by_query`: without a script Elasticsearch
/// rewrites each match unchanged (to pick up a mapping change); logweave's
/// mappings are fixed when an index is made, so it counts the matches as
/// updated and changes nothing.
pub async fn update_by_query(
    AxState(st): AxState<State>,
    Path(index): Path<String>,
    Query(p): Query<Params>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    by_query(st, Kind::Update, index, p, &body).await
}

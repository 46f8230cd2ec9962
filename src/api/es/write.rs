//! `_bulk` and the single-document endpoints.

use std::fmt::Write as _;
use std::time::Instant;

use axum::extract::{Path, Query, State as AxState};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::update::{Outcome, UpdateRequest};
use super::{json_response, Params};
use crate::api::error::ApiError;
use crate::api::{Body, State};
use crate::event::{self, Event, WriteOp};
use crate::ingest::index_name;
use crate::input::bulk::{self, BulkAction, ItemError};
use crate::store::validate_index_name;

enum ItemResult {
    Ok {
        index: String,
        id: String,
        created: bool,
        seq: u64,
    },
    Err {
        index: Option<String>,
        id: Option<String>,
        status: u16,
        err: ItemError,
    },
    /// An `update` item whose merge changed nothing.
    Noop { index: String, id: String },
    /// A `delete` item: `found` says whether there was a document.
    Deleted {
        index: String,
        id: String,
        found: bool,
        seq: u64,
    },
}

impl ItemResult {
    /// The result with its place among the request's events.
    fn with_seq(self, at: u64) -> ItemResult {
        match self {
            ItemResult::Ok {
                index, id, created, ..
            } => ItemResult::Ok {
                index,
                id,
                created,
                seq: at,
            },
            other => other,
        }
    }
}

/// Longest accepted document `_id`, in bytes (as in Elasticsearch).
const MAX_ID_BYTES: usize = 512;

/// How a write asks for visibility.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Refresh {
    No,
    Now,
    WaitFor,
}

pub(crate) fn refresh_param(p: &Params) -> Result<Refresh, ApiError> {
    match p.get("refresh").map(String::as_str) {
        None | Some("false") => Ok(Refresh::No),
        Some("") | Some("true") => Ok(Refresh::Now),
        Some("wait_for") => Ok(Refresh::WaitFor),
        Some(other) => Err(ApiError::bad_request(
            "illegal_argument_exception",
            format!("unknown value for refresh: [{other}]"),
        )),
    }
}

/// Cap the bytes of request bodies being processed at once: past it, 429.
pub(crate) fn inflight_permit(
    st: &State,
    len: usize,
) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
    let units = (len / 1024)
        .clamp(1, (st.max_inflight_bytes / 1024).max(1))
        .min(u32::MAX as usize) as u32;
    st.inflight
        .clone()
        .try_acquire_many_owned(units)
        .map_err(|_| {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "es_rejected_execution_exception",
                "rejected execution: too many bulk bytes in flight, retry later",
            )
        })
}

pub(crate) async fn apply_refresh(st: &State, r: Refresh, lsn: u64) -> Result<(), ApiError> {
    match r {
        Refresh::No => Ok(()),
        Refresh::Now => st.ingest.refresh(lsn).await.map_err(ApiError::internal),
        Refresh::WaitFor => st.ingest.wait_for(lsn).await.map_err(ApiError::internal),
    }
}

/// Turn parsed items into events and results (errors stay in place).
fn prepare(
    st: &State,
    default_index: Option<&str>,
    items: Vec<bulk::BulkItem>,
) -> (Vec<Event>, Vec<ItemResult>, Vec<BulkAction>) {
    let now = event::now_ms();
    let mut events = Vec::with_capacity(items.len());
    let mut results = Vec::with_capacity(items.len());
    let mut actions = Vec::with_capacity(items.len());
    // (index, id) → whether it exists after the items so far
    let mut batch_ids: std::collections::HashMap<(String, String), bool> =
        std::collections::HashMap::new();
    // template → UTC day → index name (looked up by `&str`: a key built
    // per item was an allocation per document)
    let mut names: std::collections::HashMap<
        String,
        std::collections::HashMap<i64, Result<String, Named>>,
    > = std::collections::HashMap::new();
    // (index, id) → its source after the items so far, kept only when an
    // `update` item may read it
    let has_updates = items.iter().any(|i| i.action == BulkAction::Update);
    let mut batch_docs: std::collections::HashMap<(String, String), Option<Value>> =
        std::collections::HashMap::new();
    for item in items {
        actions.push(item.action);
        let index_t = item
            .index
            .clone()
            .or_else(|| default_index.map(str::to_string));
        let fail = |status: u16, kind: &'static str, reason: String| ItemResult::Err {
            index: index_t.clone(),
            id: item.id.clone(),
            status,
            err: ItemError { kind, reason },
        };
        let Some(template) = index_t.clone() else {
            results.push(fail(
                400,
                "action_request_validation_exception",
                "Validation Failed: 1: index is missing;".into(),
            ));
            continue;
        };
        if item.action == BulkAction::Update {
            match bulk_update(st, &template, item, now, &mut batch_docs) {
                Ok((result, ev)) => {
                    if let Some(ev) = ev {
                        batch_ids.insert((ev.index.clone(), ev.id.clone()), true);
                        results.push(result.with_seq(events.len() as u64));
                        events.push(ev);
                    } else {
                        results.push(result);
                    }
                }
                Err(e) => results.push(e),
            }
            continue;
        }
        if item.action == BulkAction::Delete {
            let Some(id) = item.id.clone() else {
                results.push(fail(
                    400,
                    "action_request_validation_exception",
                    "Validation Failed: 1: id is missing;".into(),
                ));
                continue;
            };
            let index = match target_index(st, &template, now) {
                Ok(i) => i,
                Err((kind, e)) => {
                    results.push(fail(400, kind, e));
                    continue;
                }
            };
            let key = (index.clone(), id.clone());
            let found = match batch_ids.get(&key) {
                Some(b) => *b,
                None => st.ingest.id_exists(&index, &id),
            };
            results.push(ItemResult::Deleted {
                index: index.clone(),
                id: id.clone(),
                found,
                seq: events.len() as u64,
            });
            if found {
                if has_updates {
                    batch_docs.insert(key.clone(), None);
                }
                batch_ids.insert(key, false);
                events.push(Event {
                    index,
                    id,
                    explicit_id: true,
                    op: WriteOp::Delete,
                    timestamp_ms: now,
                    source: bytes::Bytes::new(),
                    parsed: None,
                    profile: crate::event::FieldProfile::Dynamic,
                    pattern: None,
                });
            }
            continue;
        }
        let (source, record) = match item.doc {
            Ok(d) => d,
            Err(e) => {
                results.push(ItemResult::Err {
                    index: index_t,
                    id: item.id,
                    status: 400,
                    err: e,
                });
                continue;
            }
        };
        let ts = event::record_timestamp(&record, st.default_tz.as_ref(), now).unwrap_or(now);
        // Names repeat within a request: expand and validate each
        // (template, UTC day) once.
        let day = ts.div_euclid(86_400_000);
        let named = match names.get(template.as_str()).and_then(|d| d.get(&day)) {
            Some(n) => n.clone(),
            None => {
                let n = target_index(st, &template, ts);
                if template.contains("%{+") && template.contains("HH") {
                    n
                } else {
                    names
                        .entry(template.clone())
                        .or_default()
                        .insert(day, n.clone());
                    n
                }
            }
        };
        let index = match named {
            Ok(i) => i,
            Err((kind, e)) => {
                results.push(fail(400, kind, e));
                continue;
            }
        };
        // Elasticsearch's limit; the write-ahead log also stores ids with a
        // 16-bit length, so a longer id could not be replayed intact.
        if let Some(long) = item.id.as_ref().filter(|i| i.len() > MAX_ID_BYTES) {
            let preview: String = long.chars().take(32).collect();
            results.push(fail(
                400,
                "illegal_argument_exception",
                format!(
                    "id [{preview}...] is too long, must be no longer than {MAX_ID_BYTES} bytes but was: {}",
                    long.len()
                ),
            ));
            continue;
        }
        let explicit = item.id.is_some();
        let id = item.id.clone().unwrap_or_else(event::new_doc_id);
        let op = if item.action == BulkAction::Create {
            WriteOp::Create
        } else {
            WriteOp::Index
        };
        let mut created = true;
        if explicit {
            let exists = match batch_ids.get(&(index.clone(), id.clone())) {
                Some(b) => *b,
                None => st.ingest.id_exists(&index, &id),
            };
            if exists && op == WriteOp::Create {
                results.push(ItemResult::Err {
                    index: Some(index),
                    id: Some(id.clone()),
                    status: 409,
                    err: ItemError {
                        kind: "version_conflict_engine_exception",
                        reason: format!("[{id}]: version conflict, document already exists (current version [1])"),
                    },
                });
                continue;
            }
            created = !exists;
            batch_ids.insert((index.clone(), id.clone()), true);
            if has_updates {
                batch_docs.insert(
                    (index.clone(), id.clone()),
                    Some(Value::Object(record.clone())),
                );
            }
        }
        results.push(ItemResult::Ok {
            index: index.clone(),
            id: id.clone(),
            created,
            seq: events.len() as u64,
        });
        events.push(Event {
            index,
            id,
            explicit_id: explicit,
            op,
            timestamp_ms: ts,
            source,
            parsed: Some(Box::new(record)),
            profile: crate::event::FieldProfile::Dynamic,
            pattern: None,
        });
    }
    (events, results, actions)
}

/// Why an item's index name is refused: the error type and reason.
type Named = (&'static str, String);

/// The index a write addressed to `template` at time `ts` goes to: the
/// expanded name, or the write index of the alias of that name.
fn target_index(st: &State, template: &str, ts: i64) -> Result<String, Named> {
    let name = index_name::expand_checked(template, ts)
        .map_err(|e| ("invalid_index_name_exception", e.to_string()))?;
    st.ingest
        .store
        .catalog()
        .write_target(&name)
        .map_err(|e| ("illegal_argument_exception", e.to_string()))
}

/// One `update` item of a bulk: the merged document as an index event
/// (with its result), a noop, or the item's error. `batch_docs` holds the
/// sources this request wrote before, which an update must build on.
fn bulk_update(
    st: &State,
    template: &str,
    item: bulk::BulkItem,
    now: i64,
    batch_docs: &mut std::collections::HashMap<(String, String), Option<Value>>,
) -> Result<(ItemResult, Option<Event>), ItemResult> {
    let fail = |index: &str, id: Option<&str>, status: u16, kind: &'static str, reason: String| {
        ItemResult::Err {
            index: Some(index.to_string()),
            id: id.map(str::to_string),
            status,
            err: ItemError { kind, reason },
        }
    };
    let Some(id) = item.id else {
        return Err(fail(
            template,
            None,
            400,
            "action_request_validation_exception",
            "Validation Failed: 1: id is missing;".into(),
        ));
    };
    let index = target_index(st, template, now)
        .map_err(|(kind, e)| fail(template, Some(&id), 400, kind, e))?;
    let (_, body) = item.doc.map_err(|e| ItemResult::Err {
        index: Some(index.clone()),
        id: Some(id.clone()),
        status: 400,
        err: e,
    })?;
    let from_api = |e: ApiError| fail(&index, Some(&id), e.status.as_u16(), e.kind, e.reason);
    let update = UpdateRequest::parse(&body).map_err(from_api)?;
    let key = (index.clone(), id.clone());
    let current = match batch_docs.get(&key) {
        Some(c) => c.clone(),
        None => match st.ingest.store.get(&index, &id) {
            Ok(c) => c,
            Err(crate::store::StoreError::IndexNotFound(_)) => None,
            Err(e) => return Err(from_api(e.into())),
        },
    };
    match update.apply(current.as_ref(), &id).map_err(from_api)? {
        Outcome::Noop => Ok((ItemResult::Noop { index, id }, None)),
        Outcome::Write { source, created } => {
            let bytes = bytes::Bytes::from(
                serde_json::to_vec(&source).map_err(|e| from_api(ApiError::internal(e)))?,
            );
            let ts = event::record_timestamp(&source, st.default_tz.as_ref(), now).unwrap_or(now);
            batch_docs.insert(key, Some(Value::Object(source.clone())));
            let ev = Event {
                index: index.clone(),
                id: id.clone(),
                explicit_id: true,
                op: WriteOp::Index,
                timestamp_ms: ts,
                source: bytes,
                parsed: Some(Box::new(source)),
                profile: crate::event::FieldProfile::Dynamic,
                pattern: None,
            };
            Ok((
                ItemResult::Ok {
                    index,
                    id,
                    created,
                    seq: 0,
                },
                Some(ev),
            ))
        }
    }
}

fn esc(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

async fn do_bulk(
    st: State,
    default_index: Option<String>,
    p: Params,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let refresh = refresh_param(&p)?;
    if let Some(i) = &default_index {
        if !i.contains("%{") {
            validate_index_name(i)?;
        }
    }
    let _permit = inflight_permit(&st, body.len())?;
    let items = tokio::task::spawn_blocking(move || bulk::parse_bytes(&body))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::bad_request(e.kind, e.reason))?;
    // a delete must see every earlier write: make them searchable first
    // (and a write after a delete that is not searchable yet must not see
    // the deleted document as still there)
    // (an update reads the stored document: the same)
    if (items
        .iter()
        .any(|i| matches!(i.action, BulkAction::Delete | BulkAction::Update))
        && st.ingest.has_unrefreshed())
        || st.ingest.has_unrefreshed_delete()
    {
        st.ingest.refresh_all().await.map_err(ApiError::internal)?;
    }
    let st2 = st.clone();
    let (events, results, actions) =
        tokio::task::spawn_blocking(move || prepare(&st2, default_index.as_deref(), items))
            .await
            .map_err(ApiError::internal)?;
    let explicit: Vec<(String, String)> = events
        .iter()
        .filter(|e| e.explicit_id && e.op != WriteOp::Delete)
        .map(|e| (e.index.clone(), e.id.clone()))
        .collect();
    let n_events = events.len() as u64;
    let last = st.ingest.write(events).await.map_err(|e| {
        tracing::error!(error = %e, "bulk: write failed; nothing of this request was acknowledged");
        ApiError::write_failed(e)
    })?;
    st.ingest.note_ids(explicit, last);
    apply_refresh(&st, refresh, last).await?;
    let first_lsn = (last + 1).saturating_sub(n_events);
    let mut out = String::with_capacity(64 + results.len() * 160);
    let errors = results.iter().any(|r| matches!(r, ItemResult::Err { .. }));
    let _ = write!(
        out,
        "{{\"took\":{},\"errors\":{},\"items\":[",
        started.elapsed().as_millis(),
        errors
    );
    for (i, (r, a)) in results.iter().zip(&actions).enumerate() {
        if i > 0 {
            out.push(',');
        }
        match r {
            ItemResult::Ok {
                index,
                id,
                created,
                seq,
            } => {
                let _ = write!(
                    out,
                    "{{\"{}\":{{\"_index\":{},\"_id\":{},\"_version\":{},\"result\":\"{}\",\"_shards\":{{\"total\":1,\"successful\":1,\"failed\":0}},\"_seq_no\":{},\"_primary_term\":1,\"status\":{}}}}}",
                    a.as_str(),
                    esc(index),
                    esc(id),
                    if *created { 1 } else { 2 },
                    if *created { "created" } else { "updated" },
                    first_lsn + seq,
                    if *created { 201 } else { 200 }
                );
            }
            ItemResult::Noop { index, id } => {
                let _ = write!(
                    out,
                    "{{\"update\":{{\"_index\":{},\"_id\":{},\"_version\":1,\"result\":\"noop\",\"_shards\":{{\"total\":0,\"successful\":0,\"failed\":0}},\"_seq_no\":0,\"_primary_term\":1,\"status\":200}}}}",
                    esc(index),
                    esc(id),
                );
            }
            ItemResult::Deleted {
                index,
                id,
                found,
                seq,
            } => {
                let _ = write!(
                    out,
                    "{{\"delete\":{{\"_index\":{},\"_id\":{},\"_version\":{},\"result\":\"{}\",\"_shards\":{{\"total\":1,\"successful\":1,\"failed\":0}},\"_seq_no\":{},\"_primary_term\":1,\"status\":{}}}}}",
                    esc(index),
                    esc(id),
                    if *found { 2 } else { 1 },
                    if *found { "deleted" } else { "not_found" },
                    first_lsn + seq,
                    if *found { 200 } else { 404 }
                );
            }
            ItemResult::Err {
                index,
                id,
                status,
                err,
            } => {
                let item = json!({
                    a.as_str(): {
                        "_index": index,
                        "_id": id,
                        "status": status,
                        "error": {"type": err.kind, "reason": err.reason},
                    }
                });
                out.push_str(&item.to_string());
            }
        }
    }
    out.push_str("]}");
    Ok(json_response(StatusCode::OK, out))
}

/// `POST|PUT /_bulk`
pub async fn bulk(
    AxState(st): AxState<State>,
    Query(p): Query<Params>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    do_bulk(st, None, p, body).await
}

/// `POST|PUT /{index}/_bulk`
pub async fn bulk_index(
    AxState(st): AxState<State>,
    Path(index): Path<String>,
    Query(p): Query<Params>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    do_bulk(st, Some(index), p, body).await
}

pub(crate) async fn index_one(
    st: State,
    index: String,
    id: Option<String>,
    create: bool,
    p: Params,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let refresh = refresh_param(&p)?;
    let record = bulk::parse_doc(&body)
        .map_err(|e| ApiError::bad_request("mapper_parsing_exception", e.reason))?;
    let op_create = create || p.get("op_type").is_some_and(|o| o == "create");
    let item = bulk::BulkItem {
        action: if op_create {
            BulkAction::Create
        } else {
            BulkAction::Index
        },
        index: Some(index),
        id,
        doc: Ok((body, record)),
    };
    if st.ingest.has_unrefreshed_delete() {
        st.ingest.refresh_all().await.map_err(ApiError::internal)?;
    }
    let st2 = st.clone();
    let (events, mut results, _) = prepare(&st2, None, vec![item]);
    let explicit: Vec<(String, String)> = events
        .iter()
        .filter(|e| e.explicit_id)
        .map(|e| (e.index.clone(), e.id.clone()))
        .collect();
    let result = results
        .pop()
        .ok_or_else(|| ApiError::internal("no result for single document"))?;
    match result {
        ItemResult::Deleted { .. } | ItemResult::Noop { .. } => Err(ApiError::internal(
            "a single-document write answered as a delete or update",
        )),
        ItemResult::Err { status, err, .. } => Err(ApiError::new(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            err.kind,
            err.reason,
        )),
        ItemResult::Ok {
            index, id, created, ..
        } => {
            let lsn = st
                .ingest
                .write(events)
                .await
                .map_err(ApiError::write_failed)?;
            st.ingest.note_ids(explicit, lsn);
            apply_refresh(&st, refresh, lsn).await?;
            let body = json!({
                "_index": index, "_id": id, "_version": if created { 1 } else { 2 },
                "result": if created { "created" } else { "updated" },
                "_shards": {"total": 1, "successful": 1, "failed": 0},
                "_seq_no": lsn, "_primary_term": 1,
            });
            Ok(json_response(
                if created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                },
                body.to_string(),
            ))
        }
    }
}

/// `POST /{index}/_doc`
pub async fn index_auto_id(
    AxState(st): AxState<State>,
    Path(index): Path<String>,
    Query(p): Query<Params>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    index_one(st, index, None, false, p, body).await
}

/// `PUT|POST /{index}/_doc/{id}`
pub async fn index_with_id(
    AxState(st): AxState<State>,
    Path((index, id)): Path<(String, String)>,
    Query(p): Query<Params>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    index_one(st, index, Some(id), false, p, body).await
}

/// `PUT|POST /{index}/_create/{id}`
pub async fn create_with_id(
    AxState(st): AxState<State>,
    Path((index, id)): Path<(String, String)>,
    Query(p): Query<Params>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    index_one(st, index, Some(id), true, p, body).await
}

pub(crate) async fn lookup(st: &State, index: &str, id: &str) -> Result<Option<Value>, ApiError> {
    if st.ingest.has_unrefreshed_delete() || st.ingest.id_pending(index, id) {
        st.ingest.refresh_all().await.map_err(ApiError::internal)?;
    }
    let store = st.ingest.store.clone();
    let (i, d) = (index.to_string(), id.to_string());
    let found = tokio::task::spawn_blocking(move || store.get(&i, &d))
        .await
        .map_err(ApiError::internal)?;
    // an index the pending writes create is not there yet either
    if matches!(found, Ok(Some(_))) || !st.ingest.has_unrefreshed() {
        return Ok(found?);
    }
    // Real-time get: make pending writes visible, then look again.
    st.ingest.refresh_all().await.map_err(ApiError::internal)?;
    let store = st.ingest.store.clone();
    let (i, d) = (index.to_string(), id.to_string());
    Ok(tokio::task::spawn_blocking(move || store.get(&i, &d))
        .await
        .map_err(ApiError::internal)??)
}

/// The one index a single-document request names: itself, or the only
/// index of an alias (its write index when it has several), as
/// Elasticsearch resolves `GET /{alias}/_doc/{id}`.
pub(crate) fn single_index(st: &State, name: &str) -> Result<String, ApiError> {
    let catalog = st.ingest.store.catalog();
    match catalog.alias_indices(name) {
        None => Ok(name.to_string()),
        Some(members) if members.len() == 1 => Ok(members.into_iter().next().unwrap_or_default()),
        Some(members) => catalog.write_target(name).map_err(|_| {
            ApiError::bad_request(
                "illegal_argument_exception",
                format!("alias [{name}] has more than one index associated with it {members:?}, can't execute a single index op"),
            )
        }),
    }
}

/// `GET /{index}/_doc/{id}`
pub async fn get_doc(
    AxState(st): AxState<State>,
    Path((index, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let index = single_index(&st, &index)?;
    match lookup(&st, &index, &id).await? {
        Some(src) => Ok(json_response(
            StatusCode::OK,
            json!({"_index": index, "_id": id, "_version": 1, "_seq_no": 0, "_primary_term": 1, "found": true, "_source": src}).to_string(),
        )),
        None => Ok(json_response(
            StatusCode::NOT_FOUND,
            json!({"_index": index, "_id": id, "found": false}).to_string(),
        )),
    }
}

/// `GET|POST /_mget` and `/{index}/_mget`: `docs` (each with `_index`
/// unless the path gives it, `_id`) or `ids`; one entry per requested
/// document, found or not, real-time like `GET /{index}/_doc/{id}`.
pub async fn mget(
    st: AxState<State>,
    Query(p): Query<Params>,
    body: Body,
) -> Result<Response, ApiError> {
    do_mget(st.0, None, p, body.0).await
}

/// `GET|POST /{index}/_mget`
pub async fn mget_index(
    st: AxState<State>,
    Path(index): Path<String>,
    Query(p): Query<Params>,
    body: Body,
) -> Result<Response, ApiError> {
    do_mget(st.0, Some(index), p, body.0).await
}

async fn do_mget(
    st: State,
    index: Option<String>,
    _p: Params,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let v: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "parse_exception",
            format!("the _mget body is not JSON: {e}"),
        )
    })?;
    let mut wanted: Vec<(Option<String>, String)> = Vec::new();
    let id_of = |x: &Value| match x {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    if let Some(docs) = v.get("docs").and_then(Value::as_array) {
        for d in docs {
            let id = d.get("_id").and_then(id_of).ok_or_else(|| {
                ApiError::bad_request(
                    "action_request_validation_exception",
                    "Validation Failed: 1: id is missing for doc 0;",
                )
            })?;
            let idx = d
                .get("_index")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| index.clone());
            wanted.push((idx, id));
        }
    } else if let Some(ids) = v.get("ids").and_then(Value::as_array) {
        for x in ids {
            let id = id_of(x)
                .ok_or_else(|| ApiError::bad_request("parse_exception", "[ids] must be strings"))?;
            wanted.push((index.clone(), id));
        }
    } else {
        return Err(ApiError::bad_request(
            "action_request_validation_exception",
            "Validation Failed: 1: no documents to get;",
        ));
    }
    let mut docs = Vec::with_capacity(wanted.len());
    for (idx, id) in wanted {
        let Some(idx) = idx else {
            docs.push(json!({"_index": null, "_id": id, "error": {"type": "action_request_validation_exception", "reason": "index is missing"}}));
            continue;
        };
        match lookup(&st, &idx, &id).await {
            Ok(Some(src)) => docs.push(json!({"_index": idx, "_id": id, "_version": 1, "_seq_no": 0, "_primary_term": 1, "found": true, "_source": src})),
            Ok(None) => docs.push(json!({"_index": idx, "_id": id, "found": false})),
            Err(e) => docs.push(json!({"_index": idx, "_id": id, "error": {"type": e.kind, "reason": e.reason}})),
        }
    }
    Ok(json_response(
        StatusCode::OK,
        json!({"docs": docs}).to_string(),
    ))
}

/// `HEAD /{index}/_doc/{id}`
pub async fn head_doc(
    AxState(st): AxState<State>,
    Path((index, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let index = single_index(&st, &index)?;
    Ok(match lookup(&st, &index, &id).await? {
        Some(_) => StatusCode::OK,
        None => StatusCode::NOT_FOUND,
    })
}

/// `DELETE /{index}/_doc/{id}`: durable like every write (a delete
/// record in the write-ahead log, answered after its fsync); 404 with
/// `result: not_found` when there is no such document.
pub async fn delete_doc(
    AxState(st): AxState<State>,
    Path((index, id)): Path<(String, String)>,
    Query(p): Query<Params>,
) -> Result<Response, ApiError> {
    let index = single_index(&st, &index)?;
    let refresh = refresh_param(&p)?;
    validate_index_name(&index)?;
    if !st.ingest.store.list().iter().any(|i| i.name == index) && !st.ingest.has_unrefreshed() {
        return Err(ApiError::not_found_index(&index));
    }
    let found = lookup(&st, &index, &id).await?.is_some();
    if !found {
        return Ok(json_response(
            StatusCode::NOT_FOUND,
            json!({"_index": index, "_id": id, "_version": 1, "result": "not_found",
                   "_shards": {"total": 1, "successful": 1, "failed": 0}, "_seq_no": 0, "_primary_term": 1})
            .to_string(),
        ));
    }
    let ev = Event {
        index: index.clone(),
        id: id.clone(),
        explicit_id: true,
        op: WriteOp::Delete,
        timestamp_ms: event::now_ms(),
        source: bytes::Bytes::new(),
        parsed: None,
        profile: crate::event::FieldProfile::Dynamic,
        pattern: None,
    };
    let lsn = st
        .ingest
        .write(vec![ev])
        .await
        .map_err(ApiError::write_failed)?;
    apply_refresh(&st, refresh, lsn).await?;
    Ok(json_response(
        StatusCode::OK,
        json!({"_index": index, "_id": id, "_version": 2, "result": "deleted",
               "_shards": {"total": 1, "successful": 1, "failed": 0}, "_seq_no": lsn, "_primary_term": 1})
        .to_string(),
    ))
}

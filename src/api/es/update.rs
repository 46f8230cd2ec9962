//! Partial updates: `POST /{index}/_update/{id}` and the `update` action of
//! `_bulk` (what Fluent Bit's `upsert` write operation sends). Both read the
//! stored document, merge the partial `doc` into it and write the result as
//! an ordinary index operation, so an update is as durable as any write.
//! Scripts are refused by name: there is no script engine.

use axum::extract::{Path, Query, State as AxState};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::write::{index_one, lookup, single_index};
use super::{json_response, Params};
use crate::api::error::ApiError;
use crate::api::{Body, State};

/// One update request's body, checked.
pub(crate) struct UpdateRequest {
    doc: Option<Map<String, Value>>,
    upsert: Option<Map<String, Value>>,
    doc_as_upsert: bool,
    detect_noop: bool,
}

/// What an update does to the stored document.
pub(crate) enum Outcome {
    /// The merge changes nothing: no write.
    Noop,
    /// Write this source; `created` when there was no document.
    Write {
        source: Map<String, Value>,
        created: bool,
    },
}

impl UpdateRequest {
    /// Checks an update body (`doc`, `doc_as_upsert`, `upsert`, `detect_noop`).
    pub(crate) fn parse(req: &Map<String, Value>) -> Result<UpdateRequest, ApiError> {
        if let Some(k) = req.keys().find(|k| {
            !matches!(
                k.as_str(),
                "doc" | "doc_as_upsert" | "upsert" | "detect_noop" | "_source"
            )
        }) {
            return Err(ApiError::bad_request(
                "illegal_argument_exception",
                if k == "script" {
                    "[script] updates are not supported; send a partial document as [doc]"
                        .to_string()
                } else {
                    format!("[{k}] is not a key of an update request (doc, doc_as_upsert, upsert, detect_noop)")
                },
            ));
        }
        let object = |key: &str| match req.get(key) {
            Some(Value::Object(d)) => Ok(Some(d.clone())),
            None => Ok(None),
            Some(_) => Err(ApiError::bad_request(
                "parse_exception",
                format!("[{key}] must be an object"),
            )),
        };
        let doc = object("doc")?;
        let upsert = object("upsert")?;
        if doc.is_none() && upsert.is_none() {
            return Err(missing_doc());
        }
        let flag = |key: &str, default: bool| match req.get(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(ApiError::bad_request(
                "parse_exception",
                format!("[{key}] must be true or false, not {other}"),
            )),
        };
        Ok(UpdateRequest {
            doc,
            upsert,
            doc_as_upsert: flag("doc_as_upsert", false)?,
            detect_noop: flag("detect_noop", true)?,
        })
    }

    /// The result of applying this update to `current` (the stored source,
    /// `None` when there is no such document).
    pub(crate) fn apply(&self, current: Option<&Value>, id: &str) -> Result<Outcome, ApiError> {
        match (current, &self.doc) {
            (Some(Value::Object(cur)), Some(d)) => {
                let mut m = cur.clone();
                merge(&mut m, d);
                if self.detect_noop && &m == cur {
                    return Ok(Outcome::Noop);
                }
                Ok(Outcome::Write {
                    source: m,
                    created: false,
                })
            }
            (Some(Value::Object(_)), None) => Err(missing_doc()),
            (Some(_), _) => Err(ApiError::bad_request(
                "mapper_parsing_exception",
                format!("the stored document [{id}] is not an object"),
            )),
            (None, d) => {
                let source = match (&self.upsert, d) {
                    (Some(u), _) => u.clone(),
                    (None, Some(d)) if self.doc_as_upsert => d.clone(),
                    _ => {
                        return Err(ApiError::new(
                            StatusCode::NOT_FOUND,
                            "document_missing_exception",
                            format!("[{id}]: document missing"),
                        ))
                    }
                };
                Ok(Outcome::Write {
                    source,
                    created: true,
                })
            }
        }
    }
}

fn missing_doc() -> ApiError {
    ApiError::bad_request(
        "action_request_validation_exception",
        "Validation Failed: 1: script or doc is missing;",
    )
}

/// Merges `patch` into `target` as Elasticsearch's partial update does:
/// objects key by key at every depth, anything else replaced.
fn merge(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (k, v) in patch {
        match (target.get_mut(k), v) {
            (Some(Value::Object(t)), Value::Object(p)) => merge(t, p),
            _ => {
                target.insert(k.clone(), v.clone());
            }
        }
    }
}

/// `POST /{index}/_update/{id}`: a partial document merged into the stored
/// one (`doc`), created when missing with `doc_as_upsert` or `upsert`;
/// `noop` when nothing changes.
pub async fn update_doc(
    AxState(st): AxState<State>,
    Path((index, id)): Path<(String, String)>,
    Query(p): Query<Params>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let index = single_index(&st, &index)?;
    let v: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "x_content_parse_exception",
            format!("the _update body is not JSON: {e}"),
        )
    })?;
    let Value::Object(req) = v else {
        return Err(ApiError::bad_request(
            "parse_exception",
            "the _update body must be an object",
        ));
    };
    let update = UpdateRequest::parse(&req)?;
    let current = match lookup(&st, &index, &id).await {
        Ok(c) => c,
        // an upsert may create the index
        Err(e) if e.kind == "index_not_found_exception" => None,
        Err(e) => return Err(e),
    };
    match update.apply(current.as_ref(), &id)? {
        Outcome::Noop => Ok(json_response(
            StatusCode::OK,
            json!({"_index": index, "_id": id, "_version": 1, "result": "noop",
                   "_shards": {"total": 0, "successful": 0, "failed": 0}, "_seq_no": 0, "_primary_term": 1})
            .to_string(),
        )),
        Outcome::Write { source, .. } => {
            let bytes =
                bytes::Bytes::from(serde_json::to_vec(&source).map_err(ApiError::internal)?);
            index_one(st, index, Some(id), false, p, bytes).await
        }
    }
}

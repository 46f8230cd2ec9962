//! `POST /api/v1/ingest/{index}`: logweave's own write endpoint beside
//! `_bulk`, for senders that have records or lines but no bulk action
//! lines: NDJSON (one object per line), a JSON array of objects, or plain
//! text (one event per line, as `message`). The same durability as `_bulk`
//! (answered after the write-ahead log fsync; `?refresh=true|wait_for`) and
//! the same error shape.

use std::time::Instant;

use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::es::write::{apply_refresh, inflight_permit, refresh_param};
use super::es::{json_response, Params};
use super::{Body, State};
use crate::api::error::ApiError;
use crate::event::{self, Event, WriteOp};
use crate::ingest::index_name;

/// How the body is read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Format {
    Ndjson,
    JsonArray,
    Text,
}

/// The format from the content type, else from the first byte.
pub fn detect(content_type: Option<&str>, body: &[u8]) -> Format {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    if ct.starts_with("text/") {
        return Format::Text;
    }
    match first {
        Some(b'[') => Format::JsonArray,
        Some(b'{') => Format::Ndjson,
        _ if ct.contains("json") => Format::Ndjson,
        _ => Format::Text,
    }
}

/// One record or why line `line` (1-based; element for arrays) failed.
pub type Item = Result<(Bytes, Map<String, Value>), (usize, String)>;

/// Split a body into records.
pub fn records(format: Format, body: &Bytes) -> Result<Vec<Item>, String> {
    match format {
        Format::JsonArray => {
            let v: Vec<Value> = serde_json::from_slice(body)
                .map_err(|e| format!("body is not a JSON array: {e}"))?;
            Ok(v.into_iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::Object(m) => {
                        let src = serde_json::to_vec(&m).unwrap_or_default();
                        Ok((Bytes::from(src), m))
                    }
                    other => Err((
                        i + 1,
                        format!("element {} is not an object: {}", i + 1, kind(&other)),
                    )),
                })
                .collect())
        }
        Format::Ndjson => Ok(lines(body)
            .map(|(n, line)| {
                crate::input::bulk::parse_doc(line)
                    .map(|m| (body.slice_ref(line), m))
                    .map_err(|e| (n, format!("line {n}: {}", e.reason)))
            })
            .collect()),
        Format::Text => Ok(lines(body)
            .map(|(_, line)| {
                let text = String::from_utf8_lossy(line).into_owned();
                let mut m = Map::new();
                m.insert("message".into(), Value::String(text));
                let src = serde_json::to_vec(&m).unwrap_or_default();
                Ok((Bytes::from(src), m))
            })
            .collect()),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Non-blank lines with their 1-based numbers, `\r` removed.
fn lines(body: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    body.split(|b| *b == b'\n')
        .enumerate()
        .filter_map(|(i, l)| {
            let l = l.strip_suffix(b"\r").unwrap_or(l);
            (!l.iter().all(|b| b.is_ascii_whitespace())).then_some((i + 1, l))
        })
}

/// `POST /api/v1/ingest/{index}`
pub async fn ingest(
    AxState(st): AxState<State>,
    Path(template): Path<String>,
    Query(p): Query<Params>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let refresh = refresh_param(&p)?;
    index_name::expand_checked(&template, 0)?;
    let _permit = inflight_permit(&st, body.len())?;
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let format = detect(ct.as_deref(), &body);
    let items = tokio::task::spawn_blocking(move || records(format, &body))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::bad_request("parse_exception", e))?;
    let now = event::now_ms();
    let mut events = Vec::with_capacity(items.len());
    let mut failed = Vec::new();
    let mut failures = 0usize;
    for item in items {
        match item {
            Ok((source, record)) => {
                let ts =
                    event::record_timestamp(&record, st.default_tz.as_ref(), now).unwrap_or(now);
                events.push(Event {
                    index: index_name::expand(&template, ts),
                    id: event::new_doc_id(),
                    explicit_id: false,
                    op: WriteOp::Index,
                    timestamp_ms: ts,
                    source,
                    parsed: Some(Box::new(record)),
                    profile: crate::event::FieldProfile::Dynamic,
                    pattern: None,
                });
            }
            Err((n, reason)) => {
                failures += 1;
                if failed.len() < 100 {
                    failed.push(json!({"line": n, "reason": reason}));
                }
            }
        }
    }
    let accepted = events.len();
    let lsn = st
        .ingest
        .write(events)
        .await
        .map_err(ApiError::write_failed)?;
    apply_refresh(&st, refresh, lsn).await?;
    Ok(json_response(
        StatusCode::OK,
        json!({
            "took": started.elapsed().as_millis() as u64,
            "errors": failures > 0,
            "accepted": accepted,
            "failed": failures,
            "failures": failed,
        })
        .to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(detect(Some("application/x-ndjson"), b"{}"), Format::Ndjson);
        assert_eq!(
            detect(Some("application/json"), b" [ {} ]"),
            Format::JsonArray
        );
        assert_eq!(detect(Some("text/plain"), b"{\"a\":1}"), Format::Text);
        assert_eq!(detect(None, b"plain line"), Format::Text);
        let body = Bytes::from_static(b"{\"a\":1}\n\nnot json\r\n{\"b\":2}\n");
        let r = records(Format::Ndjson, &body).unwrap();
        assert_eq!(r.len(), 3);
        assert!(r[0].is_ok() && r[2].is_ok());
        assert_eq!(r[1].as_ref().unwrap_err().0, 3);
        let r = records(Format::Text, &Bytes::from_static(b"one\r\n\n two \n")).unwrap();
        let msgs: Vec<_> = r
            .iter()
            .map(|x| x.as_ref().unwrap().1["message"].clone())
            .collect();
        assert_eq!(msgs, vec![json!("one"), json!(" two ")]);
        let r = records(Format::JsonArray, &Bytes::from_static(b"[{\"a\":1}, 5]")).unwrap();
        assert!(r[1].as_ref().unwrap_err().1.contains("not an object"));
        assert!(records(Format::JsonArray, &Bytes::from_static(b"[{")).is_err());
    }
}

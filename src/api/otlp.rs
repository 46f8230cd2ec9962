//! `POST /v1/logs`: OTLP/HTTP logs (protobuf or JSON, gzip through the
//! router's decompression), on the same port as the Elasticsearch API, as
//! an OpenTelemetry SDK or Collector's `otlphttp` exporter sends them.
//! Records are routed by the tag `otlp.<service.name>` like forward input
//! (`[[routes]]`), and the answer (OTLP's empty `ExportLogsServiceResponse`,
//! or its `partial_success` when a route's transforms dropped records)
//! comes only once the write-ahead log holds them.

use axum::extract::{Query, State as AxState};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceResponse,
};
use prost::Message;
use serde_json::{json, Value};

use super::es::write::{apply_refresh, inflight_permit, refresh_param};
use super::es::Params;
use super::{Body, State};
use crate::event::{self, Event, WriteOp};
use crate::ingest::index_name;
use crate::input::otlp::{decode, records, Encoding};

/// OTLP's answer for a request it refuses: a `google.rpc.Status`-shaped
/// JSON body (`code` 3 is INVALID_ARGUMENT, 14 UNAVAILABLE).
fn status(http: StatusCode, code: i32, message: String) -> Response {
    let mut r = (http, json!({"code": code, "message": message}).to_string()).into_response();
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// `POST /v1/logs`
pub async fn logs(
    AxState(st): AxState<State>,
    Query(p): Query<Params>,
    headers: HeaderMap,
    Body(body): Body,
) -> Response {
    let ct = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let Some(enc) = Encoding::of(ct) else {
        return status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            3,
            format!(
                "Content-Type '{}' is not OTLP: send application/x-protobuf or application/json",
                ct.unwrap_or("")
            ),
        );
    };
    let refresh = match refresh_param(&p) {
        Ok(r) => r,
        Err(e) => return status(StatusCode::BAD_REQUEST, 3, e.reason),
    };
    let _permit = match inflight_permit(&st, body.len()) {
        Ok(p) => p,
        Err(e) => return status(StatusCode::TOO_MANY_REQUESTS, 14, e.reason),
    };
    let decoded =
        tokio::task::spawn_blocking(move || decode(&body, enc).map(|r| records(&r))).await;
    let recs = match decoded {
        Ok(Ok(r)) => r,
        Ok(Err(msg)) => return status(StatusCode::BAD_REQUEST, 3, msg),
        Err(e) => return status(StatusCode::INTERNAL_SERVER_ERROR, 13, e.to_string()),
    };
    let now = event::now_ms();
    let total = recs.len();
    let mut events = Vec::with_capacity(total);
    for mut r in recs {
        let route = st.router.route(&r.tag);
        let outcome = route.process(&mut r.record);
        if outcome.drop {
            continue;
        }
        let ts = r.time_ms.unwrap_or(now);
        let template = outcome.index.as_deref().unwrap_or(&route.index);
        let source = Bytes::from(serde_json::to_vec(&r.record).unwrap_or_default());
        events.push(Event {
            index: index_name::expand(template, ts),
            id: event::new_doc_id(),
            explicit_id: false,
            op: WriteOp::Index,
            timestamp_ms: ts,
            source,
            parsed: Some(Box::new(r.record)),
            profile: crate::event::FieldProfile::Dynamic,
            pattern: None,
        });
    }
    let dropped = total - events.len();
    let lsn = match st.ingest.write(events).await {
        Ok(l) => l,
        Err(e) => {
            return status(
                StatusCode::SERVICE_UNAVAILABLE,
                14,
                format!("write failed, retry: {e}"),
            )
        }
    };
    if let Err(e) = apply_refresh(&st, refresh, lsn).await {
        return status(StatusCode::SERVICE_UNAVAILABLE, 14, e.reason);
    }
    let partial = (dropped > 0).then(|| ExportLogsPartialSuccess {
        rejected_log_records: dropped as i64,
        error_message: format!("{dropped} records were dropped by the route's transforms"),
    });
    match enc {
        Encoding::Protobuf => {
            let resp = ExportLogsServiceResponse {
                partial_success: partial,
            };
            let mut r = (StatusCode::OK, resp.encode_to_vec()).into_response();
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-protobuf"),
            );
            r
        }
        Encoding::Json => {
            let body = match partial {
                Some(p) => {
                    json!({"partialSuccess": {"rejectedLogRecords": p.rejected_log_records.to_string(), "errorMessage": p.error_message}})
                }
                None => Value::Object(Default::default()),
            };
            let mut r = (StatusCode::OK, body.to_string()).into_response();
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r
        }
    }
}

//! logweave's analysis endpoints under `/api/v1/`: series, forecasts,
//! patterns, anomalies (stored, and detected on demand over a past range),
//! and a live stream of new anomalies and patterns (server-sent events).

pub mod forecast;
pub mod params;

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Query as UrlQuery, State as AxState};
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::error::ApiError;
use super::es::{json_response, Params};
use super::{blocking, Body, State};
use crate::analysis::findings::{self, Filter, Kind};
use crate::analysis::live::{Analysis, LiveEvent, StoreSource};
use crate::analysis::{pattern_stats, series};
use params::{bad, selection, Args, SELECTION};

/// The analysis, or a 400 saying how to turn it on.
fn analysis(st: &State) -> Result<(Arc<Analysis>, Arc<StoreSource>), ApiError> {
    match (&st.analysis, &st.source) {
        (Some(a), Some(s)) => Ok((a.clone(), s.clone())),
        _ => Err(ApiError::bad_request(
            "illegal_argument_exception",
            "analysis is off on this server: set [analysis] enabled = true",
        )),
    }
}

fn source(st: &State) -> Arc<StoreSource> {
    st.source.clone().unwrap_or_else(|| {
        Arc::new(StoreSource {
            store: st.ingest.store.clone(),
            patterns: None,
        })
    })
}

/// A failure of the store or of a request the plan refused.
fn from_anyhow(e: anyhow::Error) -> ApiError {
    if let Some(se) = e.downcast_ref::<series::SeriesError>() {
        return bad(se.param, &se.message);
    }
    match e.downcast::<crate::store::StoreError>() {
        Ok(se) => ApiError::from(se),
        Err(e) => ApiError::internal(format!("{e:#}")),
    }
}

/// A number as JSON: whole numbers (counts) without a fraction.
pub fn num(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 9e15 {
        json!(v as i64)
    } else {
        json!(v)
    }
}

fn ok(v: Value) -> Response {
    json_response(StatusCode::OK, v.to_string())
}

/// `GET|POST /api/v1/series`
pub async fn series(
    AxState(st): AxState<State>,
    UrlQuery(p): UrlQuery<Params>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let a = Args::read(&p, &body, &SELECTION)?;
    let req = selection(&a, crate::event::now_ms())?;
    let src = source(&st);
    let res = blocking(move || series::run(src.as_ref(), &req).map_err(from_anyhow)).await?;
    Ok(ok(json!({
        "interval_ms": res.interval_ms,
        "series": res.series.iter().map(|s| json!({
            "key": s.key,
            "points": s.points.iter().map(|(t, v)| json!([t, v.map(num)])).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })))
}

/// `GET|POST /api/v1/patterns`
pub async fn patterns(
    AxState(st): AxState<State>,
    UrlQuery(p): UrlQuery<Params>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let a = Args::read(&p, &body, &["index", "query", "from", "to", "size"])?;
    let now = crate::event::now_ms();
    let index = a.str("index")?.unwrap_or_else(|| "*".into());
    let query = params::lucene_query("query", &a.str("query")?.unwrap_or_default())?;
    let from = a.time("from", "now-1h", now)?;
    let to = a.time("to", "now", now)?;
    if to <= from {
        return Err(bad(
            "to",
            format!("the range is empty: {to} is not after from ({from})"),
        ));
    }
    let size = a.int("size", 20, 1, pattern_stats::MAX_PATTERNS as i64)? as usize;
    let src = source(&st);
    let list = blocking(move || {
        pattern_stats::top_patterns(src.as_ref(), src.as_ref(), &index, query, from, to, size)
            .map_err(from_anyhow)
    })
    .await?;
    Ok(ok(json!({ "patterns": list })))
}

/// `GET /api/v1/anomalies`
pub async fn anomalies(
    AxState(st): AxState<State>,
    UrlQuery(p): UrlQuery<Params>,
) -> Result<Response, ApiError> {
    let (an, _) = analysis(&st)?;
    let a = Args::read(
        &p,
        &[],
        &["from", "to", "service", "kind", "min_severity", "size"],
    )?;
    let now = crate::event::now_ms();
    let f = filter(&a, now)?;
    let size = a.int("size", 1000, 1, 100_000)? as usize;
    let mut list = an.findings().list(&f);
    list.reverse(); // newest first
    list.truncate(size);
    Ok(ok(json!({ "anomalies": list })))
}

fn filter(a: &Args, now: i64) -> Result<Filter, ApiError> {
    let kind = match a.str("kind")? {
        None => None,
        Some(k) => Some(Kind::parse(&k).ok_or_else(|| {
            bad(
                "kind",
                format!("'{k}' is not one of spike, drop, silence, level_shift, error_ratio, pattern_surge, new_pattern"),
            )
        })?),
    };
    let min_severity = match a.str("min_severity")? {
        None => None,
        Some(s) => Some(findings::parse_severity(&s).ok_or_else(|| {
            bad(
                "min_severity",
                format!("'{s}' is not one of low, medium, high"),
            )
        })?),
    };
    let from = a
        .str("from")?
        .map(|_| a.time("from", "", now))
        .transpose()?;
    let to = a.str("to")?.map(|_| a.time("to", "", now)).transpose()?;
    Ok(Filter {
        from,
        to,
        service: a.str("service")?,
        kind,
        min_severity,
    })
}

/// Longest range one `_detect` may cover, in intervals.
const MAX_DETECT_INTERVALS: i64 = 50_000;

/// `POST /api/v1/anomalies/_detect`: runs the watches (all, or those named
/// in `watch`) over `[from, to)` now and stores what they find.
pub async fn detect(
    AxState(st): AxState<State>,
    UrlQuery(p): UrlQuery<Params>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let (an, src) = analysis(&st)?;
    let a = Args::read(&p, &body, &["from", "to", "watch"])?;
    let now = crate::event::now_ms();
    let iv = an.cfg.interval_ms;
    let from = a.time("from", "now-1h", now)?;
    let to = a.time("to", "now", now)?;
    // whole intervals, the way the live watch sees them
    let from = from - from.rem_euclid(iv);
    let to = (to - to.rem_euclid(iv)).min(now - now.rem_euclid(iv));
    if to <= from {
        return Err(bad(
            "to",
            "the range holds no closed interval: make it longer or earlier",
        ));
    }
    if (to - from) / iv > MAX_DETECT_INTERVALS {
        return Err(bad(
            "from",
            format!("the range is more than {MAX_DETECT_INTERVALS} intervals of {iv} ms: detect in parts"),
        ));
    }
    let names: Option<Vec<String>> = match a.map_get("watch") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.split(',').map(|s| s.trim().to_string()).collect()),
        Some(Value::Array(v)) => Some(
            v.iter()
                .map(|x| {
                    x.as_str()
                        .map(String::from)
                        .ok_or_else(|| bad("watch", "must be names"))
                })
                .collect::<Result<_, _>>()?,
        ),
        Some(_) => {
            return Err(bad(
                "watch",
                "must be a name, a comma list or an array of names",
            ))
        }
    };
    let watches: Vec<_> = match &names {
        None => an.watches.clone(),
        Some(n) => {
            if let Some(missing) = n.iter().find(|w| !an.watches.iter().any(|x| &x.name == *w)) {
                let known: Vec<&str> = an.watches.iter().map(|w| w.name.as_str()).collect();
                return Err(bad(
                    "watch",
                    format!("no watch '{missing}'; known: {}", known.join(", ")),
                ));
            }
            an.watches
                .iter()
                .filter(|w| n.contains(&w.name))
                .cloned()
                .collect()
        }
    };
    let (found, errors) = blocking(move || Ok(an.detect(&src, &watches, from, to))).await?;
    Ok(ok(
        json!({ "from": from, "to": to, "anomalies": found, "errors": errors }),
    ))
}

/// `GET /api/v1/stream`: new anomalies (`event: anomaly`) and patterns
/// (`event: pattern`) as server-sent events.
pub async fn stream(AxState(st): AxState<State>) -> Result<Response, ApiError> {
    let (an, _) = analysis(&st)?;
    let rx = an.subscribe();
    let s = futures_util::stream::unfold(rx, |mut rx| async move {
        let ev = match rx.recv().await {
            Ok(LiveEvent::Anomaly(a)) => SseEvent::default()
                .event("anomaly")
                .data(serde_json::to_string(&a).unwrap_or_default()),
            Ok(LiveEvent::Pattern {
                id,
                service,
                template,
            }) => SseEvent::default()
                .event("pattern")
                .data(json!({"id": id, "service": service, "template": template}).to_string()),
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => SseEvent::default()
                .event("lagged")
                .data(json!({"missed": n}).to_string()),
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok::<_, Infallible>(ev), rx))
    });
    Ok(Sse::new(s).keep_alive(KeepAlive::default()).into_response())
}

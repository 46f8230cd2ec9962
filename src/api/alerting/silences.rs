//! Silences through the API, in Alertmanager's shape:
//! `GET|POST /api/v1/silences`, `GET|DELETE /api/v1/silences/{id}`.
//! A silence is stored durably with the alert book; DELETE ends it now
//! (it stays listed as expired).

use axum::extract::{Path as UrlPath, Query as UrlQuery, State as AxState};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::{alerting, ok};
use crate::alerting::rfc3339;
use crate::alerting::silence::{Matcher, Silence};
use crate::api::analysis::params::{bad, parse_time, Args};
use crate::api::error::ApiError;
use crate::api::es::{json_response, Params};
use crate::api::{Body, State};

/// Matchers a silence has at most.
pub const MAX_MATCHERS: usize = 32;

fn shown(s: &Silence, now: i64) -> Value {
    json!({
        "id": s.id,
        "matchers": s.matchers,
        "startsAt": rfc3339(s.starts_at),
        "endsAt": rfc3339(s.ends_at),
        "createdBy": s.created_by,
        "comment": s.comment,
        "updatedAt": rfc3339(s.updated_at),
        "status": {"state": s.state(now)},
    })
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "resource_not_found_exception",
        format!("no silence with id [{id}]"),
    )
}

/// `GET /api/v1/silences`
pub async fn list(
    AxState(st): AxState<State>,
    UrlQuery(p): UrlQuery<Params>,
) -> Result<Response, ApiError> {
    let al = alerting(&st)?;
    Args::read(&p, &[], &[])?;
    let now = crate::event::now_ms();
    let book = al.book();
    let mut all: Vec<&Silence> = book.silences.iter().collect();
    all.sort_by_key(|s| std::cmp::Reverse(s.ends_at));
    let list: Vec<Value> = all.iter().map(|s| shown(s, now)).collect();
    Ok(ok(json!({"silences": list})))
}

/// `GET /api/v1/silences/{id}`
pub async fn get(
    AxState(st): AxState<State>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let al = alerting(&st)?;
    let now = crate::event::now_ms();
    let book = al.book();
    book.silences
        .iter()
        .find(|s| s.id == id)
        .map(|s| ok(shown(s, now)))
        .ok_or_else(|| not_found(&id))
}

fn time_of(a: &Args, k: &str, now: i64) -> Result<Option<i64>, ApiError> {
    match a.str(k)? {
        None => Ok(None),
        Some(s) => parse_time(&s, now, false).map(Some).map_err(|m| bad(k, m)),
    }
}

/// `POST /api/v1/silences`: `matchers` (`name`, `value`, `isRegex`,
/// `isEqual`), `startsAt` (default now), `endsAt` or `duration`,
/// `createdBy`, `comment`; with an `id`, replaces that silence. Answers
/// `{"silenceID": ...}`.
pub async fn create(
    AxState(st): AxState<State>,
    UrlQuery(p): UrlQuery<Params>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let al = alerting(&st)?;
    let a = Args::read(
        &p,
        &body,
        &[
            "id",
            "matchers",
            "startsAt",
            "endsAt",
            "duration",
            "createdBy",
            "comment",
        ],
    )?;
    let now = crate::event::now_ms();
    let matchers: Vec<Matcher> = match a.map_get("matchers") {
        Some(v @ Value::Array(_)) => serde_json::from_value(v.clone()).map_err(|e| {
            bad(
                "matchers",
                format!("each must be {{\"name\", \"value\", \"isRegex\", \"isEqual\"}}: {e}"),
            )
        })?,
        Some(_) => return Err(bad("matchers", "must be an array of matchers")),
        None => return Err(bad("matchers", "a silence needs at least one matcher")),
    };
    if matchers.is_empty() || matchers.len() > MAX_MATCHERS {
        return Err(bad(
            "matchers",
            format!("give between 1 and {MAX_MATCHERS} matchers"),
        ));
    }
    for m in &matchers {
        m.check().map_err(|e| bad("matchers", e))?;
    }
    let id = a.str("id")?.unwrap_or_default();
    if !id.is_empty() && !al.book().silences.iter().any(|s| s.id == id) {
        return Err(not_found(&id));
    }
    let starts_at = time_of(&a, "startsAt", now)?.unwrap_or(now);
    let ends_at = match (time_of(&a, "endsAt", now)?, a.str("duration")?) {
        (Some(e), None) => e,
        (None, Some(d)) => {
            let ms = crate::query::datemath::parse_duration_ms(d.trim())
                .filter(|ms| *ms > 0)
                .ok_or_else(|| {
                    bad(
                        "duration",
                        format!("'{d}' is not a duration like 30m or 2h"),
                    )
                })?;
            starts_at.saturating_add(ms)
        }
        (Some(_), Some(_)) => return Err(bad("duration", "give `endsAt` or `duration`, not both")),
        (None, None) => return Err(bad("endsAt", "a silence needs `endsAt` or `duration`")),
    };
    if ends_at <= starts_at {
        return Err(bad("endsAt", "must be after startsAt"));
    }
    if ends_at <= now {
        return Err(bad(
            "endsAt",
            "is in the past: the silence would never hold",
        ));
    }
    let s = Silence {
        id,
        matchers,
        starts_at,
        ends_at,
        created_by: a.str("createdBy")?.unwrap_or_default(),
        comment: a.str("comment")?.unwrap_or_default(),
        updated_at: now,
    };
    let id = al.put_silence(s);
    Ok(json_response(
        StatusCode::OK,
        json!({"silenceID": id}).to_string(),
    ))
}

/// `DELETE /api/v1/silences/{id}`: ends the silence now.
pub async fn expire(
    AxState(st): AxState<State>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let al = alerting(&st)?;
    if al.expire_silence(&id) {
        Ok(ok(json!({"acknowledged": true, "id": id})))
    } else {
        Err(not_found(&id))
    }
}

//! Rule changes through the API: `GET|PUT|DELETE /api/v1/rules/{name}`,
//! `POST /api/v1/rules` (create), `POST /api/v1/rules/_reload` and the dry
//! run `POST /api/v1/rules/_test`. A rule body has the keys of a
//! `[[alerting.rules]]` table, as JSON.

use axum::extract::{Path as UrlPath, Query as UrlQuery, State as AxState};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::{alerting, ok, rule_json};
use crate::alerting::state::{Book, Reason};
use crate::alerting::{human_ms, rfc3339, Alerting, RuleError};
use crate::api::analysis::params::Args;
use crate::api::error::ApiError;
use crate::api::es::{json_response, Params};
use crate::api::{Body, State};

/// Evaluations a dry run makes at most.
pub const MAX_TEST_ROUNDS: i64 = 10_000;

fn rule_error(name: &str, e: RuleError) -> ApiError {
    match e {
        RuleError::Invalid(p) => ApiError::bad_request(
            "illegal_argument_exception",
            format!("rule '{name}': {}", p.join("; ")),
        ),
        RuleError::FromConfig(n) => ApiError::new(
            StatusCode::CONFLICT,
            "illegal_argument_exception",
            format!("rule '{n}' is defined in the config file: change it there and reload (SIGHUP or POST /api/v1/rules/_reload)"),
        ),
        RuleError::NotFound(n) => not_found(&n),
        RuleError::Io(e) => ApiError::internal(format!("{e:#}")),
    }
}

fn not_found(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "resource_not_found_exception",
        format!("no rule named [{name}]"),
    )
}

fn json_body(body: &[u8]) -> Result<Value, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(ApiError::bad_request(
            "parse_exception",
            "the request body must be a JSON object: the rule",
        )),
        Err(e) => Err(ApiError::bad_request(
            "parse_exception",
            format!("the request body is not JSON: {e}"),
        )),
    }
}

/// One rule as the API shows it.
fn shown(al: &Alerting, name: &str) -> Option<Value> {
    let cfg = al.config();
    let r = cfg.rules.iter().find(|r| r.name == name)?;
    let mut v = rule_json(r);
    v["source"] = json!(al.source(name));
    v["last_evaluation"] = json!(al.book().last_eval.get(name));
    Some(v)
}

/// `GET /api/v1/rules/{name}`
pub async fn get_rule(
    AxState(st): AxState<State>,
    UrlPath(name): UrlPath<String>,
) -> Result<Response, ApiError> {
    let al = alerting(&st)?;
    shown(&al, &name).map(ok).ok_or_else(|| not_found(&name))
}

async fn put_blocking(
    al: std::sync::Arc<Alerting>,
    name: String,
    body: Value,
) -> Result<Response, ApiError> {
    let n = name.clone();
    let res = tokio::task::spawn_blocking(move || al.put_rule(&n, body))
        .await
        .map_err(ApiError::internal)?;
    let created = res.map_err(|e| rule_error(&name, e))?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json_response(
        status,
        json!({"acknowledged": true, "name": name, "result": if created {"created"} else {"updated"}}).to_string(),
    ))
}

/// `PUT /api/v1/rules/{name}`: creates or replaces an API rule.
pub async fn put_rule(
    AxState(st): AxState<State>,
    UrlPath(name): UrlPath<String>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let al = alerting(&st)?;
    let v = json_body(&body)?;
    put_blocking(al, name, v).await
}

/// `POST /api/v1/rules`: creates a rule named in the body; a name taken
/// already is refused (replace with PUT).
pub async fn create_rule(
    AxState(st): AxState<State>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let al = alerting(&st)?;
    let v = json_body(&body)?;
    let Some(name) = v.get("name").and_then(Value::as_str).map(str::to_string) else {
        return Err(ApiError::bad_request(
            "illegal_argument_exception",
            "the rule needs a `name` (or PUT it to /api/v1/rules/{name})",
        ));
    };
    if al.source(&name).is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "resource_already_exists_exception",
            format!("rule [{name}] already exists: replace it with PUT /api/v1/rules/{name}"),
        ));
    }
    put_blocking(al, name, v).await
}

/// `DELETE /api/v1/rules/{name}`
pub async fn delete_rule(
    AxState(st): AxState<State>,
    UrlPath(name): UrlPath<String>,
) -> Result<Response, ApiError> {
    let al = alerting(&st)?;
    let n = name.clone();
    tokio::task::spawn_blocking(move || al.delete_rule(&n))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| rule_error(&name, e))?;
    Ok(ok(
        json!({"acknowledged": true, "name": name, "result": "deleted"}),
    ))
}

/// `POST /api/v1/rules/_reload`: re-reads the config file's `[alerting]`.
pub async fn reload(AxState(st): AxState<State>) -> Result<Response, ApiError> {
    let al = alerting(&st)?;
    let res = tokio::task::spawn_blocking(move || al.reload())
        .await
        .map_err(ApiError::internal)?;
    match res {
        Ok(r) => Ok(ok(json!({"acknowledged": true, "reload": r}))),
        Err(problems) => Err(ApiError::bad_request(
            "illegal_argument_exception",
            format!(
                "the config file has problems; the previous rules keep running: {}",
                problems.join("; ")
            ),
        )),
    }
}

/// `POST /api/v1/rules/_test`: evaluates a rule (`rule`: a body, or
/// `name`: one in force) at each of its rounds from `from` to `to`, with a
/// state machine of its own (nothing is stored or sent), and answers what
/// it would have notified and when.
pub async fn test_rule(
    AxState(st): AxState<State>,
    UrlQuery(p): UrlQuery<Params>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    use crate::api::analysis::params::bad;
    let al = alerting(&st)?;
    let a = Args::read(&p, &body, &["rule", "name", "from", "to"])?;
    let mut rule = match (a.map_get("rule"), a.str("name")?) {
        (Some(v @ Value::Object(_)), None) => {
            let name = v
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let mut v = v.clone();
            if name.is_empty() {
                v["name"] = json!("dry-run");
            }
            al.check_rule(&v).map_err(|p| {
                bad(
                    "rule",
                    format!("'{}': {}", v["name"].as_str().unwrap_or(""), p.join("; ")),
                )
            })?
        }
        (Some(_), None) => return Err(bad("rule", "must be a rule object")),
        (None, Some(n)) => al
            .config()
            .rules
            .iter()
            .find(|r| r.name == n)
            .cloned()
            .ok_or_else(|| not_found(&n))?,
        (None, None) => {
            return Err(bad(
                "rule",
                "give `rule` (a rule) or `name` (a rule in force)",
            ))
        }
        (Some(_), Some(_)) => return Err(bad("name", "give `rule` or `name`, not both")),
    };
    let now = crate::event::now_ms();
    let from = a.time("from", "now-24h", now)?;
    let to = a.time("to", "now", now)?.min(now);
    if to <= from {
        return Err(bad("to", "must be after `from` (and not in the future)"));
    }
    let rounds = (to - from) / rule.every_ms;
    if rounds > MAX_TEST_ROUNDS {
        return Err(bad(
            "from",
            format!(
                "the range holds {rounds} rounds of {}; at most {MAX_TEST_ROUNDS}: shorten the range",
                human_ms(rule.every_ms)
            ),
        ));
    }
    // one notification per event, whatever the rule's channels
    rule.channels = vec!["dry-run".into()];
    let src = st.source.clone().ok_or_else(|| {
        ApiError::bad_request("illegal_argument_exception", "no store on this server")
    })?;
    let an = st.analysis.clone();
    let out = tokio::task::spawn_blocking(move || -> anyhow::Result<Value> {
        let mut book = Book::default();
        let mut events = Vec::new();
        let mut t = from + rule.every_ms;
        let mut n = 0;
        while t <= to {
            let observed = Alerting::observe(src.as_ref(), an.as_deref(), &rule, t)?;
            book.step(&rule, &observed, t);
            for note in book.outbox.drain(..) {
                let al = note.alert;
                events.push(json!({
                    "at": rfc3339(t),
                    "reason": note.reason,
                    "group": al.group.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect::<serde_json::Map<_, _>>(),
                    "value": al.value,
                    "threshold": al.threshold,
                    "query": al.query,
                    "samples": al.samples,
                }));
            }
            n += 1;
            t += rule.every_ms;
        }
        let fired = events
            .iter()
            .filter(|e| e["reason"] == json!(Reason::Firing))
            .count();
        let still: Vec<Value> = book
            .alerts
            .values()
            .map(|a| json!({"status": a.status, "group": a.group, "since": a.starts_at.map(rfc3339)}))
            .collect();
        Ok(json!({
            "rule": rule.name,
            "from": rfc3339(from),
            "to": rfc3339(to),
            "every": human_ms(rule.every_ms),
            "evaluations": n,
            "fired": fired,
            "notifications": events,
            "active_at_end": still,
        }))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| ApiError::bad_request("illegal_argument_exception", format!("{e:#}")))?;
    Ok(ok(out))
}

//! `/api/v1/rules` and `/api/v1/alerts`: the rules as loaded, the pending
//! and firing alerts, their history, and the notifications that could not
//! be delivered (with a re-send).

use std::sync::Arc;

use axum::extract::{Path as UrlPath, Query as UrlQuery, State as AxState};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

pub mod rules;
pub mod silences;

use super::analysis::params::Args;
use super::error::ApiError;
use super::es::{json_response, Params};
use super::State;
use crate::alerting::rule::{ChangeBy, Condition, MetricAgg, Rule};
use crate::alerting::{human_ms, Alerting};
use crate::config::alerting::Channel;

pub(super) fn alerting(st: &State) -> Result<Arc<Alerting>, ApiError> {
    st.alerting.clone().ok_or_else(|| {
        ApiError::bad_request(
            "illegal_argument_exception",
            "alerting is not running on this server",
        )
    })
}

pub(super) fn ok(v: Value) -> Response {
    json_response(StatusCode::OK, v.to_string())
}

pub(super) fn rule_json(r: &Rule) -> Value {
    let condition = match &r.condition {
        Condition::Count { above, below } => {
            json!({"type": "count", "above": above, "below": below})
        }
        Condition::Anomaly {
            min_severity,
            kind,
            service,
        } => json!({
            "type": "anomaly",
            "min_severity": min_severity.as_str(),
            "kind": kind.map(|k| k.as_str()),
            "service": service,
        }),
        Condition::NewPattern { errors_only } => json!({
            "type": "new_pattern",
            "min_level": if *errors_only { "ERROR" } else { "WARN" },
        }),
        Condition::Ratio {
            numerator,
            above,
            below,
            min_denominator,
        } => json!({
            "type": "ratio",
            "numerator": numerator,
            "above": above,
            "below": below,
            "min_denominator": min_denominator,
        }),
        Condition::Change { by, min_previous } => {
            let (k, v) = match by {
                ChangeBy::Factor(f) => ("factor", f),
                ChangeBy::Delta(d) => ("delta", d),
            };
            json!({"type": "change", k: v, "min_previous": min_previous})
        }
        Condition::Flatline { lookback_ms, below } => json!({
            "type": "flatline",
            "lookback": human_ms(*lookback_ms),
            "below": below,
        }),
        Condition::NewTerm { field, lookback_ms } => json!({
            "type": "new_term",
            "field": field,
            "lookback": human_ms(*lookback_ms),
        }),
        Condition::Cardinality {
            field,
            above,
            below,
        } => json!({"type": "cardinality", "field": field, "above": above, "below": below}),
        Condition::Metric {
            field,
            agg,
            above,
            below,
        } => {
            let (name, percentile) = match agg {
                MetricAgg::Avg => ("avg", None),
                MetricAgg::Min => ("min", None),
                MetricAgg::Max => ("max", None),
                MetricAgg::Sum => ("sum", None),
                MetricAgg::Percentile(p) => ("percentile", Some(p)),
            };
            json!({
                "type": "metric",
                "field": field,
                "agg": name,
                "percentile": percentile,
                "above": above,
                "below": below,
            })
        }
    };
    json!({
        "name": r.name,
        "index": r.index,
        // one or the other, so what GET shows can be PUT back
        "query": if r.query_dsl.is_some() { Value::Null } else { Value::String(r.query.clone()) },
        "query_dsl": r.query_dsl,
        "window": human_ms(r.window_ms),
        "every": human_ms(r.every_ms),
        "group_by": r.group_by,
        "condition": condition,
        "threshold": r.condition.threshold_text(),
        "for": human_ms(r.for_ms),
        "keep_firing_for": human_ms(r.keep_firing_for_ms),
        "repeat_interval": human_ms(r.repeat_ms),
        "delay": human_ms(r.delay_ms),
        "group_wait": human_ms(r.group_wait_ms),
        "severity": r.severity,
        "labels": r.labels,
        "annotations": r.annotations.iter().map(|(k, t)| (k.clone(), Value::String(t.source().to_string()))).collect::<serde_json::Map<_, _>>(),
        "channels": r.channels,
    })
}

/// `GET /api/v1/rules`
pub async fn rules(
    AxState(st): AxState<State>,
    UrlQuery(p): UrlQuery<Params>,
) -> Result<Response, ApiError> {
    let al = alerting(&st)?;
    Args::read(&p, &[], &[])?;
    let cfg = al.config();
    let book = al.book();
    let rules: Vec<Value> = cfg
        .rules
        .iter()
        .map(|r| {
            let mut v = rule_json(r);
            v["source"] = json!(al.source(&r.name));
            v["last_evaluation"] = json!(book.last_eval.get(&r.name));
            v
        })
        .collect();
    let channels: serde_json::Map<String, Value> = cfg
        .channels
        .iter()
        .map(|(name, c)| {
            let v = match c {
                Channel::Log => json!({"type": "log"}),
                Channel::Webhook(w) => json!({"type": "webhook", "url": w.url, "signed": w.secret.is_some(), "retry_for": human_ms(w.retry_for_ms)}),
                Channel::Email(e) => json!({"type": "email", "host": e.host, "port": e.port, "to": e.to, "retry_for": human_ms(e.retry_for_ms)}),
            };
            (name.clone(), v)
        })
        .collect();
    Ok(ok(
        json!({"enabled": cfg.enabled, "rules": rules, "channels": channels, "scheduler": al.stats()}),
    ))
}

/// `GET /api/v1/alerts?rule=&state=`
pub async fn alerts(
    AxState(st): AxState<State>,
    UrlQuery(p): UrlQuery<Params>,
) -> Result<Response, ApiError> {
    let al = alerting(&st)?;
    let a = Args::read(&p, &[], &["rule", "state"])?;
    let rule = a.str("rule")?;
    let state = a.str("state")?;
    if let Some(s) = &state {
        if !["pending", "firing"].contains(&s.as_str()) {
            return Err(super::analysis::params::bad(
                "state",
                format!("'{s}' is not one of pending, firing"),
            ));
        }
    }
    let book = al.book();
    let keep = |r: &str| rule.as_deref().is_none_or(|x| x == r);
    let active: Vec<&crate::alerting::state::Alert> = book
        .alerts
        .values()
        .filter(|x| keep(&x.rule))
        .filter(|x| {
            state.as_deref().is_none_or(|s| {
                serde_json::to_value(x.status)
                    .ok()
                    .and_then(|v| v.as_str().map(|v| v == s))
                    .unwrap_or(false)
            })
        })
        .collect();
    let history: Vec<_> = book
        .history
        .iter()
        .rev()
        .filter(|x| keep(&x.rule))
        .take(100)
        .collect();
    let undeliverable: Vec<_> = book
        .undeliverable
        .iter()
        .filter(|n| keep(&n.alert.rule))
        .collect();
    let outbox: Vec<_> = book.outbox.iter().filter(|n| keep(&n.alert.rule)).collect();
    let sent: Vec<_> = book
        .sent
        .iter()
        .rev()
        .filter(|n| keep(&n.alert.rule))
        .take(100)
        .collect();
    Ok(ok(json!({
        "alerts": active,
        "history": history,
        "undeliverable": undeliverable,
        "outbox": outbox,
        "sent": sent,
    })))
}

/// `POST /api/v1/alerts/undeliverable/{id}/_resend`
pub async fn resend(
    AxState(st): AxState<State>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let al = alerting(&st)?;
    if al.resend(&id) {
        Ok(ok(json!({"acknowledged": true, "id": id})))
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "resource_not_found_exception",
            format!("no undeliverable notification with id [{id}]"),
        ))
    }
}

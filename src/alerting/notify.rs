//! Delivery of notifications: the server log, and webhooks with the JSON
//! that Alertmanager's webhook receivers already parse (or Slack's), custom
//! headers and an HMAC-SHA256 signature over the raw body.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::state::{Alert, Notification, Reason, Status};
use crate::config::alerting::{WebhookChannel, WebhookFormat};

/// Header carrying `sha256=<hex>` of HMAC-SHA256(secret, body).
pub const SIGNATURE_HEADER: &str = "X-Logweave-Signature";

/// The alert as Alertmanager's webhook payload has it.
fn am_alert(a: &Alert, external_url: &str) -> Value {
    let status = match a.status {
        Status::Resolved => "resolved",
        _ => "firing",
    };
    let mut annotations = serde_json::Map::new();
    for (k, v) in &a.annotations {
        annotations.insert(k.clone(), Value::String(v.clone()));
    }
    json!({
        "status": status,
        "labels": a.labels,
        "annotations": annotations,
        "startsAt": a.starts_at.map(super::rfc3339).unwrap_or_default(),
        // Alertmanager's zero time for an alert that has not ended
        "endsAt": a.ends_at.map(super::rfc3339).unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
        "generatorURL": format!("{external_url}/api/v1/alerts?rule={}", a.rule),
        "fingerprint": a.fingerprint,
        // beyond Alertmanager's fields: what was measured, and some events
        "value": a.value,
        "detail": a.detail,
        "threshold": a.threshold,
        "query": a.query,
        "query_dsl": a.query_dsl,
        "samples": a.samples,
    })
}

/// What all the maps have in common (Alertmanager's `commonLabels`).
fn common(maps: &[&BTreeMap<String, String>]) -> BTreeMap<String, String> {
    let Some((first, rest)) = maps.split_first() else {
        return BTreeMap::new();
    };
    first
        .iter()
        .filter(|(k, v)| rest.iter().all(|m| m.get(*k) == Some(v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The body for a webhook: one message for a batch of notifications of
/// one rule (alerts that started within the rule's `group_wait`, or that
/// waited out a rate limit together).
pub fn payload(batch: &[Notification], format: WebhookFormat, external_url: &str) -> Value {
    let Some(n) = batch.first() else {
        return Value::Null;
    };
    let a = &n.alert;
    match format {
        WebhookFormat::Alertmanager => {
            let status = if batch.iter().all(|n| n.alert.status == Status::Resolved) {
                "resolved"
            } else {
                "firing"
            };
            // one alert: its group; several: what they share
            let group: Vec<(String, String)> = if batch.len() == 1 {
                a.group.clone()
            } else {
                a.group
                    .iter()
                    .filter(|kv| batch.iter().all(|n| n.alert.group.contains(kv)))
                    .cloned()
                    .collect()
            };
            let group_labels: serde_json::Map<String, Value> =
                std::iter::once(("alertname".to_string(), Value::String(a.rule.clone())))
                    .chain(
                        group
                            .iter()
                            .map(|(k, v)| (k.clone(), Value::String(v.clone()))),
                    )
                    .collect();
            let labels: Vec<&BTreeMap<String, String>> =
                batch.iter().map(|n| &n.alert.labels).collect();
            let annotations: Vec<&BTreeMap<String, String>> =
                batch.iter().map(|n| &n.alert.annotations).collect();
            let group_key = if batch.len() == 1 {
                format!("{}:{}", a.rule, a.fingerprint)
            } else {
                a.rule.clone()
            };
            json!({
                "version": "4",
                "groupKey": group_key,
                "truncatedAlerts": 0,
                "status": status,
                "receiver": n.channel,
                "groupLabels": group_labels,
                "commonLabels": common(&labels),
                "commonAnnotations": common(&annotations),
                "externalURL": external_url,
                "notificationId": n.id,
                "notificationIds": batch.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(),
                "reason": reason_text(n.reason),
                "alerts": batch.iter().map(|n| am_alert(&n.alert, external_url)).collect::<Vec<_>>(),
            })
        }
        WebhookFormat::Slack => json!({
            "text": batch.iter().map(text_line).collect::<Vec<_>>().join("\n")
        }),
    }
}

fn reason_text(r: Reason) -> &'static str {
    match r {
        Reason::Firing => "firing",
        Reason::Reminder => "reminder",
        Reason::Resolved => "resolved",
    }
}

/// One line that says it all: for the log and for chat.
pub fn text_line(n: &Notification) -> String {
    let a = &n.alert;
    let head = match n.reason {
        Reason::Firing => "FIRING",
        Reason::Reminder => "STILL FIRING",
        Reason::Resolved => "RESOLVED",
    };
    let group = if a.group.is_empty() {
        String::new()
    } else {
        format!(
            " [{}]",
            a.group
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let summary = a.annotations.get("summary").cloned().unwrap_or_else(|| {
        let measured = a
            .detail
            .clone()
            .unwrap_or_else(|| format!("value {}", super::number_text(a.value)));
        format!("{measured} ({})", a.threshold)
    });
    format!("[{head}] {}{group}: {summary}", a.rule)
}

/// HMAC-SHA256 of `body` under `secret`, as `sha256=<hex>`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = ring::hmac::sign(&key, body);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// POSTs the batch as one request; a non-2xx answer is a failure.
pub async fn send_webhook(
    client: &reqwest::Client,
    ch: &WebhookChannel,
    batch: &[Notification],
    external_url: &str,
) -> Result<(), String> {
    let body = serde_json::to_vec(&payload(batch, ch.format, external_url))
        .map_err(|e| format!("cannot encode the payload: {e}"))?;
    let mut req = client
        .post(&ch.url)
        .header("content-type", "application/json")
        .header(
            "user-agent",
            concat!("logweave/", env!("CARGO_PKG_VERSION")),
        );
    for (k, v) in &ch.headers {
        req = req.header(k, v);
    }
    if let Some(secret) = &ch.secret {
        req = req.header(SIGNATURE_HEADER, signature(secret, &body));
    }
    let resp = req
        .body(body)
        .send()
        .await
        .map_err(|e| format!("POST {}: {e}", ch.url))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("POST {}: answered {}", ch.url, resp.status()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_rfc4231_hmac_sha256() {
        // RFC 4231 test case 2
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}

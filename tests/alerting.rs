//! Alerting end to end against the real binary: a webhook receiver on
//! loopback records what arrives. An error burst fires exactly once (and
//! not for the service under the threshold), survives `kill -9` without a
//! second first notification, and resolves exactly once; a webhook that is
//! down keeps the notification, which lands in the undeliverable list after
//! the retry budget and is delivered by a re-send; bad rules are refused by
//! name.

mod util;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use util::alerting::{bodies, check_config_fails, receiver, wait_for};
use util::{BinServer, Http};

fn now_ts() -> String {
    logweave::generate::format_ts(logweave::event::now_ms())
}

async fn send(http: &Http, docs: &[(&str, &str, String)]) {
    let mut body = Vec::new();
    for (level, service, msg) in docs {
        body.extend_from_slice(b"{\"index\":{\"_index\":\"app\"}}\n");
        let d = json!({"timestamp": now_ts(), "level": level, "service": service, "message": msg});
        body.extend_from_slice(d.to_string().as_bytes());
        body.push(b'\n');
    }
    let r = http.post_ndjson("/_bulk", body).await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    assert_eq!(r.json()["errors"], false, "{}", r.text_preview());
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::sign(&key, body)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn config(hook: &str, retry_for: &str) -> String {
    format!(
        r#"
[analysis]
enabled = false

[alerting.channels.hook]
type = "webhook"
url = "{hook}"
secret = "s3cret"
headers = {{ "X-Team" = "payments" }}
retry_for = "{retry_for}"

[[alerting.rules]]
name = "errors"
index = "app*"
query = "level:ERROR"
window = "4s"
every = "1s"
group_by = ["service"]
condition = {{ type = "count", above = 5 }}
repeat_interval = "0s"
severity = "high"
labels = {{ team = "payments" }}
annotations = {{ summary = "{{{{value}}}} errors from {{{{group.service}}}} in {{{{window}}}}" }}
channels = ["hook", "log"]
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_burst_fires_once_survives_kill_and_resolves_once() {
    let root = tempfile::tempdir().unwrap();
    let (addr, got) = receiver("127.0.0.1:0".parse().unwrap()).await;
    let cfg = root.path().join("logweave.toml");
    std::fs::write(&cfg, config(&format!("http://{addr}/hook"), "1m")).unwrap();
    let mut server = BinServer::start(root.path(), Some(cfg)).await;
    let http = Http::new(server.addr());

    // api: 12 errors (above 5) among 20 INFO lines; web: 3 errors (not)
    let mut docs: Vec<(&str, &str, String)> = Vec::new();
    for i in 0..12 {
        docs.push(("ERROR", "api", format!("payment {i} failed: card declined")));
    }
    for i in 0..20 {
        docs.push(("INFO", "api", format!("GET /orders/{i} 200")));
    }
    for i in 0..3 {
        docs.push(("ERROR", "web", format!("template {i} missing")));
    }
    send(&http, &docs).await;

    wait_for("the firing notification", 15, || {
        !got.lock().unwrap().is_empty()
    })
    .await;
    let (headers, raw) = got.lock().unwrap()[0].clone();
    let sig = headers["x-logweave-signature"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(sig, format!("sha256={}", hmac_hex("s3cret", &raw)));
    assert_eq!(headers["x-team"], "payments");
    let first: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(first["version"], "4");
    assert_eq!(first["status"], "firing");
    assert_eq!(first["reason"], "firing");
    assert_eq!(first["receiver"], "hook");
    let alert = &first["alerts"][0];
    assert_eq!(alert["labels"]["alertname"], "errors");
    assert_eq!(alert["labels"]["service"], "api");
    assert_eq!(alert["labels"]["severity"], "high");
    assert_eq!(alert["labels"]["team"], "payments");
    assert_eq!(alert["value"], 12.0);
    assert_eq!(alert["threshold"], "> 5");
    assert_eq!(alert["annotations"]["summary"], "12 errors from api in 4s");
    assert_eq!(alert["endsAt"], "0001-01-01T00:00:00Z");
    let samples = alert["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 3, "{alert}");
    for s in samples {
        let s = s.as_str().unwrap();
        assert!(
            s.starts_with("payment ") && s.ends_with(" failed: card declined"),
            "{s}"
        );
    }
    assert!(
        alert["query"].as_str().unwrap().contains("service:\"api\""),
        "{alert}"
    );
    let fingerprint = alert["fingerprint"].as_str().unwrap().to_string();

    // the API shows it firing
    let a = http.get("/api/v1/alerts?state=firing").await.json();
    assert_eq!(a["alerts"].as_array().unwrap().len(), 1, "{a}");
    assert_eq!(a["alerts"][0]["fingerprint"], fingerprint.as_str());

    // kill -9 while it fires (after the delivery was recorded), restart
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.kill();
    server.launch().await;

    // the events leave the 4 s window: one resolved notice, nothing else
    wait_for("the resolved notification", 20, || {
        bodies(&got).iter().any(|b| b["status"] == "resolved")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let all = bodies(&got);
    let firing: Vec<_> = all.iter().filter(|b| b["reason"] == "firing").collect();
    let resolved: Vec<_> = all.iter().filter(|b| b["reason"] == "resolved").collect();
    assert_eq!(firing.len(), 1, "one first notification in all: {all:?}");
    assert_eq!(resolved.len(), 1, "one resolved notice: {all:?}");
    assert_eq!(all.len(), 2, "nothing for web, no reminders: {all:?}");
    let r = &resolved[0]["alerts"][0];
    assert_eq!(r["fingerprint"], fingerprint.as_str());
    assert_eq!(r["status"], "resolved");
    assert_ne!(r["endsAt"], "0001-01-01T00:00:00Z");

    let a = http.get("/api/v1/alerts").await.json();
    assert!(a["alerts"].as_array().unwrap().is_empty(), "{a}");
    assert_eq!(a["history"][0]["fingerprint"], fingerprint.as_str(), "{a}");
    assert_eq!(
        a["sent"].as_array().unwrap().len(),
        4,
        "2 × (hook, log): {a}"
    );
    assert!(server
        .all_logs()
        .contains("[FIRING] errors [service=api]: 12 errors from api in 4s"));
    server.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_down_keeps_the_notification_until_a_resend_delivers_it() {
    let root = tempfile::tempdir().unwrap();
    // a port with nobody listening yet
    let port = util::free_port();
    let hook_addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let cfg = root.path().join("logweave.toml");
    std::fs::write(&cfg, config(&format!("http://{hook_addr}/hook"), "3s")).unwrap();
    let server = BinServer::start(root.path(), Some(cfg)).await;
    let http = Http::new(server.addr());
    let docs: Vec<(&str, &str, String)> = (0..8)
        .map(|i| ("ERROR", "db", format!("deadlock {i} detected")))
        .collect();
    send(&http, &docs).await;

    // retried, then undeliverable after the 3 s budget; the log channel got it
    let mut dead = Value::Null;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let a = http.get("/api/v1/alerts").await.json();
        if let Some(d) = a["undeliverable"].as_array().and_then(|d| d.first()) {
            dead = d.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!dead.is_null(), "nothing went undeliverable");
    assert_eq!(dead["channel"], "hook");
    assert_eq!(dead["reason"], "firing");
    assert!(dead["attempts"].as_u64().unwrap() >= 2, "{dead}");
    assert!(
        dead["last_error"]
            .as_str()
            .unwrap()
            .contains(&format!("POST http://{hook_addr}/hook")),
        "{dead}"
    );

    // the receiver comes up; a re-send delivers exactly that notification
    let (_, got) = receiver(hook_addr).await;
    let id = dead["id"].as_str().unwrap();
    let r = http
        .post_json(
            &format!("/api/v1/alerts/undeliverable/{id}/_resend"),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    wait_for("the re-sent notification", 10, || {
        !got.lock().unwrap().is_empty()
    })
    .await;
    let b = &bodies(&got)[0];
    assert_eq!(b["notificationId"], id);
    assert_eq!(b["alerts"][0]["labels"]["service"], "db");
    assert_eq!(b["alerts"][0]["value"], 8.0);
    let a = http.get("/api/v1/alerts").await.json();
    assert!(a["undeliverable"].as_array().unwrap().is_empty(), "{a}");
    let r = http
        .post_json(
            &format!("/api/v1/alerts/undeliverable/{id}/_resend"),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text_preview());
}

#[test]
fn bad_rules_are_refused_naming_rule_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(
        &cfg,
        r#"[alerting.channels.hook]
type = "webhook"
url = "not a url"

[[alerting.rules]]
name = "one"
query = "level:(ERROR"
window = "-5m"
condition = { type = "count", above = 3 }
annotations = { summary = "{{value}} from {{group.service}}" }
channels = ["pager"]

[[alerting.rules]]
name = "two"
condition = { type = "count" }
severity = "urgent"
"#,
    )
    .unwrap();
    let err = check_config_fails(&cfg);
    for want in [
        "bad.toml:3: alerting.channels.hook.url: 'not a url' is not an http(s) URL",
        "bad.toml:7: alerting.rules[0].query:",
        "bad.toml:8: alerting.rules[0].window: '-5m' is not a duration",
        "bad.toml:10: alerting.rules[0].annotations.summary: unknown field '{{group.service}}'",
        "bad.toml:11: alerting.rules[0].channels: 'pager' is not a channel; known: hook, log",
        "bad.toml:15: alerting.rules[1].condition: a count condition needs `above`, `below` or both",
        "bad.toml:16: alerting.rules[1].severity: 'urgent' is not one of low, medium, high, critical",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
}

#[test]
fn bad_email_channels_are_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("mail.toml");
    std::fs::write(
        &cfg,
        r#"[alerting.channels.mail]
type = "email"
host = "127.0.0.1"
tls = "ssl"
from = "not an address"
username = "u"
"#,
    )
    .unwrap();
    let err = check_config_fails(&cfg);
    for want in [
        "mail.toml:4: alerting.channels.mail.tls: 'ssl' is not one of starttls, tls, none",
        "mail.toml:5: alerting.channels.mail.from: 'not an address' is not a mail address",
        "alerting.channels.mail.to: an email channel needs `to`",
        "mail.toml:6: alerting.channels.mail.password: `username` without `password`",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
}

/// Three hours of minutes ending now: api logs 20±2 INFO and one ERROR a
/// minute; 30 minutes ago 400 more ERRORs in one minute, and 20 minutes ago
/// a brand-new ERROR message (twice).
fn history(now: i64) -> Vec<u8> {
    const MIN: i64 = 60_000;
    let base = now - now.rem_euclid(MIN) - 180 * MIN;
    let mut body = Vec::new();
    let mut put = |t: i64, level: &str, msg: String| {
        body.extend_from_slice(b"{\"index\":{\"_index\":\"app\"}}\n");
        let d = json!({"timestamp": logweave::generate::format_ts(t), "level": level,
                       "service": "api", "message": msg});
        body.extend_from_slice(d.to_string().as_bytes());
        body.push(b'\n');
    };
    for m in 0..180 {
        let t0 = base + m * MIN;
        let n = 18 + (m * 7) % 5;
        for i in 0..n {
            put(
                t0 + i * MIN / n,
                "INFO",
                format!("GET /orders/{} 200", m * 100 + i),
            );
        }
        put(
            t0 + 30_000,
            "ERROR",
            format!("order {m} failed: card declined"),
        );
        if m == 150 {
            for i in 0..400 {
                put(
                    t0 + i * 100,
                    "ERROR",
                    format!("order {i} failed: card declined"),
                );
            }
        }
        if m == 160 || m == 161 {
            put(
                t0 + 10_000,
                "ERROR",
                "disk quota exceeded on /var/lib/orders".into(),
            );
        }
    }
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anomaly_and_new_pattern_rules_fire_from_the_analysis() {
    let root = tempfile::tempdir().unwrap();
    let (addr, got) = receiver("127.0.0.1:0".parse().unwrap()).await;
    let cfg = root.path().join("logweave.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[alerting.channels.hook]
type = "webhook"
url = "http://{addr}/hook"

[[alerting.rules]]
name = "spikes"
window = "1d"
every = "1s"
condition = {{ type = "anomaly", kind = "spike", min_severity = "high", service = "api" }}
annotations = {{ summary = "{{{{group.kind}}}} in {{{{group.series}}}}: {{{{value}}}}" }}
channels = ["hook"]

[[alerting.rules]]
name = "new_errors"
window = "1d"
every = "1s"
condition = {{ type = "new_pattern", min_level = "ERROR" }}
channels = ["hook"]
"#
        ),
    )
    .unwrap();
    let server = BinServer::start(root.path(), Some(cfg)).await;
    let http = Http::new(server.addr());
    let now = logweave::event::now_ms();
    let r = http
        .post_ndjson("/_bulk?refresh=wait_for", history(now))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["errors"], false, "{}", r.text_preview());
    let r = http
        .post_json(
            "/api/v1/anomalies/_detect",
            &json!({"from": now - 60 * 60_000, "to": now}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text_preview());

    let burst = |b: &Value| {
        b["alerts"][0]["labels"]["series"]
            .as_str()
            .is_some_and(|s| s.starts_with("errors_by_service"))
    };
    let novel = |b: &Value| b["groupLabels"]["alertname"] == "new_errors";
    wait_for("the spike and new-pattern notifications", 20, || {
        let all = bodies(&got);
        all.iter().any(burst) && all.iter().any(novel)
    })
    .await;
    let all = bodies(&got);
    for b in all
        .iter()
        .filter(|b| b["groupLabels"]["alertname"] == "spikes")
    {
        let a = &b["alerts"][0];
        assert_eq!(a["labels"]["kind"], "spike", "{b}");
        assert_eq!(a["labels"]["service"], "api", "{b}");
    }
    let spike = all.iter().find(|b| burst(b)).unwrap();
    let a = &spike["alerts"][0];
    // 400 injected plus the minute's usual one
    assert_eq!(a["value"], 401.0, "{a}");
    assert!(
        a["annotations"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("spike in errors_by_service"),
        "{a}"
    );
    let n: Vec<_> = all.iter().filter(|b| novel(b)).collect();
    assert_eq!(n.len(), 1, "one new ERROR pattern: {n:?}");
    let a = &n[0]["alerts"][0];
    assert_eq!(a["labels"]["kind"], "new_pattern");
    assert_eq!(a["value"], 2.0, "seen twice: {a}");
    let template = a["samples"][0].as_str().unwrap();
    assert!(template.starts_with("disk quota exceeded on"), "{template}");
    assert!(a["query"].as_str().unwrap().contains("_pattern:"), "{a}");
}

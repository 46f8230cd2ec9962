//! The analysis API end to end against the in-process server: series
//! counts against the generated input, patterns and `_pattern`, anomalies
//! of injected incidents found by `_detect` over backfilled history and by
//! the live watch, and bad parameters refused by name.

mod util;

use std::time::Duration;

use serde_json::{json, Value};
use util::{InProcess, Resp};

const MINUTE: i64 = 60_000;

/// A tiny deterministic generator for counts with noise.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

fn ts(ms: i64) -> String {
    logweave::generate::format_ts(ms)
}

fn doc(t: i64, level: &str, service: &str, message: String) -> (Value, Value) {
    (
        json!({"index": {"_index": "app-logs"}}),
        json!({"timestamp": ts(t), "level": level, "service": service, "message": message}),
    )
}

/// Minutes of history from `base`: api 30±3 INFO and one ERROR per
/// minute, web 20±3, db 15±3; an error burst in api at minutes 120-121,
/// db silent at 140-149, a brand-new ERROR message in web from 160.
/// Returns the documents and the expected total count per minute.
fn history(base: i64, minutes: i64) -> (Vec<(Value, Value)>, Vec<u64>) {
    let mut r = Lcg(42);
    let mut docs = Vec::new();
    let mut per_minute = Vec::new();
    for m in 0..minutes {
        let t0 = base + m * MINUTE;
        let before = docs.len();
        let mut put = |level: &str, service: &str, msg: String, i: u64, n: u64| {
            let t = t0 + (i * MINUTE as u64 / n.max(1)) as i64;
            docs.push(doc(t, level, service, msg));
        };
        let n_api = 27 + r.next(7);
        for i in 0..n_api {
            let id = r.next(100_000);
            put(
                "INFO",
                "api",
                format!("GET /api/orders/{id} 200 {}ms", r.next(300)),
                i,
                n_api,
            );
        }
        let n_err = if (120..122).contains(&m) { 40 } else { 1 };
        for i in 0..n_err {
            put(
                "ERROR",
                "api",
                format!("payment gateway timeout after {} ms", 1000 + r.next(4000)),
                i,
                n_err,
            );
        }
        let n_web = 17 + r.next(7);
        let users = ["alice", "bob", "carol", "dave", "erin"];
        for i in 0..n_web {
            let u = users[r.next(5) as usize];
            put("INFO", "web", format!("user {u} logged in"), i, n_web);
        }
        if !(140..150).contains(&m) {
            let n_db = 12 + r.next(7);
            for i in 0..n_db {
                put(
                    "DEBUG",
                    "db",
                    format!("query took {} ms", r.next(90)),
                    i,
                    n_db,
                );
            }
        }
        if m >= 160 && m % 5 == 0 {
            put(
                "ERROR",
                "web",
                format!("disk quota exceeded on volume {}", r.next(9)),
                0,
                1,
            );
        }
        per_minute.push((docs.len() - before) as u64);
    }
    (docs, per_minute)
}

async fn bulk(srv: &InProcess, docs: &[(Value, Value)]) {
    for chunk in docs.chunks(5000) {
        let r = srv.http.post_ndjson("/_bulk", util::ndjson(chunk)).await;
        assert_eq!(r.status, 200, "{}", r.text_preview());
        assert_eq!(r.json()["errors"], json!(false), "{}", r.text_preview());
    }
    srv.http.refresh().await;
}

fn anomalies_of(r: &Resp) -> Vec<Value> {
    assert_eq!(r.status, 200, "{}", r.text_preview());
    r.json()["anomalies"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn found(list: &[Value], kind: &str, series_prefix: &str, from: i64, to: i64) -> bool {
    list.iter().any(|a| {
        a["kind"] == kind
            && a["series"]
                .as_str()
                .is_some_and(|s| s.starts_with(series_prefix))
            && a["start"].as_i64().is_some_and(|s| s >= from && s < to)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_patterns_and_detection_over_backfilled_history() {
    let dir = tempfile::tempdir().unwrap();
    let now = logweave::event::now_ms();
    let base = now - now.rem_euclid(MINUTE) - 4 * 60 * MINUTE;
    let (docs, per_minute) = history(base, 180);
    let mut cfg = util::test_config(dir.path());
    cfg.analysis.interval_ms = 60_000;
    let srv = InProcess::start(cfg).await;
    bulk(&srv, &docs).await;

    // Series: counts per minute equal the generated ones, gaps are zeros.
    let r = srv
        .http
        .get(&format!(
            "/api/v1/series?index=app-logs&from={base}&to={}&interval=1m",
            base + 200 * MINUTE
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    let v = r.json();
    assert_eq!(v["interval_ms"], 60_000);
    let pts = v["series"][0]["points"].as_array().unwrap().clone();
    assert_eq!(pts.len(), 200);
    for (m, p) in pts.iter().enumerate() {
        assert_eq!(p[0].as_i64(), Some(base + m as i64 * MINUTE));
        let want = per_minute.get(m).copied().unwrap_or(0);
        assert_eq!(p[1].as_u64(), Some(want), "minute {m}");
    }
    // Split by service, with a query: the api errors per minute.
    let r = srv
        .http
        .get(&format!(
            "/api/v1/series?index=app-logs&query=level:ERROR&split=@service&from={}&to={}&interval=1m",
            base + 119 * MINUTE,
            base + 123 * MINUTE
        ))
        .await;
    let v = r.json();
    let api = v["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "api")
        .cloned()
        .unwrap();
    let counts: Vec<u64> = api["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[1].as_u64().unwrap())
        .collect();
    assert_eq!(counts, vec![1, 40, 40, 1], "{v}");

    // Patterns: the api error template, counted as generated.
    let errors_total: u64 = (0..180)
        .map(|m| if (120..122).contains(&m) { 40 } else { 1 })
        .sum();
    let r = srv
        .http
        .get(&format!("/api/v1/patterns?index=app-logs&query=service:api%20AND%20level:ERROR&from={base}&to={now}"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    let pats = r.json()["patterns"].as_array().cloned().unwrap();
    assert_eq!(pats.len(), 1, "{pats:?}");
    let p = &pats[0];
    assert_eq!(p["count"].as_u64(), Some(errors_total));
    assert_eq!(p["template"], "payment gateway timeout after <DURATION>");
    assert_eq!(p["levels"]["ERROR"].as_u64(), Some(errors_total));
    assert_eq!(p["samples"].as_array().unwrap().len(), 3);
    let spark: u64 = p["sparkline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .sum();
    assert_eq!(spark, errors_total);
    // `_pattern` search and terms give the same count.
    let id = p["id"].as_str().unwrap().to_string();
    assert_eq!(
        srv.http
            .count(
                "app-logs",
                Some(json!({"query_string": {"query": format!("_pattern:{id}")}}))
            )
            .await,
        errors_total
    );
    let r = srv
        .http
        .post_json(
            "/app-logs/_search",
            &json!({"size": 0, "query": {"term": {"service.keyword": "api"}},
                    "aggs": {"p": {"terms": {"field": "_pattern", "size": 10}}}}),
        )
        .await;
    let buckets = r.json()["aggregations"]["p"]["buckets"]
        .as_array()
        .cloned()
        .unwrap();
    let b = buckets.iter().find(|b| b["key"] == id.as_str()).unwrap();
    assert_eq!(b["doc_count"].as_u64(), Some(errors_total));

    // Detection over the past range finds the three incidents.
    let r = srv
        .http
        .post_json(
            "/api/v1/anomalies/_detect",
            &json!({"from": base + 110 * MINUTE, "to": base + 180 * MINUTE}),
        )
        .await;
    let list = anomalies_of(&r);
    assert!(
        r.json()["errors"].as_array().unwrap().is_empty(),
        "{}",
        r.text_preview()
    );
    let t = |m: i64| base + m * MINUTE;
    assert!(
        found(&list, "spike", "errors_by_service:api", t(120), t(122))
            || found(
                &list,
                "error_ratio",
                "error_ratio_by_service:api",
                t(120),
                t(122)
            ),
        "no api error burst in {list:#?}"
    );
    assert!(
        found(
            &list,
            "error_ratio",
            "error_ratio_by_service:api",
            t(120),
            t(122)
        ),
        "{list:#?}"
    );
    assert!(
        found(&list, "silence", "volume_by_service:db", t(140), t(142)),
        "{list:#?}"
    );
    let new: Vec<&Value> = list.iter().filter(|a| a["kind"] == "new_pattern").collect();
    assert!(
        new.iter()
            .any(|a| a["template"] == "disk quota exceeded on volume <NUM>"
                && a["start"].as_i64() == Some(t(160))),
        "{new:#?}"
    );
    // Nothing high outside the incidents.
    let incident =
        |s: i64| (t(120)..t(123)).contains(&s) || (t(140)..t(151)).contains(&s) || s >= t(160);
    let stray: Vec<&Value> = list
        .iter()
        .filter(|a| a["severity"] == "high" && !incident(a["start"].as_i64().unwrap()))
        .collect();
    assert!(stray.is_empty(), "false alarms: {stray:#?}");

    // Stored: the list shows them, a second detection stores nothing twice.
    let stored = anomalies_of(&srv.http.get("/api/v1/anomalies").await);
    assert_eq!(stored.len(), list.len());
    let again = anomalies_of(
        &srv.http
            .post_json(
                "/api/v1/anomalies/_detect",
                &json!({"from": base + 110 * MINUTE, "to": base + 180 * MINUTE}),
            )
            .await,
    );
    assert_eq!(again.len(), list.len());
    assert_eq!(
        anomalies_of(&srv.http.get("/api/v1/anomalies").await).len(),
        stored.len()
    );
    let silence = anomalies_of(
        &srv.http
            .get("/api/v1/anomalies?kind=silence&service=db")
            .await,
    );
    assert_eq!(silence.len(), 1, "{silence:#?}");

    // They survive a restart.
    srv.shutdown().await;
    let mut cfg = util::test_config(dir.path());
    cfg.analysis.interval_ms = 60_000;
    let srv = InProcess::start(cfg).await;
    let after = anomalies_of(&srv.http.get("/api/v1/anomalies").await);
    let ids = |l: &[Value]| {
        let mut v: Vec<String> = l
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(ids(&after), ids(&stored));
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let srv = InProcess::start(util::test_config(dir.path())).await;
    for (path, param) in [
        ("/api/v1/series?interval=-5m", "interval"),
        ("/api/v1/series?interval=1s&from=now-30d", "interval"),
        ("/api/v1/series?metric=median", "metric"),
        ("/api/v1/series?metric=avg", "field"),
        ("/api/v1/series?split=service&size=0", "size"),
        ("/api/v1/series?from=yesterday", "from"),
        ("/api/v1/series?query=level:(ERROR", "query"),
        ("/api/v1/series?intervall=1m", "intervall"),
        ("/api/v1/patterns?size=100000", "size"),
        ("/api/v1/anomalies?kind=meteor", "kind"),
        ("/api/v1/anomalies?min_severity=huge", "min_severity"),
    ] {
        let r = srv.http.get(path).await;
        let (typ, reason) = util::assert_es_error(&r, 400);
        assert_eq!(typ, "illegal_argument_exception", "{path}: {reason}");
        assert!(
            reason.starts_with(&format!("[{param}]")),
            "{path}: {reason}"
        );
    }
    let r = srv
        .http
        .post_json("/api/v1/anomalies/_detect", &json!({"watch": "nope"}))
        .await;
    let (_, reason) = util::assert_es_error(&r, 400);
    assert!(reason.contains("no watch 'nope'"), "{reason}");
    let r = srv
        .http
        .send(
            "POST",
            "/api/v1/series",
            Some((b"{not json".to_vec(), "application/json")),
        )
        .await;
    util::assert_es_error(&r, 400);
    srv.shutdown().await;
}

/// The live watch, at a 10 s interval, finds an error burst within two
/// intervals of its arrival, over history backfilled just before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_watch_finds_an_error_burst_within_two_intervals() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = util::test_config(dir.path());
    let iv = 10_000;
    cfg.analysis.interval_ms = iv;
    cfg.analysis.lookback_ms = 3_600_000;
    let srv = InProcess::start(cfg).await;
    let now = logweave::event::now_ms();
    let start = now - now.rem_euclid(iv) - 150 * iv;
    let mut r = Lcg(7);
    let mut docs = Vec::new();
    for b in 0..150 {
        let t0 = start + b * iv;
        for i in 0..(8 + r.next(5)) {
            docs.push(doc(
                t0 + i as i64 * 700,
                "INFO",
                "api",
                format!("GET /api/items/{} 200", r.next(1000)),
            ));
        }
        if b % 3 == 0 {
            docs.push(doc(
                t0 + 300,
                "ERROR",
                "api",
                "upstream refused the connection".into(),
            ));
        }
    }
    bulk(&srv, &docs).await;
    let burst_at = logweave::event::now_ms();
    let burst: Vec<_> = (0..60)
        .map(|i| {
            doc(
                burst_at + i * 50,
                "ERROR",
                "api",
                "upstream refused the connection".into(),
            )
        })
        .collect();
    bulk(&srv, &burst).await;
    let deadline = burst_at - burst_at.rem_euclid(iv) + 3 * iv + 6_000;
    let mut seen = false;
    while logweave::event::now_ms() < deadline {
        let list = anomalies_of(&srv.http.get("/api/v1/anomalies?service=api").await);
        if list.iter().any(|a| {
            (a["kind"] == "spike" || a["kind"] == "error_ratio")
                && a["start"].as_i64().is_some_and(|s| s >= burst_at - iv)
        }) {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(seen, "no anomaly for the burst within two intervals");
    srv.shutdown().await;
}

/// `logweave analyze series|patterns` against a server print what it holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyze_commands_read_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let srv = InProcess::start(util::test_config(dir.path())).await;
    let t = logweave::event::now_ms() - 5 * MINUTE;
    let docs: Vec<_> = (0..10)
        .map(|i| {
            doc(
                t + i,
                "WARN",
                "api",
                format!("cache miss for key {}", 100 + i),
            )
        })
        .collect();
    bulk(&srv, &docs).await;
    let server = format!("http://{}", srv.addr());
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_logweave"))
            .args(args)
            .output()
            .expect("running logweave");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let s = run(&[
        "analyze",
        "series",
        "--server",
        &server,
        "--since",
        "10m",
        "--interval",
        "1m",
        "--json",
        "level:WARN",
    ]);
    let v: Value = serde_json::from_str(&s).unwrap();
    let total: u64 = v["series"][0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[1].as_u64().unwrap())
        .sum();
    assert_eq!(total, 10, "{s}");
    let table = run(&[
        "analyze", "series", "--server", &server, "--since", "10m", "--split", "@service",
    ]);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("api ") && l.contains("total 10")),
        "{table}"
    );
    let table = run(&["analyze", "patterns", "--server", &server, "--since", "10m"]);
    assert!(
        table
            .lines()
            .any(|l| l.trim_start().starts_with("10 ") && l.ends_with("cache miss for key <NUM>")),
        "{table}"
    );
    srv.shutdown().await;
}

/// Ids merged into one template are one `terms` bucket on `_pattern`, and
/// `_pattern:<id>` of that bucket finds all of its events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terms_on_pattern_count_merged_ids_as_one_template() {
    let dir = tempfile::tempdir().unwrap();
    let srv = InProcess::start(util::test_config(dir.path())).await;
    let t = logweave::event::now_ms() - MINUTE;
    let names = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"];
    // one request per event, so the first ones are stored before the merge
    for (i, n) in names.iter().enumerate() {
        bulk(
            &srv,
            &[doc(
                t + i as i64,
                "INFO",
                "batch",
                format!("job {n} finished"),
            )],
        )
        .await;
    }
    let r = srv
        .http
        .post_json(
            "/_search",
            &json!({"size": 0, "aggs": {"p": {"terms": {"field": "_pattern"}}, "m": {"missing": {"field": "_pattern"}}}}),
        )
        .await;
    assert_eq!(
        r.json()["aggregations"]["m"]["doc_count"],
        0,
        "events without a pattern"
    );
    let buckets = r.json()["aggregations"]["p"]["buckets"]
        .as_array()
        .cloned()
        .unwrap();
    assert_eq!(buckets.len(), 1, "{buckets:?}");
    assert_eq!(buckets[0]["doc_count"], 6);
    let id = buckets[0]["key"].as_str().unwrap();
    let q = json!({"query_string": {"query": format!("_pattern:{id}")}});
    assert_eq!(srv.http.count("*", Some(q)).await, 6);
    srv.shutdown().await;
}

/// `/api/v1/forecast` with `ses` and alpha 0.3 smooths the counts exactly
/// as the classic script does, and forecasts `horizon` points with ordered
/// bands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forecast_ses_reproduces_the_classic_formula() {
    let dir = tempfile::tempdir().unwrap();
    let srv = InProcess::start(util::test_config(dir.path())).await;
    let now = logweave::event::now_ms();
    let base = now - now.rem_euclid(MINUTE) - 60 * MINUTE;
    let mut r = Lcg(3);
    let counts: Vec<u64> = (0..30).map(|_| 5 + r.next(20)).collect();
    let mut docs = Vec::new();
    for (m, c) in counts.iter().enumerate() {
        for i in 0..*c {
            docs.push(doc(
                base + m as i64 * MINUTE + i as i64 * 100,
                "INFO",
                "api",
                format!("tick {i}"),
            ));
        }
    }
    bulk(&srv, &docs).await;
    let r = srv
        .http
        .get(&format!(
            "/api/v1/forecast?index=app-logs&from={base}&to={}&interval=1m&model=ses&alpha=0.3&horizon=5",
            base + 30 * MINUTE
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    let v = r.json();
    assert_eq!(v["model"], "ses");
    let pts = v["points"].as_array().unwrap();
    assert_eq!(pts.len(), 30);
    let mut s = counts[0] as f64;
    for (i, p) in pts.iter().enumerate() {
        if i > 0 {
            s = 0.3 * counts[i] as f64 + 0.7 * s;
        }
        assert_eq!(p["actual"].as_u64(), Some(counts[i]));
        let got = p["smoothed"].as_f64().unwrap();
        assert!((got - s).abs() < 1e-9, "point {i}: {got} vs {s}");
    }
    let fut = v["forecast"].as_array().unwrap();
    assert_eq!(fut.len(), 5);
    for (i, f) in fut.iter().enumerate() {
        assert_eq!(f["ts"].as_i64(), Some(base + (30 + i as i64) * MINUTE));
        assert!((f["forecast"].as_f64().unwrap() - s).abs() < 1e-9);
        let b: Vec<f64> = ["lower95", "lower80", "forecast", "upper80", "upper95"]
            .iter()
            .map(|k| f[k].as_f64().unwrap())
            .collect();
        assert!(b.windows(2).all(|w| w[0] < w[1]), "{f}");
    }
    for (q, param) in [
        ("model=prophet", "model"),
        ("alpha=1.5", "alpha"),
        ("horizon=0", "horizon"),
    ] {
        let r = srv.http.get(&format!("/api/v1/forecast?{q}")).await;
        let (_, reason) = util::assert_es_error(&r, 400);
        assert!(reason.starts_with(&format!("[{param}]")), "{q}: {reason}");
    }
    srv.shutdown().await;
}

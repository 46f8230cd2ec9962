//! `logweave bench alerting`: the alerting issue's speed figures. A server
//! (child process) holds `--events` generated events over the last day;
//! then `--rules` rules (counts per group, ratios, changes, percentiles,
//! cardinalities, every 30 s, 5 minute windows) are loaded by a reload and
//! run for `--rounds` rounds. Reported: the time one round of all rules
//! takes, the server's CPU share while they run, and the time from a
//! probe burst's `_bulk` to its webhook notification arriving here.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::Value;

use super::bench::{cpu_secs, peak_rss_kib, tempdir, BenchArgs};
use crate::generate::{GenOptions, Generator};

const SERVICES: [&str; 8] = [
    "api", "web", "db", "auth", "search", "cart", "checkout", "mail",
];
const EVERY_S: u64 = 30;

/// The rules file: `n` rules of five kinds, spread over the services, and
/// one probe rule whose notification times the pipeline.
fn rules_toml(n: usize, hook: &str, enabled: bool) -> String {
    let mut t = format!(
        "[analysis]\nenabled = false\n\n[alerting]\nenabled = {enabled}\n\n[alerting.channels.sink]\ntype = \"webhook\"\nurl = \"{hook}/sink\"\n\n[alerting.channels.probe]\ntype = \"webhook\"\nurl = \"{hook}/probe\"\n\n"
    );
    for i in 0..n {
        let svc = SERVICES[i % SERVICES.len()];
        let (query, group, cond) = match i % 5 {
            0 => (
                format!("level:ERROR AND service:{svc}"),
                "\"host\"",
                format!("{{ type = \"count\", above = {} }}", 50 + i % 100),
            ),
            1 => (
                format!("service:{svc}"),
                "\"host\"",
                "{ type = \"ratio\", numerator = \"level:ERROR\", above = 0.2, min_denominator = 50 }"
                    .to_string(),
            ),
            2 => (
                format!("service:{svc} AND level:WARN"),
                "\"host\"",
                "{ type = \"change\", factor = 3.0 }".to_string(),
            ),
            3 => (
                format!("service:{svc}"),
                "\"host\"",
                "{ type = \"metric\", field = \"latency_ms\", agg = \"percentile\", percentile = 99, above = 5000 }"
                    .to_string(),
            ),
            _ => (
                format!("service:{svc} AND status:500"),
                "\"service\"",
                "{ type = \"cardinality\", field = \"host\", above = 10 }".to_string(),
            ),
        };
        t.push_str(&format!(
            "[[alerting.rules]]\nname = \"r{i}\"\nindex = \"bench-*\"\nquery = \"{query}\"\nwindow = \"5m\"\nevery = \"{EVERY_S}s\"\ngroup_by = [{group}]\ncondition = {cond}\nrepeat_interval = \"0s\"\nchannels = [\"sink\"]\n\n"
        ));
    }
    t.push_str(&format!(
        "[[alerting.rules]]\nname = \"probe\"\nindex = \"bench-*\"\nquery = \"service:probe AND level:ERROR\"\nwindow = \"1m\"\nevery = \"{EVERY_S}s\"\ngroup_by = [\"host\"]\ncondition = {{ type = \"count\", above = 4 }}\nrepeat_interval = \"0s\"\nchannels = [\"probe\"]\n"
    ));
    t
}

/// A webhook receiver: the arrival time (epoch ms) and the alert's
/// `startsAt` (the round that fired it) of each probe notification by host.
type Arrivals = Arc<Mutex<Vec<(String, i64, i64)>>>;

async fn receiver() -> anyhow::Result<(String, Arrivals, Arc<Mutex<u64>>)> {
    let got: Arrivals = Arc::default();
    let sink: Arc<Mutex<u64>> = Arc::default();
    let (g, s) = (got.clone(), sink.clone());
    let app = axum::Router::new()
        .route(
            "/probe",
            axum::routing::post(move |body: axum::body::Bytes| {
                let g = g.clone();
                async move {
                    let at = crate::event::now_ms();
                    if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                        for a in v["alerts"].as_array().into_iter().flatten() {
                            let host = a["labels"]["host"].as_str().unwrap_or("").to_string();
                            let fired = a["startsAt"]
                                .as_str()
                                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                                .map_or(at, |t| t.as_millisecond());
                            g.lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .push((host, at, fired));
                        }
                    }
                    "ok"
                }
            }),
        )
        .route(
            "/sink",
            axum::routing::post(move || {
                let s = s.clone();
                async move {
                    *s.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                    "ok"
                }
            }),
        );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    Ok((format!("http://{addr}"), got, sink))
}

async fn scheduler(client: &reqwest::Client, base: &str) -> anyhow::Result<Value> {
    let v: Value = client
        .get(format!("{base}/api/v1/rules"))
        .send()
        .await?
        .json()
        .await?;
    Ok(v["scheduler"].clone())
}

fn line(ms: i64, host: &str, i: u64) -> String {
    serde_json::json!({
        "timestamp": crate::generate::format_ts(ms),
        "level": "ERROR",
        "service": "probe",
        "host": host,
        "message": format!("probe {i} failed"),
    })
    .to_string()
}

pub async fn alerting(args: BenchArgs) -> anyhow::Result<i32> {
    let dir = match &args.data_dir {
        Some(d) => d.clone(),
        None => tempdir()?,
    };
    std::fs::create_dir_all(&dir)?;
    let (hook, arrivals, sink) = receiver().await?;
    let cfg = dir.join("bench-alerting.toml");
    // loaded with the alerting off, so the rules do not compete with the
    // ingest; switched on by a reload once the events are in
    std::fs::write(&cfg, rules_toml(args.rules, &hook, false))?;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let (mut child, base) = super::bench_forward::spawn_server(
        &dir.join("data"),
        Some(&cfg),
        port,
        "127.0.0.1:0",
        "127.0.0.1:0",
    )
    .await?;
    let pid = child.id();
    let client = reqwest::Client::new();
    println!(
        "bench alerting: {} events over the last 24 h, {} rules every {EVERY_S} s, {} rounds; data dir {}",
        args.events,
        args.rules,
        args.rounds,
        dir.display()
    );

    // the events: a day ending now, generated by the senders as they go
    let now = crate::event::now_ms();
    let start_ms = now - 86_400_000;
    let step = 86_400_000.0 / args.events.max(1) as f64;
    let batches = args.events.div_ceil(args.batch);
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (next, client, url) = (next.clone(), client.clone(), format!("{base}/_bulk"));
        let (events, batch) = (args.events, args.batch);
        tasks.push(tokio::spawn(async move {
            loop {
                let b = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if b >= batches {
                    return anyhow::Ok(());
                }
                let first = b * batch;
                let n = batch.min(events - first);
                let mut g = Generator::new(GenOptions {
                    services: SERVICES.iter().map(|s| s.to_string()).collect(),
                    seed: b * 31 + 7,
                    start_ms: start_ms + (first as f64 * step) as i64,
                    step_ms: step,
                    error_bursts: true,
                    stack_traces: false,
                });
                let mut body = String::with_capacity(n as usize * 240);
                for _ in 0..n {
                    body.push_str("{\"index\":{\"_index\":\"bench-%{+YYYY.MM.dd}\"}}\n");
                    body.push_str(&g.next_line());
                    body.push('\n');
                }
                let r = client
                    .post(&url)
                    .header("content-type", "application/x-ndjson")
                    .body(body)
                    .send()
                    .await?;
                anyhow::ensure!(r.status().is_success(), "bulk answered {}", r.status());
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    client.post(format!("{base}/_refresh")).send().await?;
    let ingest_s = t0.elapsed().as_secs_f64();
    println!(
        "  ingest: {} events in {ingest_s:.1} s ({:.0} events/s)",
        args.events,
        args.events as f64 / ingest_s
    );

    // the rules on: one reload
    std::fs::write(&cfg, rules_toml(args.rules, &hook, true))?;
    let r = client
        .post(format!("{base}/api/v1/rules/_reload"))
        .send()
        .await?;
    anyhow::ensure!(
        r.status().is_success(),
        "reload answered {}: {}",
        r.status(),
        r.text().await.unwrap_or_default()
    );
    let total_rules = args.rules as u64 + 1;
    // the first round: every rule is due at once
    let first_started = Instant::now();
    loop {
        let s = scheduler(&client, &base).await?;
        if s["evaluations"].as_u64().unwrap_or(0) >= total_rules {
            break;
        }
        anyhow::ensure!(
            first_started.elapsed() < Duration::from_secs(600),
            "the first round did not finish in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let first_round_s = first_started.elapsed().as_secs_f64();
    println!(
        "  first round: {total_rules} rules in {first_round_s:.2} s ({:.1} ms per rule)",
        first_round_s * 1000.0 / total_rules as f64
    );

    // steady rounds: CPU share, round time from the scheduler's busy time;
    // a probe burst in each round times event to notification
    let s0 = scheduler(&client, &base).await?;
    let cpu0 = cpu_secs(pid);
    let w0 = Instant::now();
    let mut latencies = Vec::new();
    let mut pipeline = Vec::new();
    for round in 0..args.rounds {
        // probes at different points of the rules' round, as events come
        let offset = Duration::from_millis(EVERY_S * 1000 * (round as u64 % 4) / 4 + 1000);
        tokio::time::sleep(
            (w0 + Duration::from_secs(EVERY_S * round as u64) + offset)
                .saturating_duration_since(Instant::now()),
        )
        .await;
        let host = format!("probe-{round}");
        let sent = Instant::now();
        let t = crate::event::now_ms();
        let mut body = String::new();
        for i in 0..6 {
            body.push_str("{\"index\":{\"_index\":\"bench-%{+YYYY.MM.dd}\"}}\n");
            body.push_str(&line(t, &host, i));
            body.push('\n');
        }
        client
            .post(format!("{base}/_bulk"))
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await?
            .error_for_status()
            .context("sending the probe")?;
        let deadline = sent + Duration::from_secs(EVERY_S * 3);
        loop {
            let hit = arrivals
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .find(|(h, _, _)| *h == host)
                .map(|(_, at, fired)| (*at, *fired));
            if let Some((at, fired)) = hit {
                latencies.push((at - t) as f64 / 1000.0);
                pipeline.push((at - fired) as f64 / 1000.0);
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "probe {round} never notified");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // the rest of the last round
    let end = w0 + Duration::from_secs(EVERY_S * args.rounds as u64);
    tokio::time::sleep(end.saturating_duration_since(Instant::now())).await;
    let wall = w0.elapsed().as_secs_f64();
    let cpu = cpu_secs(pid) - cpu0;
    let s1 = scheduler(&client, &base).await?;
    let evals = s1["evaluations"].as_u64().unwrap_or(0) - s0["evaluations"].as_u64().unwrap_or(0);
    let busy_s =
        (s1["busy_us"].as_u64().unwrap_or(0) - s0["busy_us"].as_u64().unwrap_or(0)) as f64 / 1e6;
    let rounds_done = evals as f64 / total_rules as f64;
    let mid = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        (
            v.get(v.len() / 2).copied().unwrap_or(f64::NAN),
            v.last().copied().unwrap_or(f64::NAN),
        )
    };
    let (median, max) = mid(&mut latencies);
    let (p_median, p_max) = mid(&mut pipeline);
    println!(
        "  steady: {evals} evaluations ({rounds_done:.1} rounds) in {wall:.0} s; round time {:.2} s (evaluation time of one round of {total_rules} rules)",
        busy_s / rounds_done.max(1e-9)
    );
    println!(
        "  server CPU: {cpu:.1} s in {wall:.0} s = {:.1} % of one core (target < 10 %)",
        cpu / wall * 100.0
    );
    println!(
        "  event to notification: median {median:.2} s, max {max:.2} s over {} probes sent at 1, 8.5, 16 and 23.5 s into a round (rules every {EVERY_S} s: the wait for the next round dominates)",
        latencies.len()
    );
    println!(
        "  from the round that fired to the notification arriving: median {p_median:.3} s, max {p_max:.3} s"
    );
    println!(
        "  scheduler: {} failures, lag of the last evaluation {} ms (max {} ms); {} sink notifications",
        s1["failures"],
        s1["last_lag_ms"],
        s1["max_lag_ms"],
        *sink.lock().unwrap_or_else(|e| e.into_inner())
    );
    if let Some(kib) = peak_rss_kib(pid) {
        println!("  server peak RSS: {} MiB", kib / 1024);
    }
    let _ = child.kill();
    let _ = child.wait();
    if args.data_dir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(0)
}

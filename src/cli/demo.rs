//! `logweave demo`: the whole story on one machine: a generator writing a
//! log file, the agent tailing that file into the server over the Fluentd
//! forward protocol (routed by tag to `app-logs-*`), the server with the
//! embedded store, and instructions for querying it.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::config::Config;
use crate::generate::{GenOptions, Generator};

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Address of the HTTP API.
    #[arg(long, default_value = "127.0.0.1:9200")]
    pub http_addr: String,
    /// Address of the Fluentd forward input (the demo's agent sends there).
    #[arg(long, default_value = "127.0.0.1:24224")]
    pub forward_addr: String,
    /// Address of the syslog input (TCP and UDP).
    #[arg(long, default_value = "127.0.0.1:5514")]
    pub syslog_addr: String,
    /// Data directory (kept between runs).
    #[arg(long, default_value = "./logweave-demo")]
    pub data_dir: PathBuf,
    /// Historic events written at start, spread over the last two hours.
    #[arg(long, default_value_t = 20_000)]
    pub events: u64,
    /// Live events per second after that.
    #[arg(long, default_value_t = 5)]
    pub rate: u64,
    /// Stop after this many seconds (0 = until Ctrl-C).
    #[arg(long, default_value_t = 0)]
    pub seconds: u64,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<i32> {
    let mut cfg = Config::default_config();
    cfg.data_dir = args.data_dir.clone();
    cfg.http_addr = args.http_addr.parse().with_context(|| {
        format!(
            "--http-addr '{}' is not an address like 127.0.0.1:9200",
            args.http_addr
        )
    })?;
    cfg.forward_addr = args.forward_addr.parse().with_context(|| {
        format!(
            "--forward-addr '{}' is not an address like 127.0.0.1:24224",
            args.forward_addr
        )
    })?;
    cfg.syslog_addr = args.syslog_addr.parse().with_context(|| {
        format!(
            "--syslog-addr '{}' is not an address like 127.0.0.1:5514",
            args.syslog_addr
        )
    })?;
    cfg.routes = vec![crate::route::Route::new(
        "app.**",
        "app-logs-%{+YYYY.MM.dd}",
        None,
        false,
        crate::route::TimeSource::Record,
    )?];
    // the classic ERROR-polling script's job, without its flood: one alert
    // per service, into the server log
    cfg.alerting = crate::config::alerting::AlertingConfig::demo("app-logs-*");
    let running = crate::server::start(cfg).await?;
    let forward = running
        .forward_addr
        .context("the demo needs the forward input")?;
    let base = format!("http://{}", running.http_addr);
    let log_path = args.data_dir.join("demo-app.log");
    // History: the last two hours.
    {
        let span_ms = 2 * 3600 * 1000;
        let mut g = Generator::new(GenOptions {
            services: vec![
                "app1".into(),
                "app2".into(),
                "app3".into(),
                "checkout".into(),
            ],
            seed: crate::event::now_ms() as u64,
            start_ms: crate::event::now_ms() - span_ms,
            step_ms: span_ms as f64 / args.events.max(1) as f64,
            error_bursts: true,
            stack_traces: true,
        });
        let mut f = std::io::BufWriter::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
                .with_context(|| format!("opening {}", log_path.display()))?,
        );
        for _ in 0..args.events {
            writeln!(f, "{}", g.next_line())?;
        }
        f.flush()?;
    }
    // Live: a few events a second.
    let live_path = log_path.clone();
    let rate = args.rate;
    tokio::spawn(async move {
        let mut g = Generator::new(GenOptions {
            services: vec![
                "app1".into(),
                "app2".into(),
                "app3".into(),
                "checkout".into(),
            ],
            seed: 7,
            start_ms: crate::event::now_ms(),
            step_ms: 1000.0 / rate.max(1) as f64,
            error_bursts: true,
            stack_traces: true,
        });
        let mut tick = tokio::time::interval(Duration::from_millis(1000 / rate.max(1)));
        let started = std::time::Instant::now();
        let mut incidents = Incidents::default();
        loop {
            tick.tick().await;
            let now = crate::event::now_ms();
            let mut recs = vec![g.next_record()];
            recs.extend(incidents.due(started.elapsed().as_secs()));
            if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(&live_path) {
                for mut rec in recs {
                    rec["timestamp"] = serde_json::json!(crate::generate::format_ts(now));
                    let _ = writeln!(f, "{rec}");
                }
            }
        }
    });
    // The agent: tail the file into the forward input. Its positions live
    // in the data directory, so a rerun ships only what is new.
    let agent_toml = format!(
        "[agent]\ndata_dir = {dir}\nlog_interval_secs = 0\n\
         [[agent.sources]]\ntype = \"tail\"\npaths = [{path}]\ntag = \"app.demo\"\nread_from_head = true\n\
         [agent.output]\nservers = [\"{forward}\"]\n",
        dir = toml_str(&args.data_dir.join("agent").display().to_string()),
        path = toml_str(&log_path.display().to_string()),
    );
    let agent_cfg = Config::from_str(&agent_toml, "<demo agent>")?.agent;
    let stop_agent = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (agent, _) = crate::agent::start(agent_cfg, stop_agent.clone())?;
    // Once the agent has shipped the history, look for anomalies in it, so
    // the first look at /api/v1/anomalies already shows some.
    {
        let base = base.clone();
        let want = args.events;
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            for _ in 0..120 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let n = match client.get(format!("{base}/app-logs-*/_count")).send().await {
                    Ok(r) => r
                        .json::<serde_json::Value>()
                        .await
                        .ok()
                        .and_then(|v| v["count"].as_u64()),
                    Err(_) => None,
                };
                if n.is_some_and(|n| n >= want) {
                    break;
                }
            }
            let body = serde_json::json!({"from": "now-2h", "to": "now"});
            match client
                .post(format!("{base}/api/v1/anomalies/_detect"))
                .json(&body)
                .send()
                .await
            {
                Ok(r) => {
                    tracing::info!(status = %r.status(), "detection over the demo's history done")
                }
                Err(e) => tracing::warn!(error = %e, "detection over the demo's history failed"),
            }
        });
    }
    println!(
        "\nlogweave demo is running.\n\
         \n  log file being generated: {log}\n  agent tailing it into the forward input: {forward} (tag app.demo → index app-logs-*)\n  data directory: {data}\n  Elasticsearch-compatible API: {base}\n  dashboard: {base}/ui/\n\
         \nTry:\n  curl '{base}/_cat/indices?v'\n  curl '{base}/app-logs-*/_search?q=level:ERROR&size=3&pretty'\n  curl -H 'content-type: application/json' '{base}/app-logs-*/_search' -d '{{\"size\":0,\"aggs\":{{\"levels\":{{\"terms\":{{\"field\":\"level.keyword\"}}}}}}}}'\n  {me} search --server {base} --since 15m 'level:ERROR AND service:checkout'\n  python3 -c \"from elasticsearch import Elasticsearch; print(Elasticsearch('{base}').count(index='app-logs-*'))\"\n\
         \nAnalysis (watches run every minute; an error burst in checkout every 3 minutes, a new ERROR message every 4):\n  {me} analyze series --server {base} --since 2h --split @level\n  {me} analyze patterns --server {base} --since 15m 'level:ERROR'\n  {me} analyze anomalies --server {base} --since 2h\n  curl '{base}/api/v1/anomalies?min_severity=medium'\n  curl -N '{base}/api/v1/stream'\n\
         \nAlerts (rules errors_by_service: more than 10 ERROR/FATAL events in 5 minutes from one service, and high_anomalies: every high-severity anomaly; FIRING and RESOLVED lines in this log):\n  {me} alerts --server {base}\n  curl '{base}/api/v1/rules'\n\
         \nOpen the dashboard: {base}/ui/#index=app-logs-*  (search with fields, live tail and export; trend and forecast; patterns; alerts; indices). Ctrl-C stops.\n",
        log = log_path.display(),
        data = args.data_dir.display(),
        me = invoked_as(),
    );
    if args.seconds > 0 {
        tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    } else {
        let _ = tokio::signal::ctrl_c().await;
    }
    stop_agent.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = tokio::task::spawn_blocking(move || agent.join()).await;
    running.shutdown.cancel();
    running.task.await??;
    Ok(0)
}

/// The command the user ran, to repeat in instructions: the path this
/// binary was started by (as typed, or found on PATH), else `logweave`;
/// quoted for a POSIX shell when it needs to be.
fn invoked_as() -> String {
    let me = std::env::args_os()
        .next()
        .map(|a| a.to_string_lossy().into_owned())
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "logweave".into());
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+:@%=,".contains(c);
    if me.chars().all(plain) {
        me
    } else {
        format!("'{}'", me.replace('\'', r"'\''"))
    }
}

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// What the demo's live generator injects so that the watches have
/// something to find: an error burst in `checkout` every 3 minutes and a
/// never-seen ERROR message every 4.
#[derive(Default)]
struct Incidents {
    bursts: u64,
    novel: usize,
}

/// ERROR messages the generator never writes otherwise, one new template each.
const NOVEL_ERRORS: &[&str] = &[
    "TLS handshake with payments.internal failed: certificate expired",
    "disk quota exceeded on volume data-7",
    "circuit breaker opened for inventory after 5 consecutive failures",
    "kafka consumer group orders-v2 rebalance did not finish",
    "schema migration 2026_11_30 left table carts locked",
    "OOM killer stopped worker process in pool image-resize",
];

impl Incidents {
    /// The extra records due `secs` seconds after the live generator started.
    fn due(&mut self, secs: u64) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        // a burst lasts 20 s of the third minute of every three
        if secs % 180 >= 120 && secs % 180 < 140 {
            self.bursts += 1;
            for _ in 0..3 {
                out.push(serde_json::json!({
                    "level": "ERROR", "service": "checkout", "host": "node-2",
                    "message": format!("payment provider answered 503 for order {}", 40_000 + self.bursts),
                }));
            }
        }
        let n = (secs / 240) as usize;
        if n > self.novel && n <= NOVEL_ERRORS.len() {
            self.novel = n;
            out.push(serde_json::json!({
                "level": "ERROR", "service": "app2", "host": "node-3",
                "message": NOVEL_ERRORS[n - 1],
            }));
        }
        out
    }
}

//! `logweave demo`: a server with the embedded store, a generator writing a
//! log file, a shipper tailing that file into the server over `_bulk`, and
//! instructions for querying it. (The tailing agent of the collection issue
//! will replace the in-process shipper.)

use std::io::{Read, Seek, SeekFrom, Write};
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
    let running = crate::server::start(cfg).await?;
    let base = format!("http://{}", running.http_addr);
    let log_path = args.data_dir.join("demo-app.log");
    // A rerun on the same data directory ships only what this run writes.
    let start_offset = std::fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);
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
        loop {
            tick.tick().await;
            let mut rec = g.next_record();
            rec["timestamp"] =
                serde_json::json!(crate::generate::format_ts(crate::event::now_ms()));
            if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(&live_path) {
                let _ = writeln!(f, "{rec}");
            }
        }
    });
    // Shipper: tail the file into the server's _bulk API.
    let ship_path = log_path.clone();
    let ship_url = format!("{base}/_bulk");
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        let mut offset = start_offset;
        let mut carry = Vec::new();
        loop {
            let mut buf = Vec::new();
            if let Ok(mut f) = std::fs::File::open(&ship_path) {
                if f.seek(SeekFrom::Start(offset)).is_ok() {
                    let _ = f.take(8 * 1024 * 1024).read_to_end(&mut buf);
                }
            }
            if buf.is_empty() {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            // Everything read is either shipped below or kept in `carry`.
            offset += buf.len() as u64;
            carry.extend_from_slice(&buf);
            let Some(last_nl) = carry.iter().rposition(|b| *b == b'\n') else {
                continue;
            };
            let complete: Vec<u8> = carry.drain(..=last_nl).collect();
            let mut body = Vec::with_capacity(complete.len() * 2);
            for line in complete.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                body.extend_from_slice(b"{\"index\":{\"_index\":\"app-logs-%{+YYYY.MM.dd}\"}}\n");
                body.extend_from_slice(line);
                body.push(b'\n');
            }
            loop {
                match client
                    .post(&ship_url)
                    .header("content-type", "application/x-ndjson")
                    .body(body.clone())
                    .send()
                    .await
                {
                    Ok(r) if r.status().is_success() => break,
                    Ok(r) => {
                        tracing::warn!(status = %r.status(), "demo shipper: bulk refused, retrying")
                    }
                    Err(e) => tracing::warn!(error = %e, "demo shipper: bulk failed, retrying"),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    });
    println!(
        "\nlogweave demo is running.\n\
         \n  log file being generated and shipped: {log}\n  data directory: {data}\n  Elasticsearch-compatible API: {base}\n\
         \nTry:\n  curl '{base}/_cat/indices?v'\n  curl '{base}/app-logs-*/_search?q=level:ERROR&size=3&pretty'\n  curl -H 'content-type: application/json' '{base}/app-logs-*/_search' -d '{{\"size\":0,\"aggs\":{{\"levels\":{{\"terms\":{{\"field\":\"level.keyword\"}}}}}}}}'\n  cargo run --release -- search --server {base} --since 15m 'level:ERROR AND service:checkout'\n  python3 -c \"from elasticsearch import Elasticsearch; print(Elasticsearch('{base}').count(index='app-logs-*'))\"\n\
         \n(The dashboard under /ui/ arrives with its issue.) Ctrl-C stops.\n",
        log = log_path.display(),
        data = args.data_dir.display(),
    );
    if args.seconds > 0 {
        tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    } else {
        let _ = tokio::signal::ctrl_c().await;
    }
    running.shutdown.cancel();
    running.task.await??;
    Ok(0)
}

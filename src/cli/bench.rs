//! `logweave bench ingest`: the durable ingest and query benchmark of the
//! foundation issue (`bench forward` and `bench agent` are in `bench_forward`). The server runs as a child process so its peak RSS is
//! measured alone; two client tasks send `_bulk` batches.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::bench_clickhouse::{self as clickhouse, ClickHouse};
use super::bench_data::Records;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Which benchmark: `ingest` (_bulk into the store), `forward` (the
    /// forward protocol alone, events dropped after decoding), `agent` (an
    /// agent tailing a file into a server, until all is searchable),
    /// `parse` (lines per second of each parser on one core), `syslog`
    /// (syslog over TCP into the store, with rsyslog into a file as reference),
    /// `anomalies` (the detector on 1,000 week-long series), `patterns`
    /// (the template miner on `--events` messages, or the lines of `--input`),
    /// `forecast` (auto forecasts of `--series` minute series of `--points`
    /// points, then forecast plus anomaly scoring of each), `alerting` (`--rules` rules every 30 s over `--events`
    /// stored events).
    #[arg(value_parser = ["ingest", "forward", "agent", "parse", "syslog", "anomalies", "patterns", "forecast", "alerting"])]
    pub which: String,
    /// Events to send.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Events per `_bulk` request.
    #[arg(long, default_value_t = 5_000)]
    pub batch: u64,
    /// Concurrent clients.
    #[arg(long, default_value_t = 2)]
    pub clients: u64,
    /// Data directory (default: a fresh temporary one).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Config file for the server under test (e.g. to compare settings).
    #[arg(long)]
    pub server_config: Option<PathBuf>,
    /// Runs per query for the latency figures.
    #[arg(long, default_value_t = 20)]
    pub query_runs: usize,
    /// `bench patterns`: mine the lines of this file (repeated up to
    /// `--events`) instead of generated messages.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// `bench patterns --input`: Loghub-style format of its lines (the
    /// `<Content>` is mined), e.g. HDFS's `<Date> <Time> <Pid> <Level>
    /// <Component>: <Content>`.
    #[arg(long)]
    pub log_format: Option<String>,
    /// `bench forecast`: series to forecast.
    #[arg(long, default_value_t = 1000)]
    pub series: usize,
    /// `bench forecast`: points per series (a week of minutes by default).
    #[arg(long, default_value_t = 10_080)]
    pub points: usize,
    /// `bench alerting`: rules to evaluate.
    #[arg(long, default_value_t = 1000)]
    pub rules: usize,
    /// `bench alerting`: 30 s rounds to measure.
    #[arg(long, default_value_t = 4)]
    pub rounds: usize,
    /// `bench ingest`: which records (`realistic`: half carry a unique
    /// `req_id`, as production logs do; `plain`: the demo generator's).
    #[arg(long, value_enum, default_value = "realistic")]
    pub profile: super::bench_data::Profile,
    /// `bench ingest`: skip the ClickHouse run even when it is installed.
    #[arg(long)]
    pub no_clickhouse: bool,
    /// `bench ingest`: skip the tantivy-cli run even when it is installed.
    #[arg(long)]
    pub no_tantivy_cli: bool,
}

/// Bytes under `p` by file extension (tantivy names its files by what
/// they hold: `store`, `idx` postings, `pos` positions, `term`, `fast`,
/// `fieldnorm`), largest first.
fn bytes_by_extension(p: &std::path::Path) -> Vec<(String, u64)> {
    fn walk(p: &std::path::Path, out: &mut std::collections::BTreeMap<String, u64>) {
        let Ok(rd) = std::fs::read_dir(p) else { return };
        for e in rd.flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(&path, out);
            } else if let Ok(m) = e.metadata() {
                let ext = path
                    .extension()
                    .map_or_else(|| "other".to_string(), |x| x.to_string_lossy().into_owned());
                *out.entry(ext).or_default() += m.len();
            }
        }
    }
    let mut m = std::collections::BTreeMap::new();
    walk(p, &mut m);
    let mut v: Vec<(String, u64)> = m.into_iter().collect();
    v.sort_by_key(|b| std::cmp::Reverse(b.1));
    v
}

/// Bytes of every file under `p`.
pub(super) fn dir_bytes(p: &std::path::Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let path = e.path();
            if path.is_dir() {
                total += dir_bytes(&path);
            } else if let Ok(m) = e.metadata() {
                total += m.len();
            }
        }
    }
    total
}

/// User + system CPU seconds of a process so far (Linux `/proc`).
pub(super) fn cpu_secs(pid: u32) -> f64 {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // fields after the command name, which is in parentheses
    let rest = s.rsplit_once(')').map_or("", |r| r.1);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here
    (ticks(11) + ticks(12)) / 100.0
}

pub(super) fn peak_rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

pub fn run(args: BenchArgs) -> anyhow::Result<i32> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match args.which.as_str() {
        "ingest" => rt.block_on(ingest(args)),
        "forward" => rt.block_on(super::bench_forward::forward(args)),
        "agent" => rt.block_on(super::bench_forward::agent(args)),
        "parse" => super::bench_forward::parse(args),
        "syslog" => rt.block_on(super::bench_forward::syslog(args)),
        "anomalies" => super::bench_anomalies::anomalies(),
        "patterns" => super::patterns::bench(
            args.events as usize,
            args.input.as_deref(),
            args.log_format.as_deref(),
        ),
        "forecast" => forecast(args),
        "alerting" => rt.block_on(super::bench_alerting::alerting(args)),
        other => anyhow::bail!(
            "unknown benchmark '{other}'; available: ingest, forward, agent, parse, syslog, anomalies, patterns, forecast, alerting"
        ),
    }
}

async fn ingest(args: BenchArgs) -> anyhow::Result<i32> {
    let tmp;
    let data_dir = match &args.data_dir {
        Some(d) => d.clone(),
        None => {
            tmp = tempdir()?;
            tmp.clone()
        }
    };
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let (mut child, base) = super::bench_forward::spawn_server(
        &data_dir,
        args.server_config.as_deref(),
        port,
        "127.0.0.1:0",
        "127.0.0.1:0",
    )
    .await?;
    let client = reqwest::Client::new();
    println!(
        "bench ingest: {} events ({:?} profile), batches of {}, {} clients, data dir {}",
        args.events,
        args.profile,
        args.batch,
        args.clients,
        data_dir.display()
    );
    // Two hours of data ending now, so the daily index naming is exercised.
    let start_ms = crate::event::now_ms() - 2 * 3600 * 1000;
    let step = 2.0 * 3600.0 * 1000.0 / args.events.max(1) as f64;
    let batches = args.events.div_ceil(args.batch);
    // Bodies are generated before the clock starts, so the figure is the
    // server's (the client shares this machine's two cores). The peer gets
    // the same records as JSON lines.
    let mut bodies: Vec<(bytes::Bytes, u64)> = Vec::with_capacity(batches as usize);
    let mut peer_bodies: Vec<bytes::Bytes> = Vec::with_capacity(batches as usize);
    let mut needle: Option<String> = None;
    for b in 0..batches {
        let first = b * args.batch;
        let n = args.batch.min(args.events - first);
        let mut g = Records::new(
            args.profile,
            b * 31,
            start_ms + (first as f64 * step) as i64,
            step,
        );
        let mut body = String::with_capacity(n as usize * 200);
        let mut lines = String::with_capacity(n as usize * 150);
        let mut raw = 0u64;
        for i in 0..n {
            let (line, req_id) = g.next_line();
            if needle.is_none() && first + i >= args.events / 2 {
                needle = req_id;
            }
            raw += line.len() as u64 + 1;
            body.push_str("{\"index\":{\"_index\":\"bench-%{+YYYY.MM.dd}\"}}\n");
            body.push_str(&line);
            body.push('\n');
            lines.push_str(&line);
            lines.push('\n');
        }
        bodies.push((bytes::Bytes::from(body), raw));
        peer_bodies.push(bytes::Bytes::from(lines));
    }
    let raw_total: u64 = bodies.iter().map(|b| b.1).sum();
    let bodies = std::sync::Arc::new(bodies);
    let next = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (next, bodies, client, url) = (
            next.clone(),
            bodies.clone(),
            client.clone(),
            format!("{base}/_bulk"),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let b = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((body, _)) = bodies.get(b as usize) else {
                    break;
                };
                let t = Instant::now();
                let r = client
                    .post(&url)
                    .header("content-type", "application/x-ndjson")
                    .body(body.clone())
                    .send()
                    .await?;
                if !r.status().is_success() {
                    anyhow::bail!("bulk answered {}", r.status());
                }
                // Only `errors` is read: a tree of the 5,000 item results
                // would cost this client (on the server's cores) more CPU
                // than the server spends answering.
                #[derive(serde::Deserialize)]
                struct Answer {
                    errors: bool,
                }
                let a: Answer = serde_json::from_slice(&r.bytes().await?)?;
                if a.errors {
                    anyhow::bail!("bulk reported item errors");
                }
                lat.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut lats = Vec::new();
    for t in tasks {
        lats.extend(t.await??);
    }
    let ingest_s = started.elapsed().as_secs_f64();
    client.post(format!("{base}/_refresh")).send().await?;
    let visible_s = started.elapsed().as_secs_f64();
    // CPU rather than wall time compares two servers fairly when something
    // else shares the cores (the client in this process does, always)
    let server_cpu = cpu_secs(child.id());
    let raw = raw_total as f64;
    lats.sort();
    let count: Value = client
        .get(format!("{base}/bench-*/_count"))
        .send()
        .await?
        .json()
        .await?;
    println!("acknowledged {} events in {:.2} s: {:.0} events/s, {:.1} MiB/s raw JSON (durable: WAL fsync before every 200)", args.events, ingest_s, args.events as f64 / ingest_s, raw / ingest_s / 1048576.0);
    println!(
        "all searchable after {:.2} s ({:.0} events/s end to end); _count = {}",
        visible_s,
        args.events as f64 / visible_s,
        count["count"]
    );
    println!(
        "server CPU until searchable: {server_cpu:.2} s user+system ({:.1} µs per event)",
        server_cpu * 1e6 / args.events as f64
    );
    if !lats.is_empty() {
        println!(
            "bulk latency: median {:?}, p99 {:?}",
            lats[lats.len() / 2],
            lats[(lats.len() * 99 / 100).min(lats.len() - 1)]
        );
    }
    let queries = bench_queries(needle.as_deref());
    let mut ours = Vec::new();
    for q in &queries {
        let mut times = Vec::new();
        let mut hits = 0u64;
        for _ in 0..args.query_runs.max(1) {
            let t = Instant::now();
            let r = client
                .post(format!("{base}/bench-*/_search"))
                .json(&q.body)
                .send()
                .await?;
            let ok = r.status().is_success();
            let v: Value = r.json().await?;
            if !ok {
                anyhow::bail!("query '{}' failed: {v}", q.name);
            }
            hits = v["hits"]["total"]["value"].as_u64().unwrap_or(0);
            times.push(t.elapsed());
        }
        let (median, p99) = median_p99(&mut times);
        println!(
            "query {}: median {median:.1} ms, p99 {p99:.1} ms ({hits} hits)",
            q.name
        );
        ours.push(median);
    }
    let rss = peak_rss_kib(child.id());
    if let Some(kib) = rss {
        println!("server peak RSS: {:.0} MiB", kib as f64 / 1024.0);
    }
    // A clean shutdown, then everything the server left on disk.
    let t = Instant::now();
    clickhouse::terminate(&mut child, Duration::from_secs(120))?;
    let total = dir_bytes(&data_dir);
    let idx_bytes = dir_bytes(&data_dir.join("indices"));
    let wal_bytes = dir_bytes(&data_dir.join("wal"));
    println!(
        "disk after a clean shutdown ({:.1} s): {:.1} MiB = {:.3} bytes per raw byte ({:.1} MiB raw): \
         indices {:.1} MiB ({:.3}), write-ahead log {:.1} MiB ({:.3}), other {:.1} MiB",
        t.elapsed().as_secs_f64(),
        total as f64 / 1048576.0,
        total as f64 / raw,
        raw / 1048576.0,
        idx_bytes as f64 / 1048576.0,
        idx_bytes as f64 / raw,
        wal_bytes as f64 / 1048576.0,
        wal_bytes as f64 / raw,
        total.saturating_sub(idx_bytes + wal_bytes) as f64 / 1048576.0,
    );
    let by_kind = bytes_by_extension(&data_dir.join("indices"));
    let parts: Vec<String> = by_kind
        .iter()
        .map(|(ext, b)| format!("{ext} {:.3}", *b as f64 / raw))
        .collect();
    println!(
        "  indices by file kind, bytes per raw byte: {}",
        parts.join(", ")
    );
    let by_field: Vec<String> = super::bench_space::bytes_by_field(&data_dir.join("indices"))
        .iter()
        .take(12)
        .map(|(what, b)| format!("{what} {:.3}", *b as f64 / raw))
        .collect();
    println!(
        "  largest parts, bytes per raw byte: {}",
        by_field.join(", ")
    );
    if args.data_dir.is_none() {
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    let ours = Figures {
        rate: args.events as f64 / visible_s,
        disk: total as f64 / raw,
        medians: ours,
    };
    if !args.no_tantivy_cli {
        match super::bench_tantivy_cli::find() {
            None => println!(
                "tantivy-cli: not installed (cargo install tantivy-cli, or LOGWEAVE_TANTIVY_CLI=path), no ceiling figures"
            ),
            Some(bin) => {
                let dir = tempdir()?;
                let r = super::bench_tantivy_cli::run(&bin, &peer_bodies, &dir);
                let _ = std::fs::remove_dir_all(&dir);
                let r = r?;
                let rate = args.events as f64 / r.wall.as_secs_f64();
                println!(
                    "tantivy-cli (same records from a file, no durability, default settings): {rate:.0} docs/s \
                     in {:.2} s, {:.1} µs CPU per doc, disk {:.3} bytes per raw byte; \
                     logweave end to end is {:.2}x its rate",
                    r.wall.as_secs_f64(),
                    r.cpu * 1e6 / args.events as f64,
                    r.disk as f64 / raw,
                    ours.rate / rate,
                );
            }
        }
    }
    if args.no_clickhouse {
        return Ok(0);
    }
    match clickhouse::find() {
        None => println!(
            "ClickHouse: not installed (apt-get install clickhouse-server), no side-by-side figures"
        ),
        Some((bin, single)) => {
            let peer = run_clickhouse(&bin, single, &peer_bodies, &args, &queries, raw).await?;
            print_side_by_side(&queries, &ours, &peer);
        }
    }
    Ok(0)
}

/// One query of the bench, for logweave and for the peer.
struct BenchQuery {
    name: &'static str,
    body: Value,
    sql: String,
}

fn bench_queries(needle: Option<&str>) -> Vec<BenchQuery> {
    let mut qs = vec![
        BenchQuery {
            name: "term level.keyword:ERROR",
            body: json!({"query": {"term": {"level.keyword": "ERROR"}}, "size": 10}),
            sql: "SELECT * FROM logs WHERE level = 'ERROR' LIMIT 10".into(),
        },
        BenchQuery {
            name: "phrase message:\"connection reset by peer\"",
            body: json!({"query": {"match_phrase": {"message": "connection reset by peer"}}, "size": 10}),
            sql: "SELECT * FROM logs WHERE position(message, 'connection reset by peer') > 0 LIMIT 10".into(),
        },
        BenchQuery {
            name: "terms agg on level",
            body: json!({"size": 0, "aggs": {"l": {"terms": {"field": "level.keyword"}}}}),
            sql: "SELECT level, count() AS c FROM logs GROUP BY level ORDER BY c DESC LIMIT 10".into(),
        },
        BenchQuery {
            name: "date_histogram 1m x terms level",
            body: json!({"size": 0, "aggs": {"t": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1m"}, "aggs": {"l": {"terms": {"field": "level.keyword"}}}}}}),
            sql: "SELECT toStartOfMinute(timestamp) AS m, level, count() FROM logs GROUP BY m, level ORDER BY m".into(),
        },
        BenchQuery {
            name: "match_all sort @timestamp desc",
            body: json!({"size": 10, "sort": [{"@timestamp": "desc"}]}),
            sql: "SELECT * FROM logs ORDER BY timestamp DESC LIMIT 10".into(),
        },
    ];
    if let Some(id) = needle {
        qs.push(BenchQuery {
            name: "needle: one req_id",
            body: json!({"query": {"match": {"message": id}}, "size": 10}),
            sql: format!("SELECT * FROM logs WHERE position(message, 'req_id={id}') > 0 LIMIT 10"),
        });
    }
    qs
}

fn median_p99(times: &mut [Duration]) -> (f64, f64) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    match times.len() {
        0 => (0.0, 0.0),
        n => (ms(times[n / 2]), ms(times[(n * 99 / 100).min(n - 1)])),
    }
}

/// One store's headline figures.
struct Figures {
    /// Events per second until all is searchable (the peer: inserted).
    rate: f64,
    /// Bytes on disk per raw JSON byte.
    disk: f64,
    /// Median ms per query, in `bench_queries` order.
    medians: Vec<f64>,
}

async fn run_clickhouse(
    bin: &std::path::Path,
    single: bool,
    bodies: &[bytes::Bytes],
    args: &BenchArgs,
    queries: &[BenchQuery],
    raw: f64,
) -> anyhow::Result<Figures> {
    let dir = tempdir()?.join("clickhouse");
    let ch = ClickHouse::start(bin, single, &dir).await?;
    println!(
        "ClickHouse {} (MergeTree ordered by service, timestamp; inserts not fsynced, no full-text index), data dir {}",
        ch.version().await,
        dir.display()
    );
    ch.create_table().await?;
    let took = ch.insert(bodies, args.clients).await?;
    let rate = args.events as f64 / took.as_secs_f64();
    let n = ch.sql("SELECT count() FROM logs").await?;
    println!(
        "ClickHouse inserted {} rows in {:.2} s: {rate:.0} rows/s",
        n.trim(),
        took.as_secs_f64()
    );
    let mut medians = Vec::new();
    for q in queries {
        let sql = format!("{} FORMAT JSON", q.sql);
        let mut times = Vec::new();
        for _ in 0..args.query_runs.max(1) {
            let t = Instant::now();
            ch.sql(&sql).await?;
            times.push(t.elapsed());
        }
        let (median, p99) = median_p99(&mut times);
        println!(
            "ClickHouse {}: median {median:.1} ms, p99 {p99:.1} ms",
            q.name
        );
        medians.push(median);
    }
    let active = ch.settle().await?;
    let bytes = ch.stop()?;
    println!(
        "ClickHouse disk after merging and a clean shutdown: {:.1} MiB = {:.3} bytes per raw byte (the table's parts: {:.3})",
        bytes as f64 / 1048576.0,
        bytes as f64 / raw,
        active as f64 / raw
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Figures {
        rate,
        disk: bytes as f64 / raw,
        medians,
    })
}

fn print_side_by_side(queries: &[BenchQuery], ours: &Figures, peer: &Figures) {
    println!("\nside by side, this run (logweave | ClickHouse | logweave/ClickHouse):");
    println!(
        "  ingest events/s                              {:>10.0} | {:>10.0} | {:.2}",
        ours.rate,
        peer.rate,
        ours.rate / peer.rate
    );
    println!(
        "  disk bytes / raw byte                        {:>10.3} | {:>10.3} | {:.2}",
        ours.disk,
        peer.disk,
        ours.disk / peer.disk
    );
    for (i, q) in queries.iter().enumerate() {
        let (a, b) = (ours.medians[i], peer.medians[i]);
        println!(
            "  {:<44} {a:>7.1} ms | {b:>7.1} ms | {:.2}",
            q.name,
            a / b.max(1e-3)
        );
    }
}

pub(super) fn tempdir() -> anyhow::Result<PathBuf> {
    let p = std::env::temp_dir().join(format!("logweave-bench-{}", std::process::id()));
    std::fs::create_dir_all(&p)?;
    Ok(p)
}

/// `bench forecast`: `forecast(.., Auto, ..)` on `--series` per-minute log
/// volume series of `--points` points each, built before the clock starts;
/// one thread, then one per core.
fn forecast(args: BenchArgs) -> anyhow::Result<i32> {
    use crate::analysis::forecast::{forecast, ForecastRequest, Model};
    use rand::SeedableRng;
    const STEP_MS: i64 = 60_000;
    anyhow::ensure!(args.points >= 3, "--points must be at least 3");
    let series: Vec<Vec<f64>> = (0..args.series)
        .map(|i| {
            volume_series(
                &mut rand::rngs::StdRng::seed_from_u64(i as u64),
                args.points,
            )
        })
        .collect();
    let req = ForecastRequest {
        model: Model::Auto,
        alpha: None,
        season: None,
        horizon: 60,
    };
    let run = |chunk: &[Vec<f64>]| -> anyhow::Result<std::collections::BTreeMap<String, usize>> {
        let mut models = std::collections::BTreeMap::new();
        for s in chunk {
            let f = forecast(s, STEP_MS, &req)?;
            *models.entry(f.model).or_insert(0) += 1;
        }
        Ok(models)
    };
    println!(
        "bench forecast: {} series of {} points (per minute: daily cycle, noise, bursts), model auto, horizon 60",
        args.series, args.points
    );
    let t = Instant::now();
    let models = run(&series)?;
    let one = t.elapsed();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let t = Instant::now();
    std::thread::scope(|scope| {
        let chunk = series.len().div_ceil(threads).max(1);
        let handles: Vec<_> = series
            .chunks(chunk)
            .map(|c| scope.spawn(move || run(c)))
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join()
                .map_err(|_| anyhow::anyhow!("a bench thread panicked"))?
                .map(drop)
        })
    })?;
    let all = t.elapsed();
    let per = |d: Duration| d.as_secs_f64() * 1e6 / args.series.max(1) as f64;
    println!(
        "one thread:   {:.3} s ({:.0} us per series)",
        one.as_secs_f64(),
        per(one)
    );
    println!("{threads} threads:    {:.3} s", all.as_secs_f64());
    println!("models chosen: {models:?}");

    // The analysis a server runs on each series: the forecast and the
    // anomaly score of every point (the default detector), together.
    let both = |chunk: &[Vec<f64>]| -> anyhow::Result<f64> {
        let cfg = crate::analysis::anomaly::DetectorConfig::default();
        let mut check = 0.0;
        for s in chunk {
            let f = forecast(s, STEP_MS, &req)?;
            check += f.future.len() as f64;
            let mut d = crate::analysis::anomaly::Detector::new(&cfg);
            for (i, &v) in s.iter().enumerate() {
                check += d.push(1_700_006_400_000 + i as i64 * STEP_MS, v).score;
            }
        }
        Ok(check)
    };
    let t = Instant::now();
    let c1 = both(&series)?;
    let one = t.elapsed();
    let t = Instant::now();
    let c2: f64 = std::thread::scope(|scope| {
        let chunk = series.len().div_ceil(threads).max(1);
        let handles: Vec<_> = series
            .chunks(chunk)
            .map(|c| scope.spawn(move || both(c)))
            .collect();
        handles.into_iter().try_fold(0.0, |acc, h| {
            Ok::<f64, anyhow::Error>(
                acc + h
                    .join()
                    .map_err(|_| anyhow::anyhow!("a bench thread panicked"))??,
            )
        })
    })?;
    let all = t.elapsed();
    anyhow::ensure!(
        (c1 - c2).abs() <= 1e-6 * c1.abs().max(1.0),
        "results differ between runs: {c1} vs {c2}"
    );
    println!(
        "forecast + anomaly score of every point: one thread {:.3} s, {threads} threads {:.3} s",
        one.as_secs_f64(),
        all.as_secs_f64()
    );
    Ok(0)
}

/// Counts per minute as services log them: a level between 1 and 2,000
/// per minute, a daily cycle (busy afternoons, quiet nights) in some,
/// Poisson noise, and now and then a burst of a few minutes.
fn volume_series(rng: &mut rand::rngs::StdRng, points: usize) -> Vec<f64> {
    use rand::Rng;
    let level = 10f64.powf(rng.random_range(0.0..3.3));
    let amplitude = if rng.random_ratio(3, 4) {
        rng.random_range(0.2..0.8)
    } else {
        0.0
    };
    let phase = rng.random_range(0.0..std::f64::consts::TAU);
    let mut burst_left = 0;
    let mut burst = 1.0;
    (0..points)
        .map(|t| {
            let day = std::f64::consts::TAU * (t % 1440) as f64 / 1440.0;
            let mut mean = level
                * (1.0 + amplitude * (day + phase).sin() + 0.1 * amplitude * (2.0 * day).sin());
            if burst_left == 0 && rng.random_ratio(1, 3000) {
                burst_left = rng.random_range(2..20);
                burst = rng.random_range(3.0..10.0);
            }
            if burst_left > 0 {
                burst_left -= 1;
                mean *= burst;
            }
            poisson(rng, mean.max(0.0))
        })
        .collect()
}

/// A Poisson draw: Knuth's product of uniforms for small means, the normal
/// approximation above 30.
fn poisson(rng: &mut rand::rngs::StdRng, mean: f64) -> f64 {
    use rand::Rng;
    if mean > 30.0 {
        let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-300), rng.random());
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        return (mean + mean.sqrt() * z).round().max(0.0);
    }
    let limit = (-mean).exp();
    let (mut k, mut p) = (0.0, rng.random::<f64>());
    while p > limit {
        k += 1.0;
        p *= rng.random::<f64>();
    }
    k
}

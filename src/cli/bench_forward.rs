//! `logweave bench forward` and `logweave bench agent`, the collection
//! issue's benchmarks.
//!
//! - `forward`: the forward input alone in this process, events decoded and
//!   dropped (no log, no store): clients send pre-built PackedForward
//!   chunks and wait for each ack, as agents do.
//! - `agent`: a server and an agent as child processes (so each one's peak
//!   RSS is its own); the agent tails a pre-written JSON-lines file from its
//!   start; the clock runs until every line is searchable.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::bench::{cpu_secs, peak_rss_kib, tempdir, BenchArgs};
use crate::forward::message;
use crate::generate::{GenOptions, Generator};

/// Lines of about 200 bytes: the generator's records plus request fields.
fn lines(n: u64, seed: u64) -> impl Iterator<Item = String> {
    let start_ms = crate::event::now_ms() - 3600 * 1000;
    let mut g = Generator::new(GenOptions {
        services: vec!["api".into(), "web".into(), "db".into(), "auth".into()],
        seed,
        start_ms,
        step_ms: 3600.0 * 1000.0 / n.max(1) as f64,
        error_bursts: false,
        stack_traces: false,
    });
    (0..n).map(move |i| {
        // request fields of moderate cardinality, as access-style app logs have
        let mut r = g.next_record();
        let k = (i.wrapping_mul(2_654_435_761) >> 7) as usize;
        r["method"] = ["GET", "POST", "PUT", "DELETE"][k % 4].into();
        r["path"] = format!(
            "/api/v1/{}/{}",
            ["orders", "users", "items", "carts"][k / 4 % 4],
            k % 997
        )
        .into();
        r.to_string()
    })
}

pub async fn forward(args: BenchArgs) -> anyhow::Result<i32> {
    let mut cfg = crate::config::Config::default_config();
    cfg.forward_addr = "127.0.0.1:0".parse()?;
    cfg.syslog.enabled = false;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let metrics = Arc::new(crate::input::forward::ForwardMetrics::default());
    let inflight = Arc::new(tokio::sync::Semaphore::new(cfg.max_inflight_bytes / 1024));
    let addr = crate::server::start_forward(
        &cfg,
        crate::input::forward::Sink::Null,
        inflight,
        metrics.clone(),
        shutdown.clone(),
    )
    .await?;
    // Chunks are built before the clock starts.
    let batches = args.events.div_ceil(args.batch);
    let mut frames = Vec::with_capacity(batches as usize);
    let mut raw = 0u64;
    let mut all = lines(args.events, 7);
    for b in 0..batches {
        let n = args.batch.min(args.events - b * args.batch);
        let mut packed = Vec::new();
        let t0 = crate::event::now_ms() * 1_000_000;
        for i in 0..n {
            let l = all.next().unwrap_or_default();
            raw += l.len() as u64 + 1;
            let rec: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&l)?;
            message::write_entry(&mut packed, t0 + i as i64, &rec);
        }
        let id = format!("bench-{b}");
        frames.push((
            message::encode_packed_forward("bench.fwd", &packed, n as usize, &id, false),
            id,
        ));
    }
    let wire: u64 = frames.iter().map(|f| f.0.len() as u64).sum();
    println!(
        "bench forward: {} events in chunks of {}, {} connections, decode only (no log, no store)",
        args.events, args.batch, args.clients
    );
    let frames = Arc::new(frames);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (frames, next) = (frames.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut s = tokio::net::TcpStream::connect(addr).await?;
            s.set_nodelay(true)?;
            let mut buf = vec![0u8; 256];
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some((frame, id)) = frames.get(i) else {
                    break;
                };
                s.write_all(frame).await?;
                let want = message::encode_ack(id);
                let mut got = 0;
                while got < want.len() {
                    let n = s.read(&mut buf[got..]).await?;
                    if n == 0 {
                        anyhow::bail!("server closed the connection");
                    }
                    got += n;
                }
                if buf[..got] != want[..] {
                    anyhow::bail!("unexpected reply to chunk {id}");
                }
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    let got = metrics.events.load(Ordering::Relaxed);
    shutdown.cancel();
    if got != args.events {
        anyhow::bail!("server decoded {got} events of {}", args.events);
    }
    println!(
        "received and acknowledged {} events in {secs:.2} s: {:.0} events/s, {:.1} MiB/s of JSON ({:.1} MiB/s on the wire)",
        got,
        got as f64 / secs,
        raw as f64 / secs / 1048576.0,
        wire as f64 / secs / 1048576.0
    );
    Ok(0)
}

/// Start `logweave server` as a child on loopback ports with its data in
/// `data_dir` and wait until its HTTP API answers; returns the child and the
/// API's base URL.
pub(super) async fn spawn_server(
    data_dir: &std::path::Path,
    config: Option<&std::path::Path>,
    http: u16,
    forward: &str,
    syslog: &str,
) -> anyhow::Result<(std::process::Child, String)> {
    let exe = std::env::current_exe().context("locating the logweave binary")?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("server");
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    let mut child = cmd
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--http-addr", &format!("127.0.0.1:{http}")])
        .args(["--forward-addr", forward])
        .args(["--syslog-addr", syslog])
        .env("LOGWEAVE_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .context("starting the server")?;
    let base = format!("http://127.0.0.1:{http}");
    let client = reqwest::Client::new();
    let t = Instant::now();
    while client.get(&base).send().await.is_err() {
        if t.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            anyhow::bail!("server did not start within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok((child, base))
}

pub async fn agent(args: BenchArgs) -> anyhow::Result<i32> {
    let root = match &args.data_dir {
        Some(d) => d.clone(),
        None => tempdir()?,
    };
    std::fs::create_dir_all(&root)?;
    let file = root.join("app.log");
    let mut raw = 0u64;
    {
        use std::io::Write;
        let mut w =
            std::io::BufWriter::new(std::fs::File::create(&file).context("creating the log file")?);
        for l in lines(args.events, 11) {
            raw += l.len() as u64 + 1;
            writeln!(w, "{l}")?;
        }
        w.flush()?;
    }
    let free = || -> anyhow::Result<u16> {
        Ok(std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port())
    };
    let (http, fwd) = (free()?, free()?);
    let exe = std::env::current_exe().context("locating the logweave binary")?;
    let (mut server, base) = spawn_server(
        &root.join("data"),
        args.server_config.as_deref(),
        http,
        &format!("127.0.0.1:{fwd}"),
        "127.0.0.1:0",
    )
    .await?;
    let client = reqwest::Client::new();
    println!(
        "bench agent: {} lines ({:.1} MiB, {:.0} bytes a line) tailed from {} into a server with the embedded store",
        args.events,
        raw as f64 / 1048576.0,
        raw as f64 / args.events.max(1) as f64,
        file.display()
    );
    let started = Instant::now();
    let mut agent = std::process::Command::new(&exe)
        .arg("agent")
        .arg("--tail")
        .arg(&file)
        .args([
            "--read-from-head",
            "--tag",
            "bench.agent",
            "--to",
            &format!("127.0.0.1:{fwd}"),
        ])
        .arg("--data-dir")
        .arg(root.join("agent"))
        .env("LOGWEAVE_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .context("starting the agent")?;
    let pos_file = root.join("agent").join("positions");
    let mut delivered_s = None;
    let mut agent_rss = 0;
    let mut server_rss = 0;
    let visible_s = loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        agent_rss = agent_rss.max(peak_rss_kib(agent.id()).unwrap_or(0));
        server_rss = server_rss.max(peak_rss_kib(server.id()).unwrap_or(0));
        if delivered_s.is_none() {
            let saved = std::fs::read_to_string(&pos_file).unwrap_or_default();
            let want = format!("\t{raw:016x}\t");
            if saved.contains(&want) {
                delivered_s = Some(started.elapsed().as_secs_f64());
            }
        }
        let c: serde_json::Value = match client.get(format!("{base}/logs-*/_count")).send().await {
            Ok(r) => r.json().await.unwrap_or_default(),
            Err(_) => continue,
        };
        if c["count"].as_u64() == Some(args.events) {
            break started.elapsed().as_secs_f64();
        }
        if started.elapsed() > Duration::from_secs(1800) {
            let _ = agent.kill();
            let _ = server.kill();
            anyhow::bail!("not all events searchable after 30 minutes: {c}");
        }
    };
    let (agent_cpu, server_cpu) = (cpu_secs(agent.id()), cpu_secs(server.id()));
    let _ = agent.kill();
    let _ = server.kill();
    let _ = agent.wait();
    let _ = server.wait();
    if let Some(d) = delivered_s {
        println!(
            "agent: every line acknowledged (durable in the server's log) after {d:.2} s: {:.0} events/s, {:.1} MiB/s",
            args.events as f64 / d,
            raw as f64 / d / 1048576.0
        );
    }
    println!(
        "end to end: all {} events searchable after {visible_s:.2} s: {:.0} events/s, {:.1} MiB/s",
        args.events,
        args.events as f64 / visible_s,
        raw as f64 / visible_s / 1048576.0
    );
    println!(
        "peak RSS: agent {:.1} MiB, server {:.1} MiB; CPU time: agent {agent_cpu:.1} s, server {server_cpu:.1} s",
        agent_rss as f64 / 1024.0,
        server_rss as f64 / 1024.0
    );
    if args.data_dir.is_none() {
        let _ = std::fs::remove_dir_all(&root);
    }
    Ok(0)
}

/// `bench parse`: lines per second on one core for each parser, on
/// realistic lines built before the clock starts.
pub fn parse(args: BenchArgs) -> anyhow::Result<i32> {
    use crate::parse::{LineParser, ParserOptions};
    let n = args.events.min(2_000_000) as usize;
    let json: Vec<String> = lines(n as u64, 3).collect();
    let logfmt: Vec<String> = json
        .iter()
        .map(|l| {
            let v: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(l).unwrap_or_default();
            v.iter()
                .map(|(k, v)| match v {
                    serde_json::Value::String(s) if s.contains(' ') => format!("{k}={s:?}"),
                    serde_json::Value::String(s) => format!("{k}={s}"),
                    other => format!("{k}={other}"),
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let agents = [
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0",
        "curl/8.5.0",
        "k6/0.50 (https://k6.io/)",
    ];
    let nginx: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "10.{}.{}.{} - - [24/Nov/2026:13:{:02}:{:02} +0000] \"{} /api/v1/items/{} HTTP/1.1\" {} {} \"https://shop.example/p/{}\" \"{}\"",
                i % 7, i % 251, i % 13, i / 60 % 60, i % 60,
                ["GET", "POST", "PUT"][i % 3], i % 997, [200, 200, 304, 404, 500][i % 5], 100 + i % 9000, i % 50, agents[i % 3]
            )
        })
        .collect();
    let syslog: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "<165>1 2026-11-24T13:{:02}:{:02}.{:03}Z web{:02}.example.com shop {} ORDER [order@1 id=\"{i}\" total=\"{}.50\"] order {i} placed by user{}",
                i / 60 % 60, i % 60, i % 1000, i % 20, 1000 + i % 50, i % 300, i % 977
            )
        })
        .collect();
    println!("bench parse: {n} lines each, one thread (one core)");
    // grok as a user would write it for nginx: the library's pattern with
    // the numbers typed
    let grok_nginx = ParserOptions {
        pattern: Some("%{COMBINEDAPACHELOG}".into()),
        types: [("response", "int"), ("bytes", "int")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..ParserOptions::default()
    };
    let plain = ParserOptions::default();
    let cases: [(&str, &str, &ParserOptions, &Vec<String>); 6] = [
        ("json", "json", &plain, &json),
        ("logfmt", "logfmt", &plain, &logfmt),
        ("nginx (preset)", "nginx", &plain, &nginx),
        ("nginx (grok)", "grok", &grok_nginx, &nginx),
        ("syslog RFC 5424", "syslog", &plain, &syslog),
        ("none (baseline)", "none", &plain, &json),
    ];
    for (label, name, opts, data) in cases {
        let p = LineParser::build(name, opts).map_err(anyhow::Error::msg)?;
        let bytes: usize = data.iter().map(|l| l.len() + 1).sum();
        let started = Instant::now();
        let mut failed = 0usize;
        for l in data.iter() {
            let (rec, ok) = p.record(l);
            failed += (!ok) as usize;
            std::hint::black_box(rec);
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{label:>16}: {:>9.0} lines/s, {:>6.1} MiB/s, {:.0} bytes a line{}",
            n as f64 / secs,
            bytes as f64 / secs / 1048576.0,
            bytes as f64 / n as f64,
            if failed > 0 {
                format!(", {failed} did not parse")
            } else {
                String::new()
            }
        );
    }
    Ok(0)
}

/// Start a syslog daemon writing a file, send the load, and time until the
/// file has every message (seconds).
async fn daemon_to_file<F, Fut>(
    name: &str,
    mut cmd: std::process::Command,
    port: u16,
    out: &std::path::Path,
    n: u64,
    send_all: F,
) -> anyhow::Result<f64>
where
    F: Fn(u16) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {name}"))?;
    let t = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if t.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            anyhow::bail!("{name} did not listen within 20 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let started = Instant::now();
    send_all(port).await?;
    let done = loop {
        let lines = std::fs::read(out)
            .map(|b| b.iter().filter(|c| **c == b'\n').count() as u64)
            .unwrap_or(0);
        if lines >= n {
            break started.elapsed().as_secs_f64();
        }
        if started.elapsed() > Duration::from_secs(600) {
            break f64::NAN;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let _ = child.kill();
    let _ = child.wait();
    Ok(done)
}

/// syslog-ng as scripts/test unpacks it: (binary, module dir, version for
/// `@version`, LD_LIBRARY_PATH), or None.
fn syslog_ng_install() -> Option<(PathBuf, PathBuf, String, String)> {
    let root = std::env::var_os("LOGWEAVE_SYSLOG_NG_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/syslog-ng-root"));
    let exe = root.join("usr/sbin/syslog-ng");
    if !exe.exists() {
        return None;
    }
    let pattern = format!("{}/usr/lib/syslog-ng/*/libafsocket.so", root.display());
    let modules = glob::glob(&pattern)
        .ok()?
        .flatten()
        .last()?
        .parent()?
        .to_path_buf();
    let version = modules.file_name()?.to_str()?.to_string();
    let mut libs: Vec<String> = Vec::new();
    for lib in glob::glob(&format!("{}/**/lib*.so*", root.display()))
        .ok()?
        .flatten()
    {
        if let Some(dir) = lib.parent() {
            let d = dir.display().to_string();
            if !d.contains("syslog-ng/3") && !libs.contains(&d) {
                libs.push(d);
            }
        }
    }
    if let Some(old) = std::env::var_os("LD_LIBRARY_PATH") {
        libs.push(old.to_string_lossy().into_owned());
    }
    Some((exe, modules, version, libs.join(":")))
}

/// `bench syslog`: RFC 5424 messages over TCP (octet counting, `clients`
/// connections) into a server with the embedded store until all are
/// searchable; then the same load into rsyslog and syslog-ng (where
/// installed) writing a plain file, as references measured in the same run.
pub async fn syslog(args: BenchArgs) -> anyhow::Result<i32> {
    use tokio::io::AsyncWriteExt;
    let root = match &args.data_dir {
        Some(d) => d.clone(),
        None => tempdir()?,
    };
    std::fs::create_dir_all(&root)?;
    let n = args.events;
    // Pre-built bodies, one per connection, split evenly.
    let clients = args.clients.max(1);
    let mut bodies: Vec<Vec<u8>> = vec![Vec::new(); clients as usize];
    for i in 0..n {
        let msg = format!(
            "<165>1 2026-11-24T13:{:02}:{:02}.{:03}Z web{:02}.example.com shop {} ORDER [order@1 id=\"{i}\" total=\"{}.50\"] order {i} placed by user{}\n",
            i / 60 % 60, i % 60, i % 1000, i % 20, 1000 + i % 50, i % 300, i % 977
        );
        let b = &mut bodies[(i % clients) as usize];
        b.extend_from_slice(format!("{} ", msg.len()).as_bytes());
        b.extend_from_slice(msg.as_bytes());
    }
    let bytes: usize = bodies.iter().map(Vec::len).sum();
    let bodies = Arc::new(bodies);
    let send_all = |port: u16| {
        let bodies = bodies.clone();
        async move {
            let mut tasks = Vec::new();
            for c in 0..bodies.len() {
                let bodies = bodies.clone();
                tasks.push(tokio::spawn(async move {
                    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
                    for piece in bodies[c].chunks(256 * 1024) {
                        s.write_all(piece).await?;
                    }
                    s.shutdown().await?;
                    Ok::<_, anyhow::Error>(())
                }));
            }
            for t in tasks {
                t.await??;
            }
            Ok::<_, anyhow::Error>(())
        }
    };
    let free = || -> anyhow::Result<u16> {
        Ok(std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port())
    };
    println!(
        "bench syslog: {n} RFC 5424 messages ({:.0} bytes each) over {clients} TCP connections, octet counting",
        bytes as f64 / n.max(1) as f64
    );
    // logweave
    let (http, sl) = (free()?, free()?);
    let (mut server, base) = spawn_server(
        &root.join("data"),
        args.server_config.as_deref(),
        http,
        "127.0.0.1:0",
        &format!("127.0.0.1:{sl}"),
    )
    .await?;
    let client = reqwest::Client::new();
    let started = Instant::now();
    send_all(sl).await?;
    let sent_s = started.elapsed().as_secs_f64();
    let visible = loop {
        let c: serde_json::Value = match client.get(format!("{base}/logs-*/_count")).send().await {
            Ok(r) => r.json().await.unwrap_or_default(),
            Err(_) => serde_json::Value::Null,
        };
        if c["count"].as_u64() == Some(n) {
            break started.elapsed().as_secs_f64();
        }
        if started.elapsed() > Duration::from_secs(1800) {
            let _ = server.kill();
            anyhow::bail!("not all messages searchable after 30 minutes: {c}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let rss = peak_rss_kib(server.id()).unwrap_or(0);
    let _ = server.kill();
    let _ = server.wait();
    println!(
        "logweave: all sent (consumed) after {sent_s:.2} s; all searchable after {visible:.2} s: {:.0} events/s end to end; server peak RSS {:.0} MiB",
        n as f64 / visible,
        rss as f64 / 1024.0
    );
    // references: the same load into syslog daemons writing a plain file
    let rsyslogd = ["/usr/sbin/rsyslogd", "/sbin/rsyslogd"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    match rsyslogd {
        None => println!(
            "rsyslog reference skipped: rsyslogd is not installed (apt-get install rsyslog)"
        ),
        Some(bin) => {
            let port = free()?;
            let out = root.join("rsyslog-out.log");
            let conf = root.join("rsyslog.conf");
            std::fs::write(
                &conf,
                format!(
                    "global(workDirectory=\"{dir}\")\nmodule(load=\"imtcp\")\ninput(type=\"imtcp\" address=\"127.0.0.1\" port=\"{port}\")\n\
                     template(name=\"raw\" type=\"string\" string=\"%rawmsg%\\n\")\n*.* action(type=\"omfile\" file=\"{out}\" template=\"raw\" asyncWriting=\"on\" ioBufferSize=\"256k\")\n",
                    dir = root.display(),
                    out = out.display()
                ),
            )?;
            let mut cmd = std::process::Command::new(bin);
            cmd.args(["-n", "-f"])
                .arg(&conf)
                .arg("-i")
                .arg(root.join("rsyslog.pid"));
            let done = daemon_to_file("rsyslogd", cmd, port, &out, n, send_all).await?;
            println!("rsyslog (reference, into a plain file): all written after {done:.2} s: {:.0} events/s", n as f64 / done);
        }
    }
    match syslog_ng_install() {
        None => println!(
            "syslog-ng reference skipped: no syslog-ng unpacked in target/syslog-ng-root \
             (scripts/test puts it there) or $LOGWEAVE_SYSLOG_NG_ROOT"
        ),
        Some((exe, modules, version, libs)) => {
            let port = free()?;
            let out = root.join("syslog-ng-out.log");
            let conf = root.join("syslog-ng.conf");
            std::fs::write(
                &conf,
                format!(
                    "@version: {version}\n\
                     options {{ keep-hostname(yes); stats-freq(0); mark-freq(0); use-dns(no); log-fifo-size(100000); }};\n\
                     source s {{ network(ip(\"127.0.0.1\") port({port}) transport(\"tcp\") flags(syslog-protocol) log-iw-size(100000)); }};\n\
                     destination d {{ file(\"{out}\" template(\"$MSG\\n\")); }};\n\
                     log {{ source(s); destination(d); }};\n",
                    out = out.display()
                ),
            )?;
            let mut cmd = std::process::Command::new(exe);
            cmd.arg("-F")
                .arg("-f")
                .arg(&conf)
                .arg(format!("--module-path={}", modules.display()))
                .arg(format!(
                    "--persist-file={}",
                    root.join("sng.persist").display()
                ))
                .arg(format!("--pidfile={}", root.join("sng.pid").display()))
                .arg(format!("--control={}", root.join("sng.ctl").display()))
                .env("LD_LIBRARY_PATH", libs);
            let done = daemon_to_file("syslog-ng", cmd, port, &out, n, send_all).await?;
            println!("syslog-ng (reference, into a plain file): all written after {done:.2} s: {:.0} events/s", n as f64 / done);
        }
    }
    if args.data_dir.is_none() {
        let _ = std::fs::remove_dir_all(&root);
    }
    Ok(0)
}

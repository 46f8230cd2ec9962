//! The agent end to end against the real server binary: rotation by rename
//! and by copytruncate, truncation, server and agent crashes, and a server
//! outage with a bounded disk buffer. The oracle is the list of lines the
//! test wrote; what the server holds is read back with a scroll.

mod util;

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use util::{BinServer, Http};

/// The `logweave agent` binary as a child process, restartable.
struct Agent {
    args: Vec<String>,
    log_dir: PathBuf,
    launches: u32,
    child: Option<Child>,
}

impl Agent {
    fn start(root: &Path, args: &[String]) -> Agent {
        let log_dir = root.join("agent-logs");
        std::fs::create_dir_all(&log_dir).unwrap();
        let mut a = Agent {
            args: args.to_vec(),
            log_dir,
            launches: 0,
            child: None,
        };
        a.launch();
        a
    }

    fn launch(&mut self) {
        assert!(self.child.is_none());
        self.launches += 1;
        let log = File::create(self.log_dir.join(format!("agent-{}.log", self.launches))).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_logweave"));
        cmd.arg("agent").args(&self.args);
        for v in [
            "LOGWEAVE_CONFIG",
            "LOGWEAVE_AGENT_DATA_DIR",
            "LOGWEAVE_SHARED_KEY",
        ] {
            cmd.env_remove(v);
        }
        self.child = Some(
            cmd.env("LOGWEAVE_LOG", "info")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(log))
                .spawn()
                .expect("spawning logweave agent"),
        );
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Ok(Some(st)) = c.try_wait() {
                    assert!(st.success(), "agent exited with {st}:\n{}", self.logs());
                    return;
                }
                if Instant::now() > deadline {
                    let _ = c.kill();
                    panic!(
                        "agent did not stop within 30 s of SIGTERM:\n{}",
                        self.logs()
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for i in 1..=self.launches {
            let text = std::fs::read_to_string(self.log_dir.join(format!("agent-{i}.log")))
                .unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(60).collect();
            out.push_str(&format!("--- agent run {i} (last lines)\n"));
            for l in tail.into_iter().rev() {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Append lines to a file (opened by path each time, as a logger would).
fn append(path: &Path, lines: &[String]) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let mut buf = String::new();
    for l in lines {
        buf.push_str(l);
        buf.push('\n');
    }
    f.write_all(buf.as_bytes()).unwrap();
}

/// Append lines `from..from + count` of `name` to `path` and note their
/// messages in `written` (the oracle).
fn write_lines(path: &Path, name: &str, from: usize, count: usize, written: &mut Vec<String>) {
    let batch: Vec<(String, String)> = (from..from + count).map(|i| line(name, i)).collect();
    append(path, &batch.iter().map(|x| x.1.clone()).collect::<Vec<_>>());
    written.extend(batch.into_iter().map(|x| x.0));
}

fn line(file: &str, n: usize) -> (String, String) {
    let msg = format!("{file}-{n:07}");
    let l = json!({"timestamp": "2026-11-24 12:00:00", "level": "INFO", "service": file, "message": msg}).to_string();
    (msg, l)
}

/// The saved offset of `path`'s current inode in the agent's position file
/// (`path<TAB>offset<TAB>dev:inode<TAB>head`, the last column optional).
fn saved_offset(pos_file: &Path, path: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    let want = format!("{:x}:{:x}", meta.dev(), meta.ino());
    let text = std::fs::read_to_string(pos_file).ok()?;
    text.lines().find_map(|l| {
        let cols: Vec<&str> = l.rsplitn(4, '\t').collect();
        let at = cols.iter().take(2).position(|c| *c == want)?;
        u64::from_str_radix(cols.get(at + 1)?, 16).ok()
    })
}

/// Wait until the agent saved (= the server acknowledged) everything in `path`.
fn wait_caught_up(pos_file: &Path, path: &Path, agent: &Agent, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        if saved_offset(pos_file, path) == Some(len) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "agent did not catch up on {} ({len} bytes, saved {:?}) within {limit:?}:\n{}",
            path.display(),
            saved_offset(pos_file, path),
            agent.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every `message` in the server, via scroll.
async fn all_messages(http: &Http) -> HashMap<String, u32> {
    http.refresh().await;
    let mut out = HashMap::new();
    let r = http
        .post_json(
            "/logs-*/_search?scroll=1m",
            &json!({"size": 10000, "sort": ["_doc"], "query": {"match_all": {}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    let mut v = r.json();
    loop {
        let hits = v["hits"]["hits"].as_array().cloned().unwrap_or_default();
        if hits.is_empty() {
            break;
        }
        for h in hits {
            let m = h["_source"]["message"]
                .as_str()
                .unwrap_or("<no message>")
                .to_string();
            *out.entry(m).or_default() += 1;
        }
        let id = v["_scroll_id"].as_str().expect("scroll id").to_string();
        let r = http
            .post_json("/_search/scroll", &json!({"scroll": "1m", "scroll_id": id}))
            .await;
        assert_eq!(r.status, 200, "{}", r.text_preview());
        v = r.json();
    }
    out
}

async fn wait_for_count(
    http: &Http,
    index: &str,
    want: u64,
    limit: Duration,
    agent: &Agent,
    server: &BinServer,
) {
    let deadline = Instant::now() + limit;
    loop {
        http.refresh().await;
        let n = http.count(index, None).await;
        if n >= want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "server holds {n} of {want} events after {limit:?}\n{}\nserver:\n{}",
            agent.logs(),
            server.last_log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Compare what the server holds with what was written: (missing, duplicated, unexpected).
fn compare(held: &HashMap<String, u32>, written: &[String]) -> (Vec<String>, usize, Vec<String>) {
    let mut missing = Vec::new();
    let mut dups = 0;
    for m in written {
        match held.get(m) {
            None => missing.push(m.clone()),
            Some(n) if *n > 1 => dups += (*n - 1) as usize,
            _ => {}
        }
    }
    let want: std::collections::HashSet<&String> = written.iter().collect();
    let unexpected: Vec<String> = held.keys().filter(|k| !want.contains(k)).cloned().collect();
    (missing, dups, unexpected)
}

fn agent_args(dir: &Path, server: &BinServer, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "--tail".into(),
        dir.join("applogs").join("*.log").display().to_string(),
        "--tag".into(),
        "e2e.test".into(),
        "--to".into(),
        format!("127.0.0.1:{}", server.forward_port),
        "--data-dir".into(),
        dir.join("agent").display().to_string(),
        "--read-from-head".into(),
    ];
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_and_truncation_deliver_every_line_exactly_once() {
    let root = tempfile::tempdir().unwrap();
    let logs = root.path().join("applogs");
    std::fs::create_dir_all(&logs).unwrap();
    let server = BinServer::start(root.path(), None).await;
    let mut agent = Agent::start(root.path(), &agent_args(root.path(), &server, &[]));
    let pos = root.path().join("agent").join("positions");
    let (a, b, c) = (logs.join("a.log"), logs.join("b.log"), logs.join("c.log"));

    const TOTAL: usize = 200_000;
    let writer = {
        let (a, b, c, pos) = (a.clone(), b.clone(), c.clone(), pos.clone());
        let agent_logs = agent.log_dir.clone();
        tokio::task::spawn_blocking(move || {
            let probe = Agent {
                args: vec![],
                log_dir: agent_logs,
                launches: 1,
                child: None,
            };
            let mut written = Vec::with_capacity(TOTAL);
            let mut n = 0;
            let files = [("a", &a), ("b", &b), ("c", &c)];
            // The agent must know a file before it is rotated away: a file
            // renamed before any scan saw it is not followed (as with
            // Fluentd's in_tail), so start with one line each and wait.
            for (name, path) in files {
                let (m, l) = line(name, n);
                n += 1;
                append(path, &[l]);
                written.push(m);
            }
            for (_, path) in files {
                wait_caught_up(&pos, path, &probe, Duration::from_secs(60));
            }
            let (mut rotated_a, mut rotated_b, mut truncated_c) = (false, false, false);
            while n < TOTAL {
                for (name, path) in files {
                    if n >= TOTAL {
                        break;
                    }
                    let k = 500.min(TOTAL - n);
                    write_lines(path, name, n, k, &mut written);
                    n += k;
                }
                if (60_000..61_500).contains(&n) && !rotated_a {
                    rotated_a = true;
                    // rotate a by rename; the logger reopens a.log by name
                    std::fs::rename(&a, a.with_extension("log.1")).unwrap();
                }
                if (105_000..106_500).contains(&n) && !rotated_b {
                    rotated_b = true;
                    // copytruncate b (the writer pauses, as logrotate's race
                    // would otherwise lose lines for any tailer)
                    wait_caught_up(&pos, &b, &probe, Duration::from_secs(120));
                    std::fs::copy(&b, b.with_extension("log.1")).unwrap();
                    OpenOptions::new()
                        .write(true)
                        .open(&b)
                        .unwrap()
                        .set_len(0)
                        .unwrap();
                }
                if (150_000..151_500).contains(&n) && !truncated_c {
                    truncated_c = true;
                    wait_caught_up(&pos, &c, &probe, Duration::from_secs(120));
                    OpenOptions::new()
                        .write(true)
                        .open(&c)
                        .unwrap()
                        .set_len(0)
                        .unwrap();
                }
            }
            written
        })
    };
    let written = writer.await.expect("writer");
    assert_eq!(written.len(), TOTAL);
    let http = Http::new(server.addr());
    wait_for_count(
        &http,
        "logs-*",
        TOTAL as u64,
        Duration::from_secs(90),
        &agent,
        &server,
    )
    .await;
    for p in [&a, &b, &c] {
        wait_caught_up(&pos, p, &agent, Duration::from_secs(30));
    }
    // anything late would show up now
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let held = all_messages(&http).await;
    let (missing, dups, unexpected) = compare(&held, &written);
    assert!(
        missing.is_empty() && dups == 0 && unexpected.is_empty(),
        "missing {} (first {:?}), duplicated {dups}, unexpected {:?}\n{}",
        missing.len(),
        missing.iter().take(5).collect::<Vec<_>>(),
        unexpected.iter().take(5).collect::<Vec<_>>(),
        agent.logs()
    );
    agent.stop();
    let log = agent.logs();
    assert!(log.contains("rotated"), "rotation was noticed:\n{log}");
    assert!(log.contains("truncated"), "truncation was noticed:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_and_agent_crashes_lose_nothing() {
    let root = tempfile::tempdir().unwrap();
    let logs = root.path().join("applogs");
    std::fs::create_dir_all(&logs).unwrap();
    let mut server = BinServer::start(root.path(), None).await;
    let mut agent = Agent::start(root.path(), &agent_args(root.path(), &server, &[]));
    let http = Http::new(server.addr());
    let mut written = Vec::new();
    let mut n = 0;
    let mut write_some = |count: usize, written: &mut Vec<String>| {
        for _ in 0..count / 1000 {
            for name in ["x", "y"] {
                write_lines(&logs.join(format!("{name}.log")), name, n, 500, written);
                n += 500;
            }
        }
    };
    // Phase 1: the server is killed three times while the agent sends.
    for round in 0..3 {
        write_some(10_000, &mut written);
        tokio::time::sleep(Duration::from_millis(150 + 100 * round)).await;
        server.kill();
        write_some(5_000, &mut written);
        tokio::time::sleep(Duration::from_millis(700)).await;
        server.launch().await;
    }
    write_some(5_000, &mut written);
    wait_for_count(
        &http,
        "logs-*",
        written.len() as u64,
        Duration::from_secs(180),
        &agent,
        &server,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let held = all_messages(&http).await;
    let (missing, dups_phase1, unexpected) = compare(&held, &written);
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "after server crashes: missing {} {:?}\n{}",
        missing.len(),
        missing.iter().take(5).collect::<Vec<_>>(),
        agent.logs()
    );
    eprintln!(
        "server killed 3 times: {} events, {dups_phase1} duplicates",
        written.len()
    );
    assert_eq!(
        dups_phase1,
        0,
        "a resent chunk must not be stored twice\n{}",
        agent.logs()
    );

    // Phase 2: the agent is killed twice.
    for _ in 0..2 {
        write_some(10_000, &mut written);
        tokio::time::sleep(Duration::from_millis(300)).await;
        agent.kill();
        write_some(4_000, &mut written);
        agent.launch();
    }
    write_some(4_000, &mut written);
    wait_for_count(
        &http,
        "logs-*",
        written.len() as u64,
        Duration::from_secs(180),
        &agent,
        &server,
    )
    .await;
    let pos = root.path().join("agent").join("positions");
    for f in ["x", "y"] {
        wait_caught_up(
            &pos,
            &logs.join(format!("{f}.log")),
            &agent,
            Duration::from_secs(60),
        );
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let held = all_messages(&http).await;
    let (missing, dups, unexpected) = compare(&held, &written);
    eprintln!(
        "agent killed 2 times: {} events, {dups} duplicates (allowed: at least once)",
        written.len()
    );
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "after agent crashes: missing {} {:?}\n{}",
        missing.len(),
        missing.iter().take(5).collect::<Vec<_>>(),
        agent.logs()
    );
    agent.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_buffers_to_disk_within_its_limit() {
    let root = tempfile::tempdir().unwrap();
    let logs = root.path().join("applogs");
    std::fs::create_dir_all(&logs).unwrap();
    let mut server = BinServer::start(root.path(), None).await;
    const LIMIT: u64 = 3 << 20;
    let mut agent = Agent::start(
        root.path(),
        &agent_args(
            root.path(),
            &server,
            &["--buffer-max-bytes", &LIMIT.to_string()],
        ),
    );
    let http = Http::new(server.addr());
    server.kill();
    let buffer_dir = root.path().join("agent").join("buffer");
    let mut written = Vec::new();
    let mut peak = 0u64;
    let started = Instant::now();
    let mut n = 0;
    // 50,000 lines over the 30 s outage; the buffer is smaller than them
    while started.elapsed() < Duration::from_secs(30) {
        if n < 50_000 {
            write_lines(&logs.join("out.log"), "out", n, 1000, &mut written);
            n += 1000;
        }
        let size: u64 = std::fs::read_dir(&buffer_dir)
            .map(|d| {
                d.flatten()
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0);
        peak = peak.max(size);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(written.len(), 50_000);
    assert!(
        peak > 0,
        "the agent buffered to disk during the outage:\n{}",
        agent.logs()
    );
    assert!(
        peak <= LIMIT,
        "buffer grew to {peak} bytes, over its limit of {LIMIT}"
    );
    server.launch().await;
    wait_for_count(
        &http,
        "logs-*",
        50_000,
        Duration::from_secs(180),
        &agent,
        &server,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let held = all_messages(&http).await;
    let (missing, dups, unexpected) = compare(&held, &written);
    assert!(
        missing.is_empty() && dups == 0 && unexpected.is_empty(),
        "missing {}, dups {dups}, unexpected {}\n{}",
        missing.len(),
        unexpected.len(),
        agent.logs()
    );
    agent.stop();
    let left: usize = std::fs::read_dir(&buffer_dir)
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(left, 0, "the buffer is empty once everything is delivered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_balancing_and_failover_over_two_servers() {
    let root = tempfile::tempdir().unwrap();
    let logs = root.path().join("applogs");
    std::fs::create_dir_all(&logs).unwrap();
    let mut one = BinServer::start(&root.path().join("one"), None).await;
    let two = BinServer::start(&root.path().join("two"), None).await;
    // Through a config file, with UDP heartbeats to tell a dead server early.
    let config = root.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "[agent]\ndata_dir = \"{}\"\n[[agent.sources]]\ntype = \"tail\"\npaths = [\"{}\"]\ntag = \"lb.test\"\nread_from_head = true\n\
             [agent.output]\nservers = [\"127.0.0.1:{}\", \"127.0.0.1:{}\"]\nheartbeat = \"udp\"\nchunk_max_events = 500\nflush_interval_ms = 50\n",
            root.path().join("agent").display(),
            logs.join("*.log").display(),
            one.forward_port,
            two.forward_port
        ),
    )
    .unwrap();
    let agent = Agent::start(
        root.path(),
        &["--config".to_string(), config.display().to_string()],
    );
    let (h1, h2) = (Http::new(one.addr()), Http::new(two.addr()));
    let mut written = Vec::new();
    for k in 0..20 {
        write_lines(&logs.join("lb.log"), "lb", k * 1000, 1000, &mut written);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pos = root.path().join("agent").join("positions");
    wait_caught_up(&pos, &logs.join("lb.log"), &agent, Duration::from_secs(60));
    h1.refresh().await;
    h2.refresh().await;
    let (c1, c2) = (
        h1.count("logs-*", None).await,
        h2.count("logs-*", None).await,
    );
    assert_eq!(c1 + c2, 20_000, "every event on one of the servers");
    assert!(
        c1 > 2_000 && c2 > 2_000,
        "chunks are spread over both servers: {c1} / {c2}"
    );

    // Failover: server one dies; everything new goes to two.
    one.kill();
    for k in 20..30 {
        write_lines(&logs.join("lb.log"), "lb", k * 1000, 1000, &mut written);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_caught_up(&pos, &logs.join("lb.log"), &agent, Duration::from_secs(90));
    h2.refresh().await;
    let after = h2.count("logs-*", None).await;
    assert!(
        after >= c2 + 10_000,
        "server two took over: {after} (had {c2})"
    );
    one.launch().await;
    let mut held = all_messages(&h1).await;
    for (m, n) in all_messages(&h2).await {
        *held.entry(m).or_default() += n;
    }
    let (missing, dups, unexpected) = compare(&held, &written);
    eprintln!("two servers, one killed: {dups} duplicates (a chunk whose ack was lost with the server is sent to the other)");
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "missing {} unexpected {}\n{}",
        missing.len(),
        unexpected.len(),
        agent.logs()
    );
}

/// A port free for both TCP and UDP on loopback, for the agent to listen on.
fn free_port() -> u16 {
    loop {
        let t = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = t.local_addr().unwrap().port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syslog_source_relays_tcp_and_udp_with_facility_tags() {
    let root = tempfile::tempdir().unwrap();
    let cfg = root.path().join("server.toml");
    std::fs::write(
        &cfg,
        "[[routes]]\nmatch = \"syslog.local3.*\"\nindex = \"relayed-%{+YYYY.MM.dd}\"\n",
    )
    .unwrap();
    let server = BinServer::start(root.path(), Some(cfg)).await;
    let port = free_port();
    let agent = Agent::start(
        root.path(),
        &[
            "--syslog".into(),
            format!("127.0.0.1:{port}"),
            "--to".into(),
            format!("127.0.0.1:{}", server.forward_port),
            "--data-dir".into(),
            root.path().join("agent").display().to_string(),
        ],
    );
    // wait until the agent listens
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut tcp = loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(e) => {
                assert!(
                    Instant::now() < deadline,
                    "agent not listening: {e}\n{}",
                    agent.logs()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    // 300 over TCP, octet counted and newline framed in turn: local3 (pri
    // 19*8+4 = warning) with structured data, or daemon.info in RFC 3164
    let mut wire = Vec::new();
    for i in 0..300 {
        let msg = if i % 2 == 0 {
            format!(
                "<156>1 2026-11-27T08:00:{:02}.{:03}Z edge{} relay 9 M{i} [x@1 n=\"{i}\"] even {i}",
                i % 60,
                i,
                i % 3
            )
        } else {
            format!("<30>Nov 27 08:01:{:02} gw cron[{i}]: odd {i}", i % 60)
        };
        if i % 4 < 2 {
            wire.extend_from_slice(format!("{} {msg}", msg.len()).as_bytes());
        } else {
            wire.extend_from_slice(format!("{msg}\n").as_bytes());
        }
    }
    tcp.write_all(&wire).unwrap();
    drop(tcp);
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..40 {
        udp.send_to(
            format!("<11>Nov 27 09:00:{:02} db7 postgres[5]: udp {i}", i % 60).as_bytes(),
            ("127.0.0.1", port),
        )
        .unwrap();
    }
    let http = Http::new(server.addr());
    wait_for_count(
        &http,
        "relayed-*,logs-*",
        340,
        Duration::from_secs(30),
        &agent,
        &server,
    )
    .await;
    // routed by the facility in the tag: local3 → relayed-*, the rest → logs-*
    assert_eq!(http.count("relayed-2026.11.27", None).await, 150);
    let r = http
        .post_json(
            "/relayed-*/_search",
            &json!({"size": 200, "query": {"query_string": {"query": "appname:relay"}}}),
        )
        .await
        .json();
    let mut seen: Vec<u64> = r["hits"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let s = &h["_source"];
            assert_eq!(s["severity"], "warning", "{s}");
            assert_eq!(s["level"], "WARN", "{s}");
            assert_eq!(s["facility"], "local3", "{s}");
            let n: u64 = s["sd"]["x@1"]["n"].as_str().unwrap().parse().unwrap();
            assert_eq!(s["host"], format!("edge{}", n % 3), "{s}");
            assert_eq!(s["message"], format!("even {n}"), "{s}");
            n
        })
        .collect();
    seen.sort_unstable();
    assert_eq!(
        seen,
        (0..300).step_by(2).collect::<Vec<u64>>(),
        "every even message once"
    );
    let cron = http
        .count(
            "logs-*",
            Some(json!({"query_string": {"query": "appname:cron AND host:gw"}})),
        )
        .await;
    assert_eq!(cron, 150, "every odd message once");
    let pg = http
        .count(
            "logs-*",
            Some(json!({"query_string": {"query": "appname:postgres AND level:ERROR"}})),
        )
        .await;
    assert_eq!(pg, 40, "UDP on loopback: all 40");
    // relayed syslog is mapped as the server's own syslog input maps it
    let m = http.get("/relayed-2026.11.27/_mapping").await.json();
    let props = &m["relayed-2026.11.27"]["mappings"]["properties"];
    assert_eq!(props["appname"]["type"], "keyword", "{props}");
    assert_eq!(props["message"]["type"], "text", "{props}");
    let mut agent = agent;
    agent.stop();
}

// ------------------------------------------- rotation while the agent is stopped

/// Lines of one scenario file: their messages are `{dir}-{file}-{n}`.
struct Lines<'a> {
    dir: &'a Path,
    /// `narrow` (followed as `*.log`) or `wide` (followed as `*.log*`).
    tag: &'a str,
}

impl Lines<'_> {
    /// Whether rotated names (`app.log.1`) are matched by the glob.
    fn wide(&self) -> bool {
        self.tag == "wide"
    }

    /// Append lines `from..from + count` of `file` (under `dir`); note them in
    /// `expect` when the agent must deliver them.
    fn write(&self, file: &str, from: usize, count: usize, expect: Option<&mut Vec<String>>) {
        let mut scratch = Vec::new();
        let name = format!("{}-{}", self.tag, file.replace('.', "_"));
        write_lines(
            &self.dir.join(file),
            &name,
            from,
            count,
            expect.unwrap_or(&mut scratch),
        );
    }
}

/// Until the current run of the agent logs that it follows `path`.
fn wait_following(agent: &Agent, path: &Path) {
    let log = agent.log_dir.join(format!("agent-{}.log", agent.launches));
    let want = path.display().to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text
            .lines()
            .any(|l| l.contains("tail: following") && l.contains(&want))
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the agent does not follow {want}:\n{}",
            agent.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One rotation-while-stopped scenario, played in two directories at once:
/// `narrow` followed as `*.log` (rotated names not matched), `wide` as
/// `*.log*` (rotated names matched), by an agent without
/// `--read-from-head`. In each directory, before the very first start,
/// `app.log` and `quiet.log` hold history lines (followed from their end:
/// never sent); while the agent runs `app.log` gets lines; then it is
/// stopped (SIGTERM), `quiet.log` gets lines (read from where it was),
/// `fresh.log` appears (a new file: read from its start) and `while_stopped`
/// does the rotation, noting the lines the agent must deliver. After the
/// restart the server must hold exactly the noted lines, each once: a clean
/// stop saved every position, so nothing is read twice.
async fn rotation_while_stopped(while_stopped: impl Fn(&Lines, &mut Vec<String>)) -> String {
    let root = tempfile::tempdir().unwrap();
    let server = BinServer::start(root.path(), None).await;
    let narrow = root.path().join("narrow");
    let wide = root.path().join("wide");
    let dirs = [(&narrow, "narrow", "*.log"), (&wide, "wide", "*.log*")];
    let mut args = Vec::new();
    for (dir, tag, glob) in dirs {
        std::fs::create_dir_all(dir).unwrap();
        let l = Lines { dir, tag };
        l.write("app.log", 0, 5, None);
        l.write("quiet.log", 0, 5, None);
        args.extend(["--tail".to_string(), dir.join(glob).display().to_string()]);
    }
    args.extend([
        "--tag".into(),
        "e2e.stopped".into(),
        "--to".into(),
        format!("127.0.0.1:{}", server.forward_port),
        "--data-dir".into(),
        root.path().join("agent").display().to_string(),
    ]);
    let mut agent = Agent::start(root.path(), &args);
    let pos = root.path().join("agent").join("positions");
    let mut expect = Vec::new();
    for (dir, _, _) in dirs {
        wait_following(&agent, &dir.join("app.log"));
        wait_following(&agent, &dir.join("quiet.log"));
    }
    for (dir, tag, _) in dirs {
        Lines { dir, tag }.write("app.log", 5, 100, Some(&mut expect));
    }
    for (dir, _, _) in dirs {
        wait_caught_up(&pos, &dir.join("app.log"), &agent, Duration::from_secs(30));
    }
    agent.stop();
    for (dir, tag, _) in dirs {
        let l = Lines { dir, tag };
        l.write("quiet.log", 5, 20, Some(&mut expect));
        while_stopped(&l, &mut expect);
        l.write("fresh.log", 0, 30, Some(&mut expect));
    }
    agent.launch();
    let http = Http::new(server.addr());
    wait_for_count(
        &http,
        "logs-*",
        expect.len() as u64,
        Duration::from_secs(30),
        &agent,
        &server,
    )
    .await;
    for (dir, _, _) in dirs {
        for f in ["app.log", "quiet.log", "fresh.log"] {
            wait_caught_up(&pos, &dir.join(f), &agent, Duration::from_secs(30));
        }
    }
    // anything read twice or from the wrong place would show up now
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let held = all_messages(&http).await;
    let (missing, dups, unexpected) = compare(&held, &expect);
    let mut twice: Vec<&String> = held.iter().filter(|(_, n)| **n > 1).map(|x| x.0).collect();
    twice.sort();
    assert!(
        missing.is_empty() && dups == 0 && unexpected.is_empty(),
        "missing {} (first {:?}), duplicated {dups} (first {:?}), unexpected {} (first {:?})\n{}",
        missing.len(),
        missing.iter().take(5).collect::<Vec<_>>(),
        twice.iter().take(5).collect::<Vec<_>>(),
        unexpected.len(),
        unexpected.iter().take(5).collect::<Vec<_>>(),
        agent.logs()
    );
    agent.stop();
    agent.logs()
}

/// Issue 10 item 1, as reported: `app.log` renamed to `app.log.3` and a
/// new `app.log` written while the agent was stopped. The old file is read
/// to its end and the new one from its start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_rotation_while_stopped_reads_new_file() {
    let log = rotation_while_stopped(|l, expect| {
        l.write("app.log", 105, 400, Some(expect));
        std::fs::rename(l.dir.join("app.log"), l.dir.join("app.log.3")).unwrap();
        l.write("app.log", 1000, 200, Some(expect));
    })
    .await;
    assert!(log.contains("found a file rotated while stopped"), "{log}");
}

/// copytruncate while stopped: lines appended, `app.log` copied to
/// `app.log.1` and truncated, then more lines than the old offset written
/// (so a resume at the old offset would skip new lines). The copy is found
/// by its content and read from the saved offset, `app.log` from its start.
/// No line is written between the copy and the truncation: those would be
/// in neither file (logrotate's own race, with or without an agent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_copytruncate_while_stopped_reads_copy_and_new_lines() {
    let log = rotation_while_stopped(|l, expect| {
        l.write("app.log", 105, 50, Some(expect));
        let app = l.dir.join("app.log");
        std::fs::copy(&app, l.dir.join("app.log.1")).unwrap();
        OpenOptions::new()
            .write(true)
            .open(&app)
            .unwrap()
            .set_len(0)
            .unwrap();
        l.write("app.log", 1000, 200, Some(expect));
    })
    .await;
    assert!(log.contains("found a copy"), "{log}");
}

/// Two rotations by rename while stopped: the file the agent knew is now
/// `app.log.2`, `app.log.1` is a file it never saw, `app.log` is new. The
/// known file is read to its end and `app.log` from its start; the middle
/// file only where the glob matches its name (`*.log*`): under `*.log` the
/// agent has neither a name nor an inode to find it by.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_two_rotations_while_stopped_read_every_matched_file() {
    rotation_while_stopped(|l, expect| {
        let (app, one, two) = (
            l.dir.join("app.log"),
            l.dir.join("app.log.1"),
            l.dir.join("app.log.2"),
        );
        l.write("app.log", 105, 50, Some(expect));
        std::fs::rename(&app, &one).unwrap();
        let mut middle = Vec::new();
        l.write("app.log", 1000, 100, Some(&mut middle));
        if l.wide() {
            expect.extend(middle);
        }
        std::fs::rename(&one, &two).unwrap();
        std::fs::rename(&app, &one).unwrap();
        l.write("app.log", 2000, 100, Some(expect));
    })
    .await;
}

/// A rotated file deleted while stopped: what was appended to it after the
/// stop is gone with it (asserted absent: the oracle leaves it out). The
/// new `app.log` is created after the deletion, so on ext4 it usually gets
/// the old inode number: it must still be read from its start, not from the
/// old file's offset, because its content is not the old file's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_rotated_file_deleted_while_stopped_reads_new_file() {
    rotation_while_stopped(|l, expect| {
        l.write("app.log", 105, 50, None);
        std::fs::rename(l.dir.join("app.log"), l.dir.join("app.log.1")).unwrap();
        std::fs::remove_file(l.dir.join("app.log.1")).unwrap();
        l.write("app.log", 1000, 200, Some(expect));
    })
    .await;
}

//! Helpers shared by the integration tests: an in-process server, the real
//! binary as a child process (for `kill -9`), and a small HTTP client.
//!
//! Each test file compiles this module on its own and uses only part of it.
#![allow(dead_code)]

pub mod alerting;

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use logweave::config::Config;
use logweave::server::Running;
use serde_json::{json, Value};

// ---------------------------------------------------------------- HTTP

/// A finished HTTP exchange.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Resp {
    /// The body as JSON; panics with the body text when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "HTTP {} body is not JSON ({e}): {}",
                self.status,
                self.text_preview()
            )
        })
    }

    /// The first few hundred characters of the body, for messages.
    pub fn text_preview(&self) -> String {
        let s = String::from_utf8_lossy(&self.body[..self.body.len().min(600)]).into_owned();
        if self.body.len() > 600 {
            format!("{s}... ({} bytes)", self.body.len())
        } else {
            s
        }
    }
}

/// A tiny client bound to one server address.
#[derive(Clone)]
pub struct Http {
    pub base: String,
    pub client: reqwest::Client,
}

impl Http {
    pub fn new(addr: SocketAddr) -> Http {
        Self::with_timeout(addr, Duration::from_secs(120))
    }

    pub fn with_timeout(addr: SocketAddr, timeout: Duration) -> Http {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .expect("building the HTTP client");
        Http {
            base: format!("http://{addr}"),
            client,
        }
    }

    /// Send a request; transport errors are returned, not panicked on.
    pub async fn try_send(
        &self,
        method: &str,
        path: &str,
        body: Option<(Vec<u8>, &str)>,
    ) -> Result<Resp, reqwest::Error> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("HTTP method");
        let mut rb = self
            .client
            .request(method, format!("{}{}", self.base, path));
        if let Some((bytes, ctype)) = body {
            rb = rb.header("content-type", ctype).body(bytes);
        }
        let res = rb.send().await?;
        let status = res.status().as_u16();
        let body = res.bytes().await?.to_vec();
        Ok(Resp { status, body })
    }

    /// Send a request; panics on transport errors.
    pub async fn send(&self, method: &str, path: &str, body: Option<(Vec<u8>, &str)>) -> Resp {
        self.try_send(method, path, body)
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: transport error: {e:?}"))
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send("GET", path, None).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Resp {
        self.send(
            "POST",
            path,
            Some((body.to_string().into_bytes(), "application/json")),
        )
        .await
    }

    pub async fn post_ndjson(&self, path: &str, body: Vec<u8>) -> Resp {
        self.send("POST", path, Some((body, "application/x-ndjson")))
            .await
    }

    /// `POST /_refresh`, asserting success.
    pub async fn refresh(&self) {
        let r = self.send("POST", "/_refresh", None).await;
        assert_eq!(r.status, 200, "refresh failed: {}", r.text_preview());
    }

    /// `_count` of `index` (a name or pattern) with an optional query.
    pub async fn count(&self, index: &str, query: Option<Value>) -> u64 {
        let body = match query {
            Some(q) => json!({ "query": q }),
            None => json!({}),
        };
        let r = self.post_json(&format!("/{index}/_count"), &body).await;
        assert_eq!(r.status, 200, "count {index} {body}: {}", r.text_preview());
        r.json()["count"]
            .as_u64()
            .unwrap_or_else(|| panic!("no count in {}", r.text_preview()))
    }

    /// Every document of `index` (at most 10,000) by id, from a search.
    pub async fn hits_by_id(&self, index: &str) -> std::collections::HashMap<String, Value> {
        let body = json!({"size": 10000, "query": {"match_all": {}}});
        let r = self.post_json(&format!("/{index}/_search"), &body).await;
        assert_eq!(r.status, 200, "search {index}: {}", r.text_preview());
        r.json()["hits"]["hits"]
            .as_array()
            .unwrap_or_else(|| panic!("no hits in {}", r.text_preview()))
            .iter()
            .map(|h| {
                (
                    h["_id"].as_str().unwrap_or_default().to_string(),
                    h["_source"].clone(),
                )
            })
            .collect()
    }

    /// Whether the server answers `GET /` with 200 right now.
    pub async fn is_up(&self) -> bool {
        match tokio::time::timeout(Duration::from_secs(2), self.try_send("GET", "/", None)).await {
            Ok(Ok(r)) => r.status == 200,
            _ => false,
        }
    }
}

/// An NDJSON `_bulk` body from (action, document) pairs.
pub fn ndjson(items: &[(Value, Value)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (action, doc) in items {
        out.extend_from_slice(action.to_string().as_bytes());
        out.push(b'\n');
        out.extend_from_slice(doc.to_string().as_bytes());
        out.push(b'\n');
    }
    out
}

/// Assert that `r` is an Elasticsearch-shaped error with this status
/// (`{"error":{"type":..,"reason":..},"status":N}`) and return
/// `(type, reason)`.
pub fn assert_es_error(r: &Resp, status: u16) -> (String, String) {
    assert_eq!(
        r.status,
        status,
        "expected HTTP {status}, got {}: {}",
        r.status,
        r.text_preview()
    );
    let v = r.json();
    let typ = v["error"]["type"]
        .as_str()
        .unwrap_or_else(|| panic!("error body has no string error.type: {}", r.text_preview()));
    let reason = v["error"]["reason"].as_str().unwrap_or_else(|| {
        panic!(
            "error body has no string error.reason: {}",
            r.text_preview()
        )
    });
    assert_eq!(
        v["status"].as_u64(),
        Some(status as u64),
        "error body status does not match the HTTP status: {}",
        r.text_preview()
    );
    assert!(
        !typ.is_empty() && !reason.is_empty(),
        "{}",
        r.text_preview()
    );
    (typ.to_string(), reason.to_string())
}

// ---------------------------------------------------------------- raw HTTP

/// One response read off a raw connection by [`raw_exchange`].
#[derive(Clone)]
pub struct RawResp {
    pub status: u16,
    /// Header names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for RawResp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawResp")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &String::from_utf8_lossy(&self.body))
            .finish()
    }
}

impl RawResp {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// As a [`Resp`], for [`assert_es_error`] and [`Resp::json`].
    pub fn resp(&self) -> Resp {
        Resp {
            status: self.status,
            body: self.body.clone(),
        }
    }
}

/// Write `request` byte for byte on a new connection (no client-side URL
/// checks or escaping, so a test can send what curl sends), then read every
/// response until the server closes the connection. The last request should
/// say `Connection: close`.
pub async fn raw_exchange(addr: SocketAddr, request: &[u8]) -> Vec<RawResp> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connecting for a raw exchange");
    s.write_all(request).await.expect("writing a raw request");
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut buf)).await;
    assert!(
        read.is_ok(),
        "the server neither answered nor closed within 30 s; got so far:\n{}",
        String::from_utf8_lossy(&buf)
    );
    parse_raw_responses(&buf)
}

/// Split a byte stream of HTTP/1.1 responses (Content-Length or chunked).
pub fn parse_raw_responses(mut buf: &[u8]) -> Vec<RawResp> {
    let whole = String::from_utf8_lossy(buf).into_owned();
    let mut out = Vec::new();
    while !buf.is_empty() {
        let end = buf
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("a response head without its end in:\n{whole}"));
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf = &buf[end + 4..];
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?} in:\n{whole}"));
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        let mut body = Vec::new();
        if get("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
            loop {
                let eol = buf
                    .windows(2)
                    .position(|w| w == b"\r\n")
                    .unwrap_or_else(|| panic!("a cut chunk size line in:\n{whole}"));
                let size_text = String::from_utf8_lossy(&buf[..eol]).into_owned();
                let size =
                    usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                        .unwrap_or_else(|_| panic!("bad chunk size {size_text:?} in:\n{whole}"));
                buf = &buf[eol + 2..];
                if size == 0 {
                    let end = buf
                        .windows(2)
                        .position(|w| w == b"\r\n")
                        .unwrap_or_else(|| panic!("no end of chunked body in:\n{whole}"));
                    buf = &buf[end + 2..];
                    break;
                }
                body.extend_from_slice(&buf[..size]);
                buf = &buf[size + 2..];
            }
        } else {
            let n: usize = get("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            assert!(n <= buf.len(), "a body cut short in:\n{whole}");
            body.extend_from_slice(&buf[..n]);
            buf = &buf[n..];
        }
        out.push(RawResp {
            status,
            headers,
            body,
        });
    }
    out
}

// ---------------------------------------------------------------- in-process

/// A configuration for tests: `data_dir`, an ephemeral port on loopback,
/// and a modest indexing budget (the machine is small).
pub fn test_config(data_dir: &Path) -> Config {
    let mut cfg = Config::default_config();
    cfg.data_dir = data_dir.to_path_buf();
    cfg.http_addr = "127.0.0.1:0".parse().expect("loopback address");
    cfg.forward_addr = "127.0.0.1:0".parse().expect("loopback address");
    cfg.syslog_addr = "127.0.0.1:0".parse().expect("loopback address");
    cfg.writer_heap_mb = 32;
    cfg.writer_threads = 1;
    cfg
}

/// A server running inside the test process.
pub struct InProcess {
    pub running: Running,
    pub http: Http,
}

impl InProcess {
    pub async fn start(cfg: Config) -> InProcess {
        let running = logweave::server::start(cfg)
            .await
            .expect("starting the in-process server");
        let http = Http::new(running.http_addr);
        InProcess { running, http }
    }

    pub fn addr(&self) -> SocketAddr {
        self.running.http_addr
    }

    /// Shut down cleanly: stop serving, wait for the serve task (which
    /// refreshes), then wait until the ingest threads have let go of the
    /// store, so that the same data dir can be opened again.
    pub async fn shutdown(self) {
        let store: Weak<_> = Arc::downgrade(&self.running.ingest.store);
        self.running.shutdown.cancel();
        let res = tokio::time::timeout(Duration::from_secs(60), self.running.task)
            .await
            .expect("server task did not finish within 60 s of shutdown")
            .expect("server task panicked");
        res.expect("server task failed");
        drop(self.running.ingest);
        let deadline = Instant::now() + Duration::from_secs(30);
        while store.strong_count() > 0 {
            assert!(
                Instant::now() < deadline,
                "the store is still referenced 30 s after shutdown"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The last reference is dropped on the indexer thread; give the
        // index writers' drop (thread joins, lock release) a moment.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

// ---------------------------------------------------------------- binary

/// A free TCP port on 127.0.0.1 (bound, read, released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("binding an ephemeral port");
    l.local_addr().expect("local addr").port()
}

/// The real `logweave server` binary as a child process, restartable on the
/// same data dir and port.
pub struct BinServer {
    pub data_dir: PathBuf,
    pub log_dir: PathBuf,
    pub port: u16,
    /// Forward protocol port (TCP and UDP).
    pub forward_port: u16,
    /// Syslog port (TCP and UDP).
    pub syslog_port: u16,
    pub config: Option<PathBuf>,
    pub launches: u32,
    child: Option<Child>,
}

impl BinServer {
    /// Spawn and wait until `GET /` answers.
    pub async fn start(root: &Path, config: Option<PathBuf>) -> BinServer {
        let data_dir = root.join("data");
        let log_dir = root.join("logs");
        std::fs::create_dir_all(&log_dir).expect("creating the log dir");
        let mut s = BinServer {
            data_dir,
            log_dir,
            port: free_port(),
            forward_port: free_port(),
            syslog_port: free_port(),
            config,
            launches: 0,
            child: None,
        };
        s.launch().await;
        s
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn spawn(&mut self) -> Child {
        self.launches += 1;
        let log = self.log_dir.join(format!("server-{}.log", self.launches));
        let stderr = File::create(&log).expect("creating the server log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_logweave"));
        cmd.arg("server")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--http-addr")
            .arg(self.addr().to_string())
            .arg("--forward-addr")
            .arg(format!("127.0.0.1:{}", self.forward_port))
            .arg("--syslog-addr")
            .arg(format!("127.0.0.1:{}", self.syslog_port));
        if let Some(c) = &self.config {
            cmd.arg("--config").arg(c);
        }
        for var in [
            "LOGWEAVE_CONFIG",
            "LOGWEAVE_DATA_DIR",
            "LOGWEAVE_HTTP_ADDR",
            "LOGWEAVE_FORWARD_ADDR",
            "LOGWEAVE_SYSLOG_ADDR",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("LOGWEAVE_LOG", "info,tantivy=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("spawning the logweave binary")
    }

    /// Start the process (again) and wait until it serves. A process that
    /// exits early (say the port is still held) is started again.
    pub async fn launch(&mut self) {
        assert!(self.child.is_none(), "launch while running");
        let http = Http::with_timeout(self.addr(), Duration::from_secs(2));
        let deadline = Instant::now() + Duration::from_secs(90);
        let mut child = self.spawn();
        loop {
            if http.is_up().await {
                self.child = Some(child);
                return;
            }
            if let Ok(Some(status)) = child.try_wait() {
                assert!(
                    Instant::now() < deadline,
                    "server keeps exiting ({status}); last log:\n{}",
                    self.last_log()
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
                child = self.spawn();
                continue;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "server did not answer GET / within 90 s; log:\n{}",
                    self.last_log()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Start the process and `kill -9` it after `delay`, ready or not
    /// (say in the middle of replaying the log).
    pub async fn spawn_and_kill_after(&mut self, delay: Duration) {
        assert!(self.child.is_none(), "spawn while running");
        let mut child = self.spawn();
        tokio::time::sleep(delay).await;
        let _ = child.kill();
        let _ = child.wait();
    }

    /// SIGTERM and wait (up to 60 s) for a clean exit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if let Ok(Some(st)) = c.try_wait() {
                    assert!(
                        st.success(),
                        "server exited with {st}:\n{}",
                        self.last_log()
                    );
                    return;
                }
                if Instant::now() > deadline {
                    let _ = c.kill();
                    panic!(
                        "server did not stop within 60 s of SIGTERM:\n{}",
                        self.last_log()
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// `kill -9` (`Child::kill` sends SIGKILL on Unix) and reap.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The running process's id (to send it a signal).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The stderr of the latest launch.
    pub fn last_log(&self) -> String {
        let log = self.log_dir.join(format!("server-{}.log", self.launches));
        std::fs::read_to_string(log).unwrap_or_default()
    }

    /// The stderr of every launch, concatenated.
    pub fn all_logs(&self) -> String {
        (1..=self.launches)
            .map(|i| {
                let p = self.log_dir.join(format!("server-{i}.log"));
                format!(
                    "--- launch {i} ---\n{}",
                    std::fs::read_to_string(p).unwrap_or_default()
                )
            })
            .collect()
    }
}

impl Drop for BinServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Write a config file with these `[store]` settings and return its path.
pub fn write_config(dir: &Path, store_toml: &str) -> PathBuf {
    let p = dir.join("logweave-test.toml");
    std::fs::write(&p, format!("[store]\n{store_toml}\n")).expect("writing the config");
    p
}

//! ClickHouse as the peer of `bench ingest`: when Debian's
//! `clickhouse-server` is installed, the bench starts one on loopback
//! ports with its data in a temporary folder, loads the same rows into a
//! MergeTree table ordered by (service, timestamp) over HTTP from the same
//! number of connections, runs the SQL equivalent of each query and counts
//! its data folder after a clean shutdown, so the two stores are compared
//! on one machine in one run. ClickHouse does not fsync inserts and has no
//! full-text index; the bench says so next to its figures.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;

/// A running ClickHouse for one bench run.
pub struct ClickHouse {
    child: Child,
    base: String,
    dir: PathBuf,
    client: reqwest::Client,
}

/// The server binary: Debian's `clickhouse-server`, or the single
/// `clickhouse` binary newer releases ship.
pub fn find() -> Option<(PathBuf, bool)> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.extend(["/usr/sbin", "/usr/bin", "/usr/local/bin"].map(PathBuf::from));
    for d in &dirs {
        let p = d.join("clickhouse-server");
        if p.is_file() {
            return Some((p, false));
        }
    }
    dirs.iter()
        .map(|d| d.join("clickhouse"))
        .find(|p| p.is_file())
        .map(|p| (p, true))
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Sends SIGTERM and waits for the process to exit (a clean shutdown).
pub fn terminate(child: &mut Child, within: Duration) -> anyhow::Result<()> {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let t = Instant::now();
    while t.elapsed() < within {
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    anyhow::bail!("did not exit within {within:?} of SIGTERM; killed")
}

impl ClickHouse {
    /// Starts a server with its data, logs and config under `dir`.
    pub async fn start(bin: &Path, single_binary: bool, dir: &Path) -> anyhow::Result<ClickHouse> {
        for sub in ["data", "tmp", "log"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        let (http, tcp) = (free_port()?, free_port()?);
        let d = dir.display();
        let config = format!(
            "<yandex>\n  <logger><level>warning</level><log>{d}/log/server.log</log><errorlog>{d}/log/error.log</errorlog></logger>\n  \
             <http_port>{http}</http_port>\n  <tcp_port>{tcp}</tcp_port>\n  <listen_host>127.0.0.1</listen_host>\n  \
             <path>{d}/data/</path>\n  <tmp_path>{d}/tmp/</tmp_path>\n  <users_config>{d}/users.xml</users_config>\n  \
             <default_profile>default</default_profile>\n  <default_database>default</default_database>\n  \
             <mark_cache_size>268435456</mark_cache_size>\n  \
             <merge_tree><old_parts_lifetime>1</old_parts_lifetime></merge_tree>\n</yandex>\n"
        );
        let users = "<yandex><profiles><default></default></profiles><users><default><password></password>\
                     <networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota>\
                     </default></users><quotas><default></default></quotas></yandex>\n";
        std::fs::write(dir.join("config.xml"), config)?;
        std::fs::write(dir.join("users.xml"), users)?;
        let mut cmd = Command::new(bin);
        if single_binary {
            cmd.arg("server");
        }
        let child = cmd
            .arg(format!(
                "--config-file={}",
                dir.join("config.xml").display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let ch = ClickHouse {
            child,
            base: format!("http://127.0.0.1:{http}/"),
            dir: dir.to_path_buf(),
            client: reqwest::Client::new(),
        };
        let t = Instant::now();
        while ch.sql("SELECT 1").await.is_err() {
            if t.elapsed() > Duration::from_secs(60) {
                anyhow::bail!(
                    "ClickHouse did not answer within 60 s (its log: {})",
                    dir.join("log").display()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(ch)
    }

    /// Runs one statement, returns its output.
    pub async fn sql(&self, q: &str) -> anyhow::Result<String> {
        let r = self
            .client
            .post(&self.base)
            .body(q.to_string())
            .send()
            .await?;
        let ok = r.status().is_success();
        let text = r.text().await?;
        if !ok {
            anyhow::bail!("ClickHouse refused `{q}`: {}", text.trim());
        }
        Ok(text)
    }

    /// Version string.
    pub async fn version(&self) -> String {
        self.sql("SELECT version()")
            .await
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    }

    /// Creates the table the bench loads.
    pub async fn create_table(&self) -> anyhow::Result<()> {
        self.sql(
            "CREATE TABLE logs (timestamp DateTime, level String, message String, service String) \
             ENGINE = MergeTree ORDER BY (service, timestamp)",
        )
        .await
        .map(|_| ())
    }

    /// Inserts JSON-lines bodies from `clients` connections; the elapsed time.
    pub async fn insert(&self, bodies: &[Bytes], clients: u64) -> anyhow::Result<Duration> {
        let bodies = std::sync::Arc::new(bodies.to_vec());
        let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let url = format!(
            "{}?query=INSERT%20INTO%20logs%20FORMAT%20JSONEachRow&input_format_skip_unknown_fields=1",
            self.base
        );
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..clients.max(1) {
            let (bodies, next, url, client) = (
                bodies.clone(),
                next.clone(),
                url.clone(),
                self.client.clone(),
            );
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else { break };
                    let r = client.post(&url).body(body.clone()).send().await?;
                    if !r.status().is_success() {
                        anyhow::bail!(
                            "ClickHouse insert answered {}: {}",
                            r.status(),
                            r.text().await?
                        );
                    }
                }
                Ok::<_, anyhow::Error>(())
            }));
        }
        for t in tasks {
            t.await??;
        }
        Ok(started.elapsed())
    }

    /// Merges the table's parts into one (as logweave's segments are
    /// merged before its count) and waits until the replaced parts are gone
    /// from disk; the bytes of the active parts.
    pub async fn settle(&self) -> anyhow::Result<u64> {
        self.sql("OPTIMIZE TABLE logs FINAL").await?;
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(120) {
            let old = self
                .sql("SELECT count() FROM system.parts WHERE table = 'logs' AND NOT active")
                .await?;
            if old.trim() == "0" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let active = self
            .sql("SELECT sum(bytes_on_disk) FROM system.parts WHERE table = 'logs' AND active")
            .await?;
        Ok(active.trim().parse().unwrap_or(0))
    }

    /// Stops the server cleanly; the bytes its data folder holds.
    pub fn stop(mut self) -> anyhow::Result<u64> {
        terminate(&mut self.child, Duration::from_secs(60))?;
        Ok(super::bench::dir_bytes(&self.dir.join("data")))
    }
}

impl Drop for ClickHouse {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

//! `bench ingest`'s second peer: tantivy-cli (`cargo install tantivy-cli`)
//! indexing the same records from a file, as the ceiling of the library
//! logweave's store is built on: full-text indexing and stored documents,
//! with no write-ahead log, no fsync per request and no HTTP.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;

/// The `tantivy` binary: `LOGWEAVE_TANTIVY_CLI`, else `tantivy` on `PATH`.
pub fn find() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("LOGWEAVE_TANTIVY_CLI") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("tantivy"))
        .find(|p| p.is_file())
}

/// What one tantivy-cli run measured.
pub struct Run {
    pub wall: Duration,
    /// CPU seconds of the process (sampled until just before it exits).
    pub cpu: f64,
    /// Bytes left in the index directory.
    pub disk: u64,
}

/// The records' four fields, each analysed with positions and stored, as
/// logweave keeps `_text` and `_source` (the `default` tokenizer; dates
/// as text, since tantivy-cli reads only RFC 3339 into date fields).
const META: &str = r#"{"segments":[],"opstamp":0,"schema":[
{"name":"timestamp","type":"text","options":{"indexing":{"record":"position","fieldnorms":true,"tokenizer":"default"},"stored":true,"fast":false}},
{"name":"level","type":"text","options":{"indexing":{"record":"position","fieldnorms":true,"tokenizer":"default"},"stored":true,"fast":false}},
{"name":"message","type":"text","options":{"indexing":{"record":"position","fieldnorms":true,"tokenizer":"default"},"stored":true,"fast":false}},
{"name":"service","type":"text","options":{"indexing":{"record":"position","fieldnorms":true,"tokenizer":"default"},"stored":true,"fast":false}}
]}"#;

/// Longer than any run on the bench's data; a stuck peer fails the bench.
const TIME_LIMIT: Duration = Duration::from_secs(600);

/// Index `lines` (JSON lines) with `bin index` in a fresh folder under
/// `dir` (the caller removes `dir`), with its default settings (one indexing thread, merges on).
pub fn run(bin: &Path, lines: &[Bytes], dir: &Path) -> anyhow::Result<Run> {
    let index = dir.join("tantivy-cli-index");
    std::fs::create_dir_all(&index).with_context(|| format!("creating {}", index.display()))?;
    std::fs::write(index.join("meta.json"), META).context("writing tantivy-cli's meta.json")?;
    let input = dir.join("tantivy-cli-input.json");
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(&input).with_context(|| format!("creating {}", input.display()))?,
    );
    for l in lines {
        f.write_all(l)?;
    }
    f.flush()?;
    drop(f);
    // stderr to a file, not a pipe nobody reads while it runs (a full pipe
    // would stall it)
    let err_path = dir.join("tantivy-cli-stderr.txt");
    let err_file = std::fs::File::create(&err_path)
        .with_context(|| format!("creating {}", err_path.display()))?;
    let started = Instant::now();
    let mut child = Command::new(bin)
        .arg("index")
        .arg("-i")
        .arg(&index)
        .arg("-f")
        .arg(&input)
        .stdout(Stdio::null())
        .stderr(err_file)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let mut cpu = 0.0;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if started.elapsed() > TIME_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!(
                "tantivy-cli index ran past {} s and was stopped",
                TIME_LIMIT.as_secs()
            );
        }
        cpu = super::bench::cpu_secs(child.id());
        std::thread::sleep(Duration::from_millis(20));
    };
    let wall = started.elapsed();
    if !status.success() {
        let err = std::fs::read_to_string(&err_path).unwrap_or_default();
        anyhow::bail!("tantivy-cli index failed ({status}): {}", err.trim());
    }
    Ok(Run {
        wall,
        cpu,
        disk: super::bench::dir_bytes(&index),
    })
}

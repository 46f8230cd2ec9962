//! The pattern miner from the command line: `analyze patterns --input FILE`
//! (offline, no server), `eval patterns DIR` (the Loghub benchmark) and
//! `bench patterns` (lines per second on one core).

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;

use crate::analysis::patterns::{loghub, offline, Masker, Miner, MinerConfig};

/// Arguments of `analyze patterns`.
#[derive(clap::Args, Debug)]
pub struct PatternsArgs {
    /// A log file to mine offline, one message per line (without it: the
    /// patterns of a server's events over `--since`/`--until`).
    #[arg(long)]
    pub input: Option<PathBuf>,
    #[command(flatten)]
    pub sel: super::analyze_server::Selection,
    /// With a server: patterns to show.
    #[arg(long, default_value_t = 20)]
    pub size: usize,
    /// With a server: Lucene query syntax (default: every event).
    pub query: Option<String>,
    /// Loghub-style line format naming where the message is, e.g.
    /// `<Date> <Time> <Level> <Component>: <Content>` (default: the whole
    /// line is the message).
    #[arg(long)]
    pub log_format: Option<String>,
    /// Where to write `LineId,EventId,EventTemplate` (default: stdout).
    #[arg(long)]
    pub output: Option<PathBuf>,
}

/// Arguments of `eval patterns`.
#[derive(clap::Args, Debug)]
pub struct EvalPatternsArgs {
    /// A folder in Loghub-2k's layout (`<Sys>/<Sys>_2k.log` and
    /// `<Sys>/<Sys>_2k.log_structured.csv`).
    pub dir: PathBuf,
    /// The corrected truth (Loghub-2.0 layout) for the parsing accuracy.
    #[arg(long)]
    pub corrected: Option<PathBuf>,
    /// Log format of a system the harness does not know, `SYSTEM=FORMAT`
    /// (repeatable).
    #[arg(long = "format", value_name = "SYSTEM=FORMAT")]
    pub formats: Vec<String>,
}

/// `analyze patterns --input FILE`.
pub fn analyze(a: PatternsArgs) -> anyhow::Result<i32> {
    let mut out: Box<dyn Write> = match &a.output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let input = a
        .input
        .as_deref()
        .context("--input FILE is needed to mine a file")?;
    let n = offline::mine_file(input, a.log_format.as_deref(), &mut out)?;
    out.flush().context("writing the output")?;
    eprintln!("{n} lines mined from {}", input.display());
    Ok(0)
}

/// `eval patterns DIR`.
pub fn eval(a: EvalPatternsArgs) -> anyhow::Result<i32> {
    let formats = a
        .formats
        .iter()
        .map(|f| {
            f.split_once('=')
                .map(|(s, f)| (s.trim().to_string(), f.to_string()))
                .with_context(|| format!("--format '{f}': expected SYSTEM=FORMAT"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let corrected = a.corrected.as_ref().filter(|c| c.is_dir());
    if let Some(c) = &a.corrected {
        anyhow::ensure!(c.is_dir(), "--corrected {}: not a folder", c.display());
    }
    let scores = loghub::eval_dir(&a.dir, &formats, corrected)?;
    print!("{}", loghub::render_report(&scores));
    Ok(0)
}

/// `bench patterns`: messages like production ones (the generator's
/// sentences, half of them with a unique request id and trace id) mined
/// on one core, or the lines of `--input`.
pub fn bench(
    lines: usize,
    input: Option<&std::path::Path>,
    log_format: Option<&str>,
) -> anyhow::Result<i32> {
    let fmt = loghub::LogFormat::parse(log_format.unwrap_or("<Content>"))?;
    let messages: Vec<String> = match input {
        Some(p) => {
            let text = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
            let all: Vec<String> = String::from_utf8_lossy(&text)
                .lines()
                .map(|l| fmt.content(l).to_string())
                .collect();
            anyhow::ensure!(!all.is_empty(), "{}: no lines", p.display());
            all.iter()
                .cycle()
                .take(lines.max(all.len()))
                .cloned()
                .collect()
        }
        None => production_like(lines),
    };
    let bytes: usize = messages.iter().map(|m| m.len() + 1).sum();
    println!(
        "bench patterns: {} messages, {:.1} MiB, one core{}",
        messages.len(),
        bytes as f64 / 1048576.0,
        input.map_or(String::new(), |p| format!(", lines of {}", p.display()))
    );
    let mut miner = Miner::new("bench", MinerConfig::default(), Masker::default());
    let started = Instant::now();
    let mut check = 0u64;
    for m in &messages {
        check = check.wrapping_add(miner.add(m).0);
    }
    let s = started.elapsed().as_secs_f64();
    println!(
        "mined in {:.3} s: {:.2} M lines/s, {:.0} MiB/s; {} templates (checksum {check:x})",
        s,
        messages.len() as f64 / s / 1e6,
        bytes as f64 / s / 1048576.0,
        miner.len()
    );
    Ok(0)
}

/// The generator's messages, one in two carrying `req_id=<16 hex>` and a
/// trace id, as real services log them.
fn production_like(n: usize) -> Vec<String> {
    let mut g = crate::generate::Generator::new(crate::generate::GenOptions {
        services: vec!["api".into()],
        seed: 7,
        start_ms: 0,
        step_ms: 10.0,
        error_bursts: true,
        stack_traces: false,
    });
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..n)
        .map(|i| {
            let rec = g.next_record();
            let msg = rec["message"].as_str().unwrap_or_default().to_string();
            if i % 2 == 0 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                format!(
                    "{msg} req_id={x:016x} trace={:032x}",
                    (x as u128) << 64 | (x.rotate_left(17) as u128)
                )
            } else {
                msg
            }
        })
        .collect()
}

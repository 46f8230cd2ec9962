//! `logweave analyze`: analysis from the command line. The offline form of
//! `analyze anomalies` scores a `timestamp,value` file with the default
//! detector and needs no server.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use crate::analysis::anomaly::{self, series_csv, DetectorConfig};

/// What to analyse.
#[derive(clap::Subcommand, Debug)]
pub enum Analyze {
    /// Anomaly scores of a series: `--input SERIES.csv` (`timestamp,value`
    /// rows, header optional; timestamps `YYYY-MM-DD HH:MM:SS`, RFC 3339 or
    /// epoch seconds/ms) gives `timestamp,value,anomaly_score` per row, each
    /// score from the rows at and before it.
    Anomalies(AnomaliesArgs),
}

/// Arguments of `analyze anomalies`.
#[derive(clap::Args, Debug)]
pub struct AnomaliesArgs {
    /// The series file to score offline.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Where to write `timestamp,value,anomaly_score` (default: stdout).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Override a detector setting, `NAME=VALUE` (repeatable; see
    /// `eval anomalies --help` for the names).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
}

/// Run `logweave analyze ...`; returns the exit code.
pub fn run(cmd: Analyze) -> anyhow::Result<i32> {
    match cmd {
        Analyze::Anomalies(a) => anomalies(a),
    }
}

/// The detector settings with `--set NAME=VALUE` overrides applied.
pub(super) fn detector_config(sets: &[String]) -> anyhow::Result<DetectorConfig> {
    let mut cfg = DetectorConfig::default();
    for s in sets {
        let (k, v) = s
            .split_once('=')
            .with_context(|| format!("--set '{s}': expected NAME=VALUE"))?;
        cfg.set(k.trim(), v.trim())
            .map_err(|e| anyhow::anyhow!("--set '{s}': {e}"))?;
    }
    Ok(cfg)
}

fn anomalies(a: AnomaliesArgs) -> anyhow::Result<i32> {
    let Some(input) = &a.input else {
        anyhow::bail!("analyze anomalies needs --input SERIES.csv (a `timestamp,value` file)");
    };
    let cfg = detector_config(&a.set)?;
    let series = series_csv::read_series_file(input)?;
    let scores = anomaly::score_series(&cfg, &series.timestamps, &series.values);
    let mut out: Box<dyn Write> = match &a.output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let write = |out: &mut dyn Write| -> std::io::Result<()> {
        writeln!(out, "timestamp,value,anomaly_score")?;
        for ((ts, v), s) in series
            .raw_timestamps
            .iter()
            .zip(&series.values)
            .zip(&scores)
        {
            writeln!(out, "{ts},{v},{:.9}", s.score)?;
        }
        out.flush()
    };
    write(&mut out).with_context(|| match &a.output {
        Some(p) => format!("writing {}", p.display()),
        None => "writing to stdout".to_string(),
    })?;
    Ok(0)
}

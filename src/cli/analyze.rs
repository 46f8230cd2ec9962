//! `logweave analyze`: analysis from the command line. The offline form of
//! `analyze anomalies` scores a `timestamp,value` file with the default
//! detector, and `analyze forecast` smooths and forecasts one; neither
//! needs a server.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use crate::analysis::anomaly::{self, series_csv, DetectorConfig};
use crate::analysis::forecast::{self, Band, ForecastRequest, Model};

/// What to analyse.
#[derive(clap::Subcommand, Debug)]
pub enum Analyze {
    /// Anomaly scores of a series: `--input SERIES.csv` (`timestamp,value`
    /// rows, header optional; timestamps `YYYY-MM-DD HH:MM:SS`, RFC 3339 or
    /// epoch seconds/ms) gives `timestamp,value,anomaly_score` per row, each
    /// score from the rows at and before it.
    Anomalies(AnomaliesArgs),
    /// Count (or metric) series of a query from a server, per interval,
    /// optionally split by a field, as sparklines.
    Series(super::analyze_server::SeriesArgs),
    /// Log templates of a file: `--input FILE` gives
    /// `LineId,EventId,EventTemplate` per line (the Loghub structured
    /// layout), each line with the template it ends up in.
    Patterns(super::patterns::PatternsArgs),
    /// Smoothing and forecast of a series: `--input SERIES.csv` (the same
    /// `timestamp,value` rows, in time order and evenly spaced) gives the
    /// chosen model and its parameters on stderr, and on stdout
    /// `timestamp,value,smoothed,forecast,lower80,upper80,lower95,upper95`:
    /// one row per input row, then `--horizon` rows ahead.
    Forecast(ForecastArgs),
}

/// Arguments of `analyze forecast`.
#[derive(clap::Args, Debug)]
pub struct ForecastArgs {
    /// The series file to forecast (without it: the count series of QUERY
    /// from a server).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// With a server: its HTTP address.
    #[arg(long, default_value = "http://127.0.0.1:9200")]
    pub server: String,
    /// With a server: index pattern.
    #[arg(long, default_value = "*")]
    pub index: String,
    /// With a server: start (a duration back from now, a time, date math).
    #[arg(long, default_value = "6h")]
    pub since: String,
    /// With a server: end (default: now).
    #[arg(long)]
    pub until: Option<String>,
    /// With a server: interval (auto, 1m, 5m, 1h, ...).
    #[arg(long, default_value = "auto")]
    pub interval: String,
    /// With a server: Lucene query syntax (default: every event).
    pub query: Option<String>,
    /// Where to write the rows (default: stdout).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// `auto` (smallest AICc), `ses` (simple exponential smoothing, the
    /// classic `S_t = a*X_t + (1-a)*S_{t-1}`), `holt` (linear or damped
    /// trend) or `seasonal` (season profile plus smoothing).
    #[arg(long, default_value = "auto", value_parser = parse_model)]
    pub model: Model,
    /// Level smoothing constant in (0, 1] (default: fitted).
    #[arg(long)]
    pub alpha: Option<f64>,
    /// Season length in rows (default: an hourly, daily or weekly season
    /// detected from the timestamps' step).
    #[arg(long)]
    pub season: Option<usize>,
    /// Rows to forecast after the last one.
    #[arg(long, default_value_t = 60)]
    pub horizon: usize,
    /// One JSON document (model, params, step, smoothed and future rows)
    /// instead of CSV.
    #[arg(long)]
    pub json: bool,
}

fn parse_model(s: &str) -> Result<Model, String> {
    s.parse()
        .map_err(|e: forecast::ForecastError| e.to_string())
}

/// Arguments of `analyze anomalies`.
#[derive(clap::Args, Debug)]
pub struct AnomaliesArgs {
    /// The series file to score offline (without it: the server's stored
    /// anomalies over `--since`/`--until`).
    #[arg(long)]
    pub input: Option<PathBuf>,
    #[command(flatten)]
    pub sel: super::analyze_server::Selection,
    /// With a server: run detection over the range first (finds what the
    /// live watches could not see, such as backfilled events).
    #[arg(long)]
    pub detect: bool,
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
        Analyze::Patterns(a) => match a.input {
            Some(_) => super::patterns::analyze(a),
            None => runtime()?.block_on(super::analyze_server::patterns(
                &a.sel,
                a.size,
                a.query.as_deref(),
            )),
        },
        Analyze::Series(a) => runtime()?.block_on(super::analyze_server::series(a)),
        Analyze::Forecast(a) => forecast_file(a),
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

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn anomalies(a: AnomaliesArgs) -> anyhow::Result<i32> {
    let Some(input) = &a.input else {
        return runtime()?.block_on(super::analyze_server::anomalies(&a.sel, a.detect));
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

fn forecast_file(a: ForecastArgs) -> anyhow::Result<i32> {
    let Some(input) = &a.input else {
        let server = a.server.clone();
        return runtime()?
            .block_on(super::analyze_server::forecast(&a))
            .with_context(|| {
                format!("no --input file given, so asking the server at {server} for the series")
            });
    };
    let series = series_csv::read_series_file(input)?;
    let source = input.display();
    let step_ms = step_of(&series).with_context(|| source.to_string())?;
    let req = ForecastRequest {
        model: a.model,
        alpha: a.alpha,
        season: a.season,
        horizon: a.horizon,
    };
    // fewer than two rows have no step; `forecast` names the problem
    let f = forecast::forecast(&series.values, step_ms.unwrap_or(1), &req)
        .map_err(|e| anyhow::anyhow!("{source}: {e}"))?;
    let step_ms = step_ms.unwrap_or(1);
    let last_ms = series.timestamps.last().copied().unwrap_or(0);
    let last_raw = series.raw_timestamps.last().map_or("", String::as_str);
    let ahead: Vec<(i64, String)> = (1..=f.future.len() as i64)
        .map(|h| {
            let ms = last_ms.saturating_add(step_ms.saturating_mul(h));
            (ms, render_like(last_raw, ms))
        })
        .collect();

    let mut out: Box<dyn Write> = match &a.output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let write = |out: &mut dyn Write| -> std::io::Result<()> {
        if a.json {
            let doc = ForecastJson {
                model: &f.model,
                params: &f.params,
                step_ms,
                smoothed: series
                    .raw_timestamps
                    .iter()
                    .zip(&series.timestamps)
                    .zip(series.values.iter().zip(&f.smoothed))
                    .map(|((ts, &ms), (&value, &smoothed))| SmoothedRow {
                        timestamp: ts,
                        timestamp_ms: ms,
                        value,
                        smoothed,
                    })
                    .collect(),
                future: ahead
                    .iter()
                    .zip(&f.future)
                    .map(|((ms, ts), band)| FutureRow {
                        timestamp: ts,
                        timestamp_ms: *ms,
                        band,
                    })
                    .collect(),
            };
            serde_json::to_writer_pretty(&mut *out, &doc)?;
            writeln!(out)?;
        } else {
            writeln!(
                out,
                "timestamp,value,smoothed,forecast,lower80,upper80,lower95,upper95"
            )?;
            // `{}` prints the shortest text that reads back as the same f64
            let rows = series
                .raw_timestamps
                .iter()
                .zip(&series.values)
                .zip(&f.smoothed);
            for ((ts, v), s) in rows {
                writeln!(out, "{ts},{v},{s},,,,,")?;
            }
            for ((_, ts), b) in ahead.iter().zip(&f.future) {
                writeln!(
                    out,
                    "{ts},,,{},{},{},{},{}",
                    b.forecast, b.lower80, b.upper80, b.lower95, b.upper95
                )?;
            }
        }
        out.flush()
    };
    if !a.json {
        let params: Vec<String> = f.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        eprintln!(
            "model {} ({}), step {step_ms} ms",
            f.model,
            params.join(", ")
        );
    }
    write(&mut out).with_context(|| match &a.output {
        Some(p) => format!("writing {}", p.display()),
        None => "writing to stdout".to_string(),
    })?;
    Ok(0)
}

/// `analyze forecast --json`.
#[derive(serde::Serialize)]
struct ForecastJson<'a> {
    model: &'a str,
    params: &'a std::collections::BTreeMap<String, f64>,
    step_ms: i64,
    smoothed: Vec<SmoothedRow<'a>>,
    future: Vec<FutureRow<'a>>,
}

#[derive(serde::Serialize)]
struct SmoothedRow<'a> {
    timestamp: &'a str,
    timestamp_ms: i64,
    value: f64,
    smoothed: f64,
}

#[derive(serde::Serialize)]
struct FutureRow<'a> {
    timestamp: &'a str,
    timestamp_ms: i64,
    #[serde(flatten)]
    band: &'a Band,
}

/// The series' step: the median gap between rows (a few missing rows do
/// not change it; the rows are forecast as if evenly spaced). `None` for
/// fewer than two rows; an error when the rows are not in time order.
fn step_of(series: &series_csv::Series) -> anyhow::Result<Option<i64>> {
    let ts = &series.timestamps;
    let mut gaps = Vec::with_capacity(ts.len().saturating_sub(1));
    for (i, w) in ts.windows(2).enumerate() {
        if w[1] <= w[0] {
            anyhow::bail!(
                "rows must be in time order, one per step: '{}' is not after the row before it ('{}')",
                series.raw_timestamps[i + 1],
                series.raw_timestamps[i]
            );
        }
        gaps.push(w[1] - w[0]);
    }
    if gaps.is_empty() {
        return Ok(None);
    }
    let mid = gaps.len() / 2;
    let step = *gaps.select_nth_unstable(mid).1;
    let uneven = gaps.iter().filter(|&&g| g != step).count();
    if uneven > 0 {
        eprintln!(
            "note: {uneven} of {} gaps between rows differ from the step of {step} ms; rows are taken as evenly spaced",
            gaps.len()
        );
    }
    Ok(Some(step))
}

/// A future instant written the way the file writes its last timestamp:
/// the same date shape (UTC), or an epoch number in the same unit.
fn render_like(example: &str, ms: i64) -> String {
    use crate::event::timestamp::{parse_iso_like, DateShape};
    let example = example.trim();
    if let Some((_, shape)) = parse_iso_like(example, None) {
        // the civil shapes have whole seconds only
        let shape = if ms % 1000 != 0 {
            DateShape::Iso
        } else {
            shape
        };
        return shape.render(ms);
    }
    // the units `epoch_number_to_millis` tells apart by size
    match example.parse::<f64>().unwrap_or(0.0) {
        v if v < 1e11 && ms % 1000 == 0 => (ms / 1000).to_string(),
        v if v < 1e11 => format!("{}", ms as f64 / 1000.0),
        v if v < 1e14 => ms.to_string(),
        v if v < 1e17 => (ms as i128 * 1000).to_string(),
        _ => (ms as i128 * 1_000_000).to_string(),
    }
}

//! `logweave eval`: the evaluation harness. `eval anomalies DIR` scores the
//! detector with default settings on a folder in the layout of the Numenta
//! Anomaly Benchmark, the way NAB scores, next to NAB's reference figures
//! and to our re-implementations of NAB's random and windowed Gaussian
//! detectors (which check the scorer against NAB's own numbers).

use std::path::PathBuf;
use std::time::Instant;

use crate::analysis::anomaly::{self, baselines, nab};

/// What to evaluate.
#[derive(clap::Subcommand, Debug)]
pub enum Eval {
    /// NAB standard / reward_low_FP / reward_low_FN scores of the anomaly
    /// detector on DIR (`data/<category>/*.csv`, `labels/combined_windows.json`),
    /// per category and overall, one threshold per profile over the corpus.
    Anomalies(EvalAnomaliesArgs),
    /// Grouping accuracy, pairwise F1 and parsing accuracy of the pattern
    /// miner on a Loghub-2k folder, per system, beside the published Drain
    /// and Brain figures.
    Patterns(super::patterns::EvalPatternsArgs),
}

/// Arguments of `eval anomalies`.
#[derive(clap::Args, Debug)]
pub struct EvalAnomaliesArgs {
    /// A folder in NAB's layout.
    pub dir: PathBuf,
    /// Override a detector setting, `NAME=VALUE` (repeatable), to see how
    /// sensitive the figures are. Names: seasonal, max_phases, min_seasons,
    /// alpha_level, alpha_season, huber, model_error_alpha,
    /// model_switch_margin, scale_window, recent_window, shift_window, z_clip,
    /// shift_relevel_z, tail_window, tail_quantile, tail_min,
    /// daily_envelope, envelope_buckets, repeat_factor, repeat_decay,
    /// repeat_escalation, count_aware, score_half, range_window,
    /// range_tolerance, range_surprise, range_slope, rest_points,
    /// rest_surprise, rest_escalation, rest_factor, tail_max_shape.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
    /// Also print, per file, the windows detected and the false positives
    /// at the standard profile's threshold.
    #[arg(long)]
    pub per_file: bool,
}

/// One detector's scores over the corpus: name, scores per file, and the
/// row from which it counts.
type Run<'a> = (&'a str, &'a Vec<Vec<f64>>, Option<usize>);

/// Run `logweave eval ...`; returns the exit code.
pub fn run(cmd: Eval) -> anyhow::Result<i32> {
    match cmd {
        Eval::Anomalies(a) => anomalies(a),
        Eval::Patterns(a) => super::patterns::eval(a),
    }
}

/// NAB's figures for exactly the 24 files of the shared realAWSCloudwatch
/// and realKnownCause categories, measured with NAB's own code and its
/// stored results (standard, reward_low_FP, reward_low_FN).
const REFERENCE: [(&str, [f64; 3]); 3] = [
    ("Numenta HTM", [66.54, 60.10, 71.60]),
    ("windowedGaussian", [24.30, 6.84, 32.21]),
    ("random", [18.39, 5.80, 30.86]),
];

fn anomalies(a: EvalAnomaliesArgs) -> anyhow::Result<i32> {
    let cfg = super::analyze::detector_config(&a.set)?;
    let files = nab::load_corpus(&a.dir)?;
    let rows: usize = files.iter().map(|f| f.values.len()).sum();
    let windows: usize = files.iter().map(|f| f.windows.len()).sum();
    println!(
        "NAB scoring of {}: {} files, {} rows, {} windows",
        a.dir.display(),
        files.len(),
        rows,
        windows
    );
    let started = Instant::now();
    let ours: Vec<Vec<f64>> = files
        .iter()
        .map(|f| {
            anomaly::score_series(&cfg, &f.timestamps, &f.values)
                .into_iter()
                .map(|p| p.score)
                .collect()
        })
        .collect();
    let took = started.elapsed();
    let gaussian: Vec<Vec<f64>> = files
        .iter()
        .map(|f| baselines::windowed_gaussian_scores(&f.values))
        .collect();
    let random: Vec<Vec<f64>> = files
        .iter()
        .map(|f| baselines::random_scores(f.values.len()))
        .collect();
    let null: Vec<Vec<f64>> = files.iter().map(|f| vec![0.0; f.values.len()]).collect();
    println!(
        "logweave detector: {:.0} ms for {rows} rows{}",
        took.as_secs_f64() * 1000.0,
        if a.set.is_empty() {
            " (default settings)".to_string()
        } else {
            format!(" (with {})", a.set.join(" "))
        }
    );
    println!();
    // NAB's figures were measured on the 24 shared files: shown only for them
    let shared_corpus = files.len() == 24
        && windows == 49
        && files
            .iter()
            .all(|f| f.category == "realAWSCloudwatch" || f.category == "realKnownCause");
    println!(
        "{:<28} {:>9} {:>9} {:>9}   {}",
        "detector / category",
        "standard",
        "low_FP",
        "low_FN",
        if shared_corpus {
            "NAB's code on these 24 files"
        } else {
            ""
        }
    );
    let runs: [Run; 4] = [
        ("logweave", &ours, Some(0)),
        ("windowedGaussian (ours)", &gaussian, Some(1)),
        ("random (ours, seed 42)", &random, Some(2)),
        ("null", &null, None),
    ];
    let mut ours_results = Vec::new();
    for (name, scores, reference) in runs {
        let results: Vec<nab::ProfileResult> = nab::PROFILES
            .iter()
            .map(|p| nab::score_corpus(&files, scores, p))
            .collect();
        let refs = reference.filter(|_| shared_corpus).map(|i| REFERENCE[i]);
        println!(
            "{:<28} {:>9.2} {:>9.2} {:>9.2}   {}",
            name,
            results[0].overall,
            results[1].overall,
            results[2].overall,
            refs.map(|(n, r)| format!("{n} {:.2} / {:.2} / {:.2}", r[0], r[1], r[2]))
                .unwrap_or_default()
        );
        if name != "null" {
            for (ci, (cat, _)) in results[0].per_category.iter().enumerate() {
                println!(
                    "  {:<26} {:>9.2} {:>9.2} {:>9.2}",
                    cat,
                    results[0].per_category[ci].1,
                    results[1].per_category[ci].1,
                    results[2].per_category[ci].1
                );
            }
        }
        if name == "logweave" {
            ours_results = results;
        }
    }
    println!();
    for r in &ours_results {
        println!(
            "logweave {:<19} threshold {:<12} windows detected {}/{}, false-positive rows {}, raw {:.2}",
            r.profile.name,
            if r.threshold.is_finite() { format!("{:.6}", r.threshold) } else { "none".into() },
            r.windows_detected,
            r.windows,
            r.false_positives,
            r.raw
        );
    }
    if a.per_file {
        println!();
        let t = ours_results.first().map_or(f64::INFINITY, |r| r.threshold);
        for (f, s) in files.iter().zip(&ours) {
            let p = f.probation();
            let first_hit: Vec<String> = f
                .windows
                .iter()
                .map(|&(lo, hi)| match (lo.max(p)..=hi).find(|&i| s[i] >= t) {
                    Some(i) => format!("+{}/{}", i - lo, hi - lo + 1),
                    None => "miss".into(),
                })
                .collect();
            let fps = (p..s.len())
                .filter(|&i| s[i] >= t && !f.windows.iter().any(|&(lo, hi)| (lo..=hi).contains(&i)))
                .count();
            println!(
                "{:<60} windows [{}] false positives {}",
                f.key,
                first_hit.join(" "),
                fps
            );
        }
    }
    Ok(0)
}

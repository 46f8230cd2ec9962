//! Anomaly scores for one series at a time, streaming: [`Detector`] scores
//! each point from the points before it (no look-ahead), so the same code
//! serves live watches, detection over past ranges and the offline
//! `analyze anomalies`. [`nab`] scores detectors the way the Numenta Anomaly
//! Benchmark does, for `eval anomalies`.

pub mod baselines;
mod detector;
pub mod nab;
pub mod series_csv;
pub mod stats;

pub use detector::{Detector, DetectorConfig};

/// The judgement of one point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PointScore {
    /// How unusual the point is, in [0, 1]: `s / (s + 3)` where `s` is the
    /// `-log10` of its estimated probability (0.5 at p = 10^-3).
    pub score: f64,
    /// The one-step-ahead forecast.
    pub expected: f64,
    /// Lower end of the 99 % prediction band (widened by what the same time
    /// of the previous days showed).
    pub lower: f64,
    /// Upper end of that band.
    pub upper: f64,
}

/// Severity of a score. The thresholds in probability terms: low from
/// p ≈ 10^-3 (score 0.5), medium from p ≈ 10^-7 (0.7), high from
/// p ≈ 10^-12 (0.8); the probabilities are judged against the series' own
/// error history, so a series that is noisy by nature needs more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Unusual, worth a look.
    Low,
    /// Clearly out of the ordinary.
    Medium,
    /// Far outside anything the series has done.
    High,
}

impl Severity {
    /// Score from which a point is at least low severity.
    pub const LOW: f64 = 0.5;
    /// Score from which a point is at least medium severity.
    pub const MEDIUM: f64 = 0.7;
    /// Score from which a point is high severity.
    pub const HIGH: f64 = 0.8;

    /// The severity of `score`, `None` below [`Severity::LOW`].
    pub fn from_score(score: f64) -> Option<Severity> {
        if score >= Self::HIGH {
            Some(Severity::High)
        } else if score >= Self::MEDIUM {
            Some(Severity::Medium)
        } else if score >= Self::LOW {
            Some(Severity::Low)
        } else {
            None
        }
    }

    /// Lower-case name, as the API and CLI print it.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

/// Score a whole series with a fresh detector (the offline form).
pub fn score_series(cfg: &DetectorConfig, timestamps: &[i64], values: &[f64]) -> Vec<PointScore> {
    let mut d = Detector::new(cfg);
    timestamps
        .iter()
        .zip(values)
        .map(|(&t, &v)| d.push(t, v))
        .collect()
}

#[cfg(test)]
mod tests;

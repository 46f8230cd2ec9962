//! `logweave bench anomalies`: the anomaly detector's speed on 1,000
//! synthetic series of one week of minutes (10,080 points each: a daily
//! cycle with noise, like a service's log volume), on one thread and on
//! all cores.

use std::time::Instant;

use crate::analysis::anomaly::{Detector, DetectorConfig};

const SERIES: usize = 1000;
const POINTS: usize = 10_080;

fn series(seed: u64) -> Vec<f64> {
    // a cheap deterministic generator: xorshift noise around a daily cycle
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let peak = 20.0 + (seed % 50) as f64 * 20.0;
    (0..POINTS)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let u = (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
            let day = (2.0 * std::f64::consts::PI * (i % 1440) as f64 / 1440.0).sin();
            let rate = 2.0 + peak * (0.5 + 0.5 * day);
            (rate + 2.0 * rate.sqrt() * u).round().max(0.0)
        })
        .collect()
}

fn score(all: &[Vec<f64>], ts: &[i64], cfg: &DetectorConfig) -> f64 {
    let mut sum = 0.0;
    for values in all {
        let mut d = Detector::new(cfg);
        for (&t, &v) in ts.iter().zip(values) {
            sum += d.push(t, v).score;
        }
    }
    sum
}

/// Run the benchmark; prints points per second.
pub fn anomalies() -> anyhow::Result<i32> {
    let all: Vec<Vec<f64>> = (0..SERIES as u64).map(series).collect();
    let ts: Vec<i64> = (0..POINTS as i64)
        .map(|i| 1_700_006_400_000 + i * 60_000)
        .collect();
    let cfg = DetectorConfig::default();
    let points = (SERIES * POINTS) as f64;

    let t = Instant::now();
    let check = score(&all, &ts, &cfg);
    let one = t.elapsed().as_secs_f64();
    println!(
        "bench anomalies: {SERIES} series x {POINTS} points, default detector, one thread: {one:.3} s ({:.0} ns/point, {:.1} M points/s)",
        one * 1e9 / points,
        points / one / 1e6
    );

    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let t = Instant::now();
    let chunk = all.len().div_ceil(threads);
    let check_par: f64 = std::thread::scope(|s| {
        let handles: Vec<_> = all
            .chunks(chunk)
            .map(|c| s.spawn(|| score(c, &ts, &cfg)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(f64::NAN))
            .sum()
    });
    let par = t.elapsed().as_secs_f64();
    println!(
        "{threads} threads: {par:.3} s ({:.1} M points/s)",
        points / par / 1e6
    );
    if (check - check_par).abs() > 1e-6 * check.abs().max(1.0) {
        anyhow::bail!("scores differ between runs: {check} vs {check_par}");
    }
    Ok(0)
}

//! Season detection: is there an hourly, daily or weekly cycle, and which?
//!
//! Candidates are the hour, the day and the week in points of the series'
//! step, when that is a whole number of at least 2 and the series covers
//! two full seasons. Each is judged by leave-one-season-out
//! cross-validation: how well the profile of all other seasons predicts
//! each season of the detrended series (a phase-smoothed profile, the
//! smoothing width chosen by the same criterion). Seasons are far apart
//! in time, so noise that is autocorrelated within a season (random-walk
//! levels, AR noise) does not make other seasons look alike, where an
//! autocorrelation or periodogram peak, or an in-sample F test, would see a
//! cycle in such noise. The series is winsorised first so bursts neither
//! fake a season nor hide one.
//!
//! (`augurs-seasons` has a periodogram detector; it reported 25 for a true
//! 24 in the shared crate notes, and it is a hint with no significance.)

use super::seasonal::{detrend, robust_sigma, sample};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
const WEEK_MS: i64 = 7 * DAY_MS;

/// Widths of the profile smoothing tried (powers of 3, so the box sums of
/// each are three shifted box sums of the previous one).
const WIDTH_LEVELS: usize = 4; // 1, 3, 9, 27, 81

/// Winsorising bound in robust standard deviations of the detrended series.
const WINSOR_SIGMAS: f64 = 5.0;

/// A season found (or checked) in a series.
#[derive(Clone, Debug)]
pub(super) struct Found {
    pub period: usize,
    pub width: usize,
    /// Share of the detrended variance the profile predicts out of sample.
    pub score: f64,
    /// The series minus its trend, for the profile.
    pub detrended: Vec<f64>,
}

/// The hourly, daily or weekly period, in points of `step_ms`, that the
/// values show; `None` when none does (or the series is too short to tell:
/// two full seasons are needed).
pub fn detect_season(values: &[f64], step_ms: i64) -> Option<usize> {
    let scale = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if !scale.is_finite() || scale == 0.0 {
        return None;
    }
    let z: Vec<f64> = values.iter().map(|v| v / scale).collect();
    detect(&z, step_ms).map(|f| f.period)
}

/// Candidate periods in points, shortest first.
pub(super) fn candidates(step_ms: i64, len: usize) -> Vec<usize> {
    if step_ms <= 0 {
        return Vec::new();
    }
    [HOUR_MS, DAY_MS, WEEK_MS]
        .iter()
        .filter(|&&p| p % step_ms == 0)
        .map(|&p| (p / step_ms) as usize)
        .filter(|&m| m >= 2 && len >= 2 * m)
        .collect()
}

/// Out-of-sample score a season must reach, by the number of full
/// seasons: with two, two smooth random paths agree by chance far more
/// often than with seven (random walks reached 0.5 in 2 % of trials).
fn threshold(full_seasons: usize) -> f64 {
    match full_seasons {
        0..=2 => 0.5,
        3 => 0.3,
        _ => 0.15,
    }
}

pub(super) fn detect(z: &[f64], step_ms: i64) -> Option<Found> {
    let cands = candidates(step_ms, z.len());
    let &longest = cands.last()?;
    // all candidates divide the longest, so its detrending keeps each of
    // their cycles whole and the scores compare on the same data
    let detrended = detrend(z, longest);
    let winsorised = winsorise(&detrended);
    let mut best: Option<(usize, usize, f64)> = None;
    for &m in &cands {
        let Some((width, score)) = best_width(&winsorised, m) else {
            continue;
        };
        if score >= threshold(z.len() / m) && best.is_none_or(|b| score > b.2) {
            best = Some((m, width, score));
        }
    }
    let (period, width, score) = best?;
    Some(Found {
        period,
        width,
        score,
        detrended,
    })
}

/// The given season, with its profile smoothing chosen the same way.
pub(super) fn assess(z: &[f64], m: usize) -> Found {
    let detrended = detrend(z, m);
    let (width, score) = best_width(&winsorise(&detrended), m).unwrap_or((1, 0.0));
    Found {
        period: m,
        width,
        score,
        detrended,
    }
}

fn winsorise(d: &[f64]) -> Vec<f64> {
    let s = sample(d.len(), 1, |t| d[t]);
    let mut sorted = s.clone();
    let mid = sorted.len() / 2;
    let median = sorted
        .select_nth_unstable_by(mid, f64::total_cmp)
        .1
        .to_owned();
    let sigma = robust_sigma(s);
    if sigma <= 0.0 {
        return d.to_vec();
    }
    let (lo, hi) = (
        median - WINSOR_SIGMAS * sigma,
        median + WINSOR_SIGMAS * sigma,
    );
    d.iter().map(|v| v.clamp(lo, hi)).collect()
}

/// Smoothing widths tried for period `m`: 1 and the powers of 3 up to
/// m / 8 (a wider box would flatten the cycle itself).
fn width_levels(m: usize) -> usize {
    (1..=WIDTH_LEVELS)
        .take_while(|&l| 3usize.pow(l as u32) <= m / 8)
        .count()
}

/// The (width, score) with the best leave-one-season-out score, `None`
/// for a series without variance.
fn best_width(d: &[f64], m: usize) -> Option<(usize, f64)> {
    loso_scores(d, m)?
        .into_iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

/// Leave-one-season-out score (1 - CV error / total sum of squares) of
/// each profile smoothing width.
///
/// With `P` the phase means, `k_q` the count of phase `q` and `B_w` the
/// circular box average of width `w`, the profile without season `j` is
/// `B_w(P) + B_w(u_j)` where `u_j(q) = (P(q) - d_jq) / (k_q - 1)` on the
/// phases season `j` has (0 elsewhere): exact, in O(n) per width.
fn loso_scores(d: &[f64], m: usize) -> Option<Vec<(usize, f64)>> {
    let n = d.len();
    let mean = d.iter().sum::<f64>() / n as f64;
    let sst: f64 = d.iter().map(|v| (v - mean) * (v - mean)).sum();
    if sst.is_nan() || sst <= 1e-300 {
        return None;
    }
    let mut sum = vec![0.0; m];
    let mut count = vec![0usize; m];
    for row in d.chunks(m) {
        for (q, &v) in row.iter().enumerate() {
            sum[q] += v;
            count[q] += 1;
        }
    }
    if count.iter().any(|&c| c < 2) {
        return None;
    }
    let phase_mean: Vec<f64> = sum.iter().zip(&count).map(|(s, &c)| s / c as f64).collect();
    let inv_km1: Vec<f64> = count.iter().map(|&c| 1.0 / (c - 1) as f64).collect();
    let levels = width_levels(m);
    let pad = (3usize.pow(levels as u32) - 1) / 2;
    let len = m + 2 * pad;

    // box sums (not yet divided) of every width, over the padded circle
    let boxes = |v: &[f64], out: &mut Vec<Vec<f64>>| {
        // the circle unrolled: the last `pad` phases, all, the first `pad`
        // (pad < m / 16 by `width_levels`)
        out[0][..pad].copy_from_slice(&v[m - pad..]);
        out[0][pad..pad + m].copy_from_slice(v);
        out[0][pad + m..].copy_from_slice(&v[..pad]);
        for l in 1..=levels {
            let s = 3usize.pow(l as u32 - 1);
            let (done, rest) = out.split_at_mut(l);
            let (prev, cur) = (&done[l - 1], &mut rest[0]);
            let sums = prev[..len - 2 * s]
                .iter()
                .zip(&prev[s..len - s])
                .zip(&prev[2 * s..]);
            for (o, ((a, b), c)) in cur[s..len - s].iter_mut().zip(sums) {
                *o = a + b + c;
            }
        }
    };
    let mut profile_boxes = vec![vec![0.0; len]; levels + 1];
    boxes(&phase_mean, &mut profile_boxes);
    // the smoothed profile of each width, divided once
    let smoothed: Vec<Vec<f64>> = profile_boxes
        .iter()
        .enumerate()
        .map(|(l, b)| {
            let inv_w = 1.0 / 3usize.pow(l as u32) as f64;
            b[pad..pad + m].iter().map(|v| v * inv_w).collect()
        })
        .collect();
    let mut row_boxes = vec![vec![0.0; len]; levels + 1];
    let mut u = vec![0.0; m];
    let mut cv = vec![vec![0.0; m]; levels + 1];
    for row in d.chunks(m) {
        if row.len() < m {
            u.iter_mut().for_each(|x| *x = 0.0);
        }
        for ((u, v), (p, inv)) in u.iter_mut().zip(row).zip(phase_mean.iter().zip(&inv_km1)) {
            *u = (p - v) * inv;
        }
        boxes(&u, &mut row_boxes);
        for l in 0..=levels {
            let inv_w = 1.0 / 3usize.pow(l as u32) as f64;
            let terms = row.iter().zip(&smoothed[l]).zip(&row_boxes[l][pad..]);
            for (acc, ((v, s), b)) in cv[l].iter_mut().zip(terms) {
                let r = v - s - b * inv_w;
                *acc += r * r;
            }
        }
    }
    Some(
        (0..=levels)
            .map(|l| (3usize.pow(l as u32), 1.0 - cv[l].iter().sum::<f64>() / sst))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_follow_the_step() {
        assert_eq!(candidates(60_000, 10_080), vec![60, 1440]);
        assert_eq!(candidates(60_000, 20_160), vec![60, 1440, 10_080]);
        assert_eq!(candidates(HOUR_MS, 400), vec![24, 168]);
        assert_eq!(candidates(DAY_MS, 70), vec![7]);
        // 7 minutes: no whole hour or day, but a week of 1440 steps
        assert_eq!(candidates(7 * 60_000, 100_000), vec![1440]);
        assert!(candidates(11 * 60_000, 100_000).is_empty());
        assert!(candidates(0, 100).is_empty());
    }

    /// The leave-one-season-out shortcut equals refitting without each season.
    #[test]
    fn loso_shortcut_equals_brute_force() {
        let m = 72;
        let d: Vec<f64> = (0..m * 3 + 20)
            .map(|t| ((t * 7919) % 101) as f64 / 50.0 + (t as f64 * 0.3).sin())
            .collect();
        let scores = loso_scores(&d, m).unwrap_or_default();
        assert_eq!(scores.len(), 3, "widths 1, 3, 9 for m = 72");
        for (width, score) in scores {
            assert!(
                (score - brute_force(&d, m, width)).abs() < 1e-9,
                "width {width}"
            );
        }
    }

    fn brute_force(d: &[f64], m: usize, width: usize) -> f64 {
        let n = d.len();
        let mean = d.iter().sum::<f64>() / n as f64;
        let sst: f64 = d.iter().map(|v| (v - mean).powi(2)).sum();
        let mut cv = 0.0;
        for j in 0..n.div_ceil(m) {
            let mut sum = vec![0.0; m];
            let mut cnt = vec![0.0; m];
            for (t, v) in d.iter().enumerate() {
                if t / m != j {
                    sum[t % m] += v;
                    cnt[t % m] += 1.0;
                }
            }
            let p: Vec<f64> = sum.iter().zip(&cnt).map(|(s, c)| s / c).collect();
            let h = (width / 2) as isize;
            for (t, v) in d.iter().enumerate().skip(j * m).take(m) {
                let q = (t % m) as isize;
                let s: f64 = (-h..=h)
                    .map(|i| p[((q + i).rem_euclid(m as isize)) as usize])
                    .sum::<f64>()
                    / width as f64;
                cv += (v - s).powi(2);
            }
        }
        1.0 - cv / sst
    }
}

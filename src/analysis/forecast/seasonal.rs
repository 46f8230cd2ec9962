//! The seasonal part of the seasonal model: a robust profile of one
//! season, estimated from the whole history (a classical decomposition in
//! two rounds, as STL does with a periodic seasonal window, but with moving
//! averages instead of loess: the daily profile of a week of minutes has
//! 1,440 values and loess over it would cost more than the whole budget).
//!
//! The series minus the profile is then smoothed by the level and trend
//! models (`Model::Seasonal` = STL(periodic) + ETS, as FPP3's `stlf`).
//! Why not additive Holt-Winters: with a season of 1,440 points each
//! seasonal state is updated once a day, seven times in a week, so its
//! smoothing constant cannot be estimated and its start is all that counts;
//! estimating that start robustly from all seasons is this module.

/// Largest sample the robust scale is computed from (every k-th point).
const SCALE_SAMPLE: usize = 2048;

/// Residuals beyond this many robust standard deviations from their phase
/// are pulled back to it before the phase means are taken: a burst moves
/// the profile by a little, not by its size divided by the number of days.
const CLIP_SIGMAS: f64 = 3.0;

/// A season's profile, in the units of the series it came from.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Profile {
    pub period: usize,
    /// Width of the circular moving average over neighbouring phases.
    pub width: usize,
    /// One value per phase (`t % period`), summing to zero.
    pub values: Vec<f64>,
    /// Degrees of freedom the profile took from the data (trace of its
    /// smoother, less one for the centring).
    pub df: f64,
    /// Leave-one-season-out score of the season (see `season`).
    pub score: f64,
}

impl Profile {
    /// `x_t - profile[t % period]`.
    pub fn adjust(&self, x: &[f64]) -> Vec<f64> {
        x.iter()
            .zip(self.values.iter().cycle())
            .map(|(v, s)| v - s)
            .collect()
    }
}

/// The profile of period `m` from a detrended series, smoothed over
/// `width` neighbouring phases.
pub(super) fn profile(detrended: &[f64], m: usize, width: usize) -> Profile {
    let raw = robust_phase_means(detrended, m);
    let mut values = box_smooth(&raw, width);
    center(&mut values);
    Profile {
        period: m,
        width,
        values,
        df: (m as f64 / width as f64 - 1.0).max(1.0),
        score: 0.0,
    }
}

/// The series minus its trend. The trend runs straight between the means
/// of consecutive seasons, placed at their centres, and on beyond the
/// first and last: each mean covers a whole cycle, so the cycle stays in
/// the remainder, and the level may drift (the classical decomposition's
/// moving average over one season does the same, at three times the cost
/// and with biased ends). A partial last season counts with the profile of
/// the full ones taken out.
pub(super) fn detrend(x: &[f64], m: usize) -> Vec<f64> {
    let n = x.len();
    let full = n / m;
    if m == 0 || full == 0 {
        let mean = x.iter().sum::<f64>() / n.max(1) as f64;
        return x.iter().map(|v| v - mean).collect();
    }
    let half = (m - 1) as f64 / 2.0;
    let mut anchors: Vec<(f64, f64)> = x
        .chunks_exact(m)
        .enumerate()
        .map(|(j, row)| ((j * m) as f64 + half, row.iter().sum::<f64>() / m as f64))
        .collect();
    let rest = &x[full * m..];
    if !rest.is_empty() {
        let mut profile = vec![0.0; m];
        for (row, &(_, level)) in x.chunks_exact(m).zip(&anchors) {
            for (p, v) in profile.iter_mut().zip(row) {
                *p += v - level;
            }
        }
        let level = rest
            .iter()
            .zip(&profile)
            .map(|(v, p)| v - p / full as f64)
            .sum::<f64>()
            / rest.len() as f64;
        // the profile holds the mean slope within a season too, so this is
        // the level at the centre the season would have had when full
        anchors.push(((full * m) as f64 + half, level));
    }
    if anchors.len() == 1 {
        let level = anchors[0].1;
        return x.iter().map(|v| v - level).collect();
    }
    let mut out = Vec::with_capacity(n);
    let mut seg = 0;
    for (t, v) in x.iter().enumerate() {
        let tf = t as f64;
        while seg + 2 < anchors.len() && tf > anchors[seg + 1].0 {
            seg += 1;
        }
        let ((c0, l0), (c1, l1)) = (anchors[seg], anchors[seg + 1]);
        out.push(v - (l0 + (tf - c0) * (l1 - l0) / (c1 - c0)));
    }
    out
}

/// Phase means of `d` with residuals clipped at [`CLIP_SIGMAS`] robust
/// standard deviations, first around the phase medians, then around the
/// clipped means (two rounds of a Huber-type estimate started from the
/// median: started from the mean, a burst of a hundred sigmas in one of
/// ten days would keep the phase ten sigmas off), not centred.
pub(super) fn robust_phase_means(d: &[f64], m: usize) -> Vec<f64> {
    let mut p = phase_medians(d, m);
    for _ in 0..2 {
        let sigma = robust_sigma(sample(d.len(), m, |t| d[t] - p[t % m]));
        if sigma <= 0.0 {
            return phase_means(d, m, |_, v| v);
        }
        let c = CLIP_SIGMAS * sigma;
        let prev = p;
        p = phase_means(d, m, |phase, v| v.clamp(prev[phase] - c, prev[phase] + c));
    }
    p
}

fn phase_medians(d: &[f64], m: usize) -> Vec<f64> {
    // transposed, so each phase's values are contiguous
    let rows = d.len().div_ceil(m.max(1));
    let mut columns = vec![0.0; m * rows];
    let mut len = vec![0usize; m];
    for row in d.chunks(m) {
        for (q, &v) in row.iter().enumerate() {
            columns[q * rows + len[q]] = v;
            len[q] += 1;
        }
    }
    columns
        .chunks_mut(rows.max(1))
        .zip(&len)
        .map(|(c, &l)| median(&mut c[..l]))
        .collect()
}

/// The median (upper one for an even count; 0 for none), sorting small
/// slices in place (a week of days has seven values per phase).
fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mid = v.len() / 2;
    if v.len() <= 16 {
        for i in 1..v.len() {
            let mut j = i;
            while j > 0 && v[j - 1] > v[j] {
                v.swap(j - 1, j);
                j -= 1;
            }
        }
        v[mid]
    } else {
        *v.select_nth_unstable_by(mid, f64::total_cmp).1
    }
}

/// Mean of `f(phase, d_t)` per phase `t % m`.
fn phase_means(d: &[f64], m: usize, f: impl Fn(usize, f64) -> f64) -> Vec<f64> {
    let mut sum = vec![0.0; m];
    let mut count = vec![0usize; m];
    for row in d.chunks(m) {
        for (q, &v) in row.iter().enumerate() {
            sum[q] += f(q, v);
            count[q] += 1;
        }
    }
    sum.iter()
        .zip(&count)
        .map(|(s, &c)| if c == 0 { 0.0 } else { s / c as f64 })
        .collect()
}

/// Subtracts the mean.
pub(super) fn center(v: &mut [f64]) {
    if v.is_empty() {
        return;
    }
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    v.iter_mut().for_each(|x| *x -= mean);
}

/// Circular moving average of odd `width` over `v`.
pub(super) fn box_smooth(v: &[f64], width: usize) -> Vec<f64> {
    let m = v.len();
    if width <= 1 || m == 0 {
        return v.to_vec();
    }
    let h = width / 2;
    let mut prefix = Vec::with_capacity(m + 2 * h + 1);
    prefix.push(0.0);
    let mut acc = 0.0;
    // the circle unrolled: phases -h..m+h
    for i in 0..m + 2 * h {
        acc += v[(i + m * (h / m + 1) - h) % m];
        prefix.push(acc);
    }
    (0..m)
        .map(|q| (prefix[q + 2 * h + 1] - prefix[q]) / (2 * h + 1) as f64)
        .collect()
}

/// Up to [`SCALE_SAMPLE`] values `f(t)`, every k-th t with k prime to
/// `m` so that all phases are sampled.
pub(super) fn sample(n: usize, m: usize, f: impl Fn(usize) -> f64) -> Vec<f64> {
    let mut stride = n.div_ceil(SCALE_SAMPLE).max(1);
    while m > 1 && gcd(stride, m) != 1 {
        stride += 1;
    }
    (0..n).step_by(stride).map(f).collect()
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// 1.4826 x the median absolute deviation (the standard deviation for
/// normal data); for data that are mostly one value (sparse error counts
/// have a MAD of zero) 1.2533 x the mean absolute deviation instead.
pub(super) fn robust_sigma(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mid = v.len() / 2;
    let median = *v.select_nth_unstable_by(mid, f64::total_cmp).1;
    v.iter_mut().for_each(|x| *x = (*x - median).abs());
    let mean_abs = v.iter().sum::<f64>() / v.len() as f64;
    let mad = *v.select_nth_unstable_by(mid, f64::total_cmp).1;
    if mad > 0.0 {
        1.4826 * mad
    } else {
        1.2533 * mean_abs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detrend_keeps_the_cycle_of_a_line_plus_season() {
        let p = [2.0, -1.0, 0.5, -1.5];
        for n in [16, 18] {
            let x: Vec<f64> = (0..n).map(|t| 3.0 + 0.5 * t as f64 + p[t % 4]).collect();
            let d = detrend(&x, 4);
            for (t, v) in d.iter().enumerate() {
                assert!((v - p[t % 4]).abs() < 1e-9, "n {n} t {t}: {v}");
            }
        }
    }

    #[test]
    fn box_smooth_wraps_around() {
        let v = [3.0, 0.0, 0.0, 0.0, 6.0];
        assert_eq!(box_smooth(&v, 3), vec![3.0, 1.0, 0.0, 2.0, 3.0]);
    }

    #[test]
    fn a_burst_barely_moves_the_profile() {
        let mut d: Vec<f64> = (0..70)
            .map(|t| [0.0, 1.0, 0.0, -1.0, 0.5, -0.5, 0.0][t % 7])
            .collect();
        for (i, v) in d.iter_mut().enumerate() {
            *v += 0.01 * ((i * 7919) % 13) as f64;
        }
        d[15] += 100.0;
        let p = robust_phase_means(&d, 7);
        assert!(p[1] < 1.2, "{p:?}");
    }
}

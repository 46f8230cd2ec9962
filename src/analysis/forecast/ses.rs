//! Simple exponential smoothing: the classic script's formula, and the
//! search for its smoothing constant when none is given.

use super::kernel::{level_init, sse_batch, Ets, LANES};

/// The classic script's smoothing: `S_0 = X_0`, `S_t = a*X_t + (1-a)*S_{t-1}`,
/// written in exactly that arithmetic so a given `a` reproduces the script's
/// numbers bit for bit (the fitting works on scaled data, this does not).
pub(super) fn classic(x: &[f64], alpha: f64) -> Vec<f64> {
    let mut out = Vec::with_capacity(x.len());
    let Some(&first) = x.first() else {
        return out;
    };
    let mut s = first;
    out.push(s);
    for &v in &x[1..] {
        s = alpha * v + (1.0 - alpha) * s;
        out.push(s);
    }
    out
}

/// Ratio between neighbouring grid values of alpha (2^1.5): eight lanes
/// span 1 down to 0.0007, enough for the slow levels of minute counts.
const GRID_LOG2_STEP: f64 = 1.5;

/// Smallest alpha the search returns; below it the level barely moves over
/// a week of minutes and the difference in fit is nil.
pub(super) const MIN_ALPHA: f64 = 1e-4;

/// The alpha minimising the one-step squared errors over `x`: one batched
/// pass over a geometric grid, then a parabola through the best point and
/// its neighbours in log alpha. Accurate to a few per cent, which moves the
/// fit by far less than the noise does.
pub(super) fn fit_alpha(x: &[f64]) -> f64 {
    let grid: [f64; LANES] = std::array::from_fn(|i| (-(i as f64) * GRID_LOG2_STEP).exp2());
    let lanes: Vec<_> = grid.iter().map(|&a| (Ets::ses(a), level_init(x))).collect();
    let sse = sse_batch(x, &lanes);
    let best = argmin(&sse);
    let log2_alpha = -(best as f64) * GRID_LOG2_STEP;
    let offset = if best == 0 || best == LANES - 1 {
        0.0
    } else {
        parabola_offset(sse[best - 1], sse[best], sse[best + 1])
    };
    // the grid runs from large to small alpha: a positive offset towards
    // the next (smaller) value
    (log2_alpha - offset * GRID_LOG2_STEP)
        .exp2()
        .clamp(MIN_ALPHA, 1.0)
}

/// Index of the smallest value (the first on ties, NaN never wins).
pub(super) fn argmin(v: &[f64]) -> usize {
    let mut best = 0;
    for (i, &s) in v.iter().enumerate() {
        if s < v[best] || v[best].is_nan() {
            best = i;
        }
    }
    best
}

/// Where the parabola through three equally spaced values has its minimum,
/// in steps from the middle one (towards the third when positive); zero
/// when the three do not bend upwards.
pub(super) fn parabola_offset(left: f64, mid: f64, right: f64) -> f64 {
    let curvature = left - 2.0 * mid + right;
    if curvature.is_finite() && curvature > 0.0 {
        (0.5 * (left - right) / curvature).clamp(-1.0, 1.0)
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parabola_finds_the_vertex() {
        // (t - 0.3)^2 at t = -1, 0, 1
        let f = |t: f64| (t - 0.3) * (t - 0.3);
        assert!((parabola_offset(f(-1.0), f(0.0), f(1.0)) - 0.3).abs() < 1e-12);
        assert_eq!(parabola_offset(1.0, 1.0, 1.0), 0.0);
    }

    #[test]
    fn fitted_alpha_is_large_for_a_random_walk_and_small_for_noise() {
        let mut state = 7u64;
        let mut gauss = move || {
            let mut s = 0.0;
            for _ in 0..12 {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                s += (state >> 11) as f64 / (1u64 << 53) as f64;
            }
            s - 6.0
        };
        let mut walk = vec![0.0];
        for _ in 0..2000 {
            let last = walk[walk.len() - 1];
            walk.push(last + gauss());
        }
        let noise: Vec<f64> = (0..2000).map(|_| gauss()).collect();
        assert!(fit_alpha(&walk) > 0.7, "{}", fit_alpha(&walk));
        assert!(fit_alpha(&noise) < 0.05, "{}", fit_alpha(&noise));
    }
}

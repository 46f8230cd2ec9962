//! The one recursion behind every model here: the additive-error damped
//! trend form of exponential smoothing (FPP3 section 8.7, ETS(A,Ad,N)):
//!
//! ```text
//! forecast f_t = l_{t-1} + phi * b_{t-1}
//! error    e_t = x_t - f_t
//! level    l_t = f_t + alpha * e_t
//! trend    b_t = phi * b_{t-1} + beta * e_t
//! ```
//!
//! Simple exponential smoothing is `beta = 0, b = 0`; Holt's linear trend is
//! `phi = 1`. The seasonal model runs it on the seasonally adjusted series.
//!
//! Fitting evaluates many parameter sets; one evaluation is a serial chain
//! of a few dependent floating-point operations per point, so a lone run
//! waits on latency. [`sse_batch`] runs [`LANES`] parameter sets side by side
//! over the same data: on one core eight cost about as much as one.

/// Parameter sets evaluated together by [`sse_batch`] (more lanes stop
/// being free on SSE2: 16 cost 1.7 times 8).
pub(super) const LANES: usize = 8;

/// Smoothing parameters of one model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Ets {
    pub alpha: f64,
    /// Trend smoothing in the error-correction form (`beta = alpha * beta*`
    /// of the textbook's component form).
    pub beta: f64,
    pub phi: f64,
}

impl Ets {
    pub fn ses(alpha: f64) -> Ets {
        Ets {
            alpha,
            beta: 0.0,
            phi: 1.0,
        }
    }
}

/// Level and trend after a point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct State {
    pub level: f64,
    pub trend: f64,
}

/// Sum of squared one-step errors over `x[1..]` for each (parameters,
/// state at `x[0]`) pair.
pub(super) fn sse_batch(x: &[f64], lanes: &[(Ets, State)]) -> Vec<f64> {
    let mut out = Vec::with_capacity(lanes.len());
    for chunk in lanes.chunks(LANES) {
        // pad a short chunk with copies of its last lane: same cost, no branch
        let mut padded = [chunk[chunk.len() - 1]; LANES];
        padded[..chunk.len()].copy_from_slice(chunk);
        let sse = sse_lanes(x, &padded);
        out.extend_from_slice(&sse[..chunk.len()]);
    }
    out
}

#[inline(never)]
fn sse_lanes(x: &[f64], lanes: &[(Ets, State); LANES]) -> [f64; LANES] {
    let alpha: [f64; LANES] = std::array::from_fn(|k| lanes[k].0.alpha);
    let beta: [f64; LANES] = std::array::from_fn(|k| lanes[k].0.beta);
    let phi: [f64; LANES] = std::array::from_fn(|k| lanes[k].0.phi);
    let mut level: [f64; LANES] = std::array::from_fn(|k| lanes[k].1.level);
    let mut trend: [f64; LANES] = std::array::from_fn(|k| lanes[k].1.trend);
    let mut sse = [0.0; LANES];
    for &v in x.iter().skip(1) {
        for k in 0..LANES {
            let damped = phi[k] * trend[k];
            let f = level[k] + damped;
            let e = v - f;
            level[k] = f + alpha[k] * e;
            trend[k] = damped + beta[k] * e;
            sse[k] += e * e;
        }
    }
    sse
}

/// One model over a whole series, keeping what the caller shows.
pub(super) struct Run {
    /// `l_t` for every point (`level[0]` is the initial state).
    pub level: Vec<f64>,
    /// One-step forecasts `f_t` (`fitted[0]` is the initial level: there
    /// is nothing before the first point to forecast it from).
    pub fitted: Vec<f64>,
    pub last: State,
}

pub(super) fn run(x: &[f64], p: Ets, init: State) -> Run {
    let mut level = Vec::with_capacity(x.len());
    let mut fitted = Vec::with_capacity(x.len());
    let (mut l, mut b) = (init.level, init.trend);
    if !x.is_empty() {
        level.push(l);
        fitted.push(l);
    }
    for &v in x.iter().skip(1) {
        let damped = p.phi * b;
        let f = l + damped;
        let e = v - f;
        l = f + p.alpha * e;
        b = damped + p.beta * e;
        level.push(l);
        fitted.push(f);
    }
    Run {
        level,
        fitted,
        last: State { level: l, trend: b },
    }
}

/// Initial state of a trend model: the least-squares line through the first
/// points (FPP3's heuristic uses the first ten; minute counts are noisy, so
/// up to a tenth of the series, at most 100 points, steadies the slope).
pub(super) fn trend_init(x: &[f64]) -> State {
    let len = init_len(x.len());
    if len < 2 {
        return State {
            level: x.first().copied().unwrap_or(0.0),
            trend: 0.0,
        };
    }
    let mean_t = (len - 1) as f64 / 2.0;
    let mean_x = x[..len].iter().sum::<f64>() / len as f64;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (t, v) in x[..len].iter().enumerate() {
        let dt = t as f64 - mean_t;
        sxy += dt * (v - mean_x);
        sxx += dt * dt;
    }
    let slope = sxy / sxx;
    State {
        level: mean_x - slope * mean_t,
        trend: slope,
    }
}

/// Initial level for fitting simple smoothing: the mean of the same first
/// points. (The classic script starts at `X_0`, and [`super::ses::classic`]
/// does for what it shows; for choosing alpha and the model a single noisy
/// first point would count against simple smoothing, whose level may take
/// hundreds of points to forget it, and not against the trend models.)
pub(super) fn level_init(x: &[f64]) -> State {
    let len = init_len(x.len()).max(1).min(x.len());
    State {
        level: if len == 0 {
            0.0
        } else {
            x[..len].iter().sum::<f64>() / len as f64
        },
        trend: 0.0,
    }
}

/// Points the initial state is estimated from.
fn init_len(n: usize) -> usize {
    (n / 10).clamp(2, 100).min(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_equals_single_runs() {
        let x: Vec<f64> = (0..500)
            .map(|i| ((i * 37) % 17) as f64 + i as f64 * 0.1)
            .collect();
        let lanes: Vec<(Ets, State)> = (0..11)
            .map(|i| {
                let a = 0.05 + 0.08 * i as f64;
                (
                    Ets {
                        alpha: a,
                        beta: a * 0.1,
                        phi: 1.0 - 0.01 * i as f64,
                    },
                    trend_init(&x),
                )
            })
            .collect();
        let batch = sse_batch(&x, &lanes);
        for (i, (p, s)) in lanes.iter().enumerate() {
            let fitted = run(&x, *p, *s).fitted;
            let single: f64 = x[1..]
                .iter()
                .zip(&fitted[1..])
                .map(|(v, f)| (v - f) * (v - f))
                .sum();
            assert!((batch[i] - single).abs() <= 1e-9 * single, "{i}");
        }
    }

    #[test]
    fn trend_init_recovers_a_line() {
        let x: Vec<f64> = (0..50).map(|t| 3.0 + 0.5 * t as f64).collect();
        let s = trend_init(&x);
        assert!((s.level - 3.0).abs() < 1e-12 && (s.trend - 0.5).abs() < 1e-12);
    }
}

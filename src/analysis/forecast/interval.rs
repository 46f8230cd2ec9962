//! Prediction intervals: how the one-step error spreads out with the
//! horizon (the analytical variance of the linear ETS models), applied to
//! the one-step errors the model actually made.

use super::kernel::Ets;
use super::Band;

/// Standard normal quantiles for the central 80 % and 95 % intervals.
const Z80: f64 = 1.281_551_565_544_600_5;
const Z95: f64 = 1.959_963_984_540_054;

/// Below this many one-step errors their empirical quantiles are too
/// coarse at 2.5 % and 97.5 %, and the normal quantiles are used.
pub(super) const MIN_EMPIRICAL: usize = 200;

/// `v_h / sigma^2` for h = 1..=horizon: `1 + sum_{j=1}^{h-1} c_j^2` with
/// `c_j = alpha + beta * (phi + ... + phi^j)`, the forecast variance of
/// the additive-error models of class 1 (Hyndman et al. 2008, ch. 6;
/// FPP3 table 8.8 gives its closed forms for ANN, AAN and AAdN).
pub(super) fn variance_factors(p: Ets, horizon: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(horizon);
    let (mut v, mut phi_sum, mut phi_pow) = (1.0, 0.0, 1.0);
    for _ in 0..horizon {
        out.push(v);
        phi_pow *= p.phi;
        phi_sum += phi_pow;
        let c = p.alpha + p.beta * phi_sum;
        v += c * c;
    }
    out
}

/// Where the one-step errors fall, as offsets from the point forecast.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Spread {
    pub center: f64,
    pub lower80: f64,
    pub upper80: f64,
    pub lower95: f64,
    pub upper95: f64,
}

/// From the recent one-step errors: their quantiles when there are enough
/// of them (log counts are skewed and bursty: a normal band from their
/// standard deviation is too wide for most points and too narrow for the
/// bursts), otherwise `sigma` times the normal quantiles.
pub(super) fn spread(errors: &mut [f64], sigma: f64) -> Spread {
    if errors.len() < MIN_EMPIRICAL {
        return Spread {
            center: 0.0,
            lower80: -Z80 * sigma,
            upper80: Z80 * sigma,
            lower95: -Z95 * sigma,
            upper95: Z95 * sigma,
        };
    }
    let mut at = |p: f64| {
        let i = ((errors.len() - 1) as f64 * p).round() as usize;
        *errors.select_nth_unstable_by(i, f64::total_cmp).1
    };
    let center = at(0.5);
    Spread {
        center,
        lower80: at(0.1) - center,
        upper80: at(0.9) - center,
        lower95: at(0.025) - center,
        upper95: at(0.975) - center,
    }
}

/// Bands around `points`: the spread widened by `sqrt(v_h)` and by
/// `inflate` (the in-sample errors are smaller than future ones by the
/// parameters fitted to them).
pub(super) fn bands(points: &[f64], factors: &[f64], s: &Spread, inflate: f64) -> Vec<Band> {
    points
        .iter()
        .zip(factors)
        .map(|(&f, &v)| {
            let w = v.sqrt() * inflate;
            let c = f + s.center;
            Band {
                forecast: f,
                lower80: c + s.lower80 * w,
                upper80: c + s.upper80 * w,
                lower95: c + s.lower95 * w,
                upper95: c + s.upper95 * w,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors_match_the_closed_forms() {
        // FPP3 table 8.8, with h = 5
        let (a, b, phi, h) = (0.4, 0.1, 0.9, 5usize);
        let hf = (h - 1) as f64;
        let ann = variance_factors(Ets::ses(a), h)[h - 1];
        assert!((ann - (1.0 + a * a * hf)).abs() < 1e-12);
        let holt = variance_factors(
            Ets {
                alpha: a,
                beta: b,
                phi: 1.0,
            },
            h,
        )[h - 1];
        let hh = h as f64;
        let closed = 1.0 + hf * (a * a + a * b * hh + b * b * hh * (2.0 * hh - 1.0) / 6.0);
        assert!((holt - closed).abs() < 1e-12, "{holt} {closed}");
        let damped = variance_factors(
            Ets {
                alpha: a,
                beta: b,
                phi,
            },
            h,
        )[h - 1];
        let p = phi;
        let closed =
            1.0 + a * a * hf + (b * p * hh / (1.0 - p).powi(2)) * (2.0 * a * (1.0 - p) + b * p)
                - (b * p * (1.0 - p.powi(h as i32)) / ((1.0 - p).powi(2) * (1.0 - p * p)))
                    * (2.0 * a * (1.0 - p * p) + b * p * (1.0 + 2.0 * p - p.powi(h as i32)));
        assert!((damped - closed).abs() < 1e-9, "{damped} {closed}");
    }
}

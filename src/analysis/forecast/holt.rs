//! Holt's linear trend and the damped trend: the parameter search, done
//! together with simple smoothing so that each pass over the data fills
//! all eight lanes of the batched recursion.

use super::kernel::{level_init, sse_batch, trend_init, Ets, State};
use super::ses;

/// Largest damping tried (FPP3 bounds phi to [0.8, 0.98]: closer to 1 a
/// damped trend cannot be told from a straight one).
const MAX_PHI: f64 = 0.98;
const MIN_PHI: f64 = 0.8;
/// `beta = alpha * beta_star` with `beta_star` in (0, 1]: the usual
/// constraint `beta <= alpha` of the textbook.
const MIN_BETA_STAR: f64 = 1e-4;

/// The best parameters found for each model family on one input, with the
/// sum of squared one-step errors.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Fits {
    pub ses: Option<(Ets, f64)>,
    pub holt: Option<(Ets, f64)>,
    pub damped: Option<(Ets, f64)>,
}

/// A trend candidate in the search's coordinates.
#[derive(Clone, Copy, Debug)]
struct Point {
    alpha: f64,
    beta_star: f64,
    phi: f64,
    sse: f64,
}

impl Point {
    fn new(alpha: f64, beta_star: f64, phi: f64) -> Point {
        Point {
            alpha: alpha.clamp(ses::MIN_ALPHA, 1.0),
            beta_star: beta_star.clamp(MIN_BETA_STAR, 1.0),
            phi,
            sse: f64::INFINITY,
        }
    }

    fn ets(&self) -> Ets {
        Ets {
            alpha: self.alpha,
            beta: self.alpha * self.beta_star,
            phi: self.phi,
        }
    }
}

/// Fits simple smoothing (when `level`) and both trend models (when
/// `trend`) to `x`. A given `alpha` is kept; otherwise it is searched.
///
/// Four batched passes at most: an alpha grid for simple smoothing; a
/// grid of trend smoothing and damping at that alpha (plus the simple
/// model at its fitted alpha); then two rounds of a pattern search (each
/// coordinate up and down, the step halved in the second round) around the
/// best straight and the best damped trend.
pub(super) fn fit(x: &[f64], alpha: Option<f64>, level: bool, trend: bool) -> Fits {
    let mut fits = Fits::default();
    if x.len() < 2 || !(level || trend) {
        return fits;
    }
    let alpha_fixed = alpha.is_some();
    let alpha0 = alpha.unwrap_or_else(|| ses::fit_alpha(x));
    let flat = level_init(x);
    let sloped = trend_init(x);

    let mut lanes: Vec<(Ets, State)> = Vec::new();
    if level {
        lanes.push((Ets::ses(alpha0), flat));
    }
    let mut points: Vec<Point> = Vec::new();
    if trend {
        for phi in [1.0, 0.95] {
            for beta_star in [0.3, 0.1, 0.02] {
                points.push(Point::new(alpha0, beta_star, phi));
            }
        }
        points.push(Point::new(alpha0, 0.1, 0.9));
        if !level {
            points.push(Point::new(alpha0, 0.01, 1.0));
        }
    }
    lanes.extend(points.iter().map(|p| (p.ets(), sloped)));
    let sse = sse_batch(x, &lanes);
    if level {
        fits.ses = Some((Ets::ses(alpha0), sse[0]));
    }
    if !trend {
        return fits;
    }
    let offset = usize::from(level);
    for (p, s) in points.iter_mut().zip(&sse[offset..]) {
        p.sse = *s;
    }
    let best = |pts: &[Point], straight: bool| {
        pts.iter()
            .filter(|p| (p.phi == 1.0) == straight)
            .min_by(|a, b| a.sse.total_cmp(&b.sse))
            .copied()
    };
    let (Some(mut holt), Some(mut damped)) = (best(&points, true), best(&points, false)) else {
        return fits;
    };

    for round in 0..2 {
        let mut moves = neighbours(&holt, round, alpha_fixed, false).to_vec();
        let split = moves.len();
        moves.extend(neighbours(&damped, round, alpha_fixed, true));
        let lanes: Vec<_> = moves.iter().map(|p| (p.ets(), sloped)).collect();
        let sse = sse_batch(x, &lanes);
        for (i, p) in moves.iter_mut().enumerate() {
            p.sse = sse[i];
            let incumbent = if i < split { &mut holt } else { &mut damped };
            if p.sse < incumbent.sse {
                *incumbent = *p;
            }
        }
    }
    fits.holt = Some((holt.ets(), holt.sse));
    fits.damped = Some((damped.ets(), damped.sse));
    fits
}

/// Four moves around `p` for one round of the pattern search: alpha by
/// 2^±step and beta* by 3^±step; the damped trend moves phi (its distance
/// to 1 doubled or halved) in the second round instead of alpha, and any
/// alpha move is replaced when alpha was given.
fn neighbours(p: &Point, round: usize, alpha_fixed: bool, damped: bool) -> [Point; 4] {
    let step = if round == 0 { 1.0 } else { 0.5 };
    let (a, b) = (2f64.powf(step), 3f64.powf(step));
    let beta = |f: f64| Point::new(p.alpha, p.beta_star * f, p.phi);
    let alpha = |f: f64| Point::new(p.alpha * f, p.beta_star, p.phi);
    let gap = 1.0 - p.phi;
    // with alpha free, phi moves once (second round) at the full step
    let pf = if alpha_fixed { 2f64.powf(step) } else { 2.0 };
    let phi = |f: f64| {
        Point::new(
            p.alpha,
            p.beta_star,
            (1.0 - gap * f).clamp(MIN_PHI, MAX_PHI),
        )
    };
    match (damped, alpha_fixed || (damped && round == 1)) {
        (false, false) => [alpha(a), alpha(1.0 / a), beta(b), beta(1.0 / b)],
        (false, true) => [beta(b), beta(1.0 / b), beta(b.sqrt()), beta(1.0 / b.sqrt())],
        (true, false) => [alpha(a), alpha(1.0 / a), beta(b), beta(1.0 / b)],
        (true, true) => [beta(b), beta(1.0 / b), phi(pf), phi(1.0 / pf)],
    }
}

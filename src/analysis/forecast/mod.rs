//! Smoothing and forecasting of one series of counts or metrics at a fixed
//! step: simple exponential smoothing (the classic script's formula),
//! Holt's linear and damped trend, and a seasonal model (a robust seasonal
//! profile plus one of those on the seasonally adjusted series) with the
//! hourly, daily or weekly season detected when not given; the model
//! chosen by AICc; 80 % and 95 % prediction intervals.
//!
//! Why not the `augurs` crate: on a week of minutes (10,080 points, release
//! build) its `AutoETS` took 300 to 600 ms per series and MSTL with a daily
//! period plus AutoETS 970 ms, its seasonal ETS is unimplemented, and the
//! analysis has to forecast and score a thousand such series in two
//! seconds. The models are small (Hyndman & Athanasopoulos, "Forecasting:
//! Principles and Practice", 3rd ed., ch. 8); what costs is fitting their
//! parameters, done here with a batched recursion ([`kernel`]) over the
//! last [`FIT_WINDOW`] points, and one final pass over the whole series.
//!
//! Callers: the forecast API, the anomaly detector (one-step forecasts in
//! [`Forecast::fitted`]), the CLI.

mod holt;
mod interval;
mod kernel;
mod season;
mod seasonal;
mod ses;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use kernel::{Ets, State};
use seasonal::Profile;

pub use season::detect_season;

/// Longest horizon one request may ask for.
pub const MAX_HORIZON: usize = 10_000;

/// Fewest points a forecast is made from: two one-step errors to tell how
/// wide the bands are.
pub const MIN_POINTS: usize = 3;

/// Parameters are fitted on the last this many points (a day and a half
/// of minutes): thousands of errors pin two or three smoothing constants
/// down, the recent ones describe the series as it is now, and a fit over
/// a whole week would cost five times as much for the same forecast.
pub const FIT_WINDOW: usize = 2048;

/// Which model to fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Model {
    /// The model with the smallest AICc among all below (seasonal ones
    /// only when a season is given or detected).
    Auto,
    /// Simple exponential smoothing.
    Ses,
    /// Holt's linear trend, or its damped form when AICc prefers it.
    Holt,
    /// A seasonal profile plus simple smoothing, linear or damped trend
    /// on the rest, whichever has the smallest AICc.
    Seasonal,
}

impl Model {
    /// The names `FromStr` accepts.
    pub const CHOICES: &'static str = "auto, ses, holt, seasonal";

    /// The name the CLI and the API use for the model.
    pub fn as_str(self) -> &'static str {
        match self {
            Model::Auto => "auto",
            Model::Ses => "ses",
            Model::Holt => "holt",
            Model::Seasonal => "seasonal",
        }
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Model {
    type Err = ForecastError;

    fn from_str(s: &str) -> Result<Model, ForecastError> {
        match s {
            "auto" => Ok(Model::Auto),
            "ses" => Ok(Model::Ses),
            "holt" => Ok(Model::Holt),
            "seasonal" => Ok(Model::Seasonal),
            _ => Err(ForecastError::UnknownModel {
                value: s.chars().take(64).collect(),
            }),
        }
    }
}

/// What to forecast and how.
#[derive(Clone, Debug, PartialEq)]
pub struct ForecastRequest {
    /// The model, or `Auto` to let AICc choose.
    pub model: Model,
    /// Level smoothing constant in (0, 1]; fitted when `None`.
    pub alpha: Option<f64>,
    /// Season length in points; detected (hour, day or week) when `None`.
    pub season: Option<usize>,
    /// Points to forecast after the last one, 1 to [`MAX_HORIZON`].
    pub horizon: usize,
}

/// One future point with its prediction intervals.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Band {
    /// The point forecast (for `ses`, the last `S_t`).
    pub forecast: f64,
    /// Bounds of the central 80 % prediction interval.
    pub lower80: f64,
    pub upper80: f64,
    /// Bounds of the central 95 % prediction interval.
    pub lower95: f64,
    pub upper95: f64,
}

/// A fitted model and what it says.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Forecast {
    /// `ses`, `holt`, `holt_damped`, `seasonal` (season + simple
    /// smoothing), `seasonal_holt` or `seasonal_holt_damped`.
    pub model: String,
    /// `alpha`, `beta`, `phi` (the ones the model has); for seasonal
    /// models `season` and `season_width` (points; the profile's smoothing)
    /// and `season_score` (share of the detrended variance the profile
    /// predicts out of sample); `aicc`; `sigma` (the one-step error's
    /// standard deviation).
    pub params: BTreeMap<String, f64>,
    /// One value per input point: for `ses` the classic `S_t`, else the
    /// level (plus the season).
    pub smoothed: Vec<f64>,
    /// One-step-ahead forecast of each input point from the points before
    /// it (the first is the initial state), for residual-based scores.
    pub fitted: Vec<f64>,
    /// `horizon` points after the last input point.
    pub future: Vec<Band>,
}

/// Why a forecast cannot be made.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ForecastError {
    #[error("unknown model '{value}': expected one of {}", Model::CHOICES)]
    UnknownModel { value: String },
    #[error("the series has no points")]
    Empty,
    #[error("a forecast needs at least {MIN_POINTS} points, the series has {len}")]
    TooShort { len: usize },
    #[error("value {value} at index {index} is not a finite number")]
    NotFinite { index: usize, value: f64 },
    #[error("step must be a positive number of milliseconds, got {step_ms}")]
    Step { step_ms: i64 },
    #[error("horizon must be between 1 and {MAX_HORIZON} points, got {horizon}")]
    Horizon { horizon: usize },
    #[error("alpha must be in (0, 1], got {alpha}")]
    Alpha { alpha: f64 },
    #[error("season applies to model seasonal or auto, not {model}")]
    SeasonNotUsed { model: Model },
    #[error("season must be at least 2 points, got {season}")]
    SeasonTooShort { season: usize },
    #[error(
        "season of {season} points is more than half the series ({len} points): two full seasons are needed"
    )]
    SeasonTooLong { season: usize, len: usize },
    #[error(
        "no hourly, daily or weekly season found in the series; give the season in points or use model auto"
    )]
    NoSeason,
}

/// Fits `req.model` to `values` (one per `step_ms`) and forecasts
/// `req.horizon` points ahead.
pub fn forecast(
    values: &[f64],
    step_ms: i64,
    req: &ForecastRequest,
) -> Result<Forecast, ForecastError> {
    check(values, step_ms, req)?;
    let n = values.len();
    // fitting works on values scaled into [-1, 1]: squared errors of
    // huge values would overflow, and a floor on the error sum (constant
    // series) needs a scale
    let scale = match values.iter().fold(0.0f64, |m, v| m.max(v.abs())) {
        0.0 => 1.0,
        s => s,
    };
    let z: Vec<f64> = values.iter().map(|v| v / scale).collect();

    let profile: Option<Profile> = match req.model {
        Model::Ses | Model::Holt => None,
        Model::Auto | Model::Seasonal => match req.season {
            Some(m) => Some(season::assess(&z, m)),
            None => season::detect(&z, step_ms),
        }
        .map(|found| {
            let mut p = seasonal::profile(&found.detrended, found.period, found.width);
            p.score = found.score;
            p
        }),
    };
    if req.model == Model::Seasonal && profile.is_none() {
        return Err(ForecastError::NoSeason);
    }
    let adjusted = profile.as_ref().map(|p| p.adjust(&z));

    let window = n.min(FIT_WINDOW);
    let tail = |x: &[f64]| x[n - window..].to_vec();
    let mut cands: Vec<Candidate> = Vec::new();
    let (plain_level, plain_trend) = match req.model {
        Model::Auto => (true, true),
        Model::Ses => (true, false),
        Model::Holt => (false, true),
        Model::Seasonal => (false, false),
    };
    if plain_trend {
        let fits = holt::fit(&tail(&z), req.alpha, plain_level, plain_trend);
        cands.extend(Candidate::from_fits(&fits, None));
    } else if plain_level {
        // simple smoothing alone: nothing to compare, no search pass when
        // alpha is given
        let alpha = req.alpha.unwrap_or_else(|| ses::fit_alpha(&tail(&z)));
        cands.push(Candidate::new("ses", Ets::ses(alpha), false, None, 0.0));
    }
    if let (Some(a), Some(p)) = (&adjusted, &profile) {
        let fits = holt::fit(&tail(a), req.alpha, true, true);
        cands.extend(Candidate::from_fits(&fits, Some(p)));
    }
    let fixed_alpha = req.alpha.is_some();
    let window_share = window as f64 / n as f64;
    let chosen = cands
        .iter()
        .min_by(|a, b| {
            let ka = a.k(fixed_alpha, window_share);
            let kb = b.k(fixed_alpha, window_share);
            aicc(a.window_sse, window - 1, ka).total_cmp(&aicc(b.window_sse, window - 1, kb))
        })
        .copied()
        // every model adds at least one candidate (checked above: a seasonal
        // model without a profile has returned NoSeason)
        .ok_or(ForecastError::NoSeason)?;
    Ok(finish(
        values,
        &z,
        scale,
        chosen,
        profile.as_ref(),
        adjusted.as_deref(),
        req,
    ))
}

fn check(values: &[f64], step_ms: i64, req: &ForecastRequest) -> Result<(), ForecastError> {
    if values.is_empty() {
        return Err(ForecastError::Empty);
    }
    if values.len() < MIN_POINTS {
        return Err(ForecastError::TooShort { len: values.len() });
    }
    if let Some((index, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(ForecastError::NotFinite { index, value });
    }
    if step_ms <= 0 {
        return Err(ForecastError::Step { step_ms });
    }
    if req.horizon == 0 || req.horizon > MAX_HORIZON {
        return Err(ForecastError::Horizon {
            horizon: req.horizon,
        });
    }
    if let Some(alpha) = req.alpha {
        if !(alpha > 0.0 && alpha <= 1.0) {
            return Err(ForecastError::Alpha { alpha });
        }
    }
    if let Some(season) = req.season {
        if matches!(req.model, Model::Ses | Model::Holt) {
            return Err(ForecastError::SeasonNotUsed { model: req.model });
        }
        if season < 2 {
            return Err(ForecastError::SeasonTooShort { season });
        }
        if season > values.len() / 2 {
            return Err(ForecastError::SeasonTooLong {
                season,
                len: values.len(),
            });
        }
    }
    Ok(())
}

/// One fitted model in the running.
#[derive(Clone, Copy, Debug)]
struct Candidate {
    name: &'static str,
    ets: Ets,
    trend: bool,
    /// Degrees of freedom of the seasonal profile (0 without one).
    profile_df: f64,
    window_sse: f64,
}

impl Candidate {
    fn new(name: &'static str, ets: Ets, trend: bool, profile: Option<&Profile>, sse: f64) -> Self {
        Candidate {
            name,
            ets,
            trend,
            profile_df: profile.map_or(0.0, |p| p.df),
            window_sse: sse,
        }
    }

    fn from_fits(fits: &holt::Fits, profile: Option<&Profile>) -> Vec<Candidate> {
        let names = if profile.is_some() {
            ["seasonal", "seasonal_holt", "seasonal_holt_damped"]
        } else {
            ["ses", "holt", "holt_damped"]
        };
        [(fits.ses, false), (fits.holt, true), (fits.damped, true)]
            .into_iter()
            .zip(names)
            .filter_map(|((fit, trend), name)| {
                fit.map(|(ets, sse)| Candidate::new(name, ets, trend, profile, sse))
            })
            .collect()
    }

    /// Parameters counted by AICc: the smoothing constants fitted, the
    /// initial states, the error variance, and the seasonal profile's
    /// degrees of freedom (its share of them on the fit window: it was
    /// estimated from the whole series).
    fn k(&self, fixed_alpha: bool, profile_share: f64) -> f64 {
        let smoothing = usize::from(!fixed_alpha)
            + if self.trend { 1 } else { 0 }
            + usize::from(self.trend && self.ets.phi < 1.0);
        let states = if self.trend { 2 } else { 1 };
        (smoothing + states + 1) as f64 + self.profile_df * profile_share
    }
}

/// AICc of a model with additive Gaussian errors, up to a constant
/// (FPP3 section 8.6); infinite when there are too few errors for `k`.
fn aicc(sse: f64, errors: usize, k: f64) -> f64 {
    let n = errors as f64;
    if n - k - 1.0 <= 0.0 {
        return f64::INFINITY;
    }
    // a perfect fit (constant or noise-free series) has no error at all:
    // a floor far below any real noise lets the parameter count decide
    let sse = sse.max(n * 1e-24);
    n * (sse / n).ln() + 2.0 * k + 2.0 * k * (k + 1.0) / (n - k - 1.0)
}

/// The final pass over the whole series with the chosen model, and the
/// forecast.
fn finish(
    values: &[f64],
    z: &[f64],
    scale: f64,
    c: Candidate,
    profile: Option<&Profile>,
    adjusted: Option<&[f64]>,
    req: &ForecastRequest,
) -> Forecast {
    let n = values.len();
    let profile = profile.filter(|_| c.profile_df > 0.0);
    let season_at = |t: usize| profile.map_or(0.0, |p| p.values[t % p.period]);
    let season: Vec<f64> = match profile {
        Some(p) => p.values.iter().cycle().take(n).copied().collect(),
        None => vec![0.0; n],
    };
    // back to the series' units, saturating rather than overflowing
    let unscale = |v: f64| (v * scale).clamp(-f64::MAX, f64::MAX);
    // everything below is in scaled units but `smoothed`, `fitted` and
    // `last_raw`
    let (smoothed, fitted, errors_z, last, last_raw): (
        Vec<f64>,
        Vec<f64>,
        Vec<f64>,
        State,
        Option<f64>,
    );
    if profile.is_none() && !c.trend {
        // the classic formula on the raw values
        smoothed = ses::classic(values, c.ets.alpha);
        let mut f = Vec::with_capacity(n);
        f.push(values[0]);
        f.extend_from_slice(&smoothed[..n - 1]);
        errors_z = z.iter().zip(&f).map(|(v, f)| v - f / scale).collect();
        fitted = f;
        last = State {
            level: smoothed[n - 1] / scale,
            trend: 0.0,
        };
        last_raw = Some(smoothed[n - 1]);
    } else {
        let x = adjusted.filter(|_| profile.is_some()).unwrap_or(z);
        let init = if c.trend {
            kernel::trend_init(x)
        } else {
            kernel::level_init(x)
        };
        let run = kernel::run(x, c.ets, init);
        smoothed = run
            .level
            .iter()
            .zip(&season)
            .map(|(l, s)| unscale(l + s))
            .collect();
        fitted = run
            .fitted
            .iter()
            .zip(&season)
            .map(|(f, s)| unscale(f + s))
            .collect();
        errors_z = x.iter().zip(&run.fitted).map(|(v, f)| v - f).collect();
        last = run.last;
        last_raw = None;
    }
    let sse_z: f64 = errors_z[1..].iter().map(|e| e * e).sum();

    let errors = n - 1;
    let k = c.k(req.alpha.is_some(), 1.0);
    let mean_params = (k - 1.0).max(0.0);
    let dof = (errors as f64 - mean_params).max(1.0);
    let sigma_z = (sse_z / dof).sqrt();

    let mut recent = errors_z[n.saturating_sub(FIT_WINDOW).max(1)..].to_vec();
    let spread = interval::spread(&mut recent, sigma_z);
    // in-sample errors are smaller than future ones: by the parameters
    // fitted to them, and for a profile by its own estimation error
    let optimism = if recent.len() >= interval::MIN_EMPIRICAL {
        (errors as f64 / dof).sqrt()
    } else {
        1.0
    };
    let inflate = optimism * (1.0 + c.profile_df / n as f64).sqrt();

    let mut points = Vec::with_capacity(req.horizon);
    let (mut damp, mut phi_pow) = (0.0, 1.0);
    for h in 1..=req.horizon {
        phi_pow *= c.ets.phi;
        damp += phi_pow;
        let trend = if c.trend { damp * last.trend } else { 0.0 };
        points.push(last.level + trend + season_at(n - 1 + h));
    }
    let factors = interval::variance_factors(c.ets, req.horizon);
    let future = interval::bands(&points, &factors, &spread, inflate)
        .into_iter()
        .map(|b| Band {
            forecast: last_raw.unwrap_or_else(|| unscale(b.forecast)),
            lower80: unscale(b.lower80),
            upper80: unscale(b.upper80),
            lower95: unscale(b.lower95),
            upper95: unscale(b.upper95),
        })
        .collect();
    let sigma = unscale(sigma_z);

    let mut params = BTreeMap::new();
    params.insert("alpha".to_string(), c.ets.alpha);
    if c.trend {
        params.insert("beta".to_string(), c.ets.beta);
        params.insert("phi".to_string(), c.ets.phi);
    }
    if let Some(p) = profile {
        params.insert("season".to_string(), p.period as f64);
        params.insert("season_width".to_string(), p.width as f64);
        params.insert("season_score".to_string(), p.score);
    }
    // in the series' own units: n ln(SSE / n) moves by 2 n ln(scale)
    let full_aicc = aicc(sse_z, errors, k) + 2.0 * errors as f64 * scale.ln();
    if full_aicc.is_finite() {
        params.insert("aicc".to_string(), full_aicc);
    }
    params.insert("sigma".to_string(), sigma);
    Forecast {
        model: c.name.to_string(),
        params,
        smoothed,
        fitted,
        future,
    }
}

#[cfg(test)]
mod tests;

//! The streaming detector for one series. Per point: forecast the value
//! one step ahead (a robust level, or level plus a season when a season
//! forecasts better), scale the error robustly, discount what the same
//! time of the previous days already showed, and turn the error, and the
//! mean error of the last few points (level shifts), into a probability
//! judged against the series' own history of errors. Only points at and
//! before the current one are used; memory is a few fixed-size windows.

use super::stats::{normal_surprise, RangeWindow, RobustWindow, TailModel};
use super::PointScore;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;
const WEEK_MS: i64 = 7 * DAY_MS;

/// Knobs of the detector. The defaults are meant for log volumes (counts
/// per interval) and for generic metrics alike; each says why it is what
/// it is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectorConfig {
    /// Try seasonal forecasts (hourly, daily, weekly periods that are whole
    /// multiples of the series' step) and use one when it forecasts better.
    pub seasonal: bool,
    /// At most this many phases per season (longer seasons share a phase
    /// between neighbouring points): bounds memory at 1 day of minutes.
    pub max_phases: usize,
    /// Seasons that must have been seen before a seasonal forecast counts:
    /// two, so one odd day is not taken for the pattern.
    pub min_seasons: u32,
    /// Smoothing of the level: 0.1 follows a change within ~10 points
    /// while averaging the noise of single points.
    pub alpha_level: f64,
    /// Smoothing of each seasonal phase: 0.15 remembers ~6 seasons.
    pub alpha_season: f64,
    /// Errors beyond this many spreads move the level and the season only
    /// as far as that (Huber): a spike does not drag the forecast along.
    pub huber: f64,
    /// Smoothing of each model's absolute error, used to choose the model:
    /// 0.02 compares them over the last ~50 points.
    pub model_error_alpha: f64,
    /// A seasonal model replaces the plain level only if its error is below
    /// this share of the level's (hysteresis against noise).
    pub model_switch_margin: f64,
    /// Errors kept for the robust spread (median absolute deviation):
    /// 1,000 points, 17 hours of minutes or 3.5 days of 5-minute data.
    pub scale_window: usize,
    /// The spread is at least that of the last this many errors (0: off):
    /// when a series turns noisier, the first points of the new regime
    /// alarm and the following ones are judged by the new noise.
    pub recent_window: usize,
    /// Points in the level-shift window (mean of the recent errors).
    pub shift_window: usize,
    /// Each error counts at most this many spreads in the shift window, so
    /// a single spike does not look like a shift.
    pub z_clip: f64,
    /// A shift this many standard errors away, with most points on one
    /// side, moves the level at once to the new one (changepoint), so the
    /// series is judged against its new level rather than alarming on.
    pub shift_relevel_z: f64,
    /// History of each statistic kept for its tail model.
    pub tail_window: usize,
    /// Quantile above which that history's tail is modelled.
    pub tail_quantile: f64,
    /// Points of history before any score is given.
    pub tail_min: usize,
    /// Discount what the same time of day (within one bucket either side)
    /// showed on at least two of the previous three days: a nightly batch
    /// job's burst is no anomaly.
    pub daily_envelope: bool,
    /// Buckets per day for that comparison (96: quarters of an hour).
    pub envelope_buckets: usize,
    /// While an anomaly lasts, a point that is not more surprising than the
    /// decayed peak of the episode keeps only this share of its surprise:
    /// one alarm at the onset of a lasting change, not one per point.
    pub repeat_factor: f64,
    /// Decay per point of that peak (0.99: halves in ~70 points).
    pub repeat_decay: f64,
    /// How much more surprising than the decayed peak a point must be to
    /// count in full again (1.25: a quarter more orders of magnitude), so a
    /// lasting shift alarms at its onset, not again a few points later.
    pub repeat_escalation: f64,
    /// While every value is a non-negative integer (event counts), the
    /// spread is at least the Poisson one, `sqrt(expected + 1)`: 1 → 4
    /// events is noise, not a fourfold spike.
    pub count_aware: bool,
    /// The surprise `s = -log10 p` maps to `s / (s + score_half)`:
    /// p = 10^-3 gives 0.5.
    pub score_half: f64,
    /// A value beyond the range (min to max) of about the last this many
    /// values, by more than `range_tolerance` of that range, is surprising
    /// whatever the forecast said (0: off). 2,000, the tail model's
    /// horizon: the history the series is judged against anyway. The
    /// forecast adapts to a slow drift and its errors stay small, but a
    /// series leaving everything it did recently is the kind of change
    /// an operator wants to hear about (NAB's HTM detector has the same
    /// "spatial" check; it adds the most to the NAB score of all parts).
    pub range_window: usize,
    /// Share of the range a value must exceed it by: 0.05, as HTM's
    /// spatial tolerance, so a new maximum by a hair is not news. On count
    /// series the margin is at least three Poisson spreads of the maximum.
    pub range_tolerance: f64,
    /// Surprise of a value just past that margin: 10 (score 0.77, medium),
    /// telling but not high on its own...
    pub range_surprise: f64,
    /// ... plus this much per range beyond it, so a value twice the range
    /// out ranks above one just out.
    pub range_slope: f64,
    /// After an alarm, the next this many points keep only `rest_factor`
    /// of their surprise unless they escalate (0: off): one alarm per
    /// incident, not one per point while it lasts. 50 points (under an
    /// hour of minutes, four hours of 5-minute data): what an operator
    /// would take for the same incident; NAB also charges every extra
    /// alarm and credits only the first in a window.
    pub rest_points: usize,
    /// The surprise from which a point counts as an alarm for that rest:
    /// 2 (p = 1 %, score 0.4), just under the low severity, so the rest
    /// starts with the first point an operator might see.
    pub rest_surprise: f64,
    /// During the rest a point counts in full again only when this many
    /// times as surprising as the alarm (twice the orders of magnitude).
    pub rest_escalation: f64,
    /// Share of the surprise a point keeps during the rest: 0.1, so a
    /// repeat of the alarm is reported at most as low.
    pub rest_factor: f64,
    /// Largest shape of the generalised Pareto tail fitted to the errors
    /// (0: exponential tail). Off: it lifts NAB a little (64.0 against 63.2
    /// at 0.45, bursty series' tails being heavier than exponential), but
    /// on clean seasonal counts the moment estimate finds a heavy tail too
    /// and a silent service then scores medium instead of high.
    pub tail_max_shape: f64,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            seasonal: true,
            max_phases: 1440,
            min_seasons: 2,
            alpha_level: 0.1,
            alpha_season: 0.15,
            huber: 3.0,
            model_error_alpha: 0.02,
            model_switch_margin: 0.85,
            scale_window: 1000,
            recent_window: 32,
            shift_window: 12,
            z_clip: 4.0,
            shift_relevel_z: 5.0,
            tail_window: 2000,
            tail_quantile: 0.95,
            tail_min: 100,
            daily_envelope: true,
            envelope_buckets: 96,
            repeat_factor: 0.25,
            repeat_decay: 0.99,
            repeat_escalation: 1.25,
            count_aware: true,
            score_half: 3.0,
            range_window: 2000,
            range_tolerance: 0.05,
            range_surprise: 10.0,
            range_slope: 10.0,
            rest_points: 50,
            rest_surprise: 2.0,
            rest_escalation: 2.0,
            rest_factor: 0.1,
            tail_max_shape: 0.0,
        }
    }
}

/// Where a timestamp falls in a repeating period (which cycle, which
/// bucket), advanced incrementally from the previous timestamp: the common
/// step forward costs a comparison instead of three 64-bit divisions, and
/// there are up to four clocks per point at millions of points per second.
#[derive(Debug, Clone)]
struct Clock {
    period_ms: i64,
    bucket_ms: i64,
    ts: i64,
    cycle: i64,
    pos: i64,
    bucket: usize,
}

impl Clock {
    fn new(period_ms: i64, bucket_ms: i64) -> Self {
        Clock {
            period_ms: period_ms.max(1),
            bucket_ms: bucket_ms.max(1),
            ts: i64::MIN,
            cycle: 0,
            pos: 0,
            bucket: 0,
        }
    }

    /// `(ts div period, (ts mod period) / bucket)`, as the divisions give.
    fn at(&mut self, ts: i64) -> (i64, usize) {
        let dt = ts.wrapping_sub(self.ts);
        if self.ts != i64::MIN && (0..=self.bucket_ms).contains(&dt) {
            // at most one bucket boundary crossed
            let pos = self.pos + dt;
            if pos < self.period_ms {
                self.pos = pos;
                if pos >= (self.bucket as i64 + 1) * self.bucket_ms {
                    self.bucket += 1;
                }
                self.ts = ts;
                return (self.cycle, self.bucket);
            }
        }
        self.ts = ts;
        self.cycle = ts.div_euclid(self.period_ms);
        self.pos = ts.rem_euclid(self.period_ms);
        self.bucket = (self.pos / self.bucket_ms) as usize;
        (self.cycle, self.bucket)
    }
}

/// A forecasting model: a level, plus a seasonal offset per phase when
/// `period_ms > 0`.
#[derive(Debug, Clone)]
struct Model {
    period_ms: i64,
    level: Option<f64>,
    season: Vec<f64>,
    seen: Vec<bool>,
    error: Option<f64>,
    clock: Clock,
}

impl Model {
    fn level() -> Self {
        Model {
            period_ms: 0,
            level: None,
            season: Vec::new(),
            seen: Vec::new(),
            error: None,
            clock: Clock::new(1, 1),
        }
    }

    fn seasonal(period_ms: i64, bucket_ms: i64, level: Option<f64>) -> Self {
        let n = ((period_ms + bucket_ms - 1) / bucket_ms) as usize;
        Model {
            period_ms,
            level,
            season: vec![0.0; n],
            seen: vec![false; n],
            error: None,
            clock: Clock::new(period_ms, bucket_ms),
        }
    }

    fn phase(&mut self, ts: i64) -> usize {
        if self.period_ms == 0 {
            return 0;
        }
        self.clock.at(ts).1
    }

    fn forecast(&self, p: usize) -> Option<f64> {
        let l = self.level?;
        if self.period_ms == 0 {
            return Some(l);
        }
        Some(if self.seen[p] { l + self.season[p] } else { l })
    }

    fn update(&mut self, p: usize, y: f64, forecast: Option<f64>, clip: f64, cfg: &DetectorConfig) {
        let Some(f) = forecast else {
            self.level = Some(y);
            return;
        };
        let e = y - f;
        let ea = e.abs();
        self.error = Some(match self.error {
            None => ea,
            Some(m) => m + cfg.model_error_alpha * (ea - m),
        });
        let ec = e.clamp(-clip, clip);
        let l = self.level.unwrap_or(y) + cfg.alpha_level * ec;
        self.level = Some(l);
        if self.period_ms > 0 {
            if self.seen[p] {
                let d = (y - l - self.season[p]).clamp(-clip, clip);
                self.season[p] += cfg.alpha_season * d;
            } else {
                self.season[p] = y - l;
                self.seen[p] = true;
            }
        }
    }
}

/// Per-day maxima and minima of the errors per bucket for the last four
/// days, to ask "did the same time of day look like this before?".
#[derive(Debug, Clone)]
struct DailyEnvelope {
    buckets: usize,
    day: [i64; 4],
    hi: Vec<f64>,
    lo: Vec<f64>,
    clock: Clock,
    cached: Option<(Place, Option<(f64, f64)>)>,
}

/// A day and a bucket of it.
type Place = (i64, usize);

impl DailyEnvelope {
    fn new(step_ms: i64, buckets: usize) -> Self {
        let bucket_ms = (DAY_MS / buckets.max(1) as i64).max(step_ms).max(1);
        let n = ((DAY_MS + bucket_ms - 1) / bucket_ms) as usize;
        DailyEnvelope {
            buckets: n,
            day: [i64::MIN; 4],
            hi: vec![f64::NEG_INFINITY; 4 * n],
            lo: vec![f64::INFINITY; 4 * n],
            clock: Clock::new(DAY_MS, bucket_ms),
            cached: None,
        }
    }

    fn locate(&mut self, ts: i64) -> (i64, usize) {
        self.clock.at(ts)
    }

    /// The error band that at least two of the previous three days reached
    /// around this time of day, if that many days are known.
    /// Cached per bucket: only earlier days are read, and they do not
    /// change while the day lasts (a bucket is 15 points of minutes).
    fn band(&mut self, at: (i64, usize)) -> Option<(f64, f64)> {
        if let Some((key, band)) = self.cached {
            if key == at {
                return band;
            }
        }
        let band = self.compute_band(at);
        self.cached = Some((at, band));
        band
    }

    fn compute_band(&self, (d, b): (i64, usize)) -> Option<(f64, f64)> {
        let mut his = [f64::NEG_INFINITY; 3];
        let mut los = [f64::INFINITY; 3];
        let mut n = 0;
        for k in 1..=3i64 {
            let slot = (d - k).rem_euclid(4) as usize;
            if self.day[slot] != d - k {
                continue;
            }
            let (mut h, mut l) = (f64::NEG_INFINITY, f64::INFINITY);
            for bb in b.saturating_sub(1)..=(b + 1).min(self.buckets - 1) {
                h = h.max(self.hi[slot * self.buckets + bb]);
                l = l.min(self.lo[slot * self.buckets + bb]);
            }
            if h.is_finite() && l.is_finite() {
                his[n] = h;
                los[n] = l;
                n += 1;
            }
        }
        if n < 2 {
            return None;
        }
        his[..n].sort_by(|a, b| b.total_cmp(a));
        los[..n].sort_by(|a, b| a.total_cmp(b));
        Some((los[1], his[1]))
    }

    fn record(&mut self, (d, b): (i64, usize), e: f64) {
        // a point out of order may write to a day the cached band read
        if matches!(self.cached, Some(((cd, _), _)) if cd != d) {
            self.cached = None;
        }
        let slot = d.rem_euclid(4) as usize;
        if self.day[slot] != d {
            self.day[slot] = d;
            let r = slot * self.buckets..(slot + 1) * self.buckets;
            self.hi[r.clone()].fill(f64::NEG_INFINITY);
            self.lo[r].fill(f64::INFINITY);
        }
        let i = slot * self.buckets + b;
        self.hi[i] = self.hi[i].max(e);
        self.lo[i] = self.lo[i].min(e);
    }
}

/// The streaming detector of one series: `push` each point in time order.
#[derive(Debug, Clone)]
pub struct Detector {
    cfg: DetectorConfig,
    first_ts: Option<i64>,
    last_ts: Option<i64>,
    diffs: Vec<i64>,
    step_ms: Option<i64>,
    models: Vec<Model>,
    envelope: Option<DailyEnvelope>,
    counts: bool,
    last_value: Option<f64>,
    quantum: f64,
    errors: RobustWindow,
    recent_errors: Option<RobustWindow>,
    zs: std::collections::VecDeque<f64>,
    zsum: f64,
    point_tail: TailModel,
    shift_tail: TailModel,
    episode: f64,
    range: Option<RangeWindow>,
    rest: usize,
    rest_peak: f64,
    /// `1 / sqrt(shift_window)`, once rather than per point.
    inv_sqrt_w: f64,
}

/// The level and at most three seasons.
const MAX_MODELS: usize = 4;

/// Positive time steps looked at to fix the series' step.
const STEP_SAMPLES: usize = 16;

impl Detector {
    /// A detector with no history.
    pub fn new(cfg: &DetectorConfig) -> Self {
        Detector {
            cfg: *cfg,
            first_ts: None,
            last_ts: None,
            diffs: Vec::with_capacity(STEP_SAMPLES),
            step_ms: None,
            models: vec![Model::level()],
            envelope: None,
            counts: true,
            last_value: None,
            quantum: f64::INFINITY,
            errors: RobustWindow::new(cfg.scale_window),
            recent_errors: (cfg.recent_window > 0).then(|| {
                RobustWindow::with_refresh(cfg.recent_window, (cfg.recent_window / 4).max(1))
            }),
            zs: std::collections::VecDeque::with_capacity(cfg.shift_window.max(1)),
            zsum: 0.0,
            point_tail: TailModel::new(cfg.tail_window, cfg.tail_quantile, cfg.tail_min)
                .with_max_shape(cfg.tail_max_shape),
            shift_tail: TailModel::new(cfg.tail_window, cfg.tail_quantile, cfg.tail_min)
                .with_max_shape(cfg.tail_max_shape),
            episode: 0.0,
            range: (cfg.range_window > 0).then(|| RangeWindow::new(cfg.range_window)),
            rest: 0,
            rest_peak: 0.0,
            inv_sqrt_w: 1.0 / (cfg.shift_window.max(1) as f64).sqrt(),
        }
    }

    /// The series' step in ms once known (the median of its first steps).
    pub fn step_ms(&self) -> Option<i64> {
        self.step_ms
    }

    fn learn_step(&mut self, ts: i64) {
        if self.step_ms.is_some() {
            return;
        }
        if let Some(last) = self.last_ts {
            if ts > last {
                self.diffs.push(ts - last);
            }
        }
        if self.diffs.len() < STEP_SAMPLES {
            return;
        }
        self.diffs.sort_unstable();
        let step = self.diffs[self.diffs.len() / 2];
        self.step_ms = Some(step);
        let level = self.models[0].level;
        if self.cfg.seasonal {
            for period in [HOUR_MS, DAY_MS, WEEK_MS] {
                if period % step != 0 || period / step < 4 {
                    continue;
                }
                let points = period / step;
                let per_phase =
                    (points + self.cfg.max_phases as i64 - 1) / self.cfg.max_phases.max(1) as i64;
                self.models
                    .push(Model::seasonal(period, step * per_phase.max(1), level));
            }
        }
        if self.cfg.daily_envelope && DAY_MS / step >= 4 {
            self.envelope = Some(DailyEnvelope::new(step, self.cfg.envelope_buckets));
        }
    }

    /// The model used for this point: the seasonal one with the lowest
    /// recent error if it beats the plain level by the margin.
    fn choose(&self, ts: i64) -> usize {
        let first = self.first_ts.unwrap_or(ts);
        let Some(base) = self.models[0].error else {
            return 0;
        };
        let mut best = 0;
        let mut best_err = base * self.cfg.model_switch_margin;
        for (i, m) in self.models.iter().enumerate().skip(1) {
            // (ts - first) / period < min_seasons, without a division
            if ts - first < m.period_ms.saturating_mul(self.cfg.min_seasons as i64) {
                continue;
            }
            if let Some(e) = m.error {
                if e < best_err {
                    best = i;
                    best_err = e;
                }
            }
        }
        best
    }

    /// Score the point `(ts_ms, value)` from what came before it, then learn
    /// from it. A non-finite value scores 0 and is not learnt.
    pub fn push(&mut self, ts_ms: i64, value: f64) -> PointScore {
        if !value.is_finite() {
            return PointScore {
                score: 0.0,
                expected: f64::NAN,
                lower: f64::NAN,
                upper: f64::NAN,
            };
        }
        let cfg = self.cfg;
        if self.first_ts.is_none() {
            self.first_ts = Some(ts_ms);
        }
        self.learn_step(ts_ms);
        self.last_ts = Some(ts_ms);
        if self.counts && (value < 0.0 || value.fract() != 0.0) {
            self.counts = false;
        }
        if let Some(last) = self.last_value {
            let d = (value - last).abs();
            if d > 0.0 && d < self.quantum {
                self.quantum = d;
            }
        }
        self.last_value = Some(value);

        let chosen = self.choose(ts_ms);
        // phases once per point: integer divisions are not free at 10 M points/s
        let mut phases = [0usize; MAX_MODELS];
        let mut forecasts = [None; MAX_MODELS];
        for ((f, p), m) in forecasts
            .iter_mut()
            .zip(phases.iter_mut())
            .zip(&mut self.models)
        {
            *p = m.phase(ts_ms);
            *f = m.forecast(*p);
        }
        let place = self.envelope.as_mut().map(|e| e.locate(ts_ms));
        let mut out = PointScore {
            score: 0.0,
            expected: value,
            lower: value,
            upper: value,
        };
        let mut spread = self.errors.spread();
        if let Some(r) = &self.recent_errors {
            if r.len() >= cfg.recent_window {
                spread = spread.max(r.spread());
            }
        }
        if self.quantum.is_finite() {
            spread = spread.max(self.quantum / 2.0);
        }
        if let Some(f) = forecasts[chosen] {
            if self.counts && cfg.count_aware {
                spread = spread.max((f.max(0.0) + 1.0).sqrt());
            }
            if spread <= 0.0 {
                spread = (f.abs() * 1e-3).max(1e-9);
            }
            let e = value - f;
            // what the same time of the previous days already showed
            let (mut band_lo, mut band_hi) = (0.0, 0.0);
            if let Some(env) = &mut self.envelope {
                if let Some((lo, hi)) = place.and_then(|at| env.band(at)) {
                    band_lo = lo.min(0.0);
                    band_hi = hi.max(0.0);
                }
            }
            let excess = if e > band_hi {
                e - band_hi
            } else if e < band_lo {
                e - band_lo
            } else {
                0.0
            };
            let z = excess / spread;
            let zc = z.clamp(-cfg.z_clip, cfg.z_clip);
            let w = cfg.shift_window.max(1);
            if self.zs.len() == w {
                self.zsum -= self.zs.pop_front().unwrap_or(0.0);
            }
            self.zs.push_back(zc);
            self.zsum += zc;
            let full = self.zs.len() == w;
            let zm = self.zsum * self.inv_sqrt_w;

            let mut surprise = 0.0;
            if self.errors.len() >= 8 {
                // the normal tail only matters in the fitted tail: below it
                // the empirical rank says enough (and costs no erfc)
                let judge = |t: &TailModel, x: f64| {
                    let s = t.surprise(x.abs());
                    if t.in_tail(x.abs()) {
                        s.min(normal_surprise(x))
                    } else {
                        s
                    }
                };
                let point = judge(&self.point_tail, z);
                let shift = if full {
                    judge(&self.shift_tail, zm)
                } else {
                    0.0
                };
                surprise = point.max(shift).max(self.range_surprise(value));
                self.point_tail.push(z.abs());
                if full {
                    self.shift_tail.push(zm.abs());
                }
            }
            let ready = self.point_tail.ready();
            if !ready {
                surprise = 0.0;
            }
            // one alarm per episode: only a growing surprise counts in full
            let peak = self.episode * cfg.repeat_decay;
            let mut reported = if surprise > peak * cfg.repeat_escalation {
                surprise
            } else {
                surprise * cfg.repeat_factor
            };
            self.episode = peak.max(surprise);
            // and a rest after an alarm, unless the incident escalates
            if self.rest > 0 {
                self.rest -= 1;
                if surprise <= self.rest_peak * cfg.rest_escalation {
                    reported *= cfg.rest_factor;
                }
            }
            if cfg.rest_points > 0 && reported >= cfg.rest_surprise {
                if self.rest == 0 {
                    self.rest = cfg.rest_points;
                    self.rest_peak = surprise;
                } else {
                    self.rest_peak = self.rest_peak.max(surprise);
                }
            }
            out.score = if ready && reported > 0.0 {
                reported / (reported + cfg.score_half)
            } else {
                0.0
            };
            let half = 2.576 * spread; // 99 % under the robust normal error model
            out.expected = f;
            out.lower = f + band_lo - half;
            out.upper = f + band_hi + half;
            if self.counts {
                out.lower = out.lower.max(0.0);
            }

            self.errors.push(e);
            if let Some(r) = &mut self.recent_errors {
                r.push(e);
            }
            if let (Some(env), Some(at)) = (&mut self.envelope, place) {
                env.record(at, e);
            }
            // changepoint: move to the new level at once
            if full && zm.abs() > cfg.shift_relevel_z {
                let same = self.zs.iter().filter(|&&v| (v > 0.0) == (zm > 0.0)).count();
                if same * 5 >= w * 4 {
                    let shift = self.errors.median_of_last(w);
                    for m in &mut self.models {
                        if let Some(l) = m.level.as_mut() {
                            *l += shift;
                        }
                    }
                    self.zs.clear();
                    self.zsum = 0.0;
                }
            }
        }
        let clip = if self.errors.len() >= 8 && spread > 0.0 {
            cfg.huber * spread
        } else {
            f64::INFINITY
        };
        for ((m, f), p) in self.models.iter_mut().zip(forecasts).zip(phases) {
            m.update(p, value, f, clip, &cfg);
        }
        if let Some(r) = &mut self.range {
            r.push(value);
        }
        out
    }

    /// The surprise of `value` against the recent range (0 inside it).
    fn range_surprise(&self, value: f64) -> f64 {
        let cfg = &self.cfg;
        let Some(r) = &self.range else {
            return 0.0;
        };
        if r.seen() < cfg.tail_min {
            return 0.0;
        }
        let (lo, hi) = r.range();
        let width = hi - lo;
        if !(width > 0.0 && width.is_finite()) {
            return 0.0;
        }
        let mut margin = cfg.range_tolerance * width;
        if self.counts && cfg.count_aware {
            margin = margin.max(3.0 * (hi.max(0.0) + 1.0).sqrt());
        }
        let out = (value - hi).max(lo - value);
        if out > margin {
            // at most a million ranges out: finite, so the score stays in [0, 1]
            // even for values near f64::MAX
            cfg.range_surprise + cfg.range_slope * ((out - margin) / width).min(1e6)
        } else {
            0.0
        }
    }
}

impl DetectorConfig {
    /// The names [`DetectorConfig::set`] accepts.
    pub const KNOBS: &'static [&'static str] = &[
        "seasonal",
        "max_phases",
        "min_seasons",
        "alpha_level",
        "alpha_season",
        "huber",
        "model_error_alpha",
        "model_switch_margin",
        "scale_window",
        "recent_window",
        "shift_window",
        "z_clip",
        "shift_relevel_z",
        "tail_window",
        "tail_quantile",
        "tail_min",
        "daily_envelope",
        "envelope_buckets",
        "repeat_factor",
        "repeat_decay",
        "repeat_escalation",
        "count_aware",
        "score_half",
        "range_window",
        "range_tolerance",
        "range_surprise",
        "range_slope",
        "rest_points",
        "rest_surprise",
        "rest_escalation",
        "rest_factor",
        "tail_max_shape",
    ];

    /// Set one knob by name from text (for `--set NAME=VALUE`).
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        fn num<T: std::str::FromStr>(name: &str, v: &str) -> Result<T, String> {
            v.parse()
                .map_err(|_| format!("{name} must be a number, got '{v}'"))
        }
        fn frac(name: &str, v: &str, lo: f64, hi: f64) -> Result<f64, String> {
            let x: f64 = num(name, v)?;
            if x.is_finite() && x >= lo && x <= hi {
                Ok(x)
            } else {
                Err(format!("{name} must be between {lo} and {hi}, got '{v}'"))
            }
        }
        fn count(name: &str, v: &str) -> Result<usize, String> {
            let x: usize = num(name, v)?;
            if (1..=1_000_000).contains(&x) {
                Ok(x)
            } else {
                Err(format!("{name} must be between 1 and 1000000, got '{v}'"))
            }
        }
        fn flag(name: &str, v: &str) -> Result<bool, String> {
            v.parse()
                .map_err(|_| format!("{name} must be true or false, got '{v}'"))
        }
        match name {
            "seasonal" => self.seasonal = flag(name, value)?,
            "max_phases" => self.max_phases = count(name, value)?,
            "min_seasons" => self.min_seasons = count(name, value)? as u32,
            "alpha_level" => self.alpha_level = frac(name, value, 0.0, 1.0)?,
            "alpha_season" => self.alpha_season = frac(name, value, 0.0, 1.0)?,
            "huber" => self.huber = frac(name, value, 0.0, 1e9)?,
            "model_error_alpha" => self.model_error_alpha = frac(name, value, 0.0, 1.0)?,
            "model_switch_margin" => self.model_switch_margin = frac(name, value, 0.0, 1.0)?,
            "scale_window" => self.scale_window = count(name, value)?,
            "recent_window" => {
                self.recent_window = if value == "0" {
                    0
                } else {
                    count(name, value)?.max(8)
                }
            }
            "shift_window" => self.shift_window = count(name, value)?,
            "z_clip" => self.z_clip = frac(name, value, 0.0, 1e9)?,
            "shift_relevel_z" => self.shift_relevel_z = frac(name, value, 0.0, 1e9)?,
            "tail_window" => self.tail_window = count(name, value)?,
            "tail_quantile" => self.tail_quantile = frac(name, value, 0.5, 0.999)?,
            "tail_min" => self.tail_min = count(name, value)?,
            "daily_envelope" => self.daily_envelope = flag(name, value)?,
            "envelope_buckets" => self.envelope_buckets = count(name, value)?,
            "repeat_factor" => self.repeat_factor = frac(name, value, 0.0, 1.0)?,
            "repeat_decay" => self.repeat_decay = frac(name, value, 0.0, 1.0)?,
            "repeat_escalation" => self.repeat_escalation = frac(name, value, 1.0, 100.0)?,
            "count_aware" => self.count_aware = flag(name, value)?,
            "score_half" => self.score_half = frac(name, value, 1e-6, 1e6)?,
            "range_window" => self.range_window = num(name, value)?,
            "range_tolerance" => self.range_tolerance = frac(name, value, 0.0, 1e3)?,
            "range_surprise" => self.range_surprise = frac(name, value, 0.0, 1e6)?,
            "range_slope" => self.range_slope = frac(name, value, 0.0, 1e6)?,
            "rest_points" => self.rest_points = num(name, value)?,
            "rest_surprise" => self.rest_surprise = frac(name, value, 0.0, 1e6)?,
            "rest_escalation" => self.rest_escalation = frac(name, value, 1.0, 1e6)?,
            "rest_factor" => self.rest_factor = frac(name, value, 0.0, 1.0)?,
            "tail_max_shape" => self.tail_max_shape = frac(name, value, 0.0, 0.9)?,
            _ => {
                return Err(format!(
                    "unknown setting '{name}'; settings: {}",
                    Self::KNOBS.join(", ")
                ))
            }
        }
        Ok(())
    }
}

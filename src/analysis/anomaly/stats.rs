//! Small robust-statistics pieces of the detector: a bounded window with a
//! median/MAD refreshed now and then (amortised O(1) per point), the normal
//! tail in log space, and an exceedance (peaks-over-threshold) tail model
//! that says how rare a value is in a series' own recent history.

use std::collections::VecDeque;

/// The complementary error function (libm's, accurate to an ulp or so;
/// std has none on stable).
pub fn erfc(x: f64) -> f64 {
    libm::erfc(x)
}

/// `-log10` of the two-sided normal tail probability `P(|Z| >= |z|)`,
/// without underflow for large `z` (asymptotic expansion past 30).
pub fn normal_surprise(z: f64) -> f64 {
    let z = z.abs();
    if !z.is_finite() {
        return f64::MAX;
    }
    if z < 30.0 {
        let p = erfc(z / std::f64::consts::SQRT_2);
        if p > 0.0 {
            return -p.log10();
        }
    }
    // log P ≈ -z²/2 - log(z * sqrt(pi/2)) for the two-sided tail
    (z * z / 2.0 + (z * (std::f64::consts::PI / 2.0).sqrt()).ln()) / std::f64::consts::LN_10
}

thread_local! {
    /// One scratch buffer per thread for the selections, instead of one per
    /// window: thousands of detectors share it.
    static SCRATCH: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `x` as an integer whose order is `f64::total_cmp`'s: the selections
/// compare integers, a third of the time of comparing floats in total
/// order (selection was about a third of the detector's time).
fn key(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | 1 << 63
    }
}

/// The inverse of [`key`].
fn unkey(k: u64) -> f64 {
    f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k })
}

fn with_scratch<R>(f: impl FnOnce(&mut Vec<u64>) -> R) -> R {
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        s.clear();
        f(&mut s)
    })
}

fn nth(v: &mut [u64], k: usize) -> f64 {
    unkey(*v.select_nth_unstable(k).1)
}

/// A window of the last `cap` values with a robust centre and spread that
/// are recomputed every `cap / 4` pushes, so each push costs O(1)
/// amortised while the estimates lag by at most a quarter of the window.
#[derive(Debug, Clone)]
pub struct RobustWindow {
    values: VecDeque<f64>,
    cap: usize,
    every: usize,
    since: usize,
    median: f64,
    /// 1.4826 × MAD (the standard deviation for normal data); the mean
    /// absolute deviation × 1.2533 when over half the values are equal.
    spread: f64,
}

impl RobustWindow {
    /// An empty window of `cap` values (at least 8), refreshed every
    /// push while it holds under 64 values, then every `cap / 4`.
    pub fn new(cap: usize) -> Self {
        Self::with_refresh(cap, 0)
    }

    /// The same with a fixed refresh interval (`every` pushes; 0 = as in
    /// [`RobustWindow::new`]).
    pub fn with_refresh(cap: usize, every: usize) -> Self {
        let cap = cap.max(8);
        RobustWindow {
            values: VecDeque::with_capacity(cap),
            cap,
            every,
            since: 0,
            median: 0.0,
            spread: 0.0,
        }
    }

    /// Add a value; refresh the estimates when due.
    pub fn push(&mut self, v: f64) {
        if self.values.len() == self.cap {
            self.values.pop_front();
        }
        self.values.push_back(v);
        self.since += 1;
        let every = if self.every > 0 {
            self.every
        } else if self.values.len() < 64 {
            1
        } else {
            (self.cap / 4).max(1)
        };
        if self.since >= every {
            self.refresh();
        }
    }

    fn refresh(&mut self) {
        self.since = 0;
        if self.values.is_empty() {
            return;
        }
        let (median, spread) = with_scratch(|v| {
            v.extend(self.values.iter().map(|&x| key(x)));
            let mid = v.len() / 2;
            let med = nth(v, mid);
            for x in v.iter_mut() {
                *x = key((unkey(*x) - med).abs());
            }
            let mad = nth(v, mid);
            let spread = if mad > 0.0 {
                1.4826 * mad
            } else {
                1.2533 * v.iter().map(|&x| unkey(x)).sum::<f64>() / v.len() as f64
            };
            (med, spread)
        });
        self.median = median;
        self.spread = spread;
    }

    /// Values held.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether no value is held.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The median at the last refresh.
    pub fn median(&self) -> f64 {
        self.median
    }

    /// The robust spread at the last refresh.
    pub fn spread(&self) -> f64 {
        self.spread
    }

    /// The median of the last `k` values (exact, O(k)).
    pub fn median_of_last(&self, k: usize) -> f64 {
        let k = k.min(self.values.len());
        if k == 0 {
            return 0.0;
        }
        with_scratch(|v| {
            v.extend(self.values.iter().rev().take(k).map(|&x| key(x)));
            nth(v, k / 2)
        })
    }
}

/// How rare a non-negative statistic is relative to its own recent
/// history: above the `quantile` of the window the tail is taken as
/// exponential with the mean excess as its scale (a peaks-over-threshold
/// model with shape 0). Series whose errors are heavy-tailed by nature thus
/// need a larger deviation to look surprising than clean ones. The
/// threshold and scale are refitted every `cap / 4` values: they describe
/// the long run, a lag of a quarter window does not matter.
#[derive(Debug, Clone)]
pub struct TailModel {
    /// f32: these are error sizes in spreads, and thousands of series keep
    /// a window each.
    values: VecDeque<f32>,
    cap: usize,
    quantile: f64,
    min_len: usize,
    since: usize,
    threshold: f64,
    mean_excess: f64,
    max_shape: f64,
    shape: f64,
    /// `-log10(1 - quantile)`, the surprise at the threshold.
    q_surprise: f64,
    ready: bool,
}

impl TailModel {
    /// A tail model over the last `cap` values, usable after `min_len`.
    pub fn new(cap: usize, quantile: f64, min_len: usize) -> Self {
        let cap = cap.max(16);
        TailModel {
            values: VecDeque::with_capacity(cap),
            cap,
            quantile: quantile.clamp(0.5, 0.999),
            min_len: min_len.clamp(8, cap),
            since: usize::MAX / 2,
            threshold: 0.0,
            mean_excess: 0.0,
            max_shape: 0.0,
            shape: 0.0,
            q_surprise: -(1.0 - quantile.clamp(0.5, 0.999)).log10(),
            ready: false,
        }
    }

    /// Let the tail be heavier than exponential: a generalised Pareto tail
    /// whose shape is estimated from the excesses (method of moments), at
    /// most `max_shape` (0: always exponential).
    pub fn with_max_shape(mut self, max_shape: f64) -> Self {
        self.max_shape = max_shape.clamp(0.0, 0.9);
        self
    }

    /// Add an observation of the statistic.
    pub fn push(&mut self, v: f64) {
        if self.values.len() == self.cap {
            self.values.pop_front();
        }
        self.values.push_back(v.min(f32::MAX as f64) as f32);
        self.since = self.since.saturating_add(1);
        let every = if self.ready {
            (self.cap / 4).max(1)
        } else {
            (self.cap / 16).max(1)
        };
        if self.values.len() >= self.min_len && self.since >= every {
            self.refresh();
        }
    }

    fn refresh(&mut self) {
        self.since = 0;
        let quantile = self.quantile;
        let max_shape = self.max_shape;
        let (u, me, shape) = with_scratch(|v| {
            v.extend(self.values.iter().map(|&x| key(x as f64)));
            let n = v.len();
            let k = ((quantile * n as f64) as usize).min(n - 1);
            let u = nth(v, k);
            let (mut sum, mut sum2, mut cnt) = (0.0, 0.0, 0usize);
            for x in v[k + 1..].iter().map(|&x| unkey(x)) {
                if x > u {
                    sum += x - u;
                    sum2 += (x - u) * (x - u);
                    cnt += 1;
                }
            }
            if cnt == 0 {
                return (u, 1e-9, 0.0);
            }
            let m = (sum / cnt as f64).max(1e-9);
            // moments of a generalised Pareto: mean σ/(1-ξ), variance
            // σ²/((1-ξ)²(1-2ξ)), so ξ = (1 - m²/var)/2; 30 excesses at least
            // before the shape is trusted
            let var = sum2 / cnt as f64 - m * m;
            let shape = if max_shape > 0.0 && cnt >= 30 && var > 0.0 {
                (0.5 * (1.0 - m * m / var)).clamp(0.0, max_shape)
            } else {
                0.0
            };
            (u, m, shape)
        });
        self.threshold = u;
        self.mean_excess = me;
        self.shape = shape;
        self.ready = true;
    }

    /// Whether enough history was seen to judge.
    pub fn ready(&self) -> bool {
        self.ready
    }

    /// Whether `x` is beyond the modelled quantile (in the fitted tail).
    pub fn in_tail(&self, x: f64) -> bool {
        self.ready && x > self.threshold
    }

    /// `-log10` of the estimated probability of a value at least `x`.
    pub fn surprise(&self, x: f64) -> f64 {
        if !self.ready {
            return 0.0;
        }
        let u = self.threshold;
        if x <= u {
            if u <= 0.0 {
                return 0.0;
            }
            // below the fitted tail only the order matters: a smooth rise
            // to the threshold's surprise, without a logarithm per point
            let r = x / u;
            self.q_surprise * r * r
        } else {
            let y = x - u;
            if self.shape > 1e-6 {
                // σ = m (1 - ξ); P(Y > y) = (1 + ξ y / σ)^(-1/ξ)
                let sigma = self.mean_excess * (1.0 - self.shape);
                self.q_surprise
                    + (self.shape * y / sigma).ln_1p() / self.shape / std::f64::consts::LN_10
            } else {
                self.q_surprise + y / self.mean_excess / std::f64::consts::LN_10
            }
        }
    }
}

/// The range (minimum, maximum) of roughly the last `blocks × block`
/// values, kept as per-block extremes: O(1) per push and fixed memory, with
/// a window that slides a block at a time (the last `(blocks - 1) × block`
/// to `blocks × block - 1` values once full).
#[derive(Debug, Clone)]
pub struct RangeWindow {
    block: usize,
    done: VecDeque<(f64, f64)>,
    blocks: usize,
    cur: (f64, f64),
    in_cur: usize,
    seen: usize,
    /// The range of the completed blocks, refolded when a block completes.
    done_range: (f64, f64),
}

impl RangeWindow {
    /// About `len` values, in blocks of `len / 20` (at least 1).
    pub fn new(len: usize) -> Self {
        let block = (len / 20).max(1);
        let blocks = len.div_ceil(block).max(1);
        RangeWindow {
            block,
            done: VecDeque::with_capacity(blocks),
            blocks,
            cur: (f64::INFINITY, f64::NEG_INFINITY),
            in_cur: 0,
            seen: 0,
            done_range: (f64::INFINITY, f64::NEG_INFINITY),
        }
    }

    /// Add a value.
    pub fn push(&mut self, v: f64) {
        self.cur = (self.cur.0.min(v), self.cur.1.max(v));
        self.in_cur += 1;
        self.seen += 1;
        if self.in_cur == self.block {
            if self.done.len() + 1 == self.blocks {
                self.done.pop_front();
            }
            self.done.push_back(self.cur);
            self.cur = (f64::INFINITY, f64::NEG_INFINITY);
            self.in_cur = 0;
            self.done_range = self
                .done
                .iter()
                .fold(self.cur, |(lo, hi), &(l, h)| (lo.min(l), hi.max(h)));
        }
    }

    /// Values pushed so far.
    pub fn seen(&self) -> usize {
        self.seen
    }

    /// The minimum and maximum of the window (infinite when empty).
    pub fn range(&self) -> (f64, f64) {
        (
            self.done_range.0.min(self.cur.0),
            self.done_range.1.max(self.cur.1),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_surprise_matches_the_normal_tail() {
        // P(|Z| >= 1.959964) = 0.05; P(|Z| >= 3.290527) = 0.001
        assert!((normal_surprise(1.959964) - 0.05f64.log10().abs()).abs() < 1e-5);
        assert!((normal_surprise(3.290527) - 3.0).abs() < 1e-5);
        // continuous across the switch to the asymptotic form, and growing
        let (a, b) = (normal_surprise(29.999), normal_surprise(30.001));
        assert!(b > a && (b - a) < 0.05, "{a} {b}");
        assert!(normal_surprise(1e6) > 1e10);
    }

    #[test]
    fn keys_order_as_total_cmp_and_invert() {
        let xs = [
            -f64::INFINITY,
            -1e300,
            -2.5,
            -0.0,
            0.0,
            1e-310,
            3.0,
            f64::INFINITY,
        ];
        for w in xs.windows(2) {
            assert!(key(w[0]) < key(w[1]), "{} {}", w[0], w[1]);
        }
        for &x in &xs {
            assert_eq!(unkey(key(x)).to_bits(), x.to_bits());
        }
    }

    #[test]
    fn robust_window_ignores_outliers() {
        let mut w = RobustWindow::new(101);
        for i in 0..101 {
            // values 0..100 except ten wild ones
            w.push(if i % 10 == 0 { 1e9 } else { i as f64 });
        }
        let m = w.median();
        assert!((45.0..=60.0).contains(&m), "{m}");
        // MAD of a near-uniform 0..100 is about 25
        assert!((25.0..=45.0).contains(&w.spread()), "{}", w.spread());
    }

    #[test]
    fn range_window_forgets_old_extremes() {
        let mut r = RangeWindow::new(100); // blocks of 5
        r.push(1000.0);
        for i in 0..94 {
            r.push(i as f64 % 10.0);
        }
        assert_eq!(r.range(), (0.0, 1000.0));
        for _ in 0..5 {
            r.push(5.0);
        }
        // the block holding 1000 has slid out
        assert_eq!(r.range(), (0.0, 9.0));
    }

    #[test]
    fn tail_model_exponential_data_gives_the_exponential_tail() {
        // deterministic exponential quantiles: x_i = -ln(1 - (i+0.5)/n)
        let n = 2000;
        let mut t = TailModel::new(n, 0.95, 100);
        for k in 0..n {
            // in a scrambled order (7919 is prime to 2000), as data arrives
            let i = (k * 7919) % n;
            t.push(-(1.0 - (i as f64 + 0.5) / n as f64).ln());
        }
        // P(X >= 6) = e^-6, -log10 = 2.606
        let s = t.surprise(6.0);
        assert!((s - 6.0 / std::f64::consts::LN_10).abs() < 0.15, "{s}");
    }
}

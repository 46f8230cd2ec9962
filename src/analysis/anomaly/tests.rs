//! The detector on synthetic log volumes whose incidents the test injected
//! itself, and the NAB scorer on hand-made corpora whose scores follow from
//! NAB's formulas by hand.

use rand::{Rng, SeedableRng};

use super::nab::{score_corpus, NabFile, PROFILES};
use super::{score_series, DetectorConfig, Severity};

const MIN: i64 = 60_000;
const DAY_MINUTES: usize = 1440;

fn poisson(rng: &mut impl Rng, lambda: f64) -> f64 {
    if lambda <= 0.0 {
        return 0.0;
    }
    if lambda < 30.0 {
        // Knuth: multiply uniforms until below e^-lambda
        let limit = (-lambda).exp();
        let (mut k, mut p) = (0.0, 1.0);
        loop {
            p *= rng.random::<f64>();
            if p <= limit {
                return k;
            }
            k += 1.0;
        }
    }
    // normal approximation, exact enough for lambda >= 30
    let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-300), rng.random());
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    (lambda + lambda.sqrt() * z).round().max(0.0)
}

/// Expected events per minute: about 1.5 at night, 400 at the afternoon
/// peak, a smooth daily cycle.
fn daily_rate(minute_of_day: usize) -> f64 {
    let phase =
        2.0 * std::f64::consts::PI * (minute_of_day as f64 - 15.0 * 60.0) / DAY_MINUTES as f64;
    let shape = (0.5 + 0.5 * phase.cos()).powi(3);
    1.5 + 400.0 * shape
}

struct Synthetic {
    ts: Vec<i64>,
    values: Vec<f64>,
    /// Injected incidents as inclusive index ranges.
    incidents: Vec<(&'static str, usize, usize)>,
}

/// Three weeks of minutes starting on a midnight, with a spike (day 10,
/// 14:00, three times the rate for one minute), a silence (day 13, 11:00,
/// ten minutes of zero) and a level shift (day 17, 09:00, +150 events a
/// minute from then on).
fn synthetic(seed: u64) -> Synthetic {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let start = 1_700_006_400_000i64; // 2023-11-15 00:00:00 UTC
    let n = 21 * DAY_MINUTES;
    let spike = 10 * DAY_MINUTES + 14 * 60;
    let silence = 13 * DAY_MINUTES + 11 * 60;
    let shift = 17 * DAY_MINUTES + 9 * 60;
    let mut ts = Vec::with_capacity(n);
    let mut values = Vec::with_capacity(n);
    for i in 0..n {
        ts.push(start + i as i64 * MIN);
        let mut rate = daily_rate(i % DAY_MINUTES);
        if i >= shift {
            rate += 150.0;
        }
        if i == spike {
            rate *= 3.0;
        }
        let v = if (silence..silence + 10).contains(&i) {
            0.0
        } else {
            poisson(&mut rng, rate)
        };
        values.push(v);
    }
    Synthetic {
        ts,
        values,
        incidents: vec![
            ("spike", spike, spike),
            ("silence", silence, silence + 9),
            ("level shift", shift, shift),
        ],
    }
}

#[test]
fn detector_finds_spike_silence_and_level_shift_in_seasonal_log_volume() {
    for seed in [1, 2, 3] {
        let s = synthetic(seed);
        let scores = score_series(&DetectorConfig::default(), &s.ts, &s.values);
        let high: Vec<usize> = (0..scores.len())
            .filter(|&i| Severity::from_score(scores[i].score) == Some(Severity::High))
            .collect();
        for &(name, start, _) in &s.incidents {
            assert!(
                high.iter().any(|&i| (start..=start + 2).contains(&i)),
                "seed {seed}: {name} at {start} not flagged high; scores there {:?}",
                &scores[start..start + 3]
                    .iter()
                    .map(|p| p.score)
                    .collect::<Vec<_>>()
            );
        }
        // the first day is learning; after it, nothing else is high
        let stray: Vec<(usize, f64, f64)> = high
            .iter()
            .filter(|&&i| i >= DAY_MINUTES)
            .filter(|&&i| {
                !s.incidents
                    .iter()
                    .any(|&(_, a, b)| i + 2 >= a && i <= b + 2)
            })
            .map(|&i| (i, s.values[i], scores[i].score))
            .collect();
        assert!(
            stray.is_empty(),
            "seed {seed}: high scores away from the incidents: {stray:?}"
        );
    }
}

#[test]
fn detector_small_night_counts_raise_no_high_severity() {
    // a week of 0-4 events a minute (Poisson 1.2), then a normal night
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let n = 7 * DAY_MINUTES;
    let ts: Vec<i64> = (0..n as i64).map(|i| 1_700_006_400_000 + i * MIN).collect();
    let values: Vec<f64> = (0..n).map(|_| poisson(&mut rng, 1.2)).collect();
    assert!(
        values.iter().any(|&v| v >= 5.0),
        "the sample should contain jumps from ~1 to 5+"
    );
    let scores = score_series(&DetectorConfig::default(), &ts, &values);
    let worst = scores.iter().map(|p| p.score).fold(0.0, f64::max);
    assert!(
        worst < Severity::HIGH,
        "small counts gave a high score {worst}"
    );
    // and the nights of the seasonal series: never even medium
    let s = synthetic(4);
    let scores = score_series(&DetectorConfig::default(), &s.ts, &s.values);
    for (i, p) in scores.iter().enumerate().skip(DAY_MINUTES) {
        let minute = i % DAY_MINUTES;
        if (1..=5).contains(&(minute / 60)) && i < s.incidents[2].1 {
            assert!(
                p.score < Severity::MEDIUM,
                "night minute {i} (value {}) scored {}",
                s.values[i],
                p.score
            );
        }
    }
}

#[test]
fn detector_silence_is_reported_below_the_band() {
    let s = synthetic(5);
    let scores = score_series(&DetectorConfig::default(), &s.ts, &s.values);
    let (_, start, _) = s.incidents[1];
    let p = scores[start];
    assert_eq!(s.values[start], 0.0);
    assert!(p.expected > 100.0 && p.lower > 0.0, "{p:?}");
}

#[test]
fn detector_has_no_look_ahead_on_a_long_series() {
    let s = synthetic(6);
    let cfg = DetectorConfig::default();
    let full = score_series(&cfg, &s.ts, &s.values);
    let cut = 20_000;
    let prefix = score_series(&cfg, &s.ts[..cut], &s.values[..cut]);
    assert_eq!(&full[..cut], &prefix[..]);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    #[test]
    fn detector_prefix_scores_equal_full_series_scores(
        steps in proptest::collection::vec(0i64..600_000, 1..600),
        values in proptest::collection::vec(-1e6f64..1e6, 600),
        cut in 0usize..600,
    ) {
        let mut t = 1_600_000_000_000i64;
        let ts: Vec<i64> = steps.iter().map(|d| { t += d; t }).collect();
        let vals = &values[..ts.len()];
        let cfg = DetectorConfig::default();
        let full = score_series(&cfg, &ts, vals);
        let k = cut.min(ts.len());
        let prefix = score_series(&cfg, &ts[..k], &vals[..k]);
        for p in &full {
            proptest::prop_assert!((0.0..=1.0).contains(&p.score));
        }
        proptest::prop_assert_eq!(&full[..k], &prefix[..]);
    }
}

fn file(n: usize, windows: Vec<(usize, usize)>, category: &str) -> NabFile {
    NabFile {
        key: format!("{category}/f{n}.csv"),
        category: category.into(),
        timestamps: (0..n as i64).map(|i| i * 300_000).collect(),
        values: vec![0.0; n],
        windows,
    }
}

fn sigma(y: f64) -> f64 {
    // SCORING.md step 5, written out again as the oracle
    if y > 3.0 {
        -1.0
    } else {
        2.0 / (1.0 + (5.0 * y).exp()) - 1.0
    }
}

#[test]
fn nab_scorer_left_edge_detection_is_100_and_none_is_0() {
    // 1000 rows: probation 150; one window of 100 rows at 500..=599
    let f = vec![file(1000, vec![(500, 599)], "a")];
    let mut hit = vec![0.0; 1000];
    hit[500] = 1.0;
    for p in &PROFILES {
        let r = score_corpus(&f, &[hit.clone()], p);
        assert!(
            (r.overall - 100.0).abs() < 1e-9,
            "{}: {}",
            p.name,
            r.overall
        );
        assert_eq!(r.threshold, 1.0);
        let none = score_corpus(&f, &[vec![0.0; 1000]], p);
        assert!(none.overall.abs() < 1e-9, "{}: {}", p.name, none.overall);
    }
}

#[test]
fn nab_scorer_weights_late_detections_and_false_positives_by_the_sigmoid() {
    let f = vec![file(1000, vec![(500, 599)], "a")];
    // detection at the window's last row: y = -1/100
    let mut late = vec![0.0; 1000];
    late[599] = 1.0;
    let credit = sigma(-1.0 / 100.0) / sigma(-1.0);
    let r = score_corpus(&f, &[late], &PROFILES[0]);
    assert!(
        (r.overall - 100.0 * (credit + 1.0) / 2.0).abs() < 1e-9,
        "{}",
        r.overall
    );
    // left edge plus a false positive before any window (-A_FP) and one 50
    // rows after the window (A_FP * sigma(50/99)); probation rows are ignored
    let mut s = vec![0.0; 1000];
    s[500] = 1.0;
    s[300] = 1.0;
    s[649] = 1.0;
    s[10] = 1.0;
    for p in &PROFILES {
        let raw = p.a_tp - p.a_fp + p.a_fp * sigma(50.0 / 99.0);
        let want = 100.0 * (raw + p.a_fn) / (p.a_tp + p.a_fn);
        let r = score_corpus(&f, &[s.clone()], p);
        assert!(
            (r.overall - want).abs() < 1e-9,
            "{}: {} vs {want}",
            p.name,
            r.overall
        );
        assert_eq!(r.false_positives, 2);
    }
}

#[test]
fn nab_scorer_sweeps_one_threshold_over_the_whole_corpus() {
    // file a: its window's hit scores 0.9; file b: a false positive scores
    // 0.95 and its window's hit 0.5. Candidates: >0.95 none (raw -2);
    // 0.95: -2 - 0.11; 0.9: 1 - 1 - 0.11; 0.5: 1 + 1 - 0.11 (best)
    let files = vec![
        file(1000, vec![(500, 599)], "a"),
        file(1000, vec![(700, 799)], "b"),
    ];
    let mut sa = vec![0.0; 1000];
    sa[500] = 0.9;
    let mut sb = vec![0.0; 1000];
    sb[300] = 0.95;
    sb[700] = 0.5;
    let r = score_corpus(&files, &[sa, sb], &PROFILES[0]);
    assert_eq!(r.threshold, 0.5);
    assert!((r.raw - (2.0 - 0.11)).abs() < 1e-9, "{}", r.raw);
    assert!((r.overall - 100.0 * (2.0 - 0.11 + 2.0) / 4.0).abs() < 1e-9);
    // per category at the same threshold: a perfect, b pays its false positive
    assert!((r.per_category[0].1 - 100.0).abs() < 1e-9);
    assert!((r.per_category[1].1 - 100.0 * (1.0 - 0.11 + 1.0) / 2.0).abs() < 1e-9);
}

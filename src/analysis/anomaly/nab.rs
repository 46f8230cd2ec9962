//! NAB (Numenta Anomaly Benchmark) scoring, written from NAB's own
//! description of it (windows, probation, scaled sigmoid, one threshold per
//! profile swept over every distinct score of the corpus, normalisation
//! with the null detector), so that `logweave eval anomalies` can put our
//! detector next to the published figures on the same files.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;

/// The weights of one NAB application profile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    /// NAB's name of the profile.
    pub name: &'static str,
    /// Credit of a window detected at its left edge.
    pub a_tp: f64,
    /// Cost of a window without any detection.
    pub a_fn: f64,
    /// Cost of a detection far from any window.
    pub a_fp: f64,
}

/// NAB's three profiles (its `config/profiles.json`).
pub const PROFILES: [Profile; 3] = [
    Profile {
        name: "standard",
        a_tp: 1.0,
        a_fn: 1.0,
        a_fp: 0.11,
    },
    Profile {
        name: "reward_low_FP_rate",
        a_tp: 1.0,
        a_fn: 1.0,
        a_fp: 0.22,
    },
    Profile {
        name: "reward_low_FN_rate",
        a_tp: 1.0,
        a_fn: 2.0,
        a_fp: 0.11,
    },
];

/// One data file of a NAB-layout folder with its labelled windows.
#[derive(Debug, Clone)]
pub struct NabFile {
    /// Path under `data/`, as the labels name it (`category/file.csv`).
    pub key: String,
    /// The folder under `data/`.
    pub category: String,
    /// Row timestamps, epoch ms, in file order.
    pub timestamps: Vec<i64>,
    /// Row values, in file order.
    pub values: Vec<f64>,
    /// Windows as inclusive row ranges `(first, last)`, in file order.
    pub windows: Vec<(usize, usize)>,
}

impl NabFile {
    /// Rows before this index are NAB's probation (learning) period and are
    /// not scored: 15 % of the rows, at most 750.
    pub fn probation(&self) -> usize {
        let n = self.timestamps.len();
        ((0.15 * n as f64).floor() as usize).min(750)
    }
}

/// NAB's scaled sigmoid of the relative position `y` (-1 at a window's
/// left edge, 0 at its right edge, growing past it in window widths).
pub fn scaled_sigmoid(y: f64) -> f64 {
    if y > 3.0 {
        -1.0
    } else {
        2.0 / (1.0 + (5.0 * y).exp()) - 1.0
    }
}

/// Read a NAB-layout folder: `data/<category>/*.csv` (`timestamp,value`)
/// and `labels/combined_windows.json`. Files are sorted by key so results
/// do not depend on the directory order.
pub fn load_corpus(dir: &Path) -> anyhow::Result<Vec<NabFile>> {
    let labels_path = dir.join("labels").join("combined_windows.json");
    let labels_text = std::fs::read_to_string(&labels_path)
        .with_context(|| format!("reading {}", labels_path.display()))?;
    let labels: HashMap<String, Vec<(String, String)>> = serde_json::from_str(&labels_text)
        .with_context(|| {
            format!(
                "{}: expected an object of file → list of [start, end] timestamps",
                labels_path.display()
            )
        })?;
    let data = dir.join("data");
    let mut keys = Vec::new();
    for cat in std::fs::read_dir(&data).with_context(|| format!("reading {}", data.display()))? {
        let cat = cat?;
        if !cat.file_type()?.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(cat.path())? {
            let f = f?;
            let name = f.file_name().to_string_lossy().into_owned();
            if name.ends_with(".csv") {
                keys.push((cat.file_name().to_string_lossy().into_owned(), name));
            }
        }
    }
    keys.sort();
    if keys.is_empty() {
        anyhow::bail!("{}: no data/<category>/*.csv files", dir.display());
    }
    let mut files = Vec::with_capacity(keys.len());
    for (category, name) in keys {
        let key = format!("{category}/{name}");
        let path = data.join(&category).join(&name);
        let series = super::series_csv::read_series_file(&path)?;
        let mut first_row: HashMap<i64, usize> = HashMap::new();
        for (i, &t) in series.timestamps.iter().enumerate() {
            first_row.entry(t).or_insert(i);
        }
        let mut windows = Vec::new();
        for (start, end) in labels.get(&key).map(|w| w.as_slice()).unwrap_or(&[]) {
            let row = |s: &str| -> anyhow::Result<usize> {
                let t = super::series_csv::parse_timestamp(s).with_context(|| {
                    format!(
                        "{}: window bound '{s}' of {key} is not a timestamp",
                        labels_path.display()
                    )
                })?;
                first_row.get(&t).copied().with_context(|| {
                    format!(
                        "{}: window bound '{s}' of {key} is not the timestamp of any row",
                        labels_path.display()
                    )
                })
            };
            let (a, b) = (row(start)?, row(end)?);
            if b < a {
                anyhow::bail!(
                    "{}: window [{start}, {end}] of {key} ends before it starts",
                    labels_path.display()
                );
            }
            windows.push((a, b));
        }
        windows.sort();
        files.push(NabFile {
            key,
            category,
            timestamps: series.timestamps,
            values: series.values,
            windows,
        });
    }
    Ok(files)
}

/// A scorable row (after probation): its weight if it is a detection, and
/// the corpus-wide window it belongs to.
#[derive(Debug, Clone, Copy)]
struct Row {
    score: f64,
    /// Index into the corpus' windows, `None` outside every window.
    window: Option<usize>,
    /// What a detection here adds: the window credit inside a window, the
    /// (negative) false-positive cost outside.
    weight: f64,
    file: usize,
}

fn scorable_rows(files: &[NabFile], scores: &[Vec<f64>], p: &Profile) -> (Vec<Row>, Vec<usize>) {
    let max_tp = scaled_sigmoid(-1.0);
    let mut rows = Vec::new();
    // window_file[w] = the file of corpus window w
    let mut window_file = Vec::new();
    for (fi, (f, sc)) in files.iter().zip(scores).enumerate() {
        let probation = f.probation();
        let base = window_file.len();
        window_file.extend(std::iter::repeat_n(fi, f.windows.len()));
        let mut next = 0usize; // next window to enter
        let mut cur: Option<usize> = None; // window we are in
        let mut prev: Option<(usize, usize)> = None; // (right edge, width) of the last window left
        for i in 0..f.timestamps.len() {
            if cur.is_none() && next < f.windows.len() && i == f.windows[next].0 {
                cur = Some(next);
                next += 1;
            }
            let (window, weight) = match cur {
                Some(w) => {
                    let (a, b) = f.windows[w];
                    let width = (b - a + 1) as f64;
                    let y = -((b as f64 - i as f64 + 1.0) / width);
                    (Some(base + w), scaled_sigmoid(y) * p.a_tp / max_tp)
                }
                None => match prev {
                    None => (None, -p.a_fp),
                    Some((right, width)) => {
                        // a one-row window would divide by zero in NAB's code; one row of width here
                        let y = (i as f64 - right as f64).abs() / ((width as f64 - 1.0).max(1.0));
                        (None, scaled_sigmoid(y) * p.a_fp)
                    }
                },
            };
            if i >= probation {
                rows.push(Row {
                    score: sc.get(i).copied().unwrap_or(0.0),
                    window,
                    weight,
                    file: fi,
                });
            }
            if let Some(w) = cur {
                let (a, b) = f.windows[w];
                if i == b {
                    prev = Some((b, b - a + 1));
                    cur = None;
                }
            }
        }
    }
    (rows, window_file)
}

/// The score of one detector on a corpus for one profile.
#[derive(Debug, Clone)]
pub struct ProfileResult {
    /// The profile.
    pub profile: Profile,
    /// The corpus-wide threshold that maximised the raw score (a detection
    /// is a score at or above it; above 1 means none).
    pub threshold: f64,
    /// Normalised score of the whole corpus (null = 0, perfect = 100).
    pub overall: f64,
    /// Normalised score per category at the corpus threshold.
    pub per_category: Vec<(String, f64)>,
    /// Raw score of the whole corpus at the threshold.
    pub raw: f64,
    /// Detections outside every window at the threshold.
    pub false_positives: usize,
    /// Windows with at least one detection at the threshold.
    pub windows_detected: usize,
    /// Windows in the corpus.
    pub windows: usize,
}

/// Score `scores` (one vector per file, one score per row) the way NAB
/// does for profile `p`: sweep every distinct score as the threshold over
/// the whole corpus, keep the best raw score, normalise with the null
/// detector (`-A_FN` per window) and the perfect one (`A_TP` per window).
pub fn score_corpus(files: &[NabFile], scores: &[Vec<f64>], p: &Profile) -> ProfileResult {
    let (mut rows, window_file) = scorable_rows(files, scores, p);
    let n_windows = window_file.len();
    rows.sort_by(|a, b| b.score.total_cmp(&a.score));
    // Sweep: detections are rows with score >= threshold; add rows in
    // descending score, evaluate after each group of equal scores.
    let mut best_in_window: Vec<Option<f64>> = vec![None; n_windows];
    let mut total = -p.a_fn * n_windows as f64;
    let mut best = (total, f64::INFINITY);
    let mut i = 0;
    while i < rows.len() {
        let s = rows[i].score;
        while i < rows.len() && rows[i].score == s {
            let r = rows[i];
            match r.window {
                None => total += r.weight,
                Some(w) => match best_in_window[w] {
                    None => {
                        total += r.weight + p.a_fn;
                        best_in_window[w] = Some(r.weight);
                    }
                    Some(b) if r.weight > b => {
                        total += r.weight - b;
                        best_in_window[w] = Some(r.weight);
                    }
                    Some(_) => {}
                },
            }
            i += 1;
        }
        if total > best.0 {
            best = (total, s);
        }
    }
    let threshold = best.1;
    let categories: Vec<String> = {
        let mut c: Vec<String> = files.iter().map(|f| f.category.clone()).collect();
        c.dedup();
        c
    };
    let at = |cat: Option<&str>| -> (f64, usize, usize, usize) {
        let in_cat = |fi: usize| cat.is_none_or(|c| files[fi].category == c);
        let mut raw = 0.0;
        let mut best_w: Vec<Option<f64>> = vec![None; n_windows];
        let mut fps = 0;
        for r in rows
            .iter()
            .filter(|r| r.score >= threshold && in_cat(r.file))
        {
            match r.window {
                None => {
                    raw += r.weight;
                    fps += 1;
                }
                Some(w) => best_w[w] = Some(best_w[w].map_or(r.weight, |b: f64| b.max(r.weight))),
            }
        }
        let mut nw = 0;
        let mut detected = 0;
        for (w, &fi) in window_file.iter().enumerate() {
            if !in_cat(fi) {
                continue;
            }
            nw += 1;
            match best_w[w] {
                Some(b) => {
                    raw += b;
                    detected += 1;
                }
                None => raw -= p.a_fn,
            }
        }
        (raw, nw, fps, detected)
    };
    let normalise = |raw: f64, nw: usize| -> f64 {
        let null = -p.a_fn * nw as f64;
        let perfect = p.a_tp * nw as f64;
        if perfect == null {
            0.0
        } else {
            100.0 * (raw - null) / (perfect - null)
        }
    };
    let (raw, nw, false_positives, windows_detected) = at(None);
    let per_category = categories
        .iter()
        .map(|c| {
            let (r, n, _, _) = at(Some(c));
            (c.clone(), normalise(r, n))
        })
        .collect();
    ProfileResult {
        profile: *p,
        threshold,
        overall: normalise(raw, nw),
        per_category,
        raw,
        false_positives,
        windows_detected,
        windows: nw,
    }
}

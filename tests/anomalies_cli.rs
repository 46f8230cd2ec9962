//! `logweave analyze anomalies` and `logweave eval anomalies` as a user runs
//! them: real binary, files in a temporary folder, answers known from the
//! input (row counts, the row that is wrong, a corpus whose only detection
//! is at a window's left edge).

use std::process::Command;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_logweave"))
        .args(args)
        .output()
        .expect("spawning logweave");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `rows` five-minute rows from 2014-02-14 00:00:00 of a value near 10 (a
/// fixed wobble), with `spike` rows set to 1000.
fn series_csv(rows: usize, spike: &[usize]) -> String {
    let mut s = String::from("timestamp,value\n");
    for i in 0..rows {
        let (h, m) = ((i * 5) / 60, (i * 5) % 60);
        let (d, h) = (14 + h / 24, h % 24);
        let v = if spike.contains(&i) {
            1000.0
        } else {
            10.0 + ((i * 7) % 5) as f64 * 0.1
        };
        s.push_str(&format!("2014-02-{d:02} {h:02}:{m:02}:00,{v}\n"));
    }
    s
}

#[test]
fn analyze_anomalies_writes_one_score_per_row_with_the_spike_highest() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.csv");
    let output = dir.path().join("out.csv");
    std::fs::write(&input, series_csv(600, &[400])).unwrap();
    let (code, _, err) = run(&[
        "analyze",
        "anomalies",
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&output).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "timestamp,value,anomaly_score");
    assert_eq!(lines.len(), 601);
    assert!(
        lines[1].starts_with("2014-02-14 00:00:00,10,"),
        "{}",
        lines[1]
    );
    let scores: Vec<f64> = lines[1..]
        .iter()
        .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
        .collect();
    assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)));
    let top = (0..scores.len())
        .max_by(|&a, &b| scores[a].total_cmp(&scores[b]))
        .unwrap();
    assert_eq!(top, 400, "the spike row should score highest");
}

#[test]
fn analyze_anomalies_garbage_row_is_an_error_naming_the_row() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.csv");
    let mut text = series_csv(10, &[]);
    text.push_str("2014-02-14 01:00:00,oops\n"); // line 12: header + 10 rows + this
    std::fs::write(&input, text).unwrap();
    let (code, out, err) = run(&["analyze", "anomalies", "--input", input.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        err.contains("row 12") && err.contains("value 'oops' is not a finite number"),
        "{err}"
    );

    std::fs::write(&input, "timestamp,value\nsoon,3\n").unwrap();
    let (code, _, err) = run(&["analyze", "anomalies", "--input", input.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("row 2") && err.contains("timestamp 'soon'"),
        "{err}"
    );
}

#[test]
fn eval_anomalies_left_edge_spike_scores_100_and_null_0() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data").join("cat");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(dir.path().join("labels")).unwrap();
    // 2000 rows; the window starts at row 1500 (2014-02-19 05:00:00), where
    // the only spike is, and lasts 100 rows
    std::fs::write(data.join("a.csv"), series_csv(2000, &[1500])).unwrap();
    std::fs::write(
        dir.path().join("labels").join("combined_windows.json"),
        r#"{"cat/a.csv": [["2014-02-19 05:00:00.000000", "2014-02-19 13:15:00.000000"]]}"#,
    )
    .unwrap();
    let (code, out, err) = run(&["eval", "anomalies", dir.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let line = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} line in {out}"))
            .to_string()
    };
    let nums = |l: String| -> Vec<f64> {
        l.split_whitespace()
            .filter_map(|w| w.parse().ok())
            .take(3)
            .collect()
    };
    assert_eq!(
        nums(line("logweave   ")),
        vec![100.0, 100.0, 100.0],
        "{out}"
    );
    assert_eq!(nums(line("null ")), vec![0.0, 0.0, 0.0], "{out}");
    assert!(out.contains("1 files, 2000 rows, 1 windows"), "{out}");

    // a window bound that is no row's timestamp is an error naming it
    std::fs::write(
        dir.path().join("labels").join("combined_windows.json"),
        r#"{"cat/a.csv": [["2014-02-19 05:01:00", "2014-02-19 13:15:00"]]}"#,
    )
    .unwrap();
    let (code, _, err) = run(&["eval", "anomalies", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("'2014-02-19 05:01:00' of cat/a.csv is not the timestamp of any row"),
        "{err}"
    );
}

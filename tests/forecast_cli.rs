//! `logweave analyze forecast` as a user runs it: real binary, a small file
//! in a temporary folder, answers computed from the input (the classic
//! smoothing recursion by hand, the timestamps one step apart).

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

const VALUES: [f64; 6] = [10.0, 20.0, 15.0, 30.0, 25.0, 18.0];

/// Five-minute rows from 2014-02-14 00:00:00.
fn write_series(dir: &std::path::Path, values: &[f64]) -> std::path::PathBuf {
    let mut s = String::from("timestamp,value\n");
    for (i, v) in values.iter().enumerate() {
        s.push_str(&format!("2014-02-14 00:{:02}:00,{v}\n", i * 5));
    }
    let path = dir.join("series.csv");
    std::fs::write(&path, s).unwrap();
    path
}

/// The classic script: `S_0 = X_0`, `S_t = a*X_t + (1-a)*S_{t-1}`.
fn script(x: &[f64], a: f64) -> Vec<f64> {
    let mut s = x[0];
    let mut out = vec![s];
    for &v in &x[1..] {
        s = a * v + (1.0 - a) * s;
        out.push(s);
    }
    out
}

fn num(field: &str) -> f64 {
    field
        .parse()
        .unwrap_or_else(|_| panic!("'{field}' is not a number"))
}

#[test]
fn ses_rows_are_the_classic_recursion_for_alpha_0_3() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_series(dir.path(), &VALUES);
    let (code, out, err) = run(&[
        "analyze",
        "forecast",
        "--input",
        input.to_str().unwrap(),
        "--model",
        "ses",
        "--alpha",
        "0.3",
        "--horizon",
        "3",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("model ses (") && err.contains("alpha=0.3"),
        "{err}"
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "timestamp,value,smoothed,forecast,lower80,upper80,lower95,upper95"
    );
    assert_eq!(lines.len(), 1 + VALUES.len() + 3, "{out}");

    // by hand: 10, .3*20 + .7*10 = 13, 4.5 + 9.1 = 13.6, 9 + 9.52 = 18.52,
    // 7.5 + 12.964 = 20.464, 5.4 + 14.3248 = 19.7248
    let by_hand = [10.0, 13.0, 13.6, 18.52, 20.464, 19.7248];
    let expected = script(&VALUES, 0.3);
    for (i, line) in lines[1..=VALUES.len()].iter().enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), 8, "{line}");
        assert_eq!(f[0], format!("2014-02-14 00:{:02}:00", i * 5));
        assert_eq!(num(f[1]), VALUES[i]);
        // the script's numbers bit for bit, and the hand sums to rounding
        assert_eq!(num(f[2]), expected[i], "row {i}: {line}");
        assert!((num(f[2]) - by_hand[i]).abs() < 1e-9, "row {i}: {line}");
        assert!(f[3..].iter().all(|c| c.is_empty()), "{line}");
    }
    let last = expected[VALUES.len() - 1];
    for (h, line) in lines[1 + VALUES.len()..].iter().enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), 8, "{line}");
        // one step (five minutes) after the last row each
        assert_eq!(f[0], format!("2014-02-14 00:{:02}:00", 25 + 5 * (h + 1)));
        assert!(f[1].is_empty() && f[2].is_empty(), "{line}");
        // simple smoothing forecasts flat at the last S_t
        assert_eq!(num(f[3]), last, "{line}");
        let (l80, u80, l95, u95) = (num(f[4]), num(f[5]), num(f[6]), num(f[7]));
        assert!(
            l95 <= l80 && l80 < last && last < u80 && u80 <= u95,
            "{line}"
        );
    }
}

#[test]
fn json_has_model_params_and_future_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_series(dir.path(), &VALUES);
    let (code, out, err) = run(&[
        "analyze",
        "forecast",
        "--input",
        input.to_str().unwrap(),
        "--model",
        "ses",
        "--alpha",
        "0.3",
        "--horizon",
        "2",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
    assert_eq!(doc["model"], "ses");
    assert_eq!(doc["params"]["alpha"], 0.3);
    assert_eq!(doc["step_ms"], 300_000);
    let smoothed = doc["smoothed"].as_array().unwrap();
    let expected = script(&VALUES, 0.3);
    assert_eq!(smoothed.len(), VALUES.len());
    for (row, want) in smoothed.iter().zip(&expected) {
        assert_eq!(row["smoothed"].as_f64(), Some(*want), "{row}");
    }
    let future = doc["future"].as_array().unwrap();
    assert_eq!(future.len(), 2);
    // 2014-02-14 00:25:00 UTC = 1392337500 s, plus one and two steps
    assert_eq!(future[0]["timestamp"], "2014-02-14 00:30:00");
    assert_eq!(future[0]["timestamp_ms"], 1_392_337_800_000i64);
    assert_eq!(future[1]["timestamp_ms"], 1_392_338_100_000i64);
    assert_eq!(future[1]["forecast"].as_f64(), expected.last().copied());
    assert!(future[1]["upper95"].as_f64() > future[1]["upper80"].as_f64());
}

#[test]
fn a_detected_daily_season_is_reported() {
    // two days of minutes with a daily cycle: auto finds the day
    let values: Vec<f64> = (0..2880)
        .map(|t| {
            let day = std::f64::consts::TAU * (t % 1440) as f64 / 1440.0;
            (100.0 + 50.0 * day.sin() + ((t * 7919) % 11) as f64).round()
        })
        .collect();
    let mut s = String::new();
    for (i, v) in values.iter().enumerate() {
        // epoch seconds, one a minute
        s.push_str(&format!("{},{v}\n", 1_392_336_000 + 60 * i));
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("minutes.csv");
    std::fs::write(&input, s).unwrap();
    let (code, out, err) = run(&["analyze", "forecast", "--input", input.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("model seasonal") && err.contains("season=1440"),
        "{err}"
    );
    let lines: Vec<&str> = out.lines().collect();
    // the default horizon is an hour of rows, in epoch seconds like the input
    assert_eq!(lines.len(), 1 + 2880 + 60);
    let first_ahead = 1_392_336_000 + 60 * 2880;
    assert!(
        lines[2881].starts_with(&format!("{first_ahead},,,")),
        "{}",
        lines[2881]
    );
}

#[test]
fn bad_requests_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_series(dir.path(), &VALUES);
    let path = input.to_str().unwrap();
    let (code, _, err) = run(&["analyze", "forecast", "--input", path, "--alpha", "1.5"]);
    assert_eq!(code, 1);
    assert!(err.contains("alpha must be in (0, 1], got 1.5"), "{err}");
    let (code, _, err) = run(&["analyze", "forecast", "--input", path, "--horizon", "0"]);
    assert_eq!(code, 1);
    assert!(err.contains("horizon must be between 1 and"), "{err}");
    let (code, _, err) = run(&["analyze", "forecast", "--input", path, "--model", "arima"]);
    assert_ne!(code, 0);
    assert!(err.contains("unknown model 'arima'"), "{err}");
    // without --input it asks a server; with none listening the error says
    // both what it tried and how to forecast a file instead
    let (code, _, err) = run(&["analyze", "forecast", "--server", "http://127.0.0.1:1"]);
    assert_eq!(code, 1);
    assert!(err.contains("no --input file given"), "{err}");
    assert!(err.contains("cannot reach http://127.0.0.1:1/"), "{err}");

    let short = write_series(dir.path(), &VALUES[..2]);
    let (code, _, err) = run(&["analyze", "forecast", "--input", short.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("at least 3 points, the series has 2"), "{err}");

    let unordered = dir.path().join("unordered.csv");
    std::fs::write(
        &unordered,
        "2014-02-14 00:00:00,1\n2014-02-14 00:10:00,2\n2014-02-14 00:05:00,3\n",
    )
    .unwrap();
    let (code, _, err) = run(&[
        "analyze",
        "forecast",
        "--input",
        unordered.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains(
            "'2014-02-14 00:05:00' is not after the row before it ('2014-02-14 00:10:00')"
        ),
        "{err}"
    );
}

//! `logweave report` as a user runs it: the real binary against a server
//! filled over `_bulk` with events whose per-level counts the test knows.
//! The PNG is decoded and its pixels counted, the SVG's size and text read,
//! the HTML searched for the known counts and for anything it would fetch,
//! and bad input must fail with a message that names the problem.

mod util;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{json, Value};
use util::InProcess;

/// Events per level (the level as sent), plus events with no level at all.
const LEVELS: [(&str, u64); 5] = [
    ("INFO", 523),
    ("DEBUG", 210),
    ("WARN", 97),
    ("ERROR", 41),
    ("FATAL", 3),
];
const WITHOUT_LEVEL: u64 = 7;

/// A message that would run as markup if the HTML did not escape it.
const HOSTILE: &str = "<script>alert('x')</script> user <b>mallory</b> said \"hi\"";

/// The events, spread over the 50 minutes before `now`, each level with
/// messages of its own (so there are patterns to list); one WARN carries
/// [`HOSTILE`].
fn events(now: i64) -> Vec<(Value, Value)> {
    let total: u64 = LEVELS.iter().map(|l| l.1).sum::<u64>() + WITHOUT_LEVEL;
    let span = 50 * 60_000;
    let mut out = Vec::new();
    let mut i = 0u64;
    let mut ts = || {
        i += 1;
        logweave::generate::format_ts(now - span + (i * span as u64 / (total + 1)) as i64)
    };
    for (level, n) in LEVELS {
        for k in 0..n {
            let message = if level == "WARN" && k == 0 {
                HOSTILE.to_string()
            } else {
                match level {
                    "INFO" => format!("GET /orders/{} 200 {}ms", 1000 + k, k % 300),
                    "DEBUG" => format!("cache miss for key user:{k}"),
                    "WARN" => format!("slow query took {} ms", 200 + k),
                    "ERROR" => format!("payment gateway timeout after {} ms", 1000 + k),
                    _ => format!("out of memory: killed worker {k}"),
                }
            };
            out.push((
                json!({"index": {"_index": "report-logs"}}),
                json!({"timestamp": ts(), "level": level, "service": "shop", "message": message}),
            ));
        }
    }
    for k in 0..WITHOUT_LEVEL {
        out.push((
            json!({"index": {"_index": "report-logs"}}),
            json!({"timestamp": ts(), "service": "shop", "message": format!("heartbeat {k}")}),
        ));
    }
    out
}

fn total() -> u64 {
    LEVELS.iter().map(|l| l.1).sum::<u64>() + WITHOUT_LEVEL
}

async fn filled_server(dir: &Path, analysis: bool) -> InProcess {
    let mut cfg = util::test_config(dir);
    cfg.analysis.enabled = analysis;
    let srv = InProcess::start(cfg).await;
    let docs = events(logweave::event::now_ms());
    let r = srv.http.post_ndjson("/_bulk", util::ndjson(&docs)).await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    assert_eq!(r.json()["errors"], json!(false), "{}", r.text_preview());
    srv.http.refresh().await;
    assert_eq!(srv.http.count("report-logs", None).await, total());
    srv
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn report(args: &[&str]) -> Run {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_logweave"))
        .arg("report")
        .args(args)
        // loopback only: a proxy from the environment must not get in between
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .output()
        .await
        .expect("spawning logweave report");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The text of every `<text>` element of an SVG, trimmed.
fn svg_texts(svg: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = svg;
    while let Some(i) = rest.find("<text") {
        rest = &rest[i..];
        let Some(gt) = rest.find('>') else { break };
        let Some(end) = rest.find("</text>") else {
            break;
        };
        out.push(rest[gt + 1..end].trim().to_string());
        rest = &rest[end + 7..];
    }
    out
}

/// The value of attribute `name` on the first `<svg` tag.
fn svg_attr(svg: &str, name: &str) -> Option<String> {
    let start = svg.find("<svg")?;
    let tag = &svg[start..start + svg[start..].find('>')?];
    let key = format!(" {name}=\"");
    let i = tag.find(&key)? + key.len();
    Some(tag[i..i + tag[i..].find('"')?].to_string())
}

/// Every element opened is closed, in order (XML well-formedness as far as
/// tags go; plotters writes no comments, CDATA or processing instructions
/// after the declaration). `void` names HTML's elements without an end tag.
fn tags_balance(xml: &str, void: &[&str]) -> Result<(), String> {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let end = rest.find('>').ok_or("a tag without its end")?;
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack.pop().ok_or(format!("</{name}> closes nothing"))?;
            if open != name.trim() {
                return Err(format!("<{open}> closed by </{name}>"));
            }
        } else if !tag.ends_with('/') {
            let name = tag.split_whitespace().next().unwrap_or("").to_string();
            if !void.contains(&name.as_str()) {
                stack.push(name);
            }
        }
    }
    if stack.is_empty() {
        Ok(())
    } else {
        Err(format!("never closed: {stack:?}"))
    }
}

/// Whether any `src=`, `href=` or `url(` in the page points to http(s).
fn external_references(html: &str) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    let mut found = Vec::new();
    for key in ["src=", "href=", "url("] {
        for (i, _) in lower.match_indices(key) {
            let after = lower[i + key.len()..]
                .trim_start_matches(['"', '\'', ' '])
                .to_string();
            if after.starts_with("http://")
                || after.starts_with("https://")
                || after.starts_with("//")
            {
                found.push(lower[i..(i + 60).min(lower.len())].to_string());
            }
        }
    }
    found
}

/// The rows of the HTML levels table: level -> the row's cells.
fn level_rows(html: &str) -> BTreeMap<String, Vec<String>> {
    let mut rows = BTreeMap::new();
    for row in html.split("<tr").skip(1) {
        let row = &row[..row.find("</tr>").unwrap_or(row.len())];
        let cells: Vec<String> = row
            .split("<td")
            .skip(1)
            .map(|c| {
                let c = &c[c.find('>').map_or(0, |i| i + 1)..];
                c[..c.find("</td>").unwrap_or(c.len())].trim().to_string()
            })
            .collect();
        if let Some(first) = cells.first() {
            rows.entry(first.clone()).or_insert(cells);
        }
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_files_and_summary_carry_the_known_counts() {
    let dir = tempfile::tempdir().unwrap();
    let srv = filled_server(&dir.path().join("data"), true).await;
    let server = format!("http://{}", srv.addr());
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let common = ["--server", &server, "--index", "report-*", "--since", "2h"];

    // PNG: decodes, the documented size, and not blank
    let png = out.join("report.png");
    let r = report(&[&common[..], &["--out", png.to_str().unwrap()]].concat()).await;
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    let img = image::open(&png)
        .unwrap_or_else(|e| panic!("{} does not decode: {e}", png.display()))
        .to_rgb8();
    assert_eq!(img.dimensions(), (1200, 800));
    let mut colours = BTreeSet::new();
    let mut inked = 0usize;
    for p in img.pixels() {
        colours.insert(p.0);
        if p.0 != [255, 255, 255] {
            inked += 1;
        }
    }
    let share = inked as f64 / (1200.0 * 800.0);
    assert!(colours.len() >= 20, "only {} colours", colours.len());
    assert!(
        share > 0.08,
        "only {:.1} % of the pixels are drawn",
        share * 100.0
    );
    // the pie's slices are there in their own colours (ERROR is red)
    let reddish = img
        .pixels()
        .filter(|p| p.0[0] > 180 && p.0[1] < 80 && p.0[2] < 80)
        .count();
    assert!(reddish > 200, "no ERROR slice: {reddish} red pixels");

    // SVG: well formed as far as tags go, the same size, the level names
    let svg_path = out.join("report.svg");
    let r = report(&[&common[..], &["--out", svg_path.to_str().unwrap()]].concat()).await;
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    tags_balance(&svg, &[]).unwrap_or_else(|e| panic!("SVG tags: {e}"));
    assert_eq!(svg_attr(&svg, "width").as_deref(), Some("1200"));
    assert_eq!(svg_attr(&svg, "height").as_deref(), Some("800"));
    let texts = svg_texts(&svg);
    for (level, n) in LEVELS {
        assert!(
            texts.iter().any(|t| t == level),
            "{level} not in the SVG's texts: {texts:?}"
        );
        assert!(
            texts.iter().any(|t| *t == n.to_string()),
            "count {n} of {level} not in {texts:?}"
        );
    }
    assert!(
        texts.iter().any(|t| t.contains(&total().to_string())),
        "the total is not in the SVG"
    );

    // HTML: the known counts, nothing fetched from elsewhere, data escaped
    let html_path = out.join("report.html");
    let r = report(&[&common[..], &["--out", html_path.to_str().unwrap()]].concat()).await;
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(
        html.contains(&format!(">{}</strong> events", total())),
        "total missing"
    );
    let rows = level_rows(&html);
    for (level, n) in LEVELS {
        let row = rows
            .get(level)
            .unwrap_or_else(|| panic!("no table row for {level}: {rows:?}"));
        assert_eq!(row.get(1), Some(&n.to_string()), "{level}: {row:?}");
    }
    assert_eq!(
        rows.get("(no level)").and_then(|r| r.get(1)),
        Some(&WITHOUT_LEVEL.to_string()),
        "{rows:?}"
    );
    let external = external_references(&html);
    assert!(external.is_empty(), "external references: {external:?}");
    assert!(
        !html.to_ascii_lowercase().contains("<script"),
        "a script in the page"
    );
    assert!(!html.contains("<b>mallory</b>"), "data not escaped");
    assert!(html.contains("<svg"), "no inline SVG");
    tags_balance(&html, &["meta", "br", "hr", "img", "link", "input"])
        .unwrap_or_else(|e| panic!("HTML tags: {e}"));

    // terminal: the total and the levels
    let r = report(&common).await;
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!("total {} events", total())),
        "{}",
        r.stdout
    );
    for (level, n) in LEVELS {
        assert!(
            r.stdout.contains(&format!("{level} {n} (")),
            "{level} {n}: {}",
            r.stdout
        );
    }
    assert!(r.stdout.contains("top patterns"), "{}", r.stdout);

    // a query narrows every count
    let r = report(&[&common[..], &["--query", "level:ERROR"]].concat()).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("total 41 events"), "{}", r.stdout);
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_analysis_the_report_says_not_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let srv = filled_server(&dir.path().join("data"), false).await;
    let server = format!("http://{}", srv.addr());
    let html_path = dir.path().join("r.html");
    let r = report(&[
        "--server",
        &server,
        "--since",
        "2h",
        "--out",
        html_path.to_str().unwrap(),
    ])
    .await;
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    let html = std::fs::read_to_string(&html_path).unwrap();
    let anomalies = &html[html
        .find("Anomalies in the range")
        .expect("anomalies section")..];
    let anomalies = &anomalies[..anomalies.find("</section>").unwrap_or(anomalies.len())];
    assert!(anomalies.contains("not enabled"), "{anomalies}");
    assert!(html.contains(&format!(">{}</strong> events", total())));

    let r = report(&["--server", &server, "--since", "2h"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("not enabled"), "{}", r.stdout);
    assert!(r.stdout.contains(&format!("total {} events", total())));
    srv.shutdown().await;
}

#[tokio::test]
async fn bad_input_fails_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let port = util::free_port();
    let server = format!("http://127.0.0.1:{port}");

    // the extension is checked before anything is asked of the server
    let jpg = dir.path().join("x.jpg");
    let r = report(&["--server", &server, "--out", jpg.to_str().unwrap()]).await;
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("x.jpg") && r.stderr.contains(".html, .png or .svg"),
        "{}",
        r.stderr
    );
    assert!(!jpg.exists());

    // nobody listens there
    let r = report(&["--server", &server]).await;
    assert_ne!(r.code, 0);
    assert!(
        r.stderr
            .contains(&format!("cannot reach the server at {server}"))
            && r.stderr.contains("logweave server"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.trim().lines().count(), 1, "one line: {}", r.stderr);

    // a range that is not one
    let r = report(&["--server", &server, "--since", "yesterday-ish"]).await;
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("--since"), "{}", r.stderr);
}

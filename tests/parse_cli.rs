//! `logweave parse` and `check-config` on routes with parsers: the output
//! records are compared with records written out by hand for the samples.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

mod util;

fn run(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_logweave"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning logweave");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn parse_shows_what_a_route_makes_of_lines() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        r#"
[[routes]]
name = "web"
match = "syslog.local7.*"
index = "web-%{+YYYY.MM.dd}"
parser = "nginx"

[[routes]]
name = "jobs"
match = "app.jobs"
index = "jobs"
parser = "regex"
parser_options = { pattern = 'job (?P<job>\S+) took (?P<ms>\d+)ms', types = { ms = "int" } }

[[routes]]
name = "kv"
match = "app.kv"
index = "kv"
parser = "logfmt"
"#,
    )
    .unwrap();
    let c = cfg.display().to_string();
    let (code, out, err) = run(
        &["parse", "--config", &c, "--route", "web"],
        "198.51.100.4 - bob [24/Nov/2026:08:00:00 +0000] \"DELETE /items/9 HTTP/2.0\" 204 0 \"-\" \"k6/0.50\"\nnope\n",
    );
    assert_eq!(code, 0, "{err}");
    let recs: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        recs,
        vec![
            json!({"message":"198.51.100.4 - bob [24/Nov/2026:08:00:00 +0000] \"DELETE /items/9 HTTP/2.0\" 204 0 \"-\" \"k6/0.50\"",
                "client_ip":"198.51.100.4","user":"bob","timestamp":"2026-11-24T08:00:00Z","method":"DELETE","path":"/items/9",
                "http_version":"HTTP/2.0","status":204,"bytes":0,"user_agent":"k6/0.50"}),
            json!({"message":"nope","tags":["_accesslogparsefailure"]}),
        ]
    );
    assert!(err.contains("2 lines, 1 did not parse"), "{err}");
    let (_, out, _) = run(
        &["parse", "--config", &c, "--route", "jobs"],
        "job nightly-backup took 5321ms\n",
    );
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (v["job"].as_str(), v["ms"].as_i64()),
        (Some("nightly-backup"), Some(5321))
    );
    let (_, out, _) = run(
        &["parse", "--config", &c, "--route", "kv"],
        "level=warn msg=\"disk 91% full\" disk=/dev/sda1\n",
    );
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (v["level"].as_str(), v["msg"].as_str()),
        (Some("warn"), Some("disk 91% full"))
    );
    let (code, _, err) = run(&["parse", "--config", &c, "--route", "missing"], "");
    assert_ne!(code, 0);
    assert!(
        err.contains("no route named 'missing'") && err.contains("web, jobs, kv"),
        "{err}"
    );
}

#[test]
fn check_config_names_bad_parsers_with_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(
        &cfg,
        "[[routes]]\nmatch = \"a.*\"\nindex = \"a\"\nparser = \"grokk\"\n\n[[routes]]\nmatch = \"b.*\"\nindex = \"b\"\nparser = \"regex\"\nparser_options = { pattern = '(?P<x>unclosed' }\n\n[agent]\n[[agent.sources]]\ntype = \"tail\"\npaths = [\"/x/*.log\"]\nparser = \"csv\"\n",
    )
    .unwrap();
    let (code, _, err) = run(&["check-config", &cfg.display().to_string()], "");
    assert_eq!(code, 1);
    assert!(
        err.contains("bad.toml:4: routes[0].parser: unknown parser 'grokk'"),
        "{err}"
    );
    assert!(
        err.contains("bad.toml:9: routes[1].parser: bad regex"),
        "{err}"
    );
    assert!(
        err.contains(
            "bad.toml:16: agent.sources[0].parser: the csv parser needs parser_options.columns"
        ),
        "{err}"
    );
}

#[test]
fn route_transforms_drop_rewrite_and_reroute() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("t.toml");
    std::fs::write(
        &cfg,
        r#"
[[routes]]
name = "app"
match = "app.**"
index = "app-%{+YYYY.MM.dd}"
parser = "logfmt"

[[routes.transforms]]
drop_if = 'lvl == "debug"'

[[routes.transforms]]
normalize_level = "lvl"

[[routes.transforms]]
rename = { from = "msg", to = "text" }

[[routes.transforms]]
redact = { patterns = ["email"] }

[[routes.transforms]]
route_if = { condition = 'level == "ERROR" or status >= 500', index = "alerts" }
"#,
    )
    .unwrap();
    let c = cfg.display().to_string();
    let (code, out, err) = run(
        &["parse", "--config", &c, "--route", "app"],
        "lvl=debug msg=noise\nlvl=W msg=\"mail to ann@example.org bounced\"\nlvl=info status=503 msg=upstream\n",
    );
    assert_eq!(code, 0, "{err}");
    let recs: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 2, "the debug line is dropped");
    assert_eq!(recs[0]["level"], "WARN");
    assert_eq!(recs[0]["text"], "mail to [REDACTED] bounced");
    assert!(recs[0].get("msg").is_none());
    assert_eq!(recs[1]["status"], "503");
    assert!(err.contains("line 3: to index alerts"), "{err}");
    assert!(
        err.contains("3 lines, 0 did not parse, 1 dropped, 1 sent to another index"),
        "{err}"
    );

    std::fs::write(
        &cfg,
        "[[routes]]\nmatch = \"a\"\nindex = \"a\"\n\n[[routes.transforms]]\ndrop_if = 'level == '\n",
    )
    .unwrap();
    let (code, _, err) = run(&["check-config", &c], "");
    assert_eq!(code, 1);
    assert!(
        err.contains("t.toml:6: routes[0].transforms[0].drop_if: condition ends too early"),
        "{err}"
    );
}

#[test]
fn agent_sources_parse_and_transform_before_sending() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[agent]
data_dir = "{}"
[[agent.sources]]
type = "stdin"
parser = "grok"
parser_options = {{ pattern = '^%{{WORD:level}} %{{NUMBER:ms:int}}ms %{{GREEDYDATA:msg}}' }}
[[agent.sources.transforms]]
drop_if = 'level == "debug"'
[[agent.sources.transforms]]
normalize_level = "level"
[[agent.sources.transforms]]
redact = {{ patterns = ["ipv4"], fields = ["msg"] }}
[agent.output]
type = "stdout"
"#,
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let input =
        "debug 1ms noisy\nwarning 250ms slow call from 10.1.2.3\ninfo 3ms ok\nnot matching\n";
    let (code, out, err) = run(&["agent", "--config", cfg.to_str().unwrap()], input);
    assert_eq!(code, 0, "{err}");
    let recs: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["record"].clone())
        .collect();
    assert_eq!(recs.len(), 3, "the debug line is dropped: {out}");
    assert_eq!(
        (&recs[0]["level"], &recs[0]["ms"]),
        (&json!("WARN"), &json!(250))
    );
    let msg = recs[0]["msg"].as_str().unwrap();
    assert!(
        msg.starts_with("slow call from ") && !msg.contains("10.1.2.3"),
        "{msg}"
    );
    assert_eq!(
        (&recs[1]["level"], &recs[1]["ms"]),
        (&json!("INFO"), &json!(3))
    );
    assert_eq!(recs[2]["tags"], json!(["_grokparsefailure"]));
    assert_eq!(recs[2]["message"], "not matching");
}

/// Issue 10 item 4: one run reports every mistake of a file, each with
/// file, line, the full dotted key path and what was expected.
#[test]
fn check_config_reports_every_problem_with_line_and_full_key_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    let text = [
        "[server]",                       // 1
        "http_addr = \"127.0.0.1:9200\"", // 2
        "max_body_bytes = \"100MB\"",     // 3 type
        "colour = true",                  // 4 unknown key
        "",                               // 5
        "[store]",                        // 6
        "writer_threads = -3",            // 7 invalid value
        "refresh_interval_ms = 0",        // 8 out of range
        "retention_days = ",              // 9 syntax
        "",                               // 10
        "[[routes]]",                     // 11 index missing
        "match = \"app.**\"",             // 12
        "",                               // 13
        "[[routes]]",                     // 14
        "match = \"b.*\"",                // 15
        "index = \"b\"",                  // 16
        "[[routes.transforms]]",          // 17
        "rename = { from = \"a\" }",      // 18 `to` missing
        "[[routes.transforms]]",          // 19
        "drop_if = 'level == '",          // 20 bad condition
        "",                               // 21
        "[agent]",                        // 22
        "[[agent.sources]]",              // 23
        "type = \"tail\"",                // 24
        "paths = \"/var/log/*.log\"",     // 25 not a list
        "[agent.output]",                 // 26
        "compress = \"zip\"",             // 27 not a choice
        "[[routes]]",                     // 28
        "match = \"c.*\"",                // 29
        "index = \"c\"",                  // 30
        "[[routes.transforms]]",          // 31
        "dorp_if = 'x == 1'",             // 32 misspelt transform
    ]
    .join("\n");
    std::fs::write(&cfg, text).unwrap();
    let (code, out, err) = run(&["check-config", &cfg.display().to_string()], "");
    assert_eq!(code, 1, "{out}{err}");
    let want = [
        ("3", "server.max_body_bytes", "expected u64"),
        ("4", "server.colour", "unknown field"),
        ("7", "store.writer_threads", "expected u64"),
        ("8", "store.refresh_interval_ms", "between 1 and 3600000"),
        ("9", "store.retention_days", "expected"),
        ("11", "routes[0].index", "missing"),
        ("18", "routes[1].transforms[0].rename.to", "missing"),
        ("20", "routes[1].transforms[1].drop_if", "condition"),
        ("25", "agent.sources[0].paths", "expected a sequence"),
        ("27", "agent.output.compress", "not one of none, gzip"),
        ("32", "routes[2].transforms[0].dorp_if", "unknown field"),
    ];
    let lines: Vec<&str> = err.lines().collect();
    for (line, key, what) in want {
        let prefix = format!("bad.toml:{line}: {key}: ");
        assert!(
            lines
                .iter()
                .any(|l| l.contains(&prefix) && l[l.find(&prefix).unwrap()..].contains(what)),
            "no '{prefix}...{what}' in:\n{err}"
        );
    }
    assert_eq!(
        lines.len(),
        want.len(),
        "one line per mistake, no echoes:\n{err}"
    );

    // A file that cannot be read has no line to point at.
    let missing = dir.path().join("nope.toml");
    let (code, _, err) = run(&["check-config", &missing.display().to_string()], "");
    assert_eq!(code, 1);
    let line = err.trim();
    assert!(line.contains("nope.toml: cannot read: "), "{err}");
    assert!(!line.contains("nope.toml:0"), "{err}");
}

/// Issue 10 item 13: a line without any `key=value` pair is not logfmt;
/// it is kept whole as `message` and tagged, so free text makes no fields.
#[test]
fn logfmt_plain_text_is_a_parse_failure() {
    let (code, out, err) = run(
        &["parse", "--parser", "logfmt"],
        "just words here\nlevel=info msg=\"all good\"\nerror timeout code=5\n",
    );
    assert_eq!(code, 0, "{err}");
    let recs: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        recs,
        vec![
            json!({"message": "just words here", "tags": ["_logfmtparsefailure"]}),
            json!({"level": "info", "msg": "all good", "message": "level=info msg=\"all good\""}),
            json!({"error": true, "timeout": true, "code": "5", "message": "error timeout code=5"}),
        ]
    );
    assert!(err.contains("3 lines, 1 did not parse"), "{err}");
}

/// Issue 10 item 10: a read command creates nothing; a data directory that
/// does not exist is an error, not an empty result.
#[test]
fn search_missing_data_dir_is_an_error_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("a").join("typo");
    let (code, out, err) = run(&["search", "--data-dir", typo.to_str().unwrap(), "x"], "");
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        err.contains("does not exist") && err.contains("typo"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        !dir.path().join("a").exists(),
        "search created {}",
        typo.display()
    );

    // An existing data directory the server has not written to yet: no
    // events, and still nothing created.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (code, out, err) = run(&["search", "--data-dir", empty.to_str().unwrap()], "");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "");
    assert!(err.contains("0 of 0 matching events"), "{err}");
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
}

/// Issue 10 item 11: stderr that is not a terminal gets no ANSI colour
/// codes, and addresses are printed as addresses.
#[tokio::test]
async fn logs_without_a_terminal_have_no_colour_and_plain_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = util::BinServer::start(dir.path(), None).await;
    // the "listening" line is written right after the listeners are up
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !server.last_log().contains("listening") && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let log = server.last_log();
    server.kill();
    assert!(log.contains("listening"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "ANSI escape in a log file: {log:?}"
    );
    let want = format!("forward_addr=127.0.0.1:{}", server.forward_port);
    assert!(log.contains(&want), "no {want} in {log}");
    assert!(!log.contains("Some("), "{log}");
}

/// Issue 10 item 15: the demo's "Try:" lines name the command the user
/// ran (this binary), not `cargo run`.
#[test]
fn demo_banner_names_the_binary_that_ran() {
    let dir = tempfile::tempdir().unwrap();
    let http = format!("127.0.0.1:{}", util::free_port());
    let (code, out, err) = run(
        &[
            "demo",
            "--http-addr",
            &http,
            "--forward-addr",
            &format!("127.0.0.1:{}", util::free_port()),
            "--syslog-addr",
            &format!("127.0.0.1:{}", util::free_port()),
            "--data-dir",
            dir.path().join("demo").to_str().unwrap(),
            "--events",
            "10",
            "--seconds",
            "1",
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let want = format!(
        "{} search --server http://{http} ",
        env!("CARGO_BIN_EXE_logweave")
    );
    assert!(out.contains(&want), "no '{want}' in:\n{out}");
    assert!(!out.contains("cargo run"), "{out}");
}

/// Issue 10 item 12: `--help` shows the defaults DESIGN.md fixes, describes
/// every argument, and lists every benchmark `bench` takes.
#[test]
fn help_shows_defaults_descriptions_and_every_benchmark() {
    let (code, out, err) = run(&["server", "--help"], "");
    assert_eq!(code, 0, "{err}");
    for default in [
        "./logweave-data",
        "127.0.0.1:9200",
        "127.0.0.1:24224",
        "127.0.0.1:5514",
    ] {
        assert!(
            out.contains(&format!("default: {default}")),
            "no {default} in:\n{out}"
        );
    }

    // every argument of check-config has a description on its line
    let (_, out, _) = run(&["check-config", "--help"], "");
    let file_line = out
        .lines()
        .find(|l| l.trim_start().starts_with("<FILE>"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(file_line.trim() != "<FILE>", "no description: {out}");

    // the benchmarks `bench` accepts, from its own help, all in the overview
    let (_, bench, _) = run(&["bench", "--help"], "");
    let values = bench
        .split("[possible values: ")
        .nth(1)
        .and_then(|r| r.split(']').next())
        .unwrap_or_else(|| panic!("no possible values in:\n{bench}"));
    let names: Vec<&str> = values.split(", ").collect();
    assert!(names.len() >= 5, "{names:?}");
    let (_, top, _) = run(&["--help"], "");
    let line = top
        .lines()
        .find(|l| l.trim_start().starts_with("bench"))
        .unwrap_or_else(|| panic!("{top}"));
    for n in &names {
        assert!(line.contains(n), "'{n}' missing from: {line}");
    }
    // and an unknown one is refused with the list
    let (code, _, err) = run(&["bench", "ingset"], "");
    assert_ne!(code, 0);
    assert!(err.contains("ingest"), "{err}");
}

fn epoch_ms(s: &str) -> i64 {
    s.parse::<jiff::Timestamp>()
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .as_millisecond()
}

/// The `_id`s of `search --json` output lines, checking each line's shape.
fn json_ids(out: &str, index: &str, fields: &[&str]) -> Vec<String> {
    out.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            assert_eq!(v["_index"], index, "{l}");
            let src = v["_source"].as_object().unwrap_or_else(|| panic!("{l}"));
            let mut keys: Vec<&str> = src.keys().map(String::as_str).collect();
            keys.sort();
            assert_eq!(keys, fields, "{l}");
            v["_id"]
                .as_str()
                .unwrap_or_else(|| panic!("no _id: {l}"))
                .to_string()
        })
        .collect()
}

/// Issue 10 item 12: `--since`/`--until` take absolute times (RFC 3339,
/// `yyyy-MM-dd HH:mm:ss`, a date) as well as durations; `--json` prints
/// `_index` and `_id`; `--fields` keeps only those fields. The same against
/// a server and a data directory; the expected ids are computed from the
/// generated timestamps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_since_until_absolute_times_json_ids_and_fields() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let srv = util::InProcess::start(util::test_config(&data)).await;
    // 40 events 37 minutes apart from 2026-11-20 00:00 UTC, services a/b
    let base = epoch_ms("2026-11-20T00:00:00Z");
    let step = 37 * 60_000;
    let mut items = Vec::new();
    let mut events = Vec::new();
    for i in 0..40i64 {
        let ts = base + i * step;
        let stamp = jiff::Timestamp::from_millisecond(ts)
            .unwrap()
            .strftime("%Y-%m-%d %H:%M:%S")
            .to_string();
        let service = if i % 2 == 0 { "a" } else { "b" };
        items.push((
            json!({"index": {"_index": "win-2026", "_id": format!("e{i}")}}),
            json!({"timestamp": stamp, "n": i, "service": service, "extra": "x"}),
        ));
        events.push((format!("e{i}"), ts, service));
    }
    let r = srv
        .http
        .post_ndjson("/_bulk?refresh=true", util::ndjson(&items))
        .await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    assert_eq!(r.json()["errors"], false, "{}", r.text_preview());

    let server = format!("http://{}", srv.addr());
    let windows = [
        // (--since, --until, the same window as RFC 3339 bounds)
        (
            "2026-11-20T05:00:00Z",
            Some("2026-11-20 12:30:00"),
            "2026-11-20T05:00:00Z",
            "2026-11-20T12:30:00Z",
        ),
        (
            "2026-11-20T16:00:00+01:00",
            Some("2026-11-20"),
            "2026-11-20T15:00:00Z",
            "2026-11-20T23:59:59.999Z",
        ),
        (
            "2026-11-20 21:00:00",
            None,
            "2026-11-20T21:00:00Z",
            "9999-01-01T00:00:00Z",
        ),
    ];
    for (since, until, lo, hi) in windows {
        let (lo, hi) = (epoch_ms(lo), epoch_ms(hi));
        let mut want: Vec<String> = events
            .iter()
            .filter(|(_, ts, s)| *s == "a" && lo <= *ts && *ts <= hi)
            .map(|(id, _, _)| id.clone())
            .collect();
        want.sort();
        assert!(!want.is_empty());
        let sources = [
            ["--server".to_string(), server.clone()],
            ["--data-dir".to_string(), data.display().to_string()],
        ];
        for source in &sources {
            let mut args = vec![
                "search",
                &source[0],
                &source[1],
                "--index",
                "win-*",
                "--json",
                "--size",
                "1000",
                "--fields",
                "n,service",
                "--since",
                since,
            ];
            if let Some(u) = until {
                args.extend(["--until", u]);
            }
            args.push("service:a");
            let (code, out, err) = tokio::task::block_in_place(|| run(&args, ""));
            assert_eq!(code, 0, "{args:?}: {err}");
            let mut got = json_ids(&out, "win-2026", &["n", "service"]);
            got.sort();
            assert_eq!(got, want, "{args:?}");
            assert!(
                err.contains(&format!("{} of {} matching events", want.len(), want.len())),
                "{err}"
            );
        }
    }
    // a duration: 100 years back holds every event, whatever today is
    let (code, out, err) = tokio::task::block_in_place(|| {
        run(
            &[
                "search", "--server", &server, "--index", "win-*", "--json", "--size", "100",
                "--since", "36500d",
            ],
            "",
        )
    });
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        json_ids(&out, "win-2026", &["extra", "n", "service", "timestamp"]).len(),
        40
    );
    let (code, _, err) = tokio::task::block_in_place(|| {
        run(&["search", "--server", &server, "--since", "soon"], "")
    });
    assert_ne!(code, 0);
    assert!(err.contains("--since 'soon'"), "{err}");
    srv.shutdown().await;
}

/// Issue 10 item 12: `search --follow` prints the newest matches, then the
/// matching events written after it started, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_follow_prints_events_written_after_it_started() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let srv = util::InProcess::start(util::test_config(dir.path())).await;
    let now = jiff::Timestamp::now().as_millisecond();
    let stamp = |ms: i64| jiff::Timestamp::from_millisecond(ms).unwrap().to_string();
    let mut items = Vec::new();
    for i in 0..3 {
        items.push((
            json!({"index": {"_index": "fol", "_id": format!("old{i}")}}),
            json!({"timestamp": stamp(now - 60_000 + i * 1000), "service": "web"}),
        ));
    }
    items.push((
        json!({"index": {"_index": "fol", "_id": "other"}}),
        json!({"timestamp": stamp(now - 30_000), "service": "db"}),
    ));
    let r = srv
        .http
        .post_ndjson("/_bulk?refresh=true", util::ndjson(&items))
        .await;
    assert_eq!(r.status, 200, "{}", r.text_preview());

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_logweave"))
        .args(["search", "--server", &format!("http://{}", srv.addr())])
        .args(["--index", "fol", "--follow", "--json", "service:web"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let take = |n: usize, within: std::time::Duration| -> Vec<String> {
        let deadline = std::time::Instant::now() + within;
        let mut got = Vec::new();
        while got.len() < n {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(l) => got.push(l),
                Err(_) => break,
            }
        }
        got
    };
    let id = |l: &String| {
        serde_json::from_str::<Value>(l).unwrap()["_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // the newest matches first, oldest first as tail shows them
    let first = tokio::task::block_in_place(|| take(3, std::time::Duration::from_secs(20)));
    assert_eq!(
        first.iter().map(id).collect::<Vec<_>>(),
        ["old0", "old1", "old2"]
    );

    // written after the follow started: two match, one does not
    let later = jiff::Timestamp::now().as_millisecond();
    let items = vec![
        (
            json!({"index": {"_index": "fol", "_id": "new0"}}),
            json!({"timestamp": stamp(later), "service": "web"}),
        ),
        (
            json!({"index": {"_index": "fol", "_id": "skip"}}),
            json!({"timestamp": stamp(later), "service": "db"}),
        ),
        (
            json!({"index": {"_index": "fol", "_id": "new1"}}),
            json!({"timestamp": stamp(later + 1), "service": "web"}),
        ),
    ];
    let r = srv
        .http
        .post_ndjson("/_bulk?refresh=true", util::ndjson(&items))
        .await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    let new = tokio::task::block_in_place(|| take(2, std::time::Duration::from_secs(20)));
    assert_eq!(new.iter().map(id).collect::<Vec<_>>(), ["new0", "new1"]);
    // and nothing is printed twice over the next polls
    let more = tokio::task::block_in_place(|| take(1, std::time::Duration::from_millis(2500)));
    let _ = child.kill();
    let _ = child.wait();
    assert!(more.is_empty(), "printed again: {more:?}");
    srv.shutdown().await;
}

/// Issue 10 item 15: the README's quick start finds its own sample
/// document whatever today's date is: its `_bulk` line and its `search`
/// line, taken from the README, run against a server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_quick_start_search_finds_its_sample() {
    let readme = include_str!("../README.md");
    let quick = readme
        .split("## Quick start")
        .nth(1)
        .and_then(|r| r.split("```sh").nth(1))
        .and_then(|r| r.split("```").next())
        .expect("a sh block in the quick start");
    let bulk_line = quick
        .lines()
        .find(|l| l.contains("_bulk"))
        .expect("a _bulk line");
    // $'<action>\n<doc>\n': the two NDJSON lines
    let payload = bulk_line
        .split("$'")
        .nth(1)
        .and_then(|r| r.rsplit_once('\''))
        .map(|(p, _)| p.replace("\\n", "\n"))
        .expect("a $'...' body");
    let search_line = quick
        .lines()
        .find(|l| l.contains(" search "))
        .expect("a search line");
    let line = search_line.split('#').next().unwrap();
    let rest = line.split(" search ").nth(1).unwrap();
    // words and '...' groups, as the shell splits them
    let mut args = vec!["search".to_string()];
    let mut rest = rest.trim();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('\'') {
            let (word, after) = r.split_once('\'').unwrap();
            args.push(word.to_string());
            rest = after.trim_start();
        } else {
            let (word, after) = rest.split_once(' ').unwrap_or((rest, ""));
            args.push(word.to_string());
            rest = after.trim_start();
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let srv = util::InProcess::start(util::test_config(dir.path())).await;
    let r = srv
        .http
        .post_ndjson("/_bulk?refresh=true", payload.into_bytes())
        .await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    args.insert(1, format!("http://{}", srv.addr()));
    args.insert(1, "--server".into());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out, err) = tokio::task::block_in_place(|| run(&argv, ""));
    assert_eq!(code, 0, "{argv:?}: {err}");
    assert_eq!(out.lines().count(), 1, "{argv:?}: {out}{err}");
    assert!(out.contains("connection reset by peer"), "{out}");
    srv.shutdown().await;
}

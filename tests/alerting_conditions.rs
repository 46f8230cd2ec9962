//! The condition types beyond `count`, end to end against the real binary:
//! events with known counts go in over `_bulk` (the window before, and days
//! before, by their timestamps), and each rule must fire for exactly the
//! groups that the counts computed here from the same events say, with
//! their values, and for no other. Wrong keys of each type are refused by
//! rule and key.

mod util;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use util::alerting::{bodies, check_config_fails, receiver};
use util::{BinServer, Http};

const SEC: i64 = 1000;
const MIN: i64 = 60 * SEC;
const DAY: i64 = 86_400 * SEC;
/// Every rule's window.
const WINDOW: i64 = MIN;
/// How long after `t0` the events give every rule the same answer: the
/// window's events (from t0 − 20 s) stay in it, the window before's (from
/// t0 − 90 s) stay there.
const STABLE: i64 = 30 * SEC;

/// One generated event.
struct Doc {
    index: &'static str,
    ts: i64,
    body: Value,
}

impl Doc {
    fn str(&self, f: &str) -> Option<&str> {
        self.body[f].as_str()
    }
}

/// `n` events of `index` spread over `[from, from + span)`, each made by
/// `fields(i)`.
fn spread(
    docs: &mut Vec<Doc>,
    index: &'static str,
    n: usize,
    (from, span): (i64, i64),
    fields: impl Fn(usize) -> Value,
) {
    for i in 0..n {
        docs.push(Doc {
            index,
            ts: from + span * i as i64 / n.max(1) as i64,
            body: fields(i),
        });
    }
}

fn ev(service: &str, level: &str, msg: String) -> Value {
    json!({"service": service, "level": level, "message": msg})
}

/// The events of every scenario, relative to `t0`.
fn generate(t0: i64) -> Vec<Doc> {
    let now = (t0 - 20 * SEC, 15 * SEC);
    let before = (t0 - 90 * SEC, 15 * SEC);
    let mut d = Vec::new();

    // ratio: checkout 10 errors of 60, search 1 of 60, cart 3 of 4 (too few);
    // search's error burst of the window before does not count
    spread(&mut d, "c-ratio", 60, now, |i| {
        if i % 6 == 0 {
            ev("checkout", "ERROR", format!("payment {i} declined"))
        } else {
            ev("checkout", "INFO", format!("order {i} placed"))
        }
    });
    spread(&mut d, "c-ratio", 60, now, |i| {
        let level = if i == 7 { "ERROR" } else { "INFO" };
        ev("search", level, format!("query {i}"))
    });
    spread(&mut d, "c-ratio", 4, now, |i| {
        let level = if i < 3 { "ERROR" } else { "INFO" };
        ev("cart", level, format!("cart {i}"))
    });
    spread(&mut d, "c-ratio", 30, before, |i| {
        ev("search", "ERROR", format!("index {i} unavailable"))
    });

    // change: api 20 → 70 (3.5×), web 50 → 60 (1.2×), fresh 0 → 30 (no
    // window before), batch 40 → 10 and gone 30 → 0 (drops by 30)
    for (service, was, is) in [
        ("api", 20, 70),
        ("web", 50, 60),
        ("fresh", 0, 30),
        ("batch", 40, 10),
        ("gone", 30, 0),
    ] {
        spread(&mut d, "c-change", was, before, |i| {
            ev(service, "INFO", format!("req {i}"))
        });
        spread(&mut d, "c-change", is, now, |i| {
            ev(service, "INFO", format!("req {i}"))
        });
    }

    // flatline: legacy logged the window before and stopped; steady goes
    // on; newbie only started
    for (service, was, is) in [("legacy", 5, 0), ("steady", 5, 5), ("newbie", 0, 3)] {
        spread(&mut d, "c-flat", was, before, |i| {
            ev(service, "INFO", format!("tick {i}"))
        });
        spread(&mut d, "c-flat", is, now, |i| {
            ev(service, "INFO", format!("tick {i}"))
        });
    }

    // new_term over 3 days: two agents seen 2 days ago, one 5 days ago
    // (beyond the look-back); "curl" alone shares a word with an old one
    let ua = |u: &str| json!({"service": "edge", "level": "INFO", "message": format!("GET / by {u}"), "user_agent": u});
    let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Firefox/128.0";
    for (u, n) in [(firefox, 5), ("curl/7.0", 2)] {
        spread(&mut d, "c-term", n, (t0 - 2 * DAY, MIN), |_| ua(u));
    }
    spread(&mut d, "c-term", 2, (t0 - 5 * DAY, MIN), |_| {
        ua("Wget/1.21")
    });
    for (u, n) in [
        (firefox, 4),
        ("curl/7.0", 1),
        ("python-requests/2.31", 3),
        ("Go-http-client/1.1", 1),
        ("Wget/1.21", 2),
        ("curl", 1),
    ] {
        spread(&mut d, "c-term", n, now, |_| ua(u));
    }

    // cardinality: login by 5 users, profile by 2 (and by 9 the window before)
    let user = |s: &str, u: String| json!({"service": s, "level": "INFO", "message": format!("{s} by {u}"), "user": u});
    spread(&mut d, "c-card", 12, now, |i| {
        user("login", format!("u{}", i % 5))
    });
    spread(&mut d, "c-card", 10, now, |i| {
        user("profile", format!("u{}", i % 2))
    });
    spread(&mut d, "c-card", 9, before, |i| {
        user("profile", format!("v{i}"))
    });

    // metric: slow 100..1000 ms, fast 10..60 ms, nodur has no durations
    let dur = |s: &str, ms: i64| json!({"service": s, "level": "INFO", "message": format!("{s} took {ms} ms"), "duration_ms": ms});
    spread(&mut d, "c-metric", 10, now, |i| {
        dur("slow", 100 * (i as i64 + 1))
    });
    spread(&mut d, "c-metric", 6, now, |i| {
        dur("fast", 10 * (i as i64 + 1))
    });
    spread(&mut d, "c-metric", 4, now, |i| {
        ev("nodur", "INFO", format!("no timing {i}"))
    });
    d
}

fn bulk(docs: &[Doc]) -> Vec<u8> {
    let items: Vec<(Value, Value)> = docs
        .iter()
        .map(|d| {
            let mut body = d.body.clone();
            body["timestamp"] = json!(logweave::alerting::rfc3339(d.ts));
            (json!({"index": {"_index": d.index}}), body)
        })
        .collect();
    util::ndjson(&items)
}

// ------------------------------------------------------------ the oracle

fn events<'a>(docs: &'a [Doc], index: &str, (from, to): (i64, i64)) -> Vec<&'a Doc> {
    docs.iter()
        .filter(|d| d.index == index && d.ts >= from && d.ts < to)
        .collect()
}

fn by_service<'a>(docs: &[&'a Doc]) -> BTreeMap<String, Vec<&'a Doc>> {
    let mut m: BTreeMap<String, Vec<&Doc>> = BTreeMap::new();
    for d in docs {
        m.entry(d.str("service").unwrap_or_default().to_string())
            .or_default()
            .push(d);
    }
    m
}

/// Linear interpolation between closest ranks.
fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let rank = p / 100.0 * (v.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (rank - lo as f64)
}

/// What each rule must fire for at evaluation time `now`:
/// `(rule, group value) → value`.
fn expected(docs: &[Doc], now: i64) -> BTreeMap<(String, String), f64> {
    let window = (now - WINDOW, now);
    let before = (now - 2 * WINDOW, now - WINDOW);
    let mut want = BTreeMap::new();
    let mut put = |rule: &str, group: &str, v: f64| {
        want.insert((rule.to_string(), group.to_string()), v);
    };

    for (s, evs) in by_service(&events(docs, "c-ratio", window)) {
        let errors = evs
            .iter()
            .filter(|d| d.str("level") == Some("ERROR"))
            .count();
        let r = errors as f64 / evs.len() as f64;
        if evs.len() >= 50 && r > 0.05 {
            put("error_ratio", &s, r);
        }
    }

    let now_c = by_service(&events(docs, "c-change", window));
    let was_c = by_service(&events(docs, "c-change", before));
    let services: BTreeSet<&String> = now_c.keys().chain(was_c.keys()).collect();
    for s in services {
        let n = now_c.get(s).map_or(0, Vec::len) as f64;
        let b = was_c.get(s).map_or(0, Vec::len) as f64;
        if b >= 1.0 && n / b > 3.0 {
            put("rise", s, n / b);
        }
        if n - b < -25.0 {
            put("drop", s, n - b);
        }
    }

    let now_f = by_service(&events(docs, "c-flat", window));
    for s in by_service(&events(docs, "c-flat", before)).keys() {
        let n = now_f.get(s).map_or(0, Vec::len);
        if n < 1 {
            put("went_quiet", s, n as f64);
        }
    }

    let old: BTreeSet<&str> = events(docs, "c-term", (now - 3 * DAY, now - WINDOW))
        .iter()
        .filter_map(|d| d.str("user_agent"))
        .collect();
    let mut new: BTreeMap<&str, f64> = BTreeMap::new();
    for d in events(docs, "c-term", window) {
        let u = d.str("user_agent").unwrap_or_default();
        if !old.contains(u) {
            *new.entry(u).or_default() += 1.0;
        }
    }
    for (u, n) in new {
        put("new_agent", u, n);
    }

    for (s, evs) in by_service(&events(docs, "c-card", window)) {
        let users: BTreeSet<&str> = evs.iter().filter_map(|d| d.str("user")).collect();
        if users.len() > 3 {
            put("many_users", &s, users.len() as f64);
        }
    }

    for (s, evs) in by_service(&events(docs, "c-metric", window)) {
        let v: Vec<f64> = evs
            .iter()
            .filter_map(|d| d.body["duration_ms"].as_f64())
            .collect();
        if v.is_empty() {
            continue; // not judged
        }
        let p90 = percentile(v.clone(), 90.0);
        if p90 > 500.0 {
            put("slow_p90", &s, p90);
        }
        let avg = v.iter().sum::<f64>() / v.len() as f64;
        if avg < 50.0 {
            put("fast_avg", &s, avg);
        }
    }
    want
}

fn config(hook: &str) -> String {
    let rule = |name: &str, index: &str, group_by: &str, cond: &str, query: &str| {
        format!(
            r#"
[[alerting.rules]]
name = "{name}"
index = "{index}"
query = "{query}"
window = "1m"
every = "1s"
{group_by}
condition = {{ {cond} }}
for = "2s"
repeat_interval = "0s"
channels = ["hook"]
"#
        )
    };
    let by_service = r#"group_by = ["service"]"#;
    [
        format!("[analysis]\nenabled = false\n\n[alerting.channels.hook]\ntype = \"webhook\"\nurl = \"{hook}\"\n"),
        rule("error_ratio", "c-ratio", by_service, r#"type = "ratio", numerator = "level:ERROR", above = 0.05, min_denominator = 50"#, ""),
        rule("rise", "c-change", by_service, r#"type = "change", factor = 3"#, ""),
        rule("drop", "c-change", by_service, r#"type = "change", delta = -25"#, ""),
        rule("went_quiet", "c-flat", by_service, r#"type = "flatline""#, ""),
        rule("new_agent", "c-term", "", r#"type = "new_term", field = "user_agent", lookback = "3d""#, ""),
        rule("many_users", "c-card", by_service, r#"type = "cardinality", field = "user", above = 3"#, ""),
        rule("slow_p90", "c-metric", by_service, r#"type = "metric", field = "duration_ms", agg = "percentile", percentile = 90, above = 500"#, ""),
        rule("fast_avg", "c-metric", by_service, r#"type = "metric", field = "duration_ms", agg = "avg", below = 50"#, ""),
    ]
    .concat()
}

/// The group value an alert is about: its `service`, or the new term.
fn group_value(alert: &Value) -> String {
    let l = &alert["labels"];
    l["service"]
        .as_str()
        .or(l["user_agent"].as_str())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_condition_fires_for_exactly_its_groups() {
    let root = tempfile::tempdir().unwrap();
    let (addr, got) = receiver("127.0.0.1:0".parse().unwrap()).await;
    let cfg = root.path().join("logweave.toml");
    std::fs::write(&cfg, config(&format!("http://{addr}/hook"))).unwrap();
    let server = BinServer::start(root.path(), Some(cfg)).await;
    let http = Http::new(server.addr());

    let t0 = logweave::event::now_ms();
    let started = Instant::now();
    let docs = generate(t0);
    let want = expected(&docs, t0);
    // the scenario is what it says, and the same all through its time
    assert_eq!(
        want,
        expected(&docs, t0 + STABLE - SEC),
        "unstable scenario"
    );
    let groups: BTreeSet<(&str, &str)> =
        want.keys().map(|(r, g)| (r.as_str(), g.as_str())).collect();
    let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Firefox/128.0";
    assert_eq!(
        groups,
        BTreeSet::from([
            ("error_ratio", "checkout"),
            ("rise", "api"),
            ("drop", "batch"),
            ("drop", "gone"),
            ("went_quiet", "legacy"),
            ("new_agent", "python-requests/2.31"),
            ("new_agent", "Go-http-client/1.1"),
            ("new_agent", "Wget/1.21"),
            ("new_agent", "curl"),
            ("many_users", "login"),
            ("slow_p90", "slow"),
            ("fast_avg", "fast"),
        ]),
        "the scenario's groups (search, cart, web, fresh, steady, newbie, \
         {firefox}, profile and nodur are not)"
    );

    let r = http
        .post_ndjson("/_bulk?refresh=wait_for", bulk(&docs))
        .await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    assert_eq!(r.json()["errors"], false, "{}", r.text_preview());

    let firing = || -> BTreeMap<(String, String), Value> {
        bodies(&got)
            .iter()
            .filter(|b| b["reason"] == "firing")
            .flat_map(|b| b["alerts"].as_array().cloned().unwrap_or_default())
            .map(|a| {
                let rule = a["labels"]["alertname"].as_str().unwrap_or_default();
                ((rule.to_string(), group_value(&a)), a)
            })
            .collect()
    };
    // until as many have come as are due (the comparison below names
    // any difference), at most 20 s
    let deadline = Instant::now() + Duration::from_secs(20);
    while firing().len() < want.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // a little longer: nothing else comes
    tokio::time::sleep(Duration::from_secs(3)).await;
    let all = bodies(&got);
    let fired = firing();
    assert!(
        started.elapsed() < Duration::from_millis(STABLE as u64),
        "too slow for the scenario's windows: {:?}",
        started.elapsed()
    );
    assert_eq!(
        fired.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "fired for other groups than the counts say"
    );
    assert_eq!(all.len(), want.len(), "one notification each: {all:#?}");
    for (k, v) in &want {
        let a = &fired[k];
        let got = a["value"].as_f64().unwrap();
        assert!((got - v).abs() < 1e-9, "{k:?}: value {got}, want {v}: {a}");
    }

    let a = |rule: &str, group: &str| &fired[&(rule.to_string(), group.to_string())];
    assert_eq!(a("error_ratio", "checkout")["threshold"], "ratio > 5 %");
    for s in a("error_ratio", "checkout")["samples"].as_array().unwrap() {
        let s = s.as_str().unwrap();
        assert!(
            s.starts_with("payment ") && s.ends_with(" declined"),
            "numerator events only: {s}"
        );
    }
    assert!(
        a("error_ratio", "checkout")["query"]
            .as_str()
            .unwrap()
            .contains("(level:ERROR)"),
        "the query shows the numerator's events"
    );
    assert_eq!(a("rise", "api")["threshold"], "> 3× the previous window");
    assert_eq!(
        a("drop", "batch")["threshold"],
        "> 25 fewer than the previous window"
    );
    assert_eq!(
        a("went_quiet", "legacy")["threshold"],
        "silent after logging in the 1m before"
    );
    assert_eq!(
        a("went_quiet", "legacy")["samples"][0],
        "tick 4",
        "the last line before it went quiet"
    );
    assert_eq!(
        a("new_agent", "curl")["threshold"],
        "new value of user_agent"
    );
    assert_eq!(a("new_agent", "curl")["labels"]["user_agent"], "curl");
    assert_eq!(a("many_users", "login")["threshold"], "> 3 distinct user");
    assert_eq!(
        a("slow_p90", "slow")["threshold"],
        "p90 of duration_ms > 500"
    );
    assert_eq!(
        a("fast_avg", "fast")["threshold"],
        "avg of duration_ms < 50"
    );

    // the API carries what each value is made of
    let api = http.get("/api/v1/alerts?state=firing").await.json();
    let detail: BTreeMap<(String, String), String> = api["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                (x["rule"].as_str().unwrap().to_string(), group_value(x)),
                x["detail"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let d = |rule: &str, group: &str| detail[&(rule.to_string(), group.to_string())].as_str();
    assert_eq!(d("error_ratio", "checkout"), "10 of 60 events (16.7 %)");
    assert_eq!(d("rise", "api"), "70 now, 20 the window before");
    assert_eq!(d("drop", "batch"), "10 now, 40 the window before");
    assert_eq!(d("drop", "gone"), "0 now, 30 the window before");
    assert_eq!(d("went_quiet", "legacy"), "0 now, 5 in the 1m before");
    assert_eq!(
        d("new_agent", "python-requests/2.31"),
        "3 events now, none in the 3d look-back"
    );
    assert_eq!(d("many_users", "login"), "5 distinct user in 12 events");
    assert_eq!(d("slow_p90", "slow"), "p90 of duration_ms 910 (10 values)");
    assert_eq!(d("fast_avg", "fast"), "avg of duration_ms 35 (6 values)");
    // and so does the webhook
    for (k, want) in &detail {
        assert_eq!(fired[k]["detail"].as_str().unwrap_or(""), want, "{k:?}");
    }

    // the rules as loaded
    let rules = http.get("/api/v1/rules").await.json();
    let rule = |name: &str| {
        rules["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        rule("error_ratio")["condition"],
        json!({"type": "ratio", "numerator": "level:ERROR", "above": 0.05, "below": null, "min_denominator": 50.0})
    );
    assert_eq!(
        rule("drop")["condition"],
        json!({"type": "change", "delta": -25.0, "min_previous": 0.0})
    );
    assert_eq!(
        rule("new_agent")["condition"],
        json!({"type": "new_term", "field": "user_agent", "lookback": "3d"})
    );
    assert_eq!(rule("slow_p90")["condition"]["percentile"], 90.0);
}

#[test]
fn a_wrong_key_of_each_type_is_refused_naming_rule_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    let text = r#"[[alerting.rules]]
name = "r0"
condition = { type = "ratio", numerator = "level:ERROR", above = 0.1, factor = 2 }

[[alerting.rules]]
name = "r1"
condition = { type = "change", factor = 2, numerator = "level:ERROR" }

[[alerting.rules]]
name = "r2"
group_by = ["service"]
condition = { type = "flatline", field = "service" }

[[alerting.rules]]
name = "r3"
condition = { type = "new_term", field = "user_agent", above = 1 }

[[alerting.rules]]
name = "r4"
condition = { type = "cardinality", field = "user", above = 3, agg = "avg" }

[[alerting.rules]]
name = "r5"
condition = { type = "metric", field = "ms", agg = "max", above = 3, lookback = "1h" }

[[alerting.rules]]
name = "r6"
condition = { type = "ratio", numerator = "level:(ERROR", above = 0.1 }

[[alerting.rules]]
name = "r7"
group_by = ["service"]
condition = { type = "new_term", field = "user_agent" }

[[alerting.rules]]
name = "r8"
condition = { type = "change", factor = 2, delta = 10 }
"#;
    std::fs::write(&cfg, text).unwrap();
    let line = |needle: &str| {
        text.lines()
            .position(|l| l.contains(needle))
            .map(|i| i + 1)
            .unwrap()
    };
    let err = check_config_fails(&cfg);
    for (needle, want) in [
        ("factor = 2 }", "alerting.rules[0].condition.factor: not a key of a 'ratio' condition"),
        ("factor = 2, numerator", "alerting.rules[1].condition.numerator: not a key of a 'change' condition"),
        ("\"flatline\", field", "alerting.rules[2].condition.field: not a key of a 'flatline' condition"),
        ("above = 1 }", "alerting.rules[3].condition.above: not a key of a 'new_term' condition"),
        ("agg = \"avg\"", "alerting.rules[4].condition.agg: not a key of a 'cardinality' condition"),
        ("lookback = \"1h\"", "alerting.rules[5].condition.lookback: not a key of a 'metric' condition"),
        ("level:(ERROR", "alerting.rules[6].condition.numerator:"),
        ("name = \"r7\"", "alerting.rules[7].group_by: a new_term rule takes no group_by"),
        ("delta = 10", "alerting.rules[8].condition.delta: a change condition takes `factor` or `delta`, not both"),
    ] {
        let want = if needle == "name = \"r7\"" {
            format!("bad.toml:{}: {want}", line(needle) + 1)
        } else {
            format!("bad.toml:{}: {want}", line(needle))
        };
        assert!(err.contains(&want), "missing {want:?} in:\n{err}");
    }
}

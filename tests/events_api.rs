//! The endpoints the dashboard needs, as a script calls them: the export
//! streams every matching event (beyond one page), show-context returns the
//! neighbours of the same service and host, the live tail sends matching
//! events only, and saved searches survive a restart. Every expectation is
//! computed from the generated input.

mod util;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{json, Value};
use util::{assert_es_error, ndjson, test_config, InProcess};

const LEVELS: [&str; 4] = ["INFO", "WARN", "ERROR", "DEBUG"];
const SERVICES: [&str; 3] = ["api", "web", "db"];
const HOSTS: [&str; 2] = ["h1", "h2"];

/// Event `i`: its time, level, service and host follow from `i` alone.
fn event(i: usize, base: i64) -> Value {
    json!({
        // every third pair of events shares a millisecond: ties in context
        "@timestamp": base + (i as i64 / 2) * 1000,
        "level": LEVELS[i % 4],
        "service": SERVICES[i % 3],
        "host": HOSTS[(i / 3) % 2],
        "n": i,
        "message": format!("request {i} done, \"quoted\", comma"),
    })
}

async fn fill(s: &InProcess, index: &str, n: usize, base: i64) {
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let items: Vec<_> = chunk
            .iter()
            .map(|&i| (json!({"index": {"_index": index}}), event(i, base)))
            .collect();
        let r = s.http.post_ndjson("/_bulk", ndjson(&items)).await;
        assert_eq!(r.status, 200, "{}", r.text_preview());
        assert_eq!(r.json()["errors"], false, "{}", r.text_preview());
    }
    s.http.refresh().await;
}

#[tokio::test]
async fn export_streams_every_matching_event_as_ndjson_and_csv() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = InProcess::start(test_config(dir.path())).await;
    let n = 2_345; // more than two pages of the export
    let base = 1_700_000_000_000;
    fill(&s, "exp", n, base).await;

    let r = s.http.get("/api/v1/export?index=exp").await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    let text = String::from_utf8(r.body.clone()).expect("UTF-8");
    let ns: Vec<u64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("each line is JSON")["n"]
                .as_u64()
                .expect("n")
        })
        .collect();
    assert_eq!(ns.len(), n, "one line per event");
    assert_eq!(
        ns.iter().collect::<BTreeSet<_>>().len(),
        n,
        "no event twice"
    );
    // newest first by default: times never increase down the file
    let times: Vec<i64> = ns.iter().map(|&i| base + (i as i64 / 2) * 1000).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");

    // CSV of a query and a time range, with chosen columns
    let (from, to) = (base + 100_000, base + 600_000);
    let want: Vec<usize> = (0..n)
        .filter(|&i| LEVELS[i % 4] == "ERROR")
        .filter(|&i| {
            let t = base + (i as i64 / 2) * 1000;
            t >= from && t <= to
        })
        .collect();
    let path = format!(
        "/api/v1/export?index=exp&format=csv&order=asc&query=level:ERROR&from={from}&to={to}&fields=n,service,message,@timestamp"
    );
    let r = s.http.get(&path).await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    let mut rd = csv::Reader::from_reader(r.body.as_slice());
    let header: Vec<String> = rd
        .headers()
        .expect("header")
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(header, ["n", "service", "message", "@timestamp"]);
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.expect("CSV record")).collect();
    let got: Vec<usize> = rows.iter().map(|r| r[0].parse().expect("n")).collect();
    let mut want_sorted = want.clone();
    want_sorted.sort();
    let mut got_sorted = got.clone();
    got_sorted.sort();
    assert_eq!(
        got_sorted, want_sorted,
        "exactly the ERROR events of the range"
    );
    for r in &rows {
        let i: usize = r[0].parse().expect("n");
        assert_eq!(&r[1], SERVICES[i % 3]);
        assert_eq!(
            &r[2],
            format!("request {i} done, \"quoted\", comma"),
            "quotes and commas survive"
        );
        assert!(
            r[3].ends_with('Z') && r[3].contains('T'),
            "time as RFC 3339: {}",
            &r[3]
        );
    }

    // nothing matches: a CSV with named columns still has its header
    let r = s
        .http
        .get("/api/v1/export?index=exp&format=csv&query=level:NOPE&fields=n,level")
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(String::from_utf8_lossy(&r.body).trim(), "n,level");

    // a limit, and bad parameters named
    let r = s.http.get("/api/v1/export?index=exp&size=10").await;
    assert_eq!(String::from_utf8_lossy(&r.body).lines().count(), 10);
    let r = s.http.get("/api/v1/export?format=xml").await;
    let (_, reason) = assert_es_error(&r, 400);
    assert!(reason.contains("[format]"), "{reason}");
    let r = s.http.get("/api/v1/export?query=level:(").await;
    let (_, reason) = assert_es_error(&r, 400);
    assert!(reason.contains("[query]"), "{reason}");
    s.shutdown().await;
}

#[tokio::test]
async fn context_returns_the_neighbours_of_the_same_service_and_host() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = InProcess::start(test_config(dir.path())).await;
    let n = 600;
    let base = 1_700_000_000_000;
    fill(&s, "ctx", n, base).await;

    let anchor = 301usize;
    let r = s
        .http
        .post_json(
            "/ctx/_search",
            &json!({"query": {"term": {"n": anchor}}, "size": 1}),
        )
        .await;
    let id = r.json()["hits"]["hits"][0]["_id"]
        .as_str()
        .expect("the anchor's id")
        .to_string();
    let r = s
        .http
        .get(&format!("/api/v1/context/ctx/{id}?size=4"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    let v = r.json();
    let ns = |k: &str| -> Vec<usize> {
        v[k].as_array()
            .expect(k)
            .iter()
            .map(|h| h["_source"]["n"].as_u64().expect("n") as usize)
            .collect()
    };
    assert_eq!(v["anchor"]["_source"]["n"], anchor);
    assert_eq!(v["service"], SERVICES[anchor % 3]);
    assert_eq!(v["host"], HOSTS[(anchor / 3) % 2]);
    // oracle: same service and host, ordered by time; events of one
    // millisecond differ in `n` and in service, so there is no tie here
    let same: Vec<usize> = (0..n)
        .filter(|&i| {
            SERVICES[i % 3] == SERVICES[anchor % 3] && HOSTS[(i / 3) % 2] == HOSTS[(anchor / 3) % 2]
        })
        .collect();
    let pos = same
        .iter()
        .position(|&i| i == anchor)
        .expect("anchor in its own group");
    assert_eq!(
        ns("before"),
        same[pos - 4..pos].to_vec(),
        "four before, oldest first"
    );
    assert_eq!(
        ns("after"),
        same[pos + 1..pos + 5].to_vec(),
        "four after, oldest first"
    );

    let r = s.http.get("/api/v1/context/ctx/no-such-id").await;
    let (_, reason) = assert_es_error(&r, 404);
    assert!(reason.contains("no-such-id"), "{reason}");
    let r = s
        .http
        .get(&format!("/api/v1/context/ctx/{id}?size=zero"))
        .await;
    let (_, reason) = assert_es_error(&r, 400);
    assert!(reason.contains("[size]"), "{reason}");
    s.shutdown().await;
}

/// Reads server-sent events until `until` says stop or `limit` passes.
async fn read_events(
    res: &mut reqwest::Response,
    buf: &mut String,
    limit: Duration,
    mut until: impl FnMut(&str, &Value) -> bool,
) -> Vec<(String, Value)> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut out = Vec::new();
    loop {
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut name = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    name = v.to_string();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push_str(v);
                }
            }
            if name.is_empty() {
                continue; // keep-alive comment
            }
            let v: Value = serde_json::from_str(&data).expect("event data is JSON");
            let stop = until(&name, &v);
            out.push((name, v));
            if stop {
                return out;
            }
        }
        match tokio::time::timeout_at(deadline, res.chunk()).await {
            Ok(Ok(Some(c))) => buf.push_str(&String::from_utf8_lossy(&c)),
            _ => return out,
        }
    }
}

#[tokio::test]
async fn live_tail_sends_the_matching_new_events_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = InProcess::start(test_config(dir.path())).await;
    let base = crate_now();
    fill(&s, "tail-a", 10, base - 60_000).await; // before the tail: not sent

    let mut res = s
        .http
        .client
        .get(format!(
            "{}/api/v1/tail?index=tail-*&query=level:ERROR",
            s.http.base
        ))
        .send()
        .await
        .expect("tail request");
    assert_eq!(res.status(), 200);
    let mut buf = String::new();
    let got = read_events(&mut res, &mut buf, Duration::from_secs(10), |n, _| {
        n == "ready"
    })
    .await;
    assert_eq!(got.last().map(|g| g.0.as_str()), Some("ready"));

    // 40 events in three indices; ERROR in tail-* only is what must arrive
    let mut items = Vec::new();
    let mut want = BTreeSet::new();
    for i in 0..40 {
        let index = ["tail-a", "tail-b", "other"][i % 3];
        let e = event(i, base);
        if index != "other" && LEVELS[i % 4] == "ERROR" {
            want.insert(i);
        }
        items.push((json!({"index": {"_index": index}}), e));
    }
    let r = s.http.post_ndjson("/_bulk", ndjson(&items)).await;
    assert_eq!(r.json()["errors"], false);

    let mut seen = BTreeMap::new();
    let want_n = want.len();
    let got = read_events(&mut res, &mut buf, Duration::from_secs(15), |name, v| {
        if name == "hits" {
            for h in v["hits"].as_array().expect("hits") {
                seen.insert(
                    h["_source"]["n"].as_u64().expect("n") as usize,
                    h["_index"].clone(),
                );
            }
        }
        seen.len() >= want_n
    })
    .await;
    assert!(
        got.iter().all(|(n, _)| n == "hits"),
        "only hits were sent: {got:?}"
    );
    assert_eq!(seen.keys().copied().collect::<BTreeSet<_>>(), want);
    // and nothing else trickles in after them
    let more = read_events(&mut res, &mut buf, Duration::from_millis(2500), |_, _| {
        false
    })
    .await;
    assert!(more.is_empty(), "no further events: {more:?}");

    let r = s.http.get("/api/v1/tail?query=level:(").await;
    let (_, reason) = assert_es_error(&r, 400);
    assert!(reason.contains("[query]"), "{reason}");
    drop(res);
    s.shutdown().await;
}

fn crate_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

#[tokio::test]
async fn saved_searches_are_kept_across_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = InProcess::start(test_config(dir.path())).await;
    let put = |name: &'static str, body: Value| {
        let http = &s.http;
        async move {
            http.send(
                "PUT",
                &format!("/api/v1/searches/{name}"),
                Some((body.to_string().into_bytes(), "application/json")),
            )
            .await
        }
    };
    let r = put(
        "errors",
        json!({"index": "app-*", "query": "level:ERROR", "range": "24h"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text_preview());
    let r = put("errors", json!({"index": "app-*", "query": "level:ERROR AND service:api", "range": "1h", "columns": ["service", "message"]})).await;
    assert_eq!(r.status, 200, "replacing answers 200: {}", r.text_preview());
    let r = put(
        "slow",
        json!({"query": "took_ms:>1000", "from": "now-2d", "to": "now-1d", "view": "trend"}),
    )
    .await;
    assert_eq!(r.status, 201);
    let r = put("bad", json!({"query": 1})).await;
    assert_es_error(&r, 400);
    let r = put("bad", json!({"qurey": "x"})).await;
    let (_, reason) = assert_es_error(&r, 400);
    assert!(
        reason.contains("qurey"),
        "the unknown key is named: {reason}"
    );
    s.shutdown().await;

    let s = InProcess::start(test_config(dir.path())).await;
    let r = s.http.get("/api/v1/searches").await;
    let list = r.json();
    let names: Vec<&str> = list["searches"]
        .as_array()
        .expect("searches")
        .iter()
        .map(|v| v["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["errors", "slow"]);
    let r = s.http.get("/api/v1/searches/errors").await;
    let v = r.json();
    assert_eq!(v["query"], "level:ERROR AND service:api");
    assert_eq!(v["columns"], json!(["service", "message"]));
    assert_eq!(v["index"], "app-*");
    let r = s.http.send("DELETE", "/api/v1/searches/errors", None).await;
    assert_eq!(r.status, 200);
    let r = s.http.get("/api/v1/searches/errors").await;
    assert_es_error(&r, 404);
    let r = s.http.send("DELETE", "/api/v1/searches/errors", None).await;
    assert_es_error(&r, 404);
    s.shutdown().await;
}

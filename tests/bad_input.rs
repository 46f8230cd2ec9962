//! Hostile and broken input against an in-process server, while a
//! well-behaved client keeps indexing and searching: bad requests get
//! Elasticsearch-shaped errors (or per-item errors in `_bulk`), and nobody
//! else notices.

mod util;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use util::{assert_es_error, ndjson, test_config, Http, InProcess, Resp};

/// Index and search in a loop; every answer must be a success.
async fn good_client(
    http: Http,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicU64>,
    errors: Arc<Mutex<Vec<String>>>,
) {
    let mut n = 0u64;
    let fail = |e: String| errors.lock().unwrap().push(e);
    while !stop.load(Ordering::Relaxed) {
        let items: Vec<(Value, Value)> = (0..20)
            .map(|i| {
                (
                    json!({"index": {"_index": "good", "_id": format!("good-{}", n + i)}}),
                    json!({"seq": n + i, "message": "hello from the good client", "level": "INFO"}),
                )
            })
            .collect();
        match http
            .try_send(
                "POST",
                "/_bulk",
                Some((ndjson(&items), "application/x-ndjson")),
            )
            .await
        {
            Ok(r) if r.status == 200 && r.json()["errors"] == json!(false) => {
                acked.fetch_add(20, Ordering::Relaxed);
            }
            Ok(r) => fail(format!("bulk: {} {}", r.status, r.text_preview())),
            Err(e) => fail(format!("bulk: transport error {e:?}")),
        }
        n += 20;
        let q = json!({"query": {"match": {"message": "hello"}}, "size": 3,
                       "aggs": {"levels": {"terms": {"field": "level.keyword"}}}});
        match http
            .try_send(
                "POST",
                "/good/_search",
                Some((q.to_string().into_bytes(), "application/json")),
            )
            .await
        {
            Ok(r) if r.status == 200 && r.json()["hits"]["hits"].is_array() => {}
            Ok(r) => fail(format!("search: {} {}", r.status, r.text_preview())),
            Err(e) => fail(format!("search: transport error {e:?}")),
        }
        match http
            .try_send("GET", "/good/_count?q=level:INFO", None)
            .await
        {
            Ok(r) if r.status == 200 && r.json()["count"].is_u64() => {}
            Ok(r) => fail(format!("count: {} {}", r.status, r.text_preview())),
            Err(e) => fail(format!("count: transport error {e:?}")),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn bulk_items(r: &Resp) -> Vec<Value> {
    assert_eq!(r.status, 200, "{}", r.text_preview());
    r.json()["items"].as_array().cloned().expect("items")
}

fn item_status(item: &Value) -> u64 {
    item.as_object()
        .and_then(|o| o.values().next())
        .and_then(|v| v["status"].as_u64())
        .unwrap_or_else(|| panic!("item without status: {item}"))
}

/// The item's `error` with `type` and `reason`; returns the reason.
fn item_error(item: &Value) -> String {
    let inner = item
        .as_object()
        .and_then(|o| o.values().next())
        .expect("item");
    let status = inner["status"].as_u64().unwrap_or(0);
    assert!((400..500).contains(&status), "expected a 4xx item: {item}");
    assert!(inner["error"]["type"].is_string(), "{item}");
    inner["error"]["reason"]
        .as_str()
        .unwrap_or_else(|| panic!("item error without reason: {item}"))
        .to_string()
}

async fn assert_serving(http: &Http, after: &str) {
    let r = http.get("/").await;
    assert_eq!(r.status, 200, "server not serving after {after}");
}

async fn search_error(http: &Http, path: &str, body: Value, status: u16) -> (String, String) {
    let r = http.post_json(path, &body).await;
    let e = assert_es_error(&r, status);
    eprintln!("{body} -> {} {e:?}", r.status);
    e
}

async fn truncated_ndjson(http: &Http) {
    let body = b"{\"index\":{\"_index\":\"bad\",\"_id\":\"t1\"}}\n{\"msg\":\"ok 1\"}\n\
{\"index\":{\"_index\":\"bad\",\"_id\":\"t2\"}}\n{\"msg\":\"cut in the mi\n\
{\"index\":{\"_index\":\"bad\",\"_id\":\"t3\"}}\n{\"msg\":\"ok 3\"}\n\
{\"index\":{\"_index\":\"bad\",\"_id\":\"t4\"}}\n{\"msg\":\"the body ends in"
        .to_vec();
    let r = http.post_ndjson("/_bulk", body).await;
    let items = bulk_items(&r);
    assert_eq!(r.json()["errors"], json!(true), "{}", r.text_preview());
    assert_eq!(items.len(), 4, "{}", r.text_preview());
    assert_eq!(item_status(&items[0]), 201, "{}", items[0]);
    item_error(&items[1]);
    assert_eq!(item_status(&items[2]), 201, "{}", items[2]);
    item_error(&items[3]);
    let r = http.get("/bad/_doc/t1").await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    assert_eq!(r.json()["_source"]["msg"], json!("ok 1"));
    assert_eq!(http.get("/bad/_doc/t3").await.status, 200);
    assert_eq!(http.get("/bad/_doc/t2").await.status, 404);
    assert_eq!(http.get("/bad/_doc/t4").await.status, 404);
}

async fn invalid_utf8(http: &Http) {
    let mut body = b"{\"index\":{\"_index\":\"bad\",\"_id\":\"u1\"}}\n{\"msg\":\"".to_vec();
    body.extend_from_slice(&[0xff, 0xfe, b'x', 0xc3]);
    body.extend_from_slice(
        b"\"}\n{\"index\":{\"_index\":\"bad\",\"_id\":\"u2\"}}\n{\"msg\":\"fine\"}\n",
    );
    let r = http.post_ndjson("/_bulk", body).await;
    let items = bulk_items(&r);
    assert_eq!(r.json()["errors"], json!(true));
    let reason = item_error(&items[0]);
    assert!(
        reason.to_ascii_lowercase().contains("utf-8")
            || reason.to_ascii_lowercase().contains("utf8"),
        "reason should name UTF-8: {reason}"
    );
    assert_eq!(item_status(&items[1]), 201, "{}", items[1]);
}

/// Index names that cannot become a directory fail their own item only;
/// the other documents of the request (which share its log batch) are
/// indexed.
async fn bad_index_names(http: &Http) {
    let bad = [
        "nul\u{0}name",
        "new\nline",
        "UPPER",
        "a/b",
        "..",
        "_under",
        "x*y",
    ];
    let mut items: Vec<(Value, Value)> = Vec::new();
    for (i, name) in bad.iter().enumerate() {
        items.push((
            json!({"index": {"_index": name}}),
            json!({"msg": "bad index name"}),
        ));
        items.push((
            json!({"index": {"_index": "victim", "_id": format!("v{i}")}}),
            json!({"msg": "innocent"}),
        ));
    }
    let r = http.post_ndjson("/_bulk", ndjson(&items)).await;
    let answered = bulk_items(&r);
    assert_eq!(answered.len(), items.len());
    for (i, name) in bad.iter().enumerate() {
        let reason = item_error(&answered[2 * i]);
        eprintln!("index name {name:?} -> {reason}");
        assert_eq!(
            item_status(&answered[2 * i + 1]),
            201,
            "{}",
            answered[2 * i + 1]
        );
    }
    http.refresh().await;
    assert_eq!(
        http.count("victim", None).await,
        bad.len() as u64,
        "documents written next to a bad index name were lost"
    );
    let r = http.get("/_cat/indices?format=json").await;
    assert_eq!(r.status, 200);
    for row in r.json().as_array().expect("cat rows") {
        let name = row["index"].as_str().unwrap_or_default();
        assert!(!bad.contains(&name), "index {name:?} was created");
    }
}

/// Dates far outside what the engine stores natively (and numbers in a
/// date field) are accepted, searchable, and break neither the indexer nor
/// queries with far-away bounds.
async fn extreme_dates(http: &Http) {
    let docs = [
        json!({"@timestamp": 9_223_372_036_854_775_807_i64, "d": "2026-01-01T00:00:00Z"}),
        json!({"timestamp": "9999-12-31 23:59:59", "d": "9999-12-31T00:00:00Z"}),
        json!({"timestamp": "1000-01-01 00:00:00", "d": "1000-01-01T00:00:00Z"}),
        json!({"@timestamp": "2026-01-01T00:00:00Z", "d": i64::MAX}),
        json!({"@timestamp": "2026-01-01T00:00:00Z", "d": i64::MIN}),
        json!({"@timestamp": 1.5e19, "d": -1e300}),
    ];
    let items: Vec<(Value, Value)> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            (
                json!({"index": {"_index": "dates", "_id": format!("x{i}")}}),
                d.clone(),
            )
        })
        .collect();
    let r = http
        .post_ndjson("/_bulk?refresh=true", ndjson(&items))
        .await;
    let answered = bulk_items(&r);
    for item in &answered {
        assert_eq!(item_status(item), 201, "{item}");
    }
    http.refresh().await;
    let n = docs.len() as u64;
    assert_eq!(http.count("dates", None).await, n);
    for (q, expect) in [
        (
            json!({"range": {"@timestamp": {"gte": "1000-01-01"}}}),
            Some(n),
        ),
        (
            json!({"range": {"@timestamp": {"lte": "now+1000y"}}}),
            Some(n),
        ),
        (
            json!({"range": {"@timestamp": {"gte": i64::MIN, "lte": i64::MAX}}}),
            Some(n),
        ),
        (
            json!({"range": {"d": {"gte": "1000-01-01", "lte": "9999-12-31"}}}),
            None,
        ),
        (json!({"term": {"d": "9999-12-31T00:00:00Z"}}), None),
    ] {
        let r = http
            .post_json("/dates/_count", &json!({ "query": q }))
            .await;
        assert_eq!(r.status, 200, "{q}: {}", r.text_preview());
        if let Some(e) = expect {
            assert_eq!(r.json()["count"], json!(e), "{q}");
        }
    }
    let r = http
        .post_json(
            "/dates/_search",
            &json!({"size": 0, "aggs": {"y": {"date_histogram": {"field": "@timestamp", "calendar_interval": "year"}}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    // Ingest still works after them.
    let r = http
        .post_ndjson(
            "/_bulk?refresh=true",
            ndjson(&[(
                json!({"index": {"_index": "dates", "_id": "after"}}),
                json!({"m": 1}),
            )]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    assert_eq!(http.count("dates", None).await, n + 1);
}

async fn huge_line(http: &Http) {
    // 50 MB of words on one line.
    let words = [
        "alpha ",
        "beta ",
        "gamma ",
        "delta ",
        "épsilon ",
        "ζήτα ",
        "日志 ",
    ];
    let mut msg = String::with_capacity(50 * 1024 * 1024 + 16);
    let mut i = 0;
    while msg.len() < 50 * 1024 * 1024 {
        msg.push_str(words[i % words.len()]);
        i += 1;
    }
    let len = msg.len();
    let doc = json!({"message": msg, "kind": "huge"});
    let body = ndjson(&[(json!({"index": {"_index": "big", "_id": "huge"}}), doc)]);
    let started = Instant::now();
    let r = http.post_ndjson("/_bulk?refresh=true", body).await;
    eprintln!("50 MB line: HTTP {} in {:?}", r.status, started.elapsed());
    if r.status == 200 {
        let items = bulk_items(&r);
        let st = item_status(&items[0]);
        if st == 201 || st == 200 {
            assert_eq!(http.count("big", None).await, 1);
            assert_eq!(
                http.count("big", Some(json!({"match": {"message": "ζήτα"}})))
                    .await,
                1
            );
            let r = http.get("/big/_doc/huge?_source_includes=message").await;
            assert_eq!(r.status, 200);
            assert_eq!(
                r.json()["_source"]["message"].as_str().map(str::len),
                Some(len)
            );
        } else {
            item_error(&items[0]);
        }
    } else {
        assert!((400..500).contains(&r.status), "{}", r.text_preview());
        assert_es_error(&r, r.status);
    }
}

async fn deep_nesting(http: &Http) {
    let deep = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    let mut body = b"{\"index\":{\"_index\":\"bad\",\"_id\":\"deep\"}}\n".to_vec();
    body.extend_from_slice(deep.as_bytes());
    body.extend_from_slice(
        b"\n{\"index\":{\"_index\":\"bad\",\"_id\":\"shallow\"}}\n{\"a\":{\"b\":1}}\n",
    );
    let r = http.post_ndjson("/_bulk", body).await;
    let items = bulk_items(&r);
    item_error(&items[0]);
    assert_eq!(item_status(&items[1]), 201, "{}", items[1]);
    // The same as a single document and as a search body.
    let r = http
        .send(
            "PUT",
            "/bad/_doc/deep2",
            Some((deep.clone().into_bytes(), "application/json")),
        )
        .await;
    assert_es_error(&r, 400);
    // Each bool level is two JSON levels: 10,000 and 100 levels exceed the
    // JSON parser's recursion limit (128) and are refused with that reason;
    // 50 levels are within every limit and must simply work.
    for depth in [10_000, 100] {
        let r = search_nested_bool(http, depth).await;
        let (_, reason) = assert_es_error(&r, 400);
        assert!(reason.contains("recursion limit"), "{depth}: {reason}");
    }
    let r = search_nested_bool(http, 50).await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
}

/// A search whose query is `depth` nested `bool.must` clauses.
async fn search_nested_bool(http: &Http, depth: usize) -> Resp {
    let deep_query = format!(
        "{{\"query\":{}{{\"match_all\":{{}}}}{}}}",
        "{\"bool\":{\"must\":".repeat(depth),
        "}}".repeat(depth)
    );
    http.send(
        "POST",
        "/good/_search",
        Some((deep_query.into_bytes(), "application/json")),
    )
    .await
}

async fn over_limit(http: &Http) {
    // 100 MB + 1 KB of otherwise valid NDJSON.
    let line = format!(
        "{{\"index\":{{\"_index\":\"bad\"}}}}\n{{\"msg\":\"{}\"}}\n",
        "y".repeat(1000)
    );
    let mut body = Vec::with_capacity(100 * 1024 * 1024 + 4096);
    while body.len() <= 100 * 1024 * 1024 + 1024 {
        body.extend_from_slice(line.as_bytes());
    }
    let r = http.post_ndjson("/_bulk", body).await;
    let (typ, reason) = assert_es_error(&r, 413);
    eprintln!("over the limit: {typ}: {reason}");
}

async fn raw_garbage(addr: std::net::SocketAddr) {
    let payloads: [&[u8]; 4] = [
        b"\x00\x01\x02\xff\xfe garbage \r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"POST /_bulk HTTP/1.1\r\nHost: x\r\nContent-Length: banana\r\n\r\n",
        b"GE\xc3T /\xff HTTP/1.1\r\nHost: \x00\r\n\r\n",
    ];
    for p in payloads {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let _ = s.write_all(p).await;
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
        assert!(
            read.is_ok(),
            "connection neither answered nor closed for {p:?}"
        );
        let text = String::from_utf8_lossy(&buf);
        assert!(
            buf.is_empty() || text.starts_with("HTTP/1.1 4") || text.starts_with("HTTP/1.0 4"),
            "garbage {p:?} answered: {text}"
        );
    }
    // A client that connects, sends half a request and goes away.
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let _ = s
        .write_all(b"POST /_bulk HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"index\":")
        .await;
    drop(s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_errors_and_hurts_nobody() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = InProcess::start(test_config(dir.path())).await;
    let http = server.http.clone();

    // The well-behaved client, started on an existing index.
    let r = http
        .post_ndjson(
            "/_bulk?refresh=true",
            ndjson(&[(
                json!({"index": {"_index": "good", "_id": "seed"}}),
                json!({"message": "hello", "level": "INFO"}),
            )]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(Mutex::new(Vec::new()));
    let good = tokio::spawn(good_client(
        Http::new(server.addr()),
        stop.clone(),
        acked.clone(),
        errors.clone(),
    ));

    truncated_ndjson(&http).await;
    invalid_utf8(&http).await;
    deep_nesting(&http).await;
    bad_index_names(&http).await;
    extreme_dates(&http).await;
    assert_serving(&http, "deep nesting").await;

    // Wrong types in the search body: 400 naming the offender.
    let (_, reason) = search_error(&http, "/good/_search", json!({"size": "abc"}), 400).await;
    assert!(reason.contains("size"), "{reason}");
    let (_, reason) = search_error(
        &http,
        "/good/_search",
        json!({"query": {"term": {"f": {"value": [1, 2]}}}}),
        400,
    )
    .await;
    assert!(reason.contains("term"), "{reason}");
    let (_, reason) = search_error(
        &http,
        "/good/_search",
        json!({"query": {"match": "x"}}),
        400,
    )
    .await;
    assert!(reason.contains("match"), "{reason}");
    let (_, reason) =
        search_error(&http, "/good/_count", json!({"query": {"match": "x"}}), 400).await;
    assert!(reason.contains("match"), "{reason}");
    let (_, reason) = search_error(&http, "/good/_search", json!({"from": -1}), 400).await;
    assert!(reason.contains("from"), "{reason}");

    // Unknown names.
    let (typ, reason) = search_error(
        &http,
        "/good/_search",
        json!({"query": {"no_such_query": {"f": 1}}}),
        400,
    )
    .await;
    assert_eq!(typ, "parsing_exception");
    assert!(reason.contains("no_such_query"), "{reason}");
    let (_, reason) = search_error(
        &http,
        "/good/_search",
        json!({"size": 0, "aggs": {"x": {"no_such_agg": {"field": "level"}}}}),
        400,
    )
    .await;
    assert!(reason.contains("no_such_agg"), "{reason}");
    let (_, reason) = search_error(
        &http,
        "/good/_search",
        json!({"query": {"bool": {"must": [{"match_all": {}}], "bogus_clause": []}}}),
        400,
    )
    .await;
    assert!(reason.contains("bogus_clause"), "{reason}");

    // Malformed Lucene syntax in q=.
    for q in [
        "level:(ERROR",
        "latency_ms:[1%20TO",
        "%22unclosed%20phrase",
        "AND%20OR",
    ] {
        let r = http.get(&format!("/good/_search?q={q}")).await;
        let (typ, reason) = assert_es_error(&r, 400);
        eprintln!("q={q} -> {typ}: {reason}");
    }
    // Bad URL parameters.
    let r = http.get("/good/_search?size=abc").await;
    assert!(assert_es_error(&r, 400).1.contains("size"));
    let r = http
        .post_ndjson("/_bulk?refresh=sometimes", b"{\"index\":{}}\n{}\n".to_vec())
        .await;
    assert_es_error(&r, 400);

    // Not JSON at all.
    let r = http
        .send(
            "POST",
            "/good/_search",
            Some((b"{not json".to_vec(), "application/json")),
        )
        .await;
    assert_es_error(&r, 400);

    // Missing index.
    let r = http.get("/no-such-index/_search").await;
    let (typ, reason) = assert_es_error(&r, 404);
    assert_eq!(typ, "index_not_found_exception");
    assert!(reason.contains("no-such-index"), "{reason}");
    let r = http.post_json("/no-such-index/_count", &json!({})).await;
    assert_eq!(assert_es_error(&r, 404).0, "index_not_found_exception");
    // Unknown endpoint: Elasticsearch's RestController answer.
    let r = http.get("/_no_such_endpoint/x/y").await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"error": "no handler found for uri [/_no_such_endpoint/x/y] and method [GET]"})
    );

    raw_garbage(server.addr()).await;
    assert_serving(&http, "raw garbage").await;

    huge_line(&http).await;
    assert_serving(&http, "a 50 MB line").await;
    over_limit(&http).await;
    assert_serving(&http, "a body over the limit").await;

    // The good client kept working throughout.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    good.await.expect("good client panicked");
    let errors = errors.lock().unwrap().clone();
    assert!(
        errors.is_empty(),
        "the well-behaved client saw errors: {errors:#?}"
    );
    let n = acked.load(Ordering::Relaxed);
    assert!(n > 0, "the well-behaved client never got a write in");
    http.refresh().await;
    assert_eq!(http.count("good", None).await, n + 1);
    eprintln!("good client wrote {n} docs; total {:?}", started.elapsed());
    server.shutdown().await;
}

/// Thirty events with latencies 0, 10, ..., 290 ms; every third one is a
/// connection reset. Returns them as written, for oracles.
async fn latency_docs(http: &Http, index: &str) -> Vec<Value> {
    let docs: Vec<Value> = (0..30)
        .map(|i| {
            json!({
                "latency_ms": i * 10,
                "message": if i % 3 == 0 { "connection reset by peer" } else { "request served" },
            })
        })
        .collect();
    let items: Vec<(Value, Value)> = docs
        .iter()
        .map(|d| (json!({"index": {"_index": index}}), d.clone()))
        .collect();
    let r = http
        .post_ndjson("/_bulk?refresh=true", ndjson(&items))
        .await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    assert_eq!(r.json()["errors"], json!(false), "{}", r.text_preview());
    docs
}

fn count_where(docs: &[Value], pred: impl Fn(i64, &str) -> bool) -> u64 {
    docs.iter()
        .filter(|d| {
            pred(
                d["latency_ms"].as_i64().unwrap_or(-1),
                d["message"].as_str().unwrap_or(""),
            )
        })
        .count() as u64
}

/// A GET request line sent byte for byte, as curl sends it.
fn raw_get(target: &str, close: bool) -> Vec<u8> {
    format!(
        "GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n{}\r\n",
        if close { "Connection: close\r\n" } else { "" }
    )
    .into_bytes()
}

/// Issue 10, item 5: `"`, `<` and `>` in a query string (curl sends them
/// unescaped) are accepted as Elasticsearch accepts them, also on kept-alive
/// connections after bodies of either framing; what is refused gets an
/// Elasticsearch-shaped error instead of an empty 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_characters_in_urls_are_accepted_and_refusals_are_es_shaped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = InProcess::start(test_config(dir.path())).await;
    let http = server.http.clone();
    let addr = server.addr();
    let docs = latency_docs(&http, "raw").await;
    let over_100 = count_where(&docs, |l, _| l > 100);
    let under_50 = count_where(&docs, |l, _| l < 50);
    let resets = count_where(&docs, |_, m| m.contains("reset"));
    let slow_resets = count_where(&docs, |l, m| l >= 100 && m.contains("reset"));
    assert!(over_100 > 0 && under_50 > 0 && resets > 0 && slow_resets > 0);

    // One request per connection, as curl does.
    for (target, want) in [
        ("/raw/_search?q=latency_ms:>100&size=0", over_100),
        ("/raw/_search?q=latency_ms:<50&size=0", under_50),
        ("/raw/_search?q=message:\"reset\"&size=0", resets),
        (
            "/raw/_search?q=message:\"connection%20reset\"&size=0",
            resets,
        ),
        (
            "/raw/_search?q=latency_ms:>=100%20AND%20message:\"reset\"&size=0",
            slow_resets,
        ),
        ("/raw/_search?q=latency_ms:{100%20TO%20*}&size=0", over_100),
        (
            "/raw/_search?q=latency_ms:>100&size=0&sort=latency_ms:desc",
            over_100,
        ),
    ] {
        let answers = util::raw_exchange(addr, &raw_get(target, true)).await;
        assert_eq!(answers.len(), 1, "{target}: {answers:?}");
        let r = answers[0].resp();
        assert_eq!(r.status, 200, "{target}: {}", r.text_preview());
        assert_eq!(
            r.json()["hits"]["total"]["value"].as_u64(),
            Some(want),
            "{target}: {}",
            r.text_preview()
        );
    }

    // Kept alive and pipelined: a Content-Length body, a chunked body with
    // a trailer, then raw characters again; answers come back in order.
    let count_body = json!({"query": {"match": {"message": "reset"}}}).to_string();
    let (first, second) = count_body.split_at(10);
    let mut pipelined = Vec::new();
    pipelined.extend_from_slice(
        format!(
            "POST /raw/_count HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{count_body}",
            count_body.len()
        )
        .as_bytes(),
    );
    pipelined.extend_from_slice(
        format!(
            "POST /raw/_count HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{first}\r\n{:x};ext=1\r\n{second}\r\n0\r\nX-Trailer: t\r\n\r\n",
            first.len(),
            second.len()
        )
        .as_bytes(),
    );
    pipelined.extend(raw_get("/raw/_count?q=latency_ms:>100", false));
    pipelined.extend(raw_get("/raw/_count?q=message:\"reset\"", true));
    let answers = util::raw_exchange(addr, &pipelined).await;
    let counts: Vec<(u16, Option<u64>)> = answers
        .iter()
        .map(|a| (a.status, a.resp().json()["count"].as_u64()))
        .collect();
    assert_eq!(
        counts,
        vec![
            (200, Some(resets)),
            (200, Some(resets)),
            (200, Some(over_100)),
            (200, Some(resets)),
        ],
        "{answers:?}"
    );

    // What is refused is answered in Elasticsearch's shape, and the
    // connection is closed after it.
    let refused: [&[u8]; 6] = [
        b"GET /raw/_search?q=a b HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\x00\x01\x02\xff\xfe garbage \r\n\r\n",
        b"GET /raw/_search HTTP/1.1\r\nHost x\r\n\r\n",
        b"POST /raw/_count HTTP/1.1\r\nHost: x\r\nContent-Length: banana\r\n\r\n{}",
        b"POST /raw/_count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n{}",
        b"GET /raw/_search HTTP/1.1\r\nHost: x\r\nX-Bad: \x01\r\n\r\n",
    ];
    for req in refused {
        let answers = util::raw_exchange(addr, req).await;
        assert_eq!(answers.len(), 1, "{req:?}: {answers:?}");
        let (typ, reason) = assert_es_error(&answers[0].resp(), 400);
        eprintln!("{req:?} -> {typ}: {reason}");
    }
    // A target longer than the URI limit.
    let long = raw_get(&format!("/raw/_search?q={}", "a".repeat(70_000)), true);
    let answers = util::raw_exchange(addr, &long).await;
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_es_error(&answers[0].resp(), 414);
    // Refused after a good request on the same connection: the good one is
    // answered first.
    let mut mixed = raw_get("/raw/_count?q=latency_ms:>100", false);
    mixed.extend_from_slice(b"GET /raw/_count?q=x y HTTP/1.1\r\nHost: x\r\n\r\n");
    let answers = util::raw_exchange(addr, &mixed).await;
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert_eq!(answers[0].resp().json()["count"].as_u64(), Some(over_100));
    assert_es_error(&answers[1].resp(), 400);
    assert_serving(&http, "refused requests").await;
    server.shutdown().await;
}

/// A raw request with this method and target and an empty body.
fn raw_request(method: &str, target: &str) -> Vec<u8> {
    format!(
        "{method} {target} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

async fn raw_one(addr: std::net::SocketAddr, method: &str, target: &str) -> util::RawResp {
    let mut answers = util::raw_exchange(addr, &raw_request(method, target)).await;
    assert_eq!(answers.len(), 1, "{method} {target}: {answers:?}");
    answers.remove(0)
}

/// Issue 10, item 6: a path that starts with `_` is never an index. What we
/// do not implement is answered as Elasticsearch's RestController answers a
/// path without handler (400, `{"error":"no handler found for uri [..] and
/// method [..]"}`) whatever the method; a known path with a method it does
/// not take gets its 405 with `Allow`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_endpoints_answer_no_handler_found_for_every_method() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = InProcess::start(test_config(dir.path())).await;
    let http = server.http.clone();
    let addr = server.addr();
    latency_docs(&http, "known").await;

    for (method, target) in [
        ("GET", "/_snapshot"),
        ("GET", "/_stats"),
        ("GET", "/_ilm/policy"),
        ("GET", "/_security/user"),
        ("GET", "/_snapshot/repo?pretty"),
        ("POST", "/_something"),
        ("PUT", "/_something"),
        ("DELETE", "/_something"),
        ("GET", "/_something/_search"),
        ("POST", "/_something/_doc"),
        ("GET", "/_something/_mapping"),
        ("POST", "/_something/_bulk"),
        ("GET", "/known/_stats"),
        ("GET", "/_no_such_endpoint/x/y"),
    ] {
        let r = raw_one(addr, method, target).await;
        assert_eq!(r.status, 400, "{method} {target}: {r:?}");
        assert_eq!(
            r.resp().json(),
            json!({"error": format!("no handler found for uri [{target}] and method [{method}]")}),
            "{method} {target}"
        );
        assert_eq!(r.header("x-elastic-product"), Some("Elasticsearch"));
    }
    // `PUT /_something` created nothing.
    let r = http.get("/_cat/indices?format=json").await;
    let names: Vec<String> = r
        .json()
        .as_array()
        .expect("cat rows")
        .iter()
        .map(|row| row["index"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(names, ["known"], "{}", r.text_preview());

    // Known paths, wrong method: 405 naming what is allowed.
    for (method, target, allowed) in [
        ("GET", "/_bulk", "POST, PUT"),
        ("DELETE", "/known/_search", "GET, HEAD, POST"),
        ("POST", "/known", "DELETE, GET, HEAD, PUT"),
        ("GET", "/known/_doc", "POST"),
    ] {
        let r = raw_one(addr, method, target).await;
        assert_eq!(r.status, 405, "{method} {target}: {r:?}");
        assert_eq!(
            r.resp().json(),
            json!({
                "error": format!("Incorrect HTTP method for uri [{target}] and method [{method}], allowed: [{allowed}]"),
                "status": 405,
            }),
            "{method} {target}"
        );
        assert_eq!(r.header("allow"), Some(allowed.replace(' ', "").as_str()));
    }
    // OPTIONS is answered, as Elasticsearch does, with what is allowed.
    let r = raw_one(addr, "OPTIONS", "/_bulk").await;
    assert_eq!(
        (r.status, r.header("allow")),
        (200, Some("POST,PUT")),
        "{r:?}"
    );
    let r = raw_one(addr, "OPTIONS", "/_snapshot").await;
    assert_eq!(r.status, 200, "{r:?}");

    // `_all` is the one underscore name that stands for indices.
    let r = http.get("/_all/_search?size=0").await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    assert_eq!(r.json()["hits"]["total"]["value"], json!(30));
    assert_eq!(http.get("/_all").await.status, 200);
    server.shutdown().await;
}

/// Issue 10, item 7: a malformed action/metadata line fails the whole
/// request with 400 in Elasticsearch's words, naming the line; nothing of
/// that request is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_malformed_action_lines_are_named_like_elasticsearch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = InProcess::start(test_config(dir.path())).await;
    let http = server.http.clone();
    // Line 1 and 2 are a good pair, line 3 is blank, line 4 is the bad
    // action line, line 5 its document.
    let cases: [(&str, &str, &str); 9] = [
        (
            r#"{"msg":"x"}"#,
            "illegal_argument_exception",
            "Malformed action/metadata line [4], expected field [create], [delete], [index] or [update] but found [msg]",
        ),
        (
            r#"{"index":{"_index":"bulkbad"},"extra":{}}"#,
            "illegal_argument_exception",
            "Malformed action/metadata line [4], expected END_OBJECT but found [FIELD_NAME]",
        ),
        (
            r#""just a string""#,
            "illegal_argument_exception",
            "Malformed action/metadata line [4], expected START_OBJECT but found [VALUE_STRING]",
        ),
        (
            "[1, 2]",
            "illegal_argument_exception",
            "Malformed action/metadata line [4], expected START_OBJECT but found [START_ARRAY]",
        ),
        (
            "{}",
            "illegal_argument_exception",
            "Malformed action/metadata line [4], expected FIELD_NAME but found [END_OBJECT]",
        ),
        (
            r#"{"index":"bulkbad"}"#,
            "illegal_argument_exception",
            "Malformed action/metadata line [4], expected START_OBJECT or END_OBJECT but found [VALUE_STRING]",
        ),
        (
            r#"{"index":{"_indx":"bulkbad"}}"#,
            "illegal_argument_exception",
            "Action/metadata line [4] contains an unknown parameter [_indx]",
        ),
        (
            r#"{"index":{"_index":"bulkbad","_id":["a"]}}"#,
            "illegal_argument_exception",
            "Malformed action/metadata line [4], expected a simple value for field [_id] but found [START_ARRAY]",
        ),
        (
            "this is not json at all",
            "x_content_parse_exception",
            "Malformed action/metadata line [4], not valid JSON",
        ),
    ];
    for (bad, want_type, want_reason) in cases {
        let body = format!(
            "{{\"index\":{{\"_index\":\"bulkbad\",\"_id\":\"before\"}}}}\n{{\"m\":1}}\n\n{bad}\n{{\"m\":2}}\n"
        );
        let r = http.post_ndjson("/_bulk", body.into_bytes()).await;
        let (typ, reason) = assert_es_error(&r, 400);
        assert_eq!(typ, want_type, "{bad}: {reason}");
        assert!(
            reason.starts_with(want_reason),
            "{bad}: got {reason:?}, want {want_reason:?}"
        );
        assert_eq!(
            r.json()["error"]["root_cause"][0]["reason"].as_str(),
            Some(reason.as_str())
        );
    }
    // Nothing of those requests was stored.
    http.refresh().await;
    let r = http.get("/bulkbad/_count").await;
    assert_eq!(r.status, 404, "{}", r.text_preview());
    // Parameters Elasticsearch knows are taken (or ignored) as before, and
    // a bad document still fails only its own item.
    let body = concat!(
        "{\"index\":{\"_index\":\"bulkbad\",\"_type\":\"_doc\",\"routing\":\"r\",\"require_alias\":false}}\n{\"m\":1}\n",
        "{\"create\":{\"_index\":\"bulkbad\",\"_id\":7,\"if_seq_no\":null}}\n{\"m\":2}\n",
        "{\"index\":{\"_index\":\"bulkbad\"}}\n{\"m\":\n",
        "{\"index\":{\"_index\":\"bulkbad\",\"op_type\":\"index\",\"dynamic_templates\":{\"m\":\"x\"}}}\n{\"m\":4}\n",
    );
    let r = http
        .post_ndjson("/_bulk?refresh=true", body.as_bytes().to_vec())
        .await;
    let items = bulk_items(&r);
    let statuses: Vec<u64> = items.iter().map(item_status).collect();
    assert_eq!(statuses, vec![201, 201, 400, 201], "{}", r.text_preview());
    assert_eq!(items[1]["create"]["_id"], json!("7"));
    assert_eq!(http.count("bulkbad", None).await, 3);
    server.shutdown().await;
}

/// Issue 10, item 9: the 413 names our setting and its value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_over_the_limit_names_server_max_body_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(dir.path());
    cfg.max_body_bytes = 4096;
    let server = InProcess::start(cfg).await;
    let http = server.http.clone();
    let line = "{\"index\":{\"_index\":\"limit\"}}\n{\"m\":\"0123456789abcdef\"}\n";
    let body = line.repeat(8192 / line.len() + 1).into_bytes();
    assert!(body.len() > 4096);
    let r = http.post_ndjson("/_bulk", body).await;
    let (typ, reason) = assert_es_error(&r, 413);
    assert_eq!(typ, "content_too_long_exception");
    assert!(
        reason.contains("server.max_body_bytes") && reason.contains("4096"),
        "{reason}"
    );
    assert!(!reason.contains("http.max_content_length"), "{reason}");
    // Under the limit is fine.
    let r = http.post_ndjson("/_bulk", line.as_bytes().to_vec()).await;
    assert_eq!(bulk_items(&r).len(), 1);
    server.shutdown().await;
}

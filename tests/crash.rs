//! Durability under `kill -9`: a `_bulk` answered 200 (with every item
//! 200/201) must be searchable after the process is killed at any moment and
//! restarted on the same data directory, exactly once and with its
//! `_source` intact.
//!
//! The oracle is kept on the client side: which ids were sent, which were
//! acknowledged, and the sequence number each id carries.

mod util;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use util::{ndjson, write_config, BinServer, Http, Resp};

const INDEX: &str = "crash";
const BATCH: u64 = 200;
const WRITERS: usize = 2;
const KILLS: usize = 6;

fn doc_id(n: u64) -> String {
    format!("doc-{n}")
}

fn id_number(id: &str) -> u64 {
    id.strip_prefix("doc-")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected id [{id}] in the index"))
}

/// The client-side record of what happened.
#[derive(Default)]
struct Oracle {
    sent: HashSet<u64>,
    acked: HashSet<u64>,
    requests_ok: u64,
    requests_failed: u64,
    retries: u64,
    /// Answers that must never happen (a 200 with failed items, a 5xx...).
    anomalies: Vec<String>,
}

fn bulk_body(ids: &[u64], writer: usize) -> Vec<u8> {
    let items: Vec<(Value, Value)> = ids
        .iter()
        .map(|&n| {
            (
                json!({"index": {"_index": INDEX, "_id": doc_id(n)}}),
                json!({
                    "@timestamp": "2026-03-01T12:00:00Z",
                    "seq": n,
                    "writer": writer,
                    "level": if n % 10 == 0 { "ERROR" } else { "INFO" },
                    "message": format!("crash test event {n} from writer {writer} ünïcödé 日志"),
                    "pad": "x".repeat((n % 7 * 40) as usize),
                }),
            )
        })
        .collect();
    ndjson(&items)
}

/// Which ids of a 200 answer are acknowledged; anything odd is an anomaly.
fn acked_items(ids: &[u64], r: &Resp, anomalies: &mut Vec<String>) -> Vec<u64> {
    let v: Value = match serde_json::from_slice(&r.body) {
        Ok(v) => v,
        Err(e) => {
            anomalies.push(format!("200 with a non-JSON body ({e})"));
            return Vec::new();
        }
    };
    let items = v["items"].as_array().cloned().unwrap_or_default();
    if items.len() != ids.len() {
        anomalies.push(format!(
            "{} items answered for {} sent",
            items.len(),
            ids.len()
        ));
        return Vec::new();
    }
    if v["errors"] != json!(false) {
        anomalies.push(format!(
            "errors:{} for well-formed documents: {}",
            v["errors"],
            r.text_preview()
        ));
    }
    let mut out = Vec::new();
    for (n, item) in ids.iter().zip(&items) {
        let it = &item["index"];
        let status = it["status"].as_u64().unwrap_or(0);
        if it["_id"].as_str() != Some(doc_id(*n).as_str()) {
            anomalies.push(format!("item for {} answered as {item}", doc_id(*n)));
            continue;
        }
        if status == 200 || status == 201 {
            out.push(*n);
        } else {
            anomalies.push(format!("item {} status {status}: {item}", doc_id(*n)));
        }
    }
    out
}

/// Bulk-index in a loop until `stop`; a failed batch is sometimes re-sent
/// with the same ids (at-least-once clients do that), else abandoned.
async fn writer(
    w: usize,
    http: Http,
    next: Arc<AtomicU64>,
    oracle: Arc<Mutex<Oracle>>,
    stop: Arc<AtomicBool>,
    seed: u64,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut retry: Option<Vec<u64>> = None;
    let mut round = 0u64;
    while !stop.load(Ordering::Relaxed) {
        round += 1;
        // Writer 1 sometimes forces a commit, so that kills also land in
        // the middle of commits and log truncation.
        let path = if w == 1 && round % 3 == 0 {
            "/_bulk?refresh=true"
        } else {
            "/_bulk"
        };
        let ids: Vec<u64> = match retry.take() {
            Some(ids) => {
                oracle.lock().unwrap().retries += 1;
                ids
            }
            None => {
                let first = next.fetch_add(BATCH, Ordering::Relaxed);
                (first..first + BATCH).collect()
            }
        };
        oracle.lock().unwrap().sent.extend(ids.iter().copied());
        let body = bulk_body(&ids, w);
        match http
            .try_send("POST", path, Some((body, "application/x-ndjson")))
            .await
        {
            Ok(r) if r.status == 200 => {
                let mut o = oracle.lock().unwrap();
                let mut anomalies = Vec::new();
                let acked = acked_items(&ids, &r, &mut anomalies);
                o.acked.extend(acked);
                o.anomalies.extend(anomalies);
                o.requests_ok += 1;
            }
            Ok(r) => {
                let mut o = oracle.lock().unwrap();
                o.anomalies
                    .push(format!("bulk answered {}: {}", r.status, r.text_preview()));
                o.requests_failed += 1;
            }
            Err(_) => {
                // Killed mid-request or down: not acknowledged, may or may
                // not be stored.
                oracle.lock().unwrap().requests_failed += 1;
                if rng.random_bool(0.5) {
                    retry = Some(ids);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

async fn wait_for_acks(oracle: &Mutex<Oracle>, at_least: usize, server: &BinServer) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = oracle.lock().unwrap().acked.len();
        if n >= at_least {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "writers made no progress ({n} acknowledged, waiting for {at_least}); server log:\n{}",
            server.last_log()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Every document of `index` as (id, `seq` from `_source`), by scrolling.
async fn scroll_all(http: &Http, index: &str) -> Vec<(String, Option<u64>)> {
    let mut out = Vec::new();
    let r = http
        .post_json(
            &format!("/{index}/_search?scroll=1m"),
            &json!({"size": 2000, "sort": ["_doc"], "_source": ["seq"]}),
        )
        .await;
    assert_eq!(r.status, 200, "scroll start: {}", r.text_preview());
    let mut v = r.json();
    loop {
        let hits = v["hits"]["hits"].as_array().cloned().unwrap_or_default();
        if hits.is_empty() {
            break;
        }
        for h in hits {
            let id = h["_id"].as_str().expect("hit without _id").to_string();
            out.push((id, h["_source"]["seq"].as_u64()));
        }
        let sid = v["_scroll_id"].as_str().expect("no _scroll_id").to_string();
        let r = http
            .post_json(
                "/_search/scroll",
                &json!({"scroll": "1m", "scroll_id": sid}),
            )
            .await;
        assert_eq!(r.status, 200, "scroll next: {}", r.text_preview());
        v = r.json();
    }
    out
}

/// Check the index against the oracle after a refresh.
async fn verify(http: &Http, o: &Oracle) {
    http.refresh().await;
    let total = http.count(INDEX, None).await;
    let docs = scroll_all(http, INDEX).await;

    // No id twice; every stored id was sent; `_source` carries its own seq.
    let mut present: HashMap<u64, usize> = HashMap::new();
    for (id, seq) in &docs {
        let n = id_number(id);
        *present.entry(n).or_default() += 1;
        assert!(o.sent.contains(&n), "{id} is stored but was never sent");
        assert_eq!(*seq, Some(n), "{id}: _source.seq is {seq:?}, sent {n}");
    }
    let dups: BTreeSet<u64> = present
        .iter()
        .filter(|(_, c)| **c > 1)
        .map(|(n, _)| *n)
        .collect();
    assert!(dups.is_empty(), "ids stored more than once: {dups:?}");
    assert_eq!(
        total,
        docs.len() as u64,
        "_count disagrees with the documents scrolled"
    );
    assert_eq!(total, present.len() as u64);

    // Every acknowledged id is there.
    let mut missing: Vec<u64> = o
        .acked
        .iter()
        .copied()
        .filter(|n| !present.contains_key(n))
        .collect();
    missing.sort_unstable();
    assert!(
        missing.is_empty(),
        "{} acknowledged ids are missing after kill -9, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(20)]
    );

    // The same through the ids query, in chunks.
    let mut acked: Vec<u64> = o.acked.iter().copied().collect();
    acked.sort_unstable();
    for chunk in acked.chunks(1000) {
        let ids: Vec<String> = chunk.iter().map(|n| doc_id(*n)).collect();
        let c = http
            .count(INDEX, Some(json!({"ids": {"values": ids}})))
            .await;
        assert_eq!(
            c,
            chunk.len() as u64,
            "ids query over acknowledged {}..={}",
            chunk[0],
            chunk[chunk.len() - 1]
        );
    }

    // And by real-time GET for a spread of them, checking the whole source.
    let step = (acked.len() / 40).max(1);
    for n in acked.iter().step_by(step) {
        let r = http.get(&format!("/{INDEX}/_doc/{}", doc_id(*n))).await;
        assert_eq!(r.status, 200, "GET {}: {}", doc_id(*n), r.text_preview());
        let v = r.json();
        assert_eq!(v["found"], json!(true));
        assert_eq!(v["_source"]["seq"], json!(n));
        assert_eq!(
            v["_source"]["message"]
                .as_str()
                .map(|m| m.contains(&format!("event {n} "))),
            Some(true),
            "{}",
            r.text_preview()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_bulk_loses_no_acknowledged_write() {
    let started = Instant::now();
    let seed: u64 = std::env::var("LOGWEAVE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    eprintln!("crash test seed {seed} (LOGWEAVE_CRASH_SEED=<seed> repeats the kill schedule)");
    let mut rng = StdRng::seed_from_u64(seed);

    let root = tempfile::tempdir().expect("tempdir");
    let mut server = BinServer::start(root.path(), None).await;
    // Short per-request timeout: a request to a killed server must not hang.
    let http = Http::with_timeout(server.addr(), Duration::from_secs(30));

    let oracle = Arc::new(Mutex::new(Oracle::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            tokio::spawn(writer(
                w,
                http.clone(),
                next.clone(),
                oracle.clone(),
                stop.clone(),
                seed.wrapping_add(w as u64 + 1),
            ))
        })
        .collect();

    for k in 0..KILLS {
        // Make sure writes flow after each restart, then kill at a random
        // moment: mid-request, mid-fsync, mid-commit, mid-replay-catch-up.
        let have = oracle.lock().unwrap().acked.len();
        wait_for_acks(&oracle, have + BATCH as usize, &server).await;
        tokio::time::sleep(Duration::from_millis(rng.random_range(50..1500))).await;
        server.kill();
        eprintln!(
            "kill {} at {:?}: {} acknowledged so far",
            k + 1,
            started.elapsed(),
            oracle.lock().unwrap().acked.len()
        );
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..300))).await;
        server.launch().await;
    }
    let have = oracle.lock().unwrap().acked.len();
    wait_for_acks(&oracle, have + BATCH as usize, &server).await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.expect("writer task panicked");
    }
    // One more kill with nothing in flight: whatever the last periodic
    // commit did not cover must come back from the log. The first restart
    // is itself killed a moment after it starts (during log replay).
    server.kill();
    server
        .spawn_and_kill_after(Duration::from_millis(rng.random_range(5..60)))
        .await;
    server.launch().await;

    // The writers are done: take the record out of the lock.
    let o = std::mem::take(&mut *oracle.lock().unwrap());
    eprintln!(
        "sent {} ids, acknowledged {}, {} requests ok, {} failed, {} retried, {} launches, {:?}",
        o.sent.len(),
        o.acked.len(),
        o.requests_ok,
        o.requests_failed,
        o.retries,
        server.launches,
        started.elapsed()
    );
    assert!(
        o.anomalies.is_empty(),
        "unexpected answers: {:#?}",
        &o.anomalies[..o.anomalies.len().min(10)]
    );
    assert!(server.launches > KILLS as u32);
    assert!(o.requests_ok > 0 && !o.acked.is_empty());
    verify(&http, &o).await;
    assert!(server.is_running(), "{}", server.last_log());
}

/// Nothing is committed (refresh interval of an hour) when the process is
/// killed: everything must come back from the write-ahead log, with
/// overwrites by explicit id applied in order and auto ids kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_before_any_commit_replays_the_log() {
    let root = tempfile::tempdir().expect("tempdir");
    let config = write_config(root.path(), "refresh_interval_ms = 3600000");
    let mut server = BinServer::start(root.path(), Some(config)).await;
    let http = Http::new(server.addr());

    let mut items = Vec::new();
    for n in 0..500u64 {
        items.push((
            json!({"index": {"_index": "replay", "_id": doc_id(n)}}),
            json!({"seq": n, "version": 1, "message": format!("first {n}")}),
        ));
    }
    // Auto-generated ids: replay must not duplicate them.
    for n in 0..100u64 {
        items.push((
            json!({"index": {"_index": "replay"}}),
            json!({"seq": 10_000 + n, "message": "auto id"}),
        ));
    }
    let r = http.post_ndjson("/_bulk", ndjson(&items)).await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    assert_eq!(r.json()["errors"], json!(false), "{}", r.text_preview());
    // Overwrite the first 50 by id in a second request.
    let over: Vec<(Value, Value)> = (0..50u64)
        .map(|n| {
            (
                json!({"index": {"_index": "replay", "_id": doc_id(n)}}),
                json!({"seq": n, "version": 2, "message": format!("second {n}")}),
            )
        })
        .collect();
    let r = http.post_ndjson("/_bulk", ndjson(&over)).await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    assert_eq!(r.json()["errors"], json!(false), "{}", r.text_preview());

    for round in 0..2 {
        server.kill();
        server.launch().await;
        http.refresh().await;
        assert_eq!(
            http.count("replay", None).await,
            600,
            "round {round}: {}",
            server.all_logs()
        );
        assert_eq!(
            http.count("replay", Some(json!({"term": {"version": 2}})))
                .await,
            50,
            "round {round}"
        );
        assert_eq!(
            http.count("replay", Some(json!({"term": {"version": 1}})))
                .await,
            450,
            "round {round}"
        );
        assert_eq!(
            http.count("replay", Some(json!({"match": {"message": "auto"}})))
                .await,
            100,
            "round {round}"
        );
        let r = http.get("/replay/_doc/doc-7").await;
        assert_eq!(r.status, 200, "{}", r.text_preview());
        assert_eq!(r.json()["_source"]["message"], json!("second 7"));
    }
}

/// A very long `_id` must not be able to corrupt the log: either the item
/// is refused, or it and everything written after it survive a replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_id_cannot_corrupt_the_log() {
    let root = tempfile::tempdir().expect("tempdir");
    let config = write_config(root.path(), "refresh_interval_ms = 3600000");
    let mut server = BinServer::start(root.path(), Some(config)).await;
    let http = Http::new(server.addr());

    // 65,534 ASCII bytes then multi-byte characters: the id is 70,000+ bytes
    // and its 65,535th byte falls inside a character.
    let long_id = format!("{}{}", "a".repeat(65_534), "é".repeat(3000));
    let mut items = vec![(
        json!({"index": {"_index": "longid", "_id": long_id}}),
        json!({"seq": 0, "message": "long id"}),
    )];
    for n in 1..=20u64 {
        items.push((
            json!({"index": {"_index": "longid", "_id": doc_id(n)}}),
            json!({"seq": n, "message": "after the long id"}),
        ));
    }
    let r = http.post_ndjson("/_bulk", ndjson(&items)).await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    let v = r.json();
    let items = v["items"].as_array().expect("items").clone();
    let long_status = items[0]["index"]["status"].as_u64().unwrap_or(0);
    let acked: Vec<u64> = (1..=20u64)
        .filter(|n| {
            matches!(
                items[*n as usize]["index"]["status"].as_u64(),
                Some(200 | 201)
            )
        })
        .collect();
    assert_eq!(acked.len(), 20, "{}", r.text_preview());
    // A later request, too: it must not be cut off with the tail either.
    let r = http
        .post_ndjson(
            "/_bulk",
            ndjson(&[(
                json!({"index": {"_index": "longid", "_id": "later"}}),
                json!({"seq": 99, "message": "later request"}),
            )]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    assert_eq!(r.json()["errors"], json!(false));

    server.kill();
    server.launch().await;
    http.refresh().await;
    let expected = 21 + u64::from(long_status == 200 || long_status == 201);
    assert_eq!(
        http.count("longid", None).await,
        expected,
        "long id item status {long_status}; documents lost in replay. Server log:\n{}",
        server.all_logs()
    );
    if long_status >= 400 {
        let err = &items[0]["index"]["error"];
        assert!(
            err["type"].is_string() && err["reason"].is_string(),
            "{}",
            items[0]
        );
    }
}

/// Bytes of the write-ahead log's segments.
fn wal_bytes(root: &std::path::Path) -> u64 {
    std::fs::read_dir(root.join("data").join("wal"))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// A clean shutdown leaves no log the store already holds, and the
/// sequence numbers carry on: writes after the restart survive `kill -9`
/// (were the next start to reuse old numbers, the store would take them
/// for records it already has and the replay would skip them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_shutdown_empties_the_log_and_later_writes_still_replay() {
    let root = tempfile::tempdir().expect("tempdir");
    let config = write_config(root.path(), "refresh_interval_ms = 3600000");
    let mut server = BinServer::start(root.path(), Some(config)).await;
    let http = Http::new(server.addr());
    let batch = |from: u64, n: u64| -> Vec<(Value, Value)> {
        (from..from + n)
            .map(|i| {
                (
                    json!({"index": {"_index": "sealed", "_id": doc_id(i)}}),
                    json!({"seq": i, "message": format!("event {i}")}),
                )
            })
            .collect()
    };
    let r = http.post_ndjson("/_bulk", ndjson(&batch(0, 300))).await;
    assert_eq!(r.json()["errors"], json!(false), "{}", r.text_preview());
    assert!(
        wal_bytes(root.path()) > 0,
        "acknowledged writes are in the log"
    );
    server.stop();
    assert_eq!(
        wal_bytes(root.path()),
        0,
        "after a clean shutdown the store holds everything: {}",
        server.last_log()
    );
    server.launch().await;
    let http = Http::new(server.addr());
    http.refresh().await;
    assert_eq!(http.count("sealed", None).await, 300);

    // new writes, never committed (the refresh interval is an hour), then kill -9
    let r = http.post_ndjson("/_bulk", ndjson(&batch(300, 200))).await;
    assert_eq!(r.json()["errors"], json!(false), "{}", r.text_preview());
    server.kill();
    server.launch().await;
    let http = Http::new(server.addr());
    http.refresh().await;
    assert_eq!(
        http.count("sealed", None).await,
        500,
        "the writes after the sealed restart were replayed: {}",
        server.all_logs()
    );
    let r = http.get(&format!("/sealed/_doc/{}", doc_id(450))).await;
    assert_eq!(r.json()["_source"]["seq"], 450);
    // and a second clean cycle
    server.stop();
    assert_eq!(wal_bytes(root.path()), 0);
    server.launch().await;
    let http = Http::new(server.addr());
    http.refresh().await;
    assert_eq!(http.count("sealed", None).await, 500);
}

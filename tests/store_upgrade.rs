//! A data directory written by an earlier release (ids stored as text in
//! every document; `tests/fixtures/datadir-v1`, made by
//! `tests/fixtures/make_datadir.py`) still opens: every acknowledged
//! document is found by its id and by search, the deleted one is gone, and
//! the old index takes updates, deletes and new documents, which survive a
//! restart.

mod util;

use std::collections::HashMap;
use std::path::Path;

use serde_json::{json, Value};
use util::{ndjson, test_config, InProcess};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("creating the copy of the fixture");
    for e in std::fs::read_dir(from).expect("reading the fixture") {
        let e = e.expect("a fixture entry");
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copying a fixture file");
        }
    }
}

fn fixture() -> (Vec<(String, Value)>, Vec<String>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let text = std::fs::read_to_string(dir.join("datadir-v1.expected.json"))
        .expect("reading the fixture's expected documents");
    let v: Value = serde_json::from_str(&text).expect("the expected file is JSON");
    let docs = v["docs"]
        .as_array()
        .expect("docs")
        .iter()
        .map(|d| {
            (
                d["_id"].as_str().expect("_id").to_string(),
                d["_source"].clone(),
            )
        })
        .collect();
    let deleted = v["deleted"]
        .as_array()
        .expect("deleted")
        .iter()
        .map(|d| d.as_str().expect("an id").to_string())
        .collect();
    (docs, deleted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_directory_of_the_earlier_layout_opens_and_takes_writes() {
    let (docs, deleted) = fixture();
    let tmp = tempfile::tempdir().expect("temp dir");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/datadir-v1"),
        tmp.path(),
    );
    let s = InProcess::start(test_config(tmp.path())).await;

    // Every acknowledged document, by search and by id.
    let hits = s.http.hits_by_id("fixture").await;
    assert_eq!(hits.len(), docs.len());
    for (id, src) in &docs {
        assert_eq!(hits.get(id), Some(src), "document {id} by search");
    }
    for (id, src) in docs.iter().step_by(7) {
        let r = s.http.get(&format!("/fixture/_doc/{id}")).await;
        assert_eq!(r.status, 200, "GET {id}: {}", r.text_preview());
        assert_eq!(&r.json()["_source"], src, "GET {id}");
    }
    for id in &deleted {
        assert_eq!(s.http.get(&format!("/fixture/_doc/{id}")).await.status, 404);
    }
    let errors = docs.iter().filter(|(_, d)| d["level"] == "ERROR").count() as u64;
    assert_eq!(
        s.http
            .count("fixture", Some(json!({"term": {"level.keyword": "ERROR"}})))
            .await,
        errors
    );
    let ids: Vec<&str> = docs.iter().take(5).map(|(id, _)| id.as_str()).collect();
    let r = s
        .http
        .post_json(
            "/fixture/_search",
            &json!({"query": {"ids": {"values": ids}}}),
        )
        .await;
    assert_eq!(
        r.json()["hits"]["total"]["value"],
        5,
        "{}",
        r.text_preview()
    );

    // ...and its id-like tokens in the term index: a req_id is found.
    let (_, d10) = &docs[10];
    let msg = d10["message"].as_str().expect("message");
    let req_id = msg.rsplit('=').next().expect("a req_id");
    let with_it = docs
        .iter()
        .filter(|(_, d)| d["message"].as_str().is_some_and(|m| m.ends_with(req_id)))
        .count() as u64;
    assert_eq!(
        s.http
            .count("fixture", Some(json!({"match": {"message": req_id}})))
            .await,
        with_it
    );

    // The old index keeps its message columns: the message's `.keyword`
    // still aggregates there.
    let r = s
        .http
        .post_json(
            "/fixture/_search",
            &json!({"size": 0, "aggs": {"m": {"terms": {"field": "message.keyword", "size": 1000}}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    let buckets = r.json()["aggregations"]["m"]["buckets"]
        .as_array()
        .map(Vec::len);
    let distinct: std::collections::HashSet<&Value> =
        docs.iter().map(|(_, d)| &d["message"]).collect();
    assert_eq!(buckets, Some(distinct.len()));

    // Writes into the old index: an update, a delete, new documents.
    let (upd_id, _) = &docs[3];
    let (del_id, _) = &docs[4];
    let r = s
        .http
        .post_json(
            &format!("/fixture/_update/{upd_id}?refresh=true"),
            &json!({"doc": {"message": "updated after the upgrade"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    let r = s
        .http
        .send(
            "DELETE",
            &format!("/fixture/_doc/{del_id}?refresh=true"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    let new: Vec<(Value, Value)> = (0..20)
        .map(|i| {
            (
                json!({"index": {"_index": "fixture"}}),
                json!({"@timestamp": "2026-11-25T00:00:00Z", "level": "ERROR", "message": format!("new {i}")}),
            )
        })
        .collect();
    let r = s
        .http
        .post_ndjson("/_bulk?refresh=true", ndjson(&new))
        .await;
    assert_eq!(r.json()["errors"], false, "{}", r.text_preview());
    let new_ids: Vec<String> = r.json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|it| it["index"]["_id"].as_str().expect("_id").to_string())
        .collect();

    let check = |hits: HashMap<String, Value>| {
        assert_eq!(hits.len(), docs.len() - 1 + new_ids.len());
        assert!(!hits.contains_key(del_id));
        assert_eq!(hits[upd_id]["message"], "updated after the upgrade");
        assert_eq!(hits[upd_id]["service"], docs[3].1["service"]);
        for (id, src) in docs.iter().skip(5) {
            assert_eq!(hits.get(id), Some(src), "document {id}");
        }
        for (i, id) in new_ids.iter().enumerate() {
            assert_eq!(hits[id]["message"], format!("new {i}"));
        }
    };
    check(s.http.hits_by_id("fixture").await);
    s.shutdown().await;

    let s = InProcess::start(test_config(tmp.path())).await;
    check(s.http.hits_by_id("fixture").await);
    let r = s.http.get(&format!("/fixture/_doc/{}", new_ids[7])).await;
    assert_eq!(r.json()["_source"]["message"], "new 7");
    s.shutdown().await;
}

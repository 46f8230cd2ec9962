//! Changing stored documents: deletes (`DELETE /{index}/_doc/{id}`, the
//! `delete` action of `_bulk`), updates (the `update` action of `_bulk`, as
//! Fluent Bit's upsert sends it) and the by-query forms. Deletes are answered as Elasticsearch answers them (`deleted`, `not_found`
//! with 404, `index_not_found_exception`), durable like every write: a
//! delete acknowledged just before `kill -9` holds after the restart. The
//! expected counts follow from the ids the test wrote.

mod util;

use serde_json::{json, Value};
use util::{assert_es_error, ndjson, BinServer, Http};

async fn count(http: &Http, index: &str) -> u64 {
    http.refresh().await;
    http.count(index, None).await
}

#[tokio::test]
async fn deletes_answer_like_elasticsearch_and_survive_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = BinServer::start(dir.path(), None).await;
    let http = Http::new(s.addr());
    // 100 documents with our ids, 20 with generated ones
    let mut items: Vec<(Value, Value)> = (0..100)
        .map(|i| {
            (
                json!({"index": {"_index": "del-a", "_id": format!("d{i}")}}),
                json!({"n": i, "message": format!("doc {i}")}),
            )
        })
        .collect();
    items.extend((0..20).map(|i| {
        (
            json!({"index": {"_index": "del-a"}}),
            json!({"n": 1000 + i}),
        )
    }));
    let r = http.post_ndjson("/_bulk", ndjson(&items)).await;
    assert_eq!(r.json()["errors"], false);
    let mut want = 120u64;
    assert_eq!(count(&http, "del-a").await, want);

    // one document, twice; an index that does not exist
    let r = http.send("DELETE", "/del-a/_doc/d5", None).await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    assert_eq!(r.json()["result"], "deleted");
    want -= 1;
    let r = http.get("/del-a/_doc/d5").await;
    assert_eq!(r.status, 404, "a real-time get does not find it");
    let r = http.send("DELETE", "/del-a/_doc/d5", None).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["result"], "not_found");
    let r = http.send("DELETE", "/nowhere/_doc/x", None).await;
    let (kind, _) = assert_es_error(&r, 404);
    assert_eq!(kind, "index_not_found_exception");
    assert_eq!(count(&http, "del-a").await, want);

    // _bulk: deletes of existing, of one written in the same request, of
    // nothing, and a delete without an id
    let body = [
        r#"{"delete":{"_index":"del-a","_id":"d1"}}"#,
        r#"{"delete":{"_index":"del-a","_id":"d2"}}"#,
        r#"{"index":{"_index":"del-a","_id":"d200"}}"#,
        r#"{"n":200}"#,
        r#"{"delete":{"_index":"del-a","_id":"d200"}}"#,
        r#"{"delete":{"_index":"del-a","_id":"nope"}}"#,
        r#"{"delete":{"_index":"del-a"}}"#,
    ]
    .join("\n")
        + "\n";
    let r = http
        .post_ndjson("/_bulk?refresh=true", body.into_bytes())
        .await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    let v = r.json();
    let items = v["items"].as_array().expect("items");
    let got: Vec<(String, u64)> = items
        .iter()
        .map(|it| {
            let (action, x) = it
                .as_object()
                .and_then(|o| o.iter().next())
                .expect("one action");
            (
                format!("{action}:{}", x["result"].as_str().unwrap_or("error")),
                x["status"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("delete:deleted".to_string(), 200),
            ("delete:deleted".to_string(), 200),
            ("index:created".to_string(), 201),
            ("delete:deleted".to_string(), 200),
            ("delete:not_found".to_string(), 404),
            ("delete:error".to_string(), 400),
        ]
    );
    assert_eq!(v["errors"], true, "the item without an id is an error");
    want -= 2;
    assert_eq!(count(&http, "del-a").await, want);
    // a deleted id can be created again
    let r = http
        .send(
            "PUT",
            "/del-a/_create/d1?refresh=true",
            Some((br#"{"n":1,"again":true}"#.to_vec(), "application/json")),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text_preview());
    want += 1;

    // delete, then at once (nothing refreshed) create the same id again
    let r = http.send("DELETE", "/del-a/_doc/d3", None).await;
    assert_eq!(r.json()["result"], "deleted");
    let r = http
        .send(
            "PUT",
            "/del-a/_create/d3",
            Some((br#"{"n":3,"again":true}"#.to_vec(), "application/json")),
        )
        .await;
    assert_eq!(
        r.status,
        201,
        "the deleted id is free at once: {}",
        r.text_preview()
    );

    // a replaced document is read back new at once (real-time get)
    for v in [1, 2] {
        let r = http
            .send(
                "PUT",
                "/del-a/_doc/d60",
                Some((
                    format!(r#"{{"n":60,"v":{v}}}"#).into_bytes(),
                    "application/json",
                )),
            )
            .await;
        assert!(r.status == 200 || r.status == 201, "{}", r.text_preview());
    }
    assert_eq!(http.get("/del-a/_doc/d60").await.json()["_source"]["v"], 2);

    // acknowledged, not yet searchable, then kill -9: still gone after
    let r = http.send("DELETE", "/del-a/_doc/d50", None).await;
    assert_eq!(r.json()["result"], "deleted");
    let r = http
        .post_ndjson(
            "/_bulk",
            br#"{"delete":{"_index":"del-a","_id":"d51"}}
"#
            .to_vec(),
        )
        .await;
    assert_eq!(r.json()["items"][0]["delete"]["result"], "deleted");
    want -= 2;
    s.kill();
    s.launch().await;
    let http = Http::new(s.addr());
    assert_eq!(
        count(&http, "del-a").await,
        want,
        "the deletes were replayed from the log"
    );
    for gone in ["d5", "d2", "d50", "d51", "d200"] {
        assert_eq!(
            http.get(&format!("/del-a/_doc/{gone}")).await.status,
            404,
            "{gone}"
        );
    }
    assert_eq!(
        http.get("/del-a/_doc/d1").await.json()["_source"]["again"],
        true
    );
    assert_eq!(
        http.get("/del-a/_doc/d3").await.json()["_source"]["again"],
        true
    );
    assert_eq!(http.get("/del-a/_doc/d52").await.status, 200);
}

/// The action and result (or error type) and status of each bulk item.
fn outcomes(v: &Value) -> Vec<(String, u64)> {
    v["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|it| {
            let (action, x) = it
                .as_object()
                .and_then(|o| o.iter().next())
                .expect("one action");
            let what = x["result"]
                .as_str()
                .or_else(|| x["error"]["type"].as_str())
                .unwrap_or("?");
            (
                format!("{action}:{what}"),
                x["status"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

#[tokio::test]
async fn bulk_updates_merge_upsert_and_build_on_the_same_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = util::InProcess::start(util::test_config(dir.path())).await;
    let http = Http::new(s.addr());
    let body = [
        r#"{"index":{"_index":"upd","_id":"u1"}}"#,
        r#"{"n":1,"tags":{"a":1},"message":"first"}"#,
        // builds on the document this request just wrote
        r#"{"update":{"_index":"upd","_id":"u1"}}"#,
        r#"{"doc":{"tags":{"b":2}}}"#,
        r#"{"update":{"_index":"upd","_id":"missing"}}"#,
        r#"{"doc":{"n":9}}"#,
        // Fluent Bit's upsert
        r#"{"update":{"_index":"upd","_id":"u3"}}"#,
        r#"{"doc":{"n":3,"message":"upserted"},"doc_as_upsert":true}"#,
        r#"{"update":{"_index":"upd","_id":"u4"}}"#,
        r#"{"doc":{"n":44},"upsert":{"n":4}}"#,
        r#"{"update":{"_index":"upd","_id":"u1"}}"#,
        r#"{"doc":{"n":1}}"#,
        r#"{"update":{"_index":"upd","_id":"u1"}}"#,
        r#"{"script":{"source":"ctx._source.n += 1"}}"#,
        r#"{"update":{"_index":"upd"}}"#,
        r#"{"doc":{"n":0}}"#,
    ]
    .join("\n")
        + "\n";
    let r = http
        .post_ndjson("/_bulk?refresh=true", body.into_bytes())
        .await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    let v = r.json();
    let want: Vec<(String, u64)> = [
        ("index:created", 201),
        ("update:updated", 200),
        ("update:document_missing_exception", 404),
        ("update:created", 201),
        ("update:created", 201),
        ("update:noop", 200),
        ("update:illegal_argument_exception", 400),
        ("update:action_request_validation_exception", 400),
    ]
    .iter()
    .map(|(a, s)| (a.to_string(), *s))
    .collect();
    assert_eq!(outcomes(&v), want);
    assert_eq!(v["errors"], true);
    let script_reason = v["items"][6]["update"]["error"]["reason"]
        .as_str()
        .unwrap_or("");
    assert!(script_reason.contains("script"), "{script_reason}");
    assert_eq!(count(&http, "upd").await, 3, "u1, u3 and u4");
    let src = |r: util::Resp| r.json()["_source"].clone();
    assert_eq!(
        src(http.get("/upd/_doc/u1").await),
        json!({"n":1,"tags":{"a":1,"b":2},"message":"first"})
    );
    assert_eq!(
        src(http.get("/upd/_doc/u3").await),
        json!({"n":3,"message":"upserted"})
    );
    assert_eq!(src(http.get("/upd/_doc/u4").await), json!({"n":4}));

    // a later request updates the stored (and then the unrefreshed) version
    for n in [2, 3] {
        let body = format!(
            "{{\"update\":{{\"_index\":\"upd\",\"_id\":\"u1\"}}}}\n{{\"doc\":{{\"n\":{n}}}}}\n"
        );
        let r = http.post_ndjson("/_bulk", body.into_bytes()).await;
        assert_eq!(outcomes(&r.json()), [("update:updated".to_string(), 200)]);
    }
    assert_eq!(
        src(http.get("/upd/_doc/u1").await),
        json!({"n":3,"tags":{"a":1,"b":2},"message":"first"})
    );
    let hits = http
        .post_json("/upd/_search", &json!({"query": {"term": {"n": 3}}}))
        .await
        .json();
    assert_eq!(
        hits["hits"]["total"]["value"], 2,
        "u1 and u3 hold n=3: {hits}"
    );
    s.shutdown().await;
}

/// `_delete_by_query` and friends: the expected counts follow from the
/// users the test gave each document.
#[tokio::test]
async fn delete_by_query_removes_every_match_durably_and_runs_as_a_task() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = BinServer::start(dir.path(), None).await;
    let http = Http::new(s.addr());
    let user = |i: usize, every: usize| if i % every == 0 { "alice" } else { "bob" };
    let mut items: Vec<(Value, Value)> = (0..200)
        .map(|i| {
            (
                json!({"index": {"_index": "bq-a"}}),
                json!({"user": user(i, 4), "n": i}),
            )
        })
        .collect();
    items.extend((0..100).map(|i| {
        (
            json!({"index": {"_index": "bq-b"}}),
            json!({"user": user(i, 5), "n": i}),
        )
    }));
    let r = http
        .post_ndjson("/_bulk?refresh=true", ndjson(&items))
        .await;
    assert_eq!(r.json()["errors"], false);
    let alice = || Some(json!({"match": {"user": "alice"}}));
    // and 10 more of alice's, acknowledged but not yet searchable
    let late: Vec<(Value, Value)> = (0..10)
        .map(|i| {
            (
                json!({"index": {"_index": "bq-a"}}),
                json!({"user": "alice", "n": 1000 + i}),
            )
        })
        .collect();
    let r = http.post_ndjson("/_bulk", ndjson(&late)).await;
    assert_eq!(r.json()["errors"], false);

    let r = http
        .post_json(
            "/bq-*/_delete_by_query?refresh=true",
            &json!({"query": alice().unwrap_or_default()}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    let v = r.json();
    assert_eq!(
        (v["total"].as_u64(), v["deleted"].as_u64()),
        (Some(80), Some(80)),
        "{v}"
    );
    assert_eq!(v["failures"], json!([]));
    assert_eq!(
        http.count("bq-*", alice()).await,
        0,
        "with refresh=true the deletes are visible at once"
    );
    assert_eq!(count(&http, "bq-*").await, 230);

    // max_docs and q=
    let r = http
        .post_json(
            "/bq-a/_delete_by_query?q=user:bob&max_docs=7&scroll_size=3",
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    assert_eq!(r.json()["deleted"], 7);
    assert_eq!(r.json()["batches"], 3);
    assert_eq!(count(&http, "bq-a").await, 150 - 7);

    // in the background: a task to poll
    let r = http
        .post_json(
            "/bq-b/_delete_by_query?wait_for_completion=false",
            &json!({"query": {"range": {"n": {"lt": 50}}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    let task = r.json()["task"].as_str().expect("task id").to_string();
    let v = http
        .get(&format!(
            "/_tasks/{task}?wait_for_completion=true&timeout=30s"
        ))
        .await
        .json();
    assert_eq!(v["completed"], true, "{v}");
    // bq-b's alice documents (n % 5 == 0) are gone already: 40 bob ones below 50
    assert_eq!(v["response"]["deleted"], 40, "{v}");
    assert_eq!(v["task"]["action"], "indices:data/write/delete/byquery");
    assert_eq!(count(&http, "bq-b").await, 40);
    let r = http.get("/_tasks").await;
    assert_eq!(r.status, 200);
    assert!(r.json()["nodes"].is_object());
    let r = http.get("/_tasks/elsewhere:1").await;
    assert_eq!(assert_es_error(&r, 404).0, "resource_not_found_exception");
    let r = http.get("/_tasks/not-an-id").await;
    assert_eq!(assert_es_error(&r, 400).0, "illegal_argument_exception");

    // refused requests name what is wrong
    for (path, body, want) in [
        (
            "/bq-a/_delete_by_query",
            json!({}),
            "action_request_validation_exception",
        ),
        (
            "/bq-a/_delete_by_query",
            json!({"query": {"match_all": {}}, "sizee": 1}),
            "parsing_exception",
        ),
        (
            "/bq-a/_delete_by_query?conflicts=maybe",
            json!({"query": {"match_all": {}}}),
            "illegal_argument_exception",
        ),
        (
            "/bq-a/_update_by_query",
            json!({"script": {"source": "ctx._source.n++"}}),
            "illegal_argument_exception",
        ),
        (
            "/bq-a/_delete_by_query",
            json!({"query": {"nope": {}}}),
            "parsing_exception",
        ),
    ] {
        let r = http.post_json(path, &body).await;
        assert_eq!(assert_es_error(&r, 400).0, want, "{path} {body}");
    }
    let r = http
        .post_json(
            "/nowhere/_delete_by_query",
            &json!({"query": {"match_all": {}}}),
        )
        .await;
    assert_eq!(assert_es_error(&r, 404).0, "index_not_found_exception");

    // update by query without a script: every match counted, nothing lost
    let r = http
        .post_json("/bq-a/_update_by_query?q=user:bob", &json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    assert_eq!(r.json()["updated"], 150 - 7);
    assert_eq!(count(&http, "bq-a").await, 150 - 7);

    // acknowledged deletes hold across kill -9
    let r = http
        .post_json(
            "/bq-a/_delete_by_query",
            &json!({"query": {"range": {"n": {"gte": 100}}}}),
        )
        .await;
    let gone = r.json()["deleted"].as_u64().expect("deleted");
    assert!(gone > 0);
    s.kill();
    s.launch().await;
    let http = Http::new(s.addr());
    assert_eq!(count(&http, "bq-a").await, 150 - 7 - gone);
    assert_eq!(
        http.count("bq-a", Some(json!({"range": {"n": {"gte": 100}}})))
            .await,
        0
    );
}

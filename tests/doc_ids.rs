//! Generated ids are kept as numbers in columns and client-chosen ids as
//! text: every way of reaching a document by id must find it either way
//! (GET, `ids`, `term` and `prefix` on `_id`, hits), and replacing or
//! deleting a document by id must remove the old version, one at a time or
//! many in one bulk, across segments and a restart. The oracle is the ids the
//! server acknowledged.

mod util;

use std::collections::{HashMap, HashSet};

use serde_json::{json, Value};
use util::{ndjson, test_config, InProcess};

const INDEX: &str = "ids";

async fn count(s: &InProcess, q: Value) -> u64 {
    s.http.count(INDEX, Some(q)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_are_found_replaced_and_deleted_by_generated_and_chosen_ids() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let s = InProcess::start(test_config(tmp.path())).await;

    // Four bulks with a refresh after each: several segments.
    let mut expected: HashMap<String, Value> = HashMap::new();
    let mut generated = Vec::new();
    for b in 0..4 {
        let items: Vec<(Value, Value)> = (0..600)
            .map(|i| {
                let n = b * 600 + i;
                let action = if n % 50 == 0 {
                    // chosen ids, one of them shaped like a generated one
                    let id = if n == 0 { "abcdefghijklmnopqrst".to_string() } else { format!("mine-{n}") };
                    json!({"index": {"_index": INDEX, "_id": id}})
                } else {
                    json!({"index": {"_index": INDEX}})
                };
                (action, json!({"@timestamp": "2026-11-24T12:00:00Z", "n": n, "message": format!("event {n}")}))
            })
            .collect();
        let r = s
            .http
            .post_ndjson("/_bulk?refresh=true", ndjson(&items))
            .await;
        assert_eq!(r.json()["errors"], false, "{}", r.text_preview());
        for (it, (action, src)) in r.json()["items"]
            .as_array()
            .expect("items")
            .iter()
            .zip(&items)
        {
            let id = it["index"]["_id"].as_str().expect("_id").to_string();
            if action["index"].get("_id").is_none() {
                generated.push(id.clone());
            }
            expected.insert(id, src.clone());
        }
    }
    assert_eq!(expected.len(), 2400);
    assert_eq!(
        s.http.hits_by_id(INDEX).await,
        expected,
        "hits carry the acknowledged ids"
    );

    // By id, one and many.
    for id in generated
        .iter()
        .step_by(97)
        .chain(["abcdefghijklmnopqrst".to_string(), "mine-50".to_string()].iter())
    {
        let r = s.http.get(&format!("/{INDEX}/_doc/{id}")).await;
        assert_eq!(r.status, 200, "GET {id}");
        assert_eq!(r.json()["_source"], expected[id], "GET {id}");
        assert_eq!(r.json()["_id"], id.as_str());
    }
    let some: Vec<&String> = generated.iter().step_by(13).take(150).collect();
    assert_eq!(count(&s, json!({"ids": {"values": some}})).await, 150);
    assert_eq!(count(&s, json!({"ids": {"values": &some[..10]}})).await, 10);
    assert_eq!(count(&s, json!({"terms": {"_id": &some[..3]}})).await, 3);
    assert_eq!(count(&s, json!({"term": {"_id": generated[5]}})).await, 1);
    assert_eq!(count(&s, json!({"term": {"_id": "mine-100"}})).await, 1);
    let prefix = &generated[0][..10];
    let with_prefix = expected.keys().filter(|id| id.starts_with(prefix)).count() as u64;
    assert!(with_prefix > 1);
    assert_eq!(
        count(&s, json!({"prefix": {"_id": prefix}})).await,
        with_prefix
    );
    let unknown = "zzzzzzzzzzzzzzzzzzzz";
    assert_eq!(
        s.http.get(&format!("/{INDEX}/_doc/{unknown}")).await.status,
        404
    );

    // Replace and delete one at a time...
    for id in &generated[..5] {
        let r = s
            .http
            .send("DELETE", &format!("/{INDEX}/_doc/{id}?refresh=true"), None)
            .await;
        assert_eq!(r.status, 200, "{}", r.text_preview());
        expected.remove(id);
    }
    for id in &generated[5..10] {
        let r = s
            .http
            .post_json(
                &format!("/{INDEX}/_update/{id}?refresh=true"),
                &json!({"doc": {"message": "updated"}}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text_preview());
        expected.get_mut(id).expect("updated doc")["message"] = json!("updated");
    }
    // ...and many in one bulk: index over generated ids, delete others.
    let mut items = Vec::new();
    for id in &generated[10..110] {
        items.push((
            json!({"index": {"_index": INDEX, "_id": id}}),
            json!({"replaced": true}),
        ));
        expected.insert(id.clone(), json!({"replaced": true}));
    }
    let mut body = ndjson(&items);
    for id in &generated[110..300] {
        body.extend_from_slice(
            format!("{}\n", json!({"delete": {"_index": INDEX, "_id": id}})).as_bytes(),
        );
        expected.remove(id);
    }
    let r = s.http.post_ndjson("/_bulk?refresh=true", body).await;
    assert_eq!(r.json()["errors"], false, "{}", r.text_preview());
    let gone: HashSet<&String> = generated[..5].iter().chain(&generated[110..300]).collect();

    let check = |hits: HashMap<String, Value>| {
        assert_eq!(hits.len(), 2400 - gone.len());
        assert_eq!(hits, expected);
    };
    check(s.http.hits_by_id(INDEX).await);
    s.shutdown().await;
    let s = InProcess::start(test_config(tmp.path())).await;
    check(s.http.hits_by_id(INDEX).await);
    for id in gone.iter().take(5) {
        assert_eq!(
            s.http.get(&format!("/{INDEX}/_doc/{id}")).await.status,
            404,
            "{id}"
        );
    }
    s.shutdown().await;
}

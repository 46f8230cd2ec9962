//! The message fields of new indices keep no `.keyword` column; exact,
//! prefix, wildcard, regexp and fuzzy matches on `message.keyword` must give
//! what the column gave (checked against counts from the generated
//! messages), while aggregating or sorting on it is refused with an error
//! that names it, and other text fields keep their columns.

mod util;

use serde_json::{json, Value};
use util::{assert_es_error, ndjson, test_config, InProcess};

const INDEX: &str = "msgs";

fn messages() -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..400 {
        out.push(match i % 8 {
            0 => "connection reset by peer".to_string(),
            1 => "peer reset by connection".to_string(),
            2 => "Connection reset by peer".to_string(),
            3 => format!("run-{} step {} done", i % 3, i),
            4 => format!("connection reset by peer after {i} ms"),
            5 => "x".repeat(300), // over ignore_above: no exact value
            6 => format!("user=u{} logged in", i % 5),
            _ => "cache warmed".to_string(),
        });
    }
    out
}

async fn count(s: &InProcess, q: Value) -> u64 {
    s.http.count(INDEX, Some(q)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_matches_on_message_keyword_without_a_column() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let s = InProcess::start(test_config(tmp.path())).await;
    let msgs = messages();
    let items: Vec<(Value, Value)> = msgs
        .iter()
        .enumerate()
        .map(|(i, m)| {
            (
                json!({"index": {"_index": INDEX}}),
                json!({"@timestamp": "2026-11-24T12:00:00Z", "message": m, "user": format!("u{}", i % 5)}),
            )
        })
        .collect();
    // two bulks: two segments
    for half in items.chunks(200) {
        let r = s
            .http
            .post_ndjson("/_bulk?refresh=true", ndjson(half))
            .await;
        assert_eq!(r.json()["errors"], false, "{}", r.text_preview());
    }
    let n =
        |f: &dyn Fn(&str) -> bool| msgs.iter().filter(|m| m.len() <= 256 && f(m)).count() as u64;

    let exact = "connection reset by peer";
    assert_eq!(
        count(&s, json!({"term": {"message.keyword": exact}})).await,
        n(&|m| m == exact)
    );
    assert_eq!(
        count(
            &s,
            json!({"term": {"message.keyword": {"value": exact, "case_insensitive": true}}})
        )
        .await,
        n(&|m| m.eq_ignore_ascii_case(exact))
    );
    assert_eq!(
        count(
            &s,
            json!({"terms": {"message.keyword": [exact, "cache warmed", "nothing"]}})
        )
        .await,
        n(&|m| m == exact || m == "cache warmed")
    );
    for p in [
        "connection reset",
        "connection re",
        "run-1",
        "run-",
        "u",
        "x",
    ] {
        assert_eq!(
            count(&s, json!({"prefix": {"message.keyword": p}})).await,
            n(&|m| m.starts_with(p)),
            "prefix {p}"
        );
    }
    assert_eq!(
        count(
            &s,
            json!({"wildcard": {"message.keyword": "connection*ms"}})
        )
        .await,
        n(&|m| m.starts_with("connection") && m.ends_with("ms"))
    );
    assert_eq!(
        count(
            &s,
            json!({"regexp": {"message.keyword": "run-[02] step [0-9]+ done"}})
        )
        .await,
        n(&|m| m.starts_with("run-0 ") || m.starts_with("run-2 "))
    );
    assert_eq!(
        count(
            &s,
            json!({"fuzzy": {"message.keyword": {"value": "cache warmd"}}})
        )
        .await,
        n(&|m| m == "cache warmed")
    );
    let lucene = r#"message.keyword:"cache warmed""#;
    assert_eq!(
        count(&s, json!({"query_string": {"query": lucene}})).await,
        n(&|m| m == "cache warmed")
    );
    // text search is untouched
    assert_eq!(
        count(&s, json!({"match_phrase": {"message": exact}})).await,
        msgs.iter()
            .filter(|m| m.to_lowercase().contains(exact))
            .count() as u64
    );

    // other text fields keep their column
    let r = s
        .http
        .post_json(
            &format!("/{INDEX}/_search"),
            &json!({"size": 0, "aggs": {"u": {"terms": {"field": "user.keyword"}}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    assert_eq!(
        r.json()["aggregations"]["u"]["buckets"]
            .as_array()
            .map(Vec::len),
        Some(5)
    );

    // the message's `.keyword` is not aggregatable, and says so
    for body in [
        json!({"size": 0, "aggs": {"m": {"terms": {"field": "message.keyword"}}}}),
        json!({"sort": [{"message.keyword": "asc"}]}),
    ] {
        let r = s.http.post_json(&format!("/{INDEX}/_search"), &body).await;
        let (_, reason) = assert_es_error(&r, 400);
        assert!(reason.contains("message.keyword"), "{reason}");
    }
    let m = s.http.get(&format!("/{INDEX}/_mapping")).await.json();
    let kw = &m[INDEX]["mappings"]["properties"]["message"]["fields"]["keyword"];
    assert_eq!(kw["doc_values"], false, "{m}");
    let caps = s
        .http
        .get(&format!("/{INDEX}/_field_caps?fields=*.keyword"))
        .await
        .json();
    assert_eq!(
        caps["fields"]["message.keyword"]["keyword"]["aggregatable"], false,
        "{caps}"
    );
    assert_eq!(
        caps["fields"]["user.keyword"]["keyword"]["aggregatable"], true,
        "{caps}"
    );
    s.shutdown().await;
}

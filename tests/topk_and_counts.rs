//! The shortcuts of the search path checked against answers computed from
//! the generated documents: the best k by a numeric sort key (walked
//! forwards or backwards depending on how a segment is ordered, with ties
//! and missing values), `terms` counted from batched column reads
//! (single-valued, missing, multi-valued), and totals counted without
//! listing documents.

mod util;

use std::collections::BTreeMap;

use serde_json::{json, Value};
use util::{ndjson, test_config, InProcess};

const LEVELS: [&str; 3] = ["INFO", "WARN", "ERROR"];

/// One generated document: time, `n` (many ties, sometimes absent),
/// level (sometimes absent), tags (none, one or two).
struct Doc {
    ts: i64,
    n: Option<i64>,
    level: Option<&'static str>,
    tags: Vec<&'static str>,
}

fn docs() -> Vec<Vec<Doc>> {
    let start = 1_795_000_000_000i64;
    let mut batches = Vec::new();
    for batch in 0..3i64 {
        let mut b = Vec::new();
        for i in 0..500i64 {
            // batch 0 ascending in time, batch 1 descending, batch 2 shuffled
            let pos = match batch {
                0 => i,
                1 => 499 - i,
                _ => (i * 211) % 500,
            };
            let ts = start + (batch * 500 + pos) * 1_000 + (i % 3); // some equal seconds
            b.push(Doc {
                ts,
                n: (i % 11 != 0).then_some((pos * 7 + batch) % 40),
                level: (i % 13 != 0).then(|| LEVELS[(i % 5) as usize % 3]),
                tags: match i % 4 {
                    0 => vec![],
                    1 => vec!["a"],
                    2 => vec!["b", "c"],
                    _ => vec!["a", "c"],
                },
            });
        }
        batches.push(b);
    }
    batches
}

#[tokio::test]
async fn best_k_terms_and_totals_match_the_generated_documents() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = InProcess::start(test_config(dir.path())).await;
    let batches = docs();
    for b in &batches {
        let items: Vec<(Value, Value)> = b
            .iter()
            .map(|d| {
                let mut doc = json!({
                    "@timestamp": logweave::event::timestamp::format_iso_millis(d.ts),
                    "t": d.ts,
                    "message": if d.ts % 2 == 0 { "even tick" } else { "odd tick" },
                    "tags": d.tags,
                });
                if let Some(n) = d.n {
                    doc["n"] = json!(n);
                }
                if let Some(l) = d.level {
                    doc["level"] = json!(l);
                }
                (json!({"index": {"_index": "topk"}}), doc)
            })
            .collect();
        // one refresh per batch: each batch is its own segment
        let r = s
            .http
            .post_ndjson("/_bulk?refresh=true", ndjson(&items))
            .await;
        assert_eq!(r.json()["errors"], false, "{}", r.text_preview());
    }
    let all: Vec<&Doc> = batches.iter().flatten().collect();

    // the best k by n and by time, both orders, with an offset
    for (field, order) in [
        ("n", "asc"),
        ("n", "desc"),
        ("@timestamp", "asc"),
        ("@timestamp", "desc"),
    ] {
        let key = |d: &Doc| if field == "n" { d.n } else { Some(d.ts) };
        // missing values sort last in both orders, as in Elasticsearch
        let mut want: Vec<Option<i64>> = all.iter().map(|d| key(d)).collect();
        want.sort_by(|a, b| match (a, b) {
            (Some(x), Some(y)) if order == "asc" => x.cmp(y),
            (Some(x), Some(y)) => y.cmp(x),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        });
        for (from, size) in [(0, 1), (0, 7), (0, 60), (5, 20), (1480, 40)] {
            let body = json!({"from": from, "size": size, "sort": [{field: order}]});
            let r = s.http.post_json("/topk/_search", &body).await;
            let hits = r.json()["hits"]["hits"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let got: Vec<Option<i64>> = hits
                .iter()
                .map(|h| {
                    let src = &h["_source"];
                    if field == "n" {
                        src["n"].as_i64()
                    } else {
                        src["t"].as_i64()
                    }
                })
                .collect();
            let expect: Vec<Option<i64>> = want.iter().skip(from).take(size).copied().collect();
            assert_eq!(got, expect, "sort {field} {order} from {from} size {size}");
            let mut ids: Vec<&str> = hits.iter().filter_map(|h| h["_id"].as_str()).collect();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(
                ids.len(),
                hits.len(),
                "a document shown twice: {field} {order}"
            );
        }
    }

    // terms: single-valued with absent values, with and without `missing`
    let mut levels: BTreeMap<String, u64> = BTreeMap::new();
    let mut no_level = 0u64;
    for d in &all {
        match d.level {
            Some(l) => *levels.entry(l.into()).or_default() += 1,
            None => no_level += 1,
        }
    }
    let mut with_missing = levels.clone();
    with_missing.insert("none".into(), no_level);
    // terms: several values per document
    let mut tags: BTreeMap<String, u64> = BTreeMap::new();
    for d in &all {
        for t in &d.tags {
            *tags.entry(t.to_string()).or_default() += 1;
        }
    }
    for (terms, want) in [
        (json!({"field": "level.keyword"}), &levels),
        (
            json!({"field": "level.keyword", "missing": "none"}),
            &with_missing,
        ),
        (json!({"field": "tags.keyword"}), &tags),
    ] {
        let body = json!({"size": 0, "aggs": {"x": {"terms": terms}}});
        let j = s.http.post_json("/topk/_search", &body).await.json();
        let got: BTreeMap<String, u64> = j["aggregations"]["x"]["buckets"]
            .as_array()
            .map(|bs| {
                bs.iter()
                    .map(|b| {
                        let k = b["key"].as_str().unwrap_or("?").to_string();
                        (k, b["doc_count"].as_u64().unwrap_or(0))
                    })
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(&got, want, "{body}");
    }

    // totals without hits: everything, and a scored query
    for (query, want) in [
        (json!({"match_all": {}}), all.len()),
        (
            json!({"match": {"message": "even"}}),
            all.iter().filter(|d| d.ts % 2 == 0).count(),
        ),
    ] {
        let body = json!({"size": 0, "track_total_hits": true, "query": query});
        let r = s.http.post_json("/topk/_search", &body).await;
        let j = r.json();
        assert_eq!(
            j["hits"]["total"]["value"].as_u64(),
            Some(want as u64),
            "{body}"
        );
        assert_eq!(j["hits"]["max_score"], Value::Null);
    }
}

//! Aliases and index templates, as shippers and tools use them: Beats and
//! Logstash install a template on start and write through an alias;
//! dashboards read through one. Every expected count follows from the
//! documents the test wrote, and the catalog must survive `kill -9`.

mod util;

use serde_json::{json, Value};
use util::{assert_es_error, ndjson, BinServer, Http};

async fn put_json(http: &Http, path: &str, body: &Value) -> util::Resp {
    http.send(
        "PUT",
        path,
        Some((body.to_string().into_bytes(), "application/json")),
    )
    .await
}

/// `n` documents into `index`, `errors` of them at level ERROR.
fn docs(index: &str, n: usize, errors: usize) -> Vec<(Value, Value)> {
    (0..n)
        .map(|i| {
            let level = if i < errors { "ERROR" } else { "INFO" };
            (
                json!({"index": {"_index": index, "_id": format!("{index}-{i}")}}),
                json!({"@timestamp": "2026-12-01T10:00:00Z", "level": level, "message": format!("event {i}")}),
            )
        })
        .collect()
}

async fn count(http: &Http, index: &str) -> u64 {
    http.refresh().await;
    http.count(index, None).await
}

#[tokio::test]
async fn aliases_read_and_write_like_elasticsearch_and_survive_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = BinServer::start(dir.path(), None).await;
    let http = Http::new(s.addr());
    let (a, b) = ("al-2026.12.01", "al-2026.12.02");
    let mut items = docs(a, 30, 10);
    items.extend(docs(b, 20, 4));
    let r = http
        .post_ndjson("/_bulk?refresh=true", ndjson(&items))
        .await;
    assert_eq!(r.json()["errors"], false, "{}", r.text_preview());

    let r = http
        .post_json(
            "/_aliases",
            &json!({"actions": [
                {"add": {"indices": [a, b], "alias": "al"}},
                {"add": {"index": b, "alias": "al-write", "is_write_index": true}},
                {"add": {"index": a, "alias": "al-write", "is_write_index": false}},
            ]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    assert_eq!(r.json()["acknowledged"], true);

    // reads through the alias: both indices, once each
    assert_eq!(count(&http, "al").await, 50);
    assert_eq!(count(&http, &format!("al,{a}")).await, 50);
    assert_eq!(count(&http, "al*").await, 50);
    let errors = http
        .count("al", Some(json!({"match": {"level": "ERROR"}})))
        .await;
    assert_eq!(errors, 14);

    // writes through the write alias land in its write index
    let r = put_json(&http, "/al-write/_doc/w1", &json!({"level": "WARN"})).await;
    assert!(r.status == 200 || r.status == 201, "{}", r.text_preview());
    assert_eq!(r.json()["_index"], b);
    let r = http
        .post_ndjson(
            "/_bulk",
            b"{\"index\":{\"_index\":\"al-write\",\"_id\":\"w2\"}}\n{\"level\":\"WARN\"}\n"
                .to_vec(),
        )
        .await;
    assert_eq!(r.json()["errors"], false, "{}", r.text_preview());
    assert_eq!(r.json()["items"][0]["index"]["_index"], b);
    assert_eq!(http.get(&format!("/{b}/_doc/w2")).await.status, 200);
    assert_eq!(http.get("/al-write/_doc/w1").await.status, 200);
    assert_eq!(count(&http, b).await, 22);

    // an alias of two indices without a write index takes no writes
    let r = put_json(&http, "/al/_doc/x", &json!({"level": "WARN"})).await;
    let (kind, reason) = assert_es_error(&r, 400);
    assert_eq!(kind, "illegal_argument_exception");
    assert!(reason.contains("no write index"), "{reason}");
    let r = http
        .post_ndjson(
            "/_bulk",
            b"{\"index\":{\"_index\":\"al\"}}\n{\"level\":\"WARN\"}\n".to_vec(),
        )
        .await;
    assert_eq!(r.json()["errors"], true);
    assert_eq!(r.json()["items"][0]["index"]["status"], 400);

    // changes Elasticsearch refuses, each all or nothing
    let refused = [
        (
            json!({"add": {"index": a, "alias": b}}),
            400,
            "invalid_alias_name_exception",
        ),
        (
            json!({"add": {"index": "al", "alias": "al2"}}),
            400,
            "illegal_argument_exception",
        ),
        (
            json!({"add": {"index": a, "alias": "al-write", "is_write_index": true}}),
            400,
            "illegal_state_exception",
        ),
        (
            json!({"add": {"index": "missing-index", "alias": "x"}}),
            404,
            "index_not_found_exception",
        ),
        (
            json!({"remove": {"index": a, "alias": "never"}}),
            404,
            "aliases_not_found_exception",
        ),
        (
            json!({"add": {"index": a, "alias": "f", "filter": {"term": {"level": "ERROR"}}}}),
            400,
            "illegal_argument_exception",
        ),
        (
            json!({"rename": {"index": a, "alias": "x"}}),
            400,
            "x_content_parse_exception",
        ),
    ];
    for (action, status, want) in refused {
        let body = json!({"actions": [{"add": {"index": a, "alias": "partial"}}, action.clone()]});
        let r = http.post_json("/_aliases", &body).await;
        let (kind, _) = assert_es_error(&r, status);
        assert_eq!(kind, want, "{action}");
    }
    assert_eq!(
        http.get("/_alias/partial").await.status,
        404,
        "a refused request changes nothing"
    );

    // the reads tools use
    let v = http.get("/_alias/al").await.json();
    assert_eq!(
        v,
        json!({a: {"aliases": {"al": {}}}, b: {"aliases": {"al": {}}}})
    );
    let v = http.get(&format!("/{b}/_alias")).await.json();
    assert_eq!(
        v,
        json!({b: {"aliases": {"al": {}, "al-write": {"is_write_index": true}}}})
    );
    let r = http.get("/_alias/al,nope").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "alias [nope] missing");
    assert_eq!(r.json()[a]["aliases"]["al"], json!({}));
    assert_eq!(http.send("HEAD", "/_alias/al", None).await.status, 200);
    assert_eq!(http.send("HEAD", "/_alias/nope", None).await.status, 404);
    assert_eq!(
        http.get(&format!("/{a}")).await.json()[a]["aliases"],
        json!({"al": {}, "al-write": {"is_write_index": false}})
    );
    let rows = http
        .get("/_cat/aliases?format=json&s=alias,index")
        .await
        .json();
    let got: Vec<(String, String, String)> = rows
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["alias"].as_str().unwrap_or_default().to_string(),
                r["index"].as_str().unwrap_or_default().to_string(),
                r["is_write_index"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let want: Vec<(String, String, String)> = [
        ("al", a, "-"),
        ("al", b, "-"),
        ("al-write", a, "false"),
        ("al-write", b, "true"),
    ]
    .iter()
    .map(|(x, y, z)| (x.to_string(), y.to_string(), z.to_string()))
    .collect();
    assert_eq!(got, want);
    let v = http.get("/_resolve/index/al*").await.json();
    assert_eq!(v["indices"].as_array().map(Vec::len), Some(2), "{v}");
    assert_eq!(v["indices"][0]["aliases"], json!(["al", "al-write"]));
    assert_eq!(v["aliases"][0], json!({"name": "al", "indices": [a, b]}));

    // kill -9: the aliases and what was written through them hold
    s.kill();
    s.launch().await;
    let http = Http::new(s.addr());
    assert_eq!(count(&http, "al").await, 52);
    assert_eq!(
        http.get("/_alias/al-write").await.json()[b]["aliases"]["al-write"]["is_write_index"],
        true
    );

    // removal by path, by action, and by deleting an index
    let r = http.send("DELETE", &format!("/{a}/_alias/al"), None).await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    assert_eq!(count(&http, "al").await, 22);
    let r = http.send("DELETE", &format!("/{a}/_alias/al"), None).await;
    assert_eq!(assert_es_error(&r, 404).0, "aliases_not_found_exception");
    let r = http
        .post_json(
            "/_aliases",
            &json!({"actions": [{"remove_index": {"index": a}}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    assert_eq!(http.send("HEAD", &format!("/{a}"), None).await.status, 404);
    assert_eq!(
        http.get("/_alias/al-write").await.json(),
        json!({b: {"aliases": {"al-write": {"is_write_index": true}}}})
    );
    let r = http.send("DELETE", &format!("/{b}"), None).await;
    assert_eq!(r.status, 200);
    assert_eq!(http.get("/_alias/al-write").await.status, 404);
    assert_eq!(http.get("/_alias").await.json(), json!({}));
}

/// The type `GET /{index}/_mapping` gives a field.
async fn field_type(http: &Http, index: &str, field: &str) -> Value {
    let v = http.get(&format!("/{index}/_mapping")).await.json();
    v[index]["mappings"]["properties"][field]["type"].clone()
}

#[tokio::test]
async fn templates_shape_new_daily_indices_and_survive_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = BinServer::start(dir.path(), None).await;
    let http = Http::new(s.addr());

    // what Beats and Logstash install: a component, a composable template
    // using it, and a legacy template on overlapping patterns
    let r = put_json(
        &http,
        "/_component_template/tp-numbers",
        &json!({"template": {"mappings": {"properties": {"latency_ms": {"type": "long"}}}}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    let r = put_json(
        &http,
        "/_index_template/tp-app",
        &json!({
            "index_patterns": ["tp-app-*"],
            "priority": 10,
            "composed_of": ["tp-numbers"],
            "version": 3,
            "template": {
                "settings": {"number_of_shards": 1},
                "mappings": {"properties": {
                    "code": {"type": "keyword"},
                    "where": {"type": "geo_point"},
                }},
                "aliases": {"tp-app": {}},
            },
        }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    let r = put_json(
        &http,
        "/_template/tp-legacy",
        &json!({
            "index_patterns": ["tp-app-*", "tp-old-*"],
            "order": 1,
            "mappings": {"_doc": {"properties": {"code": {"type": "long"}, "old": {"type": "keyword"}}}},
        }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text_preview());

    // refused, with the reason
    let refused = [
        (
            "/_index_template/bad1",
            json!({"index_patterns": ["x-*"], "composed_of": ["nope"]}),
            "invalid_index_template_exception",
        ),
        (
            "/_index_template/bad2",
            json!({"index_patterns": ["tp-app-2026*"], "priority": 10}),
            "illegal_argument_exception",
        ),
        (
            "/_index_template/bad3",
            json!({"index_patterns": ["x-*"], "priorty": 1}),
            "x_content_parse_exception",
        ),
        (
            "/_index_template/bad4",
            json!({"index_patterns": ["x-*"], "template": {"mappings": {"properties": {"a": {"type": "strnig"}}}}}),
            "mapper_parsing_exception",
        ),
        (
            "/_index_template/bad5",
            json!({"template": {}}),
            "action_request_validation_exception",
        ),
    ];
    for (path, body, want) in refused {
        let r = put_json(&http, path, &body).await;
        assert_eq!(assert_es_error(&r, 400).0, want, "{path} {body}");
    }
    let r = http
        .send("DELETE", "/_component_template/tp-numbers", None)
        .await;
    assert_eq!(
        assert_es_error(&r, 400).0,
        "illegal_argument_exception",
        "still in use"
    );

    // daily indices created by writes get the types and the alias
    let mut items = Vec::new();
    for (i, code) in ["200", "200", "500", "404", "200"].iter().enumerate() {
        items.push((
            json!({"index": {"_index": "tp-app-2026.12.01"}}),
            json!({"@timestamp": "2026-12-01T10:00:00Z", "code": code.parse::<u64>().unwrap_or(0), "latency_ms": i * 10, "message": "x"}),
        ));
    }
    items.push((
        json!({"index": {"_index": "tp-old-2026.12.01"}}),
        json!({"@timestamp": "2026-12-01T10:00:00Z", "code": 7, "old": "v1 x", "message": "y"}),
    ));
    let r = http
        .post_ndjson("/_bulk?refresh=true", ndjson(&items))
        .await;
    assert_eq!(r.json()["errors"], false, "{}", r.text_preview());
    assert_eq!(
        field_type(&http, "tp-app-2026.12.01", "code").await,
        "keyword"
    );
    assert_eq!(
        field_type(&http, "tp-app-2026.12.01", "latency_ms").await,
        "long"
    );
    assert_eq!(field_type(&http, "tp-old-2026.12.01", "code").await, "long");
    assert_eq!(
        field_type(&http, "tp-old-2026.12.01", "old").await,
        "keyword"
    );
    // the numbers sent for a keyword field count as exact values
    let r = http
        .post_json(
            "/tp-app/_search",
            &json!({"size": 0, "aggs": {"c": {"terms": {"field": "code"}}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    let buckets: Vec<(String, u64)> = r.json()["aggregations"]["c"]["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .map(|b| {
            (
                b["key"].as_str().unwrap_or("?").to_string(),
                b["doc_count"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        buckets,
        vec![
            ("200".to_string(), 3),
            ("404".to_string(), 1),
            ("500".to_string(), 1)
        ]
    );
    assert_eq!(count(&http, "tp-app").await, 5);

    // the reads
    let v = http.get("/_index_template/tp-app").await.json();
    assert_eq!(v["index_templates"][0]["name"], "tp-app");
    let t = &v["index_templates"][0]["index_template"];
    assert_eq!(t["index_patterns"], json!(["tp-app-*"]));
    assert_eq!(t["composed_of"], json!(["tp-numbers"]));
    assert_eq!(t["priority"], 10);
    let r = http.get("/_index_template/nope").await;
    assert_eq!(assert_es_error(&r, 404).0, "resource_not_found_exception");
    let v = http.get("/_template/tp-legacy").await.json();
    assert_eq!(v["tp-legacy"]["order"], 1);
    assert_eq!(
        v["tp-legacy"]["index_patterns"],
        json!(["tp-app-*", "tp-old-*"])
    );
    let r = http.get("/_template/nope").await;
    assert_eq!((r.status, r.json()), (404, json!({})));
    assert_eq!(
        http.send("HEAD", "/_index_template/tp-app", None)
            .await
            .status,
        200
    );
    assert_eq!(http.send("HEAD", "/_template/nope", None).await.status, 404);
    let v = http.get("/_component_template/tp-numbers").await.json();
    assert_eq!(v["component_templates"][0]["name"], "tp-numbers");
    let rows = http.get("/_cat/templates?format=json&s=name").await.json();
    let names: Vec<&str> = rows
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names, vec!["tp-app", "tp-legacy"]);

    // kill -9, then the next day's index still gets them
    s.kill();
    s.launch().await;
    let http = Http::new(s.addr());
    let r = http
        .post_ndjson(
            "/_bulk?refresh=true",
            b"{\"index\":{\"_index\":\"tp-app-2026.12.02\"}}\n{\"code\":201,\"message\":\"z\"}\n"
                .to_vec(),
        )
        .await;
    assert_eq!(r.json()["errors"], false, "{}", r.text_preview());
    assert_eq!(
        field_type(&http, "tp-app-2026.12.02", "code").await,
        "keyword"
    );
    assert_eq!(count(&http, "tp-app").await, 6);

    // without the composable template, the legacy one applies
    let r = http.send("DELETE", "/_index_template/tp-app", None).await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    let r = http.send("DELETE", "/_index_template/tp-app", None).await;
    assert_eq!(r.status, 404);
    let r = http
        .post_ndjson(
            "/_bulk?refresh=true",
            b"{\"index\":{\"_index\":\"tp-app-2026.12.03\"}}\n{\"code\":\"301\",\"message\":\"z\"}\n"
                .to_vec(),
        )
        .await;
    assert_eq!(r.json()["errors"], false, "{}", r.text_preview());
    assert_eq!(field_type(&http, "tp-app-2026.12.03", "code").await, "long");
    // an explicit PUT with aliases
    let r = put_json(
        &http,
        "/tp-manual",
        &json!({"aliases": {"tp-manual-read": {}}, "mappings": {"properties": {"k": {"type": "keyword"}}}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    assert_eq!(
        http.get("/_alias/tp-manual-read").await.json(),
        json!({"tp-manual": {"aliases": {"tp-manual-read": {}}}})
    );
}

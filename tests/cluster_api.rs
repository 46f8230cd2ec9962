//! The cluster-level reads tools make (`_nodes`, `_nodes/stats`,
//! `_cluster/stats`), answered for the one node there is with figures the
//! test can check, and the APIs logweave does not speak (`_sql`, ES|QL,
//! EQL, runtime fields, script fields) refused by name.

mod util;

use serde_json::{json, Value};
use util::{assert_es_error, ndjson, test_config, InProcess};

#[tokio::test]
async fn nodes_and_cluster_stats_report_the_one_node_honestly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = InProcess::start(test_config(dir.path())).await;
    let items: Vec<(Value, Value)> = (0..37)
        .map(|i| {
            (
                json!({"index": {"_index": format!("cs-{}", i % 3)}}),
                json!({"n": i, "message": "x"}),
            )
        })
        .collect();
    let r = s
        .http
        .post_ndjson("/_bulk?refresh=true", ndjson(&items))
        .await;
    assert_eq!(r.json()["errors"], false);

    let v = s.http.get("/_nodes/http").await.json();
    assert_eq!(v["_nodes"]["total"], 1);
    let nodes = v["nodes"].as_object().expect("nodes");
    assert_eq!(nodes.len(), 1);
    let node = nodes.values().next().expect("one node");
    assert_eq!(
        node["http"]["publish_address"],
        s.addr().to_string(),
        "a sniffing client reconnects where it came in"
    );
    assert_eq!(node["version"], "8.11.0");
    assert_eq!(node["process"]["id"], std::process::id());

    let v = s.http.get("/_nodes/stats").await.json();
    let node = v["nodes"]
        .as_object()
        .and_then(|m| m.values().next())
        .cloned()
        .expect("node");
    assert_eq!(node["indices"]["docs"]["count"], 37);
    assert!(
        node["indices"]["store"]["size_in_bytes"]
            .as_u64()
            .unwrap_or(0)
            > 0
    );
    assert!(
        node["process"]["mem"]["resident_in_bytes"]
            .as_u64()
            .unwrap_or(0)
            > 1 << 20
    );

    let v = s.http.get("/_cluster/stats").await.json();
    assert_eq!(v["indices"]["count"], 3);
    assert_eq!(v["indices"]["docs"]["count"], 37);
    assert_eq!(v["nodes"]["count"]["total"], 1);

    // what logweave does not speak says so, by name
    for (method, path, body, name) in [
        (
            "POST",
            "/_sql?format=txt",
            json!({"query": "SELECT * FROM cs"}),
            "_sql",
        ),
        (
            "POST",
            "/_query",
            json!({"query": "FROM cs | LIMIT 1"}),
            "_query",
        ),
        (
            "POST",
            "/cs-0/_eql/search",
            json!({"query": "any where true"}),
            "_eql",
        ),
        (
            "POST",
            "/cs-*/_search",
            json!({"runtime_mappings": {"d": {"type": "long", "script": "emit(1)"}}, "query": {"term": {"d": 1}}}),
            "runtime_mappings",
        ),
        (
            "POST",
            "/cs-*/_search",
            json!({"script_fields": {"x": {"script": "doc['n'].value"}}}),
            "script_fields",
        ),
    ] {
        let r = s
            .http
            .send(
                method,
                path,
                Some((body.to_string().into_bytes(), "application/json")),
            )
            .await;
        let (_, reason) = assert_es_error(&r, 400);
        assert!(reason.contains(name), "{path}: {reason}");
    }
    // empty ones, as Grafana and Kibana send them, are fine
    let r = s
        .http
        .post_json(
            "/cs-*/_search",
            &json!({"runtime_mappings": {}, "script_fields": {}, "size": 0}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    assert_eq!(r.json()["hits"]["total"]["value"], 37);
    s.shutdown().await;
}

//! `_nodes`, `_nodes/stats` and `_cluster/stats` in a small, honest form:
//! one node, what logweave really has (documents, bytes on disk, memory,
//! uptime, the address the client reached), and none of the JVM, thread
//! pool or shard detail Elasticsearch reports. Logstash's sniffer and
//! monitoring tools read these; a made-up figure would mislead them. Also
//! the APIs logweave does not speak (`_sql`, `_query`, `_eql`), refused by
//! name instead of a generic "no handler".

use axum::extract::State as AxState;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::admin::ES_VERSION;
use super::json_response;
use super::tasks::node_id;
use crate::api::error::ApiError;
use crate::api::State;

/// The address the client used (its `Host` header): the address a
/// sniffing client will connect to again.
fn address(headers: &HeaderMap) -> String {
    headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map_or_else(|| "127.0.0.1:9200".to_string(), str::to_string)
}

/// This process's resident memory in bytes, from `/proc` (Linux).
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn processors() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn node_info(st: &State, headers: &HeaderMap) -> Value {
    let addr = address(headers);
    json!({
        "name": st.node_name,
        "host": addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h),
        "ip": addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h),
        "version": ES_VERSION,
        "build_flavor": "default",
        "build_type": "logweave",
        "roles": ["data", "ingest", "master"],
        "http": {"bound_address": [addr], "publish_address": addr},
        "os": {"name": std::env::consts::OS, "arch": std::env::consts::ARCH,
               "available_processors": processors(), "allocated_processors": processors()},
        "process": {"id": std::process::id()},
        "logweave_version": env!("CARGO_PKG_VERSION"),
    })
}

fn wrap(st: &State, node: Value) -> Value {
    let mut nodes = Map::new();
    nodes.insert(node_id(st), node);
    json!({
        "_nodes": {"total": 1, "successful": 1, "failed": 0},
        "cluster_name": "logweave",
        "nodes": nodes,
    })
}

/// `GET /_nodes[/{filter}]`: this node's information.
pub async fn info(AxState(st): AxState<State>, headers: HeaderMap) -> Response {
    json_response(
        StatusCode::OK,
        wrap(&st, node_info(&st, &headers)).to_string(),
    )
}

/// Documents and bytes over every index.
fn totals(st: &State) -> (usize, u64, u64) {
    let infos = st.ingest.store.list();
    (
        infos.len(),
        infos.iter().map(|i| i.docs).sum(),
        infos.iter().map(|i| i.bytes).sum(),
    )
}

/// `GET /_nodes/stats[/{metric}]`
pub async fn stats(AxState(st): AxState<State>, headers: HeaderMap) -> Response {
    let (_, docs, bytes) = totals(&st);
    let mut node = node_info(&st, &headers);
    if let Value::Object(m) = &mut node {
        m.insert("timestamp".into(), json!(crate::event::now_ms()));
        m.insert(
            "indices".into(),
            json!({"docs": {"count": docs}, "store": {"size_in_bytes": bytes}}),
        );
        m.insert(
            "process".into(),
            json!({"id": std::process::id(), "mem": {"resident_in_bytes": rss_bytes()}}),
        );
        m.insert(
            "uptime_in_millis".into(),
            json!(st.started.elapsed().as_millis() as u64),
        );
    }
    json_response(StatusCode::OK, wrap(&st, node).to_string())
}

/// `GET /_cluster/stats`
pub async fn cluster_stats(AxState(st): AxState<State>) -> Response {
    let (n, docs, bytes) = totals(&st);
    json_response(
        StatusCode::OK,
        json!({
            "_nodes": {"total": 1, "successful": 1, "failed": 0},
            "cluster_name": "logweave",
            "cluster_uuid": "logweave-cluster",
            "timestamp": crate::event::now_ms(),
            "status": "green",
            "indices": {
                "count": n,
                "shards": {"total": n, "primaries": n, "replication": 0.0},
                "docs": {"count": docs},
                "store": {"size_in_bytes": bytes},
            },
            "nodes": {
                "count": {"total": 1, "data": 1, "ingest": 1, "master": 1},
                "versions": [ES_VERSION],
                "os": {"available_processors": processors(), "allocated_processors": processors()},
                "process": {"mem": {"resident_in_bytes": rss_bytes()}},
            },
        })
        .to_string(),
    )
}

fn unsupported(what: &str, instead: &str) -> ApiError {
    ApiError::bad_request(
        "illegal_argument_exception",
        format!("{what} is not supported by logweave; {instead}"),
    )
}

/// `/_sql`, `/_sql/translate`, `/_sql/close`
pub async fn sql() -> ApiError {
    unsupported(
        "SQL (_sql)",
        "use _search with the query DSL or a query_string query, and aggregations for GROUP BY",
    )
}

/// `/_query` (ES|QL)
pub async fn esql() -> ApiError {
    unsupported(
        "ES|QL (_query)",
        "use _search with the query DSL or a query_string query",
    )
}

/// `/{index}/_eql/search`
pub async fn eql() -> ApiError {
    unsupported(
        "EQL (_eql)",
        "use _search; event sequences are not searchable yet",
    )
}

//! Prometheus text exposition of our own counters at `/metrics`.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use axum::extract::State as AxState;
use axum::response::IntoResponse;

use crate::api::State;

/// `GET /metrics`
pub async fn metrics(AxState(st): AxState<State>) -> impl IntoResponse {
    let m = &st.ingest.metrics;
    let mut out = String::new();
    let mut counter = |name: &str, help: &str, v: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
        );
    };
    counter(
        "logweave_ingest_events_acked_total",
        "Events acknowledged after the write-ahead log fsync.",
        m.events_acked.load(Ordering::Relaxed),
    );
    counter(
        "logweave_store_events_indexed_total",
        "Events applied to the store.",
        m.events_indexed.load(Ordering::Relaxed),
    );
    counter(
        "logweave_store_events_replayed_total",
        "Events replayed from the write-ahead log at start.",
        m.events_replayed.load(Ordering::Relaxed),
    );
    counter(
        "logweave_store_commits_total",
        "Store commits (refreshes).",
        m.commits.load(Ordering::Relaxed),
    );
    counter(
        "logweave_store_malformed_values_total",
        "Field values not indexed because they did not fit the field's type.",
        m.malformed_values.load(Ordering::Relaxed),
    );
    counter(
        "logweave_wal_errors_total",
        "Writes answered with an error because the write-ahead log failed.",
        m.wal_errors.load(Ordering::Relaxed),
    );
    let f = &st.forward;
    for (name, help, v) in [
        (
            "logweave_forward_connections_total",
            "Forward connections accepted.",
            &f.connections,
        ),
        (
            "logweave_forward_frames_total",
            "Forward messages decoded.",
            &f.frames,
        ),
        (
            "logweave_forward_events_total",
            "Events received over forward and written.",
            &f.events,
        ),
        (
            "logweave_forward_acks_total",
            "Forward chunk acks sent after the write was durable.",
            &f.acks,
        ),
        (
            "logweave_forward_bytes_total",
            "Bytes read from forward connections.",
            &f.bytes,
        ),
        (
            "logweave_forward_errors_total",
            "Forward connections closed for bad input or failed writes.",
            &f.errors,
        ),
        (
            "logweave_forward_auth_failures_total",
            "Forward handshakes refused.",
            &f.auth_failures,
        ),
        (
            "logweave_forward_heartbeats_total",
            "UDP heartbeats answered.",
            &f.heartbeats,
        ),
        (
            "logweave_forward_resent_chunks_total",
            "Chunks received again after they were stored (a lost ack): acknowledged, not stored twice.",
            &f.resent_chunks,
        ),
    ] {
        counter(name, help, v.load(Ordering::Relaxed));
    }
    let sl = &st.syslog;
    for (name, help, v) in [
        (
            "logweave_syslog_tcp_messages_total",
            "Syslog messages received over TCP and written.",
            &sl.tcp_messages,
        ),
        (
            "logweave_syslog_udp_messages_total",
            "Syslog messages received over UDP and written.",
            &sl.udp_messages,
        ),
        (
            "logweave_syslog_parse_failures_total",
            "Syslog messages kept whole because they did not parse.",
            &sl.parse_failures,
        ),
        (
            "logweave_syslog_connections_total",
            "Syslog TCP connections accepted.",
            &sl.connections,
        ),
        (
            "logweave_syslog_errors_total",
            "Syslog connections closed for bad framing or failed writes.",
            &sl.errors,
        ),
    ] {
        counter(name, help, v.load(Ordering::Relaxed));
    }
    let _ = writeln!(out, "# HELP logweave_forward_connections_open Open forward connections.\n# TYPE logweave_forward_connections_open gauge\nlogweave_forward_connections_open {}", f.connections_open.load(Ordering::Relaxed));
    let indices = st.ingest.store.list();
    let docs: u64 = indices.iter().map(|i| i.docs).sum();
    let bytes: u64 = indices.iter().map(|i| i.bytes).sum();
    let _ = writeln!(out, "# HELP logweave_store_indices Indices in the store.\n# TYPE logweave_store_indices gauge\nlogweave_store_indices {}", indices.len());
    let _ = writeln!(out, "# HELP logweave_store_documents Searchable documents.\n# TYPE logweave_store_documents gauge\nlogweave_store_documents {docs}");
    let _ = writeln!(out, "# HELP logweave_store_bytes Bytes on disk of all indices.\n# TYPE logweave_store_bytes gauge\nlogweave_store_bytes {bytes}");
    let _ = writeln!(out, "# HELP logweave_uptime_seconds Seconds since start.\n# TYPE logweave_uptime_seconds gauge\nlogweave_uptime_seconds {}", st.started.elapsed().as_secs());
    ([("content-type", "text/plain; version=0.0.4")], out)
}

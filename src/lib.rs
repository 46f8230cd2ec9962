//! logweave: collect logs, store them durably, search them, watch them.
//!
//! The modules follow the data:
//!
//! - [`input`]: wire protocols events arrive by (`_bulk`, Fluentd forward).
//! - [`forward`]: the Fluentd forward protocol, for the input and the agent.
//! - [`route`]: tag patterns choosing index and on-arrival processing.
//! - [`event`]: the event model (`_source`, `@timestamp`, level/service/host).
//! - [`ingest`]: acknowledged = in the write-ahead log; the indexer applies.
//! - [`wal`]: the write-ahead log with group commit.
//! - [`store`]: the `Store` interface and the embedded tantivy store.
//! - [`query`]: the engine-neutral query model, ES DSL and Lucene syntax.
//! - [`analysis`]: series, forecasts, anomalies and log patterns.
//! - [`api`]: the Elasticsearch-compatible HTTP API and metrics.
//! - [`report`]: `logweave report`: charts and tables of a range as HTML,
//!   PNG, SVG or a terminal summary, from a server's public API.
//! - [`server`]: wiring of the server role; [`cli`]: the command line.
//! - [`generate`]: realistic log generation for demos, tests and benches.

pub mod agent;
pub mod alerting;
pub mod analysis;
pub mod api;
pub mod cli;
pub mod config;
pub mod event;
pub mod forward;
pub mod generate;
pub mod ingest;
pub mod input;
pub mod parse;
pub mod pipeline;
pub mod query;
pub mod report;
pub mod route;
pub mod server;
pub mod store;
pub mod wal;

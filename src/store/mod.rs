//! The store: where durable events become searchable. Everything above it
//! (ingest, the ES API, analysis) talks to the [`Store`] trait with the
//! engine-neutral query model, so a second backend (ClickHouse) can plug in
//! without touching them. The embedded default is [`tantivy`](self::tantivy).

pub mod catalog;
pub mod mapping;
pub mod tantivy;

use std::sync::Arc;

use serde_json::Value;

use crate::event::Event;
use crate::query::agg_result::AggResults;
use crate::query::aggs::AggSpec;
use crate::query::model::{Query, SearchRequest, TrackTotal};
use crate::wal::Lsn;

/// Errors of a store; the API layer maps them to HTTP statuses.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no such index [{0}]")]
    IndexNotFound(String),
    #[error("invalid index name [{name}], {reason}")]
    InvalidIndexName { name: String, reason: String },
    /// The query is valid DSL but cannot run against these fields.
    #[error("{0}")]
    BadQuery(String),
    /// The request cannot run on any searched index's fields (Elasticsearch
    /// answers these as `query_shard_exception`).
    #[error("{0}")]
    QueryShard(String),
    #[error("search engine: {0}")]
    Engine(String),
    /// A request the metadata refuses (an alias clash, a template
    /// conflict), with the Elasticsearch error type and status to answer.
    #[error("{reason}")]
    Rejected {
        status: u16,
        kind: &'static str,
        reason: String,
    },
    #[error("io at {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Io {
            path: "index column".into(),
            source: e,
        }
    }
}

impl From<::tantivy::TantivyError> for StoreError {
    fn from(e: ::tantivy::TantivyError) -> Self {
        StoreError::Engine(e.to_string())
    }
}

/// One index as listed by `_cat/indices`.
#[derive(Debug, Clone)]
pub struct IndexInfo {
    pub name: String,
    pub docs: u64,
    pub bytes: u64,
    pub uuid: String,
    /// Newest `@timestamp` in the index (for retention), if any doc.
    pub max_timestamp_ms: Option<i64>,
}

/// One search hit.
#[derive(Debug, Clone)]
pub struct Hit {
    pub index: String,
    pub id: String,
    pub score: Option<f32>,
    /// `_source` after filtering; `None` when disabled.
    pub source: Option<Value>,
    /// Sort values when the request sorted by fields.
    pub sort: Option<Vec<Value>>,
    /// Highlighted fragments per field, when asked for and found.
    pub highlight: Option<serde_json::Map<String, Value>>,
    /// Opaque position for scroll continuation.
    pub cursor: Vec<Value>,
    /// The event's `@timestamp` as the store indexed it (epoch ms), for
    /// the `fields` section of a hit.
    pub time_ms: Option<i64>,
}

/// Result of a search, engine-neutral; the API renders it.
#[derive(Debug, Clone, Default)]
pub struct SearchResult {
    pub total: u64,
    /// `false` when `total` is a lower bound (`"relation": "gte"`).
    pub total_exact: bool,
    pub track_total: bool,
    pub max_score: Option<f32>,
    pub hits: Vec<Hit>,
    /// Typed aggregation results; the API renders them.
    pub aggregations: Option<AggResults>,
    pub timed_out: bool,
    /// Number of indices (Elasticsearch shards) searched.
    pub shards: usize,
}

/// A consistent point-in-time view of some indices (for scroll).
pub trait Snapshot: Send + Sync {
    fn search(
        &self,
        req: &SearchRequest,
        after_cursor: Option<&[Value]>,
    ) -> Result<SearchResult, StoreError>;

    /// Run `aggs` over the documents matching `query`, without hits or JSON:
    /// the typed entry point for the analysis. One result per spec, in
    /// order.
    fn aggregate(&self, query: &Query, aggs: &[AggSpec]) -> Result<AggResults, StoreError> {
        let req = SearchRequest {
            query: query.clone(),
            size: 0,
            track_total_hits: TrackTotal::Off,
            aggs: aggs.to_vec(),
            ..Default::default()
        };
        Ok(self.search(&req, None)?.aggregations.unwrap_or_default())
    }
}

/// How index patterns that match nothing are treated.
#[derive(Debug, Clone, Copy)]
pub struct ResolveOptions {
    pub ignore_unavailable: bool,
    pub allow_no_indices: bool,
}

impl Default for ResolveOptions {
    fn default() -> Self {
        ResolveOptions {
            ignore_unavailable: false,
            allow_no_indices: true,
        }
    }
}

/// The storage backend interface.
pub trait Store: Send + Sync {
    /// Apply durable events (called in LSN order by the indexer; events at
    /// or below an index's committed LSN are skipped on replay).
    fn apply(&self, first_lsn: Lsn, events: &[Event]) -> Result<ApplyStats, StoreError>;
    /// Make everything applied so far durable and searchable, recording `lsn`.
    fn commit(&self, lsn: Lsn) -> Result<(), StoreError>;
    /// Close writers of indices idle for `idle_ms` to free memory.
    fn release_idle(&self, idle_ms: u64);
    /// Expand a comma list of names, aliases and patterns (`app-*`,
    /// `-app-old`, `_all`) into index names; patterns match aliases too.
    fn resolve(&self, expr: &str, opts: ResolveOptions) -> Result<Vec<String>, StoreError>;
    /// A view of `indices` for searching.
    fn snapshot(&self, indices: &[String]) -> Result<Arc<dyn Snapshot>, StoreError>;
    fn count(&self, indices: &[String], query: &Query) -> Result<u64, StoreError>;
    /// The `_source` of a document, if it exists and is committed.
    fn get(&self, index: &str, id: &str) -> Result<Option<Value>, StoreError>;
    /// Whether a committed document with this id exists.
    fn exists(&self, index: &str, id: &str) -> bool;
    fn list(&self) -> Vec<IndexInfo>;
    fn mapping(&self, index: &str) -> Option<Value>;
    fn delete_index(&self, name: &str) -> Result<(), StoreError>;
    /// Create an empty index with explicit field types (over those of the
    /// templates its name matches); `false` if it exists.
    fn create_index(&self, name: &str, mapping: mapping::Mapping) -> Result<bool, StoreError>;
    /// The aliases and templates, which [`Store::resolve`] and index
    /// creation follow.
    fn catalog(&self) -> &catalog::Catalog;

    /// [`Snapshot::aggregate`] over the indices an index expression
    /// (`logs-*`, a comma list) names now. A pattern that matches nothing
    /// gives empty results; a missing concrete index is an error.
    fn aggregate(
        &self,
        index_expr: &str,
        query: &Query,
        aggs: &[AggSpec],
    ) -> Result<AggResults, StoreError> {
        let names = self.resolve(index_expr, ResolveOptions::default())?;
        self.snapshot(&names)?.aggregate(query, aggs)
    }
}

/// Counters from one `apply`.
#[derive(Debug, Default, Clone, Copy)]
pub struct ApplyStats {
    pub indexed: u64,
    pub skipped_replay: u64,
    pub unparsable: u64,
    pub malformed_values: u64,
    /// Delete operations applied.
    pub deleted: u64,
}

/// A document's place in a snapshot (index, segment, doc ordinals) packed
/// into one integer that is exact in an f64 and in JSON: the `_doc` sort
/// value and the point-in-time tiebreak. Holds up to 2,048 indices and
/// segments and 2^31 documents per segment.
pub fn pack_position(index_ord: u32, segment_ord: u32, doc: u32) -> u64 {
    ((index_ord as u64 & 0x7ff) << 42)
        | ((segment_ord as u64 & 0x7ff) << 31)
        | (doc as u64 & 0x7fff_ffff)
}

/// Inverse of [`pack_position`].
pub fn unpack_position(p: u64) -> (u32, u32, u32) {
    (
        (p >> 42) as u32 & 0x7ff,
        (p >> 31) as u32 & 0x7ff,
        p as u32 & 0x7fff_ffff,
    )
}

/// Check an index name the way Elasticsearch does.
pub fn validate_index_name(name: &str) -> Result<(), StoreError> {
    let bad = |reason: &str| {
        Err(StoreError::InvalidIndexName {
            name: name.to_string(),
            reason: reason.to_string(),
        })
    };
    if name.is_empty() {
        return bad("must not be empty");
    }
    if name.len() > 255 {
        return bad("index name is too long, (> 255)");
    }
    if name != name.to_lowercase() {
        return bad("must be lowercase");
    }
    // The name becomes a directory: a NUL byte cannot be in one, and
    // control characters would break `_cat` output and logs.
    if name.chars().any(char::is_control) {
        return bad("must not contain control characters");
    }
    if name == "." || name == ".." {
        return bad("must not be '.' or '..'");
    }
    if name.starts_with(['-', '_', '+']) {
        return bad("must not start with '_', '-', or '+'");
    }
    if name.contains(['\\', '/', '*', '?', '"', '<', '>', '|', ' ', ',', '#', ':']) {
        return bad(
            "must not contain the following characters [ , \", *, \\, <, |, ,, >, /, ?, #, :]",
        );
    }
    Ok(())
}

#[cfg(test)]
mod position_tests {
    use super::*;

    #[test]
    fn positions_roundtrip_and_order() {
        for (i, s, d) in [(0, 0, 0), (3, 17, 123_456), (2047, 2047, 0x7fff_ffff)] {
            assert_eq!(unpack_position(pack_position(i, s, d)), (i, s, d));
            assert_eq!(pack_position(i, s, d) as f64 as u64, pack_position(i, s, d));
        }
        assert!(pack_position(0, 1, 0) > pack_position(0, 0, 0x7fff_ffff));
        assert!(pack_position(1, 0, 0) > pack_position(0, 2047, 0x7fff_ffff));
    }
}

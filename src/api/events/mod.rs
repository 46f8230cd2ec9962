//! Endpoints over the events themselves that the dashboard needs and a
//! script can call the same way: the live tail, an event's context, and a
//! streamed export. Selections use the analysis endpoints' names (`index`,
//! `query`, `from`, `to`).

pub mod context;
pub mod export;
pub mod tail;

use serde_json::{json, Value};

use super::analysis::params::{lucene_query, Args};
pub(crate) use super::blocking;
use super::error::ApiError;
use super::State;
use crate::query::model::{BoolQuery, Query, Range, RangeBound};
use crate::store::{Hit, ResolveOptions};

/// The `@timestamp` range filter of a selection.
fn time_range(from: Option<i64>, to: Option<i64>) -> Query {
    Query::Range {
        field: "@timestamp".into(),
        range: Range {
            lower: from.map(|v| RangeBound {
                value: json!(v),
                inclusive: true,
            }),
            upper: to.map(|v| RangeBound {
                value: json!(v),
                inclusive: true,
            }),
            format: Some("epoch_millis".into()),
            time_zone: None,
        },
    }
}

/// `query` (Lucene) with `filters`, `_pattern` ids expanded as searches
/// expand them.
fn with_filters(st: &State, a: &Args, filters: Vec<Query>) -> Result<Query, ApiError> {
    let text = a.str("query")?.unwrap_or_default();
    let mut q = lucene_query("query", &text)?;
    st.expand_patterns(&mut q);
    if filters.is_empty() {
        return Ok(q);
    }
    Ok(Query::Bool(Box::new(BoolQuery {
        must: vec![q],
        filter: filters,
        ..Default::default()
    })))
}

/// The concrete indices of the `index` pattern (default: all); a pattern
/// that matches nothing is no error (there is simply nothing yet).
fn indices(st: &State, a: &Args) -> Result<Vec<String>, ApiError> {
    let pattern = a.str("index")?.unwrap_or_else(|| "*".into());
    let pattern = if pattern.trim().is_empty() {
        "*".to_string()
    } else {
        pattern
    };
    Ok(st.ingest.store.resolve(
        &pattern,
        ResolveOptions {
            ignore_unavailable: true,
            allow_no_indices: true,
        },
    )?)
}

/// A hit as `_search` answers it (the fields the dashboard reads).
fn hit_json(h: &Hit) -> Value {
    let mut o = json!({"_index": h.index, "_id": h.id});
    if let Some(s) = &h.source {
        o["_source"] = s.clone();
    }
    if let Some(s) = &h.sort {
        o["sort"] = Value::Array(s.clone());
    }
    o
}

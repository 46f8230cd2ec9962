//! `GET /api/v1/tail`: the live tail as server-sent events. Each commit's
//! new ids are matched against the client's `query` by the store itself
//! (the same engine as `_search`), so the filter is exactly a search's.
//!
//! Bounded per client: the feed keeps a few commits for a slow reader and
//! then says how many it missed (`lagged`); one commit sends at most
//! `limit` events and counts the rest (`left_out`).

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Query as UrlQuery, State as AxState};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;

use super::{blocking, hit_json, with_filters};
use crate::api::analysis::params::Args;
use crate::api::error::ApiError;
use crate::api::es::Params;
use crate::api::State;
use crate::ingest::tail::CommittedEvents;
use crate::query::model::{
    BoolQuery, Missing, Order, Query, SearchRequest, SortKey, SortSpec, TrackTotal,
};
use crate::store::ResolveOptions;

/// Events one commit sends when `limit` is not given.
const DEFAULT_LIMIT: i64 = 500;

/// `GET /api/v1/tail?index=&query=&limit=`
pub async fn tail(
    AxState(st): AxState<State>,
    UrlQuery(p): UrlQuery<Params>,
) -> Result<Response, ApiError> {
    let a = Args::read(&p, &[], &["index", "query", "limit"])?;
    let limit = a.int("limit", DEFAULT_LIMIT, 1, 10_000)? as usize;
    let pattern = a
        .str("index")?
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "*".into());
    // Checked now, so that a bad query is an error answer, not a stream.
    let query = with_filters(&st, &a, Vec::new())?;
    let tail = Tail {
        st: st.clone(),
        rx: st.ingest.tail(),
        pattern,
        query,
        limit,
        greeted: false,
    };
    let s = futures_util::stream::unfold(tail, |mut t| async move {
        let ev = t.next().await?;
        Some((Ok::<_, Infallible>(ev), t))
    });
    Ok(Sse::new(s).keep_alive(KeepAlive::default()).into_response())
}

/// One client's subscription.
struct Tail {
    st: State,
    rx: Receiver<Arc<CommittedEvents>>,
    pattern: String,
    query: Query,
    limit: usize,
    greeted: bool,
}

impl Tail {
    /// The next event to send; `None` when the server stops.
    async fn next(&mut self) -> Option<SseEvent> {
        if !self.greeted {
            // Tells the client the subscription is live: events committed
            // from now on reach it.
            self.greeted = true;
            return Some(SseEvent::default().event("ready").data("{}"));
        }
        loop {
            let batch = match self.rx.recv().await {
                Ok(b) => b,
                Err(RecvError::Lagged(n)) => {
                    return Some(
                        SseEvent::default()
                            .event("lagged")
                            .data(json!({"missed_commits": n}).to_string()),
                    )
                }
                Err(RecvError::Closed) => return None,
            };
            match self.matching(batch).await {
                Ok(Some(ev)) => return Some(ev),
                Ok(None) => continue,
                Err(e) => {
                    return Some(
                        SseEvent::default()
                            .event("error")
                            .data(json!({"reason": e.reason}).to_string()),
                    )
                }
            }
        }
    }

    /// The batch's events that match, oldest first, as one `hits` event.
    async fn matching(&self, batch: Arc<CommittedEvents>) -> Result<Option<SseEvent>, ApiError> {
        let store = self.st.ingest.store.clone();
        let pattern = self.pattern.clone();
        let query = self.query.clone();
        let limit = self.limit;
        blocking(move || {
            let wanted: HashSet<String> = store
                .resolve(
                    &pattern,
                    ResolveOptions {
                        ignore_unavailable: true,
                        allow_no_indices: true,
                    },
                )?
                .into_iter()
                .collect();
            let mut indices: Vec<String> = Vec::new();
            let mut ids: Vec<String> = Vec::new();
            for (index, id) in &batch.ids {
                if wanted.contains(index) {
                    if !indices.contains(index) {
                        indices.push(index.clone());
                    }
                    ids.push(id.clone());
                }
            }
            if ids.is_empty() {
                return Ok(None);
            }
            let req = SearchRequest {
                query: Query::Bool(Box::new(BoolQuery {
                    must: vec![query],
                    filter: vec![Query::Ids(ids)],
                    ..Default::default()
                })),
                size: limit,
                sort: vec![SortSpec {
                    key: SortKey::Field {
                        field: "@timestamp".into(),
                        missing: Missing::Last,
                        format: None,
                        unmapped_type: Some("date".into()),
                    },
                    order: Order::Asc,
                }],
                track_total_hits: TrackTotal::Exact,
                ..Default::default()
            };
            let res = store.snapshot(&indices)?.search(&req, None)?;
            if res.hits.is_empty() {
                return Ok(None);
            }
            let hits: Vec<_> = res.hits.iter().map(hit_json).collect();
            let left_out = res.total.saturating_sub(hits.len() as u64) + batch.left_out;
            Ok(Some(SseEvent::default().event("hits").data(
                json!({"hits": hits, "left_out": left_out}).to_string(),
            )))
        })
        .await
    }
}

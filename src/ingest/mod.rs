//! Ingest: the path every input shares from "events parsed" to "acknowledged
//! and soon searchable". Inputs call [`Ingest::write`], which returns once
//! the write-ahead log has fsynced the events; an indexer thread applies
//! durable batches to the store and commits on the refresh interval (or on
//! demand for `?refresh=true`), then truncates the log.

pub mod index_name;
pub mod patterns;
pub mod tail;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};

use crate::event::Event;
use crate::store::Store;
use crate::wal::{self, DurableBatch, Lsn, WalError, WalWriter};

/// Counters shown on `/metrics`.
#[derive(Default)]
pub struct IngestMetrics {
    pub events_acked: AtomicU64,
    pub events_indexed: AtomicU64,
    pub events_replayed: AtomicU64,
    pub commits: AtomicU64,
    pub malformed_values: AtomicU64,
    pub wal_errors: AtomicU64,
}

struct RefreshRequest {
    min_lsn: Lsn,
    done: oneshot::Sender<Lsn>,
}

/// Explicit ids written but not yet committed, for `create` conflicts.
#[derive(Default)]
struct PendingIds {
    /// Committed LSN when entries were last pruned.
    pruned_at: Lsn,
    /// (index, id) → LSN it was written at.
    ids: HashMap<(String, String), Lsn>,
}

/// Handle shared by all inputs.
pub struct Ingest {
    wal: WalWriter,
    /// The log's segment files, to delete what a shutdown seal leaves behind.
    segments: wal::Segments,
    pub store: Arc<dyn Store>,
    committed: watch::Receiver<Lsn>,
    refresh_tx: mpsc::Sender<RefreshRequest>,
    /// Explicit ids written but not yet committed, for `create` conflicts.
    pending_ids: Mutex<PendingIds>,
    pub metrics: Arc<IngestMetrics>,
    last_lsn: AtomicU64,
    /// LSN of the newest delete written.
    last_delete_lsn: AtomicU64,
    /// Ids of what each commit made searchable, for the live tail.
    tail: tokio::sync::broadcast::Sender<Arc<tail::CommittedEvents>>,
}

/// Tuning of ingest.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// How often applied events are committed (made searchable).
    pub refresh_interval: Duration,
    /// Close index writers idle this long.
    pub writer_idle: Duration,
    /// Pattern ids for events (`_pattern`); none when mining is off.
    pub patterns: Option<patterns::PatternTagger>,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            refresh_interval: Duration::from_secs(1),
            writer_idle: Duration::from_secs(120),
            patterns: None,
        }
    }
}

/// Errors of a write.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("write-ahead log: {0}")]
    Wal(#[from] WalError),
    #[error("ingest is shutting down")]
    Closed,
    /// The events cannot go where they are addressed (an alias without a
    /// write index); nothing was written.
    #[error("{0}")]
    Refused(String),
}

impl Ingest {
    /// Open the log under `data_dir/wal`, replay it into `store`, and start
    /// the writer and indexer threads.
    pub fn start(
        data_dir: &Path,
        store: Arc<dyn Store>,
        opts: IngestOptions,
    ) -> Result<Arc<Ingest>, anyhow::Error> {
        let metrics = Arc::new(IngestMetrics::default());
        let mut chunk: Vec<Event> = Vec::new();
        let mut chunk_first: Lsn = 0;
        let mut last: Lsn = 0;
        let mut replayed = 0u64;
        let mut replay_error: Option<String> = None;
        let tagger = opts.patterns.clone();
        let mut flush = |first: Lsn, events: &mut Vec<Event>, replayed: &mut u64| {
            if events.is_empty() {
                return;
            }
            if let Some(t) = &tagger {
                t.tag(events);
            }
            match store.apply(first, events) {
                Ok(s) => *replayed += s.indexed,
                Err(e) => {
                    if replay_error.is_none() {
                        replay_error = Some(format!("{e}"));
                    }
                }
            }
            events.clear();
        };
        let started = Instant::now();
        let opened = wal::open(&data_dir.join("wal"), |lsn, ev| {
            if chunk.is_empty() || lsn != last + 1 {
                flush(chunk_first, &mut chunk, &mut replayed);
                chunk_first = lsn;
            }
            chunk.push(ev);
            last = lsn;
            if chunk.len() >= 10_000 {
                flush(chunk_first, &mut chunk, &mut replayed);
                chunk_first = lsn + 1;
            }
        })?;
        flush(chunk_first, &mut chunk, &mut replayed);
        if let Some(e) = replay_error {
            // Committing now would drop the events that failed: refuse to
            // start instead, leaving the log intact for the next attempt.
            anyhow::bail!("replaying the write-ahead log into the store failed: {e}; the log is kept, fix the cause and restart");
        }
        let start_lsn = opened.next_lsn.saturating_sub(1);
        if let Some(t) = &opts.patterns {
            t.persist()?;
        }
        store.commit(start_lsn)?;
        opened.segments.truncate_through(start_lsn)?;
        if replayed > 0 {
            tracing::info!(
                events = replayed,
                ms = started.elapsed().as_millis() as u64,
                "replayed write-ahead log into the store"
            );
        }
        metrics.events_replayed.store(replayed, Ordering::Relaxed);

        let (committed_tx, committed_rx) = watch::channel(start_lsn);
        let (batch_tx, batch_rx) = mpsc::sync_channel::<DurableBatch>(4);
        let (refresh_tx, refresh_rx) = mpsc::channel::<RefreshRequest>();
        let (wal_writer, _wal_thread) = wal::start_writer(&opened, 4096, move |batch| {
            // Blocks when the indexer is behind: back-pressure to writers.
            let _ = batch_tx.send(batch);
        })?;
        let segments = opened.segments.clone();
        let indexer_store = store.clone();
        let m = metrics.clone();
        let (feed, tail_tx) = tail::TailFeed::new();
        std::thread::Builder::new()
            .name("indexer".into())
            .spawn(move || {
                run_indexer(
                    indexer_store,
                    batch_rx,
                    refresh_rx,
                    committed_tx,
                    segments,
                    start_lsn,
                    opts,
                    m,
                    feed,
                )
            })?;
        Ok(Arc::new(Ingest {
            wal: wal_writer,
            segments: opened.segments.clone(),
            store,
            committed: committed_rx,
            refresh_tx,
            pending_ids: Mutex::new(PendingIds::default()),
            metrics,
            last_lsn: AtomicU64::new(start_lsn),
            last_delete_lsn: AtomicU64::new(0),
            tail: tail_tx,
        }))
    }

    /// Listen to what each commit makes searchable (the live tail).
    pub fn tail(&self) -> tokio::sync::broadcast::Receiver<Arc<tail::CommittedEvents>> {
        self.tail.subscribe()
    }

    /// Write events durably; returns the LSN of the last one.
    pub async fn write(&self, mut events: Vec<Event>) -> Result<Lsn, IngestError> {
        if events.is_empty() {
            return Ok(self.last_lsn.load(Ordering::Acquire));
        }
        self.to_write_indices(&mut events)?;
        let n = events.len() as u64;
        let deletes = events.iter().any(|e| e.op == crate::event::WriteOp::Delete);
        let lsn = match self.wal.append(events).await {
            Ok(lsn) => lsn,
            Err(e) => {
                self.metrics.wal_errors.fetch_add(1, Ordering::Relaxed);
                return Err(e.into());
            }
        };
        self.last_lsn.fetch_max(lsn, Ordering::AcqRel);
        if deletes {
            self.last_delete_lsn.fetch_max(lsn, Ordering::AcqRel);
        }
        self.metrics.events_acked.fetch_add(n, Ordering::Relaxed);
        Ok(lsn)
    }

    /// Sends events addressed to an alias (by a route or an input that
    /// does not check) to its write index; an alias without one refuses
    /// the write, naming it, rather than creating an index of its name.
    fn to_write_indices(&self, events: &mut [Event]) -> Result<(), IngestError> {
        let catalog = self.store.catalog();
        if !catalog.has_aliases() {
            return Ok(());
        }
        let mut last: Option<(String, String)> = None;
        for ev in events.iter_mut() {
            if let Some((from, to)) = &last {
                if &ev.index == from {
                    ev.index.clone_from(to);
                    continue;
                }
            }
            let to = catalog
                .write_target(&ev.index)
                .map_err(|e| IngestError::Refused(e.to_string()))?;
            last = Some((std::mem::replace(&mut ev.index, to.clone()), to));
        }
        Ok(())
    }

    /// Whether a delete is written but not yet searchable (a real-time
    /// get must not find what it removes).
    pub fn has_unrefreshed_delete(&self) -> bool {
        self.last_delete_lsn.load(Ordering::Acquire) > *self.committed.borrow()
    }

    /// Commit now (after `lsn` is applied) and wait until it is searchable.
    pub async fn refresh(&self, lsn: Lsn) -> Result<(), IngestError> {
        let (done, rx) = oneshot::channel();
        self.refresh_tx
            .send(RefreshRequest { min_lsn: lsn, done })
            .map_err(|_| IngestError::Closed)?;
        rx.await.map(|_| ()).map_err(|_| IngestError::Closed)
    }

    /// At a clean shutdown, after [`Ingest::refresh_all`]: when the store
    /// holds every record of the log, start an empty segment and delete the
    /// others, so the data directory keeps nothing twice. Safe while writes
    /// continue (they go to the new segment); a no-op when something newer
    /// than the last commit was written.
    pub async fn seal_log(&self) -> Result<bool, IngestError> {
        let committed = *self.committed.borrow();
        let sealed = self.wal.seal(committed).await?;
        if sealed {
            self.segments.truncate_through(committed)?;
        }
        Ok(sealed)
    }

    /// Refresh everything written so far.
    pub async fn refresh_all(&self) -> Result<(), IngestError> {
        self.refresh(self.last_lsn.load(Ordering::Acquire)).await
    }

    /// Wait until a periodic commit has made `lsn` searchable.
    pub async fn wait_for(&self, lsn: Lsn) -> Result<(), IngestError> {
        let mut rx = self.committed.clone();
        rx.wait_for(|c| *c >= lsn)
            .await
            .map(|_| ())
            .map_err(|_| IngestError::Closed)
    }

    /// Whether some acknowledged write is not yet searchable.
    pub fn has_unrefreshed(&self) -> bool {
        self.last_lsn() > *self.committed.borrow()
    }

    /// LSN of the newest acknowledged write.
    pub fn last_lsn(&self) -> Lsn {
        self.last_lsn.load(Ordering::Acquire)
    }

    /// Whether a document id is taken (committed, or written and pending).
    pub fn id_exists(&self, index: &str, id: &str) -> bool {
        let committed = *self.committed.borrow();
        {
            let mut p = self.pending_ids.lock().unwrap_or_else(|e| e.into_inner());
            // Forget committed ids once per commit, not once per lookup.
            if committed > p.pruned_at {
                p.ids.retain(|_, lsn| *lsn > committed);
                p.pruned_at = committed;
            }
            if p.ids.contains_key(&(index.to_string(), id.to_string())) {
                return true;
            }
        }
        self.store.exists(index, id)
    }

    /// Whether this explicit id was written and is not yet searchable (a
    /// real-time get must then refresh, or it reads the older version).
    pub fn id_pending(&self, index: &str, id: &str) -> bool {
        let committed = *self.committed.borrow();
        let p = self.pending_ids.lock().unwrap_or_else(|e| e.into_inner());
        p.ids
            .get(&(index.to_string(), id.to_string()))
            .is_some_and(|lsn| *lsn > committed)
    }

    /// Remember explicit ids just written (until committed).
    pub fn note_ids(&self, ids: impl IntoIterator<Item = (String, String)>, lsn: Lsn) {
        let mut p = self.pending_ids.lock().unwrap_or_else(|e| e.into_inner());
        for k in ids {
            p.ids.insert(k, lsn);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn run_indexer(
    store: Arc<dyn Store>,
    batches: mpsc::Receiver<DurableBatch>,
    refreshes: mpsc::Receiver<RefreshRequest>,
    committed_tx: watch::Sender<Lsn>,
    segments: wal::Segments,
    start_lsn: Lsn,
    opts: IngestOptions,
    metrics: Arc<IngestMetrics>,
    mut feed: tail::TailFeed,
) {
    let mut applied = start_lsn;
    let mut committed = start_lsn;
    let mut next_commit = Instant::now() + opts.refresh_interval;
    let mut waiters: Vec<RefreshRequest> = Vec::new();
    let mut last_idle_check = Instant::now();
    let mut open = true;
    let mut stuck: Option<DurableBatch> = None;
    while open || !waiters.is_empty() {
        let timeout = if waiters.iter().any(|w| w.min_lsn <= applied) {
            Duration::ZERO
        } else {
            next_commit
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(50))
        };
        if open {
            let next = match stuck.take() {
                Some(b) => {
                    std::thread::sleep(Duration::from_secs(1));
                    Some(b)
                }
                None => match batches.recv_timeout(timeout) {
                    Ok(batch) => Some(batch),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => {
                        open = false;
                        None
                    }
                },
            };
            if let Some(mut batch) = next {
                let n = batch.events.len() as u64;
                if let Some(t) = &opts.patterns {
                    t.tag(&mut batch.events);
                }
                match store.apply(batch.first_lsn, &batch.events) {
                    Ok(s) => {
                        if s.unparsable > 0 {
                            tracing::warn!(
                                events = s.unparsable,
                                "indexer: records whose _source is not a JSON object were skipped"
                            );
                        }
                        metrics
                            .events_indexed
                            .fetch_add(s.indexed, Ordering::Relaxed);
                        metrics
                            .malformed_values
                            .fetch_add(s.malformed_values, Ordering::Relaxed);
                        applied = batch.first_lsn + n - 1;
                        feed.applied(&batch.events);
                    }
                    Err(e) => {
                        // Never commit past a batch that is not in the store:
                        // indexing pauses (writers feel back-pressure) and the
                        // batch is retried; it also stays in the log.
                        tracing::error!(error = %e, first_lsn = batch.first_lsn, "indexer: applying a durable batch failed; retrying, nothing acknowledged is dropped");
                        stuck = Some(batch);
                        // Refreshes that need it cannot succeed now: fail them.
                        waiters.retain(|w| w.min_lsn <= applied);
                    }
                }
            }
        }
        while let Ok(r) = refreshes.try_recv() {
            waiters.push(r);
        }
        let forced = waiters.iter().any(|w| w.min_lsn <= applied);
        if forced || Instant::now() >= next_commit || !open {
            // the miner's new ids are durable before the events carrying them
            let patterns_saved = match &opts.patterns {
                Some(t) => t.persist().map_err(|e| {
                    tracing::error!(error = %e, "patterns: saving the miner's changes failed; the commit waits and is retried");
                }).is_ok(),
                None => true,
            };
            if patterns_saved && (applied > committed || forced) {
                match store.commit(applied) {
                    Ok(()) => {
                        committed = applied;
                        metrics.commits.fetch_add(1, Ordering::Relaxed);
                        if let Err(e) = segments.truncate_through(committed) {
                            tracing::warn!(error = %e, "wal: truncation failed; will retry");
                        }
                        let _ = committed_tx.send(committed);
                        feed.committed();
                    }
                    Err(e) => tracing::error!(error = %e, "indexer: commit failed; will retry"),
                }
            }
            let (ready, rest): (Vec<_>, Vec<_>) =
                waiters.into_iter().partition(|w| w.min_lsn <= committed);
            for w in ready {
                let _ = w.done.send(committed);
            }
            waiters = rest;
            if !open {
                // Nothing more will arrive: answer whoever still waits.
                for w in waiters.drain(..) {
                    let _ = w.done.send(committed);
                }
            }
            next_commit = Instant::now() + opts.refresh_interval;
            if last_idle_check.elapsed() > Duration::from_secs(10) {
                store.release_idle(opts.writer_idle.as_millis() as u64);
                last_idle_check = Instant::now();
            }
        }
    }
    tracing::info!(committed, "indexer stopped");
}

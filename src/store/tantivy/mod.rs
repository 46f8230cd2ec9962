//! The embedded store, built on tantivy.
//!
//! Why tantivy: it is the maintained Rust search library with Lucene's
//! design (segments, BM25, positions for phrases, FSTs for wildcard/regex/
//! fuzzy) plus a columnar store for sorting and aggregating, and it runs
//! in-process with no JVM. One tantivy index per daily index keeps
//! retention a directory delete. Aggregations run in our own engine
//! (`aggs`) over tantivy's fast-field columns, because tantivy's own lack
//! calendar intervals, time zones, `filters` and `date_range`, and render
//! shapes that differ from Elasticsearch.

mod aggs;
mod columns;
mod compile;
mod document;
mod fast_match;
mod highlight;
mod id_match;
pub mod schema;
mod search;
mod source_check;
mod words;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tantivy::query::Query as TQuery;
use tantivy::store::{Compressor, ZstdCompressor};
use tantivy::{
    Index, IndexReader, IndexSettings, IndexWriter, ReloadPolicy, TantivyDocument, Term,
};

use self::schema::{
    build_schema, text_analyzer, text_analyzer_without_ids, Fields, TEXT_ANALYZER,
    TEXT_ANALYZER_WITHOUT_IDS,
};
use super::catalog::Catalog;
use super::mapping::{wildcard_match, Mapping};
use super::{
    validate_index_name, ApplyStats, IndexInfo, ResolveOptions, Snapshot, Store, StoreError,
};
use crate::event::{Event, WriteOp};
use crate::query::model::Query;
use crate::wal::Lsn;

/// What each commit records in tantivy's commit payload, so that the
/// mapping and the replay position are always consistent with the data.
#[derive(Serialize, Deserialize, Default)]
struct Payload {
    lsn: Lsn,
    mapping: Mapping,
    uuid: String,
    max_ts: Option<i64>,
}

struct WriterState {
    writer: Option<IndexWriter<TantivyDocument>>,
    dirty: bool,
    applied_lsn: Lsn,
    /// Mapping including fields of applied but uncommitted documents.
    mapping: Mapping,
    last_write: Instant,
    max_ts: Option<i64>,
    deleted: bool,
}

/// One open index.
pub(crate) struct IndexHandle {
    name: String,
    dir: PathBuf,
    index: Index,
    reader: IndexReader,
    fields: Fields,
    uuid: String,
    /// Mapping visible to searches (grows as documents are applied).
    mapping: RwLock<Arc<Mapping>>,
    /// Highest LSN whose effects are committed in this index.
    committed_lsn: AtomicU64,
    state: Mutex<WriterState>,
}

/// Tuning of the embedded store.
#[derive(Debug, Clone)]
pub struct TantivyOptions {
    /// Indexing memory per index writer, split over its threads.
    pub writer_heap_bytes: usize,
    pub writer_threads: usize,
    /// zstd level for `_source` blocks (9 by default: 6 % smaller than 5
    /// at the same indexing CPU, since tantivy compresses on its own
    /// thread; 12 saved 4 % more for 23 % more CPU).
    pub zstd_level: i32,
    /// Time zone for naive date strings in records (`None` = UTC).
    pub time_zone: Option<jiff::tz::TimeZone>,
}

impl Default for TantivyOptions {
    fn default() -> Self {
        TantivyOptions {
            writer_heap_bytes: 96 * 1024 * 1024,
            // Measured on 2 cores: one indexing thread makes fewer segments
            // (less merging, smaller index) and is faster than two.
            writer_threads: 1,
            zstd_level: 9,
            time_zone: None,
        }
    }
}

/// The embedded tantivy store: a directory of indices.
pub struct TantivyStore {
    root: PathBuf,
    opts: TantivyOptions,
    indices: RwLock<BTreeMap<String, Arc<IndexHandle>>>,
    catalog: Catalog,
}

/// The catalog's file inside the store's directory (a name no index can
/// have: index names cannot start with `_`).
const CATALOG_FILE: &str = "_catalog.json";

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl TantivyStore {
    /// Open every index under `root` (creating `root` if needed).
    pub fn open(root: &Path, opts: TantivyOptions) -> Result<TantivyStore, StoreError> {
        Self::open_with(root, opts, false)
    }

    /// A small store in a fresh temporary directory, for unit tests.
    #[cfg(test)]
    pub(crate) fn open_for_test() -> (tempfile::TempDir, TantivyStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = TantivyOptions {
            writer_threads: 1,
            writer_heap_bytes: 20 << 20,
            ..Default::default()
        };
        let store = TantivyStore::open(dir.path(), opts).expect("open test store");
        (dir, store)
    }

    /// Open for searching only, beside a running server: nothing on disk is
    /// changed.
    pub fn open_read_only(root: &Path, opts: TantivyOptions) -> Result<TantivyStore, StoreError> {
        Self::open_with(root, opts, true)
    }

    fn open_with(
        root: &Path,
        opts: TantivyOptions,
        read_only: bool,
    ) -> Result<TantivyStore, StoreError> {
        let mut indices = BTreeMap::new();
        let catalog = Catalog::open(&root.join(CATALOG_FILE), read_only)?;
        if read_only && !root.exists() {
            // A reader creates nothing: no indices yet is an empty store.
            return Ok(TantivyStore {
                root: root.to_path_buf(),
                opts,
                indices: RwLock::new(indices),
                catalog,
            });
        }
        std::fs::create_dir_all(root).map_err(io_err(root))?;
        for entry in std::fs::read_dir(root).map_err(io_err(root))? {
            let entry = entry.map_err(io_err(root))?;
            if !entry.path().is_dir() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().to_string();
            if !entry.path().join("meta.json").exists() {
                if read_only {
                    continue;
                }
                tracing::warn!(index = %name, "store: removing index directory without a commit");
                let _ = std::fs::remove_dir_all(entry.path());
                continue;
            }
            match IndexHandle::open(&name, &entry.path()) {
                Ok(h) => {
                    indices.insert(name, Arc::new(h));
                }
                Err(e) => {
                    tracing::error!(index = %name, error = %e, "store: cannot open index; it is left on disk untouched");
                }
            }
        }
        Ok(TantivyStore {
            root: root.to_path_buf(),
            opts,
            indices: RwLock::new(indices),
            catalog,
        })
    }

    fn handle(&self, name: &str) -> Option<Arc<IndexHandle>> {
        self.indices
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    fn handle_or_create(&self, name: &str) -> Result<Arc<IndexHandle>, StoreError> {
        self.open_or_create(name, Mapping::default())
            .map(|(h, _)| h)
    }

    /// The index `name`, created when missing with the mapping and aliases
    /// of the templates its name matches (and `explicit` fields over
    /// them); `true` when it was created now.
    fn open_or_create(
        &self,
        name: &str,
        explicit: Mapping,
    ) -> Result<(Arc<IndexHandle>, bool), StoreError> {
        if let Some(h) = self.handle(name) {
            return Ok((h, false));
        }
        validate_index_name(name)?;
        let h = {
            let mut map = self.indices.write().unwrap_or_else(|e| e.into_inner());
            if let Some(h) = map.get(name) {
                return Ok((h.clone(), false));
            }
            let dir = self.root.join(name);
            let h = Arc::new(IndexHandle::create(name, &dir, &self.opts)?);
            map.insert(name.to_string(), h.clone());
            h
        };
        let applied = self.catalog.applied_to(name).unwrap_or_default();
        let mut mapping = applied.mapping;
        mapping.fields.extend(explicit.fields);
        if !mapping.fields.is_empty() {
            self.set_mapping(&h, mapping)?;
        }
        if !applied.aliases.is_empty() {
            // the index exists either way; an alias that cannot be added
            // is logged, not a lost write
            if let Err(e) = self
                .catalog
                .add_index_aliases(name, &applied.aliases, &|n| self.handle(n).is_some())
            {
                tracing::error!(index = %name, error = %e, "store: cannot add the aliases of the index's template");
            }
        }
        tracing::info!(index = %name, "store: created index");
        Ok((h, true))
    }

    /// Gives a new, empty index its field types, durably.
    fn set_mapping(&self, h: &IndexHandle, mapping: Mapping) -> Result<(), StoreError> {
        let mut st = lock(&h.state);
        // the layout flags are the index's own, not the template's
        let mapping = Mapping {
            messages_without_columns: st.mapping.messages_without_columns,
            ..mapping
        };
        st.mapping = mapping.clone();
        st.dirty = true;
        h.ensure_writer(&mut st, &self.opts)?;
        drop(st);
        *h.mapping.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(mapping);
        let lsn = h.committed_lsn.load(Ordering::Acquire);
        h.commit(lsn)
    }

    fn handles(&self, names: &[String]) -> Result<Vec<Arc<IndexHandle>>, StoreError> {
        names
            .iter()
            .map(|n| {
                self.handle(n)
                    .ok_or_else(|| StoreError::IndexNotFound(n.clone()))
            })
            .collect()
    }
}

impl IndexHandle {
    fn create(name: &str, dir: &Path, opts: &TantivyOptions) -> Result<IndexHandle, StoreError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let settings = IndexSettings {
            docstore_compression: Compressor::Zstd(ZstdCompressor {
                compression_level: Some(opts.zstd_level),
            }),
            // 512 KiB blocks compress 3 % better than 256 KiB on realistic
            // logs; reading one document then decompresses ~0.2 ms
            docstore_blocksize: 512 * 1024,
            ..IndexSettings::default()
        };
        let index = Index::builder()
            .schema(build_schema())
            .settings(settings)
            .create_in_dir(dir)?;
        let uuid = crate::event::new_id();
        let h = Self::finish(
            name,
            dir,
            index,
            Payload {
                uuid,
                mapping: Mapping {
                    messages_without_columns: true,
                    ..Mapping::default()
                },
                ..Payload::default()
            },
        )?;
        // A first, empty commit records the uuid and makes the index openable.
        {
            let mut st = lock(&h.state);
            h.ensure_writer(&mut st, opts)?;
            st.dirty = true;
        }
        h.commit(0)?;
        Ok(h)
    }

    fn open(name: &str, dir: &Path) -> Result<IndexHandle, StoreError> {
        let index = Index::open_in_dir(dir)?;
        let payload: Payload = match index.load_metas()?.payload {
            Some(p) => serde_json::from_str(&p).map_err(|e| {
                StoreError::Engine(format!("index {name}: bad commit payload: {e}"))
            })?,
            None => Payload::default(),
        };
        Self::finish(name, dir, index, payload)
    }

    fn finish(
        name: &str,
        dir: &Path,
        index: Index,
        payload: Payload,
    ) -> Result<IndexHandle, StoreError> {
        index.tokenizers().register(TEXT_ANALYZER, text_analyzer());
        index
            .tokenizers()
            .register(TEXT_ANALYZER_WITHOUT_IDS, text_analyzer_without_ids());
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let fields = Fields::from_schema(&index.schema())?;
        Ok(IndexHandle {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            fields,
            uuid: payload.uuid.clone(),
            mapping: RwLock::new(Arc::new(payload.mapping.clone())),
            committed_lsn: AtomicU64::new(payload.lsn),
            state: Mutex::new(WriterState {
                writer: None,
                dirty: false,
                applied_lsn: payload.lsn,
                mapping: payload.mapping,
                last_write: Instant::now(),
                max_ts: payload.max_ts,
                deleted: false,
            }),
            index,
            reader,
        })
    }

    fn ensure_writer(&self, st: &mut WriterState, opts: &TantivyOptions) -> Result<(), StoreError> {
        if st.writer.is_none() {
            let threads = opts.writer_threads.max(1);
            let heap = opts.writer_heap_bytes.max(threads * 16 * 1024 * 1024);
            st.writer = Some(self.index.writer_with_num_threads(threads, heap)?);
        }
        Ok(())
    }

    fn commit(&self, lsn: Lsn) -> Result<(), StoreError> {
        let mut st = lock(&self.state);
        if !st.dirty || st.deleted {
            return Ok(());
        }
        let payload = Payload {
            lsn: lsn.max(st.applied_lsn),
            mapping: st.mapping.clone(),
            uuid: self.uuid.clone(),
            max_ts: st.max_ts,
        };
        let text =
            serde_json::to_string(&payload).map_err(|e| StoreError::Engine(e.to_string()))?;
        if let Some(w) = st.writer.as_mut() {
            let mut prepared = w.prepare_commit()?;
            prepared.set_payload(&text);
            prepared.commit()?;
        }
        st.dirty = false;
        self.committed_lsn.store(payload.lsn, Ordering::Release);
        drop(st);
        self.reader.reload()?;
        Ok(())
    }

    fn mapping(&self) -> Arc<Mapping> {
        self.mapping
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Store for TantivyStore {
    fn apply(&self, first_lsn: Lsn, events: &[Event]) -> Result<ApplyStats, StoreError> {
        let mut stats = ApplyStats::default();
        let now = crate::event::now_ms();
        // Group consecutive events of the same index to lock once per run.
        let mut i = 0;
        while i < events.len() {
            let name = &events[i].index;
            let mut j = i + 1;
            while j < events.len() && &events[j].index == name {
                j += 1;
            }
            // deletes alone never create an index (a replay after the
            // index was dropped, or a delete of nothing)
            if self.handle(name).is_none() && events[i..j].iter().all(|e| e.op == WriteOp::Delete) {
                stats.skipped_replay += (j - i) as u64;
                i = j;
                continue;
            }
            let mut h = self.handle_or_create(name)?;
            let mut st = lock(&h.state);
            if st.deleted {
                drop(st);
                self.indices
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(name);
                h = self.handle_or_create(name)?;
                st = lock(&h.state);
            }
            h.ensure_writer(&mut st, &self.opts)?;
            // Skip what this index already has: committed before a restart,
            // or applied before a failed attempt at this same batch.
            let done = st.applied_lsn;
            let mut mapping_changed = false;
            // Generated ids replaced or deleted in this run: one column scan
            // per segment for all of them, after the run. Deferring is safe
            // because a generated id is never added twice, and what replaces
            // it is stored with a text id.
            let mut gone: Vec<&str> = Vec::new();
            // the clock is read once per run, not per document
            let mut wrote = false;
            for (k, ev) in events[i..j].iter().enumerate() {
                let lsn = first_lsn + (i + k) as u64;
                if lsn <= done {
                    stats.skipped_replay += 1;
                    continue;
                }
                if ev.op == WriteOp::Delete {
                    if let Some(writer) = st.writer.as_mut() {
                        writer.delete_term(Term::from_field_text(h.fields.id, &ev.id));
                        gone.push(&ev.id);
                        st.applied_lsn = lsn;
                        st.dirty = true;
                        st.last_write = Instant::now();
                        stats.deleted += 1;
                    }
                    continue;
                }
                let parsed_here;
                let record: &serde_json::Map<String, Value> = match &ev.parsed {
                    Some(m) => m,
                    None => match serde_json::from_slice(&ev.source) {
                        Ok(Value::Object(m)) => {
                            parsed_here = m;
                            &parsed_here
                        }
                        _ => {
                            stats.unparsable += 1;
                            continue;
                        }
                    },
                };
                let st = &mut *st;
                let built = document::build(
                    &h.fields,
                    &mut st.mapping,
                    ev,
                    record,
                    self.opts.time_zone.as_ref(),
                    now,
                );
                mapping_changed |= built.mapping_changed;
                stats.malformed_values += built.malformed as u64;
                let Some(writer) = st.writer.as_mut() else {
                    continue;
                };
                if ev.explicit_id {
                    writer.delete_term(Term::from_field_text(h.fields.id, &ev.id));
                    gone.push(&ev.id);
                }
                writer.add_document(built.doc)?;
                st.applied_lsn = lsn;
                st.max_ts = Some(
                    st.max_ts
                        .map_or(ev.timestamp_ms, |m| m.max(ev.timestamp_ms)),
                );
                st.dirty = true;
                wrote = true;
                stats.indexed += 1;
            }
            if wrote {
                st.last_write = Instant::now();
            }
            if let (Some(writer), Some(_)) = (st.writer.as_mut(), h.fields.compact_id) {
                if let Some(q) = id_match::CompactIdQuery::ids(gone.iter().copied()) {
                    writer.delete_query(Box::new(q))?;
                }
            }
            if mapping_changed {
                *h.mapping.write().unwrap_or_else(|e| e.into_inner()) =
                    Arc::new(st.mapping.clone());
            }
            i = j;
        }
        Ok(stats)
    }

    fn commit(&self, lsn: Lsn) -> Result<(), StoreError> {
        let handles: Vec<Arc<IndexHandle>> = self
            .indices
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        for h in handles {
            h.commit(lsn)?;
        }
        Ok(())
    }

    fn release_idle(&self, idle_ms: u64) {
        let handles: Vec<Arc<IndexHandle>> = self
            .indices
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        for h in handles {
            let writer = {
                let mut st = lock(&h.state);
                if st.dirty
                    || st.writer.is_none()
                    || st.last_write.elapsed().as_millis() < idle_ms as u128
                {
                    continue;
                }
                st.writer.take()
            };
            if let Some(w) = writer {
                if let Err(e) = w.wait_merging_threads() {
                    tracing::warn!(index = %h.name, error = %e, "store: merge on writer close failed");
                }
                tracing::debug!(index = %h.name, "store: closed idle writer");
            }
        }
    }

    fn resolve(&self, expr: &str, opts: ResolveOptions) -> Result<Vec<String>, StoreError> {
        let map = self.indices.read().unwrap_or_else(|e| e.into_inner());
        let aliases = if self.catalog.has_aliases() {
            self.catalog.aliases()
        } else {
            BTreeMap::new()
        };
        let mut out: Vec<String> = Vec::new();
        let expr = expr.trim();
        let parts: Vec<&str> = if expr.is_empty() || expr == "_all" {
            vec!["*"]
        } else {
            expr.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .collect()
        };
        for part in parts {
            if let Some(neg) = part.strip_prefix('-') {
                out.retain(|n| !wildcard_match(neg, n));
                continue;
            }
            let mut add = |n: &String| {
                if map.contains_key(n) && !out.contains(n) {
                    out.push(n.clone());
                }
            };
            if part.contains('*') || part.contains('?') || part == "_all" {
                let pat = if part == "_all" { "*" } else { part };
                for n in map.keys() {
                    if wildcard_match(pat, n) {
                        add(n);
                    }
                }
                for (alias, members) in &aliases {
                    if wildcard_match(pat, alias) {
                        members.keys().for_each(&mut add);
                    }
                }
            } else if map.contains_key(part) {
                add(&part.to_string());
            } else if let Some(members) = aliases.get(part) {
                members.keys().for_each(&mut add);
            } else if !opts.ignore_unavailable {
                return Err(StoreError::IndexNotFound(part.to_string()));
            }
        }
        if out.is_empty() && !opts.allow_no_indices {
            return Err(StoreError::IndexNotFound(expr.to_string()));
        }
        Ok(out)
    }

    fn snapshot(&self, indices: &[String]) -> Result<Arc<dyn Snapshot>, StoreError> {
        let parts = self
            .handles(indices)?
            .into_iter()
            .map(|h| search::Part {
                name: h.name.clone(),
                searcher: h.reader.searcher(),
                mapping: h.mapping(),
                fields: h.fields,
            })
            .collect();
        Ok(Arc::new(search::TantivySnapshot { parts }))
    }

    fn count(&self, indices: &[String], query: &Query) -> Result<u64, StoreError> {
        let mut total = 0u64;
        for h in self.handles(indices)? {
            let searcher = h.reader.searcher();
            let mapping = h.mapping();
            let ctx = compile::Ctx {
                fields: &h.fields,
                mapping: &mapping,
                index_name: &h.name,
            };
            let q = compile::compile(&ctx, query)?;
            total += q.count(&searcher)? as u64;
        }
        Ok(total)
    }

    fn exists(&self, index: &str, id: &str) -> bool {
        let Some(h) = self.handle(index) else {
            return false;
        };
        let searcher = h.reader.searcher();
        let q = id_match::ids_query(&h.fields, &[id.to_string()]);
        q.count(&searcher).map(|c| c > 0).unwrap_or(false)
    }

    fn get(&self, index: &str, id: &str) -> Result<Option<Value>, StoreError> {
        let h = self
            .handle(index)
            .ok_or_else(|| StoreError::IndexNotFound(index.to_string()))?;
        let searcher = h.reader.searcher();
        let q = id_match::ids_query(&h.fields, &[id.to_string()]);
        let weight = q.weight(tantivy::query::EnableScoring::disabled_from_searcher(
            &searcher,
        ))?;
        for (ord, seg) in searcher.segment_readers().iter().enumerate() {
            let mut found = None;
            weight.for_each_no_score(seg, &mut |docs| {
                for d in docs {
                    if !seg.is_deleted(*d) {
                        found = Some(*d);
                    }
                }
            })?;
            if let Some(doc) = found {
                let src = search::load_source(&searcher, &h.fields, ord as u32, doc)?;
                return Ok(Some(src));
            }
        }
        Ok(None)
    }

    fn list(&self) -> Vec<IndexInfo> {
        let handles: Vec<Arc<IndexHandle>> = self
            .indices
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        handles
            .iter()
            .map(|h| {
                let searcher = h.reader.searcher();
                let bytes = dir_size(&h.dir);
                IndexInfo {
                    name: h.name.clone(),
                    docs: searcher.num_docs(),
                    bytes,
                    uuid: h.uuid.clone(),
                    max_timestamp_ms: lock(&h.state).max_ts,
                }
            })
            .collect()
    }

    fn mapping(&self, index: &str) -> Option<Value> {
        self.handle(index).map(|h| h.mapping().to_es())
    }

    fn delete_index(&self, name: &str) -> Result<(), StoreError> {
        let h = self
            .indices
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name)
            .ok_or_else(|| StoreError::IndexNotFound(name.to_string()))?;
        let writer = {
            let mut st = lock(&h.state);
            st.deleted = true;
            st.writer.take()
        };
        if let Some(mut w) = writer {
            let _ = w.rollback();
            drop(w);
        }
        std::fs::remove_dir_all(&h.dir).map_err(io_err(&h.dir))?;
        self.catalog.remove_index(name)?;
        tracing::info!(index = %name, "store: deleted index");
        Ok(())
    }

    fn create_index(&self, name: &str, mapping: Mapping) -> Result<bool, StoreError> {
        // (writes never reach here for an alias: ingest sends them to its
        // write index, so apply may create what it must without this check)
        if self.handle(name).is_none() && self.catalog.alias_indices(name).is_some() {
            return Err(StoreError::InvalidIndexName {
                name: name.to_string(),
                reason: "already exists as alias".into(),
            });
        }
        Ok(self.open_or_create(name, mapping)?.1)
    }

    fn catalog(&self) -> &Catalog {
        &self.catalog
    }
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, WriteOp};
    use crate::query::aggs::{AggKind, AggSpec};
    use crate::query::es_dsl::parse_search_body;
    use serde_json::json;

    fn ev(index: &str, src: Value) -> Event {
        Event {
            index: index.into(),
            id: crate::event::new_doc_id(),
            explicit_id: false,
            op: WriteOp::Index,
            timestamp_ms: 1_795_521_600_000,
            source: bytes::Bytes::from(src.to_string()),
            parsed: None,
            profile: crate::event::FieldProfile::Dynamic,
            pattern: None,
        }
    }

    fn store() -> (tempfile::TempDir, TantivyStore) {
        TantivyStore::open_for_test()
    }

    fn search(s: &TantivyStore, body: Value) -> crate::store::SearchResult {
        let names = s.resolve("*", ResolveOptions::default()).unwrap();
        s.snapshot(&names)
            .unwrap()
            .search(&parse_search_body(&body).unwrap(), None)
            .unwrap()
    }

    /// The `aggregations` of a search as the ES API prints them.
    fn aggs_json(s: &TantivyStore, body: Value) -> Value {
        let req = parse_search_body(&body).unwrap();
        let r = search(s, body);
        crate::api::es::aggs_render::render(&req.aggs, &r.aggregations.unwrap())
    }

    #[test]
    fn arrays_nested_objects_and_type_clashes() {
        let (_d, s) = store();
        let docs = vec![
            ev(
                "t",
                json!({"tags": ["a", "b"], "http": {"status": 500, "method": "GET"}, "n": 1}),
            ),
            ev(
                "t",
                json!({"tags": ["b"], "http": {"status": 200}, "n": "not a number"}),
            ),
            ev("t", json!({"tags": "c", "n": [2, 3]})),
        ];
        let stats = s.apply(1, &docs).unwrap();
        assert_eq!(stats.indexed, 3);
        assert_eq!(
            stats.malformed_values, 1,
            "the string in a long field is not indexed"
        );
        s.commit(3).unwrap();
        // Every doc is kept, even the one with a type clash.
        assert_eq!(search(&s, json!({})).total, 3);
        assert_eq!(
            search(&s, json!({"query": {"term": {"tags.keyword": "b"}}})).total,
            2
        );
        assert_eq!(
            search(&s, json!({"query": {"match": {"tags": "a"}}})).total,
            1
        );
        assert_eq!(
            search(
                &s,
                json!({"query": {"range": {"http.status": {"gte": 400}}}})
            )
            .total,
            1
        );
        assert_eq!(search(&s, json!({"query": {"term": {"n": 3}}})).total, 1);
        assert_eq!(
            search(&s, json!({"query": {"exists": {"field": "http"}}})).total,
            2
        );
        let aggs = aggs_json(
            &s,
            json!({"size": 0, "aggs": {"t": {"terms": {"field": "tags.keyword"}}, "s": {"sum": {"field": "n"}}}}),
        );
        assert_eq!(
            aggs["t"]["buckets"],
            json!([{"key": "b", "doc_count": 2}, {"key": "a", "doc_count": 1}, {"key": "c", "doc_count": 1}])
        );
        assert_eq!(aggs["s"]["value"], json!(6.0));
    }

    #[test]
    fn many_dotted_keys_stay_in_source_only() {
        let (_d, s) = store();
        let deep_key = vec!["k"; 5_000].join(".");
        let src = json!({ deep_key: 1, "ok": "x" });
        let st = s.apply(1, &[ev("d", src)]).unwrap();
        assert_eq!(st.indexed, 1);
        s.commit(1).unwrap();
        let mapping = s.mapping("d").unwrap();
        assert_eq!(
            mapping["properties"].as_object().unwrap().len(),
            2,
            "{mapping}"
        );
        assert_eq!(
            search(&s, json!({"query": {"term": {"ok.keyword": "x"}}})).total,
            1
        );
    }

    #[test]
    fn terms_ordered_by_a_sub_metric() {
        let (_d, s) = store();
        // avg v: a = 2, b = 10, c = 6 (computed by hand from the input).
        let docs: Vec<Event> = [("a", 1), ("a", 3), ("b", 10), ("c", 5), ("c", 7), ("c", 6)]
            .iter()
            .map(|(k, v)| ev("m", json!({"k": k, "v": v})))
            .collect();
        s.apply(1, &docs).unwrap();
        s.commit(6).unwrap();
        let aggs = aggs_json(
            &s,
            json!({"size": 0, "aggs": {"t": {"terms": {"field": "k.keyword", "order": {"avg_v": "desc"}},
                "aggs": {"avg_v": {"avg": {"field": "v"}}}}}}),
        );
        let keys: Vec<Value> = aggs["t"]["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["key"].clone())
            .collect();
        assert_eq!(keys, vec![json!("b"), json!("c"), json!("a")]);
    }

    #[test]
    fn too_many_buckets_is_an_error_not_a_gap() {
        let (_d, s) = store();
        let mut a = ev("b", json!({"m": 1}));
        let mut b = ev("b", json!({"m": 2}));
        a.timestamp_ms = 0;
        b.timestamp_ms = 86_400_000;
        s.apply(1, &[a, b]).unwrap();
        s.commit(2).unwrap();
        let names = s.resolve("*", ResolveOptions::default()).unwrap();
        let body = json!({"size": 0, "aggs": {"h": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1s"}}}});
        let err = s
            .snapshot(&names)
            .unwrap()
            .search(&parse_search_body(&body).unwrap(), None)
            .unwrap_err();
        assert!(err.to_string().contains("too_many_buckets"), "{err}");
        let ok = json!({"size": 0, "aggs": {"h": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1h"}}}});
        assert_eq!(
            aggs_json(&s, ok)["h"]["buckets"].as_array().unwrap().len(),
            25
        );
    }

    #[test]
    fn doc_order_scroll_pages_through_every_segment_once() {
        let (_d, s) = store();
        let mut lsn = 1;
        for batch in 0..3 {
            let evs: Vec<Event> = (0..5)
                .map(|i| ev(&format!("s{}", batch % 2), json!({"n": batch * 5 + i})))
                .collect();
            s.apply(lsn, &evs).unwrap();
            lsn += evs.len() as u64;
            s.commit(lsn - 1).unwrap();
        }
        let names = s.resolve("*", ResolveOptions::default()).unwrap();
        let snap = s.snapshot(&names).unwrap();
        let body = json!({"size": 4, "sort": ["_doc"], "query": {"range": {"n": {"gte": 1}}}});
        let req = parse_search_body(&body).unwrap();
        let mut seen = Vec::new();
        let mut cursor: Option<Vec<Value>> = None;
        loop {
            let r = snap.search(&req, cursor.as_deref()).unwrap();
            assert_eq!(r.total, 14);
            if r.hits.is_empty() {
                break;
            }
            for h in &r.hits {
                seen.push(h.source.as_ref().unwrap()["n"].as_i64().unwrap());
            }
            cursor = r.hits.last().map(|h| h.cursor.clone());
        }
        seen.sort();
        assert_eq!(seen, (1..15).collect::<Vec<i64>>());
    }

    #[test]
    fn replay_skips_what_an_index_committed() {
        let (dir, s) = store();
        s.apply(1, &[ev("r", json!({"m": 1})), ev("r", json!({"m": 2}))])
            .unwrap();
        s.commit(2).unwrap();
        drop(s);
        let s = TantivyStore::open(dir.path(), TantivyOptions::default()).unwrap();
        // LSNs 1 and 2 are committed; only 3 is new.
        let st = s
            .apply(
                1,
                &[
                    ev("r", json!({"m": 1})),
                    ev("r", json!({"m": 2})),
                    ev("r", json!({"m": 3})),
                ],
            )
            .unwrap();
        assert_eq!((st.skipped_replay, st.indexed), (2, 1));
        s.commit(3).unwrap();
        assert_eq!(search(&s, json!({})).total, 3);
    }

    /// An event of `index` at `ms` with `src` as its record.
    fn ev_at(index: &str, ms: i64, src: Value) -> Event {
        let mut e = ev(index, src);
        e.timestamp_ms = ms;
        e
    }

    fn spec(name: &str, kind: AggKind, subs: Vec<AggSpec>) -> AggSpec {
        AggSpec {
            name: name.into(),
            kind,
            subs,
        }
    }

    #[test]
    fn typed_results_terms_date_histogram_avg() {
        use crate::query::agg_result::{AggResult, BucketKey};
        use crate::query::aggs::{BucketOrder, Interval};
        use crate::query::datemath::CalUnit;
        use crate::query::model::Order;
        let (_d, s) = store();
        // Minute m of the day starts at t0 + m * 60 s. By hand:
        // checkout: minute 0 has 2 events (latency 10, 20: avg 15), minute 1
        // none, minute 2 one (30); cart: minute 1 one (5). An INFO event of
        // auth is filtered out by the query.
        let t0 = 1_795_521_600_000;
        let docs = vec![
            ev_at(
                "logs-a",
                t0 + 10_000,
                json!({"service": "checkout", "level": "ERROR", "latency": 10}),
            ),
            ev_at(
                "logs-a",
                t0 + 50_000,
                json!({"service": "checkout", "level": "ERROR", "latency": 20}),
            ),
            ev_at(
                "logs-b",
                t0 + 120_000,
                json!({"service": "checkout", "level": "ERROR", "latency": 30}),
            ),
            ev_at(
                "logs-b",
                t0 + 90_000,
                json!({"service": "cart", "level": "ERROR", "latency": 5}),
            ),
            ev_at(
                "logs-b",
                t0 + 30_000,
                json!({"service": "auth", "level": "INFO", "latency": 99}),
            ),
        ];
        s.apply(1, &docs).unwrap();
        s.commit(5).unwrap();
        let per_minute = spec(
            "per_minute",
            AggKind::DateHistogram {
                field: "@timestamp".into(),
                interval: Interval::Calendar(CalUnit::Minute),
                time_zone: None,
                offset_ms: 0,
                min_doc_count: 0,
                extended_bounds: None,
                hard_bounds: None,
                format: None,
                keyed: false,
                order: None,
            },
            vec![spec(
                "latency",
                AggKind::Avg {
                    field: "latency".into(),
                    missing: None,
                },
                vec![],
            )],
        );
        let by_service = spec(
            "by_service",
            AggKind::Terms {
                field: "service.keyword".into(),
                size: 10,
                min_doc_count: 1,
                order: vec![
                    BucketOrder::Count(Order::Desc),
                    BucketOrder::Key(Order::Asc),
                ],
                missing: None,
            },
            vec![per_minute],
        );
        let query = crate::query::lucene::parse("level:ERROR", &Default::default()).unwrap();
        let res = s.aggregate("logs-*", &query, &[by_service]).unwrap();
        let terms = res.get("by_service").and_then(AggResult::as_terms).unwrap();
        let keys: Vec<(&BucketKey, u64)> = terms
            .buckets
            .iter()
            .map(|b| (&b.key, b.doc_count))
            .collect();
        assert_eq!(
            keys,
            vec![
                (&BucketKey::Str("checkout".into()), 3),
                (&BucketKey::Str("cart".into()), 1)
            ]
        );
        assert_eq!(terms.sum_other_doc_count, 0);
        let series = |i: usize| -> Vec<(i64, u64, Option<f64>)> {
            terms.buckets[i]
                .aggs
                .get("per_minute")
                .and_then(AggResult::as_date_histogram)
                .unwrap()
                .iter()
                .map(|b| {
                    (
                        b.key,
                        b.doc_count,
                        b.aggs.get("latency").and_then(AggResult::value),
                    )
                })
                .collect()
        };
        assert_eq!(
            series(0),
            vec![
                (t0, 2, Some(15.0)),
                (t0 + 60_000, 0, None),
                (t0 + 120_000, 1, Some(30.0))
            ]
        );
        assert_eq!(series(1), vec![(t0 + 60_000, 1, Some(5.0))]);
    }

    #[test]
    fn typed_results_keys_bounds_and_metrics() {
        use crate::query::agg_result::{AggResult, BucketKey, Percentile, RangeKey, SortValue};
        let (_d, s) = store();
        let t0 = 1_795_521_600_000;
        // code 200 twice, 500 once; ok true twice, false once; ratio 0.5,
        // 1.5, 2.5; `seen` is a date field written as `yyyy-MM-dd HH:mm:ss`.
        let docs = vec![
            ev_at(
                "k",
                t0,
                json!({"code": 200, "ok": true, "ratio": 0.5, "seen": "2026-11-24 10:00:00"}),
            ),
            ev_at(
                "k",
                t0 + 1,
                json!({"code": 200, "ok": true, "ratio": 1.5, "seen": "2026-11-24 10:00:00"}),
            ),
            ev_at("k", t0 + 2, json!({"code": 500, "ok": false, "ratio": 2.5})),
        ];
        s.apply(1, &docs).unwrap();
        s.commit(3).unwrap();
        let body = json!({
            "code": {"terms": {"field": "code"}},
            "ok": {"terms": {"field": "ok"}},
            "ratio": {"terms": {"field": "ratio", "order": {"_key": "asc"}}},
            "seen": {"terms": {"field": "seen"}},
            "r": {"range": {"field": "ratio", "ranges": [{"to": 1}, {"key": "high", "from": 1}]}},
            "d": {"date_range": {"field": "@timestamp", "ranges": [{"from": t0 + 1}]}},
            "f": {"filters": {"filters": {"errors": {"term": {"code": 500}}}, "other_bucket_key": "rest"}},
            "p": {"percentiles": {"field": "ratio", "percents": [50]}},
            "top": {"top_hits": {"size": 1, "sort": [{"ratio": "desc"}]}},
            "st": {"extended_stats": {"field": "ratio"}}
        });
        let specs = crate::query::aggs::parse_aggs(&body, 0).unwrap();
        let res = s.aggregate("k", &Query::MatchAll, &specs).unwrap();
        let keys = |name: &str| -> Vec<(BucketKey, u64)> {
            res.get(name)
                .and_then(AggResult::as_terms)
                .unwrap()
                .buckets
                .iter()
                .map(|b| (b.key.clone(), b.doc_count))
                .collect()
        };
        assert_eq!(
            keys("code"),
            vec![(BucketKey::Long(200), 2), (BucketKey::Long(500), 1)]
        );
        assert_eq!(
            keys("ok"),
            vec![(BucketKey::Bool(true), 2), (BucketKey::Bool(false), 1)]
        );
        assert_eq!(
            keys("ratio"),
            vec![
                (BucketKey::Double(0.5), 1),
                (BucketKey::Double(1.5), 1),
                (BucketKey::Double(2.5), 1)
            ]
        );
        // 2026-11-24 10:00:00 UTC in epoch ms.
        assert_eq!(keys("seen"), vec![(BucketKey::Date(1_795_514_400_000), 2)]);
        match res.get("r") {
            Some(AggResult::Range { buckets }) => {
                let got: Vec<(&RangeKey<f64>, u64)> =
                    buckets.iter().map(|b| (&b.key, b.doc_count)).collect();
                assert_eq!(
                    got,
                    vec![
                        (
                            &RangeKey {
                                key: None,
                                from: None,
                                to: Some(1.0)
                            },
                            1
                        ),
                        (
                            &RangeKey {
                                key: Some("high".into()),
                                from: Some(1.0),
                                to: None
                            },
                            2
                        )
                    ]
                );
            }
            other => panic!("range: {other:?}"),
        }
        match res.get("d") {
            Some(AggResult::DateRange { buckets, .. }) => {
                assert_eq!(buckets[0].key.from, Some(t0 + 1));
                assert_eq!(buckets[0].doc_count, 2);
            }
            other => panic!("date_range: {other:?}"),
        }
        match res.get("f") {
            Some(AggResult::Filters { buckets, other }) => {
                assert_eq!(buckets.len(), 1);
                assert_eq!(
                    (buckets[0].key.as_deref(), buckets[0].doc_count),
                    (Some("errors"), 1)
                );
                let o = other.as_ref().unwrap();
                assert_eq!((o.key.as_str(), o.doc_count), ("rest", 2));
            }
            other => panic!("filters: {other:?}"),
        }
        assert_eq!(
            res.get("p"),
            Some(&AggResult::Percentiles(vec![Percentile {
                percent: 50.0,
                value: Some(1.5)
            }]))
        );
        match res.get("top") {
            Some(AggResult::TopHits(t)) => {
                assert_eq!((t.total, t.hits.len(), t.max_score), (3, 1, None));
                assert_eq!(t.hits[0].sort, Some(vec![SortValue::Num(2.5)]));
                assert_eq!(t.hits[0].source.as_ref().unwrap()["code"], json!(500));
            }
            other => panic!("top_hits: {other:?}"),
        }
        match res.get("st") {
            // 0.5, 1.5, 2.5: mean 1.5, population variance 2/3.
            Some(AggResult::ExtendedStats(st)) => {
                assert_eq!(
                    (st.count, st.min, st.max, st.avg()),
                    (3, Some(0.5), Some(2.5), Some(1.5))
                );
                assert!((st.variance_population().unwrap() - 2.0 / 3.0).abs() < 1e-12);
            }
            other => panic!("extended_stats: {other:?}"),
        }
    }

    #[test]
    fn typed_aggregate_over_nothing_is_empty_and_missing_index_an_error() {
        use crate::query::agg_result::AggResult;
        let (_d, s) = store();
        let specs = crate::query::aggs::parse_aggs(
            &json!({"t": {"terms": {"field": "level.keyword"}}, "n": {"value_count": {"field": "x"}}}),
            0,
        )
        .unwrap();
        let res = s.aggregate("nothing-*", &Query::MatchAll, &specs).unwrap();
        assert_eq!(res.len(), 2);
        assert!(res
            .get("t")
            .and_then(AggResult::as_terms)
            .unwrap()
            .buckets
            .is_empty());
        assert_eq!(res.get("n").and_then(AggResult::value), Some(0.0));
        let err = s
            .aggregate("nothing", &Query::MatchAll, &specs)
            .unwrap_err();
        assert!(matches!(err, StoreError::IndexNotFound(_)), "{err}");
    }

    #[test]
    fn date_range_reads_and_shows_bounds_in_the_field_explicit_format() {
        use crate::query::agg_result::AggResult;
        use crate::query::date_format::DateFormat;
        use crate::store::mapping::{FieldKind, Mapping};
        let (_d, s) = store();
        let day = DateFormat::parse_spec("dd/MM/yyyy").unwrap();
        let mut m = Mapping::default();
        m.fields.insert(
            "t".into(),
            FieldKind::Date {
                shape: crate::event::timestamp::DateShape::Iso,
                format: Some(day.clone()),
            },
        );
        assert!(s.create_index("typed", m).unwrap());
        let docs = vec![
            ev("typed", json!({"t": "23/11/2026"})),
            ev("typed", json!({"t": "24/11/2026"})),
            ev("typed", json!({"t": "26/11/2026"})),
        ];
        s.apply(1, &docs).unwrap();
        s.commit(3).unwrap();
        // 2026-11-24T00:00:00Z in epoch ms; two documents from that day on.
        let from = 1_795_478_400_000_i64;
        let body = json!({"size": 0, "aggs": {"r": {"date_range": {"field": "t",
            "ranges": [{"from": "24/11/2026"}]}}}});
        let specs = parse_search_body(&body).unwrap().aggs;
        let res = s.aggregate("typed", &Query::MatchAll, &specs).unwrap();
        match res.get("r") {
            Some(AggResult::DateRange {
                buckets,
                field_format,
            }) => {
                assert_eq!(field_format.as_ref(), Some(&day));
                assert_eq!((buckets[0].key.from, buckets[0].doc_count), (Some(from), 2));
            }
            other => panic!("date_range: {other:?}"),
        }
        assert_eq!(
            aggs_json(&s, body)["r"]["buckets"][0]["from_as_string"],
            json!("24/11/2026")
        );
    }
}

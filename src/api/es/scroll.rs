//! Scroll and point-in-time contexts: a store snapshot kept alive for a
//! while so that paging sees one consistent view.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::query::model::SearchRequest;
use crate::store::Snapshot;

/// A scroll in progress.
pub struct ScrollCtx {
    pub snapshot: Arc<dyn Snapshot>,
    pub req: SearchRequest,
    pub cursor: Option<Vec<Value>>,
    pub expires: Instant,
}

/// A point in time: a snapshot and when it expires.
type Pit = (Arc<dyn Snapshot>, Instant);

/// Open scrolls and PITs by id.
#[derive(Default)]
pub struct Scrolls {
    scrolls: Mutex<HashMap<String, ScrollCtx>>,
    pits: Mutex<HashMap<String, Pit>>,
}

/// At most this many scrolls may be open (Elasticsearch's `search.max_open_scroll_context`).
const MAX_OPEN: usize = 500;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Scrolls {
    fn expire(&self) {
        let now = Instant::now();
        lock(&self.scrolls).retain(|_, c| c.expires > now);
        lock(&self.pits).retain(|_, c| c.1 > now);
    }

    pub fn open(&self, ctx: ScrollCtx) -> Option<String> {
        self.expire();
        let mut m = lock(&self.scrolls);
        if m.len() >= MAX_OPEN {
            return None;
        }
        let id = format!("lwscroll{}", crate::event::new_id());
        m.insert(id.clone(), ctx);
        Some(id)
    }

    pub fn take(&self, id: &str) -> Option<ScrollCtx> {
        self.expire();
        lock(&self.scrolls).remove(id)
    }

    pub fn put_back(&self, id: String, ctx: ScrollCtx) {
        lock(&self.scrolls).insert(id, ctx);
    }

    pub fn clear(&self, id: &str) -> bool {
        lock(&self.scrolls).remove(id).is_some()
    }

    pub fn clear_all(&self) -> usize {
        let mut m = lock(&self.scrolls);
        let n = m.len();
        m.clear();
        n
    }

    pub fn open_pit(&self, snap: Arc<dyn Snapshot>, keep: Duration) -> String {
        self.expire();
        let id = format!("lwpit{}", crate::event::new_id());
        lock(&self.pits).insert(id.clone(), (snap, Instant::now() + keep));
        id
    }

    pub fn pit(&self, id: &str, keep: Option<Duration>) -> Option<Arc<dyn Snapshot>> {
        self.expire();
        let mut m = lock(&self.pits);
        let e = m.get_mut(id)?;
        if let Some(k) = keep {
            e.1 = Instant::now() + k;
        }
        Some(e.0.clone())
    }

    pub fn close_pit(&self, id: &str) -> bool {
        lock(&self.pits).remove(id).is_some()
    }
}

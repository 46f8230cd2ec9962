//! Pattern ids for events: the indexer asks the miner for the pattern of
//! each event's message just before the store applies it, and makes the
//! miner's changes durable before the store commits, so every committed
//! `_pattern` id is known after a restart.

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::broadcast;

use crate::analysis::patterns::{Patterns, ScopedChange};
use crate::event::{self, Event};

/// Shared handle on the server's miners: the indexer tags, the API reads.
#[derive(Clone)]
pub struct PatternTagger {
    patterns: Arc<Mutex<Patterns>>,
    changes: broadcast::Sender<ScopedChange>,
}

impl std::fmt::Debug for PatternTagger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PatternTagger")
    }
}

impl PatternTagger {
    /// Wraps opened patterns.
    pub fn new(patterns: Patterns) -> PatternTagger {
        let (changes, _) = broadcast::channel(4096);
        PatternTagger {
            patterns: Arc::new(Mutex::new(patterns)),
            changes,
        }
    }

    /// The miners, for lookups (resolve an id, its template, its members).
    pub fn lock(&self) -> MutexGuard<'_, Patterns> {
        self.patterns.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// New templates and merges as they become durable.
    pub fn subscribe(&self) -> broadcast::Receiver<ScopedChange> {
        self.changes.subscribe()
    }

    /// Gives each event with a message its pattern id (the record is
    /// parsed here when the input did not, and kept for the store).
    pub fn tag(&self, events: &mut [Event]) {
        let mut p = self.lock();
        for ev in events {
            if ev.parsed.is_none() {
                match serde_json::from_slice::<serde_json::Value>(&ev.source) {
                    Ok(serde_json::Value::Object(m)) => ev.parsed = Some(Box::new(m)),
                    _ => continue,
                }
            }
            let Some(record) = ev.parsed.as_deref() else {
                continue;
            };
            let found = event::detect(record);
            if let Some(message) = found.message {
                let service = found.service.as_deref().unwrap_or("");
                ev.pattern = Some(p.tag(service, message).0);
            }
        }
    }

    /// Makes the changes since the last call durable and announces them.
    pub fn persist(&self) -> anyhow::Result<()> {
        let changes = self.lock().persist()?;
        for c in changes {
            // nobody listening is fine
            let _ = self.changes.send(c);
        }
        Ok(())
    }
}

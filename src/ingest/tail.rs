//! The feed of the live tail: which events each commit made searchable.
//! Only ids travel (the tail asks the store for the matching ones with the
//! client's own query), and nothing is gathered while nobody listens.

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::event::Event;

/// Ids gathered between two commits at most; beyond this a commit reports
/// how many it left out, so a flood cannot grow the indexer's memory.
const MAX_IDS_PER_COMMIT: usize = 50_000;

/// Commits kept for a slow listener before it is told it missed some.
const FEED_CAPACITY: usize = 64;

/// The events one commit made searchable.
#[derive(Debug, Default)]
pub struct CommittedEvents {
    /// (index, id) in the order they were applied.
    pub ids: Vec<(String, String)>,
    /// Events of this commit that were not listed (over the bound).
    pub left_out: u64,
}

/// The indexer's side: gather ids while someone listens, publish at commit.
pub struct TailFeed {
    tx: broadcast::Sender<Arc<CommittedEvents>>,
    pending: CommittedEvents,
}

impl TailFeed {
    /// A feed and the sender listeners subscribe through.
    pub fn new() -> (TailFeed, broadcast::Sender<Arc<CommittedEvents>>) {
        let (tx, _) = broadcast::channel(FEED_CAPACITY);
        (
            TailFeed {
                tx: tx.clone(),
                pending: CommittedEvents::default(),
            },
            tx,
        )
    }

    /// Note events just applied to the store.
    pub fn applied(&mut self, events: &[Event]) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        let room = MAX_IDS_PER_COMMIT.saturating_sub(self.pending.ids.len());
        let writes = events
            .iter()
            .filter(|e| e.op != crate::event::WriteOp::Delete);
        for (n, e) in writes.enumerate() {
            if n < room {
                self.pending.ids.push((e.index.clone(), e.id.clone()));
            } else {
                self.pending.left_out += 1;
            }
        }
    }

    /// The applied events are searchable now: tell the listeners.
    pub fn committed(&mut self) {
        let batch = std::mem::take(&mut self.pending);
        if (batch.ids.is_empty() && batch.left_out == 0) || self.tx.receiver_count() == 0 {
            return;
        }
        let _ = self.tx.send(Arc::new(batch));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(i: usize) -> Event {
        Event {
            index: "app".into(),
            id: format!("id{i}"),
            explicit_id: false,
            op: crate::event::WriteOp::Index,
            timestamp_ms: 0,
            source: bytes::Bytes::from_static(b"{}"),
            parsed: None,
            profile: crate::event::FieldProfile::Dynamic,
            pattern: None,
        }
    }

    #[test]
    fn nothing_is_gathered_without_listeners() {
        let (mut feed, tx) = TailFeed::new();
        feed.applied(&[ev(1)]);
        let mut rx = tx.subscribe();
        feed.committed();
        assert!(
            rx.try_recv().is_err(),
            "the event before the listener came is not sent"
        );
        feed.applied(&[ev(2), ev(3)]);
        feed.committed();
        let got = rx.try_recv().expect("a batch");
        assert_eq!(
            got.ids,
            vec![("app".into(), "id2".into()), ("app".into(), "id3".into())]
        );
        assert_eq!(got.left_out, 0);
    }

    #[test]
    fn a_flood_is_bounded_and_counted() {
        let (mut feed, tx) = TailFeed::new();
        let mut rx = tx.subscribe();
        let many: Vec<Event> = (0..MAX_IDS_PER_COMMIT + 7).map(ev).collect();
        feed.applied(&many);
        feed.committed();
        let got = rx.try_recv().expect("a batch");
        assert_eq!(got.ids.len(), MAX_IDS_PER_COMMIT);
        assert_eq!(got.left_out, 7);
    }
}

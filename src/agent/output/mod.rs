//! Agent outputs and the delivery loop between the sources and them.
//!
//! Chunks are delivered in order, one at a time. When no server accepts a
//! chunk it goes to the disk buffer (and only then are its file positions
//! saved); while anything is buffered, newer chunks queue behind it, so
//! data arrives oldest first once a server is back. When the buffer is
//! full the overflow policy decides: `block` stops taking chunks (sources
//! stop reading; nothing is lost while the files stay), `drop_newest`
//! drops the newest chunk with a loud warning.

pub mod forward;
pub mod stdout;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::buffer::{Buffered, DiskBuffer};
use super::positions::{Mark, Positions};
use super::source::Chunk;
use crate::forward::message;

/// Something that takes whole forward frames.
pub trait Deliver: Send {
    /// Deliver one frame (PackedForward with `chunk` = `chunk_id`); Ok only
    /// once the receiver acknowledged it.
    fn deliver(&mut self, frame: &[u8], chunk_id: &str) -> Result<(), String>;
}

/// What happens to new chunks when the disk buffer is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    Block,
    DropNewest,
}

/// Counters of the output, logged and served as metrics.
#[derive(Default, Debug)]
pub struct OutputMetrics {
    pub events_out: AtomicU64,
    pub chunks_out: AtomicU64,
    pub bytes_out: AtomicU64,
    pub events_buffered: AtomicU64,
    pub bytes_buffered: AtomicU64,
    pub chunks_buffered: AtomicU64,
    pub events_dropped: AtomicU64,
    pub delivery_failures: AtomicU64,
}

/// Settings of the delivery loop.
#[derive(Debug, Clone)]
pub struct LoopOptions {
    pub gzip: bool,
    pub overflow: Overflow,
    pub retry_min: Duration,
    pub retry_max: Duration,
    /// After the sources stopped, keep trying this long before leaving the
    /// rest in the buffer (or in the files).
    pub shutdown_timeout: Duration,
}

enum Item {
    Disk(Buffered),
    Mem {
        frame: Vec<u8>,
        id: String,
        events: u64,
        marks: Vec<Mark>,
    },
}

/// A chunk id: 16 random bytes in hex.
pub fn chunk_id() -> String {
    use rand::Rng;
    let b: [u8; 16] = rand::rng().random();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The delivery loop: runs until the sources are done (channel closed) and
/// everything is delivered, or the shutdown timeout passes after `stop`.
pub struct DeliveryLoop {
    pub rx: Receiver<Chunk>,
    pub sink: Box<dyn Deliver>,
    pub buffer: DiskBuffer,
    pub positions: Positions,
    pub metrics: Arc<OutputMetrics>,
    pub opts: LoopOptions,
    pub stop: Arc<AtomicBool>,
}

impl DeliveryLoop {
    pub fn run(mut self, already_buffered: Vec<Buffered>) {
        for b in &already_buffered {
            self.metrics
                .events_buffered
                .fetch_add(b.events, Ordering::Relaxed);
            self.metrics.chunks_buffered.fetch_add(1, Ordering::Relaxed);
        }
        self.metrics
            .bytes_buffered
            .store(self.buffer.bytes, Ordering::Relaxed);
        if !already_buffered.is_empty() {
            tracing::info!(
                chunks = already_buffered.len(),
                bytes = self.buffer.bytes,
                "agent: resending chunks buffered before the last stop"
            );
        }
        let mut queue: VecDeque<Item> = already_buffered.into_iter().map(Item::Disk).collect();
        let mut open = true;
        let mut failures: u32 = 0;
        let mut stopped_at: Option<Instant> = None;
        loop {
            if stopped_at.is_none() && self.stop.load(Ordering::Relaxed) {
                stopped_at = Some(Instant::now());
            }
            if queue.is_empty() {
                if !open {
                    break;
                }
                match self.rx.recv_timeout(Duration::from_millis(200)) {
                    Ok(c) => queue.push_back(self.item(c)),
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => {
                        open = false;
                        continue;
                    }
                }
            }
            open = self.intake(&mut queue, open);
            let Some(front) = queue.front() else { continue };
            let (result, events, size) = match front {
                Item::Mem {
                    events: 0, marks, ..
                } => {
                    // positions only (a file closed, truncated, forgotten)
                    let marks = marks.clone();
                    self.commit(&marks);
                    queue.pop_front();
                    continue;
                }
                Item::Mem {
                    frame, id, events, ..
                } => (self.sink.deliver(frame, id), *events, frame.len()),
                Item::Disk(b) => match self.buffer.read(b) {
                    Ok(frame) => (
                        self.sink.deliver(&frame, &b.chunk_id),
                        b.events,
                        frame.len(),
                    ),
                    Err(e) => {
                        tracing::error!(error = %e, "agent: a buffered chunk cannot be read; skipping it");
                        let b = b.clone();
                        self.unbuffer(&b);
                        queue.pop_front();
                        continue;
                    }
                },
            };
            match result {
                Ok(()) => {
                    if failures > 0 {
                        tracing::info!(after_failures = failures, "agent: delivering again");
                    }
                    failures = 0;
                    self.metrics.events_out.fetch_add(events, Ordering::Relaxed);
                    self.metrics.chunks_out.fetch_add(1, Ordering::Relaxed);
                    self.metrics
                        .bytes_out
                        .fetch_add(size as u64, Ordering::Relaxed);
                    match queue.pop_front() {
                        Some(Item::Disk(b)) => self.unbuffer(&b),
                        Some(Item::Mem { marks, .. }) => self.commit(&marks),
                        None => {}
                    }
                }
                Err(e) => {
                    failures += 1;
                    self.metrics
                        .delivery_failures
                        .fetch_add(1, Ordering::Relaxed);
                    if failures == 1 || failures % 10 == 0 {
                        tracing::warn!(error = %e, failures, buffered_bytes = self.buffer.bytes, "agent: no server accepted a chunk; buffering to disk and retrying");
                    }
                    self.spill(&mut queue);
                    // Back off (exponential with jitter), still taking in
                    // and buffering chunks meanwhile.
                    let exp = self.opts.retry_min.saturating_mul(1u32 << failures.min(16));
                    let wait = exp.min(self.opts.retry_max);
                    let wait = wait.mul_f64(0.5 + rand::random::<f64>() * 0.5);
                    let until = Instant::now() + wait;
                    while Instant::now() < until {
                        if stopped_at.is_none() && self.stop.load(Ordering::Relaxed) {
                            stopped_at = Some(Instant::now());
                        }
                        if stopped_at.is_some_and(|s| s.elapsed() > self.opts.shutdown_timeout) {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(50).min(until - Instant::now()));
                        open = self.intake(&mut queue, open);
                        self.spill(&mut queue);
                    }
                }
            }
            if stopped_at.is_some_and(|s| s.elapsed() > self.opts.shutdown_timeout) {
                let _ = self.intake(&mut queue, open);
                self.spill(&mut queue);
                let left = queue
                    .iter()
                    .filter(|i| matches!(i, Item::Mem { .. }))
                    .count();
                tracing::warn!(
                    buffered_bytes = self.buffer.bytes,
                    unbuffered_chunks = left,
                    "agent: stopping with undelivered data (kept in the disk buffer; anything not buffered is re-read from the files next time)"
                );
                return;
            }
        }
    }

    fn item(&self, c: Chunk) -> Item {
        let id = chunk_id();
        let frame = if c.events > 0 {
            message::encode_packed_forward(
                &c.tag,
                &c.packed,
                c.events as usize,
                &id,
                self.opts.gzip,
            )
        } else {
            Vec::new()
        };
        Item::Mem {
            frame,
            id,
            events: c.events,
            marks: c.marks,
        }
    }

    /// Take chunks from the sources while at most two wait in memory.
    fn intake(&mut self, queue: &mut VecDeque<Item>, open: bool) -> bool {
        if !open {
            return false;
        }
        while queue
            .iter()
            .filter(|i| matches!(i, Item::Mem { .. }))
            .count()
            < 2
        {
            match self.rx.try_recv() {
                Ok(c) => queue.push_back(self.item(c)),
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Disconnected) => return false,
            }
        }
        true
    }

    /// Move in-memory chunks to disk, in order, as far as the buffer and
    /// the overflow policy allow.
    fn spill(&mut self, queue: &mut VecDeque<Item>) {
        for item in queue.iter_mut() {
            let Item::Mem {
                frame,
                id,
                events,
                marks,
            } = item
            else {
                continue;
            };
            if *events == 0 {
                // positions only: safe once everything before is safe
                let m = std::mem::take(marks);
                self.commit(&m);
                continue;
            }
            if self.buffer.has_room(frame.len()) {
                match self.buffer.push(frame, *events, id) {
                    Ok(b) => {
                        self.metrics
                            .events_buffered
                            .fetch_add(*events, Ordering::Relaxed);
                        self.metrics.chunks_buffered.fetch_add(1, Ordering::Relaxed);
                        self.metrics
                            .bytes_buffered
                            .store(self.buffer.bytes, Ordering::Relaxed);
                        let m = std::mem::take(marks);
                        self.commit(&m);
                        *item = Item::Disk(b);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "agent: cannot write the disk buffer; keeping the chunk in memory");
                        return;
                    }
                }
            } else if self.opts.overflow == Overflow::DropNewest {
                tracing::error!(
                    events = *events,
                    buffer_max_bytes = self.buffer.max_bytes,
                    "agent: DROPPING EVENTS: the disk buffer is full and no server accepts data (overflow = drop_newest)"
                );
                self.metrics
                    .events_dropped
                    .fetch_add(*events, Ordering::Relaxed);
                let m = std::mem::take(marks);
                self.commit(&m);
                *events = 0;
                frame.clear();
            } else {
                // block: leave it (and everything after it) in order
                return;
            }
        }
        // dropped chunks are now empty position-only items; they are
        // removed when they reach the front
    }

    fn unbuffer(&mut self, b: &Buffered) {
        self.buffer.remove(b);
        self.metrics.events_buffered.fetch_sub(
            b.events
                .min(self.metrics.events_buffered.load(Ordering::Relaxed)),
            Ordering::Relaxed,
        );
        self.metrics.chunks_buffered.fetch_sub(
            1.min(self.metrics.chunks_buffered.load(Ordering::Relaxed)),
            Ordering::Relaxed,
        );
        self.metrics
            .bytes_buffered
            .store(self.buffer.bytes, Ordering::Relaxed);
    }

    fn commit(&mut self, marks: &[Mark]) {
        if marks.is_empty() {
            return;
        }
        self.positions.apply(marks);
        if let Err(e) = self.positions.save() {
            tracing::error!(error = %e, "agent: cannot save positions (data may be sent twice after a restart)");
        }
    }
}

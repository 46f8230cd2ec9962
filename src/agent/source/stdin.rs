//! The `stdin` source: lines from standard input until it ends (then the
//! agent flushes and exits), for `some-program | logweave agent --stdin`.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;

use super::{record, Chunk, ChunkBuilder, LineOptions, LineSplitter, SourceMetrics};

/// Read stdin into chunks until EOF or `stop`.
pub fn run(
    opts: LineOptions,
    metrics: Arc<SourceMetrics>,
    mut builder: ChunkBuilder,
    tx: SyncSender<Chunk>,
    stop: Arc<AtomicBool>,
) {
    // A reader thread feeds blocks so that chunks still go out on time
    // while stdin is quiet.
    let (btx, brx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
    std::thread::spawn(move || {
        let mut input = std::io::stdin().lock();
        loop {
            let mut buf = vec![0u8; 256 * 1024];
            match input.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    buf.truncate(n);
                    if btx.send(buf).is_err() {
                        return;
                    }
                }
            }
        }
    });
    let mut split = LineSplitter::default();
    let mut lines = Vec::new();
    let mut at = 0u64;
    let mut ended = false;
    while !ended && !stop.load(Ordering::Relaxed) {
        match brx.recv_timeout(std::time::Duration::from_millis(100)) {
            Ok(block) => {
                metrics
                    .bytes
                    .fetch_add(block.len() as u64, Ordering::Relaxed);
                split.feed(&block, at, &opts, &metrics, &mut lines);
                at += block.len() as u64;
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                split.flush_partial(at, &opts, &metrics, &mut lines);
                ended = true;
            }
        }
        split.flush_pending(&opts, false, &mut lines);
        let now = super::now_ns();
        for l in lines.drain(..) {
            metrics.events.fetch_add(1, Ordering::Relaxed);
            let Some(rec) = record(l.text, None, &opts, &metrics) else {
                continue;
            };
            builder.add(now, &rec);
            if builder.is_full() {
                if let Some(c) = builder.take() {
                    if tx.send(c).is_err() {
                        return;
                    }
                }
            }
        }
        if builder.is_due() || ended {
            if let Some(c) = builder.take() {
                if tx.send(c).is_err() {
                    return;
                }
            }
        }
    }
    if let Some(c) = builder.take() {
        let _ = tx.send(c);
    }
}

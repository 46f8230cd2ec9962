//! Write-ahead log: an acknowledged write is one whose bytes are here and
//! fsynced. One thread owns the open segment and batches every request that
//! arrived while the previous fsync ran (group commit), so many concurrent
//! writers share one fsync.
//!
//! Layout: `wal/<first_lsn:020>.log` segments of records
//! `[len u32][crc32 u32][payload]`, payload = `lsn u64, op u8, explicit u8,
//! timestamp i64, index (u16 len), id (u16 len), source (u32 len)`; the
//! op's low four bits are 0 index, 1 create, 2 delete (an empty source),
//! the high four the field profile.
//! A torn tail (crash mid-write) is detected by length/CRC and cut off on
//! open. Segments are deleted once the store has committed all their records.

mod record;

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub use record::{decode_record, encode_record, RecordError};

use crate::event::Event;

/// Log sequence number: position of an event in the log, from 1.
pub type Lsn = u64;

/// Errors of the write-ahead log.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("wal io at {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("wal is shut down")]
    Closed,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> WalError + '_ {
    move |source| WalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Target size of one segment file before a new one is started.
const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// Upper bound of bytes written under one fsync.
const GROUP_BYTES: usize = 16 * 1024 * 1024;

/// A batch of events that are now durable, handed to the indexer.
#[derive(Debug)]
pub struct DurableBatch {
    /// LSN of `events[0]`; the rest follow consecutively.
    pub first_lsn: Lsn,
    pub events: Vec<Event>,
}

struct AppendRequest {
    events: Vec<Event>,
    /// A seal instead of an append: start a new, empty segment when every
    /// record written so far is `<=` this (committed to the store).
    seal_through: Option<Lsn>,
    done: tokio::sync::oneshot::Sender<Result<Lsn, String>>,
}

/// Handle to append to the log; cheap to clone.
#[derive(Clone)]
pub struct WalWriter {
    tx: tokio::sync::mpsc::Sender<AppendRequest>,
}

impl WalWriter {
    /// Append events and wait until they are fsynced. Returns the LSN of the
    /// last event.
    pub async fn append(&self, events: Vec<Event>) -> Result<Lsn, WalError> {
        let (done, rx) = tokio::sync::oneshot::channel();
        self.tx
            .send(AppendRequest {
                events,
                seal_through: None,
                done,
            })
            .await
            .map_err(|_| WalError::Closed)?;
        match rx.await {
            Ok(Ok(lsn)) => Ok(lsn),
            Ok(Err(msg)) => Err(WalError::Io {
                path: PathBuf::from("wal"),
                source: std::io::Error::other(msg),
            }),
            Err(_) => Err(WalError::Closed),
        }
    }
}

impl WalWriter {
    /// Starts a new, empty segment if the store has committed every record
    /// written so far (`committed` is its commit), so that the segments
    /// holding them can be deleted: a clean shutdown then leaves no log
    /// the store already holds. The empty segment keeps the next LSN for
    /// the next start. Writes after it go to the new segment, so calling
    /// it while writes continue is safe. Whether it sealed.
    pub async fn seal(&self, committed: Lsn) -> Result<bool, WalError> {
        let (done, rx) = tokio::sync::oneshot::channel();
        self.tx
            .send(AppendRequest {
                events: Vec::new(),
                seal_through: Some(committed),
                done,
            })
            .await
            .map_err(|_| WalError::Closed)?;
        match rx.await {
            Ok(Ok(n)) => Ok(n == 1),
            Ok(Err(msg)) => Err(WalError::Io {
                path: PathBuf::from("wal"),
                source: std::io::Error::other(msg),
            }),
            Err(_) => Err(WalError::Closed),
        }
    }
}

/// The set of segment files, shared between the writer thread (which adds)
/// and the indexer (which deletes what is committed).
#[derive(Clone)]
pub struct Segments {
    dir: PathBuf,
    /// First LSN of each segment, ascending.
    firsts: Arc<Mutex<Vec<Lsn>>>,
}

impl Segments {
    fn path_of(&self, first: Lsn) -> PathBuf {
        self.dir.join(format!("{first:020}.log"))
    }

    /// Delete every segment whose records are all `<= committed`. The newest
    /// segment is kept: the writer has it open.
    pub fn truncate_through(&self, committed: Lsn) -> Result<usize, WalError> {
        let mut firsts = self.firsts.lock().unwrap_or_else(|e| e.into_inner());
        let mut removed = 0;
        while firsts.len() > 1 && firsts[1] - 1 <= committed {
            let path = self.path_of(firsts[0]);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&path)(e)),
            }
            firsts.remove(0);
            removed += 1;
        }
        Ok(removed)
    }

    /// Total bytes of all segments (for metrics and the bench).
    pub fn total_bytes(&self) -> u64 {
        let firsts = self
            .firsts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        firsts
            .iter()
            .filter_map(|f| fs::metadata(self.path_of(*f)).ok())
            .map(|m| m.len())
            .sum()
    }
}

/// An opened log: what must be replayed, and how to continue writing.
pub struct OpenedWal {
    pub segments: Segments,
    /// LSN the next appended event gets.
    pub next_lsn: Lsn,
}

/// Open (or create) the log in `dir`, cutting off a torn tail, and call
/// `replay` with every intact record in order.
pub fn open(dir: &Path, mut replay: impl FnMut(Lsn, Event)) -> Result<OpenedWal, WalError> {
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut firsts: Vec<Lsn> = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if let Some(stem) = name.strip_suffix(".log") {
            if let Ok(first) = stem.parse::<Lsn>() {
                firsts.push(first);
            }
        }
    }
    firsts.sort_unstable();
    let segments = Segments {
        dir: dir.to_path_buf(),
        firsts: Arc::new(Mutex::new(Vec::new())),
    };
    let mut next_lsn: Lsn = 1;
    for (i, &first) in firsts.iter().enumerate() {
        let path = segments.path_of(first);
        let mut data = Vec::new();
        File::open(&path)
            .and_then(|mut f| f.read_to_end(&mut data))
            .map_err(io_err(&path))?;
        let mut pos = 0usize;
        next_lsn = next_lsn.max(first);
        while pos < data.len() {
            match decode_record(&data[pos..]) {
                Ok((lsn, event, used)) => {
                    replay(lsn, event);
                    next_lsn = lsn + 1;
                    pos += used;
                }
                Err(e) => {
                    let last = i + 1 == firsts.len();
                    tracing::warn!(
                        segment = %path.display(),
                        offset = pos,
                        error = %e,
                        last_segment = last,
                        "wal: cutting off a torn or corrupt tail"
                    );
                    let f = OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .map_err(io_err(&path))?;
                    f.set_len(pos as u64).map_err(io_err(&path))?;
                    f.sync_all().map_err(io_err(&path))?;
                    break;
                }
            }
        }
    }
    *segments.firsts.lock().unwrap_or_else(|e| e.into_inner()) = firsts;
    Ok(OpenedWal { segments, next_lsn })
}

/// Start the writer thread. Durable batches are passed to `on_durable`
/// (which may block: that is the backpressure from the indexer).
pub fn start_writer(
    opened: &OpenedWal,
    queue_depth: usize,
    on_durable: impl FnMut(DurableBatch) + Send + 'static,
) -> Result<(WalWriter, std::thread::JoinHandle<()>), WalError> {
    let (tx, rx) = tokio::sync::mpsc::channel(queue_depth);
    let segments = opened.segments.clone();
    let next_lsn = opened.next_lsn;
    let mut writer = SegmentWriter::create(segments, next_lsn)?;
    let handle = std::thread::Builder::new()
        .name("wal-writer".into())
        .spawn(move || writer.run(rx, on_durable))
        .map_err(|e| WalError::Io {
            path: PathBuf::from("wal-writer thread"),
            source: e,
        })?;
    Ok((WalWriter { tx }, handle))
}

struct SegmentWriter {
    segments: Segments,
    file: BufWriter<File>,
    path: PathBuf,
    written: u64,
    next_lsn: Lsn,
    buf: Vec<u8>,
}

impl SegmentWriter {
    fn create(segments: Segments, next_lsn: Lsn) -> Result<Self, WalError> {
        let path = segments.path_of(next_lsn);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        let written = file.metadata().map_err(io_err(&path))?.len();
        // Make the new file's directory entry durable too.
        if let Ok(d) = File::open(&segments.dir) {
            let _ = d.sync_all();
        }
        {
            let mut firsts = segments.firsts.lock().unwrap_or_else(|e| e.into_inner());
            if !firsts.contains(&next_lsn) {
                firsts.push(next_lsn);
            }
        }
        Ok(Self {
            segments,
            file: BufWriter::with_capacity(1 << 20, file),
            path,
            written,
            next_lsn,
            buf: Vec::with_capacity(1 << 20),
        })
    }

    fn run(
        &mut self,
        mut rx: tokio::sync::mpsc::Receiver<AppendRequest>,
        mut on_durable: impl FnMut(DurableBatch),
    ) {
        while let Some(first) = rx.blocking_recv() {
            let mut group = vec![first];
            let mut bytes: usize = group[0].events.iter().map(|e| e.source.len() + 64).sum();
            while bytes < GROUP_BYTES {
                match rx.try_recv() {
                    Ok(req) => {
                        bytes += req
                            .events
                            .iter()
                            .map(|e| e.source.len() + 64)
                            .sum::<usize>();
                        group.push(req);
                    }
                    Err(_) => break,
                }
            }
            let first_lsn = self.next_lsn;
            let result = self.write_group(&group);
            match result {
                Ok(()) => {
                    let mut all = Vec::new();
                    let mut lsn = first_lsn;
                    let mut seals = Vec::new();
                    for req in group {
                        if let Some(c) = req.seal_through {
                            seals.push((c, req.done));
                            continue;
                        }
                        lsn += req.events.len() as u64;
                        let _ = req.done.send(Ok(lsn - 1));
                        all.extend(req.events);
                    }
                    if !all.is_empty() {
                        on_durable(DurableBatch {
                            first_lsn,
                            events: all,
                        });
                    }
                    for (committed, done) in seals {
                        let _ = done.send(self.seal(committed).map_err(|e| e.to_string()));
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "wal write failed; requests are answered with an error");
                    // The LSNs were not consumed durably: roll back.
                    self.next_lsn = first_lsn;
                    for req in group {
                        let _ = req.done.send(Err(e.to_string()));
                    }
                }
            }
        }
        let _ = self.file.flush();
        let _ = self.file.get_ref().sync_data();
    }

    /// Moves to a new, empty segment when all written is committed; 1 if
    /// it did, 0 if there was nothing to seal or newer records exist.
    fn seal(&mut self, committed: Lsn) -> Result<Lsn, WalError> {
        if committed + 1 != self.next_lsn || self.written == 0 {
            return Ok(0);
        }
        self.file.flush().map_err(io_err(&self.path))?;
        self.file
            .get_ref()
            .sync_data()
            .map_err(io_err(&self.path))?;
        *self = Self::create(self.segments.clone(), self.next_lsn)?;
        Ok(1)
    }

    fn write_group(&mut self, group: &[AppendRequest]) -> Result<(), WalError> {
        if self.written > SEGMENT_BYTES {
            self.file.flush().map_err(io_err(&self.path))?;
            self.file
                .get_ref()
                .sync_data()
                .map_err(io_err(&self.path))?;
            *self = Self::create(self.segments.clone(), self.next_lsn)?;
        }
        let mut lsn = self.next_lsn;
        for req in group {
            for ev in &req.events {
                self.buf.clear();
                encode_record(&mut self.buf, lsn, ev);
                self.file.write_all(&self.buf).map_err(io_err(&self.path))?;
                self.written += self.buf.len() as u64;
                lsn += 1;
            }
        }
        self.file.flush().map_err(io_err(&self.path))?;
        self.file
            .get_ref()
            .sync_data()
            .map_err(io_err(&self.path))?;
        self.next_lsn = lsn;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::WriteOp;

    fn ev(i: usize) -> Event {
        Event {
            index: "logs".into(),
            id: format!("id{i}"),
            explicit_id: i % 2 == 0,
            op: WriteOp::Index,
            timestamp_ms: i as i64,
            source: bytes::Bytes::from(format!("{{\"n\":{i}}}")),
            parsed: None,
            profile: crate::event::FieldProfile::Dynamic,
            pattern: None,
        }
    }

    #[tokio::test]
    async fn append_replay_truncate() {
        let dir = tempfile::tempdir().unwrap();
        let opened = open(dir.path(), |_, _| panic!("empty log replayed")).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let (w, h) = start_writer(&opened, 16, move |b| tx.send(b.first_lsn).unwrap()).unwrap();
        let a = w.append((0..3).map(ev).collect()).await.unwrap();
        let b = w.append((3..5).map(ev).collect()).await.unwrap();
        assert_eq!((a, b), (3, 5));
        drop(w);
        h.join().unwrap();
        assert_eq!(rx.iter().collect::<Vec<_>>(), vec![1, 4]);

        // Torn tail: append garbage, replay must keep exactly the 5 records.
        let seg = dir.path().join(format!("{:020}.log", 1));
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&[9, 0, 0, 0, 1, 2]).unwrap();
        drop(f);
        let mut seen = Vec::new();
        let opened = open(dir.path(), |lsn, e| seen.push((lsn, e.id))).unwrap();
        assert_eq!(seen.len(), 5);
        assert_eq!(seen[4], (5, "id4".to_string()));
        assert_eq!(opened.next_lsn, 6);
        // A new segment starts at 6; the first can go once 5 is committed.
        let (w, h) = start_writer(&opened, 16, |_| {}).unwrap();
        w.append(vec![ev(9)]).await.unwrap();
        assert_eq!(opened.segments.truncate_through(4).unwrap(), 0);
        assert_eq!(opened.segments.truncate_through(5).unwrap(), 1);
        drop(w);
        h.join().unwrap();
        let mut n = 0;
        open(dir.path(), |lsn, _| {
            assert_eq!(lsn, 6);
            n += 1
        })
        .unwrap();
        assert_eq!(n, 1);
    }
}

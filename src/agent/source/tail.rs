//! The `tail` source: follow every file matching a set of globs, as
//! Fluentd's `in_tail` does.
//!
//! Files are known by device and inode, not by name. The globs are scanned
//! again twice a second: a new inode under a watched name means the old file
//! was rotated by rename, and the old file is read to its end (the handle
//! stays open, so its name does not matter) and closed after
//! `rotate_wait`. A file shorter than our offset was truncated
//! (copytruncate) and is read again from its start. At start, a file in the
//! position file whose name now holds another inode is looked for by inode
//! in its directory, so data of a file rotated while the agent was down is
//! still read. Polling (not inotify) keeps this simple and works on every
//! filesystem; the poll interval bounds latency.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{record, Chunk, ChunkBuilder, Line, LineOptions, LineSplitter, SourceMetrics};
use crate::agent::positions::{FileKey, Mark};

/// Settings of one tail source.
#[derive(Debug, Clone)]
pub struct TailOptions {
    pub paths: Vec<String>,
    /// Files present at start without a saved position: read from the
    /// start (else only what is appended from now on). Files that appear
    /// later are always read from their start.
    pub read_from_head: bool,
    pub lines: LineOptions,
    pub rescan: Duration,
    pub poll: Duration,
    /// Keep reading a rotated file this long after its rotation.
    pub rotate_wait: Duration,
}

struct Watched {
    key: FileKey,
    path: PathBuf,
    file: File,
    /// Next byte to read.
    offset: u64,
    split: LineSplitter,
    rotated_at: Option<Instant>,
}

/// Follows files and sends chunks until `stop`.
pub struct Tailer {
    opts: TailOptions,
    files: HashMap<FileKey, Watched>,
    saved: HashMap<FileKey, (PathBuf, u64)>,
    /// Rotated files read to their end and closed, with their last offset:
    /// if a glob also matches the rotated name (`app.log*`), the file is
    /// picked up again where it ended instead of being read twice.
    finished: HashMap<FileKey, u64>,
    metrics: Arc<SourceMetrics>,
    builder: ChunkBuilder,
    buf: Vec<u8>,
}

impl Tailer {
    pub fn new(
        opts: TailOptions,
        saved: HashMap<FileKey, (PathBuf, u64)>,
        metrics: Arc<SourceMetrics>,
        builder: ChunkBuilder,
    ) -> Tailer {
        Tailer {
            opts,
            files: HashMap::new(),
            saved,
            finished: HashMap::new(),
            metrics,
            builder,
            buf: vec![0; 256 << 10],
        }
    }

    fn open(&mut self, key: FileKey, path: &Path, offset: u64, rotated: bool) {
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "tail: cannot open");
                return;
            }
        };
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let offset = if offset > len {
            tracing::warn!(path = %path.display(), offset, len, "tail: file is shorter than its saved position (truncated while stopped); reading from its start");
            0
        } else {
            offset
        };
        if file.seek(SeekFrom::Start(offset)).is_err() {
            return;
        }
        tracing::info!(path = %path.display(), offset, rotated, "tail: following");
        self.metrics.files.fetch_add(1, Ordering::Relaxed);
        self.files.insert(
            key,
            Watched {
                key,
                path: path.to_path_buf(),
                file,
                offset,
                split: LineSplitter::default(),
                rotated_at: rotated.then(Instant::now),
            },
        );
    }

    /// Find files; notice rotations.
    fn scan(&mut self, first: bool) {
        let mut seen: HashMap<PathBuf, FileKey> = HashMap::new();
        for pattern in &self.opts.paths {
            let paths = match glob::glob(pattern) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(pattern, error = %e, "tail: bad glob");
                    continue;
                }
            };
            for p in paths.flatten() {
                if let Ok(meta) = std::fs::metadata(&p) {
                    if meta.is_file() {
                        seen.insert(p, FileKey::of(&meta));
                    }
                }
            }
        }
        // Rotations: a watched name now missing or holding another inode.
        for w in self.files.values_mut() {
            if w.rotated_at.is_some() {
                continue;
            }
            let now_key = std::fs::metadata(&w.path).ok().map(|m| FileKey::of(&m));
            if now_key != Some(w.key) {
                tracing::info!(path = %w.path.display(), "tail: rotated; reading the old file to its end");
                self.metrics.rotations.fetch_add(1, Ordering::Relaxed);
                w.rotated_at = Some(Instant::now());
            }
        }
        // Forget finished files that are gone from every glob.
        let present: std::collections::HashSet<FileKey> = seen.values().copied().collect();
        self.finished.retain(|k, _| present.contains(k));
        let mut new: Vec<(PathBuf, FileKey)> = seen
            .into_iter()
            .filter(|(_, k)| !self.files.contains_key(k))
            .collect();
        new.sort();
        for (path, key) in new {
            let offset = match self.saved.remove(&key) {
                Some((_, off)) => off,
                None if self.finished.contains_key(&key) => self.finished[&key],
                None if first && !self.opts.read_from_head => {
                    std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0)
                }
                None => 0,
            };
            self.open(key, &path, offset, false);
        }
        if first {
            // Saved files no glob matched by name: rotated while we were
            // stopped? Look for the inode beside the old name.
            let left: Vec<(FileKey, (PathBuf, u64))> = self.saved.drain().collect();
            for (key, (path, off)) in left {
                if let Some(found) = find_inode(&path, key) {
                    tracing::info!(old = %path.display(), now = %found.display(), "tail: found a file rotated while stopped");
                    self.open(key, &found, off, true);
                } else {
                    self.builder.mark(Mark {
                        key,
                        path,
                        offset: off,
                        closed: true,
                    });
                }
            }
        }
    }

    /// Read what is new in one file; true if anything was read.
    fn read_file(&mut self, key: FileKey, out: &mut Vec<Line>) -> bool {
        let Some(w) = self.files.get_mut(&key) else {
            return false;
        };
        let len = w.file.metadata().map(|m| m.len()).unwrap_or(w.offset);
        if len < w.offset {
            tracing::warn!(path = %w.path.display(), was = w.offset, now = len, "tail: truncated; reading from the start");
            self.metrics.truncations.fetch_add(1, Ordering::Relaxed);
            w.split.reset();
            w.offset = 0;
            if w.file.seek(SeekFrom::Start(0)).is_err() {
                return false;
            }
            self.builder.mark(Mark {
                key,
                path: w.path.clone(),
                offset: 0,
                closed: false,
            });
        }
        let mut any = false;
        // Bounded work per file per turn, so one busy file cannot starve others.
        for _ in 0..2 {
            let n = match w.file.read(&mut self.buf) {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(path = %w.path.display(), error = %e, "tail: read failed");
                    break;
                }
            };
            if n == 0 {
                break;
            }
            any = true;
            self.metrics.bytes.fetch_add(n as u64, Ordering::Relaxed);
            w.split.feed(
                &self.buf[..n],
                w.offset,
                &self.opts.lines,
                &self.metrics,
                out,
            );
            w.offset += n as u64;
            if out.len() > 2048 {
                break;
            }
        }
        w.split.flush_pending(&self.opts.lines, false, out);
        any
    }

    fn emit(&mut self, key: FileKey, lines: &mut Vec<Line>, tx: &SyncSender<Chunk>) -> bool {
        let Some(w) = self.files.get(&key) else {
            return true;
        };
        let path = super::display(&w.path);
        let now = super::now_ns();
        let mut last = None;
        for l in lines.drain(..) {
            self.metrics.events.fetch_add(1, Ordering::Relaxed);
            last = Some(l.end);
            let Some(rec) = record(l.text, Some(&path), &self.opts.lines, &self.metrics) else {
                continue;
            };
            self.builder.add(now, &rec);
            if self.builder.is_full() {
                self.builder.mark(Mark {
                    key,
                    path: w.path.clone(),
                    offset: l.end,
                    closed: false,
                });
                if let Some(c) = self.builder.take() {
                    if tx.send(c).is_err() {
                        return false;
                    }
                }
                last = None;
            }
        }
        if let Some(end) = last {
            self.builder.mark(Mark {
                key,
                path: w.path.clone(),
                offset: end,
                closed: false,
            });
        }
        true
    }

    /// Run until `stop` is set, then flush what is complete and return.
    pub fn run(mut self, tx: SyncSender<Chunk>, stop: Arc<AtomicBool>) {
        let mut last_scan = Instant::now();
        self.scan(true);
        let mut lines = Vec::new();
        loop {
            let stopping = stop.load(Ordering::Relaxed);
            if !stopping && last_scan.elapsed() >= self.opts.rescan {
                self.scan(false);
                last_scan = Instant::now();
            }
            let mut progressed = false;
            let keys: Vec<FileKey> = self.files.keys().copied().collect();
            for key in keys {
                progressed |= self.read_file(key, &mut lines);
                if stopping {
                    if let Some(w) = self.files.get_mut(&key) {
                        w.split.flush_pending(&self.opts.lines, true, &mut lines);
                    }
                }
                if !lines.is_empty() && !self.emit(key, &mut lines, &tx) {
                    return;
                }
                self.close_if_done(key, &mut lines, &tx);
            }
            if (self.builder.is_due() || self.builder.is_full() || stopping) && !self.send(&tx) {
                return;
            }
            if stopping {
                return;
            }
            if !progressed {
                std::thread::sleep(self.opts.poll);
            }
        }
    }

    fn send(&mut self, tx: &SyncSender<Chunk>) -> bool {
        match self.builder.take() {
            Some(c) => tx.send(c).is_ok(),
            None => true,
        }
    }

    /// Close a rotated file once it is read to its end and `rotate_wait` passed.
    fn close_if_done(&mut self, key: FileKey, lines: &mut Vec<Line>, tx: &SyncSender<Chunk>) {
        let Some(w) = self.files.get_mut(&key) else {
            return;
        };
        let Some(at) = w.rotated_at else {
            return;
        };
        let len = w.file.metadata().map(|m| m.len()).unwrap_or(0);
        if at.elapsed() < self.opts.rotate_wait || len > w.offset {
            return;
        }
        let end = w.offset;
        w.split
            .flush_partial(end, &self.opts.lines, &self.metrics, lines);
        if !lines.is_empty() {
            let _ = self.emit(key, lines, tx);
        }
        if let Some(w) = self.files.remove(&key) {
            tracing::info!(path = %w.path.display(), "tail: rotated file done");
            self.finished.insert(key, end);
            self.builder.mark(Mark {
                key,
                path: w.path,
                offset: end,
                closed: true,
            });
        }
    }
}

/// A file in `old`'s directory with inode `key`, if any.
fn find_inode(old: &Path, key: FileKey) -> Option<PathBuf> {
    let dir = old.parent()?;
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        if let Ok(m) = e.metadata() {
            if m.is_file() && FileKey::of(&m) == key {
                return Some(e.path());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::source::{LongLines, Parser};
    use std::io::Write;

    fn run_tailer(glob: String, dir: &Path, steps: impl FnOnce(&Path)) -> Vec<String> {
        let opts = TailOptions {
            paths: vec![glob],
            read_from_head: true,
            lines: LineOptions {
                tag: "t".into(),
                parser: Parser::None,
                max_line_bytes: 1024,
                long_lines: LongLines::Split,
                multiline: None,
                multiline_flush: Duration::from_secs(1),
                path_key: None,
                hostname: "h".into(),
                transforms: Default::default(),
            },
            rescan: Duration::from_millis(50),
            poll: Duration::from_millis(10),
            rotate_wait: Duration::from_millis(200),
        };
        let t = Tailer::new(
            opts,
            HashMap::new(),
            Arc::new(SourceMetrics::default()),
            ChunkBuilder::new("t", 1 << 20, 1000, Duration::from_millis(20)),
        );
        let (tx, rx) = std::sync::mpsc::sync_channel(100);
        let stop = Arc::new(AtomicBool::new(false));
        let th = {
            let stop = stop.clone();
            std::thread::spawn(move || t.run(tx, stop))
        };
        steps(dir);
        stop.store(true, Ordering::Relaxed);
        th.join().unwrap();
        let mut out = Vec::new();
        for c in rx.try_iter() {
            for e in crate::forward::message::read_packed(&c.packed, &Default::default()).unwrap() {
                out.push(e.record["message"].as_str().unwrap().to_string());
            }
        }
        out.sort();
        out
    }

    fn write(path: &Path, from: usize, to: usize) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        for i in from..to {
            writeln!(f, "line-{i:04}").unwrap();
        }
    }

    #[test]
    fn a_glob_matching_rotated_names_reads_each_line_once() {
        let dir = tempfile::tempdir().unwrap();
        let glob = dir.path().join("app.log*").display().to_string();
        let got = run_tailer(glob, dir.path(), |d| {
            let log = d.join("app.log");
            write(&log, 0, 100);
            std::thread::sleep(Duration::from_millis(300));
            std::fs::rename(&log, d.join("app.log.1")).unwrap();
            write(&log, 100, 150);
            // past rotate_wait: the old file is closed, then seen again by the glob
            std::thread::sleep(Duration::from_millis(800));
            std::fs::rename(d.join("app.log.1"), d.join("app.log.2")).unwrap();
            std::fs::rename(&log, d.join("app.log.1")).unwrap();
            write(&log, 150, 160);
            std::thread::sleep(Duration::from_millis(800));
        });
        let want: Vec<String> = (0..160).map(|i| format!("line-{i:04}")).collect();
        assert_eq!(got, want);
    }
}

//! The `tail` source: follow every file matching a set of globs, as
//! Fluentd's `in_tail` does.
//!
//! Files are known by device and inode, not by name. The globs are scanned
//! again twice a second: a new inode under a watched name means the old file
//! was rotated by rename, and the old file is read to its end (the handle
//! stays open, so its name does not matter) and closed after
//! `rotate_wait`. A file shorter than our offset was truncated
//! (copytruncate) and is read again from its start. Polling (not inotify)
//! keeps this simple and works on every filesystem; the poll interval
//! bounds latency.
//!
//! At start, the position file says what happened while the agent was
//! stopped (see [`Tailer::resume_saved`]): each saved file is looked for by
//! inode (under a glob, else in its directory) and checked by its first
//! bytes, since an inode number alone does not survive copytruncate or
//! reuse; a copytruncated file's copy is found by those bytes. A file
//! without a position is new, read from its start, unless it is there at
//! the very first run of its glob (then from its end, unless
//! `read_from_head`).

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{record, Chunk, ChunkBuilder, Line, LineOptions, LineSplitter, SourceMetrics};
use crate::agent::positions::{FileKey, Head, Mark, Saved};

/// Settings of one tail source.
#[derive(Debug, Clone)]
pub struct TailOptions {
    pub paths: Vec<String>,
    /// Files present at the first run of their glob: read from the start
    /// (else only what is appended from now on). Files that appear later
    /// are always read from their start.
    pub read_from_head: bool,
    /// Globs the position file lists as run before: a file under one of
    /// them without a position appeared since, and is read from its start.
    pub ran_before: Vec<glob::Pattern>,
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
    /// The file's first `min(offset, Head::MAX)` bytes, saved with its
    /// position.
    head: Vec<u8>,
    split: LineSplitter,
    rotated_at: Option<Instant>,
}

impl Watched {
    fn mark(&self, offset: u64) -> Mark {
        let n = (offset as usize).min(self.head.len());
        Mark {
            key: self.key,
            path: self.path.clone(),
            offset,
            head: Head::of(&self.head[..n]),
            closed: false,
        }
    }
}

/// Follows files and sends chunks until `stop`.
pub struct Tailer {
    opts: TailOptions,
    files: HashMap<FileKey, Watched>,
    saved: HashMap<FileKey, Saved>,
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
        saved: HashMap<FileKey, Saved>,
        metrics: Arc<SourceMetrics>,
        builder: ChunkBuilder,
    ) -> Tailer {
        let mut opts = opts;
        // A glob that matches a saved file ran before too (position files
        // written before globs were listed).
        for g in &opts.paths {
            let Ok(pat) = glob::Pattern::new(g) else {
                continue;
            };
            if saved.values().any(|s| pat.matches_path(&s.path)) {
                opts.ran_before.push(pat);
            }
        }
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
        let mut head = vec![0; (offset as usize).min(Head::MAX)];
        if let Err(e) = std::os::unix::fs::FileExt::read_exact_at(&file, &mut head, 0)
            .and_then(|()| file.seek(SeekFrom::Start(offset)))
        {
            tracing::warn!(path = %path.display(), error = %e, "tail: cannot read");
            return;
        }
        tracing::info!(path = %path.display(), offset, rotated, "tail: following");
        self.metrics.files.fetch_add(1, Ordering::Relaxed);
        let w = Watched {
            key,
            path: path.to_path_buf(),
            file,
            offset,
            head,
            split: LineSplitter::default(),
            rotated_at: rotated.then(Instant::now),
        };
        // Saved at once, so that a restart knows where this file started
        // (above all one followed from its end).
        self.builder.mark(w.mark(offset));
        self.files.insert(key, w);
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
        if first {
            self.resume_saved(&seen);
        }
        let mut new: Vec<(PathBuf, FileKey)> = seen
            .into_iter()
            .filter(|(_, k)| !self.files.contains_key(k))
            .collect();
        new.sort();
        for (path, key) in new {
            let offset = match self.finished.get(&key) {
                Some(off) => *off,
                None if first && !self.opts.read_from_head && !self.ran_before(&path) => {
                    std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0)
                }
                None => 0,
            };
            self.open(key, &path, offset, false);
        }
    }

    /// Whether a glob that matches `path` ran before this start.
    fn ran_before(&self, path: &Path) -> bool {
        self.opts.ran_before.iter().any(|g| g.matches_path(path))
    }

    /// At the first scan: what became of each file in the position file
    /// while the agent was stopped.
    ///
    /// - Its inode, under a glob (`seen`) or else in its old directory, still
    ///   starts with the saved head and is not shorter than the offset: the
    ///   same file, renamed or not; resume at the offset (a file only found
    ///   in the directory was rotated away: read to its end, then closed).
    /// - Its inode holds other content (truncated, copytruncated, or the
    ///   number given to a new file): a file under a glob is read from its
    ///   start; one elsewhere is not ours.
    /// - Either way, if the old content is not where we left it, a file in
    ///   the same directory that starts with the saved head and reaches the
    ///   offset is its copy (copytruncate): read from the offset.
    /// - Else the file is gone (deleted) and forgotten.
    fn resume_saved(&mut self, seen: &HashMap<PathBuf, FileKey>) {
        let globbed: HashMap<FileKey, &PathBuf> = seen.iter().map(|(p, k)| (*k, p)).collect();
        let mut saved: Vec<(FileKey, Saved)> = self.saved.drain().collect();
        saved.sort_by(|a, b| a.1.path.cmp(&b.1.path));
        let saved_keys: HashSet<FileKey> = saved.iter().map(|(k, _)| *k).collect();
        for (key, s) in saved {
            let under_glob = globbed.get(&key).map(|p| p.to_path_buf());
            let found = under_glob.clone().or_else(|| find_inode(&s.path, key));
            if let Some(at) = &found {
                if holds(at, &s) {
                    if under_glob.is_none() {
                        tracing::info!(old = %s.path.display(), now = %at.display(), "tail: found a file rotated while stopped");
                    }
                    self.open(key, at, s.offset, under_glob.is_none());
                    continue;
                }
            }
            if let Some(at) = &under_glob {
                tracing::warn!(path = %at.display(), offset = s.offset, "tail: the file's content was replaced while stopped (truncated, or a new file under the old inode number); reading it from its start");
                self.metrics.truncations.fetch_add(1, Ordering::Relaxed);
                self.open(key, at, 0, false);
            }
            let skip = |k: &FileKey| saved_keys.contains(k) || self.files.contains_key(k);
            match find_copy(&s, skip) {
                Some((copy_key, copy)) => {
                    tracing::info!(old = %s.path.display(), copy = %copy.display(), offset = s.offset, "tail: found a copy of a file truncated while stopped; reading it from the saved offset");
                    let rotated = !seen.contains_key(&copy);
                    self.open(copy_key, &copy, s.offset, rotated);
                }
                None if under_glob.is_none() => {
                    tracing::warn!(path = %s.path.display(), offset = s.offset, "tail: a file is gone (deleted while stopped); what it held past the saved offset is lost");
                    self.builder.mark(Mark {
                        key,
                        path: s.path,
                        offset: s.offset,
                        head: Head::default(),
                        closed: true,
                    });
                }
                None => {}
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
            w.head.clear();
            if w.file.seek(SeekFrom::Start(0)).is_err() {
                return false;
            }
            self.builder.mark(w.mark(0));
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
            if w.head.len() < Head::MAX && w.head.len() as u64 == w.offset {
                let take = n.min(Head::MAX - w.head.len());
                w.head.extend_from_slice(&self.buf[..take]);
            }
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
                self.builder.mark(w.mark(l.end));
                if let Some(c) = self.builder.take() {
                    if tx.send(c).is_err() {
                        return false;
                    }
                }
                last = None;
            }
        }
        if let Some(end) = last {
            self.builder.mark(w.mark(end));
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
                head: Head::default(),
                closed: true,
            });
        }
    }
}

/// Whether the file at `path` starts with `s`'s head and reaches its offset.
fn holds(path: &Path, s: &Saved) -> bool {
    File::open(path)
        .is_ok_and(|f| f.metadata().is_ok_and(|m| m.len() >= s.offset) && s.head.matches(&f))
}

/// A copy of `s`'s content in its directory (what copytruncate leaves): a
/// file that starts with its head and reaches its offset, the longest if
/// several do, none of the files `skip` says are accounted for.
fn find_copy(s: &Saved, skip: impl Fn(&FileKey) -> bool) -> Option<(FileKey, PathBuf)> {
    if s.head.len == 0 {
        return None;
    }
    let dir = s.path.parent()?;
    let mut best: Option<(u64, FileKey, PathBuf)> = None;
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let Ok(m) = e.metadata() else { continue };
        let key = FileKey::of(&m);
        if !m.is_file() || m.len() < s.offset || skip(&key) {
            continue;
        }
        if best.as_ref().is_some_and(|b| b.0 >= m.len()) || !holds(&e.path(), s) {
            continue;
        }
        best = Some((m.len(), key, e.path()));
    }
    best.map(|(_, k, p)| (k, p))
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

    fn options(glob: String) -> TailOptions {
        TailOptions {
            paths: vec![glob],
            read_from_head: true,
            ran_before: Vec::new(),
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
        }
    }

    fn run_tailer(glob: String, dir: &Path, steps: impl FnOnce(&Path)) -> Vec<String> {
        run_with(options(glob), HashMap::new(), dir, steps)
    }

    /// Run a tailer with these positions until `steps` are done; the
    /// messages it sent, sorted.
    fn run_with(
        opts: TailOptions,
        saved: HashMap<FileKey, Saved>,
        dir: &Path,
        steps: impl FnOnce(&Path),
    ) -> Vec<String> {
        let t = Tailer::new(
            opts,
            saved,
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

    fn lines(from: usize, to: usize) -> Vec<String> {
        (from..to).map(|i| format!("line-{i:04}")).collect()
    }

    /// The position of `path` read to its end (what a clean stop saves).
    fn at_end(path: &Path) -> (FileKey, Saved) {
        let bytes = std::fs::read(path).unwrap();
        let meta = std::fs::metadata(path).unwrap();
        let saved = Saved {
            path: path.to_path_buf(),
            offset: bytes.len() as u64,
            head: Head::of(&bytes),
        };
        (FileKey::of(&meta), saved)
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
        assert_eq!(got, lines(0, 160));
    }

    /// The old file is gone from the glob (renamed to a name it does not
    /// match) and the known name holds a new inode, shorter or longer than
    /// the saved offset: a rotation while stopped, the new file read from
    /// its start (without read_from_head), the old one to its end.
    #[test]
    fn a_known_path_under_another_inode_is_read_from_its_start() {
        for new_lines in [10, 100] {
            let dir = tempfile::tempdir().unwrap();
            let log = dir.path().join("app.log");
            write(&log, 0, 40);
            let (key, saved) = at_end(&log);
            write(&log, 40, 50);
            std::fs::rename(&log, dir.path().join("app.log.1")).unwrap();
            write(&log, 100, 100 + new_lines);
            let mut opts = options(dir.path().join("*.log").display().to_string());
            opts.read_from_head = false;
            let got = run_with(opts, HashMap::from([(key, saved)]), dir.path(), |_| {
                std::thread::sleep(Duration::from_millis(300));
            });
            let mut want = lines(40, 50);
            want.extend(lines(100, 100 + new_lines));
            assert_eq!(got, want, "new file of {new_lines} lines");
        }
    }

    /// The saved inode number now holds other content (a deleted file's
    /// number given to a new file, or a file rewritten in place), shorter
    /// or longer than the saved offset: read from its start, not from the
    /// offset.
    #[test]
    fn a_saved_inode_with_other_content_is_read_from_its_start() {
        for (offset, new_lines) in [(2000, 10), (200, 100)] {
            let dir = tempfile::tempdir().unwrap();
            let log = dir.path().join("app.log");
            write(&log, 0, new_lines);
            let (key, mut saved) = at_end(&log);
            saved.offset = offset;
            saved.head = Head::of(b"the old file's first line\n");
            let mut opts = options(dir.path().join("*.log").display().to_string());
            opts.read_from_head = false;
            let got = run_with(opts, HashMap::from([(key, saved)]), dir.path(), |_| {
                std::thread::sleep(Duration::from_millis(300));
            });
            assert_eq!(got, lines(0, new_lines), "offset {offset}");
        }
    }

    /// Without a position: a file there at the first run of its glob is
    /// followed from its end; under a glob that ran before, from its start.
    #[test]
    fn files_without_a_position_start_by_whether_their_glob_ran_before() {
        for ran_before in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let glob = dir.path().join("*.log").display().to_string();
            write(&dir.path().join("app.log"), 0, 10);
            let mut opts = options(glob.clone());
            opts.read_from_head = false;
            if ran_before {
                opts.ran_before.push(glob::Pattern::new(&glob).unwrap());
            }
            let got = run_with(opts, HashMap::new(), dir.path(), |d| {
                std::thread::sleep(Duration::from_millis(150));
                write(&d.join("app.log"), 10, 15);
                std::thread::sleep(Duration::from_millis(300));
            });
            let from = if ran_before { 0 } else { 10 };
            assert_eq!(got, lines(from, 15), "glob ran before: {ran_before}");
        }
    }
}

//! Where each tailed file was read up to, kept in a position file like
//! Fluentd's `pos_file`: one `path<TAB>offset<TAB>dev:inode<TAB>head` line
//! per file, hex numbers, plus one `glob<TAB>pattern` line per glob that
//! has run (so that a file appearing under it later is known to be new).
//! Offsets are saved only once the data before them is acknowledged by a
//! server or safe in the disk buffer, so a restart re-reads at most what
//! was in flight (at least once, never less).

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// A file's identity across renames: device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileKey {
    pub dev: u64,
    pub ino: u64,
}

impl FileKey {
    pub fn of(meta: &std::fs::Metadata) -> FileKey {
        use std::os::unix::fs::MetadataExt;
        FileKey {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// The first bytes of a file, as length and CRC-32: an inode number alone
/// does not say the file is the one we read (copytruncate rewrites it in
/// place, and a deleted file's number is soon given to a new file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Head {
    pub len: u32,
    pub crc: u32,
}

impl Head {
    /// At most this many leading bytes are compared.
    pub const MAX: usize = 1024;

    /// The head of a file that starts with `bytes` (at most `MAX` are used).
    pub fn of(bytes: &[u8]) -> Head {
        let b = &bytes[..bytes.len().min(Head::MAX)];
        Head {
            len: b.len() as u32,
            crc: crc32fast::hash(b),
        }
    }

    /// Whether `file` still starts with these bytes (an empty head matches
    /// any file: nothing is known).
    pub fn matches(&self, file: &std::fs::File) -> bool {
        use std::os::unix::fs::FileExt;
        if self.len == 0 {
            return true;
        }
        let mut buf = vec![0; self.len as usize];
        file.read_exact_at(&mut buf, 0).is_ok() && Head::of(&buf) == *self
    }
}

/// A saved position: where a file was and how far it was read.
#[derive(Debug, Clone, PartialEq)]
pub struct Saved {
    pub path: PathBuf,
    pub offset: u64,
    /// The first `min(offset, Head::MAX)` bytes (empty in position files
    /// written before heads were kept).
    pub head: Head,
}

/// A position update carried by a chunk: applied when the chunk is safe.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    pub key: FileKey,
    pub path: PathBuf,
    pub offset: u64,
    pub head: Head,
    /// The file was rotated away and fully read: forget it.
    pub closed: bool,
}

/// The position file and its contents.
#[derive(Debug)]
pub struct Positions {
    file: PathBuf,
    pub entries: HashMap<FileKey, Saved>,
    /// Globs that have run before.
    pub globs: BTreeSet<String>,
}

/// One line of a position file: an entry or a glob.
enum Line {
    Entry(FileKey, Saved),
    Glob(String),
}

fn hex_pair(s: &str) -> Option<(u64, u64)> {
    let (a, b) = s.split_once(':')?;
    Some((
        u64::from_str_radix(a, 16).ok()?,
        u64::from_str_radix(b, 16).ok()?,
    ))
}

/// `path<TAB>offset<TAB>dev:ino[<TAB>len:crc]` (the path may hold tabs, so
/// columns are taken from the right) or `glob<TAB>pattern`.
fn parse_line(line: &str) -> Option<Line> {
    let entry = |cols: &[&str], head: Head| -> Option<Line> {
        let [key, off, path] = cols else { return None };
        let (dev, ino) = hex_pair(key)?;
        let offset = u64::from_str_radix(off, 16).ok()?;
        let saved = Saved {
            path: PathBuf::from(path),
            offset,
            head,
        };
        Some(Line::Entry(FileKey { dev, ino }, saved))
    };
    let cols: Vec<&str> = line.rsplitn(4, '\t').collect();
    if let [head, rest @ ..] = cols.as_slice() {
        let parsed = hex_pair(head).and_then(|(len, crc)| {
            let head = Head {
                len: u32::try_from(len).ok()?,
                crc: u32::try_from(crc).ok()?,
            };
            (head.len as usize <= Head::MAX).then_some(head)
        });
        if let Some(head) = parsed {
            if let Some(l) = entry(rest, head) {
                return Some(l);
            }
        }
    }
    let cols: Vec<&str> = line.rsplitn(3, '\t').collect();
    if let Some(l) = entry(&cols, Head::default()) {
        return Some(l);
    }
    line.strip_prefix("glob\t")
        .map(|g| Line::Glob(g.to_string()))
}

impl Positions {
    /// Read `file` (missing = empty). Lines that do not parse are skipped
    /// with a warning: the worst outcome is re-reading that file.
    pub fn load(file: &Path) -> anyhow::Result<Positions> {
        let mut entries = HashMap::new();
        let mut globs = BTreeSet::new();
        match std::fs::read_to_string(file) {
            Ok(text) => {
                for (n, line) in text.lines().enumerate() {
                    match parse_line(line) {
                        Some(Line::Entry(k, s)) => {
                            entries.insert(k, s);
                        }
                        Some(Line::Glob(g)) => {
                            globs.insert(g);
                        }
                        None => tracing::warn!(
                            file = %file.display(),
                            line = n + 1,
                            "position file: unreadable line skipped (that file will be read again)"
                        ),
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("reading position file {}", file.display()))
            }
        }
        Ok(Positions {
            file: file.to_path_buf(),
            entries,
            globs,
        })
    }

    /// Apply marks in order.
    pub fn apply(&mut self, marks: &[Mark]) {
        for m in marks {
            if m.closed {
                self.entries.remove(&m.key);
            } else {
                self.entries.insert(
                    m.key,
                    Saved {
                        path: m.path.clone(),
                        offset: m.offset,
                        head: m.head,
                    },
                );
            }
        }
    }

    /// Write atomically (temporary file, fsync, rename).
    pub fn save(&self) -> anyhow::Result<()> {
        let tmp = self.file.with_extension("tmp");
        let mut lines: Vec<_> = self.entries.iter().collect();
        lines.sort_by(|a, b| a.1.path.cmp(&b.1.path));
        let mut out = String::new();
        for (k, s) in lines {
            out.push_str(&format!(
                "{}\t{:016x}\t{:x}:{:x}\t{:x}:{:08x}\n",
                s.path.display(),
                s.offset,
                k.dev,
                k.ino,
                s.head.len,
                s.head.crc
            ));
        }
        for g in &self.globs {
            out.push_str(&format!("glob\t{g}\n"));
        }
        let mut f = std::fs::File::create(&tmp)
            .with_context(|| format!("writing position file {}", tmp.display()))?;
        f.write_all(out.as_bytes())
            .and_then(|()| f.sync_data())
            .with_context(|| format!("writing position file {}", tmp.display()))?;
        std::fs::rename(&tmp, &self.file)
            .with_context(|| format!("replacing position file {}", self.file.display()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(key: FileKey, path: &str, offset: u64, closed: bool) -> Mark {
        Mark {
            key,
            path: path.into(),
            offset,
            head: Head::of(b"first line\n"),
            closed,
        }
    }

    #[test]
    fn save_load_apply() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pos");
        let mut p = Positions::load(&f).unwrap();
        assert!(p.entries.is_empty());
        let k = FileKey { dev: 2049, ino: 77 };
        let k2 = FileKey { dev: 2049, ino: 78 };
        p.apply(&[
            mark(k, "/var/log/a\tb.log", 10, false),
            mark(k2, "/x", 5, false),
            mark(k, "/var/log/a\tb.log", 300, false),
            mark(k2, "/x", 9, true),
        ]);
        p.globs.insert("/var/log/*.log".into());
        p.save().unwrap();
        std::fs::write(dir.path().join("junk"), "").unwrap();
        let q = Positions::load(&f).unwrap();
        assert_eq!(q.entries.len(), 1);
        let want = Saved {
            path: PathBuf::from("/var/log/a\tb.log"),
            offset: 300,
            head: Head {
                len: 11,
                crc: crc32fast::hash(b"first line\n"),
            },
        };
        assert_eq!(q.entries[&k], want);
        assert_eq!(q.globs, BTreeSet::from(["/var/log/*.log".to_string()]));
    }

    #[test]
    fn older_lines_without_a_head_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pos");
        std::fs::write(
            &f,
            "garbage line\n/ok\t000000000000000a\t1:2\n/a\tb\t0000000000000003\t5:6\n",
        )
        .unwrap();
        let q = Positions::load(&f).unwrap();
        assert_eq!(q.entries.len(), 2);
        let ok = &q.entries[&FileKey { dev: 1, ino: 2 }];
        assert_eq!((ok.offset, ok.head), (10, Head::default()));
        let tab = &q.entries[&FileKey { dev: 5, ino: 6 }];
        assert_eq!((tab.path.as_path(), tab.offset), (Path::new("/a\tb"), 3));
    }

    #[test]
    fn a_head_tells_a_rewritten_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("log");
        std::fs::write(&f, "one\ntwo\n").unwrap();
        let file = std::fs::File::open(&f).unwrap();
        assert!(Head::of(b"one\n").matches(&file));
        assert!(Head::default().matches(&file));
        assert!(!Head::of(b"uno\n").matches(&file));
        assert!(
            !Head::of(b"one\ntwo\nthree\n").matches(&file),
            "longer than the file"
        );
        assert_eq!(Head::of(&[b'x'; 3000]).len as usize, Head::MAX);
    }
}

//! Where each tailed file was read up to, kept in a position file like
//! Fluentd's `pos_file` (one `path<TAB>offset<TAB>inode` line per file,
//! hex numbers). Offsets are saved only once the data before them is
//! acknowledged by a server or safe in the disk buffer, so a restart
//! re-reads at most what was in flight (at least once, never less).

use std::collections::HashMap;
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

/// A position update carried by a chunk: applied when the chunk is safe.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    pub key: FileKey,
    pub path: PathBuf,
    pub offset: u64,
    /// The file was rotated away and fully read: forget it.
    pub closed: bool,
}

/// The position file and its contents.
#[derive(Debug)]
pub struct Positions {
    file: PathBuf,
    pub entries: HashMap<FileKey, (PathBuf, u64)>,
}

impl Positions {
    /// Read `file` (missing = empty). Lines that do not parse are skipped
    /// with a warning: the worst outcome is re-reading that file.
    pub fn load(file: &Path) -> anyhow::Result<Positions> {
        let mut entries = HashMap::new();
        match std::fs::read_to_string(file) {
            Ok(text) => {
                for (n, line) in text.lines().enumerate() {
                    let mut parts = line.rsplitn(3, '\t');
                    let (ino, off, path) = (parts.next(), parts.next(), parts.next());
                    let parsed = match (path, off, ino) {
                        (Some(p), Some(o), Some(i)) => {
                            let o = u64::from_str_radix(o, 16).ok();
                            let key = i.split_once(':').and_then(|(d, i)| {
                                Some(FileKey {
                                    dev: u64::from_str_radix(d, 16).ok()?,
                                    ino: u64::from_str_radix(i, 16).ok()?,
                                })
                            });
                            o.zip(key).map(|(o, k)| (k, PathBuf::from(p), o))
                        }
                        _ => None,
                    };
                    match parsed {
                        Some((k, p, o)) => {
                            entries.insert(k, (p, o));
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
        })
    }

    /// Apply marks in order.
    pub fn apply(&mut self, marks: &[Mark]) {
        for m in marks {
            if m.closed {
                self.entries.remove(&m.key);
            } else {
                self.entries.insert(m.key, (m.path.clone(), m.offset));
            }
        }
    }

    /// Write atomically (temporary file, fsync, rename).
    pub fn save(&self) -> anyhow::Result<()> {
        let tmp = self.file.with_extension("tmp");
        let mut lines: Vec<_> = self.entries.iter().collect();
        lines.sort_by(|a, b| a.1 .0.cmp(&b.1 .0));
        let mut out = String::new();
        for (k, (p, o)) in lines {
            out.push_str(&format!(
                "{}\t{:016x}\t{:x}:{:x}\n",
                p.display(),
                o,
                k.dev,
                k.ino
            ));
        }
        let mut f = std::fs::File::create(&tmp)
            .with_context(|| format!("writing position file {}", tmp.display()))?;
        f.write_all(out.as_bytes())?;
        f.sync_data()?;
        std::fs::rename(&tmp, &self.file)
            .with_context(|| format!("replacing position file {}", self.file.display()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_apply() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pos");
        let mut p = Positions::load(&f).unwrap();
        assert!(p.entries.is_empty());
        let k = FileKey { dev: 2049, ino: 77 };
        let k2 = FileKey { dev: 2049, ino: 78 };
        p.apply(&[
            Mark {
                key: k,
                path: "/var/log/a\tb.log".into(),
                offset: 10,
                closed: false,
            },
            Mark {
                key: k2,
                path: "/x".into(),
                offset: 5,
                closed: false,
            },
            Mark {
                key: k,
                path: "/var/log/a\tb.log".into(),
                offset: 300,
                closed: false,
            },
            Mark {
                key: k2,
                path: "/x".into(),
                offset: 9,
                closed: true,
            },
        ]);
        p.save().unwrap();
        std::fs::write(dir.path().join("junk"), "").unwrap();
        let q = Positions::load(&f).unwrap();
        assert_eq!(q.entries.len(), 1);
        assert_eq!(q.entries[&k], (PathBuf::from("/var/log/a\tb.log"), 300));
        std::fs::write(&f, "garbage line\n/ok\t000000000000000a\t1:2\n").unwrap();
        let q = Positions::load(&f).unwrap();
        assert_eq!(q.entries[&FileKey { dev: 1, ino: 2 }].1, 10);
    }
}

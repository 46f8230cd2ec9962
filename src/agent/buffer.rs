//! The agent's disk buffer: chunks no server accepted, one file each, kept
//! until a server acknowledges them. Bounded by `buffer_max_bytes`; the
//! oldest data is always kept (what happens to new data when it is full is
//! the output's overflow policy). Files are fsynced before the positions
//! of their data are saved, so a chunk is always in a file or re-readable.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// One buffered chunk on disk.
#[derive(Debug, Clone, PartialEq)]
pub struct Buffered {
    pub path: PathBuf,
    pub seq: u64,
    pub events: u64,
    pub bytes: u64,
    /// The chunk id inside the frame (what the server acknowledges).
    pub chunk_id: String,
}

/// The buffer directory.
#[derive(Debug)]
pub struct DiskBuffer {
    dir: PathBuf,
    pub max_bytes: u64,
    pub bytes: u64,
    next_seq: u64,
}

impl DiskBuffer {
    /// Open `dir`, returning the chunks already in it, oldest first.
    pub fn open(dir: &Path, max_bytes: u64) -> anyhow::Result<(DiskBuffer, Vec<Buffered>)> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the buffer directory {}", dir.display()))?;
        let mut found = Vec::new();
        for e in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
            let e = e?;
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(tmp) = name.strip_suffix(".tmp") {
                // cut short by a crash before it was complete: its data is
                // still unacknowledged in the source files
                tracing::debug!(file = tmp, "buffer: removing an incomplete chunk file");
                let _ = std::fs::remove_file(e.path());
                continue;
            }
            let Some(stem) = name.strip_suffix(".chunk") else {
                continue;
            };
            let mut parts = stem.splitn(3, '-');
            let (Some(seq), Some(events), Some(id)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let (Ok(seq), Ok(events)) = (u64::from_str_radix(seq, 16), events.parse::<u64>())
            else {
                continue;
            };
            found.push(Buffered {
                path: e.path(),
                seq,
                events,
                bytes: e.metadata()?.len(),
                chunk_id: id.to_string(),
            });
        }
        found.sort_by_key(|b| b.seq);
        let bytes = found.iter().map(|b| b.bytes).sum();
        let next_seq = found.last().map_or(0, |b| b.seq + 1);
        Ok((
            DiskBuffer {
                dir: dir.to_path_buf(),
                max_bytes,
                bytes,
                next_seq,
            },
            found,
        ))
    }

    /// Whether a frame of `len` bytes fits under the limit.
    pub fn has_room(&self, len: usize) -> bool {
        self.bytes + len as u64 <= self.max_bytes
    }

    /// Write a frame durably (file and directory fsynced).
    pub fn push(&mut self, frame: &[u8], events: u64, chunk_id: &str) -> anyhow::Result<Buffered> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let name = format!("{seq:016x}-{events}-{chunk_id}.chunk");
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!("{name}.tmp"));
        let mut f = std::fs::File::create(&tmp)
            .with_context(|| format!("creating buffer file {}", tmp.display()))?;
        f.write_all(frame)
            .and_then(|_| f.sync_data())
            .with_context(|| format!("writing buffer file {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("naming {}", path.display()))?;
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .ok();
        self.bytes += frame.len() as u64;
        Ok(Buffered {
            path,
            seq,
            events,
            bytes: frame.len() as u64,
            chunk_id: chunk_id.to_string(),
        })
    }

    pub fn read(&self, b: &Buffered) -> anyhow::Result<Vec<u8>> {
        std::fs::read(&b.path).with_context(|| format!("reading buffer file {}", b.path.display()))
    }

    /// Delete a delivered (or dropped) chunk.
    pub fn remove(&mut self, b: &Buffered) {
        if let Err(e) = std::fs::remove_file(&b.path) {
            tracing::warn!(file = %b.path.display(), error = %e, "buffer: could not delete a delivered chunk (it may be sent again)");
        }
        self.bytes = self.bytes.saturating_sub(b.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_reopen_remove() {
        let dir = tempfile::tempdir().unwrap();
        let (mut b, old) = DiskBuffer::open(dir.path(), 100).unwrap();
        assert!(old.is_empty());
        let a = b.push(&[1; 40], 3, "aa").unwrap();
        let c = b.push(&[2; 40], 4, "cc").unwrap();
        assert!(!b.has_room(40) && b.has_room(20));
        std::fs::write(
            dir.path().join("0000000000000009-1-x.chunk.tmp"),
            b"partial",
        )
        .unwrap();
        drop(b);
        let (mut b, old) = DiskBuffer::open(dir.path(), 100).unwrap();
        assert_eq!(old, vec![a.clone(), c.clone()]);
        assert_eq!(b.bytes, 80);
        assert_eq!(b.read(&old[1]).unwrap(), vec![2; 40]);
        b.remove(&old[0]);
        assert_eq!(b.bytes, 40);
        let d = b.push(&[3; 10], 1, "dd").unwrap();
        assert_eq!(d.seq, c.seq + 1);
        assert!(!dir.path().join("0000000000000009-1-x.chunk.tmp").exists());
    }
}

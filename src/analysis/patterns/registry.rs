//! The server's patterns: one miner per service, their changes kept in an
//! append-only log under the data directory so that ids given out before a
//! restart (and stored on events) keep resolving to their templates.
//!
//! The log is written and fsynced before the store commits the events that
//! carry the new ids (see `ingest`), so no committed event holds an id the
//! log does not know.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::mask::Masker;
use super::miner::{Change, Miner, MinerConfig, PatternId};

/// A change of one service's miner.
#[derive(Debug, Clone, PartialEq)]
pub struct ScopedChange {
    pub scope: String,
    pub change: Change,
}

/// One line of the log.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum Record {
    New {
        scope: String,
        id: String,
        template: String,
    },
    Merge {
        scope: String,
        from: String,
        into: String,
    },
}

/// What is known about a pattern id.
#[derive(Debug, Clone, PartialEq)]
pub struct PatternInfo {
    /// The current template the id resolves to.
    pub id: PatternId,
    pub scope: String,
    pub template: String,
}

/// All miners of a server.
pub struct Patterns {
    cfg: MinerConfig,
    masker: Masker,
    miners: HashMap<String, Miner>,
    owner: HashMap<PatternId, String>,
    log: Option<(PathBuf, File)>,
    unsaved: Vec<ScopedChange>,
}

impl Patterns {
    /// Patterns kept only in memory (tests, offline tools).
    pub fn in_memory(cfg: MinerConfig, masker: Masker) -> Patterns {
        Patterns {
            cfg,
            masker,
            miners: HashMap::new(),
            owner: HashMap::new(),
            log: None,
            unsaved: Vec::new(),
        }
    }

    /// Opens (or creates) the log in `dir` and replays it. A torn last
    /// line (a crash while appending) is dropped and cut off.
    pub fn open(dir: &Path, cfg: MinerConfig, masker: Masker) -> anyhow::Result<Patterns> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the patterns directory {}", dir.display()))?;
        let path = dir.join("patterns.log");
        let mut p = Patterns::in_memory(cfg, masker);
        let mut good_len = 0u64;
        if let Ok(f) = File::open(&path) {
            let mut rd = BufReader::new(f);
            let mut line = String::new();
            loop {
                line.clear();
                let n = rd
                    .read_line(&mut line)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                if n == 0 || !line.ends_with('\n') {
                    break;
                }
                let Ok(rec) = serde_json::from_str::<Record>(line.trim_end()) else {
                    break;
                };
                p.replay(rec);
                good_len += n as u64;
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        if file.metadata().map(|m| m.len()).unwrap_or(0) > good_len {
            file.set_len(good_len)
                .with_context(|| format!("cannot cut the torn end of {}", path.display()))?;
        }
        p.log = Some((path, file));
        Ok(p)
    }

    fn miner(&mut self, scope: &str) -> &mut Miner {
        if !self.miners.contains_key(scope) {
            let m = Miner::new(scope, self.cfg.clone(), self.masker.clone());
            self.miners.insert(scope.to_string(), m);
        }
        self.miners.get_mut(scope).expect("inserted above")
    }

    fn replay(&mut self, rec: Record) {
        match rec {
            Record::New {
                scope,
                id,
                template,
            } => {
                let Some(id) = PatternId::from_hex(&id) else {
                    return;
                };
                self.miner(&scope).restore(&Change::New { id, template });
                self.owner.insert(id, scope);
            }
            Record::Merge { scope, from, into } => {
                let (Some(from), Some(into)) =
                    (PatternId::from_hex(&from), PatternId::from_hex(&into))
                else {
                    return;
                };
                self.miner(&scope).restore(&Change::Merged { from, into });
            }
        }
    }

    /// The pattern of one message of `service` (current id), learning from it.
    pub fn tag(&mut self, service: &str, message: &str) -> PatternId {
        let miner = self.miner(service);
        let id = miner.add(message);
        let changes = miner.take_changes();
        for change in changes {
            if let Change::New { id, .. } = &change {
                self.owner.insert(*id, service.to_string());
            }
            self.unsaved.push(ScopedChange {
                scope: service.to_string(),
                change,
            });
        }
        id
    }

    /// Appends what changed since the last call to the log and fsyncs it;
    /// gives the changes (for the live stream and the watches).
    pub fn persist(&mut self) -> anyhow::Result<Vec<ScopedChange>> {
        if self.unsaved.is_empty() {
            return Ok(Vec::new());
        }
        if let Some((path, file)) = &mut self.log {
            let mut buf = Vec::new();
            for c in &self.unsaved {
                let rec = match &c.change {
                    Change::New { id, template } => Record::New {
                        scope: c.scope.clone(),
                        id: id.to_hex(),
                        template: template.clone(),
                    },
                    Change::Merged { from, into } => Record::Merge {
                        scope: c.scope.clone(),
                        from: from.to_hex(),
                        into: into.to_hex(),
                    },
                };
                serde_json::to_writer(&mut buf, &rec).context("encoding a pattern change")?;
                buf.push(b'\n');
            }
            file.write_all(&buf)
                .and_then(|_| file.sync_data())
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(std::mem::take(&mut self.unsaved))
    }

    /// The current template of an id (merges followed).
    pub fn info(&mut self, id: PatternId) -> Option<PatternInfo> {
        let scope = self.owner.get(&id)?.clone();
        let miner = self.miners.get_mut(&scope)?;
        let root = miner.resolve(id)?;
        let template = miner.template_text(root)?;
        Some(PatternInfo {
            id: root,
            scope,
            template,
        })
    }

    /// Every id that resolves to the same template as `id`.
    pub fn members(&mut self, id: PatternId) -> Vec<PatternId> {
        let Some(scope) = self.owner.get(&id).cloned() else {
            return Vec::new();
        };
        match self.miners.get_mut(&scope) {
            Some(m) => m.members(id),
            None => Vec::new(),
        }
    }

    /// Number of templates over all services.
    pub fn len(&self) -> usize {
        self.miners.values().map(|m| m.len()).sum()
    }

    /// No template yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_resolve_the_same_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let lines = [
            ("api", "user alice logged in from 10.0.0.1"),
            ("api", "user bob logged in from 10.0.0.2"),
            ("api", "user carol logged in from 10.0.0.3"),
            ("db", "checkpoint complete in 35 ms"),
        ];
        let mut ids = Vec::new();
        let mut want = Vec::new();
        {
            let mut p =
                Patterns::open(dir.path(), MinerConfig::default(), Masker::default()).unwrap();
            for (svc, l) in lines {
                ids.push(p.tag(svc, l));
            }
            let changes = p.persist().unwrap();
            assert!(changes
                .iter()
                .any(|c| matches!(c.change, Change::Merged { .. })));
            for id in &ids {
                want.push(p.info(*id).unwrap());
            }
        }
        // a torn line at the end is dropped
        let log = dir.path().join("patterns.log");
        let mut f = OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(b"{\"op\":\"new\",\"sco").unwrap();
        drop(f);
        let mut p = Patterns::open(dir.path(), MinerConfig::default(), Masker::default()).unwrap();
        for (id, w) in ids.iter().zip(&want) {
            assert_eq!(p.info(*id).as_ref(), Some(w));
        }
        assert_eq!(want[0].template, "user <*> logged in from <IP>");
        assert_eq!(want[0].id, want[2].id);
        assert_eq!(
            p.members(ids[0]).len(),
            4,
            "three users and the merged template"
        );
        // the next line of a known kind needs nothing new
        let again = p.tag("api", "user dave logged in from 10.0.0.9");
        assert_eq!(again, want[0].id);
        assert!(p.persist().unwrap().is_empty());
    }
}

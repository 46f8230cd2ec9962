//! The rules in force: those of the config file's `[alerting]` (or the
//! demo's) and those made through the API, which are kept as sent in
//! `rules.json` beside the alert book. A reload re-reads the file; a file
//! that does not check keeps the previous rules running. Config rules are
//! changed in the file, API rules through the API, so neither overwrites
//! the other.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::rule::Rule;
use super::state::write_atomic;
use crate::config::alerting::{rule_from_json, AlertingConfig};

/// Where a rule is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Config,
    Api,
}

/// Why a rule change was refused.
#[derive(Debug)]
pub enum RuleError {
    /// The problems, each `key: message`.
    Invalid(Vec<String>),
    /// The rule is the config file's; the file is where it changes.
    FromConfig(String),
    NotFound(String),
    /// The rules file could not be written; nothing changed.
    Io(anyhow::Error),
}

/// What a reload changed.
#[derive(Debug, Default, Serialize)]
pub struct ReloadReport {
    pub rules: usize,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
    /// API rules that no longer check against the new file (say a channel
    /// it names was removed): kept in `rules.json`, not evaluated.
    pub skipped: Vec<String>,
}

#[derive(Serialize, Deserialize, Default)]
struct RulesFile {
    rules: Vec<Value>,
}

/// The rules, their sources and the file the API ones live in.
pub struct RuleSet {
    config_path: Option<PathBuf>,
    /// What the config file (or the demo) gave.
    file: AlertingConfig,
    /// API rules as sent, in creation order.
    api: Vec<Value>,
    api_path: PathBuf,
    api_names: BTreeSet<String>,
    current: Arc<AlertingConfig>,
}

fn name_of(v: &Value) -> Option<&str> {
    v.get("name").and_then(Value::as_str)
}

/// The file's rules and then the API's that check against its channels;
/// with the names of the API rules taken and the problems of the others.
fn merge(file: &AlertingConfig, api: &[Value]) -> (AlertingConfig, BTreeSet<String>, Vec<String>) {
    let mut cfg = file.clone();
    let mut names = BTreeSet::new();
    let mut skipped = Vec::new();
    for body in api {
        let name = name_of(body).unwrap_or("?").to_string();
        if cfg.rules.iter().any(|r| r.name == name) {
            skipped.push(format!(
                "{name}: the config file now has a rule of this name; it wins"
            ));
            continue;
        }
        match rule_from_json(body, &cfg.channels) {
            Ok(r) => {
                names.insert(r.name.clone());
                cfg.rules.push(r);
            }
            Err(p) => skipped.push(format!("{name}: {}", p.join("; "))),
        }
    }
    (cfg, names, skipped)
}

impl RuleSet {
    /// The file's rules with the API's from `dir/rules.json`. API rules that
    /// no longer check are logged and left out (they stay in the file).
    pub fn open(
        dir: &Path,
        file: AlertingConfig,
        config_path: Option<PathBuf>,
    ) -> anyhow::Result<RuleSet> {
        let api_path = dir.join("rules.json");
        let api = match std::fs::read(&api_path) {
            Ok(b) => {
                serde_json::from_slice::<RulesFile>(&b)
                    .with_context(|| {
                        format!(
                            "{} is not a readable rules file (the rules made through the API)",
                            api_path.display()
                        )
                    })?
                    .rules
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", api_path.display())),
        };
        let (current, api_names, skipped) = merge(&file, &api);
        for s in &skipped {
            tracing::error!("alerting: the API rule {s}; it is not evaluated");
        }
        Ok(RuleSet {
            config_path,
            file,
            api,
            api_path,
            api_names,
            current: Arc::new(current),
        })
    }

    /// The rules in force now.
    pub fn current(&self) -> Arc<AlertingConfig> {
        self.current.clone()
    }

    pub fn source(&self, name: &str) -> Option<Source> {
        if self.api_names.contains(name) {
            Some(Source::Api)
        } else if self.file.rules.iter().any(|r| r.name == name) {
            Some(Source::Config)
        } else {
            None
        }
    }

    /// Checks a rule body against the channels in force.
    pub fn check(&self, body: &Value) -> Result<Rule, Vec<String>> {
        rule_from_json(body, &self.current.channels)
    }

    fn install(&mut self, api: Vec<Value>) -> Result<(), RuleError> {
        let bytes = serde_json::to_vec_pretty(&RulesFile { rules: api.clone() })
            .map_err(|e| RuleError::Io(e.into()))?;
        write_atomic(&self.api_path, &bytes).map_err(RuleError::Io)?;
        let (current, names, _) = merge(&self.file, &api);
        self.api = api;
        self.api_names = names;
        self.current = Arc::new(current);
        Ok(())
    }

    /// Creates or replaces the API rule `name`; true when it is new.
    pub fn put(&mut self, name: &str, mut body: Value) -> Result<bool, RuleError> {
        if let Some(given) = name_of(&body) {
            if given != name {
                return Err(RuleError::Invalid(vec![format!(
                    "name: the body names '{given}' and the URL '{name}'"
                )]));
            }
        }
        if let Some(m) = body.as_object_mut() {
            m.insert("name".into(), Value::String(name.to_string()));
        }
        if self.source(name) == Some(Source::Config) {
            return Err(RuleError::FromConfig(name.to_string()));
        }
        self.check(&body).map_err(RuleError::Invalid)?;
        let mut api = self.api.clone();
        let created = match api.iter().position(|b| name_of(b) == Some(name)) {
            Some(i) => {
                api[i] = body;
                false
            }
            None => {
                api.push(body);
                true
            }
        };
        self.install(api)?;
        Ok(created)
    }

    /// Deletes the API rule `name`.
    pub fn delete(&mut self, name: &str) -> Result<(), RuleError> {
        if self.source(name) == Some(Source::Config) {
            return Err(RuleError::FromConfig(name.to_string()));
        }
        let mut api = self.api.clone();
        let before = api.len();
        api.retain(|b| name_of(b) != Some(name));
        if api.len() == before {
            return Err(RuleError::NotFound(name.to_string()));
        }
        self.install(api)
    }

    /// Re-reads the config file's `[alerting]` (the other sections need a
    /// restart) and re-checks the API rules against it. A file with
    /// problems changes nothing; the problems come back.
    pub fn reload(&mut self) -> Result<ReloadReport, Vec<String>> {
        let file = match &self.config_path {
            Some(p) => match crate::config::Config::load(p) {
                Ok(c) => c.alerting,
                Err(e) => {
                    let f = e.file.clone();
                    return Err(e.problems.iter().map(|p| p.render(&f)).collect());
                }
            },
            None => self.file.clone(),
        };
        let (current, names, skipped) = merge(&file, &self.api);
        let old = &self.current;
        let mut report = ReloadReport {
            rules: current.rules.len(),
            skipped,
            ..ReloadReport::default()
        };
        for r in &current.rules {
            match old.rules.iter().find(|o| o.name == r.name) {
                None => report.added.push(r.name.clone()),
                Some(o) if o != r => report.changed.push(r.name.clone()),
                Some(_) => {}
            }
        }
        for o in &old.rules {
            if !current.rules.iter().any(|r| r.name == o.name) {
                report.removed.push(o.name.clone());
            }
        }
        self.file = file;
        self.api_names = names;
        self.current = Arc::new(current);
        Ok(report)
    }
}

//! Aliases and index templates: the metadata Elasticsearch keeps beside the
//! indices. Logstash, Fluent Bit and Beats create templates on start and
//! write through aliases, so they must survive restarts: the whole catalog
//! is one JSON file, rewritten atomically (temporary file, fsync, rename,
//! fsync of the directory) before a change is acknowledged. It is small
//! (names and mappings), so rewriting it whole is simpler and safer than a
//! log of changes. Engine-neutral: any [`Store`](super::Store) owns one.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::mapping::{wildcard_match, Mapping};
use super::StoreError;

/// How one index belongs to an alias.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AliasProps {
    /// Where writes to the alias go when it names several indices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_write_index: Option<bool>,
    /// Kept and shown as given; with one shard per index routing changes nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_hidden: Option<bool>,
}

/// Which family a template belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateKind {
    /// `_index_template`: one applies, the highest priority.
    Composable,
    /// `_template` (legacy): every match applies, merged by `order`.
    Legacy,
    /// `_component_template`: building blocks of composable ones.
    Component,
}

/// A stored template: what applies to new indices, and the body as given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Template {
    #[serde(default)]
    pub patterns: Vec<String>,
    /// `priority` (composable) or `order` (legacy).
    #[serde(default)]
    pub priority: i64,
    #[serde(default)]
    pub composed_of: Vec<String>,
    #[serde(default)]
    pub mapping: Mapping,
    #[serde(default)]
    pub aliases: BTreeMap<String, AliasProps>,
    /// The request body as stored, for `GET`.
    pub body: Value,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Data {
    /// alias → index → how it belongs
    #[serde(default)]
    aliases: BTreeMap<String, BTreeMap<String, AliasProps>>,
    #[serde(default)]
    index_templates: BTreeMap<String, Template>,
    #[serde(default)]
    legacy_templates: BTreeMap<String, Template>,
    #[serde(default)]
    component_templates: BTreeMap<String, Template>,
}

impl Data {
    fn templates(&self, kind: TemplateKind) -> &BTreeMap<String, Template> {
        match kind {
            TemplateKind::Composable => &self.index_templates,
            TemplateKind::Legacy => &self.legacy_templates,
            TemplateKind::Component => &self.component_templates,
        }
    }

    fn templates_mut(&mut self, kind: TemplateKind) -> &mut BTreeMap<String, Template> {
        match kind {
            TemplateKind::Composable => &mut self.index_templates,
            TemplateKind::Legacy => &mut self.legacy_templates,
            TemplateKind::Component => &mut self.component_templates,
        }
    }
}

/// One change of `POST /_aliases`, on concrete names.
#[derive(Debug, Clone, PartialEq)]
pub enum AliasAction {
    Add {
        index: String,
        alias: String,
        props: AliasProps,
    },
    Remove {
        index: String,
        alias: String,
    },
}

/// What a new index gets from the templates that match its name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Applied {
    pub mapping: Mapping,
    pub aliases: BTreeMap<String, AliasProps>,
}

/// A refused catalog change, with the Elasticsearch error type to answer.
fn rejected(status: u16, kind: &'static str, reason: impl Into<String>) -> StoreError {
    StoreError::Rejected {
        status,
        kind,
        reason: reason.into(),
    }
}

/// The aliases and templates of one store.
pub struct Catalog {
    path: PathBuf,
    read_only: bool,
    data: RwLock<Data>,
}

impl Catalog {
    /// Reads `path` (none yet: an empty catalog). A file that does not
    /// parse stops the start with its name: silently dropping aliases
    /// would send writes to the wrong place.
    pub fn open(path: &Path, read_only: bool) -> Result<Catalog, StoreError> {
        let data = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                StoreError::Engine(format!(
                    "the catalog of aliases and templates at {} is not valid ({e}); \
                     move it away to start without them",
                    path.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Data::default(),
            Err(source) => {
                return Err(StoreError::Io {
                    path: path.display().to_string(),
                    source,
                })
            }
        };
        Ok(Catalog {
            path: path.to_path_buf(),
            read_only,
            data: RwLock::new(data),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Data> {
        self.data.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies `change` to a copy, writes it durably, then makes it
    /// current: a change that cannot be written changes nothing.
    fn change<T>(
        &self,
        change: impl FnOnce(&mut Data) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.read_only {
            return Err(rejected(
                400,
                "illegal_argument_exception",
                "this store is opened read-only",
            ));
        }
        let mut guard = self.data.write().unwrap_or_else(|e| e.into_inner());
        let mut next = guard.clone();
        let out = change(&mut next)?;
        self.persist(&next)?;
        *guard = next;
        Ok(out)
    }

    fn persist(&self, data: &Data) -> Result<(), StoreError> {
        let io = |source| StoreError::Io {
            path: self.path.display().to_string(),
            source,
        };
        let bytes = serde_json::to_vec_pretty(data)
            .map_err(|e| StoreError::Engine(format!("catalog: {e}")))?;
        let tmp = self.path.with_extension("json.tmp");
        {
            let mut f = std::fs::File::create(&tmp).map_err(io)?;
            f.write_all(&bytes).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        if let Some(dir) = self.path.parent() {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io)?;
        }
        Ok(())
    }

    /// Whether any alias exists (writes skip the lookup when none does).
    pub fn has_aliases(&self) -> bool {
        !self.read().aliases.is_empty()
    }

    /// The indices of an alias, `None` if there is no such alias.
    pub fn alias_indices(&self, alias: &str) -> Option<Vec<String>> {
        self.read()
            .aliases
            .get(alias)
            .map(|m| m.keys().cloned().collect())
    }

    /// Every alias with its indices.
    pub fn aliases(&self) -> BTreeMap<String, BTreeMap<String, AliasProps>> {
        self.read().aliases.clone()
    }

    /// The aliases one index belongs to.
    pub fn aliases_of(&self, index: &str) -> BTreeMap<String, AliasProps> {
        self.read()
            .aliases
            .iter()
            .filter_map(|(a, m)| m.get(index).map(|p| (a.clone(), p.clone())))
            .collect()
    }

    /// Where a write addressed to `name` goes: `name` itself unless it is
    /// an alias; an alias's write index, or its only index.
    pub fn write_target(&self, name: &str) -> Result<String, StoreError> {
        let data = self.read();
        let Some(members) = data.aliases.get(name) else {
            return Ok(name.to_string());
        };
        if let Some((i, _)) = members.iter().find(|(_, p)| p.is_write_index == Some(true)) {
            return Ok(i.clone());
        }
        match (members.len(), members.iter().next()) {
            (1, Some((i, p))) if p.is_write_index != Some(false) => Ok(i.clone()),
            _ => Err(rejected(
                400,
                "illegal_argument_exception",
                format!(
                    "no write index is defined for alias [{name}]. The write index may be explicitly \
                     disabled using is_write_index=false or the alias points to multiple indices \
                     without one being designated as a write index"
                ),
            )),
        }
    }

    /// Applies alias changes all or nothing. `index_exists` says which
    /// names are indices: an alias may not share a name with one, and an
    /// alias cannot point at another alias (no loops).
    pub fn update_aliases(
        &self,
        actions: &[AliasAction],
        index_exists: &dyn Fn(&str) -> bool,
    ) -> Result<(), StoreError> {
        self.change(|d| {
            for a in actions {
                match a {
                    AliasAction::Add {
                        index,
                        alias,
                        props,
                    } => {
                        check_alias_name(alias)?;
                        if alias == index {
                            return Err(rejected(
                                400,
                                "invalid_alias_name_exception",
                                format!("Invalid alias name [{alias}]: an alias cannot point to itself"),
                            ));
                        }
                        if index_exists(alias) {
                            return Err(rejected(
                                400,
                                "invalid_alias_name_exception",
                                format!("Invalid alias name [{alias}]: an index or data stream exists with the same name as the alias"),
                            ));
                        }
                        if d.aliases.contains_key(index) {
                            return Err(rejected(
                                400,
                                "illegal_argument_exception",
                                format!("The provided expression [{index}] matches an alias, specify the corresponding concrete indices instead."),
                            ));
                        }
                        if !index_exists(index) {
                            return Err(StoreError::IndexNotFound(index.clone()));
                        }
                        d.aliases
                            .entry(alias.clone())
                            .or_default()
                            .insert(index.clone(), props.clone());
                    }
                    AliasAction::Remove { index, alias } => {
                        let gone = d
                            .aliases
                            .get_mut(alias)
                            .and_then(|m| m.remove(index))
                            .is_some();
                        if !gone {
                            return Err(rejected(
                                404,
                                "aliases_not_found_exception",
                                format!("aliases [{alias}] missing on index [{index}]"),
                            ));
                        }
                        if d.aliases.get(alias).is_some_and(BTreeMap::is_empty) {
                            d.aliases.remove(alias);
                        }
                    }
                }
            }
            for (alias, members) in &d.aliases {
                let writers = members
                    .values()
                    .filter(|p| p.is_write_index == Some(true))
                    .count();
                if writers > 1 {
                    return Err(rejected(
                        400,
                        "illegal_state_exception",
                        format!("alias [{alias}] has more than one write index"),
                    ));
                }
            }
            Ok(())
        })
    }

    /// Forgets a deleted index in every alias.
    pub fn remove_index(&self, index: &str) -> Result<(), StoreError> {
        if !self.read().aliases.values().any(|m| m.contains_key(index)) {
            return Ok(());
        }
        self.change(|d| {
            for m in d.aliases.values_mut() {
                m.remove(index);
            }
            d.aliases.retain(|_, m| !m.is_empty());
            Ok(())
        })
    }

    /// Stores a template (replacing one of the same name). Two composable
    /// templates of the same priority with overlapping patterns are
    /// refused, as in Elasticsearch: which one applies would be a guess.
    pub fn put_template(
        &self,
        kind: TemplateKind,
        name: &str,
        t: Template,
    ) -> Result<(), StoreError> {
        self.change(|d| {
            if kind == TemplateKind::Composable {
                for c in &t.composed_of {
                    if !d.component_templates.contains_key(c) {
                        return Err(rejected(
                            400,
                            "invalid_index_template_exception",
                            format!("index template [{name}] specifies a missing component template [{c}]"),
                        ));
                    }
                }
                for (other, o) in &d.index_templates {
                    let overlaps = t.patterns.iter().any(|p| {
                        o.patterns
                            .iter()
                            .any(|q| wildcard_match(p, q) || wildcard_match(q, p))
                    });
                    if other != name && o.priority == t.priority && overlaps {
                        return Err(rejected(
                            400,
                            "illegal_argument_exception",
                            format!(
                                "index template [{name}] has index patterns {:?} matching patterns from existing templates [{other}] with patterns ({other} => {:?}) that have the same priority [{}], multiple index templates may not match during index creation, please use a different priority",
                                t.patterns, o.patterns, t.priority
                            ),
                        ));
                    }
                }
            }
            d.templates_mut(kind).insert(name.to_string(), t);
            Ok(())
        })
    }

    /// Removes the templates `expr` names (a name or a pattern); which.
    pub fn delete_templates(
        &self,
        kind: TemplateKind,
        expr: &str,
    ) -> Result<Vec<String>, StoreError> {
        let names = self.template_names(kind, expr);
        if names.is_empty() {
            return Ok(names);
        }
        self.change(|d| {
            if kind == TemplateKind::Component {
                for n in &names {
                    if let Some((user, _)) = d
                        .index_templates
                        .iter()
                        .find(|(_, t)| t.composed_of.contains(n))
                    {
                        return Err(rejected(
                            400,
                            "illegal_argument_exception",
                            format!("component templates [{n}] cannot be removed as they are still in use by index templates [{user}]"),
                        ));
                    }
                }
            }
            let m = d.templates_mut(kind);
            for n in &names {
                m.remove(n);
            }
            Ok(names.clone())
        })
    }

    /// Names of the templates of a kind that `expr` (comma list, wildcards,
    /// `*` or empty for all) names.
    pub fn template_names(&self, kind: TemplateKind, expr: &str) -> Vec<String> {
        let data = self.read();
        let parts: Vec<&str> = expr.split(',').map(str::trim).collect();
        data.templates(kind)
            .keys()
            .filter(|n| {
                expr.is_empty() || expr == "_all" || parts.iter().any(|p| wildcard_match(p, n))
            })
            .cloned()
            .collect()
    }

    /// The templates of a kind that `expr` names, by name.
    pub fn templates(&self, kind: TemplateKind, expr: &str) -> BTreeMap<String, Template> {
        let names: BTreeSet<String> = self.template_names(kind, expr).into_iter().collect();
        self.read()
            .templates(kind)
            .iter()
            .filter(|(n, _)| names.contains(*n))
            .map(|(n, t)| (n.clone(), t.clone()))
            .collect()
    }

    /// What a new index named `index` gets: the composable template of the
    /// highest priority whose patterns match (its component templates
    /// first, then its own settings win); when none matches, every
    /// matching legacy template, lower `order` first so higher overrides.
    pub fn applied_to(&self, index: &str) -> Option<Applied> {
        let data = self.read();
        let matches = |t: &Template| t.patterns.iter().any(|p| wildcard_match(p, index));
        let mut out = Applied::default();
        let layer = |out: &mut Applied, t: &Template| {
            for (f, k) in &t.mapping.fields {
                out.mapping.fields.insert(f.clone(), k.clone());
            }
            for (a, p) in &t.aliases {
                out.aliases.insert(a.clone(), p.clone());
            }
        };
        if let Some(t) = data
            .index_templates
            .values()
            .filter(|t| matches(t))
            .max_by_key(|t| t.priority)
        {
            for c in &t.composed_of {
                if let Some(ct) = data.component_templates.get(c) {
                    layer(&mut out, ct);
                }
            }
            layer(&mut out, t);
            return Some(out);
        }
        let mut legacy: Vec<&Template> = data
            .legacy_templates
            .values()
            .filter(|t| matches(t))
            .collect();
        if legacy.is_empty() {
            return None;
        }
        legacy.sort_by_key(|t| t.priority);
        for t in legacy {
            layer(&mut out, t);
        }
        Some(out)
    }

    /// Adds a new index to the aliases its templates name. Names that are
    /// indices are skipped with a warning: the index is created either way.
    pub fn add_index_aliases(
        &self,
        index: &str,
        aliases: &BTreeMap<String, AliasProps>,
        index_exists: &dyn Fn(&str) -> bool,
    ) -> Result<(), StoreError> {
        let ok: BTreeMap<&String, &AliasProps> = aliases
            .iter()
            .filter(|(a, _)| {
                let clash = index_exists(a) || a.as_str() == index;
                if clash {
                    tracing::warn!(index, alias = %a, "catalog: a template's alias has the name of an index; not added");
                }
                !clash && check_alias_name(a).is_ok()
            })
            .collect();
        if ok.is_empty() {
            return Ok(());
        }
        self.change(|d| {
            for (a, p) in ok {
                let members = d.aliases.entry(a.clone()).or_default();
                let mut p = p.clone();
                // a second write index would make writes ambiguous: the
                // newest index takes the role (a rollover's effect)
                if p.is_write_index == Some(true) {
                    for other in members.values_mut() {
                        if other.is_write_index == Some(true) {
                            other.is_write_index = Some(false);
                        }
                    }
                } else if members.values().any(|o| o.is_write_index == Some(true)) {
                    p.is_write_index = None;
                }
                members.insert(index.to_string(), p);
            }
            Ok(())
        })
    }
}

/// Alias names follow the rules of index names.
fn check_alias_name(alias: &str) -> Result<(), StoreError> {
    super::validate_index_name(alias).map_err(|e| match e {
        StoreError::InvalidIndexName { reason, .. } => rejected(
            400,
            "invalid_alias_name_exception",
            format!("Invalid alias name [{alias}]: {reason}"),
        ),
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(index: &str, alias: &str) -> AliasAction {
        AliasAction::Add {
            index: index.into(),
            alias: alias.into(),
            props: AliasProps::default(),
        }
    }

    fn template(patterns: &[&str], priority: i64, alias: &str) -> Template {
        Template {
            patterns: patterns.iter().map(|p| p.to_string()).collect(),
            priority,
            composed_of: vec![],
            mapping: Mapping::default(),
            aliases: [(alias.to_string(), AliasProps::default())].into(),
            body: Value::Null,
        }
    }

    #[test]
    fn aliases_persist_and_refuse_loops_and_clashes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("catalog.json");
        let indices = ["a-1", "a-2"];
        let exists = |n: &str| indices.contains(&n);
        let c = Catalog::open(&path, false).expect("open");
        c.update_aliases(&[add("a-1", "a"), add("a-2", "a")], &exists)
            .expect("add");
        assert_eq!(c.alias_indices("a"), Some(vec!["a-1".into(), "a-2".into()]));
        // two indices, no write index: writes are refused with the reason
        let e = c.write_target("a").expect_err("ambiguous").to_string();
        assert!(e.contains("no write index"), "{e}");
        assert_eq!(c.write_target("a-1").expect("an index"), "a-1");
        // an alias of an alias, an alias named like an index, all or nothing
        for bad in [add("a", "b"), add("a-1", "a-2"), add("a-1", "a-1")] {
            let before = c.aliases();
            assert!(c.update_aliases(&[add("a-1", "ok"), bad], &exists).is_err());
            assert_eq!(c.aliases(), before, "nothing of a refused request applies");
        }
        drop(c);
        let c = Catalog::open(&path, false).expect("reopen");
        assert_eq!(c.alias_indices("a").map(|v| v.len()), Some(2), "durable");
        c.remove_index("a-1").expect("remove");
        assert_eq!(c.write_target("a").expect("one left"), "a-2");
    }

    #[test]
    fn highest_priority_composable_wins_else_legacy_merge() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = Catalog::open(&dir.path().join("catalog.json"), false).expect("open");
        c.put_template(
            TemplateKind::Legacy,
            "old",
            template(&["logs-*"], 0, "legacy"),
        )
        .expect("legacy");
        assert_eq!(
            c.applied_to("logs-1")
                .map(|a| a.aliases.into_keys().collect::<Vec<_>>()),
            Some(vec!["legacy".to_string()])
        );
        c.put_template(
            TemplateKind::Composable,
            "low",
            template(&["logs-*"], 1, "low"),
        )
        .expect("low");
        c.put_template(
            TemplateKind::Composable,
            "high",
            template(&["logs-app-*"], 5, "high"),
        )
        .expect("high");
        let keys = |i: &str| {
            c.applied_to(i)
                .map(|a| a.aliases.into_keys().collect::<Vec<_>>())
                .unwrap_or_default()
        };
        assert_eq!(keys("logs-app-1"), ["high"]);
        assert_eq!(keys("logs-db-1"), ["low"]);
        assert!(keys("metrics-1").is_empty());
        let same = c.put_template(
            TemplateKind::Composable,
            "clash",
            template(&["logs-a*"], 5, "x"),
        );
        assert!(same.is_err(), "same priority, overlapping patterns");
        assert_eq!(
            c.delete_templates(TemplateKind::Composable, "*")
                .expect("delete")
                .len(),
            2
        );
        assert_eq!(keys("logs-app-1"), ["legacy"]);
    }
}

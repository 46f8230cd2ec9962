//! The online template miner.
//!
//! Each message is masked (`mask.rs`) into a token sequence. Sequences seen
//! before map straight to their template through a cache of masked texts.
//! A new sequence first tries the templates that already generalise some
//! positions; failing that it becomes a template of its own, and the miner
//! looks for templates of the same length that differ from it in exactly
//! one position. When such a group shows that the position varies (at
//! least `min_distinct` different words there, or a placeholder among
//! them) the group merges into one template with `<*>` at that position.
//!
//! Why this and not Drain's similarity threshold: a threshold that suits
//! one system splits or merges another (the Loghub benchmark tunes it per
//! system), while "this position took many values with everything else
//! equal" needs no tuning; two values are kept apart, because logs often
//! have two-valued words (`enabled`/`disabled`) that are different events.
//!
//! Merging never renames: a template merged into a more general one keeps
//! its id, which resolves to the merged template (union-find), so ids
//! stored on events before the merge still find their template.

use rustc_hash::{FxHashMap, FxHasher};
use std::hash::{Hash, Hasher};

use super::mask::{Masked, Masker, Placeholder};

/// The miner's knobs. The defaults are the ones evaluated on Loghub.
#[derive(Debug, Clone)]
pub struct MinerConfig {
    /// Different words at one position (all else equal) that make it a variable.
    pub min_distinct: usize,
    /// Constant tokens a template must keep; a merge that would leave fewer
    /// is not done (`<*> <*>` tells nothing).
    pub min_constants: usize,
    /// Templates per miner; beyond it new kinds of message map to the
    /// overflow template, so a flood of garbage cannot exhaust memory.
    pub max_templates: usize,
    /// Masked texts remembered for the fast path.
    pub cache_entries: usize,
}

impl Default for MinerConfig {
    fn default() -> Self {
        MinerConfig {
            min_distinct: 3,
            min_constants: 1,
            max_templates: 20_000,
            cache_entries: 200_000,
        }
    }
}

/// Index of a template inside one miner.
pub type TemplateIdx = u32;

/// A stable pattern id: a 64-bit hash of the scope and the template text of
/// the template as first created, so it is the same across restarts and
/// machines for the same input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PatternId(pub u64);

impl PatternId {
    /// The id of a template text within a scope (FNV-1a: fixed forever).
    pub fn of(scope: &str, text: &str) -> PatternId {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in scope
            .as_bytes()
            .iter()
            .chain(b"\x1f")
            .chain(text.as_bytes())
        {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        PatternId(h)
    }

    /// 16 lower-case hex digits, as stored in `_pattern`.
    pub fn to_hex(self) -> String {
        format!("{:016x}", self.0)
    }

    /// Parses [`PatternId::to_hex`]'s form.
    pub fn from_hex(s: &str) -> Option<PatternId> {
        if s.len() != 16 {
            return None;
        }
        u64::from_str_radix(s, 16).ok().map(PatternId)
    }
}

impl std::fmt::Display for PatternId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// What changed in a miner, for persistence and the live stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A template was created.
    New { id: PatternId, template: String },
    /// `from` now resolves to `into`.
    Merged { from: PatternId, into: PatternId },
}

#[derive(Debug, Clone)]
struct Template {
    id: PatternId,
    tokens: Vec<u32>,
    parent: TemplateIdx,
}

/// One miner: the templates of one scope (a service).
#[derive(Debug)]
pub struct Miner {
    cfg: MinerConfig,
    scope: String,
    masker: Masker,
    words: FxHashMap<Box<str>, u32>,
    word_text: Vec<Box<str>>,
    templates: Vec<Template>,
    by_tokens: FxHashMap<Vec<u32>, TemplateIdx>,
    by_id: FxHashMap<PatternId, TemplateIdx>,
    /// Hash of (length, position, tokens with that position blanked) to the
    /// templates that fit; entries of merged templates are dropped lazily.
    buckets: FxHashMap<u64, Vec<TemplateIdx>>,
    /// Per length, the distinct sets of generalised positions.
    shapes: FxHashMap<usize, Vec<Vec<u16>>>,
    cache: FxHashMap<Box<str>, TemplateIdx>,
    masked: Masked,
    changes: Vec<Change>,
    overflow: Option<TemplateIdx>,
}

/// The word id of `<*>`; placeholders take the first ids.
const ANY: u32 = 0;

impl Miner {
    /// An empty miner for `scope` (usually a service name, may be empty).
    pub fn new(scope: &str, cfg: MinerConfig, masker: Masker) -> Miner {
        let mut m = Miner {
            cfg,
            scope: scope.to_string(),
            masker,
            words: FxHashMap::default(),
            word_text: Vec::new(),
            templates: Vec::new(),
            by_tokens: FxHashMap::default(),
            by_id: FxHashMap::default(),
            buckets: FxHashMap::default(),
            shapes: FxHashMap::default(),
            cache: FxHashMap::default(),
            masked: Masked::default(),
            changes: Vec::new(),
            overflow: None,
        };
        for p in Placeholder::ALL {
            m.word(p.as_str());
        }
        m
    }

    /// The scope this miner was made for.
    pub fn scope(&self) -> &str {
        &self.scope
    }

    fn word(&mut self, w: &str) -> u32 {
        if let Some(&id) = self.words.get(w) {
            return id;
        }
        let id = self.word_text.len() as u32;
        self.word_text.push(w.into());
        self.words.insert(w.into(), id);
        id
    }

    fn is_placeholder(w: u32) -> bool {
        (w as usize) < Placeholder::ALL.len()
    }

    /// The template a message belongs to, learning from it: its current id
    /// (after any merges this message caused).
    pub fn add(&mut self, message: &str) -> PatternId {
        let idx = self.add_idx(message);
        self.templates[idx as usize].id
    }

    /// As [`Miner::add`], giving the template's index.
    pub fn add_idx(&mut self, message: &str) -> TemplateIdx {
        let mut masked = std::mem::take(&mut self.masked);
        self.masker.mask(message, &mut masked);
        let idx = match self.cache.get(masked.text.as_str()) {
            Some(&t) => self.find(t),
            None => {
                let t = self.learn(&masked);
                if self.cache.len() >= self.cfg.cache_entries {
                    self.cache.clear();
                }
                self.cache.insert(masked.text.as_str().into(), t);
                self.find(t)
            }
        };
        self.masked = masked;
        idx
    }

    fn learn(&mut self, masked: &Masked) -> TemplateIdx {
        let tokens: Vec<u32> = masked
            .spans
            .iter()
            .map(|&(a, b)| {
                let w = &masked.text[a as usize..b as usize];
                self.word(w)
            })
            .collect();
        if let Some(&t) = self.by_tokens.get(&tokens) {
            return t;
        }
        if let Some(t) = self.match_shape(&tokens) {
            return t;
        }
        if self.templates.len() >= self.cfg.max_templates {
            return self.overflow();
        }
        let t = self.create(tokens);
        self.merge_from(t);
        t
    }

    /// A template that generalises positions of `tokens` and agrees with
    /// it elsewhere; the most specific one first.
    fn match_shape(&self, tokens: &[u32]) -> Option<TemplateIdx> {
        let shapes = self.shapes.get(&tokens.len())?;
        let mut key = tokens.to_vec();
        for shape in shapes {
            key.copy_from_slice(tokens);
            for &p in shape {
                key[p as usize] = ANY;
            }
            if let Some(&t) = self.by_tokens.get(&key) {
                return Some(t);
            }
        }
        None
    }

    fn overflow(&mut self) -> TemplateIdx {
        if let Some(t) = self.overflow {
            return t;
        }
        let w = self.word("<overflow>");
        let t = self.create(vec![w]);
        self.overflow = Some(t);
        t
    }

    fn create(&mut self, tokens: Vec<u32>) -> TemplateIdx {
        let idx = self.templates.len() as TemplateIdx;
        let text = self.text_of(&tokens);
        let mut id = PatternId::of(&self.scope, &text);
        // a 64-bit clash between two texts of one scope: take the next free id
        while self.by_id.contains_key(&id) {
            id = PatternId(id.0.wrapping_add(1));
        }
        for p in 0..tokens.len() {
            let key = blank_hash(&tokens, p);
            self.buckets.entry(key).or_default().push(idx);
        }
        let generalised: Vec<u16> = (0..tokens.len())
            .filter(|&i| tokens[i] == ANY)
            .map(|i| i as u16)
            .collect();
        if !generalised.is_empty() {
            let shapes = self.shapes.entry(tokens.len()).or_default();
            if !shapes.contains(&generalised) {
                shapes.push(generalised);
                shapes.sort_by_key(|s| s.len());
            }
        }
        self.by_tokens.insert(tokens.clone(), idx);
        self.by_id.insert(id, idx);
        self.templates.push(Template {
            id,
            tokens,
            parent: idx,
        });
        self.changes.push(Change::New { id, template: text });
        idx
    }

    /// Merges that the new template `start` makes possible, and those the
    /// merged templates make possible in turn.
    fn merge_from(&mut self, start: TemplateIdx) {
        let mut work = vec![start];
        while let Some(t) = work.pop() {
            if self.find(t) != t {
                continue;
            }
            let tokens = self.templates[t as usize].tokens.clone();
            for p in 0..tokens.len() {
                let key = blank_hash(&tokens, p);
                let Some(bucket) = self.buckets.get(&key) else {
                    continue;
                };
                let mut group: Vec<TemplateIdx> = Vec::with_capacity(bucket.len());
                for &c in bucket {
                    let ct = &self.templates[c as usize];
                    if ct.parent == c && same_but(&ct.tokens, &tokens, p) {
                        group.push(c);
                    }
                }
                // drop merged templates from the bucket for good
                if group.len() != bucket.len() {
                    let alive = group.clone();
                    self.buckets.insert(key, alive);
                }
                if group.len() < 2 {
                    continue;
                }
                let mut values: Vec<u32> = group
                    .iter()
                    .map(|&c| self.templates[c as usize].tokens[p])
                    .collect();
                values.sort_unstable();
                values.dedup();
                let variable = values.len() >= self.cfg.min_distinct
                    || values.iter().any(|&w| Self::is_placeholder(w));
                if !variable {
                    continue;
                }
                let mut merged = tokens.clone();
                merged[p] = ANY;
                let constants = merged.iter().filter(|&&w| !Self::is_placeholder(w)).count();
                if constants < self.cfg.min_constants {
                    continue;
                }
                let target = match self.by_tokens.get(&merged) {
                    Some(&m) => self.find(m),
                    None if self.templates.len() >= self.cfg.max_templates => continue,
                    None => self.create(merged),
                };
                for c in group {
                    if c != target {
                        self.templates[c as usize].parent = target;
                        self.changes.push(Change::Merged {
                            from: self.templates[c as usize].id,
                            into: self.templates[target as usize].id,
                        });
                    }
                }
                work.push(target);
                break;
            }
        }
    }

    /// The template `t` resolves to now.
    pub fn find(&mut self, mut t: TemplateIdx) -> TemplateIdx {
        let mut root = t;
        while self.templates[root as usize].parent != root {
            root = self.templates[root as usize].parent;
        }
        while self.templates[t as usize].parent != root {
            let next = self.templates[t as usize].parent;
            self.templates[t as usize].parent = root;
            t = next;
        }
        root
    }

    /// The current template of any id this miner ever gave out.
    pub fn resolve(&mut self, id: PatternId) -> Option<PatternId> {
        let t = *self.by_id.get(&id)?;
        let r = self.find(t);
        Some(self.templates[r as usize].id)
    }

    /// The text of a template, `<*>` and typed placeholders included.
    pub fn template_text(&self, id: PatternId) -> Option<String> {
        let t = *self.by_id.get(&id)?;
        Some(self.text_of(&self.templates[t as usize].tokens))
    }

    fn text_of(&self, tokens: &[u32]) -> String {
        let mut s = String::new();
        for (i, &w) in tokens.iter().enumerate() {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(&self.word_text[w as usize]);
        }
        s
    }

    /// Templates that are current (not merged away): id and text.
    pub fn templates(&self) -> Vec<(PatternId, String)> {
        self.templates
            .iter()
            .enumerate()
            .filter(|(i, t)| t.parent as usize == *i)
            .map(|(_, t)| (t.id, self.text_of(&t.tokens)))
            .collect()
    }

    /// Every id that resolves to `id` (itself included): what a search for
    /// `_pattern:<id>` must match among stored events.
    pub fn members(&mut self, id: PatternId) -> Vec<PatternId> {
        let Some(&root) = self.by_id.get(&id) else {
            return Vec::new();
        };
        let root = self.find(root);
        let mut out = Vec::new();
        for t in 0..self.templates.len() as TemplateIdx {
            if self.find(t) == root {
                out.push(self.templates[t as usize].id);
            }
        }
        out
    }

    /// Number of templates ever made (merged ones included).
    pub fn len(&self) -> usize {
        self.templates.len()
    }

    /// No template yet.
    pub fn is_empty(&self) -> bool {
        self.templates.is_empty()
    }

    /// What changed since the last call.
    pub fn take_changes(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.changes)
    }

    /// Replays a change from the durable log, so that ids made before a
    /// restart resolve as they did. Unknown ids in a merge are ignored (the
    /// log was cut), templates that exist already are kept.
    pub fn restore(&mut self, change: &Change) {
        match change {
            Change::New { id, template } => {
                if self.by_id.contains_key(id) {
                    return;
                }
                let tokens: Vec<u32> = template.split(' ').map(|w| self.word(w)).collect();
                if let Some(&t) = self.by_tokens.get(&tokens) {
                    // the same text under another id: keep both ids resolving together
                    self.by_id.insert(*id, t);
                    return;
                }
                let t = self.create(tokens);
                // keep the id the log gave (it was derived from the same text)
                let made = self.templates[t as usize].id;
                if made != *id {
                    self.by_id.remove(&made);
                    self.templates[t as usize].id = *id;
                    self.by_id.insert(*id, t);
                }
                self.changes.pop();
            }
            Change::Merged { from, into } => {
                let (Some(&f), Some(&i)) = (self.by_id.get(from), self.by_id.get(into)) else {
                    return;
                };
                let (rf, ri) = (self.find(f), self.find(i));
                if rf != ri {
                    self.templates[rf as usize].parent = ri;
                }
            }
        }
    }
}

/// Tokens `a` and `b` are equal at every position but `p`.
fn same_but(a: &[u32], b: &[u32], p: usize) -> bool {
    a.len() == b.len() && a[..p] == b[..p] && a[p + 1..] == b[p + 1..]
}

fn blank_hash(tokens: &[u32], p: usize) -> u64 {
    let mut h = FxHasher::default();
    tokens.len().hash(&mut h);
    p.hash(&mut h);
    for (i, w) in tokens.iter().enumerate() {
        if i != p {
            w.hash(&mut h);
        }
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn miner() -> Miner {
        Miner::new("svc", MinerConfig::default(), Masker::default())
    }

    #[test]
    fn numbers_and_addresses_are_one_template() {
        let mut m = miner();
        let a = m.add("Connection from 10.0.0.1 closed after 25 ms");
        let b = m.add("Connection from 10.0.0.2 closed after 7 ms");
        assert_eq!(a, b);
        assert_eq!(
            m.template_text(a).unwrap(),
            "Connection from <IP> closed after <DURATION>"
        );
    }

    #[test]
    fn a_word_with_many_values_becomes_a_variable() {
        let mut m = miner();
        let ids: Vec<PatternId> = ["alice", "bob", "carol", "dave"]
            .iter()
            .map(|u| m.add(&format!("session opened for user {u}")))
            .collect();
        let root = m.resolve(ids[0]).unwrap();
        for id in &ids {
            assert_eq!(
                m.resolve(*id),
                Some(root),
                "every early id resolves to the merged template"
            );
        }
        assert_eq!(
            m.template_text(root).unwrap(),
            "session opened for user <*>"
        );
        // a fifth user goes straight to it
        assert_eq!(m.add("session opened for user erin"), root);
        // two values stay two templates: enabled/disabled are different events
        let on = m.add("feature flag enabled");
        let off = m.add("feature flag disabled");
        assert_ne!(m.resolve(on), m.resolve(off));
    }

    #[test]
    fn a_merge_keeps_one_constant() {
        let mut m = miner();
        let a = m.add("alpha");
        m.add("beta");
        m.add("gamma");
        let ids: Vec<_> = m.templates().into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids.len(), 3, "single words never merge into <*>");
        assert_eq!(m.resolve(a), Some(a));
    }

    #[test]
    fn ids_are_stable_and_survive_a_restore() {
        let lines = [
            "user alice logged in",
            "user bob logged in",
            "user carol logged in",
            "disk /dev/sda1 full",
        ];
        let mut m1 = miner();
        let ids1: Vec<_> = lines.iter().map(|l| m1.add(l)).collect();
        let log = m1.take_changes();
        let mut m2 = miner();
        for c in &log {
            m2.restore(c);
        }
        for id in &ids1 {
            assert_eq!(m1.resolve(*id), m2.resolve(*id));
        }
        // the same input in a fresh miner gives the same ids
        let mut m3 = miner();
        let ids3: Vec<_> = lines.iter().map(|l| m3.add(l)).collect();
        assert_eq!(ids1, ids3);
        assert_eq!(PatternId::from_hex(&ids1[0].to_hex()), Some(ids1[0]));
    }

    #[test]
    fn templates_are_capped() {
        let mut m = Miner::new(
            "",
            MinerConfig {
                max_templates: 5,
                ..MinerConfig::default()
            },
            Masker::default(),
        );
        for i in 0..100 {
            m.add(&format!(
                "{} {} {}",
                "ab".repeat(i % 13 + 1),
                "cd".repeat(i % 7 + 1),
                i
            ));
        }
        assert!(m.len() <= 6);
    }
}

//! Dynamic mapping: the type each field got the first time it was seen, as
//! Elasticsearch's dynamic mapping would give it. Strings are `text` with a
//! `.keyword` sub-field, unless they look like dates; whole numbers are
//! `long`, others `float`; booleans `boolean`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::event::timestamp::DateShape;

/// The type of one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FieldKind {
    /// Analysed text, with an exact `.keyword` sub-field for values up to 256 chars.
    Text,
    Keyword,
    Long,
    /// Elasticsearch maps JSON fractions to `float`; we keep full precision.
    Float,
    Boolean,
    Date {
        shape: DateShape,
    },
}

/// The fields of one index.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Mapping {
    pub fields: BTreeMap<String, FieldKind>,
}

/// Name of the event-time field every document has.
pub const TIMESTAMP: &str = "@timestamp";

/// How a user-written field name resolves against a mapping.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    /// The `@timestamp` field.
    Timestamp,
    /// `_id`.
    Id,
    /// `_index`.
    Index,
    /// The normalised level / service / host of analysis.
    Normalized(&'static str),
    /// A mapped path with its kind. `keyword` is true for `x.keyword` of a text field.
    Path {
        path: String,
        kind: FieldKind,
        keyword: bool,
    },
    /// Not in this index's mapping.
    Unmapped,
}

impl Mapping {
    /// Resolve a field name used in a query, sort or aggregation.
    pub fn resolve(&self, name: &str) -> Resolved {
        match name {
            TIMESTAMP => return Resolved::Timestamp,
            "_id" => return Resolved::Id,
            "_index" => return Resolved::Index,
            "log.level.normalized" | "@level" => return Resolved::Normalized("_level"),
            "@service" => return Resolved::Normalized("_service"),
            "@host" => return Resolved::Normalized("_host"),
            "_pattern" => return Resolved::Normalized("_pattern"),
            _ => {}
        }
        if let Some(kind) = self.fields.get(name) {
            return Resolved::Path {
                path: name.to_string(),
                kind: *kind,
                keyword: *kind == FieldKind::Keyword,
            };
        }
        if let Some(base) = name.strip_suffix(".keyword") {
            if let Some(FieldKind::Text) = self.fields.get(base) {
                return Resolved::Path {
                    path: base.to_string(),
                    kind: FieldKind::Text,
                    keyword: true,
                };
            }
        }
        Resolved::Unmapped
    }

    /// Field names matching a pattern with `*` wildcards (for `fields` lists);
    /// `.keyword` sub-fields are included when the pattern names them.
    pub fn expand(&self, pattern: &str) -> Vec<String> {
        if !pattern.contains('*') {
            return vec![pattern.to_string()];
        }
        let mut out: Vec<String> = self
            .fields
            .keys()
            .filter(|f| wildcard_match(pattern, f))
            .cloned()
            .collect();
        if wildcard_match(pattern, TIMESTAMP) {
            out.push(TIMESTAMP.to_string());
        }
        out
    }

    /// The Elasticsearch `_mapping` body for this index.
    pub fn to_es(&self) -> Value {
        let mut props = Map::new();
        props.insert(TIMESTAMP.to_string(), json!({"type": "date"}));
        for (path, kind) in &self.fields {
            let leaf = match kind {
                FieldKind::Text => {
                    json!({"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}})
                }
                FieldKind::Keyword => json!({"type": "keyword"}),
                FieldKind::Long => json!({"type": "long"}),
                FieldKind::Float => json!({"type": "float"}),
                FieldKind::Boolean => json!({"type": "boolean"}),
                FieldKind::Date { shape } => json!({"type": "date", "format": shape.es_format()}),
            };
            insert_path(&mut props, path, leaf);
        }
        json!({ "properties": props })
    }
}

fn insert_path(props: &mut Map<String, Value>, path: &str, leaf: Value) {
    let mut cur = props;
    let mut rest = path;
    while let Some((head, tail)) = rest.split_once('.') {
        let entry = cur
            .entry(head.to_string())
            .or_insert_with(|| json!({"properties": {}}));
        match entry.get_mut("properties") {
            Some(Value::Object(inner)) => cur = inner,
            // A leaf and an object share the name; keep the leaf.
            _ => return,
        }
        rest = tail;
    }
    cur.insert(rest.to_string(), leaf);
}

/// Most segments a field path may have (`a.b.c` has 3); deeper fields stay
/// in `_source` only, so neither indexing nor the rendered mapping nests
/// without bound when keys contain many dots.
pub const MAX_PATH_SEGMENTS: usize = 32;

/// Whether `path` is shallow enough to be mapped.
pub fn path_ok(path: &str) -> bool {
    path.bytes().filter(|b| *b == b'.').count() < MAX_PATH_SEGMENTS
}

/// `*`/`?` glob match (used for field and index patterns).
pub fn wildcard_match(pattern: &str, s: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = s.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(sp) = star {
            pi = sp + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_keyword_subfield() {
        let mut m = Mapping::default();
        m.fields.insert("level".into(), FieldKind::Text);
        m.fields.insert("n".into(), FieldKind::Long);
        assert!(matches!(
            m.resolve("level.keyword"),
            Resolved::Path { keyword: true, .. }
        ));
        assert!(matches!(
            m.resolve("level"),
            Resolved::Path { keyword: false, .. }
        ));
        assert_eq!(m.resolve("n.keyword"), Resolved::Unmapped);
        assert_eq!(m.resolve("@timestamp"), Resolved::Timestamp);
    }

    #[test]
    fn globs() {
        assert!(wildcard_match("app-logs-*", "app-logs-2026.11.24"));
        assert!(wildcard_match("a?c", "abc"));
        assert!(!wildcard_match("app-*", "logs-1"));
        assert!(wildcard_match("*", ""));
    }

    #[test]
    fn es_shape_nests_objects() {
        let mut m = Mapping::default();
        m.fields.insert("http.status".into(), FieldKind::Long);
        let v = m.to_es();
        assert_eq!(
            v["properties"]["http"]["properties"]["status"]["type"],
            "long"
        );
    }
}

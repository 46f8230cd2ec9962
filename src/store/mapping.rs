//! Dynamic mapping: the type each field got the first time it was seen, as
//! Elasticsearch's dynamic mapping would give it. Strings are `text` with a
//! `.keyword` sub-field, unless they look like dates; whole numbers are
//! `long`, others `float`; booleans `boolean`. An explicit mapping may give
//! a date field its own `format`, which then decides how its values are read
//! (at index time and in queries) and shown.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::event::timestamp::DateShape;
use crate::query::date_format::DateFormat;

/// The type of one field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
        /// How the first value looked, for fields dynamic mapping found.
        shape: DateShape,
        /// The `format` of an explicit mapping. When set it wins over
        /// `shape`: values must match it (others are kept in `_source`
        /// only), query bounds are read with it, and results render with
        /// its first alternative, as in Elasticsearch.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        format: Option<DateFormat>,
    },
}

impl FieldKind {
    /// A date field found by dynamic mapping.
    pub fn dynamic_date(shape: DateShape) -> FieldKind {
        FieldKind::Date {
            shape,
            format: None,
        }
    }

    /// The format a date field is shown with: its explicit one, else the
    /// one matching the shape dynamic mapping saw.
    pub fn date_format(&self) -> Option<DateFormat> {
        match self {
            FieldKind::Date {
                format: Some(f), ..
            } => Some(f.clone()),
            FieldKind::Date { shape, .. } => DateFormat::parse_spec(shape.es_format()).ok(),
            _ => None,
        }
    }
}

/// The fields of one index.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Mapping {
    pub fields: BTreeMap<String, FieldKind>,
    /// Whether the message fields ([`crate::event::fields::is_message_field`])
    /// keep no `.keyword` column: set for indices made since, as in the
    /// ECS logs templates (`match_only_text`). Their exact values are nearly
    /// unique, so the column was a second copy of every message (0.08 bytes
    /// per raw byte on realistic logs) that only exact and prefix matches
    /// used; those now check candidates from the text index against
    /// `_source`. Older indices keep their columns.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub messages_without_columns: bool,
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
                kind: kind.clone(),
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

    /// Whether the text field at `path` keeps its exact values in a column
    /// (`.keyword` doc values); see [`Mapping::messages_without_columns`].
    pub fn keyword_column(&self, path: &str) -> bool {
        !(self.messages_without_columns && crate::event::fields::is_message_field(path))
    }

    /// The Elasticsearch `_mapping` body for this index.
    pub fn to_es(&self) -> Value {
        let mut props = Map::new();
        props.insert(TIMESTAMP.to_string(), json!({"type": "date"}));
        for (path, kind) in &self.fields {
            let leaf = match kind {
                FieldKind::Text if !self.keyword_column(path) => {
                    json!({"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256, "doc_values": false}}})
                }
                FieldKind::Text => {
                    json!({"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}})
                }
                FieldKind::Keyword => json!({"type": "keyword"}),
                FieldKind::Long => json!({"type": "long"}),
                FieldKind::Float => json!({"type": "float"}),
                FieldKind::Boolean => json!({"type": "boolean"}),
                FieldKind::Date {
                    format: Some(f), ..
                } => json!({"type": "date", "format": f.spec()}),
                FieldKind::Date { shape, .. } => {
                    json!({"type": "date", "format": shape.es_format()})
                }
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
    fn explicit_date_format_persists_and_shows() {
        let mut m = Mapping::default();
        let f = DateFormat::parse_spec("dd/MM/yyyy||epoch_millis").unwrap();
        m.fields.insert(
            "t".into(),
            FieldKind::Date {
                shape: DateShape::Iso,
                format: Some(f.clone()),
            },
        );
        m.fields
            .insert("d".into(), FieldKind::dynamic_date(DateShape::IsoSpace));
        assert_eq!(
            m.to_es()["properties"]["t"]["format"],
            "dd/MM/yyyy||epoch_millis"
        );
        assert_eq!(
            m.to_es()["properties"]["d"]["format"],
            DateShape::IsoSpace.es_format()
        );
        // The commit payload keeps the format; payloads written before
        // formats existed still load.
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<Mapping>(&text).unwrap(), m);
        let old: Mapping =
            serde_json::from_str(r#"{"fields":{"d":{"type":"date","shape":"Iso"}}}"#).unwrap();
        assert_eq!(old.fields["d"], FieldKind::dynamic_date(DateShape::Iso));
        assert_eq!(m.fields["t"].date_format(), Some(f));
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

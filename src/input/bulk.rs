//! The Elasticsearch `_bulk` body: NDJSON pairs of action and document.
//!
//! Real senders vary: rsyslog puts `_type` in the action and a blank line
//! after each document, Fluent Bit uses `create` with `_type: _doc`, some
//! clients end without a newline. A bad document fails only its own item;
//! the rest of the request is still indexed. A malformed action/metadata
//! line fails the whole request, in Elasticsearch's words: after it, which
//! line is a document and which an action can only be guessed, and a guess
//! would store documents under the wrong actions or answer items that do
//! not line up with the request (Elasticsearch refuses such requests with
//! 400 for the same reason).

use bytes::Bytes;
use serde_json::{Map, Value};

/// What a bulk item asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkAction {
    Index,
    Create,
    Delete,
    Update,
}

impl BulkAction {
    pub fn as_str(self) -> &'static str {
        match self {
            BulkAction::Index => "index",
            BulkAction::Create => "create",
            BulkAction::Delete => "delete",
            BulkAction::Update => "update",
        }
    }
}

/// An item that could not be parsed, rendered as the item's `error`.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemError {
    pub kind: &'static str,
    pub reason: String,
}

/// Why a whole bulk request is refused: a malformed action/metadata line.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionLineError {
    pub kind: &'static str,
    pub reason: String,
}

/// Action metadata Elasticsearch takes besides `_index` and `_id`
/// (`_type` as 7.x clients and rsyslog send it); accepted and not used.
const OTHER_PARAMS: &[&str] = &[
    "_type",
    "routing",
    "op_type",
    "version",
    "version_type",
    "if_seq_no",
    "if_primary_term",
    "retry_on_conflict",
    "pipeline",
    "_source",
    "require_alias",
    "require_data_stream",
    "dynamic_templates",
    "list_executed_pipelines",
];

/// The parameters whose value may be an object.
const OBJECT_PARAMS: &[&str] = &["_source", "dynamic_templates"];

/// The JSON token Elasticsearch's parser names for a value.
fn token(v: &Value) -> &'static str {
    match v {
        Value::Null => "VALUE_NULL",
        Value::Bool(_) => "VALUE_BOOLEAN",
        Value::Number(_) => "VALUE_NUMBER",
        Value::String(_) => "VALUE_STRING",
        Value::Array(_) => "START_ARRAY",
        Value::Object(_) => "START_OBJECT",
    }
}

/// One parsed item of a bulk request.
#[derive(Debug, Clone)]
pub struct BulkItem {
    pub action: BulkAction,
    pub index: Option<String>,
    pub id: Option<String>,
    /// The document bytes and its parsed object, or why it was rejected.
    pub doc: Result<(Bytes, Map<String, Value>), ItemError>,
}

fn lines(body: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    body.split(|b| *b == b'\n').enumerate().map(|(i, l)| {
        let l = l.strip_suffix(b"\r").unwrap_or(l);
        (i + 1, l)
    })
}

fn is_blank(l: &[u8]) -> bool {
    l.iter().all(|b| b.is_ascii_whitespace())
}

fn preview(l: &[u8]) -> String {
    let s = String::from_utf8_lossy(&l[..l.len().min(80)]);
    if l.len() > 80 {
        format!("{s}...")
    } else {
        s.into_owned()
    }
}

/// Parse a document line into an object.
pub fn parse_doc(line: &[u8]) -> Result<Map<String, Value>, ItemError> {
    if std::str::from_utf8(line).is_err() {
        return Err(ItemError {
            kind: "mapper_parsing_exception",
            reason: "failed to parse: document is not valid UTF-8".into(),
        });
    }
    match serde_json::from_slice::<Value>(line) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(ItemError {
            kind: "mapper_parsing_exception",
            reason: format!(
                "failed to parse: the document must be a JSON object, found {}",
                match other {
                    Value::Array(_) => "an array",
                    Value::String(_) => "a string",
                    Value::Number(_) => "a number",
                    Value::Bool(_) => "a boolean",
                    _ => "null",
                }
            ),
        }),
        Err(e) => Err(ItemError {
            kind: "mapper_parsing_exception",
            reason: format!("failed to parse: {e}"),
        }),
    }
}

/// What an action line asks: the action, `_index` and `_id`.
type Action = (BulkAction, Option<String>, Option<String>);

/// Parse action/metadata line `lineno`, checking what Elasticsearch checks
/// and in its order, with its messages.
fn parse_action(line: &[u8], lineno: usize) -> Result<Action, ActionLineError> {
    match common_action(line) {
        Some(a) => Ok(a),
        None => checked_action(line, lineno),
    }
}

/// [`parse_action`] for any line, with every check and message.
fn checked_action(line: &[u8], lineno: usize) -> Result<Action, ActionLineError> {
    let malformed = |what: String| ActionLineError {
        kind: "illegal_argument_exception",
        reason: format!("Malformed action/metadata line [{lineno}], {what}"),
    };
    let v: Value = serde_json::from_slice(line).map_err(|e| ActionLineError {
        kind: "x_content_parse_exception",
        reason: format!(
            "Malformed action/metadata line [{lineno}], not valid JSON ({e}): {}",
            preview(line)
        ),
    })?;
    let Value::Object(m) = v else {
        return Err(malformed(format!(
            "expected START_OBJECT but found [{}]",
            token(&v)
        )));
    };
    let mut entries = m.into_iter();
    let Some((name, meta)) = entries.next() else {
        return Err(malformed(
            "expected FIELD_NAME but found [END_OBJECT]".into(),
        ));
    };
    let action = match name.as_str() {
        "index" => BulkAction::Index,
        "create" => BulkAction::Create,
        "delete" => BulkAction::Delete,
        "update" => BulkAction::Update,
        other => {
            return Err(malformed(format!(
                "expected field [create], [delete], [index] or [update] but found [{other}]"
            )))
        }
    };
    let Value::Object(meta) = meta else {
        return Err(malformed(format!(
            "expected START_OBJECT or END_OBJECT but found [{}]",
            token(&meta)
        )));
    };
    let (mut index, mut id) = (None, None);
    for (k, v) in meta {
        let simple = match &v {
            Value::Null => continue,
            Value::Array(_) => false,
            Value::Object(_) => OBJECT_PARAMS.contains(&k.as_str()),
            _ => true,
        };
        if !simple {
            return Err(malformed(format!(
                "expected a simple value for field [{k}] but found [{}]",
                token(&v)
            )));
        }
        let text = match v {
            Value::String(s) => Some(s),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        };
        match k.as_str() {
            "_index" => index = text,
            "_id" => id = text,
            known if OTHER_PARAMS.contains(&known) => {}
            unknown => {
                return Err(ActionLineError {
                    kind: "illegal_argument_exception",
                    reason: format!(
                        "Action/metadata line [{lineno}] contains an unknown parameter [{unknown}]"
                    ),
                })
            }
        }
    }
    if entries.next().is_some() {
        return Err(malformed(
            "expected END_OBJECT but found [FIELD_NAME]".into(),
        ));
    }
    Ok((action, index, id))
}

/// The metadata of an action line in its common form: only `_index` and
/// `_id` as strings.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CommonMeta<'a> {
    #[serde(rename = "_index", borrow, default)]
    index: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "_id", borrow, default)]
    id: Option<std::borrow::Cow<'a, str>>,
}

/// An action line in its common form: one action, common metadata.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CommonAction<'a> {
    #[serde(borrow, default)]
    index: Option<CommonMeta<'a>>,
    #[serde(borrow, default)]
    create: Option<CommonMeta<'a>>,
    #[serde(borrow, default)]
    delete: Option<CommonMeta<'a>>,
    #[serde(borrow, default)]
    update: Option<CommonMeta<'a>>,
}

/// Nearly every action line is `{"index":{}}` or names `_index` and `_id`:
/// read those into borrowed strings, without building a JSON tree (that
/// was a third of parsing a bulk body). Anything else (other parameters,
/// numbers as ids, two actions, bad JSON) is `None` and goes through the
/// full check with Elasticsearch's messages.
fn common_action(line: &[u8]) -> Option<Action> {
    let a: CommonAction = serde_json::from_slice(line).ok()?;
    let owned = |m: CommonMeta| (m.index.map(String::from), m.id.map(String::from));
    let (action, (index, id)) = match (a.index, a.create, a.delete, a.update) {
        (Some(m), None, None, None) => (BulkAction::Index, owned(m)),
        (None, Some(m), None, None) => (BulkAction::Create, owned(m)),
        (None, None, Some(m), None) => (BulkAction::Delete, owned(m)),
        (None, None, None, Some(m)) => (BulkAction::Update, owned(m)),
        _ => return None,
    };
    Some((action, index, id))
}

/// Parse a whole bulk body into items, in order.
pub fn parse(body: &[u8]) -> Result<Vec<BulkItem>, ActionLineError> {
    parse_bytes(&Bytes::copy_from_slice(body))
}

/// Like [`parse`], but documents share `body`'s buffer instead of being copied.
pub fn parse_bytes(body: &Bytes) -> Result<Vec<BulkItem>, ActionLineError> {
    let mut items = Vec::new();
    let mut it = lines(body).peekable();
    while let Some((lineno, line)) = it.next() {
        if is_blank(line) {
            continue;
        }
        let (action, index, id) = parse_action(line, lineno)?;
        if action == BulkAction::Delete {
            items.push(BulkItem {
                action,
                index,
                id,
                doc: Ok((Bytes::new(), Map::new())),
            });
            continue;
        }
        // The document is the next non-blank line.
        let mut doc_line = None;
        while let Some((_, l)) = it.peek() {
            if is_blank(l) {
                it.next();
                continue;
            }
            doc_line = it.next();
            break;
        }
        let doc = match doc_line {
            None => Err(ItemError {
                kind: "illegal_argument_exception",
                reason: format!(
                    "the [{}] action on line [{lineno}] has no document line",
                    action.as_str()
                ),
            }),
            Some((_, l)) => parse_doc(l).map(|m| (body.slice_ref(l), m)),
        };
        items.push(BulkItem {
            action,
            index,
            id,
            doc,
        });
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn senders_quirks() {
        let body = b"{\"index\":{\"_index\":\"a\",\"_type\":\"events\"}}\n{\"m\":1}\n\n{\"create\":{\"_type\":\"_doc\",\"_id\":\"x\"}}\r\n{\"m\":2}";
        let items = parse(body).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].index.as_deref(), Some("a"));
        assert_eq!(items[1].action, BulkAction::Create);
        assert_eq!(items[1].id.as_deref(), Some("x"));
        assert!(items.iter().all(|i| i.doc.is_ok()));
    }

    #[test]
    fn bad_documents_fail_alone() {
        let body = b"{\"index\":{}}\n{\"m\":\n{\"index\":{}}\n[1]\n{\"index\":{}}\n{\"ok\":true}\n{\"index\":{}}\n\xff\xfe\n";
        let items = parse(body).unwrap();
        assert_eq!(items.len(), 4);
        assert!(items[0].doc.is_err());
        assert!(items[1].doc.is_err());
        assert!(items[2].doc.is_ok());
        assert!(items[3].doc.as_ref().unwrap_err().reason.contains("UTF-8"));
    }

    #[test]
    fn a_malformed_action_line_fails_the_request_naming_it() {
        let err = parse(b"{\"index\":{}}\n{}\n\n{\"bogus\":{}}\n{\"m\":3}\n").unwrap_err();
        assert_eq!(err.kind, "illegal_argument_exception");
        assert_eq!(
            err.reason,
            "Malformed action/metadata line [4], expected field [create], [delete], [index] or [update] but found [bogus]"
        );
        // Elasticsearch's order: the metadata before extra keys.
        let err = parse(b"{\"index\":{\"x\":1},\"y\":{}}\n{}\n").unwrap_err();
        assert_eq!(
            err.reason,
            "Action/metadata line [1] contains an unknown parameter [x]"
        );
        // A null parameter is skipped, as Elasticsearch skips it.
        assert!(parse(b"{\"index\":{\"x\":null}}\n{}\n").is_ok());
    }

    #[test]
    fn common_action_lines_skip_the_tree() {
        let a = common_action(br#"{"create":{"_index":"logs-%{+yyyy}","_id":"a\"b"}}"#);
        assert_eq!(
            a,
            Some((
                BulkAction::Create,
                Some("logs-%{+yyyy}".into()),
                Some("a\"b".into())
            ))
        );
        assert_eq!(
            common_action(br#"{"index":{}}"#),
            Some((BulkAction::Index, None, None))
        );
        for other in [
            &br#"{"index":{"_id":7}}"#[..],
            br#"{"index":{"routing":"x"}}"#,
            br#"{"index":{},"create":{}}"#,
            br#"{"index":{"_id":"a","_id":"b"}}"#,
            br#"{}"#,
        ] {
            assert_eq!(
                common_action(other),
                None,
                "{}",
                String::from_utf8_lossy(other)
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn common_action_lines_read_as_the_full_check_reads_them(
            action in "(index|create|delete|update|other)",
            params in proptest::collection::vec(
                ("(_index|_id|routing|_idx)", "(\"[a-z%{}+.\\\\]{0,6}\"|7|null|\\{\\}|true)"),
                0..3,
            ),
            second in proptest::bool::weighted(0.1),
        ) {
            let meta: Vec<String> = params.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            let mut line = format!("{{\"{action}\":{{{}}}", meta.join(","));
            if second {
                line.push_str(",\"index\":{}");
            }
            line.push('}');
            if let Some(a) = common_action(line.as_bytes()) {
                let full = checked_action(line.as_bytes(), 1);
                proptest::prop_assert!(full.is_ok(), "{line}: {:?}", full.err().map(|e| e.reason));
                proptest::prop_assert_eq!(full.ok(), Some(a), "{}", line);
            }
        }

        #[test]
        fn never_panics(body in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = parse(&body);
        }

        #[test]
        fn roundtrip_count(docs in proptest::collection::vec("[a-z]{0,12}", 0..20)) {
            let mut body = String::new();
            for d in &docs {
                body.push_str("{\"index\":{}}\n");
                body.push_str(&serde_json::json!({"msg": d}).to_string());
                body.push('\n');
            }
            let items = parse(body.as_bytes()).unwrap();
            proptest::prop_assert_eq!(items.len(), docs.len());
            proptest::prop_assert!(items.iter().all(|i| i.doc.is_ok()));
        }
    }
}

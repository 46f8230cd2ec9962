//! The Elasticsearch `_bulk` body: NDJSON pairs of action and document.
//!
//! Real senders vary: rsyslog puts `_type` in the action and a blank line
//! after each document, Fluent Bit uses `create` with `_type: _doc`, some
//! clients end without a newline. A bad line fails only its own item; the
//! rest of the request is still indexed.

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

fn parse_action(
    line: &[u8],
    lineno: usize,
) -> Result<(BulkAction, Option<String>, Option<String>), ItemError> {
    let bad = |reason: String| ItemError {
        kind: "illegal_argument_exception",
        reason,
    };
    let v: Value = serde_json::from_slice(line).map_err(|e| {
        bad(format!(
            "Malformed action/metadata line [{lineno}], {e}: {}",
            preview(line)
        ))
    })?;
    let m = v.as_object().filter(|m| m.len() == 1).ok_or_else(|| {
        bad(format!(
            "Malformed action/metadata line [{lineno}], expected an object with one action"
        ))
    })?;
    let (name, meta) = m.iter().next().ok_or_else(|| bad("empty action".into()))?;
    let action = match name.as_str() {
        "index" => BulkAction::Index,
        "create" => BulkAction::Create,
        "delete" => BulkAction::Delete,
        "update" => BulkAction::Update,
        other => {
            return Err(bad(format!(
                "Malformed action/metadata line [{lineno}], expected one of [create, delete, index, update] but found [{other}]"
            )))
        }
    };
    let meta = meta.as_object().ok_or_else(|| {
        bad(format!(
            "Malformed action/metadata line [{lineno}], expected an object after [{name}]"
        ))
    })?;
    let text = |k: &str| -> Option<String> {
        match meta.get(k) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        }
    };
    Ok((action, text("_index"), text("_id")))
}

/// Parse a whole bulk body into items, in order.
pub fn parse(body: &[u8]) -> Vec<BulkItem> {
    parse_bytes(&Bytes::copy_from_slice(body))
}

/// Like [`parse`], but documents share `body`'s buffer instead of being copied.
pub fn parse_bytes(body: &Bytes) -> Vec<BulkItem> {
    let mut items = Vec::new();
    let mut it = lines(body).peekable();
    while let Some((lineno, line)) = it.next() {
        if is_blank(line) {
            continue;
        }
        match parse_action(line, lineno) {
            Ok((action, index, id)) => {
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
            Err(e) => {
                // A broken action line: fail this item and skip a following
                // line that looks like its document.
                if let Some((_, l)) = it.peek() {
                    if !is_blank(l) && parse_action(l, 0).is_err() {
                        it.next();
                    }
                }
                items.push(BulkItem {
                    action: BulkAction::Index,
                    index: None,
                    id: None,
                    doc: Err(e),
                });
            }
        }
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn senders_quirks() {
        let body = b"{\"index\":{\"_index\":\"a\",\"_type\":\"events\"}}\n{\"m\":1}\n\n{\"create\":{\"_type\":\"_doc\",\"_id\":\"x\"}}\r\n{\"m\":2}";
        let items = parse(body);
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].index.as_deref(), Some("a"));
        assert_eq!(items[1].action, BulkAction::Create);
        assert_eq!(items[1].id.as_deref(), Some("x"));
        assert!(items.iter().all(|i| i.doc.is_ok()));
    }

    #[test]
    fn bad_lines_fail_alone() {
        let body = b"{\"index\":{}}\n{\"m\":\n{\"index\":{}}\n[1]\n{\"bogus\":{}}\n{\"m\":3}\n{\"index\":{}}\n{\"ok\":true}\n{\"index\":{}}\n\xff\xfe\n";
        let items = parse(body);
        assert_eq!(items.len(), 5);
        assert!(items[0].doc.is_err());
        assert!(items[1].doc.is_err());
        assert!(items[2].doc.as_ref().unwrap_err().reason.contains("bogus"));
        assert!(items[3].doc.is_ok());
        assert!(items[4].doc.as_ref().unwrap_err().reason.contains("UTF-8"));
    }

    #[test]
    fn deep_nesting_is_an_item_error() {
        let deep = format!("{}{}", "{\"a\":".repeat(10_000), "1");
        let body = format!("{{\"index\":{{}}}}\n{deep}\n");
        let items = parse(body.as_bytes());
        assert_eq!(items.len(), 1);
        assert!(items[0].doc.is_err());
    }

    proptest::proptest! {
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
            let items = parse(body.as_bytes());
            proptest::prop_assert_eq!(items.len(), docs.len());
            proptest::prop_assert!(items.iter().all(|i| i.doc.is_ok()));
        }
    }
}

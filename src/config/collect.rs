//! Deserialize a TOML document and collect every problem in one pass, each
//! with its line and full dotted key path.
//!
//! serde stops at the first error, so a file with six mistakes would need
//! six runs. Here the document is parsed into its spanned tree once; each
//! deserialization error is located in the tree by its span, recorded, and
//! repaired in the tree (an unknown key removed, a value of the wrong type
//! replaced by a stand-in of the type the target accepts, a missing key
//! given one), and deserialization runs again until it succeeds. The paths
//! that were repaired are returned so that later checks on the stand-ins
//! do not report them a second time.

use std::borrow::Cow;
use std::ops::Range;

use serde::de::DeserializeOwned;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// One problem found while reading the document.
#[derive(Debug, Clone, PartialEq)]
pub struct RawProblem {
    /// Byte range in the text, `None` when the parser gave none.
    pub span: Option<Range<usize>>,
    /// Dotted key path like `routes[1].transforms[0].rename.to`.
    pub key: String,
    pub message: String,
}

/// The outcome: the value (when the repaired document deserialized), the
/// problems, and the key paths that now hold stand-ins.
pub struct Collected<T> {
    pub value: Option<T>,
    pub problems: Vec<RawProblem>,
    pub repaired: Vec<String>,
}

/// One step of a key path.
#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Key(String),
    Index(usize),
}

fn render(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// Whether key path `key` is `base` or lies under it.
pub fn is_under(key: &str, base: &str) -> bool {
    key == base
        || key
            .strip_prefix(base)
            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}

/// Where an error span points in the tree.
#[derive(Debug, Clone, PartialEq)]
enum Hit {
    /// The key itself (unknown keys are reported there).
    Key,
    /// The value (a table for a missing key, else a value of the wrong type).
    Value,
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end
}

/// Every key and value of the tree with its path and span.
fn nodes(table: &DeTable<'_>, path: &mut Vec<Seg>, out: &mut Vec<(Vec<Seg>, Range<usize>, Hit)>) {
    for (k, v) in table.iter() {
        path.push(Seg::Key(k.get_ref().to_string()));
        out.push((path.clone(), k.span(), Hit::Key));
        value_nodes(v, path, out);
        path.pop();
    }
}

fn value_nodes(
    v: &Spanned<DeValue<'_>>,
    path: &mut Vec<Seg>,
    out: &mut Vec<(Vec<Seg>, Range<usize>, Hit)>,
) {
    out.push((path.clone(), v.span(), Hit::Value));
    match v.get_ref() {
        DeValue::Table(t) => nodes(t, path, out),
        DeValue::Array(a) => {
            for (i, e) in a.iter().enumerate() {
                path.push(Seg::Index(i));
                value_nodes(e, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// The node an error span points at: an exact match first, else the
/// smallest node containing it; the root when none does.
fn locate(root: &DeTable<'_>, span: &Range<usize>) -> (Vec<Seg>, Hit) {
    let mut all = Vec::new();
    nodes(root, &mut Vec::new(), &mut all);
    let exact = all
        .iter()
        .filter(|(_, s, _)| s == span)
        // a key and its value never share a span; among equal spans
        // (a table and the stand-in inserted into it) the deepest wins
        .max_by_key(|(p, _, _)| p.len());
    if let Some((p, _, h)) = exact {
        return (p.clone(), h.clone());
    }
    all.iter()
        .filter(|(_, s, _)| contains(s, span))
        .min_by_key(|(p, s, _)| (s.end - s.start, usize::MAX - p.len()))
        .map(|(p, _, h)| (p.clone(), h.clone()))
        .unwrap_or((Vec::new(), Hit::Value))
}

/// The table a path leads to (`None` when it is not a table).
fn table_at<'a, 'i>(root: &'a mut DeTable<'i>, path: &[Seg]) -> Option<&'a mut DeTable<'i>> {
    let mut cur: &mut DeTable<'i> = root;
    let mut i = 0;
    while i < path.len() {
        let Seg::Key(k) = &path[i] else { return None };
        let mut v: &mut Spanned<DeValue<'i>> = cur.get_mut(k.as_str())?;
        i += 1;
        while let Some(Seg::Index(n)) = path.get(i) {
            let DeValue::Array(a) = v.get_mut() else {
                return None;
            };
            v = a.get_mut(*n)?;
            i += 1;
        }
        let DeValue::Table(t) = v.get_mut() else {
            return None;
        };
        cur = t;
    }
    Some(cur)
}

/// The value a path leads to.
fn value_at<'a, 'i>(
    root: &'a mut DeTable<'i>,
    path: &[Seg],
) -> Option<&'a mut Spanned<DeValue<'i>>> {
    let (last, parent) = path.split_last()?;
    match last {
        Seg::Key(k) => table_at(root, parent)?.get_mut(k.as_str()),
        Seg::Index(n) => {
            let v = value_at(root, parent)?;
            match v.get_mut() {
                DeValue::Array(a) => a.get_mut(*n),
                _ => None,
            }
        }
    }
}

/// Stand-ins of each TOML type, tried in turn until the target accepts one.
fn stand_ins() -> Vec<DeValue<'static>> {
    const SAMPLES: &str = "s = \"\"\ni = 0\nb = false\na = []\nt = {}\nf = 0.0\n";
    let Ok(t) = DeTable::parse(SAMPLES) else {
        return Vec::new();
    };
    let t = t.into_inner();
    ["s", "i", "b", "a", "t", "f"]
        .iter()
        .filter_map(|k| t.get(*k).map(|v| v.get_ref().clone()))
        .collect()
}

/// The key named in serde's "missing field `x`".
fn missing_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")
        .and_then(|r| r.split('`').next())
}

fn attempt<T: DeserializeOwned>(root: &Spanned<DeTable<'_>>) -> Result<T, toml::de::Error> {
    T::deserialize(toml::de::Deserializer::from(root.clone()))
}

/// What an attempt's error is about: its path, whether it names a key, and
/// its message.
fn describe(root: &DeTable<'_>, e: &toml::de::Error) -> (Vec<Seg>, Hit, String) {
    let message = e.message().to_string();
    let (mut path, hit) = match e.span() {
        Some(s) => locate(root, &s),
        None => (Vec::new(), Hit::Value),
    };
    if let Some(k) = missing_field(&message) {
        path.push(Seg::Key(k.to_string()));
    }
    (path, hit, message)
}

/// Blank (with spaces, so offsets stay) the lines from the one holding
/// byte `from` to the one holding byte `to`; a broken table header takes
/// the keys below it along, as they would land in the wrong table. False
/// when nothing changed.
fn blank_lines(src: &mut String, from: usize, to: usize) -> bool {
    let line_end = |s: &str, at: usize| s[at..].find('\n').map_or(s.len(), |i| at + i);
    let from = from.min(src.len());
    let start = src[..from].rfind('\n').map_or(0, |i| i + 1);
    let mut end = line_end(src, to.clamp(start, src.len()));
    if src[start..end].trim_start().starts_with('[') {
        while end < src.len() {
            let next_end = line_end(src, end + 1);
            if src[end + 1..next_end].trim_start().starts_with('[') {
                break;
            }
            end = next_end;
        }
    }
    if src[start..end].trim().is_empty() {
        return false;
    }
    let spaces: String = src[start..end]
        .chars()
        .map(|c| {
            if c == '\n' {
                "\n".to_string()
            } else {
                " ".repeat(c.len_utf8())
            }
        })
        .collect();
    src.replace_range(start..end, &spaces);
    true
}

/// Where the statement holding an error starts: for an error inside an
/// array (which may span lines), the key of the outermost such array.
fn statement_start(root: &DeTable<'_>, path: &[Seg], at: usize) -> usize {
    let Some(first_index) = path.iter().position(|s| matches!(s, Seg::Index(_))) else {
        return at;
    };
    let mut all = Vec::new();
    nodes(root, &mut Vec::new(), &mut all);
    all.iter()
        .find(|(p, _, h)| *h == Hit::Key && p.as_slice() == &path[..first_index])
        .map_or(at, |(_, s, _)| s.start.min(at))
}

/// The key path of byte `at` read from the text itself, for errors the
/// parsed tree does not hold (a duplicate key, a line that is no key):
/// the nearest table header above, with array-of-tables indices, and the
/// key written before `=` on that line.
fn path_from_text(src: &str, at: usize) -> String {
    let at = at.min(src.len());
    let line_start = src[..at].rfind('\n').map_or(0, |i| i + 1);
    let mut counts: std::collections::HashMap<String, usize> = Default::default();
    let mut table = String::new();
    for line in src[..line_start].lines() {
        let l = line.trim();
        if let Some(name) = l.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
            let name = name.trim().to_string();
            *counts.entry(name.clone()).or_default() += 1;
            counts.retain(|k, _| !k.starts_with(&format!("{name}.")));
            table = name;
        } else if let Some(name) = l.strip_prefix('[').and_then(|r| r.split(']').next()) {
            table = name.trim().to_string();
        }
    }
    let mut out = String::new();
    let mut prefix = String::new();
    for part in table.split('.').filter(|p| !p.is_empty()) {
        let part = part.trim();
        if !prefix.is_empty() {
            prefix.push('.');
            out.push('.');
        }
        prefix.push_str(part);
        out.push_str(part);
        if let Some(n) = counts.get(&prefix) {
            out.push_str(&format!("[{}]", n.saturating_sub(1)));
        }
    }
    let line = &src[line_start
        ..src[line_start..]
            .find('\n')
            .map_or(src.len(), |i| line_start + i)];
    if let Some((key, _)) = line.split_once('=') {
        let key = key.trim();
        if !key.is_empty() && !key.starts_with('[') {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(key);
        }
    }
    out
}

/// Syntax problems, one per statement: the first error is reported and its
/// lines blanked, then the text is parsed again (a parser's own recovery
/// after one mistake cascades into many). Returns the text left with no
/// syntax error, `None` when the blanking could not get there.
fn syntax_problems(text: &str, problems: &mut Vec<RawProblem>) -> Option<String> {
    let mut src = text.to_string();
    for _ in 0..1000 {
        let (tree, errs) = DeTable::parse_recoverable(&src);
        let Some(first) = errs.iter().min_by_key(|e| e.span().map_or(0, |s| s.start)) else {
            return Some(src);
        };
        let at = first.span().map_or(0, |s| s.start);
        let path = first
            .span()
            .map(|s| locate(tree.get_ref(), &s).0)
            .unwrap_or_default();
        let from = statement_start(tree.get_ref(), &path, at);
        let key = match path.is_empty() {
            true => path_from_text(&src, at),
            false => render(&path),
        };
        problems.push(RawProblem {
            span: first.span(),
            key,
            message: first.message().trim().to_string(),
        });
        drop(tree);
        if !blank_lines(&mut src, from, at) {
            return None;
        }
    }
    None
}

/// Deserialize `text` as `T`, collecting every syntax and type problem.
pub fn deserialize_all<T: DeserializeOwned>(text: &str) -> Collected<T> {
    let mut problems: Vec<RawProblem> = Vec::new();
    let mut repaired: Vec<String> = Vec::new();
    let Some(src) = syntax_problems(text, &mut problems) else {
        return Collected {
            value: None,
            problems,
            repaired,
        };
    };
    let (mut root, _) = DeTable::parse_recoverable(&src);
    let candidates = stand_ins();
    // Each round fixes one problem; the bound only guards against a
    // repair that does not take.
    for _ in 0..1000 {
        let err = match attempt::<T>(&root) {
            Ok(v) => {
                return Collected {
                    value: Some(v),
                    problems,
                    repaired,
                }
            }
            Err(e) => e,
        };
        let (path, hit, message) = describe(root.get_ref(), &err);
        let key = render(&path);
        // Problems under a stand-in follow from the stand-in, not the file.
        if !repaired.iter().any(|r| is_under(&key, r)) {
            let message = match missing_field(&message) {
                Some(_) => "required key is missing".to_string(),
                None => message.clone(),
            };
            problems.push(RawProblem {
                span: err.span(),
                key: key.clone(),
                message,
            });
        }
        if !repair::<T>(&mut root, &path, hit, &message, err.span(), &candidates) {
            break;
        }
        repaired.push(key);
    }
    Collected {
        value: None,
        problems,
        repaired,
    }
}

/// Change the tree so the error at `path` goes away; false when no change
/// helps.
fn repair<T: DeserializeOwned>(
    root: &mut Spanned<DeTable<'_>>,
    path: &[Seg],
    hit: Hit,
    message: &str,
    span: Option<Range<usize>>,
    candidates: &[DeValue<'static>],
) -> bool {
    let Some((last, parent)) = path.split_last() else {
        return false;
    };
    let is_missing = missing_field(message).is_some();
    if hit == Hit::Key && !is_missing {
        // An unknown (or duplicate) key: drop it.
        let Seg::Key(k) = last else { return false };
        return table_at(root.get_mut(), parent)
            .and_then(|t| t.remove(k.as_str()))
            .is_some();
    }
    let span = span.unwrap_or(0..0);
    for c in candidates {
        let stand_in = Spanned::new(span.clone(), c.clone());
        if is_missing {
            let Seg::Key(k) = last else { return false };
            let Some(t) = table_at(root.get_mut(), parent) else {
                return false;
            };
            t.insert(Spanned::new(span.clone(), Cow::Owned(k.clone())), stand_in);
        } else {
            let Some(v) = value_at(root.get_mut(), path) else {
                return false;
            };
            *v = stand_in;
        }
        match attempt::<T>(root) {
            Ok(_) => return true,
            Err(e) => {
                let (p, _, _) = describe(root.get_ref(), &e);
                if p != path {
                    return true;
                }
            }
        }
    }
    // No stand-in is accepted: remove the key (optional ones then default).
    match last {
        Seg::Key(k) => table_at(root.get_mut(), parent)
            .and_then(|t| t.remove(k.as_str()))
            .is_some(),
        Seg::Index(_) => false,
    }
}

/// The span of the key at dotted path `key` (`routes[1].transforms[0].drop_if`)
/// in `text`, or of its deepest part that is written there.
pub fn key_span(text: &str, key: &str) -> Option<Range<usize>> {
    let mut segs = Vec::new();
    for part in key.split('.') {
        let (name, rest) = part.split_once('[').unwrap_or((part, ""));
        if !name.is_empty() {
            segs.push(Seg::Key(name.to_string()));
        }
        for idx in rest.split('[') {
            if let Ok(n) = idx.trim_end_matches(']').parse::<usize>() {
                segs.push(Seg::Index(n));
            }
        }
    }
    let (root, _) = DeTable::parse_recoverable(text);
    let mut best = None;
    let mut table: Option<&DeTable<'_>> = Some(root.get_ref());
    let mut value: Option<&Spanned<DeValue<'_>>> = None;
    for seg in &segs {
        match seg {
            Seg::Key(k) => {
                let Some((kk, v)) = table.and_then(|t| t.get_key_value(k.as_str())) else {
                    break;
                };
                best = Some(kk.span());
                value = Some(v);
            }
            Seg::Index(n) => {
                let Some(e) = value
                    .and_then(|v| v.get_ref().as_array())
                    .and_then(|a| a.get(*n))
                else {
                    break;
                };
                best = Some(e.span());
                value = Some(e);
            }
        }
        table = value.and_then(|v| v.get_ref().as_table());
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, Default)]
    #[serde(deny_unknown_fields, default)]
    struct Doc {
        a: A,
        items: Vec<Item>,
    }

    #[derive(Debug, Deserialize, Default)]
    #[serde(deny_unknown_fields, default)]
    struct A {
        n: u64,
        s: String,
        list: Vec<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Item {
        name: String,
        pair: Option<Pair>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Pair {
        from: String,
        to: String,
    }

    fn line(text: &str, p: &RawProblem) -> usize {
        let s = p.span.clone().unwrap().start;
        text[..s].matches('\n').count() + 1
    }

    #[test]
    fn every_problem_with_its_path_in_one_pass() {
        let text = "[a]\nn = \"100MB\"\ns = 5\nlist = \"x\"\nextra = 1\n\n[[items]]\npair = { from = \"a\" }\n\n[[items]]\nname = \"ok\"\nname2 = 3\n";
        let c: Collected<Doc> = deserialize_all(text);
        let got: Vec<(usize, String)> = c
            .problems
            .iter()
            .map(|p| (line(text, p), p.key.clone()))
            .collect();
        let mut want = vec![
            (2, "a.n".to_string()),
            (3, "a.s".to_string()),
            (4, "a.list".to_string()),
            (5, "a.extra".to_string()),
            (7, "items[0].name".to_string()),
            (8, "items[0].pair.to".to_string()),
            (12, "items[1].name2".to_string()),
        ];
        let mut got_sorted = got.clone();
        got_sorted.sort();
        want.sort();
        assert_eq!(got_sorted, want, "{:#?}", c.problems);
        assert!(c.value.is_some());
    }

    #[test]
    fn clean_documents_have_no_problems() {
        let c: Collected<Doc> = deserialize_all(
            "[a]\nn = 3\n[[items]]\nname = \"x\"\npair = { from = \"a\", to = \"b\" }\n",
        );
        assert!(c.problems.is_empty());
        let d = c.value.unwrap();
        assert_eq!(d.a.n, 3);
        let item = &d.items[0];
        let pair = item.pair.as_ref().unwrap();
        assert_eq!(
            (item.name.as_str(), pair.from.as_str(), pair.to.as_str()),
            ("x", "a", "b")
        );
    }

    #[test]
    fn spans_of_keys() {
        let text = "[a]\nn = 1\n[[items]]\nname = \"x\"\n[[items]]\npair = { from = \"a\" }\n";
        let line = |k: &str| key_span(text, k).map(|s| text[..s.start].matches('\n').count() + 1);
        assert_eq!(line("a.n"), Some(2));
        assert_eq!(line("items[0].name"), Some(4));
        assert_eq!(line("items[1].pair.from"), Some(6));
        // the deepest part that is written
        assert_eq!(line("items[1].pair.to"), Some(6));
        assert_eq!(line("nothing"), None);
    }

    #[test]
    fn paths_under() {
        assert!(is_under("routes[0].index", "routes[0]"));
        assert!(is_under("routes[0]", "routes[0]"));
        assert!(!is_under("routes[01]", "routes[0]"));
        assert!(is_under("a.b", "a"));
        assert!(!is_under("ab", "a"));
    }

    #[test]
    fn syntax_errors_one_per_line_and_the_rest_still_checked() {
        let text = "[a]\nn = \nlist = [\"x\"\ns = 'a'\n[items\nname = 1\n\n[[items]]\nname = \"x\"\nname = \"y\"\n[a2]\n";
        let c: Collected<Doc> = deserialize_all(text);
        let got: Vec<(usize, String)> = c
            .problems
            .iter()
            .map(|p| (line(text, p), p.key.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (2, "a.n".to_string()),
                (4, "a.list[1]".to_string()),
                (5, "items".to_string()),
                (10, "items[0].name".to_string()),
                (11, "a2".to_string()),
            ],
            "{:#?}",
            c.problems
        );
    }
}

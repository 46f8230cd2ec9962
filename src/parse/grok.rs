//! Grok: regular expressions written with named, reusable pieces
//! (`%{IPORHOST:client} %{NUMBER:bytes:int}`), as Logstash's grok filter
//! reads them, with the same standard pattern library.
//!
//! The library comes from the `grok` crate (the Logstash legacy patterns,
//! kept in step with upstream); the expansion into one regular expression
//! is ours so that we control naming, types and match limits. Matching is
//! Oniguruma's: the library's patterns use lookbehind and lookahead, which
//! the `regex` crate does not have, and Logstash's own engine (Joni) is an
//! Oniguruma port, so user patterns behave as they did there.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use onig::{MatchParam, Regex, Region, SearchOptions};
use serde_json::{Map, Value};

use super::pattern::Conversion;

/// Backtracking steps one line may take (over all start positions) before
/// it counts as not matching: a pathological pattern costs at most a few
/// milliseconds per line instead of stalling the pipeline.
const RETRY_LIMIT: u64 = 2_000_000;

/// Deepest nesting of pattern references (the library's deepest is < 10).
const MAX_DEPTH: usize = 32;

/// Longest expanded regular expression: definitions that each use the next
/// twice would otherwise double at every level (COMBINEDAPACHELOG expands
/// to about 3 KB).
const MAX_EXPANDED: usize = 1 << 20;

/// Where a pattern text comes from, for error messages.
#[derive(Debug, Clone, Copy)]
enum Source {
    Library,
    Custom,
}

/// Pattern definitions: the standard library plus the user's own.
#[derive(Debug, Clone, Default)]
pub struct PatternSet {
    custom: BTreeMap<String, String>,
}

fn library() -> &'static HashMap<&'static str, &'static str> {
    static LIB: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    LIB.get_or_init(|| grok::patterns().iter().copied().collect())
}

impl PatternSet {
    /// Add a definition; a user definition replaces a library one.
    pub fn define(&mut self, name: &str, pattern: &str) -> Result<(), String> {
        if !valid_name(name) {
            return Err(format!(
                "grok pattern name '{name}' must be letters, digits and '_'"
            ));
        }
        self.custom.insert(name.to_string(), pattern.to_string());
        Ok(())
    }

    /// Read a Logstash patterns file: `NAME regex` per line, `#` comments.
    pub fn load_file(&mut self, path: &str) -> Result<(), String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read grok patterns file {path}: {e}"))?;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, pattern) = line
                .split_once([' ', '\t'])
                .map(|(n, p)| (n, p.trim_start()))
                .ok_or_else(|| {
                    format!("{path}:{}: expected 'NAME pattern', got '{line}'", i + 1)
                })?;
            self.define(name, pattern)
                .map_err(|e| format!("{path}:{}: {e}", i + 1))?;
        }
        Ok(())
    }

    fn get(&self, name: &str) -> Option<(&str, Source)> {
        if let Some(p) = self.custom.get(name) {
            return Some((p.as_str(), Source::Custom));
        }
        library().get(name).map(|p| (*p, Source::Library))
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// One field a capture group fills.
#[derive(Debug, Clone)]
struct Capture {
    group: usize,
    /// The field as written in the pattern (what `types` refers to).
    name: String,
    /// Path in the record: `[a][b]` is nested, anything else one key.
    path: Vec<String>,
    conversion: Conversion,
}

/// A compiled grok expression.
#[derive(Debug)]
pub struct GrokPattern {
    regex: Regex,
    captures: Vec<Capture>,
}

/// What expansion produces: the regex text and, per generated group name,
/// the field and the type suffix.
struct Expansion {
    regex: String,
    fields: Vec<(String, String, Option<String>)>,
}

fn expand(
    set: &PatternSet,
    text: &str,
    stack: &mut Vec<String>,
    out: &mut Expansion,
) -> Result<(), String> {
    let mut rest = text;
    while let Some(at) = rest.find("%{") {
        if out.regex.len() > MAX_EXPANDED {
            return Err(format!(
                "grok pattern expands to more than {MAX_EXPANDED} bytes (at %{{{}}})",
                stack.last().map_or("", String::as_str)
            ));
        }
        out.regex.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed '%{{' in '{text}'"))?;
        let spec = &after[..end];
        rest = &after[end + 1..];
        let mut parts = spec.splitn(3, ':');
        let name = parts.next().unwrap_or_default();
        let field = parts.next().filter(|f| !f.is_empty());
        let ty = parts.next().filter(|t| !t.is_empty());
        if !valid_name(name) {
            return Err(format!("'%{{{spec}}}' does not start with a pattern name"));
        }
        let (def, _) = set.get(name).ok_or_else(|| {
            let used_by = stack
                .last()
                .map(|p| format!(" (used by %{{{p}}})"))
                .unwrap_or_default();
            format!(
                "grok pattern %{{{name}}} is not defined{used_by}: not in the standard \
                 library nor in parser_options.pattern_definitions"
            )
        })?;
        if stack.iter().any(|s| s == name) {
            return Err(format!(
                "grok pattern %{{{name}}} refers to itself: {} -> {name}",
                stack.join(" -> ")
            ));
        }
        if stack.len() >= MAX_DEPTH {
            return Err(format!(
                "grok patterns nest deeper than {MAX_DEPTH} at %{{{name}}}"
            ));
        }
        match field {
            Some(f) => {
                let group = format!("_g{}", out.fields.len());
                out.regex.push_str("(?<");
                out.regex.push_str(&group);
                out.regex.push('>');
                out.fields
                    .push((group, f.to_string(), ty.map(str::to_string)));
            }
            None => out.regex.push_str("(?:"),
        }
        stack.push(name.to_string());
        expand(set, def, stack, out)?;
        stack.pop();
        out.regex.push(')');
    }
    out.regex.push_str(rest);
    Ok(())
}

/// `[a][b]` → `["a", "b"]`; anything else is one key.
fn field_path(field: &str) -> Vec<String> {
    if field.starts_with('[') && field.ends_with(']') {
        let inner = &field[1..field.len() - 1];
        let parts: Vec<String> = inner.split("][").map(str::to_string).collect();
        if parts
            .iter()
            .all(|p| !p.is_empty() && !p.contains(['[', ']']))
        {
            return parts;
        }
    }
    vec![field.to_string()]
}

fn conversion(name: &str, field: &str) -> Result<Conversion, String> {
    Conversion::from_name(name)
        .ok_or_else(|| format!("type '{name}' of '{field}' is not one of int, float, bool, string"))
}

impl GrokPattern {
    /// Compile `pattern` against `set`; `types` adds conversions by field
    /// name. Errors name the pattern that failed.
    pub fn compile(
        set: &PatternSet,
        pattern: &str,
        types: &BTreeMap<String, String>,
    ) -> Result<GrokPattern, String> {
        let mut exp = Expansion {
            regex: String::with_capacity(pattern.len() * 8),
            fields: Vec::new(),
        };
        expand(set, pattern, &mut Vec::new(), &mut exp)?;
        let regex = Regex::new(&exp.regex).map_err(|e| compile_error(set, pattern, &e))?;
        let mut groups: HashMap<String, Vec<usize>> = HashMap::new();
        regex.foreach_name(|name, idx| {
            groups.insert(name.to_string(), idx.iter().map(|&i| i as usize).collect());
            true
        });
        let mut captures = Vec::new();
        for (group, field, ty) in &exp.fields {
            // `types` wins over the `:type` suffix
            let conv = match types.get(field).or(ty.as_ref()) {
                Some(t) => conversion(t, field)?,
                None => Conversion::String,
            };
            for &g in groups.get(group).into_iter().flatten() {
                captures.push(Capture {
                    group: g,
                    name: field.clone(),
                    path: field_path(field),
                    conversion: conv,
                });
            }
        }
        // Named groups written in the pattern itself, `(?<name>...)`.
        for (name, idx) in &groups {
            if is_generated(name) {
                continue;
            }
            let conv = match types.get(name) {
                Some(t) => conversion(t, name)?,
                None => Conversion::String,
            };
            for &g in idx {
                captures.push(Capture {
                    group: g,
                    name: name.clone(),
                    path: field_path(name),
                    conversion: conv,
                });
            }
        }
        if captures.is_empty() {
            return Err(format!(
                "grok pattern '{pattern}' names no fields: write %{{NAME:field}}"
            ));
        }
        captures.sort_by_key(|c| c.group);
        Ok(GrokPattern { regex, captures })
    }

    /// Fields of the first match, or `None`. Empty captures are left out
    /// (Logstash's default); a field captured twice becomes an array.
    pub fn parse(&self, line: &str) -> Option<Map<String, Value>> {
        let mut region = Region::new();
        let mut param = MatchParam::default();
        param.set_retry_limit_in_match(RETRY_LIMIT as u32);
        limit_search(&mut param);
        let found = self
            .regex
            .search_with_param(
                line,
                0,
                line.len(),
                SearchOptions::SEARCH_OPTION_NONE,
                Some(&mut region),
                param,
            )
            .ok()
            .flatten();
        found?;
        let mut out = Map::new();
        for c in &self.captures {
            let Some((s, e)) = region.pos(c.group) else {
                continue;
            };
            if s == e {
                continue;
            }
            let Some(text) = line.get(s..e) else {
                continue;
            };
            insert(&mut out, &c.path, c.conversion.apply(text));
        }
        Some(out)
    }
}

fn is_generated(name: &str) -> bool {
    name.strip_prefix("_g")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Bound the whole search, not only each start position.
fn limit_search(param: &mut MatchParam) {
    // SAFETY: `as_raw` is the live match-param pointer `param` owns; the
    // setter only writes a counter limit into it.
    unsafe {
        onig_sys::onig_set_retry_limit_in_search_of_match_param(
            param.as_raw(),
            RETRY_LIMIT as std::os::raw::c_ulong,
        );
    }
}

fn insert(out: &mut Map<String, Value>, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut map = out;
    for p in parents {
        let slot = map
            .entry(p.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        let Value::Object(inner) = slot else {
            return;
        };
        map = inner;
    }
    match map.get_mut(last) {
        None => {
            map.insert(last.clone(), value);
        }
        Some(Value::Array(a)) => a.push(value),
        Some(old) => {
            let first = old.take();
            *old = Value::Array(vec![first, value]);
        }
    }
}

/// Say which definition does not compile: the user's own first, each
/// expanded alone, then the pattern itself.
fn compile_error(set: &PatternSet, pattern: &str, err: &onig::Error) -> String {
    for (name, def) in &set.custom {
        let mut exp = Expansion {
            regex: String::new(),
            fields: Vec::new(),
        };
        if expand(set, def, &mut vec![name.clone()], &mut exp).is_ok() {
            if let Err(e) = Regex::new(&exp.regex) {
                return format!(
                    "grok pattern %{{{name}}} (parser_options.pattern_definitions) \
                     is not a valid regular expression: {}",
                    e.description()
                );
            }
        }
    }
    format!(
        "grok pattern '{pattern}' is not a valid regular expression: {}",
        err.description()
    )
}

/// Several patterns tried in order; the first that matches wins.
#[derive(Debug)]
pub struct GrokParser {
    patterns: Vec<GrokPattern>,
}

impl GrokParser {
    /// Compile every pattern; the first error is returned.
    pub fn new(
        set: &PatternSet,
        patterns: &[String],
        types: &BTreeMap<String, String>,
    ) -> Result<GrokParser, String> {
        if patterns.is_empty() {
            return Err("the grok parser needs parser_options.pattern or patterns".into());
        }
        let patterns = patterns
            .iter()
            .map(|p| GrokPattern::compile(set, p, types))
            .collect::<Result<Vec<_>, _>>()?;
        for t in types.keys() {
            let captured = patterns
                .iter()
                .flat_map(|p| &p.captures)
                .any(|c| c.name == *t);
            if !captured {
                return Err(format!(
                    "type given for '{t}', which no grok pattern captures"
                ));
            }
        }
        Ok(GrokParser { patterns })
    }

    /// Fields of the first pattern that matches.
    pub fn parse(&self, line: &str) -> Result<Map<String, Value>, String> {
        self.patterns
            .iter()
            .find_map(|p| p.parse(line))
            .ok_or_else(|| "line matches no grok pattern".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn grok(p: &str) -> GrokParser {
        match GrokParser::new(&PatternSet::default(), &[p.to_string()], &BTreeMap::new()) {
            Ok(g) => g,
            Err(e) => panic!("{p}: {e}"),
        }
    }

    #[test]
    fn combined_apache_log_from_the_library() {
        let g = grok("%{COMBINEDAPACHELOG}");
        let line = r#"203.0.113.9 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif?x=1 HTTP/1.0" 200 2326 "http://ex.com/" "Mozilla/4.08""#;
        let r = g.parse(line).expect("matches");
        assert_eq!(r["clientip"], "203.0.113.9");
        assert_eq!(r["ident"], "-");
        assert_eq!(r["auth"], "frank");
        assert_eq!(r["timestamp"], "10/Oct/2000:13:55:36 -0700");
        assert_eq!(r["verb"], "GET");
        assert_eq!(r["request"], "/a.gif?x=1");
        assert_eq!(r["httpversion"], "1.0");
        assert_eq!(r["response"], "200");
        assert_eq!(r["bytes"], "2326");
        assert_eq!(r["referrer"], "\"http://ex.com/\"");
        assert_eq!(r["agent"], "\"Mozilla/4.08\"");
        assert!(!r.contains_key("rawrequest"), "{r:?}");
        assert_eq!(r.len(), 11, "{r:?}");
    }

    #[test]
    fn types_nested_fields_raw_groups_and_arrays() {
        let g = grok(
            r"%{IP:[client][ip]} (?<verb>[A-Z]+) %{NUMBER:ms:float} %{INT:n:int} %{WORD:w} %{WORD:w}",
        );
        let r = g.parse("10.0.0.1 GET 1.5 42 a b").expect("matches");
        assert_eq!(
            Value::Object(r),
            json!({"client": {"ip": "10.0.0.1"}, "verb": "GET", "ms": 1.5, "n": 42, "w": ["a", "b"]})
        );
    }

    #[test]
    fn custom_definitions_and_types_option() {
        let mut set = PatternSet::default();
        set.define("QUEUE", "[0-9A-F]{6}").unwrap();
        let types = BTreeMap::from([("size".to_string(), "int".to_string())]);
        let g = GrokParser::new(
            &set,
            &[
                "^%{QUEUE:queue} size=%{NUMBER:size}$".to_string(),
                "^%{GREEDYDATA:other}$".to_string(),
            ],
            &types,
        )
        .unwrap();
        assert_eq!(
            Value::Object(g.parse("AB12CD size=7").unwrap()),
            json!({"queue": "AB12CD", "size": 7})
        );
        assert_eq!(
            Value::Object(g.parse("zz size=7").unwrap()),
            json!({"other": "zz size=7"})
        );
        let one = GrokParser::new(&set, &["^%{QUEUE:q}$".to_string()], &BTreeMap::new()).unwrap();
        assert!(one.parse("nothing").is_err());
    }

    #[test]
    fn errors_name_the_pattern() {
        let set = PatternSet::default();
        let err = |p: &str, set: &PatternSet| {
            GrokParser::new(set, &[p.to_string()], &BTreeMap::new()).unwrap_err()
        };
        let e = err("%{NOPE:x}", &set);
        assert!(e.contains("%{NOPE} is not defined"), "{e}");
        let mut bad = PatternSet::default();
        bad.define("BROKEN", "([a-z").unwrap();
        let e = err("%{WORD:a} %{BROKEN:b}", &bad);
        assert!(e.contains("%{BROKEN}"), "{e}");
        let mut cyc = PatternSet::default();
        cyc.define("A", "x%{B}").unwrap();
        cyc.define("B", "%{A}").unwrap();
        let e = err("%{A:a}", &cyc);
        assert!(e.contains("refers to itself"), "{e}");
        let mut inner = PatternSet::default();
        inner.define("OUTER", "%{MISSING}").unwrap();
        let e = err("%{OUTER:o}", &inner);
        assert!(
            e.contains("%{MISSING} is not defined (used by %{OUTER})"),
            "{e}"
        );
        // each level uses the next twice: 2^30 copies if nothing stopped it
        let mut bomb = PatternSet::default();
        for i in 0..30 {
            bomb.define(&format!("L{i}"), &format!("%{{L{}}}%{{L{}}}", i + 1, i + 1))
                .unwrap();
        }
        bomb.define("L30", "x").unwrap();
        let e = err("%{L0:x}", &bomb);
        assert!(e.contains("expands to more than"), "{e}");
        assert!(err("%{WORD}", &set).contains("names no fields"));
        assert!(err("%{WORD:a:bogus}", &set).contains("type 'bogus'"));
        assert!(err("%{WORD:a", &set).contains("unclosed"));
        assert!(bad.define("no-dash", "x").is_err());
    }

    #[test]
    fn patterns_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("extra");
        std::fs::write(&path, "# mine\nMYID id-%{INT}\n\nBAD\n").unwrap();
        let mut set = PatternSet::default();
        let e = set.load_file(path.to_str().unwrap()).unwrap_err();
        assert!(e.ends_with(":4: expected 'NAME pattern', got 'BAD'"), "{e}");
        std::fs::write(&path, "# mine\nMYID id-%{INT}\n").unwrap();
        set.load_file(path.to_str().unwrap()).unwrap();
        let g = GrokParser::new(&set, &["%{MYID:id}".to_string()], &BTreeMap::new()).unwrap();
        assert_eq!(g.parse("x id-17 y").unwrap()["id"], "id-17");
    }

    #[test]
    fn every_library_pattern_compiles() {
        let set = PatternSet::default();
        let mut failed = Vec::new();
        for (name, _) in grok::patterns() {
            let mut exp = Expansion {
                regex: String::new(),
                fields: Vec::new(),
            };
            let ok = expand(&set, &format!("%{{{name}}}"), &mut Vec::new(), &mut exp)
                .and_then(|_| Regex::new(&exp.regex).map_err(|e| e.to_string()));
            if let Err(e) = ok {
                failed.push(format!("{name}: {e}"));
            }
        }
        assert!(failed.is_empty(), "{failed:#?}");
    }

    #[test]
    fn catastrophic_backtracking_is_bounded() {
        let g = grok(r"^(?<x>(a+)+)$");
        let line = format!("{}b", "a".repeat(40));
        // Without the retry limit this takes longer than the universe.
        assert!(g.parse(&line).is_err());
    }
}

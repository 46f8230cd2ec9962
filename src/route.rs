//! Routing by tag, as Fluentd users know it: `[[routes]]` match patterns
//! (`*` one tag part, `**` zero or more parts, `{a,b}` alternatives,
//! several patterns separated by spaces) pick the index template and the
//! processing on arrival. The first matching route wins; the default sends
//! everything else to `logs-%{+YYYY.MM.dd}`.

use serde_json::{Map, Value};

/// Index template for events no route matches.
pub const DEFAULT_INDEX: &str = "logs-%{+YYYY.MM.dd}";

/// Which time becomes `@timestamp` when both exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSource {
    /// The record's own timestamp field when it has one (default).
    Record,
    /// Always the transport's event time.
    Event,
}

/// One route: where events go and what happens to them on arrival.
#[derive(Debug, Clone)]
pub struct Route {
    /// The match expression as written (for logs).
    pub pattern: String,
    matchers: Vec<Vec<Part>>,
    pub index: String,
    /// Parse this string field as JSON and merge its object into the record
    /// (Logstash's `json` filter on `message`, Docker's `log`).
    pub decode_json: Option<String>,
    /// Keep the original string field after a successful decode.
    pub decode_json_keep: bool,
    pub time_source: TimeSource,
    /// Parse a string field with this parser and merge the fields.
    pub parser: Option<(crate::parse::LineParser, String)>,
    /// Name for `logweave parse --route` (default: the match pattern).
    pub name: String,
    /// Transforms after parsing, in order.
    pub transforms: Vec<crate::pipeline::transform::Transform>,
    /// This host's name, for `%{@receiver}` in templates.
    receiver: String,
}

#[derive(Debug, Clone)]
enum Part {
    /// `**`
    Any,
    /// one tag part, `*` matching any run of characters within it
    Glob(String),
}

/// Why a match pattern is not valid.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct PatternError(String);

fn expand_braces(p: &str, out: &mut Vec<String>) -> Result<(), PatternError> {
    if out.len() > 256 {
        return Err(PatternError(
            "more than 256 alternatives after expanding {..}".into(),
        ));
    }
    let Some(open) = p.find('{') else {
        if p.contains('}') {
            return Err(PatternError(format!("'}}' without '{{' in '{p}'")));
        }
        out.push(p.to_string());
        return Ok(());
    };
    // matching close brace, allowing nesting
    let mut depth = 0;
    let mut close = None;
    for (i, c) in p[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(open + i);
                    break;
                }
            }
            _ => {}
        }
    }
    let Some(close) = close else {
        return Err(PatternError(format!("unclosed '{{' in '{p}'")));
    };
    let inner = &p[open + 1..close];
    let mut alts = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                alts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    alts.push(&inner[start..]);
    for a in alts {
        expand_braces(&format!("{}{}{}", &p[..open], a, &p[close + 1..]), out)?;
    }
    Ok(())
}

fn compile(pattern: &str) -> Result<Vec<Vec<Part>>, PatternError> {
    let mut matchers = Vec::new();
    for word in pattern.split_whitespace() {
        let mut expanded = Vec::new();
        expand_braces(word, &mut expanded)?;
        for e in expanded {
            let parts = e
                .split('.')
                .map(|s| {
                    if s.is_empty() {
                        Err(PatternError(format!("empty tag part in '{e}'")))
                    } else if s == "**" {
                        Ok(Part::Any)
                    } else if s.contains("**") {
                        Err(PatternError(format!(
                            "'**' must be a whole tag part in '{e}'"
                        )))
                    } else {
                        Ok(Part::Glob(s.to_string()))
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            matchers.push(parts);
        }
    }
    if matchers.is_empty() {
        return Err(PatternError("empty match pattern".into()));
    }
    Ok(matchers)
}

/// Check a match pattern (for config validation).
pub fn validate_pattern(pattern: &str) -> Result<(), PatternError> {
    compile(pattern).map(|_| ())
}

fn glob(pat: &str, s: &str) -> bool {
    match pat.split_once('*') {
        None => pat == s,
        Some((head, rest)) => {
            if !s.starts_with(head) {
                return false;
            }
            let s = &s[head.len()..];
            // `*` takes any run; try each split point (tag parts are short)
            (0..=s.len())
                .filter(|i| s.is_char_boundary(*i))
                .any(|i| glob(rest, &s[i..]))
        }
    }
}

fn match_parts(pat: &[Part], tag: &[&str]) -> bool {
    match pat.split_first() {
        None => tag.is_empty(),
        Some((Part::Any, rest)) => (0..=tag.len()).any(|i| match_parts(rest, &tag[i..])),
        Some((Part::Glob(g), rest)) => {
            !tag.is_empty() && glob(g, tag[0]) && match_parts(rest, &tag[1..])
        }
    }
}

impl Route {
    /// A route from its config values.
    pub fn new(
        pattern: &str,
        index: &str,
        decode_json: Option<String>,
        decode_json_keep: bool,
        time_source: TimeSource,
    ) -> Result<Route, PatternError> {
        Ok(Route {
            pattern: pattern.to_string(),
            matchers: compile(pattern)?,
            index: index.to_string(),
            decode_json,
            decode_json_keep,
            time_source,
            parser: None,
            name: pattern.to_string(),
            transforms: Vec::new(),
            receiver: crate::event::fields::local_hostname(),
        })
    }

    /// Parse `field` of every record with `parser` (the field is kept).
    pub fn with_parser(mut self, parser: crate::parse::LineParser, field: &str) -> Route {
        self.parser = Some((parser, field.to_string()));
        self
    }

    /// Whether `tag` matches any of this route's patterns.
    pub fn matches(&self, tag: &str) -> bool {
        let parts: Vec<&str> = tag.split('.').collect();
        self.matches_parts(&parts)
    }

    fn matches_parts(&self, parts: &[&str]) -> bool {
        self.matchers.iter().any(|m| match_parts(m, parts))
    }

    /// Apply the on-arrival processing to a record: the JSON decode of a
    /// string field (a field that is not a JSON object is left alone and
    /// the record tagged `_jsonparsefailure`, as Logstash does), the
    /// route's parser, then its transforms, which may drop the record or
    /// choose another index.
    pub fn process(&self, record: &mut Map<String, Value>) -> crate::pipeline::transform::Outcome {
        self.decode(record);
        self.parse_field(record);
        if self.transforms.is_empty() {
            return Default::default();
        }
        crate::pipeline::transform::apply(
            &self.transforms,
            record,
            &self.receiver,
            crate::event::now_ms(),
        )
    }

    fn parse_field(&self, record: &mut Map<String, Value>) {
        if let Some((parser, field)) = &self.parser {
            if let Some(Value::String(s)) = record.get(field) {
                match parser.parse(s) {
                    Ok(fields) => {
                        for (k, v) in fields {
                            // the parsed field itself stays as it was
                            if &k != field {
                                record.insert(k, v);
                            }
                        }
                    }
                    Err(_) => {
                        crate::parse::add_tag(record, &format!("_{}parsefailure", parser.name()))
                    }
                }
            }
        }
    }

    fn decode(&self, record: &mut Map<String, Value>) {
        let Some(field) = &self.decode_json else {
            return;
        };
        let Some(Value::String(s)) = record.get(field) else {
            return;
        };
        match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(obj)) => {
                if !self.decode_json_keep && !obj.contains_key(field) {
                    record.remove(field);
                }
                for (k, v) in obj {
                    record.insert(k, v);
                }
            }
            _ => {
                let tag = Value::String("_jsonparsefailure".into());
                match record.get_mut("tags") {
                    Some(Value::Array(a)) => a.push(tag),
                    Some(_) => {}
                    None => {
                        record.insert("tags".into(), Value::Array(vec![tag]));
                    }
                }
            }
        }
    }
}

/// All routes in order, plus the default.
#[derive(Debug, Clone)]
pub struct Router {
    routes: Vec<Route>,
    default: Route,
}

impl Router {
    pub fn new(routes: Vec<Route>) -> Router {
        Router {
            routes,
            default: Route {
                pattern: "(default)".into(),
                matchers: Vec::new(),
                index: DEFAULT_INDEX.into(),
                decode_json: None,
                decode_json_keep: false,
                time_source: TimeSource::Record,
                parser: None,
                name: "(default)".into(),
                transforms: Vec::new(),
                receiver: String::new(),
            },
        }
    }

    /// A route by name (or match pattern).
    pub fn by_name(&self, name: &str) -> Option<&Route> {
        self.routes
            .iter()
            .find(|r| r.name == name || r.pattern == name)
    }

    /// The first route matching `tag`, else the default.
    pub fn route(&self, tag: &str) -> &Route {
        // split once for all routes (syslog looks a route up per message)
        let parts: Vec<&str> = tag.split('.').collect();
        self.routes
            .iter()
            .find(|r| r.matches_parts(&parts))
            .unwrap_or(&self.default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, tag: &str) -> bool {
        Route::new(p, "x", None, false, TimeSource::Record)
            .unwrap()
            .matches(tag)
    }

    #[test]
    fn fluentd_pattern_semantics() {
        assert!(m("app.*", "app.web"));
        assert!(!m("app.*", "app.web.1"));
        assert!(!m("app.*", "app"));
        assert!(m("app.**", "app"));
        assert!(m("app.**", "app.web.1"));
        assert!(!m("app.**", "application"));
        assert!(m("**", "anything.at.all"));
        assert!(m("a.**.z", "a.z"));
        assert!(m("a.**.z", "a.b.c.z"));
        assert!(!m("a.**.z", "a.b.c"));
        assert!(m("app.{web,api}", "app.api"));
        assert!(!m("app.{web,api}", "app.db"));
        assert!(m("{app,sys}.**", "sys.kernel"));
        assert!(m("a.* b.*", "b.x"));
        assert!(m("web*.log", "web01.log"));
        assert!(!m("web*.log", "db01.log"));
        assert!(m("a.{b,c.d}", "a.c.d"));
    }

    #[test]
    fn bad_patterns() {
        for p in ["", "a..b", "a{b", "a}b", "a.**x", "  "] {
            assert!(validate_pattern(p).is_err(), "{p}");
        }
    }

    #[test]
    fn first_match_wins_then_default() {
        let r = Router::new(vec![
            Route::new("app.web", "web", None, false, TimeSource::Record).unwrap(),
            Route::new("app.**", "app", None, false, TimeSource::Record).unwrap(),
        ]);
        assert_eq!(r.route("app.web").index, "web");
        assert_eq!(r.route("app.db").index, "app");
        assert_eq!(r.route("sys").index, DEFAULT_INDEX);
    }

    #[test]
    fn json_decode() {
        let r = Route::new("**", "x", Some("log".into()), false, TimeSource::Record).unwrap();
        let mut rec =
            serde_json::json!({"log": "{\"a\":1,\"level\":\"warn\"}", "stream": "stdout"})
                .as_object()
                .unwrap()
                .clone();
        r.process(&mut rec);
        assert_eq!(
            serde_json::Value::Object(rec),
            serde_json::json!({"stream":"stdout","a":1,"level":"warn"})
        );
        let mut bad = serde_json::json!({"log": "plain text"})
            .as_object()
            .unwrap()
            .clone();
        r.process(&mut bad);
        assert_eq!(bad["tags"], serde_json::json!(["_jsonparsefailure"]));
        assert_eq!(bad["log"], "plain text");
    }

    proptest::proptest! {
        #[test]
        fn literal_tags_match_themselves(parts in proptest::collection::vec("[a-z0-9_]{1,8}", 1..5)) {
            let tag = parts.join(".");
            proptest::prop_assert!(m(&tag, &tag));
            proptest::prop_assert!(m("**", &tag));
            let star = vec!["*"; parts.len()].join(".");
            proptest::prop_assert!(m(&star, &tag));
        }
    }
}

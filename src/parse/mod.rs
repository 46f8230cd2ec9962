//! Parsers: turn a line of some log format into a record. One interface
//! for the agent's sources (`parser = ...`) and the server's routes (which
//! parse a field of what arrives), so a pattern works the same on both.

pub mod grok;
pub mod logfmt;
pub mod pattern;
pub mod syslog;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value};

use pattern::{Conversion, CsvParser, RegexParser};

/// Options of the parsers that take some (`parser_options = {...}`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParserOptions {
    /// `regex`: the pattern, with named captures; `grok`: one grok pattern.
    pub pattern: Option<String>,
    /// `grok`: patterns tried in order, the first that matches wins.
    #[serde(default)]
    pub patterns: Vec<String>,
    /// `grok`: custom patterns by name, usable as `%{NAME}`.
    #[serde(default)]
    pub pattern_definitions: BTreeMap<String, String>,
    /// `grok`: Logstash patterns files (`NAME regex` per line).
    #[serde(default)]
    pub patterns_files: Vec<String>,
    /// `regex`, `csv`, `tsv`: conversions by field (`int`, `float`, `bool`, `string`).
    #[serde(default)]
    pub types: BTreeMap<String, String>,
    /// `csv`, `tsv`: column names in order.
    #[serde(default)]
    pub columns: Vec<String>,
    /// `csv`: one-character delimiter (default `,`).
    pub delimiter: Option<String>,
    /// `keyvalue`: characters between pairs (default space) and between key and value (default `=`).
    pub field_split: Option<String>,
    pub value_split: Option<String>,
}

/// A configured parser.
#[derive(Debug, Clone)]
pub enum LineParser {
    /// A JSON object per line.
    Json,
    /// The line as `message`.
    None,
    Logfmt,
    KeyValue {
        field_split: String,
        value_split: String,
    },
    Regex(Arc<RegexParser>),
    Grok(Arc<grok::GrokParser>),
    /// nginx / Apache combined and common.
    AccessLog(Arc<RegexParser>),
    Csv(Arc<CsvParser>),
    Syslog,
}

/// Parser names, for messages.
pub const NAMES: &str =
    "json, none, logfmt, keyvalue, regex, grok, nginx, apache, csv, tsv, syslog";

impl LineParser {
    /// Build a parser by name; errors say what is wrong, for config checks.
    pub fn build(name: &str, opts: &ParserOptions) -> Result<LineParser, String> {
        let types = || -> Result<BTreeMap<String, Conversion>, String> {
            opts.types
                .iter()
                .map(|(k, v)| {
                    Conversion::from_name(v)
                        .map(|c| (k.clone(), c))
                        .ok_or_else(|| {
                            format!("type '{v}' of '{k}' is not one of int, float, bool, string")
                        })
                })
                .collect()
        };
        Ok(match name {
            "json" => LineParser::Json,
            "none" => LineParser::None,
            "logfmt" => LineParser::Logfmt,
            "keyvalue" | "kv" => LineParser::KeyValue {
                field_split: opts.field_split.clone().unwrap_or_else(|| " ".into()),
                value_split: opts.value_split.clone().unwrap_or_else(|| "=".into()),
            },
            "regex" => {
                let p = opts
                    .pattern
                    .as_deref()
                    .ok_or("the regex parser needs parser_options.pattern")?;
                LineParser::Regex(Arc::new(RegexParser::new(p, &types()?)?))
            }
            "grok" => {
                let mut set = grok::PatternSet::default();
                for f in &opts.patterns_files {
                    set.load_file(f)?;
                }
                for (name, p) in &opts.pattern_definitions {
                    set.define(name, p)?;
                }
                let mut patterns: Vec<String> = opts.pattern.iter().cloned().collect();
                patterns.extend(opts.patterns.iter().cloned());
                LineParser::Grok(Arc::new(grok::GrokParser::new(
                    &set,
                    &patterns,
                    &opts.types,
                )?))
            }
            "nginx" | "apache" => LineParser::AccessLog(Arc::new(pattern::access_log())),
            "csv" | "tsv" => {
                if opts.columns.is_empty() {
                    return Err(format!("the {name} parser needs parser_options.columns"));
                }
                let delimiter = match (name, opts.delimiter.as_deref()) {
                    ("tsv", None) => b'\t',
                    (_, None) => b',',
                    (_, Some(d)) if d.len() == 1 => d.as_bytes()[0],
                    (_, Some(d)) => {
                        return Err(format!("delimiter '{d}' must be one ASCII character"))
                    }
                };
                LineParser::Csv(Arc::new(CsvParser {
                    columns: opts.columns.clone(),
                    delimiter,
                    types: types()?,
                }))
            }
            "syslog" => LineParser::Syslog,
            other => return Err(format!("unknown parser '{other}'; parsers are {NAMES}")),
        })
    }

    /// The name used in failure tags (`_<name>parsefailure`).
    pub fn name(&self) -> &'static str {
        match self {
            LineParser::Json => "json",
            LineParser::None => "none",
            LineParser::Logfmt => "logfmt",
            LineParser::KeyValue { .. } => "keyvalue",
            LineParser::Regex(_) => "regex",
            LineParser::Grok(_) => "grok",
            LineParser::AccessLog(_) => "accesslog",
            LineParser::Csv(_) => "csv",
            LineParser::Syslog => "syslog",
        }
    }

    /// Parse a line into fields.
    pub fn parse(&self, line: &str) -> Result<Map<String, Value>, String> {
        match self {
            LineParser::Json => serde_json::from_str::<Map<String, Value>>(line)
                .map_err(|e| format!("not a JSON object: {e}")),
            LineParser::None => {
                let mut m = Map::new();
                m.insert("message".into(), Value::String(line.to_string()));
                Ok(m)
            }
            LineParser::Logfmt => logfmt::parse_logfmt(line),
            LineParser::KeyValue {
                field_split,
                value_split,
            } => logfmt::parse_kv(line, field_split, value_split),
            LineParser::Regex(p) | LineParser::AccessLog(p) => p.parse(line),
            LineParser::Grok(p) => p.parse(line),
            LineParser::Csv(p) => p.parse(line),
            LineParser::Syslog => {
                let r = syslog::parse(line, crate::event::now_ms(), 0).record;
                if r.contains_key("syslog_protocol") {
                    Ok(r)
                } else {
                    Err("not a syslog message".into())
                }
            }
        }
    }

    /// A record from a whole line: the parsed fields, or on failure the
    /// line as `message` tagged `_<name>parsefailure` (never dropped). For
    /// parsers that do not produce `message` themselves, the line is kept
    /// as `message` too.
    pub fn record(&self, line: &str) -> (Map<String, Value>, bool) {
        match self.parse(line) {
            Ok(mut m) => {
                if !matches!(
                    self,
                    LineParser::Json | LineParser::None | LineParser::Syslog
                ) && !m.contains_key("message")
                {
                    m.insert("message".into(), Value::String(line.to_string()));
                }
                (m, true)
            }
            Err(_) => {
                let mut m = Map::new();
                m.insert("message".into(), Value::String(line.to_string()));
                add_tag(&mut m, &format!("_{}parsefailure", self.name()));
                (m, false)
            }
        }
    }
}

/// Append to the record's `tags` array (created if missing).
pub fn add_tag(record: &mut Map<String, Value>, tag: &str) {
    let t = Value::String(tag.to_string());
    match record.get_mut("tags") {
        Some(Value::Array(a)) => {
            if !a.contains(&t) {
                a.push(t)
            }
        }
        Some(_) => {}
        None => {
            record.insert("tags".into(), Value::Array(vec![t]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn build_errors_name_the_problem() {
        let o = ParserOptions::default();
        assert!(LineParser::build("grok2", &o)
            .unwrap_err()
            .contains("unknown parser 'grok2'"));
        assert!(LineParser::build("regex", &o)
            .unwrap_err()
            .contains("pattern"));
        assert!(LineParser::build("csv", &o)
            .unwrap_err()
            .contains("columns"));
        let o = ParserOptions {
            pattern: Some("(?P<a>x)".into()),
            types: [("a".to_string(), "integer-ish".to_string())]
                .into_iter()
                .collect(),
            ..Default::default()
        };
        assert!(LineParser::build("regex", &o)
            .unwrap_err()
            .contains("integer-ish"));
    }

    #[test]
    fn records_keep_the_line_and_tag_failures() {
        let p = LineParser::build("logfmt", &ParserOptions::default()).unwrap();
        let (r, ok) = p.record("level=warn msg=slow");
        assert!(ok);
        assert_eq!(
            Value::Object(r),
            json!({"level":"warn","msg":"slow","message":"level=warn msg=slow"})
        );
        let p = LineParser::build("nginx", &ParserOptions::default()).unwrap();
        let (r, ok) = p.record("garbage");
        assert!(!ok);
        assert_eq!(
            Value::Object(r),
            json!({"message":"garbage","tags":["_accesslogparsefailure"]})
        );
    }
}

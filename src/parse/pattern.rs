//! Regular expressions with named captures and type hints, the access-log
//! presets built on them (nginx and Apache combined/common), and CSV/TSV
//! lines with a header.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// How a captured string becomes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    String,
    Int,
    Float,
    Bool,
    /// A timestamp, rewritten as RFC 3339 UTC (understood by `@timestamp`).
    Time(&'static str),
}

impl Conversion {
    /// `int`, `integer`, `long`, `float`, `double`, `bool`, `boolean`, `string`.
    pub fn from_name(name: &str) -> Option<Conversion> {
        Some(match name {
            "int" | "integer" | "long" => Conversion::Int,
            "float" | "double" | "number" => Conversion::Float,
            "bool" | "boolean" => Conversion::Bool,
            "string" | "keyword" | "text" => Conversion::String,
            _ => return None,
        })
    }

    /// Convert; a value that does not convert stays a string.
    pub fn apply(self, s: &str) -> Value {
        match self {
            Conversion::String => Value::String(s.to_string()),
            Conversion::Int => s
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::String(s.to_string())),
            Conversion::Float => s
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .unwrap_or_else(|| Value::String(s.to_string())),
            Conversion::Bool => match s.to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "1" => Value::Bool(true),
                "false" | "no" | "off" | "0" => Value::Bool(false),
                _ => Value::String(s.to_string()),
            },
            Conversion::Time(fmt) => jiff::fmt::strtime::parse(fmt, s)
                .ok()
                .and_then(|t| t.to_timestamp().ok())
                .map(|t| Value::String(t.to_string()))
                .unwrap_or_else(|| Value::String(s.to_string())),
        }
    }
}

/// A regex whose named captures become fields.
#[derive(Debug, Clone)]
pub struct RegexParser {
    re: regex::Regex,
    names: Vec<(usize, String, Conversion)>,
}

impl RegexParser {
    /// `types` maps capture names to conversions. Errors name what is wrong.
    pub fn new(pattern: &str, types: &BTreeMap<String, Conversion>) -> Result<RegexParser, String> {
        let re = regex::Regex::new(pattern).map_err(|e| format!("bad regex: {e}"))?;
        let mut names = Vec::new();
        for (i, n) in re.capture_names().enumerate() {
            if let Some(n) = n {
                names.push((
                    i,
                    n.to_string(),
                    types.get(n).copied().unwrap_or(Conversion::String),
                ));
            }
        }
        if names.is_empty() {
            return Err("the regex has no named captures (?P<name>...)".into());
        }
        for t in types.keys() {
            if !names.iter().any(|(_, n, _)| n == t) {
                return Err(format!(
                    "type given for '{t}', which is not a named capture"
                ));
            }
        }
        Ok(RegexParser { re, names })
    }

    /// Named captures of the first match; unmatched optional groups and
    /// `-` (the access-log placeholder) are left out.
    pub fn parse(&self, line: &str) -> Result<Map<String, Value>, String> {
        let caps = self
            .re
            .captures(line)
            .ok_or_else(|| "line does not match the pattern".to_string())?;
        let mut out = Map::new();
        for (i, name, conv) in &self.names {
            if let Some(m) = caps.get(*i) {
                if m.as_str() == "-" {
                    continue;
                }
                out.insert(name.clone(), conv.apply(m.as_str()));
            }
        }
        Ok(out)
    }
}

/// `10/Oct/2000:13:55:36 -0700`
const CLF_TIME: &str = "%d/%b/%Y:%H:%M:%S %z";

const COMBINED: &str = r#"^(?P<client_ip>\S+) \S+ (?P<user>\S+) \[(?P<timestamp>[^\]]+)\] "(?:(?P<method>[A-Z]+) (?P<path>[^ "]*)(?: (?P<http_version>HTTP/[0-9.]+))?|(?P<request>[^"]*))" (?P<status>\d{3}) (?P<bytes>\d+|-)(?: "(?P<referrer>[^"]*)" "(?P<user_agent>[^"]*)")?(?: (?P<request_time>[0-9.]+))?"#;

fn access_types() -> BTreeMap<String, Conversion> {
    [
        ("status", Conversion::Int),
        ("bytes", Conversion::Int),
        ("request_time", Conversion::Float),
        ("timestamp", Conversion::Time(CLF_TIME)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// nginx `combined` (also Apache `combined` and, without the last two
/// fields, `common`): client_ip, user, timestamp, method, path,
/// http_version, status, bytes, referrer, user_agent, and an optional
/// trailing request_time.
pub fn access_log() -> RegexParser {
    match RegexParser::new(COMBINED, &access_types()) {
        Ok(p) => p,
        Err(e) => unreachable!("the built-in access log pattern compiles: {e}"),
    }
}

/// CSV or TSV lines with named columns; values beyond the header become
/// `column<N>`.
#[derive(Debug, Clone)]
pub struct CsvParser {
    pub columns: Vec<String>,
    pub delimiter: u8,
    pub types: BTreeMap<String, Conversion>,
}

impl CsvParser {
    pub fn parse(&self, line: &str) -> Result<Map<String, Value>, String> {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .delimiter(self.delimiter)
            .flexible(true)
            .from_reader(line.as_bytes());
        let rec = match rdr.records().next() {
            Some(Ok(r)) => r,
            Some(Err(e)) => return Err(format!("bad CSV: {e}")),
            None => return Err("empty line".into()),
        };
        let mut out = Map::new();
        for (i, v) in rec.iter().enumerate() {
            let name = self
                .columns
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("column{}", i + 1));
            let conv = self.types.get(&name).copied().unwrap_or(Conversion::String);
            out.insert(name, conv.apply(v));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nginx_and_apache_golden() {
        let p = access_log();
        let v = p
            .parse(r#"203.0.113.7 - alice [24/Nov/2026:13:55:36 +0100] "GET /api/v1/orders?id=7 HTTP/1.1" 200 5123 "https://shop.example/" "Mozilla/5.0 (X11; Linux x86_64)" 0.042"#)
            .unwrap();
        assert_eq!(
            Value::Object(v),
            json!({"client_ip":"203.0.113.7","user":"alice","timestamp":"2026-11-24T12:55:36Z","method":"GET",
                "path":"/api/v1/orders?id=7","http_version":"HTTP/1.1","status":200,"bytes":5123,
                "referrer":"https://shop.example/","user_agent":"Mozilla/5.0 (X11; Linux x86_64)","request_time":0.042})
        );
        // Apache common: no referrer/agent; '-' user and bytes left out
        let v = p
            .parse(r#"10.1.2.3 - - [01/Jan/2026:00:00:01 +0000] "POST /login HTTP/1.0" 302 -"#)
            .unwrap();
        assert_eq!(
            Value::Object(v),
            json!({"client_ip":"10.1.2.3","timestamp":"2026-01-01T00:00:01Z","method":"POST","path":"/login","http_version":"HTTP/1.0","status":302})
        );
        // a garbage request line (scanners) is kept as `request`
        let v = p
            .parse(r#"1.2.3.4 - - [01/Jan/2026:00:00:01 +0000] "\x16\x03\x01" 400 157 "-" "-""#)
            .unwrap();
        assert_eq!(v["request"], "\\x16\\x03\\x01");
        assert_eq!(v["status"], 400);
        assert!(p.parse("not an access log").is_err());
    }

    #[test]
    fn regex_with_types_and_errors() {
        let types: BTreeMap<String, Conversion> = [
            ("ms".to_string(), Conversion::Int),
            ("ok".to_string(), Conversion::Bool),
        ]
        .into_iter()
        .collect();
        let p = RegexParser::new(
            r"took (?P<ms>\d+)ms ok=(?P<ok>\w+)(?: by (?P<who>\w+))?",
            &types,
        )
        .unwrap();
        assert_eq!(
            Value::Object(p.parse("job took 35ms ok=yes").unwrap()),
            json!({"ms":35,"ok":true})
        );
        assert!(RegexParser::new("(unclosed", &BTreeMap::new())
            .unwrap_err()
            .contains("bad regex"));
        assert!(RegexParser::new(r"\d+", &BTreeMap::new())
            .unwrap_err()
            .contains("named captures"));
        assert!(RegexParser::new(r"(?P<a>\d+)", &types)
            .unwrap_err()
            .contains("'ms'"));
    }

    #[test]
    fn csv_golden() {
        let p = CsvParser {
            columns: vec!["ts".into(), "user".into(), "amount".into()],
            delimiter: b',',
            types: [("amount".to_string(), Conversion::Float)]
                .into_iter()
                .collect(),
        };
        assert_eq!(
            Value::Object(
                p.parse(r#"2026-11-24 10:00:00,"Smith, J.",12.50,extra"#)
                    .unwrap()
            ),
            json!({"ts":"2026-11-24 10:00:00","user":"Smith, J.","amount":12.5,"column4":"extra"})
        );
        let t = CsvParser {
            columns: vec!["a".into(), "b".into()],
            delimiter: b'\t',
            types: BTreeMap::new(),
        };
        assert_eq!(
            Value::Object(t.parse("x\ty z").unwrap()),
            json!({"a":"x","b":"y z"})
        );
    }
}

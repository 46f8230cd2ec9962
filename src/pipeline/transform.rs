//! Transforms applied in order to each record of a route: rename, remove,
//! set (with `%{field}` templates), copy, convert, level normalisation,
//! timestamp from a field, drop/keep by condition, sampling by key,
//! redaction, added fields and routing by condition. Built and checked when
//! the config loads; applying one never fails (a value that does not
//! convert is left as it is).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::condition::{self, Cond};
use crate::parse::pattern::Conversion;

/// One `[[routes.transforms]]` table as written: exactly one key.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TransformSpec {
    pub rename: Option<FromTo>,
    pub copy: Option<FromTo>,
    pub remove: Option<Vec<String>>,
    pub set: Option<SetSpec>,
    pub add_fields: Option<BTreeMap<String, String>>,
    pub convert: Option<ConvertSpec>,
    /// Field holding the level (default: the usual names); writes `level`.
    pub normalize_level: Option<String>,
    pub timestamp: Option<TimestampSpec>,
    pub drop_if: Option<String>,
    pub keep_if: Option<String>,
    pub sample: Option<SampleSpec>,
    pub redact: Option<RedactSpec>,
    pub route_if: Option<RouteIfSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FromTo {
    pub from: String,
    pub to: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetSpec {
    pub field: String,
    pub value: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvertSpec {
    pub field: String,
    pub to: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimestampSpec {
    pub field: String,
    /// strftime formats tried in order (`%d/%m/%Y %H:%M:%S`); without any,
    /// the formats `@timestamp` understands.
    #[serde(default)]
    pub formats: Vec<String>,
    /// IANA zone for times without an offset (default UTC).
    pub time_zone: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleSpec {
    /// Keep one in `rate`.
    pub rate: u64,
    /// Records with the same value here are all kept or all dropped.
    pub key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactSpec {
    /// Built-in patterns: email, ipv4, ipv6, card, bearer.
    #[serde(default)]
    pub patterns: Vec<String>,
    /// Extra regexes.
    #[serde(default)]
    pub custom: Vec<String>,
    /// Fields to scan (default: every string field).
    #[serde(default)]
    pub fields: Vec<String>,
    /// What replaces a match (default `[REDACTED]`).
    pub replacement: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteIfSpec {
    pub condition: String,
    pub index: String,
}

/// A checked transform.
#[derive(Debug, Clone)]
pub enum Transform {
    Rename(String, String),
    Copy(String, String),
    Remove(Vec<String>),
    Set(String, Template),
    /// Fields added unless present (static values or templates).
    AddFields(Vec<(String, Template)>),
    Convert(String, Conversion),
    NormalizeLevel(Option<String>),
    Timestamp {
        field: String,
        formats: Vec<String>,
        tz: Option<jiff::tz::TimeZone>,
    },
    DropIf(Cond),
    KeepIf(Cond),
    Sample {
        rate: u64,
        key: Option<String>,
    },
    Redact {
        res: Vec<regex::Regex>,
        fields: Vec<String>,
        replacement: String,
    },
    RouteIf(Cond, String),
}

/// `text %{field} more`: literal parts and field references.
#[derive(Debug, Clone)]
pub struct Template(Vec<(bool, String)>);

impl Template {
    pub fn parse(s: &str) -> Template {
        let mut parts = Vec::new();
        let mut rest = s;
        while let Some(i) = rest.find("%{") {
            match rest[i + 2..].find('}') {
                Some(j) => {
                    if i > 0 {
                        parts.push((false, rest[..i].to_string()));
                    }
                    parts.push((true, rest[i + 2..i + 2 + j].to_string()));
                    rest = &rest[i + 3 + j..];
                }
                None => break,
            }
        }
        if !rest.is_empty() {
            parts.push((false, rest.to_string()));
        }
        Template(parts)
    }

    /// Fill in fields (missing ones render empty; `@receiver` is this host).
    pub fn render(&self, r: &Map<String, Value>, receiver: &str) -> String {
        let mut out = String::new();
        for (is_field, s) in &self.0 {
            if !is_field {
                out.push_str(s);
            } else if s == "@receiver" {
                out.push_str(receiver);
            } else {
                let path: Vec<String> = s.split('.').map(str::to_string).collect();
                match condition::lookup(r, &path) {
                    Some(Value::String(v)) => out.push_str(v),
                    Some(Value::Null) | None => {}
                    Some(v) => out.push_str(&v.to_string()),
                }
            }
        }
        out
    }
}

const BUILTIN_REDACT: &[(&str, &str)] = &[
    ("email", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),
    (
        "ipv4",
        r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b",
    ),
    (
        "ipv6",
        r"\b(?:[0-9A-Fa-f]{1,4}:){2,7}[0-9A-Fa-f]{0,4}\b|::(?:[0-9A-Fa-f]{1,4}:){0,6}[0-9A-Fa-f]{1,4}\b",
    ),
    ("card", r"\b(?:\d[ -]?){12,18}\d\b"),
    ("bearer", r"(?i)\bbearer\s+[A-Za-z0-9\-._~+/]+=*"),
];

/// Why a transform table is wrong, and which of its keys (`drop_if`,
/// `route_if.condition`, ...; empty for the table as a whole), so that the
/// config error points at the line of that key.
#[derive(Debug, Clone, PartialEq)]
pub struct TransformError {
    pub key: String,
    pub message: String,
}

impl TransformError {
    fn new(key: &str, message: impl Into<String>) -> TransformError {
        TransformError {
            key: key.to_string(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for TransformError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.key.as_str() {
            "" => f.write_str(&self.message),
            k => write!(f, "{k}: {}", self.message),
        }
    }
}

impl std::error::Error for TransformError {}

impl Transform {
    /// Check a spec; the error says what is wrong and where.
    pub fn build(spec: &TransformSpec) -> Result<Transform, TransformError> {
        type R = Result<Transform, TransformError>;
        let mut found = Vec::new();
        macro_rules! one {
            ($f:ident, $e:expr) => {
                if let Some(v) = &spec.$f {
                    found.push($e(v)?);
                }
            };
        }
        one!(rename, |v: &FromTo| R::Ok(Transform::Rename(
            v.from.clone(),
            v.to.clone()
        )));
        one!(copy, |v: &FromTo| R::Ok(Transform::Copy(
            v.from.clone(),
            v.to.clone()
        )));
        one!(remove, |v: &Vec<String>| R::Ok(Transform::Remove(
            v.clone()
        )));
        one!(set, |v: &SetSpec| R::Ok(Transform::Set(
            v.field.clone(),
            Template::parse(&v.value)
        )));
        one!(add_fields, |m: &BTreeMap<String, String>| R::Ok(
            Transform::AddFields(
                m.iter()
                    .map(|(k, v)| (k.clone(), Template::parse(v)))
                    .collect()
            )
        ));
        one!(convert, |v: &ConvertSpec| Conversion::from_name(&v.to)
            .map(|c| Transform::Convert(v.field.clone(), c))
            .ok_or_else(|| TransformError::new(
                "convert.to",
                format!("'{}' is not one of int, float, bool, string", v.to)
            )));
        if let Some(f) = &spec.normalize_level {
            found.push(Transform::NormalizeLevel(
                Some(f.clone()).filter(|f| !f.is_empty()),
            ));
        }
        one!(timestamp, |v: &TimestampSpec| {
            let tz = match &v.time_zone {
                None => None,
                Some(z) => Some(jiff::tz::TimeZone::get(z).map_err(|_| {
                    TransformError::new("timestamp.time_zone", format!("unknown time zone '{z}'"))
                })?),
            };
            R::Ok(Transform::Timestamp {
                field: v.field.clone(),
                formats: v.formats.clone(),
                tz,
            })
        });
        one!(drop_if, |v: &String| condition::parse(v)
            .map(Transform::DropIf)
            .map_err(|e| TransformError::new("drop_if", e)));
        one!(keep_if, |v: &String| condition::parse(v)
            .map(Transform::KeepIf)
            .map_err(|e| TransformError::new("keep_if", e)));
        one!(sample, |v: &SampleSpec| {
            if v.rate == 0 {
                return Err(TransformError::new("sample.rate", "must be at least 1"));
            }
            Ok(Transform::Sample {
                rate: v.rate,
                key: v.key.clone(),
            })
        });
        one!(redact, |v: &RedactSpec| {
            let mut res = Vec::new();
            for p in &v.patterns {
                let (_, re) = BUILTIN_REDACT.iter().find(|(n, _)| n == p).ok_or_else(|| {
                    TransformError::new(
                        "redact.patterns",
                        format!("unknown pattern '{p}' (email, ipv4, ipv6, card, bearer)"),
                    )
                })?;
                res.push(
                    regex::Regex::new(re)
                        .map_err(|e| TransformError::new("redact.patterns", e.to_string()))?,
                );
            }
            for c in &v.custom {
                res.push(regex::Regex::new(c).map_err(|e| {
                    TransformError::new("redact.custom", format!("bad regex '{c}': {e}"))
                })?);
            }
            if res.is_empty() {
                return Err(TransformError::new(
                    "redact",
                    "give patterns or custom regexes",
                ));
            }
            Ok(Transform::Redact {
                res,
                fields: v.fields.clone(),
                replacement: v.replacement.clone().unwrap_or_else(|| "[REDACTED]".into()),
            })
        });
        one!(route_if, |v: &RouteIfSpec| {
            let c = condition::parse(&v.condition)
                .map_err(|e| TransformError::new("route_if.condition", e))?;
            crate::ingest::index_name::expand_checked(&v.index, 0)
                .map_err(|e| TransformError::new("route_if.index", e.to_string()))?;
            R::Ok(Transform::RouteIf(c, v.index.clone()))
        });
        match found.len() {
            1 => Ok(found.pop().expect("one")),
            0 => Err(TransformError::new("", "a transform needs one of rename, copy, remove, set, add_fields, convert, normalize_level, timestamp, drop_if, keep_if, sample, redact, route_if")),
            n => Err(TransformError::new("", format!("a transform table holds one transform, this one has {n}"))),
        }
    }
}

/// What the transforms decided beyond the record itself.
#[derive(Debug, Default, PartialEq)]
pub struct Outcome {
    pub drop: bool,
    /// Index template chosen by `route_if`.
    pub index: Option<String>,
}

fn take_path(r: &mut Map<String, Value>, f: &str) -> Option<Value> {
    if let Some(v) = r.remove(f) {
        return Some(v);
    }
    let (head, rest) = f.split_once('.')?;
    match r.get_mut(head) {
        Some(Value::Object(m)) => take_path(m, rest),
        _ => None,
    }
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// The normalised level of a value: TRACE, DEBUG, INFO, WARN, ERROR, FATAL.
pub fn normalize_level(v: &Value) -> Option<&'static str> {
    match v {
        Value::Number(n) => n.as_i64().and_then(|s| match s {
            0..=2 => Some("FATAL"),
            3 => Some("ERROR"),
            4 => Some("WARN"),
            5 | 6 => Some("INFO"),
            7 => Some("DEBUG"),
            _ => None,
        }),
        Value::String(s) => crate::event::Level::parse(s)
            .map(|l| l.as_str())
            .or_else(|| {
                s.trim()
                    .parse::<i64>()
                    .ok()
                    .and_then(|n| normalize_level(&Value::from(n)))
            }),
        _ => None,
    }
}

/// Apply transforms in order; stops early when one drops the record.
pub fn apply(ts: &[Transform], r: &mut Map<String, Value>, receiver: &str, now_ms: i64) -> Outcome {
    let mut out = Outcome::default();
    for t in ts {
        match t {
            Transform::Rename(from, to) => {
                if let Some(v) = take_path(r, from) {
                    r.insert(to.clone(), v);
                }
            }
            Transform::Copy(from, to) => {
                let path: Vec<String> = from.split('.').map(str::to_string).collect();
                if let Some(v) = condition::lookup(r, &path).cloned() {
                    r.insert(to.clone(), v);
                }
            }
            Transform::Remove(fields) => {
                for f in fields {
                    take_path(r, f);
                }
            }
            Transform::Set(field, tpl) => {
                let v = tpl.render(r, receiver);
                r.insert(field.clone(), Value::String(v));
            }
            Transform::AddFields(fields) => {
                for (k, tpl) in fields {
                    if !r.contains_key(k) {
                        let v = tpl.render(r, receiver);
                        r.insert(k.clone(), Value::String(v));
                    }
                }
            }
            Transform::Convert(field, conv) => {
                if let Some(v) = r.get(field) {
                    let s = match v {
                        Value::String(s) => s.clone(),
                        Value::Number(_) | Value::Bool(_) => v.to_string(),
                        _ => continue,
                    };
                    let nv = conv.apply(&s);
                    r.insert(field.clone(), nv);
                }
            }
            Transform::NormalizeLevel(field) => {
                let v = match field {
                    Some(f) => r.get(f).cloned(),
                    None => [
                        "level",
                        "severity",
                        "lvl",
                        "loglevel",
                        "log_level",
                        "levelname",
                        "status",
                    ]
                    .iter()
                    .find_map(|k| r.get(*k).cloned()),
                };
                if let Some(l) = v.as_ref().and_then(normalize_level) {
                    r.insert("level".into(), Value::String(l.into()));
                }
            }
            Transform::Timestamp { field, formats, tz } => {
                let Some(Value::String(s)) = r.get(field) else {
                    continue;
                };
                let parsed = if formats.is_empty() {
                    crate::event::timestamp::parse_timestamp_str(s, tz.as_ref(), now_ms)
                } else {
                    formats.iter().find_map(|f| {
                        let t = jiff::fmt::strtime::parse(f, s).ok()?;
                        match t.to_timestamp() {
                            Ok(ts) => Some(ts.as_millisecond()),
                            Err(_) => {
                                let dt = t.to_datetime().ok()?;
                                let zone = tz.clone().unwrap_or(jiff::tz::TimeZone::UTC);
                                dt.to_zoned_datetime(zone)
                                    .ok()
                                    .map(|z| z.timestamp().as_millisecond())
                            }
                        }
                    })
                };
                match parsed {
                    Some(ms) => {
                        let ts = crate::forward::rfc3339(ms * 1_000_000);
                        r.insert("@timestamp".into(), Value::String(ts));
                    }
                    None => crate::parse::add_tag(r, "_timestampparsefailure"),
                }
            }
            Transform::DropIf(c) => {
                if c.eval(r) {
                    out.drop = true;
                    return out;
                }
            }
            Transform::KeepIf(c) => {
                if !c.eval(r) {
                    out.drop = true;
                    return out;
                }
            }
            Transform::Sample { rate, key } => {
                let h = match key.as_ref().and_then(|k| r.get(k)) {
                    Some(Value::String(s)) => fnv(s),
                    Some(v) => fnv(&v.to_string()),
                    None => fnv(&Value::Object(r.clone()).to_string()),
                };
                if h % rate != 0 {
                    out.drop = true;
                    return out;
                }
            }
            Transform::Redact {
                res,
                fields,
                replacement,
            } => {
                let keys: Vec<String> = if fields.is_empty() {
                    r.keys().cloned().collect()
                } else {
                    fields.clone()
                };
                for k in keys {
                    if let Some(Value::String(s)) = r.get_mut(&k) {
                        for re in res {
                            if re.is_match(s) {
                                *s = re.replace_all(s, replacement.as_str()).into_owned();
                            }
                        }
                    }
                }
            }
            Transform::RouteIf(c, index) => {
                if out.index.is_none() && c.eval(r) {
                    out.index = Some(index.clone());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn build(toml_text: &str) -> Result<Vec<Transform>, String> {
        #[derive(Deserialize)]
        struct W {
            transforms: Vec<TransformSpec>,
        }
        let w: W = toml::from_str(toml_text).map_err(|e| e.to_string())?;
        w.transforms
            .iter()
            .map(|t| Transform::build(t).map_err(|e| e.to_string()))
            .collect()
    }

    fn rec(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_pipeline_in_order() {
        let ts = build(
            r#"
[[transforms]]
rename = { from = "msg", to = "message" }
[[transforms]]
normalize_level = "lvl"
[[transforms]]
remove = ["lvl", "debug.internal"]
[[transforms]]
set = { field = "summary", value = "%{service}: %{message} (on %{@receiver})" }
[[transforms]]
convert = { field = "ms", to = "int" }
[[transforms]]
timestamp = { field = "when", formats = ["%d/%m/%Y %H:%M:%S"], time_zone = "Europe/Berlin" }
[[transforms]]
redact = { patterns = ["email", "ipv4", "bearer", "card"] }
[[transforms]]
route_if = { condition = 'level == "ERROR"', index = "errors-%{+YYYY.MM.dd}" }
"#,
        )
        .unwrap();
        let mut r = rec(
            json!({"msg":"login from bob@example.com at 10.1.2.3 with Bearer abc.def-ghi card 4111 1111 1111 1111",
            "lvl":"E","service":"auth","ms":"42","when":"24/11/2026 13:00:00","debug":{"internal":1,"keep":2}}),
        );
        let o = apply(&ts, &mut r, "recv1", 0);
        assert_eq!(
            o,
            Outcome {
                drop: false,
                index: Some("errors-%{+YYYY.MM.dd}".into())
            }
        );
        assert_eq!(
            Value::Object(r),
            json!({"service":"auth","ms":42,"when":"24/11/2026 13:00:00","debug":{"keep":2},
                "message":"login from [REDACTED] at [REDACTED] with [REDACTED] card [REDACTED]",
                "level":"ERROR",
                "summary":"auth: login from [REDACTED] at [REDACTED] with [REDACTED] card [REDACTED] (on recv1)",
                "@timestamp":"2026-11-24T12:00:00.000Z"})
        );
    }

    #[test]
    fn drop_keep_and_sample() {
        let ts = build("[[transforms]]\ndrop_if = 'level == \"DEBUG\"'\n[[transforms]]\nkeep_if = 'service != \"noise\"'\n").unwrap();
        assert!(apply(&ts, &mut rec(json!({"level":"DEBUG"})), "", 0).drop);
        assert!(
            apply(
                &ts,
                &mut rec(json!({"level":"INFO","service":"noise"})),
                "",
                0
            )
            .drop
        );
        assert!(
            !apply(
                &ts,
                &mut rec(json!({"level":"INFO","service":"web"})),
                "",
                0
            )
            .drop
        );
        let s = build("[[transforms]]\nsample = { rate = 10, key = \"trace\" }\n").unwrap();
        let kept = (0..10_000)
            .filter(|i| !apply(&s, &mut rec(json!({"trace": format!("t{}", i / 4)})), "", 0).drop)
            .count();
        assert!((800..1200).contains(&kept), "about one in ten kept: {kept}");
        assert_eq!(
            kept % 4,
            0,
            "records sharing a key are kept or dropped together"
        );
    }

    #[test]
    fn levels_on_one_scale() {
        for (v, want) in [
            (json!("warning"), "WARN"),
            (json!("W"), "WARN"),
            (json!("err"), "ERROR"),
            (json!(3), "ERROR"),
            (json!("6"), "INFO"),
            (json!("CRITICAL"), "FATAL"),
            (json!("debug"), "DEBUG"),
        ] {
            assert_eq!(normalize_level(&v), Some(want), "{v}");
        }
    }

    #[test]
    fn bad_specs_say_why() {
        for (t, want) in [
            (
                "[[transforms]]\ndrop_if = 'level =='\n",
                "drop_if: condition ends too early",
            ),
            (
                "[[transforms]]\nconvert = { field = \"a\", to = \"date\" }\n",
                "'date'",
            ),
            (
                "[[transforms]]\nredact = { patterns = [\"ssn\"] }\n",
                "unknown pattern 'ssn'",
            ),
            (
                "[[transforms]]\nrename = { from = \"a\", to = \"b\" }\nremove = [\"c\"]\n",
                "has 2",
            ),
            ("[[transforms]]\n", "needs one of"),
            (
                "[[transforms]]\ntimestamp = { field = \"t\", time_zone = \"Mars/Base\" }\n",
                "Mars/Base",
            ),
            (
                "[[transforms]]\nroute_if = { condition = 'a == 1', index = \"Bad Name\" }\n",
                "route_if",
            ),
        ] {
            let e = build(t).unwrap_err();
            assert!(e.contains(want), "{t}: {e}");
        }
    }
}

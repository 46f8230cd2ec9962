//! Finding level, service and host under their usual names and normalising
//! them for analysis. `_source` is never changed.

use std::borrow::Cow;

use serde_json::{Map, Value};

/// Normalised severity scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
            Level::Fatal => "FATAL",
        }
    }

    /// Map the spellings seen in the wild (`warning`, `W`, `err`, `crit`,
    /// syslog severities 0-7, bunyan/pino numbers 10-60) onto the scale.
    pub fn parse(s: &str) -> Option<Level> {
        let t = s.trim();
        if let Ok(n) = t.parse::<i64>() {
            return Self::from_number(n);
        }
        let lower = t.to_ascii_lowercase();
        Some(match lower.as_str() {
            "trace" | "t" | "trc" | "finest" | "finer" => Level::Trace,
            "debug" | "d" | "dbg" | "fine" | "config" => Level::Debug,
            "info" | "i" | "inf" | "information" | "informational" | "notice" | "n" => Level::Info,
            "warn" | "w" | "wrn" | "warning" => Level::Warn,
            "error" | "e" | "err" | "eror" | "severe" => Level::Error,
            "fatal" | "f" | "crit" | "critical" | "alert" | "emerg" | "emergency" | "panic"
            | "c" => Level::Fatal,
            _ => return None,
        })
    }

    fn from_number(n: i64) -> Option<Level> {
        Some(match n {
            // syslog severities
            0..=2 => Level::Fatal,
            3 => Level::Error,
            4 => Level::Warn,
            5 | 6 => Level::Info,
            7 => Level::Debug,
            // bunyan / pino
            10 => Level::Trace,
            20 => Level::Debug,
            30 => Level::Info,
            40 => Level::Warn,
            50 => Level::Error,
            60 => Level::Fatal,
            _ => return None,
        })
    }
}

/// A field's value as the text of a level, service or host.
fn as_text(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::String(s) if !s.is_empty() => Some(Cow::Borrowed(s.as_str())),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        _ => None,
    }
}

/// The level, service and host a record names, found in one pass over its
/// top-level keys (this runs for every indexed event).
pub struct Detected<'a> {
    pub level: Option<Level>,
    pub service: Option<Cow<'a, str>>,
    pub host: Option<Cow<'a, str>>,
    /// The free-text message (`message`, `msg`, `MESSAGE`, `log`,
    /// `short_message`), which the pattern miner reads.
    pub message: Option<&'a str>,
}

/// Keep the string `v` as the message if `rank` is better.
fn offer_message<'a>(best: &mut Option<(usize, &'a str)>, rank: usize, v: &'a Value) {
    if let Value::String(s) = v {
        if best.is_none_or(|(r, _)| rank < r) {
            *best = Some((rank, s.as_str()));
        }
    }
}

/// Keep `v` if `rank` is better than what `best` has.
fn offer<'a>(best: &mut Option<(usize, Cow<'a, str>)>, rank: usize, v: Option<&'a Value>) {
    if best.as_ref().is_some_and(|(b, _)| *b <= rank) {
        return;
    }
    if let Some(t) = v.and_then(as_text) {
        *best = Some((rank, t));
    }
}

fn nested<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v {
        Value::Object(m) => m.get(key),
        _ => None,
    }
}

/// Whether `path` is one of the fields [`detect`] reads a message from.
pub fn is_message_field(path: &str) -> bool {
    matches!(
        path,
        "message" | "msg" | "MESSAGE" | "short_message" | "log"
    )
}

/// See [`Detected`]. Names in order of preference: level, severity,
/// log.level, lvl, loglevel, levelname, LEVEL, PRIORITY; service,
/// service.name, app, application, PROGRAM, appname, program; host,
/// hostname, host.name, HOST, source_host. A rank is twice the position,
/// one more for the nested form of a dotted name (which loses to the
/// literal dotted key).
pub fn detect(record: &Map<String, Value>) -> Detected<'_> {
    let (mut level, mut service, mut host) = (None, None, None);
    let mut message: Option<(usize, &str)> = None;
    for (k, v) in record {
        match k.as_str() {
            "message" => offer_message(&mut message, 0, v),
            "msg" => offer_message(&mut message, 1, v),
            "MESSAGE" => offer_message(&mut message, 2, v),
            "short_message" => offer_message(&mut message, 4, v),
            "level" => offer(&mut level, 0, Some(v)),
            "severity" => offer(&mut level, 2, Some(v)),
            "log.level" => offer(&mut level, 4, Some(v)),
            "log" => {
                offer(&mut level, 5, nested(v, "level"));
                offer_message(&mut message, 3, v);
            }
            "lvl" => offer(&mut level, 6, Some(v)),
            "loglevel" => offer(&mut level, 8, Some(v)),
            "levelname" => offer(&mut level, 10, Some(v)),
            "LEVEL" => offer(&mut level, 12, Some(v)),
            "PRIORITY" => offer(&mut level, 14, Some(v)),
            "service" => {
                offer(&mut service, 0, Some(v));
                offer(&mut service, 3, nested(v, "name"));
            }
            "service.name" => offer(&mut service, 2, Some(v)),
            "app" => offer(&mut service, 4, Some(v)),
            "application" => offer(&mut service, 6, Some(v)),
            "PROGRAM" => offer(&mut service, 8, Some(v)),
            "appname" => offer(&mut service, 10, Some(v)),
            "program" => offer(&mut service, 12, Some(v)),
            "host" => {
                offer(&mut host, 0, Some(v));
                offer(&mut host, 5, nested(v, "name"));
            }
            "hostname" => offer(&mut host, 2, Some(v)),
            "host.name" => offer(&mut host, 4, Some(v)),
            "HOST" => offer(&mut host, 6, Some(v)),
            "source_host" => offer(&mut host, 8, Some(v)),
            _ => {}
        }
    }
    Detected {
        // a level field whose value is no level leaves the level unknown,
        // as the first named field decides
        level: level.and_then(|(_, s)| Level::parse(&s)),
        service: service.map(|(_, s)| s),
        host: host.map(|(_, s)| s),
        message: message.map(|(_, s)| s),
    }
}

/// This machine's host name (for the forward handshake and the agent's
/// `host` field): `/etc/hostname`, else `$HOSTNAME`, else `localhost`.
pub fn local_hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // The straightforward definition `detect` must agree with: look each
    // name up in turn (the order above), nested or dotted.
    fn lookup<'a>(record: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
        if let Some(v) = record.get(path) {
            return Some(v);
        }
        let (head, rest) = path.split_once('.')?;
        match record.get(head)? {
            Value::Object(inner) => lookup(inner, rest),
            _ => None,
        }
    }

    fn first_string(record: &Map<String, Value>, names: &[&str]) -> Option<String> {
        names.iter().find_map(|n| match lookup(record, n)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
    }

    const LEVEL_FIELDS: &[&str] = &[
        "level",
        "severity",
        "log.level",
        "lvl",
        "loglevel",
        "levelname",
        "LEVEL",
        "PRIORITY",
    ];
    const SERVICE_FIELDS: &[&str] = &[
        "service",
        "service.name",
        "app",
        "application",
        "PROGRAM",
        "appname",
        "program",
    ];
    const HOST_FIELDS: &[&str] = &["host", "hostname", "host.name", "HOST", "source_host"];

    /// The record's normalised level, if any field names one.
    fn detect_level(record: &Map<String, Value>) -> Option<Level> {
        first_string(record, LEVEL_FIELDS).and_then(|s| Level::parse(&s))
    }

    /// The record's service name, if any.
    fn detect_service(record: &Map<String, Value>) -> Option<String> {
        first_string(record, SERVICE_FIELDS)
    }

    /// The record's host name, if any.
    fn detect_host(record: &Map<String, Value>) -> Option<String> {
        first_string(record, HOST_FIELDS)
    }

    #[test]
    fn levels() {
        for (s, l) in [
            ("warning", Level::Warn),
            ("W", Level::Warn),
            ("err", Level::Error),
            ("3", Level::Error),
            ("crit", Level::Fatal),
            ("INFO", Level::Info),
        ] {
            assert_eq!(Level::parse(s), Some(l), "{s}");
        }
        assert_eq!(Level::parse("banana"), None);
    }

    #[test]
    fn nested_names() {
        let r =
            json!({"log": {"level": "warn"}, "service": {"name": "api"}, "host": {"name": "n1"}});
        let r = r.as_object().unwrap();
        let d = detect(r);
        assert_eq!(d.level, Some(Level::Warn));
        assert_eq!(d.service.as_deref(), Some("api"));
        assert_eq!(d.host.as_deref(), Some("n1"));
        assert_eq!(d.message, None);
    }

    #[test]
    fn message_names_in_order() {
        let d = |v: serde_json::Value| detect(v.as_object().unwrap()).message.map(String::from);
        assert_eq!(d(json!({"msg": "b", "message": "a"})), Some("a".into()));
        assert_eq!(
            d(json!({"log": "docker line", "MESSAGE": "j"})),
            Some("j".into())
        );
        assert_eq!(d(json!({"log": "docker line"})), Some("docker line".into()));
        assert_eq!(
            d(json!({"message": 42, "short_message": "g"})),
            Some("g".into())
        );
    }

    proptest::proptest! {
        /// The one-pass detection agrees with looking each name up in turn.
        #[test]
        fn one_pass_agrees_with_lookups(
            keys in proptest::collection::vec(proptest::sample::select(vec![
                "level", "severity", "log", "log.level", "lvl", "loglevel", "levelname", "LEVEL",
                "PRIORITY", "service", "service.name", "app", "application", "PROGRAM", "appname",
                "program", "host", "hostname", "host.name", "HOST", "source_host", "other",
            ]), 0..10),
            values in proptest::collection::vec(proptest::sample::select(vec![
                json!("warn"), json!(""), json!(3), json!("n1"), json!({"level": "error", "name": "x"}),
                json!({"name": ""}), json!(null), json!(true),
            ]), 10),
        ) {
            let mut r = Map::new();
            for (k, v) in keys.iter().zip(values) {
                // (a literal dotted key without text is where the two
                // differ on purpose: the lookup stops there, detect goes on
                // to the nested form)
                let v = if k.contains('.') && as_text(&v).is_none() { json!("n2") } else { v };
                r.insert(k.to_string(), v);
            }
            let d = detect(&r);
            proptest::prop_assert_eq!(d.level, detect_level(&r));
            proptest::prop_assert_eq!(d.service.map(|s| s.into_owned()), detect_service(&r));
            proptest::prop_assert_eq!(d.host.map(|s| s.into_owned()), detect_host(&r));
        }
    }
}

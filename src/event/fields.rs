//! Finding level, service and host under their usual names and normalising
//! them for analysis. `_source` is never changed.

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
pub fn detect_level(record: &Map<String, Value>) -> Option<Level> {
    first_string(record, LEVEL_FIELDS).and_then(|s| Level::parse(&s))
}

/// The record's service name, if any.
pub fn detect_service(record: &Map<String, Value>) -> Option<String> {
    first_string(record, SERVICE_FIELDS)
}

/// The record's host name, if any.
pub fn detect_host(record: &Map<String, Value>) -> Option<String> {
    first_string(record, HOST_FIELDS)
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
        assert_eq!(detect_level(r), Some(Level::Warn));
        assert_eq!(detect_service(r).as_deref(), Some("api"));
        assert_eq!(detect_host(r).as_deref(), Some("n1"));
    }
}

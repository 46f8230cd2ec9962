//! Syslog messages (RFC 5424 and RFC 3164 with its real-world variants) to
//! records: `message`, `facility`, `severity`, `level` (normalised),
//! `host`, `appname`, `procid`, `msgid`, `@timestamp` (the message's own
//! time, UTC), structured data as `sd.<SD-ID>.<name>`, and
//! `syslog_protocol`. The numeric severity is not kept: the name says it.
//!
//! `syslog_loose` does the parsing; around it we repair what it does not
//! expect from real senders: Cisco-style sequence numbers and `*` before
//! the date, a UTF-8 BOM before MSG (logger, loggen), the tag without a
//! colon that rsyslog's traditional format writes for messages that came in
//! as RFC 5424. A line that is not syslog at all is kept whole as `message`
//! and tagged `_syslogparsefailure`: never dropped.

use chrono::{Datelike, FixedOffset, TimeZone};
use serde_json::{Map, Value};
use syslog_loose::{Protocol, SyslogSeverity, Variant};

/// A parsed message: the record and its time (epoch ms), if it had one.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub record: Map<String, Value>,
    pub time_ms: Option<i64>,
    /// `facility.severity` names, for the tag `syslog.<facility>.<severity>`.
    pub facility: String,
    pub severity: String,
}

/// The normalised level of a syslog severity.
pub fn level_of(sev: SyslogSeverity) -> &'static str {
    match sev {
        SyslogSeverity::SEV_EMERG | SyslogSeverity::SEV_ALERT | SyslogSeverity::SEV_CRIT => "FATAL",
        SyslogSeverity::SEV_ERR => "ERROR",
        SyslogSeverity::SEV_WARNING => "WARN",
        SyslogSeverity::SEV_NOTICE | SyslogSeverity::SEV_INFO => "INFO",
        SyslogSeverity::SEV_DEBUG => "DEBUG",
    }
}

/// Remove what `syslog_loose` trips over, keeping `<PRI>`.
fn repair(line: &str) -> std::borrow::Cow<'_, str> {
    let line = line.trim_end_matches(['\r', '\n', '\0']);
    // `<PRI>` then a Cisco sequence number `123: ` and/or `*` before the date
    let (pri, rest) = match line.strip_prefix('<').and_then(|r| r.split_once('>')) {
        Some((p, r)) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
            (&line[..p.len() + 2], r)
        }
        _ => ("", line),
    };
    let mut r = rest;
    let digits = r.bytes().take_while(|b| b.is_ascii_digit()).count();
    if digits > 0 && r[digits..].starts_with(": ") && !rest.starts_with("1 ") {
        r = &r[digits + 2..];
    }
    if let Some(s) = r.strip_prefix('*').or_else(|| r.strip_prefix('.')) {
        r = s;
    }
    if r.len() == rest.len() {
        std::borrow::Cow::Borrowed(line)
    } else {
        std::borrow::Cow::Owned(format!("{pri}{r}"))
    }
}

/// `app[123] rest` or `app: rest` at the start of a 3164 MSG whose tag the
/// parser did not recognise: (app, pid, rest).
fn split_tag(msg: &str) -> Option<(&str, Option<&str>, &str)> {
    let end = msg.find([' ', ':', '['])?;
    let app = &msg[..end];
    if app.is_empty() || app.len() > 48 || !app.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let after = &msg[end..];
    if let Some(p) = after.strip_prefix('[') {
        let close = p.find(']')?;
        let pid = &p[..close];
        let rest = p[close + 1..].strip_prefix(':').unwrap_or(&p[close + 1..]);
        return Some((app, Some(pid), rest.strip_prefix(' ').unwrap_or(rest)));
    }
    after.strip_prefix(": ").map(|rest| (app, None, rest))
}

/// RFC 5424 PARAM-VALUE escapes: `\"`, `\\` and `\]`.
fn unescape_param(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(n @ ('"' | '\\' | ']')) => out.push(n),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// RFC 3164 date with fractional seconds (syslog-ng `frac-digits()`),
/// which `syslog_loose` reads as part of the message.
static FRAC_3164: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"^(<\d{1,3}>)?([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d)\.(\d{1,9})( |$)")
        .expect("static regex")
});

/// RFC 3164 with the nil tag `-` (rsyslog's traditional format for a
/// message that had no APP-NAME): `<PRI>DATE HOST - MSG`.
static NIL_TAG_3164: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"^(?:<\d{1,3}>)?[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d (\S+) - (.*)$")
        .expect("static regex")
});

/// Parse one message. `now_ms` resolves the year of RFC 3164 dates (a date
/// more than a day ahead belongs to last year); `offset_secs` is the zone
/// of dates without one (RFC 3164).
pub fn parse(line: &str, now_ms: i64, offset_secs: i32) -> Parsed {
    let repaired = repair(line);
    // fractional seconds in a 3164 date: parse without, add them back after
    let mut frac_ns: i64 = 0;
    // both repairs are for 3164 dates: `<PRI>Mmm ` (a 5424 header has a
    // digit there) — skip the regexes for everything else
    let maybe_3164 = repaired
        .trim_start_matches(|c: char| c == '<' || c == '>' || c.is_ascii_digit())
        .starts_with(|c: char| c.is_ascii_uppercase());
    let repaired = match FRAC_3164.captures(&repaired).filter(|_| maybe_3164) {
        Some(c) => {
            let digits = &c[3];
            frac_ns = digits.parse::<i64>().unwrap_or(0) * 10i64.pow(9 - digits.len() as u32);
            let whole = c.get(0).map_or(0, |m| m.end());
            std::borrow::Cow::Owned(format!(
                "{}{}{}{}",
                c.get(1).map_or("", |m| m.as_str()),
                &c[2],
                &c[4],
                &repaired[whole..]
            ))
        }
        None => repaired,
    };
    let nil_tag = maybe_3164
        .then(|| NIL_TAG_3164.captures(&repaired))
        .flatten()
        .map(|c| (c[1].to_string(), c[2].to_string()));
    let tz = FixedOffset::east_opt(offset_secs).unwrap_or(FixedOffset::east_opt(0).expect("UTC"));
    let now = chrono::Utc
        .timestamp_millis_opt(now_ms)
        .single()
        .unwrap_or_default()
        .with_timezone(&tz);
    let year = |d: syslog_loose::IncompleteDate| {
        let (month, day) = (d.0, d.1);
        // a date more than a day after today is from last year
        if (month, day) > (now.month(), now.day() + 1) {
            now.year() - 1
        } else {
            now.year()
        }
    };
    let parsed =
        syslog_loose::parse_message_with_year_exact_tz(&repaired, year, Some(tz), Variant::Either);
    let mut r = Map::new();
    let m = match parsed {
        Ok(m) if m.facility.is_some() || m.timestamp.is_some() || m.hostname.is_some() => m,
        _ => {
            r.insert(
                "message".into(),
                Value::String(line.trim_end_matches(['\r', '\n']).to_string()),
            );
            r.insert(
                "tags".into(),
                Value::Array(vec![Value::String("_syslogparsefailure".into())]),
            );
            return Parsed {
                record: r,
                time_ms: None,
                facility: "unknown".into(),
                severity: "unknown".into(),
            };
        }
    };
    let nil_msg;
    let mut msg = m.msg.trim_start_matches('\u{feff}');
    let mut hostname = m.hostname.map(str::to_string);
    if let (Protocol::RFC3164, None, Some((h, rest))) = (&m.protocol, &hostname, &nil_tag) {
        hostname = Some(h.clone());
        nil_msg = rest.trim_start_matches('\u{feff}').to_string();
        msg = &nil_msg;
    }
    let (mut appname, mut procid) = (
        m.appname.map(str::to_string),
        m.procid.map(|p| p.to_string()),
    );
    if m.protocol == Protocol::RFC3164 && appname.is_none() {
        if let Some((a, p, rest)) = split_tag(msg) {
            appname = Some(a.to_string());
            procid = p.map(str::to_string);
            msg = rest;
        }
    }
    if let Protocol::RFC5424(_) = m.protocol {
        // a 3164 message relayed as 5424 keeps the space after its tag
        msg = msg.strip_prefix(' ').unwrap_or(msg);
    }
    let facility = m.facility.map_or("unknown", |f| f.as_str()).to_string();
    let severity = m.severity.map_or("unknown", |s| s.as_str()).to_string();
    r.insert("message".into(), Value::String(msg.to_string()));
    if let Some(s) = m.severity {
        r.insert("level".into(), Value::String(level_of(s).into()));
        r.insert("severity".into(), Value::String(severity.clone()));
    }
    if m.facility.is_some() {
        r.insert("facility".into(), Value::String(facility.clone()));
    }
    if let Some(h) = hostname {
        r.insert("host".into(), Value::String(h));
    }
    if let Some(a) = appname {
        r.insert("appname".into(), Value::String(a));
    }
    if let Some(p) = procid {
        r.insert("procid".into(), Value::String(p));
    }
    if let Some(id) = m.msgid {
        r.insert("msgid".into(), Value::String(id.to_string()));
    }
    let timestamp = m
        .timestamp
        .map(|t| t + chrono::Duration::nanoseconds(frac_ns));
    let time_ms = timestamp.map(|t| t.timestamp_millis());
    if let Some(t) = timestamp {
        r.insert(
            "@timestamp".into(),
            Value::String(
                t.with_timezone(&chrono::Utc)
                    .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            ),
        );
    }
    if !m.structured_data.is_empty() {
        let mut sd = Map::new();
        for e in &m.structured_data {
            let mut params = Map::new();
            for (k, v) in &e.params {
                params.insert(k.to_string(), Value::String(unescape_param(v)));
            }
            sd.insert(e.id.to_string(), Value::Object(params));
        }
        r.insert("sd".into(), Value::Object(sd));
    }
    r.insert(
        "syslog_protocol".into(),
        Value::String(match m.protocol {
            Protocol::RFC3164 => "rfc3164".into(),
            Protocol::RFC5424(v) => format!("rfc5424/{v}"),
        }),
    );
    Parsed {
        record: r,
        time_ms,
        facility,
        severity,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// 2026-11-27T12:00:00Z
    const NOW: i64 = 1_795_780_800_000;

    fn p(line: &str) -> Value {
        Value::Object(parse(line, NOW, 0).record)
    }

    #[test]
    fn rfc5424_with_structured_data_and_bom() {
        let v = p("<165>1 2026-11-27T10:11:12.003Z mymachine.example.com evntslog 42 ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\"][x@1 a=\"b\\\"c\"] \u{feff}An application event");
        assert_eq!(
            v,
            json!({"message":"An application event","level":"INFO","severity":"notice",
                "facility":"local4","host":"mymachine.example.com","appname":"evntslog","procid":"42","msgid":"ID47",
                "@timestamp":"2026-11-27T10:11:12.003Z",
                "sd":{"exampleSDID@32473":{"iut":"3","eventSource":"Application"},"x@1":{"a":"b\"c"}},
                "syslog_protocol":"rfc5424/1"})
        );
    }

    #[test]
    fn rfc3164_common_shapes() {
        let v =
            p("<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed for lonvick on /dev/pts/8");
        assert_eq!(v["host"], "mymachine");
        assert_eq!(v["appname"], "su");
        assert_eq!(v["procid"], "230");
        assert_eq!(v["message"], "'su root' failed for lonvick on /dev/pts/8");
        assert_eq!(v["level"], "FATAL");
        assert_eq!(v["facility"], "auth");
        assert_eq!(v["@timestamp"], "2026-10-11T22:14:15Z");
        // December seen in late November is last year's
        let v = p("<13>Dec 31 23:59:59 host app: year end");
        assert_eq!(v["@timestamp"], "2025-12-31T23:59:59Z");
        // no hostname
        let v = p("<13>Nov 27 11:00:00 sshd[99]: Accepted publickey");
        assert_eq!(v["appname"], "sshd");
        assert_eq!(v["message"], "Accepted publickey");
    }

    #[test]
    fn real_world_deviations() {
        // Cisco IOS: sequence number and '*' before the date
        let v = p("<189>123: *Nov 27 11:22:33: %SYS-5-CONFIG_I: Configured from console by vty0");
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["facility"], "local7");
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .contains("Configured from console"),
            "{v}"
        );
        // rsyslog's traditional format for a message that arrived as 5424: no colon
        let v = p("<14>Nov 27 11:00:00 web01 myapp[4242] request served in 12 ms");
        assert_eq!(v["host"], "web01");
        assert_eq!(v["appname"], "myapp");
        assert_eq!(v["procid"], "4242");
        assert_eq!(v["message"], "request served in 12 ms");
        // 3164 relayed as 5424 keeps one leading space in MSG
        let v = p("<14>1 2026-11-27T11:00:00Z web01 myapp 4242 - -  hello");
        assert_eq!(v["message"], "hello");
        // syslog-ng frac-digits() in a 3164 date
        let v = p("<128>Nov 17 23:59:40.250 web01 shop[1000]: order placed");
        assert_eq!(
            (
                v["host"].as_str(),
                v["appname"].as_str(),
                v["procid"].as_str()
            ),
            (Some("web01"), Some("shop"), Some("1000"))
        );
        assert_eq!(v["message"], "order placed");
        assert_eq!(v["@timestamp"], "2026-11-17T23:59:40.250Z");
        // rsyslog's nil tag for a message without APP-NAME
        let v = p("<128>Nov 17 23:59:55 web01 - no app here");
        assert_eq!(v["host"], "web01");
        assert_eq!(v["message"], "no app here");
        assert!(v.get("appname").is_none());
        // whole-second timestamps with an offset (syslog-ng)
        let v = p("<11>1 2026-11-27T12:30:00+01:00 h a - - - boom");
        assert_eq!(v["@timestamp"], "2026-11-27T11:30:00Z");
        assert_eq!(v["level"], "ERROR");
    }

    #[test]
    fn not_syslog_is_kept_whole() {
        let v = p("just some text\n");
        assert_eq!(
            v,
            json!({"message":"just some text","tags":["_syslogparsefailure"]})
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_keeps_text(s in "\\PC{0,120}") {
            let r = parse(&s, NOW, 3600);
            proptest::prop_assert!(r.record.contains_key("message"));
        }
    }
}

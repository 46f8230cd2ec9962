//! Elasticsearch date `format` strings (`yyyy-MM-dd HH:mm:ss||epoch_millis`,
//! `strict_date_optional_time`, ...) for parsing range bounds and rendering
//! `key_as_string`. Java-style patterns are translated to strftime for jiff.

use jiff::tz::TimeZone;
use jiff::Timestamp;

use crate::event::timestamp::{format_iso_millis, parse_iso_like, EpochMillis};

#[derive(Debug, Clone, PartialEq)]
enum Alt {
    /// ISO 8601 family (`strict_date_optional_time` and friends).
    Iso,
    EpochMillis,
    EpochSecond,
    /// A strftime pattern translated from a Java pattern.
    Pattern(String),
}

/// A parsed `format` (alternatives separated by `||`; the first renders).
#[derive(Debug, Clone, PartialEq)]
pub struct DateFormat {
    alts: Vec<Alt>,
}

/// A `format` that is not understood.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid date format [{0}]: {1}")]
pub struct DateFormatError(pub String, pub String);

impl DateFormat {
    /// `strict_date_optional_time||epoch_millis`, Elasticsearch's default.
    pub fn default_format() -> DateFormat {
        DateFormat {
            alts: vec![Alt::Iso, Alt::EpochMillis],
        }
    }

    pub fn parse_spec(spec: &str) -> Result<DateFormat, DateFormatError> {
        let mut alts = Vec::new();
        for part in spec.split("||") {
            let p = part.trim();
            let alt = match p {
                "strict_date_optional_time"
                | "date_optional_time"
                | "strict_date_optional_time_nanos"
                | "strict_date_time"
                | "date_time"
                | "strict_date_time_no_millis"
                | "date_time_no_millis" => Alt::Iso,
                "epoch_millis" => Alt::EpochMillis,
                "epoch_second" => Alt::EpochSecond,
                "date" | "strict_date" | "yyyy-MM-dd" => Alt::Pattern("%Y-%m-%d".into()),
                "basic_date" => Alt::Pattern("%Y%m%d".into()),
                "date_hour_minute_second" | "strict_date_hour_minute_second" => {
                    Alt::Pattern("%Y-%m-%dT%H:%M:%S".into())
                }
                "date_hour_minute" | "strict_date_hour_minute" => {
                    Alt::Pattern("%Y-%m-%dT%H:%M".into())
                }
                "" => return Err(DateFormatError(spec.into(), "empty alternative".into())),
                _ => {
                    Alt::Pattern(java_to_strftime(p).map_err(|e| DateFormatError(spec.into(), e))?)
                }
            };
            alts.push(alt);
        }
        Ok(DateFormat { alts })
    }

    /// Parse a date string; naive values are read in `tz`.
    pub fn parse(&self, s: &str, tz: &TimeZone) -> Option<EpochMillis> {
        for alt in &self.alts {
            let found = match alt {
                Alt::Iso => parse_iso_like(s, Some(tz)).map(|x| x.0),
                Alt::EpochMillis => s.trim().parse::<f64>().ok().map(|v| v as i64),
                Alt::EpochSecond => s.trim().parse::<f64>().ok().map(|v| (v * 1000.0) as i64),
                Alt::Pattern(p) => parse_pattern(p, s, tz),
            };
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// Render an instant with the first alternative, in `tz`.
    pub fn format(&self, ms: EpochMillis, tz: &TimeZone) -> String {
        match self.alts.first() {
            Some(Alt::EpochMillis) => ms.to_string(),
            Some(Alt::EpochSecond) => (ms.div_euclid(1000)).to_string(),
            Some(Alt::Pattern(p)) => {
                let z = Timestamp::from_millisecond(ms)
                    .unwrap_or(Timestamp::UNIX_EPOCH)
                    .to_zoned_datetime(tz.clone());
                jiff::fmt::strtime::format(p.as_str(), &z).unwrap_or_else(|_| format_iso_millis(ms))
            }
            Some(Alt::Iso) | None => {
                if tz == &TimeZone::UTC {
                    format_iso_millis(ms)
                } else {
                    let z = Timestamp::from_millisecond(ms)
                        .unwrap_or(Timestamp::UNIX_EPOCH)
                        .to_zoned_datetime(tz.clone());
                    jiff::fmt::strtime::format("%Y-%m-%dT%H:%M:%S%.3f%:z", &z)
                        .unwrap_or_else(|_| format_iso_millis(ms))
                }
            }
        }
    }
}

fn parse_pattern(p: &str, s: &str, tz: &TimeZone) -> Option<EpochMillis> {
    let tm = jiff::fmt::strtime::parse(p, s.trim()).ok()?;
    if let Ok(ts) = tm.to_timestamp() {
        return Some(ts.as_millisecond());
    }
    if let Ok(dt) = tm.to_datetime() {
        return dt
            .to_zoned_datetime(tz.clone())
            .ok()
            .map(|z| z.timestamp().as_millisecond());
    }
    let d = tm.to_date().ok()?;
    d.to_zoned_datetime(tz.clone())
        .ok()
        .map(|z| z.timestamp().as_millisecond())
}

/// Translate a Java `DateTimeFormatter` pattern to strftime.
fn java_to_strftime(p: &str) -> Result<String, String> {
    let chars: Vec<char> = p.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                if chars[i] == '%' {
                    out.push('%');
                }
                out.push(chars[i]);
                i += 1;
            }
            i += 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            if c == '%' {
                out.push('%');
            }
            out.push(c);
            i += 1;
            continue;
        }
        let mut n = 1;
        while i + n < chars.len() && chars[i + n] == c {
            n += 1;
        }
        let spec = match (c, n) {
            ('y' | 'u', 2) => "%y",
            ('y' | 'u', _) => "%Y",
            ('M', 1) => "%-m",
            ('M', 2) => "%m",
            ('M', 3) => "%b",
            ('M', _) => "%B",
            ('d', 1) => "%-d",
            ('d', _) => "%d",
            ('H', 1) => "%-H",
            ('H', _) => "%H",
            ('h', _) => "%I",
            ('m', _) => "%M",
            ('s', _) => "%S",
            ('S', 1..=3) => "%3f",
            ('S', 4..=6) => "%6f",
            ('S', _) => "%9f",
            ('a', _) => "%p",
            ('E', 1..=3) => "%a",
            ('E', _) => "%A",
            ('Z', 1..=2) | ('X', 1..=2) | ('x', 1..=2) => "%z",
            ('Z', _) | ('X', _) | ('x', _) => "%:z",
            ('z', _) | ('V', _) => "%Z",
            _ => return Err(format!("unsupported pattern letter '{c}'")),
        };
        out.push_str(spec);
        i += n;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let f = DateFormat::parse_spec("yyyy-MM-dd HH:mm:ss||epoch_millis").unwrap();
        let utc = TimeZone::UTC;
        let t = f.parse("2026-11-24 12:00:00", &utc).unwrap();
        assert_eq!(
            t,
            "2026-11-24T12:00:00Z"
                .parse::<Timestamp>()
                .unwrap()
                .as_millisecond()
        );
        assert_eq!(f.format(t, &utc), "2026-11-24 12:00:00");
        assert_eq!(f.parse("1795435200000", &utc), Some(1_795_435_200_000));
        let d = DateFormat::parse_spec("dd/MM/yyyy").unwrap();
        assert_eq!(
            d.parse("24/11/2026", &utc),
            Some(
                "2026-11-24T00:00:00Z"
                    .parse::<Timestamp>()
                    .unwrap()
                    .as_millisecond()
            )
        );
        assert!(DateFormat::parse_spec("yyyy-QQ").is_err());
        assert_eq!(
            DateFormat::default_format().format(t, &utc),
            "2026-11-24T12:00:00.000Z"
        );
    }
}

//! Elasticsearch date `format` strings (`yyyy-MM-dd HH:mm:ss||epoch_millis`,
//! `strict_date_optional_time`, ...) for parsing range bounds and rendering
//! `key_as_string`. Java-style patterns are translated to strftime for jiff.

use std::sync::Arc;

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::event::timestamp::{format_iso_millis, parse_iso_like, EpochMillis};

#[derive(Debug, Clone, PartialEq)]
enum Alt {
    /// ISO 8601 family (`strict_date_optional_time` and friends).
    Iso,
    EpochMillis,
    EpochSecond,
    /// A strftime pattern translated from a Java pattern.
    Pattern(Pattern),
}

/// A Java pattern as strftime for jiff.
#[derive(Debug, Clone, PartialEq)]
struct Pattern {
    strftime: String,
    /// It ends in a Java `X` offset, which reads and writes `Z` for UTC.
    zulu: bool,
}

/// A parsed `format` (alternatives separated by `||`; the first renders).
/// Cheap to clone (mappings hand it to every query); serialised as the
/// text it was parsed from, so a mapping persists exactly what the user
/// wrote.
#[derive(Debug, Clone)]
pub struct DateFormat {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    spec: String,
    alts: Vec<Alt>,
}

impl PartialEq for DateFormat {
    fn eq(&self, other: &Self) -> bool {
        self.inner.spec == other.inner.spec
    }
}

impl Serialize for DateFormat {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.spec())
    }
}

impl<'de> Deserialize<'de> for DateFormat {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spec = String::deserialize(d)?;
        DateFormat::parse_spec(&spec).map_err(serde::de::Error::custom)
    }
}

/// A `format` that is not understood.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid date format [{0}]: {1}")]
pub struct DateFormatError(pub String, pub String);

/// Elasticsearch's built-in format names (without the `strict_` prefix,
/// which only forbids shorter numbers there) as Java patterns, or why we
/// refuse them.
fn named(name: &str) -> Option<Result<Alt, &'static str>> {
    let base = name.strip_prefix("strict_").unwrap_or(name);
    let java = match base {
        "date_optional_time" | "date_optional_time_nanos" | "date_time" | "date_time_no_millis" => {
            return Some(Ok(Alt::Iso))
        }
        "epoch_millis" => return Some(Ok(Alt::EpochMillis)),
        "epoch_second" => return Some(Ok(Alt::EpochSecond)),
        "basic_date" => "yyyyMMdd",
        "basic_date_time" => "yyyyMMdd'T'HHmmss.SSSXXX",
        "basic_date_time_no_millis" => "yyyyMMdd'T'HHmmssXXX",
        "basic_ordinal_date" => "yyyyDDD",
        "basic_ordinal_date_time" => "yyyyDDD'T'HHmmss.SSSXXX",
        "basic_ordinal_date_time_no_millis" => "yyyyDDD'T'HHmmssXXX",
        "basic_time" => "HHmmss.SSSXXX",
        "basic_time_no_millis" => "HHmmssXXX",
        "basic_t_time" => "'T'HHmmss.SSSXXX",
        "basic_t_time_no_millis" => "'T'HHmmssXXX",
        "date" | "year_month_day" => "yyyy-MM-dd",
        "date_hour" => "yyyy-MM-dd'T'HH",
        "date_hour_minute" => "yyyy-MM-dd'T'HH:mm",
        "date_hour_minute_second" => "yyyy-MM-dd'T'HH:mm:ss",
        "date_hour_minute_second_fraction" | "date_hour_minute_second_millis" => {
            "yyyy-MM-dd'T'HH:mm:ss.SSS"
        }
        "hour" => "HH",
        "hour_minute" => "HH:mm",
        "hour_minute_second" => "HH:mm:ss",
        "hour_minute_second_fraction" | "hour_minute_second_millis" => "HH:mm:ss.SSS",
        "ordinal_date" => "yyyy-DDD",
        "ordinal_date_time" => "yyyy-DDD'T'HH:mm:ss.SSSXXX",
        "ordinal_date_time_no_millis" => "yyyy-DDD'T'HH:mm:ssXXX",
        "time" => "HH:mm:ss.SSSXXX",
        "time_no_millis" => "HH:mm:ssXXX",
        "t_time" => "'T'HH:mm:ss.SSSXXX",
        "t_time_no_millis" => "'T'HH:mm:ssXXX",
        "year" => "yyyy",
        "year_month" => "yyyy-MM",
        "basic_week_date"
        | "basic_week_date_time"
        | "basic_week_date_time_no_millis"
        | "week_date"
        | "week_date_time"
        | "week_date_time_no_millis"
        | "weekyear"
        | "weekyear_week"
        | "weekyear_week_day" => return Some(Err("week-based formats are not supported")),
        _ => return None,
    };
    Some(
        java_to_strftime(java)
            .map(Alt::Pattern)
            .map_err(|_| "internal pattern"),
    )
}

impl DateFormat {
    /// `strict_date_optional_time||epoch_millis`, Elasticsearch's default.
    pub fn default_format() -> DateFormat {
        DateFormat {
            inner: Arc::new(Inner {
                spec: "strict_date_optional_time||epoch_millis".into(),
                alts: vec![Alt::Iso, Alt::EpochMillis],
            }),
        }
    }

    /// Parse a `format`: built-in names and Java-style patterns, joined by
    /// `||`. Anything else is an error naming the part that is not known.
    pub fn parse_spec(spec: &str) -> Result<DateFormat, DateFormatError> {
        let mut alts = Vec::new();
        for part in spec.split("||") {
            let p = part.trim();
            let err = |why: String| DateFormatError(spec.into(), why);
            let alt = if p.is_empty() {
                return Err(err("empty alternative".into()));
            } else if let Some(found) = named(p) {
                found.map_err(|why| err(format!("[{p}]: {why}")))?
            } else {
                match java_to_strftime(p) {
                    Ok(pattern) => Alt::Pattern(pattern),
                    // A name with a typo reads better as "unknown name".
                    Err(_)
                        if p.contains('_')
                            && p.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') =>
                    {
                        return Err(err(format!("[{p}] is not a known format name")))
                    }
                    Err(e) => return Err(err(e)),
                }
            };
            alts.push(alt);
        }
        Ok(DateFormat {
            inner: Arc::new(Inner {
                spec: spec.to_string(),
                alts,
            }),
        })
    }

    /// The text this format was parsed from.
    pub fn spec(&self) -> &str {
        &self.inner.spec
    }

    /// Parse a date string; naive values are read in `tz`.
    pub fn parse(&self, s: &str, tz: &TimeZone) -> Option<EpochMillis> {
        self.parse_rounding(s, tz, false)
    }

    /// Parse a date string, filling time fields a pattern leaves out with
    /// the end of their range when `round_up` (Elasticsearch's rule for
    /// `gt`/`lte` bounds: `lte: 24/11/2026` covers that whole day).
    pub fn parse_rounding(&self, s: &str, tz: &TimeZone, round_up: bool) -> Option<EpochMillis> {
        for alt in &self.inner.alts {
            let found = match alt {
                Alt::Iso => parse_iso_like(s, Some(tz)).map(|x| x.0),
                Alt::EpochMillis => s.trim().parse::<f64>().ok().map(|v| v as i64),
                Alt::EpochSecond => s.trim().parse::<f64>().ok().map(|v| (v * 1000.0) as i64),
                Alt::Pattern(p) => parse_pattern(&p.strftime, s, tz, round_up),
            };
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// Render an instant with the first alternative, in `tz`.
    pub fn format(&self, ms: EpochMillis, tz: &TimeZone) -> String {
        match self.inner.alts.first() {
            Some(Alt::EpochMillis) => ms.to_string(),
            Some(Alt::EpochSecond) => (ms.div_euclid(1000)).to_string(),
            Some(Alt::Pattern(p)) => {
                let z = Timestamp::from_millisecond(ms)
                    .unwrap_or(Timestamp::UNIX_EPOCH)
                    .to_zoned_datetime(tz.clone());
                let mut out = jiff::fmt::strtime::format(p.strftime.as_str(), &z)
                    .unwrap_or_else(|_| format_iso_millis(ms));
                if p.zulu && z.offset().seconds() == 0 {
                    for utc in ["+00:00", "+0000"] {
                        if let Some(rest) = out.strip_suffix(utc) {
                            out = format!("{rest}Z");
                            break;
                        }
                    }
                }
                out
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

fn parse_pattern(p: &str, s: &str, tz: &TimeZone, round_up: bool) -> Option<EpochMillis> {
    let s = s.trim();
    // Java's `X` offsets accept `Z` for UTC; jiff's `%z` does not.
    let spelled_out;
    let s = match s.strip_suffix('Z') {
        Some(rest) if p.ends_with("%:z") => {
            spelled_out = format!("{rest}+00:00");
            spelled_out.as_str()
        }
        Some(rest) if p.ends_with("%z") => {
            spelled_out = format!("{rest}+0000");
            spelled_out.as_str()
        }
        _ => s,
    };
    let mut tm = jiff::fmt::strtime::parse(p, s).ok()?;
    if tm.timestamp().is_none() {
        // Fields the pattern leaves out, as Elasticsearch fills them: the
        // date from 1970-01-01, the time from midnight (or its end).
        if tm.year().is_none() && tm.iso_week_year().is_none() {
            tm.set_year(Some(1970)).ok()?;
        }
        if tm.day_of_year().is_none() {
            if tm.month().is_none() {
                tm.set_month(Some(1)).ok()?;
            }
            if tm.day().is_none() {
                tm.set_day(Some(1)).ok()?;
            }
        }
        if round_up {
            if tm.hour().is_none() {
                tm.set_hour(Some(23)).ok()?;
            }
            if tm.minute().is_none() {
                tm.set_minute(Some(59)).ok()?;
            }
            if tm.second().is_none() {
                tm.set_second(Some(59)).ok()?;
            }
            if tm.subsec_nanosecond().is_none() {
                tm.set_subsec_nanosecond(Some(999_999_999)).ok()?;
            }
        }
    }
    if let Ok(ts) = tm.to_timestamp() {
        return Some(ts.as_millisecond());
    }
    if let Ok(z) = tm.to_zoned_datetime() {
        return Some(z.timestamp().as_millisecond());
    }
    tm.to_datetime()
        .ok()?
        .to_zoned_datetime(tz.clone())
        .ok()
        .map(|z| z.timestamp().as_millisecond())
}

/// Translate a Java `DateTimeFormatter` pattern to strftime.
fn java_to_strftime(p: &str) -> Result<Pattern, String> {
    let chars: Vec<char> = p.chars().collect();
    let mut out = String::new();
    // Whether the last field is an `X` offset.
    let mut zulu = false;
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
        if c == '[' || c == ']' {
            return Err(
                "optional sections in [brackets] are not supported; list the variants with ||"
                    .into(),
            );
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
            ('D', _) => "%j",
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
            ('z', _) | ('V', _) => "%Q",
            _ => return Err(format!("unsupported pattern letter '{c}'")),
        };
        zulu = c == 'X';
        out.push_str(spec);
        i += n;
    }
    Ok(Pattern {
        strftime: out,
        zulu,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn explicit_mapping_formats_parse_render_and_refuse() {
        let utc = TimeZone::UTC;
        // (format, input, instant, rendered back)
        for (spec, input, at, shown) in [
            (
                "dd/MM/yyyy",
                "24/11/2026",
                "2026-11-24T00:00:00Z",
                "24/11/2026",
            ),
            (
                "dd/MM/yyyy||epoch_millis",
                "1795478400000",
                "2026-11-24T00:00:00Z",
                "24/11/2026",
            ),
            (
                "yyyy-MM-dd HH:mm:ss",
                "2026-11-24 12:34:56",
                "2026-11-24T12:34:56Z",
                "2026-11-24 12:34:56",
            ),
            ("basic_date", "20261124", "2026-11-24T00:00:00Z", "20261124"),
            (
                "strict_date",
                "2026-11-24",
                "2026-11-24T00:00:00Z",
                "2026-11-24",
            ),
            ("year_month", "2026-11", "2026-11-01T00:00:00Z", "2026-11"),
            ("year", "2026", "2026-01-01T00:00:00Z", "2026"),
            (
                "ordinal_date",
                "2026-328",
                "2026-11-24T00:00:00Z",
                "2026-328",
            ),
            (
                "basic_date_time",
                "20261124T123456.789Z",
                "2026-11-24T12:34:56.789Z",
                "20261124T123456.789Z",
            ),
            (
                "date_hour_minute_second_millis",
                "2026-11-24T12:34:56.789",
                "2026-11-24T12:34:56.789Z",
                "2026-11-24T12:34:56.789",
            ),
            (
                "epoch_second",
                "1795478400",
                "2026-11-24T00:00:00Z",
                "1795478400",
            ),
            (
                "yyyy-MM-dd'T'HH:mm:ssXXX",
                "2026-11-24T13:34:56+01:00",
                "2026-11-24T12:34:56Z",
                "2026-11-24T12:34:56Z",
            ),
            ("hour_minute", "12:30", "1970-01-01T12:30:00Z", "12:30"),
        ] {
            let f = DateFormat::parse_spec(spec).unwrap_or_else(|e| panic!("{spec}: {e}"));
            assert_eq!(f.spec(), spec);
            assert_eq!(f.parse(input, &utc), Some(ms(at)), "{spec} {input}");
            assert_eq!(f.format(ms(at), &utc), shown, "{spec}");
        }
        // Rounding up fills the time a pattern leaves out with its end.
        let f = DateFormat::parse_spec("dd/MM/yyyy").unwrap();
        assert_eq!(
            f.parse_rounding("24/11/2026", &utc, true),
            Some(ms("2026-11-24T23:59:59.999Z"))
        );
        assert_eq!(f.parse("2026-11-24", &utc), None);
        // Naive values are read in the given zone.
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        assert_eq!(
            f.parse("24/11/2026", &berlin),
            Some(ms("2026-11-23T23:00:00Z"))
        );
        // Refused, each naming what is wrong.
        for (spec, says) in [
            ("dd/QQ/yyyy", "'Q'"),
            ("week_date", "week-based"),
            ("strict_weekyear_week", "week-based"),
            ("epoch_milis", "not a known format name"),
            ("yyyy-MM-dd[ HH:mm]", "optional sections"),
            ("yyyy||", "empty alternative"),
        ] {
            let e = DateFormat::parse_spec(spec).unwrap_err().to_string();
            assert!(e.contains(spec) && e.contains(says), "{spec}: {e}");
        }
        // Serialised as the text it came from.
        let f = DateFormat::parse_spec("dd/MM/yyyy||epoch_millis").unwrap();
        let j = serde_json::to_string(&f).unwrap();
        assert_eq!(j, "\"dd/MM/yyyy||epoch_millis\"");
        assert_eq!(serde_json::from_str::<DateFormat>(&j).unwrap(), f);
        assert!(serde_json::from_str::<DateFormat>("\"dd/QQ\"").is_err());
    }

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

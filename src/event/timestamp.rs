//! Timestamp recognition: turns the many ways logs write time into epoch
//! milliseconds (UTC).
//!
//! The ISO-like shapes (`2026-11-24 12:00:00`, RFC 3339) are on the hot path of
//! every ingested event, so they get a hand-written parser; rarer shapes
//! (syslog, nginx, RFC 2822) go through `jiff`'s strptime.

use jiff::tz::TimeZone;

/// Milliseconds since the Unix epoch, UTC.
pub type EpochMillis = i64;

/// Earliest and latest instants we accept (years 1000..=9999), so that
/// arithmetic on them never overflows and nonsense numbers are rejected.
const MIN_MS: i64 = -30_610_224_000_000;
const MAX_MS: i64 = 253_402_300_799_999;

/// Which written shape a date string had; kept in the mapping so that
/// `key_as_string` is rendered the way the data was written, as a field
/// mapped with that format would be in Elasticsearch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DateShape {
    /// `2026-11-24T12:00:00.000Z` (Elasticsearch's `strict_date_optional_time`)
    Iso,
    /// `2026-11-24 12:00:00`
    IsoSpace,
    /// `2026/11/24 12:00:00`
    Slash,
}

impl DateShape {
    /// The Elasticsearch mapping `format` string for this shape.
    pub fn es_format(self) -> &'static str {
        match self {
            DateShape::Iso => "strict_date_optional_time||epoch_millis",
            DateShape::IsoSpace => "yyyy-MM-dd HH:mm:ss||strict_date_optional_time||epoch_millis",
            DateShape::Slash => "yyyy/MM/dd HH:mm:ss||strict_date_optional_time||epoch_millis",
        }
    }

    /// Render an instant in this shape (UTC).
    pub fn render(self, ms: EpochMillis) -> String {
        match self {
            DateShape::Iso => format_iso_millis(ms),
            DateShape::IsoSpace => format_civil(ms, '-', ' '),
            DateShape::Slash => format_civil(ms, '/', ' '),
        }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian civil date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Civil date of a day number (inverse of [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// `2026-11-24T12:00:00.000Z`
pub fn format_iso_millis(ms: EpochMillis) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

fn format_civil(ms: EpochMillis, date_sep: char, sep: char) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{date_sep}{m:02}{date_sep}{d:02}{sep}{:02}:{:02}:{:02}",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60
    )
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn digits(&mut self, n: usize) -> Option<u32> {
        let s = self.b.get(self.i..self.i + n)?;
        let mut v = 0u32;
        for &c in s {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + (c - b'0') as u32;
        }
        self.i += n;
        Some(v)
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn done(&self) -> bool {
        self.i == self.b.len()
    }
}

/// Parse ISO-like date-times: `yyyy-MM-dd`, `yyyy-MM-dd[T ]HH:mm[:ss[.f+]][Z|±hh[:]mm]`
/// and the same with `/` between date parts. Naive times are read in `tz`
/// (UTC when `None`).
pub fn parse_iso_like(s: &str, tz: Option<&TimeZone>) -> Option<(EpochMillis, DateShape)> {
    let mut c = Cursor {
        b: s.trim().as_bytes(),
        i: 0,
    };
    let y = c.digits(4)? as i64;
    let sep = c.peek()?;
    if sep != b'-' && sep != b'/' {
        return None;
    }
    c.i += 1;
    let mo = c.digits(2)?;
    if !c.eat(sep) {
        return None;
    }
    let d = c.digits(2)?;
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) {
        return None;
    }
    let mut shape = if sep == b'/' {
        DateShape::Slash
    } else {
        DateShape::Iso
    };
    let (mut h, mut mi, mut sec, mut frac_ms) = (0u32, 0u32, 0u32, 0i64);
    let mut offset_ms: Option<i64> = None;
    if !c.done() {
        match c.peek()? {
            b'T' | b't' => {}
            b' ' => {
                if shape == DateShape::Iso {
                    shape = DateShape::IsoSpace
                }
            }
            _ => return None,
        }
        c.i += 1;
        h = c.digits(2)?;
        if !c.eat(b':') {
            return None;
        }
        mi = c.digits(2)?;
        if c.eat(b':') {
            sec = c.digits(2)?;
            if c.eat(b'.') || c.eat(b',') {
                let start = c.i;
                while c.peek().is_some_and(|b| b.is_ascii_digit()) {
                    c.i += 1;
                }
                let digits = &c.b[start..c.i];
                if digits.is_empty() {
                    return None;
                }
                let mut v = 0i64;
                for k in 0..3 {
                    v = v * 10 + digits.get(k).map_or(0, |d| (d - b'0') as i64);
                }
                frac_ms = v;
            }
        }
        if h > 23 || mi > 59 || sec > 60 {
            return None;
        }
        if c.eat(b' ') && c.done() {
            return None;
        }
        match c.peek() {
            None => {}
            Some(b'Z') | Some(b'z') => {
                c.i += 1;
                offset_ms = Some(0);
            }
            Some(sign @ (b'+' | b'-')) => {
                c.i += 1;
                let oh = c.digits(2)? as i64;
                c.eat(b':');
                let om = if c.done() { 0 } else { c.digits(2)? as i64 };
                let off = (oh * 60 + om) * 60_000;
                offset_ms = Some(if sign == b'-' { -off } else { off });
            }
            _ => return None,
        }
        if !c.done() {
            return None;
        }
        if offset_ms.is_some() && shape == DateShape::IsoSpace {
            // `2026-11-24 12:00:00Z`: still the ISO family for rendering.
            shape = DateShape::Iso;
        }
    }
    let days = days_from_civil(y, mo, d);
    let naive_ms = days * 86_400_000
        + (h as i64 * 3600 + mi as i64 * 60 + sec.min(59) as i64) * 1000
        + frac_ms;
    let ms = match offset_ms {
        Some(off) => naive_ms - off,
        None => match tz {
            Some(tz) if tz != &TimeZone::UTC => local_to_utc(naive_ms, tz)?,
            _ => naive_ms,
        },
    };
    (MIN_MS..=MAX_MS).contains(&ms).then_some((ms, shape))
}

/// Interpret a naive wall-clock time (given as if it were UTC millis) in `tz`.
pub fn local_to_utc(naive_ms: i64, tz: &TimeZone) -> Option<EpochMillis> {
    let ts = jiff::Timestamp::from_millisecond(naive_ms).ok()?;
    let civil = ts.to_zoned_datetime(TimeZone::UTC).datetime();
    let zoned = civil.to_zoned_datetime(tz.clone()).ok()?;
    Some(zoned.timestamp().as_millisecond())
}

/// Epoch number to millis, guessing the unit from the magnitude as log
/// shippers do: seconds, milliseconds, microseconds or nanoseconds.
pub fn epoch_number_to_millis(v: f64) -> Option<EpochMillis> {
    if !v.is_finite() || v < 0.0 {
        return None;
    }
    let ms = if v < 1e11 {
        v * 1000.0
    } else if v < 1e14 {
        v
    } else if v < 1e17 {
        v / 1000.0
    } else {
        v / 1_000_000.0
    };
    let ms = ms.round() as i64;
    (MIN_MS..=MAX_MS).contains(&ms).then_some(ms)
}

/// Formats tried after the ISO family, in order: nginx/apache common log,
/// RFC 2822, syslog without a year, `dd/MM/yyyy HH:mm:ss`.
const STRPTIME_FORMATS: &[&str] = &[
    "%d/%b/%Y:%H:%M:%S %z",
    "%a, %d %b %Y %H:%M:%S %z",
    "%d %b %Y %H:%M:%S %z",
    "%a %b %d %H:%M:%S %Y",
    "%d/%m/%Y %H:%M:%S",
];

/// Parse any supported timestamp string. Naive times are read in `tz` (UTC
/// when `None`). `now_ms` resolves the missing year of syslog stamps.
pub fn parse_timestamp_str(
    s: &str,
    tz: Option<&TimeZone>,
    now_ms: EpochMillis,
) -> Option<EpochMillis> {
    let s = s.trim();
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    if let Some((ms, _)) = parse_iso_like(s, tz) {
        return Some(ms);
    }
    let first = s.as_bytes()[0];
    if first.is_ascii_digit() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return s.parse::<f64>().ok().and_then(epoch_number_to_millis);
    }
    for fmt in STRPTIME_FORMATS {
        if let Ok(tm) = jiff::fmt::strtime::parse(fmt, s) {
            if let Ok(ts) = tm.to_timestamp() {
                return Some(ts.as_millisecond());
            }
            if let Ok(dt) = tm.to_datetime() {
                let naive = dt
                    .to_zoned_datetime(TimeZone::UTC)
                    .ok()?
                    .timestamp()
                    .as_millisecond();
                return match tz {
                    Some(tz) => local_to_utc(naive, tz),
                    None => Some(naive),
                };
            }
        }
    }
    parse_syslog_stamp(s, tz, now_ms)
}

/// `Nov 24 12:00:00` (RFC 3164): the year is the one that puts the stamp
/// closest to now (a December line read in January belongs to last year).
fn parse_syslog_stamp(s: &str, tz: Option<&TimeZone>, now_ms: EpochMillis) -> Option<EpochMillis> {
    let (now_y, _, _) = civil_from_days(now_ms.div_euclid(86_400_000));
    let mut best: Option<EpochMillis> = None;
    for y in [now_y - 1, now_y, now_y + 1] {
        let with_year = format!("{y} {s}");
        let Ok(tm) = jiff::fmt::strtime::parse("%Y %b %e %H:%M:%S", with_year.as_str()) else {
            return None;
        };
        let Ok(dt) = tm.to_datetime() else { continue };
        let Ok(z) = dt.to_zoned_datetime(TimeZone::UTC) else {
            continue;
        };
        let naive = z.timestamp().as_millisecond();
        let ms = match tz {
            Some(tz) => local_to_utc(naive, tz)?,
            None => naive,
        };
        if best.is_none_or(|b| (ms - now_ms).abs() < (b - now_ms).abs()) {
            best = Some(ms);
        }
    }
    best
}

/// A string that a dynamic mapping should type as a date: only the ISO
/// family and the slash form, so words and numbers never become dates.
pub fn detect_date(s: &str) -> Option<(EpochMillis, DateShape)> {
    let b = s.as_bytes();
    if b.len() < 10 || b.len() > 40 || !b[0].is_ascii_digit() {
        return None;
    }
    parse_iso_like(s, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        s.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn iso_family() {
        assert_eq!(
            parse_iso_like("2026-11-24 12:00:00", None),
            Some((ms("2026-11-24T12:00:00Z"), DateShape::IsoSpace))
        );
        assert_eq!(
            parse_iso_like("2026-11-24T12:00:00.123+01:00", None).map(|x| x.0),
            Some(ms("2026-11-24T11:00:00.123Z"))
        );
        assert_eq!(
            parse_iso_like("2026-11-24", None).map(|x| x.0),
            Some(ms("2026-11-24T00:00:00Z"))
        );
        assert_eq!(parse_iso_like("2026-02-30", None), None);
        assert_eq!(parse_iso_like("2026-11-24 25:00:00", None), None);
        assert_eq!(
            parse_iso_like("2026-11-24 12:00:00 ", None).map(|x| x.0),
            Some(ms("2026-11-24T12:00:00Z"))
        );
    }

    #[test]
    fn other_shapes() {
        let now = ms("2026-11-27T00:00:00Z");
        assert_eq!(
            parse_timestamp_str("24/Nov/2026:12:00:00 +0100", None, now),
            Some(ms("2026-11-24T11:00:00Z"))
        );
        assert_eq!(
            parse_timestamp_str("Nov 24 12:00:00", None, now),
            Some(ms("2026-11-24T12:00:00Z"))
        );
        assert_eq!(
            parse_timestamp_str("Dec 31 23:00:00", None, ms("2027-01-01T01:00:00Z")),
            Some(ms("2026-12-31T23:00:00Z"))
        );
        assert_eq!(
            parse_timestamp_str("1795435200", None, now),
            Some(1_795_435_200_000)
        );
        assert_eq!(
            parse_timestamp_str("Tue, 24 Nov 2026 12:00:00 +0000", None, now),
            Some(ms("2026-11-24T12:00:00Z"))
        );
        assert_eq!(parse_timestamp_str("hello", None, now), None);
    }

    #[test]
    fn time_zone_for_naive() {
        let tz = TimeZone::get("Europe/Berlin").unwrap();
        assert_eq!(
            parse_iso_like("2026-11-24 12:00:00", Some(&tz)).map(|x| x.0),
            Some(ms("2026-11-24T11:00:00Z"))
        );
    }

    #[test]
    fn epoch_units() {
        let want = 1_795_435_200_000;
        assert_eq!(epoch_number_to_millis(1_795_435_200.0), Some(want));
        assert_eq!(epoch_number_to_millis(1_795_435_200_000.0), Some(want));
        assert_eq!(epoch_number_to_millis(1_795_435_200_000_000.0), Some(want));
        assert_eq!(
            epoch_number_to_millis(1_795_435_200_000_000_000.0),
            Some(want)
        );
    }

    #[test]
    fn render_roundtrip() {
        let t = ms("2026-11-24T12:34:56.789Z");
        assert_eq!(format_iso_millis(t), "2026-11-24T12:34:56.789Z");
        assert_eq!(DateShape::IsoSpace.render(t), "2026-11-24 12:34:56");
    }

    proptest::proptest! {
        #[test]
        fn civil_roundtrip(days in -700_000i64..2_900_000) {
            let (y, m, d) = civil_from_days(days);
            proptest::prop_assert_eq!(days_from_civil(y, m, d), days);
        }

        #[test]
        fn iso_roundtrip(t in 0i64..253_402_300_799_999) {
            let s = format_iso_millis(t);
            proptest::prop_assert_eq!(parse_iso_like(&s, None).map(|x| x.0), Some(t));
        }

        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = parse_timestamp_str(&s, None, 0);
        }
    }
}

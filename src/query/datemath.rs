//! Elasticsearch date math (`now-15m/m`, `2026-11-24||+1d/d`) and the
//! calendar arithmetic shared with `date_histogram` (floor to a unit, add
//! units) in a time zone.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};

use super::date_format::DateFormat;
use crate::event::timestamp::EpochMillis;

/// A calendar unit of date math and `calendar_interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalUnit {
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl CalUnit {
    /// Date-math letters: `y M w d h H m s`.
    pub fn from_letter(c: char) -> Option<CalUnit> {
        Some(match c {
            'y' => CalUnit::Year,
            'M' => CalUnit::Month,
            'w' => CalUnit::Week,
            'd' => CalUnit::Day,
            'h' | 'H' => CalUnit::Hour,
            'm' => CalUnit::Minute,
            's' => CalUnit::Second,
            _ => return None,
        })
    }

    /// Fixed length in ms for units that have one regardless of calendar.
    pub fn fixed_ms(self) -> Option<i64> {
        Some(match self {
            CalUnit::Second => 1000,
            CalUnit::Minute => 60_000,
            CalUnit::Hour => 3_600_000,
            _ => return None,
        })
    }
}

/// Errors in a date-math expression; the message names the expression.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("failed to parse date field [{expr}]: {reason}")]
pub struct DateMathError {
    pub expr: String,
    pub reason: String,
}

fn err(expr: &str, reason: impl Into<String>) -> DateMathError {
    DateMathError {
        expr: expr.to_string(),
        reason: reason.into(),
    }
}

fn zoned(ms: EpochMillis, tz: &TimeZone) -> jiff::ZonedDateTime {
    Timestamp::from_millisecond(ms)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_zoned_datetime(tz.clone())
}

fn start_of(date: Date, tz: &TimeZone) -> EpochMillis {
    date.to_zoned_datetime(tz.clone())
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or(0)
}

/// Round `ms` down to the start of its `unit` in `tz` (weeks start Monday,
/// as in Elasticsearch).
pub fn floor_to_unit(ms: EpochMillis, unit: CalUnit, tz: &TimeZone) -> EpochMillis {
    if let Some(len) = unit.fixed_ms() {
        if tz == &TimeZone::UTC {
            return ms - ms.rem_euclid(len);
        }
        // Hours and minutes: floor in local wall time, mapped back.
        let z = zoned(ms, tz);
        let off = z.offset().seconds() as i64 * 1000;
        let local = ms + off;
        return local - local.rem_euclid(len) - off;
    }
    let d = zoned(ms, tz).date();
    let day = match unit {
        CalUnit::Day => d,
        CalUnit::Week => d
            .checked_sub(Span::new().days(d.weekday().to_monday_zero_offset() as i64))
            .unwrap_or(d),
        CalUnit::Month => d.first_of_month(),
        CalUnit::Quarter => Date::new(d.year(), ((d.month() - 1) / 3) * 3 + 1, 1).unwrap_or(d),
        CalUnit::Year => Date::new(d.year(), 1, 1).unwrap_or(d),
        _ => d,
    };
    start_of(day, tz)
}

/// Add `n` units to `ms` in `tz` (calendar-aware for days and longer).
pub fn add_units(ms: EpochMillis, n: i64, unit: CalUnit, tz: &TimeZone) -> EpochMillis {
    if let Some(len) = unit.fixed_ms() {
        return ms.saturating_add(n.saturating_mul(len));
    }
    let span = match unit {
        CalUnit::Day => Span::new().days(n),
        CalUnit::Week => Span::new().weeks(n),
        CalUnit::Month => Span::new().months(n),
        CalUnit::Quarter => Span::new().months(n * 3),
        CalUnit::Year => Span::new().years(n),
        _ => Span::new(),
    };
    zoned(ms, tz)
        .checked_add(span)
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or(ms)
}

/// Evaluate a date-math expression. `round_up` selects the end of a rounded
/// unit (for `gt` and `lte` bounds) instead of its start.
pub fn eval(
    expr: &str,
    now_ms: EpochMillis,
    round_up: bool,
    tz: &TimeZone,
    format: Option<&DateFormat>,
) -> Result<EpochMillis, DateMathError> {
    let trimmed = expr.trim();
    let (mut ms, math) = if let Some(rest) = trimmed.strip_prefix("now") {
        (now_ms, rest)
    } else {
        let (anchor, math) = match trimmed.find("||") {
            Some(i) => (&trimmed[..i], &trimmed[i + 2..]),
            None => (trimmed, ""),
        };
        let parsed = match format {
            Some(f) => f.parse_rounding(anchor, tz, round_up),
            None => DateFormat::default_format().parse(anchor, tz),
        };
        let Some(ms) = parsed else {
            return Err(err(expr, "not a date in a supported format"));
        };
        (ms, math)
    };
    let chars: Vec<char> = math.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '+' | '-' => {
                i += 1;
                let start = i;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                let n: i64 = if start == i {
                    1
                } else {
                    chars[start..i]
                        .iter()
                        .collect::<String>()
                        .parse()
                        .map_err(|_| err(expr, "number too large"))?
                };
                let unit = chars
                    .get(i)
                    .and_then(|c| CalUnit::from_letter(*c))
                    .ok_or_else(|| {
                        err(
                            expr,
                            "expected a unit (y, M, w, d, h, H, m, s) after the amount",
                        )
                    })?;
                i += 1;
                ms = add_units(ms, if c == '-' { -n } else { n }, unit, tz);
            }
            '/' => {
                let unit = chars
                    .get(i + 1)
                    .and_then(|c| CalUnit::from_letter(*c))
                    .ok_or_else(|| {
                        err(expr, "expected a unit (y, M, w, d, h, H, m, s) after '/'")
                    })?;
                i += 2;
                let start = floor_to_unit(ms, unit, tz);
                ms = if round_up {
                    add_units(start, 1, unit, tz) - 1
                } else {
                    start
                };
            }
            _ => return Err(err(expr, format!("unexpected character '{c}'"))),
        }
    }
    Ok(ms)
}

/// Parse a duration like `15m`, `2h`, `7d`, `30s`, `500ms` (used by
/// `--since`, `fixed_interval` and timeouts) into milliseconds.
pub fn parse_duration_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.')?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult = match unit {
        "ms" => 1.0,
        "s" => 1000.0,
        "m" => 60_000.0,
        "h" | "H" => 3_600_000.0,
        "d" => 86_400_000.0,
        "w" => 7.0 * 86_400_000.0,
        "micros" => 0.001,
        "nanos" => 0.000_001,
        _ => return None,
    };
    let v = n * mult;
    (v.is_finite() && v > 0.0 && v < 1e15).then(|| v.round().max(1.0) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn now_math_and_rounding() {
        let now = ms("2026-11-24T12:34:56.789Z");
        let utc = TimeZone::UTC;
        assert_eq!(
            eval("now-15m", now, false, &utc, None).unwrap(),
            ms("2026-11-24T12:19:56.789Z")
        );
        assert_eq!(
            eval("now-15m/m", now, false, &utc, None).unwrap(),
            ms("2026-11-24T12:19:00Z")
        );
        assert_eq!(
            eval("now/d", now, true, &utc, None).unwrap(),
            ms("2026-11-24T23:59:59.999Z")
        );
        assert_eq!(
            eval("now-1M/M", now, false, &utc, None).unwrap(),
            ms("2026-10-01T00:00:00Z")
        );
        assert_eq!(
            eval("now/w", now, false, &utc, None).unwrap(),
            ms("2026-11-23T00:00:00Z")
        );
        assert_eq!(
            eval("2026-11-24||+1d/d", now, false, &utc, None).unwrap(),
            ms("2026-11-25T00:00:00Z")
        );
        assert!(eval("now-15x", now, false, &utc, None).is_err());
        assert!(eval("yesterday", now, false, &utc, None).is_err());
    }

    #[test]
    fn tz_floor() {
        let tz = TimeZone::get("Europe/Berlin").unwrap();
        assert_eq!(
            floor_to_unit(ms("2026-11-24T23:30:00Z"), CalUnit::Day, &tz),
            ms("2026-11-24T23:00:00Z")
        );
        assert_eq!(
            add_units(ms("2026-03-29T00:00:00+01:00"), 1, CalUnit::Day, &tz),
            ms("2026-03-30T00:00:00+02:00")
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("15m"), Some(900_000));
        assert_eq!(parse_duration_ms("1.5h"), Some(5_400_000));
        assert_eq!(parse_duration_ms("15"), None);
        assert_eq!(parse_duration_ms("5x"), None);
    }

    proptest::proptest! {
        #[test]
        fn floor_is_idempotent_and_below(t in 0i64..4_000_000_000_000, u in 0usize..8) {
            let units = [CalUnit::Second, CalUnit::Minute, CalUnit::Hour, CalUnit::Day, CalUnit::Week, CalUnit::Month, CalUnit::Quarter, CalUnit::Year];
            let unit = units[u];
            let f = floor_to_unit(t, unit, &TimeZone::UTC);
            proptest::prop_assert!(f <= t);
            proptest::prop_assert_eq!(floor_to_unit(f, unit, &TimeZone::UTC), f);
            proptest::prop_assert!(add_units(f, 1, unit, &TimeZone::UTC) > t);
        }

        #[test]
        fn eval_never_panics(s in "\\PC{0,30}") {
            let _ = eval(&s, 0, false, &TimeZone::UTC, None);
        }
    }
}

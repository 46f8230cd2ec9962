//! `timestamp,value` files: the offline input of `analyze anomalies` and
//! the data files of a NAB-layout folder. A bad row is an error naming its
//! line and what is wrong with it, never a silently skipped point.

use std::path::Path;

use anyhow::Context;

/// A series read from a file, in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// Epoch milliseconds, UTC.
    pub timestamps: Vec<i64>,
    /// One value per timestamp.
    pub values: Vec<f64>,
    /// The timestamps as written in the file, to write them back unchanged.
    pub raw_timestamps: Vec<String>,
}

/// Parse a series timestamp: `YYYY-MM-DD HH:MM:SS[.fff]` (naive, read as
/// UTC), RFC 3339, or epoch seconds / milliseconds (told apart by size).
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Some((ms, _)) = crate::event::timestamp::parse_iso_like(s, None) {
        return Some(ms);
    }
    let digits = s.strip_prefix('-').unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let v: f64 = s.parse().ok()?;
        // seconds below 1e11 (until year 5138), milliseconds above
        return crate::event::timestamp::epoch_number_to_millis(v);
    }
    None
}

/// Read `timestamp,value` rows; the first line is a header when its value
/// field is not a number. Blank lines are skipped. Errors name the line.
pub fn read_series(text: &str, source: &str) -> anyhow::Result<Series> {
    let mut out = Series::default();
    let first = first_content_line(text);
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line
            .split(',')
            .map(|f| f.trim().trim_matches('"'))
            .collect();
        if fields.len() != 2 {
            anyhow::bail!(
                "{source}: row {line_no}: expected 2 fields `timestamp,value`, found {} in '{}'",
                fields.len(),
                shorten(line)
            );
        }
        let (ts, val) = (fields[0], fields[1]);
        if i == first && val.parse::<f64>().is_err() {
            continue; // header
        }
        let t = parse_timestamp(ts).with_context(|| {
            format!(
                "{source}: row {line_no}: timestamp '{}' is not `YYYY-MM-DD HH:MM:SS`, RFC 3339 or epoch seconds/milliseconds",
                shorten(ts)
            )
        })?;
        let v: f64 = val
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .with_context(|| {
                format!(
                    "{source}: row {line_no}: value '{}' is not a finite number",
                    shorten(val)
                )
            })?;
        out.timestamps.push(t);
        out.values.push(v);
        out.raw_timestamps.push(ts.to_string());
    }
    Ok(out)
}

/// Read a `timestamp,value` file (see [`read_series`]).
pub fn read_series_file(path: &Path) -> anyhow::Result<Series> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    read_series(&text, &path.display().to_string())
}

fn first_content_line(text: &str) -> usize {
    text.lines().position(|l| !l.trim().is_empty()).unwrap_or(0)
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_csv_reads_all_timestamp_forms_and_optional_header() {
        let with = "timestamp,value\n2014-02-14 14:30:00,1.5\n2014-02-14T14:35:00Z,2\n1392388800,3\n1392388800000,4\n";
        let s = read_series(with, "x").unwrap();
        // 2014-02-14 14:30:00 UTC = 1392388200 s (by the calendar)
        assert_eq!(
            s.timestamps,
            vec![
                1_392_388_200_000,
                1_392_388_500_000,
                1_392_388_800_000,
                1_392_388_800_000
            ]
        );
        assert_eq!(s.values, vec![1.5, 2.0, 3.0, 4.0]);
        let without = read_series("1392388800,3\n\n1392388860,5\n", "x").unwrap();
        assert_eq!(without.values, vec![3.0, 5.0]);
    }

    #[test]
    fn series_csv_garbage_rows_name_the_row_and_the_problem() {
        let cases = [
            (
                "timestamp,value\n2014-02-14 14:30:00,1\n2014-02-14 14:35:00,abc\n",
                "row 3: value 'abc'",
            ),
            (
                "timestamp,value\nyesterday,1\n",
                "row 2: timestamp 'yesterday'",
            ),
            (
                "2014-02-14 14:30:00,1\n2014-02-14 14:35:00\n",
                "row 2: expected 2 fields",
            ),
            (
                "2014-02-14 14:30:00,1\n2014-02-14 14:35:00,1,2\n",
                "row 2: expected 2 fields",
            ),
            (
                "2014-02-14 14:30:00,1\n2014-02-14 14:35:00,NaN\n",
                "row 2: value 'NaN' is not a finite number",
            ),
            (
                "2014-02-14 14:30:00,1\n2014-13-14 14:35:00,1\n",
                "row 2: timestamp '2014-13-14 14:35:00'",
            ),
        ];
        for (text, want) in cases {
            let e = format!("{:#}", read_series(text, "in.csv").unwrap_err());
            assert!(e.contains(want), "{e:?} should contain {want:?}");
            assert!(e.starts_with("in.csv: "), "{e}");
        }
    }
}

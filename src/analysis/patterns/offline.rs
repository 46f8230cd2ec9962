//! `analyze patterns --input FILE`: mine a log file without a server and
//! write `LineId,EventId,EventTemplate` per line, as the Loghub benchmark's
//! structured files have them.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use anyhow::Context;

use super::loghub::{mine_lines, LogFormat};

/// Mines `input` (one message per line; with `format`, the `<Content>` of
/// each line) and writes the CSV to `out`. Returns the number of lines.
pub fn mine_file(input: &Path, format: Option<&str>, out: &mut dyn Write) -> anyhow::Result<usize> {
    let fmt = match format {
        Some(f) => LogFormat::parse(f)?,
        None => LogFormat::parse("<Content>")?,
    };
    let file =
        std::fs::File::open(input).with_context(|| format!("cannot read {}", input.display()))?;
    let mut rd = BufReader::new(file);
    let mut lines: Vec<String> = Vec::new();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = rd
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("cannot read {}", input.display()))?;
        if n == 0 {
            break;
        }
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        // invalid UTF-8 is kept as replacement characters, never refused
        lines.push(String::from_utf8_lossy(&buf).into_owned());
    }
    let parsed = mine_lines(lines.iter().map(|l| fmt.content(l)));
    let mut w = csv::Writer::from_writer(out);
    w.write_record(["LineId", "EventId", "EventTemplate"])?;
    for (i, p) in parsed.iter().enumerate() {
        w.write_record([(i + 1).to_string().as_str(), &p.event_id, &p.template])?;
    }
    w.flush().context("writing the CSV")?;
    Ok(parsed.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_row_per_line_with_templates() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.log");
        std::fs::write(
            &input,
            b"2026-11-24 10:00:00 INFO db: Connection from 10.0.0.1 closed\r\n\
              2026-11-24 10:00:01 INFO db: Connection from 10.0.0.2 closed\n\
              2026-11-24 10:00:02 WARN db: disk \"/data\" at 91%\n\
              2026-11-24 10:00:03 INFO db: bad \xff byte\n",
        )
        .unwrap();
        let mut out = Vec::new();
        let n = mine_file(
            &input,
            Some("<Date> <Time> <Level> <Component>: <Content>"),
            &mut out,
        )
        .unwrap();
        assert_eq!(n, 4);
        let text = String::from_utf8(out).unwrap();
        let rows: Vec<Vec<String>> = csv::Reader::from_reader(text.as_bytes())
            .records()
            .map(|r| r.unwrap().iter().map(String::from).collect())
            .collect();
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0][0], "1");
        assert_eq!(rows[0][1], rows[1][1], "same kind of line, same id");
        assert_eq!(rows[0][2], "Connection from <IP> closed");
        assert_ne!(rows[2][1], rows[0][1]);
        assert_eq!(rows[3][2], "bad \u{fffd} byte");
    }
}

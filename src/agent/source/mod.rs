//! Agent sources: where lines come from (`tail`, `stdin`), and what every
//! source does with a line: limit its length, repair its UTF-8, join
//! multiline events, parse it into a record, and pack it into chunks that
//! carry the file positions they cover.

pub mod stdin;
pub mod syslog;
pub mod tail;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::positions::{FileKey, Mark};
use crate::forward::message;

/// How a source turns a line into a record: the parsers of `crate::parse`.
pub use crate::parse::LineParser as Parser;

/// How lines join into multiline events (stack traces).
#[derive(Debug, Clone)]
pub enum Multiline {
    /// A line matching this starts a new event; others continue it.
    Start(regex::Regex),
    /// A line matching this continues the event; others start a new one.
    Continue(regex::Regex),
    /// A line starting with a space or tab continues the event.
    Indent,
}

impl Multiline {
    /// Whether `line` begins a new event.
    pub fn starts_event(&self, line: &str) -> bool {
        match self {
            Multiline::Start(r) => r.is_match(line),
            Multiline::Continue(r) => !r.is_match(line),
            Multiline::Indent => !line.starts_with([' ', '\t']),
        }
    }
}

/// What to do with lines over the length limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LongLines {
    /// Emit the line in pieces of at most the limit.
    Split,
    /// Drop the whole line.
    Drop,
}

/// Counters per source, logged and served as metrics.
#[derive(Default, Debug)]
pub struct SourceMetrics {
    pub events: AtomicU64,
    pub bytes: AtomicU64,
    pub lines_split: AtomicU64,
    pub lines_dropped: AtomicU64,
    pub invalid_utf8: AtomicU64,
    pub parse_failures: AtomicU64,
    /// Events a transform dropped (`drop_if`, `keep_if`, `sample`).
    pub dropped: AtomicU64,
    pub rotations: AtomicU64,
    pub truncations: AtomicU64,
    pub files: AtomicU64,
}

/// Settings every source shares.
#[derive(Debug, Clone)]
pub struct LineOptions {
    pub tag: String,
    pub parser: Parser,
    pub max_line_bytes: usize,
    pub long_lines: LongLines,
    /// A line matching this starts a new event; others continue the last.
    pub multiline: Option<Multiline>,
    /// Emit a pending multiline event after this long without a new line.
    pub multiline_flush: Duration,
    /// Add the file path under this key.
    pub path_key: Option<String>,
    /// Added as `host` to records without one.
    pub hostname: String,
    /// Applied to each record after parsing; may drop it.
    pub transforms: std::sync::Arc<Vec<crate::pipeline::transform::Transform>>,
}

/// Turns raw bytes of one stream (file or stdin) into events.
#[derive(Debug, Default)]
pub struct LineSplitter {
    /// Bytes of an unfinished line.
    partial: Vec<u8>,
    /// Inside a too-long line being dropped.
    dropping: bool,
    /// A multiline event being assembled, with the offset after its last line.
    pending: Option<(String, u64, Instant)>,
}

/// A finished event: its text and the stream offset just after it.
pub struct Line {
    pub text: String,
    pub end: u64,
}

impl LineSplitter {
    /// Feed bytes read at stream offset `at`; complete events go to `out`.
    pub fn feed(
        &mut self,
        data: &[u8],
        at: u64,
        opts: &LineOptions,
        m: &SourceMetrics,
        out: &mut Vec<Line>,
    ) {
        let mut start = 0;
        while start < data.len() {
            match memchr_nl(&data[start..]) {
                Some(i) => {
                    let end_off = at + (start + i + 1) as u64;
                    if self.dropping {
                        self.dropping = false;
                        self.partial.clear();
                    } else {
                        self.partial.extend_from_slice(&data[start..start + i]);
                        let line = std::mem::take(&mut self.partial);
                        self.line(line, end_off, opts, m, out);
                    }
                    start += i + 1;
                }
                None => {
                    if !self.dropping {
                        self.partial.extend_from_slice(&data[start..]);
                        if self.partial.len() > opts.max_line_bytes {
                            let end_off = at + data.len() as u64;
                            match opts.long_lines {
                                LongLines::Split => {
                                    m.lines_split.fetch_add(1, Ordering::Relaxed);
                                    while self.partial.len() > opts.max_line_bytes {
                                        let cut = utf8_cut(&self.partial, opts.max_line_bytes);
                                        let rest = self.partial.split_off(cut);
                                        let piece = std::mem::replace(&mut self.partial, rest);
                                        // a split piece is not a safe restart point
                                        // mid-line, but the bytes before it are
                                        // emitted: count it as ending here
                                        let end = end_off - self.partial.len() as u64;
                                        self.line(piece, end, opts, m, out);
                                    }
                                }
                                LongLines::Drop => {
                                    m.lines_dropped.fetch_add(1, Ordering::Relaxed);
                                    self.partial.clear();
                                    self.dropping = true;
                                }
                            }
                        }
                    }
                    start = data.len();
                }
            }
        }
    }

    /// A complete line: strip `\r`, repair UTF-8, join multiline.
    fn line(
        &mut self,
        mut raw: Vec<u8>,
        end: u64,
        opts: &LineOptions,
        m: &SourceMetrics,
        out: &mut Vec<Line>,
    ) {
        if raw.last() == Some(&b'\r') {
            raw.pop();
        }
        if raw.len() > opts.max_line_bytes {
            // a line that arrived whole in one read
            match opts.long_lines {
                LongLines::Drop => {
                    m.lines_dropped.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                LongLines::Split => {
                    m.lines_split.fetch_add(1, Ordering::Relaxed);
                    while raw.len() > opts.max_line_bytes {
                        let cut = utf8_cut(&raw, opts.max_line_bytes);
                        let rest = raw.split_off(cut);
                        let piece = std::mem::replace(&mut raw, rest);
                        let e = end - raw.len() as u64 - 1;
                        self.text(piece, e, opts, m, out);
                    }
                }
            }
        }
        self.text(raw, end, opts, m, out);
    }

    fn text(
        &mut self,
        raw: Vec<u8>,
        end: u64,
        opts: &LineOptions,
        m: &SourceMetrics,
        out: &mut Vec<Line>,
    ) {
        let text = match String::from_utf8(raw) {
            Ok(s) => s,
            Err(e) => {
                m.invalid_utf8.fetch_add(1, Ordering::Relaxed);
                String::from_utf8_lossy(e.as_bytes()).into_owned()
            }
        };
        let Some(ml) = &opts.multiline else {
            out.push(Line { text, end });
            return;
        };
        if ml.starts_event(&text) {
            if let Some((t, e, _)) = self.pending.take() {
                out.push(Line { text: t, end: e });
            }
            self.pending = Some((text, end, Instant::now()));
        } else if let Some((t, e, at)) = &mut self.pending {
            if t.len() + text.len() < opts.max_line_bytes.saturating_mul(4) {
                t.push('\n');
                t.push_str(&text);
            } else {
                m.lines_dropped.fetch_add(1, Ordering::Relaxed);
            }
            *e = end;
            *at = Instant::now();
        } else {
            // continuation with nothing to continue: an event of its own
            out.push(Line { text, end });
        }
    }

    /// Emit a pending multiline event if it waited long enough (or `force`).
    pub fn flush_pending(&mut self, opts: &LineOptions, force: bool, out: &mut Vec<Line>) {
        if let Some((_, _, at)) = &self.pending {
            if force || at.elapsed() >= opts.multiline_flush {
                if let Some((t, e, _)) = self.pending.take() {
                    out.push(Line { text: t, end: e });
                }
            }
        }
    }

    /// Emit an unfinished last line (the file will not grow any more).
    pub fn flush_partial(
        &mut self,
        end: u64,
        opts: &LineOptions,
        m: &SourceMetrics,
        out: &mut Vec<Line>,
    ) {
        if !self.partial.is_empty() && !self.dropping {
            let raw = std::mem::take(&mut self.partial);
            self.line(raw, end, opts, m, out);
        }
        self.flush_pending(opts, true, out);
    }

    /// Forget everything (the file was truncated).
    pub fn reset(&mut self) {
        *self = LineSplitter::default();
    }

    /// Whether a multiline event is waiting.
    pub fn has_pending(&self) -> bool {
        self.pending.is_some()
    }
}

fn memchr_nl(b: &[u8]) -> Option<usize> {
    b.iter().position(|c| *c == b'\n')
}

/// The largest cut point at or below `max` that does not split a UTF-8
/// sequence (valid text stays valid when split).
fn utf8_cut(b: &[u8], max: usize) -> usize {
    let mut cut = max.min(b.len());
    while cut > 0 && cut < b.len() && (b[cut] & 0xC0) == 0x80 && max - cut < 4 {
        cut -= 1;
    }
    if cut == 0 {
        max.min(b.len())
    } else {
        cut
    }
}

/// Build a record from an event's text; `None` when a transform drops it.
pub fn record(
    text: String,
    path: Option<&str>,
    opts: &LineOptions,
    m: &SourceMetrics,
) -> Option<Map<String, Value>> {
    let (mut rec, ok) = opts.parser.record(&text);
    if !ok {
        m.parse_failures.fetch_add(1, Ordering::Relaxed);
    }
    if !rec.contains_key("host") {
        rec.insert("host".into(), Value::String(opts.hostname.clone()));
    }
    if let (Some(k), Some(p)) = (&opts.path_key, path) {
        rec.insert(k.clone(), Value::String(p.to_string()));
    }
    if !opts.transforms.is_empty() {
        let out = crate::pipeline::transform::apply(
            &opts.transforms,
            &mut rec,
            &opts.hostname,
            crate::event::now_ms(),
        );
        if out.drop {
            m.dropped.fetch_add(1, Ordering::Relaxed);
            return None;
        }
    }
    Some(rec)
}

/// A batch of events of one tag, ready to send, with the positions it
/// completes.
#[derive(Debug)]
pub struct Chunk {
    pub tag: String,
    /// Entries packed back to back (PackedForward payload).
    pub packed: Vec<u8>,
    pub events: u64,
    pub marks: Vec<Mark>,
}

/// Collects events into chunks of bounded size and age.
pub struct ChunkBuilder {
    tag: String,
    packed: Vec<u8>,
    events: u64,
    marks: HashMap<FileKey, Mark>,
    order: Vec<FileKey>,
    started: Option<Instant>,
    pub max_bytes: usize,
    pub max_events: u64,
    pub max_age: Duration,
}

impl ChunkBuilder {
    pub fn new(tag: &str, max_bytes: usize, max_events: u64, max_age: Duration) -> ChunkBuilder {
        ChunkBuilder {
            tag: tag.to_string(),
            packed: Vec::new(),
            events: 0,
            marks: HashMap::new(),
            order: Vec::new(),
            started: None,
            max_bytes,
            max_events,
            max_age,
        }
    }

    pub fn add(&mut self, time_ns: i64, record: &Map<String, Value>) {
        if self.started.is_none() {
            self.started = Some(Instant::now());
        }
        message::write_entry(&mut self.packed, time_ns, record);
        self.events += 1;
    }

    /// Record that everything up to this mark is in the chunk.
    pub fn mark(&mut self, m: Mark) {
        if self.started.is_none() {
            self.started = Some(Instant::now());
        }
        if !self.marks.contains_key(&m.key) {
            self.order.push(m.key);
        }
        self.marks.insert(m.key, m);
    }

    pub fn is_full(&self) -> bool {
        self.packed.len() >= self.max_bytes || self.events >= self.max_events
    }

    /// Events in the chunk being built.
    pub fn events(&self) -> u64 {
        self.events
    }

    pub fn is_due(&self) -> bool {
        self.started.is_some_and(|s| s.elapsed() >= self.max_age)
    }

    pub fn take(&mut self) -> Option<Chunk> {
        self.started?;
        self.started = None;
        let mut marks = Vec::with_capacity(self.order.len());
        for k in self.order.drain(..) {
            if let Some(m) = self.marks.remove(&k) {
                marks.push(m);
            }
        }
        Some(Chunk {
            tag: self.tag.clone(),
            packed: std::mem::take(&mut self.packed),
            events: std::mem::take(&mut self.events),
            marks,
        })
    }
}

/// A path for records and logs.
pub fn display(p: &std::path::Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Current time in nanoseconds.
pub fn now_ns() -> i64 {
    jiff::Timestamp::now().as_nanosecond() as i64
}

/// Placeholder for paths in marks of sources without files.
pub fn no_path() -> PathBuf {
    PathBuf::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(max: usize, long: LongLines, ml: Option<&str>) -> LineOptions {
        LineOptions {
            tag: "t".into(),
            parser: Parser::None,
            max_line_bytes: max,
            long_lines: long,
            multiline: ml.map(|r| Multiline::Start(regex::Regex::new(r).unwrap())),
            multiline_flush: Duration::from_millis(0),
            path_key: None,
            hostname: "h".into(),
            transforms: Default::default(),
        }
    }

    fn run(input: &[&[u8]], o: &LineOptions) -> (Vec<(String, u64)>, SourceMetrics) {
        let m = SourceMetrics::default();
        let mut s = LineSplitter::default();
        let mut out = Vec::new();
        let mut at = 0;
        for piece in input {
            s.feed(piece, at, o, &m, &mut out);
            at += piece.len() as u64;
        }
        s.flush_pending(o, true, &mut out);
        (out.into_iter().map(|l| (l.text, l.end)).collect(), m)
    }

    #[test]
    fn lines_across_reads_with_offsets() {
        let o = opts(100, LongLines::Split, None);
        let (lines, _) = run(&[b"ab", b"c\r\nde\n", b"f"], &o);
        assert_eq!(lines, vec![("abc".into(), 5), ("de".into(), 8)]);
    }

    #[test]
    fn long_lines_split_or_drop() {
        let o = opts(4, LongLines::Split, None);
        let (lines, m) = run(&[b"abcdefghij\nxy\n"], &o);
        let texts: Vec<&str> = lines.iter().map(|l| l.0.as_str()).collect();
        assert_eq!(texts, vec!["abcd", "efgh", "ij", "xy"]);
        assert_eq!(m.lines_split.load(Ordering::Relaxed), 1);
        let o = opts(4, LongLines::Drop, None);
        let (lines, m) = run(&[b"abc", b"defgh", b"ij\nxy\n"], &o);
        assert_eq!(lines, vec![("xy".into(), 14)]);
        assert_eq!(m.lines_dropped.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn invalid_utf8_is_replaced_and_counted() {
        let o = opts(100, LongLines::Split, None);
        let (lines, m) = run(&[b"ok \xff\xfe end\n"], &o);
        assert_eq!(lines[0].0, "ok \u{fffd}\u{fffd} end");
        assert_eq!(m.invalid_utf8.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn multiline_stack_traces() {
        let o = opts(1000, LongLines::Split, Some(r"^\d{4}-"));
        let input = b"2026-01-01 boom\n  at a.b(C.java:1)\n  at d.e(F.java:2)\n2026-01-01 next\n";
        let (lines, _) = run(&[input], &o);
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0].0,
            "2026-01-01 boom\n  at a.b(C.java:1)\n  at d.e(F.java:2)"
        );
        assert_eq!(lines[0].1, 54);
        assert_eq!(lines[1].0, "2026-01-01 next");
    }

    #[test]
    fn multiline_by_continuation_or_indentation() {
        let input = b"Traceback (most recent call last):\n  File \"a.py\", line 1\nValueError: x\nnext event\n";
        let mut o = opts(1000, LongLines::Split, None);
        o.multiline = Some(Multiline::Indent);
        let (lines, _) = run(&[input], &o);
        let texts: Vec<&str> = lines.iter().map(|l| l.0.as_str()).collect();
        assert_eq!(
            texts,
            vec![
                "Traceback (most recent call last):\n  File \"a.py\", line 1",
                "ValueError: x",
                "next event"
            ]
        );
        o.multiline = Some(Multiline::Continue(
            regex::Regex::new(r"^(\s|ValueError)").unwrap(),
        ));
        let (lines, _) = run(&[input], &o);
        let texts: Vec<&str> = lines.iter().map(|l| l.0.as_str()).collect();
        assert_eq!(
            texts,
            vec![
                "Traceback (most recent call last):\n  File \"a.py\", line 1\nValueError: x",
                "next event"
            ]
        );
    }

    #[test]
    fn json_records_get_host() {
        let m = SourceMetrics::default();
        let mut o = opts(100, LongLines::Split, None);
        o.parser = Parser::Json;
        let r = record(r#"{"a":1}"#.into(), None, &o, &m).unwrap();
        assert_eq!(Value::Object(r), serde_json::json!({"a":1,"host":"h"}));
        let r = record("not json".into(), None, &o, &m).unwrap();
        assert_eq!(r["tags"], serde_json::json!(["_jsonparsefailure"]));
        assert_eq!(m.parse_failures.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn transforms_run_in_the_agent() {
        let m = SourceMetrics::default();
        let mut o = opts(100, LongLines::Split, None);
        o.parser = Parser::Json;
        let spec: toml::Table = toml::from_str(
            "[[t]]\ndrop_if = 'level == \"DEBUG\"'\n[[t]]\nadd_fields = { node = \"%{@receiver}\" }\n[[t]]\nredact = { patterns = [\"email\"] }\n",
        )
        .unwrap();
        let ts = spec["t"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                let s: crate::pipeline::transform::TransformSpec = v.clone().try_into().unwrap();
                crate::pipeline::transform::Transform::build(&s).unwrap()
            })
            .collect();
        o.transforms = std::sync::Arc::new(ts);
        assert!(record(r#"{"level":"DEBUG"}"#.into(), None, &o, &m).is_none());
        let r = record(
            r#"{"level":"INFO","msg":"mail bob@example.com"}"#.into(),
            None,
            &o,
            &m,
        )
        .unwrap();
        assert_eq!(r["node"], "h");
        assert!(!r["msg"].as_str().unwrap().contains("bob@"), "{r:?}");
        assert_eq!(m.dropped.load(Ordering::Relaxed), 1);
    }

    proptest::proptest! {
        #[test]
        fn every_line_comes_out_once(lines in proptest::collection::vec("[a-z ]{0,30}", 0..30), cuts in proptest::collection::vec(1usize..50, 1..10)) {
            let o = opts(1 << 20, LongLines::Split, None);
            let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
            let bytes = text.as_bytes();
            let mut pieces = Vec::new();
            let mut at = 0;
            for c in cuts.iter().cycle() {
                if at >= bytes.len() { break; }
                let end = (at + c).min(bytes.len());
                pieces.push(&bytes[at..end]);
                at = end;
            }
            let (out, _) = run(&pieces, &o);
            let got: Vec<String> = out.iter().map(|l| l.0.clone()).collect();
            proptest::prop_assert_eq!(got, lines);
        }
    }
}

//! The parsers of arbitrary text must never panic: syslog, logfmt and
//! key/value, the access-log preset, grok (library patterns on the input,
//! and the input's first line compiled as a grok pattern and matched
//! against the rest), transform conditions, and multiline assembly fed in
//! two pieces.
#![no_main]
use libfuzzer_sys::fuzz_target;
use logweave::agent::source::{LineOptions, LineSplitter, LongLines, Multiline, Parser, SourceMetrics};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = logweave::parse::syslog::parse(&text, 1_795_780_800_000, 3600);
    let _ = logweave::parse::logfmt::parse_logfmt(&text);
    let _ = logweave::parse::logfmt::parse_kv(&text, " ;", "=");
    static ACCESS: std::sync::OnceLock<logweave::parse::pattern::RegexParser> = std::sync::OnceLock::new();
    let _ = ACCESS.get_or_init(logweave::parse::pattern::access_log).parse(&text);
    static GROK: std::sync::OnceLock<Option<logweave::parse::LineParser>> = std::sync::OnceLock::new();
    let grok = GROK.get_or_init(|| {
        let opts = logweave::parse::ParserOptions {
            patterns: vec!["%{COMBINEDAPACHELOG}".into(), "%{SYSLOGLINE}".into()],
            ..Default::default()
        };
        logweave::parse::LineParser::build("grok", &opts).ok()
    });
    if let Some(g) = grok {
        let _ = g.record(&text);
    }
    if let Some((pattern, line)) = text.split_once('\n') {
        let opts = logweave::parse::ParserOptions {
            pattern: Some(pattern.to_string()),
            ..Default::default()
        };
        if let Ok(p) = logweave::parse::LineParser::build("grok", &opts) {
            let _ = p.record(line);
        }
    }
    if let Ok(c) = logweave::pipeline::condition::parse(&text) {
        let _ = c.eval(&serde_json::Map::new());
    }
    let opts = LineOptions {
        tag: "t".into(),
        parser: Parser::Logfmt,
        max_line_bytes: 64,
        long_lines: if data.len() % 2 == 0 { LongLines::Split } else { LongLines::Drop },
        multiline: Some(Multiline::Indent),
        multiline_flush: std::time::Duration::from_secs(0),
        path_key: None,
        hostname: "h".into(),
    };
    let m = SourceMetrics::default();
    let mut s = LineSplitter::default();
    let mut out = Vec::new();
    let cut = data.first().map_or(0, |b| *b as usize).min(data.len());
    s.feed(&data[..cut], 0, &opts, &m, &mut out);
    s.feed(&data[cut..], cut as u64, &opts, &m, &mut out);
    s.flush_partial(data.len() as u64, &opts, &m, &mut out);
    for l in &out {
        assert!(l.end <= data.len() as u64);
    }
});

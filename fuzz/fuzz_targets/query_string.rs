//! The Lucene query-string parser (both flavours) must never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use logweave::query::lucene::{parse, Options};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = parse(s, &Options::default());
        let _ = parse(s, &Options { simple: true, ..Default::default() });
    }
});

//! Any JSON body given to `_search` parses to a request or a clean error.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = logweave::query::es_dsl::parse_search_body(&v);
    }
});

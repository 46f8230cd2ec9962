//! The `_bulk` body parser must never panic, whatever the bytes, and every
//! item it reports must correspond to an action line (a malformed one
//! refuses the whole body).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(items) = logweave::input::bulk::parse(data) {
        let lines = data.split(|b| *b == b'\n').count();
        assert!(items.len() <= lines);
    }
});

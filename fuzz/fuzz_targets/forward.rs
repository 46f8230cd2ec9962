//! The forward protocol decoder must never panic or allocate without bound,
//! whatever the bytes: the stream scanner (fed in two pieces, as TCP may
//! split it), the client message decoder and the server reply decoder.
#![no_main]
use libfuzzer_sys::fuzz_target;
use logweave::forward::message::{decode_client, decode_server, Limits};
use logweave::forward::msgpack::FrameScanner;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_frame_bytes: 1 << 20,
        max_decompressed_bytes: 4 << 20,
        max_depth: 64,
    };
    let mut scanner = FrameScanner::new(limits.max_frame_bytes, limits.max_depth);
    let cut = data.first().map_or(0, |b| *b as usize).min(data.len());
    let whole = match scanner.advance(&data[..cut]) {
        Ok(Some(n)) => Some(n),
        Ok(None) => scanner.advance(data).ok().flatten(),
        Err(_) => None,
    };
    if let Some(n) = whole {
        assert!(n <= data.len());
        let _ = decode_client(&data[..n], &limits);
    }
    let _ = decode_server(data);
});

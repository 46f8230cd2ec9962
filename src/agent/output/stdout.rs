//! The `stdout` output, for debugging a source: one JSON line per event,
//! `{"tag":..,"time":"RFC 3339","record":{..}}`.

use std::io::Write;

use super::Deliver;
use crate::forward::message::{self, ClientMessage, Limits};

/// Prints events to standard output.
pub struct StdoutSink;

impl Deliver for StdoutSink {
    fn deliver(&mut self, frame: &[u8], _chunk_id: &str) -> Result<(), String> {
        let batch = match message::decode_client(frame, &Limits::default()) {
            Ok(ClientMessage::Events(b)) => b,
            Ok(ClientMessage::Ping(_)) => return Ok(()),
            Err(e) => return Err(e.to_string()),
        };
        let mut out = std::io::stdout().lock();
        for e in batch.entries {
            let line = serde_json::json!({
                "tag": batch.tag,
                "time": crate::forward::rfc3339(e.time_ns),
                "record": e.record,
            });
            writeln!(out, "{line}").map_err(|e| format!("writing to stdout: {e}"))?;
        }
        out.flush().map_err(|e| format!("writing to stdout: {e}"))
    }
}

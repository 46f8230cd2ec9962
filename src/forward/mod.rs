//! The Fluentd forward protocol (specification v1), shared by the server's
//! forward input and the agent's forward output: MessagePack framing, the
//! four event modes, acknowledgements and the shared-key handshake.

pub mod handshake;
pub mod message;
pub mod msgpack;

/// RFC 3339 UTC text of a time in nanoseconds: milliseconds when that is
/// exact, else nanoseconds (so forward EventTimes keep their precision).
pub fn rfc3339(time_ns: i64) -> String {
    let secs = time_ns.div_euclid(1_000_000_000);
    let nanos = time_ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let (y, m, d) = crate::event::timestamp::civil_from_days(days);
    let s = secs.rem_euclid(86_400);
    let (hh, mm, ss) = (s / 3600, s / 60 % 60, s % 60);
    if nanos % 1_000_000 == 0 {
        format!(
            "{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{:03}Z",
            nanos / 1_000_000
        )
    } else {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{nanos:09}Z")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_precision() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            super::rfc3339(1_764_367_488_123_000_000),
            "2025-11-28T22:04:48.123Z"
        );
        assert_eq!(
            super::rfc3339(1_764_367_488_000_000_005),
            "2025-11-28T22:04:48.000000005Z"
        );
    }
}

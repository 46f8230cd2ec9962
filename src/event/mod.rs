//! The event model: an original record (`_source`) plus the few things every
//! later stage needs (`@timestamp`, target index, id) and the normalised
//! level/service/host used by analysis.

pub mod fields;
pub mod timestamp;

use bytes::Bytes;
pub use fields::{detect_host, detect_level, detect_service, Level};
pub use timestamp::EpochMillis;

/// How a write treats an existing document with the same id (the `_bulk`
/// action it came from).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOp {
    /// Replace any document with this id.
    Index,
    /// Fail if a document with this id exists.
    Create,
}

/// One event on its way to the store: what the write-ahead log records and
/// the indexer applies.
#[derive(Debug, Clone)]
pub struct Event {
    /// Concrete index name (templates already expanded).
    pub index: String,
    /// Document id; generated at ingest when the client gave none.
    pub id: String,
    /// Whether the client chose the id (then replays must replace, not add).
    pub explicit_id: bool,
    pub op: WriteOp,
    /// `@timestamp`, epoch milliseconds UTC.
    pub timestamp_ms: EpochMillis,
    /// The original record as JSON text (`_source`), kept byte for byte.
    pub source: Bytes,
}

/// Field names, in order of preference, where a record's own time is found.
pub const TIMESTAMP_FIELDS: &[&str] = &[
    "@timestamp",
    "timestamp",
    "time",
    "ts",
    "datetime",
    "date",
    "eventTime",
    "event_time",
    "@t",
    "t",
];

/// Find the record's own timestamp (see [`TIMESTAMP_FIELDS`]).
pub fn record_timestamp(
    record: &serde_json::Map<String, serde_json::Value>,
    tz: Option<&jiff::tz::TimeZone>,
    now_ms: EpochMillis,
) -> Option<EpochMillis> {
    for key in TIMESTAMP_FIELDS {
        let Some(v) = record.get(*key) else { continue };
        let found = match v {
            serde_json::Value::String(s) => timestamp::parse_timestamp_str(s, tz, now_ms),
            serde_json::Value::Number(n) => n.as_f64().and_then(timestamp::epoch_number_to_millis),
            _ => None,
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

/// Current time in epoch milliseconds.
pub fn now_ms() -> EpochMillis {
    jiff::Timestamp::now().as_millisecond()
}

/// A new random document id, 20 URL-safe characters like Elasticsearch's.
pub fn new_id() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::rng();
    (0..20)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

//! The event model: an original record (`_source`) plus the few things every
//! later stage needs (`@timestamp`, target index, id) and the normalised
//! level/service/host used by analysis.

pub mod fields;
pub mod timestamp;

use bytes::Bytes;
pub use fields::{detect, Level};
pub use timestamp::EpochMillis;

/// How a write treats an existing document with the same id (the `_bulk`
/// action it came from).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOp {
    /// Replace any document with this id.
    Index,
    /// Fail if a document with this id exists.
    Create,
    /// Remove the document with this id (no source).
    Delete,
}

/// How new fields of an event are mapped: dynamically from their values
/// (Elasticsearch's default), or with the field types an input knows.
/// Recorded in the write-ahead log so a replay maps the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldProfile {
    #[default]
    Dynamic,
    /// Syslog metadata (host, level, facility, severity, appname, procid,
    /// msgid, structured data, protocol) are exact values, mapped `keyword`
    /// as the ECS templates do: no text analysis, which is most of their
    /// indexing cost. Only `message` is full text.
    Syslog,
}

impl FieldProfile {
    /// Whether a new string field at `path` is a keyword under this profile.
    pub fn keyword(self, path: &str) -> bool {
        match self {
            FieldProfile::Dynamic => false,
            FieldProfile::Syslog => {
                matches!(
                    path,
                    "facility"
                        | "severity"
                        | "appname"
                        | "procid"
                        | "msgid"
                        | "host"
                        | "level"
                        | "syslog_protocol"
                ) || path.starts_with("sd.")
            }
        }
    }

    /// Whether a text field at `path` also keeps its exact value (the
    /// `.keyword` sub-field). Syslog's `message` does not, as in the ECS
    /// templates (`match_only_text`): a column of nearly unique values costs
    /// indexing time and is rarely aggregated; it behaves like a value over
    /// `ignore_above`.
    pub fn keyword_column(self, path: &str) -> bool {
        !(self == FieldProfile::Syslog && path == "message")
    }

    /// WAL code.
    pub fn code(self) -> u8 {
        match self {
            FieldProfile::Dynamic => 0,
            FieldProfile::Syslog => 1,
        }
    }

    /// From a WAL code.
    pub fn from_code(c: u8) -> Option<FieldProfile> {
        match c {
            0 => Some(FieldProfile::Dynamic),
            1 => Some(FieldProfile::Syslog),
            _ => None,
        }
    }
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
    /// The record already parsed by the input, so the indexer need not parse
    /// it again (absent for events replayed from the log).
    pub parsed: Option<Box<serde_json::Map<String, serde_json::Value>>>,
    /// How its new fields are mapped.
    pub profile: FieldProfile,
    /// The pattern id the miner gave its message, set by the indexer just
    /// before the store applies it (not in the write-ahead log: a replay
    /// mines again).
    pub pattern: Option<u64>,
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
    // syslog-ng's JSON templates (`$(format-json --scope rfc5424)`)
    "ISODATE",
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

/// A new document id: 20 URL-safe characters like Elasticsearch's, built
/// from time, a process-wide counter and a per-process random part (see
/// [`DocId`]). Ids made close together share prefixes, and the store keeps
/// them as three numbers in columns instead of as text.
pub fn new_doc_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static SEQ: AtomicU64 = AtomicU64::new(0);
    static NODE: OnceLock<u64> = OnceLock::new();
    let node = *NODE.get_or_init(|| {
        use rand::Rng;
        rand::rng().random::<u64>() & DocId::MASK
    });
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    DocId {
        ms: (now_ms() as u64) & DocId::MASK,
        seq: seq & DocId::MASK,
        node,
    }
    .encode()
}

/// The three 40-bit parts of a generated id: milliseconds (the low 40
/// bits, which wrap every ~35 years), a sequence number and a per-process random node. Every 20-character
/// string over the id alphabet is one (120 bits), so a decoded id always
/// encodes back to the same text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DocId {
    pub ms: u64,
    pub seq: u64,
    pub node: u64,
}

const ID_ALPHABET: &[u8; 64] = b"-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";

impl DocId {
    /// Each part keeps 40 bits.
    pub const MASK: u64 = (1 << 40) - 1;

    /// The 20-character text.
    pub fn encode(&self) -> String {
        let mut b = [0u8; 15];
        b[..5].copy_from_slice(&self.ms.to_be_bytes()[3..]);
        b[5..10].copy_from_slice(&self.seq.to_be_bytes()[3..]);
        b[10..].copy_from_slice(&self.node.to_be_bytes()[3..]);
        let mut out = String::with_capacity(20);
        for chunk in b.chunks(3) {
            let v = (chunk[0] as u32) << 16 | (chunk[1] as u32) << 8 | chunk[2] as u32;
            for shift in [18, 12, 6, 0] {
                out.push(ID_ALPHABET[((v >> shift) & 63) as usize] as char);
            }
        }
        out
    }

    /// The parts of `id`, when it has the generated shape.
    pub fn decode(id: &str) -> Option<DocId> {
        let s = id.as_bytes();
        if s.len() != 20 {
            return None;
        }
        let mut b = [0u8; 15];
        for (i, chunk) in s.chunks(4).enumerate() {
            let mut v = 0u32;
            for &c in chunk {
                let d = ID_ALPHABET.iter().position(|&a| a == c)? as u32;
                v = v << 6 | d;
            }
            b[i * 3] = (v >> 16) as u8;
            b[i * 3 + 1] = (v >> 8) as u8;
            b[i * 3 + 2] = v as u8;
        }
        let part =
            |r: std::ops::Range<usize>| b[r].iter().fold(0u64, |acc, &x| acc << 8 | x as u64);
        Some(DocId {
            ms: part(0..5),
            seq: part(5..10),
            node: part(10..15),
        })
    }
}

/// A new random id (for scroll and index identifiers, where prefix sharing
/// does not matter and guessing should be hard).
pub fn new_id() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::rng();
    (0..20)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_time_from_the_usual_fields() {
        let at = |v: serde_json::Value| record_timestamp(v.as_object().unwrap(), None, 0);
        let ms = 1_794_959_980_000; // 2026-11-17T23:59:40Z
        assert_eq!(
            at(serde_json::json!({"ISODATE": "2026-11-17T23:59:40+00:00"})),
            Some(ms)
        );
        assert_eq!(
            at(
                serde_json::json!({"@timestamp": "2026-11-17T23:59:40Z", "ISODATE": "2020-01-01T00:00:00Z"})
            ),
            Some(ms),
            "@timestamp comes first"
        );
        assert_eq!(at(serde_json::json!({"message": "x"})), None);
    }

    #[test]
    fn doc_ids_are_unique_and_share_prefixes() {
        let ids: Vec<String> = (0..1000).map(|_| new_doc_id()).collect();
        let set: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(set.len(), ids.len());
        assert!(ids.iter().all(|i| i.len() == 20
            && i.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')));
        assert_eq!(ids[0][..4], ids[999][..4]);
    }

    #[test]
    fn doc_ids_decode_to_their_parts_and_back() {
        let a = DocId::decode(&new_doc_id()).expect("a generated id decodes");
        let b = DocId::decode(&new_doc_id()).expect("a generated id decodes");
        assert!(b.seq > a.seq, "other tests may take ids in between");
        assert_eq!(a.node, b.node);
        // the low 40 bits of the time, as the original layout kept
        assert!(((now_ms() as u64) & DocId::MASK).wrapping_sub(a.ms) & DocId::MASK < 60_000);
        let parts = DocId {
            ms: 0x12_3456_789a,
            seq: 1,
            node: DocId::MASK,
        };
        assert_eq!(DocId::decode(&parts.encode()), Some(parts));
        // Every 20-character string over the alphabet round-trips.
        for s in [
            "--------------------",
            "zzzzzzzzzzzzzzzzzzzz",
            "AbC_12-xyz0987654321",
        ] {
            assert_eq!(DocId::decode(s).map(|d| d.encode()).as_deref(), Some(s));
        }
        for bad in [
            "short",
            "explicit-10",
            "aaaaaaaaaaaaaaaaaaa!",
            "aaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert_eq!(DocId::decode(bad), None, "{bad}");
        }
    }
}

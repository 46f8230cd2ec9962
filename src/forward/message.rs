//! Forward protocol messages: what a client sends (the four event modes and
//! PING) decoded from one complete frame, and what each side writes.
//!
//! Modes are told apart as the specification does, by the second element:
//! an array is Forward, bytes are PackedForward (CompressedPackedForward
//! when the option says `compressed: "gzip"`), a time is Message. Unknown
//! option keys (Fluent Bit's `fluent_signal`, ...) are ignored.

use std::io::Read;

use serde_json::{Map, Value};

use super::msgpack::{self, Item, MsgpackError, Reader};

/// Why a frame was refused; the connection that sent it is closed.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error(transparent)]
    Msgpack(#[from] MsgpackError),
    #[error("{0}")]
    Shape(String),
    #[error("gzip: {0}")]
    Gzip(String),
}

fn shape(msg: impl Into<String>) -> ForwardError {
    ForwardError::Shape(msg.into())
}

/// Names for error messages.
fn kind(item: &Item) -> &'static str {
    match item {
        Item::Nil => "nil",
        Item::Bool(_) => "a boolean",
        Item::Uint(_) | Item::Int(_) => "an integer",
        Item::F32(_) | Item::F64(_) => "a float",
        Item::Str(_) => "a string",
        Item::Bin(_) => "binary",
        Item::Ext(..) => "an extension",
        Item::Array(_) => "an array",
        Item::Map(_) => "a map",
    }
}

/// Limits on what one frame may expand to.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest frame, and largest payload inside one.
    pub max_frame_bytes: usize,
    /// Largest gzip payload after decompression.
    pub max_decompressed_bytes: usize,
    /// Deepest nesting of values.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_bytes: 16 << 20,
            max_decompressed_bytes: 64 << 20,
            max_depth: 64,
        }
    }
}

/// One event: time in nanoseconds since the epoch and the record.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub time_ns: i64,
    pub record: Map<String, Value>,
}

/// The handshake reply of a client.
#[derive(Debug, Clone, PartialEq)]
pub struct Ping {
    pub client_hostname: String,
    pub shared_key_salt: Vec<u8>,
    pub shared_key_digest: String,
    pub username: String,
    pub password_digest: String,
}

/// Events of one tag, with the chunk id to acknowledge if the client asked.
#[derive(Debug, Clone, PartialEq)]
pub struct EventBatch {
    pub tag: String,
    pub entries: Vec<Entry>,
    pub chunk: Option<String>,
}

/// What a client may send.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    Ping(Ping),
    Events(EventBatch),
}

fn time_ns(item: &Item) -> Option<i64> {
    match *item {
        Item::Uint(s) => i64::try_from(s).ok()?.checked_mul(1_000_000_000),
        Item::Int(s) => s.checked_mul(1_000_000_000),
        Item::F64(s) => float_secs_ns(s),
        Item::F32(s) => float_secs_ns(s as f64),
        Item::Ext(ty, data) => msgpack::event_time(ty, data),
        _ => None,
    }
}

/// Float seconds to nanoseconds, whole seconds and fraction apart: a
/// float64 of today's epoch seconds times 1e9 is only exact to 256 ns, which
/// would turn `.25` into `.249999872` (and the wrong millisecond).
fn float_secs_ns(s: f64) -> Option<i64> {
    if !s.is_finite() || s.abs() >= 9.0e9 {
        return None;
    }
    let whole = s.trunc();
    let frac = ((s - whole) * 1e9).round() as i64;
    Some(whole as i64 * 1_000_000_000 + frac)
}

fn read_time(r: &mut Reader, what: &str) -> Result<i64, ForwardError> {
    let item = r.item()?;
    time_ns(&item).ok_or_else(|| {
        shape(format!(
            "{what}: time is {}, expected an integer, a float or an EventTime (extension 0 of 8 bytes)",
            kind(&item)
        ))
    })
}

/// `[time, record]`, where time may also be `[time, metadata]` (Fluent Bit).
fn read_entry(r: &mut Reader, n: usize) -> Result<Entry, ForwardError> {
    let what = format!("entry {n}");
    match r.item()? {
        Item::Array(2) => {}
        other => {
            return Err(shape(format!(
                "{what} is {}, expected an array [time, record]",
                match other {
                    Item::Array(_) => "an array of the wrong length",
                    o => kind(&o),
                }
            )))
        }
    }
    let save = r.pos;
    let t = match r.item()? {
        Item::Array(k) if k >= 1 => {
            let t = read_time(r, &what)?;
            for _ in 1..k {
                r.skip()?; // metadata
            }
            t
        }
        _ => {
            r.pos = save;
            read_time(r, &what)?
        }
    };
    let record = read_record(r, &what)?;
    Ok(Entry { time_ns: t, record })
}

fn read_record(r: &mut Reader, what: &str) -> Result<Map<String, Value>, ForwardError> {
    match r.item()? {
        Item::Map(n) => Ok(r.json_map(n)?),
        other => Err(shape(format!(
            "{what}: record is {}, expected a map",
            kind(&other)
        ))),
    }
}

#[derive(Default)]
struct Options {
    chunk: Option<String>,
    gzip: bool,
}

fn read_options(r: &mut Reader) -> Result<Options, ForwardError> {
    let mut o = Options::default();
    let n = match r.item()? {
        Item::Map(n) => n,
        Item::Nil => return Ok(o),
        other => return Err(shape(format!("option is {}, expected a map", kind(&other)))),
    };
    for _ in 0..n {
        let key = r.item()?;
        let key = key.bytes().unwrap_or(b"");
        match key {
            b"chunk" => match r.item()? {
                Item::Str(b) | Item::Bin(b) => o.chunk = Some(msgpack::text(b)),
                Item::Nil => {}
                other => {
                    return Err(shape(format!(
                        "option chunk is {}, expected a string",
                        kind(&other)
                    )))
                }
            },
            b"compressed" => match r.item()? {
                Item::Str(b"gzip") | Item::Bin(b"gzip") => o.gzip = true,
                Item::Str(b"text") | Item::Bin(b"text") | Item::Nil => {}
                Item::Str(b) | Item::Bin(b) => {
                    return Err(shape(format!(
                        "option compressed is '{}'; only gzip is defined",
                        msgpack::text(b)
                    )))
                }
                other => {
                    return Err(shape(format!(
                        "option compressed is {}, expected a string",
                        kind(&other)
                    )))
                }
            },
            _ => r.skip()?, // size, fluent_signal, anything new
        }
    }
    Ok(o)
}

/// Decompress gzip (several members allowed), refusing more than `limit`.
pub fn gunzip(data: &[u8], limit: usize) -> Result<Vec<u8>, ForwardError> {
    let mut out = Vec::with_capacity((data.len() * 4).min(limit));
    flate2::read::MultiGzDecoder::new(data)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| ForwardError::Gzip(e.to_string()))?;
    if out.len() > limit {
        return Err(ForwardError::Gzip(format!(
            "decompresses to more than the limit of {limit} bytes"
        )));
    }
    Ok(out)
}

/// Entries packed back to back (PackedForward's payload).
pub fn read_packed(data: &[u8], limits: &Limits) -> Result<Vec<Entry>, ForwardError> {
    let mut entries = Vec::new();
    let mut at = 0;
    // the same bound on decoded values as for the frame itself, for all
    // packed entries together
    let mut budget = msgpack::max_values(limits.max_frame_bytes);
    while at < data.len() {
        let (len, items) = msgpack::value_len(&data[at..], data.len(), limits.max_depth, budget)
            .map_err(|e| shape(format!("packed entry {}: {e}", entries.len())))?;
        budget -= items;
        let mut r = Reader::new(&data[at..at + len]);
        entries.push(read_entry(&mut r, entries.len())?);
        at += len;
    }
    Ok(entries)
}

/// Decode one complete frame (as found by [`msgpack::FrameScanner`]).
pub fn decode_client(frame: &[u8], limits: &Limits) -> Result<ClientMessage, ForwardError> {
    let mut r = Reader::new(frame);
    let n = match r.item()? {
        Item::Array(n) if (2..=6).contains(&n) => n,
        other => {
            return Err(shape(format!(
                "message is {}, expected an array [tag, ...] of 2 to 6 elements",
                match other {
                    Item::Array(_) => "an array of the wrong length",
                    o => kind(&o),
                }
            )))
        }
    };
    let tag = match r.item()? {
        Item::Str(b) => std::str::from_utf8(b)
            .map_err(|_| shape("tag is not valid UTF-8"))?
            .to_string(),
        other => return Err(shape(format!("tag is {}, expected a string", kind(&other)))),
    };
    if tag == "PING" && n == 6 {
        return read_ping(&mut r).map(ClientMessage::Ping);
    }
    if n > 4 {
        return Err(shape(format!(
            "message has {n} elements; event modes have 2 to 4"
        )));
    }
    let save = r.pos;
    let second = r.item()?;
    let batch = match second {
        Item::Array(count) => {
            // every entry takes at least 3 bytes: never reserve more than the frame can hold
            let room = r.buf.len().saturating_sub(r.pos) / 3;
            let mut entries = Vec::with_capacity((count as usize).min(room));
            for i in 0..count {
                entries.push(read_entry(&mut r, i as usize)?);
            }
            let o = if n >= 3 {
                read_options(&mut r)?
            } else {
                Options::default()
            };
            EventBatch {
                tag,
                entries,
                chunk: o.chunk,
            }
        }
        Item::Str(data) | Item::Bin(data) => {
            let o = if n >= 3 {
                read_options(&mut r)?
            } else {
                Options::default()
            };
            let entries = if o.gzip {
                let raw = gunzip(data, limits.max_decompressed_bytes)?;
                read_packed(&raw, limits)?
            } else {
                read_packed(data, limits)?
            };
            EventBatch {
                tag,
                entries,
                chunk: o.chunk,
            }
        }
        _ => {
            if n < 3 {
                return Err(shape(format!(
                    "second element is {}, expected entries (an array or packed bytes)",
                    kind(&second)
                )));
            }
            r.pos = save;
            let t = read_time(&mut r, "message")?;
            let record = read_record(&mut r, "message")?;
            let o = if n == 4 {
                read_options(&mut r)?
            } else {
                Options::default()
            };
            EventBatch {
                tag,
                entries: vec![Entry { time_ns: t, record }],
                chunk: o.chunk,
            }
        }
    };
    if !r.at_end() {
        return Err(shape("trailing bytes inside the message"));
    }
    Ok(ClientMessage::Events(batch))
}

fn read_ping(r: &mut Reader) -> Result<Ping, ForwardError> {
    let mut field = |name: &str| -> Result<Vec<u8>, ForwardError> {
        match r.item()? {
            Item::Str(b) | Item::Bin(b) => Ok(b.to_vec()),
            Item::Nil => Ok(Vec::new()),
            other => Err(shape(format!(
                "PING {name} is {}, expected a string",
                kind(&other)
            ))),
        }
    };
    let client_hostname = msgpack::text(&field("hostname")?);
    let shared_key_salt = field("shared_key_salt")?;
    let shared_key_digest = msgpack::text(&field("shared_key_hexdigest")?);
    let username = msgpack::text(&field("username")?);
    let password_digest = msgpack::text(&field("password_digest")?);
    Ok(Ping {
        client_hostname,
        shared_key_salt,
        shared_key_digest,
        username,
        password_digest,
    })
}

// ---- encoding ----

fn write_str(out: &mut Vec<u8>, s: &str) {
    // Writing to a Vec cannot fail.
    let _ = rmp::encode::write_str(out, s);
}

fn write_bin(out: &mut Vec<u8>, b: &[u8]) {
    let _ = rmp::encode::write_bin(out, b);
}

/// `{"ack": chunk}`
pub fn encode_ack(chunk: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(chunk.len() + 8);
    let _ = rmp::encode::write_map_len(&mut out, 1);
    write_str(&mut out, "ack");
    write_str(&mut out, chunk);
    out
}

/// `["HELO", {"nonce": bin, "auth": bin, "keepalive": bool}]`
pub fn encode_helo(nonce: &[u8], auth_salt: &[u8], keepalive: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    let _ = rmp::encode::write_array_len(&mut out, 2);
    write_str(&mut out, "HELO");
    let _ = rmp::encode::write_map_len(&mut out, 3);
    write_str(&mut out, "nonce");
    write_bin(&mut out, nonce);
    write_str(&mut out, "auth");
    // Fluentd sends an empty string when it does not ask for a user; some
    // clients take any binary, even empty, as "log in".
    if auth_salt.is_empty() {
        write_str(&mut out, "");
    } else {
        write_bin(&mut out, auth_salt);
    }
    write_str(&mut out, "keepalive");
    let _ = rmp::encode::write_bool(&mut out, keepalive);
    out
}

/// `["PONG", ok, reason, server_hostname, digest]`
pub fn encode_pong(ok: bool, reason: &str, server_hostname: &str, digest: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(200);
    let _ = rmp::encode::write_array_len(&mut out, 5);
    write_str(&mut out, "PONG");
    let _ = rmp::encode::write_bool(&mut out, ok);
    write_str(&mut out, reason);
    write_str(&mut out, server_hostname);
    write_str(&mut out, digest);
    out
}

/// `["PING", hostname, salt, digest, username, password_digest]`
pub fn encode_ping(p: &Ping) -> Vec<u8> {
    let mut out = Vec::with_capacity(300);
    let _ = rmp::encode::write_array_len(&mut out, 6);
    write_str(&mut out, "PING");
    write_str(&mut out, &p.client_hostname);
    write_bin(&mut out, &p.shared_key_salt);
    write_str(&mut out, &p.shared_key_digest);
    write_str(&mut out, &p.username);
    write_str(&mut out, &p.password_digest);
    out
}

/// EventTime: extension 0 with big-endian seconds and nanoseconds.
pub fn write_event_time(out: &mut Vec<u8>, time_ns: i64) {
    let secs = time_ns.div_euclid(1_000_000_000).clamp(0, u32::MAX as i64) as u32;
    let nanos = time_ns.rem_euclid(1_000_000_000) as u32;
    let _ = rmp::encode::write_ext_meta(out, 8, 0);
    out.extend_from_slice(&secs.to_be_bytes());
    out.extend_from_slice(&nanos.to_be_bytes());
}

/// A JSON value as MessagePack.
pub fn write_json(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => {
            let _ = rmp::encode::write_nil(out);
        }
        Value::Bool(b) => {
            let _ = rmp::encode::write_bool(out, *b);
        }
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                let _ = rmp::encode::write_uint(out, u);
            } else if let Some(i) = n.as_i64() {
                let _ = rmp::encode::write_sint(out, i);
            } else {
                let _ = rmp::encode::write_f64(out, n.as_f64().unwrap_or(0.0));
            }
        }
        Value::String(s) => write_str(out, s),
        Value::Array(a) => {
            let _ = rmp::encode::write_array_len(out, a.len() as u32);
            for x in a {
                write_json(out, x);
            }
        }
        Value::Object(m) => write_map(out, m),
    }
}

/// A JSON object as a MessagePack map.
pub fn write_map(out: &mut Vec<u8>, m: &Map<String, Value>) {
    let _ = rmp::encode::write_map_len(out, m.len() as u32);
    for (k, x) in m {
        write_str(out, k);
        write_json(out, x);
    }
}

/// One packed entry `[EventTime, record]`.
pub fn write_entry(out: &mut Vec<u8>, time_ns: i64, record: &Map<String, Value>) {
    let _ = rmp::encode::write_array_len(out, 2);
    write_event_time(out, time_ns);
    write_map(out, record);
}

/// `[tag, entries, {"size": n, "chunk": id[, "compressed": "gzip"]}]` from
/// entries already packed by [`write_entry`]. Compressed when `gzip`.
pub fn encode_packed_forward(
    tag: &str,
    packed: &[u8],
    count: usize,
    chunk: &str,
    gzip: bool,
) -> Vec<u8> {
    use std::io::Write;
    let body;
    let data: &[u8] = if gzip {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let _ = enc.write_all(packed);
        body = enc.finish().unwrap_or_default();
        &body
    } else {
        packed
    };
    let mut out = Vec::with_capacity(data.len() + tag.len() + 64);
    let _ = rmp::encode::write_array_len(&mut out, 3);
    write_str(&mut out, tag);
    write_bin(&mut out, data);
    let _ = rmp::encode::write_map_len(&mut out, if gzip { 3 } else { 2 });
    write_str(&mut out, "size");
    let _ = rmp::encode::write_uint(&mut out, count as u64);
    write_str(&mut out, "chunk");
    write_str(&mut out, chunk);
    if gzip {
        write_str(&mut out, "compressed");
        write_str(&mut out, "gzip");
    }
    out
}

/// What a server may send to a client.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMessage {
    Helo {
        nonce: Vec<u8>,
        auth_salt: Vec<u8>,
    },
    Pong {
        ok: bool,
        reason: String,
        server_hostname: String,
        digest: String,
    },
    Ack(String),
}

/// Decode one complete frame from a server.
pub fn decode_server(frame: &[u8]) -> Result<ServerMessage, ForwardError> {
    let mut r = Reader::new(frame);
    match r.item()? {
        Item::Map(n) => {
            for _ in 0..n {
                let k = r.item()?;
                if k.bytes() == Some(b"ack") {
                    if let Some(b) = r.item()?.bytes() {
                        return Ok(ServerMessage::Ack(msgpack::text(b)));
                    }
                } else {
                    r.skip()?;
                }
            }
            Err(shape("server map without an ack"))
        }
        Item::Array(n) if n >= 2 => {
            let kind = r.item()?;
            match kind.bytes() {
                Some(b"HELO") => {
                    let mut nonce = Vec::new();
                    let mut auth_salt = Vec::new();
                    if let Item::Map(m) = r.item()? {
                        for _ in 0..m {
                            let k = r.item()?;
                            let v = r.item()?;
                            match (k.bytes(), v.bytes()) {
                                (Some(b"nonce"), Some(b)) => nonce = b.to_vec(),
                                (Some(b"auth"), Some(b)) => auth_salt = b.to_vec(),
                                (_, _) => {
                                    if let Item::Array(_) | Item::Map(_) = v {
                                        return Err(shape("unexpected nested value in HELO"));
                                    }
                                }
                            }
                        }
                    }
                    Ok(ServerMessage::Helo { nonce, auth_salt })
                }
                Some(b"PONG") if n == 5 => {
                    let ok = matches!(r.item()?, Item::Bool(true));
                    let mut s = || -> Result<String, ForwardError> {
                        Ok(r.item()?.bytes().map(msgpack::text).unwrap_or_default())
                    };
                    let reason = s()?;
                    let server_hostname = s()?;
                    let digest = s()?;
                    Ok(ServerMessage::Pong {
                        ok,
                        reason,
                        server_hostname,
                        digest,
                    })
                }
                _ => Err(shape("unknown server message")),
            }
        }
        other => Err(shape(format!("server message is {}", kind(&other)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmpv::Value as V;

    fn enc(v: &V) -> Vec<u8> {
        let mut out = Vec::new();
        rmpv::encode::write_value(&mut out, v).unwrap();
        out
    }

    fn et(secs: u32, nanos: u32) -> V {
        let mut d = secs.to_be_bytes().to_vec();
        d.extend_from_slice(&nanos.to_be_bytes());
        V::Ext(0, d)
    }

    fn rec(msg: &str) -> V {
        V::Map(vec![(V::from("message"), V::from(msg))])
    }

    fn events(v: &V) -> EventBatch {
        match decode_client(&enc(v), &Limits::default()).unwrap() {
            ClientMessage::Events(b) => b,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn message_mode_with_and_without_option() {
        let b = events(&V::Array(vec![
            V::from("app.x"),
            V::from(1_700_000_000),
            rec("a"),
        ]));
        assert_eq!(b.tag, "app.x");
        assert_eq!(b.entries[0].time_ns, 1_700_000_000_000_000_000);
        assert_eq!(b.chunk, None);
        let b = events(&V::Array(vec![
            V::from("t"),
            et(1_700_000_000, 123_456_789),
            rec("a"),
            V::Map(vec![
                (V::from("chunk"), V::from("c1")),
                (V::from("size"), V::from(1)),
            ]),
        ]));
        assert_eq!(b.entries[0].time_ns, 1_700_000_000_123_456_789);
        assert_eq!(b.chunk.as_deref(), Some("c1"));
    }

    #[test]
    fn float_times_keep_their_millisecond() {
        // what Python fluent-logger sends for emit_with_time(.., 1795662002.25, ..)
        let b = events(&V::Array(vec![
            V::from("t"),
            V::F64(1_795_662_002.25),
            rec("a"),
        ]));
        assert_eq!(b.entries[0].time_ns, 1_795_662_002_250_000_000);
        let b = events(&V::Array(vec![
            V::from("t"),
            V::F64(1_795_662_002.125),
            rec("a"),
        ]));
        assert_eq!(b.entries[0].time_ns, 1_795_662_002_125_000_000);
        let b = events(&V::Array(vec![V::from("t"), V::F64(-1.5), rec("a")]));
        assert_eq!(b.entries[0].time_ns, -1_500_000_000);
    }

    #[test]
    fn forward_mode_shapes_of_fluent_bit() {
        // [[EventTime, {}], record] entries, options with fluent_signal
        let b = events(&V::Array(vec![
            V::from("fb"),
            V::Array(vec![
                V::Array(vec![V::Array(vec![et(10, 5), V::Map(vec![])]), rec("one")]),
                V::Array(vec![et(11, 0), rec("two")]),
                V::Array(vec![V::from(12), rec("three")]),
            ]),
            V::Map(vec![
                (V::from("size"), V::from(3)),
                (V::from("chunk"), V::from("abc")),
                (V::from("fluent_signal"), V::from(0)),
            ]),
        ]));
        let times: Vec<i64> = b.entries.iter().map(|e| e.time_ns).collect();
        assert_eq!(times, vec![10_000_000_005, 11_000_000_000, 12_000_000_000]);
        assert_eq!(b.entries[2].record["message"], "three");
        assert_eq!(b.chunk.as_deref(), Some("abc"));
    }

    #[test]
    fn packed_and_compressed() {
        let mut packed = Vec::new();
        for i in 0..3 {
            packed.extend(enc(&V::Array(vec![et(100 + i, 0), rec(&format!("m{i}"))])));
        }
        let b = events(&V::Array(vec![V::from("p"), V::Binary(packed.clone())]));
        assert_eq!(b.entries.len(), 3);
        let frame = encode_packed_forward("p", &packed, 3, "ck", true);
        let ClientMessage::Events(b) = decode_client(&frame, &Limits::default()).unwrap() else {
            panic!()
        };
        assert_eq!(b.entries.len(), 3);
        assert_eq!(b.entries[1].record["message"], "m1");
        assert_eq!(b.chunk.as_deref(), Some("ck"));
        // two concatenated gzip members
        let half = packed.len() / 3;
        let gz = |d: &[u8]| {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(d).unwrap();
            e.finish().unwrap()
        };
        let mut two = gz(&packed[..half]);
        two.extend(gz(&packed[half..]));
        let b = events(&V::Array(vec![
            V::from("p"),
            V::Binary(two),
            V::Map(vec![(V::from("compressed"), V::from("gzip"))]),
        ]));
        assert_eq!(b.entries.len(), 3);
    }

    #[test]
    fn gzip_bomb_is_refused() {
        let zeros = vec![0u8; 4 << 20];
        let frame = encode_packed_forward("p", &zeros, 1, "c", true);
        let limits = Limits {
            max_decompressed_bytes: 1 << 20,
            ..Limits::default()
        };
        let e = decode_client(&frame, &limits).unwrap_err();
        assert!(e.to_string().contains("more than the limit"), "{e}");
    }

    #[test]
    fn wrong_types_name_the_problem() {
        let limits = Limits::default();
        let cases: Vec<(V, &str)> = vec![
            (V::from("x"), "message is a string"),
            (
                V::Array(vec![V::from(1), V::Array(vec![])]),
                "tag is an integer",
            ),
            (
                V::Array(vec![V::from("t"), V::from(1), V::from("not a map")]),
                "record is a string",
            ),
            (
                V::Array(vec![V::from("t"), V::Array(vec![V::from("e")])]),
                "entry 0 is a string",
            ),
            (
                V::Array(vec![
                    V::from("t"),
                    V::Array(vec![V::Array(vec![V::from("x"), rec("a")])]),
                ]),
                "time is a string",
            ),
            (
                V::Array(vec![V::from("t"), V::from(1), rec("a"), V::from(3)]),
                "option is an integer",
            ),
            (
                V::Array(vec![V::from("t"), V::Binary(vec![0xc1])]),
                "packed entry 0",
            ),
        ];
        for (v, want) in cases {
            let e = decode_client(&enc(&v), &limits).unwrap_err().to_string();
            assert!(e.contains(want), "{v:?}: {e}");
        }
    }

    #[test]
    fn handshake_messages_round_trip() {
        let ping = Ping {
            client_hostname: "node1".into(),
            shared_key_salt: vec![1, 2, 3],
            shared_key_digest: "abc".into(),
            username: "u".into(),
            password_digest: "p".into(),
        };
        assert_eq!(
            decode_client(&encode_ping(&ping), &Limits::default()).unwrap(),
            ClientMessage::Ping(ping)
        );
        assert_eq!(
            decode_server(&encode_helo(b"nonce", b"salt", true)).unwrap(),
            ServerMessage::Helo {
                nonce: b"nonce".to_vec(),
                auth_salt: b"salt".to_vec()
            }
        );
        assert_eq!(
            decode_server(&encode_ack("xyz")).unwrap(),
            ServerMessage::Ack("xyz".into())
        );
        assert!(matches!(
            decode_server(&encode_pong(false, "bad key", "srv", "")).unwrap(),
            ServerMessage::Pong { ok: false, .. }
        ));
    }

    proptest::proptest! {
        #[test]
        fn records_round_trip(msgs in proptest::collection::vec("\\PC{0,20}", 1..10), t in 0i64..4_000_000_000_000_000_000) {
            let mut packed = Vec::new();
            let mut want = Vec::new();
            for m in &msgs {
                let mut r = Map::new();
                r.insert("message".into(), Value::String(m.clone()));
                r.insert("n".into(), Value::from(m.len()));
                write_entry(&mut packed, t, &r);
                want.push(Entry { time_ns: t, record: r });
            }
            let frame = encode_packed_forward("tag", &packed, msgs.len(), "c", false);
            let ClientMessage::Events(b) = decode_client(&frame, &Limits::default()).unwrap() else { panic!() };
            proptest::prop_assert_eq!(b.entries, want);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let limits = Limits { max_frame_bytes: 1 << 16, max_decompressed_bytes: 1 << 16, max_depth: 16 };
            if let Ok((n, _)) = msgpack::value_len(&bytes, limits.max_frame_bytes, limits.max_depth, 1 << 20) {
                let _ = decode_client(&bytes[..n], &limits);
            }
            let _ = decode_server(&bytes);
        }
    }
}

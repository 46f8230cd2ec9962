//! The MessagePack we need for the forward protocol, read straight from
//! bytes: one item header at a time (markers come from the `rmp` crate),
//! a resumable scanner that finds where a value ends in a TCP stream before
//! anything is allocated for it, and a decoder to JSON records.
//!
//! Why not decode into `rmpv::Value` first: a second tree per event costs
//! as much as the rest of the receive path, and a stream needs to know a
//! frame is complete (and not absurd) before decoding it at all.

use rmp::Marker;

/// Why bytes are not acceptable MessagePack.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MsgpackError {
    #[error("invalid MessagePack: reserved byte 0xc1 at offset {0}")]
    Reserved(usize),
    #[error("MessagePack value nested deeper than {0} levels")]
    TooDeep(usize),
    #[error("MessagePack message holds more than {0} values (at most one per 4 bytes of the frame limit)")]
    TooManyValues(u64),
    #[error(
        "MessagePack {what} of {len} declared at offset {at} exceeds the limit of {limit} bytes"
    )]
    TooLarge {
        what: &'static str,
        len: u64,
        at: usize,
        limit: usize,
    },
    #[error("truncated MessagePack value (needs more bytes at offset {0})")]
    Truncated(usize),
    #[error("map key at offset {0} is {1}; keys must be strings, numbers, booleans or nil")]
    BadKey(usize, &'static str),
}

/// One item header and, for strings, binaries and extensions, its payload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Item<'a> {
    Nil,
    Bool(bool),
    Uint(u64),
    Int(i64),
    F32(f32),
    F64(f64),
    Str(&'a [u8]),
    Bin(&'a [u8]),
    Ext(i8, &'a [u8]),
    /// An array of this many values follows.
    Array(u64),
    /// A map of this many key/value pairs follows.
    Map(u64),
}

impl Item<'_> {
    /// Bytes or strings, as the forward protocol accepts either for packed
    /// entries and many senders use either for text.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Item::Str(b) | Item::Bin(b) => Some(b),
            _ => None,
        }
    }
}

fn be(buf: &[u8], at: usize, n: usize) -> Option<u64> {
    let b = buf.get(at..at + n)?;
    Some(b.iter().fold(0u64, |acc, x| acc << 8 | *x as u64))
}

/// Read the item at `at`. `Ok(None)` means the bytes end before the header
/// or payload does (wait for more); payloads above `limit` are errors at
/// once, so a huge declared length never waits for data.
pub fn read_item(
    buf: &[u8],
    at: usize,
    limit: usize,
) -> Result<Option<(Item<'_>, usize)>, MsgpackError> {
    let Some(&b) = buf.get(at) else {
        return Ok(None);
    };
    let marker = Marker::from_u8(b);
    // (header length after the marker byte, what it declares)
    enum Shape {
        Done(Item<'static>),
        Payload(u8, usize), // kind (0 str, 1 bin, 2 ext), length-field bytes
        FixedPayload(u8, u64),
        Count(bool, usize), // is_map, count-field bytes
        Num(u8, usize),     // kind (0 uint, 1 int, 2 f32, 3 f64), bytes
    }
    let shape = match marker {
        Marker::FixPos(v) => Shape::Done(Item::Uint(v as u64)),
        Marker::FixNeg(v) => Shape::Done(Item::Int(v as i64)),
        Marker::Null => Shape::Done(Item::Nil),
        Marker::True => Shape::Done(Item::Bool(true)),
        Marker::False => Shape::Done(Item::Bool(false)),
        Marker::U8 => Shape::Num(0, 1),
        Marker::U16 => Shape::Num(0, 2),
        Marker::U32 => Shape::Num(0, 4),
        Marker::U64 => Shape::Num(0, 8),
        Marker::I8 => Shape::Num(1, 1),
        Marker::I16 => Shape::Num(1, 2),
        Marker::I32 => Shape::Num(1, 4),
        Marker::I64 => Shape::Num(1, 8),
        Marker::F32 => Shape::Num(2, 4),
        Marker::F64 => Shape::Num(3, 8),
        Marker::FixStr(n) => Shape::FixedPayload(0, n as u64),
        Marker::Str8 => Shape::Payload(0, 1),
        Marker::Str16 => Shape::Payload(0, 2),
        Marker::Str32 => Shape::Payload(0, 4),
        Marker::Bin8 => Shape::Payload(1, 1),
        Marker::Bin16 => Shape::Payload(1, 2),
        Marker::Bin32 => Shape::Payload(1, 4),
        Marker::FixExt1 => Shape::FixedPayload(2, 1),
        Marker::FixExt2 => Shape::FixedPayload(2, 2),
        Marker::FixExt4 => Shape::FixedPayload(2, 4),
        Marker::FixExt8 => Shape::FixedPayload(2, 8),
        Marker::FixExt16 => Shape::FixedPayload(2, 16),
        Marker::Ext8 => Shape::Payload(2, 1),
        Marker::Ext16 => Shape::Payload(2, 2),
        Marker::Ext32 => Shape::Payload(2, 4),
        Marker::FixArray(n) => return Ok(Some((Item::Array(n as u64), at + 1))),
        Marker::Array16 => Shape::Count(false, 2),
        Marker::Array32 => Shape::Count(false, 4),
        Marker::FixMap(n) => return Ok(Some((Item::Map(n as u64), at + 1))),
        Marker::Map16 => Shape::Count(true, 2),
        Marker::Map32 => Shape::Count(true, 4),
        Marker::Reserved => return Err(MsgpackError::Reserved(at)),
    };
    let p = at + 1;
    let payload =
        |kind: u8, len: u64, start: usize| -> Result<Option<(Item<'_>, usize)>, MsgpackError> {
            let ext_ty = kind == 2;
            let data_start = start + ext_ty as usize;
            if len > limit as u64 {
                return Err(MsgpackError::TooLarge {
                    what: ["string", "binary", "extension"][kind as usize],
                    len,
                    at,
                    limit,
                });
            }
            let end = data_start + len as usize;
            if end > buf.len() {
                return Ok(None);
            }
            let data = &buf[data_start..end];
            let item = match kind {
                0 => Item::Str(data),
                1 => Item::Bin(data),
                _ => Item::Ext(buf[start] as i8, data),
            };
            Ok(Some((item, end)))
        };
    match shape {
        Shape::Done(item) => Ok(Some((item, p))),
        Shape::Num(kind, n) => {
            let Some(v) = be(buf, p, n) else {
                return Ok(None);
            };
            let item = match kind {
                0 => Item::Uint(v),
                1 => Item::Int(match n {
                    1 => v as u8 as i8 as i64,
                    2 => v as u16 as i16 as i64,
                    4 => v as u32 as i32 as i64,
                    _ => v as i64,
                }),
                2 => Item::F32(f32::from_bits(v as u32)),
                _ => Item::F64(f64::from_bits(v)),
            };
            Ok(Some((item, p + n)))
        }
        Shape::FixedPayload(kind, len) => payload(kind, len, p),
        Shape::Payload(kind, n) => {
            let Some(len) = be(buf, p, n) else {
                return Ok(None);
            };
            payload(kind, len, p + n)
        }
        Shape::Count(is_map, n) => {
            let Some(count) = be(buf, p, n) else {
                return Ok(None);
            };
            // Every element takes at least one byte.
            let elems = if is_map {
                count.saturating_mul(2)
            } else {
                count
            };
            if elems > limit as u64 {
                return Err(MsgpackError::TooLarge {
                    what: if is_map { "map" } else { "array" },
                    len: count,
                    at,
                    limit,
                });
            }
            let item = if is_map {
                Item::Map(count)
            } else {
                Item::Array(count)
            };
            Ok(Some((item, p + n)))
        }
    }
}

/// Finds where the next complete value ends in a growing buffer, resuming
/// where the last call stopped, so a large frame arriving in many reads is
/// scanned once.
#[derive(Debug)]
pub struct FrameScanner {
    pos: usize,
    /// Values seen in the current frame, and the most allowed: decoded
    /// values take tens of bytes each, so their number bounds memory where
    /// the byte limit alone would not (a frame of empty arrays).
    items: u64,
    max_items: u64,
    /// Values in the last complete frame.
    last_items: u64,
    /// Values still to read at each open container level.
    stack: Vec<u64>,
    max_depth: usize,
    limit: usize,
}

impl FrameScanner {
    /// `limit` bounds any one frame (and so any declared length in it).
    pub fn new(limit: usize, max_depth: usize) -> FrameScanner {
        FrameScanner {
            pos: 0,
            items: 0,
            max_items: max_values(limit),
            last_items: 0,
            stack: Vec::new(),
            max_depth,
            limit,
        }
    }

    /// Bytes already scanned of the current frame.
    pub fn scanned(&self) -> usize {
        self.pos
    }

    /// Continue scanning `buf` (which starts at the current frame's first
    /// byte and only grew since the last call). Returns the frame length
    /// once it is complete, then starts over for the next frame.
    pub fn advance(&mut self, buf: &[u8]) -> Result<Option<usize>, MsgpackError> {
        loop {
            let Some((item, next)) = read_item(buf, self.pos, self.limit)? else {
                if buf.len() > self.limit {
                    return Err(MsgpackError::TooLarge {
                        what: "frame",
                        len: buf.len() as u64,
                        at: 0,
                        limit: self.limit,
                    });
                }
                return Ok(None);
            };
            if next > self.limit {
                return Err(MsgpackError::TooLarge {
                    what: "frame",
                    len: next as u64,
                    at: 0,
                    limit: self.limit,
                });
            }
            self.pos = next;
            self.items += 1;
            if self.items > self.max_items {
                return Err(MsgpackError::TooManyValues(self.max_items));
            }
            if let Some(top) = self.stack.last_mut() {
                *top -= 1;
            }
            let children = match item {
                Item::Array(n) => n,
                Item::Map(n) => n * 2,
                _ => 0,
            };
            if children > 0 {
                if self.stack.len() >= self.max_depth {
                    return Err(MsgpackError::TooDeep(self.max_depth));
                }
                self.stack.push(children);
            }
            while self.stack.last() == Some(&0) {
                self.stack.pop();
            }
            if self.stack.is_empty() {
                let len = self.pos;
                self.pos = 0;
                self.last_items = self.items;
                self.items = 0;
                return Ok(Some(len));
            }
        }
    }
}

/// The most values a frame of `limit` bytes may hold: one per 4 bytes
/// (log records average well above that; `{"a":1}` is 2 values in 4 bytes).
pub fn max_values(limit: usize) -> u64 {
    (limit as u64 / 4).max(1024)
}

/// Length and number of values of the complete value at the start of
/// `buf`, or an error if it is cut short, too deep, too large or holds more
/// than `max_items` values.
pub fn value_len(
    buf: &[u8],
    limit: usize,
    max_depth: usize,
    max_items: u64,
) -> Result<(usize, u64), MsgpackError> {
    let mut s = FrameScanner::new(limit, max_depth);
    s.max_items = max_items;
    match s.advance(buf) {
        Ok(Some(n)) => {
            // `advance` reset the count; it was at most max_items
            Ok((n, s.last_items))
        }
        Ok(None) => Err(MsgpackError::Truncated(s.scanned())),
        Err(e) => Err(e),
    }
}

/// A cursor over one complete, already scanned value.
pub struct Reader<'a> {
    pub buf: &'a [u8],
    pub pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// The next item header (payload included for str/bin/ext).
    pub fn item(&mut self) -> Result<Item<'a>, MsgpackError> {
        match read_item(self.buf, self.pos, usize::MAX >> 1)? {
            Some((item, next)) => {
                self.pos = next;
                Ok(item)
            }
            None => Err(MsgpackError::Truncated(self.pos)),
        }
    }

    /// Skip one whole value.
    pub fn skip(&mut self) -> Result<(), MsgpackError> {
        let mut left = 1u64;
        while left > 0 {
            left -= 1;
            match self.item()? {
                Item::Array(n) => left += n,
                Item::Map(n) => left += n * 2,
                _ => {}
            }
        }
        Ok(())
    }

    /// Decode one value as JSON. Binaries and non-UTF-8 strings become text
    /// with replacement characters; non-finite floats and unknown extensions
    /// become null; an EventTime extension becomes an RFC 3339 string; map
    /// keys that are not strings are written as their JSON text.
    pub fn json(&mut self) -> Result<serde_json::Value, MsgpackError> {
        use serde_json::Value;
        Ok(match self.item()? {
            Item::Nil => Value::Null,
            Item::Bool(b) => Value::Bool(b),
            Item::Uint(v) => Value::from(v),
            Item::Int(v) => Value::from(v),
            Item::F32(v) => float(v as f64),
            Item::F64(v) => float(v),
            Item::Str(b) | Item::Bin(b) => Value::String(text(b)),
            Item::Ext(ty, data) => match event_time(ty, data) {
                Some(t) => Value::String(super::rfc3339(t)),
                None => Value::Null,
            },
            Item::Array(n) => {
                let room = self.buf.len().saturating_sub(self.pos);
                let mut v = Vec::with_capacity((n as usize).min(1024).min(room));
                for _ in 0..n {
                    v.push(self.json()?);
                }
                Value::Array(v)
            }
            Item::Map(n) => Value::Object(self.json_map(n)?),
        })
    }

    /// Decode the `n` pairs of a map whose header was just read.
    pub fn json_map(
        &mut self,
        n: u64,
    ) -> Result<serde_json::Map<String, serde_json::Value>, MsgpackError> {
        let room = self.buf.len().saturating_sub(self.pos) / 2;
        let mut m = serde_json::Map::with_capacity((n as usize).min(1024).min(room));
        for _ in 0..n {
            let start = self.pos;
            let key = match self.item()? {
                Item::Str(b) | Item::Bin(b) => text(b),
                Item::Uint(v) => v.to_string(),
                Item::Int(v) => v.to_string(),
                Item::Bool(b) => b.to_string(),
                Item::Nil => "null".to_string(),
                Item::F32(v) => (v as f64).to_string(),
                Item::F64(v) => v.to_string(),
                other => {
                    // Rendering a container key as JSON text would let keys
                    // nest inside keys, doubling the escaping at every level
                    // (a few bytes of input, gigabytes of key): refuse it.
                    return Err(MsgpackError::BadKey(start, key_kind(&other)));
                }
            };
            let v = self.json()?;
            m.insert(key, v);
        }
        Ok(m)
    }
}

fn key_kind(item: &Item) -> &'static str {
    match item {
        Item::Array(_) => "an array",
        Item::Map(_) => "a map",
        _ => "an extension",
    }
}

fn float(v: f64) -> serde_json::Value {
    serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

/// UTF-8 text, with replacement characters for invalid bytes.
pub fn text(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => s.to_string(),
        Err(_) => String::from_utf8_lossy(b).into_owned(),
    }
}

/// Nanoseconds since the epoch of a Fluentd EventTime (extension type 0,
/// 4 bytes of seconds and 4 of nanoseconds, both big-endian).
pub fn event_time(ty: i8, data: &[u8]) -> Option<i64> {
    if ty != 0 || data.len() != 8 {
        return None;
    }
    let secs = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as i64;
    let nanos = u32::from_be_bytes([data[4], data[5], data[6], data[7]]) as i64;
    Some(secs * 1_000_000_000 + nanos.min(999_999_999))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: &rmpv::Value) -> Vec<u8> {
        let mut out = Vec::new();
        rmpv::encode::write_value(&mut out, v).unwrap();
        out
    }

    #[test]
    fn scanner_resumes_across_reads() {
        use rmpv::Value as V;
        let v = V::Array(vec![
            V::from("tag"),
            V::Array(vec![V::Array(vec![
                V::from(1),
                V::Map(vec![(V::from("k"), V::from("v"))]),
            ])]),
        ]);
        let bytes = enc(&v);
        let mut two = bytes.clone();
        two.extend_from_slice(&bytes);
        let mut s = FrameScanner::new(1 << 20, 32);
        for cut in 0..bytes.len() {
            assert_eq!(s.advance(&two[..cut]).unwrap(), None, "cut {cut}");
        }
        assert_eq!(s.advance(&two).unwrap(), Some(bytes.len()));
        assert_eq!(s.advance(&two[bytes.len()..]).unwrap(), Some(bytes.len()));
    }

    #[test]
    fn absurd_headers_fail_at_once() {
        // array32 with a billion elements
        let buf = [0xdd, 0x3b, 0x9a, 0xca, 0x00];
        let e = FrameScanner::new(1 << 20, 32).advance(&buf).unwrap_err();
        assert!(
            matches!(e, MsgpackError::TooLarge { what: "array", .. }),
            "{e}"
        );
        let buf = [0xc6, 0xff, 0xff, 0xff, 0xff];
        assert!(FrameScanner::new(1 << 20, 32).advance(&buf).is_err());
        let deep = vec![0x91u8; 100];
        assert_eq!(
            FrameScanner::new(1 << 20, 32).advance(&deep).unwrap_err(),
            MsgpackError::TooDeep(32)
        );
        assert_eq!(
            FrameScanner::new(1 << 20, 32).advance(&[0xc1]).unwrap_err(),
            MsgpackError::Reserved(0)
        );
    }

    #[test]
    fn decodes_to_json() {
        use rmpv::Value as V;
        let v = V::Map(vec![
            (V::from("s"), V::from("héllo")),
            (V::from("n"), V::from(-5)),
            (V::from("u"), V::from(u64::MAX)),
            (V::from("f"), V::F64(1.5)),
            (V::from("b"), V::Binary(b"raw\xff".to_vec())),
            (V::from(7), V::Nil),
            (
                V::from("a"),
                V::Array(vec![V::Boolean(true), V::F32(f32::NAN)]),
            ),
            (
                V::from("t"),
                V::Ext(0, vec![0x69, 0x2a, 0x1c, 0x80, 0, 0, 0, 5]),
            ),
        ]);
        let bytes = enc(&v);
        let j = Reader::new(&bytes).json().unwrap();
        assert_eq!(
            j,
            serde_json::json!({"s":"héllo","n":-5,"u":u64::MAX,"f":1.5,"b":"raw\u{fffd}","7":null,
                "a":[true,null],"t":"2025-11-28T22:04:48.000000005Z"})
        );
    }

    #[test]
    fn value_count_is_bounded() {
        // a frame of empty arrays: tiny input, millions of decoded values
        let mut buf = vec![0xdd];
        buf.extend_from_slice(&150_000u32.to_be_bytes());
        buf.extend(std::iter::repeat_n(0x90u8, 150_000));
        let e = FrameScanner::new(200_000, 8).advance(&buf).unwrap_err();
        assert_eq!(e, MsgpackError::TooManyValues(50_000));
        assert_eq!(value_len(&[0x92, 1, 2], 100, 8, 10).unwrap(), (3, 3));
    }

    #[test]
    fn container_keys_are_refused() {
        use rmpv::Value as V;
        // keys nested in keys would double their escaping at every level
        let mut v = V::from(1);
        for _ in 0..40 {
            v = V::Map(vec![(v, V::from(1))]);
        }
        let bytes = enc(&v);
        let e = Reader::new(&bytes).json().unwrap_err();
        assert!(matches!(e, MsgpackError::BadKey(_, "a map")), "{e}");
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let mut s = FrameScanner::new(1 << 16, 16);
            if let Ok(Some(n)) = s.advance(&bytes) {
                let _ = Reader::new(&bytes[..n]).json();
            }
        }
    }
}

//! Binary encoding of one log record; see the module docs of `wal`.

use bytes::Bytes;

use super::Lsn;
use crate::event::{Event, FieldProfile, WriteOp};

/// Why a record could not be read back (a torn or corrupt tail).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RecordError {
    #[error("record truncated")]
    Truncated,
    #[error("record checksum mismatch")]
    Checksum,
    #[error("record malformed: {0}")]
    Malformed(&'static str),
}

/// Append one encoded record to `out`.
pub fn encode_record(out: &mut Vec<u8>, lsn: Lsn, ev: &Event) {
    let start = out.len();
    out.extend_from_slice(&[0u8; 8]);
    out.extend_from_slice(&lsn.to_le_bytes());
    // low bits: the op; high bits: the field profile
    let op: u8 = match ev.op {
        WriteOp::Index => 0,
        WriteOp::Create => 1,
        WriteOp::Delete => 2,
    };
    out.push(op | ev.profile.code() << 4);
    out.push(ev.explicit_id as u8);
    out.extend_from_slice(&ev.timestamp_ms.to_le_bytes());
    let index = &ev.index.as_bytes()[..ev.index.len().min(u16::MAX as usize)];
    out.extend_from_slice(&(index.len() as u16).to_le_bytes());
    out.extend_from_slice(index);
    let id = &ev.id.as_bytes()[..ev.id.len().min(u16::MAX as usize)];
    out.extend_from_slice(&(id.len() as u16).to_le_bytes());
    out.extend_from_slice(id);
    out.extend_from_slice(&(ev.source.len() as u32).to_le_bytes());
    out.extend_from_slice(&ev.source);
    let payload_len = (out.len() - start - 8) as u32;
    let crc = crc32fast::hash(&out[start + 8..]);
    out[start..start + 4].copy_from_slice(&payload_len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RecordError> {
        if self.b.len() < n {
            return Err(RecordError::Malformed("field past end of record"));
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u16(&mut self) -> Result<usize, RecordError> {
        Ok(u16::from_le_bytes([self.take(1)?[0], self.take(1)?[0]]) as usize)
    }
    fn u32(&mut self) -> Result<usize, RecordError> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize)
    }
    fn u64(&mut self) -> Result<u64, RecordError> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }
    fn str(&mut self, n: usize) -> Result<String, RecordError> {
        String::from_utf8(self.take(n)?.to_vec())
            .map_err(|_| RecordError::Malformed("name is not utf-8"))
    }
}

/// Decode the record at the start of `data`: `(lsn, event, bytes used)`.
pub fn decode_record(data: &[u8]) -> Result<(Lsn, Event, usize), RecordError> {
    if data.len() < 8 {
        return Err(RecordError::Truncated);
    }
    let len = u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize;
    let crc = u32::from_le_bytes([data[4], data[5], data[6], data[7]]);
    let payload = data.get(8..8 + len).ok_or(RecordError::Truncated)?;
    if crc32fast::hash(payload) != crc {
        return Err(RecordError::Checksum);
    }
    let mut r = Reader { b: payload };
    let lsn = r.u64()?;
    let op_byte = r.take(1)?[0];
    let op = match op_byte & 0x0f {
        0 => WriteOp::Index,
        1 => WriteOp::Create,
        2 => WriteOp::Delete,
        _ => return Err(RecordError::Malformed("unknown op")),
    };
    let profile = FieldProfile::from_code(op_byte >> 4)
        .ok_or(RecordError::Malformed("unknown field profile"))?;
    let explicit_id = r.take(1)?[0] != 0;
    let timestamp_ms = r.u64()? as i64;
    let n = r.u16()?;
    let index = r.str(n)?;
    let n = r.u16()?;
    let id = r.str(n)?;
    let n = r.u32()?;
    let source = Bytes::copy_from_slice(r.take(n)?);
    Ok((
        lsn,
        Event {
            index,
            id,
            explicit_id,
            op,
            timestamp_ms,
            source,
            parsed: None,
            profile,
            pattern: None,
        },
        8 + len,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_and_field_profile_survive_the_log() {
        for (op, profile) in [
            (WriteOp::Index, FieldProfile::Dynamic),
            (WriteOp::Create, FieldProfile::Dynamic),
            (WriteOp::Index, FieldProfile::Syslog),
            (WriteOp::Create, FieldProfile::Syslog),
        ] {
            let ev = Event {
                index: "logs-1".into(),
                id: "a".into(),
                explicit_id: true,
                op,
                timestamp_ms: 42,
                source: Bytes::from_static(b"{\"message\":\"m\"}"),
                parsed: None,
                profile,
                pattern: None,
            };
            let mut out = Vec::new();
            encode_record(&mut out, 7, &ev);
            let (lsn, back, used) = decode_record(&out).unwrap();
            assert_eq!((lsn, used), (7, out.len()));
            assert_eq!((back.op, back.profile), (op, profile));
            assert_eq!((back.index, back.source), (ev.index, ev.source));
        }
        // a record written before profiles existed (high bits zero) is dynamic
        let mut out = Vec::new();
        let ev = Event {
            index: "x".into(),
            id: "b".into(),
            explicit_id: false,
            op: WriteOp::Create,
            timestamp_ms: 1,
            source: Bytes::from_static(b"{}"),
            parsed: None,
            profile: FieldProfile::Dynamic,
            pattern: None,
        };
        encode_record(&mut out, 1, &ev);
        assert_eq!(out[16], 1, "op byte of an old-style Create record");
    }
}

//! The syslog input: TCP (optionally TLS, RFC 5425) and UDP on one port.
//!
//! On TCP each message is framed either by octet counting (`LEN SP MSG`,
//! RFC 6587) or by a newline; both may be mixed on one connection, as
//! rsyslog and syslog-ng accept. Messages read together are written to the
//! write-ahead log at once before more is read, so a frame counts as
//! consumed only once it is durable. Each message is tagged
//! `syslog.<facility>.<severity>` for `[[routes]]`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context;
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;

use crate::event::{self, Event, WriteOp};
use crate::ingest::{index_name, Ingest};
use crate::parse::syslog;
use crate::route::Router;

/// Counters shown on `/metrics`.
#[derive(Default)]
pub struct SyslogMetrics {
    pub tcp_messages: AtomicU64,
    pub udp_messages: AtomicU64,
    pub parse_failures: AtomicU64,
    pub connections: AtomicU64,
    pub errors: AtomicU64,
}

/// Everything the listeners need.
pub struct SyslogContext {
    pub router: Router,
    pub ingest: Arc<Ingest>,
    /// Zone offset for RFC 3164 dates, seconds east of UTC.
    pub offset_secs: i32,
    pub max_message_bytes: usize,
    pub metrics: Arc<SyslogMetrics>,
}

/// Bind TCP and UDP on `addr`; returns the bound address.
pub async fn start(
    addr: SocketAddr,
    ctx: Arc<SyslogContext>,
    tls: Option<crate::input::tls::Acceptor>,
    shutdown: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the syslog input to {addr}"))?;
    let bound = listener.local_addr()?;
    let udp = tokio::net::UdpSocket::bind(bound)
        .await
        .with_context(|| format!("binding syslog UDP to {bound}"))?;
    tokio::spawn(serve_udp(udp, ctx.clone(), shutdown.clone()));
    crate::input::accept_loop(listener, "syslog", shutdown.clone(), move |sock, peer| {
        let ctx = ctx.clone();
        let sd = shutdown.clone();
        let tls = tls.clone();
        async move {
            ctx.metrics.connections.fetch_add(1, Ordering::Relaxed);
            let r = match tls {
                Some(acc) => match acc.accept(sock).await {
                    Ok(s) => serve_tcp(s, &ctx, sd).await,
                    Err(e) => Err(format!("TLS handshake failed: {e}")),
                },
                None => serve_tcp(sock, &ctx, sd).await,
            };
            if let Err(e) = r {
                ctx.metrics.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%peer, error = %e, "syslog: connection closed");
            }
        }
    });
    Ok(bound)
}

/// The next message in `buf`: (message bytes range, bytes consumed), or
/// None when more input is needed.
pub fn next_frame(
    buf: &[u8],
    max: usize,
) -> Result<Option<(std::ops::Range<usize>, usize)>, String> {
    // blank lines between frames
    let skip = buf
        .iter()
        .take_while(|b| matches!(b, b'\n' | b'\r' | b'\0'))
        .count();
    let b = &buf[skip..];
    if b.is_empty() {
        return Ok(None);
    }
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits > 0 && digits <= 10 && b.get(digits) == Some(&b' ') {
        // octet counting; the length may include a trailing LF (rsyslog)
        let len: usize = std::str::from_utf8(&b[..digits])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or("bad octet count")?;
        if len > max {
            return Err(format!(
                "octet-counted frame of {len} bytes is over max_message_bytes ({max})"
            ));
        }
        let start = skip + digits + 1;
        if buf.len() < start + len {
            return Ok(None);
        }
        return Ok(Some((start..start + len, start + len)));
    }
    match b.iter().position(|c| *c == b'\n') {
        Some(i) if i <= max => Ok(Some((skip..skip + i, skip + i + 1))),
        // too long: the first max bytes are a message, the rest the next
        _ if b.len() > max => Ok(Some((skip..skip + max, skip + max))),
        _ => Ok(None),
    }
}

/// The event of one message, or None when the route's transforms drop it.
fn to_event(text: &[u8], ctx: &SyslogContext, now: i64) -> Option<Event> {
    let text = String::from_utf8_lossy(text);
    let p = syslog::parse(&text, now, ctx.offset_secs);
    if p.facility == "unknown" && p.record.contains_key("tags") {
        ctx.metrics.parse_failures.fetch_add(1, Ordering::Relaxed);
    }
    let tag = format!("syslog.{}.{}", p.facility, p.severity);
    let route = ctx.router.route(&tag);
    let ts = p.time_ms.unwrap_or(now);
    let mut record = p.record;
    let outcome = route.process(&mut record);
    if outcome.drop {
        return None;
    }
    let template = outcome.index.as_deref().unwrap_or(&route.index);
    Some(Event {
        index: index_name::expand(template, ts),
        id: event::new_doc_id(),
        explicit_id: false,
        op: WriteOp::Index,
        timestamp_ms: ts,
        source: Bytes::from(serde_json::to_vec(&record).unwrap_or_default()),
        parsed: Some(Box::new(record)),
        profile: crate::event::FieldProfile::Syslog,
        pattern: None,
    })
}

/// Bytes one TCP read may take.
const READ_BYTES: usize = 256 * 1024;

async fn serve_tcp<S: AsyncRead + Unpin>(
    mut s: S,
    ctx: &SyslogContext,
    sd: CancellationToken,
) -> Result<(), String> {
    // Room for a few hundred KiB per read: each read is one WAL write (one
    // fsync wait) before the next, so bigger reads keep a fast sender busy.
    let mut buf = BytesMut::with_capacity(READ_BYTES);
    loop {
        let n = tokio::select! {
            _ = sd.cancelled() => return Ok(()),
            r = s.read_buf(&mut buf) => r.map_err(|e| format!("read: {e}"))?,
        };
        let now = event::now_ms();
        let mut events = Vec::new();
        let mut bad = None;
        loop {
            match next_frame(&buf, ctx.max_message_bytes) {
                Ok(Some((range, used))) => {
                    events.extend(to_event(&buf[range], ctx, now));
                    let _ = buf.split_to(used);
                }
                Ok(None) => break,
                Err(e) => {
                    bad = Some(e);
                    break;
                }
            }
        }
        if n == 0 && bad.is_none() {
            // the last message may lack its newline
            let rest = buf.split();
            let text = rest.strip_suffix(b"\r").unwrap_or(&rest);
            if !text.iter().all(|b| b.is_ascii_whitespace() || *b == 0) {
                events.extend(to_event(text, ctx, now));
            }
        }
        if !events.is_empty() {
            let count = events.len() as u64;
            ctx.ingest
                .write(events)
                .await
                .map_err(|e| format!("could not store messages: {e}"))?;
            ctx.metrics.tcp_messages.fetch_add(count, Ordering::Relaxed);
        }
        if let Some(e) = bad {
            return Err(e);
        }
        if n == 0 {
            return Ok(());
        }
        if buf.capacity() - buf.len() < READ_BYTES / 4 {
            buf.reserve(READ_BYTES);
        }
    }
}

async fn serve_udp(sock: tokio::net::UdpSocket, ctx: Arc<SyslogContext>, sd: CancellationToken) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let n = tokio::select! {
            _ = sd.cancelled() => return,
            r = sock.recv_from(&mut buf) => match r {
                Ok((n, _)) => n,
                Err(_) => continue,
            },
        };
        let now = event::now_ms();
        let mut events = Vec::new();
        let take = |d: &[u8], events: &mut Vec<Event>| {
            for line in d.split(|b| *b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if !line.is_empty() {
                    events.extend(to_event(line, &ctx, now));
                }
            }
        };
        take(&buf[..n], &mut events);
        // whatever else is waiting goes in the same write
        while events.len() < 2048 {
            match sock.try_recv_from(&mut buf) {
                Ok((n, _)) => take(&buf[..n], &mut events),
                Err(_) => break,
            }
        }
        let count = events.len() as u64;
        if let Err(e) = ctx.ingest.write(events).await {
            ctx.metrics.errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, "syslog: could not store UDP messages");
            continue;
        }
        ctx.metrics.udp_messages.fetch_add(count, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[u8], max: usize) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        let mut at = 0;
        while let Some((r, used)) = next_frame(&input[at..], max)? {
            out.push(String::from_utf8_lossy(&input[at..][r]).to_string());
            at += used;
        }
        Ok(out)
    }

    #[test]
    fn mixed_framing_on_one_connection() {
        let input = b"<13>Nov 27 11:00:00 h a: lf one\n24 <13>1 - h a - - - octet\n\r\n<13>Nov 27 11:00:01 h a: lf two\n11 with-lf-11\n";
        assert_eq!(
            frames(input, 1000).unwrap(),
            vec![
                "<13>Nov 27 11:00:00 h a: lf one",
                "<13>1 - h a - - - octet\n",
                "<13>Nov 27 11:00:01 h a: lf two",
                "with-lf-11\n"
            ]
        );
        // incomplete octet frame waits
        assert_eq!(next_frame(b"30 <13>1 short", 1000).unwrap(), None);
        assert!(next_frame(b"99999 x", 1000).is_err());
        // a long line is split at the limit
        assert_eq!(
            frames(b"abcdefghij\n", 4).unwrap(),
            vec!["abcd", "efgh", "ij"]
        );
    }

    proptest::proptest! {
        #[test]
        fn framing_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = frames(&bytes, 64);
        }
    }
}

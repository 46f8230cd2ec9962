//! The Fluentd forward input: a TCP listener (optionally TLS) speaking the
//! forward protocol, and the UDP heartbeat on the same port.
//!
//! Each connection reads frames, turns their entries into events by route,
//! writes every complete frame it has to the write-ahead log at once, and
//! only then sends the acks the client asked for. A bad frame closes its
//! connection after the frames before it were written and acknowledged;
//! other connections are not affected. Memory is bounded per connection
//! (`forward.max_frame_bytes` of unparsed input) and overall (frames being
//! decoded and written share the server's in-flight budget, so a flood
//! slows senders down instead of growing memory).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context;
use bytes::{Bytes, BytesMut};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::config::ForwardConfig;
use crate::event::{self, Event, WriteOp};
use crate::forward::handshake;
use crate::forward::message::{self, ClientMessage, Entry, EventBatch, Limits};
use crate::forward::msgpack::FrameScanner;
use crate::ingest::{index_name, Ingest};
use crate::route::{Router, TimeSource};

/// Counters shown on `/metrics`.
#[derive(Default)]
pub struct ForwardMetrics {
    pub connections: AtomicU64,
    pub connections_open: AtomicU64,
    pub frames: AtomicU64,
    pub events: AtomicU64,
    pub acks: AtomicU64,
    pub bytes: AtomicU64,
    pub errors: AtomicU64,
    pub auth_failures: AtomicU64,
    pub heartbeats: AtomicU64,
    /// Chunks received again after they were stored (lost acks), not stored twice.
    pub resent_chunks: AtomicU64,
}

/// Where events go: the write-ahead log, or nowhere (to measure the
/// protocol alone).
#[derive(Clone)]
pub enum Sink {
    Ingest(Arc<Ingest>),
    /// Count and drop: for `bench forward`.
    Null,
}

/// Everything a connection needs.
pub struct ForwardContext {
    pub cfg: ForwardConfig,
    pub router: Router,
    pub sink: Sink,
    pub default_tz: Option<jiff::tz::TimeZone>,
    pub metrics: Arc<ForwardMetrics>,
    /// Shared in-flight budget, one permit per KiB.
    pub inflight: Arc<Semaphore>,
    pub inflight_permits: u32,
}

/// Bind TCP and UDP on `addr` and serve until `shutdown`; returns the bound
/// address.
pub async fn start(
    addr: SocketAddr,
    ctx: Arc<ForwardContext>,
    tls: Option<crate::input::tls::Acceptor>,
    shutdown: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the forward input to {addr}"))?;
    let bound = listener.local_addr()?;
    let udp = tokio::net::UdpSocket::bind(bound)
        .await
        .with_context(|| format!("binding the forward heartbeat (UDP) to {bound}"))?;
    tokio::spawn(heartbeat(udp, ctx.metrics.clone(), shutdown.clone()));
    crate::input::accept_loop(listener, "forward", shutdown.clone(), move |sock, peer| {
        let _ = sock.set_nodelay(true);
        let ctx = ctx.clone();
        let sd = shutdown.clone();
        let tls = tls.clone();
        async move {
            ctx.metrics.connections.fetch_add(1, Ordering::Relaxed);
            ctx.metrics.connections_open.fetch_add(1, Ordering::Relaxed);
            let r = match tls {
                Some(acc) => match acc.accept(sock).await {
                    Ok(s) => serve(s, peer, &ctx, sd).await,
                    Err(e) => Err(ConnError::Closed(format!("TLS handshake failed: {e}"))),
                },
                None => serve(sock, peer, &ctx, sd).await,
            };
            ctx.metrics.connections_open.fetch_sub(1, Ordering::Relaxed);
            if let Err(e) = r {
                ctx.metrics.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%peer, error = %e, "forward: connection closed");
            }
        }
    });
    Ok(bound)
}

async fn heartbeat(
    sock: tokio::net::UdpSocket,
    metrics: Arc<ForwardMetrics>,
    sd: CancellationToken,
) {
    let mut buf = [0u8; 1024];
    loop {
        let from = tokio::select! {
            _ = sd.cancelled() => return,
            r = sock.recv_from(&mut buf) => match r {
                Ok((_, from)) => from,
                Err(_) => continue,
            },
        };
        metrics.heartbeats.fetch_add(1, Ordering::Relaxed);
        // Fluentd answers every heartbeat datagram with one NUL byte.
        let _ = sock.send_to(b"\0", from).await;
    }
}

/// How long a client has to answer HELO with PING.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
enum ConnError {
    #[error("{0}")]
    Closed(String),
    #[error("read/write: {0}")]
    Io(#[from] std::io::Error),
}

enum Auth {
    Open,
    AwaitPing { nonce: Vec<u8>, auth_salt: Vec<u8> },
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    peer: SocketAddr,
    ctx: &ForwardContext,
    sd: CancellationToken,
) -> Result<(), ConnError> {
    let limits = ctx.cfg.limits;
    let mut auth = Auth::Open;
    if ctx.cfg.shared_key.is_some() {
        let nonce = handshake::random_salt();
        let auth_salt = if ctx.cfg.users.is_empty() {
            Vec::new()
        } else {
            handshake::random_salt()
        };
        s.write_all(&message::encode_helo(&nonce, &auth_salt, true))
            .await?;
        s.flush().await?;
        auth = Auth::AwaitPing { nonce, auth_salt };
    }
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut scanner = FrameScanner::new(limits.max_frame_bytes, limits.max_depth);
    // A client that never completes the handshake does not hold a
    // connection for long.
    let handshake_deadline = tokio::time::Instant::now() + HANDSHAKE_TIMEOUT;
    loop {
        let awaiting_ping = matches!(auth, Auth::AwaitPing { .. });
        let n = tokio::select! {
            _ = sd.cancelled() => return Ok(()),
            _ = tokio::time::sleep_until(handshake_deadline), if awaiting_ping => {
                ctx.metrics.auth_failures.fetch_add(1, Ordering::Relaxed);
                return Err(ConnError::Closed(format!(
                    "no PING within {} s of HELO (shared_key handshake)",
                    HANDSHAKE_TIMEOUT.as_secs()
                )));
            }
            r = s.read_buf(&mut buf) => r?,
        };
        if n == 0 {
            if !buf.is_empty() {
                return Err(ConnError::Closed(format!(
                    "client closed the connection inside a message ({} bytes unread; nothing of it was acknowledged)",
                    buf.len()
                )));
            }
            return Ok(());
        }
        ctx.metrics.bytes.fetch_add(n as u64, Ordering::Relaxed);
        let mut frames: Vec<Bytes> = Vec::new();
        let mut bad = None;
        loop {
            match scanner.advance(&buf) {
                Ok(Some(len)) => frames.push(buf.split_to(len).freeze()),
                Ok(None) => break,
                Err(e) => {
                    bad = Some(format!(
                        "frame {}: {e}",
                        ctx.metrics.frames.load(Ordering::Relaxed)
                    ));
                    break;
                }
            }
        }
        // The handshake comes first and alone.
        if let Auth::AwaitPing { nonce, auth_salt } = &auth {
            if let Some(first) = frames.first() {
                let reply = check_ping(first, nonce, auth_salt, ctx);
                match reply {
                    Ok(pong) => {
                        tracing::debug!(%peer, "forward: handshake succeeded");
                        s.write_all(&pong).await?;
                        s.flush().await?;
                        auth = Auth::Open;
                        frames.remove(0);
                    }
                    Err((pong, why)) => {
                        ctx.metrics.auth_failures.fetch_add(1, Ordering::Relaxed);
                        if let Some(p) = pong {
                            let _ = s.write_all(&p).await;
                            let _ = s.flush().await;
                        }
                        return Err(ConnError::Closed(format!("handshake failed: {why}")));
                    }
                }
            }
        }
        if !frames.is_empty() {
            let size: usize = frames.iter().map(|f| f.len()).sum();
            // Charged at four times the wire size: decoded records take
            // several times their MessagePack size.
            let permits = ((size.saturating_mul(4) / 1024) as u32).clamp(1, ctx.inflight_permits);
            let _permit = ctx
                .inflight
                .acquire_many(permits)
                .await
                .map_err(|_| ConnError::Closed("server shutting down".into()))?;
            let (decoded, err) = if size > 256 * 1024 {
                let frames = std::mem::take(&mut frames);
                // Decoding megabytes is CPU work: keep it off the async workers.
                let ctx_cfg = (
                    limits,
                    ctx.router.clone(),
                    ctx.default_tz.clone(),
                    ctx.cfg.tag_key.clone(),
                );
                tokio::task::spawn_blocking(move || {
                    let (limits, router, tz, tag_key) = ctx_cfg;
                    decode_frames(&frames, &limits, &router, tz.as_ref(), &tag_key)
                })
                .await
                .map_err(|e| ConnError::Closed(format!("decoder failed: {e}")))?
            } else {
                decode_frames(
                    &frames,
                    &limits,
                    &ctx.router,
                    ctx.default_tz.as_ref(),
                    &ctx.cfg.tag_key,
                )
            };
            ctx.metrics
                .frames
                .fetch_add(decoded.len() as u64, Ordering::Relaxed);
            let mut events = Vec::new();
            let mut acks = Vec::new();
            let mut firsts = Vec::new();
            for d in decoded {
                let resent = match (&ctx.sink, &d.first) {
                    (Sink::Ingest(ingest), Some((index, id))) => ingest.id_exists(index, id),
                    _ => false,
                };
                if resent {
                    ctx.metrics.resent_chunks.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%peer, chunk = ?d.chunk, "forward: chunk already stored (a resend); acknowledging it again");
                } else {
                    events.extend(d.events);
                    firsts.extend(d.first);
                }
                acks.extend(d.chunk);
            }
            let count = events.len() as u64;
            if !events.is_empty() {
                if let Sink::Ingest(ingest) = &ctx.sink {
                    let lsn = ingest.write(events).await.map_err(|e| {
                        ConnError::Closed(format!(
                            "could not store events, nothing acknowledged: {e}"
                        ))
                    })?;
                    ingest.note_ids(firsts, lsn);
                }
            }
            ctx.metrics.events.fetch_add(count, Ordering::Relaxed);
            if !acks.is_empty() {
                let mut out = Vec::with_capacity(acks.len() * 32);
                for c in &acks {
                    out.extend(message::encode_ack(c));
                }
                s.write_all(&out).await?;
                s.flush().await?;
                ctx.metrics
                    .acks
                    .fetch_add(acks.len() as u64, Ordering::Relaxed);
            }
            if let Some(e) = err {
                return Err(ConnError::Closed(e));
            }
        }
        if let Some(e) = bad {
            return Err(ConnError::Closed(e));
        }
        if buf.capacity() - buf.len() < 16 * 1024 {
            buf.reserve(64 * 1024);
        }
    }
}

/// PONG for a good PING; for a bad one, the PONG to send (if the client is
/// owed one) and why.
fn check_ping(
    frame: &[u8],
    nonce: &[u8],
    auth_salt: &[u8],
    ctx: &ForwardContext,
) -> Result<Vec<u8>, (Option<Vec<u8>>, String)> {
    let key = ctx.cfg.shared_key.as_deref().unwrap_or("");
    let me = &ctx.cfg.self_hostname;
    let ping = match message::decode_client(frame, &ctx.cfg.limits) {
        Ok(ClientMessage::Ping(p)) => p,
        Ok(ClientMessage::Events(_)) => {
            return Err((
                None,
                "events before the shared_key handshake (send PING first)".into(),
            ))
        }
        Err(e) => return Err((None, format!("expected PING: {e}"))),
    };
    let fail = |why: String| Err((Some(message::encode_pong(false, &why, me, "")), why));
    if &ping.client_hostname == me {
        return fail("same hostname between input and output: invalid configuration".into());
    }
    let want =
        handshake::shared_key_digest(&ping.shared_key_salt, &ping.client_hostname, nonce, key);
    if !handshake::same_digest(&want, &ping.shared_key_digest) {
        return fail("shared_key mismatch".into());
    }
    if !ctx.cfg.users.is_empty() {
        let ok = ctx.cfg.users.iter().any(|(u, p)| {
            *u == ping.username
                && handshake::same_digest(
                    &handshake::password_digest(auth_salt, u, p),
                    &ping.password_digest,
                )
        });
        if !ok {
            return fail("username/password mismatch".into());
        }
    }
    let digest = handshake::shared_key_digest(&ping.shared_key_salt, me, nonce, key);
    Ok(message::encode_pong(true, "", me, &digest))
}

/// The events of one decoded frame.
struct Decoded {
    events: Vec<Event>,
    /// Chunk id to acknowledge.
    chunk: Option<String>,
    /// (index, id) of the first event when the ids derive from the chunk:
    /// if it is already stored, this chunk is a resend.
    first: Option<(String, String)>,
}

/// Document ids of a chunk's events: a digest of the chunk id and the
/// whole frame, plus the entry number. A client that resends a chunk after
/// a lost ack (the server died between the write and the ack, or the
/// connection did) sends the same bytes with the same chunk id, so the
/// resend is recognised by its first id and not stored twice; a client
/// reusing simple chunk ids for different data is never mistaken for one.
/// (SHA-256: hardware-accelerated here, about a tenth of decoding's cost.)
fn chunk_id_prefix(chunk: &str, frame: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(chunk.as_bytes());
    h.update([0u8]);
    h.update(frame);
    let d = h.finalize();
    d[..12].iter().map(|b| format!("{b:02x}")).collect()
}

/// Decode frames in order until one fails: what the frames before it hold,
/// and the error.
fn decode_frames(
    frames: &[Bytes],
    limits: &Limits,
    router: &Router,
    tz: Option<&jiff::tz::TimeZone>,
    tag_key: &str,
) -> (Vec<Decoded>, Option<String>) {
    let mut out = Vec::with_capacity(frames.len());
    let now = event::now_ms();
    let mut names: HashMap<(usize, i64), String> = HashMap::new();
    for f in frames {
        let batch = match message::decode_client(f, limits) {
            Ok(ClientMessage::Events(b)) => b,
            Ok(ClientMessage::Ping(_)) => {
                return (out, Some("unexpected PING after the handshake".into()))
            }
            Err(e) => return (out, Some(format!("bad message: {e}"))),
        };
        let EventBatch {
            tag,
            entries,
            chunk,
        } = batch;
        let prefix = chunk
            .as_deref()
            .filter(|_| !entries.is_empty())
            .map(|c| chunk_id_prefix(c, f));
        let route = router.route(&tag);
        // syslog relayed by an agent (`syslog.<facility>.<severity>`) is
        // mapped as the syslog input maps it
        let profile = if tag == "syslog" || tag.starts_with("syslog.") {
            crate::event::FieldProfile::Syslog
        } else {
            crate::event::FieldProfile::Dynamic
        };
        let route_key = route as *const _ as usize;
        let mut events = Vec::with_capacity(entries.len());
        for (
            n,
            Entry {
                time_ns,
                mut record,
            },
        ) in entries.into_iter().enumerate()
        {
            let outcome = route.process(&mut record);
            if outcome.drop {
                continue;
            }
            let event_ms = time_ns.div_euclid(1_000_000);
            let (ts, stamp) = match route.time_source {
                // The record's own time is kept as it is (as `_bulk` does);
                // `@timestamp` is added only when the time came with the
                // transport, so that `_source` shows it.
                TimeSource::Record => match event::record_timestamp(&record, tz, now) {
                    Some(ms) => (ms, false),
                    None => (event_ms, true),
                },
                TimeSource::Event => (event_ms, true),
            };
            if stamp {
                let ns = if ts == event_ms {
                    time_ns
                } else {
                    ts * 1_000_000
                };
                record.insert(
                    "@timestamp".into(),
                    Value::String(crate::forward::rfc3339(ns)),
                );
            }
            if !tag_key.is_empty() && !record.contains_key(tag_key) {
                record.insert(tag_key.to_string(), Value::String(tag.clone()));
            }
            let day = ts.div_euclid(86_400_000);
            let index = if let Some(t) = &outcome.index {
                index_name::expand(t, ts)
            } else if route.index.contains("HH") {
                index_name::expand(&route.index, ts)
            } else {
                names
                    .entry((route_key, day))
                    .or_insert_with(|| index_name::expand(&route.index, ts))
                    .clone()
            };
            let source = Bytes::from(serde_json::to_vec(&record).unwrap_or_default());
            let id = match &prefix {
                Some(p) => format!("{p}{n:x}"),
                None => event::new_doc_id(),
            };
            events.push(Event {
                index,
                id,
                explicit_id: false,
                op: WriteOp::Index,
                timestamp_ms: ts,
                source,
                parsed: Some(Box::new(record)),
                profile,
                pattern: None,
            });
        }
        let first = prefix.and(events.first().map(|e| (e.index.clone(), e.id.clone())));
        out.push(Decoded {
            events,
            chunk,
            first,
        });
    }
    (out, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::Route;

    #[test]
    fn events_get_route_time_and_tag() {
        let router = Router::new(vec![
            Route::new(
                "app.**",
                "app-%{+YYYY.MM.dd}",
                Some("log".into()),
                false,
                TimeSource::Record,
            )
            .unwrap(),
            Route::new("evt.*", "evt", None, false, TimeSource::Event).unwrap(),
        ]);
        let mut packed = Vec::new();
        let rec = |s: &str| serde_json::from_str::<serde_json::Map<String, Value>>(s).unwrap();
        // event time 2026-11-24T12:00:00.5Z
        let t = 1_795_521_600_500_000_000;
        message::write_entry(&mut packed, t, &rec(r#"{"log":"{\"msg\":\"hi\"}"}"#));
        message::write_entry(
            &mut packed,
            t,
            &rec(r#"{"timestamp":"2026-11-20 08:00:00"}"#),
        );
        let f1 = Bytes::from(message::encode_packed_forward(
            "app.web", &packed, 2, "c1", false,
        ));
        let mut p2 = Vec::new();
        message::write_entry(
            &mut p2,
            t,
            &rec(r#"{"timestamp":"2026-11-20 08:00:00","tag":"mine"}"#),
        );
        let f2 = Bytes::from(message::encode_packed_forward("evt.x", &p2, 1, "c2", false));
        let (decoded, err) = decode_frames(
            &[f1, f2, Bytes::from_static(b"\x01")],
            &Limits::default(),
            &router,
            None,
            "tag",
        );
        let chunks: Vec<_> = decoded.iter().filter_map(|d| d.chunk.clone()).collect();
        assert_eq!(chunks, vec!["c1", "c2"]);
        // ids derive from the chunk: the same frame gives the same ids
        let events: Vec<Event> = decoded.into_iter().flat_map(|d| d.events).collect();
        assert_eq!(events[0].id.len(), 25);
        assert_ne!(events[0].id, events[1].id);
        assert_eq!(&events[0].id[..24], &events[1].id[..24]);
        assert!(err.unwrap().contains("bad message"));
        let src: Vec<Value> = events
            .iter()
            .map(|e| serde_json::from_slice(&e.source).unwrap())
            .collect();
        assert_eq!(events[0].index, "app-2026.11.24");
        assert_eq!(
            src[0],
            serde_json::json!({"msg":"hi","@timestamp":"2026-11-24T12:00:00.500Z","tag":"app.web"})
        );
        assert_eq!(events[1].index, "app-2026.11.20");
        assert_eq!(events[1].timestamp_ms, 1_795_161_600_000);
        assert!(
            src[1].get("@timestamp").is_none(),
            "the record's own time is kept as is"
        );
        assert_eq!(events[2].index, "evt");
        assert_eq!(events[2].timestamp_ms, 1_795_521_600_500);
        assert_eq!(src[2]["tag"], "mine");
    }
}

//! The `syslog` source: the agent listens for syslog on TCP and UDP (one
//! address, as the server's input does) and ships the messages on like any
//! other source, tagged `<tag>.<facility>.<severity>` so server routes can
//! pick them by facility and severity, the same as syslog sent to the
//! server directly. For hosts whose daemons or devices can only speak
//! syslog to something local.
//!
//! What arrives here lives in memory until its chunk is delivered or in the
//! agent's disk buffer: syslog has no acknowledgement to hold back. A TCP
//! sender is slowed (not dropped) while the output is behind; UDP is lost
//! when the kernel's buffer overflows, as with any syslog receiver.

use std::collections::HashMap;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::{Chunk, ChunkBuilder, SourceMetrics};
use crate::input::syslog::next_frame;

/// One parsed message on its way to a chunk.
struct Message {
    tag: String,
    time_ns: i64,
    record: Map<String, Value>,
}

/// How the listeners behave.
#[derive(Debug, Clone)]
pub struct SyslogSourceOptions {
    pub listen: SocketAddr,
    /// Tag prefix: messages go out as `<tag>.<facility>.<severity>`.
    pub tag: String,
    pub max_message_bytes: usize,
    /// Zone of RFC 3164 dates, seconds east of UTC.
    pub offset_secs: i32,
    pub chunk_max_bytes: usize,
    pub chunk_max_events: u64,
    pub flush: Duration,
}

/// Bound the sockets (so errors show at start), then run until `stop`.
pub fn start(
    opts: SyslogSourceOptions,
    metrics: Arc<SourceMetrics>,
    tx: SyncSender<Chunk>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<()> {
    let tcp = TcpListener::bind(opts.listen)?;
    tcp.set_nonblocking(true)?;
    let udp = UdpSocket::bind(opts.listen)?;
    udp.set_read_timeout(Some(Duration::from_millis(100)))?;
    tracing::info!(addr = %opts.listen, "agent: syslog source listening (TCP and UDP)");
    // Parsed messages: bounded, so a slow output slows TCP senders.
    let (mtx, mrx) = sync_channel::<Message>(4096);
    {
        let (opts, metrics, mtx, stop) = (opts.clone(), metrics.clone(), mtx.clone(), stop.clone());
        std::thread::Builder::new()
            .name("syslog-udp".into())
            .spawn(move || serve_udp(udp, &opts, &metrics, &mtx, &stop))?;
    }
    {
        let (opts, metrics, stop) = (opts.clone(), metrics.clone(), stop.clone());
        std::thread::Builder::new()
            .name("syslog-tcp".into())
            .spawn(move || accept(tcp, opts, metrics, mtx, stop))?;
    }
    std::thread::Builder::new()
        .name("syslog-chunks".into())
        .spawn(move || build_chunks(mrx, &opts, tx, &stop))?;
    Ok(())
}

fn message(text: &[u8], opts: &SyslogSourceOptions, m: &SourceMetrics) -> Message {
    let text = String::from_utf8_lossy(text);
    let now = crate::event::now_ms();
    let p = crate::parse::syslog::parse(&text, now, opts.offset_secs);
    if p.record.contains_key("tags") {
        m.parse_failures.fetch_add(1, Ordering::Relaxed);
    }
    m.events.fetch_add(1, Ordering::Relaxed);
    Message {
        tag: format!("{}.{}.{}", opts.tag, p.facility, p.severity),
        time_ns: p.time_ms.unwrap_or(now).saturating_mul(1_000_000),
        record: p.record,
    }
}

/// A read timeout (the chance to look at `stop`), not an error.
fn idle(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

fn serve_udp(
    sock: UdpSocket,
    opts: &SyslogSourceOptions,
    m: &SourceMetrics,
    out: &SyncSender<Message>,
    stop: &AtomicBool,
) {
    let mut buf = vec![0u8; 65_536];
    while !stop.load(Ordering::Relaxed) {
        let n = match sock.recv_from(&mut buf) {
            Ok((n, _)) => n,
            Err(e) if idle(&e) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "agent: syslog UDP receive failed");
                continue;
            }
        };
        m.bytes.fetch_add(n as u64, Ordering::Relaxed);
        // one message per datagram; several lines are several messages
        for line in buf[..n].split(|b| *b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.iter().all(|b| b.is_ascii_whitespace() || *b == 0) {
                continue;
            }
            if out.send(message(line, opts, m)).is_err() {
                return;
            }
        }
    }
}

fn accept(
    listener: TcpListener,
    opts: SyslogSourceOptions,
    m: Arc<SourceMetrics>,
    out: SyncSender<Message>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((s, peer)) => {
                let (opts, m, out, stop) = (opts.clone(), m.clone(), out.clone(), stop.clone());
                let spawned = std::thread::Builder::new()
                    .name("syslog-conn".into())
                    .spawn(move || {
                        if let Err(e) = serve_tcp(s, &opts, &m, &out, &stop) {
                            tracing::warn!(%peer, error = %e, "agent: syslog connection closed");
                        }
                    });
                if let Err(e) = spawned {
                    tracing::warn!(error = %e, "agent: no thread for a syslog connection");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => {
                tracing::warn!(error = %e, "agent: syslog accept failed");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

fn serve_tcp(
    mut s: TcpStream,
    opts: &SyslogSourceOptions,
    m: &SourceMetrics,
    out: &SyncSender<Message>,
    stop: &AtomicBool,
) -> Result<(), String> {
    s.set_nonblocking(false).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .map_err(|e| e.to_string())?;
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let n = match s.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if idle(&e) => continue,
            Err(e) => return Err(format!("read: {e}")),
        };
        m.bytes.fetch_add(n as u64, Ordering::Relaxed);
        buf.extend_from_slice(&chunk[..n]);
        let mut used = 0;
        loop {
            match next_frame(&buf[used..], opts.max_message_bytes) {
                Ok(Some((range, len))) => {
                    let (a, b) = (used + range.start, used + range.end);
                    used += len;
                    out.send(message(&buf[a..b], opts, m))
                        .map_err(|_| "the agent is stopping".to_string())?;
                }
                Ok(None) => break,
                Err(e) => return Err(e),
            }
        }
        buf.drain(..used);
        if n == 0 {
            // the last message may lack its newline
            let text = buf.strip_suffix(b"\r").unwrap_or(&buf);
            if !text.iter().all(|b| b.is_ascii_whitespace() || *b == 0) {
                let _ = out.send(message(text, opts, m));
            }
            return Ok(());
        }
    }
}

/// One chunk builder per tag; chunks go out when full or due.
fn build_chunks(
    rx: Receiver<Message>,
    opts: &SyslogSourceOptions,
    tx: SyncSender<Chunk>,
    stop: &AtomicBool,
) {
    let mut builders: HashMap<String, ChunkBuilder> = HashMap::new();
    loop {
        let ended = match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(msg) => {
                let b = builders.entry(msg.tag.clone()).or_insert_with(|| {
                    ChunkBuilder::new(
                        &msg.tag,
                        opts.chunk_max_bytes,
                        opts.chunk_max_events,
                        opts.flush,
                    )
                });
                b.add(msg.time_ns, &msg.record);
                if b.is_full() {
                    if let Some(c) = b.take() {
                        if tx.send(c).is_err() {
                            return;
                        }
                    }
                }
                false
            }
            Err(RecvTimeoutError::Timeout) => stop.load(Ordering::Relaxed),
            Err(RecvTimeoutError::Disconnected) => true,
        };
        for b in builders.values_mut() {
            if b.is_due() || ended {
                if let Some(c) = b.take() {
                    if tx.send(c).is_err() {
                        return;
                    }
                }
            }
        }
        // forget tags that went quiet (a builder per facility/severity pair)
        if builders.len() > 256 {
            builders.retain(|_, b| b.events() > 0);
        }
        if ended {
            return;
        }
    }
}

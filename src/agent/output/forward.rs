//! The forward output: sends chunks to one or more Fluentd-compatible
//! servers (logweave, Fluentd, Fluent Bit) and waits for each chunk's ack.
//!
//! Chunks go round-robin over the servers that are up (load balancing); a
//! server that fails is skipped for a backoff period that doubles with each
//! failure (failover), and tried again after it. Connections are kept open
//! between chunks. With `heartbeat = "udp"`, a server that stops answering
//! Fluentd's UDP heartbeat is treated as down before a chunk is lost on it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Deliver;
use crate::forward::handshake;
use crate::forward::message::{self, Ping, ServerMessage};
use crate::forward::msgpack::FrameScanner;

/// How server health is checked between chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heartbeat {
    /// By the connection itself (Fluentd's default).
    Transport,
    /// By UDP heartbeats to the same port, every second.
    Udp,
    None,
}

/// Settings of the forward output.
#[derive(Clone)]
pub struct ForwardOptions {
    pub servers: Vec<String>,
    pub shared_key: Option<String>,
    pub self_hostname: String,
    pub username: String,
    pub password: String,
    /// TLS client config and the name to verify (default: the host part).
    pub tls: Option<(Arc<rustls::ClientConfig>, Option<String>)>,
    pub connect_timeout: Duration,
    pub ack_timeout: Duration,
    pub heartbeat: Heartbeat,
}

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

struct Conn {
    stream: Box<dyn Stream>,
    buf: Vec<u8>,
    scanner: FrameScanner,
}

struct Server {
    addr: String,
    conn: Option<Conn>,
    failures: u32,
    down_until: Option<Instant>,
    /// Milliseconds since `epoch` of the last heartbeat reply (UDP mode).
    last_beat: Arc<AtomicI64>,
}

/// The forward client.
pub struct ForwardClient {
    opts: ForwardOptions,
    servers: Vec<Server>,
    next: usize,
    epoch: Instant,
}

impl ForwardClient {
    pub fn new(opts: ForwardOptions) -> ForwardClient {
        let epoch = Instant::now();
        let servers: Vec<Server> = opts
            .servers
            .iter()
            .map(|a| Server {
                addr: a.clone(),
                conn: None,
                failures: 0,
                down_until: None,
                last_beat: Arc::new(AtomicI64::new(0)),
            })
            .collect();
        if opts.heartbeat == Heartbeat::Udp {
            for s in &servers {
                spawn_heartbeat(s.addr.clone(), s.last_beat.clone(), epoch);
            }
        }
        ForwardClient {
            opts,
            servers,
            next: 0,
            epoch,
        }
    }

    fn is_up(&self, i: usize) -> bool {
        let s = &self.servers[i];
        if s.down_until.is_some_and(|t| Instant::now() < t) {
            return false;
        }
        if self.opts.heartbeat == Heartbeat::Udp {
            let now = self.epoch.elapsed().as_millis() as i64;
            let last = s.last_beat.load(Ordering::Relaxed);
            // no reply in 3 s (or never, after the first 3 s)
            if now - last > 3000 && now > 3000 {
                return false;
            }
        }
        true
    }

    fn connect(&self, addr: &str) -> Result<Conn, String> {
        let sock: SocketAddr = addr
            .to_socket_addrs()
            .map_err(|e| format!("resolving {addr}: {e}"))?
            .next()
            .ok_or_else(|| format!("{addr} resolves to no address"))?;
        let tcp = TcpStream::connect_timeout(&sock, self.opts.connect_timeout)
            .map_err(|e| format!("connecting: {e}"))?;
        let _ = tcp.set_nodelay(true);
        tcp.set_read_timeout(Some(self.opts.ack_timeout))
            .and_then(|_| tcp.set_write_timeout(Some(self.opts.ack_timeout)))
            .map_err(|e| format!("socket options: {e}"))?;
        let stream: Box<dyn Stream> = match &self.opts.tls {
            None => Box::new(tcp),
            Some((cfg, name)) => {
                let host = name.clone().unwrap_or_else(|| {
                    addr.rsplit_once(':')
                        .map_or(addr, |(h, _)| h)
                        .trim_matches(['[', ']'])
                        .to_string()
                });
                let sn = rustls::pki_types::ServerName::try_from(host.clone())
                    .map_err(|e| format!("TLS server name '{host}': {e}"))?;
                let c = rustls::ClientConnection::new(cfg.clone(), sn)
                    .map_err(|e| format!("TLS: {e}"))?;
                Box::new(rustls::StreamOwned::new(c, tcp))
            }
        };
        let mut conn = Conn {
            stream,
            buf: Vec::with_capacity(4096),
            scanner: FrameScanner::new(1 << 20, 16),
        };
        if let Some(key) = &self.opts.shared_key {
            self.handshake(&mut conn, key)?;
        }
        Ok(conn)
    }

    fn handshake(&self, conn: &mut Conn, key: &str) -> Result<(), String> {
        let (nonce, auth_salt) = match read_message(conn)? {
            ServerMessage::Helo { nonce, auth_salt } => (nonce, auth_salt),
            other => return Err(format!("expected HELO from the server, got {other:?}")),
        };
        let salt = handshake::random_salt();
        let me = &self.opts.self_hostname;
        let ping = Ping {
            client_hostname: me.clone(),
            shared_key_salt: salt.clone(),
            shared_key_digest: handshake::shared_key_digest(&salt, me, &nonce, key),
            username: if auth_salt.is_empty() {
                String::new()
            } else {
                self.opts.username.clone()
            },
            password_digest: if auth_salt.is_empty() {
                String::new()
            } else {
                handshake::password_digest(&auth_salt, &self.opts.username, &self.opts.password)
            },
        };
        conn.stream
            .write_all(&message::encode_ping(&ping))
            .and_then(|_| conn.stream.flush())
            .map_err(|e| format!("sending PING: {e}"))?;
        match read_message(conn)? {
            ServerMessage::Pong {
                ok: false, reason, ..
            } => Err(format!("server refused the handshake: {reason}")),
            ServerMessage::Pong {
                server_hostname,
                digest,
                ..
            } => {
                let want = handshake::shared_key_digest(&salt, &server_hostname, &nonce, key);
                if handshake::same_digest(&want, &digest) {
                    Ok(())
                } else {
                    Err("the server's handshake digest does not match our shared_key".into())
                }
            }
            other => Err(format!("expected PONG from the server, got {other:?}")),
        }
    }

    fn send_to(&mut self, i: usize, frame: &[u8], chunk_id: &str) -> Result<(), String> {
        if self.servers[i].conn.is_none() {
            let c = self.connect(&self.servers[i].addr.clone())?;
            self.servers[i].conn = Some(c);
        }
        let Some(conn) = self.servers[i].conn.as_mut() else {
            return Err("not connected".into());
        };
        conn.stream
            .write_all(frame)
            .and_then(|_| conn.stream.flush())
            .map_err(|e| format!("sending: {e}"))?;
        loop {
            match read_message(conn)? {
                ServerMessage::Ack(id) if id == chunk_id => return Ok(()),
                ServerMessage::Ack(_) => continue, // a late ack of an earlier attempt
                ServerMessage::Helo { .. } => {
                    return Err(
                        "the server requires the shared_key handshake (set shared_key)".into(),
                    )
                }
                other => return Err(format!("expected an ack, got {other:?}")),
            }
        }
    }
}

fn read_message(conn: &mut Conn) -> Result<ServerMessage, String> {
    let mut tmp = [0u8; 4096];
    loop {
        match conn.scanner.advance(&conn.buf) {
            Ok(Some(len)) => {
                let frame: Vec<u8> = conn.buf.drain(..len).collect();
                return message::decode_server(&frame).map_err(|e| format!("bad reply: {e}"));
            }
            Ok(None) => {}
            Err(e) => return Err(format!("bad reply: {e}")),
        }
        let n = conn.stream.read(&mut tmp).map_err(|e| match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                "no reply (ack) before ack_timeout".to_string()
            }
            _ => format!("reading: {e}"),
        })?;
        if n == 0 {
            return Err("server closed the connection before acknowledging".into());
        }
        conn.buf.extend_from_slice(&tmp[..n]);
    }
}

impl Deliver for ForwardClient {
    fn deliver(&mut self, frame: &[u8], chunk_id: &str) -> Result<(), String> {
        let n = self.servers.len();
        let up: Vec<usize> = (0..n)
            .map(|k| (self.next + k) % n)
            .filter(|i| self.is_up(*i))
            .collect();
        // When none is up, try them all rather than wait.
        let order = if up.is_empty() {
            (0..n).map(|k| (self.next + k) % n).collect()
        } else {
            up
        };
        let mut errors = Vec::new();
        for i in order {
            match self.send_to(i, frame, chunk_id) {
                Ok(()) => {
                    let s = &mut self.servers[i];
                    s.failures = 0;
                    s.down_until = None;
                    self.next = (i + 1) % n;
                    return Ok(());
                }
                Err(e) => {
                    let s = &mut self.servers[i];
                    s.conn = None;
                    s.failures += 1;
                    let backoff = Duration::from_millis(500)
                        .saturating_mul(1u32 << s.failures.min(6))
                        .min(Duration::from_secs(30));
                    s.down_until = Some(Instant::now() + backoff);
                    errors.push(format!("{}: {e}", s.addr));
                }
            }
        }
        Err(errors.join("; "))
    }
}

fn spawn_heartbeat(addr: String, last: Arc<AtomicI64>, epoch: Instant) {
    std::thread::spawn(move || {
        let Ok(sock) = UdpSocket::bind(if addr.starts_with('[') {
            "[::]:0"
        } else {
            "0.0.0.0:0"
        }) else {
            return;
        };
        let _ = sock.set_read_timeout(Some(Duration::from_millis(1000)));
        let mut b = [0u8; 16];
        loop {
            if sock.send_to(b"\0", &addr).is_ok() {
                let started = Instant::now();
                while started.elapsed() < Duration::from_millis(1000) {
                    if sock.recv_from(&mut b).is_ok() {
                        last.store(epoch.elapsed().as_millis() as i64, Ordering::Relaxed);
                    } else {
                        break;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(1000));
        }
    });
}

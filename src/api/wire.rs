//! The HTTP/1 byte stream between the socket and hyper.
//!
//! Elasticsearch (Netty) takes any non-space byte in a request target, so
//! `curl '…/_search?q=latency_ms:>100'` and `q=message:"reset"` work there;
//! curl sends `"`, `<` and `>` as they are. hyper parses targets with the
//! `http` crate, which refuses those bytes, and answers with an empty 400
//! that no handler sees. So each connection is read through a [`Framer`]
//! that follows the requests' framing (head, then a Content-Length or
//! chunked body), percent-encodes what the `http` crate refuses in a
//! request target, and replaces a head hyper would refuse by a stand-in
//! request carrying [`REFUSED_HEADER`], which the router answers with an
//! Elasticsearch-shaped error. Bodies pass through untouched. Whatever this
//! layer cannot follow (upgrades, framing hyper refuses anyway) is passed
//! through as it is from then on, so hyper decides exactly as before.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use axum::http::{StatusCode, Uri};
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Header of the stand-in request for one hyper would refuse:
/// `<status> <error type> <reason>`.
pub const REFUSED_HEADER: &str = "x-logweave-refused";

/// hyper's default limit on buffered request head bytes.
const MAX_HEAD_BYTES: usize = 8192 + 4096 * 100;
/// Longest request target hyper and the `http` crate accept.
const MAX_TARGET_BYTES: usize = u16::MAX as usize - 1;
/// hyper's default number of header fields.
const MAX_HEADERS: usize = 100;
/// Longest chunk-size line followed; a longer one is hyper's to refuse.
const MAX_CHUNK_LINE_BYTES: usize = 16 * 1024;
/// Heads shorter than this are checked as they arrive, so garbage without
/// a line end is refused at once rather than when the client gives up.
const EARLY_CHECK_BYTES: usize = 4096;
const MALFORMED: &str = "illegal_argument_exception";
const LONG_LINE: &str = "too_long_http_line_exception";
const LONG_HEAD: &str = "too_long_http_header_exception";
/// Error types a refusal may carry (the header names one of them).
const REFUSAL_KINDS: [&str; 3] = [MALFORMED, LONG_LINE, LONG_HEAD];

/// A TCP listener whose connections are read through a [`Framer`].
pub struct Listener(tokio::net::TcpListener);

impl Listener {
    pub fn new(inner: tokio::net::TcpListener) -> Listener {
        Listener(inner)
    }
}

impl axum::serve::Listener for Listener {
    type Io = Conn<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = axum::serve::Listener::accept(&mut self.0).await;
        (Conn::new(io), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// A connection whose reads go through a [`Framer`]; writes are untouched.
pub struct Conn<T> {
    io: T,
    framer: Framer,
    /// Bytes for hyper, already framed (and possibly rewritten). Usually
    /// empty between reads: idle connections hold no buffer.
    ready: BytesMut,
    eof: bool,
}

/// Bytes read at once on the framed path (on the stack, not per connection).
const READ_CHUNK: usize = 16 * 1024;

impl<T> Conn<T> {
    pub fn new(io: T) -> Conn<T> {
        Conn {
            io,
            framer: Framer::default(),
            ready: BytesMut::new(),
            eof: false,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Conn<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.ready.is_empty() {
                let n = this.ready.len().min(buf.remaining());
                buf.put_slice(&this.ready[..n]);
                this.ready.advance(n);
                if this.ready.is_empty() && this.ready.capacity() > READ_CHUNK {
                    this.ready = BytesMut::new();
                }
                return Poll::Ready(Ok(()));
            }
            // Body bytes go straight into hyper's buffer when it is no
            // larger than what remains of the body: no copy for large
            // `_bulk` bodies.
            let room = buf.remaining() as u64;
            if !this.eof && room > 0 && room <= this.framer.opaque_bytes_ahead() {
                let before = buf.filled().len();
                ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
                let n = buf.filled().len() - before;
                if n == 0 {
                    this.eof = true;
                } else {
                    this.framer.passed_opaque(n as u64);
                }
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                // After a refusal, an end of input must not reach hyper
                // before it has answered the stand-in request (it would
                // drop the answer); it closes the connection itself.
                return if this.framer.refused() {
                    Poll::Pending
                } else {
                    Poll::Ready(Ok(()))
                };
            }
            let mut chunk = [0u8; READ_CHUNK];
            let mut rb = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut this.io).poll_read(cx, &mut rb))?;
            if rb.filled().is_empty() {
                this.eof = true;
                this.framer.finish(&mut this.ready);
            } else {
                this.framer.feed(rb.filled(), &mut this.ready);
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Conn<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// Where in the request stream the next byte belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    /// Collecting a request head (held back until complete).
    #[default]
    Head,
    /// This many body bytes remain.
    Body(u64),
    /// A chunk-size line: the size read so far, whether digits still
    /// follow, and the line's length.
    ChunkSize {
        size: u64,
        digits: usize,
        in_digits: bool,
        len: usize,
    },
    /// This many bytes of chunk data remain.
    ChunkData(u64),
    /// The line end after chunk data (bytes seen so far).
    ChunkEnd(usize),
    /// Trailer lines after the last chunk: bytes of the current line
    /// (without CR) and of all trailers.
    Trailers { line: usize, total: usize },
    /// Not followed any further: bytes go to hyper as they are.
    Passthrough,
    /// A stand-in request was sent; the rest of the input is dropped.
    Refused,
}

/// Follows HTTP/1 request framing over a byte stream and rewrites request
/// heads (see the module documentation).
#[derive(Debug, Default)]
pub struct Framer {
    state: State,
    /// The head being collected.
    head: Vec<u8>,
    /// Bytes in the current head line (CR not counted) and lines so far.
    head_line: usize,
    head_lines: usize,
}

/// Why a request is refused, as the router will answer it.
#[derive(Debug, Clone, PartialEq)]
struct Refusal {
    status: u16,
    kind: &'static str,
    reason: String,
}

impl Refusal {
    fn bad(reason: impl Into<String>) -> Refusal {
        Refusal {
            status: 400,
            kind: MALFORMED,
            reason: reason.into(),
        }
    }
}

/// What a complete head turns into.
enum Verdict {
    /// Forward it (the rewritten head when its target needed encoding) and
    /// go on in this state.
    Forward {
        head: Option<Vec<u8>>,
        next: State,
    },
    Passthrough,
    Refuse(Refusal),
}

impl Framer {
    /// How many coming bytes pass without being looked at (the rest of a
    /// body or chunk; all of them in passthrough).
    fn opaque_bytes_ahead(&self) -> u64 {
        match self.state {
            State::Body(n) | State::ChunkData(n) => n,
            State::Passthrough => u64::MAX,
            _ => 0,
        }
    }

    /// `n` (at most [`Self::opaque_bytes_ahead`]) such bytes went to hyper.
    fn passed_opaque(&mut self, n: u64) {
        self.state = match self.state {
            State::Body(left) if left == n => State::Head,
            State::Body(left) => State::Body(left - n),
            State::ChunkData(left) if left == n => State::ChunkEnd(0),
            State::ChunkData(left) => State::ChunkData(left - n),
            other => other,
        };
    }

    /// Whether the stream was cut off by a refusal.
    pub fn refused(&self) -> bool {
        self.state == State::Refused
    }

    /// Take bytes read from the client; append what hyper should read.
    pub fn feed(&mut self, mut input: &[u8], out: &mut BytesMut) {
        while !input.is_empty() {
            match self.state {
                State::Head => {
                    let (taken, complete) = self.take_head(input);
                    input = &input[taken..];
                    self.head_step(complete, out);
                }
                State::Body(left) | State::ChunkData(left) => {
                    let n = left.min(input.len() as u64) as usize;
                    out.extend_from_slice(&input[..n]);
                    input = &input[n..];
                    self.passed_opaque(n as u64);
                }
                State::ChunkSize { .. } | State::ChunkEnd(_) | State::Trailers { .. } => {
                    let mut n = 0;
                    while n < input.len() && self.line_byte(input[n]) {
                        n += 1;
                    }
                    let used = (n + 1).min(input.len());
                    out.extend_from_slice(&input[..used]);
                    input = &input[used..];
                }
                State::Passthrough => {
                    out.extend_from_slice(input);
                    return;
                }
                State::Refused => return,
            }
        }
    }

    /// The client closed: hand over a partial head as it is (hyper then
    /// sees what it would have seen without this layer).
    pub fn finish(&mut self, out: &mut BytesMut) {
        if self.state == State::Head && !self.head.is_empty() {
            out.extend_from_slice(&self.head);
            self.head.clear();
            self.state = State::Passthrough;
        }
    }

    /// Move head bytes from `input` into `self.head`, up to and including
    /// the empty line that ends the head; returns how many were taken and
    /// whether the head is complete.
    fn take_head(&mut self, input: &[u8]) -> (usize, bool) {
        for (i, &b) in input.iter().enumerate() {
            match b {
                b'\n' if self.head_line == 0 && self.head_lines > 0 => {
                    self.head.extend_from_slice(&input[..=i]);
                    self.head_line = 0;
                    self.head_lines = 0;
                    return (i + 1, true);
                }
                b'\n' => {
                    // Empty lines before the request line are skipped by
                    // hyper and httparse alike.
                    if self.head_line > 0 {
                        self.head_lines += 1;
                    }
                    self.head_line = 0;
                }
                b'\r' => {}
                _ => self.head_line += 1,
            }
        }
        self.head.extend_from_slice(input);
        (input.len(), false)
    }

    /// After bytes were added to the head: forward or refuse it when it is
    /// complete (or cannot become valid), else wait for more.
    fn head_step(&mut self, complete: bool, out: &mut BytesMut) {
        if !complete {
            if self.head.len() > MAX_HEAD_BYTES {
                return self.refuse(
                    Refusal {
                        status: 431,
                        kind: LONG_HEAD,
                        reason: format!("the request head is longer than {MAX_HEAD_BYTES} bytes"),
                    },
                    out,
                );
            }
            if self.head.len() <= EARLY_CHECK_BYTES {
                let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let mut req = httparse::Request::new(&mut headers);
                let encoded = encode_request_line(&self.head);
                if let Err(e) = req.parse(encoded.as_deref().unwrap_or(&self.head)) {
                    if let Some(v) = refusal_for_parse_error(e, &self.head) {
                        self.refuse(v, out);
                    }
                }
            }
            return;
        }
        match examine(&self.head) {
            Verdict::Forward { head, next } => {
                out.extend_from_slice(head.as_deref().unwrap_or(&self.head));
                self.head.clear();
                self.state = next;
            }
            Verdict::Passthrough => {
                out.extend_from_slice(&self.head);
                self.head.clear();
                self.state = State::Passthrough;
            }
            Verdict::Refuse(r) => self.refuse(r, out),
        }
    }

    /// Replace everything from here on by the stand-in request for `r`.
    fn refuse(&mut self, r: Refusal, out: &mut BytesMut) {
        let reason: String = r
            .reason
            .chars()
            .take(300)
            .flat_map(|c| {
                if (' '..='~').contains(&c) {
                    vec![c]
                } else {
                    c.escape_default().collect()
                }
            })
            .collect();
        out.extend_from_slice(
            format!(
                "GET / HTTP/1.1\r\nhost: logweave\r\nconnection: close\r\ncontent-length: 0\r\n{REFUSED_HEADER}: {} {} {reason}\r\n\r\n",
                r.status, r.kind
            )
            .as_bytes(),
        );
        self.head.clear();
        self.state = State::Refused;
    }

    /// One byte of a chunk-size line, the line end after chunk data, or a
    /// trailer line; returns false when it ended the line (the byte is
    /// consumed either way).
    fn line_byte(&mut self, b: u8) -> bool {
        let (next, more) = match self.state {
            State::ChunkSize {
                mut size,
                mut digits,
                mut in_digits,
                len,
            } => {
                let len = len + 1;
                if b == b'\n' {
                    let next = match (digits, size) {
                        (0, _) => State::Passthrough,
                        (_, 0) => State::Trailers { line: 0, total: 0 },
                        (_, n) => State::ChunkData(n),
                    };
                    (next, false)
                } else {
                    let mut overflow = len > MAX_CHUNK_LINE_BYTES;
                    if in_digits {
                        match (b as char).to_digit(16) {
                            Some(d) => {
                                digits += 1;
                                match size.checked_mul(16).and_then(|s| s.checked_add(d.into())) {
                                    Some(s) => size = s,
                                    None => overflow = true,
                                }
                            }
                            None => in_digits = false,
                        }
                    }
                    let next = if overflow {
                        State::Passthrough
                    } else {
                        State::ChunkSize {
                            size,
                            digits,
                            in_digits,
                            len,
                        }
                    };
                    (next, true)
                }
            }
            State::ChunkEnd(_) if b == b'\n' => (
                State::ChunkSize {
                    size: 0,
                    digits: 0,
                    in_digits: true,
                    len: 0,
                },
                false,
            ),
            // More than a CR before the line end: hyper's to refuse.
            State::ChunkEnd(seen) if seen >= 1 => (State::Passthrough, true),
            State::ChunkEnd(seen) => (State::ChunkEnd(seen + 1), true),
            State::Trailers { line, total } => {
                let total = total + 1;
                match b {
                    b'\n' if line == 0 => (State::Head, false),
                    _ if total > MAX_HEAD_BYTES => (State::Passthrough, true),
                    b'\n' => (State::Trailers { line: 0, total }, true),
                    b'\r' => (State::Trailers { line, total }, true),
                    _ => (
                        State::Trailers {
                            line: line + 1,
                            total,
                        },
                        true,
                    ),
                }
            }
            // Not a line state: the caller moves on with the new state.
            other => (other, false),
        };
        self.state = next;
        more
    }
}

/// A parse error of a (possibly partial) head as hyper would meet it, or
/// `None` when hyper should see the bytes itself (an HTTP/2 preface).
fn refusal_for_parse_error(e: httparse::Error, head: &[u8]) -> Option<Refusal> {
    if head.starts_with(b"PRI * HTTP/2.0") {
        return None;
    }
    let first_line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let first_line = String::from_utf8_lossy(&first_line[..first_line.len().min(200)]);
    Some(match e {
        httparse::Error::TooManyHeaders => Refusal {
            status: 431,
            kind: LONG_HEAD,
            reason: format!("the request has more than {MAX_HEADERS} header fields"),
        },
        e => Refusal::bad(format!(
            "malformed HTTP request ({e}) in [{}]",
            first_line.trim_end()
        )),
    })
}

/// Decide what to do with a complete head.
fn examine(original: &[u8]) -> Verdict {
    let encoded = encode_request_line(original);
    let head = encoded.as_deref().unwrap_or(original);
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Verdict::Passthrough,
        Err(e) => {
            return match refusal_for_parse_error(e, head) {
                Some(r) => Verdict::Refuse(r),
                None => Verdict::Passthrough,
            }
        }
    }
    let method = req.method.unwrap_or_default();
    let target = req.path.unwrap_or_default();
    let http11 = req.version == Some(1);
    let mut upgrade = method.eq_ignore_ascii_case("CONNECT");
    let mut chunked = None;
    let mut length: Option<u64> = None;
    // Framing as hyper reads it (RFC 9112 section 6).
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            if !http11 {
                return Verdict::Refuse(Refusal::bad(
                    "Transfer-Encoding is not allowed in an HTTP/1.0 request",
                ));
            }
            length = None;
            let last = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.rsplit(',').next())
                .map(str::trim);
            chunked = Some(last.is_some_and(|l| l.eq_ignore_ascii_case("chunked")));
        } else if h.name.eq_ignore_ascii_case("content-length") {
            if chunked.is_some() {
                continue;
            }
            let Some(n) = from_digits(h.value) else {
                return Verdict::Refuse(Refusal::bad(format!(
                    "invalid Content-Length [{}]",
                    String::from_utf8_lossy(h.value)
                )));
            };
            if length.is_some_and(|l| l != n) {
                return Verdict::Refuse(Refusal::bad(
                    "several Content-Length headers with different values",
                ));
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("upgrade") && http11 {
            upgrade = true;
        }
    }
    if chunked == Some(false) {
        return Verdict::Refuse(Refusal::bad(
            "Transfer-Encoding must end with chunked; no other transfer coding is supported",
        ));
    }
    if target.len() > MAX_TARGET_BYTES {
        return Verdict::Refuse(Refusal {
            status: 414,
            kind: LONG_LINE,
            reason: format!(
                "the request target is {} bytes long, more than the {MAX_TARGET_BYTES} accepted",
                target.len()
            ),
        });
    }
    // (Without rewriting, `encode_request_line` found the target valid.)
    if encoded.is_some() && Uri::try_from(target.as_bytes()).is_err() {
        let preview: String = target.chars().take(200).collect();
        return Verdict::Refuse(Refusal::bad(format!("invalid request target [{preview}]")));
    }
    if upgrade {
        // hyper handles (or refuses) upgrades; nothing after them is HTTP/1.
        return Verdict::Passthrough;
    }
    let next = match (chunked, length) {
        (Some(true), _) => State::ChunkSize {
            size: 0,
            digits: 0,
            in_digits: true,
            len: 0,
        },
        (_, Some(n)) if n > 0 => State::Body(n),
        _ => State::Head,
    };
    Verdict::Forward {
        head: encoded,
        next,
    }
}

/// hyper's reading of a Content-Length value: ASCII digits only.
fn from_digits(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.iter().try_fold(0u64, |acc, b| {
        let d = (*b as char).to_digit(10)?;
        acc.checked_mul(10)?.checked_add(d.into())
    })
}

/// `head` with its request target percent-encoded where the `http` crate
/// would refuse it (httparse also refuses every byte above ASCII); `None`
/// when nothing needs encoding. Works on a partial head too, for the early
/// check.
fn encode_request_line(head: &[u8]) -> Option<Vec<u8>> {
    let start = head.iter().position(|b| *b != b'\r' && *b != b'\n')?;
    let line_end = head[start..]
        .iter()
        .position(|b| *b == b'\n')
        .map_or(head.len(), |p| start + p);
    let t_start = start + head[start..line_end].iter().position(|b| *b == b' ')? + 1;
    let t_end = head[t_start..line_end]
        .iter()
        .position(|b| *b == b' ' || *b == b'\r')
        .map_or(line_end, |p| t_start + p);
    let target = &head[t_start..t_end];
    if !target.iter().any(|b| *b >= 0x7f) && Uri::try_from(target).is_ok() {
        return None;
    }
    let encoded = encode_target(target)?;
    Some([&head[..t_start], &encoded[..], &head[t_end..]].concat())
}

/// Percent-encode, in an origin-form target, the bytes the `http` crate
/// refuses: `<`, `>` and `` ` `` in the path; `"`, `<` and `>` in the
/// query; DEL and every byte above ASCII (text that is not UTF-8 then still
/// reaches the handlers, decoded lossily). `None` for other forms, which
/// are left to hyper. Anything after `#` is a fragment, which hyper drops,
/// and is kept.
fn encode_target(target: &[u8]) -> Option<Vec<u8>> {
    if !target.starts_with(b"/") {
        return None;
    }
    let mut out = Vec::with_capacity(target.len() + 16);
    let mut in_query = false;
    for (i, &b) in target.iter().enumerate() {
        if b == b'#' {
            out.extend_from_slice(&target[i..]);
            break;
        }
        if b == b'?' {
            in_query = true;
        }
        let refused = !(0x21..0x7f).contains(&b)
            || matches!(b, b'<' | b'>')
            || (in_query && b == b'"')
            || (!in_query && b == b'`');
        if refused {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        } else {
            out.push(b);
        }
    }
    Some(out)
}

/// Read [`REFUSED_HEADER`] back: status, error type and reason.
pub fn refusal(value: &str) -> Option<(StatusCode, &'static str, String)> {
    let (status, rest) = value.split_once(' ')?;
    let (kind, reason) = rest.split_once(' ')?;
    let status = StatusCode::from_u16(status.parse().ok()?).ok()?;
    let kind = REFUSAL_KINDS.iter().find(|k| **k == kind)?;
    Some((status, kind, reason.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&[u8]]) -> Vec<u8> {
        let mut f = Framer::default();
        let mut out = BytesMut::new();
        for c in chunks {
            f.feed(c, &mut out);
        }
        out.to_vec()
    }

    /// Every split of `input` into two reads gives the same output.
    fn run_all_splits(input: &[u8]) -> Vec<u8> {
        let whole = run(&[input]);
        for i in 0..=input.len() {
            assert_eq!(
                run(&[&input[..i], &input[i..]]),
                whole,
                "split at {i} of {:?}",
                String::from_utf8_lossy(input)
            );
        }
        whole
    }

    #[test]
    fn curl_targets_are_encoded_and_bodies_untouched() {
        let input = b"GET /i/_search?q=a:>1%20AND%20m:\"x\"<y HTTP/1.1\r\nHost: h\r\n\r\n\
POST /i/_count HTTP/1.1\r\nContent-Length: 9\r\n\r\n{\"a\":\"<\"}\
POST /i/_bulk?q=\"c\" HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\n\"<>\r\n0\r\nT: 1\r\n\r\n\
GET /\xc3\xa9/_search?q=\xff HTTP/1.1\r\n\r\n";
        let out = run_all_splits(input);
        let want = b"GET /i/_search?q=a:%3E1%20AND%20m:%22x%22%3Cy HTTP/1.1\r\nHost: h\r\n\r\n\
POST /i/_count HTTP/1.1\r\nContent-Length: 9\r\n\r\n{\"a\":\"<\"}\
POST /i/_bulk?q=%22c%22 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\n\"<>\r\n0\r\nT: 1\r\n\r\n\
GET /%C3%A9/_search?q=%FF HTTP/1.1\r\n\r\n";
        assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(want));
    }

    #[test]
    fn valid_targets_are_forwarded_as_they_are() {
        let input = b"\r\nGET /a/_search?q={1%20TO%202}|x HTTP/1.1\r\n\r\nGET / HTTP/1.0\r\n\r\n";
        assert_eq!(run_all_splits(input), input.to_vec());
    }

    #[test]
    fn refusals_become_one_stand_in_request() {
        for bad in [
            &b"GET /a b HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n"[..],
            b"\x00\x01 garbage",
            b"POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        ] {
            let out = String::from_utf8_lossy(&run(&[bad])).into_owned();
            assert!(out.starts_with("GET / HTTP/1.1\r\n"), "{bad:?}: {out}");
            assert_eq!(out.matches("\r\n\r\n").count(), 1, "{out}");
            let line = out
                .lines()
                .find_map(|l| l.strip_prefix("x-logweave-refused: "))
                .unwrap_or_else(|| panic!("{out}"));
            let (status, kind, reason) = refusal(line).unwrap_or_else(|| panic!("{line}"));
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert_eq!(kind, "illegal_argument_exception");
            assert!(!reason.is_empty());
        }
    }

    #[test]
    fn what_cannot_be_followed_passes_through() {
        let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
        assert_eq!(run(&[preface]), preface.to_vec());
        let upgrade = b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n\x81\x05<\"> x";
        assert_eq!(run(&[upgrade]), upgrade.to_vec());
        let bad_chunk = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGET /?q=\" HTTP/1.1\r\n\r\n";
        assert_eq!(run(&[bad_chunk]), bad_chunk.to_vec());
    }

    #[test]
    fn a_partial_head_reaches_hyper_at_the_end() {
        let mut f = Framer::default();
        let mut out = BytesMut::new();
        f.feed(b"GET /?q=\"", &mut out);
        assert!(out.is_empty());
        f.finish(&mut out);
        assert_eq!(&out[..], b"GET /?q=\"");
    }

    #[tokio::test]
    async fn bodies_read_straight_into_small_buffers_keep_the_framing() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let body = vec![b'<'; 300_000];
        let mut input = format!(
            "POST /a?q=\"x\" HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        input.extend_from_slice(&body);
        input.extend_from_slice(b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
        input.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
        input.extend_from_slice(&body);
        input.extend_from_slice(b"\r\n0\r\n\r\nGET /b?q=\"y\" HTTP/1.1\r\n\r\n");
        let want = run(&[&input]);
        assert!(String::from_utf8_lossy(&want).ends_with("GET /b?q=%22y%22 HTTP/1.1\r\n\r\n"));
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let writer = tokio::spawn(async move {
            client.write_all(&input).await.expect("write");
            client.shutdown().await.expect("shutdown");
        });
        let mut conn = Conn::new(server);
        let mut got = Vec::new();
        let mut chunk = [0u8; 1000];
        loop {
            let n = conn.read(&mut chunk).await.expect("read");
            if n == 0 {
                break;
            }
            got.extend_from_slice(&chunk[..n]);
        }
        writer.await.expect("writer");
        assert!(got == want, "the direct reads changed the stream");
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_bounds_held_bytes(chunks in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..64), 0..16)) {
            let mut f = Framer::default();
            let mut out = BytesMut::new();
            for c in &chunks {
                f.feed(c, &mut out);
            }
            f.finish(&mut out);
            proptest::prop_assert!(f.head.is_empty() || f.refused());
        }
    }
}

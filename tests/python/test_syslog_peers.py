"""The syslog input with real peers: rsyslog and syslog-ng as Debian ships them.

tests/syslog.rs writes syslog frames itself; here the frames come from the
daemons people actually run in front of a log server. The test generates
messages (RFC 5424 with structured data, and RFC 3164) with unique ids,
sends them to a daemon over TCP, and the daemon forwards them to logweave
the way its stock configurations do:

- rsyslog `omfwd` over TCP with octet counting and with LF framing, and
  over UDP, each in RFC 5424 (RSYSLOG_SyslogProtocol23Format) and RFC 3164
  (RSYSLOG_TraditionalForwardFormat); messages with a nil APP-NAME relayed
  both ways; `imfile` lines forwarded as RFC 3164; `omelasticsearch` in bulk
  mode to logweave's `_bulk`.
- syslog-ng `syslog()` (RFC 5424, octet counted) and `network()` (RFC 3164,
  LF) over TCP and UDP, `network()` with frac-digits(3); `file()` lines
  forwarded with `syslog()`.
- syslog-ng `elasticsearch-http()` (the SCL block: upper-case names such as
  MESSAGE, PROGRAM, HOST, PRIORITY, structured data nested under _SDATA) and
  batched `http()` whose body has no final LF (with Content-Type
  application/x-ndjson, and with none set: curl's form type) to `_bulk`,
  through a TCP tap that keeps the requests and logweave's answers
  (target/test-logs/syslog-peers-wire-syslog-ng-http.txt). Besides the
  records, logweave's normalised level, service and host (`@level`,
  `@service`, `@host`) must come from those upper-case names.

The oracle is what the test generated: every message arrives (TCP: exactly
once; UDP: all of them, on loopback) with its fields (appname, host,
facility/severity/level, procid, msgid and structured data where the wire
format carries them, the timestamp to the precision on the wire) in the index
its route names. Each daemon action is doubled by one to a capture listener
in this file, so the test also checks the daemon really used the framing and
format it is meant to, and failures show the exact frame the daemon sent.
The captured wire is written to target/test-logs/syslog-peers-wire-*.txt,
the daemons' own logs next to it.

Both daemons run in the foreground with configurations generated here:
no system log sources (no imuxsock/imklog, no system()), every socket on
127.0.0.1, ephemeral ports only.

Needs: $LOGWEAVE_BIN (default target/debug/logweave), rsyslogd with the
omelasticsearch module (Debian: rsyslog, rsyslog-elasticsearch) or
$LOGWEAVE_RSYSLOGD, and syslog-ng-core, syslog-ng-mod-http and syslog-ng-scl
unpacked into target/syslog-ng-root ($LOGWEAVE_SYSLOG_NG_ROOT) with libcurl4
installed; scripts/test installs all of it.
"""

import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import KEEP_DIR, REPO_ROOT, LogweaveServer, TcpRelay, keep_log, start_logweave, tail

UTC = timezone.utc
DEADLINE_S = 30

ROUTES = """
[[routes]]
match = "syslog.local0.*"
index = "sys-%{+YYYY.MM.dd}"
"""

RSYSLOG_HOSTNAME = "rsyslog-peer.test"  # rsyslog's localHostName, for imfile lines
SYSLOG_NG_HOSTNAME = "sng-peer.test"  # syslog-ng's host-override(), for file() lines
ES_INDEX = "rsyslog-peers"

SEVERITIES = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"]
LEVELS = ["FATAL", "FATAL", "FATAL", "ERROR", "WARN", "INFO", "INFO", "DEBUG"]
FACILITY_CODES = {"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "cron": 9, "authpriv": 10,
                  "local0": 16, "local3": 19, "local4": 20, "local7": 23}
FACILITIES = ["local0", "local4", "user", "daemon", "auth", "mail", "local7", "cron", "authpriv"]
HOSTS = ["web01", "db-7.example.org", "edge-3", "Mixed-Case-Host", "10.1.2.3"]
APPS = ["shop", "sshd", "my-app.worker", "CRON", "nginx"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
OFFSETS = [timedelta(0), timedelta(hours=2), timedelta(hours=-5), timedelta(hours=5, minutes=30), timedelta(0)]
BOM = "\ufeff"


# ---------------------------------------------------------------------------
# The messages the test generates (the oracle)
# ---------------------------------------------------------------------------


def sd_escape(v):
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


@dataclass
class Msg:
    token: str  # "<case>-NNN", unique, at the start of the text
    text: str
    facility: str
    severity: int
    host: str
    app: str
    procid: str = None
    msgid: str = None
    sd: list = None  # [(SD-ID, [(name, value)])]
    ts: datetime = None  # aware, microseconds; rendered in its own offset
    fmt: str = "5424"  # what the test sends to the daemon: "5424" or "3164"
    bom: bool = False
    zulu: bool = True  # a UTC time written with "Z" (else "+00:00")
    file_line: bool = False  # written to a file the daemon reads, not sent

    @property
    def pri(self):
        return FACILITY_CODES[self.facility] * 8 + self.severity

    def wire(self):
        """The line the test sends to the daemon."""
        if self.fmt == "3164":
            t = self.ts
            tag = "%s[%s]:" % (self.app, self.procid) if self.procid else self.app + ":"
            return "<%d>%s %2d %02d:%02d:%02d %s %s %s" % (
                self.pri, MONTHS[t.month - 1], t.day, t.hour, t.minute, t.second, self.host, tag, self.text)
        if self.ts.utcoffset() == timedelta(0) and self.zulu:
            stamp = self.ts.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"
        else:
            stamp = self.ts.isoformat(timespec="microseconds")
        sd = "".join("[%s%s]" % (sid, "".join(' %s="%s"' % (k, sd_escape(v)) for k, v in params))
                     for sid, params in self.sd) if self.sd else "-"
        return "<%d>1 %s %s %s %s %s %s %s%s" % (
            self.pri, stamp, self.host, self.app, self.procid or "-", self.msgid or "-", sd,
            BOM if self.bom else "", self.text)


def _texts(token, i):
    """Message texts of several kinds; each starts with the token."""
    kinds = [
        "%s order placed total=9.50 currency=EUR",
        "%s gr\u00fc\u00dfe aus K\u00f6ln \u2713 \u65e5\u672c\u8a9e",
        "%s user \"alice\" said 'hi' [brackets] {braces} back\\slash",
        "%s " + " ".join("word%03d" % k for k in range(180)),  # ~1.3 KB
        "%s a=1 b=2 c=three: colon inside",
    ]
    return kinds[i % len(kinds)] % token


def now_floor():
    return datetime.now(UTC).replace(microsecond=0)


def generate(key, n, inputs=("5424", "3164"), offsets=True, bom=True, nil_app=False):
    """n messages for one case. 5424 input: a batch straddling a UTC midnight
    ten days ago, with microseconds and (if `offsets`) several zone offsets,
    structured data, msgids, BOMs. 3164 input (no year, no zone): UTC times
    in the last hour. `nil_app`: 5424 input with APP-NAME and PROCID "-"."""
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=10)
    recent = now_floor() - timedelta(hours=1)
    out = []
    for i in range(n):
        token = "%s-%03d" % (key, i)
        fmt = "3164" if "3164" in inputs and i % 3 == 2 else "5424"
        facility = FACILITIES[i % len(FACILITIES)]
        m = Msg(token=token, text=_texts(token, i), facility=facility, severity=i % 8,
                host=HOSTS[i % len(HOSTS)], app=APPS[i % len(APPS)], fmt=fmt,
                procid=None if i % 4 == 1 else "%d-w" % i if i % 4 == 3 else str(1000 + i))
        if nil_app:
            m.app, m.procid = "-", None
        if fmt == "5424":
            ts = midnight - timedelta(seconds=n // 2) + timedelta(seconds=i, microseconds=(i * 37_137) % 10**6)
            off = OFFSETS[i % len(OFFSETS)] if offsets else timedelta(0)
            m.ts = ts.astimezone(timezone(off))
            m.zulu = i % 2 == 0
            m.msgid = "ID%d" % i if i % 2 == 0 else None
            if i % 3 == 0:
                m.sd = [("order@32473", [("id", str(i)), ("note", 'a "q" ] \\ b')])]
            elif i % 3 == 1:
                m.sd = [("exampleSDID@32473", [("iut", "3"), ("eventSource", "App")]), ("x@1", [("k", "v%d" % i)])]
            m.bom = bom and i % 5 == 0
        else:
            m.ts = recent + timedelta(seconds=i)
        out.append(m)
    return out


def expected_record(m, out_fmt, host=None, app=None):
    """The record logweave should store for `m` relayed in `out_fmt`
    (timestamp left out: compared separately, to the wire's precision)."""
    r = {
        "message": m.text,
        "level": LEVELS[m.severity],
        "severity": SEVERITIES[m.severity],
        "facility": m.facility,
        "host": host or m.host,
        "appname": app or m.app,
        "syslog_protocol": "rfc5424/1" if out_fmt == "5424" else "rfc3164",
    }
    if r["appname"] == "-":  # nil
        del r["appname"]
    if m.procid:
        r["procid"] = m.procid
    if out_fmt == "5424" and m.fmt == "5424":
        if m.msgid:
            r["msgid"] = m.msgid
        if m.sd:
            r["sd"] = {sid: dict(params) for sid, params in m.sd}
    return r


_STAMP = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z$")


def parse_stamp(s):
    """A stored RFC 3339 UTC timestamp -> aware datetime (microseconds)."""
    mt = _STAMP.match(s or "")
    assert mt, "timestamp %r is not RFC 3339 UTC (YYYY-MM-DDTHH:MM:SS[.f]Z)" % (s,)
    frac = ((mt.group(7) or "") + "000000")[:6]
    return datetime(*(int(g) for g in mt.groups()[:6]), int(frac), tzinfo=UTC)


def daily_index(facility, t):
    return ("sys-" if facility == "local0" else "logs-") + t.astimezone(UTC).strftime("%Y.%m.%d")


# ---------------------------------------------------------------------------
# logweave
# ---------------------------------------------------------------------------


class Server(LogweaveServer):
    """logweave (conftest.start_logweave) with this file's query."""

    def all_hits(self):
        self.request("POST", "/_refresh")
        return self.request("POST", "/_search", {"size": 10000, "query": {"match_all": {}}})["hits"]["hits"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with start_logweave(tmp_path_factory, "syslog-peers-server", ROUTES, keep_as="syslog-peers-logweave.log",
                        cls=Server) as srv:
        yield srv


# ---------------------------------------------------------------------------
# Capture listeners: what the daemons put on the wire
# ---------------------------------------------------------------------------


class Capture:
    """TCP and UDP on one ephemeral port of 127.0.0.1; keeps every byte."""

    def __init__(self, name):
        self.name = name
        self.streams = []  # one bytearray per TCP connection
        self.datagrams = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        for _ in range(50):
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                tcp.close()
                udp.close()
                continue
            break
        else:
            raise RuntimeError("no port free for both TCP and UDP")
        tcp.listen(16)
        tcp.settimeout(0.2)
        udp.settimeout(0.2)
        udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.tcp, self.udp, self.port = tcp, udp, port
        self.threads = [threading.Thread(target=self._accept, daemon=True),
                        threading.Thread(target=self._udp, daemon=True)]
        for t in self.threads:
            t.start()

    def _accept(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.tcp.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            buf = bytearray()
            with self.lock:
                self.streams.append(buf)
            t = threading.Thread(target=self._read, args=(conn, buf), daemon=True)
            t.start()
            self.threads.append(t)

    def _read(self, conn, buf):
        conn.settimeout(0.2)
        with conn:
            while not self.stop.is_set():
                try:
                    d = conn.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    return
                if not d:
                    return
                with self.lock:
                    buf.extend(d)

    def _udp(self):
        while not self.stop.is_set():
            try:
                d, _ = self.udp.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.datagrams.append(bytes(d))

    def snapshot(self):
        with self.lock:
            return [bytes(s) for s in self.streams], list(self.datagrams)

    def close(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=2)
        self.tcp.close()
        self.udp.close()


def split_octet_counted(data):
    """RFC 6587 octet counting; raises if the stream is not that."""
    frames, at = [], 0
    while at < len(data):
        mt = re.compile(rb"([1-9]\d{0,9}) ").match(data, at)
        assert mt, "not octet-counted at byte %d: %r" % (at, data[at:at + 80])
        n = int(mt.group(1))
        start = mt.end()
        assert start + n <= len(data), "truncated octet-counted frame at byte %d: %r" % (at, data[at:at + 80])
        frames.append(data[start:start + n])
        at = start + n
    return frames


def split_lf(data):
    assert data.endswith(b"\n"), "LF-framed stream does not end with LF: %r" % data[-80:]
    lines = data[:-1].split(b"\n")
    for ln in lines:
        assert ln.startswith(b"<"), "LF-framed line does not start with <PRI>: %r" % ln[:80]
    return lines


RE_5424 = re.compile(rb"^<\d{1,3}>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d) ")
RE_3164 = re.compile(rb"^<\d{1,3}>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(\.\d{1,6})? ")


# ---------------------------------------------------------------------------
# Daemons
# ---------------------------------------------------------------------------


@dataclass
class Case:
    key: str
    transport: str  # "tcp" or "udp" (to logweave)
    framing: str  # "octet", "lf" or "udp" (per datagram)
    out: str  # "5424" or "3164": what the daemon writes
    msgs: list = field(default_factory=list)
    capture: Capture = None
    host: str = None  # for file lines: the daemon's own hostname
    app: str = None
    fed_at: datetime = None


def daemon_sockets(pid):
    """(TCP listening addresses, Unix socket paths) of a process, from /proc."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    listen = []
    for table in ("tcp", "tcp6"):
        try:
            rows = Path("/proc/%d/net/%s" % (pid, table)).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            f = row.split()
            if f[9] in inodes and f[3] == "0A":
                ip_hex, port_hex = f[1].split(":")
                if table == "tcp":
                    ip = ".".join(str(b) for b in reversed(bytes.fromhex(ip_hex)))
                else:
                    ip = ip_hex
                listen.append((ip, int(port_hex, 16)))
    unix = []
    for row in Path("/proc/%d/net/unix" % pid).read_text().splitlines()[1:]:
        f = row.split()
        if len(f) >= 8 and f[6] in inodes:
            unix.append(f[7])
    return listen, unix


def open_files(pid):
    out = []
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            out.append(os.readlink("/proc/%d/fd/%s" % (pid, fd)))
        except OSError:
            pass
    return out


def assert_contained(pid, name):
    """Only 127.0.0.1 listeners, no /dev/log or kernel log: only what the test feeds."""
    listen, unix = daemon_sockets(pid)
    assert listen, "%s listens on no TCP port" % name
    assert all(ip == "127.0.0.1" for ip, _ in listen), "%s listens beyond 127.0.0.1: %r" % (name, listen)
    for path in unix:
        assert not path.startswith("/dev/") and not path.startswith("/run/systemd"), \
            "%s opened a system log socket: %r" % (name, unix)
    files = open_files(pid)
    assert not any(f in ("/proc/kmsg", "/dev/kmsg") for f in files), "%s reads the kernel log: %r" % (name, files)
    return listen


def stop_process(proc, timeout=10):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def feed_tcp(port, msgs):
    """Send the 5424/3164 lines to a daemon's TCP input, LF-framed."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"".join(m.wire().encode() + b"\n" for m in msgs))


class HttpCapture:
    """A tiny Elasticsearch stand-in that records the requests (for omelasticsearch's wire)."""

    def __init__(self):
        self.requests = []
        cap = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                cap.requests.append((self.command, self.path, dict(self.headers), body))
                out = b'{"took":1,"errors":false,"items":[]}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_HEAD = _any

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Peer:
    def __init__(self, name):
        self.name = name
        self.cases = {}
        self.es = None
        self.es_capture = None
        self.es_error_file = None


def _wait_for(pred, what, proc, log, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if proc.poll() is not None:
            pytest.fail("%s exited with %s:\n%s" % (what, proc.returncode, tail(log, 40)))
        if time.monotonic() > deadline:
            pytest.fail("%s: not ready within %d s:\n%s" % (what, timeout, tail(log, 40)))
        time.sleep(0.05)


def _save_wire(peer):
    """target/test-logs/syslog-peers-wire-<daemon>.txt: every frame captured."""
    try:
        KEEP_DIR.mkdir(parents=True, exist_ok=True)
        with open(KEEP_DIR / ("syslog-peers-wire-%s.txt" % peer.name), "w") as f:
            for c in peer.cases.values():
                streams, datagrams = c.capture.snapshot()
                f.write("== %s (%s, %s, RFC %s)\n" % (c.key, c.transport, c.framing, c.out))
                for k, s in enumerate(streams):
                    f.write("-- TCP connection %d, %d bytes\n" % (k, len(s)))
                    try:  # one frame a line, with its octet count where there is one
                        chunks = [b"%d %s" % (len(fr), fr) for fr in split_octet_counted(s)] \
                            if c.framing == "octet" else [ln + b"\n" for ln in s.split(b"\n") if ln]
                    except AssertionError:
                        chunks = [s]
                    for chunk in chunks:
                        f.write(repr(chunk) + "\n")
                for d in datagrams:
                    f.write("-- UDP %r\n" % d)
            if peer.es_capture is not None:
                f.write("== omelasticsearch (the tee action)\n")
                for method, path, headers, body in peer.es_capture.requests:
                    f.write("-- %s %s %r\n%s\n" % (method, path, headers, body.decode(errors="replace")))
    except OSError:
        pass


# --- rsyslog ---------------------------------------------------------------

RSYSLOG_CASES = [
    # key, transport, framing, out, omfwd parameters
    ("rsocto5424", "tcp", "octet", "5424", 'protocol="tcp" TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format"'),
    ("rsocto3164", "tcp", "octet", "3164", 'protocol="tcp" TCP_Framing="octet-counted" template="RSYSLOG_TraditionalForwardFormat"'),
    ("rslf5424", "tcp", "lf", "5424", 'protocol="tcp" template="RSYSLOG_SyslogProtocol23Format"'),
    ("rslf3164", "tcp", "lf", "3164", 'protocol="tcp" template="RSYSLOG_TraditionalForwardFormat"'),
    ("rsudp5424", "udp", "udp", "5424", 'protocol="udp" template="RSYSLOG_SyslogProtocol23Format"'),
    ("rsudp3164", "udp", "udp", "3164", 'protocol="udp" template="RSYSLOG_TraditionalForwardFormat"'),
    # 5424 input with a nil APP-NAME: the traditional format writes the tag "-"
    ("rsnilapp5424", "tcp", "octet", "5424", 'protocol="tcp" TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format"'),
    ("rsnilapp3164", "tcp", "lf", "3164", 'protocol="tcp" template="RSYSLOG_TraditionalForwardFormat"'),
    # imfile lines (rsyslog's own hostname and the input's tag), forwarded the classic way
    ("rsfile", "tcp", "lf", "3164", 'protocol="tcp" template="RSYSLOG_TraditionalForwardFormat"'),
]
N_MSGS = 40
N_FILE = 12
N_NIL = 10
N_ES = 25


def rsyslogd_binary():
    exe = os.environ.get("LOGWEAVE_RSYSLOGD") or shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
    if not Path(exe).exists():
        pytest.fail("rsyslogd not found; install Debian's rsyslog and rsyslog-elasticsearch (scripts/test does)")
    return exe


@pytest.fixture(scope="module")
def rsyslog(server, tmp_path_factory):
    exe = rsyslogd_binary()
    tmp = tmp_path_factory.mktemp("rsyslog")
    (tmp / "work").mkdir()
    peer = Peer("rsyslog")
    for key, transport, framing, out, params in RSYSLOG_CASES:
        peer.cases[key] = Case(key, transport, framing, out, capture=Capture(key))
    peer.es_capture = HttpCapture()
    peer.es_error_file = tmp / "omelasticsearch-errors.json"
    # The 3164 template writes the reported time without a zone: UTC only there.
    for c in peer.cases.values():
        if c.key == "rsfile":
            c.msgs = [Msg(token="rsfile-%03d" % i, text=_texts("rsfile-%03d" % i, i), facility="local0",
                          severity=4, host=RSYSLOG_HOSTNAME, app="rsfileapp", file_line=True)
                      for i in range(N_FILE)]
            c.host, c.app = RSYSLOG_HOSTNAME, "rsfileapp"
        elif c.key.startswith("rsnilapp"):
            c.msgs = generate(c.key, N_NIL, inputs=("5424",), offsets=c.out == "5424", nil_app=True)
        else:
            c.msgs = generate(c.key, N_MSGS, offsets=c.out == "5424")
    peer.es = generate("rses", N_ES, inputs=("5424",), bom=False)

    actions = []
    for key, transport, framing, out, params in RSYSLOG_CASES:
        c = peer.cases[key]
        actions.append('if ($msg contains "%s-") then {\n'
                       '  action(type="omfwd" name="%s" target="127.0.0.1" port="%d" %s)\n'
                       '  action(type="omfwd" name="%s-tee" target="127.0.0.1" port="%d" %s)\n}'
                       % (key, key, server.syslog_port, params, key, c.capture.port, params))
    es_action = ('action(type="omelasticsearch" name="%s" server="127.0.0.1" serverport="%d" searchIndex="%s" '
                 'template="esjson" bulkmode="on" errorFile="%s")')
    actions.append('if ($msg contains "rses-") then {\n  %s\n  %s\n}' % (
        es_action % ("rses", server.http_port, ES_INDEX, peer.es_error_file),
        es_action % ("rses-tee", peer.es_capture.port, ES_INDEX, tmp / "omelasticsearch-tee-errors.json")))
    file_log = tmp / "app.log"
    file_log.write_text("")
    conf = tmp / "rsyslog.conf"
    conf.write_text("""
global(workDirectory="{work}" localHostName="{host}" net.enableDNS="off" maxMessageSize="16k"
       processInternalMessages="on")
module(load="imtcp")
module(load="imfile" mode="inotify")
module(load="omelasticsearch")
input(type="imtcp" address="127.0.0.1" port="0" listenPortFileName="{portfile}" ruleset="feed")
input(type="imfile" file="{file_log}" tag="rsfileapp:" facility="local0" severity="warning" ruleset="feed")

template(name="esjson" type="list" option.jsonf="on") {{
  property(outname="message" name="msg" format="jsonf")
  property(outname="host" name="hostname" format="jsonf")
  property(outname="appname" name="app-name" format="jsonf")
  property(outname="procid" name="procid" format="jsonf")
  property(outname="severity" name="syslogseverity-text" format="jsonf")
  property(outname="facility" name="syslogfacility-text" format="jsonf")
  property(outname="@timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
}}

# rsyslogd's own messages (the default ruleset) go to a file for debugging
action(type="omfile" file="{internal}" template="RSYSLOG_FileFormat")

ruleset(name="feed") {{
{actions}
}}
""".format(work=tmp / "work", host=RSYSLOG_HOSTNAME, portfile=tmp / "imtcp.port", file_log=file_log,
           internal=tmp / "rsyslogd-internal.log", actions="\n".join(actions)))
    log = tmp / "rsyslogd.stderr"
    env = dict(os.environ, TZ="UTC")
    proc = None
    try:
        with open(log, "wb") as lf:
            proc = subprocess.Popen([exe, "-n", "-f", str(conf), "-i", str(tmp / "rsyslogd.pid")],
                                    stdout=lf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                    cwd=str(tmp))
        portfile = tmp / "imtcp.port"
        port = _wait_for(lambda: portfile.exists() and portfile.read_text().strip().isdigit()
                         and int(portfile.read_text()), "rsyslogd", proc, log)
        listen = assert_contained(proc.pid, "rsyslogd")
        assert ("127.0.0.1", port) in listen, (port, listen)
        # feed: one TCP connection for every case, then the imfile lines
        fed = datetime.now(UTC)
        for c in peer.cases.values():
            c.fed_at = fed
        feed_tcp(port, [m for c in peer.cases.values() for m in c.msgs if not m.file_line] + peer.es)
        with open(file_log, "a") as f:
            for m in peer.cases["rsfile"].msgs:
                f.write(m.text + "\n")
        yield peer
    finally:
        if proc is not None:
            stop_process(proc)
        for c in peer.cases.values():
            c.capture.close()
        peer.es_capture.close()
        _save_wire(peer)
        keep_log(log, "syslog-peers-rsyslogd.stderr")
        keep_log(tmp / "rsyslogd-internal.log", "syslog-peers-rsyslogd-internal.log")
        keep_log(conf, "syslog-peers-rsyslog.conf")
        keep_log(peer.es_error_file, "syslog-peers-omelasticsearch-errors.json")


# --- syslog-ng -------------------------------------------------------------

SYSLOG_NG_CASES = [
    # key, transport, framing, out, destination
    ("sngtcp5424", "tcp", "octet", "5424", 'syslog("127.0.0.1" port({port}) transport("tcp") frac-digits(6)'),
    ("sngtcp3164", "tcp", "lf", "3164", 'network("127.0.0.1" port({port}) transport("tcp") send-time-zone("+00:00")'),
    ("sngudp5424", "udp", "udp", "5424", 'syslog("127.0.0.1" port({port}) transport("udp") frac-digits(6)'),
    ("sngudp3164", "udp", "udp", "3164", 'network("127.0.0.1" port({port}) transport("udp") send-time-zone("+00:00")'),
    # RFC 3164 with fractional seconds (frac-digits() on network())
    ("sngfrac3164", "tcp", "lf", "3164",
     'network("127.0.0.1" port({port}) transport("tcp") send-time-zone("+00:00") frac-digits(3)'),
    # file() lines with the source's host-override(), program-override()
    ("sngfile", "tcp", "octet", "5424", 'syslog("127.0.0.1" port({port}) transport("tcp") frac-digits(6)'),
]


def syslog_ng_install():
    root = Path(os.environ.get("LOGWEAVE_SYSLOG_NG_ROOT", REPO_ROOT / "target" / "syslog-ng-root"))
    exe = root / "usr" / "sbin" / "syslog-ng"
    mods = sorted(root.glob("usr/lib/syslog-ng/*/libafsocket.so"))
    if not exe.exists() or not mods:
        pytest.fail("syslog-ng not unpacked in %s (scripts/test unpacks syslog-ng-core there)" % root)
    lib_dirs = sorted({str(p.parent) for p in root.rglob("lib*.so*") if "syslog-ng/3" not in str(p.parent)})
    env = dict(os.environ, TZ="UTC",
               LD_LIBRARY_PATH=":".join(lib_dirs + [os.environ.get("LD_LIBRARY_PATH", "")]).rstrip(":"))
    return exe, mods[-1].parent, env


def start_syslog_ng(exe, module_dir, env, tmp, conf, log, what):
    """syslog-ng in the foreground with the config file `conf`, its persist file,
    pid file and control socket in `tmp`, its output (-e: its own messages on
    stderr) in `log`. Waits for the pid file and its TCP input (port(0): the port
    is read from /proc), checks that it listens on that one port only and on
    nothing beyond what the test feeds (assert_contained), and returns
    (process, [(ip, port)]). `what` names it in failures; a process that gets
    no further is stopped before the failure propagates."""
    with open(log, "wb") as lf:
        proc = subprocess.Popen([str(exe), "-F", "-e", "-f", str(conf), "--module-path=%s" % module_dir,
                                 "--persist-file=%s" % (tmp / "syslog-ng.persist"),
                                 "--pidfile=%s" % (tmp / "syslog-ng.pid"),
                                 "--control=%s" % (tmp / "syslog-ng.ctl")],
                                stdout=lf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                cwd=str(tmp))
    try:
        listen = _wait_for(lambda: (tmp / "syslog-ng.pid").exists() and daemon_sockets(proc.pid)[0],
                           what, proc, log)
        assert len(listen) == 1, "syslog-ng should listen on one TCP port: %r" % listen
        return proc, assert_contained(proc.pid, what)
    except BaseException:  # (pytest.fail raises a BaseException)
        stop_process(proc)
        raise


@pytest.fixture(scope="module")
def syslog_ng(server, tmp_path_factory):
    exe, module_dir, env = syslog_ng_install()
    tmp = tmp_path_factory.mktemp("syslog-ng")
    peer = Peer("syslog-ng")
    file_log = tmp / "app.log"
    file_log.write_text("")
    parts = []
    for key, transport, framing, out, dest in SYSLOG_NG_CASES:
        c = peer.cases[key] = Case(key, transport, framing, out, capture=Capture(key))
        if key == "sngfile":
            c.msgs = [Msg(token="sngfile-%03d" % i, text=_texts("sngfile-%03d" % i, i), facility="local3",
                          severity=5, host=SYSLOG_NG_HOSTNAME, app="sngfile", file_line=True)
                      for i in range(N_FILE)]
            c.host, c.app = SYSLOG_NG_HOSTNAME, "sngfile"
            src = "s_file"
            flt = ""
        else:
            c.msgs = generate(key, N_MSGS)
            src = "s_net"
            parts.append('filter f_%s { message("%s-" type("string") flags(substring)); };' % (key, key))
            flt = " filter(f_%s);" % key
        parts.append("destination d_%s { %s persist-name(\"%s\")); };" % (
            key, dest.format(port=server.syslog_port), key))
        parts.append("destination d_%s_tee { %s persist-name(\"%s-tee\")); };" % (
            key, dest.format(port=c.capture.port), key))
        parts.append("log { source(%s);%s destination(d_%s); destination(d_%s_tee); };" % (src, flt, key, key))
    conf = tmp / "syslog-ng.conf"
    conf.write_text("""@version: 3.38
options {{ keep-hostname(yes); chain-hostnames(no); use-dns(no); use-fqdn(no); dns-cache(no);
          stats-freq(0); mark-freq(0); time-reopen(1); }};
# only what the test feeds: one TCP input (5424, and 3164 as a fallback), one file
source s_net {{ network(ip("127.0.0.1") port(0) transport("tcp") flags(syslog-protocol) persist-name("feed")); }};
source s_file {{ file("{file_log}" follow-freq(0.2) flags(no-parse) program-override("sngfile")
                 host-override("{host}") default-facility(local3) default-priority(notice)); }};
{parts}
""".format(file_log=file_log, host=SYSLOG_NG_HOSTNAME, parts="\n".join(parts)))
    log = tmp / "syslog-ng.stderr"
    proc = None
    try:
        proc, listen = start_syslog_ng(exe, module_dir, env, tmp, conf, log, "syslog-ng")
        port = listen[0][1]
        fed = datetime.now(UTC)
        for c in peer.cases.values():
            c.fed_at = fed
        feed_tcp(port, [m for c in peer.cases.values() for m in c.msgs if not m.file_line])
        with open(file_log, "a") as f:
            for m in peer.cases["sngfile"].msgs:
                f.write(m.text + "\n")
        yield peer
    finally:
        if proc is not None:
            stop_process(proc)
        for c in peer.cases.values():
            c.capture.close()
        _save_wire(peer)
        keep_log(log, "syslog-peers-syslog-ng.stderr")
        keep_log(conf, "syslog-peers-syslog-ng.conf")


# --- syslog-ng http() and elasticsearch-http() to _bulk --------------------

SNG_HTTP_INDEX = "sng-%s"  # % case key
# The record syslog-ng's elasticsearch-http() template makes (the SCL's own), for http() too.
SNG_JSON = "$(format-json --scope rfc5424 --exclude DATE --key ISODATE @timestamp=${ISODATE})"
SNG_HTTP_CASES = [
    # key, body ends with LF, Content-Type sent, destination (url and index filled in)
    # elasticsearch-http() as its SCL block defines it: x-ndjson, body_suffix("\n"); the
    # index action has no _type (type("") is omitted). timeout(): see below.
    ("sngeshttp", True, "application/x-ndjson",
     'elasticsearch-http(url("{url}") index("{index}") type("") batch-lines(16) timeout(30)'),
    # http() batching as people write it for Elasticsearch: the action and the record
    # per message, joined by the default delimiter "\n", no body-suffix(): no final LF
    ("snghttp", False, "application/x-ndjson",
     'http(url("{url}") method("POST") headers("Content-Type: application/x-ndjson") batch-lines(16)'
     ' timeout(30) body("{{\\"index\\":{{\\"_index\\":\\"{index}\\"}}}}\\n{json}")'),
    # the same without headers(): curl's default Content-Type for a POST
    ("snghttpform", False, "application/x-www-form-urlencoded",
     'http(url("{url}") method("POST") batch-lines(16) timeout(30)'
     ' body("{{\\"index\\":{{\\"_index\\":\\"{index}\\"}}}}\\n{json}")'),
]
# (timeout(30), not the SCL's 10 s: a slow answer from a debug build on a busy
# machine would make syslog-ng send the batch again, and the test would see the
# duplicates that at-least-once delivery allows)
N_HTTP = 40


class HttpTap(TcpRelay):
    """A transparent TCP relay 127.0.0.1:port -> 127.0.0.1:upstream keeping the
    bytes of both directions of every connection: the HTTP requests exactly as
    syslog-ng sent them to logweave, and logweave's answers."""

    def __init__(self, upstream_port):
        super().__init__(upstream_port, keep_replies=True)

    def exchanges(self):
        """[(request, response or None)] in order, each parsed by parse_http."""
        out = []
        for k, (sent, answered) in enumerate(self.connections()):
            reqs = parse_http(sent, "request", k)
            resps = [r for r in parse_http(answered, "response", k) if not 100 <= r.status < 200]
            out += [(r, resps[i] if i < len(resps) else None) for i, r in enumerate(reqs)]
        return out


@dataclass
class HttpMessage:
    start: str  # "POST /_bulk HTTP/1.1" or "HTTP/1.1 200 OK"
    headers: list  # [(name, value)] as sent
    body: bytes
    conn: int  # which TCP connection
    status: int = None  # responses

    def header(self, name):
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def render(self, limit=3000):
        body = self.body if len(self.body) <= limit else \
            self.body[:limit] + b"...(%d bytes in all)" % len(self.body)
        return "%s  [TCP connection %d]\n%s\n\n%r" % (
            self.start, self.conn, "\n".join("%s: %s" % h for h in self.headers), body)


def parse_http(data, kind, conn):
    """HTTP/1.1 messages one after the other in one direction of a connection
    (Content-Length or chunked bodies); a truncated one is kept as far as it goes."""
    out, at = [], 0
    while at < len(data):
        end = data.find(b"\r\n\r\n", at)
        if end < 0:
            out.append(HttpMessage("(incomplete) " + data[at:at + 80].decode("latin-1"), [], data[at:], conn))
            break
        lines = data[at:end].decode("latin-1").split("\r\n")
        headers = [tuple(s.strip() for s in ln.split(":", 1)) for ln in lines[1:] if ":" in ln]
        m = HttpMessage(lines[0], headers, b"", conn)
        at = end + 4
        if kind == "response":
            m.status = int(lines[0].split()[1])
            if 100 <= m.status < 200:
                out.append(m)
                continue
        if (m.header("Transfer-Encoding") or "").lower() == "chunked":
            body = bytearray()
            while True:
                eol = data.find(b"\r\n", at)
                if eol < 0:
                    break
                n = int(data[at:eol].split(b";")[0], 16)
                body += data[eol + 2:eol + 2 + n]
                at = eol + 2 + n + 2
                if n == 0:
                    break
            m.body = bytes(body)
        else:
            n = int(m.header("Content-Length") or 0)
            m.body = data[at:at + n]
            at += n
        out.append(m)
    return out


@dataclass
class HttpCase:
    key: str
    final_lf: bool  # the request body ends with LF
    content_type: str
    index: str
    tap: HttpTap
    msgs: list = field(default_factory=list)


@pytest.fixture(scope="module")
def syslog_ng_http(server, tmp_path_factory):
    """syslog-ng with elasticsearch-http() and http() destinations posting to logweave's
    _bulk through an HttpTap each, fed the generated messages over TCP."""
    exe, module_dir, env = syslog_ng_install()
    root = exe.parents[2]
    scl = root / "usr" / "share" / "syslog-ng" / "include" / "scl" / "elasticsearch" / "elastic-http.conf"
    if not (module_dir / "libhttp.so").exists() or not scl.exists():
        pytest.fail("syslog-ng's http module or its elasticsearch-http() SCL is not unpacked in %s "
                    "(scripts/test unpacks syslog-ng-mod-http and syslog-ng-scl there)" % root)
    tmp = tmp_path_factory.mktemp("syslog-ng-http")
    cases = {}
    parts = []
    for key, final_lf, ctype, dest in SNG_HTTP_CASES:
        c = cases[key] = HttpCase(key, final_lf, ctype, SNG_HTTP_INDEX % key, HttpTap(server.http_port),
                                  msgs=generate(key, N_HTTP))
        parts.append('filter f_%s { message("%s-" type("string") flags(substring)); };' % (key, key))
        parts.append('destination d_%s { %s persist-name("%s")); };' % (key, dest.format(
            url="http://127.0.0.1:%d/_bulk" % c.tap.port, index=c.index, json=SNG_JSON), key))
        parts.append("log { source(s_net); filter(f_%s); destination(d_%s); };" % (key, key))
    conf = tmp / "syslog-ng.conf"
    conf.write_text("""@version: 3.38
@include "{scl}"
options {{ keep-hostname(yes); chain-hostnames(no); use-dns(no); use-fqdn(no); dns-cache(no);
          stats-freq(0); mark-freq(0); time-reopen(1); frac-digits(6); }};
source s_net {{ network(ip("127.0.0.1") port(0) transport("tcp") flags(syslog-protocol) persist-name("feed")); }};
{parts}
""".format(scl=scl, parts="\n".join(parts)))
    log = tmp / "syslog-ng.stderr"
    proc = None
    try:
        proc, listen = start_syslog_ng(exe, module_dir, env, tmp, conf, log, "syslog-ng (http)")
        feed_tcp(listen[0][1], [m for c in cases.values() for m in c.msgs])
        yield cases
    finally:
        if proc is not None:
            stop_process(proc)
        for c in cases.values():
            c.tap.close()
        _save_http_wire(cases)
        keep_log(log, "syslog-peers-syslog-ng-http.stderr")
        keep_log(conf, "syslog-peers-syslog-ng-http.conf")


def _save_http_wire(cases):
    """target/test-logs/syslog-peers-wire-syslog-ng-http.txt: every request and answer."""
    try:
        KEEP_DIR.mkdir(parents=True, exist_ok=True)
        with open(KEEP_DIR / "syslog-peers-wire-syslog-ng-http.txt", "w") as f:
            for c in cases.values():
                f.write("== %s (index %s)\n" % (c.key, c.index))
                for req, resp in c.tap.exchanges():
                    f.write("-- request\n%s\n-- response\n%s\n" % (
                        req.render(limit=1 << 20), resp.render(limit=1 << 20) if resp else "(none)"))
    except OSError:
        pass


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------


def short(s, n=400):
    return s if len(s) <= n else s[:n - 40] + " ...(%d chars)... " % (len(s) - n + 40) + s[-20:]


def token_of(text, key):
    mt = re.search(re.escape(key) + r"-\d{3}", text)
    return mt.group(0) if mt else None


def wait_for_case(srv, case):
    """Poll the search API until every message of the case is stored (or the
    deadline); then once more, to see late duplicates. Hits whose record
    mentions the case anywhere count (a misparsed one too)."""
    want = len(case.msgs)
    deadline = time.monotonic() + DEADLINE_S
    while True:
        hits = [h for h in srv.all_hits() if case.key + "-" in json.dumps(h["_source"], ensure_ascii=False)]
        if len(hits) >= want or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    time.sleep(0.3)
    return [h for h in srv.all_hits() if case.key + "-" in json.dumps(h["_source"], ensure_ascii=False)]


def wire_frames(case):
    """The frames the daemon sent to the tee, checked for the case's framing and format."""
    streams, datagrams = case.capture.snapshot()
    if case.framing == "udp":
        assert not streams, "%s: expected UDP, the daemon opened %d TCP connections" % (case.key, len(streams))
        frames = [d[:-1] if d.endswith(b"\n") else d for d in datagrams]
        for d in frames:
            assert b"\n" not in d, "%s: one message per datagram expected: %r" % (case.key, d)
    else:
        assert not datagrams, "%s: expected TCP, got %d datagrams" % (case.key, len(datagrams))
        assert streams, "%s: the daemon never connected to the capture listener" % case.key
        frames = []
        for s in streams:
            if case.framing == "octet":
                assert re.match(rb"^[1-9]\d* <", s), "%s: not octet-counted: %r" % (case.key, s[:100])
                fr = split_octet_counted(s)
                assert all(f.endswith(b"\n") for f in fr) or not any(f.endswith(b"\n") for f in fr), fr[:3]
                frames.extend(f[:-1] if f.endswith(b"\n") else f for f in fr)
            else:
                assert s.startswith(b"<"), "%s: not LF-framed: %r" % (case.key, s[:100])
                frames.extend(split_lf(s))
    rx = RE_5424 if case.out == "5424" else RE_3164
    for f in frames:
        assert rx.match(f), "%s: frame is not RFC %s: %r" % (case.key, case.out, f[:120])
    by_token = {}
    for f in frames:
        t = token_of(f.decode("utf-8", "replace"), case.key)
        assert t, "%s: a frame without any of our ids: %r" % (case.key, f[:120])
        by_token.setdefault(t, []).append(f)
    return by_token


def check_case(srv, case):
    hits = wait_for_case(srv, case)
    frames = wire_frames(case)
    tokens = [m.token for m in case.msgs]
    # the daemon itself delivered each message once to the tee (else the test is moot)
    sent_twice = {t: len(v) for t, v in frames.items() if len(v) > 1}
    assert not sent_twice, "%s: the daemon sent these twice: %r" % (case.key, sent_twice)
    assert set(frames) == set(tokens), "%s: the daemon forwarded %d of %d messages (missing %s)" % (
        case.key, len(frames), len(tokens), sorted(set(tokens) - set(frames))[:10])

    by_token = {}
    for h in hits:
        t = token_of(json.dumps(h["_source"], ensure_ascii=False), case.key)
        by_token.setdefault(t, []).append(h)
    counts = Counter({t: len(v) for t, v in by_token.items()})
    dups = {t: n for t, n in counts.items() if n > 1}
    missing = [t for t in tokens if t not in counts]
    assert not dups, "%s: stored more than once: %r" % (case.key, dups)
    assert not missing, "%s: %d of %d messages not stored after %d s: %s\nserver log:\n%s" % (
        case.key, len(missing), len(tokens), DEADLINE_S, missing[:10], srv.tail())
    assert len(hits) == len(tokens), "%s: %d records for %d messages" % (case.key, len(hits), len(tokens))

    problems = []
    now = datetime.now(UTC)
    for m in case.msgs:
        h = by_token[m.token][0]
        src = dict(h["_source"])
        want = expected_record(m, case.out, host=case.host, app=case.app)
        stamp = src.pop("@timestamp", None)
        if m.app == "-" and src.get("appname") == "-":
            del src["appname"]  # nil kept as "-": acceptable
        why = []
        if m.file_line:
            # the daemon's own time of reading the line; the wire's sd for syslog-ng's meta
            if case.out == "5424" and "meta" in (src.get("sd") or {}):
                mt = re.search(rb'\[meta sequenceId="(\d+)"\]', frames[m.token][0])
                want["sd"] = {"meta": {"sequenceId": mt.group(1).decode()}} if mt else None
            try:
                got_t = parse_stamp(stamp)
                lo = case.fed_at.replace(microsecond=0) - timedelta(seconds=1)
                if not lo <= got_t <= now + timedelta(seconds=1):
                    why.append("timestamp %s outside the run (%s .. %s)" % (stamp, lo.isoformat(), now.isoformat()))
                want_t = got_t
            except AssertionError as e:
                why.append(str(e))
                want_t = None
        else:
            want_t = m.ts.astimezone(UTC)
            if case.out == "3164":
                want_t = want_t.replace(microsecond=0)
            try:
                got_t = parse_stamp(stamp)
                if case.out == "3164":
                    got_t = got_t.replace(microsecond=0)
                if got_t != want_t:
                    why.append("timestamp %s, sent %s (= %s)" % (stamp, m.ts.isoformat(), want_t.isoformat()))
            except AssertionError as e:
                why.append(str(e))
        if src != want:
            why.append("record differs in %s" % sorted(k for k in set(src) | set(want) if src.get(k) != want.get(k)))
        if want_t is not None and h["_index"] != daily_index(m.facility, want_t):
            why.append("index %s, want %s" % (h["_index"], daily_index(m.facility, want_t)))
        if why:
            problems.append("%s: %s\n  test sent: %s\n  daemon sent: %s\n  stored: %s\n  expected: %s" % (
                m.token, "; ".join(why), short(repr(m.text if m.file_line else m.wire())),
                short(repr(frames[m.token][0])), short(json.dumps(h["_source"], ensure_ascii=False)),
                short(json.dumps(want, ensure_ascii=False))))
    assert not problems, "%s: %d of %d records wrong:\n%s" % (
        case.key, len(problems), len(case.msgs), "\n".join(problems[:6]))


# ---------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------

# Both once failed, now fixed: a 3164 date with fractional seconds
# (syslog-ng frac-digits) and rsyslog's nil tag '-' (host was lost).
KNOWN_BUGS = {}


def case_params(cases):
    return [pytest.param(c[0], marks=pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[c[0]]))
            if c[0] in KNOWN_BUGS else c[0] for c in cases]


@pytest.mark.parametrize("key", case_params(RSYSLOG_CASES))
def test_rsyslog_forwards(server, rsyslog, key):
    """rsyslog omfwd (TCP octet-counted, TCP LF, UDP; RFC 5424 and 3164) and imfile."""
    check_case(server, rsyslog.cases[key])


@pytest.mark.parametrize("key", case_params(SYSLOG_NG_CASES))
def test_syslog_ng_forwards(server, syslog_ng, key):
    """syslog-ng syslog() (5424, octet-counted) and network() (3164, LF) over TCP and UDP, and file()."""
    check_case(server, syslog_ng.cases[key])


def test_rsyslog_omelasticsearch_bulk(server, rsyslog):
    """omelasticsearch in bulk mode: every record searchable in the configured index,
    as rsyslog's JSON template rendered it."""
    want = {m.token: m for m in rsyslog.es}
    deadline = time.monotonic() + DEADLINE_S
    while True:
        server.request("POST", "/_refresh")
        try:
            hits = server.request("POST", "/%s/_search" % ES_INDEX,
                                  {"size": 1000, "query": {"match_all": {}}})["hits"]["hits"]
        except AssertionError:  # the index does not exist yet
            hits = []
        if len(hits) >= len(want) or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    time.sleep(0.3)
    server.request("POST", "/_refresh")
    hits = server.request("POST", "/%s/_search" % ES_INDEX, {"size": 1000, "query": {"match_all": {}}})["hits"]["hits"]
    reqs = rsyslog.es_capture.requests
    assert reqs and all(r[0] == "POST" and r[1] == "/_bulk" for r in reqs), \
        "omelasticsearch did not (only) POST /_bulk: %r" % [(r[0], r[1]) for r in reqs]
    errors = rsyslog.es_error_file.read_text() if rsyslog.es_error_file.exists() else ""
    assert not errors, "omelasticsearch wrote errors (logweave's _bulk answer):\n" + errors[:3000]
    got = Counter(token_of(h["_source"].get("message", ""), "rses") for h in hits)
    assert got == Counter(list(want)), "stored %d of %d; missing %s, twice %s\nserver log:\n%s" % (
        len(hits), len(want), sorted(set(want) - set(got))[:10], [t for t, n in got.items() if n > 1],
        server.tail())
    count = server.request("GET", "/%s/_count" % ES_INDEX)
    assert count["count"] == len(want), count
    for h in hits:
        assert h["_index"] == ES_INDEX, h
        src = dict(h["_source"])
        m = want[token_of(src["message"], "rses")]
        stamp = src.pop("@timestamp", None)
        assert src == {"message": m.text, "host": m.host, "appname": m.app, "procid": m.procid or "-",
                       "severity": SEVERITIES[m.severity], "facility": m.facility}, (m.wire(), h["_source"])
        got_t = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        assert got_t == m.ts, "@timestamp %s, sent %s" % (stamp, m.ts.isoformat())
    # searchable by the query_string syntax people type, long messages by a word deep inside
    one = rsyslog.es[3]
    q = server.request("POST", "/%s/_search" % ES_INDEX, {"size": 100, "query": {"query_string": {
        "query": 'appname:"%s" AND host:"%s" AND severity:%s' % (one.app, one.host, SEVERITIES[one.severity])}}})
    assert one.token in {token_of(h["_source"]["message"], "rses") for h in q["hits"]["hits"]}, q
    long_ones = {m.token for m in rsyslog.es if "word150" in m.text}
    q = server.request("POST", "/%s/_search" % ES_INDEX, {"size": 100, "query": {"query_string": {
        "query": "message:word150"}}})
    assert {token_of(h["_source"]["message"], "rses") for h in q["hits"]["hits"]} == long_ones, q


# --- syslog-ng http() and elasticsearch-http() -----------------------------


def sng_expected(m):
    """The record syslog-ng's format-json (scope rfc5424, as in elasticsearch-http())
    makes of message `m`: upper-case names, SD under _SDATA, the time in its own zone."""
    stamp = m.ts.isoformat(timespec="microseconds")  # frac-digits(6); 3164 input: UTC (TZ=UTC)
    r = {"MESSAGE": m.text, "PROGRAM": m.app, "HOST": m.host, "PRIORITY": SEVERITIES[m.severity],
         "FACILITY": m.facility, "ISODATE": stamp, "@timestamp": stamp}
    if m.procid:
        r["PID"] = m.procid
    if m.fmt == "5424":
        if m.msgid:
            r["MSGID"] = m.msgid
        if m.sd:
            r["_SDATA"] = {sid: dict(params) for sid, params in m.sd}
    return r


def epoch_ms(t):
    return (t - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def http_docs(case, req):
    """The (action, document) pairs of one _bulk request body, checked for the framing."""
    body = req.body
    if case.final_lf:
        assert body.endswith(b"\n"), "%s: the body does not end with LF:\n%s" % (case.key, req.render())
        body = body[:-1]
    else:
        assert not body.endswith(b"\n"), "%s: the body ends with LF (meant to test without):\n%s" % (
            case.key, req.render())
    lines = body.split(b"\n")
    assert len(lines) % 2 == 0, "%s: odd number of lines:\n%s" % (case.key, req.render())
    pairs = []
    for a, d in zip(lines[0::2], lines[1::2]):
        assert json.loads(a) == {"index": {"_index": case.index}}, "%s: action %r" % (case.key, a)
        pairs.append(json.loads(d))
    return pairs


def check_http_wire(case):
    """What syslog-ng sent logweave and what logweave answered: {token: document sent}."""
    deadline = time.monotonic() + 5  # (an answer may still be on its way through the tap)
    ex = case.tap.exchanges()
    while not (ex and all(resp for _, resp in ex)) and time.monotonic() < deadline:
        time.sleep(0.1)
        ex = case.tap.exchanges()
    assert ex, "%s: syslog-ng never connected to logweave (through the tap)" % case.key
    sent = {}
    twice = []
    for req, resp in ex:
        assert req.start == "POST /_bulk HTTP/1.1", "%s: %s" % (case.key, req.render(300))
        assert (req.header("Content-Type") or "").split(";")[0] == case.content_type, req.render(300)
        docs = http_docs(case, req)
        assert resp is not None, "%s: logweave did not answer this request:\n%s" % (case.key, req.render())
        what = "%s: logweave's answer to\n%s\nwas\n%s" % (case.key, req.render(), resp.render())
        assert resp.status == 200, what
        ans = json.loads(resp.body)
        assert ans.get("errors") is False and len(ans.get("items", [])) == len(docs), what
        for it in ans["items"]:
            assert it["index"]["status"] == 201 and it["index"]["_index"] == case.index, what
        for d in docs:
            t = token_of(d.get("MESSAGE", ""), case.key)
            assert t, "%s: a document without any of our ids: %r" % (case.key, d)
            if t in sent:
                twice.append(t)
            sent[t] = d
    # (a resent batch would mean syslog-ng saw a failure: the answers above tell which)
    assert not twice, "%s: syslog-ng sent these twice: %r" % (case.key, twice)
    tokens = [m.token for m in case.msgs]
    assert set(sent) == set(tokens), "%s: syslog-ng sent %d of %d messages (missing %s)" % (
        case.key, len(sent), len(tokens), sorted(set(tokens) - set(sent))[:10])
    sizes = [len(http_docs(case, req)) for req, _ in ex]
    assert len(ex) > 1 and max(sizes) > 1, "%s: not batched: %r documents per request" % (case.key, sizes)
    return sent


def wait_for_http_case(srv, case):
    """Every stored record (any index) that mentions the case, once the case's messages
    are all there (or the deadline), and once more after a moment for late duplicates."""
    def hits():
        return [h for h in srv.all_hits() if case.key + "-" in json.dumps(h["_source"], ensure_ascii=False)]
    deadline = time.monotonic() + DEADLINE_S
    while len(hits()) < len(case.msgs) and time.monotonic() < deadline:
        time.sleep(0.25)
    time.sleep(0.3)
    return hits()


def search_tokens(srv, case, query):
    """The case's tokens that a query on its index finds."""
    resp = srv.request("POST", "/%s/_search" % case.index, {"size": 1000, "query": query})
    return Counter(token_of(h["_source"].get("MESSAGE", ""), case.key) for h in resp["hits"]["hits"])


@pytest.mark.parametrize("key", case_params(SNG_HTTP_CASES))
def test_syslog_ng_http_bulk(server, syslog_ng_http, key):
    """elasticsearch-http() and batched http() (body without a final LF, x-ndjson or
    curl's form content type) to _bulk: every message stored once, in the index syslog-ng
    named, with the fields syslog-ng's JSON has, @timestamp its time; searchable."""
    case = syslog_ng_http[key]
    hits = wait_for_http_case(server, case)
    sent = check_http_wire(case)
    want = {m.token: m for m in case.msgs}
    got = Counter(token_of(h["_source"].get("MESSAGE", ""), key) for h in hits)
    assert got == Counter(list(want)), "%s: stored %d of %d; missing %s, more than once %s\nserver log:\n%s" % (
        key, len(hits), len(want), sorted(set(want) - set(got))[:10], [t for t, n in got.items() if n > 1],
        server.tail())
    assert server.request("GET", "/%s/_count" % case.index)["count"] == len(want)
    problems = []
    for h in hits:
        m = want[token_of(h["_source"]["MESSAGE"], key)]
        why = []
        if h["_index"] != case.index:
            why.append("index %s, want %s" % (h["_index"], case.index))
        if h["_source"] != sng_expected(m):
            why.append("record differs in %s" % sorted(k for k in set(h["_source"]) | set(sng_expected(m))
                                                       if h["_source"].get(k) != sng_expected(m).get(k)))
        if h["_source"] != sent[m.token]:
            why.append("_source is not the document syslog-ng sent")
        if why:
            problems.append("%s: %s\n  test sent: %s\n  syslog-ng sent: %s\n  stored: %s\n  expected: %s" % (
                m.token, "; ".join(why), short(repr(m.wire())),
                *(short(json.dumps(r, ensure_ascii=False)) for r in (sent[m.token], h["_source"], sng_expected(m)))))
    assert not problems, "%s: %d of %d records wrong:\n%s" % (key, len(problems), len(want), "\n".join(problems[:6]))

    # logweave's own time of each event is its @timestamp (sort values: epoch ms)
    resp = server.request("POST", "/%s/_search" % case.index, {"size": 1000, "sort": [{"@timestamp": "asc"}]})
    for h in resp["hits"]["hits"]:
        m = want[token_of(h["_source"]["MESSAGE"], key)]
        assert h["sort"][0] == epoch_ms(m.ts), "%s: @timestamp %s ms, sent %s" % (m.token, h["sort"], m.ts.isoformat())

    # searchable under syslog-ng's names, the SD nested under _SDATA, long messages by a deep word
    for m in case.msgs[:4]:
        assert search_tokens(server, case, {"match_phrase": {"MESSAGE": m.token}}) == Counter([m.token])
    one = case.msgs[1]
    q = 'PROGRAM:"%s" AND HOST:"%s" AND PRIORITY:%s' % (one.app, one.host, SEVERITIES[one.severity])
    assert search_tokens(server, case, {"query_string": {"query": q}}) == Counter(
        m.token for m in case.msgs if (m.app, m.host, m.severity) == (one.app, one.host, one.severity)), q
    assert set(search_tokens(server, case, {"query_string": {"query": "MESSAGE:word150"}})) == {
        m.token for m in case.msgs if "word150" in m.text}
    for sid, name, value in [("exampleSDID@32473", "eventSource", "App"), ("x@1", "k", "v4"),
                             ("order@32473", "id", "9")]:
        expect = {m.token for m in case.msgs if m.fmt == "5424" and m.sd and (name, value) in dict(m.sd).get(sid, [])}
        assert expect, "vacuous: no message has %s %s=%s" % (sid, name, value)
        assert set(search_tokens(server, case, {"match": {"_SDATA.%s.%s" % (sid, name): value}})) == expect, \
            "_SDATA.%s.%s = %s" % (sid, name, value)


@pytest.mark.parametrize("key", case_params(SNG_HTTP_CASES))
def test_syslog_ng_http_normalised_fields(server, syslog_ng_http, key):
    """logweave finds level, service and host in syslog-ng's upper-case names
    (PRIORITY, PROGRAM, HOST): searches and terms aggregations on @level, @service
    and @host give the messages the test generated with each value."""
    case = syslog_ng_http[key]
    hits = wait_for_http_case(server, case)
    assert len(hits) >= len(case.msgs), "%s: only %d of %d stored" % (key, len(hits), len(case.msgs))
    oracle = {
        "@level": lambda m: LEVELS[m.severity],
        "@service": lambda m: m.app,
        "@host": lambda m: m.host,
    }
    problems = []
    for fld, of in oracle.items():
        values = Counter(of(m) for m in case.msgs)
        assert len(values) >= 4, "vacuous: %s takes only %r" % (fld, values)
        for v in values:
            want = Counter(m.token for m in case.msgs if of(m) == v)
            for query in ({"term": {fld: v}}, {"query_string": {"query": '%s:"%s"' % (fld, v)}}):
                got = search_tokens(server, case, query)
                if got != want:
                    problems.append("%s: %s found %s, want %s" % (key, json.dumps(query), sorted(got), sorted(want)))
        aggs = server.request("POST", "/%s/_search" % case.index,
                              {"size": 0, "aggs": {"v": {"terms": {"field": fld, "size": 50}}}})
        buckets = {b["key"]: b["doc_count"] for b in aggs["aggregations"]["v"]["buckets"]}
        if buckets != dict(values):
            problems.append("%s: terms on %s gave %r, want %r" % (key, fld, buckets, dict(values)))
    assert not problems, "\n".join(problems[:12])

"""What the Python suites share: the logweave binary and a `logweave server`
started for a test module or session.

`start_logweave()` runs the server on free loopback ports (127.0.0.1:0 for
the HTTP API, the forward input and the syslog input: the server prints what
it bound, so there is no port race) with a fresh data directory and, if given,
a config file of the given text; it waits until the server has reported its
addresses and answers `GET /`, and stops it afterwards (SIGTERM, then SIGKILL
after 10 s), keeping its log as target/test-logs/<keep_as>.

`TcpRelay` is a transparent TCP relay that keeps the bytes passing through it
per connection, for the test files' wire taps to decode.

The test files import these helpers (`from conftest import ...`), which
works with pytest's default import mode (prepend): this directory is on
sys.path once pytest has loaded this conftest.

The binary is $LOGWEAVE_BIN (default target/debug/logweave, relative to the
repository), waited for up to 30 s when it is briefly missing (being rebuilt).
"""

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
KEEP_DIR = REPO_ROOT / "target" / "test-logs"
START_WITHIN_S = 30


def tail(path, n=60):
    """The last n lines of a log file."""
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def keep_log(src, name):
    """Copy a log (or config) to target/test-logs/NAME, for after the run."""
    try:
        KEEP_DIR.mkdir(parents=True, exist_ok=True)
        if Path(src).exists():
            shutil.copy(src, KEEP_DIR / name)
    except OSError:
        pass


def logweave_binary(wait_s=30):
    """The logweave binary ($LOGWEAVE_BIN, default target/debug/logweave)."""
    b = Path(os.environ.get("LOGWEAVE_BIN", "target/debug/logweave"))
    if not b.is_absolute():
        b = REPO_ROOT / b
    deadline = time.monotonic() + wait_s  # (it may be briefly missing while being rebuilt)
    while not b.exists():
        if time.monotonic() > deadline:
            pytest.fail("logweave binary not found at %s (build it or set LOGWEAVE_BIN)" % b)
        time.sleep(1)
    return b


@pytest.fixture(scope="session")
def logweave_bin():
    return logweave_binary()


class LogweaveServer:
    """A running `logweave server`: its addresses, log and process, and JSON requests
    to its HTTP API. Test files subclass it for their own queries."""

    def __init__(self, name, url, http_port, forward_port, syslog_port, log_path, proc):
        self.name = name
        self.url = url
        self.http_port = http_port
        self.forward_port = forward_port
        self.syslog_port = syslog_port
        self.log_path = log_path
        self.proc = proc

    def request(self, method, path, body=None):
        """JSON in and out; an HTTP error status fails with the answer."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            raise AssertionError("%s %s -> HTTP %d: %s" % (method, path, e.code, e.read()[:500])) from None

    def refresh(self):
        self.request("POST", "/_refresh")

    def tail(self, n=60):
        return tail(self.log_path, n)


_LISTENING = {
    "http": r"Elasticsearch-compatible API on http://127\.0\.0\.1:(\d+)",
    "forward": r"Fluentd forward input on 127\.0\.0\.1:(\d+)",
    "syslog": r"syslog input on 127\.0\.0\.1:(\d+)",
}


class TcpRelay:
    """A transparent TCP relay 127.0.0.1:port -> 127.0.0.1:upstream_port that keeps,
    per accepted connection, every byte the client sent and, with keep_replies,
    every byte the upstream answered. Subclasses decode them (connections())."""

    def __init__(self, upstream_port, keep_replies=True):
        self.upstream = upstream_port
        self.keep_replies = keep_replies
        self.lock = threading.Lock()
        self.conns = []  # [client bytes, upstream bytes or None] per connection
        self.socks = []
        self.stopping = threading.Event()
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.lsock.settimeout(0.2)
        self.port = self.lsock.getsockname()[1]
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping.is_set():
            try:
                c, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            c.settimeout(None)
            try:
                u = socket.create_connection(("127.0.0.1", self.upstream), timeout=5)
                u.settimeout(None)
            except OSError:
                c.close()
                continue
            pair = [bytearray(), bytearray() if self.keep_replies else None]
            with self.lock:
                self.conns.append(pair)
                self.socks += [c, u]
            threading.Thread(target=self._pump, args=(c, u, pair[0]), daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c, pair[1]), daemon=True).start()

    def _pump(self, src, dst, buf):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if buf is not None:
                    with self.lock:
                        buf.extend(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def connections(self):
        """[(client bytes, upstream bytes or None without keep_replies)], one per
        connection in the order they were accepted."""
        with self.lock:
            return [(bytes(a), None if b is None else bytes(b)) for a, b in self.conns]

    def close(self):
        self.stopping.set()
        self.thread.join(timeout=2)
        try:
            self.lsock.close()
        except OSError:
            pass
        with self.lock:
            socks = list(self.socks)
        for s in socks:
            try:
                s.close()
            except OSError:
                pass


@contextlib.contextmanager
def start_logweave(tmp_path_factory, name, config=None, keep_as=None, cls=LogweaveServer,
                   inputs=("forward", "syslog")):
    """`logweave server` in a new temp directory NAME<n> (data/, server.log and, when
    `config` is given, logweave.toml with that text), every listener on 127.0.0.1:0.
    Yields a `cls` once the HTTP API and the `inputs` have reported their ports
    and GET / answers 200. `keep_as`: the log's name under target/test-logs
    (default server-NAME.log)."""
    binary = logweave_binary()
    base = tmp_path_factory.mktemp(name)
    data_dir = base / "data"
    data_dir.mkdir()
    log_path = base / "server.log"
    cmd = [str(binary), "server", "--data-dir", str(data_dir), "--http-addr", "127.0.0.1:0",
           "--forward-addr", "127.0.0.1:0", "--syslog-addr", "127.0.0.1:0"]
    if config is not None:
        conf = base / "logweave.toml"
        conf.write_text(config)
        cmd += ["--config", str(conf)]
    want = ("http",) + tuple(inputs)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = None
    try:
        deadline = time.monotonic() + START_WITHIN_S
        ports = {}
        while len(ports) < len(want):
            if proc.poll() is not None:
                pytest.fail("logweave (%s) exited with %s before listening:\n%s" % (
                    name, proc.returncode, tail(log_path)))
            if time.monotonic() > deadline:
                pytest.fail("logweave (%s) did not report its %s addresses within %d s:\n%s" % (
                    name, ", ".join(w for w in want if w not in ports), START_WITHIN_S, tail(log_path)))
            text = log_path.read_text(errors="replace")
            for w in want:
                m = re.search(_LISTENING[w], text)
                if m:
                    ports[w] = int(m.group(1))
            time.sleep(0.05)
        url = "http://127.0.0.1:%d" % ports["http"]
        while True:
            try:
                with urllib.request.urlopen(url + "/", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if proc.poll() is not None:
                pytest.fail("logweave (%s) exited with %s before answering GET /:\n%s" % (
                    name, proc.returncode, tail(log_path)))
            if time.monotonic() > deadline:
                pytest.fail("logweave (%s) did not answer GET / within %d s:\n%s" % (
                    name, START_WITHIN_S, tail(log_path)))
            time.sleep(0.1)
        server = cls(name, url, ports["http"], ports.get("forward"), ports.get("syslog"), log_path, proc)
        yield server
    finally:
        died = proc.poll() is not None
        if not died:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        keep_log(log_path, keep_as or "server-%s.log" % name)
        if died and server is not None:
            print("\nlogweave (%s) exited during the tests (code %s):\n%s" % (name, proc.returncode, tail(log_path)))

"""End-to-end tests of `logweave agent` (the forward *client*) against the
Fluentd project's own forward server.

The peer is `FluentServer` from the Fluentd project's Node package
@fluent-org/logger, run by tests/node/receive.js, which prints every entry it
receives. The oracle is always what this file wrote (the log lines, the files'
sizes and inodes), never something read back from logweave. Where the form on
the wire matters (PackedForward vs gzip CompressedPackedForward, the chunk
option, the handshake) a transparent TCP tap between the agent and FluentServer
records the agent's bytes, which are decoded here with msgpack.

Needs: $LOGWEAVE_BIN (default target/debug/logweave), `node` (or
$LOGWEAVE_NODE) with tests/node/node_modules (`npm ci` in tests/node;
scripts/test does it), and the msgpack package (a dependency of fluent-logger,
so present in scripts/test's venv-forward). Everything listens on 127.0.0.1.
"""

import gzip
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import msgpack
import pytest

from conftest import TcpRelay

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = REPO_ROOT / "tests" / "node"
NODE = os.environ.get("LOGWEAVE_NODE", "node")
UTC = timezone.utc

SHARED_KEY = "agent-interop-key-7c1d"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
STOP_WITHIN_S = 15  # SIGTERM -> exit


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------


def _tail_text(text, n=40):
    return "\n".join(text.splitlines()[-n:])


_STAMP = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z$")


def parse_rfc3339_ns(s):
    m = _STAMP.match(s or "")
    assert m, "time %r is not RFC 3339 UTC (YYYY-MM-DDTHH:MM:SS[.fff]Z)" % (s,)
    secs = int(datetime(*(int(g) for g in m.groups()[:6]), tzinfo=UTC).timestamp())
    frac = m.group(7) or ""
    return secs * 10**9 + int((frac + "000000000")[:9])


def write_lines(path, lines, mode="w"):
    """Write str lines (or raw bytes lines) each followed by \\n."""
    with open(path, mode + "b") as f:
        for ln in lines:
            f.write((ln if isinstance(ln, bytes) else ln.encode("utf-8")) + b"\n")
        f.flush()
        os.fsync(f.fileno())


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_positions(path):
    """The agent's position file: {resolved path: (offset, "dev:ino")} (hex, like Fluentd's pos_file;
    the last column, the file's head, and the `glob` lines are left out)."""
    out = {}
    for line in Path(path).read_text().splitlines():
        if not line.strip() or line.startswith("glob\t"):
            continue
        p, off, key, _head = line.rsplit("\t", 3)
        out[str(Path(p).resolve())] = (int(off, 16), key)
    return out


def file_key(path):
    st = os.stat(path)
    return "%x:%x" % (st.st_dev, st.st_ino)


def assert_positions_at_end(pos_file, files, what):
    """The position file lists exactly `files`, each at its size and with its inode."""
    assert Path(pos_file).exists(), "%s: no position file at %s" % (what, pos_file)
    pos = read_positions(pos_file)
    want = {str(Path(f).resolve()): (os.path.getsize(f), file_key(f)) for f in files}
    assert pos == want, "%s: position file %s\n%s\nwant (offset = size, dev:ino):\n%r" % (
        what, pos_file, Path(pos_file).read_text(), want)


def buffered_chunks(data_dir):
    """Chunk files in the agent's disk buffer: [(name, events)] (SEQ-EVENTS-ID.chunk)."""
    d = Path(data_dir) / "buffer"
    if not d.is_dir():
        return []
    out = []
    for f in sorted(d.iterdir()):
        if f.name.endswith(".chunk"):
            out.append((f.name, int(f.name.split("-")[1])))
    return out


# ---------------------------------------------------------------------------
# Processes: the FluentServer receiver, the agent, a TCP tap
# ---------------------------------------------------------------------------


class Receiver:
    """tests/node/receive.js: FluentServer on 127.0.0.1, entries collected by a thread."""

    def __init__(self, node, workdir, shared_key=None):
        opts = {}
        if shared_key is not None:
            opts["sharedKey"] = shared_key
        self.stderr_path = Path(workdir) / ("receive-%d.err" % id(self))
        cmd = [node, str(NODE_DIR / "receive.js")] + ([json.dumps(opts)] if opts else [])
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err,
                                         stdin=subprocess.DEVNULL, cwd=str(NODE_DIR))
        self.cond = threading.Condition()
        self.port = None
        self.entries = []
        self.garbage = []
        self.eof = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 15
        with self.cond:
            while self.port is None:
                if self.eof or time.monotonic() > deadline:
                    self.stop()
                    pytest.fail("receive.js did not report its port within 15 s (exit %s):\n%s" % (
                        self.proc.poll(), self.stderr()))
                self.cond.wait(0.1)

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                obj = None
            with self.cond:
                if not isinstance(obj, dict):
                    self.garbage.append(line)
                elif self.port is None and "port" in obj and "record" not in obj:
                    self.port = obj["port"]
                else:
                    self.entries.append(obj)
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def snapshot(self):
        with self.cond:
            return list(self.entries)

    def wait_for(self, n, timeout):
        """Entries once there are at least n, or whatever came by the deadline."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.entries) < n and not self.eof:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(min(left, 0.2))
            return list(self.entries)

    def stderr(self):
        try:
            return _tail_text(self.stderr_path.read_text(errors="replace"))
        except OSError:
            return "(no stderr)"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.thread.join(timeout=5)
        if self.proc.stdout:
            self.proc.stdout.close()


class Agent:
    """`logweave agent ARGS`, stderr to a file, stdout to a file (for --stdout) or nowhere."""

    def __init__(self, binary, args, workdir, name, stdout_path=None):
        self.name = name
        self.args = [str(binary), "agent"] + [str(a) for a in args]
        self.log_path = Path(workdir) / ("agent-%s.stderr" % name)
        self.stdout_path = stdout_path
        with open(self.log_path, "wb") as err:
            out = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
            try:
                self.proc = subprocess.Popen(self.args, stdout=out, stderr=err,
                                             stdin=subprocess.DEVNULL, cwd=str(workdir))
            finally:
                if stdout_path:
                    out.close()

    def log(self):
        try:
            return ANSI.sub("", self.log_path.read_text(errors="replace"))
        except OSError:
            return ""

    def log_tail(self, n=40):
        return _tail_text(self.log(), n)

    def describe(self):
        return "command: %s\nexit: %s\nagent stderr (last lines):\n%s" % (
            " ".join(self.args), self.proc.poll(), self.log_tail())

    def wait_log(self, pattern, timeout):
        """The first match of `pattern` in the agent's stderr, waiting up to `timeout` s."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.log())
            if m:
                return m
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("agent %s: no %r in its stderr within %s s\n%s" % (
                    self.name, pattern, timeout, self.describe()))
            time.sleep(0.05)

    def assert_running(self):
        assert self.proc.poll() is None, "agent %s exited early\n%s" % (self.name, self.describe())

    def terminate(self, timeout=STOP_WITHIN_S):
        """SIGTERM; the agent must exit with 0 within `timeout` s. Returns the seconds it took."""
        self.assert_running()
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail("agent %s did not exit within %d s of SIGTERM (killed)\n%s" % (
                self.name, timeout, self.describe()))
        took = time.monotonic() - t0
        assert rc == 0, "agent %s exited with %d after SIGTERM\n%s" % (self.name, rc, self.describe())
        return took

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class WireTap(TcpRelay):
    """A transparent TCP relay 127.0.0.1:port -> 127.0.0.1:upstream that keeps
    every byte the client sent, per connection (to see frames on the wire)."""

    def __init__(self, upstream_port):
        super().__init__(upstream_port, keep_replies=False)

    def frames(self):
        """Every msgpack message the client sent, per connection, in order."""
        out = []
        for data, _ in self.connections():
            u = msgpack.Unpacker(raw=False, strict_map_key=False, max_buffer_size=256 << 20)
            u.feed(data)
            out.append(list(u))
        return out


# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def binary(logweave_bin):
    """The logweave binary (conftest.logweave_binary: waits while it is being rebuilt)."""
    return logweave_bin


@pytest.fixture(scope="session")
def node():
    exe = shutil.which(NODE)
    if exe is None:
        pytest.fail("node not found (%r); install Node.js or set LOGWEAVE_NODE" % NODE)
    pkg = NODE_DIR / "node_modules" / "@fluent-org" / "logger" / "package.json"
    if not pkg.exists():
        pytest.fail("%s is missing: run `npm ci` in %s (scripts/test does)" % (pkg, NODE_DIR))
    return exe


class Harness:
    """Starts receivers, agents and taps for one test; the fixture stops them all."""

    def __init__(self, binary, node, tmp_path):
        self.binary = binary
        self.node = node
        self.tmp = tmp_path
        self.receivers = []
        self.agents = []
        self.taps = []

    def receiver(self, shared_key=None):
        r = Receiver(self.node, self.tmp, shared_key)
        self.receivers.append(r)
        return r

    def agent(self, args, name="agent", stdout_path=None):
        a = Agent(self.binary, args, self.tmp, name, stdout_path)
        self.agents.append(a)
        return a

    def tap(self, upstream_port):
        t = WireTap(upstream_port)
        self.taps.append(t)
        return t

    def cleanup(self, test_name):
        for a in self.agents:
            a.kill()
        for r in self.receivers:
            r.stop()
        for t in self.taps:
            t.close()
        keep = REPO_ROOT / "target" / "test-logs"
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
        try:
            keep.mkdir(parents=True, exist_ok=True)
            for a in self.agents:
                shutil.copy(a.log_path, keep / ("agent-interop-%s-%s.log" % (safe, a.name)))
        except OSError:
            pass


@pytest.fixture
def h(binary, node, tmp_path, request):
    harness = Harness(binary, node, tmp_path)
    try:
        yield harness
    finally:
        harness.cleanup(request.node.name)


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------


def assert_delivered_once(entries, tag, written, key, what, agent=None, t_window=None):
    """`written`: {key: record as written}. Every one arrived exactly once with
    `tag`, `host` added (one non-empty value), every other field as written."""
    assert all(isinstance(e.get("record"), dict) for e in entries), "entries without a record map"
    keys = Counter(key(e["record"]) for e in entries)
    dups = {k: c for k, c in keys.items() if c > 1}
    missing = [k for k in written if k not in keys]
    extra = [k for k in keys if k not in written]
    ctx = ("\n" + agent.describe()) if agent else ""
    assert not missing and not dups and not extra, (
        "%s: %d entries for %d lines written; %d missing (first %r), %d duplicated (first %r), "
        "%d never written (first %r)%s" % (
            what, len(entries), len(written), len(missing), missing[:5], len(dups),
            list(dups.items())[:5], len(extra), extra[:5], ctx))
    hosts = set()
    for e in entries:
        rec = dict(e["record"])
        k = key(rec)
        assert e["tag"] == tag, "%s: entry %r has tag %r, want %r" % (what, k, e["tag"], tag)
        assert "host" in rec, "%s: entry %r has no host field: %r" % (what, k, e["record"])
        hosts.add(rec.pop("host"))
        assert rec == written[k], "%s: entry %r arrived as\n  %r\nwritten as\n  %r" % (what, k, e["record"], written[k])
        if t_window is not None:
            lo, hi = t_window
            assert isinstance(e["time_ns"], int) and lo <= e["time_ns"] <= hi, (
                "%s: entry %r has time %r, outside the run [%d, %d]" % (what, k, e["time_ns"], lo, hi))
    assert len(hosts) == 1 and all(isinstance(x, str) and x for x in hosts), "%s: host values %r" % (what, hosts)
    return hosts.pop()


def assert_wire(tap, tag, n_events, compressed, shared_key):
    """The agent sent PackedForward (or gzip CompressedPackedForward) frames with a
    `chunk` option and `size` = their number of entries, N entries in all, and the
    PING of the handshake first on every connection when a key is set."""
    conns = [c for c in tap.frames() if c]
    assert conns, "the tap saw no data from the agent"
    total = 0
    chunk_ids = []
    for frames in conns:
        if shared_key is not None:
            first = frames[0]
            assert isinstance(first, list) and len(first) == 6 and first[0] == "PING", (
                "with a shared key the first message must be the PING, got %r" % (str(first)[:200],))
            frames = frames[1:]
        else:
            assert not any(isinstance(f, list) and f[:1] == ["PING"] for f in frames), "a PING without a key"
        for f in frames:
            short = str(f)[:200]
            assert isinstance(f, list) and len(f) == 3 and f[0] == tag, "not a forward frame of tag %r: %s" % (tag, short)
            assert isinstance(f[1], bytes), "not a packed mode (entries are not bin): %s" % short
            opt = f[2]
            assert isinstance(opt, dict) and isinstance(opt.get("chunk"), str) and opt["chunk"], (
                "no chunk option (no ack asked): %r" % (opt,))
            if compressed:
                assert opt.get("compressed") == "gzip", "--gzip, but the option map is %r" % (opt,)
                assert f[1][:2] == b"\x1f\x8b", "compressed: gzip, but the bin is not gzip data"
                payload = gzip.decompress(f[1])
            else:
                assert opt.get("compressed") in (None, "text"), "not asked to compress, option map %r" % (opt,)
                payload = f[1]
            u = msgpack.Unpacker(raw=False, strict_map_key=False, max_buffer_size=256 << 20)
            u.feed(payload)
            entries = list(u)
            assert all(isinstance(x, list) and len(x) == 2 and isinstance(x[1], dict) for x in entries), (
                "the packed entries are not [time, record] pairs")
            assert opt.get("size") in (None, len(entries)), "size option %r for %d entries" % (opt.get("size"), len(entries))
            total += len(entries)
            chunk_ids.append(opt["chunk"])
    assert total == n_events, "%d entries in the frames on the wire, want %d (nothing resent)" % (total, n_events)
    assert len(set(chunk_ids)) == len(chunk_ids), "chunk ids repeat: %r" % chunk_ids


# ---------------------------------------------------------------------------
# 1 + 2. Tailing two files into FluentServer: plain, gzip, shared key
# ---------------------------------------------------------------------------


def json_records(name, n, start=0):
    """Records of every JSON type (no `host`: the agent adds it)."""
    out = []
    for i in range(start, start + n):
        out.append({
            "seq": i,
            "file": name,
            "msg": "event %d from %s \u2013 h\u00e9llo \u2713" % (i, name),
            "level": ["INFO", "WARN", "ERROR"][i % 3],
            "n": {"x": i * 3, "ok": i % 2 == 0, "ratio": i / 4, "none": None},
            "list": ["t%d" % (i % 5), i, False],
        })
    return out


def by_file_seq(rec):
    return (rec.get("file"), rec.get("seq"))


VARIANTS = [
    pytest.param(False, None, id="plain"),
    pytest.param(True, None, id="gzip"),
    pytest.param(False, SHARED_KEY, id="shared-key"),
    pytest.param(True, SHARED_KEY, id="gzip-shared-key"),
]


@pytest.mark.parametrize("compress,key", VARIANTS)
def test_tail_two_files_to_fluent_server(h, tmp_path, compress, key):
    """3000 JSON lines in two files, --read-from-head: each arrives exactly once
    at FluentServer, with the tag, `host` and the fields as written; on SIGTERM
    the agent exits 0 and its position file holds both files at their sizes."""
    tag = "app.interop." + ("gz" if compress else "plain") + (".key" if key else "")
    logs = tmp_path / "logs"
    logs.mkdir()
    fa, fb = logs / "app-a.log", logs / "app-b.log"
    recs_a, recs_b = json_records("a", 1700), json_records("b", 1300)
    write_lines(fa, [json.dumps(r, ensure_ascii=False) for r in recs_a])
    write_lines(fb, [json.dumps(r, separators=(",", ":")) for r in recs_b])
    written = {by_file_seq(r): r for r in recs_a + recs_b}
    assert len(written) == 3000

    recv = h.receiver(shared_key=key)
    tap = h.tap(recv.port)
    state = tmp_path / "state"
    pos_file = tmp_path / "positions.txt"
    args = ["--tail", str(logs / "app-a*.log"), "--tail", str(fb), "--tag", tag,
            "--to", "127.0.0.1:%d" % tap.port, "--read-from-head",
            "--data-dir", state, "--pos-file", pos_file]
    if compress:
        args.append("--gzip")
    if key:
        args += ["--shared-key", key]
    t0 = time.time_ns()
    agent = h.agent(args)
    entries = recv.wait_for(len(written), timeout=15)
    time.sleep(0.5)  # anything sent twice would show up now
    agent.assert_running()
    took = agent.terminate()
    t1 = time.time_ns()
    entries = recv.snapshot()
    assert_delivered_once(entries, tag, written, by_file_seq, "tail -> FluentServer", agent,
                          t_window=(t0 - 10**9, t1 + 10**9))
    assert not recv.garbage, "receive.js printed non-JSON: %r" % recv.garbage[:3]
    assert took < STOP_WITHIN_S
    assert_positions_at_end(pos_file, [fa, fb], "after SIGTERM")
    assert not (state / "positions").exists(), "--pos-file was given, yet DATA_DIR/positions was written"
    assert buffered_chunks(state) == [], "chunks left in the disk buffer after delivery: %r" % buffered_chunks(state)
    assert_wire(tap, tag, len(written), compress, key)


def test_wrong_shared_key_delivers_nothing_then_buffer_is_sent(h, tmp_path):
    """A wrong key: FluentServer refuses the PING, nothing arrives, the agent keeps
    retrying and buffers the chunks on disk; SIGTERM still exits 0 within 15 s,
    with the data in DATA_DIR/buffer. Restarted with the right key, the agent
    sends the buffered chunks: every line arrives exactly once."""
    tag = "app.interop.badkey"
    f = tmp_path / "app.log"
    recs = json_records("k", 400)
    write_lines(f, [json.dumps(r) for r in recs])
    written = {by_file_seq(r): r for r in recs}
    recv = h.receiver(shared_key=SHARED_KEY)
    state = tmp_path / "state"
    common = ["--tail", f, "--tag", tag, "--to", "127.0.0.1:%d" % recv.port, "--read-from-head", "--data-dir", state]

    bad = h.agent(common + ["--shared-key", "not-the-" + SHARED_KEY], name="wrong-key")
    bad.wait_log(r"shared key mismatch|refused the handshake", timeout=8)
    time.sleep(2.5)
    bad.assert_running()
    got = recv.snapshot()
    assert got == [], "%d entries arrived although the agent's key is wrong, e.g. %r\n%s" % (
        len(got), got[:2], bad.describe())
    bad.terminate()
    assert recv.snapshot() == [], "entries arrived while the agent with the wrong key stopped"
    chunks = buffered_chunks(state)
    assert sum(n for _, n in chunks) == len(recs), (
        "after stopping undelivered, the disk buffer holds %r (%d events), want all %d lines\n%s" % (
            chunks, sum(n for _, n in chunks), len(recs), bad.describe()))
    # The data is fsynced in the buffer, so the file's position is saved at its end
    # (src/agent/mod.rs: positions cover data acknowledged *or* in the disk buffer);
    # otherwise the restart below would read the file again and send it twice.
    assert_positions_at_end(state / "positions", [f], "after the wrong-key run")

    good = h.agent(common + ["--shared-key", SHARED_KEY], name="right-key")
    entries = recv.wait_for(len(recs), timeout=10)
    time.sleep(0.5)
    good.terminate()
    entries = recv.snapshot()
    assert_delivered_once(entries, tag, written, by_file_seq, "buffered chunks after a restart", good)
    assert buffered_chunks(state) == [], "buffer not emptied after delivery: %r" % buffered_chunks(state)
    assert_positions_at_end(state / "positions", [f], "after the right-key run")


# ---------------------------------------------------------------------------
# 3. Without --read-from-head only appended lines are sent
# ---------------------------------------------------------------------------


def test_only_appended_lines_without_read_from_head(h, tmp_path):
    tag = "app.interop.append"
    f = tmp_path / "existing.log"
    old = [{"seq": i, "phase": "old"} for i in range(100)]
    write_lines(f, [json.dumps(r) for r in old])
    old_size = f.stat().st_size
    recv = h.receiver()
    state = tmp_path / "state"
    agent = h.agent(["--tail", f, "--tag", tag, "--to", "127.0.0.1:%d" % recv.port, "--data-dir", state])
    # Append only once the agent follows the file (else what is appended before
    # its first look would count as "existing" too).
    m = agent.wait_log(r"tail: following path=(\S+) offset=(\d+)", timeout=10)
    assert Path(m.group(1)).resolve() == f.resolve(), m.group(0)
    assert int(m.group(2)) == old_size, "started at offset %s, want the end of the file (%d)" % (m.group(2), old_size)
    new = [{"seq": i, "phase": "new", "msg": "appended line %d" % i} for i in range(100, 600)]
    for k in range(0, len(new), 100):  # in 5 appends, as a logging program would
        write_lines(f, [json.dumps(r) for r in new[k:k + 100]], mode="a")
        time.sleep(0.1)
    entries = recv.wait_for(len(new), timeout=10)
    time.sleep(1.0)
    agent.terminate()
    entries = recv.snapshot()
    phases = Counter(e["record"].get("phase") for e in entries)
    assert phases.get("old", 0) == 0, "%d of the 100 lines that existed before the start were sent\n%s" % (
        phases["old"], agent.describe())
    assert_delivered_once(entries, tag, {r["seq"]: r for r in new}, lambda r: r.get("seq"), "appended lines", agent)
    assert_positions_at_end(state / "positions", [f], "after SIGTERM")


# ---------------------------------------------------------------------------
# 4. --stdin with --stdout
# ---------------------------------------------------------------------------


def stdin_lines():
    """1000 lines: JSON objects, plain text and lines with invalid UTF-8.
    Returns [(raw bytes, expected record without host, expected host or None)].
    (The caller leaves the newline off the last one, as `printf` would.)"""
    out = []
    for i in range(1000):
        if i == 500:
            raw = b"plain line 500 with bad bytes: \xff\xfe and \xc3\x28 end"
            text = raw.decode("utf-8", "replace")
            assert text.count("\ufffd") == 3
            out.append((raw, {"message": text, "tags": ["_jsonparsefailure"]}, None))
        elif i == 501:
            # invalid UTF-8 inside a JSON string: repaired first, then parsed
            name = b"caf\xe9 cr\xe8me"
            raw = b'{"seq": 501, "name": "' + name + b'"}'
            out.append((raw, {"seq": 501, "name": name.decode("utf-8", "replace")}, None))
        elif i % 10 == 7:
            rec = {"seq": i, "host": "from-the-line-%d" % i, "msg": "has its own host"}
            out.append((json.dumps(rec).encode(), {k: v for k, v in rec.items() if k != "host"}, rec["host"]))
        elif i % 3 == 0:
            text = "  plain text line %d: GET /index.html?q=a&b=\"c\" 200 \u00fcml\u00e4ut\t{not json" % i
            out.append((text.encode(), {"message": text, "tags": ["_jsonparsefailure"]}, None))
        else:
            rec = {"seq": i, "kind": "json", "nested": {"a": [i, "x", None, True], "f": i + 0.25}, "s": "\u2603 %d" % i}
            out.append((json.dumps(rec, ensure_ascii=i % 2 == 0).encode(), rec, None))
    return out


def test_stdin_to_stdout(binary, tmp_path):
    lines = stdin_lines()
    data = b"\n".join(raw for raw, _, _ in lines)  # no newline after the last line
    cmd = [str(binary), "agent", "--stdin", "--stdout", "--tag", "s.t", "--parser", "json",
           "--data-dir", str(tmp_path / "state")]
    t0 = time.time_ns()
    try:
        p = subprocess.run(cmd, input=data, capture_output=True, timeout=20, cwd=str(tmp_path))
    except subprocess.TimeoutExpired:
        pytest.fail("`%s` did not exit within 20 s after its stdin ended" % " ".join(cmd))
    t1 = time.time_ns()
    err = _tail_text(ANSI.sub("", p.stderr.decode("utf-8", "replace")))
    assert p.returncode == 0, "exit %d\nstderr:\n%s" % (p.returncode, err)
    out = p.stdout.decode("utf-8").splitlines()
    assert len(out) == len(lines), "%d output lines for %d input lines\nstderr:\n%s" % (len(out), len(lines), err)
    hosts = set()
    for i, (got_line, (raw, want, own_host)) in enumerate(zip(out, lines)):
        try:
            got = json.loads(got_line)
        except ValueError:
            pytest.fail("output line %d is not JSON: %r" % (i + 1, got_line[:200]))
        assert set(got) == {"tag", "time", "record"}, "output line %d: keys %r" % (i + 1, sorted(got))
        assert got["tag"] == "s.t", "line %d: tag %r" % (i + 1, got["tag"])
        ns = parse_rfc3339_ns(got["time"])
        assert t0 - 10**9 <= ns <= t1 + 10**9, "line %d: time %s outside the run" % (i + 1, got["time"])
        rec = dict(got["record"])
        host = rec.pop("host", None)
        assert isinstance(host, str) and host, "line %d: no host field: %r" % (i + 1, got["record"])
        if own_host is not None:
            assert host == own_host, "line %d: the line's own host %r became %r" % (i + 1, own_host, host)
        else:
            hosts.add(host)
        assert rec == want, "line %d (input %r):\n  got  %r\n  want %r" % (i + 1, raw[:120], got["record"], want)
    assert len(hosts) == 1, "added host values differ: %r" % hosts
    assert "\ufffd" in json.loads(out[500])["record"]["message"]


# ---------------------------------------------------------------------------
# 5. Multiline (stack traces) from a config file
# ---------------------------------------------------------------------------


def stack_traces(n):
    events = []
    for i in range(n):
        first = ("2026-11-%02d 10:%02d:%02d.%03d ERROR [worker-%d] com.example.Service - request %d failed: "
                 "java.lang.IllegalStateException: boom %d" % (20 + i % 7, i // 60, i % 60, i, i % 4, i, i))
        events.append([
            first,
            "\tat com.example.Service.handle(Service.java:%d)" % (100 + i),
            "\tat com.example.Router.dispatch(Router.java:%d)" % (40 + i % 9),
            "\tat java.base/java.lang.Thread.run(Thread.java:833)",
        ])
    return events


@pytest.mark.parametrize("output", ["forward", "stdout"])
def test_multiline_stack_traces_from_config(h, tmp_path, output):
    """50 traces of 4 lines, `multiline_start = '^\\d{4}-'`, parser none: exactly
    50 events, each message its 4 lines joined with \\n (the last one too, which
    only the flush timeout ends), `host` from the config."""
    logs = tmp_path / "logs"
    logs.mkdir()
    f = logs / "java.log"
    traces = stack_traces(50)
    write_lines(f, [ln for t in traces for ln in t])
    state = tmp_path / "state"
    host = "interop-host-ml"
    recv = h.receiver() if output == "forward" else None
    conf = tmp_path / "agent.toml"
    conf.write_text("\n".join([
        "[agent]",
        "data_dir = %s" % json.dumps(str(state)),
        "hostname = %s" % json.dumps(host),
        "",
        "[[agent.sources]]",
        'type = "tail"',
        "paths = [%s]" % json.dumps(str(logs / "*.log")),
        'tag = "java.app"',
        'parser = "none"',
        "read_from_head = true",
        "multiline_start = '^\\d{4}-'",
        "",
        "[agent.output]",
        'type = "%s"' % output,
    ] + (['servers = ["127.0.0.1:%d"]' % recv.port, 'shared_key = ""', 'compress = "none"']
         if output == "forward" else []) + [""]))
    out_path = tmp_path / "agent.stdout"
    agent = h.agent(["--config", conf], stdout_path=out_path if output == "stdout" else None)

    def received():
        if recv is not None:
            return recv.snapshot()
        complete = out_path.read_text(errors="replace").split("\n")[:-1]  # (the rest may be a partial line)
        return [json.loads(ln) for ln in complete if ln]

    deadline = time.monotonic() + 12
    while len(received()) < 50 and time.monotonic() < deadline and agent.proc.poll() is None:
        time.sleep(0.1)
    time.sleep(1.5)  # past the 1 s multiline flush: any stray extra event would be out now
    agent.terminate()
    entries = received()
    want = {t[0]: "\n".join(t) for t in traces}
    got_msgs = [e["record"].get("message") for e in entries]
    assert len(entries) == 50 and Counter(got_msgs) == Counter(want.values()), (
        "%d events for 50 stack traces; first ones: %r\n%s" % (len(entries), got_msgs[:3], agent.describe()))
    for e in entries:
        assert e["tag"] == "java.app", e
        assert e["record"] == {"message": e["record"]["message"], "host": host}, "record %r" % (e["record"],)
    assert got_msgs == [want[t[0]] for t in traces], "events out of order"
    assert_positions_at_end(state / "positions", [f], "after SIGTERM")


# ---------------------------------------------------------------------------
# 6. Prometheus metrics
# ---------------------------------------------------------------------------


_METRIC = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(\{[^}]*\})?\s+(\S+)$")


def scrape(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    values = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _METRIC.match(line)
        assert m, "not a Prometheus sample line: %r" % line
        values.setdefault(m.group(1), []).append((m.group(2) or "", float(m.group(3))))
    return text, values


def total(values, name):
    assert name in values, "metric %s missing" % name
    return sum(v for _, v in values[name])


def test_metrics_count_events_in_and_out(h, tmp_path):
    n, plain = 2000, 25
    f = tmp_path / "m.log"
    lines = []
    for i in range(n):
        lines.append("not json line %d" % i if i % 80 == 0 else json.dumps({"seq": i, "msg": "metrics %d" % i}))
    assert sum(1 for ln in lines if not ln.startswith("{")) == plain
    write_lines(f, lines)
    recv = h.receiver()
    port = free_port()
    url = "http://127.0.0.1:%d/metrics" % port
    agent = h.agent(["--tail", f, "--tag", "m.t", "--to", "127.0.0.1:%d" % recv.port, "--read-from-head",
                     "--data-dir", tmp_path / "state", "--metrics-addr", "127.0.0.1:%d" % port])
    entries = recv.wait_for(n, timeout=15)
    assert len(entries) == n, "%d of %d events arrived\n%s" % (len(entries), n, agent.describe())
    # The agent counts a chunk as out once it has read the ack: poll briefly.
    deadline = time.monotonic() + 10
    text, values = None, {}
    while True:
        try:
            text, values = scrape(url)
            if values.get("logweave_agent_events_out_total") and total(values, "logweave_agent_events_out_total") >= n:
                break
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert text is not None, "GET %s never answered\n%s" % (url, agent.describe())
    ctx = "\n/metrics:\n%s" % text
    assert total(values, "logweave_agent_events_in_total") == n, ctx
    assert total(values, "logweave_agent_events_out_total") == n, ctx
    src = values["logweave_agent_events_in_total"]
    assert len(src) == 1 and str(f) in src[0][0], "one source labelled with its path: %r" % src
    assert total(values, "logweave_agent_parse_failures_total") == plain, ctx
    assert total(values, "logweave_agent_chunks_out_total") >= 1, ctx
    for zero in ("logweave_agent_events_dropped_total", "logweave_agent_delivery_failures_total",
                 "logweave_agent_buffered_events", "logweave_agent_invalid_utf8_total"):
        assert total(values, zero) == 0, "%s is not 0%s" % (zero, ctx)
    agent.terminate()

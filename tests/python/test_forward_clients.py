"""End-to-end tests of the Fluentd forward input with Fluentd's own clients.

The peers are the Fluentd project's real client libraries, not frames we
encode ourselves (tests/forward.rs does that): the Node client
@fluent-org/logger (driven through tests/node/send.js, in all four event
modes, with acks and the shared-key handshake) and the Python fluent-logger
(`from fluent import sender`). Every check compares what the search API
returns with the events this file generated (their messages, tags and
times), never with something read back from the server.

Needs: $LOGWEAVE_BIN (default target/debug/logweave), `node` (or
$LOGWEAVE_NODE) and tests/node/node_modules (`npm ci` in tests/node;
scripts/test does it), and the fluent-logger package in this Python.
"""

import json
import os
import re
import shutil
import socket
import struct
import subprocess
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conftest import LogweaveServer, start_logweave

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = REPO_ROOT / "tests" / "node"
NODE = os.environ.get("LOGWEAVE_NODE", "node")
UTC = timezone.utc

SHARED_KEY = "e2e-shared-key-0b5f"
CLIENT_HOSTNAME = "logweave-e2e-client"  # must differ from the server's name

ROUTES = """
[[routes]]
match = "node.**"
index = "node-%{+YYYY.MM.dd}"

[[routes]]
match = "py.**"
index = "py-%{+YYYY.MM.dd}"
"""

MODES = ["Message", "Forward", "PackedForward", "CompressedPackedForward"]
N_EVENTS = 25


# ---------------------------------------------------------------------------
# Time helpers (the oracle side)
# ---------------------------------------------------------------------------


def epoch_s(*ymd_hms):
    return int(datetime(*ymd_hms, tzinfo=UTC).timestamp())


def daily_index(prefix, ns):
    return prefix + datetime.fromtimestamp(ns // 10**9, tz=UTC).strftime("%Y.%m.%d")


_STAMP = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z$")


def parse_stamp(s):
    """`@timestamp` as stored -> (ns since the epoch, number of fraction digits)."""
    m = _STAMP.match(s or "")
    assert m, "@timestamp %r is not RFC 3339 UTC (YYYY-MM-DDTHH:MM:SS[.fff]Z)" % (s,)
    secs = epoch_s(*(int(g) for g in m.groups()[:6]))
    frac = m.group(7) or ""
    return secs * 10**9 + int((frac + "000000000")[:9]), len(frac)


def assert_same_instant(stored, sent_ns, what, exact_ns=None):
    """The stored `@timestamp` is the sent time to the millisecond; rendered
    with more digits than milliseconds, it must be the exact time that went
    over the wire (`exact_ns`, default `sent_ns`)."""
    got_ns, digits = parse_stamp(stored)
    assert got_ns // 10**6 == sent_ns // 10**6, "%s: @timestamp %s, but the event was sent at %s (ms %d)" % (
        what, stored, fmt_ns(sent_ns), sent_ns // 10**6)
    if digits > 3:
        wire = sent_ns if exact_ns is None else exact_ns
        assert got_ns == wire, "%s: @timestamp %s has sub-millisecond digits that differ from the %d ns sent" % (
            what, stored, wire)


def fmt_ns(ns):
    return datetime.fromtimestamp(ns // 10**9, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S") + ".%09dZ" % (ns % 10**9)


# ---------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------


class Server(LogweaveServer):
    """logweave (conftest.start_logweave) with this file's queries."""

    def hits_with_prefix(self, prefix):
        """Every stored event, in any index, whose message starts with `prefix`-."""
        resp = self.request("POST", "/_search", {
            "size": 10000,
            "query": {"prefix": {"message.keyword": prefix + "-"}},
        })
        return resp["hits"]["hits"]

    def wait_for_hits(self, prefix, want, deadline_s=20):
        """For clients without acks: refresh and search until `want` hits or the deadline."""
        deadline = time.monotonic() + deadline_s
        while True:
            self.refresh()
            hits = self.hits_with_prefix(prefix)
            if len(hits) >= want or time.monotonic() > deadline:
                return hits
            time.sleep(0.2)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """logweave with tag routes and no shared key."""
    with start_logweave(tmp_path_factory, "forward", ROUTES, cls=Server) as srv:
        yield srv


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory):
    """A second logweave that requires the shared-key handshake."""
    with start_logweave(tmp_path_factory, "forward-key",
                        ROUTES + '\n[forward]\nshared_key = "%s"\n' % SHARED_KEY, cls=Server) as srv:
        yield srv


# ---------------------------------------------------------------------------
# The Node client (tests/node/send.js)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def node():
    """The node binary, once we know @fluent-org/logger is installed."""
    exe = shutil.which(NODE)
    if exe is None:
        pytest.fail("node not found (%r); install Node.js or set LOGWEAVE_NODE" % NODE)
    pkg = NODE_DIR / "node_modules" / "@fluent-org" / "logger" / "package.json"
    if not pkg.exists():
        pytest.fail("%s is missing: run `npm ci` in %s (scripts/test does)" % (pkg, NODE_DIR))
    return exe


def node_send(node, port, **opts):
    """Run send.js; its JSON summary (ok, sent, failed, errors, frames, events)."""
    opts = dict(opts, port=port)
    opts.setdefault("clientHostname", CLIENT_HOSTNAME)
    try:
        proc = subprocess.run([node, str(NODE_DIR / "send.js"), json.dumps(opts)],
                              capture_output=True, text=True, timeout=90, cwd=str(NODE_DIR))
    except subprocess.TimeoutExpired:
        pytest.fail("send.js did not finish within 90 s (it has its own deadline): %r" % opts)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert lines, "send.js printed no summary (exit %d)\nstdout: %s\nstderr: %s" % (
        proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    summary = json.loads(lines[-1])
    summary["exit"] = proc.returncode
    summary["stderr"] = proc.stderr
    return summary


def brief(summary):
    """A summary without the per-event list, for failure messages."""
    return json.dumps({k: v for k, v in summary.items() if k not in ("events",)}, indent=1)[:3000]


def event_frames(summary):
    """The transport frames send.js wrote (the handshake PING left out)."""
    return [f for f in summary["frames"] if not (isinstance(f["shape"], list) and f["shape"][:1] == ["PING"])]


def assert_mode_on_wire(summary, mode, tag, n):
    """The library really used `mode`: otherwise the test would prove nothing."""
    frames = event_frames(summary)
    assert frames, "send.js wrote no event frames:\n" + brief(summary)
    for f in frames:
        shape = f["shape"]
        assert isinstance(shape, list) and shape[0] == tag, "unexpected frame %r" % (shape,)
        second = shape[1]
        if mode == "Message":
            assert len(shape) == 4 and str(second).startswith("EventTime("), "not Message mode: %r" % (shape,)
        elif mode == "Forward":
            assert isinstance(second, list), "not Forward mode: %r" % (shape,)
        else:
            assert str(second).startswith("bin["), "not a packed mode: %r" % (shape,)
            compressed = shape[2].get("compressed") if isinstance(shape[2], dict) else None
            assert compressed == ("gzip" if mode == "CompressedPackedForward" else None), "options %r" % (shape[2],)
    if mode == "Message":
        assert len(frames) == n, "Message mode sends one frame per event: %d frames for %d events" % (len(frames), n)


def assert_stored_once(srv, prefix, sent, tag, index_prefix):
    """Each sent event (dicts with i, message, epoch, nano) is stored exactly once, in
    its daily index, with the record, the tag and `@timestamp` = its time."""
    hits = srv.hits_with_prefix(prefix)
    counts = Counter(h["_source"].get("message") for h in hits)
    want = {e["message"] for e in sent}
    dups = {m: c for m, c in counts.items() if c > 1}
    assert not dups, "events stored more than once: %r" % dups
    missing = sorted(want - set(counts), key=lambda m: int(m.rsplit("-", 1)[1]))
    assert not missing, "%d of %d events not found: %s\nserver log:\n%s" % (
        len(missing), len(want), missing[:10], srv.tail())
    extra = set(counts) - want
    assert not extra, "events that were never sent: %r" % sorted(extra)
    by_msg = {h["_source"]["message"]: h for h in hits}
    for e in sent:
        h = by_msg[e["message"]]
        src = dict(h["_source"])
        ns = e["epoch"] * 10**9 + e["nano"]
        assert h["_index"] == daily_index(index_prefix, ns), "%s (sent at %s) went to %s" % (
            e["message"], fmt_ns(ns), h["_index"])
        assert_same_instant(src.pop("@timestamp", None), ns, e["message"])
        assert src == dict(e["record"], tag=tag), "%s stored as %r" % (e["message"], h["_source"])


def with_records(summary, mode):
    """send.js's events plus the record it built for each (see send.js)."""
    for e in summary["events"]:
        e["record"] = {"message": e["message"], "i": e["i"], "mode": mode}
    return summary["events"]


@pytest.mark.parametrize("mode", MODES)
def test_node_client_every_mode_with_ack(node, server, mode):
    """All four event modes with acks: an acked event is durable, so one
    refresh must make every event searchable, exactly once, in the daily index
    of its own time (the batch straddles midnight), with its nanosecond time."""
    prefix = "nodeack" + mode.lower()
    tag = "node.ack." + mode.lower()
    midnight = epoch_s(2026, 11, 24 + MODES.index(mode))
    # 23:59:59.988345678 + i ms: 12 events on the day before, 13 after midnight.
    base = {"epoch": midnight - 1, "nano": 988_345_678, "stepMs": 1}
    summary = node_send(node, server.forward_port, tag=tag, eventMode=mode, ack=True,
                        count=N_EVENTS, prefix=prefix, time=base)
    assert summary["exit"] == 0 and summary["ok"], "send.js failed:\n" + brief(summary)
    assert summary["sent"] == N_EVENTS
    assert_mode_on_wire(summary, mode, tag, N_EVENTS)
    sent = with_records(summary, mode)
    assert {e["epoch"] * 10**9 + e["nano"] for e in sent} == {
        (midnight - 1) * 10**9 + 988_345_678 + i * 10**6 for i in range(N_EVENTS)}, "send.js sent other times"
    server.refresh()
    assert_stored_once(server, prefix, sent, tag, "node-")
    days = Counter(daily_index("node-", e["epoch"] * 10**9 + e["nano"]) for e in sent)
    assert len(days) == 2, "the batch should straddle midnight: %r" % days


@pytest.mark.parametrize("mode", MODES)
def test_node_client_every_mode_without_ack(node, server, mode):
    """Without acks the client only knows the bytes left (and Message mode
    still sends an empty option map); the events arrive all the same."""
    prefix = "nodenoack" + mode.lower()
    tag = "node.noack." + mode.lower()
    base = {"epoch": epoch_s(2026, 11, 20, 8, 30), "nano": 5_000_000, "stepMs": 250}
    summary = node_send(node, server.forward_port, tag=tag, eventMode=mode, ack=False,
                        count=N_EVENTS, prefix=prefix, time=base)
    assert summary["exit"] == 0 and summary["ok"], "send.js failed:\n" + brief(summary)
    assert_mode_on_wire(summary, mode, tag, N_EVENTS)
    sent = with_records(summary, mode)
    hits = server.wait_for_hits(prefix, N_EVENTS)
    assert len(hits) == N_EVENTS, "%d of %d events searchable after 20 s" % (len(hits), N_EVENTS)
    assert_stored_once(server, prefix, sent, tag, "node-")


@pytest.mark.parametrize("mode", ["PackedForward", "CompressedPackedForward"])
def test_node_client_large_chunk(node, server, mode):
    """One chunk of 6000 events (~400 KiB packed, past the size where the
    server decodes off the async workers), acked as a whole."""
    n = 6000
    prefix = "nodebig" + mode.lower()
    tag = "node.big." + mode.lower()
    base = {"epoch": epoch_s(2026, 11, 19, 0, 0), "nano": 0, "stepMs": 3}
    summary = node_send(node, server.forward_port, tag=tag, eventMode=mode, ack=True,
                        count=n, prefix=prefix, time=base, timeoutMs=60000, ackTimeoutMs=50000)
    assert summary["exit"] == 0 and summary["ok"], "send.js failed:\n" + brief(summary)
    frames = event_frames(summary)
    assert len(frames) == 1, "expected one chunk, the client sent %d frames" % len(frames)
    if mode == "PackedForward":
        assert frames[0]["bytes"] > 256 * 1024, "chunk of %d bytes is too small to matter" % frames[0]["bytes"]
    server.refresh()
    assert_stored_once(server, prefix, with_records(summary, mode), tag, "node-")


def test_node_client_current_time(node, server):
    """EventTime.now() (the client's default): stored as sent, today's index."""
    prefix = "nodenow"
    tag = "node.now"
    before_ms = int(time.time() * 1000)
    summary = node_send(node, server.forward_port, tag=tag, eventMode="CompressedPackedForward",
                        ack=True, count=5, prefix=prefix)
    after_ms = int(time.time() * 1000)
    assert summary["exit"] == 0 and summary["ok"], "send.js failed:\n" + brief(summary)
    sent = with_records(summary, "CompressedPackedForward")
    for e in sent:
        ms = e["epoch"] * 1000 + e["nano"] // 10**6
        assert before_ms - 1000 <= ms <= after_ms + 1000, "send.js reports a time outside the run: %r" % e
    server.refresh()
    assert_stored_once(server, prefix, sent, tag, "node-")


def test_node_client_integer_seconds(node, server):
    """With `milliseconds: false` and a plain timestamp the client sends integer seconds."""
    prefix = "nodesecs"
    tag = "node.secs"
    base = {"epoch": epoch_s(2026, 11, 21, 6, 0), "nano": 0, "stepMs": 1000}
    summary = node_send(node, server.forward_port, tag=tag, eventMode="Forward", ack=True,
                        count=5, prefix=prefix, time=base, timeFormat="seconds")
    assert summary["exit"] == 0 and summary["ok"], "send.js failed:\n" + brief(summary)
    server.refresh()
    assert_stored_once(server, prefix, with_records(summary, "Forward"), tag, "node-")


def test_unrouted_tag_goes_to_default_index(node, server):
    """A tag no route matches lands in logs-YYYY.MM.dd (the default route)."""
    prefix = "nodeother"
    tag = "other.app"
    base = {"epoch": epoch_s(2026, 11, 22, 10, 0), "nano": 0, "stepMs": 10}
    summary = node_send(node, server.forward_port, tag=tag, eventMode="Message", ack=True,
                        count=3, prefix=prefix, time=base)
    assert summary["exit"] == 0 and summary["ok"], "send.js failed:\n" + brief(summary)
    server.refresh()
    assert_stored_once(server, prefix, with_records(summary, "Message"), tag, "logs-")


# ---------------------------------------------------------------------------
# Shared key
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["Message", "PackedForward"])
def test_shared_key_right_key_delivers(node, keyed_server, mode):
    """The client's HELO/PING/PONG handshake succeeds and its events are stored."""
    prefix = "keyok" + mode.lower()
    tag = "node.key." + mode.lower()
    base = {"epoch": epoch_s(2026, 11, 23, 12, 0), "nano": 123_000_000, "stepMs": 7}
    summary = node_send(node, keyed_server.forward_port, tag=tag, eventMode=mode, ack=True,
                        count=10, prefix=prefix, time=base, sharedKey=SHARED_KEY)
    assert summary["exit"] == 0 and summary["ok"], "handshake or send failed:\n" + brief(summary)
    assert summary["frames"][0]["shape"][0] == "PING", "the client did not do the handshake:\n" + brief(summary)
    keyed_server.refresh()
    assert_stored_once(keyed_server, prefix, with_records(summary, mode), tag, "node-")


def test_shared_key_wrong_key_fails(node, keyed_server):
    """A wrong key: the server refuses the PING, every emit fails, nothing is stored."""
    prefix = "keybad"
    summary = node_send(node, keyed_server.forward_port, tag="node.key.bad", eventMode="Forward",
                        ack=True, count=5, prefix=prefix, sharedKey="not-the-key", timeoutMs=8000)
    assert summary["exit"] != 0 and not summary["ok"], "send.js reported success with a wrong key:\n" + brief(summary)
    assert summary["sent"] == 0 and summary["failed"] == 5, brief(summary)
    assert any("Auth" in e for e in summary["socketErrors"]), "no authentication error seen:\n" + brief(summary)
    keyed_server.refresh()
    hits = keyed_server.hits_with_prefix(prefix)
    assert hits == [], "events stored despite the wrong key: %r" % [h["_source"] for h in hits]


def test_shared_key_missing_key_fails(node, keyed_server):
    """No key at all: the client writes its events without a handshake; the
    server must store none of them (and the client sees the HELO and fails)."""
    prefix = "keynone"
    summary = node_send(node, keyed_server.forward_port, tag="node.key.none", eventMode="Message",
                        ack=True, count=3, prefix=prefix, timeoutMs=8000)
    assert summary["exit"] != 0 and not summary["ok"], "send.js reported success without a key:\n" + brief(summary)
    assert summary["sent"] == 0, brief(summary)
    keyed_server.refresh()
    hits = keyed_server.hits_with_prefix(prefix)
    assert hits == [], "events stored without the handshake: %r" % [h["_source"] for h in hits]


# ---------------------------------------------------------------------------
# Python fluent-logger (Message mode, no acks)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fluent_sender():
    try:
        from fluent import sender
    except ImportError:
        pytest.fail("the fluent-logger package is not installed in this Python (pip install fluent-logger)")
    return sender


def py_emit_all(sender_mod, srv, tag, events, **kw):
    """Emit (message, time) pairs with emit_with_time and close the sender."""
    s = sender_mod.FluentSender(tag, host="127.0.0.1", port=srv.forward_port, timeout=10, **kw)
    try:
        for i, (msg, t) in enumerate(events):
            ok = s.emit_with_time(None, t, {"message": msg, "i": i, "lib": "fluent-logger"})
            assert ok, "emit_with_time(%r) failed: %r" % (msg, s.last_error)
    finally:
        s.close()
    assert s.last_error is None, "fluent-logger reported %r" % (s.last_error,)


def py_check(srv, prefix, tag, expected):
    """`expected`: [(message, intended ns, exact ns on the wire)]."""
    hits = srv.wait_for_hits(prefix, len(expected))
    got = Counter(h["_source"]["message"] for h in hits)
    want = Counter(m for m, _, _ in expected)
    assert got == want, "stored %d events, want %d; missing %s, unexpected %s\nserver log:\n%s" % (
        sum(got.values()), len(expected), sorted(want - got)[:10], sorted(got - want)[:10], srv.tail())
    by_msg = {h["_source"]["message"]: h for h in hits}
    for i, (msg, ns, wire_ns) in enumerate(expected):
        h = by_msg[msg]
        src = dict(h["_source"])
        assert h["_index"] == daily_index("py-", ns), "%s went to %s" % (msg, h["_index"])
        assert_same_instant(src.pop("@timestamp", None), ns, msg, exact_ns=wire_ns)
        assert src == {"message": msg, "i": i, "lib": "fluent-logger", "tag": tag}, "%s stored as %r" % (msg, h["_source"])


def test_python_fluent_logger_integer_seconds(fluent_sender, server):
    """Default sender: integer seconds; stored as exactly that second (.000)."""
    prefix = "pyint"
    t0 = epoch_s(2026, 11, 25, 23, 59, 50)  # crosses midnight at i = 10
    events = [("%s-%d" % (prefix, i), t0 + i) for i in range(20)]
    py_emit_all(fluent_sender, server, "py.int", events)
    py_check(server, prefix, "py.int", [(m, t * 10**9, t * 10**9) for m, t in events])
    for h in server.hits_with_prefix(prefix):
        assert parse_stamp(h["_source"]["@timestamp"])[0] % 10**9 == 0, h["_source"]


def test_python_fluent_logger_nanosecond_precision_float(fluent_sender, server):
    """nanosecond_precision=True with float times: the library turns them into
    EventTime (losing some nanoseconds to the float); stored to the millisecond."""
    prefix = "pyfloat"
    base_ns = epoch_s(2026, 11, 24, 12, 0) * 10**9 + 123_456_789  # 12:00:00.123456789
    expected, events = [], []
    for i in range(20):
        ns = base_ns + i * 1_001_000_000
        t = ns / 1e9
        # The nanoseconds the library itself puts on the wire for this float.
        secs, nanos = struct.unpack(">II", fluent_sender.EventTime(t).data)
        wire_ns = secs * 10**9 + nanos
        assert wire_ns // 10**6 == ns // 10**6, "the float changed the millisecond: test bug"
        msg = "%s-%d" % (prefix, i)
        events.append((msg, t))
        expected.append((msg, ns, wire_ns))
    py_emit_all(fluent_sender, server, "py.float", events, nanosecond_precision=True)
    py_check(server, prefix, "py.float", expected)
    first = min(server.hits_with_prefix(prefix), key=lambda h: h["_source"]["i"])
    assert first["_source"]["@timestamp"].startswith("2026-11-24T12:00:00.123"), first["_source"]


def test_python_fluent_logger_exact_event_time(fluent_sender, server):
    """EventTime.from_unix_nano: exact nanoseconds go over the wire; stored as
    2026-11-24T12:00:00.123Z or, with full precision, .123456789Z."""
    prefix = "pyevt"
    base_ns = epoch_s(2026, 11, 24, 12, 0) * 10**9 + 123_456_789
    nss = [base_ns + i * 333_333_333 for i in range(20)]
    events = [("%s-%d" % (prefix, i), fluent_sender.EventTime.from_unix_nano(ns)) for i, ns in enumerate(nss)]
    py_emit_all(fluent_sender, server, "py.evt", events, nanosecond_precision=True)
    py_check(server, prefix, "py.evt", [(m, ns, ns) for (m, _), ns in zip(events, nss)])
    first = min(server.hits_with_prefix(prefix), key=lambda h: h["_source"]["i"])
    assert first["_source"]["@timestamp"] in ("2026-11-24T12:00:00.123Z", "2026-11-24T12:00:00.123456789Z"), \
        first["_source"]


@pytest.mark.parametrize("fracs", [
    pytest.param([0.0, 0.5], id="whole-and-half"),
    # (these once came out a few hundred ns early: secs * 1e9 in f64)
    pytest.param([0.25, 0.125, 0.875, 0.0625], id="binary-fractions"),
])
def test_python_fluent_logger_plain_float_time(fluent_sender, server, fracs):
    """Without nanosecond_precision a float time goes out as a msgpack float64
    (emit_with_time(label, time.time(), ...) does this); Fluentd accepts it, so
    must we. These fractions are exact in binary, so the stored ms must be too."""
    prefix = "pyflt64x%d" % len(fracs)
    t0 = epoch_s(2026, 11, 26, 3, 0)
    events = [("%s-%d" % (prefix, i), t0 + i + f) for i, f in enumerate(fracs)]
    nss = [(t0 + i) * 10**9 + int(f * 10**9) for i, f in enumerate(fracs)]  # exact, no float product
    py_emit_all(fluent_sender, server, "py.flt", events)
    py_check(server, prefix, "py.flt", [(m, ns, ns) for (m, _), ns in zip(events, nss)])


def test_python_fluent_logger_emit_now(fluent_sender, server):
    """emit() with the library's own clock (int(time.time()))."""
    prefix = "pynow"
    before = int(time.time())
    s = fluent_sender.FluentSender("py.now", host="127.0.0.1", port=server.forward_port, timeout=10)
    try:
        assert s.emit(None, {"message": prefix + "-0", "i": 0, "lib": "fluent-logger"}), s.last_error
    finally:
        s.close()
    after = int(time.time())
    hits = server.wait_for_hits(prefix, 1)
    assert len(hits) == 1, "the event was not stored (or more than once): %r" % hits
    got_ns, _ = parse_stamp(hits[0]["_source"]["@timestamp"])
    assert got_ns % 10**9 == 0 and before <= got_ns // 10**9 <= after, hits[0]["_source"]


# ---------------------------------------------------------------------------
# UDP heartbeat
# ---------------------------------------------------------------------------


def test_udp_heartbeat(server):
    """Fluentd's out_forward heartbeat: one datagram to the forward port, one NUL byte back."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(2)
        reply = None
        for _ in range(5):  # UDP: allow for a lost datagram
            s.sendto(b"\x00", ("127.0.0.1", server.forward_port))
            try:
                reply, peer = s.recvfrom(64)
                break
            except socket.timeout:
                continue
        assert reply is not None, "no heartbeat reply from UDP 127.0.0.1:%d in 5 tries" % server.forward_port
        assert reply == b"\x00", "heartbeat reply %r, expected b'\\x00'" % reply
        assert peer == ("127.0.0.1", server.forward_port), "reply came from %r" % (peer,)

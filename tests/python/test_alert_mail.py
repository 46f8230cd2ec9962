"""Alert mail to a real SMTP server: aiosmtpd on loopback requiring
STARTTLS (a certificate from a throw-away CA made with openssl) and AUTH.

An error burst in one service makes exactly one firing mail and, once the
events leave the rule's window, one resolved mail in the same thread. The
test checks every received message against the events it generated:
envelope and header recipients, subject, threading headers, the count, the
threshold and the sample lines, and that the session was encrypted and
authenticated.
"""

import email
import email.policy
import json
import socket
import subprocess
import threading
import time
import urllib.request
from datetime import datetime, timezone

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from conftest import start_logweave

USER, PASSWORD = "alerts", "correct horse"
TO = ["oncall@example.test", "sre@example.test"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_certs(d):
    """A CA and a server certificate for 127.0.0.1 signed by it."""
    run = lambda *a: subprocess.run(a, check=True, capture_output=True, cwd=d)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
        "-out", "ca.pem", "-days", "2", "-subj", "/CN=logweave test CA")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key",
        "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (d / "ext.cnf").write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")
    return d / "ca.pem", d / "server.pem", d / "server.key"


class Inbox:
    """Keeps each message with its envelope and whether the session was
    encrypted and authenticated."""

    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self.lock:
            self.messages.append({
                "msg": msg,
                "rcpt": list(envelope.rcpt_tos),
                "from": envelope.mail_from,
                "tls": session.ssl is not None,
                "auth": session.authenticated,
            })
        return "250 OK"

    def snapshot(self):
        with self.lock:
            return list(self.messages)


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok)


def start_smtp(inbox, port, cert, key):
    """aiosmtpd on loopback with STARTTLS required and AUTH."""
    import ssl
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert), str(key))
    ctl = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=ctx,
                     require_starttls=True, authenticator=authenticator, auth_required=True)
    ctl.start()
    return ctl


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def smtp(certs):
    ca, cert, key = certs
    inbox = Inbox()
    port = free_port()
    ctl = start_smtp(inbox, port, cert, key)
    try:
        yield {"port": port, "ca": ca, "inbox": inbox}
    finally:
        ctl.stop()


def config(smtp, extra_rule=""):
    return """
[analysis]
enabled = false

[alerting.channels.mail]
type = "email"
host = "127.0.0.1"
port = %d
tls = "starttls"
ca_file = "%s"
username = "%s"
password = "%s"
from = "logweave <logweave@example.test>"
to = %s

[[alerting.rules]]
name = "errors"
index = "app*"
query = "level:ERROR"
window = "4s"
every = "1s"
group_by = ["service"]
condition = { type = "count", above = 5 }
repeat_interval = "0s"
annotations = { summary = "{{value}} errors from {{group.service}}" }
channels = ["mail"]
%s
""" % (smtp["port"], smtp["ca"], USER, PASSWORD, json.dumps(TO), extra_rule)


def bulk(url, docs):
    body = "".join('{"index":{"_index":"app"}}\n' + json.dumps(d) + "\n" for d in docs)
    req = urllib.request.Request(url + "/_bulk", data=body.encode(), method="POST",
                                 headers={"Content-Type": "application/x-ndjson"})
    with urllib.request.urlopen(req, timeout=30) as r:
        out = json.load(r)
    assert out["errors"] is False, out


def now_ts():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def wait_for(what, secs, cond):
    deadline = time.monotonic() + secs
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting for " + what)
        time.sleep(0.1)


def test_burst_mails_once_firing_and_once_resolved_in_one_thread(smtp, tmp_path_factory):
    inbox = smtp["inbox"]
    errors = ["charge %d failed: gateway timeout after %d ms" % (i, 1000 + i) for i in range(9)]
    docs = [{"timestamp": now_ts(), "level": "ERROR", "service": "api", "message": m} for m in errors]
    docs += [{"timestamp": now_ts(), "level": "ERROR", "service": "web", "message": "w%d" % i}
             for i in range(2)]
    docs += [{"timestamp": now_ts(), "level": "INFO", "service": "api", "message": "ok %d" % i}
             for i in range(30)]
    with start_logweave(tmp_path_factory, "alertmail", config=config(smtp), inputs=()) as srv:
        bulk(srv.url, docs)
        wait_for("two mails", 30, lambda: len(inbox.snapshot()) >= 2)
        time.sleep(2)  # nothing more may come
        got = inbox.snapshot()
        assert len(got) == 2, [m["msg"]["Subject"] for m in got]
        firing, resolved = got
        for m in got:
            assert m["tls"], "the session was not encrypted"
            assert m["auth"], "the session was not authenticated"
            assert sorted(m["rcpt"]) == sorted(TO)
            assert m["from"] == "logweave@example.test"
            assert sorted(a.strip() for a in m["msg"]["To"].split(",")) == sorted(TO)
        f, r = firing["msg"], resolved["msg"]
        assert f["Subject"] == "[FIRING] errors [service=api]: 9 errors from api", f["Subject"]
        assert r["Subject"].startswith("[RESOLVED] errors [service=api]: "), r["Subject"]
        thread = f["Message-ID"]
        assert thread and thread.startswith("<alert-") and thread.endswith("@logweave>"), thread
        assert r["In-Reply-To"] == thread
        assert r["References"] == thread
        assert r["Message-ID"] != thread
        text = f.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
        html = f.get_body(preferencelist=("html",)).get_content()
        assert "Value: 9\n" in text, text
        assert "Threshold: > 5\n" in text, text
        assert "service: api\n" in text, text
        samples = [l.strip() for l in text.split("Sample lines:\n", 1)[1].splitlines() if l.startswith("  ")]
        assert len(samples) == 3 and all(s in errors for s in samples), samples
        assert "<table>" in html and samples[0] in html
        assert 'level:ERROR' in text and 'service:"api"' in text


def get_json(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.load(r)


def test_mail_server_down_then_up_gets_the_alerts_late_as_one_mail(certs, tmp_path_factory):
    """The SMTP server is down when two services start failing together:
    the notification is retried, not lost, and arrives once the server is
    up, as one mail for both alerts (group_wait)."""
    ca, cert, key = certs
    port = free_port()  # nobody listens there yet
    inbox = Inbox()
    cfg = config({"port": port, "ca": ca}, 'group_wait = "1s"\n').replace(
        'window = "4s"', 'window = "60s"')
    docs = [{"timestamp": now_ts(), "level": "ERROR", "service": svc, "message": "%s %d failed" % (svc, i)}
            for svc in ("api", "web") for i in range(7)]
    with start_logweave(tmp_path_factory, "alertmaildown", config=cfg, inputs=()) as srv:
        bulk(srv.url, docs)

        def failing():
            out = get_json(srv.url + "/api/v1/alerts")["outbox"]
            return len(out) == 2 and all(n["attempts"] >= 2 and "SMTP" in (n["last_error"] or "") for n in out)
        wait_for("failed attempts while the mail server is down", 20, failing)
        ctl = start_smtp(inbox, port, cert, key)
        try:
            wait_for("the late mail", 40, lambda: len(inbox.snapshot()) >= 1)
            time.sleep(2)
            got = inbox.snapshot()
            assert len(got) == 1, [m["msg"]["Subject"] for m in got]
            m = got[0]["msg"]
            assert m["Subject"] == "[FIRING] errors: 2 alerts [service=api; service=web]" or \
                m["Subject"] == "[FIRING] errors: 2 alerts [service=web; service=api]", m["Subject"]
            refs = m["References"].split()
            assert len(refs) == 2 and m["Message-ID"] in refs, (m["Message-ID"], refs)
            text = m.get_body(preferencelist=("plain",)).get_content()
            assert any("api %d failed" % i in text for i in range(7)), text
            assert "service: web" in text, text
            a = get_json(srv.url + "/api/v1/alerts")
            assert a["outbox"] == [] and a["undeliverable"] == [], a
            assert len(a["sent"]) == 2 and all(n["attempts"] >= 3 for n in a["sent"]), a["sent"]
        finally:
            ctl.stop()

"""OpenTelemetry's own Python SDK sends logs to logweave's OTLP/HTTP endpoint
(`/v1/logs`, protobuf, as `opentelemetry-exporter-otlp-proto-http` sends it)
through the standard `logging` module; each record is then found with its
service, level, message, trace and span ids and attributes. The expected
values come from what the test logged and from the SDK's own span, not from
logweave."""

import json
import logging
import time
import urllib.error
import urllib.request

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from conftest import start_logweave

CONFIG = """
[[routes]]
match = "otlp.**"
index = "otel-logs"
"""


def search(url, body):
    req = urllib.request.Request(url + "/otel-logs/_search", data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def test_python_sdk_logs_are_searchable_with_their_fields(tmp_path_factory):
    with start_logweave(tmp_path_factory, "otlp", config=CONFIG, inputs=()) as srv:
        resource = Resource.create({"service.name": "checkout", "host.name": "node-7", "deployment.environment": "test"})
        provider = LoggerProvider(resource=resource)
        provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=srv.url + "/v1/logs", timeout=30)))
        handler = LoggingHandler(level=logging.DEBUG, logger_provider=provider)
        log = logging.getLogger("shop.payments")
        log.setLevel(logging.DEBUG)
        log.propagate = False
        log.addHandler(handler)
        tracer = TracerProvider(resource=resource).get_tracer("shop")

        sent = []
        with tracer.start_as_current_span("charge") as span:
            ctx = span.get_span_context()
            for i in range(5):
                log.warning("card declined for order %d", 1000 + i, extra={"order.id": 1000 + i, "retry": i % 2 == 0})
                sent.append(("WARN", "card declined for order %d" % (1000 + i), 1000 + i))
        log.error("payment provider timed out")
        sent.append(("ERROR", "payment provider timed out", None))
        log.info("receipt mailed")
        sent.append(("INFO", "receipt mailed", None))
        provider.force_flush()
        provider.shutdown()
        log.removeHandler(handler)

        # acknowledged means durable; searchable after the next refresh
        deadline = time.monotonic() + 15
        while True:
            res = search(srv.url, {"size": 100, "query": {"term": {"@service": "checkout"}},
                                   "sort": [{"@timestamp": "asc"}, {"_doc": "asc"}]})
            if res["hits"]["total"]["value"] >= len(sent) or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        hits = [h["_source"] for h in res["hits"]["hits"]]
        assert len(hits) == len(sent), hits
        trace_id = format(ctx.trace_id, "032x")
        span_id = format(ctx.span_id, "016x")
        for src, (level, message, order) in zip(hits, sent):
            assert src["message"] == message
            assert src["service"] == "checkout"
            assert src["host"] == "node-7"
            # the SDK sends Python's level name as the severity text
            assert src["level"].upper().startswith(level), src
            assert src["resource"]["attributes"]["deployment.environment"] == "test"
            assert src["scope"]["name"] == "shop.payments"
            if order is not None:
                assert src["trace_id"] == trace_id
                assert src["span_id"] == span_id
                assert src["attributes"]["order.id"] == order
                assert src["attributes"]["retry"] == (order % 2 == 0)
            else:
                assert "trace_id" not in src, "outside the span there is no trace"

        # the level is normalised for searches and aggregations
        errors = search(srv.url, {"size": 0, "query": {"term": {"@level": "ERROR"}}})
        assert errors["hits"]["total"]["value"] == 1
        by_trace = search(srv.url, {"size": 0, "query": {"term": {"trace_id.keyword": trace_id}}})
        assert by_trace["hits"]["total"]["value"] == 5


def test_bad_payloads_get_clear_errors(tmp_path_factory):
    with start_logweave(tmp_path_factory, "otlpbad", inputs=()) as srv:
        for ctype, body, status, words in [
            ("application/x-protobuf", b"\xff\xff\xff\xff", 400, "protobuf"),
            ("application/json", b'{"resourceLogs": 7}', 400, "JSON"),
            ("text/plain", b"hello", 415, "Content-Type"),
        ]:
            req = urllib.request.Request(srv.url + "/v1/logs", data=body, headers={"content-type": ctype})
            try:
                urllib.request.urlopen(req, timeout=10)
                raise AssertionError("accepted: %r" % body)
            except urllib.error.HTTPError as e:
                assert e.code == status
                answer = json.load(e)
                assert words in answer["message"], answer
        # and the server still takes good data
        good = {"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]},
                                  "scopeLogs": [{"logRecords": [{"timeUnixNano": str(time.time_ns()), "severityNumber": 9,
                                                                 "body": {"stringValue": "hello"}}]}]}]}
        req = urllib.request.Request(srv.url + "/v1/logs?refresh=true", data=json.dumps(good).encode(),
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200 and json.load(r) == {}

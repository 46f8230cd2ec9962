"""End-to-end tests: the official Elasticsearch Python client against logweave.

Runs unchanged with elasticsearch-py 7.17.x and 8.x.  A session fixture starts
`logweave server` on free loopback ports (binary from $LOGWEAVE_BIN, default
target/debug/logweave; or set $LOGWEAVE_URL to test an already running server),
indexes a deterministic data set and every test compares the server's answer
with an answer computed here in Python from the same data set (the oracle).
"""

import math
import os
import random
import re
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import elasticsearch
import pytest
from elasticsearch import Elasticsearch, NotFoundError, helpers

from conftest import start_logweave

ES_MAJOR = elasticsearch.VERSION[0]
if ES_MAJOR >= 8:
    from elasticsearch import BadRequestError as BadRequest
else:
    from elasticsearch import RequestError as BadRequest

# elasticsearch-py 7.17 warns about `body=`, which is exactly what 7.x scripts use.
pytestmark = pytest.mark.filterwarnings("ignore:The 'body' parameter is deprecated:DeprecationWarning")

REPO_ROOT = Path(__file__).resolve().parents[2]
INDEX_PATTERN = "app-logs-*"
DAY1 = "app-logs-2026.11.23"
DAY2 = "app-logs-2026.11.24"

# ---------------------------------------------------------------------------
# The data set
# ---------------------------------------------------------------------------

UTC = timezone.utc
PLUS1 = timezone(timedelta(hours=1))  # also Europe/Berlin in November (CET, no DST)
START = datetime(2026, 11, 23, 20, 0, 0, tzinfo=UTC)
SPAN_S = 8 * 3600  # 20:00 .. 04:00 UTC, across midnight
GAP = (datetime(2026, 11, 24, 2, 0, tzinfo=UTC), datetime(2026, 11, 24, 2, 40, tzinfo=UTC))
MIDNIGHT_MS = int(datetime(2026, 11, 24, tzinfo=UTC).timestamp() * 1000)
N_DOCS = 3000
RAW_BULK_TAIL = 500  # the last docs go through client.bulk, the rest through helpers.bulk
PHRASE = "connection reset by peer"

LEVELS = [("INFO", 60), ("DEBUG", 20), ("WARN", 12), ("ERROR", 8)]
SERVICES = [("app1", 40), ("app2", 30), ("app3", 20), ("app4", 10)]
HOSTS = ["web01", "web02", "web03", "db01", "db02", "cache01"]
REGIONS = ["us-east", "eu-west", "ap-south"]  # assigned round robin: equal counts

# Words are separated by spaces/commas only, so that the standard analyzer and
# the oracle tokenizer below agree (no dots, colons or apostrophes inside words).
MESSAGES = {
    "INFO": [
        "request completed in {lat} ms for user {user}",
        "запрос выполнен успешно за {lat} мс",
        "η αίτηση ολοκληρώθηκε σε {lat} ms",
        "请求处理完成",
        "deploy finished 🚀 all checks green ✅",
        "résumé uploaded for user {user}",
        "cache hit ratio {n} percent",
    ],
    "DEBUG": [
        "cache lookup key session {n}",
        "отладка, пул соединений {n}",
        "heartbeat ok 💓",
        "client read timeout ignored for healthcheck",
    ],
    "WARN": [
        "upstream timeout after {lat} ms, retrying",
        "slow query on table orders took {lat} ms",
        "connection was reset by peer, will retry",
        "медленный ответ от сервиса {svc}",
        "η σύνδεση είναι αργή",
        "磁盘空间不足 ⚠️",
        "client read timeout, closing idle connection",
    ],
    "ERROR": [
        "connection reset by peer while calling {svc}",
        "Connection reset by peer 🔥",
        "upstream timeout after {lat} ms",
        "ошибка соединения с базой данных",
        "σφάλμα σύνδεσης με τη βάση δεδομένων",
        "数据库连接失败",
        "payment failed, карта отклонена, код {n}",
        "reset connection by peer requested",
    ],
}
STATUS = {"INFO": [200, 200, 200, 201, 204], "DEBUG": [200, 304], "WARN": [404, 429, 499], "ERROR": [500, 502, 503]}


def _weighted(rng, pairs):
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def generate_docs():
    rng = random.Random(42)
    gap_lo = int((GAP[0] - START).total_seconds())
    gap_hi = int((GAP[1] - START).total_seconds())
    seconds = [s for s in range(SPAN_S) if not gap_lo <= s < gap_hi]
    chosen = rng.sample(seconds, N_DOCS)  # distinct seconds: no ties when sorting on time
    docs = []
    for seq, sec in enumerate(chosen):
        level = _weighted(rng, LEVELS)
        service = _weighted(rng, SERVICES)
        latency = min(5000, max(1, int(rng.lognormvariate(4.6, 0.7))))
        if level == "ERROR":
            latency = min(5000, latency * 3)
        user = "u%03d" % rng.randint(1, 200) if rng.random() < 0.6 else None
        template = rng.choice(MESSAGES[level])
        message = template.format(
            lat=latency,
            user=user or "anonymous",
            svc=rng.choice([s for s, _ in SERVICES if s != service]),
            n=rng.randint(1, 99),
        )
        doc = {
            "timestamp": (START + timedelta(seconds=sec)).strftime("%Y-%m-%d %H:%M:%S"),
            "level": level,
            "service": service,
            "host": rng.choice(HOSTS),
            "region": REGIONS[seq % len(REGIONS)],
            "latency_ms": latency,
            "status": rng.choice(STATUS[level]),
            "message": message,
            "seq": seq,
        }
        if user is not None:
            doc["user"] = user
        if level == "ERROR" and rng.random() < 0.9:
            doc["error_code"] = "E%d" % rng.choice([1001, 1002, 2001, 3003])
        docs.append(doc)
    return docs


DOCS = generate_docs()


def doc_id(d):
    """Every 10th document is indexed with an explicit _id."""
    return "evt-%05d" % d["seq"] if d["seq"] % 10 == 0 else None


def index_of(d):
    return "app-logs-" + d["timestamp"][:10].replace("-", ".")


def ts_ms(s):
    return int(datetime.strptime(s, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp() * 1000)


def ms(d):
    return ts_ms(d["timestamp"])


def fmt_ms(m, tz=UTC, pattern="%Y-%m-%d %H:%M:%S"):
    return datetime.fromtimestamp(m / 1000, tz=tz).strftime(pattern)


# ---------------------------------------------------------------------------
# Oracle helpers
# ---------------------------------------------------------------------------


def _is_han(ch):
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def tokens(text):
    """What the standard analyzer makes of our messages: lower-cased words,
    every Han ideograph a token of its own, emoji and punctuation dropped."""
    out = []
    for word in re.findall(r"\w+", text.lower()):
        buf = ""
        for ch in word:
            if _is_han(ch):
                if buf:
                    out.append(buf)
                    buf = ""
                out.append(ch)
            else:
                buf += ch
        if buf:
            out.append(buf)
    return out


def toks(d, field):
    v = d.get(field)
    return tokens(v) if isinstance(v, str) else []


def has_word(d, field, word):
    return any(t in toks(d, field) for t in tokens(word))


def has_all_words(d, field, text):
    ts = toks(d, field)
    return all(t in ts for t in tokens(text))


def has_phrase(d, field, text):
    ts, want = toks(d, field), tokens(text)
    return any(ts[i : i + len(want)] == want for i in range(len(ts) - len(want) + 1))


def seqs_where(pred):
    return sorted(d["seq"] for d in DOCS if pred(d))


def by_time(docs, reverse=False):
    return sorted(docs, key=ms, reverse=reverse)


def percentile(sorted_vals, p):
    rank = p / 100 * (len(sorted_vals) - 1)
    lo = math.floor(rank)
    hi = min(lo + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (rank - lo)


def histogram_oracle(values, step, offset=0):
    """[(key, count)] from the first to the last non-empty bucket, empty ones included."""
    keys = [(v - offset) // step * step + offset for v in values]
    counts = Counter(keys)
    lo, hi = min(keys), max(keys)
    return [(k, counts.get(k, 0)) for k in range(lo, hi + step, step)]


# ---------------------------------------------------------------------------
# Client helpers: the only places where 7.x and 8.x differ
# ---------------------------------------------------------------------------

_BODY_KW = {"from": "from_", "_source": "source"}


def raw(resp):
    """The plain dict of a response (8.x wraps it in ObjectApiResponse)."""
    return getattr(resp, "body", resp)


def make_client(hosts):
    if ES_MAJOR >= 8:
        return Elasticsearch(hosts, request_timeout=60)
    return Elasticsearch(hosts, timeout=60)


def search(es, body=None, index=INDEX_PATTERN, **params):
    """7.x: search(index=, body={...}, **params); 8.x: body keys as keyword arguments."""
    if ES_MAJOR >= 8:
        kw = {_BODY_KW.get(k, k): v for k, v in (body or {}).items()}
        kw.update(params)
        return raw(es.search(index=index, **kw))
    return raw(es.search(index=index, body=body, **params))


def count(es, query=None, index=INDEX_PATTERN, **params):
    if query is None:
        return raw(es.count(index=index, **params))["count"]
    if ES_MAJOR >= 8:
        return raw(es.count(index=index, query=query, **params))["count"]
    return raw(es.count(index=index, body={"query": query}, **params))["count"]


def bulk(es, operations, **params):
    if ES_MAJOR >= 8:
        return raw(es.bulk(operations=operations, **params))
    return raw(es.bulk(body=operations, **params))


def aggs(es, aggregations, query=None, index=INDEX_PATTERN):
    body = {"size": 0, "aggs": aggregations}
    if query is not None:
        body["query"] = query
    resp = search(es, body, index=index)
    assert resp["hits"]["hits"] == []
    return resp["aggregations"]


def hit_seqs(resp):
    return sorted(h["_source"]["seq"] for h in resp["hits"]["hits"])


def assert_query(es, query, pred, index=INDEX_PATTERN, docs=None, allow_empty=False, allow_all=False):
    """Run `query`, compare the set of hits and hits.total with the oracle."""
    pool = DOCS if docs is None else docs
    expected = sorted(d["seq"] for d in pool if pred(d))
    if not allow_empty:
        assert expected, "oracle selects nothing: the test would be vacuous"
    if not allow_all:
        assert len(expected) < len(pool), "oracle selects everything: the test would be vacuous"
    resp = search(es, {"query": query, "size": 10000}, index=index, track_total_hits=True)
    assert resp["hits"]["total"] == {"value": len(expected), "relation": "eq"}
    assert hit_seqs(resp) == expected
    return resp


def error_info(excinfo):
    return excinfo.value.info if isinstance(excinfo.value.info, dict) else {}


# ---------------------------------------------------------------------------
# Fixtures: server process, client, loaded data
# ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def server_url(tmp_path_factory):
    if os.environ.get("LOGWEAVE_URL"):
        yield os.environ["LOGWEAVE_URL"].rstrip("/")
        return
    with start_logweave(tmp_path_factory, "logweave", keep_as="server-es%d.log" % ES_MAJOR) as srv:
        yield srv.url


@pytest.fixture(scope="session")
def client(server_url):
    es = make_client(server_url)
    yield es
    es.close()


@pytest.fixture(scope="session")
def es(client):
    """The client, after the whole data set has been indexed and refreshed."""
    head, tail = DOCS[:-RAW_BULK_TAIL], DOCS[-RAW_BULK_TAIL:]

    # 1. helpers.bulk, a mix of `index` and `create` actions, some with _id.
    actions = []
    for d in head:
        a = {"_index": index_of(d), "_source": d}
        if doc_id(d):
            a["_id"] = doc_id(d)
            if d["seq"] % 20 == 0:
                a["_op_type"] = "create"
        actions.append(a)
    ok, errors = helpers.bulk(client, actions, chunk_size=500)
    assert errors == []
    assert ok == len(head)

    # 2. client.bulk, with _index in each action, and with the index in the URL.
    in_url = [d for d in tail if index_of(d) == DAY2 and not doc_id(d)]
    per_action = [d for d in tail if not (index_of(d) == DAY2 and not doc_id(d))]
    assert in_url and per_action
    ops = []
    for d in per_action:
        meta = {"_index": index_of(d)}
        if doc_id(d):
            meta["_id"] = doc_id(d)
        ops += [{"index": meta}, d]
    resp = bulk(client, ops, refresh="wait_for")
    assert resp["errors"] is False
    assert len(resp["items"]) == len(per_action)
    for d, item in zip(per_action, resp["items"]):
        r = item["index"]
        assert r["status"] == 201 and r["result"] == "created"
        assert r["_index"] == index_of(d)
        if doc_id(d):
            assert r["_id"] == doc_id(d)
    ops = []
    for d in in_url:
        ops += [{"index": {}}, d]
    resp = bulk(client, ops, index=DAY2, refresh="wait_for")
    assert resp["errors"] is False
    assert [i["index"]["_index"] for i in resp["items"]] == [DAY2] * len(in_url)

    raw(client.indices.refresh(index=INDEX_PATTERN))
    return client


# ---------------------------------------------------------------------------
# The data set itself (no server): guards against vacuous tests
# ---------------------------------------------------------------------------


def test_dataset_is_deterministic_and_varied():
    assert generate_docs() == DOCS
    assert len(DOCS) == N_DOCS
    assert {index_of(d) for d in DOCS} == {DAY1, DAY2}
    assert len({d["timestamp"] for d in DOCS}) == N_DOCS
    assert not any(GAP[0].timestamp() * 1000 <= ms(d) < GAP[1].timestamp() * 1000 for d in DOCS)
    assert sorted(Counter(d["region"] for d in DOCS).values()) == [1000, 1000, 1000]
    text = " ".join(d["message"] for d in DOCS)
    for sample in ["ошибка", "σύνδεση", "数据库", "🚀", "résumé", PHRASE]:
        assert sample in text


# ---------------------------------------------------------------------------
# Connection, info, indexing
# ---------------------------------------------------------------------------


def test_info_answers_like_elasticsearch(client):
    info = raw(client.info())
    assert re.match(r"^\d+\.\d+\.\d+", info["version"]["number"])
    assert info["tagline"] == "You Know, for Search"


def test_host_dict_constructor(es, server_url):
    port = int(server_url.rsplit(":", 1)[1])
    if ES_MAJOR >= 8:
        other = Elasticsearch([{"host": "127.0.0.1", "port": port, "scheme": "http"}])
    else:
        other = Elasticsearch([{"host": "127.0.0.1", "port": port}])  # the classic 7.x form
    try:
        assert raw(other.info())["version"]["number"]
        assert count(other) == N_DOCS
    finally:
        other.close()


def test_count_all_documents(es):
    assert count(es) == N_DOCS


def test_count_per_daily_index(es):
    per_day = Counter(index_of(d) for d in DOCS)
    assert count(es, index=DAY1) == per_day[DAY1]
    assert count(es, index=DAY2) == per_day[DAY2]
    assert count(es, index="%s,%s" % (DAY1, DAY2)) == N_DOCS


def test_count_with_query(es):
    assert count(es, {"term": {"level.keyword": "WARN"}}) == len(seqs_where(lambda d: d["level"] == "WARN"))


def test_count_with_q_param(es):
    assert count(es, q="level:ERROR") == len(seqs_where(lambda d: d["level"] == "ERROR"))


def test_get_by_explicit_id_returns_source_unchanged(es):
    for d in [d for d in DOCS if doc_id(d)][:20] + [
        next(d for d in DOCS if doc_id(d) and "🚀" in d["message"]),
        next(d for d in DOCS if doc_id(d) and "数据库" in d["message"]),
    ]:
        r = raw(es.get(index=index_of(d), id=doc_id(d)))
        assert r["found"] is True
        assert r["_id"] == doc_id(d)
        assert r["_index"] == index_of(d)
        source = {k: v for k, v in r["_source"].items() if k != "@timestamp"}
        assert source == d


def test_get_missing_id_is_404(es):
    with pytest.raises(NotFoundError) as e:
        es.get(index=DAY1, id="no-such-id")
    assert e.value.status_code == 404
    assert error_info(e).get("found") is False


# ---------------------------------------------------------------------------
# Sorting and paging
# ---------------------------------------------------------------------------


def test_classic_match_all_sorted_by_timestamp_desc(es):
    # The classic script, with body= (accepted by both 7.x and 8.x clients).
    resp = raw(es.search(
        index="app-logs-*",
        body={"query": {"match_all": {}}, "sort": [{"timestamp": {"order": "desc"}}], "size": 10},
    ))
    newest = [d["timestamp"] for d in by_time(DOCS, reverse=True)[:10]]
    assert [h["_source"]["timestamp"] for h in resp["hits"]["hits"]] == newest


def test_sort_values_are_epoch_millis(es):
    resp = search(es, {"query": {"match_all": {}}, "sort": [{"timestamp": {"order": "asc"}}], "size": 5})
    oldest = by_time(DOCS)[:5]
    assert [h["sort"] for h in resp["hits"]["hits"]] == [[ms(d)] for d in oldest]


def test_default_size_is_ten(es):
    resp = search(es, {"query": {"match_all": {}}})
    assert len(resp["hits"]["hits"]) == 10
    assert resp["hits"]["total"] == {"value": N_DOCS, "relation": "eq"}


def test_hits_carry_daily_index_and_explicit_ids(es):
    resp = search(es, {"query": {"match_all": {}}, "size": 10000})
    assert len(resp["hits"]["hits"]) == N_DOCS
    by_seq = {d["seq"]: d for d in DOCS}
    for h in resp["hits"]["hits"]:
        d = by_seq[h["_source"]["seq"]]
        assert h["_index"] == index_of(d)
        if doc_id(d):
            assert h["_id"] == doc_id(d)
    assert len({(h["_index"], h["_id"]) for h in resp["hits"]["hits"]}) == N_DOCS


def test_sort_on_number_with_timestamp_tiebreak(es):
    resp = search(es, {"query": {"match_all": {}}, "size": 30,
                       "sort": [{"latency_ms": {"order": "desc"}}, {"timestamp": {"order": "asc"}}]})
    want = sorted(DOCS, key=lambda d: (-d["latency_ms"], ms(d)))[:30]
    assert [h["_source"]["seq"] for h in resp["hits"]["hits"]] == [d["seq"] for d in want]


def test_sort_on_keyword_then_timestamp(es):
    resp = search(es, {"query": {"match_all": {}}, "size": 30,
                       "sort": [{"service.keyword": "asc"}, {"timestamp": "desc"}]})
    want = sorted(DOCS, key=lambda d: (d["service"], -ms(d)))[:30]
    assert [h["_source"]["seq"] for h in resp["hits"]["hits"]] == [d["seq"] for d in want]


def test_from_size_paging(es):
    resp = search(es, {"query": {"match_all": {}}, "sort": [{"timestamp": {"order": "desc"}}], "from": 25, "size": 15})
    want = by_time(DOCS, reverse=True)[25:40]
    assert [h["_source"]["seq"] for h in resp["hits"]["hits"]] == [d["seq"] for d in want]


def test_search_after_pages_through_errors_in_time_order(es):
    want = [d["seq"] for d in by_time([d for d in DOCS if d["level"] == "ERROR"])]
    got, after = [], None
    for _ in range(100):
        body = {"query": {"term": {"level.keyword": "ERROR"}}, "sort": [{"timestamp": "asc"}], "size": 50}
        if after is not None:
            body["search_after"] = after
        hits = search(es, body)["hits"]["hits"]
        if not hits:
            break
        got += [h["_source"]["seq"] for h in hits]
        after = hits[-1]["sort"]
    assert got == want


# ---------------------------------------------------------------------------
# _source filtering
# ---------------------------------------------------------------------------


def _first_hit_source(es, source):
    body = {"query": {"ids": {"values": ["evt-00010"]}}, "_source": source}
    hits = search(es, body)["hits"]["hits"]
    assert len(hits) == 1
    return hits[0].get("_source")


def test_source_includes_list(es):
    d = DOCS[10]
    assert _first_hit_source(es, ["level", "service"]) == {"level": d["level"], "service": d["service"]}


def test_source_includes_wildcard(es):
    d = DOCS[10]
    assert _first_hit_source(es, {"includes": ["lat*", "seq"]}) == {"latency_ms": d["latency_ms"], "seq": 10}


def test_source_excludes(es):
    d = DOCS[10]
    src = _first_hit_source(es, {"excludes": ["message", "host"]})
    src.pop("@timestamp", None)
    assert src == {k: v for k, v in d.items() if k not in ("message", "host")}


def test_source_false_omits_source(es):
    assert _first_hit_source(es, False) is None


# ---------------------------------------------------------------------------
# Full-text and term-level queries
# ---------------------------------------------------------------------------


def test_match_level_error_total_hits(es):
    resp = search(es, {"query": {"match": {"level": "ERROR"}}}, track_total_hits=True)
    assert resp["hits"]["total"] == {"value": len(seqs_where(lambda d: d["level"] == "ERROR")), "relation": "eq"}


def test_match_level_error_hits(es):
    assert_query(es, {"match": {"level": "ERROR"}}, lambda d: d["level"] == "ERROR")


@pytest.mark.parametrize("word", ["timeout", "résumé", "соединения", "σύνδεση", "orders"])
def test_match_single_word_in_several_scripts(es, word):
    assert_query(es, {"match": {"message": word}}, lambda d: has_word(d, "message", word))


def test_match_cjk_splits_ideographs(es):
    # The standard analyzer makes one token per Han ideograph; match ORs them.
    assert_query(es, {"match": {"message": "连接"}}, lambda d: has_word(d, "message", "连接"))


def test_match_is_or_by_default(es):
    assert_query(es, {"match": {"message": "orders payment"}}, lambda d: has_word(d, "message", "orders payment"))


def test_match_operator_and(es):
    q = {"match": {"message": {"query": "connection peer", "operator": "and"}}}
    assert_query(es, q, lambda d: has_all_words(d, "message", "connection peer"))


def test_match_phrase(es):
    resp = assert_query(es, {"match_phrase": {"message": PHRASE}}, lambda d: has_phrase(d, "message", PHRASE))
    # Near misses ("connection was reset by peer", "reset connection by peer") are not hits.
    assert all(PHRASE in h["_source"]["message"].lower() for h in resp["hits"]["hits"])


def test_match_phrase_cjk(es):
    assert_query(es, {"match_phrase": {"message": "数据库连接"}}, lambda d: has_phrase(d, "message", "数据库连接"))


def test_multi_match(es):
    q = {"multi_match": {"query": "app2 timeout", "fields": ["service", "message"]}}
    assert_query(es, q, lambda d: has_word(d, "service", "app2 timeout") or has_word(d, "message", "app2 timeout"))


def test_term_on_keyword(es):
    assert_query(es, {"term": {"level.keyword": "ERROR"}}, lambda d: d["level"] == "ERROR")


def test_term_on_text_field_is_not_analyzed(es):
    # The text field holds the token "error"; a term query does not lower-case "ERROR".
    assert_query(es, {"term": {"level": "error"}}, lambda d: d["level"] == "ERROR")
    assert_query(es, {"term": {"level": "ERROR"}}, lambda d: False, allow_empty=True)


def test_term_on_number(es):
    assert_query(es, {"term": {"status": 503}}, lambda d: d["status"] == 503)


@pytest.mark.parametrize("message", ["Connection reset by peer 🔥", "数据库连接失败", "磁盘空间不足 ⚠️"])
def test_term_on_utf8_keyword(es, message):
    assert_query(es, {"term": {"message.keyword": message}}, lambda d: d["message"] == message)


def test_terms_on_keyword(es):
    assert_query(es, {"terms": {"service.keyword": ["app1", "app3"]}}, lambda d: d["service"] in ("app1", "app3"))


def test_terms_on_number(es):
    assert_query(es, {"terms": {"status": [500, 503]}}, lambda d: d["status"] in (500, 503))


def test_range_on_number(es):
    q = {"range": {"latency_ms": {"gte": 100, "lt": 250}}}
    assert_query(es, q, lambda d: 100 <= d["latency_ms"] < 250)


def test_range_on_timestamp_with_format(es):
    q = {"range": {"timestamp": {"gte": "2026-11-23 23:30:00", "lt": "2026-11-24 00:30:00", "format": "yyyy-MM-dd HH:mm:ss"}}}
    lo, hi = ts_ms("2026-11-23 23:30:00"), ts_ms("2026-11-24 00:30:00")
    assert_query(es, q, lambda d: lo <= ms(d) < hi)


def test_range_on_timestamp_without_format(es):
    q = {"range": {"timestamp": {"gt": "2026-11-24 03:00:00"}}}
    assert_query(es, q, lambda d: ms(d) > ts_ms("2026-11-24 03:00:00"))


def test_range_on_timestamp_epoch_millis(es):
    q = {"range": {"timestamp": {"gte": MIDNIGHT_MS}}}
    assert_query(es, q, lambda d: ms(d) >= MIDNIGHT_MS)


def test_range_on_timestamp_date_math(es):
    q = {"range": {"timestamp": {"gte": "2026-11-24 00:00:00||-1h", "lt": "2026-11-24 00:00:00",
                                 "format": "yyyy-MM-dd HH:mm:ss"}}}
    assert_query(es, q, lambda d: MIDNIGHT_MS - 3600_000 <= ms(d) < MIDNIGHT_MS)


def test_range_on_timestamp_date_math_rounding(es):
    # gte rounds down to the start of the hour, lte rounds up to its last millisecond.
    q = {"range": {"timestamp": {"gte": "2026-11-24 01:17:00||/h", "lte": "2026-11-24 02:45:00||/h",
                                 "format": "yyyy-MM-dd HH:mm:ss"}}}
    lo, hi = ts_ms("2026-11-24 01:00:00"), ts_ms("2026-11-24 03:00:00")
    assert_query(es, q, lambda d: lo <= ms(d) < hi)


def test_range_on_timestamp_with_time_zone(es):
    q = {"range": {"timestamp": {"gte": "2026-11-24 01:00:00", "format": "yyyy-MM-dd HH:mm:ss", "time_zone": "+01:00"}}}
    assert_query(es, q, lambda d: ms(d) >= MIDNIGHT_MS)


def test_exists(es):
    assert_query(es, {"exists": {"field": "user"}}, lambda d: "user" in d)
    assert_query(es, {"exists": {"field": "error_code"}}, lambda d: "error_code" in d)


def test_prefix_on_keyword(es):
    assert_query(es, {"prefix": {"service.keyword": "app"}}, lambda d: True, allow_all=True)
    assert_query(es, {"prefix": {"host.keyword": "web"}}, lambda d: d["host"].startswith("web"))


def test_wildcard_on_keyword(es):
    assert_query(es, {"wildcard": {"service.keyword": "ap?3"}}, lambda d: d["service"] == "app3")
    assert_query(es, {"wildcard": {"service.keyword": {"value": "*2"}}}, lambda d: d["service"] == "app2")


def test_regexp_on_keyword(es):
    assert_query(es, {"regexp": {"service.keyword": "app[13]"}}, lambda d: d["service"] in ("app1", "app3"))
    assert_query(es, {"regexp": {"host.keyword": "(web|db)0[12]"}},
                 lambda d: re.fullmatch("(web|db)0[12]", d["host"]) is not None)


def test_ids(es):
    wanted = ["evt-00000", "evt-00130", "evt-02990", "does-not-exist"]
    assert_query(es, {"ids": {"values": wanted}}, lambda d: doc_id(d) in wanted)


# ---------------------------------------------------------------------------
# Lucene syntax: query_string, simple_query_string, q=
# ---------------------------------------------------------------------------

QUERY_STRINGS = [
    ("and", "level:ERROR AND service:app1", lambda d: d["level"] == "ERROR" and d["service"] == "app1"),
    ("and_not", "level:ERROR AND NOT service:app1", lambda d: d["level"] == "ERROR" and d["service"] != "app1"),
    ("or_group", "(level:WARN OR level:ERROR) AND host:db01",
     lambda d: d["level"] in ("WARN", "ERROR") and d["host"] == "db01"),
    ("phrase", 'message:"connection reset by peer"', lambda d: has_phrase(d, "message", PHRASE)),
    ("range_inclusive", "latency_ms:[100 TO 200]", lambda d: 100 <= d["latency_ms"] <= 200),
    ("range_exclusive", "latency_ms:{100 TO 200}", lambda d: 100 < d["latency_ms"] < 200),
    ("range_open", "latency_ms:>=1000", lambda d: d["latency_ms"] >= 1000),
    ("wildcard", "host:web*", lambda d: d["host"].startswith("web")),
    ("wildcard_keyword", "host.keyword:db0?", lambda d: d["host"] in ("db01", "db02")),
    ("keyword_field", "level.keyword:WARN", lambda d: d["level"] == "WARN"),
    ("cyrillic", "message:ошибка", lambda d: has_word(d, "message", "ошибка")),
    ("exists", "_exists_:error_code", lambda d: "error_code" in d),
]


@pytest.mark.parametrize("q, pred", [(q, p) for _, q, p in QUERY_STRINGS], ids=[i for i, _, _ in QUERY_STRINGS])
def test_query_string(es, q, pred):
    assert_query(es, {"query_string": {"query": q}}, pred)


def test_query_string_leading_not(es):
    assert_query(es, {"query_string": {"query": "NOT level:INFO"}}, lambda d: d["level"] != "INFO")


def test_query_string_default_field(es):
    assert_query(es, {"query_string": {"query": "timeout", "default_field": "message"}},
                 lambda d: has_word(d, "message", "timeout"))


def test_query_string_default_operator_and(es):
    q = {"query_string": {"query": "upstream timeout", "default_field": "message", "default_operator": "AND"}}
    assert_query(es, q, lambda d: has_all_words(d, "message", "upstream timeout"))


def test_query_string_bare_word_searches_all_fields(es):
    assert_query(es, {"query_string": {"query": "соединения"}}, lambda d: has_word(d, "message", "соединения"))


def test_simple_query_string_phrase_or_word(es):
    q = {"simple_query_string": {"query": '"connection reset by peer" | ошибка', "fields": ["message"]}}
    assert_query(es, q, lambda d: has_phrase(d, "message", PHRASE) or has_word(d, "message", "ошибка"))


def test_simple_query_string_and_not(es):
    q = {"simple_query_string": {"query": "timeout -upstream", "fields": ["message"], "default_operator": "and"}}
    assert_query(es, q, lambda d: has_word(d, "message", "timeout") and not has_word(d, "message", "upstream"))


def test_simple_query_string_prefix(es):
    q = {"simple_query_string": {"query": "retry*", "fields": ["message"]}}
    assert_query(es, q, lambda d: any(t.startswith("retry") for t in toks(d, "message")))


def test_q_param(es):
    resp = search(es, q="level:ERROR", track_total_hits=True, size=10000)
    want = seqs_where(lambda d: d["level"] == "ERROR")
    assert resp["hits"]["total"]["value"] == len(want)
    assert hit_seqs(resp) == want


def test_q_param_with_range(es):
    resp = search(es, q="service:app1 AND latency_ms:>500", size=10000)
    assert hit_seqs(resp) == seqs_where(lambda d: d["service"] == "app1" and d["latency_ms"] > 500)


# ---------------------------------------------------------------------------
# bool and constant_score
# ---------------------------------------------------------------------------


def test_bool_must_filter_must_not(es):
    q = {"bool": {
        "must": [{"term": {"level.keyword": "ERROR"}}],
        "filter": [{"range": {"latency_ms": {"gte": 300}}}],
        "must_not": [{"term": {"service.keyword": "app4"}}],
    }}
    assert_query(es, q, lambda d: d["level"] == "ERROR" and d["latency_ms"] >= 300 and d["service"] != "app4")


def test_bool_should_minimum_should_match(es):
    q = {"bool": {
        "should": [
            {"term": {"level.keyword": "ERROR"}},
            {"term": {"host.keyword": "db01"}},
            {"range": {"latency_ms": {"gte": 300}}},
        ],
        "minimum_should_match": 2,
    }}
    assert_query(es, q, lambda d: (d["level"] == "ERROR") + (d["host"] == "db01") + (d["latency_ms"] >= 300) >= 2)


def test_bool_should_only_needs_one(es):
    q = {"bool": {"should": [{"term": {"service.keyword": "app4"}}, {"match": {"message": "ошибка"}}]}}
    assert_query(es, q, lambda d: d["service"] == "app4" or has_word(d, "message", "ошибка"))


def test_bool_should_is_optional_next_to_filter(es):
    q = {"bool": {"filter": [{"term": {"service.keyword": "app2"}}], "should": [{"term": {"level.keyword": "ERROR"}}]}}
    assert_query(es, q, lambda d: d["service"] == "app2")


def test_bool_must_not_only(es):
    assert_query(es, {"bool": {"must_not": [{"match": {"level": "INFO"}}]}}, lambda d: d["level"] != "INFO")


def test_bool_nested(es):
    q = {"bool": {"filter": [
        {"bool": {"should": [{"term": {"region.keyword": "eu-west"}}, {"term": {"region.keyword": "ap-south"}}]}},
        {"bool": {"must_not": [{"exists": {"field": "user"}}]}},
        {"match_phrase": {"message": PHRASE}},
    ]}}
    assert_query(es, q, lambda d: d["region"] != "us-east" and "user" not in d and has_phrase(d, "message", PHRASE))


def test_constant_score_gives_boost_as_score(es):
    q = {"constant_score": {"filter": {"term": {"service.keyword": "app3"}}, "boost": 2.5}}
    resp = assert_query(es, q, lambda d: d["service"] == "app3")
    assert {h["_score"] for h in resp["hits"]["hits"]} == {2.5}


# ---------------------------------------------------------------------------
# scroll
# ---------------------------------------------------------------------------


def test_scroll_sees_every_document_once(es):
    want = seqs_where(lambda d: d["level"] in ("WARN", "DEBUG"))
    resp = search(es, {"query": {"terms": {"level.keyword": ["WARN", "DEBUG"]}}, "size": 97}, scroll="1m")
    assert resp["hits"]["total"]["value"] == len(want)
    ids, seqs = [], []
    scroll_id = resp["_scroll_id"]
    for _ in range(1000):
        hits = resp["hits"]["hits"]
        if not hits:
            break
        assert len(hits) <= 97
        ids += [(h["_index"], h["_id"]) for h in hits]
        seqs += [h["_source"]["seq"] for h in hits]
        resp = raw(es.scroll(scroll_id=scroll_id, scroll="1m"))
        scroll_id = resp.get("_scroll_id", scroll_id)
    assert len(ids) == len(set(ids)) == len(want)
    assert sorted(seqs) == want
    assert raw(es.clear_scroll(scroll_id=scroll_id))["succeeded"] is True


def test_helpers_scan(es):
    query = {"query": {"range": {"timestamp": {"gte": "2026-11-24 00:00:00", "format": "yyyy-MM-dd HH:mm:ss"}}}}
    hits = list(helpers.scan(es, query=query, index=INDEX_PATTERN, size=250, scroll="1m"))
    assert sorted(h["_source"]["seq"] for h in hits) == seqs_where(lambda d: ms(d) >= MIDNIGHT_MS)
    assert len({(h["_index"], h["_id"]) for h in hits}) == len(hits)


# ---------------------------------------------------------------------------
# Aggregations: buckets
# ---------------------------------------------------------------------------


def test_terms_agg_order_and_other_count(es):
    res = aggs(es, {"levels": {"terms": {"field": "level.keyword", "size": 3}}})["levels"]
    counts = Counter(d["level"] for d in DOCS)
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    assert [(b["key"], b["doc_count"]) for b in res["buckets"]] == ordered[:3]
    assert res["sum_other_doc_count"] == sum(c for _, c in ordered[3:]) > 0
    assert res["doc_count_error_upper_bound"] == 0


def test_terms_agg_ties_ordered_by_key(es):
    res = aggs(es, {"regions": {"terms": {"field": "region.keyword", "size": 2}}})["regions"]
    assert [(b["key"], b["doc_count"]) for b in res["buckets"]] == [("ap-south", 1000), ("eu-west", 1000)]
    assert res["sum_other_doc_count"] == 1000


def test_terms_agg_with_query(es):
    res = aggs(es, {"s": {"terms": {"field": "service.keyword"}}}, query={"term": {"level.keyword": "ERROR"}})["s"]
    counts = Counter(d["service"] for d in DOCS if d["level"] == "ERROR")
    assert [(b["key"], b["doc_count"]) for b in res["buckets"]] == sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    assert res["sum_other_doc_count"] == 0


def test_terms_agg_on_number_has_numeric_keys(es):
    res = aggs(es, {"st": {"terms": {"field": "status", "size": 20}}})["st"]
    counts = Counter(d["status"] for d in DOCS)
    assert [(b["key"], b["doc_count"]) for b in res["buckets"]] == sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def _minute_histogram_oracle():
    step = 60_000
    buckets = histogram_oracle([ms(d) for d in DOCS], step)
    users = Counter(ms(d) // step * step for d in DOCS if "user" in d)
    return buckets, users


def test_date_histogram_interval_minute_with_value_count(es):
    # The older-client style `interval`; the 8.x client passes it through unchanged.
    res = aggs(es, {"per_minute": {
        "date_histogram": {"field": "timestamp", "interval": "minute"},
        "aggs": {"users": {"value_count": {"field": "user.keyword"}}},
    }})["per_minute"]["buckets"]
    want, users = _minute_histogram_oracle()
    assert any(c == 0 for _, c in want), "expected empty buckets in the gap"
    assert [b["key"] for b in res] == [k for k, _ in want]
    assert all(type(b["key"]) is int for b in res)
    assert [b["key_as_string"] for b in res] == [fmt_ms(k) for k, _ in want]
    assert [b["doc_count"] for b in res] == [c for _, c in want]
    assert [b["users"]["value"] for b in res] == [users.get(k, 0) for k, _ in want]


def test_date_histogram_calendar_interval_minute(es):
    res = aggs(es, {"m": {"date_histogram": {"field": "timestamp", "calendar_interval": "minute"}}})["m"]["buckets"]
    want, _ = _minute_histogram_oracle()
    assert [(b["key"], b["doc_count"]) for b in res] == want


def test_date_histogram_fixed_interval_30m(es):
    res = aggs(es, {"h": {"date_histogram": {"field": "timestamp", "fixed_interval": "30m"}}})["h"]["buckets"]
    want = histogram_oracle([ms(d) for d in DOCS], 1_800_000)
    assert any(c == 0 for _, c in want)
    assert [(b["key"], b["key_as_string"], b["doc_count"]) for b in res] == [(k, fmt_ms(k), c) for k, c in want]


def test_date_histogram_min_doc_count_drops_empty_buckets(es):
    res = aggs(es, {"h": {"date_histogram": {"field": "timestamp", "fixed_interval": "10m", "min_doc_count": 1}}})
    want = [(k, c) for k, c in histogram_oracle([ms(d) for d in DOCS], 600_000) if c > 0]
    assert [(b["key"], b["doc_count"]) for b in res["h"]["buckets"]] == want


def test_date_histogram_explicit_format(es):
    res = aggs(es, {"h": {"date_histogram": {"field": "timestamp", "calendar_interval": "hour",
                                             "format": "yyyy-MM-dd HH:mm"}}})["h"]["buckets"]
    want = histogram_oracle([ms(d) for d in DOCS], 3_600_000)
    assert [(b["key"], b["key_as_string"], b["doc_count"]) for b in res] == \
        [(k, fmt_ms(k, pattern="%Y-%m-%d %H:%M"), c) for k, c in want]


def test_date_histogram_hour_in_europe_berlin(es):
    res = aggs(es, {"h": {"date_histogram": {"field": "timestamp", "calendar_interval": "hour",
                                             "time_zone": "Europe/Berlin"}}})["h"]["buckets"]
    want = histogram_oracle([ms(d) for d in DOCS], 3_600_000)
    # Whole-hour offset: same instants as UTC hours, rendered in local time.
    assert [(b["key"], b["key_as_string"], b["doc_count"]) for b in res] == \
        [(k, fmt_ms(k, tz=PLUS1), c) for k, c in want]
    assert res[0]["key_as_string"] == "2026-11-23 21:00:00"


def test_date_histogram_day_with_offset_time_zone(es):
    res = aggs(es, {"d": {"date_histogram": {"field": "timestamp", "calendar_interval": "day",
                                             "time_zone": "+01:00"}}})["d"]["buckets"]
    # Local (+01:00) days start at 23:00 UTC.
    want = histogram_oracle([ms(d) for d in DOCS], 86_400_000, offset=-3_600_000)
    assert len(want) == 2
    assert [(b["key"], b["key_as_string"], b["doc_count"]) for b in res] == \
        [(k, fmt_ms(k, tz=PLUS1), c) for k, c in want]
    assert [b["key_as_string"] for b in res] == ["2026-11-23 00:00:00", "2026-11-24 00:00:00"]


def test_histogram_on_latency(es):
    res = aggs(es, {"lat": {"histogram": {"field": "latency_ms", "interval": 100}}})["lat"]["buckets"]
    want = histogram_oracle([d["latency_ms"] for d in DOCS], 100)
    assert any(c == 0 for _, c in want), "expected empty buckets in the tail"
    assert [(b["key"], b["doc_count"]) for b in res] == want


def test_range_agg(es):
    res = aggs(es, {"r": {"range": {"field": "latency_ms", "ranges": [
        {"to": 100}, {"from": 100, "to": 500}, {"from": 500, "key": "slow"}]}}})["r"]["buckets"]
    lat = [d["latency_ms"] for d in DOCS]
    assert [b["key"] for b in res] == ["*-100.0", "100.0-500.0", "slow"]
    assert [b["doc_count"] for b in res] == [
        sum(v < 100 for v in lat), sum(100 <= v < 500 for v in lat), sum(v >= 500 for v in lat)]
    assert "from" not in res[0] and res[0]["to"] == 100
    assert res[1]["from"] == 100 and res[1]["to"] == 500
    assert res[2]["from"] == 500 and "to" not in res[2]


def test_date_range_agg(es):
    res = aggs(es, {"dr": {"date_range": {"field": "timestamp", "format": "yyyy-MM-dd HH:mm:ss", "ranges": [
        {"to": "2026-11-24 00:00:00"},
        {"from": "2026-11-24 00:00:00||-1h", "to": "2026-11-24 00:00:00||+1h", "key": "around-midnight"},
        {"from": "2026-11-24 00:00:00"},
    ]}}})["dr"]["buckets"]
    hour = 3_600_000
    t = [ms(d) for d in DOCS]
    assert [b["key"] for b in res] == ["*-2026-11-24 00:00:00", "around-midnight", "2026-11-24 00:00:00-*"]
    assert [b["doc_count"] for b in res] == [
        sum(v < MIDNIGHT_MS for v in t),
        sum(MIDNIGHT_MS - hour <= v < MIDNIGHT_MS + hour for v in t),
        sum(v >= MIDNIGHT_MS for v in t),
    ]
    assert res[0]["to"] == MIDNIGHT_MS and res[0]["to_as_string"] == "2026-11-24 00:00:00"
    assert res[1]["from"] == MIDNIGHT_MS - hour and res[1]["from_as_string"] == "2026-11-23 23:00:00"
    assert res[1]["to"] == MIDNIGHT_MS + hour and res[1]["to_as_string"] == "2026-11-24 01:00:00"
    assert res[2]["from"] == MIDNIGHT_MS and "to" not in res[2]


def test_filter_agg_with_metric(es):
    res = aggs(es, {"errors": {"filter": {"term": {"level.keyword": "ERROR"}},
                               "aggs": {"avg_lat": {"avg": {"field": "latency_ms"}}}}})["errors"]
    lat = [d["latency_ms"] for d in DOCS if d["level"] == "ERROR"]
    assert res["doc_count"] == len(lat)
    assert res["avg_lat"]["value"] == pytest.approx(sum(lat) / len(lat))


def test_filters_agg_keyed_with_other_bucket(es):
    res = aggs(es, {"f": {"filters": {"filters": {
        "errors": {"match": {"level": "ERROR"}},
        "resets": {"match_phrase": {"message": PHRASE}},
    }, "other_bucket_key": "rest"}}})["f"]["buckets"]
    errors = sum(d["level"] == "ERROR" for d in DOCS)
    resets = sum(has_phrase(d, "message", PHRASE) for d in DOCS)
    rest = sum(d["level"] != "ERROR" and not has_phrase(d, "message", PHRASE) for d in DOCS)
    assert {k: v["doc_count"] for k, v in res.items()} == {"errors": errors, "resets": resets, "rest": rest}


def test_filters_agg_anonymous(es):
    res = aggs(es, {"f": {"filters": {"filters": [
        {"term": {"service.keyword": "app1"}}, {"range": {"latency_ms": {"gte": 1000}}}]}}})["f"]["buckets"]
    assert [b["doc_count"] for b in res] == [
        sum(d["service"] == "app1" for d in DOCS), sum(d["latency_ms"] >= 1000 for d in DOCS)]


# ---------------------------------------------------------------------------
# Aggregations: metrics
# ---------------------------------------------------------------------------

APP2 = {"term": {"service.keyword": "app2"}}
APP2_LAT = [d["latency_ms"] for d in DOCS if d["service"] == "app2"]


def test_avg_sum_min_max_value_count(es):
    res = aggs(es, {
        "avg": {"avg": {"field": "latency_ms"}},
        "sum": {"sum": {"field": "latency_ms"}},
        "min": {"min": {"field": "latency_ms"}},
        "max": {"max": {"field": "latency_ms"}},
        "n": {"value_count": {"field": "latency_ms"}},
    }, query=APP2)
    assert res["avg"]["value"] == pytest.approx(sum(APP2_LAT) / len(APP2_LAT))
    assert res["sum"]["value"] == sum(APP2_LAT)
    assert res["min"]["value"] == min(APP2_LAT)
    assert res["max"]["value"] == max(APP2_LAT)
    assert res["n"]["value"] == len(APP2_LAT)


def test_min_max_on_timestamp_have_value_as_string(es):
    res = aggs(es, {"first": {"min": {"field": "timestamp"}}, "last": {"max": {"field": "timestamp"}}})
    first, last = by_time(DOCS)[0], by_time(DOCS)[-1]
    assert res["first"]["value"] == ms(first)
    assert res["first"]["value_as_string"] == first["timestamp"]
    assert res["last"]["value"] == ms(last)
    assert res["last"]["value_as_string"] == last["timestamp"]


def test_value_count_on_sparse_field(es):
    res = aggs(es, {"n": {"value_count": {"field": "user.keyword"}}})
    assert res["n"]["value"] == sum("user" in d for d in DOCS)


def test_stats(es):
    s = aggs(es, {"s": {"stats": {"field": "latency_ms"}}}, query=APP2)["s"]
    assert s["count"] == len(APP2_LAT)
    assert s["min"] == min(APP2_LAT) and s["max"] == max(APP2_LAT)
    assert s["sum"] == sum(APP2_LAT)
    assert s["avg"] == pytest.approx(sum(APP2_LAT) / len(APP2_LAT))


def test_extended_stats(es):
    s = aggs(es, {"s": {"extended_stats": {"field": "latency_ms"}}}, query=APP2)["s"]
    n, total = len(APP2_LAT), sum(APP2_LAT)
    avg = total / n
    sq = sum(v * v for v in APP2_LAT)
    var = sq / n - avg * avg
    assert s["count"] == n and s["sum"] == total
    assert s["min"] == min(APP2_LAT) and s["max"] == max(APP2_LAT)
    assert s["avg"] == pytest.approx(avg)
    assert s["sum_of_squares"] == pytest.approx(sq)
    assert s["variance"] == pytest.approx(var)
    assert s["std_deviation"] == pytest.approx(math.sqrt(var))
    assert s["std_deviation_bounds"]["upper"] == pytest.approx(avg + 2 * math.sqrt(var))
    assert s["std_deviation_bounds"]["lower"] == pytest.approx(avg - 2 * math.sqrt(var))


def test_cardinality(es):
    res = aggs(es, {
        "services": {"cardinality": {"field": "service.keyword"}},
        "hosts": {"cardinality": {"field": "host.keyword"}},
        "users": {"cardinality": {"field": "user.keyword"}},
        "lat": {"cardinality": {"field": "latency_ms"}},
    })
    assert res["services"]["value"] == 4
    assert res["hosts"]["value"] == len(HOSTS)
    exact_users = len({d["user"] for d in DOCS if "user" in d})
    exact_lat = len({d["latency_ms"] for d in DOCS})
    assert abs(res["users"]["value"] - exact_users) <= max(1, exact_users // 100)
    assert abs(res["lat"]["value"] - exact_lat) <= max(1, exact_lat // 100)


def test_percentiles_default_percents(es):
    res = aggs(es, {"p": {"percentiles": {"field": "latency_ms"}}})["p"]["values"]
    lat = sorted(d["latency_ms"] for d in DOCS)
    tol = 0.02 * (lat[-1] - lat[0])
    assert set(res) == {"1.0", "5.0", "25.0", "50.0", "75.0", "95.0", "99.0"}
    for key, value in res.items():
        assert abs(value - percentile(lat, float(key))) <= tol, key


def test_percentiles_explicit_percents(es):
    res = aggs(es, {"p": {"percentiles": {"field": "latency_ms", "percents": [50, 90, 99.9]}}}, query=APP2)["p"]
    lat = sorted(APP2_LAT)
    tol = 0.02 * (lat[-1] - lat[0])
    assert set(res["values"]) == {"50.0", "90.0", "99.9"}
    for key, value in res["values"].items():
        assert abs(value - percentile(lat, float(key))) <= tol, key


def test_top_hits_under_terms(es):
    res = aggs(es, {"svc": {"terms": {"field": "service.keyword"}, "aggs": {"latest": {"top_hits": {
        "size": 3, "sort": [{"timestamp": {"order": "desc"}}], "_source": {"includes": ["timestamp", "seq"]}}}}}})
    buckets = res["svc"]["buckets"]
    assert [b["key"] for b in buckets] == ["app1", "app2", "app3", "app4"]
    for b in buckets:
        mine = by_time([d for d in DOCS if d["service"] == b["key"]], reverse=True)
        hits = b["latest"]["hits"]
        assert hits["total"]["value"] == len(mine) == b["doc_count"]
        assert [h["_source"] for h in hits["hits"]] == [{"timestamp": d["timestamp"], "seq": d["seq"]} for d in mine[:3]]


def test_nested_terms_date_histogram_avg(es):
    res = aggs(es, {"svc": {"terms": {"field": "service.keyword"}, "aggs": {"per_hour": {
        "date_histogram": {"field": "timestamp", "calendar_interval": "hour"},
        "aggs": {"lat": {"avg": {"field": "latency_ms"}}}}}}})
    for b in res["svc"]["buckets"]:
        mine = [d for d in DOCS if d["service"] == b["key"]]
        by_hour = defaultdict(list)
        for d in mine:
            by_hour[ms(d) // 3_600_000 * 3_600_000].append(d["latency_ms"])
        want = histogram_oracle([ms(d) for d in mine], 3_600_000)
        got = b["per_hour"]["buckets"]
        assert [(h["key"], h["doc_count"]) for h in got] == want
        for h in got:
            vals = by_hour.get(h["key"])
            if vals:
                assert h["lat"]["value"] == pytest.approx(sum(vals) / len(vals))
            else:
                assert h["lat"]["value"] is None


def test_percentile_oracle_sanity():
    vals = list(range(101))
    assert percentile(vals, 50) == 50 and percentile(vals, 99) == 99
    assert percentile([0, 10], 25) == 2.5


# ---------------------------------------------------------------------------
# Highlighting and sorting on unmapped fields
# ---------------------------------------------------------------------------


def highlighted(text, phrase, pre="<em>", post="</em>"):
    """`text` with every word of each occurrence of `phrase` wrapped in the tags."""
    words = list(re.finditer(r"\w+", text))
    want = tokens(phrase)
    marked = set()
    for i in range(len(words) - len(want) + 1):
        if [w.group().lower() for w in words[i : i + len(want)]] == want:
            marked.update(range(i, i + len(want)))
    out, at = [], 0
    for i in sorted(marked):
        w = words[i]
        out += [text[at : w.start()], pre, w.group(), post]
        at = w.end()
    return "".join(out) + text[at:]


def test_highlight_marks_the_phrase_in_every_hit(es):
    body = {
        "query": {"match_phrase": {"message": PHRASE}},
        "size": 10000,
        "_source": ["seq"],
        "highlight": {"pre_tags": ["<mark>"], "post_tags": ["</mark>"], "fields": {"message": {}}},
    }
    resp = search(es, body, track_total_hits=True)
    expected = {
        d["seq"]: [highlighted(d["message"], PHRASE, "<mark>", "</mark>")]
        for d in DOCS
        if has_phrase(d, "message", PHRASE)
    }
    assert expected
    got = {h["_source"]["seq"]: h["highlight"]["message"] for h in resp["hits"]["hits"]}
    assert got == expected


def test_highlight_of_query_string_terms_with_default_tags(es):
    body = {
        "query": {"query_string": {"query": "message:timeout AND level:WARN"}},
        "size": 10000,
        "highlight": {"fields": {"message": {}, "level": {}}},
    }
    resp = search(es, body)
    pool = [d for d in DOCS if has_word(d, "message", "timeout") and d["level"] == "WARN"]
    assert pool
    assert len(resp["hits"]["hits"]) == len(pool)
    for h in resp["hits"]["hits"]:
        msg = h["_source"]["message"]
        assert h["highlight"] == {
            "message": [highlighted(msg, "timeout")],
            "level": ["<em>WARN</em>"],
        }


def test_sort_on_unmapped_field_is_a_bad_request(es):
    with pytest.raises(BadRequest) as e:
        search(es, {"query": {"match_all": {}}, "sort": [{"no_such_field": "asc"}]})
    assert e.value.status_code == 400
    info = error_info(e)
    assert info["error"]["type"] == "query_shard_exception"
    assert "No mapping found for [no_such_field] in order to sort on" in info["error"]["reason"]
    resp = search(
        es,
        {"size": 5, "sort": [{"no_such_field": {"order": "asc", "unmapped_type": "long"}}, {"@timestamp": "asc"}]},
    )
    first = by_time(DOCS)[:5]
    assert [h["sort"] for h in resp["hits"]["hits"]] == [[2**63 - 1, ms(d)] for d in first]


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


def test_unknown_query_clause_is_400_naming_it(es):
    with pytest.raises(BadRequest) as e:
        search(es, {"query": {"no_such_query": {"field": "x"}}})
    assert e.value.status_code == 400
    info = error_info(e)
    assert info["status"] == 400
    assert info["error"]["type"] == "parsing_exception"
    assert "no_such_query" in info["error"]["reason"]
    assert "no_such_query" in info["error"]["root_cause"][0]["reason"]


def test_unknown_aggregation_is_400(es):
    with pytest.raises(BadRequest) as e:
        aggs(es, {"x": {"no_such_agg": {"field": "latency_ms"}}})
    assert e.value.status_code == 400
    assert "no_such_agg" in error_info(e)["error"]["reason"]


def test_search_missing_index_is_404(es):
    with pytest.raises(NotFoundError) as e:
        search(es, {"query": {"match_all": {}}}, index="no-such-index")
    assert e.value.status_code == 404
    assert error_info(e)["error"]["type"] == "index_not_found_exception"


def test_ignore_unavailable_avoids_404(es):
    resp = search(es, {"query": {"match_all": {}}}, index="no-such-index", ignore_unavailable=True)
    assert resp["hits"]["total"]["value"] == 0 and resp["hits"]["hits"] == []


def test_ignore_unavailable_keeps_existing_index(es):
    resp = search(es, {"query": {"match_all": {}}}, index=DAY1 + ",no-such-index",
                  ignore_unavailable=True, track_total_hits=True)
    assert resp["hits"]["total"]["value"] == sum(index_of(d) == DAY1 for d in DOCS)


def test_wildcard_matching_no_index_is_empty(es):
    resp = search(es, {"query": {"match_all": {}}}, index="nothing-here-*")
    assert resp["hits"]["total"]["value"] == 0


def test_server_still_serves_after_errors(es):
    for _ in range(3):
        with pytest.raises(BadRequest):
            search(es, {"query": {"no_such_query": {}}})
    assert count(es) == N_DOCS


def test_unsupported_api_is_400_no_handler_found(es):
    # Issue 10, item 6: an API name is never an index; the client gets
    # Elasticsearch's RestController answer, not "no such index [_snapshot]".
    with pytest.raises(BadRequest) as e:
        es.snapshot.get_repository()
    assert e.value.status_code == 400
    assert error_info(e) == {"error": "no handler found for uri [/_snapshot] and method [GET]"}


def test_nodes_info_is_the_one_node(es):
    nodes = raw(es.nodes.info())["nodes"]
    assert len(nodes) == 1
    assert list(nodes.values())[0]["version"] == "8.11.0"


def test_bulk_malformed_action_line_is_400_naming_the_line(es):
    # Issue 10, item 7: the whole request is refused, as Elasticsearch does.
    body = '{"index":{"_index":"%s"}}\n{"m":1}\n{"msg":"x"}\n{"m":2}\n' % DAY1
    with pytest.raises(BadRequest) as e:
        es.bulk(body=body)
    assert e.value.status_code == 400
    assert error_info(e)["error"]["type"] == "illegal_argument_exception"
    assert error_info(e)["error"]["reason"] == (
        "Malformed action/metadata line [3], expected field [create], [delete], "
        "[index] or [update] but found [msg]")
    assert count(es) == N_DOCS


def test_cat_indices_json_with_columns_and_sort(es):
    # Issue 10, item 14.
    rows = raw(es.cat.indices(index=INDEX_PATTERN, format="json", h="i,dc", s="i:desc"))
    want = Counter(index_of(d) for d in DOCS)
    assert [(r["i"], int(r["dc"])) for r in rows] == sorted(want.items(), reverse=True)


def test_cat_count_and_health_as_text(es):
    text = raw(es.cat.count(index=INDEX_PATTERN, h="count"))
    assert text == "%d\n" % N_DOCS
    lines = raw(es.cat.health(v=True)).splitlines()
    assert lines[0].split()[:4] == ["epoch", "timestamp", "cluster", "status"]
    assert lines[1].split()[2:4] == ["logweave", "green"]


def test_msearch_answers_each_search_with_its_own_status(es):
    """What Grafana and scripts send: several searches in one request; a bad
    one fails alone, the others answer as `search` would."""
    want_err = sorted(d["seq"] for d in DOCS if d["level"] == "ERROR")
    assert want_err and len(want_err) < len(DOCS)
    searches = [
        {"index": INDEX_PATTERN},
        {"query": {"term": {"level.keyword": "ERROR"}}, "size": 10000},
        {"index": INDEX_PATTERN},
        {"query": {"query_string": {"query": "level:("}}},
        {"index": INDEX_PATTERN, "ignore_unavailable": True},
        {"size": 0, "track_total_hits": True},
    ]
    if ES_MAJOR >= 8:
        resp = raw(es.msearch(searches=searches))
    else:
        resp = raw(es.msearch(body=searches))
    r = resp["responses"]
    assert len(r) == 3
    assert r[0]["status"] == 200
    assert hit_seqs(r[0]) == want_err
    assert r[1]["status"] == 400 and r[1]["error"]["type"] == "query_shard_exception"
    assert r[2]["status"] == 200 and r[2]["hits"]["total"]["value"] == len(DOCS)


def test_pretty_is_indented_json(server_url):
    import json
    import urllib.request

    with urllib.request.urlopen(server_url + "/" + INDEX_PATTERN + "/_count?pretty") as f:
        text = f.read().decode()
    assert "\n" in text and text.endswith("}\n")
    assert json.loads(text)["count"] == len(DOCS)


def test_delete_a_document_and_bulk_deletes(es):
    index = "py-delete-%d" % ES_MAJOR
    ops = []
    for i in range(5):
        ops += [{"index": {"_index": index, "_id": "p%d" % i}}, {"n": i}]
    assert not bulk(es, ops, refresh=True)["errors"]
    r = raw(es.delete(index=index, id="p1", refresh=True))
    assert r["result"] == "deleted"
    with pytest.raises(NotFoundError):
        es.get(index=index, id="p1")
    with pytest.raises(NotFoundError):
        es.delete(index=index, id="p1")
    r = bulk(es, [{"delete": {"_index": index, "_id": "p2"}}, {"delete": {"_index": index, "_id": "zz"}}], refresh=True)
    assert [it["delete"]["result"] for it in r["items"]] == ["deleted", "not_found"]
    assert [it["delete"]["status"] for it in r["items"]] == [200, 404]
    assert count(es, index=index) == 3
    left = sorted(h["_id"] for h in search(es, {"size": 10}, index=index)["hits"]["hits"])
    assert left == ["p0", "p3", "p4"]


def test_mget_finds_each_document_or_says_not_found(es):
    index = "py-mget-%d" % ES_MAJOR
    ops = []
    for i in range(3):
        ops += [{"index": {"_index": index, "_id": "m%d" % i}}, {"n": i}]
    assert not bulk(es, ops)["errors"]
    ids = ["m2", "nope", "m0"]
    if ES_MAJOR >= 8:
        r = raw(es.mget(index=index, ids=ids))
        r2 = raw(es.mget(docs=[{"_index": index, "_id": "m1"}]))
    else:
        r = raw(es.mget(index=index, body={"ids": ids}))
        r2 = raw(es.mget(body={"docs": [{"_index": index, "_id": "m1"}]}))
    assert [d["found"] for d in r["docs"]] == [True, False, True], "real-time, without a refresh"
    assert [d["_source"]["n"] for d in r["docs"] if d["found"]] == [2, 0]
    assert r2["docs"][0]["_source"] == {"n": 1}


def test_update_merges_a_partial_document(es):
    index = "py-update-%d" % ES_MAJOR
    es.index(index=index, id="u1", document={"a": 1, "nested": {"x": 1, "y": 2}}, refresh=True) if ES_MAJOR >= 8 \
        else es.index(index=index, id="u1", body={"a": 1, "nested": {"x": 1, "y": 2}}, refresh=True)
    def update(id, **body):
        if ES_MAJOR >= 8:
            return raw(es.update(index=index, id=id, **body))
        return raw(es.update(index=index, id=id, body=body))
    r = update("u1", doc={"b": 2, "nested": {"y": 3}})
    assert r["result"] == "updated"
    got = raw(es.get(index=index, id="u1"))["_source"]
    assert got == {"a": 1, "b": 2, "nested": {"x": 1, "y": 3}}, "objects merge key by key"
    assert update("u1", doc={"b": 2})["result"] == "noop"
    with pytest.raises(NotFoundError):
        update("missing", doc={"c": 1})
    assert update("u2", doc={"c": 1}, doc_as_upsert=True)["result"] == "created"
    assert raw(es.get(index=index, id="u2"))["_source"] == {"c": 1}


def test_aliases_and_index_templates_through_the_client(es):
    """What Logstash and Beats do on start, through the client's own
    indices API: install a template, write to a daily index it matches,
    read through the template's alias and a second one added by hand."""
    name = "py-tpl-%d" % ES_MAJOR
    props = {"status": {"type": "keyword"}, "took_ms": {"type": "long"}}
    if ES_MAJOR >= 8:
        es.indices.put_index_template(
            name=name, index_patterns=[name + "-*"], priority=50,
            template={"mappings": {"properties": props}, "aliases": {name: {}}})
    else:
        es.indices.put_index_template(name=name, body={
            "index_patterns": [name + "-*"], "priority": 50,
            "template": {"mappings": {"properties": props}, "aliases": {name: {}}}})
    assert es.indices.exists_index_template(name=name)
    got = raw(es.indices.get_index_template(name=name))["index_templates"][0]
    assert got["index_template"]["index_patterns"] == [name + "-*"]

    days = ["2026.11.30", "2026.12.01"]
    ops = []
    for i in range(12):
        ops.append({"index": {"_index": "%s-%s" % (name, days[i % 2])}})
        ops.append({"status": 200 + (i % 3), "took_ms": i, "message": "m%d" % i})
    r = raw(bulk(es, ops, refresh=True))
    assert r["errors"] is False
    day = "%s-%s" % (name, days[0])
    mapping = raw(es.indices.get_mapping(index=day))[day]["mappings"]["properties"]
    assert mapping["status"]["type"] == "keyword", "the template's type, not the dynamic long"
    assert count(es, index=name) == 12

    extra = name + "-even"
    es.indices.put_alias(index=day, name=extra)
    assert es.indices.exists_alias(name=extra)
    assert count(es, index=extra) == 6
    got = raw(es.indices.get_alias(name=extra))
    assert got == {day: {"aliases": {extra: {}}}}
    es.indices.delete_alias(index=day, name=extra)
    assert not es.indices.exists_alias(name=extra)
    with pytest.raises(NotFoundError):
        es.indices.get_alias(name=extra)
    es.indices.delete_index_template(name=name)
    assert not es.indices.exists_index_template(name=name)


@pytest.mark.filterwarnings("ignore:This API is in technical preview")
def test_delete_by_query_and_its_task_through_the_client(es):
    index = "py-dbq-%d" % ES_MAJOR
    ops = []
    for i in range(40):
        ops.append({"index": {"_index": index, "_id": "q%d" % i}})
        ops.append({"n": i, "user": "carol" if i % 4 == 0 else "dave"})
    assert raw(bulk(es, ops, refresh=True))["errors"] is False
    query = {"match": {"user": "carol"}}
    if ES_MAJOR >= 8:
        r = raw(es.delete_by_query(index=index, query=query, refresh=True))
    else:
        r = raw(es.delete_by_query(index=index, body={"query": query}, refresh=True))
    assert r["deleted"] == 10 and r["total"] == 10
    assert count(es, index=index) == 30
    later = {"range": {"n": {"gte": 30}}}
    if ES_MAJOR >= 8:
        task = raw(es.delete_by_query(index=index, query=later, wait_for_completion=False))["task"]
    else:
        task = raw(es.delete_by_query(index=index, body={"query": later}, wait_for_completion=False))["task"]
    done = raw(es.tasks.get(task_id=task, wait_for_completion=True, timeout="30s"))
    assert done["completed"] is True
    # 30..39 minus carol's 32 and 36
    assert done["response"]["deleted"] == 8
    es.indices.refresh(index=index)
    assert count(es, index=index) == 22

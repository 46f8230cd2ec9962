//! What Grafana's Elasticsearch data source sends (Grafana 12, the request
//! shapes its query builder produces), replayed against a server filled with
//! generated events whose counts the test computes itself: the health
//! check, field discovery, logs queries (the time from each hit's `fields`,
//! highlights, log context with `search_after`), the logs volume histogram
//! with its zero buckets, metrics per interval, `_msearch` with a failing
//! entry between good ones, and `?pretty`.

mod util;

use std::collections::BTreeMap;

use serde_json::{json, Value};
use util::{ndjson, test_config, InProcess};

const LEVELS: [&str; 3] = ["info", "warn", "error"];
const SERVICES: [&str; 4] = ["api", "web", "db", "auth"];
const MINUTE: i64 = 60_000;
/// Minutes of data; minute `GAP` has no events (a zero bucket).
const MINUTES: i64 = 30;
const GAP: i64 = 17;
const PER_MINUTE: i64 = 25;

struct Ev {
    ts: i64,
    level: &'static str,
    service: &'static str,
    latency: i64,
    message: String,
}

fn events(start: i64) -> Vec<Ev> {
    let mut out = Vec::new();
    for m in 0..MINUTES {
        if m == GAP {
            continue;
        }
        for j in 0..PER_MINUTE {
            let i = out.len();
            out.push(Ev {
                ts: start + m * MINUTE + j * (MINUTE / PER_MINUTE) + (i as i64 % 7),
                level: LEVELS[i % 3],
                service: SERVICES[i % 4],
                latency: (i as i64 * 37) % 1000,
                message: if i % 10 == 0 {
                    format!(
                        "upstream timeout after {} ms req_id={:016x}",
                        (i * 37) % 1000,
                        i * 7919
                    )
                } else {
                    format!("request {i} served")
                },
            });
        }
    }
    out
}

fn iso(ms: i64) -> String {
    logweave::event::timestamp::format_iso_millis(ms)
}

async fn msearch(s: &InProcess, lines: &[Value]) -> Value {
    let mut body = String::new();
    for l in lines {
        body.push_str(&l.to_string());
        body.push('\n');
    }
    // Grafana sends `application/x-ndjson`; any type must do
    let r = s
        .http
        .send(
            "POST",
            "/_msearch?max_concurrent_shard_requests=5",
            Some((body.into_bytes(), "application/json")),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    r.json()
}

fn header(index: &str) -> Value {
    json!({"search_type": "query_then_fetch", "ignore_unavailable": true, "index": index})
}

fn range(from: i64, to: i64) -> Value {
    json!({"range": {"@timestamp": {"gte": from, "lte": to, "format": "epoch_millis"}}})
}

#[tokio::test]
async fn grafana_data_source_requests() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = InProcess::start(test_config(dir.path())).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let start = (now / MINUTE - MINUTES - 5) * MINUTE;
    let evs = events(start);
    let items: Vec<(Value, Value)> = evs
        .iter()
        .map(|e| {
            (
                json!({"index": {"_index": "grafana-logs"}}),
                json!({"@timestamp": iso(e.ts), "level": e.level, "service": e.service, "latency_ms": e.latency, "message": e.message}),
            )
        })
        .collect();
    let r = s
        .http
        .post_ndjson("/_bulk?refresh=true", ndjson(&items))
        .await;
    assert_eq!(r.json()["errors"], false, "{}", r.text_preview());
    let (from, to) = (start, start + MINUTES * MINUTE - 1);

    // "Save & test": the root, the health check, the time field's caps
    let r = s.http.get("/").await;
    assert_eq!(r.json()["version"]["number"], "8.11.0");
    assert_eq!(r.json()["version"]["build_flavor"], "default");
    let r = s
        .http
        .get("/_cluster/health?wait_for_status=yellow&timeout=10s")
        .await;
    assert_eq!(r.status, 200);
    let r = s.http.get("/grafana-*/_field_caps?fields=@timestamp").await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    let caps = r.json();
    assert_eq!(caps["indices"], json!(["grafana-logs"]));
    assert_eq!(caps["fields"]["@timestamp"]["date"]["type"], "date");
    assert_eq!(caps["fields"]["@timestamp"]["date"]["aggregatable"], true);
    assert_eq!(
        caps["fields"].as_object().map(|m| m.len()),
        Some(1),
        "only the field asked for"
    );
    let r = s.http.get("/grafana-*/_field_caps?fields=*").await;
    let f = &r.json()["fields"];
    assert_eq!(f["level"]["text"]["aggregatable"], false);
    assert_eq!(f["level.keyword"]["keyword"]["aggregatable"], true);
    assert_eq!(f["latency_ms"]["long"]["searchable"], true);
    assert_eq!(
        f["@level"]["keyword"]["aggregatable"], true,
        "the normalised level is offered"
    );
    let r = s.http.get("/grafana-*/_field_caps").await;
    util::assert_es_error(&r, 400);

    // Explore: the logs query, the logs volume, and a bad query between them
    let logs = json!({
        "size": 500,
        "query": {"bool": {"filter": [range(from, to), {"query_string": {"analyze_wildcard": true, "query": "message:timeout"}}]}},
        "sort": {"@timestamp": {"order": "desc", "unmapped_type": "boolean"}, "_doc": {"order": "desc"}},
        "script_fields": {},
        "fields": [{"field": "@timestamp", "format": "strict_date_optional_time_nanos"}],
        "docvalue_fields": [{"field": "@timestamp", "format": "strict_date_optional_time_nanos"}],
        "highlight": {"pre_tags": ["@HIGHLIGHT@"], "post_tags": ["@/HIGHLIGHT@"], "fragment_size": 2147483647, "fields": {"*": {}}},
    });
    let volume = json!({
        "size": 0,
        "query": {"bool": {"filter": range(from, to)}},
        "aggs": {"2": {
            "date_histogram": {"field": "@timestamp", "fixed_interval": "60000ms", "min_doc_count": 0,
                "extended_bounds": {"min": from, "max": to}, "format": "epoch_millis"},
            "aggs": {"3": {"terms": {"field": "level.keyword", "size": 500, "order": {"_count": "desc"}, "min_doc_count": 1}}},
        }},
    });
    let broken = json!({"size": 0, "query": {"query_string": {"query": "level:(", "analyze_wildcard": true}}});
    let metrics = json!({
        "size": 0,
        "query": {"bool": {"filter": [range(from, to), {"query_string": {"analyze_wildcard": true, "query": "*"}}]}},
        "aggs": {"2": {
            "terms": {"field": "service.keyword", "size": 10, "order": {"1": "desc"}, "min_doc_count": 1},
            "aggs": {"1": {"max": {"field": "latency_ms"}}, "4": {"avg": {"field": "latency_ms"}}},
        }},
    });
    let v = msearch(
        &s,
        &[
            header("grafana-*"),
            logs,
            header("grafana-*"),
            volume,
            header("grafana-*"),
            broken,
            header("grafana-logs"),
            metrics,
        ],
    )
    .await;
    let resp = v["responses"].as_array().expect("responses");
    assert_eq!(resp.len(), 4, "one entry per query");

    // logs: the timeout events, newest first, time in `fields`, highlighted
    let want: Vec<&Ev> = {
        let mut w: Vec<&Ev> = evs
            .iter()
            .filter(|e| e.message.contains("timeout"))
            .collect();
        w.sort_by_key(|e| std::cmp::Reverse(e.ts));
        w
    };
    assert_eq!(resp[0]["status"], 200);
    let hits = resp[0]["hits"]["hits"].as_array().expect("hits");
    assert_eq!(resp[0]["hits"]["total"]["value"], want.len());
    assert_eq!(hits.len(), want.len());
    for (h, e) in hits.iter().zip(&want) {
        assert_eq!(
            h["fields"]["@timestamp"],
            json!([iso(e.ts)]),
            "the time Grafana reads"
        );
        assert_eq!(h["_source"]["message"], e.message);
        let hl = h["highlight"]["message"][0].as_str().unwrap_or_default();
        assert!(
            hl.contains("@HIGHLIGHT@timeout@/HIGHLIGHT@"),
            "highlight with Grafana's tags: {hl}"
        );
    }

    // volume: every minute inside the bounds, the gap as a zero bucket
    assert_eq!(resp[1]["status"], 200);
    let buckets = resp[1]["aggregations"]["2"]["buckets"]
        .as_array()
        .expect("buckets");
    assert_eq!(
        buckets.len() as i64,
        MINUTES,
        "one bucket per minute of the bounds"
    );
    let mut per_min: BTreeMap<i64, BTreeMap<&str, u64>> = BTreeMap::new();
    for e in &evs {
        *per_min
            .entry((e.ts - start) / MINUTE)
            .or_default()
            .entry(e.level)
            .or_default() += 1;
    }
    for (m, b) in buckets.iter().enumerate() {
        let m = m as i64;
        assert_eq!(b["key"], start + m * MINUTE);
        assert_eq!(
            b["key_as_string"],
            (start + m * MINUTE).to_string(),
            "format epoch_millis"
        );
        let want = per_min.get(&m).cloned().unwrap_or_default();
        assert_eq!(b["doc_count"], want.values().sum::<u64>(), "minute {m}");
        let got: BTreeMap<&str, u64> = b["3"]["buckets"]
            .as_array()
            .expect("level buckets")
            .iter()
            .map(|x| {
                (
                    x["key"].as_str().expect("key"),
                    x["doc_count"].as_u64().expect("n"),
                )
            })
            .collect();
        assert_eq!(got, want, "levels of minute {m}");
        if m == GAP {
            assert_eq!(b["doc_count"], 0, "the empty minute is a zero bucket");
        }
    }

    // the bad query fails alone, in Elasticsearch's shape
    assert_eq!(resp[2]["status"], 400);
    assert_eq!(resp[2]["error"]["type"], "query_shard_exception");
    assert!(resp[2]["error"]["reason"]
        .as_str()
        .unwrap_or_default()
        .contains("level:("));

    // metrics: max and avg latency per service, ordered by the max
    assert_eq!(resp[3]["status"], 200);
    let mut by_svc: BTreeMap<&str, (i64, f64, usize)> = BTreeMap::new();
    for e in &evs {
        let x = by_svc.entry(e.service).or_insert((i64::MIN, 0.0, 0));
        x.0 = x.0.max(e.latency);
        x.1 += e.latency as f64;
        x.2 += 1;
    }
    let got = resp[3]["aggregations"]["2"]["buckets"]
        .as_array()
        .expect("buckets");
    assert_eq!(got.len(), SERVICES.len());
    let maxes: Vec<f64> = got
        .iter()
        .map(|b| b["1"]["value"].as_f64().expect("max"))
        .collect();
    assert!(
        maxes.windows(2).all(|w| w[0] >= w[1]),
        "ordered by the max: {maxes:?}"
    );
    for b in got {
        let (mx, sum, n) = by_svc[b["key"].as_str().expect("key")];
        assert_eq!(b["1"]["value"].as_f64(), Some(mx as f64));
        let avg = b["4"]["value"].as_f64().expect("avg");
        assert!(
            (avg - sum / n as f64).abs() < 1e-9,
            "avg {avg} vs {}",
            sum / n as f64
        );
    }

    // a time series panel: avg latency per minute with Grafana's pipelines
    let panel = json!({
        "size": 0,
        "query": {"bool": {"filter": [range(from, to), {"query_string": {"analyze_wildcard": true, "query": "*"}}]}},
        "aggs": {
            "2": {
                "date_histogram": {"field": "@timestamp", "fixed_interval": "60000ms", "min_doc_count": 0,
                    "extended_bounds": {"min": from, "max": to}, "format": "epoch_millis"},
                "aggs": {
                    "1": {"avg": {"field": "latency_ms"}},
                    "3": {"derivative": {"buckets_path": "1"}},
                    "4": {"cumulative_sum": {"buckets_path": "_count"}},
                    "5": {"moving_fn": {"buckets_path": "1", "window": 5, "script": "MovingFunctions.unweightedAvg(values)"}},
                    "6": {"bucket_script": {"buckets_path": {"var1": "1", "var2": "_count"}, "script": "params.var1 * 2 + params.var2"}},
                },
            },
            "7": {"max_bucket": {"buckets_path": "2>1"}},
        },
    });
    let v = msearch(&s, &[header("grafana-*"), panel]).await;
    let r0 = &v["responses"][0];
    assert_eq!(r0["status"], 200, "{r0}");
    let buckets = r0["aggregations"]["2"]["buckets"]
        .as_array()
        .expect("buckets");
    // the oracle: per minute count and average, then the pipelines by hand
    let mut avg: Vec<Option<f64>> = Vec::new();
    let mut cnt: Vec<u64> = Vec::new();
    for m in 0..MINUTES {
        let xs: Vec<i64> = evs
            .iter()
            .filter(|e| (e.ts - start) / MINUTE == m)
            .map(|e| e.latency)
            .collect();
        cnt.push(xs.len() as u64);
        avg.push((!xs.is_empty()).then(|| xs.iter().sum::<i64>() as f64 / xs.len() as f64));
    }
    let close = |a: Option<f64>, b: Option<f64>, what: String| match (a, b) {
        (Some(a), Some(b)) => assert!((a - b).abs() < 1e-6, "{what}: {a} vs {b}"),
        (a, b) => assert_eq!(a, b, "{what}"),
    };
    let mut prev: Option<f64> = None;
    let mut cum = 0u64;
    for (m, b) in buckets.iter().enumerate() {
        close(
            b["1"]["value"].as_f64(),
            avg[m],
            format!("avg of minute {m}"),
        );
        let want_d = match (avg[m], prev) {
            (Some(a), Some(p)) => Some(a - p),
            _ => None,
        };
        close(
            b.get("3").and_then(|x| x["value"].as_f64()),
            want_d,
            format!("derivative of minute {m}"),
        );
        if avg[m].is_some() {
            prev = avg[m];
        }
        cum += cnt[m];
        assert_eq!(
            b["4"]["value"].as_f64(),
            Some(cum as f64),
            "cumulative count of minute {m}"
        );
        let win: Vec<f64> = (m.saturating_sub(5)..m).filter_map(|j| avg[j]).collect();
        let want_mv = (!win.is_empty()).then(|| win.iter().sum::<f64>() / win.len() as f64);
        close(
            b["5"]["value"].as_f64(),
            want_mv,
            format!("moving average of minute {m}"),
        );
        close(
            b.get("6").and_then(|x| x["value"].as_f64()),
            avg[m].map(|a| a * 2.0 + cnt[m] as f64),
            format!("bucket_script of minute {m}"),
        );
    }
    let max = avg.iter().flatten().copied().fold(f64::MIN, f64::max);
    close(
        r0["aggregations"]["7"]["value"].as_f64(),
        Some(max),
        "max_bucket".into(),
    );
    // rate (per second, of a field and of documents) and top_metrics (the
    // newest event's latency) per minute, as Grafana's metric editor sends
    let rate_q = json!({"size": 0, "query": {"bool": {"filter": range(from, to)}},
    "aggs": {"2": {"date_histogram": {"field": "@timestamp", "fixed_interval": "60000ms", "min_doc_count": 0,
        "extended_bounds": {"min": from, "max": to}, "format": "epoch_millis"},
        "aggs": {
            "r": {"rate": {"field": "latency_ms", "unit": "second"}},
            "d": {"rate": {"unit": "second"}},
            "t": {"top_metrics": {"metrics": [{"field": "latency_ms"}], "size": 1, "sort": {"@timestamp": "desc"}}},
        }}}});
    let v = msearch(&s, &[header("grafana-*"), rate_q]).await;
    let rb = v["responses"][0]["aggregations"]["2"]["buckets"]
        .as_array()
        .unwrap_or_else(|| panic!("rate buckets: {v}"))
        .clone();
    assert_eq!(rb.len() as i64, MINUTES);
    for (m, b) in rb.iter().enumerate() {
        let in_minute: Vec<&Ev> = evs
            .iter()
            .filter(|e| (e.ts - start) / MINUTE == m as i64)
            .collect();
        let sum: i64 = in_minute.iter().map(|e| e.latency).sum();
        close(
            b["r"]["value"].as_f64(),
            Some(sum as f64 / 60.0),
            format!("rate of latency in minute {m}"),
        );
        close(
            b["d"]["value"].as_f64(),
            Some(in_minute.len() as f64 / 60.0),
            format!("rate of events in minute {m}"),
        );
        let newest = in_minute.iter().max_by_key(|e| e.ts);
        let top = b["t"]["top"].as_array().expect("top");
        match newest {
            Some(e) => assert_eq!(
                top[0]["metrics"]["latency_ms"], e.latency,
                "top_metrics of minute {m}"
            ),
            None => assert!(top.is_empty(), "minute {m} has no events"),
        }
    }
    // a rate outside a date histogram is an error entry
    let v = msearch(
        &s,
        &[
            header("grafana-*"),
            json!({"size": 0, "aggs": {"r": {"rate": {"unit": "second"}}}}),
        ],
    )
    .await;
    assert_eq!(v["responses"][0]["status"], 400, "{v}");

    // a bucket path to nothing is an error entry naming it
    let bad_path = json!({"size": 0, "aggs": {"2": {"date_histogram": {"field": "@timestamp", "fixed_interval": "60000ms"},
        "aggs": {"3": {"derivative": {"buckets_path": "nothing"}}}}}});
    let v = msearch(&s, &[header("grafana-*"), bad_path]).await;
    assert_eq!(v["responses"][0]["status"], 400);
    assert!(v["responses"][0]["error"]["reason"]
        .as_str()
        .unwrap_or_default()
        .contains("[nothing]"));

    // log context: the lines after one, order flipped, from its sort values
    let anchor = &hits[3];
    let sort = anchor["sort"].clone();
    let ctx = json!({
        "size": 5,
        "query": {"bool": {"filter": [range(from, to), {"query_string": {"analyze_wildcard": true, "query": "message:timeout"}}]}},
        "sort": [{"@timestamp": {"order": "asc", "unmapped_type": "boolean"}}, {"_doc": {"order": "asc"}}],
        "search_after": sort,
        "fields": [{"field": "@timestamp", "format": "strict_date_optional_time_nanos"}],
    });
    let v = msearch(&s, &[header("grafana-*"), ctx]).await;
    let after: Vec<String> = v["responses"][0]["hits"]["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| {
            h["_source"]["message"]
                .as_str()
                .expect("message")
                .to_string()
        })
        .collect();
    let want_after: Vec<String> = want[..3].iter().rev().map(|e| e.message.clone()).collect();
    assert_eq!(after, want_after, "the three newer lines, oldest first");

    // a malformed line fails the request with its line number
    let r = s
        .http
        .send(
            "POST",
            "/_msearch",
            Some((b"{}\n{}\n{oops\n{}\n".to_vec(), "application/x-ndjson")),
        )
        .await;
    let (_, reason) = util::assert_es_error(&r, 400);
    assert!(reason.contains("line 3"), "{reason}");

    // ?pretty: the same answer, indented, with a final newline
    let r = s.http.get("/grafana-logs/_count?pretty").await;
    let text = String::from_utf8(r.body.clone()).expect("UTF-8");
    assert!(
        text.contains("\n  \"count\": ") && text.ends_with("}\n"),
        "{text}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(&text).expect("valid JSON")["count"],
        evs.len()
    );
    // ?filter_path: only the paths asked for, on any endpoint
    let r = s
        .http
        .get("/grafana-logs/_search?filter_path=hits.total.value,-took&size=0")
        .await;
    assert_eq!(r.json(), json!({"hits": {"total": {"value": evs.len()}}}));
    let r = s.http.get("/grafana-logs/_count?pretty=false").await;
    assert!(!String::from_utf8_lossy(&r.body).contains('\n'));
    s.shutdown().await;
}

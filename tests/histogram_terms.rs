//! The dashboard's volume query, a `date_histogram` stacked by a keyword
//! (`terms` inside), over several segments, with documents missing the
//! keyword (counted under `missing` when asked, else only in the bucket),
//! a time zone and a calendar interval: each bucket and stack checked
//! against counts computed from the generated documents.

mod util;

use std::collections::BTreeMap;

use serde_json::{json, Value};
use util::{ndjson, test_config, InProcess};

const LEVELS: [&str; 3] = ["INFO", "WARN", "ERROR"];
const HOUR: i64 = 3_600_000;

/// An interval, a time zone, whether `missing` is asked, and the rule that
/// gives an event's bucket start.
type Case<'a> = (Value, Option<&'a str>, bool, Box<dyn Fn(i64) -> i64>);

#[tokio::test]
async fn histogram_stacked_by_level_matches_the_generated_counts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = InProcess::start(test_config(dir.path())).await;
    let start = 1_795_000_000_000 - 1_795_000_000_000 % HOUR; // an hour boundary
                                                              // (time, level or none) for 3 batches, each its own segment
    let mut evs: Vec<(i64, Option<&str>)> = Vec::new();
    for batch in 0..3 {
        let mut items = Vec::new();
        for i in 0..400i64 {
            let ts = start + (batch * 400 + i) * 37_000; // ~12 hours in all
            let level = if i % 9 == 0 {
                None
            } else {
                Some(LEVELS[(i % 7) as usize % 3])
            };
            evs.push((ts, level));
            let mut doc = json!({"@timestamp": logweave::event::timestamp::format_iso_millis(ts), "message": "x"});
            if let Some(l) = level {
                doc["level"] = json!(l);
            }
            items.push((json!({"index": {"_index": "stack"}}), doc));
        }
        let r = s
            .http
            .post_ndjson("/_bulk?refresh=true", ndjson(&items))
            .await;
        assert_eq!(r.json()["errors"], false, "{}", r.text_preview());
    }
    let run = |interval: Value, tz: Option<&str>, missing: bool| {
        let mut dh = json!({"field": "@timestamp"});
        for (k, v) in interval.as_object().expect("interval").clone() {
            dh[k] = v;
        }
        if let Some(z) = tz {
            dh["time_zone"] = json!(z);
        }
        let mut terms = json!({"field": "level.keyword", "size": 10});
        if missing {
            terms["missing"] = json!("unknown");
        }
        json!({"size": 0, "aggs": {"h": {"date_histogram": dh, "aggs": {"l": {"terms": terms}}}}})
    };
    // bucket start → (count, level → count), by the bucket rule of each case
    let oracle = |bucket: &dyn Fn(i64) -> i64, missing: bool| {
        let mut m: BTreeMap<i64, (u64, BTreeMap<String, u64>)> = BTreeMap::new();
        for (ts, level) in &evs {
            let e = m.entry(bucket(*ts)).or_default();
            e.0 += 1;
            match (level, missing) {
                (Some(l), _) => *e.1.entry(l.to_string()).or_default() += 1,
                (None, true) => *e.1.entry("unknown".into()).or_default() += 1,
                (None, false) => {}
            }
        }
        m
    };
    let offset = 5 * HOUR + HOUR / 2; // Asia/Kolkata, UTC+05:30, no DST
    let cases: Vec<Case> = vec![
        (
            json!({"fixed_interval": "10m"}),
            None,
            false,
            Box::new(|t| t - t.rem_euclid(600_000)),
        ),
        (
            json!({"fixed_interval": "1h"}),
            None,
            true,
            Box::new(|t| t - t.rem_euclid(HOUR)),
        ),
        (
            json!({"calendar_interval": "day"}),
            Some("Asia/Kolkata"),
            true,
            Box::new(move |t| {
                let local = t + offset;
                local - local.rem_euclid(24 * HOUR) - offset
            }),
        ),
    ];
    for (interval, tz, missing, bucket) in cases {
        let body = run(interval.clone(), tz, missing);
        let r = s.http.post_json("/stack/_search", &body).await;
        assert_eq!(r.status, 200, "{}", r.text_preview());
        let got: BTreeMap<i64, (u64, BTreeMap<String, u64>)> = r.json()["aggregations"]["h"]
            ["buckets"]
            .as_array()
            .expect("buckets")
            .iter()
            .filter(|b| b["doc_count"].as_u64() != Some(0))
            .map(|b| {
                let levels = b["l"]["buckets"]
                    .as_array()
                    .expect("terms")
                    .iter()
                    .map(|t| {
                        (
                            t["key"].as_str().unwrap_or("?").to_string(),
                            t["doc_count"].as_u64().unwrap_or(0),
                        )
                    })
                    .collect();
                (
                    b["key"].as_i64().unwrap_or(0),
                    (b["doc_count"].as_u64().unwrap_or(0), levels),
                )
            })
            .collect();
        assert_eq!(
            got,
            oracle(&*bucket, missing),
            "{interval} tz {tz:?} missing {missing}"
        );
    }
    s.shutdown().await;
}

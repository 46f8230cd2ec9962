//! `logweave search`: Lucene query syntax against a server (or a data
//! directory), newest first; a time window; `--follow` for a live tail.
//!
//! `--follow` polls once a second for matches at or after the newest
//! `@timestamp` already shown, less a grace of [`FOLLOW_GRACE_MS`] for
//! events that become searchable a little after newer ones; hits seen
//! before are recognised by index and id and not printed twice.

mod backend;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use serde_json::{json, Map, Value};

use crate::event::timestamp::{format_iso_millis, parse_iso_like};
use crate::query::datemath::{self, parse_duration_ms};
use crate::query::lucene;
use backend::{Backend, Hit};

/// How far behind the newest event shown `--follow` still looks.
pub const FOLLOW_GRACE_MS: i64 = 5_000;
/// Hits fetched per request while following.
const FOLLOW_PAGE: usize = 1_000;

#[derive(clap::Args, Debug)]
pub struct SearchArgs {
    /// Server to ask.
    #[arg(
        long,
        default_value = "http://127.0.0.1:9200",
        conflicts_with = "data_dir"
    )]
    pub server: String,
    /// Read a data directory directly instead of asking a server (it must exist).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Index pattern.
    #[arg(long, default_value = "*")]
    pub index: String,
    /// Only events at or after this: a duration back from now (15m, 2h,
    /// 7d), a time (2026-11-24T12:00:00Z, '2026-11-24 12:00:00',
    /// 2026-11-24; UTC unless it has an offset) or date math (now-1d/d).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Only events at or before this; the same forms as --since (a date
    /// alone means the end of that day).
    #[arg(long, value_name = "WHEN", conflicts_with = "follow")]
    pub until: Option<String>,
    /// How many events to print (with --follow: how many of the newest to
    /// start with).
    #[arg(long, default_value_t = 20)]
    pub size: usize,
    /// Print each hit as a JSON line: _index, _id, _source and sort (the
    /// @timestamp in epoch milliseconds).
    #[arg(long)]
    pub json: bool,
    /// Only these fields of each event's _source, comma-separated
    /// (wildcards as in Elasticsearch's _source filtering: http.*).
    #[arg(long, value_delimiter = ',', value_name = "A,B,C")]
    pub fields: Vec<String>,
    /// Keep running: print the newest matches oldest first, then each new
    /// match as it arrives (polls once a second; Ctrl-C stops).
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Lucene query, e.g. 'level:ERROR AND service:app1' (default: everything).
    pub query: Option<String>,
}

/// A `--since`/`--until` value in epoch milliseconds. `end` reads a date
/// alone as the end of that day, as Elasticsearch does for `lte`.
fn parse_when(flag: &str, s: &str, now: i64, end: bool) -> anyhow::Result<i64> {
    let t = s.trim();
    if let Some(d) = parse_duration_ms(t) {
        return Ok(now - d);
    }
    if let Some((ms, _)) = parse_iso_like(t, None) {
        let date_only = t.len() == 10;
        return Ok(if end && date_only {
            ms + 86_400_000 - 1
        } else {
            ms
        });
    }
    if t.starts_with("now") {
        return datemath::eval(t, now, end, &jiff::tz::TimeZone::UTC, None)
            .map_err(|e| anyhow::anyhow!("{flag} '{s}': {e}"));
    }
    anyhow::bail!(
        "{flag} '{s}' is not a duration (15m, 2h, 7d), a time (2026-11-24T12:00:00Z, \
         '2026-11-24 12:00:00', 2026-11-24) or date math (now-1d/d)"
    )
}

/// The `_search` body: the query within the window, sorted by `@timestamp`.
fn body(
    query: &str,
    gte: Option<i64>,
    lte: Option<i64>,
    size: usize,
    order: &str,
    fields: &[String],
) -> Value {
    let mut range = Map::new();
    if let Some(g) = gte {
        range.insert("gte".into(), json!(g));
    }
    if let Some(l) = lte {
        range.insert("lte".into(), json!(l));
    }
    let filter: Vec<Value> = if range.is_empty() {
        Vec::new()
    } else {
        vec![json!({"range": {"@timestamp": range}})]
    };
    let must = if query.trim().is_empty() {
        json!({"match_all": {}})
    } else {
        json!({"query_string": {"query": query}})
    };
    let mut b = json!({
        "query": {"bool": {"must": [must], "filter": filter}},
        "size": size,
        "sort": [{"@timestamp": {"order": order}}],
        "track_total_hits": true,
    });
    if !fields.is_empty() {
        b["_source"] = json!(fields);
    }
    b
}

fn print_hit(h: &Hit, json_out: bool) {
    if json_out {
        let sort = h.ts.map_or_else(Vec::new, |t| vec![json!(t)]);
        println!(
            "{}",
            json!({"_index": h.index, "_id": h.id, "_source": h.source, "sort": sort})
        );
        return;
    }
    let ts = h.ts.map(format_iso_millis).unwrap_or_default();
    println!("{ts} {} {}", h.index, h.source);
}

pub async fn run(args: SearchArgs) -> anyhow::Result<i32> {
    let now = crate::event::now_ms();
    let since = args
        .since
        .as_deref()
        .map(|s| parse_when("--since", s, now, false))
        .transpose()?;
    let until = args
        .until
        .as_deref()
        .map(|s| parse_when("--until", s, now, true))
        .transpose()?;
    if let (Some(a), Some(b)) = (since, until) {
        if a > b {
            anyhow::bail!(
                "--since {} is after --until {}",
                format_iso_millis(a),
                format_iso_millis(b)
            );
        }
    }
    let q = args.query.clone().unwrap_or_default();
    // Check the syntax here so the error is local and precise.
    if !q.trim().is_empty() {
        lucene::parse(&q, &lucene::Options::default()).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let backend = Backend::new(&args.server, args.data_dir.as_deref())?;
    if args.follow {
        return follow(&backend, &args, &q, since).await;
    }
    let page = backend
        .search(
            &args.index,
            &body(&q, since, until, args.size, "desc", &args.fields),
        )
        .await?;
    for h in &page.hits {
        print_hit(h, args.json);
    }
    eprintln!("{} of {} matching events", page.hits.len(), page.total);
    Ok(0)
}

/// What `--follow` has shown: the newest `@timestamp` and the hits within
/// the grace window of it.
#[derive(Default)]
struct Shown {
    newest: Option<i64>,
    seen: HashMap<(String, String), i64>,
}

impl Shown {
    /// Record a hit; false when it was shown before.
    fn add(&mut self, h: &Hit) -> bool {
        let ts = h.ts.unwrap_or(i64::MIN);
        if self
            .seen
            .insert((h.index.clone(), h.id.clone()), ts)
            .is_some()
        {
            return false;
        }
        self.newest = self.newest.max(h.ts);
        true
    }

    /// Where the next poll starts: the grace before the newest event shown
    /// (or before now, when that is earlier: a record dated in the future
    /// must not hide the present), never before `--since`.
    fn lower(&self, started: i64, now: i64, since: Option<i64>) -> i64 {
        let newest = self.newest.unwrap_or(started).min(now);
        (newest - FOLLOW_GRACE_MS).max(since.unwrap_or(i64::MIN))
    }

    fn forget_before(&mut self, lower: i64) {
        self.seen.retain(|_, ts| *ts >= lower);
    }
}

async fn follow(
    backend: &Backend,
    args: &SearchArgs,
    q: &str,
    since: Option<i64>,
) -> anyhow::Result<i32> {
    let started = crate::event::now_ms();
    let mut shown = Shown::default();
    let first = backend
        .search(
            &args.index,
            &body(q, since, None, args.size, "desc", &args.fields),
        )
        .await?;
    for h in first.hits.iter().rev() {
        shown.add(h);
        print_hit(h, args.json);
    }
    let mut last_error = String::new();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut lower = shown.lower(started, crate::event::now_ms(), since);
        shown.forget_before(lower);
        loop {
            let page = match backend
                .search(
                    &args.index,
                    &body(q, Some(lower), None, FOLLOW_PAGE, "asc", &args.fields),
                )
                .await
            {
                Ok(p) => {
                    last_error.clear();
                    p
                }
                Err(e) => {
                    // A server restarting: say so once, keep polling.
                    let msg = format!("{e:#}");
                    if msg != last_error {
                        eprintln!("logweave: search --follow: {msg} (retrying)");
                        last_error = msg;
                    }
                    break;
                }
            };
            for h in &page.hits {
                if shown.add(h) {
                    print_hit(h, args.json);
                }
            }
            if page.hits.len() < FOLLOW_PAGE {
                break;
            }
            // A full page: go on from its last timestamp (at least one
            // millisecond on, so many events in one millisecond cannot stall).
            let last = page.hits.last().and_then(|h| h.ts).unwrap_or(lower);
            lower = if last > lower { last } else { lower + 1 };
        }
        std::io::Write::flush(&mut std::io::stdout()).context("writing to stdout")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        s.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn when_forms() {
        let now = ms("2026-11-24T12:00:00Z");
        assert_eq!(
            parse_when("--since", "2h", now, false).unwrap(),
            ms("2026-11-24T10:00:00Z")
        );
        assert_eq!(
            parse_when("--since", "2026-11-20T01:02:03+01:00", now, false).unwrap(),
            ms("2026-11-20T00:02:03Z")
        );
        assert_eq!(
            parse_when("--since", "2026-11-20 01:02:03", now, false).unwrap(),
            ms("2026-11-20T01:02:03Z")
        );
        assert_eq!(
            parse_when("--since", "2026-11-20", now, false).unwrap(),
            ms("2026-11-20T00:00:00Z")
        );
        assert_eq!(
            parse_when("--until", "2026-11-20", now, true).unwrap(),
            ms("2026-11-20T23:59:59.999Z")
        );
        assert_eq!(
            parse_when("--since", "now-1d/d", now, false).unwrap(),
            ms("2026-11-23T00:00:00Z")
        );
        let e = parse_when("--since", "yesterday", now, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--since 'yesterday' is not a duration"), "{e}");
    }

    #[test]
    fn follow_window() {
        let mut s = Shown::default();
        let h = |id: &str, ts: i64| Hit {
            index: "i".into(),
            id: id.into(),
            source: Value::Null,
            ts: Some(ts),
        };
        assert_eq!(s.lower(100_000, 200_000, None), 100_000 - FOLLOW_GRACE_MS);
        assert!(s.add(&h("a", 150_000)));
        assert!(!s.add(&h("a", 150_000)));
        assert_eq!(s.lower(100_000, 200_000, None), 150_000 - FOLLOW_GRACE_MS);
        // a record from the future does not move the window past now
        assert!(s.add(&h("b", 900_000)));
        assert_eq!(s.lower(100_000, 200_000, None), 200_000 - FOLLOW_GRACE_MS);
        assert_eq!(s.lower(100_000, 200_000, Some(199_000)), 199_000);
        s.forget_before(160_000);
        assert!(s.add(&h("a", 150_000)), "forgotten below the window");
    }
}

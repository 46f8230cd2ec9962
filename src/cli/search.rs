//! `logweave search`: Lucene query syntax against a server (or a data
//! directory), newest first.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use serde_json::{json, Value};

use crate::query::datemath::parse_duration_ms;
use crate::query::lucene;
use crate::query::model::{
    BoolQuery, Missing, Order, Query, Range, RangeBound, SearchRequest, SortKey, SortSpec,
};
use crate::store::tantivy::{TantivyOptions, TantivyStore};
use crate::store::{ResolveOptions, Store};

#[derive(clap::Args, Debug)]
pub struct SearchArgs {
    /// Server to ask.
    #[arg(
        long,
        default_value = "http://127.0.0.1:9200",
        conflicts_with = "data_dir"
    )]
    pub server: String,
    /// Read a data directory directly instead of asking a server.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Index pattern.
    #[arg(long, default_value = "*")]
    pub index: String,
    /// Only events newer than this (e.g. 15m, 2h, 7d).
    #[arg(long)]
    pub since: Option<String>,
    /// How many events to print.
    #[arg(long, default_value_t = 20)]
    pub size: usize,
    /// Print whole JSON hits instead of one line per event.
    #[arg(long)]
    pub json: bool,
    /// Lucene query, e.g. 'level:ERROR AND service:app1' (default: everything).
    pub query: Option<String>,
}

fn print_hit(index: &str, source: &Value, sort: Option<&Value>, json_out: bool) {
    if json_out {
        println!("{}", json!({"_index": index, "_source": source}));
        return;
    }
    let ts = sort
        .and_then(|s| s.get(0))
        .and_then(Value::as_i64)
        .map(crate::event::timestamp::format_iso_millis)
        .unwrap_or_default();
    println!("{ts} {index} {source}");
}

pub async fn run(args: SearchArgs) -> anyhow::Result<i32> {
    let since_ms = match &args.since {
        Some(s) => Some(
            parse_duration_ms(s)
                .with_context(|| format!("--since '{s}' is not a duration like 15m, 2h or 7d"))?,
        ),
        None => None,
    };
    let q = args.query.clone().unwrap_or_default();
    // Check the syntax here so the error is local and precise.
    let parsed = if q.trim().is_empty() {
        Query::MatchAll
    } else {
        lucene::parse(&q, &lucene::Options::default()).map_err(|e| anyhow::anyhow!("{e}"))?
    };
    if let Some(dir) = &args.data_dir {
        let store = Arc::new(TantivyStore::open_read_only(
            &dir.join("indices"),
            TantivyOptions::default(),
        )?);
        let names = store.resolve(&args.index, ResolveOptions::default())?;
        let mut filter = Vec::new();
        if let Some(ms) = since_ms {
            filter.push(Query::Range {
                field: "@timestamp".into(),
                range: Range {
                    lower: Some(RangeBound {
                        value: json!(crate::event::now_ms() - ms),
                        inclusive: true,
                    }),
                    ..Default::default()
                },
            });
        }
        let req = SearchRequest {
            query: Query::Bool(Box::new(BoolQuery {
                must: vec![parsed],
                filter,
                ..Default::default()
            })),
            size: args.size,
            sort: vec![SortSpec {
                key: SortKey::Field {
                    field: "@timestamp".into(),
                    missing: Missing::Last,
                    format: None,
                    unmapped_type: None,
                },
                order: Order::Desc,
            }],
            ..Default::default()
        };
        let res = store.snapshot(&names)?.search(&req, None)?;
        for h in &res.hits {
            let sort = h.sort.as_ref().map(|s| Value::Array(s.clone()));
            print_hit(
                &h.index,
                h.source.as_ref().unwrap_or(&Value::Null),
                sort.as_ref(),
                args.json,
            );
        }
        eprintln!("{} of {} matching events", res.hits.len(), res.total);
        return Ok(0);
    }
    let mut filter = vec![];
    if let Some(ms) = since_ms {
        filter.push(json!({"range": {"@timestamp": {"gte": crate::event::now_ms() - ms}}}));
    }
    let body = json!({
        "query": {"bool": {
            "must": [if q.trim().is_empty() { json!({"match_all": {}}) } else { json!({"query_string": {"query": q}}) }],
            "filter": filter,
        }},
        "size": args.size,
        "sort": [{"@timestamp": {"order": "desc"}}],
        "track_total_hits": true,
    });
    let url = format!(
        "{}/{}/_search",
        args.server.trim_end_matches('/'),
        args.index
    );
    let resp = reqwest::Client::new()
        .post(&url)
        .json(&body)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = resp.status();
    let v: Value = resp
        .json()
        .await
        .context("server answered something that is not JSON")?;
    if !status.is_success() {
        let reason = v["error"]["reason"].as_str().unwrap_or("unknown error");
        anyhow::bail!("server answered {status}: {reason}");
    }
    let hits = v["hits"]["hits"].as_array().cloned().unwrap_or_default();
    for h in &hits {
        print_hit(
            h["_index"].as_str().unwrap_or(""),
            &h["_source"],
            h.get("sort"),
            args.json,
        );
    }
    eprintln!(
        "{} of {} matching events",
        hits.len(),
        v["hits"]["total"]["value"]
    );
    Ok(0)
}

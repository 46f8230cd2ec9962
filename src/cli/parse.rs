//! `logweave parse`: show what a route's (or a parser's) processing makes
//! of sample lines, for developing a pattern before deploying it.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::Context;
use serde_json::{Map, Value};

use crate::config::Config;
use crate::parse::LineParser;

#[derive(clap::Args, Debug)]
pub struct ParseArgs {
    /// Config file whose `[[routes]]` to use.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The route (its `name`, or its `match` pattern); each line arrives as `message`.
    #[arg(long)]
    pub route: Option<String>,
    /// Or a parser by name (json, none, logfmt, keyvalue, nginx, apache, syslog).
    #[arg(long)]
    pub parser: Option<String>,
}

pub fn run(args: ParseArgs) -> anyhow::Result<i32> {
    enum How {
        Route(crate::route::Route),
        Parser(LineParser),
    }
    let how = match (&args.route, &args.parser) {
        (Some(name), None) => {
            let cfg = match &args.config {
                Some(p) => Config::load(p)?,
                None => anyhow::bail!("--route needs --config FILE"),
            };
            let router = crate::route::Router::new(cfg.routes.clone());
            let route = router.by_name(name).cloned().with_context(|| {
                let names: Vec<&str> = cfg.routes.iter().map(|r| r.name.as_str()).collect();
                format!("no route named '{name}'; routes: {}", names.join(", "))
            })?;
            How::Route(route)
        }
        (None, Some(p)) => How::Parser(
            LineParser::build(p, &Default::default())
                .map_err(|e| anyhow::anyhow!("--parser: {e}"))?,
        ),
        _ => anyhow::bail!("give either --route NAME (with --config) or --parser NAME"),
    };
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let (mut lines, mut failed, mut dropped, mut rerouted) = (0u64, 0u64, 0u64, 0u64);
    for line in stdin.lock().split(b'\n') {
        let line = line.context("reading stdin")?;
        let line = String::from_utf8_lossy(line.strip_suffix(b"\r").unwrap_or(&line)).into_owned();
        if line.trim().is_empty() {
            continue;
        }
        lines += 1;
        let record = match &how {
            How::Parser(p) => p.record(&line).0,
            How::Route(r) => {
                let mut m = Map::new();
                m.insert("message".into(), Value::String(line));
                let outcome = r.process(&mut m);
                if outcome.drop {
                    dropped += 1;
                    continue;
                }
                if let Some(index) = outcome.index {
                    rerouted += 1;
                    eprintln!("line {lines}: to index {index}");
                }
                m
            }
        };
        let tags = record.get("tags").and_then(Value::as_array);
        if tags.is_some_and(|t| {
            t.iter()
                .any(|x| x.as_str().is_some_and(|s| s.ends_with("parsefailure")))
        }) {
            failed += 1;
        }
        writeln!(out, "{}", Value::Object(record)).context("writing stdout")?;
    }
    out.flush()?;
    eprintln!("{lines} lines, {failed} did not parse, {dropped} dropped, {rerouted} sent to another index");
    Ok(0)
}

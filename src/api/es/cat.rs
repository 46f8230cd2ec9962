//! The `_cat` endpoints, rendered as Elasticsearch's RestTable renders
//! them, so that scripts that cut its columns keep working: `v` (header
//! row), `h` (columns by name, alias or wildcard), `s` (sort by columns,
//! `:desc`), `ts=false`, `bytes=b|kb|mb|...`, `format=json` (or a JSON
//! `Accept`) and `help`. Text columns are separated by one space and padded
//! to the widest cell; numeric columns are right-aligned; the last column
//! is not padded.

use std::cmp::Ordering;

use axum::extract::{Path, Query, State as AxState};
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::{flag, json_response, Params};
use crate::api::error::ApiError;
use crate::api::State;
use crate::query::lucene;
use crate::query::model::Query as Q;
use crate::store::catalog::TemplateKind;
use crate::store::mapping::wildcard_match;
use crate::store::ResolveOptions;

/// One column of a `_cat` table.
struct Column {
    name: &'static str,
    aliases: &'static [&'static str],
    desc: &'static str,
    /// Right-aligned (numbers and sizes, as Elasticsearch aligns them).
    right: bool,
    /// Shown without `h`.
    default: bool,
}

const fn col(
    name: &'static str,
    aliases: &'static [&'static str],
    desc: &'static str,
    right: bool,
) -> Column {
    Column {
        name,
        aliases,
        desc,
        right,
        default: true,
    }
}

/// The two columns Elasticsearch puts first in time-stamped tables.
const EPOCH: Column = col(
    "epoch",
    &["t", "time"],
    "seconds since 1970-01-01 00:00:00",
    false,
);
const TIMESTAMP: Column = col(
    "timestamp",
    &["ts", "hms", "hhmmss"],
    "time in HH:MM:SS",
    false,
);

const HEALTH: &[Column] = &[
    EPOCH,
    TIMESTAMP,
    col("cluster", &["cl"], "cluster name", false),
    col("status", &["st"], "health status", false),
    col(
        "node.total",
        &["nt", "nodeTotal"],
        "total number of nodes",
        true,
    ),
    col(
        "node.data",
        &["nd", "nodeData"],
        "number of nodes that can store data",
        true,
    ),
    col(
        "shards",
        &["t", "sh", "shards.total", "shardsTotal"],
        "total number of shards",
        true,
    ),
    col(
        "pri",
        &["p", "shards.primary", "shardsPrimary"],
        "number of primary shards",
        true,
    ),
    col(
        "relo",
        &["r", "shards.relocating", "shardsRelocating"],
        "number of relocating nodes",
        true,
    ),
    col(
        "init",
        &["i", "shards.initializing", "shardsInitializing"],
        "number of initializing nodes",
        true,
    ),
    col(
        "unassign",
        &["u", "shards.unassigned", "shardsUnassigned"],
        "number of unassigned shards",
        true,
    ),
    col(
        "pending_tasks",
        &["pt", "pendingTasks"],
        "number of pending tasks",
        true,
    ),
    col(
        "max_task_wait_time",
        &["mtwt", "maxTaskWaitTime"],
        "wait time of longest task pending",
        true,
    ),
    col(
        "active_shards_percent",
        &["asp", "activeShardsPercent"],
        "active number of shards in percent",
        true,
    ),
];

const INDICES: &[Column] = &[
    col("health", &["h"], "current health status", false),
    col("status", &["s"], "open/close status", false),
    col("index", &["i", "idx"], "index name", false),
    col("uuid", &["id", "uuid"], "index uuid", false),
    col(
        "pri",
        &["p", "shards.primary", "shardsPrimary"],
        "number of primary shards",
        true,
    ),
    col(
        "rep",
        &["r", "shards.replica", "shardsReplica"],
        "number of replica shards",
        true,
    ),
    col("docs.count", &["dc", "docsCount"], "available docs", true),
    col("docs.deleted", &["dd", "docsDeleted"], "deleted docs", true),
    col(
        "store.size",
        &["ss", "storeSize"],
        "store size of primaries & replicas",
        true,
    ),
    col("pri.store.size", &[], "store size of primaries", true),
    col("dataset.size", &[], "total size of dataset", true),
];

const COUNT: &[Column] = &[
    EPOCH,
    TIMESTAMP,
    col(
        "count",
        &["dc", "docs.count", "docsCount"],
        "the document count",
        false,
    ),
];

const ALIASES: &[Column] = &[
    col("alias", &["a"], "alias name", false),
    col("index", &["i", "idx"], "index alias points to", false),
    col("filter", &["f", "fi"], "filter", false),
    col(
        "routing.index",
        &["ri", "routingIndex"],
        "index routing",
        false,
    ),
    col(
        "routing.search",
        &["rs", "routingSearch"],
        "search routing",
        false,
    ),
    col(
        "is_write_index",
        &["w", "isWriteIndex"],
        "write index",
        false,
    ),
];

const TEMPLATES: &[Column] = &[
    col("name", &["n"], "template name", false),
    col("index_patterns", &["t"], "template index patterns", false),
    col(
        "order",
        &["o", "p"],
        "template application order/priority number",
        false,
    ),
    col("version", &["v"], "version", false),
    col(
        "composed_of",
        &["c"],
        "component templates comprising index template",
        false,
    ),
];

/// A cell. Sorting compares cells of one kind by value (numbers as
/// numbers, sizes as bytes), as Elasticsearch compares its typed cells.
#[derive(Debug, Clone)]
enum Cell {
    Text(String),
    Int(u64),
    Bytes(u64),
}

impl Cell {
    fn text(s: impl Into<String>) -> Cell {
        Cell::Text(s.into())
    }

    /// The cell as shown; `bytes` picks the unit of sizes.
    fn render(&self, bytes: Option<&str>) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Int(n) => n.to_string(),
            Cell::Bytes(b) => render_bytes(*b, bytes),
        }
    }

    fn cmp(&self, other: &Cell) -> Ordering {
        match (self, other) {
            (Cell::Text(a), Cell::Text(b)) => a.cmp(b),
            (Cell::Int(a), Cell::Int(b)) | (Cell::Bytes(a), Cell::Bytes(b)) => a.cmp(b),
            (a, b) => a.render(None).cmp(&b.render(None)),
        }
    }
}

const UNITS: [(&str, &str, u32); 5] = [
    ("k", "kb", 1),
    ("m", "mb", 2),
    ("g", "gb", 3),
    ("t", "tb", 4),
    ("p", "pb", 5),
];

/// A size in whole units of `bytes` (truncated), or in Elasticsearch's
/// human form: the largest unit it reaches, one decimal truncated, `.0`
/// dropped (`230b`, `1.5kb`, `2mb`).
fn render_bytes(b: u64, unit: Option<&str>) -> String {
    if unit == Some("b") {
        return b.to_string();
    }
    if let Some((_, _, exp)) = UNITS
        .iter()
        .find(|(short, long, _)| unit == Some(*short) || unit == Some(*long))
    {
        return (b / 1024u64.pow(*exp)).to_string();
    }
    let (value, suffix) = match UNITS
        .iter()
        .rev()
        .find(|(_, _, exp)| b >= 1024u64.pow(*exp))
    {
        Some((_, long, exp)) => (b as f64 / 1024f64.powi(*exp as i32), *long),
        None => (b as f64, "b"),
    };
    let shortest = format!("{value}");
    let (int, frac) = shortest.split_once('.').unwrap_or((&shortest, "0"));
    match frac.chars().next() {
        Some(d) if d != '0' => format!("{int}.{d}{suffix}"),
        _ => format!("{int}{suffix}"),
    }
}

/// Epoch seconds and `HH:MM:SS` (UTC) of now, for time-stamped tables.
fn now_cells() -> [Cell; 2] {
    let secs = crate::event::now_ms().div_euclid(1000);
    let day = secs.rem_euclid(86_400);
    [
        Cell::Int(secs.max(0) as u64),
        Cell::text(format!(
            "{:02}:{:02}:{:02}",
            day / 3600,
            day % 3600 / 60,
            day % 60
        )),
    ]
}

/// A column to show: which column, under which name (the alias asked for).
struct Shown {
    col: usize,
    display: String,
}

/// Whether `name` matches the simple wildcard pattern `pat` (`*` only).
fn simple_match(pat: &str, name: &str) -> bool {
    let parts: Vec<&str> = pat.split('*').collect();
    if parts.len() == 1 {
        return pat == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &name[first.len()..];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// Comma-separated values, trimmed, empty ones dropped.
fn list(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// The columns `h` asks for (names, aliases, wildcards; unknown names are
/// skipped), or the default ones; `ts=false` drops the time columns.
fn shown_columns(cols: &[Column], p: &Params) -> Vec<Shown> {
    let with_time = flag(p, "ts").unwrap_or(true);
    let time_ok = |c: &Column| with_time || !matches!(c.name, "epoch" | "timestamp");
    let Some(h) = p.get("h") else {
        return cols
            .iter()
            .enumerate()
            .filter(|(_, c)| c.default && time_ok(c))
            .map(|(i, c)| Shown {
                col: i,
                display: c.name.to_string(),
            })
            .collect();
    };
    let mut wanted: Vec<String> = Vec::new();
    for pat in list(h) {
        if pat.contains('*') {
            for c in cols {
                if (simple_match(pat, c.name) || c.aliases.iter().any(|a| simple_match(pat, a)))
                    && !wanted.iter().any(|w| w == c.name)
                {
                    wanted.push(c.name.to_string());
                }
            }
        } else if !wanted.iter().any(|w| w == pat) {
            wanted.push(pat.to_string());
        }
    }
    wanted
        .into_iter()
        .filter_map(|w| {
            // A name first; else the last column with that alias, as
            // Elasticsearch resolves aliases two columns share.
            let col = cols
                .iter()
                .position(|c| c.name == w)
                .or_else(|| cols.iter().rposition(|c| c.aliases.contains(&w.as_str())))?;
            time_ok(&cols[col]).then_some(Shown { col, display: w })
        })
        .collect()
}

/// Row order from `s` (`col`, `col:asc`, `col:desc`, by name or alias).
fn row_order(cols: &[Column], rows: &[Vec<Cell>], p: &Params) -> Result<Vec<usize>, ApiError> {
    let mut order: Vec<usize> = (0..rows.len()).collect();
    let Some(s) = p.get("s") else {
        return Ok(order);
    };
    let mut keys = Vec::new();
    for key in list(s) {
        let (name, desc) = if let Some(n) = key.strip_suffix(":desc") {
            (n, true)
        } else {
            (key.strip_suffix(":asc").unwrap_or(key), false)
        };
        let col = cols
            .iter()
            .rposition(|c| c.name == name || c.aliases.contains(&name))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "illegal_argument_exception",
                    format!("Unable to sort by unknown sort key `{name}`"),
                )
            })?;
        keys.push((col, desc));
    }
    order.sort_by(|&a, &b| {
        keys.iter()
            .map(|&(c, desc)| {
                let o = rows[a][c].cmp(&rows[b][c]);
                if desc {
                    o.reverse()
                } else {
                    o
                }
            })
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    });
    Ok(order)
}

/// Whether the answer is JSON: `format=json`, or a JSON `Accept` first.
fn wants_json(p: &Params, headers: &HeaderMap) -> Result<bool, ApiError> {
    match p.get("format").map(|f| f.to_ascii_lowercase()).as_deref() {
        Some("json") => return Ok(true),
        Some(f @ ("yaml" | "smile" | "cbor")) => {
            return Err(ApiError::bad_request(
                "illegal_argument_exception",
                format!("format [{f}] is not supported; use format=json or text"),
            ))
        }
        Some(_) => return Ok(false),
        None => {}
    }
    let first = headers
        .get(ACCEPT)
        .and_then(|a| a.to_str().ok())
        .and_then(|a| a.split(',').next())
        .unwrap_or_default();
    let media = first.split(';').next().unwrap_or_default().trim();
    Ok(media == "application/json" || media == "application/vnd.elasticsearch+json")
}

fn text_response(body: String) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(
        CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/plain; charset=UTF-8"),
    );
    r
}

/// `value` padded to `width`: right-aligned columns on the left; others on
/// the right, except in the last column.
fn pad(out: &mut String, value: &str, width: usize, right: bool, last: bool) {
    let fill = width.saturating_sub(value.chars().count());
    if right && fill > 0 {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(value);
    } else {
        out.push_str(value);
        if !last {
            out.extend(std::iter::repeat_n(' ', fill));
        }
    }
}

/// `?help`: one line per column, `name | aliases | description`.
fn help(cols: &[Column]) -> Response {
    let aliases: Vec<String> = cols.iter().map(|c| c.aliases.join(",")).collect();
    let w = |f: &dyn Fn(usize) -> usize| (0..cols.len()).map(f).max().unwrap_or(0);
    let widths = [
        w(&|i| cols[i].name.chars().count()),
        w(&|i| aliases[i].chars().count()),
        w(&|i| cols[i].desc.chars().count()),
    ];
    let mut out = String::new();
    for (i, c) in cols.iter().enumerate() {
        pad(&mut out, c.name, widths[0], false, false);
        out.push_str(" | ");
        pad(&mut out, &aliases[i], widths[1], false, false);
        out.push_str(" | ");
        pad(&mut out, c.desc, widths[2], false, false);
        out.push('\n');
    }
    text_response(out)
}

/// Render `rows` of `cols` as the request asks.
fn render(
    cols: &[Column],
    rows: Vec<Vec<Cell>>,
    p: &Params,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    if flag(p, "help").unwrap_or(false) {
        return Ok(help(cols));
    }
    let json = wants_json(p, headers)?;
    let shown = shown_columns(cols, p);
    let order = row_order(cols, &rows, p)?;
    let bytes = p.get("bytes").map(String::as_str);
    let cells: Vec<Vec<String>> = order
        .iter()
        .map(|&r| shown.iter().map(|s| rows[r][s.col].render(bytes)).collect())
        .collect();
    if json {
        let out: Vec<Value> = cells
            .into_iter()
            .map(|row| {
                let obj: Map<String, Value> = shown
                    .iter()
                    .zip(row)
                    .map(|(s, v)| (s.display.clone(), Value::String(v)))
                    .collect();
                Value::Object(obj)
            })
            .collect();
        return Ok(json_response(StatusCode::OK, Value::Array(out).to_string()));
    }
    let verbose = flag(p, "v").unwrap_or(false);
    if !verbose && cells.is_empty() {
        return Ok(text_response(String::new()));
    }
    let widths: Vec<usize> = shown
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let head = if verbose {
                s.display.chars().count()
            } else {
                0
            };
            cells
                .iter()
                .map(|row| row[i].chars().count())
                .max()
                .unwrap_or(0)
                .max(head)
        })
        .collect();
    let mut out = String::new();
    let mut line = |values: Vec<&str>| {
        for (i, v) in values.iter().enumerate() {
            let last = i + 1 == shown.len();
            pad(&mut out, v, widths[i], cols[shown[i].col].right, last);
            if !last {
                out.push(' ');
            }
        }
        out.push('\n');
    };
    if verbose {
        line(shown.iter().map(|s| s.display.as_str()).collect());
    }
    for row in &cells {
        line(row.iter().map(String::as_str).collect());
    }
    Ok(text_response(out))
}

/// `GET /_cat`: the endpoints there are.
pub async fn cat_root() -> Response {
    text_response(
        "=^.^=\n/_cat/aliases\n/_cat/aliases/{alias}\n/_cat/count\n/_cat/count/{index}\n\
         /_cat/health\n/_cat/indices\n/_cat/indices/{index}\n/_cat/templates\n/_cat/templates/{name}\n"
            .to_string(),
    )
}

/// `GET /_cat/health`
pub async fn health(
    AxState(st): AxState<State>,
    Query(p): Query<Params>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let n = st
        .ingest
        .store
        .resolve("_all", ResolveOptions::default())
        .map_or(0, |v| v.len()) as u64;
    let [epoch, ts] = now_cells();
    let row = vec![
        epoch,
        ts,
        Cell::text("logweave"),
        Cell::text("green"),
        Cell::Int(1),
        Cell::Int(1),
        Cell::Int(n),
        Cell::Int(n),
        Cell::Int(0),
        Cell::Int(0),
        Cell::Int(0),
        Cell::Int(0),
        Cell::text("-"),
        Cell::text("100.0%"),
    ];
    render(HEALTH, vec![row], &p, &headers)
}

fn indices_rows(st: &State, pattern: Option<&str>) -> Result<Vec<Vec<Cell>>, ApiError> {
    let names = st
        .ingest
        .store
        .resolve(pattern.unwrap_or("_all"), ResolveOptions::default())?;
    Ok(st
        .ingest
        .store
        .list()
        .into_iter()
        .filter(|i| names.contains(&i.name))
        .map(|i| {
            vec![
                Cell::text("green"),
                Cell::text("open"),
                Cell::Text(i.name),
                Cell::Text(i.uuid),
                Cell::Int(1),
                Cell::Int(0),
                Cell::Int(i.docs),
                Cell::Int(0),
                Cell::Bytes(i.bytes),
                Cell::Bytes(i.bytes),
                Cell::Bytes(i.bytes),
            ]
        })
        .collect())
}

/// `GET /_cat/indices`
pub async fn indices(
    AxState(st): AxState<State>,
    Query(p): Query<Params>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    render(INDICES, indices_rows(&st, None)?, &p, &headers)
}

/// `GET /_cat/indices/{index}`
pub async fn indices_for(
    AxState(st): AxState<State>,
    Path(index): Path<String>,
    Query(p): Query<Params>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    render(INDICES, indices_rows(&st, Some(&index))?, &p, &headers)
}

async fn count_rows(
    st: &State,
    pattern: Option<&str>,
    p: &Params,
) -> Result<Vec<Vec<Cell>>, ApiError> {
    let names = st
        .ingest
        .store
        .resolve(pattern.unwrap_or("_all"), ResolveOptions::default())?;
    let query = match p.get("q") {
        Some(q) => lucene::parse(
            q,
            &lucene::Options {
                default_fields: p.get("df").map(|d| vec![d.clone()]).unwrap_or_default(),
                ..Default::default()
            },
        )
        .map_err(crate::query::es_dsl::DslError::from)?,
        None => Q::MatchAll,
    };
    let store = st.ingest.store.clone();
    let count = tokio::task::spawn_blocking(move || store.count(&names, &query))
        .await
        .map_err(ApiError::internal)??;
    let [epoch, ts] = now_cells();
    Ok(vec![vec![epoch, ts, Cell::Int(count)]])
}

/// `GET /_cat/count`
pub async fn count(
    AxState(st): AxState<State>,
    Query(p): Query<Params>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    render(COUNT, count_rows(&st, None, &p).await?, &p, &headers)
}

/// `GET /_cat/count/{index}`
pub async fn count_for(
    AxState(st): AxState<State>,
    Path(index): Path<String>,
    Query(p): Query<Params>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    render(
        COUNT,
        count_rows(&st, Some(&index), &p).await?,
        &p,
        &headers,
    )
}

/// `GET /_cat/aliases[/{alias}]`: one row per alias and index (names
/// and patterns in the path narrow it).
pub async fn aliases(
    AxState(st): AxState<State>,
    alias: Option<Path<String>>,
    Query(p): Query<Params>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let want: Vec<String> = alias
        .map(|Path(a)| a.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    let mut rows = Vec::new();
    for (a, members) in st.ingest.store.catalog().aliases() {
        if !want.is_empty() && !want.iter().any(|w| wildcard_match(w, &a)) {
            continue;
        }
        for (index, props) in members {
            let routing = props.routing.clone().unwrap_or_else(|| "-".into());
            rows.push(vec![
                Cell::text(a.clone()),
                Cell::text(index),
                Cell::text("-"),
                Cell::text(routing.clone()),
                Cell::text(routing),
                Cell::text(props.is_write_index.map_or("-".into(), |w| w.to_string())),
            ]);
        }
    }
    render(ALIASES, rows, &p, &headers)
}

/// `GET /_cat/templates[/{name}]`: composable and legacy templates.
pub async fn templates(
    AxState(st): AxState<State>,
    name: Option<Path<String>>,
    Query(p): Query<Params>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let expr = name.map(|Path(n)| n).unwrap_or_default();
    let catalog = st.ingest.store.catalog();
    let mut rows = Vec::new();
    for kind in [TemplateKind::Composable, TemplateKind::Legacy] {
        for (n, t) in catalog.templates(kind, &expr) {
            let composed = if kind == TemplateKind::Composable {
                format!("[{}]", t.composed_of.join(", "))
            } else {
                String::new()
            };
            rows.push(vec![
                Cell::text(n),
                Cell::text(format!("[{}]", t.patterns.join(", "))),
                Cell::Int(t.priority.max(0) as u64),
                Cell::text(
                    t.body
                        .get("version")
                        .map_or(String::new(), |v| v.to_string()),
                ),
                Cell::text(composed),
            ]);
        }
    }
    render(TEMPLATES, rows, &p, &headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_elasticsearch() {
        // ByteSizeValue: the largest unit reached, one decimal truncated.
        for (b, want) in [
            (0, "0b"),
            (230, "230b"),
            (1023, "1023b"),
            (1024, "1kb"),
            (1536, "1.5kb"),
            (1100, "1kb"),
            (2047, "1.9kb"),
            (5 * 1024 * 1024 + 300 * 1024, "5.2mb"),
            (3 << 30, "3gb"),
        ] {
            assert_eq!(render_bytes(b, None), want, "{b}");
        }
        assert_eq!(render_bytes(5000, Some("b")), "5000");
        assert_eq!(render_bytes(5000, Some("kb")), "4");
        assert_eq!(render_bytes(5000, Some("k")), "4");
        assert_eq!(render_bytes(5 << 20, Some("mb")), "5");
        assert_eq!(render_bytes(5000, Some("bogus")), "4.8kb");
    }

    #[test]
    fn wildcards() {
        assert!(simple_match("docs.*", "docs.count"));
        assert!(simple_match("*.size", "pri.store.size"));
        assert!(simple_match("*store*", "pri.store.size"));
        assert!(!simple_match("docs.*", "store.size"));
        assert!(simple_match("*", "x"));
        assert!(!simple_match("a*a", "a"));
    }
}

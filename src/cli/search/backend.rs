//! Where `logweave search` reads: a server's `_search`, or a data directory
//! opened read-only. Both take the same Elasticsearch request body, so the
//! command builds its query once.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::Value;

use crate::query::es_dsl::parse_search_body;
use crate::store::tantivy::{TantivyOptions, TantivyStore};
use crate::store::{ResolveOptions, Store};

/// One event found.
#[derive(Debug, Clone)]
pub struct Hit {
    pub index: String,
    pub id: String,
    pub source: Value,
    /// `@timestamp` in epoch milliseconds (the first sort value).
    pub ts: Option<i64>,
}

/// A page of hits and the number of matches.
#[derive(Debug, Default)]
pub struct Page {
    pub hits: Vec<Hit>,
    pub total: u64,
}

/// A server or a data directory.
pub enum Backend {
    Server {
        base: String,
        client: reqwest::Client,
    },
    Dir(PathBuf),
}

impl Backend {
    /// A data directory must exist: reading never creates one.
    pub fn new(server: &str, data_dir: Option<&Path>) -> anyhow::Result<Backend> {
        match data_dir {
            Some(dir) if !dir.is_dir() => anyhow::bail!(
                "data directory {} does not exist (give the server's --data-dir)",
                dir.display()
            ),
            Some(dir) => Ok(Backend::Dir(dir.to_path_buf())),
            None => Ok(Backend::Server {
                base: server.trim_end_matches('/').to_string(),
                client: reqwest::Client::new(),
            }),
        }
    }

    /// Run a `_search` body against the indices matching `index`.
    pub async fn search(&self, index: &str, body: &Value) -> anyhow::Result<Page> {
        match self {
            Backend::Server { base, client } => server_search(client, base, index, body).await,
            Backend::Dir(dir) => {
                let (dir, index, body) = (dir.clone(), index.to_string(), body.clone());
                tokio::task::spawn_blocking(move || dir_search(&dir, &index, &body))
                    .await
                    .context("searching the data directory")?
            }
        }
    }
}

async fn server_search(
    client: &reqwest::Client,
    base: &str,
    index: &str,
    body: &Value,
) -> anyhow::Result<Page> {
    let url = format!("{base}/{index}/_search");
    let resp = client
        .post(&url)
        .json(body)
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
    let hits = v["hits"]["hits"]
        .as_array()
        .map(|hs| {
            hs.iter()
                .map(|h| Hit {
                    index: h["_index"].as_str().unwrap_or_default().to_string(),
                    id: h["_id"].as_str().unwrap_or_default().to_string(),
                    source: h["_source"].clone(),
                    ts: h["sort"][0].as_i64(),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Page {
        hits,
        total: v["hits"]["total"]["value"].as_u64().unwrap_or(0),
    })
}

/// Opened for each search, so that a follow sees new commits and indices.
fn dir_search(dir: &Path, index: &str, body: &Value) -> anyhow::Result<Page> {
    let store = TantivyStore::open_read_only(&dir.join("indices"), TantivyOptions::default())?;
    let names = store.resolve(index, ResolveOptions::default())?;
    let req = parse_search_body(body).map_err(|e| anyhow::anyhow!("{e}"))?;
    let res = store.snapshot(&names)?.search(&req, None)?;
    Ok(Page {
        total: res.total,
        hits: res
            .hits
            .into_iter()
            .map(|h| Hit {
                ts: h
                    .sort
                    .as_ref()
                    .and_then(|s| s.first())
                    .and_then(Value::as_i64),
                index: h.index,
                id: h.id,
                source: h.source.unwrap_or(Value::Null),
            })
            .collect(),
    })
}

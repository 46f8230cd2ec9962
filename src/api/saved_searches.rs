//! Saved searches: named dashboard views (index, query, range, view,
//! columns) kept durably in the data directory, so a team shares them
//! through the server rather than through bookmarks.
//!
//! `GET /api/v1/searches`, `GET|PUT|DELETE /api/v1/searches/{name}`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;
use axum::extract::{Path as UrlPath, State as AxState};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::error::ApiError;
use super::es::json_response;
use super::{Body, State};
use crate::alerting::state::write_atomic;

/// Saved searches a server keeps at most.
const MAX_SEARCHES: usize = 1000;

/// One saved view.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SavedSearch {
    /// Index pattern.
    #[serde(default = "all_indices")]
    pub index: String,
    /// Lucene query text.
    #[serde(default)]
    pub query: String,
    /// A relative range (`15m`, `24h`) or absent when `from`/`to` are set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Which dashboard view (search, trend, patterns, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view: Option<String>,
    /// Table columns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
    /// When it was last saved, epoch ms (set by the server).
    #[serde(default)]
    pub updated: i64,
}

fn all_indices() -> String {
    "*".into()
}

/// The saved searches and the file they live in.
pub struct SavedSearches {
    path: PathBuf,
    map: Mutex<BTreeMap<String, SavedSearch>>,
}

impl SavedSearches {
    /// Reads `path`, or starts empty when there is none; a damaged file is
    /// refused with its name rather than overwritten.
    pub fn open(path: &Path) -> anyhow::Result<SavedSearches> {
        let map = match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b).with_context(|| {
                format!(
                    "{} is not a readable list of saved searches; fix or remove it",
                    path.display()
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        Ok(SavedSearches {
            path: path.to_path_buf(),
            map: Mutex::new(map),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, SavedSearch>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Saves `map` with the change; on failure the change is undone.
    fn persist(&self, map: &BTreeMap<String, SavedSearch>) -> Result<(), ApiError> {
        let bytes = serde_json::to_vec_pretty(map).map_err(ApiError::internal)?;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(ApiError::internal)?;
        }
        write_atomic(&self.path, &bytes).map_err(|e| ApiError::internal(format!("{e:#}")))
    }
}

fn saved(st: &State) -> Result<&SavedSearches, ApiError> {
    st.saved_searches.as_deref().ok_or_else(|| {
        ApiError::bad_request(
            "illegal_argument_exception",
            "saved searches need a server with a data directory",
        )
    })
}

/// A name is what a person types: 1–100 characters, no control characters.
fn check_name(name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "illegal_argument_exception",
            format!("[name] '{name}': a saved search's name is 1 to 100 characters without control characters"),
        ));
    }
    Ok(())
}

/// `GET /api/v1/searches`
pub async fn list(AxState(st): AxState<State>) -> Result<Response, ApiError> {
    let s = saved(&st)?;
    let map = s.lock();
    let searches: Vec<_> = map
        .iter()
        .map(|(name, v)| {
            let mut o = serde_json::to_value(v).unwrap_or_default();
            o["name"] = json!(name);
            o
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        json!({ "searches": searches }).to_string(),
    ))
}

/// `GET /api/v1/searches/{name}`
pub async fn get(
    AxState(st): AxState<State>,
    UrlPath(name): UrlPath<String>,
) -> Result<Response, ApiError> {
    let s = saved(&st)?;
    let map = s.lock();
    let v = map.get(&name).ok_or_else(|| missing(&name))?;
    let mut o = serde_json::to_value(v).map_err(ApiError::internal)?;
    o["name"] = json!(name);
    Ok(json_response(StatusCode::OK, o.to_string()))
}

/// `PUT /api/v1/searches/{name}`: create or replace.
pub async fn put(
    AxState(st): AxState<State>,
    UrlPath(name): UrlPath<String>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    check_name(&name)?;
    let s = saved(&st)?;
    let mut v: SavedSearch = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "parse_exception",
            format!("a saved search is a JSON object of index, query, range, from, to, view, columns: {e}"),
        )
    })?;
    v.updated = crate::event::now_ms();
    let mut map = s.lock();
    if !map.contains_key(&name) && map.len() >= MAX_SEARCHES {
        return Err(ApiError::bad_request(
            "illegal_argument_exception",
            format!("at most {MAX_SEARCHES} saved searches; delete some first"),
        ));
    }
    let old = map.insert(name.clone(), v);
    if let Err(e) = s.persist(&map) {
        match old {
            Some(o) => map.insert(name, o),
            None => map.remove(&name),
        };
        return Err(e);
    }
    let (status, result) = if old.is_some() {
        (StatusCode::OK, "updated")
    } else {
        (StatusCode::CREATED, "created")
    };
    Ok(json_response(
        status,
        json!({"name": name, "result": result}).to_string(),
    ))
}

/// `DELETE /api/v1/searches/{name}`
pub async fn delete(
    AxState(st): AxState<State>,
    UrlPath(name): UrlPath<String>,
) -> Result<Response, ApiError> {
    let s = saved(&st)?;
    let mut map = s.lock();
    let old = map.remove(&name).ok_or_else(|| missing(&name))?;
    if let Err(e) = s.persist(&map) {
        map.insert(name, old);
        return Err(e);
    }
    Ok(json_response(
        StatusCode::OK,
        json!({"name": name, "result": "deleted"}).to_string(),
    ))
}

fn missing(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "resource_not_found_exception",
        format!("no saved search named '{name}'"),
    )
}

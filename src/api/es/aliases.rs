//! Aliases: `POST /_aliases`, `PUT|DELETE /{index}/_alias/{name}`, the
//! `GET`/`HEAD` reads and `GET /_resolve/index`. Shippers write through an
//! alias (`logs-write`) and dashboards read through one (`logs`), so a
//! rename or rollover needs no change on their side. The catalog keeps
//! them durable; this module only turns requests into catalog changes.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State as AxState};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::search::parse_body;
use super::{json_response, Params};
use crate::api::error::ApiError;
use crate::api::{Body, State};
use crate::store::catalog::{AliasAction, AliasProps};
use crate::store::mapping::wildcard_match;
use crate::store::ResolveOptions;

/// Names given as `"a"` or `["a","b"]` under `one` or `many`.
fn names(v: &Value, one: &str, many: &str) -> Result<Vec<String>, ApiError> {
    let mut out = Vec::new();
    for key in [one, many] {
        match v.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => out.push(s.clone()),
            Some(Value::Array(a)) => {
                for x in a {
                    match x.as_str() {
                        Some(s) => out.push(s.to_string()),
                        None => {
                            return Err(ApiError::bad_request(
                                "x_content_parse_exception",
                                format!("[{key}] must hold strings, got {x}"),
                            ))
                        }
                    }
                }
            }
            Some(other) => {
                return Err(ApiError::bad_request(
                    "x_content_parse_exception",
                    format!("[{key}] must be a string or an array of strings, got {other}"),
                ))
            }
        }
    }
    Ok(out)
}

/// `is_write_index`, `routing` (or `index_routing`), `is_hidden`; a
/// `filter` is refused rather than ignored, since ignoring it would show
/// a reader documents the alias was meant to hide.
pub(crate) fn alias_props(v: &Value, alias: &str) -> Result<AliasProps, ApiError> {
    if v.get("filter").is_some_and(|f| !f.is_null()) {
        return Err(ApiError::bad_request(
            "illegal_argument_exception",
            format!(
                "alias [{alias}] has a [filter]: filtered aliases are not supported by logweave; \
                 put the filter in the query instead"
            ),
        ));
    }
    let flag = |k: &str| -> Result<Option<bool>, ApiError> {
        match v.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s == "true" || s == "false" => Ok(Some(s == "true")),
            Some(other) => Err(ApiError::bad_request(
                "x_content_parse_exception",
                format!("[{k}] of alias [{alias}] must be a boolean, got {other}"),
            )),
        }
    };
    let routing = ["routing", "index_routing"]
        .iter()
        .find_map(|k| v.get(*k))
        .and_then(|r| match r {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        });
    Ok(AliasProps {
        is_write_index: flag("is_write_index")?,
        routing,
        is_hidden: flag("is_hidden")?,
    })
}

fn index_exists(st: &State) -> impl Fn(&str) -> bool {
    let names: Vec<String> = st.ingest.store.list().into_iter().map(|i| i.name).collect();
    move |n: &str| names.iter().any(|x| x == n)
}

/// Concrete indices an action names. An exact alias name stays as given,
/// so the catalog can answer that an alias cannot point at an alias.
fn action_indices(st: &State, exprs: &[String]) -> Result<Vec<String>, ApiError> {
    let catalog = st.ingest.store.catalog();
    let mut out = Vec::new();
    for e in exprs {
        if catalog.alias_indices(e).is_some() {
            out.push(e.clone());
            continue;
        }
        let found = st.ingest.store.resolve(e, ResolveOptions::default())?;
        if found.is_empty() {
            return Err(ApiError::not_found_index(e));
        }
        out.extend(found);
    }
    Ok(out)
}

fn acknowledged() -> Response {
    json_response(StatusCode::OK, json!({"acknowledged": true}).to_string())
}

/// `POST /_aliases`: add, remove and remove_index actions, all or nothing.
pub async fn update_aliases(
    AxState(st): AxState<State>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let v = parse_body(&body)?;
    let Some(actions) = v.get("actions").and_then(Value::as_array) else {
        return Err(ApiError::bad_request(
            "action_request_validation_exception",
            "Validation Failed: 1: no actions specified;",
        ));
    };
    let catalog = st.ingest.store.catalog();
    let mut changes = Vec::new();
    let mut drop_indices = Vec::new();
    for (n, a) in actions.iter().enumerate() {
        let Some((verb, spec)) =
            a.as_object()
                .and_then(|o| if o.len() == 1 { o.iter().next() } else { None })
        else {
            return Err(ApiError::bad_request(
                "x_content_parse_exception",
                format!("action [{n}] must be an object with one of add, remove, remove_index"),
            ));
        };
        let indices = action_indices(&st, &names(spec, "index", "indices")?)?;
        if indices.is_empty() {
            return Err(ApiError::bad_request(
                "action_request_validation_exception",
                format!("Validation Failed: 1: [{verb}] action [{n}] names no index;"),
            ));
        }
        match verb.as_str() {
            "add" => {
                let aliases = names(spec, "alias", "aliases")?;
                if aliases.is_empty() {
                    return Err(ApiError::bad_request(
                        "action_request_validation_exception",
                        format!("Validation Failed: 1: [add] action [{n}] names no alias;"),
                    ));
                }
                for alias in aliases {
                    let props = alias_props(spec, &alias)?;
                    for index in &indices {
                        changes.push(AliasAction::Add {
                            index: index.clone(),
                            alias: alias.clone(),
                            props: props.clone(),
                        });
                    }
                }
            }
            "remove" => {
                let patterns = names(spec, "alias", "aliases")?;
                let must_exist = spec.get("must_exist").and_then(Value::as_bool);
                for index in &indices {
                    let have = catalog.aliases_of(index);
                    for p in &patterns {
                        let hits: Vec<&String> =
                            have.keys().filter(|a| wildcard_match(p, a)).collect();
                        if hits.is_empty() && must_exist != Some(false) && !p.contains('*') {
                            // the catalog answers with the missing pair
                            changes.push(AliasAction::Remove {
                                index: index.clone(),
                                alias: p.clone(),
                            });
                        }
                        for a in hits {
                            changes.push(AliasAction::Remove {
                                index: index.clone(),
                                alias: a.clone(),
                            });
                        }
                    }
                }
            }
            "remove_index" => drop_indices.extend(indices),
            other => {
                return Err(ApiError::bad_request(
                    "x_content_parse_exception",
                    format!(
                        "unknown alias action [{other}] in action [{n}]; expected add, remove or remove_index"
                    ),
                ))
            }
        }
    }
    if !changes.is_empty() {
        let exists = index_exists(&st);
        let store = st.ingest.store.clone();
        tokio::task::spawn_blocking(move || store.catalog().update_aliases(&changes, &exists))
            .await
            .map_err(ApiError::internal)??;
    }
    for n in drop_indices {
        if catalog.alias_indices(&n).is_some() {
            return Err(ApiError::bad_request(
                "illegal_argument_exception",
                format!("The provided expression [{n}] matches an alias, specify the corresponding concrete indices instead."),
            ));
        }
        let store = st.ingest.store.clone();
        tokio::task::spawn_blocking(move || store.delete_index(&n))
            .await
            .map_err(ApiError::internal)??;
    }
    Ok(acknowledged())
}

/// `PUT|POST /{index}/_alias/{name}` (body: `is_write_index`, `routing`).
pub async fn put_alias(
    AxState(st): AxState<State>,
    Path((index, name)): Path<(String, String)>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let spec = parse_body(&body)?;
    let indices = action_indices(&st, &[index])?;
    let mut changes = Vec::new();
    for alias in name.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        let props = alias_props(&spec, alias)?;
        for index in &indices {
            changes.push(AliasAction::Add {
                index: index.clone(),
                alias: alias.to_string(),
                props: props.clone(),
            });
        }
    }
    let exists = index_exists(&st);
    let store = st.ingest.store.clone();
    tokio::task::spawn_blocking(move || store.catalog().update_aliases(&changes, &exists))
        .await
        .map_err(ApiError::internal)??;
    Ok(acknowledged())
}

/// `DELETE /{index}/_alias/{name}` (names and patterns on both sides).
pub async fn delete_alias(
    AxState(st): AxState<State>,
    Path((index, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let indices = action_indices(&st, &[index])?;
    let catalog = st.ingest.store.catalog();
    let mut changes = Vec::new();
    for index in &indices {
        let have = catalog.aliases_of(index);
        for p in name.split(',').map(str::trim) {
            let all = p == "*" || p == "_all";
            let hits: Vec<&String> = have
                .keys()
                .filter(|a| all || wildcard_match(p, a))
                .collect();
            for a in hits {
                changes.push(AliasAction::Remove {
                    index: index.clone(),
                    alias: a.clone(),
                });
            }
        }
    }
    if changes.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "aliases_not_found_exception",
            format!("aliases [{name}] missing"),
        ));
    }
    let store = st.ingest.store.clone();
    tokio::task::spawn_blocking(move || store.catalog().update_aliases(&changes, &|_| true))
        .await
        .map_err(ApiError::internal)??;
    Ok(acknowledged())
}

/// Which indices and aliases a read names, and the alias names asked for
/// that exist nowhere (Elasticsearch answers those with a 404 that still
/// carries what was found).
struct Lookup {
    found: BTreeMap<String, BTreeMap<String, AliasProps>>,
    missing: Vec<String>,
}

fn lookup(st: &State, index: Option<&str>, name: Option<&str>) -> Result<Lookup, ApiError> {
    let catalog = st.ingest.store.catalog();
    let indices: Vec<String> = match index {
        Some(e) => st.ingest.store.resolve(e, ResolveOptions::default())?,
        None => st.ingest.store.list().into_iter().map(|i| i.name).collect(),
    };
    let patterns: Vec<&str> = name
        .map(|n| n.split(',').map(str::trim).collect())
        .unwrap_or_default();
    let wanted = |a: &str| {
        patterns.is_empty()
            || patterns
                .iter()
                .any(|p| *p == "_all" || wildcard_match(p, a))
    };
    let mut found = BTreeMap::new();
    for i in &indices {
        let aliases: BTreeMap<String, AliasProps> = catalog
            .aliases_of(i)
            .into_iter()
            .filter(|(a, _)| wanted(a))
            .collect();
        // with no name, every index shows (with `{}` when it has none)
        if !aliases.is_empty() || patterns.is_empty() {
            found.insert(i.clone(), aliases);
        }
    }
    let missing = patterns
        .iter()
        .filter(|p| !p.contains('*') && **p != "_all")
        .filter(|p| !found.values().any(|m| m.contains_key(**p)))
        .map(|p| p.to_string())
        .collect();
    Ok(Lookup { found, missing })
}

fn render(l: Lookup) -> Response {
    let mut out = Map::new();
    for (index, aliases) in l.found {
        let mut m = Map::new();
        for (a, p) in aliases {
            m.insert(a, props_json(&p));
        }
        out.insert(index, json!({"aliases": m}));
    }
    if l.missing.is_empty() {
        return json_response(StatusCode::OK, Value::Object(out).to_string());
    }
    let what = if l.missing.len() == 1 {
        format!("alias [{}] missing", l.missing[0])
    } else {
        format!("aliases [{}] missing", l.missing.join(","))
    };
    out.insert("error".into(), Value::String(what));
    out.insert("status".into(), json!(404));
    json_response(StatusCode::NOT_FOUND, Value::Object(out).to_string())
}

/// How an alias's properties read in `GET` answers.
pub(crate) fn props_json(p: &AliasProps) -> Value {
    let mut m = Map::new();
    if let Some(r) = &p.routing {
        m.insert("index_routing".into(), json!(r));
        m.insert("search_routing".into(), json!(r));
    }
    if let Some(w) = p.is_write_index {
        m.insert("is_write_index".into(), json!(w));
    }
    if let Some(h) = p.is_hidden {
        m.insert("is_hidden".into(), json!(h));
    }
    Value::Object(m)
}

/// `GET /_alias[/{name}]` and `GET /_aliases`
pub async fn get_alias(
    AxState(st): AxState<State>,
    name: Option<Path<String>>,
) -> Result<Response, ApiError> {
    let name = name.map(|Path(n)| n);
    Ok(render(lookup(&st, None, name.as_deref())?))
}

/// `GET /{index}/_alias[/{name}]`
pub async fn get_index_alias(
    AxState(st): AxState<State>,
    Path(params): Path<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let index = get("index").unwrap_or_default();
    let name = get("name");
    Ok(render(lookup(&st, Some(&index), name.as_deref())?))
}

/// `HEAD /_alias/{name}` and `HEAD /{index}/_alias/{name}`
pub async fn head_alias(
    AxState(st): AxState<State>,
    Path(params): Path<Vec<(String, String)>>,
) -> StatusCode {
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    match lookup(&st, get("index").as_deref(), get("name").as_deref()) {
        Ok(l) if l.missing.is_empty() && l.found.values().any(|m| !m.is_empty()) => StatusCode::OK,
        _ => StatusCode::NOT_FOUND,
    }
}

/// `GET /_resolve/index/{expr}`: what a name or pattern stands for, which
/// Kibana and Grafana call before offering an index pattern.
pub async fn resolve_index(
    AxState(st): AxState<State>,
    Path(expr): Path<String>,
    Query(_p): Query<Params>,
) -> Result<Response, ApiError> {
    let catalog = st.ingest.store.catalog();
    let parts: Vec<&str> = expr.split(',').map(str::trim).collect();
    let named = |n: &str| {
        parts
            .iter()
            .any(|p| *p == "_all" || *p == "*" || wildcard_match(p, n))
    };
    let mut indices = Vec::new();
    for info in st.ingest.store.list() {
        if named(&info.name) {
            let aliases: Vec<String> = catalog.aliases_of(&info.name).into_keys().collect();
            let mut e = json!({"name": info.name, "attributes": ["open"]});
            if !aliases.is_empty() {
                e["aliases"] = json!(aliases);
            }
            indices.push(e);
        }
    }
    let aliases: Vec<Value> = catalog
        .aliases()
        .into_iter()
        .filter(|(a, _)| named(a))
        .map(|(a, m)| json!({"name": a, "indices": m.into_keys().collect::<Vec<_>>()}))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        json!({"indices": indices, "aliases": aliases, "data_streams": []}).to_string(),
    ))
}

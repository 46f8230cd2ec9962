//! Cluster and index administration endpoints that clients and tools probe:
//! `/`, health, mappings, create/delete index, refresh (`_cat` is in
//! `cat.rs`).

use axum::extract::{Path, Query, State as AxState};
use axum::http::StatusCode;
use axum::response::Response;
use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::{json_response, resolve_opts, Params};
use crate::api::error::ApiError;
use crate::api::{Body, State};
use crate::query::date_format::DateFormat;
use crate::store::catalog::AliasAction;
use crate::store::mapping::{FieldKind, Mapping};
use crate::store::ResolveOptions;

/// The version we report: an 8.x the 7.17 and 8.x clients both accept.
pub const ES_VERSION: &str = "8.11.0";

fn info(st: &State) -> Value {
    json!({
        "name": st.node_name,
        "cluster_name": "logweave",
        "cluster_uuid": "logweave-cluster",
        "version": {
            "number": ES_VERSION,
            "build_flavor": "default",
            "build_type": "logweave",
            "build_hash": env!("CARGO_PKG_VERSION"),
            "build_date": "2026-11-27T00:00:00.000Z",
            "build_snapshot": false,
            "lucene_version": "9.8.0",
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0",
            "logweave_version": env!("CARGO_PKG_VERSION"),
        },
        "tagline": "You Know, for Search",
    })
}

/// How many indices exist (without `list`, which reads every index's size).
fn index_count(st: &State) -> usize {
    st.ingest
        .store
        .resolve("_all", ResolveOptions::default())
        .map_or(0, |v| v.len())
}

/// `GET /`
pub async fn root(AxState(st): AxState<State>) -> Response {
    json_response(StatusCode::OK, info(&st).to_string())
}

/// `HEAD /`
pub async fn head_root() -> StatusCode {
    StatusCode::OK
}

/// `GET /_cluster/health`
pub async fn health(AxState(st): AxState<State>) -> Response {
    let n = index_count(&st);
    json_response(
        StatusCode::OK,
        json!({
            "cluster_name": "logweave", "status": "green", "timed_out": false,
            "number_of_nodes": 1, "number_of_data_nodes": 1,
            "active_primary_shards": n, "active_shards": n, "relocating_shards": 0,
            "initializing_shards": 0, "unassigned_shards": 0, "delayed_unassigned_shards": 0,
            "number_of_pending_tasks": 0, "number_of_in_flight_fetch": 0,
            "task_max_waiting_in_queue_millis": 0, "active_shards_percent_as_number": 100.0,
        })
        .to_string(),
    )
}

fn mappings_of(st: &State, names: &[String]) -> Value {
    let mut out = Map::new();
    for n in names {
        if let Some(m) = st.ingest.store.mapping(n) {
            out.insert(n.clone(), json!({"mappings": m}));
        }
    }
    Value::Object(out)
}

/// `GET /{index}/_mapping`
pub async fn mapping(
    AxState(st): AxState<State>,
    Path(index): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, ApiError> {
    let names = st.ingest.store.resolve(&index, resolve_opts(&p))?;
    Ok(json_response(
        StatusCode::OK,
        mappings_of(&st, &names).to_string(),
    ))
}

/// `GET /_mapping`
pub async fn mapping_all(AxState(st): AxState<State>) -> Result<Response, ApiError> {
    let names = st.ingest.store.resolve("_all", ResolveOptions::default())?;
    Ok(json_response(
        StatusCode::OK,
        mappings_of(&st, &names).to_string(),
    ))
}

fn refreshed(n: usize) -> Response {
    json_response(
        StatusCode::OK,
        json!({"_shards": {"total": n, "successful": n, "failed": 0}}).to_string(),
    )
}

/// `POST /_refresh`
pub async fn refresh(AxState(st): AxState<State>) -> Result<Response, ApiError> {
    st.ingest.refresh_all().await.map_err(ApiError::internal)?;
    Ok(refreshed(index_count(&st)))
}

/// `POST /{index}/_refresh`
pub async fn refresh_index(
    AxState(st): AxState<State>,
    Path(index): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, ApiError> {
    let names = st.ingest.store.resolve(&index, resolve_opts(&p))?;
    st.ingest.refresh_all().await.map_err(ApiError::internal)?;
    Ok(refreshed(names.len()))
}

/// `GET /{index}`
pub async fn get_index(
    AxState(st): AxState<State>,
    Path(index): Path<String>,
) -> Result<Response, ApiError> {
    let names = st.ingest.store.resolve(&index, ResolveOptions::default())?;
    let infos = st.ingest.store.list();
    let mut out = Map::new();
    for n in &names {
        let info = infos.iter().find(|i| &i.name == n).cloned();
        out.insert(
            n.clone(),
            json!({
                "aliases": aliases_json(&st, n),
                "mappings": st.ingest.store.mapping(n).unwrap_or(json!({})),
                "settings": {"index": {
                    "number_of_shards": "1", "number_of_replicas": "0", "provided_name": n,
                    "uuid": info.map(|i| i.uuid).unwrap_or_default(),
                }},
            }),
        );
    }
    Ok(json_response(
        StatusCode::OK,
        Value::Object(out).to_string(),
    ))
}

fn aliases_json(st: &State, index: &str) -> Value {
    let mut m = Map::new();
    for (a, p) in st.ingest.store.catalog().aliases_of(index) {
        m.insert(a, super::aliases::props_json(&p));
    }
    Value::Object(m)
}

/// `HEAD /{index}`
pub async fn head_index(AxState(st): AxState<State>, Path(index): Path<String>) -> StatusCode {
    match st.ingest.store.resolve(&index, ResolveOptions::default()) {
        Ok(n) if !n.is_empty() => StatusCode::OK,
        _ => StatusCode::NOT_FOUND,
    }
}

/// The `format` of a date field's definition, if it has one; a format the
/// date parser does not know is refused, naming it and the field.
fn date_format_of(def: &Value, path: &str) -> Result<Option<DateFormat>, ApiError> {
    match def.get("format") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(spec)) => DateFormat::parse_spec(spec).map(Some).map_err(|e| {
            ApiError::bad_request(
                "mapper_parsing_exception",
                format!(
                    "Failed to parse mapping: Invalid format: [{spec}] for field [{path}]: {}",
                    e.1
                ),
            )
        }),
        Some(other) => Err(ApiError::bad_request(
            "mapper_parsing_exception",
            format!(
                "Failed to parse mapping: [format] of field [{path}] must be a string, got {other}"
            ),
        )),
    }
}

/// Field types Elasticsearch has that logweave stores without a kind of
/// its own: accepted (Beats and Logstash templates declare them) and left
/// to dynamic mapping, rather than refusing the whole template.
const KNOWN_UNINDEXED: &[&str] = &[
    "geo_point",
    "geo_shape",
    "point",
    "shape",
    "alias",
    "histogram",
    "binary",
    "integer_range",
    "float_range",
    "long_range",
    "double_range",
    "date_range",
    "ip_range",
    "dense_vector",
    "sparse_vector",
    "rank_feature",
    "rank_features",
    "search_as_you_type",
    "completion",
    "token_count",
    "join",
    "percolator",
    "version",
    "aggregate_metric_double",
    "semantic_text",
    "murmur3",
    "annotated_text",
];

/// The field kinds of a `mappings` object (`properties` at the top or,
/// as 6.x/7.x clients send it, under a type name such as `_doc`).
pub(crate) fn mapping_of(mappings: &Value) -> Result<Mapping, ApiError> {
    let mut mapping = Mapping::default();
    let props = mappings.get("properties").or_else(|| {
        mappings.as_object().and_then(|m| {
            m.values()
                .find_map(|t| t.get("properties").filter(|_| m.len() == 1))
        })
    });
    if let Some(Value::Object(props)) = props {
        mapping_from_es(props, "", &mut mapping)?;
    }
    Ok(mapping)
}

/// Translate explicit mapping `properties` into field kinds (unknown types
/// are refused with their name).
fn mapping_from_es(
    props: &Map<String, Value>,
    prefix: &str,
    out: &mut Mapping,
) -> Result<(), ApiError> {
    for (name, def) in props {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        if !crate::store::mapping::path_ok(&path) {
            return Err(ApiError::bad_request(
                "mapper_parsing_exception",
                format!(
                    "field path [{}...] has more than {} segments",
                    path.chars().take(64).collect::<String>(),
                    crate::store::mapping::MAX_PATH_SEGMENTS
                ),
            ));
        }
        if let Some(Value::Object(inner)) = def.get("properties") {
            mapping_from_es(inner, &path, out)?;
            continue;
        }
        let typ = def.get("type").and_then(Value::as_str).unwrap_or("object");
        let kind = match typ {
            "text" | "match_only_text" => FieldKind::Text,
            "keyword" | "constant_keyword" | "wildcard" | "ip" => FieldKind::Keyword,
            "long" | "integer" | "short" | "byte" | "unsigned_long" => FieldKind::Long,
            "float" | "double" | "half_float" | "scaled_float" => FieldKind::Float,
            "boolean" => FieldKind::Boolean,
            "date" | "date_nanos" => FieldKind::Date {
                shape: crate::event::timestamp::DateShape::Iso,
                format: date_format_of(def, &path)?,
            },
            "object" | "nested" | "flattened" => continue,
            t if KNOWN_UNINDEXED.contains(&t) => continue,
            other => {
                return Err(ApiError::bad_request(
                    "mapper_parsing_exception",
                    format!("No handler for type [{other}] declared on field [{path}]"),
                ))
            }
        };
        if path != crate::store::mapping::TIMESTAMP {
            out.fields.insert(path, kind);
        }
    }
    Ok(())
}

/// `PUT /{index}` with optional `mappings.properties`.
pub async fn create_index(
    AxState(st): AxState<State>,
    Path(index): Path<String>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let v: Value = if body.iter().all(|b| b.is_ascii_whitespace()) {
        Value::Null
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(
                "x_content_parse_exception",
                format!("request body is not valid JSON: {e}"),
            )
        })?
    };
    let mapping = match v.get("mappings") {
        Some(m) => mapping_of(m)?,
        None => Mapping::default(),
    };
    let mut aliases = BTreeMap::new();
    if let Some(Value::Object(given)) = v.get("aliases") {
        for (a, spec) in given {
            aliases.insert(a.clone(), super::aliases::alias_props(spec, a)?);
        }
    }
    let created = st.ingest.store.create_index(&index, mapping)?;
    if !created {
        return Err(ApiError {
            status: StatusCode::BAD_REQUEST,
            kind: "resource_already_exists_exception",
            reason: format!("index [{index}] already exists"),
            index: Some(index),
        });
    }
    if !aliases.is_empty() {
        let actions: Vec<AliasAction> = aliases
            .into_iter()
            .map(|(alias, props)| AliasAction::Add {
                index: index.clone(),
                alias,
                props,
            })
            .collect();
        let names: Vec<String> = st.ingest.store.list().into_iter().map(|i| i.name).collect();
        let exists = move |n: &str| names.iter().any(|x| x == n);
        st.ingest
            .store
            .catalog()
            .update_aliases(&actions, &exists)?;
    }
    Ok(json_response(
        StatusCode::OK,
        json!({"acknowledged": true, "shards_acknowledged": true, "index": index}).to_string(),
    ))
}

/// `DELETE /{index}` (comma lists and patterns).
pub async fn delete_index(
    AxState(st): AxState<State>,
    Path(index): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, ApiError> {
    let names = st.ingest.store.resolve(&index, resolve_opts(&p))?;
    for n in names {
        let store = st.ingest.store.clone();
        tokio::task::spawn_blocking(move || store.delete_index(&n))
            .await
            .map_err(ApiError::internal)??;
    }
    Ok(json_response(
        StatusCode::OK,
        json!({"acknowledged": true}).to_string(),
    ))
}

//! Index templates: `_index_template` (composable), `_template` (legacy)
//! and `_component_template`. Logstash, Fluent Bit and Beats install one
//! on start and expect the daily indices they then write to get its field
//! types and aliases; the store applies them when it creates an index.
//! `settings` are kept and shown but change nothing (one shard, no
//! replicas, the store's own refresh), and `data_stream` is accepted and
//! ignored: writes to a matching name make an ordinary index.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State as AxState};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::admin::mapping_of;
use super::aliases::alias_props;
use super::{flag, json_response, Params};
use crate::api::error::ApiError;
use crate::api::{Body, State};
use crate::store::catalog::{AliasProps, Template, TemplateKind};
use crate::store::mapping::Mapping;

fn what(kind: TemplateKind) -> &'static str {
    match kind {
        TemplateKind::Composable => "index template",
        TemplateKind::Legacy => "index template (legacy)",
        TemplateKind::Component => "component template",
    }
}

/// The top-level keys each kind accepts; anything else is a typo to name.
fn known_keys(kind: TemplateKind) -> &'static [&'static str] {
    match kind {
        TemplateKind::Composable => &[
            "index_patterns",
            "template",
            "composed_of",
            "priority",
            "version",
            "_meta",
            "data_stream",
            "allow_auto_create",
            "deprecated",
            "ignore_missing_component_templates",
        ],
        TemplateKind::Legacy => &[
            "index_patterns",
            "template",
            "order",
            "version",
            "settings",
            "mappings",
            "aliases",
        ],
        TemplateKind::Component => &["template", "version", "_meta", "deprecated"],
    }
}

fn bad(reason: String) -> ApiError {
    ApiError::bad_request("x_content_parse_exception", reason)
}

fn strings(v: &Value, key: &str, name: &str) -> Result<Vec<String>, ApiError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str().map(str::to_string).ok_or_else(|| {
                    bad(format!(
                        "[{key}] of template [{name}] must hold strings, got {x}"
                    ))
                })
            })
            .collect(),
        other => Err(bad(format!(
            "[{key}] of template [{name}] must be a string or an array of strings, got {other}"
        ))),
    }
}

fn aliases_of(v: Option<&Value>, name: &str) -> Result<BTreeMap<String, AliasProps>, ApiError> {
    let mut out = BTreeMap::new();
    match v {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (a, spec) in m {
                out.insert(a.clone(), alias_props(spec, a)?);
            }
        }
        Some(other) => {
            return Err(bad(format!(
                "[aliases] of template [{name}] must be an object, got {other}"
            )))
        }
    }
    Ok(out)
}

/// Reads a template body of a kind into what the store applies.
fn parse(kind: TemplateKind, name: &str, body: &[u8]) -> Result<Template, ApiError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        bad(format!(
            "the body of {} [{name}] is not valid JSON: {e}",
            what(kind)
        ))
    })?;
    let Some(obj) = v.as_object() else {
        return Err(bad(format!(
            "the body of {} [{name}] must be a JSON object",
            what(kind)
        )));
    };
    if let Some(k) = obj.keys().find(|k| !known_keys(kind).contains(&k.as_str())) {
        return Err(bad(format!(
            "[{}] unknown field [{k}]; expected one of {:?}",
            what(kind),
            known_keys(kind)
        )));
    }
    // where settings/mappings/aliases sit: under `template`, or at the
    // top for legacy templates (whose `template` is the 5.x/6.x pattern)
    let (section, patterns_key) = match kind {
        TemplateKind::Legacy => (&v, "index_patterns"),
        _ => (v.get("template").unwrap_or(&Value::Null), "index_patterns"),
    };
    let patterns = match (kind, v.get(patterns_key)) {
        (TemplateKind::Component, _) => Vec::new(),
        (_, Some(p)) => strings(p, patterns_key, name)?,
        (TemplateKind::Legacy, None) => match v.get("template") {
            Some(p @ Value::String(_)) => strings(p, "template", name)?,
            _ => Vec::new(),
        },
        (_, None) => Vec::new(),
    };
    if kind != TemplateKind::Component && patterns.is_empty() {
        return Err(ApiError::bad_request(
            "action_request_validation_exception",
            format!("Validation Failed: 1: index patterns are missing for template [{name}];"),
        ));
    }
    let mapping = match section.get("mappings") {
        Some(m) if !m.is_null() => mapping_of(m)?,
        _ => Mapping::default(),
    };
    let priority_key = if kind == TemplateKind::Legacy {
        "order"
    } else {
        "priority"
    };
    let priority = match v.get(priority_key) {
        None | Some(Value::Null) => 0,
        Some(p) => p.as_i64().ok_or_else(|| {
            bad(format!(
                "[{priority_key}] of template [{name}] must be an integer, got {p}"
            ))
        })?,
    };
    let composed_of = match v.get("composed_of") {
        None | Some(Value::Null) => Vec::new(),
        Some(c) => strings(c, "composed_of", name)?,
    };
    Ok(Template {
        patterns,
        priority,
        composed_of,
        mapping,
        aliases: aliases_of(section.get("aliases"), name)?,
        body: v,
    })
}

fn not_found(kind: TemplateKind, name: &str) -> ApiError {
    match kind {
        TemplateKind::Composable => ApiError::new(
            StatusCode::NOT_FOUND,
            "resource_not_found_exception",
            format!("index template matching [{name}] not found"),
        ),
        TemplateKind::Legacy => ApiError::new(
            StatusCode::NOT_FOUND,
            "index_template_missing_exception",
            format!("index_template [{name}] missing"),
        ),
        TemplateKind::Component => ApiError::new(
            StatusCode::NOT_FOUND,
            "resource_not_found_exception",
            format!("component template matching [{name}] not found"),
        ),
    }
}

async fn put(
    st: State,
    kind: TemplateKind,
    name: String,
    p: Params,
    body: Vec<u8>,
) -> Result<Response, ApiError> {
    let t = parse(kind, &name, &body)?;
    let catalog = st.ingest.store.catalog();
    if flag(&p, "create") == Some(true) && !catalog.template_names(kind, &name).is_empty() {
        return Err(ApiError::bad_request(
            "illegal_argument_exception",
            format!("{} [{name}] already exists", what(kind)),
        ));
    }
    let store = st.ingest.store.clone();
    tokio::task::spawn_blocking(move || store.catalog().put_template(kind, &name, t))
        .await
        .map_err(ApiError::internal)??;
    Ok(json_response(
        StatusCode::OK,
        json!({"acknowledged": true}).to_string(),
    ))
}

async fn delete(st: State, kind: TemplateKind, name: String) -> Result<Response, ApiError> {
    let store = st.ingest.store.clone();
    let n = name.clone();
    let gone = tokio::task::spawn_blocking(move || store.catalog().delete_templates(kind, &n))
        .await
        .map_err(ApiError::internal)??;
    if gone.is_empty() {
        return Err(not_found(kind, &name));
    }
    Ok(json_response(
        StatusCode::OK,
        json!({"acknowledged": true}).to_string(),
    ))
}

/// A stored body as `GET` shows it: the given body with defaults filled.
fn shown(kind: TemplateKind, t: &Template) -> Value {
    let mut body = t.body.as_object().cloned().unwrap_or_default();
    match kind {
        TemplateKind::Legacy => {
            body.remove("template");
            body.insert("order".into(), json!(t.priority));
            body.insert("index_patterns".into(), json!(t.patterns));
            for k in ["settings", "mappings", "aliases"] {
                body.entry(k).or_insert_with(|| json!({}));
            }
        }
        TemplateKind::Composable => {
            body.insert("index_patterns".into(), json!(t.patterns));
            body.entry("composed_of").or_insert_with(|| json!([]));
        }
        TemplateKind::Component => {
            body.entry("template").or_insert_with(|| json!({}));
        }
    }
    Value::Object(body)
}

async fn get(st: State, kind: TemplateKind, name: Option<String>) -> Result<Response, ApiError> {
    let expr = name.clone().unwrap_or_default();
    let found = st.ingest.store.catalog().templates(kind, &expr);
    let named = name
        .as_deref()
        .is_some_and(|n| !n.contains('*') && n != "_all");
    if found.is_empty() && named {
        if kind == TemplateKind::Legacy {
            return Ok(json_response(StatusCode::NOT_FOUND, "{}".into()));
        }
        return Err(not_found(kind, &expr));
    }
    let out = match kind {
        TemplateKind::Legacy => {
            let mut m = Map::new();
            for (n, t) in &found {
                m.insert(n.clone(), shown(kind, t));
            }
            Value::Object(m)
        }
        TemplateKind::Composable => {
            json!({"index_templates": found.iter().map(|(n, t)| json!({"name": n, "index_template": shown(kind, t)})).collect::<Vec<_>>()})
        }
        TemplateKind::Component => {
            json!({"component_templates": found.iter().map(|(n, t)| json!({"name": n, "component_template": shown(kind, t)})).collect::<Vec<_>>()})
        }
    };
    Ok(json_response(StatusCode::OK, out.to_string()))
}

fn head(st: &State, kind: TemplateKind, name: &str) -> StatusCode {
    if st
        .ingest
        .store
        .catalog()
        .template_names(kind, name)
        .is_empty()
    {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    }
}

macro_rules! template_routes {
    ($kind:expr, $put:ident, $get_one:ident, $get_all:ident, $delete:ident, $head:ident) => {
        /// `PUT|POST` of one template.
        pub async fn $put(
            AxState(st): AxState<State>,
            Path(name): Path<String>,
            Query(p): Query<Params>,
            Body(body): Body,
        ) -> Result<Response, ApiError> {
            put(st, $kind, name, p, body.to_vec()).await
        }

        /// `GET` of templates by name or pattern.
        pub async fn $get_one(
            AxState(st): AxState<State>,
            Path(name): Path<String>,
        ) -> Result<Response, ApiError> {
            get(st, $kind, Some(name)).await
        }

        /// `GET` of every template of the kind.
        pub async fn $get_all(AxState(st): AxState<State>) -> Result<Response, ApiError> {
            get(st, $kind, None).await
        }

        /// `DELETE` of templates by name or pattern.
        pub async fn $delete(
            AxState(st): AxState<State>,
            Path(name): Path<String>,
        ) -> Result<Response, ApiError> {
            delete(st, $kind, name).await
        }

        /// `HEAD`: 200 when the template exists.
        pub async fn $head(AxState(st): AxState<State>, Path(name): Path<String>) -> StatusCode {
            head(&st, $kind, &name)
        }
    };
}

template_routes!(
    TemplateKind::Composable,
    put_index_template,
    get_index_template,
    get_index_templates,
    delete_index_template,
    head_index_template
);
template_routes!(
    TemplateKind::Legacy,
    put_legacy_template,
    get_legacy_template,
    get_legacy_templates,
    delete_legacy_template,
    head_legacy_template
);
template_routes!(
    TemplateKind::Component,
    put_component_template,
    get_component_template,
    get_component_templates,
    delete_component_template,
    head_component_template
);

//! `_search`, `_count`, scroll and point-in-time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State as AxState};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::aggs_render;
use super::scroll::ScrollCtx;
use super::{flag, json_response, resolve_opts, Params};
use crate::api::error::ApiError;
use crate::api::{Body, State};
use crate::query::aggs::AggSpec;
use crate::query::datemath::parse_duration_ms;
use crate::query::es_dsl::{self, parse_search_body, parse_sort, parse_track_total};
use crate::query::lucene;
use crate::query::model::{Operator, Query as Q, SearchRequest, SourceFilter};
use crate::store::{pack_position, unpack_position, SearchResult, Snapshot};

pub(crate) fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            "x_content_parse_exception",
            format!("request body is not valid JSON: {e}"),
        )
    })
}

fn num_param(p: &Params, k: &str) -> Result<Option<usize>, ApiError> {
    p.get(k)
        .map(|v| {
            v.parse::<usize>().map_err(|_| {
                ApiError::bad_request(
                    "illegal_argument_exception",
                    format!("[{k}] must be a non-negative integer, got [{v}]"),
                )
            })
        })
        .transpose()
}

/// Apply URL parameters over the body's request.
fn apply_params(req: &mut SearchRequest, p: &Params) -> Result<(), ApiError> {
    if let Some(q) = p.get("q") {
        let opts = lucene::Options {
            default_fields: p.get("df").map(|d| vec![d.clone()]).unwrap_or_default(),
            default_operator: match p
                .get("default_operator")
                .map(|s| s.to_ascii_lowercase())
                .as_deref()
            {
                Some("and") => Operator::And,
                _ => Operator::Or,
            },
            simple: false,
        };
        req.query = lucene::parse(q, &opts).map_err(es_dsl::DslError::from)?;
    }
    if let Some(n) = num_param(p, "size")? {
        req.size = n;
    }
    if let Some(n) = num_param(p, "from")? {
        req.from = n;
    }
    if let Some(s) = p.get("sort") {
        req.sort = parse_sort(&Value::String(s.clone()))?;
    }
    if let Some(t) = p.get("track_total_hits") {
        req.track_total_hits = parse_track_total(&Value::String(t.clone()))?;
    }
    if let Some(s) = p.get("_source") {
        req.source = match s.as_str() {
            "false" => SourceFilter {
                disabled: true,
                ..Default::default()
            },
            "true" => SourceFilter::default(),
            list => SourceFilter {
                includes: list.split(',').map(str::to_string).collect(),
                ..Default::default()
            },
        };
    }
    if let Some(s) = p
        .get("_source_includes")
        .or_else(|| p.get("_source_include"))
    {
        req.source.includes = s.split(',').map(str::to_string).collect();
    }
    if let Some(s) = p
        .get("_source_excludes")
        .or_else(|| p.get("_source_exclude"))
    {
        req.source.excludes = s.split(',').map(str::to_string).collect();
    }
    if let Some(t) = p.get("timeout") {
        req.timeout_ms = parse_duration_ms(t).map(|x| x as u64);
    }
    if req.from.saturating_add(req.size) > 100_000 {
        return Err(ApiError::bad_request(
            "illegal_argument_exception",
            format!("Result window is too large, from + size must be less than or equal to: [100000] but was [{}]. Use scroll or search_after to page through large results.", req.from + req.size),
        ));
    }
    Ok(())
}

fn render(
    res: &SearchResult,
    aggs: &[AggSpec],
    took_ms: u128,
    p: &Params,
    scroll_id: Option<&str>,
    pit: Option<&str>,
    wanted: &[super::hit_fields::Wanted],
) -> String {
    let total_int = flag(p, "rest_total_hits_as_int").unwrap_or(false);
    let hits: Vec<Value> = res
        .hits
        .iter()
        .map(|h| {
            let mut m = Map::new();
            m.insert("_index".into(), json!(h.index));
            m.insert("_id".into(), json!(h.id));
            m.insert("_score".into(), h.score.map_or(Value::Null, |s| json!(s)));
            if let Some(s) = &h.source {
                m.insert("_source".into(), s.clone());
            }
            if let Some(hl) = &h.highlight {
                m.insert("highlight".into(), Value::Object(hl.clone()));
            }
            if !wanted.is_empty() {
                let f = super::hit_fields::render(wanted, h);
                if !f.is_empty() {
                    m.insert("fields".into(), Value::Object(f));
                }
            }
            let mut sort = h.sort.clone();
            if pit.is_some() {
                let n = h.cursor.len();
                if n >= 3 {
                    let part = |i: usize| h.cursor[i].as_u64().unwrap_or(0) as u32;
                    let enc = pack_position(part(n - 3), part(n - 2), part(n - 1));
                    sort.get_or_insert_with(Vec::new).push(json!(enc));
                }
            }
            if let Some(s) = sort {
                m.insert("sort".into(), Value::Array(s));
            }
            Value::Object(m)
        })
        .collect();
    let mut hits_obj = Map::new();
    if res.track_total {
        hits_obj.insert(
            "total".into(),
            if total_int {
                json!(res.total)
            } else {
                json!({"value": res.total, "relation": if res.total_exact { "eq" } else { "gte" }})
            },
        );
    }
    hits_obj.insert(
        "max_score".into(),
        res.max_score.map_or(Value::Null, |s| json!(s)),
    );
    hits_obj.insert("hits".into(), Value::Array(hits));
    let mut out = Map::new();
    if let Some(s) = scroll_id {
        out.insert("_scroll_id".into(), json!(s));
    }
    if let Some(pid) = pit {
        out.insert("pit_id".into(), json!(pid));
    }
    out.insert("took".into(), json!(took_ms as u64));
    out.insert("timed_out".into(), json!(res.timed_out));
    out.insert(
        "_shards".into(),
        json!({"total": res.shards, "successful": res.shards, "skipped": 0, "failed": 0}),
    );
    out.insert("hits".into(), Value::Object(hits_obj));
    if let Some(a) = &res.aggregations {
        out.insert("aggregations".into(), aggs_render::render(aggs, a));
    }
    Value::Object(out).to_string()
}

/// One search (also one entry of `_msearch`): the answer's JSON text,
/// pipeline aggregations, `rate` and `top_metrics` computed from the
/// store's answer.
pub(super) async fn do_search(
    st: State,
    index: Option<String>,
    p: Params,
    body: bytes::Bytes,
) -> Result<String, ApiError> {
    let mut body_v = parse_body(&body)?;
    let pipelines = super::pipeline::take(&mut body_v)?;
    let rewrites = super::metric_rewrites::take(&mut body_v)?;
    let text = search_value(st, index, p, body_v).await?;
    if pipelines.is_empty() && rewrites.is_empty() {
        return Ok(text);
    }
    let mut v: Value = serde_json::from_str(&text).map_err(ApiError::internal)?;
    if let Some(aggs) = v.get_mut("aggregations") {
        super::metric_rewrites::apply(&rewrites, aggs)?;
        super::pipeline::apply(&pipelines, aggs)?;
    }
    Ok(v.to_string())
}

async fn search_value(
    st: State,
    index: Option<String>,
    p: Params,
    body_v: Value,
) -> Result<String, ApiError> {
    let started = Instant::now();
    let wanted = super::hit_fields::requested(&body_v)?;
    let pit = body_v.get("pit").cloned();
    let mut body_v = body_v;
    if let Some(m) = body_v.as_object_mut() {
        m.remove("pit");
    }
    let mut req = parse_search_body(&body_v)?;
    apply_params(&mut req, &p)?;
    st.expand_patterns(&mut req.query);
    if let Some(f) = req.post_filter.as_mut() {
        st.expand_patterns(f);
    }
    let agg_specs = req.aggs.clone();
    // Point in time: search its snapshot; `search_after` carries a tiebreak.
    if let Some(pit) = pit {
        if index.is_some() {
            return Err(ApiError::bad_request(
                "action_request_validation_exception",
                "[indices] cannot be used with point in time",
            ));
        }
        let id = pit
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad_request("parsing_exception", "[pit] requires [id]"))?;
        let keep = pit
            .get("keep_alive")
            .and_then(Value::as_str)
            .and_then(parse_duration_ms)
            .map(|m| Duration::from_millis(m as u64));
        let snap = st.scrolls.pit(id, keep).ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "search_context_missing_exception",
                format!("No search context found for id [{id}]"),
            )
        })?;
        let n = if req.sort.is_empty() {
            1
        } else {
            req.sort.len()
        };
        let cursor = match req.search_after.take() {
            Some(sa) if sa.len() == n + 1 => {
                let (pi, si, doc) = unpack_position(sa[n].as_u64().unwrap_or(0));
                let mut c: Vec<Value> = sa[..n].to_vec();
                c.extend([json!(pi), json!(si), json!(doc)]);
                Some(c)
            }
            other => {
                req.search_after = other;
                None
            }
        };
        let pid = id.to_string();
        let mut res = crate::api::blocking(move || {
            snap.search(&req, cursor.as_deref()).map_err(ApiError::from)
        })
        .await?;
        st.merge_pattern_buckets(&agg_specs, &mut res);
        return Ok(render(
            &res,
            &agg_specs,
            started.elapsed().as_millis(),
            &p,
            None,
            Some(&pid),
            &wanted,
        ));
    }
    let expr = index.unwrap_or_else(|| "_all".to_string());
    let names = st.ingest.store.resolve(&expr, resolve_opts(&p))?;
    let snap = st.ingest.store.snapshot(&names)?;
    if let Some(keep) = p.get("scroll") {
        let keep_ms = parse_duration_ms(keep).ok_or_else(|| {
            ApiError::bad_request(
                "illegal_argument_exception",
                format!("failed to parse [scroll] value [{keep}]"),
            )
        })?;
        if req.from > 0 {
            return Err(ApiError::bad_request(
                "action_request_validation_exception",
                "Validation Failed: 1: using [from] is not allowed in a scroll context;",
            ));
        }
        let snap2 = snap.clone();
        let req2 = req.clone();
        let mut res =
            crate::api::blocking(move || snap2.search(&req2, None).map_err(ApiError::from)).await?;
        st.merge_pattern_buckets(&agg_specs, &mut res);
        let cursor = res.hits.last().map(|h| h.cursor.clone());
        let id = st
            .scrolls
            .open(ScrollCtx {
                snapshot: snap,
                req,
                cursor,
                expires: Instant::now() + Duration::from_millis(keep_ms as u64),
            })
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "exception",
                    "Trying to create too many scroll contexts. Clear open scrolls and retry",
                )
            })?;
        return Ok(render(
            &res,
            &agg_specs,
            started.elapsed().as_millis(),
            &p,
            Some(&id),
            None,
            &wanted,
        ));
    }
    let mut res =
        crate::api::blocking(move || snap.search(&req, None).map_err(ApiError::from)).await?;
    st.merge_pattern_buckets(&agg_specs, &mut res);
    Ok(render(
        &res,
        &agg_specs,
        started.elapsed().as_millis(),
        &p,
        None,
        None,
        &wanted,
    ))
}

/// `GET|POST /_search`
pub async fn search_all(
    AxState(st): AxState<State>,
    Query(p): Query<Params>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    Ok(json_response(
        StatusCode::OK,
        do_search(st, None, p, body).await?,
    ))
}

/// `GET|POST /{index}/_search`
pub async fn search_index(
    AxState(st): AxState<State>,
    Path(index): Path<String>,
    Query(p): Query<Params>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    Ok(json_response(
        StatusCode::OK,
        do_search(st, Some(index), p, body).await?,
    ))
}

async fn continue_scroll(
    st: State,
    id: String,
    keep: Option<String>,
    p: Params,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let mut ctx = st.scrolls.take(&id).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "search_context_missing_exception",
            format!("No search context found for id [{id}]"),
        )
    })?;
    if let Some(k) = keep.and_then(|k| parse_duration_ms(&k)) {
        ctx.expires = Instant::now() + Duration::from_millis(k as u64);
    }
    let (res, ctx) = crate::api::blocking(move || {
        let res = match &ctx.cursor {
            Some(c) => ctx.snapshot.search(&ctx.req, Some(c)),
            // The previous page was empty: the scroll is exhausted.
            None => Ok(SearchResult {
                shards: 1,
                track_total: true,
                total_exact: true,
                ..Default::default()
            }),
        }
        .map_err(ApiError::from)?;
        Ok((res, ctx))
    })
    .await?;
    let mut ctx = ctx;
    if let Some(last) = res.hits.last() {
        ctx.cursor = Some(last.cursor.clone());
    }
    let body = render(
        &res,
        &ctx.req.aggs,
        started.elapsed().as_millis(),
        &p,
        Some(&id),
        None,
        &[],
    );
    st.scrolls.put_back(id, ctx);
    Ok(json_response(StatusCode::OK, body))
}

fn scroll_args(body: &Value, p: &Params) -> (Option<String>, Option<String>) {
    let id = body
        .get("scroll_id")
        .and_then(|v| {
            v.as_str().map(str::to_string).or_else(|| {
                v.as_array()
                    .and_then(|a| a.first())
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
        })
        .or_else(|| p.get("scroll_id").cloned());
    let keep = body
        .get("scroll")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| p.get("scroll").cloned());
    (id, keep)
}

/// `GET|POST /_search/scroll`
pub async fn scroll(
    AxState(st): AxState<State>,
    Query(p): Query<Params>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let v = parse_body(&body)?;
    let (id, keep) = scroll_args(&v, &p);
    let id = id.ok_or_else(|| {
        ApiError::bad_request(
            "action_request_validation_exception",
            "Validation Failed: 1: scrollId is missing;",
        )
    })?;
    continue_scroll(st, id, keep, p).await
}

/// `GET|POST /_search/scroll/{id}`
pub async fn scroll_path(
    AxState(st): AxState<State>,
    Path(id): Path<String>,
    Query(p): Query<Params>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let v = parse_body(&body)?;
    let (_, keep) = scroll_args(&v, &p);
    continue_scroll(st, id, keep, p).await
}

fn cleared(n: usize) -> Response {
    json_response(
        StatusCode::OK,
        json!({"succeeded": true, "num_freed": n}).to_string(),
    )
}

/// `DELETE /_search/scroll`
pub async fn clear_scroll(
    AxState(st): AxState<State>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let v = parse_body(&body)?;
    let ids: Vec<String> = match v.get("scroll_id") {
        Some(Value::String(s)) => s.split(',').map(str::to_string).collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    if ids.is_empty() || ids.iter().any(|i| i == "_all") {
        return Ok(cleared(st.scrolls.clear_all()));
    }
    Ok(cleared(ids.iter().filter(|i| st.scrolls.clear(i)).count()))
}

/// `DELETE /_search/scroll/{id}`
pub async fn clear_scroll_path(AxState(st): AxState<State>, Path(id): Path<String>) -> Response {
    if id == "_all" {
        return cleared(st.scrolls.clear_all());
    }
    cleared(id.split(',').filter(|i| st.scrolls.clear(i)).count())
}

/// `POST /{index}/_pit?keep_alive=1m`
pub async fn open_pit(
    AxState(st): AxState<State>,
    Path(index): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, ApiError> {
    let keep = p
        .get("keep_alive")
        .and_then(|k| parse_duration_ms(k))
        .ok_or_else(|| {
            ApiError::bad_request(
                "action_request_validation_exception",
                "Validation Failed: 1: [keep_alive] is not specified;",
            )
        })?;
    let names = st.ingest.store.resolve(&index, resolve_opts(&p))?;
    let snap: Arc<dyn Snapshot> = st.ingest.store.snapshot(&names)?;
    let id = st
        .scrolls
        .open_pit(snap, Duration::from_millis(keep as u64));
    Ok(json_response(StatusCode::OK, json!({"id": id}).to_string()))
}

/// `DELETE /_pit`
pub async fn close_pit(
    AxState(st): AxState<State>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let v = parse_body(&body)?;
    let id = v.get("id").and_then(Value::as_str).unwrap_or_default();
    let ok = st.scrolls.close_pit(id);
    Ok(json_response(
        if ok {
            StatusCode::OK
        } else {
            StatusCode::NOT_FOUND
        },
        json!({"succeeded": ok, "num_freed": ok as u8}).to_string(),
    ))
}

async fn do_count(
    st: State,
    index: Option<String>,
    p: Params,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let v = parse_body(&body)?;
    let mut query = match v.get("query") {
        Some(q) => es_dsl::parse_query(q, 0)?,
        None => Q::MatchAll,
    };
    if let Value::Object(m) = &v {
        if let Some(k) = m.keys().find(|k| k.as_str() != "query") {
            return Err(ApiError::bad_request(
                "parsing_exception",
                format!("request does not support [{k}]"),
            ));
        }
    }
    if let Some(q) = p.get("q") {
        query = lucene::parse(
            q,
            &lucene::Options {
                default_fields: p.get("df").map(|d| vec![d.clone()]).unwrap_or_default(),
                ..Default::default()
            },
        )
        .map_err(es_dsl::DslError::from)?;
    }
    st.expand_patterns(&mut query);
    let expr = index.unwrap_or_else(|| "_all".to_string());
    let names = st.ingest.store.resolve(&expr, resolve_opts(&p))?;
    let store = st.ingest.store.clone();
    let n_shards = names.len();
    let count =
        crate::api::blocking(move || store.count(&names, &query).map_err(ApiError::from)).await?;
    Ok(json_response(
        StatusCode::OK,
        json!({"count": count, "_shards": {"total": n_shards, "successful": n_shards, "skipped": 0, "failed": 0}}).to_string(),
    ))
}

/// `GET|POST /_count`
pub async fn count_all(
    AxState(st): AxState<State>,
    Query(p): Query<Params>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    do_count(st, None, p, body).await
}

/// `GET|POST /{index}/_count`
pub async fn count_index(
    AxState(st): AxState<State>,
    Path(index): Path<String>,
    Query(p): Query<Params>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    do_count(st, Some(index), p, body).await
}

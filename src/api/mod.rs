//! The HTTP API: Elasticsearch-compatible routes at the root, logweave's
//! own under `/api/v1/`, Prometheus metrics at `/metrics`, the dashboard
//! under `/ui/`.

pub mod alerting;
pub mod analysis;
pub mod error;
pub mod es;
pub mod events;
pub mod indices;
pub mod ingest;
pub mod metrics;
pub mod otlp;
pub mod pretty;
pub mod saved_searches;
pub mod ui;
pub mod unhandled;
pub mod wire;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Extension;
use axum::Router;
use bytes::Bytes;

use crate::ingest::Ingest;
use error::ApiError;

/// Shared state of all handlers.
pub struct AppState {
    pub ingest: Arc<Ingest>,
    pub scrolls: es::scroll::Scrolls,
    /// Background delete/update by query runs.
    pub tasks: es::tasks::Tasks,
    pub started: std::time::Instant,
    pub node_name: String,
    /// In-flight bulk bytes above which writes get 429.
    pub max_inflight_bytes: usize,
    pub inflight: Arc<tokio::sync::Semaphore>,
    /// Zone for naive timestamps in records.
    pub default_tz: Option<jiff::tz::TimeZone>,
    /// Counters of the forward input.
    pub forward: Arc<crate::input::forward::ForwardMetrics>,
    /// Counters of the syslog input.
    pub syslog: Arc<crate::input::syslog::SyslogMetrics>,
    /// The pattern miners (`_pattern`), when mining is on.
    pub patterns: Option<crate::ingest::patterns::PatternTagger>,
    /// Watches and stored anomalies, when `[analysis]` is on.
    pub analysis: Option<Arc<crate::analysis::live::Analysis>>,
    /// The store as the analysis reads it (`_pattern` ids expanded).
    pub source: Option<Arc<crate::analysis::live::StoreSource>>,
    /// Rules, alerts and notifications.
    pub alerting: Option<Arc<crate::alerting::Alerting>>,
    /// Named dashboard views, kept in the data directory.
    pub saved_searches: Option<Arc<saved_searches::SavedSearches>>,
    /// Days after its newest event an index is deleted (0: kept).
    pub retention_days: u64,
    /// `[[routes]]`, for inputs on the HTTP port that carry tags (OTLP).
    pub router: crate::route::Router,
}

impl AppState {
    /// Lets `_pattern:<id>` also find the events stored under the ids that
    /// were merged into `<id>`'s template.
    pub fn expand_patterns(&self, q: &mut crate::query::model::Query) {
        if let Some(t) = &self.patterns {
            let mut p = t.lock();
            q.expand_terms(
                "_pattern",
                &mut |v| match crate::analysis::patterns::PatternId::from_hex(v) {
                    Some(id) => {
                        let members = p.members(id);
                        if members.is_empty() {
                            vec![v.to_string()]
                        } else {
                            members.iter().map(|m| m.to_hex()).collect()
                        }
                    }
                    None => vec![v.to_string()],
                },
            );
        }
    }
}

impl AppState {
    /// `terms` on `_pattern` by the templates' ids as they are now.
    pub fn merge_pattern_buckets(
        &self,
        specs: &[crate::query::aggs::AggSpec],
        res: &mut crate::store::SearchResult,
    ) {
        let (Some(t), Some(aggs)) = (&self.patterns, res.aggregations.as_mut()) else {
            return;
        };
        if !es::pattern_buckets::mentions_pattern(specs) {
            return;
        }
        let mut p = t.lock();
        es::pattern_buckets::merge(specs, aggs, &mut |id| {
            let id = crate::analysis::patterns::PatternId::from_hex(id)?;
            p.info(id).map(|i| i.id.to_hex())
        });
    }
}

pub type State = Arc<AppState>;

/// Runs store work (searches, aggregations) on the blocking pool, so the
/// async threads keep serving.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
}

/// `server.max_body_bytes`, for the message of a 413 (the limit itself is
/// axum's `DefaultBodyLimit`).
#[derive(Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A request body with Elasticsearch-shaped errors for oversize bodies.
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let limit = req.extensions().get::<BodyLimit>().map(|l| l.0);
        match Bytes::from_request(req, state).await {
            Ok(b) => Ok(Body(b)),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "content_too_long_exception",
                match limit {
                    Some(n) => format!(
                        "request body is larger than server.max_body_bytes ({n} bytes); \
                         send smaller requests or raise server.max_body_bytes in the config"
                    ),
                    None => "request body is larger than server.max_body_bytes".to_string(),
                },
            )),
            Err(e) => Err(ApiError::bad_request(
                "parse_exception",
                format!("cannot read request body: {e}"),
            )),
        }
    }
}

async fn product_header(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    res.headers_mut().insert(
        "x-elastic-product",
        HeaderValue::from_static("Elasticsearch"),
    );
    res
}

/// Build the router; tests call this directly.
pub fn router(state: State, max_body_bytes: usize) -> Router {
    use es::{
        admin, aliases, by_query, cat, field_caps, msearch, nodes, search, tasks, templates as tpl,
        update, write,
    };
    let routes = Router::new()
        .route("/", get(admin::root).head(admin::head_root))
        .route("/_cluster/health", get(admin::health))
        .route("/_cluster/health/{index}", get(admin::health))
        .route("/_cluster/stats", get(nodes::cluster_stats))
        .route("/_nodes", get(nodes::info))
        .route("/_nodes/stats", get(nodes::stats))
        .route("/_nodes/stats/{metric}", get(nodes::stats))
        .route("/_nodes/{filter}", get(nodes::info))
        .route("/_nodes/{filter}/stats", get(nodes::stats))
        .route("/_nodes/{filter}/stats/{metric}", get(nodes::stats))
        .route("/_nodes/{filter}/{metric}", get(nodes::info))
        .route("/_sql", get(nodes::sql).post(nodes::sql))
        .route("/_sql/{what}", get(nodes::sql).post(nodes::sql))
        .route("/_query", get(nodes::esql).post(nodes::esql))
        .route("/{index}/_eql/search", get(nodes::eql).post(nodes::eql))
        .route("/_bulk", post(write::bulk).put(write::bulk))
        .route(
            "/{index}/_bulk",
            post(write::bulk_index).put(write::bulk_index),
        )
        .route("/{index}/_doc", post(write::index_auto_id))
        .route(
            "/{index}/_doc/{id}",
            get(write::get_doc)
                .put(write::index_with_id)
                .post(write::index_with_id)
                .head(write::head_doc)
                .delete(write::delete_doc),
        )
        .route("/{index}/_create/{id}", put_post(write::create_with_id))
        .route("/{index}/_update/{id}", post(update::update_doc))
        .route("/{index}/_delete_by_query", post(by_query::delete_by_query))
        .route("/{index}/_update_by_query", post(by_query::update_by_query))
        .route("/_tasks", get(tasks::list))
        .route("/_tasks/{id}", get(tasks::get_task))
        .route("/_tasks/{id}/_cancel", post(tasks::cancel))
        .route("/_search", get(search::search_all).post(search::search_all))
        .route(
            "/{index}/_search",
            get(search::search_index).post(search::search_index),
        )
        .route(
            "/_search/scroll",
            get(search::scroll)
                .post(search::scroll)
                .delete(search::clear_scroll),
        )
        .route(
            "/_search/scroll/{id}",
            get(search::scroll_path)
                .post(search::scroll_path)
                .delete(search::clear_scroll_path),
        )
        .route("/_mget", get(write::mget).post(write::mget))
        .route(
            "/{index}/_mget",
            get(write::mget_index).post(write::mget_index),
        )
        .route("/_msearch", get(msearch::msearch).post(msearch::msearch))
        .route(
            "/{index}/_msearch",
            get(msearch::msearch_index).post(msearch::msearch_index),
        )
        .route(
            "/_field_caps",
            get(field_caps::field_caps_all).post(field_caps::field_caps_all),
        )
        .route(
            "/{index}/_field_caps",
            get(field_caps::field_caps).post(field_caps::field_caps),
        )
        .route("/_pit", axum::routing::delete(search::close_pit))
        .route("/{index}/_pit", post(search::open_pit))
        .route("/_count", get(search::count_all).post(search::count_all))
        .route(
            "/{index}/_count",
            get(search::count_index).post(search::count_index),
        )
        .route("/_cat", get(cat::cat_root))
        .route("/_cat/indices", get(cat::indices))
        .route("/_cat/indices/{index}", get(cat::indices_for))
        .route("/_cat/health", get(cat::health))
        .route("/_cat/count", get(cat::count))
        .route("/_cat/count/{index}", get(cat::count_for))
        .route("/_cat/aliases", get(cat::aliases))
        .route("/_cat/aliases/{alias}", get(cat::aliases))
        .route("/_cat/templates", get(cat::templates))
        .route("/_cat/templates/{name}", get(cat::templates))
        .route(
            "/_aliases",
            post(aliases::update_aliases).get(aliases::get_alias),
        )
        .route("/_alias", get(aliases::get_alias))
        .route(
            "/_alias/{name}",
            get(aliases::get_alias).head(aliases::head_alias),
        )
        .route("/{index}/_alias", get(aliases::get_index_alias))
        .route("/{index}/_aliases", get(aliases::get_index_alias))
        .route(
            "/{index}/_alias/{name}",
            get(aliases::get_index_alias)
                .head(aliases::head_alias)
                .put(aliases::put_alias)
                .post(aliases::put_alias)
                .delete(aliases::delete_alias),
        )
        .route(
            "/{index}/_aliases/{name}",
            get(aliases::get_index_alias)
                .head(aliases::head_alias)
                .put(aliases::put_alias)
                .post(aliases::put_alias)
                .delete(aliases::delete_alias),
        )
        .route("/_resolve/index/{expr}", get(aliases::resolve_index))
        .route("/_index_template", get(tpl::get_index_templates))
        .route(
            "/_index_template/{name}",
            get(tpl::get_index_template)
                .put(tpl::put_index_template)
                .post(tpl::put_index_template)
                .delete(tpl::delete_index_template)
                .head(tpl::head_index_template),
        )
        .route("/_template", get(tpl::get_legacy_templates))
        .route(
            "/_template/{name}",
            get(tpl::get_legacy_template)
                .put(tpl::put_legacy_template)
                .post(tpl::put_legacy_template)
                .delete(tpl::delete_legacy_template)
                .head(tpl::head_legacy_template),
        )
        .route("/_component_template", get(tpl::get_component_templates))
        .route(
            "/_component_template/{name}",
            get(tpl::get_component_template)
                .put(tpl::put_component_template)
                .post(tpl::put_component_template)
                .delete(tpl::delete_component_template)
                .head(tpl::head_component_template),
        )
        .route("/_mapping", get(admin::mapping_all))
        .route("/{index}/_mapping", get(admin::mapping))
        .route("/_refresh", post(admin::refresh).get(admin::refresh))
        .route(
            "/{index}/_refresh",
            post(admin::refresh_index).get(admin::refresh_index),
        )
        .route(
            "/{index}",
            get(admin::get_index)
                .head(admin::head_index)
                .put(admin::create_index)
                .delete(admin::delete_index),
        )
        .route("/metrics", get(metrics::metrics))
        // The dashboard: `ui` is taken by it, never an index name in a path.
        .route("/ui", get(ui::redirect))
        .route("/ui/", get(ui::index))
        .route("/ui/{*path}", get(ui::file))
        .route("/v1/logs", post(otlp::logs))
        .route("/api/v1/health", get(admin::health))
        .route("/api/v1/ingest/{index}", post(ingest::ingest))
        .route(
            "/api/v1/series",
            get(analysis::series).post(analysis::series),
        )
        .route(
            "/api/v1/patterns",
            get(analysis::patterns).post(analysis::patterns),
        )
        .route(
            "/api/v1/forecast",
            get(analysis::forecast::forecast).post(analysis::forecast::forecast),
        )
        .route("/api/v1/anomalies", get(analysis::anomalies))
        .route("/api/v1/anomalies/_detect", post(analysis::detect))
        .route("/api/v1/stream", get(analysis::stream))
        .route("/api/v1/tail", get(events::tail::tail))
        .route(
            "/api/v1/context/{index}/{id}",
            get(events::context::context),
        )
        .route(
            "/api/v1/export",
            get(events::export::export).post(events::export::export),
        )
        .route("/api/v1/indices", get(indices::list))
        .route("/api/v1/searches", get(saved_searches::list))
        .route(
            "/api/v1/searches/{name}",
            get(saved_searches::get)
                .put(saved_searches::put)
                .delete(saved_searches::delete),
        )
        .route(
            "/api/v1/rules",
            get(alerting::rules).post(alerting::rules::create_rule),
        )
        .route("/api/v1/rules/_reload", post(alerting::rules::reload))
        .route("/api/v1/rules/_test", post(alerting::rules::test_rule))
        .route(
            "/api/v1/rules/{name}",
            get(alerting::rules::get_rule)
                .put(alerting::rules::put_rule)
                .delete(alerting::rules::delete_rule),
        )
        .route(
            "/api/v1/silences",
            get(alerting::silences::list).post(alerting::silences::create),
        )
        .route(
            "/api/v1/silences/{id}",
            get(alerting::silences::get).delete(alerting::silences::expire),
        )
        .route("/api/v1/alerts", get(alerting::alerts))
        .route(
            "/api/v1/alerts/undeliverable/{id}/_resend",
            post(alerting::resend),
        )
        .fallback(unhandled::fallback)
        .layer(middleware::from_fn(unhandled::api_names_are_not_indices))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(Extension(BodyLimit(max_body_bytes)))
        .layer(tower_http::decompression::RequestDecompressionLayer::new())
        .with_state(state);
    // Around the whole router, so that its answers (axum's 405 with
    // `Allow` included) are seen as sent.
    Router::new()
        .fallback_service(routes)
        .layer(middleware::from_fn(unhandled::es_answers))
        .layer(middleware::from_fn(pretty::pretty))
        .layer(middleware::from_fn(product_header))
}

fn put_post<H, T>(h: H) -> axum::routing::MethodRouter<State>
where
    H: axum::handler::Handler<T, State> + Clone,
    T: 'static,
{
    axum::routing::put(h.clone()).post(h)
}

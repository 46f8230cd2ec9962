//! The dashboard under `/ui/`: static files embedded in the binary (no
//! network and no Node at build or run time). The page talks only to the
//! public API (`/{index}/_search` with aggregations), so whatever it shows
//! can also be scripted.
//!
//! The files are in `ui/` at the repository root: plain ES modules, no build
//! step; `ui/vendor/` holds the vendored charting library with its licence.

use axum::extract::{Path, RawQuery};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::error::ApiError;

/// One embedded file: its path under `/ui/`, content type and bytes.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $ctype:expr) => {
        Asset {
            path: $path,
            content_type: $ctype,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/ui/", $path)),
        }
    };
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";
const SVG: &str = "image/svg+xml";

static ASSETS: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("charts.js", JS),
    asset!("table.js", JS),
    asset!("sidebar.js", JS),
    asset!("tail.js", JS),
    asset!("views/trend.js", JS),
    asset!("views/patterns.js", JS),
    asset!("views/alerts.js", JS),
    asset!("views/indices.js", JS),
    asset!("style.css", CSS),
    asset!("favicon.svg", SVG),
    asset!("vendor/uplot/uPlot.iife.min.js", JS),
    asset!("vendor/uplot/uPlot.min.css", CSS),
    asset!("vendor/uplot/LICENSE", TEXT),
    asset!("vendor/README.md", TEXT),
];

/// Everything the page loads comes from this server: no external requests.
/// (`style-src 'unsafe-inline'` for the sizes the chart library sets.)
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
                   form-action 'self'; frame-ancestors 'none'";

fn serve(a: &Asset) -> Response {
    let mut res = a.body.into_response();
    let h = res.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(a.content_type));
    // The files change with the binary: revalidate rather than cache blindly.
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    if a.content_type == HTML {
        h.insert(
            HeaderName::from_static("content-security-policy"),
            HeaderValue::from_static(CSP),
        );
    }
    res
}

fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// `GET /ui`: to `/ui/`, keeping the query string (a bookmarked view).
pub async fn redirect(RawQuery(q): RawQuery) -> Redirect {
    match q {
        Some(q) => Redirect::temporary(&format!("/ui/?{q}")),
        None => Redirect::temporary("/ui/"),
    }
}

/// `GET /ui/`: the page.
pub async fn index() -> Response {
    serve(find("index.html").expect("index.html is embedded"))
}

/// `GET /ui/{*path}`: one embedded file, or 404.
pub async fn file(Path(path): Path<String>) -> Response {
    match find(&path) {
        Some(a) => serve(a),
        None => ApiError::new(
            StatusCode::NOT_FOUND,
            "resource_not_found_exception",
            format!("no such dashboard file [/ui/{path}]"),
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_known_type_and_content() {
        for a in ASSETS {
            assert!(!a.body.is_empty(), "{} is empty", a.path);
            let want = match a.path.rsplit('.').next() {
                Some("html") => HTML,
                Some("js") => JS,
                Some("css") => CSS,
                Some("svg") => SVG,
                _ => TEXT,
            };
            assert_eq!(a.content_type, want, "{}", a.path);
        }
    }
}

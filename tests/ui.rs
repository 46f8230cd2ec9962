//! The dashboard's files as the real binary serves them: `/ui/` is the page,
//! every file it loads answers with its content type and the bytes of the
//! file in `ui/`, unknown names are 404, and `ui` in a path never reaches
//! the index routes. (What the page does is judged in a real browser by
//! tests/node/ui.test.js.)

mod util;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use util::{assert_es_error, BinServer, Http};

/// `(path under /ui/, content type)` of every file the page needs.
const ASSETS: &[(&str, &str)] = &[
    ("index.html", "text/html; charset=utf-8"),
    ("app.js", "text/javascript; charset=utf-8"),
    ("api.js", "text/javascript; charset=utf-8"),
    ("charts.js", "text/javascript; charset=utf-8"),
    ("table.js", "text/javascript; charset=utf-8"),
    ("sidebar.js", "text/javascript; charset=utf-8"),
    ("tail.js", "text/javascript; charset=utf-8"),
    ("views/trend.js", "text/javascript; charset=utf-8"),
    ("views/patterns.js", "text/javascript; charset=utf-8"),
    ("views/alerts.js", "text/javascript; charset=utf-8"),
    ("views/indices.js", "text/javascript; charset=utf-8"),
    ("style.css", "text/css; charset=utf-8"),
    ("favicon.svg", "image/svg+xml"),
    (
        "vendor/uplot/uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
    ),
    ("vendor/uplot/uPlot.min.css", "text/css; charset=utf-8"),
    ("vendor/uplot/LICENSE", "text/plain; charset=utf-8"),
];

fn ui_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/ui"))
}

/// Relative references in a file: `src="x"`/`href="x"` in HTML, `from "./x"`
/// in ES modules.
fn references(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for marker in ["src=\"", "href=\"", "from \"./", "from \"../"] {
        let mut rest = text;
        while let Some(i) = rest.find(marker) {
            rest = &rest[i + marker.len()..];
            let end = rest.find('"').unwrap_or(rest.len());
            let r = &rest[..end];
            if !r.is_empty() && !r.starts_with('#') && r != "./" {
                // the marker's own `./` or `../` belongs to the reference
                let lead = &marker[marker.find('.').unwrap_or(marker.len())..];
                out.push(format!("{lead}{r}"));
            }
            rest = &rest[end..];
        }
    }
    out
}

/// Every file under `dir`, recursively.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("reading ui/").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

#[tokio::test]
async fn the_dashboard_is_served_from_the_binary() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = BinServer::start(dir.path(), None).await;
    let base = format!("http://{}", server.addr());
    let client = no_redirects();

    // The page, with a policy that keeps it to this server.
    let r = client
        .get(format!("{base}/ui/"))
        .send()
        .await
        .expect("GET /ui/");
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    let csp = h["content-security-policy"].to_str().expect("CSP");
    assert!(csp.contains("default-src 'self'"), "{csp}");
    let page = r.text().await.expect("page text");
    assert!(page.starts_with("<!doctype html>"), "{}", &page[..80]);
    assert!(page.contains(r#"<script type="module" src="app.js">"#));

    // `/ui` goes to `/ui/`, keeping a bookmarked view's query string.
    for (from, to) in [("/ui", "/ui/"), ("/ui?x=1", "/ui/?x=1")] {
        let r = client
            .get(format!("{base}{from}"))
            .send()
            .await
            .expect("GET /ui");
        assert!(r.status().is_redirection(), "{from}: {}", r.status());
        assert_eq!(r.headers()["location"], to, "{from}");
    }

    // Every file: its type, its bytes as in ui/, and HEAD too.
    for (path, ctype) in ASSETS {
        let url = format!("{base}/ui/{path}");
        let r = client.get(&url).send().await.expect("GET asset");
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], *ctype, "{path}");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff", "{path}");
        let body = r.bytes().await.expect("asset body");
        let want = std::fs::read(ui_dir().join(path)).expect("reading the file in ui/");
        assert!(
            body[..] == want[..],
            "{path}: served bytes differ from ui/{path}"
        );
        let r = client.head(&url).send().await.expect("HEAD asset");
        assert_eq!(r.status(), 200, "HEAD {path}");
    }

    // Whatever the page and its modules load is in that list.
    let listed: BTreeSet<&str> = ASSETS.iter().map(|(p, _)| *p).collect();
    let pages = ASSETS
        .iter()
        .map(|(p, _)| *p)
        .filter(|p| !p.starts_with("vendor/") && (p.ends_with(".js") || p.ends_with(".html")));
    for file in pages {
        let text = std::fs::read_to_string(ui_dir().join(file)).expect("reading ui file");
        let dir = Path::new(file).parent().unwrap_or(Path::new(""));
        for r in references(&text) {
            // resolve against the file's folder, as the browser does
            let mut parts: Vec<String> = dir
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            for seg in r.split('/') {
                match seg {
                    "." | "" => {}
                    ".." => {
                        assert!(parts.pop().is_some(), "{file} loads {r}, outside ui/");
                    }
                    s => parts.push(s.to_string()),
                }
            }
            let resolved = parts.join("/");
            assert!(
                listed.contains(resolved.as_str()),
                "{file} loads {r} ({resolved}), which is not served"
            );
        }
    }
    // and every module in ui/ is served (a new file not listed would 404)
    for entry in walk(ui_dir()) {
        let rel = entry
            .strip_prefix(ui_dir())
            .expect("under ui/")
            .to_string_lossy()
            .replace('\\', "/");
        if rel.ends_with(".js") && !rel.starts_with("vendor/") {
            assert!(
                listed.contains(rel.as_str()),
                "ui/{rel} is not in the served list"
            );
        }
    }

    // Unknown files are 404 in Elasticsearch's error shape; no way out of ui/.
    let http = Http::new(server.addr());
    for path in ["/ui/x", "/ui/vendor/", "/ui/vendor/uplot/uPlot.js"] {
        let r = http.get(path).await;
        let (kind, reason) = assert_es_error(&r, 404);
        assert_eq!(kind, "resource_not_found_exception", "{path}");
        assert!(reason.contains("/ui/"), "{path}: {reason}");
    }
    // (the client may resolve `..` itself; either way nothing outside is served)
    for path in [
        "/ui/%2e%2e/Cargo.toml",
        "/ui/..%2fCargo.toml",
        "/ui/..%2f..%2fCargo.toml",
    ] {
        let r = http.get(path).await;
        assert_es_error(&r, 404);
        assert!(!r.text_preview().contains("[package]"), "{path}");
    }

    // The rest of the API is as before: `ui` is no index name here, other
    // indices and `_` names answer as they did.
    let r = http.get("/_snapshot").await;
    assert_eq!(r.status, 400);
    assert!(r.json()["error"]
        .as_str()
        .unwrap_or_default()
        .starts_with("no handler found"));
    let r = http.get("/missing-index").await;
    assert_es_error(&r, 404);
    let r = http
        .post_json("/*/_search", &serde_json::json!({"size": 0}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text_preview());
    // Only `ui` itself is taken: names and patterns that start with it are indices.
    let doc = serde_json::json!({"message": "x", "level": "INFO"});
    let r = http.post_json("/ui-events/_doc?refresh=true", &doc).await;
    assert_eq!(r.status, 201, "{}", r.text_preview());
    assert_eq!(http.count("ui-events", None).await, 1);
    assert_eq!(http.count("ui*", None).await, 1);
}

//! `?pretty` and `?filter_path` on every endpoint: a JSON answer cut down to
//! the paths asked for (`hits.hits._id`, `*.count`, `**.value`, `-took` to
//! leave one out) and re-printed with indentation and a final newline, as
//! Elasticsearch does; scripts and tools use both to read answers.

use axum::extract::Request;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Whether the query string asks for it (`pretty`, `pretty=true`; not
/// `pretty=false`).
fn wants_pretty(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        q.split('&').any(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            k == "pretty" && v != "false"
        })
    })
}

/// The `filter_path` patterns of the query string, if any.
fn filter_paths(query: Option<&str>) -> Option<Vec<String>> {
    let q = query?;
    let raw = q.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == "filter_path").then_some(v)
    })?;
    let decoded = percent_decode(raw);
    let pats: Vec<String> = decoded
        .split(',')
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect();
    (!pats.is_empty()).then_some(pats)
}

/// `%xx` and `+` decoding of a query value.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether a pattern segment matches a key (`*` any run of characters).
fn seg_match(pat: &str, key: &str) -> bool {
    crate::store::mapping::wildcard_match(pat, key)
}

/// Keeps what the include patterns reach (each a list of segments).
fn include(v: &serde_json::Value, pats: &[Vec<&str>]) -> Option<serde_json::Value> {
    use serde_json::Value;
    if pats.iter().any(|p| p.is_empty()) {
        return Some(v.clone());
    }
    match v {
        Value::Object(m) => {
            let mut out = serde_json::Map::new();
            for (k, x) in m {
                let mut next: Vec<Vec<&str>> = Vec::new();
                for p in pats {
                    if p[0] == "**" {
                        next.push(p.clone()); // `**` stays for deeper levels
                        if p.len() > 1 && seg_match(p[1], k) {
                            next.push(p[2..].to_vec());
                        }
                    } else if seg_match(p[0], k) {
                        next.push(p[1..].to_vec());
                    }
                }
                if next.is_empty() {
                    continue;
                }
                if let Some(y) = include(x, &next) {
                    out.insert(k.clone(), y);
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        Value::Array(items) => {
            let kept: Vec<Value> = items.iter().filter_map(|x| include(x, pats)).collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        _ => None,
    }
}

/// Removes what the exclude patterns reach.
fn exclude(v: &mut serde_json::Value, pats: &[Vec<&str>]) {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                let mut next: Vec<Vec<&str>> = Vec::new();
                let mut drop = false;
                for p in pats {
                    if seg_match(p[0], &k) {
                        if p.len() == 1 {
                            drop = true;
                        } else {
                            next.push(p[1..].to_vec());
                        }
                    }
                }
                if drop {
                    m.remove(&k);
                } else if !next.is_empty() {
                    if let Some(x) = m.get_mut(&k) {
                        exclude(x, &next);
                    }
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|x| exclude(x, pats)),
        _ => {}
    }
}

/// The answer as `filter_path` asks: includes first, then excludes; an
/// answer that nothing matches is `{}`.
pub fn filter(v: &serde_json::Value, patterns: &[String]) -> serde_json::Value {
    let inc: Vec<Vec<&str>> = patterns
        .iter()
        .filter(|p| !p.starts_with('-'))
        .map(|p| p.split('.').collect())
        .collect();
    let exc: Vec<Vec<&str>> = patterns
        .iter()
        .filter_map(|p| p.strip_prefix('-'))
        .map(|p| p.split('.').collect())
        .collect();
    let mut out = if inc.is_empty() {
        v.clone()
    } else {
        include(v, &inc).unwrap_or_else(|| serde_json::json!({}))
    };
    if !exc.is_empty() {
        exclude(&mut out, &exc);
    }
    out
}

/// The middleware.
pub async fn pretty(req: Request, next: Next) -> Response {
    let want = wants_pretty(req.uri().query());
    let paths = filter_paths(req.uri().query());
    let res = next.run(req).await;
    if !want && paths.is_none() {
        return res;
    }
    let is_json = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    // JSON answers are built in memory already; 256 MiB is far above them
    let Ok(bytes) = axum::body::to_bytes(body, 256 << 20).await else {
        return (parts.status, "").into_response();
    };
    let out = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(v) => {
            let v = match &paths {
                Some(p) => filter(&v, p),
                None => v,
            };
            if want {
                match serde_json::to_vec_pretty(&v) {
                    Ok(mut p) => {
                        p.push(b'\n');
                        p
                    }
                    Err(_) => bytes.to_vec(),
                }
            } else {
                serde_json::to_vec(&v).unwrap_or_else(|_| bytes.to_vec())
            }
        }
        Err(_) => bytes.to_vec(),
    };
    parts.headers.remove(CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_path_keeps_and_drops_what_it_names() {
        use serde_json::json;
        let v = json!({"took": 3, "hits": {"total": {"value": 2}, "hits": [
            {"_id": "a", "_source": {"n": 1}}, {"_id": "b", "_source": {"n": 2}}]},
            "aggregations": {"x": {"value": 7}, "y": {"buckets": [{"key": 1, "inner": {"value": 9}}]}}});
        let f = |p: &[&str]| filter(&v, &p.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            f(&["hits.hits._id"]),
            json!({"hits": {"hits": [{"_id": "a"}, {"_id": "b"}]}})
        );
        assert_eq!(
            f(&["took", "hits.total.value"]),
            json!({"took": 3, "hits": {"total": {"value": 2}}})
        );
        assert_eq!(
            f(&["aggregations.*.value"]),
            json!({"aggregations": {"x": {"value": 7}}})
        );
        assert_eq!(
            f(&["**.value"])["aggregations"]["y"]["buckets"][0]["inner"],
            json!({"value": 9})
        );
        assert_eq!(f(&["-hits", "-aggregations"]), json!({"took": 3}));
        assert_eq!(f(&["nothing.here"]), json!({}));
        assert_eq!(
            filter_paths(Some("pretty&filter_path=hits.hits._id%2Ctook")),
            Some(vec!["hits.hits._id".to_string(), "took".to_string()])
        );
    }

    #[test]
    fn pretty_is_a_flag() {
        assert!(wants_pretty(Some("pretty")));
        assert!(wants_pretty(Some("q=a&pretty=true")));
        assert!(wants_pretty(Some("pretty=")));
        assert!(!wants_pretty(Some("pretty=false")));
        assert!(!wants_pretty(Some("prettyx")));
        assert!(!wants_pretty(None));
    }
}

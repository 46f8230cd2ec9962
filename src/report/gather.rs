//! Reads a report's data from a server, only through the public HTTP API
//! (`/{index}/_search`, `/api/v1/series`, `forecast`, `patterns`,
//! `anomalies`, `alerts`), so everything a report shows can be scripted.
//!
//! The search and the series are required: without them there is no
//! report, and their errors end it. The rest depends on what the server
//! runs; their errors become a [`Section::Unavailable`] that says why.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    Alert, Alerts, Anomaly, Band, Forecast, LevelCount, Pattern, Report, ReportError, Section,
    NO_LEVEL,
};

/// What to report on.
#[derive(Debug, Clone)]
pub struct Request {
    /// Base URL, such as `http://127.0.0.1:9200`.
    pub server: String,
    pub index: String,
    /// Lucene query; `None` or empty for every event.
    pub query: Option<String>,
    pub from_ms: i64,
    pub to_ms: i64,
    /// The series API's interval: `auto`, `1m`, `1h`, ...
    pub interval: String,
    /// Patterns listed.
    pub top_patterns: usize,
    /// Run the anomaly detection over the range before listing anomalies.
    pub detect: bool,
}

/// Longest wait for one answer: a forecast or a detection over days of
/// minutes takes a while on a small machine.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(300);

/// Alerts of the history listed at most.
const HISTORY_ROWS: usize = 20;

/// Why an optional call failed: the server is gone (that ends the report)
/// or it refused (that part says why).
enum CallError {
    Fatal(ReportError),
    Refused { status: u16, reason: String },
}

struct Api {
    client: reqwest::Client,
    server: String,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        params: &[(&str, String)],
        body: Option<Value>,
    ) -> Result<Value, CallError> {
        let base = format!("{}{path}", self.server.trim_end_matches('/'));
        let mut url = reqwest::Url::parse(&base).map_err(|e| {
            CallError::Fatal(ReportError::Unreachable {
                server: self.server.clone(),
                detail: format!("'{base}' is not a URL: {e}"),
            })
        })?;
        if !params.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let mut req = self.client.request(method, url);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().await.map_err(|e| {
            let detail = if e.is_timeout() {
                format!("no answer to {path} within {} s", ANSWER_TIMEOUT.as_secs())
            } else {
                error_chain(&e)
            };
            CallError::Fatal(ReportError::Unreachable {
                server: self.server.clone(),
                detail,
            })
        })?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| {
            CallError::Fatal(ReportError::BadAnswer {
                what: path.to_string(),
                detail: format!("reading the answer: {}", error_chain(&e)),
            })
        })?;
        let v: Value = serde_json::from_str(&text).map_err(|_| {
            CallError::Fatal(ReportError::BadAnswer {
                what: path.to_string(),
                detail: format!(
                    "HTTP {status}, not JSON: {}",
                    text.chars().take(200).collect::<String>()
                ),
            })
        })?;
        if !status.is_success() {
            let reason = v["error"]["reason"]
                .as_str()
                .or_else(|| v["error"].as_str())
                .unwrap_or("no reason given")
                .to_string();
            return Err(CallError::Refused {
                status: status.as_u16(),
                reason,
            });
        }
        Ok(v)
    }

    /// A call the report cannot do without.
    async fn required(
        &self,
        what: &str,
        method: reqwest::Method,
        path: &str,
        params: &[(&str, String)],
        body: Option<Value>,
    ) -> Result<Value, ReportError> {
        self.call(method, path, params, body)
            .await
            .map_err(|e| match e {
                CallError::Fatal(f) => f,
                CallError::Refused { status, reason } => ReportError::Refused {
                    what: what.to_string(),
                    status,
                    reason,
                },
            })
    }
}

/// reqwest's error with its causes ("error sending request: connection
/// refused"), which its Display alone leaves out.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let c_text = c.to_string();
        if !s.contains(&c_text) {
            s.push_str(": ");
            s.push_str(&c_text);
        }
        cur = c.source();
    }
    s
}

fn parse<T: for<'de> Deserialize<'de>>(what: &str, v: Value) -> Result<T, ReportError> {
    serde_json::from_value(v).map_err(|e| ReportError::BadAnswer {
        what: what.to_string(),
        detail: e.to_string(),
    })
}

/// Gathers a report; fails only when the server cannot be reached or
/// refuses the search or the series.
pub async fn gather(req: &Request) -> Result<Report, ReportError> {
    let client = reqwest::Client::builder()
        .timeout(ANSWER_TIMEOUT)
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| ReportError::Unreachable {
            server: req.server.clone(),
            detail: format!("cannot make an HTTP client: {e}"),
        })?;
    let api = Api {
        client,
        server: req.server.clone(),
    };
    let query = req.query.clone().unwrap_or_default();
    let (total, levels) = levels(&api, req, &query).await?;
    let (interval_ms, counts) = series(&api, req, &query).await?;
    let forecast = optional(forecast(&api, req, &query).await, "no forecast")?;
    let patterns = optional(patterns(&api, req, &query).await, "no patterns")?;
    let anomalies = optional(anomalies(&api, req).await, "not enabled on this server")?;
    let alerts = optional(alerts(&api, req).await, "not enabled on this server")?;
    Ok(Report {
        server: req.server.clone(),
        index: req.index.clone(),
        query,
        from_ms: req.from_ms,
        to_ms: req.to_ms,
        interval_ms,
        total,
        levels,
        counts,
        forecast,
        patterns,
        anomalies,
        alerts,
    })
}

/// A refused optional call as a section that says why.
fn optional<T>(r: Result<T, CallError>, missing: &str) -> Result<Section<T>, ReportError> {
    match r {
        Ok(t) => Ok(Section::Ready(t)),
        Err(CallError::Fatal(e)) => Err(e),
        Err(CallError::Refused { reason, .. }) => {
            Ok(Section::Unavailable(format!("{missing}: {reason}")))
        }
    }
}

fn range_params(req: &Request) -> Vec<(&'static str, String)> {
    vec![
        ("from", req.from_ms.to_string()),
        ("to", req.to_ms.to_string()),
    ]
}

fn selection_params(req: &Request, query: &str) -> Vec<(&'static str, String)> {
    let mut p = range_params(req);
    p.push(("index", req.index.clone()));
    p.push(("interval", req.interval.clone()));
    p.push(("query", query.to_string()));
    p
}

/// The total and the per-level counts: a `terms` aggregation on the
/// normalised `@level` through `_search` (never by fetching events).
async fn levels(
    api: &Api,
    req: &Request,
    query: &str,
) -> Result<(u64, Vec<LevelCount>), ReportError> {
    let mut q = json!({"bool": {"filter": [{"range": {"@timestamp": {
        "gte": req.from_ms, "lte": req.to_ms, "format": "epoch_millis"}}}]}});
    if !query.trim().is_empty() {
        q["bool"]["must"] = json!([{"query_string": {"query": query}}]);
    }
    let body = json!({
        "size": 0,
        "track_total_hits": true,
        "query": q,
        "aggs": {"levels": {"terms": {"field": "@level", "size": 50}}},
    });
    // the pattern is one path segment; Url escapes what must be
    let mut url = reqwest::Url::parse("http://x/").map_err(|e| ReportError::BadAnswer {
        what: "_search".into(),
        detail: e.to_string(),
    })?;
    url.path_segments_mut()
        .map_err(|_| ReportError::BadAnswer {
            what: "_search".into(),
            detail: "cannot build the path".into(),
        })?
        .push(&req.index)
        .push("_search");
    let path = url.path().to_string();
    let what = format!("searching index '{}'", req.index);
    let v = api
        .required(&what, reqwest::Method::POST, &path, &[], Some(body))
        .await?;
    #[derive(Deserialize)]
    struct Bucket {
        key: Value,
        doc_count: u64,
    }
    let total = v["hits"]["total"]["value"]
        .as_u64()
        .or_else(|| v["hits"]["total"].as_u64())
        .ok_or_else(|| ReportError::BadAnswer {
            what: what.clone(),
            detail: "no hits.total".into(),
        })?;
    let buckets: Vec<Bucket> = parse(&what, v["aggregations"]["levels"]["buckets"].clone())?;
    let mut levels: Vec<LevelCount> = buckets
        .into_iter()
        .filter(|b| b.doc_count > 0)
        .map(|b| LevelCount {
            level: b
                .key
                .as_str()
                .map_or_else(|| b.key.to_string(), String::from),
            count: b.doc_count,
        })
        .collect();
    levels.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.level.cmp(&b.level)));
    let with_level: u64 = levels.iter().map(|l| l.count).sum();
    if total > with_level {
        levels.push(LevelCount {
            level: NO_LEVEL.into(),
            count: total - with_level,
        });
    }
    Ok((total, levels))
}

/// Counts per interval from `/api/v1/series`.
async fn series(
    api: &Api,
    req: &Request,
    query: &str,
) -> Result<(i64, Vec<(i64, f64)>), ReportError> {
    let what = "the count series (/api/v1/series)";
    let v = api
        .required(
            what,
            reqwest::Method::GET,
            "/api/v1/series",
            &selection_params(req, query),
            None,
        )
        .await?;
    #[derive(Deserialize)]
    struct Series {
        points: Vec<(i64, Option<f64>)>,
    }
    #[derive(Deserialize)]
    struct Answer {
        interval_ms: i64,
        series: Vec<Series>,
    }
    let a: Answer = parse(what, v)?;
    let counts = a
        .series
        .into_iter()
        .next()
        .map(|s| {
            s.points
                .into_iter()
                .map(|(t, v)| (t, v.unwrap_or(0.0)))
                .collect()
        })
        .unwrap_or_default();
    Ok((a.interval_ms, counts))
}

/// The smoothed line and the bands ahead from `/api/v1/forecast`.
async fn forecast(api: &Api, req: &Request, query: &str) -> Result<Forecast, CallError> {
    let what = "/api/v1/forecast";
    let v = api
        .call(
            reqwest::Method::GET,
            what,
            &selection_params(req, query),
            None,
        )
        .await?;
    #[derive(Deserialize)]
    struct Point {
        ts: i64,
        smoothed: Option<f64>,
    }
    #[derive(Deserialize)]
    struct Ahead {
        ts: i64,
        forecast: Option<f64>,
        lower80: Option<f64>,
        upper80: Option<f64>,
        lower95: Option<f64>,
        upper95: Option<f64>,
    }
    #[derive(Deserialize)]
    struct Answer {
        #[serde(default)]
        model: Option<String>,
        #[serde(default)]
        points: Vec<Point>,
        #[serde(default)]
        forecast: Vec<Ahead>,
    }
    let a: Answer = parse(what, v).map_err(CallError::Fatal)?;
    Ok(Forecast {
        model: a.model.unwrap_or_else(|| "-".into()),
        smoothed: a
            .points
            .into_iter()
            .filter_map(|p| p.smoothed.filter(|s| s.is_finite()).map(|s| (p.ts, s)))
            .collect(),
        // a band the model could not bound (NaN, null) is not drawn
        ahead: a
            .forecast
            .into_iter()
            .filter_map(|f| {
                Some(Band {
                    ts: f.ts,
                    forecast: f.forecast.filter(|x| x.is_finite())?,
                    lower80: f.lower80.filter(|x| x.is_finite())?,
                    upper80: f.upper80.filter(|x| x.is_finite())?,
                    lower95: f.lower95.filter(|x| x.is_finite())?,
                    upper95: f.upper95.filter(|x| x.is_finite())?,
                })
            })
            .collect(),
    })
}

/// The top templates of the range from `/api/v1/patterns`.
async fn patterns(api: &Api, req: &Request, query: &str) -> Result<Vec<Pattern>, CallError> {
    let what = "/api/v1/patterns";
    let mut params = range_params(req);
    params.push(("index", req.index.clone()));
    params.push(("query", query.to_string()));
    params.push(("size", req.top_patterns.clamp(1, 1000).to_string()));
    let v = api.call(reqwest::Method::GET, what, &params, None).await?;
    #[derive(Deserialize)]
    struct P {
        id: String,
        template: String,
        count: u64,
        #[serde(default)]
        levels: std::collections::BTreeMap<String, u64>,
    }
    #[derive(Deserialize)]
    struct Answer {
        patterns: Vec<P>,
    }
    let a: Answer = parse(what, v).map_err(CallError::Fatal)?;
    Ok(a.patterns
        .into_iter()
        .map(|p| Pattern {
            id: p.id,
            template: p.template,
            count: p.count,
            levels: p.levels,
        })
        .collect())
}

/// Stored anomalies overlapping the range, oldest first; with `detect` a
/// detection over the range first (it stores what it finds).
async fn anomalies(api: &Api, req: &Request) -> Result<Vec<Anomaly>, CallError> {
    if req.detect {
        api.call(
            reqwest::Method::POST,
            "/api/v1/anomalies/_detect",
            &[],
            Some(json!({"from": req.from_ms, "to": req.to_ms})),
        )
        .await?;
    }
    let what = "/api/v1/anomalies";
    let mut params = range_params(req);
    params.push(("size", "1000".into()));
    let v = api.call(reqwest::Method::GET, what, &params, None).await?;
    #[derive(Deserialize)]
    struct A {
        kind: String,
        series: String,
        #[serde(default)]
        service: Option<String>,
        start: i64,
        end: i64,
        expected: f64,
        observed: f64,
        severity: String,
        #[serde(default)]
        template: Option<String>,
    }
    #[derive(Deserialize)]
    struct Answer {
        anomalies: Vec<A>,
    }
    let a: Answer = parse(what, v).map_err(CallError::Fatal)?;
    let mut list: Vec<Anomaly> = a
        .anomalies
        .into_iter()
        .map(|a| Anomaly {
            kind: a.kind,
            series: a.series,
            service: a.service,
            start: a.start,
            end: a.end,
            expected: a.expected,
            observed: a.observed,
            severity: a.severity,
            template: a.template,
        })
        .collect();
    list.sort_by_key(|a| (a.start, a.end));
    Ok(list)
}

/// Active alerts and the resolved ones whose life overlaps the range.
async fn alerts(api: &Api, req: &Request) -> Result<Alerts, CallError> {
    let what = "/api/v1/alerts";
    let v = api.call(reqwest::Method::GET, what, &[], None).await?;
    #[derive(Deserialize)]
    struct A {
        rule: String,
        status: String,
        #[serde(default)]
        group: Vec<(String, String)>,
        active_since: i64,
        #[serde(default)]
        starts_at: Option<i64>,
        #[serde(default)]
        ends_at: Option<i64>,
        #[serde(default)]
        value: Option<f64>,
        #[serde(default)]
        detail: Option<String>,
        #[serde(default)]
        threshold: String,
        #[serde(default)]
        annotations: std::collections::BTreeMap<String, String>,
        #[serde(default)]
        silenced_by: Option<String>,
    }
    #[derive(Deserialize)]
    struct Answer {
        #[serde(default)]
        alerts: Vec<A>,
        #[serde(default)]
        history: Vec<A>,
        #[serde(default)]
        undeliverable: Vec<Value>,
    }
    let a: Answer = parse(what, v).map_err(CallError::Fatal)?;
    let to_alert = |mut a: A| Alert {
        summary: a.annotations.remove("summary"),
        rule: a.rule,
        status: a.status,
        group: a.group,
        active_since: a.active_since,
        starts_at: a.starts_at,
        ends_at: a.ends_at,
        value: a.value.unwrap_or(f64::NAN),
        detail: a.detail,
        threshold: a.threshold,
        silenced_by: a.silenced_by,
    };
    let mut active: Vec<Alert> = a.alerts.into_iter().map(to_alert).collect();
    // firing before pending, then the longest-standing first
    active.sort_by(|x, y| {
        (x.status != "firing", x.active_since).cmp(&(y.status != "firing", y.active_since))
    });
    let history = a
        .history
        .into_iter()
        .filter(|h| h.active_since <= req.to_ms && h.ends_at.is_none_or(|e| e >= req.from_ms))
        .take(HISTORY_ROWS)
        .map(to_alert)
        .collect();
    Ok(Alerts {
        active,
        history,
        undeliverable: a.undeliverable.len(),
    })
}

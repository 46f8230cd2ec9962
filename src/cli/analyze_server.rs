//! `logweave analyze series|patterns|anomalies` against a server: the
//! analysis API as tables with terminal sparklines, or its JSON with
//! `--json`.

use anyhow::Context;
use serde_json::Value;

/// Which server, which events, which range.
#[derive(clap::Args, Debug, Clone)]
pub struct Selection {
    /// The server's HTTP address.
    #[arg(long, default_value = "http://127.0.0.1:9200")]
    pub server: String,
    /// Index pattern.
    #[arg(long, default_value = "*")]
    pub index: String,
    /// Start: a duration back from now (15m, 2h, 7d), a time or date math.
    #[arg(long, default_value = "1h")]
    pub since: String,
    /// End (default: now), in the same forms.
    #[arg(long)]
    pub until: Option<String>,
    /// Print the API's JSON answer instead of a table.
    #[arg(long)]
    pub json: bool,
}

impl Selection {
    /// `from`/`to` as epoch ms.
    pub(super) fn range(&self) -> anyhow::Result<(i64, i64)> {
        let now = crate::event::now_ms();
        let from = super::search::parse_when("--since", &self.since, now, false)?;
        let to = match &self.until {
            Some(u) => super::search::parse_when("--until", u, now, true)?,
            None => now,
        };
        anyhow::ensure!(from < to, "--since must be before --until");
        Ok((from, to))
    }
}

/// Arguments of `analyze series` against a server.
#[derive(clap::Args, Debug)]
pub struct SeriesArgs {
    #[command(flatten)]
    pub sel: Selection,
    /// Interval: auto, 30s, 5m, 1h, 1d (calendar), 1w, 1M.
    #[arg(long, default_value = "auto")]
    pub interval: String,
    /// One series per value of this field (e.g. @service, @level).
    #[arg(long)]
    pub split: Option<String>,
    /// Split values (top by count).
    #[arg(long, default_value_t = 10)]
    pub size: usize,
    /// count, avg, min, max, sum or a percentile such as p99.
    #[arg(long, default_value = "count")]
    pub metric: String,
    /// The numeric field of a metric.
    #[arg(long)]
    pub field: Option<String>,
    /// Lucene query syntax (default: every event).
    pub query: Option<String>,
}

/// GETs `path` with `params` and returns the JSON, or the server's error.
pub(super) async fn get(
    server: &str,
    path: &str,
    params: &[(&str, String)],
) -> anyhow::Result<Value> {
    send(reqwest::Method::GET, server, path, params, None).await
}

/// Sends a request (with a JSON body when given) and returns the JSON
/// answer, or the server's error with its reason.
pub(super) async fn send(
    method: reqwest::Method,
    server: &str,
    path: &str,
    params: &[(&str, String)],
    body: Option<&Value>,
) -> anyhow::Result<Value> {
    let base = format!("{}{path}", server.trim_end_matches('/'));
    let mut u =
        reqwest::Url::parse(&base).with_context(|| format!("--server: '{base}' is not a URL"))?;
    u.query_pairs_mut()
        .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
    let url = u.to_string();
    let mut req = reqwest::Client::new().request(method, u);
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let resp = req
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = resp.status();
    let v: Value = resp
        .json()
        .await
        .with_context(|| format!("{url} did not answer JSON"))?;
    if !status.is_success() {
        let reason = v["error"]["reason"].as_str().unwrap_or("no reason given");
        anyhow::bail!("{url}: {status}: {reason}");
    }
    Ok(v)
}

/// Eight-level bars of `values`, scaled to their maximum.
pub fn sparkline(values: &[f64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values.iter().copied().fold(0.0, f64::max);
    values
        .iter()
        .map(|v| {
            if max <= 0.0 || !v.is_finite() {
                BARS[0]
            } else {
                BARS[((v / max) * 7.0).round().clamp(0.0, 7.0) as usize]
            }
        })
        .collect()
}

/// Most points shown in one sparkline: longer series are summed in groups.
const SPARK_WIDTH: usize = 60;

/// `values` summed in groups down to at most [`SPARK_WIDTH`] points.
pub(crate) fn squeeze(values: &[f64]) -> Vec<f64> {
    let group = values.len().div_ceil(SPARK_WIDTH).max(1);
    values.chunks(group).map(|c| c.iter().sum()).collect()
}

fn print_json(v: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// `analyze series`.
pub async fn series(a: SeriesArgs) -> anyhow::Result<i32> {
    let (from, to) = a.sel.range()?;
    let mut params = vec![
        ("index", a.sel.index.clone()),
        ("from", from.to_string()),
        ("to", to.to_string()),
        ("interval", a.interval.clone()),
        ("metric", a.metric.clone()),
        ("query", a.query.clone().unwrap_or_default()),
    ];
    if let Some(s) = &a.split {
        params.push(("split", s.clone()));
        params.push(("size", a.size.to_string()));
    }
    if let Some(f) = &a.field {
        params.push(("field", f.clone()));
    }
    let v = get(&a.sel.server, "/api/v1/series", &params).await?;
    if a.sel.json {
        return print_json(&v).map(|_| 0);
    }
    let iv = v["interval_ms"].as_i64().unwrap_or(0);
    println!(
        "{} to {}, every {}",
        crate::generate::format_ts(from),
        crate::generate::format_ts(to),
        crate::alerting::human_ms(iv)
    );
    let empty = Vec::new();
    let series = v["series"].as_array().unwrap_or(&empty);
    let width = series
        .iter()
        .map(|s| s["key"].as_str().map_or(0, |k| k.chars().count()))
        .max()
        .unwrap_or(3)
        .max(3);
    for s in series {
        let vals: Vec<f64> = s["points"]
            .as_array()
            .unwrap_or(&empty)
            .iter()
            .map(|p| p[1].as_f64().unwrap_or(0.0))
            .collect();
        let total: f64 = vals.iter().sum();
        let max = vals.iter().copied().fold(0.0, f64::max);
        let key = s["key"].as_str().unwrap_or("");
        let summary = if a.metric == "count" {
            format!("total {total:.0}  max {max:.0}")
        } else {
            format!("max {max:.2}")
        };
        println!("{key:<width$}  {}  {summary}", sparkline(&squeeze(&vals)));
    }
    Ok(0)
}

/// `analyze patterns` against a server.
pub async fn patterns(sel: &Selection, size: usize, query: Option<&str>) -> anyhow::Result<i32> {
    let (from, to) = sel.range()?;
    let v = get(
        &sel.server,
        "/api/v1/patterns",
        &[
            ("index", sel.index.clone()),
            ("from", from.to_string()),
            ("to", to.to_string()),
            ("size", size.to_string()),
            ("query", query.unwrap_or_default().to_string()),
        ],
    )
    .await?;
    if sel.json {
        return print_json(&v).map(|_| 0);
    }
    let empty = Vec::new();
    println!(
        "{:>9}  {:<24}  {:<16}  {:<22}  template",
        "count", "over the range", "id", "levels"
    );
    for p in v["patterns"].as_array().unwrap_or(&empty) {
        let spark: Vec<f64> = p["sparkline"]
            .as_array()
            .unwrap_or(&empty)
            .iter()
            .map(|x| x.as_f64().unwrap_or(0.0))
            .collect();
        let levels = p["levels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}:{v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        println!(
            "{:>9}  {:<24}  {:<16}  {:<22}  {}",
            p["count"],
            sparkline(&spark),
            p["id"].as_str().unwrap_or(""),
            levels,
            p["template"].as_str().unwrap_or("")
        );
    }
    Ok(0)
}

/// `analyze anomalies` against a server: the stored ones, or with
/// `detect` a detection over the range first.
pub async fn anomalies(sel: &Selection, detect: bool) -> anyhow::Result<i32> {
    let (from, to) = sel.range()?;
    let v = if detect {
        let url = format!(
            "{}/api/v1/anomalies/_detect",
            sel.server.trim_end_matches('/')
        );
        let resp = reqwest::Client::new()
            .post(&url)
            .json(&serde_json::json!({"from": from, "to": to}))
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let status = resp.status();
        let v: Value = resp
            .json()
            .await
            .with_context(|| format!("{url} did not answer JSON"))?;
        if !status.is_success() {
            anyhow::bail!(
                "{url}: {status}: {}",
                v["error"]["reason"].as_str().unwrap_or("")
            );
        }
        v
    } else {
        get(
            &sel.server,
            "/api/v1/anomalies",
            &[("from", from.to_string()), ("to", to.to_string())],
        )
        .await?
    };
    if sel.json {
        return print_json(&v).map(|_| 0);
    }
    let empty = Vec::new();
    let list = v["anomalies"].as_array().unwrap_or(&empty);
    if list.is_empty() {
        println!(
            "no anomalies from {} to {}",
            crate::generate::format_ts(from),
            crate::generate::format_ts(to)
        );
    }
    for a in list {
        let start = a["start"].as_i64().unwrap_or(0);
        let what = a["template"]
            .as_str()
            .map(|t| format!("  \"{t}\""))
            .unwrap_or_default();
        println!(
            "{}  {:<6}  {:<13}  {:<32}  expected {:.1}, observed {:.1}{what}\n    {}",
            crate::generate::format_ts(start),
            a["severity"].as_str().unwrap_or(""),
            a["kind"].as_str().unwrap_or(""),
            a["series"].as_str().unwrap_or(""),
            a["expected"].as_f64().unwrap_or(0.0),
            a["observed"].as_f64().unwrap_or(0.0),
            a["query"].as_str().unwrap_or("")
        );
    }
    for e in v["errors"].as_array().unwrap_or(&empty) {
        eprintln!("error: {}", e.as_str().unwrap_or(""));
    }
    Ok(0)
}

/// `analyze forecast` against a server: the series, its smoothing and
/// the forecast with its bands, as a table.
pub async fn forecast(a: &super::analyze::ForecastArgs) -> anyhow::Result<i32> {
    let sel = Selection {
        server: a.server.clone(),
        index: a.index.clone(),
        since: a.since.clone(),
        until: a.until.clone(),
        json: a.json,
    };
    let (from, to) = sel.range()?;
    let mut params = vec![
        ("index", sel.index.clone()),
        ("from", from.to_string()),
        ("to", to.to_string()),
        ("interval", a.interval.clone()),
        ("query", a.query.clone().unwrap_or_default()),
        ("model", a.model.as_str().to_string()),
        ("horizon", a.horizon.to_string()),
    ];
    if let Some(al) = a.alpha {
        params.push(("alpha", al.to_string()));
    }
    if let Some(s) = a.season {
        params.push(("season", s.to_string()));
    }
    let v = get(&sel.server, "/api/v1/forecast", &params).await?;
    if sel.json {
        return print_json(&v).map(|_| 0);
    }
    let empty = Vec::new();
    let actual: Vec<f64> = v["points"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .map(|p| p["actual"].as_f64().unwrap_or(0.0))
        .collect();
    println!(
        "model {}  {}",
        v["model"].as_str().unwrap_or("?"),
        v["params"]
            .as_object()
            .map(|m| m
                .iter()
                .map(|(k, x)| format!("{k}={:.4}", x.as_f64().unwrap_or(f64::NAN)))
                .collect::<Vec<_>>()
                .join(" "))
            .unwrap_or_default()
    );
    println!("history  {}", sparkline(&squeeze(&actual)));
    println!(
        "{:<19}  {:>10}  {:>21}  {:>21}",
        "time", "forecast", "80 %", "95 %"
    );
    for f in v["forecast"].as_array().unwrap_or(&empty) {
        let g = |k: &str| f[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "{}  {:>10.1}  {:>9.1} - {:<9.1}  {:>9.1} - {:<9.1}",
            crate::generate::format_ts(f["ts"].as_i64().unwrap_or(0)),
            g("forecast"),
            g("lower80"),
            g("upper80"),
            g("lower95"),
            g("upper95")
        );
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_scales_to_the_maximum() {
        assert_eq!(sparkline(&[0.0, 7.0, 14.0]), "▁▅█"); // 3.5 of 7 rounds up to the 5th bar
        assert_eq!(sparkline(&[0.0, 0.0]), "▁▁");
        assert_eq!(squeeze(&vec![1.0; 120]), vec![2.0; 60]);
    }
}

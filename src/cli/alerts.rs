//! `logweave alerts`: what a server's alerting shows, as a table (or the
//! API's JSON with `--json`).

use serde_json::Value;

/// Arguments of `logweave alerts`.
#[derive(clap::Args, Debug)]
pub struct AlertsArgs {
    /// The server's HTTP address.
    #[arg(long, default_value = "http://127.0.0.1:9200")]
    pub server: String,
    /// Only this rule's alerts.
    #[arg(long)]
    pub rule: Option<String>,
    /// Print the API's JSON.
    #[arg(long)]
    pub json: bool,
    /// Create a silence with this label matcher (`service=checkout`,
    /// `service!=web`, `host=~node-.*`, `host!~db.*`); repeat for several.
    #[arg(long, value_name = "MATCHER")]
    pub silence: Vec<String>,
    /// How long the new silence holds.
    #[arg(long = "for", default_value = "2h", value_name = "DURATION")]
    pub duration: String,
    /// Why (kept with the silence).
    #[arg(long, default_value = "")]
    pub comment: String,
    /// End the silence with this id now.
    #[arg(long, value_name = "ID")]
    pub expire: Option<String>,
}

/// A matcher as written on the command line, in Alertmanager's shape.
pub fn parse_matcher(m: &str) -> anyhow::Result<Value> {
    for (op, is_regex, is_equal) in [
        ("=~", true, true),
        ("!~", true, false),
        ("!=", false, false),
        ("=", false, true),
    ] {
        if let Some((name, value)) = m.split_once(op) {
            let name = name.trim();
            anyhow::ensure!(
                !name.is_empty(),
                "--silence '{m}': the label name is missing"
            );
            return Ok(serde_json::json!({
                "name": name, "value": value, "isRegex": is_regex, "isEqual": is_equal
            }));
        }
    }
    anyhow::bail!(
        "--silence '{m}' is not a matcher like service=checkout, service!=web, host=~node-.*"
    )
}

async fn manage_silences(a: &AlertsArgs) -> anyhow::Result<()> {
    use super::analyze_server::send;
    if let Some(id) = &a.expire {
        send(
            reqwest::Method::DELETE,
            &a.server,
            &format!("/api/v1/silences/{id}"),
            &[],
            None,
        )
        .await?;
        println!("silence {id} ended");
    }
    if !a.silence.is_empty() {
        let matchers = a
            .silence
            .iter()
            .map(|m| parse_matcher(m))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let by = std::env::var("USER").unwrap_or_else(|_| "logweave alerts".into());
        let body = serde_json::json!({
            "matchers": matchers, "duration": a.duration, "comment": a.comment, "createdBy": by
        });
        let v = send(
            reqwest::Method::POST,
            &a.server,
            "/api/v1/silences",
            &[],
            Some(&body),
        )
        .await?;
        println!(
            "silence {} holds for {}",
            v["silenceID"].as_str().unwrap_or("?"),
            a.duration
        );
    }
    Ok(())
}

fn when(v: &Value) -> String {
    v.as_i64()
        .map(crate::alerting::rfc3339)
        .unwrap_or_else(|| "-".into())
}

fn group(a: &Value) -> String {
    let g: Vec<String> = a["group"]
        .as_array()
        .map(|g| {
            g.iter()
                .filter_map(|p| Some(format!("{}={}", p[0].as_str()?, p[1].as_str()?)))
                .collect()
        })
        .unwrap_or_default();
    if g.is_empty() {
        "-".into()
    } else {
        g.join(",")
    }
}

pub async fn run(a: AlertsArgs) -> anyhow::Result<i32> {
    if a.expire.is_some() || !a.silence.is_empty() {
        manage_silences(&a).await?;
        return Ok(0);
    }
    let mut params = Vec::new();
    if let Some(r) = &a.rule {
        params.push(("rule", r.clone()));
    }
    let v = super::analyze_server::get(&a.server, "/api/v1/alerts", &params).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    let empty = Vec::new();
    let list = |k: &str| v[k].as_array().unwrap_or(&empty).clone();
    let active = list("alerts");
    println!("{} active alert(s)", active.len());
    if !active.is_empty() {
        println!(
            "{:<8} {:<24} {:<28} {:>10} {:<12} SINCE",
            "STATE", "RULE", "GROUP", "VALUE", "THRESHOLD"
        );
    }
    for x in &active {
        println!(
            "{:<8} {:<24} {:<28} {:>10} {:<12} {}",
            x["status"].as_str().unwrap_or("?"),
            x["rule"].as_str().unwrap_or("?"),
            group(x),
            x["value"],
            x["threshold"].as_str().unwrap_or(""),
            when(if x["starts_at"].is_null() {
                &x["active_since"]
            } else {
                &x["starts_at"]
            })
        );
        if let Some(s) = x["annotations"]["summary"].as_str() {
            println!("         {s}");
        }
        if let Some(s) = x["silenced_by"].as_str() {
            println!("         silenced by {s}");
        }
    }
    let history = list("history");
    if !history.is_empty() {
        println!("\nresolved (newest first)");
        for x in history.iter().take(20) {
            println!(
                "  {:<24} {:<28} {} .. {}",
                x["rule"].as_str().unwrap_or("?"),
                group(x),
                when(&x["starts_at"]),
                when(&x["ends_at"])
            );
        }
    }
    let dead = list("undeliverable");
    if !dead.is_empty() {
        println!("\nundeliverable notifications (re-send: POST /api/v1/alerts/undeliverable/<id>/_resend)");
        for n in &dead {
            println!(
                "  {} {} via {}: {} attempts, last error: {}",
                n["id"].as_str().unwrap_or("?"),
                n["reason"].as_str().unwrap_or("?"),
                n["channel"].as_str().unwrap_or("?"),
                n["attempts"],
                n["last_error"].as_str().unwrap_or("-")
            );
        }
    }
    let silences = super::analyze_server::get(&a.server, "/api/v1/silences", &[]).await?;
    let silences: Vec<&Value> = silences["silences"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter(|s| s["status"]["state"] != "expired")
                .collect()
        })
        .unwrap_or_default();
    if !silences.is_empty() {
        println!("\nsilences (end one: DELETE /api/v1/silences/<id>)");
        for s in silences {
            let matchers: Vec<String> = s["matchers"]
                .as_array()
                .map(|m| {
                    m.iter()
                        .map(|m| {
                            let op = match (m["isEqual"] != false, m["isRegex"] == true) {
                                (true, false) => "=",
                                (false, false) => "!=",
                                (true, true) => "=~",
                                (false, true) => "!~",
                            };
                            format!(
                                "{}{op}{}",
                                m["name"].as_str().unwrap_or("?"),
                                m["value"].as_str().unwrap_or("")
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            println!(
                "  {} {:<7} {} .. {}  {}  {}",
                s["id"].as_str().unwrap_or("?"),
                s["status"]["state"].as_str().unwrap_or("?"),
                s["startsAt"].as_str().unwrap_or("?"),
                s["endsAt"].as_str().unwrap_or("?"),
                matchers.join(","),
                s["comment"].as_str().unwrap_or("")
            );
        }
    }
    let waiting = list("outbox");
    if !waiting.is_empty() {
        println!(
            "\n{} notification(s) waiting to be delivered",
            waiting.len()
        );
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_read_as_alertmanager_writes_them() {
        let m = parse_matcher("service=checkout").unwrap();
        assert_eq!(m["name"], "service");
        assert_eq!(m["value"], "checkout");
        assert_eq!(m["isEqual"], true);
        assert_eq!(m["isRegex"], false);
        let m = parse_matcher("host!~db-.*").unwrap();
        assert_eq!(
            (m["isEqual"].clone(), m["isRegex"].clone()),
            (false.into(), true.into())
        );
        assert_eq!(m["value"], "db-.*");
        let m = parse_matcher("a!=b").unwrap();
        assert_eq!(
            (m["isEqual"].clone(), m["isRegex"].clone()),
            (false.into(), false.into())
        );
        assert!(parse_matcher("nothing").is_err());
        assert!(parse_matcher("=x").is_err());
    }
}

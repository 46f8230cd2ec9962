//! The channels of `[alerting.channels.<name>]`, checked: webhooks and
//! SMTP mail (the server log is built in).

use std::collections::BTreeMap;

use toml::Spanned;

use super::{duration, AlertingSection, Bad, ChannelSection, DAY};

/// A channel, checked.
#[derive(Debug, Clone, PartialEq)]
pub enum Channel {
    /// The server's own log.
    Log,
    Webhook(WebhookChannel),
    Email(EmailChannel),
}

/// How an email channel speaks TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    StartTls,
    Implicit,
    None,
}

/// An email channel, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct EmailChannel {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// PEM of an extra CA, read at load.
    pub ca_pem: Option<Vec<u8>>,
    pub credentials: Option<(String, String)>,
    pub from: String,
    pub to: Vec<String>,
    pub retry_for_ms: i64,
    /// Messages per rolling hour at most (0: no limit).
    pub max_per_hour: u32,
}

/// Payload shapes a webhook can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    Alertmanager,
    Slack,
}

/// A webhook channel, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookChannel {
    pub url: String,
    pub secret: Option<String>,
    pub headers: Vec<(String, String)>,
    pub format: WebhookFormat,
    pub retry_for_ms: i64,
    /// Requests per rolling hour at most (0: no limit).
    pub max_per_hour: u32,
}

/// How long a channel retries a notification (default 10m, at most 7d).
fn retry_for(c: &ChannelSection, key: &dyn Fn(&str) -> String, bad: &mut Bad<'_>) -> i64 {
    duration(
        c.retry_for.as_ref(),
        10 * 60_000,
        &key("retry_for"),
        (0, 7 * DAY),
        bad,
    )
}

fn email_channel(
    c: &ChannelSection,
    key: &dyn Fn(&str) -> String,
    bad: &mut Bad<'_>,
) -> Option<EmailChannel> {
    let mut ok = true;
    let need = |v: &Option<Spanned<String>>, k: &str, bad: &mut Bad<'_>| -> Option<String> {
        match v {
            Some(s) if !s.get_ref().trim().is_empty() => Some(s.get_ref().trim().to_string()),
            _ => {
                bad(
                    c.kind.span(),
                    &key(k),
                    format!("an email channel needs `{k}`"),
                );
                None
            }
        }
    };
    let host = need(&c.host, "host", bad);
    let from = need(&c.from, "from", bad);
    ok &= host.is_some() && from.is_some();
    let tls = match c.tls.as_ref().map(|t| t.get_ref().as_str()) {
        None | Some("starttls") => SmtpTls::StartTls,
        Some("tls") => SmtpTls::Implicit,
        Some("none") => SmtpTls::None,
        Some(other) => {
            if let Some(t) = &c.tls {
                bad(
                    t.span(),
                    &key("tls"),
                    format!("'{other}' is not one of starttls, tls, none"),
                );
            }
            ok = false;
            SmtpTls::StartTls
        }
    };
    let port = c.port.as_ref().map_or(
        match tls {
            SmtpTls::StartTls => 587,
            SmtpTls::Implicit => 465,
            SmtpTls::None => 25,
        },
        |p| *p.get_ref(),
    );
    let address = |a: &str, span: std::ops::Range<usize>, k: &str, bad: &mut Bad<'_>| -> bool {
        let fine = a.parse::<lettre::message::Mailbox>().is_ok();
        if !fine {
            bad(span, &key(k), format!("'{a}' is not a mail address"));
        }
        fine
    };
    if let Some(f) = &c.from {
        ok &= address(f.get_ref(), f.span(), "from", bad);
    }
    let to = match &c.to {
        Some(t) if !t.get_ref().is_empty() => {
            for a in t.get_ref() {
                ok &= address(a, t.span(), "to", bad);
            }
            t.get_ref().clone()
        }
        _ => {
            bad(
                c.kind.span(),
                &key("to"),
                "an email channel needs `to`, a list of recipients".into(),
            );
            ok = false;
            Vec::new()
        }
    };
    let credentials = match (&c.username, &c.password) {
        (Some(u), Some(p)) => Some((u.get_ref().clone(), p.get_ref().clone())),
        (None, None) => None,
        (Some(u), None) => {
            bad(
                u.span(),
                &key("password"),
                "`username` without `password`".into(),
            );
            ok = false;
            None
        }
        (None, Some(p)) => {
            bad(
                p.span(),
                &key("username"),
                "`password` without `username`".into(),
            );
            ok = false;
            None
        }
    };
    let ca_pem = match &c.ca_file {
        Some(f) => match std::fs::read(f.get_ref()) {
            Ok(pem) => Some(pem),
            Err(e) => {
                bad(
                    f.span(),
                    &key("ca_file"),
                    format!("cannot read '{}': {e}", f.get_ref()),
                );
                ok = false;
                None
            }
        },
        None => None,
    };
    let retry_for_ms = retry_for(c, key, bad);
    ok.then(|| EmailChannel {
        host: host.unwrap_or_default(),
        port,
        tls,
        ca_pem,
        credentials,
        from: from.unwrap_or_default(),
        to,
        retry_for_ms,
        max_per_hour: c.max_per_hour.as_ref().map_or(0, |m| *m.get_ref()),
    })
}

/// The channels by name, `log` included.
pub(super) fn build(raw: &AlertingSection, bad: &mut Bad<'_>) -> BTreeMap<String, Channel> {
    let mut channels = BTreeMap::new();
    channels.insert("log".to_string(), Channel::Log);
    for (name, c) in &raw.channels {
        let key = |k: &str| format!("alerting.channels.{name}.{k}");
        if name == "log" {
            bad(
                c.kind.span(),
                &key("type"),
                "'log' is the built-in channel (the server log); give this one another name".into(),
            );
            continue;
        }
        match c.kind.get_ref().as_str() {
            "webhook" => {
                let url = match &c.url {
                    Some(u) => match reqwest::Url::parse(u.get_ref()) {
                        Ok(p) if matches!(p.scheme(), "http" | "https") => u.get_ref().clone(),
                        _ => {
                            bad(
                                u.span(),
                                &key("url"),
                                format!("'{}' is not an http(s) URL", u.get_ref()),
                            );
                            String::new()
                        }
                    },
                    None => {
                        bad(c.kind.span(), &key("url"), "a webhook needs a url".into());
                        String::new()
                    }
                };
                let format = match c.format.as_ref().map(|f| f.get_ref().as_str()) {
                    None | Some("alertmanager") => WebhookFormat::Alertmanager,
                    Some("slack") => WebhookFormat::Slack,
                    Some(other) => {
                        if let Some(f) = &c.format {
                            bad(
                                f.span(),
                                &key("format"),
                                format!("'{other}' is not one of alertmanager, slack"),
                            );
                        }
                        WebhookFormat::Alertmanager
                    }
                };
                for h in c.headers.keys() {
                    if reqwest::header::HeaderName::from_bytes(h.as_bytes()).is_err() {
                        bad(
                            c.kind.span(),
                            &key(&format!("headers.{h}")),
                            format!("'{h}' is not a valid header name"),
                        );
                    }
                }
                let retry_for_ms = retry_for(c, &key, bad);
                channels.insert(
                    name.clone(),
                    Channel::Webhook(WebhookChannel {
                        url,
                        secret: c.secret.as_ref().map(|s| s.get_ref().clone()),
                        headers: c
                            .headers
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                        format,
                        retry_for_ms,
                        max_per_hour: c.max_per_hour.as_ref().map_or(0, |m| *m.get_ref()),
                    }),
                );
            }
            "email" => {
                if let Some(e) = email_channel(c, &key, bad) {
                    channels.insert(name.clone(), Channel::Email(e));
                }
            }
            other => bad(
                c.kind.span(),
                &key("type"),
                format!(
                    "'{other}' is not a channel type; known: webhook, email (and the built-in log)"
                ),
            ),
        }
    }
    channels
}

//! Alert mail over SMTP (lettre): a subject that says what fired, a plain
//! and an HTML body with the counts, the threshold, the query and sample
//! lines, and threading headers so a mail client shows the firing mail,
//! its reminders and the resolved mail of one alert as one conversation.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::notify::text_line;
use super::state::{Notification, Reason};
use crate::config::alerting::{EmailChannel, SmtpTls};

/// The Message-ID of an alert's first mail, which the later ones refer
/// to: one per firing episode (fingerprint and start).
pub fn thread_id(n: &Notification) -> String {
    format!(
        "<alert-{}-{}@logweave>",
        n.alert.fingerprint,
        n.alert.starts_at.unwrap_or(n.alert.active_since)
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Plain text and an HTML fragment for one notification.
pub fn bodies(n: &Notification, external_url: &str) -> (String, String) {
    let a = &n.alert;
    let mut rows: Vec<(String, String)> = vec![
        ("Rule".into(), a.rule.clone()),
        ("Status".into(), text_line(n)),
        ("Value".into(), super::number_text(a.value)),
        ("Threshold".into(), a.threshold.clone()),
    ];
    if let Some(d) = &a.detail {
        rows.push(("Measured".into(), d.clone()));
    }
    for (k, v) in &a.group {
        rows.push((k.clone(), v.clone()));
    }
    if let Some(t) = a.starts_at {
        rows.push(("Since".into(), super::rfc3339(t)));
    }
    if let Some(t) = a.ends_at {
        rows.push(("Resolved".into(), super::rfc3339(t)));
    }
    for (k, v) in &a.annotations {
        rows.push((k.clone(), v.clone()));
    }
    rows.push(("Query".into(), a.query.clone()));
    if let Some(d) = &a.query_dsl {
        rows.push(("Query (DSL)".into(), d.to_string()));
    }
    let link = format!("{external_url}/api/v1/alerts?rule={}", a.rule);
    let mut text = String::new();
    for (k, v) in &rows {
        text.push_str(&format!("{k}: {v}\n"));
    }
    if !a.samples.is_empty() {
        text.push_str("\nSample lines:\n");
        for s in &a.samples {
            text.push_str(&format!("  {s}\n"));
        }
    }
    text.push_str(&format!("\n{link}\n"));
    let mut html = String::from("<table>");
    for (k, v) in &rows {
        html.push_str(&format!(
            "<tr><th align=\"left\">{}</th><td>{}</td></tr>",
            escape(k),
            escape(v)
        ));
    }
    html.push_str("</table>");
    if !a.samples.is_empty() {
        html.push_str("<p>Sample lines:</p><pre>");
        for s in &a.samples {
            html.push_str(&escape(s));
            html.push('\n');
        }
        html.push_str("</pre>");
    }
    html.push_str(&format!(
        "<p><a href=\"{}\">{}</a></p>",
        escape(&link),
        escape(&link)
    ));
    (text, html)
}

/// The subject: the one alert's line, or the rule and how many.
fn subject(batch: &[Notification]) -> String {
    match batch {
        [n] => text_line(n),
        _ => {
            let head = match batch[0].reason {
                Reason::Firing => "FIRING",
                Reason::Reminder => "STILL FIRING",
                Reason::Resolved => "RESOLVED",
            };
            let groups: Vec<String> = batch
                .iter()
                .map(|n| {
                    n.alert
                        .group
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .collect();
            let mut list = groups.join("; ");
            if list.len() > 120 {
                let cut = (0..=120)
                    .rev()
                    .find(|i| list.is_char_boundary(*i))
                    .unwrap_or(0);
                list.truncate(cut);
                list.push_str(" ...");
            }
            format!(
                "[{head}] {}: {} alerts [{list}]",
                batch[0].alert.rule,
                batch.len()
            )
        }
    }
}

/// The mail for a batch of notifications of one rule (one alert, or
/// several that started together). The firing mail's `Message-ID` is the
/// first alert's thread and its `References` name every alert's, so each
/// alert's later mails, which answer their own thread, join it.
pub fn message(
    ch: &EmailChannel,
    batch: &[Notification],
    external_url: &str,
) -> Result<Message, String> {
    let Some(n) = batch.first() else {
        return Err("nothing to send".into());
    };
    let from: Mailbox = ch
        .from
        .parse()
        .map_err(|e| format!("from '{}': {e}", ch.from))?;
    let thread = thread_id(n);
    let threads: Vec<String> = batch.iter().map(thread_id).collect();
    let mut b = Message::builder().from(from).subject(subject(batch));
    for to in &ch.to {
        b = b.to(to.parse().map_err(|e| format!("to '{to}': {e}"))?);
    }
    b = match n.reason {
        Reason::Firing => {
            let b = b.message_id(Some(thread));
            if threads.len() > 1 {
                b.references(threads.join(" "))
            } else {
                b
            }
        }
        Reason::Reminder | Reason::Resolved => b
            .message_id(Some(format!("<{}@logweave>", n.id)))
            .in_reply_to(thread)
            .references(threads.join(" ")),
    };
    let mut text = String::new();
    let mut html = String::from("<html><body>");
    for (i, n) in batch.iter().enumerate() {
        let (t, h) = bodies(n, external_url);
        if i > 0 {
            text.push_str("\n----\n\n");
            html.push_str("<hr>");
        }
        text.push_str(&t);
        html.push_str(&h);
    }
    html.push_str("</body></html>");
    b.multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(|e| format!("cannot build the mail: {e}"))
}

/// Sends the batch's mail.
pub async fn send(
    ch: &EmailChannel,
    batch: &[Notification],
    external_url: &str,
) -> Result<(), String> {
    let msg = message(ch, batch, external_url)?;
    let tls = || -> Result<TlsParameters, String> {
        let mut p = TlsParameters::builder(ch.host.clone());
        if let Some(pem) = &ch.ca_pem {
            p = p.add_root_certificate(
                Certificate::from_pem(pem).map_err(|e| format!("ca_file: {e}"))?,
            );
        }
        p.build_rustls()
            .map_err(|e| format!("TLS setup for {}: {e}", ch.host))
    };
    let mut t = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(ch.host.as_str())
        .port(ch.port)
        .timeout(Some(Duration::from_secs(15)));
    t = match ch.tls {
        SmtpTls::StartTls => t.tls(Tls::Required(tls()?)),
        SmtpTls::Implicit => t.tls(Tls::Wrapper(tls()?)),
        SmtpTls::None => t.tls(Tls::None),
    };
    if let Some((u, p)) = &ch.credentials {
        t = t.credentials(Credentials::new(u.clone(), p.clone()));
    }
    t.build()
        .send(msg)
        .await
        .map(|_| ())
        .map_err(|e| format!("SMTP {}:{}: {e}", ch.host, ch.port))
}

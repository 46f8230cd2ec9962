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

/// Plain text and HTML bodies.
pub fn bodies(n: &Notification, external_url: &str) -> (String, String) {
    let a = &n.alert;
    let mut rows: Vec<(String, String)> = vec![
        ("Rule".into(), a.rule.clone()),
        ("Status".into(), text_line(n)),
        ("Value".into(), super::number_text(a.value)),
        ("Threshold".into(), a.threshold.clone()),
    ];
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
    let mut html = String::from("<html><body><table>");
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
        "<p><a href=\"{}\">{}</a></p></body></html>",
        escape(&link),
        escape(&link)
    ));
    (text, html)
}

/// The mail for a notification.
pub fn message(ch: &EmailChannel, n: &Notification, external_url: &str) -> Result<Message, String> {
    let from: Mailbox = ch
        .from
        .parse()
        .map_err(|e| format!("from '{}': {e}", ch.from))?;
    let thread = thread_id(n);
    let mut b = Message::builder().from(from).subject(text_line(n));
    for to in &ch.to {
        b = b.to(to.parse().map_err(|e| format!("to '{to}': {e}"))?);
    }
    b = match n.reason {
        Reason::Firing => b.message_id(Some(thread)),
        Reason::Reminder | Reason::Resolved => b
            .message_id(Some(format!("<{}@logweave>", n.id)))
            .in_reply_to(thread.clone())
            .references(thread),
    };
    let (text, html) = bodies(n, external_url);
    b.multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(|e| format!("cannot build the mail: {e}"))
}

/// Sends the notification's mail.
pub async fn send(ch: &EmailChannel, n: &Notification, external_url: &str) -> Result<(), String> {
    let msg = message(ch, n, external_url)?;
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

//! Alerting: rules evaluated on a schedule against the store, a durable
//! state machine per alert, and notifications delivered with retries.
//!
//! - `rule`: a checked rule and its condition;
//! - `template`: the `{{field}}` texts of annotations;
//! - `evaluate`: one evaluation, from the store's aggregations;
//! - `state`: the state machine and the durable book;
//! - `notify`: the server log and webhooks;
//! - `mail`: alert mail over SMTP.

pub mod evaluate;
pub mod mail;
pub mod notify;
pub mod rule;
pub mod state;
pub mod template;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::analysis::series::AggSource;
use crate::config::alerting::{AlertingConfig, Channel};
use state::{Book, Notification, Reason};

/// A duration as the config writes it: `5m`, `1h`, `30s`.
pub fn human_ms(ms: i64) -> String {
    match ms {
        0 => "0s".into(),
        m if m % 86_400_000 == 0 => format!("{}d", m / 86_400_000),
        m if m % 3_600_000 == 0 => format!("{}h", m / 3_600_000),
        m if m % 60_000 == 0 => format!("{}m", m / 60_000),
        m if m % 1000 == 0 => format!("{}s", m / 1000),
        m => format!("{m}ms"),
    }
}

/// A value without a needless `.0`.
pub fn number_text(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.3}")
    }
}

/// Epoch ms as RFC 3339 UTC with milliseconds.
pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| format!("{t:.3}"))
        .unwrap_or_default()
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Backoff before attempt `n + 1`: 1 s, 2 s, 4 s ... at most a minute.
fn backoff_ms(attempts: u32) -> i64 {
    1000i64.saturating_mul(1i64 << attempts.min(6)).min(60_000)
}

/// The server's alerting.
pub struct Alerting {
    cfg: AlertingConfig,
    path: PathBuf,
    book: Mutex<Book>,
    client: reqwest::Client,
    /// The server's own address, for links in notifications.
    external_url: String,
}

impl Alerting {
    /// Opens the book in `dir` (created if missing).
    pub fn open(dir: &Path, cfg: AlertingConfig, external_url: String) -> anyhow::Result<Alerting> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("state.json");
        let mut book = Book::load(&path)?;
        let names: Vec<&str> = cfg.rules.iter().map(|r| r.name.as_str()).collect();
        book.retain_rules(&names);
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Alerting {
            cfg,
            path,
            book: Mutex::new(book),
            client,
            external_url,
        })
    }

    /// The book, for the API.
    pub fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The rules and channels.
    pub fn config(&self) -> &AlertingConfig {
        &self.cfg
    }

    fn save(&self, book: &Book) {
        if let Err(e) = book.save(&self.path) {
            tracing::error!(error = %format!("{e:#}"), "alerting: saving the alert book failed; retried on the next change");
        }
    }

    /// Puts an undeliverable notification back in the outbox; false if no
    /// such id.
    pub fn resend(&self, id: &str) -> bool {
        let mut book = self.book();
        let Some(i) = book.undeliverable.iter().position(|n| n.id == id) else {
            return false;
        };
        let mut n = book.undeliverable.remove(i);
        let now = now_ms();
        n.attempts = 0;
        n.created = now;
        n.next_attempt = now;
        book.outbox.push(n);
        self.save(&book);
        true
    }

    /// Evaluates the rules on schedule and delivers until `shutdown`.
    pub async fn run(
        self: Arc<Self>,
        src: Arc<dyn AggSource + Send + Sync>,
        analysis: Option<Arc<crate::analysis::live::Analysis>>,
        shutdown: CancellationToken,
    ) {
        if !self.cfg.enabled || self.cfg.rules.is_empty() {
            // still deliver what an earlier run left in the outbox
            self.deliver_loop(shutdown).await;
            return;
        }
        tokio::spawn(self.clone().deliver_loop(shutdown.clone()));
        let mut next: BTreeMap<String, i64> = BTreeMap::new();
        loop {
            let now = now_ms();
            for rule in &self.cfg.rules {
                let due = *next.entry(rule.name.clone()).or_insert(now);
                if now < due {
                    continue;
                }
                next.insert(rule.name.clone(), now + rule.every_ms);
                // one evaluation at a time: the store's aggregations are
                // CPU work, and rules wait their turn rather than pile up
                let (me, src, r) = (self.clone(), src.clone(), rule.clone());
                let an = analysis.clone();
                let res = tokio::task::spawn_blocking(move || {
                    let observed = if r.condition.reads_anomalies() {
                        let Some(an) = an else {
                            anyhow::bail!(
                                "the rule reads anomalies, and [analysis] is off on this server"
                            );
                        };
                        let f = an.findings();
                        evaluate::observe_anomalies(&f, &r, now)
                    } else {
                        evaluate::observe(src.as_ref(), &r, now)?
                    };
                    let mut book = me.book();
                    if book.step(&r, &observed, now) {
                        me.save(&book);
                    }
                    anyhow::Ok(())
                })
                .await;
                match res {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(rule = %rule.name, error = %format!("{e:#}"), "alerting: evaluating the rule failed; tried again next round")
                    }
                    Err(e) => {
                        tracing::error!(rule = %rule.name, error = %e, "alerting: evaluation panicked")
                    }
                }
            }
            let wake = next.values().min().copied().unwrap_or(now + 1000);
            let wait = (wake - now_ms()).clamp(50, 1000) as u64;
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
            }
        }
    }

    async fn deliver_loop(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            self.deliver_due().await;
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        }
    }

    /// One pass over the outbox: each due notification tried once.
    async fn deliver_due(&self) {
        let now = now_ms();
        let due: Vec<Notification> = self
            .book()
            .outbox
            .iter()
            .filter(|n| n.next_attempt <= now)
            .cloned()
            .collect();
        for n in due {
            let result = match self.cfg.channels.get(&n.channel) {
                Some(Channel::Log) => {
                    let line = notify::text_line(&n);
                    match n.reason {
                        Reason::Resolved => {
                            tracing::info!(rule = %n.alert.rule, fingerprint = %n.alert.fingerprint, "{line}")
                        }
                        _ => {
                            tracing::warn!(rule = %n.alert.rule, fingerprint = %n.alert.fingerprint, samples = ?n.alert.samples, "{line}")
                        }
                    }
                    Ok(())
                }
                Some(Channel::Webhook(ch)) => {
                    notify::send_webhook(&self.client, ch, &n, &self.external_url).await
                }
                Some(Channel::Email(ch)) => mail::send(ch, &n, &self.external_url).await,
                None => Err(format!("channel '{}' is no longer configured", n.channel)),
            };
            let retry_for = match self.cfg.channels.get(&n.channel) {
                Some(Channel::Webhook(ch)) => ch.retry_for_ms,
                Some(Channel::Email(ch)) => ch.retry_for_ms,
                _ => 0,
            };
            let mut book = self.book();
            let Some(i) = book.outbox.iter().position(|o| o.id == n.id) else {
                continue;
            };
            let done = now_ms();
            match result {
                Ok(()) => {
                    let mut sent = book.outbox.remove(i);
                    sent.attempts += 1;
                    sent.delivered = Some(done);
                    book.sent.push_back(sent);
                    while book.sent.len() > state::HISTORY {
                        book.sent.pop_front();
                    }
                }
                Err(e) => {
                    let o = &mut book.outbox[i];
                    o.attempts += 1;
                    o.last_error = Some(e.clone());
                    o.next_attempt = done + backoff_ms(o.attempts - 1);
                    if done - o.created >= retry_for {
                        let dead = book.outbox.remove(i);
                        tracing::error!(id = %dead.id, channel = %dead.channel, attempts = dead.attempts, error = %e, "alerting: notification undeliverable; kept in the undeliverable list (re-send it through the API)");
                        book.undeliverable.push(dead);
                    } else {
                        tracing::warn!(id = %n.id, channel = %n.channel, error = %e, "alerting: delivery failed; retrying");
                    }
                }
            }
            self.save(&book);
        }
    }
}

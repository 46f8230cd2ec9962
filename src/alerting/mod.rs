//! Alerting: rules evaluated on a schedule against the store, a durable
//! state machine per alert, and notifications delivered with retries.
//!
//! - `rule`: a checked rule and its condition;
//! - `ruleset`: the rules in force, from the config file and the API, and
//!   their reload;
//! - `silence`: matchers and windows that keep alerts quiet;
//! - `template`: the `{{field}}` texts of annotations;
//! - `evaluate`: one evaluation, from the store's aggregations;
//! - `state`: the state machine and the durable book;
//! - `notify`: the server log and webhooks;
//! - `mail`: alert mail over SMTP.

pub mod evaluate;
pub mod mail;
pub mod notify;
pub mod rule;
pub mod ruleset;
pub mod silence;
pub mod state;
pub mod template;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::analysis::series::AggSource;
use crate::config::alerting::{AlertingConfig, Channel};
use rule::Rule;
use ruleset::RuleSet;
use silence::Silence;
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

/// Rounds a rule catches up at most after a pause or restart.
pub const CATCH_UP_ROUNDS: i64 = 120;
/// And at most this far back (ms).
pub const CATCH_UP_MS: i64 = 3_600_000;

/// When a rule is next due: one round after its last evaluation (so a
/// pause or restart is caught up round by round, over the windows it
/// missed, however far back that is up to [`CATCH_UP_ROUNDS`] and
/// [`CATCH_UP_MS`]); now when it never ran.
pub fn next_due(last: Option<i64>, every_ms: i64, now: i64) -> i64 {
    match last {
        None => now,
        Some(t) => {
            let earliest = now - CATCH_UP_MS.min(CATCH_UP_ROUNDS * every_ms);
            let mut due = t + every_ms;
            if due < earliest {
                // skip whole rounds, keeping the rule's phase
                due += (earliest - due + every_ms - 1).div_euclid(every_ms) * every_ms;
            }
            due
        }
    }
}

/// What the scheduler has done since the server started (for the API and
/// `bench alerting`).
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct SchedulerStats {
    pub evaluations: u64,
    pub failures: u64,
    /// Time spent evaluating, in all (µs).
    pub busy_us: u64,
    /// How late the last evaluation started after its due time (ms).
    pub last_lag_ms: i64,
    pub max_lag_ms: i64,
}

/// The server's alerting.
pub struct Alerting {
    stats: Mutex<SchedulerStats>,
    rules: Mutex<RuleSet>,
    path: PathBuf,
    book: Mutex<Book>,
    /// Messages sent per channel in the last hour (for `max_per_hour`;
    /// not kept across a restart).
    sends: Mutex<BTreeMap<String, std::collections::VecDeque<i64>>>,
    client: reqwest::Client,
    /// The server's own address, for links in notifications.
    external_url: String,
}

/// A rule change through the API or a reload, for the API's answer.
pub use ruleset::{ReloadReport, RuleError, Source};

impl Alerting {
    /// Opens the book and the API's rules in `dir` (created if missing);
    /// `config_path` is the file a reload re-reads.
    pub fn open(
        dir: &Path,
        cfg: AlertingConfig,
        external_url: String,
        config_path: Option<PathBuf>,
    ) -> anyhow::Result<Alerting> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("state.json");
        let mut book = Book::load_or_set_aside(&path)?;
        let rules = RuleSet::open(dir, cfg, config_path)?;
        let current = rules.current();
        let names: Vec<&str> = current.rules.iter().map(|r| r.name.as_str()).collect();
        book.retain_rules(&names);
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Alerting {
            stats: Mutex::default(),
            rules: Mutex::new(rules),
            path,
            book: Mutex::new(book),
            sends: Mutex::default(),
            client,
            external_url,
        })
    }

    /// The book, for the API.
    pub fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn ruleset(&self) -> MutexGuard<'_, RuleSet> {
        self.rules.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The scheduler's counters.
    pub fn stats(&self) -> SchedulerStats {
        *self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The rules and channels in force.
    pub fn config(&self) -> Arc<AlertingConfig> {
        self.ruleset().current()
    }

    /// Where the rule `name` is defined, if it exists.
    pub fn source(&self, name: &str) -> Option<Source> {
        self.ruleset().source(name)
    }

    /// Checks a rule body as `PUT /api/v1/rules/{name}` would.
    pub fn check_rule(&self, body: &serde_json::Value) -> Result<Rule, Vec<String>> {
        self.ruleset().check(body)
    }

    /// Forgets the alerts of rules no longer in force.
    fn settle(&self, cfg: &AlertingConfig) {
        let names: Vec<&str> = cfg.rules.iter().map(|r| r.name.as_str()).collect();
        let mut book = self.book();
        book.retain_rules(&names);
        self.save(&book);
    }

    /// Creates or replaces an API rule; true when it is new.
    pub fn put_rule(&self, name: &str, body: serde_json::Value) -> Result<bool, RuleError> {
        let mut set = self.ruleset();
        let created = set.put(name, body)?;
        let cfg = set.current();
        drop(set);
        self.settle(&cfg);
        tracing::info!(rule = %name, created, "alerting: rule saved through the API");
        Ok(created)
    }

    /// Deletes an API rule (its active alerts are forgotten).
    pub fn delete_rule(&self, name: &str) -> Result<(), RuleError> {
        let mut set = self.ruleset();
        set.delete(name)?;
        let cfg = set.current();
        drop(set);
        self.settle(&cfg);
        tracing::info!(rule = %name, "alerting: rule deleted through the API");
        Ok(())
    }

    /// Re-reads the config file's `[alerting]`; with problems, the rules in
    /// force stay as they are and the problems come back.
    pub fn reload(&self) -> Result<ReloadReport, Vec<String>> {
        let mut set = self.ruleset();
        let res = set.reload();
        let cfg = set.current();
        drop(set);
        match &res {
            Ok(r) => {
                self.settle(&cfg);
                tracing::info!(rules = r.rules, added = ?r.added, removed = ?r.removed, changed = ?r.changed, "alerting: rules reloaded");
                for s in &r.skipped {
                    tracing::error!("alerting: the API rule {s}; it is not evaluated");
                }
            }
            Err(p) => {
                tracing::error!(problems = %p.join("; "), "alerting: reload refused; the previous rules keep running")
            }
        }
        res
    }

    fn save(&self, book: &Book) {
        if let Err(e) = book.save(&self.path) {
            tracing::error!(error = %format!("{e:#}"), "alerting: saving the alert book failed; retried on the next change");
        }
    }

    /// Stores a silence (new, or replacing the one with its id).
    pub fn put_silence(&self, mut s: Silence) -> String {
        let mut book = self.book();
        let now = now_ms();
        if s.id.is_empty() {
            book.seq += 1;
            s.id = format!("s{:x}-{}", now, book.seq);
        }
        s.updated_at = now;
        let id = s.id.clone();
        book.silences.retain(|o| o.id != id);
        book.silences.push(s);
        silence::prune(&mut book.silences, now);
        self.save(&book);
        id
    }

    /// Ends a silence now; false if no such id.
    pub fn expire_silence(&self, id: &str) -> bool {
        let mut book = self.book();
        let now = now_ms();
        let Some(s) = book.silences.iter_mut().find(|s| s.id == id) else {
            return false;
        };
        s.ends_at = s.ends_at.min(now);
        s.starts_at = s.starts_at.min(now);
        s.updated_at = now;
        self.save(&book);
        true
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

    /// What a rule sees at `at`: the groups' values over the window ending
    /// `delay` before it.
    pub fn observe(
        src: &dyn AggSource,
        analysis: Option<&crate::analysis::live::Analysis>,
        rule: &Rule,
        at: i64,
    ) -> anyhow::Result<Vec<evaluate::Observation>> {
        if rule.condition.reads_anomalies() {
            let Some(an) = analysis else {
                anyhow::bail!("the rule reads anomalies, and [analysis] is off on this server");
            };
            let f = an.findings();
            Ok(evaluate::observe_anomalies(&f, rule, at))
        } else {
            evaluate::observe(src, rule, at - rule.delay_ms)
        }
    }

    /// Evaluates the rules on schedule and delivers until `shutdown`. Each
    /// rule is evaluated at its due times (not whenever the loop gets to
    /// it), so windows follow one another without gap or overlap, and the
    /// rounds missed during a pause or restart are caught up.
    pub async fn run(
        self: Arc<Self>,
        src: Arc<dyn AggSource + Send + Sync>,
        analysis: Option<Arc<crate::analysis::live::Analysis>>,
        shutdown: CancellationToken,
    ) {
        tokio::spawn(self.clone().deliver_loop(shutdown.clone()));
        // the last round tried per rule (failed ones too: a failing rule
        // waits for its next round rather than spin)
        let mut tried: BTreeMap<String, i64> = BTreeMap::new();
        loop {
            let cfg = self.config();
            tried.retain(|k, _| cfg.rules.iter().any(|r| &r.name == k));
            let mut wake = now_ms() + 1000;
            if cfg.enabled {
                for rule in &cfg.rules {
                    let now = now_ms();
                    let last = match tried.get(&rule.name) {
                        Some(t) => Some(*t),
                        None => self.book().last_eval.get(&rule.name).copied(),
                    };
                    let due = next_due(last, rule.every_ms, now);
                    if now < due {
                        wake = wake.min(due);
                        continue;
                    }
                    tried.insert(rule.name.clone(), due);
                    wake = wake.min(due + rule.every_ms);
                    // one evaluation at a time: the store's aggregations are
                    // CPU work, and rules wait their turn rather than pile up
                    let (me, src, r) = (self.clone(), src.clone(), rule.clone());
                    let an = analysis.clone();
                    let began = std::time::Instant::now();
                    let res = tokio::task::spawn_blocking(move || {
                        let observed = Self::observe(src.as_ref(), an.as_deref(), &r, due)?;
                        let mut book = me.book();
                        let queued = book.outbox.len();
                        if book.step(&r, &observed, due) {
                            // a caught-up round's notifications are new now:
                            // their retry budget starts when they are made
                            // (an on-time round's keep its due time)
                            let wall = now_ms();
                            if wall - due > r.every_ms {
                                for n in &mut book.outbox[queued..] {
                                    n.created = n.created.max(wall);
                                    n.next_attempt = n.next_attempt.max(wall);
                                }
                            }
                            me.save(&book);
                        }
                        anyhow::Ok(())
                    })
                    .await;
                    {
                        let mut st = self.stats.lock().unwrap_or_else(|e| e.into_inner());
                        st.evaluations += 1;
                        st.failures += u64::from(!matches!(res, Ok(Ok(()))));
                        st.busy_us += began.elapsed().as_micros() as u64;
                        st.last_lag_ms = now - due;
                        st.max_lag_ms = st.max_lag_ms.max(now - due);
                    }
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
            }
            let wait = (wake - now_ms()).clamp(20, 1000) as u64;
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

    /// One pass over the outbox: the due notifications, in batches of one
    /// channel, rule and reason (one message each), each tried once.
    async fn deliver_due(&self) {
        let now = now_ms();
        let due: Vec<Notification> = self
            .book()
            .outbox
            .iter()
            .filter(|n| n.next_attempt <= now)
            .cloned()
            .collect();
        let cfg = self.config();
        for batch in batches(due, &cfg) {
            let channel = batch[0].channel.clone();
            let ch = cfg.channels.get(&channel);
            let (retry_for, limit) = match ch {
                Some(Channel::Webhook(c)) => (c.retry_for_ms, c.max_per_hour),
                Some(Channel::Email(c)) => (c.retry_for_ms, c.max_per_hour),
                _ => (0, 0),
            };
            if let Some(free_at) = self.take_slot(&channel, limit, now) {
                // over the channel's rate: wait (not an attempt, nothing
                // dropped); what waits together goes out together
                let mut book = self.book();
                let mut moved = false;
                for n in book.outbox.iter_mut() {
                    if batch.iter().any(|b| b.id == n.id) && n.next_attempt < free_at {
                        n.next_attempt = free_at;
                        n.held = true;
                        moved = true;
                    }
                }
                if moved {
                    tracing::warn!(channel = %channel, limit, waiting = batch.len(), "alerting: channel over its max_per_hour; notifications wait for the next free slot");
                    self.save(&book);
                }
                continue;
            }
            let result = match ch {
                Some(Channel::Log) => {
                    for n in &batch {
                        let line = notify::text_line(n);
                        match n.reason {
                            Reason::Resolved => {
                                tracing::info!(rule = %n.alert.rule, fingerprint = %n.alert.fingerprint, "{line}")
                            }
                            _ => {
                                tracing::warn!(rule = %n.alert.rule, fingerprint = %n.alert.fingerprint, samples = ?n.alert.samples, "{line}")
                            }
                        }
                    }
                    Ok(())
                }
                Some(Channel::Webhook(ch)) => {
                    notify::send_webhook(&self.client, ch, &batch, &self.external_url).await
                }
                Some(Channel::Email(ch)) => mail::send(ch, &batch, &self.external_url).await,
                None => Err(format!("channel '{channel}' is no longer configured")),
            };
            let mut book = self.book();
            let done = now_ms();
            for n in &batch {
                let Some(i) = book.outbox.iter().position(|o| o.id == n.id) else {
                    continue;
                };
                match &result {
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
            }
            self.save(&book);
        }
    }

    /// Takes one of the channel's messages of the hour; when there is none
    /// left, when the next frees up.
    fn take_slot(&self, channel: &str, limit: u32, now: i64) -> Option<i64> {
        if limit == 0 {
            return None;
        }
        let mut sends = self.sends.lock().unwrap_or_else(|e| e.into_inner());
        let q = sends.entry(channel.to_string()).or_default();
        while q.front().is_some_and(|t| now - t >= HOUR_MS) {
            q.pop_front();
        }
        if q.len() >= limit as usize {
            return q.front().map(|t| t + HOUR_MS);
        }
        q.push_back(now);
        None
    }
}

/// The rate limits' period.
const HOUR_MS: i64 = 3_600_000;
/// Alerts one message carries at most.
pub const MAX_BATCH: usize = 100;

/// Due notifications in batches of one channel, rule and reason, in the
/// outbox's order: those of rules with a `group_wait`, and those that
/// waited out a rate limit; the others one by one.
fn batches(due: Vec<Notification>, cfg: &AlertingConfig) -> Vec<Vec<Notification>> {
    let groups = |n: &Notification| {
        n.held
            || cfg
                .rules
                .iter()
                .any(|r| r.name == n.alert.rule && r.group_wait_ms > 0)
    };
    let mut out: Vec<Vec<Notification>> = Vec::new();
    for n in due {
        if !groups(&n) {
            out.push(vec![n]);
            continue;
        }
        let fits = out.iter_mut().find(|b| {
            b.len() < MAX_BATCH
                && groups(&b[0])
                && b[0].channel == n.channel
                && b[0].alert.rule == n.alert.rule
                && b[0].reason == n.reason
        });
        match fits {
            Some(b) => b.push(n),
            None => out.push(vec![n]),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_are_due_one_after_another_and_catch_up_is_bounded() {
        // never ran: now
        assert_eq!(next_due(None, 30_000, 1_000_000), 1_000_000);
        // on time: the next round, even if it is in the future
        assert_eq!(next_due(Some(990_000), 30_000, 1_000_000), 1_020_000);
        // three rounds missed: the first of them, then the next ones
        assert_eq!(next_due(Some(900_000), 30_000, 1_000_000), 930_000);
        // a day away: at most CATCH_UP_ROUNDS rounds back, in phase
        let now = 100 * 86_400_000;
        let due = next_due(Some(now - 86_400_000), 10_000, now);
        assert_eq!(due, now - CATCH_UP_ROUNDS * 10_000);
        // rounds of a minute: at most an hour back
        let due = next_due(Some(now - 86_400_000 + 7_000), 60_000, now);
        assert!(due >= now - CATCH_UP_MS && due < now - CATCH_UP_MS + 60_000);
        assert_eq!((due - 7_000).rem_euclid(60_000), 0, "phase kept");
    }
}

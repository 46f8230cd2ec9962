//! The alerts' state machine and its durable book: per group inactive →
//! pending → firing → resolved, the notifications waiting to go out, the
//! undeliverable ones and the history. The whole book is written to one
//! file (atomically, fsynced) after every change, so a restart neither
//! loses a firing alert nor its resolved notice, nor sends its first
//! notification again.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::evaluate::{group_query, Observation};
use super::rule::Rule;
use super::silence::{self, Silence};

/// Ended alerts and sent notifications kept for the API.
pub const HISTORY: usize = 1000;

/// Where an active alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The condition holds, for less than the rule's `for` so far.
    Pending,
    Firing,
    Resolved,
}

/// One alert: a rule and a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Stable id of rule and group (hex).
    pub fingerprint: String,
    pub rule: String,
    pub status: Status,
    /// `alertname`, `severity`, the group's fields and the rule's labels.
    pub labels: BTreeMap<String, String>,
    /// The rule's annotations rendered for this alert.
    pub annotations: BTreeMap<String, String>,
    pub group: Vec<(String, String)>,
    /// When the condition first held (ms).
    pub active_since: i64,
    /// When it fired (ms).
    pub starts_at: Option<i64>,
    /// When it resolved (ms).
    pub ends_at: Option<i64>,
    /// Last evaluation at which the condition held.
    pub last_true: i64,
    pub last_notified: Option<i64>,
    pub value: f64,
    /// What the value is made of (`7 of 60 events (11.7 %)`), when the
    /// condition says more than a number.
    #[serde(default)]
    pub detail: Option<String>,
    pub threshold: String,
    pub samples: Vec<String>,
    /// Lucene query that shows the events behind it.
    pub query: String,
    /// The silence that keeps it quiet now, if one does.
    #[serde(default)]
    pub silenced_by: Option<String>,
    /// For a rule with a DSL query: the DSL query that shows the events
    /// behind it (`query` then holds only the group's part).
    #[serde(default)]
    pub query_dsl: Option<serde_json::Value>,
}

/// Why a notification is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    Firing,
    Reminder,
    Resolved,
}

/// One notification for one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub id: String,
    pub channel: String,
    pub reason: Reason,
    pub created: i64,
    pub attempts: u32,
    pub next_attempt: i64,
    pub last_error: Option<String>,
    /// Delivered at (ms), once it is.
    pub delivered: Option<i64>,
    /// It waited for its channel's rate limit (and goes out with the
    /// others that did).
    #[serde(default)]
    pub held: bool,
    /// The alert as it was when the notification was made.
    pub alert: Alert,
}

/// Everything the alerting keeps.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Book {
    /// Pending and firing alerts by fingerprint.
    pub alerts: BTreeMap<String, Alert>,
    /// Resolved alerts, newest last.
    pub history: VecDeque<Alert>,
    /// Notifications not yet delivered.
    pub outbox: Vec<Notification>,
    /// Given up after the channel's retry budget; re-sendable.
    pub undeliverable: Vec<Notification>,
    /// Delivered notifications, newest last.
    pub sent: VecDeque<Notification>,
    /// Last evaluation per rule (ms).
    pub last_eval: BTreeMap<String, i64>,
    pub seq: u64,
    /// Silences, active, pending and recently expired.
    #[serde(default)]
    pub silences: Vec<Silence>,
}

/// The fingerprint of a rule's group: FNV-1a over rule and group.
pub fn fingerprint(rule: &str, group: &[(String, String)]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: &[u8]| {
        for &c in b {
            h ^= c as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    };
    eat(rule.as_bytes());
    for (k, v) in group {
        eat(k.as_bytes());
        eat(v.as_bytes());
    }
    format!("{h:016x}")
}

/// Writes `bytes` to a temporary file, fsyncs it and renames it over
/// `path`, so a crash leaves the old content or the new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp: PathBuf = path.with_extension("tmp");
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot rename {} over {}", tmp.display(), path.display()))?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

impl Book {
    /// Reads the book, or an empty one when there is none yet.
    pub fn load(path: &Path) -> anyhow::Result<Book> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not a readable alert book", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Book::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Reads the book; a damaged one (the writes are atomic, so that takes a
    /// disk fault or a hand edit) is kept beside as `<name>.damaged` and an
    /// empty book starts, so the server still serves and alerts: its alerts
    /// then start over (a firing one may notify again).
    pub fn load_or_set_aside(path: &Path) -> anyhow::Result<Book> {
        match Book::load(path) {
            Ok(b) => Ok(b),
            Err(e) if path.exists() => {
                let aside = path.with_extension("json.damaged");
                std::fs::rename(path, &aside).with_context(|| {
                    format!("{e:#}; and it cannot be moved to {}", aside.display())
                })?;
                tracing::error!(error = %format!("{e:#}"), kept = %aside.display(), "alerting: the alert book is damaged; it is kept aside and alerting starts from an empty book");
                Ok(Book::default())
            }
            Err(e) => Err(e),
        }
    }

    /// Writes the book atomically (see [`write_atomic`]).
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        write_atomic(path, &serde_json::to_vec(self)?)
    }

    fn enqueue(&mut self, rule: &Rule, reason: Reason, alert: &Alert, now: i64) {
        for ch in &rule.channels {
            self.seq += 1;
            // a firing notice waits `group_wait` for the others of its rule
            // that start meanwhile, and joins a wait already running
            let next_attempt = if reason == Reason::Firing && rule.group_wait_ms > 0 {
                self.outbox
                    .iter()
                    .filter(|n| {
                        n.channel == *ch
                            && n.alert.rule == rule.name
                            && n.reason == Reason::Firing
                            && n.attempts == 0
                            && n.next_attempt > now
                    })
                    .map(|n| n.next_attempt)
                    .min()
                    .unwrap_or(now + rule.group_wait_ms)
            } else {
                now
            };
            self.outbox.push(Notification {
                id: format!("{}-{}", alert.fingerprint, self.seq),
                channel: ch.clone(),
                reason,
                created: now,
                attempts: 0,
                next_attempt,
                last_error: None,
                delivered: None,
                held: false,
                alert: alert.clone(),
            });
        }
    }

    /// Moves every alert of `rule` on by one evaluation at `now` with the
    /// groups' values; queues the notifications that makes. Returns whether
    /// anything changed that must be saved.
    pub fn step(&mut self, rule: &Rule, observed: &[Observation], now: i64) -> bool {
        let mut changed = false;
        let mut holding = Vec::new();
        for o in observed {
            if !rule.condition.holds(o.value) {
                continue;
            }
            let fp = fingerprint(&rule.name, &o.group);
            holding.push(fp.clone());
            let alert = self.alerts.entry(fp.clone()).or_insert_with(|| {
                changed = true;
                new_alert(rule, o, &fp, now)
            });
            alert.value = o.value;
            alert.detail = o.detail.clone();
            alert.samples = o.samples.clone();
            alert.last_true = now;
            let reason = match alert.status {
                Status::Pending if now - alert.active_since >= rule.for_ms => {
                    alert.status = Status::Firing;
                    alert.starts_at = Some(now);
                    changed = true;
                    Some(Reason::Firing)
                }
                // it started under a silence: its first notice is still owed
                Status::Firing if alert.last_notified.is_none() => Some(Reason::Firing),
                Status::Firing
                    if rule.repeat_ms > 0
                        && alert
                            .last_notified
                            .is_some_and(|t| now - t >= rule.repeat_ms) =>
                {
                    Some(Reason::Reminder)
                }
                _ => None,
            };
            let silenced = silence::matching(&self.silences, &alert.labels, now);
            if silenced != alert.silenced_by {
                alert.silenced_by = silenced;
                changed = true;
            }
            if let (Some(reason), None) = (reason, &alert.silenced_by) {
                alert.last_notified = Some(now);
                alert.annotations = render(rule, alert);
                let snapshot = alert.clone();
                self.enqueue(rule, reason, &snapshot, now);
                changed = true;
            }
        }
        let gone: Vec<String> = self
            .alerts
            .iter()
            .filter(|(fp, a)| a.rule == rule.name && !holding.contains(fp))
            .map(|(fp, _)| fp.clone())
            .collect();
        for fp in gone {
            let Some(a) = self.alerts.get(&fp) else {
                continue;
            };
            match a.status {
                Status::Pending => {
                    self.alerts.remove(&fp);
                    changed = true;
                }
                Status::Firing if now - a.last_true >= rule.keep_firing_for_ms => {
                    if let Some(mut a) = self.alerts.remove(&fp) {
                        a.status = Status::Resolved;
                        a.ends_at = Some(now);
                        if let Some(o) = observed
                            .iter()
                            .find(|o| fingerprint(&rule.name, &o.group) == fp)
                        {
                            a.value = o.value;
                            a.detail = o.detail.clone();
                        }
                        a.annotations = render(rule, &a);
                        a.silenced_by = silence::matching(&self.silences, &a.labels, now);
                        // nobody was told it fired, or someone silenced it:
                        // no resolved notice either
                        if a.last_notified.is_some() && a.silenced_by.is_none() {
                            self.enqueue(rule, Reason::Resolved, &a, now);
                        }
                        self.history.push_back(a);
                        while self.history.len() > HISTORY {
                            self.history.pop_front();
                        }
                        changed = true;
                    }
                }
                _ => {}
            }
        }
        self.last_eval.insert(rule.name.clone(), now);
        changed
    }

    /// Forgets the alerts of rules that no longer exist (after a reload).
    pub fn retain_rules(&mut self, names: &[&str]) {
        self.alerts.retain(|_, a| names.contains(&a.rule.as_str()));
        self.last_eval.retain(|r, _| names.contains(&r.as_str()));
    }
}

fn new_alert(rule: &Rule, o: &Observation, fp: &str, now: i64) -> Alert {
    let mut labels = BTreeMap::new();
    labels.insert("alertname".to_string(), rule.name.clone());
    labels.insert("severity".to_string(), rule.severity.as_str().to_string());
    for (k, v) in &rule.labels {
        labels.insert(k.clone(), v.clone());
    }
    for (k, v) in &o.group {
        labels.insert(k.clone(), v.clone());
    }
    Alert {
        fingerprint: fp.to_string(),
        rule: rule.name.clone(),
        status: Status::Pending,
        labels,
        annotations: BTreeMap::new(),
        group: o.group.clone(),
        active_since: now,
        starts_at: None,
        ends_at: None,
        last_true: now,
        last_notified: None,
        value: o.value,
        detail: o.detail.clone(),
        threshold: rule.condition.threshold_text(),
        samples: o.samples.clone(),
        silenced_by: None,
        query: o
            .query
            .clone()
            .unwrap_or_else(|| group_query(rule, &o.group)),
        query_dsl: super::evaluate::group_query_dsl(rule, &o.group),
    }
}

/// The rule's annotations for this alert.
fn render(rule: &Rule, a: &Alert) -> BTreeMap<String, String> {
    let lookup = |f: &str| -> Option<String> {
        match f {
            "rule" => Some(rule.name.clone()),
            "value" => Some(super::number_text(a.value)),
            "threshold" => Some(a.threshold.clone()),
            "window" => Some(super::human_ms(rule.window_ms)),
            "severity" => Some(rule.severity.as_str().to_string()),
            "status" => Some(
                match a.status {
                    Status::Pending => "pending",
                    Status::Firing => "firing",
                    Status::Resolved => "resolved",
                }
                .to_string(),
            ),
            "query" => Some(a.query.clone()),
            // what the value is made of, or the value itself
            "detail" => Some(
                a.detail
                    .clone()
                    .unwrap_or_else(|| super::number_text(a.value)),
            ),
            "starts_at" => a.starts_at.map(super::rfc3339),
            "group" => Some(
                a.group
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            f => {
                if let Some(g) = f.strip_prefix("group.") {
                    a.group.iter().find(|(k, _)| k == g).map(|(_, v)| v.clone())
                } else {
                    f.strip_prefix("labels.")
                        .and_then(|l| a.labels.get(l).cloned())
                }
            }
        }
    };
    rule.annotations
        .iter()
        .map(|(k, t)| (k.clone(), t.render(&lookup)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::rule::{Condition, Severity};

    fn rule(for_ms: i64, keep_ms: i64, repeat_ms: i64) -> Rule {
        Rule {
            name: "r".into(),
            index: "*".into(),
            query: String::new(),
            window_ms: 60_000,
            every_ms: 10_000,
            group_by: vec!["service".into()],
            condition: Condition::Count {
                above: Some(10.0),
                below: None,
            },
            for_ms,
            keep_firing_for_ms: keep_ms,
            repeat_ms,
            delay_ms: 0,
            group_wait_ms: 0,
            query_dsl: None,
            severity: Severity::High,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            channels: vec!["log".into()],
        }
    }

    fn obs(v: f64) -> Vec<Observation> {
        vec![Observation {
            group: vec![("service".into(), "api".into())],
            value: v,
            samples: vec![],
            query: None,
            detail: None,
        }]
    }

    /// Runs the values, one evaluation every 10 s; the reasons queued.
    fn run(r: &Rule, values: &[f64]) -> Vec<(i64, Reason)> {
        let mut b = Book::default();
        for (i, v) in values.iter().enumerate() {
            b.step(r, &obs(*v), i as i64 * 10_000);
        }
        b.outbox.iter().map(|n| (n.created, n.reason)).collect()
    }

    #[test]
    fn fires_once_and_resolves_once() {
        let got = run(&rule(0, 0, 0), &[0.0, 20.0, 30.0, 25.0, 5.0, 0.0]);
        assert_eq!(
            got,
            vec![(10_000, Reason::Firing), (40_000, Reason::Resolved)]
        );
    }

    #[test]
    fn flapping_inside_for_never_fires() {
        // `for` 30 s: true for 20 s at most, then false, again and again
        let got = run(
            &rule(30_000, 0, 0),
            &[20.0, 20.0, 0.0, 20.0, 20.0, 0.0, 20.0, 0.0],
        );
        assert!(got.is_empty(), "{got:?}");
        // true for 30 s: fires at the fourth true evaluation
        let got = run(&rule(30_000, 0, 0), &[20.0, 20.0, 20.0, 20.0]);
        assert_eq!(got, vec![(30_000, Reason::Firing)]);
    }

    #[test]
    fn reminders_on_schedule_and_keep_firing_for() {
        // repeat every 20 s; keep firing 15 s after the condition fails
        let got = run(
            &rule(0, 15_000, 20_000),
            &[20.0, 20.0, 20.0, 20.0, 20.0, 0.0, 20.0, 0.0, 0.0, 0.0],
        );
        assert_eq!(
            got,
            vec![
                (0, Reason::Firing),
                (20_000, Reason::Reminder),
                (40_000, Reason::Reminder),
                // a dip at 50 s shorter than keep_firing_for does not resolve;
                // 60 s is true again (and 20 s after the last reminder)
                (60_000, Reason::Reminder),
                // resolved at the first evaluation 15 s after the last true
                (80_000, Reason::Resolved),
            ]
        );
    }

    #[test]
    fn the_book_survives_a_save_and_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let r = rule(0, 0, 0);
        let mut b = Book::default();
        b.step(&r, &obs(20.0), 0);
        b.save(&path).unwrap();
        let mut back = Book::load(&path).unwrap();
        assert_eq!(back.alerts, b.alerts);
        // still firing after the "restart": no second first notification
        back.outbox.clear();
        back.step(&r, &obs(20.0), 10_000);
        assert!(back.outbox.is_empty());
        back.step(&r, &obs(0.0), 20_000);
        assert_eq!(back.outbox.len(), 1);
        assert_eq!(back.outbox[0].reason, Reason::Resolved);
    }

    fn silence(from: i64, to: i64, service: &str) -> Silence {
        Silence {
            id: "s1".into(),
            matchers: vec![crate::alerting::silence::Matcher::new(
                "service", service, false, true,
            )],
            starts_at: from,
            ends_at: to,
            created_by: "test".into(),
            comment: String::new(),
            updated_at: 0,
        }
    }

    #[test]
    fn a_silence_suppresses_and_its_end_lets_the_first_notice_out() {
        let r = rule(0, 0, 0);
        let mut b = Book::default();
        // silenced from 0 to 25 s; the alert fires at 0 s
        b.silences.push(silence(0, 25_000, "api"));
        for (i, v) in [20.0, 20.0, 20.0, 20.0, 0.0].iter().enumerate() {
            b.step(&r, &obs(*v), i as i64 * 10_000);
            if i == 1 {
                let a = b.alerts.values().next().unwrap();
                assert_eq!(a.status, Status::Firing);
                assert_eq!(a.silenced_by.as_deref(), Some("s1"));
            }
        }
        let got: Vec<(i64, Reason)> = b.outbox.iter().map(|n| (n.created, n.reason)).collect();
        // nothing while silenced; the first notice at 30 s, the end at 40 s
        assert_eq!(
            got,
            vec![(30_000, Reason::Firing), (40_000, Reason::Resolved)]
        );
    }

    #[test]
    fn an_alert_silenced_all_along_sends_nothing_at_all() {
        let r = rule(0, 0, 0);
        let mut b = Book::default();
        b.silences.push(silence(0, 1_000_000, "api"));
        for (i, v) in [20.0, 20.0, 0.0].iter().enumerate() {
            b.step(&r, &obs(*v), i as i64 * 10_000);
        }
        assert!(b.outbox.is_empty(), "{:?}", b.outbox);
        assert_eq!(b.history.len(), 1, "it still fired and resolved");
        // a silence for another service changes nothing
        let mut b = Book::default();
        b.silences.push(silence(0, 1_000_000, "web"));
        b.step(&r, &obs(20.0), 0);
        assert_eq!(b.outbox.len(), 1);
    }

    #[test]
    fn firing_notices_starting_within_group_wait_share_one_send_time() {
        let mut r = rule(0, 0, 0);
        r.group_wait_ms = 30_000;
        let o = |svc: &str| Observation {
            group: vec![("service".into(), svc.into())],
            value: 20.0,
            samples: vec![],
            query: None,
            detail: None,
        };
        let mut b = Book::default();
        b.step(&r, &[o("api")], 0);
        b.step(&r, &[o("api"), o("web")], 10_000);
        // db starts after api's wait ended: a wait of its own
        b.step(&r, &[o("api"), o("web"), o("db")], 40_000);
        let at: Vec<(String, i64)> = b
            .outbox
            .iter()
            .map(|n| (n.alert.labels["service"].clone(), n.next_attempt))
            .collect();
        assert_eq!(
            at,
            vec![
                ("api".to_string(), 30_000),
                ("web".to_string(), 30_000),
                ("db".to_string(), 70_000)
            ]
        );
    }

    #[test]
    fn a_damaged_book_is_set_aside_and_an_empty_one_starts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, b"{\"alerts\": {tr").unwrap();
        assert!(Book::load(&path).is_err());
        let b = Book::load_or_set_aside(&path).unwrap();
        assert!(b.alerts.is_empty());
        assert!(!path.exists());
        let kept = std::fs::read(dir.path().join("state.json.damaged")).unwrap();
        assert_eq!(kept, b"{\"alerts\": {tr");
    }
}

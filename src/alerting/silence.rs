//! Silences: label matchers and a time window during which matching alerts
//! notify nobody. They keep their state (a silenced alert still fires and
//! shows in the API); when the silence ends while the alert still fires,
//! its first notification goes out then. The shape is Alertmanager's, so
//! `amtool`-style scripts carry over.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One label test: `name = value`, `!=`, `=~` (regex, anchored) or `!~`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Matcher {
    pub name: String,
    pub value: String,
    #[serde(default)]
    pub is_regex: bool,
    #[serde(default = "yes")]
    pub is_equal: bool,
    /// The regex, compiled once (silences are tested at every evaluation
    /// of every alert); `None` inside when it does not compile.
    #[serde(skip)]
    compiled: std::sync::OnceLock<Option<regex::Regex>>,
}

impl PartialEq for Matcher {
    fn eq(&self, o: &Matcher) -> bool {
        (&self.name, &self.value, self.is_regex, self.is_equal)
            == (&o.name, &o.value, o.is_regex, o.is_equal)
    }
}

fn yes() -> bool {
    true
}

impl Matcher {
    pub fn new(name: &str, value: &str, is_regex: bool, is_equal: bool) -> Matcher {
        Matcher {
            name: name.into(),
            value: value.into(),
            is_regex,
            is_equal,
            compiled: std::sync::OnceLock::new(),
        }
    }

    /// Refuses an empty name or a regex that does not compile.
    pub fn check(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("a matcher needs a label name".into());
        }
        if self.is_regex {
            anchored(&self.value).map_err(|e| {
                format!(
                    "matcher '{}': '{}' is not a regex: {e}",
                    self.name, self.value
                )
            })?;
        }
        Ok(())
    }

    /// Whether the labels pass this test (a missing label is empty, as in
    /// Alertmanager).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let v = labels.get(&self.name).map_or("", String::as_str);
        let hit = if self.is_regex {
            self.compiled
                .get_or_init(|| anchored(&self.value).ok())
                .as_ref()
                .is_some_and(|r| r.is_match(v))
        } else {
            v == self.value
        };
        hit == self.is_equal
    }
}

fn anchored(re: &str) -> Result<regex::Regex, regex::Error> {
    regex::Regex::new(&format!("^(?:{re})$"))
}

/// A silence as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<Matcher>,
    /// Epoch ms.
    pub starts_at: i64,
    pub ends_at: i64,
    pub created_by: String,
    pub comment: String,
    pub updated_at: i64,
}

/// Where a silence is in its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    Pending,
    Active,
    Expired,
}

impl Silence {
    pub fn state(&self, now: i64) -> SilenceState {
        if now < self.starts_at {
            SilenceState::Pending
        } else if now < self.ends_at {
            SilenceState::Active
        } else {
            SilenceState::Expired
        }
    }

    /// Whether it silences an alert with these labels at `now`.
    pub fn silences(&self, labels: &BTreeMap<String, String>, now: i64) -> bool {
        self.state(now) == SilenceState::Active && self.matchers.iter().all(|m| m.matches(labels))
    }
}

/// The id of the first active silence that matches, if any.
pub fn matching(
    silences: &[Silence],
    labels: &BTreeMap<String, String>,
    now: i64,
) -> Option<String> {
    silences
        .iter()
        .find(|s| s.silences(labels, now))
        .map(|s| s.id.clone())
}

/// Expired silences kept for the API.
pub const KEEP_EXPIRED: usize = 200;

/// Drops the oldest expired silences beyond [`KEEP_EXPIRED`].
pub fn prune(silences: &mut Vec<Silence>, now: i64) {
    let expired = silences
        .iter()
        .filter(|s| s.state(now) == SilenceState::Expired)
        .count();
    if expired <= KEEP_EXPIRED {
        return;
    }
    let mut drop = expired - KEEP_EXPIRED;
    silences.sort_by_key(|s| s.ends_at);
    silences.retain(|s| {
        if drop > 0 && s.state(now) == SilenceState::Expired {
            drop -= 1;
            false
        } else {
            true
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn m(name: &str, value: &str, is_regex: bool, is_equal: bool) -> Matcher {
        Matcher::new(name, value, is_regex, is_equal)
    }

    #[test]
    fn matchers_follow_alertmanager() {
        let l = labels(&[("service", "checkout"), ("severity", "high")]);
        assert!(m("service", "checkout", false, true).matches(&l));
        assert!(!m("service", "check", false, true).matches(&l));
        // regexes are anchored: `check` does not match `checkout`
        assert!(!m("service", "check", true, true).matches(&l));
        assert!(m("service", "check.*", true, true).matches(&l));
        assert!(m("service", "web|api", true, false).matches(&l));
        // a missing label is the empty string
        assert!(m("host", "", false, true).matches(&l));
        assert!(!m("host", "a", false, true).matches(&l));
        assert!(m("x", "(", true, true).check().is_err());
        assert!(m(" ", "a", false, true).check().is_err());
    }

    #[test]
    fn a_silence_holds_only_inside_its_window() {
        let s = Silence {
            id: "s1".into(),
            matchers: vec![m("service", "checkout", false, true)],
            starts_at: 100,
            ends_at: 200,
            created_by: "me".into(),
            comment: String::new(),
            updated_at: 0,
        };
        let l = labels(&[("service", "checkout")]);
        assert!(!s.silences(&l, 99));
        assert!(s.silences(&l, 100));
        assert!(s.silences(&l, 199));
        assert!(!s.silences(&l, 200));
        assert!(!s.silences(&labels(&[("service", "web")]), 150));
    }
}

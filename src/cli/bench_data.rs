//! The records `bench ingest` sends. The default, `realistic`, looks like
//! production logs where it matters for a store: about half the messages
//! carry a unique 16-hex `req_id` (and a user, a path, a status, a
//! duration), the rest are short sentences from a small vocabulary, so most
//! distinct tokens occur once. That is what makes term dictionaries and
//! postings large, and a benchmark without it flatters every figure.
//! `plain` is the generator the demo uses (repeating ids, no unique tokens).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::generate::{format_ts, GenOptions, Generator};

/// Which records to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    /// About 140-byte records, half of them with a unique `req_id`.
    Realistic,
    /// The demo generator's records (no unique tokens).
    Plain,
}

const SERVICES: [&str; 8] = [
    "api",
    "web",
    "auth",
    "billing",
    "search",
    "scheduler",
    "worker",
    "gateway",
];
const USERS: [&str; 12] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "oscar",
];
const PATHS: [&str; 10] = [
    "/healthz",
    "/api/v1/orders",
    "/api/v1/users",
    "/login",
    "/cart",
    "/api/v1/search",
    "/static/app.js",
    "/metrics",
    "/checkout",
    "/api/v1/payments",
];
const METHODS: [&str; 4] = ["GET", "GET", "POST", "PUT"];
const SENTENCES: [&str; 16] = [
    "connection reset by peer",
    "cache warmed",
    "worker started",
    "flushed batch to disk",
    "retrying upstream call",
    "config reloaded",
    "scheduled job finished",
    "session expired",
    "rate limit reached for client",
    "upstream timeout",
    "leader elected",
    "snapshot written",
    "queue drained",
    "tls handshake failed",
    "disk usage above threshold",
    "payment declined by provider",
];

/// Makes the records of one profile, deterministically from a seed.
pub struct Records {
    profile: Profile,
    rng: StdRng,
    plain: Generator,
    t: f64,
    step: f64,
}

impl Records {
    /// Records from `start_ms`, `step_ms` apart on average.
    pub fn new(profile: Profile, seed: u64, start_ms: i64, step_ms: f64) -> Records {
        Records {
            profile,
            rng: StdRng::seed_from_u64(seed),
            plain: Generator::new(GenOptions {
                services: vec!["api".into(), "web".into(), "db".into(), "auth".into()],
                seed,
                start_ms,
                step_ms,
                error_bursts: false,
                stack_traces: false,
            }),
            t: start_ms as f64,
            step: step_ms,
        }
    }

    /// The next record as one JSON line, and its `req_id` if it has one.
    pub fn next_line(&mut self) -> (String, Option<String>) {
        if self.profile == Profile::Plain {
            return (self.plain.next_line(), None);
        }
        let ms = self.t as i64;
        self.t += self.step;
        let r = &mut self.rng;
        let level = match r.random_range(0..100u32) {
            0..=69 => "INFO",
            70..=81 => "DEBUG",
            82..=91 => "WARN",
            92..=98 => "ERROR",
            _ => "FATAL",
        };
        let service = SERVICES[r.random_range(0..SERVICES.len())];
        let (message, req_id) = if r.random_bool(0.5) {
            let id = format!("{:016x}", r.random::<u64>());
            let status = match level {
                "ERROR" | "FATAL" => 500 + r.random_range(0..4u32),
                "WARN" => 429,
                _ => 200 + r.random_range(0..2u32),
            };
            (
                format!(
                    "{} {} {status} {}ms user={} req_id={id}",
                    METHODS[r.random_range(0..METHODS.len())],
                    PATHS[r.random_range(0..PATHS.len())],
                    r.random_range(1..900u32),
                    USERS[r.random_range(0..USERS.len())],
                ),
                Some(id),
            )
        } else {
            (
                SENTENCES[r.random_range(0..SENTENCES.len())].to_string(),
                None,
            )
        };
        let line = serde_json::json!({
            "timestamp": format_ts(ms),
            "level": level,
            "message": message,
            "service": service,
        })
        .to_string();
        (line, req_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realistic_records_are_small_and_half_carry_a_unique_id() {
        let mut r = Records::new(Profile::Realistic, 7, 1_764_000_000_000, 7.2);
        let mut ids = std::collections::HashSet::new();
        let (mut bytes, mut with_id) = (0usize, 0usize);
        let n = 10_000;
        for _ in 0..n {
            let (line, id) = r.next_line();
            bytes += line.len();
            if let Some(id) = id {
                assert!(line.contains(&format!("req_id={id}")));
                ids.insert(id);
                with_id += 1;
            }
            let v: serde_json::Value = serde_json::from_str(&line).expect("JSON");
            assert!(v["timestamp"].as_str().is_some_and(|t| t.len() == 19));
        }
        assert_eq!(ids.len(), with_id, "every req_id is unique");
        assert!((4_500..5_500).contains(&with_id), "{with_id}");
        let mean = bytes / n;
        assert!((110..170).contains(&mean), "mean record {mean} bytes");
    }
}

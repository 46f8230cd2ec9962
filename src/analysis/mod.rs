//! Analysis of what the store holds: count series, smoothing and forecasts,
//! anomaly scores, and log patterns (templates mined from messages).
//!
//! Everything here works on plain numbers and strings, not on Elasticsearch
//! JSON, so the same code serves the HTTP API, the background watches, the
//! command line and the offline evaluation harness.

pub mod anomaly;
pub mod findings;
pub mod forecast;
pub mod live;
pub mod pattern_stats;
pub mod patterns;
pub mod samples;
pub mod series;
pub mod watch;

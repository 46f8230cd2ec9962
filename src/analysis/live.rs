//! The analysis a server runs: the watches each time an interval closes,
//! detection over past ranges on demand, the stored anomalies, and the
//! stream of new anomalies and patterns for the API's subscribers.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::analysis::anomaly::DetectorConfig;
use crate::analysis::findings::{Anomaly, Findings, Recorded};
use crate::analysis::patterns::PatternId;
use crate::analysis::series::AggSource;
use crate::analysis::watch::{Detection, PatternNames};
use crate::config::analysis::{AnalysisConfig, WatchSpec};
use crate::ingest::patterns::PatternTagger;
use crate::query::agg_result::AggResults;
use crate::query::aggs::AggSpec;
use crate::query::model::Query;
use crate::store::Store;

/// Something new for the live stream.
#[derive(Debug, Clone)]
pub enum LiveEvent {
    /// An anomaly found or extended by a watch or a detection.
    Anomaly(Anomaly),
    /// A template seen for the first time (or changed by a merge).
    Pattern {
        id: String,
        service: String,
        template: String,
    },
}

/// The store as the analysis sees it: `_pattern` ids in queries expanded
/// to every id merged into the same template.
pub struct StoreSource {
    pub store: Arc<dyn Store>,
    pub patterns: Option<PatternTagger>,
}

impl StoreSource {
    /// Lets `_pattern:<id>` also find the events stored under merged ids.
    pub fn expand(&self, q: &mut Query) {
        if let Some(t) = &self.patterns {
            let mut p = t.lock();
            q.expand_terms("_pattern", &mut |v| match PatternId::from_hex(v) {
                Some(id) => {
                    let members = p.members(id);
                    if members.is_empty() {
                        vec![v.to_string()]
                    } else {
                        members.iter().map(|m| m.to_hex()).collect()
                    }
                }
                None => vec![v.to_string()],
            });
        }
    }
}

impl AggSource for StoreSource {
    fn aggregate(
        &self,
        index: &str,
        query: &Query,
        aggs: &[AggSpec],
    ) -> anyhow::Result<AggResults> {
        let mut q = query.clone();
        self.expand(&mut q);
        Ok(self.store.aggregate(index, &q, aggs)?)
    }
}

impl PatternNames for StoreSource {
    fn resolve(&self, id: &str) -> Option<(String, String)> {
        let t = self.patterns.as_ref()?;
        let info = t.lock().info(PatternId::from_hex(id)?)?;
        Some((info.id.to_hex(), info.template))
    }
}

/// The server's analysis.
pub struct Analysis {
    pub cfg: AnalysisConfig,
    pub detector: DetectorConfig,
    /// The built-in watches (unless turned off) and the configured ones,
    /// as the config lists them.
    pub watches: Vec<WatchSpec>,
    findings: Mutex<Findings>,
    events: broadcast::Sender<LiveEvent>,
}

impl Analysis {
    /// Opens the stored anomalies under `dir`.
    pub fn open(dir: &std::path::Path, cfg: AnalysisConfig) -> anyhow::Result<Analysis> {
        let findings = Findings::open(dir, cfg.retention_ms)?;
        let watches = cfg.watches.clone();
        Ok(Analysis {
            detector: DetectorConfig::default(),
            watches,
            findings: Mutex::new(findings),
            events: broadcast::channel(1024).0,
            cfg,
        })
    }

    /// The stored anomalies.
    pub fn findings(&self) -> MutexGuard<'_, Findings> {
        self.findings.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// New anomalies and patterns as they come.
    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.events.subscribe()
    }

    /// Announces a pattern (from the miner's change feed).
    pub fn announce(&self, ev: LiveEvent) {
        let _ = self.events.send(ev);
    }

    /// Runs `watches` over `[from_ms, to_ms)`, stores what they find
    /// (merged with what is stored, nothing twice) and returns the stored
    /// anomalies the findings went into, with the errors of watches that
    /// could not run.
    pub fn detect(
        &self,
        src: &StoreSource,
        watches: &[WatchSpec],
        from_ms: i64,
        to_ms: i64,
    ) -> (Vec<Anomaly>, Vec<String>) {
        let d = Detection {
            src,
            names: src,
            detector: &self.detector,
            from_ms,
            to_ms,
            interval_ms: self.cfg.interval_ms,
            lookback_ms: self.cfg.lookback_ms,
        };
        let mut found = Vec::new();
        let mut errors = Vec::new();
        for w in watches {
            match d.run(w) {
                Ok(f) => found.extend(f),
                Err(e) => errors.push(format!("watch {}: {e:#}", w.name)),
            }
        }
        let recorded = match self.findings().record(&found, self.cfg.interval_ms) {
            Ok(r) => r,
            Err(e) => {
                errors.push(format!("storing anomalies: {e:#}"));
                return (Vec::new(), errors);
            }
        };
        let mut out: Vec<Anomaly> = Vec::new();
        for r in recorded {
            if matches!(r, Recorded::New(_) | Recorded::Extended(_)) {
                let _ = self.events.send(LiveEvent::Anomaly(r.anomaly().clone()));
            }
            let a = r.anomaly();
            match out.iter_mut().find(|o| o.id == a.id) {
                Some(o) => *o = a.clone(),
                None => out.push(a.clone()),
            }
        }
        out.sort_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));
        (out, errors)
    }

    /// Runs the watches each time an interval closes (a little after, so
    /// events of its last second are searchable), over the last two closed
    /// intervals (so late events of the one before are counted too).
    pub async fn run(self: Arc<Self>, src: Arc<StoreSource>, shutdown: CancellationToken) {
        let interval = self.cfg.interval_ms;
        let grace = (interval / 6).clamp(1_500, 5_000);
        loop {
            let now = crate::event::now_ms();
            let next = now - now.rem_euclid(interval) + interval + grace;
            let wait = Duration::from_millis((next - now).max(0) as u64);
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            let to = next - grace;
            let from = to - 2 * interval;
            let me = self.clone();
            let src = src.clone();
            let res = tokio::task::spawn_blocking(move || {
                let watches = me.watches.clone();
                me.detect(&src, &watches, from, to)
            })
            .await;
            match res {
                Ok((found, errors)) => {
                    for e in errors {
                        tracing::warn!(error = %e, "a watch failed");
                    }
                    if !found.is_empty() {
                        tracing::debug!(anomalies = found.len(), "watches ran");
                    }
                }
                Err(e) => tracing::error!(error = %e, "the watches panicked"),
            }
        }
    }
}

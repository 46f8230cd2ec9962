//! The server role: open the store, replay the log, serve the HTTP API, run
//! retention, shut down cleanly.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::api::{self, AppState};
use crate::config::Config;
use crate::ingest::{Ingest, IngestOptions};
use crate::input::forward::{ForwardContext, ForwardMetrics, Sink};
use crate::route::Router;
use crate::store::tantivy::{TantivyOptions, TantivyStore};
use crate::store::Store;

/// A started server.
pub struct Running {
    pub http_addr: SocketAddr,
    /// Bound forward address (TCP and UDP), when the forward input is on.
    pub forward_addr: Option<SocketAddr>,
    /// Bound syslog address (TCP and UDP), when the syslog input is on.
    pub syslog_addr: Option<SocketAddr>,
    pub ingest: Arc<Ingest>,
    pub shutdown: CancellationToken,
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Open everything and start serving; returns once the listener is bound.
pub async fn start(cfg: Config) -> anyhow::Result<Running> {
    let data_dir = cfg.data_dir.clone();
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating data dir {}", data_dir.display()))?;
    let opts = TantivyOptions {
        writer_heap_bytes: (cfg.writer_heap_mb as usize) * 1024 * 1024,
        writer_threads: cfg.writer_threads as usize,
        zstd_level: cfg.zstd_level,
        time_zone: cfg.default_time_zone.clone(),
    };
    // Mining at ingest is `[analysis] enabled`; with it off events carry
    // no `_pattern` and the patterns API has nothing to show.
    let patterns = if cfg.analysis.enabled {
        Some(crate::ingest::patterns::PatternTagger::new(
            crate::analysis::patterns::Patterns::open(
                &data_dir.join("patterns"),
                cfg.analysis.miner.clone(),
                crate::analysis::patterns::Masker::new(cfg.analysis.masks.clone()),
            )?,
        ))
    } else {
        None
    };
    let (store, ingest) = tokio::task::spawn_blocking({
        let data_dir = data_dir.clone();
        let patterns = patterns.clone();
        let refresh = Duration::from_millis(cfg.refresh_interval_ms);
        move || -> anyhow::Result<_> {
            let store = Arc::new(
                TantivyStore::open(&data_dir.join("indices"), opts)
                    .with_context(|| format!("opening the store in {}", data_dir.display()))?,
            );
            let ingest = Ingest::start(
                &data_dir,
                store.clone(),
                IngestOptions {
                    refresh_interval: refresh,
                    patterns,
                    ..IngestOptions::default()
                },
            )
            .context("starting ingest (write-ahead log replay)")?;
            Ok((store, ingest))
        }
    })
    .await??;
    let listener = tokio::net::TcpListener::bind(cfg.http_addr)
        .await
        .with_context(|| format!("binding the HTTP API to {}", cfg.http_addr))?;
    let http_addr = listener.local_addr()?;
    let inflight = Arc::new(tokio::sync::Semaphore::new(
        (cfg.max_inflight_bytes / 1024).max(1),
    ));
    let forward_metrics = Arc::new(ForwardMetrics::default());
    let shutdown = CancellationToken::new();
    let forward_addr = if cfg.forward.enabled {
        Some(
            start_forward(
                &cfg,
                Sink::Ingest(ingest.clone()),
                inflight.clone(),
                forward_metrics.clone(),
                shutdown.clone(),
            )
            .await?,
        )
    } else {
        None
    };
    let syslog_metrics = Arc::new(crate::input::syslog::SyslogMetrics::default());
    let syslog_addr = if cfg.syslog.enabled {
        let tls = match &cfg.syslog.tls {
            Some((cert, key)) => Some(crate::input::tls::acceptor(cert, key)?),
            None => None,
        };
        let ctx = Arc::new(crate::input::syslog::SyslogContext {
            router: Router::new(cfg.routes.clone()),
            ingest: ingest.clone(),
            offset_secs: rfc3164_offset(cfg.default_time_zone.as_ref()),
            max_message_bytes: cfg.syslog.max_message_bytes,
            metrics: syslog_metrics.clone(),
        });
        Some(crate::input::syslog::start(cfg.syslog_addr, ctx, tls, shutdown.clone()).await?)
    } else {
        None
    };
    let source = Arc::new(crate::analysis::live::StoreSource {
        store: store.clone(),
        patterns: patterns.clone(),
    });
    let analysis = if cfg.analysis.enabled {
        Some(Arc::new(
            crate::analysis::live::Analysis::open(
                &data_dir.join("anomalies"),
                cfg.analysis.clone(),
            )
            .with_context(|| format!("opening the anomalies in {}", data_dir.display()))?,
        ))
    } else {
        None
    };
    let alerting = Arc::new(
        crate::alerting::Alerting::open(
            &data_dir.join("alerts"),
            cfg.alerting.clone(),
            format!("http://{http_addr}"),
            cfg.config_path.clone(),
        )
        .with_context(|| format!("opening the alert book in {}", data_dir.display()))?,
    );
    tokio::spawn(
        alerting
            .clone()
            .run(source.clone(), analysis.clone(), shutdown.clone()),
    );
    spawn_reload_on_hangup(alerting.clone(), shutdown.clone());
    let state = Arc::new(AppState {
        ingest: ingest.clone(),
        scrolls: Default::default(),
        tasks: Default::default(),
        started: Instant::now(),
        node_name: crate::event::fields::local_hostname(),
        max_inflight_bytes: cfg.max_inflight_bytes,
        // One permit per KiB of request body (shared with forward).
        inflight,
        default_tz: cfg.default_time_zone.clone(),
        forward: forward_metrics,
        syslog: syslog_metrics,
        patterns: patterns.clone(),
        analysis: analysis.clone(),
        source: Some(source.clone()),
        alerting: Some(alerting),
        retention_days: cfg.retention_days,
        router: crate::route::Router::new(cfg.routes.clone()),
        saved_searches: Some(Arc::new(api::saved_searches::SavedSearches::open(
            &data_dir.join("ui").join("searches.json"),
        )?)),
    });
    if let Some(an) = &analysis {
        tokio::spawn(an.clone().run(source.clone(), shutdown.clone()));
        if let Some(t) = &patterns {
            tokio::spawn(forward_patterns(
                t.subscribe(),
                an.clone(),
                shutdown.clone(),
            ));
        }
    }
    if cfg.retention_days > 0 {
        spawn_retention(store.clone(), cfg.retention_days, shutdown.clone());
    }
    let app = api::router(state, cfg.max_body_bytes);
    let sd = shutdown.clone();
    let ingest2 = ingest.clone();
    let task = tokio::spawn(async move {
        axum::serve(api::wire::Listener::new(listener), app)
            .with_graceful_shutdown(async move { sd.cancelled().await })
            .await
            .context("serving HTTP")?;
        // Make everything acknowledged searchable before exit (it is durable
        // in the log either way).
        let _ = tokio::time::timeout(Duration::from_secs(10), ingest2.refresh_all()).await;
        // Let merges in progress finish: a merge cut off leaves files no
        // segment uses until the next commit collects them.
        let store = ingest2.store.clone();
        let merges = tokio::task::spawn_blocking(move || store.release_idle(0));
        if tokio::time::timeout(Duration::from_secs(60), merges)
            .await
            .is_err()
        {
            tracing::warn!("shutdown: merges still running after 60 s; their files are collected at the next commit");
        }
        // ...and drop the log the store now holds (it is kept on any doubt)
        match ingest2.seal_log().await {
            Ok(true) => tracing::info!(
                "shutdown: the store holds every logged write; write-ahead log emptied"
            ),
            Ok(false) => tracing::info!(
                "shutdown: writes newer than the last commit; write-ahead log kept for replay"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "shutdown: could not empty the write-ahead log; it is replayed at the next start")
            }
        }
        Ok(())
    });
    let off = |a: Option<SocketAddr>| a.map_or_else(|| "off".to_string(), |a| a.to_string());
    tracing::info!(
        %http_addr,
        forward_addr = %off(forward_addr),
        syslog_addr = %off(syslog_addr),
        data_dir = %data_dir.display(),
        "logweave server listening"
    );
    Ok(Running {
        http_addr,
        forward_addr,
        syslog_addr,
        ingest,
        shutdown,
        task,
    })
}

/// Delete every index whose newest event is older than `cutoff_ms`;
/// returns the names deleted.
pub fn apply_retention(store: &dyn Store, cutoff_ms: i64) -> Vec<String> {
    let mut deleted = Vec::new();
    for info in store.list() {
        if info.max_timestamp_ms.is_some_and(|t| t < cutoff_ms) {
            match store.delete_index(&info.name) {
                Ok(()) => deleted.push(info.name),
                Err(e) => {
                    tracing::warn!(index = %info.name, error = %e, "retention: delete failed")
                }
            }
        }
    }
    deleted
}

/// The zone offset of RFC 3164 dates (which carry none): the store's
/// default time zone now, else UTC.
fn rfc3164_offset(tz: Option<&jiff::tz::TimeZone>) -> i32 {
    tz.map_or(0, |tz| tz.to_offset(jiff::Timestamp::now()).seconds())
}

/// Start the forward input on `cfg.forward_addr` writing to `sink`.
pub async fn start_forward(
    cfg: &Config,
    sink: Sink,
    inflight: Arc<tokio::sync::Semaphore>,
    metrics: Arc<ForwardMetrics>,
    shutdown: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let tls = match &cfg.forward.tls {
        Some((cert, key)) => Some(crate::input::tls::acceptor(cert, key)?),
        None => None,
    };
    let ctx = Arc::new(ForwardContext {
        cfg: cfg.forward.clone(),
        router: Router::new(cfg.routes.clone()),
        sink,
        default_tz: cfg.default_time_zone.clone(),
        metrics,
        inflight_permits: inflight.available_permits() as u32,
        inflight,
    });
    crate::input::forward::start(cfg.forward_addr, ctx, tls, shutdown).await
}

fn spawn_retention(store: Arc<dyn Store>, days: u64, shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let cutoff = crate::event::now_ms() - (days as i64) * 86_400_000;
            let s = store.clone();
            match tokio::task::spawn_blocking(move || apply_retention(&*s, cutoff)).await {
                Ok(deleted) => {
                    for name in deleted {
                        tracing::info!(index = %name, days, "retention: deleted index older than the limit");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "retention task failed"),
            }
        }
    });
}

/// Run until Ctrl-C or SIGTERM.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let running = start(cfg).await?;
    eprintln!(
        "logweave: serving the Elasticsearch-compatible API on http://{}",
        running.http_addr
    );
    if let Some(f) = running.forward_addr {
        eprintln!("logweave: Fluentd forward input on {f} (TCP, UDP heartbeat)");
    }
    if let Some(s) = running.syslog_addr {
        eprintln!("logweave: syslog input on {s} (TCP and UDP)");
    }
    let sd = running.shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        sd.cancel();
    });
    running.task.await??;
    Ok(())
}

/// `SIGHUP` reloads the alert rules from the config file (as
/// `POST /api/v1/rules/_reload` does); a file with problems is logged and
/// the previous rules keep running.
fn spawn_reload_on_hangup(alerting: Arc<crate::alerting::Alerting>, shutdown: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; reload the rules with POST /api/v1/rules/_reload");
                return;
            }
        };
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    got = hup.recv() => {
                        if got.is_none() {
                            return;
                        }
                        let al = alerting.clone();
                        // reading and checking the file is blocking work
                        let _ = tokio::task::spawn_blocking(move || al.reload()).await;
                    }
                }
            }
        });
    }
    #[cfg(not(unix))]
    {
        let _ = (alerting, shutdown);
    }
}

/// Wait for Ctrl-C or SIGTERM (the agent's too).
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Announces each new template on the analysis' live stream.
async fn forward_patterns(
    mut rx: tokio::sync::broadcast::Receiver<crate::analysis::patterns::ScopedChange>,
    an: Arc<crate::analysis::live::Analysis>,
    shutdown: CancellationToken,
) {
    use crate::analysis::patterns::Change;
    loop {
        let ch = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = rx.recv() => r,
        };
        match ch {
            Ok(c) => {
                if let Change::New { id, template } = c.change {
                    an.announce(crate::analysis::live::LiveEvent::Pattern {
                        id: id.to_hex(),
                        service: c.scope,
                        template,
                    });
                }
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, WriteOp};

    fn ev(index: &str, ts: i64) -> Event {
        Event {
            index: index.into(),
            id: crate::event::new_doc_id(),
            explicit_id: false,
            op: WriteOp::Index,
            timestamp_ms: ts,
            source: bytes::Bytes::from_static(b"{\"m\":1}"),
            parsed: None,
            profile: crate::event::FieldProfile::Dynamic,
            pattern: None,
        }
    }

    #[test]
    fn retention_deletes_only_old_indices() {
        let (dir, store) = TantivyStore::open_for_test();
        let day = 86_400_000;
        let now = crate::event::now_ms();
        store
            .apply(
                1,
                &[ev("logs-old", now - 40 * day), ev("logs-new", now - day)],
            )
            .unwrap();
        store.commit(2).unwrap();
        let deleted = apply_retention(&store, now - 30 * day);
        assert_eq!(deleted, vec!["logs-old".to_string()]);
        let names: Vec<String> = store.list().into_iter().map(|i| i.name).collect();
        assert_eq!(names, vec!["logs-new".to_string()]);
        assert!(!dir.path().join("logs-old").exists());
    }
}

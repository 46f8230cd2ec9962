//! The agent role: sources (tail, stdin) → chunks → delivery loop → output
//! (forward with a disk buffer, or stdout).
//!
//! Sources and the delivery loop are plain threads joined by a small
//! bounded channel: when the output cannot keep up, sources stop reading
//! (files are their own buffer) instead of growing memory. File positions
//! are saved by the delivery loop only for data that a server acknowledged
//! or that sits fsynced in the disk buffer, which is what makes delivery
//! at-least-once across crashes of the agent, the server or the network.

pub mod buffer;
pub mod config;
pub mod output;
pub mod positions;
pub mod source;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use config::AgentConfig;
use output::forward::{ForwardClient, ForwardOptions};
use output::{Deliver, DeliveryLoop, LoopOptions, OutputMetrics};
use positions::{FileKey, Positions, Saved};
use source::tail::{TailOptions, Tailer};
use source::{ChunkBuilder, LineOptions, SourceMetrics};

/// A running agent's counters.
pub struct AgentMetrics {
    pub sources: Vec<(String, Arc<SourceMetrics>)>,
    pub output: Arc<OutputMetrics>,
}

/// Run the agent until its sources end (stdin) or `stop` is set, then
/// deliver what is left (up to a shutdown timeout) and return.
pub fn run(cfg: AgentConfig, stop: Arc<AtomicBool>) -> anyhow::Result<Arc<AgentMetrics>> {
    let (handle, metrics) = start(cfg, stop)?;
    handle
        .join()
        .map_err(|_| anyhow::anyhow!("the agent's delivery thread panicked"))?;
    Ok(metrics)
}

/// Start the agent's threads; the handle finishes when delivery is done.
pub fn start(
    cfg: AgentConfig,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<(std::thread::JoinHandle<()>, Arc<AgentMetrics>)> {
    if cfg.sources.is_empty() {
        anyhow::bail!(
            "no sources: give --tail GLOB (or --stdin), or [[agent.sources]] in the config"
        );
    }
    if !cfg.output.stdout && cfg.output.servers.is_empty() {
        anyhow::bail!(
            "no servers to send to: give --to HOST:PORT (or agent.output.servers), or --stdout"
        );
    }
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating the agent data dir {}", cfg.data_dir.display()))?;
    let pos_file = cfg
        .pos_file
        .clone()
        .unwrap_or_else(|| cfg.data_dir.join("positions"));
    let mut positions = Positions::load(&pos_file)?;
    let (buffer, buffered) =
        buffer::DiskBuffer::open(&cfg.data_dir.join("buffer"), cfg.output.buffer_max_bytes)?;
    let hostname = cfg
        .hostname
        .clone()
        .unwrap_or_else(crate::event::fields::local_hostname);
    let o = &cfg.output;

    let sink: Box<dyn Deliver> = if o.stdout {
        Box::new(output::stdout::StdoutSink)
    } else {
        let tls = if o.tls {
            Some((
                crate::input::tls::client_config(o.tls_ca_file.as_deref())?,
                o.tls_server_name.clone(),
            ))
        } else {
            None
        };
        Box::new(ForwardClient::new(ForwardOptions {
            servers: o.servers.clone(),
            shared_key: o.shared_key.clone(),
            self_hostname: o.self_hostname.clone().unwrap_or_else(|| hostname.clone()),
            username: o.username.clone(),
            password: o.password.clone(),
            tls,
            connect_timeout: Duration::from_secs(5),
            ack_timeout: o.ack_timeout,
            heartbeat: o.heartbeat,
        }))
    };

    let (tx, rx) = std::sync::mpsc::sync_channel(2);
    let mut source_metrics = Vec::new();
    // Saved positions go to the source whose globs match their path;
    // positions of files no source follows any more are forgotten.
    let patterns: Vec<Vec<(String, Option<glob::Pattern>)>> = cfg
        .sources
        .iter()
        .map(|s| {
            s.paths
                .iter()
                .flatten()
                .map(|g| (g.clone(), glob::Pattern::new(g).ok()))
                .collect()
        })
        .collect();
    let mut saved: Vec<HashMap<FileKey, Saved>> = vec![HashMap::new(); cfg.sources.len()];
    for (k, s) in positions.entries.drain() {
        let owner = patterns.iter().position(|globs| {
            globs
                .iter()
                .any(|(_, pat)| pat.as_ref().is_some_and(|p| p.matches_path(&s.path)))
        });
        if let Some(i) = owner {
            saved[i].insert(k, s);
        }
    }
    // Globs that ran before: a file appearing under one is new, read from
    // its start even without read_from_head.
    let mut ran_before: Vec<Vec<glob::Pattern>> = patterns
        .iter()
        .map(|globs| {
            globs
                .iter()
                .filter(|(g, _)| positions.globs.contains(g))
                .filter_map(|(_, pat)| pat.clone())
                .collect()
        })
        .collect();
    // Keep the entries in memory too, so saving before every source has
    // re-marked its files does not forget them.
    for s in &saved {
        for (k, v) in s {
            positions.entries.insert(*k, v.clone());
        }
    }
    // Every glob has run from now on, even if it matches nothing yet.
    positions.globs = patterns.iter().flatten().map(|(g, _)| g.clone()).collect();
    positions.save()?;
    for (i, s) in cfg.sources.iter().enumerate() {
        let m = Arc::new(SourceMetrics::default());
        let name = match (&s.paths, s.listen) {
            (Some(p), _) => p.join(","),
            (None, Some(a)) => format!("syslog {a}"),
            (None, None) => "stdin".into(),
        };
        source_metrics.push((name.clone(), m.clone()));
        let lines = LineOptions {
            tag: s.tag.clone(),
            parser: s.parser.clone(),
            max_line_bytes: s.max_line_bytes,
            long_lines: s.long_lines,
            multiline: s.multiline.clone(),
            multiline_flush: s.multiline_flush,
            path_key: s.path_key.clone(),
            hostname: hostname.clone(),
            transforms: s.transforms.clone(),
        };
        let builder = ChunkBuilder::new(
            &s.tag,
            o.chunk_max_bytes,
            o.chunk_max_events,
            o.flush_interval,
        );
        let tx = tx.clone();
        let stop = stop.clone();
        if let Some(listen) = s.listen {
            source::syslog::start(
                source::syslog::SyslogSourceOptions {
                    listen,
                    tag: s.tag.clone(),
                    max_message_bytes: s.max_line_bytes,
                    offset_secs: 0,
                    chunk_max_bytes: o.chunk_max_bytes,
                    chunk_max_events: o.chunk_max_events,
                    flush: o.flush_interval,
                },
                m,
                tx,
                stop,
            )
            .with_context(|| format!("syslog source on {listen}"))?;
            continue;
        }
        match &s.paths {
            Some(paths) => {
                let t = Tailer::new(
                    TailOptions {
                        paths: paths.clone(),
                        read_from_head: s.read_from_head,
                        ran_before: std::mem::take(&mut ran_before[i]),
                        lines,
                        rescan: Duration::from_millis(500),
                        poll: Duration::from_millis(50),
                        rotate_wait: Duration::from_secs(5),
                    },
                    std::mem::take(&mut saved[i]),
                    m,
                    builder,
                );
                std::thread::Builder::new()
                    .name(format!("tail-{i}"))
                    .spawn(move || t.run(tx, stop))
                    .context("starting a tail thread")?;
            }
            None => {
                std::thread::Builder::new()
                    .name("stdin".into())
                    .spawn(move || source::stdin::run(lines, m, builder, tx, stop))
                    .context("starting the stdin thread")?;
            }
        }
    }
    drop(tx);
    let out_metrics = Arc::new(OutputMetrics::default());
    let dl = DeliveryLoop {
        rx,
        sink,
        buffer,
        positions,
        metrics: out_metrics.clone(),
        opts: LoopOptions {
            gzip: o.gzip,
            overflow: o.overflow,
            retry_min: Duration::from_millis(250),
            retry_max: o.retry_max,
            shutdown_timeout: Duration::from_secs(10),
        },
        stop: stop.clone(),
    };
    let handle = std::thread::Builder::new()
        .name("deliver".into())
        .spawn(move || dl.run(buffered))
        .context("starting the delivery thread")?;
    let metrics = Arc::new(AgentMetrics {
        sources: source_metrics,
        output: out_metrics,
    });
    if !cfg.log_interval.is_zero() {
        let m = metrics.clone();
        let every = cfg.log_interval;
        std::thread::spawn(move || log_loop(m, every));
    }
    Ok((handle, metrics))
}

fn log_loop(m: Arc<AgentMetrics>, every: Duration) {
    let mut last_in = 0u64;
    let mut last_out = 0u64;
    let mut last = Instant::now();
    loop {
        std::thread::sleep(every);
        let ins: u64 = m
            .sources
            .iter()
            .map(|(_, s)| s.events.load(Ordering::Relaxed))
            .sum();
        let out = m.output.events_out.load(Ordering::Relaxed);
        let secs = last.elapsed().as_secs_f64().max(0.001);
        tracing::info!(
            events_in = ins,
            events_out = out,
            in_per_s = ((ins - last_in) as f64 / secs) as u64,
            out_per_s = ((out.saturating_sub(last_out)) as f64 / secs) as u64,
            buffered_events = m.output.events_buffered.load(Ordering::Relaxed),
            buffered_bytes = m.output.bytes_buffered.load(Ordering::Relaxed),
            dropped = m.output.events_dropped.load(Ordering::Relaxed),
            "agent"
        );
        last_in = ins;
        last_out = out;
        last = Instant::now();
    }
}

/// Prometheus text of the agent's counters.
pub fn render_metrics(m: &AgentMetrics) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let mut family = |name: &str, help: &str, kind: &str, rows: Vec<(String, u64)>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, v) in rows {
            let _ = writeln!(out, "{name}{labels} {v}");
        }
    };
    let per_source = |f: fn(&SourceMetrics) -> u64| -> Vec<(String, u64)> {
        m.sources
            .iter()
            .map(|(n, s)| {
                (
                    format!(
                        "{{source=\"{}\"}}",
                        n.replace('\\', "\\\\").replace('"', "\\\"")
                    ),
                    f(s),
                )
            })
            .collect()
    };
    let r = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    family(
        "logweave_agent_events_in_total",
        "Events read by a source.",
        "counter",
        per_source(|s| s.events.load(Ordering::Relaxed)),
    );
    family(
        "logweave_agent_lines_split_total",
        "Lines over max_line_bytes emitted in pieces.",
        "counter",
        per_source(|s| s.lines_split.load(Ordering::Relaxed)),
    );
    family(
        "logweave_agent_lines_dropped_total",
        "Lines over max_line_bytes dropped.",
        "counter",
        per_source(|s| s.lines_dropped.load(Ordering::Relaxed)),
    );
    family(
        "logweave_agent_invalid_utf8_total",
        "Lines with invalid UTF-8 (kept with replacement characters).",
        "counter",
        per_source(|s| s.invalid_utf8.load(Ordering::Relaxed)),
    );
    family(
        "logweave_agent_parse_failures_total",
        "Lines the parser could not parse (kept as message).",
        "counter",
        per_source(|s| s.parse_failures.load(Ordering::Relaxed)),
    );
    family(
        "logweave_agent_dropped_total",
        "Events a transform dropped (drop_if, keep_if, sample).",
        "counter",
        per_source(|s| s.dropped.load(Ordering::Relaxed)),
    );
    family(
        "logweave_agent_rotations_total",
        "File rotations seen.",
        "counter",
        per_source(|s| s.rotations.load(Ordering::Relaxed)),
    );
    family(
        "logweave_agent_truncations_total",
        "File truncations seen.",
        "counter",
        per_source(|s| s.truncations.load(Ordering::Relaxed)),
    );
    let o = &m.output;
    family(
        "logweave_agent_events_out_total",
        "Events acknowledged by a server.",
        "counter",
        vec![(String::new(), r(&o.events_out))],
    );
    family(
        "logweave_agent_chunks_out_total",
        "Chunks acknowledged by a server.",
        "counter",
        vec![(String::new(), r(&o.chunks_out))],
    );
    family(
        "logweave_agent_events_dropped_total",
        "Events dropped because the disk buffer was full.",
        "counter",
        vec![(String::new(), r(&o.events_dropped))],
    );
    family(
        "logweave_agent_delivery_failures_total",
        "Chunk deliveries no server accepted.",
        "counter",
        vec![(String::new(), r(&o.delivery_failures))],
    );
    family(
        "logweave_agent_buffered_events",
        "Events waiting in the disk buffer.",
        "gauge",
        vec![(String::new(), r(&o.events_buffered))],
    );
    family(
        "logweave_agent_buffered_bytes",
        "Bytes in the disk buffer.",
        "gauge",
        vec![(String::new(), r(&o.bytes_buffered))],
    );
    out
}

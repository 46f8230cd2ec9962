//! `logweave agent`: flags on top of the config file's `[agent]` section.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;

use crate::agent::config::SourceConfig;
use crate::agent::source::{LongLines, Parser};
use crate::config::Config;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct AgentArgs {
    /// TOML config file with an `[agent]` section.
    #[arg(long, env = "LOGWEAVE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Follow files matching this glob (repeatable); adds a tail source.
    #[arg(long)]
    pub tail: Vec<String>,
    /// Read lines from standard input until it ends; adds a stdin source.
    #[arg(long)]
    pub stdin: bool,
    /// Listen for syslog on this IP:PORT (TCP and UDP); messages are tagged
    /// `syslog.<facility>.<severity>`.
    #[arg(long, value_name = "IP:PORT")]
    pub syslog: Option<String>,
    /// Tag of the events of the sources given by flags.
    #[arg(long, default_value = "app.log")]
    pub tag: String,
    /// Parser of the sources given by flags: json (default), none, logfmt,
    /// keyvalue, nginx, apache, syslog (regex and csv need the config file).
    #[arg(long, default_value = "json")]
    pub parser: String,
    /// Server to forward to, HOST:PORT (repeatable: load balancing and failover).
    #[arg(long)]
    pub to: Vec<String>,
    /// Print events instead of forwarding them.
    #[arg(long)]
    pub stdout: bool,
    /// Position file (default: DATA_DIR/positions).
    #[arg(long)]
    pub pos_file: Option<PathBuf>,
    /// Read files that exist at start from their beginning.
    #[arg(long)]
    pub read_from_head: bool,
    /// Positions and disk buffer (default ./logweave-agent).
    #[arg(long, env = "LOGWEAVE_AGENT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Shared key for the forward handshake.
    #[arg(long, env = "LOGWEAVE_SHARED_KEY")]
    pub shared_key: Option<String>,
    /// Largest disk buffer, in bytes.
    #[arg(long)]
    pub buffer_max_bytes: Option<u64>,
    /// Serve Prometheus metrics here (e.g. 127.0.0.1:24231).
    #[arg(long)]
    pub metrics_addr: Option<String>,
    /// Compress chunks with gzip (CompressedPackedForward).
    #[arg(long)]
    pub gzip: bool,
}

/// Run the agent until SIGTERM/Ctrl-C (or the end of stdin).
pub fn run(args: AgentArgs) -> anyhow::Result<i32> {
    // The agent runs on every node, where memory matters more than
    // allocation speed: have the allocator return freed pages at once
    // instead of after a delay (peak RSS 62 → 40 MiB catching up a file).
    // mi_option_purge_delay is 15 in mimalloc's option enum.
    // SAFETY: setting an allocator option is allowed at any time.
    unsafe { libmimalloc_sys::mi_option_set(15, 0) };
    let mut cfg = match &args.config {
        Some(p) => Config::load(p)?.agent,
        None => Config::default_config().agent,
    };
    let parser = Parser::build(&args.parser, &Default::default()).map_err(|e| {
        anyhow::anyhow!("--parser: {e} (parsers with options need the config file)")
    })?;
    let flag_source = |paths: Option<Vec<String>>| SourceConfig {
        paths,
        listen: None,
        transforms: Default::default(),
        tag: args.tag.clone(),
        parser: parser.clone(),
        read_from_head: args.read_from_head,
        max_line_bytes: 256 * 1024,
        long_lines: LongLines::Split,
        multiline: None,
        multiline_flush: std::time::Duration::from_secs(1),
        path_key: None,
    };
    for g in &args.tail {
        glob::Pattern::new(g).with_context(|| format!("--tail '{g}' is not a valid glob"))?;
    }
    if !args.tail.is_empty() {
        cfg.sources.push(flag_source(Some(args.tail.clone())));
    }
    if args.stdin {
        cfg.sources.push(flag_source(None));
    }
    if let Some(addr) = &args.syslog {
        let listen = addr
            .parse()
            .with_context(|| format!("--syslog '{addr}' is not IP:PORT"))?;
        cfg.sources.push(SourceConfig {
            listen: Some(listen),
            tag: "syslog".into(),
            ..flag_source(None)
        });
    }
    if args.read_from_head {
        for s in &mut cfg.sources {
            s.read_from_head = true;
        }
    }
    if !args.to.is_empty() {
        for t in &args.to {
            if !t.contains(':') {
                anyhow::bail!("--to '{t}' is not HOST:PORT");
            }
        }
        cfg.output.servers = args.to.clone();
        cfg.output.stdout = false;
    }
    if args.stdout {
        cfg.output.stdout = true;
    }
    if let Some(p) = &args.pos_file {
        cfg.pos_file = Some(p.clone());
    }
    if let Some(d) = &args.data_dir {
        cfg.data_dir = d.clone();
    }
    if let Some(k) = &args.shared_key {
        cfg.output.shared_key = Some(k.clone()).filter(|k| !k.is_empty());
    }
    if let Some(b) = args.buffer_max_bytes {
        cfg.output.buffer_max_bytes = b;
    }
    if args.gzip {
        cfg.output.gzip = true;
    }
    if let Some(a) = &args.metrics_addr {
        cfg.metrics_addr = Some(a.parse().with_context(|| {
            format!("--metrics-addr '{a}' is not an address like 127.0.0.1:24231")
        })?);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let metrics_addr = cfg.metrics_addr;
    let (handle, metrics) = crate::agent::start(cfg, stop.clone())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        if let Some(addr) = metrics_addr {
            let m = metrics.clone();
            let app = axum::Router::new().route(
                "/metrics",
                axum::routing::get(move || {
                    let m = m.clone();
                    async move { crate::agent::render_metrics(&m) }
                }),
            );
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the metrics address {addr}"))?;
            tokio::spawn(async move {
                let _ = axum::serve(l, app).await;
            });
        }
        let done = tokio::task::spawn_blocking(move || handle.join());
        tokio::pin!(done);
        tokio::select! {
            _ = crate::server::wait_for_signal() => {
                tracing::info!("agent: stopping; delivering what is read");
                stop.store(true, Ordering::Relaxed);
                let _ = done.await;
            }
            r = &mut done => {
                if !matches!(r, Ok(Ok(()))) {
                    anyhow::bail!("the agent's delivery thread failed");
                }
            }
        }
        anyhow::Ok(())
    })?;
    Ok(0)
}

//! The command line of DESIGN.md: `server`, `agent`, `search`, `generate`,
//! `demo`, `check-config`, `bench`, `report`. Flags override the config file.

mod agent;
mod alerts;
mod analyze;
pub(crate) mod analyze_server;
mod bench;
mod bench_alerting;
mod bench_anomalies;
mod bench_clickhouse;
mod bench_data;
mod bench_forward;
pub mod bench_space;
mod bench_tantivy_cli;
mod demo;
mod eval;
mod parse;
mod patterns;
mod report;
mod search;

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::generate::{GenOptions, Generator};

/// logweave: collect, store, search and watch logs.
#[derive(Parser, Debug)]
#[command(name = "logweave", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Flags shared by the roles that start a server.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ServerArgs {
    /// TOML config file (every key has a default); the flags below win
    /// over it.
    #[arg(long, env = "LOGWEAVE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where indices and the write-ahead log live [default: ./logweave-data,
    /// or the config's server.data_dir].
    #[arg(long, env = "LOGWEAVE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address of the Elasticsearch-compatible HTTP API [default:
    /// 127.0.0.1:9200, or the config's server.http_addr].
    #[arg(long, env = "LOGWEAVE_HTTP_ADDR")]
    pub http_addr: Option<String>,
    /// Address of the Fluentd forward input, TCP and the UDP heartbeat
    /// [default: 127.0.0.1:24224, or the config's server.forward_addr].
    #[arg(long, env = "LOGWEAVE_FORWARD_ADDR")]
    pub forward_addr: Option<String>,
    /// Address of the syslog input, TCP and UDP [default: 127.0.0.1:5514,
    /// or the config's server.syslog_addr].
    #[arg(long, env = "LOGWEAVE_SYSLOG_ADDR")]
    pub syslog_addr: Option<String>,
}

impl ServerArgs {
    /// The config file (or defaults) with flags applied.
    pub fn load(&self) -> anyhow::Result<Config> {
        let mut cfg = match &self.config {
            Some(p) => Config::load(p)?,
            None => Config::default_config(),
        };
        if let Some(d) = &self.data_dir {
            cfg.data_dir = d.clone();
        }
        let addr = |s: &str, flag: &str| -> anyhow::Result<std::net::SocketAddr> {
            s.parse()
                .with_context(|| format!("--{flag} '{s}' is not an address like 127.0.0.1:9200"))
        };
        if let Some(a) = &self.http_addr {
            cfg.http_addr = addr(a, "http-addr")?;
        }
        if let Some(a) = &self.forward_addr {
            cfg.forward_addr = addr(a, "forward-addr")?;
        }
        if let Some(a) = &self.syslog_addr {
            cfg.syslog_addr = addr(a, "syslog-addr")?;
        }
        Ok(cfg)
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server: Elasticsearch-compatible API over the embedded store.
    Server(ServerArgs),
    /// Run the collection agent: tail files (or stdin) and forward them.
    Agent(agent::AgentArgs),
    /// Search a server (or a data directory) with Lucene query syntax.
    Search(search::SearchArgs),
    /// Write realistic JSON-lines logs.
    Generate {
        /// Events per second (0 = as fast as possible).
        #[arg(long, default_value_t = 0)]
        rate: u64,
        /// How many events (0 = endless).
        #[arg(long, default_value_t = 1000)]
        count: u64,
        /// Comma-separated service names.
        #[arg(long, default_value = "app1,app2,app3")]
        services: String,
        /// Output file (default stdout).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Add error bursts and stack traces.
        #[arg(long)]
        errors: bool,
        /// Random seed, for reproducible output.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// The whole story on one machine: generator, log file, server, queries.
    Demo(demo::DemoArgs),
    /// Show what a route or parser makes of lines on stdin.
    Parse(parse::ParseArgs),
    /// Validate a config file; every problem in one run, with file, line and key.
    CheckConfig {
        /// The TOML config file to check (server and agent settings alike).
        file: PathBuf,
    },
    /// Benchmarks: `bench ingest|forward|agent|parse|syslog|anomalies|patterns|forecast|alerting`.
    Bench(bench::BenchArgs),
    /// Analysis: `analyze anomalies --input SERIES.csv` scores a series,
    /// `analyze forecast --input SERIES.csv` smooths and forecasts it,
    /// `analyze patterns --input FILE` mines a log file, all offline; with
    /// no `--input` they (and `analyze series`) ask a server.
    #[command(subcommand)]
    Analyze(analyze::Analyze),
    /// Alerts of a server: pending and firing ones, recent history and the
    /// notifications that could not be delivered.
    Alerts(alerts::AlertsArgs),
    /// A report of a range from a server: the trend chart (counts,
    /// smoothing, forecast bands, anomalies), the level pie and tables of
    /// patterns, anomalies and alerts, as `--out FILE.html|.png|.svg`, or a
    /// summary on the terminal.
    Report(report::ReportArgs),
    /// Evaluation harness: `eval anomalies DIR` (NAB layout), `eval patterns
    /// DIR` (Loghub-2k layout).
    #[command(subcommand)]
    Eval(eval::Eval),
}

/// Whether log lines get ANSI colours: only on a terminal, and never when
/// `NO_COLOR` is set to anything non-empty (no-color.org).
pub fn log_colour(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Run a parsed command line; returns the exit code.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Server(args) => {
            let cfg = args.load()?;
            runtime()?.block_on(crate::server::run(cfg))?;
            Ok(0)
        }
        Command::Agent(args) => agent::run(args),
        Command::Search(args) => runtime()?.block_on(search::run(args)),
        Command::Generate {
            rate,
            count,
            services,
            out,
            errors,
            seed,
        } => {
            let opts = GenOptions {
                services: services
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect(),
                seed,
                start_ms: crate::event::now_ms() - if rate == 0 { count as i64 * 100 } else { 0 },
                step_ms: if rate == 0 {
                    100.0
                } else {
                    1000.0 / rate as f64
                },
                error_bursts: errors,
                stack_traces: errors,
            };
            if opts.services.is_empty() {
                anyhow::bail!("--services must name at least one service");
            }
            let mut g = Generator::new(opts);
            let mut w: Box<dyn Write> = match &out {
                Some(p) => Box::new(std::io::BufWriter::new(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(p)
                        .with_context(|| format!("opening {}", p.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout())),
            };
            let started = std::time::Instant::now();
            let mut i = 0u64;
            while count == 0 || i < count {
                writeln!(w, "{}", g.next_line()).context("writing generated logs")?;
                i += 1;
                if rate > 0 {
                    w.flush()?;
                    let due = std::time::Duration::from_secs_f64(i as f64 / rate as f64);
                    if let Some(wait) = due.checked_sub(started.elapsed()) {
                        std::thread::sleep(wait);
                    }
                }
            }
            w.flush()?;
            Ok(0)
        }
        Command::Demo(args) => runtime()?.block_on(demo::run(args)),
        Command::CheckConfig { file } => match Config::load(&file) {
            Ok(_) => {
                println!("{}: ok", file.display());
                Ok(0)
            }
            Err(e) => {
                for p in &e.problems {
                    eprintln!("{}", p.render(&e.file));
                }
                Ok(1)
            }
        },
        Command::Bench(args) => bench::run(args),
        Command::Parse(args) => parse::run(args),
        Command::Analyze(cmd) => analyze::run(cmd),
        Command::Eval(cmd) => eval::run(cmd),
        Command::Alerts(args) => runtime()?.block_on(alerts::run(args)),
        Command::Report(args) => runtime()?.block_on(report::run(args)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults `server --help` names are the ones an empty config has.
    #[test]
    fn server_help_names_the_real_defaults() {
        use clap::CommandFactory;
        let mut cmd = Cli::command();
        let help = cmd
            .find_subcommand_mut("server")
            .expect("server subcommand")
            .render_help()
            .to_string();
        let c = Config::default_config();
        for d in [
            c.data_dir.display().to_string(),
            c.http_addr.to_string(),
            c.forward_addr.to_string(),
            c.syslog_addr.to_string(),
        ] {
            assert!(help.contains(&format!("default: {d}")), "{d} not in {help}");
        }
    }

    #[test]
    fn log_colour_only_on_a_terminal_without_no_color() {
        use std::ffi::OsStr;
        assert!(log_colour(true, None));
        assert!(log_colour(true, Some(OsStr::new(""))));
        assert!(!log_colour(true, Some(OsStr::new("1"))));
        assert!(!log_colour(false, None));
        assert!(!log_colour(false, Some(OsStr::new("1"))));
    }
}

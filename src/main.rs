//! Binary entry: parse the command line, set up logging, run, and map the
//! outcome to an exit code with a one-line reason on stderr.

use std::io::IsTerminal;

use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = logweave::cli::Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("LOGWEAVE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tantivy=warn"));
    let colour = logweave::cli::log_colour(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_target(false)
        .init();
    match logweave::cli::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("logweave: error: {e:#}");
            std::process::exit(1);
        }
    }
}

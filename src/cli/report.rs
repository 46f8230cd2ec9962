//! `logweave report`: a server's view of a range as a file (HTML, PNG,
//! SVG) or a terminal summary. The work is in [`crate::report`]; this is
//! the flags and the order of things.

use std::path::PathBuf;

use super::analyze_server::Selection;
use crate::report::{self, figure, gather, Format};

/// Arguments of `logweave report`.
#[derive(clap::Args, Debug)]
#[command(
    mut_arg("since", |a| a.default_value("24h")),
    mut_arg("json", |a| a.help("Print the gathered report as JSON instead of a summary"))
)]
pub struct ReportArgs {
    #[command(flatten)]
    pub sel: Selection,
    /// Interval of the trend: auto (at most 120 points), 30s, 5m, 1h, 1d, ...
    #[arg(long, default_value = "auto")]
    pub interval: String,
    /// Only events matching this Lucene query (default: every event).
    #[arg(long)]
    pub query: Option<String>,
    /// Write the report to this file; the extension picks the format:
    /// .html (self-contained page), .png or .svg (one 1200×800 image).
    /// Without it: a summary on the terminal.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// How many patterns the report lists.
    #[arg(long, default_value_t = 10)]
    pub patterns: usize,
    /// Run the anomaly detection over the range first (it stores what it
    /// finds), for a range the live watches did not see, such as imported
    /// logs.
    #[arg(long)]
    pub detect: bool,
}

/// `logweave report`.
pub async fn run(a: ReportArgs) -> anyhow::Result<i32> {
    // a bad --out is known before asking the server anything
    let format = a.out.as_deref().map(Format::from_path).transpose()?;
    let (from_ms, to_ms) = a.sel.range()?;
    let req = gather::Request {
        server: a.sel.server.clone(),
        index: a.sel.index.clone(),
        query: a.query.clone(),
        from_ms,
        to_ms,
        interval: a.interval.clone(),
        top_patterns: a.patterns,
        detect: a.detect,
    };
    let rep = gather::gather(&req).await?;
    if a.sel.json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
        return Ok(0);
    }
    match (&a.out, format) {
        (Some(path), Some(format)) => {
            let r = rep.clone();
            let p = path.clone();
            // drawing a PNG takes a moment; keep it off the async workers
            tokio::task::spawn_blocking(move || report::write(&r, format, &p)).await??;
            let what = match format {
                Format::Html => "HTML page".to_string(),
                Format::Png => format!("{}×{} PNG", figure::WIDTH, figure::HEIGHT),
                Format::Svg => format!("{}×{} SVG", figure::WIDTH, figure::HEIGHT),
            };
            println!(
                "wrote {} ({what}): {} events, {}",
                path.display(),
                rep.total,
                rep.range_text()
            );
        }
        _ => print!("{}", report::terminal::render(&rep)),
    }
    Ok(0)
}

//! The agent's part of the config file (`[agent]`, `[[agent.sources]]`,
//! `[agent.output]`) and its validation; command-line flags are applied on
//! top in `cli`.

use std::net::SocketAddr;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::output::forward::Heartbeat;
use super::output::Overflow;
use super::source::{LongLines, Parser};

/// `[agent]`
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AgentSection {
    /// Positions and the disk buffer live here.
    pub data_dir: Option<Spanned<String>>,
    /// Position file (default `data_dir/positions`).
    pub pos_file: Option<Spanned<String>>,
    /// Value of the `host` field added to records (default: this machine's name).
    pub hostname: Option<String>,
    /// Serve Prometheus metrics on this address.
    pub metrics_addr: Option<Spanned<String>>,
    /// Log a metrics summary this often (0 = never).
    pub log_interval_secs: Option<u64>,
    pub sources: Vec<SourceSection>,
    pub output: OutputSection,
}

/// `[[agent.sources]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSection {
    /// `tail`, `stdin` or `syslog`.
    #[serde(rename = "type")]
    pub type_: Spanned<String>,
    /// `syslog`: the address to listen on (TCP and UDP), `HOST:PORT`.
    pub listen: Option<Spanned<String>>,
    #[serde(default)]
    pub paths: Vec<String>,
    pub tag: Option<String>,
    /// `json` (default), `none`, `logfmt`, `keyvalue`, `regex`, `nginx`,
    /// `apache`, `csv`, `tsv`, `syslog`.
    pub parser: Option<Spanned<String>>,
    /// Options of the parser (`pattern`, `types`, `columns`, ...).
    #[serde(default)]
    pub parser_options: crate::parse::ParserOptions,
    #[serde(default)]
    pub read_from_head: bool,
    pub max_line_bytes: Option<Spanned<u64>>,
    /// `split` or `drop`.
    pub long_lines: Option<Spanned<String>>,
    /// Regex: a matching line starts a new event (stack traces).
    pub multiline_start: Option<Spanned<String>>,
    /// Regex: a matching line continues the event (others start one).
    pub multiline_continue: Option<Spanned<String>>,
    /// Lines starting with a space or tab continue the event.
    #[serde(default)]
    pub multiline_indent: bool,
    pub multiline_flush_ms: Option<u64>,
    pub path_key: Option<String>,
    /// Transforms in order (`[[agent.sources.transforms]]`), as in routes;
    /// applied after the parser, before the event leaves this machine.
    #[serde(default)]
    pub transforms: Vec<Spanned<crate::pipeline::transform::TransformSpec>>,
}

/// `[agent.output]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputSection {
    /// `forward` or `stdout`.
    #[serde(rename = "type")]
    pub type_: Spanned<String>,
    pub servers: Vec<Spanned<String>>,
    pub shared_key: String,
    pub self_hostname: String,
    pub username: String,
    pub password: String,
    pub tls: bool,
    pub tls_ca_file: String,
    pub tls_server_name: String,
    /// `none` or `gzip` (CompressedPackedForward).
    pub compress: Spanned<String>,
    pub chunk_max_bytes: u64,
    pub chunk_max_events: u64,
    pub flush_interval_ms: u64,
    pub ack_timeout_ms: u64,
    pub retry_max_ms: u64,
    pub buffer_max_bytes: Spanned<u64>,
    /// `block` or `drop_newest`.
    pub overflow: Spanned<String>,
    /// `transport`, `udp` or `none`.
    pub heartbeat: Spanned<String>,
}

impl Default for OutputSection {
    fn default() -> Self {
        let s = |v: &str| Spanned::new(0..0, v.to_string());
        OutputSection {
            type_: s("forward"),
            servers: Vec::new(),
            shared_key: String::new(),
            self_hostname: String::new(),
            username: String::new(),
            password: String::new(),
            tls: false,
            tls_ca_file: String::new(),
            tls_server_name: String::new(),
            compress: s("none"),
            chunk_max_bytes: 1 << 20,
            chunk_max_events: 10_000,
            flush_interval_ms: 200,
            ack_timeout_ms: 30_000,
            retry_max_ms: 30_000,
            buffer_max_bytes: Spanned::new(0..0, 512 << 20),
            overflow: s("block"),
            heartbeat: s("transport"),
        }
    }
}

/// One validated source.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// `None` for stdin and syslog.
    pub paths: Option<Vec<String>>,
    /// Where a syslog source listens (`None` for the others).
    pub listen: Option<std::net::SocketAddr>,
    pub tag: String,
    pub parser: Parser,
    pub read_from_head: bool,
    pub max_line_bytes: usize,
    pub long_lines: LongLines,
    pub multiline: Option<super::source::Multiline>,
    pub multiline_flush: Duration,
    pub path_key: Option<String>,
    pub transforms: std::sync::Arc<Vec<crate::pipeline::transform::Transform>>,
}

/// Validated output settings.
#[derive(Debug, Clone)]
pub struct OutputConfig {
    pub stdout: bool,
    pub servers: Vec<String>,
    pub shared_key: Option<String>,
    pub self_hostname: Option<String>,
    pub username: String,
    pub password: String,
    pub tls: bool,
    pub tls_ca_file: Option<PathBuf>,
    pub tls_server_name: Option<String>,
    pub gzip: bool,
    pub chunk_max_bytes: usize,
    pub chunk_max_events: u64,
    pub flush_interval: Duration,
    pub ack_timeout: Duration,
    pub retry_max: Duration,
    pub buffer_max_bytes: u64,
    pub overflow: Overflow,
    pub heartbeat: Heartbeat,
}

/// Validated `[agent]`.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub data_dir: PathBuf,
    pub pos_file: Option<PathBuf>,
    pub hostname: Option<String>,
    pub metrics_addr: Option<SocketAddr>,
    pub log_interval: Duration,
    pub sources: Vec<SourceConfig>,
    pub output: OutputConfig,
}

fn one_of<T: Copy>(
    s: &Spanned<String>,
    key: &str,
    choices: &[(&str, T)],
    bad: &mut dyn FnMut(Range<usize>, &str, String),
) -> T {
    match choices.iter().find(|(n, _)| *n == s.get_ref().as_str()) {
        Some((_, v)) => *v,
        None => {
            let names: Vec<&str> = choices.iter().map(|c| c.0).collect();
            bad(
                s.span(),
                key,
                format!("'{}' is not one of {}", s.get_ref(), names.join(", ")),
            );
            choices[0].1
        }
    }
}

/// Validate the section; problems go to `bad(span, key, message)` (an
/// empty span: the problem's line is that of `key` in the file).
pub fn validate(
    raw: &AgentSection,
    bad: &mut dyn FnMut(Range<usize>, &str, String),
) -> AgentConfig {
    let mut sources = Vec::new();
    for (i, s) in raw.sources.iter().enumerate() {
        let key = |k: &str| format!("agent.sources[{i}].{k}");
        let is_syslog = s.type_.get_ref() == "syslog";
        let is_tail = match s.type_.get_ref().as_str() {
            "tail" => true,
            "stdin" | "syslog" => false,
            other => {
                bad(
                    s.type_.span(),
                    &key("type"),
                    format!("'{other}' is not one of tail, stdin, syslog"),
                );
                true
            }
        };
        let listen = match (&s.listen, is_syslog) {
            (Some(l), true) => match l.get_ref().parse::<std::net::SocketAddr>() {
                Ok(a) => Some(a),
                Err(e) => {
                    bad(
                        l.span(),
                        &key("listen"),
                        format!("'{}' is not IP:PORT: {e}", l.get_ref()),
                    );
                    None
                }
            },
            (None, true) => {
                bad(
                    s.type_.span(),
                    &key("listen"),
                    "a syslog source needs listen = \"IP:PORT\"".into(),
                );
                None
            }
            (Some(l), false) => {
                bad(
                    l.span(),
                    &key("listen"),
                    "only a syslog source listens".into(),
                );
                None
            }
            (None, false) => None,
        };
        if is_syslog && s.parser.is_some() {
            bad(
                s.type_.span(),
                &key("parser"),
                "a syslog source parses syslog itself; parser is for tail and stdin".into(),
            );
        }
        if is_tail && s.paths.is_empty() {
            bad(
                s.type_.span(),
                &key("paths"),
                "a tail source needs at least one path (glob)".into(),
            );
        }
        for p in &s.paths {
            if let Err(e) = glob::Pattern::new(p) {
                bad(
                    s.type_.span(),
                    &key("paths"),
                    format!("'{p}' is not a valid glob: {e}"),
                );
            }
        }
        let parser = match &s.parser {
            None => Parser::Json,
            Some(p) => Parser::build(p.get_ref(), &s.parser_options).unwrap_or_else(|e| {
                bad(p.span(), &key("parser"), e);
                Parser::None
            }),
        };
        let long_lines = match &s.long_lines {
            None => LongLines::Split,
            Some(p) => one_of(
                p,
                &key("long_lines"),
                &[("split", LongLines::Split), ("drop", LongLines::Drop)],
                bad,
            ),
        };
        let max_line_bytes = match &s.max_line_bytes {
            None => 256 * 1024,
            Some(m) => {
                if !(64..=(64 << 20)).contains(m.get_ref()) {
                    bad(
                        m.span(),
                        &key("max_line_bytes"),
                        "must be between 64 and 67108864".into(),
                    );
                }
                *m.get_ref() as usize
            }
        };
        let re = |r: &Spanned<String>, k: &str, bad: &mut dyn FnMut(Range<usize>, &str, String)| {
            regex::Regex::new(r.get_ref())
                .map_err(|e| bad(r.span(), &key(k), format!("bad regex: {e}")))
                .ok()
        };
        let mut ways = 0;
        let mut multiline = None;
        if let Some(r) = &s.multiline_start {
            ways += 1;
            multiline = re(r, "multiline_start", bad).map(super::source::Multiline::Start);
        }
        if let Some(r) = &s.multiline_continue {
            ways += 1;
            multiline = re(r, "multiline_continue", bad).map(super::source::Multiline::Continue);
        }
        if s.multiline_indent {
            ways += 1;
            multiline = Some(super::source::Multiline::Indent);
        }
        if ways > 1 {
            bad(
                s.type_.span(),
                &key("multiline_start"),
                "give one of multiline_start, multiline_continue, multiline_indent".into(),
            );
        }
        let mut transforms = Vec::new();
        for (j, t) in s.transforms.iter().enumerate() {
            let k = key(&format!("transforms[{j}]"));
            if t.get_ref().route_if.is_some() {
                // an empty span: the line is looked up by the key
                bad(
                    0..0,
                    &format!("{k}.route_if"),
                    "route_if picks a server index: use it in the server's [[routes]]".into(),
                );
                continue;
            }
            match crate::pipeline::transform::Transform::build(t.get_ref()) {
                Ok(t) => transforms.push(t),
                Err(e) => bad(0..0, &crate::config::sub_key(&k, &e.key), e.message),
            }
        }
        if is_syslog && !transforms.is_empty() {
            bad(
                s.type_.span(),
                &key("transforms"),
                "a syslog source has no transforms yet; give them to the server's route".into(),
            );
        }
        sources.push(SourceConfig {
            transforms: std::sync::Arc::new(transforms),
            paths: is_tail.then(|| s.paths.clone()),
            listen,
            tag: s.tag.clone().unwrap_or_else(|| {
                if is_tail {
                    "tail".into()
                } else if is_syslog {
                    "syslog".into()
                } else {
                    "stdin".into()
                }
            }),
            parser,
            read_from_head: s.read_from_head,
            max_line_bytes,
            long_lines,
            multiline,
            multiline_flush: Duration::from_millis(s.multiline_flush_ms.unwrap_or(1000)),
            path_key: s.path_key.clone().filter(|k| !k.is_empty()),
        });
    }
    let o = &raw.output;
    let stdout = one_of(
        &o.type_,
        "agent.output.type",
        &[("forward", false), ("stdout", true)],
        bad,
    );
    for s in &o.servers {
        if !s.get_ref().contains(':') {
            bad(
                s.span(),
                "agent.output.servers",
                format!("'{}' is not host:port", s.get_ref()),
            );
        }
    }
    let gzip = one_of(
        &o.compress,
        "agent.output.compress",
        &[("none", false), ("gzip", true)],
        bad,
    );
    let overflow = one_of(
        &o.overflow,
        "agent.output.overflow",
        &[
            ("block", Overflow::Block),
            ("drop_newest", Overflow::DropNewest),
        ],
        bad,
    );
    let heartbeat = one_of(
        &o.heartbeat,
        "agent.output.heartbeat",
        &[
            ("transport", Heartbeat::Transport),
            ("udp", Heartbeat::Udp),
            ("none", Heartbeat::None),
        ],
        bad,
    );
    if *o.buffer_max_bytes.get_ref() < (1 << 20) {
        bad(
            o.buffer_max_bytes.span(),
            "agent.output.buffer_max_bytes",
            "must be at least 1048576".into(),
        );
    }
    let metrics_addr = raw.metrics_addr.as_ref().and_then(|a| {
        a.get_ref()
            .parse()
            .map_err(|_| {
                bad(
                    a.span(),
                    "agent.metrics_addr",
                    format!("'{}' is not an address like 127.0.0.1:24231", a.get_ref()),
                )
            })
            .ok()
    });
    let nonempty = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
    AgentConfig {
        data_dir: PathBuf::from(
            raw.data_dir
                .as_ref()
                .map_or("./logweave-agent".to_string(), |d| d.get_ref().clone()),
        ),
        pos_file: raw.pos_file.as_ref().map(|p| PathBuf::from(p.get_ref())),
        hostname: raw.hostname.clone().filter(|h| !h.is_empty()),
        metrics_addr,
        log_interval: Duration::from_secs(raw.log_interval_secs.unwrap_or(10)),
        sources,
        output: OutputConfig {
            stdout,
            servers: o.servers.iter().map(|s| s.get_ref().clone()).collect(),
            shared_key: nonempty(&o.shared_key),
            self_hostname: nonempty(&o.self_hostname),
            username: o.username.clone(),
            password: o.password.clone(),
            tls: o.tls,
            tls_ca_file: nonempty(&o.tls_ca_file).map(PathBuf::from),
            tls_server_name: nonempty(&o.tls_server_name),
            gzip,
            chunk_max_bytes: (o.chunk_max_bytes as usize).clamp(1024, 32 << 20),
            chunk_max_events: o.chunk_max_events.max(1),
            flush_interval: Duration::from_millis(o.flush_interval_ms.max(1)),
            ack_timeout: Duration::from_millis(o.ack_timeout_ms.max(100)),
            retry_max: Duration::from_millis(o.retry_max_ms.max(100)),
            buffer_max_bytes: *o.buffer_max_bytes.get_ref(),
            overflow,
            heartbeat,
        },
    }
}

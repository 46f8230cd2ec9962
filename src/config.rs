//! Configuration: one TOML file where every key has a default, so an empty
//! file is valid. Unknown keys are errors; every problem is reported with
//! file, line and key, all at once.

pub mod alerting;
pub mod analysis;
mod collect;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

/// The file as written.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ConfigFile {
    pub server: ServerSection,
    pub store: StoreSection,
    pub forward: ForwardSection,
    pub syslog: SyslogSection,
    pub routes: Vec<RouteSection>,
    pub agent: crate::agent::config::AgentSection,
    pub analysis: analysis::AnalysisSection,
    pub alerting: alerting::AlertingSection,
}

/// `[forward]`: the Fluentd forward input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ForwardSection {
    /// Listen for forward clients at all (`server.forward_addr`).
    pub enabled: Spanned<bool>,
    /// Require the shared-key handshake with this key (Fluentd `<security>`).
    pub shared_key: Spanned<String>,
    /// Our name in the handshake (default: the machine's hostname).
    pub self_hostname: Spanned<String>,
    /// When non-empty, clients must also log in as one of these users.
    pub users: Vec<ForwardUser>,
    /// PEM certificate chain and key: serve forward over TLS.
    pub tls_cert_file: Spanned<String>,
    pub tls_key_file: Spanned<String>,
    /// Record key the forward tag is stored under, when the record has no
    /// such key ("" to not store it).
    pub tag_key: Spanned<String>,
    /// Largest accepted message (one chunk), in bytes.
    pub max_frame_bytes: Spanned<u64>,
    /// Largest gzip chunk after decompression, in bytes.
    pub max_decompressed_bytes: Spanned<u64>,
}

impl Default for ForwardSection {
    fn default() -> Self {
        ForwardSection {
            enabled: Spanned::new(0..0, true),
            shared_key: Spanned::new(0..0, String::new()),
            self_hostname: Spanned::new(0..0, String::new()),
            users: Vec::new(),
            tls_cert_file: Spanned::new(0..0, String::new()),
            tls_key_file: Spanned::new(0..0, String::new()),
            tag_key: Spanned::new(0..0, "tag".into()),
            max_frame_bytes: Spanned::new(0..0, 16 << 20),
            max_decompressed_bytes: Spanned::new(0..0, 64 << 20),
        }
    }
}

/// `[syslog]`: the syslog input (`server.syslog_addr`, TCP and UDP).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyslogSection {
    pub enabled: Spanned<bool>,
    /// Longest message; longer newline-framed lines are split, longer
    /// octet-counted frames close the connection.
    pub max_message_bytes: Spanned<u64>,
    /// PEM certificate chain and key: syslog over TLS (RFC 5425) on TCP.
    pub tls_cert_file: Spanned<String>,
    pub tls_key_file: Spanned<String>,
}

impl Default for SyslogSection {
    fn default() -> Self {
        SyslogSection {
            enabled: Spanned::new(0..0, true),
            max_message_bytes: Spanned::new(0..0, 64 * 1024),
            tls_cert_file: Spanned::new(0..0, String::new()),
            tls_key_file: Spanned::new(0..0, String::new()),
        }
    }
}

/// Validated `[syslog]`.
#[derive(Debug, Clone)]
pub struct SyslogConfig {
    pub enabled: bool,
    pub max_message_bytes: usize,
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// `[[forward.users]]`
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ForwardUser {
    pub username: String,
    pub password: String,
}

/// Validated `[forward]`.
#[derive(Debug, Clone)]
pub struct ForwardConfig {
    pub enabled: bool,
    pub shared_key: Option<String>,
    pub self_hostname: String,
    pub users: Vec<(String, String)>,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub tag_key: String,
    pub limits: crate::forward::message::Limits,
}

/// `[server]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// Where indices and the write-ahead log live.
    pub data_dir: Spanned<String>,
    /// Elasticsearch-compatible HTTP API, dashboard and metrics.
    pub http_addr: Spanned<String>,
    /// Fluentd forward protocol (TCP; UDP heartbeat).
    pub forward_addr: Spanned<String>,
    /// Syslog over TCP and UDP.
    pub syslog_addr: Spanned<String>,
    /// Largest accepted request body, in bytes (Elasticsearch: 100 MB).
    pub max_body_bytes: Spanned<u64>,
    /// Bulk bytes being parsed and written at once; beyond it writers get 429.
    /// Parsed documents take several times their raw size in memory.
    pub max_inflight_bytes: Spanned<u64>,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            data_dir: Spanned::new(0..0, "./logweave-data".into()),
            http_addr: Spanned::new(0..0, "127.0.0.1:9200".into()),
            forward_addr: Spanned::new(0..0, "127.0.0.1:24224".into()),
            syslog_addr: Spanned::new(0..0, "127.0.0.1:5514".into()),
            max_body_bytes: Spanned::new(0..0, 100 * 1024 * 1024),
            max_inflight_bytes: Spanned::new(0..0, 128 * 1024 * 1024),
        }
    }
}

/// `[store]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    /// How often new events become searchable, in milliseconds.
    pub refresh_interval_ms: Spanned<u64>,
    /// Delete daily indices whose newest event is older than this many days; 0 keeps forever.
    pub retention_days: Spanned<u64>,
    /// Indexing memory per index writer, in MiB.
    pub writer_heap_mb: Spanned<u64>,
    /// Indexing threads per index writer.
    pub writer_threads: Spanned<u64>,
    /// Time zone for naive timestamps in records (IANA name), default UTC.
    pub default_time_zone: Spanned<String>,
    /// zstd level of the `_source` store (1-22): higher is smaller and slower.
    pub zstd_level: Spanned<i64>,
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection {
            refresh_interval_ms: Spanned::new(0..0, 1000),
            retention_days: Spanned::new(0..0, 0),
            writer_heap_mb: Spanned::new(0..0, 96),
            writer_threads: Spanned::new(0..0, 1),
            default_time_zone: Spanned::new(0..0, "UTC".into()),
            zstd_level: Spanned::new(0..0, 9),
        }
    }
}

/// `[[routes]]`: Fluentd-style tag match to a Logstash-style index template.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSection {
    #[serde(rename = "match")]
    pub match_: Spanned<String>,
    pub index: Spanned<String>,
    /// Parse this string field as JSON and merge it into the record.
    pub decode_json: Option<Spanned<String>>,
    /// Keep the original field after decoding it.
    #[serde(default)]
    pub decode_json_keep: bool,
    /// `record` (the record's own timestamp wins, default) or `event`
    /// (the forward event time always wins).
    pub time_source: Option<Spanned<String>>,
    /// Name for `logweave parse --route`.
    pub name: Option<String>,
    /// Parse `parser_field` (default `message`) with this parser.
    pub parser: Option<Spanned<String>>,
    pub parser_field: Option<String>,
    #[serde(default)]
    pub parser_options: crate::parse::ParserOptions,
    /// Transforms in order (`[[routes.transforms]]`, one key each).
    #[serde(default)]
    pub transforms: Vec<Spanned<crate::pipeline::transform::TransformSpec>>,
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub http_addr: SocketAddr,
    pub forward_addr: SocketAddr,
    pub syslog_addr: SocketAddr,
    pub max_body_bytes: usize,
    pub max_inflight_bytes: usize,
    pub zstd_level: i32,
    /// Time zone for naive timestamps in records (`None` = UTC).
    pub default_time_zone: Option<jiff::tz::TimeZone>,
    pub refresh_interval_ms: u64,
    pub retention_days: u64,
    pub writer_heap_mb: u64,
    pub writer_threads: u64,
    pub routes: Vec<crate::route::Route>,
    pub forward: ForwardConfig,
    pub syslog: SyslogConfig,
    pub agent: crate::agent::config::AgentConfig,
    pub analysis: analysis::AnalysisConfig,
    pub alerting: alerting::AlertingConfig,
    /// The file this was read from (what a rules reload re-reads).
    pub config_path: Option<PathBuf>,
}

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigProblem {
    /// 1-based; `None` when the problem is not at a place in the file
    /// (it cannot be read).
    pub line: Option<usize>,
    /// Full dotted key path (`routes[1].transforms[0].drop_if`); empty when
    /// the problem is the file's.
    pub key: String,
    pub message: String,
}

impl ConfigProblem {
    /// `file:line: key: message`, the parts that are known.
    pub fn render(&self, file: &str) -> String {
        let place = match self.line {
            Some(l) => format!("{file}:{l}"),
            None => file.to_string(),
        };
        match self.key.as_str() {
            "" => format!("{place}: {}", self.message),
            k => format!("{place}: {k}: {}", self.message),
        }
    }
}

/// All problems of a config file.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.render())]
pub struct ConfigError {
    pub file: String,
    pub problems: Vec<ConfigProblem>,
}

impl ConfigError {
    fn render(&self) -> String {
        self.problems
            .iter()
            .map(|p| p.render(&self.file))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

/// The line of a problem: of `span` when it is a place in the file, else
/// (an empty span: a default, or a check that names a key more precisely
/// than the value it holds) of `key` as written.
fn problem_line(text: &str, span: std::ops::Range<usize>, key: &str) -> Option<usize> {
    if span.end > 0 {
        return Some(line_of(text, span.start));
    }
    collect::key_span(text, key).map(|s| line_of(text, s.start))
}

/// `base.sub`, or `base` when `sub` is empty.
pub(crate) fn sub_key(base: &str, sub: &str) -> String {
    match sub {
        "" => base.to_string(),
        s => format!("{base}.{s}"),
    }
}

impl Config {
    /// Defaults, as for an empty file.
    pub fn default_config() -> Config {
        match Self::from_str("", "<defaults>") {
            Ok(c) => c,
            Err(e) => unreachable!("defaults must validate: {e}"),
        }
    }

    /// Read and validate a file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            problems: vec![ConfigProblem {
                line: None,
                key: String::new(),
                message: format!("cannot read: {e}"),
            }],
        })?;
        let mut cfg = Self::from_str(&text, &file)?;
        cfg.config_path = Some(path.to_path_buf());
        Ok(cfg)
    }

    /// Parse and validate TOML text (named `file` in errors).
    pub fn from_str(text: &str, file: &str) -> Result<Config, ConfigError> {
        let collected = collect::deserialize_all::<ConfigFile>(text);
        let read_problems: Vec<ConfigProblem> = collected
            .problems
            .iter()
            .map(|p| ConfigProblem {
                line: p.span.as_ref().map(|s| line_of(text, s.start)),
                key: p.key.clone(),
                message: p.message.clone(),
            })
            .collect();
        let Some(raw) = collected.value else {
            return Err(ConfigError {
                file: file.to_string(),
                problems: read_problems,
            });
        };
        let mut problems = Vec::new();
        let mut bad = |span: std::ops::Range<usize>, key: &str, msg: String| {
            problems.push(ConfigProblem {
                line: problem_line(text, span, key),
                key: key.to_string(),
                message: msg,
            })
        };
        let mut addr = |s: &Spanned<String>, key: &str| -> SocketAddr {
            match s.get_ref().parse::<SocketAddr>() {
                Ok(a) => a,
                Err(_) => {
                    bad(
                        s.span(),
                        key,
                        format!("'{}' is not an address like 127.0.0.1:9200", s.get_ref()),
                    );
                    SocketAddr::from(([127, 0, 0, 1], 0))
                }
            }
        };
        let http_addr = addr(&raw.server.http_addr, "server.http_addr");
        let forward_addr = addr(&raw.server.forward_addr, "server.forward_addr");
        let syslog_addr = addr(&raw.server.syslog_addr, "server.syslog_addr");
        if *raw.store.refresh_interval_ms.get_ref() == 0
            || *raw.store.refresh_interval_ms.get_ref() > 3_600_000
        {
            bad(
                raw.store.refresh_interval_ms.span(),
                "store.refresh_interval_ms",
                "must be between 1 and 3600000".into(),
            );
        }
        if *raw.store.writer_heap_mb.get_ref() < 16 {
            bad(
                raw.store.writer_heap_mb.span(),
                "store.writer_heap_mb",
                "must be at least 16".into(),
            );
        }
        if !(1..=8).contains(raw.store.writer_threads.get_ref()) {
            bad(
                raw.store.writer_threads.span(),
                "store.writer_threads",
                "must be between 1 and 8".into(),
            );
        }
        if jiff::tz::TimeZone::get(raw.store.default_time_zone.get_ref()).is_err() {
            bad(
                raw.store.default_time_zone.span(),
                "store.default_time_zone",
                format!(
                    "unknown time zone '{}'",
                    raw.store.default_time_zone.get_ref()
                ),
            );
        }
        if !(1..=22).contains(raw.store.zstd_level.get_ref()) {
            bad(
                raw.store.zstd_level.span(),
                "store.zstd_level",
                "must be between 1 and 22".into(),
            );
        }
        if *raw.server.max_inflight_bytes.get_ref() < 1024 * 1024 {
            bad(
                raw.server.max_inflight_bytes.span(),
                "server.max_inflight_bytes",
                "must be at least 1048576".into(),
            );
        }
        if *raw.server.max_body_bytes.get_ref() < 1024 {
            bad(
                raw.server.max_body_bytes.span(),
                "server.max_body_bytes",
                "must be at least 1024".into(),
            );
        }
        let mut routes = Vec::new();
        for (i, r) in raw.routes.iter().enumerate() {
            if r.match_.get_ref().trim().is_empty() {
                bad(
                    r.match_.span(),
                    &format!("routes[{i}].match"),
                    "must not be empty".into(),
                );
            }
            if let Err(e) = crate::ingest::index_name::expand_checked(r.index.get_ref(), 0) {
                bad(r.index.span(), &format!("routes[{i}].index"), e.to_string());
            }
            let time_source = match r
                .time_source
                .as_ref()
                .map(|t| (t.get_ref().as_str(), t.span()))
            {
                None | Some(("record", _)) => crate::route::TimeSource::Record,
                Some(("event", _)) => crate::route::TimeSource::Event,
                Some((other, span)) => {
                    bad(
                        span,
                        &format!("routes[{i}].time_source"),
                        format!("'{other}' is not one of record, event"),
                    );
                    crate::route::TimeSource::Record
                }
            };
            if let Some(f) = r.decode_json.as_ref().filter(|f| f.get_ref().is_empty()) {
                bad(
                    f.span(),
                    &format!("routes[{i}].decode_json"),
                    "must name a field".into(),
                );
            }
            match crate::route::Route::new(
                r.match_.get_ref(),
                r.index.get_ref(),
                r.decode_json.as_ref().map(|f| f.get_ref().clone()),
                r.decode_json_keep,
                time_source,
            ) {
                Ok(mut route) => {
                    if let Some(n) = &r.name {
                        route.name = n.clone();
                    }
                    if let Some(p) = &r.parser {
                        match crate::parse::LineParser::build(p.get_ref(), &r.parser_options) {
                            Ok(parser) => {
                                let field = r.parser_field.as_deref().unwrap_or("message");
                                route = route.with_parser(parser, field);
                            }
                            Err(e) => bad(p.span(), &format!("routes[{i}].parser"), e),
                        }
                    }
                    for (j, t) in r.transforms.iter().enumerate() {
                        match crate::pipeline::transform::Transform::build(t.get_ref()) {
                            Ok(t) => route.transforms.push(t),
                            Err(e) => bad(
                                0..0,
                                &sub_key(&format!("routes[{i}].transforms[{j}]"), &e.key),
                                e.message,
                            ),
                        }
                    }
                    routes.push(route)
                }
                Err(e) => bad(
                    r.match_.span(),
                    &format!("routes[{i}].match"),
                    e.to_string(),
                ),
            }
        }
        let fw = &raw.forward;
        let tls = match (
            fw.tls_cert_file.get_ref().as_str(),
            fw.tls_key_file.get_ref().as_str(),
        ) {
            ("", "") => None,
            (c, k) if !c.is_empty() && !k.is_empty() => Some((PathBuf::from(c), PathBuf::from(k))),
            ("", _) => {
                bad(
                    fw.tls_key_file.span(),
                    "forward.tls_cert_file",
                    "tls_key_file is set but tls_cert_file is not".into(),
                );
                None
            }
            _ => {
                bad(
                    fw.tls_cert_file.span(),
                    "forward.tls_key_file",
                    "tls_cert_file is set but tls_key_file is not".into(),
                );
                None
            }
        };
        if *fw.max_frame_bytes.get_ref() < 1024 {
            bad(
                fw.max_frame_bytes.span(),
                "forward.max_frame_bytes",
                "must be at least 1024".into(),
            );
        }
        if *fw.max_decompressed_bytes.get_ref() < 1024 {
            bad(
                fw.max_decompressed_bytes.span(),
                "forward.max_decompressed_bytes",
                "must be at least 1024".into(),
            );
        }
        if !fw.users.is_empty() && fw.shared_key.get_ref().is_empty() {
            bad(
                fw.shared_key.span(),
                "forward.users",
                "user authentication needs forward.shared_key (it is part of the handshake)".into(),
            );
        }
        let forward = ForwardConfig {
            enabled: *fw.enabled.get_ref(),
            shared_key: Some(fw.shared_key.get_ref().clone()).filter(|k| !k.is_empty()),
            self_hostname: Some(fw.self_hostname.get_ref().clone())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(crate::event::fields::local_hostname),
            users: fw
                .users
                .iter()
                .map(|u| (u.username.clone(), u.password.clone()))
                .collect(),
            tls,
            tag_key: fw.tag_key.get_ref().clone(),
            limits: crate::forward::message::Limits {
                max_frame_bytes: (*fw.max_frame_bytes.get_ref()).min(1 << 31) as usize,
                max_decompressed_bytes: (*fw.max_decompressed_bytes.get_ref()).min(1 << 33)
                    as usize,
                max_depth: 64,
            },
        };
        let sl = &raw.syslog;
        let syslog_tls = match (
            sl.tls_cert_file.get_ref().as_str(),
            sl.tls_key_file.get_ref().as_str(),
        ) {
            ("", "") => None,
            (c, k) if !c.is_empty() && !k.is_empty() => Some((PathBuf::from(c), PathBuf::from(k))),
            _ => {
                problems.push(ConfigProblem {
                    line: Some(line_of(
                        text,
                        sl.tls_cert_file
                            .span()
                            .start
                            .max(sl.tls_key_file.span().start),
                    )),
                    key: "syslog.tls_cert_file".into(),
                    message: "set both tls_cert_file and tls_key_file, or neither".into(),
                });
                None
            }
        };
        if !(256..=(16 << 20)).contains(sl.max_message_bytes.get_ref()) {
            problems.push(ConfigProblem {
                line: problem_line(
                    text,
                    sl.max_message_bytes.span(),
                    "syslog.max_message_bytes",
                ),
                key: "syslog.max_message_bytes".into(),
                message: "must be between 256 and 16777216".into(),
            });
        }
        let syslog = SyslogConfig {
            enabled: *sl.enabled.get_ref(),
            max_message_bytes: *sl.max_message_bytes.get_ref() as usize,
            tls: syslog_tls,
        };
        let agent = crate::agent::config::validate(&raw.agent, &mut |span, key, msg| {
            problems.push(ConfigProblem {
                line: problem_line(text, span, key),
                key: key.to_string(),
                message: msg,
            })
        });
        let analysis = analysis::build(&raw.analysis, &mut |span, key, msg| {
            problems.push(ConfigProblem {
                line: problem_line(text, span, key),
                key: key.to_string(),
                message: msg,
            })
        });
        let alerting = alerting::build(&raw.alerting, &mut |span, key, msg| {
            problems.push(ConfigProblem {
                line: problem_line(text, span, key),
                key: key.to_string(),
                message: msg,
            })
        });
        // Checks of the stand-ins put in for values that did not read, and
        // of the tables holding them (a table whose misspelt key was
        // dropped now lacks it), repeat what is already reported.
        problems.retain(|p| {
            !collected
                .repaired
                .iter()
                .any(|r| collect::is_under(&p.key, r) || collect::is_under(r, &p.key))
        });
        if !problems.is_empty() || !read_problems.is_empty() {
            let mut all = read_problems;
            all.extend(problems);
            all.sort_by_key(|p| p.line);
            return Err(ConfigError {
                file: file.to_string(),
                problems: all,
            });
        }
        Ok(Config {
            data_dir: PathBuf::from(raw.server.data_dir.get_ref()),
            http_addr,
            forward_addr,
            syslog_addr,
            max_body_bytes: *raw.server.max_body_bytes.get_ref() as usize,
            max_inflight_bytes: *raw.server.max_inflight_bytes.get_ref() as usize,
            zstd_level: *raw.store.zstd_level.get_ref() as i32,
            default_time_zone: match raw.store.default_time_zone.get_ref().as_str() {
                "UTC" | "utc" | "Etc/UTC" => None,
                name => jiff::tz::TimeZone::get(name).ok(),
            },
            refresh_interval_ms: *raw.store.refresh_interval_ms.get_ref(),
            retention_days: *raw.store.retention_days.get_ref(),
            writer_heap_mb: *raw.store.writer_heap_mb.get_ref(),
            writer_threads: *raw.store.writer_threads.get_ref(),
            routes,
            forward,
            syslog,
            agent,
            analysis,
            alerting,
            config_path: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_valid() {
        let c = Config::from_str("", "x.toml").unwrap();
        assert_eq!(c.http_addr.port(), 9200);
        assert_eq!(c.refresh_interval_ms, 1000);
    }

    #[test]
    fn errors_name_file_line_key() {
        let text = "[server]\nhttp_addr = \"nope\"\n\n[store]\nrefresh_interval_ms = 0\n";
        let e = Config::from_str(text, "c.toml").unwrap_err();
        let s = e.to_string();
        assert!(s.contains("c.toml:2: server.http_addr"), "{s}");
        assert!(s.contains("c.toml:5: store.refresh_interval_ms"), "{s}");
    }

    #[test]
    fn unknown_key_is_rejected_with_line() {
        let e = Config::from_str("[server]\n\nhttp_adr = \"x\"\n", "c.toml").unwrap_err();
        let s = e.to_string();
        assert!(s.contains("c.toml:3"), "{s}");
        assert!(s.contains("http_adr"), "{s}");
    }

    #[test]
    fn routes() {
        let c = Config::from_str(
            "[[routes]]\nmatch = \"app.**\"\nindex = \"app-logs-%{+YYYY.MM.dd}\"\n",
            "c",
        )
        .unwrap();
        assert_eq!(c.routes.len(), 1);
        let e =
            Config::from_str("[[routes]]\nmatch = \"a\"\nindex = \"Bad Name\"\n", "c").unwrap_err();
        assert!(e.to_string().contains("routes[0].index"));
        let e = Config::from_str(
            "[[routes]]\nmatch = \"a.{b\"\nindex = \"x\"\ntime_source = \"later\"\n",
            "c",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("c:2: routes[0].match: unclosed"), "{e}");
        assert!(e.contains("c:4: routes[0].time_source"), "{e}");
    }

    #[test]
    fn forward_section() {
        let c = Config::from_str(
            "[forward]\nshared_key = \"k\"\n[[forward.users]]\nusername = \"u\"\npassword = \"p\"\n",
            "c",
        )
        .unwrap();
        assert_eq!(c.forward.shared_key.as_deref(), Some("k"));
        assert_eq!(c.forward.users, vec![("u".to_string(), "p".to_string())]);
        let e = Config::from_str("[forward]\ntls_cert_file = \"a.pem\"\n", "c")
            .unwrap_err()
            .to_string();
        assert!(e.contains("forward.tls_key_file"), "{e}");
    }
}

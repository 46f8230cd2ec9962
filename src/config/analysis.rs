//! `[analysis]`: pattern mining at ingest and the watches that look for
//! anomalies as each interval closes. Every key has a default; with no
//! `[[analysis.watches]]` the built-in watches run.

use serde::Deserialize;
use toml::Spanned;

use crate::analysis::patterns::{CustomMask, MinerConfig};

/// `[analysis]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalysisSection {
    /// Mine patterns at ingest and run the watches.
    pub enabled: Spanned<bool>,
    /// The watches' interval (a duration such as `1m`; 10s to 1d).
    pub interval: Spanned<String>,
    /// History each detection starts from, so that daily and weekly
    /// seasons are known (a duration; at least 10 intervals).
    pub lookback: Spanned<String>,
    /// Forget anomalies that ended longer ago than this many days.
    pub anomaly_retention_days: Spanned<u64>,
    /// Run the built-in watches (volume, per service, errors, error ratio,
    /// patterns, new patterns) besides any configured ones.
    pub default_watches: Spanned<bool>,
    /// Index pattern the built-in watches read.
    pub index: Spanned<String>,
    pub patterns: PatternsSection,
    pub watches: Vec<WatchSection>,
}

impl Default for AnalysisSection {
    fn default() -> Self {
        AnalysisSection {
            enabled: Spanned::new(0..0, true),
            interval: Spanned::new(0..0, "1m".into()),
            lookback: Spanned::new(0..0, "3d".into()),
            anomaly_retention_days: Spanned::new(0..0, 30),
            default_watches: Spanned::new(0..0, true),
            index: Spanned::new(0..0, "*".into()),
            patterns: PatternsSection::default(),
            watches: Vec::new(),
        }
    }
}

/// `[analysis.patterns]`: the miner.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PatternsSection {
    /// Different words at one position (all else equal) that make it a variable.
    pub min_distinct: Spanned<u64>,
    /// Templates per service; beyond it new kinds map to one overflow template.
    pub max_templates: Spanned<u64>,
    /// Extra masks, applied before the built-in ones.
    pub masks: Vec<MaskSection>,
}

impl Default for PatternsSection {
    fn default() -> Self {
        let d = MinerConfig::default();
        PatternsSection {
            min_distinct: Spanned::new(0..0, d.min_distinct as u64),
            max_templates: Spanned::new(0..0, d.max_templates as u64),
            masks: Vec::new(),
        }
    }
}

/// `[[analysis.patterns.masks]]`: matches of `regex` become `<NAME>`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaskSection {
    pub name: Spanned<String>,
    pub regex: Spanned<String>,
}

/// `[[analysis.watches]]`: one more series to watch.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchSection {
    pub name: Spanned<String>,
    /// `count` (events matching `query`), `error_ratio` (ERROR and FATAL
    /// among them) or `patterns` (count per pattern).
    #[serde(default)]
    pub kind: Option<Spanned<String>>,
    /// Lucene query syntax; empty = every event.
    #[serde(default)]
    pub query: Option<Spanned<String>>,
    /// Index pattern (default: `analysis.index`).
    #[serde(default)]
    pub index: Option<Spanned<String>>,
    /// One series per value of this keyword field (top `size`).
    #[serde(default)]
    pub split: Option<Spanned<String>>,
    #[serde(default)]
    pub size: Option<Spanned<u64>>,
}

/// What a watch measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchKind {
    Count,
    ErrorRatio,
    Patterns,
    NewPatterns,
}

impl WatchKind {
    /// The config's names.
    pub fn parse(s: &str) -> Option<WatchKind> {
        match s {
            "count" => Some(WatchKind::Count),
            "error_ratio" => Some(WatchKind::ErrorRatio),
            "patterns" => Some(WatchKind::Patterns),
            "new_patterns" => Some(WatchKind::NewPatterns),
            _ => None,
        }
    }
}

/// A validated watch.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchSpec {
    pub name: String,
    pub kind: WatchKind,
    pub index: String,
    /// Lucene syntax, already checked.
    pub query: String,
    pub split: Option<String>,
    pub size: usize,
}

/// The validated `[analysis]`.
#[derive(Debug, Clone)]
pub struct AnalysisConfig {
    pub enabled: bool,
    pub interval_ms: i64,
    pub lookback_ms: i64,
    pub retention_ms: i64,
    pub miner: MinerConfig,
    pub masks: Vec<CustomMask>,
    pub watches: Vec<WatchSpec>,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        let mut problems = Vec::new();
        build(&AnalysisSection::default(), &mut |_, _, m| problems.push(m))
    }
}

/// The built-in watches over `index`.
pub fn default_watches(index: &str) -> Vec<WatchSpec> {
    let w = |name: &str, kind, query: &str, split: Option<&str>| WatchSpec {
        name: name.into(),
        kind,
        index: index.into(),
        query: query.into(),
        split: split.map(String::from),
        size: 20,
    };
    vec![
        w("volume", WatchKind::Count, "", None),
        w("volume_by_service", WatchKind::Count, "", Some("@service")),
        w(
            "errors_by_service",
            WatchKind::Count,
            "@level:(ERROR OR FATAL)",
            Some("@service"),
        ),
        w(
            "error_ratio_by_service",
            WatchKind::ErrorRatio,
            "",
            Some("@service"),
        ),
        w("patterns", WatchKind::Patterns, "", None),
        w("new_patterns", WatchKind::NewPatterns, "", None),
    ]
}

/// Checks the section; each problem goes to `bad(span, key, message)`.
pub fn build(
    raw: &AnalysisSection,
    bad: &mut dyn FnMut(std::ops::Range<usize>, &str, String),
) -> AnalysisConfig {
    let interval_ms = super::alerting::duration(
        Some(&raw.interval),
        60_000,
        "analysis.interval",
        (10_000, 86_400_000),
        bad,
    );
    let lookback_ms = super::alerting::duration(
        Some(&raw.lookback),
        3 * 86_400_000,
        "analysis.lookback",
        (1, 90 * 86_400_000),
        bad,
    );
    if lookback_ms < 10 * interval_ms {
        bad(
            raw.lookback.span(),
            "analysis.lookback",
            format!(
                "must be at least 10 intervals ({}) so detection has a history",
                human(10 * interval_ms)
            ),
        );
    }
    let mut miner = MinerConfig::default();
    let md = *raw.patterns.min_distinct.get_ref();
    if !(2..=100).contains(&md) {
        bad(
            raw.patterns.min_distinct.span(),
            "analysis.patterns.min_distinct",
            "must be between 2 and 100".into(),
        );
    } else {
        miner.min_distinct = md as usize;
    }
    let mt = *raw.patterns.max_templates.get_ref();
    if !(10..=1_000_000).contains(&mt) {
        bad(
            raw.patterns.max_templates.span(),
            "analysis.patterns.max_templates",
            "must be between 10 and 1000000".into(),
        );
    } else {
        miner.max_templates = mt as usize;
    }
    let mut masks = Vec::new();
    for (i, m) in raw.patterns.masks.iter().enumerate() {
        let name = m.name.get_ref();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
            bad(
                m.name.span(),
                &format!("analysis.patterns.masks[{i}].name"),
                format!("'{name}' must be upper-case letters and _ (it becomes <{name}>)"),
            );
            continue;
        }
        match regex::Regex::new(m.regex.get_ref()) {
            Ok(regex) => masks.push(CustomMask {
                regex,
                replacement: format!("<{name}>"),
            }),
            Err(e) => bad(
                m.regex.span(),
                &format!("analysis.patterns.masks[{i}].regex"),
                format!("not a valid regex: {e}"),
            ),
        }
    }
    let mut watches = if *raw.default_watches.get_ref() {
        default_watches(raw.index.get_ref())
    } else {
        Vec::new()
    };
    for (i, w) in raw.watches.iter().enumerate() {
        let key = |k: &str| format!("analysis.watches[{i}].{k}");
        let name = w.name.get_ref().trim().to_string();
        if name.is_empty() || name.contains('/') {
            bad(
                w.name.span(),
                &key("name"),
                "must be a non-empty name without '/'".into(),
            );
        } else if watches.iter().any(|o| o.name == name) {
            bad(
                w.name.span(),
                &key("name"),
                format!("'{name}' is already a watch (names are unique; built-in names are taken when default_watches is on)"),
            );
        }
        let kind = match &w.kind {
            None => WatchKind::Count,
            Some(k) => match WatchKind::parse(k.get_ref()) {
                Some(kind) => kind,
                None => {
                    bad(
                        k.span(),
                        &key("kind"),
                        format!(
                            "'{}' is not one of count, error_ratio, patterns, new_patterns",
                            k.get_ref()
                        ),
                    );
                    WatchKind::Count
                }
            },
        };
        let query = w
            .query
            .as_ref()
            .map(|q| q.get_ref().clone())
            .unwrap_or_default();
        if let (Some(q), false) = (&w.query, query.trim().is_empty()) {
            if let Err(e) = crate::query::lucene::parse(&query, &Default::default()) {
                bad(q.span(), &key("query"), e.to_string());
            }
        }
        let size = w.size.as_ref().map_or(20, |s| *s.get_ref());
        if !(1..=1000).contains(&size) {
            if let Some(s) = &w.size {
                bad(s.span(), &key("size"), "must be between 1 and 1000".into());
            }
        }
        watches.push(WatchSpec {
            name,
            kind,
            index: w
                .index
                .as_ref()
                .map_or_else(|| raw.index.get_ref().clone(), |s| s.get_ref().clone()),
            query,
            split: w.split.as_ref().map(|s| s.get_ref().clone()),
            size: size.clamp(1, 1000) as usize,
        });
    }
    AnalysisConfig {
        enabled: *raw.enabled.get_ref(),
        interval_ms,
        lookback_ms,
        retention_ms: *raw.anomaly_retention_days.get_ref() as i64 * 86_400_000,
        miner,
        masks,
        watches,
    }
}

fn human(ms: i64) -> String {
    match ms {
        m if m % 86_400_000 == 0 => format!("{}d", m / 86_400_000),
        m if m % 3_600_000 == 0 => format!("{}h", m / 3_600_000),
        m if m % 60_000 == 0 => format!("{}m", m / 60_000),
        m if m % 1000 == 0 => format!("{}s", m / 1000),
        m => format!("{m}ms"),
    }
}

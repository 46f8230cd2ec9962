//! The Loghub benchmark: log-format strings, reading a system's sample and
//! its ground truth, and the scores the log-parsing literature reports
//! (grouping accuracy, pairwise F1, parsing accuracy).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use regex::Regex;

use super::mask::Masker;
use super::mask::Placeholder;
use super::miner::{Miner, MinerConfig};

/// A Loghub log format such as `<Date> <Time> <Level> <Component>: <Content>`:
/// `<Name>` is a header field, runs of spaces match any whitespace, the
/// rest is regex syntax (so `\[` is a bracket and `(...)?` is optional).
#[derive(Debug, Clone)]
pub struct LogFormat {
    regex: Regex,
}

impl LogFormat {
    /// Compiles a format; it must have a `<Content>` field.
    pub fn parse(format: &str) -> anyhow::Result<LogFormat> {
        let field = Regex::new(r"<([A-Za-z_][A-Za-z0-9_]*)>").expect("static regex");
        let mut pattern = String::from("^");
        let mut last = 0;
        let mut has_content = false;
        for m in field.captures_iter(format) {
            let whole = m.get(0).expect("group 0");
            push_literal(&mut pattern, &format[last..whole.start()]);
            let name = &m[1];
            has_content |= name == "Content";
            pattern.push_str(&format!("(?P<{name}>.*?)"));
            last = whole.end();
        }
        push_literal(&mut pattern, &format[last..]);
        pattern.push('$');
        if !has_content {
            bail!("log format '{format}' has no <Content> field");
        }
        let regex = Regex::new(&pattern)
            .with_context(|| format!("log format '{format}' is not a valid pattern"))?;
        Ok(LogFormat { regex })
    }

    /// The message part of a line, or the whole (trimmed) line when the
    /// format does not match it.
    pub fn content<'a>(&self, line: &'a str) -> &'a str {
        let line = line.trim();
        match self.regex.captures(line).and_then(|c| c.name("Content")) {
            Some(m) => m.as_str(),
            None => line,
        }
    }
}

fn push_literal(pattern: &mut String, lit: &str) {
    let mut spaces = false;
    for c in lit.chars() {
        if c == ' ' {
            if !spaces {
                pattern.push_str(r"\s+");
            }
            spaces = true;
        } else {
            spaces = false;
            pattern.push(c);
        }
    }
}

/// The log formats of the 16 Loghub systems, as the LogPAI benchmark
/// defines them (public facts, see the dataset notes).
pub const FORMATS: [(&str, &str); 16] = [
    ("HDFS", "<Date> <Time> <Pid> <Level> <Component>: <Content>"),
    ("Hadoop", r"<Date> <Time> <Level> \[<Process>\] <Component>: <Content>"),
    ("Spark", "<Date> <Time> <Level> <Component>: <Content>"),
    ("Zookeeper", r"<Date> <Time> - <Level>  \[<Node>:<Component>@<Id>\] - <Content>"),
    ("Linux", r"<Month> <Date> <Time> <Level> <Component>(\[<PID>\])?: <Content>"),
    ("Mac", r"<Month>  <Date> <Time> <User> <Component>\[<PID>\]( \(<Address>\))?: <Content>"),
    ("Apache", r"\[<Time>\] \[<Level>\] <Content>"),
    ("OpenSSH", r"<Date> <Day> <Time> <Component> sshd\[<Pid>\]: <Content>"),
    ("BGL", "<Label> <Timestamp> <Date> <Node> <Time> <NodeRepeat> <Type> <Component> <Level> <Content>"),
    ("HPC", "<LogId> <Node> <Component> <State> <Time> <Flag> <Content>"),
    ("Thunderbird", r"<Label> <Timestamp> <Date> <User> <Month> <Day> <Time> <Location> <Component>(\[<PID>\])?: <Content>"),
    ("Windows", "<Date> <Time>, <Level>                  <Component>    <Content>"),
    ("Android", "<Date> <Time>  <Pid>  <Tid> <Level> <Component>: <Content>"),
    ("HealthApp", r"<Time>\|<Component>\|<Pid>\|<Content>"),
    ("Proxifier", r"\[<Time>\] <Program> - <Content>"),
    ("OpenStack", r"<Logrecord> <Date> <Time> <Pid> <Level> <Component> \[<ADDR>\] <Content>"),
];

/// The benchmark format of a Loghub system by name.
pub fn format_of(system: &str) -> Option<&'static str> {
    FORMATS.iter().find(|(s, _)| *s == system).map(|(_, f)| *f)
}

/// Published grouping accuracy of Drain on the Loghub-2k samples (LogPAI
/// benchmark, per-system settings), for the report.
pub fn drain_reference(system: &str) -> Option<f64> {
    let table = [
        ("HDFS", 0.9975),
        ("Hadoop", 0.9475),
        ("Spark", 0.9200),
        ("Zookeeper", 0.9665),
        ("Linux", 0.6900),
        ("Mac", 0.7865),
        ("Apache", 1.0),
        ("OpenSSH", 0.7875),
        ("BGL", 0.9625),
        ("HPC", 0.8870),
        ("Thunderbird", 0.9550),
        ("Windows", 0.9970),
        ("Android", 0.9110),
        ("HealthApp", 0.7800),
        ("Proxifier", 0.5265),
        ("OpenStack", 0.7325),
    ];
    table.iter().find(|(s, _)| *s == system).map(|(_, v)| *v)
}

/// Brain's published grouping accuracy (IEEE TSC 2023, per-system
/// preprocessing), where the issue quotes it.
pub fn brain_reference(system: &str) -> Option<f64> {
    let table = [
        ("HDFS", 0.9975),
        ("Hadoop", 0.949),
        ("Spark", 0.9975),
        ("Zookeeper", 0.9875),
        ("Linux", 0.996),
        ("Mac", 0.942),
        ("Apache", 1.0),
        ("OpenSSH", 1.0),
    ];
    table.iter().find(|(s, _)| *s == system).map(|(_, v)| *v)
}

/// One line's result: the pattern it was put in, and that pattern's text.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub event_id: String,
    pub template: String,
}

/// Runs a fresh miner over the contents, in order, and gives each line its
/// final template (after every merge the whole input caused).
pub fn mine_lines<'a>(contents: impl IntoIterator<Item = &'a str>) -> Vec<Parsed> {
    let mut miner = Miner::new("", MinerConfig::default(), Masker::default());
    let ids: Vec<_> = contents.into_iter().map(|c| miner.add(c)).collect();
    ids.into_iter()
        .map(|id| {
            let root = miner.resolve(id).unwrap_or(id);
            Parsed {
                event_id: root.to_hex(),
                template: miner.template_text(root).unwrap_or_default(),
            }
        })
        .collect()
}

/// Share of lines whose predicted group is exactly their true group.
pub fn grouping_accuracy(pred: &[String], truth: &[String]) -> f64 {
    let mut truth_size: HashMap<&str, usize> = HashMap::new();
    for t in truth {
        *truth_size.entry(t).or_default() += 1;
    }
    let mut groups: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, p) in pred.iter().enumerate() {
        groups.entry(p).or_default().push(i);
    }
    let mut correct = 0;
    for lines in groups.values() {
        let t = &truth[lines[0]];
        if lines.iter().all(|&i| &truth[i] == t) && truth_size[t.as_str()] == lines.len() {
            correct += lines.len();
        }
    }
    correct as f64 / truth.len().max(1) as f64
}

/// Pairwise F1 over all pairs of lines (the LogPAI benchmark's F1).
pub fn pairwise_f1(pred: &[String], truth: &[String]) -> f64 {
    let pairs = |n: usize| (n * n.saturating_sub(1) / 2) as f64;
    let mut p_sizes: HashMap<&str, usize> = HashMap::new();
    let mut t_sizes: HashMap<&str, usize> = HashMap::new();
    let mut both: HashMap<(&str, &str), usize> = HashMap::new();
    for (p, t) in pred.iter().zip(truth) {
        *p_sizes.entry(p).or_default() += 1;
        *t_sizes.entry(t).or_default() += 1;
        *both.entry((p, t)).or_default() += 1;
    }
    let together: f64 = both.values().map(|&n| pairs(n)).sum();
    let pred_pairs: f64 = p_sizes.values().map(|&n| pairs(n)).sum();
    let truth_pairs: f64 = t_sizes.values().map(|&n| pairs(n)).sum();
    if pred_pairs == 0.0 || truth_pairs == 0.0 {
        return if pred_pairs == truth_pairs { 1.0 } else { 0.0 };
    }
    let (precision, recall) = (together / pred_pairs, together / truth_pairs);
    if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    }
}

/// A template in Loghub-2.0's spelling: variables as whole `<*>` tokens
/// (`blk_<NUM>` and `/<IP>` both become `<*>`), whitespace collapsed.
pub fn loghub_spelling(template: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for tok in template.split_whitespace() {
        let variable =
            tok.contains("<*>") || Placeholder::ALL.iter().any(|p| tok.contains(p.as_str()));
        out.push(if variable { "<*>" } else { tok });
    }
    out.join(" ")
}

/// Share of lines whose template text equals the truth (both in Loghub
/// spelling).
pub fn parsing_accuracy(pred: &[String], truth: &[String]) -> f64 {
    let ok = pred
        .iter()
        .zip(truth)
        .filter(|(p, t)| loghub_spelling(p) == loghub_spelling(t))
        .count();
    ok as f64 / truth.len().max(1) as f64
}

/// A system's sample: the raw lines and the truth columns.
#[derive(Debug)]
pub struct Sample {
    pub system: String,
    pub lines: Vec<String>,
    pub event_ids: Vec<String>,
    pub templates: Vec<String>,
}

/// Reads `<dir>/<Sys>/<Sys>_2k.log` and the truth file next to it
/// (`_structured.csv`, or `truth_suffix` instead).
pub fn read_sample(dir: &Path, system: &str, truth_suffix: &str) -> anyhow::Result<Sample> {
    let base = dir.join(system);
    let log = base.join(format!("{system}_2k.log"));
    let text = std::fs::read(&log).with_context(|| format!("cannot read {}", log.display()))?;
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<String> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l).to_string())
        .filter(|l| !l.trim().is_empty())
        .collect();
    let truth = base.join(format!("{system}_2k{truth_suffix}"));
    let mut rdr = csv::Reader::from_path(&truth)
        .with_context(|| format!("cannot read {}", truth.display()))?;
    let headers = rdr.headers()?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .with_context(|| format!("{}: no column {name}", truth.display()))
    };
    let (ide, tpl) = (col("EventId")?, col("EventTemplate")?);
    let (mut event_ids, mut templates) = (Vec::new(), Vec::new());
    for (n, row) in rdr.records().enumerate() {
        let row = row.with_context(|| format!("{}: row {}", truth.display(), n + 2))?;
        event_ids.push(row.get(ide).unwrap_or("").to_string());
        templates.push(row.get(tpl).unwrap_or("").to_string());
    }
    if event_ids.len() != lines.len() {
        bail!(
            "{}: {} truth rows for {} log lines",
            truth.display(),
            event_ids.len(),
            lines.len()
        );
    }
    Ok(Sample {
        system: system.to_string(),
        lines,
        event_ids,
        templates,
    })
}

/// Scores of one system.
#[derive(Debug, Clone)]
pub struct SystemScore {
    pub system: String,
    pub lines: usize,
    pub truth_groups: usize,
    pub found_groups: usize,
    pub grouping_accuracy: f64,
    pub pairwise_f1: f64,
    /// On the corrected truth, when it was found.
    pub parsing_accuracy: Option<f64>,
    pub seconds: f64,
}

/// The systems of a Loghub-layout folder: subfolders holding `<Sys>_2k.log`.
pub fn systems_in(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if e.path().join(format!("{name}_2k.log")).is_file() {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

/// Mines and scores one system. `corrected` is a folder of the
/// Loghub-2.0 corrected layout for the parsing accuracy.
pub fn score_system(
    dir: &Path,
    system: &str,
    format: &str,
    corrected: Option<&PathBuf>,
) -> anyhow::Result<SystemScore> {
    let fmt = LogFormat::parse(format)?;
    let sample = read_sample(dir, system, ".log_structured.csv")?;
    let start = std::time::Instant::now();
    let parsed = mine_lines(sample.lines.iter().map(|l| fmt.content(l)));
    let seconds = start.elapsed().as_secs_f64();
    let pred: Vec<String> = parsed.iter().map(|p| p.event_id.clone()).collect();
    let found_groups = pred.iter().collect::<std::collections::HashSet<_>>().len();
    let truth_groups = sample
        .event_ids
        .iter()
        .collect::<std::collections::HashSet<_>>()
        .len();
    let parsing_accuracy = match corrected {
        Some(c) if c.join(system).is_dir() => {
            let fixed = read_sample(c, system, ".log_structured_corrected.csv")?;
            let templates: Vec<String> = parsed.iter().map(|p| p.template.clone()).collect();
            Some(parsing_accuracy(&templates, &fixed.templates))
        }
        _ => None,
    };
    Ok(SystemScore {
        system: system.to_string(),
        lines: sample.lines.len(),
        truth_groups,
        found_groups,
        grouping_accuracy: grouping_accuracy(&pred, &sample.event_ids),
        pairwise_f1: pairwise_f1(&pred, &sample.event_ids),
        parsing_accuracy,
        seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn format_splits_headers_lazily() {
        let f = LogFormat::parse(format_of("Zookeeper").unwrap()).unwrap();
        let line = "2015-07-29 17:41:44,747 - INFO  [QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:FastLeaderElection@774] - Notification time out: 3200";
        assert_eq!(f.content(line), "Notification time out: 3200");
        let f = LogFormat::parse(format_of("Linux").unwrap()).unwrap();
        assert_eq!(
            f.content("Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; x"),
            "authentication failure; x"
        );
        assert!(LogFormat::parse("<Date> <Time>").is_err());
        assert_eq!(
            LogFormat::parse("<Content>")
                .unwrap()
                .content("  whole line "),
            "whole line"
        );
    }

    #[test]
    fn metrics_on_known_answers() {
        let truth = s(&["a", "a", "b", "b", "c"]);
        assert_eq!(
            grouping_accuracy(&s(&["x", "x", "y", "y", "z"]), &truth),
            1.0
        );
        // b split in two: the 2 lines of b are wrong
        assert_eq!(
            grouping_accuracy(&s(&["x", "x", "y", "w", "z"]), &truth),
            0.6
        );
        // a and b merged: 4 lines wrong
        assert_eq!(
            grouping_accuracy(&s(&["x", "x", "x", "x", "z"]), &truth),
            0.2
        );
        assert_eq!(pairwise_f1(&s(&["x", "x", "y", "y", "z"]), &truth), 1.0);
        // merged: 6 predicted pairs, 2 true ones together: P=1/3, R=1
        let f1 = pairwise_f1(&s(&["x", "x", "x", "x", "z"]), &truth);
        assert!((f1 - 0.5).abs() < 1e-12, "{f1}");
        assert_eq!(
            loghub_spelling("Served block blk_<NUM> to /<IP>"),
            "Served block <*> to <*>"
        );
    }
}

/// Scores every system of a Loghub-layout folder. `formats` overrides or
/// adds log formats by system name; `corrected` is the folder of the
/// corrected truth for the parsing accuracy.
pub fn eval_dir(
    dir: &Path,
    formats: &[(String, String)],
    corrected: Option<&PathBuf>,
) -> anyhow::Result<Vec<SystemScore>> {
    let systems = systems_in(dir)?;
    if systems.is_empty() {
        bail!(
            "{}: no system folders (<Sys>/<Sys>_2k.log) found",
            dir.display()
        );
    }
    let mut out = Vec::new();
    for s in systems {
        let fmt = formats
            .iter()
            .find(|(name, _)| *name == s)
            .map(|(_, f)| f.as_str())
            .or_else(|| format_of(&s));
        let Some(fmt) = fmt else {
            bail!("no log format known for {s}: give one with --format '{s}=<Date> <Time> ... <Content>'");
        };
        out.push(score_system(dir, &s, fmt, corrected)?);
    }
    Ok(out)
}

/// The report `eval patterns` prints: one row per system, the published
/// Drain and Brain figures beside ours, and the means.
pub fn render_report(scores: &[SystemScore]) -> String {
    let mut s = String::from(
        "system       lines  groups(truth)  GA      Drain GA  Brain GA  pairwise F1  PA (corrected)\n",
    );
    let fmt_opt = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.4}"));
    for r in scores {
        s.push_str(&format!(
            "{:<12} {:>5}  {:>5} ({:>4})   {:.4}  {:<8}  {:<8}  {:.4}       {}\n",
            r.system,
            r.lines,
            r.found_groups,
            r.truth_groups,
            r.grouping_accuracy,
            fmt_opt(drain_reference(&r.system)),
            fmt_opt(brain_reference(&r.system)),
            r.pairwise_f1,
            fmt_opt(r.parsing_accuracy),
        ));
    }
    let n = scores.len().max(1) as f64;
    let mean = |f: &dyn Fn(&SystemScore) -> Option<f64>| {
        let v: Vec<f64> = scores.iter().filter_map(f).collect();
        (v.len() == scores.len() && !v.is_empty()).then(|| v.iter().sum::<f64>() / n)
    };
    s.push_str(&format!(
        "mean                               {:.4}  {:<8}  {:<8}  {:.4}       {}\n",
        mean(&|r| Some(r.grouping_accuracy)).unwrap_or(0.0),
        fmt_opt(mean(&|r| drain_reference(&r.system))),
        fmt_opt(mean(&|r| brain_reference(&r.system))),
        mean(&|r| Some(r.pairwise_f1)).unwrap_or(0.0),
        fmt_opt(mean(&|r| r.parsing_accuracy)),
    ));
    s
}

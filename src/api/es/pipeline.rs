//! Pipeline aggregations (what Grafana's metric queries add to a
//! `date_histogram`): computed from the rendered buckets of the
//! aggregations they refer to, after the store has answered. They are taken
//! out of the request before the store sees it, so the engines know nothing
//! of them.
//!
//! Parent pipelines, inside a multi-bucket aggregation, add a value to each
//! of its buckets: `derivative`, `cumulative_sum`, `serial_diff`,
//! `moving_fn` (the `MovingFunctions` scripts: `unweightedAvg`,
//! `linearWeightedAvg`, `min`, `max`, `sum`, `stdDev`), `bucket_script`
//! (arithmetic over `params.<var>`). Sibling pipelines, beside one, give a
//! value over its buckets: `avg_bucket`, `sum_bucket`, `min_bucket`,
//! `max_bucket`, `stats_bucket`. `buckets_path` takes `_count`, `_key`, a
//! metric (`m`, `m.value`, `m.avg`, `m[99.0]`, `m.99`) or another pipeline's
//! output, and for siblings `agg>metric`.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::api::error::ApiError;

const PARENT: [&str; 5] = [
    "derivative",
    "cumulative_sum",
    "serial_diff",
    "moving_fn",
    "bucket_script",
];
const SIBLING: [&str; 5] = [
    "avg_bucket",
    "sum_bucket",
    "min_bucket",
    "max_bucket",
    "stats_bucket",
];
/// Pipelines Elasticsearch has that logweave does not compute yet.
const UNSUPPORTED: [&str; 8] = [
    "bucket_selector",
    "bucket_sort",
    "moving_avg",
    "percentiles_bucket",
    "extended_stats_bucket",
    "cumulative_cardinality",
    "normalize",
    "inference",
];

/// How missing values are treated (`gap_policy`).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Gap {
    Skip,
    InsertZeros,
    KeepValues,
}

/// One pipeline aggregation as written.
#[derive(Debug, Clone)]
struct Pipe {
    name: String,
    kind: String,
    body: Map<String, Value>,
    gap: Gap,
}

/// The pipelines of one level of the request, and of the levels below it
/// by aggregation name.
#[derive(Debug, Default, Clone)]
pub struct Plan {
    /// Pipelines in the sub-aggregations of this aggregation (parents).
    parents: Vec<Pipe>,
    /// Sibling pipelines at this level (beside this level's aggregations).
    siblings: Vec<Pipe>,
    children: BTreeMap<String, Plan>,
}

impl Plan {
    /// Whether there is anything to compute.
    pub fn is_empty(&self) -> bool {
        self.parents.is_empty()
            && self.siblings.is_empty()
            && self.children.values().all(Plan::is_empty)
    }
}

fn bad(msg: String) -> ApiError {
    ApiError::bad_request("illegal_argument_exception", msg)
}

/// Removes the pipeline aggregations from a search body (`aggs` or
/// `aggregations`, any depth) and returns what to compute afterwards.
pub fn take(body: &mut Value) -> Result<Plan, ApiError> {
    let mut plan = Plan::default();
    if let Some(m) = body.as_object_mut() {
        for key in ["aggs", "aggregations"] {
            if let Some(Value::Object(aggs)) = m.get_mut(key) {
                plan.siblings
                    .extend(take_level(aggs, &mut plan.children, &[])?);
            }
        }
    }
    Ok(plan)
}

/// One `aggs` object: its pipelines are removed; returns the siblings.
fn take_level(
    aggs: &mut Map<String, Value>,
    children: &mut BTreeMap<String, Plan>,
    path: &[String],
) -> Result<Vec<Pipe>, ApiError> {
    let mut found = Vec::new();
    let names: Vec<String> = aggs.keys().cloned().collect();
    for name in names {
        let Some(Value::Object(def)) = aggs.get(&name) else {
            continue;
        };
        let kind = def
            .keys()
            .find(|k| !matches!(k.as_str(), "aggs" | "aggregations" | "meta"))
            .cloned();
        let Some(kind) = kind else { continue };
        if UNSUPPORTED.contains(&kind.as_str()) {
            return Err(bad(format!(
                "the [{kind}] pipeline aggregation [{name}] is not supported; supported: {}, {}",
                PARENT.join(", "),
                SIBLING.join(", ")
            )));
        }
        if PARENT.contains(&kind.as_str()) || SIBLING.contains(&kind.as_str()) {
            let body = def
                .get(&kind)
                .and_then(Value::as_object)
                .cloned()
                .ok_or_else(|| {
                    bad(format!(
                        "[{name}]: the [{kind}] definition must be an object"
                    ))
                })?;
            let gap = match body.get("gap_policy").and_then(Value::as_str) {
                None | Some("skip") => Gap::Skip,
                Some("insert_zeros") => Gap::InsertZeros,
                Some("keep_values") => Gap::KeepValues,
                Some(o) => {
                    return Err(bad(format!(
                        "[{name}]: gap_policy '{o}' is not skip, insert_zeros or keep_values"
                    )))
                }
            };
            if !body.contains_key("buckets_path") {
                return Err(bad(format!("[{name}]: [{kind}] needs a [buckets_path]")));
            }
            found.push(Pipe {
                name: name.clone(),
                kind,
                body,
                gap,
            });
            aggs.remove(&name);
            continue;
        }
        // a bucket or metric aggregation: look inside it
        let mut p = path.to_vec();
        p.push(name.clone());
        let child = children.entry(name.clone()).or_default();
        if let Some(Value::Object(def)) = aggs.get_mut(&name) {
            for key in ["aggs", "aggregations"] {
                if let Some(Value::Object(sub)) = def.get_mut(key) {
                    let pipes = take_level(sub, &mut child.children, &p)?;
                    for pipe in pipes {
                        if PARENT.contains(&pipe.kind.as_str()) {
                            child.parents.push(pipe);
                        } else {
                            child.siblings.push(pipe);
                        }
                    }
                }
            }
        }
    }
    // parents found at the top level have no multi-bucket parent
    if path.is_empty() {
        if let Some(p) = found.iter().find(|p| PARENT.contains(&p.kind.as_str())) {
            return Err(bad(format!(
                "[{}]: a [{}] aggregation must be inside a multi-bucket aggregation such as date_histogram",
                p.name, p.kind
            )));
        }
    }
    Ok(found)
}

/// Computes the plan into rendered `aggregations`.
pub fn apply(plan: &Plan, aggregations: &mut Value) -> Result<(), ApiError> {
    if let Value::Object(container) = aggregations {
        apply_level(plan, container)?;
    }
    Ok(())
}

fn apply_level(plan: &Plan, container: &mut Map<String, Value>) -> Result<(), ApiError> {
    for (name, child) in &plan.children {
        let Some(agg) = container.get_mut(name) else {
            continue;
        };
        match agg.get_mut("buckets") {
            Some(Value::Array(buckets)) => {
                for b in buckets.iter_mut() {
                    if let Value::Object(bm) = b {
                        apply_level(child, bm)?;
                    }
                }
                for p in &child.parents {
                    parent(p, buckets)?;
                }
            }
            Some(Value::Object(keyed)) => {
                for b in keyed.values_mut() {
                    if let Value::Object(bm) = b {
                        apply_level(child, bm)?;
                    }
                }
                if let Some(p) = child.parents.first() {
                    return Err(bad(format!(
                        "[{}]: pipelines need `keyed: false` buckets",
                        p.name
                    )));
                }
            }
            _ => {
                // a single-bucket aggregation (filter, missing): its sub-aggs
                if let Value::Object(m) = agg {
                    apply_level(child, m)?;
                }
            }
        }
    }
    for p in &plan.siblings {
        let v = sibling(p, container)?;
        container.insert(p.name.clone(), v);
    }
    Ok(())
}

/// A value in a bucket by a `buckets_path` relative to it.
fn lookup(bucket: &Value, path: &str) -> Option<f64> {
    match path {
        "_count" => return bucket.get("doc_count").and_then(Value::as_f64),
        "_key" => return bucket.get("key").and_then(Value::as_f64),
        _ => {}
    }
    // `m[99.0]` (percentiles), `m.value`, `m.avg`, `m.99`
    let (agg, rest) = if let Some(i) = path.find('[') {
        (&path[..i], Some(path[i + 1..].trim_end_matches(']')))
    } else if let Some(i) = path.find('.') {
        (&path[..i], Some(&path[i + 1..]))
    } else {
        (path, None)
    };
    let a = bucket.get(agg)?;
    match rest {
        None => a.get("value").and_then(Value::as_f64),
        Some(field) => {
            if let Some(v) = a.get(field).and_then(Value::as_f64) {
                return Some(v);
            }
            let values = a.get("values")?;
            if let Some(v) = values.get(field).and_then(Value::as_f64) {
                return Some(v);
            }
            // `99` finds `99.0`
            let want: f64 = field.parse().ok()?;
            match values {
                Value::Object(m) => m
                    .iter()
                    .find(|(k, _)| k.parse::<f64>().ok() == Some(want))
                    .and_then(|(_, v)| v.as_f64()),
                Value::Array(items) => items
                    .iter()
                    .find(|x| x.get("key").and_then(Value::as_f64) == Some(want))
                    .and_then(|x| x.get("value").and_then(Value::as_f64)),
                _ => None,
            }
        }
    }
}

fn path_str(p: &Pipe) -> Result<&str, ApiError> {
    p.body
        .get("buckets_path")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            bad(format!(
                "[{}]: [buckets_path] must be a string for [{}]",
                p.name, p.kind
            ))
        })
}

/// The values of `path` in each bucket, with the gap policy applied.
fn series(p: &Pipe, buckets: &[Value], path: &str) -> Result<Vec<Option<f64>>, ApiError> {
    if !buckets.is_empty() && buckets.iter().all(|b| lookup(b, path).is_none()) {
        let first = &buckets[0];
        let agg = path.split(['.', '[']).next().unwrap_or(path);
        if path != "_count" && first.get(agg).is_none() {
            return Err(bad(format!(
                "[{}]: No aggregation found for path [{path}]",
                p.name
            )));
        }
    }
    Ok(buckets
        .iter()
        .map(|b| match (lookup(b, path), p.gap) {
            (Some(v), _) if v.is_finite() => Some(v),
            (_, Gap::InsertZeros) => Some(0.0),
            _ => None,
        })
        .collect())
}

fn num(v: Option<f64>) -> Value {
    v.filter(|x| x.is_finite())
        .map_or(Value::Null, |x| json!(x))
}

/// A parent pipeline: one value per bucket.
fn parent(p: &Pipe, buckets: &mut [Value]) -> Result<(), ApiError> {
    let out: Vec<Option<Value>> = match p.kind.as_str() {
        "derivative" | "serial_diff" => {
            let vals = series(p, buckets, path_str(p)?)?;
            let lag = if p.kind == "serial_diff" {
                p.body
                    .get("lag")
                    .and_then(Value::as_u64)
                    .unwrap_or(1)
                    .max(1) as usize
            } else {
                1
            };
            let mut out = vec![None; vals.len()];
            if p.kind == "derivative" {
                // with skip, the previous value is the last bucket that had one
                let mut prev: Option<f64> = None;
                for (i, v) in vals.iter().enumerate() {
                    if let Some(v) = v {
                        if let Some(pv) = prev {
                            out[i] = Some(json!({"value": v - pv}));
                        }
                        prev = Some(*v);
                    }
                }
            } else {
                for i in lag..vals.len() {
                    if let (Some(a), Some(b)) = (vals[i], vals[i - lag]) {
                        out[i] = Some(json!({"value": a - b}));
                    }
                }
            }
            out
        }
        "cumulative_sum" => {
            let vals = series(p, buckets, path_str(p)?)?;
            let mut sum = 0.0;
            vals.iter()
                .map(|v| {
                    sum += v.unwrap_or(0.0);
                    Some(json!({"value": sum}))
                })
                .collect()
        }
        "moving_fn" => {
            let vals = series(p, buckets, path_str(p)?)?;
            let window = p
                .body
                .get("window")
                .and_then(Value::as_u64)
                .filter(|w| *w > 0)
                .ok_or_else(|| {
                    bad(format!(
                        "[{}]: [moving_fn] needs a positive [window]",
                        p.name
                    ))
                })? as i64;
            let shift = p.body.get("shift").and_then(Value::as_i64).unwrap_or(0);
            let script = script_text(p)?;
            let f = moving_function(&script).ok_or_else(|| {
                bad(format!(
                    "[{}]: moving_fn script '{script}' is not one of MovingFunctions.unweightedAvg, linearWeightedAvg, min, max, sum, stdDev",
                    p.name
                ))
            })?;
            let n = vals.len() as i64;
            (0..n)
                .map(|i| {
                    let (lo, hi) = ((i - window + shift).max(0), (i + shift).min(n));
                    let win: Vec<f64> = (lo..hi.max(lo)).filter_map(|j| vals[j as usize]).collect();
                    Some(json!({"value": num(f(&win))}))
                })
                .collect()
        }
        "bucket_script" => {
            let vars = p
                .body
                .get("buckets_path")
                .and_then(Value::as_object)
                .ok_or_else(|| {
                    bad(format!(
                        "[{}]: [bucket_script] needs [buckets_path] as an object of variables",
                        p.name
                    ))
                })?;
            let script = script_text(p)?;
            let expr = Expr::parse(&script)
                .map_err(|e| bad(format!("[{}]: script '{script}': {e}", p.name)))?;
            let mut out = Vec::with_capacity(buckets.len());
            for b in buckets.iter() {
                let mut env = BTreeMap::new();
                let mut missing = false;
                for (var, path) in vars {
                    let path = path.as_str().unwrap_or_default();
                    match lookup(b, path) {
                        Some(v) => {
                            env.insert(var.clone(), v);
                        }
                        None if p.gap == Gap::InsertZeros => {
                            env.insert(var.clone(), 0.0);
                        }
                        None => missing = true,
                    }
                }
                out.push(if missing {
                    None
                } else {
                    Some(json!({"value": num(expr.eval(&env))}))
                });
            }
            out
        }
        _ => return Ok(()),
    };
    for (b, v) in buckets.iter_mut().zip(out) {
        if let (Value::Object(m), Some(v)) = (b, v) {
            m.insert(p.name.clone(), v);
        }
    }
    Ok(())
}

fn script_text(p: &Pipe) -> Result<String, ApiError> {
    match p.body.get("script") {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Object(o)) => o
            .get("source")
            .or_else(|| o.get("inline"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| bad(format!("[{}]: [script] needs a [source]", p.name))),
        _ => Err(bad(format!("[{}]: [{}] needs a [script]", p.name, p.kind))),
    }
}

type WindowFn = fn(&[f64]) -> Option<f64>;

/// The `MovingFunctions` Grafana generates, by their script text.
fn moving_function(script: &str) -> Option<WindowFn> {
    let s: String = script.chars().filter(|c| !c.is_whitespace()).collect();
    let s = s.trim_end_matches(';');
    Some(match s {
        "MovingFunctions.unweightedAvg(values)" => {
            |w| (!w.is_empty()).then(|| w.iter().sum::<f64>() / w.len() as f64)
        }
        "MovingFunctions.linearWeightedAvg(values)" => |w| {
            (!w.is_empty()).then(|| {
                let (mut num, mut den) = (0.0, 0.0);
                for (i, v) in w.iter().enumerate() {
                    num += v * (i + 1) as f64;
                    den += (i + 1) as f64;
                }
                num / den
            })
        },
        "MovingFunctions.min(values)" => |w| w.iter().copied().reduce(f64::min),
        "MovingFunctions.max(values)" => |w| w.iter().copied().reduce(f64::max),
        "MovingFunctions.sum(values)" => |w| Some(w.iter().sum()),
        "MovingFunctions.stdDev(values,MovingFunctions.unweightedAvg(values))" => |w| {
            (!w.is_empty()).then(|| {
                let m = w.iter().sum::<f64>() / w.len() as f64;
                (w.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / w.len() as f64).sqrt()
            })
        },
        _ => return None,
    })
}

/// A sibling pipeline: one value over the buckets of `agg>metric`.
fn sibling(p: &Pipe, container: &Map<String, Value>) -> Result<Value, ApiError> {
    let path = path_str(p)?;
    let (agg, metric) = path.split_once('>').ok_or_else(|| {
        bad(format!(
            "[{}]: [buckets_path] '{path}' must name an aggregation and a metric: agg>metric",
            p.name
        ))
    })?;
    let buckets = container
        .get(agg)
        .and_then(|a| a.get("buckets"))
        .and_then(Value::as_array)
        .ok_or_else(|| {
            bad(format!(
                "[{}]: No aggregation found for path [{path}]",
                p.name
            ))
        })?;
    let vals = series(p, buckets, metric)?;
    let present: Vec<(usize, f64)> = vals
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| (i, v)))
        .collect();
    let keys = |pick: f64| -> Value {
        Value::Array(
            present
                .iter()
                .filter(|(_, v)| *v == pick)
                .map(|(i, _)| {
                    buckets[*i]
                        .get("key_as_string")
                        .or_else(|| buckets[*i].get("key"))
                        .cloned()
                        .unwrap_or(Value::Null)
                })
                .map(|k| {
                    if k.is_string() {
                        k
                    } else {
                        Value::String(k.to_string())
                    }
                })
                .collect(),
        )
    };
    let sum: f64 = present.iter().map(|(_, v)| v).sum();
    let n = present.len();
    Ok(match p.kind.as_str() {
        "sum_bucket" => json!({"value": sum}),
        "avg_bucket" => json!({"value": num((n > 0).then(|| sum / n as f64))}),
        "min_bucket" | "max_bucket" => {
            let pick = present
                .iter()
                .map(|(_, v)| *v)
                .reduce(if p.kind == "min_bucket" {
                    f64::min
                } else {
                    f64::max
                });
            match pick {
                Some(v) => json!({"value": v, "keys": keys(v)}),
                None => json!({"value": null, "keys": []}),
            }
        }
        _ => {
            let min = present.iter().map(|(_, v)| *v).reduce(f64::min);
            let max = present.iter().map(|(_, v)| *v).reduce(f64::max);
            json!({"count": n, "min": num(min), "max": num(max), "avg": num((n > 0).then(|| sum / n as f64)), "sum": sum})
        }
    })
}

/// `bucket_script` arithmetic: numbers, `params.<name>`, `+ - * /`,
/// unary minus and parentheses (what Grafana's script editor produces).
#[derive(Debug, Clone)]
enum Expr {
    Num(f64),
    Var(String),
    Neg(Box<Expr>),
    Bin(Box<Expr>, char, Box<Expr>),
}

impl Expr {
    fn parse(s: &str) -> Result<Expr, String> {
        let toks: Vec<char> = s.trim().trim_end_matches(';').chars().collect();
        let mut pos = 0;
        let e = Self::sum(&toks, &mut pos)?;
        Self::ws(&toks, &mut pos);
        if pos < toks.len() {
            return Err(format!("unexpected '{}' at {pos}", toks[pos]));
        }
        Ok(e)
    }

    fn ws(t: &[char], pos: &mut usize) {
        while *pos < t.len() && t[*pos].is_whitespace() {
            *pos += 1;
        }
    }

    fn sum(t: &[char], pos: &mut usize) -> Result<Expr, String> {
        let mut e = Self::product(t, pos)?;
        loop {
            Self::ws(t, pos);
            match t.get(*pos) {
                Some(&op @ ('+' | '-')) => {
                    *pos += 1;
                    e = Expr::Bin(Box::new(e), op, Box::new(Self::product(t, pos)?));
                }
                _ => return Ok(e),
            }
        }
    }

    fn product(t: &[char], pos: &mut usize) -> Result<Expr, String> {
        let mut e = Self::atom(t, pos)?;
        loop {
            Self::ws(t, pos);
            match t.get(*pos) {
                Some(&op @ ('*' | '/')) => {
                    *pos += 1;
                    e = Expr::Bin(Box::new(e), op, Box::new(Self::atom(t, pos)?));
                }
                _ => return Ok(e),
            }
        }
    }

    fn atom(t: &[char], pos: &mut usize) -> Result<Expr, String> {
        Self::ws(t, pos);
        match t.get(*pos) {
            Some('(') => {
                *pos += 1;
                let e = Self::sum(t, pos)?;
                Self::ws(t, pos);
                if t.get(*pos) != Some(&')') {
                    return Err(format!("missing ')' at {pos}"));
                }
                *pos += 1;
                Ok(e)
            }
            Some('-') => {
                *pos += 1;
                Ok(Expr::Neg(Box::new(Self::atom(t, pos)?)))
            }
            Some(c) if c.is_ascii_digit() || *c == '.' => {
                let start = *pos;
                while *pos < t.len() && (t[*pos].is_ascii_digit() || t[*pos] == '.') {
                    *pos += 1;
                }
                let s: String = t[start..*pos].iter().collect();
                s.parse()
                    .map(Expr::Num)
                    .map_err(|_| format!("'{s}' is not a number"))
            }
            Some(c) if c.is_alphabetic() => {
                let start = *pos;
                while *pos < t.len()
                    && (t[*pos].is_alphanumeric() || t[*pos] == '_' || t[*pos] == '.')
                {
                    *pos += 1;
                }
                let s: String = t[start..*pos].iter().collect();
                match s.strip_prefix("params.") {
                    Some(v) if !v.is_empty() => Ok(Expr::Var(v.to_string())),
                    _ => Err(format!(
                        "'{s}': only numbers and params.<variable> are supported"
                    )),
                }
            }
            Some(c) => Err(format!("unexpected '{c}' at {pos}")),
            None => Err("unexpected end".into()),
        }
    }

    fn eval(&self, env: &BTreeMap<String, f64>) -> Option<f64> {
        Some(match self {
            Expr::Num(n) => *n,
            Expr::Var(v) => *env.get(v)?,
            Expr::Neg(e) => -e.eval(env)?,
            Expr::Bin(a, op, b) => {
                let (a, b) = (a.eval(env)?, b.eval(env)?);
                match op {
                    '+' => a + b,
                    '-' => a - b,
                    '*' => a * b,
                    _ => a / b,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_evaluate_like_arithmetic() {
        let env: BTreeMap<String, f64> = [("a".to_string(), 6.0), ("b".to_string(), 4.0)]
            .into_iter()
            .collect();
        for (s, want) in [
            ("params.a * 2", 12.0),
            ("params.a / params.b", 1.5),
            ("(params.a + params.b) * -2", -20.0),
            ("params.a - params.b - 1", 1.0),
            ("1 + 2 * 3", 7.0),
        ] {
            assert_eq!(Expr::parse(s).expect(s).eval(&env), Some(want), "{s}");
        }
        assert!(Expr::parse("params.a +").is_err());
        assert!(Expr::parse("Math.log(params.a)").is_err());
        assert!(Expr::parse("(params.a").is_err());
    }

    #[test]
    fn pipelines_are_taken_out_and_computed() {
        let mut body = json!({"aggs": {"h": {
            "date_histogram": {"field": "@timestamp", "fixed_interval": "1m"},
            "aggs": {
                "m": {"max": {"field": "x"}},
                "d": {"derivative": {"buckets_path": "m"}},
                "c": {"cumulative_sum": {"buckets_path": "_count"}},
                "mv": {"moving_fn": {"buckets_path": "m", "window": 2, "script": "MovingFunctions.unweightedAvg(values)"}},
                "s": {"bucket_script": {"buckets_path": {"a": "m", "n": "_count"}, "script": "params.a / params.n"}},
            }},
            "top": {"max_bucket": {"buckets_path": "h>m"}},
        }});
        let plan = take(&mut body).expect("valid");
        assert!(!plan.is_empty());
        assert_eq!(
            body["aggs"]["h"]["aggs"].as_object().map(|m| m.len()),
            Some(1),
            "only the metric stays"
        );
        assert!(body["aggs"].get("top").is_none());
        let mut aggs = json!({"h": {"buckets": [
            {"key": 0, "doc_count": 2, "m": {"value": 10.0}},
            {"key": 60000, "doc_count": 4, "m": {"value": 16.0}},
            {"key": 120000, "doc_count": 0, "m": {"value": null}},
            {"key": 180000, "doc_count": 5, "m": {"value": 11.0}},
        ]}});
        apply(&plan, &mut aggs).expect("computed");
        let b = aggs["h"]["buckets"].as_array().expect("buckets");
        assert!(b[0].get("d").is_none(), "no derivative in the first bucket");
        assert_eq!(b[1]["d"]["value"], 6.0);
        assert!(b[2].get("d").is_none(), "skip: an empty bucket has none");
        assert_eq!(
            b[3]["d"]["value"], -5.0,
            "against the last bucket with a value"
        );
        let cs: Vec<f64> = b
            .iter()
            .map(|x| x["c"]["value"].as_f64().expect("c"))
            .collect();
        assert_eq!(cs, [2.0, 6.0, 6.0, 11.0]);
        assert_eq!(b[0]["mv"]["value"], Value::Null, "an empty window");
        assert_eq!(b[1]["mv"]["value"], 10.0);
        assert_eq!(b[2]["mv"]["value"], 13.0);
        assert_eq!(
            b[3]["mv"]["value"], 16.0,
            "the window skips the empty bucket's null"
        );
        assert_eq!(b[1]["s"]["value"], 4.0);
        assert!(b[2].get("s").is_none());
        assert_eq!(aggs["top"], json!({"value": 16.0, "keys": ["60000"]}));
    }

    #[test]
    fn bad_pipelines_are_named() {
        for (body, words) in [
            (
                json!({"aggs": {"d": {"derivative": {"buckets_path": "_count"}}}}),
                "inside a multi-bucket",
            ),
            (
                json!({"aggs": {"h": {"histogram": {"field": "x", "interval": 1}, "aggs": {"s": {"bucket_sort": {}}}}}}),
                "bucket_sort",
            ),
            (
                json!({"aggs": {"h": {"histogram": {"field": "x", "interval": 1}, "aggs": {"d": {"derivative": {}}}}}}),
                "buckets_path",
            ),
        ] {
            let mut b = body;
            let e = take(&mut b).expect_err("refused");
            assert!(e.reason.contains(words), "{}", e.reason);
        }
        let mut body = json!({"aggs": {"h": {"histogram": {"field": "x", "interval": 1}, "aggs": {"d": {"derivative": {"buckets_path": "nope"}}}}}});
        let plan = take(&mut body).expect("valid");
        let mut aggs = json!({"h": {"buckets": [{"key": 0, "doc_count": 1}]}});
        let e = apply(&plan, &mut aggs).expect_err("bad path");
        assert!(
            e.reason.contains("No aggregation found for path [nope]"),
            "{}",
            e.reason
        );
    }
}

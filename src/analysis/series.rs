//! Count and metric series: what the store holds per interval, answered
//! from its aggregations (a `date_histogram`, under a `terms` split when
//! asked), never by fetching documents. Empty intervals are zeros for
//! counts and gaps (`None`) for metrics; calendar intervals and time zones
//! are the aggregation's own.
//!
//! The request is engine-neutral and so is the answer: the HTTP API, the
//! watches, the forecast and the CLI all go through [`run`], with the
//! store behind [`AggSource`].

use std::fmt;

use crate::query::agg_result::{AggResult, AggResults, Bucket};
use crate::query::aggs::{AggKind, AggSpec, BucketOrder, Interval};
use crate::query::datemath::CalUnit;
use crate::query::model::{BoolQuery, Order, Query, Range, RangeBound};

/// Most intervals one series may have; more is almost always a mistake
/// (a 1 s interval over a month) and would cost memory for nothing.
pub const MAX_BUCKETS: i64 = 10_000;

/// Most points over all series of one answer (intervals × split values).
pub const MAX_POINTS: i64 = 200_000;

/// Intervals an `auto` interval aims at, at most.
pub const AUTO_TARGET: i64 = 120;

/// Most split values one series request may ask for.
pub const MAX_SPLIT: usize = 100;

/// The width of an interval as asked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum IntervalSpec {
    /// The smallest round interval that gives at most [`AUTO_TARGET`].
    Auto,
    Fixed(i64),
    /// Calendar-aware (days, weeks and months as the time zone has them).
    Calendar(CalUnit),
}

impl IntervalSpec {
    /// Reads `auto`, `30s`, `5m`, `1h` (fixed) or `1d`, `1w`, `1M`, `1q`,
    /// `1y` and their names (`day`, `week`, `month`, ...: calendar).
    pub fn parse(s: &str) -> Option<IntervalSpec> {
        let cal = match s.trim() {
            "auto" | "" => return Some(IntervalSpec::Auto),
            "1d" | "day" => CalUnit::Day,
            "1w" | "week" => CalUnit::Week,
            "1M" | "month" => CalUnit::Month,
            "1q" | "quarter" => CalUnit::Quarter,
            "1y" | "year" => CalUnit::Year,
            other => {
                return crate::query::datemath::parse_duration_ms(other).map(IntervalSpec::Fixed)
            }
        };
        Some(IntervalSpec::Calendar(cal))
    }
}

/// What each point is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    /// Events per interval.
    Count,
    Avg,
    Min,
    Max,
    Sum,
    /// The given percentile (0 to 100) of the field per interval.
    Percentile(f64),
}

impl Metric {
    /// Reads `count`, `avg`, `min`, `max`, `sum`, `p50`, `p99.9`.
    pub fn parse(s: &str) -> Option<Metric> {
        Some(match s.trim() {
            "count" | "" => Metric::Count,
            "avg" => Metric::Avg,
            "min" => Metric::Min,
            "max" => Metric::Max,
            "sum" => Metric::Sum,
            p => {
                let v: f64 = p.strip_prefix('p')?.parse().ok()?;
                if !(0.0..=100.0).contains(&v) {
                    return None;
                }
                Metric::Percentile(v)
            }
        })
    }
}

/// One series request.
#[derive(Debug, Clone)]
pub struct SeriesRequest {
    /// Index pattern (comma lists and wildcards).
    pub index: String,
    /// Which events (already parsed; `_pattern` ids already expanded).
    pub query: Query,
    /// The query as the user wrote it, for the answer's links.
    pub query_text: String,
    /// Start, inclusive, epoch ms.
    pub from_ms: i64,
    /// End, exclusive, epoch ms.
    pub to_ms: i64,
    pub interval: IntervalSpec,
    /// Time zone for calendar intervals and bucket starts (IANA or offset).
    pub time_zone: Option<String>,
    /// One series per value of this field (its top `size` by count).
    pub split: Option<String>,
    pub size: usize,
    pub metric: Metric,
    /// The numeric field of a metric other than count.
    pub field: Option<String>,
}

impl SeriesRequest {
    /// A count of `query` over `[from_ms, to_ms)` at `interval`, unsplit.
    pub fn count(index: &str, query: Query, from_ms: i64, to_ms: i64, interval_ms: i64) -> Self {
        SeriesRequest {
            index: index.to_string(),
            query,
            query_text: String::new(),
            from_ms,
            to_ms,
            interval: IntervalSpec::Fixed(interval_ms),
            time_zone: None,
            split: None,
            size: 10,
            metric: Metric::Count,
            field: None,
        }
    }
}

/// One series of the answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The split value, or `"all"` without a split.
    pub key: String,
    /// `(interval start in epoch ms, value)`, every interval of the range
    /// in order; `None` for a metric over an interval with no values.
    pub points: Vec<(i64, Option<f64>)>,
}

impl Series {
    /// The values with gaps as zeros (for counts there are none).
    pub fn values(&self) -> Vec<f64> {
        self.points.iter().map(|p| p.1.unwrap_or(0.0)).collect()
    }
}

/// The answer.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesResult {
    /// The interval used (a calendar interval's nominal length).
    pub interval_ms: i64,
    pub series: Vec<Series>,
}

/// A request that cannot be answered, naming the parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesError {
    pub param: &'static str,
    pub message: String,
}

impl fmt::Display for SeriesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.param, self.message)
    }
}

impl std::error::Error for SeriesError {}

fn err(param: &'static str, message: impl Into<String>) -> SeriesError {
    SeriesError {
        param,
        message: message.into(),
    }
}

/// Where aggregations come from: the store, in whatever engine.
pub trait AggSource {
    /// Runs `aggs` over the events of `index` (a pattern or comma list)
    /// that match `query`; one result per spec, in order.
    fn aggregate(&self, index: &str, query: &Query, aggs: &[AggSpec])
        -> anyhow::Result<AggResults>;
}

/// The request [`plan`] makes: which events, which aggregations.
#[derive(Debug, Clone)]
pub struct Plan {
    pub query: Query,
    pub aggs: Vec<AggSpec>,
    /// The interval used (a calendar interval's nominal length).
    pub interval_ms: i64,
}

/// Rounded intervals `auto` picks from.
const ROUND: [i64; 16] = [
    1_000,
    5_000,
    10_000,
    30_000,
    60_000,
    300_000,
    600_000,
    1_800_000,
    3_600_000,
    3 * 3_600_000,
    6 * 3_600_000,
    12 * 3_600_000,
    86_400_000,
    7 * 86_400_000,
    30 * 86_400_000,
    365 * 86_400_000,
];

/// The smallest round interval giving at most [`AUTO_TARGET`] intervals.
pub fn auto_interval(span_ms: i64) -> i64 {
    ROUND
        .iter()
        .copied()
        .find(|i| ceil_div(span_ms, *i) <= AUTO_TARGET)
        .unwrap_or(ROUND[ROUND.len() - 1])
}

/// `a / b` rounded up, for positive `b` (`i64::div_ceil` is unstable).
fn ceil_div(a: i64, b: i64) -> i64 {
    (a + b - 1).div_euclid(b)
}

/// Nominal length of a calendar unit, for bucket counting and the answer.
fn nominal_ms(u: CalUnit) -> i64 {
    u.fixed_ms().unwrap_or(match u {
        CalUnit::Week => 7 * 86_400_000,
        CalUnit::Month => 30 * 86_400_000,
        CalUnit::Quarter => 91 * 86_400_000,
        _ => 365 * 86_400_000,
    })
}

/// Checks the request and builds the aggregation that answers it.
pub fn plan(req: &SeriesRequest) -> Result<Plan, SeriesError> {
    if req.to_ms <= req.from_ms {
        return Err(err(
            "to",
            format!(
                "the range is empty: to ({}) is not after from ({})",
                req.to_ms, req.from_ms
            ),
        ));
    }
    let span = req.to_ms - req.from_ms;
    let (interval, interval_ms) = match req.interval {
        IntervalSpec::Auto => {
            let i = auto_interval(span);
            (Interval::Fixed(i), i)
        }
        IntervalSpec::Fixed(ms) if ms <= 0 => {
            return Err(err("interval", format!("must be positive, got {ms} ms")))
        }
        IntervalSpec::Fixed(ms) => (Interval::Fixed(ms), ms),
        IntervalSpec::Calendar(u) => (Interval::Calendar(u), nominal_ms(u)),
    };
    let buckets = ceil_div(span, interval_ms);
    if buckets > MAX_BUCKETS {
        return Err(err(
            "interval",
            format!(
                "{} ms over this range gives {buckets} intervals, more than the {MAX_BUCKETS} allowed: use a larger interval or `auto`",
                interval_ms
            ),
        ));
    }
    if req.split.is_some() {
        if req.size == 0 || req.size > MAX_SPLIT {
            return Err(err(
                "size",
                format!("must be between 1 and {MAX_SPLIT}, got {}", req.size),
            ));
        }
        if buckets * req.size as i64 > MAX_POINTS {
            return Err(err(
                "size",
                format!(
                    "{} series of {buckets} intervals is more than {MAX_POINTS} points: ask for fewer split values or a larger interval",
                    req.size
                ),
            ));
        }
    }
    let field = || {
        req.field.clone().ok_or_else(|| {
            err(
                "field",
                "is required with a metric other than count: the numeric field to measure",
            )
        })
    };
    let metric = match req.metric {
        Metric::Count => None,
        Metric::Avg => Some(AggKind::Avg {
            field: field()?,
            missing: None,
        }),
        Metric::Min => Some(AggKind::Min {
            field: field()?,
            missing: None,
        }),
        Metric::Max => Some(AggKind::Max {
            field: field()?,
            missing: None,
        }),
        Metric::Sum => Some(AggKind::Sum {
            field: field()?,
            missing: None,
        }),
        Metric::Percentile(p) => Some(AggKind::Percentiles {
            field: field()?,
            percents: vec![p],
            keyed: true,
        }),
    };
    let histogram = AggSpec {
        name: "t".into(),
        kind: AggKind::DateHistogram {
            field: "@timestamp".into(),
            interval,
            time_zone: req.time_zone.clone(),
            offset_ms: 0,
            min_doc_count: 0,
            extended_bounds: Some((req.from_ms.into(), (req.to_ms - 1).into())),
            hard_bounds: Some((req.from_ms.into(), (req.to_ms - 1).into())),
            format: None,
            keyed: false,
            order: None,
        },
        subs: metric
            .map(|kind| AggSpec {
                name: "m".into(),
                kind,
                subs: vec![],
            })
            .into_iter()
            .collect(),
    };
    let top = match &req.split {
        None => histogram,
        Some(f) => AggSpec {
            name: "s".into(),
            kind: AggKind::Terms {
                field: f.clone(),
                size: req.size,
                min_doc_count: 1,
                order: vec![
                    BucketOrder::Count(Order::Desc),
                    BucketOrder::Key(Order::Asc),
                ],
                missing: None,
            },
            subs: vec![histogram],
        },
    };
    Ok(Plan {
        query: within(req.query.clone(), req.from_ms, req.to_ms),
        aggs: vec![top],
        interval_ms,
    })
}

/// `query` restricted to `@timestamp` in `[from_ms, to_ms)`.
pub fn within(query: Query, from_ms: i64, to_ms: i64) -> Query {
    Query::Bool(Box::new(BoolQuery {
        must: vec![query],
        filter: vec![time_range(from_ms, to_ms)],
        ..Default::default()
    }))
}

/// `@timestamp` in `[from_ms, to_ms)`.
pub fn time_range(from_ms: i64, to_ms: i64) -> Query {
    Query::Range {
        field: "@timestamp".into(),
        range: Range {
            lower: Some(RangeBound {
                value: from_ms.into(),
                inclusive: true,
            }),
            upper: Some(RangeBound {
                value: to_ms.into(),
                inclusive: false,
            }),
            ..Default::default()
        },
    }
}

/// Reads the series out of the aggregation results of [`plan`]'s request.
pub fn read(
    req: &SeriesRequest,
    interval_ms: i64,
    res: &AggResults,
) -> anyhow::Result<SeriesResult> {
    let points = |aggs: &AggResults| -> anyhow::Result<Vec<(i64, Option<f64>)>> {
        let buckets = aggs
            .get("t")
            .and_then(AggResult::as_date_histogram)
            .ok_or_else(|| anyhow::anyhow!("the store answered without the date histogram"))?;
        Ok(buckets
            .iter()
            .map(|b| (b.key, value(req.metric, b)))
            .collect())
    };
    let series = match &req.split {
        None => vec![Series {
            key: "all".into(),
            points: points(res)?,
        }],
        Some(_) => {
            let terms = res
                .get("s")
                .and_then(AggResult::as_terms)
                .ok_or_else(|| anyhow::anyhow!("the store answered without the split"))?;
            terms
                .buckets
                .iter()
                .map(|b| {
                    Ok(Series {
                        key: key_text(&b.key),
                        points: points(&b.aggs)?,
                    })
                })
                .collect::<anyhow::Result<_>>()?
        }
    };
    Ok(SeriesResult {
        interval_ms,
        series,
    })
}

fn value(metric: Metric, b: &Bucket<i64>) -> Option<f64> {
    match metric {
        Metric::Count => Some(b.doc_count as f64),
        Metric::Percentile(p) => b.aggs.get("m")?.percentile(p),
        _ => b.aggs.get("m")?.value(),
    }
}

/// A split value as text (numbers without a trailing `.0`).
pub fn key_text(k: &crate::query::agg_result::BucketKey) -> String {
    use crate::query::agg_result::BucketKey as K;
    match k {
        K::Str(s) => s.clone(),
        K::Long(i) | K::Date(i) => i.to_string(),
        K::Double(f) => f.to_string(),
        K::Bool(b) => b.to_string(),
    }
}

/// Plans, runs and reads one series request.
pub fn run(src: &dyn AggSource, req: &SeriesRequest) -> anyhow::Result<SeriesResult> {
    let p = plan(req)?;
    let res = src.aggregate(&req.index, &p.query, &p.aggs)?;
    read(req, p.interval_ms, &res)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::agg_result::{BucketKey, Terms, ValueType};

    fn req() -> SeriesRequest {
        SeriesRequest::count("logs-*", Query::MatchAll, 0, 600_000, 60_000)
    }

    #[test]
    fn auto_interval_is_round_and_within_target() {
        assert_eq!(auto_interval(3_600_000), 30_000); // 1 h: 120 half minutes
        assert_eq!(auto_interval(86_400_000), 1_800_000); // 1 d: 48 half hours
        assert_eq!(auto_interval(7 * 86_400_000), 3 * 3_600_000); // 1 w: 56 of 3 h
        for span in [1_000, 59_999, 3_600_001, 90 * 86_400_000] {
            let i = auto_interval(span);
            assert!(ceil_div(span, i) <= AUTO_TARGET, "{span} {i}");
        }
    }

    #[test]
    fn bad_requests_name_the_parameter() {
        let mut r = req();
        r.interval = IntervalSpec::Fixed(1);
        r.to_ms = 86_400_000;
        assert_eq!(plan(&r).unwrap_err().param, "interval");
        let mut r = req();
        r.interval = IntervalSpec::Fixed(-5);
        assert_eq!(plan(&r).unwrap_err().param, "interval");
        let mut r = req();
        r.to_ms = r.from_ms;
        assert_eq!(plan(&r).unwrap_err().param, "to");
        let mut r = req();
        r.metric = Metric::Avg;
        assert_eq!(plan(&r).unwrap_err().param, "field");
        let mut r = req();
        r.split = Some("service".into());
        r.size = 0;
        assert_eq!(plan(&r).unwrap_err().param, "size");
        assert_eq!(IntervalSpec::parse("soon"), None);
        assert_eq!(Metric::parse("p101"), None);
        assert_eq!(Metric::parse("p99.9"), Some(Metric::Percentile(99.9)));
        assert_eq!(
            IntervalSpec::parse("1M"),
            Some(IntervalSpec::Calendar(CalUnit::Month))
        );
        assert_eq!(
            IntervalSpec::parse("90s"),
            Some(IntervalSpec::Fixed(90_000))
        );
    }

    fn hist(counts: &[u64]) -> AggResults {
        AggResults(vec![(
            "t".into(),
            AggResult::DateHistogram {
                buckets: counts
                    .iter()
                    .enumerate()
                    .map(|(i, c)| Bucket {
                        key: i as i64 * 60_000,
                        doc_count: *c,
                        aggs: AggResults::default(),
                    })
                    .collect(),
                value_type: ValueType::Date(None),
            },
        )])
    }

    #[test]
    fn split_series_are_read_in_bucket_order() {
        let mut r = req();
        r.split = Some("service".into());
        let p = plan(&r).unwrap();
        let ms = p.interval_ms;
        assert_eq!(ms, 60_000);
        assert_eq!(p.aggs.len(), 1);
        let res = AggResults(vec![(
            "s".into(),
            AggResult::Terms(Terms {
                buckets: vec![
                    Bucket {
                        key: BucketKey::Str("api".into()),
                        doc_count: 5,
                        aggs: hist(&[3, 0, 2]),
                    },
                    Bucket {
                        key: BucketKey::Long(7),
                        doc_count: 1,
                        aggs: hist(&[0, 1, 0]),
                    },
                ],
                sum_other_doc_count: 0,
                doc_count_error_upper_bound: 0,
                value_type: ValueType::Plain,
            }),
        )]);
        let out = read(&r, ms, &res).unwrap();
        assert_eq!(out.series.len(), 2);
        assert_eq!(out.series[0].key, "api");
        assert_eq!(out.series[0].values(), vec![3.0, 0.0, 2.0]);
        assert_eq!(out.series[1].key, "7");
        assert_eq!(out.series[1].points[1], (60_000, Some(1.0)));
    }
}

//! Aggregation results, engine-neutral: what a store answers for the
//! [`AggSpec`](super::aggs::AggSpec) tree of a request. Buckets are already
//! ordered, filtered (`min_doc_count`), cut to `size` and filled (empty
//! histogram buckets), so every consumer sees the same answer; how they are
//! printed (`keyed` maps, `key_as_string`, `format`, time zones) is left to
//! the consumer: the Elasticsearch API renders them in `api/es/aggs_render.rs`,
//! the analysis reads them directly. Ask a store for them with
//! [`Store::aggregate`](crate::store::Store::aggregate) (an index expression)
//! or [`Snapshot::aggregate`](crate::store::Snapshot::aggregate): a query and
//! the aggregations, no hits, no JSON.

use serde_json::Value;

use crate::query::date_format::DateFormat;

/// The results of sibling aggregations, by name, in the request's order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AggResults(pub Vec<(String, AggResult)>);

impl AggResults {
    /// The result of the aggregation called `name`.
    pub fn get(&self, name: &str) -> Option<&AggResult> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, r)| r)
    }

    /// Results with their names, in the request's order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &AggResult)> {
        self.0.iter().map(|(n, r)| (n.as_str(), r))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What the values of an aggregated field are, as far as printing them is
/// concerned: dates print in the field's format.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum ValueType {
    /// Numbers, strings or booleans, or a field no index maps.
    #[default]
    Plain,
    /// Epoch milliseconds of a date field, with the format the field is
    /// shown in: its mapping's explicit `format`, else the one matching how
    /// dynamic mapping saw it written. `None` (as for `@timestamp`):
    /// Elasticsearch's default format.
    Date(Option<DateFormat>),
}

/// The key of a `terms` bucket, typed by the field it came from.
#[derive(Debug, Clone, PartialEq)]
pub enum BucketKey {
    Str(String),
    Long(i64),
    Double(f64),
    /// Epoch milliseconds.
    Date(i64),
    Bool(bool),
}

impl BucketKey {
    /// The key as a number, when it is one (booleans as 0 and 1).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            BucketKey::Long(i) | BucketKey::Date(i) => Some(*i as f64),
            BucketKey::Double(f) => Some(*f),
            BucketKey::Bool(b) => Some(*b as u8 as f64),
            BucketKey::Str(_) => None,
        }
    }

    /// The key as a string when it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            BucketKey::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// One bucket: its key, how many documents fell in it, and the results of
/// the sub-aggregations over those documents (one per sub-aggregation of the
/// request, empty buckets included).
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket<K> {
    pub key: K,
    pub doc_count: u64,
    pub aggs: AggResults,
}

/// The bounds of a `range` (numbers) or `date_range` (epoch ms) bucket:
/// from inclusive, to exclusive, `None` unbounded. `key` is the key the
/// request gave; without one, a renderer derives it from the bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeKey<T> {
    pub key: Option<String>,
    pub from: Option<T>,
    pub to: Option<T>,
}

/// A `terms` result.
#[derive(Debug, Clone, PartialEq)]
pub struct Terms {
    pub buckets: Vec<Bucket<BucketKey>>,
    /// Documents in buckets beyond `size`.
    pub sum_other_doc_count: u64,
    /// Always 0 for an engine that counts every segment exactly.
    pub doc_count_error_upper_bound: u64,
    pub value_type: ValueType,
}

/// Count, min, max, sum and sum of squares of a numeric field; `min` and
/// `max` are `None` when no value was seen.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Stats {
    pub count: u64,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub sum: f64,
    pub sum_of_squares: f64,
}

impl Stats {
    pub fn avg(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }

    /// Population variance, never negative (rounding can make the textbook
    /// formula dip below zero for constant values).
    pub fn variance_population(&self) -> Option<f64> {
        let avg = self.avg()?;
        Some((self.sum_of_squares / self.count as f64 - avg * avg).max(0.0))
    }

    /// Sample variance (n - 1 in the denominator); `None` below two values.
    pub fn variance_sampling(&self) -> Option<f64> {
        let n = self.count as f64;
        let var = self.variance_population()?;
        (self.count > 1)
            .then(|| (var * n / (n - 1.0)).max(0.0))
            .filter(|x| x.is_finite())
    }
}

/// One requested percentile; `value` is `None` when there were no values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentile {
    pub percent: f64,
    pub value: Option<f64>,
}

/// A value a `top_hits` hit was sorted by.
#[derive(Debug, Clone, PartialEq)]
pub enum SortValue {
    Num(f64),
    Str(String),
    /// The document has no value for the sort field.
    Missing,
}

/// One document of a `top_hits` result.
#[derive(Debug, Clone, PartialEq)]
pub struct TopHit {
    pub index: String,
    pub id: String,
    /// `None` when the hits were sorted by fields (no scores computed).
    pub score: Option<f32>,
    /// `_source` after the request's filter; `None` when disabled.
    pub source: Option<Value>,
    /// The sort values, when the request sorted by fields.
    pub sort: Option<Vec<SortValue>>,
}

/// A `top_hits` result.
#[derive(Debug, Clone, PartialEq)]
pub struct TopHits {
    /// Documents in the bucket (not only those returned).
    pub total: u64,
    pub max_score: Option<f32>,
    pub hits: Vec<TopHit>,
}

/// The result of one aggregation.
#[derive(Debug, Clone, PartialEq)]
pub enum AggResult {
    Terms(Terms),
    /// Buckets keyed by their start in epoch ms, ascending unless the
    /// request ordered them otherwise.
    DateHistogram {
        buckets: Vec<Bucket<i64>>,
        value_type: ValueType,
    },
    /// Buckets keyed by their lower bound.
    Histogram {
        buckets: Vec<Bucket<f64>>,
    },
    Range {
        buckets: Vec<Bucket<RangeKey<f64>>>,
    },
    /// Bounds in epoch ms, after date math and the request's format.
    DateRange {
        buckets: Vec<Bucket<RangeKey<i64>>>,
        /// The explicit mapping `format` of the field, if a searched index
        /// gives it one: the bounds were read in it and, when the request
        /// has no `format`, are shown in it.
        field_format: Option<DateFormat>,
    },
    /// `filters`: one bucket per filter in request order, keyed by its name
    /// (`None` in the anonymous, array form), then the other bucket if asked.
    Filters {
        buckets: Vec<Bucket<Option<String>>>,
        other: Option<Bucket<String>>,
    },
    /// `filter` and `missing`: one bucket.
    Single(Bucket<()>),
    /// `avg`, `sum`, `min`, `max`; `None` when no value was seen (`sum`
    /// is then 0).
    Value {
        value: Option<f64>,
        value_type: ValueType,
    },
    Stats(Stats),
    ExtendedStats(Stats),
    /// `value_count` and `cardinality`.
    Count(u64),
    Percentiles(Vec<Percentile>),
    TopHits(TopHits),
}

impl AggResult {
    /// The single number of a metric (`avg`, `sum`, `min`, `max`,
    /// `value_count`, `cardinality`, a single-bucket doc count).
    pub fn value(&self) -> Option<f64> {
        match self {
            AggResult::Value { value, .. } => *value,
            AggResult::Count(n) => Some(*n as f64),
            AggResult::Single(b) => Some(b.doc_count as f64),
            _ => None,
        }
    }

    /// The value of percentile `percent` if it was requested.
    pub fn percentile(&self, percent: f64) -> Option<f64> {
        match self {
            AggResult::Percentiles(ps) => ps.iter().find(|p| p.percent == percent)?.value,
            _ => None,
        }
    }

    pub fn as_terms(&self) -> Option<&Terms> {
        match self {
            AggResult::Terms(t) => Some(t),
            _ => None,
        }
    }

    /// The buckets of a `date_histogram`.
    pub fn as_date_histogram(&self) -> Option<&[Bucket<i64>]> {
        match self {
            AggResult::DateHistogram { buckets, .. } => Some(buckets),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_variance_matches_the_formula() {
        // Values 2, 4, 4, 4, 5, 5, 7, 9: mean 5, population variance 4,
        // sample variance 32 / 7 (the textbook example).
        let vals = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        let s = Stats {
            count: 8,
            min: Some(2.0),
            max: Some(9.0),
            sum: vals.iter().sum(),
            sum_of_squares: vals.iter().map(|v| v * v).sum(),
        };
        assert_eq!(s.avg(), Some(5.0));
        assert_eq!(s.variance_population(), Some(4.0));
        assert!((s.variance_sampling().unwrap() - 32.0 / 7.0).abs() < 1e-12);
        let one = Stats {
            count: 1,
            min: Some(3.0),
            max: Some(3.0),
            sum: 3.0,
            sum_of_squares: 9.0,
        };
        assert_eq!(one.variance_sampling(), None);
        assert_eq!(Stats::default().avg(), None);
    }
}

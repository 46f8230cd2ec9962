//! Sample lines of a bucket: the newest events' messages, from a `top_hits`
//! sub-aggregation. The pattern summaries and the alerts both show them.

use serde_json::Value;

use crate::query::agg_result::AggResult;
use crate::query::aggs::{AggKind, AggSpec};
use crate::query::model::{Missing, Order, SortKey, SortSpec, SourceFilter};

/// A sub-aggregation `name` with the `size` newest events of its bucket.
pub fn newest(name: &str, size: usize) -> AggSpec {
    AggSpec {
        name: name.into(),
        kind: AggKind::TopHits {
            size,
            from: 0,
            sort: vec![SortSpec {
                key: SortKey::Field {
                    field: "@timestamp".into(),
                    missing: Missing::Last,
                    format: None,
                    // an index without events yet has no @timestamp column
                    unmapped_type: Some("date".into()),
                },
                order: Order::Desc,
            }],
            source: SourceFilter::default(),
        },
        subs: vec![],
    }
}

/// The messages of a `top_hits` result, newest first (an event without a
/// message field as its JSON).
pub fn messages(r: Option<&AggResult>) -> Vec<String> {
    let Some(AggResult::TopHits(t)) = r else {
        return Vec::new();
    };
    t.hits
        .iter()
        .filter_map(|h| {
            let Some(Value::Object(m)) = &h.source else {
                return None;
            };
            Some(match crate::event::detect(m).message {
                Some(msg) => msg.to_string(),
                None => Value::Object(m.clone()).to_string(),
            })
        })
        .collect()
}

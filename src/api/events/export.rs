//! `GET|POST /api/v1/export`: every event of a selection as NDJSON (one
//! `_source` per line) or CSV, streamed page by page from one snapshot, so
//! an export is not limited to what a page loaded and never holds the whole
//! result in memory.

use axum::body::Body as HttpBody;
use axum::extract::{Query as UrlQuery, State as AxState};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{json, Value};

use super::{indices, time_range, with_filters};
use crate::api::analysis::params::{bad, Args};
use crate::api::error::ApiError;
use crate::api::es::Params;
use crate::api::{Body, State};
use crate::query::es_dsl::parse_search_body;
use crate::query::model::SearchRequest;
use crate::store::Snapshot;

/// Events fetched per page.
const PAGE: usize = 1000;

/// Pages buffered ahead of a slow client.
const PAGES_AHEAD: usize = 2;

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Ndjson,
    Csv,
}

/// `GET|POST /api/v1/export?index=&query=&from=&to=&format=&fields=&size=&order=`
pub async fn export(
    AxState(st): AxState<State>,
    UrlQuery(p): UrlQuery<Params>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let a = Args::read(
        &p,
        &body,
        &[
            "index", "query", "from", "to", "format", "fields", "size", "order",
        ],
    )?;
    let now = crate::event::now_ms();
    let format = match a.str("format")?.as_deref().unwrap_or("ndjson") {
        "ndjson" | "json" => Format::Ndjson,
        "csv" => Format::Csv,
        other => return Err(bad("format", format!("'{other}' is not ndjson or csv"))),
    };
    let order = match a.str("order")?.as_deref().unwrap_or("desc") {
        o @ ("asc" | "desc") => o.to_string(),
        other => return Err(bad("order", format!("'{other}' is not asc or desc"))),
    };
    let from = match a.str("from")? {
        Some(_) => Some(a.time("from", "", now)?),
        None => None,
    };
    let to = match a.str("to")? {
        Some(_) => Some(a.time("to", "", now)?),
        None => None,
    };
    let fields: Option<Vec<String>> = a.str("fields")?.map(|f| {
        f.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    });
    let limit = a.int("size", i64::MAX, 0, i64::MAX)? as u64;
    let filters = if from.is_some() || to.is_some() {
        vec![time_range(from, to)]
    } else {
        Vec::new()
    };
    let query = with_filters(&st, &a, filters)?;
    let names = indices(&st, &a)?;
    let snap = st.ingest.store.snapshot(&names)?;
    let body = json!({
        "size": PAGE,
        "track_total_hits": false,
        "sort": [
            {"@timestamp": {"order": order, "unmapped_type": "date"}},
            {"_doc": {"order": order}},
        ],
    });
    let mut req = parse_search_body(&body)?;
    req.query = query;

    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(PAGES_AHEAD);
    tokio::task::spawn_blocking(move || {
        let mut pages = Pages {
            snap,
            req,
            format,
            fields,
            left: limit,
            first: true,
        };
        loop {
            match pages.next_chunk() {
                Ok(Some(chunk)) => {
                    if tx.blocking_send(Ok(chunk)).is_err() {
                        return; // the client went away
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    // The status is already sent: end the body with an
                    // error, so the client sees a broken transfer rather
                    // than a short file that looks complete.
                    tracing::warn!(error = %e, "export: a page failed; the download is cut");
                    let _ = tx.blocking_send(Err(std::io::Error::other(e)));
                    return;
                }
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let (ctype, ext) = match format {
        Format::Ndjson => ("application/x-ndjson", "ndjson"),
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
    };
    let mut res = (StatusCode::OK, HttpBody::from_stream(stream)).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"logweave-export.{ext}\""))
    {
        res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

/// The pages of one export.
struct Pages {
    snap: std::sync::Arc<dyn Snapshot>,
    req: SearchRequest,
    format: Format,
    /// CSV columns: given, or taken from the first page.
    fields: Option<Vec<String>>,
    left: u64,
    /// Whether no page was rendered yet (the CSV header goes first).
    first: bool,
}

impl Pages {
    /// The next page rendered, `None` after the last.
    fn next_chunk(&mut self) -> Result<Option<Bytes>, String> {
        if self.left == 0 {
            return Ok(None);
        }
        self.req.size = PAGE.min(self.left.min(usize::MAX as u64) as usize);
        let res = self
            .snap
            .search(&self.req, None)
            .map_err(|e| e.to_string())?;
        let Some(last) = res.hits.last() else {
            // A CSV with named columns has its header even when empty.
            if self.first && self.format == Format::Csv {
                if let Some(cols) = &self.fields {
                    self.first = false;
                    return Ok(Some(Bytes::from(format!("{}\n", csv_line(cols)?))));
                }
            }
            return Ok(None);
        };
        self.req.search_after = last.sort.clone();
        self.left = self.left.saturating_sub(res.hits.len() as u64);
        let mut out = Vec::with_capacity(res.hits.len() * 200);
        match self.format {
            Format::Ndjson => {
                for h in &res.hits {
                    let src = h.source.clone().unwrap_or(Value::Null);
                    serde_json::to_writer(&mut out, &src).map_err(|e| e.to_string())?;
                    out.push(b'\n');
                }
            }
            Format::Csv => {
                let mut w = csv::WriterBuilder::new().from_writer(&mut out);
                if self.fields.is_none() {
                    let cols = columns_of(res.hits.iter().filter_map(|h| h.source.as_ref()));
                    w.write_record(&cols).map_err(|e| e.to_string())?;
                    self.fields = Some(cols);
                } else if self.first {
                    w.write_record(self.fields.iter().flatten())
                        .map_err(|e| e.to_string())?;
                }
                let cols = self.fields.clone().unwrap_or_default();
                for h in &res.hits {
                    let ts = h
                        .sort
                        .as_ref()
                        .and_then(|s| s.first())
                        .and_then(Value::as_i64);
                    let src = h.source.as_ref().unwrap_or(&Value::Null);
                    let row: Vec<String> = cols.iter().map(|c| cell(src, c, ts)).collect();
                    w.write_record(&row).map_err(|e| e.to_string())?;
                }
                w.flush().map_err(|e| e.to_string())?;
            }
        }
        self.first = false;
        Ok(Some(Bytes::from(out)))
    }
}

/// One CSV record as text.
fn csv_line(cols: &[String]) -> Result<String, String> {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    w.write_record(cols).map_err(|e| e.to_string())?;
    let bytes = w.into_inner().map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&bytes).trim_end().to_string())
}

/// `@timestamp` and then the top-level fields of the first page, in the
/// order they first appear.
fn columns_of<'a>(sources: impl Iterator<Item = &'a Value>) -> Vec<String> {
    let mut cols = vec!["@timestamp".to_string()];
    for s in sources {
        if let Value::Object(m) = s {
            for k in m.keys() {
                if !cols.contains(k) {
                    cols.push(k.clone());
                }
            }
        }
    }
    cols
}

/// One CSV cell: a dotted path into `_source` (also as nested objects);
/// objects and arrays as JSON; `@timestamp` is the event's time as the store
/// read it (RFC 3339, UTC), whatever the record called it.
fn cell(src: &Value, field: &str, ts: Option<i64>) -> String {
    let v = src
        .get(field)
        .or_else(|| field.split('.').try_fold(src, |v, part| v.get(part)));
    if let ("@timestamp", Some(ms)) = (field, ts) {
        return crate::event::timestamp::format_iso_millis(ms);
    }
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other @ (Value::Object(_) | Value::Array(_))) => other.to_string(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_follow_dotted_paths_and_fall_back_to_the_time() {
        let src = json!({"a": {"b": 3}, "c.d": "x", "m": "hi, \"you\"", "o": [1, 2]});
        assert_eq!(cell(&src, "a.b", None), "3");
        assert_eq!(cell(&src, "c.d", None), "x");
        assert_eq!(cell(&src, "o", None), "[1,2]");
        assert_eq!(cell(&src, "missing", None), "");
        assert_eq!(
            cell(&src, "@timestamp", Some(0)),
            "1970-01-01T00:00:00.000Z"
        );
        let with_own = json!({"@timestamp": 5});
        assert_eq!(
            cell(&with_own, "@timestamp", Some(0)),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(csv_line(&["a,b".into(), "c".into()]).unwrap(), "\"a,b\",c");
    }

    #[test]
    fn columns_start_with_the_time_and_keep_first_appearance() {
        let a = json!({"level": "INFO", "message": "m"});
        let b = json!({"message": "n", "service": "s"});
        assert_eq!(
            columns_of([&a, &b].into_iter()),
            vec!["@timestamp", "level", "message", "service"]
        );
    }
}

//! `_tasks`: long requests run with `wait_for_completion=false` (delete
//! and update by query) become tasks a client polls, lists and cancels.
//! Kept in memory: a finished task's result stays for an hour or until
//! [`MAX_FINISHED`] newer ones finished, not across a restart (Elasticsearch
//! keeps them in its `.tasks` index).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State as AxState};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::{flag, json_response, Params};
use crate::api::error::ApiError;
use crate::api::State;

/// Finished tasks kept for `GET /_tasks/{id}`.
pub const MAX_FINISHED: usize = 1000;
const KEEP_FINISHED: Duration = Duration::from_secs(3600);

/// What a running task has done so far, in Elasticsearch's status shape.
#[derive(Debug, Default)]
pub struct Progress {
    pub total: AtomicU64,
    pub done: AtomicU64,
    pub batches: AtomicU64,
    /// `deleted` or `updated`: what `done` counts.
    pub counts: &'static str,
}

impl Progress {
    /// The `status` object of a task and the counts of a response.
    pub fn status(&self) -> Value {
        let mut m = Map::new();
        m.insert("total".into(), json!(self.total.load(Ordering::Relaxed)));
        for k in ["updated", "created", "deleted"] {
            let n = if k == self.counts {
                self.done.load(Ordering::Relaxed)
            } else {
                0
            };
            m.insert(k.into(), json!(n));
        }
        m.insert(
            "batches".into(),
            json!(self.batches.load(Ordering::Relaxed)),
        );
        for k in [
            "version_conflicts",
            "noops",
            "throttled_millis",
            "throttled_until_millis",
        ] {
            m.insert(k.into(), json!(0));
        }
        m.insert("retries".into(), json!({"bulk": 0, "search": 0}));
        m.insert("requests_per_second".into(), json!(-1.0));
        Value::Object(m)
    }
}

/// A task's handle for the work it does.
pub struct TaskHandle {
    pub progress: Arc<Progress>,
    pub cancelled: Arc<AtomicBool>,
}

struct Task {
    action: &'static str,
    description: String,
    start_ms: i64,
    started: Instant,
    progress: Arc<Progress>,
    cancelled: Arc<AtomicBool>,
    /// `Ok(response)` or `Err(error body)` once finished.
    outcome: Option<(Instant, Result<Value, Value>)>,
}

/// The tasks of this node.
#[derive(Default)]
pub struct Tasks {
    next: AtomicU64,
    tasks: Mutex<BTreeMap<u64, Task>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The node part of task ids: the node name without `:`.
pub fn node_id(st: &State) -> String {
    let n: String = st
        .node_name
        .chars()
        .map(|c| {
            if c == ':' || c.is_whitespace() {
                '_'
            } else {
                c
            }
        })
        .collect();
    if n.is_empty() {
        "logweave".into()
    } else {
        n
    }
}

impl Tasks {
    /// Registers a running task; its number makes the id `<node>:<n>`.
    pub fn start(
        &self,
        action: &'static str,
        description: String,
        counts: &'static str,
    ) -> (u64, TaskHandle) {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let progress = Arc::new(Progress {
            counts,
            ..Default::default()
        });
        let cancelled = Arc::new(AtomicBool::new(false));
        let mut m = lock(&self.tasks);
        m.insert(
            id,
            Task {
                action,
                description,
                start_ms: crate::event::now_ms(),
                started: Instant::now(),
                progress: progress.clone(),
                cancelled: cancelled.clone(),
                outcome: None,
            },
        );
        (
            id,
            TaskHandle {
                progress,
                cancelled,
            },
        )
    }

    /// Records how a task ended and forgets the oldest finished ones.
    pub fn finish(&self, id: u64, outcome: Result<Value, Value>) {
        let mut m = lock(&self.tasks);
        if let Some(t) = m.get_mut(&id) {
            t.outcome = Some((Instant::now(), outcome));
        }
        m.retain(|_, t| {
            t.outcome
                .as_ref()
                .is_none_or(|(at, _)| at.elapsed() < KEEP_FINISHED)
        });
        let finished: Vec<u64> = m
            .iter()
            .filter(|(_, t)| t.outcome.is_some())
            .map(|(k, _)| *k)
            .collect();
        if finished.len() > MAX_FINISHED {
            for k in &finished[..finished.len() - MAX_FINISHED] {
                m.remove(k);
            }
        }
    }

    fn info(node: &str, id: u64, t: &Task) -> Value {
        json!({
            "node": node, "id": id, "type": "transport", "action": t.action,
            "status": t.progress.status(), "description": t.description,
            "start_time_in_millis": t.start_ms,
            "running_time_in_nanos": t.started.elapsed().as_nanos() as u64,
            "cancellable": true, "cancelled": t.cancelled.load(Ordering::Relaxed),
            "headers": {},
        })
    }
}

/// `<node>:<n>` into the number, when the node is this one.
fn parse_id(st: &State, id: &str) -> Result<u64, ApiError> {
    let bad = || {
        ApiError::bad_request(
            "illegal_argument_exception",
            format!("malformed task id {id}"),
        )
    };
    let (node, n) = id.rsplit_once(':').ok_or_else(bad)?;
    let n: u64 = n.parse().map_err(|_| bad())?;
    if node != node_id(st) {
        return Err(missing(id));
    }
    Ok(n)
}

fn missing(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "resource_not_found_exception",
        format!("task [{id}] isn't running and hasn't stored its results"),
    )
}

/// `GET /_tasks/{id}` (with `wait_for_completion=true`, waits up to `timeout`, 30 s by default).
pub async fn get_task(
    AxState(st): AxState<State>,
    Path(id): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, ApiError> {
    let n = parse_id(&st, &id)?;
    let node = node_id(&st);
    let wait = flag(&p, "wait_for_completion") == Some(true);
    let deadline = Instant::now()
        + p.get("timeout")
            .and_then(|t| crate::query::datemath::parse_duration_ms(t))
            .map(|ms| Duration::from_millis(ms.max(0) as u64))
            .unwrap_or(Duration::from_secs(30));
    loop {
        {
            let m = lock(&st.tasks.tasks);
            let t = m.get(&n).ok_or_else(|| missing(&id))?;
            if t.outcome.is_some() || !wait || Instant::now() >= deadline {
                let mut out =
                    json!({"completed": t.outcome.is_some(), "task": Tasks::info(&node, n, t)});
                match &t.outcome {
                    Some((_, Ok(r))) => out["response"] = r.clone(),
                    Some((_, Err(e))) => out["error"] = e.clone(),
                    None => {}
                }
                return Ok(json_response(StatusCode::OK, out.to_string()));
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn wanted(p: &Params, action: &str) -> bool {
    match p.get("actions") {
        None => true,
        Some(a) => a
            .split(',')
            .any(|pat| crate::store::mapping::wildcard_match(pat.trim(), action)),
    }
}

fn listing(st: &State, p: &Params, only: Option<u64>) -> Value {
    let node = node_id(st);
    let m = lock(&st.tasks.tasks);
    let mut tasks = Map::new();
    for (n, t) in m.iter() {
        if t.outcome.is_none() && wanted(p, t.action) && only.is_none_or(|o| o == *n) {
            tasks.insert(format!("{node}:{n}"), Tasks::info(&node, *n, t));
        }
    }
    json!({"nodes": {node.clone(): {
        "name": st.node_name, "transport_address": "127.0.0.1:9300", "host": "127.0.0.1",
        "ip": "127.0.0.1:9300", "roles": ["data", "ingest", "master"], "tasks": tasks,
    }}})
}

/// `GET /_tasks` (running tasks; `actions=*byquery` narrows them).
pub async fn list(AxState(st): AxState<State>, Query(p): Query<Params>) -> Response {
    json_response(StatusCode::OK, listing(&st, &p, None).to_string())
}

/// `POST /_tasks/{id}/_cancel`: the task stops after its current batch;
/// what it deleted so far stays deleted.
pub async fn cancel(
    AxState(st): AxState<State>,
    Path(id): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, ApiError> {
    let n = parse_id(&st, &id)?;
    {
        let m = lock(&st.tasks.tasks);
        let t = m.get(&n).ok_or_else(|| missing(&id))?;
        if t.outcome.is_some() {
            return Err(missing(&id));
        }
        t.cancelled.store(true, Ordering::Relaxed);
    }
    Ok(json_response(
        StatusCode::OK,
        listing(&st, &p, Some(n)).to_string(),
    ))
}

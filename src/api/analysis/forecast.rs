//! `GET|POST /api/v1/forecast`: a series (as `/api/v1/series` selects it)
//! smoothed and forecast ahead with 80 % and 95 % prediction bands.

use axum::extract::{Query as UrlQuery, State as AxState};
use axum::response::Response;
use serde_json::{json, Value};

use super::params::{bad, selection, Args, SELECTION};
use super::{blocking, from_anyhow, num, ok, source};
use crate::analysis::forecast::{self, ForecastRequest, Model};
use crate::analysis::series;
use crate::api::error::ApiError;
use crate::api::es::Params;
use crate::api::{Body, State};

/// Points forecast when `horizon` is not given.
const DEFAULT_HORIZON: i64 = 12;

/// `GET|POST /api/v1/forecast`
pub async fn forecast(
    AxState(st): AxState<State>,
    UrlQuery(p): UrlQuery<Params>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let mut names: Vec<&str> = SELECTION.to_vec();
    names.extend(["model", "alpha", "season", "horizon"]);
    let a = Args::read(&p, &body, &names)?;
    let now = crate::event::now_ms();
    let req = selection(&a, now)?;
    let model_s = a.str("model")?.unwrap_or_else(|| "auto".into());
    let model: Model = model_s.parse().map_err(|e| bad("model", e))?;
    let alpha = a.float("alpha")?;
    if let Some(al) = alpha {
        if !(al > 0.0 && al <= 1.0) {
            return Err(bad("alpha", format!("must be in (0, 1], got {al}")));
        }
    }
    let season = match a.str("season")? {
        None => None,
        Some(_) => Some(a.int("season", 0, 2, 1_000_000)? as usize),
    };
    let horizon = a.int("horizon", DEFAULT_HORIZON, 1, forecast::MAX_HORIZON as i64)? as usize;
    let freq = ForecastRequest {
        model,
        alpha,
        season,
        horizon,
    };
    let src = source(&st);
    let res = blocking(move || series::run(src.as_ref(), &req).map_err(from_anyhow)).await?;
    let iv = res.interval_ms;
    let mut out = Vec::new();
    for s in &res.series {
        // the interval still in progress would look like a drop
        let pts: Vec<(i64, Option<f64>)> = s
            .points
            .iter()
            .copied()
            .filter(|(t, _)| t + iv <= now)
            .collect();
        let values = fill_gaps(&pts);
        let f = forecast::forecast(&values, iv, &freq).map_err(|e| {
            let param = match e {
                forecast::ForecastError::Alpha { .. } => "alpha",
                forecast::ForecastError::Horizon { .. } => "horizon",
                forecast::ForecastError::SeasonNotUsed { .. }
                | forecast::ForecastError::SeasonTooShort { .. }
                | forecast::ForecastError::SeasonTooLong { .. }
                | forecast::ForecastError::NoSeason => "season",
                _ => "from",
            };
            bad(param, format!("series '{}': {e}", s.key))
        })?;
        let last = pts.last().map_or(0, |p| p.0);
        out.push(json!({
            "key": s.key,
            "model": f.model,
            "params": f.params,
            "points": pts.iter().zip(&f.smoothed).map(|((t, v), sm)| json!({
                "ts": t, "actual": v.map(num), "smoothed": sm,
            })).collect::<Vec<_>>(),
            "forecast": f.future.iter().enumerate().map(|(i, b)| json!({
                "ts": last + (i as i64 + 1) * iv,
                "forecast": b.forecast, "lower80": b.lower80, "upper80": b.upper80,
                "lower95": b.lower95, "upper95": b.upper95,
            })).collect::<Vec<_>>(),
        }));
    }
    let mut body = json!({ "interval_ms": iv });
    if let [one] = out.as_slice() {
        if let (Some(b), Some(o)) = (body.as_object_mut(), one.as_object()) {
            for k in ["model", "params", "points", "forecast"] {
                b.insert(k.into(), o.get(k).cloned().unwrap_or(Value::Null));
            }
        }
    }
    body["series"] = Value::Array(out);
    Ok(ok(body))
}

/// Values for fitting: gaps (a metric with no values in an interval) take
/// the value before them, leading gaps the first value.
fn fill_gaps(points: &[(i64, Option<f64>)]) -> Vec<f64> {
    let first = points.iter().find_map(|p| p.1).unwrap_or(0.0);
    let mut last = first;
    points
        .iter()
        .map(|p| {
            if let Some(v) = p.1 {
                last = v;
            }
            last
        })
        .collect()
}

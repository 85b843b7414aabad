//! `/metrics`: figures per function and overall over a window, per-minute series, the state of
//! the pool and the host, and the Prometheus exposition (administrators: it names every user's
//! functions).

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ErrorBody};
use super::{AppState, Caller, QueryParams};
use crate::engine::PoolSnapshot;
use crate::metrics::host::Host;
use crate::metrics::prometheus::CONTENT_TYPE;
use crate::metrics::{
    self, Activity, FunctionMetrics, Known, Summary, TimeSeries, Window, WindowError,
};
use crate::model::Function;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/metrics", get(prometheus))
        .route("/metrics/system", get(system))
        .route("/metrics/summary", get(summary))
        .route("/metrics/timeseries", get(time_series))
        .route("/metrics/activity", get(activity))
        .route("/metrics/functions/{function}", get(function))
        .route(
            "/metrics/functions/{function}/timeseries",
            get(function_time_series),
        )
        // Seed 001's `GET /metrics/{function_id}`.
        .route("/metrics/{function}", get(function))
}

impl From<WindowError> for ApiError {
    fn from(error: WindowError) -> Self {
        ApiError::bad_request("invalid_window", error.to_string())
    }
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct WindowParams {
    /// `15m`, `1h`, `24h` (the default), `7d`, … up to `366d`, or `all`.
    pub window: Option<String>,
    /// Instead of `window`: from this RFC 3339 time on.
    pub since: Option<DateTime<Utc>>,
}

impl WindowParams {
    fn window(&self) -> Result<Window, ApiError> {
        Ok(Window::parse(self.window.as_deref(), self.since)?)
    }
}

/// The owner whose invocations `caller` may see: their own, or everyone's (administrators).
fn owner(caller: &Caller) -> Option<&str> {
    (!caller.admin).then_some(caller.user.as_str())
}

fn known(function: &Function) -> Known<'_> {
    Known {
        id: &function.id,
        name: &function.name,
    }
}

/// Every function the caller may see, with totals: invocations, errors, timeouts, throttles,
/// out-of-memory kills, success rate, starts by kind, duration mean/p50/p95/p99/max, mean init
/// time, peak memory and CPU time.
#[utoipa::path(get, path = "/metrics/summary", tag = "metrics", params(WindowParams),
    responses((status = 200, body = Summary), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn summary(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(params): QueryParams<WindowParams>,
) -> Result<Json<Summary>, ApiError> {
    let window = params.window()?;
    let functions = state.registry.list(caller.scope());
    let known: Vec<Known<'_>> = functions.iter().map(|f| known(f)).collect();
    Ok(Json(
        metrics::summary(&state.store, owner(&caller), &known, window).await?,
    ))
}

/// One function's figures over the window.
#[utoipa::path(get, path = "/metrics/functions/{function}", tag = "metrics",
    params(("function" = String, Path, description = "id or name"), WindowParams),
    responses((status = 200, body = FunctionMetrics), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn function(
    State(state): State<AppState>,
    caller: Caller,
    Path(function): Path<String>,
    QueryParams(params): QueryParams<WindowParams>,
) -> Result<Json<FunctionMetrics>, ApiError> {
    let window = params.window()?;
    let found = state.function(&caller, &function)?;
    Ok(Json(
        metrics::function(&state.store, known(&found), window).await?,
    ))
}

/// Per-minute figures of every function the caller may see, for charts.
#[utoipa::path(get, path = "/metrics/timeseries", tag = "metrics", params(WindowParams),
    responses((status = 200, body = TimeSeries), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn time_series(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(params): QueryParams<WindowParams>,
) -> Result<Json<TimeSeries>, ApiError> {
    let window = params.window()?;
    Ok(Json(
        metrics::time_series(&state.store, owner(&caller), None, window).await?,
    ))
}

/// Per-minute figures of one function, for charts.
#[utoipa::path(get, path = "/metrics/functions/{function}/timeseries", tag = "metrics",
    params(("function" = String, Path, description = "id or name"), WindowParams),
    responses((status = 200, body = TimeSeries), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn function_time_series(
    State(state): State<AppState>,
    caller: Caller,
    Path(function): Path<String>,
    QueryParams(params): QueryParams<WindowParams>,
) -> Result<Json<TimeSeries>, ApiError> {
    let window = params.window()?;
    let found = state.function(&caller, &function)?;
    Ok(Json(
        metrics::time_series(&state.store, None, Some(&found.id), window).await?,
    ))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct ActivityParams {
    /// As for the other metrics, but not `all`: default `24h`.
    pub window: Option<String>,
    pub since: Option<DateTime<Utc>>,
    /// Into how many equal buckets the window is cut: 1 to 1440, default 24.
    pub buckets: Option<u32>,
}

const MAX_BUCKETS: u32 = 1440;

/// How each of the caller's functions did over the window, bucket by bucket (invocations and
/// failures), and how its latest invocation ended: the dashboard's function list.
#[utoipa::path(get, path = "/metrics/activity", tag = "metrics", params(ActivityParams),
    responses((status = 200, body = Activity), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn activity(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(params): QueryParams<ActivityParams>,
) -> Result<Json<Activity>, ApiError> {
    let window = Window::parse(params.window.as_deref(), params.since)?;
    let since = window.since.ok_or_else(|| {
        ApiError::bad_request(
            "invalid_window",
            "activity is counted over a window with a start: use a length such as 24h, or since",
        )
    })?;
    let buckets = params.buckets.unwrap_or(24);
    if !(1..=MAX_BUCKETS).contains(&buckets) {
        return Err(ApiError::bad_request(
            "invalid_buckets",
            format!("buckets must be between 1 and {MAX_BUCKETS}"),
        ));
    }
    let functions = state.registry.list(caller.scope());
    let known: Vec<Known<'_>> = functions.iter().map(|f| known(f)).collect();
    Ok(Json(
        metrics::activity(&state.store, owner(&caller), &known, window, since, buckets).await?,
    ))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SystemMetrics {
    pub pool: PoolSnapshot,
    pub host: Host,
}

/// Instances by state, runtime and language; starts by kind and the hit rate; memory reserved;
/// queue length; the host's CPU and memory. A non-administrator sees only their own instances,
/// memory and queue (`pool.own`), against their memory quota.
#[utoipa::path(get, path = "/metrics/system", tag = "metrics",
    responses((status = 200, body = SystemMetrics), (status = 401, body = ErrorBody)))]
pub async fn system(State(state): State<AppState>, caller: Caller) -> Json<SystemMetrics> {
    Json(SystemMetrics {
        // Another user's instances are theirs to know about.
        pool: match caller.admin {
            true => state.engine.pool(),
            false => state.engine.pool_of(&caller.user),
        },
        host: state.host.read(),
    })
}

/// Counters and histograms of invocations by function, runtime, status and start kind, and the
/// pool's gauges, in the Prometheus text format (administrators only).
#[utoipa::path(get, path = "/metrics", tag = "metrics",
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn prometheus(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let text = state.exposition.render().map_err(ApiError::internal)?;
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response())
}

//! Invoking functions — one, or a batch run concurrently — and reading invocation history.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ErrorBody};
use super::{AppState, Caller, EventBody, JsonBody, QueryParams, event_from_value};
use crate::engine::InvokeRequest;
use crate::model::{Invocation, RuntimeKind, Status};
use crate::store::InvocationFilter;

/// Longest batch accepted by `POST /functions/invoke`.
const MAX_BATCH: usize = 1000;

pub const INVOCATION_ID_HEADER: HeaderName = HeaderName::from_static("x-kindling-invocation-id");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/functions/{function}/invoke", post(invoke))
        .route("/functions/invoke", post(invoke_batch))
        .route("/invocations", get(list))
        .route("/invocations/{id}", get(read))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct InvokeParams {
    /// Run on this runtime instead of the function's own.
    pub runtime: Option<String>,
}

/// One invocation, as answered: the record with the invocation id also in a header.
pub struct Answer(pub Arc<Invocation>);

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let id = HeaderValue::from_str(&self.0.invocation_id).ok();
        let mut response = Json(&*self.0).into_response();
        if let Some(id) = id {
            response.headers_mut().insert(INVOCATION_ID_HEADER, id);
        }
        response
    }
}

pub fn runtime_param(runtime: Option<&str>) -> Result<Option<RuntimeKind>, ApiError> {
    runtime
        .map(|r| {
            r.parse()
                .map_err(|e| ApiError::bad_request("unknown_runtime", e))
        })
        .transpose()
}

/// Finds the function and runs one invocation of it.
pub async fn run_one(
    state: &AppState,
    caller: &Caller,
    function: &str,
    request: InvokeRequest,
) -> Result<Arc<Invocation>, ApiError> {
    let function = state.function(caller, function)?;
    Ok(state.engine.invoke(function, request).await?)
}

/// Invoke a function with the request body as its event. The answer is the invocation record;
/// a function that failed is still a `200` whose `status` says how it failed.
#[utoipa::path(post, path = "/functions/{function}/invoke", tag = "invocations",
    params(("function" = String, Path, description = "id or name"), InvokeParams),
    request_body(content = Object, description = "the event (any JSON; empty means {})"),
    responses((status = 200, body = Invocation), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn invoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(function): Path<String>,
    QueryParams(params): QueryParams<InvokeParams>,
    EventBody(event): EventBody,
) -> Result<Answer, ApiError> {
    let request = InvokeRequest {
        event,
        args: Vec::new(),
        runtime: runtime_param(params.runtime.as_deref())?,
    };
    Ok(Answer(run_one(&state, &caller, &function, request).await?))
}

/// A function named by id or name; the seeds also send numeric ids.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum FunctionRef {
    Text(String),
    Number(i64),
}

impl FunctionRef {
    pub fn as_text(&self) -> String {
        match self {
            FunctionRef::Text(text) => text.clone(),
            FunctionRef::Number(number) => number.to_string(),
        }
    }
}

/// One invocation of a batch (also the body of the seeds' `POST /functions/execute`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchItem {
    /// Id or name of the function.
    #[serde(alias = "id")]
    pub function: FunctionRef,
    /// The event; default `{}`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub event: Option<serde_json::Value>,
    /// Command-line arguments for script-style functions.
    #[serde(default)]
    pub args: Vec<String>,
    pub runtime: Option<String>,
    /// Shorthand for `runtime: "gvisor"` (seed 004).
    #[serde(default)]
    pub use_gvisor: bool,
}

impl BatchItem {
    pub fn request(&self) -> Result<InvokeRequest, ApiError> {
        let runtime = match (self.use_gvisor, runtime_param(self.runtime.as_deref())?) {
            (true, _) => Some(RuntimeKind::Gvisor),
            (false, runtime) => runtime,
        };
        Ok(InvokeRequest {
            event: event_from_value(self.event.as_ref().unwrap_or(&serde_json::json!({}))),
            args: self.args.clone(),
            runtime,
        })
    }
}

/// One answer of a batch: the invocation, or why it could not run.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum BatchAnswer {
    Invocation(Arc<Invocation>),
    Error(ErrorBody),
}

/// Runs every item concurrently (bounded) and answers in the items' order.
pub async fn run_batch(
    state: &AppState,
    caller: &Caller,
    items: Vec<BatchItem>,
) -> Result<Vec<BatchAnswer>, ApiError> {
    if items.len() > MAX_BATCH {
        return Err(ApiError::bad_request(
            "batch_too_large",
            format!(
                "a batch holds at most {MAX_BATCH} invocations; this one has {}",
                items.len()
            ),
        ));
    }
    let answers = futures::stream::iter(items)
        .map(|item| async move {
            let outcome = match item.request() {
                Ok(request) => run_one(state, caller, &item.function.as_text(), request).await,
                Err(e) => Err(e),
            };
            match outcome {
                Ok(invocation) => BatchAnswer::Invocation(invocation),
                Err(error) => BatchAnswer::Error(error.body()),
            }
        })
        .buffered(state.limits.batch_concurrency.max(1))
        .collect()
        .await;
    Ok(answers)
}

/// Invoke several functions at once. Each item succeeds or fails on its own.
#[utoipa::path(post, path = "/functions/invoke", tag = "invocations", request_body = Vec<BatchItem>,
    responses((status = 200, body = Vec<BatchAnswer>), (status = 400, body = ErrorBody)))]
pub async fn invoke_batch(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(items): JsonBody<Vec<BatchItem>>,
) -> Result<Json<Vec<BatchAnswer>>, ApiError> {
    Ok(Json(run_batch(&state, &caller, items).await?))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct ListParams {
    /// Only this function's invocations (id or name).
    pub function: Option<String>,
    /// Only invocations with this status.
    pub status: Option<String>,
    /// Only invocations that started before this RFC 3339 time (for paging).
    pub before: Option<DateTime<Utc>>,
    /// At most this many (default 50, at most 1000).
    pub limit: Option<u32>,
}

/// Invocation history, newest first.
#[utoipa::path(get, path = "/invocations", tag = "invocations", params(ListParams),
    responses((status = 200, body = Vec<Invocation>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(params): QueryParams<ListParams>,
) -> Result<Json<Vec<Invocation>>, ApiError> {
    let function_id = match &params.function {
        Some(function) => Some(state.function(&caller, function)?.id.to_string()),
        None => None,
    };
    history(&state, &caller, function_id, &params)
        .await
        .map(Json)
}

/// Invocations matching `params`, restricted to what `caller` may see.
pub async fn history(
    state: &AppState,
    caller: &Caller,
    function_id: Option<String>,
    params: &ListParams,
) -> Result<Vec<Invocation>, ApiError> {
    let status = params
        .status
        .as_deref()
        .map(|s| {
            s.parse::<Status>()
                .map_err(|e| ApiError::bad_request("unknown_status", e))
        })
        .transpose()?;
    let filter = InvocationFilter {
        owner: (!caller.admin).then(|| caller.user.clone()),
        function_id,
        status,
        before: params.before,
        limit: super::page(params.limit),
    };
    Ok(state.store.invocations(&filter).await?)
}

/// One invocation with its result, error, logs and timings.
#[utoipa::path(get, path = "/invocations/{id}", tag = "invocations",
    params(("id" = String, Path, description = "invocation id")),
    responses((status = 200, body = Invocation), (status = 404, body = ErrorBody)))]
pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Invocation>, ApiError> {
    state
        .store
        .invocation(&id)
        .await?
        .filter(|invocation| caller.admin || invocation.owner == caller.user)
        .map(Json)
        .ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                "invocation_not_found",
                format!("invocation '{id}' not found"),
            )
        })
}

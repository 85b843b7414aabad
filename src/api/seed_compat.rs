//! The requests documented by the seed projects, as thin aliases of the invocation API:
//! `POST /functions/{id}/execute`, `POST /functions/execute`, `POST /execute/{name}`,
//! `POST /execute_gvisor/{name}`, `GET /functions/{id}/executions`.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::error::{ApiError, ErrorBody};
use super::invocations::{self, Answer, BatchAnswer, BatchItem, ListParams, run_batch, run_one};
use super::{AppState, Caller, JsonBody, QueryParams, RawBody, event_from_bytes, event_from_value};
use crate::engine::InvokeRequest;
use crate::model::{Invocation, RuntimeKind};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/functions/{function}/execute", post(invocations::invoke))
        .route("/functions/execute", post(execute))
        .route("/execute/{function}", post(execute_named))
        .route("/execute_gvisor/{function}", post(execute_named_gvisor))
        .route("/functions/{function}/executions", get(executions))
}

/// One `{id, args, use_gvisor}` object, or a list of them.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ExecuteBody {
    One(BatchItem),
    Many(Vec<BatchItem>),
}

/// Seeds 000 and 004: execute one function (`{id, args, use_gvisor}`) or several (a list).
#[utoipa::path(post, path = "/functions/execute", tag = "seed compatibility", request_body = ExecuteBody,
    responses((status = 200, body = Invocation), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn execute(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<ExecuteBody>,
) -> Result<Response, ApiError> {
    Ok(match body {
        ExecuteBody::One(item) => {
            let request = item.request()?;
            Answer(run_one(&state, &caller, &item.function.as_text(), request).await?)
                .into_response()
        }
        ExecuteBody::Many(items) => {
            let answers: Vec<BatchAnswer> = run_batch(&state, &caller, items).await?;
            Json(answers).into_response()
        }
    })
}

/// Seed 003's body: `{"event": …}`, optionally with `args`.
#[derive(Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NamedExecution {
    #[schema(value_type = Object)]
    pub event: Option<serde_json::Value>,
    #[serde(default)]
    pub args: Vec<String>,
}

async fn execute_with(
    state: AppState,
    caller: Caller,
    function: String,
    RawBody(body): RawBody,
    runtime: Option<RuntimeKind>,
) -> Result<Answer, ApiError> {
    let execution: NamedExecution = if body.iter().all(u8::is_ascii_whitespace) {
        NamedExecution::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(
                "invalid_json",
                format!("expected {{\"event\": …, \"args\": […]}}: {e}"),
            )
        })?
    };
    let event = match &execution.event {
        Some(event) => event_from_value(event),
        None => event_from_bytes(b"{}")?,
    };
    let request = InvokeRequest {
        event,
        args: execution.args,
        runtime,
    };
    Ok(Answer(run_one(&state, &caller, &function, request).await?))
}

/// Seed 003: execute a function by name with `{"event": …}`.
#[utoipa::path(post, path = "/execute/{function}", tag = "seed compatibility", request_body = NamedExecution,
    params(("function" = String, Path, description = "id or name")),
    responses((status = 200, body = Invocation), (status = 404, body = ErrorBody)))]
pub async fn execute_named(
    State(state): State<AppState>,
    caller: Caller,
    Path(function): Path<String>,
    body: RawBody,
) -> Result<Answer, ApiError> {
    execute_with(state, caller, function, body, None).await
}

/// Seed 003: the same on the gVisor runtime.
#[utoipa::path(post, path = "/execute_gvisor/{function}", tag = "seed compatibility", request_body = NamedExecution,
    params(("function" = String, Path, description = "id or name")),
    responses((status = 200, body = Invocation), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn execute_named_gvisor(
    State(state): State<AppState>,
    caller: Caller,
    Path(function): Path<String>,
    body: RawBody,
) -> Result<Answer, ApiError> {
    execute_with(state, caller, function, body, Some(RuntimeKind::Gvisor)).await
}

/// Seed 002: a function's execution history, newest first.
#[utoipa::path(get, path = "/functions/{function}/executions", tag = "seed compatibility",
    params(("function" = String, Path, description = "id or name"), ListParams),
    responses((status = 200, body = Vec<Invocation>), (status = 404, body = ErrorBody)))]
pub async fn executions(
    State(state): State<AppState>,
    caller: Caller,
    Path(function): Path<String>,
    QueryParams(params): QueryParams<ListParams>,
) -> Result<Json<Vec<Invocation>>, ApiError> {
    let found = state.function(&caller, &function)?;
    invocations::history(&state, &caller, Some(found.id.to_string()), &params)
        .await
        .map(Json)
}

//! `/functions`: create, list, read, update and delete functions.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::{AppState, Caller, JsonBody, QueryParams};
use crate::functions::FunctionInput;
use crate::model::Function;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/functions", get(list).post(create))
        .route(
            "/functions/{function}",
            get(read).put(update).patch(update).delete(delete),
        )
        .route("/functions/{function}/versions", get(versions))
        .route("/functions/{function}/versions/{version}", get(version))
}

/// A function with its code, as `GET /functions/{id}` answers.
#[derive(Serialize, utoipa::ToSchema)]
pub struct FunctionWithCode {
    #[serde(flatten)]
    pub function: Function,
    pub code: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Deleted {
    pub message: String,
    pub id: String,
}

async fn with_code(state: &AppState, function: &Function) -> Result<FunctionWithCode, ApiError> {
    Ok(FunctionWithCode {
        code: state.registry.code(function).await?,
        function: function.clone(),
    })
}

/// Register a function (version 1).
#[utoipa::path(post, path = "/functions", tag = "functions", request_body = FunctionInput,
    responses((status = 201, body = FunctionWithCode), (status = 400, body = super::error::ErrorBody),
              (status = 409, body = super::error::ErrorBody), (status = 413, body = super::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(input): JsonBody<FunctionInput>,
) -> Result<(StatusCode, Json<FunctionWithCode>), ApiError> {
    let function = state.registry.create(&caller.user, input).await?;
    Ok((
        StatusCode::CREATED,
        Json(with_code(&state, &function).await?),
    ))
}

/// Every function the caller owns, without code.
#[utoipa::path(get, path = "/functions", tag = "functions", responses((status = 200, body = Vec<Function>)))]
pub async fn list(State(state): State<AppState>, caller: Caller) -> Json<Vec<Function>> {
    Json(
        state
            .registry
            .list(caller.scope())
            .into_iter()
            .map(|f| (*f).clone())
            .collect(),
    )
}

/// One function, by id or name, with its code.
#[utoipa::path(get, path = "/functions/{function}", tag = "functions",
    params(("function" = String, Path, description = "id or name")),
    responses((status = 200, body = FunctionWithCode), (status = 404, body = super::error::ErrorBody)))]
pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(function): Path<String>,
) -> Result<Json<FunctionWithCode>, ApiError> {
    let found = state.function(&caller, &function)?;
    Ok(Json(with_code(&state, &found).await?))
}

/// Change a function: a new version. Missing fields keep their values; idle instances of the
/// old version are retired, running invocations finish on it.
#[utoipa::path(put, path = "/functions/{function}", tag = "functions", request_body = FunctionInput,
    params(("function" = String, Path, description = "id or name")),
    responses((status = 200, body = FunctionWithCode), (status = 400, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(function): Path<String>,
    JsonBody(input): JsonBody<FunctionInput>,
) -> Result<Json<FunctionWithCode>, ApiError> {
    let (old, new) = state
        .registry
        .update(caller.scope(), &function, input)
        .await?;
    state.engine.retire(&old.id);
    Ok(Json(with_code(&state, &new).await?))
}

/// Delete a function and kill its instances; its invocation history stays.
#[utoipa::path(delete, path = "/functions/{function}", tag = "functions",
    params(("function" = String, Path, description = "id or name")),
    responses((status = 200, body = Deleted), (status = 404, body = super::error::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(function): Path<String>,
) -> Result<Json<Deleted>, ApiError> {
    let deleted = state.registry.delete(caller.scope(), &function).await?;
    state.engine.forget(&deleted.id);
    Ok(Json(Deleted {
        message: "Function deleted".to_owned(),
        id: deleted.id.to_string(),
    }))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct VersionParams {
    /// Only versions before this one (for paging).
    pub before: Option<i64>,
    /// At most this many (default 50, at most 1000).
    pub limit: Option<u32>,
}

/// A function's versions, newest first, without code; a page at a time (`before`, `limit`).
#[utoipa::path(get, path = "/functions/{function}/versions", tag = "functions",
    params(("function" = String, Path, description = "id or name"), VersionParams),
    responses((status = 200, body = Vec<Function>), (status = 400, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody)))]
pub async fn versions(
    State(state): State<AppState>,
    caller: Caller,
    Path(function): Path<String>,
    QueryParams(params): QueryParams<VersionParams>,
) -> Result<Json<Vec<Function>>, ApiError> {
    let found = state.function(&caller, &function)?;
    let page = super::page(params.limit);
    Ok(Json(
        state.registry.versions(&found, params.before, page).await?,
    ))
}

/// One version of a function, with its code.
#[utoipa::path(get, path = "/functions/{function}/versions/{version}", tag = "functions",
    params(("function" = String, Path, description = "id or name"), ("version" = i64, Path, description = "the version number")),
    responses((status = 200, body = FunctionWithCode), (status = 400, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody)))]
pub async fn version(
    State(state): State<AppState>,
    caller: Caller,
    Path((function, version)): Path<(String, String)>,
) -> Result<Json<FunctionWithCode>, ApiError> {
    let found = state.function(&caller, &function)?;
    let number = version.parse::<i64>().map_err(|_| {
        ApiError::bad_request(
            "invalid_version",
            format!("{version:?} is not a version number"),
        )
    })?;
    let old = state.registry.version(&found, number).await?;
    Ok(Json(with_code(&state, &old).await?))
}

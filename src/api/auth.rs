//! `/auth`: register and sign in (public), then who am I, users (administrators) and API tokens.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ErrorBody};
use super::{AppState, Caller, JsonBody, QueryParams};
use crate::auth::{Credentials, IssuedToken, NewToken, NewUser};
use crate::model::{TokenInfo, User};

/// The routes anyone may call.
pub fn public_routes() -> Router<AppState> {
    Router::new()
        .route("/auth/login", post(login))
        .route("/auth/register", post(register))
}

/// The routes behind a token.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/me", get(me))
        .route("/auth/users", get(users))
        .route("/auth/users/{username}/reset-token", post(reset_token))
        .route("/auth/tokens", get(tokens).post(create_token))
        .route("/auth/tokens/{id}", delete(revoke_token))
}

/// A login: a new token and whose it is.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Login {
    #[serde(flatten)]
    pub token: IssuedToken,
    pub user: User,
}

/// Sign in with a user name and password; the answer holds a new API token (shown once).
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = Credentials, security(()),
    responses((status = 200, body = Login), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    JsonBody(credentials): JsonBody<Credentials>,
) -> Result<Json<Login>, ApiError> {
    let (token, user) = state.accounts.login(credentials).await?;
    Ok(Json(Login { token, user }))
}

/// Register a user. Administrators may register anyone; without an administrator's token this
/// works only when open registration is on, and only for plain users.
#[utoipa::path(post, path = "/auth/register", tag = "auth", request_body = NewUser, security((), ("bearer" = [])),
    responses((status = 201, body = User), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn register(
    State(state): State<AppState>,
    caller: Option<Caller>,
    JsonBody(input): JsonBody<NewUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    let user = state.accounts.register(caller.as_ref(), input).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// Who the caller is.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Me {
    pub id: String,
    pub username: String,
    pub admin: bool,
}

/// The user the request's token belongs to.
#[utoipa::path(get, path = "/auth/me", tag = "auth",
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub async fn me(caller: Caller) -> Json<Me> {
    Json(Me::from(&caller))
}

impl From<&Caller> for Me {
    fn from(caller: &Caller) -> Self {
        Self {
            id: caller.user.clone(),
            username: caller.name.clone(),
            admin: caller.admin,
        }
    }
}

/// Every user (administrators only).
#[utoipa::path(get, path = "/auth/users", tag = "auth",
    responses((status = 200, body = Vec<User>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn users(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<User>>, ApiError> {
    caller.require_admin()?;
    Ok(Json(state.accounts.users().await?))
}

/// Revoke every token and session of a user and make one new API token for them, shown once
/// (administrators only; what `kindling admin reset-token` does on the server's machine).
#[utoipa::path(post, path = "/auth/users/{username}/reset-token", tag = "auth",
    params(("username" = String, Path, description = "the user's name")),
    responses((status = 201, body = IssuedToken), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn reset_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    caller.require_admin()?;
    let token = state
        .accounts
        .replace_tokens(&username, "reset by an administrator")
        .await?;
    Ok((StatusCode::CREATED, Json(token)))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct TokensParams {
    /// Another user's tokens (administrators only).
    pub user: Option<String>,
}

/// The caller's API tokens, newest first, without their texts.
#[utoipa::path(get, path = "/auth/tokens", tag = "auth", params(TokensParams),
    responses((status = 200, body = Vec<TokenInfo>), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn tokens(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(params): QueryParams<TokensParams>,
) -> Result<Json<Vec<TokenInfo>>, ApiError> {
    Ok(Json(
        state
            .accounts
            .tokens(&caller, params.user.as_deref())
            .await?,
    ))
}

/// Make an API token for the caller. Its text is in this answer only: it is stored hashed.
#[utoipa::path(post, path = "/auth/tokens", tag = "auth", request_body = NewToken,
    responses((status = 201, body = IssuedToken), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(input): JsonBody<NewToken>,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    let quota = state.quotas.of(&caller.user).tokens;
    let token = state.accounts.create_token(&caller, input, quota).await?;
    Ok((StatusCode::CREATED, Json(token)))
}

/// Revoke a token: it stops working at once. Administrators may revoke anyone's.
#[utoipa::path(delete, path = "/auth/tokens/{id}", tag = "auth",
    params(("id" = String, Path, description = "the token's id (kdl_<id>_…)")),
    responses((status = 200, body = TokenInfo), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<TokenInfo>, ApiError> {
    Ok(Json(state.accounts.revoke(&caller, &id).await?))
}

//! `/auth`: register and sign in (public), then who am I, users (administrators) and API tokens.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ErrorBody};
use super::{AppState, Caller, Client, JsonBody, QueryParams};
use crate::auth::{Credentials, IssuedToken, NewToken, NewUser};
use crate::functions::registry::Scope;
use crate::model::{QuotaOverrides, Quotas, Role, TokenInfo, User};

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
        .route("/auth/users/{username}", delete(delete_user))
        .route(
            "/auth/users/{username}/quotas",
            get(user_quotas).put(set_user_quotas),
        )
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
    responses((status = 200, body = Login), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 429, body = ErrorBody, description = "too many attempts for this user name or from this client; see Retry-After")))]
pub async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    JsonBody(credentials): JsonBody<Credentials>,
) -> Result<Json<Login>, ApiError> {
    let (token, user) = state.accounts.login(credentials, client).await?;
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

/// A user's quotas: what holds for them, what an administrator changed, and what they would be
/// without changes.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UserQuotas {
    pub user: String,
    pub quotas: Quotas,
    pub overrides: QuotaOverrides,
    pub defaults: Quotas,
}

async fn quotas_of(state: &AppState, user: &User) -> Result<UserQuotas, ApiError> {
    let overrides = (state.store.quota_overrides(Some(&user.id)).await?)
        .remove(&user.id)
        .unwrap_or_default();
    Ok(UserQuotas {
        user: user.username.clone(),
        quotas: state.quotas.of(&user.id),
        overrides,
        defaults: state.quotas.base(user.role == Role::Admin),
    })
}

/// A user's quotas (administrators, and the user themselves).
#[utoipa::path(get, path = "/auth/users/{username}/quotas", tag = "auth",
    params(("username" = String, Path, description = "the user's name")),
    responses((status = 200, body = UserQuotas), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn user_quotas(
    State(state): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
) -> Result<Json<UserQuotas>, ApiError> {
    if username != caller.name {
        caller.require_admin()?;
    }
    let user = state.accounts.user(&username).await?;
    Ok(Json(quotas_of(&state, &user).await?))
}

/// Change a user's quotas (administrators): each field given replaces the default, each left
/// out (or `null`) goes back to it. Running invocations are not stopped; what is stored beyond
/// a lowered quota stays, and nothing more is accepted until it is under it.
#[utoipa::path(put, path = "/auth/users/{username}/quotas", tag = "auth", request_body = QuotaOverrides,
    params(("username" = String, Path, description = "the user's name")),
    responses((status = 200, body = UserQuotas), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn set_user_quotas(
    State(state): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
    JsonBody(overrides): JsonBody<QuotaOverrides>,
) -> Result<Json<UserQuotas>, ApiError> {
    let user = state
        .accounts
        .set_quotas(&caller, &username, &overrides)
        .await?;
    state
        .quotas
        .set(&user.id, user.role == Role::Admin, &overrides);
    Ok(Json(quotas_of(&state, &user).await?))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct DeleteUserParams {
    /// What becomes of the user's functions: `delete`, or `transfer` to the user `to`. Needed
    /// when they have any.
    pub functions: Option<String>,
    /// Who receives the functions with `functions=transfer`.
    pub to: Option<String>,
}

/// A deleted user, and what became of their functions.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DeletedUser {
    pub user: User,
    /// The functions deleted, by name.
    pub deleted_functions: Vec<String>,
    /// The functions handed over, by name, and to whom.
    pub transferred_functions: Vec<String>,
    pub transferred_to: Option<String>,
}

/// Delete a user (administrators): their tokens and sessions stop working at once, their
/// functions are deleted or handed over to another user (`?functions=delete`, or
/// `?functions=transfer&to=NAME`), their idle instances are killed. Their invocation records
/// stay until retention prunes them.
#[utoipa::path(delete, path = "/auth/users/{username}", tag = "auth", params(("username" = String, Path, description = "the user's name"), DeleteUserParams),
    responses((status = 200, body = DeletedUser), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
    QueryParams(params): QueryParams<DeleteUserParams>,
) -> Result<Json<DeletedUser>, ApiError> {
    let user = state.accounts.user_to_delete(&caller, &username).await?;
    let owned = state.registry.list(Scope::Owner(&user.id)).len();
    let recipient = match (params.functions.as_deref(), params.to.as_deref()) {
        (Some("delete"), None) => None,
        (Some("transfer"), Some(to)) => Some(state.accounts.user(to).await?),
        (None, None) if owned == 0 => None,
        _ => {
            return Err(ApiError::bad_request(
                "functions_choice",
                format!(
                    "'{username}' has {owned} functions: say what becomes of them with ?functions=delete or ?functions=transfer&to=<user>"
                ),
            ));
        }
    };
    if recipient.as_ref().is_some_and(|to| to.id == user.id) {
        return Err(ApiError::bad_request(
            "functions_choice",
            "a user's functions cannot be handed over to that same user",
        ));
    }
    if let Some(to) = &recipient {
        state.registry.check_transfer(&user.id, &to.id)?;
    }
    // Locked out first, deleted last: a request let in before the lock-out that makes a
    // function meanwhile is caught by the second round (once the user is gone, the store
    // refuses their functions).
    state.accounts.lock_out(&caller, &user).await?;
    let mut names = hand_over_or_delete(&state, &user, recipient.as_ref()).await?;
    state.accounts.delete_user(&caller, &user).await?;
    names.extend(hand_over_or_delete(&state, &user, recipient.as_ref()).await?);
    state.quotas.forget(&user.id);
    let transferred_to = recipient.map(|to| to.username);
    let (transferred_functions, deleted_functions) = match transferred_to {
        Some(_) => (names, Vec::new()),
        None => (Vec::new(), names),
    };
    Ok(Json(DeletedUser {
        user,
        deleted_functions,
        transferred_functions,
        transferred_to,
    }))
}

/// Hands every function of `user` over to `recipient`, or deletes them all (`None`); their
/// idle instances are killed. Returns their names.
async fn hand_over_or_delete(
    state: &AppState,
    user: &User,
    recipient: Option<&User>,
) -> Result<Vec<String>, ApiError> {
    let functions = match recipient {
        Some(to) => state.registry.transfer_all(&user.id, &to.id).await?,
        None => state.registry.delete_all(&user.id).await?,
    };
    Ok(functions
        .iter()
        .map(|function| {
            state.engine.forget(&function.id);
            function.name.clone()
        })
        .collect())
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

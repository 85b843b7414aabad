//! The HTTP API: one file per resource, one error type ([`error::ApiError`]), the OpenAPI
//! document ([`openapi`]). Every route but `/health`, `/auth/login`, `/auth/register`, the
//! dashboard's sign-in ([`session`]) and the docs sits behind [`require_caller`], which checks the
//! bearer token — or the dashboard's session cookie and its CSRF proof — or, for `/run` and the
//! seeds' aliases, behind [`require_bearer`].

mod auth;
pub mod error;
mod functions;
mod health;
mod invocations;
mod metrics;
pub mod openapi;
mod run;
mod seed_compat;
pub mod session;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{
    DefaultBodyLimit, FromRequest, FromRequestParts, OptionalFromRequestParts, Request, State,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

pub use crate::auth::Caller;
use crate::auth::session::CSRF_HEADER;
use crate::auth::{Accounts, AuthError};
use crate::config::Limits;
use crate::engine::Engine;
use crate::functions::Registry;
use crate::metrics::host::HostSampler;
use crate::metrics::prometheus::Exposition;
use crate::model::{Function, RuntimeKind};
use crate::quotas::QuotaTable;
use crate::store::Store;

use self::error::ApiError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    pub accounts: Arc<Accounts>,
    pub engine: Engine,
    pub exposition: Arc<Exposition>,
    pub host: Arc<HostSampler>,
    /// Every user's quotas.
    pub quotas: Arc<QuotaTable>,
    pub store: Store,
    pub limits: Limits,
    pub default_runtime: RuntimeKind,
}

impl AppState {
    /// The current version of a function the caller may see, by id or name; 404 otherwise.
    pub fn function(&self, caller: &Caller, id_or_name: &str) -> Result<Arc<Function>, ApiError> {
        self.registry
            .resolve(caller.scope(), id_or_name)
            .ok_or_else(|| ApiError::function_not_found(id_or_name))
    }
}

/// The routes. Function bodies may carry up to 5 MiB of code, JSON-escaped; invocation bodies are
/// events, capped at the payload limit.
pub fn router(state: AppState) -> Router {
    let code_body_limit = state.limits.max_code_bytes.saturating_mul(6).max(1 << 20);
    let payload_limit = state.limits.max_payload_bytes;
    let management = Router::new()
        .merge(functions::routes())
        .layer(DefaultBodyLimit::max(code_body_limit))
        .layer(middleware::from_fn_with_state(
            code_body_limit,
            refuse_declared_oversize,
        ));
    let invoking =
        Router::new()
            .merge(invocations::routes())
            .route_layer(middleware::from_fn_with_state(
                state.clone(),
                require_caller,
            ));
    // `/run` answers what a function writes — its HTML and scripts, on this origin — and the
    // seeds' aliases serve no page: a browser's session cookie opens neither.
    let bearer_only = Router::new()
        .merge(seed_compat::routes())
        .merge(run::routes())
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_bearer,
        ));
    let payload_limited = Router::new()
        .merge(invoking)
        .merge(bearer_only)
        .layer(DefaultBodyLimit::max(payload_limit))
        .layer(middleware::from_fn_with_state(
            payload_limit,
            refuse_declared_oversize,
        ));
    let protected = Router::new()
        .merge(management)
        .merge(metrics::routes())
        .merge(auth::routes())
        // Only matched routes: an unknown path stays a 404 for everyone.
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_caller,
        ));
    Router::new()
        .merge(protected)
        .merge(payload_limited)
        .merge(auth::public_routes())
        .merge(session::routes())
        .merge(health::routes())
        .merge(openapi::routes())
        .with_state(state)
}

/// Refuses a request without valid credentials — a bearer token or the dashboard's session
/// cookie (401) — before anything else looks at it, and hands the [`Caller`] to the handler.
async fn require_caller(state: State<AppState>, request: Request, next: Next) -> Response {
    admit(state, request, next, Sessions::Accepted).await
}

/// As [`require_caller`], for routes that take bearer tokens only.
async fn require_bearer(state: State<AppState>, request: Request, next: Next) -> Response {
    admit(state, request, next, Sessions::Refused).await
}

/// Whether a route takes the dashboard's session cookie as credentials.
#[derive(Clone, Copy, PartialEq)]
enum Sessions {
    Accepted,
    Refused,
}

async fn admit(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
    sessions: Sessions,
) -> Response {
    match authenticate(
        &state.accounts,
        request.method(),
        request.headers(),
        sessions,
    )
    .await
    {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(refusal) => ApiError::from(refusal).into_response(),
    }
}

/// The caller a request's credentials name: its bearer token, or else (where `sessions` are
/// accepted) the dashboard's session cookie — with the session's CSRF proof when the request may
/// change something. Without authentication, a change sent by another site's page is refused:
/// there is no credential to stop it otherwise.
async fn authenticate(
    accounts: &Accounts,
    method: &Method,
    headers: &HeaderMap,
    sessions: Sessions,
) -> Result<Caller, AuthError> {
    if let Some(authorization) = headers.get(header::AUTHORIZATION) {
        return accounts.authenticate(Some(authorization.as_bytes())).await;
    }
    if !accounts.enabled() && !method.is_safe() && sent_by_another_site(headers) {
        return Err(AuthError::CrossSite);
    }
    if sessions == Sessions::Accepted
        && let Some(session) = session::session_cookie(headers)
    {
        let proof = (!method.is_safe()).then(|| {
            headers
                .get(CSRF_HEADER)
                .map_or(&[][..], |proof| proof.as_bytes())
        });
        return accounts.authenticate_session(session, proof).await;
    }
    accounts.authenticate(None).await
}

/// Whether the browser says another site's page sent this request (`Sec-Fetch-Site`).
fn sent_by_another_site(headers: &HeaderMap) -> bool {
    headers
        .get("sec-fetch-site")
        .is_some_and(|site| site.as_bytes() == b"cross-site")
}

/// Refuses a body whose declared length is over `limit` before reading any of it. (Bodies without
/// a length are cut off at the limit while being read, by `DefaultBodyLimit`.)
async fn refuse_declared_oversize(
    State(limit): State<usize>,
    request: Request,
    next: Next,
) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|length| length.to_str().ok())
        .and_then(|length| length.parse::<u64>().ok());
    match declared {
        Some(length) if length > limit as u64 => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is {length} bytes; this endpoint accepts at most {limit}"),
        )
        .into_response(),
        _ => next.run(request).await,
    }
}

/// Trims a trailing slash before routing, as the seeds write `/functions/`. The docs keep
/// theirs: Swagger UI lives under `/docs/`.
pub fn trim_trailing_slash(mut request: Request) -> Request {
    let uri = request.uri();
    let path = uri.path();
    if path.len() > 1 && path.ends_with('/') && !path.starts_with("/docs") {
        let trimmed = path.trim_end_matches('/');
        let path_and_query = match uri.query() {
            Some(query) => format!("{trimmed}?{query}"),
            None => trimmed.to_owned(),
        };
        if let Ok(uri) = axum::http::Uri::builder()
            .path_and_query(path_and_query)
            .build()
        {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// The client a request comes from, as sign-in attempts are counted: the TCP peer, or the
/// client a trusted proxy names (`accounts.trusted_proxies`).
pub struct Client(pub Option<std::net::IpAddr>);

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip());
        let forwarded_for = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|value| value.to_str().ok());
        Ok(Client(state.accounts.client(peer, forwarded_for)))
    }
}

/// The caller [`require_caller`] found. A route outside it that asks for a `Caller` refuses
/// everyone rather than let anyone in.
impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| AuthError::MissingToken.into())
    }
}

/// The caller, on routes that also serve anonymous requests: `None` without credentials, a 401
/// for credentials that are not valid.
impl OptionalFromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, Self::Rejection> {
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(Some(caller.clone()));
        }
        let anonymous = !parts.headers.contains_key(header::AUTHORIZATION)
            && session::session_cookie(&parts.headers).is_none();
        if anonymous && state.accounts.enabled() {
            return Ok(None);
        }
        Ok(Some(
            authenticate(
                &state.accounts,
                &parts.method,
                &parts.headers,
                Sessions::Accepted,
            )
            .await?,
        ))
    }
}

/// The request body as raw bytes, with a precise error when it is too large.
async fn body_bytes<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "the request body is larger than this endpoint accepts",
                )
            } else {
                ApiError::bad_request("unreadable_body", rejection.body_text())
            }
        })
}

/// How many items a page of a list holds unless `limit` says otherwise, and at most.
pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 1000;

/// The size of a page: `limit`, within 1..=[`MAX_PAGE`].
pub fn page(limit: Option<u32>) -> u32 {
    limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE)
}

/// Query parameters; a query that does not fit `T` is a 400 that says why.
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        serde_urlencoded::from_str(parts.uri.query().unwrap_or_default())
            .map(QueryParams)
            .map_err(|e| {
                ApiError::bad_request("invalid_query", format!("invalid query parameters: {e}"))
            })
    }
}

/// The request body as bytes.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        body_bytes(request, state).await.map(RawBody)
    }
}

/// A JSON request body; malformed JSON and wrong shapes are 400s that say where.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(request, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request(
                "empty_body",
                "the request body is empty; send a JSON document",
            ));
        }
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| {
            ApiError::bad_request(
                "invalid_json",
                format!("the request body is not valid: {e}"),
            )
        })
    }
}

/// An invocation event: any JSON document (an empty body is `{}`), kept as raw JSON on one line.
pub struct EventBody(pub Box<RawValue>);

impl<S: Send + Sync> FromRequest<S> for EventBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(request, state).await?;
        event_from_bytes(&bytes).map(EventBody)
    }
}

/// Parses an event, kept as it was sent but on one line (frames are one line each).
pub fn event_from_bytes(bytes: &[u8]) -> Result<Box<RawValue>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(empty_event());
    }
    let invalid = |e: serde_json::Error| {
        ApiError::bad_request("invalid_json", format!("the event is not valid JSON: {e}"))
    };
    let event = serde_json::from_slice::<Box<RawValue>>(bytes).map_err(invalid)?;
    if !event.get().contains(['\n', '\r']) {
        return Ok(event);
    }
    // In valid JSON a line break can only be whitespace between tokens (inside strings it is
    // escaped), so blanking them keeps the value — numbers and all — exactly as sent.
    let one_line = event.get().replace(['\n', '\r'], " ");
    RawValue::from_string(one_line).map_err(invalid)
}

/// Makes any JSON value an event line.
pub fn event_from_value(value: &serde_json::Value) -> Box<RawValue> {
    serde_json::value::to_raw_value(value).unwrap_or_else(|_| empty_event())
}

fn empty_event() -> Box<RawValue> {
    RawValue::from_string("{}".to_owned()).unwrap_or_else(|_| unreachable!("{{}} is JSON"))
}

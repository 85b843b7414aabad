//! `/auth/session`: signing a browser in and out. The session's token goes into an HttpOnly,
//! `SameSite=Strict` cookie the page cannot read; the answer carries the session's CSRF proof,
//! which the page sends back on every request that changes something (see
//! [`crate::auth::session`]).

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::api::error::{ApiError, ErrorBody};
use crate::api::{AppState, JsonBody, session_cookie};
use crate::auth::session::{COOKIE, CSRF_HEADER, csrf_matches, csrf_proof};
use crate::auth::{AuthError, Caller, Credentials, IssuedToken, SignIn, TokenInfo, User};

pub fn routes() -> Router<AppState> {
    Router::new().route("/auth/session", get(current).post(sign_in).delete(sign_out))
}

/// `POST /auth/session`: a user name and password, or an API token.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    pub username: Option<String>,
    pub password: Option<String>,
    /// An API token (`kdl_…`), exchanged for a session; the browser does not keep it.
    pub token: Option<String>,
}

/// The signed-in browser: who it is and the proof its changes must carry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionAnswer {
    pub user: SessionUser,
    /// `false` when the server runs without authentication (`--no-auth`).
    pub auth: bool,
    /// Send it as `X-Kindling-CSRF` with every request that changes something.
    pub csrf_token: Option<String>,
    /// The session as listed with the user's tokens (`null` without authentication).
    pub session: Option<TokenInfo>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionUser {
    pub id: String,
    pub username: String,
    /// `admin` or `user`.
    pub role: &'static str,
}

impl From<&User> for SessionUser {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.clone(),
            username: user.username.clone(),
            role: user.role.as_str(),
        }
    }
}

impl From<Caller> for SessionUser {
    fn from(caller: Caller) -> Self {
        Self {
            id: caller.user,
            username: caller.name,
            role: if caller.admin { "admin" } else { "user" },
        }
    }
}

/// Sign a browser in. The answer sets the session cookie (HttpOnly, `SameSite=Strict`) and
/// holds the session's CSRF proof; the credentials must come as JSON, which another site's form
/// cannot send.
#[utoipa::path(post, path = "/auth/session", tag = "auth", request_body = SignInRequest, security(()),
    responses((status = 200, body = SessionAnswer), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(input): JsonBody<SignInRequest>,
) -> Result<Response, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim_start().starts_with("application/json"));
    if !is_json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "json_required",
            "send the credentials as JSON, with 'Content-Type: application/json'",
        ));
    }
    if !state.accounts.enabled() {
        return Ok(Json(unauthenticated(&state).await?).into_response());
    }
    let sign_in = match input {
        SignInRequest {
            username: Some(username),
            password: Some(password),
            token: None,
        } => SignIn::Password(Credentials { username, password }),
        SignInRequest {
            username: None,
            password: None,
            token: Some(token),
        } => SignIn::Token(token),
        _ => {
            return Err(ApiError::bad_request(
                "invalid_sign_in",
                "send either 'username' and 'password', or 'token'",
            ));
        }
    };
    let (issued, user) = state
        .accounts
        .open_session(sign_in, &session_name(&headers))
        .await?;
    let cookie = session_cookie_header(&issued, secure(&headers))?;
    let answer = SessionAnswer {
        user: SessionUser::from(&user),
        auth: true,
        csrf_token: Some(csrf_proof(&issued.token)),
        session: Some(issued.info),
    };
    Ok(([(header::SET_COOKIE, cookie)], Json(answer)).into_response())
}

/// The browser's session: who is signed in, and its CSRF proof. `401` when none is.
#[utoipa::path(get, path = "/auth/session", tag = "auth", security(()),
    responses((status = 200, body = SessionAnswer), (status = 401, body = ErrorBody)))]
pub async fn current(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<SessionAnswer>, ApiError> {
    if !state.accounts.enabled() {
        return Ok(Json(unauthenticated(&state).await?));
    }
    let text = session_cookie(&headers).ok_or(AuthError::MissingToken)?;
    let record = state.accounts.session(text).await?;
    Ok(Json(SessionAnswer {
        user: SessionUser::from(&record.user),
        auth: true,
        csrf_token: Some(csrf_proof(text)),
        session: Some(record.info.clone()),
    }))
}

/// Sign the browser out: the session ends on the server and the cookie is cleared. Needs the
/// session's CSRF proof, as every change does.
#[utoipa::path(delete, path = "/auth/session", tag = "auth", security(()),
    responses((status = 204, description = "signed out"), (status = 403, body = ErrorBody)))]
pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(text) = session_cookie(&headers) {
        let proof = headers
            .get(CSRF_HEADER)
            .map_or(&[][..], |value| value.as_bytes());
        if !csrf_matches(text, proof) {
            return Err(AuthError::CsrfRejected.into());
        }
        state.accounts.close_session(text).await?;
    }
    let cleared = format!(
        "{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{}",
        if secure(&headers) { "; Secure" } else { "" }
    );
    let cleared = HeaderValue::from_str(&cleared).map_err(ApiError::internal)?;
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cleared)]).into_response())
}

/// Without authentication everyone is the first administrator and nobody signs in.
async fn unauthenticated(state: &AppState) -> Result<SessionAnswer, ApiError> {
    Ok(SessionAnswer {
        user: state.accounts.authenticate(None).await?.into(),
        auth: false,
        csrf_token: None,
        session: None,
    })
}

/// Whether the browser reached the server over HTTPS (through a proxy that says so): the cookie
/// is then marked `Secure`. On plain HTTP (loopback, a LAN) a `Secure` cookie would be dropped.
fn secure(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .is_some_and(|proto| proto.as_bytes().eq_ignore_ascii_case(b"https"))
}

/// What a session is called in the user's list: the browser and system it was opened from, as
/// the `User-Agent` says (`Firefox on Linux`), so that a user can tell their sessions apart.
fn session_name(headers: &HeaderMap) -> String {
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|agent| agent.to_str().ok())
        .unwrap_or_default();
    const BROWSERS: [(&str, &str); 7] = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("HeadlessChrome/", "Headless Chrome"),
        ("Chromium/", "Chromium"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
    ];
    const SYSTEMS: [(&str, &str); 6] = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ];
    let find = |table: &[(&str, &'static str)]| {
        table
            .iter()
            .find(|(mark, _)| agent.contains(mark))
            .map(|(_, name)| *name)
    };
    match (find(&BROWSERS), find(&SYSTEMS)) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.to_owned(),
        (None, Some(system)) => format!("a browser on {system}"),
        (None, None) => "browser session".to_owned(),
    }
}

fn session_cookie_header(issued: &IssuedToken, secure: bool) -> Result<HeaderValue, ApiError> {
    let max_age = issued
        .info
        .expires_at
        .map_or(0, |expiry| (expiry - Utc::now()).num_seconds().max(0));
    let cookie = format!(
        "{COOKIE}={}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{}",
        issued.token,
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&cookie).map_err(ApiError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(agent: &str) -> String {
        let mut headers = HeaderMap::new();
        headers.insert(header::USER_AGENT, agent.parse().unwrap());
        session_name(&headers)
    }

    #[test]
    fn sessions_are_named_for_their_browser() {
        assert_eq!(
            named("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"),
            "Firefox on Linux"
        );
        assert_eq!(
            named(
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"
            ),
            "Safari on macOS"
        );
        assert_eq!(
            named(
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36 Edg/126.0"
            ),
            "Edge on Windows"
        );
        assert_eq!(named("curl/8.5.0"), "browser session");
        assert_eq!(session_name(&HeaderMap::new()), "browser session");
    }
}

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
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::auth::Me;
use super::error::{ApiError, ErrorBody};
use super::{AppState, Client, JsonBody};
use crate::auth::session::{COOKIE, CSRF_HEADER, SECURE_COOKIE, csrf_matches, csrf_proof};
use crate::auth::{AuthError, Caller, Credentials, SignIn};
use crate::model::TokenInfo;

pub fn routes() -> Router<AppState> {
    Router::new().route("/auth/session", get(current).post(sign_in).delete(sign_out))
}

/// `POST /auth/session`: a user name and password, or an API token. (No `Debug`: it holds
/// secrets.)
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    pub username: Option<String>,
    pub password: Option<String>,
    /// An API token (`kdl_…`), exchanged for a session; the browser does not keep it.
    pub token: Option<String>,
}

/// The signed-in browser: who it is and the proof its changes must carry.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionAnswer {
    pub user: Me,
    /// `false` when the server runs without authentication (`--no-auth`).
    pub auth: bool,
    /// Send it as `X-Kindling-CSRF` with every request that changes something.
    pub csrf_token: Option<String>,
    /// The session as listed with the user's tokens (`null` without authentication).
    pub session: Option<TokenInfo>,
}

/// Sign a browser in. The answer sets the session cookie (HttpOnly, `SameSite=Strict`) and
/// holds the session's CSRF proof; the credentials must come as JSON, which another site's form
/// cannot send.
#[utoipa::path(post, path = "/auth/session", tag = "auth", request_body = SignInRequest, security(()),
    responses((status = 200, body = SessionAnswer), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn sign_in(
    State(state): State<AppState>,
    Client(client): Client,
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
        return Ok(([NOT_STORED], Json(unauthenticated(&state).await?)).into_response());
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
    // Signing in again replaces the session this browser had: the old one ends with it.
    if let Some(replaced) = session_cookie(&headers) {
        state.accounts.close_session(replaced).await?;
    }
    let (issued, user) = state
        .accounts
        .open_session(sign_in, &session_name(&headers), client)
        .await?;
    let cookie = set_cookie(
        &issued.token,
        issued.info.expires_at,
        secure(&state, &headers),
    )?;
    let answer = SessionAnswer {
        user: Me::from(&Caller::from(&user)),
        auth: true,
        csrf_token: Some(csrf_proof(&issued.token)),
        session: Some(issued.info),
    };
    Ok(([(header::SET_COOKIE, cookie)], [NOT_STORED], Json(answer)).into_response())
}

/// The browser's session: who is signed in, and its CSRF proof. `401` when none is.
#[utoipa::path(get, path = "/auth/session", tag = "auth", security(()),
    responses((status = 200, body = SessionAnswer), (status = 401, body = ErrorBody)))]
pub async fn current(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let answer = if state.accounts.enabled() {
        let text = session_cookie(&headers).ok_or(AuthError::MissingToken)?;
        let record = state.accounts.session(text).await?;
        SessionAnswer {
            user: Me::from(&Caller::from(&record.user)),
            auth: true,
            csrf_token: Some(csrf_proof(text)),
            session: Some(record.info.clone()),
        }
    } else {
        unauthenticated(&state).await?
    };
    Ok(([NOT_STORED], Json(answer)).into_response())
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
    let cleared = set_cookie("", Some(Utc::now()), secure(&state, &headers))?;
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cleared)]).into_response())
}

/// Without authentication everyone is the first administrator and nobody signs in.
async fn unauthenticated(state: &AppState) -> Result<SessionAnswer, ApiError> {
    Ok(SessionAnswer {
        user: Me::from(&state.accounts.authenticate(None).await?),
        auth: false,
        csrf_token: None,
        session: None,
    })
}

/// Answers that carry a session's CSRF proof are kept by no cache.
const NOT_STORED: (header::HeaderName, &str) = (header::CACHE_CONTROL, "no-store");

/// Whether the session cookie is `Secure` (and named `__Host-…`, which no other site and no
/// other path can set): when `accounts.secure_cookies` says the server is reached over HTTPS, or
/// a proxy says this request came over HTTPS. On plain HTTP (loopback, a LAN) a `Secure` cookie
/// would be dropped by the browser.
fn secure(state: &AppState, headers: &HeaderMap) -> bool {
    state.accounts.secure_cookies()
        || headers
            .get("x-forwarded-proto")
            .is_some_and(|proto| proto.as_bytes().eq_ignore_ascii_case(b"https"))
}

/// The `Set-Cookie` header that gives the browser `token` until `expires_at` (`None`: for the
/// browser's session only); an expiry in the past clears the cookie.
fn set_cookie(
    token: &str,
    expires_at: Option<DateTime<Utc>>,
    secure: bool,
) -> Result<HeaderValue, ApiError> {
    let name = if secure { SECURE_COOKIE } else { COOKIE };
    let max_age = expires_at
        .map(|expiry| format!("; Max-Age={}", (expiry - Utc::now()).num_seconds().max(0)))
        .unwrap_or_default();
    let cookie = format!(
        "{name}={token}; Path=/{max_age}; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&cookie).map_err(ApiError::internal)
}

/// The browser session token in a request's `Cookie` headers, if any: the `__Host-` cookie
/// first, which only this server, over HTTPS, can have set.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    let cookies = || {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
    };
    [SECURE_COOKIE, COOKIE].into_iter().find_map(|wanted| {
        cookies()
            .find(|(name, _)| *name == wanted)
            .map(|(_, value)| value.trim_matches('"'))
    })
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

//! The web dashboard: the page at `/` and its files under `/assets/`, embedded in the binary
//! ([`assets`]; the sources are in `web/`). The page talks to the same API as every other client
//! — it signs in with `/auth/session` ([`crate::api::session`]) — and adds nothing to the
//! invoke path.

pub mod assets;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;

use crate::api::AppState;
use crate::api::error::ApiError;

/// Scripts, styles, images and requests only from this server; no frames, no plugins, no inline
/// code of any kind — but for the styles the code editor generates, which carry the page's
/// nonce (`NONCE` stands for it).
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self' 'nonce-NONCE'; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
    manifest-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/// What `web/build.mjs` writes into the page where each answer's nonce goes.
const NONCE_PLACEHOLDER: &str = "KINDLING_STYLE_NONCE";

/// The page holds a nonce of its own each time, so it is never kept: a cached copy would carry
/// an old one.
const PAGE_CACHE: &str = "no-store";
/// Asset names carry a hash of their content: a new build gives new names.
const ASSET_CACHE: &str = "public, max-age=31536000, immutable";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(page))
        .route("/assets/{file}", get(asset))
}

async fn page() -> Response {
    let (Some(page), Ok(nonce)) = (assets::find("/index.html"), nonce()) else {
        return ApiError::internal(
            "the dashboard's page is missing, or no randomness for its nonce",
        )
        .into_response();
    };
    let text = String::from_utf8_lossy(page.identity).replace(NONCE_PLACEHOLDER, &nonce);
    let policy = CONTENT_SECURITY_POLICY.replace("NONCE", &nonce);
    let mut response = (
        [
            (header::CONTENT_TYPE, page.content_type),
            (header::CACHE_CONTROL, PAGE_CACHE),
        ],
        text,
    )
        .into_response();
    with_security_headers(&mut response);
    match HeaderValue::from_str(&policy) {
        Ok(policy) => {
            response
                .headers_mut()
                .insert(header::CONTENT_SECURITY_POLICY, policy);
            response
        }
        Err(e) => ApiError::internal(e).into_response(),
    }
}

/// A fresh nonce: 16 random bytes, base64.
fn nonce() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    match assets::find(&format!("/assets/{file}")) {
        Some(asset) => {
            let mut response = asset.respond(&headers, ASSET_CACHE);
            with_security_headers(&mut response);
            response
        }
        None => ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "not_found",
            format!("there is no dashboard file named {file:?}"),
        )
        .into_response(),
    }
}

/// The headers every dashboard file goes out with (the page adds its Content-Security-Policy).
fn with_security_headers(response: &mut Response) {
    const HEADERS: [(HeaderName, &str); 5] = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
        ),
    ];
    let headers = response.headers_mut();
    for (name, value) in HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

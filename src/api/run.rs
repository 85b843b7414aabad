//! `ANY /run/{route}`: functions bound to a route answer plain HTTP, like AWS Lambda function
//! URLs. The function gets an HTTP event and may answer `{statusCode, headers, body}`; any other
//! return value is sent as JSON.

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::invocations::INVOCATION_ID_HEADER;
use super::{AppState, Caller, RawBody, event_from_value};
use crate::auth::session;
use crate::engine::InvokeRequest;
use crate::model::{Invocation, Status};

pub fn routes() -> Router<AppState> {
    Router::new().route("/run/{*route}", any(run))
}

/// The reply shape a function may return to control the HTTP answer.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HttpReply {
    status_code: u16,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: Option<serde_json::Value>,
    #[serde(default)]
    is_base64_encoded: bool,
}

/// Invoke the function bound to `/{route}` with an HTTP event.
#[utoipa::path(post, path = "/run/{route}", tag = "invocations",
    params(("route" = String, Path, description = "the function's route, without the leading /")),
    responses((status = 200, description = "whatever the function answers"),
              (status = 404, body = super::error::ErrorBody), (status = 502, description = "the function failed"),
              (status = 504, description = "the function timed out")))]
pub async fn run(
    State(state): State<AppState>,
    caller: Caller,
    Path(route): Path<String>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let route = format!("/{}", route.trim_matches('/'));
    let function = state
        .registry
        .by_route(&route)
        .filter(|f| caller.admin || f.owner == caller.user)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "route_not_found",
                format!("no function is bound to route '{route}'"),
            )
        })?;
    let event = http_event(
        &method,
        &route,
        query.as_deref().unwrap_or(""),
        &headers,
        &body,
    );
    let request = InvokeRequest {
        event: event_from_value(&event),
        args: Vec::new(),
        runtime: None,
    };
    let invocation = state.engine.invoke(function, request).await?;
    Ok(http_answer(&invocation))
}

/// The event a routed function receives (the fields of Lambda's function-URL event that matter).
fn http_event(
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> serde_json::Value {
    let header_map: BTreeMap<&str, String> = headers
        .iter()
        .filter(|(name, _)| !CALLER_SECRETS.contains(name))
        .map(|(name, value)| {
            (
                name.as_str(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let query_map: BTreeMap<String, String> = url_pairs(query);
    let (body, is_base64) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (BASE64.encode(body), true),
    };
    json!({
        "method": method.as_str(),
        "path": path,
        "rawQueryString": query,
        "query": query_map,
        "headers": header_map,
        "body": body,
        "isBase64Encoded": is_base64,
        "requestContext": {"http": {"method": method.as_str(), "path": path}},
    })
}

/// Query parameters as a map (a repeated key keeps its last value; a malformed query is empty).
fn url_pairs(query: &str) -> BTreeMap<String, String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .unwrap_or_default()
        .into_iter()
        .collect()
}

/// The HTTP answer for a finished invocation.
fn http_answer(invocation: &Invocation) -> Response {
    let mut response = match (invocation.status, &invocation.result) {
        (Status::Success, Some(result)) => match serde_json::from_str::<HttpReply>(result.get()) {
            Ok(reply) => reply_response(reply),
            Err(_) => json_response(StatusCode::OK, result.get().to_owned()),
        },
        (status, _) => {
            let code = if status == Status::Timeout {
                StatusCode::GATEWAY_TIMEOUT
            } else {
                StatusCode::BAD_GATEWAY
            };
            let body = json!({"status": status, "error": invocation.error, "invocation_id": invocation.invocation_id});
            json_response(code, body.to_string())
        }
    };
    if let Ok(id) = HeaderValue::from_str(&invocation.invocation_id) {
        response.headers_mut().insert(INVOCATION_ID_HEADER, id);
    }
    response
}

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Request headers a function never sees: the caller's credentials are not the function's.
const CALLER_SECRETS: [HeaderName; 3] = [
    header::AUTHORIZATION,
    header::COOKIE,
    header::PROXY_AUTHORIZATION,
];

/// Reply headers a function may not set: they belong to the HTTP connection and its framing.
const CONNECTION_HEADERS: [HeaderName; 6] = [
    header::CONNECTION,
    header::CONTENT_LENGTH,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::TE,
    header::TRAILER,
];

fn reply_response(reply: HttpReply) -> Response {
    let status = StatusCode::from_u16(reply.status_code)
        .ok()
        .filter(|status| (200..=599).contains(&status.as_u16()))
        .unwrap_or(StatusCode::BAD_GATEWAY);
    let (body, default_type): (Vec<u8>, &str) = match reply.body {
        None | Some(serde_json::Value::Null) => (Vec::new(), "text/plain"),
        Some(serde_json::Value::String(text)) if reply.is_base64_encoded => (
            BASE64.decode(text.as_bytes()).unwrap_or_default(),
            "application/octet-stream",
        ),
        Some(serde_json::Value::String(text)) => (text.into_bytes(), "text/plain; charset=utf-8"),
        Some(other) => (other.to_string().into_bytes(), "application/json"),
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(default_type));
    for (name, value) in reply.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::from_str(&value),
        ) && !CONNECTION_HEADERS.contains(&name)
            && !(name == header::SET_COOKIE && sets_a_session(&value))
        {
            headers.insert(name, value);
        }
    }
    // What a function answers is served from the dashboard's own origin: as a sandbox (an
    // origin of its own), its scripts cannot read the API with the visitor's credentials.
    // Appended, so that a policy the function sets adds to this one and cannot lift it.
    headers.append(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(RUN_SANDBOX),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

const RUN_SANDBOX: &str = "sandbox allow-scripts allow-forms allow-popups allow-downloads";

/// Whether a `Set-Cookie` a function sends would set the dashboard's session cookie (to sign
/// the visitor into another account, or out of theirs).
fn sets_a_session(value: &HeaderValue) -> bool {
    let name = value
        .to_str()
        .ok()
        .and_then(|cookie| cookie.split_once('='))
        .map(|(name, _)| name.trim());
    name.is_some_and(|name| {
        name.eq_ignore_ascii_case(session::COOKIE)
            || name.eq_ignore_ascii_case(session::SECURE_COOKIE)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_query_strings() {
        let pairs = url_pairs("name=J%C3%BCrgen&x=a+b&flag");
        assert_eq!(pairs["name"], "Jürgen");
        assert_eq!(pairs["x"], "a b");
        assert_eq!(pairs["flag"], "");
    }
}

//! The one error type of the HTTP API: `{"error": {"code", "message"}}` with the right status.
//! 4xx answers say exactly what was wrong; 5xx answers are logged and say nothing internal.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::invocations::INVOCATION_ID_HEADER;
use crate::auth::AuthError;
use crate::engine::{InvokeError, QUOTA_EXCEEDED};
use crate::functions::RegistryError;
use crate::functions::validate::Problem;
use crate::quotas::QuotaExceeded;
use crate::store::{StoreError, Taken};

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after_secs: Option<u64>,
    /// The invocation this answer is about, when one was recorded (a throttled one).
    invocation_id: Option<String>,
    /// A `WWW-Authenticate` challenge (RFC 6750), for answers refusing the caller's credentials.
    challenge: Option<&'static str>,
    /// The request field the error concerns, when it concerns one.
    field: Option<&'static str>,
}

/// The body of every error answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable, e.g. `invalid_name`, `function_not_found`.
    pub code: String,
    /// What was wrong, for a person.
    pub message: String,
    /// The field of the request it concerns (`name`, `timeout`, `env`, …), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after_secs: None,
            invocation_id: None,
            challenge: None,
            field: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn function_not_found(id_or_name: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "function_not_found",
            format!("function '{id_or_name}' not found"),
        )
    }

    pub fn internal(error: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            error.to_string(),
        )
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<RegistryError> for ApiError {
    fn from(error: RegistryError) -> Self {
        match error {
            RegistryError::Invalid(invalid) => {
                let status = match invalid.problem {
                    Problem::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                    Problem::Invalid => StatusCode::BAD_REQUEST,
                };
                Self {
                    field: Some(invalid.field),
                    ..Self::new(status, invalid.code, invalid.message)
                }
            }
            RegistryError::NotFound(id) => Self::function_not_found(&id),
            RegistryError::Store(StoreError::UnknownOwner) => Self {
                challenge: Some(REFUSE_TOKEN),
                ..Self::new(StatusCode::UNAUTHORIZED, "invalid_token", error.to_string())
            },
            RegistryError::Quota(exceeded) => exceeded.into(),
            RegistryError::VersionNotFound { .. } => Self::new(
                StatusCode::NOT_FOUND,
                "version_not_found",
                error.to_string(),
            ),
            RegistryError::Conflict { taken, message } => Self {
                field: Some(taken.field()),
                ..Self::new(
                    StatusCode::CONFLICT,
                    match taken {
                        Taken::Route => "route_taken",
                        Taken::Name => "name_taken",
                    },
                    message,
                )
            },
            other => Self::internal(other),
        }
    }
}

impl From<QuotaExceeded> for ApiError {
    fn from(error: QuotaExceeded) -> Self {
        let status = match error.transient {
            true => StatusCode::TOO_MANY_REQUESTS,
            false => StatusCode::FORBIDDEN,
        };
        Self {
            field: Some(error.quota),
            retry_after_secs: error.transient.then_some(1),
            ..Self::new(status, "quota_exceeded", error.to_string())
        }
    }
}

/// The `WWW-Authenticate` challenge of an answer refusing the caller's token (RFC 6750).
const REFUSE_TOKEN: &str = "Bearer realm=\"kindling\", error=\"invalid_token\"";

/// When a throttled caller should try again.
const THROTTLED_RETRY_AFTER_SECS: u64 = 1;

impl From<InvokeError> for ApiError {
    fn from(error: InvokeError) -> Self {
        let message = error.to_string();
        match error {
            InvokeError::RuntimeUnavailable { .. } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "runtime_unavailable",
                message,
            ),
            InvokeError::ShuttingDown => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", message)
            }
            InvokeError::Throttled(invocation) => {
                let quota = (invocation.error.as_ref())
                    .is_some_and(|error| error.error_type == QUOTA_EXCEEDED);
                Self {
                    retry_after_secs: Some(THROTTLED_RETRY_AFTER_SECS),
                    invocation_id: Some(invocation.invocation_id.clone()),
                    ..Self::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        if quota { "quota_exceeded" } else { "throttled" },
                        message,
                    )
                }
            }
            InvokeError::Record(e) => Self::internal(e),
            InvokeError::Failed(e) => Self::internal(e),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        let message = error.to_string();
        let unauthorized = |code, challenge| Self {
            challenge: Some(challenge),
            ..Self::new(StatusCode::UNAUTHORIZED, code, message.clone())
        };
        const ASK: &str = "Bearer realm=\"kindling\"";
        const REFUSE: &str = REFUSE_TOKEN;
        match error {
            AuthError::MissingToken => unauthorized("missing_token", ASK),
            AuthError::MalformedToken => unauthorized("malformed_token", REFUSE),
            AuthError::InvalidToken => unauthorized("invalid_token", REFUSE),
            AuthError::ExpiredToken(_) => unauthorized("token_expired", REFUSE),
            AuthError::RevokedToken => unauthorized("token_revoked", REFUSE),
            AuthError::SessionAsToken => unauthorized("session_not_token", REFUSE),
            AuthError::NotASession => {
                Self::new(StatusCode::UNAUTHORIZED, "invalid_session", message)
            }
            AuthError::CsrfRejected => Self::new(StatusCode::FORBIDDEN, "csrf_rejected", message),
            AuthError::CrossSite => Self::new(StatusCode::FORBIDDEN, "cross_site", message),
            AuthError::InvalidCredentials => {
                Self::new(StatusCode::UNAUTHORIZED, "invalid_credentials", message)
            }
            AuthError::Throttled(throttled) => Self {
                retry_after_secs: Some(crate::auth::retry_after_secs(&throttled)),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", message)
            },
            AuthError::WrongSignInToken(_) => {
                Self::new(StatusCode::UNAUTHORIZED, "invalid_token", message)
            }
            AuthError::Forbidden(_) => Self::new(StatusCode::FORBIDDEN, "forbidden", message),
            AuthError::Invalid { code, .. } => Self::bad_request(code, message),
            AuthError::UserExists(_) => Self::new(StatusCode::CONFLICT, "username_taken", message),
            AuthError::UserNotFound(_) => {
                Self::new(StatusCode::NOT_FOUND, "user_not_found", message)
            }
            AuthError::TokenNotFound(_) => {
                Self::new(StatusCode::NOT_FOUND, "token_not_found", message)
            }
            AuthError::Quota(exceeded) => exceeded.into(),
            AuthError::Store(_)
            | AuthError::Random(_)
            | AuthError::Hash(_)
            | AuthError::TokenFile { .. } => Self::internal(message),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        Self::internal(error)
    }
}

impl ApiError {
    /// The answer's body; an internal error is logged here and its details withheld.
    pub fn body(self) -> ErrorBody {
        let message = if self.code == "internal" {
            tracing::error!(error = %self.message, "request failed");
            "internal error; the server log has the details".to_owned()
        } else {
            self.message
        };
        ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message,
                field: self.field,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, retry_after_secs, challenge) =
            (self.status, self.retry_after_secs, self.challenge);
        let invocation_id = self.invocation_id.clone();
        let mut response = (status, Json(self.body())).into_response();
        let headers = response.headers_mut();
        if let Some(secs) = retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(id) = invocation_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
            headers.insert(INVOCATION_ID_HEADER, id);
        }
        if let Some(challenge) = challenge {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

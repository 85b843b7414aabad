//! The one error type of the HTTP API: `{"error": {"code", "message"}}` with the right status.
//! 4xx answers say exactly what was wrong; 5xx answers are logged and say nothing internal.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::engine::InvokeError;
use crate::functions::RegistryError;
use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after_secs: Option<u64>,
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
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after_secs: None,
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
                let status = if invalid.code == "code_too_large" {
                    StatusCode::PAYLOAD_TOO_LARGE
                } else {
                    StatusCode::BAD_REQUEST
                };
                Self::new(status, invalid.code, invalid.message)
            }
            RegistryError::NotFound(id) => Self::function_not_found(&id),
            RegistryError::Conflict { field, message } => Self::new(
                StatusCode::CONFLICT,
                if field == "route" {
                    "route_taken"
                } else {
                    "name_taken"
                },
                message,
            ),
            other => Self::internal(other),
        }
    }
}

impl From<InvokeError> for ApiError {
    fn from(error: InvokeError) -> Self {
        match error {
            InvokeError::RuntimeUnavailable { .. } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "runtime_unavailable",
                error.to_string(),
            ),
            InvokeError::ShuttingDown => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                error.to_string(),
            ),
            InvokeError::Record(e) => Self::internal(e),
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
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, retry_after_secs) = (self.status, self.retry_after_secs);
        let mut response = (status, Json(self.body())).into_response();
        if let Some(secs) = retry_after_secs
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

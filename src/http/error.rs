//! The one error type of the HTTP boundary. Every failure becomes
//! `{"error": {"code", "message", "field"?}}` with its status; internal
//! detail is logged, never sent.

use axum::Json;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::DomainError;
use crate::engine::EngineError;

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
    /// Seconds after which trying again may succeed (`Retry-After`).
    retry_after: Option<u32>,
}

/// Seconds a client is asked to wait while the database is out of reach.
pub const RETRY_AFTER_SECS: u32 = 5;

/// What a failure on the server's side is to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The database is out of reach or overloaded: 503, try again shortly.
    Unavailable,
    /// A fault: 500.
    Internal,
}

impl Failure {
    /// Classifies and logs a failure.
    pub fn of(cause: &(dyn std::error::Error + 'static), context: &'static str) -> Failure {
        if crate::store::log_failure(cause, context) {
            Failure::Unavailable
        } else {
            Failure::Internal
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Failure::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Failure::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What a page tells the person.
    pub fn for_people(self) -> &'static str {
        match self {
            Failure::Unavailable => {
                "tocsin cannot reach its database just now. Try again in a few seconds."
            }
            Failure::Internal => "Something went wrong on our side. Please try again.",
        }
    }

    /// The answer's `Retry-After`, for an outage.
    pub fn retry_after(self) -> Option<[(HeaderName, HeaderValue); 1]> {
        (self == Failure::Unavailable).then(|| [(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS))])
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `invalid`, `unauthorized`, `forbidden`,
    /// `not_found`, `conflict`, `payload_too_large`, `unsupported_media_type`,
    /// `internal`, `unavailable` (with `Retry-After`).
    code: &'static str,
    /// For people.
    message: String,
    /// The request field at fault, as a JSON path (`commander.email`).
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    /// Well-formed JSON whose content is wrong.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            field: Some(field.into()),
            ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
        }
    }

    /// A request that cannot be read at all.
    pub fn bad_request(field: Option<String>, message: impl Into<String>) -> Self {
        ApiError {
            field,
            ..ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// Logs the cause; the client learns only that it was not its fault,
    /// and whether trying again shortly may help.
    pub fn internal(cause: &(dyn std::error::Error + 'static)) -> Self {
        match Failure::of(cause, "request failed") {
            Failure::Unavailable => ApiError {
                retry_after: Some(RETRY_AFTER_SECS),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    format!("the database is unavailable; try again in {RETRY_AFTER_SECS} seconds"),
                )
            },
            Failure::Internal => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error; the server log has the details",
            ),
        }
    }

    /// Names the request field at fault.
    pub fn with_field(self, field: impl Into<String>) -> Self {
        ApiError {
            field: Some(field.into()),
            ..self
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                field: self.field,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::NotFound(_) => ApiError::not_found(error.to_string()),
            EngineError::Invalid { field, message } => ApiError::invalid(field, message),
            EngineError::Refused(DomainError::TaskNotFound(_)) => {
                ApiError::not_found(error.to_string())
            }
            EngineError::Refused(DomainError::DepartmentNotFound(_)) => {
                ApiError::not_found(error.to_string())
            }
            EngineError::Refused(DomainError::NoSuchStep(_)) => {
                ApiError::not_found(error.to_string())
            }
            EngineError::Refused(DomainError::StatementNotFound(_)) => {
                ApiError::not_found(error.to_string())
            }
            EngineError::Refused(DomainError::OwnStatement(_)) => {
                ApiError::forbidden(error.to_string())
            }
            EngineError::Refused(DomainError::StatementChangedSinceRead(_)) => {
                ApiError::conflict(error.to_string()).with_field("sha256")
            }
            EngineError::Refused(DomainError::TemplateValues(_)) => {
                ApiError::conflict(error.to_string()).with_field("values")
            }
            EngineError::Refused(DomainError::NotAnApprover(_)) => {
                ApiError::invalid("department", error.to_string())
            }
            EngineError::Refused(DomainError::NeedsField { field, message }) => {
                ApiError::invalid(field, message.clone())
            }
            EngineError::Refused(refused) => ApiError::conflict(refused.to_string()),
            EngineError::IdempotencyKeyReused => ApiError {
                field: Some("Idempotency-Key".into()),
                ..ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency_key_reused",
                    error.to_string(),
                )
            },
            EngineError::Store(_) | EngineError::Random(_) => ApiError::internal(&error),
        }
    }
}

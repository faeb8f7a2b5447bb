//! The one place an error becomes what the client sees: every handler, the authenticator,
//! the router's rejections and the fallbacks for unknown routes answer through [`render`].
//! The status, code and type of each error come from one table (`AppError::describe`). 5xx
//! causes are logged with the request id and never sent.

use crate::app::{AppError, ErrorClass};
use crate::generated::{Rejection, RejectionKind, types};

/// The request id middleware puts on every request.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

pub fn request_id(parts: &http::request::Parts) -> String {
    parts
        .headers
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("req_unknown")
        .to_string()
}

fn error_type(class: ErrorClass) -> types::ErrorType {
    match class {
        ErrorClass::InvalidRequest => types::ErrorType::InvalidRequestError,
        ErrorClass::Authentication => types::ErrorType::AuthenticationError,
        ErrorClass::Permission => types::ErrorType::PermissionError,
        ErrorClass::Idempotency => types::ErrorType::IdempotencyError,
        ErrorClass::RateLimit => types::ErrorType::RateLimitError,
        ErrorClass::UsageLimit => types::ErrorType::UsageLimitError,
        ErrorClass::Api => types::ErrorType::ApiError,
    }
}

/// Status and body for a domain error.
pub fn render(e: &AppError, request_id: &str) -> (http::StatusCode, types::Error) {
    let (status, code, class) = e.describe();
    if status >= 500 {
        tracing::error!(request_id, code, error = %e.cause(), "request failed");
    }
    (
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR),
        types::Error {
            type_: error_type(class),
            code: code.to_string(),
            message: e.to_string(),
            param: e.param(),
            request_id: request_id.to_string(),
        },
    )
}

/// The response for a domain error: [`render`]'s status and body.
pub fn response(e: &AppError, request_id: &str) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (status, body) = render(e, request_id);
    (status, axum::Json(body)).into_response()
}

/// A request the generated router refused, as the domain's error: unreadable input is a 400
/// `invalid_request`, input that breaks a rule of the spec a 422 `validation_failed`.
impl From<Rejection> for AppError {
    fn from(r: Rejection) -> AppError {
        match r.kind {
            RejectionKind::Malformed => AppError::Malformed {
                message: r.message,
                param: r.param,
            },
            RejectionKind::Invalid => AppError::Validation {
                message: r.message,
                param: r.param.unwrap_or_default(),
            },
        }
    }
}

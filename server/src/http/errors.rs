//! The one place a domain error becomes the spec's `Error` body. 5xx causes are logged with
//! the request id and never sent.

use crate::app::{AppError, ErrorClass};
use crate::generated::types;

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

pub fn error_type(class: ErrorClass) -> types::ErrorType {
    match class {
        ErrorClass::InvalidRequest => types::ErrorType::InvalidRequestError,
        ErrorClass::Authentication => types::ErrorType::AuthenticationError,
        ErrorClass::Permission => types::ErrorType::PermissionError,
        ErrorClass::Idempotency => types::ErrorType::IdempotencyError,
        ErrorClass::RateLimit => types::ErrorType::RateLimitError,
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

/// The error body for a status and code outside any operation (unknown route, wrong method).
pub fn plain(
    status: http::StatusCode,
    code: &str,
    message: String,
    request_id: &str,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let class = match status.as_u16() {
        401 => ErrorClass::Authentication,
        403 => ErrorClass::Permission,
        500.. => ErrorClass::Api,
        _ => ErrorClass::InvalidRequest,
    };
    let body = types::Error {
        type_: error_type(class),
        code: code.to_string(),
        message,
        param: None,
        request_id: request_id.to_string(),
    };
    (status, axum::Json(body)).into_response()
}

//! One error type for every call: [`ApiError`], from the generated calls' errors.

use crate::types;

/// Why a call failed, in one shape: the API's error body (its stable `code`, the message, the
/// error class, the input it is about, the request id to quote), or, when no answer came or
/// it could not be read, the code `network_error` or `invalid_response` (with `status` 0 when
/// the status was lost with the body, as for a proxy's HTML error page).
///
/// ```no_run
/// # async fn run(client: dream_client::Client) {
/// match client.track_usage().send().await.map_err(dream_client::ApiError::from) {
///     Ok(usage) => println!("{} used", usage.usage_count),
///     Err(e) if e.code == "usage_limit_exceeded" => println!("upgrade to go on"),
///     Err(e) => eprintln!("{e}"),
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// The HTTP status; 0 when no response arrived.
    pub status: u16,
    /// The stable error code, such as `usage_limit_exceeded` or `network_error`.
    pub code: String,
    pub message: String,
    /// The error class, such as `usage_limit_error`; `None` when no error body came.
    pub kind: Option<types::ErrorType>,
    /// The input the error is about.
    pub param: Option<String>,
    /// Quote it when reporting a problem.
    pub request_id: Option<String>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}", self.message, self.code)?;
        if self.status != 0 {
            write!(f, ", HTTP {}", self.status)?;
        }
        if let Some(id) = &self.request_id {
            write!(f, ", request {id}")?;
        }
        f.write_str(")")
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    fn without_body(status: u16, code: &str, message: String) -> Self {
        ApiError {
            status,
            code: code.to_string(),
            message,
            kind: None,
            param: None,
            request_id: None,
        }
    }
}

impl<E: ErrorBody> From<progenitor_client::Error<E>> for ApiError {
    fn from(error: progenitor_client::Error<E>) -> Self {
        use progenitor_client::Error as E;
        let status = error.status().map_or(0, |s| s.as_u16());
        match error {
            E::ErrorResponse(response) => {
                let status = response.status().as_u16();
                match response.into_inner().body() {
                    Some(body) => ApiError {
                        status,
                        code: body.code,
                        message: body.message,
                        kind: Some(body.type_),
                        param: body.param,
                        request_id: Some(body.request_id),
                    },
                    None => Self::without_body(
                        status,
                        "invalid_response",
                        format!("the API answered {status} without an error body"),
                    ),
                }
            }
            E::CommunicationError(e) if e.status().is_none() => Self::without_body(
                0,
                "network_error",
                format!("the API could not be reached: {e}"),
            ),
            E::UnexpectedResponse(response) => Self::without_body(
                status,
                "invalid_response",
                format!(
                    "the API answered {} where the spec documents no such answer",
                    response.status()
                ),
            ),
            E::Custom(message) | E::InvalidRequest(message) => {
                Self::without_body(0, "invalid_request", message)
            }
            E::CommunicationError(e) | E::InvalidUpgrade(e) | E::ResponseBodyError(e) => {
                Self::without_body(
                    status,
                    "invalid_response",
                    format!("the answer could not be read: {e}"),
                )
            }
            E::InvalidResponsePayload(_, e) => Self::without_body(
                status,
                "invalid_response",
                format!("the answer is not what the spec documents: {e}"),
            ),
        }
    }
}

/// The error body of a generated call: the API's [`types::Error`], or none for the calls that
/// document no error (`Error<()>`).
pub trait ErrorBody {
    fn body(self) -> Option<types::Error>;
}

impl ErrorBody for types::Error {
    fn body(self) -> Option<types::Error> {
        Some(self)
    }
}

impl ErrorBody for () {
    fn body(self) -> Option<types::Error> {
        None
    }
}

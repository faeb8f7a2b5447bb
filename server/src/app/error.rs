//! The domain error, and the one table that gives each error its status, code and type.
//!
//! Nothing here knows about HTTP bodies; `http::errors` renders these. Internal errors keep
//! their cause for the log and show the client only a generic message.

use crate::store::StoreError;

/// Everything the domain can refuse or fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    MissingCredentials(String),
    /// An API key that is unknown, revoked, expired, of the other kind, or in the wrong place;
    /// the message says which.
    #[error("{0}")]
    InvalidApiKey(String),
    #[error("The Authorization header must be `Bearer <secret key or user token>`.")]
    MalformedAuthorization,
    #[error(
        "Send one {0} header: this request has more than one, so which credential it acts with is unclear."
    )]
    DuplicateCredential(&'static str),
    #[error("The user token is not valid: {0}")]
    InvalidToken(String),
    #[error("The user token has expired; refresh it and retry.")]
    TokenExpired,
    #[error("The user token is not valid yet (its nbf or iat lies in the future).")]
    TokenNotYetValid,
    #[error("The operator token is missing or wrong.")]
    InvalidOperatorToken,
    #[error("This operation needs a secret key.")]
    SecretKeyRequired,
    #[error("This operation acts for a user: send a publishable key and the user's JWT.")]
    UserTokenRequired,
    #[error("This operation is available in test mode only.")]
    LiveModeNotAllowed,
    #[error(
        "The development issuer is not enabled for this project; enable it in the settings (test mode only)."
    )]
    DevIssuerDisabled,
    #[error("No {what} with id {id}.")]
    NotFound {
        what: &'static str,
        id: String,
        param: &'static str,
    },
    #[error("{message}")]
    AlreadyExists {
        message: String,
        param: &'static str,
    },
    #[error("This Idempotency-Key was used with a different request.")]
    IdempotencyKeyReused,
    #[error(
        "The event id {0} was sent before with a different user, metric or amount; nothing was counted."
    )]
    EventIdReused(String),
    #[error("{message}")]
    Validation { message: String, param: String },
    #[error("{message}")]
    Malformed {
        message: String,
        param: Option<String>,
    },
    #[error(
        "This secret key has been rotated and expires soon; only the newest secret key may rotate."
    )]
    KeySuperseded,
    #[error("The request body did not arrive within {0} s.")]
    RequestTimeout(u64),
    #[error("The asset is larger than {limit} bytes; nothing was stored.")]
    PayloadTooLarge { limit: u64 },
    #[error(
        "The project's assets take {stored} of their {quota} bytes; this upload does not fit, nothing was stored."
    )]
    StorageQuotaExceeded { stored: u64, quota: u64 },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    NoRoute(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error(
        "This would take {metric} to {attempted}, past the limit of {limit} for this period; nothing was counted."
    )]
    UsageLimitExceeded {
        metric: String,
        attempted: i64,
        limit: i64,
    },
    #[error("The user already has a live subscription ({0}); change it in the customer portal.")]
    SubscriptionExists(String),
    #[error(
        "The project has {0} live-mode subscription(s) still billed by Stripe; cancel them before deleting the project. Nothing was deleted."
    )]
    LiveSubscriptions(i64),
    #[error("The user has no Stripe customer yet; start with a checkout.")]
    NoBillingAccount,
    #[error("The Stripe-Signature header does not verify: {0}")]
    InvalidSignature(String),
    #[error("{0}")]
    NotSupported(String),
    #[error(
        "Stripe refused the request or could not be reached; nothing was changed. Quote the request id when reporting it."
    )]
    PaymentProvider(#[source] anyhow::Error),
    #[error("Too many requests; retry after {retry_after_seconds} s.")]
    RateLimited { retry_after_seconds: u64 },
    #[error("The database is unreachable.")]
    NotReady,
    #[error(
        "The service cannot reach its database right now; nothing was changed. Retry after the Retry-After header's seconds."
    )]
    Unavailable(#[source] anyhow::Error),
    #[error("An internal error occurred. Quote the request id when reporting it.")]
    Internal(#[source] anyhow::Error),
}

/// The error classes of the spec's `ErrorType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    InvalidRequest,
    Authentication,
    Permission,
    Idempotency,
    RateLimit,
    UsageLimit,
    Api,
}

impl AppError {
    pub fn validation(param: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Validation {
            message: message.into(),
            param: param.into(),
        }
    }

    /// Status, code and class: the error-code table of the spec, in one place.
    pub fn describe(&self) -> (u16, &'static str, ErrorClass) {
        use ErrorClass::*;
        match self {
            AppError::MissingCredentials(_) => (401, "missing_credentials", Authentication),
            AppError::InvalidApiKey(_)
            | AppError::MalformedAuthorization
            | AppError::DuplicateCredential(_) => (401, "invalid_api_key", Authentication),
            AppError::InvalidToken(_) => (401, "invalid_token", Authentication),
            AppError::TokenExpired => (401, "token_expired", Authentication),
            AppError::TokenNotYetValid => (401, "token_not_yet_valid", Authentication),
            AppError::InvalidOperatorToken => (401, "invalid_operator_token", Authentication),
            AppError::SecretKeyRequired => (403, "secret_key_required", Permission),
            AppError::UserTokenRequired => (403, "user_token_required", Permission),
            AppError::LiveModeNotAllowed => (403, "live_mode_not_allowed", Permission),
            AppError::DevIssuerDisabled => (403, "dev_issuer_disabled", Permission),
            AppError::KeySuperseded => (403, "key_superseded", Permission),
            AppError::NotFound { .. } => (404, "not_found", InvalidRequest),
            AppError::AlreadyExists { .. } => (409, "already_exists", InvalidRequest),
            AppError::IdempotencyKeyReused | AppError::EventIdReused(_) => {
                (409, "idempotency_key_reused", Idempotency)
            }
            AppError::Validation { .. } => (422, "validation_failed", InvalidRequest),
            AppError::Malformed { .. } => (400, "invalid_request", InvalidRequest),
            AppError::NoRoute(_) => (404, "not_found", InvalidRequest),
            AppError::RequestTimeout(_) => (408, "request_timeout", InvalidRequest),
            AppError::MethodNotAllowed(_) => (405, "method_not_allowed", InvalidRequest),
            AppError::PayloadTooLarge { .. } => (413, "payload_too_large", InvalidRequest),
            AppError::StorageQuotaExceeded { .. } => {
                (413, "storage_quota_exceeded", InvalidRequest)
            }
            AppError::UnsupportedMediaType(_) => (415, "unsupported_media_type", InvalidRequest),
            AppError::UsageLimitExceeded { .. } => (402, "usage_limit_exceeded", UsageLimit),
            AppError::SubscriptionExists(_) => (409, "subscription_exists", InvalidRequest),
            AppError::NoBillingAccount => (409, "no_billing_account", InvalidRequest),
            AppError::LiveSubscriptions(_) => (409, "live_subscriptions", InvalidRequest),
            AppError::InvalidSignature(_) => (400, "invalid_signature", InvalidRequest),
            AppError::NotSupported(_) => (501, "not_supported", Api),
            AppError::PaymentProvider(_) => (502, "payment_provider_error", Api),
            AppError::RateLimited { .. } => (429, "rate_limited", RateLimit),
            AppError::NotReady => (503, "not_ready", Api),
            AppError::Unavailable(_) => (503, "service_unavailable", Api),
            AppError::Internal(_) => (500, "internal_error", Api),
        }
    }

    /// What the log says about the error: for a failure, its whole chain of causes (never
    /// sent to the client).
    pub fn cause(&self) -> String {
        match self {
            AppError::Internal(cause)
            | AppError::PaymentProvider(cause)
            | AppError::Unavailable(cause) => format!("{cause:#}"),
            other => other.to_string(),
        }
    }

    /// The request input the error is about, if any.
    pub fn param(&self) -> Option<String> {
        match self {
            AppError::NotFound { param, .. } | AppError::AlreadyExists { param, .. } => {
                Some(param.to_string())
            }
            AppError::Validation { param, .. } => (!param.is_empty()).then(|| param.clone()),
            AppError::Malformed { param, .. } => param.clone(),
            AppError::UsageLimitExceeded { .. } => Some("metric".into()),
            AppError::IdempotencyKeyReused => Some("Idempotency-Key".into()),
            AppError::EventIdReused(_) => Some("id".into()),
            AppError::MalformedAuthorization => Some("Authorization".into()),
            AppError::DuplicateCredential(header) => Some(header.to_string()),
            AppError::InvalidSignature(_) => Some("Stripe-Signature".into()),
            AppError::UnsupportedMediaType(_) => Some("Content-Type".into()),
            AppError::MissingCredentials(_)
            | AppError::InvalidApiKey(_)
            | AppError::InvalidToken(_) => None,
            _ => None,
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            AppError::Unavailable(e.into())
        } else {
            AppError::Internal(e.into())
        }
    }
}

pub type AppResult<T> = Result<T, AppError>;

//! Who is calling: credentials from the request head, checked against the operation's
//! security requirement.
//!
//! Status policy: no or invalid credential is 401; a valid credential of the wrong kind for
//! the operation is 403.

use crate::app::{App, AppError, AppResult, Principal};
use crate::domain::{KeyKind, Tenant};
use crate::generated::{Security, SecurityScheme};

/// Attached by the dashboard to its in-process API requests: it acts as a secret key of
/// `tenant` (or, for an operator's session, as the operator token), and changes are audited as
/// the dashboard session `label`. A request extension, so no HTTP client can send one.
#[derive(Debug, Clone)]
pub struct DashboardGrant {
    pub tenant: Option<Tenant>,
    pub operator: bool,
    pub label: String,
    /// The hash of the secret key the session signed in with for the tenant's mode, as if
    /// the request had carried it (only the newest key may rotate).
    pub secret_key_hash: Option<String>,
}

/// The header carrying the publishable key.
pub const PUBLISHABLE_KEY_HEADER: &str = "x-publishable-key";

/// The bearer token, if an `Authorization` header is present. A header that is there but not
/// `Bearer <token>` is refused rather than ignored.
fn bearer(parts: &http::request::Parts) -> AppResult<Option<&str>> {
    let Some(value) = single(parts, &http::header::AUTHORIZATION, "Authorization")? else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
        .map(Some)
        .ok_or(AppError::MalformedAuthorization)
}

/// A credential header, if present. Sent twice it is refused: a request carrying two
/// tenants' keys must not act as whichever comes first.
fn single<'a>(
    parts: &'a http::request::Parts,
    name: &http::HeaderName,
    shown: &'static str,
) -> AppResult<Option<&'a http::HeaderValue>> {
    let mut values = parts.headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(AppError::DuplicateCredential(shown));
    }
    Ok(first)
}

/// The publishable key header, if present; present but empty is kept, and fails lookup.
fn publishable(parts: &http::request::Parts) -> AppResult<Option<&str>> {
    static NAME: http::HeaderName = http::HeaderName::from_static(PUBLISHABLE_KEY_HEADER);
    Ok(single(parts, &NAME, "X-Publishable-Key")?.map(|v| v.to_str().map(str::trim).unwrap_or("")))
}

fn allows(security: Security, wanted: &[SecurityScheme]) -> bool {
    security.contains(&wanted)
}

/// The secret key the request is made with, if it is made with one.
pub fn secret_key(parts: &http::request::Parts) -> Option<&str> {
    bearer(parts)
        .ok()
        .flatten()
        .filter(|t| t.starts_with("sk_"))
}

/// Establishes the principal for an operation with `security`.
pub async fn principal(
    app: &App,
    security: Security,
    parts: &http::request::Parts,
) -> AppResult<Principal> {
    if security.is_empty() {
        return Ok(Principal::Anonymous);
    }
    if let Some(grant) = parts.extensions.get::<DashboardGrant>() {
        return match &grant.tenant {
            _ if grant.operator && allows(security, &[SecurityScheme::OperatorToken]) => {
                Ok(Principal::Operator)
            }
            Some(tenant) if allows(security, &[SecurityScheme::SecretKey]) => {
                Ok(Principal::Secret(tenant.clone()))
            }
            _ => Err(AppError::SecretKeyRequired),
        };
    }
    if allows(security, &[SecurityScheme::OperatorToken]) {
        let token = bearer(parts)
            .ok()
            .flatten()
            .ok_or(AppError::InvalidOperatorToken)?;
        app.check_operator(token)?;
        return Ok(Principal::Operator);
    }
    let bearer = bearer(parts)?;
    let pk = publishable(parts)?;
    let secret_allowed = allows(security, &[SecurityScheme::SecretKey]);
    let public_allowed = allows(security, &[SecurityScheme::PublishableKey]);
    let user_allowed = allows(
        security,
        &[SecurityScheme::PublishableKey, SecurityScheme::UserJwt],
    );

    if bearer.is_some_and(|t| t.starts_with("pk_")) {
        return Err(AppError::InvalidApiKey(
            "A publishable key was sent as `Authorization: Bearer`: send it in the X-Publishable-Key header; Authorization carries a secret key (sk_…) or a user's JWT.".into(),
        ));
    }
    if let Some(token) = bearer.filter(|t| t.starts_with("sk_")) {
        let tenant = app.resolve_key(token, KeyKind::Secret).await?;
        // A publishable key sent alongside must be valid and the secret key's own: a request
        // carrying a bad credential is refused, never served on the strength of another.
        if let Some(pk) = pk
            && app.resolve_key(pk, KeyKind::Publishable).await? != tenant
        {
            return Err(AppError::InvalidApiKey(
                "The publishable key sent with this secret key belongs to another project or mode."
                    .into(),
            ));
        }
        if secret_allowed {
            return Ok(Principal::Secret(tenant));
        }
        return Err(AppError::UserTokenRequired);
    }
    match pk {
        Some(pk) => {
            let tenant = app.resolve_key(pk, KeyKind::Publishable).await?;
            if user_allowed {
                let token = bearer.ok_or_else(|| {
                    AppError::MissingCredentials("This operation acts for a user: send the user's JWT as `Authorization: Bearer <token>`.".into())
                })?;
                return Ok(Principal::User(app.resolve_user(tenant, token).await?));
            }
            if public_allowed {
                // An SDK may send the user's token on public reads too; it must then be valid.
                if let Some(token) = bearer {
                    app.resolve_user(tenant.clone(), token).await?;
                }
                return Ok(Principal::Publishable(tenant));
            }
            Err(AppError::SecretKeyRequired)
        }
        None if bearer.is_some() => {
            if user_allowed {
                Err(AppError::MissingCredentials("Send your publishable key in the X-Publishable-Key header with the user's JWT.".into()))
            } else {
                Err(AppError::InvalidApiKey(
                    "The Authorization header holds no secret key (sk_…): this operation needs one.".into(),
                ))
            }
        }
        None => Err(AppError::MissingCredentials(
            if secret_allowed && !public_allowed {
                "This operation needs a secret key: `Authorization: Bearer sk_…`.".into()
            } else {
                "Send your publishable key in the X-Publishable-Key header.".into()
            },
        )),
    }
}

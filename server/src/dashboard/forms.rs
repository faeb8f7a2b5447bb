//! The session behind a request, and forms that may change something.
//!
//! A page needs a live session (the `dream_dashboard` cookie: a random token whose hash is
//! stored); an expired or unknown one goes back to sign-in. A form post must also come from
//! the dashboard's own origin (`Origin`, `Sec-Fetch-Site`) and carry the session's CSRF token,
//! or it is refused with 403 before anything is read from it.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Redirect, Response};

use super::api::DashboardGrant;
use super::{Dash, layout};
use crate::app::now;
use crate::domain::ids;
use crate::domain::{DashboardSession, Tenant};

pub const COOKIE: &str = "dream_dashboard";
const FLASH: &str = "dream_flash";

/// A one-time message shown on the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    pub error: bool,
    pub text: String,
}

/// A request with a live session, and the flash message waiting for it.
pub struct Signed {
    pub session: DashboardSession,
    pub flash: Option<Flash>,
}

impl Signed {
    /// The tenant shown, and the grant to call the API as it; an operator who has not picked
    /// a project yet is sent to pick one.
    pub fn scope(&self) -> Result<(Tenant, DashboardGrant), Response> {
        match super::tenant_of(&self.session) {
            Some(tenant) => Ok((
                tenant.clone(),
                DashboardGrant {
                    tenant: Some(tenant),
                    operator: false,
                    label: self.session.actor().to_string(),
                    secret_key_hash: self
                        .session
                        .secret_key(self.session.mode)
                        .map(str::to_string),
                },
            )),
            None => Err(Redirect::to("/dashboard/projects").into_response()),
        }
    }
}

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value for the dashboard's path, `HttpOnly` and `SameSite=Strict`; `Secure`
/// when the request reached us over HTTPS through a proxy. Without `max_age` the cookie lasts
/// until the browser closes; the server decides when a session expires, and says so.
pub fn set_cookie(headers: &HeaderMap, name: &str, value: &str, max_age: Option<i64>) -> String {
    let secure = headers
        .get("x-forwarded-proto")
        .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"https"));
    let max_age = max_age.map_or(String::new(), |s| format!("; Max-Age={s}"));
    format!(
        "{name}={value}; Path=/dashboard; HttpOnly; SameSite=Strict{max_age}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// A redirect that leaves a message for the next page.
/// `candidate` when it is a path of the dashboard itself, safe to redirect to: under
/// `/dashboard/`, no `//` or `\\` that a browser would read as another host, and only visible
/// ASCII (no CR or LF that would break the header, no spaces).
pub fn dashboard_path(candidate: &str) -> Option<&str> {
    (candidate.starts_with("/dashboard/")
        && !candidate.contains("//")
        && !candidate.contains('\\')
        && candidate.bytes().all(|b| b.is_ascii_graphic()))
    .then_some(candidate)
}

pub fn redirect_with(headers: &HeaderMap, to: &str, error: bool, text: &str) -> Response {
    let to = dashboard_path(to).unwrap_or("/dashboard/overview");
    let value = format!(
        "{}{}",
        if error { "e:" } else { "n:" },
        percent_encoded(text)
    );
    (
        [(
            header::SET_COOKIE,
            set_cookie(headers, FLASH, &value, Some(60)),
        )],
        Redirect::to(to),
    )
        .into_response()
}

/// Percent-encodes a message for a cookie value.
fn percent_encoded(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

pub fn flash(headers: &HeaderMap) -> Option<Flash> {
    let raw = cookie(headers, FLASH)?;
    let (kind, text) = raw.split_at_checked(2)?;
    let text: String = url::form_urlencoded::parse(format!("m={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())?;
    Some(Flash {
        error: kind == "e:",
        text,
    })
}

/// Clears the flash cookie once its message has been shown.
pub fn clear_flash(headers: &HeaderMap) -> String {
    set_cookie(headers, FLASH, "", Some(0))
}

pub const EXPIRED: &str = "Your session expired. Sign in again.";
/// Why a session whose key was revoked or rotated away ended.
pub const KEY_GONE: &str = "The secret key this session signed in with was revoked or rotated away. Sign in with the current key.";

/// The live session of a request, if any; an expired one is an error that leads to sign-in.
pub async fn session(
    dash: &Dash,
    headers: &HeaderMap,
) -> Result<Option<DashboardSession>, Response> {
    let Some(token) = cookie(headers, COOKIE).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let hash = ids::key_hash(token);
    let row = dash
        .app
        .dashboard_session_get(&hash)
        .await
        .map_err(|e| layout::failure(&e))?;
    match row {
        Some(row) if row.expires_at > now() => {
            let live = dash
                .app
                .dashboard_session_keys_live(&row)
                .await
                .map_err(|e| layout::failure(&e))?;
            if live {
                return Ok(Some(row));
            }
            dash.app
                .dashboard_session_delete(&row.token_hash)
                .await
                .map_err(|e| layout::failure(&e))?;
            Err(redirect_with(headers, "/dashboard/sign-in", true, KEY_GONE))
        }
        // Kept until the next sign-in purges expired rows, so every page says why.
        Some(_) => Err(redirect_with(headers, "/dashboard/sign-in", true, EXPIRED)),
        None => Ok(None),
    }
}

impl FromRequestParts<Dash> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, dash: &Dash) -> Result<Self, Response> {
        let live = parts.uri.path().ends_with("/live");
        match session(dash, &parts.headers).await {
            Ok(Some(session)) => Ok(Signed {
                session,
                flash: flash(&parts.headers),
            }),
            Ok(None) if live => Err(StatusCode::UNAUTHORIZED.into_response()),
            Ok(None) => Err(Redirect::to("/dashboard/sign-in").into_response()),
            // A background refresh is told, keeping the message for the sign-in page its
            // script goes to.
            Err(response) if live => {
                let mut refused = StatusCode::UNAUTHORIZED.into_response();
                if let Some(cookie) = response.headers().get(header::SET_COOKIE) {
                    refused
                        .headers_mut()
                        .insert(header::SET_COOKIE, cookie.clone());
                }
                Err(refused)
            }
            Err(response) => Err(response),
        }
    }
}

/// Whether a form post came from a page of this server: same `Origin` (when the browser sends
/// one) and not a cross-site fetch.
pub fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site")
        && !matches!(site.as_bytes(), b"same-origin" | b"none")
    {
        return false;
    }
    match headers.get(header::ORIGIN) {
        None => true,
        Some(origin) => {
            let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
            let authority = origin
                .to_str()
                .ok()
                .and_then(|o| o.split_once("://"))
                .map(|(_, rest)| rest);
            host.is_some() && authority == host
        }
    }
}

/// A form post from a signed-in page: its fields, after the origin and CSRF checks.
pub struct Posted {
    pub signed: Signed,
    pub headers: HeaderMap,
    fields: Vec<(String, String)>,
}

impl Posted {
    /// A field's value, trimmed; `None` when absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// Whether a checkbox was ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.fields.iter().any(|(n, _)| n == name)
    }
}

impl Posted {
    /// What was typed into the form `form`, kept for showing it again beside `error`.
    pub fn draft(&self, form: &str, error: String) -> Draft {
        Draft {
            form: form.to_string(),
            fields: self
                .fields
                .iter()
                .filter(|(name, _)| name != "csrf")
                .cloned()
                .collect(),
            error,
        }
    }
}

/// A form the API refused: the page is shown again with the form open, everything typed
/// still in it, and the reason above it — nothing is lost to a redirect.
#[derive(Debug, Clone)]
pub struct Draft {
    /// Which form on the page (`new-tier`, `tier-<id>`, `settings`, …).
    pub form: String,
    fields: Vec<(String, String)>,
    pub error: String,
}

impl Draft {
    /// This draft, when it belongs to `form`.
    pub fn of<'a>(draft: Option<&'a Draft>, form: &str) -> Option<&'a Draft> {
        draft.filter(|d| d.form == form)
    }

    /// What was typed into `name` (untrimmed: exactly as typed), or `""`.
    pub fn value(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Whether a checkbox was ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.fields.iter().any(|(n, _)| n == name)
    }

    /// What the field `name` shows: what was typed, when `draft` came back refused; else `now`.
    pub fn shown(draft: Option<&Draft>, name: &str, now: Option<String>) -> Option<String> {
        match draft {
            Some(d) => Some(d.value(name).to_string()),
            None => now,
        }
    }

    /// Whether the checkbox `name` shows ticked: as sent, when `draft` came back; else `now`.
    pub fn ticked(draft: Option<&Draft>, name: &str, now: bool) -> bool {
        draft.map_or(now, |d| d.checked(name))
    }

    /// The signed-in request, with the refusal as the page's error message.
    pub fn signed(&self, signed: &Signed) -> Signed {
        Signed {
            session: signed.session.clone(),
            flash: Some(Flash {
                error: true,
                text: self.error.clone(),
            }),
        }
    }
}

/// A page of the dashboard; shown again for a draft, it says why above the form and answers
/// 422, like the API's refusal it shows.
pub fn page_with_draft(
    signed: &Signed,
    draft: Option<&Draft>,
    title: &str,
    active: &str,
    body: maud::Markup,
    headers: &HeaderMap,
) -> Response {
    match draft {
        None => layout::page(signed, None, title, active, body, headers),
        Some(draft) => {
            let mut page = layout::page(&draft.signed(signed), None, title, active, body, headers);
            *page.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            page
        }
    }
}

pub fn refused() -> Response {
    layout::error_page(
        StatusCode::FORBIDDEN,
        "This form did not come from your dashboard",
        "The request was refused: it did not carry this session's form token, or it came from another site. Nothing was changed. Go back to the dashboard and try again.",
    )
}

/// Reads a urlencoded form body.
pub async fn read_form(request: Request) -> Result<(Parts, Vec<(String, String)>), Response> {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map_err(|_| StatusCode::PAYLOAD_TOO_LARGE.into_response())?;
    let fields = url::form_urlencoded::parse(&bytes)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    Ok((parts, fields))
}

impl FromRequest<Dash> for Posted {
    type Rejection = Response;

    async fn from_request(request: Request, dash: &Dash) -> Result<Self, Response> {
        if !same_origin(request.headers()) {
            return Err(refused());
        }
        let (mut parts, fields) = read_form(request).await?;
        let signed = Signed::from_request_parts(&mut parts, dash).await?;
        let token = fields
            .iter()
            .find(|(n, _)| n == "csrf")
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        if !ids::same_secret(token, &signed.session.csrf) {
            return Err(refused());
        }
        Ok(Posted {
            signed,
            headers: parts.headers,
            fields,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn redirects_go_only_to_dashboard_paths() {
        for bad in [
            "/dashboard/x\r\nSet-Cookie: a=b",
            "/dashboard/a b",
            "//evil.example/dashboard/",
            "/dashboard//evil.example",
            "/dashboard/\\evil.example",
            "https://evil.example/dashboard/",
            "/elsewhere",
        ] {
            assert_eq!(dashboard_path(bad), None, "{bad:?}");
            let response = redirect_with(&HeaderMap::new(), bad, false, "done");
            assert_eq!(
                response.headers()["location"],
                "/dashboard/overview",
                "{bad:?}"
            );
        }
        assert_eq!(
            dashboard_path("/dashboard/customers/u%201?tab=usage"),
            Some("/dashboard/customers/u%201?tab=usage")
        );
    }

    #[test]
    fn cross_site_posts_are_told_apart_from_our_own() {
        assert!(same_origin(&headers(&[("host", "127.0.0.1:8787")])));
        assert!(same_origin(&headers(&[
            ("host", "127.0.0.1:8787"),
            ("origin", "http://127.0.0.1:8787"),
            ("sec-fetch-site", "same-origin"),
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8787"),
            ("origin", "http://127.0.0.1:9999"),
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8787"),
            ("sec-fetch-site", "same-site"),
        ])));
        assert!(!same_origin(&headers(&[("origin", "null")])));
    }

    #[test]
    fn flash_messages_survive_the_cookie() {
        let set = redirect_with(&HeaderMap::new(), "/x", true, "Tier “pro” archived; 3 left");
        let cookie = set.headers()[header::SET_COOKIE].to_str().unwrap();
        let value = cookie.split(';').next().unwrap().to_string();
        let parsed = flash(&headers(&[("cookie", Box::leak(value.into_boxed_str()))]));
        assert_eq!(
            parsed,
            Some(Flash {
                error: true,
                text: "Tier “pro” archived; 3 left".into()
            })
        );
    }
}

//! The page shell (header with the project, the test/live switch and sign-out; the side
//! navigation), the sign-in page, error pages, and small formatting helpers.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use super::api::ApiError;
use super::forms::{self, Signed};
use crate::domain::{DashboardSession, Mode};
use crate::generated::types;

const NAV: &[(&str, &str, &str)] = &[
    ("overview", "Overview", "/dashboard/overview"),
    ("customers", "Customers", "/dashboard/customers"),
    ("catalog", "Tiers & products", "/dashboard/catalog"),
    ("assets", "Assets", "/dashboard/assets"),
    ("settings", "Keys & settings", "/dashboard/settings"),
    ("events", "Webhook events", "/dashboard/events"),
    ("audit", "Audit log", "/dashboard/audit"),
];

fn head(title: &str) -> Markup {
    html! {
        (DOCTYPE)
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        title { (title) " · Dream API" }
        link rel="stylesheet" href="/dashboard/static/dashboard.css";
        script src="/dashboard/static/dashboard.js" defer {}
    }
}

fn logo() -> Markup {
    html! {
        a.logo href="/dashboard/overview" {
            span.mark { "◆" } " Dream API"
        }
    }
}

/// The hidden field every form carries.
pub fn csrf(session: &DashboardSession) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

/// The test/live switch: both modes always visible, the current one marked.
fn mode_switch(session: &DashboardSession, here: &str) -> Markup {
    html! {
        form.mode-switch method="post" action="/dashboard/mode" {
            (csrf(session))
            input type="hidden" name="back" value=(here);
            @for mode in [Mode::Test, Mode::Live] {
                @let current = session.mode == mode;
                button type="submit" name="mode" value=(mode.as_str())
                    class={ "mode " (mode.as_str()) @if current { " current" } }
                    aria-pressed=(current)
                    title=(if session.modes.contains(&mode) { "" } else { "Needs this mode's secret key" }) {
                    @if mode == Mode::Test { "Test" } @else { "Live" }
                    @if !session.modes.contains(&mode) {
                        svg.lock viewBox="0 0 12 12" aria-label="needs this mode's secret key" {
                            rect x="2" y="5.5" width="8" height="5.5" rx="1" fill="currentColor" {}
                            path d="M4 5.5V4a2 2 0 0 1 4 0v1.5" fill="none" stroke="currentColor" stroke-width="1.3" {}
                        }
                    }
                }
            }
        }
    }
}

/// A signed-in page: header, navigation, the flash message, and `body`.
pub fn page(
    signed: &Signed,
    live_url: Option<&str>,
    title: &str,
    active: &str,
    body: Markup,
    headers: &HeaderMap,
) -> Response {
    let session = &signed.session;
    let here = NAV
        .iter()
        .find(|(id, _, _)| *id == active)
        .map_or("/dashboard/projects", |(_, _, href)| *href);
    let markup = html! {
        (head(title))
        body class={ "mode-" (session.mode.as_str()) } {
            @if session.mode == Mode::Live {
                div.live-banner role="status" { "Live mode — you are looking at, and changing, real customers and payments." }
            }
            header.top {
                (logo())
                div.project {
                    @if let Some(name) = &session.project_name {
                        span.project-name { (name) }
                    }
                    @if session.operator {
                        a.switch-project href="/dashboard/projects" { "Switch project" }
                    }
                }
                @if session.project_id.is_some() { (mode_switch(session, here)) }
                div.who {
                    span.muted { "Signed in with " code { (session.actor()) } }
                    form method="post" action="/dashboard/sign-out" {
                        (csrf(session))
                        button.link type="submit" { "Sign out" }
                    }
                }
            }
            div.frame {
                @if session.project_id.is_some() {
                    nav.side {
                        @for (id, label, href) in NAV {
                            a href=(href) class=@if *id == active { "active" } { (label) }
                        }
                    }
                }
                main {
                    @if let Some(flash) = &signed.flash {
                        div class={ "flash " @if flash.error { "error" } @else { "notice" } } role="alert" { (flash.text) }
                    }
                    @if let Some(url) = live_url {
                        div #live data-live=(url) { (body) }
                    } @else {
                        (body)
                    }
                }
            }
        }
    };
    respond(StatusCode::OK, markup, signed.flash.is_some(), headers)
}

fn respond(status: StatusCode, markup: Markup, clear_flash: bool, headers: &HeaderMap) -> Response {
    let mut response = (status, Html(markup.into_string())).into_response();
    if clear_flash && let Ok(value) = forms::clear_flash(headers).parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// The sign-in form, with `message` (or the flash left for it) above it.
pub fn sign_in(message: Option<&str>, status: StatusCode, headers: &HeaderMap) -> Response {
    let flash = forms::flash(headers);
    let shown = message
        .map(|m| (true, m.to_string()))
        .or(flash.as_ref().map(|f| (f.error, f.text.clone())));
    let markup = html! {
        (head("Sign in"))
        body.sign-in {
            main.sign-in-card {
                (logo())
                h1 { "Sign in to your dashboard" }
                p.muted { "Use a project's secret key, or the server's operator token to pick any project. The key is checked and forgotten: the browser keeps only a session cookie it cannot read from scripts." }
                @if let Some((error, text)) = &shown {
                    div class={ "flash " @if *error { "error" } @else { "notice" } } role="alert" { (text) }
                }
                form method="post" action="/dashboard/sign-in" {
                    label for="credential" { "Secret key or operator token" }
                    input #credential type="password" name="credential" autocomplete="off"
                        placeholder="sk_test_…" required autofocus;
                    button.primary type="submit" { "Sign in" }
                }
                p.fine { "Test keys (sk_test_…) open test data; live keys open live data. Sign in with the other key later to switch between them." }
            }
        }
    };
    respond(status, markup, flash.is_some(), headers)
}

/// A page for something that went wrong, without the shell.
pub fn error_page(status: StatusCode, title: &str, text: &str) -> Response {
    let markup = html! {
        (head(title))
        body.sign-in {
            main.sign-in-card {
                (logo())
                h1 { (title) }
                p { (text) }
                p { a href="/dashboard/overview" { "Back to the dashboard" } }
            }
        }
    };
    (status, Html(markup.into_string())).into_response()
}

pub fn not_found() -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no such page in the dashboard.",
    )
}

/// A server-side failure: logged, and a generic page.
pub fn failure(e: &crate::app::AppError) -> Response {
    tracing::error!(error = %e.cause(), "dashboard request failed");
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "The dashboard could not load this page. Try again in a moment.",
    )
}

/// An API call that could not be shown: its own message and status.
pub fn api_failure(e: &ApiError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status == StatusCode::NOT_FOUND {
        return error_page(status, "Not found", &e.explain());
    }
    error_page(status, "That did not work", &e.explain())
}

/// `Nov 28, 2026`
pub fn date(at: &types::Timestamp) -> String {
    at.0.format("%b %-d, %Y").to_string()
}

/// `Nov 28, 10:04:31 UTC`
pub fn datetime(at: &types::Timestamp) -> String {
    at.0.format("%b %-d, %H:%M:%S UTC").to_string()
}

/// An amount in a currency's smallest unit, as money: `$29.00`, `€1,234.50`, `¥1,000`,
/// `12.50 CHF` — the same format as the Stripe emulator's pages.
pub fn money(amount: i64, currency: &str) -> String {
    crate::domain::money(amount, currency)
}

/// `1234567` → `1,234,567`
pub fn thousands(n: u64) -> String {
    stripe_emulator::pages::grouped(n)
}

/// A count, with separators.
pub fn count(n: i64) -> String {
    if n < 0 {
        format!("-{}", thousands(n.unsigned_abs()))
    } else {
        thousands(n as u64)
    }
}

/// Empty state text inside a card.
pub fn empty(text: &str) -> Markup {
    html! { p.empty { (text) } }
}

/// A status pill.
pub fn pill(text: &str, tone: &str) -> Markup {
    html! { span class={ "pill " (tone) } { (text) } }
}

/// Pretty-printed JSON, escaped.
pub fn json_block(value: &serde_json::Value) -> Markup {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    html! { pre.json { (text) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_reads_as_money() {
        assert_eq!(money(2900, "usd"), "$29.00");
        assert_eq!(money(123_456_789, "eur"), "€1,234,567.89");
        assert_eq!(money(1000, "jpy"), "¥1,000");
        assert_eq!(money(5, "chf"), "0.05 CHF");
        assert_eq!(count(-1234), "-1,234");
    }
}

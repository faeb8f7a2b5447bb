//! The developer dashboard at `/dashboard`: server-rendered HTML pages, one small script for
//! live updates, assets compiled into the binary.
//!
//! The dashboard has no data access of its own. Every figure it shows and every change it
//! makes is a request to the API's own router, in process, with the session's tenant attached
//! as a `DashboardGrant` (a request extension, which nothing outside the process can set):
//! the same validation, the same errors, the same audit log as a secret-key API call.
//!
//! Sessions (`session.rs`) live in the database, so any replica serves any session; the cookie
//! is `HttpOnly`, `SameSite=Strict` and carries only a random token. Every form carries the
//! session's CSRF token and a same-origin check (`forms.rs`).

// A page's early exit (a redirect to sign-in, an error page) is a whole `Response`, once per
// request; boxing it would only add noise to every handler.
#![allow(clippy::result_large_err)]

mod amounts;
mod api;
mod catalog;
mod chart;
mod customers;
mod forms;
mod layout;
mod logs;
mod overview;
mod reveal;
mod session;
mod settings;
mod uploads;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::app::App;
use crate::domain::Tenant;

/// The dashboard's shared state.
pub struct Dashboard {
    /// The domain, for sessions only: data goes through `api`.
    app: Arc<App>,
    /// The API's router, called in process.
    api: Router,
    /// How long a session lasts after sign-in.
    session_seconds: i64,
}

type Dash = Arc<Dashboard>;

/// A handler's answer: the page, or an early one (sign-in, an error page) from `?`.
type Page = Result<Response, Response>;

/// The dashboard's routes, calling `api` for everything they show or change.
pub fn router(app: Arc<App>, api: Router, session_seconds: i64) -> Router {
    // Images load from the server's public URL, which may be another origin than the page's.
    let policy = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: {}; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        app.assets().public_origin()
    );
    let dash = Arc::new(Dashboard {
        app,
        api,
        session_seconds,
    });
    Router::new()
        .route(
            "/dashboard",
            get(|| async { Redirect::to("/dashboard/overview") }),
        )
        .route(
            "/dashboard/sign-in",
            get(session::sign_in_page).post(session::sign_in),
        )
        .route("/dashboard/sign-out", post(session::sign_out))
        .route(
            "/dashboard/projects",
            get(session::projects_page).post(session::pick_project),
        )
        .route("/dashboard/mode", post(session::switch_mode))
        .route("/dashboard/overview", get(overview::page))
        .route("/dashboard/overview/live", get(overview::live))
        .route("/dashboard/customers", get(customers::list))
        .route("/dashboard/customers/{user_id}", get(customers::detail))
        .route(
            "/dashboard/customers/{user_id}/plan",
            post(customers::override_plan),
        )
        .route(
            "/dashboard/customers/{user_id}/reset",
            post(customers::reset_usage),
        )
        .route("/dashboard/catalog", get(catalog::page))
        .route("/dashboard/tiers", post(catalog::create_tier))
        .route("/dashboard/tiers/{id}", post(catalog::update_tier))
        .route("/dashboard/tiers/{id}/archive", post(catalog::archive_tier))
        .route("/dashboard/products", post(catalog::create_product))
        .route("/dashboard/products/{id}", post(catalog::update_product))
        .route(
            "/dashboard/products/{id}/archive",
            post(catalog::archive_product),
        )
        .route(
            "/dashboard/settings",
            get(settings::page).post(settings::update),
        )
        .route("/dashboard/keys/rotate", post(settings::rotate_key))
        .route("/dashboard/events", get(logs::events))
        .route("/dashboard/audit", get(logs::audit))
        .route("/dashboard/products/{id}/images", post(uploads::arrange))
        // An upload streams to the API, whose limits on size and quota decide.
        .route(
            "/dashboard/assets",
            get(uploads::page)
                .post(uploads::upload)
                .layer(DefaultBodyLimit::disable()),
        )
        .route("/dashboard/assets/{id}/delete", post(uploads::delete))
        .route("/dashboard/static/{name}", get(asset))
        .layer(axum::middleware::from_fn_with_state(
            HeaderValue::from_str(&policy).expect("a CSP of visible ASCII"),
            security_headers,
        ))
        .with_state(dash)
}

const CSS: &str = include_str!("assets/dashboard.css");
const JS: &str = include_str!("assets/dashboard.js");

async fn asset(Path(name): Path<String>) -> Response {
    let (body, kind) = match name.as_str() {
        "dashboard.css" => (CSS, "text/css; charset=utf-8"),
        "dashboard.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return layout::not_found(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// Nothing but the dashboard's own files runs or loads; no page may be framed; nothing is
/// cached by the browser or a proxy except the static assets.
async fn security_headers(
    axum::extract::State(policy): axum::extract::State<HeaderValue>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The tenant a session shows.
fn tenant_of(session: &crate::domain::DashboardSession) -> Option<Tenant> {
    session.project_id.as_ref().map(|project_id| Tenant {
        project_id: project_id.clone(),
        mode: session.mode,
    })
}

//! Logs: the subscriber `dream` installs, and one line per request.
//!
//! Every request is logged once, when its response is ready, at `info`: method, route
//! template (never the path with its ids), status, latency, request id, and the tenant
//! (project and mode) and kind of caller once authentication has named them — never a key or
//! a token. Health probes log at `debug`. Anything logged while a request is handled carries
//! its request id (the `request` span). `DREAM_LOG_FORMAT=json` writes one JSON object per
//! line; colour is used only when the output is a terminal.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tracing::Instrument;

use crate::app::Principal;
use crate::domain::Tenant;
use crate::http::errors::REQUEST_ID_HEADER;
use crate::telemetry::Telemetry;

/// The filter when `RUST_LOG` is not set.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn,stripe_webhook=error";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

impl Format {
    /// `DREAM_LOG_FORMAT`: `text` (the default) or `json`.
    pub fn from_env() -> anyhow::Result<Format> {
        match std::env::var("DREAM_LOG_FORMAT") {
            Err(_) => Ok(Format::Text),
            Ok(value) => match value.trim().to_ascii_lowercase().as_str() {
                "" | "text" => Ok(Format::Text),
                "json" => Ok(Format::Json),
                _ => anyhow::bail!("DREAM_LOG_FORMAT must be `text` or `json`, not {value:?}"),
            },
        }
    }
}

/// Installs the process's subscriber: `RUST_LOG` (else [`DEFAULT_FILTER`]) in `format`, on
/// stdout, coloured only on a terminal.
pub fn init(format: Format) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // The Stripe client warns on every event of another API version; the server says
        // it once (`app/webhooks.rs`).
        .unwrap_or_else(|_| DEFAULT_FILTER.into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        Format::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        Format::Text => builder.with_ansi(std::io::stdout().is_terminal()).init(),
    }
}

/// The kind of caller (`user`, `secret`, …) and its tenant, if it has one.
type CallerLine = (&'static str, Option<Tenant>);

/// Who a request acted as, filled in by authentication for the request's log line.
#[derive(Clone, Default)]
pub struct RequestLog(Arc<Mutex<Option<CallerLine>>>);

impl RequestLog {
    /// Records who the request acts as: the kind of caller (a secret-key principal from a
    /// dashboard session is `dashboard`) and its tenant.
    pub fn caller(&self, principal: &Principal, dashboard: bool) {
        let line = match principal {
            Principal::Anonymous => ("anonymous", None),
            Principal::Operator => ("operator", None),
            Principal::Publishable(tenant) => ("publishable", Some(tenant.clone())),
            Principal::Secret(tenant) if dashboard => ("dashboard", Some(tenant.clone())),
            Principal::Secret(tenant) => ("secret", Some(tenant.clone())),
            Principal::User(user) => ("user", Some(user.tenant.clone())),
        };
        *self.0.lock().expect("request log") = Some(line);
    }
}

/// Counts a request in flight until dropped (also when the client goes away mid-request).
struct InFlight(Arc<Telemetry>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.dec();
    }
}

/// The middleware writing each request's line and counting it for `/metrics`; inside the
/// request id layer, so the id is set.
pub async fn access_log(
    axum::extract::State(telemetry): axum::extract::State<Arc<Telemetry>>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let started = Instant::now();
    telemetry.in_flight.inc();
    let in_flight = InFlight(telemetry.clone());
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let slot = RequestLog::default();
    request.extensions_mut().insert(slot.clone());
    let span = tracing::info_span!("request", id = %request_id);
    let response = next.run(request).instrument(span).await;
    drop(in_flight);
    let status = response.status().as_u16();
    let elapsed = started.elapsed().as_secs_f64();
    let latency_ms = (elapsed * 100_000.0).round() / 100.0;
    let route = route.as_deref().unwrap_or("(no route)");
    telemetry.request(method.as_str(), route, status, elapsed);
    let caller = slot.0.lock().expect("request log").take();
    let (kind, tenant) = caller.unwrap_or(("none", None));
    let (project, mode) = tenant
        .map(|t| (t.project_id, t.mode.as_str()))
        .unwrap_or_default();
    if matches!(route, "/healthz" | "/readyz" | "/metrics") && status < 500 {
        tracing::debug!(target: "dream::request", %method, route, status, latency_ms, request_id, caller = kind, project, mode, "request");
    } else {
        tracing::info!(target: "dream::request", %method, route, status, latency_ms, request_id, caller = kind, project, mode, "request");
    }
    response
}

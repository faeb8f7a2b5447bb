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
use std::time::Duration;

use axum::extract::MatchedPath;

use crate::app::Principal;
use crate::app::ratelimit::Decision;
use crate::domain::Tenant;
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

/// What the edge needs from inside the router, once the response is ready: who the request
/// acted as, filled in by authentication, the route template it matched, and the rate
/// limiter's decision for the response headers.
#[derive(Default)]
struct Line {
    caller: Option<CallerLine>,
    route: Option<MatchedPath>,
    rate_limit: Option<Decision>,
}

/// A request's [`Line`], shared between the edge that writes it and the router that fills it.
#[derive(Clone, Default)]
pub struct RequestLog(Arc<Mutex<Line>>);

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
        self.0.lock().expect("request log").caller = Some(line);
    }

    /// Records the rate limiter's decision, for the response's `RateLimit-*` headers.
    pub fn rate_limit(&self, decision: Decision) {
        self.0.lock().expect("request log").rate_limit = Some(decision);
    }

    /// The rate limiter's decision, if a limit applied to the request.
    pub fn rate_limit_decision(&self) -> Option<Decision> {
        self.0.lock().expect("request log").rate_limit
    }

    /// Records the route template of a request the router matched, where the request
    /// carries a log.
    pub fn route_of(request: &axum::extract::Request) {
        let extensions = request.extensions();
        if let (Some(log), Some(route)) = (
            extensions.get::<RequestLog>(),
            extensions.get::<MatchedPath>(),
        ) {
            log.0.lock().expect("request log").route = Some(route.clone());
        }
    }
}

/// Counts a request in flight until dropped (also when the client goes away mid-request).
pub struct InFlight(Arc<Telemetry>);

impl InFlight {
    pub fn new(telemetry: Arc<Telemetry>) -> InFlight {
        telemetry.in_flight.inc();
        InFlight(telemetry)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.dec();
    }
}

/// Writes a request's line and counts it for `/metrics`, once its response is ready.
pub fn request_line(
    telemetry: &Telemetry,
    method: &http::Method,
    status: http::StatusCode,
    elapsed: Duration,
    request_id: &str,
    log: &RequestLog,
) {
    let status = status.as_u16();
    let elapsed = elapsed.as_secs_f64();
    let latency_ms = (elapsed * 100_000.0).round() / 100.0;
    let Line { caller, route, .. } = std::mem::take(&mut *log.0.lock().expect("request log"));
    let route = route.as_ref().map_or("(no route)", MatchedPath::as_str);
    telemetry.request(method.as_str(), route, status, elapsed);
    let (kind, tenant) = caller.unwrap_or(("none", None));
    let (project, mode) = tenant
        .map(|t| (t.project_id, t.mode.as_str()))
        .unwrap_or_default();
    if matches!(route, "/healthz" | "/readyz" | "/metrics") && status < 500 {
        tracing::debug!(target: "dream::request", %method, route, status, latency_ms, request_id, caller = kind, project, mode, "request");
    } else {
        tracing::info!(target: "dream::request", %method, route, status, latency_ms, request_id, caller = kind, project, mode, "request");
    }
}

//! What every request passes through before routing, as one service: the request id (the
//! client's, or a new `req_…`) set on the request and echoed on the response, the request's
//! log line and metrics, and the `RateLimit-*` and `Retry-After` headers.
//!
//! These wrap the router once, instead of being layered on each of its routes: axum wraps
//! every route in every `Router::layer` and clones that stack per request, which cost a
//! boxed service and a boxed future per layer on the hottest paths. The route template for
//! the log line is recorded by the one per-route layer ([`RequestLog::route_of`]).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::Request;
use axum::response::Response;
use http::{HeaderName, HeaderValue, StatusCode};
use tracing::Instrument;

use crate::app::ratelimit::Decision;
use crate::domain::ids;
use crate::http::errors::REQUEST_ID_HEADER;
use crate::logging::{self, RequestLog};
use crate::telemetry::Telemetry;

/// A service's answer, boxed: what a hand-written layer returns when it works after the
/// inner service answers.
pub type ResponseFuture = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

/// The inner service to answer this request: the one that was polled ready, leaving a clone
/// in its place for the next (the usual tower idiom for a service moved into a future).
pub fn take_ready<S: Clone>(service: &mut S) -> S {
    let clone = service.clone();
    std::mem::replace(service, clone)
}

/// [`Edge`] around a service.
#[derive(Clone)]
pub struct EdgeLayer {
    telemetry: Arc<Telemetry>,
}

impl EdgeLayer {
    pub fn new(telemetry: Arc<Telemetry>) -> EdgeLayer {
        EdgeLayer { telemetry }
    }
}

impl<S> tower::Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Edge<S> {
        Edge {
            inner,
            telemetry: self.telemetry.clone(),
        }
    }
}

/// The service every request enters by; see the module.
#[derive(Clone)]
pub struct Edge<S> {
    inner: S,
    telemetry: Arc<Telemetry>,
}

impl<S> tower::Service<Request> for Edge<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let started = Instant::now();
        let mut inner = take_ready(&mut self.inner);
        let telemetry = self.telemetry.clone();
        let in_flight = logging::InFlight::new(telemetry.clone());
        let request_id = match request.headers().get(REQUEST_ID_HEADER) {
            Some(id) => id.clone(),
            None => {
                let id = HeaderValue::try_from(format!("req_{}", ids::random(20)))
                    .expect("a request id is ASCII");
                request
                    .headers_mut()
                    .insert(HeaderName::from_static(REQUEST_ID_HEADER), id.clone());
                id
            }
        };
        let method = request.method().clone();
        let log = RequestLog::default();
        request.extensions_mut().insert(log.clone());
        let span = tracing::info_span!("request", id = request_id.to_str().unwrap_or(""));
        Box::pin(async move {
            let Ok(mut response) = inner.call(request).instrument(span).await;
            drop(in_flight);
            rate_limit_headers(log.rate_limit_decision(), &mut response);
            response
                .headers_mut()
                .entry(HeaderName::from_static(REQUEST_ID_HEADER))
                .or_insert_with(|| request_id.clone());
            logging::request_line(
                &telemetry,
                &method,
                response.status(),
                started.elapsed(),
                request_id.to_str().unwrap_or(""),
                &log,
            );
            Ok(response)
        })
    }
}

/// Adds `RateLimit-*` (and `Retry-After` on a refusal) to a response a limit applied to, and
/// `Retry-After` to every `503`: the database is unreachable, and a second is a fair first
/// wait.
fn rate_limit_headers(decision: Option<Decision>, response: &mut Response) {
    if let Some(d) = decision {
        let seconds = |ms: u64| ms.div_ceil(1000);
        let headers = response.headers_mut();
        let mut set = |name: &'static str, value: u64| {
            headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
        };
        set("ratelimit-limit", d.limit);
        set("ratelimit-remaining", d.remaining);
        set("ratelimit-reset", seconds(d.reset_ms));
        if !d.allowed {
            set("retry-after", seconds(d.retry_after_ms).max(1));
        }
    }
    if response.status() == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .entry(http::header::RETRY_AFTER)
            .or_insert(HeaderValue::from_static("1"));
    }
}

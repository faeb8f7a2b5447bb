//! What every request passes through before routing, as one service: the request id (the
//! client's, or a new `req_…`) set on the request and echoed on the response, the request's
//! log line and metrics, and the `RateLimit-*` and `Retry-After` headers; and CORS
//! ([`Cors`]).
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
use crate::http::auth::PUBLISHABLE_KEY_HEADER;
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
                let mut id = String::with_capacity(24);
                id.push_str("req_");
                ids::push_random(&mut id, 20);
                let id = HeaderValue::try_from(id).expect("a request id is ASCII");
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

/// The request headers a response varies by, for CORS, as the `Vary` value the CORS layer
/// writes (the layer's rules are built from it).
const VARY: &str = "origin, access-control-request-method, access-control-request-headers";
/// The response headers a page's script may read, as the CORS layer writes them (its rules
/// are built from this).
const EXPOSED: &str =
    "x-request-id,ratelimit-limit,ratelimit-remaining,ratelimit-reset,retry-after";

/// The CORS rules. Browsers call with publishable keys from any origin; which origins may act
/// for a user is decided per project by the JWT's `azp`, not here.
fn cors_rules() -> tower_http::cors::CorsLayer {
    use http::{Method, header};
    tower_http::cors::CorsLayer::new()
        // The dashboard is same-origin only: its pages never answer a cross-origin request.
        .allow_origin(tower_http::cors::AllowOrigin::predicate(
            |_, parts: &http::request::Parts| !parts.uri.path().starts_with("/dashboard"),
        ))
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static(PUBLISHABLE_KEY_HEADER),
            HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers(
            EXPOSED
                .split(',')
                .map(HeaderName::from_static)
                .collect::<Vec<_>>(),
        )
        .vary(
            VARY.split(", ")
                .map(HeaderName::from_static)
                .collect::<Vec<_>>(),
        )
        .max_age(std::time::Duration::from_secs(600))
}

/// [`Cors`] around a service.
#[derive(Clone)]
pub struct CorsLayer {
    rules: Arc<tower_http::cors::CorsLayer>,
}

impl CorsLayer {
    pub fn new() -> CorsLayer {
        CorsLayer {
            rules: Arc::new(cors_rules()),
        }
    }
}

impl Default for CorsLayer {
    fn default() -> Self {
        CorsLayer::new()
    }
}

impl<S> tower::Layer<S> for CorsLayer {
    type Service = Cors<S>;

    fn layer(&self, inner: S) -> Cors<S> {
        Cors {
            inner,
            rules: self.rules.clone(),
        }
    }
}

/// CORS: tower-http's layer answers the requests it is about, preflights and calls that carry
/// an `Origin`. Every other request (servers, SDKs, curl: most of the traffic) gets the two
/// headers that layer would give it, `Vary` and `Access-Control-Expose-Headers`, as
/// constants: the layer itself builds a header map and copies its rules on every request.
#[derive(Clone)]
pub struct Cors<S> {
    inner: S,
    rules: Arc<tower_http::cors::CorsLayer>,
}

/// What the CORS layer adds to the response to a request without an `Origin`.
type PlainCors = fn(Result<Response, Infallible>) -> Result<Response, Infallible>;

fn plain_cors(response: Result<Response, Infallible>) -> Result<Response, Infallible> {
    let Ok(mut response) = response;
    let headers = response.headers_mut();
    headers.append(http::header::VARY, HeaderValue::from_static(VARY));
    headers.insert(
        http::header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSED),
    );
    Ok(response)
}

impl<S> tower::Service<Request> for Cors<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future =
        futures::future::Either<futures::future::Map<S::Future, PlainCors>, ResponseFuture>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        use futures::FutureExt;
        let mut inner = take_ready(&mut self.inner);
        if request.method() == http::Method::OPTIONS
            || request.headers().contains_key(http::header::ORIGIN)
        {
            let cors = tower::Layer::layer(&*self.rules, inner);
            return futures::future::Either::Right(Box::pin(tower::ServiceExt::oneshot(
                cors, request,
            )));
        }
        futures::future::Either::Left(inner.call(request).map(plain_cors as PlainCors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    /// The headers each way of doing CORS gives `request`'s response.
    async fn both(request: impl Fn() -> Request) -> (http::HeaderMap, http::HeaderMap) {
        let inner = tower::service_fn(|_: Request| async {
            let mut response = Response::new(axum::body::Body::empty());
            response
                .headers_mut()
                .insert(http::header::VARY, HeaderValue::from_static("accept"));
            Ok::<_, Infallible>(response)
        });
        let ours = tower::Layer::layer(&CorsLayer::new(), inner)
            .oneshot(request())
            .await;
        let theirs = tower::Layer::layer(&cors_rules(), inner)
            .oneshot(request())
            .await;
        let (Ok(ours), Ok(theirs)) = (ours, theirs);
        (ours.headers().clone(), theirs.headers().clone())
    }

    fn get(origin: Option<&str>, path: &str) -> Request {
        let mut builder = http::Request::get(path);
        if let Some(origin) = origin {
            builder = builder.header(http::header::ORIGIN, origin);
        }
        builder.body(axum::body::Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn a_request_without_origin_gets_what_the_cors_layer_would_give_it() {
        let (ours, theirs) = both(|| get(None, "/v1/me")).await;
        assert_eq!(ours, theirs);
        let vary: Vec<_> = ours.get_all(http::header::VARY).iter().collect();
        assert_eq!(vary, ["accept", VARY]);
        assert_eq!(ours[http::header::ACCESS_CONTROL_EXPOSE_HEADERS], EXPOSED);
        assert!(!ours.contains_key(http::header::ACCESS_CONTROL_ALLOW_ORIGIN));
    }

    #[tokio::test]
    async fn browsers_calls_and_preflights_go_through_the_cors_layer() {
        let (ours, theirs) = both(|| get(Some("https://app.example"), "/v1/me")).await;
        assert_eq!(ours, theirs);
        assert_eq!(
            ours[http::header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://app.example"
        );
        let (ours, _) = both(|| get(Some("https://app.example"), "/dashboard")).await;
        assert!(!ours.contains_key(http::header::ACCESS_CONTROL_ALLOW_ORIGIN));
        let preflight = || {
            http::Request::options("/v1/me")
                .header(http::header::ORIGIN, "https://app.example")
                .header(http::header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
                .body(axum::body::Body::empty())
                .unwrap()
        };
        let (ours, theirs) = both(preflight).await;
        assert_eq!(ours, theirs);
        assert_eq!(ours[http::header::ACCESS_CONTROL_MAX_AGE], "600");
    }
}

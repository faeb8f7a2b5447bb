//! The running server: the generated router on the [`Server`], wrapped in request ids,
//! tracing, CORS, JSON fallbacks, and graceful shutdown.

use std::sync::Arc;

use http::Method;

use crate::app::{App, AppError};
use crate::generated;
use crate::http::Server;
use crate::http::errors::{self, REQUEST_ID_HEADER};

/// The spec the server implements, served at `/openapi.json`.
pub const SPEC_YAML: &str = include_str!("../../openapi/dream-api.yaml");

/// The API reference generated from the spec (`dreamgen docs`), served at `/docs`.
pub const DOCS_HTML: &str = include_str!("../../docs/generated/index.html");

/// The full application router, with dashboard sessions of 12 hours.
pub fn router(app: Arc<App>) -> anyhow::Result<axum::Router> {
    router_with(app, 12 * 3600)
}

/// The full application router: the API, the dashboard (sessions of `session_seconds`) and
/// the docs. Starts nothing: the app's tasks were started when it was built.
pub fn router_with(app: Arc<App>, session_seconds: i64) -> anyhow::Result<axum::Router> {
    let spec: serde_json::Value = serde_yaml_ng_free(SPEC_YAML)?;
    let statuses = Arc::new(documented_statuses(&spec));
    let server = Server::new(app.clone(), Arc::new(spec));
    let api = generated::router(Arc::new(server))
        .route_layer(axum::middleware::from_fn_with_state(statuses, refuse_nul));
    let scrape = {
        let app = app.clone();
        move |headers: http::HeaderMap| {
            let app = app.clone();
            async move { metrics(&app, &headers).await }
        }
    };
    // The dashboard calls the API's router in process.
    let dashboard = crate::dashboard::router(app.clone(), api.clone(), session_seconds);
    let telemetry = app.telemetry().clone();
    let deliver =
        move |method: Method,
              axum::extract::Path((id, filename)): axum::extract::Path<(String, String)>,
              headers: http::HeaderMap| {
            let app = app.clone();
            async move {
                let request_id = headers
                    .get(REQUEST_ID_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("req_unknown")
                    .to_string();
                crate::http::assets::deliver(&app, &method, &headers, &id, &filename, &request_id)
                    .await
            }
        };
    let others = axum::Router::new()
        .route("/", axum::routing::get(index))
        .route("/metrics", axum::routing::get(scrape))
        .route(
            "/docs",
            axum::routing::get(|| async { axum::response::Html(DOCS_HTML) }),
        )
        // Assets' public URLs: no credential, the id is the capability.
        .route("/assets/{asset_id}/{filename}", axum::routing::get(deliver))
        .merge(dashboard)
        // The API's routes record theirs in `refuse_nul`, their one per-route layer.
        .route_layer(axum::middleware::from_fn(record_route));
    let routes = api
        .merge(others)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    // The layers every request passes wrap the router once (see `edge`).
    let service = tower::ServiceBuilder::new()
        .layer(crate::edge::EdgeLayer::new(telemetry))
        .layer(crate::edge::CorsLayer::new())
        .service(routes);
    Ok(axum::Router::new().fallback_service(service))
}

/// Records the matched route for the request's log line.
async fn record_route(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    crate::logging::RequestLog::route_of(&request);
    next.run(request).await
}

/// Postgres `text` cannot hold NUL (U+0000) and SQLite can: so that both stores behave alike,
/// no string the API reads may contain one. A path parameter, query parameter or JSON string
/// (or key) with NUL is refused with `validation_failed` naming it, before any handler runs.
async fn refuse_nul(
    axum::extract::State(statuses): axum::extract::State<Arc<Statuses>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::extract::FromRequestParts;
    crate::logging::RequestLog::route_of(&request);
    let (mut parts, body) = request.into_parts();
    let refuse = |parts: &http::request::Parts, param: String| {
        let message =
            format!("`{param}` contains a NUL character (U+0000), which cannot be stored.");
        // Fitted to the operation's statuses the way the generated router fits its own
        // rejections: one that documents 400 but not 422 refuses invalid input as malformed.
        let route = parts
            .extensions
            .get::<axum::extract::MatchedPath>()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default();
        let documented = statuses
            .get(&(parts.method.to_string(), route))
            .and_then(|codes| codes.as_deref());
        let error =
            AppError::from(generated::Rejection::invalid(&param, message).fitted(documented));
        errors::response(&error, &errors::request_id(parts))
    };
    if parts.uri.path().contains("%00")
        && let Ok(params) = axum::extract::RawPathParams::from_request_parts(&mut parts, &()).await
        && let Some((name, _)) = params.iter().find(|(_, value)| value.contains('\0'))
    {
        let name = name.to_owned();
        return refuse(&parts, name);
    }
    if let Some(query) = parts.uri.query().filter(|q| q.contains("%00"))
        && let Ok(pairs) = serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        && let Some((name, _)) = pairs
            .into_iter()
            .find(|(k, v)| k.contains('\0') || v.contains('\0'))
    {
        return refuse(&parts, name);
    }
    // Only JSON is read here (a body without a type is parsed as JSON): other bodies, such
    // as an upload streamed to storage, go on unread.
    let json = !http_body::Body::is_end_stream(&body)
        && parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|v| {
                let media = v.split(';').next().unwrap_or("").trim();
                media.eq_ignore_ascii_case("application/json") || media.ends_with("+json")
            });
    if !json {
        return next.run(http::Request::from_parts(parts, body)).await;
    }
    let bytes = match axum::body::to_bytes(body, generated::MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(e) => {
            if let Some(timed_out) = crate::connections::timed_out(&e) {
                return errors::response(
                    &AppError::RequestTimeout(timed_out.0.as_secs()),
                    &errors::request_id(&parts),
                );
            }
            return errors::response(
                &AppError::Malformed {
                    message: format!(
                        "The request body is larger than {} bytes.",
                        generated::MAX_BODY_BYTES
                    ),
                    param: None,
                },
                &errors::request_id(&parts),
            );
        }
    };
    // Only a body holding the escape is parsed here; the router parses every body anyway.
    if bytes.windows(6).any(|w| w == b"\\u0000")
        && let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes)
        && let Some(path) = nul_in(&value, String::new())
    {
        return refuse(&parts, path);
    }
    next.run(http::Request::from_parts(
        parts,
        axum::body::Body::from(bytes),
    ))
    .await
}

/// Each operation's documented statuses, by (method, route) in upper case and the router's
/// path syntax; `None` where a range or `default` leaves any status open.
type Statuses = std::collections::HashMap<(String, String), Option<Vec<u16>>>;

fn documented_statuses(spec: &serde_json::Value) -> Statuses {
    let mut out = Statuses::new();
    for (path, item) in spec["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            let Some(responses) = op["responses"].as_object() else {
                continue;
            };
            let codes: Option<Vec<u16>> = responses.keys().map(|k| k.parse().ok()).collect();
            out.insert((method.to_uppercase(), path.clone()), codes);
        }
    }
    out
}

/// Where in a JSON value a string or key holds NUL: `items[0].price`, or `""` for the root.
fn nul_in(value: &serde_json::Value, at: String) -> Option<String> {
    match value {
        serde_json::Value::String(s) => s.contains('\0').then_some(at),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_in(item, format!("{at}[{i}]"))),
        serde_json::Value::Object(map) => map.iter().find_map(|(key, item)| {
            let path = if at.is_empty() {
                key.clone()
            } else {
                format!("{at}.{key}")
            };
            if key.contains('\0') {
                return Some(path);
            }
            nul_in(item, path)
        }),
        _ => None,
    }
}

/// The spec as JSON. YAML is a superset of JSON; the spec uses only the JSON-compatible part.
fn serde_yaml_ng_free(yaml: &str) -> anyhow::Result<serde_json::Value> {
    Ok(serde_yaml::from_str(yaml)?)
}

/// `GET /`: where things are — a small page for a browser, JSON for anything else.
/// `/metrics`: Prometheus's text format. Not part of the API (no key, no rate limit); with
/// `DREAM_METRICS_TOKEN` set it asks for that token.
async fn metrics(app: &App, headers: &http::HeaderMap) -> axum::response::Response {
    use axum::response::IntoResponse;
    let presented = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !app.metrics_allowed(presented) {
        let error = AppError::MissingCredentials(
            "/metrics needs the metrics token (DREAM_METRICS_TOKEN) as `Authorization: Bearer …`."
                .into(),
        );
        return errors::response(&error, "req_metrics");
    }
    (
        [(
            http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics_text().await,
    )
        .into_response()
}

async fn index(headers: http::HeaderMap) -> axum::response::Response {
    use axum::response::IntoResponse;
    let html = headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if html {
        return axum::response::Html(
            "<!doctype html><html lang=en><meta charset=utf-8><title>Dream API</title>\
             <h1>Dream API</h1><ul><li><a href=\"/dashboard\">Dashboard</a></li>\
             <li><a href=\"/docs\">API reference</a></li>\
             <li><a href=\"/openapi.json\">OpenAPI document</a></li>\
             <li><a href=\"/healthz\">Health</a></li></ul>",
        )
        .into_response();
    }
    axum::Json(serde_json::json!({
        "name": "Dream API",
        "version": env!("CARGO_PKG_VERSION"),
        "dashboard": "/dashboard",
        "docs": "/docs",
        "openapi": "/openapi.json",
        "health": "/healthz",
    }))
    .into_response()
}

async fn not_found(request: axum::extract::Request) -> axum::response::Response {
    let (parts, _) = request.into_parts();
    errors::response(
        &AppError::NoRoute(format!(
            "No route for {} {}.",
            parts.method,
            parts.uri.path()
        )),
        &errors::request_id(&parts),
    )
}

async fn method_not_allowed(request: axum::extract::Request) -> axum::response::Response {
    let (parts, _) = request.into_parts();
    errors::response(
        &AppError::MethodNotAllowed(format!(
            "{} is not allowed on {}.",
            parts.method,
            parts.uri.path()
        )),
        &errors::request_id(&parts),
    )
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

//! The recording proxy. Every request a case makes, through the generated client or raw,
//! goes to `http://127.0.0.1:PORT/c/{case}/…`; the proxy forwards it to the backend, checks the
//! response against the spec, and files the exchange under the case. The same listener serves
//! the suite's JWKS, so a backend can verify the tokens the suite signs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::spec::Spec;

/// One request and its response, as the backend saw and sent them.
#[derive(Debug, Clone, Serialize)]
pub struct Exchange {
    pub method: String,
    /// The backend URL the request went to.
    pub url: String,
    pub request_headers: Vec<(String, String)>,
    pub request_body: String,
    /// 0 when the backend could not be reached.
    pub status: u16,
    pub response_headers: Vec<(String, String)>,
    pub response_body: String,
    /// The spec operation the request reached, if any.
    pub operation: Option<String>,
    /// How the response departs from the spec.
    pub violations: Vec<String>,
    /// Set when the backend could not be reached or the response could not be read.
    pub transport_error: Option<String>,
    pub elapsed_ms: u64,
}

/// Exchanges filed by case index.
#[derive(Default)]
pub struct Recorder {
    cases: Mutex<HashMap<usize, Vec<Exchange>>>,
}

impl Recorder {
    /// Takes the exchanges recorded for a case.
    pub fn take(&self, case: usize) -> Vec<Exchange> {
        self.cases
            .lock()
            .expect("recorder lock")
            .remove(&case)
            .unwrap_or_default()
    }

    fn push(&self, case: usize, exchange: Exchange) {
        self.cases
            .lock()
            .expect("recorder lock")
            .entry(case)
            .or_default()
            .push(exchange);
    }
}

struct ProxyState {
    backend: String,
    http: reqwest::Client,
    spec: Arc<Spec>,
    recorder: Arc<Recorder>,
    jwks: HashMap<String, serde_json::Value>,
}

/// A running proxy.
pub struct Proxy {
    /// `http://127.0.0.1:PORT`, where cases send their requests.
    pub base: String,
    pub port: u16,
    pub recorder: Arc<Recorder>,
}

/// Starts the proxy in front of `backend`, also serving each named key set at
/// `/jwks/{name}.json`.
pub async fn start(
    backend: &str,
    spec: Arc<Spec>,
    jwks: HashMap<String, serde_json::Value>,
) -> anyhow::Result<Proxy> {
    let recorder = Arc::new(Recorder::default());
    let state = Arc::new(ProxyState {
        backend: backend.trim_end_matches('/').to_owned(),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(64)
            .build()?,
        spec,
        recorder: recorder.clone(),
        jwks,
    });
    let router = axum::Router::new()
        .route("/c/{case}/{*rest}", axum::routing::any(forward))
        .route("/jwks/{file}", axum::routing::get(serve_jwks))
        // Uploads past the backend's own limits (the assets profile sends 10 MiB + 1) pass
        // through; the backend is what refuses them.
        .layer(axum::extract::DefaultBodyLimit::max(64 << 20))
        .with_state(state);
    // Listen on every interface so a backend in a container or on another host can reach the
    // JWKS through the configured callback host; cases themselves use the loopback address.
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(Proxy {
        base: format!("http://127.0.0.1:{port}"),
        port,
        recorder,
    })
}

async fn serve_jwks(State(state): State<Arc<ProxyState>>, Path(file): Path<String>) -> Response {
    let name = file.trim_end_matches(".json");
    match state.jwks.get(name) {
        Some(set) => axum::Json(set.clone()).into_response(),
        None => http::StatusCode::NOT_FOUND.into_response(),
    }
}

const HOP_BY_HOP: [&str; 5] = [
    "host",
    "connection",
    "content-length",
    "transfer-encoding",
    "keep-alive",
];

async fn forward(
    State(state): State<Arc<ProxyState>>,
    method: http::Method,
    uri: http::Uri,
    headers: http::HeaderMap,
    body: Bytes,
) -> Response {
    // `/c/{case}/{rest}`, read from the path as the client encoded it: `%2F` in an id stays
    // `%2F`, never a new segment, and nothing is decoded before the backend sees it.
    let Some((case, path)) = uri
        .path()
        .strip_prefix("/c/")
        .and_then(|rest| rest.split_once('/'))
        .and_then(|(case, rest)| Some((case.parse::<usize>().ok()?, format!("/{rest}"))))
    else {
        return (
            http::StatusCode::NOT_FOUND,
            "conformance proxy: no case in the path",
        )
            .into_response();
    };
    let url = match uri.query() {
        Some(query) => format!("{}{path}?{query}", state.backend),
        None => format!("{}{path}", state.backend),
    };
    let mut request = state.http.request(method.clone(), &url).body(body.clone());
    for (name, value) in &headers {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            request = request.header(name, value);
        }
    }
    let started = Instant::now();
    let mut exchange = Exchange {
        method: method.to_string(),
        url,
        request_headers: pairs(&headers),
        request_body: recorded(&body),
        status: 0,
        response_headers: Vec::new(),
        response_body: String::new(),
        operation: state
            .spec
            .find(method.as_str(), &path)
            .map(|op| op.id.clone()),
        violations: Vec::new(),
        transport_error: None,
        elapsed_ms: 0,
    };
    let outcome = async {
        let response = request.send().await?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await?;
        Ok::<_, reqwest::Error>((status, headers, bytes))
    }
    .await;
    exchange.elapsed_ms = started.elapsed().as_millis() as u64;
    let response = match outcome {
        Ok((status, headers, bytes)) => {
            let (_, violations) = state.spec.check_response(
                method.as_str(),
                &path,
                status.as_u16(),
                &headers,
                &bytes,
            );
            exchange.status = status.as_u16();
            exchange.response_headers = pairs(&headers);
            exchange.response_body = String::from_utf8_lossy(&bytes).into_owned();
            exchange.violations = violations;
            let mut response = Response::new(axum::body::Body::from(bytes));
            *response.status_mut() = status;
            for (name, value) in &headers {
                if !HOP_BY_HOP.contains(&name.as_str()) {
                    response.headers_mut().append(name, value.clone());
                }
            }
            response
        }
        Err(e) => {
            exchange.transport_error = Some(format!("the backend could not be reached: {e}"));
            (
                http::StatusCode::BAD_GATEWAY,
                format!("conformance proxy: {e}"),
            )
                .into_response()
        }
    };
    state.recorder.push(case, exchange);
    response
}

fn pairs(headers: &http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            (
                name.to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// A request body as the report shows it: as text, cut after 64 KiB (an upload's bytes say
/// nothing a reader needs past that).
fn recorded(bytes: &[u8]) -> String {
    const SHOWN: usize = 64 << 10;
    let mut text = String::from_utf8_lossy(&bytes[..bytes.len().min(SHOWN)]).into_owned();
    if bytes.len() > SHOWN {
        text.push_str(&format!("… ({} bytes in all)", bytes.len()));
    }
    text
}

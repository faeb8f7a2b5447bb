//! A stateful local emulator of the Stripe API, for Dream API's tests and for `dream serve`
//! without a Stripe key. It speaks Stripe's wire format — form-encoded requests, Stripe's JSON
//! objects and error objects, `Stripe-Account`, `Idempotency-Key` — and delivers events signed
//! exactly as Stripe signs them. It is test mode only: live keys are refused.
//!
//! - `api`: the `/v1/…` endpoints. `form`: Stripe's bracketed form encoding.
//! - `lifecycle`: the hosted checkout and portal pages, and test controls that renew, fail or
//!   cancel a subscription (`POST /_emulator/subscriptions/{id}/{renew|fail_payment|cancel}`).
//! - `webhooks`: events, signatures and delivery with retries.
//! - `store`: the state, in memory.

pub mod api;
pub mod form;
pub mod lifecycle;
pub mod store;
pub mod webhooks;

use std::sync::{Arc, Mutex, OnceLock};

use axum::extract::State;
use axum::response::IntoResponse;
use serde::Deserialize;

/// The API version the emulated objects follow.
pub const API_VERSION: &str = "2026-06-24.dahlia";

/// The emulator: its state and how it reaches webhook endpoints.
pub struct Emulator {
    pub store: Mutex<store::Store>,
    http: reqwest::Client,
    base_url: OnceLock<String>,
    /// One delivery queue per endpoint: events reach an endpoint in the order they happened.
    queues: Mutex<Vec<tokio::sync::mpsc::UnboundedSender<serde_json::Value>>>,
}

impl Emulator {
    pub fn new() -> Arc<Emulator> {
        // When the workspace builds reqwest with rustls and no default provider, every client
        // needs one installed; installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Arc::new(Emulator {
            store: Mutex::new(store::Store::default()),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .expect("HTTP client"),
            base_url: OnceLock::new(),
            queues: Mutex::new(Vec::new()),
        })
    }

    /// Where the emulator is reachable, for the URLs it hands out.
    pub fn base_url(&self) -> String {
        self.base_url
            .get()
            .cloned()
            .unwrap_or_else(|| "http://127.0.0.1".into())
    }

    /// Sends every event from now on to `url`, signed with `secret`, one at a time and in
    /// order. Call within a Tokio runtime.
    pub fn add_endpoint(self: &Arc<Self>, url: &str, secret: &str) {
        let endpoint = store::Endpoint {
            url: url.to_owned(),
            secret: secret.to_owned(),
        };
        self.store
            .lock()
            .expect("store lock")
            .endpoints
            .push(endpoint.clone());
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<serde_json::Value>();
        self.queues.lock().expect("queue lock").push(sender);
        let emulator = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some(event) = receiver.recv().await {
                let Some(emulator) = emulator.upgrade() else {
                    return;
                };
                webhooks::deliver(&emulator, &endpoint.url, &endpoint.secret, &event).await;
            }
        });
    }

    /// Queues an event for every endpoint.
    pub(crate) fn enqueue(&self, event: &serde_json::Value) {
        for queue in self.queues.lock().expect("queue lock").iter() {
            let _ = queue.send(event.clone());
        }
    }
}

#[derive(Deserialize)]
struct NewEndpoint {
    url: String,
    secret: Option<String>,
}

/// `POST /_emulator/webhook_endpoints` `{url, secret?}`: registers an endpoint; returns its secret.
async fn add_endpoint(
    State(emulator): State<Arc<Emulator>>,
    axum::Json(endpoint): axum::Json<NewEndpoint>,
) -> impl IntoResponse {
    let secret = endpoint.secret.unwrap_or_else(|| store::new_id("whsec"));
    emulator.add_endpoint(&endpoint.url, &secret);
    axum::Json(serde_json::json!({ "url": endpoint.url, "secret": secret }))
}

/// `GET /_emulator/events`: every event, oldest first, with how its delivery went.
async fn events(State(emulator): State<Arc<Emulator>>) -> impl IntoResponse {
    let store = emulator.store.lock().expect("store lock");
    let events: Vec<serde_json::Value> = store
        .events
        .iter()
        .map(|event| {
            let delivery = store
                .deliveries
                .get(event["id"].as_str().unwrap_or_default())
                .cloned()
                .unwrap_or_default();
            serde_json::json!({ "event": event, "delivery": delivery })
        })
        .collect();
    axum::Json(events)
}

/// `GET /_emulator/requests`: every API request received, with its `Stripe-Account`.
async fn requests(State(emulator): State<Arc<Emulator>>) -> impl IntoResponse {
    axum::Json(emulator.store.lock().expect("store lock").requests.clone())
}

/// The emulator's routes.
pub fn router(emulator: Arc<Emulator>) -> axum::Router {
    use axum::routing::{any, get, post};
    axum::Router::new()
        .route("/v1/{*path}", any(api::handle))
        .route("/checkout/{id}", get(lifecycle::checkout_page))
        .route("/checkout/{id}/complete", post(lifecycle::complete))
        .route("/checkout/{id}/cancel", post(lifecycle::cancel_checkout))
        .route("/portal/{id}", get(lifecycle::portal_page))
        .route(
            "/_emulator/subscriptions/{id}/{action}",
            post(lifecycle::advance),
        )
        .route("/_emulator/webhook_endpoints", post(add_endpoint))
        .route("/_emulator/events", get(events))
        .route("/_emulator/requests", get(requests))
        .with_state(emulator)
}

/// A running emulator.
pub struct Running {
    pub emulator: Arc<Emulator>,
    pub base_url: String,
}

/// Starts the emulator on `listener`.
pub async fn start(listener: tokio::net::TcpListener) -> anyhow::Result<Running> {
    let base_url = format!("http://{}", listener.local_addr()?);
    let emulator = Emulator::new();
    let _ = emulator.base_url.set(base_url.clone());
    let app = router(emulator.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(Running { emulator, base_url })
}

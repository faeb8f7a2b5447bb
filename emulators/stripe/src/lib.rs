//! A stateful local emulator of the Stripe API, for Dream API's tests and for `dream serve`
//! without a Stripe key. It speaks Stripe's wire format — form-encoded requests, Stripe's JSON
//! objects and error objects, `Stripe-Account`, `Idempotency-Key` — and delivers events signed
//! exactly as Stripe signs them. It is test mode only: live keys are refused.
//!
//! - `api`: the `/v1/…` endpoints. `form`: Stripe's bracketed form encoding.
//! - `lifecycle`: the hosted checkout page's outcome, and test controls that renew, fail,
//!   end the trial of or cancel a subscription
//!   (`POST /_emulator/subscriptions/{id}/{renew|fail_payment|end_trial|cancel}`).
//! - `invoices`: invoices (a renewal's is a draft until its `invoice.created` is answered) and
//!   invoice items (`/v1/invoiceitems`).
//! - `portal`: the customer portal: switch a subscription to another recurring price, cancel it
//!   at period end or take that back, each with `customer.subscription.updated`.
//! - `pages`: the checkout page's HTML, money and date formatting, Stripe's test cards.
//! - `webhooks`: events, signatures and delivery with retries on Stripe's schedule (about three
//!   days, compressible with [`Options::retry_scale`]).
//! - `store`: the state, in memory, and written to [`Options::state_file`] after every change
//!   when one is given, so that a restart keeps objects, events, pending retries and the port.

pub mod api;
pub mod form;
pub mod invoices;
pub mod lifecycle;
pub mod pages;
pub mod portal;
pub mod store;
pub mod webhooks;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use axum::extract::State;
use axum::response::IntoResponse;
use serde::Deserialize;

/// The API version the emulated objects follow, and that its events carry: the version the
/// server's Stripe client (async-stripe) is built for, which its tests deserialize them into
/// (a test fails when the two part).
pub const API_VERSION: &str = "2026-09-30.endive";

/// How an emulator keeps its state and times its retries.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where the state is written after every change and read at start; `None` keeps it in
    /// memory only.
    pub state_file: Option<PathBuf>,
    /// Multiplies the waits between delivery attempts: 1 is Stripe's schedule (a minute, then
    /// longer and longer, about three days in all); tests compress it.
    pub retry_scale: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            state_file: None,
            retry_scale: 1.0,
        }
    }
}

/// The emulator: its state and how it reaches webhook endpoints.
pub struct Emulator {
    pub store: Mutex<store::Store>,
    http: reqwest::Client,
    base_url: OnceLock<String>,
    port: OnceLock<u16>,
    options: Options,
    /// Held while the state is written, so that writes do not interleave.
    saving: Mutex<()>,
    /// One delivery queue per endpoint: first attempts reach an endpoint in the order the
    /// events happened; retries run on their own, as Stripe's do.
    queues: Mutex<Vec<tokio::sync::mpsc::UnboundedSender<serde_json::Value>>>,
}

impl Emulator {
    /// An emulator in memory, on Stripe's retry schedule.
    pub fn new() -> Arc<Emulator> {
        Emulator::with_state(Options::default(), store::Store::default())
    }

    fn with_state(options: Options, state: store::Store) -> Arc<Emulator> {
        // When the workspace builds reqwest with rustls and no default provider, every client
        // needs one installed; installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Arc::new(Emulator {
            store: Mutex::new(state),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .expect("HTTP client"),
            base_url: OnceLock::new(),
            port: OnceLock::new(),
            options,
            saving: Mutex::new(()),
            queues: Mutex::new(Vec::new()),
        })
    }

    /// How long a renewal's draft invoice waits for its `invoice.created` to be acknowledged
    /// before it is finalized anyway: Stripe's 72 hours, scaled like the retries.
    pub(crate) fn finalize_after(&self) -> std::time::Duration {
        // At least a second, so that a server answering at once is heard even at scale 0.
        std::time::Duration::from_secs_f64((72.0 * 3600.0 * self.options.retry_scale).max(1.0))
    }

    /// How long to wait before delivery attempt `attempt` (1 is the first retry).
    pub(crate) fn retry_wait(&self, attempt: u32) -> std::time::Duration {
        let seconds = webhooks::RETRY_AFTER
            .get(attempt.saturating_sub(1) as usize)
            .copied()
            .unwrap_or_default();
        std::time::Duration::from_secs_f64(seconds as f64 * self.options.retry_scale.max(0.0))
    }

    /// Writes the state to the state file, if there is one: to a temporary file first, then
    /// renamed over the old one, so a crash leaves one or the other whole.
    pub fn save(&self) {
        let Some(path) = &self.options.state_file else {
            return;
        };
        let _turn = self.saving.lock().expect("save lock");
        let saved = self
            .store
            .lock()
            .expect("store lock")
            .saved(self.port.get().copied());
        let written = serde_json::to_vec(&saved)
            .map_err(std::io::Error::other)
            .and_then(|bytes| {
                use std::io::Write as _;
                let temporary = path.with_extension("json.tmp");
                let mut file = std::fs::File::create(&temporary)?;
                file.write_all(&bytes)?;
                file.sync_all()?;
                std::fs::rename(&temporary, path)
            });
        if let Err(e) = written {
            tracing::warn!(path = %path.display(), error = %e, "could not save the Stripe emulator's state");
        }
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
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<serde_json::Value>();
        // Held until the queue is in place, so that an event emitted meanwhile reaches it.
        let mut queues = self.queues.lock().expect("queue lock");
        // The first endpoint after a restart takes what was left undelivered: events never
        // tried go first, in order; the retries of the others resume on the schedule.
        {
            let mut store = self.store.lock().expect("store lock");
            let first = store.endpoints.is_empty();
            store.endpoints.push(endpoint.clone());
            for event in store.events.iter().filter(|_| first) {
                let id = event["id"].as_str().unwrap_or_default();
                match store.deliveries.get(id) {
                    Some(d) if d.delivered || d.attempts >= webhooks::MAX_ATTEMPTS => {}
                    Some(d) if d.attempts > 0 => {
                        tokio::spawn(webhooks::retry(
                            Arc::downgrade(self),
                            endpoint.clone(),
                            event.clone(),
                            d.attempts,
                        ));
                    }
                    _ => {
                        let _ = sender.send(event.clone());
                    }
                }
            }
        }
        queues.push(sender);
        drop(queues);
        let emulator = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some(event) = receiver.recv().await {
                let Some(emulator) = emulator.upgrade() else {
                    return;
                };
                webhooks::deliver(&emulator, &endpoint, &event).await;
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

/// `POST /_emulator/events/{id}/resend`: delivers an event again to every endpoint, as
/// Stripe's dashboard and `stripe events resend` do (same id, same payload).
async fn resend(
    State(emulator): State<Arc<Emulator>>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> axum::response::Response {
    let event = emulator
        .store
        .lock()
        .expect("store lock")
        .events
        .iter()
        .find(|e| e["id"] == id.as_str())
        .cloned();
    match event {
        Some(event) => {
            emulator.enqueue(&event);
            axum::Json(event).into_response()
        }
        None => api::StripeError::no_such("event", &id, "id").into_response(),
    }
}

/// `GET /_emulator/requests`: every API request received, with its `Stripe-Account`.
async fn requests(State(emulator): State<Arc<Emulator>>) -> impl IntoResponse {
    axum::Json(emulator.store.lock().expect("store lock").requests.clone())
}

/// After every request that may change something, the state is saved.
async fn save_after(
    State(emulator): State<Arc<Emulator>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let changes = request.method() != http::Method::GET;
    let response = next.run(request).await;
    if changes {
        emulator.save();
    }
    response
}

/// The emulator's routes.
pub fn router(emulator: Arc<Emulator>) -> axum::Router {
    use axum::routing::{any, get, post};
    axum::Router::new()
        .route("/v1/{*path}", any(api::handle))
        .route("/checkout/{id}", get(lifecycle::checkout_page))
        .route("/checkout/{id}/complete", post(lifecycle::complete))
        .route("/checkout/{id}/cancel", post(lifecycle::cancel_checkout))
        .route("/portal/{id}", get(portal::page))
        .route("/portal/{id}/switch", post(portal::switch))
        .route("/portal/{id}/cancel", post(portal::cancel))
        .route("/portal/{id}/renew", post(portal::renew))
        .route(
            "/_emulator/subscriptions/{id}/{action}",
            post(lifecycle::advance),
        )
        .route("/_emulator/webhook_endpoints", post(add_endpoint))
        .route("/_emulator/events", get(events))
        .route("/_emulator/events/{id}/resend", post(resend))
        .route("/_emulator/requests", get(requests))
        .layer(axum::middleware::from_fn_with_state(
            emulator.clone(),
            save_after,
        ))
        .with_state(emulator)
}

/// A running emulator.
pub struct Running {
    pub emulator: Arc<Emulator>,
    pub base_url: String,
    server: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops serving and frees the port, as a stopped process would; the state file keeps
    /// what a restart needs.
    pub async fn stop(self) {
        self.server.abort();
        let _ = self.server.await;
    }
}

/// Starts an emulator in memory, on Stripe's retry schedule, on `listener`.
pub async fn start(listener: tokio::net::TcpListener) -> anyhow::Result<Running> {
    serve(listener, Emulator::new())
}

/// The state saved in `options`' state file, if it names one that exists. A file that cannot
/// be read as state is moved aside (`….unreadable`) and the emulator starts empty, saying so.
fn load(options: &Options) -> anyhow::Result<store::Saved> {
    match &options.state_file {
        Some(path) if path.exists() => {
            let text =
                std::fs::read(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            match serde_json::from_slice(&text) {
                Ok(saved) => Ok(saved),
                Err(e) => {
                    let aside = path.with_extension("json.unreadable");
                    std::fs::rename(path, &aside)?;
                    tracing::warn!(path = %path.display(), aside = %aside.display(), error = %e, "the Stripe emulator's state could not be read; starting empty");
                    Ok(store::Saved::default())
                }
            }
        }
        _ => Ok(store::Saved::default()),
    }
}

/// Starts an emulator with `options` on `listener`, from the state file if there is one.
pub fn start_on(listener: tokio::net::TcpListener, options: Options) -> anyhow::Result<Running> {
    let saved = load(&options)?;
    let running = serve(
        listener,
        Emulator::with_state(options, store::Store::from_saved(saved)),
    )?;
    running.emulator.save();
    Ok(running)
}

/// Starts an emulator from its state file (if `options` names one and it exists) on
/// 127.0.0.1, on the port it had before when that port is free, else on a new one.
pub async fn start_with(options: Options) -> anyhow::Result<Running> {
    let saved = load(&options)?;
    let listener = match saved.port {
        Some(port) => match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(port, error = %e, "the Stripe emulator's earlier port is taken; its earlier checkout links will not open");
                tokio::net::TcpListener::bind("127.0.0.1:0").await?
            }
        },
        None => tokio::net::TcpListener::bind("127.0.0.1:0").await?,
    };
    let emulator = Emulator::with_state(options, store::Store::from_saved(saved));
    let running = serve(listener, emulator)?;
    running.emulator.save();
    Ok(running)
}

fn serve(listener: tokio::net::TcpListener, emulator: Arc<Emulator>) -> anyhow::Result<Running> {
    let address = listener.local_addr()?;
    let base_url = format!("http://{address}");
    let _ = emulator.base_url.set(base_url.clone());
    let _ = emulator.port.set(address.port());
    let app = router(emulator.clone());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(Running {
        emulator,
        base_url,
        server,
    })
}

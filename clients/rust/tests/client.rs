//! The hand-written layer against a real `dream-server` over HTTP (in this process, on a fresh
//! SQLite file): credentials from the builder, a track retried through lost answers and
//! counted once, one refresh of an expired user token, errors in one type, and the README's
//! snippet (`examples/quickstart.rs`) run as it is written.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use dream_client::{ApiError, Client, Hooks, types};
use serde_json::{Value, json};

const OPERATOR_TOKEN: &str = "op_rust_client_tests";

struct Server {
    base: String,
    secret_key: String,
    publishable_key: String,
    _dir: tempfile::TempDir,
}

async fn server() -> Server {
    dream_server::install_crypto();
    let dir = tempfile::tempdir().expect("temp dir");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let config = dream_server::config::Config {
        database_url: format!("sqlite://{}", dir.path().join("dream.db").display()),
        operator_token: Some(dream_server::config::Secret::new(OPERATOR_TOKEN)),
        ..Default::default()
    };
    let serving = dream_server::app::App::build(&config, &base)
        .await
        .expect("the app starts");
    let router = dream_server::serve::router(serving.app).expect("router");
    tokio::spawn(dream_server::connections::serve(
        router,
        listener,
        std::future::pending(),
        dream_server::connections::Limits::default(),
    ));
    let http = reqwest::Client::new();
    let created: Value = http
        .post(format!("{base}/v1/projects"))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&json!({ "name": "Rust client" }))
        .send()
        .await
        .expect("createProject")
        .json()
        .await
        .expect("a project");
    let secret_key = created["keys"]["test"]["secretKey"]
        .as_str()
        .unwrap()
        .to_string();
    let settings = http
        .patch(format!("{base}/v1/settings"))
        .bearer_auth(&secret_key)
        .json(&json!({ "devIssuerEnabled": true, "jwt": { "leewaySeconds": 0 } }))
        .send()
        .await
        .expect("updateSettings");
    assert_eq!(settings.status(), 200);
    Server {
        base,
        publishable_key: created["keys"]["test"]["publishableKey"]
            .as_str()
            .unwrap()
            .to_string(),
        secret_key,
        _dir: dir,
    }
}

/// A development token for `user_id`, valid for `seconds`.
async fn dev_token(server: &Server, user_id: &str, seconds: u32) -> String {
    let body: Value = reqwest::Client::new()
        .post(format!("{}/v1/dev/tokens", server.base))
        .bearer_auth(&server.secret_key)
        .json(&json!({ "userId": user_id, "expiresInSeconds": seconds }))
        .send()
        .await
        .expect("createDevToken")
        .json()
        .await
        .expect("a token");
    body["token"].as_str().unwrap().to_string()
}

/// The usage `user_id` has of `metric`, asked with the secret key directly.
async fn usage_of(server: &Server, user_id: &str, metric: &str) -> i64 {
    let body: Value = reqwest::Client::new()
        .get(format!("{}/v1/customers/{user_id}", server.base))
        .bearer_auth(&server.secret_key)
        .send()
        .await
        .expect("getCustomer")
        .json()
        .await
        .expect("a customer");
    body["usage"]
        .as_array()
        .and_then(|all| all.iter().find(|u| u["metric"] == metric))
        .map_or(0, |u| u["usageCount"].as_i64().unwrap())
}

/// A real HTTP front for the server that forwards every request and, for the first `lose`
/// requests, answers 503 anyway: the work is done, the answer is lost. It records the
/// `Idempotency-Key` of each request.
struct Front {
    base: String,
    keys: Arc<Mutex<Vec<Option<String>>>>,
}

#[derive(Clone)]
struct Forward {
    to: String,
    lose: Arc<AtomicUsize>,
    keys: Arc<Mutex<Vec<Option<String>>>>,
}

async fn forward(State(front): State<Forward>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let key = parts
        .headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    front.keys.lock().unwrap().push(key);
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let uri = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut out = reqwest::Client::new().request(parts.method, format!("{}{uri}", front.to));
    for (name, value) in &parts.headers {
        if name != "host" {
            out = out.header(name, value);
        }
    }
    let answer = out.body(body).send().await.expect("the server answers");
    let lost = front
        .lose
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if lost {
        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "lost").into_response();
    }
    let status = answer.status();
    let headers = answer.headers().clone();
    let bytes = answer.bytes().await.unwrap();
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

async fn front(to: &str, lose: usize) -> Front {
    let keys = Arc::new(Mutex::new(Vec::new()));
    let state = Forward {
        to: to.to_string(),
        lose: Arc::new(AtomicUsize::new(lose)),
        keys: keys.clone(),
    };
    let app = axum::Router::new().fallback(forward).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Front { base, keys }
}

/// A client acting as a user: the project's publishable key and tokens from `source`.
fn user_client(server: &Server, source: impl dream_client::TokenSource) -> Client {
    Client::builder()
        .base_url(&server.base)
        .publishable_key(&server.publishable_key)
        .user_token(source)
        .build()
        .unwrap()
}

fn tokens(metric: &str, amount: u64) -> types::TrackUsage {
    types::TrackUsage {
        metric: Some(metric.parse().unwrap()),
        amount: amount.try_into().unwrap(),
    }
}

#[tokio::test]
async fn a_track_whose_answers_are_lost_is_retried_with_one_idempotency_key_and_counted_once() {
    let server = server().await;
    let front = front(&server.base, 2).await;
    let client = Client::builder()
        .base_url(&front.base)
        .secret_key(&server.secret_key)
        .retry_delay(Duration::from_millis(10))
        .build()
        .unwrap();
    let usage = client
        .track_customer_usage()
        .user_id("user_ada")
        .body(tokens("ai_tokens", 1200))
        .send()
        .await
        .expect("the third attempt's answer arrives")
        .into_inner();
    assert_eq!(usage.usage_count, 1200);
    assert_eq!(
        usage_of(&server, "user_ada", "ai_tokens").await,
        1200,
        "counted once"
    );
    let keys = front.keys.lock().unwrap().clone();
    assert_eq!(keys.len(), 3, "two lost answers, then the one that arrives");
    assert!(keys[0].is_some(), "the client added an idempotency key");
    assert!(
        keys.iter().all(|k| *k == keys[0]),
        "the same key each time: {keys:?}"
    );
}

#[tokio::test]
async fn without_retries_the_lost_answer_is_an_error_and_one_attempt_is_made() {
    let server = server().await;
    let front = front(&server.base, 1).await;
    let client = Client::builder()
        .base_url(&front.base)
        .secret_key(&server.secret_key)
        .max_retries(0)
        .build()
        .unwrap();
    let error = ApiError::from(
        client
            .track_customer_usage()
            .user_id("user_bob")
            .body(tokens("requests", 1))
            .send()
            .await
            .unwrap_err(),
    );
    // A 503 whose body is not the API's error (a proxy's page) cannot be read as one.
    assert_eq!(error.code, "invalid_response", "{error}");
    assert!(
        error.message.contains("not what the spec documents"),
        "{error}"
    );
    assert_eq!(front.keys.lock().unwrap().len(), 1);
    // The plain hooks add nothing: no key, so the API refuses the call, and says why.
    let plain = Client::new(&server.base, Hooks::plain());
    let error = ApiError::from(plain.list_tiers().send().await.unwrap_err());
    assert_eq!(
        (error.status, error.code.as_str()),
        (401, "missing_credentials")
    );
    assert!(error.request_id.is_some());
}

#[tokio::test]
async fn a_user_call_refreshes_an_expired_token_once_and_goes_on() {
    let server = server().await;
    let expired = dev_token(&server, "user_cy", 1).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let fresh = dev_token(&server, "user_cy", 3600).await;
    let asked = Arc::new(Mutex::new(Vec::new()));
    let source = {
        let asked = asked.clone();
        move |refresh: bool| {
            asked.lock().unwrap().push(refresh);
            let token = if refresh {
                fresh.clone()
            } else {
                expired.clone()
            };
            async move { Ok(token) }
        }
    };
    let client = user_client(&server, source);
    let usage = client
        .track_usage()
        .send()
        .await
        .expect("tracked")
        .into_inner();
    assert_eq!(usage.usage_count, 1);
    let again = client
        .track_usage()
        .send()
        .await
        .expect("tracked")
        .into_inner();
    assert_eq!(again.usage_count, 2);
    assert_eq!(
        *asked.lock().unwrap(),
        vec![false, true],
        "asked once, refreshed once, then kept"
    );
}

#[tokio::test]
async fn a_token_source_that_keeps_failing_is_an_error_not_a_loop() {
    let server = server().await;
    let expired = dev_token(&server, "user_dee", 1).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let source = {
        let calls = calls.clone();
        move |_refresh: bool| {
            calls.fetch_add(1, Ordering::SeqCst);
            let token = expired.clone();
            async move { Ok(token) }
        }
    };
    let client = user_client(&server, source);
    let error = ApiError::from(client.track_usage().send().await.unwrap_err());
    assert_eq!((error.status, error.code.as_str()), (401, "token_expired"));
    assert_eq!(calls.load(Ordering::SeqCst), 2, "one refresh, no more");
}

#[tokio::test]
async fn an_unreachable_api_is_a_network_error() {
    let client = Client::builder()
        .base_url("http://127.0.0.1:9")
        .secret_key("sk_test_unreachable")
        .retry_delay(Duration::from_millis(5))
        .build()
        .unwrap();
    let error = ApiError::from(client.list_tiers().send().await.unwrap_err());
    assert_eq!((error.status, error.code.as_str()), (0, "network_error"));
}

#[tokio::test]
async fn the_readme_snippet_is_the_example_and_runs() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/quickstart.rs"
    ))
    .expect("the example");
    let snippet: Vec<&str> = example
        .lines()
        .skip_while(|l| !l.contains("README begin"))
        .skip(1)
        .take_while(|l| !l.contains("README end"))
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect();
    assert!(snippet.len() > 5);
    let block = format!("```rust\n{}\n```", snippet.join("\n"));
    assert!(readme.contains(&block), "README.md shows exactly:\n{block}");

    let server = server().await;
    let binary = std::env::current_exe()
        .unwrap()
        .parent()
        .and_then(|deps| deps.parent())
        .map(|debug| debug.join("examples").join("quickstart"))
        .unwrap();
    let output = tokio::process::Command::new(&binary)
        .env("DREAM_API_URL", &server.base)
        .env("SK_TEST", &server.secret_key)
        .output()
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.starts_with("1200 of "), "{stdout}");
    assert_eq!(usage_of(&server, "user_123", "ai_tokens").await, 1200);
}

#[tokio::test]
async fn an_upload_is_sent_as_the_media_type_of_its_file_name() {
    let server = server().await;
    let client = Client::builder()
        .base_url(&server.base)
        .secret_key(&server.secret_key)
        .build()
        .unwrap();
    let picture = include_bytes!("../../../templates/shop/samples/mug.png").to_vec();
    let asset = client
        .upload_asset()
        .filename("mug.png")
        .body(picture.clone())
        .send()
        .await
        .map_err(ApiError::from)
        .expect("uploadAsset")
        .into_inner();
    assert_eq!(asset.content_type, "image/png");
    assert_eq!(asset.size, picture.len() as i64);
}

//! The suite certifies the reference server, and catches a backend that is broken.
//!
//! Each run starts `dream-server` in this process on a fresh database (a temporary SQLite file,
//! or a new database on the Postgres server named by `DREAM_TEST_POSTGRES`, default
//! `postgres://postgres@127.0.0.1:5432`), bound to port 0, and runs the suite against it over
//! HTTP exactly as the `dream-conformance` binary would.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use dream_conformance::config::Settings;
use dream_conformance::harness::Profile;
use dream_conformance::report::{Report, Status};

const OPERATOR_TOKEN: &str = "op_conformance_self_test";
const WEBHOOK_SECRET: &str = "whsec_conformance_self_test";

#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A running reference server; the database lives as long as this value.
struct Reference {
    base: String,
    _dir: tempfile::TempDir,
}

async fn database_url(backend: Backend, dir: &tempfile::TempDir) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("dream.db").display()),
        Backend::Postgres => dream_server::testing::fresh_postgres_database("dream_conformance")
            .await
            .expect("a fresh Postgres database"),
    }
}

async fn reference(backend: Backend) -> Reference {
    dream_server::install_crypto();
    let dir = tempfile::tempdir().expect("temp dir");
    let url = database_url(backend, &dir).await;
    // SQLite keeps assets on local disk beside its file; Postgres in an S3 bucket.
    let (assets_url, assets_s3) = match backend {
        Backend::Sqlite => (None, Default::default()),
        Backend::Postgres => {
            let (bucket, options) = dream_server::testing::fresh_s3_bucket("dream-conformance")
                .await
                .expect("a fresh S3 bucket");
            (Some(format!("{bucket}/assets")), options)
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    // Test mode on the Stripe emulator, as `dream serve` runs with no Stripe key, signing
    // with the secret the suite is given.
    let config = dream_server::config::Config {
        database_url: url,
        operator_token: Some(dream_server::config::Secret::new(OPERATOR_TOKEN)),
        stripe_webhook_secrets: vec![dream_server::config::Secret::new(WEBHOOK_SECRET)],
        // The suite is its own issuer, serving its keys over plain http on this machine.
        jwks_allow_insecure: true,
        assets_url,
        assets_s3,
        ..Default::default()
    };
    let serving = dream_server::app::App::build(&config, &base)
        .await
        .expect("the app starts, with the Stripe emulator");
    let router = dream_server::serve::router(serving.app).expect("router");
    tokio::spawn(dream_server::connections::serve(
        router,
        listener,
        std::future::pending(),
        dream_server::connections::Limits::default(),
    ));
    Reference { base, _dir: dir }
}

fn settings(base_url: &str) -> Settings {
    Settings {
        base_url: base_url.to_owned(),
        operator_token: Some(OPERATOR_TOKEN.into()),
        projects: vec![],
        profiles: Profile::ALL.to_vec(),
        certified: true,
        seed: 20261128,
        concurrency: 4,
        callback_host: "127.0.0.1".into(),
        filter: None,
        stripe_webhook_secret: Some(WEBHOOK_SECRET.into()),
    }
}

fn not_passed(report: &Report) -> BTreeSet<String> {
    report
        .cases
        .iter()
        .filter(|c| c.status != Status::Pass)
        .map(|c| c.id.clone())
        .collect()
}

async fn certify(backend: Backend) {
    dream_conformance::install_crypto();
    let server = reference(backend).await;
    let report = dream_conformance::run(settings(&server.base))
        .await
        .expect("the run starts");
    assert!(report.passed(), "{}", report.table());
    assert_eq!(
        report.counts().total(),
        dream_conformance::cases::all().len()
    );
    assert!(report.cases.iter().all(|c| c.status == Status::Pass));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_reference_server_on_sqlite_conforms() {
    certify(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_reference_server_on_postgres_conforms() {
    certify(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_runs_at_once_against_one_backend_both_pass() {
    dream_conformance::install_crypto();
    let server = reference(Backend::Postgres).await;
    let mut one = settings(&server.base);
    one.profiles = vec![Profile::Usage];
    let two = one.clone();
    let (a, b) = tokio::join!(dream_conformance::run(one), dream_conformance::run(two));
    let (a, b) = (a.expect("first run"), b.expect("second run"));
    assert!(a.passed(), "{}", a.table());
    assert!(b.passed(), "{}", b.table());
    assert_ne!(a.run_id, b.run_id);
}

/// A backend that forgets the tenant on product lookups: a front for the reference server that
/// remembers which secret key created each product and answers every later request about that
/// product with the creator's key, whoever asked. Everything else passes through untouched.
async fn tenant_blind_front(backend: String) -> String {
    #[derive(Default)]
    struct State {
        creators: Mutex<HashMap<String, String>>,
    }
    let state = Arc::new(State::default());
    let http = reqwest::Client::new();
    let handler = move |request: axum::extract::Request| {
        let (state, http, backend) = (state.clone(), http.clone(), backend.clone());
        async move {
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            let path = parts.uri.path().to_owned();
            let mut headers = parts.headers.clone();
            headers.remove(http::header::HOST);
            if let Some(id) = path.strip_prefix("/v1/products/") {
                let creator = state.creators.lock().unwrap().get(id).cloned();
                if let Some(key) = creator {
                    headers.insert(http::header::AUTHORIZATION, key.parse().unwrap());
                    headers.remove("x-publishable-key");
                }
            }
            let url = format!(
                "{backend}{}",
                parts.uri.path_and_query().map_or("", |p| p.as_str())
            );
            let response = http
                .request(parts.method.clone(), url)
                .headers(headers)
                .body(body)
                .send()
                .await
                .unwrap();
            let status = response.status();
            let response_headers = response.headers().clone();
            let bytes = response.bytes().await.unwrap();
            if parts.method == http::Method::POST && path == "/v1/products" && status.is_success() {
                let product: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                if let (Some(id), Some(key)) = (
                    product["id"].as_str(),
                    parts.headers.get(http::header::AUTHORIZATION),
                ) {
                    let key = key.to_str().unwrap().to_owned();
                    state.creators.lock().unwrap().insert(id.to_owned(), key);
                }
            }
            let mut out = axum::response::Response::new(axum::body::Body::from(bytes));
            *out.status_mut() = status;
            for (name, value) in &response_headers {
                if name != http::header::TRANSFER_ENCODING && name != http::header::CONTENT_LENGTH {
                    out.headers_mut().append(name, value.clone());
                }
            }
            out
        }
    };
    let router = axum::Router::new().fallback(handler);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backend_that_leaks_products_across_tenants_fails_the_isolation_cases() {
    dream_conformance::install_crypto();
    let server = reference(Backend::Sqlite).await;
    let broken = tenant_blind_front(server.base.clone()).await;
    let report = dream_conformance::run(settings(&broken))
        .await
        .expect("the run starts");
    assert!(!report.passed());
    let expected: BTreeSet<String> = ["tenancy.products-across-projects", "tenancy.test-and-live"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(not_passed(&report), expected, "{}", report.table());
    for case in report.cases.iter().filter(|c| c.status != Status::Pass) {
        assert_eq!(case.status, Status::Fail, "{}", report.table());
    }
}

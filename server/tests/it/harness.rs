//! `TestApp`: a server on a fresh database, bound to port 0, and clients holding its keys.

use std::sync::Arc;

use dream_client::Client;
use dream_server::app::App;
use dream_server::store::Store;

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const OPERATOR_TOKEN: &str = "op_test_token_for_integration_tests";

/// A running server and one project's keys.
pub struct TestApp {
    pub base: String,
    pub app: Arc<App>,
    pub test: Keys,
    pub live: Keys,
    _dir: tempfile::TempDir,
}

#[derive(Debug, Clone)]
pub struct Keys {
    pub publishable: String,
    pub secret: String,
}

fn postgres_server() -> String {
    std::env::var("DREAM_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

async fn fresh_database(backend: Backend, dir: &tempfile::TempDir) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("dream.db").display()),
        Backend::Postgres => {
            use sqlx::Connection;
            let name = format!(
                "dream_test_{}",
                dream_server::app::ids::random(12).to_lowercase()
            );
            let mut admin = sqlx::PgConnection::connect(&format!("{}/postgres", postgres_server()))
                .await
                .expect("Postgres is reachable (start it, or set DREAM_TEST_POSTGRES)");
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut admin)
                .await
                .expect("create test database");
            format!("{}/{name}", postgres_server())
        }
    }
}

impl TestApp {
    pub async fn start(backend: Backend) -> TestApp {
        dream_server::install_crypto();
        let dir = tempfile::tempdir().expect("temp dir");
        let url = fresh_database(backend, &dir).await;
        let store = Store::connect(&url).await.expect("store connects");
        let app = Arc::new(
            App::new(store, Some(OPERATOR_TOKEN.to_string()))
                .await
                .expect("app starts"),
        );
        let created = app
            .project_create("Test project", true)
            .await
            .expect("project");
        let keys = |mode: &str| {
            let (_, pk, sk) = created
                .keys
                .iter()
                .find(|(m, _, _)| m.as_str() == mode)
                .expect("keys")
                .clone();
            Keys {
                publishable: pk,
                secret: sk,
            }
        };
        let router = dream_server::serve::router(app.clone()).expect("router");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(dream_server::serve::serve(
            router,
            listener,
            std::future::pending(),
        ));
        TestApp {
            base,
            app,
            test: keys("test"),
            live: keys("live"),
            _dir: dir,
        }
    }

    /// A client sending the given headers on every request.
    pub fn client_with(&self, headers: &[(&str, &str)]) -> Client {
        let mut map = reqwest::header::HeaderMap::new();
        for (name, value) in headers {
            map.insert(
                reqwest::header::HeaderName::from_bytes(name.as_bytes()).expect("header name"),
                reqwest::header::HeaderValue::from_str(value).expect("header value"),
            );
        }
        let http = reqwest::Client::builder()
            .default_headers(map)
            .build()
            .expect("http client");
        Client::new_with_client(&self.base, http)
    }

    pub fn anonymous(&self) -> Client {
        self.client_with(&[])
    }

    pub fn secret(&self, keys: &Keys) -> Client {
        self.client_with(&[("authorization", &format!("Bearer {}", keys.secret))])
    }

    pub fn publishable(&self, keys: &Keys) -> Client {
        self.client_with(&[("x-publishable-key", &keys.publishable)])
    }

    pub fn user(&self, keys: &Keys, token: &str) -> Client {
        self.client_with(&[
            ("x-publishable-key", &keys.publishable),
            ("authorization", &format!("Bearer {token}")),
        ])
    }

    /// A development token for `user_id` in the test mode.
    pub async fn dev_token(&self, user_id: &str) -> String {
        self.secret(&self.test)
            .create_dev_token()
            .body_map(|b| b.user_id(user_id.to_string()))
            .send()
            .await
            .expect("dev token")
            .into_inner()
            .token
    }
}

/// The status and error code of a failed call.
pub fn error_of<T: std::fmt::Debug>(
    result: Result<
        progenitor_client::ResponseValue<T>,
        progenitor_client::Error<dream_client::types::Error>,
    >,
) -> (u16, String) {
    match result {
        Err(progenitor_client::Error::ErrorResponse(response)) => {
            let status = response.status().as_u16();
            let body = response.into_inner();
            assert!(
                body.request_id.starts_with("req_"),
                "every error carries the request id"
            );
            (status, body.code)
        }
        other => panic!("expected an error response, got {other:?}"),
    }
}

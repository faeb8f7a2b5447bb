//! Fresh databases for the server's own tests: a temporary SQLite file, or a new database on
//! the Postgres server named by `DREAM_TEST_POSTGRES`.

use dream_server::store::Store;

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, empty database; it lives as long as the returned directory.
pub async fn fresh_database(backend: Backend) -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("dream.db").display()),
        Backend::Postgres => {
            use sqlx::Connection;
            let server = std::env::var("DREAM_TEST_POSTGRES")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
            let name = format!(
                "dream_test_{}",
                dream_server::app::ids::random(12).to_lowercase()
            );
            let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
                .await
                .expect("Postgres is reachable (start it, or set DREAM_TEST_POSTGRES)");
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut admin)
                .await
                .expect("create test database");
            format!("{server}/{name}")
        }
    };
    (url, dir)
}

/// A store on a fresh database, migrated.
pub async fn fresh_store(backend: Backend) -> (Store, String, tempfile::TempDir) {
    dream_server::install_crypto();
    let (url, dir) = fresh_database(backend).await;
    let store = Store::connect(&url).await.expect("store connects");
    (store, url, dir)
}

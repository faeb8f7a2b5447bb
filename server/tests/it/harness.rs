//! Fresh databases for the server's own tests: a temporary SQLite file, or a new database on
//! the Postgres server named by `DREAM_TEST_POSTGRES` (`dream_server::testing`).

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
        Backend::Postgres => dream_server::testing::fresh_postgres_database("dream_test")
            .await
            .expect("a fresh Postgres database"),
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

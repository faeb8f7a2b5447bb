//! Support for this workspace's tests (the server's own and the conformance self-test): a
//! fresh, empty database on the Postgres server named by `DREAM_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432`). `scripts/test` drops the databases named
//! `dream_test_*` and `dream_conformance_*` that earlier runs left.

use sqlx::Connection as _;

/// Creates `{prefix}_{random}` on the test Postgres server and returns its URL.
pub async fn fresh_postgres_database(prefix: &str) -> anyhow::Result<String> {
    let server = std::env::var("DREAM_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let name = format!("{prefix}_{}", crate::domain::ids::random(12).to_lowercase());
    let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "Postgres is not reachable at {server} (start it, or set DREAM_TEST_POSTGRES): {e}"
            )
        })?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await?;
    Ok(format!("{server}/{name}"))
}

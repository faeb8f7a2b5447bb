//! Support for this workspace's tests (the server's own and the conformance self-test): a
//! fresh, empty database on the Postgres server named by `DREAM_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432`), and a fresh bucket on the S3-compatible server named by
//! `DREAM_TEST_S3`. `scripts/test` drops the databases named
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

/// Creates a bucket `{prefix}-{random}` on the S3-compatible server named by `DREAM_TEST_S3`
/// (default `http://127.0.0.1:9000`, moto's server mode, which `scripts/test` starts): its
/// `s3://` URL and the `object_store` options that reach it (the configuration's
/// `[assets_s3]`; as environment variables, `AWS_` and the key in upper case).
pub async fn fresh_s3_bucket(
    prefix: &str,
) -> anyhow::Result<(String, std::collections::BTreeMap<String, String>)> {
    let endpoint =
        std::env::var("DREAM_TEST_S3").unwrap_or_else(|_| "http://127.0.0.1:9000".into());
    let bucket = format!("{prefix}-{}", crate::domain::ids::random(12).to_lowercase());
    let created = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "the S3-compatible server is not reachable at {endpoint} (start it, or set DREAM_TEST_S3): {e}"
            )
        })?;
    anyhow::ensure!(
        created.status().is_success(),
        "creating bucket {bucket}: {}",
        created.status()
    );
    let options = [
        ("endpoint", endpoint.as_str()),
        ("allow_http", "true"),
        ("region", "us-east-1"),
        ("access_key_id", "dream-test"),
        ("secret_access_key", "dream-test"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    Ok((format!("s3://{bucket}"), options))
}

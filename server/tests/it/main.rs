//! The server's integration tests: the real server over real HTTP, spoken to through the
//! generated Rust client, on both stores. Each test gets its own database.
//!
//! `DREAM_TEST_POSTGRES` names the Postgres server (default
//! `postgres://postgres@127.0.0.1:5432`); each test creates a fresh database on it.

mod harness;
mod identity;
mod tenancy;
mod usage;

/// Runs each listed case once per backend.
macro_rules! on_both_stores {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(crate::harness::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(crate::harness::Backend::Postgres).await;
                }
            )*
        }
    };
}
pub(crate) use on_both_stores;

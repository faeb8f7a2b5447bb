//! The server's own tests: what only the implementation can see (stored rows, the locking
//! behind exact counts, what survives a restart). Behaviour a client can observe is tested by
//! the conformance suite (`conformance/`), which runs against this server on both stores.
//!
//! `DREAM_TEST_POSTGRES` names the Postgres server (default
//! `postgres://postgres@127.0.0.1:5432`); each test creates a fresh database on it.

mod assets;
mod billing;
mod cli;
mod connections;
mod crash;
mod faults;
mod harness;
mod jwks;
mod layers;
mod outage;
mod projects;
mod renewal;
mod replicas;
mod restart;
mod store;
mod telemetry;
mod webhooks;

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

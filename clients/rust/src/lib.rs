//! The Rust client for Dream API.
//!
//! Everything in [`generated`] is produced by progenitor from `openapi/dream-api.yaml`; this
//! file only re-exports it.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = dream_client::Client::new("http://localhost:8787");
//! let health = client.health_check().send().await?;
//! assert_eq!(health.status, "ok");
//! # Ok(())
//! # }
//! ```

#[allow(clippy::all, clippy::pedantic, missing_docs, unused_imports)]
#[rustfmt::skip]
mod generated;

pub use generated::*;

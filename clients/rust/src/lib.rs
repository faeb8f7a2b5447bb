//! The Rust client for Dream API.
//!
//! Everything in [`generated`] is produced by progenitor from `openapi/dream-api.yaml`: one
//! method per operation, typed requests and answers. The hand-written part is small: a
//! [`Builder`] that takes the base URL and the keys, and [`Hooks`] that put the credentials on
//! every request, give each usage track an idempotency key, retry what is safe to repeat,
//! and refresh a user's expired token once — the same rules as the TypeScript SDK — and
//! [`ApiError`], one error type for every call.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = dream_client::Client::builder()
//!     .base_url("http://localhost:8787")
//!     .secret_key(std::env::var("DREAM_SECRET_KEY")?)
//!     .build()?;
//! let health = client.health_check().send().await?;
//! assert_eq!(health.status, "ok");
//! # Ok(())
//! # }
//! ```

#[allow(clippy::all, clippy::pedantic, missing_docs, unused_imports)]
#[rustfmt::skip]
mod generated;
mod error;
mod hooks;

pub use error::{ApiError, ErrorBody};
pub use generated::*;
pub use hooks::{BoxError, BuildError, Builder, DEFAULT_BASE_URL, Hooks, TokenSource};

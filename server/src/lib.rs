//! The reference server of Dream API.
//!
//! Layers, outermost first: [`serve`] (router, middleware) → [`http`] (the generated trait,
//! implemented thinly) → [`app`] (the domain) → [`store`] (sqlx, Postgres or SQLite).
//! [`domain`] holds the words every layer shares (tenant, mode, tier, …).
//! [`dashboard`] serves the developer dashboard on top of the API's own router.
//! [`generated`] is produced by `dreamgen` from the spec and never edited by hand.

pub mod app;
pub mod config;
pub mod connections;
pub mod dashboard;
pub mod domain;
pub mod edge;
#[allow(clippy::all, clippy::pedantic)]
#[rustfmt::skip]
pub mod generated;
pub mod http;
pub mod logging;
pub mod serve;
pub mod store;
pub mod telemetry;
pub mod testing;

/// Installs the TLS crypto provider outbound HTTPS (JWKS fetches) uses. Idempotent.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

//! `dreamgen`: everything generated from the OpenAPI document.
//!
//! - [`rust_client`]: the Rust client, through progenitor.
//! - [`axum_stubs`]: the server trait, typed requests and responses, and the axum router;
//!   [`crates`] writes them as a crate, or a workspace of crates for the largest documents.
//! - [`typescript`]: the TypeScript client, one dependency-free ES module.
//! - [`docs`]: the HTML API reference.
//!
//! [`outputs`] lists every checked-in file with its expected content; `dreamgen generate`
//! writes them and `dreamgen check` compares them.

pub mod axum_stubs;
pub mod crates;
mod degrade;
pub mod derives;
mod deserialize;
pub mod docs;
pub mod error;
mod format;
pub mod load;
pub mod model;
pub mod rust_client;
mod same_types;
mod schema;
mod timestamps;
pub mod traits;
pub mod typescript;
mod validate;

use std::path::{Path, PathBuf};

pub use error::GenError;

/// The spec, relative to the workspace root.
pub const SPEC_PATH: &str = "openapi/dream-api.yaml";

/// Reads an OpenAPI 3.0 or 3.1 document given as YAML or JSON text, refusing it if any part
/// of it cannot be generated (the strict reading the workspace's own spec gets). Use
/// [`load::load`] to generate what can be and hear about the rest.
pub fn parse_spec(text: &str) -> Result<openapiv3::OpenAPI, GenError> {
    let loaded = load::load(text)?;
    load::strict(loaded.spec, loaded.skipped)
}

/// One generated file.
#[derive(Debug)]
pub struct Output {
    /// Path relative to the workspace root.
    pub path: PathBuf,
    pub content: String,
}

/// Every file generated from the workspace's spec.
pub fn outputs(root: &Path) -> Result<Vec<Output>, GenError> {
    let text = std::fs::read_to_string(root.join(SPEC_PATH))
        .map_err(|e| GenError::Parse(format!("{SPEC_PATH}: {e}")))?;
    let spec = parse_spec(&text)?;
    Ok(vec![
        Output {
            path: "clients/rust/src/generated/mod.rs".into(),
            // `crate::Hooks` (hand-written beside it) adds credentials and retries.
            content: rust_client::generate_with_hooks(&spec, SPEC_PATH, Some("crate::Hooks"))?,
        },
        Output {
            path: "server/src/generated/mod.rs".into(),
            // The dashboard reads the API's own responses into these types.
            content: axum_stubs::generate(
                &spec,
                SPEC_PATH,
                axum_stubs::Options {
                    derives: derives::Derives::All,
                    traits: traits::Traits::One,
                },
            )?,
        },
        Output {
            path: "clients/typescript/src/generated/api.ts".into(),
            content: typescript::generate(&spec, SPEC_PATH)?,
        },
        Output {
            path: "docs/generated/index.html".into(),
            content: docs::generate(&spec)?,
        },
    ])
}

/// Compares generated output with what is checked in; returns a readable diff per file that
/// differs.
pub fn check(root: &Path, outputs: &[Output]) -> Vec<String> {
    let mut problems = Vec::new();
    for output in outputs {
        let on_disk = std::fs::read_to_string(root.join(&output.path)).unwrap_or_default();
        if on_disk != output.content {
            let diff = similar::TextDiff::from_lines(&on_disk, &output.content);
            let path = output.path.display().to_string();
            problems.push(format!(
                "{}",
                diff.unified_diff().context_radius(3).header(
                    &format!("{path} (checked in)"),
                    &format!("{path} (generated)")
                )
            ));
        }
    }
    problems
}

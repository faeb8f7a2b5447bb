//! The Rust client: progenitor, used as a library, over the spec.

use crate::error::{GenError, guard};
use crate::format::{format_tokens, generated_header};

/// Generates the `dream-client` crate's `generated` module.
pub fn generate(spec: &openapiv3::OpenAPI, source: &str) -> Result<String, GenError> {
    let tokens = guard("progenitor", || {
        let mut settings = progenitor_impl::GenerationSettings::default();
        settings
            .with_interface(progenitor_impl::InterfaceStyle::Builder)
            .with_tag(progenitor_impl::TagStyle::Merged)
            .with_derive("PartialEq")
            .with_map_type("::std::collections::BTreeMap");
        let mut generator = progenitor_impl::Generator::new(&settings);
        generator.generate_tokens(spec).map_err(|e| e.to_string())
    })?;
    let body = format_tokens(tokens)?;
    Ok(format!("{}{}", generated_header(source), body))
}

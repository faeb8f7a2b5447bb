//! The Rust client: progenitor, used as a library, over the spec.
//!
//! Progenitor takes the whole document and stops at the first part it cannot handle, without
//! saying which. [`generate_lenient`] finds those parts by bisection ([`crate::degrade`]):
//! component schemas progenitor refuses are read as any JSON value, operations it refuses are
//! left out, and each is reported with its pointer.

use openapiv3::{OpenAPI, ReferenceOr};

use crate::error::{GenError, guard, pointer_segment};
use crate::format::{format_tokens, generated_header};
use crate::load::Skip;

/// Generates the `dream-client` crate's `generated` module; fails if progenitor refuses any
/// part of the spec.
pub fn generate(spec: &OpenAPI, source: &str) -> Result<String, GenError> {
    let tokens = progenitor(spec)?;
    let body = format_tokens(tokens)?;
    Ok(format!("{}{}", generated_header(source), body))
}

/// Generates the client for every part of the spec progenitor can handle; the rest is listed.
pub fn generate_lenient(spec: &OpenAPI, source: &str) -> Result<(String, Vec<Skip>), GenError> {
    let first = match progenitor(spec) {
        Ok(tokens) => {
            let body = format_tokens(tokens)?;
            return Ok((format!("{}{}", generated_header(source), body), Vec::new()));
        }
        Err(e) => e,
    };
    // Each part found by the search is told with the error it causes on its own (the others
    // found taken out), not with the document's first error.
    let reason = |what: &str, alone: Result<proc_macro2::TokenStream, GenError>| match alone {
        Err(e) => format!("{what}: {e}"),
        Ok(_) => format!("{what}: progenitor cannot generate it together with the others"),
    };
    let mut skipped = Vec::new();
    let mut working = spec.clone();

    // Progenitor's messages often name the operation (`… for updatePet`): take it out and try
    // again, before the slower search.
    let mut last = first.to_string();
    loop {
        let named = operation_ids(&working)
            .into_iter()
            .filter(|(id, _)| mentions(&last, id))
            .max_by_key(|(id, _)| id.len());
        let Some((id, pointer)) = named else { break };
        crate::load::remove_operation(&mut working, &pointer);
        skipped.push(Skip {
            pointer,
            reason: format!(
                "left out of the Rust client: progenitor cannot generate {id} ({last})"
            ),
        });
        match progenitor(&working) {
            Ok(tokens) => {
                let body = format_tokens(tokens)?;
                return Ok((format!("{}{}", generated_header(source), body), skipped));
            }
            Err(e) => last = e.to_string(),
        }
    }

    // Schemas first, with no operations: progenitor reads every component schema.
    let names: Vec<String> = working
        .components
        .as_ref()
        .map(|c| c.schemas.keys().cloned().collect())
        .unwrap_or_default();
    let mut schemas_only = working.clone();
    schemas_only.paths.paths.clear();
    let blank = |spec: &mut OpenAPI, removed: &[usize]| {
        if let Some(components) = &mut spec.components {
            for &i in removed {
                if let Some(schema) = components.schemas.get_mut(&names[i]) {
                    *schema = crate::model::any_value();
                }
            }
        }
    };
    let culprits = crate::degrade::culprits(names.len(), |removed| {
        let mut candidate = schemas_only.clone();
        blank(&mut candidate, removed);
        progenitor(&candidate).is_ok()
    })
    .ok_or_else(|| first.clone())?;
    blank(&mut working, &culprits);
    for &i in &culprits {
        let others: Vec<usize> = culprits.iter().copied().filter(|&c| c != i).collect();
        let mut alone = schemas_only.clone();
        blank(&mut alone, &others);
        skipped.push(Skip {
            pointer: format!("/components/schemas/{}", pointer_segment(&names[i])),
            reason: reason(
                "read as any JSON value in the Rust client",
                progenitor(&alone),
            ),
        });
    }

    // Then operations.
    let ops: Vec<(String, String)> = working
        .paths
        .paths
        .iter()
        .filter_map(|(path, item)| match item {
            ReferenceOr::Item(item) => Some(
                item.iter()
                    .map(|(method, _)| (path.clone(), method.to_string()))
                    .collect::<Vec<_>>(),
            ),
            ReferenceOr::Reference { .. } => None,
        })
        .flatten()
        .collect();
    let pointer =
        |(path, method): &(String, String)| format!("/paths/{}/{method}", pointer_segment(path));
    let without = |spec: &OpenAPI, removed: &[usize]| {
        let mut spec = spec.clone();
        for &i in removed {
            crate::load::remove_operation(&mut spec, &pointer(&ops[i]));
        }
        spec
    };
    let culprits = crate::degrade::culprits(ops.len(), |removed| {
        progenitor(&without(&working, removed)).is_ok()
    })
    .ok_or_else(|| first.clone())?;
    for &i in &culprits {
        let others: Vec<usize> = culprits.iter().copied().filter(|&c| c != i).collect();
        skipped.push(Skip {
            pointer: pointer(&ops[i]),
            reason: reason(
                "left out of the Rust client",
                progenitor(&without(&working, &others)),
            ),
        });
    }
    let working = without(&working, &culprits);
    let body = format_tokens(progenitor(&working)?)?;
    Ok((format!("{}{}", generated_header(source), body), skipped))
}

/// Every operation's id and pointer.
fn operation_ids(spec: &OpenAPI) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, item) in &spec.paths.paths {
        if let ReferenceOr::Item(item) = item {
            for (method, op) in item.iter() {
                if let Some(id) = &op.operation_id {
                    out.push((
                        id.clone(),
                        format!("/paths/{}/{method}", pointer_segment(path)),
                    ));
                }
            }
        }
    }
    out
}

/// Whether `message` names `id` as a whole word.
fn mentions(message: &str, id: &str) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
    message.match_indices(id).any(|(at, _)| {
        !message[..at].chars().next_back().is_some_and(word)
            && !message[at + id.len()..].chars().next().is_some_and(word)
    })
}

fn progenitor(spec: &OpenAPI) -> Result<proc_macro2::TokenStream, GenError> {
    guard("progenitor", || {
        let mut settings = progenitor_impl::GenerationSettings::default();
        settings
            .with_interface(progenitor_impl::InterfaceStyle::Builder)
            .with_tag(progenitor_impl::TagStyle::Merged)
            .with_derive("PartialEq")
            .with_map_type("::std::collections::BTreeMap");
        let mut generator = progenitor_impl::Generator::new(&settings);
        generator.generate_tokens(spec).map_err(|e| e.to_string())
    })
}

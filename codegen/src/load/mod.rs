//! Reading a document: YAML or JSON text, OpenAPI 3.0 or 3.1, into the one form every target
//! renders from.
//!
//! The form is an OpenAPI 3.0 document whose schemas use the 3.0 dialect (`nullable`, one
//! `type`, `enum` for constants), every `$ref` names a component (`#/components/<kind>/<name>`),
//! and every operation in it can be generated: what cannot is taken out and reported as a
//! [`Skip`] with its JSON pointer, and what had to be changed to fit is reported as a note.
//! Everything a target needs to know about the input's dialect and oddities ends here.

use serde_json::{Value, json};

use crate::error::{GenError, pointer_segment};

mod normalize;
mod parse;
mod schema;

pub(crate) use normalize::percent_decode;
pub use normalize::{Normalized, normalize};
pub use parse::parse_text;

/// Something in the document that was left out or changed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    /// Where, as a JSON pointer into the document as written.
    pub pointer: String,
    /// What was left out or changed, and why.
    pub reason: String,
}

impl Skip {
    /// The part at `pointer`, `done` (left out, typed as unknown, …) because of `e`.
    pub fn of(e: &GenError, pointer: &str, done: &str) -> Skip {
        Skip {
            pointer: pointer.to_string(),
            reason: format!("{done}: {}", e.reason_at(pointer)),
        }
    }
}

/// The strict reading of a lenient result: `value` if nothing was left out, else an error
/// naming the first part that was.
pub fn strict<T>(value: T, skipped: Vec<Skip>) -> Result<T, GenError> {
    match skipped.into_iter().next() {
        None => Ok(value),
        Some(skip) => Err(GenError::unsupported(skip.pointer, skip.reason)),
    }
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.pointer, self.reason)
    }
}

/// HTTP methods an OpenAPI path item can hold.
pub const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// A document read and made ready for the targets: the typed spec, and what was left out.
#[derive(Debug)]
pub struct Loaded {
    pub spec: openapiv3::OpenAPI,
    pub skipped: Vec<Skip>,
}

/// Reads a document (YAML or JSON, OpenAPI 3.0 or 3.1) into the form every target renders
/// from. Refuses the whole document only when it is not OpenAPI 3 at all; anything less is
/// left out where it is, and reported.
pub fn load(text: &str) -> Result<Loaded, GenError> {
    let Normalized {
        mut document,
        mut skipped,
    } = normalize(parse_text(text)?)?;
    // The typed reading refuses what it cannot represent; each refusal takes out the
    // operation or component it is in, and the reading is tried again.
    let mut spec = loop {
        let error = match serde_path_to_error::deserialize::<_, openapiv3::OpenAPI>(&document) {
            Ok(spec) => break spec,
            Err(error) => error,
        };
        let segments: Vec<String> = error
            .path()
            .iter()
            .map(|segment| match segment {
                serde_path_to_error::Segment::Seq { index } => index.to_string(),
                serde_path_to_error::Segment::Map { key } => key.clone(),
                serde_path_to_error::Segment::Enum { variant } => variant.clone(),
                serde_path_to_error::Segment::Unknown => String::new(),
            })
            .collect();
        let message = error.inner().to_string();
        let Some((pointer, removed)) = take_out(&mut document, &segments) else {
            let at: String = segments
                .iter()
                .map(|s| format!("/{}", pointer_segment(s)))
                .collect();
            return Err(GenError::Parse(format!("{at}: {message}")));
        };
        skipped.push(Skip {
            pointer,
            reason: format!("{removed}: {message}"),
        });
    };
    // Operations the model cannot represent are taken out too, so every target sees the same
    // operations.
    for skip in crate::model::unsupported_operations(&spec) {
        remove_operation(&mut spec, &skip.pointer);
        skipped.push(skip);
    }
    settle(&mut spec);
    Ok(Loaded { spec, skipped })
}

/// Decides, once for every target, what the document leaves open: every operation gets an
/// `operationId` that makes a valid identifier in every target and no other operation's (one
/// without gets the name the model gives it, one that is empty, starts with a digit or is a
/// Rust keyword is adjusted, a later duplicate takes a number), and a body or response offered
/// in several media types keeps the one the targets use ([`crate::model::preferred_media`]).
fn settle(spec: &mut openapiv3::OpenAPI) {
    use heck::ToSnakeCase;
    use openapiv3::ReferenceOr;
    // Ids that can stay as written keep them (the first, when two make the same identifier).
    let mut taken: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let mut kept = std::collections::BTreeSet::new();
    for (path, method, op) in spec.operations() {
        if let Some(id) = op.operation_id.as_deref().filter(|id| usable_id(id))
            && taken.insert(id.to_snake_case())
        {
            kept.insert((path.to_owned(), method.to_owned()));
        }
    }
    for (path, item) in spec.paths.paths.iter_mut() {
        let ReferenceOr::Item(item) = item else {
            continue;
        };
        for method in METHODS {
            let Some(Some(op)) = operation_slot(item, method) else {
                continue;
            };
            if !kept.contains(&(path.clone(), method.to_string())) {
                let base = match op.operation_id.as_deref().map(str::to_snake_case) {
                    Some(snake) if snake.is_empty() => {
                        crate::model::synthesized_operation_id(method, path)
                    }
                    Some(snake) if snake.starts_with(|c: char| c.is_ascii_digit()) => {
                        format!("op_{snake}")
                    }
                    Some(snake) if taken_name(&snake) => format!("{snake}_op"),
                    Some(_) => op.operation_id.clone().expect("matched Some"),
                    None => crate::model::synthesized_operation_id(method, path),
                };
                let mut id = base.clone();
                let mut n = 2;
                while !taken.insert(id.to_snake_case()) {
                    id = format!("{base}_{n}");
                    n += 1;
                }
                op.operation_id = Some(id);
            }
            if let Some(ReferenceOr::Item(body)) = &mut op.request_body {
                keep_preferred(&mut body.content);
            }
            for response in op
                .responses
                .responses
                .values_mut()
                .chain(op.responses.default.as_mut())
            {
                if let ReferenceOr::Item(response) = response {
                    keep_preferred(&mut response.content);
                }
            }
        }
    }
    if let Some(components) = &mut spec.components {
        for body in components.request_bodies.values_mut() {
            if let ReferenceOr::Item(body) = body {
                keep_preferred(&mut body.content);
            }
        }
        for response in components.responses.values_mut() {
            if let ReferenceOr::Item(response) = response {
                keep_preferred(&mut response.content);
            }
        }
    }
}

/// Rust's keywords: no identifier dreamgen writes may be one.
pub(crate) const RUST_KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "static", "struct", "super", "trait", "true", "try", "type", "typeof",
    "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Whether an `operationId` makes an identifier as it is: in snake case, not empty, not
/// starting with a digit, not a Rust keyword.
fn usable_id(id: &str) -> bool {
    use heck::ToSnakeCase;
    let snake = id.to_snake_case();
    !snake.is_empty() && !snake.starts_with(|c: char| c.is_ascii_digit()) && !taken_name(&snake)
}

/// Whether an operation named `snake` would clash with a Rust keyword or with a method the
/// generated code already has: the Rust client's `Client` (its constructors, and the
/// `ClientInfo`/`ClientHooks` methods it calls on itself — an operation named `post` would
/// shadow the hook every other operation calls) and the stubs' `Api` trait.
fn taken_name(snake: &str) -> bool {
    const GENERATED_METHODS: &[&str] = &[
        "new",
        "new_with_client",
        "baseurl",
        "client",
        "api_version",
        "inner",
        "pre",
        "post",
        "exec",
        "authenticate",
        "reject",
    ];
    RUST_KEYWORDS.contains(&snake) || GENERATED_METHODS.contains(&snake)
}

/// Of several media types, keeps the one the targets use.
fn keep_preferred(content: &mut indexmap::IndexMap<String, openapiv3::MediaType>) {
    if content.len() < 2 {
        return;
    }
    if let Some(media) = crate::model::preferred_media(content.keys()).cloned() {
        let value = content.swap_remove(&media).expect("present");
        content.clear();
        content.insert(media, value);
    }
}

/// Takes out the operation, path item or component at the start of `segments`; its pointer
/// and what was done, or `None` when the failure is elsewhere.
fn take_out(document: &mut Value, segments: &[String]) -> Option<(String, &'static str)> {
    let seg = |i: usize| segments.get(i).map(String::as_str);
    match (seg(0), seg(1), seg(2), seg(3)) {
        (Some("paths"), Some(path), Some(method), _) if METHODS.contains(&method) => {
            let item = document["paths"].get_mut(path)?.as_object_mut()?;
            item.remove(method)?;
            Some((
                format!("/paths/{}/{method}", pointer_segment(path)),
                "operation left out",
            ))
        }
        (Some("paths"), Some(path), _, _) => {
            document["paths"].as_object_mut()?.remove(path)?;
            Some((format!("/paths/{}", pointer_segment(path)), "path left out"))
        }
        (Some("components"), Some("schemas"), Some(name), _) => {
            let schema = document["components"]["schemas"].get_mut(name)?;
            if *schema == json!({}) {
                return None;
            }
            *schema = json!({});
            Some((
                format!("/components/schemas/{}", pointer_segment(name)),
                "schema read as any value",
            ))
        }
        (Some("components"), Some(kind), Some(name), _) => {
            document["components"][kind].as_object_mut()?.remove(name)?;
            Some((
                format!("/components/{kind}/{}", pointer_segment(name)),
                "component left out (operations using it are left out too)",
            ))
        }
        (Some("components"), Some(kind), None, _) => {
            document["components"].as_object_mut()?.remove(kind)?;
            Some((format!("/components/{kind}"), "components left out"))
        }
        (Some(key), _, _, _) if !matches!(key, "paths" | "components" | "openapi") => {
            document.as_object_mut()?.remove(key)?;
            Some((format!("/{}", pointer_segment(key)), "left out"))
        }
        _ => None,
    }
}

/// The place of a path item's operation for `method`.
pub(crate) fn operation_slot<'a>(
    item: &'a mut openapiv3::PathItem,
    method: &str,
) -> Option<&'a mut Option<openapiv3::Operation>> {
    Some(match method {
        "get" => &mut item.get,
        "put" => &mut item.put,
        "post" => &mut item.post,
        "delete" => &mut item.delete,
        "options" => &mut item.options,
        "head" => &mut item.head,
        "patch" => &mut item.patch,
        "trace" => &mut item.trace,
        _ => return None,
    })
}

/// Removes the operation at `/paths/<path>/<method>` from the typed spec.
pub fn remove_operation(spec: &mut openapiv3::OpenAPI, pointer: &str) {
    let mut parts = pointer.trim_start_matches("/paths/").rsplitn(2, '/');
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return;
    };
    let path = path.replace("~1", "/").replace("~0", "~");
    let Some(openapiv3::ReferenceOr::Item(item)) = spec.paths.paths.get_mut(&path) else {
        return;
    };
    let Some(slot) = operation_slot(item, method) else {
        return;
    };
    *slot = None;
}

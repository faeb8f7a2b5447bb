//! The Rust client: progenitor, used as a library, over the spec.
//!
//! Progenitor takes the whole document and stops at the first part it cannot handle, without
//! saying which. [`generate_lenient`] finds those parts by bisection ([`crate::degrade`]):
//! component schemas progenitor refuses are read as any JSON value, operations it refuses are
//! left out, and each is reported with its pointer.
//!
//! Before that, [`for_progenitor`] puts each operation in the terms progenitor knows: a text
//! body is `text/plain`, any other non-JSON, non-form body is bytes (`application/octet-stream`
//! — the content type progenitor sends), a parameter described by `content` is its JSON text
//! (a `String`), an optional cookie parameter is dropped; an operation with a multipart body
//! or a required cookie, which progenitor cannot send, is left out and listed.

use openapiv3::{OpenAPI, Parameter, ReferenceOr};

use crate::error::{GenError, guard, pointer_segment};
use crate::format::{format_tokens, generated_header};
use crate::load::Skip;

/// Generates a client for the whole spec; fails if progenitor refuses any part of it.
pub fn generate(spec: &OpenAPI, source: &str) -> Result<String, GenError> {
    generate_with_hooks(spec, source, None)
}

/// Like [`generate`]; with `hooks` (a type path such as `crate::Hooks`), the client carries a
/// value of that type (`Client::new(base_url, hooks)`), and the crate implements progenitor's
/// `ClientHooks<Hooks>` for `Client` by hand: credentials, retries, anything per request. The
/// `dream-client` crate is generated this way.
pub fn generate_with_hooks(
    spec: &OpenAPI,
    source: &str,
    hooks: Option<&str>,
) -> Result<String, GenError> {
    let (spec, skipped) = for_progenitor(spec);
    crate::load::strict((), skipped)?;
    let inner: Option<proc_macro2::TokenStream> = match hooks {
        Some(path) => Some(
            path.parse()
                .map_err(|e| GenError::Parse(format!("the hooks type {path}: {e}")))?,
        ),
        None => None,
    };
    let tokens = guard("progenitor", || {
        let mut settings = settings();
        if let Some(inner) = inner {
            settings.with_inner_type(inner);
        }
        progenitor_impl::Generator::new(&settings)
            .generate_tokens(&spec)
            .map_err(|e| e.to_string())
    })?;
    let body = format_tokens(tokens)?;
    Ok(format!("{}{}", generated_header(source), body))
}

/// Generates the client for every part of the spec progenitor can handle; the rest is listed.
pub fn generate_lenient(spec: &OpenAPI, source: &str) -> Result<(String, Vec<Skip>), GenError> {
    let (prepared, mut skipped) = for_progenitor(spec);
    let spec = &prepared;
    let first = match progenitor(spec) {
        Ok(tokens) => {
            let body = format_tokens(tokens)?;
            return Ok((format!("{}{}", generated_header(source), body), skipped));
        }
        Err(e) => e,
    };
    // Each part found by the search is told with the error it causes on its own (the others
    // found taken out), not with the document's first error.
    let reason = |what: &str, alone: Result<proc_macro2::TokenStream, GenError>| match alone {
        Err(e) => format!("{what}: {e}"),
        Ok(_) => format!("{what}: progenitor cannot generate it together with the others"),
    };
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

/// The spec in the terms progenitor knows (see the module's documentation), and the operations
/// left out on the way.
fn for_progenitor(spec: &OpenAPI) -> (OpenAPI, Vec<Skip>) {
    use crate::model::BodyKind;
    let mut spec = spec.clone();
    // Enums whose values make one Rust variant (`ASC`, `asc`) are strings here, objects whose
    // properties make one field any value.
    if let Ok(mut document) = serde_json::to_value(&spec)
        && crate::schema::rust_safe_all(&mut document)
        && let Ok(read) = serde_json::from_value(document)
    {
        spec = read;
    }
    let mut skipped = Vec::new();
    let components = spec.components.clone().unwrap_or_default();
    let resolve_param = |p: &ReferenceOr<Parameter>| -> Option<Parameter> {
        match p {
            ReferenceOr::Item(p) => Some(p.clone()),
            ReferenceOr::Reference { reference } => reference
                .strip_prefix("#/components/parameters/")
                .and_then(|name| components.parameters.get(name))
                .and_then(|p| p.as_item().cloned()),
        }
    };
    // Optional parameters progenitor cannot send, left out of their operation (reported).
    let unsent = std::cell::RefCell::new(Vec::<String>::new());
    let adapt = |p: &ReferenceOr<Parameter>| -> Adapted {
        let Some(mut param) = resolve_param(p) else {
            return Ok(vec![p.clone()]);
        };
        // progenitor sends query parameters only in the form style and path parameters only
        // in the simple one. A space- or pipe-delimited list is the caller's text (`a b`,
        // `a|b`); a deepObject (`filter[name]=…`) or a label or matrix path segment it
        // cannot write: optional, the parameter is left out; required, the operation.
        match &mut param {
            Parameter::Query {
                style,
                parameter_data,
                ..
            } => match style {
                openapiv3::QueryStyle::Form => {}
                openapiv3::QueryStyle::SpaceDelimited | openapiv3::QueryStyle::PipeDelimited => {
                    *style = openapiv3::QueryStyle::Form;
                    parameter_data.format =
                        openapiv3::ParameterSchemaOrContent::Schema(text_schema());
                    return Ok(vec![ReferenceOr::Item(param)]);
                }
                openapiv3::QueryStyle::DeepObject => {
                    if let Some(flat) = deep_object_as_form(parameter_data, &components) {
                        return Ok(flat);
                    }
                    if parameter_data.required {
                        return Err(format!(
                            "progenitor cannot send the deepObject query parameter `{}`",
                            parameter_data.name
                        ));
                    }
                    unsent.borrow_mut().push(format!(
                        "the optional deepObject query parameter `{}`, which progenitor cannot send",
                        parameter_data.name
                    ));
                    return Ok(Vec::new());
                }
            },
            Parameter::Path {
                style,
                parameter_data,
            } if !matches!(style, openapiv3::PathStyle::Simple) => {
                return Err(format!(
                    "progenitor cannot send the {} path parameter `{}`",
                    match style {
                        openapiv3::PathStyle::Label => "label",
                        _ => "matrix",
                    },
                    parameter_data.name
                ));
            }
            _ => {}
        }
        if let Parameter::Cookie { parameter_data, .. } = &param {
            return if parameter_data.required {
                Err(format!(
                    "progenitor cannot send cookie parameters (the required `{}`)",
                    parameter_data.name
                ))
            } else {
                Ok(Vec::new())
            };
        }
        let in_url_or_header = matches!(param, Parameter::Path { .. } | Parameter::Header { .. });
        let data = match &mut param {
            Parameter::Query { parameter_data, .. }
            | Parameter::Header { parameter_data, .. }
            | Parameter::Path { parameter_data, .. }
            | Parameter::Cookie { parameter_data, .. } => parameter_data,
        };
        // A path segment or header is text: `null` cannot be sent there, and progenitor
        // writes only a scalar there; anything else is the caller's text.
        if in_url_or_header
            && let openapiv3::ParameterSchemaOrContent::Schema(schema) = &mut data.format
        {
            if !scalar(schema, &components) {
                *schema = text_schema();
                return Ok(vec![ReferenceOr::Item(param)]);
            }
            if let ReferenceOr::Item(item) = schema
                && item.schema_data.nullable
            {
                item.schema_data.nullable = false;
                return Ok(vec![ReferenceOr::Item(param)]);
            }
        }
        if let openapiv3::ParameterSchemaOrContent::Content(_) = &data.format {
            // Its value is sent as text: the JSON (or other) text is the caller's to write.
            data.format = openapiv3::ParameterSchemaOrContent::Schema(text_schema());
            return Ok(vec![ReferenceOr::Item(param)]);
        }
        Ok(vec![p.clone()])
    };
    let schema_of = |json: serde_json::Value| -> ReferenceOr<openapiv3::Schema> {
        serde_json::from_value(json).expect("a valid schema")
    };
    let paths: Vec<String> = spec.paths.paths.keys().cloned().collect();
    for path in paths {
        let Some(ReferenceOr::Item(item)) = spec.paths.paths.get_mut(&path) else {
            continue;
        };
        // The path item's parameters become each operation's own (unless it overrides them)
        // where one of them must change; otherwise everything stays as written.
        let odd = |p: &ReferenceOr<Parameter>| {
            resolve_param(p).is_some_and(|p| {
                let in_url_or_header =
                    matches!(p, Parameter::Path { .. } | Parameter::Header { .. });
                let unsendable = in_url_or_header
                    && match &p.parameter_data_ref().format {
                        openapiv3::ParameterSchemaOrContent::Schema(s) => {
                            !scalar(s, &components)
                                || matches!(s, ReferenceOr::Item(s) if s.schema_data.nullable)
                        }
                        openapiv3::ParameterSchemaOrContent::Content(_) => false,
                    };
                unsendable
                    || styled(&p)
                    || matches!(p, Parameter::Cookie { .. })
                    || matches!(
                        p.parameter_data_ref().format,
                        openapiv3::ParameterSchemaOrContent::Content(_)
                    )
            })
        };
        // Parameters that make one Rust name also need the operation's own list.
        let clash = |params: &[&ReferenceOr<Parameter>]| {
            let mut names = std::collections::HashSet::new();
            let mut exact = std::collections::HashSet::new();
            params.iter().filter_map(|p| resolve_param(p)).any(|p| {
                let name = p.parameter_data_ref().name.clone();
                exact.insert((name.clone(), std::mem::discriminant(&p)))
                    && !names.insert(rust_name(&name))
            })
        };
        let rewrite = item.parameters.iter().any(odd)
            || item.iter().any(|(_, op)| {
                op.parameters.iter().any(odd)
                    || clash(
                        &item
                            .parameters
                            .iter()
                            .chain(op.parameters.iter())
                            .collect::<Vec<_>>(),
                    )
            });
        let shared: Vec<_> = if rewrite {
            std::mem::take(&mut item.parameters)
        } else {
            Vec::new()
        };
        for method in crate::load::METHODS {
            let pointer = format!("/paths/{}/{method}", pointer_segment(&path));
            let Some(slot) = crate::load::operation_slot(item, method) else {
                continue;
            };
            let Some(op) = slot.as_mut() else { continue };
            let mut refusal = None;
            if rewrite {
                let mut dropped = Vec::new();
                refusal = adapt_parameters(&shared, op, &adapt, &resolve_param, &mut dropped);
                for name in dropped {
                    skipped.push(Skip {
                        pointer: pointer.clone(),
                        reason: format!(
                            "left out of the Rust client: the optional parameter `{name}`, whose \
                             Rust name another parameter of the operation has"
                        ),
                    });
                }
                for what in unsent.borrow_mut().drain(..) {
                    skipped.push(Skip {
                        pointer: pointer.clone(),
                        reason: format!("left out of the Rust client: {what}"),
                    });
                }
            }
            if let Some(body) = &op.request_body {
                let body = match body {
                    ReferenceOr::Item(b) => Some(b.clone()),
                    ReferenceOr::Reference { reference } => reference
                        .strip_prefix("#/components/requestBodies/")
                        .and_then(|name| components.request_bodies.get(name))
                        .and_then(|b| b.as_item().cloned()),
                };
                if let Some(mut body) = body
                    && let Some((media, content)) = body.content.first()
                {
                    let (media, mut content) = (media.clone(), content.clone());
                    let (media, schema) = match BodyKind::of(&media) {
                        // progenitor sends JSON only as `application/json`: a body of another
                        // JSON type (`application/*+json`, `application/vnd.api.v2+json`) goes as
                        // that, which servers read alike — but not a patch document, whose type
                        // says how to apply it (JSON Patch or merge patch).
                        BodyKind::Json if media.contains("patch+json") => {
                            refusal = Some(format!(
                                "progenitor sends JSON bodies only as application/json, and {media} says how the patch applies"
                            ));
                            (media, content.schema.take())
                        }
                        BodyKind::Json => {
                            content.encoding.clear();
                            ("application/json".to_owned(), content.schema.take())
                        }
                        BodyKind::Form => {
                            content.encoding.clear();
                            (media, content.schema.take())
                        }
                        BodyKind::Multipart => {
                            refusal = Some(format!("progenitor cannot send {media} bodies"));
                            (media, content.schema.take())
                        }
                        BodyKind::Text => ("text/plain".to_owned(), Some(text_schema())),
                        BodyKind::Binary => (
                            "application/octet-stream".to_owned(),
                            Some(schema_of(
                                serde_json::json!({"type": "string", "format": "binary"}),
                            )),
                        ),
                    };
                    let schema = schema.unwrap_or_else(crate::model::any_value);
                    // Progenitor cannot take an optional body of a struct type (it stops at an
                    // `unreachable!`): such a body is required in the Rust client.
                    if !body.required && structish(&schema, &components) {
                        body.required = true;
                    }
                    content.schema = Some(schema);
                    body.content.clear();
                    body.content.insert(media, content);
                    op.request_body = Some(ReferenceOr::Item(body));
                }
            }
            one_response_type_per_outcome(op, &components);
            if matches!(*method, "options" | "trace") {
                refusal = Some(format!(
                    "progenitor cannot send {} requests (its HTTP client has no such method)",
                    method.to_uppercase()
                ));
            } else if op
                .responses
                .responses
                .contains_key(&openapiv3::StatusCode::Code(101))
            {
                refusal =
                    Some("a protocol upgrade (101), which the Rust client cannot hold".into());
            }
            if let Some(why) = refusal {
                *slot = None;
                skipped.push(Skip {
                    pointer,
                    reason: format!("left out of the Rust client: {why}"),
                });
            }
        }
    }
    (spec, skipped)
}

/// Whether a parameter is in a style progenitor does not send (it sends form query and simple
/// path parameters only): `adapt` in `for_progenitor` settles each such one.
fn styled(p: &Parameter) -> bool {
    matches!(p, Parameter::Query { style, .. } if !matches!(style, openapiv3::QueryStyle::Form))
        || matches!(p, Parameter::Path { style, .. } if !matches!(style, openapiv3::PathStyle::Simple))
}

/// A deepObject query parameter as form parameters progenitor sends with the same bytes on
/// the wire: a list of scalars as `name[]` (repeated, as Stripe's `expand[]=a&expand[]=b`),
/// an object of scalar properties as one `name[property]` each. Anything deeper: `None`.
fn deep_object_as_form(
    data: &openapiv3::ParameterData,
    components: &openapiv3::Components,
) -> Option<Vec<ReferenceOr<Parameter>>> {
    use openapiv3::{ParameterSchemaOrContent, SchemaKind, Type};
    let ParameterSchemaOrContent::Schema(schema) = &data.format else {
        return None;
    };
    let form = |name: String, schema: ReferenceOr<openapiv3::Schema>, required: bool| {
        ReferenceOr::Item(Parameter::Query {
            parameter_data: openapiv3::ParameterData {
                name,
                description: data.description.clone(),
                required,
                deprecated: data.deprecated,
                format: ParameterSchemaOrContent::Schema(schema),
                example: None,
                examples: Default::default(),
                explode: Some(true),
                extensions: Default::default(),
            },
            allow_reserved: false,
            style: openapiv3::QueryStyle::Form,
            allow_empty_value: None,
        })
    };
    match &resolved(schema, components)?.schema_kind {
        SchemaKind::Type(Type::Array(array)) => {
            let items = array.items.as_ref()?.clone().unbox();
            scalar(&items, components).then(|| {
                vec![form(
                    format!("{}[]", data.name),
                    schema.clone(),
                    data.required,
                )]
            })
        }
        SchemaKind::Type(Type::Object(object))
            if !object.properties.is_empty() && object.additional_properties.is_none() =>
        {
            object
                .properties
                .iter()
                .map(|(property, schema)| {
                    let schema = schema.clone().unbox();
                    scalar(&schema, components).then(|| {
                        let required = data.required && object.required.contains(property);
                        form(format!("{}[{property}]", data.name), schema, required)
                    })
                })
                .collect()
        }
        _ => None,
    }
}

/// `{type: string}`: a value the caller gives as text.
fn text_schema() -> ReferenceOr<openapiv3::Schema> {
    ReferenceOr::Item(openapiv3::Schema {
        schema_data: Default::default(),
        schema_kind: openapiv3::SchemaKind::Type(openapiv3::Type::String(Default::default())),
    })
}

/// The schema a `$ref` chain ends at, within `components`.
fn resolved<'a>(
    schema: &'a ReferenceOr<openapiv3::Schema>,
    components: &'a openapiv3::Components,
) -> Option<&'a openapiv3::Schema> {
    let mut current = schema;
    for _ in 0..16 {
        match current {
            ReferenceOr::Item(s) => return Some(s),
            ReferenceOr::Reference { reference } => {
                current = components
                    .schemas
                    .get(reference.strip_prefix("#/components/schemas/")?)?;
            }
        }
    }
    None
}

/// Whether a schema is an object with named properties (or a composition), through `$ref`s:
/// what typify makes a struct with a builder.
fn structish(schema: &ReferenceOr<openapiv3::Schema>, components: &openapiv3::Components) -> bool {
    use openapiv3::{SchemaKind, Type};
    resolved(schema, components).is_some_and(|s| match &s.schema_kind {
        SchemaKind::Type(Type::Object(o)) => !o.properties.is_empty(),
        SchemaKind::AllOf { .. } => true,
        SchemaKind::Any(a) => !a.properties.is_empty() || !a.all_of.is_empty(),
        _ => false,
    })
}

/// Whether a schema is one scalar value (a string, number, integer or boolean, enums
/// included), through `$ref`s.
fn scalar(schema: &ReferenceOr<openapiv3::Schema>, components: &openapiv3::Components) -> bool {
    use openapiv3::{SchemaKind, Type};
    resolved(schema, components).is_some_and(|s| {
        matches!(
            s.schema_kind,
            SchemaKind::Type(
                Type::String(_) | Type::Number(_) | Type::Integer(_) | Type::Boolean(_)
            )
        )
    })
}

/// The statuses progenitor reads as success (`None` is `default`).
fn success_status(status: Option<&openapiv3::StatusCode>) -> bool {
    match status {
        None => true,
        Some(openapiv3::StatusCode::Code(code)) => *code == 101 || (200..300).contains(code),
        Some(openapiv3::StatusCode::Range(range)) => *range == 2,
    }
}

/// The statuses progenitor reads as errors (`None` is `default`).
fn error_status(status: Option<&openapiv3::StatusCode>) -> bool {
    match status {
        None => true,
        Some(openapiv3::StatusCode::Code(code)) => (400..600).contains(code),
        Some(openapiv3::StatusCode::Range(range)) => (4..=5).contains(range),
    }
}

/// Progenitor gives an operation one success type and one error type: the responses of each
/// outcome (the success statuses, the error statuses, and both when a `default` joins them)
/// must agree. Where JSON responses of one outcome have different schemas, each gets all of
/// them (`anyOf`, a typed enum); where the outcome mixes JSON, other content and no content,
/// every response of it is read as bytes.
fn one_response_type_per_outcome(
    op: &mut openapiv3::Operation,
    components: &openapiv3::Components,
) {
    use openapiv3::StatusCode;
    let is_json =
        |media: &str| media == "application/json" || media.starts_with("application/json;");
    // Responses given as `$ref` are inlined, so each can change on its own.
    let mut responses: Vec<(Option<&StatusCode>, &mut ReferenceOr<openapiv3::Response>)> = op
        .responses
        .responses
        .iter_mut()
        .map(|(status, r)| (Some(status), r))
        .chain(op.responses.default.as_mut().map(|r| (None, r)))
        .collect();
    for (_, response) in responses.iter_mut() {
        if let ReferenceOr::Reference { reference } = response
            && let Some(found) = reference
                .strip_prefix("#/components/responses/")
                .and_then(|name| components.responses.get(name))
                .and_then(|r| r.as_item())
        {
            **response = ReferenceOr::Item(found.clone());
        }
    }
    let has_default = responses.iter().any(|(status, _)| status.is_none());
    let groups: &[fn(Option<&StatusCode>) -> bool] = if has_default {
        &[|s| success_status(s) || error_status(s)]
    } else {
        &[success_status, error_status]
    };
    for in_group in groups {
        // What each response of the outcome is: its JSON schema, other content, or nothing.
        let mut schemas: Vec<serde_json::Value> = Vec::new();
        let mut other = false;
        let mut none = false;
        for (status, response) in responses.iter() {
            let ReferenceOr::Item(response) = &**response else {
                continue;
            };
            if !in_group(*status) {
                continue;
            }
            match response.content.iter().find(|(m, _)| is_json(m)) {
                Some((_, media)) => {
                    let schema = serde_json::to_value(&media.schema).unwrap_or_default();
                    if !schemas.contains(&schema) {
                        schemas.push(schema);
                    }
                }
                None if response.content.is_empty() => none = true,
                None => other = true,
            }
        }
        let kinds = usize::from(!schemas.is_empty()) + usize::from(other) + usize::from(none);
        if kinds == 1 && schemas.len() <= 1 {
            continue;
        }
        let merged: Option<ReferenceOr<openapiv3::Schema>> = (kinds == 1)
            .then(|| serde_json::from_value(serde_json::json!({ "anyOf": schemas })).ok())
            .flatten();
        for (status, response) in responses.iter_mut() {
            let ReferenceOr::Item(response) = &mut **response else {
                continue;
            };
            if !in_group(*status) {
                continue;
            }
            match &merged {
                Some(merged) => {
                    for (media, content) in response.content.iter_mut() {
                        if is_json(media) {
                            content.schema = Some(merged.clone());
                        }
                    }
                }
                None => {
                    let content = std::mem::take(&mut response.content);
                    let schema = content.into_values().next().and_then(|c| c.schema);
                    response.content.insert(
                        "application/octet-stream".to_owned(),
                        openapiv3::MediaType {
                            schema,
                            ..Default::default()
                        },
                    );
                }
            }
        }
    }
}

/// A parameter in progenitor's terms: `None` drops it, `Err` says why the operation cannot be
/// sent.
type Adapted = Result<Vec<ReferenceOr<Parameter>>, String>;

/// Puts the path item's parameters and the operation's own, each adapted, on the operation (a
/// later one of the same name and location overrides an earlier); why it cannot be sent, if so.
fn adapt_parameters(
    shared: &[ReferenceOr<Parameter>],
    op: &mut openapiv3::Operation,
    adapt: &dyn Fn(&ReferenceOr<Parameter>) -> Adapted,
    resolve_param: &dyn Fn(&ReferenceOr<Parameter>) -> Option<Parameter>,
    dropped: &mut Vec<String>,
) -> Option<String> {
    let mut refusal = None;
    let mut parameters = Vec::new();
    for p in shared.iter().chain(op.parameters.iter()) {
        match adapt(p) {
            Ok(adapted) => parameters.extend(adapted),
            Err(why) => refusal = Some(why),
        }
    }
    let mut seen = std::collections::HashSet::new();
    let mut kept = Vec::new();
    for p in parameters.into_iter().rev() {
        let key = resolve_param(&p).map(|p| {
            let name = p.parameter_data_ref().name.clone();
            (name, std::mem::discriminant(&p))
        });
        if key.as_ref().is_none_or(|k| seen.insert(k.clone())) {
            kept.push(p);
        }
    }
    kept.reverse();
    // Progenitor names a parameter in snake case: `StartTime`, `StartTime<` and `StartTime>`
    // make one identifier. The first keeps it; a later optional one is dropped, a later
    // required one leaves the operation out.
    let mut names = std::collections::HashSet::new();
    let mut unique = Vec::new();
    for p in kept {
        match resolve_param(&p) {
            Some(param) if !names.insert(rust_name(&param.parameter_data_ref().name)) => {
                let data = param.parameter_data_ref();
                if data.required {
                    refusal = Some(format!(
                        "the parameters `{}` and another make one Rust name in progenitor",
                        data.name
                    ));
                } else {
                    dropped.push(data.name.clone());
                }
            }
            _ => unique.push(p),
        }
    }
    op.parameters = unique;
    refusal
}

/// A parameter's name as progenitor's identifiers see it.
fn rust_name(name: &str) -> String {
    use heck::ToSnakeCase;
    name.to_snake_case()
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect()
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

fn settings() -> progenitor_impl::GenerationSettings {
    let mut settings = progenitor_impl::GenerationSettings::default();
    settings
        .with_interface(progenitor_impl::InterfaceStyle::Builder)
        .with_tag(progenitor_impl::TagStyle::Merged)
        .with_derive("PartialEq")
        .with_map_type("::std::collections::BTreeMap");
    settings
}

fn progenitor(spec: &OpenAPI) -> Result<proc_macro2::TokenStream, GenError> {
    guard("progenitor", || {
        let mut generator = progenitor_impl::Generator::new(&settings());
        generator.generate_tokens(spec).map_err(|e| e.to_string())
    })
}

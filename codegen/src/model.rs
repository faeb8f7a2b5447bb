//! The generator's view of a spec: operations with resolved parameters, bodies and responses.
//!
//! Both the axum stubs and the docs read this model rather than the raw document, so `$ref`
//! resolution and "what we support" live in one place.

use heck::{ToSnakeCase, ToUpperCamelCase};
use indexmap::IndexMap;
use openapiv3::{OpenAPI, Parameter, ReferenceOr, Schema, StatusCode};

use crate::error::{GenError, pointer_segment};

/// One operation of the spec.
#[derive(Debug)]
pub struct Operation {
    pub id: String,
    pub method: String,
    pub path: String,
    pub pointer: String,
    pub summary: Option<String>,
    pub description: Option<String>,
    /// The operation's tags, in the document's order.
    pub tags: Vec<String>,
    /// Alternatives (OR) of scheme sets (AND). Empty means no credential.
    pub security: Vec<Vec<String>>,
    pub params: Vec<Param>,
    pub body: Option<Body>,
    pub responses: Vec<Response>,
}

impl Operation {
    pub fn snake(&self) -> String {
        self.id.to_snake_case()
    }
    pub fn pascal(&self) -> String {
        self.id.to_upper_camel_case()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    Path,
    Query,
    Header,
    Cookie,
}

impl Location {
    /// The location as the spec writes it (`in:`).
    pub fn name(self) -> &'static str {
        match self {
            Location::Path => "path",
            Location::Query => "query",
            Location::Header => "header",
            Location::Cookie => "cookie",
        }
    }
}

#[derive(Debug)]
pub struct Param {
    pub name: String,
    pub location: Location,
    pub required: bool,
    pub description: Option<String>,
    pub schema: ReferenceOr<Schema>,
    /// Described by `content` rather than `schema`: the value travels as that media type
    /// (JSON text, for `application/json`) in the parameter's place.
    pub content: Option<String>,
    pub pointer: String,
}

/// How a request body travels, from the media type the operation is sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BodyKind {
    /// `application/json` and `…+json`: the schema's value as JSON.
    Json,
    /// `application/x-www-form-urlencoded`: the schema's object as `key=value` pairs, nested
    /// values in brackets (`metadata[plan]=pro`, `items[0][price]=p_1`).
    Form,
    /// `multipart/form-data`: the schema's properties as parts; `format: binary` ones are files.
    Multipart,
    /// `text/*` and XML: a string.
    Text,
    /// Anything else (`application/octet-stream`, `image/png`, `*/*`): bytes.
    Binary,
}

impl BodyKind {
    /// What kind of body a media type is.
    pub fn of(media: &str) -> BodyKind {
        let essence = media
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if is_json(&essence) {
            BodyKind::Json
        } else if essence == "application/x-www-form-urlencoded" {
            BodyKind::Form
        } else if essence == "multipart/form-data" || essence == "multipart/mixed" {
            BodyKind::Multipart
        } else if essence.starts_with("text/")
            || essence == "application/xml"
            || essence.ends_with("+xml")
        {
            BodyKind::Text
        } else {
            BodyKind::Binary
        }
    }
}

/// Of the media types a body or response offers, the one generated code uses: JSON first,
/// then a form, multipart, text and bytes, in document order within each kind.
pub fn preferred_media<'a>(media: impl IntoIterator<Item = &'a String>) -> Option<&'a String> {
    media
        .into_iter()
        .enumerate()
        .min_by_key(|(index, m)| (BodyKind::of(m), *index))
        .map(|(_, m)| m)
}

#[derive(Debug)]
pub struct Body {
    pub required: bool,
    /// `x-raw-body: true`: the handler also gets the exact bytes, for a signature over them
    /// (webhooks).
    pub raw: bool,
    /// `x-stream-body: true` on a binary body: the handler gets the body unread, as a
    /// stream, with no size limit from the router (it enforces its own while reading; for
    /// uploads larger than a request is allowed to be in memory).
    pub stream: bool,
    /// The media type requests are sent with, as the spec writes it.
    pub media: String,
    pub kind: BodyKind,
    /// The value's schema (any JSON value when the spec gives none); for text and binary
    /// bodies it documents the content but the value is a string or bytes.
    pub schema: ReferenceOr<Schema>,
    /// How form and multipart properties are encoded (`encoding`), by property name.
    pub encoding: IndexMap<String, Encoding>,
    /// The schema's pointer (the media type object's, when it has no schema).
    pub pointer: String,
}

/// One property's `encoding` in a form or multipart body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoding {
    pub content_type: Option<String>,
    /// `form` (the default), `spaceDelimited`, `pipeDelimited` or `deepObject`.
    pub style: String,
    /// Whether arrays and objects become one pair per item. The document model reads an
    /// absent `explode` as false, so a `form` property is taken as exploded (its default).
    pub explode: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Code(u16),
    Range(u16),
    Default,
}

#[derive(Debug)]
pub struct Response {
    pub status: Status,
    pub description: String,
    pub content: ResponseContent,
    pub pointer: String,
}

#[derive(Debug)]
pub enum ResponseContent {
    None,
    Json(Box<ReferenceOr<Schema>>),
    Other(String),
}

/// Reads every operation of the spec, in document order. Fails on the first operation the
/// model cannot represent; a spec read through [`crate::load::load`] has none left.
pub fn operations(spec: &OpenAPI) -> Result<Vec<Operation>, GenError> {
    each_operation(spec).into_iter().collect()
}

/// The operations the model cannot represent, each with its pointer and the reason.
pub fn unsupported_operations(spec: &OpenAPI) -> Vec<crate::load::Skip> {
    each_operation(spec)
        .into_iter()
        .filter_map(Result::err)
        .map(|e| {
            let (pointer, reason) = match e {
                GenError::Unsupported { pointer, what } => (pointer, what),
                other => (String::new(), other.to_string()),
            };
            crate::load::Skip { pointer, reason }
        })
        .collect()
}

/// Every operation, read on its own: one that cannot be represented is an error that names
/// the operation (its pointer) and, in the reason, the place inside it.
fn each_operation(spec: &OpenAPI) -> Vec<Result<Operation, GenError>> {
    let mut out = Vec::new();
    for (path, item) in spec.paths.paths.iter() {
        let path_pointer = format!("/paths/{}", pointer_segment(path));
        let item = match item {
            ReferenceOr::Item(item) => item,
            ReferenceOr::Reference { .. } => {
                out.push(Err(GenError::unsupported(
                    path_pointer,
                    "a path item given as $ref",
                )));
                continue;
            }
        };
        for (method, op) in item.iter() {
            let pointer = format!("{path_pointer}/{method}");
            let read = operation(spec, path, &path_pointer, item, method, op, &pointer);
            out.push(read.map_err(|e| match e {
                GenError::Unsupported { .. } => {
                    GenError::unsupported(&pointer, e.reason_at(&pointer))
                }
                other => other,
            }));
        }
    }
    out
}

fn operation(
    spec: &OpenAPI,
    path: &str,
    path_pointer: &str,
    item: &openapiv3::PathItem,
    method: &str,
    op: &openapiv3::Operation,
    pointer: &str,
) -> Result<Operation, GenError> {
    let id = op
        .operation_id
        .clone()
        .unwrap_or_else(|| synthesized_operation_id(method, path));
    let mut params: IndexMap<(String, &'static str), Param> = IndexMap::new();
    for (index, p) in item.parameters.iter().enumerate() {
        let param = param(spec, p, &format!("{path_pointer}/parameters/{index}"))?;
        params.insert((param.name.clone(), param.location.name()), param);
    }
    for (index, p) in op.parameters.iter().enumerate() {
        let param = param(spec, p, &format!("{pointer}/parameters/{index}"))?;
        params.insert((param.name.clone(), param.location.name()), param);
    }
    let body = match &op.request_body {
        None => None,
        Some(body) => request_body(spec, body, &format!("{pointer}/requestBody"))?,
    };
    let mut responses = Vec::new();
    if let Some(default) = &op.responses.default {
        responses.push(response(
            spec,
            Status::Default,
            default,
            &format!("{pointer}/responses/default"),
        )?);
    }
    for (status, r) in op.responses.responses.iter() {
        let (status, key) = match status {
            StatusCode::Code(code) => (Status::Code(*code), code.to_string()),
            StatusCode::Range(range) => (Status::Range(*range), format!("{range}XX")),
        };
        responses.push(response(
            spec,
            status,
            r,
            &format!("{pointer}/responses/{key}"),
        )?);
    }
    let security = op
        .security
        .as_ref()
        .or(spec.security.as_ref())
        .map(|alternatives| {
            alternatives
                .iter()
                .map(|req| req.keys().cloned().collect())
                .collect()
        })
        .unwrap_or_default();
    Ok(Operation {
        id,
        method: method.to_string(),
        path: path.to_string(),
        pointer: pointer.to_string(),
        summary: op.summary.clone(),
        description: op.description.clone(),
        tags: op.tags.clone(),
        security,
        params: params.into_values().collect(),
        body,
        responses,
    })
}

/// An operation without an `operationId` is named after its method and path, the way a reader
/// would say it: `patch /pets/{petId}/owner` becomes `patch_pets_by_pet_id_owner`.
pub fn synthesized_operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_owned();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        id.push('_');
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(param) => {
                id.push_str("by_");
                id.push_str(&param.to_snake_case());
            }
            None => id.push_str(&segment.to_snake_case()),
        }
    }
    id
}

fn param(spec: &OpenAPI, p: &ReferenceOr<Parameter>, pointer: &str) -> Result<Param, GenError> {
    let (p, pointer) = match p {
        ReferenceOr::Item(p) => (p, pointer.to_string()),
        ReferenceOr::Reference { reference } => {
            let name = reference
                .strip_prefix("#/components/parameters/")
                .ok_or_else(|| GenError::unsupported(pointer, format!("reference {reference}")))?;
            let found = spec
                .components
                .as_ref()
                .and_then(|c| c.parameters.get(name))
                .ok_or_else(|| {
                    GenError::unsupported(pointer, format!("dangling reference {reference}"))
                })?;
            match found {
                ReferenceOr::Item(p) => (
                    p,
                    format!("/components/parameters/{}", pointer_segment(name)),
                ),
                ReferenceOr::Reference { .. } => {
                    return Err(GenError::unsupported(pointer, "a reference to a reference"));
                }
            }
        }
    };
    let (data, location) = match p {
        Parameter::Path { parameter_data, .. } => (parameter_data, Location::Path),
        Parameter::Query { parameter_data, .. } => (parameter_data, Location::Query),
        Parameter::Header { parameter_data, .. } => (parameter_data, Location::Header),
        Parameter::Cookie { parameter_data, .. } => (parameter_data, Location::Cookie),
    };
    let (schema, content) = match &data.format {
        openapiv3::ParameterSchemaOrContent::Schema(schema) => (schema.clone(), None),
        openapiv3::ParameterSchemaOrContent::Content(content) => {
            let media = preferred_media(content.keys()).ok_or_else(|| {
                GenError::unsupported(&pointer, "a parameter whose `content` is empty")
            })?;
            let schema = content[media].schema.clone().unwrap_or_else(any_value);
            (schema, Some(media.clone()))
        }
    };
    Ok(Param {
        name: data.name.clone(),
        location,
        required: data.required || location == Location::Path,
        description: data.description.clone(),
        schema,
        content,
        pointer,
    })
}

fn request_body(
    spec: &OpenAPI,
    body: &ReferenceOr<openapiv3::RequestBody>,
    pointer: &str,
) -> Result<Option<Body>, GenError> {
    let (body, pointer) = match body {
        ReferenceOr::Item(b) => (b, pointer.to_string()),
        ReferenceOr::Reference { reference } => {
            let name = reference
                .strip_prefix("#/components/requestBodies/")
                .ok_or_else(|| GenError::unsupported(pointer, format!("reference {reference}")))?;
            match spec
                .components
                .as_ref()
                .and_then(|c| c.request_bodies.get(name))
            {
                Some(ReferenceOr::Item(b)) => (
                    b,
                    format!("/components/requestBodies/{}", pointer_segment(name)),
                ),
                _ => {
                    return Err(GenError::unsupported(
                        pointer,
                        format!("reference {reference}"),
                    ));
                }
            }
        }
    };
    let Some(media) = preferred_media(body.content.keys()) else {
        return Ok(None);
    };
    let content = &body.content[media];
    let kind = BodyKind::of(media);
    // A body without a schema is any value of its kind.
    let schema = content.schema.clone().unwrap_or_else(any_value);
    let media_pointer = format!("{pointer}/content/{}", pointer_segment(media));
    let encoding = content
        .encoding
        .iter()
        .map(|(name, e)| {
            let style = e
                .style
                .as_ref()
                .and_then(|s| serde_json::to_value(s).ok())
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| "form".to_owned());
            let explode = e.explode || style == "form";
            let content_type = e.content_type.clone();
            (
                name.clone(),
                Encoding {
                    content_type,
                    style,
                    explode,
                },
            )
        })
        .collect();
    Ok(Some(Body {
        required: body.required,
        raw: body.extensions.get("x-raw-body") == Some(&serde_json::Value::Bool(true)),
        stream: kind == BodyKind::Binary
            && body.extensions.get("x-stream-body") == Some(&serde_json::Value::Bool(true)),
        media: media.clone(),
        kind,
        schema,
        encoding,
        pointer: if content.schema.is_some() {
            format!("{media_pointer}/schema")
        } else {
            media_pointer
        },
    }))
}

fn response(
    spec: &OpenAPI,
    status: Status,
    r: &ReferenceOr<openapiv3::Response>,
    pointer: &str,
) -> Result<Response, GenError> {
    let (r, pointer) = match r {
        ReferenceOr::Item(r) => (r, pointer.to_string()),
        ReferenceOr::Reference { reference } => {
            let name = reference
                .strip_prefix("#/components/responses/")
                .ok_or_else(|| GenError::unsupported(pointer, format!("reference {reference}")))?;
            match spec.components.as_ref().and_then(|c| c.responses.get(name)) {
                Some(ReferenceOr::Item(r)) => (
                    r,
                    format!("/components/responses/{}", pointer_segment(name)),
                ),
                _ => {
                    return Err(GenError::unsupported(
                        pointer,
                        format!("reference {reference}"),
                    ));
                }
            }
        }
    };
    let content = if let Some((_, content)) = r.content.iter().find(|(m, _)| is_json(m)) {
        // A JSON response without a schema is any JSON value.
        ResponseContent::Json(Box::new(content.schema.clone().unwrap_or_else(any_value)))
    } else if let Some(media) = preferred_media(r.content.keys()) {
        ResponseContent::Other(media.clone())
    } else {
        ResponseContent::None
    };
    Ok(Response {
        status,
        description: r.description.clone(),
        content,
        pointer,
    })
}

/// The schema of any JSON value.
pub(crate) fn any_value() -> ReferenceOr<Schema> {
    ReferenceOr::Item(Schema {
        schema_data: Default::default(),
        schema_kind: openapiv3::SchemaKind::Any(Default::default()),
    })
}

pub fn is_json(media: &str) -> bool {
    media == "application/json"
        || media.starts_with("application/json;")
        || media.ends_with("+json")
}

/// Follows a `#/components/schemas/…` reference to the schema it names.
pub fn resolve<'a>(spec: &'a OpenAPI, schema: &'a ReferenceOr<Schema>) -> Option<&'a Schema> {
    let mut current = schema;
    for _ in 0..16 {
        match current {
            ReferenceOr::Item(s) => return Some(s),
            ReferenceOr::Reference { reference } => {
                let name = reference.strip_prefix("#/components/schemas/")?;
                current = spec.components.as_ref()?.schemas.get(name)?;
            }
        }
    }
    None
}

/// The spec's component schemas, as JSON, sorted by name so generated output is deterministic.
pub fn component_schemas(document: &serde_json::Value) -> Vec<(&String, &serde_json::Value)> {
    let mut schemas: Vec<_> = document["components"]["schemas"]
        .as_object()
        .map(|map| map.iter().collect())
        .unwrap_or_default();
    schemas.sort_by(|a, b| a.0.cmp(b.0));
    schemas
}

/// The name of the component a `$ref` points to, with the fragment's escapes decoded
/// (`%XX`, then JSON Pointer's `~1` for `/` and `~0` for `~`), so every target sees the same
/// name as the key under `components.schemas`.
pub fn ref_name(reference: &str) -> Option<std::borrow::Cow<'_, str>> {
    let escaped = reference.strip_prefix("#/components/schemas/")?;
    if !escaped.contains(['%', '~']) {
        return Some(std::borrow::Cow::Borrowed(escaped));
    }
    let decoded = crate::load::percent_decode(escaped);
    Some(std::borrow::Cow::Owned(
        decoded.replace("~1", "/").replace("~0", "~"),
    ))
}

#[cfg(test)]
mod tests {
    use super::ref_name;

    #[test]
    fn a_reference_names_its_component_with_escapes_decoded() {
        assert_eq!(ref_name("#/components/schemas/Pet").as_deref(), Some("Pet"));
        assert_eq!(
            ref_name("#/components/schemas/a~1b~0c").as_deref(),
            Some("a/b~c")
        );
        assert_eq!(
            ref_name("#/components/schemas/Caf%C3%A9").as_deref(),
            Some("Café")
        );
        // `%7E1` decodes to `~1`, which is then a pointer escape: percent first, as RFC 6901 §6.
        assert_eq!(
            ref_name("#/components/schemas/x%7E1y").as_deref(),
            Some("x/y")
        );
        assert_eq!(ref_name("#/components/responses/Pet"), None);
    }
}

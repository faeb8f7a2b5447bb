//! The TypeScript client: a type for every schema of the spec, and one `fetch`-based function
//! per operation whose result is a union discriminated by HTTP status, so a caller narrowing on
//! `status` gets the body type that status documents. No runtime dependencies: the output is
//! one ES module that runs in Node 20 and browsers.
//!
//! Schemas map as: enums to unions of literals, `nullable` to `| null` (kept apart from an
//! optional property, `?:`), `allOf` to intersections, `oneOf`/`anyOf` to unions, and a
//! discriminator to a tagged union whose members carry their tag as a literal type.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use heck::{ToLowerCamelCase, ToUpperCamelCase};
use openapiv3::OpenAPI;
use serde_json::Value;

use crate::error::{GenError, pointer_segment};
use crate::format::generated_header;
use crate::load::Skip;
use crate::model::{self, BodyKind, Location, Operation, ResponseContent, Status};

/// Names of globals a schema type must not shadow; such a schema gets the suffix `Object`.
const GLOBALS: &[&str] = &[
    "Array",
    "Boolean",
    "Date",
    "Error",
    "Function",
    "Headers",
    "Map",
    "Number",
    "Object",
    "Promise",
    "Record",
    "Request",
    "RequestInit",
    "Response",
    "Set",
    "String",
    "Symbol",
    "ApiResponse",
    "ClientOptions",
    "UnexpectedStatusError",
];

/// Words a generated function or type cannot be named.
const RESERVED: &[&str] = &[
    "await",
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "debugger",
    "default",
    "delete",
    "do",
    "else",
    "enum",
    "export",
    "extends",
    "false",
    "finally",
    "for",
    "function",
    "if",
    "implements",
    "import",
    "in",
    "instanceof",
    "interface",
    "let",
    "new",
    "null",
    "package",
    "private",
    "protected",
    "public",
    "return",
    "static",
    "super",
    "switch",
    "this",
    "throw",
    "true",
    "try",
    "typeof",
    "var",
    "void",
    "while",
    "with",
    "yield",
];

/// `name`, made a valid identifier: a leading digit gets `_`, a reserved word a trailing `_`.
fn identifier(name: &str) -> String {
    let name = if name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{name}")
    } else {
        name.to_owned()
    };
    if RESERVED.contains(&name.as_str()) {
        format!("{name}_")
    } else {
        name
    }
}

/// Generates the TypeScript module for `spec`; fails on the first part it cannot generate.
pub fn generate(spec: &OpenAPI, source: &str) -> Result<String, GenError> {
    let (code, skipped) = generate_lenient(spec, source)?;
    crate::load::strict(code, skipped)
}

/// Generates the TypeScript module for every part of `spec` it can: a schema it cannot
/// render becomes `unknown`, an operation it cannot generate is left out; each is listed.
pub fn generate_lenient(spec: &OpenAPI, source: &str) -> Result<(String, Vec<Skip>), GenError> {
    let document = serde_json::to_value(spec).map_err(|e| GenError::Parse(e.to_string()))?;
    let operations = model::operations(spec)?;
    let mut skipped = Vec::new();
    let mut out = generated_header(source);
    out.push_str(PRELUDE);

    let schemas = model::component_schemas(&document);
    // Two schemas must not share a name; an operation's `…Params`/`…Result` that would take a
    // schema's (or another operation's) name gets a number.
    let mut taken: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    for (name, _) in &schemas {
        let ty = type_name(name);
        let pointer = format!("/components/schemas/{}", pointer_segment(name));
        if let Some(first) = taken.insert(ty.clone(), pointer.clone()) {
            return Err(GenError::unsupported(
                pointer,
                format!("a second type named {ty} (the first comes from {first})"),
            ));
        }
    }
    let mut names = Vec::new();
    for op in &operations {
        let pascal = op.id.to_upper_camel_case();
        let mut n = 1;
        let (params, result) = loop {
            let suffix = if n == 1 { String::new() } else { n.to_string() };
            let params = format!("{pascal}Params{suffix}");
            let result = format!("{pascal}Result{suffix}");
            if !taken.contains_key(&params) && !taken.contains_key(&result) {
                break (params, result);
            }
            n += 1;
        };
        taken.insert(params.clone(), op.pointer.clone());
        taken.insert(result.clone(), op.pointer.clone());
        names.push((params, result));
    }
    if !schemas.is_empty() {
        out.push_str("\n// Schemas\n");
    }
    for (name, schema) in schemas {
        let pointer = format!("/components/schemas/{}", pointer_segment(name));
        let ty = match render(&document, schema, &pointer, 0) {
            Ok(ty) => ty,
            Err(e) => {
                skipped.push(Skip::of(&e, &pointer, "typed as unknown"));
                "unknown".to_string()
            }
        };
        out.push('\n');
        doc_comment(&mut out, "", &[schema["description"].as_str()]);
        let _ = writeln!(out, "export type {} = {ty};", type_name(name));
    }

    out.push_str("\n// Operations\n");
    for (op, (params, result)) in operations.iter().zip(&names) {
        let mut code = String::new();
        match operation(&mut code, &document, op, params, result) {
            Ok(()) => out.push_str(&code),
            Err(e) => skipped.push(Skip::of(
                &e,
                &op.pointer,
                "left out of the TypeScript client",
            )),
        }
    }
    out.push_str(RUNTIME);
    Ok((out, skipped))
}

/// The TypeScript name of a component schema.
pub fn type_name(name: &str) -> String {
    let pascal = identifier(&name.to_upper_camel_case());
    if GLOBALS.contains(&pascal.as_str()) {
        format!("{pascal}Object")
    } else {
        pascal
    }
}

fn doc_comment(out: &mut String, indent: &str, parts: &[Option<&str>]) {
    let lines: Vec<String> = parts
        .iter()
        .flatten()
        .filter(|p| !p.trim().is_empty())
        .map(|p| p.trim().replace("*/", "*\\/"))
        .collect();
    if lines.is_empty() {
        return;
    }
    let text = lines.join("\n\n");
    if !text.contains('\n') && text.len() + indent.len() < 90 {
        let _ = writeln!(out, "{indent}/** {text} */");
        return;
    }
    let _ = writeln!(out, "{indent}/**");
    for line in text.lines() {
        if line.is_empty() {
            let _ = writeln!(out, "{indent} *");
        } else {
            let _ = writeln!(out, "{indent} * {line}");
        }
    }
    let _ = writeln!(out, "{indent} */");
}

fn property_key(name: &str) -> String {
    let identifier = name.chars().enumerate().all(|(i, c)| {
        c == '_' || c == '$' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())
    });
    if identifier && !name.is_empty() {
        name.to_owned()
    } else {
        serde_json::to_string(name).expect("a string serializes")
    }
}

/// Wraps a union or intersection in parentheses where precedence needs it.
fn atom(ty: String) -> String {
    let mut depth = 0i32;
    let mut compound = false;
    for c in ty.chars() {
        match c {
            '{' | '(' | '<' | '[' => depth += 1,
            '}' | ')' | '>' | ']' => depth -= 1,
            '|' | '&' if depth == 0 => compound = true,
            _ => {}
        }
    }
    if compound { format!("({ty})") } else { ty }
}

/// Renders a schema (OpenAPI JSON) as a TypeScript type; `indent` is the nesting depth.
fn render(
    document: &Value,
    schema: &Value,
    pointer: &str,
    indent: usize,
) -> Result<String, GenError> {
    let base = render_base(document, schema, pointer, indent)?;
    if schema.get("nullable") == Some(&Value::Bool(true)) && base != "unknown" {
        Ok(format!("{} | null", atom(base)))
    } else {
        Ok(base)
    }
}

fn render_base(
    document: &Value,
    schema: &Value,
    pointer: &str,
    indent: usize,
) -> Result<String, GenError> {
    if schema.get("x-dreamgen-blob").is_some() {
        return Ok("Blob".into());
    }
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        return reference
            .strip_prefix("#/components/schemas/")
            .map(type_name)
            .ok_or_else(|| GenError::unsupported(pointer, format!("reference {reference}")));
    }
    if schema.get("not").is_some() && schema.get("type").is_none() {
        // "Anything but …" has no TypeScript type; the value is not narrowed.
        return Ok("unknown".into());
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let literals: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        return Ok(if literals.is_empty() {
            "never".into()
        } else {
            literals.join(" | ")
        });
    }
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        let mut rendered = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            rendered.push(atom(render(
                document,
                part,
                &format!("{pointer}/allOf/{i}"),
                indent,
            )?));
        }
        // Properties beside `allOf` belong to the same object.
        if schema.get("properties").is_some() {
            rendered.push(object(document, schema, pointer, indent)?);
        }
        return Ok(rendered.join(" & "));
    }
    for keyword in ["oneOf", "anyOf"] {
        if let Some(members) = schema.get(keyword).and_then(Value::as_array) {
            return union(
                document,
                schema,
                members,
                &format!("{pointer}/{keyword}"),
                indent,
            );
        }
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("string") => Ok("string".into()),
        Some("integer") | Some("number") => Ok("number".into()),
        Some("boolean") => Ok("boolean".into()),
        Some("array") => {
            let items = schema
                .get("items")
                .ok_or_else(|| GenError::unsupported(pointer, "an array schema without `items`"))?;
            let item = render(document, items, &format!("{pointer}/items"), indent)?;
            Ok(format!("Array<{item}>"))
        }
        Some("object") => object(document, schema, pointer, indent),
        None if schema.get("properties").is_some() => object(document, schema, pointer, indent),
        None => Ok("unknown".into()),
        Some(other) => Err(GenError::unsupported(pointer, format!("type {other:?}"))),
    }
}

fn object(
    document: &Value,
    schema: &Value,
    pointer: &str,
    indent: usize,
) -> Result<String, GenError> {
    let required: BTreeSet<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let properties = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties");
    let extra = match additional {
        None | Some(Value::Bool(true)) => Some("unknown".to_owned()),
        Some(Value::Bool(false)) => None,
        Some(other) => Some(render(
            document,
            other,
            &format!("{pointer}/additionalProperties"),
            indent,
        )?),
    };
    let Some(properties) = properties.filter(|p| !p.is_empty()) else {
        return Ok(match extra {
            // An index signature rather than `Record<…>`, so a map of itself is legal.
            Some(value) => format!("{{ [key: string]: {value} }}"),
            None => "Record<string, never>".into(),
        });
    };
    let pad = "  ".repeat(indent + 1);
    let mut out = String::from("{\n");
    for (name, property) in properties {
        let ty = render(
            document,
            property,
            &format!("{pointer}/properties/{}", pointer_segment(name)),
            indent + 1,
        )?;
        doc_comment(&mut out, &pad, &[property["description"].as_str()]);
        let optional = if required.contains(name.as_str()) {
            ""
        } else {
            "?"
        };
        let readonly = if property.get("readOnly") == Some(&Value::Bool(true)) {
            "readonly "
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{pad}{readonly}{}{optional}: {ty};",
            property_key(name)
        );
    }
    // Named properties keep their types; any others are what `additionalProperties` allows
    // (the index signature must admit the named ones too, hence `unknown` unless all agree).
    if additional.is_some_and(|a| a != &Value::Bool(false)) {
        let _ = writeln!(out, "{pad}[key: string]: unknown;");
    }
    let _ = write!(out, "{}}}", "  ".repeat(indent));
    Ok(out)
}

fn union(
    document: &Value,
    schema: &Value,
    members: &[Value],
    pointer: &str,
    indent: usize,
) -> Result<String, GenError> {
    let discriminator = schema.get("discriminator");
    let property = discriminator.and_then(|d| d["propertyName"].as_str());
    let mapping = discriminator
        .and_then(|d| d.get("mapping"))
        .and_then(Value::as_object);
    let mut rendered = Vec::new();
    for (i, member) in members.iter().enumerate() {
        let ty = atom(render(document, member, &format!("{pointer}/{i}"), indent)?);
        let tags: Vec<String> = match (property, member.get("$ref").and_then(Value::as_str)) {
            (Some(_), Some(reference)) => {
                let name = model::ref_name(reference).unwrap_or(reference.into());
                // Mapping values may be a `$ref` or a bare schema name; every key naming this
                // member is one of its tags, and without a mapping the tag is the schema name.
                let mapped: Vec<String> = mapping
                    .map(|m| {
                        m.iter()
                            .filter(|(_, target)| {
                                target.as_str() == Some(reference)
                                    || target.as_str() == Some(&*name)
                            })
                            .map(|(tag, _)| tag.clone())
                            .collect()
                    })
                    .unwrap_or_default();
                if mapped.is_empty() {
                    vec![name.into_owned()]
                } else {
                    mapped
                }
            }
            _ => Vec::new(),
        };
        match property {
            Some(property) if !tags.is_empty() => {
                let literals: Vec<String> = tags
                    .iter()
                    .map(|t| serde_json::to_string(t).expect("a string serializes"))
                    .collect();
                rendered.push(format!(
                    "({ty} & {{ {}: {} }})",
                    property_key(property),
                    literals.join(" | ")
                ));
            }
            _ => rendered.push(ty),
        }
    }
    Ok(if rendered.is_empty() {
        "never".into()
    } else {
        rendered.join(" | ")
    })
}

/// The keys of an operation's parameters in its `params` object: the name in lower camel
/// case; a name that clashes with another parameter's (or `body`) gets its location, and one
/// that still clashes a number, in document order. A name with no letters or digits is `param`.
fn param_keys(op: &Operation) -> Vec<String> {
    let base = |name: &str| {
        let key = name.to_lower_camel_case();
        identifier(if key.is_empty() { "param" } else { &key })
    };
    let mut keys: Vec<String> = Vec::new();
    for (index, param) in op.params.iter().enumerate() {
        let key = base(&param.name);
        let clash = key == "body"
            || op
                .params
                .iter()
                .enumerate()
                .any(|(i, p)| i != index && base(&p.name) == key);
        let mut key = if clash {
            let location = param.location.name().to_upper_camel_case();
            format!("{key}{location}")
        } else {
            key
        };
        if keys.contains(&key) {
            let mut n = 2;
            while keys.contains(&format!("{key}{n}")) {
                n += 1;
            }
            key = format!("{key}{n}");
        }
        keys.push(key);
    }
    keys
}

/// How a parameter is serialized (`style`, `explode`), checked against what its location
/// allows; the defaults are `form` exploded for query and cookie parameters and `simple`
/// otherwise.
fn style(document: &Value, param: &model::Param) -> Result<(String, bool), GenError> {
    let declared = document
        .pointer(&param.pointer)
        .cloned()
        .unwrap_or_default();
    let default_style = default_style(param.location);
    let style = declared["style"]
        .as_str()
        .unwrap_or(default_style)
        .to_string();
    let explode = declared["explode"].as_bool().unwrap_or(style == "form");
    let allowed: &[&str] = match param.location {
        Location::Query => &["form", "spaceDelimited", "pipeDelimited", "deepObject"],
        Location::Path => &["simple", "label", "matrix"],
        Location::Header => &["simple"],
        Location::Cookie => &["form"],
    };
    if allowed.contains(&style.as_str()) {
        Ok((style, explode))
    } else {
        Err(GenError::unsupported(
            &param.pointer,
            format!("the style {style:?} for a parameter in this location"),
        ))
    }
}

fn default_style(location: Location) -> &'static str {
    match location {
        Location::Query | Location::Cookie => "form",
        Location::Path | Location::Header => "simple",
    }
}

/// The type of a multipart body: the schema's object, its `format: binary` properties (and
/// arrays of them) files, as `Blob` (a `File` is one).
fn multipart_type(document: &Value, schema: &Value, pointer: &str) -> Result<String, GenError> {
    let mut resolved = (schema.clone(), pointer.to_owned());
    for _ in 0..16 {
        match resolved.0.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let target = reference
                    .strip_prefix('#')
                    .and_then(|p| document.pointer(p))
                    .ok_or_else(|| {
                        GenError::unsupported(pointer, format!("reference {reference}"))
                    })?;
                resolved = (target.clone(), reference.trim_start_matches('#').to_owned());
            }
            None => break,
        }
    }
    let (mut object, pointer) = resolved;
    let is_file = |s: &Value| s["type"] == "string" && s["format"] == "binary";
    let Some(properties) = object.get_mut("properties").and_then(Value::as_object_mut) else {
        return render(document, schema, &pointer, 1);
    };
    // Files are marked in a copy of the schema; `render` types the marked ones as `Blob`.
    for property in properties.values_mut() {
        if is_file(property) {
            *property = serde_json::json!({"x-dreamgen-blob": true});
        } else if property["type"] == "array" && is_file(&property["items"]) {
            property["items"] = serde_json::json!({"x-dreamgen-blob": true});
        }
    }
    render(document, &object, &pointer, 1)
}

fn operation(
    out: &mut String,
    document: &Value,
    op: &Operation,
    params_type: &str,
    result_type: &str,
) -> Result<(), GenError> {
    let function = identifier(&op.id.to_lower_camel_case());

    // The parameters object.
    let keys = param_keys(op);
    let mut fields = String::new();
    let mut styles = Vec::new();
    let mut json_params = Vec::new();
    let mut any_required = false;
    for (index, param) in op.params.iter().enumerate() {
        let schema =
            serde_json::to_value(&param.schema).map_err(|e| GenError::Parse(e.to_string()))?;
        let (style, explode) = style(document, param)?;
        let default = style == default_style(param.location) && explode == (style == "form");
        if param.content.as_deref().is_some_and(model::is_json) {
            json_params.push(serde_json::to_string(&param.name).expect("a string serializes"));
        } else if !default {
            styles.push(format!(
                "{}: [{:?}, {explode}]",
                serde_json::to_string(&param.name).expect("a string serializes"),
                style
            ));
        }
        let schema_pointer = match &param.content {
            Some(media) => format!(
                "{}/content/{}/schema",
                param.pointer,
                pointer_segment(media)
            ),
            None => format!("{}/schema", param.pointer),
        };
        let ty = render(document, &schema, &schema_pointer, 1)?;
        let cookie = (param.location == Location::Cookie)
            .then_some("Sent in the `Cookie` header, which browsers do not let a page set.");
        let json = param
            .content
            .as_deref()
            .is_some_and(model::is_json)
            .then_some("Sent as JSON text.");
        doc_comment(
            &mut fields,
            "  ",
            &[param.description.as_deref(), cookie, json],
        );
        let optional = if param.required { "" } else { "?" };
        any_required |= param.required;
        let _ = writeln!(fields, "  {}{optional}: {ty};", keys[index]);
    }
    let mut body_encoding = Vec::new();
    if let Some(body) = &op.body {
        let schema =
            serde_json::to_value(&body.schema).map_err(|e| GenError::Parse(e.to_string()))?;
        let (ty, doc) = match body.kind {
            BodyKind::Json => (
                render(document, &schema, &body.pointer, 1)?,
                "The JSON request body.".to_owned(),
            ),
            BodyKind::Form => (
                render(document, &schema, &body.pointer, 1)?,
                format!(
                    "The request body, sent as `{}`: nested values in brackets (`a[b]=c`).",
                    body.media
                ),
            ),
            BodyKind::Multipart => (
                multipart_type(document, &schema, &body.pointer)?,
                format!(
                    "The request body, sent as `{}`: a `Blob` (or `File`) is a file part, \
                     an object is sent as JSON text.",
                    body.media
                ),
            ),
            BodyKind::Text => (
                "string".to_owned(),
                format!("The request body, sent as `{}`.", body.media),
            ),
            BodyKind::Binary => (
                "Blob | ArrayBuffer | Uint8Array | string".to_owned(),
                format!("The request body, sent as `{}`.", body.media),
            ),
        };
        for (name, encoding) in &body.encoding {
            if encoding.style != "form" || !encoding.explode {
                body_encoding.push(format!(
                    "{}: [{:?}, {}]",
                    serde_json::to_string(name).expect("a string serializes"),
                    encoding.style,
                    encoding.explode
                ));
            }
        }
        let optional = if body.required { "" } else { "?" };
        any_required |= body.required;
        doc_comment(&mut fields, "  ", &[Some(&doc)]);
        let _ = writeln!(fields, "  body{optional}: {ty};");
    }
    let has_params = !fields.is_empty();

    // The result union.
    let mut members = Vec::new();
    let mut documented = Vec::new();
    let mut open = false;
    for response in &op.responses {
        let status = match response.status {
            Status::Code(code) => {
                documented.push(code.to_string());
                code.to_string()
            }
            Status::Range(_) | Status::Default => {
                open = true;
                "number".to_owned()
            }
        };
        let body = match &response.content {
            ResponseContent::Json(schema) => {
                let schema = serde_json::to_value(schema.as_ref())
                    .map_err(|e| GenError::Parse(e.to_string()))?;
                render(document, &schema, &response.pointer, 1)?
            }
            ResponseContent::Other(media) => match BodyKind::of(media) {
                BodyKind::Binary => "Blob".to_owned(),
                _ => "string".to_owned(),
            },
            ResponseContent::None => "undefined".to_owned(),
        };
        members.push(format!("  | ApiResponse<{status}, {body}>"));
    }
    if members.is_empty() {
        // No documented response (3.1 allows it): any status, any body.
        members.push("  | ApiResponse<number, unknown>".to_string());
        open = true;
    }

    out.push('\n');
    if has_params {
        let _ = writeln!(out, "/** The parameters of `{}`. */", op.id);
        let _ = writeln!(out, "export interface {params_type} {{\n{fields}}}");
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "/** Every response `{}` documents, by status. */",
        op.id
    );
    let _ = writeln!(out, "export type {result_type} =\n{};", members.join("\n"));
    out.push('\n');
    let route = format!("`{} {}`", op.method.to_uppercase(), op.path);
    doc_comment(
        out,
        "",
        &[
            op.summary.as_deref(),
            op.description.as_deref(),
            Some(&route),
        ],
    );
    let params_arg = match (has_params, any_required) {
        (false, _) => String::new(),
        (true, true) => format!(", params: {params_type}"),
        (true, false) => format!(", params: {params_type} = {{}}"),
    };
    let _ = writeln!(
        out,
        "export function {function}(options: ClientOptions{params_arg}): Promise<{result_type}> {{"
    );
    let group = |location: Location| -> String {
        let entries: Vec<String> = op
            .params
            .iter()
            .enumerate()
            .filter(|(_, p)| p.location == location)
            .map(|(i, p)| {
                format!(
                    "{}: params.{}",
                    serde_json::to_string(&p.name).expect("a string serializes"),
                    keys[i]
                )
            })
            .collect();
        format!("{{ {} }}", entries.join(", ")).replace("{  }", "{}")
    };
    let body = if op.body.is_some() {
        "params.body"
    } else {
        "undefined"
    };
    let _ = writeln!(out, "  return __send(options, {{");
    let _ = writeln!(out, "    operationId: {:?},", op.id);
    let _ = writeln!(out, "    method: {:?},", op.method.to_uppercase());
    let _ = writeln!(out, "    path: {:?},", op.path);
    let _ = writeln!(out, "    pathParams: {},", group(Location::Path));
    let _ = writeln!(out, "    query: {},", group(Location::Query));
    let _ = writeln!(out, "    headers: {},", group(Location::Header));
    if op.params.iter().any(|p| p.location == Location::Cookie) {
        let _ = writeln!(out, "    cookies: {},", group(Location::Cookie));
    }
    if !styles.is_empty() {
        let _ = writeln!(out, "    styles: {{ {} }},", styles.join(", "));
    }
    if !json_params.is_empty() {
        let _ = writeln!(out, "    json: [{}],", json_params.join(", "));
    }
    let _ = writeln!(out, "    body: {body},");
    if let Some(body) = op.body.as_ref().filter(|b| b.kind != BodyKind::Json) {
        let kind = match body.kind {
            BodyKind::Form => "form",
            BodyKind::Multipart => "multipart",
            BodyKind::Text => "text",
            BodyKind::Json | BodyKind::Binary => "binary",
        };
        let _ = writeln!(
            out,
            "    content: [{kind:?}, {}],",
            serde_json::to_string(&body.media).expect("a string serializes")
        );
        if !body_encoding.is_empty() {
            let _ = writeln!(out, "    encoding: {{ {} }},", body_encoding.join(", "));
        }
    }
    let _ = writeln!(out, "    documented: [{}],", documented.join(", "));
    let _ = writeln!(out, "    open: {open},");
    let _ = writeln!(out, "  }}) as Promise<{result_type}>;");
    let _ = writeln!(out, "}}");
    Ok(())
}

const PRELUDE: &str = r#"/** How the generated functions reach the API. */
export interface ClientOptions {
  /** The API's base URL, such as `http://localhost:8787`. */
  baseUrl: string;
  /** Headers sent with every request, such as credentials. */
  headers?: Record<string, string>;
  /** The `fetch` to use; the global one by default. */
  fetch?: typeof globalThis.fetch;
  /** Aborts the request. */
  signal?: AbortSignal;
}

/** A documented response: its status, its body as the spec types it, and its headers. */
export interface ApiResponse<S extends number, B> {
  status: S;
  body: B;
  headers: globalThis.Headers;
}

/** A response with a status the operation does not document. */
export class UnexpectedStatusError extends globalThis.Error {
  readonly operationId: string;
  readonly status: number;
  readonly body: unknown;
  readonly headers: globalThis.Headers;
  constructor(operationId: string, status: number, body: unknown, headers: globalThis.Headers) {
    super(`${operationId} answered with undocumented status ${status}`);
    this.name = "UnexpectedStatusError";
    this.operationId = operationId;
    this.status = status;
    this.body = body;
    this.headers = headers;
  }
}
"#;

const RUNTIME: &str = r#"
// Runtime

interface __Call {
  operationId: string;
  method: string;
  path: string;
  pathParams: Record<string, unknown>;
  query: Record<string, unknown>;
  headers: Record<string, unknown>;
  cookies?: Record<string, unknown>;
  body: unknown;
  /** Parameters not sent the default way: `[style, explode]` by name. */
  styles?: Record<string, readonly [string, boolean]>;
  /** Parameters sent as JSON text (described by `content`). */
  json?: readonly string[];
  /** A body other than JSON: how it is sent and its media type. */
  content?: readonly ["form" | "multipart" | "text" | "binary", string];
  /** Form properties not sent the default way: `[style, explode]` by name. */
  encoding?: Record<string, readonly [string, boolean]>;
  /** The statuses the operation documents. */
  documented: readonly number[];
  /** Whether a range or default response covers any other status. */
  open: boolean;
}

/** An array's items, or an object's keys and values (`k,v` or, exploded, `k=v`), as text. */
function __items(value: unknown, explode: boolean, encode: (text: string) => string): string[] {
  if (Array.isArray(value)) return value.map((item) => encode(String(item)));
  if (value !== null && typeof value === "object") {
    return Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .flatMap(([k, v]) => (explode ? [`${encode(k)}=${encode(String(v))}`] : [encode(k), encode(String(v))]));
  }
  return [encode(String(value))];
}

/** A path parameter in its style: `simple` (`a,b`), `label` (`.a.b`) or `matrix` (`;id=a,b`). */
function __pathValue(name: string, value: unknown, style: string, explode: boolean): string {
  const items = __items(value, explode, encodeURIComponent);
  if (style === "label") return "." + items.join(explode ? "." : ",");
  if (style === "matrix") {
    if (explode && Array.isArray(value)) return items.map((item) => `;${name}=${item}`).join("");
    if (explode && value !== null && typeof value === "object") return items.map((item) => `;${item}`).join("");
    return `;${name}=${items.join(",")}`;
  }
  return items.join(",");
}

/** A query parameter in its style: `form`, `spaceDelimited`, `pipeDelimited` or `deepObject`. */
function __queryValue(search: URLSearchParams, name: string, value: unknown, style: string, explode: boolean): void {
  if (style === "deepObject" && value !== null && typeof value === "object" && !Array.isArray(value)) {
    for (const [key, item] of Object.entries(value)) {
      if (item === undefined || item === null) continue;
      if (typeof item === "object") __queryValue(search, `${name}[${key}]`, item, style, explode);
      else search.append(`${name}[${key}]`, String(item));
    }
    return;
  }
  if (Array.isArray(value)) {
    if (style === "form" && explode) {
      for (const item of value) search.append(name, String(item));
      return;
    }
    const separator = style === "spaceDelimited" ? " " : style === "pipeDelimited" ? "|" : ",";
    search.append(name, value.map(String).join(separator));
    return;
  }
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    if (explode) for (const [key, item] of entries) search.append(key, String(item));
    else search.append(name, entries.flatMap(([key, item]) => [key, String(item)]).join(","));
    return;
  }
  search.append(name, String(value));
}

/** A value nested in a form, in brackets: `name[key]` for objects, `name[0]` for arrays. */
function __formNested(search: URLSearchParams, name: string, value: unknown): void {
  if (value === undefined) return;
  if (Array.isArray(value)) {
    value.forEach((item, index) => __formNested(search, `${name}[${index}]`, item));
  } else if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) __formNested(search, `${name}[${key}]`, item);
  } else {
    search.append(name, value === null ? "" : String(value));
  }
}

/** A form body: each property in its style (`form` exploded by default); values `form` cannot
 * express (objects inside arrays, nested objects) and `deepObject` properties in brackets. */
function __formBody(value: unknown, encoding: Record<string, readonly [string, boolean]>): URLSearchParams {
  const search = new URLSearchParams();
  for (const [name, item] of Object.entries(value ?? {})) {
    if (item === undefined) continue;
    const [style, explode] = encoding[name] ?? ["form", true];
    const nested = (v: unknown) => v !== null && typeof v === "object";
    if (style === "deepObject" || (Array.isArray(item) ? item.some(nested) : nested(item) && Object.values(item as object).some(nested))) {
      __formNested(search, name, item);
    } else if (item === null) {
      search.append(name, "");
    } else {
      __queryValue(search, name, item, style, explode);
    }
  }
  return search;
}

/** A multipart body: a `Blob` is a file part, an array one part per item, an object JSON text. */
function __multipartBody(value: unknown): FormData {
  const form = new FormData();
  const part = (name: string, item: unknown) => {
    if (item === undefined || item === null) return;
    if (item instanceof Blob) form.append(name, item);
    else if (typeof item === "object") form.append(name, JSON.stringify(item));
    else form.append(name, String(item));
  };
  for (const [name, item] of Object.entries(value ?? {})) {
    if (Array.isArray(item)) for (const each of item) part(name, each);
    else part(name, item);
  }
  return form;
}

/** The request body and its content type (none for multipart: `fetch` adds the boundary). */
function __body(call: __Call): [BodyInit, string | undefined] {
  const [kind, media] = call.content ?? ["json", "application/json"];
  switch (kind) {
    case "form":
      return [__formBody(call.body, call.encoding ?? {}), media];
    case "multipart":
      return [__multipartBody(call.body), undefined];
    case "text":
      return [String(call.body), media];
    case "binary": {
      const body = call.body as Blob | ArrayBuffer | Uint8Array | string;
      // A wildcard (`*/*`, `image/*`) is no content type: a Blob's own type, or bytes.
      const concrete = media.includes("*") ? (body instanceof Blob && body.type) || "application/octet-stream" : media;
      return [body as BodyInit, concrete];
    }
    default:
      return [JSON.stringify(call.body), "application/json"];
  }
}

async function __send(options: ClientOptions, call: __Call): Promise<ApiResponse<number, unknown>> {
  const styleOf = (name: string, fallback: readonly [string, boolean]) => call.styles?.[name] ?? fallback;
  const encoded = (name: string, value: unknown) => (call.json?.includes(name) ? JSON.stringify(value) : value);
  let path = call.path;
  for (const [name, raw] of Object.entries(call.pathParams)) {
    const value = encoded(name, raw);
    const [style, explode] = styleOf(name, ["simple", false]);
    const text = __pathValue(name, value, style, explode);
    // `.` and `..` survive percent-encoding and would move the request to another path.
    if (text === "" || text === "." || text === "..") {
      throw new TypeError(`${call.operationId}: path parameter ${name} cannot be ${JSON.stringify(text)}`);
    }
    path = path.replace(`{${name}}`, text);
  }
  const search = new URLSearchParams();
  for (const [name, raw] of Object.entries(call.query)) {
    if (raw === undefined || raw === null) continue;
    const [style, explode] = styleOf(name, ["form", true]);
    __queryValue(search, name, encoded(name, raw), style, explode);
  }
  const query = search.toString();
  const url = options.baseUrl.replace(/\/+$/, "") + path + (query ? `?${query}` : "");
  const headers: Record<string, string> = { accept: "application/json", ...options.headers };
  for (const [name, raw] of Object.entries(call.headers)) {
    if (raw === undefined || raw === null) continue;
    const [, explode] = styleOf(name, ["simple", false]);
    headers[name] = __items(encoded(name, raw), explode, (text) => text).join(",");
  }
  const cookies = Object.entries(call.cookies ?? {})
    .filter(([, value]) => value !== undefined && value !== null)
    .map(([name, value]) => `${name}=${__items(encoded(name, value), false, encodeURIComponent).join(",")}`);
  if (cookies.length > 0) headers["cookie"] = [headers["cookie"], ...cookies].filter(Boolean).join("; ");
  const init: RequestInit = { method: call.method, headers, signal: options.signal ?? null };
  if (call.body !== undefined) {
    const [body, contentType] = __body(call);
    if (contentType !== undefined) headers["content-type"] = contentType;
    init.body = body;
  }
  // Called as a plain function: `window.fetch` refuses any other `this`.
  const fetchFunction = options.fetch ?? globalThis.fetch;
  const response = await fetchFunction(url, init);
  const contentType = (response.headers.get("content-type") ?? "").toLowerCase();
  let body: unknown;
  if (contentType !== "" && !/json|^text\/|xml|urlencoded/.test(contentType)) {
    // Bytes (an image, a download) stay bytes.
    const blob = await response.blob();
    body = blob.size === 0 ? undefined : blob;
  } else {
    const text = await response.text();
    body = text === "" ? undefined : text;
    if (contentType.includes("json") && text !== "") {
      try {
        body = JSON.parse(text);
      } catch {
        // A body that claims to be JSON and is not stays text.
      }
    }
  }
  if (!call.open && !call.documented.includes(response.status)) {
    throw new UnexpectedStatusError(call.operationId, response.status, body, response.headers);
  }
  return { status: response.status, body, headers: response.headers };
}
"#;

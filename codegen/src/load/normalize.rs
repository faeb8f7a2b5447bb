//! OpenAPI 3.0 and 3.1 documents brought to the one 3.0 form the targets read: the walk
//! over the document's objects (paths, operations, parameters, bodies, responses,
//! components). Schemas themselves are rewritten in `schema.rs`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{METHODS, Skip};
use crate::error::{GenError, pointer_segment};

/// The document in the form the targets read, and what was left out or changed on the way.
#[derive(Debug)]
pub struct Normalized {
    pub document: Value,
    pub skipped: Vec<Skip>,
}

/// Brings a parsed OpenAPI 3.0 or 3.1 document to the 3.0 form the targets read.
pub fn normalize(mut document: Value) -> Result<Normalized, GenError> {
    let version = document
        .get("openapi")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if !(version.starts_with("3.0") || version.starts_with("3.1")) {
        let what = if document.get("swagger").is_some() {
            "a Swagger 2.0 document; convert it to OpenAPI 3 first".to_string()
        } else {
            format!("OpenAPI version {version:?}; 3.0 and 3.1 are supported")
        };
        return Err(GenError::unsupported("/openapi", what));
    }
    let Some(root) = document.as_object_mut() else {
        return Err(GenError::Parse("the document is not an object".into()));
    };
    let component_idents = root
        .get("components")
        .and_then(|c| c.get("schemas"))
        .and_then(Value::as_object)
        .map(|schemas| {
            use heck::ToUpperCamelCase;
            schemas.keys().map(|k| k.to_upper_camel_case()).collect()
        })
        .unwrap_or_default();
    let includers = includers(root);
    let mut n = Normalizer {
        skipped: Vec::new(),
        hoisted: BTreeMap::new(),
        original: Value::Object(root.clone()),
        new_schemas: Vec::new(),
        component_idents,
        includers,
    };
    root.insert("openapi".into(), "3.0.3".into());
    // 3.1 only, or nothing a client or server stub is generated from.
    for key in ["webhooks", "jsonSchemaDialect"] {
        if root.remove(key).is_some() && key == "webhooks" {
            n.skip(
                "/webhooks",
                "webhooks (requests the API sends, not operations it serves)",
            );
        }
    }
    if let Some(info) = root.get_mut("info").and_then(Value::as_object_mut) {
        info.remove("summary");
        if let Some(license) = info.get_mut("license").and_then(Value::as_object_mut) {
            license.remove("identifier");
        }
    }
    if !root.contains_key("info") {
        root.insert("info".into(), json!({ "title": "API", "version": "0" }));
    }
    if !root.get("paths").is_some_and(Value::is_object) {
        root.insert("paths".into(), json!({}));
    }

    // Components first: hoisted schemas join them.
    if let Some(components) = root.get_mut("components").and_then(Value::as_object_mut) {
        components.remove("pathItems");
        let pointer = "/components";
        if let Some(schemas) = components.get_mut("schemas").and_then(Value::as_object_mut) {
            for (name, schema) in schemas.iter_mut() {
                let p = format!("{pointer}/schemas/{}", pointer_segment(name));
                n.schema(schema, &p);
            }
        }
        for kind in ["parameters", "headers"] {
            if let Some(items) = components.get_mut(kind).and_then(Value::as_object_mut) {
                for (name, item) in items.iter_mut() {
                    let p = format!("{pointer}/{kind}/{}", pointer_segment(name));
                    n.parameter(item, &p);
                }
            }
        }
        if let Some(items) = components
            .get_mut("requestBodies")
            .and_then(Value::as_object_mut)
        {
            for (name, item) in items.iter_mut() {
                let p = format!("{pointer}/requestBodies/{}", pointer_segment(name));
                n.content_holder(item, &p);
            }
        }
        if let Some(items) = components
            .get_mut("responses")
            .and_then(Value::as_object_mut)
        {
            for (name, item) in items.iter_mut() {
                let p = format!("{pointer}/responses/{}", pointer_segment(name));
                n.response(item, &p);
            }
        }
        components.remove("callbacks");
    }

    // Paths: a path item given as `$ref` is inlined, then every operation normalized.
    let mut paths = root
        .remove("paths")
        .and_then(|p| match p {
            Value::Object(map) => Some(map),
            _ => None,
        })
        .unwrap_or_default();
    for (path, item) in paths.iter_mut() {
        let p = format!("/paths/{}", pointer_segment(path));
        n.path_item(item, &p);
    }
    root.insert("paths".into(), Value::Object(paths));

    if !n.new_schemas.is_empty() {
        let components = root
            .entry("components")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("components is an object");
        let schemas = components
            .entry("schemas")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("schemas is an object");
        for (name, schema) in std::mem::take(&mut n.new_schemas) {
            schemas.insert(name, schema);
        }
    }
    split_nullable_compositions(&mut document);
    // The place a hoisted schema came from refers to it now: left inline, typify would name
    // it after its parent and property, which is the hoisted component's name too.
    for (reference, name) in &n.hoisted {
        let Some(at) = reference.strip_prefix('#') else {
            continue;
        };
        if let Some(slot) = document.pointer_mut(&percent_decode(at))
            && slot.is_object()
        {
            *slot = json!({ "$ref": format!("#/components/schemas/{}", pointer_segment(name)) });
        }
    }
    rename_clashing_schemas(&mut document);
    Ok(Normalized {
        document,
        skipped: n.skipped,
    })
}

/// A component that is a nullable composition (`allOf`/`anyOf`/`oneOf` with `nullable`) is
/// split in two: `XNonNull`, the composition, and `X`, a nullable reference to it. Left whole,
/// typify names both the optional and what it holds after the component
/// (`AccountProductAccessNullable(Option<AccountProductAccessNullable>)`).
fn split_nullable_compositions(document: &mut Value) {
    let Some(schemas) = document
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let simple_reference = |map: &Map<String, Value>| {
        map.get("allOf")
            .and_then(Value::as_array)
            .is_some_and(|parts| parts.len() == 1 && parts[0].get("$ref").is_some())
            && map
                .keys()
                .all(|k| ["allOf", "nullable", "description", "title"].contains(&k.as_str()))
    };
    let split: Vec<String> = schemas
        .iter()
        .filter_map(|(name, schema)| {
            let map = schema.as_object()?;
            let composed = ["allOf", "anyOf", "oneOf"]
                .iter()
                .any(|k| map.contains_key(*k));
            (map.get("nullable") == Some(&Value::Bool(true))
                && composed
                && !map.contains_key("type")
                && !simple_reference(map))
            .then(|| name.clone())
        })
        .collect();
    for name in split {
        let mut value_name = format!("{name}NonNull");
        while schemas.contains_key(&value_name) {
            value_name.push('_');
        }
        let mut inner = schemas.shift_remove(&name).expect("listed above");
        let map = inner.as_object_mut().expect("an object");
        map.remove("nullable");
        let mut outer = json!({
            "allOf": [{ "$ref": format!("#/components/schemas/{}", pointer_segment(&value_name)) }],
            "nullable": true,
        });
        if let Some(description) = map.get("description") {
            outer["description"] = description.clone();
        }
        schemas.insert(value_name, inner);
        schemas.insert(name, outer);
    }
}

/// Component schemas whose names make the same identifier (`Database_type` and
/// `DatabaseType` are both `DatabaseType` in Rust and TypeScript) are told apart once for every
/// target: the later one in document order takes a number (`Database_type2`), and every
/// reference to it (and discriminator mapping) follows.
fn rename_clashing_schemas(document: &mut Value) {
    use heck::ToUpperCamelCase;
    let Some(schemas) = document
        .pointer("/components/schemas")
        .and_then(Value::as_object)
    else {
        return;
    };
    let names: Vec<String> = schemas.keys().cloned().collect();
    let mut taken: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let mut renames: BTreeMap<String, String> = BTreeMap::new();
    for name in &names {
        let ident = name.to_upper_camel_case();
        if taken.insert(ident) {
            continue;
        }
        let mut n = 2;
        let renamed = loop {
            let candidate = format!("{name}{n}");
            if !names.contains(&candidate) && !taken.contains(&candidate.to_upper_camel_case()) {
                break candidate;
            }
            n += 1;
        };
        taken.insert(renamed.to_upper_camel_case());
        renames.insert(name.clone(), renamed);
    }
    if renames.is_empty() {
        return;
    }
    if let Some(schemas) = document
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        let old = std::mem::take(schemas);
        for (name, schema) in old {
            let name = renames.get(&name).cloned().unwrap_or(name);
            schemas.insert(name, schema);
        }
    }
    let refs: BTreeMap<String, String> = renames
        .iter()
        .map(|(old, new)| {
            (
                format!("#/components/schemas/{}", pointer_segment(old)),
                format!("#/components/schemas/{}", pointer_segment(new)),
            )
        })
        .collect();
    follow_renames(document, &refs, &renames);
}

fn follow_renames(
    value: &mut Value,
    refs: &BTreeMap<String, String>,
    names: &BTreeMap<String, String>,
) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get_mut("$ref")
                && let Some(new) = refs.get(reference.as_str())
            {
                *reference = new.clone();
            }
            if let Some(Value::Object(mapping)) = map
                .get_mut("discriminator")
                .and_then(|d| d.get_mut("mapping"))
            {
                for target in mapping.values_mut() {
                    if let Value::String(t) = target {
                        if let Some(new) = refs.get(t.as_str()) {
                            *t = new.clone();
                        } else if let Some(new) = names.get(t.as_str()) {
                            *t = new.clone();
                        }
                    }
                }
            }
            for child in map.values_mut() {
                follow_renames(child, refs, names);
            }
        }
        Value::Array(items) => {
            for child in items {
                follow_renames(child, refs, names);
            }
        }
        _ => {}
    }
}

pub(super) struct Normalizer {
    pub(super) skipped: Vec<Skip>,
    /// `$ref` targets outside `#/components/schemas/<name>` given a component of their own:
    /// target pointer → component name.
    pub(super) hoisted: BTreeMap<String, String>,
    /// The document as parsed, to resolve references against.
    pub(super) original: Value,
    pub(super) new_schemas: Vec<(String, Value)>,
    /// The identifiers the component schemas' names make (`UpperCamelCase`); an inline
    /// schema's `title`, which typify would name its type by, must not take one.
    pub(super) component_idents: std::collections::BTreeSet<String>,
    /// For each component schema (by its pointer segment), the components that take it in
    /// through `allOf` references, directly or not: typify merges it into each of those and
    /// names its inline properties' types after them too.
    pub(super) includers: BTreeMap<String, Vec<String>>,
}

/// The components that take each component in through `allOf`, transitively, keyed and
/// listed by their pointer segments (see [`Normalizer::includers`]).
fn includers(root: &Map<String, Value>) -> BTreeMap<String, Vec<String>> {
    fn all_of_refs(schema: &Value, out: &mut Vec<String>) {
        for branch in schema
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            match branch.get("$ref").and_then(Value::as_str) {
                Some(reference) => {
                    if let Some(name) = reference.strip_prefix("#/components/schemas/") {
                        out.push(percent_decode(name));
                    }
                }
                None => all_of_refs(branch, out),
            }
        }
    }
    let Some(schemas) = root
        .get("components")
        .and_then(|c| c.get("schemas"))
        .and_then(Value::as_object)
    else {
        return BTreeMap::new();
    };
    let mut direct: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, schema) in schemas {
        let mut bases = Vec::new();
        all_of_refs(schema, &mut bases);
        for base in bases {
            direct
                .entry(base)
                .or_default()
                .push(percent_decode(&pointer_segment(name)));
        }
    }
    let mut out = BTreeMap::new();
    for base in direct.keys() {
        let mut seen = std::collections::BTreeSet::new();
        let mut queue = vec![base.clone()];
        while let Some(next) = queue.pop() {
            for includer in direct.get(&next).into_iter().flatten() {
                if includer != base && seen.insert(includer.clone()) {
                    queue.push(includer.clone());
                }
            }
        }
        out.insert(base.clone(), seen.into_iter().collect());
    }
    out
}

impl Normalizer {
    pub(super) fn skip(&mut self, pointer: impl Into<String>, reason: impl Into<String>) {
        self.skipped.push(Skip {
            pointer: pointer.into(),
            reason: reason.into(),
        });
    }

    /// Follows a local `$ref` to its value in the document as parsed. The fragment is a URI
    /// fragment: percent-escapes (`%7B` for `{`) are decoded before it is read as a pointer.
    pub(super) fn target(&self, reference: &str) -> Option<Value> {
        let pointer = reference.strip_prefix('#')?;
        self.original.pointer(&percent_decode(pointer)).cloned()
    }

    fn path_item(&mut self, item: &mut Value, pointer: &str) {
        // `$ref` to another path item (`#/components/pathItems/…`, `#/paths/…`): inline it,
        // keeping anything written beside the reference.
        for _ in 0..8 {
            let Some(reference) = item.get("$ref").and_then(Value::as_str).map(str::to_string)
            else {
                break;
            };
            match self.target(&reference) {
                Some(Value::Object(target)) => {
                    let map = item
                        .as_object_mut()
                        .expect("a path item with $ref is an object");
                    map.remove("$ref");
                    for (k, v) in target {
                        map.entry(k).or_insert(v);
                    }
                }
                _ => {
                    self.skip(
                        pointer,
                        format!("a path item referencing {reference}, which cannot be resolved"),
                    );
                    *item = json!({});
                    return;
                }
            }
        }
        let Some(map) = item.as_object_mut() else {
            *item = json!({});
            return;
        };
        if let Some(params) = map.get_mut("parameters").and_then(Value::as_array_mut) {
            for (i, param) in params.iter_mut().enumerate() {
                self.parameter(param, &format!("{pointer}/parameters/{i}"));
            }
        }
        for method in METHODS {
            if let Some(op) = map.get_mut(*method) {
                self.operation(op, &format!("{pointer}/{method}"));
            }
        }
    }

    fn operation(&mut self, op: &mut Value, pointer: &str) {
        let Some(map) = op.as_object_mut() else {
            return;
        };
        // Requests the API sends back: not part of the client or the server stubs.
        map.remove("callbacks");
        // 3.1 lets an operation document no response at all.
        map.entry("responses").or_insert_with(|| json!({}));
        if let Some(params) = map.get_mut("parameters").and_then(Value::as_array_mut) {
            for (i, param) in params.iter_mut().enumerate() {
                self.parameter(param, &format!("{pointer}/parameters/{i}"));
            }
        }
        if let Some(body) = map.get_mut("requestBody") {
            self.content_holder(body, &format!("{pointer}/requestBody"));
        }
        if let Some(responses) = map.get_mut("responses").and_then(Value::as_object_mut) {
            for (status, response) in responses.iter_mut() {
                self.response(
                    response,
                    &format!("{pointer}/responses/{}", pointer_segment(status)),
                );
            }
        }
    }

    /// A parameter or header object (or a reference to one).
    fn parameter(&mut self, param: &mut Value, pointer: &str) {
        if self.component_reference(param, pointer, "parameters")
            || self.component_reference(param, pointer, "headers")
        {
            return;
        }
        if let Some(schema) = param.get_mut("schema") {
            self.schema(schema, &format!("{pointer}/schema"));
        }
        self.content(param, pointer);
        if let Some(map) = param.as_object_mut() {
            map.remove("examples");
        }
    }

    /// A request body (or a reference to one).
    fn content_holder(&mut self, holder: &mut Value, pointer: &str) {
        if self.component_reference(holder, pointer, "requestBodies") {
            return;
        }
        self.content(holder, pointer);
    }

    fn response(&mut self, response: &mut Value, pointer: &str) {
        if self.component_reference(response, pointer, "responses") {
            return;
        }
        self.content(response, pointer);
        if let Some(headers) = response.get_mut("headers").and_then(Value::as_object_mut) {
            for (name, header) in headers.iter_mut() {
                self.parameter(
                    header,
                    &format!("{pointer}/headers/{}", pointer_segment(name)),
                );
            }
        }
        if let Some(map) = response.as_object_mut() {
            map.remove("links");
            if !map.contains_key("description") {
                map.insert("description".into(), "".into());
            }
        }
    }

    fn content(&mut self, holder: &mut Value, pointer: &str) {
        if let Some(content) = holder.get_mut("content").and_then(Value::as_object_mut) {
            for (media, entry) in content.iter_mut() {
                let p = format!("{pointer}/content/{}", pointer_segment(media));
                if let Some(map) = entry.as_object_mut() {
                    map.remove("examples");
                    if let Some(encoding) = map.get_mut("encoding").and_then(Value::as_object_mut) {
                        for field in encoding.values_mut() {
                            if let Some(headers) =
                                field.get_mut("headers").and_then(Value::as_object_mut)
                            {
                                headers.clear();
                            }
                        }
                    }
                }
                if let Some(schema) = entry.get_mut("schema") {
                    self.schema(schema, &format!("{p}/schema"));
                }
            }
        }
    }

    /// A `$ref` to a component of `kind`: kept when it names one directly, inlined when it
    /// points somewhere else (another operation's parameter, a path). True when `value` was
    /// a reference (and so is done).
    fn component_reference(&mut self, value: &mut Value, pointer: &str, kind: &str) -> bool {
        let Some(reference) = value
            .get("$ref")
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            return false;
        };
        let prefix = format!("#/components/{kind}/");
        if let Some(name) = reference.strip_prefix(&prefix)
            && !name.contains('/')
        {
            // Siblings of a reference to a component mean nothing in 3.0.
            *value = json!({ "$ref": reference });
            return true;
        }
        if reference.starts_with("#/components/") && !reference.starts_with(&prefix) {
            // Another kind of component: the next check.
            return false;
        }
        match self.target(&reference) {
            Some(mut target) if target.get("$ref").is_none() => {
                match kind {
                    "responses" => self.response(&mut target, pointer),
                    "requestBodies" => self.content_holder(&mut target, pointer),
                    _ => self.parameter(&mut target, pointer),
                }
                *value = target;
            }
            _ => {
                self.skip(
                    pointer,
                    format!("a reference {reference} that cannot be resolved"),
                );
                *value = match kind {
                    "responses" => json!({ "description": "" }),
                    _ => json!({ "$ref": reference }),
                };
            }
        }
        true
    }
}

/// Decodes `%XX` escapes; anything that is not a valid escape is kept as written.
pub(crate) fn percent_decode(text: &str) -> String {
    if !text.contains('%') {
        return text.to_string();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(value: Value) -> Value {
        let doc = json!({
            "openapi": "3.1.0",
            "info": {"title": "t", "version": "1"},
            "paths": {},
            "components": {"schemas": {"S": value}},
        });
        normalize(doc).unwrap().document["components"]["schemas"]["S"].clone()
    }

    #[test]
    fn type_arrays_become_nullable() {
        assert_eq!(
            schema(json!({"type": ["string", "null"]})),
            json!({"type": "string", "nullable": true})
        );
        assert_eq!(
            schema(json!({"type": ["string", "integer"]})),
            json!({"anyOf": [{"type": "string"}, {"type": "integer"}]})
        );
        assert_eq!(
            schema(json!({"type": "null"})),
            json!({"nullable": true, "enum": [null]})
        );
    }

    #[test]
    fn const_and_examples() {
        assert_eq!(
            schema(json!({"const": "a", "examples": ["a"]})),
            json!({"example": "a", "enum": ["a"]})
        );
    }

    #[test]
    fn ref_with_siblings_is_an_all_of() {
        let doc = json!({
            "openapi": "3.1.0",
            "info": {"title": "t", "version": "1"},
            "paths": {},
            "components": {"schemas": {
                "A": {"type": "object"},
                "B": {"$ref": "#/components/schemas/A", "description": "d", "required": ["x"]},
            }},
        });
        let out = normalize(doc).unwrap().document;
        assert_eq!(
            out["components"]["schemas"]["B"],
            json!({"allOf": [{"$ref": "#/components/schemas/A"}, {"required": ["x"]}]})
        );
    }

    #[test]
    fn a_reference_into_a_property_is_hoisted() {
        let doc = json!({
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "1"},
            "paths": {},
            "components": {"schemas": {
                "A": {"type": "object", "properties": {"b": {"type": "string"}}},
                "C": {"$ref": "#/components/schemas/A/properties/b"},
            }},
        });
        let out = normalize(doc).unwrap().document;
        assert_eq!(
            out["components"]["schemas"]["C"],
            json!({"$ref": "#/components/schemas/A_b"})
        );
        assert_eq!(
            out["components"]["schemas"]["A_b"],
            json!({"type": "string"})
        );
    }

    #[test]
    fn a_reference_with_percent_escapes_is_followed() {
        let doc = json!({
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "1"},
            "paths": {
                "/a/{id}": {"get": {"responses": {"404": {"description": "gone"}}}},
                "/b": {"get": {"responses": {
                    "404": {"$ref": "#/paths/~1a~1%7Bid%7D/get/responses/404"}
                }}},
            },
        });
        let out = normalize(doc).unwrap();
        assert!(out.skipped.is_empty(), "{:?}", out.skipped);
        assert_eq!(
            out.document["paths"]["/b"]["get"]["responses"]["404"],
            json!({"description": "gone"})
        );
    }

    #[test]
    fn schemas_that_make_the_same_identifier_are_told_apart() {
        let doc = json!({
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "1"},
            "paths": {},
            "components": {"schemas": {
                "DatabaseType": {"type": "string"},
                "Database_type": {"type": "integer"},
                "Uses": {"properties": {"a": {"$ref": "#/components/schemas/Database_type"}}},
            }},
        });
        let out = normalize(doc).unwrap().document;
        let schemas = &out["components"]["schemas"];
        assert_eq!(schemas["Database_type2"], json!({"type": "integer"}));
        assert!(schemas.get("Database_type").is_none());
        assert_eq!(
            schemas["Uses"]["properties"]["a"],
            json!({"$ref": "#/components/schemas/Database_type2"})
        );
    }

    #[test]
    fn a_union_of_a_type_and_null_is_the_type_nullable() {
        let out = schema(json!({"anyOf": [{"type": "integer"}, {"type": "null"}], "title": "N"}));
        assert_eq!(
            out,
            json!({"type": "integer", "nullable": true, "title": "N"})
        );
        let out = schema(json!({"anyOf": [{"$ref": "#/components/schemas/S"}, {"type": "null"}]}));
        assert_eq!(
            out,
            json!({"allOf": [{"$ref": "#/components/schemas/S"}], "nullable": true})
        );
        let kept = json!({"anyOf": [{"type": "integer"}, {"type": "string"}]});
        assert_eq!(schema(kept.clone()), kept);
    }

    #[test]
    fn a_nullable_composition_is_split_in_two() {
        let doc = json!({
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "1"},
            "paths": {},
            "components": {"schemas": {
                "A": {"type": "object"},
                "ANullable": {"allOf": [{"$ref": "#/components/schemas/A"}, {"type": "object"}], "nullable": true},
            }},
        });
        let out = normalize(doc).unwrap().document;
        let schemas = &out["components"]["schemas"];
        assert_eq!(
            schemas["ANullable"],
            json!({"allOf": [{"$ref": "#/components/schemas/ANullableNonNull"}], "nullable": true})
        );
        assert_eq!(
            schemas["ANullableNonNull"],
            json!({"allOf": [{"$ref": "#/components/schemas/A"}, {"type": "object"}]})
        );
    }

    #[test]
    fn a_title_that_names_a_component_is_dropped() {
        let doc = json!({
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "1"},
            "paths": {},
            "components": {"schemas": {
                "Template": {"title": "Template", "type": "object"},
                "Uses": {"properties": {
                    "a": {"title": "template", "type": "string"},
                    "b": {"title": "Other", "type": "string"},
                }},
            }},
        });
        let out = normalize(doc).unwrap().document;
        let schemas = &out["components"]["schemas"];
        assert!(schemas["Template"].get("title").is_none());
        assert_eq!(
            schemas["Uses"]["properties"]["a"],
            json!({"type": "string"})
        );
        assert_eq!(schemas["Uses"]["properties"]["b"]["title"], "Other");
    }

    #[test]
    fn big_integer_bounds_are_dropped() {
        let out = schema(json!({"type": "integer", "maximum": 18446744073709552000.0_f64}));
        assert_eq!(out, json!({"type": "integer"}));
    }
}

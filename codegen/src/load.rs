//! Reading a document: YAML or JSON text, OpenAPI 3.0 or 3.1, into the one form every target
//! renders from.
//!
//! The form is an OpenAPI 3.0 document whose schemas use the 3.0 dialect (`nullable`, one
//! `type`, `enum` for constants), every `$ref` names a component (`#/components/<kind>/<name>`),
//! and every operation in it can be generated: what cannot is taken out and reported as a
//! [`Skip`] with its JSON pointer, and what had to be changed to fit is reported as a note.
//! Everything a target needs to know about the input's dialect and oddities ends here.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::error::{GenError, pointer_segment};

/// Something in the document that was left out or changed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    /// Where, as a JSON pointer into the document as written.
    pub pointer: String,
    /// What was left out or changed, and why.
    pub reason: String,
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

/// Parses YAML or JSON text into a JSON value. JSON is read by a JSON parser (surrogate
/// pairs, control characters, numbers past 64 bits as the JSON grammar allows); YAML by a YAML
/// parser with merge keys (`<<`) applied and non-string keys (`200:`) turned into strings.
pub fn parse_text(text: &str) -> Result<Value, GenError> {
    let text = text.trim_start_matches('\u{feff}');
    if text.trim_start().starts_with('{') {
        return serde_json::from_str(text).map_err(|e| GenError::Parse(e.to_string()));
    }
    let mut yaml: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|e| GenError::Parse(e.to_string()))?;
    yaml.apply_merge()
        .map_err(|e| GenError::Parse(e.to_string()))?;
    Ok(yaml_to_json(yaml))
}

fn yaml_to_json(value: serde_yaml::Value) -> Value {
    use serde_yaml::Value as Y;
    match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!(i)
            } else if let Some(u) = n.as_u64() {
                json!(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(Value::Null, Value::Number)
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(yaml_to_json).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (yaml_key(k), yaml_to_json(v)))
                .collect(),
        ),
        Y::Tagged(tagged) => yaml_to_json(tagged.value),
    }
}

fn yaml_key(key: serde_yaml::Value) -> String {
    match yaml_to_json(key) {
        Value::String(s) => s,
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

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
    let mut n = Normalizer {
        skipped: Vec::new(),
        hoisted: BTreeMap::new(),
        original: Value::Object(root.clone()),
        new_schemas: Vec::new(),
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
    rename_clashing_schemas(&mut document);
    Ok(Normalized {
        document,
        skipped: n.skipped,
    })
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

struct Normalizer {
    skipped: Vec<Skip>,
    /// `$ref` targets outside `#/components/schemas/<name>` given a component of their own:
    /// target pointer → component name.
    hoisted: BTreeMap<String, String>,
    /// The document as parsed, to resolve references against.
    original: Value,
    new_schemas: Vec<(String, Value)>,
}

impl Normalizer {
    fn skip(&mut self, pointer: impl Into<String>, reason: impl Into<String>) {
        self.skipped.push(Skip {
            pointer: pointer.into(),
            reason: reason.into(),
        });
    }

    /// Follows a local `$ref` to its value in the document as parsed. The fragment is a URI
    /// fragment: percent-escapes (`%7B` for `{`) are decoded before it is read as a pointer.
    fn target(&self, reference: &str) -> Option<Value> {
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

    /// Rewrites one schema (and everything under it) into the 3.0 dialect.
    fn schema(&mut self, schema: &mut Value, pointer: &str) {
        match schema {
            Value::Bool(true) => {
                *schema = json!({});
                return;
            }
            Value::Bool(false) => {
                *schema = json!({ "not": {} });
                return;
            }
            Value::Object(_) => {}
            _ => {
                self.skip(pointer, "a schema that is not an object; read as any value");
                *schema = json!({});
                return;
            }
        }
        let map = schema.as_object_mut().expect("checked above");

        if let Some(reference) = map.get("$ref").and_then(Value::as_str).map(str::to_string) {
            let target = self.schema_reference(&reference, pointer);
            map.remove("$ref");
            // 3.1 lets keywords sit beside `$ref` and apply with it; annotations alone do
            // not change the type.
            for key in [
                "description",
                "summary",
                "title",
                "example",
                "examples",
                "$comment",
            ] {
                map.remove(key);
            }
            let nullable = map.remove("nullable") == Some(Value::Bool(true));
            let rest: Map<String, Value> = std::mem::take(map);
            let mut out = match target {
                Some(target) if rest.is_empty() => json!({ "$ref": target }),
                Some(target) => {
                    let mut rest = Value::Object(rest);
                    self.schema(&mut rest, pointer);
                    json!({ "allOf": [{ "$ref": target }, rest] })
                }
                None => Value::Object(rest),
            };
            if nullable {
                out = json!({ "allOf": [out], "nullable": true });
            }
            *schema = out;
            return;
        }

        // Keywords 3.0 does not have, that carry no type for a client (validation-only or
        // annotations), are dropped.
        for key in [
            "$schema",
            "$id",
            "$anchor",
            "$dynamicAnchor",
            "$dynamicRef",
            "$comment",
            "$vocabulary",
            "contentSchema",
            "dependentRequired",
            "dependentSchemas",
            "if",
            "then",
            "else",
            "propertyNames",
            "contains",
            "minContains",
            "maxContains",
            "unevaluatedItems",
            "patternProperties",
            "xml",
            "externalDocs",
            "$defs",
            "definitions",
        ] {
            map.remove(key);
        }
        if let Some(Value::Array(examples)) = map.remove("examples")
            && !map.contains_key("example")
            && let Some(first) = examples.into_iter().next()
        {
            map.insert("example".into(), first);
        }
        if let Some(value) = map.remove("const") {
            map.insert("enum".into(), Value::Array(vec![value]));
        }
        if let Some(unevaluated) = map.remove("unevaluatedProperties")
            && !map.contains_key("additionalProperties")
        {
            map.insert("additionalProperties".into(), unevaluated);
        }
        // Numeric exclusive bounds: 3.1 gives the bound, 3.0 a flag beside `minimum`.
        for (exclusive, inclusive) in [
            ("exclusiveMinimum", "minimum"),
            ("exclusiveMaximum", "maximum"),
        ] {
            if let Some(bound) = map.get(exclusive).filter(|v| v.is_number()).cloned() {
                map.insert(inclusive.into(), bound);
                map.insert(exclusive.into(), Value::Bool(true));
            }
        }
        // File contents described the 3.1 way.
        let encoded = map.remove("contentEncoding");
        let media = map.remove("contentMediaType");
        if map.get("type").and_then(Value::as_str) == Some("string") && !map.contains_key("format")
        {
            if encoded.as_ref().and_then(Value::as_str) == Some("base64") {
                map.insert("format".into(), "byte".into());
            } else if media.is_some() {
                map.insert("format".into(), "binary".into());
            }
        }

        self.types(map, pointer);
        self.bounds(map, pointer);

        // Recurse into subschemas.
        for key in ["properties"] {
            if let Some(props) = map.get_mut(key).and_then(Value::as_object_mut) {
                for (name, sub) in props.iter_mut() {
                    self.schema(sub, &format!("{pointer}/{key}/{}", pointer_segment(name)));
                }
            }
        }
        for key in ["items", "not"] {
            if let Some(sub) = map.get_mut(key) {
                if sub.is_array() && key == "items" {
                    // Draft-4 tuple form.
                    let items = std::mem::take(sub);
                    *sub = json!({ "anyOf": items });
                }
                self.schema(sub, &format!("{pointer}/{key}"));
            }
        }
        if let Some(sub) = map.get_mut("additionalProperties")
            && !sub.is_boolean()
        {
            self.schema(sub, &format!("{pointer}/additionalProperties"));
        }
        if let Some(Value::Array(prefix)) = map.remove("prefixItems") {
            let mut members = prefix;
            if let Some(rest) = map.remove("items")
                && rest != Value::Bool(false)
            {
                members.push(rest);
            }
            let mut items = if members.is_empty() {
                json!({})
            } else {
                json!({ "anyOf": members })
            };
            self.schema(&mut items, &format!("{pointer}/prefixItems"));
            map.insert("items".into(), items);
        }
        for key in ["allOf", "anyOf", "oneOf"] {
            if let Some(members) = map.get_mut(key).and_then(Value::as_array_mut) {
                for (i, sub) in members.iter_mut().enumerate() {
                    self.schema(sub, &format!("{pointer}/{key}/{i}"));
                }
            }
        }
        if map.get("type").and_then(Value::as_str) == Some("array") && !map.contains_key("items") {
            map.insert("items".into(), json!({}));
        }
        if let Some(required) = map.get("required")
            && !required.is_array()
        {
            // Draft-3 `required: true` on a property.
            map.remove("required");
        }
        if let Some(discriminator) = map.get("discriminator")
            && !discriminator
                .get("propertyName")
                .is_some_and(Value::is_string)
        {
            map.remove("discriminator");
        }
    }

    /// `type` as 3.0 has it: one name, `nullable` for null.
    fn types(&mut self, map: &mut Map<String, Value>, pointer: &str) {
        let types: Vec<String> = match map.get("type") {
            None => return,
            Some(Value::String(t)) => vec![t.clone()],
            Some(Value::Array(ts)) => ts
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            Some(_) => {
                self.skip(
                    format!("{pointer}/type"),
                    "a `type` that is not a name; read as any value",
                );
                map.remove("type");
                return;
            }
        };
        let known = ["string", "number", "integer", "boolean", "array", "object"];
        let null = types.iter().any(|t| t == "null");
        let mut rest: Vec<String> = types.into_iter().filter(|t| t != "null").collect();
        let unknown: Vec<String> = rest
            .iter()
            .filter(|t| !known.contains(&t.as_str()))
            .cloned()
            .collect();
        if !unknown.is_empty() {
            self.skip(
                format!("{pointer}/type"),
                format!("the unknown type {}; read as any value", unknown.join(", ")),
            );
            rest.retain(|t| known.contains(&t.as_str()));
        }
        if null {
            map.insert("nullable".into(), Value::Bool(true));
            if let Some(Value::Array(values)) = map.get_mut("enum")
                && !values.contains(&Value::Null)
            {
                values.push(Value::Null);
            }
        }
        match rest.len() {
            0 => {
                map.remove("type");
                if null && !map.contains_key("enum") {
                    // Only `null`.
                    map.insert("enum".into(), json!([null]));
                }
            }
            1 => {
                map.insert("type".into(), Value::String(rest.remove(0)));
            }
            _ => {
                // Several types: one member each, sharing the keywords that apply to it.
                map.remove("type");
                let members: Vec<Value> = rest.iter().map(|t| json!({ "type": t })).collect();
                let union = json!({ "anyOf": members });
                match map.get_mut("anyOf") {
                    Some(_) => {
                        let all = map.entry("allOf").or_insert_with(|| json!([]));
                        if let Some(all) = all.as_array_mut() {
                            all.push(union);
                        }
                    }
                    None => {
                        map.insert("anyOf".into(), union["anyOf"].clone());
                    }
                }
            }
        }
    }

    /// Numeric keywords 3.0 readers keep in 64-bit integers: a bound of an integer schema
    /// that does not fit is dropped (no 64-bit value can pass it anyway).
    fn bounds(&mut self, map: &mut Map<String, Value>, pointer: &str) {
        let integer = map.get("type").and_then(Value::as_str) == Some("integer");
        for key in ["minimum", "maximum", "multipleOf"] {
            let Some(value) = map.get(key) else { continue };
            let fits = match value {
                Value::Number(n) if integer => {
                    n.as_i64().is_some()
                        || n.as_f64()
                            .is_some_and(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                }
                Value::Number(_) => true,
                _ => false,
            };
            if !fits {
                self.skip(
                    format!("{pointer}/{key}"),
                    format!("the bound {value} does not fit a 64-bit integer; not enforced"),
                );
                map.remove(key);
                match key {
                    "minimum" => map.remove("exclusiveMinimum"),
                    "maximum" => map.remove("exclusiveMaximum"),
                    _ => None,
                };
            } else if integer && let Some(f) = value.as_f64().filter(|_| value.as_i64().is_none()) {
                map.insert(key.into(), json!(f as i64));
            }
        }
        for key in [
            "minLength",
            "maxLength",
            "minItems",
            "maxItems",
            "minProperties",
            "maxProperties",
        ] {
            if let Some(value) = map.get(key)
                && value.as_u64().is_none()
            {
                match value.as_f64() {
                    Some(f) if f >= 0.0 && f.fract() == 0.0 && f < 1.8e19 => {
                        map.insert(key.into(), json!(f as u64));
                    }
                    _ => {
                        map.remove(key);
                    }
                }
            }
        }
    }

    /// The component a schema `$ref` names, hoisting its target into `components/schemas` when
    /// it points anywhere else (another schema's property, a path's body). `None` when it
    /// cannot be resolved: the schema is read as any value, and that is reported.
    fn schema_reference(&mut self, reference: &str, pointer: &str) -> Option<String> {
        if let Some(name) = reference.strip_prefix("#/components/schemas/")
            && !name.contains('/')
        {
            let exists = self
                .original
                .pointer(&percent_decode(&format!("/components/schemas/{name}")))
                .is_some();
            if exists {
                return Some(reference.to_string());
            }
        }
        if let Some(name) = self.hoisted.get(reference) {
            return Some(format!("#/components/schemas/{}", pointer_segment(name)));
        }
        let Some(mut target) = self.target(reference) else {
            self.skip(
                pointer,
                format!("the reference {reference} cannot be resolved; read as any value"),
            );
            return None;
        };
        let name = self.hoisted_name(reference);
        self.hoisted.insert(reference.to_string(), name.clone());
        let target_pointer = reference.trim_start_matches('#').to_string();
        self.schema(&mut target, &target_pointer);
        self.new_schemas.push((name.clone(), target));
        Some(format!("#/components/schemas/{}", pointer_segment(&name)))
    }

    /// A component name for a hoisted schema: from the reference's last segments, made unique.
    fn hoisted_name(&self, reference: &str) -> String {
        let segments: Vec<String> = reference
            .trim_start_matches("#/")
            .split('/')
            .filter(|s| {
                !matches!(
                    *s,
                    "components"
                        | "schemas"
                        | "properties"
                        | "items"
                        | "content"
                        | "schema"
                        | "paths"
                )
            })
            .map(|s| s.replace("~1", "/").replace("~0", "~"))
            .collect();
        let tail = segments
            .iter()
            .rev()
            .take(3)
            .rev()
            .cloned()
            .collect::<Vec<_>>()
            .join("_");
        let base: String = tail
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let base = if base.trim_matches('_').is_empty() {
            "Schema".to_string()
        } else {
            base
        };
        let taken = |name: &str| {
            self.original
                .pointer(&format!("/components/schemas/{}", pointer_segment(name)))
                .is_some()
                || self.hoisted.values().any(|n| n == name)
        };
        let mut name = base.clone();
        let mut i = 2;
        while taken(&name) {
            name = format!("{base}{i}");
            i += 1;
        }
        name
    }
}

/// Decodes `%XX` escapes; anything that is not a valid escape is kept as written.
fn percent_decode(text: &str) -> String {
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

/// Decides, once for every target, what the document leaves open: an operation without an
/// `operationId` gets the one the model names it by (made unique), and a body or response
/// offered in several media types keeps the one the targets use (JSON).
fn settle(spec: &mut openapiv3::OpenAPI) {
    use openapiv3::ReferenceOr;
    let mut taken: std::collections::BTreeSet<String> = spec
        .operations()
        .filter_map(|(_, _, op)| op.operation_id.clone())
        .collect();
    for (path, item) in spec.paths.paths.iter_mut() {
        let ReferenceOr::Item(item) = item else {
            continue;
        };
        let slots = [
            ("get", &mut item.get),
            ("put", &mut item.put),
            ("post", &mut item.post),
            ("delete", &mut item.delete),
            ("options", &mut item.options),
            ("head", &mut item.head),
            ("patch", &mut item.patch),
            ("trace", &mut item.trace),
        ];
        for (method, op) in slots {
            let Some(op) = op else { continue };
            if op.operation_id.is_none() {
                let base = crate::model::synthesized_operation_id(method, path);
                let mut id = base.clone();
                let mut n = 2;
                while taken.contains(&id) {
                    id = format!("{base}_{n}");
                    n += 1;
                }
                taken.insert(id.clone());
                op.operation_id = Some(id);
            }
            if let Some(ReferenceOr::Item(body)) = &mut op.request_body {
                keep_json(&mut body.content);
            }
            for response in op
                .responses
                .responses
                .values_mut()
                .chain(op.responses.default.as_mut())
            {
                if let ReferenceOr::Item(response) = response {
                    keep_json(&mut response.content);
                }
            }
        }
    }
    if let Some(components) = &mut spec.components {
        for body in components.request_bodies.values_mut() {
            if let ReferenceOr::Item(body) = body {
                keep_json(&mut body.content);
            }
        }
        for response in components.responses.values_mut() {
            if let ReferenceOr::Item(response) = response {
                keep_json(&mut response.content);
            }
        }
    }
}

/// Of several media types, keeps the first JSON one (when there is one).
fn keep_json(content: &mut indexmap::IndexMap<String, openapiv3::MediaType>) {
    if content.len() < 2 {
        return;
    }
    if let Some(index) = content.keys().position(|m| crate::model::is_json(m)) {
        let (media, value) = content.swap_remove_index(index).expect("present");
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
    let slot = match method {
        "get" => &mut item.get,
        "put" => &mut item.put,
        "post" => &mut item.post,
        "delete" => &mut item.delete,
        "options" => &mut item.options,
        "head" => &mut item.head,
        "patch" => &mut item.patch,
        "trace" => &mut item.trace,
        _ => return,
    };
    *slot = None;
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
    fn big_integer_bounds_are_dropped() {
        let out = schema(json!({"type": "integer", "maximum": 18446744073709552000.0_f64}));
        assert_eq!(out, json!({"type": "integer"}));
    }

    #[test]
    fn json_text_keeps_surrogate_pairs_and_c1_controls() {
        let value = parse_text("{\"a\": \"\\ud83d\\udc4d\u{85}\"}").unwrap();
        assert_eq!(value["a"], "\u{1f44d}\u{85}");
    }

    #[test]
    fn yaml_merge_keys_and_integer_keys() {
        let value =
            parse_text("base: &b {x: 1}\nderived:\n  <<: *b\n  y: 2\nresponses:\n  200: ok\n")
                .unwrap();
        assert_eq!(value["derived"], json!({"x": 1, "y": 2}));
        assert_eq!(value["responses"]["200"], "ok");
    }
}

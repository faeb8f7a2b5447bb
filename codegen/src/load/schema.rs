//! One schema rewritten into the 3.0 dialect: 3.1 keywords, type arrays, bounds, and
//! references hoisted into components of their own.

use serde_json::{Map, Value, json};

use super::normalize::{Normalizer, percent_decode};
use crate::error::pointer_segment;

impl Normalizer {
    /// Rewrites one schema (and everything under it) into the 3.0 dialect.
    pub(super) fn schema(&mut self, schema: &mut Value, pointer: &str) {
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

        // A schema titled like a component, its own included, would give typify two types of
        // one name (`AccountSubtype(Option<AccountSubtype>)`): the component's name names it.
        if map
            .get("title")
            .and_then(Value::as_str)
            .is_some_and(|title| {
                use heck::ToUpperCamelCase;
                self.component_idents.contains(&title.to_upper_camel_case())
            })
        {
            map.remove("title");
        }
        // A titled nullable composition inside a component: progenitor's typify drops the
        // title of a nullable `anyOf`/`oneOf` and names the type after its parent, as if
        // untitled, so the title moves onto the composition, made nullable from outside
        // (`allOf: [titled]`, `nullable`), which every target names by its title.
        let in_component = pointer
            .strip_prefix("/components/schemas/")
            .is_some_and(|rest| rest.contains('/'));
        if in_component
            && map.contains_key("title")
            && map.get("nullable") == Some(&Value::Bool(true))
            && (map.contains_key("anyOf") || map.contains_key("oneOf"))
        {
            map.remove("nullable");
            let description = map.get("description").cloned();
            let inner = Value::Object(std::mem::take(map));
            map.insert("allOf".into(), json!([inner]));
            map.insert("nullable".into(), Value::Bool(true));
            if let Some(description) = description {
                map.insert("description".into(), description);
            }
        }
        // typify names an inline property's type after its parent's name and the property's
        // (`App` and `permissions` make `AppPermissions`): a component's name for a component
        // (whatever its title) and for the branches of its composition, which typify merges
        // into it, the title inside one. Where that is a component's name, a title names it
        // apart (Stripe's `financial_connections.account`, titled otherwise, and its
        // `ownership` made a second `FinancialConnectionsAccountOwnership`; Microsoft Graph's
        // `allOf: [entity, {title, properties}]` components, 98 of them). A component taken
        // into others by `allOf` (`attendee` is `allOf: [attendeeBase, …]`) is merged into
        // each, and its properties' types named after each as well (`AttendeeType`).
        let component_root = pointer
            .strip_prefix("/components/schemas/")
            .and_then(composition_root);
        let component_root = component_root.map(super::normalize::percent_decode);
        let includers = component_root
            .as_ref()
            .and_then(|root| self.includers.get(root))
            .into_iter()
            .flatten()
            .cloned();
        let parents: Vec<String> = component_root
            .clone()
            .into_iter()
            .chain(includers)
            .chain(map.get("title").and_then(Value::as_str).map(str::to_owned))
            .collect();
        if let Some(properties) = map.get_mut("properties").and_then(Value::as_object_mut) {
            use heck::ToUpperCamelCase;
            for (name, property) in properties.iter_mut() {
                let Some(property) = property.as_object_mut() else {
                    continue;
                };
                if property.contains_key("$ref") || property.contains_key("title") {
                    continue;
                }
                let Some(derived) = parents
                    .iter()
                    .map(|parent| format!("{parent}-{name}").to_upper_camel_case())
                    .find(|derived| self.component_idents.contains(derived))
                else {
                    continue;
                };
                let mut title = format!("{derived}Property");
                while self.component_idents.contains(&title) {
                    title.push('_');
                }
                property.insert("title".into(), Value::String(title));
            }
        }

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
        optional_union(map);
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

/// `anyOf: [X, {type: null}]` (what 3.1 generators such as FastAPI write for an optional
/// value) is X, nullable: one type, not a union of a type and nothing.
fn optional_union(map: &mut Map<String, Value>) {
    let is_null = |m: &Value| {
        m.as_object().is_some_and(|o| {
            // `{type: null}` reads as `{nullable: true, enum: [null]}`.
            o.get("nullable") == Some(&Value::Bool(true))
                && o.get("enum").is_none_or(|e| e == &json!([null]))
                && o.keys()
                    .all(|k| ["nullable", "enum", "description", "title"].contains(&k.as_str()))
        })
    };
    for key in ["anyOf", "oneOf"] {
        let Some(members) = map.get(key).and_then(Value::as_array) else {
            continue;
        };
        let rest: Vec<&Value> = members.iter().filter(|m| !is_null(m)).collect();
        if rest.len() != 1 || rest.len() == members.len() {
            continue;
        }
        let only = rest[0].clone();
        let merged = match only.as_object() {
            Some(o) if o.contains_key("$ref") => {
                if map.contains_key("allOf") {
                    continue;
                }
                map.insert("allOf".into(), json!([only]));
                true
            }
            Some(o) if o.keys().all(|k| !map.contains_key(k) || k == "nullable") => {
                for (k, v) in o {
                    map.insert(k.clone(), v.clone());
                }
                true
            }
            _ => false,
        };
        if merged {
            map.remove(key);
            map.insert("nullable".into(), Value::Bool(true));
        }
    }
}

/// The component name at the start of `rest` (a pointer below `/components/schemas/`) where
/// the rest of it only descends through compositions (`allOf/0/anyOf/1`): the schema is the
/// component or a branch of it.
fn composition_root(rest: &str) -> Option<&str> {
    let mut segments = rest.split('/');
    let name = segments.next()?;
    let rest: Vec<&str> = segments.collect();
    rest.chunks(2)
        .all(|pair| {
            matches!(pair, [keyword, index]
                if ["allOf", "anyOf", "oneOf"].contains(keyword) && index.parse::<usize>().is_ok())
        })
        .then_some(name)
}

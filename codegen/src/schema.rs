//! Converts OpenAPI 3.0 schemas into the JSON Schema model typify reads.
//!
//! OpenAPI 3.0 schemas are a dialect of JSON Schema draft 4/5: `nullable` instead of a `null`
//! type, `example` instead of `examples`, and `$ref`s into `#/components/schemas`. We convert
//! through JSON so every keyword we do not rewrite passes through untouched.

use serde_json::{Map, Value};

use crate::error::GenError;

/// Converts one OpenAPI schema (or reference) to a schemars schema.
pub fn to_schemars(
    schema: &openapiv3::ReferenceOr<openapiv3::Schema>,
    pointer: &str,
) -> Result<schemars::schema::Schema, GenError> {
    let value = serde_json::to_value(schema)
        .map_err(|e| GenError::unsupported(pointer, format!("schema does not serialize: {e}")))?;
    let converted = convert(value);
    serde_json::from_value(converted).map_err(|e| {
        GenError::unsupported(pointer, format!("schema is not valid JSON Schema: {e}"))
    })
}

fn convert(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(convert_object(map)),
        Value::Array(items) => Value::Array(items.into_iter().map(convert).collect()),
        other => other,
    }
}

fn convert_object(mut map: Map<String, Value>) -> Map<String, Value> {
    rust_safe(&mut map);
    let nullable = matches!(map.remove("nullable"), Some(Value::Bool(true)));
    // Annotations only: they carry no type information and typify would keep them as
    // extensions.
    for key in [
        "example",
        "discriminator",
        "xml",
        "externalDocs",
        "deprecated",
    ] {
        map.remove(key);
    }
    let mut out = Map::new();
    for (key, value) in map {
        let value = match key.as_str() {
            // Keyword maps whose keys are names, not keywords.
            "properties" | "definitions" => match value {
                Value::Object(props) => Value::Object(
                    props
                        .into_iter()
                        .map(|(name, schema)| (name, convert(schema)))
                        .collect(),
                ),
                other => other,
            },
            "enum" | "default" => value,
            _ => convert(value),
        };
        out.insert(key, value);
    }
    if nullable {
        match out.get("type").cloned() {
            Some(Value::String(ty)) => {
                out.insert("type".into(), Value::Array(vec![ty.into(), "null".into()]));
                if let Some(Value::Array(values)) = out.get_mut("enum")
                    && !values.contains(&Value::Null)
                {
                    values.push(Value::Null);
                }
            }
            _ => {
                // A nullable `$ref` or composition: wrap it.
                let inner = Value::Object(out);
                let mut wrapper = Map::new();
                wrapper.insert(
                    "anyOf".into(),
                    Value::Array(vec![inner, serde_json::json!({ "type": "null" })]),
                );
                return wrapper;
            }
        }
    }
    out
}

/// Whether a schema's `default` is a value of it, as far as its `enum` and `type` say.
fn default_fits(map: &Map<String, Value>, default: &Value) -> bool {
    if default.is_null() {
        return map.get("nullable") == Some(&Value::Bool(true));
    }
    if let Some(values) = map.get("enum").and_then(Value::as_array) {
        // Numbers compare as numbers: the document model reads `1` in a number enum as `1.0`.
        return values.iter().any(|v| match (v.as_f64(), default.as_f64()) {
            (Some(a), Some(b)) => a == b,
            _ => v == default,
        });
    }
    match map.get("type").and_then(Value::as_str) {
        Some("string") => default.is_string(),
        Some("integer") => default.is_i64() || default.is_u64(),
        Some("number") => default.is_number(),
        Some("boolean") => default.is_boolean(),
        Some("array") => default.is_array(),
        Some("object") => default.is_object(),
        _ => true,
    }
}

/// Whether two of these names would make the same Rust identifier (`ASC` and `asc`, `=` and
/// `!=`, `prefs/background` and `prefs_background`): typify refuses such an enum and emits such
/// a struct with one field twice. The test is coarser than typify's own naming (letters and
/// digits, any case), so whatever it lets through typify can name.
pub fn names_clash<'a>(names: impl IntoIterator<Item = &'a str>) -> bool {
    let mut seen = std::collections::HashSet::new();
    names.into_iter().any(|name| {
        let key: String = name
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect();
        !seen.insert(key)
    })
}

/// Makes one schema object something the Rust generators can name: a string enum whose values
/// clash as variants becomes a plain string, an object whose property names clash as fields
/// becomes any JSON value (its data kept whole), a `default` that is not a value of the
/// schema goes (typify renders a default as a value of the type and stops on one that is not).
/// The validators, generated from the spec itself, still hold values to the enum and the
/// properties. Whether it changed anything.
pub fn rust_safe(map: &mut Map<String, Value>) -> bool {
    // An enum that lists `null` is nullable whether or not it says so, and without a `type`
    // has its values' one: read otherwise, typify names the optional and the enum alike
    // (`X(Option<X>)`).
    let mut typed_enum = false;
    if let Some(values) = map.get("enum").and_then(Value::as_array) {
        let lists_null = values.contains(&Value::Null);
        let kinds: std::collections::BTreeSet<&str> = values
            .iter()
            .filter_map(|v| match v {
                Value::String(_) => Some("string"),
                Value::Bool(_) => Some("boolean"),
                Value::Number(n) if n.is_i64() || n.is_u64() => Some("integer"),
                Value::Number(_) => Some("number"),
                _ => None,
            })
            .collect();
        let kind = (kinds.len() == 1).then(|| kinds.into_iter().next().expect("one").to_owned());
        if lists_null && map.get("nullable") != Some(&Value::Bool(true)) {
            map.insert("nullable".into(), Value::Bool(true));
            typed_enum = true;
        }
        if let Some(kind) = kind
            && !map.contains_key("type")
        {
            map.insert("type".into(), Value::String(kind));
            typed_enum = true;
        }
    }
    let bad_default = map.get("default").is_some_and(|d| !default_fits(map, d));
    if bad_default {
        map.remove("default");
    }
    let enum_clash = map
        .get("enum")
        .and_then(Value::as_array)
        .is_some_and(|values| names_clash(values.iter().filter_map(Value::as_str)));
    if enum_clash {
        map.remove("enum");
    }
    // `required` may name a property the object does not describe (Mist's `image_upload`
    // requires `file {}` beside a described `file`); typify makes a field of any type for
    // it, which clashes with the described one. Such a name leaves `required` in the Rust
    // types (the validators, generated from the spec itself, still require it).
    let mut required_clash = false;
    if let Some(described) = map.get("properties").and_then(Value::as_object) {
        let described: Vec<String> = described.keys().cloned().collect();
        if let Some(Value::Array(required)) = map.get_mut("required") {
            let before = required.len();
            required.retain(|name| {
                let Some(name) = name.as_str() else {
                    return true;
                };
                described.iter().any(|d| d == name)
                    || !names_clash(described.iter().map(String::as_str).chain([name]))
            });
            required_clash = required.len() != before;
        }
    }
    let field_clash = map
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|properties| names_clash(properties.keys().map(String::as_str)));
    if field_clash {
        map.retain(|key, _| key == "description" || key == "nullable");
    }
    // typify keeps the other properties an `additionalProperties` schema allows in a field
    // named `extra`: a property of that name would be a second one. Such an object keeps only
    // its named properties in the Rust types.
    let extra_clash = !field_clash
        && map
            .get("properties")
            .and_then(Value::as_object)
            .is_some_and(|p| p.keys().any(|k| names_clash([k.as_str(), "extra"])))
        && map
            .get("additionalProperties")
            .is_some_and(|a| a.is_object() || a == &Value::Bool(true));
    if extra_clash {
        map.remove("additionalProperties");
    }
    typed_enum || bad_default || enum_clash || field_clash || extra_clash || required_clash
}

/// [`rust_safe`] on every schema object of a document (or part of one); whether it changed
/// any.
pub fn rust_safe_all(value: &mut Value) -> bool {
    match value {
        Value::Object(map) => {
            let mut changed = rust_safe(map);
            for child in map.values_mut() {
                changed |= rust_safe_all(child);
            }
            changed
        }
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |changed, item| rust_safe_all(item) | changed),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_default_that_is_not_a_value_of_the_schema_is_dropped() {
        let out = convert(json!({"type": "string", "enum": ["a", "b"], "default": "c"}));
        assert_eq!(out, json!({"type": "string", "enum": ["a", "b"]}));
        let out = convert(json!({"type": "integer", "default": "1"}));
        assert_eq!(out, json!({"type": "integer"}));
        let out = convert(json!({"type": "integer", "default": 1}));
        assert_eq!(out, json!({"type": "integer", "default": 1}));
    }

    #[test]
    fn objects_whose_properties_make_one_field_are_any_value() {
        let out = convert(json!({"type": "object", "properties": {
            "prefs/background": {"type": "string"},
            "prefs_background": {"type": "integer"},
        }}));
        assert_eq!(out, json!({}));
    }

    #[test]
    fn enums_whose_values_make_one_variant_are_strings() {
        let out = convert(json!({"type": "string", "enum": ["ASC", "asc", "desc"]}));
        assert_eq!(out, json!({"type": "string"}));
        let out = convert(json!({"type": "string", "enum": ["asc", "desc"]}));
        assert_eq!(out, json!({"type": "string", "enum": ["asc", "desc"]}));
    }

    #[test]
    fn nullable_becomes_a_null_type() {
        let out = convert(json!({"type": "integer", "nullable": true, "example": 3}));
        assert_eq!(out, json!({"type": ["integer", "null"]}));
    }

    #[test]
    fn nullable_ref_is_wrapped() {
        let out = convert(json!({"allOf": [{"$ref": "#/components/schemas/A"}], "nullable": true}));
        assert_eq!(
            out,
            json!({"anyOf": [{"allOf": [{"$ref": "#/components/schemas/A"}]}, {"type": "null"}]})
        );
    }

    #[test]
    fn property_names_are_not_keywords() {
        let out = convert(json!({"properties": {"example": {"type": "string", "example": "x"}}}));
        assert_eq!(out, json!({"properties": {"example": {"type": "string"}}}));
    }
}

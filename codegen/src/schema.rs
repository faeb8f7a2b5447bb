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
                if let Some(Value::Array(values)) = out.get_mut("enum") {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

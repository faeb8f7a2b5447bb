//! Text to JSON: JSON by a JSON parser, YAML by a YAML parser.

use serde_json::{Value, json};

use crate::error::GenError;

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

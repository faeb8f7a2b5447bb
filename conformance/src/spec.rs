//! The spec the suite certifies against, embedded at build time: which operation a request hit,
//! and whether the response is one that operation documents, byte by byte against its schema.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use serde_json::{Map, Value};

/// The OpenAPI document this suite version certifies against.
pub const SPEC_YAML: &str = include_str!("../../openapi/dream-api.yaml");

/// One operation: its id, method, path template and documented statuses.
#[derive(Debug, Clone)]
pub struct Operation {
    pub id: String,
    pub method: String,
    pub path: String,
    segments: Vec<Option<String>>,
    responses: Map<String, Value>,
}

impl Operation {
    fn matches(&self, method: &str, path: &str) -> bool {
        self.method.eq_ignore_ascii_case(method) && matches_template(&self.segments, path)
    }
}

fn matches_template(segments: &[Option<String>], path: &str) -> bool {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    parts.len() == segments.len()
        && segments
            .iter()
            .zip(&parts)
            .all(|(segment, part)| match segment {
                Some(literal) => literal == part,
                None => !part.is_empty(),
            })
}

/// The parsed spec plus a cache of compiled response validators.
pub struct Spec {
    /// `info.version`.
    pub version: String,
    document: Value,
    operations: Vec<Operation>,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

/// What the suite found wrong with one response.
pub type Violations = Vec<String>;

impl Spec {
    pub fn load() -> anyhow::Result<Spec> {
        Spec::parse(SPEC_YAML)
    }

    pub fn parse(yaml: &str) -> anyhow::Result<Spec> {
        let document: Value = serde_yaml::from_str(yaml).context("the spec is not YAML")?;
        let version = document["info"]["version"]
            .as_str()
            .context("the spec has no info.version")?
            .to_owned();
        let mut operations = Vec::new();
        for (path, item) in document["paths"].as_object().context("no paths")? {
            for (method, op) in item.as_object().context("path item")? {
                let Some(id) = op.get("operationId").and_then(Value::as_str) else {
                    continue;
                };
                let segments = path
                    .trim_start_matches('/')
                    .split('/')
                    .map(|s| (!s.starts_with('{')).then(|| s.to_owned()))
                    .collect();
                operations.push(Operation {
                    id: id.to_owned(),
                    method: method.to_uppercase(),
                    path: path.clone(),
                    segments,
                    responses: op["responses"].as_object().cloned().unwrap_or_default(),
                });
            }
        }
        Ok(Spec {
            version,
            document,
            operations,
            validators: Mutex::new(HashMap::new()),
        })
    }

    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    /// The operation a request with this method and path reaches, if the spec has one.
    pub fn find(&self, method: &str, path: &str) -> Option<&Operation> {
        self.operations.iter().find(|op| op.matches(method, path))
    }

    /// Checks one response against the spec. Returns the operation it belongs to and every
    /// way it departs from what that operation documents.
    pub fn check_response(
        &self,
        method: &str,
        path: &str,
        status: u16,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> (Option<String>, Violations) {
        let mut violations = Vec::new();
        let request_id = headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if request_id.is_none() {
            violations.push("the response has no x-request-id header".to_owned());
        }
        let operation = self.find(method, path);
        let response = match operation {
            Some(op) => match documented(op, status) {
                Some(response) => Some(self.resolve(response).clone()),
                None => {
                    violations.push(format!("{} does not document status {status}", op.id));
                    None
                }
            },
            // A path or method the spec does not have must still answer in the error schema.
            None if status >= 400 => Some(serde_json::json!({
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
            })),
            None => {
                violations.push(format!(
                    "{method} {path} is not in the spec, yet it answered {status}"
                ));
                None
            }
        };
        if let Some(response) = response {
            self.check_body(&response, status, headers, body, &mut violations);
        }
        if status >= 400
            && let (Ok(error), Some(header)) = (serde_json::from_slice::<Value>(body), &request_id)
            && error["requestId"].as_str() != Some(header.as_str())
        {
            violations.push(format!(
                "the error's requestId {} differs from the x-request-id header {header}",
                error["requestId"]
            ));
        }
        (operation.map(|op| op.id.clone()), violations)
    }

    fn check_body(
        &self,
        response: &Value,
        status: u16,
        headers: &http::HeaderMap,
        body: &[u8],
        violations: &mut Violations,
    ) {
        let Some(schema) = response["content"]["application/json"].get("schema") else {
            if response.get("content").is_none() && !body.is_empty() {
                violations.push(format!(
                    "status {status} documents no body, yet one was sent"
                ));
            }
            return;
        };
        let content_type = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !content_type.starts_with("application/json") {
            violations.push(format!(
                "status {status} documents application/json, got content-type {content_type:?}"
            ));
        }
        let instance: Value = match serde_json::from_slice(body) {
            Ok(value) => value,
            Err(e) => {
                violations.push(format!("the body is not JSON: {e}"));
                return;
            }
        };
        match self.validator(schema) {
            Ok(validator) => {
                for error in validator.iter_errors(&instance).take(5) {
                    violations.push(format!("body at '{}': {error}", error.instance_path()));
                }
            }
            Err(e) => violations.push(format!("the spec's schema does not compile: {e}")),
        }
    }

    /// Follows a `$ref` into `components`.
    fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        match value.get("$ref").and_then(Value::as_str) {
            Some(reference) => reference
                .strip_prefix('#')
                .and_then(|pointer| self.document.pointer(pointer))
                .map_or(value, |target| self.resolve(target)),
            None => value,
        }
    }

    fn validator(&self, schema: &Value) -> anyhow::Result<Arc<jsonschema::Validator>> {
        let key = schema.to_string();
        if let Some(validator) = self.validators.lock().expect("validator cache").get(&key) {
            return Ok(validator.clone());
        }
        // The schema is checked inside a document that carries every component, so `$ref`s
        // resolve; OpenAPI 3.0 schemas are JSON Schema draft 4 plus `nullable`.
        let root = serde_json::json!({
            "allOf": [openapi_to_json_schema(schema)],
            "components": openapi_to_json_schema(&self.document["components"]),
        });
        let validator =
            Arc::new(jsonschema::draft4::new(&root).map_err(|e| anyhow::anyhow!("{e}"))?);
        self.validators
            .lock()
            .expect("validator cache")
            .insert(key, validator.clone());
        Ok(validator)
    }
}

fn documented(op: &Operation, status: u16) -> Option<&Value> {
    let exact = status.to_string();
    let range = format!("{}XX", status / 100);
    op.responses
        .get(&exact)
        .or_else(|| op.responses.get(&range))
        .or_else(|| op.responses.get("default"))
}

/// Rewrites OpenAPI 3.0's `nullable: true` as JSON Schema (`anyOf` with `null`), recursively.
/// Examples are data, not schemas, and are left alone.
pub fn openapi_to_json_schema(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, child) in map {
                if key == "nullable" || key == "example" || key == "examples" {
                    continue;
                }
                out.insert(key.clone(), openapi_to_json_schema(child));
            }
            if map.get("nullable") == Some(&Value::Bool(true)) {
                serde_json::json!({ "anyOf": [{ "type": "null" }, Value::Object(out)] })
            } else {
                Value::Object(out)
            }
        }
        Value::Array(items) => Value::Array(items.iter().map(openapi_to_json_schema).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(request_id: &str) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        map.insert("x-request-id", request_id.parse().unwrap());
        map.insert("content-type", "application/json".parse().unwrap());
        map
    }

    #[test]
    fn a_conforming_error_passes_and_a_wrong_one_is_named() {
        let spec = Spec::load().unwrap();
        let good = br#"{"type":"authentication_error","code":"missing_credentials","message":"m","requestId":"req_1"}"#;
        let (op, violations) =
            spec.check_response("GET", "/v1/customers", 401, &headers("req_1"), good);
        assert_eq!(op.as_deref(), Some("listCustomers"));
        assert!(violations.is_empty(), "{violations:?}");

        let bad = br#"{"type":"nonsense","code":"missing_credentials","requestId":"req_2"}"#;
        let (_, violations) =
            spec.check_response("GET", "/v1/customers", 401, &headers("req_1"), bad);
        let text = violations.join("\n");
        assert!(text.contains("message"), "{text}");
        assert!(text.contains("nonsense"), "{text}");
        assert!(text.contains("differs from the x-request-id"), "{text}");
    }

    #[test]
    fn undocumented_statuses_and_missing_request_ids_are_violations() {
        let spec = Spec::load().unwrap();
        let (_, violations) =
            spec.check_response("GET", "/healthz", 418, &http::HeaderMap::new(), b"");
        assert_eq!(
            violations,
            vec![
                "the response has no x-request-id header".to_owned(),
                "healthCheck does not document status 418".to_owned(),
            ]
        );
    }

    #[test]
    fn nullable_becomes_any_of_null() {
        let schema = serde_json::json!({"type": "string", "nullable": true, "example": "x"});
        assert_eq!(
            openapi_to_json_schema(&schema),
            serde_json::json!({"anyOf": [{"type": "null"}, {"type": "string"}]})
        );
    }
}

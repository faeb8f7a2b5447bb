//! The API reference: one self-contained HTML page (no scripts, fonts or styles from elsewhere)
//! generated from the spec — operations grouped by tag with their credentials, parameters,
//! bodies, responses and examples, code samples for the generated TypeScript and Rust clients,
//! the security schemes, the error-code table, and every schema.

use std::fmt::Write as _;

use heck::{ToLowerCamelCase, ToSnakeCase};
use openapiv3::OpenAPI;
use serde_json::Value;

use crate::error::{GenError, pointer_segment};
use crate::model::{self, Location, Operation, ResponseContent, Status};

const STYLE: &str = "\
:root{--fg:#1d1f23;--muted:#5c6370;--line:#e3e5e8;--accent:#4b3fd1;--code:#f5f6f8}\
*{box-sizing:border-box}body{margin:0;font:15px/1.55 system-ui,-apple-system,'Segoe UI',sans-serif;color:var(--fg)}\
nav{position:fixed;top:0;bottom:0;left:0;width:17rem;overflow-y:auto;padding:1.2rem;border-right:1px solid var(--line);background:#fafafb}\
nav a{display:block;color:var(--fg);text-decoration:none;padding:.1rem 0;font-size:.9rem}nav a:hover{color:var(--accent)}\
nav h2{font-size:.75rem;text-transform:uppercase;letter-spacing:.05em;color:var(--muted);margin:1.1rem 0 .3rem}\
main{margin-left:17rem;padding:2rem 3rem;max-width:62rem}h1{margin-top:0}\
section.operation{border-top:1px solid var(--line);padding:1.4rem 0}\
.method{display:inline-block;min-width:4.2rem;text-align:center;border-radius:4px;padding:0 .4rem;margin-right:.5rem;\
font:600 .8rem/1.6rem ui-monospace,monospace;color:#fff;background:#6b7280}\
.get{background:#2563eb}.post{background:#15803d}.patch{background:#b45309}.delete{background:#b91c1c}.put{background:#7c3aed}\
code,pre{font-family:ui-monospace,'SFMono-Regular',Menlo,monospace;font-size:.85rem}code{background:var(--code);padding:0 .25rem;border-radius:3px}\
pre{background:var(--code);padding:.8rem 1rem;border-radius:6px;overflow-x:auto}pre code{background:none;padding:0}\
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}th,td{text-align:left;vertical-align:top;padding:.35rem .6rem;border-bottom:1px solid var(--line)}\
th{font-size:.8rem;color:var(--muted);font-weight:600}td p{margin:0 0 .3rem}.muted{color:var(--muted)}.required{color:#b91c1c;font-size:.75rem}\
details{margin:.4rem 0}summary{cursor:pointer;color:var(--muted)}h4{margin:1rem 0 .3rem}";

/// Generates the reference page for `spec`.
pub fn generate(spec: &OpenAPI) -> Result<String, GenError> {
    let document = serde_json::to_value(spec).map_err(|e| GenError::Parse(e.to_string()))?;
    let operations = model::operations(spec)?;
    let title = document["info"]["title"].as_str().unwrap_or("API");
    let version = document["info"]["version"].as_str().unwrap_or("");

    // Tags in the order the spec lists them, then any only operations name.
    let mut tags: Vec<(String, String)> = document["tags"]
        .as_array()
        .map(|tags| {
            tags.iter()
                .filter_map(|t| {
                    Some((
                        t["name"].as_str()?.to_owned(),
                        t["description"].as_str().unwrap_or("").to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    for op in &operations {
        let tag = operation_tag(&document, op);
        if !tags.iter().any(|(name, _)| *name == tag) {
            tags.push((tag, String::new()));
        }
    }

    let mut nav = String::new();
    let _ = write!(
        nav,
        "<nav><strong>{}</strong> <span class=\"muted\">{}</span>",
        escape(title),
        escape(version)
    );
    nav.push_str("<h2>Guide</h2><a href=\"#authentication\">Authentication</a><a href=\"#errors\">Errors</a>");
    let mut main = String::new();
    let _ = write!(
        main,
        "<h1>{} <span class=\"muted\">{}</span></h1>",
        escape(title),
        escape(version)
    );
    main.push_str(&markdown(
        document["info"]["description"].as_str().unwrap_or(""),
    ));
    main.push_str(&security_section(&document));

    for (tag, description) in &tags {
        let ops: Vec<&Operation> = operations
            .iter()
            .filter(|op| operation_tag(&document, op) == *tag)
            .collect();
        if ops.is_empty() {
            continue;
        }
        let _ = write!(nav, "<h2>{}</h2>", escape(tag));
        let _ = write!(
            main,
            "<h2 id=\"tag-{}\">{}</h2>{}",
            slug(tag),
            escape(tag),
            markdown(description)
        );
        for op in ops {
            let _ = write!(
                nav,
                "<a href=\"#op-{}\"><span class=\"muted\">{}</span> {}</a>",
                escape(&op.id),
                escape(&op.method.to_uppercase()),
                escape(op.summary.as_deref().unwrap_or(&op.id))
            );
            main.push_str(&operation_section(&document, op)?);
        }
    }

    nav.push_str("<h2>Schemas</h2>");
    main.push_str("<h2 id=\"schemas\">Schemas</h2>");
    for (name, schema) in model::component_schemas(&document) {
        let _ = write!(
            nav,
            "<a href=\"#schema-{}\">{}</a>",
            escape(name),
            escape(name)
        );
        main.push_str(&schema_section(&document, name, schema));
    }
    nav.push_str("</nav>");

    Ok(format!(
        "<!doctype html>\n<!-- Generated by dreamgen from the OpenAPI document. Do not edit by hand. -->\n\
         <html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} {} reference</title><style>{STYLE}</style></head><body>{nav}<main>{main}</main></body></html>\n",
        escape(title),
        escape(version)
    ))
}

fn operation_tag(document: &Value, op: &Operation) -> String {
    document
        .pointer(&op.pointer)
        .and_then(|o| o["tags"][0].as_str())
        .unwrap_or("Other")
        .to_owned()
}

fn slug(text: &str) -> String {
    text.to_lowercase()
        .replace(|c: char| !c.is_ascii_alphanumeric(), "-")
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// CommonMark with tables, as the spec's descriptions are written. Raw HTML in a description
/// is shown as text, not rendered.
fn markdown(text: &str) -> String {
    use pulldown_cmark::{Event, Options, Parser};
    let parser = Parser::new_ext(text, Options::ENABLE_TABLES).map(|event| match event {
        Event::Html(html) | Event::InlineHtml(html) => Event::Text(html),
        other => other,
    });
    let mut out = String::new();
    pulldown_cmark::html::push_html(&mut out, parser);
    out
}

fn security_section(document: &Value) -> String {
    let mut out = String::from(
        "<h2 id=\"authentication\">Authentication</h2><table><tr><th>Scheme</th><th>How to send it</th><th>What it is</th></tr>",
    );
    if let Some(schemes) = document["components"]["securitySchemes"].as_object() {
        for (name, scheme) in schemes {
            let how = match scheme["type"].as_str() {
                Some("apiKey") => format!(
                    "<code>{}: …</code> ({})",
                    escape(scheme["name"].as_str().unwrap_or("")),
                    escape(scheme["in"].as_str().unwrap_or(""))
                ),
                Some("http") => format!(
                    "<code>Authorization: {} …</code>",
                    escape(&capitalize(scheme["scheme"].as_str().unwrap_or("")))
                ),
                other => escape(other.unwrap_or("")),
            };
            let _ = write!(
                out,
                "<tr><td id=\"security-{}\"><code>{}</code></td><td>{how}</td><td>{}</td></tr>",
                escape(name),
                escape(name),
                markdown(scheme["description"].as_str().unwrap_or(""))
            );
        }
    }
    out.push_str("</table><p id=\"errors\">Errors are described in the table above: every non-2xx response is an <a href=\"#schema-Error\"><code>Error</code></a>.</p>");
    out
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A short, linked description of a schema's type.
fn type_label(schema: &Value) -> String {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = model::ref_name(reference).unwrap_or(reference.into());
        return format!(
            "<a href=\"#schema-{}\">{}</a>",
            escape(&name),
            escape(&name)
        );
    }
    let mut label = if let Some(values) = schema["enum"].as_array() {
        let values: Vec<String> = values
            .iter()
            .map(|v| format!("<code>{}</code>", escape(&v.to_string())))
            .collect();
        format!("one of {}", values.join(", "))
    } else if let Some(parts) = schema["allOf"].as_array() {
        parts
            .iter()
            .map(type_label)
            .collect::<Vec<_>>()
            .join(" and ")
    } else if let Some(parts) = schema["oneOf"].as_array().or(schema["anyOf"].as_array()) {
        parts
            .iter()
            .map(type_label)
            .collect::<Vec<_>>()
            .join(" or ")
    } else {
        match schema["type"].as_str() {
            Some("array") => format!("array of {}", type_label(&schema["items"])),
            Some("object") if schema.get("properties").is_none() => {
                match schema.get("additionalProperties") {
                    Some(Value::Object(_)) => {
                        format!("map of {}", type_label(&schema["additionalProperties"]))
                    }
                    _ => "object".into(),
                }
            }
            Some(t) => match schema["format"].as_str() {
                Some(format) => format!("{t} ({format})"),
                None => t.to_owned(),
            },
            None => "any".into(),
        }
    };
    if schema["nullable"] == Value::Bool(true) {
        label.push_str(" or null");
    }
    label
}

/// The constraints a schema states, in words.
fn constraints(schema: &Value) -> String {
    let mut out = Vec::new();
    for (key, words) in [
        ("minLength", "min length"),
        ("maxLength", "max length"),
        ("minimum", "min"),
        ("maximum", "max"),
        ("minItems", "min items"),
        ("maxItems", "max items"),
        ("maxProperties", "max entries"),
        ("default", "default"),
    ] {
        if let Some(value) = schema.get(key) {
            out.push(format!(
                "{words} <code>{}</code>",
                escape(&value.to_string())
            ));
        }
    }
    if let Some(pattern) = schema["pattern"].as_str() {
        out.push(format!("pattern <code>{}</code>", escape(pattern)));
        if let Some(words) = schema["x-pattern-message"].as_str() {
            out.push(escape(words));
        }
    }
    out.join(", ")
}

fn operation_section(document: &Value, op: &Operation) -> Result<String, GenError> {
    let method = op.method.to_lowercase();
    let mut out = String::new();
    let _ = write!(
        out,
        "<section class=\"operation\" id=\"op-{id}\" data-operation-id=\"{id}\"><h3><span class=\"method {method}\">{}</span><code>{}</code></h3>",
        escape(&op.method.to_uppercase()),
        escape(&op.path),
        id = escape(&op.id)
    );
    let _ = write!(
        out,
        "<p><strong>{}</strong> <span class=\"muted\">· <code>{}</code></span></p>",
        escape(op.summary.as_deref().unwrap_or("")),
        escape(&op.id)
    );
    out.push_str(&markdown(op.description.as_deref().unwrap_or("")));

    let credentials = if op.security.is_empty() {
        "none".to_owned()
    } else {
        op.security
            .iter()
            .map(|all| {
                all.iter()
                    .map(|s| {
                        format!(
                            "<a href=\"#security-{}\"><code>{}</code></a>",
                            escape(s),
                            escape(s)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" + ")
            })
            .collect::<Vec<_>>()
            .join(" or ")
    };
    let _ = write!(out, "<p><strong>Credentials:</strong> {credentials}</p>");

    if !op.params.is_empty() {
        out.push_str("<h4>Parameters</h4><table><tr><th>Name</th><th>In</th><th>Type</th><th>Description</th></tr>");
        for param in &op.params {
            let schema =
                serde_json::to_value(&param.schema).map_err(|e| GenError::Parse(e.to_string()))?;
            let location = param.location.name();
            let resolved = resolve(document, &schema);
            let _ = write!(
                out,
                "<tr><td><code>{}</code>{}</td><td>{location}</td><td>{}</td><td>{}<span class=\"muted\">{}</span></td></tr>",
                escape(&param.name),
                if param.required {
                    " <span class=\"required\">required</span>"
                } else {
                    ""
                },
                type_label(&schema),
                markdown(param.description.as_deref().unwrap_or("")),
                constraints(resolved)
            );
        }
        out.push_str("</table>");
    }

    if let Some(body) = &op.body {
        let schema =
            serde_json::to_value(&body.schema).map_err(|e| GenError::Parse(e.to_string()))?;
        let _ = write!(
            out,
            "<h4>Request body</h4><p>{} {}: {}</p>",
            if body.required {
                "Required"
            } else {
                "Optional"
            },
            if body.kind == model::BodyKind::Json {
                "JSON".to_owned()
            } else {
                format!("<code>{}</code>", escape(&body.media))
            },
            type_label(&schema)
        );
        let example_pointer = body.pointer.trim_end_matches("/schema").to_owned() + "/example";
        if let Some(example) = document.pointer(&example_pointer) {
            let _ = write!(out, "<pre><code>{}</code></pre>", escape(&pretty(example)));
        }
    }

    out.push_str(
        "<h4>Responses</h4><table><tr><th>Status</th><th>Description</th><th>Body</th></tr>",
    );
    let mut examples = String::new();
    for response in &op.responses {
        let status = match response.status {
            Status::Code(code) => code.to_string(),
            Status::Range(range) => format!("{range}XX"),
            Status::Default => "default".into(),
        };
        let body = match &response.content {
            ResponseContent::Json(schema) => type_label(
                &serde_json::to_value(schema.as_ref())
                    .map_err(|e| GenError::Parse(e.to_string()))?,
            ),
            ResponseContent::Other(media) => escape(media),
            ResponseContent::None => "<span class=\"muted\">none</span>".into(),
        };
        let _ = write!(
            out,
            "<tr><td><code>{status}</code></td><td>{}</td><td>{body}</td></tr>",
            markdown(&response.description)
        );
        let example = document.pointer(&format!(
            "{}/content/{}/example",
            response.pointer,
            pointer_segment("application/json")
        ));
        if let (Some(example), true) = (example, status.starts_with('2')) {
            let _ = write!(
                examples,
                "<details open><summary>Example {status} response</summary><pre><code>{}</code></pre></details>",
                escape(&pretty(example))
            );
        }
    }
    out.push_str("</table>");
    out.push_str(&examples);
    out.push_str(&code_samples(document, op));
    out.push_str("</section>");
    Ok(out)
}

fn resolve<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
        Some(pointer) => document
            .pointer(pointer)
            .map_or(schema, |s| resolve(document, s)),
        None => schema,
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// An example value for a parameter: its schema's example or default, else a placeholder.
fn param_example(document: &Value, op: &Operation, index: usize) -> Value {
    let param = &op.params[index];
    let schema = serde_json::to_value(&param.schema).unwrap_or_default();
    let schema = resolve(document, &schema);
    schema
        .get("example")
        .or_else(|| schema.get("default"))
        .cloned()
        .unwrap_or_else(|| match schema["type"].as_str() {
            Some("integer") | Some("number") => Value::from(10),
            Some("boolean") => Value::Bool(true),
            _ => Value::String(format!("{}_123", param.name.to_snake_case())),
        })
}

fn code_samples(document: &Value, op: &Operation) -> String {
    let body_example = op.body.as_ref().and_then(|body| {
        document
            .pointer(&(body.pointer.trim_end_matches("/schema").to_owned() + "/example"))
            .cloned()
    });
    let first = op.security.first().cloned().unwrap_or_default();
    let mut headers = Vec::new();
    for scheme in &first {
        match scheme.as_str() {
            "publishableKey" => headers.push(("x-publishable-key", "PUBLISHABLE_KEY")),
            "secretKey" => headers.push(("authorization", "`Bearer ${SECRET_KEY}`")),
            "userJwt" => headers.push(("authorization", "`Bearer ${userToken}`")),
            "operatorToken" => headers.push(("authorization", "`Bearer ${OPERATOR_TOKEN}`")),
            _ => {}
        }
    }
    let success = op.responses.iter().find_map(|r| match r.status {
        Status::Code(code) if (200..300).contains(&code) => Some(code),
        _ => None,
    });

    // TypeScript, through the generated functions.
    let function = op.id.to_lower_camel_case();
    let mut ts = format!("import {{ {function} }} from \"@dream-api/sdk/client\";\n\n");
    let header_text: Vec<String> = headers
        .iter()
        .map(|(name, value)| format!("{name:?}: {value}"))
        .collect();
    let options = if header_text.is_empty() {
        "{ baseUrl: \"http://localhost:8787\" }".to_owned()
    } else {
        format!(
            "{{\n  baseUrl: \"http://localhost:8787\",\n  headers: {{ {} }},\n}}",
            header_text.join(", ")
        )
    };
    let mut fields: Vec<String> = (0..op.params.len())
        .filter(|&i| op.params[i].required || op.params[i].location != Location::Query)
        .map(|i| {
            format!(
                "{}: {}",
                op.params[i].name.to_lower_camel_case(),
                param_example(document, op, i)
            )
        })
        .collect();
    // A file or text body has no JSON example to show: a placeholder of the right type.
    let raw_body = op
        .body
        .as_ref()
        .filter(|_| body_example.is_none())
        .and_then(|body| match body.kind {
            model::BodyKind::Binary => {
                let media = if body.media.contains('*') {
                    "application/octet-stream"
                } else {
                    body.media.as_str()
                };
                Some((
                    format!("new Blob([fileBytes], {{ type: {media:?} }})"),
                    "std::fs::read(\"file\")?",
                ))
            }
            model::BodyKind::Text => Some(("\"text\"".to_owned(), "\"text\".to_string()")),
            _ => None,
        });
    if let Some(example) = &body_example {
        fields.push(format!(
            "body: {}",
            serde_json::to_string(example).unwrap_or_default()
        ));
    } else if let Some((ts_body, _)) = &raw_body {
        fields.push(format!("body: {ts_body}"));
    }
    let args = if fields.is_empty() {
        String::new()
    } else {
        format!(", {{ {} }}", fields.join(", "))
    };
    let _ = writeln!(ts, "const result = await {function}({options}{args});");
    match success {
        Some(code) => {
            let _ = write!(
                ts,
                "if (result.status === {code}) {{\n  console.log(result.body); // typed by the spec\n}} else {{\n  console.error(result.status, result.body);\n}}"
            );
        }
        None => ts.push_str("console.log(result.status, result.body);"),
    }

    // Rust, through the generated client's builders.
    let method = op.id.to_snake_case();
    let mut rust = String::from(
        "let client = dream_client::Client::new_with_client(base_url, http_client_with_credentials);\n",
    );
    if let Some(example) = &body_example {
        let _ = writeln!(
            rust,
            "let body = serde_json::from_value(serde_json::json!({}))?;",
            serde_json::to_string(example).unwrap_or_default()
        );
    }
    let _ = write!(rust, "let response = client\n    .{method}()");
    for i in 0..op.params.len() {
        if op.params[i].required || op.params[i].location != Location::Query {
            let _ = write!(
                rust,
                "\n    .{}({})",
                op.params[i].name.to_snake_case(),
                param_example(document, op, i)
            );
        }
    }
    if body_example.is_some() {
        rust.push_str("\n    .body(body)");
    } else if let Some((_, rust_body)) = &raw_body {
        let _ = write!(rust, "\n    .body({rust_body})");
    }
    rust.push_str("\n    .send()\n    .await?\n    .into_inner();");

    format!(
        "<h4>Code</h4><details open><summary>TypeScript</summary><pre><code>{}</code></pre></details>\
         <details><summary>Rust</summary><pre><code>{}</code></pre></details>",
        escape(&ts),
        escape(&rust)
    )
}

fn schema_section(document: &Value, name: &str, schema: &Value) -> String {
    let mut out = format!(
        "<section class=\"schema\" id=\"schema-{}\"><h3><code>{}</code></h3>{}",
        escape(name),
        escape(name),
        markdown(schema["description"].as_str().unwrap_or(""))
    );
    let properties = schema["properties"].as_object();
    match properties {
        Some(properties) => {
            let required: Vec<&str> = schema["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            out.push_str("<table><tr><th>Field</th><th>Type</th><th>Description</th></tr>");
            for (field, property) in properties {
                let resolved = resolve(document, property);
                let _ = write!(
                    out,
                    "<tr><td><code>{}</code>{}</td><td>{}</td><td>{}<span class=\"muted\">{}</span></td></tr>",
                    escape(field),
                    if required.contains(&field.as_str()) {
                        " <span class=\"required\">required</span>"
                    } else {
                        ""
                    },
                    type_label(property),
                    markdown(property["description"].as_str().unwrap_or("")),
                    constraints(resolved)
                );
            }
            out.push_str("</table>");
        }
        None => {
            let _ = write!(
                out,
                "<p>{} <span class=\"muted\">{}</span></p>",
                type_label(schema),
                constraints(schema)
            );
        }
    }
    out.push_str("</section>");
    out
}

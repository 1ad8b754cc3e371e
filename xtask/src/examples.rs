//! Checking examples against their schemas, and finding the body examples of each operation.

use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::spec::Spec;

/// Why an example was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    /// The schema itself is broken (an unresolved `$ref`, a wrongly typed keyword).
    SchemaDoesNotCompile(String),
    /// The example breaks the schema; one message per violation.
    Mismatch(String),
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Invalid::SchemaDoesNotCompile(e) => write!(f, "schema does not compile: {e}"),
            Invalid::Mismatch(e) => f.write_str(e),
        }
    }
}

/// Validates `example` against an OpenAPI 3.0 `schema` whose `$ref`s point into `spec`.
pub fn validate(spec: &Spec, schema: &Value, example: &Value) -> Result<(), Invalid> {
    let components = spec
        .json
        .pointer("/components/schemas")
        .cloned()
        .unwrap_or_else(|| json!({}));
    // The schema sits in a document that also holds the components, so `#/components/...`
    // references resolve inside it.
    let document = json!({
        "allOf": [to_json_schema(schema)],
        "components": { "schemas": to_json_schema(&components) },
    });
    let validator = jsonschema::draft4::options()
        .should_validate_formats(true)
        .should_ignore_unknown_formats(true)
        .with_format("byte", is_base64)
        .build(&document)
        .map_err(|e| Invalid::SchemaDoesNotCompile(e.to_string()))?;
    let errors: Vec<String> = validator
        .iter_errors(example)
        .map(|e| {
            let at = e.instance_path().to_string();
            if at.is_empty() {
                e.to_string()
            } else {
                format!("at {at}: {e}")
            }
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Invalid::Mismatch(errors.join("; ")))
    }
}

fn is_base64(text: &str) -> bool {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .is_ok()
}

/// Rewrites the OpenAPI 3.0 schema dialect into JSON Schema draft 4.
///
/// `nullable: true` becomes a `null` member of `type`; extensions and OpenAPI-only keywords are
/// dropped because draft 4 would treat them as unknown keywords anyway, and dropping them keeps
/// messages short.
pub fn to_json_schema(schema: &Value) -> Value {
    match schema {
        Value::Object(object) => {
            let mut out = Map::new();
            let nullable = object.get("nullable").and_then(Value::as_bool) == Some(true);
            for (key, value) in object {
                if key.starts_with("x-")
                    || matches!(
                        key.as_str(),
                        "nullable" | "example" | "discriminator" | "xml" | "externalDocs"
                    )
                {
                    continue;
                }
                let converted = match key.as_str() {
                    // Literal values: never rewrite their insides.
                    "enum" | "default" | "const" => value.clone(),
                    _ => to_json_schema(value),
                };
                out.insert(key.clone(), converted);
            }
            if nullable && let Some(Value::String(ty)) = out.get("type").cloned() {
                out.insert("type".into(), json!([ty, "null"]));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(to_json_schema).collect()),
        other => other.clone(),
    }
}

/// A JSON body example of one operation, with the component type it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct BodyExample {
    pub operation_id: String,
    /// `request`, or `response <status>[, <status>...]` for the statuses sharing the example.
    pub role: String,
    /// The `components/schemas` name of the body.
    pub type_name: String,
    pub example: Value,
}

/// Every JSON body example in the spec, in document order, without repeats of the same example
/// for the same type: error responses shared by many operations appear once, under the first
/// operation that uses them.
pub fn body_examples(spec: &Spec) -> Vec<BodyExample> {
    let mut out: Vec<BodyExample> = Vec::new();
    for op in spec.operations() {
        let mut bodies = Vec::new();
        if let Some(body) = op.value.get("requestBody") {
            bodies.push(("request".to_string(), spec.deref(body)));
        }
        if let Some(responses) = op.value.get("responses").and_then(Value::as_object) {
            for (status, response) in responses {
                bodies.push((format!("response {status}"), spec.deref(response)));
            }
        }
        for (role, body) in bodies {
            let Some(media) = body.pointer("/content/application~1json") else {
                continue;
            };
            let Some(reference) = media.pointer("/schema/$ref").and_then(Value::as_str) else {
                continue;
            };
            let example = media
                .get("example")
                .or_else(|| spec.resolve(reference).and_then(|s| s.get("example")));
            let Some(example) = example else {
                continue;
            };
            let type_name = reference
                .rsplit('/')
                .next()
                .unwrap_or(reference)
                .to_string();
            if let Some(seen) = out
                .iter_mut()
                .find(|seen| seen.type_name == type_name && &seen.example == example)
            {
                // Statuses of the same operation that share one example are listed together.
                if seen.operation_id == op.id()
                    && let Some(status) = role.strip_prefix("response ")
                {
                    seen.role.push_str(&format!(", {status}"));
                }
                continue;
            }
            out.push(BodyExample {
                operation_id: op.id().to_string(),
                role,
                type_name,
                example: example.clone(),
            });
        }
    }
    out
}

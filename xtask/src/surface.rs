//! A plain-text rendering of a spec's surface, for snapshot review.
//!
//! It lists every operation (method, path, id, parameters, bodies, responses, limits) and every
//! component schema with its fields and constraints, one fact per line, so that any change to
//! what goes on the wire shows up as a small, readable diff.

use std::fmt::Write as _;

use serde_json::Value;

use crate::spec::Spec;

/// Renders the surface of `spec`.
pub fn render(spec: &Spec) -> String {
    let json = &spec.json;
    let mut out = String::new();
    let info = &json["info"];
    let _ = writeln!(
        out,
        "{} {} (OpenAPI {})",
        text(&info["title"]),
        text(&info["version"]),
        text(&json["openapi"])
    );
    for server in json["servers"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "server {}{}", text(&server["url"]), provenance(server));
    }
    if let Some(schemes) = json
        .pointer("/components/securitySchemes")
        .and_then(Value::as_object)
    {
        for (name, scheme) in schemes {
            let _ = writeln!(
                out,
                "auth {name}: {}{}",
                describe_scheme(scheme),
                provenance(scheme)
            );
        }
    }
    for limit in json["x-rate-limits"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "rate limit: {} requests per {} s per {}{}",
            limit["requests"],
            limit["seconds"],
            text(&limit["per"]),
            provenance(limit)
        );
    }
    let operations = spec.operations();
    let _ = writeln!(out, "{} operations", operations.len());

    let tags: Vec<&str> = json["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str())
        .collect();
    for tag in &tags {
        let feature = json["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["name"].as_str() == Some(tag))
            .and_then(|t| t["x-feature"].as_str())
            .map(|name| format!(" (feature `{name}`)"))
            .unwrap_or_default();
        let _ = writeln!(out, "\n## {tag}{feature}");
        for op in operations
            .iter()
            .filter(|op| first_tag(op.value) == Some(tag))
        {
            render_operation(spec, op.value, op.method, op.path, &mut out);
        }
    }
    let untagged: Vec<_> = operations
        .iter()
        .filter(|op| first_tag(op.value).is_none_or(|t| !tags.contains(&t)))
        .collect();
    if !untagged.is_empty() {
        let _ = writeln!(out, "\n## (no declared tag)");
        for op in untagged {
            render_operation(spec, op.value, op.method, op.path, &mut out);
        }
    }

    if let Some(schemas) = json
        .pointer("/components/schemas")
        .and_then(Value::as_object)
    {
        let _ = writeln!(out, "\n## Schemas");
        for (name, schema) in schemas {
            let _ = writeln!(out, "\n{name}: {}", describe(schema));
            render_fields(schema, 1, &mut out);
            if let Some(codes) = schema.get("x-error-codes").and_then(Value::as_array) {
                for row in codes {
                    let _ = writeln!(
                        out,
                        "  error code {} {} (HTTP {}): {}",
                        row["code"],
                        text(&row["name"]),
                        row["status"],
                        text(&row["message"])
                    );
                }
            }
        }
    }
    out
}

fn first_tag(op: &Value) -> Option<&str> {
    op.pointer("/tags/0").and_then(Value::as_str)
}

fn render_operation(spec: &Spec, op: &Value, method: &str, path: &str, out: &mut String) {
    let _ = writeln!(
        out,
        "\n{} {path}  {}{}",
        method.to_uppercase(),
        text(&op["operationId"]),
        provenance(op)
    );
    if op
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
    {
        let _ = writeln!(out, "  no auth");
    }
    for param in op["parameters"].as_array().into_iter().flatten() {
        let param = spec.deref(param);
        let required = if param["required"].as_bool() == Some(true) {
            ", required"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  {} {}: {}{required}{}",
            text(&param["in"]),
            text(&param["name"]),
            describe(&param["schema"]),
            provenance(param)
        );
    }
    if let Some(body) = op.get("requestBody") {
        let body = spec.deref(body);
        let required = if body["required"].as_bool() == Some(true) {
            " (required)"
        } else {
            ""
        };
        for (media, media_type) in body["content"].as_object().into_iter().flatten() {
            let _ = writeln!(
                out,
                "  body{required} {media}: {}",
                describe(&media_type["schema"])
            );
        }
    }
    // Group statuses that share a description of their body.
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for (status, response) in op["responses"].as_object().into_iter().flatten() {
        let response = spec.deref(response);
        let mut body = match response["content"].as_object() {
            Some(content) if !content.is_empty() => content
                .iter()
                .map(|(media, m)| format!("{media} {}", describe(&m["schema"])))
                .collect::<Vec<_>>()
                .join(" | "),
            _ => "no body".to_string(),
        };
        body.push_str(&provenance(response));
        for (name, header) in response["headers"].as_object().into_iter().flatten() {
            let header = spec.deref(header);
            let _ = write!(
                body,
                "\n    header {name}: {}{}",
                describe(&header["schema"]),
                provenance(header)
            );
        }
        match groups.iter_mut().find(|(b, _)| *b == body) {
            Some((_, statuses)) => statuses.push(status.clone()),
            None => groups.push((body, vec![status.clone()])),
        }
    }
    for (body, statuses) in groups {
        let _ = writeln!(out, "  {}: {body}", statuses.join(" "));
    }
    for set in op["x-limits"].as_array().into_iter().flatten() {
        let mut facts = Vec::new();
        if let Some(object) = set.as_object() {
            for (key, value) in object {
                if key != "name" && key != "description" {
                    facts.push(format!("{key} {}", compact(value)));
                }
            }
        }
        let _ = writeln!(out, "  limits {}: {}", text(&set["name"]), facts.join("; "));
    }
    for (key, label) in [("x-polling", "polling"), ("x-cost", "cost")] {
        for rule in op[key].as_array().into_iter().flatten() {
            let facts: Vec<String> = rule
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, _)| *k != "description")
                .map(|(k, v)| format!("{k} {}", compact(v)))
                .collect();
            let _ = writeln!(out, "  {label}: {}", facts.join("; "));
        }
    }
    if let Some(facts) = op.get("x-result-formats") {
        let _ = writeln!(
            out,
            "  result formats: {}{}",
            compact(&facts["formats"]),
            provenance(facts)
        );
    }
    if let Some(seconds) = op.get("x-token-lifetime-seconds") {
        let _ = writeln!(out, "  token lifetime: {seconds} s");
    }
}

/// Lists the properties of an object schema (and of inline nested objects), one per line.
fn render_fields(schema: &Value, depth: usize, out: &mut String) {
    let indent = "  ".repeat(depth);
    let schema = match schema.get("items") {
        Some(items) if schema["type"] == "array" && items.get("$ref").is_none() => items,
        _ => schema,
    };
    let required: Vec<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for (name, property) in schema["properties"].as_object().into_iter().flatten() {
        let mark = if required.contains(&name.as_str()) {
            ", required"
        } else {
            ""
        };
        let _ = writeln!(out, "{indent}{name}: {}{mark}", describe(property));
        if property.get("$ref").is_none() {
            render_fields(property, depth + 1, out);
        }
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        for member in schema[key].as_array().into_iter().flatten() {
            let _ = writeln!(out, "{indent}{key}: {}", describe(member));
        }
    }
}

/// One-line description of a schema: type, format, constraints, default, provenance.
pub fn describe(schema: &Value) -> String {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        return reference
            .rsplit('/')
            .next()
            .unwrap_or(reference)
            .to_string();
    }
    let mut out = match schema["type"].as_str() {
        Some("array") => format!("array<{}>", describe(&schema["items"])),
        Some(ty) => ty.to_string(),
        None if schema.get("allOf").is_some() => "allOf".to_string(),
        None if schema.get("oneOf").is_some() => "oneOf".to_string(),
        None => "any".to_string(),
    };
    if let Some(format) = schema["format"].as_str() {
        let _ = write!(out, "({format})");
    }
    if schema["nullable"].as_bool() == Some(true) {
        out.push_str(" nullable");
    }
    if let Some(values) = schema.get("enum") {
        let _ = write!(out, " enum {}", compact(values));
    }
    if let Some(names) = schema.get("x-enum-varnames") {
        let _ = write!(out, " names {}", compact(names));
    }
    let range = |min: &str, max: &str| match (schema.get(min), schema.get(max)) {
        (None, None) => None,
        (lo, hi) => Some(format!(
            "{}..{}",
            lo.map(compact).unwrap_or_default(),
            hi.map(compact).unwrap_or_default()
        )),
    };
    if let Some(r) = range("minimum", "maximum") {
        let _ = write!(out, " range {r}");
        for (key, label) in [("exclusiveMinimum", "min"), ("exclusiveMaximum", "max")] {
            if schema[key].as_bool() == Some(true) {
                let _ = write!(out, " (exclusive {label})");
            }
        }
    }
    if let Some(r) = range("minItems", "maxItems") {
        let _ = write!(out, " items {r}");
    }
    if let Some(r) = range("minLength", "maxLength") {
        let _ = write!(out, " length {r}");
    }
    if let Some(pattern) = schema["pattern"].as_str() {
        let _ = write!(out, " pattern {pattern}");
    }
    if let Some(default) = schema.get("default") {
        let _ = write!(out, " default {}", compact(default));
    }
    if let Some(additional) = schema.get("additionalProperties") {
        let _ = write!(
            out,
            " additionalProperties {}",
            match additional {
                Value::Bool(b) => b.to_string(),
                other => describe(other),
            }
        );
    }
    out.push_str(&provenance(schema));
    out
}

fn describe_scheme(scheme: &Value) -> String {
    match scheme["type"].as_str() {
        Some("apiKey") => format!(
            "apiKey in {} `{}`",
            text(&scheme["in"]),
            text(&scheme["name"])
        ),
        Some("http") => format!("http {}", text(&scheme["scheme"])),
        Some(other) => other.to_string(),
        None => "?".to_string(),
    }
}

/// ` [source: inferred]` and ` [doc conflict]` markers.
fn provenance(value: &Value) -> String {
    let mut out = String::new();
    if let Some(source) = value.get("x-source").and_then(Value::as_str) {
        let _ = write!(out, " [source: {source}]");
    }
    if value.get("x-doc-conflict").is_some() {
        out.push_str(" [doc conflict]");
    }
    out
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn compact(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

//! `constants.rs`: every documented range, length, item count, default and request enum value
//! list of a spec, as Rust constants.
//!
//! progenitor does not enforce `maximum`, `maxItems` and similar bounds, and offers no way to
//! read a default or list an enum's values; the facade, the sandbox and the command line read
//! these constants instead of repeating the numbers.
//!
//! One module per component schema (`hotshot_xl_request`), plus `parameters`. A constant is
//! named by the property path and the fact: `STEPS_MAXIMUM`, `HINT_COLOR_LIST_MAX_ITEMS`,
//! `HINT_COLOR_LIST_ITEMS_DEFAULT`, `MODEL_NAME_VALUES`.

use std::fmt::Write as _;

use heck::{ToShoutySnakeCase, ToSnakeCase};
use serde_json::Value;

use crate::model::TypedEnum;
use crate::spec::Spec;

/// The module source, or `None` when the spec states no such fact.
pub fn module(spec: &Spec, enums: &[TypedEnum]) -> Option<String> {
    let mut body = String::new();
    if let Some(schemas) = spec
        .json
        .pointer("/components/schemas")
        .and_then(Value::as_object)
    {
        for (name, schema) in schemas {
            let mut items = String::new();
            collect(spec, enums, schema, &[], &mut items);
            if !items.is_empty() {
                let _ = writeln!(
                    body,
                    "/// Facts of [`crate::types::{name}`].\npub mod {} {{\n{items}}}\n",
                    module_name(name)
                );
            }
        }
    }
    let mut parameters = String::new();
    if let Some(components) = spec
        .json
        .pointer("/components/parameters")
        .and_then(Value::as_object)
    {
        // Named by their component key: two parameters may share a wire name.
        for (key, parameter) in components {
            if let Some(schema) = parameter.get("schema") {
                collect(spec, enums, schema, &[key.to_snake_case()], &mut parameters);
            }
        }
    }
    for op in spec.operations() {
        for parameter in op
            .value
            .get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|p| p.get("$ref").is_none())
        {
            parameter_facts(spec, enums, parameter, op.id(), &mut parameters);
        }
    }
    if !parameters.is_empty() {
        let _ = writeln!(
            body,
            "/// Facts of the operations' parameters.\npub mod parameters {{\n{parameters}}}\n"
        );
    }
    if body.is_empty() {
        return None;
    }
    Some(format!(
        "//! Documented ranges, lengths, item counts, defaults and value lists of `specs/{}.yaml`.\n\
         //!\n\
         //! The generated types do not enforce most bounds; these constants are what pixmill\n\
         //! validates against.\n\n\
         #![allow(clippy::approx_constant)]\n\n{body}",
        spec.provider
    ))
}

/// A module name that is a valid identifier (`r#type` is not needed: schema names are
/// PascalCase words).
fn module_name(schema: &str) -> String {
    schema.to_snake_case()
}

fn parameter_facts(
    spec: &Spec,
    enums: &[TypedEnum],
    parameter: &Value,
    operation: &str,
    out: &mut String,
) {
    let (Some(name), Some(schema)) = (
        parameter.get("name").and_then(Value::as_str),
        parameter.get("schema"),
    ) else {
        return;
    };
    let mut path = Vec::new();
    if !operation.is_empty() {
        path.push(operation.to_string());
    }
    path.push(name.to_string());
    collect(spec, enums, schema, &path, out);
}

/// Writes the constants of `schema` (reached by `path`) and of everything inline below it.
fn collect(spec: &Spec, enums: &[TypedEnum], schema: &Value, path: &[String], out: &mut String) {
    let Some(object) = schema.as_object() else {
        return;
    };
    if object.contains_key("$ref") {
        // Facts of a referenced component belong to that component's module.
        return;
    }
    let prefix = if path.is_empty() {
        String::new()
    } else {
        format!("{}_", path.join("_").to_shouty_snake_case())
    };
    let field = if path.is_empty() {
        "the schema".to_string()
    } else {
        format!("`{}`", path.join("."))
    };
    let kind = object.get("type").and_then(Value::as_str).or_else(|| {
        // `allOf: [$ref]` wrappers take the referenced schema's type.
        first_all_of(spec, object).and_then(|s| s.get("type").and_then(Value::as_str))
    });
    for (key, exclusive_key, fact, what) in [
        (
            "minimum",
            "exclusiveMinimum",
            "MINIMUM",
            "smallest accepted value",
        ),
        (
            "maximum",
            "exclusiveMaximum",
            "MAXIMUM",
            "largest accepted value",
        ),
    ] {
        if let Some(number) = object.get(key) {
            let exclusive = object.get(exclusive_key).and_then(Value::as_bool) == Some(true);
            let (what, fact) = if exclusive {
                (
                    format!("{what} (exclusive bound)"),
                    format!("EXCLUSIVE_{fact}"),
                )
            } else {
                (what.to_string(), fact.to_string())
            };
            if let Some((ty, literal)) = number_literal(kind, number) {
                let _ = writeln!(
                    out,
                    "/// {field}: {what}.\npub const {prefix}{fact}: {ty} = {literal};"
                );
            }
        }
    }
    for (key, fact, what) in [
        ("minLength", "MIN_LENGTH", "fewest characters"),
        ("maxLength", "MAX_LENGTH", "most characters"),
        ("minItems", "MIN_ITEMS", "fewest items"),
        ("maxItems", "MAX_ITEMS", "most items"),
    ] {
        if let Some(count) = object.get(key).and_then(Value::as_u64) {
            let _ = writeln!(
                out,
                "/// {field}: {what}.\npub const {prefix}{fact}: usize = {count};"
            );
        }
    }
    if let Some(pattern) = object.get("pattern").and_then(Value::as_str) {
        let _ = writeln!(
            out,
            "/// {field}: the regular expression values must match.\npub const {prefix}PATTERN: &str = {pattern:?};"
        );
    }
    if let Some(values) = object.get("enum").and_then(Value::as_array)
        && values.iter().all(Value::is_string)
    {
        let listed: Vec<String> = values
            .iter()
            .filter_map(Value::as_str)
            .map(|v| format!("{v:?}"))
            .collect();
        let _ = writeln!(
            out,
            "/// {field}: the documented values, in the spec's order.\npub const {prefix}VALUES: &[&str] = &[{}];",
            listed.join(", ")
        );
    }
    if let Some(default) = object.get("default") {
        let typed = first_all_of_name(object)
            .and_then(|name| enums.iter().find(|e| e.name == name))
            .and_then(|e| {
                let index = e.values.iter().position(|v| v == default)?;
                Some((
                    format!("crate::enums::{}", e.name),
                    format!("crate::enums::{}::{}", e.name, e.variants[index]),
                ))
            });
        if let Some((ty, literal)) = typed.or_else(|| value_literal(kind, default)) {
            let _ = writeln!(
                out,
                "/// {field}: the value the provider uses when the field is left out.\npub const {prefix}DEFAULT: {ty} = {literal};"
            );
        }
    }
    if let Some(items) = object.get("items") {
        let mut child = path.to_vec();
        child.push("items".into());
        collect(spec, enums, items, &child, out);
    }
    for (name, property) in object
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let mut child = path.to_vec();
        child.push(name.clone());
        collect(spec, enums, property, &child, out);
    }
}

fn first_all_of<'a>(
    spec: &'a Spec,
    object: &'a serde_json::Map<String, Value>,
) -> Option<&'a Value> {
    object
        .get("allOf")
        .and_then(Value::as_array)
        .and_then(|all| all.first())
        .map(|first| spec.deref(first))
}

fn first_all_of_name(object: &serde_json::Map<String, Value>) -> Option<&str> {
    object
        .get("allOf")
        .and_then(Value::as_array)
        .and_then(|all| all.first())
        .and_then(|first| first.get("$ref"))
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
}

fn number_literal(kind: Option<&str>, number: &Value) -> Option<(String, String)> {
    match kind {
        Some("integer") => number.as_i64().map(|n| ("i64".to_string(), n.to_string())),
        _ => number
            .as_f64()
            .map(|n| ("f64".to_string(), format!("{n:?}"))),
    }
}

/// A Rust type and literal for a JSON default; `None` for shapes without a natural constant.
fn value_literal(kind: Option<&str>, value: &Value) -> Option<(String, String)> {
    match value {
        Value::Bool(b) => Some(("bool".into(), b.to_string())),
        Value::String(s) => Some(("&str".into(), format!("{s:?}"))),
        Value::Number(_) => number_literal(kind, value),
        Value::Array(items) => {
            let parts: Option<Vec<(String, String)>> =
                items.iter().map(|item| value_literal(None, item)).collect();
            let parts = parts?;
            let ty = parts
                .first()
                .map(|(t, _)| t.clone())
                .unwrap_or("i64".into());
            if parts.iter().any(|(t, _)| *t != ty) {
                return None;
            }
            // Whole numbers in arrays are integers.
            let ty = if ty == "f64" && items.iter().all(|i| i.as_i64().is_some()) {
                "i64".to_string()
            } else {
                ty
            };
            let literals: Vec<String> = items
                .iter()
                .zip(&parts)
                .map(|(item, (_, literal))| {
                    item.as_i64()
                        .filter(|_| ty == "i64")
                        .map(|n| n.to_string())
                        .unwrap_or_else(|| literal.clone())
                })
                .collect();
            Some((format!("&[{ty}]"), format!("&[{}]", literals.join(", "))))
        }
        _ => None,
    }
}

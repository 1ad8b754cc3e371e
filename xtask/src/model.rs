//! What a spec means beyond its text: which schemas travel in requests and which in answers,
//! the enums pixmill types itself, and the features declared with `x-feature`.
//!
//! Lint and codegen both read this model, so a rule the lint enforces is the rule codegen
//! relies on.

use std::collections::{BTreeMap, BTreeSet};

use heck::ToUpperCamelCase;
use serde_json::Value;

use crate::facts;
use crate::spec::{Operation, Spec, pointer_of};

/// Where a schema travels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Direction {
    /// Sent in a request body or parameter.
    pub request: bool,
    /// Received in a response body.
    pub response: bool,
}

/// An `enum` written inline instead of as a component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineEnum {
    pub pointer: String,
    pub integer: bool,
    pub direction: Direction,
}

/// Where every component schema and inline enum travels.
#[derive(Debug, Default)]
pub struct Usage {
    pub components: BTreeMap<String, Direction>,
    pub inline_enums: Vec<InlineEnum>,
}

/// Follows every operation's parameters, request bodies and response bodies through `$ref`s.
pub fn usage(spec: &Spec) -> Usage {
    let mut walker = Walker {
        spec,
        usage: Usage::default(),
        seen: BTreeSet::new(),
    };
    for op in spec.operations() {
        let pointer = op.pointer();
        for (index, parameter) in op
            .value
            .get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let parameter = spec.deref(parameter);
            if let Some(schema) = parameter.get("schema") {
                let at = format!("{pointer}/parameters/{index}/schema");
                walker.walk(schema, &at, false);
            }
        }
        if let Some(body) = op.value.get("requestBody") {
            let body = spec.deref(body);
            for (media, media_type) in body
                .get("content")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                if let Some(schema) = media_type.get("schema") {
                    let at = format!("{pointer}/requestBody/content/{}/schema", escape(media));
                    walker.walk(schema, &at, false);
                }
            }
        }
        for (status, response) in op
            .value
            .get("responses")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let response = spec.deref(response);
            for (media, media_type) in response
                .get("content")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                if let Some(schema) = media_type.get("schema") {
                    let at = format!(
                        "{pointer}/responses/{}/content/{}/schema",
                        escape(status),
                        escape(media)
                    );
                    walker.walk(schema, &at, true);
                }
            }
        }
    }
    walker.usage
}

struct Walker<'a> {
    spec: &'a Spec,
    usage: Usage,
    /// (component, response?) pairs already walked.
    seen: BTreeSet<(String, bool)>,
}

impl Walker<'_> {
    fn walk(&mut self, schema: &Value, pointer: &str, response: bool) {
        let Some(object) = schema.as_object() else {
            return;
        };
        if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
            let Some(name) = reference.strip_prefix("#/components/schemas/") else {
                return;
            };
            let direction = self.usage.components.entry(name.to_string()).or_default();
            if response {
                direction.response = true;
            } else {
                direction.request = true;
            }
            if self.seen.insert((name.to_string(), response))
                && let Some(target) = self.spec.resolve(reference)
            {
                let at = pointer_of(&["components", "schemas", name]);
                self.walk(target, &at, response);
            }
            return;
        }
        let is_component =
            pointer.starts_with("/components/schemas/") && pointer.matches('/').count() == 3;
        if object.contains_key("enum") && !is_component {
            let integer = object.get("type").and_then(Value::as_str) == Some("integer");
            match self
                .usage
                .inline_enums
                .iter_mut()
                .find(|e| e.pointer == pointer)
            {
                Some(found) => mark(&mut found.direction, response),
                None => {
                    let mut direction = Direction::default();
                    mark(&mut direction, response);
                    self.usage.inline_enums.push(InlineEnum {
                        pointer: pointer.to_string(),
                        integer,
                        direction,
                    });
                }
            }
        }
        for key in ["allOf", "oneOf", "anyOf"] {
            for (index, child) in object
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                self.walk(child, &format!("{pointer}/{key}/{index}"), response);
            }
        }
        for key in ["items", "not", "additionalProperties"] {
            if let Some(child) = object.get(key) {
                self.walk(child, &format!("{pointer}/{key}"), response);
            }
        }
        for (name, child) in object
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            self.walk(
                child,
                &format!("{pointer}/properties/{}", escape(name)),
                response,
            );
        }
    }
}

fn mark(direction: &mut Direction, response: bool) {
    if response {
        direction.response = true;
    } else {
        direction.request = true;
    }
}

fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// The JSON type of an enum's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnumKind {
    String,
    Integer,
}

/// An enum component that pixmill generates itself instead of leaving it to progenitor: every
/// enum that appears in an answer (open: unknown values are kept) and every integer enum
/// (closed, with the variant names of `x-enum-varnames`).
#[derive(Debug, Clone)]
pub struct TypedEnum {
    pub name: String,
    pub kind: EnumKind,
    pub values: Vec<Value>,
    pub variants: Vec<String>,
    /// Answers may carry values the spec does not list.
    pub open: bool,
    pub description: Option<String>,
    pub default: Option<Value>,
}

impl TypedEnum {
    /// The value of variant `index` as wire text (`running`, `4`).
    pub fn wire(&self, index: usize) -> String {
        match &self.values[index] {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        }
    }
}

/// The variant name of an enum value: `x-enum-varnames` when given, else the value in
/// UpperCamelCase (`error_no_face` → `ErrorNoFace`, `image/jpeg` → `ImageJpeg`).
pub fn variant_name(value: &Value) -> String {
    let text = match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let name = text.to_upper_camel_case();
    if name.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
        name
    } else {
        format!("V{name}")
    }
}

/// The enums codegen types itself, in document order. Fails on what the lint reports too
/// (an enum used in both directions, missing or broken `x-enum-varnames`).
pub fn typed_enums(spec: &Spec) -> Result<Vec<TypedEnum>, String> {
    let usage = usage(spec);
    let mut out = Vec::new();
    let Some(schemas) = spec
        .json
        .pointer("/components/schemas")
        .and_then(Value::as_object)
    else {
        return Ok(out);
    };
    for (name, schema) in schemas {
        let Some(values) = schema.get("enum").and_then(Value::as_array) else {
            continue;
        };
        let kind = match schema.get("type").and_then(Value::as_str) {
            Some("integer") => EnumKind::Integer,
            Some("string") => EnumKind::String,
            other => {
                return Err(format!(
                    "enum `{name}` has type {other:?}; only string and integer enums are supported"
                ));
            }
        };
        let direction = usage.components.get(name).copied().unwrap_or_default();
        if direction.request && direction.response {
            return Err(format!(
                "enum `{name}` is used in requests and in answers; split it so the request side stays closed"
            ));
        }
        let open = direction.response;
        if !open && kind == EnumKind::String {
            continue;
        }
        let variants = match schema.get("x-enum-varnames") {
            Some(names) => facts::parse_enum_varnames(names, Some(&Value::Array(values.clone())))
                .map_err(|e| format!("enum `{name}`: {e}"))?,
            None if kind == EnumKind::Integer => {
                return Err(format!(
                    "integer enum `{name}` needs `x-enum-varnames` (one Rust variant name per value)"
                ));
            }
            None => values.iter().map(variant_name).collect(),
        };
        let unique: BTreeSet<&String> = variants.iter().collect();
        if unique.len() != variants.len() {
            return Err(format!(
                "enum `{name}`: two values give the same variant name; add `x-enum-varnames`"
            ));
        }
        if open && variants.iter().any(|v| v == "Unknown") {
            return Err(format!(
                "enum `{name}`: the variant name `Unknown` is kept for undocumented values; add `x-enum-varnames`"
            ));
        }
        out.push(TypedEnum {
            name: name.clone(),
            kind,
            values: values.clone(),
            variants,
            open,
            description: schema
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_string),
            default: schema.get("default").cloned(),
        });
    }
    Ok(out)
}

/// One operation of a feature, by the role its id names.
#[derive(Debug, Clone)]
pub struct FeatureOperation<'a> {
    pub role: &'static str,
    pub operation: Operation<'a>,
}

/// A feature: the operations of one tag that carries `x-feature`.
#[derive(Debug, Clone)]
pub struct Feature<'a> {
    /// snake_case name (`hair_style`).
    pub name: String,
    /// The tag's name (`AI Hairstyle Generator`).
    pub title: String,
    pub description: Option<String>,
    pub operations: Vec<FeatureOperation<'a>>,
}

impl<'a> Feature<'a> {
    /// The operation playing `role`, if the feature has one.
    pub fn operation(&self, role: &str) -> Option<&Operation<'a>> {
        self.operations
            .iter()
            .find(|op| op.role == role)
            .map(|op| &op.operation)
    }
}

/// The features of a spec, in tag order. Fails on an operation of a feature tag whose id is not
/// `<feature>_<role>`, and on a feature without `run_task` or `check_status`.
pub fn features(spec: &Spec) -> Result<Vec<Feature<'_>>, Vec<(String, String)>> {
    let mut features = Vec::new();
    let mut problems = Vec::new();
    let mut names = BTreeSet::new();
    for (index, tag) in spec
        .json
        .get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let Some(value) = tag.get("x-feature") else {
            continue;
        };
        let at = pointer_of(&["tags", &index.to_string(), "x-feature"]);
        let name = match facts::parse_feature(value) {
            Ok(name) => name,
            Err(e) => {
                problems.push((at, e));
                continue;
            }
        };
        if !names.insert(name.clone()) {
            problems.push((at, format!("feature `{name}` is declared twice")));
            continue;
        }
        let title = tag
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mut operations = Vec::new();
        for op in spec.operations() {
            let tagged = op
                .value
                .get("tags")
                .and_then(Value::as_array)
                .is_some_and(|tags| tags.iter().any(|t| t.as_str() == Some(&title)));
            if !tagged {
                continue;
            }
            let role = op
                .id()
                .strip_prefix(name.as_str())
                .and_then(|rest| rest.strip_prefix('_'))
                .and_then(|role| facts::FEATURE_ROLES.iter().find(|r| **r == role));
            match role {
                Some(role) if operations.iter().any(|o: &FeatureOperation| o.role == *role) => {
                    problems.push((
                        op.pointer(),
                        format!("feature `{name}` has two `{role}` operations"),
                    ))
                }
                Some(role) => operations.push(FeatureOperation {
                    role,
                    operation: op,
                }),
                None => problems.push((
                    format!("{}/operationId", op.pointer()),
                    format!(
                        "operation `{}` of feature `{name}` must be named `{name}_<role>` with a role among {}",
                        op.id(),
                        facts::FEATURE_ROLES.join(", ")
                    ),
                )),
            }
        }
        for required in ["run_task", "check_status"] {
            if !operations.iter().any(|o| o.role == required) {
                problems.push((
                    at.clone(),
                    format!("feature `{name}` has no `{required}` operation"),
                ));
            }
        }
        features.push(Feature {
            name,
            title,
            description: tag
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_string),
            operations,
        });
    }
    if problems.is_empty() {
        Ok(features)
    } else {
        Err(problems)
    }
}

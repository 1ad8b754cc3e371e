//! Spec lint: the checks the OpenAPI parser and progenitor do not make.
//!
//! The parser drops keys it does not know, so a misspelt `requird` or a `minimum` placed on a
//! parameter instead of its schema silently changes the generated client. The walker below knows
//! which keys each OpenAPI 3.0.3 object may hold and reports every other one.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value};

use crate::examples;
use crate::facts::{self, SOURCES};
use crate::model;
use crate::spec::{Spec, pointer_of};

/// One rejection: where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub file: String,
    pub pointer: String,
    pub reason: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pointer = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(f, "{}: {}: {}", self.file, pointer, self.reason)
    }
}

/// Lints one spec and returns every finding, in document order.
pub fn lint(spec: &Spec) -> Vec<Finding> {
    let mut linter = Linter {
        spec,
        findings: Vec::new(),
        examples: Vec::new(),
    };
    linter.visit(Kind::Root, &spec.json, &mut Vec::new());
    linter.check_operations();
    linter.check_components();
    linter.check_enums();
    linter.check_features();
    // A schema that does not compile has already been reported by the walk above; repeating
    // it for each example would only bury the first report.
    let structural_findings = !linter.findings.is_empty();
    let examples = std::mem::take(&mut linter.examples);
    for site in examples {
        match examples::validate(spec, &site.schema, &site.example) {
            Ok(()) => {}
            Err(examples::Invalid::SchemaDoesNotCompile(_)) if structural_findings => {}
            Err(reason) => linter.report_at(
                site.pointer,
                format!("{} does not match its schema: {reason}", site.what),
            ),
        }
    }
    linter.findings
}

/// The kinds of OpenAPI object the walker knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Root,
    Info,
    Contact,
    License,
    Server,
    ServerVariable,
    Components,
    Paths,
    PathItem,
    Operation,
    ExternalDocs,
    Parameter,
    RequestBody,
    MediaType,
    Encoding,
    Responses,
    Response,
    Header,
    Example,
    Tag,
    Schema,
    SecurityScheme,
    SecurityRequirement,
}

/// What a key holds.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Str,
    Bool,
    Number,
    StrList,
    /// Any JSON value (examples, defaults, enums).
    Any,
    One(Kind),
    MapOf(Kind),
    ListOf(Kind),
    /// `additionalProperties`: a boolean or a schema.
    BoolOrSchema,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Root => "OpenAPI",
            Kind::Info => "Info",
            Kind::Contact => "Contact",
            Kind::License => "License",
            Kind::Server => "Server",
            Kind::ServerVariable => "Server Variable",
            Kind::Components => "Components",
            Kind::Paths => "Paths",
            Kind::PathItem => "Path Item",
            Kind::Operation => "Operation",
            Kind::ExternalDocs => "External Documentation",
            Kind::Parameter => "Parameter",
            Kind::RequestBody => "Request Body",
            Kind::MediaType => "Media Type",
            Kind::Encoding => "Encoding",
            Kind::Responses => "Responses",
            Kind::Response => "Response",
            Kind::Header => "Header",
            Kind::Example => "Example",
            Kind::Tag => "Tag",
            Kind::Schema => "Schema",
            Kind::SecurityScheme => "Security Scheme",
            Kind::SecurityRequirement => "Security Requirement",
        }
    }

    /// Where a `$ref` standing for this kind must point.
    fn ref_prefix(self) -> Option<&'static str> {
        match self {
            Kind::Schema => Some("#/components/schemas/"),
            Kind::Response => Some("#/components/responses/"),
            Kind::Parameter => Some("#/components/parameters/"),
            Kind::RequestBody => Some("#/components/requestBodies/"),
            Kind::Header => Some("#/components/headers/"),
            Kind::Example => Some("#/components/examples/"),
            Kind::SecurityScheme => Some("#/components/securitySchemes/"),
            _ => None,
        }
    }

    /// The keys this kind may hold, with what each holds.
    fn slots(self) -> &'static [(&'static str, Slot)] {
        use Slot::*;
        match self {
            Kind::Root => &[
                ("openapi", Str),
                ("info", One(Kind::Info)),
                ("servers", ListOf(Kind::Server)),
                ("security", ListOf(Kind::SecurityRequirement)),
                ("tags", ListOf(Kind::Tag)),
                ("paths", One(Kind::Paths)),
                ("components", One(Kind::Components)),
                ("externalDocs", One(Kind::ExternalDocs)),
            ],
            Kind::Info => &[
                ("title", Str),
                ("description", Str),
                ("termsOfService", Str),
                ("contact", One(Kind::Contact)),
                ("license", One(Kind::License)),
                ("version", Str),
            ],
            Kind::Contact => &[("name", Str), ("url", Str), ("email", Str)],
            Kind::License => &[("name", Str), ("url", Str)],
            Kind::Server => &[
                ("url", Str),
                ("description", Str),
                ("variables", MapOf(Kind::ServerVariable)),
            ],
            Kind::ServerVariable => &[("enum", StrList), ("default", Str), ("description", Str)],
            Kind::Components => &[
                ("securitySchemes", MapOf(Kind::SecurityScheme)),
                ("parameters", MapOf(Kind::Parameter)),
                ("headers", MapOf(Kind::Header)),
                ("requestBodies", MapOf(Kind::RequestBody)),
                ("responses", MapOf(Kind::Response)),
                ("examples", MapOf(Kind::Example)),
                ("schemas", MapOf(Kind::Schema)),
            ],
            Kind::Paths => &[],
            Kind::PathItem => &[
                ("summary", Str),
                ("description", Str),
                ("get", One(Kind::Operation)),
                ("put", One(Kind::Operation)),
                ("post", One(Kind::Operation)),
                ("delete", One(Kind::Operation)),
                ("options", One(Kind::Operation)),
                ("head", One(Kind::Operation)),
                ("patch", One(Kind::Operation)),
                ("trace", One(Kind::Operation)),
                ("servers", ListOf(Kind::Server)),
                ("parameters", ListOf(Kind::Parameter)),
            ],
            Kind::Operation => &[
                ("tags", StrList),
                ("summary", Str),
                ("description", Str),
                ("externalDocs", One(Kind::ExternalDocs)),
                ("operationId", Str),
                ("parameters", ListOf(Kind::Parameter)),
                ("requestBody", One(Kind::RequestBody)),
                ("responses", One(Kind::Responses)),
                ("deprecated", Bool),
                ("security", ListOf(Kind::SecurityRequirement)),
                ("servers", ListOf(Kind::Server)),
            ],
            Kind::ExternalDocs => &[("description", Str), ("url", Str)],
            Kind::Parameter => &[
                ("name", Str),
                ("in", Str),
                ("description", Str),
                ("required", Bool),
                ("deprecated", Bool),
                ("allowEmptyValue", Bool),
                ("style", Str),
                ("explode", Bool),
                ("allowReserved", Bool),
                ("schema", One(Kind::Schema)),
                ("example", Any),
                ("examples", MapOf(Kind::Example)),
                ("content", MapOf(Kind::MediaType)),
            ],
            Kind::RequestBody => &[
                ("description", Str),
                ("content", MapOf(Kind::MediaType)),
                ("required", Bool),
            ],
            Kind::MediaType => &[
                ("schema", One(Kind::Schema)),
                ("example", Any),
                ("examples", MapOf(Kind::Example)),
                ("encoding", MapOf(Kind::Encoding)),
            ],
            Kind::Encoding => &[
                ("contentType", Str),
                ("headers", MapOf(Kind::Header)),
                ("style", Str),
                ("explode", Bool),
                ("allowReserved", Bool),
            ],
            Kind::Responses => &[],
            Kind::Response => &[
                ("description", Str),
                ("headers", MapOf(Kind::Header)),
                ("content", MapOf(Kind::MediaType)),
            ],
            Kind::Header => &[
                ("description", Str),
                ("required", Bool),
                ("deprecated", Bool),
                ("allowEmptyValue", Bool),
                ("style", Str),
                ("explode", Bool),
                ("allowReserved", Bool),
                ("schema", One(Kind::Schema)),
                ("example", Any),
                ("examples", MapOf(Kind::Example)),
                ("content", MapOf(Kind::MediaType)),
            ],
            Kind::Example => &[
                ("summary", Str),
                ("description", Str),
                ("value", Any),
                ("externalValue", Str),
            ],
            Kind::Tag => &[
                ("name", Str),
                ("description", Str),
                ("externalDocs", One(Kind::ExternalDocs)),
            ],
            Kind::Schema => &[
                ("title", Str),
                ("multipleOf", Number),
                ("maximum", Number),
                ("exclusiveMaximum", Bool),
                ("minimum", Number),
                ("exclusiveMinimum", Bool),
                ("maxLength", Number),
                ("minLength", Number),
                ("pattern", Str),
                ("maxItems", Number),
                ("minItems", Number),
                ("uniqueItems", Bool),
                ("maxProperties", Number),
                ("minProperties", Number),
                ("required", StrList),
                ("enum", Any),
                ("type", Str),
                ("allOf", ListOf(Kind::Schema)),
                ("oneOf", ListOf(Kind::Schema)),
                ("anyOf", ListOf(Kind::Schema)),
                ("not", One(Kind::Schema)),
                ("items", One(Kind::Schema)),
                ("properties", MapOf(Kind::Schema)),
                ("additionalProperties", BoolOrSchema),
                ("description", Str),
                ("format", Str),
                ("default", Any),
                ("nullable", Bool),
                ("readOnly", Bool),
                ("writeOnly", Bool),
                ("example", Any),
                ("deprecated", Bool),
            ],
            Kind::SecurityScheme => &[
                ("type", Str),
                ("description", Str),
                ("name", Str),
                ("in", Str),
                ("scheme", Str),
                ("bearerFormat", Str),
                ("openIdConnectUrl", Str),
            ],
            Kind::SecurityRequirement => &[],
        }
    }

    /// The `x-` extensions this kind may carry.
    fn extensions(self) -> &'static [&'static str] {
        const PROVENANCE: &[&str] = &["x-source", "x-doc-conflict"];
        match self {
            Kind::Root => &["x-rate-limits", "x-retention"],
            Kind::Tag => &["x-feature"],
            Kind::Operation => &[
                "x-source",
                "x-doc-conflict",
                "x-limits",
                "x-cost",
                "x-polling",
                "x-token-lifetime-seconds",
                "x-result-formats",
            ],
            Kind::Schema => &[
                "x-source",
                "x-doc-conflict",
                "x-error-codes",
                "x-enum-varnames",
            ],
            Kind::Parameter
            | Kind::Header
            | Kind::Server
            | Kind::SecurityScheme
            | Kind::Response
            | Kind::RequestBody => PROVENANCE,
            _ => &[],
        }
    }
}

/// An example or default found while walking, checked once the walk is done.
struct ExampleSite {
    /// `example` or `default`.
    what: &'static str,
    pointer: String,
    schema: Value,
    example: Value,
}

struct Linter<'a> {
    spec: &'a Spec,
    findings: Vec<Finding>,
    examples: Vec<ExampleSite>,
}

impl<'a> Linter<'a> {
    fn report(&mut self, path: &[String], reason: impl Into<String>) {
        self.report_at(pointer_of(path), reason.into());
    }

    fn report_at(&mut self, pointer: String, reason: String) {
        self.findings.push(Finding {
            file: self.spec.path.display().to_string(),
            pointer,
            reason,
        });
    }

    fn visit(&mut self, kind: Kind, value: &'a Value, path: &mut Vec<String>) {
        let Some(object) = value.as_object() else {
            self.report(path, format!("expected a {} object", kind.name()));
            return;
        };
        if let Some(reference) = object.get("$ref") {
            self.visit_ref(kind, object, reference, path);
            return;
        }
        match kind {
            Kind::Paths => return self.visit_paths(object, path),
            Kind::Responses => return self.visit_responses(object, path),
            Kind::SecurityRequirement => return self.visit_security(object, path),
            _ => {}
        }
        for (key, child) in object {
            path.push(key.clone());
            if key.starts_with("x-") {
                self.visit_extension(kind, key, child, path);
            } else if let Some((_, slot)) = kind.slots().iter().find(|(name, _)| name == key) {
                self.visit_slot(*slot, child, path);
            } else {
                let allowed: Vec<&str> = kind.slots().iter().map(|(name, _)| *name).collect();
                self.report(
                    path,
                    format!(
                        "unknown key `{key}` in a {} object (allowed: {})",
                        kind.name(),
                        allowed.join(", ")
                    ),
                );
            }
            path.pop();
        }
        if kind == Kind::Schema
            && let Some(names) = object.get("x-enum-varnames")
            && let Err(reason) = facts::parse_enum_varnames(names, object.get("enum"))
        {
            path.push("x-enum-varnames".into());
            self.report(path, reason);
            path.pop();
        }
        self.collect_example(kind, object, path);
        self.collect_default(kind, object, path);
    }

    fn visit_ref(
        &mut self,
        kind: Kind,
        object: &Map<String, Value>,
        reference: &Value,
        path: &mut Vec<String>,
    ) {
        if object.len() > 1 {
            let siblings: Vec<&str> = object
                .keys()
                .filter(|k| *k != "$ref")
                .map(String::as_str)
                .collect();
            self.report(
                path,
                format!(
                    "keys beside `$ref` are ignored by OpenAPI 3.0: {}",
                    siblings.join(", ")
                ),
            );
        }
        let Some(reference) = reference.as_str() else {
            path.push("$ref".into());
            self.report(path, "`$ref` must be a string");
            path.pop();
            return;
        };
        path.push("$ref".into());
        match kind.ref_prefix() {
            None => self.report(path, format!("a {} object cannot be a `$ref`", kind.name())),
            Some(prefix) if !reference.starts_with(prefix) => self.report(
                path,
                format!("`{reference}` must point into `{prefix}` here"),
            ),
            Some(_) if self.spec.resolve(reference).is_none() => {
                self.report(path, format!("unresolved `$ref` `{reference}`"))
            }
            Some(_) => {}
        }
        path.pop();
    }

    fn visit_slot(&mut self, slot: Slot, value: &'a Value, path: &mut Vec<String>) {
        let ok = match slot {
            Slot::Str => value.is_string(),
            Slot::Bool => value.is_boolean(),
            Slot::Number => value.is_number(),
            Slot::StrList => value
                .as_array()
                .is_some_and(|items| items.iter().all(Value::is_string)),
            Slot::Any => true,
            Slot::One(kind) => {
                self.visit(kind, value, path);
                true
            }
            Slot::BoolOrSchema => {
                if !value.is_boolean() {
                    self.visit(Kind::Schema, value, path);
                }
                true
            }
            Slot::MapOf(kind) => match value.as_object() {
                Some(map) => {
                    for (key, child) in map {
                        path.push(key.clone());
                        self.visit(kind, child, path);
                        path.pop();
                    }
                    true
                }
                None => false,
            },
            Slot::ListOf(kind) => match value.as_array() {
                Some(items) => {
                    for (index, child) in items.iter().enumerate() {
                        path.push(index.to_string());
                        self.visit(kind, child, path);
                        path.pop();
                    }
                    true
                }
                None => false,
            },
        };
        if !ok {
            let expected = match slot {
                Slot::Str => "a string",
                Slot::Bool => "a boolean",
                Slot::Number => "a number",
                Slot::StrList => "a list of strings",
                Slot::MapOf(_) => "a mapping",
                Slot::ListOf(_) => "a list",
                _ => "something else",
            };
            self.report(path, format!("expected {expected}"));
        }
    }

    fn visit_extension(&mut self, kind: Kind, key: &str, value: &Value, path: &[String]) {
        if !kind.extensions().contains(&key) {
            let allowed = kind.extensions();
            let reason = if allowed.is_empty() {
                format!(
                    "extension `{key}` is not allowed on a {} object",
                    kind.name()
                )
            } else {
                format!(
                    "extension `{key}` is not allowed on a {} object (allowed: {})",
                    kind.name(),
                    allowed.join(", ")
                )
            };
            self.report(path, reason);
            return;
        }
        let problem = match key {
            "x-source" => match value.as_str() {
                Some(s) if SOURCES.contains(&s) => None,
                _ => Some(format!("x-source must be one of {}", SOURCES.join(", "))),
            },
            "x-doc-conflict" => match value.as_str() {
                Some(s) if !s.trim().is_empty() => None,
                _ => Some("x-doc-conflict must be a non-empty sentence".to_string()),
            },
            "x-limits" => facts::parse_limits(value).err(),
            "x-error-codes" => facts::parse_error_codes(value).err(),
            "x-cost" => facts::parse_costs(value).err(),
            "x-rate-limits" => facts::parse_rate_limits(value).err(),
            "x-retention" => facts::parse_retention(value).err(),
            "x-polling" => facts::parse_polling(value).err(),
            "x-token-lifetime-seconds" => facts::parse_token_lifetime(value).err(),
            "x-result-formats" => facts::parse_result_formats(value).err(),
            "x-feature" => facts::parse_feature(value).err(),
            // Needs the `enum` beside it: checked in `visit`.
            _ => None,
        };
        if let Some(reason) = problem {
            self.report(path, reason);
        }
    }

    fn visit_paths(&mut self, object: &'a Map<String, Value>, path: &mut Vec<String>) {
        for (key, item) in object {
            path.push(key.clone());
            if key.starts_with('/') {
                self.visit(Kind::PathItem, item, path);
            } else {
                self.report(path, format!("path `{key}` must start with `/`"));
            }
            path.pop();
        }
    }

    fn visit_responses(&mut self, object: &'a Map<String, Value>, path: &mut Vec<String>) {
        for (key, response) in object {
            path.push(key.clone());
            if key == "default" {
                self.report(
                    path,
                    "`default` response: progenitor cannot generate it; list the documented statuses or use 4XX/5XX",
                );
            } else if is_status_key(key) {
                self.visit(Kind::Response, response, path);
            } else {
                self.report(path, format!("`{key}` is not an HTTP status or range"));
            }
            path.pop();
        }
    }

    fn visit_security(&mut self, object: &Map<String, Value>, path: &mut Vec<String>) {
        let schemes = self.spec.json.pointer("/components/securitySchemes");
        for key in object.keys() {
            if schemes.and_then(|s| s.get(key)).is_none() {
                path.push(key.clone());
                self.report(path, format!("security scheme `{key}` is not declared"));
                path.pop();
            }
        }
    }

    /// Remembers an `example` together with the schema it must match.
    fn collect_example(&mut self, kind: Kind, object: &Map<String, Value>, path: &[String]) {
        let Some(example) = object.get("example") else {
            return;
        };
        let schema = match kind {
            Kind::Schema => Some(Value::Object(object.clone())),
            Kind::MediaType | Kind::Parameter | Kind::Header => object.get("schema").cloned(),
            _ => None,
        };
        if let Some(schema) = schema {
            let mut pointer = path.to_vec();
            pointer.push("example".into());
            self.examples.push(ExampleSite {
                what: "example",
                pointer: pointer_of(&pointer),
                schema,
                example: example.clone(),
            });
        }
    }

    /// Remembers a schema's `default`, which must be a value the schema accepts.
    fn collect_default(&mut self, kind: Kind, object: &Map<String, Value>, path: &[String]) {
        let (Kind::Schema, Some(default)) = (kind, object.get("default")) else {
            return;
        };
        let mut schema = object.clone();
        schema.remove("default");
        let mut pointer = path.to_vec();
        pointer.push("default".into());
        self.examples.push(ExampleSite {
            what: "default",
            pointer: pointer_of(&pointer),
            schema: Value::Object(schema),
            example: default.clone(),
        });
    }

    /// Enums pixmill types itself must be components: answer enums so they can stay open,
    /// integer enums so they get the variant names of `x-enum-varnames`.
    fn check_enums(&mut self) {
        let usage = model::usage(self.spec);
        for inline in &usage.inline_enums {
            if inline.direction.response {
                self.report_at(
                    inline.pointer.clone(),
                    "an enum in an answer must be a named component schema, so the generated type can keep undocumented values".into(),
                );
            } else if inline.integer {
                self.report_at(
                    inline.pointer.clone(),
                    "an integer enum must be a named component schema with `x-enum-varnames`"
                        .into(),
                );
            }
        }
        let Some(schemas) = self
            .spec
            .json
            .pointer("/components/schemas")
            .and_then(Value::as_object)
        else {
            return;
        };
        for (name, schema) in schemas {
            if schema.get("enum").is_none() {
                continue;
            }
            let at = pointer_of(&["components", "schemas", name]);
            let direction = usage.components.get(name).copied().unwrap_or_default();
            if direction.request && direction.response {
                self.report_at(
                    at.clone(),
                    format!("enum `{name}` is used in requests and in answers; split it so the request side stays closed"),
                );
            }
            let integer = schema.get("type").and_then(Value::as_str) == Some("integer");
            if integer && schema.get("x-enum-varnames").is_none() {
                self.report_at(
                    at,
                    format!("integer enum `{name}` needs `x-enum-varnames` (one Rust variant name per value)"),
                );
            }
        }
    }

    /// Operations of an `x-feature` tag are named by role; `x-polling` names real operations.
    fn check_features(&mut self) {
        if let Err(problems) = model::features(self.spec) {
            for (pointer, reason) in problems {
                self.report_at(pointer, reason);
            }
        }
        let ids: BTreeSet<&str> = self.spec.operations().iter().map(|op| op.id()).collect();
        for op in self.spec.operations() {
            let Some(rules) = op
                .value
                .get("x-polling")
                .and_then(|v| facts::parse_polling(v).ok())
            else {
                continue;
            };
            for (index, rule) in rules.iter().enumerate() {
                if let Some(after) = &rule.after
                    && !ids.contains(after.as_str())
                {
                    self.report_at(
                        format!("{}/x-polling/{index}/after", op.pointer()),
                        format!("`{after}` is not an operation of this spec"),
                    );
                }
            }
        }
    }

    fn check_operations(&mut self) {
        let declared_tags: BTreeSet<&str> = self
            .spec
            .json
            .get("tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| t.get("name").and_then(Value::as_str))
            .collect();
        let mut seen_ids: BTreeMap<&str, String> = BTreeMap::new();
        for op in self.spec.operations() {
            let pointer = op.pointer();
            let at = |key: &str| format!("{pointer}/{key}");
            match op.value.get("operationId").and_then(Value::as_str) {
                None => self.report_at(pointer.clone(), "operation has no `operationId`".into()),
                Some(id) => {
                    if !facts::is_snake_case(id) {
                        self.report_at(at("operationId"), format!("`{id}` is not snake_case"));
                    }
                    if let Some(first) = seen_ids.insert(id, pointer.clone()) {
                        self.report_at(
                            at("operationId"),
                            format!("`{id}` is already used at {first}"),
                        );
                    }
                }
            }
            if op
                .value
                .get("summary")
                .and_then(Value::as_str)
                .is_none_or(|s| s.trim().is_empty())
            {
                self.report_at(pointer.clone(), "operation has no `summary`".into());
            }
            match op.value.get("tags").and_then(Value::as_array) {
                Some(tags) if !tags.is_empty() => {
                    for tag in tags.iter().filter_map(Value::as_str) {
                        if !declared_tags.contains(tag) {
                            self.report_at(
                                at("tags"),
                                format!("tag `{tag}` is not declared in the top-level `tags`"),
                            );
                        }
                    }
                }
                _ => self.report_at(pointer.clone(), "operation has no `tags`".into()),
            }
            self.check_bodies(&pointer, op.value);
            self.check_limits_target(&pointer, op.value);
        }
    }

    /// One success and one error body shape per operation; bodies are `$ref`s with examples.
    fn check_bodies(&mut self, pointer: &str, op: &Value) {
        if let Some(body) = op.get("requestBody") {
            let body = self.spec.deref(body);
            if let Some(content) = body.get("content").and_then(Value::as_object) {
                for (media, media_type) in content {
                    let at = format!("{pointer}/requestBody/content/{}", escape(media));
                    self.check_body_media(&at, media, media_type);
                }
            }
        }
        let Some(responses) = op.get("responses").and_then(Value::as_object) else {
            self.report_at(pointer.to_string(), "operation has no `responses`".into());
            return;
        };
        let mut success = BTreeMap::new();
        let mut error = BTreeMap::new();
        for (status, response) in responses {
            let response = self.spec.deref(response);
            let shape = body_shape(response);
            let at = format!("{pointer}/responses/{}", escape(status));
            if let Some(content) = response.get("content").and_then(Value::as_object) {
                for (media, media_type) in content {
                    let at = format!("{at}/content/{}", escape(media));
                    self.check_body_media(&at, media, media_type);
                }
            }
            if status.starts_with('2') {
                success.insert(shape, status.clone());
            } else if status.starts_with('4') || status.starts_with('5') {
                error.insert(shape, status.clone());
            }
        }
        if success.is_empty() {
            self.report_at(
                format!("{pointer}/responses"),
                "operation has no 2xx response".into(),
            );
        }
        for (label, shapes) in [("success", &success), ("error", &error)] {
            if shapes.len() > 1 {
                let listed: Vec<String> = shapes
                    .iter()
                    .map(|(shape, status)| format!("{status}: {shape}"))
                    .collect();
                self.report_at(
                    format!("{pointer}/responses"),
                    format!(
                        "more than one {label} body shape ({}); progenitor allows one",
                        listed.join("; ")
                    ),
                );
            }
        }
    }

    fn check_body_media(&mut self, at: &str, media: &str, media_type: &Value) {
        if !is_json_media(media) {
            return;
        }
        let Some(schema) = media_type.get("schema") else {
            self.report_at(at.to_string(), "JSON body without a schema".into());
            return;
        };
        let Some(reference) = schema.get("$ref").and_then(Value::as_str) else {
            self.report_at(
                format!("{at}/schema"),
                "inline body schema: use a `$ref` to components/schemas so the generated type has the component's name".into(),
            );
            return;
        };
        let on_schema = self
            .spec
            .resolve(reference)
            .is_some_and(|s| s.get("example").is_some());
        if media_type.get("example").is_none() && !on_schema {
            self.report_at(
                at.to_string(),
                format!(
                    "body has no `example` (neither here nor on `{}`)",
                    reference.rsplit('/').next().unwrap_or(reference)
                ),
            );
        }
    }

    /// An `x-limits` set restricted to a field must name a field and values the body accepts.
    fn check_limits_target(&mut self, pointer: &str, op: &Value) {
        let Some(sets) = op.get("x-limits").and_then(|v| facts::parse_limits(v).ok()) else {
            return;
        };
        let body_schema = op
            .pointer("/requestBody/content/application~1json/schema")
            .map(|s| self.spec.deref(s));
        for (index, set) in sets.iter().enumerate() {
            let Some(rule) = &set.applies_to else {
                continue;
            };
            let at = format!("{pointer}/x-limits/{index}/applies_to");
            let field = body_schema
                .and_then(|s| s.pointer(&format!("/properties/{}", escape(&rule.field))))
                .map(|f| self.spec.deref(f));
            let Some(field) = field else {
                self.report_at(
                    at,
                    format!("the request body has no field `{}`", rule.field),
                );
                continue;
            };
            if let Some(allowed) = field.get("enum").and_then(Value::as_array) {
                for value in &rule.values {
                    if !allowed.iter().any(|a| a.as_str() == Some(value)) {
                        self.report_at(
                            at.clone(),
                            format!("`{value}` is not a value of `{}`", rule.field),
                        );
                    }
                }
            }
        }
    }

    fn check_components(&mut self) {
        let Some(schemas) = self
            .spec
            .json
            .pointer("/components/schemas")
            .and_then(Value::as_object)
        else {
            return;
        };
        for name in schemas.keys() {
            if !facts::is_pascal_case(name) {
                self.report_at(
                    pointer_of(&["components", "schemas", name]),
                    format!("schema name `{name}` is not PascalCase"),
                );
            }
        }
    }
}

fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

fn is_status_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    bytes.len() == 3
        && (b'1'..=b'5').contains(&bytes[0])
        && ((bytes[1].is_ascii_digit() && bytes[2].is_ascii_digit()) || &bytes[1..] == b"XX")
}

fn is_json_media(media: &str) -> bool {
    media == "application/json" || media.starts_with("application/json;")
}

/// A label for what a response carries: the JSON schema, raw bytes or nothing.
fn body_shape(response: &Value) -> String {
    let Some(content) = response.get("content").and_then(Value::as_object) else {
        return "no body".into();
    };
    if let Some((_, media)) = content.iter().find(|(m, _)| is_json_media(m)) {
        return match media.get("schema") {
            Some(schema) => match schema.get("$ref").and_then(Value::as_str) {
                Some(reference) => reference.to_string(),
                None => schema.to_string(),
            },
            None => "JSON without schema".into(),
        };
    }
    if content.is_empty() {
        "no body".into()
    } else {
        "raw bytes".into()
    }
}

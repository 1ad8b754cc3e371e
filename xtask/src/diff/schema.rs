//! Schema comparison: types, enums, bounds, defaults, properties, items, compositions.

use std::collections::BTreeSet;

use serde_json::Value;

use super::doc::{Doc, Node};
use super::rust::{self, Shape};
use super::walk::{Walker, compact, text};
use super::{Kind, Severity};

/// How deep schemas are compared inside one another.
const MAX_DEPTH: usize = 64;

/// Which way a value travels: the rules for requests and answers differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Direction {
    /// Sent by the client: parameters and request bodies.
    Request,
    /// Received by the client: response bodies and headers.
    Response,
}

/// Where a schema sits, for summaries and Rust impact lines.
#[derive(Debug, Clone)]
pub(super) struct Target {
    /// How summaries name the value: `` `SupersizeImageRequest.sizeFactor` ``, `request body`.
    pub label: String,
    /// The dotted prefix for the labels of nested properties.
    pub scope: String,
    /// Where the value lives in the generated Rust API.
    pub holder: Holder,
    /// The Rust type name the schema gets if it becomes a named type.
    pub type_name: String,
    /// For a property or parameter: whether it is required.
    pub required: bool,
}

/// The generated item that carries a value.
#[derive(Debug, Clone)]
pub(super) enum Holder {
    /// A field of a generated struct (and its builder method).
    Field { owner: String, field: String },
    /// A builder call of an operation (a parameter).
    Param { method: String, name: String },
    /// The body of an operation.
    Body { method: String },
    /// The decoded answer of an operation.
    Answer { method: String },
    /// A response header (untyped in the generated client).
    Header { name: String },
    /// The elements of an array (or values of a map) held by the inner holder.
    Element(Box<Holder>),
}

impl Holder {
    /// A phrase naming the holder, for a sentence about the given direction.
    fn describe(&self, direction: Direction) -> String {
        match (self, direction) {
            (Holder::Field { owner, field }, Direction::Request) => {
                format!("the `{field}` builder of `types::{owner}`")
            }
            (Holder::Field { owner, field }, Direction::Response) => {
                format!("field `{field}` of `types::{owner}`")
            }
            (Holder::Param { method, name }, _) => {
                format!("the `{name}` builder call of `Client::{method}()`")
            }
            (Holder::Body { method }, _) => format!("the body of `Client::{method}()`"),
            (Holder::Answer { method }, _) => format!("the answer of `Client::{method}()`"),
            (Holder::Header { name }, _) => format!("the untyped `{name}` header"),
            (Holder::Element(inner), _) => format!("the elements of {}", inner.describe(direction)),
        }
    }
}

/// Keys that hold prose, examples or provenance notes.
pub(super) fn is_docs_key(key: &str) -> bool {
    matches!(
        key,
        "description"
            | "summary"
            | "title"
            | "externalDocs"
            | "example"
            | "examples"
            | "x-source"
            | "x-doc-conflict"
    )
}

/// A schema with its `allOf` members merged in: properties and `required` are united, other
/// keywords come from the first part that has them.
struct View<'a> {
    /// The schema itself, then its members (depth first).
    parts: Vec<Node<'a>>,
    /// The component a lone `allOf` member refers to: typify generates that type directly.
    named: Option<String>,
}

impl<'a> View<'a> {
    fn of(doc: Doc<'a>, node: Node<'a>) -> View<'a> {
        let members = node.child_or_null("allOf").items();
        let named = match members.as_slice() {
            [only] if node.value.get("properties").is_none() => {
                doc.resolve(only.clone()).schema_name
            }
            _ => None,
        };
        let mut parts = vec![node];
        let mut index = 0;
        // Members of members are merged too, a few levels deep (cycles end there).
        while index < parts.len() && parts.len() < 32 {
            let members = parts[index].child_or_null("allOf").items();
            for member in members {
                parts.push(doc.resolve(member).node);
            }
            index += 1;
        }
        View { parts, named }
    }

    fn main(&self) -> &Node<'a> {
        &self.parts[0]
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.parts.iter().find_map(|part| part.value.get(key))
    }

    fn node(&self, key: &str) -> Option<Node<'a>> {
        self.parts.iter().find_map(|part| part.child(key))
    }

    /// The node for `key`, or a placeholder under the main schema.
    fn node_or_main(&self, key: &str) -> Node<'a> {
        self.node(key)
            .unwrap_or_else(|| self.main().child_or_null(key))
    }

    fn properties(&self) -> Vec<(&'a str, Node<'a>)> {
        let mut out: Vec<(&'a str, Node<'a>)> = Vec::new();
        for part in &self.parts {
            for (name, node) in part.child_or_null("properties").entries() {
                if !out.iter().any(|(n, _)| *n == name) {
                    out.push((name, node));
                }
            }
        }
        out
    }

    fn required(&self) -> BTreeSet<&'a str> {
        self.parts
            .iter()
            .filter_map(|part| part.value.get("required").and_then(Value::as_array))
            .flatten()
            .filter_map(Value::as_str)
            .collect()
    }

    fn string(&self, key: &str) -> Option<&'a str> {
        self.get(key).and_then(Value::as_str)
    }
}

/// How a bound keyword restricts values.
#[derive(Clone, Copy)]
enum Bound {
    /// A larger value is stricter (`minimum`, `minLength`).
    Lower,
    /// A smaller value is stricter (`maximum`, `maxItems`).
    Upper,
    /// `true` is stricter (`uniqueItems`, 3.0's boolean `exclusiveMinimum`).
    Flag,
    /// Any new or changed value is stricter, removal is looser (`pattern`, `multipleOf`).
    Opaque,
}

const BOUNDS: &[(&str, Bound)] = &[
    ("minimum", Bound::Lower),
    ("maximum", Bound::Upper),
    ("exclusiveMinimum", Bound::Flag),
    ("exclusiveMaximum", Bound::Flag),
    ("multipleOf", Bound::Opaque),
    ("minLength", Bound::Lower),
    ("maxLength", Bound::Upper),
    ("pattern", Bound::Opaque),
    ("minItems", Bound::Lower),
    ("maxItems", Bound::Upper),
    ("uniqueItems", Bound::Flag),
    ("minProperties", Bound::Lower),
    ("maxProperties", Bound::Upper),
];

/// Whether a bound change restricts or widens what is allowed.
fn tightens(bound: Bound, old: Option<&Value>, new: Option<&Value>) -> bool {
    let number = |v: Option<&Value>| v.and_then(Value::as_f64);
    match bound {
        // A numeric `exclusiveMinimum` (OpenAPI 3.1 style) behaves like `minimum`.
        Bound::Flag if number(new).is_some() || number(old).is_some() => match (old, new) {
            (None, _) => true,
            (_, None) => false,
            _ => number(new) != number(old),
        },
        Bound::Flag => new == Some(&Value::Bool(true)),
        Bound::Opaque => new.is_some(),
        Bound::Lower | Bound::Upper => match (number(old), number(new)) {
            (None, Some(_)) => true,
            (Some(_), None) => false,
            (Some(before), Some(after)) => match bound {
                Bound::Lower => after > before,
                _ => after < before,
            },
            (None, None) => false,
        },
    }
}

/// A Rust type for a sentence: concrete types in backticks, kinds of type in words.
fn shape_text(shape: &Shape) -> String {
    let text = shape.to_string();
    if text.starts_with("a ") || text.starts_with("an ") {
        text
    } else {
        format!("`{text}`")
    }
}

impl<'a> Walker<'a> {
    /// Compares two schemas that sit at the same place.
    pub(super) fn schema(
        &mut self,
        old: Node<'a>,
        new: Node<'a>,
        direction: Direction,
        target: &Target,
    ) {
        let (old, new) = (self.old.resolve(old), self.new.resolve(new));
        let key = (
            old.node.pointer.clone(),
            new.node.pointer.clone(),
            direction,
        );
        // No real spec nests schemas this deep; a chain of thousands of distinct components
        // must not exhaust the stack.
        if self.depth >= MAX_DEPTH || !self.visited.insert(key) {
            return;
        }
        let mut target = target.clone();
        let (old_view, new_view) = (View::of(self.old, old.node), View::of(self.new, new.node));
        if let Some(name) = new.schema_name.or(new_view.named.clone()) {
            target.type_name = rust::pascal(&name);
            target.scope = name;
        }
        self.depth += 1;
        self.compare_views(&old_view, &new_view, direction, &target);
        self.depth -= 1;
    }

    fn compare_views(
        &mut self,
        old: &View<'a>,
        new: &View<'a>,
        direction: Direction,
        target: &Target,
    ) {
        for (old_part, new_part) in old.parts.iter().zip(&new.parts) {
            self.annotations(old_part, new_part, &target.label);
            self.error_codes(old_part, new_part, target);
        }
        let old_shape = Shape::of(self.old.json, old.main().value);
        let new_shape = Shape::of(self.new.json, new.main().value);
        let shape_changed = old_shape != new_shape;
        let shape_impact = || {
            format!(
                "{} changes from {} to {}",
                target.holder.describe(direction),
                shape_text(&old_shape),
                shape_text(&new_shape)
            )
        };
        // Set once a change has told the reader about the new Rust type.
        let mut shape_told = false;

        let (old_type, new_type) = (old.string("type"), new.string("type"));
        if old_type != new_type {
            self.push(
                &changed_at(old, new, "type"),
                Kind::TypeChanged,
                if shape_changed {
                    Severity::Breaking
                } else {
                    Severity::Compatible
                },
                format!(
                    "{}: type {} is now {}",
                    target.label,
                    quoted_or_untyped(old_type),
                    quoted_or_untyped(new_type)
                ),
                shape_changed.then(shape_impact),
            );
            if shape_changed {
                // Below this point the two schemas describe different things.
                return;
            }
        }
        let (old_format, new_format) = (old.string("format"), new.string("format"));
        if old_format != new_format {
            // With the same Rust type, a format still changes what the wire carries: a request
            // may no longer be accepted in a new or different format, and an answer in a
            // different format means something else (`byte` is base64, `binary` raw bytes).
            let wire_breaking = match direction {
                Direction::Request => new_format.is_some(),
                Direction::Response => old_format.is_some() && new_format.is_some(),
            };
            let impact = if shape_changed {
                Some(format!(
                    "{}, even where the wire accepts both",
                    shape_impact()
                ))
            } else if wire_breaking {
                Some(format!(
                    "the Rust type stays {}; the value's format on the wire changes",
                    shape_text(&new_shape)
                ))
            } else {
                None
            };
            self.push(
                &changed_at(old, new, "format"),
                Kind::FormatChanged,
                if shape_changed || wire_breaking {
                    Severity::Breaking
                } else {
                    Severity::Compatible
                },
                format!(
                    "{}: format {} is now {}",
                    target.label,
                    quoted_str(old_format),
                    quoted_str(new_format)
                ),
                impact,
            );
            shape_told |= shape_changed;
        }
        // Only the first change that alters the Rust type tells the new type.
        let untold = |told: bool| (shape_changed && !told).then(shape_impact);
        shape_told |= self.enums(old, new, direction, target, untold(shape_told));
        shape_told |= self.bounds(old, new, direction, target, untold(shape_told));
        self.default(old, new, direction, target, &new_shape);
        let (old_nullable, new_nullable) = (
            old.get("nullable") == Some(&Value::Bool(true)),
            new.get("nullable") == Some(&Value::Bool(true)),
        );
        if old_nullable != new_nullable {
            self.push(
                &changed_at(old, new, "nullable"),
                Kind::NullableChanged,
                Severity::Breaking,
                format!(
                    "{} {}",
                    target.label,
                    if new_nullable {
                        "may now be null"
                    } else {
                        "may no longer be null"
                    }
                ),
                Some(shape_impact()),
            );
            shape_told = true;
        }
        shape_told |= self.additional_properties(old, new, direction, target, shape_changed);
        self.properties(old, new, direction, target);
        self.items(old, new, direction, target);
        shape_told |= self.compositions(old, new, direction, target, shape_changed);
        if shape_changed && !shape_told {
            self.push(
                &new.main().pointer,
                Kind::TypeChanged,
                Severity::Breaking,
                format!("{}: the generated type changes", target.label),
                Some(shape_impact()),
            );
        }
    }

    /// Enum values, and their Rust names from `x-enum-varnames`. Returns true when it reported
    /// a change of the Rust type.
    fn enums(
        &mut self,
        old: &View<'a>,
        new: &View<'a>,
        direction: Direction,
        target: &Target,
        shape_impact: Option<String>,
    ) -> bool {
        let (old_values, new_values) = (
            old.get("enum").and_then(Value::as_array),
            new.get("enum").and_then(Value::as_array),
        );
        let (old_values, new_values) = match (old_values, new_values) {
            (None, None) => return false,
            (Some(a), Some(b)) => (a, b),
            (before, after) => {
                let summary = match after {
                    Some(values) => {
                        format!("{} is now limited to {}", target.label, list(values.iter()))
                    }
                    None => format!(
                        "{} is no longer limited to {}",
                        target.label,
                        list(before.into_iter().flatten())
                    ),
                };
                self.push(
                    &changed_at(old, new, "enum"),
                    Kind::TypeChanged,
                    Severity::Breaking,
                    summary,
                    Some(shape_impact.unwrap_or_else(|| {
                        format!("{} changes type", target.holder.describe(direction))
                    })),
                );
                return true;
            }
        };
        let names = |view: &View<'a>| -> Vec<Option<String>> {
            let list = view.get("x-enum-varnames").and_then(Value::as_array);
            (0..view
                .get("enum")
                .and_then(Value::as_array)
                .map_or(0, Vec::len))
                .map(|i| {
                    list.and_then(|l| l.get(i))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .collect()
        };
        let (old_names, new_names) = (names(old), names(new));
        let enum_type = format!("types::{}", target.type_name);
        let holder = target.holder.describe(direction);
        let (old_enum, new_enum) = (old.node_or_main("enum"), new.node_or_main("enum"));
        for (index, value) in old_values.iter().enumerate() {
            if new_values.contains(value) {
                continue;
            }
            let variant = rust::variant(value, old_names[index].as_deref());
            let (kind, severity, impact) = match direction {
                Direction::Request => (
                    Kind::RequestEnumValueRemoved,
                    Severity::Breaking,
                    match &variant {
                        Some(v) => format!("{holder} loses variant `{v}`"),
                        None => format!(
                            "{holder} no longer takes {value}: `{enum_type}::try_from` refuses it"
                        ),
                    },
                ),
                Direction::Response => (
                    Kind::ResponseEnumValueRemoved,
                    Severity::Compatible,
                    match &variant {
                        Some(v) => format!(
                            "`{enum_type}::{v}` is no longer generated; code matching it must drop that arm"
                        ),
                        None => format!("`{enum_type}` no longer accepts {value}"),
                    },
                ),
            };
            self.push(
                &format!("{}/{index}", old_enum.pointer),
                kind,
                severity,
                format!("{} no longer accepts {}", target.label, literal(value)),
                Some(impact),
            );
        }
        for (index, value) in new_values.iter().enumerate() {
            if old_values.contains(value) {
                continue;
            }
            let variant = rust::variant(value, new_names[index].as_deref());
            let (kind, impact) = match direction {
                Direction::Request => (
                    Kind::RequestEnumValueAdded,
                    match &variant {
                        Some(v) => format!("{holder} gains variant `{v}`"),
                        None => format!("{holder} also takes {value}"),
                    },
                ),
                Direction::Response => (
                    Kind::ResponseEnumValueAdded,
                    match &variant {
                        Some(v) => format!("`{enum_type}` gains variant `{v}`"),
                        None => format!("`{enum_type}` also accepts {value}"),
                    },
                ),
            };
            self.push(
                &format!("{}/{index}", new_enum.pointer),
                kind,
                Severity::Compatible,
                format!("{} now accepts {}", target.label, literal(value)),
                Some(impact),
            );
        }
        let new_varnames = new.node_or_main("x-enum-varnames");
        for (new_index, value) in new_values.iter().enumerate() {
            let Some(old_index) = old_values.iter().position(|v| v == value) else {
                continue;
            };
            let before = rust::variant(value, old_names[old_index].as_deref());
            let after = rust::variant(value, new_names[new_index].as_deref());
            if before == after {
                continue;
            }
            let describe = |name: &Option<String>| match name {
                Some(name) => format!("`{name}`"),
                None => "(unnamed)".to_string(),
            };
            self.push(
                &format!("{}/{new_index}", new_varnames.pointer),
                Kind::EnumVarnameChanged,
                Severity::Breaking,
                format!(
                    "{}: the Rust name of {} is now {} (was {})",
                    target.label,
                    literal(value),
                    describe(&after),
                    describe(&before)
                ),
                Some(format!(
                    "variant {} of `{enum_type}` is renamed {}",
                    describe(&before),
                    describe(&after)
                )),
            );
        }
        false
    }

    /// Numeric, length, item and pattern bounds. Returns true when it reported a change of the
    /// Rust type.
    fn bounds(
        &mut self,
        old: &View<'a>,
        new: &View<'a>,
        direction: Direction,
        target: &Target,
        shape_impact: Option<String>,
    ) -> bool {
        let mut told = false;
        for &(key, bound) in BOUNDS {
            let (before, after) = (old.get(key), new.get(key));
            if before == after {
                continue;
            }
            let tightened = tightens(bound, before, after);
            let (kind, mut severity) = match (direction, tightened) {
                (Direction::Request, true) => (Kind::RequestBoundTightened, Severity::Breaking),
                (Direction::Request, false) => (Kind::RequestBoundLoosened, Severity::Compatible),
                (Direction::Response, true) => (Kind::ResponseBoundTightened, Severity::Compatible),
                (Direction::Response, false) => (Kind::ResponseBoundLoosened, Severity::Compatible),
            };
            let impact = match (&shape_impact, told) {
                // The Rust type follows some bounds (typify picks integer types by range).
                (Some(impact), false) => {
                    told = true;
                    severity = Severity::Breaking;
                    Some(impact.clone())
                }
                _ if severity == Severity::Breaking => {
                    Some(if matches!(key, "minLength" | "maxLength" | "pattern") {
                        format!(
                            "the checked string `types::{}` refuses values outside the new bound",
                            target.type_name
                        )
                    } else {
                        format!(
                            "not enforced by the generated types ({} takes any value); pixmill validates it",
                            target.holder.describe(direction)
                        )
                    })
                }
                _ => None,
            };
            let summary = match (before, after) {
                (None, Some(value)) => format!("{}: new {key} {}", target.label, text(Some(value))),
                (Some(value), None) => {
                    format!("{}: {key} {} removed", target.label, text(Some(value)))
                }
                _ => format!(
                    "{}: {key} {} is now {}",
                    target.label,
                    text(before),
                    text(after)
                ),
            };
            let pointer = if after.is_some() {
                new.node_or_main(key).pointer
            } else {
                old.node_or_main(key).pointer
            };
            self.push(&pointer, kind, severity, summary, impact);
        }
        told
    }

    fn default(
        &mut self,
        old: &View<'a>,
        new: &View<'a>,
        direction: Direction,
        target: &Target,
        new_shape: &Shape,
    ) {
        let (before, after) = (old.get("default"), new.get("default"));
        if before == after {
            return;
        }
        let pointer = if after.is_some() {
            new.node_or_main("default").pointer
        } else {
            old.node_or_main("default").pointer
        };
        let holder = target.holder.describe(direction);
        if let (Some(before), Some(after)) = (before, after) {
            let impact = match &target.holder {
                Holder::Field { owner, field } => format!(
                    "the builder of `types::{owner}` now fills in {} when `{field}` is not set",
                    literal(after)
                ),
                Holder::Param { name, .. } => format!(
                    "progenitor sends no default for `{name}`: the server now assumes {} when it is left out",
                    literal(after)
                ),
                _ => format!("an absent value for {holder} now means {}", literal(after)),
            };
            self.push(
                &pointer,
                Kind::DefaultChanged,
                Severity::Breaking,
                format!(
                    "{}: default {} is now {}",
                    target.label,
                    literal(before),
                    literal(after)
                ),
                Some(impact),
            );
            return;
        }
        // A default added or removed changes a struct field between `T` and `Option<T>`.
        let field_types = matches!(target.holder, Holder::Field { .. }).then(|| {
            (
                rust::field_type(new_shape, target.required, before.is_some()),
                rust::field_type(new_shape, target.required, after.is_some()),
            )
        });
        let (severity, impact) = match field_types {
            Some((was, now)) if was != now => (
                Severity::Breaking,
                Some(format!("{holder} changes from `{was}` to `{now}`")),
            ),
            _ => (Severity::Compatible, None),
        };
        let summary = match (before, after) {
            (None, Some(value)) => format!("{}: new default {}", target.label, literal(value)),
            _ => format!(
                "{}: default {} removed",
                target.label,
                literal(before.unwrap_or(&Value::Null))
            ),
        };
        self.push(&pointer, Kind::DefaultChanged, severity, summary, impact);
    }

    fn additional_properties(
        &mut self,
        old: &View<'a>,
        new: &View<'a>,
        direction: Direction,
        target: &Target,
        shape_changed: bool,
    ) -> bool {
        let (before, after) = (
            old.get("additionalProperties"),
            new.get("additionalProperties"),
        );
        if before == after {
            return false;
        }
        if let (Some(Value::Object(_)), Some(Value::Object(_))) = (before, after) {
            let child = Target {
                label: format!("`{}.*`", target.scope),
                scope: format!("{}.*", target.scope),
                holder: Holder::Element(Box::new(target.holder.clone())),
                type_name: format!("{}Value", target.type_name),
                required: true,
            };
            self.schema(
                old.node_or_main("additionalProperties"),
                new.node_or_main("additionalProperties"),
                direction,
                &child,
            );
            return false;
        }
        let closed = |v: Option<&Value>| v == Some(&Value::Bool(false));
        let stricter = !closed(before) && closed(after);
        let severity = if shape_changed || (direction == Direction::Request && stricter) {
            Severity::Breaking
        } else {
            Severity::Compatible
        };
        self.push(
            &changed_at(old, new, "additionalProperties"),
            Kind::AdditionalPropertiesChanged,
            severity,
            format!(
                "{}: additionalProperties {} is now {}",
                target.label,
                compact(before),
                compact(after)
            ),
            (severity == Severity::Breaking).then(|| {
                format!(
                    "{} {}",
                    target.holder.describe(direction),
                    if shape_changed {
                        "changes type"
                    } else {
                        "refuses properties it used to pass through"
                    }
                )
            }),
        );
        shape_changed
    }

    fn properties(
        &mut self,
        old: &View<'a>,
        new: &View<'a>,
        direction: Direction,
        target: &Target,
    ) {
        let (old_props, new_props) = (old.properties(), new.properties());
        let (old_required, new_required) = (old.required(), new.required());
        let owner = format!("types::{}", target.type_name);
        for (name, node) in &old_props {
            if new_props.iter().any(|(n, _)| n == name) {
                continue;
            }
            let field = rust::snake(name);
            let (kind, impact) = match direction {
                Direction::Request => (
                    Kind::RequestPropertyRemoved,
                    format!("the `{field}` field and builder call of `{owner}` disappear"),
                ),
                Direction::Response => (
                    Kind::ResponsePropertyRemoved,
                    format!("field `{field}` of `{owner}` disappears"),
                ),
            };
            self.push(
                &node.pointer,
                kind,
                Severity::Breaking,
                format!("`{}.{name}` removed", target.scope),
                Some(impact),
            );
        }
        for (name, new_node) in &new_props {
            let field = rust::snake(name);
            let required = new_required.contains(name);
            let Some((_, old_node)) = old_props.iter().find(|(n, _)| n == name) else {
                let (kind, severity, impact) = match (direction, required) {
                    (Direction::Request, true) => (
                        Kind::RequestPropertyAdded,
                        Severity::Breaking,
                        format!("a new required builder call `{field}` on `{owner}`"),
                    ),
                    (Direction::Request, false) => (
                        Kind::RequestPropertyAdded,
                        Severity::Compatible,
                        format!("a new optional builder call `{field}` on `{owner}`"),
                    ),
                    (Direction::Response, _) => (
                        Kind::ResponsePropertyAdded,
                        Severity::Compatible,
                        format!("`{owner}` gains field `{field}`"),
                    ),
                };
                self.push(
                    &new_node.pointer,
                    kind,
                    severity,
                    format!(
                        "new {} property `{}.{name}`",
                        if required { "required" } else { "optional" },
                        target.scope
                    ),
                    Some(impact),
                );
                continue;
            };
            let was_required = old_required.contains(name);
            if was_required != required {
                self.required_changed(old_node, new_node, name, required, direction, target);
            }
            let child = Target {
                label: format!("`{}.{name}`", target.scope),
                scope: format!("{}.{name}", target.scope),
                holder: Holder::Field {
                    owner: target.type_name.clone(),
                    field,
                },
                type_name: format!("{}{}", target.type_name, rust::pascal(name)),
                required,
            };
            self.schema(old_node.clone(), new_node.clone(), direction, &child);
        }
    }

    fn required_changed(
        &mut self,
        old_node: &Node<'a>,
        new_node: &Node<'a>,
        name: &str,
        now_required: bool,
        direction: Direction,
        target: &Target,
    ) {
        let field = rust::snake(name);
        let owner = format!("types::{}", target.type_name);
        let field_type = |doc: Doc<'a>, node: &Node<'a>, required: bool| {
            let (schema, _) = doc.deref(node.value);
            rust::field_type(
                &Shape::of(doc.json, schema),
                required,
                schema.get("default").is_some(),
            )
        };
        let was = field_type(self.old, old_node, !now_required);
        let now = field_type(self.new, new_node, now_required);
        let type_note = (was != now).then(|| format!("`{was}` to `{now}`"));
        let (kind, severity, impact) = match (direction, now_required) {
            (Direction::Request, true) => (
                Kind::RequestPropertyRequiredChanged,
                Severity::Breaking,
                Some(format!(
                    "the `{field}` builder call of `{owner}` becomes required{}",
                    type_note
                        .as_ref()
                        .map(|t| format!(" (the field changes from {t})"))
                        .unwrap_or_default()
                )),
            ),
            (Direction::Request, false) => (
                Kind::RequestPropertyRequiredChanged,
                Severity::Compatible,
                type_note.as_ref().map(|t| {
                    format!(
                        "field `{field}` of `{owner}` changes from {t}; builder calls are unchanged"
                    )
                }),
            ),
            (Direction::Response, false) => (
                Kind::ResponsePropertyRequiredChanged,
                Severity::Breaking,
                Some(match &type_note {
                    Some(t) => format!("field `{field}` of `{owner}` changes from {t}"),
                    None => format!(
                        "field `{field}` of `{owner}` keeps its type; an absent value reads as empty"
                    ),
                }),
            ),
            (Direction::Response, true) => (
                Kind::ResponsePropertyRequiredChanged,
                Severity::Compatible,
                type_note
                    .as_ref()
                    .map(|t| format!("field `{field}` of `{owner}` changes from {t}")),
            ),
        };
        self.push(
            &new_node.pointer,
            kind,
            severity,
            format!(
                "`{}.{name}` is now {}",
                target.scope,
                if now_required { "required" } else { "optional" }
            ),
            impact,
        );
    }

    fn items(&mut self, old: &View<'a>, new: &View<'a>, direction: Direction, target: &Target) {
        let (Some(old_items), Some(new_items)) = (old.node("items"), new.node("items")) else {
            return;
        };
        let child = Target {
            label: format!("`{}[]`", target.scope),
            scope: format!("{}[]", target.scope),
            holder: Holder::Element(Box::new(target.holder.clone())),
            type_name: format!("{}Item", target.type_name),
            required: true,
        };
        self.schema(old_items, new_items, direction, &child);
    }

    /// `oneOf` and `anyOf`: members are compared in order. Returns true when it reported a
    /// change of the Rust type.
    fn compositions(
        &mut self,
        old: &View<'a>,
        new: &View<'a>,
        direction: Direction,
        target: &Target,
        shape_changed: bool,
    ) -> bool {
        let mut told = false;
        for key in ["oneOf", "anyOf"] {
            let (old_members, new_members) =
                (old.node_or_main(key).items(), new.node_or_main(key).items());
            if old_members.len() != new_members.len() {
                self.push(
                    &changed_at(old, new, key),
                    Kind::CompositionChanged,
                    Severity::Breaking,
                    format!(
                        "{}: `{key}` has {} member(s), had {}",
                        target.label,
                        new_members.len(),
                        old_members.len()
                    ),
                    Some(format!(
                        "{} {}",
                        target.holder.describe(direction),
                        if shape_changed {
                            "changes type"
                        } else {
                            "is an untagged enum with other variants"
                        }
                    )),
                );
                told = true;
                continue;
            }
            for (index, (old_member, new_member)) in
                old_members.into_iter().zip(new_members).enumerate()
            {
                let child = Target {
                    label: format!("{} ({key} member {index})", target.label),
                    type_name: format!("{}Variant{index}", target.type_name),
                    ..target.clone()
                };
                self.schema(old_member, new_member, direction, &child);
            }
        }
        told
    }
}

/// Where a keyword changed: in the new schema, or in the old one if it was removed.
fn changed_at(old: &View<'_>, new: &View<'_>, key: &str) -> String {
    match (old.node(key), new.node(key)) {
        (Some(removed), None) => removed.pointer,
        _ => new.node_or_main(key).pointer,
    }
}

/// A JSON value for a summary, in backticks.
pub(super) fn literal(value: &Value) -> String {
    format!("`{}`", text(Some(value)))
}

fn list<'v>(values: impl Iterator<Item = &'v Value>) -> String {
    values.map(literal).collect::<Vec<_>>().join(", ")
}

fn quoted_str(value: Option<&str>) -> String {
    value.map_or("(none)".to_string(), |v| format!("`{v}`"))
}

fn quoted_or_untyped(value: Option<&str>) -> String {
    value.map_or("(untyped)".to_string(), |v| format!("`{v}`"))
}

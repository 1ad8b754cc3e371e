//! How progenitor 0.15 (and typify 0.8 inside it) turns a spec into Rust, as far as the diff
//! needs it: method, field, type and variant names, and the Rust type a schema becomes.
//!
//! The rules mirror the generator's source; `tests/it/diff.rs` checks them against names found in
//! `generated/*/src/lib.rs`.

use std::fmt;

use heck::{ToPascalCase, ToShoutySnakeCase, ToSnakeCase};
use serde_json::Value;

use super::doc::Doc;

/// A spec name made into a Rust identifier in `snake_case` (method, field and builder names).
pub fn snake(name: &str) -> String {
    sanitize(name, ToSnakeCase::to_snake_case, "x")
}

/// A spec name made into a Rust identifier in `PascalCase` (type and variant names).
pub fn pascal(name: &str) -> String {
    sanitize(name, ToPascalCase::to_pascal_case, "X")
}

/// The constant codegen writes for an operation's limits or a schema's error codes.
pub fn constant(name: &str) -> String {
    name.to_shouty_snake_case()
}

/// The generator's identifier rules: punctuation splits words, a leading digit gets a prefix,
/// keywords get a trailing underscore.
fn sanitize(input: &str, case: fn(&str) -> String, prefix: &str) -> String {
    let out = match input {
        "+1" => "plus1".to_string(),
        "-1" => "minus1".to_string(),
        _ => case(
            &input
                .replace('\'', "")
                .replace(|c: char| !(c.is_alphanumeric() || c == '_'), "-"),
        ),
    };
    let out = match out.chars().next() {
        None => prefix.to_string(),
        Some(c) if c.is_alphabetic() || c == '_' => out,
        Some(_) => format!("{prefix}{out}"),
    };
    if is_keyword(&out) {
        format!("{out}_")
    } else {
        out
    }
}

fn is_keyword(ident: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "_", "abstract", "as", "async", "await", "become", "box", "break", "const", "continue",
        "crate", "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if",
        "impl", "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv",
        "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true",
        "try", "type", "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
    ];
    KEYWORDS.contains(&ident)
}

/// The Rust variant name of one enum value: `x-enum-varnames` when the schema gives one, else
/// the value in `PascalCase` (integer enums without names have no variants, only values).
pub fn variant(value: &Value, varname: Option<&str>) -> Option<String> {
    match (varname, value) {
        (Some(name), _) => Some(name.to_string()),
        (None, Value::String(text)) => Some(pascal(text)),
        _ => None,
    }
}

/// The Rust type a schema becomes, without its name: two schemas of the same shape generate
/// interchangeable code, so a schema moving into a component does not count as a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// A primitive integer or `NonZero*` type, named as in the generated code.
    Integer(&'static str),
    /// `f32` or `f64`.
    Float(&'static str),
    /// `bool`.
    Bool,
    /// A plain `String`.
    String,
    /// A string whose `minLength`, `maxLength` or `pattern` typify checks in a newtype.
    CheckedString,
    /// A string with a recognised `format` (`Uuid`, `DateTime<Utc>`, ...).
    Native(&'static str),
    /// A Rust enum of string values.
    StringEnum,
    /// A newtype over `i64` that only accepts the listed values.
    IntegerEnum,
    /// An object with properties: a generated struct.
    Struct,
    /// An object without properties: a map.
    Map,
    /// `oneOf` / `anyOf`: an untagged enum.
    Union,
    /// An array: a `Vec` of the item shape.
    Vec(Box<Shape>),
    /// `nullable: true`: the inner shape in an `Option`.
    Nullable(Box<Shape>),
    /// No type at all: `serde_json::Value`.
    Json,
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Integer(name) | Shape::Float(name) | Shape::Native(name) => f.write_str(name),
            Shape::Bool => f.write_str("bool"),
            Shape::String => f.write_str("String"),
            Shape::CheckedString => f.write_str("a checked string newtype"),
            Shape::StringEnum => f.write_str("an enum"),
            Shape::IntegerEnum => f.write_str("an integer newtype"),
            Shape::Struct => f.write_str("a struct"),
            Shape::Map => f.write_str("a map"),
            Shape::Union => f.write_str("an untagged enum"),
            Shape::Vec(inner) => write!(f, "Vec<{}>", inner.short()),
            Shape::Nullable(inner) => write!(f, "Option<{}>", inner.short()),
            Shape::Json => f.write_str("serde_json::Value"),
        }
    }
}

impl Shape {
    /// The name inside a generic (`Vec<struct>` reads better than `Vec<a struct>`).
    fn short(&self) -> String {
        match self {
            Shape::CheckedString => "newtype".into(),
            Shape::StringEnum => "enum".into(),
            Shape::IntegerEnum => "newtype".into(),
            Shape::Struct => "struct".into(),
            Shape::Map => "map".into(),
            Shape::Union => "enum".into(),
            other => other.to_string(),
        }
    }

    /// True for `Vec`, maps and `Option`: types whose empty value typify uses for an absent
    /// optional field instead of wrapping it in `Option`.
    fn has_intrinsic_default(&self) -> bool {
        matches!(self, Shape::Vec(_) | Shape::Map | Shape::Nullable(_))
    }

    /// The shape of `schema`, whose `$ref`s point into `document`.
    pub fn of(document: &Value, schema: &Value) -> Shape {
        shape_of(&Doc::new(document), schema, 0)
    }
}

fn shape_of(doc: &Doc, schema: &Value, depth: usize) -> Shape {
    // References can form cycles; past a few levels the answer no longer matters.
    if depth > 16 {
        return Shape::Struct;
    }
    let schema = doc.deref(schema).0;
    let inner = plain_shape(doc, schema, depth);
    if schema.get("nullable").and_then(Value::as_bool) == Some(true) {
        Shape::Nullable(Box::new(inner))
    } else {
        inner
    }
}

fn plain_shape(doc: &Doc, schema: &Value, depth: usize) -> Shape {
    let ty = schema.get("type").and_then(Value::as_str);
    let format = schema.get("format").and_then(Value::as_str);
    if schema.get("enum").is_some_and(Value::is_array) {
        return match ty {
            Some("integer") | Some("number") => Shape::IntegerEnum,
            _ => Shape::StringEnum,
        };
    }
    match ty {
        Some("integer") => Shape::Integer(integer_type(schema, format)),
        Some("number") => Shape::Float(if format == Some("float") {
            "f32"
        } else {
            "f64"
        }),
        Some("boolean") => Shape::Bool,
        Some("string") => string_shape(schema, format),
        Some("array") => Shape::Vec(Box::new(match schema.get("items") {
            Some(items) => shape_of(doc, items, depth + 1),
            None => Shape::Json,
        })),
        Some("object") | None if schema.get("properties").is_some() => Shape::Struct,
        Some("object") => Shape::Map,
        _ => {
            if let Some(members) = schema.get("allOf").and_then(Value::as_array) {
                // A single member (often a `$ref` with a local description) is that member.
                return match members.as_slice() {
                    [only] => shape_of(doc, only, depth + 1),
                    _ => Shape::Struct,
                };
            }
            if schema.get("oneOf").is_some() || schema.get("anyOf").is_some() {
                return Shape::Union;
            }
            Shape::Json
        }
    }
}

fn string_shape(schema: &Value, format: Option<&str>) -> Shape {
    match format {
        Some("uuid") => Shape::Native("Uuid"),
        Some("date") => Shape::Native("NaiveDate"),
        Some("date-time") => Shape::Native("DateTime<Utc>"),
        Some("ip") => Shape::Native("IpAddr"),
        Some("ipv4") => Shape::Native("Ipv4Addr"),
        Some("ipv6") => Shape::Native("Ipv6Addr"),
        _ if ["minLength", "maxLength", "pattern"]
            .iter()
            .any(|key| schema.get(*key).is_some()) =>
        {
            Shape::CheckedString
        }
        _ => Shape::String,
    }
}

/// typify's choice of integer type: the `format` when the bounds fit it, else the type whose
/// range equals the bounds, else `i64`; a lower bound of exactly 1 picks a `NonZero` type.
fn integer_type(schema: &Value, format: Option<&str>) -> &'static str {
    // (format, type, non-zero type, type minimum, type maximum), most restrictive first.
    const FORMATS: &[(&str, &str, &str, f64, f64)] = &[
        ("int8", "i8", "NonZeroU8", i8::MIN as f64, i8::MAX as f64),
        ("uint8", "u8", "NonZeroU8", u8::MIN as f64, u8::MAX as f64),
        (
            "int16",
            "i16",
            "NonZeroU16",
            i16::MIN as f64,
            i16::MAX as f64,
        ),
        (
            "uint16",
            "u16",
            "NonZeroU16",
            u16::MIN as f64,
            u16::MAX as f64,
        ),
        ("int", "i32", "NonZeroU32", i32::MIN as f64, i32::MAX as f64),
        (
            "int32",
            "i32",
            "NonZeroU32",
            i32::MIN as f64,
            i32::MAX as f64,
        ),
        (
            "uint",
            "u32",
            "NonZeroU32",
            u32::MIN as f64,
            u32::MAX as f64,
        ),
        (
            "uint32",
            "u32",
            "NonZeroU32",
            u32::MIN as f64,
            u32::MAX as f64,
        ),
        (
            "int64",
            "i64",
            "NonZeroU64",
            i64::MIN as f64,
            i64::MAX as f64,
        ),
        (
            "uint64",
            "u64",
            "NonZeroU64",
            u64::MIN as f64,
            u64::MAX as f64,
        ),
    ];
    let number = |key: &str| schema.get(key).and_then(Value::as_f64);
    let exclusive = |key: &str| schema.get(key).and_then(Value::as_bool) == Some(true);
    // OpenAPI 3.0's boolean `exclusiveMinimum` turns the bound into the next integer.
    let mut min = number("minimum").map(|m| {
        if exclusive("exclusiveMinimum") {
            m + 1.0
        } else {
            m
        }
    });
    let mut max = number("maximum").map(|m| {
        if exclusive("exclusiveMaximum") {
            m - 1.0
        } else {
            m
        }
    });
    let multiple = schema.get("multipleOf").is_some();

    if let Some(&(_, ty, non_zero, type_min, type_max)) =
        FORMATS.iter().find(|entry| Some(entry.0) == format)
    {
        let min_fits = min.is_none_or(|m| m >= type_min);
        let max_fits = max.is_none_or(|m| m <= type_max);
        if !multiple && min_fits && max_fits {
            return if min == Some(1.0) { non_zero } else { ty };
        }
        min.get_or_insert(type_min);
        max.get_or_insert(type_max);
    }
    let same = |a: f64, b: f64| (a - b).abs() <= f64::EPSILON;
    let found = FORMATS
        .iter()
        .rev()
        .find_map(|&(_, ty, non_zero, type_min, type_max)| match (min, max) {
            (None, Some(max)) => same(type_max, max).then_some(ty),
            (Some(1.0), None) => Some(non_zero),
            (Some(min), None) => same(type_min, min).then_some(ty),
            (Some(1.0), Some(_)) => Some(non_zero),
            (Some(min), Some(max)) => (same(type_max, max) && same(type_min, min)).then_some(ty),
            (None, None) => None,
        });
    found.unwrap_or("i64")
}

/// The Rust type of a struct field: its shape, wrapped in `Option` when the property is
/// optional and neither has a default nor an empty value of its own (typify's rule).
pub fn field_type(shape: &Shape, required: bool, has_default: bool) -> String {
    if required || has_default || shape.has_intrinsic_default() {
        shape.to_string()
    } else {
        format!("Option<{}>", shape.short())
    }
}

//! `enums.rs`: the enums pixmill types itself (see [`crate::model::typed_enums`]).
//!
//! Answer enums are open: a value the spec does not list becomes `Unknown(raw)` and serializes
//! back unchanged, so a provider adding a status never breaks parsing. Integer enums are closed
//! and named by `x-enum-varnames`, so a request can only carry documented values. progenitor is
//! told to use these types in place of the schemas it would generate.

use std::fmt::Write as _;

use crate::model::{EnumKind, TypedEnum};

/// Where the generated enums live inside the generated crate.
pub const MODULE_PATH: &str = "crate::enums";

/// The module source, or `None` when the spec has no such enum.
pub fn module(provider: &str, enums: &[TypedEnum]) -> Option<String> {
    if enums.is_empty() {
        return None;
    }
    let mut out = format!(
        "//! Enums of `specs/{provider}.yaml` typed by pixmill: answer enums keep values the spec\n\
         //! does not list (`Unknown`), integer enums carry the names of `x-enum-varnames`.\n\n"
    );
    for item in enums {
        match (item.kind, item.open) {
            (EnumKind::String, true) => open_enum(item, "::std::string::String", &mut out),
            (EnumKind::Integer, true) => open_enum(item, "i64", &mut out),
            (EnumKind::Integer, false) => closed_integer_enum(item, &mut out),
            (EnumKind::String, false) => {}
        }
    }
    Some(out)
}

fn doc_lines(text: Option<&str>, out: &mut String) {
    if let Some(text) = text {
        for line in textwrap(text) {
            let _ = writeln!(out, "/// {line}");
        }
    }
}

/// Splits a description into lines of reasonable length for doc comments.
fn textwrap(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        if !current.is_empty() && current.len() + word.len() > 90 {
            lines.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

fn open_enum(item: &TypedEnum, raw: &str, out: &mut String) {
    let name = &item.name;
    let integer = item.kind == EnumKind::Integer;
    doc_lines(item.description.as_deref(), out);
    let _ = writeln!(
        out,
        "///\n/// An answer enum: a value the spec does not list becomes [`{name}::Unknown`] with the\n\
         /// value as sent, and serializes back unchanged."
    );
    let _ = writeln!(
        out,
        "#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]\n#[non_exhaustive]\npub enum {name} {{"
    );
    for (index, variant) in item.variants.iter().enumerate() {
        let _ = writeln!(out, "/// `{}`\n{variant},", item.wire(index));
    }
    let _ = writeln!(
        out,
        "/// A value the spec does not list, kept exactly as received.\nUnknown({raw}),\n}}\n"
    );

    let documented: Vec<String> = item
        .variants
        .iter()
        .map(|v| format!("{name}::{v}"))
        .collect();
    let _ = writeln!(out, "impl {name} {{");
    let _ = writeln!(
        out,
        "/// Every value the spec lists, in its order.\npub const DOCUMENTED: &'static [{name}] = &[{}];\n",
        documented.join(", ")
    );
    if integer {
        let _ = writeln!(
            out,
            "/// The value on the wire.\npub fn value(&self) -> i64 {{\nmatch self {{"
        );
        for (index, variant) in item.variants.iter().enumerate() {
            let _ = writeln!(out, "{name}::{variant} => {},", item.wire(index));
        }
        let _ = writeln!(out, "{name}::Unknown(value) => *value,\n}}\n}}\n");
    } else {
        let _ = writeln!(
            out,
            "/// The value on the wire.\npub fn as_str(&self) -> &str {{\nmatch self {{"
        );
        for (index, variant) in item.variants.iter().enumerate() {
            let _ = writeln!(out, "{name}::{variant} => {:?},", item.wire(index));
        }
        let _ = writeln!(out, "{name}::Unknown(value) => value,\n}}\n}}\n");
    }
    let _ = writeln!(
        out,
        "/// Whether the spec lists this value.\npub fn is_documented(&self) -> bool {{\n!matches!(self, {name}::Unknown(_))\n}}\n}}\n"
    );

    if integer {
        let _ = writeln!(
            out,
            "impl ::std::convert::From<i64> for {name} {{\nfn from(value: i64) -> Self {{\nmatch value {{"
        );
        for (index, variant) in item.variants.iter().enumerate() {
            let _ = writeln!(out, "{} => {name}::{variant},", item.wire(index));
        }
        let _ = writeln!(out, "other => {name}::Unknown(other),\n}}\n}}\n}}\n");
        let _ = writeln!(
            out,
            "impl ::std::fmt::Display for {name} {{\nfn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {{\nwrite!(f, \"{{}}\", self.value())\n}}\n}}\n"
        );
        let _ = writeln!(
            out,
            "impl ::serde::Serialize for {name} {{\nfn serialize<S: ::serde::Serializer>(&self, serializer: S) -> ::std::result::Result<S::Ok, S::Error> {{\nserializer.serialize_i64(self.value())\n}}\n}}\n"
        );
        let _ = writeln!(
            out,
            "impl<'de> ::serde::Deserialize<'de> for {name} {{\nfn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> ::std::result::Result<Self, D::Error> {{\nOk({name}::from(i64::deserialize(deserializer)?))\n}}\n}}\n"
        );
        let _ = writeln!(
            out,
            "impl ::std::str::FromStr for {name} {{\ntype Err = ::std::num::ParseIntError;\nfn from_str(text: &str) -> ::std::result::Result<Self, Self::Err> {{\nOk({name}::from(text.trim().parse::<i64>()?))\n}}\n}}\n"
        );
        return;
    }
    let _ = writeln!(
        out,
        "impl ::std::convert::From<&str> for {name} {{\nfn from(value: &str) -> Self {{\nmatch value {{"
    );
    for (index, variant) in item.variants.iter().enumerate() {
        let _ = writeln!(out, "{:?} => {name}::{variant},", item.wire(index));
    }
    let _ = writeln!(
        out,
        "other => {name}::Unknown(other.to_string()),\n}}\n}}\n}}\n"
    );
    let _ = writeln!(
        out,
        "impl ::std::convert::From<::std::string::String> for {name} {{\nfn from(value: ::std::string::String) -> Self {{\nmatch {name}::from(value.as_str()) {{\n{name}::Unknown(_) => {name}::Unknown(value),\nknown => known,\n}}\n}}\n}}\n"
    );
    let _ = writeln!(
        out,
        "impl ::std::str::FromStr for {name} {{\ntype Err = ::std::convert::Infallible;\nfn from_str(value: &str) -> ::std::result::Result<Self, Self::Err> {{\nOk({name}::from(value))\n}}\n}}\n"
    );
    let _ = writeln!(
        out,
        "impl ::std::fmt::Display for {name} {{\nfn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {{\nf.write_str(self.as_str())\n}}\n}}\n"
    );
    let _ = writeln!(
        out,
        "impl ::serde::Serialize for {name} {{\nfn serialize<S: ::serde::Serializer>(&self, serializer: S) -> ::std::result::Result<S::Ok, S::Error> {{\nserializer.serialize_str(self.as_str())\n}}\n}}\n"
    );
    let _ = writeln!(
        out,
        "impl<'de> ::serde::Deserialize<'de> for {name} {{\nfn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> ::std::result::Result<Self, D::Error> {{\nOk({name}::from(::std::string::String::deserialize(deserializer)?))\n}}\n}}\n"
    );
}

fn closed_integer_enum(item: &TypedEnum, out: &mut String) {
    let name = &item.name;
    doc_lines(item.description.as_deref(), out);
    let _ = writeln!(
        out,
        "///\n/// Only the documented values exist; [`TryFrom<i64>`] refuses any other."
    );
    let default_index = item
        .default
        .as_ref()
        .and_then(|d| item.values.iter().position(|v| v == d));
    let derive_default = if default_index.is_some() {
        ", Default"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord{derive_default})]\npub enum {name} {{"
    );
    for (index, variant) in item.variants.iter().enumerate() {
        let default = if Some(index) == default_index {
            "#[default]\n"
        } else {
            ""
        };
        let _ = writeln!(out, "/// `{}`\n{default}{variant},", item.wire(index));
    }
    let _ = writeln!(out, "}}\n");
    let all: Vec<String> = item
        .variants
        .iter()
        .map(|v| format!("{name}::{v}"))
        .collect();
    let wires: Vec<String> = (0..item.values.len())
        .map(|i| format!("{:?}", item.wire(i)))
        .collect();
    let _ = writeln!(out, "impl {name} {{");
    let _ = writeln!(
        out,
        "/// Every documented value, in the spec's order.\npub const ALL: &'static [{name}] = &[{}];\n",
        all.join(", ")
    );
    let _ = writeln!(
        out,
        "/// The documented values as text, in the spec's order.\npub const VALUES: &'static [&'static str] = &[{}];\n",
        wires.join(", ")
    );
    let _ = writeln!(
        out,
        "/// The value on the wire.\npub const fn value(self) -> i64 {{\nmatch self {{"
    );
    for (index, variant) in item.variants.iter().enumerate() {
        let _ = writeln!(out, "{name}::{variant} => {},", item.wire(index));
    }
    let _ = writeln!(out, "}}\n}}\n}}\n");
    let _ = writeln!(
        out,
        "impl ::std::convert::TryFrom<i64> for {name} {{\ntype Error = ::pixmill_spec::UndocumentedValue;\nfn try_from(value: i64) -> ::std::result::Result<Self, Self::Error> {{\n{name}::ALL.iter().copied().find(|v| v.value() == value).ok_or_else(|| ::pixmill_spec::UndocumentedValue::new({name:?}, value.to_string(), {name}::VALUES))\n}}\n}}\n"
    );
    let _ = writeln!(
        out,
        "impl ::std::convert::From<{name}> for i64 {{\nfn from(value: {name}) -> i64 {{\nvalue.value()\n}}\n}}\n"
    );
    let _ = writeln!(
        out,
        "impl ::std::fmt::Display for {name} {{\nfn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {{\nwrite!(f, \"{{}}\", self.value())\n}}\n}}\n"
    );
    let _ = writeln!(
        out,
        "impl ::std::str::FromStr for {name} {{\ntype Err = ::pixmill_spec::UndocumentedValue;\nfn from_str(text: &str) -> ::std::result::Result<Self, Self::Err> {{\nlet value = text.trim().parse::<i64>().map_err(|_| ::pixmill_spec::UndocumentedValue::new({name:?}, text, {name}::VALUES))?;\n{name}::try_from(value)\n}}\n}}\n"
    );
    let _ = writeln!(
        out,
        "impl ::serde::Serialize for {name} {{\nfn serialize<S: ::serde::Serializer>(&self, serializer: S) -> ::std::result::Result<S::Ok, S::Error> {{\nserializer.serialize_i64(self.value())\n}}\n}}\n"
    );
    let _ = writeln!(
        out,
        "impl<'de> ::serde::Deserialize<'de> for {name} {{\nfn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> ::std::result::Result<Self, D::Error> {{\nlet value = i64::deserialize(deserializer)?;\n{name}::try_from(value).map_err(<D::Error as ::serde::de::Error>::custom)\n}}\n}}\n"
    );
}

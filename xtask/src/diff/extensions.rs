//! Prose, examples and extensions: `description` and friends, `x-limits`, `x-error-codes`, and
//! any `x-` key this tool does not know.

use serde_json::Value;

use super::doc::{Node, changed_key};
use super::rust;
use super::schema::{Target, literal};
use super::walk::{Walker, compact, quoted, text};
use super::{Kind, Severity};

/// Extensions compared by their own rules; every other `x-` key is compared generically.
const SPECIAL_EXTENSIONS: &[&str] = &["x-limits", "x-error-codes", "x-enum-varnames"];

impl<'a> Walker<'a> {
    /// Prose, examples, provenance notes and unknown `x-` keys of one object.
    pub(super) fn annotations(&mut self, old: &Node<'a>, new: &Node<'a>, label: &str) {
        let keys = |node: &Node<'a>| -> Vec<&'a str> {
            node.value
                .as_object()
                .map(|map| map.keys().map(String::as_str).collect())
                .unwrap_or_default()
        };
        let mut all = keys(new);
        for key in keys(old) {
            if !all.contains(&key) {
                all.push(key);
            }
        }
        for key in all {
            let (before, after) = (old.value.get(key), new.value.get(key));
            if before == after {
                continue;
            }
            let pointer = if after.is_some() {
                new.child_or_null(key).pointer
            } else {
                old.child_or_null(key).pointer
            };
            let verb = match (before, after) {
                (None, _) => "added",
                (_, None) => "removed",
                _ => "edited",
            };
            match key {
                "description" | "summary" | "title" | "externalDocs" => self.push(
                    &pointer,
                    Kind::DescriptionChanged,
                    Severity::Docs,
                    format!("{label}: {key} {verb}"),
                    None,
                ),
                "example" | "examples" => self.push(
                    &pointer,
                    Kind::ExampleChanged,
                    Severity::Docs,
                    format!("{label}: {key} {verb}"),
                    None,
                ),
                "x-source" => self.push(
                    &pointer,
                    Kind::ProvenanceChanged,
                    Severity::Docs,
                    format!(
                        "{label}: `x-source` {} is now {}",
                        quoted(before),
                        quoted(after)
                    ),
                    None,
                ),
                "x-doc-conflict" => self.push(
                    &pointer,
                    Kind::ProvenanceChanged,
                    Severity::Docs,
                    format!("{label}: `x-doc-conflict` {verb}"),
                    None,
                ),
                _ if key.starts_with("x-") && !SPECIAL_EXTENSIONS.contains(&key) => self.push(
                    &pointer,
                    Kind::ExtensionChanged,
                    Severity::Compatible,
                    match (before, after) {
                        (None, Some(value)) => {
                            format!("{label}: `{key}` added: {}", compact(Some(value)))
                        }
                        (Some(_), None) => format!("{label}: `{key}` removed"),
                        _ => format!("{label}: `{key}` is now {}", compact(after)),
                    },
                    None,
                ),
                _ => {}
            }
        }
    }

    /// `x-error-codes` rows, matched by `code`.
    pub(super) fn error_codes(&mut self, old: &Node<'a>, new: &Node<'a>, target: &Target) {
        let (before, after) = (
            old.value.get("x-error-codes"),
            new.value.get("x-error-codes"),
        );
        if before == after {
            return;
        }
        let rows = |node: &Node<'a>| -> Option<Vec<(i64, Node<'a>)>> {
            let Some(list) = node.child("x-error-codes") else {
                return Some(Vec::new());
            };
            list.value.as_array()?;
            list.items()
                .into_iter()
                .map(|row| {
                    row.value
                        .get("code")
                        .and_then(Value::as_i64)
                        .map(|c| (c, row))
                })
                .collect()
        };
        let (Some(old_rows), Some(new_rows)) = (rows(old), rows(new)) else {
            self.generic_extension(old, new, "x-error-codes", &target.label);
            return;
        };
        // Codegen names the table after the component schema that carries it.
        let schema = new
            .pointer
            .strip_prefix("/components/schemas/")
            .or_else(|| old.pointer.strip_prefix("/components/schemas/"))
            .map(|rest| rest.split('/').next().unwrap_or(rest).to_string())
            .unwrap_or_else(|| target.type_name.clone());
        let table = format!("`error_codes::{}`", rust::constant(&schema));
        let describe = |row: &Node<'_>| {
            format!(
                "HTTP {}: {}",
                text(row.value.get("status")),
                text(row.value.get("message"))
            )
        };
        for (code, row) in &old_rows {
            if !new_rows.iter().any(|(c, _)| c == code) {
                self.push(
                    &row.pointer,
                    Kind::ErrorCodeRemoved,
                    Severity::Breaking,
                    format!("error code {code} ({}) removed", describe(row)),
                    Some(format!(
                        "{table} loses code {code}, and the facade its typed variant"
                    )),
                );
            }
        }
        for (code, new_row) in &new_rows {
            let Some((_, old_row)) = old_rows.iter().find(|(c, _)| c == code) else {
                self.push(
                    &new_row.pointer,
                    Kind::ErrorCodeAdded,
                    Severity::Compatible,
                    format!("new error code {code} ({})", describe(new_row)),
                    Some(format!("{table} gains code {code}")),
                );
                continue;
            };
            let mut keys: Vec<&str> = Vec::new();
            for row in [old_row, new_row] {
                for key in row.value.as_object().into_iter().flat_map(|m| m.keys()) {
                    if !keys.contains(&key.as_str()) {
                        keys.push(key);
                    }
                }
            }
            for key in keys {
                let (was, now) = (old_row.value.get(key), new_row.value.get(key));
                if was == now {
                    continue;
                }
                let pointer = changed_key(old_row, new_row, key);
                match key {
                    "message" | "description" => self.push(
                        &pointer,
                        Kind::DescriptionChanged,
                        Severity::Docs,
                        format!("error code {code}: {key} edited"),
                        None,
                    ),
                    // `name` is the Rust variant of the code.
                    "name" => self.push(
                        &pointer,
                        Kind::ErrorCodeChanged,
                        Severity::Breaking,
                        format!(
                            "error code {code}: name {} is now {}",
                            quoted(was),
                            quoted(now)
                        ),
                        Some(format!(
                            "the variant for code {code} is renamed from {} to {}",
                            quoted(was),
                            quoted(now)
                        )),
                    ),
                    _ => self.push(
                        &pointer,
                        Kind::ErrorCodeChanged,
                        Severity::Compatible,
                        format!(
                            "error code {code}: {key} {} is now {}",
                            text(was),
                            text(now)
                        ),
                        None,
                    ),
                }
            }
        }
    }

    /// An extension whose structure this tool cannot read: reported as one changed value.
    fn generic_extension(&mut self, old: &Node<'a>, new: &Node<'a>, key: &str, label: &str) {
        let after = new.value.get(key);
        let pointer = if after.is_some() {
            new.child_or_null(key).pointer
        } else {
            old.child_or_null(key).pointer
        };
        self.push(
            &pointer,
            Kind::ExtensionChanged,
            Severity::Compatible,
            format!("{label}: `{key}` is now {}", compact(after)),
            None,
        );
    }

    /// An operation's `x-limits`: limit sets matched by `name`.
    pub(super) fn limits(&mut self, old: &Node<'a>, new: &Node<'a>) {
        if old.value.get("x-limits") == new.value.get("x-limits") {
            return;
        }
        let sets = |node: &Node<'a>| -> Option<Vec<(&'a str, Node<'a>)>> {
            let Some(list) = node.child("x-limits") else {
                return Some(Vec::new());
            };
            list.value.as_array()?;
            list.items()
                .into_iter()
                .map(|set| set.str("name").map(|name| (name, set)))
                .collect()
        };
        let (Some(old_sets), Some(new_sets)) = (sets(old), sets(new)) else {
            self.generic_extension(old, new, "x-limits", "operation");
            return;
        };
        let id = self
            .operation
            .as_ref()
            .map(|op| op.id.clone())
            .unwrap_or_default();
        let constant = format!("`limits::{}`", rust::constant(&id));
        for (name, set) in &old_sets {
            if !new_sets.iter().any(|(n, _)| n == name) {
                self.push(
                    &set.pointer,
                    Kind::LimitsLoosened,
                    Severity::Compatible,
                    format!("limit set `{name}` removed"),
                    Some(format!("{constant} loses set `{name}`")),
                );
            }
        }
        for (name, new_set) in &new_sets {
            match old_sets.iter().find(|(n, _)| n == name) {
                None => self.push(
                    &new_set.pointer,
                    Kind::LimitsTightened,
                    Severity::Breaking,
                    format!("new limit set `{name}`: {}", limit_facts(new_set)),
                    Some(format!(
                        "{constant} gains set `{name}`; pixmill refuses inputs outside it before sending"
                    )),
                ),
                Some((_, old_set)) => {
                    let mut limits = LimitSet {
                        walker: self,
                        name,
                        constant: &constant,
                    };
                    limits.compare(old_set, new_set);
                }
            }
        }
    }
}

/// The comparison of one limit set present on both sides.
struct LimitSet<'w, 'a> {
    walker: &'w mut Walker<'a>,
    name: &'w str,
    constant: &'w str,
}

impl<'a> LimitSet<'_, 'a> {
    fn compare(&mut self, old: &Node<'a>, new: &Node<'a>) {
        let mut keys: Vec<&str> = Vec::new();
        for set in [new, old] {
            for key in set.value.as_object().into_iter().flat_map(|m| m.keys()) {
                if !keys.contains(&key.as_str()) {
                    keys.push(key);
                }
            }
        }
        for key in keys {
            let (before, after) = (old.child(key), new.child(key));
            if before.as_ref().map(|n| n.value) == after.as_ref().map(|n| n.value) {
                continue;
            }
            let pointer = match (&after, &before) {
                (Some(node), _) | (None, Some(node)) => node.pointer.clone(),
                (None, None) => continue,
            };
            match key {
                "name" => {}
                "description" => self.walker.push(
                    &pointer,
                    Kind::DescriptionChanged,
                    Severity::Docs,
                    format!("limit set `{}`: description edited", self.name),
                    None,
                ),
                "x-source" | "x-doc-conflict" => self.walker.push(
                    &pointer,
                    Kind::ProvenanceChanged,
                    Severity::Docs,
                    format!("limit set `{}`: `{key}` edited", self.name),
                    None,
                ),
                "formats" => self.formats(old, new, &pointer),
                "applies_to" => self.applies_to(old, new, &pointer),
                "max_face_pose" => {
                    let (old_pose, new_pose) = (old.child_or_null(key), new.child_or_null(key));
                    let mut angles: Vec<&str> = Vec::new();
                    for pose in [&new_pose, &old_pose] {
                        for angle in pose.value.as_object().into_iter().flat_map(|m| m.keys()) {
                            if !angles.contains(&angle.as_str()) {
                                angles.push(angle);
                            }
                        }
                    }
                    for angle in angles {
                        let pointer = changed_key(&old_pose, &new_pose, angle);
                        self.number(
                            &format!("max_face_pose.{angle}"),
                            old_pose.value.get(angle),
                            new_pose.value.get(angle),
                            false,
                            &pointer,
                        );
                    }
                }
                _ => {
                    let (was, now) = (
                        before.as_ref().map(|n| n.value),
                        after.as_ref().map(|n| n.value),
                    );
                    if was.is_none_or(Value::is_number) && now.is_none_or(Value::is_number) {
                        // `min_short_side`, `min_face_width`: larger is stricter; every other
                        // number is a maximum.
                        self.number(key, was, now, key.starts_with("min_"), &pointer);
                    } else {
                        self.walker.push(
                            &pointer,
                            Kind::ExtensionChanged,
                            Severity::Compatible,
                            format!("limit set `{}`: `{key}` is now {}", self.name, compact(now)),
                            None,
                        );
                    }
                }
            }
        }
    }

    fn tightened(&mut self, pointer: &str, summary: String) {
        let impact = format!(
            "{} set `{}` is stricter: pixmill refuses such inputs before sending",
            self.constant, self.name
        );
        self.walker.push(
            pointer,
            Kind::LimitsTightened,
            Severity::Breaking,
            format!("limit set `{}`: {summary}", self.name),
            Some(impact),
        );
    }

    fn loosened(&mut self, pointer: &str, summary: String) {
        let impact = format!("{} set `{}` accepts more", self.constant, self.name);
        self.walker.push(
            pointer,
            Kind::LimitsLoosened,
            Severity::Compatible,
            format!("limit set `{}`: {summary}", self.name),
            Some(impact),
        );
    }

    fn number(
        &mut self,
        key: &str,
        before: Option<&Value>,
        after: Option<&Value>,
        larger_is_stricter: bool,
        pointer: &str,
    ) {
        if before == after {
            return;
        }
        let (was, now) = (
            before.and_then(Value::as_f64),
            after.and_then(Value::as_f64),
        );
        let summary = match (before, after) {
            (None, Some(value)) => format!("new {key} {}", text(Some(value))),
            (Some(value), None) => format!("{key} {} removed", text(Some(value))),
            _ => format!("{key} {} is now {}", text(before), text(after)),
        };
        let tightened = match (was, now) {
            (None, Some(_)) => true,
            (Some(_), None) => false,
            (Some(was), Some(now)) if larger_is_stricter => now > was,
            (Some(was), Some(now)) => now < was,
            (None, None) => return,
        };
        if tightened {
            self.tightened(pointer, summary);
        } else {
            self.loosened(pointer, summary);
        }
    }

    fn formats(&mut self, old: &Node<'a>, new: &Node<'a>, pointer: &str) {
        let formats = |node: &Node<'a>| -> Vec<&'a Value> {
            node.value
                .get("formats")
                .and_then(Value::as_array)
                .map(|list| list.iter().collect())
                .unwrap_or_default()
        };
        let (was, now) = (formats(old), formats(new));
        let removed: Vec<String> = was
            .iter()
            .filter(|f| !now.contains(f))
            .map(|f| literal(f))
            .collect();
        let added: Vec<String> = now
            .iter()
            .filter(|f| !was.contains(f))
            .map(|f| literal(f))
            .collect();
        // No list means "any format": a list appearing narrows, one disappearing widens.
        if was.is_empty() && !now.is_empty() {
            self.tightened(
                pointer,
                format!("only formats {} accepted", added.join(", ")),
            );
            return;
        }
        if now.is_empty() && !was.is_empty() {
            self.loosened(pointer, "any format accepted".to_string());
            return;
        }
        if !removed.is_empty() {
            self.tightened(
                pointer,
                format!("format(s) {} no longer accepted", removed.join(", ")),
            );
        }
        if !added.is_empty() {
            self.loosened(
                pointer,
                format!("format(s) {} now accepted", added.join(", ")),
            );
        }
    }

    fn applies_to(&mut self, old: &Node<'a>, new: &Node<'a>, pointer: &str) {
        let rule = |node: &Node<'a>| -> Option<(&'a str, Vec<&'a Value>)> {
            let rule = node.value.get("applies_to")?;
            Some((
                rule.get("field").and_then(Value::as_str).unwrap_or(""),
                rule.get("values")
                    .and_then(Value::as_array)
                    .map(|v| v.iter().collect())
                    .unwrap_or_default(),
            ))
        };
        match (rule(old), rule(new)) {
            (None, Some((field, values))) => self.loosened(
                pointer,
                format!(
                    "now applies only when `{field}` is one of {}",
                    values
                        .iter()
                        .map(|v| literal(v))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            (Some(_), None) => self.tightened(pointer, "now applies to every request".to_string()),
            (Some((old_field, _)), Some((new_field, _))) if old_field != new_field => self
                .tightened(
                    pointer,
                    format!("now selected by `{new_field}` instead of `{old_field}`"),
                ),
            (Some((_, was)), Some((field, now))) => {
                let added: Vec<String> = now
                    .iter()
                    .filter(|v| !was.contains(v))
                    .map(|v| literal(v))
                    .collect();
                let removed: Vec<String> = was
                    .iter()
                    .filter(|v| !now.contains(v))
                    .map(|v| literal(v))
                    .collect();
                if !added.is_empty() {
                    self.tightened(
                        pointer,
                        format!("now also applies when `{field}` is {}", added.join(", ")),
                    );
                }
                if !removed.is_empty() {
                    self.loosened(
                        pointer,
                        format!("no longer applies when `{field}` is {}", removed.join(", ")),
                    );
                }
            }
            (None, None) => {}
        }
    }
}

/// The limits of a new set, for its summary: `formats jpg, png; max_bytes 1000`.
fn limit_facts(set: &Node<'_>) -> String {
    let facts: Vec<String> = set
        .entries()
        .into_iter()
        .filter(|(key, _)| !matches!(*key, "name" | "description") && !key.starts_with("x-"))
        .map(|(key, node)| match node.value {
            Value::Object(rule) if key == "applies_to" => format!(
                "when `{}` is {}",
                text(rule.get("field")),
                rule.get("values")
                    .and_then(Value::as_array)
                    .map(|values| values.iter().map(literal).collect::<Vec<_>>().join(", "))
                    .unwrap_or_default()
            ),
            Value::Array(items) => format!(
                "{key} {}",
                items
                    .iter()
                    .map(|v| text(Some(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            other => format!("{key} {}", text(Some(other))),
        })
        .collect();
    facts.join("; ")
}

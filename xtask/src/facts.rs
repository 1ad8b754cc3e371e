//! The machine-readable extensions a spec may carry: `x-limits`, `x-error-codes`, `x-source`.

use serde::Deserialize;
use serde_json::Value;

/// Values allowed in `x-source`.
pub const SOURCES: &[&str] = &["docs", "public-code", "inferred"];

/// One entry of an operation's `x-limits` list.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LimitSet {
    pub name: String,
    pub description: Option<String>,
    pub applies_to: Option<AppliesTo>,
    #[serde(default)]
    pub formats: Vec<String>,
    pub max_bytes: Option<u64>,
    pub max_long_side: Option<u32>,
    pub min_short_side: Option<u32>,
    pub max_short_side: Option<u32>,
    pub max_megapixels: Option<f64>,
    pub max_output_megapixels: Option<f64>,
    pub min_face_width: Option<u32>,
    pub max_face_pose: Option<FacePose>,
    #[serde(rename = "x-source")]
    pub source: Option<String>,
    #[serde(rename = "x-doc-conflict")]
    pub doc_conflict: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AppliesTo {
    pub field: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FacePose {
    pub pitch: f64,
    pub yaw: f64,
    pub roll: f64,
}

/// One row of an `x-error-codes` table.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ErrorCode {
    pub code: i64,
    pub status: u16,
    pub message: String,
}

/// Parses an `x-limits` value and checks what the types cannot: names, formats, bounds.
pub fn parse_limits(value: &Value) -> Result<Vec<LimitSet>, String> {
    let sets: Vec<LimitSet> =
        serde_json::from_value(value.clone()).map_err(|e| format!("malformed x-limits: {e}"))?;
    if sets.is_empty() {
        return Err("x-limits is empty".into());
    }
    let mut names = std::collections::BTreeSet::new();
    for set in &sets {
        if !is_snake_case(&set.name) {
            return Err(format!("x-limits name `{}` is not snake_case", set.name));
        }
        if !names.insert(set.name.as_str()) {
            return Err(format!("x-limits name `{}` is used twice", set.name));
        }
        if let Some(bad) = set
            .formats
            .iter()
            .find(|f| f.is_empty() || f.starts_with('.') || f.to_lowercase() != **f)
        {
            return Err(format!(
                "x-limits `{}`: format `{bad}` must be a lowercase extension without a dot",
                set.name
            ));
        }
        if let Some(source) = &set.source
            && !SOURCES.contains(&source.as_str())
        {
            return Err(format!(
                "x-limits `{}`: x-source `{source}` is not one of {SOURCES:?}",
                set.name
            ));
        }
        if let (Some(min), Some(max)) = (set.min_short_side, set.max_short_side)
            && min > max
        {
            return Err(format!(
                "x-limits `{}`: min_short_side exceeds max_short_side",
                set.name
            ));
        }
        let bounds = [
            set.max_bytes.is_some(),
            set.max_long_side.is_some(),
            set.min_short_side.is_some(),
            set.max_short_side.is_some(),
            set.max_megapixels.is_some(),
            set.max_output_megapixels.is_some(),
            set.min_face_width.is_some(),
            set.max_face_pose.is_some(),
            !set.formats.is_empty(),
        ];
        if !bounds.contains(&true) {
            return Err(format!("x-limits `{}` states no limit", set.name));
        }
    }
    Ok(sets)
}

/// Parses an `x-error-codes` value; codes must be unique.
pub fn parse_error_codes(value: &Value) -> Result<Vec<ErrorCode>, String> {
    let rows: Vec<ErrorCode> = serde_json::from_value(value.clone())
        .map_err(|e| format!("malformed x-error-codes: {e}"))?;
    let mut seen = std::collections::BTreeSet::new();
    for row in &rows {
        if !seen.insert(row.code) {
            return Err(format!("x-error-codes lists {} twice", row.code));
        }
        if !(100..=599).contains(&row.status) {
            return Err(format!(
                "x-error-codes: status {} of {} is not an HTTP status",
                row.status, row.code
            ));
        }
    }
    Ok(rows)
}

/// `lower_snake_case`: lowercase letters, digits and single underscores, starting with a letter.
pub fn is_snake_case(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !s.contains("__")
        && !s.ends_with('_')
}

/// `PascalCase`: starts upper-case, letters and digits only.
pub fn is_pascal_case(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && s.chars().all(|c| c.is_ascii_alphanumeric())
}

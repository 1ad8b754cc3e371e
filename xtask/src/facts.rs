//! The machine-readable extensions a spec may carry: `x-limits`, `x-error-codes`, `x-source`,
//! `x-enum-varnames`, `x-feature`, `x-cost`, `x-rate-limits`, `x-polling`,
//! `x-token-lifetime-seconds`, `x-result-formats` and `x-retention`.

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
    /// The Rust variant name of the code (PascalCase).
    pub name: String,
    pub status: u16,
    pub message: String,
    /// What the code means where its status would mislead: one of [`CODE_KINDS`].
    pub kind: Option<String>,
}

/// Values allowed in an `x-error-codes` row's `kind`.
pub const CODE_KINDS: &[&str] = &["authentication", "credits", "invalid_request"];

/// One row of an operation's `x-cost` list.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CostRow {
    pub units: f64,
    /// `result` or `call`.
    pub per: String,
    pub applies_to: Option<AppliesTo>,
    pub description: Option<String>,
    #[serde(rename = "x-source")]
    pub source: Option<String>,
}

/// One entry of the document-wide `x-rate-limits` list.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RateLimitRow {
    pub requests: u32,
    pub seconds: u64,
    /// `ip`, `token` or `key`.
    pub per: String,
    #[serde(rename = "x-source")]
    pub source: Option<String>,
}

/// One entry of a status operation's `x-polling` list.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PollingRow {
    /// The operation that started the job, when the rule is specific to it.
    pub after: Option<String>,
    pub min_interval_seconds: Option<f64>,
    pub max_interval_seconds: Option<f64>,
    pub lost_after_seconds: Option<f64>,
    #[serde(rename = "x-source")]
    pub source: Option<String>,
}

/// An operation's `x-result-formats`: the file formats its result comes in, for operations
/// whose caller cannot choose one.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ResultFormats {
    /// Lowercase file extensions without a dot, most usual first.
    pub formats: Vec<String>,
    pub description: Option<String>,
    #[serde(rename = "x-source")]
    pub source: Option<String>,
}

/// The document-wide `x-retention`: how long the provider keeps files and their links.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Uploaded input files.
    pub uploads_seconds: Option<u64>,
    /// Result files.
    pub results_seconds: Option<u64>,
    /// Result download URLs.
    pub result_urls_seconds: Option<u64>,
    #[serde(rename = "x-source")]
    pub source: Option<String>,
}

/// Roles an operation of an `x-feature` tag may play; its id is `<feature>_<role>`.
pub const FEATURE_ROLES: &[&str] = &[
    "create_file",
    "run_task",
    "check_status",
    "list_style_groups",
    "list_styles",
    "list_templates",
];

/// Values allowed in `x-cost` `per`.
pub const COST_BASES: &[&str] = &["call", "result"];

/// Values allowed in `x-rate-limits` `per`.
pub const RATE_SCOPES: &[&str] = &["ip", "token", "key"];

fn check_source(what: &str, source: &Option<String>) -> Result<(), String> {
    match source {
        Some(source) if !SOURCES.contains(&source.as_str()) => Err(format!(
            "{what}: x-source `{source}` is not one of {SOURCES:?}"
        )),
        _ => Ok(()),
    }
}

/// Parses `x-enum-varnames` against the `enum` beside it: one unique PascalCase name per value.
pub fn parse_enum_varnames(value: &Value, values: Option<&Value>) -> Result<Vec<String>, String> {
    let names: Vec<String> = serde_json::from_value(value.clone())
        .map_err(|_| "x-enum-varnames must be a list of names".to_string())?;
    let Some(values) = values.and_then(Value::as_array) else {
        return Err("x-enum-varnames needs an `enum` beside it".into());
    };
    if names.len() != values.len() {
        return Err(format!(
            "x-enum-varnames has {} names for {} enum values",
            names.len(),
            values.len()
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for name in &names {
        if !is_pascal_case(name) {
            return Err(format!("x-enum-varnames: `{name}` is not PascalCase"));
        }
        if !seen.insert(name) {
            return Err(format!("x-enum-varnames: `{name}` is used twice"));
        }
    }
    Ok(names)
}

/// Parses a tag's `x-feature`: the feature's snake_case name.
pub fn parse_feature(value: &Value) -> Result<String, String> {
    match value.as_str() {
        Some(name) if is_snake_case(name) => Ok(name.to_string()),
        _ => Err("x-feature must be a snake_case feature name".into()),
    }
}

/// Parses an `x-cost` value.
pub fn parse_costs(value: &Value) -> Result<Vec<CostRow>, String> {
    let rows: Vec<CostRow> =
        serde_json::from_value(value.clone()).map_err(|e| format!("malformed x-cost: {e}"))?;
    if rows.is_empty() {
        return Err("x-cost is empty".into());
    }
    for row in &rows {
        if !COST_BASES.contains(&row.per.as_str()) {
            return Err(format!(
                "x-cost: per `{}` is not one of {COST_BASES:?}",
                row.per
            ));
        }
        if !(row.units.is_finite() && row.units >= 0.0) {
            return Err(format!("x-cost: {} units is not a price", row.units));
        }
        check_source("x-cost", &row.source)?;
    }
    Ok(rows)
}

/// Parses the document's `x-rate-limits`.
pub fn parse_rate_limits(value: &Value) -> Result<Vec<RateLimitRow>, String> {
    let rows: Vec<RateLimitRow> = serde_json::from_value(value.clone())
        .map_err(|e| format!("malformed x-rate-limits: {e}"))?;
    if rows.is_empty() {
        return Err("x-rate-limits is empty".into());
    }
    for row in &rows {
        if !RATE_SCOPES.contains(&row.per.as_str()) {
            return Err(format!(
                "x-rate-limits: per `{}` is not one of {RATE_SCOPES:?}",
                row.per
            ));
        }
        if row.requests == 0 || row.seconds == 0 {
            return Err("x-rate-limits: requests and seconds must be positive".into());
        }
        check_source("x-rate-limits", &row.source)?;
    }
    Ok(rows)
}

/// Parses the document's `x-retention`: at least one positive number of seconds.
pub fn parse_retention(value: &Value) -> Result<Retention, String> {
    let retention: Retention =
        serde_json::from_value(value.clone()).map_err(|e| format!("malformed x-retention: {e}"))?;
    let periods = [
        retention.uploads_seconds,
        retention.results_seconds,
        retention.result_urls_seconds,
    ];
    if periods.iter().all(Option::is_none) {
        return Err("x-retention states no period".into());
    }
    if periods.contains(&Some(0)) {
        return Err("x-retention: every period must be positive".into());
    }
    check_source("x-retention", &retention.source)?;
    Ok(retention)
}

/// Parses an `x-polling` value.
pub fn parse_polling(value: &Value) -> Result<Vec<PollingRow>, String> {
    let rows: Vec<PollingRow> =
        serde_json::from_value(value.clone()).map_err(|e| format!("malformed x-polling: {e}"))?;
    if rows.is_empty() {
        return Err("x-polling is empty".into());
    }
    for row in &rows {
        let seconds = [
            row.min_interval_seconds,
            row.max_interval_seconds,
            row.lost_after_seconds,
        ];
        if seconds.iter().all(Option::is_none) {
            return Err("x-polling: a rule states no interval".into());
        }
        if seconds
            .iter()
            .flatten()
            .any(|s| !(s.is_finite() && *s > 0.0))
        {
            return Err("x-polling: intervals must be positive numbers of seconds".into());
        }
        if let (Some(min), Some(max)) = (row.min_interval_seconds, row.max_interval_seconds)
            && min > max
        {
            return Err("x-polling: min_interval_seconds exceeds max_interval_seconds".into());
        }
        check_source("x-polling", &row.source)?;
    }
    Ok(rows)
}

/// Parses an `x-result-formats` value: at least one format, each a lowercase extension
/// without a dot, none twice.
pub fn parse_result_formats(value: &Value) -> Result<ResultFormats, String> {
    let facts: ResultFormats = serde_json::from_value(value.clone())
        .map_err(|e| format!("malformed x-result-formats: {e}"))?;
    if facts.formats.is_empty() {
        return Err("x-result-formats names no format".into());
    }
    let mut seen = std::collections::BTreeSet::new();
    for format in &facts.formats {
        if format.is_empty() || format.starts_with('.') || format.to_lowercase() != *format {
            return Err(format!(
                "x-result-formats: `{format}` must be a lowercase extension without a dot"
            ));
        }
        if !seen.insert(format) {
            return Err(format!("x-result-formats: `{format}` is listed twice"));
        }
    }
    check_source("x-result-formats", &facts.source)?;
    Ok(facts)
}

/// Parses `x-token-lifetime-seconds`: a positive whole number.
pub fn parse_token_lifetime(value: &Value) -> Result<u64, String> {
    value
        .as_u64()
        .filter(|s| *s > 0)
        .ok_or_else(|| "x-token-lifetime-seconds must be a positive whole number".into())
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
    let mut names = std::collections::BTreeSet::new();
    for row in &rows {
        if !seen.insert(row.code) {
            return Err(format!("x-error-codes lists {} twice", row.code));
        }
        if !is_pascal_case(&row.name) || row.name == "Other" {
            return Err(format!(
                "x-error-codes: name `{}` of {} must be PascalCase and not `Other`",
                row.name, row.code
            ));
        }
        if !names.insert(row.name.as_str()) {
            return Err(format!("x-error-codes: name `{}` is used twice", row.name));
        }
        if !(100..=599).contains(&row.status) {
            return Err(format!(
                "x-error-codes: status {} of {} is not an HTTP status",
                row.status, row.code
            ));
        }
        if let Some(kind) = &row.kind
            && !CODE_KINDS.contains(&kind.as_str())
        {
            return Err(format!(
                "x-error-codes: kind `{kind}` of {} is not one of {CODE_KINDS:?}",
                row.code
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

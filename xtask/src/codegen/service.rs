//! `service.rs`: how the API is reached and may be used: its server and auth scheme, each
//! operation's path and method, and the facts of `x-rate-limits`, `x-retention`, `x-polling`,
//! `x-token-lifetime-seconds`, `x-cost` and `x-result-formats`.

use std::fmt::Write as _;

use crate::facts::{self, AppliesTo};
use crate::spec::Spec;
use anyhow::{Result, anyhow};

/// The module source.
pub fn module(spec: &Spec) -> Result<Option<String>> {
    let fail =
        |pointer: String| move |e: String| anyhow!("{}: {pointer}: {e}", spec.path.display());
    let mut body = String::new();
    let server = spec
        .json
        .pointer("/servers/0/url")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| anyhow!("{}: the spec names no server", spec.path.display()))?;
    let _ = writeln!(
        body,
        "/// The production server.\npub const SERVER_URL: &str = {server:?};\n\n\
         /// How every operation authenticates (the spec's top-level `security`).\n\
         pub const AUTH: AuthScheme = {};\n",
        auth_scheme(spec)?
    );
    if let Some(value) = spec.json.get("x-rate-limits") {
        let rows = facts::parse_rate_limits(value).map_err(fail("/x-rate-limits".into()))?;
        let _ = writeln!(
            body,
            "/// The documented rate limits; a request must stay within every one of them.\n\
             pub const RATE_LIMITS: &[RateLimit] = &["
        );
        for row in rows {
            let scope = match row.per.as_str() {
                "ip" => "Ip",
                "token" => "Token",
                _ => "Key",
            };
            let _ = writeln!(
                body,
                "RateLimit {{ requests: {}, window: Duration::from_secs({}), scope: RateScope::{scope}, source: {:?} }},",
                row.requests,
                row.seconds,
                row.source.as_deref().unwrap_or("docs")
            );
        }
        let _ = writeln!(body, "];\n");
    }
    if let Some(value) = spec.json.get("x-retention") {
        let retention = facts::parse_retention(value).map_err(fail("/x-retention".into()))?;
        let seconds = |period: Option<u64>| match period {
            Some(seconds) => format!("Some(Duration::from_secs({seconds}))"),
            None => "None".into(),
        };
        let _ = writeln!(
            body,
            "/// How long the provider keeps files and their download links.
             pub const RETENTION: Retention = Retention {{ uploads: {}, results: {}, result_urls: {}, source: {:?} }};
",
            seconds(retention.uploads_seconds),
            seconds(retention.results_seconds),
            seconds(retention.result_urls_seconds),
            retention.source.as_deref().unwrap_or("docs")
        );
    }
    let _ = writeln!(
        body,
        "/// Every operation's route, in the spec's order.\npub const ROUTES: &[Route] = &["
    );
    for op in spec.operations() {
        let _ = writeln!(
            body,
            "Route {{ operation_id: {:?}, method: {:?}, path: {:?} }},",
            op.id(),
            op.method.to_uppercase(),
            op.path
        );
    }
    let _ = writeln!(body, "];\n");
    for op in spec.operations() {
        // Every operation's route, so that a server (the sandbox) follows a path edit.
        let mut items = format!(
            "/// The path, relative to the server.\npub const PATH: &str = {:?};\n\
             /// The HTTP method.\npub const METHOD: &str = {:?};\n",
            op.path,
            op.method.to_uppercase()
        );
        if let Some(value) = op.value.get("x-polling") {
            let rows = facts::parse_polling(value).map_err(fail(op.pointer()))?;
            let _ = writeln!(
                items,
                "/// How jobs must be polled with this operation.\npub const POLLING: &[Polling] = &["
            );
            for row in rows {
                let _ = writeln!(
                    items,
                    "Polling {{ after: {}, min_interval: {}, max_interval: {}, lost_after: {}, source: {:?} }},",
                    option_str(row.after.as_deref()),
                    option_duration(row.min_interval_seconds),
                    option_duration(row.max_interval_seconds),
                    option_duration(row.lost_after_seconds),
                    row.source.as_deref().unwrap_or("docs")
                );
            }
            let _ = writeln!(items, "];");
        }
        if let Some(value) = op.value.get("x-token-lifetime-seconds") {
            let seconds = facts::parse_token_lifetime(value).map_err(fail(op.pointer()))?;
            let _ = writeln!(
                items,
                "/// How long a token issued by this operation stays valid.\npub const TOKEN_LIFETIME: Duration = Duration::from_secs({seconds});"
            );
        }
        let media = binary_response_types(spec, op.value);
        if !media.is_empty() {
            let _ = writeln!(
                items,
                "/// The media types of its file answer.\npub const RESPONSE_MEDIA_TYPES: &[&str] = &{media:?};"
            );
        }
        if let Some(value) = op.value.get("x-result-formats") {
            let facts = facts::parse_result_formats(value).map_err(fail(op.pointer()))?;
            let _ = writeln!(
                items,
                "/// The file formats its result comes in (the caller cannot choose; source: {}).\npub const RESULT_FORMATS: &[&str] = &{:?};",
                facts.source.as_deref().unwrap_or("docs"),
                facts.formats
            );
        }
        if let Some(value) = op.value.get("x-cost") {
            let rows = facts::parse_costs(value).map_err(fail(op.pointer()))?;
            let _ = writeln!(
                items,
                "/// The documented price of this operation.\npub const COST: &[Cost] = &["
            );
            for row in rows {
                let per = if row.per == "call" { "Call" } else { "Result" };
                let _ = writeln!(
                    items,
                    "Cost {{ units: {:?}, per: CostBasis::{per}, applies_to: {}, source: {:?} }},",
                    row.units,
                    applies_to(row.applies_to.as_ref()),
                    row.source.as_deref().unwrap_or("docs")
                );
            }
            let _ = writeln!(items, "];");
        }
        let _ = writeln!(
            body,
            "/// Facts of `{id}` (`{method} {path}`).\npub mod {id} {{\n#[allow(unused_imports)]\nuse super::*;\n{items}}}\n",
            id = op.id(),
            method = op.method.to_uppercase(),
            path = op.path,
        );
    }
    Ok(Some(format!(
        "//! How the API of `specs/{}.yaml` is reached and may be used: server, auth scheme, routes,\n\
         //! rate limits, file retention, polling, token lifetimes and prices.\n\n\
         #[allow(unused_imports)]\n\
         use std::time::Duration;\n\n\
         #[allow(unused_imports)]\n\
         use pixmill_spec::{{AppliesTo, AuthScheme, Cost, CostBasis, Polling, RateLimit, RateScope, Retention, Route}};\n\n{body}",
        spec.provider
    )))
}

/// The non-JSON media types of an operation's success answer (files).
fn binary_response_types(spec: &Spec, op: &serde_json::Value) -> Vec<String> {
    let Some(responses) = op.get("responses").and_then(serde_json::Value::as_object) else {
        return Vec::new();
    };
    responses
        .iter()
        .filter(|(status, _)| status.starts_with('2'))
        .flat_map(|(_, response)| {
            spec.deref(response)
                .get("content")
                .and_then(serde_json::Value::as_object)
                .into_iter()
                .flat_map(|content| content.keys())
        })
        .filter(|media| !media.starts_with("application/json"))
        .cloned()
        .collect()
}

/// The scheme of the first requirement of the top-level `security`.
fn auth_scheme(spec: &Spec) -> Result<String> {
    let name = spec
        .json
        .pointer("/security/0")
        .and_then(serde_json::Value::as_object)
        .and_then(|requirement| requirement.keys().next())
        .ok_or_else(|| {
            anyhow!(
                "{}: the spec has no top-level `security`",
                spec.path.display()
            )
        })?;
    let scheme = spec
        .json
        .pointer(&format!("/components/securitySchemes/{name}"))
        .ok_or_else(|| {
            anyhow!(
                "{}: security scheme `{name}` is not declared",
                spec.path.display()
            )
        })?;
    let field = |key: &str| scheme.get(key).and_then(serde_json::Value::as_str);
    match (field("type"), field("in"), field("scheme")) {
        (Some("apiKey"), Some("header"), _) => Ok(format!(
            "AuthScheme::ApiKeyHeader {{ name: {:?} }}",
            field("name").unwrap_or_default()
        )),
        (Some("http"), _, Some(bearer)) if bearer.eq_ignore_ascii_case("bearer") => {
            Ok("AuthScheme::Bearer".into())
        }
        other => Err(anyhow!(
            "{}: security scheme `{name}` ({other:?}) is not an API-key header or bearer scheme",
            spec.path.display()
        )),
    }
}

fn option_str(value: Option<&str>) -> String {
    match value {
        Some(text) => format!("Some({text:?})"),
        None => "None".into(),
    }
}

fn option_duration(seconds: Option<f64>) -> String {
    match seconds {
        Some(seconds) => format!(
            "Some(Duration::from_millis({}))",
            (seconds * 1000.0).round() as u64
        ),
        None => "None".into(),
    }
}

pub(crate) fn applies_to(rule: Option<&AppliesTo>) -> String {
    match rule {
        Some(rule) => format!(
            "Some(AppliesTo {{ field: {:?}, values: &{:?} }})",
            rule.field, rule.values
        ),
        None => "None".into(),
    }
}

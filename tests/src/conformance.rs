//! Checks recorded responses against the response schemas of the specs.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::Value;
use xtask::spec::Spec;

use crate::spec_path;

/// One answered request, as a sandbox recorded it.
#[derive(Debug, Clone)]
pub struct Answer<'a> {
    /// Provider name (`hitpaw`), i.e. the spec to check against.
    pub provider: &'a str,
    /// HTTP method.
    pub method: &'a str,
    /// The provider's own path.
    pub path: &'a str,
    /// HTTP status.
    pub status: u16,
    /// The JSON body as text.
    pub body: &'a str,
}

fn specs() -> &'static BTreeMap<String, Spec> {
    static SPECS: OnceLock<BTreeMap<String, Spec>> = OnceLock::new();
    SPECS.get_or_init(|| {
        crate::PROVIDERS
            .iter()
            .map(|p| {
                let spec = Spec::load(&spec_path(p)).expect("spec loads");
                (p.to_string(), spec)
            })
            .collect()
    })
}

/// The operation id an answer belongs to, if the spec has its method and path.
pub fn operation_of(provider: &str, method: &str, path: &str) -> Option<String> {
    let spec = specs().get(provider)?;
    spec.operations()
        .into_iter()
        .find(|op| op.path == path && op.method.eq_ignore_ascii_case(method))
        .map(|op| op.id().to_string())
}

/// Why `answer` does not match its spec, or `None` when it does.
pub fn violation(answer: &Answer<'_>) -> Option<String> {
    let where_ = format!(
        "{} {} {} -> {}",
        answer.provider, answer.method, answer.path, answer.status
    );
    let spec = specs().get(answer.provider)?;
    let op = spec
        .operations()
        .into_iter()
        .find(|op| op.path == answer.path && op.method.eq_ignore_ascii_case(answer.method))?;
    let responses = op.value.get("responses")?;
    let exact = answer.status.to_string();
    let range = format!("{}XX", answer.status / 100);
    let Some(response) = responses.get(&exact).or_else(|| responses.get(&range)) else {
        return Some(format!(
            "{where_}: the spec declares no {exact} or {range} response"
        ));
    };
    let response = spec.deref(response);
    let Some(schema) = response.pointer("/content/application~1json/schema") else {
        return Some(format!(
            "{where_}: the spec declares no JSON body for this status"
        ));
    };
    let body: Value = match serde_json::from_str(answer.body) {
        Ok(body) => body,
        Err(error) => return Some(format!("{where_}: body is not JSON: {error}")),
    };
    xtask::examples::validate(spec, schema, &body)
        .err()
        .map(|reason| format!("{where_}: {reason}\n  body: {}", answer.body))
}

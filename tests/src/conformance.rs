//! Checks recorded responses against the response schemas of the specs.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::Value;
use xtask::spec::Spec;

use crate::spec_path;

/// One answered request, as a sandbox recorded it.
#[derive(Debug, Clone)]
pub struct Answer<'a> {
    /// Provider name (`hitpaw`): the answer is checked against the spec of that provider
    /// (`perfect`, `perfect-v2`) that has its operation.
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

/// Whether a request path matches a spec's path template (`{name}` takes one segment, still
/// percent-encoded).
fn path_matches(template: &str, path: &str) -> bool {
    let (template, path): (Vec<&str>, Vec<&str>) =
        (template.split('/').collect(), path.split('/').collect());
    template.len() == path.len()
        && template.iter().zip(&path).all(|(want, got)| {
            want == got || (want.starts_with('{') && want.ends_with('}') && !got.is_empty())
        })
}

/// The spec and operation a provider's answer belongs to: among the provider's specs, an exact
/// path before a template.
fn find_operation(
    provider: &str,
    method: &str,
    path: &str,
) -> Option<(&'static Spec, xtask::spec::Operation<'static>)> {
    let family: Vec<&'static Spec> = crate::PROVIDERS
        .iter()
        .filter(|spec| crate::provider_of(spec).name() == provider)
        .filter_map(|spec| specs().get(*spec))
        .collect();
    let candidates = || {
        family.iter().flat_map(|spec| {
            spec.operations()
                .into_iter()
                .filter(|op| op.method.eq_ignore_ascii_case(method))
                .map(move |op| (*spec, op))
        })
    };
    candidates()
        .find(|(_, op)| op.path == path)
        .or_else(|| candidates().find(|(_, op)| path_matches(op.path, path)))
}

/// The operation id an answer belongs to, if a spec of the provider has its method and path.
pub fn operation_of(provider: &str, method: &str, path: &str) -> Option<String> {
    find_operation(provider, method, path).map(|(_, op)| op.id().to_string())
}

/// Why `answer` does not match its spec, or `None` when it does.
pub fn violation(answer: &Answer<'_>) -> Option<String> {
    let where_ = format!(
        "{} {} {} -> {}",
        answer.provider, answer.method, answer.path, answer.status
    );
    let (spec, op) = find_operation(answer.provider, answer.method, answer.path)?;
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

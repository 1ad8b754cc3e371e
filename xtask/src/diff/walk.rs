//! The comparison of two documents: general parts, operations, parameters, bodies, answers.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde_json::Value;

use super::doc::{Doc, Node, changed_key};
use super::rust::{self, Shape};
use super::schema::{Direction, Holder, Target};
use super::{Change, Kind, OperationRef, Severity};
use crate::codegen::crate_name;
use crate::spec::HTTP_METHODS;

/// State of one comparison: both documents, the operation being walked, and the findings.
pub(super) struct Walker<'a> {
    pub old: Doc<'a>,
    pub new: Doc<'a>,
    spec: String,
    /// The operation the walk is in; `None` for general parts.
    pub operation: Option<OperationRef>,
    /// The generated method of the current operation (`supersize_image`).
    pub method: String,
    /// Schemas already compared in this operation, by (old pointer, new pointer, direction):
    /// each is reported once per operation, and reference cycles end here.
    pub visited: HashSet<(String, String, Direction)>,
    /// How many schemas the walk is inside, to bound the recursion.
    pub depth: usize,
    pub changes: Vec<Change>,
}

impl<'a> Walker<'a> {
    /// Records a change against the current operation.
    pub fn push(
        &mut self,
        pointer: &str,
        kind: Kind,
        severity: Severity,
        summary: impl Into<String>,
        rust_impact: Option<String>,
    ) {
        self.changes.push(Change {
            spec: self.spec.clone(),
            operation: self.operation.clone(),
            pointer: pointer.to_string(),
            kind,
            severity,
            summary: summary.into(),
            rust_impact,
        });
    }

    /// `` `Client::supersize_image()` ``, for Rust impact lines.
    pub fn client_call(&self) -> String {
        format!("`Client::{}()`", self.method)
    }
}

/// Compares two parsed documents of the spec named `spec`.
pub(super) fn compare_documents(spec: &str, old: &Value, new: &Value) -> Vec<Change> {
    let mut walker = Walker {
        old: Doc::new(old),
        new: Doc::new(new),
        spec: spec.to_string(),
        operation: None,
        method: String::new(),
        visited: HashSet::new(),
        depth: 0,
        changes: Vec::new(),
    };
    walker.general();
    walker.operations();
    walker.components();
    walker.changes
}

/// The change for a spec that exists on one side only.
pub(super) fn spec_presence(spec: &str, json: &Value, added: bool) -> Change {
    let provider = std::path::Path::new(spec)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(spec);
    let operations = operations_of(Doc::new(json)).len();
    let krate = crate_name(provider);
    let (kind, severity, summary, rust_impact) = if added {
        (
            Kind::SpecAdded,
            Severity::Compatible,
            format!("new spec with {operations} operation(s)"),
            format!("a new generated crate `{krate}`"),
        )
    } else {
        (
            Kind::SpecRemoved,
            Severity::Breaking,
            format!("spec removed with its {operations} operation(s)"),
            format!("the generated crate `{krate}` is no longer generated"),
        )
    };
    Change {
        spec: spec.to_string(),
        operation: None,
        pointer: String::new(),
        kind,
        severity,
        summary,
        rust_impact: Some(rust_impact),
    }
}

/// One operation of a document.
struct Op<'a> {
    path: &'a str,
    method: &'a str,
    node: Node<'a>,
    /// The path item, for path-level parameters.
    item: Node<'a>,
}

impl<'a> Op<'a> {
    fn id(&self) -> &'a str {
        self.node.str("operationId").unwrap_or("")
    }

    fn reference(&self) -> OperationRef {
        OperationRef {
            id: self.id().to_string(),
            method: self.method.to_uppercase(),
            path: self.path.to_string(),
        }
    }

    fn route(&self) -> (String, String) {
        (self.method.to_string(), normalize_path(self.path))
    }
}

fn operations_of(doc: Doc<'_>) -> Vec<Op<'_>> {
    let Some(paths) = doc.root().child("paths") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (path, item) in paths.entries() {
        for (method, node) in item.entries() {
            if HTTP_METHODS.contains(&method) && node.value.is_object() {
                out.push(Op {
                    path,
                    method,
                    node,
                    item: item.clone(),
                });
            }
        }
    }
    out
}

/// `/tasks/{id}` and `/tasks/{task_id}` are the same route: only the parameter's name differs,
/// which the parameter comparison reports.
fn normalize_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_template = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_template = true;
                out.push_str("{}");
            }
            '}' => in_template = false,
            _ if in_template => {}
            _ => out.push(c),
        }
    }
    out
}

/// A test that pairs an old parameter with a new one.
type ParamMatch = fn(&Param<'_>, &Param<'_>) -> bool;

/// A parameter with `$ref` followed, keyed by location and name.
struct Param<'a> {
    name: &'a str,
    location: &'a str,
    node: Node<'a>,
}

impl Param<'_> {
    fn required(&self) -> bool {
        self.location == "path" || self.node.value.get("required") == Some(&Value::Bool(true))
    }

    fn label(&self) -> String {
        format!("{} parameter `{}`", self.location, self.name)
    }

    /// Header names ignore case on the wire (and in the generated builder's name).
    fn same_name(&self, other: &Param<'_>) -> bool {
        if self.location == "header" && other.location == "header" {
            self.name.eq_ignore_ascii_case(other.name)
        } else {
            self.name == other.name
        }
    }
}

impl<'a> Walker<'a> {
    fn general(&mut self) {
        self.operation = None;
        let (old, new) = (self.old.root(), self.new.root());
        self.annotations(&old, &new, "spec");
        if old.value.get("openapi") != new.value.get("openapi") {
            let breaking = major_minor(old.str("openapi")) != major_minor(new.str("openapi"));
            self.push(
                "/openapi",
                Kind::OpenapiVersionChanged,
                if breaking {
                    Severity::Breaking
                } else {
                    Severity::Compatible
                },
                format!(
                    "OpenAPI version {} is now {}",
                    text(old.value.get("openapi")),
                    text(new.value.get("openapi"))
                ),
                breaking.then(|| "progenitor reads OpenAPI 3.0 only".to_string()),
            );
        }
        let (old_info, new_info) = (old.child_or_null("info"), new.child_or_null("info"));
        self.annotations(&old_info, &new_info, "info");
        for key in ["termsOfService", "contact", "license"] {
            if old_info.value.get(key) != new_info.value.get(key) {
                self.push(
                    &changed_key(&old_info, &new_info, key),
                    Kind::DescriptionChanged,
                    Severity::Docs,
                    format!("info: `{key}` edited"),
                    None,
                );
            }
        }
        if old_info.value.get("version") != new_info.value.get("version") {
            self.push(
                "/info/version",
                Kind::InfoVersionChanged,
                Severity::Compatible,
                format!(
                    "API version {} is now {}",
                    text(old_info.value.get("version")),
                    text(new_info.value.get("version"))
                ),
                Some("the `api-version` header changes; `RequestHooks` removes it".to_string()),
            );
        }
        self.servers(&old, &new, "");
        self.security_requirement(&old, &new, "spec");
        self.security_schemes();
        self.tags();
        let (old_components, new_components) = (
            old.child_or_null("components"),
            new.child_or_null("components"),
        );
        self.annotations(&old_components, &new_components, "components");
        let (old_paths, new_paths) = (old.child_or_null("paths"), new.child_or_null("paths"));
        self.annotations(&old_paths, &new_paths, "paths");
        for (path, new_item) in new_paths.entries() {
            if let Some(old_item) = old_paths.child(path) {
                self.annotations(&old_item, &new_item, &format!("path `{path}`"));
            }
        }
    }

    fn servers(&mut self, old: &Node<'a>, new: &Node<'a>, label: &str) {
        let (old_list, new_list) = (
            old.child_or_null("servers").items(),
            new.child_or_null("servers").items(),
        );
        let url = |node: &Node<'_>| node.str("url").unwrap_or("").to_string();
        let old_urls: Vec<String> = old_list.iter().map(url).collect();
        let new_urls: Vec<String> = new_list.iter().map(url).collect();
        let removed: Vec<&Node<'a>> = old_list
            .iter()
            .filter(|s| !new_urls.contains(&url(s)))
            .collect();
        let added: Vec<&Node<'a>> = new_list
            .iter()
            .filter(|s| !old_urls.contains(&url(s)))
            .collect();
        let prefix = if label.is_empty() {
            String::new()
        } else {
            format!("{label}: ")
        };
        let base_url_impact = "the generated `Client::new` takes the base URL from the caller; \
                               the facade's `DEFAULT_BASE_URL` must follow";
        if let ([before], [after]) = (removed.as_slice(), added.as_slice()) {
            self.push(
                &after.pointer,
                Kind::ServerChanged,
                Severity::Breaking,
                format!("{prefix}server `{}` is now `{}`", url(before), url(after)),
                Some(base_url_impact.to_string()),
            );
        } else {
            for server in removed {
                self.push(
                    &server.pointer,
                    Kind::ServerRemoved,
                    Severity::Breaking,
                    format!("{prefix}server `{}` removed", url(server)),
                    Some(base_url_impact.to_string()),
                );
            }
            for server in added {
                self.push(
                    &server.pointer,
                    Kind::ServerAdded,
                    Severity::Compatible,
                    format!("{prefix}new server `{}`", url(server)),
                    None,
                );
            }
        }
        for new_server in &new_list {
            if let Some(old_server) = old_list.iter().find(|s| url(s) == url(new_server)) {
                self.annotations(
                    old_server,
                    new_server,
                    &format!("server `{}`", url(new_server)),
                );
                if old_server.value.get("variables") != new_server.value.get("variables") {
                    self.push(
                        &changed_key(old_server, new_server, "variables"),
                        Kind::ServerChanged,
                        Severity::Breaking,
                        format!("{prefix}variables of server `{}` changed", url(new_server)),
                        Some(base_url_impact.to_string()),
                    );
                }
            }
        }
    }

    /// The `security` requirement at the top level, or of an operation (whose absence means
    /// "the top level applies").
    fn security_requirement(&mut self, old: &Node<'a>, new: &Node<'a>, label: &str) {
        let effective = |doc: Doc<'a>, node: &Node<'a>| -> Option<Value> {
            node.value
                .get("security")
                .or_else(|| doc.json.get("security"))
                .cloned()
        };
        if old.value.get("security") == new.value.get("security") {
            return;
        }
        let (before, after) = (effective(self.old, old), effective(self.new, new));
        if before == after {
            return;
        }
        let impact = match self.operation {
            Some(_) => format!(
                "the generated client sends no credentials itself; the facade's auth for {} must follow",
                self.client_call()
            ),
            None => {
                "the generated client sends no credentials itself; the facade's auth must follow"
                    .to_string()
            }
        };
        self.push(
            &changed_key(old, new, "security"),
            Kind::SecurityChanged,
            Severity::Breaking,
            format!(
                "{label} security requirement {} is now {}",
                describe_security(before.as_ref()),
                describe_security(after.as_ref())
            ),
            Some(impact),
        );
    }

    fn security_schemes(&mut self) {
        let pointer = "/components/securitySchemes";
        let old = self
            .old
            .at(pointer)
            .map(|n| n.entries())
            .unwrap_or_default();
        let new = self
            .new
            .at(pointer)
            .map(|n| n.entries())
            .unwrap_or_default();
        let impact = || {
            Some(
                "progenitor ignores security schemes; the facade's credentials must follow"
                    .to_string(),
            )
        };
        for (name, old_scheme) in &old {
            if !new.iter().any(|(n, _)| n == name) {
                self.push(
                    &old_scheme.pointer,
                    Kind::SecuritySchemeRemoved,
                    Severity::Breaking,
                    format!("security scheme `{name}` removed"),
                    impact(),
                );
            }
        }
        for (name, new_scheme) in &new {
            let Some((_, old_scheme)) = old.iter().find(|(n, _)| n == name) else {
                self.push(
                    &new_scheme.pointer,
                    Kind::SecuritySchemeAdded,
                    Severity::Compatible,
                    format!("new security scheme `{name}`"),
                    None,
                );
                continue;
            };
            let old_scheme = self.old.resolve(old_scheme.clone()).node;
            let new_scheme = self.new.resolve(new_scheme.clone()).node;
            for (key, what) in [
                ("type", "type"),
                ("in", "location"),
                ("name", "header name"),
                ("scheme", "HTTP scheme"),
                ("bearerFormat", "bearer format"),
                ("flows", "OAuth flows"),
                ("openIdConnectUrl", "OpenID Connect URL"),
            ] {
                let (before, after) = (old_scheme.value.get(key), new_scheme.value.get(key));
                if before == after {
                    continue;
                }
                // HTTP header names are case-insensitive: a change of case reaches the server
                // unchanged.
                let same_header = key == "name"
                    && new_scheme.str("in") == Some("header")
                    && matches!((before, after), (Some(Value::String(a)), Some(Value::String(b))) if a.eq_ignore_ascii_case(b));
                if same_header {
                    self.push(
                        &changed_key(&old_scheme, &new_scheme, key),
                        Kind::SecuritySchemeChanged,
                        Severity::Compatible,
                        format!(
                            "security scheme `{name}`: header name {} is now spelt {} (header names ignore case)",
                            quoted(before),
                            quoted(after)
                        ),
                        None,
                    );
                } else {
                    self.push(
                        &changed_key(&old_scheme, &new_scheme, key),
                        Kind::SecuritySchemeChanged,
                        Severity::Breaking,
                        format!(
                            "security scheme `{name}`: {what} {} is now {}",
                            quoted(before),
                            quoted(after)
                        ),
                        impact(),
                    );
                }
            }
            self.annotations(
                &old_scheme,
                &new_scheme,
                &format!("security scheme `{name}`"),
            );
        }
    }

    fn tags(&mut self) {
        let old = self.old.root().child_or_null("tags").items();
        let new = self.new.root().child_or_null("tags").items();
        let name = |node: &Node<'_>| node.str("name").unwrap_or("").to_string();
        for old_tag in &old {
            if !new.iter().any(|t| name(t) == name(old_tag)) {
                self.push(
                    &old_tag.pointer,
                    Kind::TagsChanged,
                    Severity::Compatible,
                    format!("tag `{}` removed", name(old_tag)),
                    None,
                );
            }
        }
        for new_tag in &new {
            match old.iter().find(|t| name(t) == name(new_tag)) {
                Some(old_tag) => {
                    self.annotations(old_tag, new_tag, &format!("tag `{}`", name(new_tag)))
                }
                None => self.push(
                    &new_tag.pointer,
                    Kind::TagsChanged,
                    Severity::Compatible,
                    format!("new tag `{}`", name(new_tag)),
                    None,
                ),
            }
        }
    }

    fn operations(&mut self) {
        let old_ops = operations_of(self.old);
        let new_ops = operations_of(self.new);
        let mut old_used = vec![false; old_ops.len()];
        let mut pairing: Vec<Option<usize>> = vec![None; new_ops.len()];
        // Same route and id first, then a moved operation (same id), then a renamed one (same
        // route): an operation that moves while another takes its old route pairs correctly.
        let passes: [fn(&Op<'_>, &Op<'_>) -> bool; 3] = [
            |o, n| o.route() == n.route() && o.id() == n.id(),
            |o, n| !n.id().is_empty() && o.id() == n.id(),
            |o, n| o.route() == n.route(),
        ];
        for matches in passes {
            for (new_index, new_op) in new_ops.iter().enumerate() {
                if pairing[new_index].is_some() {
                    continue;
                }
                if let Some(old_index) =
                    (0..old_ops.len()).find(|&i| !old_used[i] && matches(&old_ops[i], new_op))
                {
                    old_used[old_index] = true;
                    pairing[new_index] = Some(old_index);
                }
            }
        }
        for (old_index, old_op) in old_ops.iter().enumerate() {
            if !old_used[old_index] {
                self.enter(old_op);
                self.push(
                    &old_op.node.pointer,
                    Kind::OperationRemoved,
                    Severity::Breaking,
                    format!(
                        "operation `{}` (`{} {}`) removed",
                        old_op.id(),
                        old_op.method.to_uppercase(),
                        old_op.path
                    ),
                    Some(format!("{} disappears", self.client_call())),
                );
            }
        }
        for (new_index, new_op) in new_ops.iter().enumerate() {
            self.enter(new_op);
            match pairing[new_index] {
                Some(old_index) => self.operation(&old_ops[old_index], new_op),
                None => self.push(
                    &new_op.node.pointer,
                    Kind::OperationAdded,
                    Severity::Compatible,
                    format!(
                        "new operation `{}` (`{} {}`)",
                        new_op.id(),
                        new_op.method.to_uppercase(),
                        new_op.path
                    ),
                    Some(format!("new method {}", self.client_call())),
                ),
            }
        }
        self.operation = None;
    }

    fn enter(&mut self, op: &Op<'a>) {
        self.operation = Some(op.reference());
        self.method = rust::snake(op.id());
        self.visited.clear();
    }

    fn operation(&mut self, old: &Op<'a>, new: &Op<'a>) {
        let client = self.client_call();
        if old.id() != new.id() {
            self.push(
                &new.node.child_or_null("operationId").pointer,
                Kind::OperationIdChanged,
                Severity::Breaking,
                format!("operationId `{}` is now `{}`", old.id(), new.id()),
                Some(format!(
                    "`Client::{}()` is renamed {client}",
                    rust::snake(old.id())
                )),
            );
        }
        if old.method != new.method {
            self.push(
                &new.node.pointer,
                Kind::MethodChanged,
                Severity::Breaking,
                format!(
                    "method `{}` is now `{}`",
                    old.method.to_uppercase(),
                    new.method.to_uppercase()
                ),
                Some(format!(
                    "{client} keeps its signature but now sends a {} request",
                    new.method.to_uppercase()
                )),
            );
        }
        if normalize_path(old.path) != normalize_path(new.path) {
            self.push(
                &new.node.pointer,
                Kind::PathChanged,
                Severity::Breaking,
                format!("path `{}` is now `{}`", old.path, new.path),
                Some(format!(
                    "{client} keeps its name but now sends to `{}`",
                    new.path
                )),
            );
        }
        let deprecated = |op: &Op<'_>| op.node.value.get("deprecated") == Some(&Value::Bool(true));
        if deprecated(old) != deprecated(new) {
            self.push(
                &changed_key(&old.node, &new.node, "deprecated"),
                Kind::DeprecatedChanged,
                Severity::Compatible,
                if deprecated(new) {
                    "operation is now deprecated"
                } else {
                    "operation is no longer deprecated"
                },
                None,
            );
        }
        if old.node.value.get("tags") != new.node.value.get("tags") {
            self.push(
                &changed_key(&old.node, &new.node, "tags"),
                Kind::TagsChanged,
                Severity::Compatible,
                format!(
                    "tags {} are now {}",
                    compact(old.node.value.get("tags")),
                    compact(new.node.value.get("tags"))
                ),
                None,
            );
        }
        self.security_requirement(&old.node, &new.node, "operation");
        self.servers(&old.node, &new.node, "operation");
        self.annotations(&old.node, &new.node, "operation");
        self.limits(&old.node, &new.node);
        let (old_params, new_params) = (params_of(self.old, old), params_of(self.new, new));
        self.parameters(old_params, new_params);
        self.request_body(old, new);
        self.responses(old, new);
    }

    fn parameters(&mut self, old: Vec<Param<'a>>, new: Vec<Param<'a>>) {
        let mut old: Vec<Option<Param<'a>>> = old.into_iter().map(Some).collect();
        let mut new: Vec<Option<Param<'a>>> = new.into_iter().map(Some).collect();
        let mut pairs: Vec<(Param<'a>, Param<'a>, Option<Kind>)> = Vec::new();
        // Same name and location first; then the same name elsewhere: a moved parameter.
        let passes: [(ParamMatch, Option<Kind>); 2] = [
            (|o, n| o.location == n.location && o.same_name(n), None),
            (|o, n| o.name == n.name, Some(Kind::ParameterMoved)),
        ];
        for (matches, kind) in passes {
            for new_slot in new.iter_mut() {
                let Some(new_param) = new_slot.as_ref() else {
                    continue;
                };
                let found = old
                    .iter()
                    .position(|o| o.as_ref().is_some_and(|o| matches(o, new_param)));
                if let Some(index) = found
                    && let (Some(o), Some(n)) = (old[index].take(), new_slot.take())
                {
                    pairs.push((o, n, kind));
                }
            }
        }
        // A rename is only recognised when it is unambiguous: one parameter gone and one new
        // in the same location, of the same Rust type.
        let locations: BTreeSet<&str> = old.iter().flatten().map(|p| p.location).collect();
        for location in locations {
            let gone: Vec<usize> = (0..old.len())
                .filter(|&i| old[i].as_ref().is_some_and(|p| p.location == location))
                .collect();
            let came: Vec<usize> = (0..new.len())
                .filter(|&i| new[i].as_ref().is_some_and(|p| p.location == location))
                .collect();
            if let ([o], [n]) = (gone.as_slice(), came.as_slice()) {
                let same_type = match (&old[*o], &new[*n]) {
                    (Some(o), Some(n)) => param_shape(self.old, o) == param_shape(self.new, n),
                    _ => false,
                };
                if same_type && let (Some(o), Some(n)) = (old[*o].take(), new[*n].take()) {
                    pairs.push((o, n, Some(Kind::ParameterRenamed)));
                }
            }
        }
        let client = self.client_call();
        for param in old.into_iter().flatten() {
            self.push(
                &param.node.pointer,
                Kind::ParameterRemoved,
                Severity::Breaking,
                format!("{} removed", param.label()),
                Some(format!(
                    "the builder call `{}` of {client} disappears",
                    rust::snake(param.name)
                )),
            );
        }
        for param in new.into_iter().flatten() {
            let required = param.required();
            self.push(
                &param.node.pointer,
                Kind::ParameterAdded,
                if required {
                    Severity::Breaking
                } else {
                    Severity::Compatible
                },
                format!(
                    "new {} {}",
                    if required { "required" } else { "optional" },
                    param.label()
                ),
                Some(format!(
                    "a new {} builder call `{}` on {client}",
                    if required { "required" } else { "optional" },
                    rust::snake(param.name)
                )),
            );
        }
        for (old_param, new_param, kind) in pairs {
            match kind {
                Some(Kind::ParameterMoved) => self.push(
                    &new_param.node.pointer,
                    Kind::ParameterMoved,
                    Severity::Breaking,
                    format!(
                        "parameter `{}` moved from {} to {}",
                        new_param.name, old_param.location, new_param.location
                    ),
                    Some(format!(
                        "{client} keeps the builder call `{}` but sends it in the {}",
                        rust::snake(new_param.name),
                        new_param.location
                    )),
                ),
                Some(kind) => self.push(
                    &new_param.node.pointer,
                    kind,
                    Severity::Breaking,
                    format!("{} renamed to `{}`", old_param.label(), new_param.name),
                    Some(format!(
                        "the builder call `{}` of {client} is now `{}`",
                        rust::snake(old_param.name),
                        rust::snake(new_param.name)
                    )),
                ),
                None => {}
            }
            self.parameter(&old_param, &new_param);
        }
    }

    fn parameter(&mut self, old: &Param<'a>, new: &Param<'a>) {
        let client = self.client_call();
        let builder = rust::snake(new.name);
        if old.required() != new.required() {
            let now_required = new.required();
            self.push(
                &changed_key(&old.node, &new.node, "required"),
                Kind::ParameterRequiredChanged,
                if now_required {
                    Severity::Breaking
                } else {
                    Severity::Compatible
                },
                format!(
                    "{} is now {}",
                    new.label(),
                    if now_required { "required" } else { "optional" }
                ),
                Some(if now_required {
                    format!("the builder call `{builder}` becomes required: {client} fails to send without it")
                } else {
                    format!("the builder call `{builder}` of {client} becomes optional")
                }),
            );
        }
        for key in [
            "style",
            "explode",
            "allowReserved",
            "allowEmptyValue",
            "content",
        ] {
            if old.node.value.get(key) != new.node.value.get(key) {
                self.push(
                    &changed_key(&old.node, &new.node, key),
                    Kind::ParameterSerializationChanged,
                    Severity::Breaking,
                    format!(
                        "{}: `{key}` {} is now {}",
                        new.label(),
                        compact(old.node.value.get(key)),
                        compact(new.node.value.get(key))
                    ),
                    Some(format!(
                        "{client} serializes `{builder}` differently on the wire"
                    )),
                );
            }
        }
        self.annotations(&old.node, &new.node, &new.label());
        let id = self
            .operation
            .as_ref()
            .map(|op| op.id.clone())
            .unwrap_or_default();
        let target = Target {
            label: format!("`{}`", new.name),
            scope: new.name.to_string(),
            holder: Holder::Param {
                method: self.method.clone(),
                name: builder,
            },
            type_name: rust::pascal(&format!("{id}-{}", new.name)),
            required: new.required(),
        };
        self.schema(
            old.node.child_or_null("schema"),
            new.node.child_or_null("schema"),
            Direction::Request,
            &target,
        );
    }

    fn request_body(&mut self, old: &Op<'a>, new: &Op<'a>) {
        let resolve = |doc: Doc<'a>, op: &Op<'a>| {
            op.node
                .child("requestBody")
                .map(|body| doc.resolve(body).node)
        };
        let client = self.client_call();
        let required = |node: &Node<'_>| node.value.get("required") == Some(&Value::Bool(true));
        match (resolve(self.old, old), resolve(self.new, new)) {
            (None, None) => {}
            (None, Some(body)) => {
                let required = required(&body);
                self.push(
                    &body.pointer,
                    Kind::RequestBodyAdded,
                    if required {
                        Severity::Breaking
                    } else {
                        Severity::Compatible
                    },
                    format!(
                        "new {} request body",
                        if required { "required" } else { "optional" }
                    ),
                    Some(format!(
                        "a new {} builder call `body` on {client}",
                        if required { "required" } else { "optional" }
                    )),
                );
            }
            (Some(body), None) => self.push(
                &body.pointer,
                Kind::RequestBodyRemoved,
                Severity::Breaking,
                "request body removed",
                Some(format!(
                    "the builder calls `body` and `body_map` of {client} disappear"
                )),
            ),
            (Some(old_body), Some(new_body)) => {
                if required(&old_body) != required(&new_body) {
                    let now_required = required(&new_body);
                    self.push(
                        &changed_key(&old_body, &new_body, "required"),
                        Kind::RequestBodyRequiredChanged,
                        if now_required {
                            Severity::Breaking
                        } else {
                            Severity::Compatible
                        },
                        format!(
                            "request body is now {}",
                            if now_required { "required" } else { "optional" }
                        ),
                        Some(if now_required {
                            format!("the builder call `body` becomes required: {client} fails to send without it")
                        } else {
                            format!("the builder call `body` of {client} becomes optional")
                        }),
                    );
                }
                self.annotations(&old_body, &new_body, "request body");
                let id = self
                    .operation
                    .as_ref()
                    .map(|op| op.id.clone())
                    .unwrap_or_default();
                let target = Target {
                    label: "request body".to_string(),
                    scope: "body".to_string(),
                    holder: Holder::Body {
                        method: self.method.clone(),
                    },
                    type_name: rust::pascal(&format!("{id}-body")),
                    required: true,
                };
                self.content(&old_body, &new_body, Direction::Request, &target);
            }
        }
    }

    /// Media types of a request body or an answer, and the schema of each.
    fn content(&mut self, old: &Node<'a>, new: &Node<'a>, direction: Direction, target: &Target) {
        let old_media = old.child_or_null("content").entries();
        let new_media = new.child_or_null("content").entries();
        let client = self.client_call();
        for (media, node) in &old_media {
            if !new_media.iter().any(|(m, _)| m == media) {
                let (summary, impact) = match direction {
                    Direction::Request => (
                        format!("{} no longer accepts `{media}`", target.label),
                        format!("the body type of {client} changes"),
                    ),
                    Direction::Response => (
                        format!("{} is no longer sent as `{media}`", target.label),
                        format!("the answer type of {client} changes"),
                    ),
                };
                self.push(
                    &node.pointer,
                    Kind::MediaTypeRemoved,
                    Severity::Breaking,
                    summary,
                    Some(impact),
                );
            }
        }
        for (media, new_node) in &new_media {
            match old_media.iter().find(|(m, _)| m == media) {
                None => self.push(
                    &new_node.pointer,
                    Kind::MediaTypeAdded,
                    Severity::Compatible,
                    match direction {
                        Direction::Request => format!("{} also accepts `{media}`", target.label),
                        Direction::Response => format!("{} may also be `{media}`", target.label),
                    },
                    None,
                ),
                Some((_, old_node)) => {
                    self.annotations(old_node, new_node, &format!("{} `{media}`", target.label));
                    self.schema(
                        old_node.child_or_null("schema"),
                        new_node.child_or_null("schema"),
                        direction,
                        target,
                    );
                }
            }
        }
    }

    fn responses(&mut self, old: &Op<'a>, new: &Op<'a>) {
        let statuses = |doc: Doc<'a>, op: &Op<'a>| -> BTreeMap<String, Node<'a>> {
            op.node
                .child_or_null("responses")
                .entries()
                .into_iter()
                .filter(|(status, _)| !status.starts_with("x-"))
                .map(|(status, node)| (status.to_string(), doc.resolve(node).node))
                .collect()
        };
        self.annotations(
            &old.node.child_or_null("responses"),
            &new.node.child_or_null("responses"),
            "responses",
        );
        let (old_statuses, new_statuses) = (statuses(self.old, old), statuses(self.new, new));
        let client = self.client_call();
        for status in old_statuses.keys() {
            if new_statuses.contains_key(status) {
                continue;
            }
            let range = format!("{}XX", status.chars().next().unwrap_or('?'));
            let covered = status != &range && new_statuses.contains_key(&range);
            let success = status.starts_with('2');
            let (severity, impact) = if covered {
                (
                    Severity::Compatible,
                    format!("status {status} is still decoded through `{range}`"),
                )
            } else if success {
                (
                    Severity::Breaking,
                    format!("{client} no longer decodes a {status} answer as a success"),
                )
            } else {
                (
                    Severity::Breaking,
                    format!(
                        "a {status} answer to {client} comes back as `Error::UnexpectedResponse`, without its typed body"
                    ),
                )
            };
            let old_pointer = old
                .node
                .child_or_null("responses")
                .child_or_null(status)
                .pointer;
            self.push(
                &old_pointer,
                Kind::ResponseStatusRemoved,
                severity,
                format!("response status {status} removed"),
                Some(impact),
            );
        }
        for (status, new_node) in &new_statuses {
            let Some(old_node) = old_statuses.get(status) else {
                let pointer = new
                    .node
                    .child_or_null("responses")
                    .child_or_null(status)
                    .pointer;
                self.push(
                    &pointer,
                    Kind::ResponseStatusAdded,
                    Severity::Compatible,
                    format!("new response status {status}"),
                    Some(format!(
                        "{client} decodes a {status} answer with its declared type"
                    )),
                );
                continue;
            };
            let label = format!("status {status} answer");
            self.annotations(old_node, new_node, &label);
            self.response_headers(old_node, new_node, status);
            let id = self
                .operation
                .as_ref()
                .map(|op| op.id.clone())
                .unwrap_or_default();
            let target = Target {
                label,
                scope: format!("answer {status}"),
                holder: Holder::Answer {
                    method: self.method.clone(),
                },
                type_name: rust::pascal(&format!("{id}-response")),
                required: true,
            };
            self.content(old_node, new_node, Direction::Response, &target);
        }
    }

    fn response_headers(&mut self, old: &Node<'a>, new: &Node<'a>, status: &str) {
        let old_headers = old.child_or_null("headers").entries();
        let new_headers = new.child_or_null("headers").entries();
        let client = self.client_call();
        for (name, node) in &old_headers {
            if !new_headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
            {
                self.push(
                    &node.pointer,
                    Kind::ResponseHeaderRemoved,
                    Severity::Breaking,
                    format!("status {status} answer: header `{name}` removed"),
                    Some(format!(
                        "headers are untyped (`ResponseValue::headers()`); code reading `{name}` from {client} finds nothing"
                    )),
                );
            }
        }
        for (name, new_node) in &new_headers {
            let Some((_, old_node)) = old_headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
            else {
                self.push(
                    &new_node.pointer,
                    Kind::ResponseHeaderAdded,
                    Severity::Compatible,
                    format!("status {status} answer: new header `{name}`"),
                    None,
                );
                continue;
            };
            let (old_header, new_header) = (
                self.old.resolve(old_node.clone()).node,
                self.new.resolve(new_node.clone()).node,
            );
            let label = format!("header `{name}`");
            self.annotations(&old_header, &new_header, &label);
            let target = Target {
                label: format!("`{name}` header"),
                scope: (*name).to_string(),
                holder: Holder::Header {
                    name: (*name).to_string(),
                },
                type_name: rust::pascal(name),
                required: true,
            };
            self.schema(
                old_header.child_or_null("schema"),
                new_header.child_or_null("schema"),
                Direction::Response,
                &target,
            );
        }
    }

    fn components(&mut self) {
        self.operation = None;
        let pointer = "/components/schemas";
        let old = self
            .old
            .at(pointer)
            .map(|n| n.entries())
            .unwrap_or_default();
        let new = self
            .new
            .at(pointer)
            .map(|n| n.entries())
            .unwrap_or_default();
        let (old_used, new_used) = (reachable_schemas(self.old), reachable_schemas(self.new));
        for (name, node) in &old {
            if !new.iter().any(|(n, _)| n == name) {
                self.push(
                    &node.pointer,
                    Kind::SchemaRemoved,
                    Severity::Breaking,
                    format!("component schema `{name}` removed"),
                    Some(format!("`types::{}` disappears", rust::pascal(name))),
                );
            }
        }
        for (name, new_node) in &new {
            let Some((_, old_node)) = old.iter().find(|(n, _)| n == name) else {
                self.push(
                    &new_node.pointer,
                    Kind::SchemaAdded,
                    Severity::Compatible,
                    format!("new component schema `{name}`"),
                    Some(format!("a new type `types::{}`", rust::pascal(name))),
                );
                continue;
            };
            // Schemas some operation uses were compared with that operation.
            if old_used.contains(*name) || new_used.contains(*name) {
                continue;
            }
            if without_docs(old_node.value) != without_docs(new_node.value) {
                self.push(
                    &new_node.pointer,
                    Kind::UnusedSchemaChanged,
                    Severity::Compatible,
                    format!("component schema `{name}` changed; no operation uses it"),
                    Some(format!("`types::{}` changes", rust::pascal(name))),
                );
            } else if old_node.value != new_node.value {
                self.push(
                    &new_node.pointer,
                    Kind::DescriptionChanged,
                    Severity::Docs,
                    format!(
                        "component schema `{name}` (used by no operation): documentation edited"
                    ),
                    None,
                );
            }
        }
    }
}

fn params_of<'a>(doc: Doc<'a>, op: &Op<'a>) -> Vec<Param<'a>> {
    let mut out: Vec<Param<'a>> = Vec::new();
    // Operation parameters override path-level ones of the same name and location.
    let listed = op
        .item
        .child_or_null("parameters")
        .items()
        .into_iter()
        .chain(op.node.child_or_null("parameters").items());
    for node in listed {
        let node = doc.resolve(node).node;
        let (Some(name), Some(location)) = (node.str("name"), node.str("in")) else {
            continue;
        };
        let param = Param {
            name,
            location,
            node,
        };
        match out
            .iter_mut()
            .find(|p| p.name == name && p.location == location)
        {
            Some(existing) => *existing = param,
            None => out.push(param),
        }
    }
    out
}

fn param_shape(doc: Doc<'_>, param: &Param<'_>) -> Shape {
    Shape::of(
        doc.json,
        param.node.value.get("schema").unwrap_or(&Value::Null),
    )
}

/// The component schemas reachable from some operation, through any chain of `$ref`s.
fn reachable_schemas(doc: Doc<'_>) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut seen = HashSet::new();
    let mut stack: Vec<&Value> = operations_of(doc)
        .iter()
        .flat_map(|op| {
            [
                op.node.value,
                op.item.value.get("parameters").unwrap_or(&Value::Null),
            ]
        })
        .collect();
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(reference)) = map.get("$ref")
                    && seen.insert(reference.clone())
                {
                    if let Some(name) = reference.strip_prefix("#/components/schemas/") {
                        names.insert(name.to_string());
                    }
                    if let Some(target) = reference
                        .strip_prefix('#')
                        .and_then(|pointer| doc.json.pointer(pointer))
                    {
                        stack.push(target);
                    }
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    names
}

/// A schema with its prose and examples removed, to tell real changes from edits.
fn without_docs(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(key, _)| !super::schema::is_docs_key(key))
                .map(|(key, value)| (key.clone(), without_docs(value)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_docs).collect()),
        other => other.clone(),
    }
}

fn major_minor(version: Option<&str>) -> Option<String> {
    version.map(|v| v.split('.').take(2).collect::<Vec<_>>().join("."))
}

fn describe_security(requirement: Option<&Value>) -> String {
    match requirement.and_then(Value::as_array) {
        None => "(none)".to_string(),
        Some(list) if list.is_empty() => "`[]` (no auth)".to_string(),
        Some(list) => list
            .iter()
            .map(|alternative| {
                let names: Vec<&str> = alternative
                    .as_object()
                    .map(|m| m.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                format!("`{}`", names.join(" + "))
            })
            .collect::<Vec<_>>()
            .join(" or "),
    }
}

/// A value for a summary: strings bare, everything else as compact JSON, `(none)` if absent.
pub(super) fn text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "(none)".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Like [`text`], in backticks unless absent.
pub(super) fn quoted(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "(none)".to_string(),
        other => format!("`{}`", text(other)),
    }
}

/// Compact JSON for a summary, shortened past 60 characters.
pub(super) fn compact(value: Option<&Value>) -> String {
    let full = match value {
        None | Some(Value::Null) => return "(none)".to_string(),
        Some(other) => other.to_string(),
    };
    let shortened = if full.chars().count() > 60 {
        format!("{}…", full.chars().take(57).collect::<String>())
    } else {
        full
    };
    format!("`{shortened}`")
}

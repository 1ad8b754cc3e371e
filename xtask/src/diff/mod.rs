//! `cargo xtask diff`: what a spec change breaks, on the wire and in the generated Rust API.
//!
//! Two versions of a spec are compared semantically: `$ref`s are followed (a schema that moves
//! into a component is not a change), `allOf` members are merged, and each operation's
//! parameters, request body and answers are walked recursively, with every schema visited once
//! per operation and direction (which also guards against reference cycles). Operations are
//! matched by method and path (path parameter names aside), then by `operationId`.
//!
//! Every [`Change`] names its spec, its operation, a JSON pointer (into the new document, or
//! into the old one for something removed), a [`Kind`], a [`Severity`], a one-line summary and,
//! where the generated code changes, the impact on the Rust API.
//!
//! # Attribution
//!
//! A change inside a component shared by several operations is reported once per operation
//! that reaches it: each entry is complete on its own, so the JSON can be filtered by operation.
//! The markdown report folds identical entries back into one line that lists the operations
//! (see [`render`]). Changes that belong to no operation (servers, security schemes, tags,
//! component types) have no operation and are shown under "General".
//!
//! # Rules
//!
//! "Request" means anything the client sends (parameters, request bodies), "answer" anything
//! it receives (response bodies and headers). A change that alters the Rust type generated for a
//! value (its shape, see [`rust::Shape`]) is breaking in both directions, even when the wire
//! accepts it: `int32` → `int64` turns an `i32` field into an `i64`.
//!
//! | change | request | answer |
//! |---|---|---|
//! | property or parameter added | breaking if required, else compatible | compatible |
//! | property or parameter removed | breaking (its builder call disappears) | breaking |
//! | parameter renamed or moved (query, path, header) | breaking | — |
//! | becomes required | breaking | compatible |
//! | becomes optional | compatible | breaking |
//! | type changed | breaking | breaking |
//! | format changed, Rust type changed | breaking | breaking |
//! | format added / changed / removed, same Rust type | breaking / breaking / compatible | compatible / breaking / compatible |
//! | enum value added | compatible | compatible (answer enums are open) |
//! | enum value removed | breaking | compatible (the value stops arriving) |
//! | `x-enum-varnames` name of a value changed | breaking | breaking |
//! | bound tightened (`minimum`, `maxLength`, `maxItems`, `pattern`, ...) | breaking | compatible |
//! | bound loosened | compatible | compatible, breaking if the Rust type can no longer hold it |
//! | default value changed | breaking | breaking |
//! | default added or removed | breaking if the field's Rust type changes, else compatible | same |
//! | `nullable` changed | breaking (the Rust type gains or loses its `Option`) | breaking |
//! | request body added | breaking if required, else compatible | — |
//! | request body removed | breaking | — |
//! | parameter `style`, `explode` and the like changed | breaking | — |
//! | `additionalProperties: false` added | breaking | compatible |
//! | `oneOf` / `anyOf` member added or removed | breaking | breaking |
//! | media type added / removed | compatible / breaking | compatible / breaking |
//!
//! Answer enums are treated as open: providers add values without notice, so a client has to
//! expect values the spec does not list, a new value is compatible and a removed one simply
//! stops arriving. The generated enums are closed, so the Rust line names the variant that
//! appears or leaves. A loosened answer bound breaks only when the generated type could no
//! longer hold the values it now allows, for example an `int32` whose maximum grows past
//! `i32::MAX`: typify then picks another type, which the shape comparison catches. typify also
//! picks integer types from bounds in requests (`minimum: 1` gives a `NonZero` type), so a
//! loosened request minimum can still be breaking for Rust.
//!
//! | change | severity |
//! |---|---|
//! | operation added | compatible |
//! | operation removed, `operationId` renamed, path or method changed | breaking |
//! | response status added | compatible |
//! | response status removed | breaking, unless a range (`4XX`) still covers it |
//! | response header added / removed | compatible / breaking |
//! | security scheme added | compatible |
//! | security scheme removed, its type, location or header name changed | breaking |
//! | security requirement changed | breaking |
//! | server added | compatible |
//! | server removed or replaced | breaking |
//! | component schema added / removed | compatible / breaking (`types::Name` appears or goes) |
//! | a component schema no operation uses changed | compatible |
//! | operation deprecated, tags changed, `info.version` or `openapi` 3.0.x changed | compatible |
//! | `x-limits`: a format removed, a maximum lowered, a minimum raised, a face-pose angle lowered, a new limit set or bound, a set applying to more requests | breaking (tightened) |
//! | `x-limits`: the reverse of each of the above | compatible (loosened) |
//! | `x-error-codes`: code added / removed | compatible / breaking (a typed code disappears) |
//! | `x-error-codes`: a row's `name` changed | breaking (a Rust variant is renamed) |
//! | any other `x-` key added, removed or changed | compatible (`extension-changed`) |
//! | `description`, `summary`, `title`, examples, `x-source`, `x-doc-conflict` | docs |
//!
//! HTTP header names ignore case: a header parameter or a security scheme's header name that
//! only changes case is not breaking.
//!
//! The rules assume callers build values through the generated builders (as pixmill's facade
//! does), not struct literals: a new optional field is then compatible. Names of generated types
//! for inline schemas are not compared: the diff of `generated/` shows them.

pub mod command;
mod doc;
mod extensions;
pub mod git;
pub mod render;
pub mod rust;
mod schema;
mod walk;

use std::path::Path;

use anyhow::{Result, bail};
use serde::Serialize;
use serde_json::Value;

use crate::spec::Spec;

/// How a change affects existing users of the spec and of its generated client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Existing callers or the code generated for them may stop working.
    Breaking,
    /// Existing callers keep working.
    Compatible,
    /// Prose and examples only.
    Docs,
}

impl Severity {
    /// The word used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Breaking => "breaking",
            Severity::Compatible => "compatible",
            Severity::Docs => "docs",
        }
    }
}

/// The operation a change belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct OperationRef {
    /// `operationId`.
    pub id: String,
    /// Upper-case HTTP method.
    pub method: String,
    /// Path template.
    pub path: String,
}

impl std::fmt::Display for OperationRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({} {})", self.id, self.method, self.path)
    }
}

/// One difference between two versions of a spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The spec: its path relative to the workspace, or the file given on the command line.
    pub spec: String,
    /// The operation the change reaches; `None` for servers, security schemes and the like.
    pub operation: Option<OperationRef>,
    /// JSON pointer into the new document, or into the old one for something removed.
    pub pointer: String,
    /// What changed.
    pub kind: Kind,
    /// Whether it breaks existing callers.
    pub severity: Severity,
    /// One line, naming the element and what happened to it.
    pub summary: String,
    /// What changes in the generated Rust API, in one sentence; always set when breaking.
    pub rust_impact: Option<String>,
}

macro_rules! kinds {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)*) => {
        /// What changed. Serialized as its kebab-case name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Kind {
            $($(#[$doc])* $variant,)*
        }

        impl Kind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [Kind] = &[$(Kind::$variant,)*];

            /// The kebab-case name used in reports.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Kind::$variant => $name,)*
                }
            }
        }
    };
}

kinds! {
    /// A spec file exists only in the new version.
    SpecAdded = "spec-added",
    /// A spec file exists only in the old version.
    SpecRemoved = "spec-removed",
    /// The `openapi` version changed.
    OpenapiVersionChanged = "openapi-version-changed",
    /// `info.version` changed.
    InfoVersionChanged = "info-version-changed",
    /// A server URL was added.
    ServerAdded = "server-added",
    /// A server URL was removed.
    ServerRemoved = "server-removed",
    /// The only server URL was replaced by another.
    ServerChanged = "server-changed",
    /// A security scheme was added.
    SecuritySchemeAdded = "security-scheme-added",
    /// A security scheme was removed.
    SecuritySchemeRemoved = "security-scheme-removed",
    /// A security scheme's type, location, header name or HTTP scheme changed.
    SecuritySchemeChanged = "security-scheme-changed",
    /// The security requirement of the spec or of an operation changed.
    SecurityChanged = "security-changed",
    /// A component schema (a generated type) was added.
    SchemaAdded = "schema-added",
    /// A component schema (a generated type) was removed.
    SchemaRemoved = "schema-removed",
    /// A component schema that no operation uses changed.
    UnusedSchemaChanged = "unused-schema-changed",
    /// Tags were added, removed or reassigned.
    TagsChanged = "tags-changed",
    /// An operation was added.
    OperationAdded = "operation-added",
    /// An operation was removed.
    OperationRemoved = "operation-removed",
    /// An operation kept its method and path but got another `operationId`.
    OperationIdChanged = "operation-id-changed",
    /// An operation kept its `operationId` but moved to another path.
    PathChanged = "path-changed",
    /// An operation kept its `operationId` but uses another HTTP method.
    MethodChanged = "method-changed",
    /// An operation was marked deprecated, or no longer is.
    DeprecatedChanged = "deprecated-changed",
    /// A parameter was added.
    ParameterAdded = "parameter-added",
    /// A parameter was removed.
    ParameterRemoved = "parameter-removed",
    /// A parameter got another name (same location and type).
    ParameterRenamed = "parameter-renamed",
    /// A parameter moved between query, path and header.
    ParameterMoved = "parameter-moved",
    /// A parameter became required or optional.
    ParameterRequiredChanged = "parameter-required-changed",
    /// A parameter's `style`, `explode` or similar serialization setting changed.
    ParameterSerializationChanged = "parameter-serialization-changed",
    /// An operation gained a request body.
    RequestBodyAdded = "request-body-added",
    /// An operation lost its request body.
    RequestBodyRemoved = "request-body-removed",
    /// A request body became required or optional.
    RequestBodyRequiredChanged = "request-body-required-changed",
    /// A request or answer gained a media type.
    MediaTypeAdded = "media-type-added",
    /// A request or answer lost a media type.
    MediaTypeRemoved = "media-type-removed",
    /// A response status was added.
    ResponseStatusAdded = "response-status-added",
    /// A response status was removed.
    ResponseStatusRemoved = "response-status-removed",
    /// A response header was added.
    ResponseHeaderAdded = "response-header-added",
    /// A response header was removed.
    ResponseHeaderRemoved = "response-header-removed",
    /// A request schema gained a property.
    RequestPropertyAdded = "request-property-added",
    /// A request schema lost a property.
    RequestPropertyRemoved = "request-property-removed",
    /// A request property became required or optional.
    RequestPropertyRequiredChanged = "request-property-required-changed",
    /// An answer schema gained a property.
    ResponsePropertyAdded = "response-property-added",
    /// An answer schema lost a property.
    ResponsePropertyRemoved = "response-property-removed",
    /// An answer property became required or optional.
    ResponsePropertyRequiredChanged = "response-property-required-changed",
    /// A schema's `type` changed, or it became or stopped being an enum.
    TypeChanged = "type-changed",
    /// A schema's `format` changed.
    FormatChanged = "format-changed",
    /// A request enum gained a value.
    RequestEnumValueAdded = "request-enum-value-added",
    /// A request enum lost a value.
    RequestEnumValueRemoved = "request-enum-value-removed",
    /// An answer enum gained a value.
    ResponseEnumValueAdded = "response-enum-value-added",
    /// An answer enum lost a value.
    ResponseEnumValueRemoved = "response-enum-value-removed",
    /// The `x-enum-varnames` name of a value changed.
    EnumVarnameChanged = "enum-varname-changed",
    /// A request bound (`minimum`, `maxLength`, `maxItems`, `pattern`, ...) became stricter.
    RequestBoundTightened = "request-bound-tightened",
    /// A request bound became looser.
    RequestBoundLoosened = "request-bound-loosened",
    /// An answer bound became stricter.
    ResponseBoundTightened = "response-bound-tightened",
    /// An answer bound became looser.
    ResponseBoundLoosened = "response-bound-loosened",
    /// A `default` was added, removed or changed.
    DefaultChanged = "default-changed",
    /// `nullable` changed.
    NullableChanged = "nullable-changed",
    /// `additionalProperties` changed.
    AdditionalPropertiesChanged = "additional-properties-changed",
    /// `oneOf`/`anyOf` gained or lost a member.
    CompositionChanged = "composition-changed",
    /// `x-limits` became stricter: fewer formats, lower maxima, higher minima, a new set.
    LimitsTightened = "limits-tightened",
    /// `x-limits` became looser.
    LimitsLoosened = "limits-loosened",
    /// `x-error-codes` gained a code.
    ErrorCodeAdded = "error-code-added",
    /// `x-error-codes` lost a code.
    ErrorCodeRemoved = "error-code-removed",
    /// An `x-error-codes` row changed its status or name.
    ErrorCodeChanged = "error-code-changed",
    /// Any other `x-` extension was added, removed or changed.
    ExtensionChanged = "extension-changed",
    /// `description`, `summary`, `title` or `externalDocs` was edited.
    DescriptionChanged = "description-changed",
    /// An `example` or `examples` was edited.
    ExampleChanged = "example-changed",
    /// `x-source` or `x-doc-conflict` was edited.
    ProvenanceChanged = "provenance-changed",
}

impl Serialize for Kind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every change between two versions of a set of specs, in a stable order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The changes, sorted (see [`Report::new`]).
    pub changes: Vec<Change>,
}

impl Report {
    /// Sorts `changes` (by spec, then general before operations, operation id, severity with
    /// breaking first, pointer, kind, summary) and drops exact duplicates.
    pub fn new(mut changes: Vec<Change>) -> Report {
        changes.sort_by(|a, b| {
            let key = |c: &Change| {
                (
                    c.spec.clone(),
                    c.operation.is_some(),
                    c.operation.as_ref().map(|op| op.id.clone()),
                    c.severity,
                    c.pointer.clone(),
                    c.kind,
                    c.summary.clone(),
                )
            };
            key(a).cmp(&key(b))
        });
        changes.dedup();
        Report { changes }
    }

    /// How many changes have `severity`.
    pub fn count(&self, severity: Severity) -> usize {
        self.changes
            .iter()
            .filter(|c| c.severity == severity)
            .count()
    }

    /// True when at least one change is breaking.
    pub fn has_breaking(&self) -> bool {
        self.count(Severity::Breaking) > 0
    }
}

/// Compares two versions of one spec; `None` stands for a spec that exists on one side only.
/// `spec` names the spec in every change.
pub fn compare(spec: &str, old: Option<&Spec>, new: Option<&Spec>) -> Vec<Change> {
    match (old, new) {
        (Some(old), Some(new)) => walk::compare_documents(spec, &old.json, &new.json),
        (None, Some(new)) => vec![walk::spec_presence(spec, &new.json, true)],
        (Some(old), None) => vec![walk::spec_presence(spec, &old.json, false)],
        (None, None) => Vec::new(),
    }
}

/// Reads and parses a spec file for comparison; see [`parse`].
pub fn load(path: &Path) -> Result<Spec> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("{}: cannot be read: {e}", path.display()))?;
    parse(path, text)
}

/// Parses spec text and checks that it is an OpenAPI 3 document (an `openapi` version and a
/// `paths` mapping); `path` names the file in every message.
pub fn parse(path: &Path, text: String) -> Result<Spec> {
    let spec = Spec::parse(path, text)?;
    let name = path.display();
    let Some(root) = spec.json.as_object() else {
        bail!("{name}: not an OpenAPI document (the top level is not a mapping)");
    };
    match root.get("openapi") {
        Some(Value::String(version)) if version.starts_with("3.") => {}
        Some(other) => bail!("{name}: not an OpenAPI 3 document (`openapi` is {other})"),
        None => bail!("{name}: not an OpenAPI document (no `openapi` version)"),
    }
    match root.get("paths") {
        Some(Value::Object(_)) => Ok(spec),
        Some(_) => bail!("{name}: `paths` is not a mapping"),
        None => bail!("{name}: not an OpenAPI document (no `paths`)"),
    }
}

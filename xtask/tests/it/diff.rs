//! `cargo xtask diff`: one fixture pair per kind of change, the reports, the naming rules
//! checked against the generated clients, the git side and the command line.
//!
//! Each directory under `fixtures/diff/cases/` holds an `old.yaml` and a `new.yaml` that differ
//! by one change; `fixtures/diff/report/` holds a pair with several, for the golden report.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use xtask::diff::command::{Options, Source};
use xtask::diff::rust::{self, Shape};
use xtask::diff::{self, Change, Kind, Report, Severity, render};
use xtask::spec::{Spec, spec_files, workspace_root};

use Kind::*;
use Severity::{Breaking, Compatible, Docs};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/diff")
}

fn load_pair(dir: &Path) -> (Spec, Spec) {
    let load = |name: &str| diff::load(&dir.join(name)).unwrap_or_else(|e| panic!("{e:#}"));
    (load("old.yaml"), load("new.yaml"))
}

fn changes_of(case: &str) -> Vec<Change> {
    let (old, new) = load_pair(&fixtures().join("cases").join(case));
    diff::compare(case, Some(&old), Some(&new))
}

/// Every fixture pair and exactly what it must report: (kind, severity) of each change.
const CASES: &[(&str, &[(Kind, Severity)])] = &[
    // Operations.
    ("operation-added", &[(OperationAdded, Compatible)]),
    ("operation-removed", &[(OperationRemoved, Breaking)]),
    ("operation-id-changed", &[(OperationIdChanged, Breaking)]),
    ("path-changed", &[(PathChanged, Breaking)]),
    ("method-changed", &[(MethodChanged, Breaking)]),
    ("operation-deprecated", &[(DeprecatedChanged, Compatible)]),
    ("tags-changed", &[(TagsChanged, Compatible)]),
    // Parameters.
    ("parameter-added-required", &[(ParameterAdded, Breaking)]),
    ("parameter-added-optional", &[(ParameterAdded, Compatible)]),
    ("parameter-removed", &[(ParameterRemoved, Breaking)]),
    ("parameter-renamed", &[(ParameterRenamed, Breaking)]),
    ("path-parameter-renamed", &[(ParameterRenamed, Breaking)]),
    ("parameter-moved", &[(ParameterMoved, Breaking)]),
    (
        "parameter-became-required",
        &[(ParameterRequiredChanged, Breaking)],
    ),
    (
        "parameter-became-optional",
        &[(ParameterRequiredChanged, Compatible)],
    ),
    (
        "parameter-serialization-changed",
        &[(ParameterSerializationChanged, Breaking)],
    ),
    (
        "parameter-maximum-tightened",
        &[(RequestBoundTightened, Breaking)],
    ),
    (
        "default-added-to-parameter",
        &[(DefaultChanged, Compatible)],
    ),
    // Header names ignore case: nothing changes on the wire or in Rust.
    ("header-parameter-case", &[]),
    // Request bodies and media types.
    ("request-body-added", &[(RequestBodyAdded, Breaking)]),
    ("request-body-removed", &[(RequestBodyRemoved, Breaking)]),
    (
        "request-body-became-required",
        &[(RequestBodyRequiredChanged, Breaking)],
    ),
    (
        "request-body-became-optional",
        &[(RequestBodyRequiredChanged, Compatible)],
    ),
    ("media-type-added", &[(MediaTypeAdded, Compatible)]),
    ("media-type-removed", &[(MediaTypeRemoved, Breaking)]),
    // Properties, requests and answers told apart.
    (
        "request-property-added-required",
        &[(RequestPropertyAdded, Breaking)],
    ),
    (
        "request-property-added-optional",
        &[(RequestPropertyAdded, Compatible)],
    ),
    (
        "request-property-removed",
        &[(RequestPropertyRemoved, Breaking)],
    ),
    (
        "response-property-added",
        &[(ResponsePropertyAdded, Compatible)],
    ),
    (
        "response-property-removed",
        &[(ResponsePropertyRemoved, Breaking)],
    ),
    (
        "request-property-became-required",
        &[(RequestPropertyRequiredChanged, Breaking)],
    ),
    (
        "request-property-became-optional",
        &[(RequestPropertyRequiredChanged, Compatible)],
    ),
    (
        "response-property-became-optional",
        &[(ResponsePropertyRequiredChanged, Breaking)],
    ),
    (
        "response-property-became-required",
        &[(ResponsePropertyRequiredChanged, Compatible)],
    ),
    // Types and formats.
    ("type-changed", &[(TypeChanged, Breaking)]),
    ("format-changed", &[(FormatChanged, Breaking)]),
    // Same Rust type: an answer's new format is compatible, a request's is not, and a
    // different format changes what the bytes mean.
    (
        "format-changed-same-rust-type",
        &[(FormatChanged, Compatible)],
    ),
    (
        "request-format-added-same-rust-type",
        &[(FormatChanged, Breaking)],
    ),
    (
        "response-format-changed-same-rust-type",
        &[(FormatChanged, Breaking)],
    ),
    ("enum-restricted", &[(TypeChanged, Breaking)]),
    ("nullable-changed", &[(NullableChanged, Breaking)]),
    (
        "additional-properties-closed",
        &[(AdditionalPropertiesChanged, Breaking)],
    ),
    ("composition-changed", &[(CompositionChanged, Breaking)]),
    // Enums: request enums are closed, answer enums open.
    (
        "request-enum-value-added",
        &[(RequestEnumValueAdded, Compatible)],
    ),
    (
        "request-enum-value-removed",
        &[(RequestEnumValueRemoved, Breaking)],
    ),
    (
        "request-integer-enum-value-removed",
        &[(RequestEnumValueRemoved, Breaking)],
    ),
    (
        "response-enum-value-added",
        &[(ResponseEnumValueAdded, Compatible)],
    ),
    (
        "response-enum-value-removed",
        &[(ResponseEnumValueRemoved, Compatible)],
    ),
    ("enum-varname-changed", &[(EnumVarnameChanged, Breaking)]),
    // Bounds.
    (
        "request-maximum-tightened",
        &[(RequestBoundTightened, Breaking)],
    ),
    (
        "request-maximum-loosened",
        &[(RequestBoundLoosened, Compatible)],
    ),
    (
        "request-minimum-tightened",
        &[(RequestBoundTightened, Breaking)],
    ),
    (
        "request-minimum-loosened",
        &[(RequestBoundLoosened, Compatible)],
    ),
    // A lower bound of 1 makes typify pick `NonZeroU32`: looser, yet a new Rust type.
    (
        "request-minimum-changes-rust-type",
        &[(RequestBoundLoosened, Breaking)],
    ),
    (
        "request-min-length-tightened",
        &[(RequestBoundTightened, Breaking)],
    ),
    (
        "request-max-length-tightened",
        &[(RequestBoundTightened, Breaking)],
    ),
    (
        "request-max-length-loosened",
        &[(RequestBoundLoosened, Compatible)],
    ),
    (
        "request-min-items-tightened",
        &[(RequestBoundTightened, Breaking)],
    ),
    (
        "request-min-items-loosened",
        &[(RequestBoundLoosened, Compatible)],
    ),
    (
        "request-max-items-tightened",
        &[(RequestBoundTightened, Breaking)],
    ),
    (
        "request-pattern-added",
        &[(RequestBoundTightened, Breaking)],
    ),
    (
        "response-maximum-tightened",
        &[(ResponseBoundTightened, Compatible)],
    ),
    (
        "response-maximum-loosened",
        &[(ResponseBoundLoosened, Compatible)],
    ),
    (
        "response-minimum-loosened",
        &[(ResponseBoundLoosened, Compatible)],
    ),
    // An `int32` whose maximum passes `i32::MAX` becomes an `i64`.
    (
        "response-maximum-beyond-rust-type",
        &[(ResponseBoundLoosened, Breaking)],
    ),
    // Defaults.
    ("default-changed", &[(DefaultChanged, Breaking)]),
    ("default-added-to-field", &[(DefaultChanged, Breaking)]),
    // Answers.
    (
        "response-status-added",
        &[(ResponseStatusAdded, Compatible)],
    ),
    (
        "response-status-removed",
        &[(ResponseStatusRemoved, Breaking)],
    ),
    (
        "response-status-removed-covered-by-range",
        &[(ResponseStatusRemoved, Compatible)],
    ),
    (
        "response-header-added",
        &[(ResponseHeaderAdded, Compatible)],
    ),
    (
        "response-header-removed",
        &[(ResponseHeaderRemoved, Breaking)],
    ),
    // Security and servers.
    (
        "security-scheme-header-renamed",
        &[(SecuritySchemeChanged, Breaking)],
    ),
    (
        "security-scheme-header-case",
        &[(SecuritySchemeChanged, Compatible)],
    ),
    (
        "security-scheme-added",
        &[(SecuritySchemeAdded, Compatible)],
    ),
    (
        "security-scheme-removed",
        &[(SecuritySchemeRemoved, Breaking)],
    ),
    (
        "security-requirement-changed",
        &[(SecurityChanged, Breaking)],
    ),
    ("server-changed", &[(ServerChanged, Breaking)]),
    ("server-added", &[(ServerAdded, Compatible)]),
    ("server-removed", &[(ServerRemoved, Breaking)]),
    // x-limits.
    ("limits-format-removed", &[(LimitsTightened, Breaking)]),
    ("limits-format-added", &[(LimitsLoosened, Compatible)]),
    ("limits-max-bytes-lowered", &[(LimitsTightened, Breaking)]),
    ("limits-max-bytes-raised", &[(LimitsLoosened, Compatible)]),
    (
        "limits-max-long-side-lowered",
        &[(LimitsTightened, Breaking)],
    ),
    (
        "limits-min-short-side-raised",
        &[(LimitsTightened, Breaking)],
    ),
    (
        "limits-min-short-side-lowered",
        &[(LimitsLoosened, Compatible)],
    ),
    ("limits-megapixels-lowered", &[(LimitsTightened, Breaking)]),
    ("limits-megapixels-raised", &[(LimitsLoosened, Compatible)]),
    ("limits-face-width-raised", &[(LimitsTightened, Breaking)]),
    ("limits-face-pose-lowered", &[(LimitsTightened, Breaking)]),
    ("limits-face-pose-raised", &[(LimitsLoosened, Compatible)]),
    ("limits-bound-added", &[(LimitsTightened, Breaking)]),
    ("limits-bound-removed", &[(LimitsLoosened, Compatible)]),
    ("limits-set-added", &[(LimitsTightened, Breaking)]),
    ("limits-set-removed", &[(LimitsLoosened, Compatible)]),
    (
        "limits-applies-to-more-values",
        &[(LimitsTightened, Breaking)],
    ),
    // x-error-codes and other extensions.
    ("error-code-added", &[(ErrorCodeAdded, Compatible)]),
    ("error-code-removed", &[(ErrorCodeRemoved, Breaking)]),
    ("error-code-renamed", &[(ErrorCodeChanged, Breaking)]),
    (
        "extension-added-to-operation",
        &[(ExtensionChanged, Compatible)],
    ),
    ("extension-added-to-tag", &[(ExtensionChanged, Compatible)]),
    // Prose.
    ("docs-operation-description", &[(DescriptionChanged, Docs)]),
    ("docs-property-description", &[(DescriptionChanged, Docs)]),
    ("docs-example", &[(ExampleChanged, Docs)]),
    ("docs-provenance", &[(ProvenanceChanged, Docs)]),
    // Document and components.
    ("info-version-changed", &[(InfoVersionChanged, Compatible)]),
    (
        "openapi-version-changed",
        &[(OpenapiVersionChanged, Compatible)],
    ),
    ("schema-added", &[(SchemaAdded, Compatible)]),
    ("schema-removed", &[(SchemaRemoved, Breaking)]),
    (
        "unused-schema-changed",
        &[(UnusedSchemaChanged, Compatible)],
    ),
    // An inline schema moved into a component: the wire is the same, a type is added.
    ("schema-moved-into-component", &[(SchemaAdded, Compatible)]),
    // A schema that contains itself: the walk ends, the change is reported once.
    ("reference-cycle", &[(ResponsePropertyAdded, Compatible)]),
];

#[test]
fn every_fixture_pair_reports_exactly_its_change() {
    let mut failures = Vec::new();
    for (case, expected) in CASES {
        let changes = changes_of(case);
        let mut found: Vec<(Kind, Severity)> =
            changes.iter().map(|c| (c.kind, c.severity)).collect();
        let mut expected = expected.to_vec();
        found.sort();
        expected.sort();
        if found != expected {
            failures.push(format!("{case}: expected {expected:?}, found {changes:#?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_table_lists_every_fixture_directory() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(fixtures().join("cases"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let listed: BTreeSet<String> = CASES.iter().map(|(case, _)| case.to_string()).collect();
    assert_eq!(on_disk, listed);
}

#[test]
fn every_kind_has_a_fixture_pair() {
    let covered: BTreeSet<Kind> = CASES
        .iter()
        .flat_map(|(_, expected)| expected.iter().map(|(kind, _)| *kind))
        .collect();
    // A spec file on one side only is a git-level case, tested with a repository below.
    let missing: Vec<Kind> = Kind::ALL
        .iter()
        .copied()
        .filter(|kind| !covered.contains(kind) && ![SpecAdded, SpecRemoved].contains(kind))
        .collect();
    assert!(missing.is_empty(), "kinds without a fixture: {missing:?}");
}

#[test]
fn fixtures_are_openapi_3_0_documents() {
    let mut dirs: Vec<PathBuf> = CASES
        .iter()
        .map(|(case, _)| fixtures().join("cases").join(case))
        .collect();
    dirs.push(fixtures().join("report"));
    for dir in dirs {
        let (old, new) = load_pair(&dir);
        for spec in [old, new] {
            spec.openapi().unwrap_or_else(|e| panic!("{e:#}"));
            let version = spec.json["openapi"].as_str().unwrap_or_default();
            assert!(
                version.starts_with("3.0."),
                "{}: {version}",
                spec.path.display()
            );
        }
    }
}

/// Every fixture pair compared as written and in reverse (which turns each addition into a
/// removal, each tightening into a loosening): the old spec, the new one, the changes.
fn every_comparison() -> Vec<(String, Spec, Spec, Vec<Change>)> {
    let mut out = Vec::new();
    for (case, _) in CASES {
        let (old, new) = load_pair(&fixtures().join("cases").join(case));
        for (label, a, b) in [
            (case.to_string(), &old, &new),
            (format!("{case} reversed"), &new, &old),
        ] {
            let changes = diff::compare(case, Some(a), Some(b));
            out.push((label, a.clone(), b.clone(), changes));
        }
    }
    out
}

#[test]
fn breaking_changes_state_their_rust_impact() {
    for (case, _, _, changes) in every_comparison() {
        for change in changes {
            if change.severity == Breaking {
                let impact = change.rust_impact.as_deref().unwrap_or_default();
                assert!(!impact.is_empty(), "{case}: {change:#?}");
                assert!(!impact.contains('\n'), "{case}: one line: {impact}");
            }
            assert!(!change.summary.is_empty() && !change.summary.contains('\n'));
        }
    }
}

#[test]
fn pointers_address_the_changed_element_in_one_of_the_documents() {
    for (case, old, new, changes) in every_comparison() {
        for change in changes {
            let found = new.json.pointer(&change.pointer).is_some()
                || old.json.pointer(&change.pointer).is_some();
            assert!(
                found,
                "{case}: {} resolves nowhere ({})",
                change.pointer, change.kind
            );
        }
    }
}

#[test]
fn reversed_pairs_report_the_opposite_change() {
    // Undoing a compatible change can break, undoing a breaking one is mostly compatible; a
    // few kinds read the same both ways.
    let reversed = |case: &str| {
        let (old, new) = load_pair(&fixtures().join("cases").join(case));
        let changes = diff::compare(case, Some(&new), Some(&old));
        changes
            .iter()
            .map(|c| (c.kind, c.severity))
            .collect::<Vec<_>>()
    };
    assert_eq!(reversed("operation-added"), [(OperationRemoved, Breaking)]);
    assert_eq!(
        reversed("request-enum-value-added"),
        [(RequestEnumValueRemoved, Breaking)]
    );
    assert_eq!(
        reversed("request-maximum-tightened"),
        [(RequestBoundLoosened, Compatible)]
    );
    assert_eq!(
        reversed("limits-format-removed"),
        [(LimitsLoosened, Compatible)]
    );
    assert_eq!(
        reversed("response-property-removed"),
        [(ResponsePropertyAdded, Compatible)]
    );
    assert_eq!(reversed("nullable-changed"), [(NullableChanged, Breaking)]);
    assert_eq!(reversed("server-changed"), [(ServerChanged, Breaking)]);
}

#[test]
fn rust_impacts_name_the_generated_items() {
    let impact = |case: &str| {
        let changes = changes_of(case);
        assert_eq!(changes.len(), 1, "{case}: {changes:#?}");
        changes[0].rust_impact.clone().unwrap_or_default()
    };
    assert_eq!(
        impact("request-integer-enum-value-removed"),
        "the `factor` builder of `types::WidgetRequest` loses variant `X8`"
    );
    assert_eq!(
        impact("request-property-added-required"),
        "a new required builder call `shape` on `types::WidgetRequest`"
    );
    assert_eq!(
        impact("format-changed"),
        "the `count` builder of `types::WidgetRequest` changes from `i32` to `i64`, \
         even where the wire accepts both"
    );
    assert_eq!(
        impact("enum-varname-changed"),
        "variant `X8` of `types::WidgetRequestFactor` is renamed `Eight`"
    );
    assert_eq!(
        impact("response-maximum-beyond-rust-type"),
        "field `weight` of `types::Widget` changes from `i32` to `i64`"
    );
    assert_eq!(
        impact("request-maximum-tightened"),
        "not enforced by the generated types (the `count` builder of `types::WidgetRequest` \
         takes any value); pixmill validates it"
    );
    assert_eq!(
        impact("parameter-added-required"),
        "a new required builder call `lang` on `Client::make_widget()`"
    );
    assert_eq!(
        impact("operation-id-changed"),
        "`Client::make_widget()` is renamed `Client::create_widget()`"
    );
    assert_eq!(
        impact("error-code-removed"),
        "`error_codes::FAILURE` loses code 1002, and the facade its typed variant"
    );
    assert_eq!(
        impact("limits-format-removed"),
        "`limits::MAKE_WIDGET` set `input` is stricter: pixmill refuses such inputs before sending"
    );
}

#[test]
fn summaries_and_pointers_of_one_change() {
    let changes = changes_of("request-enum-value-removed");
    let change = &changes[0];
    assert_eq!(
        change.summary,
        "`WidgetRequest.size` no longer accepts `large`"
    );
    // Something removed is addressed in the old document.
    assert_eq!(
        change.pointer,
        "/components/schemas/WidgetRequest/properties/size/enum/1"
    );
    let operation = change.operation.as_ref().expect("reached by an operation");
    assert_eq!(
        (
            operation.id.as_str(),
            operation.method.as_str(),
            operation.path.as_str()
        ),
        ("make_widget", "POST", "/shops/{shop}/widgets")
    );
    let general = &changes_of("server-changed")[0];
    assert_eq!(general.operation, None);
    assert_eq!(general.pointer, "/servers/0");
}

#[test]
fn a_shared_component_is_reported_for_each_operation_and_shown_once() {
    let (old, new) = load_pair(&fixtures().join("report"));
    let report = Report::new(diff::compare("specs/widgets.yaml", Some(&old), Some(&new)));
    let removed_code: Vec<&str> = report
        .changes
        .iter()
        .filter(|c| c.kind == ErrorCodeRemoved)
        .filter_map(|c| c.operation.as_ref().map(|op| op.id.as_str()))
        .collect();
    assert_eq!(removed_code, ["get_widget", "make_widget"]);
    let markdown = render::markdown(&report, "Spec changes");
    assert_eq!(markdown.matches("error code 1002").count(), 1, "{markdown}");
    assert!(
        markdown.contains("· in `get_widget`, `make_widget`"),
        "{markdown}"
    );
}

#[test]
fn markdown_report() {
    let (old, new) = load_pair(&fixtures().join("report"));
    let report = Report::new(diff::compare("specs/widgets.yaml", Some(&old), Some(&new)));
    insta::assert_snapshot!(render::markdown(
        &report,
        "Spec changes: `old.yaml` → `new.yaml`"
    ));
}

#[test]
fn json_report() {
    let (old, new) = load_pair(&fixtures().join("report"));
    let report = Report::new(diff::compare("specs/widgets.yaml", Some(&old), Some(&new)));
    let text = render::json(&report);
    let json: Value = serde_json::from_str(&text).unwrap();
    let root = json.as_object().unwrap();
    assert_eq!(root.keys().collect::<Vec<_>>(), ["changes"]);
    let changes = json["changes"].as_array().unwrap();
    assert_eq!(changes.len(), report.changes.len());
    for change in changes {
        let keys: Vec<&String> = change.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "spec",
                "operation",
                "pointer",
                "kind",
                "severity",
                "summary",
                "rust_impact"
            ]
        );
    }
    insta::assert_snapshot!(text);
}

#[test]
fn an_empty_report_says_so() {
    let (old, _) = load_pair(&fixtures().join("report"));
    let report = Report::new(diff::compare("specs/widgets.yaml", Some(&old), Some(&old)));
    assert!(report.changes.is_empty());
    assert_eq!(render::markdown(&report, "T"), "## T\n\nNo changes.\n");
    assert_eq!(render::json(&report), "{\n  \"changes\": []\n}\n");
}

#[test]
fn the_workspace_specs_equal_themselves() {
    for file in spec_files(&workspace_root().join("specs")).unwrap() {
        let spec = diff::load(&file).unwrap();
        assert_eq!(diff::compare("self", Some(&spec), Some(&spec)), vec![]);
    }
}

/// The naming and type rules of [`rust`] against what progenitor generated for the specs.
#[test]
fn rust_names_and_types_match_the_generated_clients() {
    let root = workspace_root();
    let mut checked = 0;
    for file in spec_files(&root.join("specs")).unwrap() {
        let spec = diff::load(&file).unwrap();
        let lib = std::fs::read_to_string(
            root.join("generated")
                .join(&spec.provider)
                .join("src/lib.rs"),
        )
        .unwrap();
        for op in spec.operations() {
            let method = format!("pub fn {}(&self)", rust::snake(op.id()));
            assert!(lib.contains(&method), "{}: {method}", spec.provider);
            for param in op.value["parameters"].as_array().into_iter().flatten() {
                let param = spec.deref(param);
                let name = rust::snake(param["name"].as_str().unwrap_or_default());
                let builder = format!("pub fn {name}<");
                assert!(lib.contains(&builder), "{}: {builder}", spec.provider);
                checked += 1;
            }
        }
        let schemas = spec.json["components"]["schemas"].as_object().unwrap();
        for (name, schema) in schemas {
            let Some(body) = struct_body(&lib, &rust::pascal(name)) else {
                continue;
            };
            let required: Vec<&str> = schema["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            for (property, property_schema) in
                schema["properties"].as_object().into_iter().flatten()
            {
                let field = rust::snake(property);
                let declared = body
                    .lines()
                    .map(str::trim)
                    .find_map(|line| line.strip_prefix(&format!("pub {field}: ")))
                    .unwrap_or_else(|| panic!("{name}.{property}: no field `{field}`"));
                let shape = Shape::of(&spec.json, property_schema);
                if matches!(
                    shape,
                    Shape::Integer(_) | Shape::Float(_) | Shape::Bool | Shape::String
                ) {
                    let expected = rust::field_type(
                        &shape,
                        required.contains(&property.as_str()),
                        property_schema.get("default").is_some(),
                    );
                    assert_eq!(
                        plain_type(declared),
                        expected,
                        "{}: {name}.{property}",
                        spec.provider
                    );
                    checked += 1;
                }
                let inline_enum = property_schema["enum"].as_array();
                if let Some(values) = inline_enum
                    && property_schema["type"] == "string"
                {
                    let enum_name = format!("{}{}", rust::pascal(name), rust::pascal(property));
                    let enum_body = enum_body(&lib, &enum_name)
                        .unwrap_or_else(|| panic!("no enum {enum_name}"));
                    for value in values {
                        let variant = rust::variant(value, None).unwrap();
                        assert!(
                            enum_body.contains(&format!("{variant},")),
                            "{enum_name}: {variant}"
                        );
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked > 100, "only {checked} names checked");
}

/// The field lines of `pub struct {name} {` in the `types` module (its first occurrence).
fn struct_body<'l>(lib: &'l str, name: &str) -> Option<&'l str> {
    let start = lib.find(&format!("pub struct {name} {{"))?;
    let rest = &lib[start..];
    Some(&rest[..rest.find("\n    }")?])
}

fn enum_body<'l>(lib: &'l str, name: &str) -> Option<&'l str> {
    let start = lib.find(&format!("pub enum {name} {{"))?;
    let rest = &lib[start..];
    Some(&rest[..rest.find("\n    }")?])
}

/// `::std::option::Option<::std::num::NonZeroU32>,` → `Option<NonZeroU32>`.
fn plain_type(declared: &str) -> String {
    let mut text = declared.trim_end_matches(',').to_string();
    for prefix in [
        "::std::option::",
        "::std::num::",
        "::std::string::",
        "::std::vec::",
    ] {
        text = text.replace(prefix, "");
    }
    text
}

#[test]
fn typify_integer_rules() {
    let shape = |schema: &str| {
        let schema: Value = serde_yaml::from_str(schema).unwrap();
        Shape::of(&Value::Null, &schema).to_string()
    };
    assert_eq!(shape("{type: integer}"), "i64");
    assert_eq!(shape("{type: integer, format: int32}"), "i32");
    assert_eq!(
        shape("{type: integer, format: int32, minimum: 1}"),
        "NonZeroU32"
    );
    assert_eq!(shape("{type: integer, minimum: 1}"), "NonZeroU64");
    assert_eq!(shape("{type: integer, minimum: 0}"), "u64");
    assert_eq!(shape("{type: integer, minimum: 0, maximum: 50}"), "i64");
    assert_eq!(
        shape("{type: integer, format: int32, maximum: 3000000000}"),
        "i64"
    );
    assert_eq!(
        shape("{type: integer, format: int32, minimum: 0, exclusiveMinimum: true}"),
        "NonZeroU32"
    );
    assert_eq!(shape("{type: number, format: float}"), "f32");
    assert_eq!(
        shape("{type: string, maxLength: 3}"),
        "a checked string newtype"
    );
    assert_eq!(shape("{type: string, format: date-time}"), "DateTime<Utc>");
    assert_eq!(shape("{type: string, nullable: true}"), "Option<String>");
    assert_eq!(shape("{type: array, items: {type: string}}"), "Vec<String>");
}

#[test]
fn identifiers_follow_the_generator() {
    assert_eq!(rust::snake("sourceLanaguageCode"), "source_lanaguage_code");
    assert_eq!(rust::snake("type"), "type_");
    assert_eq!(rust::snake("DPI"), "dpi");
    assert_eq!(rust::snake("X-Trace"), "x_trace");
    assert_eq!(rust::pascal("localizable.strings"), "LocalizableStrings");
    assert_eq!(rust::pascal("image/jpeg"), "ImageJpeg");
    assert_eq!(rust::pascal("2x"), "X2x");
    assert_eq!(rust::pascal("supersize_image-body"), "SupersizeImageBody");
}

// The git side.

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=pixmill",
            "-c",
            "user.email=pixmill@example.test",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(status.status.success(), "git {args:?}: {status:?}");
}

fn copy_case(case: &str, side: &str, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(fixtures().join("cases").join(case).join(side), to).unwrap();
}

/// A repository whose `main` holds two specs, checked out on a branch that changes one,
/// adds one and removes one.
fn repository() -> tempfile::TempDir {
    let repo = tempfile::tempdir().unwrap();
    let root = repo.path();
    git(root, &["init", "-q", "-b", "main"]);
    copy_case(
        "request-enum-value-removed",
        "old.yaml",
        &root.join("specs/widgets.yaml"),
    );
    copy_case("server-added", "old.yaml", &root.join("specs/gone.yaml"));
    git(root, &["add", "."]);
    git(root, &["commit", "-q", "-m", "specs"]);
    git(root, &["checkout", "-q", "-b", "feature"]);
    copy_case(
        "request-enum-value-removed",
        "new.yaml",
        &root.join("specs/widgets.yaml"),
    );
    copy_case("server-added", "new.yaml", &root.join("specs/fresh.yaml"));
    std::fs::remove_file(root.join("specs/gone.yaml")).unwrap();
    repo
}

fn git_options(base: Option<&str>) -> Options {
    Options {
        source: Source::Git {
            base: base.map(str::to_string),
        },
        format: diff::command::Format::Json,
        fail_on_breaking: false,
    }
}

#[test]
fn compares_the_working_tree_with_the_merge_base_of_main() {
    let repo = repository();
    let outcome = diff::command::run(repo.path(), &git_options(None)).unwrap();
    assert!(outcome.breaking);
    let json: Value = serde_json::from_str(&outcome.output).unwrap();
    let found: Vec<(String, String, String)> = json["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["spec"].as_str().unwrap().to_string(),
                c["kind"].as_str().unwrap().to_string(),
                c["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected = [
        ("specs/fresh.yaml", "spec-added", "compatible"),
        ("specs/gone.yaml", "spec-removed", "breaking"),
        (
            "specs/widgets.yaml",
            "request-enum-value-removed",
            "breaking",
        ),
    ]
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()));
    assert_eq!(found, expected);
}

#[test]
fn compares_with_a_given_revision_and_names_it() {
    let repo = repository();
    let mut options = git_options(Some("main"));
    options.format = diff::command::Format::Markdown;
    let outcome = diff::command::run(repo.path(), &options).unwrap();
    assert!(
        outcome
            .output
            .starts_with("## Spec changes since `main` (`"),
        "{}",
        outcome.output
    );
    assert!(outcome.output.contains("### `specs/widgets.yaml`"));
}

#[test]
fn on_main_the_default_base_is_the_previous_commit() {
    let repo = repository();
    let root = repo.path();
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "change"]);
    git(root, &["checkout", "-q", "main"]);
    git(root, &["merge", "-q", "--ff-only", "feature"]);
    assert_eq!(diff::git::default_base(root).unwrap(), "HEAD~1");
    let outcome = diff::command::run(root, &git_options(None)).unwrap();
    assert!(outcome.output.contains("request-enum-value-removed"));
}

#[test]
fn an_unknown_revision_is_an_error_that_names_it() {
    let repo = repository();
    let error = diff::command::run(repo.path(), &git_options(Some("no-such-ref"))).unwrap_err();
    assert_eq!(error.to_string(), "unknown git revision `no-such-ref`");
}

#[test]
fn outside_a_repository_the_default_base_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let error = diff::command::run(dir.path(), &git_options(None)).unwrap_err();
    assert!(
        format!("{error:#}").contains("not a git work tree"),
        "{error:#}"
    );
}

#[test]
fn a_spec_on_one_side_only() {
    let (old, new) = load_pair(&fixtures().join("cases/operation-added"));
    let added = diff::compare("specs/widgets.yaml", None, Some(&new));
    assert_eq!(added.len(), 1);
    assert_eq!((added[0].kind, added[0].severity), (SpecAdded, Compatible));
    assert_eq!(added[0].summary, "new spec with 2 operation(s)");
    let removed = diff::compare("specs/widgets.yaml", Some(&old), None);
    assert_eq!(
        (removed[0].kind, removed[0].severity),
        (SpecRemoved, Breaking)
    );
    assert_eq!(
        removed[0].rust_impact.as_deref(),
        Some("the generated crate `pixmill-widgets-api` is no longer generated")
    );
}

// The command line.

fn xtask(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn case_file(case: &str, side: &str) -> String {
    fixtures()
        .join("cases")
        .join(case)
        .join(side)
        .display()
        .to_string()
}

#[test]
fn exit_status_follows_fail_on_breaking() {
    let breaking = ["request-enum-value-removed"]
        .map(|c| (case_file(c, "old.yaml"), case_file(c, "new.yaml")));
    let (old, new) = &breaking[0];
    let (code, out, _) = xtask(&["diff", "--old", old, "--new", new]);
    assert_eq!(code, 0);
    assert!(out.contains("1 breaking, 0 compatible, 0 docs"), "{out}");
    let (code, _, _) = xtask(&["diff", "--old", old, "--new", new, "--fail-on-breaking"]);
    assert_eq!(code, 1);
    let (old, new) = (
        case_file("request-enum-value-added", "old.yaml"),
        case_file("request-enum-value-added", "new.yaml"),
    );
    let (code, out, _) = xtask(&[
        "diff",
        "--old",
        &old,
        "--new",
        &new,
        "--fail-on-breaking",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0);
    let json: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["changes"][0]["kind"], "request-enum-value-added");
}

#[test]
fn parse_errors_exit_2_and_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = case_file("operation-added", "new.yaml");
    let files = [
        (
            "broken.yaml",
            "openapi: 3.0.3\npaths: {\n",
            "not valid YAML",
        ),
        ("plain.yaml", "name: not a spec\n", "no `openapi` version"),
        ("list.yaml", "- 1\n- 2\n", "top level is not a mapping"),
        (
            "swagger.yaml",
            "openapi: 2.0\npaths: {}\n",
            "not an OpenAPI 3 document",
        ),
        (
            "nopaths.yaml",
            "openapi: 3.0.3\ninfo: {title: x, version: '1'}\n",
            "no `paths`",
        ),
    ];
    for (name, text, reason) in files {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let path = path.display().to_string();
        for args in [
            ["diff", "--old", path.as_str(), "--new", good.as_str()],
            ["diff", "--old", good.as_str(), "--new", path.as_str()],
        ] {
            let (code, out, err) = xtask(&args);
            assert_eq!(code, 2, "{name}: {err}");
            assert!(out.is_empty());
            assert!(err.contains(&path) && err.contains(reason), "{name}: {err}");
        }
    }
    let missing = dir.path().join("missing.yaml").display().to_string();
    let (code, _, err) = xtask(&["diff", "--old", &missing, "--new", &good]);
    assert_eq!(code, 2);
    assert!(err.contains(&missing), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    let good = case_file("operation-added", "new.yaml");
    for args in [
        vec!["diff", "--frobnicate"],
        vec!["diff", "--old", &good],
        vec!["diff", "--new", &good],
        vec!["diff", "--format", "yaml", "--old", &good, "--new", &good],
        vec!["diff", "--base"],
        vec!["diff", "--base", "HEAD", "--old", &good, "--new", &good],
    ] {
        let (code, _, err) = xtask(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains("usage: cargo xtask diff"), "{args:?}: {err}");
    }
    let (code, out, _) = xtask(&["diff", "--help"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("usage: cargo xtask diff"));
}

#[test]
fn options_parse() {
    let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let options = Options::parse(&args(&["--base", "v1", "--format", "json"]))
        .unwrap()
        .unwrap();
    assert_eq!(
        options.source,
        Source::Git {
            base: Some("v1".into())
        }
    );
    assert_eq!(options.format, diff::command::Format::Json);
    assert!(!options.fail_on_breaking);
    let options = Options::parse(&args(&[
        "--old",
        "a.yaml",
        "--new",
        "b.yaml",
        "--fail-on-breaking",
    ]))
    .unwrap()
    .unwrap();
    assert_eq!(
        options.source,
        Source::Files {
            old: "a.yaml".into(),
            new: "b.yaml".into()
        }
    );
    assert!(options.fail_on_breaking);
}

// Robustness.

fn pointers_of(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let pointer = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
                pointers_of(child, pointer.clone(), out);
                out.push(pointer);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                let pointer = format!("{at}/{index}");
                pointers_of(child, pointer.clone(), out);
                out.push(pointer);
            }
        }
        _ => {}
    }
}

/// Every node of a spec replaced by values of the wrong kind, broken references and
/// reference loops, compared in both directions: the comparison never panics.
#[test]
fn odd_documents_are_compared_without_panicking() {
    let (base, _) = load_pair(&fixtures().join("cases/reference-cycle"));
    let mut pointers = Vec::new();
    pointers_of(&base.json, String::new(), &mut pointers);
    let odd = [
        serde_json::json!(null),
        serde_json::json!("text"),
        serde_json::json!(-7.5),
        serde_json::json!([1, "a"]),
        serde_json::json!({}),
        serde_json::json!({"$ref": "#/nowhere"}),
        serde_json::json!({"$ref": "#"}),
        serde_json::json!({"$ref": "#/components/schemas/Widget", "allOf": [{"$ref": "#"}]}),
    ];
    for pointer in &pointers {
        for value in &odd {
            let mut json = base.json.clone();
            *json.pointer_mut(pointer).unwrap() = value.clone();
            let mutated = Spec {
                json,
                ..base.clone()
            };
            let forward = Report::new(diff::compare("odd", Some(&base), Some(&mutated)));
            let backward = Report::new(diff::compare("odd", Some(&mutated), Some(&base)));
            render::markdown(&forward, "odd");
            render::json(&backward);
        }
    }
}

/// A response whose schema is a chain `A0.next → A1.next → ... → A{length}`, whose last
/// link has type `last_type`.
fn chain(length: usize, last_type: &str) -> Spec {
    let mut schemas = serde_json::Map::new();
    for index in 0..length {
        let next = serde_json::json!({"$ref": format!("#/components/schemas/A{}", index + 1)});
        schemas.insert(
            format!("A{index}"),
            serde_json::json!({"type": "object", "properties": {"next": next}}),
        );
    }
    schemas.insert(format!("A{length}"), serde_json::json!({"type": last_type}));
    Spec {
        path: PathBuf::from("chain.yaml"),
        provider: "chain".into(),
        text: String::new(),
        json: serde_json::json!({
            "openapi": "3.0.3",
            "info": {"title": "chain", "version": "1"},
            "paths": {"/a": {"get": {"operationId": "get_a", "responses": {"200": {
                "description": "a",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/A0"}}}
            }}}}},
            "components": {"schemas": schemas},
        }),
    }
}

#[test]
fn reference_chains_are_followed_and_end() {
    let changes = diff::compare(
        "chain",
        Some(&chain(50, "string")),
        Some(&chain(50, "integer")),
    );
    let found: Vec<(Kind, Severity, &str)> = changes
        .iter()
        .map(|c| (c.kind, c.severity, c.pointer.as_str()))
        .collect();
    assert_eq!(
        found,
        [(TypeChanged, Breaking, "/components/schemas/A50/type")]
    );
    // Thousands of levels deep, the walk stops instead of exhausting the stack.
    let changes = diff::compare(
        "chain",
        Some(&chain(5000, "string")),
        Some(&chain(5000, "integer")),
    );
    assert!(changes.len() <= 1, "{changes:#?}");
}

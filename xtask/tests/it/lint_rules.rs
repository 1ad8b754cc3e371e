//! One test per lint rule: each mutates a clean spec and checks the rule names the file, the
//! JSON pointer and the reason.

use std::path::Path;

use xtask::lint::{Finding, lint};
use xtask::spec::Spec;

const MINIMAL: &str = include_str!("../fixtures/minimal.yaml");
const OP: &str = "/paths/~1widgets/post";

fn findings_after(edit: impl FnOnce(&mut serde_yaml::Value)) -> Vec<Finding> {
    let mut yaml: serde_yaml::Value = serde_yaml::from_str(MINIMAL).unwrap();
    edit(&mut yaml);
    let text = serde_yaml::to_string(&yaml).unwrap();
    lint(&Spec::parse(Path::new("specs/minimal.yaml"), text).unwrap())
}

fn at<'a>(yaml: &'a mut serde_yaml::Value, path: &[&str]) -> &'a mut serde_yaml::Value {
    path.iter().fold(yaml, |node, key| &mut node[*key])
}

fn set(yaml: &mut serde_yaml::Value, path: &[&str], key: &str, value: &str) {
    let node = at(yaml, path).as_mapping_mut().expect("a mapping");
    node.insert(key.into(), serde_yaml::from_str(value).unwrap());
}

fn remove(yaml: &mut serde_yaml::Value, path: &[&str], key: &str) {
    at(yaml, path).as_mapping_mut().unwrap().remove(key);
}

/// Exactly one finding, at `pointer`, whose reason contains `reason`.
fn assert_single(findings: &[Finding], pointer: &str, reason: &str) {
    assert_eq!(findings.len(), 1, "findings: {findings:#?}");
    let finding = &findings[0];
    assert_eq!(finding.file, "specs/minimal.yaml");
    assert_eq!(finding.pointer, pointer, "{finding}");
    assert!(finding.reason.contains(reason), "{finding}");
}

const POST: &[&str] = &["paths", "/widgets", "post"];

#[test]
fn the_fixture_is_clean() {
    assert_eq!(findings_after(|_| {}), vec![]);
}

#[test]
fn rejects_an_unknown_key() {
    let findings = findings_after(|y| set(y, POST, "requird", "true"));
    assert_single(
        &findings,
        &format!("{OP}/requird"),
        "unknown key `requird` in a Operation",
    );
}

#[test]
fn rejects_a_misplaced_key() {
    // `minimum` belongs to the schema, not to the property map or the parameter.
    let findings = findings_after(|y| {
        set(
            y,
            &["components", "schemas", "WidgetRequest"],
            "minimum",
            "1",
        );
        set(
            y,
            &["components", "schemas", "WidgetRequest"],
            "maximum",
            "2",
        );
        remove(y, &["components", "schemas", "WidgetRequest"], "maximum");
        set(
            y,
            POST,
            "parameters",
            "[{name: page, in: query, minimum: 1, schema: {type: integer}}]",
        );
        remove(y, &["components", "schemas", "WidgetRequest"], "minimum");
    });
    assert_single(
        &findings,
        &format!("{OP}/parameters/0/minimum"),
        "unknown key `minimum` in a Parameter",
    );
}

#[test]
fn rejects_a_wrongly_typed_key() {
    // `required: true` on a schema is the parameter form; a schema wants a list of names.
    let findings = findings_after(|y| {
        set(y, &["components", "schemas", "Widget"], "required", "true");
    });
    assert_single(
        &findings,
        "/components/schemas/Widget/required",
        "expected a list of strings",
    );
}

#[test]
fn rejects_an_unknown_extension() {
    let findings = findings_after(|y| set(y, POST, "x-limit", "[]"));
    assert_single(
        &findings,
        &format!("{OP}/x-limit"),
        "extension `x-limit` is not allowed",
    );
}

#[test]
fn rejects_a_malformed_limit_set() {
    let findings = findings_after(|y| {
        set(y, POST, "x-limits", "[{name: input, max_byte: 10}]");
    });
    assert_single(
        &findings,
        &format!("{OP}/x-limits"),
        "unknown field `max_byte`",
    );
}

#[test]
fn rejects_limits_on_a_value_the_field_does_not_take() {
    let findings = findings_after(|y| {
        set(
            y,
            POST,
            "x-limits",
            "[{name: input, applies_to: {field: size, values: [huge]}, max_bytes: 10}]",
        );
    });
    assert_single(
        &findings,
        &format!("{OP}/x-limits/0/applies_to"),
        "`huge` is not a value of `size`",
    );
}

#[test]
fn rejects_a_missing_operation_id() {
    let findings = findings_after(|y| remove(y, POST, "operationId"));
    assert_single(&findings, OP, "no `operationId`");
}

#[test]
fn rejects_a_missing_summary() {
    let findings = findings_after(|y| remove(y, POST, "summary"));
    assert_single(&findings, OP, "no `summary`");
}

#[test]
fn rejects_missing_tags() {
    let findings = findings_after(|y| remove(y, POST, "tags"));
    assert_single(&findings, OP, "no `tags`");
}

#[test]
fn rejects_an_undeclared_tag() {
    let findings = findings_after(|y| set(y, POST, "tags", "[gadgets]"));
    assert_single(
        &findings,
        &format!("{OP}/tags"),
        "tag `gadgets` is not declared",
    );
}

#[test]
fn rejects_a_default_response() {
    let findings = findings_after(|y| {
        set(
            y,
            &["paths", "/widgets", "post", "responses"],
            "default",
            "{$ref: '#/components/responses/Failure'}",
        )
    });
    assert_single(
        &findings,
        &format!("{OP}/responses/default"),
        "`default` response",
    );
}

#[test]
fn rejects_two_success_schemas() {
    let findings = findings_after(|y| {
        set(
            y,
            &["paths", "/widgets", "post", "responses"],
            "201",
            "{description: Made, content: {application/json: {schema: {$ref: '#/components/schemas/Failure'}}}}",
        )
    });
    assert_single(
        &findings,
        &format!("{OP}/responses"),
        "more than one success body shape",
    );
}

#[test]
fn rejects_two_error_schemas() {
    let findings = findings_after(|y| {
        set(
            y,
            &["paths", "/widgets", "post", "responses"],
            "5XX",
            "{description: Down, content: {application/json: {schema: {$ref: '#/components/schemas/Widget'}}}}",
        )
    });
    assert_single(
        &findings,
        &format!("{OP}/responses"),
        "more than one error body shape",
    );
}

#[test]
fn rejects_an_example_that_does_not_match() {
    let findings = findings_after(|y| {
        set(
            y,
            &[
                "paths",
                "/widgets",
                "post",
                "requestBody",
                "content",
                "application/json",
            ],
            "example",
            "{size: medium, count: 9}",
        )
    });
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let finding = &findings[0];
    assert_eq!(
        finding.pointer,
        format!("{OP}/requestBody/content/application~1json/example")
    );
    assert!(
        finding.reason.contains("example does not match"),
        "{finding}"
    );
    assert!(finding.reason.contains("\"medium\""), "{finding}");
    assert!(finding.reason.contains("9"), "{finding}");
}

#[test]
fn rejects_a_schema_example_with_bad_base64() {
    let findings = findings_after(|y| {
        set(
            y,
            &["components", "schemas", "Widget", "properties"],
            "image",
            "{type: string, format: byte, example: 'not base64!'}",
        )
    });
    assert_single(
        &findings,
        "/components/schemas/Widget/properties/image/example",
        "example does not match",
    );
}

#[test]
fn rejects_an_unresolved_ref() {
    let findings = findings_after(|y| {
        set(
            y,
            &["components", "schemas", "Widget", "properties"],
            "owner",
            "{$ref: '#/components/schemas/Owner'}",
        )
    });
    assert_single(
        &findings,
        "/components/schemas/Widget/properties/owner/$ref",
        "unresolved `$ref` `#/components/schemas/Owner`",
    );
}

#[test]
fn rejects_an_inline_body_schema() {
    let findings = findings_after(|y| {
        set(
            y,
            &[
                "paths",
                "/widgets",
                "post",
                "requestBody",
                "content",
                "application/json",
            ],
            "schema",
            "{type: object, properties: {size: {type: string, enum: [small, large]}}}",
        )
    });
    assert_single(
        &findings,
        &format!("{OP}/requestBody/content/application~1json/schema"),
        "inline body schema",
    );
}

#[test]
fn rejects_a_body_without_example() {
    let findings = findings_after(|y| remove(y, &["components", "schemas", "Widget"], "example"));
    assert_single(
        &findings,
        &format!("{OP}/responses/200/content/application~1json"),
        "body has no `example`",
    );
}

#[test]
fn rejects_a_duplicate_error_code() {
    let findings = findings_after(|y| {
        set(
            y,
            &["components", "schemas", "Failure"],
            "x-error-codes",
            "[{code: 1, name: A, status: 400, message: a}, {code: 1, name: B, status: 401, message: b}]",
        )
    });
    assert_single(
        &findings,
        "/components/schemas/Failure/x-error-codes",
        "lists 1 twice",
    );
}

#[test]
fn rejects_an_inline_enum_in_an_answer() {
    let findings = findings_after(|y| {
        set(
            y,
            &["components", "schemas", "Widget", "properties"],
            "kind",
            "{type: string, enum: [a, b]}",
        )
    });
    assert_single(
        &findings,
        "/components/schemas/Widget/properties/kind",
        "an enum in an answer must be a named component schema",
    );
}

#[test]
fn rejects_an_integer_enum_without_variant_names() {
    let findings =
        findings_after(|y| remove(y, &["components", "schemas", "Tier"], "x-enum-varnames"));
    assert_single(
        &findings,
        "/components/schemas/Tier",
        "integer enum `Tier` needs `x-enum-varnames`",
    );
    let inline = findings_after(|y| {
        set(
            y,
            &["components", "schemas", "WidgetRequest", "properties"],
            "level",
            "{type: integer, enum: [1, 2]}",
        )
    });
    assert_single(
        &inline,
        "/components/schemas/WidgetRequest/properties/level",
        "an integer enum must be a named component schema",
    );
}

#[test]
fn rejects_variant_names_that_do_not_match_the_values() {
    let findings = findings_after(|y| {
        set(
            y,
            &["components", "schemas", "Tier"],
            "x-enum-varnames",
            "[Basic]",
        )
    });
    assert_single(
        &findings,
        "/components/schemas/Tier/x-enum-varnames",
        "x-enum-varnames has 1 names for 2 enum values",
    );
}

#[test]
fn rejects_an_enum_used_in_requests_and_answers() {
    let findings = findings_after(|y| {
        set(
            y,
            &["components", "schemas", "WidgetRequest", "properties"],
            "state",
            "{$ref: '#/components/schemas/WidgetState'}",
        )
    });
    assert_single(
        &findings,
        "/components/schemas/WidgetState",
        "is used in requests and in answers",
    );
}

#[test]
fn rejects_a_default_the_schema_refuses() {
    let findings = findings_after(|y| {
        set(
            y,
            &[
                "components",
                "schemas",
                "WidgetRequest",
                "properties",
                "count",
            ],
            "default",
            "7",
        )
    });
    assert_single(
        &findings,
        "/components/schemas/WidgetRequest/properties/count/default",
        "default does not match its schema",
    );
}

#[test]
fn rejects_feature_operations_named_outside_their_roles() {
    let findings = findings_after(|y| {
        let tags = at(y, &["tags"]).as_sequence_mut().unwrap();
        tags[0]
            .as_mapping_mut()
            .unwrap()
            .insert("x-feature".into(), "widget".into());
    });
    let reasons: Vec<&str> = findings.iter().map(|f| f.reason.as_str()).collect();
    assert!(
        reasons.iter().any(|r| r
            .contains("operation `make_widget` of feature `widget` must be named `widget_<role>`")),
        "{findings:#?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("feature `widget` has no `run_task` operation")),
        "{findings:#?}"
    );
}

#[test]
fn rejects_malformed_usage_extensions() {
    let costs = findings_after(|y| set(y, POST, "x-cost", "[{units: 2, per: month}]"));
    assert_single(&costs, &format!("{OP}/x-cost"), "per `month` is not one of");
    let polling = findings_after(|y| {
        set(
            y,
            POST,
            "x-polling",
            "[{after: nowhere, lost_after_seconds: 10}]",
        )
    });
    assert_single(
        &polling,
        &format!("{OP}/x-polling/0/after"),
        "`nowhere` is not an operation of this spec",
    );
    let rates = findings_after(|y| {
        set(
            y,
            &[],
            "x-rate-limits",
            "[{requests: 0, seconds: 60, per: ip}]",
        )
    });
    assert_single(
        &rates,
        "/x-rate-limits",
        "requests and seconds must be positive",
    );
    let retention = findings_after(|y| set(y, &[], "x-retention", "{results_seconds: 0}"));
    assert_single(&retention, "/x-retention", "every period must be positive");
    let empty = findings_after(|y| set(y, &[], "x-retention", "{}"));
    assert_single(&empty, "/x-retention", "states no period");
    let formats = findings_after(|y| {
        set(
            y,
            POST,
            "x-result-formats",
            "{formats: [png, .WebP], x-source: inferred}",
        )
    });
    assert_single(
        &formats,
        &format!("{OP}/x-result-formats"),
        "`.WebP` must be a lowercase extension without a dot",
    );
    let none = findings_after(|y| set(y, POST, "x-result-formats", "{formats: []}"));
    assert_single(&none, &format!("{OP}/x-result-formats"), "names no format");
    assert_eq!(
        findings_after(|y| set(y, POST, "x-result-formats", "{formats: [png, webp]}")),
        vec![],
        "a well-formed list passes"
    );
    let lifetime = findings_after(|y| set(y, POST, "x-token-lifetime-seconds", "-5"));
    assert_single(
        &lifetime,
        &format!("{OP}/x-token-lifetime-seconds"),
        "must be a positive whole number",
    );
    let codes = findings_after(|y| {
        set(
            y,
            &["components", "schemas", "Failure"],
            "x-error-codes",
            "[{code: 1, name: bad_name, status: 400, message: m}]",
        )
    });
    assert_single(
        &codes,
        "/components/schemas/Failure/x-error-codes",
        "must be PascalCase",
    );
    let kinds = findings_after(|y| {
        set(
            y,
            &["components", "schemas", "Failure"],
            "x-error-codes",
            "[{code: 1, name: Bad, status: 400, message: m, kind: fatal}]",
        )
    });
    assert_single(
        &kinds,
        "/components/schemas/Failure/x-error-codes",
        "kind `fatal` of 1 is not one of",
    );
}

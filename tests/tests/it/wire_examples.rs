//! Every JSON body example in the specs, passed through the generated type of its body: requests
//! show the exact JSON the clients put on the wire, responses show that the documented bodies
//! deserialize into the generated types without losing a field.

use pixmill_spec::ExampleRoundTrip;
use serde_json::Value;

/// Whether everything in `expected` is also in `actual` (extra defaults in `actual` are fine).
fn contains(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => e
            .iter()
            .all(|(key, value)| a.get(key).is_some_and(|got| contains(got, value))),
        (Value::Array(a), Value::Array(e)) => {
            a.len() == e.len() && a.iter().zip(e).all(|(got, want)| contains(got, want))
        }
        (Value::Number(a), Value::Number(e)) => a == e || a.as_f64() == e.as_f64(),
        _ => actual == expected,
    }
}

fn render(round_trips: &[ExampleRoundTrip]) -> String {
    let mut out = String::new();
    for trip in round_trips {
        let wire = match &trip.wire {
            Ok(json) => serde_json::to_string_pretty(json).expect("JSON values serialize"),
            Err(error) => format!("ERROR: {error}"),
        };
        out.push_str(&format!(
            "== {} {} ({})\n{wire}\n\n",
            trip.operation_id, trip.role, trip.type_name
        ));
    }
    out
}

fn check(provider: &str, round_trips: Vec<ExampleRoundTrip>) {
    assert!(!round_trips.is_empty(), "{provider} has no examples");
    for trip in &round_trips {
        let wire = trip.wire.as_ref().unwrap_or_else(|e| {
            panic!(
                "{provider} {} {}: example does not deserialize into {}: {e}",
                trip.operation_id, trip.role, trip.type_name
            )
        });
        assert!(
            contains(wire, &trip.example),
            "{provider} {} {}: {} lost part of the example\nexample: {}\nwire:    {}",
            trip.operation_id,
            trip.role,
            trip.type_name,
            trip.example,
            wire
        );
    }
    insta::assert_snapshot!(format!("wire_{provider}"), render(&round_trips));
}

#[test]
fn hotpot_examples_round_trip() {
    check("hotpot", pixmill_hotpot_api::spec_examples::round_trips());
}

#[test]
fn hitpaw_examples_round_trip() {
    check("hitpaw", pixmill_hitpaw_api::spec_examples::round_trips());
}

#[test]
fn segmind_examples_round_trip() {
    check("segmind", pixmill_segmind_api::spec_examples::round_trips());
}

#[test]
fn perfect_examples_round_trip() {
    check("perfect", pixmill_perfect_api::spec_examples::round_trips());
}

#[test]
fn perfect_v2_examples_round_trip() {
    check(
        "perfect-v2",
        pixmill_perfect_v2_api::spec_examples::round_trips(),
    );
}

#[test]
fn containment_detects_a_lost_field() {
    let example = serde_json::json!({"a": 1, "b": {"c": [1, 2]}});
    assert!(contains(
        &serde_json::json!({"a": 1, "b": {"c": [1, 2]}, "d": 0}),
        &example
    ));
    assert!(!contains(
        &serde_json::json!({"a": 1, "b": {"c": [1]}}),
        &example
    ));
    assert!(!contains(
        &serde_json::json!({"b": {"c": [1, 2]}}),
        &example
    ));
}

/// Every answer example holding an enum value also comes back with each such value replaced by
/// one the spec does not list: the generated types keep it and serialize it back unchanged.
#[test]
fn undocumented_answer_enum_values_round_trip() {
    for (provider, round_trips, expected) in [
        (
            "hitpaw",
            pixmill_hitpaw_api::spec_examples::round_trips(),
            1,
        ),
        (
            "perfect",
            pixmill_perfect_api::spec_examples::round_trips(),
            4,
        ),
    ] {
        let undocumented: Vec<_> = round_trips
            .iter()
            .filter(|trip| trip.role.ends_with("with undocumented enum values"))
            .collect();
        assert_eq!(undocumented.len(), expected, "{provider}");
        for trip in undocumented {
            let text = trip.example.to_string();
            assert!(text.contains("undocumented_value"), "{text}");
            assert_eq!(
                trip.wire.as_ref().ok(),
                Some(&trip.example),
                "{provider} {}",
                trip.operation_id
            );
        }
    }
}

//! Property tests: arbitrary JSON, mutated spec examples and arbitrary bytes, fed to every
//! generated answer type and to the facade's own parsing. Nothing a server sends may panic.
//!
//! A few hundred cases run with the suite. For a long run:
//! `PIXMILL_FUZZ_CASES=100000 cargo test --release -p pixmill-tests --test it fuzz_parsing`.

use proptest::prelude::*;
use serde_json::Value;

fn cases() -> u32 {
    std::env::var("PIXMILL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Any JSON value, with the strings and numbers answers tend to carry.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "\\PC{0,24}".prop_map(Value::String),
        prop_oneof![
            Just("running"),
            Just("success"),
            Just("error"),
            Just("COMPLETED"),
            Just("ERROR"),
            Just(""),
            Just("=="),
            Just("data:image/png;base64,"),
            Just("iVBORw0KGgo="),
        ]
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    "[a-z_]{1,12}",
                    Just("status".to_string()),
                    Just("result".to_string()),
                    Just("data".to_string()),
                    Just("code".to_string()),
                    Just("error".to_string()),
                ],
                inner,
                0..6
            )
            .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Every answer example of every spec.
fn examples() -> Vec<Value> {
    [
        pixmill_hotpot_api::spec_examples::round_trips(),
        pixmill_hitpaw_api::spec_examples::round_trips(),
        pixmill_segmind_api::spec_examples::round_trips(),
        pixmill_perfect_api::spec_examples::round_trips(),
    ]
    .into_iter()
    .flatten()
    .filter(|trip| trip.role.starts_with("response"))
    .map(|trip| trip.example)
    .collect()
}

/// Replaces the node at `path` (indices into objects and arrays, wrapping) with `replacement`.
fn mutate(value: &mut Value, path: &[usize], replacement: Value) {
    match (path.split_first(), value) {
        (Some((step, rest)), Value::Object(map)) if !map.is_empty() => {
            let key = map.keys().nth(step % map.len()).cloned().expect("a key");
            mutate(
                map.get_mut(&key).expect("the key's value"),
                rest,
                replacement,
            );
        }
        (Some((step, rest)), Value::Array(items)) if !items.is_empty() => {
            let len = items.len();
            mutate(&mut items[step % len], rest, replacement);
        }
        (_, node) => *node = replacement,
    }
}

fn parse_everywhere(json: &Value) -> usize {
    pixmill_hotpot_api::spec_examples::parse_as_every_answer(json)
        + pixmill_hitpaw_api::spec_examples::parse_as_every_answer(json)
        + pixmill_segmind_api::spec_examples::parse_as_every_answer(json)
        + pixmill_perfect_api::spec_examples::parse_as_every_answer(json)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_json_never_panics_a_generated_type(json in any_json()) {
        let _ = parse_everywhere(&json);
    }

    #[test]
    fn mutated_examples_never_panic_a_generated_type(
        pick in any::<usize>(),
        path in prop::collection::vec(any::<usize>(), 0..6),
        replacement in any_json(),
    ) {
        let examples = examples();
        let mut example = examples[pick % examples.len()].clone();
        mutate(&mut example, &path, replacement);
        let _ = parse_everywhere(&example);
    }

    #[test]
    fn arbitrary_bytes_never_panic_a_generated_type(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(json) = serde_json::from_slice::<Value>(&bytes) {
            let _ = parse_everywhere(&json);
        }
    }
}

#[test]
fn the_examples_themselves_parse() {
    // The mutations start from valid answers: at least one type accepts each.
    for example in examples() {
        assert!(parse_everywhere(&example) > 0, "{example}");
    }
}

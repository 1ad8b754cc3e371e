//! Reading JSON request bodies, so each provider can answer a bad field with its own documented
//! error instead of a generic extractor rejection.
//!
//! What a body may hold comes from the spec through the generated request types: a body is
//! checked by deserializing it into its type ([`typed`], [`conform`]). Two rules sit on top,
//! because a deserialization error names no field:
//!
//! - `null` is refused wherever it appears. None of the specs the sandbox serves marks a request
//!   field `nullable` (the workspace tests check this), and a generated type would read a `null`
//!   optional field as absent.
//! - An empty string that the type refuses (a `minLength` of 1) is named, with a message that
//!   says it is empty.

use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

pub(crate) type Object = Map<String, Value>;

/// Most empty strings of one body tried when naming the one at fault; each try deserializes
/// the body again, so a body of many empty strings must not cost quadratic time.
const MAX_EMPTY_STRINGS_TRIED: usize = 32;

/// The body as the spec's request type `T`.
pub(crate) fn typed<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    typed_object(object(bytes)?)
}

/// A body already read as an object, as the spec's request type `T`.
pub(crate) fn typed_object<T: DeserializeOwned>(object: Object) -> Result<T, String> {
    let value = Value::Object(object);
    refuse_null(&value)?;
    T::deserialize(&value).map_err(|error| {
        name_empty_string(&value, error.to_string(), |v| {
            T::deserialize(v).map(drop).map_err(|e| e.to_string())
        })
    })
}

/// Checks `value` with `check`, a deserialization into a generated request type, naming a
/// `null` or a refused empty string when one is at fault.
pub(crate) fn conform(
    value: &Value,
    check: impl Fn(&Value) -> Result<(), String>,
) -> Result<(), String> {
    refuse_null(value)?;
    check(value).map_err(|error| name_empty_string(value, error, check))
}

/// Refuses the first `null` in `value`.
fn refuse_null(value: &Value) -> Result<(), String> {
    let mut found = None;
    walk(value, &mut Vec::new(), &mut |steps, leaf| {
        if leaf.is_null() && found.is_none() {
            found = Some(display(steps));
        }
    });
    match found {
        Some(path) => Err(format!("`{path}` must not be null")),
        None => Ok(()),
    }
}

/// Names the empty string that made `check` fail with `error`: the first whose replacement by
/// a one-character string changes the outcome. Without one, `error` stands.
fn name_empty_string(
    value: &Value,
    error: String,
    check: impl Fn(&Value) -> Result<(), String>,
) -> String {
    let mut empty = Vec::new();
    walk(value, &mut Vec::new(), &mut |steps, leaf| {
        if leaf.as_str() == Some("") && empty.len() < MAX_EMPTY_STRINGS_TRIED {
            empty.push((display(steps), pointer(steps)));
        }
    });
    for (path, pointer) in empty {
        let mut filled = value.clone();
        if let Some(leaf) = filled.pointer_mut(&pointer) {
            *leaf = Value::String("x".into());
        }
        if check(&filled).err().as_ref() != Some(&error) {
            return format!("`{path}` must not be empty");
        }
    }
    error
}

/// One step from a JSON value to a child.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Visits every leaf (neither object nor array) with the steps leading to it.
fn walk<'a>(
    value: &'a Value,
    steps: &mut Vec<Step<'a>>,
    visit: &mut impl FnMut(&[Step<'a>], &'a Value),
) {
    match value {
        Value::Object(fields) => {
            for (name, child) in fields {
                steps.push(Step::Key(name));
                walk(child, steps, visit);
                steps.pop();
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                steps.push(Step::Index(index));
                walk(child, steps, visit);
                steps.pop();
            }
        }
        leaf => visit(steps, leaf),
    }
}

/// A path as a reader writes it: `payload.file_sets.src_ids[0]`.
fn display(steps: &[Step<'_>]) -> String {
    let mut path = String::new();
    for step in steps {
        match step {
            Step::Key(name) if path.is_empty() => path.push_str(name),
            Step::Key(name) => {
                path.push('.');
                path.push_str(name);
            }
            Step::Index(index) => path.push_str(&format!("[{index}]")),
        }
    }
    path
}

/// A path as a JSON pointer: `/payload/file_sets/src_ids/0`.
fn pointer(steps: &[Step<'_>]) -> String {
    steps
        .iter()
        .map(|step| match step {
            Step::Key(name) => format!("/{}", name.replace('~', "~0").replace('/', "~1")),
            Step::Index(index) => format!("/{index}"),
        })
        .collect()
}

/// The body as a JSON object.
pub(crate) fn object(bytes: &[u8]) -> Result<Object, String> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err("the request body must be a JSON object".into()),
        Err(error) => Err(format!("the request body is not valid JSON: {error}")),
    }
}

fn present<'a>(object: &'a Object, name: &str) -> Option<&'a Value> {
    object.get(name).filter(|v| !v.is_null())
}

pub(crate) fn string(object: &Object, name: &str) -> Result<Option<String>, String> {
    match present(object, name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("`{name}` must be a string")),
    }
}

/// A string field that must be present. Whether it may be empty is the spec's to say, through
/// [`typed`] or [`conform`].
pub(crate) fn required_string(object: &Object, name: &str) -> Result<String, String> {
    string(object, name)?.ok_or_else(|| format!("`{name}` is required"))
}

pub(crate) fn integer(object: &Object, name: &str) -> Result<Option<i64>, String> {
    match present(object, name) {
        None => Ok(None),
        Some(value) => value
            .as_i64()
            .map(Some)
            .ok_or_else(|| format!("`{name}` must be an integer")),
    }
}

pub(crate) fn required_integer(object: &Object, name: &str) -> Result<i64, String> {
    integer(object, name)?.ok_or_else(|| format!("`{name}` is required"))
}

pub(crate) fn array<'a>(object: &'a Object, name: &str) -> Result<Option<&'a Vec<Value>>, String> {
    match present(object, name) {
        None => Ok(None),
        Some(Value::Array(items)) => Ok(Some(items)),
        Some(_) => Err(format!("`{name}` must be an array")),
    }
}

pub(crate) fn string_list(object: &Object, name: &str) -> Result<Option<Vec<String>>, String> {
    let Some(items) = array(object, name)? else {
        return Ok(None);
    };
    items
        .iter()
        .map(|item| {
            item.as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("`{name}` must hold strings"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Decodes bare base64 (no `data:` prefix).
pub(crate) fn base64(text: &str, name: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| format!("`{name}` is not valid base64"))
}

pub(crate) fn encode_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use pixmill_hitpaw_api::constants::photo_enhancer_request::MODEL_NAME_VALUES;
    use pixmill_hitpaw_api::constants::presign_put_request::EXPIRE_SECONDS_DEFAULT;
    use pixmill_hitpaw_api::types::{PhotoEnhancerRequest, PresignPutRequest};
    use pixmill_perfect_api::features::Feature;
    use serde_json::json;

    use super::*;

    fn presign(body: Value) -> Result<PresignPutRequest, String> {
        typed(body.to_string().as_bytes())
    }

    #[test]
    fn an_empty_string_the_spec_refuses_is_named() {
        let error = presign(json!({ "filename": "", "content_type": "image/png" })).unwrap_err();
        assert_eq!(error, "`filename` must not be empty");
        // Nested, with the other fields valid or not.
        let body = json!({ "files": [{ "content_type": "image/png", "file_name": "" }] });
        let check = |v: &Value| Feature::Enhance.check_create_file_body(v);
        assert_eq!(
            conform(&body, check).unwrap_err(),
            "`files[0].file_name` must not be empty"
        );
    }

    #[test]
    fn an_empty_string_the_spec_allows_is_not_blamed_for_another_fault() {
        // `img_url` has no `minLength`; the model is what is wrong.
        let body = json!({ "model_name": "no_such_model", "img_url": "", "extension": ".png" });
        let error = typed::<PhotoEnhancerRequest>(body.to_string().as_bytes()).unwrap_err();
        assert!(!error.contains("empty"), "{error}");
        assert!(error.contains("no_such_model"), "{error}");
        let model = MODEL_NAME_VALUES[0];
        let body = json!({ "model_name": model, "img_url": "", "extension": ".png" });
        let request = typed::<PhotoEnhancerRequest>(body.to_string().as_bytes());
        assert_eq!(request.expect("valid").img_url, "");
    }

    #[test]
    fn null_is_refused_even_where_a_field_is_optional() {
        let error = presign(json!({
            "filename": "a.png",
            "content_type": "image/png",
            "expire_seconds": null,
        }))
        .unwrap_err();
        assert_eq!(error, "`expire_seconds` must not be null");
        let body = json!({ "files": [{ "content_type": null, "file_name": "a.png" }] });
        let check = |v: &Value| Feature::Enhance.check_create_file_body(v);
        assert_eq!(
            conform(&body, check).unwrap_err(),
            "`files[0].content_type` must not be null"
        );
    }

    #[test]
    fn a_valid_body_passes() {
        let request =
            presign(json!({ "filename": "a.png", "content_type": "image/png" })).expect("valid");
        assert_eq!(request.expire_seconds, EXPIRE_SECONDS_DEFAULT);
    }

    #[test]
    fn paths_are_readable_and_pointers_escape() {
        let steps = [Step::Key("a/b"), Step::Index(2), Step::Key("c~d")];
        assert_eq!(display(&steps), "a/b[2].c~d");
        assert_eq!(pointer(&steps), "/a~1b/2/c~0d");
    }
}

//! Reading JSON request bodies field by field, so each provider can answer a bad field with its
//! own documented error instead of a generic extractor rejection.

use base64::Engine as _;
use serde_json::{Map, Value};

pub(crate) type Object = Map<String, Value>;

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

pub(crate) fn required_string(object: &Object, name: &str) -> Result<String, String> {
    match string(object, name)? {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(format!("`{name}` is required")),
    }
}

pub(crate) fn boolean(object: &Object, name: &str) -> Result<Option<bool>, String> {
    match present(object, name) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(format!("`{name}` must be true or false")),
    }
}

pub(crate) fn required_boolean(object: &Object, name: &str) -> Result<bool, String> {
    boolean(object, name)?.ok_or_else(|| format!("`{name}` is required"))
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

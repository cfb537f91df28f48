//! Reading JSON values of the expected shape, with errors naming the path and what was expected.

use super::path::Path;
use crate::error::{show, Error, Result};
use crate::query::{MAX_IDENTIFIER_BYTES, MAX_ITEMS};
use serde_json::{Map, Value};

/// A JSON scalar as the text PostgreSQL's input function will read.
pub fn scalar_text(v: &Value, path: Path<'_>) -> Result<String> {
    match v {
        Value::String(s) => {
            if s.contains('\0') {
                return Err(Error::invalid(path, "must not contain a NUL character"));
            }
            Ok(s.clone())
        }
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Err(Error::invalid(
            path,
            "is null; use the operators \"is null\" / \"is not null\" to test for NULL",
        )),
        other => Err(type_error(path, "a string, number or boolean", other)),
    }
}

/// A column, dimension or output name: a non-empty string of at most 63 bytes, no NUL.
pub fn parse_name(v: &Value, path: Path<'_>) -> Result<String> {
    check_name(as_str(v, path)?, path)
}

/// Joined columns are named `table.column`: up to a relation name, a dot and a column name.
const MAX_NAME_BYTES: usize = crate::query::MAX_SOURCE_BYTES + 1 + MAX_IDENTIFIER_BYTES;

pub fn check_name(s: &str, path: Path<'_>) -> Result<String> {
    let max = if s.contains('.') {
        MAX_NAME_BYTES
    } else {
        MAX_IDENTIFIER_BYTES
    };
    if s.is_empty() || s.len() > max || s.contains('\0') {
        return Err(Error::invalid(
            path,
            format!(
                "invalid name {}; expected 1 to {max} bytes without NUL",
                show(s)
            ),
        ));
    }
    Ok(s.to_string())
}

pub fn as_object<'a>(v: &'a Value, path: Path<'_>, what: &str) -> Result<&'a Map<String, Value>> {
    v.as_object().ok_or_else(|| type_error(path, what, v))
}

pub fn as_str<'a>(v: &'a Value, path: Path<'_>) -> Result<&'a str> {
    v.as_str().ok_or_else(|| type_error(path, "a string", v))
}

pub fn as_array<'a>(v: &'a Value, path: Path<'_>, min: usize) -> Result<&'a Vec<Value>> {
    let items = v
        .as_array()
        .ok_or_else(|| type_error(path, "an array", v))?;
    if items.len() < min || items.len() > MAX_ITEMS {
        return Err(Error::invalid(
            path,
            format!(
                "must have {min} to {MAX_ITEMS} entries, got {}",
                items.len()
            ),
        ));
    }
    Ok(items)
}

pub fn check_keys(obj: &Map<String, Value>, path: Path<'_>, allowed: &[&str]) -> Result<()> {
    for key in obj.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err(Error::invalid(
                path.key(key),
                format!(
                    "unknown key {}; expected one of {}",
                    show(key),
                    allowed.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

pub fn type_error(path: Path<'_>, expected: &str, got: &Value) -> Error {
    let kind = match got {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    Error::invalid(path, format!("expected {expected}, got {kind}"))
}

//! Reading numbers out of partner JSON (`serde_json::Value`) with the refusals the native
//! format gives: a count must be a whole number, a measure a finite number.

use serde_json::Value;
use stadtpuls_processing::Rejection;

use super::emit::malformed;

/// A whole number (`12` or `12.0`); anything else is `malformed`, naming `field`.
pub(crate) fn count(value: &Value, field: &str) -> Result<i64, Rejection> {
    if let Some(n) = value.as_i64() {
        return Ok(n);
    }
    match value.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
        _ => Err(malformed(format!(
            "`{field}` is {value}, not a whole number"
        ))),
    }
}

/// Text of a string value; anything else is `malformed`, naming `field`.
pub(crate) fn text<'v>(value: &'v Value, field: &str) -> Result<&'v str, Rejection> {
    value
        .as_str()
        .ok_or_else(|| malformed(format!("`{field}` is {value}, not a string")))
}

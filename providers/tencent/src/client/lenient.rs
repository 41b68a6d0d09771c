//! Lenient reading of Tencent's replies: numbers possibly as strings, unknown fields ignored,
//! optional fields absent or null.

use serde_json::Value;

use crate::error::TencentError;

/// An integer given as a JSON number or a numeric string.
pub(crate) fn as_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => {
            n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18).map(|f| f as i64))
        }
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A non-negative integer given as a JSON number or a numeric string.
pub(crate) fn as_u64(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64().or_else(|| as_i64(value).and_then(|i| u64::try_from(i).ok())),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Text: a string as is, null as empty, anything else as its JSON.
pub(crate) fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A field that must be there.
pub(crate) fn field<'a>(obj: &'a Value, name: &str) -> Result<&'a Value, TencentError> {
    match obj.get(name) {
        None | Some(Value::Null) => Err(TencentError::Decode(format!("no {name} in the answer"))),
        Some(v) => Ok(v),
    }
}

/// An optional field (absent and null are the same).
pub(crate) fn opt<'a>(obj: &'a Value, name: &str) -> Option<&'a Value> {
    obj.get(name).filter(|v| !v.is_null())
}

pub(crate) fn req_u64(obj: &Value, name: &str) -> Result<u64, TencentError> {
    let v = field(obj, name)?;
    as_u64(v).ok_or_else(|| TencentError::Decode(format!("{name}: expected an integer, got {v}")))
}

pub(crate) fn opt_u64(obj: &Value, name: &str) -> Result<Option<u64>, TencentError> {
    opt(obj, name)
        .map(|v| as_u64(v).ok_or_else(|| TencentError::Decode(format!("{name}: expected an integer, got {v}"))))
        .transpose()
}

pub(crate) fn opt_i64(obj: &Value, name: &str) -> Result<Option<i64>, TencentError> {
    opt(obj, name)
        .map(|v| as_i64(v).ok_or_else(|| TencentError::Decode(format!("{name}: expected an integer, got {v}"))))
        .transpose()
}

pub(crate) fn req_str(obj: &Value, name: &str) -> Result<String, TencentError> {
    match field(obj, name)? {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(TencentError::Decode(format!("{name}: expected a string, got {other}"))),
    }
}

/// An optional string; empty counts as absent.
pub(crate) fn opt_str(obj: &Value, name: &str) -> Option<String> {
    opt(obj, name).map(text).filter(|s| !s.is_empty())
}

/// A list: absent or null is empty; anything but an array is a decode error.
pub(crate) fn list<'a>(obj: &'a Value, name: &str) -> Result<&'a [Value], TencentError> {
    match opt(obj, name) {
        None => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(TencentError::Decode(format!("{name}: expected a list, got {other}"))),
    }
}

/// A flag given as a boolean, `0`/`1` or their strings; absent is false.
pub(crate) fn flag(obj: &Value, name: &str) -> bool {
    match opt(obj, name) {
        Some(Value::Bool(b)) => *b,
        Some(v) => as_i64(v).is_some_and(|i| i != 0),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_as_strings_and_absent_fields() {
        let v = json!({"a": "17", "b": 18, "c": null, "d": "x", "e": 1.0, "f": "1", "g": true});
        assert_eq!(req_u64(&v, "a").unwrap(), 17);
        assert_eq!(req_u64(&v, "b").unwrap(), 18);
        assert_eq!(req_u64(&v, "e").unwrap(), 1);
        assert!(req_u64(&v, "c").is_err());
        assert!(req_u64(&v, "d").is_err());
        assert_eq!(opt_u64(&v, "c").unwrap(), None);
        assert_eq!(opt_str(&v, "d").as_deref(), Some("x"));
        assert_eq!(req_str(&v, "b").unwrap(), "18");
        assert!(flag(&v, "f") && flag(&v, "g") && !flag(&v, "zz"));
        assert!(list(&v, "zz").unwrap().is_empty());
        assert!(list(&v, "d").is_err());
    }
}

//! NetEase types its answers loosely (numbers as strings, lists as JSON-encoded strings); these
//! helpers accept both shapes.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

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

/// `Option<i64>` from a number, a numeric string or null/absent.
pub(crate) fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let value = Option::<Value>::deserialize(d)?;
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            as_i64(&v).map(Some).ok_or_else(|| serde::de::Error::custom(format!("expected an integer, got {v}")))
        }
    }
}

/// `Option<bool>` from a boolean, `"true"`/`"false"`, `0`/`1` (as a number or a string), or
/// null/absent.
pub(crate) fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    let value = Option::<Value>::deserialize(d)?;
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b)),
        Some(v) => match (v.as_str().map(str::trim), as_i64(&v)) {
            (Some("true"), _) => Ok(Some(true)),
            (Some("false"), _) => Ok(Some(false)),
            (_, Some(0)) => Ok(Some(false)),
            (_, Some(1)) => Ok(Some(true)),
            _ => Err(serde::de::Error::custom(format!("expected a boolean, got {v}"))),
        },
    }
}

/// A `desc` as text: a string as is, anything else as its JSON (NetEase's `desc` is usually a
/// string, sometimes an object).
pub(crate) fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A string from a string or a number (message ids arrive as either).
pub(crate) fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!("expected a string or number, got {other}"))),
    }
}

/// A list of strings given as a JSON array or as a JSON-encoded array inside a string
/// (`"unregister":"[\"a\",\"b\"]"`); null or absent is empty.
pub(crate) fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let value = Option::<Value>::deserialize(d)?;
    let value = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(Vec::new()),
        Some(Value::String(s)) => serde_json::from_str(&s).map_err(serde::de::Error::custom)?,
        Some(v) => v,
    };
    match value {
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::String(s) => Ok(s),
                Value::Number(n) => Ok(n.to_string()),
                other => Err(serde::de::Error::custom(format!("expected accids, got {other}"))),
            })
            .collect(),
        other => Err(serde::de::Error::custom(format!("expected a list, got {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Deserialize)]
    struct Reply {
        #[serde(default, deserialize_with = "string_list")]
        unregister: Vec<String>,
        #[serde(default, deserialize_with = "opt_i64")]
        at: Option<i64>,
    }

    #[derive(Deserialize)]
    struct Flag {
        #[serde(default, deserialize_with = "opt_bool")]
        flag: Option<bool>,
    }

    #[test]
    fn booleans_in_every_shape() {
        let flag = |v: Value| serde_json::from_value::<Flag>(json!({ "flag": v })).map(|f| f.flag);
        assert_eq!(flag(json!(true)).unwrap(), Some(true));
        assert_eq!(flag(json!("false")).unwrap(), Some(false));
        assert_eq!(flag(json!(1)).unwrap(), Some(true));
        assert_eq!(flag(json!("0")).unwrap(), Some(false));
        assert_eq!(flag(Value::Null).unwrap(), None);
        assert!(flag(json!("maybe")).is_err());
        assert!(flag(json!(2)).is_err());
    }

    #[test]
    fn both_shapes_are_accepted() {
        let r: Reply = serde_json::from_value(json!({"unregister": "[\"a\", \"b\"]", "at": "17"})).unwrap();
        assert_eq!((r.unregister, r.at), (vec!["a".to_string(), "b".to_string()], Some(17)));
        let r: Reply = serde_json::from_value(json!({"unregister": ["c"], "at": 18})).unwrap();
        assert_eq!((r.unregister, r.at), (vec!["c".to_string()], Some(18)));
        let r: Reply = serde_json::from_value(json!({})).unwrap();
        assert_eq!((r.unregister, r.at), (vec![], None));
        assert!(serde_json::from_value::<Reply>(json!({"at": "soon"})).is_err());
    }
}

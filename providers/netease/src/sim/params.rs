//! Form parameters of a NetEase call and the JSON replies, with NetEase's result codes.

use std::collections::HashMap;
use std::str::FromStr;

use serde_json::{Map, Value};

use crate::validate::{self, ACCID_MAX};

/// A refusal: NetEase's `{"code":..., "desc":...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NimError {
    pub code: u16,
    pub desc: String,
}

pub(crate) type NimResult<T> = Result<T, NimError>;

impl NimError {
    pub fn new(code: u16, desc: impl Into<String>) -> Self {
        Self { code, desc: desc.into() }
    }

    /// 414, NetEase's "parameter error".
    pub fn param(desc: impl Into<String>) -> Self {
        Self::new(414, desc)
    }

    /// 414 for an account that must exist but does not.
    pub fn not_registered(param: &str) -> Self {
        Self::param(format!("{param} not register"))
    }

    /// 404, "object not found".
    pub fn not_found(desc: impl Into<String>) -> Self {
        Self::new(404, desc)
    }
}

impl From<imbridge_provider::InvalidField> for NimError {
    fn from(e: imbridge_provider::InvalidField) -> Self {
        Self::param(e.to_string())
    }
}

/// A JSON reply: `{"code":200, ...}` plus endpoint-specific fields.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply(Map<String, Value>);

impl Reply {
    pub fn ok() -> Self {
        Self::with_code(200)
    }

    fn with_code(code: u16) -> Self {
        let mut map = Map::new();
        map.insert("code".to_owned(), Value::from(code));
        Self(map)
    }

    /// Adds a top-level field, e.g. `info` or `uinfos`.
    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.0.insert(key.to_owned(), value);
        self
    }

    pub fn code(&self) -> u16 {
        self.0.get("code").and_then(Value::as_u64).and_then(|c| u16::try_from(c).ok()).unwrap_or(500)
    }

    pub fn is_ok(&self) -> bool {
        self.code() == 200
    }

    pub fn into_json(self) -> Value {
        Value::Object(self.0)
    }
}

impl From<NimError> for Reply {
    fn from(e: NimError) -> Self {
        Self::with_code(e.code).with("desc", Value::String(e.desc))
    }
}

/// The decoded form body. A repeated field keeps its last value.
#[derive(Debug, Default)]
pub(crate) struct Params(HashMap<String, String>);

impl Params {
    pub fn parse(body: &[u8]) -> NimResult<Self> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|_| NimError::param("body is not application/x-www-form-urlencoded"))?;
        Ok(Self(pairs.into_iter().collect()))
    }

    /// The raw value, if present (possibly empty).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A present, non-empty value.
    pub fn required(&self, name: &str) -> NimResult<&str> {
        match self.get(name) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(NimError::param(format!("{name} is missing"))),
        }
    }

    /// A required value of at most `max` characters.
    pub fn required_len(&self, name: &str, max: usize) -> NimResult<&str> {
        let value = self.required(name)?;
        validate::check_len(name, value, max)?;
        Ok(value)
    }

    /// An optional value of at most `max` characters.
    pub fn optional_len(&self, name: &str, max: usize) -> NimResult<Option<&str>> {
        let value = self.get(name);
        validate::check_opt_len(name, value, max)?;
        Ok(value)
    }

    /// An optional value of at most `max` bytes.
    pub fn optional_bytes(&self, name: &str, max: usize) -> NimResult<Option<&str>> {
        let value = self.get(name);
        if let Some(v) = value {
            validate::check_bytes(name, v, max)?;
        }
        Ok(value)
    }

    /// An optional JSON document of at most `max` characters (empty counts as absent).
    pub fn optional_json(&self, name: &str, max: usize) -> NimResult<Option<&str>> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) => {
                validate::check_json(name, v, max)?;
                Ok(Some(v))
            }
        }
    }

    /// An optional number (empty counts as absent).
    pub fn optional_num<T: FromStr>(&self, name: &str) -> NimResult<Option<T>> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) => v.trim().parse().map(Some).map_err(|_| NimError::param(format!("{name} is not a number"))),
        }
    }

    /// An optional `true`/`false` flag (NetEase sends them as strings).
    pub fn optional_bool(&self, name: &str) -> NimResult<Option<bool>> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(_) => Err(NimError::param(format!("{name} must be true or false"))),
        }
    }

    /// A required accid, lowercased and checked like NetEase does.
    pub fn accid(&self, name: &str) -> NimResult<String> {
        let raw = self.required(name)?;
        Ok(validate::normalize_accid(name, raw)?)
    }

    /// A required JSON array of strings, e.g. `toAccids=["a","b"]`, of at most `max` items;
    /// more answers `over_limit`.
    pub fn string_list(&self, name: &str, max: usize, over_limit: NimError) -> NimResult<Vec<String>> {
        let raw = self.required(name)?;
        let items: Vec<Value> =
            serde_json::from_str(raw).map_err(|_| NimError::param(format!("{name} must be a JSON array")))?;
        if items.len() > max {
            return Err(over_limit);
        }
        items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err(NimError::param(format!("{name} must hold strings"))),
            })
            .collect()
    }
}

/// Lowercases an accid from a list; `None` when it cannot be a NetEase accid at all.
pub(crate) fn list_accid(raw: &str) -> Option<String> {
    let lower = raw.to_ascii_lowercase();
    let valid = !lower.is_empty()
        && lower.chars().count() <= ACCID_MAX
        && lower.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_@.-".contains(c));
    valid.then_some(lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_are_decoded_and_checked() {
        let p = Params::parse(b"accid=Buyer_01&name=%E5%BC%A0%E4%B8%89&gender=x&empty=").unwrap();
        assert_eq!(p.accid("accid").unwrap(), "buyer_01");
        assert_eq!(p.get("name"), Some("张三"));
        assert_eq!(p.optional_num::<u8>("gender").unwrap_err().code, 414);
        assert_eq!(p.required("empty").unwrap_err().desc, "empty is missing");
        assert_eq!(p.optional_len("name", 1).unwrap_err().code, 414);
        assert!(p.optional_len("name", 2).unwrap().is_some());
    }

    #[test]
    fn lists_are_json_arrays_of_strings() {
        let p = Params::parse(b"to=%5B%22a%22%2C%22b%22%5D&bad=%5B1%5D&text=a").unwrap();
        let over = NimError::new(419, "quantity over limit");
        assert_eq!(p.string_list("to", 2, over.clone()).unwrap(), ["a", "b"]);
        assert_eq!(p.string_list("to", 1, over.clone()).unwrap_err().code, 419);
        assert_eq!(p.string_list("bad", 5, over.clone()).unwrap_err().code, 414);
        assert_eq!(p.string_list("text", 5, over).unwrap_err().code, 414);
    }

    #[test]
    fn replies_carry_the_code() {
        let reply: Reply = NimError::param("checksum error").into();
        assert_eq!(reply.code(), 414);
        assert_eq!(reply.into_json(), serde_json::json!({"code": 414, "desc": "checksum error"}));
        assert!(Reply::ok().is_ok());
    }
}

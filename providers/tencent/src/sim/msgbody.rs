//! `MsgBody`: the element array every message carries, checked the same way for REST sends and
//! simulated clients.

use serde_json::Value;

/// Element types Tencent documents; only text and custom elements are checked field by field.
const KNOWN: &[&str] = &[
    "TIMTextElem",
    "TIMCustomElem",
    "TIMFaceElem",
    "TIMLocationElem",
    "TIMImageElem",
    "TIMSoundElem",
    "TIMVideoFileElem",
    "TIMFileElem",
];

/// Why `body` is not a valid `MsgBody`, if it is not.
pub(crate) fn problem(body: &Value) -> Option<String> {
    let Some(elems) = body.as_array() else {
        return Some("MsgBody must be an array".to_owned());
    };
    if elems.is_empty() {
        return Some("MsgBody must not be empty".to_owned());
    }
    for (i, elem) in elems.iter().enumerate() {
        let ty = elem.get("MsgType").and_then(Value::as_str).unwrap_or_default();
        if !KNOWN.contains(&ty) {
            return Some(format!("MsgBody[{i}].MsgType: unknown type {ty:?}"));
        }
        let Some(content) = elem.get("MsgContent").and_then(Value::as_object) else {
            return Some(format!("MsgBody[{i}].MsgContent must be an object"));
        };
        let string = |k: &str| content.get(k).is_none_or(Value::is_string);
        match ty {
            "TIMTextElem" if !content.get("Text").is_some_and(Value::is_string) => {
                return Some(format!("MsgBody[{i}]: TIMTextElem needs a string Text"));
            }
            "TIMCustomElem" if !["Data", "Desc", "Ext", "Sound"].iter().all(|k| string(k)) => {
                return Some(format!("MsgBody[{i}]: TIMCustomElem's Data, Desc, Ext and Sound are strings"));
            }
            _ => {}
        }
    }
    None
}

/// Whether the body holds a custom element (a notification, for `/__sim/notifications`).
pub(crate) fn has_custom(body: &Value) -> bool {
    body.as_array().is_some_and(|a| a.iter().any(|e| e.get("MsgType").and_then(Value::as_str) == Some("TIMCustomElem")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn bodies_are_checked_element_by_element() {
        assert!(problem(&json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}}])).is_none());
        assert!(problem(&json!([{"MsgType": "TIMCustomElem", "MsgContent": {"Data": "{}"}}])).is_none());
        assert!(problem(&json!([{"MsgType": "TIMImageElem", "MsgContent": {"UUID": "x"}}])).is_none());
        assert!(problem(&json!([])).is_some());
        assert!(problem(&json!({"MsgType": "TIMTextElem"})).is_some());
        assert!(problem(&json!([{"MsgType": "TIMTextElem", "MsgContent": {}}])).is_some());
        assert!(problem(&json!([{"MsgType": "TIMCustomElem", "MsgContent": {"Data": 1}}])).is_some());
        assert!(problem(&json!([{"MsgType": "TIMMagicElem", "MsgContent": {}}])).is_some());
        assert!(has_custom(&json!([{"MsgType": "TIMCustomElem", "MsgContent": {}}])));
        assert!(!has_custom(&json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": ""}}])));
    }
}

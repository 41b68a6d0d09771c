//! Tencent callbacks (third-party callbacks, shared/providers/tencent.md §3): verification of the
//! signed query string, and lenient parsing of the body into provider-neutral events.
//!
//! The provider delegates straight here: `verify_callback` → [`verify`], `parse_callback` →
//! [`parse`], `callback_ack` → [`ack`].

mod parse;
mod verify;

use imbridge_provider::Ack;
use serde_json::{Map, Value};

pub use parse::{parse, parse_with_query};
pub use verify::verify;

/// The key of the `CloudCustomData` object that marks a message imbridge sent as a notification.
pub const NOTIFICATION_MARKER_KEY: &str = "imbridge";

/// The value of [`NOTIFICATION_MARKER_KEY`] on a notification: `{"imbridge":"notification",...}`.
pub const NOTIFICATION_MARKER: &str = "notification";

/// The `CloudCustomData` to send a notification with, so that its `C2C.CallbackAfterSendMsg` copy
/// parses as [`imbridge_provider::Conversation::P2pSystem`] (not unread) rather than a chat message:
/// `{"imbridge":"notification"}`, plus `"extra":"<extra>"` (kept as a string, byte for byte) when
/// the caller has data of its own to carry.
pub fn notification_cloud_data(extra: Option<&str>) -> String {
    let mut data = Map::new();
    data.insert(NOTIFICATION_MARKER_KEY.into(), Value::from(NOTIFICATION_MARKER));
    if let Some(extra) = extra {
        data.insert("extra".into(), Value::from(extra));
    }
    Value::Object(data).to_string()
}

/// Whether a message's `CloudCustomData` carries imbridge's notification marker. Tencent passes
/// `CloudCustomData` as a string (JSON text here); an object is accepted too.
pub(crate) fn is_notification(cloud_custom_data: Option<&Value>) -> bool {
    let parsed;
    let data = match cloud_custom_data {
        Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
            Ok(value) => {
                parsed = value;
                &parsed
            }
            Err(_) => return false,
        },
        Some(value) => value,
        None => return false,
    };
    data.get(NOTIFICATION_MARKER_KEY).and_then(Value::as_str) == Some(NOTIFICATION_MARKER)
}

/// Tencent's acknowledgement of a callback (HTTP 200). For "after" callbacks Tencent ignores its
/// content; it is sent only once the event is durable.
pub fn ack() -> Ack {
    Ack { content_type: "application/json", body: r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}"# }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notification_cloud_data_round_trips_through_the_marker_check() {
        let plain = notification_cloud_data(None);
        assert_eq!(plain, r#"{"imbridge":"notification"}"#);
        assert!(is_notification(Some(&Value::String(plain))));
        let with_extra = notification_cloud_data(Some(r#"{"order":"42"}"#));
        let value: Value = serde_json::from_str(&with_extra).unwrap();
        assert_eq!(value["extra"], r#"{"order":"42"}"#);
        assert!(is_notification(Some(&Value::String(with_extra))));
    }

    #[test]
    fn other_cloud_data_is_not_a_notification() {
        for data in ["your cloud custom data", r#"{"imbridge":"other"}"#, "{}", "", r#"["imbridge"]"#] {
            assert!(!is_notification(Some(&Value::String(data.into()))), "{data}");
        }
        assert!(!is_notification(None));
        assert!(!is_notification(Some(&Value::from(1))));
    }

    #[test]
    fn ack_is_tencents_ok_envelope() {
        let ack = ack();
        assert_eq!(ack.content_type, "application/json");
        let body: Value = serde_json::from_str(ack.body).unwrap();
        assert_eq!(body, serde_json::json!({"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""}));
    }
}

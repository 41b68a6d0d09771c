//! The callback bodies, shaped like NetEase's (shared/providers/netease.md §2 and §4): values are
//! strings as in NetEase's samples, except read-receipt timestamps, which are numbers there too.

use serde_json::{json, Value};

use crate::sim::model::{NotificationRecord, SentMessage};

/// What REST-originated events say about their "client".
const REST_CLIENT: &str = "REST";
const CLIENT_IP: &str = "127.0.0.1";

/// eventType 1 for a chat message (convType PERSON or TEAM).
pub(crate) fn chat_message(m: &SentMessage, from_nick: &str) -> Value {
    let mut event = json!({
        "eventType": "1",
        "convType": m.conv_type,
        "to": m.to,
        "fromAccount": m.from,
        "fromClientType": m.from_client_type,
        "fromDeviceId": m.from_device_id,
        "fromNick": from_nick,
        "msgTimestamp": m.timestamp.to_string(),
        "msgType": m.msg_type,
        "body": m.body,
        "attach": m.attach,
        "msgidClient": m.msgid_client,
        "msgidServer": m.msgid_server.to_string(),
        "resendFlag": "0",
        "antispam": "false",
        "fromClientIp": CLIENT_IP,
        "fromClientPort": "0",
    });
    if let Some(ext) = &m.ext {
        event["ext"] = Value::String(ext.clone());
    }
    event
}

/// eventType 1 for a custom system notification (convType CUSTOM_PERSON / CUSTOM_TEAM).
pub(crate) fn custom_notification(n: &NotificationRecord, from_nick: &str) -> Value {
    let (conv_type, msg_type) =
        if n.msgtype == 1 { ("CUSTOM_TEAM", "CUSTOM_TEAM_MSG") } else { ("CUSTOM_PERSON", "CUSTOM_P2P_MSG") };
    json!({
        "eventType": "1",
        "convType": conv_type,
        "to": n.to,
        "fromAccount": n.from,
        "fromClientType": REST_CLIENT,
        "fromDeviceId": "",
        "fromNick": from_nick,
        "msgTimestamp": n.at.to_string(),
        "msgType": msg_type,
        "body": "",
        "attach": n.attach,
        "msgidClient": "",
        "msgidServer": n.msgid_server.to_string(),
        "resendFlag": "0",
    })
}

/// eventType 1 for a friend system notification (convType CUSTOM_PERSON, msgType FRIEND_ADD or
/// FRIEND_DELETE). `attach` carries the friend/add type and message.
pub(crate) struct FriendNotice<'a> {
    pub msg_type: &'static str,
    pub from: &'a str,
    pub from_nick: &'a str,
    pub to: &'a str,
    pub attach: Value,
    pub msgid_server: u64,
    pub at: u64,
}

pub(crate) fn friend_notice(n: &FriendNotice<'_>) -> Value {
    json!({
        "eventType": "1",
        "convType": "CUSTOM_PERSON",
        "to": n.to,
        "fromAccount": n.from,
        "fromClientType": REST_CLIENT,
        "fromDeviceId": "",
        "fromNick": n.from_nick,
        "msgTimestamp": n.at.to_string(),
        "msgType": n.msg_type,
        "body": "",
        "attach": n.attach.to_string(),
        "msgidClient": "",
        "msgidServer": n.msgid_server.to_string(),
        "resendFlag": "0",
    })
}

/// eventType 30: `reader` read the P2P session with `peer` up to `timestamp`. `objects` is a
/// JSON-encoded string, as NetEase sends it.
pub(crate) fn read_receipt(reader: &str, peer: &str, msgid_client: &str, timestamp: u64, client_type: &str) -> Value {
    let objects = json!([{
        "fromAccount": reader,
        "toAccount": peer,
        "msgidClient": msgid_client,
        "timestamp": timestamp,
        "clientType": client_type,
    }]);
    json!({ "eventType": "30", "objects": objects.to_string() })
}

/// eventType 7: a P2P recall of message `msgid_server`.
pub(crate) struct Recall<'a> {
    pub msgid_server: u64,
    pub from: &'a str,
    pub to: &'a str,
    pub delete_time: u64,
    pub send_time: u64,
    pub from_client_type: &'a str,
    pub attach: &'a str,
}

pub(crate) fn recall(r: &Recall<'_>) -> Value {
    json!({
        "eventType": "7",
        "msgId": r.msgid_server.to_string(),
        "from": r.from,
        "to": r.to,
        "deleteTime": r.delete_time.to_string(),
        "sendTime": r.send_time.to_string(),
        "fromClientType": r.from_client_type,
        "attach": r.attach,
    })
}

/// eventType 2 (login) or 3 (logout, with `logOutReason`).
pub(crate) struct Presence<'a> {
    pub accid: &'a str,
    pub device_id: &'a str,
    pub client_type: &'a str,
    pub timestamp: u64,
    /// `Some(reason)` makes it a logout.
    pub logout_reason: Option<u8>,
}

pub(crate) fn presence(p: &Presence<'_>) -> Value {
    let mut event = json!({
        "eventType": if p.logout_reason.is_some() { "3" } else { "2" },
        "accid": p.accid,
        "clientType": p.client_type,
        "clientIp": CLIENT_IP,
        "code": "200",
        "timestamp": p.timestamp.to_string(),
        "deviceId": p.device_id,
        "sdkVersion": "10.0.0",
        "customTag": "",
    });
    if let Some(reason) = p.logout_reason {
        event["logOutReason"] = Value::String(reason.to_string());
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_receipt_objects_are_a_json_string() {
        let event = read_receipt("test101", "test100", "c1", 1_578_551_421_737, "AOS");
        let objects: Value = serde_json::from_str(event["objects"].as_str().unwrap()).unwrap();
        assert_eq!(objects[0]["fromAccount"], "test101");
        assert_eq!(objects[0]["toAccount"], "test100");
        assert_eq!(objects[0]["timestamp"], 1_578_551_421_737_u64);
        assert_eq!(event["eventType"], "30");
    }

    #[test]
    fn logout_carries_its_reason() {
        let p = Presence { accid: "a", device_id: "d", client_type: "IOS", timestamp: 5, logout_reason: Some(2) };
        let event = presence(&p);
        assert_eq!(event["eventType"], "3");
        assert_eq!(event["logOutReason"], "2");
        assert_eq!(event["timestamp"], "5");
    }
}

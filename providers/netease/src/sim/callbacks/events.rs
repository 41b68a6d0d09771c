//! The callback bodies, shaped like NetEase's documented samples (shared/providers/netease.md §2
//! and §4). Values are strings as in those samples, except where a sample shows a number: the
//! read receipt's `timestamp`, and a logout's `code` and `timestamp`. Optional fields are left out
//! rather than sent empty, so a receiver meets the absences NetEase documents.

use serde_json::{json, Map, Value};

use crate::sim::model::{NotificationRecord, SentMessage};

/// What REST-originated events say about their "client".
pub(crate) const REST_CLIENT: &str = "REST";
/// The address a simulated login reports as `clientIp`.
const CLIENT_IP: &str = "127.0.0.1";
/// `sdkVersion` / `sdkHumanVersion` of simulated clients (the login sample has a numeric string).
const SDK_VERSION: &str = "152";
const SDK_HUMAN_VERSION: &str = "9.12.0";

/// NetEase's client types (netease.md §2), canonical upper case, from any spelling.
pub(crate) fn canonical_client_type(raw: &str) -> Option<&'static str> {
    const KNOWN: [&str; 7] = ["AOS", "IOS", "PC", "WEB", "REST", "MAC", "HARMONY"];
    KNOWN.into_iter().find(|known| known.eq_ignore_ascii_case(raw.trim()))
}

/// How login/logout callbacks spell a client type. One spelling per type, taken from the samples:
/// `AOS` as in the login sample, `iOS` as in the logout sample; the others have no presence sample
/// and keep the upper case netease.md lists. (Message, recall and read-receipt samples spell iOS
/// `IOS`, so those events use [`canonical_client_type`] as is.)
pub(crate) fn presence_client_type(canonical: &'static str) -> &'static str {
    match canonical {
        "IOS" => "iOS",
        other => other,
    }
}

fn insert(event: &mut Value, key: &str, value: impl Into<Value>) {
    event[key] = value.into();
}

/// eventType 1 for a chat message (convType PERSON or TEAM). Messages from an SDK client carry
/// `ip`/`port` (REST ones never do); `antispam` appears only on a flagged message; REST messages
/// have no device, so no `fromDeviceId`.
pub(crate) fn chat_message(m: &SentMessage, from_nick: &str) -> Value {
    let mut event = json!({
        "eventType": "1",
        "convType": m.conv_type,
        "to": m.to,
        "fromAccount": m.from,
        "fromClientType": m.from_client_type,
        "fromNick": from_nick,
        "msgTimestamp": m.timestamp.to_string(),
        "msgType": m.msg_type,
        "body": m.body,
        "msgidClient": m.msgid_client,
        "msgidServer": m.msgid_server.to_string(),
        "resendFlag": "0",
    });
    if !m.from_device_id.is_empty() {
        insert(&mut event, "fromDeviceId", m.from_device_id.as_str());
    }
    if !m.attach.is_empty() {
        insert(&mut event, "attach", m.attach.as_str());
    }
    if let Some(ext) = &m.ext {
        insert(&mut event, "ext", ext.as_str());
    }
    if m.antispam {
        insert(&mut event, "antispam", "true");
    }
    if let Some(ip) = &m.ip {
        insert(&mut event, "ip", ip.as_str());
        insert(&mut event, "port", m.port.unwrap_or_default().to_string());
    }
    event
}

/// The envelope of a system notification (convType CUSTOM_PERSON / CUSTOM_TEAM): no `msgidClient`,
/// `resendFlag`, `fromDeviceId` or `fromClientType`, but `customSafeFlag` ("1" when stored for
/// offline devices) and `customApnsText` (the push text, empty when none).
struct Custom<'a> {
    conv_type: &'static str,
    msg_type: &'static str,
    from: &'a str,
    from_nick: &'a str,
    to: &'a str,
    at: u64,
    msgid_server: u64,
    stored_offline: bool,
    apns_text: &'a str,
}

fn custom(c: &Custom<'_>) -> Value {
    json!({
        "eventType": "1",
        "convType": c.conv_type,
        "to": c.to,
        "fromAccount": c.from,
        "fromNick": c.from_nick,
        "msgTimestamp": c.at.to_string(),
        "msgType": c.msg_type,
        "msgidServer": c.msgid_server.to_string(),
        "customSafeFlag": if c.stored_offline { "1" } else { "0" },
        "customApnsText": c.apns_text,
    })
}

/// eventType 1 for a custom system notification (CUSTOM_P2P_MSG / CUSTOM_TEAM_MSG).
pub(crate) fn custom_notification(n: &NotificationRecord, from_nick: &str) -> Value {
    let (conv_type, msg_type) =
        if n.msgtype == 1 { ("CUSTOM_TEAM", "CUSTOM_TEAM_MSG") } else { ("CUSTOM_PERSON", "CUSTOM_P2P_MSG") };
    let mut event = custom(&Custom {
        conv_type,
        msg_type,
        from: &n.from,
        from_nick,
        to: &n.to,
        at: n.at,
        msgid_server: n.msgid_server,
        stored_offline: n.save != 1,
        apns_text: n.pushcontent.as_deref().unwrap_or_default(),
    });
    insert(&mut event, "attach", n.attach.as_str());
    event
}

/// eventType 1 for a friend system notification (convType CUSTOM_PERSON, msgType FRIEND_ADD or
/// FRIEND_DELETE).
pub(crate) struct FriendNotice<'a> {
    pub msg_type: &'static str,
    pub from: &'a str,
    pub from_nick: &'a str,
    pub to: &'a str,
    /// FRIEND_ADD: the friend/add type (1..4), sent as `attach` `{"vt":k}`.
    pub add_type: Option<u8>,
    /// The request's text (friend/add `msg`), sent as `body` when given.
    pub msg: Option<&'a str>,
    pub msgid_server: u64,
    pub at: u64,
}

pub(crate) fn friend_notice(n: &FriendNotice<'_>) -> Value {
    let mut event = custom(&Custom {
        conv_type: "CUSTOM_PERSON",
        msg_type: n.msg_type,
        from: n.from,
        from_nick: n.from_nick,
        to: n.to,
        at: n.at,
        msgid_server: n.msgid_server,
        stored_offline: true,
        apns_text: "",
    });
    if let Some(vt) = n.add_type {
        insert(&mut event, "attach", json!({ "vt": vt }).to_string());
    }
    if let Some(msg) = n.msg {
        insert(&mut event, "body", msg);
    }
    event
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

/// eventType 7 (P2P) or 8 (team): a recall of message `msgid_server`.
pub(crate) struct Recall<'a> {
    pub team: bool,
    pub msgid_server: u64,
    /// The recalled message's msgidClient.
    pub client_id: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub delete_time: u64,
    pub send_time: u64,
    pub from_client_type: &'a str,
    /// The recall's note (`selfMsg`).
    pub self_msg: &'a str,
    /// The optional custom extension.
    pub attach: Option<&'a str>,
}

pub(crate) fn recall(r: &Recall<'_>) -> Value {
    let mut event = json!({
        "eventType": if r.team { "8" } else { "7" },
        "msgId": r.msgid_server.to_string(),
        "clientId": r.client_id,
        "from": r.from,
        "to": r.to,
        "deleteTime": r.delete_time.to_string(),
        "sendTime": r.send_time.to_string(),
        "fromClientType": r.from_client_type,
        "selfMsg": r.self_msg,
    });
    if let Some(attach) = r.attach {
        insert(&mut event, "attach", attach);
    }
    event
}

/// eventType 2 (login) or 3 (logout, with `logOutReason`).
pub(crate) struct Presence<'a> {
    pub accid: &'a str,
    /// Only when the client gave one: NetEase's own samples often have none.
    pub device_id: Option<&'a str>,
    /// Spelled by [`presence_client_type`].
    pub client_type: &'a str,
    pub custom_tag: Option<&'a str>,
    pub timestamp: u64,
    /// `Some(reason)` makes it a logout.
    pub logout_reason: Option<u8>,
}

/// Login follows the login sample (`code` "200", `timestamp` a string, `clientIp`); logout follows
/// the logout sample (`code` 200 and `timestamp` as numbers, no `clientIp`, no `sdkHumanVersion`).
pub(crate) fn presence(p: &Presence<'_>) -> Value {
    let mut event = Map::new();
    event.insert("accid".into(), p.accid.into());
    event.insert("clientType".into(), p.client_type.into());
    event.insert("sdkVersion".into(), SDK_VERSION.into());
    match p.logout_reason {
        None => {
            event.insert("eventType".into(), "2".into());
            event.insert("code".into(), "200".into());
            event.insert("timestamp".into(), p.timestamp.to_string().into());
            event.insert("clientIp".into(), CLIENT_IP.into());
            event.insert("sdkHumanVersion".into(), SDK_HUMAN_VERSION.into());
        }
        Some(reason) => {
            event.insert("eventType".into(), "3".into());
            event.insert("code".into(), 200.into());
            event.insert("timestamp".into(), p.timestamp.into());
            event.insert("logOutReason".into(), reason.into());
        }
    }
    if let Some(device_id) = p.device_id {
        event.insert("deviceId".into(), device_id.into());
    }
    if let Some(tag) = p.custom_tag {
        event.insert("customTag".into(), tag.into());
    }
    Value::Object(event)
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
    fn logout_follows_the_sample() {
        let p = Presence {
            accid: "tes",
            device_id: None,
            client_type: presence_client_type("IOS"),
            custom_tag: None,
            timestamp: 1_608_872_658_452,
            logout_reason: Some(2),
        };
        let event = presence(&p);
        assert_eq!(
            event,
            json!({"clientType":"iOS","code":200,"accid":"tes","sdkVersion":"152","eventType":"3",
                   "timestamp":1_608_872_658_452_u64,"logOutReason":2})
        );
    }

    #[test]
    fn login_follows_the_sample() {
        let p = Presence {
            accid: "t3",
            device_id: Some("c25f82d0"),
            client_type: presence_client_type("AOS"),
            custom_tag: Some("tag"),
            timestamp: 1_608_877_682_237,
            logout_reason: None,
        };
        let event = presence(&p);
        assert_eq!((event["code"].as_str(), event["timestamp"].as_str()), (Some("200"), Some("1608877682237")));
        assert_eq!((event["deviceId"].as_str(), event["clientType"].as_str()), (Some("c25f82d0"), Some("AOS")));
        assert!(event.get("logOutReason").is_none());
    }

    #[test]
    fn client_types_are_recognised_in_any_case() {
        assert_eq!(canonical_client_type("ios"), Some("IOS"));
        assert_eq!(canonical_client_type(" Harmony "), Some("HARMONY"));
        assert_eq!(canonical_client_type("phone"), None);
        assert_eq!(presence_client_type("IOS"), "iOS");
        assert_eq!(presence_client_type("AOS"), "AOS");
    }
}

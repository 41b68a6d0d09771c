//! Callbacks built from provider-neutral events directly (the NetEase parser has its own tests):
//! each event comes with the body NetEase would have sent for it, so raw storage sees real bodies.

use std::time::SystemTime;

use bytes::Bytes;
use imbridge::messages::{CallbackRecord, RawCallback};
use imbridge_provider::{Conversation, Event, MessageEvent, Presence, ReadReport, Recall};
use serde_json::{json, Map, Value};

/// What kind of message, as NetEase would classify it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// PERSON / TEXT: counts as unread.
    Chat,
    /// PERSON / TIPS: one-to-one, covered by receipts, never counts.
    Tips,
    /// CUSTOM_PERSON / CUSTOM_P2P_MSG: our own notifications, never count.
    System,
    /// TEAM / TEXT: `to` is a team id.
    Team,
}

impl Kind {
    pub fn counts(self) -> bool {
        self == Kind::Chat
    }

    /// Read receipts (and so `state`) apply to one-to-one chat, TIPS included.
    pub fn one_to_one_chat(self) -> bool {
        matches!(self, Kind::Chat | Kind::Tips)
    }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

pub fn message_of(kind: Kind, key: &str, from: &str, to: &str, sent_at_ms: i64) -> MessageEvent {
    let (conv_type, msg_type, conversation) = match kind {
        Kind::Chat => ("PERSON", "TEXT", Conversation::P2p),
        Kind::Tips => ("PERSON", "TIPS", Conversation::P2p),
        Kind::System => ("CUSTOM_PERSON", "CUSTOM_P2P_MSG", Conversation::P2pSystem),
        Kind::Team => ("TEAM", "TEXT", Conversation::Team),
    };
    let document = json!({
        "eventType": "1", "convType": conv_type, "to": to, "fromAccount": from, "fromClientType": "IOS",
        "fromDeviceId": "device-1", "fromNick": from, "msgTimestamp": sent_at_ms, "msgType": msg_type,
        "body": format!("{kind:?} {key}"), "msgidClient": format!("client-{key}"), "msgidServer": key,
        "resendFlag": "0",
    });
    MessageEvent {
        key: key.to_owned(),
        from: from.to_owned(),
        to: to.to_owned(),
        conversation,
        counts_as_unread: kind.counts(),
        sent_at_ms,
        document: object(document),
    }
}

pub fn chat(key: &str, from: &str, to: &str, sent_at_ms: i64) -> Event {
    Event::Message(message_of(Kind::Chat, key, from, to, sent_at_ms))
}

pub fn message(kind: Kind, key: &str, from: &str, to: &str, sent_at_ms: i64) -> Event {
    Event::Message(message_of(kind, key, from, to, sent_at_ms))
}

pub fn receipt(reader: &str, peer: &str, read_up_to_ms: i64) -> Event {
    Event::ReadReport(ReadReport { reader: reader.to_owned(), peer: peer.to_owned(), read_up_to_ms })
}

pub fn recall(key: &str, from: &str, to: &str) -> Event {
    Event::Recall(Recall { key: key.to_owned(), from: from.to_owned(), to: to.to_owned(), at_ms: 1 })
}

/// A login (`online`) or logout of `accid`'s client of type `client_type` (as NetEase spells it, any
/// case), from device `device_id` when given.
pub fn presence_of(accid: &str, client_type: &str, device_id: Option<&str>, online: bool, at_ms: i64) -> Event {
    let mut document = json!({
        "eventType": if online { "2" } else { "3" }, "accid": accid, "clientType": client_type,
        "code": 200, "timestamp": at_ms.to_string(),
    });
    if let Some(device) = device_id {
        document["deviceId"] = json!(device);
    }
    if !online {
        document["logOutReason"] = json!(2);
    }
    Event::Presence(Presence {
        accid: accid.to_owned(),
        client_type: client_type.to_ascii_lowercase(),
        device_id: device_id.map(str::to_owned),
        online,
        at_ms,
        logout_reason: (!online).then_some(2),
        document: object(document),
    })
}

/// A login or logout of `accid`'s client of type `client_type`, without a device id.
pub fn presence(accid: &str, client_type: &str, online: bool, at_ms: i64) -> Event {
    presence_of(accid, client_type, None, online, at_ms)
}

/// The body NetEase would send for these events (deterministic: a redelivery has the same bytes).
fn body_of(events: &[Event]) -> (String, Value) {
    let receipts: Vec<Value> = events
        .iter()
        .filter_map(|e| match e {
            Event::ReadReport(r) => Some(json!({
                "fromAccount": r.reader, "toAccount": r.peer, "timestamp": r.read_up_to_ms, "clientType": "AOS"
            })),
            _ => None,
        })
        .collect();
    if !receipts.is_empty() {
        let objects = Value::String(Value::Array(receipts).to_string());
        return ("30".into(), json!({ "eventType": "30", "objects": objects }));
    }
    match events.first() {
        Some(Event::Message(m)) => ("1".into(), Value::Object(m.document.clone())),
        Some(Event::Presence(p)) => {
            (p.document["eventType"].as_str().unwrap_or("2").into(), Value::Object(p.document.clone()))
        }
        Some(Event::Recall(r)) => {
            ("7".into(), json!({ "eventType": "7", "msgId": r.key, "from": r.from, "to": r.to, "deleteTime": r.at_ms }))
        }
        Some(Event::ReadReport(_)) => unreachable!("handled above"),
        Some(Event::Other) => ("20".into(), json!({ "eventType": "20", "roomId": "1" })),
        None => (String::new(), json!({})),
    }
}

pub fn raw(event_type: &str, body: impl Into<Bytes>, received_at: SystemTime) -> RawCallback {
    RawCallback {
        provider: "netease".into(),
        event_type: event_type.into(),
        body: body.into(),
        path_and_query: String::new(),
        received_at,
    }
}

/// One callback carrying `events` (several only for a read receipt with several objects).
pub fn callback(events: Vec<Event>) -> CallbackRecord {
    callback_at(events, SystemTime::now())
}

pub fn callback_at(events: Vec<Event>, received_at: SystemTime) -> CallbackRecord {
    let (event_type, body) = body_of(&events);
    CallbackRecord { raw: raw(&event_type, body.to_string(), received_at), events }
}

/// The key a message (or recall) with this NetEase id is stored under.
pub fn stored_key(id: &str) -> String {
    imbridge::messages::message_key("netease", id)
}

/// A prefix that keeps one test's (or one property case's) accounts and keys apart from others.
pub fn unique(name: &str) -> String {
    format!("{name}{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

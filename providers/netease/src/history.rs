//! NetEase's P2P history (`history/querySessionMsg.action`, shared/providers/netease.md §5) turned
//! into the provider-neutral [`MessageEvent`]s its callbacks would have produced.
//!
//! History and callbacks describe one message in two shapes. History answers
//! `{"from","msgid","sendtime","type","fromclienttype","msgidclient","body":{...}}` with a numeric
//! `type`, a `body` object and no receiver (the session's other side is implied). The stored shape is
//! the eventType 1 callback: `convType` PERSON, `fromAccount`, `to`, `msgType`, `body`, `attach`,
//! `msgTimestamp`, `msgidServer`, `msgidClient`, `fromClientType`. Converting here, next to the
//! callback parser, keeps the service unaware of either shape, and keys the message by the same
//! `msgidServer` so a history import and a callback of one message are the same fact.

use imbridge_provider::{Conversation, MessageEvent};
use serde_json::{Map, Value};

use crate::client::history::HistoryMsg;

/// The marker a converted document carries, so readers can tell a message imported from history
/// from one NetEase called back.
pub const BACKFILLED: &str = "backfilled";

/// The callback's `msgType` of a history message's numeric `type` (netease.md §5). `None` for a
/// number the table does not list.
pub fn msg_type_name(code: i64) -> Option<&'static str> {
    Some(match code {
        0 => "TEXT",
        1 => "PICTURE",
        2 => "AUDIO",
        3 => "VIDEO",
        4 => "LOCATION",
        5 => "NOTIFICATION",
        6 => "FILE",
        10 => "TIPS",
        11 => "ROBOT",
        100 => "CUSTOM",
        _ => return None,
    })
}

/// Why a history message cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("history message {msgid}: {reason}")]
pub struct HistoryShapeError {
    pub msgid: String,
    pub reason: String,
}

/// One history message of the session between `accid` and `peer` (both already canonical), as the
/// eventType 1 callback document it corresponds to, with `"backfilled": true`.
///
/// - `to` is whichever of the two did not send it (history returns both directions);
/// - `msgType` comes from the numeric `type` by the §5 table; a number outside it is kept as its
///   decimal text (e.g. `"7"`), so nothing is dropped;
/// - text and tips (`{"msg": "..."}`) put the text in `body`, as their callbacks do; every other type
///   keeps its JSON as text in both `attach` (where its callback carries it) and `body`;
/// - `fromClientType` and `msgidClient` are kept as NetEase sent them, when present;
/// - any other field of the history entry is kept under its own name unless the callback shape
///   already uses that name.
///
/// Counts towards unread like its callback would: a PERSON message other than TIPS. History does
/// not say whether anti-spam flagged a message or the receiver blacklisted its sender, so neither
/// is known here.
pub fn message_event(msg: &HistoryMsg, accid: &str, peer: &str) -> Result<MessageEvent, HistoryShapeError> {
    let fail = |reason: &str| HistoryShapeError { msgid: msg.msgid.clone(), reason: reason.to_owned() };
    let key = msg.msgid.trim().to_owned();
    if key.is_empty() {
        return Err(fail("empty msgid"));
    }
    let sent_at_ms = msg.sendtime.ok_or_else(|| fail("no sendtime"))?;
    let from = msg.from.trim().to_ascii_lowercase();
    let to = if from == accid {
        peer
    } else if from == peer {
        accid
    } else {
        return Err(fail("sent by neither side of the session"));
    };
    let code = msg.msg_type.ok_or_else(|| fail("no type"))?;
    let msg_type = msg_type_name(code).map_or_else(|| code.to_string(), str::to_owned);
    let is_text = matches!(msg_type.as_str(), "TEXT" | "TIPS");

    let mut doc = Map::new();
    doc.insert("eventType".into(), Value::from("1"));
    doc.insert("convType".into(), Value::from("PERSON"));
    doc.insert("fromAccount".into(), Value::from(from.clone()));
    doc.insert("to".into(), Value::from(to));
    doc.insert("msgType".into(), Value::from(msg_type.clone()));
    match (&msg.body, is_text) {
        (Value::Object(body), true) if body.get("msg").is_some_and(Value::is_string) => {
            doc.insert("body".into(), body["msg"].clone());
        }
        (Value::String(text), _) => {
            doc.insert("body".into(), Value::from(text.clone()));
        }
        (Value::Null, _) => {
            doc.insert("body".into(), Value::from(""));
        }
        (json, _) => {
            let text = json.to_string();
            doc.insert("body".into(), Value::from(text.clone()));
            if !is_text {
                doc.insert("attach".into(), Value::from(text));
            }
        }
    }
    doc.insert("msgTimestamp".into(), Value::from(sent_at_ms));
    doc.insert("msgidServer".into(), Value::from(key.clone()));
    if let Some(client_id) = msg.msgidclient.as_deref().filter(|id| !id.is_empty()) {
        doc.insert("msgidClient".into(), Value::from(client_id));
    }
    if let Some(client_type) = msg.fromclienttype.as_deref().filter(|t| !t.is_empty()) {
        doc.insert("fromClientType".into(), Value::from(client_type));
    }
    for (name, value) in &msg.other {
        doc.entry(name.clone()).or_insert_with(|| value.clone());
    }
    doc.insert(BACKFILLED.into(), Value::Bool(true));

    Ok(MessageEvent {
        key,
        from,
        to: to.to_owned(),
        conversation: Conversation::P2p,
        counts_as_unread: msg_type != "TIPS",
        sent_at_ms,
        document: doc,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn history(value: Value) -> HistoryMsg {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_text_message_becomes_its_callback_document() {
        let msg = history(json!({"from": "Shop_1", "msgid": 3456789, "sendtime": "1441977355557", "type": 0,
            "fromclienttype": "IOS", "msgidclient": "1234567", "body": {"msg": "hello"}}));
        let event = message_event(&msg, "buyer_01", "shop_1").unwrap();
        assert_eq!(event.key, "3456789");
        assert_eq!((event.from.as_str(), event.to.as_str()), ("shop_1", "buyer_01"));
        assert_eq!(event.conversation, Conversation::P2p);
        assert!(event.counts_as_unread);
        assert_eq!(event.sent_at_ms, 1_441_977_355_557);
        assert_eq!(
            Value::Object(event.document),
            json!({"eventType": "1", "convType": "PERSON", "fromAccount": "shop_1", "to": "buyer_01",
                "msgType": "TEXT", "body": "hello", "msgTimestamp": 1_441_977_355_557_i64, "msgidServer": "3456789",
                "msgidClient": "1234567", "fromClientType": "IOS", "backfilled": true})
        );
    }

    #[test]
    fn other_types_keep_their_json_in_attach_and_the_receiver_is_the_other_side() {
        let msg = history(json!({"from": "buyer_01", "msgid": "9", "sendtime": 5, "type": 1,
            "body": {"name": "a.png", "url": "https://x/a.png"}, "ext": "e"}));
        let event = message_event(&msg, "buyer_01", "shop_1").unwrap();
        assert_eq!(event.to, "shop_1");
        assert_eq!(event.document["msgType"], "PICTURE");
        let attach: Value = serde_json::from_str(event.document["attach"].as_str().unwrap()).unwrap();
        assert_eq!(attach, json!({"name": "a.png", "url": "https://x/a.png"}));
        assert_eq!(event.document["body"], event.document["attach"]);
        assert_eq!(event.document["ext"], "e", "unknown fields are kept");
        assert!(!event.document.contains_key("msgidClient"));
    }

    #[test]
    fn tips_do_not_count_and_unknown_types_keep_their_number() {
        let tips = history(json!({"from": "shop_1", "msgid": "1", "sendtime": 1, "type": 10, "body": {"msg": "hi"}}));
        let event = message_event(&tips, "buyer_01", "shop_1").unwrap();
        assert_eq!((event.document["msgType"].as_str(), event.counts_as_unread), (Some("TIPS"), false));
        assert!(!event.document.contains_key("attach"));
        let odd = history(json!({"from": "shop_1", "msgid": "2", "sendtime": 1, "type": 7, "body": {"x": 1}}));
        let event = message_event(&odd, "buyer_01", "shop_1").unwrap();
        assert_eq!(event.document["msgType"], "7");
        assert!(event.counts_as_unread);
    }

    #[test]
    fn messages_without_what_the_store_needs_are_refused() {
        let no_time = history(json!({"from": "shop_1", "msgid": "1", "type": 0, "body": {"msg": "x"}}));
        assert_eq!(message_event(&no_time, "buyer_01", "shop_1").unwrap_err().reason, "no sendtime");
        let stranger = history(json!({"from": "other", "msgid": "1", "sendtime": 1, "type": 0}));
        assert!(message_event(&stranger, "buyer_01", "shop_1").is_err());
        let no_type = history(json!({"from": "shop_1", "msgid": "1", "sendtime": 1}));
        assert_eq!(message_event(&no_type, "buyer_01", "shop_1").unwrap_err().reason, "no type");
    }
}

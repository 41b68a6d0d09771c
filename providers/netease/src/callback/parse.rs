//! Lenient parsing of verified callback bodies into [`Event`]s.
//!
//! NetEase types fields loosely: `eventType` is `"1"` or `1`, timestamps are strings or numbers,
//! a read receipt's `objects` is a JSON-encoded string or an array. A body that is valid JSON but
//! lacks what its event type needs is a [`ParseError`] (the service dead-letters it); any other event
//! type is [`Event::Other`]. Never panics, whatever the input.

use imbridge_provider::{Conversation, Event, MessageEvent, ParseError, ParsedCallback, Presence, ReadReport, Recall};
use serde_json::{Map, Number, Value};

use crate::client::lenient::as_i64;

/// Parse one callback body (already verified).
pub fn parse(body: &[u8]) -> Result<ParsedCallback, ParseError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| ParseError(format!("not JSON: {e}")))?;
    let Value::Object(doc) = value else {
        return Err(ParseError("not a JSON object".into()));
    };
    let event_type = match doc.get("eventType") {
        None => String::new(),
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Number(n)) => number_text(n),
        Some(other) => return Err(ParseError(format!("eventType must be a string or a number, got {other}"))),
    };
    let events = match event_type.as_str() {
        // The console's "test address" button posts `{}`: nothing to apply.
        "" if doc.is_empty() => Vec::new(),
        "1" => vec![Event::Message(message(doc)?)],
        "7" => vec![Event::Recall(recall(&doc)?)],
        "30" => read_reports(&doc)?.into_iter().map(Event::ReadReport).collect(),
        "2" => vec![Event::Presence(presence(doc, true)?)],
        "3" => vec![Event::Presence(presence(doc, false)?)],
        _ => vec![Event::Other],
    };
    Ok(ParsedCallback { event_type, events })
}

/// eventType 1: a conversation message.
fn message(mut doc: Map<String, Value>) -> Result<MessageEvent, ParseError> {
    let key = required_text(&doc, "msgidServer")?;
    let from = required_text(&doc, "fromAccount")?.to_ascii_lowercase();
    let to = required_text(&doc, "to")?;
    let conv_type = required_text(&doc, "convType")?.to_ascii_uppercase();
    let sent_at_ms = required_ms(&doc, "msgTimestamp")?;
    let conversation = match conv_type.as_str() {
        "PERSON" => Conversation::P2p,
        "TEAM" => Conversation::Team,
        "CUSTOM_PERSON" => Conversation::P2pSystem,
        "CUSTOM_TEAM" => Conversation::TeamSystem,
        _ => Conversation::Other,
    };
    // `to` is an accid in P2P conversations (compared lowercased) and a team id otherwise.
    let to = match conversation {
        Conversation::P2p | Conversation::P2pSystem => to.to_ascii_lowercase(),
        _ => to,
    };
    let is_tips = doc.get("msgType").and_then(Value::as_str).is_some_and(|t| t.trim().eq_ignore_ascii_case("TIPS"));
    let counts_as_unread = conversation == Conversation::P2p && !is_tips;
    // Stores index and compare these; one shape whatever the delivery used. msgidServer is
    // documented as a numeric string, so that is the shape kept.
    doc.insert("msgTimestamp".into(), Value::from(sent_at_ms));
    doc.insert("msgidServer".into(), Value::String(key.clone()));
    Ok(MessageEvent { key, from, to, conversation, counts_as_unread, sent_at_ms, document: doc })
}

/// eventType 7: a P2P recall.
fn recall(doc: &Map<String, Value>) -> Result<Recall, ParseError> {
    Ok(Recall {
        key: required_text(doc, "msgId")?,
        from: required_text(doc, "from")?.to_ascii_lowercase(),
        to: required_text(doc, "to")?.to_ascii_lowercase(),
        at_ms: required_ms(doc, "deleteTime")?,
    })
}

/// eventType 30: one read report per object of `objects`.
fn read_reports(doc: &Map<String, Value>) -> Result<Vec<ReadReport>, ParseError> {
    let objects = match doc.get("objects") {
        Some(Value::String(text)) => {
            serde_json::from_str(text).map_err(|e| ParseError(format!("objects: not a JSON-encoded list: {e}")))?
        }
        Some(value) => value.clone(),
        None => return Err(ParseError("objects: missing".into())),
    };
    let objects = match objects {
        Value::Array(items) => items,
        single @ Value::Object(_) => vec![single],
        other => return Err(ParseError(format!("objects: expected a list, got {other}"))),
    };
    objects
        .iter()
        .enumerate()
        .map(|(i, object)| {
            let object = object.as_object().ok_or_else(|| ParseError(format!("objects[{i}]: not an object")))?;
            let at = |e: ParseError| ParseError(format!("objects[{i}].{}", e.0));
            Ok(ReadReport {
                reader: required_text(object, "fromAccount").map_err(at)?.to_ascii_lowercase(),
                peer: required_text(object, "toAccount").map_err(at)?.to_ascii_lowercase(),
                read_up_to_ms: required_ms(object, "timestamp").map_err(at)?,
            })
        })
        .collect()
}

/// eventType 2 (login) / 3 (logout).
fn presence(mut doc: Map<String, Value>, online: bool) -> Result<Presence, ParseError> {
    let accid = required_text(&doc, "accid")?.to_ascii_lowercase();
    let at_ms = required_ms(&doc, "timestamp")?;
    // Older deliveries carry no deviceId; the client type is then the best per-device key there is
    // (one entry per platform instead of one per device).
    let device_id = optional_text(&doc, "deviceId").or_else(|| optional_text(&doc, "clientType")).unwrap_or_default();
    doc.insert("timestamp".into(), Value::from(at_ms));
    Ok(Presence { accid, device_id, online, at_ms, document: doc })
}

/// A non-empty string field; a number is accepted and written out as text.
fn required_text(doc: &Map<String, Value>, field: &str) -> Result<String, ParseError> {
    match doc.get(field) {
        None | Some(Value::Null) => Err(ParseError(format!("{field}: missing"))),
        Some(_) => optional_text(doc, field).ok_or_else(|| ParseError(format!("{field}: expected a non-empty string"))),
    }
}

fn optional_text(doc: &Map<String, Value>, field: &str) -> Option<String> {
    let text = match doc.get(field)? {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => number_text(n),
        _ => return None,
    };
    (!text.is_empty()).then_some(text)
}

/// A millisecond timestamp given as a number or a numeric string.
fn required_ms(doc: &Map<String, Value>, field: &str) -> Result<i64, ParseError> {
    match doc.get(field) {
        None | Some(Value::Null) => Err(ParseError(format!("{field}: missing"))),
        Some(value) => as_i64(value).ok_or_else(|| ParseError(format!("{field}: expected an integer, got {value}"))),
    }
}

/// `1` for 1 and 1.0 alike, so `eventType: 1.0` is still eventType "1".
fn number_text(n: &Number) -> String {
    as_i64(&Value::Number(n.clone())).map_or_else(|| n.to_string(), |i| i.to_string())
}

//! Lenient parsing of verified callback bodies into [`Event`]s.
//!
//! The command comes from the body's `CallbackCommand` (Tencent sends it in the query string and
//! the body alike; the query's is the fallback when given). A body that is not a JSON object is a
//! [`ParseError`] (the service dead-letters it, as for NetEase); a known command whose body lacks
//! or mistypes a field its event needs becomes [`Event::Other`] (stored raw only) with a warning,
//! and so does every other command. Never panics, whatever the input.
//!
//! Accids are lowercased, as the neutral events require (the service compares accids in ASCII
//! lowercase); the document keeps Tencent's spelling.

use std::time::{SystemTime, UNIX_EPOCH};

use imbridge_provider::{Conversation, Event, MessageEvent, ParseError, ParsedCallback, Presence, ReadReport, Recall};
use serde_json::{Map, Value};

use super::is_notification;

/// Parse one callback body (already verified). Presence events carry client type `unknown`: the
/// client's platform is only in the query string (see [`parse_with_query`]).
pub fn parse(body: &[u8]) -> Result<ParsedCallback, ParseError> {
    parse_at(None, body, now_ms())
}

/// Parse one callback body with its request's query string (or path and query): its
/// `CallbackCommand` is the fallback when the body has none, and its `OptPlatform` names the
/// client type of a `State.StateChange`.
pub fn parse_with_query(path_and_query: &str, body: &[u8]) -> Result<ParsedCallback, ParseError> {
    let query = path_and_query.split_once('?').map_or(path_and_query, |(_, query)| query);
    parse_at(Some(query), body, now_ms())
}

/// The query parameters the parser reads.
#[derive(Debug, Default)]
struct QueryContext {
    command: Option<String>,
    platform: Option<String>,
}

impl QueryContext {
    fn from_query(query: &str) -> Self {
        let params: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
        let get =
            |name: &str| params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim().to_owned());
        Self { command: get("CallbackCommand"), platform: get("OptPlatform") }
    }
}

/// `now_ms` stands in for a recall's time, which Tencent does not send.
pub(super) fn parse_at(query: Option<&str>, body: &[u8], now_ms: i64) -> Result<ParsedCallback, ParseError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| ParseError(format!("not JSON: {e}")))?;
    let Value::Object(doc) = value else {
        return Err(ParseError("not a JSON object".into()));
    };
    let context = query.map(QueryContext::from_query).unwrap_or_default();
    let event_type = match doc.get("CallbackCommand").and_then(Value::as_str).map(str::trim) {
        Some(command) if !command.is_empty() => command.to_owned(),
        _ => context.command.clone().unwrap_or_default(),
    };
    let parsed = match event_type.as_str() {
        // An empty object (e.g. a console test) has nothing to apply.
        "" if doc.is_empty() => Ok(Vec::new()),
        "C2C.CallbackAfterSendMsg" => message(doc).map(|m| vec![m.map_or(Event::Other, Event::Message)]),
        "C2C.CallbackAfterMsgReport" => read_report(&doc).map(|r| vec![Event::ReadReport(r)]),
        "C2C.CallbackAfterMsgWithDraw" => recall(&doc, now_ms).map(|r| vec![Event::Recall(r)]),
        "State.StateChange" => presence(doc, context.platform.as_deref()),
        _ => Ok(vec![Event::Other]),
    };
    let events = parsed.unwrap_or_else(|reason| {
        tracing::warn!(event_type, reason, "Tencent callback lacks what its command needs; stored raw only");
        vec![Event::Other]
    });
    Ok(ParsedCallback { event_type, events })
}

/// `C2C.CallbackAfterSendMsg`. `Ok(None)` for a send that failed (`SendMsgResult` ≠ 0, e.g.
/// filtered words): Tencent calls back for it too, but the receiver never got it, so it must not
/// count anywhere.
///
/// Counts as unread: a chat message delivered for offline reading. Not: imbridge's own
/// notifications (marked in `CloudCustomData`, see [`super::notification_cloud_data`]), which are
/// [`Conversation::P2pSystem`]; and online-only messages (`OnlineOnlyFlag` 1), which Tencent does not
/// store, so no client will ever show them as unread (an inference from their not being stored).
fn message(mut doc: Map<String, Value>) -> Result<Option<MessageEvent>, String> {
    match doc.get("SendMsgResult") {
        // Documented as always present; a copy without it is taken as delivered.
        None | Some(Value::Null) => {}
        Some(result) => match as_i64(result) {
            Some(0) => {}
            Some(_) => return Ok(None),
            None => return Err(format!("SendMsgResult: expected an integer, got {result}")),
        },
    }
    let key = required_text(&doc, "MsgKey")?;
    let from = required_text(&doc, "From_Account")?.to_ascii_lowercase();
    let to = required_text(&doc, "To_Account")?.to_ascii_lowercase();
    let sent_at_s = required_i64(&doc, "MsgTime")?;
    let sent_at_ms = sent_at_s.checked_mul(1000).ok_or_else(|| format!("MsgTime: out of range: {sent_at_s}"))?;
    let conversation =
        if is_notification(doc.get("CloudCustomData")) { Conversation::P2pSystem } else { Conversation::P2p };
    let online_only = doc.get("OnlineOnlyFlag").and_then(as_i64) == Some(1);
    let counts_as_unread = conversation == Conversation::P2p && !online_only;
    // One shape whatever the delivery used, so stores can index and compare.
    doc.insert("MsgTime".into(), Value::from(sent_at_s));
    doc.insert("MsgKey".into(), Value::String(key.clone()));
    Ok(Some(MessageEvent { key, from, to, conversation, counts_as_unread, sent_at_ms, document: doc }))
}

/// `C2C.CallbackAfterMsgReport`: `Report_Account` has read `Peer_Account`'s messages up to
/// `LastReadTime`.
///
/// `LastReadTime` is in seconds (Tencent's sample; the unit is not stated) and messages are in
/// milliseconds, so the watermark is the *end* of that second: a message sent in the same second as
/// the read time is taken as read. That is an inference; the other choice would leave the last
/// messages of a conversation read on the client but unread here.
fn read_report(doc: &Map<String, Value>) -> Result<ReadReport, String> {
    let reader = required_text(doc, "Report_Account")?.to_ascii_lowercase();
    let peer = required_text(doc, "Peer_Account")?.to_ascii_lowercase();
    let read_s = required_i64(doc, "LastReadTime")?;
    let read_up_to_ms = read_s
        .checked_mul(1000)
        .and_then(|ms| ms.checked_add(999))
        .ok_or_else(|| format!("LastReadTime: out of range: {read_s}"))?;
    Ok(ReadReport { reader, peer, read_up_to_ms })
}

/// `C2C.CallbackAfterMsgWithDraw`. Tencent's body has no time, and the callback fires right after
/// the recall, so the recall is dated when it is parsed (`now_ms`).
fn recall(doc: &Map<String, Value>, now_ms: i64) -> Result<Recall, String> {
    Ok(Recall {
        key: required_text(doc, "MsgKey")?,
        from: required_text(doc, "From_Account")?.to_ascii_lowercase(),
        to: required_text(doc, "To_Account")?.to_ascii_lowercase(),
        at_ms: now_ms,
    })
}

/// `State.StateChange`: `Info.Action` `Login` is online, `Logout` and `Disconnect` offline; any
/// other action (`CustomStatusChange`) changes no presence and is stored raw only.
///
/// The client type is the request's `OptPlatform` (not in the body), `unknown` without it. A login
/// that kicked other devices lists their platforms in `KickedDevice`, and newer SDKs send no logout
/// for them, so each kicked platform other than the login's own gets an offline event (reason 3,
/// kicked by the account's other device) at the same time.
fn presence(mut doc: Map<String, Value>, platform: Option<&str>) -> Result<Vec<Event>, String> {
    let info = doc.get("Info").and_then(Value::as_object).ok_or("Info: missing or not an object")?;
    let action = required_text(info, "Action")?;
    let online = match action.as_str() {
        "Login" => true,
        "Logout" | "Disconnect" => false,
        _ => return Ok(vec![Event::Other]),
    };
    let accid = required_text(info, "To_Account")?.to_ascii_lowercase();
    let logout_reason = if online { None } else { optional_text(info, "Reason").and_then(|r| logout_reason(&r)) };
    let at_ms = required_i64(&doc, "EventTime")?;
    let client_type = platform.map_or_else(|| "unknown".to_owned(), client_type_of);
    let kicked: Vec<String> = match doc.get("KickedDevice") {
        Some(Value::Array(devices)) if online => devices
            .iter()
            .filter_map(|device| device.as_object().and_then(|d| optional_text(d, "Platform")))
            .map(|platform| client_type_of(&platform))
            .filter(|kicked| *kicked != client_type)
            .collect(),
        _ => Vec::new(),
    };
    doc.insert("EventTime".into(), Value::from(at_ms));
    let mut events: Vec<Event> = kicked
        .into_iter()
        .map(|kicked_type| {
            Event::Presence(Presence {
                accid: accid.clone(),
                client_type: kicked_type,
                device_id: None,
                online: false,
                at_ms,
                logout_reason: Some(3),
                document: doc.clone(),
            })
        })
        .collect();
    events.insert(
        0,
        Event::Presence(Presence { accid, client_type, device_id: None, online, at_ms, logout_reason, document: doc }),
    );
    Ok(events)
}

/// Tencent's platform names (`OptPlatform`, `KickedDevice.Platform`) as neutral client types:
/// `iOS`/`IOS` → `ios`, `Android` → `aos`, `Windows` → `pc`, `RESTAPI` → `rest`, the rest lowercased
/// (`web`, `mac`, `ipad`, `linux`, `harmony`, `unknown`).
fn client_type_of(platform: &str) -> String {
    let lower = platform.trim().to_ascii_lowercase();
    match lower.as_str() {
        "" => "unknown".to_owned(),
        "android" => "aos".to_owned(),
        "windows" => "pc".to_owned(),
        "restapi" => "rest".to_owned(),
        _ => lower,
    }
}

/// Tencent's `Reason` of a logout in NetEase's numbering, which the neutral event uses:
/// `Unregister` (the user logged out) → 1, `LinkClose` / `TimeOut` (connection lost) → 2.
fn logout_reason(reason: &str) -> Option<i64> {
    match reason {
        "Unregister" => Some(1),
        "LinkClose" | "TimeOut" => Some(2),
        _ => None,
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// An integer given as a JSON number (integral) or a numeric string.
fn as_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => {
            n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18).map(|f| f as i64))
        }
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A non-empty string field; a number is accepted and written out as text.
fn required_text(doc: &Map<String, Value>, field: &str) -> Result<String, String> {
    match doc.get(field) {
        None | Some(Value::Null) => Err(format!("{field}: missing")),
        Some(_) => optional_text(doc, field).ok_or_else(|| format!("{field}: expected a non-empty string")),
    }
}

fn optional_text(doc: &Map<String, Value>, field: &str) -> Option<String> {
    let text = match doc.get(field)? {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!text.is_empty()).then_some(text)
}

fn required_i64(doc: &Map<String, Value>, field: &str) -> Result<i64, String> {
    match doc.get(field) {
        None | Some(Value::Null) => Err(format!("{field}: missing")),
        Some(value) => as_i64(value).ok_or_else(|| format!("{field}: expected an integer, got {value}")),
    }
}

#[cfg(test)]
mod tests;

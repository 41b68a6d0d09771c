//! Lenient parsing of verified callback bodies into [`Event`]s.
//!
//! NetEase types fields loosely: `eventType` is `"1"` or `1`, timestamps are strings or numbers,
//! a read receipt's `objects` is a JSON-encoded string or an array. A body that is valid JSON but
//! lacks what its event type needs is a [`ParseError`] (the service dead-letters it); any other event
//! type is [`Event::Other`]. Never panics, whatever the input.

use imbridge_provider::{Conversation, Event, MessageEvent, ParseError, ParsedCallback, Presence, ReadReport, Recall};
use serde_json::{Map, Number, Value};

use crate::client::lenient::as_i64;

/// Choices about what counts as unread that NetEase leaves to the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// Whether a message flagged by anti-spam (`antispam: "true"`) counts as unread. NetEase still
    /// delivers flagged messages unless the app's anti-spam policy blocks them, so by default they
    /// count.
    pub antispam_counts_as_unread: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self { antispam_counts_as_unread: true }
    }
}

/// Parse one callback body (already verified) with the default [`ParseOptions`].
pub fn parse(body: &[u8]) -> Result<ParsedCallback, ParseError> {
    parse_with(body, ParseOptions::default())
}

/// Parse one callback body (already verified).
pub fn parse_with(body: &[u8], options: ParseOptions) -> Result<ParsedCallback, ParseError> {
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
        "1" => vec![Event::Message(message(doc, options)?)],
        // P2P, team and super-team recalls alike: a recall names the message by its key.
        "7" | "8" | "25" => vec![Event::Recall(recall(&doc, event_type == "7")?)],
        "30" => read_reports(&doc)?.into_iter().map(Event::ReadReport).collect(),
        // A failed login (code other than 200) changes nothing: stored raw only.
        "2" if !login_succeeded(&doc) => vec![Event::Other],
        "2" => vec![Event::Presence(presence(doc, true)?)],
        "3" => vec![Event::Presence(presence(doc, false)?)],
        _ => vec![Event::Other],
    };
    Ok(ParsedCallback { event_type, events })
}

/// eventType 1: a conversation message.
///
/// What counts as unread: one-to-one chat (`PERSON`) other than `TIPS`, including call records
/// (`NRTC_NETCALL`, `NETCALL_AUDIO`, `NETCALL_VEDIO`: a missed call shows as unread in chat apps),
/// except a message NetEase withheld from its receiver (`blacklist: "true"`: the sender is on the
/// receiver's blacklist) and, when so configured, one flagged by anti-spam.
fn message(mut doc: Map<String, Value>, options: ParseOptions) -> Result<MessageEvent, ParseError> {
    let key = required_text(&doc, "msgidServer")?;
    let from = required_text(&doc, "fromAccount")?.to_ascii_lowercase();
    let to = required_text(&doc, "to")?;
    let conv_type = required_text(&doc, "convType")?.to_ascii_uppercase();
    let sent_at_ms = required_ms(&doc, "msgTimestamp")?;
    let conversation = match conv_type.as_str() {
        "PERSON" => Conversation::P2p,
        "TEAM" | "SUPER_TEAM" => Conversation::Team,
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
    let blacklisted = flag(&doc, "blacklist");
    let withheld_as_spam = flag(&doc, "antispam") && !options.antispam_counts_as_unread;
    let counts_as_unread = conversation == Conversation::P2p && !is_tips && !blacklisted && !withheld_as_spam;
    // Stores index and compare these; one shape whatever the delivery used. msgidServer is
    // documented as a numeric string, so that is the shape kept.
    doc.insert("msgTimestamp".into(), Value::from(sent_at_ms));
    doc.insert("msgidServer".into(), Value::String(key.clone()));
    Ok(MessageEvent { key, from, to, conversation, counts_as_unread, sent_at_ms, document: doc })
}

/// eventType 7 (P2P), 8 (team), 25 (super team): a recall. `to` is an accid (lowercased) in P2P,
/// a team id otherwise.
fn recall(doc: &Map<String, Value>, p2p: bool) -> Result<Recall, ParseError> {
    let to = required_text(doc, "to")?;
    Ok(Recall {
        key: required_text(doc, "msgId")?,
        from: required_text(doc, "from")?.to_ascii_lowercase(),
        to: if p2p { to.to_ascii_lowercase() } else { to },
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

/// eventType 2 (login) / 3 (logout), keyed by client type: `deviceId` is often absent (NetEase's
/// own logout sample has none) and `clientType` comes in any case (`AOS`, `iOS`).
fn presence(mut doc: Map<String, Value>, online: bool) -> Result<Presence, ParseError> {
    let accid = required_text(&doc, "accid")?.to_ascii_lowercase();
    let at_ms = required_ms(&doc, "timestamp")?;
    let client_type =
        optional_text(&doc, "clientType").map_or_else(|| "unknown".to_owned(), |t| t.to_ascii_lowercase());
    let device_id = optional_text(&doc, "deviceId");
    let logout_reason = if online { None } else { doc.get("logOutReason").and_then(as_i64) };
    doc.insert("timestamp".into(), Value::from(at_ms));
    Ok(Presence { accid, client_type, device_id, online, at_ms, logout_reason, document: doc })
}

/// A login's `code` (`"200"` or `200`) says whether it succeeded; a login without one is taken as
/// successful, as NetEase only sends the callback for login attempts it reports.
fn login_succeeded(doc: &Map<String, Value>) -> bool {
    doc.get("code").is_none_or(|code| as_i64(code) == Some(200))
}

/// A `"true"`/`true` flag (NetEase sends `antispam` and `blacklist` only when they are true).
fn flag(doc: &Map<String, Value>, field: &str) -> bool {
    match doc.get(field) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.trim().eq_ignore_ascii_case("true"),
        _ => false,
    }
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

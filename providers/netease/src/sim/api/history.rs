//! history/querySessionMsg (the P2P history) and msg/markReadMsg (a read receipt on a reader's
//! behalf, copied to the callback as eventType 30).

use serde_json::{json, Value};

use crate::sim::callbacks::events::{self, REST_CLIENT};
use crate::sim::model::SentMessage;
use crate::sim::params::{NimError, NimResult, Params, Reply};
use crate::sim::world::{Call, World};
use crate::validate;

/// NetEase's numeric message type of a msgType, for history; `None` for types history leaves out.
fn numeric_type(msg_type: &str) -> Option<u16> {
    Some(match msg_type {
        "TEXT" => 0,
        "PICTURE" => 1,
        "AUDIO" => 2,
        "VIDEO" => 3,
        "LOCATION" => 4,
        "NOTIFICATION" => 5,
        "FILE" => 6,
        "TIPS" => 10,
        "ROBOT" => 11,
        "CUSTOM" => 100,
        _ => return None,
    })
}

fn required_ms(p: &Params, name: &str) -> NimResult<i64> {
    p.required(name)?.trim().parse().map_err(|_| NimError::param(format!("{name}: bad time")))
}

/// `body` as NetEase returns it: `{"msg": text}` for text and tips, the message's JSON otherwise.
fn body(m: &SentMessage) -> Value {
    match serde_json::from_str::<Value>(&m.attach) {
        Ok(object @ Value::Object(_)) if !matches!(m.msg_type.as_str(), "TEXT" | "TIPS") => object,
        _ => json!({ "msg": m.body }),
    }
}

/// Messages of the P2P session between `from` and `to` sent within [begintime, endtime], recalled
/// ones left out, oldest or newest first, at most `limit`.
pub(super) fn query_session_msg(w: &mut World, p: &Params, _call: &mut Call<'_>) -> NimResult<Reply> {
    let from = p.accid("from")?;
    let to = p.accid("to")?;
    let begin = required_ms(p, "begintime")?;
    let end = required_ms(p, "endtime")?;
    validate::check_time_window(begin, end)?;
    let limit: i64 = p.required("limit")?.trim().parse().map_err(|_| NimError::param("limit: must be 1 to 100"))?;
    validate::check_history_limit(limit)?;
    let newest_first = match p.get("reverse").map(str::trim) {
        None | Some("") | Some("2") => true,
        Some("1") => false,
        Some(_) => return Err(NimError::param("reverse: must be 1 (oldest first) or 2 (newest first)")),
    };
    let types: Vec<u16> = match p.get("type").map(str::trim).filter(|t| !t.is_empty()) {
        None => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|t| t.trim().parse().map_err(|_| NimError::param(format!("type: {t} is not a message type"))))
            .collect::<NimResult<_>>()?,
    };
    validate::check_history_types(&types)?;
    w.account(&from, "from")?;

    let in_window = |t: u64| i64::try_from(t).is_ok_and(|t| (begin..=end).contains(&t));
    let mut found: Vec<(&SentMessage, u16)> = w
        .messages
        .values()
        .filter(|m| m.conv_type == "PERSON" && !m.recalled && in_window(m.timestamp))
        .filter(|m| (m.from == from && m.to == to) || (m.from == to && m.to == from))
        .filter_map(|m| numeric_type(&m.msg_type).map(|t| (m, t)))
        .filter(|(_, t)| types.is_empty() || types.contains(t))
        .collect();
    found.sort_by_key(|(m, _)| (m.timestamp, m.msgid_server));
    if newest_first {
        found.reverse();
    }
    let msgs: Vec<Value> = found
        .into_iter()
        .take(usize::try_from(limit).unwrap_or(0))
        .map(|(m, t)| {
            json!({
                "from": m.from,
                "msgid": m.msgid_server,
                "sendtime": m.timestamp,
                "type": t,
                "fromclienttype": m.from_client_type,
                "msgidclient": m.msgid_client,
                "body": body(m),
            })
        })
        .collect();
    Ok(Reply::ok().with("size", json!(msgs.len())).with("msgs", Value::Array(msgs)))
}

/// `from` (the reader) read the P2P session with `to` up to the message with client id
/// `msgidClient`, which must be a known message from `to` to `from` (404 otherwise). The receipt's
/// `timestamp` is that message's time; its `clientType` is REST.
pub(super) fn mark_read_msg(w: &mut World, p: &Params, call: &mut Call<'_>) -> NimResult<Reply> {
    let reader = p.accid("from")?;
    let sender = p.accid("to")?;
    let msgid_client = p.required("msgidClient")?;
    validate::check_msgid_client("msgidClient", msgid_client)?;
    w.account(&reader, "from")?;
    w.account(&sender, "to")?;
    let message = w
        .messages
        .values()
        .find(|m| m.msgid_client == msgid_client && m.conv_type == "PERSON" && m.from == sender && m.to == reader)
        .ok_or_else(|| NimError::not_found(format!("no message {msgid_client} from {sender} to {reader}")))?;
    let receipt = events::read_receipt(&reader, &sender, msgid_client, message.timestamp, REST_CLIENT);
    call.callbacks.push(receipt);
    Ok(Reply::ok())
}

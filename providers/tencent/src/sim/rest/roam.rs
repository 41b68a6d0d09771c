//! Reading a C2C conversation back: unread counts, read marks, roaming history, recall.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{check_user_id, imported, parse, Ctx, Reply, RestError, RestResult};
use crate::sim::callbacks::events::REST_PLATFORM;
use crate::sim::callbacks::Event;
use crate::sim::model::SentMessage;
use crate::sim::world::World;

/// Most peers per `get_c2c_unread_msg_num`.
const MAX_PEERS: usize = 10;
/// A roaming page stops before its messages' JSON exceeds this (Tencent: "about 13 KB").
pub(crate) const ROAM_PAGE_BYTES: usize = 13 * 1024;
/// `MsgFlagBits` of a recalled message.
const RECALLED: u32 = 8;

#[derive(Deserialize)]
struct UnreadBody {
    #[serde(rename = "To_Account")]
    to: String,
    #[serde(rename = "Peer_Account", default)]
    peers: Option<Vec<String>>,
}

/// The total, and per peer asked for (or per peer with unread messages when none is asked for).
pub(super) fn get_c2c_unread_msg_num(world: &mut World, body: &Value, _ctx: &Ctx<'_>) -> RestResult<Reply> {
    let b: UnreadBody = parse(body)?;
    imported(world, "To_Account", &b.to)?;
    let list: Vec<Value> = match &b.peers {
        Some(peers) => {
            if peers.len() > MAX_PEERS {
                return Err(RestError::param(format!("Peer_Account holds at most {MAX_PEERS} UserIDs")));
            }
            peers.iter().try_for_each(|p| check_user_id("Peer_Account", p))?;
            peers.iter().map(|p| json!({"Peer_Account": p, "C2CUnreadMsgNum": world.unread_from(&b.to, p)})).collect()
        }
        None => world
            .unread_by_peer(&b.to)
            .into_iter()
            .map(|(p, n)| json!({"Peer_Account": p, "C2CUnreadMsgNum": n}))
            .collect(),
    };
    Ok(Reply::fields(json!({"AllC2CUnreadMsgNum": world.unread_total(&b.to), "C2CUnreadMsgNumList": list})))
}

#[derive(Deserialize)]
struct ReadBody {
    #[serde(rename = "Report_Account")]
    reader: String,
    #[serde(rename = "Peer_Account")]
    peer: String,
    #[serde(rename = "MsgReadTime", default)]
    time: Option<u64>,
}

/// Marks `Peer_Account`'s messages read up to `MsgReadTime` (default now); fires the read report.
pub(super) fn admin_set_msg_read(world: &mut World, body: &Value, ctx: &Ctx<'_>) -> RestResult<Reply> {
    let b: ReadBody = parse(body)?;
    imported(world, "Report_Account", &b.reader)?;
    imported(world, "Peer_Account", &b.peer)?;
    let event = world.mark_read(&b.reader, &b.peer, b.time.unwrap_or(ctx.now), REST_PLATFORM);
    Ok(Reply { events: vec![event], ..Reply::default() })
}

#[derive(Deserialize)]
struct RoamBody {
    #[serde(rename = "Operator_Account")]
    operator: String,
    #[serde(rename = "Peer_Account")]
    peer: String,
    #[serde(rename = "MaxCnt")]
    max_cnt: u32,
    #[serde(rename = "MinTime")]
    min_time: u64,
    #[serde(rename = "MaxTime")]
    max_time: u64,
    #[serde(rename = "LastMsgKey", default)]
    last_msg_key: Option<String>,
}

fn roam_item(world: &World, m: &SentMessage) -> Value {
    let mut item = json!({
        "From_Account": m.from,
        "To_Account": m.to,
        "MsgSeq": m.seq,
        "MsgRandom": m.random,
        "MsgTimeStamp": m.time,
        "MsgFlagBits": if m.recalled { RECALLED } else { 0 },
        "IsPeerRead": u8::from(world.is_read(m)),
        "MsgKey": m.msg_key,
        "MsgBody": m.body,
    });
    if let Some(data) = &m.cloud_custom_data {
        item["CloudCustomData"] = json!(data);
    }
    item
}

/// The conversation between the two accounts within [MinTime, MaxTime], newest first, after
/// `LastMsgKey` when given; a page holds at most MaxCnt messages and about 13 KB (at least one
/// message). Recalled messages are listed with MsgFlagBits 8; online-only ones are not roamed.
pub(super) fn admin_getroammsg(world: &mut World, body: &Value, _ctx: &Ctx<'_>) -> RestResult<Reply> {
    let b: RoamBody = parse(body)?;
    imported(world, "Operator_Account", &b.operator)?;
    imported(world, "Peer_Account", &b.peer)?;
    if b.max_cnt == 0 {
        return Err(RestError::param("MaxCnt must be positive"));
    }
    if b.min_time > b.max_time {
        return Err(RestError::param("MinTime must not be after MaxTime"));
    }
    let (a, p) = (b.operator.as_str(), b.peer.as_str());
    let mut window: Vec<&SentMessage> = world
        .messages
        .iter()
        .filter(|m| (m.from == a && m.to == p) || (m.from == p && m.to == a))
        .filter(|m| !m.online_only && (b.min_time..=b.max_time).contains(&m.time))
        .collect();
    // Newest first; a simulated client may back-date a message, so sort by time, then by arrival.
    window.reverse();
    window.sort_by_key(|m| std::cmp::Reverse(m.time));
    let start = match b.last_msg_key.as_deref().filter(|k| !k.is_empty()) {
        Some(key) => window.iter().position(|m| m.msg_key == key).map_or(0, |i| i + 1),
        None => 0,
    };
    let rest = &window[start.min(window.len())..];
    let mut list = Vec::new();
    let mut bytes = 0;
    for m in rest.iter().take(b.max_cnt as usize) {
        let item = roam_item(world, m);
        let size = item.to_string().len();
        if !list.is_empty() && bytes + size > ROAM_PAGE_BYTES {
            break;
        }
        bytes += size;
        list.push(item);
    }
    let complete = list.len() == rest.len();
    let last = list.len().checked_sub(1).map(|i| rest[i]);
    Ok(Reply::fields(json!({
        "Complete": u8::from(complete),
        "MsgCnt": list.len(),
        "LastMsgTime": last.map_or(0, |m| m.time),
        "LastMsgKey": last.map_or("", |m| m.msg_key.as_str()),
        "MsgList": list,
    })))
}

#[derive(Deserialize)]
struct WithdrawBody {
    #[serde(rename = "From_Account", default)]
    from: String,
    #[serde(rename = "To_Account", default)]
    to: String,
    #[serde(rename = "MsgKey", default)]
    msg_key: String,
}

/// Recalls one message (codes from Tencent's page: 90008/90003 unknown sender/recipient, 90054
/// malformed MsgKey, 20022 no such message, 20023 already recalled); fires the recall callback.
pub(super) fn admin_msgwithdraw(world: &mut World, body: &Value, _ctx: &Ctx<'_>) -> RestResult<Reply> {
    let b: WithdrawBody = parse(body)?;
    if b.from.is_empty() || !world.is_imported(&b.from) {
        return Err(RestError::new(90008, "From_Account is missing or does not exist"));
    }
    if b.to.is_empty() || !world.is_imported(&b.to) {
        return Err(RestError::new(90003, "To_Account is missing or does not exist"));
    }
    let parts: Vec<&str> = b.msg_key.split('_').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit())) {
        return Err(RestError::new(90054, "MsgKey is not valid"));
    }
    let Some(m) = world.message_mut(&b.from, &b.to, &b.msg_key) else {
        return Err(RestError::new(20022, "the message to recall does not exist"));
    };
    if m.recalled {
        return Err(RestError::new(20023, "the message has already been recalled"));
    }
    m.recalled = true;
    let unread = world.unread_total(&b.to);
    let event = Event::msg_withdraw(REST_PLATFORM, &b.from, &b.to, &b.msg_key, unread);
    Ok(Reply { events: vec![event], ..Reply::default() })
}

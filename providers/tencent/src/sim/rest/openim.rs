//! `openim/sendmsg`, `batchsendmsg` and `query_online_status`.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{check_user_id, parse, Ctx, Reply, RestError, RestResult};
use crate::sim::callbacks::events::REST_PLATFORM;
use crate::sim::callbacks::Event;
use crate::sim::model::{NotificationRecord, SentMessage};
use crate::sim::msgbody;
use crate::sim::world::{body_crc, DedupEntry, NewMessage, World};

/// Most recipients of one `batchsendmsg`.
const MAX_BATCH: usize = 500;
/// Most accounts per `query_online_status`.
const MAX_QUERY: usize = 500;
/// Longest `MsgLifeTime` (7 days).
const MAX_LIFETIME: u32 = 604_800;

const SEND_CONTROLS: &[&str] = &["NoUnread", "NoLastMsg", "WithMuteNotifications"];
const FORBID_CONTROLS: &[&str] = &["ForbidBeforeSendMsgCallback", "ForbidAfterSendMsgCallback"];

/// The fields `sendmsg` and `batchsendmsg` share (`To_Account` differs).
#[derive(Deserialize)]
struct Common {
    #[serde(rename = "SyncOtherMachine", default)]
    sync_other_machine: Option<u8>,
    #[serde(rename = "From_Account", default)]
    from: Option<String>,
    #[serde(rename = "MsgSeq", default)]
    seq: Option<u32>,
    #[serde(rename = "MsgRandom", default)]
    random: Option<Value>,
    #[serde(rename = "MsgBody", default)]
    body: Option<Value>,
    #[serde(rename = "CloudCustomData", default)]
    cloud_custom_data: Option<String>,
    #[serde(rename = "SendMsgControl", default)]
    send_msg_control: Option<Vec<String>>,
    #[serde(rename = "ForbidCallbackControl", default)]
    forbid_callback_control: Option<Vec<String>>,
    #[serde(rename = "MsgLifeTime", default)]
    lifetime: Option<u32>,
    #[serde(rename = "OfflinePushInfo", default)]
    offline_push_info: Option<Value>,
}

/// `Common`, checked.
struct Checked {
    from: String,
    random: u32,
    body: Value,
    control: Vec<String>,
    forbid_after: bool,
    online_only: bool,
}

fn check_common(world: &World, c: &Common, ctx: &Ctx<'_>) -> RestResult<Checked> {
    if c.sync_other_machine.is_some_and(|s| !(1..=2).contains(&s)) {
        return Err(RestError::param("SyncOtherMachine must be 1 or 2"));
    }
    let random = c
        .random
        .as_ref()
        .and_then(Value::as_u64)
        .and_then(|r| u32::try_from(r).ok())
        .ok_or_else(|| RestError::new(90005, "MsgRandom is missing or not a 32-bit unsigned integer"))?;
    let body = c.body.clone().unwrap_or(Value::Null);
    if let Some(problem) = msgbody::problem(&body) {
        return Err(RestError::new(90002, problem));
    }
    let control = c.send_msg_control.clone().unwrap_or_default();
    if let Some(bad) = control.iter().find(|v| !SEND_CONTROLS.contains(&v.as_str())) {
        return Err(RestError::param(format!("SendMsgControl: unknown value {bad}")));
    }
    let forbid = c.forbid_callback_control.clone().unwrap_or_default();
    if let Some(bad) = forbid.iter().find(|v| !FORBID_CONTROLS.contains(&v.as_str())) {
        return Err(RestError::param(format!("ForbidCallbackControl: unknown value {bad}")));
    }
    if c.lifetime.is_some_and(|l| l > MAX_LIFETIME) {
        return Err(RestError::new(90026, format!("MsgLifeTime must be 0..={MAX_LIFETIME} seconds")));
    }
    if c.offline_push_info.as_ref().is_some_and(|p| !p.is_object()) {
        return Err(RestError::param("OfflinePushInfo must be an object"));
    }
    let from = c.from.clone().filter(|f| !f.is_empty()).unwrap_or_else(|| ctx.admin.to_owned());
    check_user_id("From_Account", &from)?;
    if from != ctx.admin && !world.is_imported(&from) {
        return Err(sender_or_recipient(&from));
    }
    Ok(Checked {
        from,
        random,
        body,
        control,
        forbid_after: forbid.iter().any(|f| f == "ForbidAfterSendMsgCallback"),
        online_only: c.lifetime == Some(0),
    })
}

/// 20003: the sender or recipient was never imported.
fn sender_or_recipient(id: &str) -> RestError {
    RestError::new(20003, format!("the sender or recipient UserID is invalid or does not exist: {id}"))
}

fn new_message(
    c: &Checked,
    common: &Common,
    to: &str,
    now: u64,
    source: &'static str,
    key: Option<String>,
) -> NewMessage {
    NewMessage {
        from: c.from.clone(),
        to: to.to_owned(),
        time: now,
        seq: common.seq,
        random: c.random,
        body: c.body.clone(),
        cloud_custom_data: common.cloud_custom_data.clone(),
        send_msg_control: c.control.clone(),
        online_only: c.online_only,
        source,
        msg_key: key,
    }
}

fn notify(world: &mut World, m: &SentMessage, command: &str) {
    if msgbody::has_custom(&m.body) {
        world.record_notification(NotificationRecord {
            msg_key: m.msg_key.clone(),
            from: m.from.clone(),
            to: m.to.clone(),
            time: m.time,
            msg_seq: m.seq,
            msg_random: m.random,
            body: m.body.clone(),
            cloud_custom_data: m.cloud_custom_data.clone(),
            send_msg_control: m.send_msg_control.clone(),
            command: command.to_owned(),
        });
    }
}

#[derive(Deserialize)]
struct SendBody {
    #[serde(rename = "To_Account")]
    to: String,
    #[serde(flatten)]
    common: Common,
}

/// One C2C message. With a MsgSeq, a resend with the same sender, MsgSeq, MsgRandom and body
/// within 120 s answers the first send's MsgKey and MsgTime again and stores nothing.
pub(super) fn sendmsg(world: &mut World, body: &Value, ctx: &Ctx<'_>) -> RestResult<Reply> {
    let b: SendBody = parse(body)?;
    let c = check_common(world, &b.common, ctx)?;
    check_user_id("To_Account", &b.to)?;
    if !world.is_imported(&b.to) {
        return Err(sender_or_recipient(&b.to));
    }
    let dedup_key = b.common.seq.map(|seq| (c.from.clone(), seq, c.random, body_crc(&c.body)));
    if let Some(key) = &dedup_key {
        if let Some(hit) = world.dedup_hit(key, ctx.now) {
            let mut reply = Reply::fields(json!({"MsgTime": hit.time, "MsgKey": hit.msg_key, "MsgSeq": hit.seq}));
            reply.duplicate = true;
            return Ok(reply);
        }
    }
    let m = world.store(new_message(&c, &b.common, &b.to, ctx.now, "sendmsg", None));
    notify(world, &m, "openim/sendmsg");
    if let Some(key) = dedup_key {
        world.remember_send(key, DedupEntry { msg_key: m.msg_key.clone(), time: m.time, seq: m.seq });
    }
    let mut reply = Reply::fields(json!({"MsgTime": m.time, "MsgKey": m.msg_key, "MsgSeq": m.seq}));
    if !c.forbid_after {
        let unread = world.unread_total(&m.to);
        reply.events.push(Event::after_send_msg(REST_PLATFORM, &m, 0, "", unread));
    }
    Ok(reply)
}

#[derive(Deserialize)]
struct BatchBody {
    #[serde(rename = "To_Account")]
    to: Vec<String>,
    #[serde(flatten)]
    common: Common,
}

/// One message to up to 500 recipients, all under one MsgKey; fires no callbacks. Recipients
/// never imported are answered in `ErrorList` with 90012.
pub(super) fn batchsendmsg(world: &mut World, body: &Value, ctx: &Ctx<'_>) -> RestResult<Reply> {
    let b: BatchBody = parse(body)?;
    if b.to.is_empty() {
        return Err(RestError::param("To_Account must not be empty"));
    }
    if b.to.len() > MAX_BATCH {
        return Err(RestError::new(90011, format!("To_Account holds more than {MAX_BATCH} accounts")));
    }
    let c = check_common(world, &b.common, ctx)?;
    b.to.iter().try_for_each(|id| check_user_id("To_Account", id))?;
    let mut key: Option<String> = None;
    let mut errors = Vec::new();
    for to in &b.to {
        if !world.is_imported(to) {
            errors.push(json!({"To_Account": to, "ErrorCode": 90012}));
            continue;
        }
        let m = world.store(new_message(&c, &b.common, to, ctx.now, "batchsendmsg", key.clone()));
        notify(world, &m, "openim/batchsendmsg");
        key.get_or_insert(m.msg_key);
    }
    let mut fields = json!({"MsgKey": key.unwrap_or_default()});
    if !errors.is_empty() {
        fields["ErrorList"] = json!(errors);
    }
    Ok(Reply::fields(fields))
}

#[derive(Deserialize)]
struct OnlineBody {
    #[serde(rename = "To_Account")]
    to: Vec<String>,
}

/// `Online` when a simulated client is logged in, else `Offline`; unknown accounts in `ErrorList`.
pub(super) fn query_online_status(world: &mut World, body: &Value, _ctx: &Ctx<'_>) -> RestResult<Reply> {
    let b: OnlineBody = parse(body)?;
    if b.to.is_empty() || b.to.len() > MAX_QUERY {
        return Err(RestError::param(format!("To_Account must hold 1..={MAX_QUERY} UserIDs")));
    }
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for id in &b.to {
        match world.accounts.get(id) {
            Some(a) => {
                let status = if a.online.is_empty() { "Offline" } else { "Online" };
                results.push(json!({"To_Account": id, "Status": status}));
            }
            None => errors.push(json!({"To_Account": id, "ErrorCode": 70107})),
        }
    }
    let mut fields = json!({"QueryResult": results});
    if !errors.is_empty() {
        fields["ErrorList"] = json!(errors);
    }
    Ok(Reply::fields(fields))
}

//! msg/*: chat messages (sendMsg, sendBatchMsg, recall) and custom system notifications
//! (sendAttachMsg, sendBatchAttachMsg).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::sim::callbacks::events::{self, Recall};
use crate::sim::model::{NotificationRecord, SentMessage};
use crate::sim::params::{list_accid, NimError, NimResult, Params, Reply};
use crate::sim::world::{Call, World};
use crate::validate::{
    self, ATTACH_MAX, BATCH_RECIPIENTS_MAX, MSG_BODY_MAX, MSG_EXT_MAX, PAYLOAD_MAX, PUSHCONTENT_MAX, SOUND_MAX,
};

/// NetEase documents no bound for `option`; this keeps it reasonable.
const OPTION_MAX: usize = 1024;

fn over_batch_limit() -> NimError {
    NimError::new(419, format!("quantity over limit: at most {BATCH_RECIPIENTS_MAX} recipients"))
}

/// 0 P2P / 1 team, for `ope` (sendMsg) and `msgtype` (sendAttachMsg).
fn conversation(p: &Params, name: &str) -> NimResult<u8> {
    match p.required(name)?.trim() {
        "0" => Ok(0),
        "1" => Ok(1),
        _ => Err(NimError::param(format!("{name}: must be 0 (P2P) or 1 (team)"))),
    }
}

/// The recipient: an existing account for P2P, any team id for teams (teams are not simulated).
fn recipient(w: &World, p: &Params, name: &str, team: bool) -> NimResult<String> {
    if team {
        return team_id(p, name);
    }
    let to = p.accid(name)?;
    w.account(&to, name)?;
    Ok(to)
}

/// The content of a chat message: NetEase's msgType, and how `body` splits into the callback's
/// `body` (text of TEXT/TIPS) and `attach` (the JSON of every other type).
struct Content {
    msg_type: &'static str,
    body: String,
    attach: String,
    ext: Option<String>,
}

impl Content {
    fn parse(p: &Params) -> NimResult<Self> {
        let msg_type = match p.required("type")?.trim() {
            "0" => "TEXT",
            "1" => "PICTURE",
            "2" => "AUDIO",
            "3" => "VIDEO",
            "4" => "LOCATION",
            "6" => "FILE",
            "10" => "TIPS",
            "100" => "CUSTOM",
            other => return Err(NimError::param(format!("type: {other} is not a supported message type"))),
        };
        let raw = p.required_len("body", MSG_BODY_MAX)?;
        let json: Value = serde_json::from_str(raw).map_err(|_| NimError::param("body: must be valid JSON"))?;
        let (body, attach) = if matches!(msg_type, "TEXT" | "TIPS") {
            let text = json
                .get("msg")
                .and_then(Value::as_str)
                .ok_or_else(|| NimError::param("body: must be {\"msg\":\"...\"}"))?;
            (text.to_owned(), String::new())
        } else {
            (String::new(), raw.to_owned())
        };
        p.optional_len("pushcontent", PUSHCONTENT_MAX)?;
        p.optional_json("payload", PAYLOAD_MAX)?;
        p.optional_json("option", OPTION_MAX)?;
        p.optional_bool("antispam")?;
        let ext = p.optional_len("ext", MSG_EXT_MAX)?.filter(|e| !e.is_empty()).map(str::to_owned);
        Ok(Self { msg_type, body, attach, ext })
    }
}

fn store_message(w: &mut World, call: &mut Call<'_>, content: &Content, from: &str, to: &str, team: bool) -> u64 {
    let message = SentMessage {
        msgid_server: w.new_msgid(call),
        msgid_client: uuid::Uuid::new_v4().to_string(),
        conv_type: if team { "TEAM" } else { "PERSON" }.to_owned(),
        from: from.to_owned(),
        to: to.to_owned(),
        msg_type: content.msg_type.to_owned(),
        body: content.body.clone(),
        attach: content.attach.clone(),
        ext: content.ext.clone(),
        from_client_type: events::REST_CLIENT.to_owned(),
        from_device_id: String::new(),
        ip: None,
        port: None,
        antispam: false,
        timestamp: call.now_ms,
        recalled: false,
        request_id: call.request_id.map(str::to_owned),
    };
    call.callbacks.push(events::chat_message(&message, &w.nick(from)));
    let id = message.msgid_server;
    w.record_message(message);
    id
}

pub(super) fn send_msg(w: &mut World, p: &Params, call: &mut Call<'_>) -> NimResult<Reply> {
    let from = p.accid("from")?;
    w.account(&from, "from")?;
    let team = conversation(p, "ope")? == 1;
    let to = recipient(w, p, "to", team)?;
    let content = Content::parse(p)?;
    let msgid = store_message(w, call, &content, &from, &to, team);
    Ok(Reply::ok().with("data", json!({"msgid": msgid, "timetag": call.now_ms, "antispam": false})))
}

/// The recipients of a batch: registered ones, and the `unregister` rest (as given).
fn batch_recipients(w: &World, p: &Params) -> NimResult<(Vec<String>, Vec<String>)> {
    let raw = p.string_list("toAccids", BATCH_RECIPIENTS_MAX, over_batch_limit())?;
    if raw.is_empty() {
        return Err(NimError::param("toAccids: is empty"));
    }
    let mut registered = Vec::new();
    let mut unregister = Vec::new();
    for accid in raw {
        match list_accid(&accid).filter(|a| w.accounts.contains_key(a)) {
            Some(a) => registered.push(a),
            None => unregister.push(accid),
        }
    }
    Ok((registered, unregister))
}

pub(super) fn send_batch_msg(w: &mut World, p: &Params, call: &mut Call<'_>) -> NimResult<Reply> {
    let from = p.accid("fromAccid")?;
    w.account(&from, "fromAccid")?;
    let (registered, unregister) = batch_recipients(w, p)?;
    let content = Content::parse(p)?;
    let mut msgids = BTreeMap::new();
    for to in registered {
        let id = store_message(w, call, &content, &from, &to, false);
        msgids.insert(to, id);
    }
    Ok(Reply::ok()
        .with("unregister", json!(unregister))
        .with("msgids", json!(msgids))
        .with("timetag", json!(call.now_ms)))
}

/// The fields of a custom system notification.
struct Attach {
    attach: String,
    pushcontent: Option<String>,
    payload: Option<String>,
    sound: Option<String>,
    save: u8,
    option: Option<String>,
}

impl Attach {
    fn parse(p: &Params) -> NimResult<Self> {
        let owned = |v: Option<&str>| v.filter(|s| !s.is_empty()).map(str::to_owned);
        let save = match p.get("save").map(str::trim) {
            None | Some("") | Some("2") => 2,
            Some("1") => 1,
            Some(_) => return Err(NimError::param("save: must be 1 (online only) or 2 (offline too)")),
        };
        Ok(Self {
            attach: p.required_len("attach", ATTACH_MAX)?.to_owned(),
            pushcontent: owned(p.optional_len("pushcontent", PUSHCONTENT_MAX)?),
            payload: owned(p.optional_json("payload", PAYLOAD_MAX)?),
            sound: owned(p.optional_len("sound", SOUND_MAX)?),
            save,
            option: owned(p.optional_json("option", OPTION_MAX)?),
        })
    }

    fn deliver(&self, w: &mut World, call: &mut Call<'_>, api: &str, from: &str, to: &str, msgtype: u8) {
        let record = NotificationRecord {
            api: api.to_owned(),
            from: from.to_owned(),
            to: to.to_owned(),
            msgtype,
            attach: self.attach.clone(),
            pushcontent: self.pushcontent.clone(),
            payload: self.payload.clone(),
            sound: self.sound.clone(),
            save: self.save,
            option: self.option.clone(),
            request_id: call.request_id.map(str::to_owned),
            msgid_server: w.new_msgid(call),
            at: call.now_ms,
        };
        call.callbacks.push(events::custom_notification(&record, &w.nick(from)));
        w.record_notification(record);
    }
}

pub(super) fn send_attach_msg(w: &mut World, p: &Params, call: &mut Call<'_>) -> NimResult<Reply> {
    let from = p.accid("from")?;
    w.account(&from, "from")?;
    let msgtype = conversation(p, "msgtype")?;
    let to = recipient(w, p, "to", msgtype == 1)?;
    let attach = Attach::parse(p)?;
    attach.deliver(w, call, "msg/sendAttachMsg", &from, &to, msgtype);
    Ok(Reply::ok())
}

pub(super) fn send_batch_attach_msg(w: &mut World, p: &Params, call: &mut Call<'_>) -> NimResult<Reply> {
    let from = p.accid("fromAccid")?;
    w.account(&from, "fromAccid")?;
    let (registered, unregister) = batch_recipients(w, p)?;
    let attach = Attach::parse(p)?;
    for to in &registered {
        attach.deliver(w, call, "msg/sendBatchAttachMsg", &from, to, 0);
    }
    Ok(Reply::ok().with("unregister", json!(unregister)))
}

/// Recalls a message the simulator knows (type 7 P2P, 8 team), copied to the callback as
/// eventType 7 / 8 with the recalled message's msgidClient as `clientId` and `msg` as `selfMsg`.
pub(super) fn recall(w: &mut World, p: &Params, call: &mut Call<'_>) -> NimResult<Reply> {
    let msgid: u64 = parse_num(p, "deleteMsgid")?;
    let _timetag: u64 = parse_num(p, "timetag")?;
    let team = match p.required("type")?.trim() {
        "7" => false,
        "8" => true,
        _ => return Err(NimError::param("type: must be 7 (P2P) or 8 (team)")),
    };
    let from = p.accid("from")?;
    w.account(&from, "from")?;
    let to = if team { team_id(p, "to")? } else { p.accid("to")? };
    let note = p.optional_len("msg", PUSHCONTENT_MAX)?.unwrap_or_default().to_owned();
    p.optional_num::<u8>("ignoreTime")?;
    p.optional_len("pushcontent", PUSHCONTENT_MAX)?;
    p.optional_json("payload", PAYLOAD_MAX)?;
    let message =
        w.messages.get_mut(&msgid).ok_or_else(|| NimError::not_found(format!("message {msgid} not found")))?;
    if message.from != from || message.to != to {
        return Err(NimError::param(format!("message {msgid} was not sent from {from} to {to}")));
    }
    if message.recalled {
        return Ok(Reply::ok());
    }
    message.recalled = true;
    let r = Recall {
        team,
        msgid_server: msgid,
        client_id: &message.msgid_client,
        from: &from,
        to: &to,
        delete_time: call.now_ms,
        send_time: message.timestamp,
        from_client_type: events::REST_CLIENT,
        self_msg: &note,
        attach: None,
    };
    call.callbacks.push(events::recall(&r));
    Ok(Reply::ok())
}

/// A team id, checked like the client checks it (at most 32 characters).
fn team_id(p: &Params, name: &str) -> NimResult<String> {
    let tid = p.required(name)?;
    validate::check_team_id(name, tid)?;
    Ok(tid.to_owned())
}

fn parse_num(p: &Params, name: &str) -> NimResult<u64> {
    p.required(name)?.trim().parse().map_err(|_| NimError::param(format!("{name}: must be a number")))
}

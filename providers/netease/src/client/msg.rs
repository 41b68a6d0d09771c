//! `msg/*.action`: custom system notifications (sendAttachMsg, sendBatchAttachMsg) and server-sent
//! conversation messages (sendMsg).

use imbridge_provider::InvalidField;
use serde::Deserialize;
use serde_json::{json, Value};

use super::form::Form;
use super::lenient;
use super::limits::ApiClass;
use super::NeteaseClient;
use crate::error::NeteaseError;
use crate::validate::{self, normalize_accid};

/// One-to-one or team: `msgtype` of sendAttachMsg, `ope` of sendMsg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conv {
    P2p = 0,
    Team = 1,
}

/// `save`: whether NetEase stores a notification for offline devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Save {
    /// 1: online devices only.
    OnlineOnly = 1,
    /// 2: stored for offline devices (NetEase's default).
    #[default]
    Offline = 2,
}

/// `option` of a notification: `{"badge":..,"route":..}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttachOption {
    /// Count it in the app badge.
    pub badge: bool,
    /// Copy it to our callback (消息抄送).
    pub route: bool,
}

/// Push and storage settings shared by single and batch notifications.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Push text (at most 500 characters).
    pub pushcontent: Option<String>,
    /// Push payload, JSON (at most 2048 characters).
    pub payload: Option<String>,
    /// Push sound (at most 30 characters).
    pub sound: Option<String>,
    pub save: Save,
    /// `None` leaves NetEase's defaults.
    pub option: Option<AttachOption>,
}

impl Delivery {
    fn check(&self) -> Result<(), InvalidField> {
        validate::check_opt_len("pushcontent", self.pushcontent.as_deref(), validate::PUSHCONTENT_MAX)?;
        if let Some(payload) = &self.payload {
            validate::check_json("payload", payload, validate::PAYLOAD_MAX)?;
        }
        validate::check_opt_len("sound", self.sound.as_deref(), validate::SOUND_MAX)
    }

    fn fields(&self, form: Form) -> Form {
        let option = self.option.map(|o| json!({"badge": o.badge, "route": o.route}).to_string());
        form.opt("pushcontent", self.pushcontent.as_deref())
            .opt("payload", self.payload.as_deref())
            .opt("sound", self.sound.as_deref())
            .text("save", (self.save as u8).to_string())
            .opt("option", option.as_deref())
    }
}

/// `msg/sendAttachMsg.action`: one custom system notification to an account or a team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachMsg {
    pub from: String,
    pub msgtype: Conv,
    /// An accid (P2P) or a team id.
    pub to: String,
    /// The notification body (at most 4096 characters; JSON advised).
    pub attach: String,
    pub delivery: Delivery,
}

/// `msg/sendBatchAttachMsg.action`: one notification to up to 500 accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchAttachMsg {
    pub from_accid: String,
    pub to_accids: Vec<String>,
    pub attach: String,
    pub delivery: Delivery,
}

/// What a batch send reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct BatchSent {
    /// Recipients NetEase does not know; they got nothing.
    #[serde(default, deserialize_with = "lenient::string_list")]
    pub unregister: Vec<String>,
}

/// sendMsg `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgType {
    Text = 0,
    Picture = 1,
    Audio = 2,
    Video = 3,
    Location = 4,
    File = 6,
    Tips = 10,
    Custom = 100,
}

/// `msg/sendMsg.action`: a conversation message sent by the server on behalf of `from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendMsg {
    pub from: String,
    pub ope: Conv,
    /// An accid (P2P) or a team id.
    pub to: String,
    pub msg_type: MsgType,
    /// The message body, JSON (at most 5000 characters); text is `{"msg":"..."}`.
    pub body: String,
    /// Extension, JSON advised (at most 1024 characters).
    pub ext: Option<String>,
    pub pushcontent: Option<String>,
    pub payload: Option<String>,
}

impl SendMsg {
    /// A text message.
    pub fn text(from: impl Into<String>, ope: Conv, to: impl Into<String>, text: &str) -> Self {
        Self {
            from: from.into(),
            ope,
            to: to.into(),
            msg_type: MsgType::Text,
            body: json!({ "msg": text }).to_string(),
            ext: None,
            pushcontent: None,
            payload: None,
        }
    }
}

/// What sendMsg reports (`data`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SentMsg {
    /// The server message id: the `msgidServer` of the copy NetEase posts to callbacks.
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub msgid: String,
    /// Send time, ms since the epoch.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub timetag: Option<i64>,
    /// Whether anti-spam flagged the message (`data.antispam`), when NetEase says.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub antispam: Option<bool>,
    /// A `desc` NetEase put beside `code: 200` (e.g. an anti-spam remark): kept, not dropped.
    #[serde(skip)]
    pub desc: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct DataReply<T> {
    data: T,
    #[serde(default)]
    desc: Option<Value>,
}

/// `to` is an accid for P2P (normalised) and a team id otherwise.
pub(super) fn recipient(conv: Conv, to: &str) -> Result<String, InvalidField> {
    match conv {
        Conv::P2p => normalize_accid("to", to),
        Conv::Team => validate::check_team_id("to", to).map(|()| to.to_owned()),
    }
}

fn check_attach(attach: &str) -> Result<(), InvalidField> {
    validate::check_len("attach", attach, validate::ATTACH_MAX)
}

impl NeteaseClient {
    /// `msg/sendAttachMsg.action`.
    pub async fn send_attach_msg(&self, req: &AttachMsg, request_id: Option<&str>) -> Result<(), NeteaseError> {
        let from = normalize_accid("from", &req.from)?;
        let to = recipient(req.msgtype, &req.to)?;
        check_attach(&req.attach)?;
        req.delivery.check()?;
        let form = Form::new()
            .text("from", from)
            .text("msgtype", (req.msgtype as u8).to_string())
            .text("to", to)
            .text("attach", req.attach.as_str());
        let form = req.delivery.fields(form);
        self.call::<serde::de::IgnoredAny>(ApiClass::PerSecond, "msg/sendAttachMsg.action", form, request_id).await?;
        Ok(())
    }

    /// `msg/sendBatchAttachMsg.action` for 1..=500 recipients (batch quota class).
    pub async fn send_batch_attach_msg(
        &self,
        req: &BatchAttachMsg,
        request_id: Option<&str>,
    ) -> Result<BatchSent, NeteaseError> {
        let from = normalize_accid("fromAccid", &req.from_accid)?;
        if req.to_accids.is_empty() {
            return Err(InvalidField::new("toAccids", "must not be empty").into());
        }
        if req.to_accids.len() > validate::BATCH_RECIPIENTS_MAX {
            let reason = format!("at most {} recipients per call", validate::BATCH_RECIPIENTS_MAX);
            return Err(InvalidField::new("toAccids", reason).into());
        }
        let to = req.to_accids.iter().map(|a| normalize_accid("toAccids", a)).collect::<Result<Vec<_>, _>>()?;
        check_attach(&req.attach)?;
        req.delivery.check()?;
        let form = Form::new().text("fromAccid", from).list("toAccids", &to).text("attach", req.attach.as_str());
        let form = req.delivery.fields(form);
        self.call(ApiClass::Batch, "msg/sendBatchAttachMsg.action", form, request_id).await
    }

    /// `msg/sendMsg.action`.
    pub async fn send_msg(&self, req: &SendMsg, request_id: Option<&str>) -> Result<SentMsg, NeteaseError> {
        let from = normalize_accid("from", &req.from)?;
        let to = recipient(req.ope, &req.to)?;
        validate::check_json("body", &req.body, validate::MSG_BODY_MAX)?;
        validate::check_opt_len("ext", req.ext.as_deref(), validate::MSG_EXT_MAX)?;
        validate::check_opt_len("pushcontent", req.pushcontent.as_deref(), validate::PUSHCONTENT_MAX)?;
        if let Some(payload) = &req.payload {
            validate::check_json("payload", payload, validate::PAYLOAD_MAX)?;
        }
        let form = Form::new()
            .text("from", from)
            .text("ope", (req.ope as u8).to_string())
            .text("to", to)
            .text("type", (req.msg_type as u8).to_string())
            .text("body", req.body.as_str())
            .opt("ext", req.ext.as_deref())
            .opt("pushcontent", req.pushcontent.as_deref())
            .opt("payload", req.payload.as_deref());
        let reply: DataReply<SentMsg> = self.call(ApiClass::PerSecond, "msg/sendMsg.action", form, request_id).await?;
        let desc = reply.desc.as_ref().filter(|d| !d.is_null()).map(lenient::text);
        Ok(SentMsg { desc, ..reply.data })
    }
}

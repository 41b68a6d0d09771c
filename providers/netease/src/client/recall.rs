//! `msg/recall.action` (recall a message) and `msg/markReadMsg.action` (a P2P read receipt on a
//! reader's behalf), shared/providers/netease.md §5.

use imbridge_provider::InvalidField;
use serde::de::IgnoredAny;

use super::form::Form;
use super::limits::ApiClass;
use super::msg::{recipient, Conv};
use super::NeteaseClient;
use crate::error::NeteaseError;
use crate::validate::{self, normalize_accid};

/// `msg/recall.action`: recall a message `from` sent to `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecallMsg {
    /// The message's server id (`deleteMsgid`: the msgidServer of its callback, msgid of sendMsg).
    pub msgid: String,
    /// The message's send time, ms since the epoch (`timetag`).
    pub timetag: i64,
    /// P2P (`type` 7) or team (`type` 8).
    pub conv: Conv,
    pub from: String,
    /// An accid (P2P) or a team id.
    pub to: String,
    /// The recall's note (`msg`); the recall callback carries it as `selfMsg`.
    pub msg: Option<String>,
    /// Recall even past NetEase's recall time limit (`ignoreTime=1`).
    pub ignore_time: bool,
    pub pushcontent: Option<String>,
    /// Push payload, JSON.
    pub payload: Option<String>,
}

impl RecallMsg {
    /// A P2P recall with no note or push.
    pub fn p2p(msgid: impl Into<String>, timetag: i64, from: impl Into<String>, to: impl Into<String>) -> Self {
        Self {
            msgid: msgid.into(),
            timetag,
            conv: Conv::P2p,
            from: from.into(),
            to: to.into(),
            msg: None,
            ignore_time: false,
            pushcontent: None,
            payload: None,
        }
    }
}

/// `msg/markReadMsg.action`: `from` (the reader) has read the P2P session with `to` up to the
/// message whose client id is `msgid_client`. NetEase then posts the eventType 30 callback a read
/// on a device would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkRead {
    /// The reader.
    pub from: String,
    /// The sender of the messages read.
    pub to: String,
    /// The client id (`msgidClient`) of the newest message read.
    pub msgid_client: String,
}

/// A msgidServer: digits only (NetEase sends it as a numeric string).
fn check_msgid(field: &str, msgid: &str) -> Result<(), InvalidField> {
    if msgid.is_empty() || msgid.len() > 20 || !msgid.bytes().all(|b| b.is_ascii_digit()) {
        return Err(InvalidField::new(field, "must be a numeric message id"));
    }
    Ok(())
}

impl NeteaseClient {
    /// `msg/recall.action`.
    pub async fn recall_msg(&self, req: &RecallMsg, request_id: Option<&str>) -> Result<(), NeteaseError> {
        check_msgid("deleteMsgid", &req.msgid)?;
        if req.timetag < 0 {
            return Err(InvalidField::new("timetag", "must be ms since the epoch").into());
        }
        let from = normalize_accid("from", &req.from)?;
        let to = recipient(req.conv, &req.to)?;
        validate::check_opt_len("msg", req.msg.as_deref(), validate::RECALL_MSG_MAX)?;
        validate::check_opt_len("pushcontent", req.pushcontent.as_deref(), validate::PUSHCONTENT_MAX)?;
        if let Some(payload) = &req.payload {
            validate::check_json("payload", payload, validate::PAYLOAD_MAX)?;
        }
        let kind = match req.conv {
            Conv::P2p => "7",
            Conv::Team => "8",
        };
        let form = Form::new()
            .text("deleteMsgid", req.msgid.as_str())
            .text("timetag", req.timetag.to_string())
            .text("type", kind)
            .text("from", from)
            .text("to", to)
            .opt("msg", req.msg.as_deref())
            .opt("ignoreTime", req.ignore_time.then_some("1"))
            .opt("pushcontent", req.pushcontent.as_deref())
            .opt("payload", req.payload.as_deref());
        self.call::<IgnoredAny>(ApiClass::PerSecond, "msg/recall.action", form, request_id).await?;
        Ok(())
    }

    /// `msg/markReadMsg.action`.
    pub async fn mark_read_msg(&self, req: &MarkRead, request_id: Option<&str>) -> Result<(), NeteaseError> {
        let from = normalize_accid("from", &req.from)?;
        let to = normalize_accid("to", &req.to)?;
        validate::check_msgid_client("msgidClient", &req.msgid_client)?;
        let form = Form::new().text("from", from).text("to", to).text("msgidClient", req.msgid_client.as_str());
        self.call::<IgnoredAny>(ApiClass::PerSecond, "msg/markReadMsg.action", form, request_id).await?;
        Ok(())
    }
}

//! `openim/*` messages: sendmsg, batchsendmsg, unread counts, read marks, recall.
//!
//! De-duplication: Tencent drops a resend with the same sender + MsgSeq + MsgRandom + content for
//! 120 s (tencent.md §1). So the caller picks `msg_seq` and `msg_random` once per delivery item and
//! reuses them on every retry; a retry after 120 s delivers twice, which only the caller's own
//! delivery state can prevent.

use imbridge_provider::InvalidField;
use serde_json::{json, Map, Value};

use super::lenient;
use super::validate::{self, BATCH_RECIPIENTS_MAX, UNREAD_PEERS_MAX};
use super::TencentClient;
use crate::error::TencentError;

/// One C2C message sent by the server (`openim/sendmsg`; `openim/batchsendmsg` ignores `to`).
#[derive(Debug, Clone, PartialEq)]
pub struct SendMsg {
    /// Sender; `None` sends as the App admin.
    pub from: Option<String>,
    /// Recipient (ignored by [`TencentClient::batch_send_msg`]).
    pub to: String,
    /// With `msg_random`, what Tencent de-duplicates resends on: keep both across retries.
    pub msg_seq: u32,
    pub msg_random: u32,
    /// The `MsgBody` array, e.g. `[{"MsgType":"TIMCustomElem","MsgContent":{"Data":"..."}}]`.
    pub body: Value,
    pub cloud_custom_data: Option<String>,
    /// `SendMsgControl: NoUnread`: not counted as unread.
    pub no_unread: bool,
    /// `SendMsgControl: NoLastMsg`: not the conversation's last message.
    pub no_last_msg: bool,
    /// `ForbidCallbackControl: [ForbidAfterSendMsgCallback]`: no after-send callback for it.
    pub forbid_after_callback: bool,
    /// `MsgLifeTime: 0`: delivered to online users only, not stored.
    pub online_only: bool,
    /// `OfflinePushInfo.Desc`: the push text.
    pub offline_push_desc: Option<String>,
    /// `SyncOtherMachine`: 1 syncs the message to the sender's devices, 2 does not (the default;
    /// 0 is taken as 2).
    pub sync_other_machine: u8,
}

impl Default for SendMsg {
    fn default() -> Self {
        Self {
            from: None,
            to: String::new(),
            msg_seq: 0,
            msg_random: 0,
            body: Value::Array(Vec::new()),
            cloud_custom_data: None,
            no_unread: false,
            no_last_msg: false,
            forbid_after_callback: false,
            online_only: false,
            offline_push_desc: None,
            sync_other_machine: 2,
        }
    }
}

/// What sendmsg reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMsg {
    /// Send time, unix seconds.
    pub msg_time: u64,
    /// The message's unique key: the `MsgKey` of its callbacks, of recall and of history.
    pub msg_key: String,
}

/// What batchsendmsg reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchSent {
    pub msg_key: Option<String>,
    /// Recipients Tencent did not deliver to, with its ErrorCode (e.g. 70107, not imported).
    pub failed: Vec<(String, i64)>,
}

/// Tencent's own unread counts of one account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct C2cUnread {
    /// `AllC2CUnreadMsgNum`, over every C2C conversation, when Tencent gave it.
    pub total: Option<u64>,
    /// Per asked peer.
    pub per_peer: Vec<(String, u64)>,
}

impl SendMsg {
    /// The body fields shared by sendmsg and batchsendmsg (everything but the recipients).
    fn fields(&self, batch: bool) -> Result<Map<String, Value>, InvalidField> {
        if let Some(from) = &self.from {
            validate::user_id("from", from)?;
        }
        match &self.body {
            Value::Array(items) if !items.is_empty() => {}
            _ => return Err(InvalidField::new("body", "must be a non-empty MsgBody array")),
        }
        let sync = match self.sync_other_machine {
            0 => 2,
            s @ (1 | 2) => s,
            other => return Err(InvalidField::new("sync_other_machine", format!("{other} is not 1 or 2"))),
        };
        let mut m = Map::new();
        m.insert("SyncOtherMachine".into(), json!(sync));
        if let Some(from) = &self.from {
            m.insert("From_Account".into(), json!(from));
        }
        m.insert("MsgSeq".into(), json!(self.msg_seq));
        m.insert("MsgRandom".into(), json!(self.msg_random));
        m.insert("MsgBody".into(), self.body.clone());
        if let Some(data) = &self.cloud_custom_data {
            m.insert("CloudCustomData".into(), json!(data));
        }
        let mut control = Vec::new();
        if self.no_unread {
            control.push("NoUnread");
        }
        if self.no_last_msg {
            control.push("NoLastMsg");
        }
        if !control.is_empty() {
            m.insert("SendMsgControl".into(), json!(control));
        }
        // batchsendmsg fires no callbacks at all (tencent.md §1): nothing to forbid.
        if self.forbid_after_callback && !batch {
            m.insert("ForbidCallbackControl".into(), json!(["ForbidAfterSendMsgCallback"]));
        }
        if self.online_only {
            m.insert("MsgLifeTime".into(), json!(0));
        }
        if let Some(desc) = &self.offline_push_desc {
            m.insert("OfflinePushInfo".into(), json!({ "PushFlag": 0, "Desc": desc }));
        }
        Ok(m)
    }

    /// The `openim/sendmsg` body.
    pub(crate) fn sendmsg_body(&self) -> Result<Value, InvalidField> {
        validate::user_id("to", &self.to)?;
        let mut m = self.fields(false)?;
        m.insert("To_Account".into(), json!(self.to));
        Ok(Value::Object(m))
    }

    /// The `openim/batchsendmsg` body.
    pub(crate) fn batch_body(&self, to: &[String]) -> Result<Value, InvalidField> {
        validate::user_ids("to", to, BATCH_RECIPIENTS_MAX)?;
        let mut m = self.fields(true)?;
        m.insert("To_Account".into(), json!(to));
        Ok(Value::Object(m))
    }
}

impl TencentClient {
    /// `openim/sendmsg`.
    pub async fn send_msg(&self, msg: &SendMsg) -> Result<SentMsg, TencentError> {
        let body = msg.sendmsg_body()?;
        let reply = self.call("openim/sendmsg", &body).await?;
        Ok(SentMsg { msg_time: lenient::req_u64(&reply, "MsgTime")?, msg_key: lenient::req_str(&reply, "MsgKey")? })
    }

    /// `openim/batchsendmsg` to 1..=500 recipients (`msg.to` is ignored); more is refused
    /// locally. Draws from Tencent's 12 000 messages/min batch quota, one slot per recipient.
    pub async fn batch_send_msg(&self, msg: &SendMsg, to: &[String]) -> Result<BatchSent, TencentError> {
        let body = msg.batch_body(to)?;
        let _slots = {
            let _turn = self.inner.batch_turn.lock().await;
            let mut slots = Vec::with_capacity(to.len());
            for _ in to {
                slots.push(self.inner.batch_messages.acquire().await);
            }
            slots
        };
        let reply = self.call("openim/batchsendmsg", &body).await?;
        let failed = lenient::list(&reply, "ErrorList")?
            .iter()
            .map(|item| Ok((lenient::req_str(item, "To_Account")?, lenient::opt_i64(item, "ErrorCode")?.unwrap_or(-1))))
            .collect::<Result<_, TencentError>>()?;
        Ok(BatchSent { msg_key: lenient::opt_str(&reply, "MsgKey"), failed })
    }

    /// `openim/get_c2c_unread_msg_num`: `to_account`'s unread counts from up to 10 `peers`; no
    /// peers asks for the total only.
    pub async fn c2c_unread(&self, to_account: &str, peers: &[&str]) -> Result<C2cUnread, TencentError> {
        validate::user_id("to_account", to_account)?;
        let mut body = json!({ "To_Account": to_account });
        if !peers.is_empty() {
            validate::user_ids("peers", peers, UNREAD_PEERS_MAX)?;
            body["Peer_Account"] = json!(peers);
        }
        let reply = self.call("openim/get_c2c_unread_msg_num", &body).await?;
        let per_peer = lenient::list(&reply, "C2CUnreadMsgNumList")?
            .iter()
            .map(|item| {
                Ok((lenient::req_str(item, "Peer_Account")?, lenient::opt_u64(item, "C2CUnreadMsgNum")?.unwrap_or(0)))
            })
            .collect::<Result<_, TencentError>>()?;
        Ok(C2cUnread { total: lenient::opt_u64(&reply, "AllC2CUnreadMsgNum")?, per_peer })
    }

    /// `openim/admin_set_msg_read`: `reader` has read the C2C conversation with `peer`, up to
    /// `read_time_secs` (unix seconds; `None`: everything up to now).
    pub async fn admin_set_msg_read(
        &self,
        reader: &str,
        peer: &str,
        read_time_secs: Option<u64>,
    ) -> Result<(), TencentError> {
        validate::user_id("reader", reader)?;
        validate::user_id("peer", peer)?;
        let mut body = json!({ "Report_Account": reader, "Peer_Account": peer });
        if let Some(t) = read_time_secs {
            body["MsgReadTime"] = json!(t);
        }
        self.call("openim/admin_set_msg_read", &body).await?;
        Ok(())
    }

    /// `openim/admin_msgwithdraw`: recall the C2C message `msg_key` sent by `from` to `to`.
    pub async fn admin_msg_withdraw(&self, from: &str, to: &str, msg_key: &str) -> Result<(), TencentError> {
        validate::user_id("from", from)?;
        validate::user_id("to", to)?;
        if msg_key.is_empty() {
            return Err(InvalidField::new("msg_key", "must not be empty").into());
        }
        let body = json!({ "From_Account": from, "To_Account": to, "MsgKey": msg_key });
        self.call("openim/admin_msgwithdraw", &body).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg() -> SendMsg {
        SendMsg {
            from: Some("a".into()),
            to: "b".into(),
            msg_seq: 7,
            msg_random: 9,
            body: json!([{"MsgType": "TIMCustomElem", "MsgContent": {"Data": "d"}}]),
            ..SendMsg::default()
        }
    }

    #[test]
    fn plain_message_has_no_controls() {
        let body = msg().sendmsg_body().unwrap();
        assert_eq!(body["SyncOtherMachine"], 2);
        assert_eq!((body["MsgSeq"].as_u64(), body["MsgRandom"].as_u64()), (Some(7), Some(9)));
        for absent in ["SendMsgControl", "ForbidCallbackControl", "MsgLifeTime", "OfflinePushInfo", "CloudCustomData"] {
            assert!(body.get(absent).is_none(), "{absent}: {body}");
        }
    }

    #[test]
    fn batch_omits_callback_control_and_checks_recipients() {
        let m = SendMsg { forbid_after_callback: true, no_unread: true, ..msg() };
        let body = m.batch_body(&["x".into(), "y".into()]).unwrap();
        assert_eq!(body["To_Account"], json!(["x", "y"]));
        assert_eq!(body["SendMsgControl"], json!(["NoUnread"]));
        assert!(body.get("ForbidCallbackControl").is_none());
        assert!(m.batch_body(&[]).is_err());
        let too_many: Vec<String> = (0..501).map(|i| format!("u{i}")).collect();
        assert!(m.batch_body(&too_many).is_err());
        assert!(m.batch_body(&too_many[..500]).is_ok());
    }

    #[test]
    fn refused_locally() {
        assert!(SendMsg { body: json!([]), ..msg() }.sendmsg_body().is_err());
        assert!(SendMsg { body: json!({"x": 1}), ..msg() }.sendmsg_body().is_err());
        assert!(SendMsg { to: String::new(), ..msg() }.sendmsg_body().is_err());
        assert!(SendMsg { sync_other_machine: 3, ..msg() }.sendmsg_body().is_err());
        assert_eq!(SendMsg { sync_other_machine: 0, ..msg() }.sendmsg_body().unwrap()["SyncOtherMachine"], 2);
    }
}

//! `openim/admin_getroammsg`: one page of a C2C conversation's roaming history.
//!
//! Replies are capped at ~13 KB, so a time range comes in pages: resend with `max_time` =
//! [`RoamPage::last_msg_time`] and `last_msg_key` = [`RoamPage::last_msg_key`] until
//! [`RoamPage::complete`].

use imbridge_provider::InvalidField;
use serde_json::{json, Value};

use super::lenient;
use super::validate;
use super::TencentClient;
use crate::error::TencentError;

/// `MsgFlagBits` bit of a recalled message.
const RECALLED_FLAG: u64 = 8;

/// One page request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoamQuery {
    /// Whose history (`Operator_Account`).
    pub operator: String,
    /// The other side (`Peer_Account`).
    pub peer: String,
    /// At most this many messages (`MaxCnt`, at least 1).
    pub max_cnt: u32,
    /// Unix seconds, inclusive bounds (`MinTime`, `MaxTime`).
    pub min_time: u64,
    pub max_time: u64,
    /// The previous page's `LastMsgKey`, for the next page.
    pub last_msg_key: Option<String>,
}

/// One page of history.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoamPage {
    /// `Complete` = 1: nothing older in the range.
    pub complete: bool,
    /// Where the next page starts (`LastMsgTime`, unix seconds; 0 when Tencent gave none).
    pub last_msg_time: u64,
    pub last_msg_key: Option<String>,
    pub msgs: Vec<RoamMsg>,
}

/// One message of the history.
#[derive(Debug, Clone, PartialEq)]
pub struct RoamMsg {
    pub from: String,
    pub to: String,
    pub msg_seq: u64,
    pub msg_random: u64,
    /// Unix seconds (`MsgTimeStamp`).
    pub msg_time: u64,
    pub msg_key: String,
    /// `MsgFlagBits & 8`: the message was recalled.
    pub recalled: bool,
    /// `IsPeerRead`: the peer has read it.
    pub peer_read: bool,
    /// The `MsgBody` array as sent.
    pub body: Value,
    pub cloud_custom_data: Option<String>,
}

impl RoamQuery {
    pub(crate) fn body(&self) -> Result<Value, InvalidField> {
        validate::user_id("operator", &self.operator)?;
        validate::user_id("peer", &self.peer)?;
        if self.max_cnt == 0 {
            return Err(InvalidField::new("max_cnt", "must be at least 1"));
        }
        if self.min_time > self.max_time {
            return Err(InvalidField::new("min_time", "must not be after max_time"));
        }
        let mut body = json!({
            "Operator_Account": self.operator,
            "Peer_Account": self.peer,
            "MaxCnt": self.max_cnt,
            "MinTime": self.min_time,
            "MaxTime": self.max_time,
        });
        if let Some(key) = self.last_msg_key.as_deref().filter(|k| !k.is_empty()) {
            body["LastMsgKey"] = json!(key);
        }
        Ok(body)
    }
}

impl TencentClient {
    /// `openim/admin_getroammsg`: one page.
    pub async fn admin_get_roam_msg(&self, query: &RoamQuery) -> Result<RoamPage, TencentError> {
        let body = query.body()?;
        let reply = self.call("openim/admin_getroammsg", &body).await?;
        decode_page(&reply)
    }
}

pub(crate) fn decode_page(reply: &Value) -> Result<RoamPage, TencentError> {
    let msgs = lenient::list(reply, "MsgList")?.iter().map(decode_msg).collect::<Result<_, _>>()?;
    Ok(RoamPage {
        complete: lenient::flag(reply, "Complete"),
        last_msg_time: lenient::opt_u64(reply, "LastMsgTime")?.unwrap_or(0),
        last_msg_key: lenient::opt_str(reply, "LastMsgKey"),
        msgs,
    })
}

fn decode_msg(m: &Value) -> Result<RoamMsg, TencentError> {
    Ok(RoamMsg {
        from: lenient::req_str(m, "From_Account")?,
        to: lenient::req_str(m, "To_Account")?,
        msg_seq: lenient::opt_u64(m, "MsgSeq")?.unwrap_or(0),
        msg_random: lenient::opt_u64(m, "MsgRandom")?.unwrap_or(0),
        msg_time: lenient::req_u64(m, "MsgTimeStamp")?,
        msg_key: lenient::req_str(m, "MsgKey")?,
        recalled: lenient::opt_u64(m, "MsgFlagBits")?.unwrap_or(0) & RECALLED_FLAG != 0,
        peer_read: lenient::flag(m, "IsPeerRead"),
        body: lenient::opt(m, "MsgBody").cloned().unwrap_or_else(|| Value::Array(Vec::new())),
        cloud_custom_data: lenient::opt_str(m, "CloudCustomData"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_decodes_leniently() {
        let reply = json!({
            "ActionStatus": "OK", "ErrorCode": 0, "Complete": 0, "MsgCnt": 2,
            "LastMsgTime": "1764547300", "LastMsgKey": "k2", "Unknown": {"x": 1},
            "MsgList": [
                {"From_Account": "a", "To_Account": "b", "MsgSeq": 1, "MsgRandom": "2", "MsgTimeStamp": 1764547200,
                 "MsgKey": "k1", "MsgFlagBits": 8, "IsPeerRead": 1, "CloudCustomData": "c",
                 "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}}]},
                {"From_Account": "b", "To_Account": "a", "MsgSeq": 3, "MsgRandom": 4, "MsgTimeStamp": "1764547300",
                 "MsgKey": "k2", "MsgFlagBits": 0, "IsPeerRead": 0, "MsgBody": []}
            ]
        });
        let page = decode_page(&reply).unwrap();
        assert!(!page.complete);
        assert_eq!((page.last_msg_time, page.last_msg_key.as_deref()), (1764547300, Some("k2")));
        assert_eq!(page.msgs.len(), 2);
        let first = &page.msgs[0];
        assert!(first.recalled && first.peer_read);
        assert_eq!((first.msg_random, first.msg_time), (2, 1764547200));
        assert_eq!(first.cloud_custom_data.as_deref(), Some("c"));
        assert_eq!(first.body[0]["MsgContent"]["Text"], "hi");
        assert!(!page.msgs[1].recalled && !page.msgs[1].peer_read);
        let done = decode_page(&json!({"Complete": 1})).unwrap();
        assert!(done.complete && done.msgs.is_empty());
        assert!(decode_page(&json!({"MsgList": [{"From_Account": "a"}]})).is_err());
    }

    #[test]
    fn query_is_checked() {
        let q = RoamQuery {
            operator: "a".into(),
            peer: "b".into(),
            max_cnt: 20,
            min_time: 1,
            max_time: 2,
            last_msg_key: None,
        };
        let body = q.body().unwrap();
        assert!(body.get("LastMsgKey").is_none());
        assert_eq!(body["MaxCnt"], 20);
        let next = RoamQuery { last_msg_key: Some("k".into()), ..q.clone() }.body().unwrap();
        assert_eq!(next["LastMsgKey"], "k");
        assert!(RoamQuery { max_cnt: 0, ..q.clone() }.body().is_err());
        assert!(RoamQuery { min_time: 3, ..q.clone() }.body().is_err());
    }
}

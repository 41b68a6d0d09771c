//! The JSON bodies of the callbacks the simulator sends (shared/providers/tencent.md §3), with the
//! `OptPlatform` and `ClientIP` of their query strings.

use serde_json::{json, Value};

use crate::sim::model::SentMessage;

/// `OptPlatform` of events caused by a REST call.
pub(crate) const REST_PLATFORM: &str = "RESTAPI";
/// `ClientIP` of every event (the simulated clients all sit on loopback).
pub(crate) const CLIENT_IP: &str = "127.0.0.1";

/// One callback to send.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Event {
    pub command: &'static str,
    pub platform: String,
    pub body: Value,
}

impl Event {
    /// `C2C.CallbackAfterSendMsg`. `unread` is the receiver's total unread (-1 when the send failed).
    pub fn after_send_msg(platform: &str, m: &SentMessage, result: i64, error_info: &str, unread: i64) -> Self {
        let mut body = json!({
            "CallbackCommand": "C2C.CallbackAfterSendMsg",
            "From_Account": m.from,
            "To_Account": m.to,
            "MsgSeq": m.seq,
            "MsgRandom": m.random,
            "MsgTime": m.time,
            "MsgKey": m.msg_key,
            "OnlineOnlyFlag": u8::from(m.online_only),
            "SendMsgResult": result,
            "ErrorInfo": error_info,
            "UnreadMsgNum": unread,
            "MsgBody": m.body,
        });
        if let Some(data) = &m.cloud_custom_data {
            body["CloudCustomData"] = json!(data);
        }
        Self { command: "C2C.CallbackAfterSendMsg", platform: platform.to_owned(), body }
    }

    /// `C2C.CallbackAfterMsgReport`: `reader` read `peer`'s messages up to `time` (seconds).
    pub fn msg_report(platform: &str, reader: &str, peer: &str, time: u64, unread: i64) -> Self {
        let body = json!({
            "CallbackCommand": "C2C.CallbackAfterMsgReport",
            "Report_Account": reader,
            "Peer_Account": peer,
            "LastReadTime": time,
            "UnreadMsgNum": unread,
        });
        Self { command: "C2C.CallbackAfterMsgReport", platform: platform.to_owned(), body }
    }

    /// `C2C.CallbackAfterMsgWithDraw`; `unread` is the recipient's total after the recall.
    pub fn msg_withdraw(platform: &str, from: &str, to: &str, msg_key: &str, unread: i64) -> Self {
        let body = json!({
            "CallbackCommand": "C2C.CallbackAfterMsgWithDraw",
            "From_Account": from,
            "To_Account": to,
            "MsgKey": msg_key,
            "UnreadMsgNum": unread,
        });
        Self { command: "C2C.CallbackAfterMsgWithDraw", platform: platform.to_owned(), body }
    }

    /// `State.StateChange`. In this callback's `OptPlatform` iOS is spelled `IOS`.
    pub fn state_change(
        platform: &str,
        action: &str,
        user: &str,
        reason: &str,
        event_ms: u64,
        kicked: &[String],
    ) -> Self {
        let kicked: Vec<Value> = kicked.iter().map(|p| json!({"Platform": p})).collect();
        let body = json!({
            "CallbackCommand": "State.StateChange",
            "EventTime": event_ms,
            "Info": {"Action": action, "To_Account": user, "Reason": reason},
            "KickedDevice": kicked,
        });
        let platform = if platform.eq_ignore_ascii_case("ios") { "IOS" } else { platform };
        Self { command: "State.StateChange", platform: platform.to_owned(), body }
    }
}

//! What the simulator stores, as the `/__sim` API shows it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An imported account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub user_id: String,
    /// `Tag_Profile_IM_Nick`.
    pub nick: String,
    /// `Tag_Profile_IM_Image`.
    pub face_url: String,
    /// Every profile tag set (including Nick and Image), by tag.
    pub profile: BTreeMap<String, Value>,
    /// Sim-clock unix seconds of the first import.
    pub imported_at: u64,
    /// Platforms the account is logged in on (simulated clients).
    pub online: Vec<String>,
}

/// One friend of an account (a one-way edge: `Add_Type_Both` makes two).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Friend {
    pub user_id: String,
    pub add_source: String,
    pub since: u64,
}

/// `GET /__sim/friendships/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Friendships {
    pub friends: Vec<Friend>,
}

/// A C2C message (REST sendmsg/batchsendmsg or a simulated client).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentMessage {
    pub msg_key: String,
    pub from: String,
    pub to: String,
    /// Sim-clock unix seconds.
    pub time: u64,
    pub seq: u32,
    pub random: u32,
    /// The `MsgBody` array as sent.
    pub body: Value,
    pub cloud_custom_data: Option<String>,
    /// `SendMsgControl` as sent (`NoUnread`, `NoLastMsg`).
    pub send_msg_control: Vec<String>,
    /// `MsgLifeTime` 0: delivered to online users only, so neither roamed nor counted unread.
    pub online_only: bool,
    pub recalled: bool,
    /// Whether `to` has read it (its read watermark for `from` is at or after `time`).
    pub read: bool,
    /// `"sendmsg"`, `"batchsendmsg"` or `"client"`.
    pub source: String,
}

impl SentMessage {
    pub fn no_unread(&self) -> bool {
        self.send_msg_control.iter().any(|c| c == "NoUnread")
    }

    /// Whether the recipient's unread count includes it (before read watermarks).
    pub fn counts_unread(&self) -> bool {
        !self.recalled && !self.online_only && !self.no_unread()
    }
}

/// A REST message whose `MsgBody` holds a `TIMCustomElem`: one record per recipient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationRecord {
    pub msg_key: String,
    pub from: String,
    pub to: String,
    pub time: u64,
    pub msg_seq: u32,
    pub msg_random: u32,
    pub body: Value,
    pub cloud_custom_data: Option<String>,
    pub send_msg_control: Vec<String>,
    /// `"openim/sendmsg"` or `"openim/batchsendmsg"`.
    pub command: String,
}

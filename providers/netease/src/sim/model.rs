//! What the simulator knows, as the inspection API shows it. Times are milliseconds since the epoch.

use serde::{Deserialize, Serialize};

/// A NetEase account (user/create), with everything the API set on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Lowercased, as NetEase stores it.
    pub accid: String,
    /// The newest token; it is the only one that logs in.
    pub token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ex: Option<String>,
    #[serde(default)]
    pub blocked: bool,
    pub created_at: u64,
    pub updated_at: u64,
}

/// One side of a friendship: `faccid` is in the owner's friend list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Friend {
    pub faccid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serverex: Option<String>,
    pub createtime: u64,
    pub updatetime: u64,
}

/// A pending friend request (friend/add type 2), waiting for type 3 (accept) or 4 (reject).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FriendRequest {
    pub from: String,
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg: Option<String>,
    pub at: u64,
}

/// An account's friend list and pending requests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Friendships {
    pub accid: String,
    pub friends: Vec<Friend>,
    pub requests_received: Vec<FriendRequest>,
    pub requests_sent: Vec<FriendRequest>,
}

/// One recipient of a custom system notification (msg/sendAttachMsg or sendBatchAttachMsg).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationRecord {
    /// `msg/sendAttachMsg` or `msg/sendBatchAttachMsg`.
    pub api: String,
    pub from: String,
    /// The recipient accid, or the team id when `msgtype` is 1.
    pub to: String,
    /// 0 P2P, 1 team.
    pub msgtype: u8,
    pub attach: String,
    pub pushcontent: Option<String>,
    pub payload: Option<String>,
    pub sound: Option<String>,
    /// 1 online only, 2 stored offline.
    pub save: u8,
    pub option: Option<String>,
    /// The `RequestId` header of the call that delivered it.
    pub request_id: Option<String>,
    pub msgid_server: u64,
    pub at: u64,
}

/// A chat message the simulator knows: sent with msg/sendMsg or sendBatchMsg, or by a simulated
/// client through `/__sim/clients/message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentMessage {
    pub msgid_server: u64,
    pub msgid_client: String,
    /// PERSON or TEAM.
    pub conv_type: String,
    pub from: String,
    pub to: String,
    /// TEXT, PICTURE, ..., CUSTOM.
    pub msg_type: String,
    pub body: String,
    pub attach: String,
    pub ext: Option<String>,
    pub from_client_type: String,
    /// Empty for REST messages (no device).
    pub from_device_id: String,
    /// The sender's client address: set only for messages sent from an SDK client (the
    /// simulated clients), never for REST (msg/sendMsg, sendBatchMsg).
    #[serde(default)]
    pub ip: Option<String>,
    #[serde(default)]
    pub port: Option<u16>,
    /// Flagged by anti-spam (the callback then carries `"antispam":"true"`).
    #[serde(default)]
    pub antispam: bool,
    pub timestamp: u64,
    pub recalled: bool,
    pub request_id: Option<String>,
}

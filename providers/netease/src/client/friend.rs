//! `friend/*.action`: friendships.

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::form::Form;
use super::lenient;
use super::limits::ApiClass;
use super::NeteaseClient;
use crate::error::NeteaseError;
use crate::validate::{self, normalize_accid};

/// `friend/add.action` `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FriendAddType {
    /// 1: befriend directly, no consent asked.
    Direct = 1,
    /// 2: send a friend request.
    Request = 2,
    /// 3: accept a request.
    Accept = 3,
    /// 4: reject a request.
    Reject = 4,
}

/// `friend/add.action`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddFriend {
    /// The requester.
    pub accid: String,
    /// The target.
    pub faccid: String,
    pub kind: FriendAddType,
    /// Text shown with a request (at most 256 characters).
    pub msg: Option<String>,
    /// Server-side extension (at most 256 characters).
    pub serverex: Option<String>,
}

impl AddFriend {
    pub fn new(accid: impl Into<String>, faccid: impl Into<String>, kind: FriendAddType) -> Self {
        Self { accid: accid.into(), faccid: faccid.into(), kind, msg: None, serverex: None }
    }
}

/// One entry of `friend/get`'s `friends`. Fields NetEase adds beyond these are kept in `other`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Friend {
    pub faccid: String,
    #[serde(default)]
    pub alias: Option<String>,
    #[serde(default)]
    pub ex: Option<String>,
    #[serde(default)]
    pub serverex: Option<String>,
    /// Whether the friendship goes both ways.
    #[serde(default)]
    pub bidirection: Option<bool>,
    /// ms since the epoch.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub createtime: Option<i64>,
    /// ms since the epoch.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub updatetime: Option<i64>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Deserialize)]
pub(super) struct FriendsReply {
    #[serde(default)]
    friends: Vec<Friend>,
}

impl NeteaseClient {
    /// `friend/add.action`.
    pub async fn add_friend(&self, req: &AddFriend, request_id: Option<&str>) -> Result<(), NeteaseError> {
        let accid = normalize_accid("accid", &req.accid)?;
        let faccid = normalize_accid("faccid", &req.faccid)?;
        validate::check_opt_len("msg", req.msg.as_deref(), validate::FRIEND_MSG_MAX)?;
        validate::check_opt_len("serverex", req.serverex.as_deref(), validate::SERVEREX_MAX)?;
        let form = Form::new()
            .text("accid", accid)
            .text("faccid", faccid)
            .text("type", (req.kind as u8).to_string())
            .opt("msg", req.msg.as_deref())
            .opt("serverex", req.serverex.as_deref());
        self.call::<IgnoredAny>(ApiClass::PerSecond, "friend/add.action", form, request_id).await?;
        Ok(())
    }

    /// `friend/delete.action`; `is_delete_alias` also drops the alias `accid` gave `faccid`.
    pub async fn delete_friend(
        &self,
        accid: &str,
        faccid: &str,
        is_delete_alias: bool,
        request_id: Option<&str>,
    ) -> Result<(), NeteaseError> {
        let form = Form::new()
            .text("accid", normalize_accid("accid", accid)?)
            .text("faccid", normalize_accid("faccid", faccid)?)
            .text("isDeleteAlias", is_delete_alias.to_string());
        self.call::<IgnoredAny>(ApiClass::PerSecond, "friend/delete.action", form, request_id).await?;
        Ok(())
    }

    /// `friend/get.action`: `accid`'s friends changed since `updatetime_ms` (0 = all).
    pub async fn get_friends(
        &self,
        accid: &str,
        updatetime_ms: i64,
        request_id: Option<&str>,
    ) -> Result<Vec<Friend>, NeteaseError> {
        let form =
            Form::new().text("accid", normalize_accid("accid", accid)?).text("updatetime", updatetime_ms.to_string());
        let reply: FriendsReply = self.call(ApiClass::PerSecond, "friend/get.action", form, request_id).await?;
        Ok(reply.friends)
    }
}

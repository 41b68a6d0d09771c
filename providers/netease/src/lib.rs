//! NetEase YunXin (NIM): signing, a typed server API client, callback verification and parsing,
//! the [`imbridge_provider::ImProvider`] implementation, and a simulator of NetEase's server.

pub mod sign;
pub mod sim;
pub mod validate;

pub mod callback;
pub mod client;
pub mod config;
pub mod error;
pub mod history;
pub mod provider;

pub use client::friend::{AddFriend, Friend, FriendAddType};
pub use client::history::{HistoryMsg, HistoryOrder, QuerySessionMsg, SessionHistory};
pub use client::limits::ApiClass;
pub use client::msg::{
    AttachMsg, AttachOption, BatchAttachMsg, BatchSent, Conv, Delivery, MsgType, Save, SendMsg, SentMsg,
};
pub use client::recall::{MarkRead, RecallMsg};
pub use client::user::{CreateUser, UserInfo, UserToken};
pub use client::NeteaseClient;
pub use config::{NeteaseConfig, RateLimits};
pub use error::NeteaseError;
pub use provider::NeteaseProvider;

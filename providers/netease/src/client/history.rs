//! `history/querySessionMsg.action`: the P2P history NetEase keeps (shared/providers/netease.md §5).
//! No paging: a caller pages by moving the time window.

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::form::Form;
use super::lenient;
use super::limits::ApiClass;
use super::NeteaseClient;
use crate::error::NeteaseError;
use crate::validate::{self, normalize_accid};

/// `reverse`: the order of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HistoryOrder {
    /// 1: oldest first.
    OldestFirst = 1,
    /// 2: newest first (NetEase's default).
    #[default]
    NewestFirst = 2,
}

/// `history/querySessionMsg.action`: messages between `from` and `to` sent within
/// [`begin_ms`, `end_ms`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuerySessionMsg {
    pub from: String,
    pub to: String,
    /// ms since the epoch; must be earlier than `end_ms` (NetEase answers 414 "bad time").
    pub begin_ms: i64,
    pub end_ms: i64,
    /// 1..=100.
    pub limit: u32,
    pub order: HistoryOrder,
    /// Only these numeric message types (0 text, 1 picture, 2 audio, 3 video, 4 location,
    /// 5 notification, 6 file, 10 tips, 11 robot, 100 custom); empty: all.
    pub types: Vec<u16>,
}

impl QuerySessionMsg {
    /// Up to `limit` messages of any type, newest first.
    pub fn new(from: impl Into<String>, to: impl Into<String>, begin_ms: i64, end_ms: i64, limit: u32) -> Self {
        Self {
            from: from.into(),
            to: to.into(),
            begin_ms,
            end_ms,
            limit,
            order: HistoryOrder::default(),
            types: Vec::new(),
        }
    }
}

/// One message of the history. Fields NetEase adds beyond these are kept in `other`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct HistoryMsg {
    pub from: String,
    /// The msgidServer.
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub msgid: String,
    /// ms since the epoch.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub sendtime: Option<i64>,
    /// The numeric message type (0 text, ...).
    #[serde(rename = "type", default, deserialize_with = "lenient::opt_i64")]
    pub msg_type: Option<i64>,
    #[serde(default, deserialize_with = "opt_text")]
    pub fromclienttype: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    pub msgidclient: Option<String>,
    /// The content, e.g. `{"msg":"hello"}` for text (a JSON-encoded string is decoded).
    #[serde(default, deserialize_with = "json_object")]
    pub body: Value,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// What querySessionMsg answers.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct SessionHistory {
    /// How many messages came back (NetEase's `size`).
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub size: Option<i64>,
    #[serde(default)]
    pub msgs: Vec<HistoryMsg>,
}

/// A string or a number as text; null or absent is `None`.
fn opt_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(serde::de::Error::custom(format!("expected a string or number, got {other}"))),
    }
}

/// A JSON value, with a JSON-encoded string decoded when it holds JSON.
fn json_object<'de, D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => serde_json::from_str(&s).unwrap_or(Value::String(s)),
        other => other,
    })
}

impl NeteaseClient {
    /// `history/querySessionMsg.action`.
    pub async fn query_session_msg(
        &self,
        req: &QuerySessionMsg,
        request_id: Option<&str>,
    ) -> Result<SessionHistory, NeteaseError> {
        let from = normalize_accid("from", &req.from)?;
        let to = normalize_accid("to", &req.to)?;
        validate::check_time_window(req.begin_ms, req.end_ms)?;
        validate::check_history_limit(i64::from(req.limit))?;
        validate::check_history_types(&req.types)?;
        let types = req.types.iter().map(u16::to_string).collect::<Vec<_>>().join(",");
        let form = Form::new()
            .text("from", from)
            .text("to", to)
            .text("begintime", req.begin_ms.to_string())
            .text("endtime", req.end_ms.to_string())
            .text("limit", req.limit.to_string())
            .text("reverse", (req.order as u8).to_string())
            .opt("type", (!types.is_empty()).then_some(types.as_str()));
        self.call(ApiClass::PerSecond, "history/querySessionMsg.action", form, request_id).await
    }
}

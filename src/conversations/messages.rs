//! `GET /v1/messages`: one chat, newest first.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::cursor::MessageCursor;
use super::page_limit;
use super::ConversationsState;
use crate::accid::pair;
use crate::error::{ApiQuery, AppError, ErrorBody};
use imbridge_provider::ImProvider;

use crate::messages::{provider_message_id, PairQuery, F_FROM, F_KEY, F_RECALLED, F_SENT_AT, F_STATE, F_TO};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ChatQuery {
    /// One side of the chat (required).
    #[param(required = true, example = "buyer_01")]
    accid: Option<String>,
    /// The other side (required).
    #[param(required = true, example = "shop_1")]
    peer: Option<String>,
    /// Messages per page, 1 to 200 (default 50).
    limit: Option<usize>,
    /// Older than this cursor (a `next_cursor` of a page walked with `before`, or none).
    before: Option<String>,
    /// Newer than this cursor (to catch up after a page already shown).
    after: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Chat {
    /// Newest first.
    pub messages: Vec<ChatMessage>,
    /// Continues the walk in the same direction (`before=` it, or `after=` it when the request
    /// used `after`); `null` when there is nothing further.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChatMessage {
    pub msgid_server: String,
    pub msgid_client: Option<String>,
    pub from: String,
    pub to: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[schema(value_type = Object)]
    pub body: Value,
    #[schema(value_type = Object)]
    pub attach: Value,
    #[schema(value_type = Object)]
    pub ext: Value,
    pub sent_at: i64,
    pub recalled: bool,
    /// Whether its receiver had read it (by the receiver's read receipts).
    pub read: bool,
}

impl ChatMessage {
    /// A stored document as the API shows it: the store's fields, and what `provider` reads of its own.
    pub(super) fn of(provider: &dyn ImProvider, d: &Value) -> Option<Self> {
        let text = |field: &str| d.get(field).and_then(Value::as_str).map(str::to_owned);
        let content = provider.message_content(d);
        Some(ChatMessage {
            msgid_server: provider_message_id(&text(F_KEY)?).to_owned(),
            msgid_client: content.client_id,
            from: text(F_FROM)?,
            to: text(F_TO)?,
            kind: content.kind,
            body: content.body,
            attach: content.attach,
            ext: content.ext,
            sent_at: d.get(F_SENT_AT)?.as_i64()?,
            recalled: d.get(F_RECALLED).and_then(Value::as_bool).unwrap_or(false),
            read: d.get(F_STATE).and_then(Value::as_i64) == Some(1),
        })
    }
}

/// The chat between two accounts, newest first, both directions.
///
/// One-to-one chat messages only (system notifications are not part of a chat). Page with
/// `before` (older) or `after` (newer) and the previous page's `next_cursor`; pages neither skip
/// nor repeat a message, whatever arrives meanwhile.
#[utoipa::path(
    get,
    path = "/v1/messages",
    operation_id = "list_messages",
    tag = "conversations",
    params(ChatQuery),
    responses(
        (status = 200, description = "A page of the chat", body = Chat),
        (status = 400, description = "An unknown query parameter (`unknown_field`)", body = ErrorBody),
        (status = 422, description = "A missing or invalid `accid` or `peer`, both `before` and `after`, a bad cursor or `limit` (`invalid_field`)", body = ErrorBody),
        (status = 503, description = "The message store is unreachable (`unavailable`)", body = ErrorBody),
    )
)]
pub(super) async fn list(
    State(state): State<ConversationsState>,
    ApiQuery(q): ApiQuery<ChatQuery>,
) -> Result<Json<Chat>, AppError> {
    let (provider, store) = (&state.provider, &state.messages);
    let (accid, peer) = pair(provider.as_ref(), ("accid", q.accid.as_deref()), ("peer", q.peer.as_deref()))?;
    let limit = page_limit(q.limit)?;
    let (after, ascending) = match (q.before.as_deref(), q.after.as_deref()) {
        (Some(_), Some(_)) => return Err(AppError::invalid("after", "give before or after, not both")),
        (Some(c), None) => (Some(MessageCursor::parse("before", c)?), false),
        (None, Some(c)) => (Some(MessageCursor::parse("after", c)?), true),
        (None, None) => (None, false),
    };
    let query = PairQuery {
        from_ms: i64::MIN,
        to_ms: i64::MAX,
        after: after.map(|c| (c.at_ms, c.key)),
        ascending,
        limit: limit + 1,
        only_from: None,
    };
    let mut documents = store.pair_messages(&accid, &peer, &query).await?;
    let more = documents.len() > limit;
    documents.truncate(limit);
    let next_cursor = more.then(|| documents.last().and_then(MessageCursor::of)).flatten().map(|c| c.encode());
    if ascending {
        documents.reverse();
    }
    let messages = documents.iter().filter_map(|d| ChatMessage::of(state.provider.as_ref(), d)).collect();
    Ok(Json(Chat { messages, next_cursor }))
}

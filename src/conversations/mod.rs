//! The conversation layer on top of the stored messages:
//! - `GET /v1/conversations`: an account's inbox, newest activity first, with the last message, the
//!   unread count (the `/v1/unread` rule, from the same index) and the peer's read watermark;
//! - `GET /v1/messages`: one chat, newest first, both directions, paged by cursor;
//! - `GET /v1/messages/export`: the same chat as NDJSON, oldest first, streamed;
//! - `POST /v1/conversations/{accid}/{peer}/read`: mark a conversation read from the backend.
//!
//! The inbox reads the per-(owner, peer) summaries the stores keep with the messages, so a page
//! costs a few indexed queries whatever the number of conversations or messages.

mod cursor;
mod export;
mod inbox;
mod messages;
mod read;

use std::sync::Arc;

use axum::extract::FromRef;
use axum::routing::{get, post};
use axum::Router;
use utoipa::OpenApi;

use imbridge_provider::ImProvider;

use crate::messages::MessageStore;
use crate::notifications::Outbox;

pub use cursor::{ConversationCursor, MessageCursor};

/// The largest `limit` of `/v1/conversations` and `/v1/messages` (and their default).
pub const PAGE_MAX: usize = 200;
pub const PAGE_DEFAULT: usize = 50;

/// What the conversation routes need (derived from the app's state with [`FromRef`]).
#[derive(Clone)]
pub struct ConversationsState {
    pub provider: Arc<dyn ImProvider>,
    pub messages: Arc<dyn MessageStore>,
    /// Read receipts the provider is told about go through the outbox.
    pub outbox: Outbox,
    /// `export.max_days`.
    pub export_max_days: u32,
}

/// Paths are relative to `/v1`, where the app nests this router.
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    ConversationsState: FromRef<S>,
{
    Router::new()
        .route("/conversations", get(inbox::list))
        .route("/conversations/{accid}/{peer}/read", post(read::mark_read))
        .route("/messages", get(messages::list))
        .route("/messages/export", get(export::export))
}

/// The OpenAPI description of [`router`]'s routes (merged in [`crate::openapi`]).
#[derive(OpenApi)]
#[openapi(paths(inbox::list, read::mark_read, messages::list, export::export))]
pub struct ApiDoc;

/// `limit`: default [`PAGE_DEFAULT`], 1 to [`PAGE_MAX`].
fn page_limit(limit: Option<usize>) -> Result<usize, crate::error::AppError> {
    let limit = limit.unwrap_or(PAGE_DEFAULT);
    if !(1..=PAGE_MAX).contains(&limit) {
        return Err(crate::error::AppError::invalid("limit", format!("1 to {PAGE_MAX}")));
    }
    Ok(limit)
}

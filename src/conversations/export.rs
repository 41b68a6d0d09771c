//! `GET /v1/messages/export`: a chat as NDJSON for a dispute, streamed.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use super::ConversationsState;
use crate::accid::{pair, Accid};
use crate::error::{ApiQuery, AppError, ErrorBody};
use crate::messages::{MessageStore, PairQuery};

/// Messages read from the store per round trip; what one export holds in memory at a time.
const CHUNK: usize = 500;
const DAY_MS: i64 = 24 * 3600 * 1000;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ExportQuery {
    /// One side of the chat (required).
    #[param(required = true, example = "buyer_01")]
    accid: Option<String>,
    /// The other side (required).
    #[param(required = true, example = "shop_1")]
    peer: Option<String>,
    /// From this moment, ms since the epoch, inclusive (required).
    #[param(required = true, example = 1441900000000_i64)]
    from: Option<i64>,
    /// Up to this moment, inclusive (required); at most `export.max_days` after `from`.
    #[param(required = true, example = 1442000000000_i64)]
    to: Option<i64>,
}

/// Every stored message of a chat in a time range, as NDJSON, oldest first.
///
/// One line per message: every field as the provider sent it, plus imbridge's state (`state` 1 when
/// its receiver had read it, `recalled`, and our `from`/`to`/`conversation`/`countsUnread`). The
/// audit trail for a dispute over an order. Streamed from the store a chunk at a time, so memory
/// stays constant whatever the range; a store failure midway ends the stream early (the response
/// is then cut short, never silently complete).
#[utoipa::path(
    get,
    path = "/v1/messages/export",
    operation_id = "export_messages",
    tag = "conversations",
    params(ExportQuery),
    responses(
        (status = 200, description = "NDJSON, one stored message per line, oldest first", content_type = "application/x-ndjson", body = String),
        (status = 400, description = "An unknown query parameter (`unknown_field`)", body = ErrorBody),
        (status = 422, description = "A missing or invalid `accid`, `peer`, `from` or `to`, `from` after `to`, or a range over `export.max_days` (`invalid_field`)", body = ErrorBody),
    )
)]
pub(super) async fn export(
    State(state): State<ConversationsState>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<Response, AppError> {
    let (accid, peer) = pair(state.provider.as_ref(), ("accid", q.accid.as_deref()), ("peer", q.peer.as_deref()))?;
    let from_ms = q.from.ok_or_else(|| AppError::invalid("from", "required"))?;
    let to_ms = q.to.ok_or_else(|| AppError::invalid("to", "required"))?;
    if from_ms > to_ms {
        return Err(AppError::invalid("to", "must not be before from"));
    }
    let max_days = state.export_max_days;
    if to_ms.saturating_sub(from_ms) > i64::from(max_days) * DAY_MS {
        return Err(AppError::invalid("to", format!("the range may cover at most {max_days} days (export.max_days)")));
    }
    let walk = Walk { store: state.messages.clone(), accid, peer, from_ms, to_ms, after: None, done: false };
    let stream = futures::stream::unfold(walk, Walk::next_chunk);
    let headers = [(header::CONTENT_TYPE, "application/x-ndjson")];
    Ok((headers, Body::from_stream(stream)).into_response())
}

/// Keyset pagination over the pair, oldest first.
struct Walk {
    store: Arc<dyn MessageStore>,
    accid: Accid,
    peer: Accid,
    from_ms: i64,
    to_ms: i64,
    after: Option<(i64, String)>,
    done: bool,
}

impl Walk {
    async fn next_chunk(mut self) -> Option<(Result<Bytes, std::io::Error>, Self)> {
        if self.done {
            return None;
        }
        let query = PairQuery {
            from_ms: self.from_ms,
            to_ms: self.to_ms,
            after: self.after.clone(),
            ascending: true,
            limit: CHUNK,
            only_from: None,
        };
        let documents = match self.store.pair_messages(&self.accid, &self.peer, &query).await {
            Ok(documents) => documents,
            Err(err) => {
                tracing::error!(error = %err, accid = %self.accid, peer = %self.peer, "export cut short");
                self.done = true;
                return Some((Err(std::io::Error::other("the message store failed during the export")), self));
            }
        };
        if documents.len() < CHUNK {
            self.done = true;
        }
        let last = documents.last()?;
        match super::MessageCursor::of(last) {
            Some(c) => self.after = Some((c.at_ms, c.key)),
            // Cannot happen for stored messages; never loop back to the start.
            None => self.done = true,
        }
        let mut lines = Vec::with_capacity(documents.len() * 512);
        for document in &documents {
            // A Value always serializes.
            serde_json::to_writer(&mut lines, document).expect("JSON values serialize");
            lines.push(b'\n');
        }
        Some((Ok(Bytes::from(lines)), self))
    }
}

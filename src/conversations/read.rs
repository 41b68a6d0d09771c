//! `POST /v1/conversations/{accid}/{peer}/read`: mark a conversation read from the backend (a web
//! console, a support tool: anything that is not the provider's SDK).

use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use imbridge_provider::{Event, ReadPosition, ReadReport, Target};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ConversationsState;
use crate::accid::pair;
use crate::error::{ApiPath, AppError, ErrorBody, OptionalApiJson};
use crate::messages::{provider_message_id, CallbackRecord, PairQuery, RawCallback, F_KEY, F_SENT_AT};
use crate::notifications::{Message, NewNotification};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct ConversationPath {
    /// The reader.
    accid: String,
    /// Whose messages were read.
    peer: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct MarkRead {
    /// Read up to this moment (ms); default: the newest message from the peer.
    up_to: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"accid": "buyer_01", "peer": "shop_1", "read_up_to": 1441977355557_i64, "unread": 0,
    "receipt": "5c1f0e8a-9b7d-4c3e-2f1a-0b9c8d7e6f5a"}))]
pub struct MarkedRead {
    pub accid: String,
    pub peer: String,
    /// The reader's watermark for the peer now (it never moves back).
    pub read_up_to: Option<i64>,
    /// Unread messages from the peer now.
    pub unread: u64,
    /// The read receipt to the provider, delivered through the outbox: follow it with
    /// `GET /v1/notifications/{id}`. `null` when there was no message to report.
    pub receipt: Option<String>,
}

/// Mark a conversation read on the reader's behalf.
///
/// The reader's read watermark for the peer moves forward (never back) to the newest message from
/// the peer, or to `up_to`; its unread count follows. The provider is told durably (NetEase
/// `msg/markReadMsg`, through the outbox: retried, de-duplicated, visible in
/// `GET /v1/notifications/{receipt}`), so both sides' apps agree. Marking again is a no-op: the
/// same receipt, no second provider call.
#[utoipa::path(
    post,
    path = "/v1/conversations/{accid}/{peer}/read",
    operation_id = "mark_conversation_read",
    tag = "conversations",
    params(ConversationPath),
    request_body(content = Option<MarkRead>, description = "Optional: `{\"up_to\": ms}`"),
    responses(
        (status = 200, description = "The conversation's read state now", body = MarkedRead),
        (status = 400, description = "Not JSON, or an unknown field (`invalid_json`, `unknown_field`)", body = ErrorBody),
        (status = 422, description = "An invalid accid, the same account twice, or a bad `up_to` (`invalid_field`)", body = ErrorBody),
        (status = 503, description = "A store is unreachable (`unavailable`)", body = ErrorBody),
    )
)]
pub(super) async fn mark_read(
    State(state): State<ConversationsState>,
    ApiPath(path): ApiPath<ConversationPath>,
    OptionalApiJson(body): OptionalApiJson<MarkRead>,
) -> Result<Json<MarkedRead>, AppError> {
    let request = body.unwrap_or_default();
    let (reader, peer) = pair(state.provider.as_ref(), ("accid", Some(&path.accid)), ("peer", Some(&path.peer)))?;
    if request.up_to.is_some_and(|at| at < 0) {
        return Err(AppError::invalid("up_to", "must be a time in ms since the epoch"));
    }
    let store = &state.messages;
    let newest_from_peer = PairQuery {
        from_ms: i64::MIN,
        to_ms: request.up_to.unwrap_or(i64::MAX),
        after: None,
        ascending: false,
        limit: 1,
        only_from: Some(peer.to_string()),
    };
    let newest = store.pair_messages(&reader, &peer, &newest_from_peer).await?.into_iter().next();
    let up_to = request.up_to.or_else(|| newest.as_ref().and_then(|d| d[F_SENT_AT].as_i64()));

    if let Some(read_up_to_ms) = up_to {
        // Applied like a receipt from the provider (the watermark only moves forward), and kept in
        // the audit trail as what this API did.
        let body = serde_json::json!({"source": "imbridge", "action": "mark_read", "reader": reader, "peer": peer,
            "read_up_to": read_up_to_ms});
        let raw = RawCallback {
            provider: "imbridge".into(),
            event_type: "mark_read".into(),
            body: Bytes::from(body.to_string()),
            path_and_query: String::new(),
            received_at: SystemTime::now(),
        };
        let report = ReadReport { reader: reader.to_string(), peer: peer.to_string(), read_up_to_ms };
        store.apply(&[CallbackRecord { raw, events: vec![Event::ReadReport(report)] }]).await?;
    }

    // The provider hears of it through the outbox, once per newest message read.
    let position = newest.as_ref().and_then(|d| {
        Some(ReadPosition {
            key: provider_message_id(d[F_KEY].as_str()?).to_owned(),
            msgid_client: state.provider.message_content(d).client_id,
            sent_at_ms: d[F_SENT_AT].as_i64()?,
        })
    });
    let receipt = match position.filter(|p| state.provider.can_mark_read(p)) {
        Some(position) => {
            let idempotency_key = format!("read-receipt:{reader}:{peer}:{}", position.key);
            let receipt = NewNotification {
                message: Message::read_receipt(&reader, position),
                target: Target::Users(vec![peer.to_string()]),
                idempotency_key: Some(idempotency_key),
            };
            let submitted = state.outbox.enqueue(&receipt).await?;
            Some(submitted.accepted.id)
        }
        None => None,
    };
    let read_up_to = store.read_watermark(&reader, &peer).await?;
    let unread = store.unread(&reader, &[peer.to_string()]).await?.get(peer.as_str()).copied().unwrap_or(0);
    Ok(Json(MarkedRead { accid: reader.into_string(), peer: peer.into_string(), read_up_to, unread, receipt }))
}

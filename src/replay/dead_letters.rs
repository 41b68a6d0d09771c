//! `GET /v1/admin/dead-letters`, `POST /v1/admin/dead-letters/{id}/replay`: the signed callbacks
//! that could not be parsed, and retrying one through the current parser.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::reapply::{DeadLetterReplay, Replayer};
use crate::error::{ApiPath, ApiQuery, AppError, ErrorBody};
use crate::messages::DeadLetter;

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 500;

/// Paths are relative to `/v1`, where the app nests this router.
pub fn router<S: Clone + Send + Sync + 'static>(replayer: Replayer) -> Router<S> {
    Router::new()
        .route("/admin/dead-letters", get(list))
        .route("/admin/dead-letters/{id}/replay", post(replay))
        .with_state(replayer)
}

/// The OpenAPI description of [`router`]'s routes (merged in [`crate::openapi`]).
#[derive(OpenApi)]
#[openapi(paths(list, replay))]
pub struct ApiDoc;

/// Replay one dead letter (by its id, the body's digest) through the current parser: applied and
/// removed when it parses now, kept with the parser's current reason when not. The console's
/// replay button and `POST /v1/admin/dead-letters/{id}/replay` both call this.
pub async fn replay_dead_letter(replayer: &Replayer, id: &str) -> Result<DeadLetterReplay, AppError> {
    let letter = replayer.messages.dead_letter_by_id(id).await?;
    let letter = letter.ok_or_else(|| AppError::NotFound(format!("no dead letter {id}")))?;
    Ok(replayer.dead_letter(&letter).await?)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// How many, newest first: 1 to 500 (default 50).
    limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterList {
    /// Newest first.
    pub dead_letters: Vec<DeadLetterView>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "9f2c5d…", "provider": "netease", "event_type": "", "reason": "eventType 1: msgTimestamp: not a number",
    "received_at_ms": 1_700_000_000_000_i64, "body": "{\"eventType\":\"1\",…}"}))]
pub struct DeadLetterView {
    /// The body's digest; what `…/{id}/replay` takes.
    pub id: String,
    pub provider: String,
    /// Empty: the body never parsed.
    pub event_type: String,
    /// Why the parser refused it (the latest attempt's reason).
    pub reason: String,
    pub received_at_ms: i64,
    /// The body as received (invalid UTF-8 replaced).
    pub body: String,
}

impl From<DeadLetter> for DeadLetterView {
    fn from(letter: DeadLetter) -> Self {
        Self {
            body: String::from_utf8_lossy(&letter.body).into_owned(),
            id: letter.id,
            provider: letter.provider,
            event_type: letter.event_type,
            reason: letter.reason,
            received_at_ms: letter.received_at_ms,
        }
    }
}

/// What replaying one dead letter did.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"outcome": "still_failing", "reason": "not JSON: expected value at line 1 column 1"}))]
pub struct ReplayOutcome {
    /// `applied` (it parses now: stored, and gone from the list) or `still_failing` (kept).
    pub outcome: &'static str,
    /// Why it still fails.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The newest dead letters: signed callbacks the parser refused, kept so nothing is lost.
#[utoipa::path(
    get,
    path = "/v1/admin/dead-letters",
    operation_id = "list_dead_letters",
    tag = "replay",
    params(ListQuery),
    responses(
        (status = 200, description = "The newest dead letters", body = DeadLetterList),
        (status = 400, description = "An unknown query parameter (`unknown_field`)", body = ErrorBody),
        (status = 422, description = "`limit` not 1 to 500 (`invalid_field`)", body = ErrorBody),
        (status = 503, description = "The message store is unreachable (`unavailable`)", body = ErrorBody),
    )
)]
async fn list(
    State(replayer): State<Replayer>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<DeadLetterList>, AppError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(AppError::invalid("limit", format!("1 to {MAX_LIMIT}")));
    }
    let letters = replayer.messages.dead_letters(limit).await?;
    Ok(Json(DeadLetterList { dead_letters: letters.into_iter().map(Into::into).collect() }))
}

/// Replay one dead letter through the current parser.
///
/// When its body parses now it is stored as the callback would have been (with the time it was
/// first received) and leaves the dead-letter list; when not, it stays, with the parser's reason.
#[utoipa::path(
    post,
    path = "/v1/admin/dead-letters/{id}/replay",
    operation_id = "replay_dead_letter",
    tag = "replay",
    params(("id" = String, Path, description = "The dead letter's id (`GET /v1/admin/dead-letters`)")),
    responses(
        (status = 200, description = "CallbackRecord, or still failing with why", body = ReplayOutcome),
        (status = 404, description = "No dead letter with this id (`not_found`)", body = ErrorBody),
        (status = 503, description = "The message store is unreachable (`unavailable`)", body = ErrorBody),
    )
)]
async fn replay(
    State(replayer): State<Replayer>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ReplayOutcome>, AppError> {
    let outcome = match replay_dead_letter(&replayer, &id).await? {
        DeadLetterReplay::Applied => ReplayOutcome { outcome: "applied", reason: None },
        DeadLetterReplay::StillFailing { reason } => ReplayOutcome { outcome: "still_failing", reason: Some(reason) },
    };
    tracing::info!(dead_letter = %id, outcome = outcome.outcome, "dead letter replayed");
    Ok(Json(outcome))
}

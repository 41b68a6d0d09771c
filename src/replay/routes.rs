//! `POST /v1/admin/replay`, `GET /v1/admin/replay/{id}`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use super::store::{CreateError, Job, NewJob, ReplayStore, FAILED};
use crate::db::now_ms;
use crate::error::{ApiJson, ApiPath, AppError, ErrorBody};

/// Event types one request may name, and how long each may be.
const MAX_EVENT_TYPES: usize = 32;
const MAX_EVENT_TYPE_LEN: usize = 64;

/// Paths are relative to `/v1`, where the app nests this router.
pub fn router<S: Clone + Send + Sync + 'static>(store: ReplayStore) -> Router<S> {
    Router::new().route("/admin/replay", post(start)).route("/admin/replay/{id}", get(status)).with_state(store)
}

/// The OpenAPI description of [`router`]'s routes (merged in [`crate::openapi`]).
#[derive(OpenApi)]
#[openapi(paths(start, status))]
pub struct ApiDoc;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"from": 1_700_000_000_000_i64, "to": 1_700_086_400_000_i64, "event_types": ["2", "3"], "include_dead_letters": true}))]
pub struct ReplayRequest {
    /// Start of the range of *receipt* times, ms since the Unix epoch, included.
    pub from: i64,
    /// End of the range, included; not before `from`.
    pub to: i64,
    /// Only raw callbacks of these event types (the provider's: NetEase `"1"`, `"2"`, …; Tencent
    /// `"State.StateChange"`, …), when given; at most 32.
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    /// Also retry the dead letters received in the range (default `false`).
    #[serde(default)]
    pub include_dead_letters: bool,
}

/// A replay job and its progress.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "4b0f9a4e-0d55-4d4e-9d7c-0a4f6a0b7c11", "status": "done",
    "from": 1_700_000_000_000_i64, "to": 1_700_086_400_000_i64, "event_types": null, "include_dead_letters": true,
    "progress": {"phase": "dead_letters", "scanned": 412, "cursor": {"received_at": 1_700_000_500_000_i64, "digest": "9f2c…"}},
    "counts": {"reapplied": 17, "unchanged": 392, "skipped": 0, "now_parsed": 2, "still_failing": 1},
    "created_at": 1_700_090_000_000_i64, "updated_at": 1_700_090_004_000_i64}))]
pub struct JobView {
    pub id: String,
    /// `running`, `done` or `failed`.
    pub status: String,
    pub from: i64,
    pub to: i64,
    pub event_types: Option<Vec<String>>,
    pub include_dead_letters: bool,
    pub progress: ProgressView,
    pub counts: CountsView,
    /// Why the job failed (only when `failed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// ms since the Unix epoch.
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProgressView {
    /// `raw` (the raw audit trail) or `dead_letters`, walked in that order.
    pub phase: String,
    /// Raw callbacks and dead letters looked at so far.
    pub scanned: i64,
    /// The last row done in `phase`, by (receipt time, digest); `null` at the start of a phase.
    pub cursor: Option<CursorView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CursorView {
    pub received_at: i64,
    pub digest: String,
}

/// See [`super::Counts`].
#[derive(Debug, Serialize, ToSchema)]
pub struct CountsView {
    /// Raw callbacks whose events applied: a missing message or recall, and every read receipt and
    /// presence event (those merge newest-wins, so applying one again is harmless).
    pub reapplied: i64,
    /// Raw callbacks that changed nothing (every message and recall already stored).
    pub unchanged: i64,
    /// Another provider's callbacks, backfill records, dead letters outside `event_types`.
    pub skipped: i64,
    /// Dead letters that parse now: applied and removed from the dead-letter list.
    pub now_parsed: i64,
    /// Dead letters (or raw callbacks) the current parser still refuses.
    pub still_failing: i64,
}

impl From<Job> for JobView {
    fn from(job: Job) -> Self {
        let cursor = job.cursor().map(|(received_at, digest)| CursorView { received_at, digest });
        Self {
            event_types: job.event_types(),
            error: job.error.filter(|_| job.status == FAILED),
            progress: ProgressView { phase: job.phase, scanned: job.scanned, cursor },
            counts: CountsView {
                reapplied: job.reapplied,
                unchanged: job.unchanged,
                skipped: job.skipped,
                now_parsed: job.now_parsed,
                still_failing: job.still_failing,
            },
            id: job.id,
            status: job.status,
            from: job.from_ms,
            to: job.to_ms,
            include_dead_letters: job.include_dead_letters,
            created_at: job.created_at,
            updated_at: job.updated_at,
        }
    }
}

/// Validate a request; the error names the field.
fn validate(request: ReplayRequest) -> Result<NewJob, AppError> {
    if request.from < 0 {
        return Err(AppError::invalid("from", "ms since the Unix epoch; must not be negative"));
    }
    if request.to < request.from {
        return Err(AppError::invalid("to", "must not be before from"));
    }
    if let Some(types) = &request.event_types {
        if types.is_empty() || types.len() > MAX_EVENT_TYPES {
            let message = format!("1 to {MAX_EVENT_TYPES} event types; leave it out to replay every type");
            return Err(AppError::invalid("event_types", message));
        }
        for (i, event_type) in types.iter().enumerate() {
            if event_type.trim().is_empty() || event_type.len() > MAX_EVENT_TYPE_LEN {
                let message = format!("an event type of 1 to {MAX_EVENT_TYPE_LEN} characters");
                return Err(AppError::invalid(format!("event_types[{i}]"), message));
            }
        }
    }
    Ok(NewJob {
        from_ms: request.from,
        to_ms: request.to,
        event_types: request.event_types,
        include_dead_letters: request.include_dead_letters,
    })
}

/// Re-derive state from the stored raw callbacks.
///
/// Stores a job and answers `202` at once; a background worker reads the raw callbacks received
/// between `from` and `to` (the audit trail, kept for `callbacks.raw_retention_days`), page by page,
/// parses each with the current parser and applies it again. Every write is idempotent (messages
/// and recalls keyed, read watermarks forward-only, presence newest-wins), so a replay never
/// double-counts and may run while callbacks arrive. With `include_dead_letters`, dead letters of
/// the range that parse now are applied and leave the dead-letter list. One job at a time per
/// range; the job survives a restart and resumes after its last page. Follow it with
/// `GET /v1/admin/replay/{id}`.
#[utoipa::path(
    post,
    path = "/v1/admin/replay",
    operation_id = "start_replay",
    tag = "replay",
    request_body = ReplayRequest,
    responses(
        (status = 202, description = "The job is stored; it runs in the background", body = JobView),
        (status = 400, description = "Not JSON, or an unknown field (`invalid_json`, `unknown_field`)", body = ErrorBody),
        (status = 409, description = "A running replay's range overlaps this one (`replay_overlaps`); nothing was stored", body = ErrorBody),
        (status = 422, description = "A missing or refused value (`invalid_field`, `field` names it): a negative `from`, `to` before `from`, an empty or too long `event_types`", body = ErrorBody),
        (status = 503, description = "The database is unreachable (`unavailable`)", body = ErrorBody),
    )
)]
async fn start(
    State(store): State<ReplayStore>,
    ApiJson(request): ApiJson<ReplayRequest>,
) -> Result<(StatusCode, Json<JobView>), AppError> {
    let job = validate(request)?;
    let job = store.create(&job, now_ms()).await.map_err(|e| match e {
        CreateError::Overlaps(running) => AppError::ReplayOverlaps(format!(
            "replay {running} is running over an overlapping range; wait for it (GET /v1/admin/replay/{running})"
        )),
        CreateError::Sql(e) => e.into(),
    })?;
    tracing::info!(job = %job.id, from = job.from_ms, to = job.to_ms, "replay requested");
    Ok((StatusCode::ACCEPTED, Json(job.into())))
}

/// A replay job's progress and counts.
#[utoipa::path(
    get,
    path = "/v1/admin/replay/{id}",
    operation_id = "get_replay",
    tag = "replay",
    params(("id" = String, Path, description = "The id `POST /v1/admin/replay` answered")),
    responses(
        (status = 200, description = "The job", body = JobView),
        (status = 404, description = "No job with this id (`not_found`)", body = ErrorBody),
        (status = 503, description = "The database is unreachable (`unavailable`)", body = ErrorBody),
    )
)]
async fn status(State(store): State<ReplayStore>, ApiPath(id): ApiPath<String>) -> Result<Json<JobView>, AppError> {
    let job = store.get(&id).await?;
    job.map(|job| Json(job.into())).ok_or_else(|| AppError::NotFound(format!("no replay {id}")))
}

//! `POST /v1/backfill`, `GET /v1/backfill/{id}`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use imbridge_provider::ImProvider;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use super::store::{BackfillStore, Job, JobStatus};
use crate::accid::{pair, Accid};
use crate::db::now_ms;
use crate::error::{ApiJson, ApiPath, AppError, ErrorBody};

/// What the routes need.
#[derive(Clone)]
pub struct BackfillState {
    pub store: BackfillStore,
    pub provider: Arc<dyn ImProvider>,
    /// `backfill.max_days`, in ms.
    pub max_range_ms: i64,
}

/// Paths are relative to `/v1`, where the app nests this router.
pub fn router<S: Clone + Send + Sync + 'static>(state: BackfillState) -> Router<S> {
    Router::new().route("/backfill", post(start)).route("/backfill/{id}", get(status)).with_state(state)
}

/// The OpenAPI description of [`router`]'s routes (merged in [`crate::openapi`]).
#[derive(OpenApi)]
#[openapi(paths(start, status))]
pub struct ApiDoc;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"accid": "buyer_01", "peer": "shop_1", "from": 1_700_000_000_000_i64, "to": 1_700_086_400_000_i64}))]
pub struct BackfillRequest {
    /// One side of the one-to-one session (lowercased like every accid).
    pub accid: String,
    /// The other side; must differ from `accid`.
    pub peer: String,
    /// Start of the range, ms since the Unix epoch, included.
    pub from: i64,
    /// End of the range, ms since the Unix epoch, included; later than `from`, at most
    /// `backfill.max_days` (90) days after it.
    pub to: i64,
}

/// A backfill job and its progress.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "4b0f9a4e-0d55-4d4e-9d7c-0a4f6a0b7c11", "status": "done", "accid": "buyer_01", "peer": "shop_1",
    "from": 1_700_000_000_000_i64, "to": 1_700_086_400_000_i64, "imported": 250, "skipped_duplicates": 3, "windows": 3,
    "created_at": "2023-11-14T22:13:20.000Z", "updated_at": "2023-11-14T22:13:21.500Z"}))]
pub struct JobView {
    pub id: String,
    /// `running`, `done` or `failed`.
    pub status: String,
    pub accid: String,
    pub peer: String,
    pub from: i64,
    pub to: i64,
    /// Messages this job stored.
    pub imported: i64,
    /// Messages of the range that were already stored (by a callback or an earlier backfill).
    pub skipped_duplicates: i64,
    /// History calls completed.
    pub windows: i64,
    /// Why the job failed (only when `failed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Job> for JobView {
    fn from(job: Job) -> Self {
        let failed = job.status == JobStatus::Failed.as_str();
        Self {
            error: job.error.filter(|_| failed),
            created_at: rfc3339(job.created_at),
            updated_at: rfc3339(job.updated_at),
            id: job.id,
            status: job.status,
            accid: job.accid,
            peer: job.peer,
            from: job.from_ms,
            to: job.to_ms,
            imported: job.imported,
            skipped_duplicates: job.skipped_duplicates,
            windows: job.windows,
        }
    }
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Validate a request; the error names the field.
fn validate(state: &BackfillState, request: &BackfillRequest) -> Result<(Accid, Accid), AppError> {
    let provider = state.provider.as_ref();
    let (accid, peer) = pair(provider, ("accid", Some(&request.accid)), ("peer", Some(&request.peer)))?;
    if request.from < 0 {
        return Err(AppError::invalid("from", "ms since the Unix epoch; must not be negative"));
    }
    if request.to <= request.from {
        return Err(AppError::invalid("to", "must be later than from"));
    }
    if request.to - request.from > state.max_range_ms {
        let days = state.max_range_ms / 86_400_000;
        return Err(AppError::invalid("to", format!("the range may span at most {days} days (backfill.max_days)")));
    }
    Ok((accid, peer))
}

/// Import a one-to-one session's history from the provider.
///
/// Stores a job and answers `202` at once; a background worker walks the provider's history of the
/// session between `accid` and `peer` (both directions) from `from` to `to`, window by window, and
/// stores each message as its callback would have been stored, idempotently on the provider's
/// message key: messages already stored are skipped, and a later callback of an imported message
/// changes nothing. Imported messages count as unread exactly like called-back ones: those at or
/// before the reader's read watermark for the peer are read, the rest unread. The job survives a
/// restart and resumes after its last completed window. Follow it with `GET /v1/backfill/{id}`.
#[utoipa::path(
    post,
    path = "/v1/backfill",
    operation_id = "start_backfill",
    tag = "backfill",
    request_body = BackfillRequest,
    responses(
        (status = 202, description = "The job is stored; it runs in the background", body = JobView),
        (status = 400, description = "Not JSON, or an unknown field (`invalid_json`, `unknown_field`)", body = ErrorBody),
        (status = 422, description = "A missing or refused value (`invalid_field`, `field` names it): an invalid accid or peer, `peer` equal to `accid`, a negative `from`, `to` not after `from` or more than `backfill.max_days` after it", body = ErrorBody),
        (status = 503, description = "The database is unreachable (`unavailable`)", body = ErrorBody),
    )
)]
async fn start(
    State(state): State<BackfillState>,
    ApiJson(request): ApiJson<BackfillRequest>,
) -> Result<(StatusCode, Json<JobView>), AppError> {
    let (accid, peer) = validate(&state, &request)?;
    let job = state.store.create(&accid, &peer, request.from, request.to, now_ms()).await?;
    tracing::info!(job = %job.id, %accid, %peer, from = request.from, to = request.to, "backfill requested");
    Ok((StatusCode::ACCEPTED, Json(job.into())))
}

/// A backfill job's progress.
///
/// `running` until the range is walked (`done`) or the provider refuses (`failed`, with `error`);
/// transient failures are retried with backoff. `imported` + `skipped_duplicates` are the messages
/// of the range the provider returned, each counted once even across restarts.
#[utoipa::path(
    get,
    path = "/v1/backfill/{id}",
    operation_id = "get_backfill",
    tag = "backfill",
    params(("id" = String, Path, description = "The id `POST /v1/backfill` answered")),
    responses(
        (status = 200, description = "The job", body = JobView),
        (status = 400, description = "Malformed path (`invalid_request`)", body = ErrorBody),
        (status = 404, description = "No job with this id (`not_found`)", body = ErrorBody),
        (status = 503, description = "The database is unreachable (`unavailable`)", body = ErrorBody),
    )
)]
async fn status(State(state): State<BackfillState>, ApiPath(id): ApiPath<String>) -> Result<Json<JobView>, AppError> {
    let job = state.store.get(&id).await?;
    job.map(|job| Json(job.into())).ok_or_else(|| AppError::NotFound(format!("no backfill {id}")))
}

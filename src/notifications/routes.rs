//! `POST /v1/notifications`, `GET /v1/notifications/{id}`.

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};

use super::request::NotificationRequest;
use super::view::{Accepted, NotificationView};
use super::SubmitError;
use crate::app::AppState;
use crate::error::{ApiJson, ApiPath, AppError};

/// The body limit of `POST /v1/notifications`, above the API's general one: a notification may name
/// up to `outbox.max_recipients` (default 100 000) accids of up to 32 characters, about 3.5 MB.
pub const BODY_LIMIT_BYTES: usize = 8 * 1024 * 1024;

/// Paths are relative to `/v1`, where the app nests this router.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/notifications", post(submit).layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES)))
        .route("/notifications/{id}", get(status))
}

/// `202` once the notification is durably stored; `200` with the first notification when its
/// idempotency key and body were seen before; `409` when the key was used with another body.
async fn submit(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<NotificationRequest>,
) -> Result<(StatusCode, Json<Accepted>), AppError> {
    match state.outbox.submit(request).await {
        Ok(s) if s.created => Ok((StatusCode::ACCEPTED, Json(s.accepted))),
        Ok(s) => Ok((StatusCode::OK, Json(s.accepted))),
        Err(SubmitError::Invalid(field)) => Err(field.into()),
        Err(e @ SubmitError::KeyReused { .. }) => Err(AppError::Conflict(e.to_string())),
        Err(SubmitError::Store(e)) => Err(e.into()),
    }
}

async fn status(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<NotificationView>, AppError> {
    state.outbox.get(&id).await?.map(Json).ok_or_else(|| AppError::NotFound(format!("no notification {id}")))
}

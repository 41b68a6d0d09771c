//! `POST /v1/notifications`, `GET /v1/notifications/{id}`.

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use utoipa::OpenApi;

use super::request::NotificationRequest;
use super::view::{Accepted, NotificationView};
use super::SubmitError;
use crate::app::AppState;
use crate::error::{ApiJson, ApiPath, AppError, ErrorBody};

/// The body limit of `POST /v1/notifications`, above the API's general one: a notification may name
/// up to `outbox.max_recipients` (default 100 000) accids of up to 32 characters, about 3.5 MB.
pub const BODY_LIMIT_BYTES: usize = 8 * 1024 * 1024;

/// Paths are relative to `/v1`, where the app nests this router.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/notifications", post(submit).layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES)))
        .route("/notifications/{id}", get(status))
}

/// The OpenAPI description of [`router`]'s routes (merged in [`crate::openapi`]).
#[derive(OpenApi)]
#[openapi(paths(submit, status))]
pub struct ApiDoc;

/// Send a custom system notification, with durable delivery.
///
/// `202` once the notification is durably stored; `200` with the first notification when its
/// idempotency key and body were seen before; `409` when the key was used with another body.
/// Delivery is at least once to the provider, de-duplicated by it on a request id fixed when the
/// notification is stored; follow it with `GET /v1/notifications/{id}`.
#[utoipa::path(
    post,
    path = "/v1/notifications",
    operation_id = "send_notification",
    tag = "notifications",
    request_body = NotificationRequest,
    responses(
        (status = 202, description = "Stored; delivery follows in the background", body = Accepted),
        (status = 200, description = "The idempotency key and body were seen before: the first notification", body = Accepted),
        (status = 400, description = "Not JSON, or an unknown field (`invalid_json`, `unknown_field`)", body = ErrorBody),
        (status = 409, description = "The idempotency key was used with a different body (`conflict`)", body = ErrorBody),
        (status = 413, description = "Body over 8 MiB (`payload_too_large`)", body = ErrorBody),
        (status = 422, description = "A missing or refused value; nothing is stored (`invalid_field`, `field` names it, e.g. `to[3]`)", body = ErrorBody),
        (status = 503, description = "The database is unreachable (`unavailable`)", body = ErrorBody),
    )
)]
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

/// A notification's delivery state, per recipient and per provider call.
#[utoipa::path(
    get,
    path = "/v1/notifications/{id}",
    operation_id = "get_notification",
    tag = "notifications",
    params(("id" = String, Path, description = "The id `POST /v1/notifications` answered")),
    responses(
        (status = 200, description = "The notification", body = NotificationView),
        (status = 400, description = "Malformed path (`invalid_request`)", body = ErrorBody),
        (status = 404, description = "No notification with this id (`not_found`)", body = ErrorBody),
        (status = 503, description = "The database is unreachable (`unavailable`)", body = ErrorBody),
    )
)]
async fn status(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<NotificationView>, AppError> {
    state.outbox.get(&id).await?.map(Json).ok_or_else(|| AppError::NotFound(format!("no notification {id}")))
}

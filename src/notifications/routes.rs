//! `POST /v1/notifications`, `GET /v1/notifications/{id}`.

use axum::extract::{DefaultBodyLimit, FromRef, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi};

use super::request::NotificationRequest;
use super::view::{Accepted, NotificationView};
use super::{Outbox, SubmitError};
use crate::error::{ApiJson, ApiPath, ApiQuery, AppError, ErrorBody};

/// The body limit of `POST /v1/notifications`, above the API's general one: a notification may name
/// up to `outbox.max_recipients` (default 100 000) accids of up to 32 characters, about 3.5 MB.
pub const BODY_LIMIT_BYTES: usize = 8 * 1024 * 1024;

/// Paths are relative to `/v1`, where the app nests this router.
/// What the notification routes need (derived from the app's state with [`FromRef`]).
#[derive(Clone)]
pub struct NotificationsState {
    pub outbox: Outbox,
}

pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    NotificationsState: FromRef<S>,
{
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
        (status = 501, description = "A team notification on a provider that has none (Tencent; `not_supported_by_provider`)", body = ErrorBody),
        (status = 503, description = "The database is unreachable (`unavailable`)", body = ErrorBody),
    )
)]
async fn submit(
    State(state): State<NotificationsState>,
    ApiJson(request): ApiJson<NotificationRequest>,
) -> Result<(StatusCode, Json<Accepted>), AppError> {
    let submitted = state.outbox.submit(request).await?;
    let status = if submitted.created { StatusCode::ACCEPTED } else { StatusCode::OK };
    Ok((status, Json(submitted.accepted)))
}

impl From<SubmitError> for AppError {
    fn from(e: SubmitError) -> Self {
        match e {
            SubmitError::Invalid(field) => field.into(),
            e @ SubmitError::KeyReused { .. } => AppError::Conflict(e.to_string()),
            SubmitError::Store(e) => e.into(),
            SubmitError::Unsupported(what) => AppError::ProviderUnsupported(what),
        }
    }
}

/// The most outcomes one page of `GET /v1/notifications/{id}` carries (and its default).
pub const PAGE_MAX: usize = 1000;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct PageQuery {
    /// Outcomes per page, 1 to 1000 (default 1000).
    limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// A notification's delivery state: the summary, and per-recipient outcomes a page at a time.
///
/// Every page carries the summary (status, `counts` per outcome over all recipients, attempts,
/// the last provider answer); `outcomes` lists up to `limit` recipients in the order they were
/// given, with `unregistered` and `deliveries` for those recipients; `next_cursor` fetches the
/// next page.
#[utoipa::path(
    get,
    path = "/v1/notifications/{id}",
    operation_id = "get_notification",
    tag = "notifications",
    params(("id" = String, Path, description = "The id `POST /v1/notifications` answered"), PageQuery),
    responses(
        (status = 200, description = "The notification", body = NotificationView),
        (status = 400, description = "Malformed path, or an unknown query parameter (`invalid_request`, `unknown_field`)", body = ErrorBody),
        (status = 404, description = "No notification with this id (`not_found`)", body = ErrorBody),
        (status = 422, description = "`limit` outside 1..=1000, or a `cursor` this API did not give (`invalid_field`)", body = ErrorBody),
        (status = 503, description = "The database is unreachable (`unavailable`)", body = ErrorBody),
    )
)]
async fn status(
    State(state): State<NotificationsState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<NotificationView>, AppError> {
    let limit = page.limit.unwrap_or(PAGE_MAX);
    if !(1..=PAGE_MAX).contains(&limit) {
        return Err(AppError::invalid("limit", format!("1 to {PAGE_MAX}")));
    }
    let offset = match page.cursor.as_deref() {
        None => 0,
        Some(cursor) => cursor
            .parse::<usize>()
            .ok()
            .filter(|&at| at > 0 && cursor == at.to_string())
            .ok_or_else(|| AppError::invalid("cursor", "not a cursor this API gave"))?,
    };
    let found = state.outbox.get_page(&id, offset, limit).await?;
    found.map(Json).ok_or_else(|| AppError::NotFound(format!("no notification {id}")))
}

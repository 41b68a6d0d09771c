//! The one error type of the HTTP API. Client errors carry a stable `{"code","message"}` body (plus
//! `field` naming the offending input, and the provider's own code/desc when it refused); anything
//! unexpected is an opaque 500, logged once here with its cause chain.

mod extract;

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use imbridge_provider::{InvalidField, ProviderError};
use serde::Serialize;

pub use extract::{ApiForm, ApiJson, ApiPath, ApiQuery, OptionalApiJson};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request cannot be read as the route's input: not JSON, an unknown field or query
    /// parameter, a malformed path (400).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String, field: Option<String> },
    /// Well-formed input with a value we refuse: wrong type, missing, too long, bad accid (422).
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("expected Content-Type: application/json")]
    UnsupportedMediaType,
    #[error("request body too large{}", limit.map(|l| format!(" (limit {l} bytes)")).unwrap_or_default())]
    PayloadTooLarge { limit: Option<usize> },
    #[error("missing or wrong API key")]
    Unauthorized,
    /// The route exists, not with this method (405).
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    /// Not answered within `http.request_timeout_secs` (408).
    #[error("no answer within {0} s")]
    Timeout(u64),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// An account already has another role; roles are fixed once set (409 `role_conflict`).
    #[error("{0}")]
    RoleConflict(String),
    /// A running replay's range overlaps the one asked for (409 `replay_overlaps`).
    #[error("{0}")]
    ReplayOverlaps(String),
    /// `chat_policy` forbids befriending these two roles (403 `policy_denied`).
    #[error("{0}")]
    PolicyDenied(String),
    /// An operator console form without its session's CSRF token, or posted from another origin (403).
    #[error("{0}")]
    Forbidden(&'static str),
    /// No agent of the shop can take the chat and its fallback is `none` (409, with `Retry-After`).
    #[error("{message}")]
    NoAgentAvailable { message: String, retry_after: Duration },
    /// The IM provider answered and refused (502, with its code and desc).
    #[error("the IM provider refused: {code} {desc}")]
    ProviderRejected { code: i64, desc: String },
    /// The IM provider is unreachable, failing, or rate-limiting us (503).
    #[error("the IM provider is unavailable: {reason}")]
    ProviderUnavailable { reason: String, retry_after: Option<Duration> },
    /// The configured provider has no such capability (501).
    #[error("not supported by the IM provider: {0}")]
    ProviderUnsupported(&'static str),
    /// A store we depend on is unreachable (503).
    #[error("{0} is unavailable")]
    Unavailable(&'static str),
    /// A bug or an unexpected failure; the client sees only "internal error".
    #[error("internal error: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"code": "invalid_field", "message": "account: at most 32 characters", "field": "account"}))]
pub struct ErrorBody {
    /// Stable and machine-readable: `invalid_json`, `unknown_field`, `invalid_request` (400: the
    /// request cannot be read as the route's input), `invalid_field` (422: a value is refused),
    /// `unauthorized`, `policy_denied`, `forbidden`, `not_found`, `method_not_allowed`, `timeout`,
    /// `conflict`, `role_conflict`, `replay_overlaps`, `no_agent_available`, `payload_too_large`,
    /// `unsupported_media_type`, `provider_rejected`, `not_supported_by_provider`, `provider_unavailable`,
    /// `unavailable`, `internal`.
    #[schema(value_type = String, example = "not_found")]
    pub code: &'static str,
    /// For people; may change between versions.
    pub message: String,
    /// The offending input, as a path into the request (`buyer.account`, `to[3]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The provider's own error code, when it refused (502).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_code: Option<i64>,
    /// The provider's own description, when it refused (502).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_desc: Option<String>,
}

impl AppError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Invalid { field: field.into(), message: message.into() }
    }

    pub fn internal(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        AppError::Internal(err.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            AppError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::Unauthorized => StatusCode::UNAUTHORIZED,
            AppError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            AppError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_)
            | AppError::RoleConflict(_)
            | AppError::ReplayOverlaps(_)
            | AppError::NoAgentAvailable { .. } => StatusCode::CONFLICT,
            AppError::PolicyDenied(_) | AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::ProviderRejected { .. } => StatusCode::BAD_GATEWAY,
            AppError::ProviderUnavailable { .. } | AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::ProviderUnsupported(_) => StatusCode::NOT_IMPLEMENTED,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::BadRequest { code, .. } => code,
            AppError::Invalid { .. } => "invalid_field",
            AppError::UnsupportedMediaType => "unsupported_media_type",
            AppError::PayloadTooLarge { .. } => "payload_too_large",
            AppError::Unauthorized => "unauthorized",
            AppError::MethodNotAllowed => "method_not_allowed",
            AppError::Timeout(_) => "timeout",
            AppError::NotFound(_) => "not_found",
            AppError::Conflict(_) => "conflict",
            AppError::RoleConflict(_) => "role_conflict",
            AppError::ReplayOverlaps(_) => "replay_overlaps",
            AppError::PolicyDenied(_) => "policy_denied",
            AppError::Forbidden(_) => "forbidden",
            AppError::NoAgentAvailable { .. } => "no_agent_available",
            AppError::ProviderRejected { .. } => "provider_rejected",
            AppError::ProviderUnavailable { .. } => "provider_unavailable",
            AppError::ProviderUnsupported(_) => "not_supported_by_provider",
            AppError::Unavailable(_) => "unavailable",
            AppError::Internal(_) => "internal",
        }
    }

    fn body(&self) -> ErrorBody {
        let mut body = ErrorBody {
            code: self.code(),
            message: self.to_string(),
            field: None,
            provider_code: None,
            provider_desc: None,
        };
        match self {
            AppError::BadRequest { field, .. } => body.field = field.clone(),
            AppError::Invalid { field, .. } => body.field = Some(field.clone()),
            AppError::ProviderRejected { code, desc } => {
                body.provider_code = Some(*code);
                body.provider_desc = Some(desc.clone());
            }
            // The reason may name hosts or carry transport details: logged, not returned.
            AppError::ProviderUnavailable { retry_after, .. } => {
                body.message = match retry_after {
                    Some(after) => {
                        format!("the IM provider is rate-limiting us; retry after {} s", retry_after_secs(*after))
                    }
                    None => "the IM provider is unreachable or failing; retry later".into(),
                }
            }
            AppError::Internal(_) => body.message = "internal error".into(),
            _ => {}
        }
        body
    }
}

fn retry_after_secs(after: Duration) -> u64 {
    after.as_secs() + u64::from(after.subsec_nanos() > 0)
}

/// `a: b: c` for an error and its sources.
fn cause_chain(err: &dyn std::error::Error) -> String {
    let mut chain = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    chain
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            AppError::Internal(err) => tracing::error!(error = %cause_chain(err.as_ref()), "internal error"),
            AppError::ProviderUnavailable { reason, retry_after } => {
                tracing::warn!(%reason, ?retry_after, "provider unavailable")
            }
            AppError::ProviderRejected { code, desc } => tracing::warn!(code, %desc, "provider refused"),
            AppError::Unavailable(what) => tracing::warn!(what, "store unavailable"),
            other => tracing::debug!(code = other.code(), error = %other, "client error"),
        }
        let mut response = (status, Json(self.body())).into_response();
        match &self {
            AppError::ProviderUnavailable { retry_after: Some(after), .. }
            | AppError::NoAgentAvailable { retry_after: after, .. } => {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs(*after)));
            }
            AppError::Unauthorized => {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

impl From<InvalidField> for AppError {
    fn from(err: InvalidField) -> Self {
        AppError::Invalid { field: err.field, message: err.reason }
    }
}

impl From<ProviderError> for AppError {
    fn from(err: ProviderError) -> Self {
        match err {
            ProviderError::Invalid(field) => field.into(),
            ProviderError::Rejected { code, desc } => AppError::ProviderRejected { code, desc },
            ProviderError::RateLimited { retry_after, code } => AppError::ProviderUnavailable {
                reason: format!("rate limited (code {code})"),
                retry_after: Some(retry_after),
            },
            ProviderError::Unavailable(reason) => AppError::ProviderUnavailable { reason, retry_after: None },
            ProviderError::Unsupported(what) => AppError::ProviderUnsupported(what),
        }
    }
}

impl From<crate::messages::StoreError> for AppError {
    fn from(err: crate::messages::StoreError) -> Self {
        if err.is_unavailable() {
            AppError::Unavailable("the message store")
        } else {
            AppError::internal(err)
        }
    }
}

impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        if crate::db::is_unavailable(&err) {
            tracing::warn!(error = %err, "SQL database unavailable");
            AppError::Unavailable("the database")
        } else {
            AppError::Internal(Box::new(err))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;

    async fn render(err: AppError) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
        let response = err.into_response();
        let status = response.status();
        let headers = response.headers().clone();
        let body = to_bytes(response.into_body(), 1 << 16).await.unwrap();
        (status, headers, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn provider_refusal_keeps_code_and_desc() {
        let (status, _, body) =
            render(ProviderError::Rejected { code: 403, desc: "no permission".into() }.into()).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY);
        assert_eq!(body["code"], "provider_rejected");
        assert_eq!(body["provider_code"], 403);
        assert_eq!(body["provider_desc"], "no permission");
    }

    #[tokio::test]
    async fn rate_limit_sets_retry_after_rounded_up() {
        let err: AppError = ProviderError::RateLimited { retry_after: Duration::from_millis(9_200), code: 416 }.into();
        let (status, headers, body) = render(err).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(headers[header::RETRY_AFTER], "10");
        assert_eq!(body["code"], "provider_unavailable");
    }

    #[tokio::test]
    async fn internal_errors_are_opaque() {
        let (status, _, body) = render(AppError::internal("db password is hunter2")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body, serde_json::json!({"code": "internal", "message": "internal error"}));
    }

    #[tokio::test]
    async fn invalid_field_names_the_field() {
        let (status, _, body) = render(InvalidField::new("account", "at most 32 characters").into()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["field"], "account");
        assert_eq!(body["code"], "invalid_field");
    }
}

//! Helpers for a simulator's `/__sim` control routes, so that both simulators refuse and answer
//! the tests driving them in one shape: errors are `{"code","message"}` with a 4xx status.

use std::future::Future;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

/// A control API refusal: `{"code","message"}`.
#[derive(Debug)]
pub struct ControlError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ControlError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"code": self.code, "message": self.message}))).into_response()
    }
}

pub type ControlResult<T> = Result<T, ControlError>;

/// Parses a control request's JSON body. Handlers take the body as bytes rather than `Json<T>` so
/// that a bad body is refused in the `{"code","message"}` shape, not as axum's plain-text rejection.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> ControlResult<T> {
    serde_json::from_slice(body).map_err(|e| ControlError::bad_request(format!("invalid JSON body: {e}")))
}

/// The answer of a control call that has nothing to report.
pub fn ok() -> Json<Value> {
    Json(json!({"ok": true}))
}

/// The query of `POST /__sim/callbacks/flush`.
#[derive(Deserialize)]
pub struct FlushQuery {
    timeout_ms: Option<u64>,
}

/// Answers a flush: runs `flush` with the requested timeout (10 s by default) and turns a `false`
/// (events still pending) into a 504 `timeout`, so that a test waiting on callbacks fails loudly.
pub async fn flush<F: Future<Output = bool>>(query: FlushQuery, flush: impl FnOnce(Duration) -> F) -> Response {
    let timeout = Duration::from_millis(query.timeout_ms.unwrap_or(10_000));
    if flush(timeout).await {
        ok().into_response()
    } else {
        let message = format!("callbacks still pending after {} ms", timeout.as_millis());
        (StatusCode::GATEWAY_TIMEOUT, Json(json!({"code": "timeout", "message": message}))).into_response()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UrlBody {
    url: Option<String>,
}

/// Parses the body of `POST /__sim/callbacks/url`, `{"url": "http://..."}` or `{"url": null}`
/// (stop calling back), refusing a URL the delivery task could not post to.
pub fn callback_url(body: &[u8]) -> ControlResult<Option<String>> {
    let b: UrlBody = parse(body)?;
    if let Some(url) = &b.url {
        reqwest::Url::parse(url).map_err(|e| ControlError::bad_request(format!("url: {e}")))?;
    }
    Ok(b.url)
}

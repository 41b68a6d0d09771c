//! The callback route and the ingestion pipeline behind it.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use imbridge_provider::{CallbackRequest, Event, ImProvider, ParsedCallback};
use utoipa::OpenApi;

use super::activity::{Activity, Outcome};
use super::batcher::{BatchOptions, BatchWriter, Batcher};
use crate::error::{AppError, ErrorBody};
use crate::messages::{ApplyOutcome, CallbackRecord, MessageStore, RawCallback, StoreError};

/// How verified callbacks reach the store.
#[derive(Debug, Clone, Copy)]
pub enum IngestMode {
    /// Concurrent callbacks share one bulk write (the default).
    GroupCommit(BatchOptions),
    /// One store write per request. Kept as a switch so the benchmark can measure the difference.
    PerRequest,
}

/// Why a callback could not be stored; never acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoreFailure {
    Unavailable,
    Internal,
}

impl From<&StoreError> for StoreFailure {
    fn from(err: &StoreError) -> Self {
        if err.is_unavailable() {
            StoreFailure::Unavailable
        } else {
            StoreFailure::Internal
        }
    }
}

type StoreResult = Result<ApplyOutcome, StoreFailure>;

/// Writes a batch of callbacks with one `apply`. When the database refuses the batch for a reason
/// other than being unavailable (one document it will not take), each callback is retried alone so
/// that one bad callback does not fail the others.
struct StoreWriter {
    store: Arc<dyn MessageStore>,
}

impl BatchWriter<CallbackRecord, StoreResult> for StoreWriter {
    async fn write(&self, items: Vec<CallbackRecord>) -> Vec<StoreResult> {
        match self.store.apply(&items).await {
            Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
            Err(err) if err.is_unavailable() || items.len() == 1 => {
                log_store_error(&err, items.len());
                vec![Err(StoreFailure::from(&err)); items.len()]
            }
            Err(err) => {
                log_store_error(&err, items.len());
                let mut results = Vec::with_capacity(items.len());
                for item in items {
                    let one = self.store.apply(std::slice::from_ref(&item)).await;
                    results.push(match one {
                        Ok(mut outcomes) => Ok(outcomes.pop().unwrap_or_default()),
                        Err(err) => {
                            log_store_error(&err, 1);
                            Err(StoreFailure::from(&err))
                        }
                    });
                }
                results
            }
        }
    }
}

fn log_store_error(err: &StoreError, batch: usize) {
    tracing::error!(error = %err, cause = ?std::error::Error::source(err), batch, "storing callbacks failed");
}

/// Everything the callback route needs.
pub struct Ingest {
    provider: Arc<dyn ImProvider>,
    store: Arc<dyn MessageStore>,
    batcher: Option<Batcher<CallbackRecord, StoreResult>>,
    /// Per-minute counts and the latest refusals, for the operator console.
    activity: Activity,
}

impl Ingest {
    /// Must be called inside a Tokio runtime (group commit spawns its writer task).
    pub fn new(provider: Arc<dyn ImProvider>, store: Arc<dyn MessageStore>, mode: IngestMode) -> Self {
        let batcher = match mode {
            IngestMode::GroupCommit(opts) => Some(Batcher::spawn(Arc::new(StoreWriter { store: store.clone() }), opts)),
            IngestMode::PerRequest => None,
        };
        let activity = Activity::new(&provider.callback_doc().signature);
        Self { provider, store, batcher, activity }
    }

    pub fn activity(&self) -> &Activity {
        &self.activity
    }

    /// Callbacks waiting for the writer (0 in per-request mode).
    pub fn queued(&self) -> usize {
        self.batcher.as_ref().map_or(0, Batcher::queued)
    }

    /// Verify, parse, store and build the answer for one callback.
    pub async fn handle(&self, request: CallbackRequest) -> Response {
        let provider = self.provider.name();
        if let Err(failure) = self.provider.verify_callback(&request, SystemTime::now()) {
            let outcome = format!("rejected:{}", failure.reason());
            tracing::warn!(provider, reason = failure.reason(), "callback rejected");
            metrics::counter!("imbridge_callbacks_total", "event_type" => "", "outcome" => outcome).increment(1);
            self.activity.count(Outcome::Refused);
            self.activity.refused(&request, failure, SystemTime::now());
            // No detail for the caller: a forger learns nothing about which check failed.
            return StatusCode::UNAUTHORIZED.into_response();
        }
        let received_at = SystemTime::now();
        let applied = match parse(self.provider.as_ref(), &request.path_and_query, request.body, received_at) {
            Ok(applied) => applied,
            Err((body, reason)) => return self.dead_letter(body, request.path_and_query, received_at, &reason).await,
        };
        let label = event_label(&applied);
        let result = match &self.batcher {
            Some(batcher) => match batcher.submit(applied).await {
                Ok(result) => result,
                Err(_overloaded) => Err(StoreFailure::Unavailable),
            },
            None => match self.store.apply(std::slice::from_ref(&applied)).await {
                Ok(mut outcomes) => Ok(outcomes.pop().unwrap_or_default()),
                Err(err) => {
                    log_store_error(&err, 1);
                    Err(StoreFailure::from(&err))
                }
            },
        };
        match result {
            Ok(outcome) => {
                let outcome =
                    if outcome.duplicates > 0 && outcome.applied == 0 { Outcome::Duplicate } else { Outcome::Stored };
                self.activity.count(outcome);
                let outcome = outcome.as_str();
                metrics::counter!("imbridge_callbacks_total", "event_type" => label, "outcome" => outcome).increment(1);
                self.ack()
            }
            Err(failure) => {
                metrics::counter!("imbridge_callbacks_total", "event_type" => label, "outcome" => "store_unavailable")
                    .increment(1);
                self.activity.count(Outcome::Unavailable);
                store_failure_response(failure)
            }
        }
    }

    async fn dead_letter(
        &self,
        body: Bytes,
        path_and_query: String,
        received_at: SystemTime,
        reason: &str,
    ) -> Response {
        let provider = self.provider.name();
        tracing::warn!(provider, reason, bytes = body.len(), "signed callback could not be parsed; dead-lettered");
        let raw =
            RawCallback { provider: provider.to_owned(), event_type: String::new(), body, path_and_query, received_at };
        match self.store.dead_letter(&raw, reason).await {
            Ok(()) => {
                metrics::counter!("imbridge_callbacks_total", "event_type" => "", "outcome" => "dead_lettered")
                    .increment(1);
                self.activity.count(Outcome::DeadLettered);
                self.ack()
            }
            Err(err) => {
                log_store_error(&err, 1);
                self.activity.count(Outcome::Unavailable);
                store_failure_response(StoreFailure::from(&err))
            }
        }
    }

    fn ack(&self) -> Response {
        let ack = self.provider.callback_ack();
        ([(header::CONTENT_TYPE, ack.content_type)], ack.body).into_response()
    }
}

/// Parse a verified body into what the store applies: the body as received (for the audit trail)
/// and its events. The one place a body becomes a [`CallbackRecord`]: live callbacks and replays of stored
/// ones (`crate::replay`) go through it. On failure, the body back and why.
pub(crate) fn parse(
    provider: &dyn ImProvider,
    path_and_query: &str,
    body: Bytes,
    received_at: SystemTime,
) -> Result<CallbackRecord, (Bytes, String)> {
    match provider.parse_callback(path_and_query, &body) {
        Ok(ParsedCallback { event_type, events }) => Ok(CallbackRecord {
            raw: RawCallback {
                provider: provider.name().to_owned(),
                event_type,
                body,
                path_and_query: path_and_query.to_owned(),
                received_at,
            },
            events,
        }),
        Err(err) => Err((body, err.0)),
    }
}

/// The `event_type` label: the provider's event type when the parser understood it (a fixed few),
/// `other` for any type it stores raw only, so a signed body cannot mint new label values.
fn event_label(parsed: &CallbackRecord) -> String {
    let event_type = &parsed.raw.event_type;
    if parsed.events.iter().any(|event| !matches!(event, Event::Other)) {
        event_type.clone()
    } else if parsed.events.is_empty() && event_type.is_empty() {
        String::new()
    } else {
        "other".to_owned()
    }
}

fn store_failure_response(failure: StoreFailure) -> Response {
    match failure {
        StoreFailure::Unavailable => AppError::Unavailable("the message store").into_response(),
        StoreFailure::Internal => {
            AppError::internal("the message store refused the callback (see the log above)").into_response()
        }
    }
}

/// The OpenAPI description of [`router`]'s route, at the default `callbacks.path`
/// (`crate::openapi` moves it to the configured one).
#[derive(OpenApi)]
#[openapi(paths(receive))]
pub struct ApiDoc;

/// `POST <path>` for one provider's callbacks. Not behind the API keys: the provider signs instead.
pub fn router<S: Clone + Send + Sync + 'static>(ingest: Arc<Ingest>, path: &str, body_limit: usize) -> Router<S> {
    Router::new().route(path, post(receive)).layer(DefaultBodyLimit::max(body_limit)).with_state(ingest)
}

/// Receive the provider's callbacks.
///
/// Not behind the API keys: the provider signs instead. `crate::openapi` completes this with what
/// the configured provider says ([`imbridge_provider::ImProvider::callback_doc`]): its summary, how
/// it signs, an example body.
#[utoipa::path(
    post,
    path = "/callbacks",
    operation_id = "receive_callback",
    tag = "callbacks",
    request_body(content = Object, content_type = "application/json", description = "The provider's callback JSON as it sends it"),
    responses(
        (status = 200, description = "Stored durably (or, signed but unparseable, kept in the dead-letter store): the provider's acknowledgement",
            body = Object),
        (status = 401, description = "A missing or wrong signature, another app's, or signed outside the freshness window; empty body (the reason is logged and counted in `/metrics`)"),
        (status = 408, description = "Not answered within `http.request_timeout_secs` (`timeout`); not stored", body = ErrorBody),
        (status = 413, description = "Body over `callbacks.body_limit_bytes` (1 MiB; `payload_too_large`)", body = ErrorBody),
        (status = 500, description = "The message store refused the callback (`internal`); not acknowledged", body = ErrorBody),
        (status = 503, description = "The message store is unreachable or the write queue is full (`unavailable`); not stored", body = ErrorBody),
    )
)]
async fn receive(
    State(ingest): State<Arc<Ingest>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let started = Instant::now();
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            metrics::counter!("imbridge_callbacks_total", "event_type" => "", "outcome" => "rejected:too_large")
                .increment(1);
            return AppError::PayloadTooLarge { limit: None }.into_response();
        }
        Err(rejection) => return rejection.into_response(),
    };
    let request = CallbackRequest {
        method: method.to_string(),
        path_and_query: uri.path_and_query().map(|p| p.to_string()).unwrap_or_default(),
        // A value that is not visible ASCII is kept (lossily), not dropped: dropping it would turn
        // a garbled AppKey, which must be refused, into an absent one, which is allowed.
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
        body,
    };
    let response = ingest.handle(request).await;
    metrics::histogram!("imbridge_callback_duration_seconds").record(started.elapsed().as_secs_f64());
    response
}

//! `GET /healthz` (the process is alive), `GET /readyz` (SQL, message store and provider reachable;
//! names what is not) and `GET /metrics` (Prometheus text). None needs an API key.

use std::sync::OnceLock;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::json;

use crate::app::AppState;

/// Each dependency gets this long to answer a readiness probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).route("/metrics", get(metrics))
}

/// The process-wide Prometheus recorder, installed on first use (several apps in one test process
/// share it).
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new().install_recorder().unwrap_or_else(|_| {
            // Another recorder is already installed (an embedding program's): render our own,
            // unconnected one rather than fail.
            PrometheusBuilder::new().build_recorder().handle()
        })
    })
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(state): State<AppState>) -> Response {
    let (sql, messages, provider) = tokio::join!(
        tokio::time::timeout(PROBE_TIMEOUT, state.sql.ping()),
        tokio::time::timeout(PROBE_TIMEOUT, state.messages.ping()),
        tokio::time::timeout(PROBE_TIMEOUT, state.provider.ping()),
    );
    let mut failing = Vec::new();
    if !matches!(sql, Ok(Ok(()))) {
        failing.push("sql");
    }
    if !matches!(messages, Ok(Ok(()))) {
        failing.push("message_store");
    }
    if !matches!(provider, Ok(Ok(()))) {
        failing.push("provider");
    }
    if failing.is_empty() {
        (StatusCode::OK, Json(json!({"status": "ready"}))).into_response()
    } else {
        tracing::warn!(?failing, "not ready");
        let body = json!({"status": "unavailable", "failing": failing,
            "code": "unavailable", "message": format!("not ready: {} unreachable", failing.join(", "))});
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    metrics::gauge!("imbridge_callback_queue_depth").set(state.ingest.queued() as f64);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], prometheus().render()).into_response()
}

//! `GET /healthz` (the process is alive), `GET /readyz` (SQL, message store and provider reachable;
//! names what is not) and `GET /metrics` (Prometheus text). None needs an API key.

use std::sync::OnceLock;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde_json::json;

use crate::app::AppState;

/// Seconds: 0.5 ms to 10 s, roughly ×2.5 apart.
const LATENCY_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// How often recorded histogram samples are folded into their buckets when nobody scrapes.
const METRICS_UPKEEP_EVERY: Duration = Duration::from_secs(5);

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
        // Real histograms (not summaries) so latencies can be aggregated across instances.
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .expect("the bucket list is not empty");
        match builder.install_recorder() {
            Ok(handle) => {
                // Histogram samples pile up (one per observation) until a scrape or an upkeep folds
                // them into their buckets; without a scraper that is unbounded memory growth.
                let upkeep = handle.clone();
                std::thread::Builder::new()
                    .name("metrics-upkeep".into())
                    .spawn(move || loop {
                        std::thread::sleep(METRICS_UPKEEP_EVERY);
                        upkeep.run_upkeep();
                    })
                    .expect("spawn the metrics upkeep thread");
                handle
            }
            // Another recorder is already installed (an embedding program's): render our own,
            // unconnected one rather than fail.
            Err(_) => PrometheusBuilder::new().build_recorder().handle(),
        }
    })
}

/// Liveness: the process is up and serving.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive", body = Object, example = json!({"status": "ok"}))))]
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: the SQL database, the message store and the provider each answer within 2 s.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Object, example = json!({"status": "ready"})),
        (status = 503, description = "Not ready; `failing` names what is unreachable (`sql`, `message_store`, `provider`)",
            body = Object, example = json!({"status": "unavailable", "failing": ["provider"], "code": "unavailable",
                "message": "not ready: provider unreachable"})),
    ))]
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

/// What SQLite holds on the heap now and at most since the process started, in bytes: page caches,
/// prepared statements and schemas of every SQLite connection in the process (the SQL pool and the
/// embedded message store). It is the part of the resident memory that grows with the stores.
fn sqlite_heap_bytes() -> (i64, i64) {
    // SAFETY: both functions only read SQLite's global memory statistics (under its own mutex); they
    // take no pointers and are callable at any time, before or after any connection opens.
    unsafe { (libsqlite3_sys::sqlite3_memory_used(), libsqlite3_sys::sqlite3_memory_highwater(0)) }
}

/// Prometheus metrics (text exposition format 0.0.4).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Metrics in the Prometheus text format", body = String,
        content_type = "text/plain; version=0.0.4")))]
async fn metrics(State(state): State<AppState>) -> Response {
    metrics::gauge!("imbridge_callback_queue_depth").set(state.ingest.queued() as f64);
    let (heap, heap_peak) = sqlite_heap_bytes();
    metrics::gauge!("imbridge_sqlite_heap_bytes").set(heap as f64);
    metrics::gauge!("imbridge_sqlite_heap_peak_bytes").set(heap_peak as f64);
    // Read at scrape time so the gauges are as fresh as the scrape; a database that does not answer
    // leaves the last values (and /readyz says why).
    match tokio::time::timeout(PROBE_TIMEOUT, state.outbox.store().backlog()).await {
        Ok(Ok(backlog)) => {
            let now_ms = chrono::Utc::now().timestamp_millis();
            let age = backlog.oldest_created_ms.map_or(0, |created| now_ms.saturating_sub(created).max(0));
            metrics::gauge!("imbridge_outbox_pending").set(backlog.pending as f64);
            metrics::gauge!("imbridge_outbox_oldest_pending_age_seconds").set(age as f64 / 1000.0);
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "cannot read the outbox backlog for /metrics"),
        Err(_) => tracing::warn!("the outbox backlog query for /metrics timed out"),
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], prometheus().render()).into_response()
}

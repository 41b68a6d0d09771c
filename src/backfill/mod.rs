//! Backfill: import a one-to-one session's history from the provider into the message store, for
//! messages whose callbacks never reached us (before the callback URL was configured, during an
//! outage longer than the provider retries).
//!
//! `POST /v1/backfill` stores a job in SQL (`backfill_jobs`) and answers `202`; a worker (one per
//! instance, leases keep instances apart) walks the range with the provider's history API and
//! applies each message through [`crate::messages::MessageStore::apply`] exactly as a callback of it
//! would be applied: idempotent on the message key, and unread or read by the same watermark rule.
//! `GET /v1/backfill/{id}` reports progress. See [`worker`] for the guarantees.

mod config;
mod routes;
mod store;
mod window;
mod worker;

pub use config::BackfillConfig;
pub use routes::{ApiDoc, BackfillRequest, BackfillState, JobView};
pub use store::{BackfillStore, Job, JobStatus};
pub use worker::{JOB_FIELD, RAW_EVENT_TYPE};

use axum::Router;

use crate::app::AppState;

/// The routes, with the state they need taken from `state`.
pub fn router<S: Clone + Send + Sync + 'static>(state: &AppState) -> Router<S> {
    routes::router(BackfillState {
        store: BackfillStore::new(state.sql.clone()),
        provider: state.provider.clone(),
        max_range_ms: state.config.backfill.max_range_ms(),
    })
}

/// Start this instance's backfill worker, unless `backfill.worker` is off. It stops when
/// `state.shutdown` fires, giving back the job it holds so another instance (or this one, after a
/// restart) resumes it at once; if that write cannot be made, the job's lease expires instead
/// (`backfill.lease_ms`). The service does not wait for it: everything it has applied is durable
/// and recorded, and a window cut short is read again.
/// Returns the worker's task (to await after cancelling `state.shutdown`), or `None` when disabled.
pub fn start_worker(state: &AppState) -> Option<tokio::task::JoinHandle<()>> {
    let config = state.config.backfill.clone();
    if !config.worker {
        tracing::info!("backfill worker disabled (backfill.worker = false): another instance runs jobs");
        return None;
    }
    Some(worker::spawn(
        BackfillStore::new(state.sql.clone()),
        state.provider.clone(),
        state.messages.clone(),
        config,
        state.shutdown.clone(),
    ))
}

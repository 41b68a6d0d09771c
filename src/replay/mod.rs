//! Replay: re-derive state from what the provider sent, after a parser fix or a lost write.
//!
//! `POST /v1/admin/replay` stores a job in SQL (`replay_jobs`) and answers `202`; a worker (one per
//! instance, leases keep instances apart) reads the raw callbacks received in the range page by
//! page and applies each again through the current parser ([`reapply`] says why that never
//! double-counts), then, when asked, retries the dead letters of the range. `GET
//! /v1/admin/replay/{id}` reports progress. The dead-letter routes list the dead letters and
//! replay one ([`replay_dead_letter`], also what the console's button calls).

mod dead_letters;
mod reapply;
mod routes;
mod store;
mod worker;

pub use dead_letters::{replay_dead_letter, DeadLetterList, DeadLetterView, ReplayOutcome};
pub(crate) use reapply::path_and_query;
pub use reapply::{Counts, DeadLetterReplay, Replayer};
pub use routes::{JobView, ReplayRequest};
pub use store::{Job, ReplayStore};

use axum::extract::FromRef;
use axum::Router;
use utoipa::OpenApi;

use crate::app::AppState;

impl FromRef<AppState> for Replayer {
    fn from_ref(state: &AppState) -> Self {
        Self { provider: state.provider.clone(), messages: state.messages.clone() }
    }
}

/// The routes, with the state they need taken from `state`.
pub fn router<S: Clone + Send + Sync + 'static>(state: &AppState) -> Router<S> {
    routes::router(ReplayStore::new(state.sql.clone())).merge(dead_letters::router(Replayer::from_ref(state)))
}

/// The OpenAPI description of the routes (merged in [`crate::openapi`]).
pub fn api_doc() -> utoipa::openapi::OpenApi {
    routes::ApiDoc::openapi().merge_from(dead_letters::ApiDoc::openapi())
}

/// Start this instance's replay worker. It stops when `state.shutdown` fires, giving back the job
/// it holds so that a restarted instance (or another) resumes it at once from its last page.
pub fn start_worker(state: &AppState) -> tokio::task::JoinHandle<()> {
    worker::spawn(ReplayStore::new(state.sql.clone()), Replayer::from_ref(state), state.shutdown.clone())
}

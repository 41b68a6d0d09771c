//! The replay worker: claims a running job and walks its range page by page (the raw audit trail,
//! then the dead letters when asked), recording the cursor and the counts after every page.
//!
//! - **Bounded memory.** One page ([`PAGE`] rows) at a time, read by the (received-at, digest)
//!   cursor, whatever the range holds.
//! - **Resumable.** Progress is written after the page's effects are durable; a page interrupted in
//!   between is read again, which re-applies idempotently (its counts then see what the first
//!   attempt already did as `unchanged`). A job whose worker stopped is claimed again: at once after
//!   a graceful shutdown (the lease is given back), after [`LEASE_MS`] after a crash.
//! - **One worker per job.** Every progress write is conditional on the lease.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use uuid::Uuid;

use super::reapply::{Counts, Replayer};
use super::store::{Job, Progress, ReplayStore, PHASE_DEAD_LETTERS, PHASE_RAW};
use crate::db::now_ms;
use crate::messages::{AuditPage, StoreError};

/// Rows per page: one store read and one bulk apply.
pub const PAGE: usize = 200;
/// How long a claimed job is ours without a progress write.
pub const LEASE_MS: i64 = 60_000;
/// How often an idle worker looks for a due job.
const POLL: Duration = Duration::from_millis(500);
/// Failed attempts at one page (the store unavailable) before the job fails.
const MAX_ATTEMPTS: u32 = 10;

pub(super) fn spawn(store: ReplayStore, replayer: Replayer, cancel: CancellationToken) -> JoinHandle<()> {
    let owner = format!("r-{}", Uuid::new_v4().simple());
    tokio::spawn(Worker { store, replayer, owner }.run(cancel))
}

struct Worker {
    store: ReplayStore,
    replayer: Replayer,
    owner: String,
}

/// One page's outcome: its counts, the last row's cursor, and whether the page was full.
struct Page {
    counts: Counts,
    last: Option<(i64, String)>,
    full: bool,
}

impl Worker {
    async fn run(self, cancel: CancellationToken) {
        while !cancel.is_cancelled() {
            let claimed = self.store.claim(&self.owner, now_ms(), LEASE_MS).await.unwrap_or_else(|e| {
                warn!(error = %e, "replay: claiming a job failed");
                None
            });
            match claimed {
                Some(job) => self.run_job(job, &cancel).await,
                None => tokio::select! {
                    () = cancel.cancelled() => {}
                    () = tokio::time::sleep(POLL) => {}
                },
            }
        }
        debug!(owner = %self.owner, "replay worker stopped");
    }

    async fn run_job(&self, job: Job, cancel: &CancellationToken) {
        let event_types = job.event_types();
        let mut phase = if job.phase == PHASE_DEAD_LETTERS { PHASE_DEAD_LETTERS } else { PHASE_RAW };
        let mut cursor = job.cursor();
        info!(job = %job.id, phase, ?cursor, "replay: working on a job");
        loop {
            if cancel.is_cancelled() {
                if let Err(e) = self.store.release(&job.id, &self.owner, now_ms()).await {
                    warn!(job = %job.id, error = %e, "replay: releasing the job failed; its lease will expire");
                }
                return;
            }
            let page = AuditPage {
                from_ms: job.from_ms,
                to_ms: job.to_ms,
                after: cursor.clone(),
                limit: PAGE,
                event_types: event_types.clone(),
            };
            let page = match self.page(phase, &page).await {
                Ok(page) => page,
                Err(e) => return self.page_failed(&job, &e).await,
            };
            let progress = if page.full {
                Progress { phase, cursor: page.last, counts: page.counts, done: false }
            } else if phase == PHASE_RAW && job.include_dead_letters {
                Progress { phase: PHASE_DEAD_LETTERS, cursor: None, counts: page.counts, done: false }
            } else {
                Progress { phase, cursor: page.last.or(cursor), counts: page.counts, done: true }
            };
            match self.store.record(&job.id, &self.owner, &progress, now_ms(), LEASE_MS).await {
                Ok(true) => {}
                Ok(false) => return info!(job = %job.id, "replay: the job's lease was taken over; leaving it"),
                // The page is applied; not recording it only means applying it again (idempotent).
                Err(e) => return warn!(job = %job.id, error = %e, "replay: recording progress failed"),
            }
            if progress.done {
                return info!(job = %job.id, "replay: job done");
            }
            (phase, cursor) = (progress.phase, progress.cursor);
        }
    }

    async fn page(&self, phase: &str, page: &AuditPage) -> Result<Page, StoreError> {
        let messages = &self.replayer.messages;
        if phase == PHASE_RAW {
            let rows = messages.raw_page(page).await?;
            let counts = self.replayer.raw_page(&rows).await?;
            let last = rows.last().map(|r| (r.received_at_ms, r.digest.clone()));
            Ok(Page { counts, last, full: rows.len() >= page.limit })
        } else {
            let letters = messages.dead_letter_page(page).await?;
            let counts = self.replayer.dead_letter_page(&letters, page.event_types.as_deref()).await?;
            let last = letters.last().map(|l| (l.received_at_ms, l.id.clone()));
            Ok(Page { counts, last, full: letters.len() >= page.limit })
        }
    }

    /// The store failed: retry later when it is unavailable (up to [`MAX_ATTEMPTS`]), else fail.
    async fn page_failed(&self, job: &Job, error: &StoreError) {
        let attempts = u32::try_from(job.attempts).unwrap_or(u32::MAX).saturating_add(1);
        let now = now_ms();
        let message = format!("message store: {error}");
        let recorded = if error.is_unavailable() && attempts < MAX_ATTEMPTS {
            let delay = crate::backoff::capped_exponential(attempts, 500, 30_000);
            warn!(job = %job.id, error = %error, attempts, ?delay, "replay: page failed; retrying later");
            let due = now + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
            self.store.retry_later(&job.id, &self.owner, due, &message, now).await
        } else {
            warn!(job = %job.id, error = %error, cause = ?std::error::Error::source(error), "replay: job failed");
            self.store.fail(&job.id, &self.owner, &message, now).await
        };
        if let Err(e) = recorded {
            warn!(job = %job.id, error = %e, "replay: recording a failure failed; the lease will expire");
        }
    }
}

//! The backfill worker: claims a running job, walks its windows through the provider's history and
//! applies each window's messages to the message store, recording progress after every window.
//!
//! Guarantees:
//! - **Never a second copy.** Messages go through [`MessageStore::apply`], idempotent on the
//!   provider's message key; a message a callback already stored is a `skipped_duplicate`, and a
//!   later callback of a backfilled message changes nothing.
//! - **Counts are exact across restarts.** Progress is written after the window's messages are
//!   durable, so a window interrupted in between is read again. Each imported document carries the
//!   job's id (`backfillJob`); a duplicate that carries this job's id was imported by this job's
//!   interrupted attempt and counts as imported, not as skipped.
//! - **One worker per job.** A job is leased; every progress write is conditional on the lease, so a
//!   worker whose lease was taken over writes nothing more.
//!
//! One job at a time per worker, one history call at a time, at most `backfill.calls_per_second`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use imbridge_provider::{Event, ImProvider, MessageEvent, ProviderError};
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use uuid::Uuid;

use super::config::BackfillConfig;
use super::store::{BackfillStore, Job, WindowDone};
use super::window;
use crate::db::now_ms;
use crate::messages::{message_key, CallbackRecord, MessageStore, RawCallback, StoreError};

/// The field of a stored document naming the job that imported it.
pub const JOB_FIELD: &str = "backfillJob";

/// The `event_type` of a backfilled message's raw audit record (replay skips these: they are
/// documents from the history API, not callbacks).
pub const RAW_EVENT_TYPE: &str = "backfill";

pub(super) struct Worker {
    pub store: BackfillStore,
    pub provider: Arc<dyn ImProvider>,
    pub messages: Arc<dyn MessageStore>,
    pub config: BackfillConfig,
    pub owner: String,
}

/// How one claimed job ended for this worker.
enum Stop {
    /// Done, failed, waiting for a retry, or taken over: look for the next job.
    Next,
    /// Shutting down.
    Shutdown,
}

/// Start a worker; it stops when `cancel` fires, giving its job back.
pub(super) fn spawn(
    store: BackfillStore,
    provider: Arc<dyn ImProvider>,
    messages: Arc<dyn MessageStore>,
    config: BackfillConfig,
    cancel: CancellationToken,
) -> JoinHandle<()> {
    let owner = format!("b-{}", Uuid::new_v4().simple());
    let worker = Worker { store, provider, messages, config, owner };
    tokio::spawn(worker.run(cancel))
}

impl Worker {
    async fn run(self, cancel: CancellationToken) {
        let lease_ms = millis(Duration::from_millis(self.config.lease_ms));
        loop {
            let job = match self.store.claim(&self.owner, now_ms(), lease_ms).await {
                Ok(job) => job,
                Err(e) => {
                    warn!(error = %e, "backfill: claiming a job failed");
                    None
                }
            };
            let stop = match job {
                Some(job) => self.run_job(job, &cancel).await,
                None => {
                    tokio::select! {
                        () = cancel.cancelled() => Stop::Shutdown,
                        () = tokio::time::sleep(self.config.poll_interval()) => Stop::Next,
                    }
                }
            };
            if matches!(stop, Stop::Shutdown) || cancel.is_cancelled() {
                debug!(owner = %self.owner, "backfill worker stopped");
                return;
            }
        }
    }

    /// Walk `job`'s windows until it is done, fails, must wait, or the worker stops.
    async fn run_job(&self, mut job: Job, cancel: &CancellationToken) -> Stop {
        let lease_ms = millis(Duration::from_millis(self.config.lease_ms));
        let page_size = self.config.page_size;
        let mut pace = tokio::time::interval(self.config.call_interval());
        pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut cursor = job.cursor();
        info!(job = %job.id, accid = %job.accid, peer = %job.peer, cursor = cursor.at_ms, "backfill: working on a job");
        loop {
            let (begin, end) = cursor.window(job.to_ms);
            let fetched = tokio::select! {
                () = cancel.cancelled() => return self.give_back(&job).await,
                fetched = async {
                    pace.tick().await;
                    self.provider.session_history(&job.accid, &job.peer, begin, end, page_size).await
                } => fetched,
            };
            let page = match fetched {
                Ok(page) => page,
                Err(e) => return self.window_failed(&job, &e.to_string(), retry_hint(&e)).await,
            };
            let step = window::step(&cursor, job.to_ms, page, page_size as usize);
            if let Some(at) = step.stuck_at {
                warn!(job = %job.id, at_ms = at, "backfill: a full page of messages in one millisecond; any more there are out of reach of the provider's history");
            }
            let (imported, skipped) = match self.import(&job.id, step.fresh).await {
                Ok(counts) => counts,
                Err(e) => {
                    let hint = if e.is_unavailable() { Retry::Backoff } else { Retry::Never };
                    return self.window_failed(&job, &format!("message store: {e}"), hint).await;
                }
            };
            let done = WindowDone { next: step.next.clone(), imported, skipped_duplicates: skipped };
            match self.store.record_window(&job.id, &self.owner, &done, now_ms(), lease_ms).await {
                Ok(true) => {}
                Ok(false) => {
                    info!(job = %job.id, "backfill: the job's lease was taken over; leaving it");
                    return Stop::Next;
                }
                Err(e) => {
                    // The window is applied; not recording it only means reading it again.
                    warn!(job = %job.id, error = %e, "backfill: recording progress failed; the lease will expire");
                    return Stop::Next;
                }
            }
            job.imported += imported;
            job.skipped_duplicates += skipped;
            job.windows += 1;
            debug!(job = %job.id, imported, skipped, windows = job.windows, "backfill: window done");
            match step.next {
                Some(next) => cursor = next,
                None => {
                    info!(job = %job.id, imported = job.imported, skipped_duplicates = job.skipped_duplicates,
                        windows = job.windows, "backfill: job done");
                    return Stop::Next;
                }
            }
        }
    }

    /// Apply `fresh` to the message store as callbacks would be; returns (imported, skipped).
    async fn import(&self, job_id: &str, fresh: Vec<MessageEvent>) -> Result<(i64, i64), StoreError> {
        if fresh.is_empty() {
            return Ok((0, 0));
        }
        let received_at = SystemTime::now();
        let batch: Vec<CallbackRecord> = fresh
            .into_iter()
            .map(|mut message| {
                message.document.insert(JOB_FIELD.into(), Value::from(job_id));
                let body = Bytes::from(Value::Object(message.document.clone()).to_string());
                let raw = RawCallback {
                    provider: self.provider.name().to_owned(),
                    event_type: RAW_EVENT_TYPE.to_owned(),
                    body,
                    path_and_query: String::new(),
                    received_at,
                };
                CallbackRecord { raw, events: vec![Event::Message(message)] }
            })
            .collect();
        let outcomes = self.messages.apply(&batch).await?;
        let (mut imported, mut skipped) = (0, 0);
        for (applied, outcome) in batch.iter().zip(outcomes) {
            if outcome.applied > 0 {
                imported += 1;
                continue;
            }
            let Some(Event::Message(message)) = applied.events.first() else { continue };
            // Already stored: by this job's interrupted attempt (ours), or by a callback or another job.
            let key = message_key(self.provider.name(), &message.key);
            let stored = self.messages.get_message(&key).await?;
            let ours = stored.as_ref().and_then(|doc| doc.get(JOB_FIELD)).and_then(Value::as_str) == Some(job_id);
            if ours {
                imported += 1;
            } else {
                skipped += 1;
            }
        }
        Ok((imported, skipped))
    }

    /// A window could not be read or stored: retry later, or fail the job.
    async fn window_failed(&self, job: &Job, error: &str, retry: Retry) -> Stop {
        let now = now_ms();
        let attempts = u32::try_from(job.attempts).unwrap_or(u32::MAX).saturating_add(1);
        let result = match retry {
            Retry::Never => {
                warn!(job = %job.id, error, "backfill: job failed");
                self.store.fail(&job.id, &self.owner, error, now).await
            }
            _ if attempts >= self.config.max_attempts => {
                let error = format!("gave up after {attempts} attempts: {error}");
                warn!(job = %job.id, error, "backfill: job failed");
                self.store.fail(&job.id, &self.owner, &error, now).await
            }
            Retry::Backoff | Retry::After(_) => {
                let delay = match retry {
                    Retry::After(after) => after,
                    _ => backoff(&self.config, attempts),
                };
                warn!(job = %job.id, error, attempts, ?delay, "backfill: window failed; retrying later");
                self.store.retry_later(&job.id, &self.owner, now + millis(delay), error, now).await
            }
        };
        if let Err(e) = result {
            warn!(job = %job.id, error = %e, "backfill: recording a failure failed; the lease will expire");
        }
        Stop::Next
    }

    /// Shutting down: give the job back so another instance (or this one, restarted) takes it at
    /// once. Best effort: if this write fails, the lease expires instead.
    async fn give_back(&self, job: &Job) -> Stop {
        if let Err(e) = self.store.release(&job.id, &self.owner, now_ms()).await {
            warn!(job = %job.id, error = %e, "backfill: releasing the job failed; its lease will expire");
        }
        Stop::Shutdown
    }
}

/// Whether and when a failed window is tried again.
#[derive(Debug, Clone, Copy)]
enum Retry {
    Never,
    Backoff,
    /// The provider said when (a rate-limit block).
    After(Duration),
}

fn retry_hint(e: &ProviderError) -> Retry {
    match e {
        ProviderError::RateLimited { retry_after, .. } => Retry::After(*retry_after),
        ProviderError::Unavailable(_) => Retry::Backoff,
        ProviderError::Invalid(_) | ProviderError::Rejected { .. } | ProviderError::Unsupported(_) => Retry::Never,
    }
}

/// A job's retry delay ([`crate::backoff::capped_exponential`] with its configured base and cap).
fn backoff(config: &BackfillConfig, attempt: u32) -> Duration {
    crate::backoff::capped_exponential(attempt, config.backoff_base_ms, config.backoff_cap_ms)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter() {
        let config = BackfillConfig { backoff_base_ms: 100, backoff_cap_ms: 1_000, ..BackfillConfig::default() };
        for _ in 0..50 {
            let first = backoff(&config, 1).as_millis();
            assert!((50..=100).contains(&first), "{first}");
            let later = backoff(&config, 40).as_millis();
            assert!((500..=1_000).contains(&later), "{later}");
        }
    }
}

//! The delivery worker: claims due items, sends each through the provider, settles or reschedules.
//!
//! Guarantee: at least once to the provider, with every retry of an item carrying the item's
//! request id, so the provider drops repeats (a repeat the provider reports as such counts as delivered).
//! Several workers (in one process or many) may share a database; leases keep them apart.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use imbridge_provider::{ImProvider, ProviderError, SendOutcome, Target};
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};
use uuid::Uuid;

use super::block::RateLimitBlock;
use super::config::OutboxConfig;
use super::retry::{decide, Verdict};
use super::store::{ClaimedItem, OutboxStore, Settled};

pub use crate::db::now_ms;

/// A running worker.
pub struct WorkerHandle {
    owner: String,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl WorkerHandle {
    /// The lease owner id this worker writes into the items it claims.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Graceful stop: no new claims; in-flight sends get `shutdown_grace_ms` to finish, then the
    /// rest are abandoned and their leases released so another worker can take them at once.
    /// Also what happens when the token given to [`spawn`] is cancelled.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        if let Err(e) = self.task.await {
            error!(error = %e, "outbox worker task failed");
        }
    }

    /// Stop at once, as a crash would: leases are left to expire and be reclaimed.
    pub async fn abort(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

struct Worker {
    store: OutboxStore,
    provider: Arc<dyn ImProvider>,
    config: OutboxConfig,
    owner: String,
    block: Arc<RateLimitBlock>,
}

/// What a worker shares with the [`super::Outbox`]: `wake` lets the API signal new work without
/// waiting for the next poll; `block` is where it notes the provider's rate-limit blocks.
pub struct Shared {
    pub wake: Arc<Notify>,
    pub block: Arc<RateLimitBlock>,
}

/// Start a worker; it stops gracefully when `cancel` is cancelled.
pub fn spawn(
    store: OutboxStore,
    provider: Arc<dyn ImProvider>,
    config: OutboxConfig,
    shared: Shared,
    cancel: CancellationToken,
) -> WorkerHandle {
    let owner = format!("w-{}", Uuid::new_v4().simple());
    let worker = Arc::new(Worker { store, provider, config, owner: owner.clone(), block: shared.block });
    let task = tokio::spawn(worker.run(shared.wake, cancel.clone()));
    WorkerHandle { owner, cancel, task }
}

impl Worker {
    async fn run(self: Arc<Self>, wake: Arc<Notify>, cancel: CancellationToken) {
        info!(owner = %self.owner, concurrency = self.config.concurrency, "outbox worker started");
        let lease_ms = self.config.lease_ms as i64;
        let mut in_flight = JoinSet::new();
        loop {
            while let Some(done) = in_flight.try_join_next() {
                log_panic(done);
            }
            if cancel.is_cancelled() {
                break;
            }
            let free = self.config.concurrency.saturating_sub(in_flight.len());
            if free > 0 {
                match self.store.claim(&self.owner, free, now_ms(), lease_ms).await {
                    Ok(items) => {
                        let full = items.len() == free;
                        for item in items {
                            in_flight.spawn(self.clone().deliver(item));
                        }
                        if full {
                            // More may be due; claim again as soon as a send finishes.
                            continue;
                        }
                    }
                    Err(e) => warn!(error = %e, "outbox: claiming due items failed"),
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = wake.notified() => {}
                _ = tokio::time::sleep(self.config.poll_interval()) => {}
                Some(done) = in_flight.join_next(), if !in_flight.is_empty() => log_panic(done),
            }
        }
        self.drain(in_flight).await;
        info!(owner = %self.owner, "outbox worker stopped");
    }

    /// Let in-flight sends finish within the grace period; abandon the rest and release every
    /// lease still held, so that the items are due again right away rather than at lease expiry.
    async fn drain(&self, mut in_flight: JoinSet<()>) {
        let grace = tokio::time::sleep(self.config.shutdown_grace());
        tokio::pin!(grace);
        loop {
            tokio::select! {
                next = in_flight.join_next() => match next {
                    Some(done) => log_panic(done),
                    None => break,
                },
                _ = &mut grace => {
                    warn!(owner = %self.owner, abandoned = in_flight.len(), "outbox: shutdown grace over");
                    in_flight.shutdown().await;
                    break;
                }
            }
        }
        match self.store.release_all(&self.owner, now_ms()).await {
            Ok(0) => {}
            Ok(n) => info!(owner = %self.owner, released = n, "outbox: released leases"),
            Err(e) => warn!(error = %e, "outbox: releasing leases failed; they expire on their own"),
        }
    }

    async fn deliver(self: Arc<Self>, item: ClaimedItem) {
        let result = match (&item.message.read_receipt, &item.target) {
            (Some(receipt), Target::Users(peers)) if peers.len() == 1 => {
                let send = self.provider.mark_read(&item.message.from, &peers[0], receipt, &item.request_id);
                self.keep_leased(&item, send).await
            }
            (Some(_), _) => Err(ProviderError::Invalid(imbridge_provider::InvalidField::new(
                "to",
                "a read receipt goes to exactly one account",
            ))),
            (None, target) => {
                let notification = item.message.to_notification(target.clone());
                let send = self.provider.send_notification(&notification, &item.request_id);
                self.keep_leased(&item, send).await
            }
        };
        record_metric(&result);
        if let Err(ProviderError::RateLimited { retry_after, .. }) = &result {
            self.block.blocked(now_ms(), retry_after.as_millis() as i64);
        }
        let age = Duration::from_millis((now_ms() - item.created_at_ms).max(0) as u64);
        let verdict = decide(result, item.attempts, age, &self.config);
        let now = now_ms();
        let written = match &verdict {
            Verdict::Delivered { code, desc, unregistered } => {
                let settled =
                    Settled::Delivered { code: *code, desc: desc.clone(), unregistered: unregistered.clone() };
                self.store.settle(&item, &self.owner, &settled, now).await
            }
            Verdict::Failed { code, desc } => {
                let settled = Settled::Failed { code: *code, desc: desc.clone() };
                self.store.settle(&item, &self.owner, &settled, now).await
            }
            Verdict::Retry { after, code, desc, refund } => {
                let at = now + after.as_millis() as i64;
                self.store.reschedule(&item, &self.owner, at, *code, desc, *refund, now).await
            }
        };
        let (notification_id, request_id, attempts) = (&item.notification_id, &item.request_id, item.attempts);
        match written {
            Ok(true) => match &verdict {
                Verdict::Delivered { .. } => debug!(notification_id, request_id, attempts, "outbox: delivered"),
                Verdict::Failed { code, desc } => {
                    warn!(notification_id, request_id, attempts, ?code, desc, "outbox: delivery failed")
                }
                Verdict::Retry { after, desc, .. } => {
                    info!(notification_id, request_id, attempts, ?after, desc, "outbox: will retry")
                }
            },
            // Another worker reclaimed the item after our lease expired; it owns the outcome now
            // (and the provider de-duplicates our send and theirs by the request id).
            Ok(false) => warn!(notification_id, request_id, "outbox: lease lost before settling"),
            // The item stays leased and is retried when the lease expires, with the same request id.
            Err(e) => error!(notification_id, request_id, error = %e, "outbox: recording the outcome failed"),
        }
    }

    /// Await the send, renewing the lease every third of its duration so that a slow send (or one
    /// waiting for the client's rate limiter) is not taken over by another worker.
    async fn keep_leased(
        &self,
        item: &ClaimedItem,
        send: impl Future<Output = Result<SendOutcome, ProviderError>>,
    ) -> Result<SendOutcome, ProviderError> {
        let period = (self.config.lease() / 3).max(Duration::from_millis(10));
        let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        tokio::pin!(send);
        loop {
            tokio::select! {
                result = &mut send => return result,
                _ = renew.tick() => {
                    let until = now_ms() + self.config.lease_ms as i64;
                    match self.store.extend_lease(item.id, &self.owner, until).await {
                        Ok(true) => {}
                        Ok(false) => warn!(request_id = %item.request_id, "outbox: lease lost while sending"),
                        Err(e) => warn!(request_id = %item.request_id, error = %e, "outbox: renewing a lease failed"),
                    }
                }
            }
        }
    }
}

fn record_metric(result: &Result<SendOutcome, ProviderError>) {
    let outcome = match result {
        Ok(o) if o.duplicate => "duplicate",
        Ok(_) => "ok",
        Err(ProviderError::Rejected { .. } | ProviderError::Invalid(_) | ProviderError::Unsupported(_)) => "rejected",
        Err(ProviderError::RateLimited { .. }) => "rate_limited",
        Err(ProviderError::Unavailable(_)) => "unavailable",
    };
    metrics::counter!("imbridge_outbox_sends_total", "outcome" => outcome).increment(1);
}

fn log_panic(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done {
        if e.is_panic() {
            error!(error = %e, "outbox: a delivery task panicked; its lease will expire and be retried");
        }
    }
}

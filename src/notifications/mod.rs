//! Custom system notifications with durable delivery.
//!
//! `POST /v1/notifications` validates a notification against the provider's limits and stores it,
//! with one delivery item per provider call, in the SQL outbox before answering `202`. Background
//! workers (any number, in any number of instances sharing the database) claim due items with a
//! lease and send them; transient failures are retried with capped exponential backoff and jitter,
//! provider rate-limit blocks are waited out, refusals are recorded and never retried.
//! `GET /v1/notifications/{id}` reports the outcome per recipient.

mod block;
mod config;
mod model;
mod request;
mod retry;
mod routes;
mod store;
mod view;
mod worker;

use std::sync::{Arc, Mutex};

use imbridge_provider::{ImProvider, InvalidField, Target};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use block::RateLimitBlock;
pub use config::OutboxConfig;
pub use model::{Message, NewNotification, NotificationStatus, Outcome};
pub use request::NotificationRequest;
pub use routes::{router, ApiDoc, NotificationsState};
pub use store::{Attention, Backlog, ClaimedItem, Enqueued, OutboxStore, Settled};
pub use view::{Accepted, DeliveryView, NotificationView, OutcomeCounts, RecipientOutcome};
pub use worker::{now_ms, WorkerHandle};

use crate::db::Sql;

/// The notification outbox: accepts notifications and runs the workers that deliver them.
/// Cheap to clone; lives in `AppState`.
#[derive(Clone)]
pub struct Outbox {
    store: OutboxStore,
    provider: Arc<dyn ImProvider>,
    config: OutboxConfig,
    /// Wakes this process's workers when a notification is accepted.
    wake: Arc<Notify>,
    /// Workers started with [`Outbox::start_worker`], for [`Outbox::shutdown`].
    workers: Arc<Mutex<Vec<WorkerHandle>>>,
    /// The provider's latest rate-limit block, as the workers saw it.
    block: Arc<RateLimitBlock>,
}

/// Why a notification was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("invalid {0}")]
    Invalid(#[from] InvalidField),
    /// The idempotency key belongs to notification `id`, which had a different body.
    #[error("idempotency key already used for notification {id} with a different body")]
    KeyReused { id: String },
    /// The provider cannot deliver this kind of notification (a team, on Tencent).
    #[error("not supported by the IM provider: {0}")]
    Unsupported(&'static str),
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}

/// An accepted notification: `created` is false when an earlier one with the same idempotency
/// key and body is returned instead.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub accepted: Accepted,
    pub created: bool,
}

impl Outbox {
    pub fn new(sql: Sql, provider: Arc<dyn ImProvider>, config: OutboxConfig) -> Self {
        Self {
            store: OutboxStore::new(sql),
            provider,
            config,
            wake: Arc::new(Notify::new()),
            workers: Arc::default(),
            block: Arc::default(),
        }
    }

    /// The provider's rate-limit block this process's workers hit last.
    pub fn rate_limit_block(&self) -> &RateLimitBlock {
        &self.block
    }

    /// Wake this process's workers (an item was put back in the queue).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub fn store(&self) -> &OutboxStore {
        &self.store
    }

    pub fn config(&self) -> &OutboxConfig {
        &self.config
    }

    /// Validate and durably store a notification; nothing is stored when it is invalid.
    pub async fn submit(&self, request: NotificationRequest) -> Result<Submitted, SubmitError> {
        let new = request.validate(self.provider.as_ref(), self.config.max_recipients)?;
        if matches!(new.target, Target::Team(_)) && !self.provider.supports_team_notifications() {
            return Err(SubmitError::Unsupported("team notifications"));
        }
        self.enqueue(&new).await
    }

    /// Durably store an already validated notification.
    pub async fn enqueue(&self, new: &NewNotification) -> Result<Submitted, SubmitError> {
        let max_batch = self.provider.max_batch_recipients();
        match self.store.enqueue(new, max_batch, now_ms()).await? {
            Enqueued::Created { id, recipients } => {
                self.wake.notify_one();
                let accepted = Accepted { id, status: NotificationStatus::Queued, recipients };
                Ok(Submitted { accepted, created: true })
            }
            Enqueued::Existing { id, recipients } => {
                let status = match self.store.get(&id).await? {
                    Some(n) => n.status(),
                    None => NotificationStatus::Queued,
                };
                Ok(Submitted { accepted: Accepted { id, status, recipients }, created: false })
            }
            Enqueued::Conflict { id } => Err(SubmitError::KeyReused { id }),
        }
    }

    /// A notification's delivery state with every outcome, `None` when the id is unknown.
    pub async fn get(&self, id: &str) -> Result<Option<NotificationView>, sqlx::Error> {
        Ok(self.store.get(id).await?.map(NotificationView::from))
    }

    /// A notification's delivery state with the outcomes of recipients `offset..offset + limit`.
    pub async fn get_page(
        &self,
        id: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Option<NotificationView>, sqlx::Error> {
        Ok(self.store.get(id).await?.map(|n| NotificationView::page(n, offset, limit)))
    }

    /// Start this instance's delivery worker, unless `outbox.worker` is off. It stops gracefully
    /// when `shutdown` is cancelled; [`Outbox::shutdown`] waits for that.
    pub fn start_worker(&self, shutdown: &CancellationToken) {
        if !self.config.worker {
            tracing::info!("outbox worker disabled (outbox.worker = false): another instance delivers");
            return;
        }
        let handle = self.spawn_worker(shutdown.child_token());
        self.workers.lock().unwrap_or_else(|p| p.into_inner()).push(handle);
    }

    /// Stop the workers started with [`Outbox::start_worker`] and wait until they have finished
    /// or released their in-flight items (at most `outbox.shutdown_grace_ms`).
    pub async fn shutdown(&self) {
        let workers = std::mem::take(&mut *self.workers.lock().unwrap_or_else(|p| p.into_inner()));
        for worker in workers {
            worker.shutdown().await;
        }
    }

    /// Start one delivery worker of its own; it stops (gracefully) when `cancel` is cancelled or
    /// through [`WorkerHandle::shutdown`].
    pub fn spawn_worker(&self, cancel: CancellationToken) -> WorkerHandle {
        let shared = worker::Shared { wake: self.wake.clone(), block: self.block.clone() };
        worker::spawn(self.store.clone(), self.provider.clone(), self.config.clone(), shared, cancel)
    }
}

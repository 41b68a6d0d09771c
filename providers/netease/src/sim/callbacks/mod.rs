//! Signed callbacks ("消息抄送") from the simulator to the configured URL.
//!
//! Each event is a JSON POST with NetEase's headers: `CurTime` (milliseconds), `MD5` (of the body),
//! `CheckSum` = sha1(AppSecret + MD5 + CurTime), `AppKey`. A background task delivers the queue
//! (bounded: an event that does not fit is recorded as failed) in order, retrying answers other
//! than HTTP 200 a few times with growing pauses. [`CallbackMode`] makes it deliver every event
//! twice and/or shuffle events, for idempotency tests.

pub(crate) mod events;
mod worker;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{mpsc, Notify};

use super::state::lock;
use super::world::LOG_CAP;
use crate::sign;
use worker::{Delivery, Job};

/// Events waiting for delivery; more are refused (recorded as failed).
const QUEUE_CAPACITY: usize = 10_000;
/// How many events shuffle mode holds before releasing them in random order, by default.
const DEFAULT_SHUFFLE_WINDOW: usize = 8;

/// The event's `eventType` as text ("1", "30", ...).
fn event_type(event: &Value) -> String {
    match event.get("eventType") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// Fault modes for callbacks (the JSON of `POST /__sim/callbacks/mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallbackMode {
    /// Deliver every event twice.
    pub duplicate: bool,
    /// Hold events and deliver them in random order: released when `shuffle_window` events are
    /// held, when no new event came for 250 ms, or on flush.
    pub shuffle: bool,
    /// 0 means 8.
    pub shuffle_window: usize,
}

/// Where one delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Queued,
    /// Held by shuffle mode.
    Held,
    Delivered,
    /// Gave up (retries exhausted, queue full, no runtime).
    Failed,
    /// Never posted: lost on purpose by the `lose_presence_percent` fault.
    Lost,
}

/// One delivery of one event (a duplicated event has two, with the same `event_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackDelivery {
    pub id: u64,
    pub event_id: u64,
    /// 1, or 2 for the duplicate.
    pub copy: u8,
    /// The event's `eventType` ("1", "30", ...).
    pub event_type: String,
    pub url: String,
    /// The exact bytes posted.
    pub body: String,
    pub state: DeliveryState,
    /// The last HTTP status received.
    pub status: Option<u16>,
    pub attempts: u32,
    pub error: Option<String>,
    pub queued_at: u64,
    pub delivered_at: Option<u64>,
}

/// The delivery history, shared with the worker.
#[derive(Default)]
pub(crate) struct DeliveryLog {
    entries: VecDeque<CallbackDelivery>,
    next_id: u64,
}

impl DeliveryLog {
    fn push(&mut self, mut delivery: CallbackDelivery) -> u64 {
        self.next_id += 1;
        delivery.id = self.next_id;
        if self.entries.len() >= LOG_CAP {
            self.entries.pop_front();
        }
        self.entries.push_back(delivery);
        self.next_id
    }

    /// Updates a delivery still in the history.
    pub(crate) fn update(&mut self, id: u64, f: impl FnOnce(&mut CallbackDelivery)) {
        let Some(first) = self.entries.front().map(|d| d.id) else {
            return;
        };
        if let Some(d) = id.checked_sub(first).and_then(|i| self.entries.get_mut(i as usize)) {
            f(d);
        }
    }
}

/// What the delivery task shares with the hub.
pub(crate) struct Shared {
    app_key: String,
    app_secret: String,
    client: reqwest::Client,
    log: Mutex<DeliveryLog>,
    /// Deliveries queued, held or in flight.
    pending: AtomicUsize,
    idle: Notify,
}

impl Shared {
    fn finish_one(&self) {
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle.notify_waiters();
        }
    }
}

pub(crate) struct CallbackHub {
    shared: Arc<Shared>,
    url: Mutex<Option<String>>,
    mode: Mutex<CallbackMode>,
    sender: Mutex<Option<mpsc::Sender<Job>>>,
    next_event: Mutex<u64>,
}

impl CallbackHub {
    pub fn new(app_key: &str, app_secret: &str, url: Option<String>) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        let shared = Shared {
            app_key: app_key.to_owned(),
            app_secret: app_secret.to_owned(),
            client,
            log: Mutex::new(DeliveryLog::default()),
            pending: AtomicUsize::new(0),
            idle: Notify::new(),
        };
        Self {
            shared: Arc::new(shared),
            url: Mutex::new(url),
            mode: Mutex::new(CallbackMode::default()),
            sender: Mutex::new(None),
            next_event: Mutex::new(0),
        }
    }

    pub fn set_url(&self, url: Option<String>) {
        *lock(&self.url) = url;
    }

    pub fn url(&self) -> Option<String> {
        lock(&self.url).clone()
    }

    pub fn set_mode(&self, mode: CallbackMode) {
        *lock(&self.mode) = mode;
    }

    pub fn mode(&self) -> CallbackMode {
        *lock(&self.mode)
    }

    pub fn deliveries(&self) -> Vec<CallbackDelivery> {
        lock(&self.shared.log).entries.iter().cloned().collect()
    }

    /// Forgets finished deliveries (queued ones stay so that flush still tracks them).
    pub fn clear_history(&self) {
        lock(&self.shared.log).entries.retain(|d| matches!(d.state, DeliveryState::Queued | DeliveryState::Held));
    }

    fn new_event_id(&self) -> u64 {
        let mut next = lock(&self.next_event);
        *next += 1;
        *next
    }

    /// Records `event` as lost (for the current URL; nothing when there is none): it shows in the
    /// delivery history but is never posted.
    pub fn record_lost(&self, event: &Value) {
        let Some(url) = self.url() else { return };
        let record = CallbackDelivery {
            id: 0,
            event_id: self.new_event_id(),
            copy: 1,
            event_type: event_type(event),
            url,
            body: event.to_string(),
            state: DeliveryState::Lost,
            status: None,
            attempts: 0,
            error: Some("lost by the lose_presence_percent fault".to_owned()),
            queued_at: sign::now_millis(),
            delivered_at: None,
        };
        lock(&self.shared.log).push(record);
    }

    /// Queues `event` for the current URL (nothing when there is none).
    pub fn enqueue(&self, event: Value) {
        let Some(url) = self.url() else { return };
        let mode = self.mode();
        let body = event.to_string();
        let event_type = event_type(&event);
        let event_id = self.new_event_id();
        let copies: u8 = if mode.duplicate { 2 } else { 1 };
        for copy in 1..=copies {
            let record = CallbackDelivery {
                id: 0,
                event_id,
                copy,
                event_type: event_type.clone(),
                url: url.clone(),
                body: body.clone(),
                state: DeliveryState::Queued,
                status: None,
                attempts: 0,
                error: None,
                queued_at: sign::now_millis(),
                delivered_at: None,
            };
            let id = lock(&self.shared.log).push(record);
            self.shared.pending.fetch_add(1, Ordering::AcqRel);
            let window = if mode.shuffle_window == 0 { DEFAULT_SHUFFLE_WINDOW } else { mode.shuffle_window };
            let job = Job::Deliver(Delivery { id, url: url.clone(), body: body.clone(), hold: mode.shuffle, window });
            let sent = match self.sender() {
                Some(tx) => tx.try_send(job).map_err(|e| match e {
                    mpsc::error::TrySendError::Full(_) => "callback queue full",
                    mpsc::error::TrySendError::Closed(_) => "callback task stopped",
                }),
                None => Err("no tokio runtime to deliver callbacks"),
            };
            if let Err(reason) = sent {
                tracing::warn!(id, reason, "simulator dropped a callback");
                lock(&self.shared.log).update(id, |d| {
                    d.state = DeliveryState::Failed;
                    d.error = Some(reason.to_owned());
                });
                self.shared.finish_one();
            }
        }
    }

    /// Releases held events and waits until nothing is pending.
    pub async fn flush(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        if let Some(tx) = self.sender() {
            let _ = tokio::time::timeout_at(deadline, tx.send(Job::Release)).await;
        }
        loop {
            let notified = self.shared.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.shared.pending.load(Ordering::Acquire) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.shared.pending.load(Ordering::Acquire) == 0;
            }
        }
    }

    /// The delivery task's queue, started on first use (it needs a tokio runtime).
    fn sender(&self) -> Option<mpsc::Sender<Job>> {
        let mut sender = lock(&self.sender);
        if sender.is_none() {
            let runtime = tokio::runtime::Handle::try_current().ok()?;
            let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
            runtime.spawn(worker::run(rx, self.shared.clone()));
            *sender = Some(tx);
        }
        sender.clone()
    }
}

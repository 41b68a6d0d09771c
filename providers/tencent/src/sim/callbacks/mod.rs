//! Callbacks from the simulator to the configured URL.
//!
//! Each event is a JSON POST to `<url>?SdkAppid=&CallbackCommand=&contenttype=json&ClientIP=&OptPlatform=`
//! plus, when a callback token is configured, `&Sign=<sha256 hex of token + RequestTime>&RequestTime=`
//! (real unix seconds at each attempt, whatever the sim clock says, so that a receiver checking
//! its 60 s window accepts it). One background task delivers events in order.
//!
//! Tencent documents no redelivery of "after" callbacks, so by default each delivery is attempted
//! once; [`CallbackMode::retry`] retries answers other than HTTP 200 a few times (a test
//! convenience). [`CallbackMode`] can also duplicate, shuffle or lose events.

pub(crate) mod events;
mod worker;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, Notify};

use super::state::lock;
use super::world::LOG_CAP;
pub(crate) use events::Event;
use worker::{Delivery, Job};

/// Events waiting for delivery; more are refused (recorded as failed).
const QUEUE_CAPACITY: usize = 10_000;
/// How many events shuffle mode holds before releasing them in random order.
const SHUFFLE_WINDOW: usize = 8;

/// Fault modes for callbacks (the JSON of `POST /__sim/callbacks/mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallbackMode {
    /// Deliver every event twice (the copies are consecutive unless shuffled).
    pub duplicate: bool,
    /// Hold events and deliver them in random order: released when 8 are held, when no new
    /// event came for 250 ms, or on flush.
    pub shuffle: bool,
    /// Lose this share (0..=100 %, drawn per event) of events: recorded as `lost`, never posted.
    pub drop_percent: u8,
    /// Retry non-200 answers (4 attempts, 100 ms doubling). Off by default: Tencent documents
    /// no redelivery.
    pub retry: bool,
}

/// Where one delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Queued,
    /// Held by shuffle mode.
    Held,
    Delivered,
    /// The receiver did not answer 200 (after the retries, if any), or the queue was full.
    Failed,
    /// Never posted: lost on purpose by `drop_percent`.
    Lost,
}

/// One delivery of one event (a duplicated event has two, with the same `event_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackDelivery {
    pub id: u64,
    pub event_id: u64,
    /// 1, or 2 for the duplicate.
    pub copy: u8,
    /// `CallbackCommand` (`"C2C.CallbackAfterSendMsg"`, ...).
    pub command: String,
    /// The configured URL, without the query string.
    pub url: String,
    /// The query string of the last attempt (before the first: without Sign/RequestTime).
    pub query: String,
    /// The exact body posted.
    pub body: String,
    pub state: DeliveryState,
    /// The last HTTP status received.
    pub status: Option<u16>,
    pub attempts: u32,
    pub error: Option<String>,
    /// Real unix milliseconds.
    pub queued_at: u64,
    pub delivered_at: Option<u64>,
}

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

    pub(crate) fn update(&mut self, id: u64, f: impl FnOnce(&mut CallbackDelivery)) {
        let Some(first) = self.entries.front().map(|d| d.id) else { return };
        if let Some(d) = id.checked_sub(first).and_then(|i| self.entries.get_mut(i as usize)) {
            f(d);
        }
    }
}

/// What the delivery task shares with the hub.
pub(crate) struct Shared {
    sdkappid: u64,
    token: Option<String>,
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

pub(crate) fn now_millis() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

pub(crate) struct CallbackHub {
    shared: Arc<Shared>,
    url: Mutex<Option<String>>,
    mode: Mutex<CallbackMode>,
    sender: Mutex<Option<mpsc::Sender<Job>>>,
    next_event: Mutex<u64>,
}

impl CallbackHub {
    pub fn new(sdkappid: u64, token: Option<String>, url: Option<String>) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        let shared = Shared {
            sdkappid,
            token,
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

    /// Forgets finished deliveries (queued and held ones stay so that flush still tracks them).
    pub fn clear_history(&self) {
        lock(&self.shared.log).entries.retain(|d| matches!(d.state, DeliveryState::Queued | DeliveryState::Held));
    }

    /// Queues `event` for the current URL (nothing when there is none).
    pub fn enqueue(&self, event: Event) {
        let Some(url) = self.url() else { return };
        let mode = self.mode();
        let body = event.body.to_string();
        let event_id = {
            let mut next = lock(&self.next_event);
            *next += 1;
            *next
        };
        let query = worker::query(self.shared.sdkappid, &event, None);
        let record = |copy: u8, state: DeliveryState| CallbackDelivery {
            id: 0,
            event_id,
            copy,
            command: event.command.to_owned(),
            url: url.clone(),
            query: query.clone(),
            body: body.clone(),
            state,
            status: None,
            attempts: 0,
            error: None,
            queued_at: now_millis(),
            delivered_at: None,
        };
        let lost = match mode.drop_percent {
            0 => false,
            p if p >= 100 => true,
            p => rand::thread_rng().gen_range(0..100u8) < p,
        };
        if lost {
            let mut r = record(1, DeliveryState::Lost);
            r.error = Some("lost by the drop_percent callback mode".to_owned());
            lock(&self.shared.log).push(r);
            return;
        }
        let copies: u8 = if mode.duplicate { 2 } else { 1 };
        for copy in 1..=copies {
            let id = lock(&self.shared.log).push(record(copy, DeliveryState::Queued));
            self.shared.pending.fetch_add(1, Ordering::AcqRel);
            let job = Job::Deliver(Delivery {
                id,
                url: url.clone(),
                event: event.clone(),
                body: body.clone(),
                hold: mode.shuffle,
                retry: mode.retry,
            });
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

    /// Releases held events and waits until nothing is pending; false on timeout.
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

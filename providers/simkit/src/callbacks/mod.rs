//! The callback delivery queue both simulators post their events through: a bounded queue (an
//! event that does not fit is recorded as failed) that one background task delivers in order,
//! a capped history of every delivery for tests to inspect, shuffle mode (hold events and release
//! them in random order) and a flush that waits until nothing is pending.
//!
//! What differs between providers stays with them through [`Post`]: how a request is built and
//! signed, and the record a test sees; the provider also decides per event whether it is posted
//! twice, held or retried.

mod worker;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, Notify};

use worker::Job;

/// Events waiting for delivery; more are refused (recorded as failed).
const QUEUE_CAPACITY: usize = 10_000;

/// Where one delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Queued,
    /// Held by shuffle mode.
    Held,
    Delivered,
    /// Gave up: the receiver did not answer 200 (after the retries, if any), the queue was full,
    /// or there was no runtime to deliver on.
    Failed,
    /// Never posted: lost on purpose by a fault.
    Lost,
}

/// The fields of a provider's delivery record that the queue keeps up to date.
pub struct Progress<'a> {
    pub id: &'a mut u64,
    pub state: &'a mut DeliveryState,
    /// The last HTTP status received.
    pub status: &'a mut Option<u16>,
    pub attempts: &'a mut u32,
    pub error: &'a mut Option<String>,
    pub delivered_at: &'a mut Option<u64>,
}

/// A provider's delivery record: what `GET /__sim/callbacks` lists.
pub trait Record: Clone + Send + 'static {
    fn progress(&mut self) -> Progress<'_>;
}

/// How a provider posts its callbacks.
pub trait Post: Send + Sync + 'static {
    type Record: Record;
    /// What a delivery carries besides its URL (the body, and whatever signing needs).
    type Payload: Send + 'static;
    /// What a record keeps of the request an attempt sent, beyond its outcome.
    type Sent: Send;

    /// Builds one attempt's request; it is built again for each retry, so signatures stay fresh.
    fn request(
        &self,
        client: &reqwest::Client,
        url: &str,
        payload: &Self::Payload,
    ) -> (reqwest::RequestBuilder, Self::Sent);

    /// Notes an attempt's request on its record, before its outcome is noted.
    fn note_sent(_record: &mut Self::Record, _sent: Self::Sent) {}
}

/// One delivery to queue, with the provider's decisions for it.
pub struct Delivery<P> {
    pub url: String,
    pub payload: P,
    /// Shuffle mode: hold until `window` deliveries are held, 250 ms pass without a new one, or a flush.
    pub hold: bool,
    pub window: usize,
    /// Attempts before giving up on a receiver that does not answer 200.
    pub attempts: u32,
}

/// Real unix milliseconds: callbacks are signed and stamped with the wall clock, whatever the
/// simulated clock says, so that a receiver checking its time window accepts them.
pub fn now_millis() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// Locks a mutex, ignoring poisoning: no code here panics while holding a lock.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The delivery history, shared with the worker.
struct DeliveryLog<R> {
    entries: VecDeque<R>,
    next_id: u64,
    cap: usize,
}

impl<R: Record> DeliveryLog<R> {
    fn push(&mut self, mut record: R) -> u64 {
        self.next_id += 1;
        *record.progress().id = self.next_id;
        if self.entries.len() >= self.cap {
            self.entries.pop_front();
        }
        self.entries.push_back(record);
        self.next_id
    }

    /// Updates a delivery still in the history.
    fn update(&mut self, id: u64, f: impl FnOnce(Progress<'_>)) {
        self.update_record(id, |r| f(r.progress()));
    }

    fn update_record(&mut self, id: u64, f: impl FnOnce(&mut R)) {
        let Some(first) = self.entries.front_mut().map(|d| *d.progress().id) else { return };
        if let Some(d) = id.checked_sub(first).and_then(|i| self.entries.get_mut(i as usize)) {
            f(d);
        }
    }
}

/// What the delivery task shares with the queue.
struct Shared<P: Post> {
    post: P,
    client: reqwest::Client,
    log: Mutex<DeliveryLog<P::Record>>,
    /// Deliveries queued, held or in flight.
    pending: AtomicUsize,
    idle: Notify,
}

impl<P: Post> Shared<P> {
    fn finish_one(&self) {
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle.notify_waiters();
        }
    }
}

/// A simulator's callbacks: the URL they go to, their queue and their history.
pub struct CallbackQueue<P: Post> {
    shared: Arc<Shared<P>>,
    url: Mutex<Option<String>>,
    sender: Mutex<Option<mpsc::Sender<Job<P::Payload>>>>,
    next_event: Mutex<u64>,
}

impl<P: Post> CallbackQueue<P> {
    /// `history` caps how many deliveries are remembered (the oldest are forgotten first).
    pub fn new(post: P, url: Option<String>, history: usize) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        let shared = Shared {
            post,
            client,
            log: Mutex::new(DeliveryLog { entries: VecDeque::new(), next_id: 0, cap: history }),
            pending: AtomicUsize::new(0),
            idle: Notify::new(),
        };
        Self { shared: Arc::new(shared), url: Mutex::new(url), sender: Mutex::new(None), next_event: Mutex::new(0) }
    }

    /// The provider's poster, for what the records copy from its configuration.
    pub fn post(&self) -> &P {
        &self.shared.post
    }

    pub fn set_url(&self, url: Option<String>) {
        *lock(&self.url) = url;
    }

    pub fn url(&self) -> Option<String> {
        lock(&self.url).clone()
    }

    pub fn deliveries(&self) -> Vec<P::Record> {
        lock(&self.shared.log).entries.iter().cloned().collect()
    }

    /// Forgets finished deliveries (queued and held ones stay so that flush still tracks them).
    pub fn clear_history(&self) {
        lock(&self.shared.log)
            .entries
            .retain_mut(|d| matches!(d.progress().state, DeliveryState::Queued | DeliveryState::Held));
    }

    /// A new event's id, shared by its copies when it is delivered twice.
    pub fn new_event_id(&self) -> u64 {
        let mut next = lock(&self.next_event);
        *next += 1;
        *next
    }

    /// Records a delivery that is never posted (its state says why).
    pub fn record(&self, record: P::Record) {
        lock(&self.shared.log).push(record);
    }

    /// Records `record` and queues its delivery; when the queue refuses it, the record says why.
    pub fn enqueue(&self, record: P::Record, delivery: Delivery<P::Payload>) {
        let id = lock(&self.shared.log).push(record);
        self.shared.pending.fetch_add(1, Ordering::AcqRel);
        let sent = match self.sender() {
            Some(tx) => tx.try_send(Job::Deliver { id, delivery }).map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => "callback queue full",
                mpsc::error::TrySendError::Closed(_) => "callback task stopped",
            }),
            None => Err("no tokio runtime to deliver callbacks"),
        };
        if let Err(reason) = sent {
            tracing::warn!(id, reason, "simulator dropped a callback");
            lock(&self.shared.log).update(id, |p| {
                *p.state = DeliveryState::Failed;
                *p.error = Some(reason.to_owned());
            });
            self.shared.finish_one();
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
    fn sender(&self) -> Option<mpsc::Sender<Job<P::Payload>>> {
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

//! Signed callbacks ("消息抄送") from the simulator to the configured URL.
//!
//! Each event is a JSON POST with NetEase's headers: `CurTime` (milliseconds), `MD5` (of the body),
//! `CheckSum` = sha1(AppSecret + MD5 + CurTime), `AppKey`. A background task delivers the queue
//! (bounded: an event that does not fit is recorded as failed) in order, retrying answers other
//! than HTTP 200 a few times with growing pauses. [`CallbackMode`] makes it deliver every event
//! twice and/or shuffle events, for idempotency tests.

pub(crate) mod events;

use std::sync::Mutex;

use axum::http::header::CONTENT_TYPE;
pub use imbridge_simkit::callbacks::DeliveryState;
use imbridge_simkit::callbacks::{self, CallbackQueue, Delivery, Progress};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::state::lock;
use super::world::LOG_CAP;
use crate::sign::{self, CallbackHeaders};

/// How many events shuffle mode holds before releasing them in random order, by default.
const DEFAULT_SHUFFLE_WINDOW: usize = 8;
/// Attempts per delivery (NetEase documents no retry policy; a few quick retries let tests see a
/// receiver that answered 503 once still get the event).
const MAX_ATTEMPTS: u32 = 4;

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

impl callbacks::Record for CallbackDelivery {
    fn progress(&mut self) -> Progress<'_> {
        Progress {
            id: &mut self.id,
            state: &mut self.state,
            status: &mut self.status,
            attempts: &mut self.attempts,
            error: &mut self.error,
            delivered_at: &mut self.delivered_at,
        }
    }
}

/// Posts with NetEase's headers, signed at each attempt.
pub(crate) struct Signer {
    app_key: String,
    app_secret: String,
}

impl callbacks::Post for Signer {
    type Record = CallbackDelivery;
    /// The exact body to post.
    type Payload = String;
    type Sent = ();

    fn request(&self, client: &reqwest::Client, url: &str, body: &String) -> (reqwest::RequestBuilder, ()) {
        let signed = CallbackHeaders::sign(&self.app_secret, body.as_bytes(), sign::now_millis());
        let request = client
            .post(url)
            .header(CONTENT_TYPE, "application/json;charset=utf-8")
            .header("AppKey", &self.app_key)
            .header("CurTime", &signed.cur_time)
            .header("MD5", &signed.md5)
            .header("CheckSum", &signed.checksum)
            .body(body.clone());
        (request, ())
    }
}

pub(crate) struct CallbackHub {
    pub queue: CallbackQueue<Signer>,
    mode: Mutex<CallbackMode>,
}

impl CallbackHub {
    pub fn new(app_key: &str, app_secret: &str, url: Option<String>) -> Self {
        let signer = Signer { app_key: app_key.to_owned(), app_secret: app_secret.to_owned() };
        Self { queue: CallbackQueue::new(signer, url, LOG_CAP), mode: Mutex::new(CallbackMode::default()) }
    }

    pub fn set_mode(&self, mode: CallbackMode) {
        *lock(&self.mode) = mode;
    }

    pub fn mode(&self) -> CallbackMode {
        *lock(&self.mode)
    }

    /// Records `event` as lost (for the current URL; nothing when there is none): it shows in the
    /// delivery history but is never posted.
    pub fn record_lost(&self, event: &Value) {
        let Some(url) = self.queue.url() else { return };
        self.queue.record(CallbackDelivery {
            id: 0,
            event_id: self.queue.new_event_id(),
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
        });
    }

    /// Queues `event` for the current URL (nothing when there is none).
    pub fn enqueue(&self, event: Value) {
        let Some(url) = self.queue.url() else { return };
        let mode = self.mode();
        let body = event.to_string();
        let event_type = event_type(&event);
        let event_id = self.queue.new_event_id();
        let copies: u8 = if mode.duplicate { 2 } else { 1 };
        let window = if mode.shuffle_window == 0 { DEFAULT_SHUFFLE_WINDOW } else { mode.shuffle_window };
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
            let delivery = Delivery {
                url: url.clone(),
                payload: body.clone(),
                hold: mode.shuffle,
                window,
                attempts: MAX_ATTEMPTS,
            };
            self.queue.enqueue(record, delivery);
        }
    }
}

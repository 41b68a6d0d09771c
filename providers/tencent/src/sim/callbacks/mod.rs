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

use std::sync::Mutex;

use axum::http::header::CONTENT_TYPE;
pub use imbridge_simkit::callbacks::DeliveryState;
use imbridge_simkit::callbacks::{self, now_millis, CallbackQueue, Delivery, Progress};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::state::lock;
use super::world::LOG_CAP;
pub(crate) use events::Event;
use events::CLIENT_IP;

/// How many events shuffle mode holds before releasing them in random order.
const SHUFFLE_WINDOW: usize = 8;
/// Attempts per delivery in retry mode.
const RETRY_ATTEMPTS: u32 = 4;

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

/// The callback query string; with `signed` = (token, RequestTime) it carries Sign and RequestTime.
fn query(sdkappid: u64, event: &Event, signed: Option<(&str, &str)>) -> String {
    let mut pairs = vec![
        ("SdkAppid", sdkappid.to_string()),
        ("CallbackCommand", event.command.to_owned()),
        ("contenttype", "json".to_owned()),
        ("ClientIP", CLIENT_IP.to_owned()),
        ("OptPlatform", event.platform.clone()),
    ];
    if let Some((token, time)) = signed {
        pairs.push(("Sign", crate::sign::callback_sign(token, time)));
        pairs.push(("RequestTime", time.to_owned()));
    }
    serde_urlencoded::to_string(&pairs).unwrap_or_default()
}

/// One event on its way: what its query string is built from, and its exact body.
pub(crate) struct Outgoing {
    event: Event,
    body: String,
}

/// Posts with Tencent's query string, signed at each attempt when a callback token is configured.
pub(crate) struct Signer {
    sdkappid: u64,
    token: Option<String>,
}

impl callbacks::Post for Signer {
    type Record = CallbackDelivery;
    type Payload = Outgoing;
    /// The attempt's query string, which the record shows.
    type Sent = String;

    fn request(&self, client: &reqwest::Client, url: &str, out: &Outgoing) -> (reqwest::RequestBuilder, String) {
        let request_time = (now_millis() / 1000).to_string();
        let q = query(self.sdkappid, &out.event, self.token.as_deref().map(|t| (t, request_time.as_str())));
        let separator = if url.contains('?') { '&' } else { '?' };
        let request =
            client.post(format!("{url}{separator}{q}")).header(CONTENT_TYPE, "application/json").body(out.body.clone());
        (request, q)
    }

    fn note_sent(record: &mut CallbackDelivery, query: String) {
        record.query = query;
    }
}

pub(crate) struct CallbackHub {
    pub queue: CallbackQueue<Signer>,
    mode: Mutex<CallbackMode>,
}

impl CallbackHub {
    pub fn new(sdkappid: u64, token: Option<String>, url: Option<String>) -> Self {
        let signer = Signer { sdkappid, token };
        Self { queue: CallbackQueue::new(signer, url, LOG_CAP), mode: Mutex::new(CallbackMode::default()) }
    }

    pub fn set_mode(&self, mode: CallbackMode) {
        *lock(&self.mode) = mode;
    }

    pub fn mode(&self) -> CallbackMode {
        *lock(&self.mode)
    }

    /// Queues `event` for the current URL (nothing when there is none).
    pub fn enqueue(&self, event: Event) {
        let Some(url) = self.queue.url() else { return };
        let mode = self.mode();
        let body = event.body.to_string();
        let event_id = self.queue.new_event_id();
        let query = query(self.queue.post().sdkappid, &event, None);
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
            self.queue.record(r);
            return;
        }
        let copies: u8 = if mode.duplicate { 2 } else { 1 };
        for copy in 1..=copies {
            let delivery = Delivery {
                url: url.clone(),
                payload: Outgoing { event: event.clone(), body: body.clone() },
                hold: mode.shuffle,
                window: SHUFFLE_WINDOW,
                attempts: if mode.retry { RETRY_ATTEMPTS } else { 1 },
            };
            self.queue.enqueue(record(copy, DeliveryState::Queued), delivery);
        }
    }
}

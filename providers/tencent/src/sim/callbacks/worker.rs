//! The delivery task: posts queued events one at a time, signing each attempt.

use std::sync::Arc;
use std::time::Duration;

use axum::http::header::CONTENT_TYPE;
use rand::seq::SliceRandom;
use tokio::sync::mpsc;

use super::events::{Event, CLIENT_IP};
use super::{now_millis, DeliveryState, Shared, SHUFFLE_WINDOW};
use crate::sim::state::lock;

/// Attempts per delivery in retry mode.
const RETRY_ATTEMPTS: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Shuffle mode releases held events after this long without a new one.
const HOLD_IDLE: Duration = Duration::from_millis(250);

pub(crate) enum Job {
    Deliver(Delivery),
    /// Deliver everything held now (flush).
    Release,
}

pub(crate) struct Delivery {
    pub id: u64,
    pub url: String,
    pub event: Event,
    pub body: String,
    /// Shuffle mode: hold until released.
    pub hold: bool,
    pub retry: bool,
}

/// The callback query string; with `signed` = (token, RequestTime) it carries Sign and RequestTime.
pub(crate) fn query(sdkappid: u64, event: &Event, signed: Option<(&str, &str)>) -> String {
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

pub(crate) async fn run(mut rx: mpsc::Receiver<Job>, shared: Arc<Shared>) {
    let mut held: Vec<Delivery> = Vec::new();
    loop {
        let job = if held.is_empty() {
            rx.recv().await
        } else {
            match tokio::time::timeout(HOLD_IDLE, rx.recv()).await {
                Ok(job) => job,
                Err(_idle) => {
                    release(&shared, &mut held).await;
                    continue;
                }
            }
        };
        match job {
            None => {
                release(&shared, &mut held).await;
                return;
            }
            Some(Job::Release) => release(&shared, &mut held).await,
            Some(Job::Deliver(d)) if d.hold => {
                lock(&shared.log).update(d.id, |r| r.state = DeliveryState::Held);
                held.push(d);
                if held.len() >= SHUFFLE_WINDOW {
                    release(&shared, &mut held).await;
                }
            }
            Some(Job::Deliver(d)) => {
                // Events held before shuffle mode was turned off go first.
                release(&shared, &mut held).await;
                deliver(&shared, d).await;
            }
        }
    }
}

async fn release(shared: &Shared, held: &mut Vec<Delivery>) {
    held.shuffle(&mut rand::thread_rng());
    for d in held.drain(..) {
        deliver(shared, d).await;
    }
}

async fn deliver(shared: &Shared, d: Delivery) {
    let attempts = if d.retry { RETRY_ATTEMPTS } else { 1 };
    let mut backoff = FIRST_BACKOFF;
    for attempt in 1..=attempts {
        let request_time = (now_millis() / 1000).to_string();
        let q = query(shared.sdkappid, &d.event, shared.token.as_deref().map(|t| (t, request_time.as_str())));
        let separator = if d.url.contains('?') { '&' } else { '?' };
        let result = shared
            .client
            .post(format!("{}{separator}{q}", d.url))
            .header(CONTENT_TYPE, "application/json")
            .body(d.body.clone())
            .send()
            .await;
        let (status, error) = match result {
            Ok(response) => {
                let status = response.status().as_u16();
                // Read the answer so the connection can be reused.
                let _ = response.bytes().await;
                (Some(status), (status != 200).then(|| format!("answered HTTP {status}")))
            }
            Err(e) => (None, Some(e.to_string())),
        };
        let done = error.is_none();
        let last = attempt == attempts;
        lock(&shared.log).update(d.id, |r| {
            r.attempts = attempt;
            r.status = status;
            r.query.clone_from(&q);
            r.error.clone_from(&error);
            if done {
                r.state = DeliveryState::Delivered;
                r.delivered_at = Some(now_millis());
            } else if last {
                r.state = DeliveryState::Failed;
            }
        });
        if done || last {
            if !done {
                tracing::debug!(id = d.id, url = %d.url, error = ?error, "simulator callback not delivered");
            }
            break;
        }
        tokio::time::sleep(backoff).await;
        backoff *= 2;
    }
    shared.finish_one();
}

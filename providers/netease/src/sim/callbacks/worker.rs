//! The delivery task: posts queued events one at a time, signed at each attempt.

use std::sync::Arc;
use std::time::Duration;

use axum::http::header::CONTENT_TYPE;
use rand::seq::SliceRandom;
use tokio::sync::mpsc;

use super::{DeliveryState, Shared};
use crate::sign::{self, CallbackHeaders};
use crate::sim::state::lock;

/// Attempts per delivery (NetEase documents no retry policy; a few quick retries let tests see a
/// receiver that answered 503 once still get the event).
const MAX_ATTEMPTS: u32 = 4;
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
    pub body: String,
    /// Shuffle mode: hold until released.
    pub hold: bool,
    pub window: usize,
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
                let window = d.window;
                held.push(d);
                if held.len() >= window {
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
    let mut backoff = FIRST_BACKOFF;
    for attempt in 1..=MAX_ATTEMPTS {
        let signed = CallbackHeaders::sign(&shared.app_secret, d.body.as_bytes(), sign::now_millis());
        let result = shared
            .client
            .post(&d.url)
            .header(CONTENT_TYPE, "application/json;charset=utf-8")
            .header("AppKey", &shared.app_key)
            .header("CurTime", &signed.cur_time)
            .header("MD5", &signed.md5)
            .header("CheckSum", &signed.checksum)
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
        let last = attempt == MAX_ATTEMPTS;
        lock(&shared.log).update(d.id, |r| {
            r.attempts = attempt;
            r.status = status;
            r.error.clone_from(&error);
            if done {
                r.state = DeliveryState::Delivered;
                r.delivered_at = Some(sign::now_millis());
            } else if last {
                r.state = DeliveryState::Failed;
            }
        });
        if done {
            break;
        }
        if last {
            tracing::warn!(id = d.id, url = %d.url, error = ?error, "simulator gave up delivering a callback");
            break;
        }
        tokio::time::sleep(backoff).await;
        backoff *= 2;
    }
    shared.finish_one();
}

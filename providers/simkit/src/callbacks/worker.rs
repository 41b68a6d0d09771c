//! The delivery task: posts queued events one at a time, building each attempt's request afresh.

use std::sync::Arc;
use std::time::Duration;

use rand::seq::SliceRandom;
use tokio::sync::mpsc;

use super::{lock, now_millis, Delivery, DeliveryState, Post, Record as _, Shared};

/// The pause after a first failed attempt, doubled after each further one.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Shuffle mode releases held events after this long without a new one.
const HOLD_IDLE: Duration = Duration::from_millis(250);

pub(super) enum Job<P> {
    Deliver {
        id: u64,
        delivery: Delivery<P>,
    },
    /// Deliver everything held now (flush).
    Release,
}

type Held<P> = Vec<(u64, Delivery<P>)>;

pub(super) async fn run<P: Post>(mut rx: mpsc::Receiver<Job<P::Payload>>, shared: Arc<Shared<P>>) {
    let mut held: Held<P::Payload> = Vec::new();
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
            Some(Job::Deliver { id, delivery }) if delivery.hold => {
                lock(&shared.log).update(id, |p| *p.state = DeliveryState::Held);
                let window = delivery.window;
                held.push((id, delivery));
                if held.len() >= window {
                    release(&shared, &mut held).await;
                }
            }
            Some(Job::Deliver { id, delivery }) => {
                // Events held before shuffle mode was turned off go first.
                release(&shared, &mut held).await;
                deliver(&shared, id, delivery).await;
            }
        }
    }
}

async fn release<P: Post>(shared: &Shared<P>, held: &mut Held<P::Payload>) {
    held.shuffle(&mut rand::thread_rng());
    for (id, d) in held.drain(..) {
        deliver(shared, id, d).await;
    }
}

async fn deliver<P: Post>(shared: &Shared<P>, id: u64, d: Delivery<P::Payload>) {
    let mut backoff = FIRST_BACKOFF;
    for attempt in 1..=d.attempts {
        let (request, sent) = shared.post.request(&shared.client, &d.url, &d.payload);
        let (status, error) = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                // Read the answer so the connection can be reused.
                let _ = response.bytes().await;
                (Some(status), (status != 200).then(|| format!("answered HTTP {status}")))
            }
            Err(e) => (None, Some(e.to_string())),
        };
        let done = error.is_none();
        let last = attempt == d.attempts;
        lock(&shared.log).update_record(id, |r| {
            P::note_sent(r, sent);
            let p = r.progress();
            *p.attempts = attempt;
            *p.status = status;
            p.error.clone_from(&error);
            if done {
                *p.state = DeliveryState::Delivered;
                *p.delivered_at = Some(now_millis());
            } else if last {
                *p.state = DeliveryState::Failed;
            }
        });
        if done || last {
            if !done {
                tracing::debug!(id, url = %d.url, error = ?error, "simulator callback not delivered");
            }
            break;
        }
        tokio::time::sleep(backoff).await;
        backoff *= 2;
    }
    shared.finish_one();
}

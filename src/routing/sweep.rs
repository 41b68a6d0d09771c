//! Idle close: an open assignment whose buyer–agent conversation has had no message for the shop's
//! `idle_close_hours` closes by itself, so capacity does not leak when agents forget to close.
//!
//! Every instance sweeps every `routing.sweep_interval_ms`. The conversation data comes from the
//! provider's callbacks (the message store): a newer message moves the assignment's activity
//! forward (compare-and-set), none closes it (compare-and-set on the activity read), so instances
//! sweeping at once, or a message arriving meanwhile, never close an active chat by mistake.

use std::sync::Arc;

use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::RoutingStore;
use crate::app::AppState;
use crate::db::now_ms;
use crate::error::AppError;
use crate::messages::{MessageStore, PairQuery};

/// Assignments looked at per query, and queries per sweep (the rest waits for the next sweep).
const PAGE: usize = 200;
const ROUNDS: usize = 10;

pub fn start_sweeper(state: &AppState) -> JoinHandle<()> {
    let routing = state.routing.clone();
    let messages = state.messages.clone();
    let every = state.config.routing.sweep_interval();
    let stop: CancellationToken = state.shutdown.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(every) => {}
            }
            match sweep_once(&routing, &messages, now_ms()).await {
                Ok(0) => {}
                Ok(closed) => {
                    metrics::counter!("imbridge_routing_idle_closed_total").increment(closed as u64);
                    tracing::info!(closed, "closed idle assignments");
                }
                Err(err) => tracing::warn!(error = %err, "idle assignment sweep failed; retrying at the next one"),
            }
        }
    })
}

/// One sweep as of `now`; returns how many assignments it closed.
pub async fn sweep_once(routing: &RoutingStore, messages: &Arc<dyn MessageStore>, now: i64) -> Result<usize, AppError> {
    let mut closed = 0;
    for _ in 0..ROUNDS {
        let idle = routing.idle(now, PAGE).await?;
        for assignment in &idle {
            let query = PairQuery {
                from_ms: assignment.activity_at_ms + 1,
                to_ms: now,
                after: None,
                ascending: false,
                limit: 1,
                only_from: None,
            };
            let newest = messages.pair_messages(&assignment.buyer, &assignment.agent, &query).await?;
            match newest.first().and_then(|doc| doc.get(crate::messages::F_SENT_AT).and_then(Value::as_i64)) {
                Some(at) => routing.touch(&assignment.id, assignment.activity_at_ms, at).await?,
                None => {
                    let since = Some(assignment.activity_at_ms);
                    let row = routing.close(&assignment.shop_id, &assignment.id, "idle", since, now).await?;
                    closed += usize::from(row.is_some_and(|r| r.close_reason.as_deref() == Some("idle")));
                }
            }
        }
        if idle.len() < PAGE {
            break;
        }
    }
    Ok(closed)
}

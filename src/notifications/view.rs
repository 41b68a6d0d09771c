//! The JSON shapes of the notification API's answers.

use std::collections::HashSet;

use chrono::{DateTime, SecondsFormat};
use serde::Serialize;
use utoipa::ToSchema;

use super::model::{NotificationStatus, Outcome};
use super::store::{StoredItem, StoredNotification};

/// `202`/`200` answer to `POST /v1/notifications`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"id": "5c1f0e8a9b7d4c3e2f1a0b9c8d7e6f5a", "status": "queued", "recipients": 1}))]
pub struct Accepted {
    pub id: String,
    pub status: NotificationStatus,
    /// Distinct recipients (1 for a team).
    pub recipients: u64,
}

/// `GET /v1/notifications/{id}`: the summary, and one page of per-recipient outcomes.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NotificationView {
    pub id: String,
    pub status: NotificationStatus,
    pub from: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    pub recipients: i64,
    /// RFC 3339.
    pub created_at: String,
    /// Provider sends started, over all deliveries.
    pub attempts: i64,
    /// The provider's most recent answer (code and description) over all deliveries.
    pub last_code: Option<i64>,
    pub last_desc: Option<String>,
    /// Recipients per outcome over the whole notification (every page carries it).
    pub counts: OutcomeCounts,
    /// The accounts on this page that the provider does not know; they got nothing.
    pub unregistered: Vec<String>,
    /// One entry per recipient (or one for the team), in the order they were given: this page.
    pub outcomes: Vec<RecipientOutcome>,
    /// The provider calls that carried this page's recipients.
    pub deliveries: Vec<DeliveryView>,
    /// Pass it as `cursor` for the next page of `outcomes`; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// How many recipients have each outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct OutcomeCounts {
    pub queued: i64,
    pub sending: i64,
    pub delivered: i64,
    pub failed: i64,
    pub unregistered: i64,
}

impl OutcomeCounts {
    fn add(&mut self, outcome: Outcome, n: i64) {
        let slot = match outcome {
            Outcome::Queued => &mut self.queued,
            Outcome::Sending => &mut self.sending,
            Outcome::Delivered => &mut self.delivered,
            Outcome::Failed => &mut self.failed,
            Outcome::Unregistered => &mut self.unregistered,
        };
        *slot += n;
    }
}

/// How one recipient (or the team) fared.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecipientOutcome {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    pub outcome: Outcome,
    pub attempts: i64,
    pub last_code: Option<i64>,
    pub last_desc: Option<String>,
}

/// One provider call (a chunk of up to 500 recipients, or the team).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryView {
    /// Sent as the provider's request id on every attempt of this call.
    pub request_id: String,
    pub recipients: i64,
    pub outcome: Outcome,
    pub attempts: i64,
    /// When the next attempt is due (RFC 3339; while the delivery is not settled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    pub last_code: Option<i64>,
    pub last_desc: Option<String>,
    pub unregistered: Vec<String>,
}

impl From<StoredNotification> for NotificationView {
    /// Every outcome on one page (the outbox's own callers and tests).
    fn from(n: StoredNotification) -> Self {
        NotificationView::page(n, 0, usize::MAX)
    }
}

impl NotificationView {
    /// The summary, and the outcomes of recipients `offset..offset + limit` (in the order they were
    /// given). Only the delivery items overlapping that range have their recipient lists read, so
    /// the cost of a page does not grow with the notification.
    pub fn page(n: StoredNotification, offset: usize, limit: usize) -> Self {
        let status = n.status();
        let latest =
            n.items.iter().filter(|i| i.last_code.is_some() || i.last_desc.is_some()).max_by_key(|i| i.updated_at);
        let mut counts = OutcomeCounts::default();
        let mut unregistered = Vec::new();
        let mut outcomes = Vec::new();
        let mut deliveries = Vec::new();
        let end = offset.saturating_add(limit);
        // Position of the item's first recipient in the whole list.
        let mut start = 0usize;
        for item in &n.items {
            let outcome = Outcome::of_item(item.status(), item.attempts);
            let size = usize::try_from(item.recipient_count.max(0)).unwrap_or(0);
            counts.add(Outcome::Unregistered, item.unregistered_count);
            counts.add(outcome, item.recipient_count - item.unregistered_count);
            let (from, to) = (offset.max(start), end.min(start + size));
            if from < to {
                let item_unregistered = item.unregistered_list();
                let unknown: HashSet<&str> = item_unregistered.iter().map(String::as_str).collect();
                let entry = |accid: Option<String>, team: Option<String>, outcome| RecipientOutcome {
                    accid,
                    team,
                    outcome,
                    attempts: item.attempts,
                    last_code: item.last_code,
                    last_desc: item.last_desc.clone(),
                };
                match &item.team {
                    Some(tid) => outcomes.push(entry(None, Some(tid.clone()), outcome)),
                    None => {
                        for accid in item.recipient_list().into_iter().skip(from - start).take(to - from) {
                            let o = if unknown.contains(accid.as_str()) {
                                unregistered.push(accid.clone());
                                Outcome::Unregistered
                            } else {
                                outcome
                            };
                            outcomes.push(entry(Some(accid), None, o));
                        }
                    }
                }
                deliveries.push(delivery(item, outcome, item_unregistered.clone()));
            }
            start += size;
        }
        let next_cursor = (end < start).then(|| end.to_string());
        NotificationView {
            id: n.id,
            status,
            from: n.message.from,
            team: n.team,
            recipients: n.recipient_count,
            created_at: rfc3339(n.created_at_ms),
            attempts: n.items.iter().map(|i| i.attempts).sum(),
            last_code: latest.and_then(|i| i.last_code),
            last_desc: latest.and_then(|i| i.last_desc.clone()),
            counts,
            unregistered,
            outcomes,
            deliveries,
            next_cursor,
        }
    }
}

fn delivery(item: &StoredItem, outcome: Outcome, unregistered: Vec<String>) -> DeliveryView {
    let pending = matches!(outcome, Outcome::Queued | Outcome::Sending);
    DeliveryView {
        request_id: item.request_id.clone(),
        recipients: item.recipient_count,
        outcome,
        attempts: item.attempts,
        next_attempt_at: pending.then(|| rfc3339(item.next_attempt_at)),
        last_code: item.last_code,
        last_desc: item.last_desc.clone(),
        unregistered,
    }
}

fn rfc3339(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(SecondsFormat::Millis, true)
}

//! What a notification is once accepted: the message it carries, where it goes, and how its
//! delivery is going. Pure data and rules; the store and the worker build on these.

use imbridge_provider::{Notification, ReadPosition, Target};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The message of a notification, without its recipients: what every provider call of it carries.
/// Stored as JSON in `notifications.request`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub from: String,
    pub attach: String,
    pub push_content: Option<String>,
    pub payload: Option<String>,
    pub sound: Option<String>,
    pub online_only: bool,
    pub badge: bool,
    pub route: bool,
    /// Set when this is not a notification but a read receipt sent on `from`'s behalf to the one
    /// recipient (`POST /v1/conversations/{accid}/{peer}/read`): delivered with the same outbox
    /// guarantees (durable, retried, de-duplicated by request id, visible in its status).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_receipt: Option<ReadPosition>,
}

impl Message {
    /// A read receipt from `reader` to `peer`'s messages up to `position`.
    pub fn read_receipt(reader: &str, position: ReadPosition) -> Self {
        Message {
            from: reader.to_owned(),
            attach: String::new(),
            push_content: None,
            payload: None,
            sound: None,
            online_only: false,
            badge: false,
            route: false,
            read_receipt: Some(position),
        }
    }

    /// The provider call for one delivery item.
    pub fn to_notification(&self, target: Target) -> Notification {
        Notification {
            from: self.from.clone(),
            target,
            attach: self.attach.clone(),
            push_content: self.push_content.clone(),
            payload: self.payload.clone(),
            sound: self.sound.clone(),
            online_only: self.online_only,
            badge: self.badge,
            route: self.route,
        }
    }
}

/// A validated notification, ready to be stored: accids normalized and de-duplicated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    pub message: Message,
    pub target: Target,
    pub idempotency_key: Option<String>,
}

impl NewNotification {
    /// Hex SHA-256 of the canonical form of what the caller asked for (message and recipients, not
    /// the idempotency key): two requests with one key are "the same" exactly when this matches.
    /// Recipients count as a set (sorted; they are already de-duplicated) and `attach` and `payload`
    /// as JSON with every object's keys sorted, so order never turns a retry into a conflict. What
    /// is sent is what the caller wrote.
    pub fn body_hash(&self) -> String {
        #[derive(Serialize)]
        struct Canonical<'a> {
            message: &'a Message,
            target: &'a Target,
        }
        let message = Message {
            attach: canonical_json(&self.message.attach),
            payload: self.message.payload.as_deref().map(canonical_json),
            ..self.message.clone()
        };
        let target = match &self.target {
            Target::Users(accids) => {
                let mut sorted = accids.clone();
                sorted.sort_unstable();
                Target::Users(sorted)
            }
            team => team.clone(),
        };
        let json = serde_json::to_vec(&Canonical { message: &message, target: &target })
            .expect("plain structs always serialize");
        hex::encode(Sha256::digest(json))
    }

    pub fn recipient_count(&self) -> usize {
        match &self.target {
            Target::Users(accids) => accids.len(),
            Target::Team(_) => 1,
        }
    }

    /// One target per provider call: accounts in chunks of at most `max_batch`, or the team.
    pub fn chunks(&self, max_batch: usize) -> Vec<Target> {
        match &self.target {
            Target::Users(accids) => accids.chunks(max_batch.max(1)).map(|c| Target::Users(c.to_vec())).collect(),
            Target::Team(tid) => vec![Target::Team(tid.clone())],
        }
    }
}

/// `text` as JSON with the keys of every object sorted, when it is JSON; otherwise as it is.
fn canonical_json(text: &str) -> String {
    fn sort(value: &mut Value) {
        match value {
            Value::Object(map) => {
                map.sort_keys();
                map.values_mut().for_each(sort);
            }
            Value::Array(items) => items.iter_mut().for_each(sort),
            _ => {}
        }
    }
    match serde_json::from_str::<Value>(text) {
        Ok(mut value) => {
            sort(&mut value);
            value.to_string()
        }
        Err(_) => text.to_owned(),
    }
}

/// A notification's overall state, rolled up from its recipients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationStatus {
    /// Accepted; no send started yet.
    Queued,
    /// Sends started (or being retried); some recipients are not settled yet.
    Sending,
    /// Every recipient got it.
    Delivered,
    /// Settled; some recipients got it and some did not (failed or unknown to the provider).
    PartiallyFailed,
    /// Settled; nobody got it.
    Failed,
}

impl NotificationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Delivered => "delivered",
            Self::PartiallyFailed => "partially_failed",
            Self::Failed => "failed",
        }
    }
}

/// A delivery item's stored state. `Pending` covers both waiting and leased (in flight).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemStatus {
    Pending,
    Delivered,
    Failed,
}

impl ItemStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Delivered),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// How one recipient (or the team) fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Queued,
    Sending,
    Delivered,
    Failed,
    /// The provider does not know this account; it got nothing.
    Unregistered,
}

impl Outcome {
    /// The outcome of a delivery item's recipients (before singling out unregistered ones).
    pub fn of_item(status: ItemStatus, attempts: i64) -> Self {
        match status {
            ItemStatus::Pending if attempts > 0 => Self::Sending,
            ItemStatus::Pending => Self::Queued,
            ItemStatus::Delivered => Self::Delivered,
            ItemStatus::Failed => Self::Failed,
        }
    }
}

/// The few facts about a delivery item that the roll-up needs.
#[derive(Debug, Clone, Copy)]
pub struct ItemTally {
    pub status: ItemStatus,
    pub recipients: i64,
    pub unregistered: i64,
    pub attempts: i64,
}

/// The notification's status from its items, counted per recipient.
pub fn roll_up(items: impl IntoIterator<Item = ItemTally>) -> NotificationStatus {
    let (mut delivered, mut failed, mut pending, mut started) = (0i64, 0i64, 0i64, false);
    for item in items {
        match item.status {
            ItemStatus::Pending => {
                pending += item.recipients;
                started |= item.attempts > 0;
            }
            ItemStatus::Delivered => {
                delivered += item.recipients - item.unregistered;
                failed += item.unregistered;
                started = true;
            }
            ItemStatus::Failed => {
                failed += item.recipients;
                started = true;
            }
        }
    }
    match (pending, delivered, failed) {
        (p, _, _) if p > 0 && started => NotificationStatus::Sending,
        (p, _, _) if p > 0 => NotificationStatus::Queued,
        (_, _, 0) => NotificationStatus::Delivered,
        (_, 0, _) => NotificationStatus::Failed,
        _ => NotificationStatus::PartiallyFailed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(status: ItemStatus, recipients: i64, unregistered: i64, attempts: i64) -> ItemTally {
        ItemTally { status, recipients, unregistered, attempts }
    }

    #[test]
    fn roll_up_counts_recipients() {
        use ItemStatus::*;
        use NotificationStatus as S;
        assert_eq!(roll_up([item(Pending, 500, 0, 0), item(Pending, 1, 0, 0)]), S::Queued);
        assert_eq!(roll_up([item(Pending, 500, 0, 1)]), S::Sending);
        assert_eq!(roll_up([item(Delivered, 500, 0, 1), item(Pending, 5, 0, 0)]), S::Sending);
        assert_eq!(roll_up([item(Delivered, 500, 0, 1), item(Delivered, 5, 0, 3)]), S::Delivered);
        assert_eq!(roll_up([item(Delivered, 5, 2, 1)]), S::PartiallyFailed);
        assert_eq!(roll_up([item(Delivered, 5, 5, 1)]), S::Failed);
        assert_eq!(roll_up([item(Delivered, 5, 0, 1), item(Failed, 5, 0, 1)]), S::PartiallyFailed);
        assert_eq!(roll_up([item(Failed, 5, 0, 1)]), S::Failed);
    }

    #[test]
    fn same_request_same_hash_and_chunks_keep_order() {
        let message = Message {
            from: "shop_1".into(),
            attach: r#"{"k":1}"#.into(),
            push_content: None,
            payload: None,
            sound: None,
            online_only: false,
            badge: true,
            route: true,
            read_receipt: None,
        };
        let accids: Vec<String> = (0..1200).map(|i| format!("u{i}")).collect();
        let n = NewNotification { message, target: Target::Users(accids.clone()), idempotency_key: None };
        let keyed = NewNotification { idempotency_key: Some("k".into()), ..n.clone() };
        assert_eq!(n.body_hash(), keyed.body_hash());
        let mut other = n.clone();
        other.message.badge = false;
        assert_ne!(n.body_hash(), other.body_hash());

        let chunks = n.chunks(500);
        let sizes: Vec<usize> = chunks
            .iter()
            .map(|t| match t {
                Target::Users(u) => u.len(),
                Target::Team(_) => 0,
            })
            .collect();
        assert_eq!(sizes, [500, 500, 200]);
        let flat: Vec<String> = chunks
            .into_iter()
            .flat_map(|t| match t {
                Target::Users(u) => u,
                Target::Team(_) => vec![],
            })
            .collect();
        assert_eq!(flat, accids);
    }
}

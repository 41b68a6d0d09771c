//! The outbox tables (`migrations/*/0002_outbox.sql`) over either SQL backend.
//!
//! A notification is stored with all its delivery items in one transaction. Workers claim due items
//! with a lease: on MySQL/MariaDB `SELECT ... FOR UPDATE SKIP LOCKED` so that instances sharing the
//! database take disjoint items without waiting on each other; on SQLite one `UPDATE ... RETURNING`
//! (SQLite has a single writer). A claim moves `next_attempt_at` to the end of the lease, so an item
//! whose worker died simply becomes due again when the lease runs out. Every later write about an
//! item is conditional on the lease owner: a worker whose lease was taken over changes nothing.

use imbridge_provider::Target;
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

use super::model::{roll_up, ItemStatus, ItemTally, Message, NewNotification, NotificationStatus};
use crate::db::Sql;

mod leases;
mod operator;

pub use operator::Attention;

/// Rows per multi-row INSERT: well under both backends' bind-parameter limits.
const INSERT_CHUNK: usize = 100;

/// The outbox tables.
#[derive(Clone, Debug)]
pub struct OutboxStore {
    sql: Sql,
}

/// What storing a notification did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    /// Stored now.
    Created { id: String, recipients: u64 },
    /// The idempotency key was used before with the same body: that first notification.
    Existing { id: String, recipients: u64 },
    /// The idempotency key was used before with a different body; nothing stored.
    Conflict { id: String },
}

/// A delivery item reserved for one worker: exactly one provider call.
#[derive(Debug, Clone)]
pub struct ClaimedItem {
    pub id: i64,
    pub notification_id: String,
    pub request_id: String,
    pub message: Message,
    pub target: Target,
    /// Sends started, this one included.
    pub attempts: u32,
    pub created_at_ms: i64,
}

/// How a delivery item ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    Delivered { code: i64, desc: Option<String>, unregistered: Vec<String> },
    Failed { code: Option<i64>, desc: String },
}

/// A stored notification with its items, for the status API.
#[derive(Debug, Clone)]
pub struct StoredNotification {
    pub id: String,
    pub message: Message,
    pub team: Option<String>,
    pub recipient_count: i64,
    pub created_at_ms: i64,
    pub items: Vec<StoredItem>,
}

#[derive(Debug, Clone, FromRow)]
pub struct StoredItem {
    pub seq: i64,
    pub request_id: String,
    pub recipients: Option<String>,
    pub team: Option<String>,
    pub recipient_count: i64,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_code: Option<i64>,
    pub last_desc: Option<String>,
    pub unregistered: Option<String>,
    pub unregistered_count: i64,
    pub updated_at: i64,
}

impl StoredItem {
    pub fn status(&self) -> ItemStatus {
        ItemStatus::parse(&self.status).unwrap_or(ItemStatus::Pending)
    }

    pub fn recipient_list(&self) -> Vec<String> {
        json_list(self.recipients.as_deref())
    }

    pub fn unregistered_list(&self) -> Vec<String> {
        json_list(self.unregistered.as_deref())
    }

    fn tally(&self) -> ItemTally {
        ItemTally {
            status: self.status(),
            recipients: self.recipient_count,
            unregistered: self.unregistered_count,
            attempts: self.attempts,
        }
    }
}

impl StoredNotification {
    pub fn status(&self) -> NotificationStatus {
        roll_up(self.items.iter().map(StoredItem::tally))
    }
}

#[derive(FromRow)]
struct NotificationRow {
    id: String,
    request: String,
    target_kind: String,
    recipient_count: i64,
    created_at: i64,
}

#[derive(FromRow)]
struct KeyRow {
    id: String,
    body_hash: String,
    recipient_count: i64,
}

/// One delivery item about to be inserted.
struct NewItem {
    seq: i64,
    request_id: String,
    recipients: Option<String>,
    team: Option<String>,
    count: i64,
}

impl OutboxStore {
    pub fn new(sql: Sql) -> Self {
        Self { sql }
    }

    /// Store a notification and one delivery item per provider call (chunks of `max_batch`), in one
    /// transaction. With an idempotency key already taken, nothing is stored and the first
    /// notification is named instead.
    pub async fn enqueue(&self, new: &NewNotification, max_batch: usize, now_ms: i64) -> Result<Enqueued, sqlx::Error> {
        let id = Uuid::new_v4().to_string();
        let hash = new.body_hash();
        let request = serde_json::to_string(&new.message).map_err(decode_err)?;
        let (kind, count) = match &new.target {
            Target::Users(a) => ("users", a.len() as i64),
            Target::Team(_) => ("team", 1),
        };
        let items: Vec<NewItem> = new
            .chunks(max_batch)
            .into_iter()
            .enumerate()
            .map(|(seq, target)| match target {
                Target::Users(accids) => NewItem {
                    seq: seq as i64,
                    request_id: Uuid::new_v4().to_string(),
                    count: accids.len() as i64,
                    recipients: Some(serde_json::Value::from(accids).to_string()),
                    team: None,
                },
                Target::Team(tid) => NewItem {
                    seq: seq as i64,
                    request_id: Uuid::new_v4().to_string(),
                    count: 1,
                    recipients: None,
                    team: Some(tid),
                },
            })
            .collect();

        let inserted: Result<(), sqlx::Error> = crate::with_pool!(&self.sql, pool => {
            let mut tx = pool.begin().await?;
            let first = sqlx::query(
                "INSERT INTO notifications (id, idempotency_key, body_hash, request, target_kind, \
                 recipient_count, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&id)
            .bind(new.idempotency_key.as_deref())
            .bind(&hash)
            .bind(&request)
            .bind(kind)
            .bind(count)
            .bind(NotificationStatus::Queued.as_str())
            .bind(now_ms)
            .bind(now_ms)
            .execute(&mut *tx)
            .await;
            match first {
                Err(e) => Err(e),
                Ok(_) => {
                    for chunk in items.chunks(INSERT_CHUNK) {
                        let mut insert = QueryBuilder::new(
                            "INSERT INTO notification_deliveries (notification_id, seq, request_id, \
                             recipients, team, recipient_count, status, attempts, next_attempt_at, \
                             created_at, updated_at) ",
                        );
                        insert.push_values(chunk, |mut row, item| {
                            row.push_bind(&id)
                                .push_bind(item.seq)
                                .push_bind(&item.request_id)
                                .push_bind(item.recipients.as_deref())
                                .push_bind(item.team.as_deref())
                                .push_bind(item.count)
                                .push_bind(ItemStatus::Pending.as_str())
                                .push_bind(0i64)
                                .push_bind(now_ms)
                                .push_bind(now_ms)
                                .push_bind(now_ms);
                        });
                        insert.build().execute(&mut *tx).await?;
                    }
                    tx.commit().await
                }
            }
        });
        match inserted {
            Ok(()) => Ok(Enqueued::Created { id, recipients: count as u64 }),
            Err(e) if is_unique_violation(&e) && new.idempotency_key.is_some() => {
                let key = new.idempotency_key.as_deref().unwrap_or_default();
                self.by_idempotency_key(key, &hash).await
            }
            Err(e) => Err(e),
        }
    }

    async fn by_idempotency_key(&self, key: &str, hash: &str) -> Result<Enqueued, sqlx::Error> {
        let row: KeyRow = crate::with_pool!(&self.sql, pool => {
            sqlx::query_as(
                "SELECT id, body_hash, recipient_count FROM notifications WHERE idempotency_key = ?",
            )
            .bind(key)
            .fetch_one(pool)
            .await?
        });
        Ok(if row.body_hash == hash {
            Enqueued::Existing { id: row.id, recipients: row.recipient_count as u64 }
        } else {
            Enqueued::Conflict { id: row.id }
        })
    }

    /// A notification with every delivery item, or `None` when the id is unknown.
    pub async fn get(&self, id: &str) -> Result<Option<StoredNotification>, sqlx::Error> {
        let (row, items): (Option<NotificationRow>, Vec<StoredItem>) = crate::with_pool!(&self.sql, pool => {
            let row = sqlx::query_as(
                "SELECT id, request, target_kind, recipient_count, created_at FROM notifications \
                 WHERE id = ?",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?;
            let items = sqlx::query_as(
                "SELECT seq, request_id, recipients, team, recipient_count, status, attempts, \
                 next_attempt_at, last_code, last_desc, unregistered, unregistered_count, updated_at \
                 FROM notification_deliveries WHERE notification_id = ? ORDER BY seq",
            )
            .bind(id)
            .fetch_all(pool)
            .await?;
            (row, items)
        });
        let Some(row) = row else { return Ok(None) };
        let message: Message = serde_json::from_str(&row.request).map_err(decode_err)?;
        let team = match row.target_kind.as_str() {
            "team" => items.first().and_then(|i| i.team.clone()),
            _ => None,
        };
        Ok(Some(StoredNotification {
            id: row.id,
            message,
            team,
            recipient_count: row.recipient_count,
            created_at_ms: row.created_at,
            items,
        }))
    }
}

/// What is still waiting to be delivered: for the outbox depth and age gauges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backlog {
    /// Delivery items not yet delivered or failed for good.
    pub pending: i64,
    /// When the oldest of them was enqueued (unix ms), if any.
    pub oldest_created_ms: Option<i64>,
}

impl OutboxStore {
    /// One indexed query (`status` leads the due index).
    pub async fn backlog(&self) -> Result<Backlog, sqlx::Error> {
        let (pending, oldest_created_ms): (i64, Option<i64>) = crate::with_pool!(&self.sql, pool => {
            sqlx::query_as("SELECT COUNT(*), MIN(created_at) FROM notification_deliveries WHERE status = 'pending'")
                .fetch_one(pool)
                .await?
        });
        Ok(Backlog { pending, oldest_created_ms })
    }
}

fn json_list(json: Option<&str>) -> Vec<String> {
    json.and_then(|j| serde_json::from_str(j).ok()).unwrap_or_default()
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error().is_some_and(|d| d.is_unique_violation())
}

fn decode_err(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> sqlx::Error {
    sqlx::Error::Decode(e.into())
}

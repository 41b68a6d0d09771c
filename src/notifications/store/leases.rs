//! Claiming, renewing and settling delivery items: the part of the store that keeps workers apart.

use std::collections::HashMap;

use imbridge_provider::Target;
use sqlx::{FromRow, QueryBuilder};

use super::{decode_err, ClaimedItem, OutboxStore, Settled};
use crate::db::Sql;
use crate::notifications::model::{roll_up, ItemStatus, ItemTally, Message};

#[derive(FromRow)]
struct ClaimRow {
    id: i64,
    notification_id: String,
    request_id: String,
    recipients: Option<String>,
    team: Option<String>,
    attempts: i64,
    created_at: i64,
}

#[derive(FromRow)]
struct TallyRow {
    status: String,
    recipient_count: i64,
    unregistered_count: i64,
    attempts: i64,
}

#[derive(FromRow)]
struct RequestRow {
    id: String,
    request: String,
}

impl OutboxStore {
    /// Reserve up to `limit` due items for `owner` until `now_ms + lease_ms`, counting a send
    /// attempt for each. Due: pending with `next_attempt_at <= now` (which includes expired leases).
    pub async fn claim(
        &self,
        owner: &str,
        limit: usize,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Vec<ClaimedItem>, sqlx::Error> {
        let until = now_ms + lease_ms;
        let rows: Vec<ClaimRow> = match &self.sql {
            Sql::Sqlite(pool) => {
                sqlx::query_as(
                    "UPDATE notification_deliveries \
                     SET lease_owner = ?, lease_until = ?, next_attempt_at = ?, attempts = attempts + 1, \
                         updated_at = ? \
                     WHERE id IN (SELECT id FROM notification_deliveries \
                                  WHERE status = 'pending' AND next_attempt_at <= ? \
                                  ORDER BY next_attempt_at, id LIMIT ?) \
                     RETURNING id, notification_id, request_id, recipients, team, attempts, created_at",
                )
                .bind(owner)
                .bind(until)
                .bind(until)
                .bind(now_ms)
                .bind(now_ms)
                .bind(limit as i64)
                .fetch_all(pool)
                .await?
            }
            Sql::MySql(pool) => {
                let mut tx = pool.begin().await?;
                let ids: Vec<(i64,)> = sqlx::query_as(
                    "SELECT id FROM notification_deliveries \
                     WHERE status = 'pending' AND next_attempt_at <= ? \
                     ORDER BY next_attempt_at, id LIMIT ? FOR UPDATE SKIP LOCKED",
                )
                .bind(now_ms)
                .bind(limit as i64)
                .fetch_all(&mut *tx)
                .await?;
                if ids.is_empty() {
                    tx.rollback().await?;
                    return Ok(Vec::new());
                }
                let mut update = QueryBuilder::new("UPDATE notification_deliveries SET lease_owner = ");
                update
                    .push_bind(owner)
                    .push(", lease_until = ")
                    .push_bind(until)
                    .push(", next_attempt_at = ")
                    .push_bind(until)
                    .push(", attempts = attempts + 1, updated_at = ")
                    .push_bind(now_ms)
                    .push(" WHERE id IN ");
                push_id_list(&mut update, ids.iter().map(|(id,)| *id));
                update.build().execute(&mut *tx).await?;
                let mut select = QueryBuilder::new(
                    "SELECT id, notification_id, request_id, recipients, team, attempts, created_at \
                     FROM notification_deliveries WHERE id IN ",
                );
                push_id_list(&mut select, ids.iter().map(|(id,)| *id));
                let rows = select.build_query_as().fetch_all(&mut *tx).await?;
                tx.commit().await?;
                rows
            }
        };
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let messages = self.messages(rows.iter().map(|r| r.notification_id.as_str())).await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            let message = messages
                .get(&row.notification_id)
                .cloned()
                .ok_or_else(|| decode_err(format!("notification {} vanished", row.notification_id)))?;
            let target = match row.team {
                Some(tid) => Target::Team(tid),
                None => Target::Users(
                    serde_json::from_str(row.recipients.as_deref().unwrap_or_default()).map_err(decode_err)?,
                ),
            };
            claimed.push(ClaimedItem {
                id: row.id,
                notification_id: row.notification_id,
                request_id: row.request_id,
                message,
                target,
                attempts: u32::try_from(row.attempts).unwrap_or(u32::MAX),
                created_at_ms: row.created_at,
            });
        }
        claimed.sort_by_key(|c| c.id);
        Ok(claimed)
    }

    /// The messages of the given notifications, by id.
    async fn messages<'a>(&self, ids: impl Iterator<Item = &'a str>) -> Result<HashMap<String, Message>, sqlx::Error> {
        let mut unique: Vec<&str> = ids.collect();
        unique.sort_unstable();
        unique.dedup();
        let rows: Vec<RequestRow> = crate::with_pool!(&self.sql, pool => {
            let mut select = QueryBuilder::new("SELECT id, request FROM notifications WHERE id IN (");
            let mut list = select.separated(", ");
            for id in &unique {
                list.push_bind(*id);
            }
            select.push(")");
            select.build_query_as().fetch_all(pool).await?
        });
        rows.into_iter().map(|r| Ok((r.id, serde_json::from_str(&r.request).map_err(decode_err)?))).collect()
    }

    /// Push the lease of an item further while its send is still running. `false`: the lease is
    /// no longer ours (another worker reclaimed it after it expired).
    pub async fn extend_lease(&self, item_id: i64, owner: &str, until_ms: i64) -> Result<bool, sqlx::Error> {
        let done = crate::with_pool!(&self.sql, pool => {
            sqlx::query(
                "UPDATE notification_deliveries SET lease_until = ?, next_attempt_at = ? \
                 WHERE id = ? AND lease_owner = ? AND status = 'pending'",
            )
            .bind(until_ms)
            .bind(until_ms)
            .bind(item_id)
            .bind(owner)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// Record how an item ended and roll the notification's status up, in one transaction.
    /// `false`: the lease is no longer ours and nothing was written.
    pub async fn settle(
        &self,
        item: &ClaimedItem,
        owner: &str,
        settled: &Settled,
        now_ms: i64,
    ) -> Result<bool, sqlx::Error> {
        let (status, code, desc, unregistered, unregistered_count) = match settled {
            Settled::Delivered { code, desc, unregistered } => (
                ItemStatus::Delivered,
                Some(*code),
                desc.clone(),
                (!unregistered.is_empty()).then(|| serde_json::Value::from(unregistered.clone()).to_string()),
                unregistered.len() as i64,
            ),
            Settled::Failed { code, desc } => (ItemStatus::Failed, *code, Some(desc.clone()), None, 0),
        };
        crate::with_pool!(&self.sql, pool => {
            let mut tx = pool.begin().await?;
            // Writing the notification row first serializes the settling of its items (a row lock
            // on MySQL, the write lock on SQLite), so the roll-up below sees every earlier one.
            sqlx::query("UPDATE notifications SET updated_at = ? WHERE id = ?")
                .bind(now_ms)
                .bind(&item.notification_id)
                .execute(&mut *tx)
                .await?;
            let changed = sqlx::query(
                "UPDATE notification_deliveries SET status = ?, lease_owner = NULL, lease_until = NULL, \
                 last_code = ?, last_desc = ?, unregistered = ?, unregistered_count = ?, updated_at = ? \
                 WHERE id = ? AND lease_owner = ? AND status = 'pending'",
            )
            .bind(status.as_str())
            .bind(code)
            .bind(desc)
            .bind(unregistered)
            .bind(unregistered_count)
            .bind(now_ms)
            .bind(item.id)
            .bind(owner)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed != 1 {
                tx.rollback().await?;
                return Ok(false);
            }
            let tallies: Vec<TallyRow> = sqlx::query_as(
                "SELECT status, recipient_count, unregistered_count, attempts \
                 FROM notification_deliveries WHERE notification_id = ?",
            )
            .bind(&item.notification_id)
            .fetch_all(&mut *tx)
            .await?;
            let rolled = roll_up(tallies.iter().map(|t| ItemTally {
                status: ItemStatus::parse(&t.status).unwrap_or(ItemStatus::Pending),
                recipients: t.recipient_count,
                unregistered: t.unregistered_count,
                attempts: t.attempts,
            }));
            sqlx::query("UPDATE notifications SET status = ? WHERE id = ?")
                .bind(rolled.as_str())
                .bind(&item.notification_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(true)
    }

    /// Give an item back to the queue, due at `at_ms`, remembering why. With `refund_attempt` the
    /// send is not counted (it never reached the provider's verdict, e.g. a rate-limit block).
    /// `false`: the lease is no longer ours.
    #[allow(clippy::too_many_arguments)]
    pub async fn reschedule(
        &self,
        item: &ClaimedItem,
        owner: &str,
        at_ms: i64,
        code: Option<i64>,
        desc: &str,
        refund_attempt: bool,
        now_ms: i64,
    ) -> Result<bool, sqlx::Error> {
        let refund = i64::from(refund_attempt);
        let done = crate::with_pool!(&self.sql, pool => {
            sqlx::query(
                "UPDATE notification_deliveries SET lease_owner = NULL, lease_until = NULL, \
                 next_attempt_at = ?, attempts = attempts - ?, last_code = ?, last_desc = ?, updated_at = ? \
                 WHERE id = ? AND lease_owner = ? AND status = 'pending'",
            )
            .bind(at_ms)
            .bind(refund)
            .bind(code)
            .bind(desc)
            .bind(now_ms)
            .bind(item.id)
            .bind(owner)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// Release every lease `owner` holds, making those items due now (graceful shutdown).
    pub async fn release_all(&self, owner: &str, now_ms: i64) -> Result<u64, sqlx::Error> {
        Ok(crate::with_pool!(&self.sql, pool => {
            sqlx::query(
                "UPDATE notification_deliveries SET lease_owner = NULL, lease_until = NULL, \
                 next_attempt_at = ?, updated_at = ? WHERE lease_owner = ? AND status = 'pending'",
            )
            .bind(now_ms)
            .bind(now_ms)
            .bind(owner)
            .execute(pool)
            .await?
            .rows_affected()
        }))
    }
}

fn push_id_list<DB: sqlx::Database>(q: &mut QueryBuilder<'_, DB>, ids: impl Iterator<Item = i64>)
where
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    q.push("(");
    let mut list = q.separated(", ");
    for id in ids {
        list.push_bind(id);
    }
    q.push(")");
}

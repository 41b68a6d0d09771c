//! What the operator console reads and does in the outbox: the items that need a person's eye
//! (failed, or still pending), and putting a failed item back in the queue.

use sqlx::FromRow;

use super::OutboxStore;

/// A delivery item that has not been delivered.
#[derive(Debug, Clone, FromRow)]
pub struct Attention {
    pub id: i64,
    pub notification_id: String,
    pub request_id: String,
    pub status: String,
    pub recipient_count: i64,
    pub attempts: i64,
    pub next_attempt_at: i64,
    /// The provider's last answer (NetEase `code`, Tencent `ErrorCode`) and its description.
    pub last_code: Option<i64>,
    pub last_desc: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl OutboxStore {
    /// The newest `limit` failed and `limit` pending delivery items (by last change), failed first.
    pub async fn needing_attention(&self, limit: u32) -> Result<Vec<Attention>, sqlx::Error> {
        let query = "SELECT id, notification_id, request_id, status, recipient_count, attempts, next_attempt_at, \
                     last_code, last_desc, created_at, updated_at FROM notification_deliveries \
                     WHERE status = ? ORDER BY updated_at DESC, id DESC LIMIT ?";
        let mut items = Vec::new();
        for status in ["failed", "pending"] {
            let rows: Vec<Attention> = crate::with_pool!(&self.sql, pool => {
                sqlx::query_as(query).bind(status).bind(i64::from(limit)).fetch_all(pool).await?
            });
            items.extend(rows);
        }
        Ok(items)
    }

    /// Put a failed delivery item back in the queue, due now, with a fresh attempt budget. It keeps
    /// its request id: if an earlier send did reach the provider after all, the provider drops the
    /// repeat (the outbox's de-duplication rule). `false` when the item is unknown or not failed.
    pub async fn requeue_failed(&self, item_id: i64, now_ms: i64) -> Result<bool, sqlx::Error> {
        let done = crate::with_pool!(&self.sql, pool => {
            let mut tx = pool.begin().await?;
            let changed = sqlx::query(
                "UPDATE notification_deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?, \
                 lease_owner = NULL, lease_until = NULL, updated_at = ? WHERE id = ? AND status = 'failed'",
            )
            .bind(now_ms)
            .bind(now_ms)
            .bind(item_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            // The stored roll-up is recomputed when the item settles; until then it is "sending".
            sqlx::query(
                "UPDATE notifications SET status = 'sending', updated_at = ? \
                 WHERE id = (SELECT notification_id FROM notification_deliveries WHERE id = ?)",
            )
            .bind(now_ms)
            .bind(item_id)
            .execute(&mut *tx)
            .await?;
            if changed == 1 { tx.commit().await? } else { tx.rollback().await? }
            changed
        });
        Ok(done == 1)
    }
}

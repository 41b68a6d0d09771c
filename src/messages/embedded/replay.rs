//! Reading the audit trail and the dead letters back page by page (replay, the console). Both
//! tables have an index on (received_at_ms, digest) (schema.sql), so a page is one range scan in
//! the cursor's order, however large the table.

use bytes::Bytes;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::{internal, sql_error, EmbeddedMessageStore};
use crate::messages::{AuditPage, DeadLetter, StoreError, StoredRaw};

impl EmbeddedMessageStore {
    pub(super) async fn raw_rows(&self, page: &AuditPage) -> Result<Vec<StoredRaw>, StoreError> {
        let (at, digest) = page.lower_bound();
        // NULL: every event type. One statement either way (a JSON array bound once), so it is
        // prepared once.
        let event_types = page.event_types.as_ref().map(serde_json::to_string).transpose().map_err(internal)?;
        let rows = sqlx::query(
            "SELECT digest, provider, event_type, body, received_at_ms, path_and_query FROM raw_callbacks
             WHERE received_at_ms <= ? AND (received_at_ms, digest) > (?, ?)
               AND (? IS NULL OR event_type IN (SELECT value FROM json_each(?)))
             ORDER BY received_at_ms, digest LIMIT ?",
        )
        .bind(page.to_ms)
        .bind(at)
        .bind(digest)
        .bind(event_types.as_deref())
        .bind(event_types.as_deref())
        .bind(limit(page))
        .fetch_all(&self.reader)
        .await
        .map_err(sql_error)?;
        rows.iter().map(stored_raw).collect::<Result<_, sqlx::Error>>().map_err(sql_error)
    }

    pub(super) async fn dead_letter_rows(&self, page: &AuditPage) -> Result<Vec<DeadLetter>, StoreError> {
        let (at, digest) = page.lower_bound();
        let sql = format!(
            "SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters
             WHERE received_at_ms <= ? AND (received_at_ms, digest) > (?, ?)
             ORDER BY received_at_ms, digest LIMIT ?"
        );
        let rows = sqlx::query(&sql)
            .bind(page.to_ms)
            .bind(at)
            .bind(digest)
            .bind(limit(page))
            .fetch_all(&self.reader)
            .await
            .map_err(sql_error)?;
        rows.iter().map(dead_letter).collect::<Result<_, sqlx::Error>>().map_err(sql_error)
    }

    pub(super) async fn dead_letter_row(&self, id: &str) -> Result<Option<DeadLetter>, StoreError> {
        let sql = format!("SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters WHERE digest = ?");
        let row = sqlx::query(&sql).bind(id).fetch_optional(&self.reader).await.map_err(sql_error)?;
        row.as_ref().map(dead_letter).transpose().map_err(sql_error)
    }

    pub(super) async fn delete_dead_letter(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM dead_letters WHERE digest = ?")
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(sql_error)?;
        Ok(done.rows_affected() > 0)
    }

    pub(super) async fn dead_letter_reason(&self, id: &str, reason: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE dead_letters SET reason = ? WHERE digest = ? AND reason <> ?")
            .bind(reason)
            .bind(id)
            .bind(reason)
            .execute(&self.writer)
            .await
            .map_err(sql_error)?;
        Ok(())
    }
}

fn limit(page: &AuditPage) -> i64 {
    i64::try_from(page.limit).unwrap_or(i64::MAX)
}

/// What [`stored_raw`] reads, in its order.
pub(super) const RAW_COLUMNS: &str = "digest, provider, event_type, body, received_at_ms, path_and_query";

/// A raw audit-trail row as read back (replay, the console).
pub(super) fn stored_raw(row: &SqliteRow) -> Result<StoredRaw, sqlx::Error> {
    Ok(StoredRaw {
        digest: row.try_get(0)?,
        provider: row.try_get(1)?,
        event_type: row.try_get(2)?,
        body: Bytes::from(row.try_get::<Vec<u8>, _>(3)?),
        received_at_ms: row.try_get(4)?,
        path_and_query: row.try_get(5)?,
    })
}

/// What [`dead_letter`] reads, in its order.
pub(super) const DEAD_LETTER_COLUMNS: &str =
    "digest, provider, event_type, body, reason, received_at_ms, path_and_query";

pub(super) fn dead_letter(row: &SqliteRow) -> Result<DeadLetter, sqlx::Error> {
    Ok(DeadLetter {
        id: row.try_get(0)?,
        provider: row.try_get(1)?,
        event_type: row.try_get(2)?,
        body: Bytes::from(row.try_get::<Vec<u8>, _>(3)?),
        reason: row.try_get(4)?,
        received_at_ms: row.try_get(5)?,
        path_and_query: row.try_get(6)?,
    })
}

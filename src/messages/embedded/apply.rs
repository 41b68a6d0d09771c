//! The embedded write path: one transaction per batch on the single writer connection.
//!
//! Why `state` and `recalled` always agree with the facts: the transaction is serialised with every
//! other write, and each statement derives from the facts, so the order inside the batch does not
//! matter. A message insert takes `state` from the watermark and `recalled` from the recall facts
//! as they are at that moment; a receipt or a recall, once its fact is written, updates every
//! stored message it covers. Whichever of a message and its receipt (or recall) is written second
//! sees the first.

use std::time::Duration;

use sqlx::{Sqlite, SqlitePool, Transaction};

use super::{internal, sql_error};
use crate::messages::model::BatchPlan;
use crate::messages::{Applied, ApplyOutcome, StoreError};

pub(super) async fn apply(
    writer: &SqlitePool,
    batch: &[Applied],
    raw_retention: Duration,
) -> Result<Vec<ApplyOutcome>, StoreError> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let plan = BatchPlan::new(batch, raw_retention);
    let mut tx = writer.begin().await.map_err(sql_error)?;
    let raw_duplicate = insert_raws(&mut tx, &plan).await?;
    let recall_duplicate = insert_recalls(&mut tx, &plan).await?;
    advance_watermarks(&mut tx, &plan).await?;
    upsert_presence(&mut tx, &plan).await?;
    let message_duplicate = insert_messages(&mut tx, &plan).await?;
    // Durable once this returns: WAL with synchronous=FULL syncs the log on commit.
    tx.commit().await.map_err(sql_error)?;
    Ok(plan.outcomes(batch.len(), &raw_duplicate, &message_duplicate, &recall_duplicate))
}

async fn insert_raws(tx: &mut Transaction<'_, Sqlite>, plan: &BatchPlan) -> Result<Vec<bool>, StoreError> {
    let mut duplicate = Vec::with_capacity(plan.raws.len());
    for raw in &plan.raws {
        let done = sqlx::query(
            "INSERT INTO raw_callbacks (digest, provider, event_type, body, received_at_ms, expires_at_ms)
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (digest) DO NOTHING",
        )
        .bind(&raw.digest)
        .bind(&raw.provider)
        .bind(&raw.event_type)
        .bind(raw.body.as_ref())
        .bind(raw.received_at_ms)
        .bind(raw.expires_at_ms)
        .execute(&mut **tx)
        .await
        .map_err(sql_error)?;
        duplicate.push(done.rows_affected() == 0);
    }
    Ok(duplicate)
}

async fn insert_recalls(tx: &mut Transaction<'_, Sqlite>, plan: &BatchPlan) -> Result<Vec<bool>, StoreError> {
    let mut duplicate = Vec::with_capacity(plan.recalls.len());
    for recall in &plan.recalls {
        let done = sqlx::query(
            "INSERT INTO recalls (msg_key, from_acc, to_acc, at_ms) VALUES (?, ?, ?, ?)
             ON CONFLICT (msg_key) DO NOTHING",
        )
        .bind(&recall.key)
        .bind(&recall.from)
        .bind(&recall.to)
        .bind(recall.at_ms)
        .execute(&mut **tx)
        .await
        .map_err(sql_error)?;
        duplicate.push(done.rows_affected() == 0);
        // Also for a duplicate recall: cheap, and it keeps the rule "a recall fact implies the flag"
        // free of any assumption about how the first delivery ended.
        sqlx::query("UPDATE messages SET recalled = 1 WHERE msg_key = ? AND recalled = 0")
            .bind(&recall.key)
            .execute(&mut **tx)
            .await
            .map_err(sql_error)?;
    }
    Ok(duplicate)
}

async fn advance_watermarks(tx: &mut Transaction<'_, Sqlite>, plan: &BatchPlan) -> Result<(), StoreError> {
    for (reader, peer, read_up_to_ms) in plan.watermark_advances() {
        sqlx::query(
            "INSERT INTO read_watermarks (reader, peer, read_up_to_ms) VALUES (?, ?, ?)
             ON CONFLICT (reader, peer) DO UPDATE SET read_up_to_ms = excluded.read_up_to_ms
             WHERE excluded.read_up_to_ms > read_watermarks.read_up_to_ms",
        )
        .bind(reader)
        .bind(peer)
        .bind(read_up_to_ms)
        .execute(&mut **tx)
        .await
        .map_err(sql_error)?;
        sqlx::query(
            "UPDATE messages SET state = 1
             WHERE to_acc = ? AND from_acc = ? AND conversation = 'p2p' AND state = 0 AND sent_at_ms <= ?",
        )
        .bind(reader)
        .bind(peer)
        .bind(read_up_to_ms)
        .execute(&mut **tx)
        .await
        .map_err(sql_error)?;
    }
    Ok(())
}

async fn upsert_presence(tx: &mut Transaction<'_, Sqlite>, plan: &BatchPlan) -> Result<(), StoreError> {
    for presence in plan.newest_presences() {
        // Same rule as model::presence_supersedes: newer wins, offline wins a tie.
        sqlx::query(
            "INSERT INTO presence (accid, device_id, online, at_ms, document) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (accid, device_id) DO UPDATE
             SET online = excluded.online, at_ms = excluded.at_ms, document = excluded.document
             WHERE excluded.at_ms > presence.at_ms
                OR (excluded.at_ms = presence.at_ms AND excluded.online < presence.online)",
        )
        .bind(&presence.accid)
        .bind(&presence.device_id)
        .bind(presence.online)
        .bind(presence.at_ms)
        .bind(serde_json::to_string(&presence.document).map_err(internal)?)
        .execute(&mut **tx)
        .await
        .map_err(sql_error)?;
    }
    Ok(())
}

async fn insert_messages(tx: &mut Transaction<'_, Sqlite>, plan: &BatchPlan) -> Result<Vec<bool>, StoreError> {
    let mut duplicate = Vec::with_capacity(plan.messages.len());
    for message in &plan.messages {
        // ?2 = to = the reader of the watermark, ?3 = from = its peer. A comparison with a missing
        // watermark is NULL, which CASE treats as false: unread.
        let done = sqlx::query(
            "INSERT INTO messages
                 (msg_key, to_acc, from_acc, conversation, counts_unread, sent_at_ms, state, recalled, document)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6,
                 CASE WHEN ?4 = 'p2p' AND ?6 <= (SELECT read_up_to_ms FROM read_watermarks
                                                 WHERE reader = ?2 AND peer = ?3)
                      THEN 1 ELSE 0 END,
                 EXISTS (SELECT 1 FROM recalls WHERE msg_key = ?1),
                 ?7)
             ON CONFLICT (msg_key) DO NOTHING",
        )
        .bind(&message.key)
        .bind(&message.to)
        .bind(&message.from)
        .bind(message.conversation)
        .bind(message.counts_unread)
        .bind(message.sent_at_ms)
        .bind(serde_json::to_string(&message.document).map_err(internal)?)
        .execute(&mut **tx)
        .await
        .map_err(sql_error)?;
        duplicate.push(done.rows_affected() == 0);
    }
    Ok(duplicate)
}

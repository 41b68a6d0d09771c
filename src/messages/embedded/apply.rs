//! The embedded write path: one transaction per batch on the single writer connection.
//!
//! Why `state` and `recalled` always agree with the facts: the transaction is serialised with every
//! other write, and each statement derives from the facts, so the order inside the batch does not
//! matter. A message insert takes `state` from the watermark and `recalled` from the recall facts
//! as they are at that moment; a receipt or a recall, once its fact is written, updates every
//! stored message it covers. Whichever of a message and its receipt (or recall) is written second
//! sees the first.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use sqlx::{Sqlite, SqlitePool, Transaction};

use super::{internal, sql_error};
use crate::messages::model::BatchPlan;
use crate::messages::{ApplyOutcome, CallbackRecord, StoreError};

pub(super) async fn apply(
    writer: &SqlitePool,
    batch: &[CallbackRecord],
    raw_retention: Duration,
) -> Result<Vec<ApplyOutcome>, StoreError> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let plan = BatchPlan::new(batch, raw_retention);
    let mut tx = writer.begin().await.map_err(sql_error)?;
    let mut unread = UnreadDeltas::default();
    let raw_duplicate = insert_raws(&mut tx, &plan).await?;
    let recall_duplicate = insert_recalls(&mut tx, &plan, &mut unread).await?;
    advance_watermarks(&mut tx, &plan, &mut unread).await?;
    upsert_presence(&mut tx, &plan).await?;
    let message_duplicate = insert_messages(&mut tx, &plan, &mut unread).await?;
    advance_conversations(&mut tx, &plan).await?;
    unread.write(&mut tx).await?;
    // Durable once this returns: WAL with synchronous=FULL syncs the log on commit.
    tx.commit().await.map_err(sql_error)?;
    Ok(plan.outcomes(batch.len(), &raw_duplicate, &message_duplicate, &recall_duplicate))
}

/// How the batch changed `unread_counts`, per (reader, peer): +1 for each new message that counts as
/// unread, −1 for each stored message a receipt or a recall stops counting. Every change comes from
/// the row a statement of this transaction changed (its `RETURNING` clause), so adding them to the
/// counts keeps each count equal to counting the messages (`migrate_unread.sql` built the first
/// counts that way). A redelivered fact changes no row, so it changes no count.
#[derive(Default)]
struct UnreadDeltas(HashMap<(String, String), i64>);

impl UnreadDeltas {
    fn add(&mut self, reader: String, peer: String, by: i64) {
        *self.0.entry((reader, peer)).or_default() += by;
    }

    async fn write(self, tx: &mut Transaction<'_, Sqlite>) -> Result<(), StoreError> {
        let rows: Vec<(String, String, i64)> =
            self.0.into_iter().filter(|(_, by)| *by != 0).map(|((reader, peer), by)| (reader, peer, by)).collect();
        if rows.is_empty() {
            return Ok(());
        }
        // One statement for any number of rows (a JSON array bound once). Not a padded multi-row
        // VALUES: a repeated row would add its change twice.
        sqlx::query(
            "INSERT INTO unread_counts (reader, peer, n)
             SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]')
             FROM json_each(?) WHERE true
             ON CONFLICT (reader, peer) DO UPDATE SET n = n + excluded.n",
        )
        .bind(serde_json::to_string(&rows).map_err(internal)?)
        .execute(&mut **tx)
        .await
        .map_err(sql_error)?;
        Ok(())
    }
}

/// Rows per multi-row statement. Every row is one statement's worth of work for SQLite either way;
/// what the chunking saves is the round trip to sqlx's SQLite worker thread per row, which is where
/// most of the embedded write path's time went (BENCHMARKS.md, "Where the time goes"). 256 rows of
/// at most 12 parameters stay far below SQLite's 32 766-parameter limit.
const ROWS_PER_STATEMENT: usize = 256;

/// How many rows a statement for `rows` rows carries: the next power of two. The extra rows repeat
/// the chunk's last row; they conflict with the row they copy and change nothing (`ON CONFLICT …
/// DO NOTHING`, an `IN` list), and they keep the number of distinct statements at 9 per table.
/// sqlx caches every prepared statement per connection, and a statement per row count (1 to 256,
/// with subqueries per row) held tens of MiB (P4 in BENCHMARKS.md); preparing each one afresh
/// instead cost the raw store about 30 % of its throughput in one run.
fn padded_len(rows: usize) -> usize {
    rows.next_power_of_two()
}

/// The rows to bind for `chunk`: its own, then its last one again up to [`padded_len`].
fn padded<T>(chunk: &[T]) -> impl Iterator<Item = &T> {
    let repeats = padded_len(chunk.len()) - chunk.len();
    chunk.iter().chain(std::iter::repeat_n(chunk.last(), repeats).flatten())
}

/// `(?, ?, …), (?, ?, …), …`: one `row` (a row's placeholder list) for each row [`padded`] binds
/// for a chunk of `rows`.
fn values(row: &str, rows: usize) -> String {
    let rows = padded_len(rows);
    let mut sql = String::with_capacity((row.len() + 2) * rows);
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(row);
    }
    sql
}

/// For each key in order, whether it is a duplicate: not among `inserted` (the keys the statement
/// reports it inserted), or a repeat of a key earlier in the same batch (SQLite inserts the rows of
/// a multi-row INSERT in order, so the first occurrence is the one that went in).
fn duplicates<'a>(keys: impl Iterator<Item = &'a str>, mut inserted: HashSet<String>) -> Vec<bool> {
    keys.map(|key| !inserted.remove(key)).collect()
}

async fn insert_raws(tx: &mut Transaction<'_, Sqlite>, plan: &BatchPlan) -> Result<Vec<bool>, StoreError> {
    let mut duplicate = Vec::with_capacity(plan.raws.len());
    for chunk in plan.raws.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO raw_callbacks (digest, provider, event_type, body, received_at_ms, expires_at_ms, path_and_query)
             VALUES {} ON CONFLICT (digest) DO NOTHING RETURNING digest",
            values("(?, ?, ?, ?, ?, ?, ?)", chunk.len())
        );
        let mut query = sqlx::query_scalar::<_, String>(&sql);
        for raw in padded(chunk) {
            query = query
                .bind(&raw.digest)
                .bind(&raw.provider)
                .bind(&raw.event_type)
                .bind(raw.body.as_ref())
                .bind(raw.received_at_ms)
                .bind(raw.expires_at_ms)
                .bind(&raw.path_and_query);
        }
        let inserted = query.fetch_all(&mut **tx).await.map_err(sql_error)?;
        duplicate.extend(duplicates(chunk.iter().map(|r| r.digest.as_str()), inserted.into_iter().collect()));
    }
    Ok(duplicate)
}

async fn insert_recalls(
    tx: &mut Transaction<'_, Sqlite>,
    plan: &BatchPlan,
    unread: &mut UnreadDeltas,
) -> Result<Vec<bool>, StoreError> {
    let mut duplicate = Vec::with_capacity(plan.recalls.len());
    for chunk in plan.recalls.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO recalls (msg_key, from_acc, to_acc, at_ms) VALUES {}
             ON CONFLICT (msg_key) DO NOTHING RETURNING msg_key",
            values("(?, ?, ?, ?)", chunk.len())
        );
        let mut query = sqlx::query_scalar::<_, String>(&sql);
        for recall in padded(chunk) {
            query = query.bind(&recall.key).bind(&recall.from).bind(&recall.to).bind(recall.at_ms);
        }
        let inserted = query.fetch_all(&mut **tx).await.map_err(sql_error)?;
        duplicate.extend(duplicates(chunk.iter().map(|r| r.key.as_str()), inserted.into_iter().collect()));
        // Also for duplicate recalls: cheap, and it keeps the rule "a recall fact implies the flag"
        // free of any assumption about how the first delivery ended.
        // RETURNING sees the row as updated; `state` is not changed here, so "counted" is what the
        // message was before it was recalled.
        let sql = format!(
            "UPDATE messages SET recalled = 1 WHERE recalled = 0 AND msg_key IN ({})
             RETURNING to_acc, from_acc, conversation = 'p2p' AND counts_unread = 1 AND state = 0",
            values("?", chunk.len())
        );
        let mut update = sqlx::query_as::<_, (String, String, bool)>(&sql);
        for recall in padded(chunk) {
            update = update.bind(&recall.key);
        }
        for (reader, peer, counted) in update.fetch_all(&mut **tx).await.map_err(sql_error)? {
            if counted {
                unread.add(reader, peer, -1);
            }
        }
    }
    Ok(duplicate)
}

async fn advance_watermarks(
    tx: &mut Transaction<'_, Sqlite>,
    plan: &BatchPlan,
    unread: &mut UnreadDeltas,
) -> Result<(), StoreError> {
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
        let read: Vec<bool> = sqlx::query_scalar(
            "UPDATE messages SET state = 1
             WHERE to_acc = ? AND from_acc = ? AND conversation = 'p2p' AND state = 0 AND sent_at_ms <= ?
             RETURNING counts_unread = 1 AND recalled = 0",
        )
        .bind(reader)
        .bind(peer)
        .bind(read_up_to_ms)
        .fetch_all(&mut **tx)
        .await
        .map_err(sql_error)?;
        let counted = read.into_iter().filter(|&counted| counted).count();
        unread.add(reader.to_owned(), peer.to_owned(), -(counted as i64));
    }
    Ok(())
}

async fn upsert_presence(tx: &mut Transaction<'_, Sqlite>, plan: &BatchPlan) -> Result<(), StoreError> {
    for presence in plan.newest_presences() {
        // Same rule as model::presence_supersedes: newer wins, offline wins a tie.
        sqlx::query(
            "INSERT INTO presence_clients (accid, client, device_id, online, at_ms, logout_reason, document)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (accid, client) DO UPDATE
             SET device_id = excluded.device_id, online = excluded.online, at_ms = excluded.at_ms,
                 logout_reason = excluded.logout_reason, document = excluded.document
             WHERE excluded.at_ms > presence_clients.at_ms
                OR (excluded.at_ms = presence_clients.at_ms AND excluded.online < presence_clients.online)",
        )
        .bind(&presence.accid)
        .bind(&presence.client)
        .bind(presence.device_id.as_deref())
        .bind(presence.online)
        .bind(presence.at_ms)
        .bind(presence.logout_reason)
        .bind(serde_json::to_string(&presence.document).map_err(internal)?)
        .execute(&mut **tx)
        .await
        .map_err(sql_error)?;
    }
    Ok(())
}

async fn advance_conversations(tx: &mut Transaction<'_, Sqlite>, plan: &BatchPlan) -> Result<(), StoreError> {
    let advances = plan.conversation_advances();
    for chunk in advances.chunks(ROWS_PER_STATEMENT) {
        // Newer by (sent-at, key) replaces; anything else leaves the stored summary as it is.
        let sql = format!(
            "INSERT INTO conversations (owner, peer, last_at_ms, last_key) VALUES {}
             ON CONFLICT (owner, peer) DO UPDATE SET last_at_ms = excluded.last_at_ms, last_key = excluded.last_key
             WHERE (excluded.last_at_ms, excluded.last_key) > (conversations.last_at_ms, conversations.last_key)",
            values("(?, ?, ?, ?)", chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for advance in padded(chunk) {
            query = query.bind(advance.owner).bind(advance.peer).bind(advance.at_ms).bind(advance.key);
        }
        query.execute(&mut **tx).await.map_err(sql_error)?;
    }
    Ok(())
}

async fn insert_messages(
    tx: &mut Transaction<'_, Sqlite>,
    plan: &BatchPlan,
    unread: &mut UnreadDeltas,
) -> Result<Vec<bool>, StoreError> {
    // Per row: key, to, from, conversation, counts_unread, sent_at, then conversation, sent_at, to,
    // from again for the state (to = the reader of the watermark, from = its peer; a comparison with
    // a missing watermark is NULL, which CASE treats as false: unread), the key again for the
    // recall flag, and the document.
    const ROW: &str = "(?, ?, ?, ?, ?, ?,
         CASE WHEN ? = 'p2p' AND ? <= (SELECT read_up_to_ms FROM read_watermarks WHERE reader = ? AND peer = ?)
              THEN 1 ELSE 0 END,
         EXISTS (SELECT 1 FROM recalls WHERE msg_key = ?),
         ?)";
    let mut duplicate = Vec::with_capacity(plan.messages.len());
    for chunk in plan.messages.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO messages
                 (msg_key, to_acc, from_acc, conversation, counts_unread, sent_at_ms, state, recalled, document)
             VALUES {} ON CONFLICT (msg_key) DO NOTHING
             RETURNING msg_key, to_acc, from_acc,
                       conversation = 'p2p' AND counts_unread = 1 AND state = 0 AND recalled = 0",
            values(ROW, chunk.len())
        );
        let mut query = sqlx::query_as::<_, (String, String, String, bool)>(&sql);
        for message in padded(chunk) {
            query = query
                .bind(&message.key)
                .bind(&message.to)
                .bind(&message.from)
                .bind(message.conversation)
                .bind(message.counts_unread)
                .bind(message.sent_at_ms)
                .bind(message.conversation)
                .bind(message.sent_at_ms)
                .bind(&message.to)
                .bind(&message.from)
                .bind(&message.key)
                .bind(serde_json::to_string(&message.document).map_err(internal)?);
        }
        let mut inserted = HashSet::new();
        for (key, reader, peer, counted) in query.fetch_all(&mut **tx).await.map_err(sql_error)? {
            if counted {
                unread.add(reader, peer, 1);
            }
            inserted.insert(key);
        }
        duplicate.extend(duplicates(chunk.iter().map(|m| m.key.as_str()), inserted));
    }
    Ok(duplicate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_gets_a_row_and_the_statement_shapes_stay_few() {
        let rows: Vec<u32> = (0..ROWS_PER_STATEMENT as u32).collect();
        let mut shapes = HashSet::new();
        for n in 1..=rows.len() {
            let bound: Vec<u32> = padded(&rows[..n]).copied().collect();
            assert_eq!(bound.len(), values("?", n).matches('?').count(), "{n} rows");
            assert_eq!(&bound[..n], &rows[..n], "the chunk's own rows first, in order");
            assert!(bound[n..].iter().all(|&r| r == rows[n - 1]), "only the last row repeats");
            shapes.insert(values("?", n));
        }
        assert_eq!(shapes.len(), 9, "1, 2, 4, … 256 rows");
    }
}

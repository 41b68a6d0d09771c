//! The embedded store's conversation queries: the inbox page from `conversations`, a pair's messages
//! from the `messages_pair` index, and the unread and watermark lookups the inbox adds.

use std::collections::HashMap;

use serde_json::Value;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::{internal, json_object, sql_error, EmbeddedMessageStore};
use crate::messages::model::{lower, with_state};
use crate::messages::{ConversationPage, ConversationSummary, PairQuery, StoreError};

fn summary(row: &SqliteRow) -> Result<ConversationSummary, StoreError> {
    Ok(ConversationSummary {
        peer: row.try_get(0).map_err(sql_error)?,
        last_at_ms: row.try_get(1).map_err(sql_error)?,
        last_key: row.try_get(2).map_err(sql_error)?,
    })
}

/// `document, state, recalled` → the stored document with its state.
pub(super) fn document(row: &SqliteRow) -> Result<Value, StoreError> {
    let text: String = row.try_get(0).map_err(sql_error)?;
    let state: i64 = row.try_get(1).map_err(sql_error)?;
    let recalled: bool = row.try_get(2).map_err(sql_error)?;
    Ok(Value::Object(with_state(json_object(&text)?, state == 1, recalled)))
}

fn json_list(items: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(&items.iter().map(|s| lower(s)).collect::<Vec<_>>()).map_err(internal)
}

impl EmbeddedMessageStore {
    pub(super) async fn page(
        &self,
        owner: &str,
        page: &ConversationPage,
    ) -> Result<Vec<ConversationSummary>, StoreError> {
        // The index (owner, last_at_ms DESC, peer) is walked from the upper bound down; the cursor's
        // tie-break on peer only filters rows at that one timestamp.
        let upper = page.after.as_ref().map_or(page.as_of_ms, |(at, _)| (*at).min(page.as_of_ms));
        let cursor = if page.after.is_some() { "AND (last_at_ms < ? OR peer > ?)" } else { "" };
        let peers = if page.peers.is_some() { "AND peer IN (SELECT value FROM json_each(?))" } else { "" };
        let sql = format!(
            "SELECT peer, last_at_ms, last_key FROM conversations
             WHERE owner = ? AND last_at_ms <= ? {cursor} {peers}
             ORDER BY last_at_ms DESC, peer ASC LIMIT ?"
        );
        let mut query = sqlx::query(&sql).bind(lower(owner)).bind(upper);
        if let Some((at, peer)) = &page.after {
            query = query.bind(*at).bind(lower(peer));
        }
        if let Some(peers) = &page.peers {
            query = query.bind(json_list(peers)?);
        }
        let rows = query.bind(page.limit as i64).fetch_all(&self.reader).await.map_err(sql_error)?;
        rows.iter().map(summary).collect()
    }

    pub(super) async fn since(
        &self,
        owner: &str,
        since_ms: i64,
        cap: usize,
    ) -> Result<Vec<ConversationSummary>, StoreError> {
        let rows = sqlx::query(
            "SELECT peer, last_at_ms, last_key FROM conversations WHERE owner = ? AND last_at_ms > ?
             ORDER BY last_at_ms DESC, peer ASC LIMIT ?",
        )
        .bind(lower(owner))
        .bind(since_ms)
        .bind(cap as i64)
        .fetch_all(&self.reader)
        .await
        .map_err(sql_error)?;
        rows.iter().map(summary).collect()
    }

    pub(super) async fn by_keys(&self, keys: &[String]) -> Result<Vec<Value>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT document, state, recalled FROM messages WHERE msg_key IN (SELECT value FROM json_each(?))",
        )
        .bind(serde_json::to_string(keys).map_err(internal)?)
        .fetch_all(&self.reader)
        .await
        .map_err(sql_error)?;
        rows.iter().map(document).collect()
    }

    pub(super) async fn pair(&self, a: &str, b: &str, q: &PairQuery) -> Result<Vec<Value>, StoreError> {
        let (a, b) = (lower(a), lower(b));
        let (order, beyond) = if q.ascending { ("ASC", ">") } else { ("DESC", "<") };
        let cursor =
            if q.after.is_some() { format!("AND (sent_at_ms, msg_key) {beyond} (?, ?)") } else { String::new() };
        // One range of the pair index per direction, each limited, then merged.
        let branch = format!(
            "SELECT * FROM (SELECT document, state, recalled, sent_at_ms, msg_key FROM messages
               WHERE conversation = 'p2p' AND to_acc = ? AND from_acc = ? AND sent_at_ms BETWEEN ? AND ? {cursor}
               ORDER BY sent_at_ms {order}, msg_key {order} LIMIT ?)"
        );
        let directions: Vec<(&str, &str)> = match q.only_from.as_deref().map(lower) {
            Some(from) if from == a => vec![(b.as_str(), a.as_str())],
            Some(from) if from == b => vec![(a.as_str(), b.as_str())],
            Some(_) => return Ok(Vec::new()),
            None => vec![(a.as_str(), b.as_str()), (b.as_str(), a.as_str())],
        };
        let union = vec![branch.as_str(); directions.len()].join(" UNION ALL ");
        let sql = format!("SELECT * FROM ({union}) ORDER BY sent_at_ms {order}, msg_key {order} LIMIT ?");
        let mut query = sqlx::query(&sql);
        for (to, from) in directions {
            query = query.bind(to).bind(from).bind(q.from_ms).bind(q.to_ms);
            if let Some((at, key)) = &q.after {
                query = query.bind(*at).bind(key);
            }
            query = query.bind(q.limit as i64);
        }
        let rows = query.bind(q.limit as i64).fetch_all(&self.reader).await.map_err(sql_error)?;
        rows.iter().map(document).collect()
    }

    pub(super) async fn unread_everywhere(&self, reader: &str) -> Result<HashMap<String, u64>, StoreError> {
        // The kept counts' partial index holds only the conversations with something unread.
        let rows = sqlx::query("SELECT peer, n FROM unread_counts WHERE reader = ? AND n > 0")
            .bind(lower(reader))
            .fetch_all(&self.reader)
            .await
            .map_err(sql_error)?;
        rows.iter()
            .map(|row| Ok((row.try_get::<String, _>(0)?, row.try_get::<i64, _>(1)?.unsigned_abs())))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(sql_error)
    }

    pub(super) async fn unread_count(&self, reader: &str) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COALESCE(SUM(n), 0) FROM unread_counts WHERE reader = ? AND n > 0")
            .bind(lower(reader))
            .fetch_one(&self.reader)
            .await
            .map_err(sql_error)?;
        Ok(n.unsigned_abs())
    }

    pub(super) async fn watermarks_of(
        &self,
        peer: &str,
        readers: &[String],
    ) -> Result<HashMap<String, i64>, StoreError> {
        if readers.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = sqlx::query(
            "SELECT reader, read_up_to_ms FROM read_watermarks
             WHERE reader IN (SELECT value FROM json_each(?)) AND peer = ?",
        )
        .bind(json_list(readers)?)
        .bind(lower(peer))
        .fetch_all(&self.reader)
        .await
        .map_err(sql_error)?;
        rows.iter()
            .map(|row| Ok((row.try_get::<String, _>(0)?, row.try_get::<i64, _>(1)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(sql_error)
    }
}

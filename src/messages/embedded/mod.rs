//! The embedded message store: SQLite (WAL, `synchronous=FULL`), its own file, so `cargo run`
//! needs no MongoDB.
//!
//! Writes go through one connection and one transaction per batch. SQLite has a single writer
//! anyway; serialising in the pool instead of on the file lock means no `SQLITE_BUSY` between our
//! own writers, and inside a transaction "read the facts, then write" is atomic: a message insert
//! reads the watermark and the recall facts, a receipt or recall updates the stored messages, and
//! whichever comes first the other sees it. Reads use a separate pool of read-only connections,
//! which WAL lets run beside the writer.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde_json::{Map, Value};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::Row;

use super::model::{body_digest, lower, millis};
use super::{
    ApplyOutcome, AuditPage, CallbackRecord, ConversationPage, ConversationSummary, DeadLetter, MessageStore,
    PairQuery, PresenceRecord, RawCallback, StoreError, StoredRaw,
};

mod apply;
mod console;
mod conversations;
mod replay;

const SCHEMA: &str = include_str!("schema.sql");

/// Data migrations, by the `PRAGMA user_version` they bring a file to. Each runs once, in one
/// transaction with the version bump, so a crash half-way leaves the file as it was.
const MIGRATIONS: [&str; 3] =
    [include_str!("migrate_keys.sql"), include_str!("migrate_query.sql"), include_str!("migrate_unread.sql")];

/// Create what is missing (every schema statement is idempotent) and migrate the data to the
/// current version.
async fn prepare(writer: &SqlitePool) -> Result<(), StoreError> {
    sqlx::raw_sql(SCHEMA).execute(writer).await.map_err(sql_error)?;
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await.map_err(sql_error)?;
    let version: i64 = sqlx::query_scalar("PRAGMA user_version").fetch_one(&mut *tx).await.map_err(sql_error)?;
    let from = usize::try_from(version).unwrap_or(0);
    for (step, migration) in MIGRATIONS.iter().enumerate().skip(from) {
        tracing::info!(version = step + 1, "migrating the embedded message store");
        sqlx::raw_sql(migration).execute(&mut *tx).await.map_err(sql_error)?;
    }
    if from < MIGRATIONS.len() {
        // PRAGMA takes no bound parameters; the value is our own constant.
        sqlx::raw_sql(&format!("PRAGMA user_version = {}", MIGRATIONS.len()))
            .execute(&mut *tx)
            .await
            .map_err(sql_error)?;
    }
    tx.commit().await.map_err(sql_error)
}

/// How long a caller waits for a connection before the store counts as unavailable (503).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a write waits for a lock another process holds on the file, unless
/// [`EmbeddedMessageStore::open_with`] says otherwise.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The SQLite message store. Cheap to clone (pools inside).
#[derive(Clone, Debug)]
pub struct EmbeddedMessageStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// The background checkpointer's connection (file stores only).
    checkpointer: Option<SqlitePool>,
    raw_retention: Duration,
}

impl EmbeddedMessageStore {
    /// Open (creating if missing, with its directory) the store at `url`: `sqlite://path/file.db`,
    /// `sqlite:file.db`, or `sqlite::memory:` (one private database per call, for tests). Raw bodies
    /// are kept for `raw_retention`.
    pub async fn open(url: &str, raw_retention: Duration) -> Result<Self, StoreError> {
        Self::open_with(url, raw_retention, BUSY_TIMEOUT).await
    }

    /// [`EmbeddedMessageStore::open`], with how long a write waits for a lock held by another
    /// process (a backup, an operator's `sqlite3` shell) before it fails as unavailable.
    pub async fn open_with(url: &str, raw_retention: Duration, busy_timeout: Duration) -> Result<Self, StoreError> {
        let base = SqliteConnectOptions::from_str(url).map_err(internal)?.busy_timeout(busy_timeout);
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let store = if in_memory {
            // Every connection to an in-memory database would be a database of its own (sqlx uses a
            // shared cache, which has its own table locks); one connection that never closes keeps
            // one database and serialises everything.
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(base)
                .await
                .map_err(sql_error)?;
            prepare(&pool).await?;
            EmbeddedMessageStore { writer: pool.clone(), reader: pool, checkpointer: None, raw_retention }
        } else {
            create_parent_dir(base.get_filename())?;
            let writer_options = base
                .clone()
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                // A multi-row insert keeps a statement journal (to undo just that statement); past
                // 64 KiB SQLite spills it to a temporary file, which cost the writer a sixth of its
                // time in the P1 profile (BENCHMARKS.md). In memory it is a few hundred KiB at most.
                .pragma("temp_store", "memory")
                // The background checkpointer keeps the log short (spawn_checkpointer); this is
                // only the backstop should it stop, at ten times SQLite's default of 1 000 pages.
                .pragma("wal_autocheckpoint", WRITER_AUTOCHECKPOINT_PAGES.to_string());
            let writer = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(writer_options)
                .await
                .map_err(sql_error)?;
            // The schema (and WAL mode) must exist before a read-only connection opens the file.
            prepare(&writer).await?;
            let reader = SqlitePoolOptions::new()
                .max_connections(4)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(base.clone().read_only(true))
                .await
                .map_err(sql_error)?;
            let checkpointer = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(base)
                .await
                .map_err(sql_error)?;
            spawn_checkpointer(checkpointer.clone());
            EmbeddedMessageStore { writer, reader, checkpointer: Some(checkpointer), raw_retention }
        };
        Ok(store)
    }

    /// Close the pools (waits for connections in use to be returned); the checkpointer stops.
    pub async fn close(&self) {
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.close().await;
        }
        self.reader.close().await;
        self.writer.close().await;
    }
}

/// One round of the background checkpointer: passive, then a restart if the log grew long.
async fn checkpoint(pool: &SqlitePool) -> Result<(), sqlx::Error> {
    // (busy, pages in the log, pages copied)
    let (_, log, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(pool).await?;
    if log >= RESTART_AT_PAGES {
        sqlx::query("PRAGMA wal_checkpoint(RESTART)").execute(pool).await?;
    }
    Ok(())
}

/// How often the background checkpointer copies committed WAL frames into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// A log this long (pages of 4 KiB) after a passive checkpoint gets a `RESTART` checkpoint, which
/// waits for the writer between two transactions so that the next one starts the log afresh.
const RESTART_AT_PAGES: i64 = 4_000;

/// The writer's own automatic checkpoint, the backstop.
const WRITER_AUTOCHECKPOINT_PAGES: i64 = 10_000;

/// Copies committed WAL frames into the database file on its own connection (so on its own sqlx
/// thread), beside the writer instead of inside its commits. In the P1 profile, the checkpoint
/// SQLite runs at the end of a commit once the log holds 1 000 pages took a seventh of the
/// writer's time (copying pages and two `fsync`s), all of it while callbacks waited for their
/// acknowledgement. A `PASSIVE` checkpoint takes no write lock, so the writer never waits for it;
/// but under steady writes the log never ends fully copied, and SQLite starts it afresh only then.
/// So once it passes [`RESTART_AT_PAGES`] a `RESTART` checkpoint copies the few pages left and
/// lets the next transaction reuse the log from its start. The writer's automatic checkpoint at
/// [`WRITER_AUTOCHECKPOINT_PAGES`] bounds the log should this task stop.
fn spawn_checkpointer(pool: SqlitePool) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tick.tick().await;
            if pool.is_closed() {
                break;
            }
            match checkpoint(&pool).await {
                Ok(_) if failing => {
                    failing = false;
                    tracing::info!("background WAL checkpoints work again");
                }
                Ok(_) => {}
                Err(sqlx::Error::PoolClosed) => break,
                // Logged once per run of failures: the writer's own checkpoints still bound the log.
                Err(error) if !failing => {
                    failing = true;
                    tracing::warn!(%error, "background WAL checkpoint failed; the writer checkpoints on its own");
                }
                Err(_) => {}
            }
        }
    });
}

fn create_parent_dir(file: &Path) -> Result<(), StoreError> {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Unavailable(Box::new(e)))
        }
        _ => Ok(()),
    }
}

/// Classify a SQLite error: anything about reaching or locking the file is `Unavailable`.
fn sql_error(error: sqlx::Error) -> StoreError {
    // Primary result codes: BUSY, LOCKED, READONLY, IOERR, CORRUPT, FULL, CANTOPEN, PROTOCOL.
    const UNAVAILABLE_CODES: [i64; 8] = [5, 6, 8, 10, 11, 13, 14, 15];
    let unavailable = match &error {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|code| code.parse::<i64>().ok())
            .is_some_and(|code| UNAVAILABLE_CODES.contains(&(code & 0xff))),
        _ => false,
    };
    if unavailable {
        StoreError::Unavailable(Box::new(error))
    } else {
        StoreError::Internal(Box::new(error))
    }
}

fn internal(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Internal(Box::new(error))
}

fn json_object(text: &str) -> Result<Map<String, Value>, StoreError> {
    serde_json::from_str(text).map_err(internal)
}

#[async_trait]
impl MessageStore for EmbeddedMessageStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn apply(&self, batch: &[CallbackRecord]) -> Result<Vec<ApplyOutcome>, StoreError> {
        apply::apply(&self.writer, batch, self.raw_retention).await
    }

    async fn dead_letter(&self, raw: &RawCallback, reason: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO dead_letters (digest, provider, event_type, body, reason, received_at_ms, path_and_query)
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (digest) DO NOTHING",
        )
        .bind(body_digest(&raw.provider, &raw.body))
        .bind(&raw.provider)
        .bind(&raw.event_type)
        .bind(raw.body.as_ref())
        .bind(reason)
        .bind(millis(raw.received_at))
        .bind(&raw.path_and_query)
        .execute(&self.writer)
        .await
        .map_err(sql_error)?;
        Ok(())
    }

    async fn unread(&self, reader: &str, peers: &[String]) -> Result<HashMap<String, u64>, StoreError> {
        let mut wanted: Vec<String> = peers.iter().map(|p| lower(p)).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let counts: HashMap<String, u64> = if wanted.is_empty() {
            HashMap::new()
        } else {
            // One statement whatever the number of peers (a JSON array bound once), so it is
            // prepared once and cached; one primary-key lookup per peer in the kept counts, however
            // long the conversations' histories are.
            let rows = sqlx::query(
                "SELECT peer, n FROM unread_counts
                 WHERE reader = ? AND peer IN (SELECT value FROM json_each(?)) AND n > 0",
            )
            .bind(lower(reader))
            .bind(serde_json::to_string(&wanted).map_err(internal)?)
            .fetch_all(&self.reader)
            .await
            .map_err(sql_error)?;
            rows.iter()
                .map(|row| Ok((row.try_get::<String, _>(0)?, row.try_get::<i64, _>(1)?.unsigned_abs())))
                .collect::<Result<_, sqlx::Error>>()
                .map_err(sql_error)?
        };
        Ok(peers.iter().map(|peer| (peer.clone(), counts.get(&lower(peer)).copied().unwrap_or(0))).collect())
    }

    /// Ready means able to store callbacks, so the probe takes the write lock (and rolls back): a
    /// file that is readable but locked by another process counts as unavailable.
    async fn ping(&self) -> Result<(), StoreError> {
        let tx = self.writer.begin_with("BEGIN IMMEDIATE").await.map_err(sql_error)?;
        tx.rollback().await.map_err(sql_error)
    }

    async fn get_message(&self, key: &str) -> Result<Option<Value>, StoreError> {
        let row = sqlx::query("SELECT document, state, recalled FROM messages WHERE msg_key = ?")
            .bind(key)
            .fetch_optional(&self.reader)
            .await
            .map_err(sql_error)?;
        row.as_ref().map(conversations::document).transpose()
    }

    async fn read_watermark(&self, reader: &str, peer: &str) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar("SELECT read_up_to_ms FROM read_watermarks WHERE reader = ? AND peer = ?")
            .bind(lower(reader))
            .bind(lower(peer))
            .fetch_optional(&self.reader)
            .await
            .map_err(sql_error)
    }

    async fn presence(&self, accids: &[String]) -> Result<Vec<PresenceRecord>, StoreError> {
        if accids.is_empty() {
            return Ok(Vec::new());
        }
        let wanted: Vec<String> = accids.iter().map(|a| lower(a)).collect();
        // One statement whatever the number of accounts (a JSON array bound once), on the key.
        let rows = sqlx::query(
            "SELECT accid, client, device_id, online, at_ms, logout_reason, document FROM presence_clients
             WHERE accid IN (SELECT value FROM json_each(?)) ORDER BY accid, client",
        )
        .bind(serde_json::to_string(&wanted).map_err(internal)?)
        .fetch_all(&self.reader)
        .await
        .map_err(sql_error)?;
        rows.iter()
            .map(|row| {
                let document: String = row.try_get(6).map_err(sql_error)?;
                Ok(PresenceRecord {
                    accid: row.try_get(0).map_err(sql_error)?,
                    client_type: row.try_get(1).map_err(sql_error)?,
                    device_id: row.try_get(2).map_err(sql_error)?,
                    online: row.try_get(3).map_err(sql_error)?,
                    at_ms: row.try_get(4).map_err(sql_error)?,
                    logout_reason: row.try_get(5).map_err(sql_error)?,
                    document: Value::Object(json_object(&document)?),
                })
            })
            .collect()
    }

    async fn conversation_page(
        &self,
        owner: &str,
        page: &ConversationPage,
    ) -> Result<Vec<ConversationSummary>, StoreError> {
        self.page(owner, page).await
    }

    async fn conversations_since(
        &self,
        owner: &str,
        since_ms: i64,
        cap: usize,
    ) -> Result<Vec<ConversationSummary>, StoreError> {
        self.since(owner, since_ms, cap).await
    }

    async fn messages_by_key(&self, keys: &[String]) -> Result<Vec<Value>, StoreError> {
        self.by_keys(keys).await
    }

    async fn pair_messages(&self, a: &str, b: &str, query: &PairQuery) -> Result<Vec<Value>, StoreError> {
        self.pair(a, b, query).await
    }

    async fn unread_all(&self, reader: &str) -> Result<HashMap<String, u64>, StoreError> {
        self.unread_everywhere(reader).await
    }

    async fn unread_total(&self, reader: &str) -> Result<u64, StoreError> {
        self.unread_count(reader).await
    }

    async fn watermarks_on(&self, peer: &str, readers: &[String]) -> Result<HashMap<String, i64>, StoreError> {
        self.watermarks_of(peer, readers).await
    }

    async fn raw_count(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM raw_callbacks")
            .fetch_one(&self.reader)
            .await
            .map_err(sql_error)?;
        Ok(n.unsigned_abs())
    }

    async fn dead_letters(&self, limit: u32) -> Result<Vec<DeadLetter>, StoreError> {
        let sql = format!(
            "SELECT {} FROM dead_letters ORDER BY received_at_ms DESC, digest LIMIT ?",
            replay::DEAD_LETTER_COLUMNS
        );
        let rows = sqlx::query(&sql).bind(i64::from(limit)).fetch_all(&self.reader).await.map_err(sql_error)?;
        rows.iter().map(replay::dead_letter).collect::<Result<_, sqlx::Error>>().map_err(sql_error)
    }

    async fn purge_expired_raw(&self, now: SystemTime) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM raw_callbacks WHERE expires_at_ms <= ?")
            .bind(millis(now))
            .execute(&self.writer)
            .await
            .map_err(sql_error)?;
        Ok(done.rows_affected())
    }

    async fn raw_page(&self, page: &AuditPage) -> Result<Vec<StoredRaw>, StoreError> {
        self.raw_rows(page).await
    }

    async fn dead_letter_page(&self, page: &AuditPage) -> Result<Vec<DeadLetter>, StoreError> {
        self.dead_letter_rows(page).await
    }

    async fn dead_letter_by_id(&self, id: &str) -> Result<Option<DeadLetter>, StoreError> {
        self.dead_letter_row(id).await
    }

    async fn remove_dead_letter(&self, id: &str) -> Result<bool, StoreError> {
        self.delete_dead_letter(id).await
    }

    async fn set_dead_letter_reason(&self, id: &str, reason: &str) -> Result<(), StoreError> {
        self.dead_letter_reason(id, reason).await
    }

    async fn recent_raw(&self, limit: u32, filter: &super::RawFilter) -> Result<Vec<super::StoredRaw>, StoreError> {
        console::recent_raw(self, limit, filter).await
    }
}

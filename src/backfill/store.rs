//! The `backfill_jobs` table (`migrations/*/0003_backfill.sql`) over either SQL backend.
//!
//! A job row is the job's whole progress: the cursor where the next window starts and the counts
//! so far, written after every window. Workers claim a due job with a lease, as the outbox does:
//! on MySQL/MariaDB `SELECT ... FOR UPDATE SKIP LOCKED`, on SQLite one `UPDATE ... RETURNING`.
//! A claim moves `next_attempt_at` to the end of the lease, so the job of a worker that died is due
//! again when its lease runs out; every later write is conditional on the lease owner.

use std::collections::BTreeSet;

use sqlx::FromRow;
use uuid::Uuid;

use super::window::Cursor;
use crate::db::Sql;
use crate::with_pool;

/// A job's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Running,
    Done,
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Failed => "failed",
        }
    }
}

/// A job as stored.
#[derive(Debug, Clone, FromRow)]
pub struct Job {
    pub id: String,
    pub accid: String,
    pub peer: String,
    pub from_ms: i64,
    pub to_ms: i64,
    pub status: String,
    pub cursor_ms: i64,
    pub cursor_keys: String,
    pub imported: i64,
    pub skipped_duplicates: i64,
    pub windows: i64,
    pub attempts: i64,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, accid, peer, from_ms, to_ms, status, cursor_ms, cursor_keys, imported, \
                       skipped_duplicates, windows, attempts, error, created_at, updated_at";

impl Job {
    /// Where the next window starts. Keys that do not decode are dropped: the store's idempotency
    /// makes a re-read message a duplicate, never a second copy.
    pub fn cursor(&self) -> Cursor {
        let keys: BTreeSet<String> = serde_json::from_str(&self.cursor_keys).unwrap_or_default();
        Cursor { at_ms: self.cursor_ms, keys }
    }
}

/// What one completed window adds to a job.
#[derive(Debug, Clone)]
pub struct WindowDone {
    /// `None`: the range is done.
    pub next: Option<Cursor>,
    pub imported: i64,
    pub skipped_duplicates: i64,
}

#[derive(Clone, Debug)]
pub struct BackfillStore {
    sql: Sql,
}

impl BackfillStore {
    pub fn new(sql: Sql) -> Self {
        Self { sql }
    }

    /// Store a new running job, due now; returns it.
    pub async fn create(
        &self,
        accid: &str,
        peer: &str,
        from_ms: i64,
        to_ms: i64,
        now_ms: i64,
    ) -> Result<Job, sqlx::Error> {
        let id = Uuid::new_v4().to_string();
        with_pool!(&self.sql, pool => {
            sqlx::query(
                "INSERT INTO backfill_jobs (id, accid, peer, from_ms, to_ms, status, cursor_ms, cursor_keys, \
                 next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'running', ?, '[]', ?, ?, ?)",
            )
            .bind(&id)
            .bind(accid)
            .bind(peer)
            .bind(from_ms)
            .bind(to_ms)
            .bind(from_ms)
            .bind(now_ms)
            .bind(now_ms)
            .bind(now_ms)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        self.get(&id).await?.ok_or_else(|| sqlx::Error::RowNotFound)
    }

    pub async fn get(&self, id: &str) -> Result<Option<Job>, sqlx::Error> {
        let sql = format!("SELECT {COLUMNS} FROM backfill_jobs WHERE id = ?");
        with_pool!(&self.sql, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await)
    }

    /// Reserve the oldest due running job for `owner` until `now_ms + lease_ms`.
    pub async fn claim(&self, owner: &str, now_ms: i64, lease_ms: i64) -> Result<Option<Job>, sqlx::Error> {
        crate::db::claim_due_job(&self.sql, "backfill_jobs", COLUMNS, owner, now_ms, now_ms + lease_ms).await
    }

    /// Record a completed window: the new cursor (or done), the counts, a renewed lease.
    /// `false`: the lease is no longer ours and nothing was written.
    pub async fn record_window(
        &self,
        id: &str,
        owner: &str,
        done: &WindowDone,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<bool, sqlx::Error> {
        let until = now_ms + lease_ms;
        let (status, cursor_ms, keys, lease_owner, lease_until) = match &done.next {
            Some(next) => {
                let keys = serde_json::to_string(&next.keys).unwrap_or_else(|_| "[]".into());
                (JobStatus::Running, Some(next.at_ms), keys, Some(owner), Some(until))
            }
            None => (JobStatus::Done, None, "[]".to_owned(), None, None),
        };
        let changed = with_pool!(&self.sql, pool => {
            sqlx::query(
                "UPDATE backfill_jobs SET status = ?, cursor_ms = COALESCE(?, to_ms), cursor_keys = ?, \
                 imported = imported + ?, skipped_duplicates = skipped_duplicates + ?, windows = windows + 1, \
                 attempts = 0, error = NULL, lease_owner = ?, lease_until = ?, next_attempt_at = ?, updated_at = ? \
                 WHERE id = ? AND lease_owner = ? AND status = 'running'",
            )
            .bind(status.as_str())
            .bind(cursor_ms)
            .bind(keys)
            .bind(done.imported)
            .bind(done.skipped_duplicates)
            .bind(lease_owner)
            .bind(lease_until)
            .bind(until)
            .bind(now_ms)
            .bind(id)
            .bind(owner)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(changed == 1)
    }

    /// A transient failure: count the attempt, remember why, give the job back due at `at_ms`.
    pub async fn retry_later(
        &self,
        id: &str,
        owner: &str,
        at_ms: i64,
        error: &str,
        now_ms: i64,
    ) -> Result<bool, sqlx::Error> {
        let changed = with_pool!(&self.sql, pool => {
            sqlx::query(
                "UPDATE backfill_jobs SET attempts = attempts + 1, error = ?, lease_owner = NULL, lease_until = NULL, \
                 next_attempt_at = ?, updated_at = ? WHERE id = ? AND lease_owner = ? AND status = 'running'",
            )
            .bind(error)
            .bind(at_ms)
            .bind(now_ms)
            .bind(id)
            .bind(owner)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(changed == 1)
    }

    /// The job cannot go on: `failed`, with why.
    pub async fn fail(&self, id: &str, owner: &str, error: &str, now_ms: i64) -> Result<bool, sqlx::Error> {
        let changed = with_pool!(&self.sql, pool => {
            sqlx::query(
                "UPDATE backfill_jobs SET status = 'failed', error = ?, lease_owner = NULL, lease_until = NULL, \
                 updated_at = ? WHERE id = ? AND lease_owner = ? AND status = 'running'",
            )
            .bind(error)
            .bind(now_ms)
            .bind(id)
            .bind(owner)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(changed == 1)
    }

    /// Give the job back, due now (graceful shutdown), so another worker takes it at once.
    pub async fn release(&self, id: &str, owner: &str, now_ms: i64) -> Result<bool, sqlx::Error> {
        let changed = with_pool!(&self.sql, pool => {
            sqlx::query(
                "UPDATE backfill_jobs SET lease_owner = NULL, lease_until = NULL, next_attempt_at = ?, updated_at = ? \
                 WHERE id = ? AND lease_owner = ? AND status = 'running'",
            )
            .bind(now_ms)
            .bind(now_ms)
            .bind(id)
            .bind(owner)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(changed == 1)
    }
}

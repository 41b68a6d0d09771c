//! The `replay_jobs` table (`migrations/*/0005_replay.sql`) over either SQL backend.
//!
//! A job row is the job's whole progress: which phase its cursor walks, the (received-at, digest)
//! of the last row done, and the counts so far, written after every page. Workers claim a due job
//! with a lease, as backfill jobs are claimed (`crate::backfill`): a claim moves `next_attempt_at`
//! to the end of the lease, so the job of a worker that died is due again when its lease runs out,
//! and every later write is conditional on the lease owner.

use sqlx::FromRow;
use uuid::Uuid;

use super::reapply::Counts;
use crate::db::Sql;
use crate::with_pool;

pub const RUNNING: &str = "running";
pub const DONE: &str = "done";
pub const FAILED: &str = "failed";

/// What a job's cursor walks: the raw audit trail first, then (when asked) the dead letters.
pub const PHASE_RAW: &str = "raw";
pub const PHASE_DEAD_LETTERS: &str = "dead_letters";

/// A job as stored.
#[derive(Debug, Clone, FromRow)]
pub struct Job {
    pub id: String,
    pub from_ms: i64,
    pub to_ms: i64,
    /// JSON array, `None` for every type.
    pub event_types: Option<String>,
    pub include_dead_letters: bool,
    pub status: String,
    pub phase: String,
    pub cursor_ms: Option<i64>,
    pub cursor_digest: Option<String>,
    pub scanned: i64,
    pub reapplied: i64,
    pub unchanged: i64,
    pub skipped: i64,
    pub now_parsed: i64,
    pub still_failing: i64,
    pub attempts: i64,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, from_ms, to_ms, event_types, include_dead_letters, status, phase, cursor_ms, \
                       cursor_digest, scanned, reapplied, unchanged, skipped, now_parsed, still_failing, attempts, \
                       error, created_at, updated_at";

impl Job {
    /// The event types to replay (`None`: all). A value that does not decode means all: the
    /// route only ever writes a JSON array.
    pub fn event_types(&self) -> Option<Vec<String>> {
        self.event_types.as_deref().and_then(|json| serde_json::from_str(json).ok())
    }

    /// The last row done in the current phase.
    pub fn cursor(&self) -> Option<(i64, String)> {
        Some((self.cursor_ms?, self.cursor_digest.clone()?))
    }
}

/// A new job.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub from_ms: i64,
    pub to_ms: i64,
    pub event_types: Option<Vec<String>>,
    pub include_dead_letters: bool,
}

/// What one recorded page moves a job to.
#[derive(Debug, Clone)]
pub struct Progress {
    pub phase: &'static str,
    /// The last row done; `None` at the start of a phase.
    pub cursor: Option<(i64, String)>,
    /// Added to the job's counts.
    pub counts: Counts,
    /// Nothing left: the job is done.
    pub done: bool,
}

/// Why a job was not created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// A running job's range overlaps the requested one.
    #[error("replay {0} is running over an overlapping range")]
    Overlaps(String),
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

#[derive(Clone, Debug)]
pub struct ReplayStore {
    sql: Sql,
}

impl ReplayStore {
    pub fn new(sql: Sql) -> Self {
        Self { sql }
    }

    /// Store a new running job, due now, unless a running job's range overlaps it.
    pub async fn create(&self, job: &NewJob, now_ms: i64) -> Result<Job, CreateError> {
        let id = Uuid::new_v4().to_string();
        let event_types = job.event_types.as_ref().map(|t| serde_json::to_string(t).unwrap_or_else(|_| "[]".into()));
        let overlapping = "SELECT id FROM replay_jobs WHERE status = 'running' AND from_ms <= ? AND to_ms >= ? LIMIT 1";
        let insert = "INSERT INTO replay_jobs (id, from_ms, to_ms, event_types, include_dead_letters, status, phase, \
                      next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'running', 'raw', ?, ?, ?)";
        // Check and insert under one lock, so that two requests (on two instances) cannot both
        // pass the check: SQLite's write transaction (BEGIN IMMEDIATE) or a MySQL named lock. The
        // check and the insert are the same SQL on both; only the connection type differs.
        macro_rules! check_and_insert {
            ($conn:expr) => {
                async {
                    let conflict: Option<String> = sqlx::query_scalar(overlapping)
                        .bind(job.to_ms)
                        .bind(job.from_ms)
                        .fetch_optional(&mut *$conn)
                        .await?;
                    if conflict.is_none() {
                        sqlx::query(insert)
                            .bind(&id)
                            .bind(job.from_ms)
                            .bind(job.to_ms)
                            .bind(&event_types)
                            .bind(job.include_dead_letters)
                            .bind(now_ms)
                            .bind(now_ms)
                            .bind(now_ms)
                            .execute(&mut *$conn)
                            .await?;
                    }
                    Ok::<_, sqlx::Error>(conflict)
                }
            };
        }
        let conflict: Option<String> = match &self.sql {
            Sql::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let conflict = check_and_insert!(tx).await?;
                tx.commit().await?;
                conflict
            }
            Sql::MySql(pool) => {
                let mut conn = pool.acquire().await?;
                let locked: Option<i64> =
                    sqlx::query_scalar("SELECT GET_LOCK('imbridge.replay_jobs', 10)").fetch_one(&mut *conn).await?;
                if locked != Some(1) {
                    // Another request held the lock for 10 s: the database is not keeping up (503).
                    return Err(sqlx::Error::PoolTimedOut.into());
                }
                let outcome = check_and_insert!(conn).await;
                let released = sqlx::query("SELECT RELEASE_LOCK('imbridge.replay_jobs')").execute(&mut *conn).await;
                if released.is_err() {
                    // A named lock belongs to the session: a pooled connection must not keep it.
                    conn.close_on_drop();
                }
                released?;
                outcome?
            }
        };
        if let Some(running) = conflict {
            return Err(CreateError::Overlaps(running));
        }
        Ok(self.get(&id).await?.ok_or(sqlx::Error::RowNotFound)?)
    }

    pub async fn get(&self, id: &str) -> Result<Option<Job>, sqlx::Error> {
        let sql = format!("SELECT {COLUMNS} FROM replay_jobs WHERE id = ?");
        with_pool!(&self.sql, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await)
    }

    /// Reserve the oldest due running job for `owner` until `now_ms + lease_ms`.
    pub async fn claim(&self, owner: &str, now_ms: i64, lease_ms: i64) -> Result<Option<Job>, sqlx::Error> {
        crate::db::claim_due_job(&self.sql, "replay_jobs", COLUMNS, owner, now_ms, now_ms + lease_ms).await
    }

    /// Record a page: the new cursor (or done), the counts, a renewed lease. `false`: the lease is
    /// no longer ours and nothing was written.
    pub async fn record(
        &self,
        id: &str,
        owner: &str,
        progress: &Progress,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<bool, sqlx::Error> {
        let until = now_ms + lease_ms;
        let (status, lease_owner, lease_until) =
            if progress.done { (DONE, None, None) } else { (RUNNING, Some(owner), Some(until)) };
        let (cursor_ms, cursor_digest) = progress.cursor.clone().unzip();
        let c = &progress.counts;
        let changed = with_pool!(&self.sql, pool => {
            sqlx::query(
                "UPDATE replay_jobs SET status = ?, phase = ?, cursor_ms = ?, cursor_digest = ?, \
                 scanned = scanned + ?, reapplied = reapplied + ?, unchanged = unchanged + ?, skipped = skipped + ?, \
                 now_parsed = now_parsed + ?, still_failing = still_failing + ?, attempts = 0, error = NULL, \
                 lease_owner = ?, lease_until = ?, next_attempt_at = ?, updated_at = ? \
                 WHERE id = ? AND lease_owner = ? AND status = 'running'",
            )
            .bind(status)
            .bind(progress.phase)
            .bind(cursor_ms)
            .bind(cursor_digest)
            .bind(c.scanned)
            .bind(c.reapplied)
            .bind(c.unchanged)
            .bind(c.skipped)
            .bind(c.now_parsed)
            .bind(c.still_failing)
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
    ) -> Result<(), sqlx::Error> {
        self.end_lease(id, owner, "attempts = attempts + 1, error = ?,", Some(error), at_ms, now_ms).await
    }

    /// The job cannot go on: `failed`, with why.
    pub async fn fail(&self, id: &str, owner: &str, error: &str, now_ms: i64) -> Result<(), sqlx::Error> {
        self.end_lease(id, owner, "status = 'failed', error = ?,", Some(error), now_ms, now_ms).await
    }

    /// Give the job back, due now (graceful shutdown), so another worker takes it at once.
    pub async fn release(&self, id: &str, owner: &str, now_ms: i64) -> Result<(), sqlx::Error> {
        self.end_lease(id, owner, "", None, now_ms, now_ms).await
    }

    /// Drop the lease when it is still ours, due again at `due_ms`, after `set` (which binds
    /// `error` when given).
    async fn end_lease(
        &self,
        id: &str,
        owner: &str,
        set: &str,
        error: Option<&str>,
        due_ms: i64,
        now_ms: i64,
    ) -> Result<(), sqlx::Error> {
        let sql = format!(
            "UPDATE replay_jobs SET {set} next_attempt_at = ?, lease_owner = NULL, lease_until = NULL, updated_at = ? \
             WHERE id = ? AND lease_owner = ? AND status = 'running'"
        );
        with_pool!(&self.sql, pool => {
            let mut query = sqlx::query(&sql);
            if let Some(error) = error {
                query = query.bind(error);
            }
            query.bind(due_ms).bind(now_ms).bind(id).bind(owner).execute(pool).await.map(|_| ())
        })
    }
}

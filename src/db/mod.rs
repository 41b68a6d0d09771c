//! The SQL database: accounts and the notification outbox. SQLite by default (zero set-up), MySQL /
//! MariaDB in production. Each store has one implementation per backend behind a trait; the
//! migrations live in `migrations/sqlite` and `migrations/mysql` (same numbering, same meaning).

use std::str::FromStr;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

/// How long callers wait on a database that is down or locked; past it they get an error that
/// [`is_unavailable`] classifies as 503.
#[derive(Clone, Copy, Debug)]
pub struct SqlOptions {
    /// Waiting for a pooled connection, opening a new one included (a server that does not answer).
    pub acquire_timeout: Duration,
    /// SQLite only: waiting for a lock held by another connection or process.
    pub busy_timeout: Duration,
}

impl Default for SqlOptions {
    fn default() -> Self {
        Self { acquire_timeout: Duration::from_secs(5), busy_timeout: Duration::from_secs(10) }
    }
}

/// A connection pool to whichever SQL backend the configuration names.
#[derive(Clone, Debug)]
pub enum Sql {
    Sqlite(SqlitePool),
    MySql(MySqlPool),
}

impl Sql {
    /// [`Sql::connect_with`] the default [`SqlOptions`].
    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        Self::connect_with(url, SqlOptions::default()).await
    }

    /// Connect to `url` (`sqlite://path`, `sqlite::memory:`, `mysql://...`) and run the migrations.
    /// Creates the SQLite file (and its directory) when missing.
    pub async fn connect_with(url: &str, options: SqlOptions) -> Result<Self, sqlx::Error> {
        let sql = if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(options.busy_timeout)
                .foreign_keys(true);
            if let Some(dir) = opts.get_filename().parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir).map_err(sqlx::Error::Io)?;
                }
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .acquire_timeout(options.acquire_timeout)
                .connect_with(opts)
                .await?;
            Sql::Sqlite(pool)
        } else if url.starts_with("mysql:") || url.starts_with("mariadb:") {
            let url = url.replacen("mariadb:", "mysql:", 1);
            let opts = MySqlConnectOptions::from_str(&url)?;
            let pool = MySqlPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(options.acquire_timeout)
                .connect_with(opts)
                .await?;
            Sql::MySql(pool)
        } else {
            return Err(sqlx::Error::Configuration("expected a sqlite: or mysql: URL".into()));
        };
        sql.migrate().await?;
        Ok(sql)
    }

    async fn migrate(&self) -> Result<(), sqlx::Error> {
        match self {
            Sql::Sqlite(p) => sqlx::migrate!("./migrations/sqlite").run(p).await?,
            Sql::MySql(p) => sqlx::migrate!("./migrations/mysql").run(p).await?,
        }
        Ok(())
    }

    /// A trivial round trip, for readiness.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        match self {
            Sql::Sqlite(p) => sqlx::query("SELECT 1").execute(p).await.map(|_| ()),
            Sql::MySql(p) => sqlx::query("SELECT 1").execute(p).await.map(|_| ()),
        }
    }

    pub async fn close(&self) {
        match self {
            Sql::Sqlite(p) => p.close().await,
            Sql::MySql(p) => p.close().await,
        }
    }
}

/// Runs the same expression against whichever pool `sql` holds, binding it to `$pool`. Most queries
/// are written once in the SQL both SQLite and MySQL accept (`?` placeholders, plain INSERT with the
/// unique key deciding races); this expands them into one arm per backend.
///
/// ```text
/// let n: i64 = with_pool!(&self.sql, pool => sqlx::query_scalar("SELECT COUNT(*) FROM accounts").fetch_one(pool).await)?;
/// ```
#[macro_export]
macro_rules! with_pool {
    ($sql:expr, $pool:ident => $body:expr) => {
        match $sql {
            $crate::db::Sql::Sqlite($pool) => $body,
            $crate::db::Sql::MySql($pool) => $body,
        }
    };
}

/// Whether a database error means "the database is not reachable right now" (so the caller should
/// answer 503 and may retry) rather than a bug or a constraint violation.
pub fn is_unavailable(err: &sqlx::Error) -> bool {
    matches!(
        err,
        sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed
    ) || matches!(err, sqlx::Error::Database(db) if is_transient_db_code(db.code().as_deref()))
}

/// MySQL SQLSTATEs for a lost or refused connection; SQLite "busy"/"locked" result codes (the busy
/// timeout already waited for the writer).
fn is_transient_db_code(code: Option<&str>) -> bool {
    matches!(code, Some("08S01" | "08004" | "08001" | "5" | "6" | "261" | "262" | "517"))
}

/// Reserve the oldest due `running` job of a jobs table (`id`, `status`, `next_attempt_at`,
/// `created_at`, `lease_owner`, `lease_until`: backfill's and replay's) for `owner` until `until`,
/// and read it back as `columns`. Two instances never get the same job: SQLite's single writer
/// runs the update atomically; MySQL locks the row it picked and skips rows others hold.
pub async fn claim_due_job<J>(
    sql: &Sql,
    table: &str,
    columns: &str,
    owner: &str,
    now_ms: i64,
    until: i64,
) -> Result<Option<J>, sqlx::Error>
where
    J: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + for<'r> sqlx::FromRow<'r, sqlx::mysql::MySqlRow>,
    J: Send + Unpin,
{
    let due = format!(
        "SELECT id FROM {table} WHERE status = 'running' AND next_attempt_at <= ? \
         ORDER BY next_attempt_at, created_at LIMIT 1"
    );
    match sql {
        Sql::Sqlite(pool) => {
            let sql = format!(
                "UPDATE {table} SET lease_owner = ?, lease_until = ?, next_attempt_at = ? \
                 WHERE id = ({due}) RETURNING {columns}"
            );
            sqlx::query_as(&sql).bind(owner).bind(until).bind(until).bind(now_ms).fetch_optional(pool).await
        }
        Sql::MySql(pool) => {
            let mut tx = pool.begin().await?;
            let id: Option<String> = sqlx::query_scalar(&format!("{due} FOR UPDATE SKIP LOCKED"))
                .bind(now_ms)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(id) = id else {
                tx.rollback().await?;
                return Ok(None);
            };
            let update =
                format!("UPDATE {table} SET lease_owner = ?, lease_until = ?, next_attempt_at = ? WHERE id = ?");
            sqlx::query(&update).bind(owner).bind(until).bind(until).bind(&id).execute(&mut *tx).await?;
            let select = format!("SELECT {columns} FROM {table} WHERE id = ?");
            let job = sqlx::query_as(&select).bind(&id).fetch_optional(&mut *tx).await?;
            tx.commit().await?;
            Ok(job)
        }
    }
}

/// Milliseconds since the Unix epoch, the timestamp format of every table.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

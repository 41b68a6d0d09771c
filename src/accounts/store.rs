//! The `accounts` table. Every statement is plain SQL both SQLite and MySQL accept; races are decided
//! by the unique key on `accid` and by compare-and-set updates on `token`, never by
//! check-then-write.

use sqlx::FromRow;

use super::Role;
use crate::db::{now_ms, Sql};
use crate::with_pool;

/// One row of `accounts`.
#[derive(Clone, PartialEq, Eq, FromRow)]
pub struct AccountRow {
    pub accid: String,
    pub name: Option<String>,
    pub icon: Option<String>,
    pub token: String,
    /// The provider is known to accept `token`.
    pub token_synced: bool,
    /// When the provider first accepted the account; `None` for a reservation.
    pub registered_at_ms: Option<i64>,
    pub blocked: bool,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// `buyer`, `seller` or `agent` once set (see [`crate::accounts::Role`]).
    pub role: Option<String>,
}

impl AccountRow {
    pub fn is_registered(&self) -> bool {
        self.registered_at_ms.is_some()
    }

    /// Registered and the provider accepts the stored token: safe to hand out as is.
    pub fn is_ready(&self) -> bool {
        self.is_registered() && self.token_synced
    }

    /// The account's chat role, once it has one.
    pub fn role(&self) -> Option<Role> {
        self.role.as_deref().and_then(Role::parse)
    }
}

impl std::fmt::Debug for AccountRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountRow")
            .field("accid", &self.accid)
            .field("name", &self.name)
            .field("token", &"[redacted]")
            .field("token_synced", &self.token_synced)
            .field("registered_at_ms", &self.registered_at_ms)
            .field("blocked", &self.blocked)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// What [`AccountStore::mark_synced`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marked {
    /// The row was a reservation; this call registered the account.
    Registered,
    /// The (already registered) row is marked synced.
    Synced,
    /// The row no longer holds the token: nothing changed.
    TokenChanged,
}

const COLUMNS: &str =
    "accid, name, icon, token, token_synced, registered_at_ms, blocked, created_at_ms, updated_at_ms, role";

#[derive(Clone, Debug)]
pub struct AccountStore {
    sql: Sql,
}

impl AccountStore {
    pub fn new(sql: Sql) -> Self {
        Self { sql }
    }

    pub async fn get(&self, accid: &str) -> Result<Option<AccountRow>, sqlx::Error> {
        let query = format!("SELECT {COLUMNS} FROM accounts WHERE accid = ?");
        with_pool!(&self.sql, pool => sqlx::query_as::<_, AccountRow>(&query).bind(accid).fetch_optional(pool).await)
    }

    /// Insert a reservation for `accid` with `token` unless the accid has a row already. Returns
    /// whether this call inserted it; `false` means another request (maybe on another instance) won
    /// and its token is the one to use.
    pub async fn reserve(
        &self,
        accid: &str,
        name: Option<&str>,
        icon: Option<&str>,
        token: &str,
    ) -> Result<bool, sqlx::Error> {
        let now = now_ms();
        let result = with_pool!(&self.sql, pool => sqlx::query(
            "INSERT INTO accounts (accid, name, icon, token, token_synced, registered_at_ms, blocked, created_at_ms, updated_at_ms) \
             VALUES (?, ?, ?, ?, FALSE, NULL, FALSE, ?, ?)",
        )
        .bind(accid).bind(name).bind(icon).bind(token).bind(now).bind(now)
        .execute(pool).await.map(|_| ()));
        match result {
            Ok(()) => Ok(true),
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Drop a reservation that never reached the provider, if it still holds `token`.
    pub async fn release(&self, accid: &str, token: &str) -> Result<(), sqlx::Error> {
        with_pool!(&self.sql, pool => sqlx::query(
            "DELETE FROM accounts WHERE accid = ? AND token = ? AND registered_at_ms IS NULL",
        )
        .bind(accid).bind(token).execute(pool).await.map(|_| ()))
    }

    /// Record that the provider accepts `token`, registering the account if it was a reservation
    /// (`name`/`icon` given then replace the reserved ones). Compare-and-set on `token`: changes
    /// nothing when the row no longer holds it.
    pub async fn mark_synced(
        &self,
        accid: &str,
        token: &str,
        name: Option<&str>,
        icon: Option<&str>,
    ) -> Result<Marked, sqlx::Error> {
        let now = now_ms();
        // Two statements so that, of several instances completing one reservation, exactly one
        // learns that it registered the account.
        let registered = with_pool!(&self.sql, pool => sqlx::query(
            "UPDATE accounts SET token_synced = TRUE, registered_at_ms = ?, name = COALESCE(?, name), \
             icon = COALESCE(?, icon), updated_at_ms = ? WHERE accid = ? AND token = ? AND registered_at_ms IS NULL",
        )
        .bind(now).bind(name).bind(icon).bind(now).bind(accid).bind(token)
        .execute(pool).await.map(|done| done.rows_affected()))?;
        if registered == 1 {
            return Ok(Marked::Registered);
        }
        let synced = with_pool!(&self.sql, pool => sqlx::query(
            "UPDATE accounts SET token_synced = TRUE, updated_at_ms = ? WHERE accid = ? AND token = ?",
        )
        .bind(now).bind(accid).bind(token)
        .execute(pool).await.map(|done| done.rows_affected()))?;
        Ok(if synced == 1 { Marked::Synced } else { Marked::TokenChanged })
    }

    /// Replace the token (compare-and-set on `old`), marked as not yet accepted by the provider.
    pub async fn replace_token(&self, accid: &str, old: &str, new: &str) -> Result<bool, sqlx::Error> {
        let done = with_pool!(&self.sql, pool => sqlx::query(
            "UPDATE accounts SET token = ?, token_synced = FALSE, updated_at_ms = ? WHERE accid = ? AND token = ?",
        )
        .bind(new).bind(now_ms()).bind(accid).bind(old)
        .execute(pool).await.map(|done| done.rows_affected()))?;
        Ok(done == 1)
    }

    /// Store profile fields the provider accepted; `None` leaves a field as it is.
    pub async fn update_profile(&self, accid: &str, name: Option<&str>, icon: Option<&str>) -> Result<(), sqlx::Error> {
        with_pool!(&self.sql, pool => sqlx::query(
            "UPDATE accounts SET name = COALESCE(?, name), icon = COALESCE(?, icon), updated_at_ms = ? WHERE accid = ?",
        )
        .bind(name).bind(icon).bind(now_ms()).bind(accid)
        .execute(pool).await.map(|_| ()))
    }

    pub async fn set_blocked(&self, accid: &str, blocked: bool) -> Result<(), sqlx::Error> {
        with_pool!(&self.sql, pool => sqlx::query("UPDATE accounts SET blocked = ?, updated_at_ms = ? WHERE accid = ?")
            .bind(blocked).bind(now_ms()).bind(accid)
            .execute(pool).await.map(|_| ()))
    }

    /// Give `accid` the role `role` unless it has one already (a role never changes). Returns the
    /// role the account has afterwards, `None` when there is no such row.
    pub async fn claim_role(&self, accid: &str, role: Role) -> Result<Option<String>, sqlx::Error> {
        with_pool!(&self.sql, pool => sqlx::query("UPDATE accounts SET role = ? WHERE accid = ? AND role IS NULL")
            .bind(role.as_str()).bind(accid)
            .execute(pool).await.map(|_| ()))?;
        let query = "SELECT role FROM accounts WHERE accid = ?";
        let role: Option<Option<String>> =
            with_pool!(&self.sql, pool => sqlx::query_scalar(query).bind(accid).fetch_optional(pool).await)?;
        Ok(role.flatten())
    }
}

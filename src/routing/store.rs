//! The routing tables (`shops`, `shop_agents`, `assignments`; migration 0004). Every decision that
//! must hold across instances is made inside one transaction that first takes the shop's lock:
//! SQLite `BEGIN IMMEDIATE` (the database's single writer lock), MySQL/MariaDB `SELECT … FOR UPDATE`
//! on the shop's agent rows. Inside it the agent counters are read fresh, the choice is made, and the
//! counter moves with a conditional update (`open_assignments < capacity`) in the same commit as the
//! assignment row, whose unique key (shop, open buyer) refuses a second open assignment for a buyer.

use std::collections::HashSet;

use sqlx::FromRow;

use super::pick::{self, Candidate, Reason};
use crate::db::Sql;

/// How often a transaction that MySQL chose as a deadlock victim is tried again.
const DEADLOCK_RETRIES: usize = 5;

/// One row of `shops`.
#[derive(Debug, Clone, FromRow)]
pub struct ShopRow {
    pub shop_id: String,
    pub name: String,
    pub owner: String,
    pub sticky_ms: i64,
    pub idle_close_ms: i64,
    pub fallback: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// One row of `shop_agents`, with the account's role.
#[derive(Debug, Clone, FromRow)]
pub struct AgentRow {
    pub accid: String,
    pub name: Option<String>,
    pub capacity: i64,
    pub availability: String,
    pub active: bool,
    pub open_assignments: i64,
    pub last_assigned_at_ms: Option<i64>,
    pub role: Option<String>,
}

/// One row of `assignments`.
#[derive(Debug, Clone, FromRow)]
pub struct AssignmentRow {
    pub id: String,
    pub shop_id: String,
    pub buyer: String,
    pub agent: String,
    pub counted: bool,
    pub reason: String,
    pub status: String,
    pub transferred_from: Option<String>,
    pub created_at_ms: i64,
    pub assigned_at_ms: i64,
    pub activity_at_ms: i64,
    pub closed_at_ms: Option<i64>,
    pub close_reason: Option<String>,
}

impl AssignmentRow {
    pub fn is_open(&self) -> bool {
        self.status == "open"
    }
}

const ASSIGNMENT_COLUMNS: &str = "id, shop_id, buyer, agent, counted, reason, status, transferred_from, \
     created_at_ms, assigned_at_ms, activity_at_ms, closed_at_ms, close_reason";
const AGENT_COLUMNS: &str = "g.accid, g.name, g.capacity, g.availability, g.active, g.open_assignments, \
     g.last_assigned_at_ms, a.role";

/// A shop as stored by `PUT /v1/shops/{id}` (validated).
#[derive(Debug, Clone)]
pub struct ShopSpec {
    pub name: String,
    pub owner: String,
    pub agents: Vec<AgentSpec>,
    pub sticky_ms: i64,
    pub idle_close_ms: i64,
    pub fallback: String,
}

#[derive(Debug, Clone)]
pub struct AgentSpec {
    pub accid: String,
    pub name: Option<String>,
    pub capacity: i64,
}

/// What the routing transaction is to decide with.
#[derive(Debug, Clone)]
pub struct ClaimRequest<'a> {
    pub shop_id: &'a str,
    pub buyer: &'a str,
    /// Agents that are online and that the chat policy lets this buyer talk to.
    pub eligible: &'a HashSet<String>,
    /// The agent of the buyer's recent assignment, if any.
    pub sticky: Option<&'a str>,
    /// The shop owner, when the shop falls back to it (and the policy allows it).
    pub fallback: Option<&'a str>,
    pub now: i64,
}

/// What the routing transaction did.
#[derive(Debug, Clone)]
pub enum Claimed {
    /// The buyer already had an open assignment in the shop: nothing new.
    Existing(AssignmentRow),
    Created(AssignmentRow),
    /// No eligible agent with a free slot and no fallback.
    NoAgent,
}

/// What a transfer did.
#[derive(Debug, Clone)]
pub enum Transferred {
    Done(AssignmentRow),
    /// The target agent has no free slot.
    Full {
        capacity: i64,
    },
    NotOpen(AssignmentRow),
    NotFound,
}

/// A filter and page of `GET /v1/shops/{id}/assignments`.
#[derive(Debug, Clone, Default)]
pub struct AssignmentFilter {
    pub status: Option<String>,
    pub agent: Option<String>,
    pub buyer: Option<String>,
    /// (created_at_ms, id) of the last row of the previous page: newest first.
    pub before: Option<(i64, String)>,
    pub limit: usize,
}

#[derive(Clone, Debug)]
pub struct RoutingStore {
    sql: Sql,
}

/// Runs `$body` (which uses `$tx` as executor and `$for_update` as the locking suffix of a SELECT)
/// inside a transaction that holds the write lock (SQLite) or takes row locks (MySQL); commits on
/// `Ok`, rolls back on `Err`. MySQL deadlock victims are retried.
macro_rules! locked_tx {
    ($sql:expr, $tx:ident, $for_update:ident => $body:expr) => {{
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result: Result<_, sqlx::Error> = match $sql {
                Sql::Sqlite(pool) => {
                    let mut $tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                    let $for_update = "";
                    let out = $body;
                    match out {
                        Ok(v) => $tx.commit().await.map(|_| v),
                        Err(e) => Err(e),
                    }
                }
                Sql::MySql(pool) => {
                    let mut $tx = pool.begin().await?;
                    let $for_update = " FOR UPDATE";
                    let out = $body;
                    match out {
                        Ok(v) => $tx.commit().await.map(|_| v),
                        Err(e) => Err(e),
                    }
                }
            };
            match result {
                Err(err) if attempt < DEADLOCK_RETRIES && is_deadlock(&err) => continue,
                other => break other,
            }
        }
    }};
}

fn is_deadlock(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("40001") | Some("1213")))
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

// Statements shared by the transactions below, as macros so that one text serves the SQLite and the
// MySQL transaction (`$tx` is either). Each evaluates to a `Result` for `?`.

/// Serialize the shop's routing decisions: a row lock on the shop (MySQL), a no-op under SQLite's
/// `BEGIN IMMEDIATE` (which already holds the only write lock).
macro_rules! lock_shop {
    ($tx:ident, $shop_id:expr, $for_update:expr) => {
        sqlx::query_scalar::<_, String>(&format!("SELECT shop_id FROM shops WHERE shop_id = ?{}", $for_update))
            .bind($shop_id)
            .fetch_optional(&mut *$tx)
            .await
            .map(|_| ())
    };
}

/// Take one of the agent's capacity slots if it has a free one; `Ok(false)` if not.
macro_rules! take_slot {
    ($tx:ident, $shop_id:expr, $agent:expr, $now:expr) => {
        sqlx::query(
            "UPDATE shop_agents SET open_assignments = open_assignments + 1, last_assigned_at_ms = ?, updated_at_ms = ? \
             WHERE shop_id = ? AND accid = ? AND active = TRUE AND open_assignments < capacity",
        )
        .bind($now)
        .bind($now)
        .bind($shop_id)
        .bind($agent)
        .execute(&mut *$tx)
        .await
        .map(|done| done.rows_affected() == 1)
    };
}

/// Give a slot back.
macro_rules! free_slot {
    ($tx:ident, $shop_id:expr, $agent:expr, $now:expr) => {
        sqlx::query(
            "UPDATE shop_agents SET open_assignments = open_assignments - 1, updated_at_ms = ? \
             WHERE shop_id = ? AND accid = ? AND open_assignments > 0",
        )
        .bind($now)
        .bind($shop_id)
        .bind($agent)
        .execute(&mut *$tx)
        .await
        .map(|_| ())
    };
}

macro_rules! fetch_in_shop {
    ($tx:ident, $shop_id:expr, $id:expr) => {
        sqlx::query_as::<_, AssignmentRow>(&format!(
            "SELECT {ASSIGNMENT_COLUMNS} FROM assignments WHERE shop_id = ? AND id = ?"
        ))
        .bind($shop_id)
        .bind($id)
        .fetch_optional(&mut *$tx)
        .await
    };
}

macro_rules! fetch_assignment {
    ($tx:ident, $id:expr) => {
        sqlx::query_as::<_, AssignmentRow>(&format!("SELECT {ASSIGNMENT_COLUMNS} FROM assignments WHERE id = ?"))
            .bind($id)
            .fetch_one(&mut *$tx)
            .await
    };
}

impl RoutingStore {
    pub fn new(sql: Sql) -> Self {
        Self { sql }
    }

    pub async fn shop(&self, shop_id: &str) -> Result<Option<ShopRow>, sqlx::Error> {
        let query = "SELECT shop_id, name, owner, sticky_ms, idle_close_ms, fallback, created_at_ms, updated_at_ms \
                     FROM shops WHERE shop_id = ?";
        crate::with_pool!(&self.sql, pool => sqlx::query_as::<_, ShopRow>(query).bind(shop_id).fetch_optional(pool).await)
    }

    /// The first `limit` shops by id (the operator console).
    pub async fn shops(&self, limit: u32) -> Result<Vec<ShopRow>, sqlx::Error> {
        let query = "SELECT shop_id, name, owner, sticky_ms, idle_close_ms, fallback, created_at_ms, updated_at_ms \
                     FROM shops ORDER BY shop_id LIMIT ?";
        crate::with_pool!(&self.sql, pool => sqlx::query_as::<_, ShopRow>(query).bind(i64::from(limit)).fetch_all(pool).await)
    }

    /// Create or replace the shop's definition. Agents left out become inactive (their counters and
    /// open assignments stay); listed ones keep their availability and counters.
    pub async fn put_shop(&self, shop_id: &str, spec: &ShopSpec, now: i64) -> Result<(), sqlx::Error> {
        let upsert_shop = match &self.sql {
            Sql::Sqlite(_) => {
                "INSERT INTO shops (shop_id, name, owner, sticky_ms, idle_close_ms, fallback, created_at_ms, updated_at_ms) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (shop_id) DO UPDATE SET name = excluded.name, \
                 owner = excluded.owner, sticky_ms = excluded.sticky_ms, idle_close_ms = excluded.idle_close_ms, \
                 fallback = excluded.fallback, updated_at_ms = excluded.updated_at_ms"
            }
            Sql::MySql(_) => {
                "INSERT INTO shops (shop_id, name, owner, sticky_ms, idle_close_ms, fallback, created_at_ms, updated_at_ms) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE name = VALUES(name), owner = VALUES(owner), \
                 sticky_ms = VALUES(sticky_ms), idle_close_ms = VALUES(idle_close_ms), fallback = VALUES(fallback), \
                 updated_at_ms = VALUES(updated_at_ms)"
            }
        };
        let upsert_agent = match &self.sql {
            Sql::Sqlite(_) => {
                "INSERT INTO shop_agents (shop_id, accid, name, capacity, active, position, updated_at_ms) \
                 VALUES (?, ?, ?, ?, TRUE, ?, ?) ON CONFLICT (shop_id, accid) DO UPDATE SET name = excluded.name, \
                 capacity = excluded.capacity, active = TRUE, position = excluded.position, updated_at_ms = excluded.updated_at_ms"
            }
            Sql::MySql(_) => {
                "INSERT INTO shop_agents (shop_id, accid, name, capacity, active, position, updated_at_ms) \
                 VALUES (?, ?, ?, ?, TRUE, ?, ?) ON DUPLICATE KEY UPDATE name = VALUES(name), \
                 capacity = VALUES(capacity), active = TRUE, position = VALUES(position), updated_at_ms = VALUES(updated_at_ms)"
            }
        };
        locked_tx!(&self.sql, tx, _for_update => async {
            sqlx::query(upsert_shop)
                .bind(shop_id).bind(&spec.name).bind(&spec.owner).bind(spec.sticky_ms).bind(spec.idle_close_ms)
                .bind(&spec.fallback).bind(now).bind(now)
                .execute(&mut *tx).await?;
            sqlx::query("UPDATE shop_agents SET active = FALSE, updated_at_ms = ? WHERE shop_id = ? AND active = TRUE")
                .bind(now).bind(shop_id)
                .execute(&mut *tx).await?;
            for (position, agent) in spec.agents.iter().enumerate() {
                sqlx::query(upsert_agent)
                    .bind(shop_id).bind(&agent.accid).bind(&agent.name).bind(agent.capacity)
                    .bind(position as i64).bind(now)
                    .execute(&mut *tx).await?;
            }
            Ok(())
        }.await)
    }

    /// The shop's agents in list order: the active ones, then removed ones that still hold open
    /// assignments (when `with_removed`).
    pub async fn agents(&self, shop_id: &str, with_removed: bool) -> Result<Vec<AgentRow>, sqlx::Error> {
        let removed = if with_removed { "OR g.open_assignments > 0" } else { "" };
        let query = format!(
            "SELECT {AGENT_COLUMNS} FROM shop_agents g LEFT JOIN accounts a ON a.accid = g.accid \
             WHERE g.shop_id = ? AND (g.active = TRUE {removed}) ORDER BY g.active DESC, g.position, g.accid"
        );
        crate::with_pool!(&self.sql, pool => sqlx::query_as::<_, AgentRow>(&query).bind(shop_id).fetch_all(pool).await)
    }

    /// Set an active agent's availability; `false` when it is not one of the shop's agents.
    pub async fn set_availability(
        &self,
        shop_id: &str,
        accid: &str,
        availability: &str,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let done = crate::with_pool!(&self.sql, pool => sqlx::query(
            "UPDATE shop_agents SET availability = ?, updated_at_ms = ? WHERE shop_id = ? AND accid = ? AND active = TRUE",
        )
        .bind(availability).bind(now).bind(shop_id).bind(accid)
        .execute(pool).await.map(|d| d.rows_affected()))?;
        if done == 1 {
            return Ok(true);
        }
        // MySQL counts only changed rows: setting the same value again affects none.
        let exists: Option<i64> = crate::with_pool!(&self.sql, pool => sqlx::query_scalar(
            "SELECT 1 FROM shop_agents WHERE shop_id = ? AND accid = ? AND active = TRUE",
        )
        .bind(shop_id).bind(accid)
        .fetch_optional(pool).await)?;
        Ok(exists.is_some())
    }

    pub async fn assignment(&self, shop_id: &str, id: &str) -> Result<Option<AssignmentRow>, sqlx::Error> {
        let query = format!("SELECT {ASSIGNMENT_COLUMNS} FROM assignments WHERE shop_id = ? AND id = ?");
        crate::with_pool!(&self.sql, pool => sqlx::query_as::<_, AssignmentRow>(&query).bind(shop_id).bind(id).fetch_optional(pool).await)
    }

    /// The buyer's newest assignment in the shop (open or closed).
    pub async fn latest_assignment(&self, shop_id: &str, buyer: &str) -> Result<Option<AssignmentRow>, sqlx::Error> {
        let query = format!(
            "SELECT {ASSIGNMENT_COLUMNS} FROM assignments WHERE shop_id = ? AND buyer = ? \
             ORDER BY created_at_ms DESC, id DESC LIMIT 1"
        );
        crate::with_pool!(&self.sql, pool => sqlx::query_as::<_, AssignmentRow>(&query).bind(shop_id).bind(buyer).fetch_optional(pool).await)
    }

    /// Decide and record, in one transaction holding the shop's lock (see the module docs).
    pub async fn claim(&self, request: &ClaimRequest<'_>) -> Result<Claimed, sqlx::Error> {
        for _ in 0..DEADLOCK_RETRIES {
            match self.claim_once(request).await {
                Ok(Some(claimed)) => return Ok(claimed),
                // Contended: try again with fresh counters.
                Ok(None) => continue,
                // A concurrent request for the same buyer won: the next round finds its assignment.
                Err(err) if is_unique_violation(&err) => continue,
                Err(err) => return Err(err),
            }
        }
        Err(sqlx::Error::Protocol("routing kept being contended; giving up".into()))
    }

    async fn claim_once(&self, request: &ClaimRequest<'_>) -> Result<Option<Claimed>, sqlx::Error> {
        let open_query = format!("SELECT {ASSIGNMENT_COLUMNS} FROM assignments WHERE shop_id = ? AND open_buyer = ?");
        let id = uuid::Uuid::new_v4().to_string();
        locked_tx!(&self.sql, tx, for_update => async {
            lock_shop!(tx, request.shop_id, for_update)?;
            if let Some(open) = sqlx::query_as::<_, AssignmentRow>(&open_query)
                .bind(request.shop_id).bind(request.buyer)
                .fetch_optional(&mut *tx).await?
            {
                return Ok(Some(Claimed::Existing(open)));
            }
            let rows: Vec<(String, i64, Option<i64>)> = sqlx::query_as(
                "SELECT accid, open_assignments, last_assigned_at_ms FROM shop_agents \
                 WHERE shop_id = ? AND active = TRUE AND availability = 'available' AND open_assignments < capacity",
            )
            .bind(request.shop_id).fetch_all(&mut *tx).await?;
            let candidates: Vec<Candidate> = rows
                .into_iter()
                .filter(|(accid, _, _)| request.eligible.contains(accid))
                .map(|(accid, open, last)| Candidate { accid, open, last_assigned_at_ms: last })
                .collect();
            let (agent, reason, counted) = match pick::choose(&candidates, request.sticky) {
                Some((chosen, reason)) => (chosen.accid.clone(), reason, true),
                None => match request.fallback {
                    Some(owner) => (owner.to_owned(), Reason::Fallback, false),
                    None => return Ok(Some(Claimed::NoAgent)),
                },
            };
            if counted && !take_slot!(tx, request.shop_id, &agent, request.now)? {
                return Ok(None);
            }
            sqlx::query(
                "INSERT INTO assignments (id, shop_id, buyer, agent, counted, reason, status, open_buyer, \
                 created_at_ms, assigned_at_ms, activity_at_ms) VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?)",
            )
            .bind(&id).bind(request.shop_id).bind(request.buyer).bind(&agent).bind(counted)
            .bind(reason.as_str()).bind(request.buyer).bind(request.now).bind(request.now).bind(request.now)
            .execute(&mut *tx).await?;
            let row = fetch_assignment!(tx, &id)?;
            Ok(Some(Claimed::Created(row)))
        }.await)
    }

    /// Move an open assignment to `to` (`counted`: `to` is an agent whose capacity applies; else
    /// the owner). The old agent's slot is freed in the same transaction.
    pub async fn transfer(
        &self,
        shop_id: &str,
        id: &str,
        to: &str,
        counted: bool,
        now: i64,
    ) -> Result<Transferred, sqlx::Error> {
        locked_tx!(&self.sql, tx, for_update => async {
            lock_shop!(tx, shop_id, for_update)?;
            let Some(current) = fetch_in_shop!(tx, shop_id, id)? else {
                return Ok(Transferred::NotFound);
            };
            if !current.is_open() {
                return Ok(Transferred::NotOpen(current));
            }
            if current.agent == to {
                return Ok(Transferred::Done(current));
            }
            if counted && !take_slot!(tx, shop_id, to, now)? {
                let capacity: Option<i64> = sqlx::query_scalar(
                    "SELECT capacity FROM shop_agents WHERE shop_id = ? AND accid = ?",
                )
                .bind(shop_id).bind(to).fetch_optional(&mut *tx).await?;
                return Ok(Transferred::Full { capacity: capacity.unwrap_or(0) });
            }
            if current.counted {
                free_slot!(tx, shop_id, &current.agent, now)?;
            }
            sqlx::query(
                "UPDATE assignments SET agent = ?, counted = ?, transferred_from = ?, assigned_at_ms = ?, \
                 activity_at_ms = ? WHERE id = ?",
            )
            .bind(to).bind(counted).bind(&current.agent).bind(now).bind(now).bind(id)
            .execute(&mut *tx).await?;
            Ok(Transferred::Done(fetch_assignment!(tx, id)?))
        }.await)
    }

    /// Close an open assignment and free its agent's slot. With `idle_since`, only if its activity
    /// is still that (the idle sweeper's compare-and-set). `None` when there is no such assignment;
    /// an assignment already closed is returned as it is.
    pub async fn close(
        &self,
        shop_id: &str,
        id: &str,
        reason: &str,
        idle_since: Option<i64>,
        now: i64,
    ) -> Result<Option<AssignmentRow>, sqlx::Error> {
        locked_tx!(&self.sql, tx, for_update => async {
            lock_shop!(tx, shop_id, for_update)?;
            let Some(current) = fetch_in_shop!(tx, shop_id, id)? else {
                return Ok(None);
            };
            if !current.is_open() || idle_since.is_some_and(|at| at != current.activity_at_ms) {
                return Ok(Some(current));
            }
            if current.counted {
                free_slot!(tx, shop_id, &current.agent, now)?;
            }
            sqlx::query(
                "UPDATE assignments SET status = 'closed', open_buyer = NULL, closed_at_ms = ?, close_reason = ? WHERE id = ?",
            )
            .bind(now).bind(reason).bind(id)
            .execute(&mut *tx).await?;
            Ok(Some(fetch_assignment!(tx, id)?))
        }.await)
    }

    /// Record a newer message seen in an open assignment's conversation (compare-and-set on the
    /// activity the caller read, so it only moves forward).
    pub async fn touch(&self, id: &str, seen: i64, newer: i64) -> Result<(), sqlx::Error> {
        crate::with_pool!(&self.sql, pool => sqlx::query(
            "UPDATE assignments SET activity_at_ms = ? WHERE id = ? AND status = 'open' AND activity_at_ms = ? AND ? > activity_at_ms",
        )
        .bind(newer).bind(id).bind(seen).bind(newer)
        .execute(pool).await.map(|_| ()))
    }

    /// Open assignments whose last activity is older than their shop's `idle_close_ms`, oldest
    /// activity first, at most `limit`.
    pub async fn idle(&self, now: i64, limit: usize) -> Result<Vec<AssignmentRow>, sqlx::Error> {
        let columns: Vec<String> = ASSIGNMENT_COLUMNS.split(", ").map(|c| format!("x.{c}")).collect();
        let query = format!(
            "SELECT {} FROM assignments x JOIN shops s ON s.shop_id = x.shop_id \
             WHERE x.status = 'open' AND x.activity_at_ms < ? - s.idle_close_ms ORDER BY x.activity_at_ms LIMIT ?",
            columns.join(", ")
        );
        crate::with_pool!(&self.sql, pool => sqlx::query_as::<_, AssignmentRow>(&query).bind(now).bind(limit as i64).fetch_all(pool).await)
    }

    /// A page of the shop's assignments, newest first.
    pub async fn list(&self, shop_id: &str, filter: &AssignmentFilter) -> Result<Vec<AssignmentRow>, sqlx::Error> {
        let mut query = format!("SELECT {ASSIGNMENT_COLUMNS} FROM assignments WHERE shop_id = ?");
        if filter.status.is_some() {
            query.push_str(" AND status = ?");
        }
        if filter.agent.is_some() {
            query.push_str(" AND agent = ?");
        }
        if filter.buyer.is_some() {
            query.push_str(" AND buyer = ?");
        }
        if filter.before.is_some() {
            query.push_str(" AND (created_at_ms < ? OR (created_at_ms = ? AND id < ?))");
        }
        query.push_str(" ORDER BY created_at_ms DESC, id DESC LIMIT ?");
        crate::with_pool!(&self.sql, pool => {
            let mut q = sqlx::query_as::<_, AssignmentRow>(&query).bind(shop_id);
            for value in [&filter.status, &filter.agent, &filter.buyer].into_iter().flatten() {
                q = q.bind(value);
            }
            if let Some((at, id)) = &filter.before {
                q = q.bind(*at).bind(*at).bind(id);
            }
            q.bind(filter.limit as i64).fetch_all(pool).await
        })
    }

    /// Checks for tests and the benchmark: agents whose counter disagrees with their open counted
    /// assignments, or who hold more than their capacity. Empty when all is well.
    pub async fn capacity_violations(&self) -> Result<Vec<String>, sqlx::Error> {
        let query = "SELECT g.shop_id, g.accid, g.capacity, g.open_assignments, \
                     (SELECT COUNT(*) FROM assignments x WHERE x.shop_id = g.shop_id AND x.agent = g.accid \
                      AND x.status = 'open' AND x.counted = TRUE) AS counted_open \
                     FROM shop_agents g";
        let rows: Vec<(String, String, i64, i64, i64)> =
            crate::with_pool!(&self.sql, pool => sqlx::query_as(query).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .filter(|(_, _, capacity, counter, open)| counter != open || open > capacity)
            .map(|(shop, accid, capacity, counter, open)| {
                format!("{shop}/{accid}: capacity {capacity}, counter {counter}, open {open}")
            })
            .collect())
    }
}

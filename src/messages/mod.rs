//! The callback data stores: what the provider copies to us (messages, recalls, read receipts, presence,
//! and every raw body) kept as facts, and the unread counts computed from them.
//!
//! State is facts, not counters (shared/design.md): messages keyed by the provider's message key,
//! recalls keyed by the message key they recall, one read watermark per (reader, peer) that only
//! moves forward, presence per client type where the newest timestamp wins. Every write is idempotent and
//! order-independent, so duplicate and shuffled deliveries converge to the same state.
//!
//! Two backends with one behaviour (one conformance suite, `tests/message_store`):
//! - [`MongoMessageStore`] for production (`IMBRIDGE_MONGODB_URI`);
//! - [`EmbeddedMessageStore`], a SQLite file of its own, so `cargo run` needs no MongoDB.
//!
//! Each stored message document keeps the provider's own field names (the platform's other systems
//! read it) plus a few fields of ours:
//! - `state`: 0 unread, 1 read; always agrees with the (reader, peer) read watermark;
//! - `recalled`: the message was recalled (the recall may have arrived first);
//! - `from`: the sender, lowercased; `to` is rewritten lowercased for one-to-one conversations;
//! - `conversation`: `p2p`, `team`, `p2p_system`, `team_system` or `other`;
//! - `countsUnread`: a one-to-one chat message that counts towards unread (not TIPS, not a system
//!   notification);
//! - `key`: the provider-neutral message key, `{provider}:{its message id}` ([`message_key`]), what
//!   the unique index, recalls and conversation summaries name; `sentAt`: the sent-at in ms.
//!
//! A NetEase document therefore still has `msgidServer` (a string) and `msgTimestamp` (a number) as
//! the platform's other systems read them, a Tencent one `MsgKey` and `MsgTime` (seconds). Data
//! stored before keys had a provider (bare NetEase `msgidServer`s) is migrated once, automatically,
//! when a store opens (see each backend).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use imbridge_provider::Event;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

mod audit;
mod embedded;
mod model;
mod mongo;
mod recent;

pub use audit::{AuditPage, StoredRaw};

pub use embedded::EmbeddedMessageStore;
pub use model::{message_key, provider_message_id};
pub(crate) use model::{F_FROM, F_KEY, F_RECALLED, F_SENT_AT, F_STATE, F_TO};
pub use mongo::{MongoMessageStore, MongoStoreOptions};
pub use recent::RawFilter;

/// A callback body as received, for the audit trail (and the dead-letter store).
#[derive(Debug, Clone)]
pub struct RawCallback {
    /// The provider's short name (`"netease"`).
    pub provider: String,
    /// The provider's event type (`"1"`, `"30"`, ...); empty when the body could not be parsed.
    pub event_type: String,
    /// The body bytes exactly as received.
    pub body: Bytes,
    /// The request's path and query as received: Tencent puts facts there that its body lacks
    /// (`OptPlatform`, `CallbackCommand`), so a replay needs it to parse the body again. Empty for
    /// what did not arrive as a callback (backfill, mark-read) and for rows kept before this field.
    pub path_and_query: String,
    pub received_at: SystemTime,
}

/// What [`MessageStore::apply`] takes: one callback's raw body (for the audit trail) and the events
/// parsed from it. Mostly a verified callback; also what a backfill imports or a mark-read records.
#[derive(Debug, Clone)]
pub struct CallbackRecord {
    pub raw: RawCallback,
    pub events: Vec<Event>,
}

/// What [`MessageStore::apply`] did with one callback, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyOutcome {
    /// Events that were applied: new messages and recalls, and every read report and presence event
    /// (those merge newest-wins, so they have no notion of a duplicate). `Other` events count in
    /// neither field: they are stored raw only.
    pub applied: u32,
    /// Messages and recalls whose key was already stored: a redelivery that changed nothing.
    pub duplicates: u32,
    /// This exact body (same provider, same bytes) was already in the raw audit trail.
    pub raw_duplicate: bool,
}

/// The newest known presence of one client type of one account.
#[derive(Debug, Clone, PartialEq)]
pub struct PresenceRecord {
    /// Lowercased.
    pub accid: String,
    /// Lowercased (`aos`, `ios`, `web`, ...).
    pub client_type: String,
    /// The device of the newest event, when the provider named one.
    pub device_id: Option<String>,
    pub online: bool,
    pub at_ms: i64,
    /// Why it went offline, when the provider said (NetEase `logOutReason`).
    pub logout_reason: Option<i64>,
    /// The stored document: the provider's own fields of the newest event plus ours (`accid`,
    /// `client`, `online`, `atMs`).
    pub document: Value,
}

/// A signed callback that could not be parsed, kept so that nothing is lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The body's digest (provider and bytes): what names a dead letter in the API and the console.
    pub id: String,
    pub provider: String,
    pub event_type: String,
    pub body: Bytes,
    pub reason: String,
    /// As [`RawCallback::path_and_query`].
    pub path_and_query: String,
    /// Milliseconds since the epoch (what both backends keep).
    pub received_at_ms: i64,
}

/// The summary of one one-to-one conversation as its owner sees it: the newest message in either
/// direction. Kept in the same write as the messages, and always equal to a recomputation from them
/// (the newest by (sent-at, key) wins, so order and duplicates do not matter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationSummary {
    pub peer: String,
    pub last_at_ms: i64,
    pub last_key: String,
}

/// Which of an owner's conversations to list: newest activity first (ties by peer ascending), only
/// those whose last activity is at or before `as_of_ms`, after the (`last_at_ms`, peer) cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationPage {
    pub as_of_ms: i64,
    pub after: Option<(i64, String)>,
    pub limit: usize,
    /// Only these peers (lowercased), when given.
    pub peers: Option<Vec<String>>,
}

/// Messages between two accounts (both directions, one-to-one chat only) sent within
/// `from_ms..=to_ms`, ordered by (sent-at, key) ascending or descending, after the cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairQuery {
    pub from_ms: i64,
    pub to_ms: i64,
    pub after: Option<(i64, String)>,
    pub ascending: bool,
    pub limit: usize,
    /// Only the messages this account sent, when given.
    pub only_from: Option<String>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or cannot take the write now (network, pool exhausted,
    /// primary stepping down, disk busy, write concern not satisfied). Nothing was acknowledged;
    /// a retry may succeed. Routes answer 503.
    #[error("message store unavailable")]
    Unavailable(#[source] BoxError),
    /// Anything else (a document the database refuses, a bug). Routes answer 500.
    #[error("message store failed")]
    Internal(#[source] BoxError),
}

impl StoreError {
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// The callback data store. Both implementations pass the same conformance suite.
#[async_trait]
pub trait MessageStore: Send + Sync + 'static {
    /// `"mongodb"` or `"sqlite"`, for logs and metrics.
    fn backend(&self) -> &'static str;

    /// Durably store a batch of verified callbacks: each raw body (audit trail, expiring after the
    /// configured retention) and its events. A single callback is a batch of one; group commit
    /// passes many, and each collection gets one bulk write for the whole batch.
    ///
    /// Idempotent and order-independent: applying callbacks again, in any order or batch split,
    /// leaves the same state. Returns one outcome per callback, in batch order. On `Err` nothing is
    /// acknowledged; part of the batch may be stored, and applying it again completes it.
    async fn apply(&self, batch: &[CallbackRecord]) -> Result<Vec<ApplyOutcome>, StoreError>;

    /// Keep a signed body that could not be parsed. Idempotent on (provider, body).
    async fn dead_letter(&self, raw: &RawCallback, reason: &str) -> Result<(), StoreError>;

    /// Unread messages for `reader` from each of `peers`, in one query: one-to-one chat messages
    /// from the peer to the reader sent after the reader's watermark for that peer, not recalled.
    /// Accids are compared lowercased. The map has every requested peer as given (zero included).
    async fn unread(&self, reader: &str, peers: &[String]) -> Result<HashMap<String, u64>, StoreError>;

    /// One round trip to the database, for readiness.
    async fn ping(&self) -> Result<(), StoreError>;

    /// The stored message document with this key (the provider's fields plus ours, see the module
    /// documentation), or `None`.
    async fn get_message(&self, key: &str) -> Result<Option<Value>, StoreError>;

    /// Where `reader` has read the conversation with `peer` up to (ms), if any receipt arrived.
    async fn read_watermark(&self, reader: &str, peer: &str) -> Result<Option<i64>, StoreError>;

    /// The newest presence of each client type of each of `accids`, in one query, ordered by
    /// accid then client type. Accounts never seen have no records.
    async fn presence(&self, accids: &[String]) -> Result<Vec<PresenceRecord>, StoreError>;

    /// How many raw bodies the audit trail holds (distinct bodies; a redelivery is stored once).
    async fn raw_count(&self) -> Result<u64, StoreError>;

    /// The newest `limit` dead letters, newest first.
    async fn dead_letters(&self, limit: u32) -> Result<Vec<DeadLetter>, StoreError>;

    /// A page of `owner`'s one-to-one conversations (see [`ConversationPage`]), one indexed query.
    async fn conversation_page(
        &self,
        owner: &str,
        page: &ConversationPage,
    ) -> Result<Vec<ConversationSummary>, StoreError>;

    /// `owner`'s conversations with activity after `since_ms`, newest first, at most `cap`.
    async fn conversations_since(
        &self,
        owner: &str,
        since_ms: i64,
        cap: usize,
    ) -> Result<Vec<ConversationSummary>, StoreError>;

    /// The stored documents of these message keys (as [`MessageStore::get_message`]), in no order;
    /// unknown keys are left out.
    async fn messages_by_key(&self, keys: &[String]) -> Result<Vec<Value>, StoreError>;

    /// The messages between `a` and `b` (see [`PairQuery`]), as stored documents.
    async fn pair_messages(&self, a: &str, b: &str, query: &PairQuery) -> Result<Vec<Value>, StoreError>;

    /// Unread messages for `reader` from every peer that has any (the rule of
    /// [`MessageStore::unread`]), in one query whose cost grows with the unread messages only.
    async fn unread_all(&self, reader: &str) -> Result<HashMap<String, u64>, StoreError>;

    /// The sum of [`MessageStore::unread_all`], counted without grouping (an inbox page's total).
    async fn unread_total(&self, reader: &str) -> Result<u64, StoreError>;

    /// Where each of `readers` has read its conversation with `peer` up to (ms), for those that have.
    async fn watermarks_on(&self, peer: &str, readers: &[String]) -> Result<HashMap<String, i64>, StoreError>;

    /// Delete raw bodies whose retention ended at or before `now`; returns how many. The embedded
    /// store relies on this (see [`spawn_raw_purge`]); MongoDB's TTL index does it by itself, and
    /// this only hurries it.
    async fn purge_expired_raw(&self, now: SystemTime) -> Result<u64, StoreError>;

    /// A page of the raw audit trail (see [`AuditPage`]), one indexed query. Replay reads the trail
    /// back with it; reading changes nothing (not even a row's retention).
    async fn raw_page(&self, page: &AuditPage) -> Result<Vec<StoredRaw>, StoreError>;

    /// A page of the dead letters (see [`AuditPage`]; `event_types` does not apply).
    async fn dead_letter_page(&self, page: &AuditPage) -> Result<Vec<DeadLetter>, StoreError>;

    /// The dead letter with this id (its digest), or `None`.
    async fn dead_letter_by_id(&self, id: &str) -> Result<Option<DeadLetter>, StoreError>;

    /// Remove a dead letter (once its body has been applied); `false` when there was none.
    async fn remove_dead_letter(&self, id: &str) -> Result<bool, StoreError>;

    /// Record why a dead letter still fails (the parser may now say something else).
    async fn set_dead_letter_reason(&self, id: &str, reason: &str) -> Result<(), StoreError>;

    /// The newest `limit` raw callbacks matching `filter`, newest first (the operator console).
    async fn recent_raw(&self, limit: u32, filter: &RawFilter) -> Result<Vec<StoredRaw>, StoreError>;
}

/// Purge expired raw bodies every `every` until `cancel` fires. Failures are logged and retried at
/// the next tick: the audit trail outliving its retention a little is harmless.
pub fn spawn_raw_purge(
    store: Arc<dyn MessageStore>,
    every: Duration,
    cancel: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = ticker.tick() => {}
            }
            match store.purge_expired_raw(SystemTime::now()).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(purged = n, backend = store.backend(), "expired raw callbacks purged"),
                Err(e) => {
                    tracing::warn!(error = %e, cause = ?std::error::Error::source(&e), "raw callback purge failed")
                }
            }
        }
    })
}

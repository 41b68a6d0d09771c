//! The MongoDB message store (production).
//!
//! Collections, created with their indexes at start-up, or when MongoDB is unreachable then, by the
//! first operation that needs them (see [`MongoMessageStore::start`]):
//! - `messages`: the provider's message documents plus ours (see the `messages` module); unique
//!   `to_key` = {to, key}, and {key} for lookups; `unread` = {to, from, countsUnread, recalled,
//!   sentAt} partial on {conversation: "p2p", state: 0}, so it holds only unread one-to-one
//!   messages; `pair` = {to, from, sentAt, key};
//! - `read_watermarks`: `_id` "reader|peer" (accids cannot contain `|`), `readUpToMs` moved by `$max`;
//! - `unread_counts`: `_id` "reader|peer", the kept unread count `n` (unread.rs), {reader, n};
//! - `recalls`: `_id` = the recalled message key;
//! - `presence_clients`: unique {accid, client} (client type lowercased), replaced only by a newer event;
//! - `raw_callbacks`: `_id` = digest of the body, TTL index on `expireAt`;
//! - `dead_letters`: `_id` = digest of the body;
//! - `imbridge_meta`: which data migrations have run (migrate.rs; NetEase-only data from before
//!   provider-neutral keys is migrated automatically at start-up).
//!
//! Every write is a unique insert, a `$max`/conditional upsert or an `update_many` that only moves
//! flags one way; nothing reads and then writes on the strength of what it read (apply.rs explains
//! how `state`/`recalled` still converge under concurrency), except the unread counts, whose
//! recounts a generation orders (unread.rs).
//!
//! Sharding (when one replica set is not enough): shard `messages` on `{to: 1}` (or
//! `{to: "hashed"}`): one reader's messages then live on one shard and the unread query, which
//! always names `to`, is targeted. A unique index must be prefixed by the shard key, which is why
//! the unique index is `{to: 1, key: 1}` rather than `{key: 1}`: as good for idempotency, since a
//! redelivery has the same receiver.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, DateTime, Document};
use mongodb::options::{ClientOptions, DatabaseOptions, IndexOptions, WriteConcern};
use mongodb::{Client, Database, IndexModel};
use serde_json::Value;

use super::model::{lower, millis, RawRow, F_KEY, F_PRESENCE_CLIENT, F_SENT_AT};
use super::{
    ApplyOutcome, AuditPage, CallbackRecord, ConversationPage, ConversationSummary, DeadLetter, MessageStore,
    PairQuery, PresenceRecord, RawCallback, StoreError, StoredRaw,
};

mod apply;
mod bulk;
mod console;
mod convert;
mod errors;
mod migrate;
mod replay;
mod unread;

use convert::{bson_to_json, document_to_object, integer};
use errors::mongo_error;

const MESSAGES: &str = "messages";
const WATERMARKS: &str = "read_watermarks";
const RECALLS: &str = "recalls";
/// Presence per (accid, client type). The earlier `presence` collection, keyed by device, is no
/// longer read (NetEase does not always name the device); it can be dropped.
const PRESENCE: &str = "presence_clients";
const RAW: &str = "raw_callbacks";
/// Per (owner, peer): the newest one-to-one message in either direction (`_id` = `owner|peer`).
const CONVERSATIONS: &str = "conversations";
const PAIR_INDEX: &str = "pair";
/// The unique index of `messages`: {to, key}.
const KEY_INDEX: &str = "to_key";
const DEAD_LETTERS: &str = "dead_letters";

/// Name of the partial index over unread-eligible messages: the recount's per-pair counts plan onto
/// it (unread.rs), and the first migration to kept counts walks it.
const UNREAD_INDEX: &str = "unread";

/// How long an operation waits for a usable server before the store counts as unavailable,
/// unless the URI says otherwise (the driver's default is 30 s, too long for a callback).
const SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the driver checks the servers, unless the URI says otherwise. An operation whose
/// connection stops answering (a partition) only fails once a check notices, so this bounds how
/// long a callback can hang on a dead primary (with the connect timeout); the driver's 10 s
/// default would make that 15 s.
const HEARTBEAT: Duration = Duration::from_secs(2);

/// Everything [`MongoMessageStore::connect_with`] needs besides the URI.
#[derive(Clone, Debug)]
pub struct MongoStoreOptions {
    pub database: String,
    /// How long raw callback bodies are kept.
    pub raw_retention: Duration,
    /// Acknowledge only when a majority has journaled the write (default): a callback is answered
    /// 200 only once it survives a primary failover.
    pub write_concern: WriteConcern,
}

impl MongoStoreOptions {
    pub fn new(database: impl Into<String>, raw_retention: Duration) -> Self {
        MongoStoreOptions {
            database: database.into(),
            raw_retention,
            write_concern: WriteConcern::builder().w(mongodb::options::Acknowledgment::Majority).journal(true).build(),
        }
    }
}

/// The MongoDB message store. Cheap to clone (the client is shared).
#[derive(Clone, Debug)]
pub struct MongoMessageStore {
    db: Database,
    /// The write concern as a command field, for the `update` commands we run ourselves.
    write_concern: Document,
    raw_retention: Duration,
    indexes: Arc<IndexSetup>,
}

/// Whether the collections and indexes exist yet. Writes and the unread queries make sure of it
/// first: a message inserted before the unique index exists could be stored twice.
#[derive(Debug, Default)]
struct IndexSetup {
    done: AtomicBool,
    /// Attempts that finished (and failed, unless `done`).
    finished: AtomicU64,
    /// Held while an attempt runs.
    turn: tokio::sync::Mutex<()>,
}

/// The collections and indexes are not created yet: the last attempt failed.
#[derive(Debug, thiserror::Error)]
#[error("the MongoDB collections and indexes are not created yet (the last attempt failed)")]
struct IndexesPending;

impl MongoMessageStore {
    /// The documents of `collection` matching `filter`, without MongoDB's `_id`, in `sort` order
    /// (none when empty), at most `limit` of them (all when `None`).
    async fn find_all(
        &self,
        collection: &'static str,
        filter: Document,
        sort: Document,
        limit: Option<usize>,
    ) -> Result<Vec<Document>, StoreError> {
        self.collection(collection)
            .find(filter)
            .projection(doc! { "_id": 0 })
            .sort(sort)
            .limit(limit.map_or(0, |l| i64::try_from(l).unwrap_or(i64::MAX)))
            .await
            .map_err(mongo_error)?
            .try_collect()
            .await
            .map_err(mongo_error)
    }

    /// Conversation summaries matching `filter`, newest first (ties by peer), at most `limit`.
    async fn summaries(&self, filter: Document, limit: usize) -> Result<Vec<ConversationSummary>, StoreError> {
        let docs = self.find_all(CONVERSATIONS, filter, doc! { "lastAt": -1, "peer": 1 }, Some(limit)).await?;
        Ok(docs
            .into_iter()
            .map(|d| ConversationSummary {
                peer: d.get_str("peer").unwrap_or_default().to_owned(),
                last_at_ms: integer(d.get("lastAt")).unwrap_or(0),
                last_key: d.get_str("lastKey").unwrap_or_default().to_owned(),
            })
            .collect())
    }

    /// Stored message documents matching `filter` (without MongoDB's `_id`).
    async fn message_documents(
        &self,
        filter: Document,
        sort: Option<Document>,
        limit: Option<usize>,
    ) -> Result<Vec<Value>, StoreError> {
        let docs = self.find_all(MESSAGES, filter, sort.unwrap_or_default(), limit).await?;
        Ok(docs.into_iter().map(|d| Value::Object(document_to_object(d))).collect())
    }

    /// Connect with the durable default write concern and create collections and indexes.
    pub async fn connect(uri: &str, database: &str, raw_retention: Duration) -> Result<Self, StoreError> {
        Self::connect_with(uri, MongoStoreOptions::new(database, raw_retention)).await
    }

    /// Connect and create collections and indexes; fails when MongoDB cannot be reached.
    pub async fn connect_with(uri: &str, options: MongoStoreOptions) -> Result<Self, StoreError> {
        let store = Self::client(uri, options).await?;
        store.ensure_indexes().await?;
        Ok(store)
    }

    /// What the service starts with: like [`MongoMessageStore::connect_with`], but a MongoDB that
    /// is unreachable now does not stop start-up. The store then answers every operation as
    /// unavailable (503) until MongoDB is back, and the first operation after that (a callback, an
    /// unread query, a readiness probe) creates the collections and indexes. Any other failure
    /// (e.g. an existing index with conflicting options) still fails here.
    pub async fn start(uri: &str, options: MongoStoreOptions) -> Result<Self, StoreError> {
        let store = Self::client(uri, options).await?;
        match store.ensure_indexes().await {
            Ok(()) => Ok(store),
            Err(error) if error.is_unavailable() => {
                tracing::warn!(
                    error = %error, cause = ?std::error::Error::source(&error),
                    "MongoDB is unreachable; starting without the message store, which answers 503 until it is back"
                );
                Ok(store)
            }
            Err(error) => Err(error),
        }
    }

    /// The client and database handle; nothing is sent to MongoDB yet.
    async fn client(uri: &str, options: MongoStoreOptions) -> Result<Self, StoreError> {
        let mut client_options = ClientOptions::parse(uri).await.map_err(mongo_error)?;
        client_options.server_selection_timeout.get_or_insert(SERVER_SELECTION_TIMEOUT);
        client_options.connect_timeout.get_or_insert(SERVER_SELECTION_TIMEOUT);
        client_options.heartbeat_freq.get_or_insert(HEARTBEAT);
        client_options.app_name.get_or_insert_with(|| "imbridge".to_owned());
        let client = Client::with_options(client_options).map_err(mongo_error)?;
        let db = client.database_with_options(
            &options.database,
            DatabaseOptions::builder().write_concern(options.write_concern.clone()).build(),
        );
        let write_concern =
            mongodb::bson::to_document(&options.write_concern).map_err(|e| StoreError::Internal(Box::new(e)))?;
        Ok(MongoMessageStore {
            db,
            write_concern,
            raw_retention: options.raw_retention,
            indexes: Arc::new(IndexSetup::default()),
        })
    }

    /// The database this store writes to (for tests and operations).
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Create the collections and indexes unless done already. One attempt at a time; callers that
    /// queued behind an attempt that failed get its failure at once rather than each waiting for a
    /// server-selection timeout of its own.
    async fn ensure_indexes(&self) -> Result<(), StoreError> {
        if self.indexes.done.load(Ordering::Acquire) {
            return Ok(());
        }
        let seen = self.indexes.finished.load(Ordering::Acquire);
        let _turn = self.indexes.turn.lock().await;
        if self.indexes.done.load(Ordering::Acquire) {
            return Ok(());
        }
        if self.indexes.finished.load(Ordering::Acquire) != seen {
            return Err(StoreError::Unavailable(Box::new(IndexesPending)));
        }
        let outcome = self.create_indexes().await;
        self.indexes.finished.fetch_add(1, Ordering::Release);
        outcome?;
        self.indexes.done.store(true, Ordering::Release);
        tracing::info!(database = self.db.name(), "MongoDB collections and indexes in place");
        Ok(())
    }

    async fn create_indexes(&self) -> Result<(), StoreError> {
        migrate::migrate(self).await?;
        let unique = || IndexOptions::builder().unique(true).build();
        let messages = [
            // Unique per message; led by the shard key (`to`, see the module documentation).
            IndexModel::builder()
                .keys(doc! { "to": 1, F_KEY: 1 })
                .options(IndexOptions::builder().name(KEY_INDEX.to_owned()).unique(true).build())
                .build(),
            // Lookups by key alone (a recall, the inbox's last messages, history import).
            IndexModel::builder().keys(doc! { F_KEY: 1 }).build(),
            IndexModel::builder()
                .keys(doc! { "to": 1, "from": 1, "countsUnread": 1, "recalled": 1, F_SENT_AT: 1 })
                .options(
                    IndexOptions::builder()
                        .name(UNREAD_INDEX.to_owned())
                        .partial_filter_expression(doc! { "conversation": "p2p", "state": 0 })
                        .build(),
                )
                .build(),
            // One pair's messages in time order (history, export, mark-read).
            IndexModel::builder()
                .keys(doc! { "to": 1, "from": 1, F_SENT_AT: 1, F_KEY: 1 })
                .options(IndexOptions::builder().name(PAIR_INDEX.to_owned()).build())
                .build(),
        ];
        let presence = IndexModel::builder().keys(doc! { "accid": 1, F_PRESENCE_CLIENT: 1 }).options(unique()).build();
        let conversations = IndexModel::builder()
            .keys(doc! { "owner": 1, "lastAt": -1, "peer": 1 })
            .options(IndexOptions::builder().name("recent".to_owned()).build())
            .build();
        // Each document carries its own expiry, so a new retention applies to new bodies without
        // touching the index (changing expireAfterSeconds would need collMod).
        let raw_ttl = IndexModel::builder()
            .keys(doc! { "expireAt": 1 })
            .options(IndexOptions::builder().expire_after(Duration::ZERO).build())
            .build();
        let dead_letters = IndexModel::builder().keys(doc! { "receivedAt": -1 }).build();
        let collection = |name| self.db.collection::<Document>(name);
        collection(MESSAGES).create_indexes(messages).await.map_err(mongo_error)?;
        collection(PRESENCE).create_index(presence).await.map_err(mongo_error)?;
        collection(CONVERSATIONS).create_index(conversations).await.map_err(mongo_error)?;
        collection(RAW).create_index(raw_ttl).await.map_err(mongo_error)?;
        collection(DEAD_LETTERS).create_index(dead_letters).await.map_err(mongo_error)?;
        replay::create_indexes(self).await?;
        // Led by the shard key (`reader`); `n` so that the pairs with unread messages are a range.
        let counts = IndexModel::builder()
            .keys(doc! { "reader": 1, "n": 1 })
            .options(IndexOptions::builder().name(unread::HAS_UNREAD_INDEX.to_owned()).build())
            .build();
        collection(unread::UNREAD_COUNTS).create_index(counts).await.map_err(mongo_error)?;
        // `read_watermarks` and `recalls` are keyed by `_id`; create them now so that they exist
        // (and show up in the platform's tools) before the first receipt or recall.
        for name in [WATERMARKS, RECALLS] {
            if let Err(error) = self.db.create_collection(name).await {
                const NAMESPACE_EXISTS: i32 = 48;
                match &*error.kind {
                    mongodb::error::ErrorKind::Command(c) if c.code == NAMESPACE_EXISTS => {}
                    _ => return Err(mongo_error(error)),
                }
            }
        }
        migrate::migrate_after_indexes(self).await
    }

    fn collection(&self, name: &str) -> mongodb::Collection<Document> {
        self.db.collection(name)
    }
}

pub(super) fn watermark_id(reader: &str, peer: &str) -> String {
    format!("{reader}|{peer}")
}

fn body_bson(body: &Bytes) -> Bson {
    match std::str::from_utf8(body) {
        Ok(text) => Bson::String(text.to_owned()),
        Err(_) => Bson::Binary(mongodb::bson::Binary {
            subtype: mongodb::bson::spec::BinarySubtype::Generic,
            bytes: body.to_vec(),
        }),
    }
}

/// What the raw audit trail and the dead-letter store keep of a body, the same way in both.
pub(super) fn audit_document(raw: &RawRow) -> Document {
    doc! {
        "_id": &raw.digest,
        "provider": &raw.provider,
        "eventType": &raw.event_type,
        "body": body_bson(&raw.body),
        "pathAndQuery": &raw.path_and_query,
        "receivedAt": DateTime::from_millis(raw.received_at_ms),
    }
}

fn body_bytes(value: Option<&Bson>) -> Bytes {
    match value {
        Some(Bson::String(text)) => Bytes::from(text.clone().into_bytes()),
        Some(Bson::Binary(binary)) => Bytes::from(binary.bytes.clone()),
        _ => Bytes::new(),
    }
}

fn date_millis(value: Option<&Bson>) -> i64 {
    match value {
        Some(Bson::DateTime(at)) => at.timestamp_millis(),
        _ => 0,
    }
}

#[async_trait]
impl MessageStore for MongoMessageStore {
    fn backend(&self) -> &'static str {
        "mongodb"
    }

    async fn apply(&self, batch: &[CallbackRecord]) -> Result<Vec<ApplyOutcome>, StoreError> {
        self.ensure_indexes().await?;
        apply::apply(self, batch).await
    }

    async fn dead_letter(&self, raw: &RawCallback, reason: &str) -> Result<(), StoreError> {
        self.ensure_indexes().await?;
        let mut letter = audit_document(&RawRow::new(raw, Duration::ZERO));
        letter.insert("reason", reason);
        self.insert_unordered(DEAD_LETTERS, vec![letter]).await.map(|_| ())
    }

    async fn unread(&self, reader: &str, peers: &[String]) -> Result<HashMap<String, u64>, StoreError> {
        let mut wanted: Vec<String> = peers.iter().map(|p| lower(p)).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let counts = if wanted.is_empty() {
            HashMap::new()
        } else {
            self.ensure_indexes().await?;
            // One kept count per peer, however long the conversations' histories are (unread.rs).
            unread::counts_with(self, &lower(reader), &wanted).await?
        };
        Ok(peers.iter().map(|peer| (peer.clone(), counts.get(&lower(peer)).copied().unwrap_or(0))).collect())
    }

    /// Ready once the collections and indexes exist (creating them if they do not yet).
    async fn ping(&self) -> Result<(), StoreError> {
        self.ensure_indexes().await?;
        self.db.run_command(doc! { "ping": 1 }).await.map_err(mongo_error)?;
        Ok(())
    }

    async fn get_message(&self, key: &str) -> Result<Option<Value>, StoreError> {
        let found = self
            .collection(MESSAGES)
            .find_one(doc! { F_KEY: key })
            .projection(doc! { "_id": 0 })
            .await
            .map_err(mongo_error)?;
        Ok(found.map(|doc| Value::Object(document_to_object(doc))))
    }

    async fn read_watermark(&self, reader: &str, peer: &str) -> Result<Option<i64>, StoreError> {
        let found = self
            .collection(WATERMARKS)
            .find_one(doc! { "_id": watermark_id(&lower(reader), &lower(peer)) })
            .await
            .map_err(mongo_error)?;
        Ok(found.and_then(|doc| integer(doc.get("readUpToMs"))))
    }

    async fn presence(&self, accids: &[String]) -> Result<Vec<PresenceRecord>, StoreError> {
        if accids.is_empty() {
            return Ok(Vec::new());
        }
        let wanted: Vec<String> = accids.iter().map(|a| lower(a)).collect();
        let filter = doc! { "accid": { "$in": &wanted } };
        let docs = self.find_all(PRESENCE, filter, doc! { "accid": 1, F_PRESENCE_CLIENT: 1 }, None).await?;
        Ok(docs
            .into_iter()
            .map(|doc| PresenceRecord {
                accid: doc.get_str("accid").unwrap_or_default().to_owned(),
                client_type: doc.get_str(F_PRESENCE_CLIENT).unwrap_or_default().to_owned(),
                device_id: doc.get_str("deviceId").ok().filter(|d| !d.is_empty()).map(str::to_owned),
                online: doc.get_bool("online").unwrap_or(false),
                at_ms: integer(doc.get("atMs")).unwrap_or(0),
                logout_reason: integer(doc.get("logoutReason")),
                document: bson_to_json(Bson::Document(doc)),
            })
            .collect())
    }

    async fn conversation_page(
        &self,
        owner: &str,
        page: &ConversationPage,
    ) -> Result<Vec<ConversationSummary>, StoreError> {
        let upper = page.after.as_ref().map_or(page.as_of_ms, |(at, _)| (*at).min(page.as_of_ms));
        let mut filter = doc! { "owner": lower(owner), "lastAt": { "$lte": upper } };
        if let Some((at, peer)) = &page.after {
            filter.insert("$or", vec![doc! { "lastAt": { "$lt": *at } }, doc! { "peer": { "$gt": lower(peer) } }]);
        }
        if let Some(peers) = &page.peers {
            let peers: Vec<String> = peers.iter().map(|p| lower(p)).collect();
            filter.insert("peer", doc! { "$in": peers });
        }
        self.summaries(filter, page.limit).await
    }

    async fn conversations_since(
        &self,
        owner: &str,
        since_ms: i64,
        cap: usize,
    ) -> Result<Vec<ConversationSummary>, StoreError> {
        self.summaries(doc! { "owner": lower(owner), "lastAt": { "$gt": since_ms } }, cap).await
    }

    async fn messages_by_key(&self, keys: &[String]) -> Result<Vec<Value>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.message_documents(doc! { F_KEY: { "$in": keys } }, None, None).await
    }

    async fn pair_messages(&self, a: &str, b: &str, q: &PairQuery) -> Result<Vec<Value>, StoreError> {
        let (a, b) = (lower(a), lower(b));
        let directions: Vec<(&str, &str)> = match q.only_from.as_deref().map(lower) {
            Some(from) if from == a => vec![(b.as_str(), a.as_str())],
            Some(from) if from == b => vec![(a.as_str(), b.as_str())],
            Some(_) => return Ok(Vec::new()),
            None => vec![(a.as_str(), b.as_str()), (b.as_str(), a.as_str())],
        };
        let (sign, beyond) = if q.ascending { (1, "$gt") } else { (-1, "$lt") };
        let sort = doc! { F_SENT_AT: sign, F_KEY: sign };
        let mut merged = Vec::new();
        for (to, from) in directions {
            let mut filter = doc! {
                "to": to, "from": from, "conversation": "p2p",
                F_SENT_AT: { "$gte": q.from_ms, "$lte": q.to_ms },
            };
            if let Some((at, key)) = &q.after {
                filter.insert(
                    "$or",
                    vec![doc! { F_SENT_AT: { beyond: *at } }, doc! { F_SENT_AT: *at, F_KEY: { beyond: key } }],
                );
            }
            merged.extend(self.message_documents(filter, Some(sort.clone()), Some(q.limit)).await?);
        }
        let position = |d: &Value| (d[F_SENT_AT].as_i64().unwrap_or(0), d[F_KEY].as_str().unwrap_or("").to_owned());
        merged.sort_by_key(position);
        if !q.ascending {
            merged.reverse();
        }
        merged.truncate(q.limit);
        Ok(merged)
    }

    async fn unread_all(&self, reader: &str) -> Result<HashMap<String, u64>, StoreError> {
        self.ensure_indexes().await?;
        unread::counts_of(self, &lower(reader)).await
    }

    async fn unread_total(&self, reader: &str) -> Result<u64, StoreError> {
        self.ensure_indexes().await?;
        unread::total(self, &lower(reader)).await
    }

    async fn watermarks_on(&self, peer: &str, readers: &[String]) -> Result<HashMap<String, i64>, StoreError> {
        if readers.is_empty() {
            return Ok(HashMap::new());
        }
        let peer = lower(peer);
        let ids: Vec<String> = readers.iter().map(|r| watermark_id(&lower(r), &peer)).collect();
        let docs = self.find_all(WATERMARKS, doc! { "_id": { "$in": ids } }, Document::new(), None).await?;
        Ok(docs
            .into_iter()
            .filter_map(|d| Some((d.get_str("reader").ok()?.to_owned(), integer(d.get("readUpToMs"))?)))
            .collect())
    }

    async fn raw_count(&self) -> Result<u64, StoreError> {
        self.collection(RAW).count_documents(doc! {}).await.map_err(mongo_error)
    }

    async fn dead_letters(&self, limit: u32) -> Result<Vec<DeadLetter>, StoreError> {
        // With `_id`: it is the dead letter's id (`find_all` leaves it out).
        let sort = doc! { "receivedAt": -1, "_id": 1 };
        let docs = self.find_keyed(DEAD_LETTERS, doc! {}, sort, limit as usize).await?;
        Ok(docs.iter().map(replay::dead_letter).collect())
    }

    async fn purge_expired_raw(&self, now: SystemTime) -> Result<u64, StoreError> {
        let done = self
            .collection(RAW)
            .delete_many(doc! { "expireAt": { "$lte": DateTime::from_millis(millis(now)) } })
            .await
            .map_err(mongo_error)?;
        Ok(done.deleted_count)
    }

    async fn raw_page(&self, page: &AuditPage) -> Result<Vec<StoredRaw>, StoreError> {
        self.raw_documents(page).await
    }

    async fn dead_letter_page(&self, page: &AuditPage) -> Result<Vec<DeadLetter>, StoreError> {
        self.dead_letter_documents(page).await
    }

    async fn dead_letter_by_id(&self, id: &str) -> Result<Option<DeadLetter>, StoreError> {
        self.dead_letter_document(id).await
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

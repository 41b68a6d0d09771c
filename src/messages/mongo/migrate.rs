//! One-time data migrations, run by the index set-up before the indexes they need are created, and
//! recorded in `imbridge_meta` (`{_id: "messages", version}`) so that a restart does not scan again.
//!
//! Version 1, provider-neutral message keys: documents stored before there were two providers are
//! keyed by the provider's bare message id in `msgidServer` (and the sent-at in `msgTimestamp`). Each
//! message gets our `key` (`{provider}:{id}`, messages.rs `message_key`) and `sentAt`; recalls
//! (`_id`) and conversation summaries (`lastKey`) get the same prefix; the old unique index on
//! `msgidServer` (which a second provider's documents, lacking the field, would collide on) and the
//! indexes on `msgTimestamp` are dropped for their replacements. A message is Tencent's when its
//! document has Tencent's `MsgKey`, NetEase's otherwise (the only provider before Tencent); a recall
//! or summary follows the message it names.
//!
//! Version 2: conversation summaries get `lastPos`, the one field their upsert compares (apply.rs).
//!
//! Version 3, after the indexes exist: the first kept unread counts (unread.rs), one recount for each
//! pair with unread messages, found by grouping the `unread` index. A recount is safe while other
//! instances write (it takes a generation like theirs), so this step needs no stop.
//!
//! Version 4: the unread counts' generations come from one counter instead of one per pair
//! (unread.rs); the counter is lifted to the highest `countedGen` or `gen` stored, so that no count
//! stored (or claimed) before is taken for newer than the next recount. One pass over
//! `unread_counts`; it also creates the counter.
//!
//! Every step is idempotent and walks its collection in `_id` pages, so memory stays bounded and a
//! start-up that dies half-way simply does it again. Stop instances of the previous version before
//! starting this one: a callback they store after the migration would lack `key`.

use std::collections::{BTreeSet, HashSet};

use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::error::ErrorKind;
use mongodb::options::Hint;

use super::apply::summary_position;
use super::convert::integer;
use super::errors::mongo_error;
use super::unread::{lift_generation_counter, recount, unread_conditions};
use super::{MongoMessageStore, CONVERSATIONS, MESSAGES, PAIR_INDEX, RECALLS, UNREAD_INDEX};
use crate::messages::model::{message_key, F_KEY, F_SENT_AT};
use crate::messages::StoreError;

pub(super) const META: &str = "imbridge_meta";
const VERSION: i64 = 4;
/// The version [`migrate`] brings the data to, before the indexes are created.
const BEFORE_INDEXES: i64 = 2;
const PAGE: i64 = 1_000;

/// The version the data is at.
async fn version(store: &MongoMessageStore) -> Result<i64, StoreError> {
    let marker = store.collection(META).find_one(doc! { "_id": MESSAGES }).await.map_err(mongo_error)?;
    Ok(marker.and_then(|m| integer(m.get("version"))).unwrap_or(0))
}

async fn set_version(store: &MongoMessageStore, version: i64) -> Result<(), StoreError> {
    store
        .collection(META)
        .update_one(doc! { "_id": MESSAGES }, doc! { "$set": { "version": version } })
        .upsert(true)
        .await
        .map_err(mongo_error)?;
    Ok(())
}

/// Bring the data to [`BEFORE_INDEXES`] unless the marker says it is there.
pub(super) async fn migrate(store: &MongoMessageStore) -> Result<(), StoreError> {
    let version = version(store).await?;
    if version >= BEFORE_INDEXES {
        return Ok(());
    }
    if version < 1 {
        let messages = keys_on_messages(store).await?;
        let recalls = keys_on_recalls(store).await?;
        let summaries = keys_on_conversations(store).await?;
        for index in ["msgidServer_1", UNREAD_INDEX, PAIR_INDEX] {
            drop_index(store, index).await?;
        }
        tracing::info!(messages, recalls, summaries, "MongoDB message data migrated to provider-neutral keys");
    }
    let positions = positions_on_conversations(store).await?;
    tracing::info!(summaries = positions, "MongoDB conversation summaries given their position");
    set_version(store, BEFORE_INDEXES).await
}

/// Bring the data from [`BEFORE_INDEXES`] to [`VERSION`]: the steps that need the indexes.
pub(super) async fn migrate_after_indexes(store: &MongoMessageStore) -> Result<(), StoreError> {
    let version = version(store).await?;
    if version >= VERSION {
        return Ok(());
    }
    // Version 4 first: the recounts of version 3 take their generations from the counter.
    let highest = lift_generation_counter(store).await?;
    tracing::info!(highest, "MongoDB unread count generations taken from one counter, lifted above those stored");
    if version < 3 {
        let pairs = first_unread_counts(store).await?;
        tracing::info!(pairs, "MongoDB unread counts kept for every conversation with unread messages");
    }
    set_version(store, VERSION).await
}

/// Version 3: recount every pair that has unread messages, [`PAGE`] pairs at a time.
async fn first_unread_counts(store: &MongoMessageStore) -> Result<u64, StoreError> {
    let pipeline =
        [doc! { "$match": unread_conditions() }, doc! { "$group": { "_id": { "to": "$to", "from": "$from" } } }];
    let mut groups = store
        .collection(MESSAGES)
        .aggregate(pipeline)
        .hint(Hint::Name(UNREAD_INDEX.to_owned()))
        .allow_disk_use(true)
        .await
        .map_err(mongo_error)?;
    let (mut pairs, mut counted) = (BTreeSet::new(), 0);
    loop {
        let group = groups.try_next().await.map_err(mongo_error)?;
        let pair = group.as_ref().and_then(|g| {
            let id = g.get_document("_id").ok()?;
            Some((id.get_str("to").ok()?.to_owned(), id.get_str("from").ok()?.to_owned()))
        });
        pairs.extend(pair);
        if pairs.len() as i64 >= PAGE || (group.is_none() && !pairs.is_empty()) {
            counted += pairs.len() as u64;
            recount(store, &std::mem::take(&mut pairs)).await?;
        }
        if group.is_none() {
            return Ok(counted);
        }
    }
}

/// Version 2: each conversation summary gets `lastPos` (apply.rs `summary_position`), the one field
/// its upsert compares, from its `lastAt` and `lastKey`.
async fn positions_on_conversations(store: &MongoMessageStore) -> Result<u64, StoreError> {
    let (mut after, mut migrated) = (None, 0);
    loop {
        let docs = page(store, CONVERSATIONS, &after, doc! { "lastAt": 1, "lastKey": 1, "lastPos": 1 }).await?;
        let Some(last) = docs.last() else { return Ok(migrated) };
        after = last.get("_id").cloned();
        let statements: Vec<Document> = docs
            .iter()
            .filter(|d| !d.contains_key("lastPos"))
            .filter_map(|d| {
                let (at, key) = (integer(d.get("lastAt"))?, d.get_str("lastKey").ok()?);
                let position = summary_position(at, key);
                // Only if still without one: another instance migrating at the same time may be ahead.
                let filter = doc! { "_id": d.get("_id")?.clone(), "lastPos": { "$exists": false } };
                Some(doc! { "q": filter, "u": { "$set": { "lastPos": position } } })
            })
            .collect();
        migrated += statements.len() as u64;
        store.update_unordered(CONVERSATIONS, &statements).await?;
    }
}

/// One page of `collection` after `after` in `_id` order, projected.
async fn page(
    store: &MongoMessageStore,
    collection: &str,
    after: &Option<Bson>,
    projection: Document,
) -> Result<Vec<Document>, StoreError> {
    let filter = after.as_ref().map_or_else(Document::new, |last| doc! { "_id": { "$gt": last.clone() } });
    store
        .collection(collection)
        .find(filter)
        .sort(doc! { "_id": 1 })
        .limit(PAGE)
        .projection(projection)
        .await
        .map_err(mongo_error)?
        .try_collect()
        .await
        .map_err(mongo_error)
}

/// A bare id as stored: a string, or a number an old delivery carried.
fn bare_id(value: Option<&Bson>) -> Option<String> {
    match value? {
        Bson::String(id) => Some(id.clone()),
        other => integer(Some(other)).map(|n| n.to_string()),
    }
}

fn is_bare(id: &str) -> bool {
    !id.contains(':')
}

async fn keys_on_messages(store: &MongoMessageStore) -> Result<u64, StoreError> {
    let (mut after, mut migrated) = (None, 0);
    loop {
        let projection = doc! { F_KEY: 1, "msgidServer": 1, "msgTimestamp": 1, "MsgKey": 1 };
        let docs = page(store, MESSAGES, &after, projection).await?;
        let Some(last) = docs.last() else { return Ok(migrated) };
        after = last.get("_id").cloned();
        let statements: Vec<Document> = docs
            .iter()
            .filter(|d| !d.contains_key(F_KEY))
            .filter_map(|d| {
                let id = bare_id(d.get("msgidServer"))?;
                let provider = if d.contains_key("MsgKey") { "tencent" } else { "netease" };
                let sent_at = integer(d.get("msgTimestamp")).unwrap_or(0);
                let set = doc! { F_KEY: message_key(provider, &id), F_SENT_AT: sent_at };
                Some(doc! { "q": { "_id": d.get("_id")?.clone() }, "u": { "$set": set } })
            })
            .collect();
        migrated += statements.len() as u64;
        store.update_unordered(MESSAGES, &statements).await?;
    }
}

/// Which of these bare ids are Tencent messages' (looked up by the old `msgidServer`, still indexed).
async fn tencent_ids(store: &MongoMessageStore, ids: &[String]) -> Result<HashSet<String>, StoreError> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let found: Vec<Document> = store
        .collection(MESSAGES)
        .find(doc! { "msgidServer": { "$in": ids }, "MsgKey": { "$exists": true } })
        .projection(doc! { "msgidServer": 1 })
        .await
        .map_err(mongo_error)?
        .try_collect()
        .await
        .map_err(mongo_error)?;
    Ok(found.iter().filter_map(|d| bare_id(d.get("msgidServer"))).collect())
}

fn prefixed(id: &str, tencent: &HashSet<String>) -> String {
    message_key(if tencent.contains(id) { "tencent" } else { "netease" }, id)
}

/// Recalls are keyed by `_id`, which cannot change: insert the prefixed copy, then delete the old.
async fn keys_on_recalls(store: &MongoMessageStore) -> Result<u64, StoreError> {
    let (mut after, mut migrated) = (None, 0);
    loop {
        let docs = page(store, RECALLS, &after, Document::new()).await?;
        let Some(last) = docs.last() else { return Ok(migrated) };
        after = last.get("_id").cloned();
        let bare: Vec<&Document> = docs.iter().filter(|d| d.get_str("_id").is_ok_and(is_bare)).collect();
        if bare.is_empty() {
            continue;
        }
        let ids: Vec<String> = bare.iter().filter_map(|d| d.get_str("_id").ok().map(str::to_owned)).collect();
        let tencent = tencent_ids(store, &ids).await?;
        let copies = bare
            .iter()
            .map(|d| {
                let mut copy = (*d).clone();
                let id = d.get_str("_id").unwrap_or_default();
                copy.insert("_id", prefixed(id, &tencent));
                copy
            })
            .collect();
        store.insert_unordered(RECALLS, copies).await?;
        store.collection(RECALLS).delete_many(doc! { "_id": { "$in": &ids } }).await.map_err(mongo_error)?;
        migrated += ids.len() as u64;
    }
}

async fn keys_on_conversations(store: &MongoMessageStore) -> Result<u64, StoreError> {
    let (mut after, mut migrated) = (None, 0);
    loop {
        let docs = page(store, CONVERSATIONS, &after, doc! { "lastKey": 1 }).await?;
        let Some(last) = docs.last() else { return Ok(migrated) };
        after = last.get("_id").cloned();
        let bare: Vec<(&Bson, &str)> = docs
            .iter()
            .filter_map(|d| Some((d.get("_id")?, d.get_str("lastKey").ok().filter(|k| is_bare(k))?)))
            .collect();
        let ids: Vec<String> = bare.iter().map(|(_, key)| (*key).to_owned()).collect();
        let tencent = tencent_ids(store, &ids).await?;
        let statements: Vec<Document> = bare
            .iter()
            .map(|(id, key)| {
                // Only if still bare: another instance migrating at the same time may be ahead.
                doc! { "q": { "_id": (*id).clone(), "lastKey": *key }, "u": { "$set": { "lastKey": prefixed(key, &tencent) } } }
            })
            .collect();
        migrated += statements.len() as u64;
        store.update_unordered(CONVERSATIONS, &statements).await?;
    }
}

/// Drop an index of `messages` if it exists (a new database, or another instance dropped it).
async fn drop_index(store: &MongoMessageStore, name: &str) -> Result<(), StoreError> {
    const NAMESPACE_NOT_FOUND: i32 = 26;
    const INDEX_NOT_FOUND: i32 = 27;
    match store.collection(MESSAGES).drop_index(name).await {
        Ok(()) => Ok(()),
        Err(error) => match &*error.kind {
            ErrorKind::Command(c) if c.code == NAMESPACE_NOT_FOUND || c.code == INDEX_NOT_FOUND => Ok(()),
            _ => Err(mongo_error(error)),
        },
    }
}

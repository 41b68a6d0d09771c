//! The MongoDB write path: a batch of callbacks in four rounds of bulk writes.
//!
//! 1. Facts, all at once: raw bodies, recall facts (unique inserts), watermarks (`$max` upserts),
//!    presence (newest-wins upserts); and a read of the watermarks and recalls that concern the
//!    batch's messages.
//! 2. Messages inserted unordered with `state`/`recalled` computed from that read (a message stored
//!    after its receipt is stored read), while this batch's receipts and recalls are propagated to
//!    the messages already stored (`update_many` setting `state: 1` / `recalled: true`).
//! 3. The same facts read again, and
//! 4. any message of the batch whose flags lag behind them fixed (usually nothing to do);
//! 5. the unread counts of the pairs the batch touched recounted (unread.rs).
//!
//! Why the flags converge without transactions. Facts only grow (watermarks move forward, recalls
//! are never removed) and the flags only move one way (0 -> 1, false -> true), so a flag set from
//! any observed fact is never wrong later. The danger is a flag left unset: message M and receipt R
//! (watermark W >= M's timestamp) written concurrently by two instances. R's writer stores W, then
//! runs its update; M's writer inserts M, then reads the watermark (round 3). If R's update did not
//! see M, M was not yet inserted when that update ran, so M's insert completed after W was stored,
//! and M's writer's round-3 read, which starts after the insert, sees W and sets the flag (round 4).
//! Either way one of them sets it. Recalls follow the same argument. Rounds 3-4 include messages
//! that were duplicates: the first delivery may have died between its insert and its round 4 (it
//! was then not acknowledged, so the provider redelivers and this repair runs). Likewise receipts
//! and recalls propagate on every delivery, duplicate or not.
//! (Reads go to the primary, which has applied every write acknowledged before the read started.)

use std::collections::{BTreeSet, HashMap, HashSet};

use futures::TryStreamExt;
use mongodb::bson::{doc, DateTime, Document};

use super::convert::{integer, object_to_document};
use super::errors::{WriteRefused, DUPLICATE_KEY};
use super::unread;
use super::{
    audit_document, watermark_id, MongoMessageStore, CONVERSATIONS, MESSAGES, PRESENCE, RAW, RECALLS, WATERMARKS,
};
use crate::messages::model::{BatchPlan, MessageRow, RawRow, F_KEY, F_PRESENCE_CLIENT, F_SENT_AT};
use crate::messages::{ApplyOutcome, CallbackRecord, StoreError};

pub(super) async fn apply(
    store: &MongoMessageStore,
    batch: &[CallbackRecord],
) -> Result<Vec<ApplyOutcome>, StoreError> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let plan = BatchPlan::new(batch, store.raw_retention);
    let raws = plan.raws.iter().map(raw_document).collect();
    let recalls =
        plan.recalls.iter().map(|r| doc! { "_id": &r.key, "from": &r.from, "to": &r.to, "atMs": r.at_ms }).collect();

    let (raw_duplicate, recall_duplicate, (), (), before) = tokio::try_join!(
        store.insert_unordered(RAW, raws),
        store.insert_unordered(RECALLS, recalls),
        advance_watermarks(store, &plan),
        upsert_presence(store, &plan),
        Facts::read(store, &plan.messages),
    )?;

    let inserted: Vec<Flags> = plan.messages.iter().map(|m| before.flags(m)).collect();
    let messages = plan
        .messages
        .iter()
        .zip(&inserted)
        .map(|(m, flags)| object_to_document(&m.full_document(flags.read, flags.recalled)))
        .collect();
    let (message_duplicate, (), ()) = tokio::try_join!(
        store.insert_unordered(MESSAGES, messages),
        propagate(store, &plan),
        advance_conversations(store, &plan),
    )?;

    if !plan.messages.is_empty() {
        let after = Facts::read(store, &plan.messages).await?;
        repair(store, &plan, &message_duplicate, &inserted, &after).await?;
    }
    // 5. The unread counts of every pair the batch touched, recounted now that its flags are set.
    let pairs = unread::touched_pairs(store, &plan).await?;
    unread::recount(store, &pairs).await?;
    Ok(plan.outcomes(batch.len(), &raw_duplicate, &message_duplicate, &recall_duplicate))
}

fn raw_document(raw: &RawRow) -> Document {
    let mut document = audit_document(raw);
    document.insert("expireAt", DateTime::from_millis(raw.expires_at_ms));
    document
}

/// The conversation summaries of this batch's one-to-one messages: replaced only by a newer (sent-at,
/// key). When the stored one is newer the filter matches nothing and the upsert collides with the
/// `_id`: that duplicate key is the answer (as for presence). "Newer" is one comparison on
/// `lastPos` ([`summary_position`]) rather than an `$or` over `lastAt` and `lastKey`, which a
/// server may not answer from the `_id` index (SecantusDB scans the collection, BENCHMARKS.md).
async fn advance_conversations(store: &MongoMessageStore, plan: &BatchPlan) -> Result<(), StoreError> {
    let statements: Vec<Document> = plan
        .conversation_advances()
        .into_iter()
        .map(|c| {
            let position = summary_position(c.at_ms, c.key);
            // `owner` too: the shard key of `conversations`, which a sharded upsert must name.
            let filter =
                doc! { "_id": watermark_id(c.owner, c.peer), "owner": c.owner, "lastPos": { "$lt": &position } };
            let summary =
                doc! { "owner": c.owner, "peer": c.peer, "lastAt": c.at_ms, "lastKey": c.key, "lastPos": position };
            doc! { "q": filter, "u": summary, "upsert": true }
        })
        .collect();
    if !statements.is_empty() {
        store.upsert_converging(CONVERSATIONS, &statements).await?;
    }
    Ok(())
}

/// A string that sorts (byte-wise, as MongoDB compares strings) exactly as (sent-at, key) do: the
/// sent-at with its sign bit flipped, as 20 digits, then the key.
pub(super) fn summary_position(at_ms: i64, key: &str) -> String {
    format!("{:020}|{key}", (at_ms as u64) ^ (1 << 63))
}

async fn advance_watermarks(store: &MongoMessageStore, plan: &BatchPlan) -> Result<(), StoreError> {
    let statements: Vec<Document> = plan
        .watermark_advances()
        .into_iter()
        .map(|(reader, peer, at)| {
            doc! {
                "q": { "_id": watermark_id(reader, peer) },
                "u": { "$max": { "readUpToMs": at }, "$setOnInsert": { "reader": reader, "peer": peer } },
                "upsert": true,
            }
        })
        .collect();
    if statements.is_empty() {
        return Ok(());
    }
    // The filter is the `_id` alone, so once the document exists the upsert always matches: a
    // duplicate key cannot survive the retry.
    match store.upsert_converging(WATERMARKS, &statements).await?.first() {
        None => Ok(()),
        Some(_) => Err(WriteRefused {
            collection: WATERMARKS,
            code: DUPLICATE_KEY,
            message: "watermark upsert collided twice".into(),
        }
        .into()),
    }
}

async fn upsert_presence(store: &MongoMessageStore, plan: &BatchPlan) -> Result<(), StoreError> {
    let statements: Vec<Document> = plan
        .newest_presences()
        .into_iter()
        .map(|p| {
            // Replace only an older record (model::presence_supersedes: offline wins a tie). When
            // the stored one is newer the filter matches nothing, the upsert collides with the
            // unique {accid, client} and the stored one stays: that duplicate key is the answer.
            let older = if p.online {
                doc! { "atMs": { "$lt": p.at_ms } }
            } else {
                doc! { "$or": [ { "atMs": { "$lt": p.at_ms } }, { "atMs": p.at_ms, "online": true } ] }
            };
            let mut filter = doc! { "accid": &p.accid, F_PRESENCE_CLIENT: &p.client };
            filter.extend(older);
            doc! { "q": filter, "u": object_to_document(&p.document), "upsert": true }
        })
        .collect();
    if !statements.is_empty() {
        store.upsert_converging(PRESENCE, &statements).await?;
    }
    Ok(())
}

/// This batch's receipts and recalls, applied to the messages already stored.
async fn propagate(store: &MongoMessageStore, plan: &BatchPlan) -> Result<(), StoreError> {
    let mut statements: Vec<Document> = plan
        .watermark_advances()
        .into_iter()
        .map(|(reader, peer, at)| {
            doc! {
                "q": { "to": reader, "from": peer, "conversation": "p2p", "state": 0, F_SENT_AT: { "$lte": at } },
                "u": { "$set": { "state": 1 } },
                "multi": true,
            }
        })
        .collect();
    let recalled: BTreeSet<&str> = plan.recalls.iter().map(|r| r.key.as_str()).collect();
    if !recalled.is_empty() {
        statements.push(doc! {
            "q": { F_KEY: { "$in": recalled.into_iter().collect::<Vec<_>>() }, "recalled": false },
            "u": { "$set": { "recalled": true } },
            "multi": true,
        });
    }
    if !statements.is_empty() {
        store.update_unordered(MESSAGES, &statements).await?;
    }
    Ok(())
}

/// Set the flags of the batch's messages that the facts now cover but that were not inserted with
/// them set (inserted before the fact was visible, or stored earlier by another delivery).
async fn repair(
    store: &MongoMessageStore,
    plan: &BatchPlan,
    duplicate: &[bool],
    inserted: &[Flags],
    after: &Facts,
) -> Result<(), StoreError> {
    let mut read = BTreeSet::new();
    let mut recalled = BTreeSet::new();
    for ((message, duplicate), inserted) in plan.messages.iter().zip(duplicate).zip(inserted) {
        let now = after.flags(message);
        if now.read && (*duplicate || !inserted.read) {
            read.insert(message.key.as_str());
        }
        if now.recalled && (*duplicate || !inserted.recalled) {
            recalled.insert(message.key.as_str());
        }
    }
    let mut statements = Vec::new();
    if !read.is_empty() {
        statements.push(doc! {
            "q": { F_KEY: { "$in": read.into_iter().collect::<Vec<_>>() }, "state": 0 },
            "u": { "$set": { "state": 1 } },
            "multi": true,
        });
    }
    if !recalled.is_empty() {
        statements.push(doc! {
            "q": { F_KEY: { "$in": recalled.into_iter().collect::<Vec<_>>() }, "recalled": false },
            "u": { "$set": { "recalled": true } },
            "multi": true,
        });
    }
    if !statements.is_empty() {
        store.update_unordered(MESSAGES, &statements).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::summary_position;

    #[test]
    fn the_summary_position_sorts_as_sent_at_then_key() {
        let points = [
            (i64::MIN, "z"),
            (-5, "a"),
            (-1, "b"),
            (0, "a"),
            (0, "netease:1"),
            (0, "netease:10"),
            (7, "a"),
            (i64::MAX, "a"),
        ];
        for pair in points.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            assert!(a < b, "the points are in order");
            assert!(summary_position(a.0, a.1) < summary_position(b.0, b.1), "{a:?} before {b:?}");
        }
    }
}

#[derive(Clone, Copy)]
struct Flags {
    read: bool,
    recalled: bool,
}

/// The watermarks and recall facts that concern a set of messages, as read at one moment.
#[derive(Default)]
struct Facts {
    /// By watermark id ("reader|peer").
    watermarks: HashMap<String, i64>,
    recalled: HashSet<String>,
}

impl Facts {
    async fn read(store: &MongoMessageStore, messages: &[MessageRow]) -> Result<Facts, StoreError> {
        let pairs: BTreeSet<String> =
            messages.iter().filter(|m| m.is_p2p()).map(|m| watermark_id(&m.to, &m.from)).collect();
        let keys: BTreeSet<&str> = messages.iter().map(|m| m.key.as_str()).collect();
        let (watermarks, recalls) = tokio::try_join!(
            find_all(store, WATERMARKS, pairs.into_iter().collect(), doc! { "readUpToMs": 1 }),
            find_all(store, RECALLS, keys.into_iter().map(str::to_owned).collect(), doc! { "_id": 1 }),
        )?;
        Ok(Facts {
            watermarks: watermarks
                .into_iter()
                .filter_map(|d| Some((d.get_str("_id").ok()?.to_owned(), integer(d.get("readUpToMs"))?)))
                .collect(),
            recalled: recalls.into_iter().filter_map(|d| d.get_str("_id").ok().map(str::to_owned)).collect(),
        })
    }

    fn flags(&self, message: &MessageRow) -> Flags {
        let read = message.is_p2p()
            && self
                .watermarks
                .get(&watermark_id(&message.to, &message.from))
                .is_some_and(|&up_to| message.sent_at_ms <= up_to);
        Flags { read, recalled: self.recalled.contains(&message.key) }
    }
}

async fn find_all(
    store: &MongoMessageStore,
    collection: &str,
    ids: Vec<String>,
    projection: Document,
) -> Result<Vec<Document>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let count = u32::try_from(ids.len()).unwrap_or(u32::MAX);
    store
        .collection(collection)
        .find(doc! { "_id": { "$in": ids } })
        .projection(projection)
        // All in the first reply: one round trip however many the batch names.
        .batch_size(count)
        .await
        .map_err(super::errors::mongo_error)?
        .try_collect()
        .await
        .map_err(super::errors::mongo_error)
}

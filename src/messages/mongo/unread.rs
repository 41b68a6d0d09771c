//! Kept unread counts: `unread_counts` holds, per (reader, peer), the number of unread messages
//! (`_id` "reader|peer", `reader`, `peer`, `n`), so that `/v1/unread` and the inbox read one small
//! document per peer however long the conversation's history is, as the embedded store's
//! `unread_counts` table does. The embedded store adds each batch's changes in its transaction; the
//! MongoDB write path has no transaction (apply.rs), and a `$inc` could be lost by a crash between a
//! message's insert and its increment, or applied twice by a redelivery. So each count is not
//! incremented but **recounted**, and a generation decides which recount is the newest.
//!
//! After a batch's writes (apply.rs rounds 1-4), for every pair whose messages or facts it touched:
//! 1. `$inc` the pair's `gen` (upserting the document),
//! 2. read `gen` back: g,
//! 3. count the pair's unread messages over the `unread` index (the query `/v1/unread` ran before),
//! 4. `$set` `n` and `countedGen: g` where `countedGen < g`.
//!
//! Why the stored count converges on the true one. Every writer increments `gen` after all its writes
//! to the pair, and reads g after its increment, so a count that starts after reading g sees every
//! write of every writer whose increment is at most g. Of the writers that finish, the one that read
//! the highest g stores last (a lower g is refused by step 4; an equal g counted after the same
//! increments), and every writer's increment is at most that g. A writer that dies between its writes
//! and step 4 was not acknowledged, so the provider redelivers and the redelivery recounts. A count is
//! at most one batch behind while writers race, as the message flags are.
//!
//! The cost moves from the reads to the writes: one count per touched pair and batch, of that pair's
//! unread messages only (a buyer's with one shop, not the shop's with everyone).

use std::collections::{BTreeSet, HashMap};

use futures::{stream, StreamExt, TryStreamExt};
use mongodb::bson::{doc, Document};

use super::convert::integer;
use super::errors::{mongo_error, WriteRefused, DUPLICATE_KEY};
use super::{watermark_id, MongoMessageStore, MESSAGES};
use crate::messages::model::{BatchPlan, F_KEY};
use crate::messages::StoreError;

/// The collection of kept counts.
pub(super) const UNREAD_COUNTS: &str = "unread_counts";
/// Its index {reader, n}: the pairs with unread messages are a range (the inbox's total and "unread only").
pub(super) const HAS_UNREAD_INDEX: &str = "reader_unread";

/// What makes a message unread (for its `to`): what every count counts, what `/v1/unread` counted
/// before the counts were kept, and the `unread` index's partial filter (plus two of its keys).
pub(super) fn unread_conditions() -> Document {
    doc! { "conversation": "p2p", "state": 0, "countsUnread": true, "recalled": false }
}

/// The pairs (reader, peer) whose unread count this batch may have changed: the receiver and sender
/// of each one-to-one message, each receipt's pair, and the pair of each recalled message that is
/// stored (looked up by key after the batch's writes, so a recall stored before its message is
/// counted by the message's own writer).
pub(super) async fn touched_pairs(
    store: &MongoMessageStore,
    plan: &BatchPlan,
) -> Result<BTreeSet<(String, String)>, StoreError> {
    let mut pairs: BTreeSet<(String, String)> =
        plan.messages.iter().filter(|m| m.is_p2p()).map(|m| (m.to.clone(), m.from.clone())).collect();
    pairs.extend(plan.watermark_advances().into_iter().map(|(reader, peer, _)| (reader.to_owned(), peer.to_owned())));
    let recalled: BTreeSet<&str> = plan.recalls.iter().map(|r| r.key.as_str()).collect();
    if !recalled.is_empty() {
        let filter = doc! { F_KEY: { "$in": recalled.into_iter().collect::<Vec<_>>() }, "conversation": "p2p" };
        let found: Vec<Document> = store
            .collection(MESSAGES)
            .find(filter)
            .projection(doc! { "_id": 0, "to": 1, "from": 1 })
            .await
            .map_err(mongo_error)?
            .try_collect()
            .await
            .map_err(mongo_error)?;
        pairs.extend(
            found.iter().filter_map(|d| Some((d.get_str("to").ok()?.to_owned(), d.get_str("from").ok()?.to_owned()))),
        );
    }
    Ok(pairs)
}

/// Recount `pairs` (steps 1-4 of the module documentation).
pub(super) async fn recount(store: &MongoMessageStore, pairs: &BTreeSet<(String, String)>) -> Result<(), StoreError> {
    if pairs.is_empty() {
        return Ok(());
    }
    // 1. Claim a generation. The filter names the shard key (`reader`) as a sharded upsert must.
    let claims: Vec<Document> = pairs
        .iter()
        .map(|(reader, peer)| {
            doc! {
                "q": { "_id": watermark_id(reader, peer), "reader": reader },
                "u": { "$inc": { "gen": 1_i64 }, "$setOnInsert": { "peer": peer, "n": 0_i64, "countedGen": 0_i64 } },
                "upsert": true,
            }
        })
        .collect();
    // The filter is the `_id` (and the reader it implies), so once the document exists the upsert
    // always matches: a duplicate key cannot survive the retry.
    if !store.upsert_converging(UNREAD_COUNTS, &claims).await?.is_empty() {
        return Err(WriteRefused {
            collection: UNREAD_COUNTS,
            code: DUPLICATE_KEY,
            message: "unread count upsert collided twice".into(),
        }
        .into());
    }
    // 2. Read the generations back.
    let ids: Vec<String> = pairs.iter().map(|(reader, peer)| watermark_id(reader, peer)).collect();
    let generations: HashMap<String, i64> = store
        .collection(UNREAD_COUNTS)
        .find(doc! { "_id": { "$in": &ids } })
        .projection(doc! { "gen": 1 })
        .batch_size(u32::try_from(ids.len()).unwrap_or(u32::MAX))
        .await
        .map_err(mongo_error)?
        .try_collect::<Vec<Document>>()
        .await
        .map_err(mongo_error)?
        .into_iter()
        .filter_map(|d| Some((d.get_str("_id").ok()?.to_owned(), integer(d.get("gen"))?)))
        .collect();
    // 3. Count, after reading the generations.
    let counts = count(store, pairs).await?;
    // 4. Store each count unless a newer one is stored already.
    let sets: Vec<Document> = pairs
        .iter()
        .zip(ids)
        .zip(counts)
        .filter_map(|(((reader, _), id), n)| {
            let generation = *generations.get(&id)?;
            Some(doc! {
                "q": { "_id": id, "reader": reader, "countedGen": { "$lt": generation } },
                "u": { "$set": { "n": n, "countedGen": generation } },
            })
        })
        .collect();
    store.update_unordered(UNREAD_COUNTS, &sets).await?;
    Ok(())
}

/// How many pairs one recount counts at once (each a query of its own).
const COUNTS_IN_FLIGHT: usize = 16;

/// The unread messages of each pair, in the order of `pairs`: one count per pair,
/// [`COUNTS_IN_FLIGHT`] at a time.
///
/// Each filter is the pair plus [`unread_conditions`], all equalities: it implies the `unread`
/// index's partial filter and binds its first four keys (no other index binds more than two), the
/// plan a server's planner picks, so a count reads the pair's unread messages only. There is no
/// hint and no `$or` of pairs: SecantusDB, the test server, walks the whole hinted index for a
/// hinted query and scans the collection for a top-level `$or`, which made every batch's recount
/// as slow as the store is large (one aggregation over all the batch's pairs took 1.6 s at 20 000
/// messages; 20 counts like these 15 ms).
async fn count(store: &MongoMessageStore, pairs: &BTreeSet<(String, String)>) -> Result<Vec<i64>, StoreError> {
    // Each query is built before it is polled and owns its filter and collection handle: a closure
    // over borrowed pairs would not be `Send` for every lifetime, which the store trait's futures
    // must be.
    let queries: Vec<_> = pairs
        .iter()
        .map(|(reader, peer)| {
            let mut filter = unread_conditions();
            filter.insert("to", reader.as_str());
            filter.insert("from", peer.as_str());
            let collection = store.collection(MESSAGES);
            async move {
                let n = collection.count_documents(filter).await.map_err(mongo_error)?;
                Ok::<_, StoreError>(i64::try_from(n).unwrap_or(i64::MAX))
            }
        })
        .collect();
    stream::iter(queries).buffered(COUNTS_IN_FLIGHT).try_collect().await
}

/// The kept counts of `reader` with `peers` (lowercased, distinct); peers without unread messages
/// are absent.
pub(super) async fn counts_with(
    store: &MongoMessageStore,
    reader: &str,
    peers: &[String],
) -> Result<HashMap<String, u64>, StoreError> {
    let ids: Vec<String> = peers.iter().map(|peer| watermark_id(reader, peer)).collect();
    let filter = doc! { "_id": { "$in": ids }, "reader": reader, "n": { "$gt": 0_i64 } };
    counts_matching(store, filter, peers.len()).await
}

/// Every pair of `reader` with unread messages.
pub(super) async fn counts_of(store: &MongoMessageStore, reader: &str) -> Result<HashMap<String, u64>, StoreError> {
    counts_matching(store, doc! { "reader": reader, "n": { "$gt": 0_i64 } }, 0).await
}

async fn counts_matching(
    store: &MongoMessageStore,
    filter: Document,
    expected: usize,
) -> Result<HashMap<String, u64>, StoreError> {
    let collection = store.collection(UNREAD_COUNTS);
    let mut find = collection.find(filter).projection(doc! { "_id": 0, "peer": 1, "n": 1 });
    if expected > 0 {
        // Every document in the first reply: one round trip even for 1 000 peers.
        find = find.batch_size(u32::try_from(expected).unwrap_or(u32::MAX));
    }
    let docs: Vec<Document> = find.await.map_err(mongo_error)?.try_collect().await.map_err(mongo_error)?;
    Ok(docs
        .into_iter()
        .filter_map(|d| {
            let n = integer(d.get("n")).and_then(|n| u64::try_from(n).ok())?;
            Some((d.get_str("peer").ok()?.to_owned(), n))
        })
        .collect())
}

/// The sum of `reader`'s kept counts: one document per conversation with unread messages. Planned
/// onto `reader_unread` ({reader, n}, the only index led by `reader`) without a hint, which
/// SecantusDB would obey by walking the whole index.
pub(super) async fn total(store: &MongoMessageStore, reader: &str) -> Result<u64, StoreError> {
    let pipeline = [
        doc! { "$match": { "reader": reader, "n": { "$gt": 0_i64 } } },
        doc! { "$group": { "_id": null, "n": { "$sum": "$n" } } },
    ];
    let groups: Vec<Document> = store
        .collection(UNREAD_COUNTS)
        .aggregate(pipeline)
        .await
        .map_err(mongo_error)?
        .try_collect()
        .await
        .map_err(mongo_error)?;
    Ok(groups.first().and_then(|g| integer(g.get("n"))).and_then(|n| u64::try_from(n).ok()).unwrap_or(0))
}

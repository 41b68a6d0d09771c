//! Kept unread counts: `unread_counts` holds, per (reader, peer), the number of unread messages
//! (`_id` "reader|peer", `reader`, `peer`, `n`), so that `/v1/unread` and the inbox read one small
//! document per peer however long the conversation's history is, as the embedded store's
//! `unread_counts` table does. The embedded store adds each batch's changes in its transaction; the
//! MongoDB write path has no transaction (apply.rs), and a `$inc` could be lost by a crash between a
//! message's insert and its increment, or applied twice by a redelivery. So each count is not
//! incremented but **recounted**, and a generation decides which recount is the newest.
//!
//! After a batch's writes (apply.rs rounds 1-4), if it touched any pair's messages or facts:
//! 1. take a generation g: `$inc` the one counter of all pairs (`imbridge_meta`, `_id`
//!    "unread_counts") and read it back, in one `findAndModify`;
//! 2. count each touched pair's unread messages over the `unread` index (the query `/v1/unread`
//!    ran before);
//! 3. upsert each pair's `n` and `countedGen: g` where `countedGen < g`.
//!
//! Why the stored count converges on the true one. The counter hands out distinct generations in
//! the order its increments are applied. Every writer takes its generation after all its writes, and
//! counts after taking it, so a writer whose generation is higher than another's counts after the
//! other's writes and sees them. Of the writers of a pair that finish, the one with the highest
//! generation stores last (a lower one is refused by step 3), and it saw the writes of every other
//! writer of the pair. A writer that dies between its writes and step 3 was not acknowledged, so
//! the provider redelivers and the redelivery recounts. A count is at most one batch behind while
//! writers race, as the message flags are. The argument needs a count to see every write
//! acknowledged before it starts, which majority writes and primary reads give in a replica set
//! (in a sharded cluster, unless a deposed primary of the messages' shard still answers; the
//! per-pair generations needed the same). And the counter must never go backwards: restored from
//! a backup older than `unread_counts`, it would freeze the counts stored with higher generations
//! (their recounts refused) until it passes them.
//!
//! The cost moves from the reads to the writes: per batch one increment, and per touched pair one
//! count (of that pair's unread messages only: a buyer's with one shop, not the shop's with
//! everyone) and one upsert. Until version 4 of the data (migrate.rs) each pair had its own
//! generation (`gen`, claimed and read back per pair: two more writes per pair and batch); the
//! first start-up of version 4 sets the counter above every stored `countedGen`, and `gen` is no
//! longer read.

use std::collections::{BTreeSet, HashMap};

use futures::{stream, StreamExt, TryStreamExt};
use mongodb::bson::{doc, Document};
use mongodb::options::ReturnDocument;

use super::convert::integer;
use super::errors::mongo_error;
use super::migrate::META;
use super::{watermark_id, MongoMessageStore, MESSAGES};
use crate::messages::model::{BatchPlan, F_KEY};
use crate::messages::StoreError;

/// The collection of kept counts.
pub(super) const UNREAD_COUNTS: &str = "unread_counts";
/// Its index {reader, n}: the pairs with unread messages are a range (the inbox's total and "unread only").
pub(super) const HAS_UNREAD_INDEX: &str = "reader_unread";
/// The `_id` of the generation counter in `imbridge_meta` (step 1).
const GENERATION_COUNTER: &str = "unread_counts";

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

/// Recount `pairs` (steps 1-3 of the module documentation).
pub(super) async fn recount(store: &MongoMessageStore, pairs: &BTreeSet<(String, String)>) -> Result<(), StoreError> {
    if pairs.is_empty() {
        return Ok(());
    }
    // 1. Take a generation, after the batch's writes.
    let generation = next_generation(store).await?;
    // 2. Count, after taking it.
    let counts = count(store, pairs).await?;
    // 3. Store each count unless a newer one is stored already. The filter names the shard key
    // (`reader`) as a sharded upsert must. A duplicate key on the retry means the filter excluded
    // the stored document: its newer count wins.
    let sets: Vec<Document> = pairs
        .iter()
        .zip(counts)
        .map(|((reader, peer), n)| {
            doc! {
                "q": { "_id": watermark_id(reader, peer), "reader": reader, "countedGen": { "$lt": generation } },
                "u": { "$set": { "n": n, "countedGen": generation }, "$setOnInsert": { "peer": peer } },
                "upsert": true,
            }
        })
        .collect();
    store.upsert_converging(UNREAD_COUNTS, &sets).await?;
    Ok(())
}

/// Step 1: the next generation of the counter of all pairs (created at 1 when missing).
async fn next_generation(store: &MongoMessageStore) -> Result<i64, StoreError> {
    // The start-up's migration creates the counter (`lift_generation_counter`); the upsert only
    // keeps a removed one from failing every batch.
    let counter = store
        .collection(META)
        .find_one_and_update(doc! { "_id": GENERATION_COUNTER }, doc! { "$inc": { "gen": 1_i64 } })
        .upsert(true)
        .return_document(ReturnDocument::After)
        .await
        .map_err(mongo_error)?;
    counter.and_then(|c| integer(c.get("gen"))).ok_or_else(|| {
        StoreError::Internal(format!("{META}: the unread count generation came back without `gen`").into())
    })
}

/// Version 4 of the data (migrate.rs): lift the counter to at least every stored `countedGen`, so
/// that counts stored with a pair's own generation (before version 4) are not newer than the next
/// recount's, and every claimed `gen` (a count an earlier version had claimed but not stored yet).
/// Idempotent (`$max`), and one pass over `unread_counts` at the first start-up only. Returns the
/// highest generation found.
pub(super) async fn lift_generation_counter(store: &MongoMessageStore) -> Result<i64, StoreError> {
    let pipeline =
        [doc! { "$group": { "_id": null, "counted": { "$max": "$countedGen" }, "claimed": { "$max": "$gen" } } }];
    let top: Vec<Document> = store
        .collection(UNREAD_COUNTS)
        .aggregate(pipeline)
        .await
        .map_err(mongo_error)?
        .try_collect()
        .await
        .map_err(mongo_error)?;
    let top =
        top.first().map_or(0, |g| integer(g.get("counted")).unwrap_or(0).max(integer(g.get("claimed")).unwrap_or(0)));
    store
        .collection(META)
        .update_one(doc! { "_id": GENERATION_COUNTER }, doc! { "$max": { "gen": top } })
        .upsert(true)
        .await
        .map_err(mongo_error)?;
    Ok(top)
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

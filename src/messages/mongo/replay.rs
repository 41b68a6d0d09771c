//! Reading the audit trail and the dead letters back page by page (replay, the console). Both
//! collections have an index on {receivedAt: 1, _id: 1} ([`indexes`]), so a page is one range scan
//! in the cursor's order.

use futures::TryStreamExt;
use mongodb::bson::{doc, DateTime, Document};
use mongodb::IndexModel;

use super::errors::mongo_error;
use super::{body_bytes, date_millis, MongoMessageStore, DEAD_LETTERS, RAW};
use crate::messages::{AuditPage, DeadLetter, StoreError, StoredRaw};

/// The name of the (receivedAt, _id) index on both collections.
const RECEIVED_INDEX: &str = "received";

/// Created with the other indexes at start-up.
pub(super) async fn create_indexes(store: &MongoMessageStore) -> Result<(), StoreError> {
    for name in [RAW, DEAD_LETTERS] {
        let index = IndexModel::builder()
            .keys(doc! { "receivedAt": 1, "_id": 1 })
            .options(mongodb::options::IndexOptions::builder().name(RECEIVED_INDEX.to_owned()).build())
            .build();
        store.collection(name).create_index(index).await.map_err(mongo_error)?;
    }
    Ok(())
}

/// The filter of `page`: received within the range, after the cursor.
fn filter(page: &AuditPage) -> Document {
    let (at, digest) = page.lower_bound();
    let at = DateTime::from_millis(at);
    let mut filter = doc! {
        "receivedAt": { "$gte": at, "$lte": DateTime::from_millis(page.to_ms) },
        "$or": [ { "receivedAt": { "$gt": at } }, { "receivedAt": at, "_id": { "$gt": digest } } ],
    };
    if let Some(types) = &page.event_types {
        filter.insert("eventType", doc! { "$in": types });
    }
    filter
}

/// A raw audit-trail document as read back (replay, the console).
pub(super) fn stored_raw(doc: &Document) -> StoredRaw {
    StoredRaw {
        digest: doc.get_str("_id").unwrap_or_default().to_owned(),
        provider: doc.get_str("provider").unwrap_or_default().to_owned(),
        event_type: doc.get_str("eventType").unwrap_or_default().to_owned(),
        body: body_bytes(doc.get("body")),
        received_at_ms: date_millis(doc.get("receivedAt")),
        path_and_query: doc.get_str("pathAndQuery").unwrap_or_default().to_owned(),
    }
}

pub(super) fn dead_letter(doc: &Document) -> DeadLetter {
    DeadLetter {
        id: doc.get_str("_id").unwrap_or_default().to_owned(),
        provider: doc.get_str("provider").unwrap_or_default().to_owned(),
        event_type: doc.get_str("eventType").unwrap_or_default().to_owned(),
        body: body_bytes(doc.get("body")),
        reason: doc.get_str("reason").unwrap_or_default().to_owned(),
        received_at_ms: date_millis(doc.get("receivedAt")),
        path_and_query: doc.get_str("pathAndQuery").unwrap_or_default().to_owned(),
    }
}

impl MongoMessageStore {
    /// Documents of `collection` matching `filter` with their `_id` (the digest), in `sort` order.
    pub(super) async fn find_keyed(
        &self,
        collection: &'static str,
        filter: Document,
        sort: Document,
        limit: usize,
    ) -> Result<Vec<Document>, StoreError> {
        self.collection(collection)
            .find(filter)
            .sort(sort)
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .await
            .map_err(mongo_error)?
            .try_collect()
            .await
            .map_err(mongo_error)
    }

    pub(super) async fn raw_documents(&self, page: &AuditPage) -> Result<Vec<StoredRaw>, StoreError> {
        let docs = self.find_keyed(RAW, filter(page), doc! { "receivedAt": 1, "_id": 1 }, page.limit).await?;
        Ok(docs.iter().map(stored_raw).collect())
    }

    pub(super) async fn dead_letter_documents(&self, page: &AuditPage) -> Result<Vec<DeadLetter>, StoreError> {
        let page = AuditPage { event_types: None, ..page.clone() };
        let docs = self.find_keyed(DEAD_LETTERS, filter(&page), doc! { "receivedAt": 1, "_id": 1 }, page.limit).await?;
        Ok(docs.iter().map(dead_letter).collect())
    }

    pub(super) async fn dead_letter_document(&self, id: &str) -> Result<Option<DeadLetter>, StoreError> {
        let found = self.collection(DEAD_LETTERS).find_one(doc! { "_id": id }).await.map_err(mongo_error)?;
        Ok(found.as_ref().map(dead_letter))
    }

    pub(super) async fn delete_dead_letter(&self, id: &str) -> Result<bool, StoreError> {
        let done = self.collection(DEAD_LETTERS).delete_one(doc! { "_id": id }).await.map_err(mongo_error)?;
        Ok(done.deleted_count > 0)
    }

    pub(super) async fn dead_letter_reason(&self, id: &str, reason: &str) -> Result<(), StoreError> {
        self.collection(DEAD_LETTERS)
            .update_one(doc! { "_id": id, "reason": { "$ne": reason } }, doc! { "$set": { "reason": reason } })
            .await
            .map_err(mongo_error)?;
        Ok(())
    }
}

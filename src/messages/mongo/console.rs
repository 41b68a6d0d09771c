//! [`MessageStore::recent_raw`](crate::messages::MessageStore::recent_raw) on MongoDB.

use futures::TryStreamExt;
use mongodb::bson::{doc, DateTime, Regex};

use super::errors::mongo_error;
use super::{MongoMessageStore, RAW};
use crate::messages::{RawFilter, StoreError, StoredRaw};

pub(super) async fn recent_raw(
    store: &MongoMessageStore,
    limit: u32,
    filter: &RawFilter,
) -> Result<Vec<StoredRaw>, StoreError> {
    let mut query = doc! { "receivedAt": { "$gte": DateTime::from_millis(filter.since_ms) } };
    if let Some(event_type) = &filter.event_type {
        query.insert("eventType", event_type);
    }
    if let Some(text) = &filter.mentions {
        // A literal substring: every regex metacharacter escaped.
        let pattern: String = text.chars().flat_map(|c| escape(c).into_iter().flatten()).collect();
        query.insert("body", Regex { pattern, options: "i".into() });
    }
    let docs: Vec<_> = store
        .collection(RAW)
        .find(query)
        // The replay's (receivedAt, _id) index, walked backwards.
        .sort(doc! { "receivedAt": -1, "_id": -1 })
        .limit(i64::from(limit))
        .await
        .map_err(mongo_error)?
        .try_collect()
        .await
        .map_err(mongo_error)?;
    Ok(docs.iter().map(super::replay::stored_raw).collect())
}

fn escape(c: char) -> [Option<char>; 2] {
    if "\\^$.|?*+()[]{}".contains(c) {
        [Some('\\'), Some(c)]
    } else {
        [Some(c), None]
    }
}

//! The two bulk writes the store is made of: unordered inserts where a duplicate key means
//! "already stored", and unordered `update` commands (one round trip for many statements, on every
//! server version; the driver's `Client::bulk_write` needs MongoDB 8).

use mongodb::bson::{doc, Document};
use mongodb::error::ErrorKind;

use super::convert::integer;
use super::errors::{mongo_error, WriteConcernFailed, WriteRefused, DUPLICATE_KEY};
use super::MongoMessageStore;
use crate::messages::StoreError;

/// Statements per `update` command; far below the server's 100 000 and its 48 MB message limit.
const UPDATES_PER_COMMAND: usize = 1_000;

impl MongoMessageStore {
    /// Insert `docs` unordered; returns, per document, whether it was already stored (E11000).
    pub(super) async fn insert_unordered(
        &self,
        collection: &'static str,
        docs: Vec<Document>,
    ) -> Result<Vec<bool>, StoreError> {
        let count = docs.len();
        if count == 0 {
            return Ok(Vec::new());
        }
        let error = match self.db.collection::<Document>(collection).insert_many(docs).ordered(false).await {
            Ok(_) => return Ok(vec![false; count]),
            Err(error) => error,
        };
        let ErrorKind::InsertMany(failure) = &*error.kind else {
            return Err(mongo_error(error));
        };
        if let Some(concern) = &failure.write_concern_error {
            return Err(WriteConcernFailed { collection, message: concern.message.clone() }.into());
        }
        let mut duplicate = vec![false; count];
        for write in failure.write_errors.iter().flatten() {
            match duplicate.get_mut(write.index) {
                Some(slot) if write.code == DUPLICATE_KEY => *slot = true,
                _ => return Err(WriteRefused { collection, code: write.code, message: write.message.clone() }.into()),
            }
        }
        Ok(duplicate)
    }

    /// Run `update` statements (`{q, u, upsert?, multi?}`) unordered. Returns the indices of the
    /// statements that failed with a duplicate key (an upsert that lost a race or whose filter
    /// excluded the existing document); any other refusal is an error.
    pub(super) async fn update_unordered(
        &self,
        collection: &'static str,
        statements: &[Document],
    ) -> Result<Vec<usize>, StoreError> {
        let mut duplicates = Vec::new();
        for (chunk_index, chunk) in statements.chunks(UPDATES_PER_COMMAND).enumerate() {
            let offset = chunk_index * UPDATES_PER_COMMAND;
            let mut command = doc! { "update": collection, "updates": chunk.to_vec(), "ordered": false };
            if !self.write_concern.is_empty() {
                command.insert("writeConcern", self.write_concern.clone());
            }
            let reply = self.db.run_command(command).await.map_err(mongo_error)?;
            if let Ok(concern) = reply.get_document("writeConcernError") {
                let message = concern.get_str("errmsg").unwrap_or_default().to_owned();
                return Err(WriteConcernFailed { collection, message }.into());
            }
            for write in reply.get_array("writeErrors").into_iter().flatten() {
                let write = write.as_document().cloned().unwrap_or_default();
                let code = integer(write.get("code")).unwrap_or(-1);
                let index = integer(write.get("index")).and_then(|i| usize::try_from(i).ok());
                match index {
                    Some(index) if code == i64::from(DUPLICATE_KEY) => duplicates.push(offset + index),
                    _ => {
                        let message = write.get_str("errmsg").unwrap_or_default().to_owned();
                        let code = i32::try_from(code).unwrap_or(-1);
                        return Err(WriteRefused { collection, code, message }.into());
                    }
                }
            }
        }
        Ok(duplicates)
    }

    /// Conditional upserts (`$max`, newest-wins): a duplicate key on the first attempt may only mean
    /// that another writer inserted the document between our filter and our insert, so those
    /// statements run once more. The document exists by then and documents are never deleted, so a
    /// second duplicate key means our filter excluded it: what is stored already wins. Returns the
    /// indices of those statements.
    pub(super) async fn upsert_converging(
        &self,
        collection: &'static str,
        statements: &[Document],
    ) -> Result<Vec<usize>, StoreError> {
        let lost = self.update_unordered(collection, statements).await?;
        if lost.is_empty() {
            return Ok(lost);
        }
        let again: Vec<Document> = lost.iter().map(|&i| statements[i].clone()).collect();
        let still = self.update_unordered(collection, &again).await?;
        Ok(still.into_iter().map(|i| lost[i]).collect())
    }
}

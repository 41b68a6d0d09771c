//! [`MessageStore::recent_raw`](crate::messages::MessageStore::recent_raw) on SQLite.

use sqlx::{QueryBuilder, Sqlite};

use super::{sql_error, EmbeddedMessageStore};
use crate::messages::{RawFilter, StoreError, StoredRaw};

pub(super) async fn recent_raw(
    store: &EmbeddedMessageStore,
    limit: u32,
    filter: &RawFilter,
) -> Result<Vec<StoredRaw>, StoreError> {
    let mut query = QueryBuilder::<Sqlite>::new(format!(
        "SELECT {} FROM raw_callbacks WHERE received_at_ms >= ",
        super::replay::RAW_COLUMNS
    ));
    query.push_bind(filter.since_ms);
    if let Some(event_type) = &filter.event_type {
        query.push(" AND event_type = ").push_bind(event_type.clone());
    }
    if let Some(text) = &filter.mentions {
        query.push(" AND instr(lower(CAST(body AS TEXT)), ").push_bind(text.to_lowercase()).push(") > 0");
    }
    query.push(" ORDER BY received_at_ms DESC, digest DESC LIMIT ").push_bind(i64::from(limit));
    let rows = query.build().fetch_all(&store.reader).await.map_err(sql_error)?;
    rows.iter().map(super::replay::stored_raw).collect::<Result<_, sqlx::Error>>().map_err(sql_error)
}

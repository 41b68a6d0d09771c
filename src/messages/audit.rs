//! Reading the audit trail and the dead-letter store back, page by page, for a replay (and the
//! operator console): what was received in a time range, in a stable order that a cursor can resume.

use bytes::Bytes;

/// A raw callback as the audit trail keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRaw {
    /// The body's digest (provider and bytes): the row's identity.
    pub digest: String,
    pub provider: String,
    /// The event type the parser gave when it was received (Tencent: the `CallbackCommand`).
    pub event_type: String,
    pub body: Bytes,
    /// As `RawCallback::path_and_query`.
    pub path_and_query: String,
    /// Milliseconds since the epoch.
    pub received_at_ms: i64,
}

/// Which rows of the raw audit trail or the dead-letter store to read: received within
/// `from_ms..=to_ms`, ordered by (received-at, digest) ascending, strictly after the cursor `after`,
/// at most `limit`. The order is total (digests are unique), so a cursor taken from the last row of
/// one page starts the next page exactly where this one ended, whatever was written in between.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPage {
    pub from_ms: i64,
    pub to_ms: i64,
    /// (received-at ms, digest) of the last row already read.
    pub after: Option<(i64, String)>,
    pub limit: usize,
    /// Only rows with one of these event types, when given (raw callbacks only: a dead letter has
    /// no event type, its body never parsed).
    pub event_types: Option<Vec<String>>,
}

impl AuditPage {
    /// The cursor as a (received-at, digest) lower bound: before the first row, `(from_ms, "")`
    /// (every digest sorts after the empty string).
    pub fn lower_bound(&self) -> (i64, &str) {
        match &self.after {
            Some((at, digest)) => (*at, digest.as_str()),
            None => (self.from_ms, ""),
        }
    }
}

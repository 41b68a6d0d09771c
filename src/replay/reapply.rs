//! Re-applying stored callbacks through the current parser: one page of the raw audit trail, one
//! page of dead letters, or one dead letter. Each body goes through the same parse → apply path as
//! a live callback (`crate::callbacks::parse`, then [`MessageStore::apply`]), with the time it was
//! first received.
//!
//! Why this never double-counts: every write of `apply` is idempotent (messages and recalls keyed,
//! watermarks forward-only, presence newest-wins by the event's own time), and the raw row is an
//! insert-if-absent on the body's digest, so a replayed body leaves its audit record, and its
//! retention, as they were. Live callbacks may arrive meanwhile; the order does not matter.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use imbridge_provider::ImProvider;

use crate::callbacks::parse;
use crate::messages::{CallbackRecord, DeadLetter, MessageStore, StoreError, StoredRaw};

/// The provider and the store a replay needs (`FromRef<AppState>` in `crate::app`).
#[derive(Clone)]
pub struct Replayer {
    pub provider: Arc<dyn ImProvider>,
    pub messages: Arc<dyn MessageStore>,
}

/// What a replay did, per stored callback.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Raw callbacks and dead letters looked at.
    pub scanned: i64,
    /// Raw callbacks whose events applied: a message or recall that was missing, and every read
    /// receipt and presence event (those merge newest-wins, so "applied" is all they can say).
    pub reapplied: i64,
    /// Raw callbacks that changed nothing: every message and recall already stored, or nothing but
    /// events kept raw only.
    pub unchanged: i64,
    /// Left alone: another provider's callbacks, backfill records (not callbacks), and dead letters
    /// that now parse to an event type outside `event_types`.
    pub skipped: i64,
    /// Dead letters that now parse: applied and removed from the dead-letter store.
    pub now_parsed: i64,
    /// Dead letters (or raw callbacks) the current parser still refuses; dead letters stay, with
    /// the parser's current reason.
    pub still_failing: i64,
}

impl Counts {
    pub fn add(&mut self, other: &Counts) {
        self.scanned += other.scanned;
        self.reapplied += other.reapplied;
        self.unchanged += other.unchanged;
        self.skipped += other.skipped;
        self.now_parsed += other.now_parsed;
        self.still_failing += other.still_failing;
    }
}

/// What replaying one dead letter did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadLetterReplay {
    /// It parses now: applied, and removed from the dead-letter store.
    Applied,
    /// The current parser still refuses it; it stays, with this reason.
    StillFailing { reason: String },
}

/// The path and query a stored body is parsed with: the one it arrived with, kept with it. Rows
/// kept before the store kept it have none; for them the one query value the row can give back is
/// the event type (Tencent reads its `CallbackCommand` there when the body lacks it; NetEase reads
/// the body only), and a Tencent login/logout of those lands on client type `unknown`, since its
/// `OptPlatform` is lost.
pub(crate) fn path_and_query(stored: &str, event_type: &str) -> String {
    if !stored.is_empty() {
        return stored.to_owned();
    }
    if event_type.is_empty() {
        return String::new();
    }
    let query: String =
        form_urlencoded::Serializer::new(String::new()).append_pair("CallbackCommand", event_type).finish();
    format!("?{query}")
}

fn at(ms: i64) -> SystemTime {
    let offset = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        UNIX_EPOCH + offset
    } else {
        UNIX_EPOCH - offset
    }
}

impl Replayer {
    fn parse(
        &self,
        stored: &str,
        event_type: &str,
        body: Bytes,
        received_at_ms: i64,
    ) -> Result<CallbackRecord, String> {
        let path_and_query = path_and_query(stored, event_type);
        parse(self.provider.as_ref(), &path_and_query, body, at(received_at_ms)).map_err(|(_, why)| why)
    }

    fn ours(&self, provider: &str) -> bool {
        provider == self.provider.name()
    }

    /// Re-apply one page of the raw audit trail, in one store write.
    pub async fn raw_page(&self, rows: &[StoredRaw]) -> Result<Counts, StoreError> {
        let mut counts = Counts { scanned: rows.len() as i64, ..Counts::default() };
        let mut batch = Vec::with_capacity(rows.len());
        for row in rows {
            if !self.ours(&row.provider) || row.event_type == crate::backfill::RAW_EVENT_TYPE {
                counts.skipped += 1;
                continue;
            }
            match self.parse(&row.path_and_query, &row.event_type, row.body.clone(), row.received_at_ms) {
                Ok(applied) => batch.push(applied),
                Err(reason) => {
                    tracing::warn!(digest = %row.digest, reason, "replay: a stored callback no longer parses");
                    counts.still_failing += 1;
                }
            }
        }
        if !batch.is_empty() {
            for outcome in self.messages.apply(&batch).await? {
                if outcome.applied > 0 {
                    counts.reapplied += 1;
                } else {
                    counts.unchanged += 1;
                }
            }
        }
        Ok(counts)
    }

    /// Replay one page of dead letters: those that parse now (of `event_types`, when given) are
    /// applied in one store write and then removed; the others stay with their current reason.
    pub async fn dead_letter_page(
        &self,
        letters: &[DeadLetter],
        event_types: Option<&[String]>,
    ) -> Result<Counts, StoreError> {
        let mut counts = Counts { scanned: letters.len() as i64, ..Counts::default() };
        let mut batch = Vec::new();
        let mut parsed_ids = Vec::new();
        for letter in letters {
            match self.parse_letter(letter).await? {
                Ok(applied) if event_types.is_some_and(|types| !types.contains(&applied.raw.event_type)) => {
                    counts.skipped += 1;
                }
                Ok(applied) => {
                    batch.push(applied);
                    parsed_ids.push(letter.id.as_str());
                }
                Err(_) => counts.still_failing += 1,
            }
        }
        if !batch.is_empty() {
            // Applied (durably) before removed: a crash in between leaves a dead letter that a
            // replay applies again, as a duplicate.
            self.messages.apply(&batch).await?;
            for id in parsed_ids {
                self.messages.remove_dead_letter(id).await?;
            }
            counts.now_parsed = batch.len() as i64;
        }
        Ok(counts)
    }

    /// Replay one dead letter.
    pub async fn dead_letter(&self, letter: &DeadLetter) -> Result<DeadLetterReplay, StoreError> {
        match self.parse_letter(letter).await? {
            Ok(applied) => {
                self.messages.apply(std::slice::from_ref(&applied)).await?;
                self.messages.remove_dead_letter(&letter.id).await?;
                Ok(DeadLetterReplay::Applied)
            }
            Err(reason) => Ok(DeadLetterReplay::StillFailing { reason }),
        }
    }

    /// Parse a dead letter's body now; when it still fails, its stored reason becomes the current
    /// parser's (another provider's dead letter is not parsed, and keeps its reason).
    async fn parse_letter(&self, letter: &DeadLetter) -> Result<Result<CallbackRecord, String>, StoreError> {
        if !self.ours(&letter.provider) {
            let (from, ours) = (&letter.provider, self.provider.name());
            return Ok(Err(format!("received from {from}; this deployment parses {ours} callbacks")));
        }
        let parsed = self.parse(&letter.path_and_query, &letter.event_type, letter.body.clone(), letter.received_at_ms);
        if let Err(reason) = &parsed {
            if *reason != letter.reason {
                self.messages.set_dead_letter_reason(&letter.id, reason).await?;
            }
        }
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_type_goes_back_into_the_query_and_times_round_trip() {
        assert_eq!(path_and_query("", ""), "");
        assert_eq!(path_and_query("", "State.StateChange"), "?CallbackCommand=State.StateChange");
        assert_eq!(path_and_query("", "a b&c"), "?CallbackCommand=a+b%26c");
        let kept = "/callbacks/tencent?CallbackCommand=State.StateChange&OptPlatform=iOS";
        assert_eq!(path_and_query(kept, "State.StateChange"), kept, "what arrived, when it was kept");
        assert_eq!(at(1_700_000_000_123).duration_since(UNIX_EPOCH).unwrap().as_millis(), 1_700_000_000_123);
    }
}

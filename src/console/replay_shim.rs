//! Stand-in for `crate::replay::replay_dead_letter` (branch `replay`), with its signature, so the
//! console's replay button works before that branch is merged.
// MERGE: delete this file and call `crate::replay::replay_dead_letter` from dead_letters.rs.

use std::time::{Duration, UNIX_EPOCH};

use super::ConsoleState;
use crate::error::AppError;
use crate::messages::{Applied, RawCallback};

/// What replaying one dead letter did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadLetterReplay {
    /// The current parser reads it; its events are applied (idempotently).
    Applied,
    /// The current parser still refuses it.
    StillFailing { reason: String },
}

/// Dead letters searched for `id` (the store has no lookup by id yet).
const SEARCHED: u32 = 1000;

/// Re-parse dead letter `id` with the current parser and apply what it yields.
pub async fn replay_dead_letter(state: &ConsoleState, id: &str) -> Result<DeadLetterReplay, AppError> {
    let letters = state.messages.dead_letters(SEARCHED).await?;
    let letter =
        letters.into_iter().find(|l| l.id == id).ok_or_else(|| AppError::NotFound(format!("no dead letter `{id}`")))?;
    let parsed = match state.provider.parse_callback(&state.config.callbacks.path, &letter.body) {
        Ok(parsed) => parsed,
        Err(e) => return Ok(DeadLetterReplay::StillFailing { reason: e.0 }),
    };
    let received_at = UNIX_EPOCH + Duration::from_millis(letter.received_at_ms.max(0) as u64);
    let raw = RawCallback { provider: letter.provider, event_type: parsed.event_type, body: letter.body, received_at };
    state.messages.apply(&[Applied { raw, events: parsed.events }]).await?;
    // MERGE: the store has no way to remove a dead letter yet; the replay branch's
    // `replay_dead_letter` removes it once applied, so it leaves the list.
    Ok(DeadLetterReplay::Applied)
}

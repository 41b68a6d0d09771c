//! How many REST calls the simulator received, per command and outcome.

use std::collections::BTreeMap;

/// Outcome key of a call that succeeded.
pub const OK: &str = "ok";
/// Outcome key of a `sendmsg` answered from the de-duplication window (nothing stored).
pub const DUPLICATE: &str = "duplicate";
/// Outcome key of a dropped connection.
pub const DROPPED: &str = "dropped";

/// Calls per command (`"openim/sendmsg"`), then per outcome: `"ok"`, `"duplicate"`, `"dropped"`,
/// the `ErrorCode` as text (`"60007"`) or `"http503"` for an injected HTTP status.
pub type CallCounts = BTreeMap<String, BTreeMap<String, u64>>;

pub(crate) fn record(counts: &mut CallCounts, command: &str, outcome: &str) {
    *counts.entry(command.to_owned()).or_default().entry(outcome.to_owned()).or_default() += 1;
}

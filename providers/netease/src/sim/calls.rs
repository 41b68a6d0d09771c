//! How many NetEase calls the simulator received, per API and per outcome.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Outcome key of a dropped connection.
pub const DROPPED: &str = "dropped";

/// The calls of one API. `codes` keys are the JSON result code (`"200"`, `"414"`, ...),
/// `"http503"` for an injected HTTP status, or `"dropped"`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionCalls {
    pub total: u64,
    pub codes: BTreeMap<String, u64>,
}

/// Calls per API (`"user/create"`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallCounts {
    pub total: u64,
    pub actions: BTreeMap<String, ActionCalls>,
}

impl CallCounts {
    pub(crate) fn record(&mut self, api: &str, outcome: &str) {
        self.total += 1;
        let calls = self.actions.entry(api.to_owned()).or_default();
        calls.total += 1;
        *calls.codes.entry(outcome.to_owned()).or_default() += 1;
    }

    /// Calls of `api`, whatever their outcome.
    pub fn total_of(&self, api: &str) -> u64 {
        self.actions.get(api).map_or(0, |c| c.total)
    }

    /// Calls of `api` with this outcome (`"200"`, `"431"`, `"http500"`, `"dropped"`).
    pub fn with_outcome(&self, api: &str, outcome: &str) -> u64 {
        self.actions.get(api).and_then(|c| c.codes.get(outcome)).copied().unwrap_or(0)
    }

    /// Calls of `api` answered with JSON code `code`.
    pub fn with_code(&self, api: &str, code: u16) -> u64 {
        self.with_outcome(api, &code.to_string())
    }
}

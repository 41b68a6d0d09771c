//! The `[backfill]` configuration section: what a backfill may ask for and how the worker paces,
//! leases and retries.

use std::time::Duration;

use serde::Deserialize;

/// Every key has a default (see `config/default.toml`); environment variables override them as
/// `IMBRIDGE_BACKFILL_<KEY>`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackfillConfig {
    /// Whether this instance runs the backfill worker (at least one instance sharing the database
    /// must, or jobs stay `running`).
    pub worker: bool,
    /// The longest range one request may ask for (`to - from`), in days.
    pub max_days: u32,
    /// Messages asked for per history call. NetEase returns at most 100 and refuses more.
    pub page_size: u32,
    /// History calls per second per worker, so a backfill leaves the provider quota
    /// (`netease.rate_per_second`, shared with everything else) to interactive calls.
    pub calls_per_second: u32,
    /// How often an idle worker looks for jobs.
    pub poll_interval_ms: u64,
    /// How long a claimed job stays reserved for its worker; renewed after every window. A job
    /// whose worker died is taken over by another once this has passed.
    pub lease_ms: u64,
    /// A job fails after this many consecutive transient failures of one window.
    pub max_attempts: u32,
    /// Retry delay after a transient failure: doubles per attempt up to the cap, with jitter.
    pub backoff_base_ms: u64,
    pub backoff_cap_ms: u64,
}

impl Default for BackfillConfig {
    fn default() -> Self {
        Self {
            worker: true,
            max_days: 90,
            page_size: 100,
            calls_per_second: 10,
            poll_interval_ms: 1_000,
            lease_ms: 60_000,
            max_attempts: 10,
            backoff_base_ms: 1_000,
            backoff_cap_ms: 60_000,
        }
    }
}

impl BackfillConfig {
    /// Reject settings the worker cannot run with; the message starts with the key.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("backfill.max_days", u64::from(self.max_days)),
            ("backfill.page_size", u64::from(self.page_size)),
            ("backfill.calls_per_second", u64::from(self.calls_per_second)),
            ("backfill.poll_interval_ms", self.poll_interval_ms),
            ("backfill.lease_ms", self.lease_ms),
            ("backfill.max_attempts", u64::from(self.max_attempts)),
            ("backfill.backoff_base_ms", self.backoff_base_ms),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(format!("{key} must be greater than 0"));
        }
        if self.backoff_cap_ms < self.backoff_base_ms {
            return Err("backfill.backoff_cap_ms must be at least backfill.backoff_base_ms".into());
        }
        Ok(())
    }

    /// The longest range, in ms.
    pub fn max_range_ms(&self) -> i64 {
        i64::from(self.max_days) * 24 * 3600 * 1000
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    /// The least time between two history calls of one worker.
    pub fn call_interval(&self) -> Duration {
        Duration::from_secs(1) / self.calls_per_second.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_name_the_key() {
        assert_eq!(BackfillConfig::default().validate(), Ok(()));
        let zero = BackfillConfig { page_size: 0, ..BackfillConfig::default() };
        assert!(zero.validate().unwrap_err().starts_with("backfill.page_size"));
        let cap = BackfillConfig { backoff_cap_ms: 1, ..BackfillConfig::default() };
        assert!(cap.validate().unwrap_err().starts_with("backfill.backoff_cap_ms"));
        assert_eq!(BackfillConfig::default().max_range_ms(), 90 * 86_400_000);
    }

    #[test]
    fn environment_variables_set_the_section_and_errors_name_them() {
        use crate::config::{Config, EnvVars};
        let env = |k: &str, v: &str| EnvVars::new([(k.to_owned(), v.to_owned())]);
        let config = Config::from_sources(None, env("IMBRIDGE_BACKFILL_MAX_DAYS", "7")).unwrap();
        assert_eq!(config.backfill.max_days, 7);
        assert_eq!(Config::defaults().backfill, BackfillConfig::default(), "config/default.toml matches Default");
        let err = Config::from_sources(None, env("IMBRIDGE_BACKFILL_PAGE_SIZE", "0")).unwrap_err();
        assert_eq!(err.var, "IMBRIDGE_BACKFILL_PAGE_SIZE");
    }
}

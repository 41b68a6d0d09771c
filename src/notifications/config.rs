//! The `[outbox]` configuration section: how the delivery worker polls, leases, retries and stops.

use std::time::Duration;

use serde::Deserialize;

/// Delivery settings. Every key has a default (see `config/default.toml`); environment variables
/// override them as `IMBRIDGE_OUTBOX_<KEY>` (e.g. `IMBRIDGE_OUTBOX_LEASE_MS`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboxConfig {
    /// Whether this instance runs the delivery worker. Instances that only accept API calls may
    /// turn it off; at least one instance sharing the database must run it.
    pub worker: bool,
    /// How often an idle worker looks for due items (new notifications accepted by this instance
    /// wake it at once; this bounds the delay for retries and for work enqueued elsewhere).
    pub poll_interval_ms: u64,
    /// How long a claimed item stays reserved for its worker. Renewed while the send runs; an item
    /// whose worker died becomes claimable again once this has passed.
    pub lease_ms: u64,
    /// Provider sends in flight per worker.
    pub concurrency: usize,
    /// Give up on transient failures after this many sends of one item ...
    pub max_attempts: u32,
    /// ... or once the item is this old, whichever comes first (rate-limit waits count here too).
    pub max_age_secs: u64,
    /// First retry delay after a transient failure; doubles per attempt up to `backoff_cap_ms`.
    /// The actual delay is drawn between half and all of that (jitter).
    pub backoff_base_ms: u64,
    pub backoff_cap_ms: u64,
    /// On shutdown, how long in-flight sends may take to finish before their leases are released.
    pub shutdown_grace_ms: u64,
    /// The most recipients one notification may name.
    pub max_recipients: usize,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            worker: true,
            poll_interval_ms: 1_000,
            lease_ms: 60_000,
            concurrency: 8,
            max_attempts: 20,
            max_age_secs: 24 * 3600,
            backoff_base_ms: 1_000,
            backoff_cap_ms: 300_000,
            shutdown_grace_ms: 10_000,
            max_recipients: 100_000,
        }
    }
}

impl OutboxConfig {
    /// Reject settings the worker cannot run with; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("outbox.poll_interval_ms", self.poll_interval_ms),
            ("outbox.lease_ms", self.lease_ms),
            ("outbox.concurrency", self.concurrency as u64),
            ("outbox.max_attempts", u64::from(self.max_attempts)),
            ("outbox.max_age_secs", self.max_age_secs),
            ("outbox.backoff_base_ms", self.backoff_base_ms),
            ("outbox.max_recipients", self.max_recipients as u64),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(format!("{key} must be greater than 0"));
        }
        if self.backoff_cap_ms < self.backoff_base_ms {
            return Err("outbox.backoff_cap_ms must be at least outbox.backoff_base_ms".into());
        }
        Ok(())
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    pub fn lease(&self) -> Duration {
        Duration::from_millis(self.lease_ms)
    }

    pub fn max_age(&self) -> Duration {
        Duration::from_secs(self.max_age_secs)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_name_the_key() {
        assert_eq!(OutboxConfig::default().validate(), Ok(()));
        let zero = OutboxConfig { concurrency: 0, ..OutboxConfig::default() };
        assert!(zero.validate().unwrap_err().contains("outbox.concurrency"));
        let cap = OutboxConfig { backoff_cap_ms: 10, ..OutboxConfig::default() };
        assert!(cap.validate().unwrap_err().contains("outbox.backoff_cap_ms"));
    }
}

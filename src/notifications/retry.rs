//! What to do with a provider's answer to one delivery item: settle it, or try again when.

use std::time::Duration;

use imbridge_provider::{ProviderError, SendOutcome};
use rand::Rng;

use super::config::OutboxConfig;

/// The worker's decision for one send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Delivered {
        code: i64,
        desc: Option<String>,
        unregistered: Vec<String>,
    },
    /// Never retried: the provider refused the request itself, or we gave up.
    Failed {
        code: Option<i64>,
        desc: String,
    },
    /// Try again after `after`. `refund` = this send does not count as an attempt (rate limited).
    Retry {
        after: Duration,
        code: Option<i64>,
        desc: String,
        refund: bool,
    },
}

/// `attempts`: sends of this item so far, this one included; `age`: since it was enqueued.
pub fn decide(
    result: Result<SendOutcome, ProviderError>,
    attempts: u32,
    age: Duration,
    config: &OutboxConfig,
) -> Verdict {
    match result {
        Ok(SendOutcome { unregistered, duplicate: false, code }) => {
            Verdict::Delivered { code, desc: None, unregistered }
        }
        Ok(SendOutcome { unregistered, duplicate: true, code }) => Verdict::Delivered {
            code,
            desc: Some("repeated request id: an earlier attempt was delivered".into()),
            unregistered,
        },
        Err(ProviderError::Rejected { code, desc }) => Verdict::Failed { code: Some(code), desc },
        Err(e @ (ProviderError::Invalid(_) | ProviderError::Unsupported(_))) => {
            Verdict::Failed { code: None, desc: e.to_string() }
        }
        Err(ProviderError::Unavailable(desc)) => {
            if attempts >= config.max_attempts || age >= config.max_age() {
                Verdict::Failed { code: None, desc: format!("gave up after {attempts} attempts: {desc}") }
            } else {
                Verdict::Retry { after: backoff(attempts, config), code: None, desc, refund: false }
            }
        }
        Err(ProviderError::RateLimited { retry_after, code }) => {
            let desc = format!("rate limited; blocked for {} ms", retry_after.as_millis());
            if age + retry_after >= config.max_age() {
                Verdict::Failed { code: Some(code), desc: format!("gave up: {desc}") }
            } else {
                Verdict::Retry { after: block_wait(retry_after), code: Some(code), desc, refund: true }
            }
        }
    }
}

/// The outbox's retry delay ([`crate::backoff::capped_exponential`] with its configured base and cap).
pub fn backoff(attempts: u32, config: &OutboxConfig) -> Duration {
    crate::backoff::capped_exponential(attempts, config.backoff_base_ms, config.backoff_cap_ms)
}

/// Wait out a provider block, plus up to 10 % (at most 1 s) so that everything blocked together
/// does not hit the provider in the same instant when the block ends.
fn block_wait(retry_after: Duration) -> Duration {
    let spread = (retry_after.as_millis() as u64 / 10).min(1_000);
    retry_after + Duration::from_millis(rand::thread_rng().gen_range(0..=spread))
}

#[cfg(test)]
mod tests {
    use imbridge_provider::InvalidField;

    use super::*;

    fn config() -> OutboxConfig {
        OutboxConfig { backoff_base_ms: 100, backoff_cap_ms: 1_000, max_attempts: 5, ..OutboxConfig::default() }
    }

    #[test]
    fn backoff_doubles_within_jitter_and_stays_capped() {
        let cfg = config();
        for (attempts, full) in [(1, 100), (2, 200), (3, 400), (4, 800), (5, 1_000), (40, 1_000)] {
            for _ in 0..50 {
                let d = backoff(attempts, &cfg).as_millis() as u64;
                assert!((full / 2..=full).contains(&d), "attempt {attempts}: {d} ms not in {}..={full}", full / 2);
            }
        }
    }

    #[test]
    fn transient_failures_retry_until_max_attempts() {
        let cfg = config();
        let unavailable = || Err(ProviderError::Unavailable("503 busy".into()));
        let v = decide(unavailable(), 1, Duration::ZERO, &cfg);
        assert!(matches!(v, Verdict::Retry { refund: false, .. }), "{v:?}");
        let v = decide(unavailable(), 5, Duration::ZERO, &cfg);
        assert!(matches!(&v, Verdict::Failed { desc, .. } if desc.contains("503 busy")), "{v:?}");
        let v = decide(unavailable(), 1, cfg.max_age(), &cfg);
        assert!(matches!(v, Verdict::Failed { .. }), "{v:?}");
    }

    #[test]
    fn rate_limits_wait_the_block_without_spending_attempts() {
        let cfg = config();
        let limited = Err(ProviderError::RateLimited { retry_after: Duration::from_secs(10), code: 416 });
        match decide(limited, 5, Duration::ZERO, &cfg) {
            Verdict::Retry { after, code: Some(416), refund: true, .. } => {
                assert!(after >= Duration::from_secs(10) && after <= Duration::from_secs(11), "{after:?}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refusals_fail_and_duplicates_count_as_delivered() {
        let cfg = config();
        let refused = Err(ProviderError::Rejected { code: 414, desc: "from not exist".into() });
        assert_eq!(
            decide(refused, 1, Duration::ZERO, &cfg),
            Verdict::Failed { code: Some(414), desc: "from not exist".into() }
        );
        let invalid = Err(ProviderError::Invalid(InvalidField::new("attach", "too long")));
        assert!(matches!(decide(invalid, 1, Duration::ZERO, &cfg), Verdict::Failed { code: None, .. }));
        // The provider's own code is recorded as it came.
        let dup = Ok(SendOutcome { unregistered: vec![], duplicate: true, code: 431 });
        assert!(matches!(decide(dup, 2, Duration::ZERO, &cfg), Verdict::Delivered { code: 431, desc: Some(_), .. }));
        let ok = Ok(SendOutcome { unregistered: vec!["ghost".into()], duplicate: false, code: 0 });
        assert_eq!(
            decide(ok, 1, Duration::ZERO, &cfg),
            Verdict::Delivered { code: 0, desc: None, unregistered: vec!["ghost".into()] }
        );
    }
}

//! Retry delays shared by the background workers (the notification outbox, backfill jobs).

use std::time::Duration;

use rand::Rng;

/// Capped exponential backoff with jitter: somewhere between half and all of
/// `min(cap_ms, base_ms * 2^(attempts-1))`, so that work failing together does not retry together.
pub fn capped_exponential(attempts: u32, base_ms: u64, cap_ms: u64) -> Duration {
    let exp = attempts.saturating_sub(1).min(32);
    let full = base_ms.saturating_mul(1u64 << exp).min(cap_ms);
    let half = full / 2;
    Duration::from_millis(half + rand::thread_rng().gen_range(0..=full - half))
}

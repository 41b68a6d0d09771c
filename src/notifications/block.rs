//! The provider's rate-limit block (NetEase 416, Tencent's frequency errors) as the delivery workers
//! last saw it, so an operator can tell "the provider is blocking us until 12:04" from "stuck".

use std::sync::atomic::{AtomicI64, Ordering};

/// When the latest block this process's workers hit ends (ms since the epoch; 0 = none seen).
#[derive(Debug, Default)]
pub struct RateLimitBlock {
    until_ms: AtomicI64,
}

impl RateLimitBlock {
    /// A send was refused for `retry_after_ms` at `now_ms`. Blocks only extend: a shorter one
    /// reported by a send that started earlier does not hide a longer one.
    pub fn blocked(&self, now_ms: i64, retry_after_ms: i64) {
        self.until_ms.fetch_max(now_ms.saturating_add(retry_after_ms), Ordering::Relaxed);
    }

    /// When the block ends, if it is still on at `now_ms`.
    pub fn active(&self, now_ms: i64) -> Option<i64> {
        let until = self.until_ms.load(Ordering::Relaxed);
        (until > now_ms).then_some(until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_only_extends_and_ends() {
        let block = RateLimitBlock::default();
        assert_eq!(block.active(1_000), None);
        block.blocked(1_000, 10_000);
        block.blocked(2_000, 1_000);
        assert_eq!(block.active(5_000), Some(11_000), "the shorter block does not hide the longer one");
        assert_eq!(block.active(11_000), None);
    }
}

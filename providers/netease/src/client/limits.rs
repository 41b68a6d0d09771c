//! Client-side rate limiting per NetEase API class, and memory of NetEase's own blocks (416).
//!
//! NetEase counts calls per app and, past the quota, blocks the whole class for a fixed period
//! (10 s for the per-second class, 1 min for the batch class). Every clone of a client shares one
//! gate per class, so the outbox and synchronous account calls draw from the same quota.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use imbridge_provider::quota::{Permit, SlidingWindow};

use crate::error::NeteaseError;

/// The two quota classes of shared/providers/netease.md §1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiClass {
    /// 100 calls/s by default: user/*, friend/*, msg/sendMsg, sendAttachMsg, recall, markReadMsg,
    /// history/querySessionMsg.
    PerSecond,
    /// 120 calls/min by default: msg/sendBatchAttachMsg.
    Batch,
}

impl ApiClass {
    /// How long NetEase blocks the class after a 416.
    pub fn block_period(self) -> Duration {
        match self {
            ApiClass::PerSecond => Duration::from_secs(10),
            ApiClass::Batch => Duration::from_secs(60),
        }
    }
}

/// Admission for one API class: a sliding-window limiter plus the "blocked until" NetEase imposed.
#[derive(Debug)]
pub(crate) struct Gate {
    class: ApiClass,
    window: SlidingWindow,
    blocked_until: Mutex<Option<Instant>>,
}

impl Gate {
    pub(crate) fn new(class: ApiClass, limit: u32, period: Duration) -> Self {
        Self { class, window: SlidingWindow::new(limit, period), blocked_until: Mutex::new(None) }
    }

    /// Wait for a slot; hold the permit until the call is answered. Fails at once, without
    /// waiting, while NetEase blocks the class.
    pub(crate) async fn admit(&self) -> Result<Permit<'_>, NeteaseError> {
        self.check_blocked()?;
        let permit = self.window.acquire().await;
        // A 416 may have arrived for another call while this one waited.
        self.check_blocked()?;
        Ok(permit)
    }

    /// Remember a 416 and return the error the caller sees.
    pub(crate) fn block(&self, code: i64) -> NeteaseError {
        let until = Instant::now() + self.class.block_period();
        let mut blocked = self.blocked_until.lock().unwrap_or_else(|p| p.into_inner());
        // Concurrent 416s: keep the latest end so no call slips through early.
        let until = blocked.map_or(until, |b| b.max(until));
        *blocked = Some(until);
        tracing::warn!(class = ?self.class, block_secs = self.class.block_period().as_secs(), "netease frequency control (416): class blocked");
        NeteaseError::Blocked { until, code }
    }

    fn check_blocked(&self) -> Result<(), NeteaseError> {
        let mut blocked = self.blocked_until.lock().unwrap_or_else(|p| p.into_inner());
        match *blocked {
            Some(until) if Instant::now() < until => {
                Err(NeteaseError::Blocked { until, code: crate::error::codes::FREQUENCY })
            }
            Some(_) => {
                *blocked = None;
                Ok(())
            }
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_block_fails_calls_until_it_ends() {
        let gate = Gate::new(ApiClass::PerSecond, 10, Duration::from_secs(1));
        drop(gate.admit().await.unwrap());
        let NeteaseError::Blocked { until, code } = gate.block(416) else { panic!("block returns Blocked") };
        assert_eq!(code, 416);
        assert!(until >= Instant::now() + Duration::from_secs(9));
        assert!(matches!(gate.admit().await, Err(NeteaseError::Blocked { .. })));
        // Pretend the block period is over.
        *gate.blocked_until.lock().unwrap() = Some(Instant::now() - Duration::from_millis(1));
        drop(gate.admit().await.unwrap());
    }
}

//! NetEase's frequency control (416 and block periods) and RequestId de-duplication (431).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::params::NimError;

/// The rate-limit class of an API (shared/providers/netease.md, "Default rate limits").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RateClass {
    /// user/*, friend/*, msg/sendMsg, sendAttachMsg, recall, markReadMsg,
    /// history/querySessionMsg: per second, 10 s block.
    PerSecond,
    /// msg/sendBatchMsg, sendBatchAttachMsg: per minute, 60 s block.
    Batch,
}

/// One class's sliding window and block.
#[derive(Debug)]
struct Window {
    limit: u32,
    period: Duration,
    block: Duration,
    admitted: VecDeque<Instant>,
    blocked_until: Option<Instant>,
}

impl Window {
    fn new(limit: u32, period: Duration, block: Duration) -> Self {
        Self { limit, period, block, admitted: VecDeque::new(), blocked_until: None }
    }

    fn admit(&mut self, now: Instant) -> Result<(), Duration> {
        if let Some(until) = self.blocked_until {
            if now < until {
                return Err(until - now);
            }
            self.blocked_until = None;
            self.admitted.clear();
        }
        if self.limit == 0 {
            return Ok(());
        }
        while self.admitted.front().is_some_and(|t| now.duration_since(*t) >= self.period) {
            self.admitted.pop_front();
        }
        if self.admitted.len() >= self.limit as usize {
            self.blocked_until = Some(now + self.block);
            return Err(self.block);
        }
        self.admitted.push_back(now);
        Ok(())
    }
}

/// Per-app limits of both classes.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    per_second: Window,
    batch: Window,
}

impl RateLimiter {
    pub fn new(
        per_second_limit: u32,
        batch_per_minute_limit: u32,
        block_second: Duration,
        block_minute: Duration,
    ) -> Self {
        Self {
            per_second: Window::new(per_second_limit, Duration::from_secs(1), block_second),
            batch: Window::new(batch_per_minute_limit, Duration::from_secs(60), block_minute),
        }
    }

    /// Admits one call of `class`, or answers 416 (the class is, or now becomes, blocked).
    pub fn admit(&mut self, class: RateClass, now: Instant) -> Result<(), NimError> {
        let window = match class {
            RateClass::PerSecond => &mut self.per_second,
            RateClass::Batch => &mut self.batch,
        };
        window.admit(now).map_err(|left| {
            NimError::new(416, format!("frequency control: blocked, retry in {} ms", left.as_millis().max(1)))
        })
    }

    /// Lifts blocks and forgets history (used by reset).
    pub fn clear(&mut self) {
        for w in [&mut self.per_second, &mut self.batch] {
            w.admitted.clear();
            w.blocked_until = None;
        }
    }
}

/// How long a successful RequestId is remembered.
pub(crate) const REQUEST_ID_TTL: Duration = Duration::from_secs(3600);

/// RequestIds of calls that succeeded, with when they were seen.
#[derive(Debug, Default)]
pub(crate) struct RequestIds {
    seen: HashMap<String, Instant>,
    order: VecDeque<(Instant, String)>,
}

impl RequestIds {
    pub fn contains(&mut self, id: &str, now: Instant) -> bool {
        self.expire(now);
        self.seen.contains_key(id)
    }

    pub fn remember(&mut self, id: &str, now: Instant) {
        if self.seen.insert(id.to_owned(), now).is_none() {
            self.order.push_back((now, id.to_owned()));
        }
    }

    pub fn clear(&mut self) {
        self.seen.clear();
        self.order.clear();
    }

    fn expire(&mut self, now: Instant) {
        while let Some((at, _)) = self.order.front() {
            if now.duration_since(*at) < REQUEST_ID_TTL {
                break;
            }
            if let Some((_, id)) = self.order.pop_front() {
                self.seen.remove(&id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excess_blocks_the_class_for_the_block_period() {
        let mut rl = RateLimiter::new(2, 1, Duration::from_secs(10), Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(rl.admit(RateClass::PerSecond, t0).is_ok());
        assert!(rl.admit(RateClass::PerSecond, t0).is_ok());
        assert_eq!(rl.admit(RateClass::PerSecond, t0).unwrap_err().code, 416);
        // The window has moved on, but the block holds for 10 s.
        assert!(rl.admit(RateClass::PerSecond, t0 + Duration::from_secs(5)).is_err());
        // The other class is independent.
        assert!(rl.admit(RateClass::Batch, t0).is_ok());
        assert!(rl.admit(RateClass::PerSecond, t0 + Duration::from_secs(10)).is_ok());
    }

    #[test]
    fn the_window_slides() {
        let mut rl = RateLimiter::new(1, 0, Duration::from_secs(10), Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(rl.admit(RateClass::PerSecond, t0).is_ok());
        assert!(rl.admit(RateClass::PerSecond, t0 + Duration::from_millis(1000)).is_ok());
        // Limit 0 disables the batch limit.
        for _ in 0..1000 {
            assert!(rl.admit(RateClass::Batch, t0).is_ok());
        }
    }

    #[test]
    fn request_ids_expire_after_an_hour() {
        let mut ids = RequestIds::default();
        let t0 = Instant::now();
        ids.remember("r1", t0);
        assert!(ids.contains("r1", t0 + Duration::from_secs(3599)));
        assert!(!ids.contains("r1", t0 + REQUEST_ID_TTL));
        assert!(!ids.contains("r2", t0));
    }
}

//! REST frequency control: each command admits `rate_per_second` calls over a sliding one-second
//! window (Tencent: 200/s for most commands); `multiaccount_import` and `account_check` admit half
//! as many (Tencent: 100/s). An excess call answers 60007 without effect and is not counted.
//! Tencent documents no block period, so there is none: the window simply slides.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(1);

/// Commands Tencent limits to 100 calls/s instead of 200.
const HALF_RATE: &[&str] = &["im_open_login_svc/multiaccount_import", "im_open_login_svc/account_check"];

#[derive(Debug)]
pub(crate) struct RateLimiter {
    per_second: u32,
    windows: HashMap<String, VecDeque<Instant>>,
}

impl RateLimiter {
    /// `per_second` 0 disables the limit.
    pub fn new(per_second: u32) -> Self {
        Self { per_second, windows: HashMap::new() }
    }

    fn limit(&self, command: &str) -> u32 {
        if HALF_RATE.contains(&command) {
            (self.per_second / 2).max(1)
        } else {
            self.per_second
        }
    }

    /// Whether one more call of `command` fits at `now` (and counts it if so).
    pub fn admit(&mut self, command: &str, now: Instant) -> bool {
        if self.per_second == 0 {
            return true;
        }
        let limit = self.limit(command) as usize;
        let window = self.windows.entry(command.to_owned()).or_default();
        while window.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
            window.pop_front();
        }
        if window.len() >= limit {
            return false;
        }
        window.push_back(now);
        true
    }

    pub fn clear(&mut self) {
        self.windows.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_slides_per_command() {
        let mut l = RateLimiter::new(2);
        let t = Instant::now();
        assert!(l.admit("openim/sendmsg", t));
        assert!(l.admit("openim/sendmsg", t));
        assert!(!l.admit("openim/sendmsg", t + Duration::from_millis(500)));
        assert!(l.admit("sns/friend_add", t));
        assert!(l.admit("im_open_login_svc/account_check", t));
        assert!(!l.admit("im_open_login_svc/account_check", t));
        assert!(l.admit("openim/sendmsg", t + Duration::from_millis(1000)));
        assert!(RateLimiter::new(0).admit("x/y", t));
    }
}

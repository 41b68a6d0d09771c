//! Fault injection for NetEase calls: failures, dropped connections and slow answers.
//! Injected failures happen before authentication and before any effect: a failed call changes
//! nothing. One fault concerns callbacks instead: losing a share of login/logout events, which
//! NetEase documents as possibly lost (shared/providers/netease.md §2).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What to inject (the JSON of `POST /__sim/faults`). All zero: no faults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Fail this many upcoming calls.
    pub fail_next: u32,
    /// The code those failures carry: 500 (when 0), 503, 408, 514, ...
    pub fail_code: u16,
    /// Answer failures with a real HTTP status `fail_code` and a plain-text body, as a proxy in
    /// front of NetEase would, instead of HTTP 200 with a JSON `code`.
    pub http_status: bool,
    /// Close the connection of this many upcoming calls without any answer.
    pub drop_next: u32,
    /// Hold every answer this long. The call takes effect first, so a client that times out
    /// cannot know whether it did — which is what `RequestId` is for.
    pub delay_ms: u64,
    /// Only calls of these APIs (`"msg/sendBatchAttachMsg"`, ...) are affected; empty: all.
    pub actions: Vec<String>,
    /// Lose this share (0..=100 %, drawn at random per event) of login/logout callbacks (eventType
    /// 2/3): they are recorded as lost and never posted. `actions` does not apply.
    pub lose_presence_percent: u8,
}

impl Faults {
    /// Fail the next `n` calls with JSON code `code` (HTTP 200).
    pub fn fail_next(n: u32, code: u16) -> Self {
        Self { fail_next: n, fail_code: code, ..Self::default() }
    }

    /// Fail the next `n` calls with HTTP status `status`.
    pub fn http_fail_next(n: u32, status: u16) -> Self {
        Self { fail_next: n, fail_code: status, http_status: true, ..Self::default() }
    }

    /// Drop the connection of the next `n` calls.
    pub fn drop_next(n: u32) -> Self {
        Self { drop_next: n, ..Self::default() }
    }

    /// Delay every answer.
    pub fn delay(delay: Duration) -> Self {
        Self { delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), ..Self::default() }
    }

    /// Lose `percent` % of login/logout callbacks.
    pub fn lose_presence(percent: u8) -> Self {
        Self { lose_presence_percent: percent, ..Self::default() }
    }

    /// Restrict to some APIs.
    pub fn only(mut self, actions: &[&str]) -> Self {
        self.actions = actions.iter().map(|a| (*a).to_owned()).collect();
        self
    }

    /// Why this configuration cannot be applied, if it cannot.
    pub fn problem(&self) -> Option<String> {
        let code = self.effective_code();
        if !(100..=599).contains(&code) {
            return Some(format!("fail_code {code} is not an HTTP-like status (100..=599)"));
        }
        if self.http_status && code < 400 {
            return Some(format!("fail_code {code} is not an error status"));
        }
        if self.lose_presence_percent > 100 {
            return Some(format!("lose_presence_percent {} is more than 100", self.lose_presence_percent));
        }
        None
    }

    fn effective_code(&self) -> u16 {
        if self.fail_code == 0 {
            500
        } else {
            self.fail_code
        }
    }

    fn applies_to(&self, api: &str) -> bool {
        self.actions.is_empty() || self.actions.iter().any(|a| a == api)
    }
}

/// A fault picked for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Injected {
    Drop,
    Fail { code: u16, http_status: bool },
}

/// The configured faults and what is left of them.
#[derive(Debug, Default)]
pub(crate) struct FaultState {
    current: Faults,
}

impl FaultState {
    pub fn set(&mut self, faults: Faults) {
        self.current = faults;
    }

    pub fn get(&self) -> Faults {
        self.current.clone()
    }

    /// Consumes one fault for a call of `api`, drops first.
    pub fn take(&mut self, api: &str) -> Option<Injected> {
        let f = &mut self.current;
        if !f.applies_to(api) {
            return None;
        }
        if f.drop_next > 0 {
            f.drop_next -= 1;
            return Some(Injected::Drop);
        }
        if f.fail_next > 0 {
            f.fail_next -= 1;
            return Some(Injected::Fail { code: f.effective_code(), http_status: f.http_status });
        }
        None
    }

    /// Whether to lose the next login/logout callback.
    pub fn lose_presence(&self) -> bool {
        match self.current.lose_presence_percent {
            0 => false,
            p if p >= 100 => true,
            p => rand::Rng::gen_range(&mut rand::thread_rng(), 0..100u8) < p,
        }
    }

    pub fn delay(&self, api: &str) -> Option<Duration> {
        (self.current.delay_ms > 0 && self.current.applies_to(api))
            .then(|| Duration::from_millis(self.current.delay_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_consumed_drops_first_and_filtered_by_api() {
        let mut fs = FaultState::default();
        fs.set(Faults { fail_next: 1, fail_code: 503, drop_next: 1, ..Faults::default() }.only(&["user/create"]));
        assert_eq!(fs.take("friend/add"), None);
        assert_eq!(fs.take("user/create"), Some(Injected::Drop));
        assert_eq!(fs.take("user/create"), Some(Injected::Fail { code: 503, http_status: false }));
        assert_eq!(fs.take("user/create"), None);
    }

    #[test]
    fn codes_default_to_500_and_are_checked() {
        let mut fs = FaultState::default();
        fs.set(Faults { fail_next: 1, ..Faults::default() });
        assert_eq!(fs.take("x/y"), Some(Injected::Fail { code: 500, http_status: false }));
        assert!(Faults::fail_next(1, 700).problem().is_some());
        assert!(Faults::http_fail_next(1, 200).problem().is_some());
        assert!(Faults::http_fail_next(1, 503).problem().is_none());
        assert!(Faults::lose_presence(101).problem().is_some());
    }

    #[test]
    fn presence_losses_follow_the_share() {
        let mut fs = FaultState::default();
        assert!(!fs.lose_presence());
        fs.set(Faults::lose_presence(100));
        assert!(fs.lose_presence());
        fs.set(Faults::lose_presence(30));
        let lost = (0..10_000).filter(|_| fs.lose_presence()).count();
        assert!((2_500..3_500).contains(&lost), "{lost} of 10 000 lost at 30 %");
    }
}

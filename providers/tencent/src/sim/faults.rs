//! Fault injection for REST calls: failures with a Tencent code or an HTTP status, and dropped
//! connections. Injected faults happen before anything else (the query string is not even read),
//! so a failed call changes nothing.

use rand::Rng;
use serde::{Deserialize, Serialize};

/// The code injected failures carry when `fail_code` is 0: 70500, "internal error" (retryable).
pub const DEFAULT_FAIL_CODE: i64 = 70500;

/// What to inject (the JSON of `POST /__sim/faults`). All zero: no faults.
///
/// The counters (`fail_next`, `drop_next`) are exact, for deterministic tests; the percentages
/// are drawn at random per call. Drops are considered before failures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Fail this many upcoming calls.
    pub fail_next: u32,
    /// Also fail this share (0..=100 %) of calls.
    pub fail_percent: u8,
    /// The `ErrorCode` of injected failures (0 means 70500). Ignored when `http_status` is set.
    pub fail_code: i64,
    /// When non-zero, injected failures answer this HTTP status (400..=599) with a plain-text body,
    /// as a proxy in front of Tencent would, instead of HTTP 200 with a FAIL envelope.
    pub http_status: u16,
    /// Close the connection of this many upcoming calls without answering.
    pub drop_next: u32,
    /// Also drop the connection of this share (0..=100 %) of calls.
    pub drop_connection_percent: u8,
    /// Hold every answer of an affected command this long (the call takes effect first).
    pub delay_ms: u64,
    /// Only these commands (`"openim/sendmsg"`, ...) are affected; empty: all.
    pub commands: Vec<String>,
}

impl Faults {
    /// Fail the next `n` calls with `ErrorCode` `code`.
    pub fn fail_next(n: u32, code: i64) -> Self {
        Self { fail_next: n, fail_code: code, ..Self::default() }
    }

    /// Drop the connection of the next `n` calls.
    pub fn drop_next(n: u32) -> Self {
        Self { drop_next: n, ..Self::default() }
    }

    /// Restrict to some commands.
    pub fn only(mut self, commands: &[&str]) -> Self {
        self.commands = commands.iter().map(|c| (*c).to_owned()).collect();
        self
    }

    /// Why this configuration cannot be applied, if it cannot.
    pub fn problem(&self) -> Option<String> {
        if self.fail_percent > 100 || self.drop_connection_percent > 100 {
            return Some("percentages must be 0..=100".to_owned());
        }
        if self.http_status != 0 && !(400..=599).contains(&self.http_status) {
            return Some(format!("http_status {} is not an error status (400..=599)", self.http_status));
        }
        None
    }

    fn applies_to(&self, command: &str) -> bool {
        self.commands.is_empty() || self.commands.iter().any(|c| c == command)
    }
}

/// A fault picked for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Injected {
    Drop,
    Fail { code: i64 },
    Http { status: u16 },
}

#[derive(Debug, Default)]
pub(crate) struct FaultState {
    current: Faults,
}

fn chance(percent: u8) -> bool {
    match percent {
        0 => false,
        p if p >= 100 => true,
        p => rand::thread_rng().gen_range(0..100u8) < p,
    }
}

impl FaultState {
    pub fn set(&mut self, faults: Faults) {
        self.current = faults;
    }

    pub fn get(&self) -> Faults {
        self.current.clone()
    }

    /// Picks (and consumes) the fault for one call of `command`, if any.
    pub fn take(&mut self, command: &str) -> Option<Injected> {
        let f = &mut self.current;
        if !f.applies_to(command) {
            return None;
        }
        if f.drop_next > 0 {
            f.drop_next -= 1;
            return Some(Injected::Drop);
        }
        if chance(f.drop_connection_percent) {
            return Some(Injected::Drop);
        }
        let fail = if f.fail_next > 0 {
            f.fail_next -= 1;
            true
        } else {
            chance(f.fail_percent)
        };
        if !fail {
            return None;
        }
        if f.http_status != 0 {
            return Some(Injected::Http { status: f.http_status });
        }
        Some(Injected::Fail { code: if f.fail_code == 0 { DEFAULT_FAIL_CODE } else { f.fail_code } })
    }

    pub fn delay_ms(&self, command: &str) -> u64 {
        if self.current.applies_to(command) {
            self.current.delay_ms
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_consumed_drops_first_and_filtered_by_command() {
        let mut fs = FaultState::default();
        fs.set(Faults { fail_next: 1, drop_next: 1, ..Faults::default() }.only(&["openim/sendmsg"]));
        assert_eq!(fs.take("sns/friend_add"), None);
        assert_eq!(fs.take("openim/sendmsg"), Some(Injected::Drop));
        assert_eq!(fs.take("openim/sendmsg"), Some(Injected::Fail { code: 70500 }));
        assert_eq!(fs.take("openim/sendmsg"), None);
        fs.set(Faults { fail_next: 1, http_status: 503, ..Faults::default() });
        assert_eq!(fs.take("x/y"), Some(Injected::Http { status: 503 }));
        assert!(Faults { http_status: 200, ..Faults::default() }.problem().is_some());
        assert!(Faults { fail_percent: 101, ..Faults::default() }.problem().is_some());
    }
}

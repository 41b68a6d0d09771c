//! How to reach one NetEase app: endpoint, credentials, timeouts, callback freshness, quotas.

use std::time::Duration;

use secrecy::SecretString;

use crate::callback::ParseOptions;

/// Client-side quotas, one per NetEase API class (shared/providers/netease.md §1, "Default rate
/// limits"). NetEase blocks the whole class for 10 s / 1 min when an app exceeds them, so the client
/// waits for a permit instead of finding out by a 416.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Calls per second for the per-second class (user/*, friend/*, msg/sendMsg, sendAttachMsg).
    pub per_second: u32,
    /// Calls per minute for the batch class (msg/sendBatchAttachMsg).
    pub batch_per_minute: u32,
}

impl Default for RateLimits {
    /// NetEase's documented defaults for a new app.
    fn default() -> Self {
        Self { per_second: 100, batch_per_minute: 120 }
    }
}

/// Everything [`crate::NeteaseClient`] and [`crate::NeteaseProvider`] need. `Debug` never shows
/// the secret.
#[derive(Clone)]
pub struct NeteaseConfig {
    /// e.g. `https://api.netease.im/nimserver`; a trailing slash is ignored.
    pub base_url: String,
    pub app_key: String,
    pub app_secret: SecretString,
    /// TCP + TLS connect timeout. Default 3 s.
    pub connect_timeout: Duration,
    /// Whole-request timeout, connect included. Default 10 s.
    pub request_timeout: Duration,
    /// How far a callback's `CurTime` may lie from our clock, in either direction.
    ///
    /// Default 5 minutes, the same tolerance NetEase itself applies to our API CheckSums. Why not
    /// tighter: NetEase documents no delivery latency or retry policy, so a callback may sit in its
    /// queue for a while, and clocks drift; a narrow window would reject (and so lose) genuine
    /// events. Why that is safe: the window only limits replays, and a replayed callback is
    /// harmless because every store write is idempotent (unique message keys, forward-only
    /// watermarks, newest-wins presence). The future side is kept as wide for clock skew.
    pub callback_window: Duration,
    /// How callbacks are parsed (what counts as unread).
    pub parse: ParseOptions,
    pub limits: RateLimits,
}

impl NeteaseConfig {
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
    pub const DEFAULT_CALLBACK_WINDOW: Duration = Duration::from_secs(5 * 60);

    /// A config with every optional setting at its default.
    pub fn new(base_url: impl Into<String>, app_key: impl Into<String>, app_secret: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            app_key: app_key.into(),
            app_secret: SecretString::from(app_secret.into()),
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
            callback_window: Self::DEFAULT_CALLBACK_WINDOW,
            parse: ParseOptions::default(),
            limits: RateLimits::default(),
        }
    }
}

impl std::fmt::Debug for NeteaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NeteaseConfig")
            .field("base_url", &self.base_url)
            .field("app_key", &self.app_key)
            .field("app_secret", &"[redacted]")
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("callback_window", &self.callback_window)
            .field("parse", &self.parse)
            .field("limits", &self.limits)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_secret() {
        let cfg = NeteaseConfig::new("http://127.0.0.1:1", "key", "very-secret-value");
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("very-secret-value"), "{shown}");
        assert!(shown.contains("key"));
    }
}

//! How to reach one Tencent IM app: endpoint, SDKAppID, secret key, admin, timeouts, callback token, quotas.

use std::fmt;
use std::time::Duration;

use secrecy::SecretString;

/// Everything [`crate::client::TencentClient`] and the provider need. `Debug` never shows the
/// secret key or the callback token.
#[derive(Clone)]
pub struct TencentConfig {
    /// e.g. `https://console.tim.qq.com` (China) or `https://adminapisgp.im.qcloud.com`; the client
    /// appends `/v4/{service}/{command}`. A trailing slash is ignored.
    pub base_url: String,
    pub sdkappid: u64,
    /// The app's secret key: signs the admin's UserSig and the users' ones.
    pub secret_key: SecretString,
    /// The App admin account (console-configured) every REST call is made as.
    pub admin: String,
    /// How long the user credentials (UserSigs) the provider hands out stay valid. Default 7 days.
    pub usersig_ttl: Duration,
    /// TCP + TLS connect timeout. Default 3 s.
    pub connect_timeout: Duration,
    /// Whole-request timeout, connect included. Default 10 s.
    pub request_timeout: Duration,
    /// The console's callback token (`Sign` = sha256(token + RequestTime)). Empty: callbacks are
    /// not authenticated.
    pub callback_token: SecretString,
    /// How far a callback's `RequestTime` may lie from our clock (tencent.md §3: 60 s).
    pub callback_window: Duration,
    /// Client-side quota: REST calls per second over every command. Tencent documents 200/s for
    /// most commands (100/s for `account_check`/`multiaccount_import`, enforced separately).
    pub rate_per_second: u32,
}

impl TencentConfig {
    pub const DEFAULT_ADMIN: &'static str = "administrator";
    pub const DEFAULT_USERSIG_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
    pub const DEFAULT_CALLBACK_WINDOW: Duration = Duration::from_secs(60);
    pub const DEFAULT_RATE_PER_SECOND: u32 = 200;

    /// A config with admin `administrator`, every other optional setting at its default and an
    /// empty callback token.
    pub fn new(base_url: impl Into<String>, sdkappid: u64, secret_key: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            sdkappid,
            secret_key: SecretString::from(secret_key.into()),
            admin: Self::DEFAULT_ADMIN.to_owned(),
            usersig_ttl: Self::DEFAULT_USERSIG_TTL,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
            callback_token: SecretString::from(String::new()),
            callback_window: Self::DEFAULT_CALLBACK_WINDOW,
            rate_per_second: Self::DEFAULT_RATE_PER_SECOND,
        }
    }
}

impl fmt::Debug for TencentConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TencentConfig")
            .field("base_url", &self.base_url)
            .field("sdkappid", &self.sdkappid)
            .field("secret_key", &"[redacted]")
            .field("admin", &self.admin)
            .field("usersig_ttl", &self.usersig_ttl)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("callback_token", &"[redacted]")
            .field("callback_window", &self.callback_window)
            .field("rate_per_second", &self.rate_per_second)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_debug_hides_the_secrets() {
        let mut cfg = TencentConfig::new("https://console.tim.qq.com", 1400000001, "very-secret-key");
        cfg.callback_token = SecretString::from("very-secret-token".to_owned());
        assert_eq!(cfg.admin, "administrator");
        assert_eq!(cfg.usersig_ttl, Duration::from_secs(604_800));
        assert_eq!((cfg.connect_timeout, cfg.request_timeout), (Duration::from_secs(3), Duration::from_secs(10)));
        assert_eq!((cfg.callback_window, cfg.rate_per_second), (Duration::from_secs(60), 200));
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
        assert!(shown.contains("1400000001"));
    }
}

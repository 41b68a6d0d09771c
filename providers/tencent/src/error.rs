//! Tencent REST errors: the envelope's ErrorCode and what it means to the bridge (retryable or not).

use std::time::Duration;

use imbridge_provider::{InvalidField, ProviderError};

/// Error codes with a meaning the client acts on. Sources: shared/providers/tencent.md §1 (public
/// codes 60000–79999 of Tencent's "Error Codes" page, cloud.tencent.com/document/product/269/1671),
/// the per-API tables cited beside each code.
pub mod codes {
    pub const OK: i64 = 0;
    /// REST call frequency over the app's limit: back off.
    pub const RATE_LIMITED: i64 = 60007;
    /// Requests too frequent: retry later.
    pub const TOO_FREQUENT: i64 = 60018;
    /// Tencent-side timeout: retry.
    pub const TIMEOUT: i64 = 70169;
    /// Tencent-side internal error: retry.
    pub const INTERNAL: i64 = 70500;
    /// Parameter error.
    pub const PARAMETER: i64 = 70402;
    /// The command needs an App admin identifier.
    pub const NEEDS_ADMIN: i64 = 70403;
    /// The account has not been imported.
    pub const NOT_IMPORTED: i64 = 70107;
    /// UserSig expired.
    pub const USERSIG_EXPIRED: i64 = 70001;
    /// UserSig illegal (not decodable).
    pub const USERSIG_ILLEGAL: i64 = 70003;
    /// UserSig verification failed (wrong key).
    pub const USERSIG_VERIFY_FAILED: i64 = 70009;
    /// UserSig made for another identifier.
    pub const USERSIG_IDENTIFIER_MISMATCH: i64 = 70013;
    /// UserSig made for another SDKAppID.
    pub const USERSIG_SDKAPPID_MISMATCH: i64 = 70014;
    /// sendmsg: "the sender's or the recipient's UserID is invalid or does not exist; check that
    /// it was imported" (消息发送方或接收方 UserID 无效或不存在，请检查 UserID 是否已导入即时通信 IM;
    /// Tencent's error-code page, C2C message codes).
    pub const RECIPIENT_NOT_FOUND: i64 = 20003;
    /// sns (per-item `ResultCode`): parameter error, **or** "B is already A's friend" on
    /// friend_add, **or** "B is not in A's friend list" on friend_delete (Tencent FAQ "Why do I
    /// encounter error code 30001?", cloud.tencent.com/document/faq/269/32485,
    /// tencentcloud.com/document/product/1047/34457).
    pub const SNS_PARAMETER_OR_RELATION: i64 = 30001;
    /// friend_delete (per-item): no friendship with the account to delete. From the friend_delete
    /// error table as remembered, not re-verified against a fetched page; accepted only as
    /// "nothing to delete", which is harmless if it never occurs.
    pub const SNS_NOT_FRIENDS: i64 = 31704;
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum TencentError {
    /// Tencent answered `ActionStatus: "FAIL"` or a non-zero `ErrorCode` (or a per-item
    /// `ResultCode` the client does not accept).
    #[error("tencent error {code}: {info}")]
    Api { code: i64, info: String, request_id: Option<String> },
    /// The HTTP status was not 200 (Tencent itself answers 200 even on failure, so this is a proxy,
    /// gateway or outage). `body` is the start of what came back.
    #[error("http status {status}: {body}")]
    Http { status: u16, body: String },
    /// No answer within the request timeout (connect included).
    #[error("timed out")]
    Timeout,
    /// Connection refused, reset, TLS failure, ...
    #[error("transport: {0}")]
    Transport(String),
    /// A 200 answer that is not the JSON we expect.
    #[error("undecodable answer: {0}")]
    Decode(String),
    /// Rejected locally before sending: Tencent would refuse it.
    #[error("invalid {0}")]
    Invalid(InvalidField),
}

impl TencentError {
    /// Tencent's error code, when it answered with one.
    pub fn code(&self) -> Option<i64> {
        match self {
            TencentError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether retrying the same call may succeed (the same split as the [`ProviderError`]
    /// conversion: `Unavailable` and `RateLimited` are retryable).
    pub fn is_retryable(&self) -> bool {
        match self {
            TencentError::Api { code, .. } => is_retryable_code(*code),
            TencentError::Http { status, .. } => *status >= 500,
            TencentError::Timeout | TencentError::Transport(_) | TencentError::Decode(_) => true,
            TencentError::Invalid(_) => false,
        }
    }
}

/// The documented transient codes (tencent.md §1).
pub fn is_retryable_code(code: i64) -> bool {
    matches!(code, codes::TIMEOUT | codes::INTERNAL | codes::TOO_FREQUENT | codes::RATE_LIMITED)
}

/// How long to stay away after a 60007: Tencent counts calls per second and documents no block
/// period, so one second is the smallest wait that can help.
pub const RATE_LIMIT_BACKOFF: Duration = Duration::from_secs(1);

impl From<InvalidField> for TencentError {
    fn from(field: InvalidField) -> Self {
        TencentError::Invalid(field)
    }
}

/// How the service should treat a Tencent failure.
impl From<TencentError> for ProviderError {
    fn from(e: TencentError) -> Self {
        match e {
            TencentError::Invalid(field) => ProviderError::Invalid(field),
            TencentError::Api { code: codes::RATE_LIMITED, .. } => {
                ProviderError::RateLimited { retry_after: RATE_LIMIT_BACKOFF, code: codes::RATE_LIMITED }
            }
            TencentError::Api { code, info, .. } if is_retryable_code(code) => {
                ProviderError::Unavailable(format!("tencent {code}: {info}"))
            }
            TencentError::Api { code, info, .. } => ProviderError::Rejected { code, desc: info },
            TencentError::Http { status, body } if status >= 500 => ProviderError::Unavailable(format!(
                "tencent http {status}: {}",
                body.chars().take(200).collect::<String>()
            )),
            // A 4xx from something in front of Tencent (a proxy, a wrong base URL): not transient.
            TencentError::Http { status, body } => ProviderError::Rejected {
                code: i64::from(status),
                desc: format!("http {status}: {}", body.chars().take(200).collect::<String>()),
            },
            e @ (TencentError::Timeout | TencentError::Transport(_) | TencentError::Decode(_)) => {
                ProviderError::Unavailable(e.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: i64) -> TencentError {
        TencentError::Api { code, info: "x".into(), request_id: None }
    }

    #[test]
    fn provider_error_mapping() {
        assert!(matches!(
            ProviderError::from(api(60007)),
            ProviderError::RateLimited { retry_after, code: 60007 } if retry_after == Duration::from_secs(1)
        ));
        for code in [70169, 70500, 60018] {
            assert!(matches!(ProviderError::from(api(code)), ProviderError::Unavailable(_)), "{code}");
            assert!(api(code).is_retryable());
        }
        for code in [70402, 70403, 70107, 70001, 20003] {
            assert!(matches!(ProviderError::from(api(code)), ProviderError::Rejected { code: c, .. } if c == code));
            assert!(!api(code).is_retryable());
        }
        let http = |status| TencentError::Http { status, body: "b".into() };
        assert!(matches!(ProviderError::from(http(502)), ProviderError::Unavailable(_)));
        assert!(matches!(ProviderError::from(http(404)), ProviderError::Rejected { code: 404, .. }));
        assert!(http(503).is_retryable() && !http(403).is_retryable());
        for e in [TencentError::Timeout, TencentError::Transport("t".into()), TencentError::Decode("d".into())] {
            assert!(e.is_retryable());
            assert!(matches!(ProviderError::from(e), ProviderError::Unavailable(_)));
        }
        let invalid = TencentError::Invalid(InvalidField::new("to", "too many"));
        assert!(!invalid.is_retryable());
        assert!(matches!(ProviderError::from(invalid), ProviderError::Invalid(f) if f.field == "to"));
        assert_eq!(api(70402).code(), Some(70402));
        assert_eq!(TencentError::Timeout.code(), None);
    }
}

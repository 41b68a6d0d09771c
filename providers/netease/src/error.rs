//! Why a NetEase server API call failed, keeping NetEase's own `code` and `desc`.

use std::time::Instant;

use imbridge_provider::InvalidField;

/// Result codes with a meaning the client acts on (shared/providers/netease.md §1).
pub mod codes {
    pub const OK: i64 = 200;
    pub const TIMEOUT: i64 = 408;
    /// Parameter error; also a bad CheckSum, and "already register" on create.
    pub const PARAMETER: i64 = 414;
    /// Frequency control: the app is blocked for the API class.
    pub const FREQUENCY: i64 = 416;
    /// Same RequestId seen before: the earlier request was processed.
    pub const REPEATED_REQUEST: i64 = 431;
    pub const SERVER_ERROR: i64 = 500;
    pub const BUSY: i64 = 503;
    pub const UNAVAILABLE: i64 = 514;
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum NeteaseError {
    /// The HTTP status was not 200 (NetEase itself answers 200 even on failure, so this is a proxy,
    /// gateway or outage). `body` is the start of what came back.
    #[error("http status {status}: {body}")]
    Http { status: u16, body: String },
    /// NetEase answered with a `code` other than 200.
    #[error("netease code {code}: {desc}")]
    Api { code: i64, desc: String },
    /// No answer within the request timeout (connect included).
    #[error("timed out")]
    Timeout,
    /// Connection refused, reset, TLS failure, ...
    #[error("transport: {0}")]
    Transport(String),
    /// A 200 answer that is not the JSON we expect.
    #[error("undecodable answer: {0}")]
    Decode(String),
    /// Rejected locally before sending: NetEase would answer 405/414.
    #[error("invalid {0}")]
    Invalid(InvalidField),
    /// NetEase blocked this API class (416); calls of the class fail here until `until`, without
    /// reaching the network.
    #[error("blocked by frequency control (code {code})")]
    Blocked { until: Instant, code: i64 },
}

impl NeteaseError {
    /// NetEase's result code, when it answered with one.
    pub fn api_code(&self) -> Option<i64> {
        match self {
            NeteaseError::Api { code, .. } | NeteaseError::Blocked { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// `{"code":414,"desc":"already register"}`: the accid exists at NetEase.
    pub fn is_already_registered(&self) -> bool {
        matches!(self, NeteaseError::Api { code: codes::PARAMETER, desc } if desc.to_ascii_lowercase().contains("already register"))
    }
}

impl From<InvalidField> for NeteaseError {
    fn from(field: InvalidField) -> Self {
        NeteaseError::Invalid(field)
    }
}

//! The provider-neutral contract between the imbridge service and an IM provider.
//!
//! The service talks to NetEase (and later Tencent IM, ...) only through [`ImProvider`]. Everything
//! here is phrased in provider-neutral terms: accounts get a *login credential* (a server-issued token
//! for NetEase, a locally signed UserSig for Tencent), friendship is a capability a provider may lack,
//! callbacks are verified from the whole request and parsed into [`Event`]s.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

mod events;
pub mod quota;
pub use events::*;

/// A field of the caller's input that the provider would refuse, found before any network call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidField {
    pub field: String,
    pub reason: String,
}

impl InvalidField {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { field: field.into(), reason: reason.into() }
    }
}

/// Why a provider call did not succeed, in terms the service can act on.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    /// Input the provider would refuse; detected locally, nothing was sent.
    #[error("invalid {0}")]
    Invalid(InvalidField),
    /// The provider answered and refused (e.g. NetEase `{"code":403,"desc":...}`). Not retried.
    #[error("provider refused: {code} {desc}")]
    Rejected { code: i64, desc: String },
    /// The provider asks us to slow down; do not call that API class again before `retry_after`.
    #[error("provider rate limit; blocked for {retry_after:?}")]
    RateLimited { retry_after: Duration, code: i64 },
    /// Transport error, timeout, or a provider-side transient failure (NetEase 408/500/503/514).
    /// Safe to retry with the same request id.
    #[error("provider unavailable: {0}")]
    Unavailable(String),
    /// The provider has no such capability (e.g. server-side friendship).
    #[error("not supported by this provider: {0}")]
    Unsupported(&'static str),
}

impl ProviderError {
    /// Whether a retry of the same operation (same request id) may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, ProviderError::Unavailable(_) | ProviderError::RateLimited { .. })
    }
}

/// An error with its causes, `outer: cause: root` (reqwest's own message is terse, "error sending
/// request"; what went wrong is in the source chain).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The recipients of a notification to users: 1..=`max`, each a valid account by `normalize`
/// (field `to`). The rule every provider applies before anything is sent.
pub fn check_recipients(
    users: &[String],
    max: usize,
    normalize: impl Fn(&str, &str) -> Result<String, InvalidField>,
) -> Result<(), InvalidField> {
    if users.is_empty() {
        return Err(InvalidField::new("to", "must not be empty"));
    }
    if users.len() > max {
        return Err(InvalidField::new("to", format!("at most {max} recipients per send")));
    }
    users.iter().try_for_each(|user| normalize("to", user).map(drop))
}

/// Profile fields the backend may set on an account. `None` leaves a field unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub name: Option<String>,
    pub icon: Option<String>,
    pub sign: Option<String>,
    pub email: Option<String>,
    pub birth: Option<String>,
    pub mobile: Option<String>,
    pub gender: Option<u8>,
    pub ex: Option<String>,
}

/// A login credential for the chat client.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub token: String,
    /// `None` when the credential does not expire (NetEase tokens).
    pub expires_at: Option<SystemTime>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential").field("token", &"[redacted]").field("expires_at", &self.expires_at).finish()
    }
}

/// What [`ImProvider::ensure_account`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnsureOutcome {
    /// The account did not exist and was created with the given credential.
    Created,
    /// The account already existed at the provider (created elsewhere); it now accepts the given
    /// credential (NetEase: its token was reset to ours, so older tokens stop logging in).
    Recovered,
}

/// Who a notification goes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// One or more accounts. Callers chunk to [`ImProvider::max_batch_recipients`] first.
    Users(Vec<String>),
    /// A team (group) id.
    Team(String),
}

/// A custom system notification (NetEase `sendAttachMsg`/`sendBatchAttachMsg`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub from: String,
    pub target: Target,
    /// The notification body, as the provider carries it (JSON advised).
    pub attach: String,
    pub push_content: Option<String>,
    /// JSON text.
    pub payload: Option<String>,
    pub sound: Option<String>,
    /// Deliver only to online devices (NetEase `save=1`); default stores offline.
    pub online_only: bool,
    pub badge: bool,
    pub route: bool,
}

/// A successful notification send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendOutcome {
    /// Recipients the provider does not know (NetEase `unregister`); they got nothing.
    pub unregistered: Vec<String>,
    /// The provider recognised the request id as a repeat (NetEase 431): an earlier attempt of this
    /// same operation was already delivered.
    pub duplicate: bool,
    /// The provider's own result code for the send (NetEase 200, or 431 for a repeat; Tencent 0),
    /// recorded in the delivery's status as it came.
    pub code: i64,
}

/// The newest message a read receipt covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadPosition {
    /// The provider's message key (empty in receipts queued before it was recorded).
    #[serde(default)]
    pub key: String,
    /// The message's client-side id, when the provider has one (NetEase `msgidClient`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msgid_client: Option<String>,
    /// Sent-at, ms since the epoch (0 in receipts queued before it was recorded).
    #[serde(default)]
    pub sent_at_ms: i64,
}

/// An inbound callback request, as received: everything a provider may sign.
#[derive(Debug, Clone)]
pub struct CallbackRequest {
    pub method: String,
    /// Path and query string, e.g. `/callbacks/tencent?SdkAppid=..&Sign=..`.
    pub path_and_query: String,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl CallbackRequest {
    /// A header by name, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// A header that must have one value: `Ok(None)` when absent, the value when every occurrence
    /// (trimmed) agrees, [`VerifyFailure::DuplicateField`] when two disagree. Reading only the
    /// first of conflicting copies would let a proxy and imbridge see different requests.
    pub fn single_header(&self, name: &str) -> Result<Option<&str>, VerifyFailure> {
        let mut values = self.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim());
        let Some(first) = values.next() else { return Ok(None) };
        if values.any(|other| other != first) {
            return Err(VerifyFailure::DuplicateField);
        }
        Ok(Some(first))
    }
}

/// Why a callback failed verification. The reason goes to logs and metrics, never to the caller.
/// The metric labels ([`VerifyFailure::reason`]) keep the names they were first published under
/// (NetEase's header names) so dashboards keep working.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyFailure {
    /// A signature field is absent (NetEase: a header; Tencent: `Sign`/`RequestTime`/`SdkAppid`).
    #[error("missing_header")]
    MissingSignature,
    /// The signed digest of the body does not match the body (NetEase `MD5`).
    #[error("bad_md5")]
    BodyDigestMismatch,
    /// The signature does not verify with our secret (NetEase `CheckSum`, Tencent `Sign`).
    #[error("bad_checksum")]
    BadSignature,
    /// Signed longer ago than the freshness window allows.
    #[error("stale")]
    Stale,
    /// Signed further in the future than the window allows.
    #[error("future")]
    Future,
    /// The signing time is not a number (NetEase `CurTime`, Tencent `RequestTime`).
    #[error("bad_curtime")]
    BadTimestamp,
    /// Sent for another app (NetEase `AppKey`, Tencent `SdkAppid`).
    #[error("wrong_app_key")]
    WrongApp,
    /// A signature field sent twice with different values.
    #[error("duplicate_header")]
    DuplicateField,
}

impl VerifyFailure {
    /// A stable label for metrics: `rejected:<reason>`.
    pub fn reason(&self) -> &'static str {
        match self {
            VerifyFailure::MissingSignature => "missing_header",
            VerifyFailure::BodyDigestMismatch => "bad_md5",
            VerifyFailure::BadSignature => "bad_checksum",
            VerifyFailure::Stale => "stale",
            VerifyFailure::Future => "future",
            VerifyFailure::BadTimestamp => "bad_curtime",
            VerifyFailure::WrongApp => "wrong_app_key",
            VerifyFailure::DuplicateField => "duplicate_header",
        }
    }
}

/// Where a signature field travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldIn {
    Header,
    Query,
}

/// One field of a callback's signature, for the API reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureField {
    pub name: &'static str,
    pub location: FieldIn,
    pub required: bool,
    pub description: &'static str,
}

/// How a provider's callbacks look, for the API reference of the callback route: the service
/// documents the route with whatever the configured provider says here.
#[derive(Debug, Clone, PartialEq)]
pub struct CallbackDoc {
    /// One line, e.g. "Receive a NetEase callback (消息抄送)".
    pub summary: &'static str,
    /// How it is verified and what is stored (Markdown).
    pub description: &'static str,
    pub signature: Vec<SignatureField>,
    /// A body as the provider sends it.
    pub example: serde_json::Value,
}

/// A signed body that could not be parsed into events; it is dead-lettered, not rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unparseable callback: {0}")]
pub struct ParseError(pub String);

/// The acknowledgement body a provider expects for a stored callback.
#[derive(Debug, Clone)]
pub struct Ack {
    pub content_type: &'static str,
    pub body: &'static str,
}

/// Everything the service needs from an IM provider.
#[async_trait]
pub trait ImProvider: Send + Sync + 'static {
    /// A short stable name (`"netease"`), used in paths, metrics and logs.
    fn name(&self) -> &'static str;

    /// The provider's canonical form of an account id (NetEase lowercases), or why it is invalid.
    fn normalize_account(&self, account: &str) -> Result<String, InvalidField>;

    /// Local validation of profile fields against the provider's limits.
    fn validate_profile(&self, profile: &Profile) -> Result<(), InvalidField>;

    /// Local validation of a notification against the provider's limits (lengths, JSON, accids).
    fn validate_notification(&self, notification: &Notification) -> Result<(), InvalidField>;

    /// Whether credentials are issued by the provider's server and must be stored by the bridge
    /// (NetEase tokens) rather than derived locally on demand (Tencent UserSig).
    fn stores_credentials(&self) -> bool;

    /// A new credential value to register an account with (NetEase: a random token).
    fn new_credential(&self, accid: &str) -> Credential;

    /// Make sure the account exists at the provider and accepts `credential`.
    /// `request_id` is stable across retries of the same logical operation.
    async fn ensure_account(
        &self,
        accid: &str,
        profile: &Profile,
        credential: &Credential,
        request_id: &str,
    ) -> Result<EnsureOutcome, ProviderError>;

    async fn update_profile(&self, accid: &str, profile: &Profile, request_id: &str) -> Result<(), ProviderError>;

    async fn set_blocked(&self, accid: &str, blocked: bool, request_id: &str) -> Result<(), ProviderError>;

    /// Whether the provider has server-side friendships at all.
    fn supports_friendship(&self) -> bool;

    /// Make `accid` and `faccid` friends directly, without a consent step (the bridge opens chats
    /// the platform already decided on). Idempotent.
    async fn add_friend(&self, accid: &str, faccid: &str, request_id: &str) -> Result<(), ProviderError>;

    async fn delete_friend(&self, accid: &str, faccid: &str, request_id: &str) -> Result<(), ProviderError>;

    /// Whether a notification may go to a team (NetEase: yes; Tencent: imbridge does not send group
    /// messages).
    fn supports_team_notifications(&self) -> bool {
        true
    }

    /// The largest recipient list one send may carry (NetEase: 500).
    fn max_batch_recipients(&self) -> usize;

    /// Send one notification. `request_id` must be stable across retries of this send: the provider
    /// de-duplicates on it, which is what makes retries after a timeout safe.
    async fn send_notification(
        &self,
        notification: &Notification,
        request_id: &str,
    ) -> Result<SendOutcome, ProviderError>;

    /// Whether [`ImProvider::mark_read`] can act on `position` (NetEase needs the message's client
    /// id, which some stored documents lack). The service sends no receipt it cannot deliver.
    fn can_mark_read(&self, position: &ReadPosition) -> bool {
        let _ = position;
        false
    }

    /// Tell the provider that `reader` has read `peer`'s messages up to `position` (a read receipt
    /// sent on the reader's behalf, which the provider passes on to both sides' apps). `request_id`
    /// as for [`ImProvider::send_notification`].
    async fn mark_read(
        &self,
        reader: &str,
        peer: &str,
        position: &ReadPosition,
        request_id: &str,
    ) -> Result<SendOutcome, ProviderError> {
        let _ = (reader, peer, position, request_id);
        Err(ProviderError::Unsupported("read receipts"))
    }

    /// A cheap call proving the provider is reachable and our credentials work (readiness).
    async fn ping(&self) -> Result<(), ProviderError>;

    /// Verify a callback against the provider's signature scheme at time `now`.
    fn verify_callback(&self, request: &CallbackRequest, now: SystemTime) -> Result<(), VerifyFailure>;

    /// Parse a verified callback body into events. `path_and_query` is the request's (Tencent puts
    /// the client's platform in the query string); a provider that needs only the body ignores it.
    fn parse_callback(&self, path_and_query: &str, body: &[u8]) -> Result<ParsedCallback, ParseError>;

    /// The body that acknowledges a stored callback.
    fn callback_ack(&self) -> Ack;

    /// The callback route's API reference for this provider.
    fn callback_doc(&self) -> CallbackDoc;

    /// What a page shows of a message this provider's callbacks (or history) stored: `document` is
    /// the [`MessageEvent::document`] as stored, plus the store's own fields.
    fn message_content(&self, document: &serde_json::Value) -> MessageContent;

    /// The one-to-one history the provider keeps between `accid` and `peer`, both directions,
    /// sent within [`from_ms`, `to_ms`] (ms since the epoch, `from_ms < to_ms`), **oldest first**,
    /// at most `limit` messages (NetEase: 1..=100; a larger `limit` is [`ProviderError::Invalid`]).
    /// No paging: a page of exactly `limit` messages may have more behind it, and the caller moves
    /// the window past the newest one it got. Each message comes in the shape its callback would
    /// have (same key, same document fields), so storing it and a later callback of it agree.
    /// A provider without server-side history answers [`ProviderError::Unsupported`].
    async fn session_history(
        &self,
        accid: &str,
        peer: &str,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> Result<Vec<MessageEvent>, ProviderError> {
        let _ = (accid, peer, from_ms, to_ms, limit);
        Err(ProviderError::Unsupported("history"))
    }
}

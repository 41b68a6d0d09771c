//! Provider-neutral events parsed from callbacks. State is kept as facts (see shared/design.md):
//! messages with a unique key, recalls, read watermarks, presence per client type.

use serde_json::{Map, Value};

/// One verified callback body, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedCallback {
    /// The provider's event type as a string (NetEase `eventType`, e.g. `"1"`, `"30"`), for the raw
    /// audit trail and metrics labels.
    pub event_type: String,
    /// What the body means. Empty for a body with nothing to apply (e.g. the console's `{}` test).
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Message(MessageEvent),
    ReadReport(ReadReport),
    Recall(Recall),
    Presence(Presence),
    /// Any other event type: stored raw only.
    Other,
}

/// Kind of conversation a message belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversation {
    /// One-to-one chat (NetEase `PERSON`).
    P2p,
    /// Team / group chat (NetEase `TEAM`).
    Team,
    /// One-to-one system notification (NetEase `CUSTOM_PERSON`), e.g. our own notifications.
    P2pSystem,
    /// Team system notification (NetEase `CUSTOM_TEAM`).
    TeamSystem,
    Other,
}

/// A message copied to us by the provider.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageEvent {
    /// The provider's unique message key (NetEase `msgidServer`).
    pub key: String,
    /// Sender accid, lowercased.
    pub from: String,
    /// Receiver accid (lowercased) or team id.
    pub to: String,
    pub conversation: Conversation,
    /// A P2P chat message that counts towards unread (NetEase: `PERSON` and not `TIPS`).
    pub counts_as_unread: bool,
    /// Sent-at in ms since the epoch (NetEase `msgTimestamp`); also the ordering key.
    pub sent_at_ms: i64,
    /// The provider's own document with its own field names, every field kept (unknown ones too).
    /// Numeric fields that arrive as strings in some deliveries (`msgTimestamp`) are normalised to
    /// numbers so that stores can index and compare them; everything else is as received.
    pub document: Map<String, Value>,
}

/// "`reader` has read the conversation with `peer` up to `read_up_to_ms`" (NetEase eventType 30).
#[derive(Debug, Clone, PartialEq)]
pub struct ReadReport {
    /// Lowercased.
    pub reader: String,
    /// Lowercased.
    pub peer: String,
    pub read_up_to_ms: i64,
}

/// A P2P message was recalled (NetEase eventType 7). May arrive before the message.
#[derive(Debug, Clone, PartialEq)]
pub struct Recall {
    /// The recalled message's key (NetEase `msgId` = its `msgidServer`).
    pub key: String,
    pub from: String,
    pub to: String,
    pub at_ms: i64,
}

/// A login (online) or logout (offline) of one of an account's clients (NetEase eventType 2 / 3).
///
/// Presence is kept per (account, client type): the provider does not always name the device, and
/// its multi-device policy works per client type. For one key the newest `at_ms` wins, and an
/// event older than the one kept is ignored; the account is online when any client type is.
#[derive(Debug, Clone, PartialEq)]
pub struct Presence {
    /// Lowercased.
    pub accid: String,
    /// The client type, lowercased (`aos`, `ios`, `pc`, `web`, `mac`, `harmony`, `rest`; `unknown`
    /// when the provider named none): the key.
    pub client_type: String,
    /// The device, when the provider named one; kept, but not part of the key.
    pub device_id: Option<String>,
    pub online: bool,
    pub at_ms: i64,
    /// Why the client went offline, when the provider said (NetEase `logOutReason`: 1 logout,
    /// 2 disconnected, 3 kicked by the account's other device, 4 kicked by the multi-device policy).
    pub logout_reason: Option<i64>,
    /// The provider's own fields (clientType, clientIp, code, ...).
    pub document: Map<String, Value>,
}

/// What a page shows of a stored message, read from the provider's own document by the provider
/// that wrote it (the service never reads provider field names).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessageContent {
    /// The message type in NetEase's vocabulary, which the API has always used (`TEXT`, `PICTURE`,
    /// `AUDIO`, `VIDEO`, `LOCATION`, `FILE`, `CUSTOM`, `TIPS`, ...); a type with no equivalent keeps
    /// the provider's own name.
    pub kind: Option<String>,
    /// The text of a text message, else the provider's body as sent.
    pub body: Value,
    /// A custom or media message's payload, when the provider keeps it apart from the body.
    pub attach: Value,
    /// The sender's extension data (NetEase `ext`, Tencent `CloudCustomData`).
    pub ext: Value,
    /// The client-side message id, when the provider has one (NetEase `msgidClient`).
    pub client_id: Option<String>,
}

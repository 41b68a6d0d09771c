//! The newest raw callbacks, for the operator console's Callbacks page.

/// Which raw callbacks to list: received at or after `since_ms`, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawFilter {
    pub since_ms: i64,
    /// Only this provider event type (`"1"`, `"C2C.CallbackAfterSendMsg"`).
    pub event_type: Option<String>,
    /// Only bodies that mention this text (an accid), compared case-insensitively.
    pub mentions: Option<String>,
}

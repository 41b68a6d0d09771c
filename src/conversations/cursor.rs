//! The cursors of the conversation routes. Opaque to callers; plain text inside: accids never
//! contain `:` (NetEase's rule), so `:` separates the parts.

use crate::error::AppError;
use crate::messages::{F_KEY, F_SENT_AT};

/// Where a walk of an inbox stands: the walk's reference moment (the newest activity when it
/// began: conversations active since are placed where they stood then) and the last row returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationCursor {
    pub as_of_ms: i64,
    pub at_ms: i64,
    pub peer: String,
}

impl ConversationCursor {
    pub fn encode(&self) -> String {
        format!("{}:{}:{}", self.as_of_ms, self.at_ms, self.peer)
    }

    pub fn parse(text: &str) -> Result<Self, AppError> {
        let bad = || AppError::invalid("cursor", "not a cursor this API gave");
        let mut parts = text.splitn(3, ':');
        let as_of_ms = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let at_ms = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let peer = parts.next().filter(|p| !p.is_empty()).ok_or_else(bad)?.to_owned();
        Ok(Self { as_of_ms, at_ms, peer })
    }
}

/// A position in a chat: a message's (sent-at, key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageCursor {
    pub at_ms: i64,
    pub key: String,
}

impl MessageCursor {
    pub fn encode(&self) -> String {
        format!("{}:{}", self.at_ms, self.key)
    }

    pub fn parse(field: &str, text: &str) -> Result<Self, AppError> {
        let bad = || AppError::invalid(field, "not a cursor this API gave");
        let (at, key) = text.split_once(':').ok_or_else(bad)?;
        let at_ms = at.parse().map_err(|_| bad())?;
        if key.is_empty() {
            return Err(bad());
        }
        Ok(Self { at_ms, key: key.to_owned() })
    }

    /// The cursor of a stored message document.
    pub fn of(document: &serde_json::Value) -> Option<Self> {
        Some(Self { at_ms: document.get(F_SENT_AT)?.as_i64()?, key: document.get(F_KEY)?.as_str()?.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_what_they_did_not_give() {
        let c = ConversationCursor { as_of_ms: 9, at_ms: -3, peer: "shop_1@x.y".into() };
        assert_eq!(ConversationCursor::parse(&c.encode()).unwrap(), c);
        let m = MessageCursor { at_ms: 1_441_977_355_557, key: "3456789".into() };
        assert_eq!(MessageCursor::parse("before", &m.encode()).unwrap(), m);
        for bad in ["", "x", "1:2", "1:2:", "a:2:p", "1:b:p"] {
            assert!(ConversationCursor::parse(bad).is_err(), "{bad:?}");
        }
        for bad in ["", "12", "x:1", "12:"] {
            assert!(MessageCursor::parse("after", bad).is_err(), "{bad:?}");
        }
    }
}

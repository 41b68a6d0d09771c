//! A batch of callbacks flattened into the rows both stores write, with the normalisation they
//! share (lowercased accids, our helper fields on message documents, raw body digests), so the two
//! backends cannot drift apart on what they store.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use imbridge_provider::{Conversation, Event, MessageEvent, Presence, ReadReport, Recall};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{ApplyOutcome, CallbackRecord, RawCallback};

/// Field names of ours in a stored message document; every other field is the provider's own, as
/// it sent it. `key` is the provider-neutral key ([`message_key`]) and `sentAt` the sent-at in ms;
/// `to` and `from` are NetEase's names too, rewritten lowercased (the platform reads them).
pub(crate) const F_KEY: &str = "key";
pub(crate) const F_SENT_AT: &str = "sentAt";
pub(crate) const F_TO: &str = "to";
pub(crate) const F_FROM: &str = "from";
pub(crate) const F_CONVERSATION: &str = "conversation";
pub(crate) const F_COUNTS_UNREAD: &str = "countsUnread";
pub(crate) const F_STATE: &str = "state";
pub(crate) const F_RECALLED: &str = "recalled";

/// The provider-neutral key of a stored message (and of its recall): `{provider}:{the provider's
/// message id}`, e.g. `netease:3456789`, so that two providers' ids can never collide and a
/// redelivery of one message is always the same key.
pub fn message_key(provider: &str, id: &str) -> String {
    format!("{provider}:{id}")
}

/// The provider's own message id in a stored key (what its APIs take back).
pub fn provider_message_id(key: &str) -> &str {
    key.split_once(':').map_or(key, |(_, id)| id)
}

/// The `conversation` value of one-to-one chat, the only kind read receipts and unread apply to.
pub(crate) const P2P: &str = "p2p";

fn conversation_label(conversation: Conversation) -> &'static str {
    match conversation {
        Conversation::P2p => P2P,
        Conversation::Team => "team",
        Conversation::P2pSystem => "p2p_system",
        Conversation::TeamSystem => "team_system",
        Conversation::Other => "other",
    }
}

/// Accids are compared in ASCII lowercase, the one rule the parsers and the API's accid validation
/// use too. Unicode lowercasing would fold a different account into a valid one (the Kelvin sign
/// `\u{212A}` lowercases to `k`), so anything outside ASCII is kept exactly as sent.
pub(crate) fn lower(accid: &str) -> String {
    accid.to_ascii_lowercase()
}

pub(crate) fn millis(at: SystemTime) -> i64 {
    match at.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// The audit-trail identity of a body: a redelivery of the same bytes is the same raw record.
pub(crate) fn body_digest(provider: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(provider.as_bytes());
    hasher.update([0u8]);
    hasher.update(body);
    hex::encode(hasher.finalize())
}

/// A raw body to keep until `expires_at_ms`.
pub(crate) struct RawRow {
    pub digest: String,
    pub provider: String,
    pub event_type: String,
    pub body: Bytes,
    pub received_at_ms: i64,
    pub expires_at_ms: i64,
    pub path_and_query: String,
}

impl RawRow {
    pub fn new(raw: &RawCallback, retention: Duration) -> Self {
        let received_at_ms = millis(raw.received_at);
        let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        RawRow {
            digest: body_digest(&raw.provider, &raw.body),
            provider: raw.provider.clone(),
            event_type: raw.event_type.clone(),
            body: raw.body.clone(),
            received_at_ms,
            expires_at_ms: received_at_ms.saturating_add(retention_ms),
            path_and_query: raw.path_and_query.clone(),
        }
    }
}

/// A message as stored, minus the two fields that change after insert (`state`, `recalled`).
pub(crate) struct MessageRow {
    pub callback: usize,
    pub key: String,
    /// Lowercased sender.
    pub from: String,
    /// Receiver: lowercased accid for one-to-one conversations, the team id otherwise.
    pub to: String,
    pub conversation: &'static str,
    pub counts_unread: bool,
    pub sent_at_ms: i64,
    /// The provider withheld it from its receiver (NetEase `blacklist: "true"`: the sender is on the
    /// receiver's blacklist), so it is not part of the receiver's conversation.
    pub withheld: bool,
    /// The provider's document with our immutable fields set.
    pub document: Map<String, Value>,
}

impl MessageRow {
    fn new(callback: usize, provider: &str, event: &MessageEvent) -> Self {
        let key = message_key(provider, &event.key);
        let conversation = conversation_label(event.conversation);
        let to = match event.conversation {
            Conversation::P2p | Conversation::P2pSystem => lower(&event.to),
            _ => event.to.clone(),
        };
        let from = lower(&event.from);
        // Only one-to-one chat can be unread; the parser decides TIPS etc., we make sure a team
        // message can never count even if a provider says so.
        let counts_unread = event.counts_as_unread && event.conversation == Conversation::P2p;
        let withheld = match event.document.get("blacklist") {
            Some(Value::Bool(flag)) => *flag,
            Some(Value::String(flag)) => flag.trim().eq_ignore_ascii_case("true"),
            _ => false,
        };
        let mut document = provider_fields(&event.document);
        document.insert(F_KEY.into(), Value::from(key.clone()));
        document.insert(F_SENT_AT.into(), Value::from(event.sent_at_ms));
        document.insert(F_TO.into(), Value::from(to.clone()));
        document.insert(F_FROM.into(), Value::from(from.clone()));
        document.insert(F_CONVERSATION.into(), Value::from(conversation));
        document.insert(F_COUNTS_UNREAD.into(), Value::from(counts_unread));
        MessageRow {
            callback,
            key,
            from,
            to,
            conversation,
            counts_unread,
            sent_at_ms: event.sent_at_ms,
            withheld,
            document,
        }
    }

    /// Read receipts govern `state` of one-to-one chat only.
    pub fn is_p2p(&self) -> bool {
        self.conversation == P2P
    }

    /// The whole document as the platform reads it.
    pub fn full_document(&self, read: bool, recalled: bool) -> Map<String, Value> {
        with_state(self.document.clone(), read, recalled)
    }
}

/// The provider's fields, minus `_id`: MongoDB's own key, which a provider field must not set.
fn provider_fields(document: &Map<String, Value>) -> Map<String, Value> {
    let mut fields = document.clone();
    fields.retain(|name, _| name != "_id");
    fields
}

/// Add the mutable fields to a stored document, the same way in both stores.
pub(crate) fn with_state(mut document: Map<String, Value>, read: bool, recalled: bool) -> Map<String, Value> {
    document.insert(F_STATE.into(), Value::from(u8::from(read)));
    document.insert(F_RECALLED.into(), Value::from(recalled));
    document
}

pub(crate) struct ReceiptRow {
    pub callback: usize,
    pub reader: String,
    pub peer: String,
    pub read_up_to_ms: i64,
}

pub(crate) struct RecallRow {
    pub callback: usize,
    pub key: String,
    pub from: String,
    pub to: String,
    pub at_ms: i64,
}

/// The presence of one client type of one account, as of its newest event.
pub(crate) struct PresenceRow {
    pub callback: usize,
    pub accid: String,
    /// The client type, lowercased: with `accid`, the key.
    pub client: String,
    pub device_id: Option<String>,
    pub online: bool,
    pub at_ms: i64,
    pub logout_reason: Option<i64>,
    /// The provider's fields plus ours (`accid`, `client`, `online`, `atMs`, and `deviceId` and
    /// `logoutReason` as strings and numbers when the provider gave them).
    pub document: Map<String, Value>,
}

/// Field names of ours in a stored presence document (the rest are the provider's own).
pub(crate) const F_PRESENCE_CLIENT: &str = "client";

impl PresenceRow {
    fn new(callback: usize, event: &Presence) -> Self {
        let accid = lower(&event.accid);
        let client = lower(&event.client_type);
        let mut document = provider_fields(&event.document);
        document.insert("accid".into(), Value::from(accid.clone()));
        document.insert(F_PRESENCE_CLIENT.into(), Value::from(client.clone()));
        document.insert("online".into(), Value::from(event.online));
        document.insert("atMs".into(), Value::from(event.at_ms));
        // Normalised copies of what the provider may send as numbers or strings.
        if let Some(device) = &event.device_id {
            document.insert("deviceId".into(), Value::from(device.clone()));
        }
        if let Some(reason) = event.logout_reason {
            document.insert("logoutReason".into(), Value::from(reason));
        }
        PresenceRow {
            callback,
            accid,
            client,
            device_id: event.device_id.clone(),
            online: event.online,
            at_ms: event.at_ms,
            logout_reason: event.logout_reason,
            document,
        }
    }
}

/// Newest wins; at the same millisecond an offline event beats an online one, so that the outcome
/// does not depend on delivery order (and a device is not shown online on a tie).
pub(crate) fn presence_supersedes(new: (i64, bool), old: (i64, bool)) -> bool {
    let (new_at, new_online) = new;
    let (old_at, old_online) = old;
    new_at > old_at || (new_at == old_at && !new_online && old_online)
}

/// "The newest message of `owner`'s conversation with `peer` is `key`, sent at `at_ms`", unless the
/// store already knows a newer one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConversationAdvance<'a> {
    pub owner: &'a str,
    pub peer: &'a str,
    pub at_ms: i64,
    pub key: &'a str,
}

/// A batch flattened per kind of fact, each row remembering which callback it came from.
pub(crate) struct BatchPlan {
    pub raws: Vec<RawRow>,
    pub messages: Vec<MessageRow>,
    pub receipts: Vec<ReceiptRow>,
    pub recalls: Vec<RecallRow>,
    pub presences: Vec<PresenceRow>,
}

impl BatchPlan {
    pub fn new(batch: &[CallbackRecord], retention: Duration) -> Self {
        let mut plan = BatchPlan {
            raws: Vec::with_capacity(batch.len()),
            messages: Vec::new(),
            receipts: Vec::new(),
            recalls: Vec::new(),
            presences: Vec::new(),
        };
        for (callback, applied) in batch.iter().enumerate() {
            plan.raws.push(RawRow::new(&applied.raw, retention));
            let provider = applied.raw.provider.as_str();
            for event in &applied.events {
                match event {
                    Event::Message(m) => plan.messages.push(MessageRow::new(callback, provider, m)),
                    Event::ReadReport(ReadReport { reader, peer, read_up_to_ms }) => plan.receipts.push(ReceiptRow {
                        callback,
                        reader: lower(reader),
                        peer: lower(peer),
                        read_up_to_ms: *read_up_to_ms,
                    }),
                    Event::Recall(Recall { key, from, to, at_ms }) => plan.recalls.push(RecallRow {
                        callback,
                        key: message_key(provider, key),
                        from: lower(from),
                        to: lower(to),
                        at_ms: *at_ms,
                    }),
                    Event::Presence(p) => plan.presences.push(PresenceRow::new(callback, p)),
                    Event::Other => {}
                }
            }
        }
        plan
    }

    /// The highest read-up-to per (reader, peer) in this batch: one watermark write per pair.
    pub fn watermark_advances(&self) -> Vec<(&str, &str, i64)> {
        let mut highest: HashMap<(&str, &str), i64> = HashMap::new();
        for r in &self.receipts {
            let at = highest.entry((r.reader.as_str(), r.peer.as_str())).or_insert(r.read_up_to_ms);
            *at = (*at).max(r.read_up_to_ms);
        }
        let mut advances: Vec<_> = highest.into_iter().map(|((reader, peer), at)| (reader, peer, at)).collect();
        advances.sort_unstable();
        advances
    }

    /// The newest one-to-one message per (owner, peer) in this batch, for the conversation
    /// summaries: each message is the latest of its sender's and of its receiver's conversation
    /// unless a newer one is. Newest by (sent-at, key), so a tie has one answer whatever the order.
    pub fn conversation_advances(&self) -> Vec<ConversationAdvance<'_>> {
        let mut newest: HashMap<(&str, &str), (i64, &str)> = HashMap::new();
        for m in self.messages.iter().filter(|m| m.is_p2p()) {
            let sides: &[(&str, &str)] = if m.withheld {
                &[(m.from.as_str(), m.to.as_str())]
            } else {
                &[(m.from.as_str(), m.to.as_str()), (m.to.as_str(), m.from.as_str())]
            };
            for &(owner, peer) in sides {
                let candidate = (m.sent_at_ms, m.key.as_str());
                let at = newest.entry((owner, peer)).or_insert(candidate);
                if candidate > *at {
                    *at = candidate;
                }
            }
        }
        let mut advances: Vec<ConversationAdvance<'_>> = newest
            .into_iter()
            .map(|((owner, peer), (at_ms, key))| ConversationAdvance { owner, peer, at_ms, key })
            .collect();
        advances.sort_unstable_by(|a, b| (a.owner, a.peer).cmp(&(b.owner, b.peer)));
        advances
    }

    /// The newest presence per (account, client type) in this batch: one presence write per key.
    pub fn newest_presences(&self) -> Vec<&PresenceRow> {
        let mut newest: HashMap<(&str, &str), &PresenceRow> = HashMap::new();
        for p in &self.presences {
            newest
                .entry((p.accid.as_str(), p.client.as_str()))
                .and_modify(|old| {
                    if presence_supersedes((p.at_ms, p.online), (old.at_ms, old.online)) {
                        *old = p;
                    }
                })
                .or_insert(p);
        }
        let mut rows: Vec<_> = newest.into_values().collect();
        rows.sort_unstable_by(|a, b| (&a.accid, &a.client).cmp(&(&b.accid, &b.client)));
        rows
    }

    /// Per-callback outcomes from which rows were already stored (`*_duplicate[i]` for row `i`).
    pub fn outcomes(
        &self,
        callbacks: usize,
        raw_duplicate: &[bool],
        message_duplicate: &[bool],
        recall_duplicate: &[bool],
    ) -> Vec<ApplyOutcome> {
        let mut outcomes = vec![ApplyOutcome::default(); callbacks];
        for (outcome, dup) in outcomes.iter_mut().zip(raw_duplicate) {
            outcome.raw_duplicate = *dup;
        }
        let keyed = self
            .messages
            .iter()
            .map(|m| m.callback)
            .zip(message_duplicate)
            .chain(self.recalls.iter().map(|r| r.callback).zip(recall_duplicate));
        for (callback, dup) in keyed {
            if *dup {
                outcomes[callback].duplicates += 1;
            } else {
                outcomes[callback].applied += 1;
            }
        }
        for callback in self.receipts.iter().map(|r| r.callback).chain(self.presences.iter().map(|p| p.callback)) {
            outcomes[callback].applied += 1;
        }
        outcomes
    }
}

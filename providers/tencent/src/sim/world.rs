//! The simulated app's data: accounts, friendships, messages, read watermarks, presence, and the
//! sendmsg de-duplication window. Everything here runs under one lock, so each call is atomic;
//! operations return the callbacks they produce instead of sending them.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde_json::Value;

use super::callbacks::Event;
use super::model::{Account, Friend, NotificationRecord, SentMessage};

/// How many messages, notifications and de-duplication entries are kept (oldest go first).
pub(crate) const LOG_CAP: usize = 100_000;
/// Tencent drops a resend with the same sender, MsgSeq, MsgRandom and content for 120 s.
pub(crate) const DEDUP_WINDOW_SECS: u64 = 120;

/// What a sendmsg de-duplicates on: sender, MsgSeq, MsgRandom, CRC32 of the MsgBody's JSON.
pub(crate) type DedupKey = (String, u32, u32, u32);

/// The first answer to a de-duplicated send.
#[derive(Debug, Clone)]
pub(crate) struct DedupEntry {
    pub msg_key: String,
    pub time: u64,
    pub seq: u32,
}

#[derive(Debug, Default)]
pub(crate) struct World {
    pub accounts: BTreeMap<String, Account>,
    /// Owner → friend → edge.
    pub friends: HashMap<String, BTreeMap<String, Friend>>,
    pub messages: VecDeque<SentMessage>,
    pub notifications: VecDeque<NotificationRecord>,
    /// (reader, peer) → unix seconds up to which the reader has read the peer's messages.
    pub read_until: HashMap<(String, String), u64>,
    pub dedup: HashMap<DedupKey, DedupEntry>,
    /// The sim's own message counter: the first part of every MsgKey, so keys are unique.
    pub next_seq: u32,
}

/// A message about to be stored.
pub(crate) struct NewMessage {
    pub from: String,
    pub to: String,
    pub time: u64,
    pub seq: Option<u32>,
    pub random: u32,
    pub body: Value,
    pub cloud_custom_data: Option<String>,
    pub send_msg_control: Vec<String>,
    pub online_only: bool,
    pub source: &'static str,
    /// A batch send's recipients share one MsgKey: the first store makes it, the others reuse it.
    pub msg_key: Option<String>,
}

/// CRC32 of the MsgBody as JSON text (the "content" of Tencent's de-duplication rule).
pub(crate) fn body_crc(body: &Value) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(body.to_string().as_bytes());
    crc.sum()
}

impl World {
    pub fn is_imported(&self, id: &str) -> bool {
        self.accounts.contains_key(id)
    }

    /// Stores a message and answers it (with its MsgKey). MsgKey = `{n}_{random}_{time}` where
    /// `n` is the sim's own counter; `seq` is the request's MsgSeq, or `n` when it had none.
    pub fn store(&mut self, m: NewMessage) -> SentMessage {
        let stored = self.draft(m);
        if self.messages.len() >= LOG_CAP {
            self.messages.pop_front();
        }
        self.messages.push_back(stored.clone());
        stored
    }

    /// The message `store` would store, with its MsgKey, without storing it (a failed send).
    pub fn draft(&mut self, m: NewMessage) -> SentMessage {
        self.next_seq = self.next_seq.wrapping_add(1).max(1);
        let n = self.next_seq;
        SentMessage {
            msg_key: m.msg_key.unwrap_or_else(|| format!("{n}_{}_{}", m.random, m.time)),
            from: m.from,
            to: m.to,
            time: m.time,
            seq: m.seq.unwrap_or(n),
            random: m.random,
            body: m.body,
            cloud_custom_data: m.cloud_custom_data,
            send_msg_control: m.send_msg_control,
            online_only: m.online_only,
            recalled: false,
            read: false,
            source: m.source.to_owned(),
        }
    }

    pub fn record_notification(&mut self, n: NotificationRecord) {
        if self.notifications.len() >= LOG_CAP {
            self.notifications.pop_front();
        }
        self.notifications.push_back(n);
    }

    /// The previous answer to this send, if it was within the window; forgets expired entries.
    pub fn dedup_hit(&mut self, key: &DedupKey, now: u64) -> Option<DedupEntry> {
        self.dedup.retain(|_, e| now.saturating_sub(e.time) < DEDUP_WINDOW_SECS);
        self.dedup.get(key).cloned()
    }

    pub fn remember_send(&mut self, key: DedupKey, entry: DedupEntry) {
        if self.dedup.len() < LOG_CAP {
            self.dedup.insert(key, entry);
        }
    }

    /// Up to when `reader` has read `peer`'s messages (0: never).
    pub fn watermark(&self, reader: &str, peer: &str) -> u64 {
        self.read_until.get(&(reader.to_owned(), peer.to_owned())).copied().unwrap_or(0)
    }

    /// Whether the recipient has read `m`. Watermarks are in seconds, so a message in the same
    /// second as the watermark counts as read (shared/providers/tencent.md §3).
    pub fn is_read(&self, m: &SentMessage) -> bool {
        m.time <= self.watermark(&m.to, &m.from)
    }

    /// `reader`'s unread messages from `peer`.
    pub fn unread_from(&self, reader: &str, peer: &str) -> i64 {
        let until = self.watermark(reader, peer);
        let n =
            self.messages.iter().filter(|m| m.to == reader && m.from == peer && m.counts_unread() && m.time > until);
        n.count() as i64
    }

    /// `reader`'s unread messages over all C2C conversations.
    pub fn unread_total(&self, reader: &str) -> i64 {
        let n = self.messages.iter().filter(|m| m.to == reader && m.counts_unread() && !self.is_read(m));
        n.count() as i64
    }

    /// Peers `reader` has unread messages from, with their counts.
    pub fn unread_by_peer(&self, reader: &str) -> BTreeMap<String, i64> {
        let mut out = BTreeMap::new();
        for m in self.messages.iter().filter(|m| m.to == reader && m.counts_unread() && !self.is_read(m)) {
            *out.entry(m.from.clone()).or_insert(0) += 1;
        }
        out
    }

    /// Moves `reader`'s watermark for `peer` to `time` (never backwards) and answers the
    /// `C2C.CallbackAfterMsgReport` event.
    pub fn mark_read(&mut self, reader: &str, peer: &str, time: u64, platform: &str) -> Event {
        let slot = self.read_until.entry((reader.to_owned(), peer.to_owned())).or_insert(0);
        *slot = (*slot).max(time);
        let unread = self.unread_total(reader);
        Event::msg_report(platform, reader, peer, time, unread)
    }

    /// The message `msg_key` sent by `from` to `to`.
    pub fn message_mut(&mut self, from: &str, to: &str, msg_key: &str) -> Option<&mut SentMessage> {
        self.messages.iter_mut().find(|m| m.msg_key == msg_key && m.from == from && m.to == to)
    }

    /// A copy of every message with its `read` flag filled in.
    pub fn messages_view(&self) -> Vec<SentMessage> {
        self.messages.iter().map(|m| SentMessage { read: self.is_read(m), ..m.clone() }).collect()
    }
}

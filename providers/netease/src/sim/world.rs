//! The simulated NetEase app's data, changed only under one lock so every call is atomic.

use std::collections::{BTreeMap, VecDeque};

use serde_json::Value;

use super::limits::RequestIds;
use super::model::{Account, Friend, FriendRequest, Friendships, NotificationRecord, SentMessage};
use super::params::{NimError, NimResult};
use super::persist::StateFile;

/// Inspection logs keep this many recent entries (a long-running sandbox must not grow forever).
pub(crate) const LOG_CAP: usize = 10_000;
/// Message ids are reserved on disk in blocks of this size.
const MSGID_BLOCK: u64 = 1_000;

/// What one call does besides its reply.
#[derive(Debug)]
pub(crate) struct Call<'a> {
    pub now_ms: u64,
    pub request_id: Option<&'a str>,
    /// Persisted state changed: write the state file before answering.
    pub persist: bool,
    /// Callback events to emit once the call is done.
    pub callbacks: Vec<Value>,
}

impl<'a> Call<'a> {
    pub fn new(now_ms: u64, request_id: Option<&'a str>) -> Self {
        Self { now_ms, request_id, persist: false, callbacks: Vec::new() }
    }
}

#[derive(Debug, Default)]
pub(crate) struct World {
    pub accounts: BTreeMap<String, Account>,
    /// Friend lists: owner → faccid → friend.
    pub friends: BTreeMap<String, BTreeMap<String, Friend>>,
    /// Pending requests: (to, from) → request.
    pub requests: BTreeMap<(String, String), FriendRequest>,
    /// Recent chat messages by msgidServer (for recall and inspection).
    pub messages: BTreeMap<u64, SentMessage>,
    pub notifications: VecDeque<NotificationRecord>,
    pub request_ids: RequestIds,
    next_msgid: u64,
    msgid_reserved: u64,
    generation: u64,
}

impl World {
    /// A world from the state file (if any); message ids start above anything used before.
    pub fn new(file: Option<StateFile>, now_ms: u64) -> Self {
        let mut world = Self::default();
        let mut reserved = 0;
        if let Some(file) = file {
            world.accounts = file.accounts.into_iter().map(|a| (a.accid.clone(), a)).collect();
            world.friends = file
                .friends
                .into_iter()
                .map(|(owner, list)| (owner, list.into_iter().map(|f| (f.faccid.clone(), f)).collect()))
                .collect();
            world.requests = file.friend_requests.into_iter().map(|r| ((r.to.clone(), r.from.clone()), r)).collect();
            reserved = file.msgid_reserved;
        }
        world.next_msgid = reserved.max(now_ms);
        world.msgid_reserved = world.next_msgid;
        world
    }

    /// Forgets everything (POST /__sim/reset); message ids keep growing.
    pub fn reset(&mut self) {
        self.accounts.clear();
        self.friends.clear();
        self.requests.clear();
        self.messages.clear();
        self.notifications.clear();
        self.request_ids.clear();
    }

    /// A unique msgidServer. Crossing the on-disk reservation asks for a state write.
    pub fn new_msgid(&mut self, call: &mut Call<'_>) -> u64 {
        let id = self.next_msgid;
        self.next_msgid += 1;
        if self.next_msgid > self.msgid_reserved {
            self.msgid_reserved = self.next_msgid + MSGID_BLOCK;
            call.persist = true;
        }
        id
    }

    /// The persisted part, numbered for ordered writes.
    pub fn state_file(&mut self) -> (u64, StateFile) {
        self.generation += 1;
        let file = StateFile {
            version: 0,
            accounts: self.accounts.values().cloned().collect(),
            friends: self
                .friends
                .iter()
                .map(|(owner, list)| (owner.clone(), list.values().cloned().collect()))
                .collect(),
            friend_requests: self.requests.values().cloned().collect(),
            msgid_reserved: self.msgid_reserved,
        };
        (self.generation, file)
    }

    pub fn account(&self, accid: &str, param: &str) -> NimResult<&Account> {
        self.accounts.get(accid).ok_or_else(|| NimError::not_registered(param))
    }

    pub fn account_mut(&mut self, accid: &str, param: &str) -> NimResult<&mut Account> {
        self.accounts.get_mut(accid).ok_or_else(|| NimError::not_registered(param))
    }

    /// The nickname NetEase puts in `fromNick`: the account's name, else its accid.
    pub fn nick(&self, accid: &str) -> String {
        self.accounts.get(accid).and_then(|a| a.name.clone()).unwrap_or_else(|| accid.to_owned())
    }

    pub fn are_friends(&self, a: &str, b: &str) -> bool {
        self.friends.get(a).is_some_and(|l| l.contains_key(b))
    }

    /// Makes `a` and `b` friends both ways; an existing side keeps its history.
    pub fn befriend(&mut self, a: &str, b: &str, serverex: Option<&str>, now_ms: u64) {
        for (owner, other) in [(a, b), (b, a)] {
            let list = self.friends.entry(owner.to_owned()).or_default();
            let friend = list.entry(other.to_owned()).or_insert_with(|| Friend {
                faccid: other.to_owned(),
                alias: None,
                ex: None,
                serverex: None,
                createtime: now_ms,
                updatetime: now_ms,
            });
            if let Some(sx) = serverex {
                friend.serverex = Some(sx.to_owned());
                friend.updatetime = now_ms;
            }
        }
        self.requests.remove(&(a.to_owned(), b.to_owned()));
        self.requests.remove(&(b.to_owned(), a.to_owned()));
    }

    /// Removes the friendship both ways and any pending request between them; true if anything
    /// was removed.
    pub fn unfriend(&mut self, a: &str, b: &str) -> bool {
        let mut changed = false;
        for (owner, other) in [(a, b), (b, a)] {
            if let Some(list) = self.friends.get_mut(owner) {
                changed |= list.remove(other).is_some();
                if list.is_empty() {
                    self.friends.remove(owner);
                }
            }
        }
        changed |= self.requests.remove(&(a.to_owned(), b.to_owned())).is_some();
        changed |= self.requests.remove(&(b.to_owned(), a.to_owned())).is_some();
        changed
    }

    pub fn friendships(&self, accid: &str) -> Friendships {
        Friendships {
            accid: accid.to_owned(),
            friends: self.friends.get(accid).map(|l| l.values().cloned().collect()).unwrap_or_default(),
            requests_received: self.requests.values().filter(|r| r.to == accid).cloned().collect(),
            requests_sent: self.requests.values().filter(|r| r.from == accid).cloned().collect(),
        }
    }

    pub fn record_notification(&mut self, record: NotificationRecord) {
        if self.notifications.len() >= LOG_CAP {
            self.notifications.pop_front();
        }
        self.notifications.push_back(record);
    }

    pub fn record_message(&mut self, message: SentMessage) {
        while self.messages.len() >= LOG_CAP * 10 {
            self.messages.pop_first();
        }
        self.messages.insert(message.msgid_server, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msgids_are_unique_and_reserved_before_use() {
        let mut world = World::new(None, 1_000);
        let mut call = Call::new(0, None);
        let first = world.new_msgid(&mut call);
        assert!(call.persist, "the first id crosses the reservation");
        let (_, file) = world.state_file();
        let mut call = Call::new(0, None);
        assert_eq!(world.new_msgid(&mut call), first + 1);
        assert!(!call.persist);
        // A restart (even with a clock that went backwards) continues above the reservation.
        let mut restarted = World::new(Some(file), 0);
        assert!(restarted.new_msgid(&mut Call::new(0, None)) > first + 1);
    }

    #[test]
    fn friendship_is_symmetric() {
        let mut world = World::default();
        world.befriend("a", "b", None, 5);
        assert!(world.are_friends("a", "b") && world.are_friends("b", "a"));
        assert!(world.unfriend("b", "a"));
        assert!(!world.are_friends("a", "b") && !world.are_friends("b", "a"));
        assert!(!world.unfriend("a", "b"));
    }
}

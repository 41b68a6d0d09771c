//! [`SimState`]: the simulator's shared state and its Rust-level inspection and control API
//! (the same operations as the `/__sim` HTTP API).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::Serialize;

use super::callbacks::{CallbackDelivery, CallbackHub, CallbackMode, Event};
use super::calls::CallCounts;
use super::faults::{FaultState, Faults};
use super::limits::RateLimiter;
use super::model::{Account, Friendships, NotificationRecord, SentMessage};
use super::world::World;
use super::SimConfig;
use crate::usersig;

/// The simulator's state. Cheap to clone; every clone sees the same simulator.
#[derive(Clone)]
pub struct SimState {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub cfg: SimConfig,
    pub world: Mutex<World>,
    pub limiter: Mutex<RateLimiter>,
    pub faults: Mutex<FaultState>,
    pub calls: Mutex<CallCounts>,
    pub callbacks: CallbackHub,
    /// Sim clock = real unix seconds + this.
    clock_offset: Mutex<i64>,
}

/// Whether a client holding a UserSig could log in, with Tencent's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LoginResult {
    pub ok: bool,
    /// 0 logged in; else the UserSig error code (70001, 70003, 70009, 70013, 70014) or 70107
    /// (account not imported).
    pub code: i64,
}

/// Locks a mutex, ignoring poisoning: no code here panics while holding a lock, and the
/// simulator must keep answering if a test thread did.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn real_now() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
}

impl SimState {
    pub(crate) fn new(cfg: SimConfig) -> Self {
        let offset = cfg.now_override.map_or(0, |t| i64::try_from(t).unwrap_or(i64::MAX).saturating_sub(real_now()));
        let inner = Inner {
            world: Mutex::new(World::default()),
            limiter: Mutex::new(RateLimiter::new(cfg.rate_per_second)),
            faults: Mutex::new(FaultState::default()),
            calls: Mutex::new(CallCounts::default()),
            callbacks: CallbackHub::new(cfg.sdkappid, cfg.callback_token.clone(), cfg.callback_url.clone()),
            clock_offset: Mutex::new(offset),
            cfg,
        };
        Self { inner: Arc::new(inner) }
    }

    pub fn config(&self) -> &SimConfig {
        &self.inner.cfg
    }

    /// The sim clock, unix seconds: real time, shifted by [`SimConfig::now_override`] and
    /// [`SimState::advance_clock`]. UserSig expiry, MsgTime, read times and the de-duplication
    /// window all follow it.
    pub fn now(&self) -> u64 {
        u64::try_from(real_now().saturating_add(*lock(&self.inner.clock_offset))).unwrap_or(0)
    }

    /// Moves the sim clock forward (or back, negative) by `secs`.
    pub fn advance_clock(&self, secs: i64) -> u64 {
        {
            let mut offset = lock(&self.inner.clock_offset);
            *offset = offset.saturating_add(secs);
        }
        self.now()
    }

    /// Runs `f` atomically on the world, then queues the callbacks it produced.
    pub(crate) fn apply<R>(&self, f: impl FnOnce(&mut World, &mut Vec<Event>) -> R) -> R {
        let mut events = Vec::new();
        let result = f(&mut lock(&self.inner.world), &mut events);
        for event in events {
            self.inner.callbacks.enqueue(event);
        }
        result
    }

    /// Every imported account, by UserID.
    pub fn accounts(&self) -> Vec<Account> {
        lock(&self.inner.world).accounts.values().cloned().collect()
    }

    pub fn account(&self, user_id: &str) -> Option<Account> {
        lock(&self.inner.world).accounts.get(user_id).cloned()
    }

    /// An account's friends (its outgoing edges).
    pub fn friendships(&self, user_id: &str) -> Friendships {
        let world = lock(&self.inner.world);
        let friends = world.friends.get(user_id).map(|f| f.values().cloned().collect()).unwrap_or_default();
        Friendships { friends }
    }

    /// Every C2C message, oldest first, with `read` filled in.
    pub fn messages(&self) -> Vec<SentMessage> {
        lock(&self.inner.world).messages_view()
    }

    /// REST messages carrying a `TIMCustomElem`, one record per recipient, oldest first.
    pub fn notifications(&self) -> Vec<NotificationRecord> {
        lock(&self.inner.world).notifications.iter().cloned().collect()
    }

    /// `user`'s total unread count, as `get_c2c_unread_msg_num` would answer it.
    pub fn unread_total(&self, user: &str) -> i64 {
        lock(&self.inner.world).unread_total(user)
    }

    /// REST calls received, per command and outcome.
    pub fn call_counts(&self) -> CallCounts {
        lock(&self.inner.calls).clone()
    }

    pub fn faults(&self) -> Faults {
        lock(&self.inner.faults).get()
    }

    pub fn set_faults(&self, faults: Faults) {
        lock(&self.inner.faults).set(faults);
    }

    pub fn clear_faults(&self) {
        self.set_faults(Faults::default());
    }

    pub fn set_callback_url(&self, url: Option<String>) {
        self.inner.callbacks.queue.set_url(url);
    }

    pub fn callback_url(&self) -> Option<String> {
        self.inner.callbacks.queue.url()
    }

    pub fn set_callback_mode(&self, mode: CallbackMode) {
        self.inner.callbacks.set_mode(mode);
    }

    pub fn callback_mode(&self) -> CallbackMode {
        self.inner.callbacks.mode()
    }

    /// Every callback delivery, oldest first.
    pub fn callbacks(&self) -> Vec<CallbackDelivery> {
        self.inner.callbacks.queue.deliveries()
    }

    /// Releases held (shuffled) callbacks and waits until none is queued or in flight; false if
    /// that took longer than `timeout`.
    pub async fn flush_callbacks(&self, timeout: Duration) -> bool {
        self.inner.callbacks.queue.flush(timeout).await
    }

    /// Would a client log in as `user_id` with `usersig` now (sim clock)?
    pub fn login(&self, user_id: &str, usersig: &str) -> LoginResult {
        let cfg = &self.inner.cfg;
        let code = match usersig::verify(&cfg.secret_key, cfg.sdkappid, usersig, self.now()) {
            Err(e) => e.code(),
            Ok(info) if info.identifier != user_id => 70013,
            Ok(_) if !lock(&self.inner.world).is_imported(user_id) => 70107,
            Ok(_) => 0,
        };
        LoginResult { ok: code == 0, code }
    }

    /// Forgets accounts, friendships, messages, notifications, call counts, rate windows, faults
    /// and callback history. The callback URL and mode and the clock stay.
    pub fn reset(&self) {
        *lock(&self.inner.world) = World::default();
        lock(&self.inner.limiter).clear();
        lock(&self.inner.calls).clear();
        self.clear_faults();
        self.inner.callbacks.queue.clear_history();
    }
}

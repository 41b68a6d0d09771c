//! [`SimState`]: the simulator's shared state and its Rust-level inspection and control API
//! (the same operations as the `/__sim` HTTP API).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::Serialize;

use super::callbacks::{CallbackDelivery, CallbackHub, CallbackMode};
use super::calls::CallCounts;
use super::faults::{FaultState, Faults};
use super::limits::RateLimiter;
use super::model::{Account, Friendships, NotificationRecord, SentMessage};
use super::persist::Persister;
use super::world::{Call, World};
use super::SimConfig;
use crate::sign;

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
    persister: Option<Persister>,
}

/// Whether a client holding `token` could log in as an account, with NetEase's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LoginResult {
    pub ok: bool,
    /// 200 logged in; 302 unknown account or not its newest token; 422 account blocked.
    pub code: u16,
}

/// Locks a mutex, ignoring poisoning: no code here panics while holding a lock, and the
/// simulator must keep answering if a test thread did.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SimState {
    /// A state loaded from `cfg.state_path` (if any); an unreadable file is an error.
    pub(crate) fn new(cfg: SimConfig) -> std::io::Result<Self> {
        let persister = cfg.state_path.clone().map(Persister::new);
        let file = match &persister {
            Some(p) => p.load()?,
            None => None,
        };
        Ok(Self::build(cfg, persister, file))
    }

    /// Like [`SimState::new`], but an unreadable file is moved aside and the state starts empty.
    pub(crate) fn new_recovering(cfg: SimConfig) -> Self {
        let persister = cfg.state_path.clone().map(Persister::new);
        let file = persister.as_ref().and_then(|p| match p.load() {
            Ok(file) => file,
            Err(error) => {
                match p.quarantine(sign::now_millis()) {
                    Ok(aside) => tracing::error!(%error, aside = %aside.display(), "simulator state file unreadable; moved aside, starting empty"),
                    Err(move_error) => tracing::error!(%error, %move_error, "simulator state file unreadable and could not be moved aside; starting empty"),
                }
                None
            }
        });
        Self::build(cfg, persister, file)
    }

    fn build(cfg: SimConfig, persister: Option<Persister>, file: Option<super::persist::StateFile>) -> Self {
        let limiter = RateLimiter::new(
            cfg.per_second_limit,
            cfg.batch_per_minute_limit,
            cfg.block_per_second,
            cfg.block_per_minute,
        );
        let callbacks = CallbackHub::new(&cfg.app_key, &cfg.app_secret, cfg.callback_url.clone());
        let inner = Inner {
            world: Mutex::new(World::new(file, sign::now_millis())),
            limiter: Mutex::new(limiter),
            faults: Mutex::new(FaultState::default()),
            calls: Mutex::new(CallCounts::default()),
            callbacks,
            persister,
            cfg,
        };
        Self { inner: Arc::new(inner) }
    }

    /// Runs `f` atomically on the world, then writes the state file if `f` changed persisted
    /// state, then queues the callbacks `f` produced.
    pub(crate) async fn apply<R>(&self, request_id: Option<&str>, f: impl FnOnce(&mut World, &mut Call<'_>) -> R) -> R {
        let (result, callbacks, snapshot) = {
            let mut world = lock(&self.inner.world);
            let mut call = Call::new(sign::now_millis(), request_id);
            let result = f(&mut world, &mut call);
            let snapshot = (call.persist && self.inner.persister.is_some()).then(|| world.state_file());
            (result, call.callbacks, snapshot)
        };
        if let (Some((generation, file)), Some(persister)) = (snapshot, &self.inner.persister) {
            let written = match file.snapshot(generation) {
                Ok(snapshot) => persister.write(snapshot).await,
                Err(e) => Err(e),
            };
            if let Err(error) = written {
                tracing::error!(%error, path = %persister.path().display(), "simulator could not write its state file");
            }
        }
        for event in callbacks {
            self.inner.callbacks.enqueue(event);
        }
        result
    }

    pub fn app_key(&self) -> &str {
        &self.inner.cfg.app_key
    }

    /// Every account, by accid.
    pub fn accounts(&self) -> Vec<Account> {
        lock(&self.inner.world).accounts.values().cloned().collect()
    }

    /// One account (the accid is lowercased like NetEase does).
    pub fn account(&self, accid: &str) -> Option<Account> {
        lock(&self.inner.world).accounts.get(&accid.to_ascii_lowercase()).cloned()
    }

    /// An account's friends and pending friend requests.
    pub fn friendships(&self, accid: &str) -> Friendships {
        lock(&self.inner.world).friendships(&accid.to_ascii_lowercase())
    }

    /// Every recipient-level custom notification received, oldest first (the last 10 000).
    pub fn notifications(&self) -> Vec<NotificationRecord> {
        lock(&self.inner.world).notifications.iter().cloned().collect()
    }

    /// Chat messages known to the simulator (msg/sendMsg, sendBatchMsg, simulated clients).
    pub fn messages(&self) -> Vec<SentMessage> {
        lock(&self.inner.world).messages.values().cloned().collect()
    }

    /// NetEase calls received, per API and outcome.
    pub fn call_counts(&self) -> CallCounts {
        lock(&self.inner.calls).clone()
    }

    /// The faults still to inject.
    pub fn faults(&self) -> Faults {
        lock(&self.inner.faults).get()
    }

    /// Replaces the injected faults (see [`Faults`]).
    pub fn set_faults(&self, faults: Faults) {
        lock(&self.inner.faults).set(faults);
    }

    pub fn clear_faults(&self) {
        self.set_faults(Faults::default());
    }

    /// Where callbacks go from now on (`None`: nowhere).
    pub fn set_callback_url(&self, url: Option<String>) {
        self.inner.callbacks.queue.set_url(url);
    }

    pub fn callback_url(&self) -> Option<String> {
        self.inner.callbacks.queue.url()
    }

    /// Duplicate and/or shuffle callback deliveries from now on.
    pub fn set_callback_mode(&self, mode: CallbackMode) {
        self.inner.callbacks.set_mode(mode);
    }

    pub fn callback_mode(&self) -> CallbackMode {
        self.inner.callbacks.mode()
    }

    /// Every callback delivery, oldest first (the last 10 000).
    pub fn callbacks(&self) -> Vec<CallbackDelivery> {
        self.inner.callbacks.queue.deliveries()
    }

    /// Releases held (shuffled) callbacks and waits until none is queued or in flight; false if
    /// that took longer than `timeout`.
    pub async fn flush_callbacks(&self, timeout: Duration) -> bool {
        self.inner.callbacks.queue.flush(timeout).await
    }

    /// Signs and delivers an arbitrary event, e.g. an eventType the simulator does not produce.
    pub fn emit_callback(&self, event: serde_json::Value) {
        self.inner.callbacks.enqueue(event);
    }

    /// Would a client log in as `accid` with `token`? Only the newest token of an unblocked
    /// account does.
    pub fn login(&self, accid: &str, token: &str) -> LoginResult {
        let world = lock(&self.inner.world);
        let code = match world.accounts.get(&accid.to_ascii_lowercase()) {
            Some(a) if a.token != token => 302,
            Some(a) if a.blocked => 422,
            Some(_) => 200,
            None => 302,
        };
        LoginResult { ok: code == 200, code }
    }

    pub fn login_ok(&self, accid: &str, token: &str) -> bool {
        self.login(accid, token).ok
    }

    /// Forgets all accounts, friendships, messages, notifications, RequestIds, call counts,
    /// rate-limit blocks, faults and callback history (the state file is emptied too). The
    /// callback URL and mode stay.
    pub async fn reset(&self) {
        self.apply(None, |world, call| {
            world.reset();
            call.persist = true;
        })
        .await;
        lock(&self.inner.limiter).clear();
        *lock(&self.inner.calls) = CallCounts::default();
        self.clear_faults();
        self.inner.callbacks.queue.clear_history();
    }
}

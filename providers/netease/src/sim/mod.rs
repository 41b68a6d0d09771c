//! A simulator of NetEase YunXin's server: a real HTTP server speaking the protocol of
//! shared/providers/netease.md, for tests (port 0), the `imbridge simulate` command and the
//! service's sandbox mode.
//!
//! # NetEase API (`/nimserver/<module>/<action>.action`)
//! Form-encoded bodies, list parameters as JSON-array strings, always HTTP 200 with a JSON `code`
//! (except injected HTTP faults). Every call passes, in this order:
//! 1. fault injection (drop the connection, fail with a code or an HTTP status) — before any effect;
//! 2. authentication: `AppKey`, `Nonce` (≤ 128 chars), `CurTime` (seconds, within
//!    [`SimConfig::checksum_window`] of now in both directions), `CheckSum` → else 414;
//! 3. rate limits per class ([`RateClass`]): excess answers 416 and blocks the class for its block
//!    period, during which every call of the class answers 416 without effect;
//! 4. `RequestId` de-duplication: an id that already *succeeded* within the last hour answers 431
//!    without effect. Failed calls do not consume their id, so a retry after a 503 or a 416 still
//!    lands (NetEase documents nothing here; this is the reading that makes retries safe);
//! 5. the endpoint itself, which validates every parameter before it changes anything.
//!
//! Choices where NetEase documents nothing (a client should not rely on these exact codes):
//! - too-long or malformed parameters answer 414 (not 405); unknown accounts where one is required
//!   answer 414 `"<param> not register"`; a missing friend request (friend/add type 3/4) or friendship
//!   (friend/update) answers 404; more than 500 recipients in a batch send answers 419 "quantity
//!   over limit", more than 200 accids in user/getUinfos answers 414;
//! - friend/add type 1 and friend/delete are idempotent (200 when nothing changes);
//! - team messages (`ope`/`msgtype` 1) accept any team id of at most 32 characters: the simulator
//!   does not model teams;
//! - history/querySessionMsg leaves recalled messages out and includes both ends of the window;
//!   msg/markReadMsg answers 404 for a msgidClient it does not know as a message from `to` to `from`.
//!
//! # Inspection and control (`/__sim/...`, JSON; errors are `{"code","message"}`)
//! Every operation also exists on [`SimState`].
//!
//! | route | what |
//! |---|---|
//! | `GET /__sim/accounts`, `GET /__sim/accounts/{accid}` | accounts with every field (token, blocked) |
//! | `GET /__sim/friendships/{accid}` | friends and pending requests |
//! | `GET /__sim/notifications` | custom notifications, one record per recipient, with `request_id` |
//! | `GET /__sim/messages` | chat messages (sendMsg, sendBatchMsg, simulated clients) |
//! | `GET /__sim/calls` | NetEase calls per API and outcome |
//! | `GET`/`POST`/`DELETE /__sim/faults` | injected faults ([`Faults`] as JSON), including `lose_presence_percent` (lose that share of login/logout callbacks) |
//! | `POST /__sim/login` `{accid, token}` | `{"ok":true,"code":200}` if that token logs in, else `ok:false` with 302 (wrong token, unknown account) or 422 (blocked) |
//! | `POST /__sim/reset` | forget everything |
//! | `GET /__sim/callbacks` | callback deliveries (body, status, attempts) |
//! | `POST /__sim/callbacks/flush?timeout_ms=` | release held callbacks, wait until none is pending (504 on timeout) |
//! | `GET`/`POST /__sim/callbacks/mode` | [`CallbackMode`] `{"duplicate","shuffle","shuffle_window"}` |
//! | `POST /__sim/callbacks/url` `{"url": "..." or null}` | where callbacks go |
//! | `POST /__sim/callbacks/raw` | sign and deliver any JSON event |
//! | `POST /__sim/clients/message` `{from, to, body, msgType?, timestamp?, convType?, antispam?, ...}` | a client sends a chat message (eventType 1, with `ip`/`port`); answers its `msgidServer` |
//! | `POST /__sim/clients/read` `{reader, peer, timestamp?, clientType?}` | a read receipt (eventType 30) |
//! | `POST /__sim/clients/recall` `{msgid, from, to, selfMsg?}` | a P2P recall (eventType 7) |
//! | `POST /__sim/clients/login`, `/logout` `{accid, deviceId?, clientType?, customTag?, timestamp?}` | presence (eventType 2 / 3) |
//!
//! See [`ClientMessage`] and its siblings for every field of the `clients` bodies.
//!
//! # Callbacks
//! With a callback URL, the simulator POSTs NetEase's signed "消息抄送" events: for msg/sendMsg and
//! sendBatchMsg (eventType 1, PERSON/TEAM), sendAttachMsg and sendBatchAttachMsg (eventType 1,
//! CUSTOM_PERSON/CUSTOM_TEAM with CUSTOM_P2P_MSG/CUSTOM_TEAM_MSG), friend/add and delete (eventType 1,
//! CUSTOM_PERSON with FRIEND_ADD/FRIEND_DELETE), msg/recall (eventType 7 / 8), msg/markReadMsg
//! (eventType 30), and the simulated clients. Their shapes follow NetEase's samples (see
//! `callbacks::events`): fields that apply only sometimes (`deviceId`, `ip`/`port`, `antispam`,
//! `attach`, ...) are absent, never empty. Delivery is in order by one background task, retrying
//! non-200 answers; see [`CallbackMode`] for duplicate and shuffled delivery; `Faults` can lose a
//! share of login/logout events.

mod api;
mod auth;
mod callbacks;
mod calls;
mod clients;
mod control;
mod faults;
mod limits;
mod model;
mod params;
mod persist;
mod state;
mod world;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use imbridge_simkit::Running;

pub use callbacks::{CallbackDelivery, CallbackMode, DeliveryState};
pub use calls::{ActionCalls, CallCounts};
pub use clients::{ClientError, ClientMessage, ClientPresence, ClientRead, ClientRecall};
pub use faults::Faults;
pub use limits::RateClass;
pub use model::{Account, Friend, FriendRequest, Friendships, NotificationRecord, SentMessage};
pub use state::{LoginResult, SimState};

/// How the simulator behaves. [`Default`] gives NetEase's documented limits and fixed sandbox
/// credentials.
#[derive(Clone)]
pub struct SimConfig {
    pub app_key: String,
    pub app_secret: String,
    /// Where signed callbacks go; `None` emits none.
    pub callback_url: Option<String>,
    /// When set, accounts, friendships and tokens persist to this JSON file (written atomically
    /// before the call that changed them answers) and load at start.
    pub state_path: Option<PathBuf>,
    /// Calls per second of the per-second class; 0 disables the limit.
    pub per_second_limit: u32,
    /// Calls per minute of the batch class; 0 disables the limit.
    pub batch_per_minute_limit: u32,
    /// How long the per-second class stays blocked after an excess.
    pub block_per_second: Duration,
    /// How long the batch class stays blocked after an excess.
    pub block_per_minute: Duration,
    /// How far `CurTime` may be from now, either way.
    pub checksum_window: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            app_key: "sandbox-app-key".to_owned(),
            app_secret: "sandbox-app-secret".to_owned(),
            callback_url: None,
            state_path: None,
            per_second_limit: 100,
            batch_per_minute_limit: 120,
            block_per_second: Duration::from_secs(10),
            block_per_minute: Duration::from_secs(60),
            checksum_window: Duration::from_secs(300),
        }
    }
}

impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("app_key", &self.app_key)
            .field("app_secret", &"[redacted]")
            .field("callback_url", &self.callback_url)
            .field("state_path", &self.state_path)
            .field("per_second_limit", &self.per_second_limit)
            .field("batch_per_minute_limit", &self.batch_per_minute_limit)
            .field("block_per_second", &self.block_per_second)
            .field("block_per_minute", &self.block_per_minute)
            .field("checksum_window", &self.checksum_window)
            .finish()
    }
}

/// Builds and runs simulators.
pub struct Simulator;

impl Simulator {
    /// Serves a simulator on `listener` until [`SimHandle::shutdown`] (or until the handle is
    /// dropped). Fails when the state file exists but cannot be read.
    pub async fn start(cfg: SimConfig, listener: tokio::net::TcpListener) -> std::io::Result<SimHandle> {
        let (router, state) = Self::try_router(cfg)?;
        let server = Running::start(listener, router)?;
        let addr = server.addr();
        tracing::info!(%addr, "NetEase simulator listening");
        Ok(SimHandle { server, state })
    }

    /// The simulator as a router, for embedding (sandbox mode). Served by anything but
    /// [`Simulator::start`], a "drop the connection" fault aborts the response after its headers
    /// instead of closing the connection before any byte. An unreadable state file is moved aside
    /// (`<file>.corrupt-<ms>`) with an error log, and the simulator starts empty.
    pub fn router(cfg: SimConfig) -> (axum::Router, SimState) {
        let state = SimState::new_recovering(cfg);
        (control::router(state.clone()), state)
    }

    /// Like [`Simulator::router`], but an unreadable state file is an error.
    pub fn try_router(cfg: SimConfig) -> std::io::Result<(axum::Router, SimState)> {
        let state = SimState::new(cfg)?;
        Ok((control::router(state.clone()), state))
    }
}

/// A running simulator. Dropping it stops the server; [`SimHandle::shutdown`] also waits for it.
pub struct SimHandle {
    server: Running,
    state: SimState,
}

impl SimHandle {
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The NetEase base URL to give a client, e.g. `http://127.0.0.1:41234/nimserver`.
    pub fn base_url(&self) -> String {
        format!("http://{}/nimserver", self.server.loopback_addr())
    }

    /// The simulator's root URL (no `/nimserver`), for the `/__sim` API.
    pub fn root_url(&self) -> String {
        format!("http://{}", self.server.loopback_addr())
    }

    pub fn state(&self) -> SimState {
        self.state.clone()
    }

    /// Stops accepting, lets open connections finish their current request, and waits.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

impl fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimHandle").field("addr", &self.server.addr()).finish_non_exhaustive()
    }
}

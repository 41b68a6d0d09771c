//! A simulator of Tencent IM's server: a real HTTP server speaking the protocol of
//! shared/providers/tencent.md, for tests (port 0), `imbridge simulate --provider tencent` and
//! sandbox mode. In memory only.
//!
//! # REST API (`POST /v4/{service}/{command}?sdkappid=&identifier=&usersig=&random=&contenttype=json`)
//! JSON bodies; always HTTP 200 with `{"ActionStatus":"OK"|"FAIL","ErrorCode":n,"ErrorInfo":"..."}`
//! plus the command's fields and a random `RequestId` (except injected HTTP faults). Every call
//! passes, in this order, and nothing changes unless the answer is OK:
//! 1. fault injection ([`Faults`]: drop the connection, fail with a code or an HTTP status);
//! 2. the query string: `sdkappid` missing → 60012, another app's → 70014; `identifier` or
//!    `usersig` missing → 60004 (Tencent: "account or signature error in the URL"); the UserSig
//!    is verified with the app's key at the sim clock → its own code (70001 expired, 70003
//!    illegal, 70009 bad signature, 70014 other app); made for another identifier → 70013;
//!    `identifier` not [`SimConfig::admin`] → 70403 (needs admin). `random` and `contenttype`
//!    are not checked;
//! 3. an unknown command → 60009 (Tencent: "request resource error, check the URL");
//! 4. rate limit: [`SimConfig::rate_per_second`] calls per command over a sliding second (half
//!    of it for `multiaccount_import` and `account_check`) → 60007; no block period;
//! 5. the body: not JSON → 90001 (`openim/*`, from its pages) or 60003 (others); then each
//!    field is checked before anything changes → 70402 with a message naming the field, unless a
//!    code below says otherwise; an account that must exist but was never imported → 70107.
//!
//! Commands and the choices where Tencent documents nothing (do not rely on these exact codes):
//! - `im_open_login_svc/account_import` (`UserID` ≤ 32 bytes, or the legacy `Identifier`):
//!   idempotent; importing again updates the `Nick`/`FaceUrl` given. `multiaccount_import`
//!   (1..=100 `Accounts`): malformed UserIDs go to `FailAccounts`. `account_check` (1..=100).
//! - `profile/portrait_set`: Nick, Image, SelfSignature, Location, AdminForbidType (strings),
//!   Gender, AllowType (their enumerations), BirthDay (u32), Language, MsgSettings, Level, Role
//!   (integers) and any `Tag_Profile_Custom_*` (string or integer; the sim has no console, so every
//!   custom tag is "configured"). Another tag → 40009 "Invalid field" (the text Tencent answers);
//!   a wrong value → 70402. `portrait_get` (1..=100 accounts) lists only tags that were set;
//!   an account never imported gets ResultCode 70107 and goes to `FailAccount`.
//! - `sns/friend_add`: every add is a force-add (no friend requests are modelled; `AllowType` is
//!   ignored); adding an existing friend answers ResultCode 0; per item, a peer never imported
//!   answers 70107 and adding oneself 70402 (both in `Fail_Account`). `AddSource` must be
//!   `AddSource_Type_` + 1..=8 characters. `friend_delete` (1..=1000, default
//!   `Delete_Type_Both`) answers 0 for non-friends too. `friend_get`: pages of 100, no profile values.
//! - `openim/sendmsg`: `From_Account` defaults to the admin (always allowed as a sender);
//!   a sender or recipient never imported → 20003 (Tencent's "sender or recipient UserID is
//!   invalid or does not exist"); `MsgRandom` missing or not u32 → 90005; a bad `MsgBody` →
//!   90002 (types: TIMTextElem needs `Text`; TIMCustomElem's `Data`/`Desc`/`Ext`/`Sound` are
//!   strings; the other documented types pass unchecked); `MsgLifeTime` > 7 days → 90026.
//!   De-duplication only when `MsgSeq` is given: same sender + MsgSeq + MsgRandom + CRC32 of the
//!   MsgBody's JSON text within 120 s (sim clock) answers OK with the first send's `MsgKey`,
//!   `MsgTime` and `MsgSeq`, stores nothing, fires nothing, and counts as `duplicate` in
//!   `/__sim/calls`. The recipient is not part of the key, as in Tencent's description.
//!   MsgKey = `{n}_{MsgRandom}_{MsgTime}` with `n` the sim's own counter (so keys are unique);
//!   `MsgSeq` answered is the request's, or `n`. `NoUnread` keeps a message out of unread counts;
//!   `MsgLifeTime` 0 (online only) keeps it out of unread counts and roaming (`OnlineOnlyFlag` 1).
//!   Fires `C2C.CallbackAfterSendMsg` (OptPlatform `RESTAPI`) unless `ForbidAfterSendMsgCallback`.
//! - `openim/batchsendmsg`: 1..=500 recipients (more → 90011); one `MsgKey` shared by all
//!   recipients (recall each with From/To + that key); recipients never imported → `ErrorList`
//!   `{To_Account, ErrorCode: 90012}`; no de-duplication and no callbacks.
//! - `openim/get_c2c_unread_msg_num`: with `Peer_Account` (≤ 10) one entry per peer; without it,
//!   one per peer with unread messages; `AllC2CUnreadMsgNum` always.
//! - `openim/admin_set_msg_read`: `MsgReadTime` defaults to now; the read watermark never moves
//!   back; a message in the same second as the watermark counts as read (an inference).
//!   Fires `C2C.CallbackAfterMsgReport`.
//! - `openim/admin_getroammsg`: both directions of the conversation within [MinTime, MaxTime]
//!   inclusive, newest first; with `LastMsgKey`, starting after that message (an unknown key
//!   starts from the top); a page holds ≤ `MaxCnt` messages and ≤ 13 KB of their JSON (at least
//!   one); `Complete` 1 when nothing is left in the window. Recalled messages stay with
//!   `MsgFlagBits` 8; `IsPeerRead` is the recipient's read state.
//! - `openim/admin_msgwithdraw` (codes from its page): sender unknown → 90008, recipient unknown →
//!   90003, MsgKey not `n_n_n` → 90054, no such message from→to → 20022, already recalled → 20023.
//!   Fires `C2C.CallbackAfterMsgWithDraw` with the recipient's unread total.
//! - `openim/query_online_status` (1..=500): `Online` while a simulated client is logged in,
//!   else `Offline`; accounts never imported go to `ErrorList` with 70107.
//!
//! # Inspection and control (`/__sim/...`, JSON; errors are `{"code","message"}`)
//! Every operation also exists on [`SimState`].
//!
//! | route | what |
//! |---|---|
//! | `GET /__sim/accounts`, `GET /__sim/accounts/{id}` | [`Account`]s (404 when not imported) |
//! | `POST /__sim/login` `{accid, token}` | [`LoginResult`] `{"ok","code"}`: the token (a UserSig) verifies for `accid` at the sim clock and the account is imported (0), else the UserSig code or 70107 |
//! | `GET /__sim/friendships/{id}` | `{"friends":[{user_id, add_source, since}]}` |
//! | `GET /__sim/messages` | [`SentMessage`]s (sendmsg, batchsendmsg, simulated clients) |
//! | `GET /__sim/notifications` | [`NotificationRecord`]s: REST messages with a TIMCustomElem, one per recipient |
//! | `GET /__sim/calls` | [`CallCounts`]: `{"openim/sendmsg": {"ok":3,"60007":1,"duplicate":1}}` |
//! | `GET`/`POST`/`DELETE /__sim/faults` | [`Faults`] |
//! | `POST /__sim/reset` | forget data, counts, rate windows, faults, callback history |
//! | `GET /__sim/clock`, `POST /__sim/clock` `{advance_secs}` | the sim clock `{"now"}` (unix s) |
//! | `GET /__sim/callbacks` | [`CallbackDelivery`]s (command, query, body, state, status, attempts) |
//! | `POST /__sim/callbacks/flush?timeout_ms=` | release held callbacks, wait until none is pending (504 on timeout; default 10 s) |
//! | `GET`/`POST /__sim/callbacks/mode` | [`CallbackMode`] `{duplicate, shuffle, drop_percent, retry}` |
//! | `GET`/`POST /__sim/callbacks/url` `{"url": str or null}` | where callbacks go |
//! | `POST /__sim/clients/message` | [`ClientMessage`] → [`ClientSent`] `{msg_key, msg_time, msg_seq, msg_random}` |
//! | `POST /__sim/clients/read` | [`ClientRead`] → `{"ok":true,"last_read_time"}` |
//! | `POST /__sim/clients/recall` | [`ClientRecall`] |
//! | `POST /__sim/clients/login`, `/logout` | [`ClientPresence`] |
//!
//! Simulated clients act with the user's own identity (no REST call, no rate limit, no faults);
//! their accounts must be imported (404 otherwise).
//!
//! # Callbacks
//! With a callback URL, the simulator POSTs `C2C.CallbackAfterSendMsg` (REST sendmsg and client
//! messages), `C2C.CallbackAfterMsgReport` (admin_set_msg_read, client reads),
//! `C2C.CallbackAfterMsgWithDraw` (admin_msgwithdraw, client recalls) and `State.StateChange`
//! (client login/logout) with Tencent's query string and, when [`SimConfig::callback_token`] is
//! set, `Sign`/`RequestTime` (see `callbacks`). `OptPlatform` is `RESTAPI` for events caused by
//! REST calls, the client's platform otherwise (`IOS` for iOS in `State.StateChange` only).
//! One background task delivers in order; a delivery is attempted once unless
//! [`CallbackMode::retry`] (Tencent documents no redelivery).

mod callbacks;
mod calls;
mod clients;
mod control;
mod faults;
mod limits;
mod model;
mod msgbody;
mod rest;
mod state;
mod world;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::SocketAddr;

use imbridge_simkit::Running;

pub use callbacks::{CallbackDelivery, CallbackMode, DeliveryState};
pub use calls::CallCounts;
pub use clients::{ClientError, ClientMessage, ClientPresence, ClientRead, ClientRecall, ClientSent};
pub use faults::Faults;
pub use model::{Account, Friend, Friendships, NotificationRecord, SentMessage};
pub use state::{LoginResult, SimState};

/// How the simulator behaves. [`Default`] gives Tencent's documented limits and fixed sandbox
/// credentials (the key of shared/providers/tencent.md §2's test vectors).
#[derive(Clone)]
pub struct SimConfig {
    pub sdkappid: u64,
    /// The app's UserSig key.
    pub secret_key: String,
    /// The App admin: the only `identifier` REST calls are accepted from.
    pub admin: String,
    /// Where callbacks go; `None` emits none.
    pub callback_url: Option<String>,
    /// When set, callbacks carry `Sign` and `RequestTime`.
    pub callback_token: Option<String>,
    /// REST calls per command per second; 0 disables the limit.
    pub rate_per_second: u32,
    /// Start the sim clock at this unix time (it then advances in real time). The clock governs
    /// UserSig expiry, message times and the de-duplication window; callback `RequestTime` stays
    /// real time.
    pub now_override: Option<u64>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            sdkappid: 1_400_000_001,
            secret_key: "imbridge-test-key-5bd2850fff3ecb11d7c805251c51ee46".to_owned(),
            admin: "administrator".to_owned(),
            callback_url: None,
            callback_token: None,
            rate_per_second: 200,
            now_override: None,
        }
    }
}

impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("sdkappid", &self.sdkappid)
            .field("secret_key", &"[redacted]")
            .field("admin", &self.admin)
            .field("callback_url", &self.callback_url)
            .field("callback_token", &self.callback_token.as_ref().map(|_| "[redacted]"))
            .field("rate_per_second", &self.rate_per_second)
            .field("now_override", &self.now_override)
            .finish()
    }
}

/// Builds and runs simulators.
pub struct Simulator;

impl Simulator {
    /// Serves a simulator on `listener` until [`SimHandle::shutdown`] (or until the handle is
    /// dropped).
    pub async fn start(config: SimConfig, listener: tokio::net::TcpListener) -> std::io::Result<SimHandle> {
        let (router, state) = Self::router(config);
        let server = Running::start(listener, router)?;
        let addr = server.addr();
        tracing::info!(%addr, "Tencent IM simulator listening");
        Ok(SimHandle { server, state })
    }

    /// The simulator as a router, for embedding (sandbox mode). Served by anything but
    /// [`Simulator::start`], a "drop the connection" fault aborts the response after its headers
    /// instead of closing the connection before any byte.
    pub fn router(config: SimConfig) -> (axum::Router, SimState) {
        let state = SimState::new(config);
        (control::router(state.clone()), state)
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

    /// The base URL to give a client, e.g. `http://127.0.0.1:41234`; it appends
    /// `/v4/{service}/{command}`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.server.loopback_addr())
    }

    /// The simulator's root URL, for the `/__sim` API (the same host as [`SimHandle::base_url`]).
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

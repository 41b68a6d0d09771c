//! Simulated clients: users acting through Tencent's SDK with their own identity (not REST), so
//! that the bridge sees the callbacks a real app would produce. The bodies of `/__sim/clients/*`.

use rand::Rng;
use serde::Deserialize;
use serde_json::{json, Value};

use super::callbacks::Event;
use super::msgbody;
use super::state::SimState;
use super::world::NewMessage;

/// `OptPlatform` when a body names none.
const DEFAULT_PLATFORM: &str = "Android";

/// Why a simulated client action was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientError {
    /// 400 or 404.
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl ClientError {
    fn bad_request(message: impl Into<String>) -> Self {
        Self { status: 400, code: "bad_request", message: message.into() }
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self { status: 404, code: "not_found", message: message.into() }
    }
}

/// `POST /__sim/clients/message`: `from` sends `to` a message (fires `C2C.CallbackAfterSendMsg`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientMessage {
    pub from: String,
    pub to: String,
    /// A text message (`TIMTextElem`) when `body` is absent.
    #[serde(default)]
    pub text: Option<String>,
    /// A full `MsgBody` array.
    #[serde(default)]
    pub body: Option<Value>,
    /// Sim-clock unix seconds; default now.
    #[serde(default)]
    pub time: Option<u64>,
    #[serde(default)]
    pub cloud_custom_data: Option<String>,
    /// Non-zero: the send failed (e.g. 80001, filtered word): nothing stored, and the callback
    /// carries this `SendMsgResult` with `UnreadMsgNum` -1.
    #[serde(default)]
    pub send_msg_result: Option<i64>,
    #[serde(default)]
    pub error_info: Option<String>,
    /// `OptPlatform`; default `Android`.
    #[serde(default)]
    pub platform: Option<String>,
    #[serde(default)]
    pub seq: Option<u32>,
    #[serde(default)]
    pub random: Option<u32>,
}

/// What a simulated send answers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ClientSent {
    pub msg_key: String,
    pub msg_time: u64,
    pub msg_seq: u32,
    pub msg_random: u32,
}

/// `POST /__sim/clients/read`: `reader` reads `peer`'s messages up to `time` (default now).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientRead {
    pub reader: String,
    pub peer: String,
    #[serde(default)]
    pub time: Option<u64>,
    #[serde(default)]
    pub platform: Option<String>,
}

/// `POST /__sim/clients/recall`: `from` recalls its message `msg_key` to `to`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientRecall {
    pub from: String,
    pub to: String,
    pub msg_key: String,
    #[serde(default)]
    pub platform: Option<String>,
}

/// `POST /__sim/clients/login` and `/logout`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientPresence {
    pub accid: String,
    /// Default `Android`; `iOS` is sent as `IOS` in this callback's `OptPlatform`.
    #[serde(default)]
    pub platform: Option<String>,
    /// `Info.Reason`; default `Register` (login) / `Unregister` (logout).
    #[serde(default)]
    pub reason: Option<String>,
}

fn platform(p: &Option<String>) -> String {
    p.clone().filter(|p| !p.is_empty()).unwrap_or_else(|| DEFAULT_PLATFORM.to_owned())
}

impl SimState {
    fn require(&self, who: &str, id: &str) -> Result<(), ClientError> {
        if self.account(id).is_none() {
            return Err(ClientError::not_found(format!("{who} {id} is not imported")));
        }
        Ok(())
    }

    /// A client sends a C2C message.
    pub fn client_message(&self, m: ClientMessage) -> Result<ClientSent, ClientError> {
        self.require("from", &m.from)?;
        self.require("to", &m.to)?;
        let body = match (&m.body, &m.text) {
            (Some(body), _) => body.clone(),
            (None, Some(text)) => json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}]),
            (None, None) => return Err(ClientError::bad_request("give text or body")),
        };
        if let Some(problem) = msgbody::problem(&body) {
            return Err(ClientError::bad_request(problem));
        }
        let now = self.now();
        let result = m.send_msg_result.unwrap_or(0);
        let platform = platform(&m.platform);
        let draft = NewMessage {
            from: m.from,
            to: m.to,
            time: m.time.unwrap_or(now),
            seq: m.seq,
            random: m.random.unwrap_or_else(|| rand::thread_rng().gen()),
            body,
            cloud_custom_data: m.cloud_custom_data,
            send_msg_control: Vec::new(),
            online_only: false,
            source: "client",
            msg_key: None,
        };
        Ok(self.apply(|world, events| {
            let (sent, unread) = if result == 0 {
                let sent = world.store(draft);
                let unread = world.unread_total(&sent.to);
                (sent, unread)
            } else {
                (world.draft(draft), -1)
            };
            let info = m.error_info.clone().unwrap_or_default();
            events.push(Event::after_send_msg(&platform, &sent, result, &info, unread));
            ClientSent { msg_key: sent.msg_key, msg_time: sent.time, msg_seq: sent.seq, msg_random: sent.random }
        }))
    }

    /// A client reports reading a conversation; answers the `LastReadTime` sent.
    pub fn client_read(&self, r: ClientRead) -> Result<u64, ClientError> {
        self.require("reader", &r.reader)?;
        self.require("peer", &r.peer)?;
        let time = r.time.unwrap_or_else(|| self.now());
        let platform = platform(&r.platform);
        self.apply(|world, events| events.push(world.mark_read(&r.reader, &r.peer, time, &platform)));
        Ok(time)
    }

    /// A client recalls one of its messages.
    pub fn client_recall(&self, r: ClientRecall) -> Result<(), ClientError> {
        let platform = platform(&r.platform);
        self.apply(|world, events| {
            let Some(m) = world.message_mut(&r.from, &r.to, &r.msg_key) else {
                return Err(ClientError::not_found(format!("no message {} from {} to {}", r.msg_key, r.from, r.to)));
            };
            if m.recalled {
                return Err(ClientError::bad_request("already recalled"));
            }
            m.recalled = true;
            let unread = world.unread_total(&r.to);
            events.push(Event::msg_withdraw(&platform, &r.from, &r.to, &r.msg_key, unread));
            Ok(())
        })
    }

    /// A client logs in (`login` true) or out: fires `State.StateChange`. Logging in again on a
    /// platform already online kicks that device (`KickedDevice`).
    pub fn client_presence(&self, p: ClientPresence, login: bool) -> Result<(), ClientError> {
        self.require("accid", &p.accid)?;
        let platform = platform(&p.platform);
        let event_ms = self.now() * 1000 + imbridge_simkit::callbacks::now_millis() % 1000;
        self.apply(|world, events| {
            let Some(account) = world.accounts.get_mut(&p.accid) else { return };
            let mut kicked = Vec::new();
            let (action, reason) = if login {
                if account.online.contains(&platform) {
                    kicked.push(platform.clone());
                } else {
                    account.online.push(platform.clone());
                }
                ("Login", "Register")
            } else {
                account.online.retain(|o| o != &platform);
                ("Logout", "Unregister")
            };
            let reason = p.reason.clone().unwrap_or_else(|| reason.to_owned());
            events.push(Event::state_change(&platform, action, &p.accid, &reason, event_ms, &kicked));
        });
        Ok(())
    }
}

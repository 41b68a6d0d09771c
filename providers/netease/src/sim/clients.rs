//! What NetEase clients (apps) do that the bridge only hears about through callbacks: send chat
//! messages, read them, recall them, log in and out. Tests drive these through
//! `POST /__sim/clients/*` or the methods below; each emits the callback NetEase would.
//!
//! The accounts need not exist in the simulator, so tests can script any traffic; accids are
//! lowercased and must be valid NetEase accids.

use serde::{Deserialize, Serialize};

use super::callbacks::events::{self, canonical_client_type, presence_client_type, Presence, Recall};
use super::model::SentMessage;
use super::params::list_accid;
use super::state::{lock, SimState};

/// Why a simulated client action was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ClientError {
    /// `invalid` (bad input) or `login_refused` (token given and it does not log in).
    pub code: &'static str,
    pub message: String,
}

impl ClientError {
    fn invalid(field: &str, reason: &str) -> Self {
        Self { code: "invalid", message: format!("{field}: {reason}") }
    }
}

fn accid(field: &str, raw: &str) -> Result<String, ClientError> {
    list_accid(raw).ok_or_else(|| ClientError::invalid(field, "must be 1-32 letters, digits or _ @ . -"))
}

/// A NetEase client type in any case (AOS when absent), canonical upper case.
fn client_type(field: &str, raw: Option<&str>) -> Result<&'static str, ClientError> {
    canonical_client_type(raw.unwrap_or(DEFAULT_CLIENT))
        .ok_or_else(|| ClientError::invalid(field, "must be AOS, IOS, PC, WEB, REST, MAC or HARMONY"))
}

/// A client sends a chat message (eventType 1, convType PERSON or TEAM).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientMessage {
    pub from: String,
    /// The receiver accid, or the team id for TEAM.
    pub to: String,
    #[serde(default)]
    pub body: String,
    /// TEXT when absent.
    pub msg_type: Option<String>,
    /// Milliseconds; now when absent.
    pub timestamp: Option<u64>,
    /// PERSON (default) or TEAM.
    pub conv_type: Option<String>,
    pub attach: Option<String>,
    pub ext: Option<String>,
    /// AOS when absent; any case of AOS, IOS, PC, WEB, REST, MAC, HARMONY.
    pub from_client_type: Option<String>,
    pub from_device_id: Option<String>,
    pub msgid_client: Option<String>,
    /// Reuse a message id (e.g. to replay a message); a new one when absent.
    pub msgid_server: Option<u64>,
    /// The sender's address, reported as `ip` (127.0.0.1 when absent) and `port`.
    pub ip: Option<String>,
    pub port: Option<u16>,
    /// Flag the message as anti-spam would: the callback carries `"antispam":"true"`.
    #[serde(default)]
    pub antispam: bool,
}

/// A client reads the P2P session with `peer` up to `timestamp` (eventType 30).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientRead {
    pub reader: String,
    pub peer: String,
    /// Milliseconds; now when absent.
    pub timestamp: Option<u64>,
    /// AOS when absent.
    pub client_type: Option<String>,
    /// The newest known message from peer to reader up to `timestamp` when absent.
    pub msgid_client: Option<String>,
}

/// A client recalls a P2P message (eventType 7). The message need not be known: a recall may
/// arrive before its message.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientRecall {
    pub msgid: u64,
    pub from: String,
    pub to: String,
    /// Milliseconds; now when absent.
    pub delete_time: Option<u64>,
    pub client_type: Option<String>,
    /// The recall's note (`selfMsg`); NetEase's sample text "撤回了一条消息" when absent.
    pub self_msg: Option<String>,
    /// The optional custom extension (`attach`), left out when absent.
    pub attach: Option<String>,
}

/// A client logs in or out (eventType 2 / 3).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientPresence {
    pub accid: String,
    /// Sent as `deviceId` only when given: a client may log in and out without one.
    pub device_id: Option<String>,
    /// AOS when absent; any case of AOS, IOS, PC, WEB, REST, MAC, HARMONY.
    pub client_type: Option<String>,
    /// Sent as `customTag` when given.
    pub custom_tag: Option<String>,
    /// Milliseconds; now when absent.
    pub timestamp: Option<u64>,
    /// When given, a login is refused (no event) unless this token logs in.
    pub token: Option<String>,
    /// Logout only: 1 logout (default), 2 disconnect, 3 kicked by own device, 4 kicked by policy.
    pub log_out_reason: Option<u8>,
}

const DEFAULT_CLIENT: &str = "AOS";
/// The recall note of NetEase's sample.
const DEFAULT_RECALL_NOTE: &str = "撤回了一条消息";
/// The address simulated SDK clients send from, unless a test gives one.
const DEFAULT_CLIENT_IP: &str = "127.0.0.1";
const DEFAULT_CLIENT_PORT: u16 = 52_001;

impl SimState {
    /// A client sends a chat message; returns it as stored (with its msgidServer).
    pub async fn client_message(&self, m: ClientMessage) -> Result<SentMessage, ClientError> {
        let from = accid("from", &m.from)?;
        let conv_type = m.conv_type.unwrap_or_else(|| "PERSON".to_owned());
        let to = match conv_type.as_str() {
            "PERSON" => accid("to", &m.to)?,
            "TEAM" if !m.to.is_empty() => m.to.clone(),
            "TEAM" => return Err(ClientError::invalid("to", "must be a team id")),
            _ => return Err(ClientError::invalid("convType", "must be PERSON or TEAM")),
        };
        let from_client_type = client_type("fromClientType", m.from_client_type.as_deref())?;
        self.apply(None, |world, call| {
            let message = SentMessage {
                msgid_server: m.msgid_server.unwrap_or_else(|| world.new_msgid(call)),
                msgid_client: m.msgid_client.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
                conv_type,
                from,
                to,
                msg_type: m.msg_type.unwrap_or_else(|| "TEXT".to_owned()),
                body: m.body,
                attach: m.attach.unwrap_or_default(),
                ext: m.ext,
                from_client_type: from_client_type.to_owned(),
                from_device_id: m.from_device_id.unwrap_or_else(|| "sim-device".to_owned()),
                ip: Some(m.ip.unwrap_or_else(|| DEFAULT_CLIENT_IP.to_owned())),
                port: Some(m.port.unwrap_or(DEFAULT_CLIENT_PORT)),
                antispam: m.antispam,
                timestamp: m.timestamp.unwrap_or(call.now_ms),
                recalled: false,
                request_id: None,
            };
            call.callbacks.push(events::chat_message(&message, &world.nick(&message.from)));
            world.record_message(message.clone());
            Ok(message)
        })
        .await
    }

    /// A client reports having read the session with a peer; returns the read-up-to time.
    pub async fn client_read(&self, r: ClientRead) -> Result<u64, ClientError> {
        let reader = accid("reader", &r.reader)?;
        let peer = accid("peer", &r.peer)?;
        let client_type = client_type("clientType", r.client_type.as_deref())?;
        self.apply(None, |world, call| {
            let timestamp = r.timestamp.unwrap_or(call.now_ms);
            let msgid_client = r.msgid_client.unwrap_or_else(|| {
                world
                    .messages
                    .values()
                    .filter(|m| m.from == peer && m.to == reader && m.conv_type == "PERSON" && m.timestamp <= timestamp)
                    .max_by_key(|m| (m.timestamp, m.msgid_server))
                    .map(|m| m.msgid_client.clone())
                    .unwrap_or_default()
            });
            call.callbacks.push(events::read_receipt(&reader, &peer, &msgid_client, timestamp, client_type));
            Ok(timestamp)
        })
        .await
    }

    /// A client recalls a P2P message.
    pub async fn client_recall(&self, r: ClientRecall) -> Result<(), ClientError> {
        let from = accid("from", &r.from)?;
        let to = accid("to", &r.to)?;
        let from_client_type = client_type("clientType", r.client_type.as_deref())?;
        self.apply(None, |world, call| {
            let delete_time = r.delete_time.unwrap_or(call.now_ms);
            // An unknown message (the recall came first) still gets a client id, as NetEase's would.
            let (send_time, client_id) = match world.messages.get_mut(&r.msgid) {
                Some(message) => {
                    message.recalled = true;
                    (message.timestamp, message.msgid_client.clone())
                }
                None => (delete_time, uuid::Uuid::new_v4().to_string()),
            };
            let recall = Recall {
                team: false,
                msgid_server: r.msgid,
                client_id: &client_id,
                from: &from,
                to: &to,
                delete_time,
                send_time,
                from_client_type,
                self_msg: r.self_msg.as_deref().unwrap_or(DEFAULT_RECALL_NOTE),
                attach: r.attach.as_deref(),
            };
            call.callbacks.push(events::recall(&recall));
            Ok(())
        })
        .await
    }

    /// A client logs in (eventType 2).
    pub async fn client_login(&self, p: ClientPresence) -> Result<(), ClientError> {
        if let Some(token) = &p.token {
            let result = self.login(&p.accid, token);
            if !result.ok {
                let message = format!("login refused with code {}", result.code);
                return Err(ClientError { code: "login_refused", message });
            }
        }
        self.presence(p, None).await
    }

    /// A client logs out (eventType 3).
    pub async fn client_logout(&self, p: ClientPresence) -> Result<(), ClientError> {
        let reason = p.log_out_reason.unwrap_or(1);
        if !(1..=4).contains(&reason) {
            return Err(ClientError::invalid("logOutReason", "must be 1, 2, 3 or 4"));
        }
        self.presence(p, Some(reason)).await
    }

    /// The login/logout callback; the `lose_presence_percent` fault may lose it (it is then
    /// recorded as a [`super::DeliveryState::Lost`] delivery and never posted).
    async fn presence(&self, p: ClientPresence, logout_reason: Option<u8>) -> Result<(), ClientError> {
        let accid = accid("accid", &p.accid)?;
        if p.device_id.as_deref().is_some_and(str::is_empty) {
            return Err(ClientError::invalid("deviceId", "must not be empty when given"));
        }
        let client_type = presence_client_type(client_type("clientType", p.client_type.as_deref())?);
        let event = events::presence(&Presence {
            accid: &accid,
            device_id: p.device_id.as_deref(),
            client_type,
            custom_tag: p.custom_tag.as_deref(),
            timestamp: p.timestamp.unwrap_or_else(crate::sign::now_millis),
            logout_reason,
        });
        if lock(&self.inner.faults).lose_presence() {
            self.inner.callbacks.record_lost(&event);
        } else {
            self.emit_callback(event);
        }
        Ok(())
    }
}

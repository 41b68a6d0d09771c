//! What NetEase clients (apps) do that the bridge only hears about through callbacks: send chat
//! messages, read them, recall them, log in and out. Tests drive these through
//! `POST /__sim/clients/*` or the methods below; each emits the callback NetEase would.
//!
//! The accounts need not exist in the simulator, so tests can script any traffic; accids are
//! lowercased and must be valid NetEase accids.

use serde::{Deserialize, Serialize};

use super::callbacks::events::{self, Presence, Recall};
use super::model::SentMessage;
use super::params::list_accid;
use super::state::SimState;

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
    /// AOS when absent.
    pub from_client_type: Option<String>,
    pub from_device_id: Option<String>,
    pub msgid_client: Option<String>,
    /// Reuse a message id (e.g. to replay a message); a new one when absent.
    pub msgid_server: Option<u64>,
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
    pub attach: Option<String>,
}

/// A client logs in or out (eventType 2 / 3).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientPresence {
    pub accid: String,
    pub device_id: String,
    /// AOS when absent.
    pub client_type: Option<String>,
    /// Milliseconds; now when absent.
    pub timestamp: Option<u64>,
    /// When given, a login is refused (no event) unless this token logs in.
    pub token: Option<String>,
    /// Logout only: 1 logout (default), 2 disconnect, 3 kicked by own device, 4 kicked by policy.
    pub log_out_reason: Option<u8>,
}

const DEFAULT_CLIENT: &str = "AOS";

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
                from_client_type: m.from_client_type.unwrap_or_else(|| DEFAULT_CLIENT.to_owned()),
                from_device_id: m.from_device_id.unwrap_or_else(|| "sim-device".to_owned()),
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
        let client_type = r.client_type.unwrap_or_else(|| DEFAULT_CLIENT.to_owned());
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
            call.callbacks.push(events::read_receipt(&reader, &peer, &msgid_client, timestamp, &client_type));
            Ok(timestamp)
        })
        .await
    }

    /// A client recalls a P2P message.
    pub async fn client_recall(&self, r: ClientRecall) -> Result<(), ClientError> {
        let from = accid("from", &r.from)?;
        let to = accid("to", &r.to)?;
        self.apply(None, |world, call| {
            let delete_time = r.delete_time.unwrap_or(call.now_ms);
            let send_time = match world.messages.get_mut(&r.msgid) {
                Some(message) => {
                    message.recalled = true;
                    message.timestamp
                }
                None => delete_time,
            };
            let recall = Recall {
                msgid_server: r.msgid,
                from: &from,
                to: &to,
                delete_time,
                send_time,
                from_client_type: r.client_type.as_deref().unwrap_or(DEFAULT_CLIENT),
                attach: r.attach.as_deref().unwrap_or_default(),
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

    async fn presence(&self, p: ClientPresence, logout_reason: Option<u8>) -> Result<(), ClientError> {
        let accid = accid("accid", &p.accid)?;
        if p.device_id.is_empty() {
            return Err(ClientError::invalid("deviceId", "must not be empty"));
        }
        self.apply(None, |_world, call| {
            let event = events::presence(&Presence {
                accid: &accid,
                device_id: &p.device_id,
                client_type: p.client_type.as_deref().unwrap_or(DEFAULT_CLIENT),
                timestamp: p.timestamp.unwrap_or(call.now_ms),
                logout_reason,
            });
            call.callbacks.push(event);
            Ok(())
        })
        .await
    }
}

//! [`ImProvider`] for Tencent IM: the service's only way to reach Tencent.
//!
//! How the neutral operations map (shared/providers/tencent.md):
//! - credentials are UserSigs signed locally with the app's secret key: nothing is stored, each
//!   `new_credential` is a fresh one valid for [`TencentConfig::usersig_ttl`];
//! - `ensure_account` is `account_import` (idempotent) plus `portrait_set` for the other fields;
//! - a friendship is `friend_add` / `friend_delete` on both sides, forced (no consent step);
//! - a notification is a `TIMCustomElem` message (`Data` = attach, `Desc` = push text, `Ext` =
//!   payload, `Sound`) sent with `SendMsgControl` `NoUnread` + `NoLastMsg`, so it never counts as unread
//!   chat nor becomes a conversation's last message, and with our marker in `CloudCustomData`, so its
//!   callback is recognised as a notification;
//! - retries reuse the item's `MsgSeq`/`MsgRandom`, derived from the outbox request id: Tencent drops
//!   a resend with the same sender, MsgSeq, MsgRandom and content for 120 s. After that window a resend
//!   would deliver twice; the outbox's own delivery state is what prevents that (an item is settled
//!   once its send succeeded and is never sent again);
//! - a read receipt is `admin_set_msg_read` up to the second of the newest message read;
//! - history is `admin_getroammsg`, converted into the documents its callbacks would have carried.
//!
//! Not available on Tencent (answered [`ProviderError::Unsupported`]): blocking an account, team
//! notifications.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use imbridge_provider::{
    Ack, CallbackDoc, CallbackRequest, Credential, EnsureOutcome, Event, FieldIn, ImProvider, InvalidField,
    MessageContent, MessageEvent, Notification, ParseError, ParsedCallback, Profile, ProviderError, ReadPosition,
    SendOutcome, SignatureField, Target, VerifyFailure,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::client::{RoamQuery, SendMsg, TencentClient};
use crate::config::TencentConfig;
use crate::error::{codes, TencentError};
use crate::{callback, usersig, validate};

/// How many `admin_getroammsg` pages one history call reads at most (each ≤ ~13 KB).
const HISTORY_PAGES_MAX: usize = 50;

pub struct TencentProvider {
    client: TencentClient,
    sdkappid: u64,
    secret_key: SecretString,
    usersig_ttl: Duration,
    callback_token: SecretString,
    callback_window: Duration,
}

impl TencentProvider {
    pub fn new(cfg: TencentConfig) -> Result<Self, TencentError> {
        Ok(Self {
            client: TencentClient::new(&cfg)?,
            sdkappid: cfg.sdkappid,
            secret_key: cfg.secret_key.clone(),
            usersig_ttl: cfg.usersig_ttl,
            callback_token: cfg.callback_token.clone(),
            callback_window: cfg.callback_window,
        })
    }

    /// The typed client, for calls the trait does not cover (tests, tools).
    pub fn client(&self) -> &TencentClient {
        &self.client
    }
}

impl std::fmt::Debug for TencentProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TencentProvider")
            .field("sdkappid", &self.sdkappid)
            .field("usersig_ttl", &self.usersig_ttl)
            .field("callback_window", &self.callback_window)
            .finish_non_exhaustive()
    }
}

fn unix_secs(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `MsgSeq` and `MsgRandom` of one delivery item, fixed by its request id so that every retry of the
/// item is the same message to Tencent's 120 s de-duplication.
pub fn msg_seq_random(request_id: &str) -> (u32, u32) {
    let digest = Sha256::digest(request_id.as_bytes());
    let word = |i: usize| u32::from_be_bytes([digest[i], digest[i + 1], digest[i + 2], digest[i + 3]]);
    (word(0), word(4))
}

/// The `TIMCustomElem` body of a notification.
fn custom_elem(n: &Notification) -> Value {
    let mut content = serde_json::Map::new();
    content.insert("Data".into(), n.attach.clone().into());
    if let Some(desc) = &n.push_content {
        content.insert("Desc".into(), desc.clone().into());
    }
    if let Some(ext) = &n.payload {
        content.insert("Ext".into(), ext.clone().into());
    }
    if let Some(sound) = &n.sound {
        content.insert("Sound".into(), sound.clone().into());
    }
    json!([{ "MsgType": "TIMCustomElem", "MsgContent": content }])
}

/// Whether a failed single send means "this recipient does not exist at Tencent".
fn is_unknown_account(e: &TencentError) -> bool {
    matches!(e.code(), Some(codes::RECIPIENT_NOT_FOUND | codes::NOT_IMPORTED))
}

#[async_trait]
impl ImProvider for TencentProvider {
    fn name(&self) -> &'static str {
        "tencent"
    }

    fn normalize_account(&self, account: &str) -> Result<String, InvalidField> {
        validate::normalize_user_id("account", account)
    }

    fn validate_profile(&self, profile: &Profile) -> Result<(), InvalidField> {
        validate::check_profile(profile)
    }

    fn validate_notification(&self, n: &Notification) -> Result<(), InvalidField> {
        validate::normalize_user_id("from", &n.from)?;
        match &n.target {
            Target::Users(users) => {
                imbridge_provider::check_recipients(users, validate::BATCH_RECIPIENTS_MAX, validate::normalize_user_id)?
            }
            // Validation cannot answer "unsupported"; the send does (501 for the API).
            Target::Team(_) => {}
        }
        if let Some(payload) = &n.payload {
            if serde_json::from_str::<Value>(payload).is_err() {
                return Err(InvalidField::new("payload", "must be JSON text"));
            }
        }
        let size = custom_elem(n).to_string().len();
        if size > validate::MSG_BODY_MAX {
            let reason =
                format!("attach, push_content, payload and sound together: at most {} bytes", validate::MSG_BODY_MAX);
            return Err(InvalidField::new("attach", reason));
        }
        Ok(())
    }

    fn stores_credentials(&self) -> bool {
        false
    }

    /// A UserSig for `accid`, valid for the configured TTL from now.
    fn new_credential(&self, accid: &str) -> Credential {
        let now = SystemTime::now();
        let ttl = self.usersig_ttl.as_secs().max(1);
        let token = usersig::generate(self.secret_key.expose_secret(), self.sdkappid, accid, unix_secs(now), ttl);
        let expires_at = UNIX_EPOCH + Duration::from_secs(unix_secs(now) + ttl);
        Credential { token, expires_at: Some(expires_at) }
    }

    /// `account_import` is idempotent, so there is no way (short of an extra `account_check`) to tell
    /// a new account from an existing one; either way every UserSig we sign for it logs in, so the
    /// outcome is always [`EnsureOutcome::Created`].
    async fn ensure_account(
        &self,
        accid: &str,
        profile: &Profile,
        _credential: &Credential,
        _request_id: &str,
    ) -> Result<EnsureOutcome, ProviderError> {
        let accid = validate::normalize_user_id("accid", accid).map_err(ProviderError::Invalid)?;
        let items = validate::profile_items(profile).map_err(ProviderError::Invalid)?;
        self.client.account_import(&accid, profile.name.as_deref(), profile.icon.as_deref()).await?;
        let rest: Vec<_> = items
            .into_iter()
            .filter(|(tag, _)| !matches!(*tag, "Tag_Profile_IM_Nick" | "Tag_Profile_IM_Image"))
            .collect();
        if !rest.is_empty() {
            self.client.portrait_set(&accid, &rest).await?;
        }
        Ok(EnsureOutcome::Created)
    }

    async fn update_profile(&self, accid: &str, profile: &Profile, _request_id: &str) -> Result<(), ProviderError> {
        let accid = validate::normalize_user_id("accid", accid).map_err(ProviderError::Invalid)?;
        let items = validate::profile_items(profile).map_err(ProviderError::Invalid)?;
        if items.is_empty() {
            return Ok(());
        }
        Ok(self.client.portrait_set(&accid, &items).await?)
    }

    async fn set_blocked(&self, _accid: &str, _blocked: bool, _request_id: &str) -> Result<(), ProviderError> {
        Err(ProviderError::Unsupported("blocking an account"))
    }

    fn supports_friendship(&self) -> bool {
        true
    }

    /// `friend_add` on both sides, forced (`ForceAddFlags` 1: no consent step).
    async fn add_friend(&self, accid: &str, faccid: &str, _request_id: &str) -> Result<(), ProviderError> {
        Ok(self.client.friend_add_both(accid, faccid).await?)
    }

    async fn delete_friend(&self, accid: &str, faccid: &str, _request_id: &str) -> Result<(), ProviderError> {
        Ok(self.client.friend_delete_both(accid, faccid).await?)
    }

    fn supports_team_notifications(&self) -> bool {
        false
    }

    fn max_batch_recipients(&self) -> usize {
        validate::BATCH_RECIPIENTS_MAX
    }

    async fn send_notification(&self, n: &Notification, request_id: &str) -> Result<SendOutcome, ProviderError> {
        self.validate_notification(n).map_err(ProviderError::Invalid)?;
        let users = match &n.target {
            Target::Users(users) => users,
            Target::Team(_) => return Err(ProviderError::Unsupported("team notifications")),
        };
        let (msg_seq, msg_random) = msg_seq_random(request_id);
        let msg = SendMsg {
            from: Some(n.from.clone()),
            to: users[0].clone(),
            msg_seq,
            msg_random,
            body: custom_elem(n),
            cloud_custom_data: Some(callback::notification_cloud_data(None)),
            no_unread: true,
            no_last_msg: true,
            forbid_after_callback: false,
            online_only: n.online_only,
            offline_push_desc: n.push_content.clone(),
            sync_other_machine: 2,
        };
        if users.len() == 1 {
            return match self.client.send_msg(&msg).await {
                Ok(_) => Ok(SendOutcome::default()),
                // 20003 names no side: only an unknown *recipient* is `unregistered`; an unknown
                // sender is the request's own fault and fails it.
                Err(e) if is_unknown_account(&e) => match self.client.account_check(&[users[0].as_str()]).await {
                    Ok(found) if found.iter().all(|(_, imported)| !imported) => {
                        Ok(SendOutcome { unregistered: users.clone(), ..SendOutcome::default() })
                    }
                    Ok(_) => Err(e.into()),
                    Err(check) => Err(check.into()),
                },
                Err(e) => Err(e.into()),
            };
        }
        let sent = self.client.batch_send_msg(&msg, users).await?;
        let unregistered = sent.failed.into_iter().map(|(to, _code)| to).collect();
        Ok(SendOutcome { unregistered, ..SendOutcome::default() })
    }

    fn can_mark_read(&self, _position: &ReadPosition) -> bool {
        true
    }

    /// `admin_set_msg_read` with `MsgReadTime` = the second of the newest message read (Tencent's
    /// read time is in seconds).
    async fn mark_read(
        &self,
        reader: &str,
        peer: &str,
        position: &ReadPosition,
        _request_id: &str,
    ) -> Result<SendOutcome, ProviderError> {
        let secs = u64::try_from(position.sent_at_ms.div_euclid(1000)).ok();
        self.client.admin_set_msg_read(reader, peer, secs).await?;
        Ok(SendOutcome::default())
    }

    /// `account_check` of the admin account: answers only with a valid admin UserSig.
    async fn ping(&self) -> Result<(), ProviderError> {
        let admin = self.client.admin().to_owned();
        self.client.account_check(&[admin.as_str()]).await?;
        Ok(())
    }

    fn verify_callback(&self, request: &CallbackRequest, now: SystemTime) -> Result<(), VerifyFailure> {
        callback::verify(request, self.sdkappid, self.callback_token.expose_secret(), now, self.callback_window)
    }

    fn parse_callback(&self, path_and_query: &str, body: &[u8]) -> Result<ParsedCallback, ParseError> {
        callback::parse_with_query(path_and_query, body)
    }

    fn callback_ack(&self) -> Ack {
        callback::ack()
    }

    fn callback_doc(&self) -> CallbackDoc {
        let field =
            |name, required, description| SignatureField { name, location: FieldIn::Query, required, description };
        CallbackDoc {
            summary: "Receive a Tencent IM callback (第三方回调)",
            description: "Set this URL in the Tencent IM console with callback authentication on. Verified over the \
query string (the body is not signed): `Sign` = lowercase hex sha256(callback token + `RequestTime`), compared in \
constant time, `RequestTime` within 60 s of now, `SdkAppid` ours. Stored: `C2C.CallbackAfterSendMsg` (on `MsgKey`, \
idempotent), `C2C.CallbackAfterMsgReport`, `C2C.CallbackAfterMsgWithDraw`, `State.StateChange`; anything else is kept \
raw. Acknowledged with `{\"ActionStatus\":\"OK\",\"ErrorCode\":0,\"ErrorInfo\":\"\"}` only once stored durably. \
Tencent does not redeliver: import gaps with `/v1/backfill`. The path is `callbacks.path`.",
            signature: vec![
                field("SdkAppid", true, "The app's SDKAppID"),
                field("CallbackCommand", false, "e.g. `C2C.CallbackAfterSendMsg` (also in the body)"),
                field("Sign", true, "sha256(callback token + RequestTime), lowercase hex"),
                field("RequestTime", true, "When Tencent sent it, unix seconds"),
                field("OptPlatform", false, "The client platform (`iOS`, `Android`, `Web`, `RESTAPI`, ...)"),
            ],
            example: json!({"CallbackCommand": "C2C.CallbackAfterSendMsg", "From_Account": "shop_1",
                "To_Account": "buyer_01", "MsgSeq": 48374, "MsgRandom": 2837546, "MsgTime": 1764547200,
                "MsgKey": "48374_2837546_1764547200", "SendMsgResult": 0, "UnreadMsgNum": 1,
                "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hello"}}]}),
        }
    }

    fn message_content(&self, document: &Value) -> MessageContent {
        message_content(document)
    }

    /// `admin_getroammsg` pages (newest first, ~13 KB each) until the window is exhausted, then the
    /// oldest `limit` of them. Tencent's times are whole seconds, so the window is widened to whole
    /// seconds for the query and cut back to `[from_ms, to_ms]` on the converted times. Recalled
    /// messages are left out, as NetEase's history does.
    async fn session_history(
        &self,
        accid: &str,
        peer: &str,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> Result<Vec<MessageEvent>, ProviderError> {
        let accid = validate::normalize_user_id("accid", accid).map_err(ProviderError::Invalid)?;
        let peer = validate::normalize_user_id("peer", peer).map_err(ProviderError::Invalid)?;
        if !(1..=validate::HISTORY_LIMIT_MAX).contains(&limit) {
            let reason = format!("must be 1 to {}", validate::HISTORY_LIMIT_MAX);
            return Err(ProviderError::Invalid(InvalidField::new("limit", reason)));
        }
        if from_ms < 0 || to_ms <= from_ms {
            return Err(ProviderError::Invalid(InvalidField::new("from", "the window must be forward in time")));
        }
        let mut query = RoamQuery {
            operator: accid.clone(),
            peer: peer.clone(),
            max_cnt: validate::HISTORY_LIMIT_MAX,
            min_time: (from_ms / 1000) as u64,
            max_time: (to_ms / 1000) as u64,
            last_msg_key: None,
        };
        let mut events = Vec::new();
        for _ in 0..HISTORY_PAGES_MAX {
            let page = self.client.admin_get_roam_msg(&query).await?;
            for msg in page.msgs.iter().filter(|m| !m.recalled) {
                let document = json!({
                    "CallbackCommand": "C2C.CallbackAfterSendMsg",
                    "From_Account": msg.from, "To_Account": msg.to,
                    "MsgSeq": msg.msg_seq, "MsgRandom": msg.msg_random, "MsgTime": msg.msg_time,
                    "MsgKey": msg.msg_key, "SendMsgResult": 0, "MsgBody": msg.body,
                    "CloudCustomData": msg.cloud_custom_data.clone().unwrap_or_default(),
                    "backfilled": true,
                });
                let parsed = callback::parse(document.to_string().as_bytes())
                    .map_err(|e| ProviderError::Unavailable(format!("tencent history: {}", e.0)))?;
                for event in parsed.events {
                    if let Event::Message(m) = event {
                        if (from_ms..=to_ms).contains(&m.sent_at_ms) {
                            events.push(m);
                        }
                    }
                }
            }
            if page.complete || page.msgs.is_empty() {
                break;
            }
            query.max_time = page.last_msg_time;
            query.last_msg_key = page.last_msg_key.clone();
        }
        events.sort_by(|a, b| (a.sent_at_ms, &a.key).cmp(&(b.sent_at_ms, &b.key)));
        events.dedup_by(|a, b| a.key == b.key);
        events.truncate(limit as usize);
        Ok(events)
    }
}

/// The API's message type for a Tencent element type (the vocabulary the API has always used).
fn kind_of(elem_type: &str) -> String {
    match elem_type {
        "TIMTextElem" => "TEXT",
        "TIMImageElem" => "PICTURE",
        "TIMSoundElem" => "AUDIO",
        "TIMVideoFileElem" => "VIDEO",
        "TIMLocationElem" => "LOCATION",
        "TIMFileElem" => "FILE",
        "TIMCustomElem" => "CUSTOM",
        other => other,
    }
    .to_owned()
}

/// A `C2C.CallbackAfterSendMsg` document shown like the API shows any message: the first element's
/// type; a text message's text as `body` (all its text elements joined), else the `MsgBody` array;
/// a custom element's `Data` as `attach`; `CloudCustomData` as `ext`. Tencent has no client-side id.
pub fn message_content(d: &Value) -> MessageContent {
    let elems = d.get("MsgBody").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let elem_type = |e: &Value| e.get("MsgType").and_then(Value::as_str).unwrap_or_default().to_owned();
    let kind = elems.first().map(|e| kind_of(&elem_type(e)));
    let texts: Vec<&str> = elems
        .iter()
        .filter(|e| elem_type(e) == "TIMTextElem")
        .filter_map(|e| e.pointer("/MsgContent/Text").and_then(Value::as_str))
        .collect();
    let body = if !texts.is_empty() && texts.len() == elems.len() {
        Value::String(texts.concat())
    } else {
        d.get("MsgBody").cloned().unwrap_or(Value::Null)
    };
    let attach = elems
        .iter()
        .find(|e| elem_type(e) == "TIMCustomElem")
        .and_then(|e| e.pointer("/MsgContent/Data"))
        .cloned()
        .unwrap_or(Value::Null);
    let ext = match d.get("CloudCustomData") {
        Some(Value::String(s)) if s.is_empty() => Value::Null,
        Some(v) => v.clone(),
        None => Value::Null,
    };
    MessageContent { kind, body, attach, ext, client_id: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_show_like_any_provider_s() {
        let text = json!({"MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi "}},
            {"MsgType": "TIMTextElem", "MsgContent": {"Text": "there"}}], "CloudCustomData": ""});
        let shown = message_content(&text);
        assert_eq!((shown.kind.as_deref(), shown.body, shown.ext), (Some("TEXT"), json!("hi there"), Value::Null));
        let custom = json!({"MsgBody": [{"MsgType": "TIMCustomElem", "MsgContent": {"Data": "{\"o\":1}", "Desc": "d"}}],
            "CloudCustomData": "{\"imbridge\":\"notification\"}"});
        let shown = message_content(&custom);
        assert_eq!(shown.kind.as_deref(), Some("CUSTOM"));
        assert_eq!(shown.attach, json!("{\"o\":1}"));
        assert_eq!(shown.body, custom["MsgBody"]);
        assert_eq!(message_content(&json!({})), MessageContent::default());
    }

    #[test]
    fn a_delivery_item_keeps_its_msg_seq_and_random() {
        assert_eq!(msg_seq_random("item-1:attempt"), msg_seq_random("item-1:attempt"));
        assert_ne!(msg_seq_random("item-1"), msg_seq_random("item-2"));
    }
}

//! [`ImProvider`] for NetEase: the service's only way to reach NetEase.

use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use imbridge_provider::{
    Ack, CallbackDoc, CallbackRequest, Credential, EnsureOutcome, FieldIn, ImProvider, InvalidField, MessageContent,
    Notification, ParseError, ParsedCallback, Profile, ProviderError, ReadPosition, SendOutcome, SignatureField,
    Target, VerifyFailure,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::callback::ParseOptions;
use crate::client::friend::{AddFriend, FriendAddType};
use crate::client::limits::ApiClass;
use crate::client::msg::{AttachMsg, AttachOption, BatchAttachMsg, Conv, Delivery, Save};
use crate::client::recall::MarkRead;
use crate::client::user::CreateUser;
use crate::client::NeteaseClient;
use crate::config::NeteaseConfig;
use crate::error::{codes, NeteaseError};
use crate::{callback, validate};

/// The accid [`NeteaseProvider::ping`] asks about. It need not exist.
const PING_ACCID: &str = "imbridge_ping";

pub struct NeteaseProvider {
    client: NeteaseClient,
    app_key: String,
    app_secret: SecretString,
    callback_window: Duration,
    parse: ParseOptions,
}

impl NeteaseProvider {
    pub fn new(cfg: NeteaseConfig) -> Result<Self, NeteaseError> {
        let app_key = cfg.app_key.clone();
        let app_secret = cfg.app_secret.clone();
        let (callback_window, parse) = (cfg.callback_window, cfg.parse);
        Ok(Self { client: NeteaseClient::new(cfg)?, app_key, app_secret, callback_window, parse })
    }

    /// The typed client, for calls the trait does not cover (tests, tools).
    pub fn client(&self) -> &NeteaseClient {
        &self.client
    }
}

impl std::fmt::Debug for NeteaseProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NeteaseProvider")
            .field("base_url", &self.client.base_url())
            .field("app_key", &self.app_key)
            .field("callback_window", &self.callback_window)
            .finish_non_exhaustive()
    }
}

/// How the service should treat a NetEase failure.
impl From<NeteaseError> for ProviderError {
    fn from(e: NeteaseError) -> Self {
        match e {
            NeteaseError::Invalid(field) => ProviderError::Invalid(field),
            NeteaseError::Blocked { until, code } => {
                ProviderError::RateLimited { retry_after: until.saturating_duration_since(Instant::now()), code }
            }
            // The client turns 416 into Blocked; this covers an Api 416 built elsewhere.
            NeteaseError::Api { code: codes::FREQUENCY, .. } => {
                ProviderError::RateLimited { retry_after: ApiClass::PerSecond.block_period(), code: codes::FREQUENCY }
            }
            NeteaseError::Api {
                code: codes::TIMEOUT | codes::SERVER_ERROR | codes::BUSY | codes::UNAVAILABLE,
                desc,
            } => ProviderError::Unavailable(format!("netease busy: {desc}")),
            NeteaseError::Api { code, desc } => ProviderError::Rejected { code, desc },
            NeteaseError::Http { status, body } if status >= 500 => ProviderError::Unavailable(format!(
                "netease http {status}: {}",
                body.chars().take(200).collect::<String>()
            )),
            // A 4xx from something in front of NetEase (a proxy, a wrong base URL): not transient.
            NeteaseError::Http { status, body } => ProviderError::Rejected {
                code: i64::from(status),
                desc: format!("http {status}: {}", body.chars().take(200).collect::<String>()),
            },
            e @ (NeteaseError::Timeout | NeteaseError::Transport(_) | NeteaseError::Decode(_)) => {
                ProviderError::Unavailable(e.to_string())
            }
        }
    }
}

/// A request id for a second step of one logical operation: stable across retries, distinct from
/// the first step's (NetEase would answer 431 to a reused one).
fn step_id(request_id: &str, step: &str) -> String {
    let mut id = format!("{request_id}:{step}");
    id.truncate(validate::REQUEST_ID_MAX);
    id
}

fn delivery(n: &Notification) -> Delivery {
    Delivery {
        pushcontent: n.push_content.clone(),
        payload: n.payload.clone(),
        sound: n.sound.clone(),
        save: if n.online_only { Save::OnlineOnly } else { Save::Offline },
        option: Some(AttachOption { badge: n.badge, route: n.route }),
    }
}

#[async_trait]
impl ImProvider for NeteaseProvider {
    fn name(&self) -> &'static str {
        "netease"
    }

    fn normalize_account(&self, account: &str) -> Result<String, InvalidField> {
        validate::normalize_accid("account", account)
    }

    fn validate_profile(&self, profile: &Profile) -> Result<(), InvalidField> {
        validate::check_profile(profile)
    }

    fn validate_notification(&self, n: &Notification) -> Result<(), InvalidField> {
        validate::normalize_accid("from", &n.from)?;
        match &n.target {
            Target::Users(users) => {
                imbridge_provider::check_recipients(users, validate::BATCH_RECIPIENTS_MAX, validate::normalize_accid)?
            }
            Target::Team(tid) => validate::check_team_id("team", tid)?,
        }
        validate::check_len("attach", &n.attach, validate::ATTACH_MAX)?;
        validate::check_opt_len("push_content", n.push_content.as_deref(), validate::PUSHCONTENT_MAX)?;
        if let Some(payload) = &n.payload {
            validate::check_json("payload", payload, validate::PAYLOAD_MAX)?;
        }
        validate::check_opt_len("sound", n.sound.as_deref(), validate::SOUND_MAX)
    }

    fn stores_credentials(&self) -> bool {
        true
    }

    /// A random UUID v4 (32 hex digits): well under NetEase's 128-character token limit.
    fn new_credential(&self, _accid: &str) -> Credential {
        Credential { token: uuid::Uuid::new_v4().simple().to_string(), expires_at: None }
    }

    /// `user/create` with our token. When NetEase answers "already register" (the account was
    /// created outside this bridge, or by an earlier attempt whose answer was lost), `user/update`
    /// sets OUR token instead and the outcome is [`EnsureOutcome::Recovered`]: from then on only our
    /// token logs in, so sessions that logged in with an older token cannot log in again.
    async fn ensure_account(
        &self,
        accid: &str,
        profile: &Profile,
        credential: &Credential,
        request_id: &str,
    ) -> Result<EnsureOutcome, ProviderError> {
        let req =
            CreateUser { accid: accid.to_owned(), token: Some(credential.token.clone()), profile: profile.clone() };
        match self.client.create_user(&req, Some(request_id)).await {
            Ok(_) => Ok(EnsureOutcome::Created),
            Err(e) if e.is_already_registered() => {
                let update_id = step_id(request_id, "token");
                match self.client.update_token(accid, &credential.token, Some(&update_id)).await {
                    // 431: this very update was applied by an earlier attempt.
                    Ok(()) | Err(NeteaseError::Api { code: codes::REPEATED_REQUEST, .. }) => {
                        Ok(EnsureOutcome::Recovered)
                    }
                    Err(e) => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// `user/updateUinfo`; a profile with no field set makes no call.
    async fn update_profile(&self, accid: &str, profile: &Profile, request_id: &str) -> Result<(), ProviderError> {
        if *profile == Profile::default() {
            validate::normalize_accid("accid", accid).map_err(ProviderError::Invalid)?;
            return Ok(());
        }
        Ok(self.client.update_uinfo(accid, profile, Some(request_id)).await?)
    }

    /// Blocking also kicks the account's logged-in devices (`needkick=true`).
    async fn set_blocked(&self, accid: &str, blocked: bool, request_id: &str) -> Result<(), ProviderError> {
        if blocked {
            Ok(self.client.block_user(accid, true, Some(request_id)).await?)
        } else {
            Ok(self.client.unblock_user(accid, Some(request_id)).await?)
        }
    }

    fn supports_friendship(&self) -> bool {
        true
    }

    /// `friend/add` type 1: friends at once, no request. A repeat of the same request id (431) is
    /// an earlier attempt whose answer was lost: done.
    async fn add_friend(&self, accid: &str, faccid: &str, request_id: &str) -> Result<(), ProviderError> {
        let request = AddFriend::new(accid, faccid, FriendAddType::Direct);
        match self.client.add_friend(&request, Some(request_id)).await {
            Ok(()) | Err(NeteaseError::Api { code: codes::REPEATED_REQUEST, .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Keeps the alias `accid` gave `faccid` (NetEase's default), so a renewed friendship shows it.
    async fn delete_friend(&self, accid: &str, faccid: &str, request_id: &str) -> Result<(), ProviderError> {
        Ok(self.client.delete_friend(accid, faccid, false, Some(request_id)).await?)
    }

    fn max_batch_recipients(&self) -> usize {
        validate::BATCH_RECIPIENTS_MAX
    }

    async fn send_notification(&self, n: &Notification, request_id: &str) -> Result<SendOutcome, ProviderError> {
        self.validate_notification(n).map_err(ProviderError::Invalid)?;
        let sent = match &n.target {
            Target::Users(users) if users.len() == 1 => {
                let msg = AttachMsg {
                    from: n.from.clone(),
                    msgtype: Conv::P2p,
                    to: users[0].clone(),
                    attach: n.attach.clone(),
                    delivery: delivery(n),
                };
                self.client.send_attach_msg(&msg, Some(request_id)).await.map(|()| Vec::new())
            }
            Target::Users(users) => {
                let msg = BatchAttachMsg {
                    from_accid: n.from.clone(),
                    to_accids: users.clone(),
                    attach: n.attach.clone(),
                    delivery: delivery(n),
                };
                self.client.send_batch_attach_msg(&msg, Some(request_id)).await.map(|b| b.unregister)
            }
            Target::Team(tid) => {
                let msg = AttachMsg {
                    from: n.from.clone(),
                    msgtype: Conv::Team,
                    to: tid.clone(),
                    attach: n.attach.clone(),
                    delivery: delivery(n),
                };
                self.client.send_attach_msg(&msg, Some(request_id)).await.map(|()| Vec::new())
            }
        };
        match sent {
            Ok(unregistered) => Ok(SendOutcome { unregistered, duplicate: false, code: codes::OK }),
            // An earlier attempt with this request id got through; its answer was lost.
            Err(NeteaseError::Api { code: codes::REPEATED_REQUEST, .. }) => {
                Ok(SendOutcome { unregistered: Vec::new(), duplicate: true, code: codes::REPEATED_REQUEST })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// `msg/markReadMsg`: the reader's read receipt, which NetEase delivers to both sides (and copies
    /// to the callback as eventType 30). A repeat of the same request id is 431: already done.
    /// NetEase names the message by its client id.
    fn can_mark_read(&self, position: &ReadPosition) -> bool {
        position.msgid_client.is_some()
    }

    async fn mark_read(
        &self,
        reader: &str,
        peer: &str,
        position: &ReadPosition,
        request_id: &str,
    ) -> Result<SendOutcome, ProviderError> {
        let Some(msgid_client) = position.msgid_client.clone() else {
            return Err(ProviderError::Invalid(InvalidField::new(
                "msgid_client",
                "NetEase needs the message's client id",
            )));
        };
        let request = MarkRead { from: reader.to_owned(), to: peer.to_owned(), msgid_client };
        match self.client.mark_read_msg(&request, Some(request_id)).await {
            Ok(()) => Ok(SendOutcome { unregistered: Vec::new(), duplicate: false, code: codes::OK }),
            Err(NeteaseError::Api { code: codes::REPEATED_REQUEST, .. }) => {
                Ok(SendOutcome { unregistered: Vec::new(), duplicate: true, code: codes::REPEATED_REQUEST })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// `user/getUinfos` for one accid that need not exist. NetEase checks AppKey and CheckSum
    /// before anything else, so an answer with code 200 (the account's info, or none) proves both
    /// reachability and valid credentials; so does 404 (not found), which only an authenticated
    /// request gets that far to earn. 414 fails the ping: NetEase uses it for bad signatures too.
    async fn ping(&self) -> Result<(), ProviderError> {
        match self.client.get_uinfos(&[PING_ACCID.to_owned()], None).await {
            Ok(_) | Err(NeteaseError::Api { code: 404, .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn verify_callback(&self, request: &CallbackRequest, now: SystemTime) -> Result<(), VerifyFailure> {
        callback::verify(request, &self.app_key, self.app_secret.expose_secret(), now, self.callback_window)
    }

    fn parse_callback(&self, _path_and_query: &str, body: &[u8]) -> Result<ParsedCallback, ParseError> {
        callback::parse_with(body, self.parse)
    }

    fn callback_ack(&self) -> Ack {
        Ack { content_type: "application/json", body: r#"{"code":200}"# }
    }

    fn callback_doc(&self) -> CallbackDoc {
        let field =
            |name, required, description| SignatureField { name, location: FieldIn::Header, required, description };
        CallbackDoc {
            summary: "Receive a NetEase callback (消息抄送)",
            description:
                "Set this URL in the NetEase console. Verified over the raw body before it is parsed: `MD5` = \
md5(body), `CheckSum` = sha1(AppSecret + MD5 + CurTime), compared in constant time, header names in any case, \
`CurTime` within `callbacks.window_secs` (default 300 s) of now. Acknowledged with `{\"code\":200}` only once \
stored durably; writes are idempotent, so redeliveries are harmless. The path is `callbacks.path`.",
            signature: vec![
                field("MD5", true, "md5 of the raw body, hex"),
                field("CurTime", true, "When NetEase sent it, milliseconds since the Unix epoch"),
                field("CheckSum", true, "sha1(AppSecret + MD5 + CurTime), hex"),
                field("AppKey", false, "The app key; compared when present"),
            ],
            example: serde_json::json!({"eventType": "1", "convType": "PERSON", "fromAccount": "shop_1", "to": "buyer_01",
                "msgType": "TEXT", "body": "hello", "msgTimestamp": "1441977355557", "msgidServer": "3456789",
                "msgidClient": "1234567"}),
        }
    }

    /// The eventType 1 document's own fields, which history imports share.
    fn message_content(&self, d: &Value) -> MessageContent {
        let field = |name: &str| d.get(name).cloned().unwrap_or(Value::Null);
        MessageContent {
            kind: d.get("msgType").and_then(Value::as_str).map(str::to_owned),
            body: field("body"),
            attach: field("attach"),
            ext: field("ext"),
            client_id: d.get("msgidClient").and_then(Value::as_str).map(str::to_owned),
        }
    }

    /// `history/querySessionMsg` oldest first (`reverse=1`), each entry converted by
    /// [`crate::history::message_event`]. An entry that cannot be converted (no `sendtime`, a sender
    /// outside the session) fails the call as a decode failure would: nothing is half-imported.
    async fn session_history(
        &self,
        accid: &str,
        peer: &str,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> Result<Vec<imbridge_provider::MessageEvent>, ProviderError> {
        use crate::client::history::{HistoryOrder, QuerySessionMsg};
        let accid = validate::normalize_accid("accid", accid).map_err(ProviderError::Invalid)?;
        let peer = validate::normalize_accid("peer", peer).map_err(ProviderError::Invalid)?;
        let query = QuerySessionMsg {
            order: HistoryOrder::OldestFirst,
            ..QuerySessionMsg::new(accid.clone(), peer.clone(), from_ms, to_ms, limit)
        };
        let history = self.client.query_session_msg(&query, None).await?;
        history
            .msgs
            .iter()
            .map(|msg| crate::history::message_event(msg, &accid, &peer))
            .collect::<Result<_, _>>()
            .map_err(|e| ProviderError::Unavailable(format!("netease history: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_what_the_service_does_next() {
        let api = |code: i64| NeteaseError::Api { code, desc: "d".into() };
        for code in [408, 500, 503, 514] {
            assert!(matches!(ProviderError::from(api(code)), ProviderError::Unavailable(_)), "{code}");
        }
        for code in [302, 403, 404, 414, 417, 419, 422, 431] {
            assert!(matches!(ProviderError::from(api(code)), ProviderError::Rejected { code: c, .. } if c == code));
        }
        assert!(matches!(ProviderError::from(api(416)), ProviderError::RateLimited { code: 416, .. }));
        let until = Instant::now() + Duration::from_secs(60);
        let ProviderError::RateLimited { retry_after, code } = NeteaseError::Blocked { until, code: 416 }.into() else {
            panic!("Blocked maps to RateLimited")
        };
        assert_eq!(code, 416);
        assert!(retry_after > Duration::from_secs(58) && retry_after <= Duration::from_secs(60));
        assert!(matches!(ProviderError::from(NeteaseError::Timeout), ProviderError::Unavailable(_)));
        assert!(matches!(ProviderError::from(NeteaseError::Transport("x".into())), ProviderError::Unavailable(_)));
        assert!(matches!(ProviderError::from(NeteaseError::Decode("x".into())), ProviderError::Unavailable(_)));
        let http = |status| NeteaseError::Http { status, body: "<html>".into() };
        assert!(matches!(ProviderError::from(http(502)), ProviderError::Unavailable(_)));
        assert!(matches!(ProviderError::from(http(404)), ProviderError::Rejected { code: 404, .. }));
        let invalid = NeteaseError::Invalid(InvalidField::new("name", "too long"));
        assert!(matches!(ProviderError::from(invalid), ProviderError::Invalid(f) if f.field == "name"));
    }

    #[test]
    fn step_ids_are_distinct_and_bounded() {
        assert_eq!(step_id("op1", "token"), "op1:token");
        assert_eq!(step_id(&"r".repeat(128), "token").len(), validate::REQUEST_ID_MAX);
    }
}

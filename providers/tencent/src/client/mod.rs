//! A typed client of Tencent IM's server REST API (`/v4/{service}/{command}`, shared/providers/tencent.md §1).
//!
//! One [`TencentClient`] per app: one `reqwest::Client` with connect and request timeouts, one
//! client-side quota shared by every clone, and one cached admin UserSig. Every call is
//! `POST {base}/v4/{endpoint}?sdkappid&identifier=<admin>&usersig&random&contenttype=json` with a
//! JSON body; Tencent answers HTTP 200 with `{"ActionStatus","ErrorCode","ErrorInfo"}` and only
//! that envelope says whether the call worked. Inputs are validated against Tencent's limits
//! before anything is sent. Endpoints live in one file per area: [`account`] (accounts, profile,
//! online status), [`friend`], [`msg`] (sending, unread, read, recall), [`history`] (roaming
//! messages).

pub mod account;
pub mod friend;
pub mod history;
mod lenient;
pub mod msg;
mod sig;
pub mod validate;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use imbridge_provider::quota::SlidingWindow;
use imbridge_provider::InvalidField;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::config::TencentConfig;
use crate::error::{codes, TencentError};

pub use history::{RoamMsg, RoamPage, RoamQuery};
pub use msg::{BatchSent, C2cUnread, SendMsg, SentMsg};

/// How much of an unexpected (non-200) HTTP body an error keeps.
const HTTP_BODY_KEPT: usize = 2048;

/// Tencent's quota for `account_check` and `multiaccount_import` (tencent.md §1).
const ACCOUNT_CHECK_PER_SECOND: u32 = 100;
/// Tencent's quota for `batchsendmsg`, counted in messages (recipients), per minute.
const BATCH_MESSAGES_PER_MINUTE: u32 = 12_000;

/// A Tencent IM server API client. Cheap to clone; clones share the connection pool, the quotas
/// and the cached admin UserSig.
#[derive(Clone)]
pub struct TencentClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: String,
    sdkappid: u64,
    admin: String,
    secret_key: SecretString,
    /// Every command.
    quota: SlidingWindow,
    /// `account_check` and `multiaccount_import`, on top of `quota`.
    account_check_quota: SlidingWindow,
    /// `batchsendmsg` messages (one slot per recipient), on top of `quota`.
    batch_messages: SlidingWindow,
    /// Held while one batch takes its recipients' slots, so two batches cannot each hold part of
    /// the window and wait for each other.
    batch_turn: tokio::sync::Mutex<()>,
    admin_sig: sig::AdminSig,
}

impl std::fmt::Debug for TencentClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TencentClient")
            .field("base_url", &self.inner.base_url)
            .field("sdkappid", &self.inner.sdkappid)
            .field("admin", &self.inner.admin)
            .finish_non_exhaustive()
    }
}

impl TencentClient {
    pub fn new(config: &TencentConfig) -> Result<Self, TencentError> {
        let base_url = config.base_url.trim_end_matches('/').to_owned();
        reqwest::Url::parse(&base_url).map_err(|e| InvalidField::new("base_url", e.to_string()))?;
        if config.sdkappid == 0 {
            return Err(InvalidField::new("sdkappid", "must not be 0").into());
        }
        if config.secret_key.expose_secret().is_empty() {
            return Err(InvalidField::new("secret_key", "must not be empty").into());
        }
        validate::user_id("admin", &config.admin)?;
        if config.rate_per_second == 0 {
            return Err(InvalidField::new("rate_per_second", "must be at least 1").into());
        }
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(concat!("imbridge-tencent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TencentError::Transport(imbridge_provider::error_chain(&e)))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base_url,
                sdkappid: config.sdkappid,
                admin: config.admin.clone(),
                secret_key: config.secret_key.clone(),
                quota: SlidingWindow::new(config.rate_per_second, Duration::from_secs(1)),
                account_check_quota: SlidingWindow::new(
                    ACCOUNT_CHECK_PER_SECOND.min(config.rate_per_second),
                    Duration::from_secs(1),
                ),
                batch_messages: SlidingWindow::new(BATCH_MESSAGES_PER_MINUTE, Duration::from_secs(60)),
                batch_turn: tokio::sync::Mutex::new(()),
                admin_sig: sig::AdminSig::new(sig::ADMIN_USERSIG_TTL),
            }),
        })
    }

    pub fn sdkappid(&self) -> u64 {
        self.inner.sdkappid
    }

    pub fn admin(&self) -> &str {
        &self.inner.admin
    }

    /// The base URL without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The admin's UserSig for a call made at `now` (unix seconds): cached, renewed when less than
    /// a tenth of its lifetime is left.
    fn admin_usersig_at(&self, now: u64) -> String {
        let inner = &self.inner;
        inner.admin_sig.get(now, |time, expire| {
            crate::usersig::generate(inner.secret_key.expose_secret(), inner.sdkappid, &inner.admin, time, expire)
        })
    }

    /// Generic call: `POST {base}/v4/{endpoint}` with the admin's credentials in the query string.
    /// Returns the whole reply object when `ActionStatus` is `OK` and `ErrorCode` is 0. Waits for
    /// the client-side quota first; logs the endpoint, ErrorCode and RequestId of a failure.
    pub async fn call(&self, endpoint: &str, body: &Value) -> Result<Value, TencentError> {
        validate::endpoint(endpoint)?;
        let _extra = if matches!(endpoint, "im_open_login_svc/account_check" | "im_open_login_svc/multiaccount_import")
        {
            Some(self.inner.account_check_quota.acquire().await)
        } else {
            None
        };
        let permit = self.inner.quota.acquire().await;
        let started = std::time::Instant::now();
        let usersig = self.admin_usersig_at(now_secs());
        let sdkappid = self.inner.sdkappid.to_string();
        let random = rand::random::<u32>().to_string();
        let query: [(&str, &str); 5] = [
            ("sdkappid", &sdkappid),
            ("identifier", &self.inner.admin),
            ("usersig", &usersig),
            ("random", &random),
            ("contenttype", "json"),
        ];
        let response = self
            .inner
            .http
            .post(format!("{}/v4/{endpoint}", self.inner.base_url))
            .query(&query)
            .json(body)
            .send()
            .await;
        let answer = match response {
            Ok(response) => {
                let status = response.status();
                response.bytes().await.map(|bytes| (status, bytes))
            }
            Err(e) => Err(e),
        };
        drop(permit);
        let outcome = match answer {
            Ok((status, bytes)) => decode(status.as_u16(), &bytes),
            Err(e) => Err(transport(e)),
        };
        record_call(endpoint, &result_label(&outcome), Some(started.elapsed()));
        match &outcome {
            Ok(_) => tracing::debug!(endpoint, "tencent call ok"),
            Err(TencentError::Api { code, info, request_id }) => {
                tracing::warn!(endpoint, error_code = code, error_info = %info, request_id = request_id.as_deref().unwrap_or(""), "tencent call failed")
            }
            Err(e) => tracing::warn!(endpoint, error = %e, "tencent call failed"),
        }
        outcome
    }
}

/// Unix seconds now.
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// `imbridge_provider_calls_total{provider,endpoint,result}` and, for calls that went out,
/// `imbridge_provider_call_duration_seconds{provider,endpoint}` — the same names and labels as the
/// NetEase client, so one dashboard serves both.
fn record_call(endpoint: &str, result: &str, took: Option<Duration>) {
    metrics::counter!("imbridge_provider_calls_total", "provider" => "tencent", "endpoint" => endpoint.to_owned(), "result" => result.to_owned())
        .increment(1);
    if let Some(took) = took {
        metrics::histogram!("imbridge_provider_call_duration_seconds", "provider" => "tencent", "endpoint" => endpoint.to_owned())
            .record(took.as_secs_f64());
    }
}

/// The `result` label: Tencent's own ErrorCode when it answered one (`0`, `60007`, `70402`…),
/// otherwise what went wrong on the way (`http_503`, `timeout`, `transport`, `decode`).
fn result_label<R>(outcome: &Result<R, TencentError>) -> String {
    match outcome {
        Ok(_) => codes::OK.to_string(),
        Err(TencentError::Api { code, .. }) => code_label(*code).to_owned(),
        Err(TencentError::Http { status, .. }) => match status {
            400..=404 | 408 | 429 | 500..=504 => format!("http_{status}"),
            _ => "http_other".to_owned(),
        },
        Err(TencentError::Timeout) => "timeout".to_owned(),
        Err(TencentError::Transport(_)) => "transport".to_owned(),
        Err(TencentError::Decode(_)) => "decode".to_owned(),
        Err(TencentError::Invalid(_)) => "invalid".to_owned(),
    }
}

/// A Tencent code as a label: the codes the client knows by number, anything else `other`, so an
/// odd answer cannot grow the metrics.
fn code_label(code: i64) -> &'static str {
    const KNOWN: [(i64, &str); 16] = [
        (codes::RATE_LIMITED, "60007"),
        (codes::TOO_FREQUENT, "60018"),
        (codes::TIMEOUT, "70169"),
        (codes::INTERNAL, "70500"),
        (codes::PARAMETER, "70402"),
        (codes::NEEDS_ADMIN, "70403"),
        (codes::NOT_IMPORTED, "70107"),
        (codes::USERSIG_EXPIRED, "70001"),
        (codes::USERSIG_ILLEGAL, "70003"),
        (codes::USERSIG_VERIFY_FAILED, "70009"),
        (codes::USERSIG_IDENTIFIER_MISMATCH, "70013"),
        (codes::USERSIG_SDKAPPID_MISMATCH, "70014"),
        (codes::RECIPIENT_NOT_FOUND, "20003"),
        (codes::SNS_PARAMETER_OR_RELATION, "30001"),
        (codes::SNS_NOT_FRIENDS, "31704"),
        (codes::OK, "0"),
    ];
    KNOWN.iter().find(|(c, _)| *c == code).map_or("other", |(_, label)| label)
}

/// Tencent answers HTTP 200 with the envelope; `ActionStatus` and `ErrorCode` decide.
fn decode(status: u16, bytes: &[u8]) -> Result<Value, TencentError> {
    if status != 200 {
        let text = String::from_utf8_lossy(bytes);
        let body: String = text.chars().take(HTTP_BODY_KEPT).collect();
        return Err(TencentError::Http { status, body });
    }
    let reply: Value = serde_json::from_slice(bytes).map_err(|e| TencentError::Decode(format!("not JSON: {e}")))?;
    if !reply.is_object() {
        return Err(TencentError::Decode("the answer is not a JSON object".into()));
    }
    let action = reply.get("ActionStatus").and_then(Value::as_str).map(str::trim);
    let code = match reply.get("ErrorCode") {
        None | Some(Value::Null) => None,
        Some(v) => Some(lenient::as_i64(v).ok_or_else(|| TencentError::Decode(format!("ErrorCode {v}")))?),
    };
    let failed = match (action, code) {
        (None, None) => return Err(TencentError::Decode("no ActionStatus nor ErrorCode in the answer".into())),
        (Some(a), _) if a.eq_ignore_ascii_case("FAIL") => true,
        (_, Some(c)) => c != codes::OK,
        (Some(_), None) => false,
    };
    if failed {
        let info = reply.get("ErrorInfo").map(lenient::text).unwrap_or_default();
        let request_id = reply.get("RequestId").map(lenient::text).filter(|s| !s.is_empty());
        // A FAIL without a code is still a refusal; -1 keeps it distinct from success.
        let code = code.filter(|c| *c != codes::OK).unwrap_or(-1);
        return Err(TencentError::Api { code, info, request_id });
    }
    Ok(reply)
}

fn transport(e: reqwest::Error) -> TencentError {
    if e.is_timeout() {
        TencentError::Timeout
    } else {
        TencentError::Transport(imbridge_provider::error_chain(&e))
    }
}

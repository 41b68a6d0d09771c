//! The typed NetEase server API client (shared/providers/netease.md §1).
//!
//! One [`NeteaseClient`] per app: one `reqwest::Client` with connect and request timeouts, one rate
//! gate per API class, shared by every clone. Each call is signed afresh (new Nonce, CurTime,
//! CheckSum) and carries a `RequestId`: the caller's when given (retries of one logical operation
//! reuse it, so NetEase de-duplicates them), a new UUID otherwise. Inputs are validated against
//! NetEase's limits before anything is sent. Endpoints live in one file per area: [`user`],
//! [`friend`], [`msg`] (sending), [`recall`] (recall and read receipts), [`history`].

mod form;
pub mod friend;
pub mod history;
pub(crate) mod lenient;
pub mod limits;
pub mod msg;
pub mod recall;
pub mod user;

#[cfg(test)]
mod decode_fuzz;

use std::sync::Arc;
use std::time::Duration;

use imbridge_provider::InvalidField;
use reqwest::header::CONTENT_TYPE;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::config::NeteaseConfig;
use crate::error::{codes, NeteaseError};
use crate::sign::{self, ApiHeaders};
use crate::validate;
use form::Form;
use limits::{ApiClass, Gate};

/// How much of an unexpected (non-200) HTTP body an error keeps.
const HTTP_BODY_KEPT: usize = 2048;

/// A NetEase server API client. Cheap to clone; clones share the connection pool and rate gates.
#[derive(Clone, Debug)]
pub struct NeteaseClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    base_url: String,
    app_key: String,
    app_secret: SecretString,
    per_second: Gate,
    batch: Gate,
}

impl NeteaseClient {
    pub fn new(cfg: NeteaseConfig) -> Result<Self, NeteaseError> {
        if cfg.limits.per_second == 0 {
            return Err(InvalidField::new("limits.per_second", "must be at least 1").into());
        }
        if cfg.limits.batch_per_minute == 0 {
            return Err(InvalidField::new("limits.batch_per_minute", "must be at least 1").into());
        }
        let base_url = cfg.base_url.trim_end_matches('/').to_owned();
        reqwest::Url::parse(&base_url).map_err(|e| InvalidField::new("base_url", e.to_string()))?;
        if cfg.app_key.is_empty() {
            return Err(InvalidField::new("app_key", "must not be empty").into());
        }
        let http = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .timeout(cfg.request_timeout)
            .user_agent(concat!("imbridge-netease/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| NeteaseError::Transport(imbridge_provider::error_chain(&e)))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base_url,
                app_key: cfg.app_key,
                app_secret: cfg.app_secret,
                per_second: Gate::new(ApiClass::PerSecond, cfg.limits.per_second, Duration::from_secs(1)),
                batch: Gate::new(ApiClass::Batch, cfg.limits.batch_per_minute, Duration::from_secs(60)),
            }),
        })
    }

    pub fn app_key(&self) -> &str {
        &self.inner.app_key
    }

    /// The base URL without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    fn gate(&self, class: ApiClass) -> &Gate {
        match class {
            ApiClass::PerSecond => &self.inner.per_second,
            ApiClass::Batch => &self.inner.batch,
        }
    }

    /// POST one signed form to `<base>/<action>` and decode a `code: 200` answer as `R`.
    async fn call<R: DeserializeOwned>(
        &self,
        class: ApiClass,
        action: &'static str,
        form: Form,
        request_id: Option<&str>,
    ) -> Result<R, NeteaseError> {
        let request_id = match request_id {
            Some(id) => {
                validate::check_request_id("request_id", id)?;
                id.to_owned()
            }
            None => uuid::Uuid::new_v4().simple().to_string(),
        };
        let body = form.encode()?;
        let gate = self.gate(class);
        let permit = match gate.admit().await {
            Ok(permit) => permit,
            Err(e) => {
                record_call(action, "blocked_locally", None);
                return Err(e);
            }
        };
        let started = std::time::Instant::now();

        let auth = ApiHeaders::new(&self.inner.app_key, self.inner.app_secret.expose_secret(), sign::now_secs());
        let response = self
            .inner
            .http
            .post(format!("{}/{action}", self.inner.base_url))
            .header("AppKey", &auth.app_key)
            .header("Nonce", &auth.nonce)
            .header("CurTime", &auth.cur_time)
            .header("CheckSum", &auth.checksum)
            .header("RequestId", &request_id)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded;charset=utf-8")
            .body(body)
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
        record_call(action, &result_label(&outcome), Some(started.elapsed()));
        match &outcome {
            Ok(_) => tracing::debug!(action, provider_request_id = %request_id, "netease call ok"),
            Err(e) => tracing::debug!(action, provider_request_id = %request_id, error = %e, "netease call failed"),
        }
        match outcome {
            Err(NeteaseError::Api { code: codes::FREQUENCY, .. }) => Err(gate.block(codes::FREQUENCY)),
            other => other,
        }
    }
}

/// `imbridge_provider_calls_total{provider,endpoint,result}` and, for calls that went out,
/// `imbridge_provider_call_duration_seconds{provider,endpoint}`.
fn record_call(action: &'static str, result: &str, took: Option<Duration>) {
    metrics::counter!("imbridge_provider_calls_total", "provider" => "netease", "endpoint" => action, "result" => result.to_owned())
        .increment(1);
    if let Some(took) = took {
        metrics::histogram!("imbridge_provider_call_duration_seconds", "provider" => "netease", "endpoint" => action)
            .record(took.as_secs_f64());
    }
}

/// The `result` label: NetEase's own `code` when it answered one (`200`, `414`, `416`…), otherwise
/// what went wrong on the way (`http_503`, `timeout`, `transport`, `decode`).
fn result_label<R>(outcome: &Result<R, NeteaseError>) -> String {
    match outcome {
        Ok(_) => codes::OK.to_string(),
        Err(NeteaseError::Api { code, .. }) => code_label(*code).to_owned(),
        // Any status a proxy can send is one of a bounded few hundred; still, only the usual ones
        // keep their number.
        Err(NeteaseError::Http { status, .. }) => match status {
            400..=404 | 408 | 429 | 500..=504 => format!("http_{status}"),
            _ => "http_other".to_owned(),
        },
        Err(NeteaseError::Timeout) => "timeout".to_owned(),
        Err(NeteaseError::Transport(_)) => "transport".to_owned(),
        Err(NeteaseError::Decode(_)) => "decode".to_owned(),
        Err(_) => "other".to_owned(),
    }
}

/// A NetEase `code` as a label: the documented codes (shared/providers/netease.md §1) by number,
/// anything else `other`, so an odd answer cannot grow the metrics.
fn code_label(code: i64) -> &'static str {
    const DOCUMENTED: [(i64, &str); 15] = [
        (200, "200"),
        (302, "302"),
        (403, "403"),
        (404, "404"),
        (405, "405"),
        (408, "408"),
        (414, "414"),
        (416, "416"),
        (417, "417"),
        (419, "419"),
        (422, "422"),
        (431, "431"),
        (500, "500"),
        (503, "503"),
        (514, "514"),
    ];
    DOCUMENTED.iter().find(|(c, _)| *c == code).map_or("other", |(_, label)| label)
}

/// NetEase answers HTTP 200 with `{"code":...}`; only `code` says whether the call worked.
fn decode<R: DeserializeOwned>(status: u16, bytes: &[u8]) -> Result<R, NeteaseError> {
    if status != 200 {
        let text = String::from_utf8_lossy(bytes);
        let body: String = text.chars().take(HTTP_BODY_KEPT).collect();
        return Err(NeteaseError::Http { status, body });
    }
    let envelope: Value = serde_json::from_slice(bytes).map_err(|e| NeteaseError::Decode(format!("not JSON: {e}")))?;
    let code = envelope
        .get("code")
        .and_then(lenient::as_i64)
        .ok_or_else(|| NeteaseError::Decode("no numeric `code` in the answer".into()))?;
    if code != codes::OK {
        let desc = envelope.get("desc").map(lenient::text).unwrap_or_default();
        return Err(NeteaseError::Api { code, desc });
    }
    serde_json::from_value(envelope).map_err(|e| NeteaseError::Decode(e.to_string()))
}

fn transport(e: reqwest::Error) -> NeteaseError {
    if e.is_timeout() {
        NeteaseError::Timeout
    } else {
        NeteaseError::Transport(imbridge_provider::error_chain(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::IgnoredAny;

    #[test]
    fn code_decides_not_http_status() {
        let err = decode::<IgnoredAny>(200, br#"{"code":414,"desc":"already register"}"#).unwrap_err();
        assert!(err.is_already_registered(), "{err:?}");
        let err = decode::<IgnoredAny>(200, br#"{"code":"503","desc":{"why":"busy"}}"#).unwrap_err();
        assert!(matches!(err, NeteaseError::Api { code: 503, ref desc } if desc.contains("busy")), "{err:?}");
        assert!(matches!(decode::<IgnoredAny>(200, br#"{"desc":"x"}"#), Err(NeteaseError::Decode(_))));
        assert!(decode::<IgnoredAny>(200, br#"{"code":200}"#).is_ok());
    }

    #[test]
    fn non_200_keeps_the_start_of_the_body() {
        let html = format!("<html>{}</html>", "x".repeat(5000));
        let NeteaseError::Http { status, body } = decode::<IgnoredAny>(502, html.as_bytes()).unwrap_err() else {
            panic!("expected Http")
        };
        assert_eq!(status, 502);
        assert_eq!(body.chars().count(), HTTP_BODY_KEPT);
        assert!(body.starts_with("<html>"));
    }

    #[test]
    fn config_is_checked() {
        let mut cfg = NeteaseConfig::new("not a url", "key", "secret");
        assert!(matches!(NeteaseClient::new(cfg.clone()), Err(NeteaseError::Invalid(f)) if f.field == "base_url"));
        cfg.base_url = "http://127.0.0.1:9/nimserver/".into();
        cfg.limits.batch_per_minute = 0;
        assert!(
            matches!(NeteaseClient::new(cfg.clone()), Err(NeteaseError::Invalid(f)) if f.field == "limits.batch_per_minute")
        );
        cfg.limits.batch_per_minute = 1;
        let client = NeteaseClient::new(cfg).unwrap();
        assert_eq!(client.base_url(), "http://127.0.0.1:9/nimserver");
    }
}

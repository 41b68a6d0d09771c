//! Console logins: an operator posts one of the API keys in a form and gets a signed session cookie.
//!
//! Why a signed cookie and not a server-side session map: instances are stateless behind a load
//! balancer (shared/design.md), so a session kept in one instance's memory would log the operator
//! out whenever the next request lands on another. The cookie is `v1.<expiry>.<nonce>.<mac>` where
//! mac = HMAC-SHA256(k, expiry, nonce) and k = HMAC-SHA256(API key, a fixed label): every instance
//! with the same `api_keys` accepts it, nothing grows per login, and removing a key from `api_keys`
//! ends every session made with it. The price: logging out clears the cookie in that browser, but a
//! copy taken before stays valid until its expiry (`console.session_ttl_secs`, 8 h by default).
//!
//! Each session has its CSRF token, HMAC(k, nonce), put in a hidden field of every form and checked
//! in constant time on every POST. The cookie is HttpOnly, SameSite=Strict, Path=/console.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::ConsoleState;
use crate::error::AppError;

pub const COOKIE: &str = "imbridge_console";
/// What a session key is derived for, so it is never the same as any other use of the API key.
const LABEL: &[u8] = b"imbridge console session v1";

type HmacSha256 = Hmac<Sha256>;

/// The keys sessions are signed with, one per API key (never the API keys themselves).
#[derive(Clone)]
pub struct SessionKeys {
    keys: Arc<[[u8; 32]]>,
    ttl: Duration,
    secure: bool,
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SessionKeys({} keys)", self.keys.len())
    }
}

/// A logged-in operator.
#[derive(Debug, Clone)]
pub struct Session {
    /// The token every form of this session carries.
    pub csrf: String,
}

impl Session {
    /// 403 unless `token` is this session's CSRF token (constant time).
    pub fn check_csrf(&self, token: &str) -> Result<(), AppError> {
        if bool::from(self.csrf.as_bytes().ct_eq(token.as_bytes())) {
            Ok(())
        } else {
            Err(AppError::Forbidden("missing or wrong CSRF token: reload the page and try again"))
        }
    }
}

fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        // Length-prefixed, so no two different part lists sign the same bytes.
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

fn unix_secs(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl SessionKeys {
    pub fn new(api_keys: &[SecretString], ttl: Duration, secure: bool) -> Self {
        let keys = api_keys.iter().map(|k| mac(k.expose_secret().as_bytes(), &[LABEL])).collect();
        Self { keys, ttl, secure }
    }

    /// A `Set-Cookie` value for a new session, or `None` when `api_key` is not one of the keys.
    /// Every key is compared, in constant time, whatever matches.
    pub fn login(&self, api_key: &str, now: SystemTime) -> Option<HeaderValue> {
        let presented = mac(api_key.as_bytes(), &[LABEL]);
        let mut found = subtle::Choice::from(0);
        for key in self.keys.iter() {
            found |= key.ct_eq(&presented);
        }
        if !bool::from(found) {
            return None;
        }
        let expiry = (unix_secs(now) + self.ttl.as_secs()).to_string();
        let mut nonce = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut nonce);
        let nonce = hex::encode(nonce);
        let signature = hex::encode(mac(&presented, &[b"session", expiry.as_bytes(), nonce.as_bytes()]));
        let value = format!("v1.{expiry}.{nonce}.{signature}");
        HeaderValue::from_str(&self.cookie(&value, self.ttl.as_secs())).ok()
    }

    /// The `Set-Cookie` value that removes the session cookie.
    pub fn logout(&self) -> HeaderValue {
        HeaderValue::from_str(&self.cookie("", 0)).expect("a fixed ASCII cookie")
    }

    fn cookie(&self, value: &str, max_age: u64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{COOKIE}={value}; Path=/console; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}")
    }

    /// The session a cookie value stands for: signed by one of the keys and not expired.
    pub fn verify(&self, value: &str, now: SystemTime) -> Option<Session> {
        let mut parts = value.split('.');
        let (Some("v1"), Some(expiry), Some(nonce), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let ends: u64 = expiry.parse().ok()?;
        let now = unix_secs(now);
        // A session never outlives the TTL configured now (a shortened TTL applies at once).
        if ends <= now || ends > now + self.ttl.as_secs() {
            return None;
        }
        let signature = hex::decode(signature).ok()?;
        let mut matched = None;
        for key in self.keys.iter() {
            let expected = mac(key, &[b"session", expiry.as_bytes(), nonce.as_bytes()]);
            if bool::from(expected.ct_eq(signature.as_slice())) {
                matched = Some(key);
            }
        }
        let key = matched?;
        Some(Session { csrf: hex::encode(mac(key, &[b"csrf", nonce.as_bytes()])) })
    }
}

/// The session cookie's value in a request's `Cookie` headers.
fn cookie_value(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

/// Pages need a session; without one the operator is sent to the login form.
impl FromRequestParts<ConsoleState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &ConsoleState) -> Result<Self, Self::Rejection> {
        cookie_value(&parts.headers)
            .and_then(|value| state.sessions.verify(value, SystemTime::now()))
            .ok_or_else(|| Redirect::to("/console/login").into_response())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> SessionKeys {
        let api = [SecretString::from("operator-key-0123456789"), SecretString::from("second-key-0123456789")];
        SessionKeys::new(&api, Duration::from_secs(3600), true)
    }

    fn value(set_cookie: &HeaderValue) -> String {
        let text = set_cookie.to_str().unwrap();
        text.split(';').next().unwrap().strip_prefix("imbridge_console=").unwrap().to_owned()
    }

    #[test]
    fn a_session_is_signed_expires_and_has_its_own_csrf_token() {
        let keys = keys();
        let now = SystemTime::now();
        assert!(keys.login("wrong-key-0123456789", now).is_none());
        let cookie = keys.login("second-key-0123456789", now).unwrap();
        let text = cookie.to_str().unwrap();
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age=3600", "Secure"] {
            assert!(text.contains(attribute), "{text}");
        }
        assert!(!text.contains("second-key"), "the API key is not in the cookie");
        let session = keys.verify(&value(&cookie), now).unwrap();
        session.check_csrf(&session.csrf).unwrap();
        assert!(session.check_csrf("").is_err());
        let other = keys.verify(&value(&keys.login("operator-key-0123456789", now).unwrap()), now).unwrap();
        assert_ne!(session.csrf, other.csrf);
        assert!(keys.verify(&value(&cookie), now + Duration::from_secs(3601)).is_none(), "expired");
        let mut forged = value(&cookie);
        forged.replace_range(3..4, if &forged[3..4] == "9" { "8" } else { "9" });
        assert!(keys.verify(&forged, now).is_none(), "the expiry is signed");
        let rotated =
            SessionKeys::new(&[SecretString::from("operator-key-0123456789")], Duration::from_secs(3600), true);
        assert!(rotated.verify(&value(&cookie), now).is_none(), "removing the key ends its sessions");
    }
}

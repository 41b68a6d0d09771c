//! NetEase signatures (shared/providers/netease.md §1 and §2).
//!
//! Server API: `CheckSum = hex(sha1(AppSecret + Nonce + CurTime))`, CurTime in **seconds**.
//! Callbacks: `MD5 = hex(md5(body))`, `CheckSum = hex(sha1(AppSecret + MD5 + CurTime))`, CurTime in
//! **milliseconds**. All hex is lowercase.

use md5::{Digest as _, Md5};
use rand::{distributions::Alphanumeric, Rng};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// `hex(sha1(secret + nonce + cur_time))`, the server API CheckSum.
pub fn api_checksum(app_secret: &str, nonce: &str, cur_time: &str) -> String {
    sha1_hex(&[app_secret.as_bytes(), nonce.as_bytes(), cur_time.as_bytes()])
}

/// `hex(md5(body))`, the callback `MD5` header.
pub fn body_md5(body: &[u8]) -> String {
    hex::encode(Md5::digest(body))
}

/// `hex(sha1(secret + md5 + cur_time))`, the callback CheckSum.
pub fn callback_checksum(app_secret: &str, md5_hex: &str, cur_time: &str) -> String {
    sha1_hex(&[app_secret.as_bytes(), md5_hex.as_bytes(), cur_time.as_bytes()])
}

fn sha1_hex(parts: &[&[u8]]) -> String {
    let mut h = Sha1::new();
    for p in parts {
        h.update(p);
    }
    hex::encode(h.finalize())
}

/// Constant-time comparison of two hex digests; case-insensitive on ASCII hex.
pub fn digest_eq(expected_lower: &str, received: &str) -> bool {
    let received = received.trim().to_ascii_lowercase();
    expected_lower.len() == received.len() && bool::from(expected_lower.as_bytes().ct_eq(received.as_bytes()))
}

/// A fresh random Nonce (32 alphanumerics; NetEase allows at most 128).
pub fn new_nonce() -> String {
    rand::thread_rng().sample_iter(&Alphanumeric).take(32).map(char::from).collect()
}

/// The four auth headers of one server API call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiHeaders {
    pub app_key: String,
    pub nonce: String,
    pub cur_time: String,
    pub checksum: String,
}

impl ApiHeaders {
    /// Headers for a call made at `now_secs` with a new nonce.
    pub fn new(app_key: &str, app_secret: &str, now_secs: u64) -> Self {
        Self::with_nonce(app_key, app_secret, new_nonce(), now_secs)
    }

    pub fn with_nonce(app_key: &str, app_secret: &str, nonce: String, now_secs: u64) -> Self {
        let cur_time = now_secs.to_string();
        let checksum = api_checksum(app_secret, &nonce, &cur_time);
        Self { app_key: app_key.to_owned(), nonce, cur_time, checksum }
    }
}

/// The three signature headers of one callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackHeaders {
    pub md5: String,
    pub cur_time: String,
    pub checksum: String,
}

impl CallbackHeaders {
    /// Sign `body` as NetEase does, at `now_ms`.
    pub fn sign(app_secret: &str, body: &[u8], now_ms: u64) -> Self {
        let md5 = body_md5(body);
        let cur_time = now_ms.to_string();
        let checksum = callback_checksum(app_secret, &md5, &cur_time);
        Self { md5, cur_time, checksum }
    }
}

/// Current time as seconds / milliseconds since the epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

pub fn now_millis() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

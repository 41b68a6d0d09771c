//! UserSig v2: the credential a Tencent IM client logs in with, and the one the bridge's admin
//! account signs every REST call with. Signed locally with the app's secret key; nothing to store,
//! but it expires (`TLS.time + TLS.expire`).
//!
//! Content signed: `TLS.identifier:<id>\nTLS.sdkappid:<appid>\nTLS.time:<t>\nTLS.expire:<e>\n`;
//! `TLS.sig` = base64(HMAC-SHA256(key, content)). The JSON document carrying it is zlib-deflated,
//! base64-encoded and made URL-safe Tencent's way (`+`→`*`, `/`→`-`, `=`→`_`, not RFC 4648).

use std::io::{Read, Write};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The most a decoded UserSig document may inflate to (a real one is ~200 bytes).
const MAX_DOCUMENT: u64 = 4096;

/// Why a UserSig was refused; the names follow Tencent's error codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserSigError {
    /// 70003: not a UserSig (encoding, compression or JSON).
    #[error("illegal UserSig: {0}")]
    Illegal(&'static str),
    /// 70009: the signature does not verify with this key.
    #[error("UserSig verification failed")]
    BadSignature,
    /// 70001: past `TLS.time + TLS.expire`.
    #[error("UserSig expired")]
    Expired,
    /// 70014: made for another SDKAppID.
    #[error("UserSig SDKAppID mismatch")]
    SdkAppIdMismatch,
    /// 70013: made for another identifier.
    #[error("UserSig identifier mismatch")]
    IdentifierMismatch,
}

impl UserSigError {
    /// Tencent's error code for this refusal.
    pub fn code(&self) -> i64 {
        match self {
            UserSigError::Illegal(_) => 70003,
            UserSigError::BadSignature => 70009,
            UserSigError::Expired => 70001,
            UserSigError::SdkAppIdMismatch => 70014,
            UserSigError::IdentifierMismatch => 70013,
        }
    }
}

/// What a valid UserSig says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSigInfo {
    pub identifier: String,
    pub sdkappid: u64,
    /// Unix seconds it was made at.
    pub time: u64,
    /// Seconds it is valid for.
    pub expire: u64,
}

impl UserSigInfo {
    /// Unix seconds it stops being valid at.
    pub fn expires_at(&self) -> u64 {
        self.time.saturating_add(self.expire)
    }
}

/// `TLS.sig`: base64 of HMAC-SHA256 over the signed content.
pub fn tls_sig(key: &str, identifier: &str, sdkappid: u64, time: u64, expire: u64) -> String {
    let content =
        format!("TLS.identifier:{identifier}\nTLS.sdkappid:{sdkappid}\nTLS.time:{time}\nTLS.expire:{expire}\n");
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    mac.update(content.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// A UserSig for `identifier`, made at `time` (unix seconds), valid for `expire` seconds.
pub fn generate(key: &str, sdkappid: u64, identifier: &str, time: u64, expire: u64) -> String {
    let document = json!({
        "TLS.ver": "2.0",
        "TLS.identifier": identifier,
        "TLS.sdkappid": sdkappid,
        "TLS.time": time,
        "TLS.expire": expire,
        "TLS.sig": tls_sig(key, identifier, sdkappid, time, expire),
    });
    let mut deflate = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    deflate.write_all(document.to_string().as_bytes()).expect("writing to memory");
    let compressed = deflate.finish().expect("writing to memory");
    to_url_safe(&STANDARD.encode(compressed))
}

/// Decode and verify `usersig` with `key` for `sdkappid` at `now` (unix seconds).
pub fn verify(key: &str, sdkappid: u64, usersig: &str, now: u64) -> Result<UserSigInfo, UserSigError> {
    let info = decode_checked(key, usersig)?;
    if info.sdkappid != sdkappid {
        return Err(UserSigError::SdkAppIdMismatch);
    }
    if now > info.expires_at() {
        return Err(UserSigError::Expired);
    }
    Ok(info)
}

/// The document of `usersig`, with its signature checked against `key` (not its expiry or app).
pub fn decode_checked(key: &str, usersig: &str) -> Result<UserSigInfo, UserSigError> {
    let compressed = STANDARD.decode(from_url_safe(usersig.trim())).map_err(|_| UserSigError::Illegal("not base64"))?;
    let mut json = Vec::new();
    flate2::read::ZlibDecoder::new(compressed.as_slice())
        .take(MAX_DOCUMENT)
        .read_to_end(&mut json)
        .map_err(|_| UserSigError::Illegal("not zlib"))?;
    let doc: Value = serde_json::from_slice(&json).map_err(|_| UserSigError::Illegal("not JSON"))?;
    let text = |k: &str| doc.get(k).and_then(Value::as_str).ok_or(UserSigError::Illegal("a field is missing"));
    let number = |k: &str| {
        let v = doc.get(k).ok_or(UserSigError::Illegal("a field is missing"))?;
        v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())).ok_or(UserSigError::Illegal("not a number"))
    };
    if text("TLS.ver")? != "2.0" {
        return Err(UserSigError::Illegal("not version 2.0"));
    }
    let info = UserSigInfo {
        identifier: text("TLS.identifier")?.to_owned(),
        sdkappid: number("TLS.sdkappid")?,
        time: number("TLS.time")?,
        expire: number("TLS.expire")?,
    };
    let expected = tls_sig(key, &info.identifier, info.sdkappid, info.time, info.expire);
    if !bool::from(expected.as_bytes().ct_eq(text("TLS.sig")?.as_bytes())) {
        return Err(UserSigError::BadSignature);
    }
    Ok(info)
}

fn to_url_safe(b64: &str) -> String {
    b64.chars()
        .map(|c| match c {
            '+' => '*',
            '/' => '-',
            '=' => '_',
            other => other,
        })
        .collect()
}

fn from_url_safe(sig: &str) -> String {
    sig.chars()
        .map(|c| match c {
            '*' => '+',
            '-' => '/',
            '_' => '=',
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // shared/providers/tencent.md §2: produced with the official npm `tls-sig-api-v2` 1.0.2.
    const KEY: &str = "imbridge-test-key-5bd2850fff3ecb11d7c805251c51ee46";
    const APP: u64 = 1400000001;
    const NOW: u64 = 1764547200;
    const ADMIN_SIG: &str = "eJw1ytEKgjAYBeB3*W8N25ZTGnTRTQm6SJKg7gZb9hPamKNW0btHWufufOe8oC538c04EMBiApOhozadxxMOrHSLHfbeKX91v0OvL8pa1CBoQsbQcfHYGhA0SxOeZIyQUU2w6L7OOWfkrz02IGAdFRiOEQv1Zls16XQubZ4-D81sJZcKJUmL**Ocy3JfyQW8Pyx6M-w_";
    const BUYER_SIG: &str = "eJw1ycsKwjAQheF3mW2lJm3aNAEXXqAIggsjLqXSsY5FDWmUqvjuQqNnd77-DWa1iR-oQEMSMxgNn2q8ejrSwIf7E92e8V-r6raylmrQXLAwHoqnC4LmMheZkAljQbG35BB0zkTxt44a0BDNlulLRJmSxbY003HmrVurk6pSQn8zWC3mzZnUruzbCXy*KAYw9w__";

    #[test]
    fn tls_sig_matches_the_official_library() {
        assert_eq!(tls_sig(KEY, "administrator", APP, NOW, 15552000), "G+KixZ+2xTNPQg6/9MpHHzYg3FMAaiM06KwyhHMLVQM=");
        assert_eq!(tls_sig(KEY, "buyer_01", APP, NOW, 604800), "+BI3z4+5978UGTA/5tprO9h9a3ietoTeaDCgji9WGxk=");
    }

    #[test]
    fn the_official_librarys_usersigs_verify() {
        let admin = verify(KEY, APP, ADMIN_SIG, NOW + 10).unwrap();
        assert_eq!(
            admin,
            UserSigInfo { identifier: "administrator".into(), sdkappid: APP, time: NOW, expire: 15552000 }
        );
        let buyer = verify(KEY, APP, BUYER_SIG, NOW).unwrap();
        assert_eq!((buyer.identifier.as_str(), buyer.expires_at()), ("buyer_01", NOW + 604800));
    }

    #[test]
    fn ours_round_trip_and_refusals_are_named() {
        let sig = generate(KEY, APP, "buyer_02", NOW, 3600);
        assert!(sig.chars().all(|c| c.is_ascii_alphanumeric() || "*-_".contains(c)), "{sig}");
        assert_eq!(verify(KEY, APP, &sig, NOW + 3600).unwrap().identifier, "buyer_02");
        assert_eq!(verify(KEY, APP, &sig, NOW + 3601), Err(UserSigError::Expired));
        assert_eq!(verify("another-key", APP, &sig, NOW), Err(UserSigError::BadSignature));
        assert_eq!(verify(KEY, APP + 1, &sig, NOW), Err(UserSigError::SdkAppIdMismatch));
        assert!(matches!(verify(KEY, APP, "not a usersig", NOW), Err(UserSigError::Illegal(_))));
        assert_eq!(verify(KEY, APP, BUYER_SIG, NOW + 604801).unwrap_err().code(), 70001);
    }
}

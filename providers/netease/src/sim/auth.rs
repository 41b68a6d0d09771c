//! The per-call authentication of NetEase's server API: AppKey, Nonce, CurTime, CheckSum.

use std::time::Duration;

use axum::http::HeaderMap;

use super::params::NimError;
use crate::sign;
use crate::validate::NONCE_MAX;

/// The app's credentials and the accepted clock skew.
pub(crate) struct Credentials<'a> {
    pub app_key: &'a str,
    pub app_secret: &'a str,
    pub window: Duration,
}

/// Checks the four headers of a call received at `now_secs`; a refusal is a 414 naming the problem.
pub(crate) fn verify(creds: &Credentials<'_>, headers: &HeaderMap, now_secs: u64) -> Result<(), NimError> {
    let app_key = header(headers, "AppKey")?;
    let nonce = header(headers, "Nonce")?;
    let cur_time = header(headers, "CurTime")?;
    let checksum = header(headers, "CheckSum")?;

    // AppKeys are not secret; a plain comparison is fine.
    if app_key != creds.app_key {
        return Err(NimError::param("appkey error"));
    }
    if nonce.chars().count() > NONCE_MAX {
        return Err(NimError::param(format!("nonce too long (at most {NONCE_MAX} characters)")));
    }
    let sent: u64 =
        cur_time.trim().parse().map_err(|_| NimError::param("curtime must be UTC seconds since the epoch"))?;
    if sent.abs_diff(now_secs) > creds.window.as_secs() {
        return Err(NimError::param(format!(
            "curtime expired: {sent} is more than {}s from the server clock {now_secs} (CurTime is in seconds)",
            creds.window.as_secs()
        )));
    }
    let expected = sign::api_checksum(creds.app_secret, nonce, cur_time);
    if !sign::digest_eq(&expected, checksum) {
        return Err(NimError::param("checksum error"));
    }
    Ok(())
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Result<&'h str, NimError> {
    let missing = || NimError::param(format!("{name} header is missing"));
    let value = headers.get(name).ok_or_else(missing)?;
    let value = value.to_str().map_err(|_| NimError::param(format!("{name} header is not ASCII")))?;
    if value.is_empty() {
        return Err(missing());
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_443_592_222;

    fn creds() -> Credentials<'static> {
        Credentials { app_key: "key", app_secret: "secret", window: Duration::from_secs(300) }
    }

    fn headers(app_key: &str, nonce: &str, cur_time: u64, checksum: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        let cur = cur_time.to_string();
        let sum = checksum.map_or_else(|| sign::api_checksum("secret", nonce, &cur), str::to_owned);
        h.insert("AppKey", app_key.parse().unwrap());
        h.insert("Nonce", nonce.parse().unwrap());
        h.insert("CurTime", cur.parse().unwrap());
        h.insert("CheckSum", sum.parse().unwrap());
        h
    }

    fn desc(h: &HeaderMap, now: u64) -> String {
        verify(&creds(), h, now).unwrap_err().desc
    }

    #[test]
    fn accepts_a_valid_call_within_the_window_both_ways() {
        assert!(verify(&creds(), &headers("key", "n", NOW, None), NOW).is_ok());
        assert!(verify(&creds(), &headers("key", "n", NOW - 300, None), NOW).is_ok());
        assert!(verify(&creds(), &headers("key", "n", NOW + 300, None), NOW).is_ok());
    }

    #[test]
    fn names_the_problem() {
        assert_eq!(desc(&headers("other", "n", NOW, None), NOW), "appkey error");
        assert!(desc(&headers("key", &"n".repeat(129), NOW, None), NOW).starts_with("nonce too long"));
        assert!(desc(&headers("key", "n", NOW - 301, None), NOW).starts_with("curtime expired"));
        assert!(desc(&headers("key", "n", NOW + 301, None), NOW).starts_with("curtime expired"));
        assert_eq!(desc(&headers("key", "n", NOW, Some("00")), NOW), "checksum error");
        let mut h = headers("key", "n", NOW, None);
        h.remove("Nonce");
        assert_eq!(desc(&h, NOW), "Nonce header is missing");
    }

    #[test]
    fn milliseconds_are_refused_as_expired() {
        assert!(desc(&headers("key", "n", NOW * 1000, None), NOW).starts_with("curtime expired"));
    }
}

//! Callback verification (shared/providers/netease.md §2): signature over the raw body, freshness
//! window in both directions, headers in any case, AppKey when present.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use imbridge_netease::callback::verify;
use imbridge_netease::sign::CallbackHeaders;
use imbridge_provider::{CallbackRequest, VerifyFailure};

const KEY: &str = "app-key-1";
const SECRET: &str = "app-secret-1";
const WINDOW: Duration = Duration::from_secs(300);
const SENT_AT_MS: u64 = 1_700_000_000_123;
const BODY: &str = r#"{"eventType":"30","objects":"[]"}"#;

fn at_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// A request signed like NetEase signs it, with NetEase's header spelling.
fn signed(body: &str, secret: &str, sent_at_ms: u64) -> CallbackRequest {
    let h = CallbackHeaders::sign(secret, body.as_bytes(), sent_at_ms);
    CallbackRequest {
        method: "POST".into(),
        path_and_query: "/callbacks/netease".into(),
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            ("CurTime".into(), h.cur_time),
            ("MD5".into(), h.md5),
            ("CheckSum".into(), h.checksum),
        ],
        body: Bytes::copy_from_slice(body.as_bytes()),
    }
}

fn set_header(req: &mut CallbackRequest, name: &str, value: &str) {
    req.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    req.headers.push((name.into(), value.into()));
}

fn check(req: &CallbackRequest, now_ms: u64) -> Result<(), VerifyFailure> {
    verify(req, KEY, SECRET, at_ms(now_ms), WINDOW)
}

#[test]
fn a_genuine_callback_verifies() {
    assert_eq!(check(&signed(BODY, SECRET, SENT_AT_MS), SENT_AT_MS + 1_500), Ok(()));
}

#[test]
fn header_names_match_in_any_case_and_hex_in_either_case() {
    let mut req = signed(BODY, SECRET, SENT_AT_MS);
    for (name, _) in &mut req.headers {
        *name = if name.len() % 2 == 0 { name.to_ascii_uppercase() } else { name.to_ascii_lowercase() };
    }
    assert_eq!(check(&req, SENT_AT_MS), Ok(()));
    for (_, value) in &mut req.headers {
        *value = value.to_ascii_uppercase();
    }
    assert_eq!(check(&req, SENT_AT_MS), Ok(()), "uppercase hex digests are the same digests");
}

#[test]
fn a_changed_body_fails_the_md5() {
    let mut req = signed(BODY, SECRET, SENT_AT_MS);
    req.body = Bytes::from_static(br#"{"eventType":"30","objects":"[{}]"}"#);
    assert_eq!(check(&req, SENT_AT_MS), Err(VerifyFailure::BodyDigestMismatch));
}

#[test]
fn reserialised_json_is_not_the_signed_body() {
    // Same JSON value, different bytes: verification is over the raw bytes.
    let mut req = signed(BODY, SECRET, SENT_AT_MS);
    req.body = Bytes::from_static(br#"{"eventType": "30", "objects": "[]"}"#);
    assert_eq!(check(&req, SENT_AT_MS), Err(VerifyFailure::BodyDigestMismatch));
}

#[test]
fn a_forged_md5_without_the_secret_fails_the_checksum() {
    let forged_body = r#"{"eventType":"30","objects":"[{\"fromAccount\":\"x\"}]"}"#;
    let mut req = signed(BODY, SECRET, SENT_AT_MS);
    let forged = CallbackHeaders::sign("not-the-secret", forged_body.as_bytes(), SENT_AT_MS);
    req.body = Bytes::copy_from_slice(forged_body.as_bytes());
    set_header(&mut req, "MD5", &forged.md5);
    assert_eq!(check(&req, SENT_AT_MS), Err(VerifyFailure::BadSignature), "old checksum, new md5");
    set_header(&mut req, "CheckSum", &forged.checksum);
    assert_eq!(check(&req, SENT_AT_MS), Err(VerifyFailure::BadSignature), "checksum made with another secret");
}

#[test]
fn a_changed_curtime_fails_the_checksum() {
    let mut req = signed(BODY, SECRET, SENT_AT_MS);
    set_header(&mut req, "CurTime", &(SENT_AT_MS + 1).to_string());
    assert_eq!(check(&req, SENT_AT_MS), Err(VerifyFailure::BadSignature));
}

#[test]
fn the_window_applies_in_both_directions() {
    let req = signed(BODY, SECRET, SENT_AT_MS);
    let window_ms = WINDOW.as_millis() as u64;
    assert_eq!(check(&req, SENT_AT_MS + window_ms), Ok(()), "exactly the window old");
    assert_eq!(check(&req, SENT_AT_MS + window_ms + 1), Err(VerifyFailure::Stale));
    assert_eq!(check(&req, SENT_AT_MS - window_ms), Ok(()), "exactly the window ahead");
    assert_eq!(check(&req, SENT_AT_MS - window_ms - 1), Err(VerifyFailure::Future));
}

#[test]
fn curtime_in_seconds_is_stale_not_accepted() {
    // A sender that signs seconds (the server API unit) instead of milliseconds.
    let seconds = SENT_AT_MS / 1000;
    let req = signed(BODY, SECRET, seconds);
    assert_eq!(check(&req, SENT_AT_MS), Err(VerifyFailure::Stale));
}

#[test]
fn every_signature_header_is_required() {
    for name in ["CurTime", "MD5", "CheckSum"] {
        let mut req = signed(BODY, SECRET, SENT_AT_MS);
        req.headers.retain(|(k, _)| k != name);
        assert_eq!(check(&req, SENT_AT_MS), Err(VerifyFailure::MissingSignature), "without {name}");
    }
}

#[test]
fn unparseable_curtime_is_reported() {
    for bad in ["", "soon", "-5", "1.7e12"] {
        let mut req = signed(BODY, SECRET, SENT_AT_MS);
        set_header(&mut req, "CurTime", bad);
        assert_eq!(check(&req, SENT_AT_MS), Err(VerifyFailure::BadTimestamp), "CurTime {bad:?}");
    }
}

#[test]
fn app_key_is_checked_only_when_present() {
    let mut req = signed(BODY, SECRET, SENT_AT_MS);
    assert_eq!(check(&req, SENT_AT_MS), Ok(()), "absent");
    set_header(&mut req, "appkey", KEY);
    assert_eq!(check(&req, SENT_AT_MS), Ok(()), "present and right");
    set_header(&mut req, "AppKey", "another-app");
    assert_eq!(check(&req, SENT_AT_MS), Err(VerifyFailure::WrongApp));
}

#[test]
fn conflicting_copies_of_a_signature_header_are_refused() {
    // A second, different copy after the genuine one: reading only the first would accept it.
    let genuine = signed(BODY, SECRET, SENT_AT_MS);
    let forged = signed(r#"{"eventType":"1"}"#, SECRET, SENT_AT_MS + 7);
    for name in ["CurTime", "MD5", "CheckSum"] {
        let mut req = genuine.clone();
        let other = forged.header(name).unwrap().to_owned();
        req.headers.push((name.to_ascii_lowercase(), other));
        assert_eq!(check(&req, SENT_AT_MS), Err(VerifyFailure::DuplicateField), "two {name}");
    }
    let mut req = genuine.clone();
    req.headers.push(("AppKey".into(), KEY.into()));
    req.headers.push(("APPKEY".into(), "another-app".into()));
    assert_eq!(check(&req, SENT_AT_MS), Err(VerifyFailure::DuplicateField), "two AppKey");
    assert_eq!(VerifyFailure::DuplicateField.reason(), "duplicate_header");

    // The same value twice (a proxy that repeats headers) changes nothing.
    let mut req = genuine.clone();
    let cur_time = req.header("CurTime").unwrap().to_owned();
    req.headers.push(("curtime".into(), format!(" {cur_time}")));
    assert_eq!(check(&req, SENT_AT_MS), Ok(()));
}

//! Every call is authenticated like NetEase does; a refusal is HTTP 200 + code 414 and has no effect.

use imbridge_netease::sign;
use serde_json::Value;

use crate::helpers::{unique, Sim, KEY, SECRET};

/// A user/create call with explicit auth headers.
async fn create_with(sim: &Sim, accid: &str, headers: &[(&str, String)]) -> Value {
    let mut request = sim.unsigned("user/create", &[("accid", accid)]);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn signed(app_key: &str, secret: &str, nonce: &str, cur_time: u64) -> Vec<(&'static str, String)> {
    let cur = cur_time.to_string();
    vec![
        ("AppKey", app_key.to_owned()),
        ("Nonce", nonce.to_owned()),
        ("CheckSum", sign::api_checksum(secret, nonce, &cur)),
        ("CurTime", cur),
    ]
}

async fn assert_refused(sim: &Sim, headers: &[(&str, String)], desc_part: &str) {
    let accid = unique("auth");
    let reply = create_with(sim, &accid, headers).await;
    assert_eq!(reply["code"], 414, "{reply}");
    let desc = reply["desc"].as_str().unwrap();
    assert!(desc.contains(desc_part), "desc {desc:?} should mention {desc_part:?}");
    assert!(sim.state().account(&accid).is_none(), "a refused call creates nothing");
}

#[tokio::test]
async fn a_correctly_signed_call_is_accepted() {
    let sim = Sim::start().await;
    let accid = unique("ok");
    let reply = create_with(&sim, &accid, &signed(KEY, SECRET, "nonce123", sign::now_secs())).await;
    assert_eq!(reply["code"], 200, "{reply}");
    // A nonce of exactly 128 characters is fine.
    let reply = create_with(&sim, &unique("ok"), &signed(KEY, SECRET, &"n".repeat(128), sign::now_secs())).await;
    assert_eq!(reply["code"], 200, "{reply}");
}

#[tokio::test]
async fn a_wrong_secret_is_a_checksum_error() {
    let sim = Sim::start().await;
    assert_refused(&sim, &signed(KEY, "not-the-secret", "n1", sign::now_secs()), "checksum error").await;
}

#[tokio::test]
async fn a_tampered_nonce_is_a_checksum_error() {
    let sim = Sim::start().await;
    let mut headers = signed(KEY, SECRET, "n1", sign::now_secs());
    headers[1].1 = "n2".to_owned();
    assert_refused(&sim, &headers, "checksum error").await;
}

#[tokio::test]
async fn a_stale_or_future_curtime_is_refused() {
    let sim = Sim::start().await;
    let now = sign::now_secs();
    assert_refused(&sim, &signed(KEY, SECRET, "n", now - 301), "curtime expired").await;
    assert_refused(&sim, &signed(KEY, SECRET, "n", now + 301), "curtime expired").await;
    // Milliseconds instead of seconds is the classic mistake.
    assert_refused(&sim, &signed(KEY, SECRET, "n", now * 1000), "curtime expired").await;
    // Within the five-minute window both ways is fine.
    for cur in [now - 240, now + 240] {
        let reply = create_with(&sim, &unique("skew"), &signed(KEY, SECRET, "n", cur)).await;
        assert_eq!(reply["code"], 200, "{reply}");
    }
}

#[tokio::test]
async fn a_wrong_app_key_is_refused() {
    let sim = Sim::start().await;
    assert_refused(&sim, &signed("other-app", SECRET, "n", sign::now_secs()), "appkey").await;
}

#[tokio::test]
async fn a_nonce_over_128_characters_is_refused() {
    let sim = Sim::start().await;
    assert_refused(&sim, &signed(KEY, SECRET, &"n".repeat(129), sign::now_secs()), "nonce").await;
}

#[tokio::test]
async fn each_missing_header_is_named() {
    let sim = Sim::start().await;
    let full = signed(KEY, SECRET, "n", sign::now_secs());
    for missing in ["AppKey", "Nonce", "CurTime", "CheckSum"] {
        let headers: Vec<_> = full.iter().filter(|(n, _)| *n != missing).cloned().collect();
        assert_refused(&sim, &headers, missing).await;
    }
    let calls = sim.state().call_counts();
    assert_eq!(calls.with_code("user/create", 414), 4);
}

#[tokio::test]
async fn unknown_apis_are_not_found() {
    let sim = Sim::start().await;
    let response = sim.send("user/teleport", &[], None).await.unwrap();
    assert_eq!(response.status(), 404);
    let reply: Value = response.json().await.unwrap();
    assert_eq!(reply["code"], 404);
}

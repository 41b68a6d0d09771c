//! `POST /callbacks/netease` over HTTP: signature checks, every eventType the bridge applies, NetEase's
//! own example bodies, duplicates and out-of-order deliveries, on the embedded store and on MongoDB.
//! What a callback did is observed the way the order page sees it: through `GET /v1/unread`.

use imbridge::messages::message_key;
use std::time::Duration;

use imbridge_netease::sign::{now_millis, CallbackHeaders};
use imbridge_netease::sim::{CallbackMode, ClientMessage, ClientRead, ClientRecall};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{expect_json, Spawn, Store, TestApp, APP_KEY};

on_both_stores!(
    a_signed_message_is_acknowledged_and_counted,
    forged_callbacks_are_refused_and_change_nothing,
    netease_example_bodies_are_applied,
    duplicate_deliveries_change_nothing,
    a_recall_arriving_before_its_message_still_applies,
    a_receipt_arriving_before_its_messages_marks_them_read,
    an_older_receipt_from_another_device_changes_nothing,
    only_person_chat_messages_count,
    loosely_typed_fields_are_parsed,
    presence_and_unknown_event_types_are_acknowledged,
    a_signed_but_unparseable_body_is_acknowledged,
    simulator_callbacks_duplicated_and_shuffled_converge,
);

const PATH: &str = "/callbacks/netease";
/// Further from now than the freshness window (300 s by default), in either direction.
const OUTSIDE_WINDOW_MS: u64 = 10 * 60 * 1000;

pub async fn spawn(store: Store) -> TestApp {
    Spawn::new(crate::helpers::Backend::Sqlite).store(store).start().await
}

/// The headers NetEase sends with `body`, signed with the app's secret at `now_ms`.
pub fn signed_headers(app: &TestApp, body: &[u8], now_ms: u64) -> Vec<(&'static str, String)> {
    let signed = CallbackHeaders::sign(&app.sim_secret, body, now_ms);
    vec![("MD5", signed.md5), ("CurTime", signed.cur_time), ("CheckSum", signed.checksum), ("AppKey", APP_KEY.into())]
}

/// POST raw bytes with exactly these headers.
pub async fn post_raw(app: &TestApp, body: Vec<u8>, headers: &[(&str, String)]) -> Response {
    let mut request = app.client.post(format!("{}{PATH}", app.address)).header("Content-Type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request.body(body).send().await.expect("callback request")
}

/// POST `event` signed now, expecting NetEase's acknowledgement.
pub async fn deliver(app: &TestApp, event: &Value) {
    let body = serde_json::to_vec(event).unwrap();
    let headers = signed_headers(app, &body, now_millis());
    expect_ack(post_raw(app, body, &headers).await).await;
}

pub async fn expect_ack(response: Response) {
    assert_eq!(expect_json(response, StatusCode::OK).await, json!({"code": 200}));
}

/// A P2P text message (eventType 1) as NetEase sends it.
pub fn message(from: &str, to: &str, msgid: u64, at_ms: u64) -> Value {
    json!({
        "eventType": "1", "convType": "PERSON", "fromAccount": from, "to": to,
        "fromClientType": "AOS", "fromDeviceId": "device-1", "fromNick": from,
        "msgTimestamp": at_ms.to_string(), "msgType": "TEXT", "body": format!("message {msgid}"),
        "attach": "", "msgidClient": format!("client-{msgid}"), "msgidServer": msgid.to_string(),
        "resendFlag": "0"
    })
}

/// A read receipt (eventType 30): `reader` has read what `peer` sent up to `at_ms`.
pub fn receipt(reader: &str, peer: &str, at_ms: u64, client_type: &str) -> Value {
    let objects = json!([{
        "fromAccount": reader, "toAccount": peer, "msgidClient": "whatever",
        "timestamp": at_ms, "clientType": client_type
    }]);
    json!({"eventType": "30", "objects": objects.to_string()})
}

/// A P2P recall (eventType 7) of message `msgid`.
pub fn recall(from: &str, to: &str, msgid: u64) -> Value {
    json!({
        "eventType": "7", "msgId": msgid.to_string(), "from": from, "to": to,
        "deleteTime": now_millis(), "sendTime": now_millis(), "fromClientType": "AOS", "attach": ""
    })
}

/// `accid`'s unread counts from `peers`, as `GET /v1/unread` reports them.
pub async fn unread(app: &TestApp, accid: &str, peers: &[&str]) -> Value {
    let path = format!("/v1/unread?accid={accid}&peers={}", peers.join(","));
    expect_json(app.get(&path).await, StatusCode::OK).await
}

async fn unread_from(app: &TestApp, accid: &str, peer: &str) -> u64 {
    unread(app, accid, &[peer]).await["unread"][peer].as_u64().expect("a count")
}

async fn a_signed_message_is_acknowledged_and_counted(store: Store) {
    let app = spawn(store).await;
    assert_eq!(unread_from(&app, "buyer_1", "shop_1").await, 0);
    let sent = message("shop_1", "buyer_1", 1001, now_millis());
    deliver(&app, &sent).await;
    assert_eq!(unread_from(&app, "buyer_1", "shop_1").await, 1);
    // Directional: the sender has nothing unread from the buyer.
    assert_eq!(unread_from(&app, "shop_1", "buyer_1").await, 0);

    // The stored document keeps NetEase's field names (other systems read it) plus `state`.
    let messages = app.message_store().await;
    let stored = messages.get_message("netease:1001").await.unwrap().expect("message 1001 stored");
    for field in ["convType", "to", "fromAccount", "fromClientType", "fromDeviceId", "fromNick", "msgType", "body"] {
        assert_eq!(stored[field], sent[field], "{field}: {stored}");
    }
    for field in ["msgidClient", "msgidServer", "resendFlag", "attach"] {
        assert_eq!(stored[field], sent[field], "{field}: {stored}");
    }
    assert_eq!(stored["state"], 0, "{stored}");
    deliver(&app, &receipt("buyer_1", "shop_1", now_millis(), "AOS")).await;
    let stored = messages.get_message("netease:1001").await.unwrap().unwrap();
    assert_eq!(stored["state"], 1, "a read receipt marks the message read: {stored}");
    assert_eq!(unread_from(&app, "buyer_1", "shop_1").await, 0);
}

async fn forged_callbacks_are_refused_and_change_nothing(store: Store) {
    let app = spawn(store).await;
    let now = now_millis();
    let body = serde_json::to_vec(&message("shop_1", "buyer_1", 2001, now)).unwrap();
    let good = signed_headers(&app, &body, now);
    let without = |name: &str| good.iter().filter(|(n, _)| *n != name).cloned().collect::<Vec<_>>();
    let replace = |name: &'static str, value: String| {
        let mut headers = without(name);
        headers.push((name, value));
        headers
    };
    let other_body = CallbackHeaders::sign(&app.sim_secret, b"{\"eventType\":\"1\"}", now);
    let wrong_secret = CallbackHeaders::sign("not-the-secret", &body, now);
    let stale = CallbackHeaders::sign(&app.sim_secret, &body, now - OUTSIDE_WINDOW_MS);
    let future = CallbackHeaders::sign(&app.sim_secret, &body, now + OUTSIDE_WINDOW_MS);
    let forgeries: Vec<(&str, Vec<(&str, String)>)> = vec![
        // The MD5 and CheckSum of another body: consistent with each other, not with these bytes.
        ("bad MD5", {
            let mut h = replace("MD5", other_body.md5.clone());
            h.retain(|(n, _)| *n != "CheckSum");
            h.push(("CheckSum", other_body.checksum.clone()));
            h
        }),
        ("bad CheckSum", replace("CheckSum", wrong_secret.checksum)),
        ("stale CurTime", vec![("MD5", stale.md5), ("CurTime", stale.cur_time), ("CheckSum", stale.checksum)]),
        ("future CurTime", vec![("MD5", future.md5), ("CurTime", future.cur_time), ("CheckSum", future.checksum)]),
        ("CurTime in seconds", {
            let secs = (now / 1000).to_string();
            let checksum = imbridge_netease::sign::callback_checksum(&app.sim_secret, &good[0].1, &secs);
            vec![("MD5", good[0].1.clone()), ("CurTime", secs), ("CheckSum", checksum)]
        }),
        ("no MD5", without("MD5")),
        ("no CurTime", without("CurTime")),
        ("no CheckSum", without("CheckSum")),
        ("no headers", Vec::new()),
        ("wrong AppKey", replace("AppKey", "another-app".into())),
    ];
    for (forgery, headers) in forgeries {
        let response = post_raw(&app, body.clone(), &headers).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{forgery}");
        assert_eq!(response.text().await.unwrap(), "", "{forgery}: no detail for a forger");
    }
    assert_eq!(unread_from(&app, "buyer_1", "shop_1").await, 0, "a refused callback stored nothing");
    let messages = app.message_store().await;
    assert_eq!(messages.raw_count().await.unwrap(), 0, "not even in the audit trail");

    // The same bytes, correctly signed, with header names in another case and no AppKey.
    let lower: Vec<(&str, String)> =
        vec![("md5", good[0].1.clone()), ("curtime", good[1].1.clone()), ("checksum", good[2].1.clone())];
    expect_ack(post_raw(&app, body, &lower).await).await;
    assert_eq!(unread_from(&app, "buyer_1", "shop_1").await, 1);
    assert_eq!(messages.raw_count().await.unwrap(), 1);
}

/// The two bodies of shared/providers/netease.md §4, byte for byte, signed now with the app's secret.
async fn netease_example_bodies_are_applied(store: Store) {
    let app = spawn(store).await;
    let message_body = r#"{"attach":"thisisattach","body":"hello","convType":"PERSON","eventType":"1","fromAccount":"111","fromClientType":"IOS","fromDeviceId":"thisisfromdeviceid","fromNick":"mike","msgTimestamp":"1441977355557","msgType":"TEXT","msgidClient":"1234567","msgidServer":"3456789","resendFlag":"0","to":"222"}"#;
    let receipt_body = r#"{"objects":"[{\"toAccount\":\"test100\",\"clientType\":\"AOS\",\"fromAccount\":\"test101\",\"msgidClient\":\"076a5519-59c0-42c9-916d-9652ab390310\",\"timestamp\":1578551421737}]","eventType":"30"}"#;

    // Signed at the documented CurTime (2015), the example is far outside the window.
    let documented = signed_headers(&app, message_body.as_bytes(), 1_440_570_500_855);
    assert_eq!(post_raw(&app, message_body.into(), &documented).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unread_from(&app, "222", "111").await, 0);

    let headers = signed_headers(&app, message_body.as_bytes(), now_millis());
    expect_ack(post_raw(&app, message_body.into(), &headers).await).await;
    assert_eq!(unread_from(&app, "222", "111").await, 1);

    // test100 sent test101 one message before the receipt's timestamp and one after.
    deliver(&app, &message("test100", "test101", 1, 1_578_551_421_000)).await;
    deliver(&app, &message("test100", "test101", 2, 1_578_551_422_000)).await;
    assert_eq!(unread_from(&app, "test101", "test100").await, 2);
    let headers = signed_headers(&app, receipt_body.as_bytes(), now_millis());
    expect_ack(post_raw(&app, receipt_body.into(), &headers).await).await;
    assert_eq!(unread_from(&app, "test101", "test100").await, 1);
}

async fn duplicate_deliveries_change_nothing(store: Store) {
    let app = spawn(store).await;
    let t = now_millis() - 60_000;
    let first = message("shop_1", "buyer_1", 3001, t);
    deliver(&app, &first).await;
    deliver(&app, &first).await;
    // A redelivery of the same msgidServer with other bytes (e.g. resent) is still one message.
    let mut resent = first.clone();
    resent["resendFlag"] = json!("1");
    deliver(&app, &resent).await;
    assert_eq!(unread_from(&app, "buyer_1", "shop_1").await, 1);

    deliver(&app, &message("shop_1", "buyer_1", 3002, t + 10)).await;
    let read_first = receipt("buyer_1", "shop_1", t, "AOS");
    deliver(&app, &read_first).await;
    deliver(&app, &read_first).await;
    assert_eq!(unread_from(&app, "buyer_1", "shop_1").await, 1);

    let undo = recall("shop_1", "buyer_1", 3002);
    deliver(&app, &undo).await;
    deliver(&app, &undo).await;
    assert_eq!(unread_from(&app, "buyer_1", "shop_1").await, 0);
    // The recalled message delivered again does not come back.
    deliver(&app, &message("shop_1", "buyer_1", 3002, t + 10)).await;
    assert_eq!(unread_from(&app, "buyer_1", "shop_1").await, 0);
}

async fn a_recall_arriving_before_its_message_still_applies(store: Store) {
    let app = spawn(store).await;
    let t = now_millis();
    deliver(&app, &recall("shop_1", "buyer_1", 4001)).await;
    deliver(&app, &message("shop_1", "buyer_1", 4001, t)).await;
    assert_eq!(unread_from(&app, "buyer_1", "shop_1").await, 0);
    deliver(&app, &message("shop_1", "buyer_1", 4002, t + 1)).await;
    assert_eq!(unread_from(&app, "buyer_1", "shop_1").await, 1);
}

async fn a_receipt_arriving_before_its_messages_marks_them_read(store: Store) {
    let app = spawn(store).await;
    let t = now_millis() - 60_000;
    deliver(&app, &receipt("buyer_1", "shop_1", t, "IOS")).await;
    deliver(&app, &message("shop_1", "buyer_1", 5001, t - 1)).await;
    deliver(&app, &message("shop_1", "buyer_1", 5002, t)).await; // read up to and including t
    deliver(&app, &message("shop_1", "buyer_1", 5003, t + 1)).await;
    assert_eq!(unread_from(&app, "buyer_1", "shop_1").await, 1);
    // `state` agrees with the watermark for messages stored after their receipt.
    let messages = app.message_store().await;
    for (msgid, state) in [("5001", 1), ("5002", 1), ("5003", 0)] {
        let stored = messages.get_message(&message_key("netease", msgid)).await.unwrap().expect("stored");
        assert_eq!(stored["state"], state, "{msgid}: {stored}");
    }
    // The watermark is per (reader, peer): another shop's messages are unaffected.
    deliver(&app, &message("shop_2", "buyer_1", 5004, t - 1)).await;
    assert_eq!(unread_from(&app, "buyer_1", "shop_2").await, 1);
}

async fn an_older_receipt_from_another_device_changes_nothing(store: Store) {
    let app = spawn(store).await;
    let t = now_millis() - 60_000;
    for i in 0..5 {
        deliver(&app, &message("shop_1", "buyer_1", 6000 + i, t + i * 1000)).await;
    }
    deliver(&app, &receipt("buyer_1", "shop_1", t + 3000, "IOS")).await;
    assert_eq!(unread_from(&app, "buyer_1", "shop_1").await, 1);
    // The phone reports later having read less: the watermark does not move back.
    deliver(&app, &receipt("buyer_1", "shop_1", t + 1000, "AOS")).await;
    assert_eq!(unread_from(&app, "buyer_1", "shop_1").await, 1);
    deliver(&app, &receipt("buyer_1", "shop_1", t + 4000, "WEB")).await;
    assert_eq!(unread_from(&app, "buyer_1", "shop_1").await, 0);
}

async fn only_person_chat_messages_count(store: Store) {
    let app = spawn(store).await;
    let t = now_millis();
    let mut tips = message("shop_1", "buyer_1", 7001, t);
    tips["msgType"] = json!("TIPS");
    let mut system = message("shop_1", "buyer_1", 7002, t);
    system["convType"] = json!("CUSTOM_PERSON");
    system["msgType"] = json!("CUSTOM_P2P_MSG");
    // A team message counts for no one, even addressed to an id that is also an accid.
    let mut team = message("shop_1", "buyer_1", 7003, t);
    team["convType"] = json!("TEAM");
    for event in [&tips, &system, &team] {
        deliver(&app, event).await;
    }
    assert_eq!(unread_from(&app, "buyer_1", "shop_1").await, 0);
    let mut picture = message("shop_1", "buyer_1", 7004, t);
    picture["msgType"] = json!("PICTURE");
    deliver(&app, &picture).await;
    deliver(&app, &message("shop_1", "buyer_1", 7005, t)).await;
    assert_eq!(unread_from(&app, "buyer_1", "shop_1").await, 2);
}

/// NetEase types fields loosely: numbers or strings, `objects` as an array or a JSON string, accids
/// in any case.
async fn loosely_typed_fields_are_parsed(store: Store) {
    let app = spawn(store).await;
    let t = now_millis() - 60_000;
    let mut numeric = message("Shop_1", "BUYER_1", 8001, t);
    numeric["eventType"] = json!(1);
    numeric["msgTimestamp"] = json!(t);
    numeric["unknownField"] = json!({"kept": true});
    deliver(&app, &numeric).await;
    deliver(&app, &message("shop_1", "buyer_1", 8002, t + 2)).await;
    assert_eq!(unread_from(&app, "buyer_1", "shop_1").await, 2);

    let array_receipt = json!({
        "eventType": 30,
        "objects": [{"fromAccount": "Buyer_1", "toAccount": "SHOP_1", "timestamp": (t + 1).to_string(), "clientType": "AOS"}]
    });
    deliver(&app, &array_receipt).await;
    assert_eq!(unread_from(&app, "buyer_1", "shop_1").await, 1);
}

async fn presence_and_unknown_event_types_are_acknowledged(store: Store) {
    let app = spawn(store).await;
    let t = now_millis();
    let login = json!({"eventType": "2", "accid": "buyer_1", "clientType": "AOS", "code": "200",
        "timestamp": t.to_string(), "deviceId": "phone", "sdkVersion": "9"});
    let logout = json!({"eventType": 3, "accid": "buyer_1", "clientType": "AOS", "code": 200,
        "timestamp": t + 1, "deviceId": "phone", "logOutReason": 2});
    let chatroom = json!({"eventType": "9", "roomId": 1, "fromAccount": "buyer_1"});
    // An older login of the same device, delivered last (NetEase does not order them).
    let mut late_login = login.clone();
    late_login["timestamp"] = json!((t - 5000).to_string());
    let tablet = json!({"eventType": "2", "accid": "Buyer_1", "clientType": "IOS", "code": "200",
        "timestamp": t.to_string(), "deviceId": "tablet"});
    for event in [&login, &logout, &chatroom, &json!({}), &late_login, &tablet, &logout] {
        deliver(&app, event).await;
    }
    assert_eq!(unread_from(&app, "buyer_1", "shop_1").await, 0);

    let messages = app.message_store().await;
    let presence = messages.presence(&["buyer_1".to_owned()]).await.unwrap();
    let clients: Vec<_> = presence.iter().map(|p| (p.client_type.as_str(), p.online, p.at_ms)).collect();
    assert_eq!(clients, vec![("aos", false, (t + 1) as i64), ("ios", true, t as i64)]);
    // Every distinct body is kept raw, whatever its eventType (the repeated logout once).
    assert_eq!(messages.raw_count().await.unwrap(), 6);
}

async fn a_signed_but_unparseable_body_is_acknowledged(store: Store) {
    let app = spawn(store).await;
    let bodies = [&b"not json {"[..], br#"{"eventType":"1","convType":"PERSON""#, b"[1,2,3]"];
    for body in bodies {
        let headers = signed_headers(&app, body, now_millis());
        // Dead-lettered and acknowledged, so NetEase does not retry it forever.
        expect_ack(post_raw(&app, body.to_vec(), &headers).await).await;
    }
    let kept = app.message_store().await.dead_letters(10).await.unwrap();
    let mut kept: Vec<&[u8]> = kept.iter().map(|d| &d.body[..]).collect();
    kept.sort();
    let mut expected = bodies.to_vec();
    expected.sort();
    assert_eq!(kept, expected, "each body kept byte for byte");
    deliver(&app, &message("shop_1", "buyer_1", 9001, now_millis())).await;
    assert_eq!(unread_from(&app, "buyer_1", "shop_1").await, 1);
}

/// Chat traffic through the simulator, each callback delivered twice and in shuffled order: the
/// counts end where the simple story says.
async fn simulator_callbacks_duplicated_and_shuffled_converge(store: Store) {
    let app = spawn(store).await;
    let sim = app.sim.as_ref().expect("an external simulator").state();
    sim.set_callback_mode(CallbackMode { duplicate: true, shuffle: true, shuffle_window: 0 });
    let t = now_millis() - 60_000;
    let send = |from: &str, to: &str, at: u64| ClientMessage {
        from: from.into(),
        to: to.into(),
        body: "hello".into(),
        timestamp: Some(at),
        ..ClientMessage::default()
    };
    let mut sent = Vec::new();
    for i in 0..6 {
        sent.push(sim.client_message(send("shop_a", "buyer_x", t + i * 1000)).await.unwrap());
    }
    for i in 0..3 {
        sim.client_message(send("shop_b", "buyer_x", t + i * 1000)).await.unwrap();
    }
    sim.client_message(send("buyer_x", "shop_a", t + 500)).await.unwrap();
    // buyer_x read shop_a up to the third message, on two devices (the older report arrives too).
    let read = |at: u64, client: &str| ClientRead {
        reader: "buyer_x".into(),
        peer: "shop_a".into(),
        timestamp: Some(at),
        client_type: Some(client.into()),
        ..ClientRead::default()
    };
    sim.client_read(read(t + 2000, "IOS")).await.unwrap();
    sim.client_read(read(t + 1000, "AOS")).await.unwrap();
    // shop_a recalls its last message; the recall may reach the app before the message.
    let last = sent.last().unwrap();
    let undo = ClientRecall {
        msgid: last.msgid_server,
        from: "shop_a".into(),
        to: "buyer_x".into(),
        ..ClientRecall::default()
    };
    sim.client_recall(undo).await.unwrap();
    assert!(sim.flush_callbacks(Duration::from_secs(15)).await, "the simulator delivered every callback");
    let deliveries = sim.callbacks();
    assert_eq!(deliveries.len(), 2 * 13, "every event twice");
    assert!(deliveries.iter().all(|d| d.status == Some(200)), "all acknowledged: {deliveries:?}");

    let counts = unread(&app, "buyer_x", &["shop_a", "shop_b", "shop_c"]).await;
    // shop_a: 6 sent, 3 read (t, t+1000, t+2000), 1 recalled → 2.
    assert_eq!(counts["unread"], json!({"shop_a": 2, "shop_b": 3, "shop_c": 0}));
    assert_eq!(counts["total"], 5);
    assert_eq!(unread_from(&app, "shop_a", "buyer_x").await, 1);
}

/// Not store-dependent: the body limit applies before anything is read or verified.
#[tokio::test]
async fn a_body_over_one_mebibyte_is_refused_with_413() {
    let app = spawn(Store::Embedded).await;
    let filler = "x".repeat(1024 * 1024);
    let body = serde_json::to_vec(&json!({"eventType": "1", "body": filler})).unwrap();
    assert!(body.len() > 1024 * 1024);
    let headers = signed_headers(&app, &body, now_millis());
    let response = post_raw(&app, body, &headers).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // Just under the limit passes the size check (and is acknowledged as an unknown message).
    let filler = "y".repeat(1024 * 1024 - 100);
    let body = serde_json::to_vec(&json!({"eventType": "11", "body": filler})).unwrap();
    let headers = signed_headers(&app, &body, now_millis());
    expect_ack(post_raw(&app, body, &headers).await).await;
}

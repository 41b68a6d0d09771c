//! Signed callbacks to a receiver started by the test: signatures, event shapes, retries,
//! duplicate and shuffled delivery.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::StatusCode;
use imbridge_netease::sign;
use imbridge_netease::sim::{CallbackMode, ClientMessage, DeliveryState, SimConfig};
use serde_json::{json, Value};

use crate::helpers::{config, unique, Received, Receiver, Sim, KEY, SECRET};

async fn sim_with_receiver() -> (Sim, Receiver) {
    let receiver = Receiver::default();
    let url = receiver.start().await;
    let sim = Sim::start_with(SimConfig { callback_url: Some(url), ..config() }).await;
    (sim, receiver)
}

async fn flush(sim: &Sim) {
    let (status, body) = sim.post("/__sim/callbacks/flush", json!({})).await;
    assert_eq!(status, 200, "{body}");
}

/// Checks a callback the way the bridge must: MD5 over the raw bytes, then the CheckSum.
fn assert_signed(r: &Received) {
    let header =
        |name: &str| r.headers.get(name).unwrap_or_else(|| panic!("{name} header")).to_str().unwrap().to_owned();
    assert_eq!(header("content-type"), "application/json;charset=utf-8");
    assert_eq!(header("AppKey"), KEY);
    let md5 = header("MD5");
    assert_eq!(md5, sign::body_md5(&r.body));
    let cur_time = header("CurTime");
    let ms: u64 = cur_time.parse().unwrap();
    assert!(ms.abs_diff(sign::now_millis()) < 60_000, "CurTime is in milliseconds: {cur_time}");
    assert_eq!(header("CheckSum"), sign::callback_checksum(SECRET, &md5, &cur_time));
}

async fn two_accounts(sim: &Sim) -> (String, String) {
    let (a, b) = (unique("cb"), unique("cb"));
    sim.call("user/create", &[("accid", &a), ("name", "Alice")]).await;
    sim.create(&b).await;
    (a, b)
}

#[tokio::test]
async fn send_msg_is_copied_as_a_signed_person_message() {
    let (sim, receiver) = sim_with_receiver().await;
    let (a, b) = two_accounts(&sim).await;
    let form = [
        ("from", a.as_str()),
        ("ope", "0"),
        ("to", b.as_str()),
        ("type", "0"),
        ("body", r#"{"msg":"hello"}"#),
        ("ext", "e1"),
    ];
    let reply = sim.call("msg/sendMsg", &form).await;
    flush(&sim).await;

    let all = receiver.all();
    let chat: Vec<_> = all.iter().filter(|r| r.json()["convType"] == "PERSON").collect();
    assert_eq!(chat.len(), 1);
    assert_signed(chat[0]);
    let e = chat[0].json();
    assert_eq!(e["eventType"], "1");
    assert_eq!((e["fromAccount"].as_str(), e["to"].as_str()), (Some(a.as_str()), Some(b.as_str())));
    assert_eq!(e["fromNick"], "Alice");
    assert_eq!(e["fromClientType"], "REST");
    assert_eq!(e["msgType"], "TEXT");
    assert_eq!(e["body"], "hello");
    assert_eq!(e["ext"], "e1");
    assert_eq!(e["resendFlag"], "0");
    for absent in ["ip", "port", "antispam", "fromDeviceId", "attach"] {
        assert!(e.get(absent).is_none(), "a REST message has no {absent}: {e}");
    }
    assert_eq!(e["msgidServer"], reply["data"]["msgid"].as_u64().unwrap().to_string());
    assert_eq!(e["msgTimestamp"], reply["data"]["timetag"].as_u64().unwrap().to_string());
    assert!(!e["msgidClient"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn notifications_are_copied_as_custom_person_messages() {
    let (sim, receiver) = sim_with_receiver().await;
    let (a, b) = two_accounts(&sim).await;
    let form = [
        ("from", a.as_str()),
        ("msgtype", "0"),
        ("to", b.as_str()),
        ("attach", r#"{"k":"v"}"#),
        ("pushcontent", "you have news"),
    ];
    sim.call("msg/sendAttachMsg", &form).await;
    let list = json!([b, "ghost"]).to_string();
    let batch = [("fromAccid", a.as_str()), ("toAccids", list.as_str()), ("attach", "batch")];
    sim.call("msg/sendBatchAttachMsg", &batch).await;
    let team = [("from", a.as_str()), ("msgtype", "1"), ("to", "9001"), ("attach", "team")];
    sim.call("msg/sendAttachMsg", &team).await;
    flush(&sim).await;

    let custom: Vec<Value> =
        receiver.bodies().into_iter().filter(|e| e["msgType"].as_str().unwrap().starts_with("CUSTOM_")).collect();
    assert_eq!(custom.len(), 3, "one per registered recipient: {custom:?}");
    assert_eq!(
        (custom[0]["convType"].as_str(), custom[0]["msgType"].as_str()),
        (Some("CUSTOM_PERSON"), Some("CUSTOM_P2P_MSG"))
    );
    assert_eq!(custom[0]["attach"], r#"{"k":"v"}"#);
    assert_eq!(
        (custom[0]["customSafeFlag"].as_str(), custom[0]["customApnsText"].as_str()),
        (Some("1"), Some("you have news"))
    );
    for absent in ["msgidClient", "resendFlag", "fromDeviceId", "fromClientType"] {
        assert!(custom[0].get(absent).is_none(), "a custom notification has no {absent}");
    }
    assert_eq!(custom[1]["attach"], "batch");
    assert_eq!(custom[1]["to"], b);
    assert_eq!(
        (custom[2]["convType"].as_str(), custom[2]["msgType"].as_str()),
        (Some("CUSTOM_TEAM"), Some("CUSTOM_TEAM_MSG"))
    );
    let ids: std::collections::BTreeSet<_> =
        custom.iter().map(|e| e["msgidServer"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 3, "msgidServer is unique");
}

#[tokio::test]
async fn friend_changes_are_copied_as_system_notifications() {
    let (sim, receiver) = sim_with_receiver().await;
    let (a, b) = two_accounts(&sim).await;
    sim.call("friend/add", &[("accid", &a), ("faccid", &b), ("type", "1")]).await;
    sim.call("friend/delete", &[("accid", &a), ("faccid", &b)]).await;
    flush(&sim).await;
    let bodies = receiver.bodies();
    assert_eq!(bodies[0]["attach"], r#"{"vt":1}"#, "FRIEND_ADD attach is {{\"vt\":type}} as a string");
    let types: Vec<_> = bodies
        .iter()
        .map(|e| (e["convType"].as_str().unwrap().to_owned(), e["msgType"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        types,
        [
            ("CUSTOM_PERSON".to_owned(), "FRIEND_ADD".to_owned()),
            ("CUSTOM_PERSON".to_owned(), "FRIEND_DELETE".to_owned())
        ]
    );
}

#[tokio::test]
async fn simulated_clients_produce_messages_receipts_recalls_and_presence() {
    let (sim, receiver) = sim_with_receiver().await;
    let (status, sent) = sim
        .post(
            "/__sim/clients/message",
            json!({"from": "Buyer_1", "to": "shop_1", "body": "is it in stock?", "timestamp": 1_700_000_000_000_u64}),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    let msgid = sent["msgidServer"].as_str().unwrap().to_owned();
    let (status, _) = sim
        .post("/__sim/clients/read", json!({"reader": "shop_1", "peer": "buyer_1", "timestamp": 1_700_000_000_001_u64}))
        .await;
    assert_eq!(status, 200);
    let (status, _) = sim
        .post(
            "/__sim/clients/recall",
            json!({"msgid": msgid.parse::<u64>().unwrap(), "from": "buyer_1", "to": "shop_1"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) =
        sim.post("/__sim/clients/login", json!({"accid": "shop_1", "deviceId": "d1", "clientType": "ios"})).await;
    assert_eq!(status, 200);
    let (status, _) =
        sim.post("/__sim/clients/logout", json!({"accid": "shop_1", "clientType": "IOS", "timestamp": 5})).await;
    assert_eq!(status, 200);
    flush(&sim).await;

    let all = receiver.all();
    all.iter().for_each(assert_signed);
    let events: Vec<Value> = all.iter().map(Received::json).collect();
    let types: Vec<_> = events.iter().map(|e| e["eventType"].as_str().unwrap()).collect();
    assert_eq!(types, ["1", "30", "7", "2", "3"], "delivered in order");

    let m = &events[0];
    assert_eq!((m["convType"].as_str(), m["msgType"].as_str()), (Some("PERSON"), Some("TEXT")));
    assert_eq!((m["fromAccount"].as_str(), m["to"].as_str()), (Some("buyer_1"), Some("shop_1")));
    assert_eq!(m["body"], "is it in stock?");
    assert_eq!(m["msgTimestamp"], "1700000000000");
    assert_eq!(m["msgidServer"], msgid.as_str());
    assert_eq!((m["ip"].as_str(), m["fromClientType"].as_str()), (Some("127.0.0.1"), Some("AOS")));
    assert!(m["port"].as_str().is_some_and(|p| p.parse::<u16>().is_ok()), "port: {m}");
    assert!(m.get("antispam").is_none(), "not flagged, so no antispam field");

    let objects: Value =
        serde_json::from_str(events[1]["objects"].as_str().expect("objects is a JSON string")).unwrap();
    assert_eq!(objects[0]["fromAccount"], "shop_1", "fromAccount is the reader");
    assert_eq!(objects[0]["toAccount"], "buyer_1");
    assert_eq!(objects[0]["timestamp"], 1_700_000_000_001_u64);
    assert_eq!(objects[0]["msgidClient"], m["msgidClient"], "the newest message read");

    assert_eq!(events[2]["msgId"], msgid.as_str());
    assert_eq!(events[2]["sendTime"], "1700000000000");
    assert_eq!(events[2]["clientId"], m["msgidClient"], "the recalled message's client id");
    assert_eq!(events[2]["selfMsg"], "撤回了一条消息");
    assert!(events[2].get("attach").is_none(), "the note is selfMsg, not attach");
    assert_eq!((events[3]["accid"].as_str(), events[3]["deviceId"].as_str()), (Some("shop_1"), Some("d1")));
    assert_eq!((events[3]["clientType"].as_str(), events[3]["code"].as_str()), (Some("iOS"), Some("200")));
    // The logout sample: numbers for code and timestamp, no deviceId when the client gave none.
    assert_eq!((events[4]["timestamp"].as_u64(), events[4]["logOutReason"].as_u64()), (Some(5), Some(1)));
    assert_eq!((events[4]["code"].as_u64(), events[4]["clientType"].as_str()), (Some(200), Some("iOS")));
    assert!(events[4].get("deviceId").is_none(), "{}", events[4]);
}

#[tokio::test]
async fn client_input_is_checked() {
    let (sim, receiver) = sim_with_receiver().await;
    let (status, body) = sim.post("/__sim/clients/message", json!({"from": "bad id", "to": "b"})).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid")));
    let (status, _) = sim.post("/__sim/clients/message", json!({"from": "a", "to": "b", "colour": 1})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "unknown fields are refused");
    let (status, _) =
        sim.post("/__sim/clients/message", json!({"from": "a", "to": "b", "fromClientType": "phone"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "client types are NetEase's");
    let (status, body) =
        sim.post("/__sim/clients/login", json!({"accid": "a", "deviceId": "d", "token": "nope"})).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("login_refused")));
    flush(&sim).await;
    assert!(receiver.all().is_empty());
}

#[tokio::test]
async fn a_failing_receiver_is_retried() {
    let (sim, receiver) = sim_with_receiver().await;
    receiver.answers.lock().unwrap().extend([StatusCode::SERVICE_UNAVAILABLE, StatusCode::UNAUTHORIZED]);
    sim.post("/__sim/clients/login", json!({"accid": "a", "deviceId": "d"})).await;
    flush(&sim).await;
    assert_eq!(receiver.all().len(), 3, "two refusals, then accepted");
    let deliveries = sim.state().callbacks();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(
        (deliveries[0].attempts, deliveries[0].status, deliveries[0].state),
        (3, Some(200), DeliveryState::Delivered)
    );
    let listed = sim.get("/__sim/callbacks").await;
    assert_eq!(listed[0]["attempts"], 3);
    assert_eq!(listed[0]["event_type"], "2");
}

#[tokio::test]
async fn duplicate_mode_delivers_every_event_twice() {
    let (sim, receiver) = sim_with_receiver().await;
    let (status, _) = sim.post("/__sim/callbacks/mode", json!({"duplicate": true})).await;
    assert_eq!(status, 200);
    for i in 0..3 {
        let m = ClientMessage { from: "a".into(), to: "b".into(), body: format!("m{i}"), ..ClientMessage::default() };
        sim.state().client_message(m).await.unwrap();
    }
    flush(&sim).await;
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for r in receiver.all() {
        assert_signed(&r);
        *seen.entry(r.json()["msgidServer"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    assert_eq!(seen.len(), 3);
    assert!(seen.values().all(|n| *n == 2), "{seen:?}");
}

#[tokio::test]
async fn shuffle_mode_holds_events_and_releases_them_in_another_order() {
    let (sim, receiver) = sim_with_receiver().await;
    sim.state().set_callback_mode(CallbackMode { duplicate: true, shuffle: true, shuffle_window: 64 });
    let mut sent = vec![];
    for i in 0..20 {
        let m = ClientMessage { from: "a".into(), to: "b".into(), body: format!("m{i}"), ..ClientMessage::default() };
        sent.push(sim.state().client_message(m).await.unwrap().msgid_server.to_string());
    }
    // Fewer events than the window: held until flush releases them (or 250 ms pass without one).
    assert!(sim.state().flush_callbacks(Duration::from_secs(10)).await);

    let received: Vec<String> =
        receiver.bodies().iter().map(|e| e["msgidServer"].as_str().unwrap().to_owned()).collect();
    assert_eq!(received.len(), 40);
    let mut expected: Vec<String> = sent.iter().flat_map(|id| [id.clone(), id.clone()]).collect();
    let mut sorted = received.clone();
    sorted.sort();
    expected.sort();
    assert_eq!(sorted, expected, "every event twice, nothing else");
    let in_order: Vec<String> = sent.iter().flat_map(|id| [id.clone(), id.clone()]).collect();
    assert_ne!(received, in_order, "shuffled (the chance of send order is negligible)");
}

#[tokio::test]
async fn raw_events_and_url_changes() {
    let (sim, receiver) = sim_with_receiver().await;
    let (status, _) = sim.post("/__sim/callbacks/raw", json!({"eventType": 83, "anything": [1, 2]})).await;
    assert_eq!(status, 200);
    flush(&sim).await;
    assert_eq!(receiver.bodies(), [json!({"eventType": 83, "anything": [1, 2]})]);
    assert_eq!(sim.state().callbacks()[0].event_type, "83");

    let (status, _) = sim.post("/__sim/callbacks/url", json!({"url": null})).await;
    assert_eq!(status, 200);
    sim.post("/__sim/clients/login", json!({"accid": "a", "deviceId": "d"})).await;
    flush(&sim).await;
    assert_eq!(receiver.all().len(), 1, "no URL, no callbacks");
    let (status, _) = sim.post("/__sim/callbacks/url", json!({"url": "not a url"})).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn only_flagged_messages_carry_antispam() {
    let (sim, receiver) = sim_with_receiver().await;
    for antispam in [false, true] {
        let (status, _) = sim
            .post("/__sim/clients/message", json!({"from": "a", "to": "b", "body": "x", "antispam": antispam}))
            .await;
        assert_eq!(status, 200);
    }
    flush(&sim).await;
    let flags: Vec<_> = receiver.bodies().iter().map(|e| e.get("antispam").cloned()).collect();
    assert_eq!(flags, [None, Some(json!("true"))]);
}

#[tokio::test]
async fn the_presence_fault_loses_login_and_logout_callbacks_only() {
    let (sim, receiver) = sim_with_receiver().await;
    let (status, body) = sim.post("/__sim/faults", json!({"lose_presence_percent": 101})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = sim.post("/__sim/faults", json!({"lose_presence_percent": 100})).await;
    assert_eq!(status, 200, "{body}");
    sim.post("/__sim/clients/login", json!({"accid": "a"})).await;
    sim.post("/__sim/clients/message", json!({"from": "a", "to": "b"})).await;
    sim.post("/__sim/clients/logout", json!({"accid": "a"})).await;
    flush(&sim).await;
    let posted: Vec<_> = receiver.bodies().iter().map(|e| e["eventType"].clone()).collect();
    assert_eq!(posted, [json!("1")], "only the message is posted");
    let states: Vec<_> = sim.state().callbacks().iter().map(|d| (d.event_type.clone(), d.state)).collect();
    assert_eq!(
        states,
        [
            ("2".to_owned(), DeliveryState::Lost),
            ("1".to_owned(), DeliveryState::Delivered),
            ("3".to_owned(), DeliveryState::Lost)
        ]
    );

    // A share: some lost, some posted.
    sim.state().set_faults(imbridge_netease::sim::Faults::lose_presence(50));
    for i in 0..200_u64 {
        sim.post("/__sim/clients/login", json!({"accid": "a", "timestamp": i})).await;
    }
    flush(&sim).await;
    let posted = receiver.all().len() - 1;
    assert!((50..150).contains(&posted), "{posted} of 200 posted at 50 % loss");
}

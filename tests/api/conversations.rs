//! The conversation layer over HTTP, on the embedded store and on MongoDB: a buyer chatting with
//! three shops through the simulator (what NetEase posts, signed, to the real callback route).

use std::time::{Duration, Instant};

use imbridge_netease::sign::now_millis;
use imbridge_netease::sim::{ClientMessage, ClientRead, ClientRecall, SimState};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::callbacks::spawn;
use crate::helpers::{expect_error, expect_json, spawn_app, Store, TestApp};

on_both_stores!(
    a_buyer_with_three_shops,
    an_unread_only_walk_keeps_the_moment_it_began,
    history_pages_neither_skip_nor_repeat,
    mark_read_tells_netease_once
);

/// An app on `store` with `accounts` created, its simulator, and a moment ten minutes ago to send
/// messages from.
async fn chatting(store: Store, accounts: &[&str]) -> (TestApp, SimState, u64) {
    let app = spawn(store).await;
    for account in accounts {
        app.create_account(account, None).await;
    }
    let sim = app.sim.as_ref().unwrap().state();
    (app, sim, now_millis() - 600_000)
}

async fn send(sim: &SimState, from: &str, to: &str, at: u64, body: &str) -> String {
    let message = ClientMessage {
        from: from.into(),
        to: to.into(),
        body: body.into(),
        timestamp: Some(at),
        ..ClientMessage::default()
    };
    sim.client_message(message).await.expect("the simulator takes the message").msgid_server.to_string()
}

/// `reader` reads its chat with `peer` up to `at` (a read receipt through the simulator).
async fn read(sim: &SimState, reader: &str, peer: &str, at: u64) {
    let receipt = ClientRead { reader: reader.into(), peer: peer.into(), timestamp: Some(at), ..ClientRead::default() };
    sim.client_read(receipt).await.expect("the simulator takes the receipt");
}

async fn get(app: &TestApp, path: &str) -> Value {
    expect_json(app.get(path).await, StatusCode::OK).await
}

/// GET `path` until `done` holds (callbacks arrive asynchronously), at most 20 s.
async fn eventually(app: &TestApp, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let body = get(app, path).await;
        if done(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{path} never got there: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_buyer_with_three_shops(store: Store) {
    let (app, sim, t) = chatting(store, &["buyer_c", "shop_c1", "shop_c2", "shop_c3"]).await;
    send(&sim, "shop_c1", "buyer_c", t + 1_000, "order o-1 shipped").await;
    send(&sim, "shop_c2", "buyer_c", t + 2_000, "hello from 2").await;
    send(&sim, "shop_c2", "buyer_c", t + 2_500, "still there?").await;
    send(&sim, "buyer_c", "shop_c3", t + 3_000, "is this in stock?").await;
    let last_of_1 = send(&sim, "shop_c1", "buyer_c", t + 4_000, "and delivered").await;
    // The seller of shop 3 reads the buyer's question; the buyer reads shop 2.
    read(&sim, "shop_c3", "buyer_c", t + 3_500).await;

    let inbox = eventually(&app, "/v1/conversations?accid=buyer_c", |b| {
        b["conversations"].as_array().is_some_and(|c| c.len() == 3)
            && b["total_unread"] == 4
            && b["conversations"][1]["peer_read_at"] == t + 3_500
    })
    .await;
    let peers: Vec<&str> =
        inbox["conversations"].as_array().unwrap().iter().map(|c| c["peer"].as_str().unwrap()).collect();
    assert_eq!(peers, ["shop_c1", "shop_c3", "shop_c2"], "newest activity first: {inbox}");
    let first = &inbox["conversations"][0];
    assert_eq!(first["last_message"]["msgid_server"], last_of_1.as_str());
    assert_eq!(first["last_message"]["body"], "and delivered");
    assert_eq!(first["last_message"]["from"], "shop_c1");
    assert_eq!(first["last_message"]["recalled"], false);
    // The buyer's own last message is the last of the shop-3 conversation; the seller has read it.
    assert_eq!(inbox["conversations"][1]["last_message"]["from"], "buyer_c");
    assert_eq!(inbox["conversations"][1]["peer_read_at"], t + 3_500);
    assert_eq!(inbox["conversations"][2]["peer_read_at"], Value::Null);

    // Unread per conversation is exactly /v1/unread's.
    let unread = get(&app, "/v1/unread?accid=buyer_c&peers=shop_c1,shop_c2,shop_c3").await;
    for conversation in inbox["conversations"].as_array().unwrap() {
        let peer = conversation["peer"].as_str().unwrap();
        assert_eq!(conversation["unread"], unread["unread"][peer], "{peer}");
    }
    assert_eq!(inbox["total_unread"], unread["total"]);

    // Pages of one.
    let page1 = get(&app, "/v1/conversations?accid=buyer_c&limit=1").await;
    let cursor = page1["next_cursor"].as_str().unwrap().to_owned();
    // A new message meanwhile moves shop 2 to the front; the walk still lists each shop once, in
    // the order the walk began with.
    send(&sim, "shop_c2", "buyer_c", now_millis(), "hurry!").await;
    eventually(&app, "/v1/unread?accid=buyer_c&peers=shop_c2", |b| b["total"] == 3).await;
    let page2 = get(&app, &format!("/v1/conversations?accid=buyer_c&limit=1&cursor={cursor}")).await;
    let cursor = page2["next_cursor"].as_str().unwrap().to_owned();
    let page3 = get(&app, &format!("/v1/conversations?accid=buyer_c&limit=1&cursor={cursor}")).await;
    let walked: Vec<&str> =
        [&page1, &page2, &page3].iter().map(|p| p["conversations"][0]["peer"].as_str().unwrap()).collect();
    assert_eq!(walked, ["shop_c1", "shop_c3", "shop_c2"]);
    assert_eq!(page3["next_cursor"], Value::Null);
    assert_eq!(page3["conversations"][0]["last_message"]["body"], "hurry!", "shown with its newest message");
    let fresh = get(&app, "/v1/conversations?accid=buyer_c&limit=1").await;
    assert_eq!(fresh["conversations"][0]["peer"], "shop_c2", "a new walk sees the new order");

    // Only conversations with unread messages.
    let unread_only = get(&app, "/v1/conversations?accid=buyer_c&unread_only=true").await;
    let peers: Vec<&str> =
        unread_only["conversations"].as_array().unwrap().iter().map(|c| c["peer"].as_str().unwrap()).collect();
    assert_eq!(peers, ["shop_c2", "shop_c1"]);

    // A recalled last message is shown recalled.
    sim.client_recall(ClientRecall {
        from: "shop_c1".into(),
        to: "buyer_c".into(),
        msgid: last_of_1.parse().unwrap(),
        ..ClientRecall::default()
    })
    .await
    .unwrap();
    let inbox = eventually(&app, "/v1/conversations?accid=buyer_c&unread_only=true", |b| {
        b["conversations"].as_array().unwrap().iter().any(|c| c["last_message"]["recalled"] == true && c["unread"] == 1)
    })
    .await;
    let shop1 = inbox["conversations"].as_array().unwrap().iter().find(|c| c["peer"] == "shop_c1").unwrap();
    assert_eq!((shop1["unread"].clone(), shop1["last_message"]["msgid_server"].clone()), (json!(1), json!(last_of_1)));

    // Export: every stored message of the pair, oldest first, every field.
    let url =
        format!("{}/v1/messages/export?accid=buyer_c&peer=shop_c2&from={}&to={}", app.address, t, now_millis() + 1);
    let response = app.client.get(url).bearer_auth(app.api_key.as_deref().unwrap()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let text = response.text().await.unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[0]["body"], "hello from 2");
    assert!(lines.iter().all(|l| l["fromClientType"].is_string() && l["msgidClient"].is_string() && l["state"] == 0));
}

/// A walk of `unread_only=true` pages stands at the owner's newest activity when it began, not at
/// the newest unread conversation: a read conversation newer than every unread one that becomes
/// unread during the walk stood above the first page then, so this walk does not list it (the next
/// one does, first).
async fn an_unread_only_walk_keeps_the_moment_it_began(store: Store) {
    let (app, sim, t) = chatting(store, &["buyer_w", "shop_wx", "shop_wu1", "shop_wu2"]).await;
    send(&sim, "shop_wx", "buyer_w", t + 80, "x, early").await;
    send(&sim, "shop_wu2", "buyer_w", t + 100, "u2").await;
    send(&sim, "shop_wu1", "buyer_w", t + 200, "u1").await;
    send(&sim, "shop_wx", "buyer_w", t + 300, "x, newest").await;
    read(&sim, "buyer_w", "shop_wx", t + 300).await;
    let path = "/v1/conversations?accid=buyer_w&unread_only=true&limit=1";
    // Callbacks arrive in no set order: wait for all four messages and the receipt.
    let inbox = eventually(&app, "/v1/conversations?accid=buyer_w", |b| {
        b["total_unread"] == 2
            && b["conversations"].as_array().is_some_and(|c| c.len() == 3)
            && b["conversations"][0]["last_message"]["sent_at"] == t + 300
    })
    .await;
    assert_eq!(inbox["conversations"][0]["peer"], "shop_wx", "the newest activity is a read conversation");
    let page1 = get(&app, path).await;
    assert_eq!(page1["conversations"][0]["peer"], "shop_wu1");
    // Now the newest conversation gets an unread message.
    send(&sim, "shop_wx", "buyer_w", now_millis(), "x, new").await;
    eventually(&app, "/v1/unread?accid=buyer_w&peers=shop_wx", |b| b["total"] == 1).await;

    let mut walked = vec![page1["conversations"][0]["peer"].as_str().unwrap().to_owned()];
    let mut cursor = page1["next_cursor"].as_str().map(str::to_owned);
    while let Some(c) = cursor {
        let page = get(&app, &format!("{path}&cursor={c}")).await;
        walked.extend(page["conversations"].as_array().unwrap().iter().map(|c| c["peer"].as_str().unwrap().to_owned()));
        cursor = page["next_cursor"].as_str().map(str::to_owned);
    }
    assert_eq!(walked, ["shop_wu1", "shop_wu2"], "shop_wx stood above this walk's first page");
    let fresh = get(&app, path).await;
    assert_eq!(fresh["conversations"][0]["peer"], "shop_wx", "a new walk lists it first");
}

async fn history_pages_neither_skip_nor_repeat(store: Store) {
    let (app, sim, t) = chatting(store, &["buyer_h", "shop_h"]).await;
    let mut sent = Vec::new();
    for i in 0..23u64 {
        let (from, to) = if i % 3 == 0 { ("buyer_h", "shop_h") } else { ("shop_h", "buyer_h") };
        // Two messages share each timestamp: the key orders them.
        sent.push(send(&sim, from, to, t + (i / 2) * 1000, &format!("m{i}")).await);
    }
    eventually(&app, "/v1/messages?accid=buyer_h&peer=shop_h&limit=200", |b| {
        b["messages"].as_array().unwrap().len() == 23
    })
    .await;

    let mut walked = Vec::new();
    let mut path = "/v1/messages?accid=buyer_h&peer=shop_h&limit=5".to_owned();
    loop {
        let page = get(&app, &path).await;
        let messages = page["messages"].as_array().unwrap();
        assert!(messages.len() <= 5);
        walked.extend(messages.iter().map(|m| m["msgid_server"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/messages?accid=buyer_h&peer=shop_h&limit=5&before={cursor}"),
            None => break,
        }
    }
    let mut expected = sent.clone();
    expected.sort_by_key(|k| {
        let i = sent.iter().position(|s| s == k).unwrap() as u64;
        (t + (i / 2) * 1000, k.clone())
    });
    expected.reverse();
    assert_eq!(walked, expected, "newest first, every message once");

    // Catching up with `after`: only what is newer, newest first.
    let newest = get(&app, "/v1/messages?accid=buyer_h&peer=shop_h&limit=1").await;
    let oldest_page = get(&app, &format!("/v1/messages?accid=shop_h&peer=buyer_h&limit=20&after={}", "0:0")).await;
    assert_eq!(oldest_page["messages"].as_array().unwrap().len(), 20);
    assert_eq!(oldest_page["messages"][0]["msgid_server"], expected[3].as_str(), "the 20 oldest, newest first");
    let m = &newest["messages"][0];
    assert_eq!((m["from"].clone(), m["type"].clone()), (json!("shop_h"), json!("TEXT")));
    for bad in ["before=abc", "after=1", "limit=0", "limit=201"] {
        let response = app.get(&format!("/v1/messages?accid=buyer_h&peer=shop_h&{bad}")).await;
        expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", Some(bad.split('=').next().unwrap()))
            .await;
    }
}

async fn mark_read_tells_netease_once(store: Store) {
    let (app, sim, t) = chatting(store, &["buyer_r", "shop_r"]).await;
    for i in 0..3 {
        send(&sim, "shop_r", "buyer_r", t + i * 1000, "unread").await;
    }
    eventually(&app, "/v1/unread?accid=buyer_r&peers=shop_r", |b| b["total"] == 3).await;

    let marked = expect_json(app.post_empty("/v1/conversations/buyer_r/SHOP_R/read").await, StatusCode::OK).await;
    assert_eq!((marked["accid"].clone(), marked["peer"].clone()), (json!("buyer_r"), json!("shop_r")));
    assert_eq!((marked["unread"].clone(), marked["read_up_to"].clone()), (json!(0), json!(t + 2000)));
    let receipt = marked["receipt"].as_str().expect("a receipt through the outbox").to_owned();
    assert_eq!(get(&app, "/v1/unread?accid=buyer_r&peers=shop_r").await["total"], 0);
    let delivered = app.settled_notification(&receipt).await;
    assert_eq!(delivered["status"], "delivered", "{delivered}");
    assert_eq!(app.sim_calls("msg/markReadMsg").await, 1, "NetEase was told");

    // Again: nothing new to report, the same receipt, no second call.
    let again = expect_json(app.post_empty("/v1/conversations/buyer_r/shop_r/read").await, StatusCode::OK).await;
    assert_eq!(again["receipt"], receipt.as_str());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.sim_calls("msg/markReadMsg").await, 1, "a second mark-read is a no-op");

    // `up_to` never moves the watermark back.
    let back =
        expect_json(app.post("/v1/conversations/buyer_r/shop_r/read", &json!({"up_to": t})).await, StatusCode::OK)
            .await;
    assert_eq!(back["read_up_to"], t + 2000);
}

#[tokio::test]
async fn bad_conversation_requests_name_the_field() {
    let app = spawn_app().await;
    let invalid = |field: &'static str| {
        move |response| async move {
            expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", Some(field)).await
        }
    };
    invalid("accid")(app.get("/v1/conversations").await).await;
    invalid("limit")(app.get("/v1/conversations?accid=b&limit=201").await).await;
    invalid("cursor")(app.get("/v1/conversations?accid=b&cursor=nope").await).await;
    invalid("peer")(app.get("/v1/messages?accid=b").await).await;
    invalid("peer")(app.get("/v1/messages?accid=b&peer=B").await).await;
    invalid("to")(app.get("/v1/messages/export?accid=b&peer=s&from=10").await).await;
    invalid("to")(app.get("/v1/messages/export?accid=b&peer=s&from=10&to=5").await).await;
    let too_long = 94 * 24 * 3600 * 1000_i64;
    invalid("to")(app.get(&format!("/v1/messages/export?accid=b&peer=s&from=0&to={too_long}")).await).await;
    invalid("peer")(app.post_empty("/v1/conversations/b/b/read").await).await;
    let response = app.get("/v1/conversations?accid=b&colour=red").await;
    expect_error(response, StatusCode::BAD_REQUEST, "unknown_field", Some("colour")).await;
    let raw =
        app.client.post(format!("{}/v1/conversations/b/s/read", app.address)).bearer_auth(crate::helpers::API_KEY);
    let response = raw.body(r#"{"up_to":1}"#).send().await.unwrap();
    expect_error(response, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", None).await;
    // A body, when there is one, is read like every other JSON body.
    let raw =
        app.client.post(format!("{}/v1/conversations/b/s/read", app.address)).bearer_auth(crate::helpers::API_KEY);
    let response = raw.header("Content-Type", "application/json").body("{\"up_to\":").send().await.unwrap();
    expect_error(response, StatusCode::BAD_REQUEST, "invalid_json", None).await;
    let response = app.post("/v1/conversations/b/s/read", &json!({"up_to": 1, "colour": "red"})).await;
    expect_error(response, StatusCode::BAD_REQUEST, "unknown_field", Some("colour")).await;
    let response = app.post("/v1/conversations/b/s/read", &json!({"up_to": "soon"})).await;
    expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", Some("up_to")).await;
}

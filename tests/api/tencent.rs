//! What only Tencent has: its callback signature (over the query string, not the body), UserSig
//! credentials, notifications as custom messages that never count as unread, and the in-process
//! Tencent sandbox. (History through `admin_getroammsg` is tested with NetEase's in `providers.rs`.)

use std::time::{SystemTime, UNIX_EPOCH};

use imbridge::config::ProviderKind;
use imbridge_tencent::sign::callback_sign;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{expect_error, expect_json, Backend, Spawn, Store, TestApp, CALLBACK_TOKEN, SDKAPPID};

on_both_stores!(a_signed_callback_is_stored_once_and_forged_or_stale_ones_are_not);

async fn spawn(store: Store) -> TestApp {
    Spawn::new(Backend::Sqlite).provider(ProviderKind::Tencent).store(store).start().await
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn after_send_msg(key: &str, text: &str) -> Value {
    json!({"CallbackCommand": "C2C.CallbackAfterSendMsg", "From_Account": "shop_1", "To_Account": "buyer_01",
        "MsgSeq": 48374, "MsgRandom": 2837546, "MsgTime": now_secs(), "MsgKey": key, "OnlineOnlyFlag": 0,
        "SendMsgResult": 0, "ErrorInfo": "send msg succeed", "UnreadMsgNum": 1,
        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}], "CloudCustomData": ""})
}

/// POST a callback with the query string Tencent would send, signed with `token` at `request_time`.
async fn post_callback(
    app: &TestApp,
    sdkappid: u64,
    token: &str,
    request_time: u64,
    body: &Value,
) -> reqwest::Response {
    let sign = callback_sign(token, &request_time.to_string());
    let url = format!(
        "{}/callbacks/tencent?SdkAppid={sdkappid}&CallbackCommand=C2C.CallbackAfterSendMsg&contenttype=json\
         &ClientIP=10.0.0.1&OptPlatform=iOS&Sign={sign}&RequestTime={request_time}",
        app.address
    );
    app.client.post(url).json(body).send().await.unwrap()
}

async fn unread(app: &TestApp) -> i64 {
    let got = expect_json(app.get("/v1/unread?accid=buyer_01&peers=shop_1").await, StatusCode::OK).await;
    got["unread"]["shop_1"].as_i64().unwrap()
}

async fn a_signed_callback_is_stored_once_and_forged_or_stale_ones_are_not(store: Store) {
    let app = spawn(store).await;
    let now = now_secs();
    let body = after_send_msg("144115198_2837546_1764547200", "hello");

    let response = post_callback(&app, SDKAPPID, CALLBACK_TOKEN, now, &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""}));
    assert_eq!(unread(&app).await, 1);

    // The body is not signed: a replay inside the window, even with another body, is the same
    // message (MsgKey) and changes nothing.
    let replay = after_send_msg("144115198_2837546_1764547200", "tampered");
    assert_eq!(post_callback(&app, SDKAPPID, CALLBACK_TOKEN, now, &replay).await.status(), StatusCode::OK);
    assert_eq!(unread(&app).await, 1);
    let chat = expect_json(app.get("/v1/messages?accid=buyer_01&peer=shop_1").await, StatusCode::OK).await;
    assert_eq!(chat["messages"].as_array().unwrap().len(), 1);
    assert_eq!(chat["messages"][0]["body"], "hello");

    // Forged, stale, from the future, for another app, unsigned: 401, nothing stored.
    // Times are taken at each request (a slow store must not move "now" under the test), and lie
    // well outside the 60 s window.
    let refused: [(u64, &str, i64); 4] = [
        (SDKAPPID, "wrong-token", 0),
        (SDKAPPID, CALLBACK_TOKEN, -90),
        (SDKAPPID, CALLBACK_TOKEN, 90),
        (SDKAPPID + 1, CALLBACK_TOKEN, 0),
    ];
    for (i, (sdkappid, token, offset)) in refused.into_iter().enumerate() {
        let body = after_send_msg(&format!("forged_{i}_1"), "forged");
        let at = now_secs().checked_add_signed(offset).unwrap();
        let response = post_callback(&app, sdkappid, token, at, &body).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "case {i}");
    }
    let unsigned =
        format!("{}/callbacks/tencent?SdkAppid={SDKAPPID}&CallbackCommand=C2C.CallbackAfterSendMsg", app.address);
    let response = app.client.post(unsigned).json(&after_send_msg("unsigned_1", "x")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unread(&app).await, 1);
    let chat = expect_json(app.get("/v1/messages?accid=buyer_01&peer=shop_1").await, StatusCode::OK).await;
    assert_eq!(chat["messages"].as_array().unwrap().len(), 1, "{chat}");

    // A failed send (SendMsgResult ≠ 0, e.g. a filtered word) is acknowledged, never counted.
    let mut failed = after_send_msg("failed_1", "bad word");
    failed["SendMsgResult"] = json!(80001);
    assert_eq!(post_callback(&app, SDKAPPID, CALLBACK_TOKEN, now_secs(), &failed).await.status(), StatusCode::OK);
    assert_eq!(unread(&app).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_are_custom_messages_kept_out_of_unread_and_retried_as_the_same_message() {
    let app = spawn(Store::Embedded).await;
    for account in ["shop_1", "buyer_01"] {
        app.create_account(account, None).await;
    }
    let faults = format!("{}/__sim/faults", app.sim_root.as_deref().unwrap());
    let injected =
        app.client.post(&faults).json(&json!({"fail_next": 1, "fail_code": 70500, "commands": ["openim/sendmsg"]}));
    assert_eq!(injected.send().await.unwrap().status(), StatusCode::OK);

    let body = json!({"from": "shop_1", "to": ["buyer_01"], "attach": {"type": "shipped"}, "payload": {"order": "o-1"},
        "push_content": "Your parcel has shipped"});
    let accepted = expect_json(app.post("/v1/notifications", &body).await, StatusCode::ACCEPTED).await;
    let settled = app.settled_notification(accepted["id"].as_str().unwrap()).await;
    assert_eq!(settled["status"], "delivered", "{settled}");
    assert_eq!(settled["attempts"], 2, "a transient 70500 is retried: {settled}");

    let landed = format!("{}/__sim/notifications", app.sim_root.as_deref().unwrap());
    let landed = expect_json(app.client.get(landed).send().await.unwrap(), StatusCode::OK).await;
    let landed = landed.as_array().unwrap();
    assert_eq!(landed.len(), 1, "{landed:?}");
    let record = &landed[0];
    // It carries the MsgSeq/MsgRandom fixed by the delivery's request id, the same on every attempt.
    let request_id = settled["deliveries"][0]["request_id"].as_str().unwrap();
    let (seq, random) = imbridge_tencent::provider::msg_seq_random(request_id);
    assert_eq!((record["msg_seq"].as_u64(), record["msg_random"].as_u64()), (Some(seq.into()), Some(random.into())));
    assert_eq!(record["send_msg_control"], json!(["NoUnread", "NoLastMsg"]));
    assert_eq!(record["body"][0]["MsgType"], "TIMCustomElem");
    assert_eq!(record["body"][0]["MsgContent"]["Desc"], "Your parcel has shipped");
    assert_eq!(record["body"][0]["MsgContent"]["Ext"], r#"{"order":"o-1"}"#);
    // The sendmsg callback comes back marked as ours: not a chat message, not unread.
    app.flush_callbacks().await;
    assert_eq!(unread(&app).await, 0);

    // A team notification: Tencent groups are not bridged. 501, nothing stored.
    let team = json!({"from": "shop_1", "team": "t-1", "attach": "x"});
    expect_error(
        app.post("/v1/notifications", &team).await,
        StatusCode::NOT_IMPLEMENTED,
        "not_supported_by_provider",
        None,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicated_and_shuffled_callbacks_converge() {
    let app = spawn(Store::Embedded).await;
    for account in ["shop_1", "buyer_01"] {
        app.create_account(account, None).await;
    }
    let mode = format!("{}/__sim/callbacks/mode", app.sim_root.as_deref().unwrap());
    let set = app.client.post(&mode).json(&json!({"duplicate": true, "shuffle": true}));
    assert_eq!(set.send().await.unwrap().status(), StatusCode::OK);
    for i in 0..5 {
        app.chat_message("shop_1", "buyer_01", &format!("m{i}")).await;
    }
    assert_eq!(unread(&app).await, 5);
    app.chat_read("buyer_01", "shop_1").await;
    assert_eq!(unread(&app).await, 0);
    let chat = expect_json(app.get("/v1/messages?accid=buyer_01&peer=shop_1").await, StatusCode::OK).await;
    assert_eq!(chat["messages"].as_array().unwrap().len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_simulates_tencent_in_process() {
    let mut spawn = Spawn::new(Backend::Sqlite).provider(ProviderKind::Tencent);
    spawn.external_sim = false;
    let app = spawn.start().await;
    assert!(app.tencent.is_none(), "no external simulator");
    let chat = app.post("/v1/chats", &json!({"buyer": {"account": "buyer_01"}, "seller": {"account": "shop_1"}})).await;
    let chat = expect_json(chat, StatusCode::OK).await;
    assert!(app.sim_login("buyer_01", chat["buyer"]["token"].as_str().unwrap()).await);
    app.chat_message("shop_1", "buyer_01", "hi").await;
    assert_eq!(unread(&app).await, 1);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::OK, "the provider answers the readiness ping");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_sender_fails_the_notification_an_unknown_recipient_is_unregistered() {
    let app = spawn(Store::Embedded).await;
    app.create_account("buyer_01", None).await;
    // The sender was never imported (no account through imbridge): Tencent answers 20003, which
    // names no side; the recipient exists, so the send fails instead of blaming the recipient.
    let body = json!({"from": "shop_9", "to": ["buyer_01"], "attach": "x"});
    let accepted = expect_json(app.post("/v1/notifications", &body).await, StatusCode::ACCEPTED).await;
    let settled = app.settled_notification(accepted["id"].as_str().unwrap()).await;
    assert_eq!(settled["status"], "failed", "{settled}");
    assert_eq!(settled["last_code"], 20003, "{settled}");

    app.create_account("shop_9", None).await;
    let body = json!({"from": "shop_9", "to": ["ghost_1"], "attach": "x"});
    let accepted = expect_json(app.post("/v1/notifications", &body).await, StatusCode::ACCEPTED).await;
    let settled = app.settled_notification(accepted["id"].as_str().unwrap()).await;
    assert_eq!(settled["unregistered"], json!(["ghost_1"]), "{settled}");
}

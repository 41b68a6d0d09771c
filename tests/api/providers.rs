//! One behaviour, two providers: the same `/v1` scenarios against the NetEase simulator and the
//! Tencent simulator, driven through the simulators' chat clients (messages, reads, recalls,
//! logins), so that what a page sees does not depend on the provider behind it. Where a provider
//! truly differs (credential expiry, blocking), the test says how.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use imbridge::config::ProviderKind;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{expect_error, expect_json, Backend, Spawn, Store, TestApp};

on_both_providers!(
    accounts_get_a_credential_that_logs_in,
    chats_make_friends_at_the_provider,
    notifications_are_delivered_and_never_count_as_unread,
    chat_messages_become_unread_conversations_and_history,
    mark_read_clears_unread_and_tells_the_provider,
    recalls_and_presence_follow_the_chat_apps,
    routing_picks_the_agent_who_is_logged_in,
    an_unsigned_callback_is_refused_and_stores_nothing,
    blocking_is_supported_where_the_provider_has_it,
    backfill_imports_what_the_callbacks_missed_and_export_shows_it,
);

async fn spawn(provider: ProviderKind, store: Store) -> TestApp {
    Spawn::new(Backend::Sqlite).provider(provider).store(store).start().await
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

async fn unread(app: &TestApp, accid: &str, peer: &str) -> i64 {
    let got = expect_json(app.get(&format!("/v1/unread?accid={accid}&peers={peer}")).await, StatusCode::OK).await;
    got["unread"][peer].as_i64().expect("a count")
}

async fn messages(app: &TestApp, accid: &str, peer: &str) -> Vec<Value> {
    let got = expect_json(app.get(&format!("/v1/messages?accid={accid}&peer={peer}")).await, StatusCode::OK).await;
    got["messages"].as_array().cloned().unwrap_or_default()
}

async fn accounts_get_a_credential_that_logs_in(provider: ProviderKind, store: Store) {
    let app = spawn(provider, store).await;
    let created = app.create_account("Buyer_01", Some("Alice")).await;
    assert_eq!(created["accid"], "buyer_01");
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(app.sim_login("buyer_01", &token).await, "the credential logs in at the provider");
    assert!(!app.sim_login("buyer_01", "not-a-credential").await);

    let refreshed = expect_json(app.post_empty("/v1/accounts/buyer_01/token").await, StatusCode::OK).await;
    let fresh = refreshed["token"].as_str().unwrap();
    assert!(app.sim_login("buyer_01", fresh).await);
    match provider {
        // A NetEase token never expires, and a refresh revokes the old one.
        ProviderKind::Netease => {
            assert_eq!(created["expires_at"], Value::Null);
            assert_eq!(refreshed["expires_at"], Value::Null);
            assert_ne!(fresh, token);
            assert!(!app.sim_login("buyer_01", &token).await, "the old token stops working");
        }
        // A UserSig expires (7 days by default) and nothing stored can revoke it.
        ProviderKind::Tencent => {
            let expires_at = created["expires_at"].as_i64().expect("expires_at");
            let week = 7 * 24 * 3600 * 1000;
            assert!((expires_at - now_ms() - week).abs() < 60_000, "{expires_at}");
            // Signed at the refresh: a refresh within the same second may sign the same UserSig.
            assert!(refreshed["expires_at"].as_i64().unwrap() >= expires_at);
            assert!(app.sim_login("buyer_01", &token).await);
        }
    }
    // Create-or-get: the same account again, still a working credential.
    let again = app.create_account("buyer_01", None).await;
    assert!(app.sim_login("buyer_01", again["token"].as_str().unwrap()).await);
}

async fn chats_make_friends_at_the_provider(provider: ProviderKind, store: Store) {
    let app = spawn(provider, store).await;
    let body = json!({"buyer": {"account": "buyer_01"}, "seller": {"account": "shop_1", "name": "Shop One"}});
    let chat = expect_json(app.post("/v1/chats", &body).await, StatusCode::OK).await;
    assert_eq!(chat["friends"], true);
    assert!(app.sim_login("buyer_01", chat["buyer"]["token"].as_str().unwrap()).await);
    assert_eq!(app.sim_friends("buyer_01").await, ["shop_1"]);
    assert_eq!(app.sim_friends("shop_1").await, ["buyer_01"]);

    let deleted = expect_json(app.delete("/v1/friendships/buyer_01/shop_1").await, StatusCode::OK).await;
    assert_eq!(deleted["friends"], false);
    assert!(app.sim_friends("buyer_01").await.is_empty());
    assert!(app.sim_friends("shop_1").await.is_empty());
    let missing = app.delete("/v1/friendships/buyer_01/shop_9").await;
    expect_error(missing, StatusCode::NOT_FOUND, "not_found", None).await;
}

async fn notifications_are_delivered_and_never_count_as_unread(provider: ProviderKind, store: Store) {
    let app = spawn(provider, store).await;
    for account in ["shop_1", "buyer_01", "buyer_02"] {
        app.create_account(account, None).await;
    }
    let body = json!({"from": "shop_1", "to": ["buyer_01", "buyer_02", "ghost_9"],
        "attach": {"type": "shipped", "order": "o-1"}, "push_content": "Your parcel has shipped"});
    let accepted = expect_json(app.post("/v1/notifications", &body).await, StatusCode::ACCEPTED).await;
    let settled = app.settled_notification(accepted["id"].as_str().unwrap()).await;
    // Delivered to both accounts; the one the provider does not know is reported, not retried.
    assert_eq!(settled["status"], "partially_failed", "{settled}");
    assert_eq!(settled["counts"]["delivered"], 2, "{settled}");
    assert_eq!(settled["unregistered"], json!(["ghost_9"]), "{settled}");
    let mut landed = app.sim_notifications().await;
    landed.sort();
    let attach = r#"{"order":"o-1","type":"shipped"}"#;
    let parsed = |s: &str| serde_json::from_str::<Value>(s).unwrap();
    assert_eq!(landed.len(), 2, "{landed:?}");
    for ((to, got), want) in landed.iter().zip(["buyer_01", "buyer_02"]) {
        assert_eq!(to, want);
        assert_eq!(parsed(got), parsed(attach));
    }
    // Whatever the provider called back about it, a notification is not unread chat.
    app.flush_callbacks().await;
    assert_eq!(unread(&app, "buyer_01", "shop_1").await, 0);
    assert!(messages(&app, "buyer_01", "shop_1").await.is_empty());
}

async fn chat_messages_become_unread_conversations_and_history(provider: ProviderKind, store: Store) {
    let app = spawn(provider, store).await;
    for account in ["shop_1", "buyer_01"] {
        app.create_account(account, None).await;
    }
    app.chat_message("shop_1", "buyer_01", "hello").await;
    app.chat_message("buyer_01", "shop_1", "is it in stock?").await;
    let newest = app.chat_message("shop_1", "buyer_01", "yes, ships today").await;

    assert_eq!(unread(&app, "buyer_01", "shop_1").await, 2);
    assert_eq!(unread(&app, "shop_1", "buyer_01").await, 1);
    let inbox = expect_json(app.get("/v1/conversations?accid=buyer_01").await, StatusCode::OK).await;
    let conversation = &inbox["conversations"][0];
    assert_eq!(conversation["peer"], "shop_1", "{inbox}");
    assert_eq!(conversation["unread"], 2);
    assert_eq!(conversation["last_message"]["msgid_server"], newest.as_str());
    assert_eq!(conversation["last_message"]["type"], "TEXT");
    assert_eq!(conversation["last_message"]["body"], "yes, ships today");

    let chat = messages(&app, "buyer_01", "shop_1").await;
    let bodies: Vec<&str> = chat.iter().map(|m| m["body"].as_str().unwrap()).collect();
    let senders: Vec<&str> = chat.iter().map(|m| m["from"].as_str().unwrap()).collect();
    // Newest first. Tencent's message times are whole seconds: order within one second is by key.
    let times: Vec<i64> = chat.iter().map(|m| m["sent_at"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {times:?}");
    let mut sorted = bodies.clone();
    sorted.sort();
    assert_eq!(sorted, ["hello", "is it in stock?", "yes, ships today"], "{chat:?}");
    assert_eq!(senders.iter().filter(|s| **s == "shop_1").count(), 2);

    // The receiver's app reads the chat: the provider's read report clears unread.
    app.chat_read("buyer_01", "shop_1").await;
    assert_eq!(unread(&app, "buyer_01", "shop_1").await, 0);
    assert_eq!(unread(&app, "shop_1", "buyer_01").await, 1, "only the reader's side is read");
}

async fn mark_read_clears_unread_and_tells_the_provider(provider: ProviderKind, store: Store) {
    let app = spawn(provider, store).await;
    for account in ["shop_1", "buyer_01"] {
        app.create_account(account, None).await;
    }
    app.chat_message("buyer_01", "shop_1", "where is my parcel?").await;
    assert_eq!(unread(&app, "shop_1", "buyer_01").await, 1);

    let marked = expect_json(app.post_empty("/v1/conversations/shop_1/buyer_01/read").await, StatusCode::OK).await;
    assert_eq!(marked["unread"], 0, "{marked}");
    let receipt = marked["receipt"].as_str().expect("a receipt goes to the provider");
    let settled = app.settled_notification(receipt).await;
    assert_eq!(settled["status"], "delivered", "{settled}");
    // The provider's own echo of the receipt (if it sends one) changes nothing.
    app.flush_callbacks().await;
    assert_eq!(unread(&app, "shop_1", "buyer_01").await, 0);
}

async fn recalls_and_presence_follow_the_chat_apps(provider: ProviderKind, store: Store) {
    let app = spawn(provider, store).await;
    for account in ["shop_1", "buyer_01"] {
        app.create_account(account, None).await;
    }
    let key = app.chat_message("shop_1", "buyer_01", "wrong price, sorry").await;
    assert_eq!(unread(&app, "buyer_01", "shop_1").await, 1);
    app.chat_recall("shop_1", "buyer_01", &key).await;
    assert_eq!(unread(&app, "buyer_01", "shop_1").await, 0, "a recalled message is not unread");
    let chat = messages(&app, "buyer_01", "shop_1").await;
    assert_eq!(chat.len(), 1);
    assert_eq!(chat[0]["recalled"], true);

    assert!(!presence(&app).await);
    app.chat_presence("shop_1", true).await;
    assert!(presence(&app).await);
    // Presence events of one client type are ordered by their time; let the logout be later.
    tokio::time::sleep(Duration::from_millis(5)).await;
    app.chat_presence("shop_1", false).await;
    assert!(!presence(&app).await);
}

async fn presence(app: &TestApp) -> bool {
    let got = expect_json(app.get("/v1/presence?accids=shop_1").await, StatusCode::OK).await;
    got["presence"]["shop_1"]["online"].as_bool().unwrap()
}

async fn routing_picks_the_agent_who_is_logged_in(provider: ProviderKind, store: Store) {
    let app = spawn(provider, store).await;
    let shop = json!({"name": "Shop Two", "owner": "shop_2",
        "agents": [{"account": "shop_2_amy", "capacity": 5}, {"account": "shop_2_bob", "capacity": 5}]});
    expect_json(app.put("/v1/shops/shop_2", &shop).await, StatusCode::OK).await;
    app.chat_presence("shop_2_bob", true).await;

    let routed = app.post("/v1/shops/shop_2/chats", &json!({"buyer": {"account": "Buyer_03"}})).await;
    let routed = expect_json(routed, StatusCode::OK).await;
    assert_eq!(routed["agent"]["accid"], "shop_2_bob", "{routed}");
    assert_eq!(routed["friends"], true);
    assert!(app.sim_friends("buyer_03").await.contains(&"shop_2_bob".to_owned()));
    assert!(app.sim_login("buyer_03", routed["buyer"]["token"].as_str().unwrap()).await);
}

async fn an_unsigned_callback_is_refused_and_stores_nothing(provider: ProviderKind, store: Store) {
    let app = spawn(provider, store).await;
    let (path, body) = match provider {
        ProviderKind::Netease => (
            "/callbacks/netease",
            json!({"eventType": "1", "convType": "PERSON",
            "fromAccount": "shop_1", "to": "buyer_01", "msgType": "TEXT", "body": "forged",
            "msgTimestamp": now_ms().to_string(), "msgidServer": "999"}),
        ),
        ProviderKind::Tencent => (
            "/callbacks/tencent?SdkAppid=1400000001&CallbackCommand=C2C.CallbackAfterSendMsg&contenttype=json",
            json!({"CallbackCommand": "C2C.CallbackAfterSendMsg", "From_Account": "shop_1", "To_Account": "buyer_01",
            "MsgSeq": 1, "MsgRandom": 2, "MsgTime": now_ms() / 1000, "MsgKey": "1_2_3", "SendMsgResult": 0,
            "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "forged"}}]}),
        ),
    };
    let response = app.client.post(format!("{}{path}", app.address)).json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unread(&app, "buyer_01", "shop_1").await, 0);
    assert!(messages(&app, "buyer_01", "shop_1").await.is_empty());
}

async fn blocking_is_supported_where_the_provider_has_it(provider: ProviderKind, store: Store) {
    let app = spawn(provider, store).await;
    app.create_account("buyer_01", None).await;
    let response = app.post_empty("/v1/accounts/buyer_01/block").await;
    match provider {
        ProviderKind::Netease => {
            assert_eq!(expect_json(response, StatusCode::OK).await["blocked"], true);
        }
        ProviderKind::Tencent => {
            expect_error(response, StatusCode::NOT_IMPLEMENTED, "not_supported_by_provider", None).await;
            let account = expect_json(app.get("/v1/accounts/buyer_01").await, StatusCode::OK).await;
            assert_eq!(account["blocked"], false, "a refused block changes nothing");
        }
    }
}

async fn backfill_imports_what_the_callbacks_missed_and_export_shows_it(provider: ProviderKind, store: Store) {
    let app = spawn(provider, store).await;
    for account in ["shop_1", "buyer_01"] {
        app.create_account(account, None).await;
    }
    // A whole second before and after: Tencent's message times are whole seconds.
    let from_ms = now_ms() / 1000 * 1000 - 1000;
    // imbridge was unreachable: the provider keeps the messages, none reached us.
    let url = format!("{}/__sim/callbacks/url", app.sim_root.as_deref().unwrap());
    let callbacks_to = |target: Value| app.client.post(&url).json(&json!({ "url": target })).send();
    assert!(callbacks_to(Value::Null).await.unwrap().status().is_success());
    for text in ["one", "two", "three"] {
        app.chat_message("shop_1", "buyer_01", text).await;
    }
    app.chat_message("buyer_01", "shop_1", "mine").await;
    let ours =
        format!("{}/callbacks/{}", app.address, if provider == ProviderKind::Tencent { "tencent" } else { "netease" });
    assert!(callbacks_to(json!(ours)).await.unwrap().status().is_success());
    assert_eq!(unread(&app, "buyer_01", "shop_1").await, 0);
    let to_ms = now_ms() / 1000 * 1000 + 2000;

    let body = json!({"accid": "buyer_01", "peer": "shop_1", "from": from_ms, "to": to_ms});
    let accepted = expect_json(app.post("/v1/backfill", &body).await, StatusCode::ACCEPTED).await;
    let path = format!("/v1/backfill/{}", accepted["id"].as_str().unwrap());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let job = loop {
        let job = expect_json(app.get(&path).await, StatusCode::OK).await;
        if job["status"] != "running" {
            break job;
        }
        assert!(std::time::Instant::now() < deadline, "{job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!((job["status"].as_str(), job["imported"].as_u64()), (Some("done"), Some(4)), "{job}");
    assert_eq!(unread(&app, "buyer_01", "shop_1").await, 3);
    assert_eq!(unread(&app, "shop_1", "buyer_01").await, 1);
    let mut bodies: Vec<String> =
        messages(&app, "buyer_01", "shop_1").await.iter().map(|m| m["body"].as_str().unwrap().to_owned()).collect();
    bodies.sort();
    assert_eq!(bodies, ["mine", "one", "three", "two"]);
    // The same messages again by callback (a late redelivery) change nothing.
    app.chat_read("buyer_01", "shop_1").await;
    assert_eq!(unread(&app, "buyer_01", "shop_1").await, 0);

    // The dispute export: every message of the window, oldest first, one JSON document per line.
    let export = app.get(&format!("/v1/messages/export?accid=buyer_01&peer=shop_1&from={from_ms}&to={to_ms}")).await;
    assert_eq!(export.status(), StatusCode::OK);
    let lines: Vec<Value> =
        export.text().await.unwrap().lines().map(|l| serde_json::from_str(l).expect("NDJSON")).collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    let times: Vec<i64> = lines.iter().map(|d| d["sentAt"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "oldest first: {times:?}");
}

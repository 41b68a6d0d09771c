//! What a hostile (or merely careless) client found, each pinned by a test: order-sensitive
//! idempotency keys, friendship calls that reached the provider, duplicate order ids, conflicting
//! signature headers, Unicode case folding, one 8 MB notification status, and the one status rule
//! (400 unreadable, 422 refused value) on every route. The process-level ones (metrics label flood,
//! CPU per rejected body) are in `hostile_process.rs`.

use imbridge_netease::sign::now_millis;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::callbacks::{deliver, message, post_raw, signed_headers};
use crate::helpers::{expect_error, expect_json, spawn_app, Backend, Spawn, TestApp};

async fn unread_of(app: &TestApp, accid: &str, peer: &str) -> u64 {
    let body = expect_json(app.get(&format!("/v1/unread?accid={accid}&peers={peer}")).await, StatusCode::OK).await;
    body["unread"][peer].as_u64().unwrap()
}

#[tokio::test]
async fn the_same_notification_in_another_order_is_the_same_request() {
    let app = spawn_app().await;
    for account in ["shop_i", "buyer_i1", "buyer_i2", "buyer_i3"] {
        app.create_account(account, None).await;
    }
    let first = json!({
        "from": "shop_i", "to": ["buyer_i1", "buyer_i2", "buyer_i3"],
        "attach": {"type": "shipped", "order": {"id": "o-1", "items": 2}},
        "payload": {"a": 1, "b": 2}, "idempotency_key": "o-1:shipped"
    });
    let created = expect_json(app.post("/v1/notifications", &first).await, StatusCode::ACCEPTED).await;

    // Recipients reordered (and one repeated, in another case), object keys in another order.
    let reordered = json!({
        "idempotency_key": "o-1:shipped", "payload": {"b": 2, "a": 1},
        "attach": {"order": {"items": 2, "id": "o-1"}, "type": "shipped"},
        "to": ["buyer_i3", "BUYER_I1", "buyer_i2", "buyer_i1"], "from": "shop_i"
    });
    let again = expect_json(app.post("/v1/notifications", &reordered).await, StatusCode::OK).await;
    assert_eq!(again["id"], created["id"], "the same content is the same notification");
    assert_eq!(again["recipients"], 3);

    // Different content under the same key is still a conflict.
    let mut other = reordered.clone();
    other["attach"]["order"]["items"] = json!(3);
    expect_error(app.post("/v1/notifications", &other).await, StatusCode::CONFLICT, "conflict", None).await;
    let mut fewer = reordered.clone();
    fewer["to"] = json!(["buyer_i1", "buyer_i2"]);
    expect_error(app.post("/v1/notifications", &fewer).await, StatusCode::CONFLICT, "conflict", None).await;
}

#[tokio::test]
async fn friendships_are_validated_before_the_provider_is_called() {
    let app = spawn_app().await;
    app.create_account("buyer_f1", None).await;
    let before = app.sim_total_calls().await;

    let own = app.delete("/v1/friendships/buyer_f1/BUYER_F1").await;
    expect_error(own, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", Some("faccid")).await;
    let unknown = app.delete("/v1/friendships/buyer_f1/nobody_here").await;
    let body = expect_error(unknown, StatusCode::NOT_FOUND, "not_found", None).await;
    assert!(body["message"].as_str().unwrap().contains("nobody_here"), "{body}");
    let neither = app.delete("/v1/friendships/ghost_1/ghost_2").await;
    expect_error(neither, StatusCode::NOT_FOUND, "not_found", None).await;

    assert_eq!(app.sim_total_calls().await, before, "no provider call for refused input");
}

#[tokio::test]
async fn a_duplicate_order_id_is_refused_naming_it() {
    let app = spawn_app().await;
    let request = json!({"accid": "buyer_o", "orders": [
        {"order_id": "o-1", "peer": "shop_1"}, {"order_id": "o-2", "peer": "shop_2"},
        {"order_id": "o-1", "peer": "shop_3"}
    ]});
    let body = expect_error(
        app.post("/v1/unread", &request).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        Some("orders[2].order_id"),
    )
    .await;
    assert!(body["message"].as_str().unwrap().contains("o-1"), "{body}");
}

#[tokio::test]
async fn conflicting_signature_headers_are_refused() {
    let app = Spawn::new(Backend::Sqlite).start().await;
    let event = message("shop_d", "buyer_d", 77_001, now_millis());
    let body = serde_json::to_vec(&event).unwrap();
    let genuine = signed_headers(&app, &body, now_millis());
    let other = signed_headers(&app, br#"{"eventType":"1"}"#, now_millis() + 5);
    for name in ["MD5", "CurTime", "CheckSum", "AppKey"] {
        let mut headers = genuine.clone();
        let value = match name {
            "AppKey" => "another-app".to_owned(),
            _ => other.iter().find(|(n, _)| *n == name).unwrap().1.clone(),
        };
        headers.push((name, value));
        let response = post_raw(&app, body.clone(), &headers).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "two different {name} headers");
    }
    assert_eq!(unread_of(&app, "buyer_d", "shop_d").await, 0, "nothing stored");
    // The genuine callback alone is fine.
    deliver(&app, &event).await;
    assert_eq!(unread_of(&app, "buyer_d", "shop_d").await, 1);
}

#[tokio::test]
async fn a_non_ascii_accid_never_counts_for_an_ascii_one() {
    let app = spawn_app().await;
    // U+212A KELVIN SIGN lowercases (in Unicode) to an ASCII `k`.
    deliver(&app, &message("shop_k", "\u{212A}el_r", 78_001, now_millis())).await;
    assert_eq!(unread_of(&app, "kel_r", "shop_k").await, 0);
    deliver(&app, &message("shop_k", "KEL_R", 78_002, now_millis())).await;
    assert_eq!(unread_of(&app, "kel_r", "shop_k").await, 1, "ASCII case still folds");
}

#[tokio::test]
async fn notification_outcomes_come_a_page_at_a_time() {
    let app = spawn_app().await;
    app.create_account("shop_p", None).await;
    // 2 500 recipients the provider does not know: each is an outcome (`unregistered`).
    let to: Vec<String> = (0..2500).map(|i| format!("u{i:05}")).collect();
    let accepted = expect_json(
        app.post("/v1/notifications", &json!({"from": "shop_p", "to": to, "attach": "x"})).await,
        StatusCode::ACCEPTED,
    )
    .await;
    let id = accepted["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/notifications/{id}");
    let settled = app.settled_notification(&id).await;
    assert_eq!(settled["status"], "failed", "nobody is registered: {}", settled["counts"]);
    assert_eq!(
        settled["counts"],
        json!({"queued": 0, "sending": 0, "delivered": 0, "failed": 0, "unregistered": 2500})
    );
    assert_eq!(settled["outcomes"].as_array().unwrap().len(), 1000, "the default page is 1000");
    assert_eq!(settled["next_cursor"], "1000");

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page_path = match &cursor {
            Some(c) => format!("{path}?limit=700&cursor={c}"),
            None => format!("{path}?limit=700"),
        };
        let page = expect_json(app.get(&page_path).await, StatusCode::OK).await;
        assert_eq!(page["counts"]["unregistered"], 2500, "every page carries the summary");
        let outcomes = page["outcomes"].as_array().unwrap();
        assert!(outcomes.len() <= 700);
        assert_eq!(page["unregistered"].as_array().unwrap().len(), outcomes.len());
        assert!(page["deliveries"].as_array().unwrap().len() <= 3, "only the calls of this page's recipients");
        seen.extend(outcomes.iter().map(|o| o["accid"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, to, "every recipient once, in the order given");

    for bad in ["limit=0", "limit=1001", "cursor=abc", "cursor=-1", "cursor=007"] {
        let response = app.get(&format!("{path}?{bad}")).await;
        let field = bad.split('=').next().unwrap();
        expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", Some(field)).await;
    }
}

/// One rule on every route: a request that cannot be read as the route's input (not JSON, an
/// unknown field or query parameter) is 400; a readable one with a value we refuse (missing,
/// wrong type, invalid) is 422 `invalid_field`; no JSON Content-Type is 415; a wrong method 405.
#[tokio::test]
async fn the_same_mistake_gets_the_same_status_on_every_route() {
    let app = spawn_app().await;
    let missing: [(&str, Value, &str); 4] = [
        ("/v1/accounts", json!({}), "account"),
        ("/v1/chats", json!({"buyer": {"account": "b"}}), "seller"),
        ("/v1/notifications", json!({"to": ["b"], "attach": "x"}), "from"),
        ("/v1/unread", json!({"peers": ["shop_1"]}), "accid"),
    ];
    for (path, body, field) in missing {
        let response = app.post(path, &body).await;
        expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", Some(field)).await;
    }
    let wrong_type: [(&str, Value, &str); 3] = [
        ("/v1/accounts", json!({"account": 5}), "account"),
        ("/v1/unread", json!({"accid": "b", "peers": "shop_1"}), "peers"),
        ("/v1/notifications", json!({"from": "s", "to": "b", "attach": "x"}), "to"),
    ];
    for (path, body, field) in wrong_type {
        let response = app.post(path, &body).await;
        expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", Some(field)).await;
    }
    expect_error(
        app.get("/v1/unread?peers=shop_1").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        Some("accid"),
    )
    .await;
    let response = app.get("/v1/notifications/x?limit=many").await;
    expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", Some("limit")).await;

    // Unreadable: unknown fields and parameters, not JSON.
    let response = app.get("/v1/unread?accid=b&peers=shop_1&colour=red").await;
    expect_error(response, StatusCode::BAD_REQUEST, "unknown_field", Some("colour")).await;
    let response = app.post("/v1/unread", &json!({"accid": "b", "peers": ["s"], "colour": "red"})).await;
    expect_error(response, StatusCode::BAD_REQUEST, "unknown_field", Some("colour")).await;
    let raw = app.client.post(format!("{}/v1/accounts", app.address)).bearer_auth(crate::helpers::API_KEY);
    let response = raw.header("Content-Type", "application/json").body("{\"account\":").send().await.unwrap();
    expect_error(response, StatusCode::BAD_REQUEST, "invalid_json", None).await;

    // The most common curl mistake: no Content-Type.
    let raw = app.client.post(format!("{}/v1/accounts", app.address)).bearer_auth(crate::helpers::API_KEY);
    let response = raw.body(r#"{"account":"b"}"#).send().await.unwrap();
    expect_error(response, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", None).await;
    let response = app.client.put(format!("{}/v1/accounts", app.address)).send().await.unwrap();
    expect_error(response, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", None).await;
}

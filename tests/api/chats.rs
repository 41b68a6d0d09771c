//! `POST /v1/chats` and `DELETE /v1/friendships/...`, on both providers and both SQL databases.

use imbridge::config::ProviderKind;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{expect_error, expect_json, Backend, SimOp, Spawn, TestApp};

on_backends_and_providers!(
    opening_a_chat_registers_both_sides_and_befriends_them,
    opening_a_chat_again_is_idempotent,
    a_seller_with_an_existing_account_keeps_its_credential,
    bad_chat_requests_name_the_field_and_change_nothing,
    a_refused_friendship_is_502_with_the_provider_code,
    deleting_a_friendship_ends_it_at_the_provider,
    deleting_a_friendship_validates_both_accids,
);

async fn spawn(backend: Backend, provider: ProviderKind) -> TestApp {
    Spawn::new(backend).provider(provider).start().await
}

async fn opening_a_chat_registers_both_sides_and_befriends_them(backend: Backend, provider: ProviderKind) {
    let app = spawn(backend, provider).await;
    let request =
        json!({"buyer": {"account": "Buyer_77", "name": "Bea"}, "seller": {"account": "shop_1", "name": "Shop One"}});

    let body = expect_json(app.post("/v1/chats", &request).await, StatusCode::OK).await;

    assert_eq!(body["buyer"]["accid"], "buyer_77");
    assert_eq!(body["seller"]["accid"], "shop_1");
    assert_eq!(body["friends"], true);
    assert!(body["seller"].get("token").is_none(), "the seller's token is not the buyer's business: {body}");
    let token = body["buyer"]["token"].as_str().unwrap();
    assert!(app.sim_login("buyer_77", token).await);
    assert_eq!(app.sim_account_name("buyer_77").await.as_deref(), Some("Bea"));
    assert_eq!(app.sim_account_name("shop_1").await.as_deref(), Some("Shop One"));
    assert!(app.sim_friends("buyer_77").await.contains(&"shop_1".to_owned()));
    assert!(app.sim_friends("shop_1").await.contains(&"buyer_77".to_owned()), "direct add befriends both ways");
    // Create-or-get hands out a credential that logs in too: the same token (NetEase), or a
    // fresh UserSig (Tencent).
    let again = app.create_account("buyer_77", None).await;
    assert!(app.sim_login("buyer_77", again["token"].as_str().unwrap()).await);
    if provider == ProviderKind::Netease {
        assert_eq!(again["token"], token);
    }
}

async fn opening_a_chat_again_is_idempotent(backend: Backend, provider: ProviderKind) {
    let app = spawn(backend, provider).await;
    let request = json!({"buyer": {"account": "b1"}, "seller": {"account": "s1"}});
    let first = expect_json(app.post("/v1/chats", &request).await, StatusCode::OK).await;

    let second = expect_json(app.post("/v1/chats", &request).await, StatusCode::OK).await;

    if provider == ProviderKind::Netease {
        assert_eq!(second, first);
    } else {
        // A fresh UserSig each time (signed locally); everything else the same.
        assert_eq!((&second["seller"], &second["friends"]), (&first["seller"], &first["friends"]));
    }
    assert_eq!(app.sim_op_calls(SimOp::CreateAccount).await, 2, "each account registered once");
    assert_eq!(app.sim_friends("b1").await, vec!["s1".to_owned()]);
}

async fn a_seller_with_an_existing_account_keeps_its_credential(backend: Backend, provider: ProviderKind) {
    let app = spawn(backend, provider).await;
    let seller_token = app.create_account("shop_2", None).await["token"].as_str().unwrap().to_owned();

    let body = expect_json(
        app.post("/v1/chats", &json!({"buyer": {"account": "b2"}, "seller": {"account": "shop_2"}})).await,
        StatusCode::OK,
    )
    .await;

    assert_eq!(body["friends"], true);
    assert!(app.sim_login("shop_2", &seller_token).await, "opening a chat does not revoke the seller's credential");
}

async fn bad_chat_requests_name_the_field_and_change_nothing(backend: Backend, provider: ProviderKind) {
    let app = spawn(backend, provider).await;
    let cases = [
        (json!({"buyer": {"account": "bad id"}, "seller": {"account": "s"}}), 422, "invalid_field", "buyer.account"),
        (
            json!({"buyer": {"account": "b"}, "seller": {"account": "s", "nick": "x"}}),
            400,
            "unknown_field",
            "seller.nick",
        ),
        (json!({"buyer": {"account": "b"}}), 422, "invalid_field", "seller"),
        (json!({"buyer": {"account": 7}, "seller": {"account": "s"}}), 422, "invalid_field", "buyer.account"),
        (
            json!({"buyer": {"account": "b", "name": "n".repeat(501)}, "seller": {"account": "s"}}),
            422,
            "invalid_field",
            "buyer.name",
        ),
        (json!({"buyer": {"account": "Same"}, "seller": {"account": "same"}}), 422, "invalid_field", "seller.account"),
        (json!({"buyer": {"account": "b"}, "seller": {"account": "s"}, "order": 1}), 400, "unknown_field", "order"),
    ];
    for (request, status, code, field) in cases {
        let response = app.post("/v1/chats", &request).await;
        expect_error(response, StatusCode::from_u16(status).unwrap(), code, Some(field)).await;
    }
    assert_eq!(app.sim_total_calls().await, 0, "no provider call for bad input");
    expect_error(app.get("/v1/accounts/b").await, StatusCode::NOT_FOUND, "not_found", None).await;
}

async fn a_refused_friendship_is_502_with_the_provider_code(backend: Backend, provider: ProviderKind) {
    let app = spawn(backend, provider).await;
    let code = if provider == ProviderKind::Netease { 403 } else { 70402 };
    app.sim_fail_next(SimOp::AddFriend, code).await;

    let response = app.post("/v1/chats", &json!({"buyer": {"account": "b3"}, "seller": {"account": "s3"}})).await;

    let body = expect_error(response, StatusCode::BAD_GATEWAY, "provider_rejected", None).await;
    assert_eq!(body["provider_code"], code);
    assert!(app.sim_friends("b3").await.is_empty());
    // Retrying once the provider accepts completes the chat.
    let body = expect_json(
        app.post("/v1/chats", &json!({"buyer": {"account": "b3"}, "seller": {"account": "s3"}})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["friends"], true);
}

async fn deleting_a_friendship_ends_it_at_the_provider(backend: Backend, provider: ProviderKind) {
    let app = spawn(backend, provider).await;
    let request = json!({"buyer": {"account": "b4"}, "seller": {"account": "s4"}});
    expect_json(app.post("/v1/chats", &request).await, StatusCode::OK).await;

    let body = expect_json(app.delete("/v1/friendships/B4/s4").await, StatusCode::OK).await;

    assert_eq!(body, json!({"accid": "b4", "faccid": "s4", "friends": false}));
    assert!(app.sim_friends("b4").await.is_empty());
    // Deleting again is harmless.
    expect_json(app.delete("/v1/friendships/b4/s4").await, StatusCode::OK).await;
}

async fn deleting_a_friendship_validates_both_accids(backend: Backend, provider: ProviderKind) {
    let app = spawn(backend, provider).await;
    let response = app.delete("/v1/friendships/b5/not%20valid").await;
    expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", Some("faccid")).await;
    let response = app.delete(&format!("/v1/friendships/{}/s5", "x".repeat(33))).await;
    expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", Some("accid")).await;
    assert_eq!(app.sim_total_calls().await, 0);
}

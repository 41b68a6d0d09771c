//! The account flows, on SQLite and on MariaDB.

use futures::future::join_all;
use imbridge_netease::CreateUser;
use imbridge_provider::Profile;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{expect_error, expect_json, Backend, Spawn, TestApp};

on_both_backends!(
    create_registers_the_account_and_returns_a_working_token,
    create_again_returns_the_same_token_without_calling_the_provider,
    two_hundred_concurrent_creates_make_one_provider_call,
    an_account_created_elsewhere_is_adopted_with_a_token_that_logs_in,
    token_refresh_returns_a_new_token_and_the_old_one_stops_working,
    patch_updates_the_profile_here_and_at_the_provider,
    block_and_unblock,
    provider_refusal_is_502_with_its_code_and_nothing_is_stored,
    provider_unreachable_is_503_and_nothing_is_stored,
    per_account_routes_answer_404_for_unknown_accounts,
    two_instances_on_one_database_hand_out_one_working_token,
    refreshes_racing_creates_on_two_instances_leave_a_working_token,
);

async fn create_registers_the_account_and_returns_a_working_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let body = app.create_account("Buyer_01", Some("Alice")).await;

    assert_eq!(body["accid"], "buyer_01", "the accid is the provider's canonical, lowercased form");
    assert_eq!(body["created"], true);
    let token = body["token"].as_str().expect("a token");
    assert!(app.sim_login("buyer_01", token).await, "the token logs in at the provider");
    let at_provider = app.sim_account("buyer_01").await.expect("registered at the provider");
    assert_eq!(at_provider["name"], "Alice");

    let shown = expect_json(app.get("/v1/accounts/BUYER_01").await, StatusCode::OK).await;
    assert_eq!(shown["accid"], "buyer_01");
    assert_eq!(shown["name"], "Alice");
    assert_eq!(shown["blocked"], false);
    assert!(shown.get("token").is_none(), "GET never shows the token: {shown}");
}

async fn create_again_returns_the_same_token_without_calling_the_provider(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.create_account("seller_9", None).await;

    let again = app.create_account("SELLER_9", Some("ignored on get")).await;

    assert_eq!(again["created"], false);
    assert_eq!(again["token"], first["token"]);
    assert_eq!(app.sim_calls("user/create").await, 1);
    assert!(app.sim_login("seller_9", again["token"].as_str().unwrap()).await);
}

async fn two_hundred_concurrent_creates_make_one_provider_call(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let request = json!({"account": "hot_buyer", "name": "Hot"});
    let calls = (0..200).map(|_| app.post("/v1/accounts", &request));
    let responses = join_all(calls).await;

    let mut bodies = Vec::new();
    for response in responses {
        bodies.push(expect_json(response, StatusCode::OK).await);
    }
    let token = bodies[0]["token"].as_str().unwrap().to_owned();
    assert!(bodies.iter().all(|b| b["token"] == token.as_str()), "every caller got the same token");
    assert_eq!(bodies.iter().filter(|b| b["created"] == true).count(), 1, "exactly one call created it");
    assert_eq!(app.sim_calls("user/create").await, 1, "one provider create");
    assert_eq!(app.sim_calls("user/update").await, 0);
    assert!(app.sim_login("hot_buyer", &token).await);
}

async fn an_account_created_elsewhere_is_adopted_with_a_token_that_logs_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Another system registered the accid with NetEase directly.
    let elsewhere = CreateUser {
        accid: "legacy_user".into(),
        token: Some("token-of-the-other-system".into()),
        profile: Profile { name: Some("Legacy".into()), ..Profile::default() },
    };
    app.netease_client().create_user(&elsewhere, None).await.expect("created at the provider");

    let body = app.create_account("legacy_user", None).await;

    assert_eq!(body["created"], true, "new to the bridge");
    let token = body["token"].as_str().unwrap();
    assert_ne!(token, "token-of-the-other-system");
    assert!(app.sim_login("legacy_user", token).await, "the stored token logs in");
    assert!(!app.sim_login("legacy_user", "token-of-the-other-system").await, "the old token was replaced");
    let again = app.create_account("legacy_user", None).await;
    assert_eq!(again["token"], token);
    assert_eq!(again["created"], false);
}

async fn token_refresh_returns_a_new_token_and_the_old_one_stops_working(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let old = app.create_account("refresher", None).await["token"].as_str().unwrap().to_owned();

    let refreshed = expect_json(app.post_empty("/v1/accounts/Refresher/token").await, StatusCode::OK).await;

    assert_eq!(refreshed["accid"], "refresher");
    let new = refreshed["token"].as_str().unwrap();
    assert_ne!(new, old);
    assert!(app.sim_login("refresher", new).await, "the new token logs in");
    assert!(!app.sim_login("refresher", &old).await, "the old token no longer logs in");
    let got = app.create_account("refresher", None).await;
    assert_eq!(got["token"], new, "create-or-get hands out the new token");
    assert_eq!(got["created"], false);
}

async fn patch_updates_the_profile_here_and_at_the_provider(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_account("profiled", Some("Before")).await;

    let patch = json!({"name": "After", "icon": "https://cdn.example/a.png", "sign": "hi", "gender": 2, "ex": "{\"vip\":true}"});
    let view = expect_json(app.patch("/v1/accounts/profiled", &patch).await, StatusCode::OK).await;

    assert_eq!(view["name"], "After");
    assert_eq!(view["icon"], "https://cdn.example/a.png");
    let at_provider = app.sim_account("profiled").await.unwrap();
    assert_eq!(at_provider["name"], "After");
    assert_eq!(at_provider["sign"], "hi");
    assert_eq!(at_provider["gender"], 2);
    assert_eq!(at_provider["ex"], "{\"vip\":true}");
    let shown = expect_json(app.get("/v1/accounts/profiled").await, StatusCode::OK).await;
    assert_eq!(shown["name"], "After");
}

async fn block_and_unblock(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.create_account("troll", None).await["token"].as_str().unwrap().to_owned();

    let blocked = expect_json(app.post_empty("/v1/accounts/troll/block").await, StatusCode::OK).await;
    assert_eq!(blocked["blocked"], true);
    assert_eq!(app.sim_account("troll").await.unwrap()["blocked"], true);
    assert!(!app.sim_login("troll", &token).await, "a blocked account cannot log in");
    let shown = expect_json(app.get("/v1/accounts/troll").await, StatusCode::OK).await;
    assert_eq!(shown["blocked"], true);

    let unblocked = expect_json(app.delete("/v1/accounts/troll/block").await, StatusCode::OK).await;
    assert_eq!(unblocked["blocked"], false);
    assert!(app.sim_login("troll", &token).await);
}

async fn provider_refusal_is_502_with_its_code_and_nothing_is_stored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.sim_faults(json!({"fail_next": 1, "fail_code": 403, "actions": ["user/create"]})).await;

    let response = app.post("/v1/accounts", &json!({"account": "refused"})).await;

    let body = expect_error(response, StatusCode::BAD_GATEWAY, "provider_rejected", None).await;
    assert_eq!(body["provider_code"], 403);
    assert!(body["provider_desc"].is_string(), "{body}");
    expect_error(app.get("/v1/accounts/refused").await, StatusCode::NOT_FOUND, "not_found", None).await;
    assert!(app.sim_account("refused").await.is_none());
    // Once the provider accepts, the account is created normally.
    let body = app.create_account("refused", None).await;
    assert_eq!(body["created"], true);
    assert!(app.sim_login("refused", body["token"].as_str().unwrap()).await);
}

async fn provider_unreachable_is_503_and_nothing_is_stored(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    app.stop_simulator().await;

    let response = app.post("/v1/accounts", &json!({"account": "offline_user"})).await;

    expect_error(response, StatusCode::SERVICE_UNAVAILABLE, "provider_unavailable", None).await;
    expect_error(app.get("/v1/accounts/offline_user").await, StatusCode::NOT_FOUND, "not_found", None).await;
    let refresh = app.post_empty("/v1/accounts/offline_user/token").await;
    expect_error(refresh, StatusCode::NOT_FOUND, "not_found", None).await;
}

async fn per_account_routes_answer_404_for_unknown_accounts(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    expect_error(app.get("/v1/accounts/nobody").await, StatusCode::NOT_FOUND, "not_found", None).await;
    expect_error(app.post_empty("/v1/accounts/nobody/token").await, StatusCode::NOT_FOUND, "not_found", None).await;
    let patch = app.patch("/v1/accounts/nobody", &json!({"name": "x"})).await;
    expect_error(patch, StatusCode::NOT_FOUND, "not_found", None).await;
    expect_error(app.post_empty("/v1/accounts/nobody/block").await, StatusCode::NOT_FOUND, "not_found", None).await;
    expect_error(app.delete("/v1/accounts/nobody/block").await, StatusCode::NOT_FOUND, "not_found", None).await;
    assert_eq!(app.sim_total_calls().await, 0, "no provider call for an unknown account");
}

/// The provider is briefly down, then back: the failed call leaves nothing behind and the next one
/// registers the account.
#[tokio::test]
async fn a_dropped_connection_is_503_and_a_retry_succeeds() {
    let app = Spawn::new(Backend::Sqlite).start().await;
    app.sim_faults(json!({"drop_next": 1})).await;

    let response = app.post("/v1/accounts", &json!({"account": "flaky"})).await;
    expect_error(response, StatusCode::SERVICE_UNAVAILABLE, "provider_unavailable", None).await;

    let body = app.create_account("flaky", None).await;
    assert_eq!(body["created"], true);
    assert!(app.sim_login("flaky", body["token"].as_str().unwrap()).await);
}

/// Rate limiting at the provider (416) is a 503 with Retry-After.
#[tokio::test]
async fn provider_rate_limit_is_503_with_retry_after() {
    let app = Spawn::new(Backend::Sqlite).start().await;
    app.sim_faults(json!({"fail_next": 1, "fail_code": 416, "actions": ["user/create"]})).await;

    let response = app.post("/v1/accounts", &json!({"account": "too_fast"})).await;

    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after >= 1, "Retry-After {retry_after}");
    expect_error(response, StatusCode::SERVICE_UNAVAILABLE, "provider_unavailable", None).await;
}

async fn two_instances_on_one_database_hand_out_one_working_token(backend: Backend) {
    let a = TestApp::spawn(backend).await;
    let b = Spawn::instance_of(&a).start().await;
    let request = json!({"account": "shared_buyer"});

    let calls =
        (0..100).map(|i| if i % 2 == 0 { a.post("/v1/accounts", &request) } else { b.post("/v1/accounts", &request) });
    let responses = join_all(calls).await;

    let mut tokens = Vec::new();
    for response in responses {
        tokens.push(expect_json(response, StatusCode::OK).await["token"].as_str().unwrap().to_owned());
    }
    assert!(tokens.iter().all(|t| *t == tokens[0]), "both instances hand out one token");
    assert!(a.sim_login("shared_buyer", &tokens[0]).await, "and it is the one the provider accepts");
}

async fn refreshes_racing_creates_on_two_instances_leave_a_working_token(backend: Backend) {
    let a = TestApp::spawn(backend).await;
    let b = Spawn::instance_of(&a).start().await;
    a.create_account("racer", None).await;
    let create = json!({"account": "racer"});

    let mut calls = Vec::new();
    for i in 0..40 {
        let app = if i % 2 == 0 { &a } else { &b };
        let create = &create;
        calls.push(async move {
            if i % 4 < 2 {
                app.post_empty("/v1/accounts/racer/token").await
            } else {
                app.post("/v1/accounts", create).await
            }
        });
    }
    for response in join_all(calls).await {
        // 409 only if the token kept changing under one request for several rounds.
        assert!(matches!(response.status(), StatusCode::OK | StatusCode::CONFLICT), "{}", response.status());
    }

    let from_a = a.create_account("racer", None).await["token"].as_str().unwrap().to_owned();
    let from_b = b.create_account("racer", None).await["token"].as_str().unwrap().to_owned();
    assert_eq!(from_a, from_b);
    assert!(a.sim_login("racer", &from_a).await, "the stored token is the one the provider accepts");
}

/// A request that outlives `http.request_timeout_secs` gets a JSON 408; the reservation it left
/// behind is completed by the next call, whose token logs in.
#[tokio::test]
async fn a_request_over_its_deadline_is_408_and_the_next_call_completes_it() {
    let app = Spawn::new(Backend::Sqlite).configure(|c| c.http.request_timeout_secs = 1).start().await;
    app.sim_faults(json!({"delay_ms": 3000, "actions": ["user/create"]})).await;

    let response = app.post("/v1/accounts", &json!({"account": "slowpoke"})).await;
    expect_error(response, StatusCode::REQUEST_TIMEOUT, "timeout", None).await;

    app.sim_faults(json!({})).await;
    let body = app.create_account("slowpoke", None).await;
    assert_eq!(body["created"], true);
    assert!(app.sim_login("slowpoke", body["token"].as_str().unwrap()).await);
}

/// A wrong app secret is a real refusal by the provider (bad CheckSum, code 414): 502 with its
/// code and desc, so the operator sees what NetEase said.
#[tokio::test]
async fn a_wrong_app_secret_is_502_with_the_providers_answer() {
    let mut spawn = Spawn::new(Backend::Sqlite);
    spawn.app_secret = Some("not-the-app-secret".into());
    let app = spawn.start().await;

    let response = app.post("/v1/accounts", &json!({"account": "nobody_home"})).await;

    let body = expect_error(response, StatusCode::BAD_GATEWAY, "provider_rejected", None).await;
    assert_eq!(body["provider_code"], 414);
    assert!(body["provider_desc"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
    assert!(!body.to_string().contains("not-the-app-secret"));
    expect_error(app.get("/v1/accounts/nobody_home").await, StatusCode::NOT_FOUND, "not_found", None).await;
}

//! Bearer keys on /v1.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{expect_error, expect_json, Backend, Spawn, API_KEY};

#[tokio::test]
async fn requests_without_or_with_a_wrong_key_are_401_and_change_nothing() {
    let app = Spawn::new(Backend::Sqlite).start().await;
    let url = format!("{}/v1/accounts", app.address);
    let body = json!({"account": "intruder"});

    let missing = app.client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");
    expect_error(missing, StatusCode::UNAUTHORIZED, "unauthorized", None).await;

    let wrong = app.client.post(&url).bearer_auth("not-the-key-0123456789").json(&body).send().await.unwrap();
    expect_error(wrong, StatusCode::UNAUTHORIZED, "unauthorized", None).await;

    let prefix = app.client.post(&url).bearer_auth(&API_KEY[..API_KEY.len() - 1]).json(&body).send().await.unwrap();
    expect_error(prefix, StatusCode::UNAUTHORIZED, "unauthorized", None).await;

    let basic =
        app.client.post(&url).header("authorization", format!("Basic {API_KEY}")).json(&body).send().await.unwrap();
    expect_error(basic, StatusCode::UNAUTHORIZED, "unauthorized", None).await;

    assert_eq!(app.sim_total_calls().await, 0, "nothing reached the provider");
    let chats = app.client.post(format!("{}/v1/chats", app.address)).json(&json!({})).send().await.unwrap();
    expect_error(chats, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
    expect_error(app.get("/v1/accounts/intruder").await, StatusCode::NOT_FOUND, "not_found", None).await;
}

#[tokio::test]
async fn every_configured_key_is_accepted() {
    let second = "second-key-for-rotation-0123";
    let mut spawn = Spawn::new(Backend::Sqlite);
    spawn.api_keys = vec![API_KEY.to_owned(), second.to_owned()];
    let app = spawn.start().await;

    for key in [API_KEY, second] {
        let response = app
            .client
            .post(format!("{}/v1/accounts", app.address))
            .header("authorization", format!("bearer {key}"))
            .json(&json!({"account": "rotating"}))
            .send()
            .await
            .unwrap();
        expect_json(response, StatusCode::OK).await;
    }
}

#[tokio::test]
async fn without_keys_a_loopback_server_needs_no_authorization() {
    let mut spawn = Spawn::new(Backend::Sqlite);
    spawn.api_keys = Vec::new();
    let app = spawn.start().await;

    let response = app.post("/v1/accounts", &json!({"account": "open_user"})).await;

    expect_json(response, StatusCode::OK).await;
}

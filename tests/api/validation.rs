//! Bad input: 400/422 naming the field, nothing stored, no provider call.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{expect_error, spawn_app};

#[tokio::test]
async fn bad_account_requests_name_the_field_and_change_nothing() {
    let app = spawn_app().await;
    let cases = [
        (json!({"account": "a", "nickname": "x"}), 400, "unknown_field", "nickname"),
        (json!({"account": 12}), 422, "invalid_field", "account"),
        (json!({"account": "a", "name": ["x"]}), 422, "invalid_field", "name"),
        (json!({"name": "no account"}), 422, "invalid_field", "account"),
        (json!({"account": "has space"}), 422, "invalid_field", "account"),
        (json!({"account": "名字"}), 422, "invalid_field", "account"),
        (json!({"account": ""}), 422, "invalid_field", "account"),
        (json!({"account": "a".repeat(33)}), 422, "invalid_field", "account"),
        (json!({"account": "a", "name": "n".repeat(65)}), 422, "invalid_field", "name"),
        (json!({"account": "a", "icon": "i".repeat(1025)}), 422, "invalid_field", "icon"),
    ];
    for (request, status, code, field) in cases {
        let response = app.post("/v1/accounts", &request).await;
        expect_error(response, StatusCode::from_u16(status).unwrap(), code, Some(field)).await;
    }
    assert_eq!(app.sim_total_calls().await, 0, "no provider call for bad input");
    expect_error(app.get("/v1/accounts/a").await, StatusCode::NOT_FOUND, "not_found", None).await;
}

#[tokio::test]
async fn a_body_that_is_not_json_is_rejected() {
    let app = spawn_app().await;
    let url = format!("{}/v1/accounts", app.address);
    let key = app.api_key.clone().unwrap();

    let response = app
        .client
        .post(&url)
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{\"account\": ")
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::BAD_REQUEST, "invalid_json", None).await;

    let response = app.client.post(&url).bearer_auth(&key).body("account=a").send().await.unwrap();
    expect_error(response, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", None).await;

    let huge = json!({"account": "a", "name": "n".repeat(300_000)});
    let response = app.post("/v1/accounts", &huge).await;
    expect_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", None).await;
    assert_eq!(app.sim_total_calls().await, 0);
}

#[tokio::test]
async fn bad_profile_updates_name_the_field_and_change_nothing() {
    let app = spawn_app().await;
    app.create_account("patchy", Some("Original")).await;
    let calls_before = app.sim_total_calls().await;
    let cases = [
        (json!({}), 422, "invalid_field", "(body)"),
        (json!({"gender": 7}), 422, "invalid_field", "gender"),
        (json!({"gender": "male"}), 422, "invalid_field", "gender"),
        (json!({"name": "n".repeat(65)}), 422, "invalid_field", "name"),
        (json!({"token": "mine"}), 400, "unknown_field", "token"),
        (json!({"email": "e".repeat(65)}), 422, "invalid_field", "email"),
    ];
    for (request, status, code, field) in cases {
        let response = app.patch("/v1/accounts/patchy", &request).await;
        expect_error(response, StatusCode::from_u16(status).unwrap(), code, Some(field)).await;
    }
    let response = app.patch("/v1/accounts/bad%20id", &json!({"name": "x"})).await;
    expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", Some("accid")).await;
    assert_eq!(app.sim_total_calls().await, calls_before, "no provider call for bad input");
    assert_eq!(app.sim_account("patchy").await.unwrap()["name"], "Original");
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let app = spawn_app().await;
    expect_error(app.get("/v1/nothing-here").await, StatusCode::NOT_FOUND, "not_found", None).await;
    let response = app.client.put(format!("{}/v1/accounts", app.address)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let response = app.get("/v1/accounts/nobody").await;
    assert!(response.headers().get("x-request-id").is_some_and(|v| !v.is_empty()));
    let response = app
        .client
        .get(format!("{}/v1/accounts/nobody", app.address))
        .bearer_auth(app.api_key.as_deref().unwrap())
        .header("x-request-id", "caller-chosen-id")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "caller-chosen-id");
}

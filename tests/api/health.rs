//! /healthz, /readyz and /metrics: no API key needed; readiness names what is unreachable.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::spawn_app;

#[tokio::test]
async fn health_and_readiness_need_no_key_and_readiness_names_the_provider_when_it_is_down() {
    let mut app = spawn_app().await;
    let client = reqwest::Client::new();

    let health = client.get(format!("{}/healthz", app.address)).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    let ready = client.get(format!("{}/readyz", app.address)).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK, "{}", ready.text().await.unwrap());

    app.stop_simulator().await;
    let ready = client.get(format!("{}/readyz", app.address)).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["failing"], serde_json::json!(["provider"]));
    app.stop().await;
}

#[tokio::test]
async fn metrics_count_rejected_callbacks_by_reason() {
    let app = spawn_app().await;
    let client = reqwest::Client::new();
    let forged = client
        .post(format!("{}/callbacks/netease", app.address))
        .header("CurTime", "1")
        .header("MD5", "00")
        .header("CheckSum", "00")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);

    let metrics = client.get(format!("{}/metrics", app.address)).send().await.unwrap();
    assert_eq!(metrics.status(), StatusCode::OK);
    let text = metrics.text().await.unwrap();
    assert!(
        text.lines().any(|l| l.starts_with("imbridge_callbacks_total") && l.contains("outcome=\"rejected:")),
        "no rejected-callback counter in:\n{text}"
    );
    app.stop().await;
}

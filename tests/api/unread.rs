//! `GET /v1/unread` and `POST /v1/unread`: the shapes the order page reads, and bad input.

use imbridge_netease::sign::now_millis;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::callbacks::{deliver, message, receipt, spawn};
use crate::helpers::{expect_error, expect_json, Store, TestApp};

on_both_stores!(get_and_post_report_every_peer_zero_included, orders_get_their_own_counts);

/// buyer_01 has 3 unread from shop_1 (4 sent, 1 read), 1 from shop_3, none from shop_2.
async fn seeded(store: Store) -> TestApp {
    let app = spawn(store).await;
    let t = now_millis() - 60_000;
    for i in 0..4 {
        deliver(&app, &message("shop_1", "buyer_01", 100 + i, t + i)).await;
    }
    deliver(&app, &receipt("buyer_01", "shop_1", t, "AOS")).await;
    deliver(&app, &message("shop_3", "buyer_01", 200, t)).await;
    // Traffic that is not buyer_01's: sent by buyer_01, or to someone else.
    deliver(&app, &message("buyer_01", "shop_2", 300, t)).await;
    deliver(&app, &message("shop_2", "buyer_02", 301, t)).await;
    app
}

async fn get_and_post_report_every_peer_zero_included(store: Store) {
    let app = seeded(store).await;
    let expected = json!({"accid": "buyer_01", "unread": {"shop_1": 3, "shop_2": 0}, "total": 3});

    let got = expect_json(app.get("/v1/unread?accid=buyer_01&peers=shop_1,shop_2").await, StatusCode::OK).await;
    assert_eq!(got, expected);
    let posted = app.post("/v1/unread", &json!({"accid": "buyer_01", "peers": ["shop_1", "shop_2"]})).await;
    assert_eq!(expect_json(posted, StatusCode::OK).await, expected);

    // accids compare lowercased; peers come back as the request spelled them, counted once in total.
    let mixed = json!({"accid": "Buyer_01", "peers": ["SHOP_1", "shop_1", "shop_3"]});
    let got = expect_json(app.post("/v1/unread", &mixed).await, StatusCode::OK).await;
    assert_eq!(got, json!({"accid": "buyer_01", "unread": {"SHOP_1": 3, "shop_1": 3, "shop_3": 1}, "total": 4}));
}

async fn orders_get_their_own_counts(store: Store) {
    let app = seeded(store).await;
    let request = json!({
        "accid": "buyer_01",
        "peers": ["shop_3"],
        "orders": [
            {"order_id": "o-1", "peer": "shop_1"},
            {"order_id": "o-2", "peer": "shop_2"},
            {"order_id": "o-3", "peer": "Shop_1"}
        ]
    });
    let got = expect_json(app.post("/v1/unread", &request).await, StatusCode::OK).await;
    assert_eq!(got["accid"], "buyer_01");
    assert_eq!(got["orders"], json!({"o-1": 3, "o-2": 0, "o-3": 3}));
    assert_eq!(got["unread"]["shop_3"], 1);
    // Every distinct peer once: shop_3 (1) + shop_1 (3) + shop_2 (0).
    assert_eq!(got["total"], 4);

    let orders_only = json!({"accid": "buyer_01", "orders": [{"order_id": "o-9", "peer": "shop_3"}]});
    let got = expect_json(app.post("/v1/unread", &orders_only).await, StatusCode::OK).await;
    assert_eq!((got["orders"].clone(), got["total"].clone()), (json!({"o-9": 1}), json!(1)));
    assert_eq!(got["unread"], json!({"shop_3": 1}), "an order's peer is listed under unread too");
}

async fn invalid(response: reqwest::Response, field: &str) -> Value {
    expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", Some(field)).await
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field() {
    let app = spawn(Store::Embedded).await;
    invalid(app.get("/v1/unread?peers=shop_1").await, "accid").await;
    invalid(app.get("/v1/unread?accid=&peers=shop_1").await, "accid").await;
    invalid(app.post("/v1/unread", &json!({"peers": ["shop_1"]})).await, "accid").await;
    invalid(app.get("/v1/unread?accid=bad%20accid!&peers=shop_1").await, "accid").await;
    let too_long = "a".repeat(33);
    invalid(app.post("/v1/unread", &json!({"accid": too_long, "peers": ["shop_1"]})).await, "accid").await;
    invalid(app.post("/v1/unread", &json!({"accid": "buyer_01", "peers": ["shop_1", "no way"]})).await, "peers[1]")
        .await;
    invalid(app.post("/v1/unread", &json!({"accid": "buyer_01"})).await, "peers").await;

    let peers = |n: usize| (0..n).map(|i| format!("shop_{i}")).collect::<Vec<_>>();
    let at_limit = app.post("/v1/unread", &json!({"accid": "buyer_01", "peers": peers(1000)})).await;
    let body = expect_json(at_limit, StatusCode::OK).await;
    assert_eq!(body["unread"].as_object().unwrap().len(), 1000);
    assert_eq!(body["total"], 0);
    let over = app.post("/v1/unread", &json!({"accid": "buyer_01", "peers": peers(1001)})).await;
    invalid(over, "peers").await;
}

#[tokio::test]
async fn the_api_key_is_required() {
    let app = spawn(Store::Embedded).await;
    let url = format!("{}/v1/unread?accid=buyer_01&peers=shop_1", app.address);
    let anonymous = app.client.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let wrong = app.client.get(&url).bearer_auth("not-a-key").send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let posted =
        app.client.post(format!("{}/v1/unread", app.address)).json(&json!({"accid": "buyer_01", "peers": ["shop_1"]}));
    assert_eq!(posted.send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.get("/v1/unread?accid=buyer_01&peers=shop_1").await.status(), StatusCode::OK);
}

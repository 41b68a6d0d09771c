//! `POST /v1/notifications` and `GET /v1/notifications/{id}` over HTTP, delivered to the simulator.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{expect_error, expect_json, Backend, Spawn, TestApp};

on_both_backends!(
    accepted_then_delivered_with_every_field,
    idempotency_key_replays_or_conflicts,
    invalid_notifications_store_nothing,
    busy_provider_is_retried_until_delivered_once,
    two_instances_share_the_work_without_sending_twice,
);

/// GET the notification until it is settled (neither queued nor sending); at most 30 s.
async fn settled(app: &TestApp, id: &str) -> Value {
    app.settled_notification(id).await
}

/// The simulator's recipient-level records (`GET /__sim/notifications`).
async fn landed(app: &TestApp) -> Vec<Value> {
    let url = format!("{}/__sim/notifications", app.sim_root.as_deref().unwrap());
    let body = expect_json(app.client.get(url).send().await.unwrap(), StatusCode::OK).await;
    body.as_array().unwrap().clone()
}

async fn sim_calls(app: &TestApp) -> Value {
    let url = format!("{}/__sim/calls", app.sim_root.as_deref().unwrap());
    expect_json(app.client.get(url).send().await.unwrap(), StatusCode::OK).await
}

async fn accepted_then_delivered_with_every_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for account in ["shop_http", "buyer_a", "buyer_b"] {
        app.create_account(account, None).await;
    }
    let request = json!({
        "from": "Shop_HTTP",
        "to": ["buyer_a", "BUYER_B", "buyer_a"],
        "attach": {"type": "order_paid", "order": "o-77"},
        "push_content": "Order o-77 paid",
        "payload": {"order": "o-77"},
        "sound": "coin.aac"
    });
    let response = app.post("/v1/notifications", &request).await;
    let accepted = expect_json(response, StatusCode::ACCEPTED).await;
    assert_eq!((accepted["status"].clone(), accepted["recipients"].clone()), (json!("queued"), json!(2)));
    let id = accepted["id"].as_str().unwrap();

    let body = settled(&app, id).await;
    assert_eq!(body["status"], "delivered", "{body}");
    assert_eq!(body["from"], "shop_http");
    assert_eq!(body["recipients"], 2);
    assert_eq!(body["attempts"], 1);
    assert_eq!(body["unregistered"], json!([]));
    let outcomes: Vec<(&str, &str)> = body["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["accid"].as_str().unwrap(), o["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(outcomes, [("buyer_a", "delivered"), ("buyer_b", "delivered")]);
    let request_id = body["deliveries"][0]["request_id"].as_str().unwrap();

    let landed = landed(&app).await;
    assert_eq!(landed.len(), 2, "{landed:?}");
    for (record, to) in landed.iter().zip(["buyer_a", "buyer_b"]) {
        assert_eq!(record["api"], "msg/sendBatchAttachMsg");
        assert_eq!((record["from"].as_str(), record["to"].as_str()), (Some("shop_http"), Some(to)));
        assert_eq!(record["attach"], r#"{"type":"order_paid","order":"o-77"}"#);
        assert_eq!(record["pushcontent"], "Order o-77 paid");
        assert_eq!(record["payload"], r#"{"order":"o-77"}"#);
        assert_eq!(record["sound"], "coin.aac");
        assert_eq!(record["save"], 2);
        assert_eq!(record["request_id"], request_id);
    }

    let unknown = app.get("/v1/notifications/00000000-0000-0000-0000-000000000000").await;
    expect_error(unknown, StatusCode::NOT_FOUND, "not_found", None).await;
    app.stop().await;
}

async fn idempotency_key_replays_or_conflicts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_account("shop_idem", None).await;
    app.create_account("buyer_idem", None).await;
    let request =
        json!({"from": "shop_idem", "to": ["buyer_idem"], "attach": "shipped", "idempotency_key": "o-9:shipped"});

    let first = expect_json(app.post("/v1/notifications", &request).await, StatusCode::ACCEPTED).await;
    let replay = expect_json(app.post("/v1/notifications", &request).await, StatusCode::OK).await;
    assert_eq!(replay["id"], first["id"]);
    assert_eq!(replay["recipients"], 1);

    let mut changed = request.clone();
    changed["attach"] = json!("delivered");
    let conflict = app.post("/v1/notifications", &changed).await;
    expect_error(conflict, StatusCode::CONFLICT, "conflict", None).await;

    let body = settled(&app, first["id"].as_str().unwrap()).await;
    assert_eq!(body["status"], "delivered");
    let replay = expect_json(app.post("/v1/notifications", &request).await, StatusCode::OK).await;
    assert_eq!((replay["id"].clone(), replay["status"].clone()), (first["id"].clone(), json!("delivered")));
    let landed = landed(&app).await;
    assert_eq!(landed.len(), 1, "one notification, delivered once: {landed:?}");
    assert_eq!(landed[0]["attach"], "shipped");
    app.stop().await;
}

async fn invalid_notifications_store_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cases = [
        (json!({"from": "s", "to": ["b"], "attach": "x", "colour": "red"}), 400, "unknown_field", "colour"),
        (json!({"to": ["b"], "attach": "x"}), 422, "invalid_field", "from"),
        (json!({"from": "s", "to": "b", "attach": "x"}), 422, "invalid_field", "to"),
        (json!({"from": "s", "attach": "x"}), 422, "invalid_field", "to"),
        (json!({"from": "s", "to": ["b"], "team": "1", "attach": "x"}), 422, "invalid_field", "to"),
        (json!({"from": "s", "to": [], "attach": "x"}), 422, "invalid_field", "to"),
        (json!({"from": "s", "to": ["b", "no spaces"], "attach": "x"}), 422, "invalid_field", "to[1]"),
        (json!({"from": "bad from", "to": ["b"], "attach": "x"}), 422, "invalid_field", "from"),
        (json!({"from": "s", "to": ["b"], "attach": ["x"]}), 422, "invalid_field", "attach"),
        (json!({"from": "s", "to": ["b"], "attach": "a".repeat(4097)}), 422, "invalid_field", "attach"),
        (json!({"from": "s", "to": ["b"], "attach": "x", "payload": [1]}), 422, "invalid_field", "payload"),
        (
            json!({"from": "s", "to": ["b"], "attach": "x", "payload": {"p": "p".repeat(2050)}}),
            422,
            "invalid_field",
            "payload",
        ),
        (
            json!({"from": "s", "to": ["b"], "attach": "x", "push_content": "p".repeat(501)}),
            422,
            "invalid_field",
            "push_content",
        ),
        (json!({"from": "s", "to": ["b"], "attach": "x", "sound": "s".repeat(31)}), 422, "invalid_field", "sound"),
        (json!({"from": "s", "to": ["b"], "attach": "x", "online_only": "yes"}), 422, "invalid_field", "online_only"),
        (
            json!({"from": "s", "to": ["b"], "attach": "x", "idempotency_key": "k".repeat(256)}),
            422,
            "invalid_field",
            "idempotency_key",
        ),
    ];
    for (request, status, code, field) in cases {
        let response = app.post("/v1/notifications", &request).await;
        expect_error(response, StatusCode::from_u16(status).unwrap(), code, Some(field)).await;
    }
    let calls = sim_calls(&app).await;
    assert_eq!(calls["total"], 0, "no provider call: {calls}");

    let sql = imbridge::db::Sql::connect(&app.database.url).await.unwrap();
    let stored: i64 = match &sql {
        imbridge::db::Sql::Sqlite(p) => {
            sqlx::query_scalar("SELECT COUNT(*) FROM notifications").fetch_one(p).await.unwrap()
        }
        imbridge::db::Sql::MySql(p) => {
            sqlx::query_scalar("SELECT COUNT(*) FROM notifications").fetch_one(p).await.unwrap()
        }
    };
    assert_eq!(stored, 0, "nothing stored");
    sql.close().await;
    app.stop().await;
}

async fn busy_provider_is_retried_until_delivered_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_account("shop_busy", None).await;
    app.create_account("buyer_busy", None).await;
    app.sim_faults(json!({"fail_next": 2, "fail_code": 503, "actions": ["msg/sendAttachMsg"]})).await;

    let request = json!({"from": "shop_busy", "to": ["buyer_busy"], "attach": {"k": "v"}});
    let accepted = expect_json(app.post("/v1/notifications", &request).await, StatusCode::ACCEPTED).await;
    let body = settled(&app, accepted["id"].as_str().unwrap()).await;
    assert_eq!(body["status"], "delivered", "{body}");
    assert_eq!(body["attempts"], 3, "two 503s, then success: {body}");
    assert_eq!(body["outcomes"][0]["last_code"], 200);

    let calls = sim_calls(&app).await;
    assert_eq!(calls["actions"]["msg/sendAttachMsg"]["codes"], json!({"503": 2, "200": 1}), "{calls}");
    assert_eq!(landed(&app).await.len(), 1, "delivered exactly once");
    app.stop().await;
}

/// Two instances of the service on one database and one NetEase app: each accepts notifications,
/// both workers deliver, nobody gets anything twice (no item is sent by both, so no 431 either).
async fn two_instances_share_the_work_without_sending_twice(backend: Backend) {
    let first = TestApp::spawn(backend).await;
    let second = Spawn::instance_of(&first).start().await;
    first.create_account("shop_pair", None).await;
    let buyers: Vec<String> = (0..20).map(|i| format!("pair_buyer_{i}")).collect();
    for buyer in &buyers {
        first.create_account(buyer, None).await;
    }
    let mut ids = Vec::new();
    for (i, buyer) in buyers.iter().enumerate() {
        let app = if i % 2 == 0 { &first } else { &second };
        let request = json!({"from": "shop_pair", "to": [buyer], "attach": {"n": i}});
        let accepted = expect_json(app.post("/v1/notifications", &request).await, StatusCode::ACCEPTED).await;
        ids.push(accepted["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        assert_eq!(settled(&second, id).await["status"], "delivered");
    }
    let calls = sim_calls(&first).await;
    assert_eq!(calls["actions"]["msg/sendAttachMsg"]["codes"], json!({"200": 20}), "{calls}");
    let mut recipients: Vec<String> =
        landed(&first).await.iter().map(|r| r["to"].as_str().unwrap().to_owned()).collect();
    recipients.sort();
    let mut expected = buyers.clone();
    expected.sort();
    assert_eq!(recipients, expected);
    second.stop().await;
    first.stop().await;
}

//! Accepting notifications: idempotency keys, and validation that stores nothing.

use imbridge::db::Sql;
use imbridge::notifications::SubmitError;
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{fast_config, request, Backend, TestEnv};

on_both_backends!(
    same_key_same_body_returns_the_first,
    same_key_other_body_conflicts,
    concurrent_same_key_stores_one,
    invalid_requests_store_nothing
);

async fn count(sql: &Sql, table: &str) -> i64 {
    let q = format!("SELECT COUNT(*) FROM {table}");
    match sql {
        Sql::Sqlite(p) => sqlx::query_scalar(&q).fetch_one(p).await.unwrap(),
        Sql::MySql(p) => sqlx::query_scalar(&q).fetch_one(p).await.unwrap(),
    }
}

fn keyed(key: &str, attach: &str) -> Value {
    json!({"from": "shop_1", "to": ["buyer_1", "buyer_2"], "attach": attach, "idempotency_key": key})
}

async fn same_key_same_body_returns_the_first(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let outbox = env.outbox(fast_config());
    let first = outbox.submit(request(keyed("order-1-shipped", "a"))).await.unwrap();
    let again = outbox.submit(request(keyed("order-1-shipped", "a"))).await.unwrap();
    assert!(first.created && !again.created);
    assert_eq!(again.accepted.id, first.accepted.id);
    assert_eq!(again.accepted.recipients, 2);
    // Keys are compared exactly: another case or a trailing space is another key.
    let other = outbox.submit(request(keyed("Order-1-shipped ", "a"))).await.unwrap();
    assert!(other.created);
    assert_ne!(other.accepted.id, first.accepted.id);
    assert_eq!(count(&env.sql, "notifications").await, 2);
    assert_eq!(count(&env.sql, "notification_deliveries").await, 2);
    env.cleanup().await;
}

async fn same_key_other_body_conflicts(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let outbox = env.outbox(fast_config());
    let first = outbox.submit(request(keyed("k-conflict", "a"))).await.unwrap();
    match outbox.submit(request(keyed("k-conflict", "b"))).await {
        Err(SubmitError::KeyReused { id }) => assert_eq!(id, first.accepted.id),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(count(&env.sql, "notifications").await, 1);
    env.cleanup().await;
}

async fn concurrent_same_key_stores_one(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let outbox = env.outbox(fast_config());
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let outbox = outbox.clone();
            tokio::spawn(async move { outbox.submit(request(keyed("k-race", "same"))).await.unwrap() })
        })
        .collect();
    let mut ids = Vec::new();
    let mut created = 0;
    for t in tasks {
        let s = t.await.unwrap();
        created += usize::from(s.created);
        ids.push(s.accepted.id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every caller got the same notification");
    assert_eq!(created, 1);
    assert_eq!(count(&env.sql, "notifications").await, 1);
    env.cleanup().await;
}

async fn invalid_requests_store_nothing(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let outbox = env.outbox(fast_config());
    let base = json!({"from": "shop_1", "to": ["buyer_1"], "attach": "x"});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let without_to = {
        let mut b = base.clone();
        b.as_object_mut().unwrap().remove("to");
        b
    };
    let cases = [
        (with("from", json!("bad id")), "from"),
        (with("to", json!([])), "to"),
        (with("to", json!(["ok", "not valid!"])), "to[1]"),
        (with("team", json!("123")), "to"),
        (without_to, "to"),
        (with("attach", json!(42)), "attach"),
        (with("attach", json!("")), "attach"),
        (with("attach", json!("a".repeat(4097))), "attach"),
        (with("attach", json!({"k": "a".repeat(4090)})), "attach"),
        (with("payload", json!("not an object")), "payload"),
        (with("payload", json!({"k": "p".repeat(2048)})), "payload"),
        (with("push_content", json!("p".repeat(501))), "push_content"),
        (with("sound", json!("s".repeat(31))), "sound"),
        (with("idempotency_key", json!("")), "idempotency_key"),
    ];
    for (body, field) in cases {
        match outbox.submit(request(body.clone())).await {
            Err(SubmitError::Invalid(invalid)) => assert_eq!(invalid.field, field, "{body}"),
            other => panic!("{body}: expected invalid {field}, got {other:?}"),
        }
    }
    let too_many: Vec<String> = (0..101).map(|i| format!("u{i}")).collect();
    let small = env.outbox(imbridge::notifications::OutboxConfig { max_recipients: 100, ..fast_config() });
    match small.submit(request(with("to", json!(too_many)))).await {
        Err(SubmitError::Invalid(invalid)) => assert_eq!(invalid.field, "to"),
        other => panic!("expected too many recipients, got {other:?}"),
    }
    assert_eq!(count(&env.sql, "notifications").await, 0);
    assert_eq!(count(&env.sql, "notification_deliveries").await, 0);
    env.cleanup().await;
}

//! The store's lease rules, driven directly: claims are exclusive, expired leases are reclaimed, and
//! a worker that lost its lease cannot overwrite the new owner's outcome.

use imbridge::notifications::{now_ms, Backlog, OutboxStore, Settled};
use imbridge_provider::ImProvider;
use serde_json::json;

use crate::on_both_backends;
use crate::support::{request, Backend, TestEnv};

on_both_backends!(
    claims_are_exclusive_until_the_lease_expires,
    released_items_are_due_at_once,
    backlog_counts_what_is_not_settled
);

async fn enqueue_two(env: &TestEnv, store: &OutboxStore, now: i64) {
    for buyer in ["lease_a", "lease_b"] {
        let new = request(json!({"from": "shop_lease", "to": [buyer], "attach": "x"}))
            .validate(env.provider.as_ref(), 100)
            .unwrap();
        store.enqueue(&new, env.provider.max_batch_recipients(), now).await.unwrap();
    }
}

async fn claims_are_exclusive_until_the_lease_expires(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let store = OutboxStore::new(env.sql.clone());
    let t0 = now_ms();
    enqueue_two(&env, &store, t0).await;

    let first = store.claim("worker-1", 10, t0, 1_000).await.unwrap();
    assert_eq!(first.len(), 2);
    assert!(first.iter().all(|i| i.attempts == 1));
    assert!(store.claim("worker-2", 10, t0 + 999, 1_000).await.unwrap().is_empty(), "leased items are not due");

    // worker-1 renews one lease; the other expires and worker-2 takes it over.
    assert!(store.extend_lease(first[0].id, "worker-1", t0 + 5_000).await.unwrap());
    let taken = store.claim("worker-2", 10, t0 + 1_000, 1_000).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].id, first[1].id);
    assert_eq!(taken[0].request_id, first[1].request_id, "a reclaimed item keeps its request id");
    assert_eq!(taken[0].attempts, 2);

    // The late worker cannot settle, reschedule or renew what it no longer holds.
    let failed = Settled::Failed { code: Some(414), desc: "late".into() };
    assert!(!store.settle(&first[1], "worker-1", &failed, t0 + 1_100).await.unwrap());
    assert!(!store.reschedule(&first[1], "worker-1", t0, None, "late", false, t0 + 1_100).await.unwrap());
    assert!(!store.extend_lease(first[1].id, "worker-1", t0 + 9_000).await.unwrap());
    let delivered = Settled::Delivered { code: 200, desc: None, unregistered: vec![] };
    assert!(store.settle(&taken[0], "worker-2", &delivered, t0 + 1_200).await.unwrap());
    assert!(store.settle(&first[0], "worker-1", &delivered, t0 + 1_200).await.unwrap());

    for item in [&first[0], &taken[0]] {
        let n = store.get(&item.notification_id).await.unwrap().unwrap();
        assert_eq!(n.items[0].status, "delivered");
        assert_eq!(n.items[0].last_code, Some(200), "the new owner's outcome stands");
    }
    assert!(store.claim("worker-3", 10, t0 + 60_000, 1_000).await.unwrap().is_empty(), "settled items are never due");
    env.cleanup().await;
}

async fn released_items_are_due_at_once(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let store = OutboxStore::new(env.sql.clone());
    let t0 = now_ms();
    enqueue_two(&env, &store, t0).await;

    assert_eq!(store.claim("worker-1", 10, t0, 600_000).await.unwrap().len(), 2);
    assert_eq!(store.release_all("worker-1", t0 + 10).await.unwrap(), 2);
    let again = store.claim("worker-2", 10, t0 + 10, 600_000).await.unwrap();
    assert_eq!(again.len(), 2, "released long before the lease would have expired");
    env.cleanup().await;
}

/// What the outbox depth and age gauges of /metrics report.
async fn backlog_counts_what_is_not_settled(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let store = OutboxStore::new(env.sql.clone());
    assert_eq!(store.backlog().await.unwrap(), Backlog { pending: 0, oldest_created_ms: None });

    let t0 = now_ms();
    enqueue_two(&env, &store, t0).await;
    assert_eq!(store.backlog().await.unwrap(), Backlog { pending: 2, oldest_created_ms: Some(t0) });

    let claimed = store.claim("worker-1", 10, t0, 1_000).await.unwrap();
    assert_eq!(store.backlog().await.unwrap().pending, 2, "an item being sent is still pending");
    let delivered = Settled::Delivered { code: 200, desc: None, unregistered: vec![] };
    assert!(store.settle(&claimed[0], "worker-1", &delivered, t0 + 10).await.unwrap());
    assert_eq!(store.backlog().await.unwrap().pending, 1);
    let failed = Settled::Failed { code: Some(414), desc: "refused".into() };
    assert!(store.settle(&claimed[1], "worker-1", &failed, t0 + 20).await.unwrap());
    assert_eq!(store.backlog().await.unwrap(), Backlog { pending: 0, oldest_created_ms: None });
    env.cleanup().await;
}

//! Crashes, restarts, graceful shutdown and several instances on one database: everything is
//! delivered, and nothing twice.

use std::collections::HashMap;
use std::time::Duration;

use imbridge::notifications::{Outbox, OutboxConfig};
use imbridge_netease::sim::Faults;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::on_both_backends;
use crate::support::{accids, eventually, fast_config, json, request, settled, Backend, TestEnv};

on_both_backends!(
    crash_mid_delivery_then_restart_delivers_everything_once,
    graceful_shutdown_releases_in_flight_items,
    graceful_shutdown_finishes_in_flight_sends,
    two_instances_never_send_twice,
);

/// Every (request id, recipient) the simulator recorded, with how often.
fn copies(env: &TestEnv) -> HashMap<(String, String), usize> {
    let mut seen = HashMap::new();
    for n in env.landed() {
        *seen.entry((n.request_id.clone().unwrap_or_default(), n.to.clone())).or_default() += 1;
    }
    seen
}

async fn submit_singles(outbox: &Outbox, from: &str, to: &[String]) -> Vec<String> {
    let mut ids = Vec::new();
    for buyer in to {
        let body = json!({"from": from, "to": [buyer], "attach": {"for": buyer}});
        ids.push(outbox.submit(request(body)).await.unwrap().accepted.id);
    }
    ids
}

async fn all_delivered(outbox: &Outbox, ids: &[String]) {
    for id in ids {
        let view = json(&settled(outbox, id, Duration::from_secs(30)).await);
        assert_eq!(view["status"], "delivered", "{view}");
    }
}

async fn crash_mid_delivery_then_restart_delivers_everything_once(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let buyers = accids("crash", 20);
    env.register(&buyers).await;
    env.register(&["shop_crash".into()]).await;
    // Slow answers, so that the crash catches sends in flight.
    env.sim.state().set_faults(Faults::delay(Duration::from_millis(300)));
    let config = OutboxConfig { lease_ms: 1_000, ..fast_config() };

    let first = env.outbox(config.clone());
    let mut ids = submit_singles(&first, "shop_crash", &buyers).await;
    let batch = json!({"from": "shop_crash", "to": buyers, "attach": "to everyone"});
    ids.push(first.submit(request(batch)).await.unwrap().accepted.id);
    let worker = first.spawn_worker(CancellationToken::new());
    eventually("a few deliveries before the crash", Duration::from_secs(20), || async {
        (env.landed().len() >= 3).then_some(())
    })
    .await;
    worker.abort().await;
    let before_restart = env.landed().len();
    assert!(before_restart < 40, "the crash came before the end ({before_restart} landed)");

    // A new instance on the same database: expired leases are reclaimed, retries reuse request ids.
    let second = Outbox::new(env.connect_again().await, env.provider.clone(), config);
    let worker = second.spawn_worker(CancellationToken::new());
    all_delivered(&second, &ids).await;

    let copies = copies(&env);
    assert_eq!(copies.len(), 40, "20 single notifications and 20 batch recipients");
    assert!(copies.values().all(|&n| n == 1), "{copies:?}");
    worker.shutdown().await;
    env.cleanup().await;
}

async fn graceful_shutdown_releases_in_flight_items(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let buyers = accids("release", 4);
    env.register(&buyers).await;
    env.register(&["shop_release".into()]).await;
    env.sim.state().set_faults(Faults::delay(Duration::from_millis(2_000)));
    // A lease far longer than the test: only an explicit release lets another worker in.
    let config = OutboxConfig { lease_ms: 600_000, shutdown_grace_ms: 0, ..fast_config() };

    let first = env.outbox(config.clone());
    let ids = submit_singles(&first, "shop_release", &buyers).await;
    let worker = first.spawn_worker(CancellationToken::new());
    eventually("all four sends in flight", Duration::from_secs(10), || async {
        let mut sending = 0;
        for id in &ids {
            let view = json(&first.get(id).await.unwrap().unwrap());
            sending += usize::from(view["status"] == "sending");
        }
        (sending == 4).then_some(())
    })
    .await;
    worker.shutdown().await;
    env.sim.state().clear_faults();

    let second = Outbox::new(env.connect_again().await, env.provider.clone(), config);
    let worker = second.spawn_worker(CancellationToken::new());
    all_delivered(&second, &ids).await;
    let copies = copies(&env);
    assert_eq!(copies.len(), 4);
    assert!(copies.values().all(|&n| n == 1), "{copies:?}");
    worker.shutdown().await;
    env.cleanup().await;
}

async fn graceful_shutdown_finishes_in_flight_sends(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let buyers = accids("finish", 3);
    env.register(&buyers).await;
    env.register(&["shop_finish".into()]).await;
    env.sim.state().set_faults(Faults::delay(Duration::from_millis(500)));
    let outbox = env.outbox(OutboxConfig { shutdown_grace_ms: 10_000, ..fast_config() });
    let ids = submit_singles(&outbox, "shop_finish", &buyers).await;
    let worker = outbox.spawn_worker(CancellationToken::new());
    eventually("the sends to start", Duration::from_secs(10), || async {
        let view = json(&outbox.get(&ids[2]).await.unwrap().unwrap());
        (view["status"] == "sending").then_some(())
    })
    .await;
    worker.shutdown().await;

    // No worker runs any more: whatever was in flight was finished before shutdown returned.
    for id in &ids {
        let view = json(&outbox.get(id).await.unwrap().unwrap());
        assert_eq!(view["status"], "delivered", "{view}");
    }
    assert_eq!(env.landed().len(), 3);
    env.cleanup().await;
}

/// Two instances, each with its own pool and worker, share one database. Leases are long, so a
/// second send of any item could only come from both claiming it: the simulator would then record
/// a repeated RequestId (431). It must see none.
async fn two_instances_never_send_twice(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let buyers = accids("pair", 60);
    env.register(&buyers).await;
    env.register(&["shop_pair".into()]).await;
    env.sim.state().set_faults(Faults::delay(Duration::from_millis(20)));
    let config = OutboxConfig { lease_ms: 600_000, ..fast_config() };

    let a = env.outbox(config.clone());
    let b = Outbox::new(env.connect_again().await, env.provider.clone(), config);
    let mut ids = submit_singles(&a, "shop_pair", &buyers[..30]).await;
    ids.extend(submit_singles(&b, "shop_pair", &buyers[30..]).await);
    let batch = json!({"from": "shop_pair", "to": buyers, "attach": "all"});
    ids.push(b.submit(request(batch)).await.unwrap().accepted.id);
    let workers = [a.spawn_worker(CancellationToken::new()), b.spawn_worker(CancellationToken::new())];

    all_delivered(&a, &ids).await;
    let calls = env.sim.state().call_counts();
    assert_eq!(calls.total_of("msg/sendAttachMsg"), 60, "{calls:?}");
    assert_eq!(calls.total_of("msg/sendBatchAttachMsg"), 1, "{calls:?}");
    assert_eq!(calls.with_code("msg/sendAttachMsg", 431), 0, "{calls:?}");
    let copies = copies(&env);
    assert_eq!(copies.len(), 120);
    assert!(copies.values().all(|&n| n == 1), "{copies:?}");
    for w in workers {
        w.shutdown().await;
    }
    env.cleanup().await;
}

//! Transient failures are retried until delivered exactly once; rate-limit blocks are waited out
//! without hammering; refusals are recorded and never retried.

use std::time::Duration;

use imbridge::notifications::OutboxConfig;
use imbridge_netease::sim::{Faults, SimConfig};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::on_both_backends;
use crate::support::{
    eventually, fast_config, generous_limits, json, request, settled, unlimited_sim, Backend, TestEnv,
};

on_both_backends!(
    busy_provider_is_retried_until_delivered_once,
    transport_failures_are_retried,
    lost_answer_is_deduplicated_by_request_id,
    rate_limit_block_is_waited_out,
    refusal_fails_with_the_provider_desc,
    persistent_failure_gives_up_after_max_attempts,
);

const SEND: &str = "msg/sendAttachMsg";

async fn one_recipient(env: &TestEnv, tag: &str) -> serde_json::Value {
    env.register(&[format!("shop_{tag}"), format!("buyer_{tag}")]).await;
    json!({"from": format!("shop_{tag}"), "to": [format!("buyer_{tag}")], "attach": {"tag": tag}})
}

async fn busy_provider_is_retried_until_delivered_once(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let body = one_recipient(&env, "busy").await;
    env.sim.state().set_faults(Faults::fail_next(4, 503).only(&[SEND]));
    let outbox = env.outbox(fast_config());
    let worker = outbox.spawn_worker(CancellationToken::new());

    let id = outbox.submit(request(body)).await.unwrap().accepted.id;
    let view = json(&settled(&outbox, &id, Duration::from_secs(20)).await);
    assert_eq!(view["status"], "delivered");
    assert_eq!(view["attempts"], 5, "four 503s, then success");
    assert_eq!(view["last_code"], 200);

    let calls = env.sim.state().call_counts();
    assert_eq!((calls.with_code(SEND, 503), calls.with_code(SEND, 200)), (4, 1), "{calls:?}");
    assert_eq!(env.landed().len(), 1, "delivered exactly once");

    worker.shutdown().await;
    env.cleanup().await;
}

async fn transport_failures_are_retried(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let body = one_recipient(&env, "transport").await;
    let faults = Faults { drop_next: 2, ..Faults::http_fail_next(1, 502) }.only(&[SEND]);
    env.sim.state().set_faults(faults);
    let outbox = env.outbox(fast_config());
    let worker = outbox.spawn_worker(CancellationToken::new());

    let id = outbox.submit(request(body)).await.unwrap().accepted.id;
    let view = json(&settled(&outbox, &id, Duration::from_secs(20)).await);
    assert_eq!(view["status"], "delivered");
    assert_eq!(view["attempts"], 4, "two dropped connections and an HTTP 502, then success");
    assert_eq!(env.landed().len(), 1);

    worker.shutdown().await;
    env.cleanup().await;
}

/// The first answer never arrives in time although NetEase acted on the call: the retry carries the
/// same RequestId, NetEase answers 431, and that counts as delivered — the buyer gets one copy.
async fn lost_answer_is_deduplicated_by_request_id(backend: Backend) {
    let env = TestEnv::with(backend, unlimited_sim(), |cfg| {
        cfg.limits = generous_limits();
        cfg.request_timeout = Duration::from_millis(1_000);
    })
    .await;
    let body = one_recipient(&env, "lost").await;
    env.sim.state().set_faults(Faults::delay(Duration::from_millis(3_000)).only(&[SEND]));
    let outbox = env.outbox(fast_config());
    let worker = outbox.spawn_worker(CancellationToken::new());

    let id = outbox.submit(request(body)).await.unwrap().accepted.id;
    eventually("the first (slow) send to take effect", Duration::from_secs(10), || async {
        (!env.landed().is_empty()).then_some(())
    })
    .await;
    env.sim.state().clear_faults();

    let view = json(&settled(&outbox, &id, Duration::from_secs(20)).await);
    assert_eq!(view["status"], "delivered");
    assert_eq!(view["last_code"], 431, "{view}");
    assert!(view["attempts"].as_i64().unwrap() >= 2);
    assert_eq!(env.landed().len(), 1, "delivered exactly once");
    assert!(env.sim.state().call_counts().with_code(SEND, 431) >= 1);

    worker.shutdown().await;
    env.cleanup().await;
}

/// NetEase allows 3 sends per second here; five go out at once. Two do not get through: NetEase
/// answers 416, the client then holds the whole class for NetEase's 10 s block, and the worker
/// reschedules both for after the block instead of calling again.
async fn rate_limit_block_is_waited_out(backend: Backend) {
    let sim = SimConfig {
        per_second_limit: 3,
        batch_per_minute_limit: 0,
        block_per_second: Duration::from_secs(1),
        ..SimConfig::default()
    };
    let env = TestEnv::with(backend, sim, |cfg| cfg.limits = generous_limits()).await;
    let body = one_recipient(&env, "limited").await;
    // Let the registration calls leave the simulator's one-second window.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let outbox = env.outbox(OutboxConfig { concurrency: 8, ..fast_config() });
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(outbox.submit(request(body.clone())).await.unwrap().accepted.id);
    }
    let worker = outbox.spawn_worker(CancellationToken::new());

    for id in &ids {
        let view = json(&settled(&outbox, id, Duration::from_secs(30)).await);
        assert_eq!(view["status"], "delivered", "{view}");
        assert_eq!(view["attempts"], 1, "a rate-limited send does not count as an attempt");
    }
    // Three sends get through; of the two others, any that reached NetEase got a 416 (one that
    // started after the first 416 came back fails fast in the client without a call). Then nothing
    // until the block ends, and one call each after it.
    let calls = env.sim.state().call_counts();
    let refused = calls.with_code(SEND, 416);
    assert!((1..=2).contains(&refused), "{calls:?}");
    assert_eq!(calls.with_code(SEND, 200), 5, "{calls:?}");
    assert_eq!(calls.total_of(SEND), 5 + refused, "no call while blocked: {calls:?}");

    let mut at: Vec<u64> = env.landed().iter().map(|n| n.at).collect();
    at.sort_unstable();
    assert_eq!(at.len(), 5);
    assert!(at[3] >= at[0] + 9_500, "the last two waited out the 10 s block: {at:?}");

    worker.shutdown().await;
    env.cleanup().await;
}

async fn refusal_fails_with_the_provider_desc(backend: Backend) {
    let env = TestEnv::new(backend).await;
    env.register(&["buyer_refused".into()]).await;
    let outbox = env.outbox(fast_config());
    let worker = outbox.spawn_worker(CancellationToken::new());

    let body = json!({"from": "nobody_here", "to": ["buyer_refused"], "attach": "x"});
    let id = outbox.submit(request(body)).await.unwrap().accepted.id;
    let view = json(&settled(&outbox, &id, Duration::from_secs(20)).await);
    assert_eq!(view["status"], "failed");
    let outcome = &view["outcomes"][0];
    assert_eq!((outcome["outcome"].clone(), outcome["last_code"].clone()), (json!("failed"), json!(414)));
    assert!(outcome["last_desc"].as_str().unwrap().contains("not register"), "{outcome}");
    assert_eq!(view["attempts"], 1);

    // Never retried: give a retry every chance to happen, then count the calls.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(env.sim.state().call_counts().total_of(SEND), 1);
    assert!(env.landed().is_empty());

    worker.shutdown().await;
    env.cleanup().await;
}

async fn persistent_failure_gives_up_after_max_attempts(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let body = one_recipient(&env, "down").await;
    env.sim.state().set_faults(Faults::fail_next(1_000, 514).only(&[SEND]));
    let outbox = env.outbox(OutboxConfig { max_attempts: 3, ..fast_config() });
    let worker = outbox.spawn_worker(CancellationToken::new());

    let id = outbox.submit(request(body)).await.unwrap().accepted.id;
    let view = json(&settled(&outbox, &id, Duration::from_secs(20)).await);
    assert_eq!(view["status"], "failed");
    assert_eq!(view["attempts"], 3);
    let desc = view["last_desc"].as_str().unwrap();
    assert!(desc.contains("gave up after 3 attempts"), "{desc}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(env.sim.state().call_counts().total_of(SEND), 3, "no call after giving up");

    worker.shutdown().await;
    env.cleanup().await;
}

//! The operator console's retry: a failed delivery item goes back in the queue with its request id
//! (so a send that did land earlier is dropped by the provider as a repeat) and a fresh attempt
//! budget; only a failed item can be requeued.

use std::time::Duration;

use imbridge::notifications::now_ms;
use imbridge_netease::sim::Faults;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::on_both_backends;
use crate::support::{fast_config, json, request, settled, Backend, TestEnv};

on_both_backends!(a_failed_item_is_requeued_with_its_request_id);

async fn a_failed_item_is_requeued_with_its_request_id(backend: Backend) {
    let env = TestEnv::new(backend).await;
    env.register(&["shop_requeue".into(), "buyer_requeue".into()]).await;
    env.sim.state().set_faults(Faults::fail_next(1, 403).only(&["msg/sendAttachMsg"]));
    let outbox = env.outbox(fast_config());
    let worker = outbox.spawn_worker(CancellationToken::new());

    let body = json!({"from": "shop_requeue", "to": ["buyer_requeue"], "attach": "x"});
    let id = outbox.submit(request(body)).await.unwrap().accepted.id;
    assert_eq!(json(&settled(&outbox, &id, Duration::from_secs(20)).await)["status"], "failed");

    let items = outbox.store().needing_attention(10).await.unwrap();
    let failed: Vec<_> = items.iter().filter(|i| i.notification_id == id).collect();
    assert_eq!(failed.len(), 1, "{items:?}");
    let item = failed[0];
    assert_eq!((item.status.as_str(), item.last_code, item.attempts), ("failed", Some(403), 1));

    assert!(outbox.store().requeue_failed(item.id, now_ms()).await.unwrap());
    assert!(!outbox.store().requeue_failed(item.id, now_ms()).await.unwrap(), "only a failed item");
    outbox.wake();
    let view = json(&settled(&outbox, &id, Duration::from_secs(20)).await);
    assert_eq!(view["status"], "delivered", "{view}");
    assert_eq!(view["deliveries"][0]["request_id"], item.request_id.as_str(), "the same request id: {view}");
    let landed = env.landed();
    assert_eq!(landed.len(), 1, "delivered once");
    assert_eq!(landed[0].request_id.as_deref(), Some(item.request_id.as_str()), "NetEase saw the same RequestId");
    assert!(!outbox.store().requeue_failed(item.id, now_ms()).await.unwrap(), "delivered is not failed");
    let left = outbox.store().needing_attention(10).await.unwrap();
    assert!(left.iter().all(|i| i.notification_id != id), "{left:?}");

    worker.shutdown().await;
    env.cleanup().await;
}

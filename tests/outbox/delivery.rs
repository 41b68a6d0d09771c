//! Notifications land at the provider with every field intact, in as few calls as allowed.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::on_both_backends;
use crate::support::{accids, fast_config, json, request, settled, Backend, TestEnv};

on_both_backends!(single_send_carries_every_field, large_audience_goes_out_in_batches_of_500, team_send);

async fn single_send_carries_every_field(backend: Backend) {
    let env = TestEnv::new(backend).await;
    env.register(&["shop_single".into(), "buyer_single".into()]).await;
    let outbox = env.outbox(fast_config());
    let worker = outbox.spawn_worker(CancellationToken::new());

    let accepted = outbox
        .submit(request(json!({
            "from": "Shop_Single",
            "to": ["Buyer_Single", "buyer_single"],
            "attach": {"type": "shipped", "order": "o-1", "eta": "明天"},
            "push_content": "Your parcel has shipped",
            "payload": {"order": "o-1"},
            "sound": "ding.aac",
            "online_only": true,
            "badge": false,
            "route": false
        })))
        .await
        .expect("accepted");
    assert!(accepted.created);
    assert_eq!(accepted.accepted.recipients, 1, "recipients are de-duplicated after lowercasing");

    let view = settled(&outbox, &accepted.accepted.id, Duration::from_secs(20)).await;
    let body = json(&view);
    assert_eq!(body["status"], "delivered");
    assert_eq!(body["attempts"], 1);
    assert_eq!(
        body["outcomes"],
        json!([{
            "accid": "buyer_single", "outcome": "delivered", "attempts": 1, "last_code": 200, "last_desc": null
        }])
    );

    let landed = env.landed();
    assert_eq!(landed.len(), 1, "{landed:?}");
    let got = &landed[0];
    assert_eq!(got.api, "msg/sendAttachMsg");
    assert_eq!((got.from.as_str(), got.to.as_str(), got.msgtype), ("shop_single", "buyer_single", 0));
    assert_eq!(got.attach, r#"{"type":"shipped","order":"o-1","eta":"明天"}"#, "the object keeps its key order");
    assert_eq!(got.pushcontent.as_deref(), Some("Your parcel has shipped"));
    assert_eq!(got.payload.as_deref(), Some(r#"{"order":"o-1"}"#));
    assert_eq!(got.sound.as_deref(), Some("ding.aac"));
    assert_eq!(got.save, 1, "online_only → save=1");
    let option: Value = serde_json::from_str(got.option.as_deref().expect("option sent")).unwrap();
    assert_eq!((option["badge"].clone(), option["route"].clone()), (json!(false), json!(false)));
    assert_eq!(got.request_id.as_deref(), Some(body["deliveries"][0]["request_id"].as_str().unwrap()));

    worker.shutdown().await;
    env.cleanup().await;
}

async fn large_audience_goes_out_in_batches_of_500(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let mut audience = accids("fan", 1_197);
    env.register(&audience).await;
    env.register(&["shop_batch".into()]).await;
    let ghosts = accids("ghost", 3);
    audience.splice(600..600, ghosts.iter().cloned());
    let outbox = env.outbox(fast_config());
    let worker = outbox.spawn_worker(CancellationToken::new());

    let accepted = outbox
        .submit(request(json!({"from": "shop_batch", "to": audience, "attach": "plain text attach"})))
        .await
        .expect("accepted");
    assert_eq!(accepted.accepted.recipients, 1_200);
    let view = settled(&outbox, &accepted.accepted.id, Duration::from_secs(30)).await;
    let body = json(&view);

    let calls = env.sim.state().call_counts();
    assert_eq!(calls.total_of("msg/sendBatchAttachMsg"), 3, "{calls:?}");
    assert_eq!(calls.total_of("msg/sendAttachMsg"), 0, "{calls:?}");

    let landed = env.landed();
    assert_eq!(landed.len(), 1_197, "every registered recipient once");
    let mut per_recipient: HashMap<&str, usize> = HashMap::new();
    for n in &landed {
        *per_recipient.entry(n.to.as_str()).or_default() += 1;
        assert_eq!(
            (n.api.as_str(), n.from.as_str(), n.attach.as_str()),
            ("msg/sendBatchAttachMsg", "shop_batch", "plain text attach")
        );
        assert_eq!(n.save, 2, "stored offline by default");
        let option: Value = serde_json::from_str(n.option.as_deref().expect("option sent")).unwrap();
        assert_eq!((option["badge"].clone(), option["route"].clone()), (json!(true), json!(true)));
        assert_eq!((&n.pushcontent, &n.payload, &n.sound), (&None, &None, &None));
    }
    assert!(per_recipient.values().all(|&c| c == 1));
    assert!(ghosts.iter().all(|g| !per_recipient.contains_key(g.as_str())));

    let deliveries = body["deliveries"].as_array().unwrap();
    let sizes: Vec<i64> = deliveries.iter().map(|d| d["recipients"].as_i64().unwrap()).collect();
    assert_eq!(sizes, [500, 500, 200]);
    let mut request_ids: Vec<&str> = landed.iter().filter_map(|n| n.request_id.as_deref()).collect();
    request_ids.sort_unstable();
    request_ids.dedup();
    let mut expected: Vec<&str> = deliveries.iter().map(|d| d["request_id"].as_str().unwrap()).collect();
    expected.sort_unstable();
    assert_eq!(request_ids, expected, "each call carried its delivery's request id");

    assert_eq!(body["status"], "partially_failed", "three recipients are unknown to the provider");
    let mut unregistered: Vec<String> = serde_json::from_value(body["unregistered"].clone()).unwrap();
    unregistered.sort();
    assert_eq!(unregistered, ghosts);
    let outcomes = body["outcomes"].as_array().unwrap();
    assert_eq!(outcomes.len(), 1_200);
    let unknown: Vec<&str> =
        outcomes.iter().filter(|o| o["outcome"] == "unregistered").map(|o| o["accid"].as_str().unwrap()).collect();
    assert_eq!(unknown.len(), 3);
    assert_eq!(outcomes.iter().filter(|o| o["outcome"] == "delivered").count(), 1_197);

    worker.shutdown().await;
    env.cleanup().await;
}

async fn team_send(backend: Backend) {
    let env = TestEnv::new(backend).await;
    env.register(&["shop_team".into()]).await;
    let outbox = env.outbox(fast_config());
    let worker = outbox.spawn_worker(CancellationToken::new());

    let accepted = outbox
        .submit(request(json!({"from": "shop_team", "team": "6001234", "attach": {"notice": "sale"}})))
        .await
        .expect("accepted");
    let body = json(&settled(&outbox, &accepted.accepted.id, Duration::from_secs(20)).await);
    assert_eq!(body["status"], "delivered");
    assert_eq!(body["team"], "6001234");
    assert_eq!(body["outcomes"][0]["team"], "6001234");
    assert_eq!(body["outcomes"][0]["outcome"], "delivered");

    let landed = env.landed();
    assert_eq!(landed.len(), 1);
    assert_eq!((landed[0].api.as_str(), landed[0].to.as_str(), landed[0].msgtype), ("msg/sendAttachMsg", "6001234", 1));
    assert_eq!(landed[0].attach, r#"{"notice":"sale"}"#);

    worker.shutdown().await;
    env.cleanup().await;
}

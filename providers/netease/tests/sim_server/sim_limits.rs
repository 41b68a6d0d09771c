//! RequestId de-duplication (431) and frequency control (416 with block periods).

use std::time::Duration;

use imbridge_netease::sim::{Faults, SimConfig};
use serde_json::json;

use crate::helpers::{config, unique, Sim};

async fn pair(sim: &Sim) -> (String, String) {
    let (a, b) = (unique("r"), unique("r"));
    sim.create(&a).await;
    sim.create(&b).await;
    (a, b)
}

#[tokio::test]
async fn a_repeated_request_id_is_431_and_has_no_second_effect() {
    let sim = Sim::start().await;
    let (from, to) = pair(&sim).await;
    let form = [("from", from.as_str()), ("msgtype", "0"), ("to", to.as_str()), ("attach", "{}")];
    let first = sim.call_with_id("msg/sendAttachMsg", &form, Some("op-42")).await;
    assert_eq!(first["code"], 200);
    let again = sim.call_with_id("msg/sendAttachMsg", &form, Some("op-42")).await;
    assert_eq!(again["code"], 431, "{again}");
    assert_eq!(sim.state().notifications().len(), 1);
    assert_eq!(sim.state().notifications()[0].request_id.as_deref(), Some("op-42"));
    // Another id, or none, is a new operation.
    assert_eq!(sim.call_with_id("msg/sendAttachMsg", &form, Some("op-43")).await["code"], 200);
    assert_eq!(sim.call("msg/sendAttachMsg", &form).await["code"], 200);
    assert_eq!(sim.state().notifications().len(), 3);
    assert_eq!(sim.state().call_counts().with_code("msg/sendAttachMsg", 431), 1);
}

#[tokio::test]
async fn a_failed_call_does_not_consume_its_request_id() {
    let sim = Sim::start().await;
    let (from, to) = pair(&sim).await;
    let bad = [("from", from.as_str()), ("msgtype", "0"), ("to", to.as_str())];
    assert_eq!(sim.call_with_id("msg/sendAttachMsg", &bad, Some("op-1")).await["code"], 414);
    sim.state().set_faults(Faults::fail_next(1, 503));
    let good = [("from", from.as_str()), ("msgtype", "0"), ("to", to.as_str()), ("attach", "{}")];
    assert_eq!(sim.call_with_id("msg/sendAttachMsg", &good, Some("op-1")).await["code"], 503);
    assert_eq!(sim.call_with_id("msg/sendAttachMsg", &good, Some("op-1")).await["code"], 200);
    assert_eq!(sim.call_with_id("msg/sendAttachMsg", &good, Some("op-1")).await["code"], 431);
    assert_eq!(sim.state().notifications().len(), 1);
}

#[tokio::test]
async fn the_per_second_class_blocks_for_its_block_period() {
    let cfg = SimConfig { per_second_limit: 3, block_per_second: Duration::from_secs(3), ..config() };
    let sim = Sim::start_with(cfg).await;
    // Three calls in the second are fine, the fourth is refused and starts the block.
    let mut codes = vec![];
    for _ in 0..4 {
        codes.push(sim.call("user/create", &[("accid", &unique("rl"))]).await["code"].as_u64().unwrap());
    }
    assert_eq!(codes[..3], [200, 200, 200]);
    assert_eq!(codes[3], 416);
    let blocked_accid = unique("rl");
    // Well past the one-second window, the class is still blocked, and a blocked call does nothing.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let reply = sim.call("friend/get", &[("accid", &blocked_accid), ("updatetime", "0")]).await;
    assert_eq!(reply["code"], 416, "every API of the class is blocked: {reply}");
    let reply = sim.call("user/create", &[("accid", &blocked_accid)]).await;
    assert_eq!(reply["code"], 416);
    assert!(sim.state().account(&blocked_accid).is_none());
    // The batch class is not affected.
    let accounts = sim.state().accounts();
    let to = json!([accounts[1].accid]).to_string();
    let batch = [("fromAccid", accounts[0].accid.as_str()), ("toAccids", to.as_str()), ("attach", "x")];
    assert_eq!(sim.call("msg/sendBatchAttachMsg", &batch).await["code"], 200);
    // After the block, calls land again.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(sim.call("user/create", &[("accid", &blocked_accid)]).await["code"], 200);
    assert_eq!(sim.state().call_counts().with_code("user/create", 416), 2);
}

#[tokio::test]
async fn the_batch_class_has_its_own_per_minute_limit() {
    let cfg = SimConfig { batch_per_minute_limit: 2, block_per_minute: Duration::from_secs(60), ..config() };
    let sim = Sim::start_with(cfg).await;
    let (from, to) = pair(&sim).await;
    let list = json!([to]).to_string();
    let form = [("fromAccid", from.as_str()), ("toAccids", list.as_str()), ("attach", "x")];
    let mut answers = vec![];
    for _ in 0..3 {
        answers.push(sim.call("msg/sendBatchAttachMsg", &form).await["code"].as_u64().unwrap());
    }
    assert_eq!(answers, [200, 200, 416]);
    assert_eq!(sim.state().notifications().len(), 2);
    // Single sends belong to the per-second class and still work.
    let single = [("from", from.as_str()), ("msgtype", "0"), ("to", to.as_str()), ("attach", "x")];
    assert_eq!(sim.call("msg/sendAttachMsg", &single).await["code"], 200);
}

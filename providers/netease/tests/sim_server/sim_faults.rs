//! Fault injection: failures before any effect, real HTTP errors, dropped connections, delays.

use std::time::Duration;

use imbridge_netease::sim::Faults;
use serde_json::json;

use crate::helpers::{unique, Sim};

#[tokio::test]
async fn json_failures_come_first_and_change_nothing() {
    let sim = Sim::start().await;
    let (status, _) = sim.post("/__sim/faults", json!({"fail_next": 2, "fail_code": 503})).await;
    assert_eq!(status, 200);
    let accid = unique("f");
    for _ in 0..2 {
        let reply = sim.call("user/create", &[("accid", &accid)]).await;
        assert_eq!(reply["code"], 503, "{reply}");
        assert!(sim.state().account(&accid).is_none());
    }
    assert_eq!(sim.call("user/create", &[("accid", &accid)]).await["code"], 200);
    let calls = sim.get("/__sim/calls").await;
    assert_eq!(calls["actions"]["user/create"]["codes"], json!({"200": 1, "503": 2}));
}

#[tokio::test]
async fn failures_can_be_real_http_statuses() {
    let sim = Sim::start().await;
    sim.state().set_faults(Faults::http_fail_next(1, 500));
    let accid = unique("h");
    let response = sim.send("user/create", &[("accid", &accid)], None).await.unwrap();
    assert_eq!(response.status(), 500);
    assert!(!response.text().await.unwrap().starts_with('{'), "a proxy error page, not NetEase JSON");
    assert!(sim.state().account(&accid).is_none());
    assert_eq!(sim.state().call_counts().with_outcome("user/create", "http500"), 1);
    assert_eq!(sim.call("user/create", &[("accid", &accid)]).await["code"], 200);
}

#[tokio::test]
async fn dropped_connections_get_no_answer_and_no_effect() {
    let sim = Sim::start().await;
    sim.state().set_faults(Faults::drop_next(2));
    let accid = unique("d");
    for _ in 0..2 {
        let error = sim.send("user/create", &[("accid", &accid)], None).await.expect_err("no response");
        assert!(error.is_request() || error.is_connect(), "{error:?}");
    }
    assert!(sim.state().account(&accid).is_none());
    assert_eq!(sim.state().call_counts().with_outcome("user/create", "dropped"), 2);
    assert_eq!(sim.call("user/create", &[("accid", &accid)]).await["code"], 200);
}

#[tokio::test]
async fn a_delayed_answer_still_takes_effect_so_the_retry_gets_431() {
    let sim = Sim::start().await;
    let (from, to) = (unique("s"), unique("s"));
    sim.create(&from).await;
    sim.create(&to).await;
    sim.state().set_faults(Faults::delay(Duration::from_millis(1500)));
    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
    let form = [("from", from.as_str()), ("msgtype", "0"), ("to", to.as_str()), ("attach", "{}")];
    let error = sim.send_via(&impatient, "msg/sendAttachMsg", &form, Some("slow-1")).await.expect_err("times out");
    assert!(error.is_timeout(), "{error:?}");
    // The client cannot know, but the notification was delivered; the retry is de-duplicated.
    assert_eq!(sim.state().notifications().len(), 1);
    sim.state().clear_faults();
    assert_eq!(sim.call_with_id("msg/sendAttachMsg", &form, Some("slow-1")).await["code"], 431);
    assert_eq!(sim.state().notifications().len(), 1);
}

#[tokio::test]
async fn faults_can_target_some_apis_only() {
    let sim = Sim::start().await;
    let (from, to) = (unique("t"), unique("t"));
    sim.create(&from).await;
    sim.create(&to).await;
    let (status, _) = sim
        .post("/__sim/faults", json!({"fail_next": 1, "fail_code": 503, "actions": ["msg/sendBatchAttachMsg"]}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(sim.call("user/getUinfos", &[("accids", "[]")]).await["code"], 200);
    let list = json!([to]).to_string();
    let form = [("fromAccid", from.as_str()), ("toAccids", list.as_str()), ("attach", "x")];
    assert_eq!(sim.call("msg/sendBatchAttachMsg", &form).await["code"], 503);
    assert_eq!(sim.call("msg/sendBatchAttachMsg", &form).await["code"], 200);
}

#[tokio::test]
async fn the_faults_api_validates_reports_and_clears() {
    let sim = Sim::start().await;
    let (status, body) = sim.post("/__sim/faults", json!({"fail_next": 1, "fail_code": 42})).await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "bad_request");
    let (status, _) = sim.post("/__sim/faults", json!({"fail_nxt": 1})).await;
    assert_eq!(status, 400, "unknown fields are refused");

    sim.post("/__sim/faults", json!({"fail_next": 3})).await;
    sim.call("user/create", &[("accid", &unique("c"))]).await;
    assert_eq!(sim.get("/__sim/faults").await["fail_next"], 2);
    assert_eq!(sim.delete("/__sim/faults").await, 200);
    assert_eq!(sim.get("/__sim/faults").await["fail_next"], 0);
    assert_eq!(sim.call("user/create", &[("accid", &unique("c"))]).await["code"], 200);
}

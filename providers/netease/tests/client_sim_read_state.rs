//! msg/recall, history/querySessionMsg and msg/markReadMsg (shared/providers/netease.md §5): the
//! client against the simulator on port 0, each test with its own simulator.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use imbridge_netease::sim::{ClientMessage, SimConfig, SimHandle, Simulator};
use imbridge_netease::{
    Conv, CreateUser, HistoryOrder, MarkRead, NeteaseClient, NeteaseConfig, NeteaseError, QuerySessionMsg, RecallMsg,
    SendMsg,
};
use serde_json::{json, Value};

const KEY: &str = "read-state-key";
const SECRET: &str = "read-state-secret";

/// A simulator posting callbacks to a recorder; the client; what the recorder got.
async fn start() -> (SimHandle, NeteaseClient, Arc<Mutex<Vec<Value>>>) {
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/cb",
        axum::routing::post(move |body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(serde_json::from_slice(&body).unwrap());
                axum::Json(json!({"code": 200}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cb", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let cfg =
        SimConfig { app_key: KEY.into(), app_secret: SECRET.into(), callback_url: Some(url), ..SimConfig::default() };
    let sim = Simulator::start(cfg, tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()).await.unwrap();
    let client = NeteaseClient::new(NeteaseConfig::new(sim.base_url(), KEY, SECRET)).unwrap();
    for accid in ["buyer", "shop"] {
        let req = CreateUser { accid: accid.into(), token: Some("t".into()), ..CreateUser::default() };
        client.create_user(&req, None).await.unwrap();
    }
    (sim, client, received)
}

async fn callbacks(sim: &SimHandle, received: &Mutex<Vec<Value>>) -> Vec<Value> {
    assert!(sim.state().flush_callbacks(Duration::from_secs(10)).await);
    received.lock().unwrap().clone()
}

fn field(err: NeteaseError) -> String {
    match err {
        NeteaseError::Invalid(f) => f.field,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[tokio::test]
async fn recall_marks_the_message_and_posts_a_recall_with_its_note() {
    let (sim, client, received) = start().await;
    let sent = client.send_msg(&SendMsg::text("shop", Conv::P2p, "buyer", "oops"), None).await.unwrap();
    let recall = RecallMsg {
        msg: Some("shop recalled a message".into()),
        ..RecallMsg::p2p(sent.msgid.clone(), sent.timetag.unwrap(), "shop", "buyer")
    };
    client.recall_msg(&recall, Some("recall-1")).await.unwrap();
    assert!(sim.state().messages()[0].recalled);

    let events = callbacks(&sim, &received).await;
    let recalled = events.iter().find(|e| e["eventType"] == "7").expect("a recall callback");
    assert_eq!(recalled["msgId"], sent.msgid.as_str());
    assert_eq!(recalled["selfMsg"], "shop recalled a message");
    assert_eq!(recalled["fromClientType"], "REST");
    let chat = events.iter().find(|e| e["eventType"] == "1").unwrap();
    assert_eq!(recalled["clientId"], chat["msgidClient"]);

    // Unknown message: NetEase's 404; bad input never leaves the client.
    let unknown = RecallMsg::p2p("12345", 1, "shop", "buyer");
    assert_eq!(client.recall_msg(&unknown, None).await.unwrap_err().api_code(), Some(404));
    let before = sim.state().call_counts().total;
    assert_eq!(
        field(client.recall_msg(&RecallMsg::p2p("12a", 1, "shop", "buyer"), None).await.unwrap_err()),
        "deleteMsgid"
    );
    let long_team = RecallMsg { conv: Conv::Team, to: "1".repeat(33), ..RecallMsg::p2p("1", 1, "shop", "x") };
    assert_eq!(field(client.recall_msg(&long_team, None).await.unwrap_err()), "to");
    assert_eq!(sim.state().call_counts().total, before);
}

#[tokio::test]
async fn history_pages_by_time_window_in_either_order() {
    let (sim, client, _received) = start().await;
    let t0 = 1_700_000_000_000_u64;
    let state = sim.state();
    for i in 0..5_u64 {
        let (from, to) = if i % 2 == 0 { ("buyer", "shop") } else { ("shop", "buyer") };
        let m = ClientMessage {
            from: from.into(),
            to: to.into(),
            body: format!("m{i}"),
            timestamp: Some(t0 + i * 1000),
            ..ClientMessage::default()
        };
        state.client_message(m).await.unwrap();
    }
    let other =
        ClientMessage { from: "shop".into(), to: "someone".into(), timestamp: Some(t0), ..ClientMessage::default() };
    state.client_message(other).await.unwrap();

    let window = QuerySessionMsg::new("buyer", "shop", t0 as i64, (t0 + 3000) as i64, 100);
    let newest = client.query_session_msg(&window, None).await.unwrap();
    let bodies: Vec<_> = newest.msgs.iter().map(|m| m.body["msg"].as_str().unwrap().to_owned()).collect();
    assert_eq!(bodies, ["m3", "m2", "m1", "m0"], "newest first by default, both ends of the window included");
    assert_eq!(newest.size, Some(4));
    assert_eq!(newest.msgs[0].msg_type, Some(0));
    assert_eq!(newest.msgs[0].sendtime, Some((t0 + 3000) as i64));
    assert_eq!(newest.msgs[0].from, "shop");

    let oldest = QuerySessionMsg { order: HistoryOrder::OldestFirst, limit: 2, ..window.clone() };
    let page = client.query_session_msg(&oldest, None).await.unwrap();
    let bodies: Vec<_> = page.msgs.iter().map(|m| m.body["msg"].as_str().unwrap().to_owned()).collect();
    assert_eq!(bodies, ["m0", "m1"]);
    // Only pictures: none.
    let pictures = QuerySessionMsg { types: vec![1], ..window.clone() };
    assert!(client.query_session_msg(&pictures, None).await.unwrap().msgs.is_empty());

    // Checked before sending: the window and the limit.
    let before = state.call_counts().total;
    let backwards = QuerySessionMsg::new("buyer", "shop", 10, 10, 1);
    let err = client.query_session_msg(&backwards, None).await.unwrap_err();
    assert!(matches!(err, NeteaseError::Invalid(ref f) if f.reason.contains("bad time")), "{err:?}");
    assert_eq!(
        field(client.query_session_msg(&QuerySessionMsg { limit: 0, ..window.clone() }, None).await.unwrap_err()),
        "limit"
    );
    assert_eq!(
        field(client.query_session_msg(&QuerySessionMsg { limit: 101, ..window.clone() }, None).await.unwrap_err()),
        "limit"
    );
    assert_eq!(
        field(client.query_session_msg(&QuerySessionMsg { types: vec![7], ..window }, None).await.unwrap_err()),
        "type"
    );
    assert_eq!(state.call_counts().total, before);
}

#[tokio::test]
async fn mark_read_posts_the_read_receipt_a_device_would() {
    let (sim, client, received) = start().await;
    let sent = sim
        .state()
        .client_message(ClientMessage {
            from: "shop".into(),
            to: "buyer".into(),
            body: "hello".into(),
            timestamp: Some(1_700_000_000_000),
            ..ClientMessage::default()
        })
        .await
        .unwrap();
    let read = MarkRead { from: "buyer".into(), to: "shop".into(), msgid_client: sent.msgid_client.clone() };
    client.mark_read_msg(&read, None).await.unwrap();

    let events = callbacks(&sim, &received).await;
    let receipt = events.iter().find(|e| e["eventType"] == "30").expect("an eventType 30 callback");
    let objects: Value = serde_json::from_str(receipt["objects"].as_str().unwrap()).unwrap();
    assert_eq!(objects[0]["fromAccount"], "buyer", "fromAccount is the reader");
    assert_eq!(objects[0]["toAccount"], "shop");
    assert_eq!(objects[0]["msgidClient"], sent.msgid_client.as_str());
    assert_eq!(objects[0]["timestamp"], 1_700_000_000_000_u64);

    // A message the reader never received: 404.
    let wrong_way = MarkRead { from: "shop".into(), to: "buyer".into(), msgid_client: sent.msgid_client };
    assert_eq!(client.mark_read_msg(&wrong_way, None).await.unwrap_err().api_code(), Some(404));
    let blank = MarkRead { from: "buyer".into(), to: "shop".into(), msgid_client: " ".into() };
    assert_eq!(field(client.mark_read_msg(&blank, None).await.unwrap_err()), "msgidClient");
}

#[tokio::test]
async fn the_simulator_answers_bad_history_parameters_with_414() {
    let (sim, _client, _received) = start().await;
    // The client refuses these itself, so call the simulator over plain HTTP.
    let http = reqwest::Client::new();
    let call = |form: Vec<(&'static str, &'static str)>| {
        let http = http.clone();
        let url = format!("{}/history/querySessionMsg.action", sim.base_url());
        async move {
            let h = imbridge_netease::sign::ApiHeaders::new(KEY, SECRET, imbridge_netease::sign::now_secs());
            let reply: Value = http
                .post(url)
                .header("AppKey", h.app_key)
                .header("Nonce", h.nonce)
                .header("CurTime", h.cur_time)
                .header("CheckSum", h.checksum)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(serde_urlencoded::to_string(&form).unwrap())
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            reply
        }
    };
    let base = vec![("from", "buyer"), ("to", "shop"), ("begintime", "1000"), ("endtime", "2000"), ("limit", "10")];
    assert_eq!(call(base.clone()).await["code"], 200);
    let with = |k: &'static str, v: &'static str| {
        let mut f: Vec<_> = base.iter().copied().filter(|(n, _)| *n != k).collect();
        f.push((k, v));
        f
    };
    let reply = call(with("endtime", "1000")).await;
    assert_eq!(reply["code"], 414);
    assert!(reply["desc"].as_str().unwrap().contains("bad time"), "{reply}");
    for (k, v) in [("limit", "0"), ("limit", "101"), ("reverse", "3"), ("type", "0,7")] {
        assert_eq!(call(with(k, v)).await["code"], 414, "{k}={v}");
    }
}

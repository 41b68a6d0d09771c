//! With a state file, a restarted simulator remembers accounts, tokens and friendships; reset
//! forgets; an unreadable file is never silently overwritten.

use std::path::PathBuf;

use imbridge_netease::sim::{SimConfig, Simulator};
use serde_json::json;
use tower::ServiceExt as _;

use crate::helpers::{config, unique, Sim};

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(unique("imbridge-sim-test"));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn state_config(&self) -> SimConfig {
        SimConfig { state_path: Some(self.0.join("data").join("sim-state.json")), ..config() }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn a_restarted_simulator_remembers_accounts_tokens_and_friends() {
    let dir = TempDir::new();
    let (a, b) = (unique("keep"), unique("keep"));
    let (token_b, msgid) = {
        let sim = Sim::start_with(dir.state_config()).await;
        sim.call("user/create", &[("accid", &a), ("token", "tok-a"), ("name", "Alice")]).await;
        sim.create(&b).await;
        let refreshed = sim.call("user/refreshToken", &[("accid", &b)]).await;
        sim.call("friend/add", &[("accid", &a), ("faccid", &b), ("type", "1")]).await;
        sim.call("user/block", &[("accid", &a)]).await;
        let sent = sim
            .call("msg/sendMsg", &[("from", &a), ("ope", "0"), ("to", &b), ("type", "0"), ("body", r#"{"msg":"x"}"#)])
            .await;
        sim.handle.shutdown().await;
        (refreshed["info"]["token"].as_str().unwrap().to_owned(), sent["data"]["msgid"].as_u64().unwrap())
    };

    let sim = Sim::start_with(dir.state_config()).await;
    let alice = sim.state().account(&a).expect("account survives");
    assert_eq!((alice.token.as_str(), alice.name.as_deref(), alice.blocked), ("tok-a", Some("Alice"), true));
    assert!(sim.state().login_ok(&b, &token_b), "the newest token still logs in");
    assert_eq!(sim.state().friendships(&b).friends[0].faccid, a);
    let reply = sim.call("user/create", &[("accid", &a)]).await;
    assert_eq!(reply, json!({"code": 414, "desc": "already register"}));
    let sent = sim
        .call("msg/sendMsg", &[("from", &b), ("ope", "0"), ("to", &a), ("type", "0"), ("body", r#"{"msg":"y"}"#)])
        .await;
    assert!(sent["data"]["msgid"].as_u64().unwrap() > msgid, "message ids never repeat across restarts");
}

#[tokio::test]
async fn reset_forgets_everything_including_the_file() {
    let dir = TempDir::new();
    let sim = Sim::start_with(dir.state_config()).await;
    let accid = unique("gone");
    sim.create(&accid).await;
    let (status, _) = sim.post("/__sim/reset", json!({})).await;
    assert_eq!(status, 200);
    assert!(sim.state().accounts().is_empty());
    assert_eq!(sim.state().call_counts().total, 0);
    sim.handle.shutdown().await;
    let sim = Sim::start_with(dir.state_config()).await;
    assert!(sim.state().accounts().is_empty());
}

#[tokio::test]
async fn an_unreadable_state_file_stops_start_but_router_moves_it_aside() {
    let dir = TempDir::new();
    let cfg = dir.state_config();
    let path = cfg.state_path.clone().unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, b"{ truncated").unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let error = Simulator::start(cfg.clone(), listener).await.expect_err("corrupt file");
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
    assert_eq!(std::fs::read(&path).unwrap(), b"{ truncated", "the file is left alone");

    let (router, state) = Simulator::router(cfg);
    assert!(state.accounts().is_empty());
    let kept: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(kept.iter().any(|name| name.starts_with("sim-state.json.corrupt-")), "{kept:?}");
    // The embedded router serves the inspection API like the standalone server.
    let request = axum::http::Request::get("/__sim/accounts").body(axum::body::Body::empty()).unwrap();
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
}

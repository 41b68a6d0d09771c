//! Sandbox mode: no NetEase base URL configured → the simulator runs in-process, with its state in
//! the data directory, so a restarted sandbox remembers its accounts like a real provider.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{expect_json, Backend, Spawn, TestDatabase};

fn sandbox(backend: Backend) -> Spawn {
    let mut spawn = Spawn::new(backend);
    spawn.external_sim = false;
    spawn
}

#[tokio::test]
async fn sandbox_mode_works_end_to_end() {
    let app = sandbox(Backend::Sqlite).start().await;
    assert!(app.sim.is_none() && app.sim_root.is_some(), "the app runs its own simulator");

    let body = expect_json(
        app.post(
            "/v1/chats",
            &json!({"buyer": {"account": "sb_buyer", "name": "B"}, "seller": {"account": "sb_shop"}}),
        )
        .await,
        StatusCode::OK,
    )
    .await;

    assert!(app.sim_login("sb_buyer", body["buyer"]["token"].as_str().unwrap()).await);
    assert_eq!(app.sim_friends("sb_buyer").await, vec!["sb_shop".to_owned()]);
}

#[tokio::test]
async fn a_restarted_sandbox_remembers_its_accounts() {
    let first = sandbox(Backend::Sqlite).start().await;
    let token = first.create_account("remembered", Some("R")).await["token"].as_str().unwrap().to_owned();
    let (dir, database) = (first.dir.clone(), first.database.clone());
    first.stop().await;

    let mut again = sandbox(Backend::Sqlite);
    again.dir = Some(dir.clone());
    again.database = Some(database);
    let second = again.start().await;

    assert!(second.sim_login("remembered", &token).await, "the restarted sandbox still accepts the token");
    let body = second.create_account("remembered", None).await;
    assert_eq!(body["token"], token.as_str());
    assert_eq!(body["created"], false);
    assert_eq!(second.sim_calls("user/create").await, 0, "nothing had to be registered again");
    let (dir, _) = (second.dir.clone(), ());
    second.stop().await;

    // Even with the bridge's own database lost, the sandbox still knows the account: the bridge
    // adopts it (already register) and the new token logs in.
    let mut fresh_db = sandbox(Backend::Sqlite);
    let other = tempfile::tempdir().unwrap();
    fresh_db.database = Some(Arc::new(TestDatabase::create(Backend::Sqlite, other.path()).await));
    fresh_db.dir = Some(dir);
    let third = fresh_db.start().await;
    assert!(third.sim_account("remembered").await.is_some());
    let adopted = third.create_account("remembered", None).await;
    assert_eq!(adopted["created"], true);
    assert!(third.sim_login("remembered", adopted["token"].as_str().unwrap()).await);
    assert!(!third.sim_login("remembered", &token).await, "adoption replaced the old token");
}

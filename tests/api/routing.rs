//! Customer-service routing over HTTP, on SQLite and MariaDB: the rules (sticky beats least loaded;
//! away, offline and full agents are skipped; fallback owner and none; transfer; idle close), the
//! chat policy and roles, and the bounds under concurrency, with one and with two instances.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use imbridge_netease::sign::now_millis;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::callbacks::{deliver, message};
use crate::helpers::{expect_error, expect_json, Backend, Spawn, Store, TestApp};

on_both_backends!(
    sticky_beats_least_loaded_and_away_agents_are_skipped,
    offline_and_full_agents_are_skipped_and_presence_counts_at_once,
    fallback_none_answers_409_and_records_nothing,
    transfer_moves_the_slot_the_friendship_and_the_stickiness,
    idle_assignments_close_by_themselves_but_not_while_messages_flow,
    removed_agents_keep_their_open_assignments_visible,
    a_hundred_concurrent_requests_never_exceed_capacity,
    two_instances_sharing_the_database_never_exceed_capacity,
);

async fn spawn(backend: Backend) -> TestApp {
    Spawn::new(backend).start().await
}

/// Define `shop` owned by `{shop}_owner` with agents `(account, capacity)`.
async fn put_shop(app: &TestApp, shop: &str, agents: &[(&str, i64)], routing: Value) -> Value {
    let agents: Vec<Value> = agents.iter().map(|(a, c)| json!({"account": a, "name": a, "capacity": c})).collect();
    let body =
        json!({"name": format!("Shop {shop}"), "owner": format!("{shop}_owner"), "agents": agents, "routing": routing});
    expect_json(app.put(&format!("/v1/shops/{shop}"), &body).await, StatusCode::OK).await
}

/// A login (eventType 2) or logout (3) callback for `accid`, now.
async fn presence(app: &TestApp, accid: &str, online: bool) {
    let event = if online { "2" } else { "3" };
    deliver(
        app,
        &json!({"eventType": event, "accid": accid, "clientType": "AOS", "code": "200",
        "timestamp": now_millis().to_string()}),
    )
    .await;
}

async fn route(app: &TestApp, shop: &str, buyer: &str) -> Value {
    let body = json!({"buyer": {"account": buyer, "name": buyer}});
    expect_json(app.post(&format!("/v1/shops/{shop}/chats"), &body).await, StatusCode::OK).await
}

async fn availability(app: &TestApp, shop: &str, agent: &str, status: &str) {
    let path = format!("/v1/shops/{shop}/agents/{agent}/availability");
    let body = expect_json(app.put(&path, &json!({"status": status})).await, StatusCode::OK).await;
    assert_eq!(body["availability"], status, "{body}");
}

async fn agents(app: &TestApp, shop: &str) -> HashMap<String, Value> {
    let body = expect_json(app.get(&format!("/v1/shops/{shop}/agents")).await, StatusCode::OK).await;
    body["agents"].as_array().unwrap().iter().map(|a| (a["accid"].as_str().unwrap().to_owned(), a.clone())).collect()
}

async fn close(app: &TestApp, shop: &str, id: &Value) -> Value {
    let path = format!("/v1/shops/{shop}/assignments/{}/close", id.as_str().unwrap());
    expect_json(app.post_empty(&path).await, StatusCode::OK).await
}

async fn open_assignments(app: &TestApp, shop: &str) -> Vec<Value> {
    let path = format!("/v1/shops/{shop}/assignments?status=open&limit=200");
    let body = expect_json(app.get(&path).await, StatusCode::OK).await;
    assert_eq!(body["next_cursor"], Value::Null);
    body["assignments"].as_array().unwrap().clone()
}

fn agent_of(routed: &Value) -> &str {
    routed["agent"]["accid"].as_str().unwrap()
}

async fn sticky_beats_least_loaded_and_away_agents_are_skipped(backend: Backend) {
    let app = spawn(backend).await;
    let shop = put_shop(&app, "s1", &[("s1_a1", 5), ("s1_a2", 5)], json!({"sticky_hours": 72})).await;
    assert_eq!(shop["owner"], "s1_owner");
    assert_eq!(shop["agents"].as_array().unwrap().len(), 2);
    presence(&app, "s1_a1", true).await;
    presence(&app, "s1_a2", true).await;

    // Both idle and never assigned: the tie goes to the first by accid.
    let first = route(&app, "s1", "Buyer_1").await;
    assert_eq!((agent_of(&first), first["reason"].as_str().unwrap()), ("s1_a1", "least_loaded"), "{first}");
    assert_eq!(first["buyer"]["accid"], "buyer_1");
    assert!(first["buyer"]["token"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(first["friends"], true);
    assert!(app.sim_friends("buyer_1").await.contains(&"s1_a1".to_owned()));
    // An open assignment comes back as it is.
    let again = route(&app, "s1", "buyer_1").await;
    assert_eq!(
        (again["assignment_id"].clone(), again["reused"].clone()),
        (first["assignment_id"].clone(), json!(true))
    );
    close(&app, "s1", &first["assignment_id"]).await;

    // While a2 is away, a1 takes everyone, and becomes the busier one.
    availability(&app, "s1", "s1_a2", "away").await;
    for buyer in ["buyer_2", "buyer_3"] {
        let routed = route(&app, "s1", buyer).await;
        assert_eq!((agent_of(&routed), routed["reason"].as_str().unwrap()), ("s1_a1", "least_loaded"));
    }
    availability(&app, "s1", "s1_a2", "available").await;
    let load = agents(&app, "s1").await;
    assert_eq!(
        (load["s1_a1"]["open_assignments"].as_i64(), load["s1_a2"]["open_assignments"].as_i64()),
        (Some(2), Some(0))
    );

    // buyer_1 returns within sticky_hours: back to a1 although a2 is idle.
    let back = route(&app, "s1", "buyer_1").await;
    assert_eq!(
        (agent_of(&back), back["reason"].as_str().unwrap(), back["reused"].clone()),
        ("s1_a1", "sticky", json!(false))
    );
    assert_ne!(back["assignment_id"], first["assignment_id"]);
    // A new buyer goes to the least loaded.
    let fresh = route(&app, "s1", "buyer_4").await;
    assert_eq!((agent_of(&fresh), fresh["reason"].as_str().unwrap()), ("s1_a2", "least_loaded"));

    let metrics = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap().text().await.unwrap();
    for outcome in ["least_loaded", "sticky", "reused"] {
        let line = format!("imbridge_routing_decisions_total{{outcome=\"{outcome}\"}}");
        assert!(metrics.contains(&line), "{line} missing from /metrics");
    }

    // With sticky_hours 0 the history no longer counts.
    put_shop(&app, "s1", &[("s1_a1", 5), ("s1_a2", 5)], json!({"sticky_hours": 0})).await;
    close(&app, "s1", &back["assignment_id"]).await;
    let unstuck = route(&app, "s1", "buyer_1").await;
    assert_eq!((agent_of(&unstuck), unstuck["reason"].as_str().unwrap()), ("s1_a2", "least_loaded"), "{unstuck}");
}

async fn offline_and_full_agents_are_skipped_and_presence_counts_at_once(backend: Backend) {
    let app = spawn(backend).await;
    put_shop(&app, "s2", &[("s2_a1", 1), ("s2_a2", 5), ("s2_a3", 5)], json!({})).await;
    presence(&app, "s2_a1", true).await;
    presence(&app, "s2_a2", true).await;
    availability(&app, "s2", "s2_a2", "offline").await;
    // s2_a3 is available but has never logged in.

    let one = route(&app, "s2", "b1").await;
    assert_eq!(agent_of(&one), "s2_a1");
    // a1 is full, a2 set itself offline, a3 is not online: the owner.
    let two = route(&app, "s2", "b2").await;
    assert_eq!((agent_of(&two), two["reason"].as_str().unwrap()), ("s2_owner", "fallback"), "{two}");
    assert!(app.sim_friends("b2").await.contains(&"s2_owner".to_owned()));

    // a3 logs in: the very next decision sees it; it logs out: the next one does not.
    presence(&app, "s2_a3", true).await;
    assert_eq!(agent_of(&route(&app, "s2", "b3").await), "s2_a3");
    presence(&app, "s2_a3", false).await;
    assert_eq!(agent_of(&route(&app, "s2", "b4").await), "s2_owner");

    let load = agents(&app, "s2").await;
    assert_eq!(load["s2_a1"]["open_assignments"], 1);
    assert_eq!(load["s2_a1"]["online"], true);
    assert_eq!(load["s2_a2"]["availability"], "offline");
    assert_eq!(load["s2_a3"]["online"], false);
    assert_eq!(load["s2_a3"]["open_assignments"], 1);
    assert!(load["s2_a3"]["last_assigned_at"].as_i64().is_some());
    assert_eq!(load["s2_a2"]["last_assigned_at"], Value::Null);
}

async fn fallback_none_answers_409_and_records_nothing(backend: Backend) {
    let app = spawn(backend).await;
    put_shop(&app, "s3", &[("s3_a1", 2)], json!({"fallback": "none"})).await;
    let response = app.post("/v1/shops/s3/chats", &json!({"buyer": {"account": "b1"}})).await;
    let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    expect_error(response, StatusCode::CONFLICT, "no_agent_available", None).await;
    assert_eq!(retry_after.as_deref(), Some("30"));
    assert!(open_assignments(&app, "s3").await.is_empty());
    let all = expect_json(app.get("/v1/shops/s3/assignments").await, StatusCode::OK).await;
    assert_eq!(all["assignments"], json!([]));
    assert_eq!(app.sim_account("b1").await, None, "no account is created for a chat that is not routed");

    presence(&app, "s3_a1", true).await;
    assert_eq!(agent_of(&route(&app, "s3", "b1").await), "s3_a1");
}

async fn transfer_moves_the_slot_the_friendship_and_the_stickiness(backend: Backend) {
    let app = spawn(backend).await;
    put_shop(&app, "s4", &[("s4_a1", 1), ("s4_a2", 1)], json!({})).await;
    presence(&app, "s4_a1", true).await;
    presence(&app, "s4_a2", true).await;
    let one = route(&app, "s4", "b1").await;
    assert_eq!(agent_of(&one), "s4_a1");
    let id = one["assignment_id"].as_str().unwrap();
    let path = format!("/v1/shops/s4/assignments/{id}/transfer");

    let moved = expect_json(app.post(&path, &json!({"to": "S4_A2"})).await, StatusCode::OK).await;
    assert_eq!((moved["agent"].as_str(), moved["transferred_from"].as_str()), (Some("s4_a2"), Some("s4_a1")));
    assert_eq!(moved["status"], "open");
    assert!(app.sim_friends("b1").await.contains(&"s4_a2".to_owned()));
    let load = agents(&app, "s4").await;
    assert_eq!(
        (load["s4_a1"]["open_assignments"].as_i64(), load["s4_a2"]["open_assignments"].as_i64()),
        (Some(0), Some(1))
    );

    // a2 is now full: a transfer to it is refused and changes nothing.
    let two = route(&app, "s4", "b2").await;
    assert_eq!(agent_of(&two), "s4_a1");
    let two_path = format!("/v1/shops/s4/assignments/{}/transfer", two["assignment_id"].as_str().unwrap());
    expect_error(app.post(&two_path, &json!({"to": "s4_a2"})).await, StatusCode::CONFLICT, "conflict", None).await;
    expect_error(
        app.post(&two_path, &json!({"to": "stranger"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        Some("to"),
    )
    .await;
    expect_error(
        app.post(&two_path, &json!({"to": "s4_a2", "x": 1})).await,
        StatusCode::BAD_REQUEST,
        "unknown_field",
        None,
    )
    .await;
    let load = agents(&app, "s4").await;
    assert_eq!(
        (load["s4_a1"]["open_assignments"].as_i64(), load["s4_a2"]["open_assignments"].as_i64()),
        (Some(1), Some(1))
    );
    // To the owner, who has no capacity limit.
    let to_owner = expect_json(app.post(&two_path, &json!({"to": "s4_owner"})).await, StatusCode::OK).await;
    assert_eq!(to_owner["agent"], "s4_owner");
    assert_eq!(agents(&app, "s4").await["s4_a1"]["open_assignments"], 0);

    // b1 comes back after closing: sticky to the agent it was transferred to.
    let closed = close(&app, "s4", &one["assignment_id"]).await;
    assert_eq!((closed["status"].as_str(), closed["close_reason"].as_str()), (Some("closed"), Some("closed")));
    assert_eq!(
        close(&app, "s4", &one["assignment_id"]).await["closed_at"],
        closed["closed_at"],
        "closing twice changes nothing"
    );
    expect_error(app.post(&path, &json!({"to": "s4_a1"})).await, StatusCode::CONFLICT, "conflict", None).await;
    let back = route(&app, "s4", "b1").await;
    assert_eq!((agent_of(&back), back["reason"].as_str().unwrap()), ("s4_a2", "sticky"));
    let missing = "/v1/shops/s4/assignments/00000000-0000-0000-0000-000000000000/close";
    expect_error(app.post_empty(missing).await, StatusCode::NOT_FOUND, "not_found", None).await;
}

async fn idle_assignments_close_by_themselves_but_not_while_messages_flow(backend: Backend) {
    idle_close(Spawn::new(backend)).await;
}

/// The conversation data the sweep reads comes from the message store: MongoDB's too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MongoDB"]
async fn idle_close_reads_the_conversations_from_mongodb() {
    idle_close(Spawn::new(Backend::Sqlite).store(Store::Mongo)).await;
}

async fn idle_close(spawn: Spawn) {
    let app = spawn.configure(|c| c.routing.sweep_interval_ms = 200).start().await;
    // 0.0005 h = 1.8 s without a message closes an assignment.
    put_shop(&app, "s5", &[("s5_a1", 5), ("s5_a2", 5)], json!({"idle_close_hours": 0.0005})).await;
    presence(&app, "s5_a1", true).await;
    presence(&app, "s5_a2", true).await;
    let quiet = route(&app, "s5", "b_quiet").await;
    let busy = route(&app, "s5", "b_busy").await;
    assert_ne!(agent_of(&quiet), agent_of(&busy));

    let started = Instant::now();
    let mut msgid = 9_000_000;
    while started.elapsed() < Duration::from_millis(4500) {
        msgid += 1;
        // The conversation of the busy buyer with its agent goes on, both ways.
        let (from, to) = if msgid % 2 == 0 { ("b_busy", agent_of(&busy)) } else { (agent_of(&busy), "b_busy") };
        deliver(&app, &message(from, to, msgid, now_millis())).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let view = |id: &Value| {
        let path = format!(
            "/v1/shops/s5/assignments?buyer={}",
            if id == &quiet["assignment_id"] { "b_quiet" } else { "b_busy" }
        );
        let app = &app;
        async move { expect_json(app.get(&path).await, StatusCode::OK).await["assignments"][0].clone() }
    };
    let quiet_now = view(&quiet["assignment_id"]).await;
    assert_eq!(
        (quiet_now["status"].as_str(), quiet_now["close_reason"].as_str()),
        (Some("closed"), Some("idle")),
        "{quiet_now}"
    );
    let busy_now = view(&busy["assignment_id"]).await;
    assert_eq!(busy_now["status"], "open", "{busy_now}");
    assert!(busy_now["last_activity_at"].as_i64().unwrap() > busy_now["assigned_at"].as_i64().unwrap(), "{busy_now}");
    assert_eq!(agents(&app, "s5").await[agent_of(&quiet)]["open_assignments"], 0, "the slot is free again");
}

async fn removed_agents_keep_their_open_assignments_visible(backend: Backend) {
    let app = spawn(backend).await;
    put_shop(&app, "s6", &[("s6_a1", 3), ("s6_a2", 3)], json!({})).await;
    presence(&app, "s6_a1", true).await;
    presence(&app, "s6_a2", true).await;
    let one = route(&app, "s6", "b1").await;
    assert_eq!(agent_of(&one), "s6_a1");

    let shop = put_shop(&app, "s6", &[("s6_a2", 3)], json!({})).await;
    assert_eq!(shop["agents"], json!([{"accid": "s6_a2", "name": "s6_a2", "capacity": 3}]));
    let load = agents(&app, "s6").await;
    assert_eq!((load["s6_a1"]["active"].clone(), load["s6_a1"]["open_assignments"].clone()), (json!(false), json!(1)));
    assert_eq!(open_assignments(&app, "s6").await.len(), 1);
    assert_eq!(agent_of(&route(&app, "s6", "b2").await), "s6_a2");
    // b1 still has its open assignment with the removed agent, until it is closed.
    assert_eq!(agent_of(&route(&app, "s6", "b1").await), "s6_a1");
    close(&app, "s6", &one["assignment_id"]).await;
    assert!(!agents(&app, "s6").await.contains_key("s6_a1"), "gone once it holds nothing");
    let path = "/v1/shops/s6/agents/s6_a1/availability";
    expect_error(app.put(path, &json!({"status": "available"})).await, StatusCode::NOT_FOUND, "not_found", None).await;
}

/// 100 requests at once for one shop with 15 slots, fallback none: 80 buyers, 20 of them twice.
async fn a_hundred_concurrent_requests_never_exceed_capacity(backend: Backend) {
    let app = spawn(backend).await;
    concurrent_routing(&[&app], "s7").await;
}

async fn two_instances_sharing_the_database_never_exceed_capacity(backend: Backend) {
    let first = spawn(backend).await;
    let second = Spawn::instance_of(&first).start().await;
    concurrent_routing(&[&first, &second], "s8").await;
}

async fn concurrent_routing(apps: &[&TestApp], shop: &str) {
    let app = apps[0];
    let agents_spec: Vec<(String, i64)> = (1..=5).map(|i| (format!("{shop}_a{i}"), 3)).collect();
    let spec: Vec<(&str, i64)> = agents_spec.iter().map(|(a, c)| (a.as_str(), *c)).collect();
    put_shop(app, shop, &spec, json!({"fallback": "none"})).await;
    for (agent, _) in &agents_spec {
        presence(app, agent, true).await;
    }
    let buyers: Vec<String> = (0..100).map(|i| format!("{shop}_b{}", i % 80)).collect();
    let requests = buyers.iter().enumerate().map(|(i, buyer)| {
        let app = apps[i % apps.len()];
        async move {
            let body = json!({"buyer": {"account": buyer}});
            let response = app.post(&format!("/v1/shops/{shop}/chats"), &body).await;
            let status = response.status();
            (buyer.clone(), status, response.json::<Value>().await.unwrap())
        }
    });
    let results = futures::future::join_all(requests).await;

    let mut per_buyer: HashMap<String, HashSet<String>> = HashMap::new();
    let mut refused = 0;
    for (buyer, status, body) in &results {
        match *status {
            StatusCode::OK => {
                per_buyer.entry(buyer.clone()).or_default().insert(body["assignment_id"].as_str().unwrap().to_owned());
            }
            StatusCode::CONFLICT => {
                assert_eq!(body["code"], "no_agent_available", "{body}");
                refused += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(per_buyer.len(), 15, "exactly the 15 slots are taken: {per_buyer:?}");
    assert!(per_buyer.values().all(|ids| ids.len() == 1), "a buyer got two assignments: {per_buyer:?}");
    // Each of the 15 assigned buyers may have asked twice (the repeat gets the same assignment).
    assert!((70..=85).contains(&refused), "{refused}");

    let open = open_assignments(app, shop).await;
    assert_eq!(open.len(), 15);
    let distinct: HashSet<&str> = open.iter().map(|a| a["buyer"].as_str().unwrap()).collect();
    assert_eq!(distinct.len(), 15, "one open assignment per buyer");
    let mut per_agent: HashMap<&str, i64> = HashMap::new();
    for assignment in &open {
        *per_agent.entry(assignment["agent"].as_str().unwrap()).or_default() += 1;
    }
    for (accid, agent) in agents(app, shop).await {
        let held = per_agent.get(accid.as_str()).copied().unwrap_or(0);
        assert_eq!(agent["open_assignments"].as_i64(), Some(held), "{accid}: counter and assignments agree");
        assert_eq!(held, 3, "{accid} is exactly full, never over: {per_agent:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_are_fixed_and_roleless_sellers_keep_working() {
    let app = spawn(Backend::Sqlite).await;
    // A seller provisioned the way backends did before roles existed.
    let seller = app.create_account("Shop_9", None).await;
    assert_eq!(seller["role"], Value::Null);
    let body = json!({"buyer": {"account": "b9"}, "seller": {"account": "shop_9"}});
    expect_json(app.post("/v1/chats", &body).await, StatusCode::OK).await;
    let shown = expect_json(app.get("/v1/accounts/shop_9").await, StatusCode::OK).await;
    assert_eq!(shown["role"], "seller", "took the role of its slot");
    assert_eq!(expect_json(app.get("/v1/accounts/b9").await, StatusCode::OK).await["role"], "buyer");

    let calls = app.sim_total_calls().await;
    let refused = app.post("/v1/accounts", &json!({"account": "shop_9", "role": "buyer"})).await;
    let body = expect_error(refused, StatusCode::CONFLICT, "role_conflict", None).await;
    assert!(body["message"].as_str().unwrap().contains("seller"), "{body}");
    assert_eq!(app.sim_total_calls().await, calls, "refused before any provider call");
    let same = app.post("/v1/accounts", &json!({"account": "shop_9", "role": "seller"})).await;
    assert_eq!(expect_json(same, StatusCode::OK).await["role"], "seller");
    let agent = app.post("/v1/accounts", &json!({"account": "agent_x", "role": "agent"})).await;
    assert_eq!(expect_json(agent, StatusCode::OK).await["role"], "agent");
    let bad = app.post("/v1/accounts", &json!({"account": "x1", "role": "admin"})).await;
    expect_error(bad, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", Some("role")).await;
    assert_eq!(app.sim_account("x1").await, None);

    // A buyer cannot own a shop, nor serve as its agent; nothing is stored.
    let shop = json!({"name": "S", "owner": "b9", "agents": []});
    expect_error(app.put("/v1/shops/s9", &shop).await, StatusCode::CONFLICT, "role_conflict", None).await;
    let shop = json!({"name": "S", "owner": "shop_9", "agents": [{"account": "b9"}]});
    expect_error(app.put("/v1/shops/s9", &shop).await, StatusCode::CONFLICT, "role_conflict", None).await;
    expect_error(app.get("/v1/shops/s9").await, StatusCode::NOT_FOUND, "not_found", None).await;
    // A seller may serve as an agent (of its own shop or another).
    let shop = json!({"name": "S", "owner": "shop_9", "agents": [{"account": "shop_9"}, {"account": "agent_x"}]});
    let stored = expect_json(app.put("/v1/shops/s9", &shop).await, StatusCode::OK).await;
    assert_eq!(stored["agents"].as_array().unwrap().len(), 2);
    assert_eq!(stored["agents"][0]["capacity"], 5, "the default capacity");
    assert_eq!(stored["routing"], json!({"sticky_hours": 72.0, "fallback": "owner", "idle_close_hours": 24.0}));
    assert_eq!(expect_json(app.get("/v1/shops/s9").await, StatusCode::OK).await, stored);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_refuses_forbidden_pairs_before_any_provider_call() {
    let app = spawn(Backend::Sqlite).await;
    for buyer in ["b1", "b2"] {
        let body = json!({"buyer": {"account": buyer}, "seller": {"account": "shop_1"}});
        expect_json(app.post("/v1/chats", &body).await, StatusCode::OK).await;
    }
    for agent in ["agent_1", "agent_2"] {
        expect_json(app.post("/v1/accounts", &json!({"account": agent, "role": "agent"})).await, StatusCode::OK).await;
    }
    let calls = app.sim_total_calls().await;
    for (buyer, seller, roles) in [
        ("b1", "b2", "buyer and buyer"),
        ("agent_1", "agent_2", "agent and agent"),
        ("shop_1", "shop_2", "seller and seller"),
    ] {
        let body = json!({"buyer": {"account": buyer}, "seller": {"account": seller}});
        let refused =
            expect_error(app.post("/v1/chats", &body).await, StatusCode::FORBIDDEN, "policy_denied", None).await;
        assert!(refused["message"].as_str().unwrap().contains(roles), "{refused}");
    }
    // A new account takes its slot's role: a new buyer with an agent as "seller" is buyer–agent.
    let body = json!({"buyer": {"account": "b3"}, "seller": {"account": "agent_1"}});
    expect_json(app.post("/v1/chats", &body).await, StatusCode::OK).await;
    assert!(app.sim_total_calls().await > calls);
    let calls = app.sim_total_calls().await;
    let body = json!({"buyer": {"account": "b3"}, "seller": {"account": "b1"}});
    expect_error(app.post("/v1/chats", &body).await, StatusCode::FORBIDDEN, "policy_denied", None).await;
    assert_eq!(app.sim_total_calls().await, calls, "no provider call for a refused pair");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_without_buyer_agent_chats_keeps_buyers_away_from_agents() {
    let app = Spawn::new(Backend::Sqlite)
        .configure(|c| c.chat_policy = imbridge::accounts::ChatPolicy::parse("buyer-seller,seller-agent").unwrap())
        .start()
        .await;
    put_shop(&app, "p1", &[("p1_a1", 5)], json!({"fallback": "none"})).await;
    presence(&app, "p1_a1", true).await;
    let calls = app.sim_total_calls().await;
    let refused = app.post("/v1/shops/p1/chats", &json!({"buyer": {"account": "b1"}})).await;
    let body = expect_error(refused, StatusCode::FORBIDDEN, "policy_denied", None).await;
    assert!(body["message"].as_str().unwrap().contains("buyer and agent"), "{body}");
    assert_eq!(app.sim_total_calls().await, calls);
    assert!(open_assignments(&app, "p1").await.is_empty());
    // With the owner as fallback, the buyer reaches the owner instead.
    put_shop(&app, "p1", &[("p1_a1", 5)], json!({"fallback": "owner"})).await;
    let routed = route(&app, "p1", "b1").await;
    assert_eq!((agent_of(&routed), routed["reason"].as_str().unwrap()), ("p1_owner", "fallback"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buyers_chat_with_each_other_when_the_policy_says_so() {
    let app = Spawn::new(Backend::Sqlite)
        .configure(|c| c.chat_policy = imbridge::accounts::ChatPolicy::parse("buyer-seller,buyer-buyer").unwrap())
        .start()
        .await;
    for (buyer, seller) in [("b1", "shop_1"), ("b2", "shop_1")] {
        let body = json!({"buyer": {"account": buyer}, "seller": {"account": seller}});
        expect_json(app.post("/v1/chats", &body).await, StatusCode::OK).await;
    }
    let body = json!({"buyer": {"account": "b1"}, "seller": {"account": "b2"}});
    expect_json(app.post("/v1/chats", &body).await, StatusCode::OK).await;
    assert!(app.sim_friends("b1").await.contains(&"b2".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_routing_input_gets_one_clear_error_and_changes_nothing() {
    let app = spawn(Backend::Sqlite).await;
    let good = json!({"name": "Shop", "owner": "o1", "agents": [{"account": "a1", "capacity": 2}]});
    let with = |patch: Value| {
        let mut body = good.clone();
        for (key, value) in patch.as_object().unwrap() {
            body[key] = value.clone();
        }
        body
    };
    let cases: Vec<(&str, Value, StatusCode, &str, Option<&str>)> = vec![
        ("/v1/shops/bad%20id", good.clone(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", Some("shop_id")),
        (
            "/v1/shops/x",
            with(json!({"agents": [{"account": "a1", "capacity": 0}]})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("agents[0].capacity"),
        ),
        (
            "/v1/shops/x",
            with(json!({"agents": [{"account": "a1"}, {"account": "A1"}]})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("agents[1].account"),
        ),
        (
            "/v1/shops/x",
            with(json!({"agents": [{"account": "a 1"}]})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("agents[0].account"),
        ),
        ("/v1/shops/x", with(json!({"owner": ""})), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", Some("owner")),
        ("/v1/shops/x", with(json!({"name": " "})), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", Some("name")),
        (
            "/v1/shops/x",
            with(json!({"routing": {"fallback": "maybe"}})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("routing.fallback"),
        ),
        (
            "/v1/shops/x",
            with(json!({"routing": {"sticky_hours": -1}})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("routing.sticky_hours"),
        ),
        (
            "/v1/shops/x",
            with(json!({"routing": {"idle_close_hours": 0}})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("routing.idle_close_hours"),
        ),
        ("/v1/shops/x", with(json!({"colour": "red"})), StatusCode::BAD_REQUEST, "unknown_field", None),
        (
            "/v1/shops/x",
            with(json!({"agents": [{"account": "a1", "capacity": "two"}]})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("agents[0].capacity"),
        ),
    ];
    for (path, body, status, code, field) in cases {
        expect_error(app.put(path, &body).await, status, code, field).await;
    }
    expect_error(app.get("/v1/shops/x").await, StatusCode::NOT_FOUND, "not_found", None).await;
    assert_eq!(app.sim_account("o1").await, None, "no account was created by a refused definition");

    expect_error(
        app.post("/v1/shops/x/chats", &json!({"buyer": {"account": "b1"}})).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
    expect_json(app.put("/v1/shops/x", &good).await, StatusCode::OK).await;
    let as_owner = app.post("/v1/shops/x/chats", &json!({"buyer": {"account": "O1"}})).await;
    expect_error(as_owner, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", Some("buyer.account")).await;
    let no_buyer = app.post("/v1/shops/x/chats", &json!({})).await;
    expect_error(no_buyer, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", Some("buyer")).await;
    let busy = app.put("/v1/shops/x/agents/a1/availability", &json!({"status": "busy"})).await;
    expect_error(busy, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", Some("status")).await;
    let stranger = app.put("/v1/shops/x/agents/zz/availability", &json!({"status": "away"})).await;
    expect_error(stranger, StatusCode::NOT_FOUND, "not_found", None).await;
    for (query, status, code, field) in [
        ("status=maybe", StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", Some("status")),
        ("limit=0", StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", Some("limit")),
        ("limit=x", StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", Some("limit")),
        ("cursor=junk", StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", Some("cursor")),
        ("agent=a%201", StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", Some("agent")),
        ("page=2", StatusCode::BAD_REQUEST, "unknown_field", None),
    ] {
        expect_error(app.get(&format!("/v1/shops/x/assignments?{query}")).await, status, code, field).await;
    }
    let agents = agents(&app, "x").await;
    assert_eq!(agents["a1"]["availability"], "available", "unchanged by the refused request");
}

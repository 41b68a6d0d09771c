//! `POST /v1/backfill` and `GET /v1/backfill/{id}`: messages NetEase holds but never called back are
//! imported from its history (the simulator's `history/querySessionMsg`), once, counted by the read
//! watermark like called-back ones, across window caps and restarts.

use imbridge::messages::message_key;
use std::time::{Duration, Instant};

use imbridge_netease::sign::now_millis;
use imbridge_netease::sim::{ClientMessage, SimState};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::callbacks::{deliver, message, receipt, unread};
use crate::helpers::{expect_error, expect_json, Backend, Spawn, Store, TestApp};

on_both_stores!(
    imported_messages_are_read_or_unread_by_the_watermark,
    a_message_called_back_and_backfilled_is_stored_once,
    more_than_a_page_in_the_range_is_imported_whole,
);

on_both_backends!(
    a_restart_mid_job_resumes_and_counts_exactly,
    progress_lost_after_a_window_is_read_again_not_counted_twice
);

const BUYER: &str = "bf_buyer";
const SHOP: &str = "bf_shop";

fn quick(spawn: Spawn) -> Spawn {
    spawn.configure(|c| c.backfill.poll_interval_ms = 50)
}

/// An app whose simulator knows both accounts (NetEase's history needs `accid` registered).
async fn start(spawn: Spawn) -> TestApp {
    let app = spawn.start().await;
    app.create_account(BUYER, None).await;
    app.create_account(SHOP, None).await;
    app
}

fn sim(app: &TestApp) -> SimState {
    app.sim.as_ref().expect("an external simulator").state()
}

/// `from` sends `to` a message at `at_ms` through the simulator; its msgidServer.
async fn send(app: &TestApp, from: &str, to: &str, at_ms: u64, msg_type: &str) -> String {
    let m = ClientMessage {
        from: from.into(),
        to: to.into(),
        body: format!("{from} at {at_ms}"),
        msg_type: Some(msg_type.into()),
        timestamp: Some(at_ms),
        ..ClientMessage::default()
    };
    sim(app).client_message(m).await.expect("the simulator takes the message").msgid_server.to_string()
}

/// Run `f` with the simulator's callbacks off: what it sends, NetEase keeps but never calls back.
async fn without_callbacks<F: std::future::Future<Output = T>, T>(app: &TestApp, f: F) -> T {
    let url = sim(app).callback_url();
    sim(app).set_callback_url(None);
    let out = f.await;
    sim(app).set_callback_url(url);
    out
}

async fn request(app: &TestApp, accid: &str, peer: &str, from: u64, to: u64) -> String {
    let body = json!({"accid": accid, "peer": peer, "from": from, "to": to});
    let accepted = expect_json(app.post("/v1/backfill", &body).await, StatusCode::ACCEPTED).await;
    assert_eq!(accepted["status"], "running", "{accepted}");
    accepted["id"].as_str().expect("an id").to_owned()
}

/// GET the job until it is no longer running; at most 30 s.
async fn finished(app: &TestApp, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let job = expect_json(app.get(&format!("/v1/backfill/{id}")).await, StatusCode::OK).await;
        if job["status"] != "running" {
            return job;
        }
        assert!(Instant::now() < deadline, "backfill {id} did not finish: {job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn backfill(app: &TestApp, from: u64, to: u64) -> Value {
    let id = request(app, BUYER, SHOP, from, to).await;
    finished(app, &id).await
}

fn counts(job: &Value) -> (u64, u64) {
    (job["imported"].as_u64().unwrap(), job["skipped_duplicates"].as_u64().unwrap())
}

async fn unread_from(app: &TestApp, accid: &str, peer: &str) -> u64 {
    unread(app, accid, &[peer]).await["unread"][peer].as_u64().expect("a count")
}

async fn imported_messages_are_read_or_unread_by_the_watermark(store: Store) {
    let app = start(quick(Spawn::new(Backend::Sqlite).store(store))).await;
    let t0 = now_millis() - 600_000;
    let (from_shop, from_buyer) = without_callbacks(&app, async {
        let mut from_shop = Vec::new();
        for i in 1..=5 {
            from_shop.push(send(&app, SHOP, BUYER, t0 + i * 1000, "TEXT").await);
        }
        send(&app, SHOP, BUYER, t0 + 6000, "TIPS").await;
        let from_buyer =
            [send(&app, BUYER, SHOP, t0 + 500, "TEXT").await, send(&app, BUYER, SHOP, t0 + 5500, "TEXT").await];
        (from_shop, from_buyer)
    })
    .await;
    // The buyer read up to the shop's second message before the history was imported.
    deliver(&app, &receipt(BUYER, SHOP, t0 + 2000, "AOS")).await;
    assert_eq!(unread_from(&app, BUYER, SHOP).await, 0, "nothing was called back");

    let id = request(&app, "BF_Buyer", SHOP, t0, now_millis()).await;
    let job = finished(&app, &id).await;
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(counts(&job), (8, 0), "{job}");
    assert_eq!(job["windows"], 1);
    assert_eq!((job["accid"].as_str(), job["peer"].as_str()), (Some(BUYER), Some(SHOP)));
    assert!(job.get("error").is_none(), "{job}");

    // Messages at or before the watermark are read, the rest unread; TIPS never count; the other
    // direction counts for the shop.
    assert_eq!(unread_from(&app, BUYER, SHOP).await, 3);
    assert_eq!(unread_from(&app, SHOP, BUYER).await, 2);
    let store = app.message_store().await;
    let doc = store.get_message(&message_key("netease", &from_shop[4])).await.unwrap().expect("stored");
    assert_eq!(doc["backfilled"], true);
    assert_eq!(doc["backfillJob"], id.as_str());
    assert_eq!((doc["msgType"].as_str(), doc["convType"].as_str()), (Some("TEXT"), Some("PERSON")));
    assert_eq!((doc["fromAccount"].as_str(), doc["to"].as_str()), (Some(SHOP), Some(BUYER)));
    assert_eq!(doc["body"], format!("{SHOP} at {}", t0 + 5000));
    let read = store.get_message(&message_key("netease", &from_shop[1])).await.unwrap().expect("stored");
    assert_eq!(read["state"], 1, "at the watermark: read");
    assert!(store.get_message(&message_key("netease", &from_buyer[1])).await.unwrap().is_some());

    // A later receipt moves the watermark over imported messages too.
    deliver(&app, &receipt(BUYER, SHOP, t0 + 4000, "AOS")).await;
    assert_eq!(unread_from(&app, BUYER, SHOP).await, 1);

    // A later callback of an imported message changes nothing.
    let key: u64 = from_shop[4].parse().unwrap();
    deliver(&app, &message(SHOP, BUYER, key, t0 + 5000)).await;
    let doc = store.get_message(&message_key("netease", &from_shop[4])).await.unwrap().expect("stored");
    assert_eq!(
        (doc["backfilled"].clone(), doc["body"].clone()),
        (json!(true), json!(format!("{SHOP} at {}", t0 + 5000)))
    );
    assert_eq!(unread_from(&app, BUYER, SHOP).await, 1);

    // The same range again: everything is already there.
    let again = backfill(&app, t0, now_millis()).await;
    assert_eq!((again["status"].as_str(), counts(&again)), (Some("done"), (0, 8)), "{again}");
    assert_eq!(unread_from(&app, BUYER, SHOP).await, 1);
}

async fn a_message_called_back_and_backfilled_is_stored_once(store: Store) {
    let app = start(quick(Spawn::new(Backend::Sqlite).store(store))).await;
    let t0 = now_millis() - 60_000;
    let called_back = send(&app, SHOP, BUYER, t0 + 1, "TEXT").await;
    assert!(sim(&app).flush_callbacks(Duration::from_secs(10)).await);
    let missed = without_callbacks(&app, send(&app, SHOP, BUYER, t0 + 2, "PICTURE")).await;
    assert_eq!(unread_from(&app, BUYER, SHOP).await, 1);

    let job = backfill(&app, t0, now_millis()).await;
    assert_eq!((job["status"].as_str(), counts(&job)), (Some("done"), (1, 1)), "{job}");
    assert_eq!(unread_from(&app, BUYER, SHOP).await, 2, "each message once");
    let store = app.message_store().await;
    let kept = store.get_message(&message_key("netease", &called_back)).await.unwrap().expect("stored");
    assert!(kept.get("backfilled").is_none(), "the callback's document is kept: {kept}");
    let picture = store.get_message(&message_key("netease", &missed)).await.unwrap().expect("stored");
    assert_eq!((picture["msgType"].as_str(), picture["backfilled"].as_bool()), (Some("PICTURE"), Some(true)));
}

async fn more_than_a_page_in_the_range_is_imported_whole(store: Store) {
    let app = start(quick(Spawn::new(Backend::Sqlite).store(store))).await;
    let t0 = now_millis() - 600_000;
    // 250 messages, three per millisecond, so a page of 100 ends inside a millisecond.
    without_callbacks(&app, async {
        for i in 0..250 {
            send(&app, SHOP, BUYER, t0 + i / 3, "TEXT").await;
        }
    })
    .await;
    let job = backfill(&app, t0, t0 + 1_000).await;
    assert_eq!((job["status"].as_str(), counts(&job)), (Some("done"), (250, 0)), "{job}");
    assert_eq!(job["windows"], 3, "two full pages, then the rest: {job}");
    assert_eq!(unread_from(&app, BUYER, SHOP).await, 250);
    assert_eq!(app.sim_calls("history/querySessionMsg").await, 3);
}

/// Pages of 10 at 4 calls a second: slow enough to stop mid-way.
fn slow(spawn: Spawn) -> Spawn {
    spawn.configure(|c| {
        c.backfill.poll_interval_ms = 50;
        c.backfill.page_size = 10;
        c.backfill.calls_per_second = 4;
    })
}

async fn a_restart_mid_job_resumes_and_counts_exactly(backend: Backend) {
    let mut first = start(slow(Spawn::new(backend))).await;
    let t0 = now_millis() - 600_000;
    without_callbacks(&first, async {
        for i in 0..60 {
            send(&first, SHOP, BUYER, t0 + i, "TEXT").await;
        }
    })
    .await;
    let id = request(&first, BUYER, SHOP, t0, now_millis()).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let job = expect_json(first.get(&format!("/v1/backfill/{id}")).await, StatusCode::OK).await;
        assert_eq!(job["status"], "running", "finished before the restart: {job}");
        if job["windows"].as_u64().unwrap() >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "no progress: {job}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Stop the service (keeping NetEase), start it again on the same databases.
    let second = slow(Spawn::instance_of(&first));
    let first_database_url = first.database.url.clone();
    let sim_handle = first.sim.take();
    first.stop().await;
    // Stopped mid-job, the job given back (no lease held) for whoever starts next.
    let sql = imbridge::db::Sql::connect(&first_database_url).await.unwrap();
    let (status, owner): (String, Option<String>) = imbridge::with_pool!(&sql, pool =>
        sqlx::query_as("SELECT status, lease_owner FROM backfill_jobs WHERE id = ?").bind(&id).fetch_one(pool).await)
    .unwrap();
    assert_eq!((status.as_str(), owner), ("running", None));
    sql.close().await;
    let second = second.start().await;
    let job = finished(&second, &id).await;
    assert_eq!((job["status"].as_str(), counts(&job)), (Some("done"), (60, 0)), "{job}");
    assert!(job["windows"].as_u64().unwrap() >= 7, "{job}");
    assert_eq!(unread_from(&second, BUYER, SHOP).await, 60);
    drop(sim_handle);
}

/// As if the service died after storing a window's messages but before recording the window:
/// the job's progress is rewound in SQL, and the resumed job reads those windows again.
async fn progress_lost_after_a_window_is_read_again_not_counted_twice(backend: Backend) {
    let app = start(quick(Spawn::new(backend)).configure(|c| c.backfill.page_size = 10)).await;
    let t0 = now_millis() - 600_000;
    without_callbacks(&app, async {
        for i in 0..35 {
            send(&app, SHOP, BUYER, t0 + i, "TEXT").await;
        }
    })
    .await;
    // One message was already stored by its callback: skipped, before and after the rewind.
    send(&app, BUYER, SHOP, t0 + 20, "TEXT").await;
    assert!(sim(&app).flush_callbacks(Duration::from_secs(10)).await);
    let id = request(&app, BUYER, SHOP, t0, now_millis()).await;
    let job = finished(&app, &id).await;
    assert_eq!(counts(&job), (35, 1), "{job}");

    let sql = imbridge::db::Sql::connect(&app.database.url).await.unwrap();
    imbridge::with_pool!(&sql, pool => sqlx::query(
        "UPDATE backfill_jobs SET status = 'running', cursor_ms = from_ms, cursor_keys = '[]', imported = 0, \
         skipped_duplicates = 0, windows = 0, next_attempt_at = 0 WHERE id = ?",
    )
    .bind(&id)
    .execute(pool)
    .await
    .map(|done| done.rows_affected()))
    .unwrap();
    let job = finished(&app, &id).await;
    assert_eq!((job["status"].as_str(), counts(&job)), (Some("done"), (35, 1)), "{job}");
    assert_eq!(unread_from(&app, BUYER, SHOP).await, 35);
    assert_eq!(unread_from(&app, SHOP, BUYER).await, 1);
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field_and_calls_nobody() {
    let app = start(quick(Spawn::new(Backend::Sqlite))).await;
    let now = now_millis();
    let day = 86_400_000;
    let refused = |body: Value, field: &'static str| {
        let app = &app;
        async move {
            let response = app.post("/v1/backfill", &body).await;
            expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", Some(field)).await;
        }
    };
    refused(json!({"peer": SHOP, "from": 0, "to": 1}), "accid").await;
    refused(json!({"accid": "bad accid!", "peer": SHOP, "from": 0, "to": 1}), "accid").await;
    refused(json!({"accid": BUYER, "peer": "x".repeat(33), "from": 0, "to": 1}), "peer").await;
    refused(json!({"accid": BUYER, "peer": "BF_BUYER", "from": 0, "to": 1}), "peer").await;
    refused(json!({"accid": BUYER, "peer": SHOP, "from": -1, "to": 1}), "from").await;
    refused(json!({"accid": BUYER, "peer": SHOP, "from": "yesterday", "to": 1}), "from").await;
    refused(json!({"accid": BUYER, "peer": SHOP, "from": now, "to": now}), "to").await;
    refused(json!({"accid": BUYER, "peer": SHOP, "from": now, "to": now - 1}), "to").await;
    refused(json!({"accid": BUYER, "peer": SHOP, "from": now - 90 * day - 1, "to": now}), "to").await;
    refused(json!({"accid": BUYER, "peer": SHOP, "from": now}), "to").await;
    let extra = json!({"accid": BUYER, "peer": SHOP, "from": 0, "to": 1, "limit": 5});
    expect_error(app.post("/v1/backfill", &extra).await, StatusCode::BAD_REQUEST, "unknown_field", Some("limit")).await;

    // Exactly 90 days is allowed.
    let id = request(&app, BUYER, SHOP, now - 90 * day, now).await;
    assert_eq!(finished(&app, &id).await["status"], "done");
    assert_eq!(app.sim_calls("history/querySessionMsg").await, 1, "only the accepted request called NetEase");

    expect_error(app.get("/v1/backfill/no-such-job").await, StatusCode::NOT_FOUND, "not_found", None).await;
}

#[tokio::test]
async fn a_refusal_from_netease_fails_the_job_with_its_reason() {
    let app = start(quick(Spawn::new(Backend::Sqlite))).await;
    // NetEase's history needs `accid` registered; this one never was.
    let id = request(&app, "bf_stranger", SHOP, now_millis() - 1000, now_millis()).await;
    let job = finished(&app, &id).await;
    assert_eq!(job["status"], "failed", "{job}");
    let error = job["error"].as_str().expect("an error");
    assert!(error.contains("414"), "{error}");
    assert_eq!(counts(&job), (0, 0));
}

//! `POST /v1/admin/replay`, `GET /v1/admin/replay/{id}` and the dead-letter routes, on both
//! providers and both message stores: callbacks stored before a parser fix (raw rows with nothing
//! derived from them) are re-derived, dead letters that parse now are stored and leave the list,
//! a second replay counts nothing twice, bad input and overlapping ranges are refused, and a job
//! left running by a stopped instance is resumed from its cursor by the next one.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use imbridge::config::ProviderKind;
use imbridge::messages::{AuditPage, CallbackRecord, MessageStore, RawCallback};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{expect_error, expect_json, Backend, Spawn, Store, TestApp};

on_both_providers!(
    presence_is_right_after_replaying_logins_stored_before_the_fix,
    a_dead_letter_that_parses_now_is_stored_and_leaves_the_list,
    replaying_twice_counts_nothing_twice,
);

mod resumed {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn netease() {
        super::a_job_left_running_is_resumed_from_its_cursor_after_a_restart(imbridge::config::ProviderKind::Netease)
            .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tencent() {
        super::a_job_left_running_is_resumed_from_its_cursor_after_a_restart(imbridge::config::ProviderKind::Tencent)
            .await
    }
}

const BUYER: &str = "rp_buyer";
const SHOP: &str = "rp_shop";

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn at(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms as u64)
}

fn provider_name(provider: ProviderKind) -> &'static str {
    match provider {
        ProviderKind::Netease => "netease",
        ProviderKind::Tencent => "tencent",
    }
}

/// A login or logout of `accid` at `at_ms`, as the provider's callback body: (event type, body).
fn presence_body(provider: ProviderKind, accid: &str, online: bool, at_ms: i64) -> (String, Value) {
    match provider {
        ProviderKind::Netease => {
            let event_type = if online { "2" } else { "3" };
            let body = json!({"eventType": event_type, "accid": accid, "clientType": "AOS", "code": "200",
                "timestamp": at_ms.to_string()});
            (event_type.into(), body)
        }
        ProviderKind::Tencent => {
            let action = if online { "Login" } else { "Logout" };
            let body = json!({"CallbackCommand": "State.StateChange", "EventTime": at_ms,
                "Info": {"Action": action, "To_Account": accid, "Reason": if online { "Register" } else { "Unregister" }}});
            ("State.StateChange".into(), body)
        }
    }
}

/// A chat message `key` (a number) from `from` to `to` sent at `at_ms`: (event type, body).
fn message_body(provider: ProviderKind, from: &str, to: &str, key: u64, at_ms: i64) -> (String, Value) {
    match provider {
        ProviderKind::Netease => ("1".into(), crate::callbacks::message(from, to, key, at_ms as u64)),
        ProviderKind::Tencent => {
            let body = json!({"CallbackCommand": "C2C.CallbackAfterSendMsg", "From_Account": from, "To_Account": to,
                "MsgSeq": key, "MsgRandom": key, "MsgTime": at_ms / 1000, "MsgKey": format!("{key}_{key}_{}", at_ms / 1000),
                "SendMsgResult": 0, "UnreadMsgNum": 1,
                "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": format!("message {key}")}}]});
            ("C2C.CallbackAfterSendMsg".into(), body)
        }
    }
}

/// The callback as ingestion keeps it, with the request's path and query: Tencent's names the
/// platform of a login (`OptPlatform`), which its body does not.
fn raw(provider: ProviderKind, (event_type, body): (String, Value), received_at_ms: i64) -> RawCallback {
    let path_and_query = match provider {
        ProviderKind::Netease => "/callbacks/netease".to_owned(),
        ProviderKind::Tencent => format!(
            "/callbacks/tencent?SdkAppid=1400000001&CallbackCommand={event_type}&contenttype=json&OptPlatform=iOS"
        ),
    };
    RawCallback {
        provider: provider_name(provider).into(),
        event_type,
        body: Bytes::from(body.to_string()),
        path_and_query,
        received_at: at(received_at_ms),
    }
}

/// Store raw callbacks with nothing derived from them: what a parser that did not understand them
/// left behind (it kept them raw only).
async fn store_raw_only(store: &dyn MessageStore, raws: Vec<RawCallback>) {
    let batch: Vec<CallbackRecord> = raws.into_iter().map(|raw| CallbackRecord { raw, events: vec![] }).collect();
    store.apply(&batch).await.expect("store the raw callbacks");
}

async fn start_replay(app: &TestApp, body: Value) -> String {
    let accepted = expect_json(app.post("/v1/admin/replay", &body).await, StatusCode::ACCEPTED).await;
    assert_eq!(accepted["status"], "running", "{accepted}");
    accepted["id"].as_str().expect("an id").to_owned()
}

/// GET the job until it is no longer running; at most 30 s.
async fn finished(app: &TestApp, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let job = expect_json(app.get(&format!("/v1/admin/replay/{id}")).await, StatusCode::OK).await;
        if job["status"] != "running" {
            return job;
        }
        assert!(Instant::now() < deadline, "replay {id} did not finish: {job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn replay(app: &TestApp, body: Value) -> Value {
    let id = start_replay(app, body).await;
    let job = finished(app, &id).await;
    assert_eq!(job["status"], "done", "{job}");
    job
}

/// (scanned, reapplied, unchanged, now_parsed, still_failing)
fn counts(job: &Value) -> (i64, i64, i64, i64, i64) {
    let c = &job["counts"];
    let n = |v: &Value| v.as_i64().unwrap_or_else(|| panic!("a count: {job}"));
    (
        n(&job["progress"]["scanned"]),
        n(&c["reapplied"]),
        n(&c["unchanged"]),
        n(&c["now_parsed"]),
        n(&c["still_failing"]),
    )
}

async fn presence(app: &TestApp, accids: &str) -> Value {
    expect_json(app.get(&format!("/v1/presence?accids={accids}")).await, StatusCode::OK).await["presence"].clone()
}

async fn unread(app: &TestApp) -> u64 {
    let got = expect_json(app.get(&format!("/v1/unread?accid={BUYER}&peers={SHOP}")).await, StatusCode::OK).await;
    got["unread"][SHOP].as_u64().expect("a count")
}

async fn dead_letters(app: &TestApp) -> Vec<Value> {
    let list = expect_json(app.get("/v1/admin/dead-letters?limit=10").await, StatusCode::OK).await;
    list["dead_letters"].as_array().expect("a list").clone()
}

fn spawn(provider: ProviderKind, store: Store) -> Spawn {
    Spawn::new(Backend::Sqlite).provider(provider).store(store)
}

async fn presence_is_right_after_replaying_logins_stored_before_the_fix(provider: ProviderKind, store: Store) {
    let app = spawn(provider, store).start().await;
    let messages = app.message_store().await;
    let t = now_ms() - 60_000;
    store_raw_only(
        messages.as_ref(),
        vec![
            raw(provider, presence_body(provider, "rp_left", true, t), t + 5),
            raw(provider, presence_body(provider, "rp_left", false, t + 1000), t + 1005),
            raw(provider, presence_body(provider, "rp_stayed", true, t + 2000), t + 2005),
        ],
    )
    .await;
    let before = presence(&app, "rp_left,rp_stayed").await;
    assert_eq!(before["rp_left"]["clients"], json!([]), "nothing derived yet: {before}");
    assert_eq!(before["rp_stayed"]["online"], false, "{before}");

    let job = replay(&app, json!({"from": t, "to": now_ms()})).await;
    assert_eq!(counts(&job), (3, 3, 0, 0, 0), "{job}");
    assert_eq!(job["progress"]["cursor"]["received_at"], t + 2005, "the cursor ends on the last row: {job}");
    let after = presence(&app, "rp_left,rp_stayed").await;
    assert_eq!(
        (&after["rp_left"]["online"], &after["rp_left"]["updated_at"]),
        (&json!(false), &json!(t + 1000)),
        "{after}"
    );
    assert_eq!(
        (&after["rp_stayed"]["online"], &after["rp_stayed"]["updated_at"]),
        (&json!(true), &json!(t + 2000)),
        "{after}"
    );
    // The client type comes back too (Tencent's is in the stored query string, not the body).
    let client = if provider == ProviderKind::Netease { "aos" } else { "ios" };
    assert_eq!(after["rp_stayed"]["clients"][0]["client_type"], client, "{after}");

    // Only the event types asked for: the logins (and logouts) of another range are left alone.
    let (login_type, _) = presence_body(provider, "x", true, 0);
    let t2 = t + 10_000;
    store_raw_only(messages.as_ref(), vec![raw(provider, presence_body(provider, "rp_later", true, t2), t2)]).await;
    store_raw_only(messages.as_ref(), vec![raw(provider, message_body(provider, SHOP, BUYER, 71, t2), t2 + 1)]).await;
    let job = replay(&app, json!({"from": t2, "to": t2 + 1, "event_types": [login_type]})).await;
    assert_eq!(counts(&job), (1, 1, 0, 0, 0), "the message is filtered out: {job}");
    assert_eq!(presence(&app, "rp_later").await["rp_later"]["online"], true);
    assert_eq!(unread(&app).await, 0, "the message was not replayed");
}

async fn a_dead_letter_that_parses_now_is_stored_and_leaves_the_list(provider: ProviderKind, store: Store) {
    let app = spawn(provider, store).start().await;
    let messages = app.message_store().await;
    let t = now_ms() - 60_000;
    // Bodies an older parser refused; the current one takes them.
    let mut first = raw(provider, message_body(provider, SHOP, BUYER, 81, t), t);
    let mut second = raw(provider, message_body(provider, SHOP, BUYER, 82, t + 1), t + 1);
    let broken = RawCallback {
        body: Bytes::from_static(b"{\"eventType\":"),
        ..raw(provider, message_body(provider, SHOP, BUYER, 83, t), t + 2)
    };
    for letter in [&mut first, &mut second] {
        letter.event_type = String::new(); // as ingestion keeps them: the type never parsed
        messages.dead_letter(letter, "old parser: msgTimestamp is not a number").await.unwrap();
    }
    messages.dead_letter(&RawCallback { event_type: String::new(), ..broken }, "old reason").await.unwrap();
    let listed = dead_letters(&app).await;
    assert_eq!(listed.len(), 3, "{listed:?}");
    let first_id = listed[2]["id"].as_str().expect("an id").to_owned();
    assert_eq!(listed[2]["reason"], "old parser: msgTimestamp is not a number");
    assert_eq!(listed[2]["provider"], provider_name(provider));
    assert_eq!(listed[2]["received_at_ms"], t);
    assert_eq!(listed[2]["body"], String::from_utf8(first.body.to_vec()).unwrap());

    // One, by id (the console's button).
    let replayed = app.post_empty(&format!("/v1/admin/dead-letters/{first_id}/replay")).await;
    assert_eq!(expect_json(replayed, StatusCode::OK).await, json!({"outcome": "applied"}));
    assert_eq!(unread(&app).await, 1, "stored");
    assert!(dead_letters(&app).await.iter().all(|l| l["id"] != first_id.as_str()), "gone from the list");
    let again = app.post_empty(&format!("/v1/admin/dead-letters/{first_id}/replay")).await;
    expect_error(again, StatusCode::NOT_FOUND, "not_found", None).await;

    // The rest, by a job over their range.
    let job = replay(&app, json!({"from": t, "to": t + 2, "include_dead_letters": true})).await;
    // The first one's raw body (stored by its replay) is scanned and unchanged.
    assert_eq!(counts(&job), (3, 0, 1, 1, 1), "{job}");
    assert_eq!(job["progress"]["phase"], "dead_letters", "{job}");
    assert_eq!(unread(&app).await, 2);
    let left = dead_letters(&app).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["body"], "{\"eventType\":");
    let reason = left[0]["reason"].as_str().unwrap();
    assert_ne!(reason, "old reason", "the current parser's reason is kept");
    let still = app.post_empty(&format!("/v1/admin/dead-letters/{}/replay", left[0]["id"].as_str().unwrap())).await;
    let still = expect_json(still, StatusCode::OK).await;
    assert_eq!((still["outcome"].as_str(), still["reason"].as_str()), (Some("still_failing"), Some(reason)));
}

async fn replaying_twice_counts_nothing_twice(provider: ProviderKind, store: Store) {
    let app = spawn(provider, store).start().await;
    let messages = app.message_store().await;
    let t = now_ms() - 60_000;
    let mut raws: Vec<RawCallback> = (0..3)
        .map(|i| raw(provider, message_body(provider, SHOP, BUYER, 90 + i, t + i as i64 * 1000), t + i as i64))
        .collect();
    // Not callbacks of this deployment: a backfill record, another provider's body. Left alone.
    let (_, body) = message_body(provider, SHOP, BUYER, 98, t);
    raws.push(raw(provider, ("backfill".into(), body), t + 1));
    let other = if provider == ProviderKind::Netease { ProviderKind::Tencent } else { ProviderKind::Netease };
    raws.push(raw(other, message_body(other, SHOP, BUYER, 99, t), t + 2));
    store_raw_only(messages.as_ref(), raws).await;
    assert_eq!(unread(&app).await, 0);

    let range = json!({"from": t, "to": t + 2, "include_dead_letters": true});
    let first = replay(&app, range.clone()).await;
    assert_eq!((counts(&first), &first["counts"]["skipped"]), ((5, 3, 0, 0, 0), &json!(2)), "{first}");
    assert_eq!(unread(&app).await, 3);
    let second = replay(&app, range).await;
    assert_eq!((counts(&second), &second["counts"]["skipped"]), ((5, 0, 3, 0, 0), &json!(2)), "{second}");
    assert_eq!(unread(&app).await, 3, "no message counted twice");
    assert_eq!(messages.raw_count().await.unwrap(), 5, "the audit trail is as it was");
}

/// Run `statement` (binding `args` as integers or text) on the app's SQL database, either backend.
async fn sql(url: &str, statement: &str, args: &[Arg<'_>]) -> i64 {
    macro_rules! run {
        ($pool:expr) => {{
            let pool = $pool;
            let mut query = sqlx::query_scalar::<_, i64>(statement);
            for arg in args {
                query = match arg {
                    Arg::Int(n) => query.bind(*n),
                    Arg::Text(t) => query.bind(t.map(str::to_owned)),
                };
            }
            let out = if statement.starts_with("SELECT") {
                query.fetch_one(&pool).await.unwrap()
            } else {
                query.fetch_optional(&pool).await.unwrap().unwrap_or(0)
            };
            pool.close().await;
            out
        }};
    }
    if url.starts_with("sqlite") {
        run!(sqlx::SqlitePool::connect(url).await.unwrap())
    } else {
        run!(sqlx::MySqlPool::connect(url).await.unwrap())
    }
}

enum Arg<'a> {
    Int(i64),
    Text(Option<&'a str>),
}

/// Insert a job row directly, as an instance left it (its lease until `lease_until`).
async fn insert_job(url: &str, id: &str, from: i64, to: i64, cursor: Option<(i64, String)>, lease_until: i64) {
    let (cursor_ms, cursor_digest) = cursor.unzip();
    let statement = "INSERT INTO replay_jobs (id, from_ms, to_ms, event_types, include_dead_letters, status, phase, \
        cursor_ms, cursor_digest, scanned, reapplied, next_attempt_at, lease_owner, lease_until, created_at, updated_at) \
        VALUES (?, ?, ?, NULL, 0, 'running', 'raw', ?, ?, 1, 1, ?, 'r-gone', ?, 0, 0)";
    let cursor_ms = cursor_ms.map_or(Arg::Text(None), Arg::Int);
    let args = [
        Arg::Text(Some(id)),
        Arg::Int(from),
        Arg::Int(to),
        cursor_ms,
        Arg::Text(cursor_digest.as_deref()),
        Arg::Int(lease_until),
        Arg::Int(lease_until),
    ];
    sql(url, statement, &args).await;
}

on_both_backends!(bad_input_and_overlapping_ranges_are_refused_and_change_nothing);

async fn bad_input_and_overlapping_ranges_are_refused_and_change_nothing(backend: Backend) {
    let app = Spawn::new(backend).start().await;
    let post = |body: Value| {
        let app = &app;
        async move { app.post("/v1/admin/replay", &body).await }
    };
    expect_error(
        post(json!({"from": 1, "to": 2, "colour": "red"})).await,
        StatusCode::BAD_REQUEST,
        "unknown_field",
        Some("colour"),
    )
    .await;
    expect_error(
        post(json!({"from": 5, "to": 4})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        Some("to"),
    )
    .await;
    expect_error(
        post(json!({"from": -1, "to": 4})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        Some("from"),
    )
    .await;
    expect_error(post(json!({"to": 4})).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", Some("from")).await;
    let empty = post(json!({"from": 1, "to": 4, "event_types": []})).await;
    expect_error(empty, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", Some("event_types")).await;
    let blank = post(json!({"from": 1, "to": 4, "event_types": ["2", " "]})).await;
    expect_error(blank, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", Some("event_types[1]")).await;
    let wrong = post(json!({"from": 1, "to": 4, "include_dead_letters": "yes"})).await;
    expect_error(wrong, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", Some("include_dead_letters")).await;
    let anonymous = app
        .client
        .post(format!("{}/v1/admin/replay", app.address))
        .json(&json!({"from": 1, "to": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let anonymous = app.client.get(format!("{}/v1/admin/dead-letters", app.address)).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    expect_error(app.get("/v1/admin/replay/nope").await, StatusCode::NOT_FOUND, "not_found", None).await;
    expect_error(
        app.get("/v1/admin/dead-letters?limit=0").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        Some("limit"),
    )
    .await;
    expect_error(
        app.get("/v1/admin/dead-letters?limit=5&x=1").await,
        StatusCode::BAD_REQUEST,
        "unknown_field",
        Some("x"),
    )
    .await;
    expect_error(app.post_empty("/v1/admin/dead-letters/nope/replay").await, StatusCode::NOT_FOUND, "not_found", None)
        .await;

    // A job another instance holds (its lease far ahead) over 1 000..2 000.
    insert_job(&app.database.url, "held-elsewhere", 1_000, 2_000, None, i64::MAX / 2).await;
    for (from, to) in [(1_500, 1_600), (500, 1_000), (2_000, 3_000), (0, 5_000)] {
        let response = post(json!({"from": from, "to": to})).await;
        let body = expect_error(response, StatusCode::CONFLICT, "replay_overlaps", None).await;
        assert!(body["message"].as_str().unwrap().contains("held-elsewhere"), "{body}");
    }
    let beside = start_replay(&app, json!({"from": 2_001, "to": 3_000})).await;
    assert_eq!(finished(&app, &beside).await["status"], "done");
    let jobs = sql(&app.database.url, "SELECT COUNT(*) FROM replay_jobs", &[]).await;
    assert_eq!(jobs, 2, "refused requests stored nothing");
}

async fn a_job_left_running_is_resumed_from_its_cursor_after_a_restart(provider: ProviderKind) {
    let first = spawn(provider, Store::Embedded).start().await;
    let (dir, database) = (first.dir.clone(), first.database.clone());
    let messages: Arc<dyn MessageStore> = first.message_store().await;
    first.stop().await;

    let t = now_ms() - 60_000;
    let raws = (0..3)
        .map(|i| raw(provider, message_body(provider, SHOP, BUYER, 60 + i, t + i as i64 * 1000), t + i as i64))
        .collect();
    store_raw_only(messages.as_ref(), raws).await;
    // The stopped instance had done the first row (and recorded it) when it died.
    let page = AuditPage { from_ms: t, to_ms: t + 2, after: None, limit: 1, event_types: None };
    let done = messages.raw_page(&page).await.unwrap().remove(0);
    assert_eq!(done.received_at_ms, t);
    insert_job(&database.url, "left-running", t, t + 2, Some((done.received_at_ms, done.digest)), 0).await;
    let mut second = spawn(provider, Store::Embedded);
    (second.dir, second.database) = (Some(dir), Some(database));
    let second = second.start().await;

    let job = finished(&second, "left-running").await;
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(counts(&job), (3, 3, 0, 0, 0), "one row before the restart, two after: {job}");
    assert_eq!(unread(&second).await, 2, "the row before the cursor was not applied again");
}

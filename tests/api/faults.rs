//! Faults: a database taken away from the running service and given back. MongoDB and MariaDB are
//! reached through a [`FaultProxy`] that the test cuts (server down) or freezes (partition); the
//! embedded store's file is locked by another connection. While a database is gone, calls that need it get a JSON 503 `unavailable`
//! and `/readyz` names it; nothing acknowledged is lost, nothing is left half done, and once it is
//! back the provider's redeliveries and the callers' retries complete the work with exact counts.

mod proxy;

use imbridge::messages::message_key;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use imbridge_netease::sign::now_millis;
use proxy::FaultProxy;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use sqlx::{Connection, Executor};

use crate::callbacks::{message, post_raw, signed_headers, unread};
use crate::helpers::{expect_error, expect_json, mysql_base_url, Backend, Spawn, Store, TestApp};

/// How long the service waits for an unreachable database before answering 503, in these tests.
const FAIL_FAST_MS: u64 = 1_000;

/// The address a `mongodb://` or `mysql://` URL names (the real server behind the proxy).
async fn server_of(url: &str, default_port: u16) -> SocketAddr {
    let url = reqwest::Url::parse(url).expect("a URL");
    let host = url.host_str().expect("a host");
    let port = url.port().unwrap_or(default_port);
    let mut addrs = tokio::net::lookup_host((host, port)).await.unwrap();
    addrs.next().expect("an address")
}

/// `url` with its host and port replaced by the proxy's.
fn via_proxy(url: &str, proxy: SocketAddr) -> String {
    let mut url = reqwest::Url::parse(url).expect("a URL");
    url.set_host(Some(&proxy.ip().to_string())).unwrap();
    url.set_port(Some(proxy.port())).unwrap();
    url.to_string()
}

async fn mongodb_server() -> SocketAddr {
    let uri = std::env::var("IMBRIDGE_TEST_MONGODB_URI").expect("IMBRIDGE_TEST_MONGODB_URI");
    server_of(&uri, 27017).await
}

/// The app on MongoDB through `proxy`, failing fast; `direct` receives the URI that bypasses the
/// proxy (the test's own view of the database).
fn on_mongodb_via(proxy: &FaultProxy, direct: Arc<Mutex<Option<String>>>) -> Spawn {
    let addr = proxy.addr();
    Spawn::new(Backend::Sqlite).store(Store::Mongo).configure(move |config| {
        let uri = config.mongodb_uri.as_ref().expect("a MongoDB test app").expose_secret().to_owned();
        let mut proxied = reqwest::Url::parse(&via_proxy(&uri, addr)).unwrap();
        proxied
            .query_pairs_mut()
            .append_pair("serverSelectionTimeoutMS", &FAIL_FAST_MS.to_string())
            .append_pair("connectTimeoutMS", &FAIL_FAST_MS.to_string())
            // How soon the driver notices that connections in use stopped answering (a partition).
            .append_pair("heartbeatFrequencyMS", "500");
        config.mongodb_uri = Some(SecretString::from(proxied.to_string()));
        *direct.lock().unwrap() = Some(uri);
    })
}

/// Poll `condition` every 10 ms until it holds; fail after `within`.
async fn wait_until<F: std::future::Future<Output = bool>>(
    within: Duration,
    what: &str,
    mut condition: impl FnMut() -> F,
) {
    let deadline = Instant::now() + within;
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out after {within:?} waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn readyz(app: &TestApp) -> (StatusCode, Value) {
    let response = app.client.get(format!("{}/readyz", app.address)).send().await.expect("readyz answers");
    let status = response.status();
    (status, response.json().await.expect("readyz is JSON"))
}

/// `/readyz` is 503 and names exactly `dependency`.
async fn expect_not_ready(app: &TestApp, dependency: &str) {
    let (status, body) = readyz(app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["failing"], json!([dependency]), "{body}");
    assert_eq!(body["code"], "unavailable", "{body}");
}

/// Once the dependency is back, `/readyz` turns 200 (within 30 s).
async fn wait_until_ready(app: &TestApp) {
    wait_until(Duration::from_secs(30), "/readyz is 200", || async { readyz(app).await.0 == StatusCode::OK }).await;
}

/// Deliver one callback as NetEase does (signed now). `true`: acknowledged; `false`: answered 503
/// `unavailable`, so NetEase keeps it for a redelivery. Anything else (another status, another
/// body, no answer) fails the test.
async fn deliver_once(app: &TestApp, body: &[u8]) -> bool {
    let headers = signed_headers(app, body, now_millis());
    let response = post_raw(app, body.to_vec(), &headers).await;
    match response.status() {
        StatusCode::OK => {
            assert_eq!(expect_json(response, StatusCode::OK).await, json!({"code": 200}));
            true
        }
        _ => {
            expect_error(response, StatusCode::SERVICE_UNAVAILABLE, "unavailable", None).await;
            false
        }
    }
}

/// How the message store is taken away and given back.
enum Outage {
    /// MongoDB behind the proxy: the server goes down (connections closed, new ones refused).
    Down(FaultProxy),
    /// MongoDB behind the proxy: a partition (connections, in use or new, never answered).
    Partition(FaultProxy),
    /// The embedded store's file: another connection holds the write lock (as a backup tool or an
    /// operator's `sqlite3` shell with an open write transaction would).
    Lock { file: PathBuf, holder: Option<sqlx::SqliteConnection> },
}

impl Outage {
    async fn begin(&mut self) {
        match self {
            Outage::Down(proxy) => proxy.cut().await,
            Outage::Partition(proxy) => proxy.freeze().await,
            Outage::Lock { file, holder } => {
                let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", file.display())).await.unwrap();
                conn.execute("BEGIN EXCLUSIVE").await.expect("take the write lock");
                *holder = Some(conn);
            }
        }
    }

    async fn end(&mut self) {
        match self {
            Outage::Down(proxy) | Outage::Partition(proxy) => proxy.restore(),
            Outage::Lock { holder, .. } => {
                let mut conn = holder.take().expect("the lock is held");
                conn.execute("ROLLBACK").await.unwrap();
                conn.close().await.unwrap();
            }
        }
    }
}

/// NetEase keeps delivering messages (four at a time) while the message store goes away and comes
/// back; then every callback that was not acknowledged is redelivered, as NetEase does. Exactly
/// the callbacks sent are stored, each once, every acknowledged one among them.
async fn callbacks_through_a_store_outage(app: &TestApp, mut outage: Outage) {
    const SENDERS: usize = 4;
    let started_ms = now_millis();
    let bodies: Vec<Vec<u8>> = (0..500u64)
        .map(|i| serde_json::to_vec(&message("shop_f", "buyer_f", 70_000 + i, started_ms + i)).unwrap())
        .collect();
    // outcome[i]: None = never sent; Some(acknowledged).
    let outcomes: Mutex<Vec<Option<bool>>> = Mutex::new(vec![None; bodies.len()]);
    let (next, acked, refused, stop) =
        (&AtomicUsize::new(0), &AtomicUsize::new(0), &AtomicUsize::new(0), &AtomicBool::new(false));
    let (bodies_ref, outcomes_ref) = (&bodies, &outcomes);

    let netease = futures::future::join_all((0..SENDERS).map(|_| async move {
        let (bodies, outcomes) = (bodies_ref, outcomes_ref);
        while !stop.load(Ordering::SeqCst) {
            let i = next.fetch_add(1, Ordering::SeqCst);
            let Some(body) = bodies.get(i) else { break };
            let ok = deliver_once(app, body).await;
            outcomes.lock().unwrap()[i] = Some(ok);
            (if ok { acked } else { refused }).fetch_add(1, Ordering::SeqCst);
        }
    }));
    let count = |n: &AtomicUsize| n.load(Ordering::SeqCst);
    let operator = async {
        wait_until(Duration::from_secs(30), "5 callbacks are acknowledged", || async { count(acked) >= 5 }).await;
        outage.begin().await;
        wait_until(Duration::from_secs(30), "8 callbacks are refused", || async { count(refused) >= 8 }).await;

        expect_not_ready(app, "message_store").await;
        let unread_path = "/v1/unread?accid=buyer_f&peers=shop_f";
        match &outage {
            Outage::Down(_) | Outage::Partition(_) => {
                expect_error(app.get(unread_path).await, StatusCode::SERVICE_UNAVAILABLE, "unavailable", None).await;
            }
            // A write lock does not stop readers (WAL): the counts are still served.
            Outage::Lock { .. } => {
                expect_json(app.get(unread_path).await, StatusCode::OK).await;
            }
        }

        outage.end().await;
        wait_until_ready(app).await;
        let before = count(acked);
        wait_until(Duration::from_secs(30), "5 more callbacks are acknowledged", || async {
            count(acked) >= before + 5
        })
        .await;
        stop.store(true, Ordering::SeqCst);
    };
    tokio::join!(netease, operator);

    let outcomes = outcomes.into_inner().unwrap();
    let sent: Vec<usize> = (0..bodies.len()).filter(|&i| outcomes[i].is_some()).collect();
    let unacknowledged: Vec<usize> = sent.iter().copied().filter(|&i| outcomes[i] == Some(false)).collect();
    assert!(unacknowledged.len() >= 8, "{outcomes:?}");
    for &i in &unacknowledged {
        assert!(deliver_once(app, &bodies[i]).await, "redelivery {i} after recovery is acknowledged");
    }
    // Redeliveries of acknowledged callbacks (NetEase may resend after a lost answer) change nothing.
    for &i in sent.iter().filter(|&&i| outcomes[i] == Some(true)).take(3) {
        assert!(deliver_once(app, &bodies[i]).await);
    }

    let total = sent.len() as u64;
    assert_eq!(unread(app, "buyer_f", &["shop_f"]).await["unread"]["shop_f"], total, "{} sent", sent.len());
    let store = app.message_store().await;
    assert_eq!(store.raw_count().await.unwrap(), total, "one raw body per distinct callback");
    for &i in &sent {
        let key = (70_000 + i).to_string();
        assert!(
            store.get_message(&message_key("netease", &key)).await.unwrap().is_some(),
            "message {key} (acknowledged: {:?})",
            outcomes[i]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MongoDB"]
async fn mongodb_down_mid_ingestion_loses_nothing() {
    let proxy = FaultProxy::start(mongodb_server().await).await;
    let app = on_mongodb_via(&proxy, Arc::default()).start().await;
    callbacks_through_a_store_outage(&app, Outage::Down(proxy)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MongoDB"]
async fn mongodb_partitioned_mid_ingestion_loses_nothing() {
    let proxy = FaultProxy::start(mongodb_server().await).await;
    let app = on_mongodb_via(&proxy, Arc::default()).start().await;
    callbacks_through_a_store_outage(&app, Outage::Partition(proxy)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_store_locked_mid_ingestion_loses_nothing() {
    let app = Spawn::new(Backend::Sqlite).configure(|c| c.storage.sqlite_busy_timeout_ms = 200).start().await;
    let file = app.dir.path().join("data").join("messages.db");
    callbacks_through_a_store_outage(&app, Outage::Lock { file, holder: None }).await;
}

/// The service starts while MongoDB is unreachable, says so, refuses what needs it, and once MongoDB
/// is back creates the collections and indexes and works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MongoDB"]
async fn starts_without_mongodb_and_sets_it_up_when_it_is_back() {
    let proxy = FaultProxy::start(mongodb_server().await).await;
    proxy.freeze().await;
    let direct = Arc::new(Mutex::new(None));
    let app = on_mongodb_via(&proxy, direct.clone()).start().await;

    expect_not_ready(&app, "message_store").await;
    let body = serde_json::to_vec(&message("shop_s", "buyer_s", 80_001, now_millis())).unwrap();
    assert!(!deliver_once(&app, &body).await, "a callback is refused while MongoDB is unreachable");
    let unread_path = "/v1/unread?accid=buyer_s&peers=shop_s";
    expect_error(app.get(unread_path).await, StatusCode::SERVICE_UNAVAILABLE, "unavailable", None).await;

    // Back: NetEase's redeliveries are stored, the first one setting up the collections and indexes.
    proxy.restore();
    wait_until(Duration::from_secs(30), "a redelivery is acknowledged", || deliver_once(&app, &body)).await;
    let uri = direct.lock().unwrap().clone().unwrap();
    let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
    let database = client.default_database().expect("the test database is in the URI");
    let indexes = |collection: &'static str| {
        let database = database.clone();
        async move {
            let mut names =
                database.collection::<mongodb::bson::Document>(collection).list_index_names().await.unwrap();
            names.sort();
            names
        }
    };
    assert_eq!(indexes("messages").await, ["_id_", "key_1", "pair", "to_key", "unread"]);
    assert_eq!(indexes("presence_clients").await, ["_id_", "accid_1_client_1"]);
    assert_eq!(indexes("raw_callbacks").await, ["_id_", "expireAt_1", "received"]);
    let (status, body_ready) = readyz(&app).await;
    assert_eq!(status, StatusCode::OK, "{body_ready}");

    assert!(deliver_once(&app, &body).await, "another redelivery changes nothing");
    assert_eq!(unread(&app, "buyer_s", &["shop_s"]).await["unread"]["shop_s"], 1);
}

/// The app on MariaDB through `proxy`, failing fast.
async fn on_mariadb_via(proxy: &FaultProxy) -> TestApp {
    let addr = proxy.addr();
    Spawn::new(Backend::MySql)
        .configure(move |config| {
            config.database_url = SecretString::from(via_proxy(config.database_url.expose_secret(), addr));
            config.storage.sql_acquire_timeout_ms = FAIL_FAST_MS;
        })
        .start()
        .await
}

async fn mariadb_count(app: &TestApp, table: &str) -> i64 {
    let mut conn = sqlx::MySqlConnection::connect(&app.database.url).await.unwrap();
    let n = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    n
}

/// GET the notification until it is settled (neither queued nor sending); at most 30 s.
async fn settled(app: &TestApp, id: &str) -> Value {
    app.settled_notification(id).await
}

/// MariaDB stops answering: account and notification calls get 503 without touching the provider;
/// once it is back, the same calls succeed as if they were the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB"]
async fn sql_down_during_account_and_notification_calls_leaves_nothing_behind() {
    let proxy = FaultProxy::start(server_of(&mysql_base_url(), 3306).await).await;
    let app = on_mariadb_via(&proxy).await;
    app.create_account("shop_before", None).await;

    proxy.freeze().await;
    expect_not_ready(&app, "sql").await;
    let create = json!({"account": "buyer_during", "name": "During"});
    expect_error(app.post("/v1/accounts", &create).await, StatusCode::SERVICE_UNAVAILABLE, "unavailable", None).await;
    assert!(app.sim_account("buyer_during").await.is_none(), "not registered at the provider");
    let shown = app.get("/v1/accounts/shop_before").await;
    expect_error(shown, StatusCode::SERVICE_UNAVAILABLE, "unavailable", None).await;
    let notification =
        json!({"from": "shop_before", "to": ["shop_before"], "attach": {"n": 1}, "idempotency_key": "outage-1"});
    let submitted = app.post("/v1/notifications", &notification).await;
    expect_error(submitted, StatusCode::SERVICE_UNAVAILABLE, "unavailable", None).await;

    proxy.restore();
    wait_until_ready(&app).await;
    assert_eq!(mariadb_count(&app, "accounts").await, 1, "no row for the refused create");
    assert_eq!(mariadb_count(&app, "notifications").await, 0, "nothing queued");
    assert_eq!(app.sim_calls("user/create").await, 1, "the refused create never reached the provider");

    let body = app.create_account("buyer_during", Some("During")).await;
    assert_eq!(body["created"], true);
    assert!(app.sim_login("buyer_during", body["token"].as_str().unwrap()).await);
    let shown = expect_json(app.get("/v1/accounts/buyer_during").await, StatusCode::OK).await;
    assert_eq!((shown["accid"].clone(), shown["name"].clone()), (json!("buyer_during"), json!("During")));

    // The key was never stored: this is a new notification (202, not a 200 replay), sent once.
    let accepted = expect_json(app.post("/v1/notifications", &notification).await, StatusCode::ACCEPTED).await;
    assert_eq!(settled(&app, accepted["id"].as_str().unwrap()).await["status"], "delivered");
    assert_eq!(mariadb_count(&app, "notifications").await, 1);
    assert_eq!(app.sim_calls("msg/sendAttachMsg").await, 1, "delivered once");
}

/// MariaDB goes away after the provider registered the account but before the bridge recorded it:
/// the caller gets 503 and no token; the retry finishes the job with a token that logs in, and the
/// account is one consistent account here and at the provider.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB"]
async fn sql_down_between_provider_and_database_heals_on_retry() {
    let proxy = FaultProxy::start(server_of(&mysql_base_url(), 3306).await).await;
    let app = on_mariadb_via(&proxy).await;
    // The provider registers the account at once but answers 2 s later.
    app.sim_faults(json!({"delay_ms": 2000, "actions": ["user/create"]})).await;

    let request = json!({"account": "half_done", "name": "Half"});
    let create = app.post("/v1/accounts", &request);
    let cut = async {
        wait_until(Duration::from_secs(10), "the provider has the account", || async {
            app.sim_account("half_done").await.is_some()
        })
        .await;
        proxy.cut().await;
    };
    let (response, ()) = tokio::join!(create, cut);
    expect_error(response, StatusCode::SERVICE_UNAVAILABLE, "unavailable", None).await;

    proxy.restore();
    app.sim_faults(json!({})).await;
    wait_until_ready(&app).await;
    let shown = app.get("/v1/accounts/half_done").await;
    expect_error(shown, StatusCode::NOT_FOUND, "not_found", None).await;

    let body = app.create_account("half_done", None).await;
    assert_eq!(body["created"], true, "first handed out now: {body}");
    let token = body["token"].as_str().unwrap().to_owned();
    assert!(app.sim_login("half_done", &token).await, "the token logs in at the provider");
    let shown = expect_json(app.get("/v1/accounts/half_done").await, StatusCode::OK).await;
    assert_eq!((shown["accid"].clone(), shown["name"].clone()), (json!("half_done"), json!("Half")));
    assert_eq!(app.sim_account("half_done").await.unwrap()["name"], "Half");
    let again = app.create_account("half_done", None).await;
    assert_eq!((again["created"].clone(), again["token"].clone()), (json!(false), json!(token)));
    assert_eq!(mariadb_count(&app, "accounts").await, 1);
}

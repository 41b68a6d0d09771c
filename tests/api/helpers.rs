//! `spawn_app()`: the real application on 127.0.0.1:0, built exactly as `main` builds it, talking to
//! the NetEase simulator on its own port 0 (or Tencent's: [`Spawn::provider`]), with a fresh SQLite
//! file in a temp dir (or a fresh MariaDB database). Each test owns its app, simulator and database,
//! so tests run in parallel. The `chat_*` methods drive the simulator's chat clients the same way on
//! either provider, so one test can state one behaviour for both.

use std::sync::Arc;

use imbridge::app::Application;
use imbridge::config::{Config, ProviderKind};
use imbridge_netease::sim::{SimConfig, SimHandle, Simulator};
use imbridge_tencent::sim as tencent_sim;
use reqwest::{Response, StatusCode};
use secrecy::SecretString;
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const API_KEY: &str = "test-api-key-0123456789abcdef";
pub const APP_KEY: &str = "test-app-key";
/// The Tencent test app.
pub const SDKAPPID: u64 = 1_400_000_001;
pub const CALLBACK_TOKEN: &str = "test-callback-token";

/// Runs each named `async fn name(provider: ProviderKind, store: Store)` once against each provider's
/// simulator, on the embedded message store and (`#[ignore = "needs MongoDB"]`) on MongoDB.
macro_rules! on_both_providers {
    ($($name:ident),* $(,)?) => {
        on_both_providers!(@module netease, Netease, Embedded, $($name),*);
        on_both_providers!(@module tencent, Tencent, Embedded, $($name),*);
        on_both_providers!(@ignored netease_mongodb, Netease, Mongo, $($name),*);
        on_both_providers!(@ignored tencent_mongodb, Tencent, Mongo, $($name),*);
    };
    (@module $module:ident, $provider:ident, $store:ident, $($name:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(imbridge::config::ProviderKind::$provider, $crate::helpers::Store::$store).await
                }
            )*
        }
    };
    (@ignored $module:ident, $provider:ident, $store:ident, $($name:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = "needs MongoDB"]
                async fn $name() {
                    super::$name(imbridge::config::ProviderKind::$provider, $crate::helpers::Store::$store).await
                }
            )*
        }
    };
}

/// Runs each named `async fn name(backend: Backend, provider: ProviderKind)` against each provider's
/// simulator, on SQLite and (`#[ignore = "needs MariaDB"]`) on MariaDB.
macro_rules! on_backends_and_providers {
    ($($name:ident),* $(,)?) => {
        on_backends_and_providers!(@module sqlite_netease, Sqlite, Netease, $($name),*);
        on_backends_and_providers!(@module sqlite_tencent, Sqlite, Tencent, $($name),*);
        on_backends_and_providers!(@ignored mariadb_netease, MySql, Netease, $($name),*);
        on_backends_and_providers!(@ignored mariadb_tencent, MySql, Tencent, $($name),*);
    };
    (@module $module:ident, $backend:ident, $provider:ident, $($name:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::$backend, imbridge::config::ProviderKind::$provider).await
                }
            )*
        }
    };
    (@ignored $module:ident, $backend:ident, $provider:ident, $($name:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = "needs MariaDB"]
                async fn $name() {
                    super::$name($crate::helpers::Backend::$backend, imbridge::config::ProviderKind::$provider).await
                }
            )*
        }
    };
}

/// Runs each named `async fn name(backend: Backend)` once against SQLite and once against MariaDB
/// (`#[ignore = "needs MariaDB"]`; `./scripts/test` runs those with `--include-ignored`).
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod mariadb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = "needs MariaDB"]
                async fn $name() {
                    super::$name($crate::helpers::Backend::MySql).await
                }
            )*
        }
    };
}

/// Runs each named `async fn name(store: Store)` once on the embedded message store and once on
/// MongoDB (`#[ignore = "needs MongoDB"]`, needs IMBRIDGE_TEST_MONGODB_URI).
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Store::Embedded).await
                }
            )*
        }
        mod mongodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = "needs MongoDB"]
                async fn $name() {
                    super::$name($crate::helpers::Store::Mongo).await
                }
            )*
        }
    };
}

/// A provider operation tests count or make fail, named the provider's way by [`TestApp::sim_op`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimOp {
    CreateAccount,
    AddFriend,
}

/// Which message store (callbacks, unread counts) the app uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// The embedded SQLite store (the default).
    Embedded,
    /// MongoDB at IMBRIDGE_TEST_MONGODB_URI, on a database of the test's own.
    Mongo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    MySql,
}

fn init_tracing() {
    // Silent unless RUST_LOG is set (e.g. RUST_LOG=imbridge=debug cargo test ...).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A database of its own for one test: a SQLite file in the test's temp dir, or a MariaDB database
/// `imbridge_t_<uuid>` created now and dropped when this is dropped.
pub struct TestDatabase {
    pub url: String,
    mysql_drop: Option<(String, String)>,
}

impl TestDatabase {
    pub async fn create(backend: Backend, dir: &std::path::Path) -> Self {
        match backend {
            Backend::Sqlite => {
                Self { url: format!("sqlite://{}", dir.join("imbridge.db").display()), mysql_drop: None }
            }
            Backend::MySql => {
                let base = mysql_base_url();
                let name = format!("imbridge_t_{}", uuid::Uuid::new_v4().simple());
                mysql_execute(&base, &format!("CREATE DATABASE `{name}`")).await;
                let mut url = reqwest::Url::parse(&base).expect("IMBRIDGE_TEST_MYSQL_URL is a URL");
                url.set_path(&format!("/{name}"));
                Self { url: url.to_string(), mysql_drop: Some((base, name)) }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((base, name)) = self.mysql_drop.take() {
            // Drop runs outside async context guarantees: use a thread with its own runtime.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                rt.block_on(mysql_execute(&base, &format!("DROP DATABASE IF EXISTS `{name}`")));
            })
            .join();
        }
    }
}

pub fn mysql_base_url() -> String {
    std::env::var("IMBRIDGE_TEST_MYSQL_URL").unwrap_or_else(|_| {
        panic!(
            "IMBRIDGE_TEST_MYSQL_URL is not set: the MariaDB tests need a server, e.g. \
             IMBRIDGE_TEST_MYSQL_URL=mysql://root@127.0.0.1:3306/test (./scripts/test sets it up)"
        )
    })
}

async fn mysql_execute(url: &str, statement: &str) {
    use sqlx::{Connection, Executor};
    let mut conn = sqlx::MySqlConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to MariaDB at IMBRIDGE_TEST_MYSQL_URL: {e}"));
    conn.execute(statement).await.unwrap_or_else(|e| panic!("{statement}: {e}"));
    let _ = conn.close().await;
}

/// How to spawn an app. `TestApp::spawn(Backend::Sqlite)` covers most tests.
pub struct Spawn {
    pub backend: Backend,
    /// `false`: sandbox mode (the app starts its own simulator).
    pub external_sim: bool,
    pub api_keys: Vec<String>,
    /// Reuse a data dir / database (restart tests).
    pub dir: Option<Arc<TempDir>>,
    pub database: Option<Arc<TestDatabase>>,
    /// The app secret the app uses (the simulator always uses its own).
    pub app_secret: Option<String>,
    /// Use another test app's simulator (two instances of the service, one NetEase app).
    pub shared_sim: Option<(String, String)>,
    /// Last word on the configuration, e.g. `|c| c.http.request_timeout_secs = 1`.
    pub configure: Option<Configure>,
    /// The message store (embedded unless [`Spawn::store`] says MongoDB).
    pub store: Store,
    /// The IM provider (and so the simulator) the app talks to.
    pub provider: ProviderKind,
}

/// A change to the test configuration, applied just before the app is built.
pub type Configure = Box<dyn FnOnce(&mut Config) + Send>;

impl Spawn {
    pub fn new(backend: Backend) -> Self {
        Self {
            backend,
            external_sim: true,
            api_keys: vec![API_KEY.to_owned()],
            dir: None,
            database: None,
            app_secret: None,
            shared_sim: None,
            configure: None,
            store: Store::Embedded,
            provider: ProviderKind::Netease,
        }
    }

    /// Talk to this provider (an external simulator of it, unless sandbox mode is asked for).
    pub fn provider(mut self, provider: ProviderKind) -> Self {
        self.provider = provider;
        self
    }

    /// Use this message store; MongoDB gets a fresh database `imbridge_t_<uuid>`, dropped with the app.
    pub fn store(mut self, store: Store) -> Self {
        self.store = store;
        self
    }

    pub fn configure(mut self, f: impl FnOnce(&mut Config) + Send + 'static) -> Self {
        self.configure = Some(Box::new(f));
        self
    }

    /// A second instance of `other`: same database, same data dir, same simulator.
    pub fn instance_of(other: &TestApp) -> Self {
        let mut spawn = Self::new(Backend::Sqlite);
        spawn.dir = Some(other.dir.clone());
        spawn.database = Some(other.database.clone());
        let root = other.sim_root.clone().expect("a simulator");
        spawn.shared_sim = Some((root, other.sim_secret.clone()));
        spawn.external_sim = false;
        spawn
    }

    pub async fn start(self) -> TestApp {
        init_tracing();
        let dir = match self.dir {
            Some(dir) => dir,
            None => Arc::new(tempfile::tempdir().expect("temp dir")),
        };
        let database = match self.database {
            Some(db) => db,
            None => Arc::new(TestDatabase::create(self.backend, dir.path()).await),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the app");
        let port = listener.local_addr().unwrap().port();
        let sim_secret = match &self.shared_sim {
            Some((_, secret)) => secret.clone(),
            None => format!("sim-secret-{}", uuid::Uuid::new_v4().simple()),
        };

        let mut config = Config::defaults();
        config.data_dir = dir.path().join("data");
        config.database_url = SecretString::from(database.url.clone());
        config.api_keys = self.api_keys.iter().map(|k| SecretString::from(k.clone())).collect();
        let mongo = (self.store == Store::Mongo).then(MongoTestDatabase::new);
        if let Some(mongo) = &mongo {
            config.mongodb_uri = Some(SecretString::from(mongo.uri.clone()));
        }

        let mut tencent = None;
        if self.provider == ProviderKind::Tencent {
            config.provider = ProviderKind::Tencent;
            config.callbacks.path = "/callbacks/tencent".into();
            config.tencent.sdkappid = SDKAPPID;
            config.tencent.secret_key = SecretString::from(sim_secret.clone());
            config.tencent.callback_token = SecretString::from(CALLBACK_TOKEN.to_owned());
        }
        let sim = if self.external_sim && self.provider == ProviderKind::Tencent {
            let sim_config = tencent_sim::SimConfig {
                sdkappid: SDKAPPID,
                secret_key: sim_secret.clone(),
                callback_url: Some(format!("http://127.0.0.1:{port}{}", config.callbacks.path)),
                callback_token: Some(CALLBACK_TOKEN.to_owned()),
                ..tencent_sim::SimConfig::default()
            };
            let sim_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the simulator");
            let sim = tencent_sim::Simulator::start(sim_config, sim_listener).await.expect("start the simulator");
            config.tencent.base_url = Some(sim.base_url());
            tencent = Some(sim);
            None
        } else if self.external_sim {
            let sim_config = SimConfig {
                app_key: APP_KEY.to_owned(),
                app_secret: sim_secret.clone(),
                callback_url: Some(format!("http://127.0.0.1:{port}{}", config.callbacks.path)),
                ..SimConfig::default()
            };
            let sim_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the simulator");
            let sim = Simulator::start(sim_config, sim_listener).await.expect("start the simulator");
            config.netease.base_url = Some(sim.base_url());
            config.netease.app_key = APP_KEY.to_owned();
            config.netease.app_secret = SecretString::from(sim_secret.clone());
            Some(sim)
        } else {
            None
        };
        if let Some((root, secret)) = &self.shared_sim {
            config.netease.base_url = Some(format!("{root}/nimserver"));
            config.netease.app_key = APP_KEY.to_owned();
            config.netease.app_secret = SecretString::from(secret.clone());
        }
        if let Some(secret) = self.app_secret {
            config.netease.app_secret = SecretString::from(secret);
        }

        if let Some(configure) = self.configure {
            configure(&mut config);
        }
        let app = Application::build(config, Some(listener)).await.expect("build the application");
        let sim_root = match (&sim, app.sandbox_root_url(), &self.shared_sim) {
            _ if tencent.is_some() => tencent.as_ref().map(tencent_sim::SimHandle::root_url),
            (Some(sim), _, _) => Some(sim.root_url()),
            (None, Some(root), _) => Some(root),
            (None, None, Some((root, _))) => Some(root.clone()),
            (None, None, None) => None,
        };
        let shutdown = app.shutdown_token();
        let server = tokio::spawn(app.run_until_stopped());
        TestApp {
            address: format!("http://127.0.0.1:{port}"),
            api_key: self.api_keys.first().cloned(),
            client: reqwest::Client::new(),
            sim_root,
            sim_secret,
            sim,
            tencent,
            provider: self.provider,
            shutdown,
            server: Some(server),
            dir,
            database,
            _mongo: mongo,
        }
    }
}

pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub address: String,
    pub api_key: Option<String>,
    pub client: reqwest::Client,
    /// The simulator's root URL, for `/__sim` (external or sandbox).
    pub sim_root: Option<String>,
    pub sim_secret: String,
    pub sim: Option<SimHandle>,
    /// The external Tencent simulator, when the app talks to Tencent.
    pub tencent: Option<tencent_sim::SimHandle>,
    pub provider: ProviderKind,
    shutdown: CancellationToken,
    server: Option<JoinHandle<std::io::Result<()>>>,
    pub dir: Arc<TempDir>,
    pub database: Arc<TestDatabase>,
    _mongo: Option<MongoTestDatabase>,
}

/// A MongoDB database of one test's own, dropped when this is dropped.
pub struct MongoTestDatabase {
    pub uri: String,
    pub name: String,
}

impl MongoTestDatabase {
    pub fn new() -> Self {
        let base = std::env::var("IMBRIDGE_TEST_MONGODB_URI").unwrap_or_else(|_| {
            panic!(
                "IMBRIDGE_TEST_MONGODB_URI is not set: the MongoDB tests need a server, e.g. \
                 IMBRIDGE_TEST_MONGODB_URI='mongodb://127.0.0.1:27017/?directConnection=true'"
            )
        });
        let name = format!("imbridge_t_{}", uuid::Uuid::new_v4().simple());
        let mut url = reqwest::Url::parse(&base).expect("IMBRIDGE_TEST_MONGODB_URI is a URI");
        url.set_path(&format!("/{name}"));
        Self { uri: url.to_string(), name }
    }
}

impl Drop for MongoTestDatabase {
    fn drop(&mut self) {
        let (uri, name) = (self.uri.clone(), self.name.clone());
        // Best effort, like the MariaDB databases: a thread with its own runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                if let Ok(client) = mongodb::Client::with_uri_str(&uri).await {
                    let _ = client.database(&name).drop().await;
                }
            });
        })
        .join();
    }
}

/// The app on SQLite with an external simulator.
pub async fn spawn_app() -> TestApp {
    Spawn::new(Backend::Sqlite).start().await
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Spawn::new(backend).start().await
    }

    /// A second handle on the app's message store (the same SQLite file or MongoDB database), to
    /// check what callbacks stored beyond what the HTTP API shows.
    pub async fn message_store(&self) -> Arc<dyn imbridge::messages::MessageStore> {
        use imbridge::messages::{EmbeddedMessageStore, MongoMessageStore};
        let retention = std::time::Duration::from_secs(3600);
        match &self._mongo {
            Some(mongo) => Arc::new(MongoMessageStore::connect(&mongo.uri, &mongo.name, retention).await.unwrap()),
            None => {
                let url = format!("sqlite://{}", self.dir.path().join("data").join("messages.db").display());
                Arc::new(EmbeddedMessageStore::open(&url, retention).await.unwrap())
            }
        }
    }

    /// Graceful stop; waits for the server (and a sandbox simulator) to finish.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server ran");
        }
        self.stop_simulator().await;
    }

    /// Stop only the external simulator: the provider becomes unreachable.
    pub async fn stop_simulator(&mut self) {
        if let Some(sim) = self.sim.take() {
            sim.shutdown().await;
        }
        if let Some(sim) = self.tencent.take() {
            sim.shutdown().await;
        }
    }

    fn authorized(&self, builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.api_key {
            Some(key) => builder.bearer_auth(key),
            None => builder,
        }
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.authorized(self.client.post(format!("{}{path}", self.address)).json(body)).send().await.expect("request")
    }

    pub async fn put(&self, path: &str, body: &Value) -> Response {
        self.authorized(self.client.put(format!("{}{path}", self.address)).json(body)).send().await.expect("request")
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Response {
        self.authorized(self.client.patch(format!("{}{path}", self.address)).json(body)).send().await.expect("request")
    }

    pub async fn post_empty(&self, path: &str) -> Response {
        self.authorized(self.client.post(format!("{}{path}", self.address))).send().await.expect("request")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.authorized(self.client.get(format!("{}{path}", self.address))).send().await.expect("request")
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.authorized(self.client.delete(format!("{}{path}", self.address))).send().await.expect("request")
    }

    /// GET the notification until it is settled (neither queued nor sending); at most 30 s.
    pub async fn settled_notification(&self, id: &str) -> Value {
        let path = format!("/v1/notifications/{id}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let body = expect_json(self.get(&path).await, StatusCode::OK).await;
            if body["status"] != "queued" && body["status"] != "sending" {
                return body;
            }
            assert!(std::time::Instant::now() < deadline, "notification {id} did not settle: {body}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// `POST /v1/accounts`, expecting 200.
    pub async fn create_account(&self, account: &str, name: Option<&str>) -> Value {
        let mut body = json!({ "account": account });
        if let Some(name) = name {
            body["name"] = json!(name);
        }
        let response = self.post("/v1/accounts", &body).await;
        expect_json(response, StatusCode::OK).await
    }

    fn sim_url(&self, path: &str) -> String {
        format!("{}{path}", self.sim_root.as_deref().expect("a simulator"))
    }

    /// The simulator's record of an account (`None` if it has none).
    pub async fn sim_account(&self, accid: &str) -> Option<Value> {
        let response = self.client.get(self.sim_url(&format!("/__sim/accounts/{accid}"))).send().await.unwrap();
        match response.status() {
            StatusCode::NOT_FOUND => None,
            _ => Some(expect_json(response, StatusCode::OK).await),
        }
    }

    /// Whether `token` logs `accid` in at the simulator (as a chat client would).
    pub async fn sim_login(&self, accid: &str, token: &str) -> bool {
        let response = self
            .client
            .post(self.sim_url("/__sim/login"))
            .json(&json!({"accid": accid, "token": token}))
            .send()
            .await
            .unwrap();
        expect_json(response, StatusCode::OK).await["ok"].as_bool().expect("ok is a bool")
    }

    /// The provider's own name of an operation, for the simulator's call counts and faults.
    pub fn sim_op(&self, op: SimOp) -> &'static str {
        match (self.provider, op) {
            (ProviderKind::Netease, SimOp::CreateAccount) => "user/create",
            (ProviderKind::Netease, SimOp::AddFriend) => "friend/add",
            (ProviderKind::Tencent, SimOp::CreateAccount) => "im_open_login_svc/account_import",
            (ProviderKind::Tencent, SimOp::AddFriend) => "sns/friend_add",
        }
    }

    /// Calls of `op` the simulator received, any outcome.
    pub async fn sim_op_calls(&self, op: SimOp) -> u64 {
        match self.provider {
            ProviderKind::Netease => self.sim_calls(self.sim_op(op)).await,
            ProviderKind::Tencent => {
                let response = self.client.get(self.sim_url("/__sim/calls")).send().await.unwrap();
                let calls = expect_json(response, StatusCode::OK).await;
                calls[self.sim_op(op)].as_object().map_or(0, |o| o.values().filter_map(Value::as_u64).sum())
            }
        }
    }

    /// The next call of `op` fails with the provider's `code`, without effect.
    pub async fn sim_fail_next(&self, op: SimOp, code: i64) {
        let which = if self.provider == ProviderKind::Tencent { "commands" } else { "actions" };
        self.sim_faults(json!({"fail_next": 1, "fail_code": code, which: [self.sim_op(op)]})).await;
    }

    /// The display name the provider holds for `accid` (NetEase `name`, Tencent's nick).
    pub async fn sim_account_name(&self, accid: &str) -> Option<String> {
        let account = self.sim_account(accid).await?;
        let name = if self.provider == ProviderKind::Tencent { &account["nick"] } else { &account["name"] };
        name.as_str().map(str::to_owned)
    }

    /// NetEase calls of one API the simulator received (e.g. `user/create`), any outcome.
    pub async fn sim_calls(&self, api: &str) -> u64 {
        let response = self.client.get(self.sim_url("/__sim/calls")).send().await.unwrap();
        let calls = expect_json(response, StatusCode::OK).await;
        calls["actions"][api]["total"].as_u64().unwrap_or(0)
    }

    /// All calls the simulator received.
    pub async fn sim_total_calls(&self) -> u64 {
        let response = self.client.get(self.sim_url("/__sim/calls")).send().await.unwrap();
        let calls = expect_json(response, StatusCode::OK).await;
        match self.provider {
            ProviderKind::Netease => calls["total"].as_u64().unwrap_or(0),
            ProviderKind::Tencent => calls.as_object().map_or(0, |c| {
                c.values().filter_map(Value::as_object).flat_map(|o| o.values()).filter_map(Value::as_u64).sum()
            }),
        }
    }

    /// Inject faults (`{"fail_next": 1, "fail_code": 403, "actions": [...]}`).
    pub async fn sim_faults(&self, faults: Value) {
        let response = self.client.post(self.sim_url("/__sim/faults")).json(&faults).send().await.unwrap();
        expect_json(response, StatusCode::OK).await;
    }

    /// accids in `accid`'s friend list at the simulator.
    pub async fn sim_friends(&self, accid: &str) -> Vec<String> {
        let response = self.client.get(self.sim_url(&format!("/__sim/friendships/{accid}"))).send().await.unwrap();
        let body = expect_json(response, StatusCode::OK).await;
        body["friends"]
            .as_array()
            .map(|friends| {
                friends
                    .iter()
                    .filter_map(|f| f["faccid"].as_str().or(f["user_id"].as_str()).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    async fn sim_post(&self, path: &str, body: &Value) -> Value {
        let response = self.client.post(self.sim_url(path)).json(body).send().await.unwrap();
        expect_json(response, StatusCode::OK).await
    }

    /// Wait until the simulator has delivered every callback it queued.
    pub async fn flush_callbacks(&self) {
        let response = self.client.post(self.sim_url("/__sim/callbacks/flush?timeout_ms=10000")).send().await.unwrap();
        assert!(response.status().is_success(), "callbacks did not flush: {}", response.status());
    }

    /// `from`'s chat app sends `to` a text message; the provider calls back. Answers the message key.
    pub async fn chat_message(&self, from: &str, to: &str, text: &str) -> String {
        let key = match self.provider {
            ProviderKind::Netease => {
                let sent =
                    self.sim_post("/__sim/clients/message", &json!({"from": from, "to": to, "body": text})).await;
                sent["msgidServer"].as_str().expect("msgidServer").to_owned()
            }
            ProviderKind::Tencent => {
                let sent =
                    self.sim_post("/__sim/clients/message", &json!({"from": from, "to": to, "text": text})).await;
                sent["msg_key"].as_str().expect("msg_key").to_owned()
            }
        };
        self.flush_callbacks().await;
        key
    }

    /// `reader`'s chat app reads everything `peer` sent; the provider calls back.
    pub async fn chat_read(&self, reader: &str, peer: &str) {
        self.sim_post("/__sim/clients/read", &json!({"reader": reader, "peer": peer})).await;
        self.flush_callbacks().await;
    }

    /// `from`'s chat app recalls its message `key` to `to`; the provider calls back.
    pub async fn chat_recall(&self, from: &str, to: &str, key: &str) {
        let body = match self.provider {
            ProviderKind::Netease => {
                json!({"from": from, "to": to, "msgid": key.parse::<u64>().expect("a NetEase key")})
            }
            ProviderKind::Tencent => json!({"from": from, "to": to, "msg_key": key}),
        };
        self.sim_post("/__sim/clients/recall", &body).await;
        self.flush_callbacks().await;
    }

    /// `accid`'s chat app logs in (`true`) or out; the provider calls back.
    pub async fn chat_presence(&self, accid: &str, online: bool) {
        let path = if online { "/__sim/clients/login" } else { "/__sim/clients/logout" };
        self.sim_post(path, &json!({"accid": accid})).await;
        self.flush_callbacks().await;
    }

    /// The notifications the simulator delivered, as `(recipient, message-body text)` pairs.
    pub async fn sim_notifications(&self) -> Vec<(String, String)> {
        let response = self.client.get(self.sim_url("/__sim/notifications")).send().await.unwrap();
        let records = expect_json(response, StatusCode::OK).await;
        let records = records.as_array().cloned().unwrap_or_default();
        records
            .iter()
            .map(|r| {
                let attach = match self.provider {
                    ProviderKind::Netease => r["attach"].as_str().unwrap_or_default().to_owned(),
                    ProviderKind::Tencent => r["body"][0]["MsgContent"]["Data"].as_str().unwrap_or_default().to_owned(),
                };
                (r["to"].as_str().unwrap_or_default().to_owned(), attach)
            })
            .collect()
    }

    /// A NetEase client of the same app, as another system would use it.
    pub fn netease_client(&self) -> imbridge_netease::NeteaseClient {
        let base = format!("{}/nimserver", self.sim_root.as_deref().expect("a simulator"));
        imbridge_netease::NeteaseClient::new(imbridge_netease::NeteaseConfig::new(
            base,
            APP_KEY,
            self.sim_secret.clone(),
        ))
        .expect("netease client")
    }
}

/// Assert the status and return the JSON body.
pub async fn expect_json(response: Response, status: StatusCode) -> Value {
    let actual = response.status();
    let text = response.text().await.unwrap_or_default();
    assert_eq!(actual, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Assert an error response: status, `code`, and (when given) the `field` it names.
pub async fn expect_error(response: Response, status: StatusCode, code: &str, field: Option<&str>) -> Value {
    let body = expect_json(response, status).await;
    assert_eq!(body["code"], code, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    if let Some(field) = field {
        assert_eq!(body["field"], field, "{body}");
    }
    body
}

/// A loopback port nothing listens on.
pub async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

//! A real NetEase simulator on port 0, the real NetEase provider, and a real database (a SQLite
//! file in a temporary directory, or a fresh MariaDB database) for each test.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use imbridge::db::Sql;
use imbridge::notifications::{NotificationRequest, NotificationView, Outbox, OutboxConfig};
use imbridge_netease::sim::{NotificationRecord, SimConfig, SimHandle, Simulator};
use imbridge_netease::{NeteaseConfig, NeteaseProvider, RateLimits};
use imbridge_provider::{Credential, ImProvider, Profile};
use serde_json::Value;
use sqlx::MySqlPool;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    MySql,
}

pub struct TestEnv {
    pub sim: SimHandle,
    pub provider: Arc<NeteaseProvider>,
    pub sql: Sql,
    url: String,
    database: Database,
}

enum Database {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    MySql { admin_url: String, name: String },
}

/// An outbox configuration that retries and reclaims fast, so tests take seconds.
pub fn fast_config() -> OutboxConfig {
    OutboxConfig {
        poll_interval_ms: 50,
        lease_ms: 3_000,
        concurrency: 4,
        backoff_base_ms: 50,
        backoff_cap_ms: 400,
        shutdown_grace_ms: 3_000,
        ..OutboxConfig::default()
    }
}

/// A simulator without rate limits (set them per test when they matter).
pub fn unlimited_sim() -> SimConfig {
    SimConfig { per_second_limit: 0, batch_per_minute_limit: 0, ..SimConfig::default() }
}

/// Client quotas high enough never to wait in tests.
pub fn generous_limits() -> RateLimits {
    RateLimits { per_second: 100_000, batch_per_minute: 100_000 }
}

impl TestEnv {
    pub async fn new(backend: Backend) -> Self {
        Self::with(backend, unlimited_sim(), |cfg| cfg.limits = generous_limits()).await
    }

    /// A simulator with `sim`, and a provider whose NetEase config `tune` adjusts.
    pub async fn with(backend: Backend, sim: SimConfig, tune: impl FnOnce(&mut NeteaseConfig)) -> Self {
        let (app_key, app_secret) = (sim.app_key.clone(), sim.app_secret.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the simulator");
        let sim = Simulator::start(sim, listener).await.expect("start the simulator");
        let mut netease = NeteaseConfig::new(sim.base_url(), app_key, app_secret);
        tune(&mut netease);
        let provider = Arc::new(NeteaseProvider::new(netease).expect("provider"));
        let (url, database) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("outbox.db").display());
                (url, Database::Sqlite(dir))
            }
            Backend::MySql => {
                let admin_url = std::env::var("IMBRIDGE_TEST_MYSQL_URL").expect(
                    "IMBRIDGE_TEST_MYSQL_URL must name a MariaDB/MySQL server for this test, \
                     e.g. mysql://root@127.0.0.1:3306/test",
                );
                let name = format!("imbridge_outbox_{}", uuid::Uuid::new_v4().simple());
                let admin = MySqlPool::connect(&admin_url).await.expect("connect to IMBRIDGE_TEST_MYSQL_URL");
                sqlx::query(&format!("CREATE DATABASE `{name}`")).execute(&admin).await.expect("create database");
                admin.close().await;
                let mut url = reqwest::Url::parse(&admin_url).expect("IMBRIDGE_TEST_MYSQL_URL is a URL");
                url.set_path(&format!("/{name}"));
                (url.to_string(), Database::MySql { admin_url, name })
            }
        };
        let sql = Sql::connect(&url).await.expect("connect and migrate");
        Self { sim, provider, sql, url, database }
    }

    /// An outbox on this environment's database and provider.
    pub fn outbox(&self, config: OutboxConfig) -> Outbox {
        Outbox::new(self.sql.clone(), self.provider.clone(), config)
    }

    /// A second, independent connection pool to the same database (another "instance").
    pub async fn connect_again(&self) -> Sql {
        Sql::connect(&self.url).await.expect("connect again")
    }

    /// Register accounts at the simulator, so that notifications to them land.
    pub async fn register(&self, accids: &[String]) {
        let results: Vec<_> = futures::stream::iter(accids.iter().cloned())
            .map(|accid| {
                let provider = self.provider.clone();
                async move {
                    let credential = Credential { token: format!("tok-{accid}"), expires_at: None };
                    let id = uuid::Uuid::new_v4().to_string();
                    provider.ensure_account(&accid, &Profile::default(), &credential, &id).await
                }
            })
            .buffer_unordered(32)
            .collect()
            .await;
        for r in results {
            r.expect("register an account at the simulator");
        }
    }

    /// Every recipient-level record the simulator holds.
    pub fn landed(&self) -> Vec<NotificationRecord> {
        self.sim.state().notifications()
    }

    /// Close the pool. (The database itself goes when the environment is dropped.)
    pub async fn cleanup(self) {
        self.sql.close().await;
    }
}

impl Drop for TestEnv {
    /// Drop a MariaDB test database even when the test failed (SQLite files go with their
    /// temporary directory). Runs on its own thread: `Drop` cannot await.
    fn drop(&mut self) {
        let Database::MySql { admin_url, name } = &self.database else { return };
        let (admin_url, name) = (admin_url.clone(), name.clone());
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(async {
                let admin = MySqlPool::connect(&admin_url).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS `{name}`")).execute(&admin).await?;
                admin.close().await;
                Ok::<_, sqlx::Error>(())
            })
            .map_err(std::io::Error::other)
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database: {dropped:?}");
        }
    }
}

/// `n` distinct accids with a prefix unique to the test.
pub fn accids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}_{i}")).collect()
}

/// A request as the API would receive it.
pub fn request(body: Value) -> NotificationRequest {
    serde_json::from_value(body).expect("a well-formed request body")
}

/// Poll `check` every 50 ms until it returns `Some`, at most `limit`; panics naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let rounds = (limit.as_millis() / 50).max(1);
    for _ in 0..rounds {
        if let Some(v) = check().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out after {limit:?} waiting for {what}");
}

/// Wait until the notification is settled (neither queued nor sending) and return its view.
pub async fn settled(outbox: &Outbox, id: &str, limit: Duration) -> NotificationView {
    eventually(&format!("notification {id} to settle"), limit, || async {
        let view = outbox.get(id).await.expect("read the notification").expect("the notification exists");
        let status = serde_json::to_value(view.status).unwrap();
        (status != "queued" && status != "sending").then_some(view)
    })
    .await
}

/// The JSON of a view, for field-by-field assertions.
pub fn json(view: &NotificationView) -> Value {
    serde_json::to_value(view).unwrap()
}

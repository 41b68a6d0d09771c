//! The real `imbridge serve` binary as a child process, for what only a separate process can show:
//! a SIGKILL (no graceful shutdown, no destructors, nothing flushed on the way out) and the
//! service's own memory. It is configured only through `IMBRIDGE_*` variables, as an operator
//! would; the NetEase simulator runs in the test process. [`Service::kill`] and
//! [`Service::restart`] keep the port, data dir and databases, so the restarted process is the same
//! deployment coming back.

use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use imbridge::messages::{EmbeddedMessageStore, MessageStore, MongoMessageStore};
use imbridge_netease::sign::{now_millis, CallbackHeaders};
use imbridge_netease::sim::{SimConfig, SimHandle, Simulator};
use imbridge_netease::{CreateUser, NeteaseClient, NeteaseConfig, RateLimits};
use imbridge_provider::Profile;
use reqwest::{RequestBuilder, StatusCode};
use serde_json::Value;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::process::{Child, Command};

use crate::helpers::{expect_json, Backend, MongoTestDatabase, TestDatabase, API_KEY, APP_KEY};

/// Where the service keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Databases {
    /// SQLite for accounts and the outbox, the embedded store for callback data: files in the
    /// test's temp dir, no server needed.
    Local,
    /// MariaDB (IMBRIDGE_TEST_MYSQL_URL) and MongoDB (IMBRIDGE_TEST_MONGODB_URI), a fresh database
    /// of each, dropped at the end.
    External,
}

/// Runs each named `async fn name(databases: Databases)` on [`Databases::Local`] and, ignored
/// unless the servers are there, on [`Databases::External`].
macro_rules! on_local_and_external_databases {
    ($($name:ident),* $(,)?) => {
        mod local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::process::Databases::Local).await
                }
            )*
        }
        mod mariadb_mongodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = "needs MariaDB and MongoDB"]
                async fn $name() {
                    super::$name($crate::process::Databases::External).await
                }
            )*
        }
    };
}

/// How long a (re)started process may take to answer `/readyz` with 200 on a loaded machine.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// One deployment of the service: the child process, its port, data dir, databases and NetEase
/// simulator.
pub struct Service {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`
    pub address: String,
    /// A client for this process; replaced on restart so no pooled connection outlives the process.
    pub client: reqwest::Client,
    pub sim: SimHandle,
    pub sim_secret: String,
    env: Vec<(String, String)>,
    child: Option<Child>,
    /// Incremented on every start; names the log file.
    starts: u32,
    mongo: Option<MongoTestDatabase>,
    _sql: TestDatabase,
    dir: TempDir,
}

impl Service {
    /// Start the simulator and the service (with `extra_env` on top of the base settings), and wait
    /// until it is ready.
    pub async fn start(databases: Databases, extra_env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = dir.path().join("data");
        let backend = match databases {
            Databases::Local => Backend::Sqlite,
            Databases::External => Backend::MySql,
        };
        let sql = TestDatabase::create(backend, dir.path()).await;
        let mongo = (databases == Databases::External).then(MongoTestDatabase::new);

        let sim_secret = format!("sim-secret-{}", uuid::Uuid::new_v4().simple());
        let sim_config = SimConfig {
            app_key: APP_KEY.to_owned(),
            app_secret: sim_secret.clone(),
            // No per-second quota, so a test can register many accounts quickly.
            per_second_limit: 0,
            ..SimConfig::default()
        };
        let sim_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the simulator");
        let sim = Simulator::start(sim_config, sim_listener).await.expect("start the simulator");

        // A free port, kept for every restart.
        let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let mut env: Vec<(String, String)> = vec![
            ("IMBRIDGE_LISTEN".into(), addr.to_string()),
            ("IMBRIDGE_API_KEYS".into(), API_KEY.into()),
            ("IMBRIDGE_DATA_DIR".into(), data_dir.display().to_string()),
            ("IMBRIDGE_DATABASE_URL".into(), sql.url.clone()),
            ("IMBRIDGE_NETEASE_BASE_URL".into(), sim.base_url()),
            ("IMBRIDGE_NETEASE_APP_KEY".into(), APP_KEY.into()),
            ("IMBRIDGE_NETEASE_APP_SECRET".into(), sim_secret.clone()),
            ("IMBRIDGE_HTTP_SHUTDOWN_TIMEOUT_SECS".into(), "5".into()),
        ];
        if let Some(mongo) = &mongo {
            env.push(("IMBRIDGE_MONGODB_URI".into(), mongo.uri.clone()));
        }
        env.extend(extra_env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));

        let mut service = Self {
            addr,
            address: format!("http://{addr}"),
            client: reqwest::Client::new(),
            sim,
            sim_secret,
            env,
            child: None,
            starts: 0,
            mongo,
            _sql: sql,
            dir,
        };
        service.spawn_and_wait().await;
        service
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().and_then(Child::id).expect("the service is running")
    }

    /// SIGKILL, as the kernel's OOM killer or a power cut would end it, and wait until it is gone.
    pub async fn kill(&mut self) {
        let mut child = self.child.take().expect("the service is running");
        child.start_kill().expect("send SIGKILL");
        let status = child.wait().await.expect("wait for the killed service");
        assert_eq!(status.signal(), Some(libc::SIGKILL), "the service died of the SIGKILL: {status}");
    }

    /// Start the process again on the same port, data dir and databases; wait until it is ready.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "restart after kill or stop");
        self.client = reqwest::Client::new();
        self.spawn_and_wait().await;
    }

    /// SIGTERM and wait for a clean exit.
    pub async fn stop(mut self) {
        let Some(mut child) = self.child.take() else { return };
        let pid = child.id().expect("running").to_string();
        Command::new("kill").args(["-TERM", &pid]).status().await.expect("run kill");
        let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
        let status = status.unwrap_or_else(|_| panic!("no exit within 30 s of SIGTERM:\n{}", self.log_tail()));
        assert!(status.expect("wait").success(), "clean exit on SIGTERM:\n{}", self.log_tail());
    }

    /// The child's resident set now and its peak so far (`VmRSS`, `VmHWM`), in KiB.
    pub fn memory_kib(&self) -> (u64, u64) {
        memory_kib(self.pid()).expect("read /proc/PID/status")
    }

    /// A handle on the service's message store (the embedded file or the MongoDB database), to
    /// check what callbacks stored beyond what the HTTP API shows.
    pub async fn message_store(&self) -> Arc<dyn MessageStore> {
        let retention = Duration::from_secs(3600);
        match &self.mongo {
            Some(mongo) => Arc::new(MongoMessageStore::connect(&mongo.uri, &mongo.name, retention).await.unwrap()),
            None => {
                let url = format!("sqlite://{}", self.dir.path().join("data").join("messages.db").display());
                Arc::new(EmbeddedMessageStore::open(&url, retention).await.unwrap())
            }
        }
    }

    /// A NetEase client of the simulator's app without client-side quotas, to set up accounts.
    pub fn netease_client(&self) -> NeteaseClient {
        let mut config = NeteaseConfig::new(self.sim.base_url(), APP_KEY, self.sim_secret.clone());
        config.limits = RateLimits { per_second: 1_000_000, batch_per_minute: 1_000_000 };
        NeteaseClient::new(config).expect("netease client")
    }

    /// Register `accids` at the simulator directly (not through the service), 32 at a time.
    pub async fn register_at_provider(&self, accids: &[String]) {
        use futures::StreamExt;
        let netease = self.netease_client();
        futures::stream::iter(accids)
            .map(|accid| {
                let netease = &netease;
                async move {
                    let user = CreateUser { accid: accid.clone(), token: None, profile: Profile::default() };
                    netease.create_user(&user, None).await.unwrap_or_else(|e| panic!("create {accid}: {e}"));
                }
            })
            .buffer_unordered(32)
            .collect::<Vec<()>>()
            .await;
    }

    /// A `/v1` request with the API key.
    pub fn v1(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.address)).bearer_auth(API_KEY)
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.v1(reqwest::Method::GET, path).send().await.expect("request");
        expect_json(response, StatusCode::OK).await
    }

    /// The last lines the service logged (all its starts), for failure messages.
    pub fn log_tail(&self) -> String {
        let mut text = String::new();
        for start in 1..=self.starts {
            text.push_str(&format!("--- start {start} ---\n"));
            text.push_str(&std::fs::read_to_string(self.log_path(start)).unwrap_or_default());
        }
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    fn log_path(&self, start: u32) -> PathBuf {
        self.dir.path().join(format!("imbridge-{start}.log"))
    }

    async fn spawn_and_wait(&mut self) {
        self.starts += 1;
        let log = std::fs::File::create(self.log_path(self.starts)).expect("create the log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_imbridge"));
        command.arg("serve");
        // Only our settings: a developer's IMBRIDGE_* or RUST_LOG must not change the test.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("IMBRIDGE_") || name == "RUST_LOG" {
                command.env_remove(name.as_ref());
            }
        }
        command
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .kill_on_drop(true);
        self.child = Some(command.spawn().expect("start imbridge serve"));
        self.wait_ready().await;
    }

    /// Poll `GET /readyz` until it answers 200; fail early if the process exits.
    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_WITHIN;
        let url = format!("{}/readyz", self.address);
        let probe = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
        loop {
            let exited = self.child.as_mut().expect("spawned").try_wait().expect("poll the child");
            if let Some(status) = exited {
                panic!("imbridge exited with {status} before it was ready:\n{}", self.log_tail());
            }
            if let Ok(response) = probe.get(&url).send().await {
                if response.status() == StatusCode::OK {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "not ready within {READY_WITHIN:?}:\n{}", self.log_tail());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// `VmRSS` and `VmHWM` of a process, in KiB.
pub fn memory_kib(pid: u32) -> std::io::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("no {name} in {status}")))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// Raise this process's soft limit on open files to at least `wanted` (up to the hard limit);
/// children started afterwards inherit it. Returns the soft limit now in force.
pub fn raise_open_files_limit(wanted: u64) -> u64 {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit only writes the struct it is given, which lives on this stack frame.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) }, 0, "getrlimit");
    if limit.rlim_cur < wanted {
        limit.rlim_cur = wanted.min(limit.rlim_max);
        // SAFETY: setrlimit only reads the struct it is given.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0, "setrlimit");
    }
    limit.rlim_cur
}

/// The headers NetEase sends with a callback `body`, signed now with `secret`.
pub fn callback_headers(secret: &str, body: &[u8]) -> [(&'static str, String); 4] {
    let signed = CallbackHeaders::sign(secret, body, now_millis());
    [("MD5", signed.md5), ("CurTime", signed.cur_time), ("CheckSum", signed.checksum), ("AppKey", APP_KEY.into())]
}

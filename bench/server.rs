//! The service under test, as its own process: the release `imbridge` binary, configured only
//! through `IMBRIDGE_*` variables the way an operator would. A separate process keeps the load
//! generator out of the service's runtime, and its memory (P4) and start-up (P5) are its own.

use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use imbridge_netease::sim::{SimConfig, SimHandle, Simulator};
use tokio::process::{Child, Command};

use crate::corpus::{APP_KEY, APP_SECRET};
use crate::http1::Connection;

/// A directory of its own for one run, removed when dropped.
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    pub fn new(label: &str) -> anyhow::Result<Self> {
        let path = std::env::temp_dir().join(format!("imbridge-bench-{label}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path).with_context(|| format!("create {}", path.display()))?;
        Ok(ScratchDir(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The release `imbridge` binary next to this one, unless `--server-bin` names another.
pub fn server_binary(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    let path = match explicit {
        Some(p) => p.to_owned(),
        None => std::env::current_exe()?.with_file_name("imbridge"),
    };
    if !path.is_file() {
        bail!(
            "no service binary at {}; build it first: cargo build --release --bin imbridge --bin imbridge-bench",
            path.display()
        );
    }
    Ok(path)
}

/// How to start the service.
pub struct ServerSpec<'a> {
    pub binary: &'a Path,
    /// Holds `data/` (SQLite files) and the log.
    pub dir: &'a Path,
    /// The NetEase base URL (a simulator the bench runs).
    pub netease_base_url: &'a str,
    /// Extra `IMBRIDGE_*` settings (store, ingestion mode, ...).
    pub env: Vec<(String, String)>,
}

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    spawned_at: Instant,
    log: PathBuf,
}

/// Which answer counted as "ready".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadyProbe {
    /// `GET /readyz` answered 200.
    Readyz,
    /// The service has no `/readyz` (404): its first HTTP answer.
    FirstAnswer,
}

impl Server {
    /// Start the service on a free loopback port; returns at once (see [`Server::wait_ready`]).
    pub fn spawn(spec: &ServerSpec<'_>) -> anyhow::Result<Server> {
        let port = StdListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let data_dir = spec.dir.join("data");
        let log = spec.dir.join(format!("imbridge-{port}.log"));
        let log_file = std::fs::File::create(&log)?;
        let mut command = Command::new(spec.binary);
        command.arg("serve");
        // Only what we set: an operator's IMBRIDGE_* or RUST_LOG must not change the figure.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("IMBRIDGE_") || name == "RUST_LOG" {
                command.env_remove(name.as_ref());
            }
        }
        command
            .env("IMBRIDGE_LISTEN", addr.to_string())
            .env("IMBRIDGE_DATA_DIR", &data_dir)
            .env("IMBRIDGE_DATABASE_URL", format!("sqlite://{}", data_dir.join("imbridge.db").display()))
            .env("IMBRIDGE_NETEASE_BASE_URL", spec.netease_base_url)
            .env("IMBRIDGE_NETEASE_APP_KEY", APP_KEY)
            .env("IMBRIDGE_NETEASE_APP_SECRET", APP_SECRET)
            .env("IMBRIDGE_HTTP_SHUTDOWN_TIMEOUT_SECS", "5");
        for (name, value) in &spec.env {
            command.env(name, value);
        }
        command.stdin(Stdio::null()).stdout(log_file.try_clone()?).stderr(log_file).kill_on_drop(true);
        let spawned_at = Instant::now();
        let child = command.spawn().with_context(|| format!("start {}", spec.binary.display()))?;
        Ok(Server { child, addr, spawned_at, log })
    }

    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Poll (every millisecond) until the service answers `GET /readyz` with 200, or with any HTTP
    /// answer when it has no such route; returns the time since the process was spawned.
    pub async fn wait_ready(&mut self, limit: Duration) -> anyhow::Result<(Duration, ReadyProbe)> {
        let deadline = self.spawned_at + limit;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("the service exited with {status} before it was ready:\n{}", self.log_tail());
            }
            if let Ok(mut conn) = Connection::open(self.addr).await {
                if let Ok(response) = conn.send("GET", "/readyz", &[], b"").await {
                    match response.status {
                        200 => return Ok((self.spawned_at.elapsed(), ReadyProbe::Readyz)),
                        404 => return Ok((self.spawned_at.elapsed(), ReadyProbe::FirstAnswer)),
                        _ => {}
                    }
                }
            }
            if Instant::now() > deadline {
                bail!("the service was not ready within {limit:?}:\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// SIGTERM (graceful: in-flight work finishes, stores close), then SIGKILL after 20 s.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let pid = self.pid();
        if pid != 0 {
            let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status().await;
        }
        match tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await {
            Ok(status) => {
                status?;
            }
            Err(_) => {
                eprintln!("the service did not stop within 20 s of SIGTERM; killing it");
                self.child.kill().await?;
            }
        }
        Ok(())
    }

    /// The last lines the service logged, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

/// A NetEase simulator in the bench process on a loopback port, with the bench's credentials and
/// no callbacks. `per_second_limit` 0 lifts the per-second quota (for setting up many accounts);
/// the batch quota stays NetEase's 120 a minute.
pub async fn simulator(per_second_limit: u32) -> anyhow::Result<SimHandle> {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let config = SimConfig {
        app_key: APP_KEY.to_owned(),
        app_secret: APP_SECRET.to_owned(),
        per_second_limit,
        ..SimConfig::default()
    };
    Simulator::start(config, listener).await.context("start the NetEase simulator")
}

//! Builds the IM provider the service talks to, from the configuration (`provider = netease |
//! tencent`): the one place in the service that names a provider. With no base URL configured for
//! the chosen provider this is **sandbox mode**: that provider's simulator runs inside the process on
//! a loopback port and the provider points at it — everything works end to end with no external
//! service. (The NetEase simulator keeps its state in the data directory; Tencent's is in memory.)

use std::path::PathBuf;
use std::sync::Arc;

use imbridge_netease::callback::ParseOptions;
use imbridge_netease::sim::{SimConfig, SimHandle, Simulator};
use imbridge_netease::{NeteaseConfig, NeteaseProvider, RateLimits};
use imbridge_provider::ImProvider;
use imbridge_tencent::{sim as tencent_sim, TencentConfig, TencentProvider};
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;

use crate::config::{Config, ProviderKind};

/// The provider, and the in-process simulator behind it in sandbox mode.
pub struct ProviderSetup {
    pub provider: Arc<dyn ImProvider>,
    pub sandbox: Option<Sandbox>,
}

/// The in-process simulator of sandbox mode, whichever provider it simulates.
pub enum Sandbox {
    Netease(SimHandle),
    Tencent(tencent_sim::SimHandle),
}

impl Sandbox {
    /// The base URL the provider client uses (NetEase: `http://127.0.0.1:PORT/nimserver`).
    pub fn base_url(&self) -> String {
        match self {
            Sandbox::Netease(sim) => sim.base_url(),
            Sandbox::Tencent(sim) => sim.base_url(),
        }
    }

    /// The simulator's root URL (its `/__sim` control endpoints live there).
    pub fn root_url(&self) -> String {
        match self {
            Sandbox::Netease(sim) => sim.root_url(),
            Sandbox::Tencent(sim) => sim.root_url(),
        }
    }

    pub async fn shutdown(self) {
        match self {
            Sandbox::Netease(sim) => sim.shutdown().await,
            Sandbox::Tencent(sim) => sim.shutdown().await,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderSetupError {
    #[error("cannot start the sandbox simulator: {0}")]
    Sandbox(#[source] std::io::Error),
    #[error("cannot set up the NetEase client: {0}")]
    Client(#[source] imbridge_netease::NeteaseError),
    #[error("cannot set up the Tencent client: {0}")]
    TencentClient(#[source] imbridge_tencent::TencentError),
}

/// `callback_url` is where the sandbox simulator delivers its callbacks (this service's own
/// callback endpoint); ignored outside sandbox mode, where it is set in the NetEase console.
pub async fn build(config: &Config, callback_url: &str) -> Result<ProviderSetup, ProviderSetupError> {
    match config.provider {
        ProviderKind::Netease => build_netease(config, callback_url).await,
        ProviderKind::Tencent => build_tencent(config, callback_url).await,
    }
}

async fn build_netease(config: &Config, callback_url: &str) -> Result<ProviderSetup, ProviderSetupError> {
    let settings = &config.netease;
    let (base_url, app_key, app_secret, sandbox) = match &settings.base_url {
        Some(url) => (url.clone(), settings.app_key.clone(), settings.app_secret.clone(), None),
        None => {
            let app_key = non_empty(&settings.app_key).unwrap_or(&config.sandbox.app_key).to_owned();
            let app_secret = secret_or(&settings.app_secret, &config.sandbox.app_secret);
            let state_path = config.sandbox_state_path();
            let sim = start_sandbox(&app_key, &app_secret, callback_url, state_path.clone()).await?;
            tracing::warn!(
                simulator = %sim.base_url(),
                state = %state_path.display(),
                %callback_url,
                "SANDBOX MODE: netease.base_url is not set, so NetEase is simulated in-process; nothing \
                 reaches a real NetEase app. Set IMBRIDGE_NETEASE_BASE_URL, _APP_KEY and _APP_SECRET for production."
            );
            (sim.base_url(), app_key, app_secret, Some(Sandbox::Netease(sim)))
        }
    };
    let netease = NeteaseConfig {
        base_url,
        app_key,
        app_secret,
        connect_timeout: settings.connect_timeout(),
        request_timeout: settings.request_timeout(),
        callback_window: config.callbacks.window(),
        parse: ParseOptions { antispam_counts_as_unread: config.callbacks.antispam_counts_as_unread },
        limits: RateLimits { per_second: settings.rate_per_second, batch_per_minute: settings.rate_batch_per_minute },
    };
    let provider = NeteaseProvider::new(netease).map_err(ProviderSetupError::Client)?;
    Ok(ProviderSetup { provider: Arc::new(provider), sandbox })
}

async fn start_sandbox(
    app_key: &str,
    app_secret: &SecretString,
    callback_url: &str,
    state_path: PathBuf,
) -> Result<SimHandle, ProviderSetupError> {
    if let Some(dir) = state_path.parent() {
        std::fs::create_dir_all(dir).map_err(ProviderSetupError::Sandbox)?;
    }
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.map_err(ProviderSetupError::Sandbox)?;
    let sim_config = SimConfig {
        app_key: app_key.to_owned(),
        app_secret: app_secret.expose_secret().to_owned(),
        callback_url: Some(callback_url.to_owned()),
        state_path: Some(state_path),
        ..SimConfig::default()
    };
    Simulator::start(sim_config, listener).await.map_err(ProviderSetupError::Sandbox)
}

async fn build_tencent(config: &Config, callback_url: &str) -> Result<ProviderSetup, ProviderSetupError> {
    let settings = &config.tencent;
    let (base_url, sdkappid, secret_key, callback_token, sandbox) = match &settings.base_url {
        Some(url) => {
            (url.clone(), settings.sdkappid, settings.secret_key.clone(), settings.callback_token.clone(), None)
        }
        None => {
            let sdkappid = if settings.sdkappid == 0 { config.sandbox.tencent_sdkappid } else { settings.sdkappid };
            let secret_key = secret_or(&settings.secret_key, &config.sandbox.tencent_secret_key);
            let token = secret_or(&settings.callback_token, &config.sandbox.tencent_callback_token);
            let sim_config = tencent_sim::SimConfig {
                sdkappid,
                secret_key: secret_key.expose_secret().to_owned(),
                admin: settings.admin.clone(),
                callback_url: Some(callback_url.to_owned()),
                callback_token: Some(token.expose_secret().to_owned()),
                ..tencent_sim::SimConfig::default()
            };
            let listener = TcpListener::bind(("127.0.0.1", 0)).await.map_err(ProviderSetupError::Sandbox)?;
            let sim = tencent_sim::Simulator::start(sim_config, listener).await.map_err(ProviderSetupError::Sandbox)?;
            tracing::warn!(
                simulator = %sim.base_url(),
                %callback_url,
                "SANDBOX MODE: tencent.base_url is not set, so Tencent IM is simulated in-process (in memory); \
                 nothing reaches a real Tencent app. Set IMBRIDGE_TENCENT_BASE_URL, _SDKAPPID, _SECRET_KEY and \
                 _CALLBACK_TOKEN for production."
            );
            (sim.base_url(), sdkappid, secret_key, token, Some(Sandbox::Tencent(sim)))
        }
    };
    let tencent = TencentConfig {
        base_url,
        sdkappid,
        secret_key,
        admin: settings.admin.clone(),
        usersig_ttl: std::time::Duration::from_secs(settings.usersig_ttl_secs),
        connect_timeout: std::time::Duration::from_secs(settings.connect_timeout_secs),
        request_timeout: std::time::Duration::from_secs(settings.request_timeout_secs),
        callback_token,
        callback_window: TencentConfig::DEFAULT_CALLBACK_WINDOW,
        rate_per_second: settings.rate_per_second,
    };
    let provider = TencentProvider::new(tencent).map_err(ProviderSetupError::TencentClient)?;
    Ok(ProviderSetup { provider: Arc::new(provider), sandbox })
}

/// `value`, or the sandbox's `fallback` when it is blank.
fn secret_or(value: &SecretString, fallback: &SecretString) -> SecretString {
    if value.expose_secret().trim().is_empty() {
        fallback.clone()
    } else {
        value.clone()
    }
}

fn non_empty(s: &str) -> Option<&str> {
    Some(s.trim()).filter(|s| !s.is_empty())
}

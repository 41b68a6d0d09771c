//! The command line: `imbridge [serve]`, `imbridge simulate [--provider tencent]`, `imbridge sign`, `imbridge sign-tencent`. `main.rs` only
//! parses and calls [`run`].

mod sign;
mod sign_tencent;
mod telemetry;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use imbridge_netease::sim::{SimConfig, Simulator};
use imbridge_tencent::sim as tencent_sim;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use sign::SignArgs;

use crate::app::Application;
use crate::config::{Config, LogFormat};

#[derive(Debug, Parser)]
#[command(
    name = "imbridge",
    version,
    about = "Bridge between an e-commerce backend and IM providers (NetEase YunXin, Tencent Cloud IM)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service (the default). Configuration: config/default.toml, --config, IMBRIDGE_* variables.
    Serve(ServeArgs),
    /// Run a provider simulator (NetEase or Tencent) as a standalone server (front-end development, tests).
    Simulate(SimulateArgs),
    /// Print the NetEase signature headers for a body and secret.
    Sign(SignArgs),
    /// Print a Tencent callback's signed query string, or a Tencent UserSig.
    SignTencent(sign_tencent::SignTencentArgs),
}

#[derive(Debug, Default, Args)]
pub struct ServeArgs {
    /// A TOML file layered over the defaults (environment variables still win).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum SimProvider {
    #[default]
    Netease,
    Tencent,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Which provider to simulate.
    #[arg(long, value_enum, default_value_t = SimProvider::Netease)]
    pub provider: SimProvider,
    #[arg(long, default_value = "127.0.0.1:9090")]
    pub listen: SocketAddr,
    /// NetEase: the app key.
    #[arg(long, default_value = "imbridge-sandbox")]
    pub app_key: String,
    /// NetEase: the app secret.
    #[arg(long, env = "IMBRIDGE_SIM_APP_SECRET", hide_env_values = true, default_value = "imbridge-sandbox-secret")]
    pub app_secret: String,
    /// Tencent: the SDKAppID.
    #[arg(long, default_value_t = 1_400_000_000)]
    pub sdkappid: u64,
    /// Tencent: the app's secret key (signs and verifies UserSigs).
    #[arg(long, env = "IMBRIDGE_SIM_SECRET_KEY", hide_env_values = true, default_value = "imbridge-sandbox-secret")]
    pub secret_key: String,
    /// Tencent: the App admin account the REST API accepts.
    #[arg(long, default_value = "administrator")]
    pub admin: String,
    /// Tencent: the callback token (callbacks carry Sign and RequestTime when set).
    #[arg(long, env = "IMBRIDGE_SIM_CALLBACK_TOKEN", hide_env_values = true)]
    pub callback_token: Option<String>,
    /// Where to post signed callbacks (e.g. http://127.0.0.1:8080/callbacks/netease).
    #[arg(long)]
    pub callback_url: Option<String>,
    /// NetEase: keep the simulator's state in this file across restarts.
    #[arg(long)]
    pub state_file: Option<PathBuf>,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => serve(args).await,
        Command::Simulate(args) => simulate(args).await,
        Command::Sign(args) => {
            for (name, value) in sign::headers(&args).context("cannot read the body")? {
                println!("{name}: {value}");
            }
            Ok(())
        }
        Command::SignTencent(args) => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
            println!("{}", sign_tencent::line(&args, now).map_err(anyhow::Error::msg)?);
            Ok(())
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::load(args.config.as_deref())?;
    telemetry::init(config.log.format, &config.log.filter);
    let app = Application::build(config, None).await?;
    cancel_on_signal(app.shutdown_token());
    crate::memory::spawn_trimmer(app.shutdown_token());
    app.run_until_stopped().await.context("server failed")
}

async fn simulate(args: SimulateArgs) -> anyhow::Result<()> {
    telemetry::init(LogFormat::Text, "info");
    let listener = TcpListener::bind(args.listen).await.with_context(|| format!("cannot listen on {}", args.listen))?;
    let stop = CancellationToken::new();
    cancel_on_signal(stop.clone());
    if args.provider == SimProvider::Tencent {
        let config = tencent_sim::SimConfig {
            sdkappid: args.sdkappid,
            secret_key: args.secret_key,
            admin: args.admin,
            callback_url: args.callback_url,
            callback_token: args.callback_token,
            ..tencent_sim::SimConfig::default()
        };
        let sim = tencent_sim::Simulator::start(config, listener).await.context("cannot start the simulator")?;
        tracing::info!(base_url = %sim.base_url(), "Tencent IM simulator running (/v4/...); Ctrl-C stops it");
        stop.cancelled().await;
        sim.shutdown().await;
        return Ok(());
    }
    let config = SimConfig {
        app_key: args.app_key,
        app_secret: args.app_secret,
        callback_url: args.callback_url,
        state_path: args.state_file,
        ..SimConfig::default()
    };
    let sim = Simulator::start(config, listener).await.context("cannot start the simulator")?;
    tracing::info!(base_url = %sim.base_url(), "NetEase simulator running; Ctrl-C stops it");
    stop.cancelled().await;
    sim.shutdown().await;
    Ok(())
}

/// Cancel `token` on Ctrl-C or SIGTERM.
fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(err) => {
                    tracing::error!(error = %err, "cannot listen for SIGTERM");
                    let _ = ctrl_c.await;
                    token.cancel();
                    return;
                }
            };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutdown requested");
        token.cancel();
    });
}

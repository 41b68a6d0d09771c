//! P3, notification fan-out: one `POST /v1/notifications` to R recipients through the NetEase
//! simulator with NetEase's default quotas (100/s; 120/min for batch sends). Reported: the provider
//! calls the simulator received per API and result code (416 = NetEase's frequency control), the
//! time until the simulator had delivered to every recipient, and until the service reported the
//! notification delivered.
//!
//! The recipients and the sender exist before the run: they are written into the simulator's state
//! file rather than created through `user/create`, which at NetEase's 100 calls/s would take
//! minutes and is not what this figure measures.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use clap::Args;
use imbridge_netease::sim::{Account, SimConfig, SimHandle, Simulator};
use serde_json::{json, Value};

use crate::corpus::{APP_KEY, APP_SECRET};
use crate::server::{self, ScratchDir, Server, ServerSpec};
use crate::stats::Table;

pub(crate) const SENDER: &str = "shop_00001";

#[derive(Debug, Args)]
pub struct P3Args {
    #[arg(long, default_value_t = 10_000)]
    pub recipients: usize,
    /// Give up waiting for delivery after this many seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout_secs: u64,
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
}

pub async fn run(args: P3Args) -> anyhow::Result<()> {
    ensure!(args.recipients > 0, "--recipients must be positive");
    let binary = server::server_binary(args.server_bin.as_deref())?;
    println!("P3 fan-out: one notification to {} recipients, simulator with NetEase's default quotas", args.recipients);
    let scratch = ScratchDir::new("p3")?;
    let recipients: Vec<String> = (0..args.recipients).map(|i| format!("buyer_{i:06}")).collect();
    let sim = simulator_with_accounts(scratch.path(), &recipients, true).await?;
    let spec = ServerSpec { binary: &binary, dir: scratch.path(), netease_base_url: &sim.base_url(), env: Vec::new() };
    let mut service = Server::spawn(&spec)?;
    let outcome = async {
        service.wait_ready(Duration::from_secs(30)).await?;
        fan_out(&args, &service, &sim, &recipients).await
    }
    .await;
    let log = service.log_tail();
    service.stop().await?;
    sim.shutdown().await;
    outcome.with_context(|| format!("the service said:\n{log}"))
}

/// A simulator in which [`SENDER`] and `recipients` already exist (written into its state file in
/// `dir`); with NetEase's default quotas, or with none when `quotas` is false.
pub(crate) async fn simulator_with_accounts(
    dir: &Path,
    recipients: &[String],
    quotas: bool,
) -> anyhow::Result<SimHandle> {
    let now = imbridge_netease::sign::now_millis();
    let account = |accid: &str| Account {
        accid: accid.to_owned(),
        token: format!("token-{accid}"),
        name: None,
        icon: None,
        sign: None,
        email: None,
        birth: None,
        mobile: None,
        gender: None,
        ex: None,
        blocked: false,
        created_at: now,
        updated_at: now,
    };
    let accounts: Vec<Account> =
        std::iter::once(SENDER).chain(recipients.iter().map(String::as_str)).map(account).collect();
    let state = json!({"version": 1, "accounts": accounts, "friends": {}, "friend_requests": [], "msgid_reserved": 0});
    let state_path = dir.join("sim-state.json");
    std::fs::write(&state_path, serde_json::to_vec(&state)?)?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let config = SimConfig {
        app_key: APP_KEY.to_owned(),
        app_secret: APP_SECRET.to_owned(),
        state_path: Some(state_path),
        ..SimConfig::default()
    };
    let config = if quotas { config } else { SimConfig { per_second_limit: 0, batch_per_minute_limit: 0, ..config } };
    Simulator::start(config, listener).await.context("start the simulator with the recipients")
}

async fn fan_out(args: &P3Args, service: &Server, sim: &SimHandle, recipients: &[String]) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let before = sim.state().call_counts();
    let request = json!({
        "from": SENDER,
        "to": recipients,
        "attach": {"type": "order_shipped", "order_id": "SO-20240611-0042", "carrier": "SF Express"},
        "push_content": "Your order has shipped",
        "payload": {"route": "orders/SO-20240611-0042"},
        "idempotency_key": format!("bench-{}", uuid::Uuid::new_v4().simple()),
    });
    let started = Instant::now();
    let response = client.post(format!("{}/v1/notifications", service.base_url())).json(&request).send().await?;
    let accepted_after = started.elapsed();
    let status = response.status();
    let accepted: Value = response.json().await?;
    if status.as_u16() != 202 {
        bail!("POST /v1/notifications answered {status}: {accepted}");
    }
    let id = accepted["id"].as_str().context("no id in the 202")?.to_owned();

    let deadline = started + Duration::from_secs(args.timeout_secs);
    let mut provider_done: Option<Duration> = None;
    let mut final_view: Option<(Duration, Value)> = None;
    let mut last_poll = Instant::now() - Duration::from_secs(1);
    while final_view.is_none() {
        if Instant::now() > deadline {
            bail!("not settled within {} s", args.timeout_secs);
        }
        if provider_done.is_none() && received(sim) >= recipients.len() {
            provider_done = Some(started.elapsed());
        }
        // The view lists every recipient, so it is polled far less often than the simulator.
        if last_poll.elapsed() >= Duration::from_millis(100) {
            last_poll = Instant::now();
            let view: Value =
                client.get(format!("{}/v1/notifications/{id}", service.base_url())).send().await?.json().await?;
            match view["status"].as_str() {
                Some("queued" | "sending") => {}
                Some(_) => final_view = Some((started.elapsed(), view)),
                None => bail!("unexpected notification view: {view}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (settled_after, view) = final_view.expect("loop ends with a view");
    let after = sim.state().call_counts();
    let recorded = received(sim);

    let mut table = Table::new(&["provider API", "calls", "200", "416", "other"]);
    let mut calls_total = 0;
    let mut calls_416 = 0;
    for (api, calls) in &after.actions {
        let total = calls.total - before.actions.get(api).map_or(0, |c| c.total);
        if total == 0 {
            continue;
        }
        let code = |c: &str| calls.codes.get(c).copied().unwrap_or(0) - before.with_outcome(api, c);
        let (ok, limited) = (code("200"), code("416"));
        calls_total += total;
        calls_416 += limited;
        table.row(vec![
            api.clone(),
            total.to_string(),
            ok.to_string(),
            limited.to_string(),
            (total - ok - limited).to_string(),
        ]);
    }
    println!();
    table.print();
    println!();
    let secs = |d: Duration| format!("{:.2} s", d.as_secs_f64());
    let mut summary = Table::new(&["measure", "value"]);
    summary.row(vec!["recipients".into(), recipients.len().to_string()]);
    summary.row(vec!["provider calls (all APIs)".into(), calls_total.to_string()]);
    summary.row(vec!["416 answers".into(), calls_416.to_string()]);
    summary.row(vec!["202 Accepted after".into(), format!("{:.1} ms", accepted_after.as_secs_f64() * 1000.0)]);
    summary.row(vec![
        "simulator delivered to every recipient (20 ms polls) after".into(),
        provider_done.map_or("never".into(), secs),
    ]);
    summary.row(vec![
        "service reported it (100 ms polls) after".into(),
        format!("{} ({})", secs(settled_after), view["status"].as_str().unwrap_or("?")),
    ]);
    summary.row(vec!["notifications the simulator recorded".into(), recorded.to_string()]);
    summary.print();
    println!();
    println!("target: <= 20 provider calls for 10 000 recipients, no 416");
    Ok(())
}

/// Notifications the simulator recorded from the bench's sender (one record per recipient).
fn received(sim: &SimHandle) -> usize {
    sim.state().notifications().iter().filter(|n| n.from == SENDER).count()
}

//! P5, start-up time: from spawning the `imbridge` process to its first 200 on `GET /readyz` (or,
//! without that route, its first HTTP answer), polled every millisecond. Cold runs start on an
//! empty data directory (databases created, migrations applied); warm runs restart on the data of
//! the previous run.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::ensure;
use clap::Args;

use crate::server::{self, ReadyProbe, ScratchDir, Server, ServerSpec};
use crate::stats::{ms, Latency, Table};
use crate::stores::{StoreKind, StoreTarget};

#[derive(Debug, Args)]
pub struct P5Args {
    /// Cold starts, each followed by a warm restart on the same data.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    #[arg(long, value_enum, default_value = "embedded")]
    pub store: StoreKind,
    #[arg(long)]
    pub mongo_uri: Option<String>,
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
}

pub async fn run(args: P5Args) -> anyhow::Result<()> {
    ensure!(args.runs > 0, "--runs must be positive");
    let binary = server::server_binary(args.server_bin.as_deref())?;
    println!("P5 start-up: {} cold starts and {} warm restarts, {:?} store", args.runs, args.runs, args.store);
    let sim = server::simulator(0).await?;
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    let mut probe = ReadyProbe::Readyz;
    for _ in 0..args.runs {
        let scratch = ScratchDir::new("p5")?;
        let target = StoreTarget::fresh(args.store, &scratch.path().join("data"), args.mongo_uri.as_deref())?;
        let spec = ServerSpec {
            binary: &binary,
            dir: scratch.path(),
            netease_base_url: &sim.base_url(),
            env: target.server_env(),
        };
        let outcome = async {
            for times in [&mut cold, &mut warm] {
                let mut service = Server::spawn(&spec)?;
                let ready = service.wait_ready(Duration::from_secs(30)).await;
                service.stop().await?;
                let (took, how) = ready?;
                times.push(took);
                probe = how;
            }
            anyhow::Ok(())
        }
        .await;
        target.discard().await?;
        outcome?;
    }
    sim.shutdown().await;

    let mut table = Table::new(&["start", "runs", "min", "median", "max"]);
    for (label, times) in [("cold (empty data dir)", cold), ("warm (restart)", warm)] {
        let min = times.iter().min().copied().unwrap_or_default();
        let l = Latency::of(times);
        table.row(vec![label.into(), l.count.to_string(), ms(min), ms(l.p50), ms(l.max)]);
    }
    println!();
    table.print();
    println!();
    let probe = match probe {
        ReadyProbe::Readyz => "GET /readyz answered 200",
        ReadyProbe::FirstAnswer => "first HTTP answer (the service has no /readyz: it answered 404)",
    };
    println!("ready = {probe}; target: <= 300 ms");
    Ok(())
}

//! P4, memory at 1 000 concurrent connections: the service's resident set (VmRSS of its own
//! process; the load comes from this one) when idle, with C keep-alive connections open, and its
//! peak (VmHWM) after rounds in which every connection has a request in flight at once — a signed
//! callback and an unread query per connection and round.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Context};
use clap::Args;
use tokio::sync::Barrier;

use crate::corpus;
use crate::http1::Connection;
use crate::machine::process_rss_kib;
use crate::server::{self, ScratchDir, Server, ServerSpec};
use crate::stats::Table;
use crate::stores::{StoreKind, StoreTarget};

#[derive(Debug, Args)]
pub struct P4Args {
    #[arg(long, default_value_t = 1_000)]
    pub connections: usize,
    /// Rounds of one callback and one unread query on every connection at once.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    #[arg(long, value_enum, default_value = "embedded")]
    pub store: StoreKind,
    #[arg(long)]
    pub mongo_uri: Option<String>,
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
}

pub async fn run(args: P4Args) -> anyhow::Result<()> {
    ensure!(args.connections > 0, "--connections must be positive");
    let binary = server::server_binary(args.server_bin.as_deref())?;
    println!(
        "P4 memory: {} concurrent connections, {} rounds of requests on all of them, {:?} store",
        args.connections, args.rounds, args.store
    );
    let scratch = ScratchDir::new("p4")?;
    let target = StoreTarget::fresh(args.store, &scratch.path().join("data"), args.mongo_uri.as_deref())?;
    let sim = server::simulator(0).await?;
    let spec = ServerSpec {
        binary: &binary,
        dir: scratch.path(),
        netease_base_url: &sim.base_url(),
        env: target.server_env(),
    };
    let mut service = Server::spawn(&spec)?;
    let outcome = async {
        service.wait_ready(Duration::from_secs(60)).await?;
        measure(&args, &service).await
    }
    .await;
    let log = service.log_tail();
    service.stop().await?;
    sim.shutdown().await;
    target.discard().await?;
    outcome.with_context(|| format!("the service said:\n{log}"))
}

async fn measure(args: &P4Args, service: &Server) -> anyhow::Result<()> {
    let pid = service.pid();
    // Settle: let start-up allocations and the first requests' lazy initialisation happen first.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (idle, _) = process_rss_kib(pid)?;

    let mut connections = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        connections.push(Connection::open(service.addr).await.context("open a connection")?);
    }
    // One request each so that every connection is accepted and served, then idle.
    let mut answers = BTreeMap::new();
    let (mut connections, warm) = round(connections, None, Arc::new(Barrier::new(args.connections))).await?;
    merge(&mut answers, warm);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (open, _) = process_rss_kib(pid)?;

    let first_key = corpus::random_first_key();
    for r in 0..args.rounds {
        let key = first_key + (r * args.connections) as u64;
        let (conns, statuses) = round(connections, Some(key), Arc::new(Barrier::new(args.connections))).await?;
        connections = conns;
        merge(&mut answers, statuses);
    }
    let (after, peak) = process_rss_kib(pid)?;
    drop(connections);

    let mib = |kib: u64| format!("{:.1} MiB", kib as f64 / 1024.0);
    let mut table = Table::new(&["service process", "RSS"]);
    table.row(vec!["idle, after start-up".into(), mib(idle)]);
    table.row(vec![format!("{} keep-alive connections open", args.connections), mib(open)]);
    table.row(vec![
        format!("after {} rounds of {} concurrent callback + unread requests", args.rounds, args.connections),
        mib(after),
    ]);
    table.row(vec!["peak (VmHWM)".into(), mib(peak)]);
    println!();
    table.print();
    println!();
    let answers: Vec<String> = answers.iter().map(|(status, n)| format!("{n}x {status}")).collect();
    println!("answers: {}; target: RSS <= 100 MB at 1 000 connections", answers.join(", "));
    Ok(())
}

fn merge(total: &mut BTreeMap<u16, usize>, part: BTreeMap<u16, usize>) {
    for (status, n) in part {
        *total.entry(status).or_default() += n;
    }
}

/// Every connection waits at the barrier, then sends (with `first_key`) a signed callback, and an
/// unread query; returns the connections and the answers by status.
async fn round(
    connections: Vec<Connection>,
    first_key: Option<u64>,
    barrier: Arc<Barrier>,
) -> anyhow::Result<(Vec<Connection>, BTreeMap<u16, usize>)> {
    let bodies = match first_key {
        Some(key) => corpus::chat_bodies(key, connections.len(), 500).into_iter().map(Some).collect(),
        None => vec![None; connections.len()],
    };
    let tasks: Vec<_> = connections
        .into_iter()
        .zip(bodies)
        .enumerate()
        .map(|(i, (mut conn, body))| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let mut statuses = Vec::with_capacity(2);
                if let Some(body) = body {
                    statuses.push(corpus::post_signed(&mut conn, "/callbacks/netease", &body).await?.status);
                }
                let path = format!("/v1/unread?accid=buyer_{:05}&peers=shop_{:04},shop_00001", i % 500, i % 997);
                statuses.push(conn.send("GET", &path, &[], b"").await?.status);
                anyhow::Ok((conn, statuses))
            })
        })
        .collect();
    let mut open = Vec::with_capacity(tasks.len());
    let mut answers = BTreeMap::new();
    for task in tasks {
        let (conn, statuses) = task.await??;
        open.push(conn);
        for status in statuses {
            *answers.entry(status).or_default() += 1;
        }
    }
    Ok((open, answers))
}

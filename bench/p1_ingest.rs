//! P1, callback ingestion: N signed eventType-1 callbacks over C keep-alive connections, against
//! two baselines measured in the same run on a fresh store each:
//! (a) the raw store ceiling: the same documents parsed up front and written with
//!     `MessageStore::apply` in sequential bulk batches, no HTTP;
//! (b) the naive path: the service configured to write each callback on its own.
//! The paths are measured in turn, `--repeat` times; the table shows the median rate.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use clap::Args;
use imbridge::messages::{CallbackRecord, MessageStore};

use crate::corpus::{self, Parser};
use crate::load::{self, LoadResult};
use crate::server::{self, ScratchDir, Server, ServerSpec};
use crate::stats::{ms, per_second, ratio, Latency, Table};
use crate::stores::{StoreKind, StoreTarget};

/// The service's switch between group commit and one write per callback (`callbacks.group_commit`).
const GROUP_COMMIT_VAR: &str = "IMBRIDGE_CALLBACKS_GROUP_COMMIT";
const CALLBACK_PATH: &str = "/callbacks/netease";

#[derive(Debug, Args)]
pub struct P1Args {
    #[arg(long, value_enum, default_value = "embedded")]
    pub store: StoreKind,
    /// Callbacks per measured run (default 20 000 embedded, 3 000 MongoDB: SecantusDB is slow and
    /// the per-request baseline there takes a while).
    #[arg(long)]
    pub n: Option<usize>,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Callbacks sent (and not measured) before each HTTP run: connections, caches, first pages.
    #[arg(long, default_value_t = 500)]
    pub warmup: usize,
    /// Callbacks per `apply` in the raw ceiling (the service's default `max_batch`).
    #[arg(long, default_value_t = 256)]
    pub ceiling_batch: usize,
    /// The raw ceiling is measured once per count of concurrent `apply` callers: 1 is strictly
    /// sequential bulk writes; 2 overlaps one batch's preparation with the other's write.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    pub ceiling_writers: Vec<usize>,
    /// Each path is measured this many times, interleaved, each time on a fresh store; the table
    /// shows the median rate (this machine's disk and neighbours make single runs vary by ~30%).
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Buyer/shop pairs the messages are spread over.
    #[arg(long, default_value_t = 1_000)]
    pub pairs: usize,
    /// MongoDB for `--store mongo` (default: IMBRIDGE_TEST_MONGODB_URI); each run gets its own
    /// database, dropped afterwards.
    #[arg(long)]
    pub mongo_uri: Option<String>,
    /// The service binary (default: `imbridge` next to this binary).
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
    /// Also measure group commit with two instances of the service on the same store, the
    /// connections split between them (what a second instance buys on this machine).
    #[arg(long)]
    pub two_instances: bool,
}

/// One path's results over the repeats.
struct PathResult {
    label: String,
    /// Callbacks acknowledged (or written) per second, one per repeat.
    rates: Vec<f64>,
    /// Every acknowledged callback's latency, over all repeats (HTTP paths only).
    latencies: Vec<Duration>,
    failed: BTreeMap<u16, usize>,
    /// Repeats whose store afterwards held fewer raw bodies than were acknowledged.
    lost: usize,
}

impl PathResult {
    fn new(label: String) -> Self {
        PathResult { label, rates: Vec::new(), latencies: Vec::new(), failed: BTreeMap::new(), lost: 0 }
    }

    fn median_rate(&self) -> f64 {
        let mut rates = self.rates.clone();
        rates.sort_by(f64::total_cmp);
        rates.get(rates.len() / 2).copied().unwrap_or(0.0)
    }

    fn range(&self) -> String {
        let min = self.rates.iter().copied().fold(f64::INFINITY, f64::min);
        let max = self.rates.iter().copied().fold(0.0, f64::max);
        format!("{min:.0}-{max:.0}")
    }

    fn add_load(&mut self, load: LoadResult, stored: u64, expected: u64) {
        self.rates.push(per_second(load.acked, load.elapsed));
        self.latencies.extend(load.latencies);
        for (status, n) in load.failed {
            *self.failed.entry(status).or_default() += n;
        }
        if stored < expected {
            self.lost += 1;
        }
    }

    fn failures(&self) -> String {
        if self.failed.is_empty() {
            return "0".to_owned();
        }
        let parts: Vec<String> = self
            .failed
            .iter()
            .map(|(status, n)| if *status == 0 { format!("{n} conn. errors") } else { format!("{n}x {status}") })
            .collect();
        parts.join(", ")
    }
}

pub async fn run(args: P1Args) -> anyhow::Result<()> {
    let n = args.n.unwrap_or(match args.store {
        StoreKind::Embedded => 20_000,
        StoreKind::Mongo => 3_000,
    });
    ensure!(
        n > 0 && args.concurrency > 0 && args.ceiling_batch > 0 && args.repeat > 0,
        "--n, --concurrency, --ceiling-batch and --repeat must be positive"
    );
    ensure!(
        !args.ceiling_writers.is_empty() && !args.ceiling_writers.contains(&0),
        "--ceiling-writers takes positive counts, e.g. 1,2"
    );
    let binary = server::server_binary(args.server_bin.as_deref())?;
    let first_key = corpus::random_first_key();
    let bodies = Arc::new(corpus::chat_bodies(first_key, n, args.pairs));
    let warmup = Arc::new(corpus::chat_bodies(first_key + n as u64, args.warmup, args.pairs));
    let parser = Parser::new()?;
    let parse = |bodies: &[Vec<u8>]| bodies.iter().map(|b| parser.applied(b)).collect::<Result<Vec<_>, _>>();
    let (docs, warm_docs) = (Arc::new(parse(&bodies)?), parse(&warmup)?);
    let mean_body = bodies.iter().map(Vec::len).sum::<usize>() / bodies.len();
    println!(
        "P1 callback ingestion: {n} eventType-1 callbacks (mean body {mean_body} B) per run, {} connections, \
         {:?} store, {} repeats (paths interleaved)",
        args.concurrency, args.store, args.repeat
    );

    let mut ceilings: Vec<PathResult> = args
        .ceiling_writers
        .iter()
        .map(|w| PathResult::new(format!("raw store ceiling: apply x{}, {w} writer(s), no HTTP", args.ceiling_batch)))
        .collect();
    let mut group = PathResult::new(format!("group commit (HTTP), {} connections", args.concurrency));
    let mut naive = PathResult::new(format!("per-request (HTTP), {} connections", args.concurrency));
    let mut pair = PathResult::new(format!("group commit (HTTP), 2 instances, {} connections", args.concurrency));
    let sim = server::simulator(0).await?;
    for repeat in 1..=args.repeat {
        for (result, &writers) in ceilings.iter_mut().zip(&args.ceiling_writers) {
            let (elapsed, stored) = ceiling(&args, writers, &docs, &warm_docs).await?;
            result.rates.push(per_second(n, elapsed));
            if stored < (n + args.warmup) as u64 {
                result.lost += 1;
            }
            println!("  [{repeat}/{}] {}: {:.0}/s", args.repeat, result.label, per_second(n, elapsed));
        }
        let mut paths = vec![(&mut group, true, 1), (&mut naive, false, 1)];
        if args.two_instances {
            paths.push((&mut pair, true, 2));
        }
        for (result, group_commit, instances) in paths {
            let (load, warm_acked, stored) =
                http_run(&args, &binary, &sim.base_url(), group_commit, instances, &bodies, &warmup).await?;
            let rate = per_second(load.acked, load.elapsed);
            let expected = (load.acked + warm_acked) as u64;
            result.add_load(load, stored, expected);
            println!("  [{repeat}/{}] {}: {rate:.0}/s", args.repeat, result.label);
        }
    }
    sim.shutdown().await;

    let group_rate = group.median_rate();
    let mut table = Table::new(&[
        "path",
        "acked/s (median)",
        "range",
        "p50",
        "p99",
        "max",
        "not acked",
        "acked but not stored",
        "group commit / this",
    ]);
    let pair = args.two_instances.then_some(&pair);
    for result in ceilings.iter().chain([&group, &naive]).chain(pair) {
        let (p50, p99, max) = if result.latencies.is_empty() {
            ("-".to_owned(), "-".to_owned(), "-".to_owned())
        } else {
            let l = Latency::of(result.latencies.clone());
            (ms(l.p50), ms(l.p99), ms(l.max))
        };
        table.row(vec![
            result.label.clone(),
            format!("{:.0}", result.median_rate()),
            result.range(),
            p50,
            p99,
            max,
            result.failures(),
            format!("{} of {} runs", result.lost, args.repeat),
            ratio(group_rate, result.median_rate()),
        ]);
    }
    println!();
    table.print();
    println!();
    println!("targets: group commit >= 0.80x the raw store ceiling, >= 3x per-request");
    println!(
        "latency percentiles pool all {} repeats; `acked but not stored` compares the raw bodies in the \
         store afterwards with the acknowledgements",
        args.repeat
    );
    Ok(())
}

/// `writers` tasks, each applying the next batch as soon as its previous one returned. With two,
/// one batch's preparation (documents, digests) overlaps the other's write, as it does in the
/// service; the store itself still writes one batch at a time (SQLite has one writer).
async fn write_all(
    store: Arc<dyn MessageStore>,
    docs: Arc<Vec<CallbackRecord>>,
    batch: usize,
    writers: usize,
) -> anyhow::Result<Duration> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers.max(1))
        .map(|_| {
            let (store, docs, next) = (store.clone(), docs.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let start = next.fetch_add(batch, Ordering::Relaxed);
                    if start >= docs.len() {
                        return anyhow::Ok(());
                    }
                    let end = (start + batch).min(docs.len());
                    store.apply(&docs[start..end]).await.context("apply")?;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok(started.elapsed())
}

/// Baseline (a): the same documents straight into a fresh store, in bulk batches.
async fn ceiling(
    args: &P1Args,
    writers: usize,
    docs: &Arc<Vec<CallbackRecord>>,
    warmup: &[CallbackRecord],
) -> anyhow::Result<(Duration, u64)> {
    let scratch = ScratchDir::new("p1-ceiling")?;
    let target = StoreTarget::fresh(args.store, &scratch.path().join("data"), args.mongo_uri.as_deref())?;
    let outcome = async {
        let store = target.open().await?;
        for chunk in warmup.chunks(args.ceiling_batch) {
            store.apply(chunk).await.context("warm-up apply")?;
        }
        let elapsed = write_all(store.clone(), docs.clone(), args.ceiling_batch, writers).await?;
        let stored = store.raw_count().await.context("count stored callbacks")?;
        anyhow::Ok((elapsed, stored))
    }
    .await;
    target.discard().await?;
    outcome
}

/// Baseline (b) and the figure: the service in its own process on a fresh store; with `instances`
/// 2, two processes on the same store, the connections split between them.
#[allow(clippy::too_many_arguments)]
async fn http_run(
    args: &P1Args,
    binary: &std::path::Path,
    netease_base_url: &str,
    group_commit: bool,
    instances: usize,
    bodies: &Arc<Vec<Vec<u8>>>,
    warmup: &Arc<Vec<Vec<u8>>>,
) -> anyhow::Result<(LoadResult, usize, u64)> {
    let scratch = ScratchDir::new("p1")?;
    let target = StoreTarget::fresh(args.store, &scratch.path().join("data"), args.mongo_uri.as_deref())?;
    let outcome = async {
        let mut env = target.server_env();
        env.push((GROUP_COMMIT_VAR.into(), group_commit.to_string()));
        let spec = ServerSpec { binary, dir: scratch.path(), netease_base_url, env };
        let mut services = Vec::new();
        for _ in 0..instances.max(1) {
            let mut service = Server::spawn(&spec)?;
            service.wait_ready(Duration::from_secs(30)).await?;
            services.push(service);
        }
        let addrs: Vec<_> = services.iter().map(|s| s.addr).collect();
        let warm = load::post_callbacks_to(&addrs, CALLBACK_PATH, warmup.clone(), args.concurrency).await;
        if warm.failed_total() > 0 {
            eprintln!("warm-up: {} not acknowledged ({})", warm.failed_total(), warm.describe_failures());
        }
        let result = load::post_callbacks_to(&addrs, CALLBACK_PATH, bodies.clone(), args.concurrency).await;
        if result.acked == 0 {
            eprintln!("no callback was acknowledged; the service said:\n{}", services[0].log_tail());
        }
        for service in services {
            service.stop().await?;
        }
        let stored = target.open().await?.raw_count().await.context("count stored callbacks")?;
        anyhow::Ok((result, warm.acked, stored))
    }
    .await;
    target.discard().await?;
    outcome
}

//! P2, unread query: M stored messages across K (buyer, shop) pairs; the order page's
//! `POST /v1/unread` for one buyer and its 100 shops, against the raw `MessageStore::unread` call on
//! the same store (no HTTP), one query at a time.
//!
//! Layout: pair p is (buyer_{p / P}, shop_{p % P}) for P peers per query, so every buyer has
//! exactly P shops; 4 messages in 5 go shop → buyer (they count for the buyer), and in every other
//! pair the buyer has read the first half (a read receipt), so the counts are a mix of zero, partly
//! read and fully unread.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use clap::Args;
use imbridge::messages::MessageStore;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::corpus::{self, ChatMessage, Parser};
use crate::http1::Connection;
use crate::load::{self, LoadResult};
use crate::server::{self, ScratchDir, Server, ServerSpec};
use crate::stats::{ms, ratio, Latency, Table};
use crate::stores::{StoreKind, StoreTarget};

#[derive(Debug, Args)]
pub struct P2Args {
    #[arg(long, value_enum, default_value = "embedded")]
    pub store: StoreKind,
    /// Stored messages (default 1 000 000 embedded; 10 000 MongoDB, because SecantusDB, the test
    /// server here, slows down as the collection grows: see BENCHMARKS.md).
    #[arg(long)]
    pub messages: Option<usize>,
    /// (buyer, shop) pairs (default 10 000 embedded, 200 MongoDB).
    #[arg(long)]
    pub pairs: Option<usize>,
    /// Peers per query.
    #[arg(long, default_value_t = 100)]
    pub peers: usize,
    /// Measured queries per path (default 2 000 embedded, 50 MongoDB).
    #[arg(long)]
    pub queries: Option<usize>,
    /// Queries per path before measuring (default a tenth of --queries).
    #[arg(long)]
    pub warmup: Option<usize>,
    /// Callbacks per `apply` while seeding.
    #[arg(long, default_value_t = 1_000)]
    pub seed_batch: usize,
    /// Embedded store only: keep the seeded data here and reuse it when it matches (seeding a
    /// million messages takes a while).
    #[arg(long)]
    pub keep_dir: Option<PathBuf>,
    #[arg(long)]
    pub mongo_uri: Option<String>,
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
    /// Also measure throughput over --concurrency connections against one instance and against
    /// two instances on the same store, the connections split between them.
    #[arg(long)]
    pub two_instances: bool,
    /// Connections for --two-instances.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
}

/// The seed, as recorded next to a kept store.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Layout {
    messages: usize,
    pairs: usize,
    peers: usize,
}

impl Layout {
    fn readers(&self) -> usize {
        self.pairs / self.peers
    }
    fn marker(&self) -> String {
        format!("messages={} pairs={} peers={}\n", self.messages, self.pairs, self.peers)
    }
}

pub async fn run(args: P2Args) -> anyhow::Result<()> {
    let mongo = args.store == StoreKind::Mongo;
    let layout = Layout {
        messages: args.messages.unwrap_or(if mongo { 10_000 } else { 1_000_000 }),
        pairs: args.pairs.unwrap_or(if mongo { 200 } else { 10_000 }),
        peers: args.peers,
    };
    ensure!(layout.peers > 0 && layout.pairs >= layout.peers, "--pairs must be at least --peers");
    ensure!(
        layout.pairs.is_multiple_of(layout.peers),
        "--pairs must be a multiple of --peers (each buyer has --peers shops)"
    );
    ensure!(args.keep_dir.is_none() || !mongo, "--keep-dir is for the embedded store");
    let binary = server::server_binary(args.server_bin.as_deref())?;
    println!(
        "P2 unread query: {} messages across {} pairs ({} buyers x {} shops), {:?} store, {} peers per query",
        layout.messages,
        layout.pairs,
        layout.readers(),
        layout.peers,
        args.store,
        layout.peers
    );

    let scratch;
    let dir: &Path = match &args.keep_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            dir
        }
        None => {
            scratch = ScratchDir::new("p2")?;
            scratch.path()
        }
    };
    let target = StoreTarget::fresh(args.store, &dir.join("data"), args.mongo_uri.as_deref())?;
    println!("store: {}", target.describe());
    let outcome = measure(&args, layout, &binary, dir, &target).await;
    if args.keep_dir.is_none() {
        target.discard().await?;
    }
    outcome
}

async fn measure(args: &P2Args, layout: Layout, binary: &Path, dir: &Path, target: &StoreTarget) -> anyhow::Result<()> {
    let store = target.open().await?;
    let marker = dir.join("p2-seed.txt");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(layout.marker().as_str()) {
        println!("reusing the seeded store in {}", dir.display());
    } else {
        ensure!(
            store.raw_count().await? == 0,
            "{} holds a store seeded with another layout; remove it or choose another --keep-dir",
            dir.display()
        );
        let started = Instant::now();
        seed(store.as_ref(), layout, args.seed_batch).await?;
        let took = started.elapsed();
        println!(
            "seeded {} messages and their receipts in {:.1} s ({:.0} messages/s through MessageStore::apply)",
            layout.messages,
            took.as_secs_f64(),
            layout.messages as f64 / took.as_secs_f64()
        );
        if args.keep_dir.is_some() {
            std::fs::write(&marker, layout.marker())?;
        }
    }

    let measured = args.queries.unwrap_or(match args.store {
        StoreKind::Embedded => 2_000,
        StoreKind::Mongo => 50,
    });
    let warmup = args.warmup.unwrap_or(measured / 10);
    let queries = random_queries(layout.readers(), layout.peers, warmup + measured);
    let (raw_latency, raw_answers) = raw_queries(store.as_ref(), &queries, warmup).await?;
    println!("  raw MessageStore::unread: p50 {}, p99 {}", ms(raw_latency.p50), ms(raw_latency.p99));

    let sim = server::simulator(0).await?;
    let spec = ServerSpec { binary, dir, netease_base_url: &sim.base_url(), env: target.server_env() };
    let mut service = Server::spawn(&spec)?;
    let http = async {
        service.wait_ready(Duration::from_secs(60)).await?;
        http_queries(service.addr, &queries, warmup).await
    }
    .await;
    let scaling = match (&http, args.two_instances) {
        (Ok(_), true) => Some(two_instances(&spec, service.addr, &queries, args.concurrency).await),
        _ => None,
    };
    let log = service.log_tail();
    service.stop().await?;
    sim.shutdown().await;
    let (http_latency, http_answers) = http.with_context(|| format!("the service said:\n{log}"))?;

    check_agreement(&raw_answers, &http_answers)?;
    let mean_total = raw_answers.iter().sum::<u64>() as f64 / raw_answers.len().max(1) as f64;

    let mut table = Table::new(&["path", "queries", "p50", "p99", "max", "mean"]);
    table.row(row("raw MessageStore::unread (no HTTP)", &raw_latency));
    table.row(row("POST /v1/unread (HTTP, 1 connection)", &http_latency));
    println!();
    table.print();
    println!();
    println!(
        "HTTP p99 / raw p99 = {}; HTTP p99 = {} (target: <= 5 ms embedded, <= 1.5x raw on MongoDB)",
        ratio(http_latency.p99.as_secs_f64(), raw_latency.p99.as_secs_f64()),
        ms(http_latency.p99)
    );
    println!("answers agreed on all {} queries; mean total unread per query {mean_total:.0}", raw_answers.len());
    if let Some(scaling) = scaling {
        let (one, two) = scaling?;
        let rate = |l: &LoadResult| l.acked as f64 / l.elapsed.as_secs_f64();
        let mut table = Table::new(&["POST /v1/unread, closed loop", "queries/s", "p50", "p99", "not answered 200"]);
        for (label, load) in [("1 instance", &one), ("2 instances, same store", &two)] {
            let l = Latency::of(load.latencies.clone());
            table.row(vec![
                format!("{label}, {} connections", args.concurrency),
                format!("{:.0}", rate(load)),
                ms(l.p50),
                ms(l.p99),
                load.failed_total().to_string(),
            ]);
        }
        println!();
        table.print();
        println!("2 instances / 1 instance = {}", ratio(rate(&two), rate(&one)));
    }
    Ok(())
}

/// Every query once over `concurrency` connections against the running instance, then again with a
/// second instance on the same store beside it (the connections split between the two).
async fn two_instances(
    spec: &ServerSpec<'_>,
    first: std::net::SocketAddr,
    queries: &[Query],
    concurrency: usize,
) -> anyhow::Result<(LoadResult, LoadResult)> {
    let requests: Vec<(String, Vec<u8>)> = queries
        .iter()
        .map(|q| ("/v1/unread".to_owned(), json!({"accid": q.accid, "peers": q.peers}).to_string().into_bytes()))
        .collect();
    let requests = std::sync::Arc::new(requests);
    let (one, _) = load::post_json_to(&[first], requests.clone(), concurrency).await;
    let mut second = Server::spawn(spec)?;
    second.wait_ready(Duration::from_secs(60)).await?;
    let (two, _) = load::post_json_to(&[first, second.addr], requests, concurrency).await;
    second.stop().await?;
    Ok((one, two))
}

fn row(label: &str, l: &Latency) -> Vec<String> {
    vec![label.to_owned(), l.count.to_string(), ms(l.p50), ms(l.p99), ms(l.max), ms(l.mean)]
}

pub(crate) fn buyer(reader: usize) -> String {
    format!("buyer_{reader:05}")
}

pub(crate) fn shop(peer: usize) -> String {
    format!("shop_{peer:05}")
}

/// Write the layout through `MessageStore::apply` (what the service would have stored), in
/// batches; then one read receipt per even pair covering its first half.
async fn seed(store: &dyn MessageStore, layout: Layout, batch: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    let parser = Parser::new()?;
    let first_key = corpus::random_first_key();
    let base_ms = i64::try_from(imbridge_netease::sign::now_millis())? - 30 * 24 * 3600 * 1000;
    let sent_at = |i: usize| base_ms + i64::try_from(i).unwrap_or(0) * 10;
    let mut applied = Vec::with_capacity(batch);
    for i in 0..layout.messages {
        let pair = i % layout.pairs;
        let (b, s) = (buyer(pair / layout.peers), shop(pair % layout.peers));
        let (from, to) = if i % 5 == 4 { (&b, &s) } else { (&s, &b) };
        let body =
            ChatMessage { key: first_key + i as u64, from, to, sent_at_ms: sent_at(i), text: "is it in stock?" }.body();
        applied.push(parser.applied(&body)?);
        if applied.len() == batch {
            store.apply(&applied).await.context("seed messages")?;
            applied.clear();
        }
    }
    if !applied.is_empty() {
        store.apply(&applied).await.context("seed messages")?;
        applied.clear();
    }
    println!("  seeded {} messages in {:.1} s", layout.messages, started.elapsed().as_secs_f64());
    let receipts_started = Instant::now();
    // Pair p's messages are i = p, p + K, p + 2K, ...; its median is at i = p + K * (per_pair / 2).
    let per_pair = layout.messages / layout.pairs;
    for pair in (0..layout.pairs).step_by(2) {
        let up_to = sent_at(pair + layout.pairs * (per_pair / 2));
        let body = corpus::read_receipt_body(&buyer(pair / layout.peers), &shop(pair % layout.peers), up_to);
        applied.push(parser.applied(&body)?);
        if applied.len() == batch {
            store.apply(&applied).await.context("seed receipts")?;
            applied.clear();
        }
    }
    if !applied.is_empty() {
        store.apply(&applied).await.context("seed receipts")?;
    }
    println!(
        "  seeded {} read receipts in {:.1} s",
        layout.pairs.div_ceil(2),
        receipts_started.elapsed().as_secs_f64()
    );
    Ok(())
}

pub(crate) struct Query {
    pub(crate) accid: String,
    pub(crate) peers: Vec<String>,
}

/// Random buyers among `readers` (fixed seed: both paths and every run ask the same questions),
/// each with all its `peers` shops.
pub(crate) fn random_queries(readers: usize, peers: usize, count: usize) -> Vec<Query> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(2024);
    let peers: Vec<String> = (0..peers).map(shop).collect();
    (0..count).map(|_| Query { accid: buyer(rng.gen_range(0..readers)), peers: peers.clone() }).collect()
}

/// The same numbers both ways, or the comparison means nothing.
pub(crate) fn check_agreement(raw: &[u64], http: &[u64]) -> anyhow::Result<()> {
    ensure!(raw.len() == http.len(), "{} raw answers, {} HTTP answers", raw.len(), http.len());
    for (i, (raw, http)) in raw.iter().zip(http).enumerate() {
        ensure!(raw == http, "query {i}: the store says {raw} unread, the API says {http}");
    }
    Ok(())
}

/// Latency of the measured queries (those after the first `warmup`) and every measured query's total.
pub(crate) async fn raw_queries(
    store: &dyn MessageStore,
    queries: &[Query],
    warmup: usize,
) -> anyhow::Result<(Latency, Vec<u64>)> {
    let mut latencies = Vec::with_capacity(queries.len());
    let mut totals = Vec::with_capacity(queries.len());
    for (i, q) in queries.iter().enumerate() {
        let started = Instant::now();
        let counts = store.unread(&q.accid, &q.peers).await.context("unread")?;
        let took = started.elapsed();
        if i >= warmup {
            latencies.push(took);
            totals.push(counts.values().sum());
        }
    }
    Ok((Latency::of(latencies), totals))
}

/// [`raw_queries`] through `POST /v1/unread`, one connection, one query at a time.
pub(crate) async fn http_queries(
    addr: std::net::SocketAddr,
    queries: &[Query],
    warmup: usize,
) -> anyhow::Result<(Latency, Vec<u64>)> {
    let mut conn = Connection::open(addr).await?;
    let mut latencies = Vec::with_capacity(queries.len());
    let mut totals = Vec::with_capacity(queries.len());
    for (i, q) in queries.iter().enumerate() {
        let body = json!({"accid": q.accid, "peers": q.peers}).to_string();
        let started = Instant::now();
        let response =
            conn.send("POST", "/v1/unread", &[("Content-Type", "application/json")], body.as_bytes()).await?;
        let took = started.elapsed();
        if response.status != 200 {
            bail!("POST /v1/unread answered {}: {}", response.status, String::from_utf8_lossy(&response.body));
        }
        let reply: Value = serde_json::from_slice(&response.body)?;
        if i >= warmup {
            latencies.push(took);
            totals.push(reply["total"].as_u64().context("no total in the reply")?);
        }
    }
    Ok((Latency::of(latencies), totals))
}

//! P6, inbox: the first page (50) of `GET /v1/conversations` for a seller with C conversations
//! among M stored messages, against the raw store query behind it (`MessageStore::conversation_page`,
//! no HTTP) on the same data, one request at a time.
//!
//! Layout: the measured seller has C buyers with `--per-conversation` messages each (4 in 5 from the
//! buyer), and has read all but the last two of each (one receipt per conversation), so its unread
//! total is about 2 x C; the rest of the M messages are filler among other pairs.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use clap::Args;
use imbridge::messages::{ConversationPage, MessageStore};
use serde_json::Value;

use crate::corpus::{self, ChatMessage, Parser};
use crate::http1::Connection;
use crate::server::{self, ScratchDir, Server, ServerSpec};
use crate::stats::{ms, ratio, Latency, Table};
use crate::stores::{StoreKind, StoreTarget};

#[derive(Debug, Args)]
pub struct P6Args {
    #[arg(long, value_enum, default_value = "embedded")]
    pub store: StoreKind,
    /// Stored messages in all (default 1 000 000 embedded, 20 000 MongoDB).
    #[arg(long)]
    pub messages: Option<usize>,
    /// The measured seller's conversations (default 10 000 embedded, 1 000 MongoDB).
    #[arg(long)]
    pub conversations: Option<usize>,
    /// Messages per conversation of the seller.
    #[arg(long, default_value_t = 10)]
    pub per_conversation: usize,
    /// Measured requests per path.
    #[arg(long, default_value_t = 1_000)]
    pub queries: usize,
    #[arg(long, default_value_t = 1_000)]
    pub seed_batch: usize,
    #[arg(long)]
    pub mongo_uri: Option<String>,
    #[arg(long)]
    pub server_bin: Option<std::path::PathBuf>,
    /// Another service binary (an older tree's) to measure on the same seeded store, interleaved
    /// with this one, so an A/B needs one seeding.
    #[arg(long)]
    pub baseline_bin: Option<std::path::PathBuf>,
    /// How many times each service binary is measured (interleaved when there are two).
    #[arg(long, default_value_t = 1)]
    pub rounds: usize,
}

pub(crate) const SELLER: &str = "seller_00000";
pub(crate) const PAGE: usize = 50;

/// The seller's c-th customer.
pub(crate) fn customer(c: usize) -> String {
    format!("buyer_{c:05}")
}

pub async fn run(args: P6Args) -> anyhow::Result<()> {
    let mongo = args.store == StoreKind::Mongo;
    let messages = args.messages.unwrap_or(if mongo { 20_000 } else { 1_000_000 });
    let conversations = args.conversations.unwrap_or(if mongo { 1_000 } else { 10_000 });
    let own = conversations * args.per_conversation;
    ensure!(own <= messages, "--messages must hold the seller's {own} messages");
    let binary = server::server_binary(args.server_bin.as_deref())?;
    let baseline = args.baseline_bin.as_deref().map(|b| server::server_binary(Some(b))).transpose()?;
    println!(
        "P6 inbox: {messages} messages, the seller has {conversations} conversations of {} messages, {:?} store",
        args.per_conversation, args.store
    );
    let scratch = ScratchDir::new("p6")?;
    let target = StoreTarget::fresh(args.store, &scratch.path().join("data"), args.mongo_uri.as_deref())?;
    println!("store: {}", target.describe());
    let binaries: Vec<(String, std::path::PathBuf)> = baseline
        .map(|b| (format!("baseline {}", b.display()), b))
        .into_iter()
        .chain([("this tree".to_owned(), binary)])
        .collect();
    let outcome = measure(&args, messages, conversations, &binaries, scratch.path(), &target).await;
    target.discard().await?;
    outcome
}

async fn measure(
    args: &P6Args,
    messages: usize,
    conversations: usize,
    binaries: &[(String, std::path::PathBuf)],
    dir: &std::path::Path,
    target: &StoreTarget,
) -> anyhow::Result<()> {
    let store = target.open().await?;
    let started = Instant::now();
    seed(store.as_ref(), messages, conversations, args.per_conversation, args.seed_batch).await?;
    println!("seeded in {:.1} s", started.elapsed().as_secs_f64());

    let warmup = args.queries / 10;
    let raw = raw_pages(store.as_ref(), SELLER, args.queries, warmup).await?;

    let mut table = Table::new(&["path", "requests", "p50", "p99", "max", "mean"]);
    let row = |table: &mut Table, label: String, l: &Latency| {
        table.row(vec![label, l.count.to_string(), ms(l.p50), ms(l.p99), ms(l.max), ms(l.mean)])
    };
    row(&mut table, "raw MessageStore::conversation_page (no HTTP)".to_owned(), &raw);
    let mut last = None;
    for round in 1..=args.rounds.max(1) {
        for (name, binary) in binaries {
            let (http, total_unread) = http_run(binary, dir, target, args.queries, warmup).await?;
            let label = format!("GET /v1/conversations (HTTP), {name}, round {round}");
            println!("{label}: p50 {}, p99 {}", ms(http.p50), ms(http.p99));
            row(&mut table, label, &http);
            last = Some((name.clone(), http, total_unread));
        }
    }
    println!();
    table.print();
    println!();
    if let Some((name, http, total_unread)) = last {
        println!(
            "HTTP p99 ({name}, last round) = {}; HTTP p99 / raw p99 = {} (target: <= 10 ms embedded, <= 1.5x raw on MongoDB); the seller's total unread {total_unread}",
            ms(http.p99),
            ratio(http.p99.as_secs_f64(), raw.p99.as_secs_f64())
        );
    }
    Ok(())
}

/// One service binary on the seeded store: [`http_pages`] between its start and its stop.
async fn http_run(
    binary: &std::path::Path,
    dir: &std::path::Path,
    target: &StoreTarget,
    queries: usize,
    warmup: usize,
) -> anyhow::Result<(Latency, u64)> {
    let sim = server::simulator(0).await?;
    let spec = ServerSpec { binary, dir, netease_base_url: &sim.base_url(), env: target.server_env() };
    let mut service = Server::spawn(&spec)?;
    let http = async {
        service.wait_ready(Duration::from_secs(60)).await?;
        http_pages(service.addr, SELLER, queries, warmup).await
    }
    .await;
    let log = service.log_tail();
    service.stop().await?;
    sim.shutdown().await;
    http.with_context(|| format!("the service said:\n{log}"))
}

/// `owner`'s first page (of [`PAGE`], one more row asked to know there is a next page) from the
/// raw store query, `warmup` times unmeasured and then `measured` times.
pub(crate) async fn raw_pages(
    store: &dyn MessageStore,
    owner: &str,
    measured: usize,
    warmup: usize,
) -> anyhow::Result<Latency> {
    let mut latencies = Vec::with_capacity(measured);
    for i in 0..warmup + measured {
        let page = ConversationPage { as_of_ms: i64::MAX, after: None, limit: PAGE + 1, peers: None };
        let started = Instant::now();
        let rows = store.conversation_page(owner, &page).await?;
        let took = started.elapsed();
        ensure!(rows.len() == PAGE + 1, "the raw page has {} rows", rows.len());
        if i >= warmup {
            latencies.push(took);
        }
    }
    Ok(Latency::of(latencies))
}

/// [`raw_pages`] through `GET /v1/conversations` (one connection, one request at a time); also
/// returns the owner's total unread from the last answer.
pub(crate) async fn http_pages(
    addr: std::net::SocketAddr,
    owner: &str,
    measured: usize,
    warmup: usize,
) -> anyhow::Result<(Latency, u64)> {
    let mut conn = Connection::open(addr).await?;
    let mut latencies = Vec::with_capacity(measured);
    let mut total_unread = 0;
    let path = format!("/v1/conversations?accid={owner}&limit={PAGE}");
    for i in 0..warmup + measured {
        let started = Instant::now();
        let response = conn.send("GET", &path, &[], b"").await?;
        let took = started.elapsed();
        if response.status != 200 {
            bail!("GET /v1/conversations answered {}: {}", response.status, String::from_utf8_lossy(&response.body));
        }
        let reply: Value = serde_json::from_slice(&response.body)?;
        ensure!(reply["conversations"].as_array().map(Vec::len) == Some(PAGE), "a page of {PAGE}");
        total_unread = reply["total_unread"].as_u64().context("total_unread")?;
        if i >= warmup {
            latencies.push(took);
        }
    }
    Ok((Latency::of(latencies), total_unread))
}

async fn seed(
    store: &dyn MessageStore,
    messages: usize,
    conversations: usize,
    per_conversation: usize,
    batch: usize,
) -> anyhow::Result<()> {
    let parser = Parser::new()?;
    let first_key = corpus::random_first_key();
    let base_ms = i64::try_from(imbridge_netease::sign::now_millis())? - 30 * 24 * 3600 * 1000;
    let sent_at = |i: usize| base_ms + i64::try_from(i).unwrap_or(0) * 10;
    let own = conversations * per_conversation;
    let mut applied = Vec::with_capacity(batch);
    let flush = |applied: &mut Vec<_>| {
        let batch = std::mem::take(applied);
        async move { store.apply(&batch).await.map(|_| ()) }
    };
    for i in 0..messages {
        let (from, to) = if i < own {
            let b = customer(i % conversations);
            if i % 5 == 4 {
                (SELLER.to_owned(), b)
            } else {
                (b, SELLER.to_owned())
            }
        } else {
            let pair = i % 50_000;
            (format!("other_a{pair:05}"), format!("other_b{pair:05}"))
        };
        let body =
            ChatMessage { key: first_key + i as u64, from: &from, to: &to, sent_at_ms: sent_at(i), text: "hi" }.body();
        applied.push(parser.applied(&body)?);
        if applied.len() == batch {
            flush(&mut applied).await.context("seed messages")?;
        }
    }
    // The seller has read each conversation up to its last two messages.
    for c in 0..conversations {
        let up_to = sent_at(c + conversations * per_conversation.saturating_sub(3));
        applied.push(parser.applied(&corpus::read_receipt_body(SELLER, &customer(c), up_to))?);
        if applied.len() == batch {
            flush(&mut applied).await.context("seed receipts")?;
        }
    }
    if !applied.is_empty() {
        flush(&mut applied).await.context("seed")?;
    }
    Ok(())
}

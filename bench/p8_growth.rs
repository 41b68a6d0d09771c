//! P8, cost growth: one store grown in stages to each of `--sizes` stored messages. After every
//! stage: P2's unread query and P6's inbox page, each through the raw store call and through the
//! service, and the rate at which the stage was seeded. The question is whether the cost stays flat
//! (or grows like the logarithm of the store) as history piles up.
//!
//! Layout, fixed for the whole run so that a bigger store means longer histories, not more pairs:
//! - P2's pairs: B buyers x P shops (default 100 x 100 = 10 000 pairs). A query asks for one random
//!   buyer and its P shops (the same fixed-seed buyers at every stage). 4 in 5 messages of a pair go
//!   shop -> buyer.
//! - P6's: one seller (`seller_00000`) with C conversations (default 10 000); 4 in 5 messages go
//!   buyer -> seller. A request asks for the seller's first page of 50.
//!
//! The two sets take turns in proportion to their sizes: message i of the store goes to pair slot
//! i mod (B x P + C), so a stage of n messages adds about n / (B x P + C) to every pair's history
//! (the default sizes give 0.5, 5, 50 and 500 messages per pair). After its messages, a stage
//! applies one read receipt per pair that received at least two, covering the first half of what
//! the pair received in this stage (and so everything before it). The second half of each stage
//! stays unread: the unread messages grow with the stage (about 0.4 x its messages), which the
//! table shows as the mean unread total per P2 query and the seller's total unread. With
//! `--unread-tail N` the receipt covers all but the pair's last N new messages instead, so what is
//! unread stays the same size at every stage and only the history grows.
//!
//! Seeding goes through `MessageStore::apply` in batches, as P2 and P6 seed. A blocking thread builds
//! and parses the next batches while the current one is written; the stage's rate is its messages
//! divided by the time spent inside `apply` (its messages and its receipts), so it is the store's
//! rate, not the bench's JSON building. The service is started on the store after each stage,
//! measured, and stopped before the next stage is seeded: every size is measured by a fresh process
//! and no service runs while the bench writes (the raw-store calls come from this process, on the
//! same store, as in P2 and P6).
//!
//! After every stage the table so far is printed, and the SVG plot and its CSV are rewritten, so a
//! long run that is stopped keeps its finished stages.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use clap::Args;
use imbridge::messages::{CallbackRecord, MessageStore};
use tokio::sync::mpsc;

use crate::corpus::{self, ChatMessage, Parser};
use crate::p2_unread::{self, buyer, shop};
use crate::p6_inbox::{self, customer, PAGE, SELLER};
use crate::plot::{self, Panel, Scale, Series};
use crate::server::{self, ScratchDir, Server, ServerSpec};
use crate::stats::{ms, Latency, Table};
use crate::stores::{self, StoreKind, StoreTarget};

#[derive(Debug, Args)]
pub struct P8Args {
    #[arg(long, value_enum, default_value = "embedded")]
    pub store: StoreKind,
    /// Stored messages after each stage, ascending (default 10000,100000,1000000,10000000 embedded;
    /// 2000,10000,20000 MongoDB, where SecantusDB takes ~0.2 s per read receipt: see P2).
    #[arg(long, value_delimiter = ',')]
    pub sizes: Vec<usize>,
    /// P2's buyers, each with --peers shops (default 100 embedded, 2 MongoDB).
    #[arg(long)]
    pub buyers: Option<usize>,
    /// Shops per buyer, and peers per unread query.
    #[arg(long, default_value_t = 100)]
    pub peers: usize,
    /// P6's seller's conversations (default 10 000 embedded, 200 MongoDB).
    #[arg(long)]
    pub conversations: Option<usize>,
    /// Measured queries per path and stage (default 500 embedded, 50 MongoDB).
    #[arg(long)]
    pub queries: Option<usize>,
    /// Queries per path before measuring (default a tenth of --queries).
    #[arg(long)]
    pub warmup: Option<usize>,
    /// Callbacks per `apply` while seeding.
    #[arg(long, default_value_t = 1_000)]
    pub seed_batch: usize,
    /// Each stage's receipt leaves only the pair's last N new messages unread instead of the second
    /// half, so the unread messages stay bounded while the history grows (history's own cost,
    /// without the growth of what is unread).
    #[arg(long)]
    pub unread_tail: Option<usize>,
    /// Where the SVG goes; the CSV of the same numbers goes next to it (same name, `.csv`).
    #[arg(long, default_value = "bench/p8-growth.svg")]
    pub plot: PathBuf,
    /// Embedded store only: keep the store here; a later run with the same layout goes on from the
    /// largest size seeded so far (stages already there are measured again, not seeded).
    #[arg(long)]
    pub keep_dir: Option<PathBuf>,
    #[arg(long)]
    pub mongo_uri: Option<String>,
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
}

/// Who talks to whom: P2's buyers x shops and P6's seller's conversations, interleaved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    buyers: usize,
    peers: usize,
    conversations: usize,
    /// `--unread-tail`: None leaves half of each stage unread.
    unread_tail: Option<usize>,
}

impl Layout {
    fn unread_pairs(&self) -> usize {
        self.buyers * self.peers
    }

    fn pairs(&self) -> usize {
        self.unread_pairs() + self.conversations
    }

    /// Pair slot `q` as (reader, peer). Slot q is one of P2's pairs when the count of P2 pairs
    /// among slots 0..=q, floor((q + 1) x U / T), steps up at q; the others are the seller's, in
    /// order. P2 pair j is buyer j mod B with shop j / B, so a partly filled first stage reaches
    /// every buyer.
    fn pair(&self, q: usize) -> (String, String) {
        let (u, t) = (self.unread_pairs(), self.pairs());
        let before = q * u / t;
        if (q + 1) * u / t > before {
            (buyer(before % self.buyers), shop(before / self.buyers))
        } else {
            (SELLER.to_owned(), customer(q - before))
        }
    }

    /// The seller's conversations once `messages` are stored.
    fn conversations_within(&self, messages: usize) -> usize {
        let n = messages.min(self.pairs());
        n - n * self.unread_pairs() / self.pairs()
    }

    /// How many of a pair's `new` messages of a stage its receipt covers (the first ones).
    fn read_of(&self, new: usize) -> usize {
        match self.unread_tail {
            None => new / 2,
            Some(tail) => new.saturating_sub(tail),
        }
    }

    fn marker(&self, seed: &Seed, seeded: usize) -> String {
        let tail = self.unread_tail.map_or(-1, |t| t as i64);
        format!(
            "buyers={} peers={} conversations={} unread_tail={tail} first_key={} base_ms={} seeded={seeded}\n",
            self.buyers, self.peers, self.conversations, seed.first_key, seed.base_ms
        )
    }
}

/// What makes message i the same message in every run over a kept store.
#[derive(Debug, Clone, Copy)]
struct Seed {
    first_key: u64,
    base_ms: i64,
}

impl Seed {
    fn sent_at(&self, i: usize) -> i64 {
        self.base_ms + i64::try_from(i).unwrap_or(i64::MAX / 20) * 10
    }
}

/// One stage's seeding (none when a kept store already held it).
#[derive(Debug, Clone, Copy, Default)]
struct Seeding {
    messages: usize,
    receipts: usize,
    /// Time inside `MessageStore::apply`, messages and receipts.
    apply: Duration,
    receipts_apply: Duration,
    wall: Duration,
}

impl Seeding {
    fn rate(&self) -> f64 {
        self.messages as f64 / self.apply.as_secs_f64().max(1e-9)
    }
}

struct Stage {
    size: usize,
    seeding: Option<Seeding>,
    p2_raw: Latency,
    p2_http: Latency,
    p6_raw: Latency,
    p6_http: Latency,
    mean_unread: f64,
    seller_unread: u64,
}

pub async fn run(args: P8Args) -> anyhow::Result<()> {
    let mongo = args.store == StoreKind::Mongo;
    let sizes = if !args.sizes.is_empty() {
        args.sizes.clone()
    } else if mongo {
        vec![2_000, 10_000, 20_000]
    } else {
        vec![10_000, 100_000, 1_000_000, 10_000_000]
    };
    let layout = Layout {
        buyers: args.buyers.unwrap_or(if mongo { 2 } else { 100 }),
        peers: args.peers,
        conversations: args.conversations.unwrap_or(if mongo { 200 } else { 10_000 }),
        unread_tail: args.unread_tail,
    };
    ensure!(sizes.windows(2).all(|w| w[0] < w[1]) && sizes[0] > 0, "--sizes must be ascending and positive");
    ensure!(layout.buyers > 0 && layout.peers > 0 && args.seed_batch > 0, "--buyers, --peers, --seed-batch > 0");
    ensure!(
        layout.conversations_within(sizes[0]) > PAGE,
        "the first size gives the seller {} conversations; the inbox page needs more than {PAGE}",
        layout.conversations_within(sizes[0])
    );
    ensure!(args.keep_dir.is_none() || !mongo, "--keep-dir is for the embedded store");
    let binary = server::server_binary(args.server_bin.as_deref())?;
    println!(
        "P8 cost growth: one {:?} store grown to {sizes:?} messages; {} pairs: {} buyers x {} shops (P2) \
         and a seller with {} conversations (P6), interleaved; each stage's receipts leave {}",
        args.store,
        layout.pairs(),
        layout.buyers,
        layout.peers,
        layout.conversations,
        layout.unread_tail.map_or("its second half unread".to_owned(), |t| format!("the last {t} per pair unread"))
    );

    let scratch;
    let dir: &Path = match &args.keep_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            dir
        }
        None => {
            scratch = ScratchDir::new("p8")?;
            scratch.path()
        }
    };
    let target = StoreTarget::fresh(args.store, &dir.join("data"), args.mongo_uri.as_deref())?;
    println!("store: {}", target.describe());
    let outcome = grow(&args, layout, &sizes, &binary, dir, &target).await;
    if args.keep_dir.is_none() {
        target.discard().await?;
    }
    outcome
}

async fn grow(
    args: &P8Args,
    layout: Layout,
    sizes: &[usize],
    binary: &Path,
    dir: &Path,
    target: &StoreTarget,
) -> anyhow::Result<()> {
    let store = target.open().await?;
    let marker = dir.join("p8-seed.txt");
    let (seed, mut seeded) = match resume(&marker, layout)? {
        Some((seed, seeded)) => {
            println!("going on from the {seeded} messages kept in {}", dir.display());
            (seed, seeded)
        }
        None => {
            ensure!(
                store.raw_count().await? == 0,
                "{} holds a store seeded with another layout; remove it or choose another --keep-dir",
                dir.display()
            );
            let base_ms = i64::try_from(imbridge_netease::sign::now_millis())? - 30 * 24 * 3600 * 1000;
            (Seed { first_key: corpus::random_first_key(), base_ms }, 0)
        }
    };
    let measured = args.queries.unwrap_or(if args.store == StoreKind::Mongo { 50 } else { 500 });
    let warmup = args.warmup.unwrap_or(measured / 10);
    let queries = p2_unread::random_queries(layout.buyers, layout.peers, warmup + measured);
    let sim = server::simulator(0).await?;
    let spec = ServerSpec { binary, dir, netease_base_url: &sim.base_url(), env: target.server_env() };
    let csv = args.plot.with_extension("csv");

    let outcome = async {
        let mut stages = Vec::new();
        for &size in sizes {
            let seeding = if size > seeded {
                let s = seed_stage(store.clone(), layout, seed, seeded..size, args.seed_batch).await?;
                seeded = size;
                if args.keep_dir.is_some() {
                    std::fs::write(&marker, layout.marker(&seed, seeded))?;
                }
                println!(
                    "stage {size}: seeded {} messages and {} receipts: {:.0} messages/s inside apply \
                 ({:.1} s, of which receipts {:.1} s; {:.1} s wall){}",
                    s.messages,
                    s.receipts,
                    s.rate(),
                    s.apply.as_secs_f64(),
                    s.receipts_apply.as_secs_f64(),
                    s.wall.as_secs_f64(),
                    store_size(target)
                );
                Some(s)
            } else {
                println!("stage {size}: already in the kept store");
                None
            };
            stages.push(measure(store.as_ref(), &spec, &queries, measured, warmup, size, seeding).await?);
            println!();
            table(&stages).print();
            println!();
            write_outputs(&args.plot, &csv, layout, &stages)?;
        }
        anyhow::Ok(())
    }
    .await;
    sim.shutdown().await;
    outcome?;
    println!(
        "P2: {measured} queries per path and stage after {warmup} warm-ups, raw and HTTP totals equal on every \
         one; P6: {measured} pages of {PAGE} per path and stage"
    );
    println!("target: every p99 flat or logarithmic in the stored messages");
    println!("plot: {}; numbers: {}", args.plot.display(), csv.display());
    Ok(())
}

/// The seed and the messages stored so far, when `marker` describes a kept store of this layout.
fn resume(marker: &Path, layout: Layout) -> anyhow::Result<Option<(Seed, usize)>> {
    let Ok(text) = std::fs::read_to_string(marker) else {
        return Ok(None);
    };
    let field =
        |name: &str| text.split_whitespace().find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')).map(str::to_owned);
    let number = |name: &str| field(name).and_then(|v| v.parse::<i64>().ok());
    let kept = (number("buyers"), number("peers"), number("conversations"), number("unread_tail"));
    let tail = layout.unread_tail.map_or(-1, |t| t as i64);
    let ours = (Some(layout.buyers as i64), Some(layout.peers as i64), Some(layout.conversations as i64), Some(tail));
    if kept != ours {
        return Ok(None);
    }
    let first_key = field("first_key").and_then(|v| v.parse().ok()).context("first_key in the marker")?;
    let base_ms = number("base_ms").context("base_ms in the marker")?;
    let seeded = number("seeded").context("seeded in the marker")?;
    Ok(Some((Seed { first_key, base_ms }, usize::try_from(seeded)?)))
}

/// Batches on their way from the building thread to `apply`.
enum Batch {
    Messages(Vec<CallbackRecord>),
    Receipts(Vec<CallbackRecord>),
}

/// Store messages `range` (message i to pair slot i mod pairs), then the stage's receipts.
async fn seed_stage(
    store: std::sync::Arc<dyn MessageStore>,
    layout: Layout,
    seed: Seed,
    range: std::ops::Range<usize>,
    batch: usize,
) -> anyhow::Result<Seeding> {
    let (tx, mut rx) = mpsc::channel(4);
    let builder = tokio::task::spawn_blocking(move || build(layout, seed, range, batch, &tx));
    let started = Instant::now();
    let mut seeding = Seeding::default();
    while let Some(next) = rx.recv().await {
        let (records, receipts) = match &next {
            Batch::Messages(r) => (r, false),
            Batch::Receipts(r) => (r, true),
        };
        let applying = Instant::now();
        store.apply(records).await.context(if receipts { "seed receipts" } else { "seed messages" })?;
        let took = applying.elapsed();
        seeding.apply += took;
        if receipts {
            seeding.receipts += records.len();
            seeding.receipts_apply += took;
        } else {
            seeding.messages += records.len();
        }
    }
    builder.await.context("the batch builder panicked")??;
    seeding.wall = started.elapsed();
    Ok(seeding)
}

/// Runs on a blocking thread: the stage's messages, then its receipts, in batches of `batch`.
fn build(
    layout: Layout,
    seed: Seed,
    range: std::ops::Range<usize>,
    batch: usize,
    tx: &mpsc::Sender<Batch>,
) -> anyhow::Result<()> {
    let parser = Parser::new()?;
    let pairs = layout.pairs();
    let names: Vec<(String, String)> = (0..pairs).map(|q| layout.pair(q)).collect();
    let mut records = Vec::with_capacity(batch);
    // A closed channel means the consumer failed; it reports why.
    let send = |records: &mut Vec<CallbackRecord>, receipts: bool| {
        let full = std::mem::replace(records, Vec::with_capacity(batch));
        tx.blocking_send(if receipts { Batch::Receipts(full) } else { Batch::Messages(full) }).is_ok()
    };
    for i in range.clone() {
        let (reader, peer) = &names[i % pairs];
        // The reader's own messages: the 5th, 10th, ... of the pair's history.
        let (from, to) = if (i / pairs) % 5 == 4 { (reader, peer) } else { (peer, reader) };
        let key = seed.first_key + i as u64;
        let body = ChatMessage { key, from, to, sent_at_ms: seed.sent_at(i), text: "is it in stock?" }.body();
        records.push(parser.applied(&body)?);
        if records.len() == batch && !send(&mut records, false) {
            return Ok(());
        }
    }
    if !records.is_empty() && !send(&mut records, false) {
        return Ok(());
    }
    for (q, (reader, peer)) in names.iter().enumerate() {
        // The pair's messages in this stage: first, first + pairs, ... below range.end.
        let first = range.start + (q + pairs - range.start % pairs) % pairs;
        let count = if first < range.end { (range.end - 1 - first) / pairs + 1 } else { 0 };
        let read = layout.read_of(count);
        if read == 0 {
            continue;
        }
        let last_read = first + (read - 1) * pairs;
        records.push(parser.applied(&corpus::read_receipt_body(reader, peer, seed.sent_at(last_read)))?);
        if records.len() == batch && !send(&mut records, true) {
            return Ok(());
        }
    }
    if !records.is_empty() {
        send(&mut records, true);
    }
    Ok(())
}

/// Both queries, raw and through a service started for this stage.
async fn measure(
    store: &dyn MessageStore,
    spec: &ServerSpec<'_>,
    queries: &[p2_unread::Query],
    measured: usize,
    warmup: usize,
    size: usize,
    seeding: Option<Seeding>,
) -> anyhow::Result<Stage> {
    let (p2_raw, raw_totals) = p2_unread::raw_queries(store, queries, warmup).await?;
    let p6_raw = p6_inbox::raw_pages(store, SELLER, measured, warmup).await?;
    let mut service = Server::spawn(spec)?;
    let http = async {
        // A fresh process on a store of millions: opening it is what P5 measures, so wait generously.
        service.wait_ready(Duration::from_secs(300)).await?;
        let p2 = p2_unread::http_queries(service.addr, queries, warmup).await?;
        let p6 = p6_inbox::http_pages(service.addr, SELLER, measured, warmup).await?;
        anyhow::Ok((p2, p6))
    }
    .await;
    let log = service.log_tail();
    service.stop().await?;
    let ((p2_http, http_totals), (p6_http, seller_unread)) =
        http.with_context(|| format!("stage {size}; the service said:\n{log}"))?;
    p2_unread::check_agreement(&raw_totals, &http_totals)?;
    let mean_unread = raw_totals.iter().sum::<u64>() as f64 / raw_totals.len().max(1) as f64;
    Ok(Stage { size, seeding, p2_raw, p2_http, p6_raw, p6_http, mean_unread, seller_unread })
}

/// ", store files 1.2 GiB" for the embedded store (the database with its WAL).
fn store_size(target: &StoreTarget) -> String {
    let StoreTarget::Embedded { data_dir } = target else {
        return String::new();
    };
    let file = stores::embedded_file(data_dir);
    let wal = file.with_extension("db-wal");
    let bytes: u64 = [file, wal].iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
    format!("; store files {:.2} GiB", bytes as f64 / f64::from(1u32 << 30))
}

fn table(stages: &[Stage]) -> Table {
    let mut table = Table::new(&[
        "stored messages",
        "seeding msgs/s",
        "P2 raw p50",
        "P2 raw p99",
        "P2 HTTP p50",
        "P2 HTTP p99",
        "P6 raw p50",
        "P6 raw p99",
        "P6 HTTP p50",
        "P6 HTTP p99",
        "unread/query",
        "seller unread",
    ]);
    for s in stages {
        table.row(vec![
            s.size.to_string(),
            s.seeding.map_or("(kept)".to_owned(), |x| format!("{:.0}", x.rate())),
            ms(s.p2_raw.p50),
            ms(s.p2_raw.p99),
            ms(s.p2_http.p50),
            ms(s.p2_http.p99),
            ms(s.p6_raw.p50),
            ms(s.p6_raw.p99),
            ms(s.p6_http.p50),
            ms(s.p6_http.p99),
            format!("{:.0}", s.mean_unread),
            s.seller_unread.to_string(),
        ]);
    }
    table
}

fn write_outputs(svg: &Path, csv: &Path, layout: Layout, stages: &[Stage]) -> anyhow::Result<()> {
    let unread = layout
        .unread_tail
        .map_or("half of each stage left unread".to_owned(), |t| format!("all but the last {t} per pair read"));
    let millis = |d: Duration| d.as_secs_f64() * 1000.0;
    let series = |name: &str, p99: fn(&Stage) -> Duration| Series {
        name: name.to_owned(),
        points: stages.iter().map(|s| (s.size as f64, millis(p99(s)))).collect(),
    };
    let latency = Panel {
        title: format!("p99, one request at a time; {unread}"),
        x_label: "stored messages (log scale)".into(),
        y_label: "p99 (ms, log scale)".into(),
        x_scale: Scale::Log,
        // The paths differ by orders of magnitude; on a log scale each one's growth stays visible.
        y_scale: Scale::Log,
        y_from_zero: false,
        series: vec![
            series("P2 unread, raw store", |s| s.p2_raw.p99),
            series("P2 POST /v1/unread", |s| s.p2_http.p99),
            series("P6 inbox, raw store", |s| s.p6_raw.p99),
            series("P6 GET /v1/conversations", |s| s.p6_http.p99),
        ],
    };
    let seeding = Panel {
        title: "seeding rate of each stage (inside MessageStore::apply)".into(),
        x_label: "stored messages at the end of the stage (log scale)".into(),
        y_label: "messages/s".into(),
        x_scale: Scale::Log,
        y_scale: Scale::Linear,
        y_from_zero: true,
        series: vec![Series {
            name: "messages/s inside apply".into(),
            points: stages.iter().filter_map(|s| Some((s.size as f64, s.seeding?.rate()))).collect(),
        }],
    };
    let title = format!(
        "P8 cost growth: {} buyers x {} shops + a seller with {} conversations",
        layout.buyers, layout.peers, layout.conversations
    );
    plot::write_svg(svg, &title, &[latency, seeding])?;

    let header = [
        "stored_messages",
        "messages_per_pair",
        "stage_messages",
        "stage_receipts",
        "seed_apply_s",
        "seed_receipts_apply_s",
        "seed_wall_s",
        "seed_messages_per_s",
        "p2_raw_p50_ms",
        "p2_raw_p99_ms",
        "p2_http_p50_ms",
        "p2_http_p99_ms",
        "p6_raw_p50_ms",
        "p6_raw_p99_ms",
        "p6_http_p50_ms",
        "p6_http_p99_ms",
        "p2_mean_unread_per_query",
        "p6_seller_unread",
    ];
    let f3 = |d: Duration| format!("{:.3}", millis(d));
    let rows: Vec<Vec<String>> = stages
        .iter()
        .map(|s| {
            let seeded = s.seeding.unwrap_or_default();
            let known = |text: String| if s.seeding.is_some() { text } else { String::new() };
            vec![
                s.size.to_string(),
                format!("{:.1}", s.size as f64 / layout.pairs() as f64),
                known(seeded.messages.to_string()),
                known(seeded.receipts.to_string()),
                known(format!("{:.2}", seeded.apply.as_secs_f64())),
                known(format!("{:.2}", seeded.receipts_apply.as_secs_f64())),
                known(format!("{:.2}", seeded.wall.as_secs_f64())),
                known(format!("{:.0}", seeded.rate())),
                f3(s.p2_raw.p50),
                f3(s.p2_raw.p99),
                f3(s.p2_http.p50),
                f3(s.p2_http.p99),
                f3(s.p6_raw.p50),
                f3(s.p6_raw.p99),
                f3(s.p6_http.p50),
                f3(s.p6_http.p99),
                format!("{:.1}", s.mean_unread),
                s.seller_unread.to_string(),
            ]
        })
        .collect();
    plot::write_csv(csv, &header, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pair_gets_a_slot_and_the_sets_interleave() {
        let layout = Layout { buyers: 3, peers: 2, conversations: 6, unread_tail: None };
        let pairs: Vec<(String, String)> = (0..layout.pairs()).map(|q| layout.pair(q)).collect();
        let unique: std::collections::HashSet<_> = pairs.iter().collect();
        assert_eq!(unique.len(), 12);
        assert_eq!(pairs.iter().filter(|(r, _)| r == SELLER).count(), 6);
        // Equal sets alternate, so half a round reaches half of each.
        assert_eq!(layout.conversations_within(6), 3);
        assert!(pairs[..6].iter().filter(|(r, _)| r != SELLER).count() == 3);
        // The first P2 pairs reach every buyer before a buyer's second shop.
        let buyers: Vec<&String> = pairs.iter().filter(|(r, _)| r != SELLER).map(|(r, _)| r).take(3).collect();
        assert_eq!(buyers, [&buyer(0), &buyer(1), &buyer(2)]);
    }
}

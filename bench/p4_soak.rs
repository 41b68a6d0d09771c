//! P4 soak: the service's memory over a long steady mixed load, to see whether it levels off. C
//! keep-alive connections (default 64) each send their next request as soon as the previous answer
//! arrived, for `--minutes`. Request n of the run (one counter for all connections) is a
//! notification when n mod `--notify-every` is its last value (default 1 in 50: `POST
//! /v1/notifications` from `shop_00001` to `--recipients` random buyers, answered 202); otherwise,
//! by n mod 3, a signed NetEase callback (9 in 10 a chat message, 4 in 5 of those shop -> buyer;
//! 1 in 10 a read receipt by the buyer or the shop, so unread counts stay bounded as they do in
//! use: without them a shop's unread total, which every inbox page counts, grows all run), `POST
//! /v1/unread` for a random buyer and all its shops, or `GET /v1/conversations` (first page of 50)
//! for a random shop. Buyers 1 000, shops 100: every buyer talks to every shop over the run.
//!
//! The service's VmRSS and VmHWM are read from /proc/<pid>/status every `--sample-secs`, along with
//! the answers so far and, to tell where the memory is, its split into heap (`RssAnon`) and mapped
//! files (`RssFile` + `RssShmem`), and the part of the heap that SQLite holds (its page caches,
//! prepared statements and schemas; `imbridge_sqlite_heap_bytes` from `/metrics`, on a connection
//! of its own). The verdict compares the mean RSS of the last third of the run with the
//! middle third, and fits a line (least squares) through the last half for its slope in MiB/min.
//!
//! Quotas: this figure is about memory, not NetEase's frequency control, so the simulator runs
//! without quotas and the service's client-side quotas are raised out of the way. At 1 in 50 of a
//! few thousand requests a second, notifications would otherwise exceed NetEase's 120 batch sends a
//! minute, and the outbox (in the database, by design) would grow for the whole run; P3 measures
//! the quotas. The recipients exist in the simulator (its state file, as in P3).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use clap::Args;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::corpus::{self, ChatMessage};
use crate::http1::Connection;
use crate::machine::{process_memory_kib, process_rss_kib};
use crate::p2_unread::{buyer, shop};
use crate::p3_fanout::{simulator_with_accounts, SENDER};
use crate::p6_inbox::PAGE;
use crate::plot::{self, Panel, Scale, Series};
use crate::server::{self, ScratchDir, Server, ServerSpec};
use crate::stats::{ms, Latency, Table};
use crate::stores::{StoreKind, StoreTarget};

#[derive(Debug, Args)]
pub struct P4SoakArgs {
    /// How long the load runs.
    #[arg(long, default_value_t = 30.0)]
    pub minutes: f64,
    /// Concurrent keep-alive connections, each a closed loop.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Seconds between two readings of the service's memory.
    #[arg(long, default_value_t = 5)]
    pub sample_secs: u64,
    /// One request in this many is a notification.
    #[arg(long, default_value_t = 50)]
    pub notify_every: u64,
    /// Recipients per notification.
    #[arg(long, default_value_t = 3)]
    pub recipients: usize,
    #[arg(long, default_value_t = 1_000)]
    pub buyers: usize,
    #[arg(long, default_value_t = 100)]
    pub shops: usize,
    /// The run fails when more than this share of the answers is not the expected status.
    #[arg(long, default_value_t = 0.001)]
    pub max_failed_share: f64,
    /// Where the SVG goes; the CSV of the samples goes next to it (same name, `.csv`).
    #[arg(long, default_value = "bench/p4-soak.svg")]
    pub plot: PathBuf,
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
}

/// Quotas high enough never to wait (the service refuses 0).
const UNLIMITED: [(&str, &str); 2] =
    [("IMBRIDGE_NETEASE_RATE_PER_SECOND", "1000000"), ("IMBRIDGE_NETEASE_RATE_BATCH_PER_MINUTE", "60000000")];

/// Verdict thresholds: what "levels off" allows over the last part of the run.
const MAX_SLOPE_MIB_PER_MIN: f64 = 0.1;
const MAX_LAST_THIRD_GROWTH: f64 = 0.05;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Callback,
    Unread,
    Inbox,
    Notification,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Callback => "POST /callbacks/netease",
            Kind::Unread => "POST /v1/unread",
            Kind::Inbox => "GET /v1/conversations",
            Kind::Notification => "POST /v1/notifications",
        }
    }

    fn expected(self) -> u16 {
        if self == Kind::Notification {
            202
        } else {
            200
        }
    }
}

/// What every connection shares.
struct Plan {
    addr: std::net::SocketAddr,
    deadline: Instant,
    notify_every: u64,
    recipients: usize,
    /// The unread query body of each buyer (all shops as peers), built once.
    unread_bodies: Vec<Vec<u8>>,
    buyers: Vec<String>,
    shops: Vec<String>,
    first_key: u64,
    run: String,
    next: AtomicU64,
    answered: AtomicU64,
    failed: AtomicU64,
}

impl Plan {
    fn kind(&self, n: u64) -> Kind {
        if n % self.notify_every == self.notify_every - 1 {
            return Kind::Notification;
        }
        match n % 3 {
            0 => Kind::Callback,
            1 => Kind::Unread,
            _ => Kind::Inbox,
        }
    }
}

/// One connection's answers.
#[derive(Default)]
struct Tally {
    statuses: BTreeMap<(Kind, u16), u64>,
    /// Microseconds of every expected answer, per kind.
    micros: BTreeMap<Kind, Vec<u32>>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        for (key, n) in other.statuses {
            *self.statuses.entry(key).or_default() += n;
        }
        for (kind, micros) in other.micros {
            self.micros.entry(kind).or_default().extend(micros);
        }
    }
}

struct Sample {
    seconds: f64,
    rss_kib: u64,
    hwm_kib: u64,
    /// Heap and stacks.
    anon_kib: u64,
    /// Mapped files.
    file_kib: u64,
    /// What SQLite holds of the heap.
    sqlite_kib: u64,
    answered: u64,
    failed: u64,
}

pub async fn run(args: P4SoakArgs) -> anyhow::Result<()> {
    ensure!(args.minutes > 0.0 && args.connections > 0 && args.sample_secs > 0, "positive durations and counts");
    ensure!(args.notify_every >= 2 && args.recipients > 0, "--notify-every >= 2, --recipients >= 1");
    ensure!(args.recipients <= args.buyers && args.buyers > 0 && args.shops > 0, "--recipients <= --buyers");
    let binary = server::server_binary(args.server_bin.as_deref())?;
    println!(
        "P4 soak: {} min of closed-loop mixed load over {} connections (callbacks, unread, inbox; 1 in {} a \
         notification to {} recipients), {} buyers x {} shops, embedded store; RSS every {} s",
        args.minutes, args.connections, args.notify_every, args.recipients, args.buyers, args.shops, args.sample_secs
    );
    let scratch = ScratchDir::new("p4-soak")?;
    let target = StoreTarget::fresh(StoreKind::Embedded, &scratch.path().join("data"), None)?;
    let buyers: Vec<String> = (0..args.buyers).map(buyer).collect();
    let shops: Vec<String> = (0..args.shops).map(shop).collect();
    let sim = simulator_with_accounts(scratch.path(), &buyers, false).await?;
    let mut env = target.server_env();
    env.extend(UNLIMITED.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let spec = ServerSpec { binary: &binary, dir: scratch.path(), netease_base_url: &sim.base_url(), env };
    let mut service = Server::spawn(&spec)?;
    let outcome = async {
        service.wait_ready(Duration::from_secs(60)).await?;
        soak(&args, &service, &sim, buyers, shops).await
    }
    .await;
    let log = service.log_tail();
    service.stop().await?;
    sim.shutdown().await;
    outcome.with_context(|| format!("the service said:\n{log}"))
}

async fn soak(
    args: &P4SoakArgs,
    service: &Server,
    sim: &imbridge_netease::sim::SimHandle,
    buyers: Vec<String>,
    shops: Vec<String>,
) -> anyhow::Result<()> {
    let pid = service.pid();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let unread_bodies = buyers.iter().map(|b| json!({"accid": b, "peers": shops}).to_string().into_bytes()).collect();
    let length = Duration::from_secs_f64(args.minutes * 60.0);
    let started = Instant::now();
    let plan = Arc::new(Plan {
        addr: service.addr,
        deadline: started + length,
        notify_every: args.notify_every,
        recipients: args.recipients,
        unread_bodies,
        buyers,
        shops,
        first_key: corpus::random_first_key(),
        run: uuid::Uuid::new_v4().simple().to_string()[..8].to_owned(),
        next: AtomicU64::new(0),
        answered: AtomicU64::new(0),
        failed: AtomicU64::new(0),
    });
    let mut scrape = Connection::open(service.addr).await.context("connect for /metrics")?;
    let mut samples = vec![sample(pid, started, &plan, &mut scrape).await?];
    let workers: Vec<_> = (0..args.connections)
        .map(|w| {
            let plan = plan.clone();
            tokio::spawn(async move { worker(w, &plan).await })
        })
        .collect();

    let every = Duration::from_secs(args.sample_secs);
    let mut last_report = (0.0, 0);
    while Instant::now() < plan.deadline {
        let next = started + every * u32::try_from(samples.len()).unwrap_or(u32::MAX);
        tokio::time::sleep_until(next.min(plan.deadline).into()).await;
        let s = sample(pid, started, &plan, &mut scrape).await?;
        if s.seconds - last_report.0 >= 60.0 - 1e-3 {
            let rate = (s.answered - last_report.1) as f64 / (s.seconds - last_report.0);
            println!(
                "  [{:5.1} min] RSS {:.1} MiB, peak {:.1} MiB, {rate:.0} answers/s over the last minute, {} answers, \
                 {} not as expected",
                s.seconds / 60.0,
                mib(s.rss_kib),
                mib(s.hwm_kib),
                s.answered,
                s.failed
            );
            last_report = (s.seconds, s.answered);
        }
        samples.push(s);
    }
    let mut tally = Tally::default();
    for w in workers {
        tally.merge(w.await.context("a load connection panicked")?);
    }
    let loaded = started.elapsed();
    samples.push(sample(pid, started, &plan, &mut scrape).await?);
    let sent_notifications: u64 =
        tally.statuses.iter().filter(|((k, s), _)| *k == Kind::Notification && *s == 202).map(|(_, n)| n).sum();
    let deliveries = delivered(sim, sent_notifications).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (idle_rss, peak) = process_rss_kib(pid)?;

    report(args, &samples, &tally, loaded, idle_rss, peak, deliveries, sent_notifications)?;
    let csv = args.plot.with_extension("csv");
    write_outputs(args, &samples, &csv)?;
    println!("plot: {}; samples: {}", args.plot.display(), csv.display());

    let total: u64 = tally.statuses.values().sum();
    let failed: u64 = tally.statuses.iter().filter(|((k, s), _)| *s != k.expected()).map(|(_, n)| n).sum();
    if failed as f64 > args.max_failed_share * total as f64 {
        bail!(
            "{failed} of {total} answers ({:.3} %) were not the expected status (allowed: {:.3} %)",
            100.0 * failed as f64 / total.max(1) as f64,
            100.0 * args.max_failed_share
        );
    }
    Ok(())
}

/// The service's memory now.
async fn sample(pid: u32, started: Instant, plan: &Plan, scrape: &mut Connection) -> anyhow::Result<Sample> {
    let memory = process_memory_kib(pid).context("read the service's memory (has it exited?)")?;
    let metrics = scrape.send("GET", "/metrics", &[], b"").await.context("GET /metrics")?;
    let text = String::from_utf8_lossy(&metrics.body);
    let sqlite_bytes = text
        .lines()
        .find_map(|l| l.strip_prefix("imbridge_sqlite_heap_bytes "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .context("no imbridge_sqlite_heap_bytes in /metrics")?;
    Ok(Sample {
        seconds: started.elapsed().as_secs_f64(),
        rss_kib: memory.rss,
        hwm_kib: memory.hwm,
        anon_kib: memory.anon,
        file_kib: memory.file,
        sqlite_kib: (sqlite_bytes / 1024.0) as u64,
        answered: plan.answered.load(Ordering::Relaxed),
        failed: plan.failed.load(Ordering::Relaxed),
    })
}

/// One closed-loop connection until the deadline; a connection error is counted (status 0) and the
/// connection opened again.
async fn worker(w: usize, plan: &Plan) -> Tally {
    let mut rng = StdRng::seed_from_u64(w as u64);
    let mut tally = Tally::default();
    let mut conn: Option<Connection> = None;
    while Instant::now() < plan.deadline {
        let n = plan.next.fetch_add(1, Ordering::Relaxed);
        let kind = plan.kind(n);
        let started = Instant::now();
        let status = match send(plan, kind, n, &mut rng, &mut conn).await {
            Ok(status) => status,
            Err(_) => {
                conn = None;
                0
            }
        };
        let took = started.elapsed();
        plan.answered.fetch_add(1, Ordering::Relaxed);
        *tally.statuses.entry((kind, status)).or_default() += 1;
        if status == kind.expected() {
            tally.micros.entry(kind).or_default().push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX));
        } else {
            plan.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
    tally
}

async fn send(
    plan: &Plan,
    kind: Kind,
    n: u64,
    rng: &mut StdRng,
    conn: &mut Option<Connection>,
) -> std::io::Result<u16> {
    if conn.is_none() {
        *conn = Some(Connection::open(plan.addr).await?);
    }
    let conn = conn.as_mut().expect("connected above");
    let b = rng.gen_range(0..plan.buyers.len());
    let s = rng.gen_range(0..plan.shops.len());
    let json = [("Content-Type", "application/json")];
    let response = match kind {
        Kind::Callback => {
            let (buyer, shop) = (&plan.buyers[b], &plan.shops[s]);
            let now = i64::try_from(imbridge_netease::sign::now_millis()).unwrap_or(i64::MAX);
            let body = if n % 10 == 9 {
                // Either side reads what the other sent, up to now.
                let (reader, peer) = if rng.gen_bool(0.5) { (buyer, shop) } else { (shop, buyer) };
                corpus::read_receipt_body(reader, peer, now)
            } else {
                let (from, to) = if rng.gen_ratio(1, 5) { (buyer, shop) } else { (shop, buyer) };
                ChatMessage { key: plan.first_key + n, from, to, sent_at_ms: now, text: "is it in stock?" }.body()
            };
            corpus::post_signed(conn, "/callbacks/netease", &body).await?
        }
        Kind::Unread => conn.send("POST", "/v1/unread", &json, &plan.unread_bodies[b]).await?,
        Kind::Inbox => {
            let path = format!("/v1/conversations?accid={}&limit={PAGE}", plan.shops[s]);
            conn.send("GET", &path, &[], b"").await?
        }
        Kind::Notification => {
            let to: Vec<&String> = plan.buyers.choose_multiple(rng, plan.recipients).collect();
            let body = json!({
                "from": SENDER,
                "to": to,
                "attach": {"type": "order_shipped", "order_id": format!("SO-{n}"), "carrier": "SF Express"},
                "push_content": "Your order has shipped",
                "payload": {"route": format!("orders/SO-{n}")},
                "idempotency_key": format!("soak-{}-{n}", plan.run),
            });
            conn.send("POST", "/v1/notifications", &json, body.to_string().as_bytes()).await?
        }
    };
    Ok(response.status)
}

/// Notification sends the simulator answered 200 (one call per notification: a batch send for
/// several recipients, a single send for one), waiting up to 60 s for the outbox to catch up with
/// `expected`. Counted from its call counters: its log of notifications keeps only the last 10 000.
async fn delivered(sim: &imbridge_netease::sim::SimHandle, expected: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let calls = sim.state().call_counts();
        let count = ["msg/sendBatchAttachMsg", "msg/sendAttachMsg"].iter().map(|api| calls.with_code(api, 200)).sum();
        if count >= expected || Instant::now() > deadline {
            return count;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// One reading of a sample, in KiB.
type Reading = fn(&Sample) -> u64;

const RSS: Reading = |s| s.rss_kib;
/// The resident memory that is not SQLite's heap: what would keep growing if the service leaked.
const RSS_WITHOUT_SQLITE: Reading = |s| s.rss_kib.saturating_sub(s.sqlite_kib);
const SQLITE: Reading = |s| s.sqlite_kib;

/// Mean of a reading (MiB) over the samples within `from..=to` seconds.
fn mean_mib(samples: &[&Sample], from: f64, to: f64, reading: Reading) -> f64 {
    let within: Vec<f64> =
        samples.iter().filter(|s| s.seconds >= from && s.seconds <= to).map(|s| mib(reading(s))).collect();
    within.iter().sum::<f64>() / within.len().max(1) as f64
}

/// Least-squares slope of a reading (MiB) over minutes.
fn slope_mib_per_min(samples: &[&Sample], reading: Reading) -> f64 {
    let n = samples.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let xs: Vec<f64> = samples.iter().map(|s| s.seconds / 60.0).collect();
    let ys: Vec<f64> = samples.iter().map(|s| mib(reading(s))).collect();
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    if sxx > 0.0 {
        sxy / sxx
    } else {
        0.0
    }
}

#[allow(clippy::too_many_arguments)]
fn report(
    args: &P4SoakArgs,
    samples: &[Sample],
    tally: &Tally,
    loaded: Duration,
    idle_rss: u64,
    peak: u64,
    deliveries: u64,
    notifications: u64,
) -> anyhow::Result<()> {
    let end = loaded.as_secs_f64();
    let during: Vec<&Sample> = samples.iter().filter(|s| s.seconds <= end + 1.0).collect();
    let at = |seconds: f64| {
        during.iter().min_by(|a, b| (a.seconds - seconds).abs().total_cmp(&(b.seconds - seconds).abs())).copied()
    };
    let mut table = Table::new(&[
        "time",
        "VmRSS",
        "VmHWM (peak so far)",
        "heap (RssAnon)",
        "of it SQLite",
        "mapped files",
        "answers/s since the previous row",
    ]);
    let before_end = end - args.sample_secs as f64;
    let mut marks: Vec<f64> =
        [0.0, 1.0, 5.0, 10.0, 20.0, 30.0].into_iter().filter(|m| *m * 60.0 < before_end).collect();
    marks.push(end / 60.0);
    let mut previous: Option<&Sample> = None;
    for mark in marks {
        let Some(s) = at(mark * 60.0) else { continue };
        let rate = previous.map_or("-".to_owned(), |p| {
            format!("{:.0}", (s.answered - p.answered) as f64 / (s.seconds - p.seconds).max(1e-9))
        });
        table.row(vec![
            format!("{:.1} min", s.seconds / 60.0),
            format!("{:.1} MiB", mib(s.rss_kib)),
            format!("{:.1} MiB", mib(s.hwm_kib)),
            format!("{:.1} MiB", mib(s.anon_kib)),
            format!("{:.1} MiB", mib(s.sqlite_kib)),
            format!("{:.1} MiB", mib(s.file_kib)),
            rate,
        ]);
        previous = Some(s);
    }
    table.row(vec![
        "10 s after the load stopped".into(),
        format!("{:.1} MiB", mib(idle_rss)),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        "-".into(),
    ]);
    println!();
    table.print();

    let mut answers = Table::new(&["request", "answers", "expected status", "other statuses", "p50", "p99"]);
    let kinds = [Kind::Callback, Kind::Unread, Kind::Inbox, Kind::Notification];
    let mut total = 0;
    for kind in kinds {
        let of_kind: Vec<(u16, u64)> =
            tally.statuses.iter().filter(|((k, _), _)| *k == kind).map(|((_, s), n)| (*s, *n)).collect();
        let count: u64 = of_kind.iter().map(|(_, n)| n).sum();
        total += count;
        let ok = of_kind.iter().find(|(s, _)| *s == kind.expected()).map_or(0, |(_, n)| *n);
        let others: Vec<String> = of_kind
            .iter()
            .filter(|(s, _)| *s != kind.expected())
            .map(|(s, n)| if *s == 0 { format!("{n}x connection error") } else { format!("{n}x {s}") })
            .collect();
        let micros = tally.micros.get(&kind).cloned().unwrap_or_default();
        let latency = Latency::of(micros.into_iter().map(|m| Duration::from_micros(u64::from(m))).collect());
        answers.row(vec![
            kind.label().into(),
            count.to_string(),
            format!("{ok}x {}", kind.expected()),
            if others.is_empty() { "none".into() } else { others.join(", ") },
            ms(latency.p50),
            ms(latency.p99),
        ]);
    }
    println!();
    answers.print();
    println!();
    println!(
        "{total} answers in {:.1} min over {} connections: {:.0} answers/s; peak (VmHWM) {:.1} MiB",
        end / 60.0,
        args.connections,
        total as f64 / end.max(1e-9),
        mib(peak)
    );
    println!(
        "notifications: {notifications} accepted (to {} recipients each); the simulator answered 200 to {deliveries} \
         send calls, one per notification",
        args.recipients
    );

    let last_half: Vec<&Sample> = during.iter().filter(|s| s.seconds >= end / 2.0).copied().collect();
    let trend = |reading: Reading| {
        let middle = mean_mib(&during, end / 3.0, 2.0 * end / 3.0, reading);
        let last = mean_mib(&during, 2.0 * end / 3.0, end, reading);
        let slope = slope_mib_per_min(&last_half, reading);
        let growth = (last - middle) / middle.max(1e-9);
        let levels_off = slope <= MAX_SLOPE_MIB_PER_MIN && growth <= MAX_LAST_THIRD_GROWTH;
        let text = format!(
            "mean last third {last:.1} MiB vs middle third {middle:.1} MiB, {:+.1} %; slope over the last half \
             {slope:+.3} MiB/min",
            100.0 * growth
        );
        (levels_off, text)
    };
    let (levels_off, rss) = trend(RSS);
    println!(
        "levels off: {} (RSS: {rss}; allowed: <= {MAX_SLOPE_MIB_PER_MIN} MiB/min and <= +{:.0} %)",
        if levels_off { "yes" } else { "NO" },
        100.0 * MAX_LAST_THIRD_GROWTH
    );
    let (rest_levels_off, rest) = trend(RSS_WITHOUT_SQLITE);
    println!(
        "  RSS without SQLite's heap: {rest} (levels off by the same rule: {})",
        if rest_levels_off { "yes" } else { "no" }
    );
    println!("  SQLite's heap: {}", trend(SQLITE).1);
    Ok(())
}

fn write_outputs(args: &P4SoakArgs, samples: &[Sample], csv: &std::path::Path) -> anyhow::Result<()> {
    let minutes = |s: &Sample| s.seconds / 60.0;
    let rates: Vec<(f64, f64)> = samples
        .windows(2)
        .map(|w| (minutes(&w[1]), (w[1].answered - w[0].answered) as f64 / (w[1].seconds - w[0].seconds).max(1e-9)))
        .collect();
    let memory = Panel {
        title: "the service's resident memory".into(),
        x_label: "minutes".into(),
        y_label: "MiB".into(),
        x_scale: Scale::Linear,
        y_scale: Scale::Linear,
        y_from_zero: true,
        series: vec![
            Series { name: "VmRSS".into(), points: samples.iter().map(|s| (minutes(s), mib(s.rss_kib))).collect() },
            Series {
                name: "VmHWM (peak so far)".into(),
                points: samples.iter().map(|s| (minutes(s), mib(s.hwm_kib))).collect(),
            },
            Series {
                name: "heap (RssAnon)".into(),
                points: samples.iter().map(|s| (minutes(s), mib(s.anon_kib))).collect(),
            },
            Series {
                name: "of it SQLite".into(),
                points: samples.iter().map(|s| (minutes(s), mib(s.sqlite_kib))).collect(),
            },
            Series {
                name: "mapped files".into(),
                points: samples.iter().map(|s| (minutes(s), mib(s.file_kib))).collect(),
            },
        ],
    };
    let throughput = Panel {
        title: "answers per second (all kinds, between two samples)".into(),
        x_label: "minutes".into(),
        y_label: "answers/s".into(),
        x_scale: Scale::Linear,
        y_scale: Scale::Linear,
        y_from_zero: true,
        series: vec![Series { name: "answers/s".into(), points: rates }],
    };
    let title = format!(
        "P4 soak: {} min, {} connections, callbacks + unread + inbox + 1 in {} notifications",
        args.minutes, args.connections, args.notify_every
    );
    plot::write_svg(&args.plot, &title, &[memory, throughput])?;
    let rows: Vec<Vec<String>> = samples
        .iter()
        .map(|s| {
            vec![
                format!("{:.1}", s.seconds),
                format!("{:.1}", mib(s.rss_kib)),
                format!("{:.1}", mib(s.hwm_kib)),
                format!("{:.1}", mib(s.anon_kib)),
                format!("{:.1}", mib(s.sqlite_kib)),
                format!("{:.1}", mib(s.file_kib)),
                s.answered.to_string(),
                s.failed.to_string(),
            ]
        })
        .collect();
    plot::write_csv(
        csv,
        &["seconds", "rss_mib", "hwm_mib", "anon_mib", "sqlite_heap_mib", "file_mib", "answers", "not_expected"],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: f64, rss_mib: u64) -> Sample {
        let kib = rss_mib * 1024;
        Sample {
            seconds,
            rss_kib: kib,
            hwm_kib: kib,
            anon_kib: kib,
            file_kib: 0,
            sqlite_kib: 1024,
            answered: 0,
            failed: 0,
        }
    }

    #[test]
    fn the_slope_is_in_mib_per_minute() {
        let samples: Vec<Sample> = (0..10).map(|m| at(60.0 * m as f64, 50 + 2 * m)).collect();
        let refs: Vec<&Sample> = samples.iter().collect();
        assert!((slope_mib_per_min(&refs, RSS) - 2.0).abs() < 1e-9);
        assert_eq!(slope_mib_per_min(&refs, SQLITE), 0.0);
        let flat: Vec<Sample> = (0..10).map(|m| at(60.0 * m as f64, 80)).collect();
        assert_eq!(slope_mib_per_min(&flat.iter().collect::<Vec<_>>(), RSS), 0.0);
        assert_eq!(mean_mib(&refs, 0.0, 120.0, RSS), 52.0);
        assert_eq!(mean_mib(&refs, 0.0, 120.0, RSS_WITHOUT_SQLITE), 51.0);
    }
}

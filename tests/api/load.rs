//! 1 000 concurrent keep-alive connections against the real binary, each sending signed callbacks
//! and unread queries for a few seconds: every answer is a 200, every acknowledged callback is
//! counted, and the service's memory levels off instead of growing with the traffic. (The memory
//! figure itself, on a release build, is the bench's P4; this checks the behaviour on every run.)

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use imbridge_netease::sign::now_millis;
use serde_json::{json, Value};

use crate::callbacks::message;
use crate::helpers::API_KEY;
use crate::process::{callback_headers, memory_kib, raise_open_files_limit, Databases, Service};

/// The bench's minimal HTTP/1.1 client: one socket per [`http1::Connection`], so "1 000
/// connections" is exactly 1 000 sockets, and light enough to leave the CPU to the service.
#[path = "../../bench/http1.rs"]
mod http1;

use http1::Connection;

const CONNECTIONS: usize = 1_000;
/// Each round keeps every connection busy this long (each finishes the request it has started).
const ROUND: Duration = Duration::from_secs(3);
const BUYERS: usize = 100;
const SHOPS: usize = 20;
/// Even a debug build stays far below this (the release build peaks near 52 MiB: BENCHMARKS.md).
const CEILING_KIB: u64 = 300 * 1024;
/// How far the second round's peak may exceed the first's. Some growth is expected and bounded:
/// SQLite's page caches (up to 2 MiB per connection) fill as the files grow, and the allocator
/// fragments; measured at 3 to 11 MiB per round. A leak of a few KiB per request exceeds it.
const GROWTH_MARGIN_KIB: u64 = 48 * 1024;
/// One request's answer may take this long on a loaded machine before it counts as an error.
const ANSWER_WITHIN: Duration = Duration::from_secs(60);

fn buyer(n: usize) -> String {
    format!("load_b{:03}", n % BUYERS)
}

fn shop(n: usize) -> String {
    format!("load_s{:02}", n % SHOPS)
}

/// What one connection saw in one round.
#[derive(Default)]
struct Tally {
    callbacks: u64,
    queries: u64,
    /// Acknowledged callbacks per buyer.
    acked: BTreeMap<String, u64>,
    errors: Vec<String>,
}

/// A signed message callback (unique msgidServer), then an unread query for five orders, repeated
/// until `until` (at least once). A connection that fails is dropped.
async fn work(
    mut conn: Connection,
    i: usize,
    until: Instant,
    secret: Arc<String>,
    ids: Arc<AtomicU64>,
) -> (Option<Connection>, Tally) {
    let mut tally = Tally::default();
    let auth = format!("Bearer {API_KEY}");
    let mut n = 0;
    loop {
        let reader = buyer(i);
        let msgid = ids.fetch_add(1, Ordering::Relaxed);
        let body = serde_json::to_vec(&message(&shop(i / BUYERS + n), &reader, msgid, now_millis())).unwrap();
        let signed = callback_headers(&secret, &body);
        let mut headers = vec![("Content-Type", "application/json")];
        headers.extend(signed.iter().map(|(name, value)| (*name, value.as_str())));
        match exchange(&mut conn, "/callbacks/netease", &headers, &body).await {
            Ok(answer) if answer == json!({"code": 200}) => {
                tally.callbacks += 1;
                *tally.acked.entry(reader.clone()).or_default() += 1;
            }
            Ok(answer) => tally.errors.push(format!("callback answered {answer}")),
            Err(e) => {
                tally.errors.push(format!("callback: {e}"));
                return (None, tally);
            }
        }

        let orders: Vec<Value> =
            (0..5).map(|k| json!({"order_id": format!("o-{i}-{k}"), "peer": shop(i + k)})).collect();
        let body = serde_json::to_vec(&json!({"accid": reader, "orders": orders})).unwrap();
        let headers = [("Content-Type", "application/json"), ("Authorization", auth.as_str())];
        match exchange(&mut conn, "/v1/unread", &headers, &body).await {
            Ok(answer) if answer["accid"] == reader.as_str() => tally.queries += 1,
            Ok(answer) => tally.errors.push(format!("unread answered {answer}")),
            Err(e) => {
                tally.errors.push(format!("unread: {e}"));
                return (None, tally);
            }
        }
        n += 1;
        if Instant::now() >= until {
            return (Some(conn), tally);
        }
    }
}

/// POST `body`; the JSON answer if the status is 200.
async fn exchange(conn: &mut Connection, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<Value, String> {
    let response = tokio::time::timeout(ANSWER_WITHIN, conn.send("POST", path, headers, body))
        .await
        .map_err(|_| format!("no answer within {ANSWER_WITHIN:?}"))?
        .map_err(|e| e.to_string())?;
    if response.status != 200 {
        return Err(format!("HTTP {}: {}", response.status, String::from_utf8_lossy(&response.body)));
    }
    serde_json::from_slice(&response.body).map_err(|e| format!("not JSON ({e})"))
}

/// All connections at once, each for `length` (at least one callback and one query each).
async fn round(
    connections: Vec<Connection>,
    length: Duration,
    secret: &Arc<String>,
    ids: &Arc<AtomicU64>,
) -> (Vec<Connection>, Vec<Tally>) {
    let until = Instant::now() + length;
    let tasks: Vec<_> = connections
        .into_iter()
        .enumerate()
        .map(|(i, conn)| tokio::spawn(work(conn, i, until, secret.clone(), ids.clone())))
        .collect();
    let mut open = Vec::with_capacity(tasks.len());
    let mut tallies = Vec::with_capacity(tasks.len());
    for task in tasks {
        let (conn, tally) = task.await.expect("connection task");
        open.extend(conn);
        tallies.push(tally);
    }
    (open, tallies)
}

/// The highest `VmRSS` of `pid` seen until the returned guard is finished, sampled every 10 ms
/// from a thread of its own (the test's runtime is busy with the load).
struct PeakSampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl PeakSampler {
    fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peak = 0;
            while !flag.load(Ordering::Relaxed) {
                peak = peak.max(memory_kib(pid).expect("read /proc/PID/status").0);
                std::thread::sleep(Duration::from_millis(10));
            }
            peak.max(memory_kib(pid).expect("read /proc/PID/status").0)
        });
        Self { stop, thread }
    }

    fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("sampler thread")
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_connections_mixing_callbacks_and_unread_queries_get_only_200s() {
    // 1 000 sockets here and 1 000 in the service (which inherits the limit), plus files.
    let limit = raise_open_files_limit(4 * CONNECTIONS as u64);
    assert!(limit >= 2 * CONNECTIONS as u64 + 500, "RLIMIT_NOFILE is {limit}, too low for {CONNECTIONS} connections");
    let service = Service::start(Databases::Local, &[]).await;
    let pid = service.pid();
    let secret = Arc::new(service.sim_secret.clone());
    let ids = Arc::new(AtomicU64::new(5_000_000_000));
    let (idle, _) = service.memory_kib();

    let mut connections = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        connections.push(Connection::open(service.addr).await.expect("open a connection"));
    }
    // A short round first, so every connection has been accepted and served once.
    let (mut connections, warm_up) = round(connections, Duration::ZERO, &secret, &ids).await;
    let (open, _) = service.memory_kib();

    let mut peaks = Vec::new();
    let mut tallies = vec![warm_up];
    for _ in 0..2 {
        assert_eq!(connections.len(), CONNECTIONS, "a connection failed: {:?}", first_errors(&tallies));
        let sampler = PeakSampler::start(pid);
        let (still_open, tally) = round(connections, ROUND, &secret, &ids).await;
        peaks.push(sampler.finish());
        connections = still_open;
        tallies.push(tally);
    }
    let (after, high_water) = service.memory_kib();
    drop(connections);

    let sum = |round: &[Tally], f: fn(&Tally) -> u64| round.iter().map(f).sum::<u64>();
    for (name, round) in ["warm-up", "round 1", "round 2"].iter().zip(&tallies) {
        eprintln!(
            "{name}: {} callbacks + {} unread queries on {} connections, {} errors",
            sum(round, |t| t.callbacks),
            sum(round, |t| t.queries),
            round.len(),
            sum(round, |t| t.errors.len() as u64),
        );
    }
    eprintln!(
        "imbridge RSS (debug build): idle {}, {CONNECTIONS} connections open {}, round 1 peak {}, \
         round 2 peak {}, after {}, VmHWM {}",
        mib(idle),
        mib(open),
        mib(peaks[0]),
        mib(peaks[1]),
        mib(after),
        mib(high_water),
    );

    let errors = first_errors(&tallies);
    assert!(errors.is_empty(), "errors under load, e.g. {errors:?}\n{}", service.log_tail());
    for round in &tallies {
        assert_eq!(round.len(), CONNECTIONS);
        assert!(round.iter().all(|t| t.callbacks >= 1 && t.queries >= 1), "every connection was served");
    }

    // Every acknowledged callback counts: unread per buyer over all shops equals what was acked.
    let mut acked: BTreeMap<String, u64> = BTreeMap::new();
    for tally in tallies.iter().flatten() {
        for (reader, n) in &tally.acked {
            *acked.entry(reader.clone()).or_default() += n;
        }
    }
    let shops: Vec<String> = (0..SHOPS).map(shop).collect();
    for (reader, expected) in &acked {
        let body = service.get_json(&format!("/v1/unread?accid={reader}&peers={}", shops.join(","))).await;
        assert_eq!(body["total"], *expected, "{reader}: {body}");
    }

    assert!(high_water <= CEILING_KIB, "peak {} over the {} ceiling", mib(high_water), mib(CEILING_KIB));
    assert!(
        peaks[1] <= peaks[0] + GROWTH_MARGIN_KIB,
        "memory kept growing: round 1 peak {}, round 2 peak {}",
        mib(peaks[0]),
        mib(peaks[1])
    );
    service.stop().await;
}

fn first_errors(rounds: &[Vec<Tally>]) -> Vec<String> {
    rounds.iter().flatten().flat_map(|t| t.errors.iter().cloned()).take(5).collect()
}

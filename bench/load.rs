//! Closed-loop load: C connections, each sending its next request as soon as the previous answer
//! arrived, until every body was sent once. Every acked request's latency is kept (and, for JSON
//! requests, every answer).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::corpus;
use crate::http1::Connection;

pub struct LoadResult {
    /// Answered 200.
    pub acked: usize,
    /// Other answers by status, and `0` for connection errors.
    pub failed: BTreeMap<u16, usize>,
    pub elapsed: Duration,
    /// Latency of every acked request.
    pub latencies: Vec<Duration>,
}

impl LoadResult {
    pub fn failed_total(&self) -> usize {
        self.failed.values().sum()
    }

    pub fn describe_failures(&self) -> String {
        if self.failed.is_empty() {
            return "none".to_owned();
        }
        self.failed
            .iter()
            .map(|(status, n)| if *status == 0 { format!("{n} connection errors") } else { format!("{n}x {status}") })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One answer of [`post_json`]; status 0 is a connection error (empty body).
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

/// What the workers send: signed callbacks to one path, or JSON bodies each to its own path.
enum Payload {
    Callbacks { path: String, bodies: Arc<Vec<Vec<u8>>> },
    Json(Arc<Vec<(String, Vec<u8>)>>),
}

impl Payload {
    fn len(&self) -> usize {
        match self {
            Payload::Callbacks { bodies, .. } => bodies.len(),
            Payload::Json(requests) => requests.len(),
        }
    }
}

/// POST each body once to `path` as a signed NetEase callback, over `concurrency` connections.
pub async fn post_callbacks(addr: SocketAddr, path: &str, bodies: Arc<Vec<Vec<u8>>>, concurrency: usize) -> LoadResult {
    post_callbacks_to(&[addr], path, bodies, concurrency).await
}

/// [`post_callbacks`] spread over several instances of the service: connection k goes to
/// `addrs[k % addrs.len()]` (what a round-robin load balancer in front of them would do).
pub async fn post_callbacks_to(
    addrs: &[SocketAddr],
    path: &str,
    bodies: Arc<Vec<Vec<u8>>>,
    concurrency: usize,
) -> LoadResult {
    let payload = Payload::Callbacks { path: path.to_owned(), bodies };
    run(addrs, Arc::new(payload), concurrency, false).await.0
}

/// POST each `(path, JSON body)` once, over `concurrency` connections. Every answer is kept, in the
/// order of `requests`, for the caller to check.
pub async fn post_json(
    addr: SocketAddr,
    requests: Arc<Vec<(String, Vec<u8>)>>,
    concurrency: usize,
) -> (LoadResult, Vec<Answer>) {
    post_json_to(&[addr], requests, concurrency).await
}

/// [`post_json`] spread over several instances, as [`post_callbacks_to`].
pub async fn post_json_to(
    addrs: &[SocketAddr],
    requests: Arc<Vec<(String, Vec<u8>)>>,
    concurrency: usize,
) -> (LoadResult, Vec<Answer>) {
    run(addrs, Arc::new(Payload::Json(requests)), concurrency, true).await
}

async fn run(addrs: &[SocketAddr], payload: Arc<Payload>, concurrency: usize, keep: bool) -> (LoadResult, Vec<Answer>) {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|k| {
            let (payload, next, addr) = (payload.clone(), next.clone(), addrs[k % addrs.len()]);
            tokio::spawn(async move { worker(addr, &payload, &next, keep).await })
        })
        .collect();
    let mut result = LoadResult { acked: 0, failed: BTreeMap::new(), elapsed: Duration::ZERO, latencies: Vec::new() };
    let mut answers: Vec<Option<Answer>> = Vec::new();
    if keep {
        answers.resize_with(payload.len(), || None);
    }
    for worker in workers {
        let (part, kept) = worker.await.expect("load worker panicked");
        result.acked += part.acked;
        result.latencies.extend(part.latencies);
        for (status, n) in part.failed {
            *result.failed.entry(status).or_default() += n;
        }
        for (i, answer) in kept {
            answers[i] = Some(answer);
        }
    }
    result.elapsed = started.elapsed();
    let answers = answers.into_iter().map(|a| a.unwrap_or(Answer { status: 0, body: Vec::new() })).collect();
    (result, answers)
}

async fn worker(
    addr: SocketAddr,
    payload: &Payload,
    next: &AtomicUsize,
    keep: bool,
) -> (LoadResult, Vec<(usize, Answer)>) {
    let mut part = LoadResult { acked: 0, failed: BTreeMap::new(), elapsed: Duration::ZERO, latencies: Vec::new() };
    let mut kept = Vec::new();
    let mut conn: Option<Connection> = None;
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= payload.len() {
            break;
        }
        let started = Instant::now();
        let answer = async {
            if conn.is_none() {
                conn = Some(Connection::open(addr).await?);
            }
            let conn = conn.as_mut().expect("connected above");
            match payload {
                Payload::Callbacks { path, bodies } => corpus::post_signed(conn, path, &bodies[i]).await,
                Payload::Json(requests) => {
                    let (path, body) = &requests[i];
                    conn.send("POST", path, &[("Content-Type", "application/json")], body).await
                }
            }
        }
        .await;
        match answer {
            Ok(response) => {
                if response.status == 200 {
                    part.acked += 1;
                    part.latencies.push(started.elapsed());
                } else {
                    *part.failed.entry(response.status).or_default() += 1;
                }
                if keep {
                    kept.push((i, Answer { status: response.status, body: response.body }));
                }
            }
            Err(_) => {
                // The request is not retried: the figure counts what was answered.
                conn = None;
                *part.failed.entry(0).or_default() += 1;
            }
        }
    }
    (part, kept)
}

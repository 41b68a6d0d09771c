//! Closed-loop load: C connections, each sending its next request as soon as the previous answer
//! arrived, until every body was sent once. Every request's latency is kept.

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

/// POST each body once to `path` as a signed NetEase callback, over `concurrency` connections.
pub async fn post_callbacks(addr: SocketAddr, path: &str, bodies: Arc<Vec<Vec<u8>>>, concurrency: usize) -> LoadResult {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (bodies, next, path) = (bodies.clone(), next.clone(), path.to_owned());
            tokio::spawn(async move { worker(addr, &path, &bodies, &next).await })
        })
        .collect();
    let mut result = LoadResult { acked: 0, failed: BTreeMap::new(), elapsed: Duration::ZERO, latencies: Vec::new() };
    for worker in workers {
        let part = worker.await.expect("load worker panicked");
        result.acked += part.acked;
        result.latencies.extend(part.latencies);
        for (status, n) in part.failed {
            *result.failed.entry(status).or_default() += n;
        }
    }
    result.elapsed = started.elapsed();
    result
}

async fn worker(addr: SocketAddr, path: &str, bodies: &[Vec<u8>], next: &AtomicUsize) -> LoadResult {
    let mut part = LoadResult { acked: 0, failed: BTreeMap::new(), elapsed: Duration::ZERO, latencies: Vec::new() };
    let mut conn: Option<Connection> = None;
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(body) = bodies.get(i) else { break };
        let started = Instant::now();
        let answer = async {
            if conn.is_none() {
                conn = Some(Connection::open(addr).await?);
            }
            let signed = corpus::sign(body);
            let headers = [
                ("Content-Type", "application/json;charset=utf-8"),
                ("AppKey", corpus::APP_KEY),
                ("CurTime", signed.cur_time.as_str()),
                ("MD5", signed.md5.as_str()),
                ("CheckSum", signed.checksum.as_str()),
            ];
            conn.as_mut().expect("connected above").send("POST", path, &headers, body).await
        }
        .await;
        match answer {
            Ok(response) if response.status == 200 => {
                part.acked += 1;
                part.latencies.push(started.elapsed());
            }
            Ok(response) => *part.failed.entry(response.status).or_default() += 1,
            Err(_) => {
                // The body is not retried: the figure counts what was acknowledged.
                conn = None;
                *part.failed.entry(0).or_default() += 1;
            }
        }
    }
    part
}

//! Hostile input against the real binary, where the service's own memory, metrics and CPU time
//! can be read: a flood of made-up methods, paths and event types must not grow `/metrics` or the
//! resident set, and no body within the size limit may cost more than a few milliseconds of CPU
//! before it is rejected. Figures are printed (`cargo test --test api hostile_process -- --nocapture`).

use std::time::Duration;

use futures::StreamExt;
use rand::Rng;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::process::{callback_headers, Databases, Service};

/// `GET /metrics` as text.
async fn metrics_text(service: &Service) -> String {
    let response = service.client.get(format!("{}/metrics", service.address)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

/// Send every request, 16 at a time; how many got an answer.
async fn send_all(requests: Vec<reqwest::RequestBuilder>) -> usize {
    futures::stream::iter(requests)
        .map(|request| async move { request.timeout(Duration::from_secs(30)).send().await.map(|r| r.status()) })
        .buffer_unordered(16)
        .filter(|status| std::future::ready(status.is_ok()))
        .count()
        .await
}

fn random_token(rng: &mut impl Rng, len: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    (0..len).map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char).collect()
}

/// `n` requests with made-up methods and paths (the public callback route and `/v1` included), and
/// `n / 10` signed callbacks with made-up event types.
fn flood(service: &Service, n: usize) -> Vec<reqwest::RequestBuilder> {
    let mut rng = rand::thread_rng();
    let mut requests = Vec::with_capacity(n + n / 10);
    for i in 0..n {
        let method = Method::from_bytes(random_token(&mut rng, 8).as_bytes()).unwrap();
        let path = match i % 4 {
            0 => "/callbacks/netease".to_owned(),
            1 => "/v1/accounts".to_owned(),
            2 => format!("/v1/accounts/{}", random_token(&mut rng, 12).to_ascii_lowercase()),
            _ => format!("/{}/{}", random_token(&mut rng, 6), random_token(&mut rng, 10)),
        };
        requests.push(service.client.request(method, format!("{}{path}", service.address)));
    }
    for _ in 0..n / 10 {
        let body = serde_json::to_vec(&json!({"eventType": format!("9{}", rng.gen_range(0..u32::MAX))})).unwrap();
        let mut request = service.client.post(format!("{}/callbacks/netease", service.address));
        for (name, value) in callback_headers(&service.sim_secret, &body) {
            request = request.header(name, value);
        }
        requests.push(request.header("Content-Type", "application/json").body(body));
    }
    requests
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_made_up_methods_paths_and_event_types_grows_no_metrics_or_memory() {
    let service = Service::start(Databases::Local, &[]).await;
    // Warm up: every label value the flood can reach exists once, allocator arenas are in use.
    assert_eq!(send_all(flood(&service, 2_000)).await, 2_200);
    metrics_text(&service).await; // the scrape's own series
    let metrics_before = metrics_text(&service).await;
    let (rss_before, _) = service.memory_kib();

    assert_eq!(send_all(flood(&service, 20_000)).await, 22_000, "every request answered");
    let metrics_after = metrics_text(&service).await;
    let (rss_after, _) = service.memory_kib();
    println!(
        "after 20 000 made-up methods/paths and 2 000 made-up event types: /metrics {} -> {} bytes, \
         RSS {} -> {} KiB",
        metrics_before.len(),
        metrics_after.len(),
        rss_before,
        rss_after
    );
    let series = |text: &str| -> std::collections::BTreeSet<String> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.rsplit_once(' '))
            .map(|(s, _)| s.to_owned())
            .collect()
    };
    let new: Vec<String> = series(&metrics_after).difference(&series(&metrics_before)).cloned().collect();
    assert!(new.is_empty(), "new series after the flood: {new:#?}");
    assert!(metrics_after.len() < 64 * 1024, "/metrics stays small: {} bytes", metrics_after.len());
    assert!(metrics_after.contains(r#"method="other""#), "made-up methods share one label");
    assert!(metrics_after.contains(r#"event_type="other""#), "unknown event types share one label");
    assert!(
        rss_after < rss_before + 24 * 1024,
        "RSS grew from {rss_before} to {rss_after} KiB:\n{}",
        service.log_tail()
    );
    // Logs go to a file here: no colour codes in it.
    assert!(!service.log_tail().contains('\u{1b}'), "ANSI escapes in a log file:\n{}", service.log_tail());
    service.stop().await;
}

/// CPU time (user + system) the process has used so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/PID/stat");
    // Fields after the command name (which may contain spaces) start at field 3.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_micros(ticks * 1_000_000 / per_second)
}

/// CPU the service spends on `rounds` sends of a request, each expected to get `status`.
async fn cpu_of(
    service: &Service,
    rounds: u32,
    status: StatusCode,
    request: impl Fn() -> reqwest::RequestBuilder,
) -> Duration {
    let before = cpu_time(service.pid());
    for _ in 0..rounds {
        let response = request().send().await.unwrap();
        let got = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(got, status, "{}", &text[..text.len().min(300)]);
    }
    cpu_time(service.pid()) - before
}

/// The worst body of every list field, each a little under its route's size limit, against a
/// baseline of the same size that fails at once (the same bytes, made invalid JSON at the end): the
/// service may spend on a refused list no more than a few milliseconds beyond reading the bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_body_within_the_size_limit_costs_more_than_a_few_ms_before_it_is_rejected() {
    let service = Service::start(Databases::Local, &[]).await;
    let kib = 1024;
    // Distinct valid accids of 5 to 8 characters, as many as fit in `bytes` of JSON.
    let accids = |bytes: usize| -> Vec<String> {
        let mut out = Vec::new();
        let mut size = 0;
        for i in 0.. {
            let accid = format!("p{i}");
            size += accid.len() + 3;
            if size > bytes {
                break;
            }
            out.push(accid);
        }
        out
    };
    let unread_peers = json!({"accid": "buyer", "peers": accids(250 * kib)});
    let orders: Vec<Value> =
        accids(250 * kib / 5).into_iter().map(|p| json!({"order_id": p.clone(), "peer": p})).collect();
    let unread_orders = json!({"accid": "buyer", "orders": orders});
    let mut too_many = accids(8000 * kib);
    let notification_to = json!({"from": "shop", "to": too_many.clone(), "attach": "x"});
    too_many.truncate(99_999);
    too_many.push("not valid!".into());
    let notification_invalid_last = json!({"from": "shop", "to": too_many, "attach": "x"});
    let keys: serde_json::Map<String, Value> = accids(5000 * kib).into_iter().rev().map(|k| (k, json!(1))).collect();
    let notification_attach = json!({"from": "shop", "to": ["b"], "attach": keys});
    let peers_query = accids(12 * kib).join(",");

    let cases: [(&str, &str, &Value); 5] = [
        ("POST /v1/unread peers", "/v1/unread", &unread_peers),
        ("POST /v1/unread orders", "/v1/unread", &unread_orders),
        ("POST /v1/notifications to (over max_recipients)", "/v1/notifications", &notification_to),
        ("POST /v1/notifications to (100 000, last invalid)", "/v1/notifications", &notification_invalid_last),
        ("POST /v1/notifications attach (a 7 MB object)", "/v1/notifications", &notification_attach),
    ];
    const ROUNDS: u32 = 3;
    for (name, path, body) in cases {
        let bytes = serde_json::to_vec(body).unwrap();
        let mut broken = bytes.clone();
        broken.push(b'x');
        let post = |body: Vec<u8>| {
            let service = &service;
            move || service.v1(Method::POST, path).header("Content-Type", "application/json").body(body.clone())
        };
        let baseline = cpu_of(&service, ROUNDS, StatusCode::BAD_REQUEST, post(broken)).await;
        let refused = cpu_of(&service, ROUNDS, StatusCode::UNPROCESSABLE_ENTITY, post(bytes.clone())).await;
        println!(
            "{name}: {} KiB body, {:.1} ms CPU per refusal (reading alone: {:.1} ms)",
            bytes.len() / kib,
            refused.as_secs_f64() * 1000.0 / f64::from(ROUNDS),
            baseline.as_secs_f64() * 1000.0 / f64::from(ROUNDS)
        );
        // Clock ticks are 10 ms, and this is the debug build (about ten times slower than release):
        // allow 50 ms a request beyond four times the cost of reading the body. Linear work fits
        // (100 000 accids checked: ~110 ms here, ~10 ms in release); the quadratic pass this
        // guards against cost seconds.
        let allowed = baseline * 4 + Duration::from_millis(50) * ROUNDS;
        assert!(refused <= allowed, "{name}: {refused:?} of CPU for {ROUNDS} refusals, baseline {baseline:?}");
    }

    let query = || service.v1(Method::GET, &format!("/v1/unread?accid=buyer&peers={peers_query}"));
    let refused = cpu_of(&service, ROUNDS, StatusCode::UNPROCESSABLE_ENTITY, query).await;
    println!(
        "GET /v1/unread peers ({} KiB query): {:.1} ms CPU per refusal",
        peers_query.len() / kib,
        refused.as_secs_f64() * 1000.0 / f64::from(ROUNDS)
    );
    assert!(refused <= Duration::from_millis(30) * ROUNDS, "GET /v1/unread: {refused:?}");
    service.stop().await;
}

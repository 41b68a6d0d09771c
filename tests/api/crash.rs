//! The service process killed with SIGKILL (no graceful shutdown) in the middle of its work, then
//! started again on the same data: nothing it acknowledged is lost, and nothing is done twice.

use imbridge::messages::message_key;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use imbridge_netease::sign::now_millis;
use imbridge_netease::sim::Faults;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::Notify;

use crate::callbacks::message;
use crate::helpers::expect_json;
use crate::process::{callback_headers, Databases, Service};

on_local_and_external_databases!(
    acknowledged_callbacks_survive_a_sigkill_mid_burst,
    a_notification_interrupted_by_a_sigkill_reaches_everyone_once,
);

const SHOP: &str = "crash_shop";
const BUYER: &str = "crash_buyer";

/// Post the callbacks `indices` (into `bodies`), signed with `secret`, to the service at `address`
/// from `senders` concurrent tasks; returns the indices that were acknowledged (HTTP 200 with
/// `{"code":200}`). With `kill_after: Some((n, notify))`, `notify` fires at the n-th acknowledgement.
async fn burst(
    address: String,
    secret: String,
    bodies: &Arc<Vec<Vec<u8>>>,
    indices: Vec<usize>,
    senders: usize,
    kill_after: Option<(usize, Arc<Notify>)>,
) -> BTreeSet<usize> {
    let indices = Arc::new(indices);
    let next = Arc::new(AtomicUsize::new(0));
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    let url = format!("{address}/callbacks/netease");
    let tasks: Vec<_> = (0..senders)
        .map(|_| {
            let (indices, next, acked, bodies) = (indices.clone(), next.clone(), acked.clone(), bodies.clone());
            let (client, url, secret, kill_after) = (client.clone(), url.clone(), secret.clone(), kill_after.clone());
            tokio::spawn(async move {
                while let Some(&i) = indices.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let body = bodies[i].clone();
                    let mut request = client.post(&url).header("Content-Type", "application/json");
                    for (name, value) in callback_headers(&secret, &body) {
                        request = request.header(name, value);
                    }
                    let ok = match request.body(body).send().await {
                        Ok(response) if response.status() == StatusCode::OK => {
                            response.json::<Value>().await.is_ok_and(|b| b == json!({"code": 200}))
                        }
                        // Refused, reset or 503: not acknowledged, so NetEase would deliver it again.
                        _ => false,
                    };
                    if ok {
                        let count = {
                            let mut acked = acked.lock().unwrap();
                            acked.insert(i);
                            acked.len()
                        };
                        if let Some((threshold, notify)) = &kill_after {
                            if count == *threshold {
                                notify.notify_one();
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("sender task");
    }
    let acked = acked.lock().unwrap().clone();
    acked
}

async fn unread_from_shop(service: &Service) -> u64 {
    let body = service.get_json(&format!("/v1/unread?accid={BUYER}&peers={SHOP}")).await;
    body["unread"][SHOP].as_u64().expect("a count")
}

/// Many signed message callbacks (eventType 1, unique msgidServer) from concurrent senders; the
/// process is killed after some hundreds were acknowledged. After a restart every acknowledged
/// message is stored, and delivering the rest again (as NetEase retries what was not acknowledged)
/// leaves exactly one stored message per msgidServer.
async fn acknowledged_callbacks_survive_a_sigkill_mid_burst(databases: Databases) {
    const TOTAL: usize = 3_000;
    const KILL_AFTER: usize = 300;
    let mut service = Service::start(databases, &[]).await;
    let first_msgid = 7_000_000_000u64;
    let sent_at = now_millis() - 60_000;
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..TOTAL)
            .map(|i| serde_json::to_vec(&message(SHOP, BUYER, first_msgid + i as u64, sent_at + i as u64)).unwrap())
            .collect(),
    );

    let kill_now = Arc::new(Notify::new());
    let (address, secret) = (service.address.clone(), service.sim_secret.clone());
    let kill_after = Some((KILL_AFTER, kill_now.clone()));
    let mut sending = Box::pin(burst(address, secret, &bodies, (0..TOTAL).collect(), 32, kill_after));
    tokio::select! {
        acked = &mut sending => {
            panic!("the burst ended with only {} acknowledgements:\n{}", acked.len(), service.log_tail())
        }
        () = kill_now.notified() => {}
    }
    // The senders keep going while the process dies under them; they end when every callback was
    // tried once (those after the kill are refused).
    service.kill().await;
    let acked = sending.await;
    let acked_count = acked.len();
    assert!(acked_count >= KILL_AFTER, "{acked_count} acknowledged");
    assert!(acked_count < TOTAL, "the kill came mid-burst: all {TOTAL} were acknowledged");
    eprintln!("callback burst: {acked_count} of {TOTAL} acknowledged before the SIGKILL");

    service.restart().await;
    let store = service.message_store().await;
    let mut missing = Vec::new();
    for &i in &acked {
        let msgid = (first_msgid + i as u64).to_string();
        if store.get_message(&message_key("netease", &msgid)).await.expect("store lookup").is_none() {
            missing.push(msgid);
        }
    }
    assert!(
        missing.is_empty(),
        "{} acknowledged messages lost, e.g. {:?}",
        missing.len(),
        &missing[..5.min(missing.len())]
    );
    let stored = unread_from_shop(&service).await;
    assert!((acked_count as u64..=TOTAL as u64).contains(&stored), "{stored} stored, {acked_count} acknowledged");

    // NetEase delivers again what was not acknowledged; some of it was stored before the kill.
    let rest: Vec<usize> = (0..TOTAL).filter(|i| !acked.contains(i)).collect();
    let (address, secret) = (service.address.clone(), service.sim_secret.clone());
    let again = burst(address, secret, &bodies, rest.clone(), 16, None).await;
    assert_eq!(again.len(), rest.len(), "every redelivery is acknowledged:\n{}", service.log_tail());
    assert_eq!(unread_from_shop(&service).await, TOTAL as u64, "exactly one message per msgidServer");
    service.stop().await;
}

/// A notification to 1 200 recipients is three outbox items (batches of 500) of one NetEase call
/// each. With one send at a time and NetEase answering slowly, the process is killed while the
/// second batch is in flight (NetEase has applied it, imbridge has not heard back): the first is
/// delivered, the second is unsettled, the third untouched. After a restart the notification is
/// delivered and every recipient got it exactly once — the second batch is sent again with the
/// same RequestId and NetEase drops the repeat (431). A fresh RequestId on the resend would make
/// 500 recipients get it twice, which the per-recipient count below catches.
async fn a_notification_interrupted_by_a_sigkill_reaches_everyone_once(databases: Databases) {
    const RECIPIENTS: usize = 1_200;
    const API: &str = "msg/sendBatchAttachMsg";
    // Long enough that the kill surely lands while the second batch waits for its answer.
    const ANSWER_DELAY: Duration = Duration::from_secs(3);
    let settings = [
        ("IMBRIDGE_OUTBOX_CONCURRENCY", "1"),
        // A dead process's items are claimable again 2 s after its last lease renewal.
        ("IMBRIDGE_OUTBOX_LEASE_MS", "2000"),
        ("IMBRIDGE_OUTBOX_POLL_INTERVAL_MS", "100"),
    ];
    let mut service = Service::start(databases, &settings).await;
    let recipients: Vec<String> = (0..RECIPIENTS).map(|i| format!("crash_r{i:04}")).collect();
    let sender = "crash_sender".to_owned();
    service.register_at_provider(&[vec![sender.clone()], recipients.clone()].concat()).await;
    let sim = service.sim.state();
    sim.set_faults(Faults::delay(ANSWER_DELAY).only(&[API]));

    let request = json!({"from": sender, "to": recipients, "attach": {"type": "flash_sale"}, "push_content": "Sale"});
    let response = service.v1(Method::POST, "/v1/notifications").json(&request).send().await.expect("request");
    let accepted = expect_json(response, StatusCode::ACCEPTED).await;
    let id = accepted["id"].as_str().expect("an id").to_owned();

    // NetEase counts a call (and applies it) before it holds the answer back.
    let deadline = Instant::now() + Duration::from_secs(60);
    while sim.call_counts().total_of(API) < 2 {
        assert!(Instant::now() < deadline, "the second batch was not sent within 60 s:\n{}", service.log_tail());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    service.kill().await;
    sim.clear_faults();
    let before_restart = sim.notifications().len();
    assert_eq!(before_restart, 1_000, "killed with two batches applied and the third not sent");

    service.restart().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        let body = service.get_json(&format!("/v1/notifications/{id}")).await;
        if body["status"] != "queued" && body["status"] != "sending" {
            break body;
        }
        assert!(Instant::now() < deadline, "not settled within 60 s of the restart: {body}\n{}", service.log_tail());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status["status"], "delivered", "{status}");
    assert_eq!(status["unregistered"], json!([]), "{status}");

    let mut received: BTreeMap<String, usize> = BTreeMap::new();
    for record in sim.notifications() {
        assert_eq!(record.from, sender);
        *received.entry(record.to).or_default() += 1;
    }
    let twice: Vec<_> = received.iter().filter(|(_, n)| **n > 1).map(|(to, n)| format!("{to}×{n}")).collect();
    assert!(
        twice.is_empty(),
        "{} recipients got it more than once, e.g. {:?}",
        twice.len(),
        &twice[..5.min(twice.len())]
    );
    let expected: BTreeSet<&String> = recipients.iter().collect();
    assert_eq!(received.keys().collect::<BTreeSet<_>>(), expected, "every recipient got it");
    let calls = sim.call_counts();
    assert_eq!(calls.with_code(API, 200), 3, "one accepted call per batch: {calls:?}");
    assert!(calls.with_code(API, 431) >= 1, "the in-flight batch was resent with its RequestId: {calls:?}");
    service.stop().await;
}

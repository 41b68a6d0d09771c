//! Graceful shutdown in the middle of a callback burst: every callback that was acknowledged is
//! stored, no caller gets a 5xx because the service is stopping, and the server does stop.

use imbridge::messages::message_key;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use imbridge_netease::sign::{now_millis, CallbackHeaders};
use reqwest::StatusCode;

use crate::callbacks::{message, spawn};
use crate::helpers::{Store, APP_KEY};

const SENDERS: u64 = 8;
/// Stop once this many callbacks were acknowledged, so the stop lands mid-burst.
const STOP_AFTER_ACKS: u64 = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn graceful_stop_during_a_callback_burst_stores_every_acknowledged_callback() {
    let app = spawn(Store::Embedded).await;
    let acked_count = Arc::new(AtomicU64::new(0));
    let stop_now = Arc::new(tokio::sync::Notify::new());

    let mut senders = Vec::new();
    for sender in 0..SENDERS {
        let url = format!("{}/callbacks/netease", app.address);
        let secret = app.sim_secret.clone();
        let (acked_count, stop_now) = (acked_count.clone(), stop_now.clone());
        senders.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let (mut acked, mut refused) = (Vec::new(), 0u32);
            for n in 0u64.. {
                let msgid = 1_000_000 * (sender + 1) + n;
                let body = serde_json::to_vec(&message("buyer_gs", "shop_gs", msgid, now_millis())).unwrap();
                let signed = CallbackHeaders::sign(&secret, &body, now_millis());
                let request = client
                    .post(&url)
                    .header("Content-Type", "application/json")
                    .header("MD5", signed.md5)
                    .header("CurTime", signed.cur_time)
                    .header("CheckSum", signed.checksum)
                    .header("AppKey", APP_KEY)
                    .body(body);
                match request.send().await {
                    Ok(response) => {
                        let status = response.status();
                        assert_eq!(status, StatusCode::OK, "callback {msgid} got {status} while the service stopped");
                        acked.push(msgid.to_string());
                        if acked_count.fetch_add(1, Ordering::SeqCst) + 1 == STOP_AFTER_ACKS {
                            stop_now.notify_one();
                        }
                    }
                    // The server no longer takes connections. Nothing unanswered was acknowledged;
                    // the provider retries it.
                    Err(_) => {
                        refused += 1;
                        if refused >= 3 {
                            break;
                        }
                    }
                }
            }
            acked
        }));
    }

    stop_now.notified().await;
    let store_dir = app.dir.clone();
    let messages = app.message_store().await;
    app.stop().await; // cancels, lets in-flight requests finish, returns when the server has stopped

    let mut acked = Vec::new();
    for sender in senders {
        acked.extend(sender.await.expect("sender"));
    }
    assert!(acked.len() as u64 >= STOP_AFTER_ACKS);
    let mut missing = Vec::new();
    for msgid in &acked {
        if messages.get_message(&message_key("netease", msgid)).await.unwrap().is_none() {
            missing.push(msgid.clone());
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged callbacks were not stored: {missing:?}",
        missing.len(),
        acked.len()
    );
    drop(store_dir);
}

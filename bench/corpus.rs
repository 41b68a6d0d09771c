//! Realistic NetEase callback bodies (shared/providers/netease.md §4), their signatures, and the
//! parsed form the store takes, built with the provider's own parser so the raw-store baseline
//! writes exactly what the service would.

use std::sync::Arc;
use std::time::SystemTime;

use anyhow::Context;
use bytes::Bytes;
use imbridge::messages::{CallbackRecord, RawCallback};
use imbridge_netease::sign::{now_millis, CallbackHeaders};
use imbridge_netease::{NeteaseConfig, NeteaseProvider};
use imbridge_provider::ImProvider;
use serde_json::json;

use crate::http1::{Connection, Response};

pub const APP_KEY: &str = "bench-app-key";
pub const APP_SECRET: &str = "bench-app-secret-0123456789";

/// One eventType-1 chat message.
pub struct ChatMessage<'a> {
    /// Becomes `msgidServer` (a numeric string, unique per message).
    pub key: u64,
    pub from: &'a str,
    pub to: &'a str,
    pub sent_at_ms: i64,
    pub text: &'a str,
}

impl ChatMessage<'_> {
    /// The body as NetEase posts it: every field a string, as in its documentation's example, plus
    /// the client address fields real deliveries carry.
    pub fn body(&self) -> Vec<u8> {
        json!({
            "attach": "",
            "body": self.text,
            "convType": "PERSON",
            "eventType": "1",
            "fromAccount": self.from,
            "fromClientType": if self.key.is_multiple_of(3) { "IOS" } else { "AOS" },
            "fromDeviceId": format!("device-{}", self.key % 9973),
            "fromNick": self.from,
            "msgTimestamp": self.sent_at_ms.to_string(),
            "msgType": "TEXT",
            "msgidClient": format!("{:032x}", u128::from(self.key).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            "msgidServer": self.key.to_string(),
            "resendFlag": "0",
            "to": self.to,
            "fromClientIp": "10.12.34.56",
            "fromClientPort": "52714",
            "ext": "{\"orderId\":\"SO-20240611-0042\"}",
        })
        .to_string()
        .into_bytes()
    }
}

/// A read receipt (eventType 30): `reader` has read what `peer` sent up to `up_to_ms`.
pub fn read_receipt_body(reader: &str, peer: &str, up_to_ms: i64) -> Vec<u8> {
    let objects = json!([{
        "fromAccount": reader,
        "toAccount": peer,
        "msgidClient": format!("receipt-{reader}-{peer}"),
        "timestamp": up_to_ms,
        "clientType": "AOS",
    }]);
    json!({"eventType": "30", "objects": objects.to_string()}).to_string().into_bytes()
}

/// The bodies of P1: `count` messages between `pairs` buyer/shop pairs, in both directions, with
/// `msgidServer` starting at `first_key`.
pub fn chat_bodies(first_key: u64, count: usize, pairs: usize) -> Vec<Vec<u8>> {
    let texts = [
        "hello, is this still in stock?",
        "Yes! We ship within 24 hours.",
        "Can you do a discount for two?",
        "图片里的颜色是实物颜色吗？",
        "ok, placed the order",
    ];
    let now = i64::try_from(now_millis()).unwrap_or(i64::MAX);
    (0..count)
        .map(|i| {
            let pair = i % pairs.max(1);
            let (buyer, shop) = (format!("buyer_{pair:05}"), format!("shop_{:04}", pair % 997));
            let (from, to) = if i % 2 == 0 { (&buyer, &shop) } else { (&shop, &buyer) };
            let sent_at_ms = now - i64::try_from(count - i).unwrap_or(0);
            ChatMessage { key: first_key + i as u64, from, to, sent_at_ms, text: texts[i % texts.len()] }.body()
        })
        .collect()
}

/// A random start for `msgidServer`, so runs against a reused store never collide.
pub fn random_first_key() -> u64 {
    use rand::Rng;
    rand::thread_rng().gen_range(1_000_000_000_000..9_000_000_000_000)
}

/// Headers NetEase would send with `body` now.
pub fn sign(body: &[u8]) -> CallbackHeaders {
    CallbackHeaders::sign(APP_SECRET, body, now_millis())
}

/// POST `body` to `path` as NetEase would: signed now, with its headers.
pub async fn post_signed(conn: &mut Connection, path: &str, body: &[u8]) -> std::io::Result<Response> {
    let signed = sign(body);
    let headers = [
        ("Content-Type", "application/json;charset=utf-8"),
        ("AppKey", APP_KEY),
        ("CurTime", signed.cur_time.as_str()),
        ("MD5", signed.md5.as_str()),
        ("CheckSum", signed.checksum.as_str()),
    ];
    conn.send("POST", path, &headers, body).await
}

/// Turns bodies into what `MessageStore::apply` takes, with the service's own provider parser.
pub struct Parser {
    provider: Arc<dyn ImProvider>,
}

impl Parser {
    pub fn new() -> anyhow::Result<Self> {
        // The base URL is never called: only the parser is used.
        let config = NeteaseConfig::new("http://127.0.0.1:9/nimserver", APP_KEY, APP_SECRET);
        let provider = NeteaseProvider::new(config).context("build the NetEase parser")?;
        Ok(Parser { provider: Arc::new(provider) })
    }

    pub fn applied(&self, body: &[u8]) -> anyhow::Result<CallbackRecord> {
        let parsed = self
            .provider
            .parse_callback("/callbacks/netease", body)
            .map_err(|e| anyhow::anyhow!("the bench built a body the parser refuses: {}", e.0))?;
        Ok(CallbackRecord {
            raw: RawCallback {
                provider: self.provider.name().to_owned(),
                event_type: parsed.event_type,
                body: Bytes::copy_from_slice(body),
                path_and_query: "/callbacks/netease".to_owned(),
                received_at: SystemTime::now(),
            },
            events: parsed.events,
        })
    }
}

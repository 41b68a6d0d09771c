//! The forged-callback battery: one genuine signed callback is stored, then well over a thousand
//! deterministic mutations of it (a seeded RNG) are posted concurrently. Each mutation that changes
//! what NetEase signed must be refused with an empty 401; each one that only re-encodes or replays
//! the genuine callback must be acknowledged as a duplicate; afterwards the store is exactly as the
//! one genuine callback left it.
//!
//! Forgeries (shared/providers/netease.md §2; providers/netease/src/callback.rs):
//! - Any change to the body bytes: the MD5 no longer matches, and recomputing the MD5 (it is
//!   public) breaks the CheckSum, which needs the secret.
//! - Any change to the MD5 or CheckSum *digest* (bit flips, truncation, extension, another body's,
//!   another secret's), and any change to the CurTime *text*: the CheckSum covers it byte for byte.
//! - A CurTime outside the freshness window either way, even correctly signed (a captured old
//!   callback, or one signed ahead of time), and one that is not a number of milliseconds.
//! - A missing or renamed MD5, CurTime or CheckSum header; a bogus copy sent before the real one.
//! - An AppKey other than ours, compared exactly (it names an app), including one that is not text.
//!
//! Not forgeries, so acknowledged as duplicates that change nothing:
//! - Header *names* in another case: HTTP field names are case-insensitive (RFC 9110 §5.1) and
//!   NetEase's spelling varies. Requests are written byte for byte on a raw socket so the case
//!   really differs on the wire (HTTP clients normalise names).
//! - The digests' hex in upper or mixed case: the same 128/160 bits, which only the holder of the
//!   secret could produce (a bit flip of 0x20 on a-f is exactly such a case change).
//! - Spaces or tabs around a value: HTTP strips them before anyone reads the value.
//! - No AppKey header: NetEase does not always send one.
//! - The genuine body re-signed at another CurTime inside the window: a replay; its msgidServer
//!   is stored once.

use imbridge::messages::message_key;
use std::collections::HashMap;
use std::net::SocketAddr;

use futures::stream::{self, StreamExt};
use imbridge::config::Config;
use imbridge_netease::sign::{body_md5, callback_checksum, now_millis};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::callbacks::{message, spawn, unread};
use crate::helpers::{Store, TestApp, APP_KEY};

on_both_stores!(forged_callbacks_are_refused_and_replays_change_nothing);

const SEED: u64 = 0x1b5e_c0de;
const CONCURRENCY: usize = 16;
const MSGID: u64 = 777_001;
const ACK: &[u8] = br#"{"code":200}"#;
const DAY_MS: u64 = 24 * 3600 * 1000;
/// Margin beyond the window for stale/future CurTimes, so the time the battery takes cannot matter.
const MARGIN_MS: u64 = 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// 401 with an empty body: a forger learns nothing.
    Refused,
    /// `{"code":200}`: the genuine callback again, already stored.
    Duplicate,
}

/// Header names and values exactly as written on the wire.
type Headers = Vec<(String, Vec<u8>)>;

struct Attempt {
    what: String,
    headers: Headers,
    body: Vec<u8>,
    expect: Expect,
}

async fn forged_callbacks_are_refused_and_replays_change_nothing(store: Store) {
    let app = spawn(store).await;
    let config = Config::defaults();
    let address: SocketAddr = app.address.trim_start_matches("http://").parse().unwrap();
    let target = Target { address, path: config.callbacks.path.clone() };
    let now_ms = now_millis();
    let body = serde_json::to_vec(&message("shop_1", "buyer_1", MSGID, now_ms - 60_000)).unwrap();
    let good = signed(&app.sim_secret, &body, &now_ms.to_string());

    // The genuine callback, written the same way as the battery, is acknowledged and stored.
    let genuine =
        Attempt { what: "genuine".into(), headers: good.clone(), body: body.clone(), expect: Expect::Duplicate };
    assert_eq!(target.send(&genuine).await, (200, ACK.to_vec()));
    let messages = app.message_store().await;
    let before = Snapshot::take(&app, &*messages).await;
    assert_eq!(before.unread["unread"]["shop_1"], 1, "{before:?}");
    assert!(before.stored.is_some() && before.raw_count == 1 && before.dead_letters == 0, "{before:?}");
    let outcomes_before = callback_outcomes(&app).await;

    let battery = Battery {
        rng: StdRng::seed_from_u64(SEED),
        secret: app.sim_secret.clone(),
        body,
        good,
        now_ms,
        window_ms: config.callbacks.window().as_millis() as u64,
        attempts: Vec::new(),
    };
    let attempts = battery.build();
    let forged = attempts.iter().filter(|a| a.expect == Expect::Refused).count();
    let replays = attempts.len() - forged;
    assert!(forged >= 1000 && replays >= 40, "{forged} forgeries, {replays} replays");

    let answers: Vec<(usize, (u16, Vec<u8>))> = stream::iter(attempts.iter().enumerate())
        .map(|(i, attempt)| {
            let target = &target;
            async move { (i, target.send(attempt).await) }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let wrong: Vec<String> = answers
        .iter()
        .filter_map(|(i, (status, reply))| {
            let attempt = &attempts[*i];
            let right = match attempt.expect {
                Expect::Refused => *status == 401 && reply.is_empty(),
                Expect::Duplicate => *status == 200 && reply == ACK,
            };
            (!right).then(|| {
                let headers: Vec<_> =
                    attempt.headers.iter().map(|(n, v)| format!("{n}: {}", String::from_utf8_lossy(v))).collect();
                format!(
                    "{} (expected {:?}) got {status} {}; headers {headers:?}",
                    attempt.what,
                    attempt.expect,
                    String::from_utf8_lossy(reply)
                )
            })
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {} attempts answered wrongly, e.g.:\n{}",
        wrong.len(),
        attempts.len(),
        wrong.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
    );

    let after = Snapshot::take(&app, &*messages).await;
    assert_eq!(after, before, "the battery changed the store");

    // The counters are process-wide (other tests add to them), so they must have moved at least this much.
    let outcomes_after = callback_outcomes(&app).await;
    let moved =
        |outcome: &str| outcomes_after.get(outcome).unwrap_or(&0.0) - outcomes_before.get(outcome).unwrap_or(&0.0);
    let rejected: f64 = outcomes_after.keys().filter(|k| k.starts_with("rejected:")).map(|k| moved(k)).sum();
    assert!(rejected >= forged as f64, "{rejected} rejections counted for {forged} forgeries");
    for reason in ["missing_header", "bad_md5", "bad_checksum", "stale", "future", "bad_curtime", "wrong_app_key"] {
        assert!(moved(&format!("rejected:{reason}")) >= 1.0, "no rejection counted as {reason}: {outcomes_after:?}");
    }
    assert!(moved("duplicate") >= replays as f64, "{} duplicates counted for {replays} replays", moved("duplicate"));
}

/// What the store shows of the genuine callback: its unread count, its stored document, the raw
/// audit trail and the dead letters (any accepted body, parseable or not, would land in one of them).
#[derive(Debug, PartialEq)]
struct Snapshot {
    unread: Value,
    stored: Option<Value>,
    raw_count: u64,
    dead_letters: usize,
}

impl Snapshot {
    async fn take(app: &TestApp, messages: &dyn imbridge::messages::MessageStore) -> Self {
        Self {
            unread: unread(app, "buyer_1", &["shop_1"]).await,
            stored: messages.get_message(&message_key("netease", &MSGID.to_string())).await.unwrap(),
            raw_count: messages.raw_count().await.unwrap(),
            dead_letters: messages.dead_letters(100).await.unwrap().len(),
        }
    }
}

/// `imbridge_callbacks_total` by outcome, summed over event types.
async fn callback_outcomes(app: &TestApp) -> HashMap<String, f64> {
    let text = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap().text().await.unwrap();
    let mut outcomes = HashMap::new();
    for line in text.lines().filter(|l| l.starts_with("imbridge_callbacks_total{")) {
        let outcome = line.split("outcome=\"").nth(1).and_then(|rest| rest.split('"').next());
        let value = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok());
        if let (Some(outcome), Some(value)) = (outcome, value) {
            *outcomes.entry(outcome.to_owned()).or_default() += value;
        }
    }
    outcomes
}

/// Where callbacks go.
struct Target {
    address: SocketAddr,
    path: String,
}

impl Target {
    /// POST one attempt byte for byte on a connection of its own; the status and the body.
    async fn send(&self, attempt: &Attempt) -> (u16, Vec<u8>) {
        let mut request = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.path,
            self.address,
            attempt.body.len()
        )
        .into_bytes();
        for (name, value) in &attempt.headers {
            request.extend_from_slice(name.as_bytes());
            request.extend_from_slice(b": ");
            request.extend_from_slice(value);
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"\r\n");
        request.extend_from_slice(&attempt.body);
        let mut stream = TcpStream::connect(self.address).await.expect("connect to the app");
        stream.write_all(&request).await.expect("write the callback");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.expect("read the answer");

        let end = response.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete HTTP head");
        let head = String::from_utf8_lossy(&response[..end]).to_ascii_lowercase();
        assert!(!head.contains("transfer-encoding"), "expected a Content-Length answer: {head}");
        let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("a status line: {head}"));
        (status, response[end + 4..].to_vec())
    }
}

/// NetEase's headers, in its spelling, for `body` signed with `secret` at the CurTime text `cur_time`.
fn signed(secret: &str, body: &[u8], cur_time: &str) -> Headers {
    let md5 = body_md5(body);
    let checksum = callback_checksum(secret, &md5, cur_time);
    vec![header("CurTime", cur_time), header("MD5", &md5), header("CheckSum", &checksum), header("AppKey", APP_KEY)]
}

fn header(name: &str, value: impl AsRef<[u8]>) -> (String, Vec<u8>) {
    (name.to_owned(), value.as_ref().to_vec())
}

fn value_of<'a>(headers: &'a Headers, name: &str) -> &'a str {
    let (_, value) = headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).expect("the header");
    std::str::from_utf8(value).expect("genuine headers are text")
}

/// `headers` with `name`'s value replaced, in place.
fn with(headers: &Headers, name: &str, value: impl AsRef<[u8]>) -> Headers {
    let value = value.as_ref();
    headers
        .iter()
        .map(|(n, v)| (n.clone(), if n.eq_ignore_ascii_case(name) { value.to_vec() } else { v.clone() }))
        .collect()
}

fn without(headers: &Headers, names: &[&str]) -> Headers {
    headers.iter().filter(|(n, _)| !names.iter().any(|name| n.eq_ignore_ascii_case(name))).cloned().collect()
}

/// What HTTP/1.1 allows in a field value (RFC 9110 §5.5): visible ASCII, space, tab, obs-text.
fn is_field_value(value: &[u8]) -> bool {
    value.iter().all(|&b| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80)
}

/// `bytes` with `n` random bits flipped, and which.
fn flip_bits(rng: &mut StdRng, bytes: &[u8], n: usize) -> (Vec<u8>, String) {
    let mut out = bytes.to_vec();
    let mut flipped = Vec::new();
    for _ in 0..n {
        let (at, bit) = (rng.gen_range(0..out.len()), rng.gen_range(0..8));
        out[at] ^= 1 << bit;
        flipped.push(format!("{at}.{bit}"));
    }
    (out, format!("bits {} flipped", flipped.join(",")))
}

fn random_case(rng: &mut StdRng, text: &str) -> String {
    text.chars().map(|c| if rng.gen() { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() }).collect()
}

/// Builds the mutations of one genuine callback.
struct Battery {
    rng: StdRng,
    secret: String,
    body: Vec<u8>,
    /// The genuine headers.
    good: Headers,
    now_ms: u64,
    window_ms: u64,
    attempts: Vec<Attempt>,
}

impl Battery {
    fn build(mut self) -> Vec<Attempt> {
        self.body_mutations();
        for name in ["MD5", "CheckSum"] {
            self.digest_mutations(name);
        }
        self.cur_time_mutations();
        self.missing_and_renamed_headers();
        self.app_key_mutations();
        self.bogus_copies_first();
        self.equivalent_encodings();
        self.attempts.shuffle(&mut self.rng);
        self.attempts
    }

    fn refused(&mut self, what: impl Into<String>, headers: Headers, body: Vec<u8>) {
        self.attempts.push(Attempt { what: what.into(), headers, body, expect: Expect::Refused });
    }

    fn duplicate(&mut self, what: impl Into<String>, headers: Headers) {
        let body = self.body.clone();
        self.attempts.push(Attempt { what: what.into(), headers, body, expect: Expect::Duplicate });
    }

    /// The genuine callback with `name`'s value mutated: a duplicate when what the server reads is
    /// still the genuine value (hex in another case for the digests; surrounding whitespace, which
    /// HTTP strips), a forgery otherwise. Values HTTP cannot carry (control bytes) are skipped.
    fn header_value(&mut self, what: String, name: &str, mutated: Vec<u8>) {
        if !is_field_value(&mutated) {
            return;
        }
        let genuine = value_of(&self.good, name);
        let hex = name == "MD5" || name == "CheckSum";
        let same = std::str::from_utf8(&mutated).ok().map(|v| v.trim_matches([' ', '\t'])).is_some_and(|v| {
            if hex {
                v.eq_ignore_ascii_case(genuine)
            } else {
                v == genuine
            }
        });
        let headers = with(&self.good, name, mutated);
        if same {
            self.duplicate(what, headers);
        } else {
            let body = self.body.clone();
            self.refused(what, headers, body);
        }
    }

    fn body_mutations(&mut self) {
        let body = self.body.clone();
        for _ in 0..400 {
            let (mutated, what) = flip_bits(&mut self.rng, &body, 1);
            self.refused(format!("body: {what}"), self.good.clone(), mutated);
        }
        for _ in 0..100 {
            let n = self.rng.gen_range(2..=8);
            let (mutated, what) = flip_bits(&mut self.rng, &body, n);
            if mutated != body {
                self.refused(format!("body: {what}"), self.good.clone(), mutated);
            }
        }
        // The forger recomputes the MD5 over its bytes (anyone can); the CheckSum needs the secret.
        for _ in 0..150 {
            let n = self.rng.gen_range(1..=4);
            let (mutated, what) = flip_bits(&mut self.rng, &body, n);
            if mutated != body {
                let headers = with(&self.good, "MD5", body_md5(&mutated));
                self.refused(format!("body: {what}, MD5 recomputed"), headers, mutated);
            }
        }
        for _ in 0..30 {
            let len = self.rng.gen_range(0..body.len());
            self.refused(format!("body truncated to {len} bytes"), self.good.clone(), body[..len].to_vec());
        }
        for suffix in [&b"\n"[..], b" ", b"\r\n", b"\0", b"}", b",{}", b"\xff"] {
            let mutated = [&body[..], suffix].concat();
            self.refused(format!("body + {suffix:?}"), self.good.clone(), mutated.clone());
            let headers = with(&self.good, "MD5", body_md5(&mutated));
            self.refused(format!("body + {suffix:?}, MD5 recomputed"), headers, mutated);
        }
        // The same JSON value in other bytes, and the same bytes with one field changed.
        let value: Value = serde_json::from_slice(&body).unwrap();
        let pretty = serde_json::to_vec_pretty(&value).unwrap();
        self.refused("body pretty-printed", self.good.clone(), pretty.clone());
        self.refused("body pretty-printed, MD5 recomputed", with(&self.good, "MD5", body_md5(&pretty)), pretty);
        for (field, forged) in
            [("msgidServer", "777002"), ("fromAccount", "shop_2"), ("to", "buyer_2"), ("msgType", "TIPS")]
        {
            let mut changed = value.clone();
            changed[field] = forged.into();
            let changed = serde_json::to_vec(&changed).unwrap();
            self.refused(format!("{field} changed"), self.good.clone(), changed.clone());
            let headers = with(&self.good, "MD5", body_md5(&changed));
            self.refused(format!("{field} changed, MD5 recomputed"), headers, changed);
        }
    }

    fn digest_mutations(&mut self, name: &str) {
        let genuine = value_of(&self.good, name).to_owned();
        for _ in 0..80 {
            let n = self.rng.gen_range(1..=3);
            let (mutated, what) = flip_bits(&mut self.rng, genuine.as_bytes(), n);
            self.header_value(format!("{name}: {what}"), name, mutated);
        }
        for keep in [0, 1, 8, 16, 20, 31, 32, 39] {
            if keep < genuine.len() {
                self.header_value(format!("{name} cut to its first {keep}"), name, genuine[..keep].into());
                let from = genuine.len() - keep;
                self.header_value(format!("{name} cut to its last {keep}"), name, genuine[from..].into());
            }
        }
        for extra in ["0", "a", "00", "\u{e9}", genuine.as_str()] {
            self.header_value(format!("{name} + {extra:?}"), name, format!("{genuine}{extra}").into_bytes());
            self.header_value(format!("{extra:?} + {name}"), name, format!("{extra}{genuine}").into_bytes());
        }
        let zeros = "0".repeat(genuine.len());
        let fs = "f".repeat(genuine.len());
        self.header_value(format!("{name} all zeros"), name, zeros.into_bytes());
        self.header_value(format!("{name} all f"), name, fs.into_bytes());
        self.header_value(format!("{name} hex with separators"), name, spaced_hex(&genuine).into_bytes());
        let cur_time = value_of(&self.good, "CurTime").to_owned();
        if name == "MD5" {
            // Another body's MD5 with its own valid CheckSum: consistent, but not these bytes.
            for other in [&b""[..], b"{}", br#"{"eventType":"1"}"#] {
                let headers = with(&self.good, "MD5", body_md5(other));
                let headers = with(&headers, "CheckSum", callback_checksum(&self.secret, &body_md5(other), &cur_time));
                let body = self.body.clone();
                self.refused(format!("MD5 and CheckSum of {:?}", String::from_utf8_lossy(other)), headers, body);
            }
        } else {
            let md5 = value_of(&self.good, "MD5").to_owned();
            let secret = self.secret.clone();
            let wrong_secrets = [
                "".to_owned(),
                "secret".into(),
                secret.to_uppercase(),
                secret[1..].into(),
                format!("{secret} "),
                APP_KEY.into(),
            ];
            for wrong in wrong_secrets {
                self.header_value(
                    format!("CheckSum with secret {wrong:?}"),
                    name,
                    callback_checksum(&wrong, &md5, &cur_time).into(),
                );
            }
            // The right ingredients in the wrong order or without the secret.
            let mixed = [
                callback_checksum(&secret, &cur_time, &md5),
                callback_checksum(&md5, &secret, &cur_time),
                callback_checksum("", &md5, &cur_time),
                callback_checksum(&secret, &md5.to_uppercase(), &cur_time),
                callback_checksum(&secret, &md5, ""),
                body_md5(format!("{secret}{md5}{cur_time}").as_bytes()),
            ];
            for (i, checksum) in mixed.into_iter().enumerate() {
                self.header_value(format!("CheckSum recipe {i}"), name, checksum.into_bytes());
            }
        }
    }

    fn cur_time_mutations(&mut self) {
        let (now, window) = (self.now_ms, self.window_ms);
        let body = self.body.clone();
        // Correctly signed, outside the window: captured long ago, or signed ahead of time.
        for _ in 0..30 {
            let at = now - window - MARGIN_MS - self.rng.gen_range(0..3 * 365 * DAY_MS);
            let headers = signed(&self.secret, &body, &at.to_string());
            self.refused(format!("signed {} ms ago", now - at), headers, body.clone());
        }
        for _ in 0..30 {
            let at = now + window + MARGIN_MS + self.rng.gen_range(0..3 * 365 * DAY_MS);
            let headers = signed(&self.secret, &body, &at.to_string());
            self.refused(format!("signed {} ms ahead", at - now), headers, body.clone());
        }
        // Signed, with a CurTime that is not milliseconds inside the window.
        let secs = now / 1000;
        let malformed = [
            "".to_owned(),
            "0".into(),
            "1".into(),
            secs.to_string(),
            "abc".into(),
            "-1".into(),
            format!("-{now}"),
            format!("{now}.0"),
            format!("{secs}.{}", now % 1000),
            format!("{now}e0"),
            "1.7e12".into(),
            format!("0x{now:x}"),
            format!("{now} ms"),
            format!("{now}Z"),
            format!("{now},{now}"),
            "99999999999999999999".into(),
            u64::MAX.to_string(),
            "\u{661}\u{667}\u{660}\u{660}".into(),
        ];
        for cur_time in malformed {
            let headers = signed(&self.secret, &body, &cur_time);
            self.refused(format!("signed at CurTime {cur_time:?}"), headers, body.clone());
            self.header_value(format!("CurTime {cur_time:?}, not re-signed"), "CurTime", cur_time.into_bytes());
        }
        // Another CurTime without a new CheckSum, even the same number spelt otherwise.
        for delta in [1i64, -1, 1000, -1000, 60_000, -60_000, 299_999] {
            let shifted = (now as i64 + delta).to_string();
            self.header_value(format!("CurTime {delta:+} ms, not re-signed"), "CurTime", shifted.into_bytes());
        }
        self.header_value("CurTime with a leading zero".into(), "CurTime", format!("0{now}").into_bytes());
        self.header_value("CurTime with a plus sign".into(), "CurTime", format!("+{now}").into_bytes());
        let genuine = value_of(&self.good, "CurTime").to_owned();
        for _ in 0..30 {
            let n = self.rng.gen_range(1..=2);
            let (mutated, what) = flip_bits(&mut self.rng, genuine.as_bytes(), n);
            self.header_value(format!("CurTime: {what}"), "CurTime", mutated);
        }
    }

    fn missing_and_renamed_headers(&mut self) {
        let signature = ["MD5", "CurTime", "CheckSum"];
        for mask in 1..8usize {
            let gone: Vec<&str> =
                signature.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, n)| *n).collect();
            let body = self.body.clone();
            self.refused(format!("without {gone:?}"), without(&self.good, &gone), body.clone());
            let mut and_app_key = gone.clone();
            and_app_key.push("AppKey");
            self.refused(format!("without {and_app_key:?}"), without(&self.good, &and_app_key), body);
        }
        let renames = [
            ("MD5", "MD-5"),
            ("MD5", "Content-MD5"),
            ("MD5", "MD5s"),
            ("CurTime", "Cur-Time"),
            ("CurTime", "Time"),
            ("CurTime", "CurTimeMs"),
            ("CheckSum", "Check-Sum"),
            ("CheckSum", "X-CheckSum"),
            ("CheckSum", "Signature"),
        ];
        for (name, renamed) in renames {
            let headers = self
                .good
                .iter()
                .map(|(n, v)| (if n == name { renamed.to_owned() } else { n.clone() }, v.clone()))
                .collect();
            let body = self.body.clone();
            self.refused(format!("{name} sent as {renamed}"), headers, body);
        }
    }

    fn app_key_mutations(&mut self) {
        let others = [
            "".to_owned(),
            "another-app".into(),
            APP_KEY.to_uppercase(),
            "Test-App-Key".into(),
            format!("{APP_KEY}x"),
            APP_KEY[..APP_KEY.len() - 1].into(),
            format!("{APP_KEY},{APP_KEY}"),
            format!("{APP_KEY}\u{e9}"),
        ];
        for other in others {
            self.header_value(format!("AppKey {other:?}"), "AppKey", other.into_bytes());
        }
        for _ in 0..20 {
            let len = self.rng.gen_range(1..=32);
            let other: String = (0..len).map(|_| self.rng.sample(rand::distributions::Alphanumeric) as char).collect();
            self.header_value(format!("AppKey {other:?}"), "AppKey", other.into_bytes());
        }
        for _ in 0..30 {
            let n = self.rng.gen_range(1..=2);
            let (mutated, what) = flip_bits(&mut self.rng, APP_KEY.as_bytes(), n);
            self.header_value(format!("AppKey: {what}"), "AppKey", mutated);
        }
    }

    /// A bogus copy of a header before the genuine one: the first is the one that counts.
    fn bogus_copies_first(&mut self) {
        let cur_time = value_of(&self.good, "CurTime").to_owned();
        let md5 = value_of(&self.good, "MD5").to_owned();
        let bogus = [
            ("MD5", body_md5(b"{}")),
            ("CurTime", (self.now_ms - 1).to_string()),
            ("CheckSum", callback_checksum("not-the-secret", &md5, &cur_time)),
            ("AppKey", "another-app".to_owned()),
        ];
        for (name, value) in bogus {
            let mut headers = vec![header(name, &value)];
            headers.extend(self.good.iter().cloned());
            let body = self.body.clone();
            self.refused(format!("bogus {name} before the genuine one"), headers, body);
        }
    }

    fn equivalent_encodings(&mut self) {
        let rename = |headers: &Headers, f: &mut dyn FnMut(&str) -> String| -> Headers {
            headers.iter().map(|(n, v)| (f(n), v.clone())).collect()
        };
        let lower = rename(&self.good, &mut |n| n.to_ascii_lowercase());
        let upper = rename(&self.good, &mut |n| n.to_ascii_uppercase());
        self.duplicate("header names in lowercase", lower.clone());
        self.duplicate("header names in uppercase", upper);
        for _ in 0..15 {
            let rng = &mut self.rng;
            let mixed = rename(&self.good, &mut |n| random_case(rng, n));
            let names: Vec<_> = mixed.iter().map(|(n, _)| n.clone()).collect();
            self.duplicate(format!("header names {names:?}"), mixed);
        }
        for name in ["MD5", "CheckSum"] {
            let genuine = value_of(&self.good, name).to_owned();
            self.duplicate(format!("{name} in uppercase hex"), with(&self.good, name, genuine.to_uppercase()));
            for _ in 0..5 {
                let mixed = random_case(&mut self.rng, &genuine);
                self.duplicate(format!("{name} {mixed}"), with(&self.good, name, mixed));
            }
        }
        let both = with(&self.good, "MD5", value_of(&self.good, "MD5").to_uppercase());
        let both = with(&both, "CheckSum", value_of(&self.good, "CheckSum").to_uppercase());
        self.duplicate("MD5 and CheckSum in uppercase hex", both);
        for name in ["MD5", "CurTime", "CheckSum", "AppKey"] {
            let genuine = value_of(&self.good, name).to_owned();
            for padded in [format!(" {genuine}"), format!("{genuine}\t"), format!("  {genuine}  ")] {
                self.header_value(format!("{name} {padded:?}"), name, padded.into_bytes());
            }
        }
        self.duplicate("no AppKey", without(&self.good, &["AppKey"]));
        self.duplicate("no AppKey, names in lowercase", without(&lower, &["appkey"]));
        // Replays: the genuine body signed again at another CurTime inside the window.
        let body = self.body.clone();
        for _ in 0..10 {
            let at = self.now_ms - self.rng.gen_range(0..self.window_ms / 2);
            self.duplicate(
                format!("re-signed {} ms ago", self.now_ms - at),
                signed(&self.secret, &body, &at.to_string()),
            );
        }
        for _ in 0..5 {
            let at = self.now_ms + self.rng.gen_range(0..self.window_ms / 4);
            self.duplicate(
                format!("re-signed {} ms ahead", at - self.now_ms),
                signed(&self.secret, &body, &at.to_string()),
            );
        }
    }
}

/// `ab cd ef ...`: the digest's characters in pairs with spaces between.
fn spaced_hex(hex: &str) -> String {
    hex.as_bytes().chunks(2).map(|pair| String::from_utf8_lossy(pair).into_owned()).collect::<Vec<_>>().join(" ")
}

//! `parse` must never panic: whatever a signed sender posts ends as events or a ParseError. And
//! whole requests (headers + body) through the provider's `verify_callback` then `parse_callback`:
//! no panic whatever arrives, and a genuine request, however mutated, verifies only while it still
//! carries what NetEase signed.

use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use imbridge_netease::callback::{parse, verify};
use imbridge_netease::sign::CallbackHeaders;
use imbridge_netease::{NeteaseConfig, NeteaseProvider};
use imbridge_provider::{CallbackRequest, ImProvider};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value};

/// Arbitrary JSON, biased towards the field names and values the parser looks at.
fn json_value() -> impl Strategy<Value = Value> {
    let names = prop_oneof![
        Just("eventType".to_string()),
        Just("objects".to_string()),
        Just("msgTimestamp".to_string()),
        Just("msgidServer".to_string()),
        Just("fromAccount".to_string()),
        Just("toAccount".to_string()),
        Just("timestamp".to_string()),
        Just("convType".to_string()),
        Just("accid".to_string()),
        "[a-zA-Z]{0,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        prop_oneof![Just("1"), Just("2"), Just("3"), Just("7"), Just("30"), Just("PERSON"), Just("TIPS"), Just("[{}]")]
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((names.clone(), inner.clone()), 0..8)
                .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>())),
            // A JSON-encoded document inside a string, as `objects` arrives.
            inner.prop_map(|v| Value::String(v.to_string())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse(&bytes);
    }

    #[test]
    fn arbitrary_json_never_panics(value in json_value()) {
        let _ = parse(value.to_string().as_bytes());
    }

    #[test]
    fn arbitrary_events_never_panic(event_type in prop_oneof![Just("1"), Just("2"), Just("3"), Just("7"), Just("30")],
                                    fields in prop::collection::vec((json_value(), json_value()), 0..4),
                                    body in json_value()) {
        let mut doc = match body { Value::Object(map) => map, _ => Map::new() };
        doc.insert("eventType".into(), Value::from(event_type));
        for (k, v) in fields {
            doc.insert(k.as_str().unwrap_or("objects").to_owned(), v);
        }
        if let Ok(parsed) = parse(Value::Object(doc).to_string().as_bytes()) {
            prop_assert_eq!(parsed.event_type, event_type);
        }
    }
}

#[test]
fn deeply_nested_json_is_an_error_not_a_stack_overflow() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(parse(deep.as_bytes()).is_err());
    let deep_objects = format!(r#"{{"eventType":"30","objects":"{}{}"}}"#, "[".repeat(100_000), "]".repeat(100_000));
    assert!(parse(deep_objects.as_bytes()).is_err());
}

const KEY: &str = "app-key-1";
const SECRET: &str = "app-secret-1";
const SENT_AT_MS: u64 = 1_700_000_000_123;
const WINDOW_MS: u64 = NeteaseConfig::DEFAULT_CALLBACK_WINDOW.as_millis() as u64;
const SIGNATURE_HEADERS: [&str; 4] = ["CurTime", "MD5", "CheckSum", "AppKey"];

static PROVIDER: LazyLock<NeteaseProvider> =
    LazyLock::new(|| NeteaseProvider::new(NeteaseConfig::new("http://127.0.0.1:9/nimserver", KEY, SECRET)).unwrap());

fn at_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// A request as NetEase sends it: `body` signed at `sent_at_ms`, AppKey included.
fn signed(body: &[u8], sent_at_ms: u64) -> CallbackRequest {
    let h = CallbackHeaders::sign(SECRET, body, sent_at_ms);
    CallbackRequest {
        method: "POST".into(),
        path_and_query: "/callbacks/netease".into(),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("curtime".into(), h.cur_time),
            ("md5".into(), h.md5),
            ("checksum".into(), h.checksum),
            ("appkey".into(), KEY.into()),
        ],
        body: Bytes::copy_from_slice(body),
    }
}

/// Bodies: JSON the parser looks at, or any bytes.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![json_value().prop_map(|v| v.to_string().into_bytes()), prop::collection::vec(any::<u8>(), 0..256)]
}

/// Header names: the signature's in any case, near misses, anything.
fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(SIGNATURE_HEADERS.to_vec()).prop_map(str::to_owned),
        prop::sample::select(vec!["curtime", "MD5", "CHECKSUM", "appKey", "Cur-Time", "MD-5", "X-CheckSum"])
            .prop_map(str::to_owned),
        "[a-zA-Z-]{0,12}",
    ]
}

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        "[0-9a-fA-F]{0,41}",
        "[ \t]{0,2}[0-9]{0,21}[ \t]{0,2}",
        Just(KEY.to_owned()),
        ".{0,40}",
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    FlipBodyBit(Index, u8),
    TruncateBody(Index),
    AppendToBody(Vec<u8>),
    /// Flip one bit of a header value (lossily back to text, as the service reads values).
    FlipValueBit(Index, Index, u8),
    SetValue(Index, String),
    UppercaseValue(Index),
    PadValue(Index),
    RemoveHeader(Index),
    RenameHeader(Index, String),
    /// Put a header of this name and value before all the others.
    Prepend(String, String),
    /// Verify this many ms away from the signing time.
    VerifyAt(i64),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 0..8u8).prop_map(|(i, b)| Mutation::FlipBodyBit(i, b)),
        any::<Index>().prop_map(Mutation::TruncateBody),
        prop::collection::vec(any::<u8>(), 1..4).prop_map(Mutation::AppendToBody),
        (any::<Index>(), any::<Index>(), 0..8u8).prop_map(|(h, i, b)| Mutation::FlipValueBit(h, i, b)),
        (any::<Index>(), header_value()).prop_map(|(h, v)| Mutation::SetValue(h, v)),
        any::<Index>().prop_map(Mutation::UppercaseValue),
        any::<Index>().prop_map(Mutation::PadValue),
        any::<Index>().prop_map(Mutation::RemoveHeader),
        (any::<Index>(), header_name()).prop_map(|(h, n)| Mutation::RenameHeader(h, n)),
        (header_name(), header_value()).prop_map(|(n, v)| Mutation::Prepend(n, v)),
        prop_oneof![
            -(WINDOW_MS as i64) * 2..=(WINDOW_MS as i64) * 2,
            Just(WINDOW_MS as i64),
            Just(WINDOW_MS as i64 + 1),
            Just(-(WINDOW_MS as i64)),
            Just(-(WINDOW_MS as i64) - 1),
        ]
        .prop_map(Mutation::VerifyAt),
    ]
}

/// Applies `mutation`; returns the time to verify at when it says so.
fn apply(req: &mut CallbackRequest, mutation: &Mutation) -> Option<u64> {
    let mut body = req.body.to_vec();
    match mutation {
        Mutation::FlipBodyBit(at, bit) if !body.is_empty() => {
            let at = at.index(body.len());
            body[at] ^= 1 << bit;
        }
        Mutation::TruncateBody(at) if !body.is_empty() => body.truncate(at.index(body.len())),
        Mutation::AppendToBody(extra) => body.extend_from_slice(extra),
        Mutation::VerifyAt(offset) => return Some(SENT_AT_MS.checked_add_signed(*offset).unwrap()),
        Mutation::Prepend(name, value) => req.headers.insert(0, (name.clone(), value.clone())),
        header_mutation if !req.headers.is_empty() => {
            let count = req.headers.len();
            let pick = |i: &Index| i.index(count);
            match header_mutation {
                Mutation::FlipValueBit(h, at, bit) => {
                    let h = pick(h);
                    let mut value = req.headers[h].1.clone().into_bytes();
                    if !value.is_empty() {
                        let at = at.index(value.len());
                        value[at] ^= 1 << bit;
                    }
                    req.headers[h].1 = String::from_utf8_lossy(&value).into_owned();
                }
                Mutation::SetValue(h, value) => req.headers[pick(h)].1 = value.clone(),
                Mutation::UppercaseValue(h) => {
                    let h = pick(h);
                    req.headers[h].1 = req.headers[h].1.to_uppercase();
                }
                Mutation::PadValue(h) => {
                    let h = pick(h);
                    req.headers[h].1 = format!(" {}\t", req.headers[h].1);
                }
                Mutation::RemoveHeader(h) => {
                    req.headers.remove(pick(h));
                }
                Mutation::RenameHeader(h, name) => {
                    let h = pick(h);
                    req.headers[h].0 = name.clone();
                }
                _ => {}
            }
        }
        _ => {}
    }
    req.body = Bytes::from(body);
    None
}

/// Whether `req` still carries what was signed in `genuine`: the same body bytes; the same CurTime
/// text, MD5 and CheckSum (hex in any case) up to surrounding whitespace; our AppKey or none.
fn carries_the_signature(genuine: &CallbackRequest, req: &CallbackRequest) -> bool {
    let same = |name: &str, hex: bool| match (req.header(name), genuine.header(name)) {
        (Some(value), Some(signed)) if hex => value.trim().eq_ignore_ascii_case(signed),
        (Some(value), Some(signed)) => value.trim() == signed,
        _ => false,
    };
    req.body == genuine.body
        && same("CurTime", false)
        && same("MD5", true)
        && same("CheckSum", true)
        && !matches!(req.header("AppKey"), Some(key) if key.trim() != KEY)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn genuine_requests_verify_and_parse(body in body(), offset in -(WINDOW_MS as i64)..=WINDOW_MS as i64) {
        let req = signed(&body, SENT_AT_MS);
        prop_assert_eq!(PROVIDER.verify_callback(&req, at_ms(SENT_AT_MS.checked_add_signed(offset).unwrap())), Ok(()));
        let _ = PROVIDER.parse_callback(&req.path_and_query, &req.body);
    }

    #[test]
    fn a_mutated_request_verifies_only_while_it_carries_the_signature(
        body in body(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let genuine = signed(&body, SENT_AT_MS);
        let mut req = genuine.clone();
        let mut now_ms = SENT_AT_MS;
        for mutation in &mutations {
            if let Some(at) = apply(&mut req, mutation) {
                now_ms = at;
            }
        }
        if PROVIDER.verify_callback(&req, at_ms(now_ms)).is_ok() {
            prop_assert!(carries_the_signature(&genuine, &req), "verified: {:?}", req);
            prop_assert!(now_ms.abs_diff(SENT_AT_MS) <= WINDOW_MS, "verified {} ms away", now_ms.abs_diff(SENT_AT_MS));
            let _ = PROVIDER.parse_callback(&req.path_and_query, &req.body);
        }
    }

    /// Anything at all, at any time, with any window: an answer, never a panic.
    #[test]
    fn arbitrary_requests_never_panic(
        headers in prop::collection::vec((header_name(), header_value()), 0..8),
        body in body(),
        now_ms in prop_oneof![any::<u64>().prop_map(|ms| ms % (1 << 60)), Just(0u64), Just(SENT_AT_MS)],
        window_ms in prop_oneof![any::<u64>(), Just(0u64), Just(WINDOW_MS)],
    ) {
        let req = CallbackRequest {
            method: "POST".into(),
            path_and_query: "/callbacks/netease".into(),
            headers,
            body: Bytes::from(body),
        };
        if verify(&req, KEY, SECRET, at_ms(now_ms), Duration::from_millis(window_ms)).is_ok() {
            let _ = parse(&req.body);
        }
    }
}

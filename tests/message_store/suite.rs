//! The behaviour every message store must have, written once over `&dyn MessageStore`; main.rs runs
//! each function against the embedded store and against MongoDB.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use imbridge::messages::{ApplyOutcome, MessageStore};
use imbridge_provider::Event;
use serde_json::{json, Map, Value};

use crate::events::{
    callback, callback_at, chat, message, message_of, presence, presence_of, raw, recall, receipt, stored_key, unique,
    Kind,
};
pub use crate::recent::recent_raw_lists_newest_first_with_filters;

async fn apply(store: &dyn MessageStore, events: Vec<Event>) -> ApplyOutcome {
    let outcomes = store.apply(&[callback(events)]).await.expect("apply");
    assert_eq!(outcomes.len(), 1, "one outcome per callback");
    outcomes[0]
}

async fn unread_of(store: &dyn MessageStore, reader: &str, peer: &str) -> u64 {
    let counts = store.unread(reader, &[peer.to_owned()]).await.expect("unread");
    counts[peer]
}

async fn stored(store: &dyn MessageStore, key: &str) -> Map<String, Value> {
    match store.get_message(&stored_key(key)).await.expect("get_message") {
        Some(Value::Object(document)) => document,
        other => panic!("message {key} not stored as a document: {other:?}"),
    }
}

async fn state_of(store: &dyn MessageStore, key: &str) -> i64 {
    stored(store, key).await["state"].as_i64().expect("numeric state")
}

fn applied(n: u32) -> ApplyOutcome {
    ApplyOutcome { applied: n, duplicates: 0, raw_duplicate: false }
}

pub async fn every_field_is_stored_with_state(store: &dyn MessageStore) {
    let key = unique("m");
    let mut event = message_of(Kind::Chat, &key, "111", "222", 1441977355557);
    // NetEase's documented example, plus fields we do not know: all are kept as received.
    let document = json!({
        "attach": "thisisattach", "body": "hello", "convType": "PERSON", "eventType": "1",
        "fromAccount": "111", "fromClientType": "IOS", "fromDeviceId": "thisisfromdeviceid",
        "fromNick": "mike", "msgTimestamp": 1441977355557_i64, "msgType": "TEXT", "msgidClient": "1234567",
        "msgidServer": key, "resendFlag": "0", "to": "222", "ext": "{\"order\":\"o-1\"}",
        "antispam": "false", "fromClientIp": "10.0.0.1", "fromClientPort": "5555",
        "futureField": {"nested": [1, 2.5, true, null]},
    });
    event.document = document.as_object().cloned().unwrap();
    assert_eq!(apply(store, vec![Event::Message(event)]).await, applied(1));

    let mut expected = document.as_object().cloned().unwrap();
    for (field, value) in [
        ("key", json!(stored_key(&key))),
        ("sentAt", json!(1441977355557_i64)),
        ("from", json!("111")),
        ("conversation", json!("p2p")),
        ("countsUnread", json!(true)),
        ("state", json!(0)),
        ("recalled", json!(false)),
    ] {
        expected.insert(field.into(), value);
    }
    assert_eq!(Value::Object(stored(store, &key).await), Value::Object(expected));
    assert_eq!(store.get_message(&unique("absent")).await.unwrap(), None);
}

pub async fn a_duplicate_message_changes_nothing(store: &dyn MessageStore) {
    let (buyer, shop, key) = (unique("buyer"), unique("shop"), unique("m"));
    let first = callback(vec![chat(&key, &shop, &buyer, 100)]);
    assert_eq!(store.apply(std::slice::from_ref(&first)).await.unwrap(), vec![applied(1)]);
    let original = stored(store, &key).await;

    // The exact redelivery: the same body too.
    let again = store.apply(std::slice::from_ref(&first)).await.unwrap();
    assert_eq!(again, vec![ApplyOutcome { applied: 0, duplicates: 1, raw_duplicate: true }]);
    // Same key, different content (a resend): the first stored version stays.
    let mut changed = message_of(Kind::Chat, &key, &shop, &buyer, 999);
    changed.document.insert("body".into(), json!("changed"));
    let outcome = apply(store, vec![Event::Message(changed)]).await;
    assert_eq!(outcome, ApplyOutcome { applied: 0, duplicates: 1, raw_duplicate: false });

    assert_eq!(stored(store, &key).await, original);
    assert_eq!(unread_of(store, &buyer, &shop).await, 1);
    assert_eq!(store.raw_count().await.unwrap(), 2, "two distinct bodies were received");
}

pub async fn a_batch_reports_one_outcome_per_callback(store: &dyn MessageStore) {
    let (buyer, shop) = (unique("buyer"), unique("shop"));
    let (k1, k2) = (unique("m"), unique("m"));
    let first = callback(vec![chat(&k1, &shop, &buyer, 100)]);
    let batch = vec![
        first.clone(),
        callback(vec![receipt(&buyer, &shop, 50), receipt(&buyer, &unique("other"), 50)]),
        first,
        callback(vec![chat(&k2, &shop, &buyer, 200)]),
        callback(vec![Event::Other]),
        callback(vec![recall(&k2, &shop, &buyer)]),
    ];
    let outcomes = store.apply(&batch).await.unwrap();
    assert_eq!(
        outcomes,
        vec![
            applied(1),
            applied(2),
            ApplyOutcome { applied: 0, duplicates: 1, raw_duplicate: true },
            applied(1),
            applied(0),
            applied(1),
        ]
    );
    assert_eq!(unread_of(store, &buyer, &shop).await, 1, "k1 unread, k2 recalled");
    assert_eq!(store.apply(&[]).await.unwrap(), vec![]);
}

pub async fn a_recall_after_the_message_uncounts_it(store: &dyn MessageStore) {
    let (buyer, shop, key) = (unique("buyer"), unique("shop"), unique("m"));
    apply(store, vec![chat(&key, &shop, &buyer, 100)]).await;
    apply(store, vec![chat(&unique("m"), &shop, &buyer, 101)]).await;
    assert_eq!(unread_of(store, &buyer, &shop).await, 2);

    assert_eq!(apply(store, vec![recall(&key, &shop, &buyer)]).await, applied(1));
    assert_eq!(unread_of(store, &buyer, &shop).await, 1);
    assert_eq!(stored(store, &key).await["recalled"], json!(true));
    let again = apply(store, vec![recall(&key, &shop, &buyer)]).await;
    assert_eq!(again, ApplyOutcome { applied: 0, duplicates: 1, raw_duplicate: true });
    assert_eq!(unread_of(store, &buyer, &shop).await, 1);
}

pub async fn a_recall_before_the_message_uncounts_it(store: &dyn MessageStore) {
    let (buyer, shop, key) = (unique("buyer"), unique("shop"), unique("m"));
    apply(store, vec![recall(&key, &shop, &buyer)]).await;
    assert_eq!(store.get_message(&stored_key(&key)).await.unwrap(), None, "a recall alone stores no message");

    apply(store, vec![chat(&key, &shop, &buyer, 100)]).await;
    assert_eq!(unread_of(store, &buyer, &shop).await, 0);
    let document = stored(store, &key).await;
    assert_eq!((document["recalled"].clone(), document["body"].clone()), (json!(true), json!(format!("Chat {key}"))));
}

pub async fn a_receipt_after_the_messages_reads_them(store: &dyn MessageStore) {
    let (buyer, shop) = (unique("buyer"), unique("shop"));
    let keys: Vec<String> = (0..3).map(|_| unique("m")).collect();
    for (key, at) in keys.iter().zip([100, 200, 300]) {
        apply(store, vec![chat(key, &shop, &buyer, at)]).await;
    }
    assert_eq!(unread_of(store, &buyer, &shop).await, 3);

    apply(store, vec![receipt(&buyer, &shop, 200)]).await;
    assert_eq!(unread_of(store, &buyer, &shop).await, 1, "read up to and including 200");
    let mut states = Vec::new();
    for key in &keys {
        states.push(state_of(store, key).await);
    }
    assert_eq!(states, [1, 1, 0]);
    assert_eq!(store.read_watermark(&buyer, &shop).await.unwrap(), Some(200));
    // The receipt is the buyer's: the shop's unread from the buyer is untouched.
    assert_eq!(store.read_watermark(&shop, &buyer).await.unwrap(), None);
}

pub async fn messages_after_their_receipt_are_stored_read(store: &dyn MessageStore) {
    let (buyer, shop) = (unique("buyer"), unique("shop"));
    apply(store, vec![receipt(&buyer, &shop, 200)]).await;
    let (old, equal, new) = (unique("m"), unique("m"), unique("m"));
    apply(store, vec![chat(&old, &shop, &buyer, 100)]).await;
    apply(store, vec![chat(&equal, &shop, &buyer, 200)]).await;
    apply(store, vec![chat(&new, &shop, &buyer, 300)]).await;
    assert_eq!(unread_of(store, &buyer, &shop).await, 1);
    assert_eq!([state_of(store, &old).await, state_of(store, &equal).await, state_of(store, &new).await], [1, 1, 0]);
}

pub async fn an_older_receipt_from_another_device_changes_nothing(store: &dyn MessageStore) {
    let (buyer, shop) = (unique("buyer"), unique("shop"));
    for at in [100, 200, 300, 400] {
        apply(store, vec![chat(&unique("m"), &shop, &buyer, at)]).await;
    }
    apply(store, vec![receipt(&buyer, &shop, 300)]).await; // the phone
    apply(store, vec![receipt(&buyer, &shop, 100)]).await; // the tablet, late
    assert_eq!(store.read_watermark(&buyer, &shop).await.unwrap(), Some(300));
    assert_eq!(unread_of(store, &buyer, &shop).await, 1);
    // Several objects in one receipt callback, in any order: the newest wins.
    apply(store, vec![receipt(&buyer, &shop, 400), receipt(&buyer, &shop, 250)]).await;
    assert_eq!(store.read_watermark(&buyer, &shop).await.unwrap(), Some(400));
    assert_eq!(unread_of(store, &buyer, &shop).await, 0);
}

pub async fn tips_system_and_team_messages_never_count(store: &dyn MessageStore) {
    let (buyer, shop) = (unique("buyer"), unique("shop"));
    let (tips, system, team) = (unique("m"), unique("m"), unique("m"));
    apply(store, vec![message(Kind::Tips, &tips, &shop, &buyer, 100)]).await;
    apply(store, vec![message(Kind::System, &system, &shop, &buyer, 100)]).await;
    // A team whose id happens to equal the buyer's accid must not look like a chat with the buyer.
    apply(store, vec![message(Kind::Team, &team, &shop, &buyer, 100)]).await;
    assert_eq!(unread_of(store, &buyer, &shop).await, 0);
    assert_eq!(stored(store, &tips).await["countsUnread"], json!(false));

    apply(store, vec![receipt(&buyer, &shop, 100)]).await;
    let states = [state_of(store, &tips).await, state_of(store, &system).await, state_of(store, &team).await];
    assert_eq!(states, [1, 0, 0], "receipts cover one-to-one chat only");
}

pub async fn accids_are_compared_lowercased(store: &dyn MessageStore) {
    let (buyer, shop) = (unique("Buyer_"), unique("Shop_"));
    let key = unique("m");
    apply(store, vec![chat(&key, &shop, &buyer, 100)]).await;
    apply(store, vec![chat(&unique("m"), &shop.to_lowercase(), &buyer.to_uppercase(), 200)]).await;

    let asked = vec![shop.to_uppercase(), shop.to_lowercase(), shop.clone()];
    let counts = store.unread(&buyer.to_uppercase(), &asked).await.unwrap();
    let expected: HashMap<String, u64> = asked.iter().map(|p| (p.clone(), 2)).collect();
    assert_eq!(counts, expected, "every spelling asked is answered as asked");
    let document = stored(store, &key).await;
    assert_eq!(
        (document["from"].clone(), document["to"].clone()),
        (json!(shop.to_lowercase()), json!(buyer.to_lowercase()))
    );

    apply(store, vec![receipt(&buyer.to_uppercase(), &shop, 150)]).await;
    assert_eq!(unread_of(store, &buyer.to_lowercase(), &shop).await, 1);
    assert_eq!(store.read_watermark(&buyer, &shop.to_uppercase()).await.unwrap(), Some(150));
}

/// Only ASCII letters fold: an accid with a non-ASCII letter that Unicode lowercases to an ASCII
/// one (the Kelvin sign K, U+212A, lowercases to `k`) is another account, never the ASCII one.
pub async fn non_ascii_letters_never_fold_into_another_account(store: &dyn MessageStore) {
    let reader = unique("kel_r");
    let shop = unique("shop_");
    let kelvin = format!("\u{212A}{}", &reader[1..]);
    assert_eq!(kelvin.to_lowercase(), reader, "the trap: Unicode lowercasing would fold it");
    apply(store, vec![chat(&unique("m"), &shop, &kelvin, 100)]).await;
    assert_eq!(unread_of(store, &reader, &shop).await, 0, "a message to {kelvin:?} is not {reader}'s");
    apply(store, vec![chat(&unique("m"), &shop, &reader.to_uppercase(), 200)]).await;
    assert_eq!(unread_of(store, &reader, &shop).await, 1, "ASCII case still folds");
}

pub async fn unread_answers_every_peer_in_one_call(store: &dyn MessageStore) {
    let buyer = unique("buyer");
    let peers: Vec<String> = (0..1000).map(|i| format!("{buyer}-shop{i}")).collect();
    let mut batch = Vec::new();
    for (i, peer) in peers.iter().enumerate().filter(|(i, _)| i % 100 == 7) {
        for n in 0..=(i % 3) {
            batch.push(callback(vec![chat(&unique("m"), peer, &buyer, n as i64)]));
        }
    }
    // Messages to someone else and from the buyer do not count for the buyer.
    batch.push(callback(vec![chat(&unique("m"), &peers[7], &unique("other"), 1)]));
    batch.push(callback(vec![chat(&unique("m"), &buyer, &peers[7], 1)]));
    store.apply(&batch).await.unwrap();

    let counts = store.unread(&buyer, &peers).await.unwrap();
    assert_eq!(counts.len(), 1000, "every requested peer is present");
    let expected: HashMap<String, u64> =
        peers.iter().enumerate().map(|(i, p)| (p.clone(), if i % 100 == 7 { (i % 3 + 1) as u64 } else { 0 })).collect();
    assert_eq!(counts, expected);
    assert_eq!(counts.values().sum::<u64>(), 20);
    assert!(store.unread(&buyer, &[]).await.unwrap().is_empty());
}

async fn clients_of(store: &dyn MessageStore, accid: &str) -> Vec<(String, bool, i64)> {
    let records = store.presence(&[accid.to_owned()]).await.unwrap();
    records.into_iter().map(|p| (p.client_type, p.online, p.at_ms)).collect()
}

pub async fn presence_keeps_the_newest_event_per_client_type(store: &dyn MessageStore) {
    let accid = unique("buyer");
    apply(store, vec![presence(&accid, "AOS", true, 100)]).await;
    apply(store, vec![presence(&accid, "aos", false, 50)]).await; // late logout of an older session
    apply(store, vec![presence(&accid, "PC", false, 70)]).await;
    assert_eq!(clients_of(store, &accid).await, vec![("aos".into(), true, 100), ("pc".into(), false, 70)]);

    apply(store, vec![presence(&accid, "AOS", false, 150)]).await;
    // Same millisecond: offline wins whatever the delivery order.
    apply(store, vec![presence(&accid, "Aos", true, 150)]).await;
    let phone = store.presence(&[accid.to_uppercase()]).await.unwrap().remove(0);
    assert_eq!((phone.online, phone.at_ms, phone.logout_reason), (false, 150, Some(2)));
    assert_eq!(phone.document["eventType"], json!("3"), "the provider's fields of the newest event");
    assert_eq!(phone.document["clientType"], json!("AOS"));
    assert!(store.presence(&[unique("nobody")]).await.unwrap().is_empty());
}

/// NetEase's documented scenario: a login that names its device, then the documented logout sample,
/// which names none and spells the client type in another case. The account must end offline.
pub async fn a_logout_without_a_device_id_ends_the_login_that_had_one(store: &dyn MessageStore) {
    let accid = unique("tes");
    apply(store, vec![presence_of(&accid, "IOS", Some("c25f82d0"), true, 1_608_872_000_000)]).await;
    apply(store, vec![presence_of(&accid, "iOS", None, false, 1_608_872_658_452)]).await;
    let records = store.presence(std::slice::from_ref(&accid)).await.unwrap();
    assert_eq!(records.len(), 1, "one client type: {records:?}");
    assert!(!records[0].online);
    assert_eq!((records[0].client_type.as_str(), records[0].device_id.as_deref()), ("ios", None));
}

pub async fn presence_of_many_accounts_comes_in_one_call(store: &dyn MessageStore) {
    let (a, b, never) = (unique("a"), unique("b"), unique("never"));
    apply(store, vec![presence_of(&a, "WEB", Some("d-1"), true, 10), presence(&b, "IOS", false, 20)]).await;
    apply(store, vec![presence(&a, "PC", false, 30)]).await;
    let records = store.presence(&[b.clone(), never, a.to_uppercase()]).await.unwrap();
    let got: Vec<(String, String, bool, Option<String>)> =
        records.into_iter().map(|p| (p.accid, p.client_type, p.online, p.device_id)).collect();
    let mut want = vec![
        (a.clone(), "pc".to_owned(), false, None),
        (a.clone(), "web".to_owned(), true, Some("d-1".to_owned())),
        (b.clone(), "ios".to_owned(), false, None),
    ];
    want.sort();
    assert_eq!(got, want, "ordered by accid, then client type; unknown accounts have none");
}

pub async fn every_callback_body_is_kept_raw(store: &dyn MessageStore) {
    let (buyer, shop) = (unique("buyer"), unique("shop"));
    let before = store.raw_count().await.unwrap();
    let kinds = vec![
        callback(vec![chat(&unique("m"), &shop, &buyer, 1)]),
        callback(vec![receipt(&buyer, &shop, 1)]),
        callback(vec![recall(&unique("m"), &shop, &buyer)]),
        callback(vec![presence(&buyer, "d", true, 1)]),
        callback(vec![Event::Other]),
        callback(vec![]),
    ];
    let outcomes = store.apply(&kinds).await.unwrap();
    assert!(outcomes.iter().all(|o| !o.raw_duplicate));
    assert_eq!(store.raw_count().await.unwrap(), before + 6);
    store.apply(&kinds[4..]).await.unwrap();
    assert_eq!(store.raw_count().await.unwrap(), before + 6, "a redelivered body is kept once");
}

pub async fn raw_bodies_expire_after_the_retention(store: &dyn MessageStore) {
    // The stores under test keep raw bodies for crate::RETENTION.
    let now = SystemTime::now();
    let old = now - crate::RETENTION - Duration::from_secs(60);
    let (buyer, shop) = (unique("buyer"), unique("shop"));
    let before = store.raw_count().await.unwrap();
    store
        .apply(&[callback_at(vec![Event::Other], old), callback_at(vec![chat(&unique("m"), &shop, &buyer, 1)], now)])
        .await
        .unwrap();
    assert_eq!(store.raw_count().await.unwrap(), before + 2);
    assert!(store.purge_expired_raw(now).await.unwrap() >= 1);
    assert_eq!(store.raw_count().await.unwrap(), before + 1, "the recent body stays");
    assert_eq!(store.purge_expired_raw(now).await.unwrap(), 0);
    // Purging removes the audit trail only, never the facts.
    assert_eq!(unread_of(store, &buyer, &shop).await, 1);
}

pub async fn unparseable_bodies_are_dead_lettered(store: &dyn MessageStore) {
    let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_000);
    let first = raw("", Bytes::from_static(b"{\"eventType\":"), at);
    let binary = raw("1", Bytes::from(vec![0xff, 0xfe, 0x00, b'x']), at + Duration::from_secs(1));
    store.dead_letter(&first, "EOF while parsing").await.unwrap();
    store.dead_letter(&binary, "not UTF-8").await.unwrap();
    store.dead_letter(&binary, "not UTF-8").await.unwrap();

    let letters = store.dead_letters(10).await.unwrap();
    let summary: Vec<(&str, &[u8], &str, i64)> =
        letters.iter().map(|l| (l.event_type.as_str(), l.body.as_ref(), l.reason.as_str(), l.received_at_ms)).collect();
    assert_eq!(
        summary,
        vec![
            ("1", &[0xff, 0xfe, 0x00, b'x'][..], "not UTF-8", 1_700_000_001_000),
            ("", &b"{\"eventType\":"[..], "EOF while parsing", 1_700_000_000_000),
        ]
    );
    assert_eq!(letters[0].provider, "netease");
    assert_eq!(store.dead_letters(1).await.unwrap().len(), 1);
}

pub async fn ping_answers(store: &dyn MessageStore) {
    store.ping().await.expect("a reachable store answers ping");
}

// The conversation layer, in a file of its own; listed with the rest in main.rs.
pub use crate::conversations::*;

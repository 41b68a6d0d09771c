//! `MessageStore::recent_raw` (the operator console's Callbacks page) on both stores.

use std::time::{Duration, SystemTime};

use imbridge::messages::{CallbackRecord, MessageStore, RawFilter};

use crate::events::{raw, unique};

pub async fn recent_raw_lists_newest_first_with_filters(store: &dyn MessageStore) {
    let now = SystemTime::now();
    let millis = |at: SystemTime| at.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as i64;
    let (buyer, other) = (unique("Buyer"), unique("other"));
    // Regex metacharacters in the mentioned text are literal (the MongoDB store searches by regex).
    let odd = format!("{}.*(x", unique("odd"));
    let bodies = [
        ("1", format!(r#"{{"eventType":"1","fromAccount":"shop","to":"{buyer}"}}"#), now - Duration::from_secs(30)),
        ("2", format!(r#"{{"eventType":"2","accid":"{buyer}"}}"#), now - Duration::from_secs(20)),
        ("1", format!(r#"{{"eventType":"1","fromAccount":"{other}","to":"{odd}"}}"#), now - Duration::from_secs(10)),
    ];
    let batch: Vec<CallbackRecord> =
        bodies.iter().map(|(t, b, at)| CallbackRecord { raw: raw(t, b.clone(), *at), events: Vec::new() }).collect();
    store.apply(&batch).await.unwrap();
    let since = millis(now) - 60_000;
    let list = |filter: RawFilter| async move { store.recent_raw(10, &filter).await.unwrap() };

    let mine = list(RawFilter { since_ms: since, mentions: Some(buyer.to_lowercase()), ..Default::default() }).await;
    let types: Vec<&str> = mine.iter().map(|r| r.event_type.as_str()).collect();
    assert_eq!(types, ["2", "1"], "newest first, case-insensitive mention");
    assert_eq!(mine[0].body, bodies[1].1.as_bytes(), "the body as stored");
    assert_eq!(mine[0].received_at_ms, millis(bodies[1].2));
    assert_eq!(mine[0].provider, "netease");
    assert!(!mine[0].digest.is_empty());

    let logins = list(RawFilter { since_ms: since, event_type: Some("2".into()), mentions: Some(buyer.clone()) }).await;
    assert_eq!(logins.len(), 1);
    let odd_one = list(RawFilter { since_ms: since, mentions: Some(odd.clone()), ..Default::default() }).await;
    assert_eq!(odd_one.len(), 1, "metacharacters match literally");
    // As a pattern `e.*t` would match every body ("eventType").
    let not_regex = list(RawFilter { since_ms: since, mentions: Some("e.*t".into()), ..Default::default() }).await;
    assert!(not_regex.is_empty(), "`e.*t` is text, not a pattern");
    let later =
        list(RawFilter { since_ms: millis(now) - 15_000, mentions: Some(buyer.clone()), ..Default::default() }).await;
    assert!(later.is_empty(), "only what arrived since `since_ms`");
    assert_eq!(store.recent_raw(1, &RawFilter { since_ms: since, ..Default::default() }).await.unwrap().len(), 1);
}

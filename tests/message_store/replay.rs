//! Reading the audit trail and the dead letters back page by page (what replay walks), on both
//! backends: range and cursor order, event-type filter, lookups, removal, and that reading (or
//! applying a body again) leaves the raw rows as they were.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use imbridge::messages::{AuditPage, CallbackRecord, MessageStore};

use crate::events::{raw, unique};

/// One `#[tokio::test]` per function here and backend (as `conformance!` does for the suite).
macro_rules! replay_conformance {
    ($($name:ident),* $(,)?) => {
        mod replay_embedded {
            $(
                #[tokio::test]
                async fn $name() {
                    let store = crate::embedded().await;
                    crate::replay::$name(&store).await;
                }
            )*
        }
        mod replay_mongo {
            $(
                #[tokio::test]
                #[ignore = "needs MongoDB"]
                async fn $name() {
                    let db = crate::MongoDb::new().await;
                    crate::replay::$name(&db.store).await;
                    db.drop().await;
                }
            )*
        }
    };
}

replay_conformance!(raw_pages_walk_the_range_in_cursor_order, dead_letters_are_found_paged_reasoned_and_removed);

fn at(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms as u64)
}

fn page(from_ms: i64, to_ms: i64, limit: usize, event_types: Option<&[&str]>) -> AuditPage {
    AuditPage {
        from_ms,
        to_ms,
        after: None,
        limit,
        event_types: event_types.map(|t| t.iter().map(|s| s.to_string()).collect()),
    }
}

/// Every row of `page`'s range, page by page: (received-at, digest, body) in the order read.
async fn walk(store: &dyn MessageStore, mut page: AuditPage) -> Vec<(i64, String, String)> {
    let mut rows = Vec::new();
    loop {
        let got = store.raw_page(&page).await.expect("raw_page");
        assert!(got.len() <= page.limit, "a page holds at most its limit");
        rows.extend(got.iter().map(|r| {
            assert_eq!(r.provider, "netease");
            (r.received_at_ms, r.digest.clone(), String::from_utf8(r.body.to_vec()).unwrap())
        }));
        match got.last() {
            Some(last) if got.len() == page.limit => page.after = Some((last.received_at_ms, last.digest.clone())),
            _ => return rows,
        }
    }
}

pub async fn raw_pages_walk_the_range_in_cursor_order(store: &dyn MessageStore) {
    let t = 1_800_000_000_000 + (rand_ms() % 1_000_000) * 1000;
    let tag = unique("r");
    let body = |n: u32, event_type: &str| format!("{{\"eventType\":\"{event_type}\",\"n\":{n},\"tag\":\"{tag}\"}}");
    // Two bodies in the same millisecond, one just before and one just after the range.
    let rows = [
        (t - 1, 0, "2"),
        (t, 1, "2"),
        (t, 2, "3"),
        (t + 1, 3, "1"),
        (t + 2, 4, "2"),
        (t + 10, 5, "3"),
        (t + 11, 6, "2"),
    ];
    let batch: Vec<CallbackRecord> = rows
        .iter()
        .map(|(ms, n, event_type)| CallbackRecord {
            raw: raw(event_type, body(*n, event_type), at(*ms)),
            events: vec![],
        })
        .collect();
    store.apply(&batch).await.unwrap();
    let count = store.raw_count().await.unwrap();

    let all = walk(store, page(t, t + 10, 2, None)).await;
    let bodies: BTreeSet<String> = all.iter().map(|(_, _, b)| b.clone()).collect();
    let expected: BTreeSet<String> = rows[1..6].iter().map(|(_, n, e)| body(*n, e)).collect();
    assert_eq!(bodies, expected, "both ends included, nothing outside");
    assert_eq!(all.len(), 5, "each row once across pages of 2");
    let keys: Vec<(i64, String)> = all.iter().map(|(ms, d, _)| (*ms, d.clone())).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "ordered by (received-at, digest)");
    assert_eq!(walk(store, page(t, t + 10, 100, None)).await, all, "the page size does not change the walk");

    let filtered = walk(store, page(t, t + 10, 1, Some(&["2", "1"]))).await;
    let kept: Vec<String> = filtered.into_iter().map(|(_, _, b)| b).collect();
    assert_eq!(kept.len(), 3, "{kept:?}");
    assert!(kept.iter().all(|b| !b.contains("\"eventType\":\"3\"")), "{kept:?}");

    // A cursor after the last row: an empty page. An empty range: an empty page.
    let last = all.last().unwrap();
    let after_last = AuditPage { after: Some((last.0, last.1.clone())), ..page(t, t + 10, 10, None) };
    assert!(store.raw_page(&after_last).await.unwrap().is_empty());
    assert!(store.raw_page(&page(t + 3, t + 9, 10, None)).await.unwrap().is_empty());

    // Applying the same bodies again later (what a replay does) changes no raw row.
    let later: Vec<CallbackRecord> = batch
        .iter()
        .map(|a| CallbackRecord {
            raw: imbridge::messages::RawCallback { received_at: SystemTime::now(), ..a.raw.clone() },
            events: vec![],
        })
        .collect();
    let outcomes = store.apply(&later).await.unwrap();
    assert!(outcomes.iter().all(|o| o.raw_duplicate));
    assert_eq!(store.raw_count().await.unwrap(), count);
    assert_eq!(walk(store, page(t, t + 10, 3, None)).await, all, "received-at kept as first received");
}

pub async fn dead_letters_are_found_paged_reasoned_and_removed(store: &dyn MessageStore) {
    let t = 1_800_000_000_000 + (rand_ms() % 1_000_000) * 1000;
    let tag = unique("d");
    let letters: Vec<_> =
        (0..5).map(|n| raw("", Bytes::from(format!("{{\"broken\":{n},\"tag\":\"{tag}\"")), at(t + n / 2))).collect();
    for letter in &letters {
        store.dead_letter(letter, "EOF while parsing").await.unwrap();
    }
    let listed = store.dead_letters(10).await.unwrap();
    assert_eq!(listed.len(), 5);
    assert!(listed.iter().all(|l| l.id.len() == 64), "each has its digest as id: {listed:?}");

    // Paged by (received-at, id), two at a time, the range cutting off the last one (at t + 2).
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let got = store
            .dead_letter_page(&AuditPage { after: cursor.clone(), ..page(t, t + 1, 2, Some(&["x"])) })
            .await
            .unwrap();
        seen.extend(got.iter().map(|l| (l.received_at_ms, l.id.clone())));
        match got.last() {
            Some(last) if got.len() == 2 => cursor = Some((last.received_at_ms, last.id.clone())),
            _ => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted);
    assert_eq!(seen.len(), 4, "t, t, t+1, t+1; the event-type filter does not apply to dead letters");

    let id = &seen[0].1;
    let found = store.dead_letter_by_id(id).await.unwrap().expect("found by id");
    assert_eq!((found.id.as_str(), found.reason.as_str(), found.received_at_ms), (id.as_str(), "EOF while parsing", t));
    assert!(store.dead_letter_by_id("0000").await.unwrap().is_none());

    store.set_dead_letter_reason(id, "missing field `to`").await.unwrap();
    assert_eq!(store.dead_letter_by_id(id).await.unwrap().unwrap().reason, "missing field `to`");

    assert!(store.remove_dead_letter(id).await.unwrap());
    assert!(!store.remove_dead_letter(id).await.unwrap(), "already gone");
    assert!(store.dead_letter_by_id(id).await.unwrap().is_none());
    assert_eq!(store.dead_letters(10).await.unwrap().len(), 4);
}

/// Some milliseconds of the clock, so that repeated runs on one database use fresh ranges.
fn rand_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos() as i64
}

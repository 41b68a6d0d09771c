//! The conversation layer every store must have, written once over `&dyn MessageStore`: the
//! per-(owner, peer) summary kept in the same write as the message, and the pair queries behind
//! history and export. main.rs runs each function against the embedded store and MongoDB.

use imbridge::messages::{provider_message_id, ConversationPage, MessageStore, PairQuery};
use imbridge_provider::Event;
use serde_json::Value;

use crate::events::{callback, chat, message, message_of, recall, receipt, stored_key, unique, Kind};

async fn apply(store: &dyn MessageStore, events: Vec<Event>) {
    store.apply(&[callback(events)]).await.expect("apply");
}

fn page(as_of_ms: i64, limit: usize) -> ConversationPage {
    ConversationPage { as_of_ms, after: None, limit, peers: None }
}

/// (peer, last message key, last at) of `owner`'s conversations, newest first.
async fn inbox(store: &dyn MessageStore, owner: &str) -> Vec<(String, String, i64)> {
    let rows = store.conversation_page(owner, &page(i64::MAX, 100)).await.expect("conversation_page");
    rows.into_iter().map(|c| (c.peer, provider_message_id(&c.last_key).to_owned(), c.last_at_ms)).collect()
}

pub async fn the_summary_follows_the_newest_message_in_either_direction(store: &dyn MessageStore) {
    let (buyer, shop_a, shop_b) = (unique("buyer"), unique("shop_a"), unique("shop_b"));
    let (k1, k2, k3, k4) = (unique("m"), unique("m"), unique("m"), unique("m"));
    apply(store, vec![chat(&k1, &shop_a, &buyer, 100)]).await;
    apply(store, vec![chat(&k2, &buyer, &shop_b, 200)]).await;
    // Out of order: an older message arriving later changes nothing.
    apply(store, vec![chat(&k3, &buyer, &shop_a, 300), chat(&k4, &shop_a, &buyer, 50)]).await;
    assert_eq!(inbox(store, &buyer).await, vec![(shop_a.clone(), k3.clone(), 300), (shop_b.clone(), k2.clone(), 200)]);
    assert_eq!(inbox(store, &shop_a).await, vec![(buyer.clone(), k3.clone(), 300)], "the peer's side too");
    // Team and system messages are not one-to-one conversations.
    apply(store, vec![message(Kind::Team, &unique("m"), &shop_b, "team-1", 900)]).await;
    apply(store, vec![message(Kind::System, &unique("m"), &shop_b, &buyer, 900)]).await;
    assert_eq!(inbox(store, &buyer).await[0].0, shop_a, "{:?}", inbox(store, &buyer).await);
    // A duplicate, and a recall of the last message: the summary still names it (shown recalled).
    apply(store, vec![chat(&k3, &buyer, &shop_a, 300), recall(&k3, &buyer, &shop_a)]).await;
    assert_eq!(inbox(store, &buyer).await[0], (shop_a.clone(), k3.clone(), 300));
    let last = store.messages_by_key(&[stored_key(&k3)]).await.unwrap();
    assert_eq!(last[0]["recalled"], Value::Bool(true));
}

/// A message NetEase withheld from its receiver (the sender is on the receiver's blacklist) is the
/// sender's latest, never the receiver's.
pub async fn a_withheld_message_is_not_in_the_receivers_conversation(store: &dyn MessageStore) {
    let (buyer, spammer) = (unique("buyer"), unique("spammer"));
    let (k1, k2) = (unique("m"), unique("m"));
    apply(store, vec![chat(&k1, &spammer, &buyer, 100)]).await;
    let mut withheld = message_of(Kind::Chat, &k2, &spammer, &buyer, 200);
    withheld.document.insert("blacklist".into(), Value::String("true".into()));
    withheld.counts_as_unread = false;
    apply(store, vec![Event::Message(withheld)]).await;
    assert_eq!(inbox(store, &buyer).await, vec![(spammer.clone(), k1.clone(), 100)]);
    assert_eq!(inbox(store, &spammer).await, vec![(buyer.clone(), k2.clone(), 200)]);
}

pub async fn pages_walk_the_inbox_newest_first(store: &dyn MessageStore) {
    let owner = unique("owner");
    let peers: Vec<String> = (0..7).map(|i| format!("{}{i}", unique("p"))).collect();
    for (i, peer) in peers.iter().enumerate() {
        // Two peers share a timestamp: the peer name breaks the tie.
        let at = if i == 3 { 300 } else { (i as i64 + 1) * 100 };
        apply(store, vec![chat(&unique("m"), peer, &owner, at)]).await;
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let rows = store
            .conversation_page(
                &owner,
                &ConversationPage { as_of_ms: i64::MAX, after: cursor.clone(), limit: 3, peers: None },
            )
            .await
            .unwrap();
        if rows.is_empty() {
            break;
        }
        let last = rows.last().unwrap();
        cursor = Some((last.last_at_ms, last.peer.clone()));
        seen.extend(rows.into_iter().map(|r| (r.last_at_ms, r.peer)));
    }
    let mut expected: Vec<(i64, String)> =
        peers.iter().enumerate().map(|(i, p)| (if i == 3 { 300 } else { (i as i64 + 1) * 100 }, p.clone())).collect();
    expected.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    assert_eq!(seen, expected);

    // As of a moment: only conversations whose last activity was at or before it; a filter by peer.
    let older = store.conversation_page(&owner, &page(250, 10)).await.unwrap();
    assert_eq!(older.iter().map(|r| r.last_at_ms).collect::<Vec<_>>(), [200, 100]);
    let only = ConversationPage { peers: Some(vec![peers[0].clone(), peers[6].clone()]), ..page(i64::MAX, 10) };
    let filtered = store.conversation_page(&owner, &only).await.unwrap();
    assert_eq!(filtered.iter().map(|r| r.peer.clone()).collect::<Vec<_>>(), [peers[6].clone(), peers[0].clone()]);
    let since = store.conversations_since(&owner, 500, 100).await.unwrap();
    assert_eq!(since.iter().map(|r| r.last_at_ms).collect::<Vec<_>>(), [700, 600]);
}

pub async fn pair_messages_come_in_both_directions_and_page_by_cursor(store: &dyn MessageStore) {
    let (a, b, c) = (unique("a"), unique("b"), unique("c"));
    let mut keys = Vec::new();
    for i in 0..9i64 {
        let key = unique("m");
        let (from, to) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        apply(store, vec![chat(&key, from, to, 1000 + i * 10)]).await;
        keys.push(key);
    }
    apply(store, vec![chat(&unique("m"), &a, &c, 1005)]).await; // another pair
    apply(store, vec![receipt(&b, &a, 1040)]).await; // b has read a's messages up to 1040

    let query =
        |after, ascending, limit| PairQuery { from_ms: 0, to_ms: i64::MAX, after, ascending, limit, only_from: None };
    let mut newest_first = Vec::new();
    let mut cursor = None;
    loop {
        let docs = store.pair_messages(&b, &a, &query(cursor.clone(), false, 4)).await.unwrap();
        if docs.is_empty() {
            break;
        }
        let last = docs.last().unwrap();
        cursor = Some((last["msgTimestamp"].as_i64().unwrap(), last["msgidServer"].as_str().unwrap().to_owned()));
        newest_first.extend(docs.iter().map(|d| d["msgidServer"].as_str().unwrap().to_owned()));
    }
    let mut expected = keys.clone();
    expected.reverse();
    assert_eq!(newest_first, expected, "both directions, newest first, no gap or repeat");

    let oldest = store.pair_messages(&a, &b, &query(None, true, 3)).await.unwrap();
    assert_eq!(oldest.iter().map(|d| d["msgidServer"].as_str().unwrap()).collect::<Vec<_>>(), keys[..3].to_vec());
    let states: Vec<i64> = oldest.iter().map(|d| d["state"].as_i64().unwrap()).collect();
    assert_eq!(states, [1, 0, 1], "a's messages up to 1040 are read by b; b's own are unread by a");

    let window = PairQuery { from_ms: 1020, to_ms: 1050, ..query(None, true, 100) };
    assert_eq!(store.pair_messages(&a, &b, &window).await.unwrap().len(), 4, "inclusive range");
    let from_a = PairQuery { only_from: Some(a.clone()), ..query(None, false, 1) };
    let newest_from_a = store.pair_messages(&b, &a, &from_a).await.unwrap();
    assert_eq!(newest_from_a[0]["msgidServer"], keys[8].as_str(), "the newest message a sent to b");
}

pub async fn unread_of_every_peer_and_watermarks_of_peers(store: &dyn MessageStore) {
    let (owner, p1, p2, p3) = (unique("o"), unique("p1"), unique("p2"), unique("p3"));
    apply(store, vec![chat(&unique("m"), &p1, &owner, 10), chat(&unique("m"), &p1, &owner, 20)]).await;
    apply(store, vec![chat(&unique("m"), &p2, &owner, 30), chat(&unique("m"), &owner, &p3, 40)]).await;
    apply(store, vec![receipt(&owner, &p2, 30), receipt(&p3, &owner, 45)]).await;
    let all = store.unread_all(&owner).await.unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[&p1], 2);
    let asked = store.unread(&owner, &[p1.clone(), p2.clone(), p3.clone()]).await.unwrap();
    assert_eq!(asked[&p1], all[&p1], "the same rule as unread()");
    assert_eq!(store.unread_total(&owner).await.unwrap(), all.values().sum::<u64>());
    let marks = store.watermarks_on(&owner, &[p1.clone(), p3.clone()]).await.unwrap();
    assert_eq!(marks.get(&p3), Some(&45), "p3 has read owner's messages up to 45");
    assert_eq!(marks.get(&p1), None);
}

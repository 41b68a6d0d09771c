//! Data stored before messages had provider-neutral keys (bare NetEase `msgidServer`s, documents
//! without `key`/`sentAt`, the old MongoDB indexes) keeps working after an upgrade with no step by
//! hand: each backend migrates it when it opens. Both backends are seeded with the same old data,
//! in the shape the previous version wrote, and must then serve it exactly like new data.

use std::time::SystemTime;

use imbridge::messages::{CallbackRecord, ConversationPage, MessageStore, RawCallback};
use imbridge_provider::Event;
use serde_json::json;

use crate::events::{callback, chat, message_of, recall, stored_key, unique, Kind};

/// Old accounts: `shop` sent three messages to `buyer`; the third was recalled.
pub struct OldData {
    pub shop: String,
    pub buyer: String,
    /// NetEase ids (digits, as NetEase sends them), sent at 100, 200, 300.
    pub ids: [String; 3],
}

impl OldData {
    pub fn new() -> Self {
        let n = uuid::Uuid::new_v4().as_u128() % 1_000_000_000;
        OldData {
            shop: unique("shop").to_ascii_lowercase(),
            buyer: unique("buyer").to_ascii_lowercase(),
            ids: [format!("{n}1"), format!("{n}2"), format!("{n}3")],
        }
    }

    /// The message document the previous version stored for the `i`-th message: NetEase's fields
    /// and ours, keyed by `msgidServer`, with no `key` or `sentAt`.
    pub fn document(&self, i: usize) -> serde_json::Value {
        let mut document = serde_json::Value::Object(
            message_of(Kind::Chat, &self.ids[i], &self.shop, &self.buyer, 100 * (i as i64 + 1)).document,
        );
        document["from"] = json!(self.shop);
        document["conversation"] = json!("p2p");
        document["countsUnread"] = json!(true);
        document["state"] = json!(0);
        document["recalled"] = json!(i == 2);
        document
    }
}

/// What an upgraded store must answer about the old data, and how it must treat new deliveries.
pub async fn old_data_is_served_as_new(store: &dyn MessageStore, old: &OldData) {
    let (shop, buyer) = (&old.shop, &old.buyer);
    let first = store.get_message(&stored_key(&old.ids[0])).await.unwrap().expect("old message found by its key");
    assert_eq!(first["key"], json!(stored_key(&old.ids[0])));
    assert_eq!(first["sentAt"], json!(100));
    assert_eq!(first["msgidServer"], json!(old.ids[0]), "NetEase's own fields are kept");
    assert_eq!(store.unread(buyer, std::slice::from_ref(shop)).await.unwrap()[shop], 2, "the recalled one not counted");

    let page = ConversationPage { as_of_ms: i64::MAX, after: None, limit: 10, peers: None };
    let inbox = store.conversation_page(buyer, &page).await.unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].last_key, stored_key(&old.ids[2]), "the summary names the migrated key");
    assert_eq!(store.messages_by_key(&[inbox[0].last_key.clone()]).await.unwrap().len(), 1);

    // Redeliveries of old messages and recalls are duplicates, not second copies.
    let again = store
        .apply(&[callback(vec![chat(&old.ids[0], shop, buyer, 100)]), callback(vec![recall(&old.ids[2], shop, buyer)])])
        .await
        .unwrap();
    assert!(again.iter().all(|o| o.duplicates == 1 && o.applied == 0), "{again:?}");
    assert_eq!(store.unread(buyer, std::slice::from_ref(shop)).await.unwrap()[shop], 2);

    // A second provider's messages (no `msgidServer` at all) are stored side by side.
    let tencent = |id: &str, at: i64| {
        let mut event = message_of(Kind::Chat, id, shop, buyer, at);
        event.document = json!({ "MsgKey": id, "MsgTime": at / 1000 }).as_object().cloned().unwrap();
        let raw = RawCallback {
            provider: "tencent".into(),
            event_type: "C2C.CallbackAfterSendMsg".into(),
            body: format!("{{\"MsgKey\":\"{id}\"}}").into(),
            path_and_query: String::new(),
            received_at: SystemTime::now(),
        };
        CallbackRecord { raw, events: vec![Event::Message(event)] }
    };
    let outcomes = store.apply(&[tencent("1_2_3", 400_000), tencent("4_5_6", 500_000)]).await.unwrap();
    assert!(outcomes.iter().all(|o| o.applied == 1), "{outcomes:?}");
    assert!(store.get_message("tencent:1_2_3").await.unwrap().is_some());
    // The same id from NetEase would be another message: keys never collide across providers.
    assert!(store.get_message(&stored_key("1_2_3")).await.unwrap().is_none());
    assert_eq!(store.unread(buyer, std::slice::from_ref(shop)).await.unwrap()[shop], 4);
    // The migrated summary moves on to the newer message (it was given what its upsert compares).
    let inbox = store.conversation_page(buyer, &page).await.unwrap();
    assert_eq!((inbox[0].last_key.as_str(), inbox[0].last_at_ms), ("tencent:4_5_6", 500_000), "{inbox:?}");
}

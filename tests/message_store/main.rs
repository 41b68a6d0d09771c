//! The message store conformance suite, run against both backends:
//! - the embedded SQLite store (in memory, and on a file where durability matters);
//! - MongoDB (`#[ignore = "needs MongoDB"]`; set IMBRIDGE_TEST_MONGODB_URI, e.g. a SecantusDB at
//!   `mongodb://127.0.0.1:27017/?directConnection=true`). Each test uses its own database and drops it.
//!
//! `cargo test -p imbridge --test message_store -- --include-ignored`

use std::time::Duration;

use imbridge::messages::{EmbeddedMessageStore, MessageStore, MongoMessageStore};

mod conversations;
mod events;
mod migration;
mod presence_property;
mod property;
mod recent;
mod replay;
mod suite;

/// How long the stores under test keep raw bodies.
pub const RETENTION: Duration = Duration::from_secs(3600);

async fn embedded() -> EmbeddedMessageStore {
    EmbeddedMessageStore::open("sqlite::memory:", RETENTION).await.expect("open the in-memory store")
}

/// A MongoDB store on a database of its own, dropped by [`MongoDb::drop`].
struct MongoDb {
    store: MongoMessageStore,
}

impl MongoDb {
    async fn new() -> Self {
        let uri = std::env::var("IMBRIDGE_TEST_MONGODB_URI").unwrap_or_else(|_| {
            panic!(
                "IMBRIDGE_TEST_MONGODB_URI is not set: this test needs a MongoDB (or SecantusDB), e.g. \
                 IMBRIDGE_TEST_MONGODB_URI='mongodb://127.0.0.1:27017/?directConnection=true'"
            )
        });
        let database = format!("imbridge_test_{}", uuid::Uuid::new_v4().simple());
        let store = MongoMessageStore::connect(&uri, &database, RETENTION).await.expect("connect to MongoDB");
        MongoDb { store }
    }

    async fn drop(self) {
        self.store.database().drop().await.expect("drop the test database");
    }
}

/// One `#[tokio::test]` per suite function and backend.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $name() {
                    let store = crate::embedded().await;
                    crate::suite::$name(&store).await;
                }
            )*
        }
        mod mongo {
            $(
                #[tokio::test]
                #[ignore = "needs MongoDB"]
                async fn $name() {
                    let db = crate::MongoDb::new().await;
                    crate::suite::$name(&db.store).await;
                    db.drop().await;
                }
            )*
        }
    };
}

conformance!(
    every_field_is_stored_with_state,
    a_duplicate_message_changes_nothing,
    a_batch_reports_one_outcome_per_callback,
    a_recall_after_the_message_uncounts_it,
    a_recall_before_the_message_uncounts_it,
    a_receipt_after_the_messages_reads_them,
    messages_after_their_receipt_are_stored_read,
    an_older_receipt_from_another_device_changes_nothing,
    tips_system_and_team_messages_never_count,
    accids_are_compared_lowercased,
    non_ascii_letters_never_fold_into_another_account,
    unread_answers_every_peer_in_one_call,
    presence_keeps_the_newest_event_per_client_type,
    a_logout_without_a_device_id_ends_the_login_that_had_one,
    presence_of_many_accounts_comes_in_one_call,
    the_summary_follows_the_newest_message_in_either_direction,
    a_withheld_message_is_not_in_the_receivers_conversation,
    pages_walk_the_inbox_newest_first,
    pair_messages_come_in_both_directions_and_page_by_cursor,
    unread_of_every_peer_and_watermarks_of_peers,
    every_callback_body_is_kept_raw,
    raw_bodies_expire_after_the_retention,
    unparseable_bodies_are_dead_lettered,
    ping_answers,
    recent_raw_lists_newest_first_with_filters,
);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

#[test]
fn embedded_store_matches_the_oracle() {
    let rt = runtime();
    let store = rt.block_on(embedded());
    property::run(&rt, &store, 64);
}

#[test]
#[ignore = "needs MongoDB"]
fn mongodb_store_matches_the_oracle() {
    let rt = runtime();
    let db = rt.block_on(MongoDb::new());
    // SecantusDB writes about 10k documents/s: keep the case count modest.
    property::run(&rt, &db.store, 16);
    rt.block_on(db.drop());
}

#[test]
fn embedded_store_presence_matches_the_oracle() {
    let rt = runtime();
    let store = rt.block_on(embedded());
    presence_property::run(&rt, &store, 128);
}

#[test]
#[ignore = "needs MongoDB"]
fn mongodb_store_presence_matches_the_oracle() {
    let rt = runtime();
    let db = rt.block_on(MongoDb::new());
    presence_property::run(&rt, &db.store, 24);
    rt.block_on(db.drop());
}

#[tokio::test]
async fn embedded_file_store_is_durable_across_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("nested/messages.db").display());
    let store = EmbeddedMessageStore::open(&url, RETENTION).await.expect("open a new file");
    // The file store has separate reader and writer pools: run the whole suite's core on it too.
    suite::a_receipt_after_the_messages_reads_them(&store).await;
    store.apply(&[events::callback(vec![events::chat("kept", "shop", "buyer", 5)])]).await.unwrap();
    store.close().await;

    let reopened = EmbeddedMessageStore::open(&url, RETENTION).await.expect("reopen the file");
    assert_eq!(reopened.unread("buyer", &["shop".into()]).await.unwrap()["shop"], 1);
    assert!(reopened.get_message(&events::stored_key("kept")).await.unwrap().is_some());
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&sqlx::SqlitePool::connect(&url).await.unwrap())
        .await
        .unwrap();
    assert_eq!(mode, "wal");
}

/// Committed pages reach the database file from the background checkpointer, without any writer
/// commit doing it: the writer's own automatic checkpoint (at 10 000 pages, 40 MiB of log) is not
/// reached by these ~2 000 messages, so a main file that grew means the checkpointer copied them.
#[tokio::test]
async fn embedded_file_store_checkpoints_in_the_background() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("messages.db");
    let store = EmbeddedMessageStore::open(&format!("sqlite://{}", file.display()), RETENTION).await.unwrap();
    let before = std::fs::metadata(&file).unwrap().len();
    for batch in 0..20 {
        let callbacks: Vec<_> = (0..100)
            .map(|i| events::callback(vec![events::chat(&format!("bg{batch}_{i}"), "shop", "buyer", batch * 100 + i)]))
            .collect();
        store.apply(&callbacks).await.unwrap();
    }
    let mut grown = 0;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        grown = std::fs::metadata(&file).unwrap().len() - before;
        if grown > 1 << 20 {
            break;
        }
    }
    assert!(grown > 1 << 20, "the database file grew by only {grown} bytes: nothing was checkpointed");
    let wal = std::fs::metadata(dir.path().join("messages.db-wal")).map(|m| m.len()).unwrap_or(0);
    assert!(wal < 20 << 20, "the log is {wal} bytes");
    store.close().await;
}

#[tokio::test]
#[ignore = "needs MongoDB"]
async fn mongodb_creates_its_indexes_at_start_up() {
    let db = MongoDb::new().await;
    let database = db.store.database();
    let names = |collection: &'static str| async move {
        let mut names = database.collection::<mongodb::bson::Document>(collection).list_index_names().await.unwrap();
        names.sort();
        names
    };
    assert_eq!(names("messages").await, ["_id_", "key_1", "pair", "to_key", "unread"]);
    assert_eq!(names("presence_clients").await, ["_id_", "accid_1_client_1"]);
    assert_eq!(names("conversations").await, ["_id_", "recent"]);
    assert_eq!(names("raw_callbacks").await, ["_id_", "expireAt_1", "received"]);
    // Connecting again (a restart) finds everything in place.
    let uri = std::env::var("IMBRIDGE_TEST_MONGODB_URI").unwrap();
    MongoMessageStore::connect(&uri, database.name(), RETENTION).await.expect("idempotent start-up");
    db.drop().await;
}

/// A writer that died between inserting a message and repairing its flags (so its callback was
/// never acknowledged) leaves `state`/`recalled` behind the facts, and the unread count may have been
/// taken from them; the provider's redelivery repairs both. Simulated by resetting the flags of a
/// stored message and the count by hand.
#[tokio::test]
#[ignore = "needs MongoDB"]
async fn mongodb_redelivery_repairs_flags_left_behind_by_a_dead_writer() {
    use ::mongodb::bson::{doc, Document};
    let db = MongoDb::new().await;
    let (buyer, shop) = (events::unique("buyer"), events::unique("shop"));
    let (read, recalled) = (events::unique("m"), events::unique("m"));
    let message_read = events::callback(vec![events::chat(&read, &shop, &buyer, 100)]);
    let message_recalled = events::callback(vec![events::chat(&recalled, &shop, &buyer, 300)]);
    db.store.apply(&[events::callback(vec![events::receipt(&buyer, &shop, 200)])]).await.unwrap();
    db.store.apply(&[events::callback(vec![events::recall(&recalled, &shop, &buyer)])]).await.unwrap();
    db.store.apply(&[message_read.clone(), message_recalled.clone()]).await.unwrap();
    assert_eq!(db.store.unread(&buyer, std::slice::from_ref(&shop)).await.unwrap()[&shop], 0);

    let messages = db.store.database().collection::<Document>("messages");
    messages.update_one(doc! { "key": events::stored_key(&read) }, doc! { "$set": { "state": 0 } }).await.unwrap();
    messages
        .update_one(doc! { "key": events::stored_key(&recalled) }, doc! { "$set": { "recalled": false } })
        .await
        .unwrap();
    // And a count taken while the flags were behind (by a racing writer's recount).
    let pair = doc! { "reader": buyer.to_lowercase(), "peer": shop.to_lowercase() };
    let counts = db.store.database().collection::<Document>("unread_counts");
    counts.update_one(pair, doc! { "$set": { "n": 2_i64 } }).await.unwrap();
    assert_eq!(db.store.unread(&buyer, std::slice::from_ref(&shop)).await.unwrap()[&shop], 2, "the damage is visible");

    let outcomes = db.store.apply(&[message_read, message_recalled]).await.unwrap();
    assert!(outcomes.iter().all(|o| o.duplicates == 1), "redeliveries: {outcomes:?}");
    assert_eq!(db.store.unread(&buyer, std::slice::from_ref(&shop)).await.unwrap()[&shop], 0);
    assert_eq!(db.store.get_message(&events::stored_key(&read)).await.unwrap().unwrap()["state"], 1);
    assert_eq!(db.store.get_message(&events::stored_key(&recalled)).await.unwrap().unwrap()["recalled"], true);
    db.drop().await;
}

/// Before version 4 each pair kept its own generation (`gen`, `countedGen` in its count document);
/// now one counter hands them out, and the first start-up of version 4 lifts it above every stored
/// `countedGen`. Without that, the next recounts of a pair counted often before would be refused as
/// older, and its count would stay behind.
#[tokio::test]
#[ignore = "needs MongoDB"]
async fn mongodb_counts_of_per_pair_generations_give_way_to_the_next_recount_after_the_upgrade() {
    use ::mongodb::bson::{doc, Document};
    let db = MongoDb::new().await;
    let (buyer, shop) = (events::unique("buyer"), events::unique("shop"));
    let peers = std::slice::from_ref(&shop);
    db.store.apply(&[events::callback(vec![events::chat(&events::unique("m"), &shop, &buyer, 100)])]).await.unwrap();
    assert_eq!(db.store.unread(&buyer, peers).await.unwrap()[&shop], 1);

    // As version 3 left a pair recounted a thousand times, before there was a counter.
    let database = db.store.database();
    let pair = doc! { "reader": buyer.to_lowercase(), "peer": shop.to_lowercase() };
    let counts = database.collection::<Document>("unread_counts");
    counts.update_one(pair, doc! { "$set": { "gen": 1_000_i64, "countedGen": 1_000_i64 } }).await.unwrap();
    let meta = database.collection::<Document>("imbridge_meta");
    meta.delete_one(doc! { "_id": "unread_counts" }).await.unwrap();
    meta.update_one(doc! { "_id": "messages" }, doc! { "$set": { "version": 3_i64 } }).await.unwrap();

    let uri = std::env::var("IMBRIDGE_TEST_MONGODB_URI").unwrap();
    let store = MongoMessageStore::connect(&uri, database.name(), RETENTION).await.expect("start-up of version 4");
    store.apply(&[events::callback(vec![events::chat(&events::unique("m"), &shop, &buyer, 200)])]).await.unwrap();
    assert_eq!(store.unread(&buyer, peers).await.unwrap()[&shop], 2, "the new message is counted");
    db.drop().await;
}

#[tokio::test]
async fn an_unreachable_mongodb_is_unavailable() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let uri = format!("mongodb://127.0.0.1:{port}/?directConnection=true&serverSelectionTimeoutMS=300");
    let error =
        MongoMessageStore::connect(&uri, "imbridge_unreachable", RETENTION).await.expect_err("nothing to connect to");
    assert!(error.is_unavailable(), "expected Unavailable (503), got {error:?}");
}

#[tokio::test]
async fn an_embedded_file_that_cannot_be_opened_is_unavailable() {
    let dir = tempfile::tempdir().expect("temp dir");
    // The path is a directory: SQLite cannot open it as a database file.
    let url = format!("sqlite://{}", dir.path().display());
    let error = EmbeddedMessageStore::open(&url, RETENTION).await.expect_err("a directory is no database");
    assert!(error.is_unavailable(), "expected Unavailable (503), got {error:?}");
}

#[tokio::test]
async fn the_purge_task_removes_expired_raw_bodies() {
    use std::sync::Arc;
    use std::time::SystemTime;
    let store: Arc<dyn MessageStore> = Arc::new(embedded().await);
    let long_ago = SystemTime::now() - RETENTION * 2;
    store.apply(&[events::callback_at(vec![], long_ago)]).await.unwrap();
    assert_eq!(store.raw_count().await.unwrap(), 1);

    let cancel = tokio_util::sync::CancellationToken::new();
    let task = imbridge::messages::spawn_raw_purge(store.clone(), Duration::from_millis(10), cancel.clone());
    let mut remaining = 1;
    for _ in 0..500 {
        remaining = store.raw_count().await.unwrap();
        if remaining == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cancel.cancel();
    task.await.expect("the task ends when cancelled");
    assert_eq!(remaining, 0, "the expired body was purged");
}

/// The embedded store of the previous version (bare NetEase keys, `user_version` 0), reopened.
#[tokio::test]
async fn embedded_store_migrates_old_netease_data_when_it_opens() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("messages.db").display());
    EmbeddedMessageStore::open(&url, RETENTION).await.expect("create the file").close().await;
    let old = migration::OldData::new();
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    for i in 0..3 {
        let mut document = old.document(i);
        let object = document.as_object_mut().unwrap();
        object.remove("state");
        object.remove("recalled");
        sqlx::query(
            "INSERT INTO messages (msg_key, to_acc, from_acc, conversation, counts_unread, sent_at_ms, state, recalled, document)
             VALUES (?, ?, ?, 'p2p', 1, ?, 0, ?, ?)",
        )
        .bind(&old.ids[i])
        .bind(&old.buyer)
        .bind(&old.shop)
        .bind(100 * (i as i64 + 1))
        .bind(i == 2)
        .bind(document.to_string())
        .execute(&pool)
        .await
        .unwrap();
    }
    sqlx::query("INSERT INTO recalls (msg_key, from_acc, to_acc, at_ms) VALUES (?, ?, ?, 400)")
        .bind(&old.ids[2])
        .bind(&old.shop)
        .bind(&old.buyer)
        .execute(&pool)
        .await
        .unwrap();
    for (owner, peer) in [(&old.buyer, &old.shop), (&old.shop, &old.buyer)] {
        sqlx::query("INSERT INTO conversations (owner, peer, last_at_ms, last_key) VALUES (?, ?, 300, ?)")
            .bind(owner)
            .bind(peer)
            .bind(&old.ids[2])
            .execute(&pool)
            .await
            .unwrap();
    }
    // The previous version's tables had no path_and_query columns.
    for table in ["raw_callbacks", "dead_letters"] {
        sqlx::query(&format!("ALTER TABLE {table} DROP COLUMN path_and_query")).execute(&pool).await.unwrap();
    }
    sqlx::query("PRAGMA user_version = 0").execute(&pool).await.unwrap();
    pool.close().await;

    let store = EmbeddedMessageStore::open(&url, RETENTION).await.expect("open and migrate");
    migration::old_data_is_served_as_new(&store, &old).await;
    store.close().await;
    let again = EmbeddedMessageStore::open(&url, RETENTION).await.expect("a second open migrates nothing");
    assert!(again.get_message(&events::stored_key(&old.ids[0])).await.unwrap().is_some());
}

/// A MongoDB database of the previous version (documents keyed by `msgidServer`, its unique index,
/// the indexes on `msgTimestamp`, bare recall ids and summary keys), connected to.
#[tokio::test]
#[ignore = "needs MongoDB"]
async fn mongodb_migrates_old_netease_data_at_start_up() {
    use ::mongodb::bson::{doc, to_document, Document};
    use ::mongodb::options::IndexOptions;
    use ::mongodb::IndexModel;
    let uri = std::env::var("IMBRIDGE_TEST_MONGODB_URI").expect("IMBRIDGE_TEST_MONGODB_URI is not set");
    let name = format!("imbridge_test_{}", uuid::Uuid::new_v4().simple());
    let client = ::mongodb::Client::with_uri_str(&uri).await.unwrap();
    let db = client.database(&name);
    let old = migration::OldData::new();
    let messages = db.collection::<Document>("messages");
    messages
        .create_indexes([
            IndexModel::builder()
                .keys(doc! { "msgidServer": 1 })
                .options(IndexOptions::builder().unique(true).build())
                .build(),
            IndexModel::builder()
                .keys(doc! { "to": 1, "from": 1, "countsUnread": 1, "recalled": 1, "msgTimestamp": 1 })
                .options(
                    IndexOptions::builder()
                        .name("unread".to_owned())
                        .partial_filter_expression(doc! { "conversation": "p2p", "state": 0 })
                        .build(),
                )
                .build(),
            IndexModel::builder()
                .keys(doc! { "to": 1, "from": 1, "msgTimestamp": 1, "msgidServer": 1 })
                .options(IndexOptions::builder().name("pair".to_owned()).build())
                .build(),
        ])
        .await
        .unwrap();
    let documents: Vec<Document> = (0..3).map(|i| to_document(&old.document(i)).unwrap()).collect();
    messages.insert_many(documents).await.unwrap();
    db.collection::<Document>("recalls")
        .insert_one(doc! { "_id": &old.ids[2], "from": &old.shop, "to": &old.buyer, "atMs": 400_i64 })
        .await
        .unwrap();
    for (owner, peer) in [(&old.buyer, &old.shop), (&old.shop, &old.buyer)] {
        let summary = doc! { "_id": format!("{owner}|{peer}"), "owner": owner, "peer": peer, "lastAt": 300_i64, "lastKey": &old.ids[2] };
        db.collection::<Document>("conversations").insert_one(summary).await.unwrap();
    }

    let store = MongoMessageStore::connect(&uri, &name, RETENTION).await.expect("connect and migrate");
    let mut names = messages.list_index_names().await.unwrap();
    names.sort();
    assert_eq!(names, ["_id_", "key_1", "pair", "to_key", "unread"], "the old indexes replaced");
    migration::old_data_is_served_as_new(&store, &old).await;
    MongoMessageStore::connect(&uri, &name, RETENTION).await.expect("a restart migrates nothing");
    db.drop().await.unwrap();
}

/// The shard keys the README's `sh.shardCollection` commands use. Sharding a collection that holds
/// data needs an index led by its shard key, and MongoDB refuses a unique index (other than `_id`)
/// that the shard key does not prefix: both hold for the indexes the store creates.
#[tokio::test]
#[ignore = "needs MongoDB"]
async fn mongodb_unique_indexes_are_prefixed_by_the_shard_keys() {
    use ::mongodb::bson::Document;
    use futures::TryStreamExt;
    let db = MongoDb::new().await;
    let shard_keys =
        [("messages", "to"), ("conversations", "owner"), ("unread_counts", "reader"), ("presence_clients", "accid")];
    for (collection, shard_key) in shard_keys {
        let indexes: Vec<_> = db
            .store
            .database()
            .collection::<Document>(collection)
            .list_indexes()
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let leading = |keys: &Document| keys.keys().next().cloned().unwrap_or_default();
        assert!(
            indexes.iter().any(|i| leading(&i.keys) == shard_key),
            "{collection}: no index led by its shard key {shard_key}: {indexes:?}"
        );
        for index in &indexes {
            let name = index.options.as_ref().and_then(|o| o.name.clone()).unwrap_or_default();
            let unique = index.options.as_ref().and_then(|o| o.unique).unwrap_or(false);
            if unique && name != "_id_" {
                assert_eq!(leading(&index.keys), shard_key, "{collection}: unique index {name} {:?}", index.keys);
            }
        }
    }
    let messages = db.store.database().collection::<Document>("messages").list_indexes().await.unwrap();
    let unique: Vec<_> = messages
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .into_iter()
        .filter(|i| i.options.as_ref().and_then(|o| o.unique) == Some(true))
        .map(|i| i.keys.keys().cloned().collect::<Vec<_>>())
        .collect();
    assert_eq!(unique, [vec!["to".to_owned(), "key".to_owned()]], "one unique index on messages: {{to, key}}");
    db.drop().await;
}

//! Property: random conversations (messages of every kind, receipts from several devices, recalls),
//! delivered with duplicates, shuffled, split into random batches applied concurrently, end with
//! the unread counts (per peer, every peer with something unread, the total), `state` and `recalled`
//! flags of a simple in-memory oracle (a recount from the ops), and with
//! conversation summaries equal to a recomputation from the messages.

use std::collections::{BTreeMap, HashMap, HashSet};

use futures::StreamExt;
use imbridge::messages::{CallbackRecord, ConversationPage, MessageStore};
use imbridge_provider::Event;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::events::{callback, message, recall, receipt, stored_key, unique, Kind};

const ACCOUNTS: usize = 3;

#[derive(Debug, Clone)]
enum Op {
    Message {
        from: usize,
        to: usize,
        sent_at_ms: i64,
        kind: Kind,
    },
    Receipt {
        reader: usize,
        peer: usize,
        read_up_to_ms: i64,
    },
    /// Recalls the n-th message of the scenario (modulo their number); a key never sent otherwise.
    Recall {
        nth: usize,
    },
}

#[derive(Debug, Clone)]
struct Scenario {
    ops: Vec<Op>,
    /// Drives duplication, shuffling and batch sizes.
    seed: u64,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![6 => Just(Kind::Chat), 1 => Just(Kind::Tips), 1 => Just(Kind::System), 1 => Just(Kind::Team)]
}

fn op() -> impl Strategy<Value = Op> {
    // Few accounts and a small time range, so that pairs, equal timestamps and receipts landing
    // exactly on a message are common.
    let account = 0..ACCOUNTS;
    prop_oneof![
        5 => (account.clone(), account.clone(), 0..12i64, kind())
            .prop_map(|(from, to, sent_at_ms, kind)| Op::Message { from, to, sent_at_ms, kind }),
        3 => (account.clone(), account, 0..12i64)
            .prop_map(|(reader, peer, read_up_to_ms)| Op::Receipt { reader, peer, read_up_to_ms }),
        1 => (0..64usize).prop_map(|nth| Op::Recall { nth }),
    ]
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (prop::collection::vec(op(), 1..40), any::<u64>()).prop_map(|(ops, seed)| Scenario { ops, seed })
}

/// A scenario with concrete names: accounts and message keys unique to this case.
struct Named {
    accounts: Vec<String>,
    keys: Vec<String>,
    ops: Vec<Op>,
}

impl Named {
    fn new(scenario: &Scenario) -> Self {
        let case = unique("p");
        // Mixed case on purpose: the stores compare lowercased.
        let accounts = (0..ACCOUNTS).map(|i| format!("{case}_Acc{i}")).collect();
        let keys = (0..scenario.ops.len()).map(|i| format!("{case}-{i}")).collect();
        Named { accounts, keys, ops: scenario.ops.clone() }
    }

    fn message_indices(&self) -> Vec<usize> {
        (0..self.ops.len()).filter(|&i| matches!(self.ops[i], Op::Message { .. })).collect()
    }

    fn recalled_key(&self, nth: usize) -> String {
        let messages = self.message_indices();
        match messages.is_empty() {
            true => format!("{}-never-sent", self.keys[0]),
            false => self.keys[messages[nth % messages.len()]].clone(),
        }
    }

    fn event(&self, index: usize) -> Event {
        let name = |i: usize| self.accounts[i].as_str();
        match self.ops[index] {
            Op::Message { from, to, sent_at_ms, kind } => {
                message(kind, &self.keys[index], name(from), name(to), sent_at_ms)
            }
            Op::Receipt { reader, peer, read_up_to_ms } => receipt(name(reader), name(peer), read_up_to_ms),
            Op::Recall { nth } => {
                let key = self.recalled_key(nth);
                recall(&key, name(0), name(1))
            }
        }
    }
}

/// What the stores must end with, computed the obvious way.
struct Oracle {
    watermarks: HashMap<(usize, usize), i64>,
    recalled: HashSet<String>,
}

impl Oracle {
    fn new(named: &Named) -> Self {
        let mut oracle = Oracle { watermarks: HashMap::new(), recalled: HashSet::new() };
        for op in &named.ops {
            match *op {
                Op::Receipt { reader, peer, read_up_to_ms } => {
                    let mark = oracle.watermarks.entry((reader, peer)).or_insert(read_up_to_ms);
                    *mark = (*mark).max(read_up_to_ms);
                }
                Op::Recall { nth } => {
                    oracle.recalled.insert(named.recalled_key(nth));
                }
                Op::Message { .. } => {}
            }
        }
        oracle
    }

    fn read(&self, from: usize, to: usize, sent_at_ms: i64, kind: Kind) -> bool {
        kind.one_to_one_chat() && self.watermarks.get(&(to, from)).is_some_and(|&mark| sent_at_ms <= mark)
    }

    fn unread(&self, named: &Named, reader: usize, peer: usize) -> u64 {
        named
            .message_indices()
            .into_iter()
            .filter(|&i| match named.ops[i] {
                Op::Message { from, to, sent_at_ms, kind } => {
                    kind.counts()
                        && from == peer
                        && to == reader
                        && !self.read(from, to, sent_at_ms, kind)
                        && !self.recalled.contains(&named.keys[i])
                }
                _ => false,
            })
            .count() as u64
    }
}

/// Every op delivered once, about a third again, shuffled, cut into batches of 1 to 6 callbacks.
fn deliveries(named: &Named, seed: u64) -> Vec<Vec<CallbackRecord>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..named.ops.len()).collect();
    order.extend((0..named.ops.len()).filter(|_| rng.gen_bool(0.35)));
    order.shuffle(&mut rng);
    let callbacks: Vec<CallbackRecord> = order.into_iter().map(|i| callback(vec![named.event(i)])).collect();
    let mut batches = Vec::new();
    let mut rest = callbacks.as_slice();
    while !rest.is_empty() {
        let size = rng.gen_range(1..=6).min(rest.len());
        batches.push(rest[..size].to_vec());
        rest = &rest[size..];
    }
    batches
}

async fn check(store: &dyn MessageStore, scenario: &Scenario) -> Result<(), String> {
    let named = Named::new(scenario);
    let oracle = Oracle::new(&named);
    // Concurrent batches: the interleavings the MongoDB store's convergence argument is about.
    let results: Vec<_> = futures::stream::iter(deliveries(&named, scenario.seed))
        .map(|batch| async move { store.apply(&batch).await })
        .buffer_unordered(3)
        .collect()
        .await;
    for result in results {
        result.map_err(|e| format!("apply failed: {e:?}"))?;
    }

    let mut peers = named.accounts.clone();
    peers.push(format!("{}-nobody", named.accounts[0]));
    for reader in 0..ACCOUNTS {
        let counts = store.unread(&named.accounts[reader], &peers).await.map_err(|e| e.to_string())?;
        let expected: HashMap<String, u64> = peers
            .iter()
            .enumerate()
            .map(|(peer, name)| (name.clone(), if peer < ACCOUNTS { oracle.unread(&named, reader, peer) } else { 0 }))
            .collect();
        if counts != expected {
            return Err(format!("unread of {reader}: got {counts:?}, expected {expected:?}"));
        }
        // The inbox's views of the same counts: every peer with something unread, and the total.
        let all = store.unread_all(&named.accounts[reader]).await.map_err(|e| e.to_string())?;
        // Keyed by the stored (lowercased) accid.
        let nonzero: HashMap<String, u64> =
            expected.into_iter().filter(|(_, n)| *n > 0).map(|(peer, n)| (peer.to_lowercase(), n)).collect();
        if all != nonzero {
            return Err(format!("unread_all of {reader}: got {all:?}, expected {nonzero:?}"));
        }
        let total = store.unread_total(&named.accounts[reader]).await.map_err(|e| e.to_string())?;
        if total != nonzero.values().sum::<u64>() {
            return Err(format!("unread_total of {reader}: got {total}, expected {nonzero:?}"));
        }
    }
    check_summaries(store, &named).await?;
    for index in named.message_indices() {
        let Op::Message { from, to, sent_at_ms, kind } = named.ops[index] else { unreachable!() };
        let key = &named.keys[index];
        let document =
            store.get_message(&stored_key(key)).await.map_err(|e| e.to_string())?.ok_or(format!("{key} missing"))?;
        let expected_state = u8::from(oracle.read(from, to, sent_at_ms, kind));
        let expected_recalled = oracle.recalled.contains(key);
        if document["state"] != expected_state || document["recalled"] != expected_recalled {
            return Err(format!(
                "{key} ({kind:?} {from}->{to} at {sent_at_ms}): state {} recalled {}, expected {expected_state} {expected_recalled}",
                document["state"], document["recalled"]
            ));
        }
    }
    Ok(())
}

/// The conversation summaries (a cache written with the messages) equal a recomputation from the
/// messages: per (owner, peer), the newest one-to-one message in either direction by (sent-at, key).
async fn check_summaries(store: &dyn MessageStore, named: &Named) -> Result<(), String> {
    let mut expected: BTreeMap<(usize, usize), (i64, String)> = BTreeMap::new();
    for index in named.message_indices() {
        let Op::Message { from, to, sent_at_ms, kind } = named.ops[index] else { unreachable!() };
        if !kind.one_to_one_chat() {
            continue;
        }
        for pair in [(from, to), (to, from)] {
            let candidate = (sent_at_ms, stored_key(&named.keys[index]));
            let newest = expected.entry(pair).or_insert_with(|| candidate.clone());
            if candidate > *newest {
                *newest = candidate;
            }
        }
    }
    let index: HashMap<String, usize> =
        named.accounts.iter().enumerate().map(|(i, a)| (a.to_ascii_lowercase(), i)).collect();
    let mut got = BTreeMap::new();
    for (owner, account) in named.accounts.iter().enumerate() {
        let page = ConversationPage { as_of_ms: i64::MAX, after: None, limit: 100, peers: None };
        for row in store.conversation_page(account, &page).await.map_err(|e| e.to_string())? {
            let peer = *index.get(&row.peer).ok_or(format!("unknown peer {}", row.peer))?;
            got.insert((owner, peer), (row.last_at_ms, row.last_key));
        }
    }
    if got != expected {
        return Err(format!("conversation summaries {got:?}, recomputed from the messages {expected:?}"));
    }
    Ok(())
}

/// Run `cases` random scenarios against one store (each case uses its own accounts and keys).
pub fn run(runtime: &tokio::runtime::Runtime, store: &dyn MessageStore, cases: u32) {
    run_cases(runtime, store, cases, scenario(), "diverged from the oracle", |store, scenario| {
        Box::pin(async move { check(store, &scenario).await })
    });
}

/// A boxed future borrowing the store, for [`run_cases`].
pub type CaseFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + 'a>>;

/// Run `cases` cases of `strategy` through `check` against one store; panic naming the store and
/// the shrunk failing case.
pub fn run_cases<S: Strategy>(
    runtime: &tokio::runtime::Runtime,
    store: &dyn MessageStore,
    cases: u32,
    strategy: S,
    what: &str,
    check: impl for<'a> Fn(&'a dyn MessageStore, S::Value) -> CaseFuture<'a>,
) {
    let config = Config { cases, failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new(config);
    let outcome = runner.run(&strategy, |case| runtime.block_on(check(store, case)).map_err(TestCaseError::fail));
    if let Err(failure) = outcome {
        panic!("{} store {what}: {failure}", store.backend());
    }
}

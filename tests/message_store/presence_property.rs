//! Property: random login/logout streams (a few accounts, client types spelled in any case, device
//! ids present or not, many equal timestamps), with a share of events lost, the rest duplicated,
//! shuffled and applied in concurrent random batches, end in the presence of an oracle of NetEase's
//! rule: per (account, client type lowercased) the newest delivered event wins (offline on a tie),
//! and an account is online when any of its client types is. Customer-service routing will trust
//! this answer.

use std::collections::{BTreeMap, HashMap};

use futures::StreamExt;
use imbridge::messages::{CallbackRecord, MessageStore};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::events::{callback, presence_of, unique};
use crate::property::run_cases;

const ACCOUNTS: usize = 3;
/// Spellings NetEase uses (the logout sample says `iOS`); three client types in all.
const CLIENT_SPELLINGS: [&str; 6] = ["AOS", "aos", "IOS", "iOS", "WEB", "Web"];

#[derive(Debug, Clone)]
struct Login {
    account: usize,
    spelling: usize,
    device: Option<u8>,
    online: bool,
    at_ms: i64,
}

#[derive(Debug, Clone)]
struct Scenario {
    events: Vec<Login>,
    /// Drives loss, duplication, shuffling and batch sizes.
    seed: u64,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let event = (0..ACCOUNTS, 0..CLIENT_SPELLINGS.len(), proptest::option::of(0..3u8), any::<bool>(), 0..10i64)
        .prop_map(|(account, spelling, device, online, at_ms)| Login { account, spelling, device, online, at_ms });
    (proptest::collection::vec(event, 1..40), any::<u64>()).prop_map(|(events, seed)| Scenario { events, seed })
}

/// Which events arrive: about a fifth are lost, a third of the rest arrive twice; shuffled.
fn delivered(scenario: &Scenario) -> (Vec<usize>, StdRng) {
    let mut rng = StdRng::seed_from_u64(scenario.seed);
    let kept: Vec<usize> = (0..scenario.events.len()).filter(|_| !rng.gen_bool(0.2)).collect();
    let mut order = kept.clone();
    order.extend(kept.iter().copied().filter(|_| rng.gen_bool(0.35)));
    order.shuffle(&mut rng);
    (order, rng)
}

/// NetEase's rule over the events that arrived: (online, at) per account and client type.
fn oracle(scenario: &Scenario, arrived: &[usize]) -> BTreeMap<(usize, String), (bool, i64)> {
    let mut state: BTreeMap<(usize, String), (bool, i64)> = BTreeMap::new();
    for &i in arrived {
        let e = &scenario.events[i];
        let key = (e.account, CLIENT_SPELLINGS[e.spelling].to_ascii_lowercase());
        let newer = match state.get(&key) {
            None => true,
            Some(&(online, at)) => e.at_ms > at || (e.at_ms == at && online && !e.online),
        };
        if newer {
            state.insert(key, (e.online, e.at_ms));
        }
    }
    state
}

async fn check(store: &dyn MessageStore, scenario: &Scenario) -> Result<(), String> {
    let accounts: Vec<String> = (0..ACCOUNTS).map(|i| unique(&format!("p{i}_"))).collect();
    let (arrived, mut rng) = delivered(scenario);
    let callbacks: Vec<CallbackRecord> = arrived
        .iter()
        .map(|&i| {
            let e = &scenario.events[i];
            let device = e.device.map(|d| format!("device-{d}"));
            callback(vec![presence_of(
                &accounts[e.account],
                CLIENT_SPELLINGS[e.spelling],
                device.as_deref(),
                e.online,
                e.at_ms,
            )])
        })
        .collect();
    let mut batches = Vec::new();
    let mut rest = callbacks.as_slice();
    while !rest.is_empty() {
        let size = rng.gen_range(1..=5).min(rest.len());
        batches.push(rest[..size].to_vec());
        rest = &rest[size..];
    }
    let results: Vec<_> = futures::stream::iter(batches)
        .map(|batch| async move { store.apply(&batch).await })
        .buffer_unordered(3)
        .collect()
        .await;
    for result in results {
        result.map_err(|e| format!("apply failed: {e:?}"))?;
    }

    let expected = oracle(scenario, &arrived);
    let records = store.presence(&accounts).await.map_err(|e| e.to_string())?;
    let index: HashMap<&str, usize> = accounts.iter().enumerate().map(|(i, a)| (a.as_str(), i)).collect();
    let got: BTreeMap<(usize, String), (bool, i64)> =
        records.iter().map(|r| ((index[r.accid.as_str()], r.client_type.clone()), (r.online, r.at_ms))).collect();
    if got != expected {
        return Err(format!("presence {got:?}, expected {expected:?}"));
    }
    for account in 0..ACCOUNTS {
        let online = records.iter().any(|r| index[r.accid.as_str()] == account && r.online);
        let want = expected.iter().any(|((a, _), (on, _))| *a == account && *on);
        if online != want {
            return Err(format!("account {account} online {online}, expected {want}"));
        }
    }
    Ok(())
}

/// Run `cases` random scenarios against one store (each case uses its own accounts).
pub fn run(runtime: &tokio::runtime::Runtime, store: &dyn MessageStore, cases: u32) {
    run_cases(runtime, store, cases, scenario(), "presence diverged from the oracle", |store, scenario| {
        Box::pin(async move { check(store, &scenario).await })
    });
}

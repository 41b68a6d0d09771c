//! One async mutex per key, created on demand and forgotten when nobody holds or waits for it.
//! Within one process this makes concurrent requests for one account take turns, so two hundred
//! simultaneous "create buyer_01" calls make one provider call; across processes the database's
//! unique key and compare-and-set updates take over (see `service.rs`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// Below this many entries, dead ones are not swept.
const SWEEP_FLOOR: usize = 1024;

#[derive(Clone, Default)]
pub struct KeyedLocks {
    inner: Arc<Mutex<Entries>>,
}

#[derive(Default)]
struct Entries {
    /// `Weak`: the map does not keep a lock alive; holders and waiters do.
    locks: HashMap<String, Weak<AsyncMutex<()>>>,
    /// Sweep dead entries when the map grows past this (amortised O(1) per insert).
    sweep_at: usize,
}

impl KeyedLocks {
    /// Wait for the lock of `key`.
    pub async fn lock(&self, key: &str) -> OwnedMutexGuard<()> {
        let mutex = {
            let mut entries = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            match entries.locks.get(key).and_then(Weak::upgrade) {
                Some(mutex) => mutex,
                None => {
                    if entries.locks.len() >= entries.sweep_at.max(SWEEP_FLOOR) {
                        entries.locks.retain(|_, lock| lock.strong_count() > 0);
                        entries.sweep_at = entries.locks.len() * 2;
                    }
                    let mutex = Arc::new(AsyncMutex::new(()));
                    entries.locks.insert(key.to_owned(), Arc::downgrade(&mutex));
                    mutex
                }
            }
        };
        mutex.lock_owned().await
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().unwrap().locks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn one_holder_per_key_at_a_time() {
        let locks = KeyedLocks::default();
        let inside = Arc::new(AtomicUsize::new(0));
        let max_inside = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let (locks, inside, max_inside) = (locks.clone(), inside.clone(), max_inside.clone());
                tokio::spawn(async move {
                    let _guard = locks.lock("k").await;
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    max_inside.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    inside.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(max_inside.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn different_keys_do_not_wait_for_each_other() {
        let locks = KeyedLocks::default();
        let _a = locks.lock("a").await;
        let b = tokio::time::timeout(Duration::from_secs(5), locks.lock("b")).await;
        assert!(b.is_ok());
    }

    #[tokio::test]
    async fn dead_entries_are_swept() {
        let locks = KeyedLocks::default();
        for i in 0..(SWEEP_FLOOR * 3) {
            drop(locks.lock(&i.to_string()).await);
        }
        assert!(locks.len() <= SWEEP_FLOOR + 1, "{}", locks.len());
    }
}

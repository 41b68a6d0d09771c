//! Giving freed heap back to the operating system.
//!
//! glibc's allocator keeps what a thread freed in that thread's arena and returns it to the system
//! only from the top of the main heap. SQLite's page caches and statement journals, on the worker
//! thread of each pooled connection, swing by several MiB from moment to moment (the
//! `imbridge_sqlite_heap_bytes` gauge); each new peak in some arena then stayed resident, so the
//! service's RSS crept up in steps over a long run although its live memory did not grow (the P4
//! soak in BENCHMARKS.md). [`spawn_trimmer`] calls `malloc_trim(0)` now and then, which releases the
//! free pages of every arena, so RSS follows the live heap.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// How often the heap is trimmed. A trim walks the free lists of every arena, on a blocking thread.
pub const TRIM_EVERY: Duration = Duration::from_secs(10);

/// Trim the heap every [`TRIM_EVERY`] until `stop` is cancelled. Only where the allocator is glibc's;
/// elsewhere this does nothing.
pub fn spawn_trimmer(stop: CancellationToken) {
    if !cfg!(all(target_os = "linux", target_env = "gnu")) {
        return;
    }
    tokio::spawn(async move {
        let mut every = tokio::time::interval(TRIM_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = every.tick() => {}
            }
            if tokio::task::spawn_blocking(trim).await.is_err() {
                return;
            }
        }
    });
}

/// Release the free pages of every arena.
fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers; it locks each arena while it releases that arena's free
    // pages, so it is safe to call from any thread while others allocate. Whether anything was
    // released (its result) changes nothing here.
    unsafe {
        libc::malloc_trim(0);
    }
}

//! Client-side rate limiting per NetEase API class, and memory of NetEase's own blocks (416).
//!
//! NetEase counts calls per app and, past the quota, blocks the whole class for a fixed period
//! (10 s for the per-second class, 1 min for the batch class). Every clone of a client shares one
//! gate per class, so the outbox and synchronous account calls draw from the same quota.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::NeteaseError;

/// The two quota classes of shared/providers/netease.md §1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiClass {
    /// 100 calls/s by default: user/*, friend/*, msg/sendMsg, sendAttachMsg, recall, markReadMsg,
    /// history/querySessionMsg.
    PerSecond,
    /// 120 calls/min by default: msg/sendBatchAttachMsg.
    Batch,
}

impl ApiClass {
    /// How long NetEase blocks the class after a 416.
    pub fn block_period(self) -> Duration {
        match self {
            ApiClass::PerSecond => Duration::from_secs(10),
            ApiClass::Batch => Duration::from_secs(60),
        }
    }
}

/// Admission for one API class: a sliding-window limiter plus the "blocked until" NetEase imposed.
#[derive(Debug)]
pub(crate) struct Gate {
    class: ApiClass,
    window: SlidingWindow,
    blocked_until: Mutex<Option<Instant>>,
}

impl Gate {
    pub(crate) fn new(class: ApiClass, limit: u32, period: Duration) -> Self {
        Self { class, window: SlidingWindow::new(limit, period), blocked_until: Mutex::new(None) }
    }

    /// Wait for a slot; hold the permit until the call is answered. Fails at once, without
    /// waiting, while NetEase blocks the class.
    pub(crate) async fn admit(&self) -> Result<Permit<'_>, NeteaseError> {
        self.check_blocked()?;
        let permit = self.window.acquire().await;
        // A 416 may have arrived for another call while this one waited.
        self.check_blocked()?;
        Ok(permit)
    }

    /// Remember a 416 and return the error the caller sees.
    pub(crate) fn block(&self, code: i64) -> NeteaseError {
        let until = Instant::now() + self.class.block_period();
        let mut blocked = self.blocked_until.lock().unwrap_or_else(|p| p.into_inner());
        // Concurrent 416s: keep the latest end so no call slips through early.
        let until = blocked.map_or(until, |b| b.max(until));
        *blocked = Some(until);
        tracing::warn!(class = ?self.class, block_secs = self.class.block_period().as_secs(), "netease frequency control (416): class blocked");
        NeteaseError::Blocked { until, code }
    }

    fn check_blocked(&self) -> Result<(), NeteaseError> {
        let mut blocked = self.blocked_until.lock().unwrap_or_else(|p| p.into_inner());
        match *blocked {
            Some(until) if Instant::now() < until => {
                Err(NeteaseError::Blocked { until, code: crate::error::codes::FREQUENCY })
            }
            Some(_) => {
                *blocked = None;
                Ok(())
            }
            None => Ok(()),
        }
    }
}

/// At most `limit` calls per `period`, counted so that NetEase can never see more.
///
/// NetEase counts a call when it arrives, somewhere between our send and our receipt of the answer.
/// So a slot is held while its call is in flight and stays taken for `period` after the answer (or
/// failure): a new call starts at least `period` after the arrival of the call whose slot it
/// reuses, whatever the network latency. A refilling token bucket would not do: it lets a full
/// burst through right after a full refill, and counts at send time. Waiters take their turn in
/// arrival order (tokio's mutex is fair).
#[derive(Debug)]
struct SlidingWindow {
    limit: usize,
    period: Duration,
    /// Held by the caller whose turn it is, while it waits for a slot.
    turn: tokio::sync::Mutex<()>,
    slots: Mutex<Slots>,
    released: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct Slots {
    in_flight: usize,
    /// When recent calls finished, oldest first.
    finished: VecDeque<tokio::time::Instant>,
}

/// A taken slot; dropping it (the call finished, failed or was cancelled) starts its cool-down.
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    window: &'a SlidingWindow,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut slots = self.window.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.in_flight -= 1;
        slots.finished.push_back(tokio::time::Instant::now());
        drop(slots);
        self.window.released.notify_one();
    }
}

impl SlidingWindow {
    fn new(limit: u32, period: Duration) -> Self {
        Self {
            limit: limit.max(1) as usize,
            period,
            turn: tokio::sync::Mutex::new(()),
            slots: Mutex::new(Slots::default()),
            released: tokio::sync::Notify::new(),
        }
    }

    async fn acquire(&self) -> Permit<'_> {
        let _turn = self.turn.lock().await;
        loop {
            let free_at = {
                let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
                let now = tokio::time::Instant::now();
                while slots.finished.front().is_some_and(|&t| now.duration_since(t) >= self.period) {
                    slots.finished.pop_front();
                }
                if slots.in_flight + slots.finished.len() < self.limit {
                    slots.in_flight += 1;
                    return Permit { window: self };
                }
                slots.finished.front().map(|&t| t + self.period)
            };
            // `notify_one` keeps a wake-up for a waiter that is not yet listening, so a release
            // between the check above and this wait is not lost.
            match free_at {
                Some(at) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = self.released.notified() => {}
                    }
                }
                None => self.released.notified().await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_slot_is_free_again_one_period_after_its_call_finished() {
        let window = SlidingWindow::new(3, Duration::from_secs(1));
        let start = tokio::time::Instant::now();
        for _ in 0..3 {
            let call = window.acquire().await;
            tokio::time::sleep(Duration::from_millis(100)).await; // the call takes 100 ms
            drop(call);
        }
        assert_eq!(start.elapsed(), Duration::from_millis(300), "the first `limit` calls do not wait");
        let _fourth = window.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_millis(1100), "the 4th waits until 1 s after the 1st finished");
    }

    #[tokio::test(start_paused = true)]
    async fn calls_in_flight_hold_their_slots() {
        let window = std::sync::Arc::new(SlidingWindow::new(2, Duration::from_secs(1)));
        let start = tokio::time::Instant::now();
        let first = window.acquire().await;
        let _second = window.acquire().await;
        let waiter = tokio::spawn({
            let window = window.clone();
            async move {
                let _third = window.acquire().await;
                start.elapsed()
            }
        });
        tokio::time::sleep(Duration::from_secs(5)).await; // still in flight: nobody else gets in
        assert!(!waiter.is_finished());
        drop(first);
        assert_eq!(waiter.await.unwrap(), Duration::from_secs(6));
    }

    #[tokio::test(start_paused = true)]
    async fn never_more_than_limit_starts_within_a_period_of_a_finish() {
        let window = std::sync::Arc::new(SlidingWindow::new(5, Duration::from_secs(1)));
        let mut tasks = Vec::new();
        for i in 0..23u64 {
            let window = window.clone();
            tasks.push(tokio::spawn(async move {
                let permit = window.acquire().await;
                let started = tokio::time::Instant::now();
                tokio::time::sleep(Duration::from_millis(10 * (i % 4))).await;
                drop(permit);
                (started, tokio::time::Instant::now())
            }));
        }
        let mut calls = Vec::new();
        for task in tasks {
            calls.push(task.await.unwrap());
        }
        // NetEase may count a call anywhere in [start, finish]; take the worst case for each pair:
        // a later call counted at its start, an earlier one at its finish.
        for &(_, finished) in &calls {
            let counted_together =
                calls.iter().filter(|&&(s, f)| f >= finished && s < finished + Duration::from_secs(1)).count();
            assert!(counted_together <= 5, "{counted_together} calls within one second");
        }
    }

    #[tokio::test]
    async fn a_block_fails_calls_until_it_ends() {
        let gate = Gate::new(ApiClass::PerSecond, 10, Duration::from_secs(1));
        drop(gate.admit().await.unwrap());
        let NeteaseError::Blocked { until, code } = gate.block(416) else { panic!("block returns Blocked") };
        assert_eq!(code, 416);
        assert!(until >= Instant::now() + Duration::from_secs(9));
        assert!(matches!(gate.admit().await, Err(NeteaseError::Blocked { .. })));
        // Pretend the block period is over.
        *gate.blocked_until.lock().unwrap() = Some(Instant::now() - Duration::from_millis(1));
        drop(gate.admit().await.unwrap());
    }
}

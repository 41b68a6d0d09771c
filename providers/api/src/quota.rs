//! A client-side quota shared by the provider crates: at most `limit` calls per `period`, counted
//! so that the provider can never see more.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

/// At most `limit` calls per `period`, counted so that NetEase can never see more.
///
/// NetEase counts a call when it arrives, somewhere between our send and our receipt of the answer.
/// So a slot is held while its call is in flight and stays taken for `period` after the answer (or
/// failure): a new call starts at least `period` after the arrival of the call whose slot it
/// reuses, whatever the network latency. A refilling token bucket would not do: it lets a full
/// burst through right after a full refill, and counts at send time. Waiters take their turn in
/// arrival order (tokio's mutex is fair).
#[derive(Debug)]
pub struct SlidingWindow {
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
pub struct Permit<'a> {
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
    pub fn new(limit: u32, period: Duration) -> Self {
        Self {
            limit: limit.max(1) as usize,
            period,
            turn: tokio::sync::Mutex::new(()),
            slots: Mutex::new(Slots::default()),
            released: tokio::sync::Notify::new(),
        }
    }

    pub async fn acquire(&self) -> Permit<'_> {
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
}

//! Group commit: concurrent callers hand in one item each; a single writer task collects whatever
//! is waiting (up to `max_batch` items, waiting at most `max_wait` for more once the first arrives),
//! writes them with one bulk call, and answers every caller with its own result.
//!
//! Nothing is buffered unacknowledged: a caller's future resolves only after the batch holding its
//! item has been written (or has failed). The queue is bounded; when the store cannot keep up,
//! callers wait for room for at most `enqueue_timeout` and then get [`Overloaded`], which the route
//! turns into a 503 so the provider retries later.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::time::Instant;

/// The batch writer: given every item of a batch, returns one result per item, in order.
pub trait BatchWriter<T, R>: Send + Sync + 'static {
    fn write(&self, items: Vec<T>) -> impl Future<Output = Vec<R>> + Send;
}

/// Tuning knobs; see `[callbacks]` in config/default.toml.
#[derive(Debug, Clone, Copy)]
pub struct BatchOptions {
    pub max_batch: usize,
    pub max_wait: Duration,
    pub queue_capacity: usize,
    pub enqueue_timeout: Duration,
    /// Batches being written at once. With 2, the next batch is collected and prepared while the
    /// previous one commits. Measured slower here on both stores (more, smaller batches: one
    /// commit each), so the default is 1; see BENCHMARKS.md, P1.
    pub in_flight: usize,
}

impl Default for BatchOptions {
    fn default() -> Self {
        Self {
            max_batch: 256,
            max_wait: Duration::from_millis(1),
            queue_capacity: 1024,
            enqueue_timeout: Duration::from_secs(2),
            in_flight: 1,
        }
    }
}

/// The queue was full for longer than `enqueue_timeout`, or the writer has stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the store is not keeping up; try again")]
pub struct Overloaded;

struct Job<T, R> {
    item: T,
    reply: oneshot::Sender<R>,
}

/// Handle used by request handlers; cheap to clone.
pub struct Batcher<T, R> {
    tx: mpsc::Sender<Job<T, R>>,
    enqueue_timeout: Duration,
}

impl<T, R> Clone for Batcher<T, R> {
    fn clone(&self) -> Self {
        Self { tx: self.tx.clone(), enqueue_timeout: self.enqueue_timeout }
    }
}

impl<T: Send + 'static, R: Send + 'static> Batcher<T, R> {
    /// Start the writer task. It ends once every `Batcher` handle is dropped and the queue drained,
    /// so in-flight items are always answered.
    pub fn spawn<W: BatchWriter<T, R>>(writer: Arc<W>, opts: BatchOptions) -> Self {
        let (tx, rx) = mpsc::channel(opts.queue_capacity.max(1));
        tokio::spawn(run(writer, rx, opts));
        Self { tx, enqueue_timeout: opts.enqueue_timeout }
    }

    /// Submit one item and wait until the batch holding it is written.
    pub async fn submit(&self, item: T) -> Result<R, Overloaded> {
        let (reply, rx) = oneshot::channel();
        let permit = tokio::time::timeout(self.enqueue_timeout, self.tx.reserve())
            .await
            .map_err(|_| Overloaded)?
            .map_err(|_| Overloaded)?;
        permit.send(Job { item, reply });
        rx.await.map_err(|_| Overloaded)
    }

    /// Items waiting to be written (for the queue-depth metric).
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}

async fn run<T: Send + 'static, R: Send + 'static, W: BatchWriter<T, R>>(
    writer: Arc<W>,
    mut rx: mpsc::Receiver<Job<T, R>>,
    opts: BatchOptions,
) {
    let max_batch = opts.max_batch.max(1);
    let slots = Arc::new(Semaphore::new(opts.in_flight.max(1)));
    loop {
        // A free write slot first: until then callers wait in the (bounded) queue, not here.
        let Ok(slot) = slots.clone().acquire_owned().await else { break };
        // Items that queued up while every slot was writing mean the writer is the bottleneck:
        // write them at once, waiting would only add latency. Only an idle writer waits (up to
        // max_wait) after the first arrival, for concurrent callers to join its batch.
        let (first, idle) = match rx.try_recv() {
            Ok(job) => (job, false),
            Err(_) => match rx.recv().await {
                Some(job) => (job, true),
                None => break,
            },
        };
        let mut jobs = Vec::with_capacity(max_batch);
        jobs.push(first);
        let deadline = Instant::now() + opts.max_wait;
        while jobs.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) if !idle => break,
                Err(_) => match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(job)) => jobs.push(job),
                    _ => break,
                },
            }
        }
        let writer = writer.clone();
        tokio::spawn(async move {
            let (items, replies): (Vec<T>, Vec<oneshot::Sender<R>>) =
                jobs.into_iter().map(|j| (j.item, j.reply)).unzip();
            metrics::histogram!("imbridge_callback_batch_size").record(items.len() as f64);
            let results = writer.write(items).await;
            drop(slot);
            debug_assert_eq!(results.len(), replies.len());
            for (reply, result) in replies.into_iter().zip(results) {
                // The caller may have gone away (client disconnected); the write happened regardless.
                let _ = reply.send(result);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Recorder {
        batches: Mutex<Vec<Vec<u32>>>,
        delay: Duration,
    }

    impl BatchWriter<u32, u32> for Recorder {
        async fn write(&self, items: Vec<u32>) -> Vec<u32> {
            tokio::time::sleep(self.delay).await;
            self.batches.lock().unwrap().push(items.clone());
            items.into_iter().map(|i| i * 10).collect()
        }
    }

    #[tokio::test]
    async fn concurrent_submissions_share_batches_and_get_their_own_results() {
        let writer = Arc::new(Recorder { batches: Mutex::new(vec![]), delay: Duration::from_millis(5) });
        let batcher =
            Batcher::spawn(writer.clone(), BatchOptions { max_batch: 16, in_flight: 2, ..Default::default() });
        let handles: Vec<_> = (0..200u32)
            .map(|i| {
                let b = batcher.clone();
                tokio::spawn(async move { (i, b.submit(i).await.unwrap()) })
            })
            .collect();
        for h in handles {
            let (i, r) = h.await.unwrap();
            assert_eq!(r, i * 10);
        }
        let batches = writer.batches.lock().unwrap();
        let total: usize = batches.iter().map(Vec::len).sum();
        assert_eq!(total, 200, "every item written exactly once");
        assert!(batches.iter().all(|b| b.len() <= 16), "batches are bounded");
        assert!(batches.len() < 200, "concurrent items were grouped ({} batches)", batches.len());
    }

    /// Counts the writes running at once.
    struct Overlap {
        running: std::sync::atomic::AtomicUsize,
        most: std::sync::atomic::AtomicUsize,
    }

    impl BatchWriter<u32, u32> for Overlap {
        async fn write(&self, items: Vec<u32>) -> Vec<u32> {
            use std::sync::atomic::Ordering::SeqCst;
            let now = self.running.fetch_add(1, SeqCst) + 1;
            self.most.fetch_max(now, SeqCst);
            tokio::time::sleep(Duration::from_millis(5)).await;
            self.running.fetch_sub(1, SeqCst);
            items
        }
    }

    #[tokio::test(start_paused = true)]
    async fn batches_overlap_up_to_in_flight_and_no_further() {
        for in_flight in [1, 2, 3] {
            let writer = Arc::new(Overlap { running: Default::default(), most: Default::default() });
            let opts = BatchOptions { max_batch: 4, in_flight, ..Default::default() };
            let batcher = Batcher::spawn(writer.clone(), opts);
            let handles: Vec<_> = (0..100u32)
                .map(|i| {
                    let b = batcher.clone();
                    tokio::spawn(async move { b.submit(i).await })
                })
                .collect();
            for (i, h) in handles.into_iter().enumerate() {
                assert_eq!(h.await.unwrap(), Ok(i as u32), "every caller gets its own result");
            }
            assert_eq!(writer.most.load(std::sync::atomic::Ordering::SeqCst), in_flight);
        }
    }

    /// Virtual time: the writer takes 20 ms, an idle writer waits up to 50 ms for company.
    #[tokio::test(start_paused = true)]
    async fn an_idle_writer_waits_for_company_but_a_busy_one_goes_straight_on() {
        let writer = Arc::new(Recorder { batches: Mutex::new(vec![]), delay: Duration::from_millis(20) });
        let opts =
            BatchOptions { max_batch: 100, max_wait: Duration::from_millis(50), in_flight: 1, ..Default::default() };
        let batcher = Batcher::spawn(writer.clone(), opts);
        let start = Instant::now();
        let b = batcher.clone();
        let first = tokio::spawn(async move { (b.submit(1).await, Instant::now()) });
        // Arrive while the first batch is being written (50 ms wait + 20 ms write).
        tokio::time::sleep(Duration::from_millis(60)).await;
        let (b2, b3) = (batcher.clone(), batcher.clone());
        let second = tokio::spawn(async move { (b2.submit(2).await, Instant::now()) });
        let third = tokio::spawn(async move { (b3.submit(3).await, Instant::now()) });

        let (result, done) = first.await.unwrap();
        assert_eq!(result, Ok(10));
        assert_eq!(done - start, Duration::from_millis(70), "the idle writer waited its 50 ms");
        for handle in [second, third] {
            let (_, done) = handle.await.unwrap();
            // Queued during the write: written right after it (70 + 20 ms), not after another wait.
            assert_eq!(done - start, Duration::from_millis(90));
        }
        assert_eq!(*writer.batches.lock().unwrap(), vec![vec![1], vec![2, 3]]);
    }

    #[tokio::test]
    async fn a_full_queue_answers_overloaded_instead_of_buffering() {
        let writer = Arc::new(Recorder { batches: Mutex::new(vec![]), delay: Duration::from_millis(300) });
        let opts = BatchOptions {
            max_batch: 1,
            max_wait: Duration::ZERO,
            queue_capacity: 1,
            enqueue_timeout: Duration::from_millis(20),
            in_flight: 1,
        };
        let batcher = Batcher::spawn(writer, opts);
        // One item is being written, one waits in the queue; the third finds no room.
        let b1 = batcher.clone();
        let first = tokio::spawn(async move { b1.submit(1).await });
        tokio::time::sleep(Duration::from_millis(30)).await;
        let b2 = batcher.clone();
        let second = tokio::spawn(async move { b2.submit(2).await });
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(batcher.submit(3).await, Err(Overloaded));
        assert_eq!(first.await.unwrap(), Ok(10));
        assert_eq!(second.await.unwrap(), Ok(20));
    }
}

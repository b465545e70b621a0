//! Write batching: concurrent requests of one kind share one transaction.
//!
//! sled 0.34 writes its log buffer out twice per transaction (before and
//! after the batch marker), through its own I/O threads, and those writes
//! queue behind each other. So 64
//! clients revoking one token each, one transaction apiece, are hardly
//! faster than one client, and most of their CPU goes on waking threads.
//! A batcher has one writer thread: requests queue up while it works, and
//! each time round it takes everything queued and runs it as one batch.
//! Callers await their own answer without holding a thread.

use std::sync::mpsc::{self, Receiver, Sender};
use tokio::sync::oneshot;

type Job<R, O> = (R, oneshot::Sender<O>);

/// The sending half; the writer thread exits once it is dropped.
pub(super) struct Batcher<R, O> {
    jobs: Sender<Job<R, O>>,
}

/// The queue, until `start` hands it to the writer thread.
pub(super) struct Queue<R, O> {
    jobs: Receiver<Job<R, O>>,
}

/// A batcher and the queue its writer thread will serve.
pub(super) fn channel<R, O>() -> (Batcher<R, O>, Queue<R, O>) {
    let (jobs, queue) = mpsc::channel();
    (Batcher { jobs }, Queue { jobs: queue })
}

impl<R: Send + 'static, O: Send + 'static> Queue<R, O> {
    /// Starts the writer thread. `batch` gets the queued requests in
    /// arrival order and returns one answer per request, in that order;
    /// requests it gives no answer get `None` from `run`.
    pub(super) fn start(
        self,
        name: &str,
        mut batch: impl FnMut(Vec<R>) -> Vec<O> + Send + 'static,
    ) -> std::io::Result<()> {
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                while let Ok(first) = self.jobs.recv() {
                    let (requests, replies): (Vec<R>, Vec<oneshot::Sender<O>>) =
                        std::iter::once(first).chain(self.jobs.try_iter()).unzip();
                    // A panicking batch answers nobody (each caller sees
                    // `None`), and the thread lives on for the next one.
                    let answers =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| batch(requests)))
                            .unwrap_or_default();
                    for (reply, answer) in replies.into_iter().zip(answers) {
                        // A caller that stopped waiting (its request was
                        // cancelled) still had its write done; nothing to tell.
                        let _ = reply.send(answer);
                    }
                }
            })
            .map(drop)
    }
}

impl<R, O> Batcher<R, O> {
    /// Queues `request` and waits for its batch to answer it; `None` if the
    /// writer thread is gone or gave no answer.
    pub(super) async fn run(&self, request: R) -> Option<O> {
        let (reply, answer) = oneshot::channel();
        self.jobs.send((request, reply)).ok()?;
        answer.await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[tokio::test]
    async fn a_lone_request_is_answered() {
        let (batcher, queue) = channel::<u32, u32>();
        queue
            .start("test-batch", |reqs| reqs.iter().map(|r| r * 2).collect())
            .unwrap();
        assert_eq!(batcher.run(7).await, Some(14));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_share_batches_and_each_gets_its_own_answer() {
        let (batcher, queue) = channel::<u32, u32>();
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&sizes);
        queue
            .start("test-batch", move |reqs| {
                // Slow enough that others queue up meanwhile.
                std::thread::sleep(std::time::Duration::from_millis(5));
                seen.lock().unwrap().push(reqs.len());
                reqs.iter().map(|r| r + 1000).collect()
            })
            .unwrap();
        let batcher = Arc::new(batcher);
        let tasks: Vec<_> = (0..32u32)
            .map(|i| {
                let batcher = Arc::clone(&batcher);
                tokio::spawn(async move { batcher.run(i).await })
            })
            .collect();
        for (i, task) in tasks.into_iter().enumerate() {
            assert_eq!(task.await.unwrap(), Some(i as u32 + 1000));
        }
        let sizes = sizes.lock().unwrap();
        assert_eq!(sizes.iter().sum::<usize>(), 32, "each request ran once");
        assert!(sizes.len() < 32, "some requests shared a batch: {sizes:?}");
    }

    #[tokio::test]
    async fn a_batch_that_answers_too_few_leaves_the_rest_with_none() {
        let (batcher, queue) = channel::<u32, u32>();
        queue.start("test-batch", |_| Vec::new()).unwrap();
        assert_eq!(batcher.run(1).await, None);
    }
}

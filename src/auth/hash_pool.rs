//! Threads of their own for scrypt, at a lower scheduling priority.
//!
//! A storm of logins keeps every hash thread busy for as long as it lasts.
//! On tokio's blocking pool those threads compete with the executor as
//! equals, so token checks, which take microseconds, wait behind hashes that
//! take a fifth of a second. Here the threads raise their own nice value
//! (Linux applies it per thread), so the scheduler gives the executor the
//! CPU first and logins take what is left: a login gets slower under a read
//! storm, a token check barely does. The pool is sized to the hash slots,
//! so a job never waits for a thread; the slots already bound the queue.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of hash threads fed from one queue. Threads exit once every
/// clone of the pool is gone.
#[derive(Clone)]
pub(super) struct HashPool {
    jobs: Sender<Job>,
}

impl HashPool {
    /// Starts `threads` threads, each `nice` steps below the process's
    /// priority (0 leaves them equal to it).
    pub(super) fn start(threads: usize, nice: u8) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads.max(1) {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("latchkey-hash-{n}"))
                .spawn(move || {
                    lower_priority(nice);
                    work(&queue);
                })?;
        }
        Ok(Self { jobs })
    }

    /// Runs `job` on a hash thread; `None` if the pool is gone or the job
    /// panicked.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                // The receiver may have been dropped (the request was
                // cancelled); the hash was still paid for, nothing to do.
                let _ = tx.send(job());
            }))
            .ok()?;
        rx.await.ok()
    }
}

fn work(queue: &Mutex<Receiver<Job>>) {
    loop {
        let job = {
            let queue = queue.lock().unwrap_or_else(PoisonError::into_inner);
            match queue.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        // A panicking job drops its sender, which its caller sees as `None`;
        // the thread itself lives on to serve the next one.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
    }
}

#[cfg(target_os = "linux")]
fn lower_priority(nice: u8) {
    if nice == 0 {
        return;
    }
    // Relative to the thread's current value, so an operator who already
    // runs latchkey under `nice` keeps the gap between hashes and checks.
    let me = Some(rustix::thread::gettid());
    let lowered = rustix::process::getpriority_process(me)
        .and_then(|now| rustix::process::setpriority_process(me, (now + i32::from(nice)).min(19)));
    if let Err(e) = lowered {
        tracing::warn!(error = %e, nice, "could not lower the hash threads' priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority(nice: u8) {
    // Elsewhere a nice value applies to the whole process, which would slow
    // token checks too; the hash threads keep the normal priority.
    let _ = nice;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_and_a_panicking_job_leaves_the_pool_working() {
        let pool = HashPool::start(1, 0).unwrap();
        assert_eq!(pool.run(|| 2 + 2).await, Some(4));
        assert_eq!(pool.run(|| -> u8 { panic!("boom") }).await, None);
        assert_eq!(pool.run(|| "still here").await, Some("still here"));
    }

    #[test]
    fn the_shipped_systemd_unit_allows_setpriority_back_after_denying_its_group() {
        // systemd kills a process with SIGSYS on a denied call, and
        // setpriority is in @resources: a unit that denies the group must
        // allow the call back after it (later lines edit earlier ones).
        let unit = include_str!("../../contrib/latchkey.service");
        let filters: Vec<&str> = unit
            .lines()
            .filter_map(|l| l.strip_prefix("SystemCallFilter="))
            .collect();
        let denied = filters
            .iter()
            .position(|f| {
                f.starts_with('~')
                    && f.split_whitespace()
                        .any(|w| w.trim_start_matches('~') == "@resources")
            })
            .expect("the unit denies @resources");
        assert!(
            filters[denied + 1..]
                .iter()
                .any(|f| !f.starts_with('~') && f.split_whitespace().any(|w| w == "setpriority")),
            "{filters:?}"
        );
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hash_threads_run_at_the_configured_nice_value() {
        let pool = HashPool::start(1, 7).unwrap();
        let base = rustix::process::getpriority_process(None).unwrap();
        let nice = pool
            .run(|| rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap())
            .await
            .unwrap();
        assert_eq!(nice, (base + 7).min(19));
    }
}

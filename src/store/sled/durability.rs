//! Group commit: many writers, one flush.
//!
//! A writer takes a ticket and waits; one flusher thread repeatedly takes the
//! highest ticket so far, flushes sled and fsyncs its log, then reports that
//! ticket done. Every writer whose ticket it covers is released by that one
//! flush, so 64 concurrent writes cost about one fsync, not 64.
//!
//! The fsync matters: on Linux sled's own flush ends in `sync_file_range`,
//! which neither flushes the drive's cache nor the file's metadata, so it does
//! not survive power loss. `File::sync_data` on the log file does.

use sled::Db;
use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use tokio::sync::watch;

/// What the flusher has finished: the highest ticket made durable, and the
/// highest ticket whose flush failed (so its waiters stop waiting), with
/// what the failure was, so a full disk still reads as a full disk.
#[derive(Debug, Clone, Copy, Default)]
struct Progress {
    flushed: u64,
    failed: u64,
    failure: Option<Failure>,
}

#[derive(Debug, Clone, Copy)]
struct Failure {
    kind: io::ErrorKind,
    os: Option<i32>,
}

impl Failure {
    fn of(e: &io::Error) -> Self {
        Self {
            kind: e.kind(),
            os: e.raw_os_error(),
        }
    }

    fn to_error(self) -> io::Error {
        match self.os {
            Some(code) => io::Error::from_raw_os_error(code),
            None => io::Error::new(self.kind, "flush failed; see the server log"),
        }
    }
}

#[derive(Default)]
struct Requests {
    issued: u64,
    stop: bool,
}

struct Shared {
    requests: Mutex<Requests>,
    wake: Condvar,
    progress: watch::Sender<Progress>,
    db: Db,
    log: File,
}

pub(super) struct GroupCommit {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl GroupCommit {
    pub(super) fn start(db: Db, dir: &Path) -> io::Result<Self> {
        // fsync on a read-only descriptor syncs the file all the same.
        let log = File::open(dir.join("db"))?;
        // The directory entry of a fresh store must be durable too.
        File::open(dir)?.sync_all()?;
        let shared = Arc::new(Shared {
            requests: Mutex::new(Requests::default()),
            wake: Condvar::new(),
            progress: watch::Sender::new(Progress::default()),
            db,
            log,
        });
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("latchkey-flush".into())
            .spawn(move || worker.run())?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Resolves once every write made before the call is durable.
    pub(super) async fn wait(&self) -> io::Result<()> {
        let ticket = {
            let mut requests = self.shared.lock();
            requests.issued += 1;
            requests.issued
        };
        self.shared.wake.notify_one();
        let mut progress = self.shared.progress.subscribe();
        let done = progress
            .wait_for(|p| p.flushed >= ticket || p.failed >= ticket)
            .await
            .map_err(|_| io::Error::other("flusher stopped"))?;
        if done.flushed >= ticket {
            Ok(())
        } else {
            Err(done
                .failure
                .map_or_else(|| io::Error::other("flush failed"), Failure::to_error))
        }
    }

    /// Flushes and fsyncs on the calling thread.
    pub(super) fn flush_now(&self) -> io::Result<()> {
        self.shared.flush()
    }
}

/// A copy of a flush failure, one per writer it failed: `io::Error` is not
/// `Clone`, and a full disk must still read as a full disk.
pub(super) fn copy_error(e: &io::Error) -> io::Error {
    Failure::of(e).to_error()
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Requests> {
        // The guarded data is two plain fields; a panic elsewhere cannot
        // leave them inconsistent, so poisoning carries no information.
        self.requests.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn flush(&self) -> io::Result<()> {
        self.db.flush().map_err(io::Error::from)?;
        self.log.sync_data()
    }

    fn run(&self) {
        let mut done = 0;
        loop {
            let target = {
                let mut requests = self.lock();
                while requests.issued == done && !requests.stop {
                    requests = self
                        .wake
                        .wait(requests)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                if requests.issued == done {
                    return;
                }
                requests.issued
            };
            let result = self.flush();
            self.progress.send_modify(|p| match &result {
                Ok(()) => p.flushed = target,
                Err(e) => {
                    p.failed = target;
                    p.failure = Some(Failure::of(e));
                }
            });
            if let Err(e) = result {
                tracing::error!(error = %e, "flush failed; writes waiting on it were refused");
            }
            done = target;
        }
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            // The thread holds a `Db` clone; joining releases sled's lock on
            // the directory before `Trees` is gone.
            let _ = thread.join();
        }
    }
}

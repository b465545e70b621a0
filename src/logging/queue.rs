//! The server's log queue: lines are appended to a bounded in-memory
//! buffer, and one writer thread writes the whole buffer out every few
//! milliseconds, in one `write` call per batch.
//!
//! Why not tracing-appender's non-blocking writer: it sends each line over
//! a channel that wakes its writer thread, so under load every line or two
//! cost a futex wake, a context switch and a `write` (strace over 49,800
//! requests: 22,945 writes, 15,489 `sched_yield`s, 9,886 futex calls), about
//! a quarter of a token check's CPU. Here a request's line costs an
//! uncontended lock and a copy; the writer is woken only when the buffer is
//! half full, and otherwise wakes on its own every `TICK`.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a line may wait for the writer: short enough that a log being
/// followed looks live, long enough that a busy server writes in batches.
const TICK: Duration = Duration::from_millis(10);
/// How long a clean stop waits for a stalled writer before giving up.
const STOP_TIMEOUT: Duration = Duration::from_secs(2);

/// Lines waiting for the writer.
#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    lines: usize,
}

struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
    max_lines: usize,
    dropped: AtomicU64,
    stopping: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A panic while holding the lock leaves at worst a torn line.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The handle log lines are written through; cheap to clone.
#[derive(Clone)]
pub struct LogQueue(Arc<Shared>);

/// Stops the writer thread when dropped, after it wrote out every queued
/// line (or `STOP_TIMEOUT` passed with the writer stalled).
pub struct Writer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Starts the writer thread over `out`; the queue holds at most
/// `max_lines` lines.
pub fn start<W: Write + Send + 'static>(
    out: W,
    max_lines: usize,
) -> std::io::Result<(LogQueue, Writer)> {
    let shared = Arc::new(Shared {
        pending: Mutex::new(Pending::default()),
        wake: Condvar::new(),
        max_lines,
        dropped: AtomicU64::new(0),
        stopping: AtomicBool::new(false),
    });
    let thread = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn({
            let shared = Arc::clone(&shared);
            move || write_out(&shared, out)
        })?;
    let writer = Writer {
        shared: Arc::clone(&shared),
        thread: Some(thread),
    };
    Ok((LogQueue(shared), writer))
}

/// The writer thread: every `TICK` (or sooner, once the buffer is half
/// full or the server stops), takes the whole buffer and writes it.
fn write_out(shared: &Shared, mut out: impl Write) {
    let mut batch = Vec::new();
    loop {
        let stopping = {
            let mut pending = shared.lock();
            if !shared.stopping.load(Ordering::Acquire) && pending.lines < shared.max_lines / 2 {
                pending = shared
                    .wake
                    .wait_timeout(pending, TICK)
                    .map_or_else(|e| e.into_inner().0, |(p, _)| p);
            }
            std::mem::swap(&mut pending.bytes, &mut batch);
            pending.lines = 0;
            shared.stopping.load(Ordering::Acquire)
        };
        if !batch.is_empty() {
            // Nowhere to report a failing log: the lines are lost either way.
            let _ = out.write_all(&batch).and_then(|()| out.flush());
            batch.clear();
        }
        if stopping && shared.lock().lines == 0 {
            return;
        }
    }
}

impl LogQueue {
    /// Lines dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.0.dropped.load(Ordering::Relaxed)
    }

    /// Queues one line: tracing-subscriber writes each event with one
    /// `write_all`, which takes one `write` here.
    fn push(&self, line: &[u8]) {
        let shared = &self.0;
        let mut pending = shared.lock();
        if pending.lines >= shared.max_lines {
            drop(pending);
            shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        pending.bytes.extend_from_slice(line);
        pending.lines += 1;
        let half_full = pending.lines == shared.max_lines / 2;
        drop(pending);
        if half_full {
            shared.wake.notify_one();
        }
    }
}

impl Write for LogQueue {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.push(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogQueue {
    type Writer = LogQueue;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::Release);
        self.shared.wake.notify_one();
        let Some(thread) = self.thread.take() else {
            return;
        };
        let deadline = Instant::now() + STOP_TIMEOUT;
        while !thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if thread.is_finished() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Write` that records everything, shared with the test.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A `Write` that blocks until released, like a pipe nobody reads.
    struct Stuck(Arc<(Mutex<bool>, Condvar)>);

    impl Write for Stuck {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let (released, cv) = &*self.0;
            let mut r = released.lock().unwrap();
            while !*r {
                r = cv.wait(r).unwrap();
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_queued_line_is_written_in_order_by_the_time_the_writer_stops() {
        let sink = Sink::default();
        let (mut queue, writer) = start(sink.clone(), 100_000).unwrap();
        for i in 0..10_000 {
            queue.write_all(format!("line {i}\n").as_bytes()).unwrap();
        }
        drop(writer);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let expected: String = (0..10_000).map(|i| format!("line {i}\n")).collect();
        assert_eq!(text, expected);
        assert_eq!(queue.dropped(), 0);
    }

    #[test]
    fn a_stuck_writer_makes_lines_drop_and_be_counted_instead_of_blocking() {
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let (mut queue, writer) = start(Stuck(Arc::clone(&gate)), 16).unwrap();
        // The first line reaches the stuck write; wait until it has.
        queue.write_all(b"first\n").unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while queue.0.lock().lines != 0 {
            assert!(Instant::now() < deadline, "the writer never took a line");
            std::thread::sleep(Duration::from_millis(1));
        }
        for i in 0..100 {
            queue.write_all(format!("line {i}\n").as_bytes()).unwrap();
        }
        assert_eq!(queue.dropped(), 100 - 16);
        let (released, cv) = &*gate;
        *released.lock().unwrap() = true;
        cv.notify_all();
        drop(writer);
    }
}

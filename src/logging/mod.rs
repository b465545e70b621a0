//! The process's log: where lines go, in which format, and what a line
//! costs the request that writes it.
//!
//! The server formats each line on the thread that logs it and appends it to
//! a bounded queue that a writer thread of its own writes out in batches
//! (`queue`), so a slow disk, a full pipe or a stalled journal never holds
//! up a request. When the queue is full a line is dropped, not waited for:
//! the drop is counted (`latchkey_log_dropped_lines_total`) and said in the
//! log once the writer has caught up. A clean stop writes out the queue
//! before the process exits.
//!
//! Admin commands write straight to stderr instead: they log little, and
//! their warnings must come out in order with what they print.

use crate::http::server::ACCESS;
mod queue;
mod settings;
mod text;

pub use settings::{Format, Settings};

use queue::LogQueue;
use std::io::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

/// The server's queue, for counting what it dropped.
static QUEUE: OnceLock<LogQueue> = OnceLock::new();
/// What the queue's count said when the log last reported it.
static REPORTED: AtomicU64 = AtomicU64::new(0);

/// How the log is set up.
#[derive(Debug, Clone, Copy)]
pub struct LogSetup<'a> {
    /// Text or JSON lines.
    pub format: Format,
    /// Whether the per-request access line is written.
    pub access: bool,
    /// The level when `RUST_LOG` is unset or unreadable.
    pub default_level: &'a str,
    /// `Some(lines)`: the server's queued writer holding at most this many
    /// lines; `None`: write to stderr directly (admin commands).
    pub queue_lines: Option<usize>,
}

/// Keeps the log's writer thread alive; dropping it writes out every queued
/// line (waiting up to two seconds for a stalled writer) before it returns.
#[must_use = "dropping the guard stops the log's writer"]
pub struct LogGuard(Option<queue::Writer>);

/// Installs the global subscriber. Call once, before anything logs.
pub fn init(setup: LogSetup<'_>) -> LogGuard {
    let mut filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(setup.default_level));
    if !setup.access {
        // More specific than any crate-wide directive, so it wins over
        // whatever RUST_LOG says about latchkey as a whole.
        if let Ok(off) = format!("{ACCESS}=off").parse() {
            filter = filter.add_directive(off);
        }
    }
    // Colours only on a terminal: journald and log files would keep the
    // escape codes as text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // Without a thread for the writer, the server logs as admin commands do.
    let queued = setup
        .queue_lines
        .and_then(|lines| queue::start(std::io::stderr(), lines).ok());
    let Some((lines, writer)) = queued else {
        install(filter, ansi, setup.format, std::io::stderr);
        return LogGuard(None);
    };
    let _ = QUEUE.set(lines.clone());
    install(filter, ansi, setup.format, lines);
    LogGuard(Some(writer))
}

/// Sets the global subscriber: `format` lines through `writer`.
fn install<W>(filter: EnvFilter, ansi: bool, format: Format, writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_timer(UtcMicros)
        .with_writer(writer);
    match format {
        // A terminal gets the default's colours; a file or the journal the
        // same line, written by hand (`text`).
        Format::Text if ansi => builder.init(),
        Format::Text => builder.event_format(text::PlainText).init(),
        Format::Json => builder.json().init(),
    }
}

/// Log lines dropped so far because the writer was behind.
pub fn dropped_lines() -> u64 {
    QUEUE.get().map_or(0, LogQueue::dropped)
}

/// Says in the log, about once a second, how many lines were dropped since
/// it last said so. A report may itself be dropped while the writer is
/// still stuck; the next one then covers both.
pub async fn report_dropped_lines() {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        report_dropped();
    }
}

/// Logs the lines dropped since the last report, if any.
fn report_dropped() {
    let now = dropped_lines();
    let before = REPORTED.swap(now, Ordering::Relaxed);
    if now > before {
        tracing::warn!(
            dropped = now - before,
            total = now,
            "the log's writer fell behind and log lines were dropped"
        );
    }
}

/// RFC 3339 UTC timestamps with microseconds, as tracing-subscriber's
/// default timer writes them, but with the date and time of day formatted
/// once per second per thread: the default works out the calendar date for
/// every line.
struct UtcMicros;

impl FormatTime for UtcMicros {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        thread_local! {
            static SECOND: std::cell::RefCell<(i64, [u8; 19])> =
                const { std::cell::RefCell::new((i64::MIN, [0; 19])) };
        }
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let second = i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX);
        let micros = since_epoch.subsec_micros();
        SECOND.with_borrow_mut(|(cached, text)| {
            if *cached != second {
                let now = time::OffsetDateTime::from_unix_timestamp(second)
                    .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
                *text = date_time(now);
                *cached = second;
            }
            let mut line = [0u8; 19 + 8];
            line[..19].copy_from_slice(text);
            line[19] = b'.';
            write_digits(&mut line[20..26], micros);
            line[26] = b'Z';
            // Only ASCII digits and punctuation were written.
            w.write_str(std::str::from_utf8(&line).map_err(|_| std::fmt::Error)?)
        })
    }
}

/// `YYYY-MM-DDTHH:MM:SS` of `t`.
fn date_time(t: time::OffsetDateTime) -> [u8; 19] {
    let mut text = *b"0000-00-00T00:00:00";
    write_digits(&mut text[0..4], t.year().clamp(0, 9999).unsigned_abs());
    write_digits(&mut text[5..7], u32::from(u8::from(t.month())));
    write_digits(&mut text[8..10], u32::from(t.day()));
    write_digits(&mut text[11..13], u32::from(t.hour()));
    write_digits(&mut text[14..16], u32::from(t.minute()));
    write_digits(&mut text[17..19], u32::from(t.second()));
    text
}

/// Writes `n`'s last `out.len()` decimal digits into `out`, zero-padded.
fn write_digits(out: &mut [u8], mut n: u32) {
    for byte in out.iter_mut().rev() {
        // `n % 10` is a single digit, so the cast cannot truncate.
        *byte = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        // The last word on drops goes in before the queue is drained.
        report_dropped();
        drop(self.0.take());
        let _ = std::io::stderr().flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_as_rfc3339_utc_with_microseconds() {
        let mut text = String::new();
        UtcMicros.format_time(&mut Writer::new(&mut text)).unwrap();
        let parsed =
            time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
                .unwrap();
        assert_eq!(text.len(), "2026-12-04T01:46:41.123456Z".len(), "{text}");
        assert!(text.ends_with('Z'), "{text}");
        let age = time::OffsetDateTime::now_utc() - parsed;
        assert!(age.whole_seconds().abs() < 5, "{text} is not now");
    }

    #[test]
    fn date_time_writes_every_field_zero_padded() {
        let date = time::Date::from_calendar_date(2026, time::Month::January, 2).unwrap();
        let t = date.with_hms_micro(3, 4, 5, 678).unwrap().assume_utc();
        assert_eq!(&date_time(t), b"2026-01-02T03:04:05");
    }
}

//! Prometheus metrics: the recorder, what latchkey counts, and the text the
//! scrape gets.
//!
//! Recording goes through the `metrics` facade, whose recorder is
//! process-global. [`install`] puts `metrics-exporter-prometheus`'s recorder
//! there once per process, when `[metrics] enabled` is on. Until then every
//! function here returns at once after one atomic load: nothing is built,
//! allocated or hashed, so a server with metrics off pays nothing on its
//! request path. Labels are `&'static str` from fixed tables, and the
//! per-request counters and histograms are looked up once per label set and
//! then kept, so a request costs a few atomic operations.
//!
//! This module is a leaf: the layers call into it, it calls none of them.

mod events;

pub use events::*;
use metrics::{Counter, Histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// Requests served, by route template, method and status.
pub const HTTP_REQUESTS: &str = "latchkey_http_requests_total";
/// Time from the request's headers to its response, by route and method.
pub const HTTP_DURATION: &str = "latchkey_http_request_duration_seconds";
/// Password checks, by outcome.
pub const LOGINS: &str = "latchkey_logins_total";
/// Tokens issued, by kind.
pub const TOKENS_ISSUED: &str = "latchkey_tokens_issued_total";
/// Tokens and sessions ended before their expiry.
pub const TOKENS_REVOKED: &str = "latchkey_tokens_revoked_total";
/// Expired tokens deleted by the sweep.
pub const TOKENS_EXPIRED: &str = "latchkey_tokens_expired_total";
/// Attempts refused by the brute-force limits, by kind.
pub const THROTTLE_REFUSALS: &str = "latchkey_throttle_refusals_total";
/// Hashing slots in the scrypt pool.
pub const HASH_POOL_SIZE: &str = "latchkey_hash_pool_size";
/// Hashing slots taken.
pub const HASH_POOL_IN_USE: &str = "latchkey_hash_pool_in_use";
/// Requests waiting for a hashing slot.
pub const HASH_POOL_QUEUED: &str = "latchkey_hash_pool_queued";
/// Bytes the store occupies on disk, read at scrape time.
pub const STORE_SIZE: &str = "latchkey_store_size_bytes";
/// Registered users, read at scrape time.
pub const USERS: &str = "latchkey_users";
/// Log lines dropped because the log's writer was behind, read at scrape time.
pub const LOG_DROPPED: &str = "latchkey_log_dropped_lines_total";

/// Latency buckets, in seconds: token checks take well under a millisecond,
/// password checks tens to hundreds of milliseconds.
const DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often histogram samples are folded into their buckets between
/// scrapes, so they do not pile up when nobody scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other",
];

/// The statuses latchkey sends, each its own label; anything else goes by
/// its class.
const STATUSES: [(u16, &str); 27] = [
    (200, "200"),
    (201, "201"),
    (202, "202"),
    (204, "204"),
    (301, "301"),
    (302, "302"),
    (304, "304"),
    (400, "400"),
    (401, "401"),
    (403, "403"),
    (404, "404"),
    (405, "405"),
    (408, "408"),
    (409, "409"),
    (413, "413"),
    (415, "415"),
    (422, "422"),
    (429, "429"),
    (500, "500"),
    (502, "502"),
    (503, "503"),
    (504, "504"),
    (100, "1xx"),
    (200, "2xx"),
    (300, "3xx"),
    (400, "4xx"),
    (500, "5xx"),
];
/// Where the class labels start in `STATUSES`.
const STATUS_CLASSES: usize = STATUSES.len() - 5;

/// The installed recorder and the per-request series, looked up once each.
struct Exporter {
    handle: PrometheusHandle,
    /// The route label of each route index, then `other`.
    routes: Box<[&'static str]>,
    /// `[route][method][status]`, flattened.
    requests: Box<[OnceLock<Counter>]>,
    /// `[route][method]`, flattened.
    durations: Box<[OnceLock<Histogram>]>,
}

static EXPORTER: OnceLock<Exporter> = OnceLock::new();
/// Serializes installs: the facade takes one recorder per process.
static INSTALLING: Mutex<()> = Mutex::new(());

/// The recorder could not be installed.
#[derive(Debug, thiserror::Error)]
#[error("cannot install the metrics recorder: {0}")]
pub struct InstallError(String);

/// Installs the Prometheus recorder for this process; later calls do
/// nothing. Servers in one process (tests) share it, so counters there
/// count every server's work.
///
/// `routes` are the route labels, by the index [`observe`] is given: the
/// router's path templates, never a raw path (ids would explode the number
/// of series, and a path is the client's text). Any other path is `other`,
/// so the label's values are bounded whatever clients send.
pub fn install(routes: &[&'static str]) -> Result<(), InstallError> {
    let _installing = INSTALLING.lock().unwrap_or_else(PoisonError::into_inner);
    if EXPORTER.get().is_some() {
        return Ok(());
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.to_owned()), DURATION_BUCKETS)
        .map_err(|e| InstallError(e.to_string()))?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|e| InstallError(e.to_string()))?;
    let upkeep = handle.clone();
    std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            }
        })
        .map_err(|e| InstallError(e.to_string()))?;
    describe();
    let routes: Box<[&'static str]> = routes.iter().copied().chain(["other"]).collect();
    let routes_by_method = routes.len() * METHODS.len();
    // Only fails if installed meanwhile, which the lock rules out.
    let _ = EXPORTER.set(Exporter {
        handle,
        routes,
        requests: slots(routes_by_method * STATUSES.len()),
        durations: slots(routes_by_method),
    });
    Ok(())
}

fn slots<T>(n: usize) -> Box<[OnceLock<T>]> {
    (0..n).map(|_| OnceLock::new()).collect()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests served, by route template, method and status."
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time from a request's headers to its response, by route template and method."
    );
    describe_counter!(
        LOGINS,
        "Password checks, by outcome: success, failure (unknown user, wrong password or disabled account), throttled, busy (hash pool full), error."
    );
    describe_counter!(
        TOKENS_ISSUED,
        "Tokens issued, by kind: opaque, jwt (a new session), refresh (a session refreshed)."
    );
    describe_counter!(
        TOKENS_REVOKED,
        "Tokens and sessions ended before their expiry: revocations, password changes, disables, account deletions, reused refresh tokens."
    );
    describe_counter!(TOKENS_EXPIRED, "Expired tokens deleted by the sweep.");
    describe_counter!(
        THROTTLE_REFUSALS,
        "Attempts refused by the brute-force limits, by kind: account (lockout), ip (password checks), registration (per IP)."
    );
    describe_gauge!(HASH_POOL_SIZE, "Hashing slots in the scrypt pool.");
    describe_gauge!(HASH_POOL_IN_USE, "Hashing slots taken.");
    describe_gauge!(HASH_POOL_QUEUED, "Requests waiting for a hashing slot.");
    describe_gauge!(
        STORE_SIZE,
        Unit::Bytes,
        "Bytes the store occupies on disk, read at scrape time."
    );
    describe_gauge!(USERS, "Registered users, read at scrape time.");
    describe_counter!(
        LOG_DROPPED,
        "Log lines dropped because the log's writer was behind (a slow disk, a full pipe)."
    );
}

/// Whether the recorder is installed.
pub fn enabled() -> bool {
    EXPORTER.get().is_some()
}

/// The Prometheus text exposition (format 0.0.4) of every metric, or `None`
/// when metrics are off.
pub fn render() -> Option<Vec<u8>> {
    let exporter = EXPORTER.get()?;
    metrics::counter!(LOG_DROPPED).absolute(crate::logging::dropped_lines());
    let mut text = Vec::with_capacity(16 * 1024);
    exporter.handle.render_to_write(&mut text).ok()?;
    Some(text)
}

/// What the request metrics need from a request, taken before it is
/// served: indexes into the label tables, so nothing is allocated.
#[derive(Debug, Clone, Copy)]
pub struct Observed {
    route: usize,
    method: usize,
}

/// Notes a request's route and method; `None` (at the cost of one atomic
/// load) when metrics are off, without calling `route`. `route` gives the
/// index of the request's label among those [`install`] was given, `None`
/// for `other`.
pub fn observe(method: &str, route: impl FnOnce() -> Option<usize>) -> Option<Observed> {
    let exporter = EXPORTER.get()?;
    let other = exporter.routes.len() - 1;
    Some(Observed {
        route: route().filter(|i| *i < other).unwrap_or(other),
        method: METHODS
            .iter()
            .position(|m| *m == method)
            .unwrap_or(METHODS.len() - 1),
    })
}

/// Counts a finished request and its latency since `started`.
pub fn record_request(observed: Option<Observed>, status: u16, started: Instant) {
    let (Some(o), Some(exporter)) = (observed, EXPORTER.get()) else {
        return;
    };
    let status = status_index(status);
    let (route, method) = (label(&exporter.routes, o.route), label(&METHODS, o.method));
    let by_method = o.route * METHODS.len() + o.method;
    if let Some(slot) = exporter.durations.get(by_method) {
        slot.get_or_init(
            || metrics::histogram!(HTTP_DURATION, "route" => route, "method" => method),
        )
        .record(started.elapsed().as_secs_f64());
    }
    if let Some(slot) = exporter.requests.get(by_method * STATUSES.len() + status) {
        let code = STATUSES.get(status).map_or("other", |(_, label)| *label);
        slot.get_or_init(|| {
            metrics::counter!(HTTP_REQUESTS, "route" => route, "method" => method, "status" => code)
        })
        .increment(1);
    }
}

fn label(table: &[&'static str], i: usize) -> &'static str {
    table.get(i).copied().unwrap_or("other")
}

fn status_index(status: u16) -> usize {
    if let Some(i) = STATUSES
        .get(..STATUS_CLASSES)
        .and_then(|exact| exact.iter().position(|(code, _)| *code == status))
    {
        return i;
    }
    let class = usize::from(status / 100).clamp(1, 5);
    STATUS_CLASSES + class - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_bounded_labels() {
        let code = |s| STATUSES[status_index(s)].1;
        assert_eq!(code(200), "200");
        assert_eq!(code(429), "429");
        assert_eq!(code(418), "4xx");
        assert_eq!(code(507), "5xx");
        assert_eq!(code(0), "1xx");
        assert_eq!(code(999), "5xx");
    }
}

//! What the use cases count: password checks, throttle refusals, tokens
//! issued, revoked and expired, and the hash pool and store gauges. Each
//! returns at once when metrics are off.

use super::{
    HASH_POOL_IN_USE, HASH_POOL_QUEUED, HASH_POOL_SIZE, LOGINS, STORE_SIZE, THROTTLE_REFUSALS,
    TOKENS_EXPIRED, TOKENS_ISSUED, TOKENS_REVOKED, USERS, enabled,
};
use metrics::Gauge;

/// How a password check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    /// The right password of an enabled account.
    Success,
    /// An unknown user, a wrong password or a disabled account: one label,
    /// as they are one answer, since `/metrics` is not authenticated.
    Failure,
    /// Refused by a lockout or the client's bucket, without hashing.
    Throttled,
    /// The hash pool stayed full past the queue timeout.
    Busy,
    /// The server's fault (the store, say).
    Error,
}

/// Counts a password check.
pub fn login(outcome: Login) {
    if !enabled() {
        return;
    }
    let outcome = match outcome {
        Login::Success => "success",
        Login::Failure => "failure",
        Login::Throttled => "throttled",
        Login::Busy => "busy",
        Login::Error => "error",
    };
    metrics::counter!(LOGINS, "outcome" => outcome).increment(1);
}

/// Which brute-force limit refused an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A locked-out login name.
    Account,
    /// The client's password-check bucket was empty.
    Ip,
    /// The client's registration bucket was empty.
    Registration,
    /// The client's code-request bucket was empty (no code was sent).
    Code,
}

/// Counts an attempt a brute-force limit refused.
pub fn throttle_refusal(kind: Refusal) {
    if !enabled() {
        return;
    }
    let kind = match kind {
        Refusal::Account => "account",
        Refusal::Ip => "ip",
        Refusal::Registration => "registration",
        Refusal::Code => "code",
    };
    metrics::counter!(THROTTLE_REFUSALS, "kind" => kind).increment(1);
}

/// What kind of token was issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Issued {
    /// An opaque bearer token.
    Opaque,
    /// A new session: a signed access token and a refresh token.
    Jwt,
    /// A session refreshed: a new access token and a new refresh token.
    Refresh,
}

/// Counts an issued token.
pub fn token_issued(kind: Issued) {
    if !enabled() {
        return;
    }
    let kind = match kind {
        Issued::Opaque => "opaque",
        Issued::Jwt => "jwt",
        Issued::Refresh => "refresh",
    };
    metrics::counter!(TOKENS_ISSUED, "kind" => kind).increment(1);
}

/// Counts `n` tokens or sessions ended before their expiry.
pub fn tokens_revoked(n: usize) {
    if n > 0 && enabled() {
        metrics::counter!(TOKENS_REVOKED).increment(n as u64);
    }
}

/// Counts `n` expired tokens the sweep deleted.
pub fn tokens_expired(n: usize) {
    if n > 0 && enabled() {
        metrics::counter!(TOKENS_EXPIRED).increment(n as u64);
    }
}

/// Sets the size of the hash pool.
pub fn hash_pool_size(slots: usize) {
    if enabled() {
        metrics::gauge!(HASH_POOL_SIZE).set(slots as f64);
    }
}

/// Raises a gauge while alive, lowers it again when dropped, however the
/// holder ends (a timeout, a cancelled request).
#[derive(Debug)]
#[must_use = "the gauge drops back when this is dropped"]
pub struct Raised(Option<Gauge>);

impl Raised {
    fn on(name: &'static str) -> Self {
        if !enabled() {
            return Self(None);
        }
        let gauge = metrics::gauge!(name);
        gauge.increment(1.0);
        Self(Some(gauge))
    }
}

impl Drop for Raised {
    fn drop(&mut self) {
        if let Some(gauge) = &self.0 {
            gauge.decrement(1.0);
        }
    }
}

/// One request waiting for a hashing slot, until dropped.
pub fn hash_queued() -> Raised {
    Raised::on(HASH_POOL_QUEUED)
}

/// One hashing slot taken, until dropped.
pub fn hash_in_use() -> Raised {
    Raised::on(HASH_POOL_IN_USE)
}

/// Sets the store gauges, read at scrape time.
pub fn store_stats(size_on_disk: u64, users: u64) {
    if enabled() {
        metrics::gauge!(STORE_SIZE).set(size_on_disk as f64);
        metrics::gauge!(USERS).set(users as f64);
    }
}

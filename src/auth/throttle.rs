//! Brute-force limits, all in memory and bounded.
//!
//! - Per account: after `account_failures` failed password checks, each
//!   further failure locks the name out for 1 s, 2 s, 4 s ... up to
//!   `account_max_lockout_seconds`. While locked out every attempt, right
//!   password or not, is refused without hashing and without counting.
//!   Names are tracked whether or not an account has them, so a lockout says
//!   nothing about existence; case variants share one entry.
//! - Per client IP: token buckets (governor) on password checks and on
//!   registrations. Token-authenticated requests never touch them.

use super::AuthError;
use crate::config::ThrottleConfig;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use lru::LruCache;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::num::NonZeroUsize;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Failures recorded against one login name.
#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    locked_until: Option<Instant>,
}

/// The brute-force state shared by every request.
pub struct Throttle {
    failures_before_lockout: u32,
    max_lockout: Duration,
    accounts: Mutex<LruCache<String, Failures>>,
    logins_by_ip: DefaultKeyedRateLimiter<IpAddr>,
    registrations_by_ip: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle").finish_non_exhaustive()
    }
}

fn quota(per_minute: u32, burst: u32) -> Quota {
    let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    Quota::per_minute(per_minute).allow_burst(burst)
}

/// Whole seconds to wait, rounded up and at least 1, for `Retry-After`.
fn retry_after(wait: Duration) -> u32 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    u32::try_from(secs.max(1)).unwrap_or(u32::MAX)
}

impl Throttle {
    /// Builds the limits from `[throttle]`.
    pub fn new(config: &ThrottleConfig) -> Self {
        let capacity = NonZeroUsize::new(config.max_tracked).unwrap_or(NonZeroUsize::MIN);
        Self {
            failures_before_lockout: config.account_failures.max(1),
            max_lockout: Duration::from_secs(config.account_max_lockout_seconds),
            accounts: Mutex::new(LruCache::new(capacity)),
            logins_by_ip: DefaultKeyedRateLimiter::keyed(quota(
                config.ip_per_minute,
                config.ip_burst,
            )),
            registrations_by_ip: DefaultKeyedRateLimiter::keyed(quota(
                config.register_per_minute,
                config.register_burst,
            )),
            clock: DefaultClock::default(),
        }
    }

    fn accounts(&self) -> std::sync::MutexGuard<'_, LruCache<String, Failures>> {
        // Entries are plain counters; a panic mid-update cannot leave them
        // meaningfully inconsistent.
        self.accounts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes one password check from the client's bucket.
    pub fn password_check_by_ip(&self, ip: Option<IpAddr>) -> Result<(), AuthError> {
        Self::take(&self.logins_by_ip, &self.clock, ip)
    }

    /// Takes one registration from the client's bucket.
    pub fn registration_by_ip(&self, ip: Option<IpAddr>) -> Result<(), AuthError> {
        Self::take(&self.registrations_by_ip, &self.clock, ip)
    }

    fn take(
        limiter: &DefaultKeyedRateLimiter<IpAddr>,
        clock: &DefaultClock,
        ip: Option<IpAddr>,
    ) -> Result<(), AuthError> {
        // No peer address means an in-process caller, not a network client.
        let Some(ip) = ip else { return Ok(()) };
        limiter
            .check_key(&ip)
            .map_err(|not_until| AuthError::RateLimited {
                retry_after: retry_after(not_until.wait_time_from(clock.now())),
            })
    }

    /// Refuses while `name` is locked out. Call before hashing.
    pub fn account_open(&self, name: &str) -> Result<(), AuthError> {
        let now = Instant::now();
        match self.accounts().peek(name).and_then(|f| f.locked_until) {
            Some(until) if until > now => Err(AuthError::RateLimited {
                retry_after: retry_after(until - now),
            }),
            _ => Ok(()),
        }
    }

    /// Counts a failed check; from the threshold on, locks the name out for
    /// twice as long as last time, up to the maximum.
    pub fn failed(&self, name: &str) {
        let mut accounts = self.accounts();
        let entry = accounts.get_or_insert_mut(name.to_owned(), || Failures {
            count: 0,
            locked_until: None,
        });
        entry.count = entry.count.saturating_add(1);
        if let Some(over) = entry.count.checked_sub(self.failures_before_lockout) {
            let lockout = Duration::from_secs(1u64 << over.min(32)).min(self.max_lockout);
            entry.locked_until = Some(Instant::now() + lockout);
        }
    }

    /// A right password clears the name's record.
    pub fn succeeded(&self, name: &str) {
        self.accounts().pop(name);
    }

    /// Drops idle per-IP state; the account table is bounded by its LRU.
    pub fn shrink(&self) {
        self.logins_by_ip.retain_recent();
        self.registrations_by_ip.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ThrottleConfig {
        ThrottleConfig {
            account_failures: 3,
            max_tracked: 2,
            ..ThrottleConfig::default()
        }
    }

    #[test]
    fn lockout_starts_at_the_threshold_and_doubles() {
        let t = Throttle::new(&config());
        t.failed("bob");
        t.failed("bob");
        assert!(t.account_open("bob").is_ok());
        t.failed("bob");
        let Err(AuthError::RateLimited { retry_after }) = t.account_open("bob") else {
            panic!("third failure should lock out");
        };
        assert_eq!(retry_after, 1);
        t.failed("bob");
        let Err(AuthError::RateLimited { retry_after }) = t.account_open("bob") else {
            panic!("still locked");
        };
        assert_eq!(retry_after, 2);
        t.succeeded("bob");
        assert!(t.account_open("bob").is_ok());
    }

    #[test]
    fn tracked_names_are_bounded_oldest_first() {
        let t = Throttle::new(&config());
        for name in ["a", "b", "c"] {
            for _ in 0..3 {
                t.failed(name);
            }
        }
        // "a" was evicted to make room for "c".
        assert!(t.account_open("a").is_ok());
        assert!(t.account_open("c").is_err());
    }

    #[test]
    fn ip_bucket_allows_the_burst_then_refuses() {
        let t = Throttle::new(&ThrottleConfig {
            ip_burst: 2,
            ip_per_minute: 1,
            ..ThrottleConfig::default()
        });
        let ip = Some(IpAddr::from([192, 0, 2, 1]));
        assert!(t.password_check_by_ip(ip).is_ok());
        assert!(t.password_check_by_ip(ip).is_ok());
        assert!(matches!(
            t.password_check_by_ip(ip),
            Err(AuthError::RateLimited { .. })
        ));
        assert!(
            t.password_check_by_ip(Some(IpAddr::from([192, 0, 2, 2])))
                .is_ok()
        );
    }
}

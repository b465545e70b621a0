//! Brute-force limits, all in memory and bounded.
//!
//! - Per account: after `account_failures` failed password checks, each
//!   further failure locks the account out for 1 s, 2 s, 4 s ... up to
//!   `account_max_lockout_seconds`. While locked out every attempt, right
//!   password or not, is refused without hashing and without counting.
//!   A known account is tracked by its id, so its name, its email and their
//!   case variants share one entry; an identifier no account has is tracked
//!   by its login key, so it locks out exactly like a real one.
//! - Per client IP: token buckets (governor) on password checks, on
//!   registrations and on code requests. Token-authenticated requests never
//!   touch the first.
//!
//! How often one account is sent a code is `code_limit`'s.

use super::AuthError;
use crate::auth::settings;
use crate::metrics::Refusal;
use crate::model::UserId;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use lru::LruCache;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::num::NonZeroUsize;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Whose failures an entry counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    /// An existing account, however the login named it.
    Account(UserId),
    /// An identifier no account has, by its login key.
    Unknown(String),
}

/// Failures recorded against one subject.
#[derive(Debug, Clone, Copy, Default)]
struct Failures {
    count: u32,
    locked_until: Option<Instant>,
    /// Checks admitted and not yet decided. Counted against the threshold,
    /// or concurrent guesses would all pass the gate before the first failed.
    in_flight: u32,
}

/// An admitted password check. Report its outcome with [`Attempt::failed`]
/// or [`Attempt::succeeded`]; dropped undecided (an error, a cancelled
/// request), it frees its place without counting.
#[must_use]
pub struct Attempt<'a> {
    throttle: &'a Throttle,
    subject: Subject,
    decided: bool,
}

impl Attempt<'_> {
    /// Counts a failed check; from the threshold on, locks the name out for
    /// twice as long as last time, up to the maximum.
    pub fn failed(mut self) {
        self.decided = true;
        let t = self.throttle;
        let mut accounts = t.accounts();
        let entry = accounts.get_or_insert_mut(self.subject.clone(), Failures::default);
        entry.in_flight = entry.in_flight.saturating_sub(1);
        entry.count = entry.count.saturating_add(1);
        if let Some(over) = entry.count.checked_sub(t.failures_before_lockout) {
            let lockout = Duration::from_secs(1u64 << over.min(32)).min(t.max_lockout);
            entry.locked_until = Some(Instant::now() + lockout);
        }
    }

    /// A right password clears the name's record.
    pub fn succeeded(mut self) {
        self.decided = true;
        self.throttle.accounts().pop(&self.subject);
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.decided
            && let Some(entry) = self.throttle.accounts().peek_mut(&self.subject)
        {
            entry.in_flight = entry.in_flight.saturating_sub(1);
        }
    }
}

/// The brute-force state shared by every request.
pub struct Throttle {
    failures_before_lockout: u32,
    max_lockout: Duration,
    accounts: Mutex<LruCache<Subject, Failures>>,
    logins_by_ip: DefaultKeyedRateLimiter<IpAddr>,
    registrations_by_ip: DefaultKeyedRateLimiter<IpAddr>,
    codes_by_ip: DefaultKeyedRateLimiter<IpAddr>,
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

/// The bucket a client address counts against: an IPv4 address alone, an
/// IPv6 address by its /64. One IPv6 host is usually given a whole /64 and
/// may pick any address in it, so per-address buckets would be no limit.
/// An IPv4-mapped address is the IPv4 address it maps.
fn bucket_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from_bits(
                v6.to_bits() & !u128::from(u64::MAX),
            )),
        },
    }
}

/// Whole seconds to wait, rounded up and at least 1, for `Retry-After`.
fn retry_after(wait: Duration) -> u32 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    u32::try_from(secs.max(1)).unwrap_or(u32::MAX)
}

impl Throttle {
    /// Builds the limits from `[throttle]`.
    pub fn new(config: &settings::Throttle) -> Self {
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
            codes_by_ip: DefaultKeyedRateLimiter::keyed(quota(
                config.code_per_minute,
                config.code_burst,
            )),
            clock: DefaultClock::default(),
        }
    }

    fn accounts(&self) -> std::sync::MutexGuard<'_, LruCache<Subject, Failures>> {
        // Entries are plain counters; a panic mid-update cannot leave them
        // meaningfully inconsistent.
        self.accounts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes one password check from the client's bucket.
    pub fn password_check_by_ip(&self, ip: Option<IpAddr>) -> Result<(), AuthError> {
        Self::take(&self.logins_by_ip, &self.clock, ip, Refusal::Ip)
    }

    /// Takes one registration from the client's bucket.
    pub fn registration_by_ip(&self, ip: Option<IpAddr>) -> Result<(), AuthError> {
        Self::take(
            &self.registrations_by_ip,
            &self.clock,
            ip,
            Refusal::Registration,
        )
    }

    /// Takes one code request (a password reset, a new confirmation code)
    /// from the client's bucket.
    pub fn code_request_by_ip(&self, ip: Option<IpAddr>) -> Result<(), AuthError> {
        Self::take(&self.codes_by_ip, &self.clock, ip, Refusal::Code)
    }

    fn take(
        limiter: &DefaultKeyedRateLimiter<IpAddr>,
        clock: &DefaultClock,
        ip: Option<IpAddr>,
        kind: Refusal,
    ) -> Result<(), AuthError> {
        // No peer address means an in-process caller, not a network client.
        let Some(ip) = ip else { return Ok(()) };
        limiter.check_key(&bucket_of(ip)).map_err(|not_until| {
            crate::metrics::throttle_refusal(kind);
            AuthError::RateLimited {
                retry_after: retry_after(not_until.wait_time_from(clock.now())),
            }
        })
    }

    /// Admits one password check on `subject`, or refuses while it is
    /// locked out, or while the checks already running could take it to the
    /// threshold (after a lockout, one check at a time). Call before hashing.
    pub fn admit(&self, subject: Subject) -> Result<Attempt<'_>, AuthError> {
        let now = Instant::now();
        let mut accounts = self.accounts();
        let entry = accounts.get_or_insert_mut(subject.clone(), Failures::default);
        if let Some(until) = entry.locked_until.filter(|until| *until > now) {
            crate::metrics::throttle_refusal(Refusal::Account);
            return Err(AuthError::RateLimited {
                retry_after: retry_after(until - now),
            });
        }
        let room = self
            .failures_before_lockout
            .saturating_sub(entry.count)
            .max(1);
        if entry.in_flight >= room {
            crate::metrics::throttle_refusal(Refusal::Account);
            return Err(AuthError::RateLimited { retry_after: 1 });
        }
        entry.in_flight += 1;
        Ok(Attempt {
            throttle: self,
            subject,
            decided: false,
        })
    }

    /// Drops idle per-IP state; the account table is bounded by its LRU.
    pub fn shrink(&self) {
        self.logins_by_ip.retain_recent();
        self.registrations_by_ip.retain_recent();
        self.codes_by_ip.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> settings::Throttle {
        settings::Throttle {
            account_failures: 3,
            max_tracked: 2,
            ..settings::Throttle::default()
        }
    }

    fn name(name: &str) -> Subject {
        Subject::Unknown(name.to_owned())
    }

    fn retry_after_of(t: &Throttle, name: &str) -> Option<u32> {
        match t.admit(self::name(name)) {
            Ok(_) => None,
            Err(AuthError::RateLimited { retry_after }) => Some(retry_after),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn lockout_starts_at_the_threshold_and_doubles() {
        let t = Throttle::new(&config());
        t.admit(name("bob")).unwrap().failed();
        t.admit(name("bob")).unwrap().failed();
        t.admit(name("bob")).unwrap().failed();
        assert_eq!(
            retry_after_of(&t, "bob"),
            Some(1),
            "third failure locks out"
        );
        t.accounts().peek_mut(&name("bob")).unwrap().locked_until = None;
        t.admit(name("bob")).unwrap().failed();
        assert_eq!(retry_after_of(&t, "bob"), Some(2));
        t.accounts().peek_mut(&name("bob")).unwrap().locked_until = None;
        t.admit(name("bob")).unwrap().succeeded();
        assert_eq!(retry_after_of(&t, "bob"), None);
    }

    #[test]
    fn checks_in_flight_count_against_the_threshold() {
        let t = Throttle::new(&config());
        let running: Vec<_> = (0..3).map(|_| t.admit(name("bob")).unwrap()).collect();
        assert_eq!(retry_after_of(&t, "bob"), Some(1));
        drop(running);
        // Undecided attempts free their place without counting.
        assert_eq!(retry_after_of(&t, "bob"), None);
    }

    #[test]
    fn tracked_names_are_bounded_oldest_first() {
        let t = Throttle::new(&config());
        for name in ["a", "b", "c"] {
            for _ in 0..3 {
                t.admit(self::name(name)).unwrap().failed();
            }
        }
        // "a" was evicted to make room for "c".
        assert_eq!(retry_after_of(&t, "a"), None);
        assert!(retry_after_of(&t, "c").is_some());
    }

    #[test]
    fn ipv6_clients_share_a_bucket_per_64_and_ipv4_clients_get_one_each() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            bucket_of(ip("2001:db8:1:2:aaaa::1")),
            bucket_of(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"))
        );
        assert_ne!(
            bucket_of(ip("2001:db8:1:2::1")),
            bucket_of(ip("2001:db8:1:3::1"))
        );
        assert_ne!(bucket_of(ip("192.0.2.1")), bucket_of(ip("192.0.2.2")));
        assert_eq!(bucket_of(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
    }

    #[test]
    fn ip_bucket_allows_the_burst_then_refuses() {
        let t = Throttle::new(&settings::Throttle {
            ip_burst: 2,
            ip_per_minute: 1,
            ..settings::Throttle::default()
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

//! Brute force: the per-account lockout, the per-IP password and
//! registration buckets, and when `X-Forwarded-For` is believed.

use crate::support::{
    INVALID_CREDENTIALS, PASSWORD, RATE_LIMITED, Resp, TestServer, password_checks_per_ip,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WRONG: &str = "not the password";

/// POST /api/tokens with Basic `user:pass`: one password check.
async fn login(app: &TestServer, user: &str, pass: &str) -> Resp {
    app.try_issue_token(user, pass).await
}

/// As [`login`], as the client a trusted proxy says `client` is.
async fn login_from(app: &TestServer, client: &str, user: &str, pass: &str) -> Resp {
    app.post("/api/tokens")
        .basic(user, pass)
        .header("x-forwarded-for", client)
        .send()
        .await
}

/// Asserts a wrong password for `user` is refused as such (401), not yet
/// rate limited.
async fn assert_wrong_password_refused(app: &TestServer, user: &str) {
    let response = login(app, user, WRONG).await;
    response.refused(INVALID_CREDENTIALS);
}

/// As [`assert_wrong_password_refused`], from `client` as [`login_from`] says.
async fn assert_wrong_password_refused_from(app: &TestServer, client: &str, user: &str) {
    let response = login_from(app, client, user, WRONG).await;
    response.refused(INVALID_CREDENTIALS);
}

/// Two password checks per client, where a trusted proxy (the test client
/// itself) names the client.
fn two_password_checks_per_forwarded_client(cfg: &mut latchkey::config::Config) {
    cfg.throttle.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    password_checks_per_ip(2, 1)(cfg);
}

/// Two registrations per client address, then one a minute.
fn two_registrations_per_ip(cfg: &mut latchkey::config::Config) {
    cfg.throttle.register_burst = 2;
    cfg.throttle.register_per_minute = 1;
}

/// Asserts a 429 `rate_limited` and returns its `Retry-After` in seconds.
#[track_caller]
fn assert_rate_limited(response: Resp) -> u64 {
    let retry_after = response
        .header("retry-after")
        .unwrap_or_else(|| panic!("429 without Retry-After: {:?}", response.headers))
        .parse::<u64>()
        .unwrap_or_else(|e| panic!("Retry-After is not whole seconds: {e}"));
    assert!(retry_after >= 1, "Retry-After {retry_after}");
    response.refused(RATE_LIMITED);
    retry_after
}

/// Sleeps past a `Retry-After` of `seconds`.
async fn wait_out(seconds: u64) {
    tokio::time::sleep(Duration::from_secs(seconds) + Duration::from_millis(100)).await;
}

#[tokio::test]
async fn five_wrong_passwords_lock_the_account_even_against_the_right_password() {
    let (app, token) = TestServer::with_token("alice").await;
    app.register("bob", PASSWORD).await;
    for _ in 0..5 {
        assert_wrong_password_refused(&app, "alice").await;
    }
    let retry_after = assert_rate_limited(login(&app, "alice", PASSWORD).await);
    assert_eq!(retry_after, 1);
    // Every route that checks a password shares the lockout.
    assert_rate_limited(app.get("/api/resource").password("alice").send().await);
    // A token alice already holds is not a password check: the attacker
    // cannot lock her out of the sessions she has.
    app.me(&token).await;
    // Other accounts are untouched.
    app.get("/api/resource").password("bob").expect(200).await;
    assert_wrong_password_refused(&app, "bob").await;
}

#[tokio::test]
async fn lockouts_double_and_the_right_password_afterwards_resets_the_count() {
    let app = TestServer::spawn().await;
    app.register("alice", PASSWORD).await;
    for _ in 0..5 {
        assert_wrong_password_refused(&app, "alice").await;
    }
    let first = assert_rate_limited(login(&app, "alice", WRONG).await);
    assert_eq!(first, 1);
    wait_out(first).await;
    // Out of the lockout, a wrong password is checked again (401) and
    // earns a lockout twice as long.
    assert_wrong_password_refused(&app, "alice").await;
    let second = assert_rate_limited(login(&app, "alice", PASSWORD).await);
    assert_eq!(second, 2);
    wait_out(second).await;
    app.issue_token("alice", PASSWORD).await;
    // The success cleared the record: five more failures before a lockout.
    for _ in 0..5 {
        assert_wrong_password_refused(&app, "alice").await;
    }
    assert_eq!(assert_rate_limited(login(&app, "alice", PASSWORD).await), 1);
}

#[tokio::test]
async fn an_unknown_username_is_locked_out_exactly_like_a_real_one() {
    let app = TestServer::spawn().await;
    app.register("alice", PASSWORD).await;
    for attempt in 1..=5 {
        let real = login(&app, "alice", WRONG).await;
        let ghost = login(&app, "ghost", WRONG).await;
        assert_eq!(real.fingerprint(), ghost.fingerprint(), "attempt {attempt}");
        real.refused(INVALID_CREDENTIALS);
    }
    let real = login(&app, "alice", PASSWORD).await;
    let ghost = login(&app, "ghost", PASSWORD).await;
    assert_eq!(real.fingerprint(), ghost.fingerprint());
    assert_rate_limited(real);
}

#[tokio::test]
async fn case_variants_of_a_name_share_one_failure_count() {
    let app = TestServer::spawn().await;
    app.register("alice", PASSWORD).await;
    for name in ["alice", "Alice", "ALICE", "aLiCe", "alicE"] {
        assert_wrong_password_refused(&app, name).await;
    }
    for name in ["alice", "Alice", "ALICE"] {
        assert_rate_limited(login(&app, name, PASSWORD).await);
    }
}

#[tokio::test]
async fn a_locked_account_cannot_be_reached_through_its_email() {
    let app = TestServer::spawn().await;
    app.register_with_email("lockme", PASSWORD, "lockme@ex.com")
        .await;
    for _ in 0..5 {
        assert_wrong_password_refused(&app, "lockme").await;
    }
    assert_rate_limited(login(&app, "lockme", PASSWORD).await);
    assert_rate_limited(login(&app, "lockme@ex.com", PASSWORD).await);
    assert_rate_limited(login(&app, "LOCKME@EX.COM", PASSWORD).await);
}

#[tokio::test]
async fn failures_by_name_and_by_email_add_up_to_one_lockout() {
    let app = TestServer::spawn().await;
    app.register_with_email("lockme", PASSWORD, "lockme@ex.com")
        .await;
    for login_as in [
        "lockme",
        "lockme@ex.com",
        "lockme",
        "Lockme@ex.com",
        "LOCKME",
    ] {
        assert_wrong_password_refused(&app, login_as).await;
    }
    assert_rate_limited(login(&app, "lockme", PASSWORD).await);
}

/// A server with alice registered, trusting X-Forwarded-For from loopback
/// so each guesser can claim its own address. The per-IP buckets are not
/// what should stop the guessing, so they are out of reach.
async fn guessed_at() -> Arc<TestServer> {
    let app = TestServer::spawn_with(|cfg| {
        cfg.throttle.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        cfg.throttle.ip_burst = 10_000;
        cfg.throttle.ip_per_minute = 10_000;
    })
    .await;
    app.register("alice", PASSWORD).await;
    Arc::new(app)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_guesses_from_five_addresses_cost_only_a_handful_of_hashes() {
    const CLIENTS: u64 = 5;
    const GUESSES_EACH: u64 = 40;
    const ACCOUNT_FAILURES: usize = 5;
    let app = guessed_at().await;
    // Each client guesses every 60 ms, the five a step apart: one guess
    // about every 12 ms, 2.4 s in all, so several lockouts run out mid-way.
    let pace = Duration::from_millis(60);
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let app = Arc::clone(&app);
            tokio::spawn(async move {
                tokio::time::sleep(pace * u32::try_from(client).unwrap() / 5).await;
                let from = format!("203.0.113.{}", client + 1);
                let mut ticks = tokio::time::interval(pace);
                let mut statuses = Vec::new();
                for guess in 0..GUESSES_EACH {
                    ticks.tick().await;
                    let password = format!("guess {client}-{guess}");
                    let response = login_from(&app, &from, "alice", &password).await;
                    statuses.push(response.status.as_u16());
                }
                statuses
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for client in clients {
        statuses.extend(client.await.unwrap());
    }
    let elapsed = started.elapsed();
    // A 401 means a hash ran; a 429 means it was refused before hashing.
    let hashed = statuses.iter().filter(|&&s| s == 401).count();
    let refused = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!(hashed + refused, statuses.len(), "{statuses:?}");
    assert_eq!(statuses.len(), 200);
    // The first five are checked; after that one per lockout, and lockouts
    // double: about log2(duration) more.
    let doublings = elapsed.as_secs_f64().max(1.0).log2().ceil();
    let bound = ACCOUNT_FAILURES + doublings as usize + 1;
    eprintln!("hammer: {hashed} hashed, {refused} refused in {elapsed:.2?}; bound {bound}");
    assert!(
        (ACCOUNT_FAILURES..=bound).contains(&hashed),
        "{hashed} password checks ran in {elapsed:?}; expected {ACCOUNT_FAILURES} to {bound}"
    );
    // A wrong guess now is either refused or (had a lockout just run out)
    // starts a new one; either way the right password is refused next.
    let poke = login_from(&app, "203.0.113.99", "alice", WRONG).await;
    assert!(matches!(poke.status.as_u16(), 401 | 429), "{poke:?}");
    let retry_after =
        assert_rate_limited(login_from(&app, "203.0.113.99", "alice", PASSWORD).await);
    wait_out(retry_after).await;
    app.issue_token("alice", PASSWORD).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_guesses_cannot_slip_past_the_lockout() {
    const GUESSES: u64 = 40;
    let app = guessed_at().await;
    // Every guess on its own connection and address, all let go at once:
    // the lockout must hold however many are in flight, or an attacker
    // gets as many guesses per lockout as they open connections.
    let barrier = Arc::new(tokio::sync::Barrier::new(usize::try_from(GUESSES).unwrap()));
    let guesses: Vec<_> = (0..GUESSES)
        .map(|guess| {
            let app = Arc::clone(&app);
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                let from = format!("198.51.100.{}", guess + 1);
                let password = format!("guess {guess}");
                barrier.wait().await;
                login_from(&app, &from, "alice", &password)
                    .await
                    .status
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for guess in guesses {
        statuses.push(guess.await.unwrap());
    }
    let hashed = statuses.iter().filter(|&&s| s == 401).count();
    let refused = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!(hashed + refused, statuses.len(), "{statuses:?}");
    assert!(
        hashed <= 5,
        "{hashed} of {GUESSES} simultaneous guesses were checked; at most 5 should be"
    );
}

#[tokio::test]
async fn a_client_ip_gets_its_burst_of_password_checks_but_tokens_are_never_throttled() {
    let app = TestServer::spawn_with(password_checks_per_ip(3, 1)).await;
    // Registering is not a password check; issuing the token is the first.
    let token = app.register_and_issue_token("alice").await;
    for name in ["bob", "carol"] {
        assert_wrong_password_refused(&app, name).await;
    }
    // The fourth check from this address is refused, whatever the name.
    let retry_after = assert_rate_limited(login(&app, "dave", WRONG).await);
    assert!(retry_after <= 60, "Retry-After {retry_after}");
    assert_rate_limited(login(&app, "alice", PASSWORD).await);
    for _ in 0..10 {
        app.me(&token).await;
    }
    app.get_as("/api/tokens", &token).expect(200).await;
}

#[tokio::test]
async fn a_client_ip_gets_its_burst_of_registrations_then_429() {
    let app = TestServer::spawn_with(two_registrations_per_ip).await;
    app.register("alice", PASSWORD).await;
    app.register("bob", PASSWORD).await;
    let refused = app
        .post("/api/users")
        .json(&serde_json::json!({ "username": "carol", "password": PASSWORD }))
        .send()
        .await;
    assert_rate_limited(refused);
    // Nothing was created for the refused one.
    login(&app, "carol", PASSWORD)
        .await
        .refused(INVALID_CREDENTIALS);
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_does_not_escape_the_bucket() {
    let app = TestServer::spawn_with(password_checks_per_ip(2, 1)).await;
    for (client, name) in [("203.0.113.1", "bob"), ("203.0.113.2", "carol")] {
        assert_wrong_password_refused_from(&app, client, name).await;
    }
    assert_rate_limited(login_from(&app, "203.0.113.3", "dave", WRONG).await);
    assert_rate_limited(login(&app, "erin", WRONG).await);
}

#[tokio::test]
async fn forwarded_for_from_a_trusted_proxy_gives_each_client_its_own_bucket() {
    let app = TestServer::spawn_with(two_password_checks_per_forwarded_client).await;
    for client in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        for n in 0..2 {
            assert_wrong_password_refused_from(&app, client, &format!("user{n}-{client}")).await;
        }
        assert_rate_limited(login_from(&app, client, &format!("last-{client}"), WRONG).await);
    }
    // The client is the right-most address the proxy did not write itself;
    // what a client prepends is anyone's guess and changes nothing.
    let spoofed = "198.51.100.7, 203.0.113.1";
    assert_rate_limited(login_from(&app, spoofed, "frank", WRONG).await);
    // Without the header, the proxy is the client, with a bucket of its own.
    assert_wrong_password_refused(&app, "grace").await;
}

#[tokio::test]
async fn two_ipv6_clients_in_one_64_share_a_bucket_behind_a_trusted_proxy() {
    let app = TestServer::spawn_with(two_password_checks_per_forwarded_client).await;
    for (client, name) in [("2001:db8:1:2::1", "bob"), ("2001:db8:1:2::2", "carol")] {
        assert_wrong_password_refused_from(&app, client, name).await;
    }
    // Any other address of that /64 is the same host as far as limits go.
    assert_rate_limited(login_from(&app, "2001:db8:1:2:ffff::9", "dave", WRONG).await);
    // The next /64 is someone else.
    assert_wrong_password_refused_from(&app, "2001:db8:1:3::1", "erin").await;
}

//! Account enumeration: an unknown user, a wrong password and a disabled
//! account must fail alike, in what the response says and in how long it
//! takes to say it.

use crate::support::{ADMIN, INVALID_CREDENTIALS, PASSWORD, Resp, TestServer, path_of};
use serde_json::json;
use std::time::Instant;

const WRONG: &str = "not the password";

/// A server with the admin, `bob` (enabled) and `alice` (disabled by the
/// admin), adjusted by `adjust` first.
async fn with_a_disabled_account(adjust: impl FnOnce(&mut latchkey::config::Config)) -> TestServer {
    let app = TestServer::spawn_with_admin(adjust).await;
    let admin = app.admin_token().await;
    let alice = app.register("alice", PASSWORD).await;
    app.register("bob", PASSWORD).await;
    app.patch_as(&path_of(&alice), &admin)
        .json(&json!({ "disabled": true }))
        .expect(200)
        .await;
    app
}

/// The failing logins that must be indistinguishable, as (what, user, password).
const FAILURES: [(&str, &str, &str); 4] = [
    ("unknown user", "nobody", WRONG),
    ("wrong password", "bob", WRONG),
    ("disabled, right password", "alice", PASSWORD),
    ("disabled, wrong password", "alice", WRONG),
];

#[tokio::test]
async fn unknown_user_wrong_password_and_disabled_account_get_identical_responses() {
    let app = with_a_disabled_account(|cfg| {
        // Sixteen failures per name here; the lockout is tested elsewhere.
        cfg.throttle.account_failures = 100;
        cfg.throttle.ip_burst = 1000;
    })
    .await;
    for (method, path) in [
        (reqwest::Method::POST, "/api/tokens"),
        (reqwest::Method::GET, "/api/resource"),
        (reqwest::Method::GET, "/api/me"),
    ] {
        let responses: Vec<Resp> = {
            let mut out = Vec::new();
            for (_, user, password) in FAILURES {
                out.push(
                    app.request(method.clone(), path)
                        .basic(user, password)
                        .send()
                        .await,
                );
            }
            out
        };
        for ((what, _, _), response) in FAILURES.iter().zip(&responses).skip(1) {
            assert_eq!(
                response.fingerprint(),
                responses[0].fingerprint(),
                "{method} {path}: {what} differs from an unknown user"
            );
        }
        responses
            .into_iter()
            .next()
            .unwrap()
            .refused(INVALID_CREDENTIALS);
    }
    let mut bodies = Vec::new();
    for (_, user, password) in FAILURES {
        let response = app
            .post("/api/tokens")
            .json(&json!({ "username": user, "password": password }))
            .send()
            .await;
        bodies.push(response.fingerprint());
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
    // The admin is still fine: none of this touched it.
    app.issue_token(ADMIN, PASSWORD).await;
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

#[tokio::test]
async fn unknown_user_wrong_password_and_disabled_account_take_the_same_time() {
    const ROUNDS: usize = 100;
    const WARM_UP: usize = 5;
    let app = with_a_disabled_account(|cfg| {
        // Dear enough that the hash, not HTTP, dominates each request: in a
        // debug build ln=8 is ~30 ms a hash against ~1 ms of HTTP (ln=10
        // would be ~150 ms a hash, 50 s for this test).
        cfg.password.scrypt_log_n = 8;
        // Nothing may be refused before hashing: that would be fast.
        cfg.throttle.account_failures = u32::MAX;
        cfg.throttle.ip_burst = 100_000;
        cfg.throttle.ip_per_minute = 100_000;
    })
    .await;
    let kinds = &FAILURES[..3];
    // Seconds each kind took, one row per round.
    let mut rounds: Vec<Vec<f64>> = Vec::with_capacity(ROUNDS);
    for round in 0..WARM_UP + ROUNDS {
        let mut took = vec![0.0; kinds.len()];
        // Interleaved, and each kind first in turn, so drift on a shared
        // machine lands on every kind alike.
        for step in 0..kinds.len() {
            let kind = (round + step) % kinds.len();
            let (what, user, password) = kinds[kind];
            let started = Instant::now();
            let response = app.try_issue_token(user, password).await;
            took[kind] = started.elapsed().as_secs_f64();
            assert_eq!(response.status.as_u16(), 401, "{what}: {}", response.text());
        }
        // The first rounds warm the connection pool and caches.
        if round >= WARM_UP {
            rounds.push(took);
        }
    }
    let medians: Vec<f64> = (0..kinds.len())
        .map(|k| median(rounds.iter().map(|r| r[k]).collect()))
        .collect();
    let report: Vec<String> = kinds
        .iter()
        .zip(&medians)
        .map(|((what, _, _), m)| format!("{what}: {:.2} ms", m * 1000.0))
        .collect();
    eprintln!("login medians over {ROUNDS} rounds: {}", report.join(", "));
    let slowest = medians.iter().copied().fold(f64::MIN, f64::max);
    let fastest = medians.iter().copied().fold(f64::MAX, f64::min);
    assert!(
        slowest <= fastest * 1.15,
        "medians differ by more than 15%: {}",
        report.join(", ")
    );
}

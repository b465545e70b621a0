//! Password reset: `POST /api/password-reset` sends a single-use code by
//! webhook without saying whether the account exists, and
//! `POST /api/password-reset/confirm` trades it for a new password.

use crate::support::{
    INVALID_CODE, INVALID_CREDENTIALS, INVALID_REQUEST, PASSWORD, Resp, TestServer, Webhook,
    assert_rfc3339_utc, id_of,
};
use latchkey::config::Config;
use serde_json::json;
use std::time::Duration;

/// The password the tests reset to.
const NEW_PASSWORD: &str = "a fresh start at last";

/// A server that delivers codes to `hook`.
async fn delivering(hook: &Webhook, adjust: impl FnOnce(&mut Config)) -> TestServer {
    TestServer::spawn_with(|cfg| {
        hook.configure(cfg);
        adjust(cfg);
    })
    .await
}

/// Asks for a reset of `username_or_email`.
async fn request_reset(app: &TestServer, username_or_email: &str) -> Resp {
    app.post("/api/password-reset")
        .json(&json!({ "username_or_email": username_or_email }))
        .send()
        .await
}

/// Asks for a reset of `username_or_email` and returns the code delivered.
async fn reset_code(app: &TestServer, hook: &mut Webhook, username_or_email: &str) -> String {
    request_reset(app, username_or_email)
        .await
        .assert_status(202);
    hook.next_code("password_reset").await
}

/// Redeems `code` for `password`, with no credentials.
async fn reset(app: &TestServer, code: &str, password: &str) -> Resp {
    app.post("/api/password-reset/confirm")
        .json(&json!({ "code": code, "password": password }))
        .send()
        .await
}

#[tokio::test]
async fn a_reset_request_is_202_with_identical_responses_for_known_and_unknown_accounts() {
    let mut hook = Webhook::start().await;
    let app = delivering(&hook, |_| {}).await;
    let alice = app.register_with_example_email("alice").await;

    let known = request_reset(&app, "alice").await;
    let message = hook.next().await;
    let unknown = request_reset(&app, "nobody").await;
    let unknown_email = request_reset(&app, "nobody@example.com").await;
    assert_eq!(known.fingerprint(), unknown.fingerprint());
    assert_eq!(known.fingerprint(), unknown_email.fingerprint());
    let known = known.assert_status(202);
    assert!(
        known
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "{:?}",
        known.headers
    );
    assert!(known.json().is_object(), "{}", known.text());

    Webhook::assert_delivery(
        &message,
        "password_reset",
        id_of(&alice),
        "alice",
        "alice@example.com",
    );
    assert!(message["code"].as_str().is_some_and(|c| !c.is_empty()));
    assert_rfc3339_utc(&message["expires_at"]);
    // The unknown accounts got nothing delivered.
    hook.assert_nothing_within(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_reset_can_be_asked_for_by_email_ignoring_case() {
    let mut hook = Webhook::start().await;
    let app = delivering(&hook, no_interval).await;
    let alice = app.register_with_example_email("alice").await;
    request_reset(&app, "Alice@Example.com")
        .await
        .assert_status(202);
    let message = hook.next().await;
    assert_eq!(message["kind"], "password_reset");
    assert_eq!(message["user_id"].as_u64(), Some(id_of(&alice)));
    request_reset(&app, "ALICE").await.assert_status(202);
    assert_eq!(hook.next().await["user_id"].as_u64(), Some(id_of(&alice)));
}

#[tokio::test]
async fn resetting_sets_the_new_password_and_kills_every_previous_token() {
    let mut hook = Webhook::start().await;
    let app = delivering(&hook, |_| {}).await;
    app.register("alice", PASSWORD).await;
    let tokens = [
        app.token_for("alice", PASSWORD).await,
        app.token_for("alice", PASSWORD).await,
    ];
    let code = reset_code(&app, &mut hook, "alice").await;
    let response = reset(&app, &code, NEW_PASSWORD).await.assert_status(204);
    assert!(response.body.is_empty());

    for dead in &tokens {
        app.assert_token_refused(dead).await;
    }
    app.try_issue_token("alice", PASSWORD)
        .await
        .refused(INVALID_CREDENTIALS);
    let token = app.token_for("alice", NEW_PASSWORD).await;
    app.assert_token_accepted(&token).await;
}

#[tokio::test]
async fn a_reset_code_works_once() {
    let mut hook = Webhook::start().await;
    let app = delivering(&hook, |_| {}).await;
    app.register("alice", PASSWORD).await;
    let code = reset_code(&app, &mut hook, "alice").await;
    reset(&app, &code, NEW_PASSWORD).await.assert_status(204);
    let token = app.token_for("alice", NEW_PASSWORD).await;
    reset(&app, &code, "a second new password")
        .await
        .refused(INVALID_CODE);
    // The refused reuse changed nothing.
    app.assert_token_accepted(&token).await;
    app.me_basic("alice", NEW_PASSWORD).await;
}

#[tokio::test]
async fn the_password_policy_applies_and_a_refused_password_does_not_spend_the_code() {
    let mut hook = Webhook::start().await;
    let app = delivering(&hook, |_| {}).await;
    let token = app.register_and_issue_token("alice_liddell").await;
    let code = reset_code(&app, &mut hook, "alice_liddell").await;
    let too_long = "x".repeat(1025);
    for bad in [
        "",
        "short",
        "password123",
        "iloveyou1",
        "Alice_Liddell",
        "tab\there inside",
        too_long.as_str(),
    ] {
        let problem = reset(&app, &code, bad).await.refused(INVALID_REQUEST);
        assert!(!problem["detail"].as_str().unwrap().is_empty(), "{bad:?}");
    }
    // Nothing changed: the old password and token still work...
    app.assert_token_accepted(&token).await;
    app.me_basic("alice_liddell", PASSWORD).await;
    // ...and the code is still good for an acceptable password.
    reset(&app, &code, NEW_PASSWORD).await.assert_status(204);
    app.me_basic("alice_liddell", NEW_PASSWORD).await;
}

#[tokio::test]
async fn a_garbage_reset_code_is_400_invalid_code() {
    let mut hook = Webhook::start().await;
    let app = delivering(&hook, |_| {}).await;
    app.register("alice", PASSWORD).await;
    let code = reset_code(&app, &mut hook, "alice").await;
    let unissued = "A".repeat(code.len());
    for garbage in ["", "garbage", unissued.as_str(), &code[1..]] {
        reset(&app, garbage, NEW_PASSWORD)
            .await
            .refused(INVALID_CODE);
    }
    app.me_basic("alice", PASSWORD).await;
}

#[tokio::test]
async fn an_expired_reset_code_is_400_invalid_code() {
    let mut hook = Webhook::start().await;
    let app = delivering(&hook, |cfg| cfg.accounts.code_ttl_seconds = 1).await;
    app.register("alice", PASSWORD).await;
    let code = reset_code(&app, &mut hook, "alice").await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    reset(&app, &code, NEW_PASSWORD).await.refused(INVALID_CODE);
    app.me_basic("alice", PASSWORD).await;
}

/// No minimum interval between codes, for tests that need several codes
/// for one account in quick succession.
fn no_interval(cfg: &mut Config) {
    cfg.accounts.code_min_interval_seconds = 0;
}

#[tokio::test]
async fn many_reset_requests_for_one_account_deliver_one_code_within_the_interval() {
    let mut hook = Webhook::start().await;
    // A roomy IP bucket, so that only the account's own limit is at work.
    let app = delivering(&hook, |cfg| cfg.throttle.code_burst = 100).await;
    app.register("alice", PASSWORD).await;
    let first = request_reset(&app, "alice").await.assert_status(202);
    let code = hook.next_code("password_reset").await;
    // Ten at once, then ten more, all within the default 60 s.
    let burst: Vec<Resp> =
        futures_util::future::join_all((0..10).map(|_| request_reset(&app, "alice"))).await;
    for response in burst {
        assert_eq!(response.fingerprint(), first.fingerprint());
    }
    for _ in 0..10 {
        let response = request_reset(&app, "Alice").await;
        assert_eq!(response.fingerprint(), first.fingerprint());
    }
    hook.assert_nothing_within(Duration::from_secs(2)).await;
    // The one code delivered was not made stale by the requests after it.
    reset(&app, &code, NEW_PASSWORD).await.assert_status(204);
}

#[tokio::test]
async fn the_code_request_bucket_of_an_ip_holds_back_codes_for_any_account_alike() {
    let mut hook = Webhook::start().await;
    let app = delivering(&hook, |cfg| {
        cfg.throttle.code_burst = 2;
        cfg.throttle.code_per_minute = 1;
    })
    .await;
    for name in ["alice", "bob", "carol"] {
        app.register(name, PASSWORD).await;
    }
    let first = request_reset(&app, "alice").await.assert_status(202);
    assert_eq!(hook.next_code("password_reset").await.len(), 43);
    request_reset(&app, "nobody").await.assert_status(202);
    // The bucket is empty: a real account gets the same answer, and nothing.
    let held_back = request_reset(&app, "carol").await;
    assert_eq!(held_back.fingerprint(), first.fingerprint());
    hook.assert_nothing_within(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn an_earlier_reset_code_still_works_after_a_newer_one_was_issued() {
    let mut hook = Webhook::start().await;
    let app = delivering(&hook, no_interval).await;
    app.register("alice", PASSWORD).await;
    let first = reset_code(&app, &mut hook, "alice").await;
    let second = reset_code(&app, &mut hook, "alice").await;
    assert_ne!(first, second);
    reset(&app, &first, NEW_PASSWORD).await.assert_status(204);
    // Using one spent the other: the reset is done.
    reset(&app, &second, "yet another new password")
        .await
        .refused(INVALID_CODE);
}

#[tokio::test]
async fn a_new_reset_code_drops_the_oldest_beyond_max_live_codes() {
    let mut hook = Webhook::start().await;
    let app = delivering(&hook, no_interval).await;
    app.register("alice", PASSWORD).await;
    let mut codes = Vec::new();
    for _ in 0..4 {
        codes.push(reset_code(&app, &mut hook, "alice").await);
        // Codes are ordered by their second of issue.
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    // Three live codes by default: the fourth dropped the first.
    reset(&app, &codes[0], NEW_PASSWORD)
        .await
        .refused(INVALID_CODE);
    reset(&app, &codes[1], NEW_PASSWORD)
        .await
        .assert_status(204);
    for spent in &codes[2..] {
        reset(&app, spent, "yet another new password")
            .await
            .refused(INVALID_CODE);
    }
}

#[tokio::test]
async fn with_one_live_code_a_new_reset_code_replaces_the_previous_one() {
    let mut hook = Webhook::start().await;
    let app = delivering(&hook, |cfg| {
        no_interval(cfg);
        cfg.accounts.max_live_codes = 1;
    })
    .await;
    app.register("alice", PASSWORD).await;
    let first = reset_code(&app, &mut hook, "alice").await;
    let second = reset_code(&app, &mut hook, "alice").await;
    assert_ne!(first, second);
    reset(&app, &first, NEW_PASSWORD)
        .await
        .refused(INVALID_CODE);
    reset(&app, &second, NEW_PASSWORD).await.assert_status(204);
}

#[tokio::test]
async fn a_confirmation_code_is_not_a_reset_code_nor_the_reverse() {
    let mut hook = Webhook::start().await;
    let app = delivering(&hook, |cfg| cfg.accounts.require_confirmation = true).await;
    app.register("alice", PASSWORD).await;
    let confirmation = hook.next_code("confirmation").await;
    let for_reset = reset_code(&app, &mut hook, "alice").await;

    reset(&app, &confirmation, NEW_PASSWORD)
        .await
        .refused(INVALID_CODE);
    app.post("/api/confirm")
        .json(&json!({ "code": for_reset }))
        .refused(INVALID_CODE)
        .await;
    app.me_basic("alice", PASSWORD).await;

    // Each still works for its own purpose, and one does not replace the other.
    app.post("/api/confirm")
        .json(&json!({ "code": confirmation }))
        .expect(204)
        .await;
    reset(&app, &for_reset, NEW_PASSWORD)
        .await
        .assert_status(204);
    app.me_basic("alice", NEW_PASSWORD).await;
}

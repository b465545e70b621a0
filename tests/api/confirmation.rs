//! Confirmed accounts: with `accounts.require_confirmation` on, a new
//! account gets a single-use code by webhook and can do little but manage
//! its tokens until it redeems it at `POST /api/confirm`.

use crate::support::{
    FORBIDDEN, INVALID_CODE, INVALID_CREDENTIALS, INVALID_TOKEN, NOT_FOUND, PASSWORD, TestServer,
    UNCONFIRMED_ACCOUNT, USERNAME_TAKEN, Webhook, assert_rfc3339_utc, id_of, path_of, secret,
};
use latchkey::config::Config;
use serde_json::{Value, json};
use std::time::Duration;

/// A server that requires confirmation and delivers codes to `hook`.
async fn confirming(hook: &Webhook, adjust: impl FnOnce(&mut Config)) -> TestServer {
    TestServer::spawn_with(|cfg| {
        cfg.accounts.require_confirmation = true;
        hook.configure(cfg);
        adjust(cfg);
    })
    .await
}

/// Registers `username` (email `{username}@example.com`) and returns the
/// user and the confirmation code delivered for it.
async fn register_unconfirmed(
    app: &TestServer,
    hook: &mut Webhook,
    username: &str,
) -> (Value, String) {
    let user = app
        .register_with_email(username, PASSWORD, &format!("{username}@example.com"))
        .await;
    let code = hook.next_code("confirmation").await;
    (user, code)
}

/// Asks for a new confirmation code for `user` with `token`; asserts the
/// bodiless 202, which is the same whether a code is sent or held back.
async fn ask_for_a_new_code(app: &TestServer, user: &Value, token: &str) {
    let response = app
        .post_as(&format!("/api/users/{}/confirmation", id_of(user)), token)
        .expect(202)
        .await;
    assert!(response.body.is_empty(), "{}", response.text());
}

/// POSTs `code` to `/api/confirm` with no credentials.
async fn confirm(app: &TestServer, code: &str) -> crate::support::Resp {
    app.post("/api/confirm")
        .json(&json!({ "code": code }))
        .send()
        .await
}

#[tokio::test]
async fn a_new_registration_is_unconfirmed_and_its_code_is_posted_to_the_webhook() {
    let mut hook = Webhook::start().await;
    let app = confirming(&hook, |_| {}).await;
    let alice = app.register_with_example_email("alice").await;
    assert_eq!(alice["confirmed"], false, "{alice}");
    let me = app.me_basic("alice", PASSWORD).await;
    assert_eq!(me["confirmed"], false, "{me}");

    let message = hook.next().await;
    Webhook::assert_delivery(
        &message,
        "confirmation",
        id_of(&alice),
        "alice",
        "alice@example.com",
    );
    assert!(
        message["code"].as_str().is_some_and(|c| c.len() >= 32),
        "{message}"
    );
    let expires = assert_rfc3339_utc(&message["expires_at"]);
    let ttl = expires - time::OffsetDateTime::now_utc();
    assert!(
        (3500..=3600).contains(&ttl.whole_seconds()),
        "code expires in {ttl}, not the default hour"
    );
    hook.assert_nothing_within(Duration::from_millis(700)).await;
}

#[tokio::test]
async fn a_taken_email_answers_a_registration_exactly_like_a_new_one() {
    let mut hook = Webhook::start().await;
    let app = confirming(&hook, |_| {}).await;
    app.register_with_example_email("alice").await;
    hook.next_code("confirmation").await;
    let register = |username: &'static str, email: &'static str| {
        app.post("/api/users")
            .json(&json!({ "username": username, "password": PASSWORD, "email": email }))
            .send()
    };
    let new = register("bob", "bob@example.com").await;
    let taken = register("mallory", "ALICE@example.com").await;
    assert_eq!(new.fingerprint(), taken.fingerprint());
    let body = new.assert_status(202).json();
    assert_eq!(body["status"], "pending_confirmation", "{body}");
    assert!(body.get("id").is_none(), "{body}");
    // Only the new account got a code, and the taken email made no account.
    let message = hook.next().await;
    assert_eq!(message["username"], "bob", "{message}");
    hook.assert_nothing_within(Duration::from_millis(500)).await;
    app.assert_password_refused("mallory", PASSWORD).await;
    // Usernames are public, so a taken one is still said so.
    register("bob", "other@example.com")
        .await
        .refused(USERNAME_TAKEN);
}

#[tokio::test]
async fn an_account_without_email_still_gets_its_code_with_a_null_email() {
    let mut hook = Webhook::start().await;
    let app = confirming(&hook, |_| {}).await;
    let bob = app.register("bob", PASSWORD).await;
    let message = hook.next().await;
    assert_eq!(message["kind"], "confirmation");
    assert_eq!(message["user_id"].as_u64(), Some(id_of(&bob)));
    assert_eq!(message["username"], "bob");
    assert!(message["email"].is_null(), "{message}");
}

#[tokio::test]
async fn without_required_confirmation_a_new_account_is_confirmed_and_sent_nothing() {
    let mut hook = Webhook::start().await;
    let app = TestServer::spawn_with(|cfg| hook.configure(cfg)).await;
    let alice = app.register_with_example_email("alice").await;
    assert_eq!(alice["confirmed"], true, "{alice}");
    let token = app.token_for("alice", PASSWORD).await;
    app.assert_token_accepted(&token).await;
    hook.assert_nothing_within(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn an_unconfirmed_account_may_manage_its_tokens_and_read_itself() {
    let mut hook = Webhook::start().await;
    let app = confirming(&hook, |_| {}).await;
    let (alice, _) = register_unconfirmed(&app, &mut hook, "alice").await;
    let kept = app.issue_token("alice", PASSWORD).await;
    let kept = secret(&kept);
    let by_id = app.issue_token("alice", PASSWORD).await;
    let other = app.token_for("alice", PASSWORD).await;
    let current = app.token_for("alice", PASSWORD).await;

    let me = app.me(&kept).await;
    assert_eq!(me["id"], alice["id"]);
    assert_eq!(me["confirmed"], false);
    let listed = app.get_as("/api/tokens", &kept).expect_json().await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 4, "{listed}");

    app.delete_as(&format!("/api/tokens/{}", id_of(&by_id)), &kept)
        .expect(204)
        .await;
    app.delete_as("/api/tokens", &current).expect(204).await;
    app.delete_as("/api/tokens?others=true", &kept)
        .expect(204)
        .await;
    for dead in [secret(&by_id), current, other] {
        app.get_as("/api/me", &dead).refused(INVALID_TOKEN).await;
    }
    let listed = app.get_as("/api/tokens", &kept).expect_json().await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
}

#[tokio::test]
async fn an_unconfirmed_account_is_refused_everywhere_else_with_403_unconfirmed_account() {
    let mut hook = Webhook::start().await;
    let app = confirming(&hook, |_| {}).await;
    let (alice, _) = register_unconfirmed(&app, &mut hook, "alice").await;
    let (bob, _) = register_unconfirmed(&app, &mut hook, "bob").await;
    let token = app.token_for("alice", PASSWORD).await;
    let own = path_of(&alice);
    let other = path_of(&bob);
    let email = json!({ "email": "new@example.com" });
    let refused = [
        app.get_as("/api/resource", &token).send().await,
        app.get("/api/resource").password("alice").send().await,
        app.get_as("/api/admin/resource", &token).send().await,
        app.get_as("/api/users", &token).send().await,
        app.get("/api/users").password("alice").send().await,
        app.get_as(&own, &token).send().await,
        app.get_as(&other, &token).send().await,
        app.patch_as(&own, &token).json(&email).send().await,
        app.delete_as(&own, &token).send().await,
    ];
    for response in refused {
        let problem = response.refused(UNCONFIRMED_ACCOUNT);
        assert!(!problem["detail"].as_str().unwrap().is_empty(), "{problem}");
    }
    // Nothing was changed or deleted by the refused requests.
    let me = app.me(&token).await;
    assert_eq!(me["email"], "alice@example.com");
}

#[tokio::test]
async fn confirming_with_the_code_alone_unlocks_the_account_and_its_tokens() {
    let mut hook = Webhook::start().await;
    let app = confirming(&hook, |_| {}).await;
    let (alice, code) = register_unconfirmed(&app, &mut hook, "alice").await;
    let token = app.token_for("alice", PASSWORD).await;
    app.get_as("/api/resource", &token)
        .refused(UNCONFIRMED_ACCOUNT)
        .await;

    let response = confirm(&app, &code).await.assert_status(204);
    assert!(response.body.is_empty());

    let resource = app.get_as("/api/resource", &token).expect_json().await;
    assert_eq!(resource, json!({ "data": "Hello, alice!" }));
    let me = app.me(&token).await;
    assert_eq!(me["id"], alice["id"]);
    assert_eq!(me["confirmed"], true, "{me}");
    app.get_as("/api/users", &token).expect(200).await;
}

#[tokio::test]
async fn a_confirmation_code_confirms_only_its_own_account() {
    let mut hook = Webhook::start().await;
    let app = confirming(&hook, |_| {}).await;
    let (_, alice_code) = register_unconfirmed(&app, &mut hook, "alice").await;
    register_unconfirmed(&app, &mut hook, "bob").await;
    confirm(&app, &alice_code).await.assert_status(204);
    let bob_token = app.token_for("bob", PASSWORD).await;
    app.get_as("/api/resource", &bob_token)
        .refused(UNCONFIRMED_ACCOUNT)
        .await;
}

#[tokio::test]
async fn a_confirmation_code_works_once() {
    let mut hook = Webhook::start().await;
    let app = confirming(&hook, |_| {}).await;
    let (_, code) = register_unconfirmed(&app, &mut hook, "alice").await;
    confirm(&app, &code).await.assert_status(204);
    confirm(&app, &code).await.refused(INVALID_CODE);
}

#[tokio::test]
async fn a_garbage_code_or_a_code_with_space_around_it_is_400_invalid_code() {
    let mut hook = Webhook::start().await;
    let app = confirming(&hook, |_| {}).await;
    let (_, code) = register_unconfirmed(&app, &mut hook, "alice").await;
    let token = app.token_for("alice", PASSWORD).await;
    // Shaped like a code, but not one that was issued.
    let unissued = "A".repeat(code.len());
    let truncated = &code[..code.len() - 1];
    let too_long = format!("{code}A");
    // Codes are parsed exactly: white space is not trimmed away.
    let (trailing, leading) = (format!("{code} "), format!(" {code}"));
    let newline = format!("{code}\n");
    for garbage in [
        trailing.as_str(),
        leading.as_str(),
        newline.as_str(),
        "",
        "garbage",
        unissued.as_str(),
        truncated,
        too_long.as_str(),
        token.as_str(),
        &"x".repeat(10_000),
    ] {
        confirm(&app, garbage).await.refused(INVALID_CODE);
    }
    // None of that spent or harmed the real code.
    confirm(&app, &code).await.assert_status(204);
}

#[tokio::test]
async fn an_expired_confirmation_code_is_400_invalid_code() {
    let mut hook = Webhook::start().await;
    let app = confirming(&hook, |cfg| cfg.accounts.code_ttl_seconds = 1).await;
    let (_, code) = register_unconfirmed(&app, &mut hook, "alice").await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    confirm(&app, &code).await.refused(INVALID_CODE);
    let me = app.me_basic("alice", PASSWORD).await;
    assert_eq!(me["confirmed"], false, "{me}");
}

#[tokio::test]
async fn asking_for_a_new_code_sends_one_and_with_one_live_code_it_replaces_the_previous() {
    let mut hook = Webhook::start().await;
    let app = confirming(&hook, |cfg| {
        cfg.accounts.code_min_interval_seconds = 0;
        cfg.accounts.max_live_codes = 1;
    })
    .await;
    let (alice, first) = register_unconfirmed(&app, &mut hook, "alice").await;
    let token = app.token_for("alice", PASSWORD).await;
    ask_for_a_new_code(&app, &alice, &token).await;
    let message = hook.next().await;
    assert_eq!(message["user_id"].as_u64(), Some(id_of(&alice)));
    let second = Webhook::code_of(&message, "confirmation");
    assert_ne!(second, first);

    confirm(&app, &first).await.refused(INVALID_CODE);
    confirm(&app, &second).await.assert_status(204);
    app.assert_token_accepted(&token).await;
}

#[tokio::test]
async fn asking_for_a_new_code_works_with_a_password_too() {
    let mut hook = Webhook::start().await;
    let app = confirming(&hook, |cfg| cfg.accounts.code_min_interval_seconds = 0).await;
    let (alice, _) = register_unconfirmed(&app, &mut hook, "alice").await;
    app.post(&format!("/api/users/{}/confirmation", id_of(&alice)))
        .password("alice")
        .expect(202)
        .await;
    let code = hook.next_code("confirmation").await;
    confirm(&app, &code).await.assert_status(204);
}

#[tokio::test]
async fn asking_for_a_code_for_another_account_is_forbidden_and_sends_nothing() {
    let mut hook = Webhook::start().await;
    let app = confirming(&hook, |_| {}).await;
    let (alice, _) = register_unconfirmed(&app, &mut hook, "alice").await;
    register_unconfirmed(&app, &mut hook, "bob").await;
    let bob_token = app.token_for("bob", PASSWORD).await;
    app.post_as(
        &format!("/api/users/{}/confirmation", id_of(&alice)),
        &bob_token,
    )
    .refused(FORBIDDEN)
    .await;
    app.post_as("/api/users/999999/confirmation", &bob_token)
        .refused(NOT_FOUND)
        .await;
    app.post(&format!("/api/users/{}/confirmation", id_of(&alice)))
        .refused(INVALID_CREDENTIALS)
        .await;
    hook.assert_nothing_within(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn an_admin_can_confirm_anyone_with_a_patch() {
    let mut hook = Webhook::start().await;
    let app = TestServer::spawn_with_admin(|cfg| {
        cfg.accounts.require_confirmation = true;
        hook.configure(cfg);
    })
    .await;
    let (alice, _) = register_unconfirmed(&app, &mut hook, "alice").await;
    let alice_token = app.token_for("alice", PASSWORD).await;
    let admin = app.admin_token().await;
    let updated = app
        .patch_as(&path_of(&alice), &admin)
        .json(&json!({ "confirmed": true }))
        .expect_json()
        .await;
    assert_eq!(updated["confirmed"], true, "{updated}");
    app.assert_token_accepted(&alice_token).await;
}

#[tokio::test]
async fn the_webhook_is_retried_when_it_fails() {
    let mut hook = Webhook::failing_first(1).await;
    let app = confirming(&hook, |_| {}).await;
    let alice = app.register("alice", PASSWORD).await;
    let (refused, refused_at) = hook.next_received().await;
    let (accepted, accepted_at) = hook.next_received().await;
    let gap = accepted_at - refused_at;
    assert_eq!(refused, accepted);
    assert_eq!(accepted["user_id"].as_u64(), Some(id_of(&alice)));
    // The backoff starts at 500 ms.
    assert!(gap >= Duration::from_millis(400), "retried after {gap:?}");
    // Accepted: no third attempt (it would come 1 s after the second).
    hook.assert_nothing_within(Duration::from_millis(1500))
        .await;
    let code = Webhook::code_of(&accepted, "confirmation");
    confirm(&app, &code).await.assert_status(204);
}

#[tokio::test]
async fn asking_again_within_the_interval_is_202_and_sends_nothing() {
    let mut hook = Webhook::start().await;
    let app = confirming(&hook, |_| {}).await;
    let (alice, code) = register_unconfirmed(&app, &mut hook, "alice").await;
    let token = app.token_for("alice", PASSWORD).await;
    // The registration's code counts: a minute has not passed.
    for _ in 0..5 {
        ask_for_a_new_code(&app, &alice, &token).await;
    }
    hook.assert_nothing_within(Duration::from_secs(2)).await;
    confirm(&app, &code).await.assert_status(204);
}

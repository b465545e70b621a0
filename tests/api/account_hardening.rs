//! Account hardening on password and email changes: the current password
//! is required and counts into the lockout, and control characters are
//! refused rather than altered or ignored.

use crate::support::{
    INVALID_CREDENTIALS, INVALID_CURRENT_PASSWORD, INVALID_REQUEST, PASSWORD, RATE_LIMITED,
    TestServer, path_of,
};
use serde_json::json;

#[tokio::test]
async fn a_password_with_a_trailing_nul_does_not_log_in_as_the_password_without_it() {
    let app = TestServer::spawn().await;
    app.register("alice", PASSWORD).await;
    let with_nul = format!("{PASSWORD}\u{0}");
    app.assert_password_refused("alice", &with_nul).await;
    app.post("/api/tokens")
        .json(&json!({ "username": "alice", "password": with_nul }))
        .refused(INVALID_CREDENTIALS)
        .await;
    app.me_basic("alice", PASSWORD).await;
}

#[tokio::test]
async fn a_new_password_with_a_control_character_is_refused_not_altered() {
    let app = TestServer::spawn().await;
    for bad in [
        format!("{PASSWORD}\u{0}"),
        format!("\u{0}{PASSWORD}"),
        format!("{PASSWORD}\u{7f}"),
        format!("{PASSWORD}\u{85}"),
    ] {
        app.try_register("alice", &bad)
            .await
            .refused(INVALID_REQUEST);
    }
}

#[tokio::test]
async fn password_change_requires_the_current_password() {
    let app = TestServer::spawn().await;
    let (alice, stolen) = app.user_with_token("alice").await;
    let path = path_of(&alice);
    let change = |body: serde_json::Value| app.patch_as(&path, &stolen).json(&body).send();
    let missing = change(json!({ "password": "taken over by a thief" })).await;
    let wrong =
        change(json!({ "password": "taken over by a thief", "current_password": "a guess at it" }))
            .await;
    // Missing and wrong answer alike, so neither tells the thief more.
    assert_eq!(missing.fingerprint(), wrong.fingerprint());
    missing.refused(INVALID_CURRENT_PASSWORD);
    app.me_basic("alice", PASSWORD).await;
    change(json!({ "password": "a brand new secret", "current_password": PASSWORD }))
        .await
        .assert_status(200);
    app.me_basic("alice", "a brand new secret").await;
}

#[tokio::test]
async fn email_change_requires_the_current_password() {
    let app = TestServer::spawn().await;
    let alice = app.register_with_example_email("alice").await;
    let stolen = app.token_for("alice", PASSWORD).await;
    let path = path_of(&alice);
    for body in [
        json!({ "email": "thief@example.com" }),
        json!({ "email": null }),
        json!({ "email": "thief@example.com", "current_password": "a guess at it" }),
    ] {
        app.patch_as(&path, &stolen)
            .json(&body)
            .refused(INVALID_CURRENT_PASSWORD)
            .await;
    }
    let me = app.me(&stolen).await;
    assert_eq!(me["email"], "alice@example.com");
}

#[tokio::test]
async fn wrong_current_passwords_count_into_the_accounts_lockout() {
    let app = TestServer::spawn().await;
    let (alice, stolen) = app.user_with_token("alice").await;
    let path = path_of(&alice);
    for attempt in 0..5 {
        app.patch_as(&path, &stolen)
            .json(&json!({ "password": "taken over by a thief", "current_password": format!("guess {attempt}") }))
            .refused(INVALID_CURRENT_PASSWORD).await;
    }
    // Locked out: even the right current password, or a login, waits.
    app.patch_as(&path, &stolen)
        .json(&json!({ "password": "taken over by a thief", "current_password": PASSWORD }))
        .refused(RATE_LIMITED)
        .await;
    app.try_issue_token("alice", PASSWORD)
        .await
        .refused(RATE_LIMITED);
}

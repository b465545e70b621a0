//! `/api/tokens` and `/api/tokens/{id}`: issuing, listing, revoking and
//! expiring bearer tokens.

use crate::support::{
    INVALID_CREDENTIALS, INVALID_REQUEST, INVALID_TOKEN, NOT_FOUND, PASSWORD, TestServer,
    assert_has_keys, assert_rfc3339_utc, assert_token_shape, basic_header, id_of, items, secret,
};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

#[tokio::test]
async fn issuing_with_basic_needs_no_body_and_returns_a_bearer_token() {
    let app = TestServer::spawn().await;
    let response = app.register_and_log_in("alice").await;
    let issued = response.json();
    assert_has_keys(
        &issued,
        &["token", "token_type", "expires_in", "expires_at", "id"],
    );
    assert_token_shape(issued["token"].as_str().unwrap());
    assert_eq!(issued["token_type"], "Bearer");
    assert_eq!(issued["expires_in"], 3600);
    id_of(&issued);
    let expires_at = assert_rfc3339_utc(&issued["expires_at"]);
    let from_now = expires_at - time::OffsetDateTime::now_utc();
    assert!(
        (3540..=3601).contains(&from_now.whole_seconds()),
        "expires_at {expires_at} is not an hour from now"
    );
}

#[tokio::test]
async fn expires_in_follows_the_configured_ttl() {
    let app = TestServer::spawn_with(|cfg| cfg.tokens.ttl_seconds = 120).await;
    app.register("alice", PASSWORD).await;
    let issued = app.issue_token("alice", PASSWORD).await;
    assert_eq!(issued["expires_in"], 120);
}

#[tokio::test]
async fn issuing_with_a_json_body_works_by_username_or_email() {
    let app = TestServer::spawn().await;
    app.register_with_example_email("alice").await;
    for login in ["alice", "alice@example.com"] {
        let response = app
            .post("/api/tokens")
            .json(&json!({ "username": login, "password": PASSWORD }))
            .expect(200)
            .await;
        assert_eq!(response.header("cache-control"), Some("no-store"));
        let token = secret(&response.json());
        assert_token_shape(&token);
        let me = app.me(&token).await;
        assert_eq!(me["username"], "alice");
    }
}

#[tokio::test]
async fn issuing_with_basic_accepts_the_email_as_username() {
    let app = TestServer::spawn().await;
    app.register_with_example_email("alice").await;
    app.issue_token("alice@example.com", PASSWORD).await;
}

#[tokio::test]
async fn issuing_with_a_wrong_password_is_401_invalid_credentials() {
    let app = TestServer::spawn().await;
    app.register("alice", PASSWORD).await;
    app.try_issue_token("alice", "not the password")
        .await
        .refused(INVALID_CREDENTIALS);
    app.post("/api/tokens")
        .json(&json!({ "username": "alice", "password": "not the password" }))
        .refused(INVALID_CREDENTIALS)
        .await;
    app.post("/api/tokens")
        .json(&json!({ "username": "nobody", "password": PASSWORD }))
        .refused(INVALID_CREDENTIALS)
        .await;
}

#[tokio::test]
async fn issuing_without_credentials_is_401_invalid_credentials() {
    let app = TestServer::spawn().await;
    app.post("/api/tokens").refused(INVALID_CREDENTIALS).await;
}

#[tokio::test]
async fn issuing_with_a_token_is_refused_in_every_form() {
    let (app, token) = TestServer::with_token("alice").await;
    for authorization in [
        format!("Bearer {token}"),
        format!("bearer {token}"),
        token.clone(),
        basic_header(&token, "anything"),
    ] {
        let response = app
            .post("/api/tokens")
            .authorization(&authorization)
            .send()
            .await;
        assert!(
            response
                .header("cache-control")
                .is_none_or(|v| v == "no-store")
        );
        response.refused(INVALID_CREDENTIALS);
    }
    // The token itself is unharmed.
    app.assert_token_accepted(&token).await;
}

#[tokio::test]
async fn every_issued_token_is_distinct() {
    let app = TestServer::spawn().await;
    app.register("alice", PASSWORD).await;
    let mut tokens = BTreeSet::new();
    let mut ids = BTreeSet::new();
    for _ in 0..5 {
        let issued = app.issue_token("alice", PASSWORD).await;
        tokens.insert(secret(&issued));
        ids.insert(id_of(&issued));
    }
    assert_eq!(tokens.len(), 5);
    assert_eq!(ids.len(), 5);
}

#[tokio::test]
async fn listing_shows_the_callers_live_tokens_without_their_secrets() {
    let app = TestServer::spawn().await;
    app.register("alice", PASSWORD).await;
    let first = app.issue_token("alice", PASSWORD).await;
    let second = app.issue_token("alice", PASSWORD).await;
    let response = app
        .get_as("/api/tokens", &secret(&second))
        .expect(200)
        .await;
    let text = response.text();
    assert!(!text.contains(&secret(&first)), "{text}");
    assert!(!text.contains(&secret(&second)), "{text}");
    assert!(!text.contains("lk_"), "{text}");
    let list = response.json();
    assert_has_keys(&list, &["items"]);
    let listed = items(&list);
    assert_eq!(listed.len(), 2, "{list}");
    for item in listed {
        assert_has_keys(item, &["id", "created_at", "expires_at", "current"]);
        assert_rfc3339_utc(&item["created_at"]);
        assert_rfc3339_utc(&item["expires_at"]);
    }
    let find = |issued: &Value| {
        listed
            .iter()
            .find(|item| item["id"] == issued["id"])
            .unwrap_or_else(|| panic!("token {} not listed in {list}", issued["id"]))
            .clone()
    };
    assert_eq!(find(&first)["current"], false);
    assert_eq!(find(&second)["current"], true);
    assert_eq!(find(&second)["expires_at"], second["expires_at"]);
}

#[tokio::test]
async fn listing_with_a_password_marks_no_token_current() {
    let app = TestServer::spawn().await;
    app.register("alice", PASSWORD).await;
    app.issue_token("alice", PASSWORD).await;
    let list = app.get_json_with_password("/api/tokens", "alice").await;
    assert_eq!(items(&list).len(), 1);
    assert_eq!(items(&list)[0]["current"], false);
}

#[tokio::test]
async fn listing_never_shows_another_users_tokens() {
    let app = TestServer::spawn().await;
    app.register_and_issue_token("alice").await;
    app.register("bob", PASSWORD).await;
    let list = app.get_json_with_password("/api/tokens", "bob").await;
    assert_eq!(list["items"], json!([]));
}

#[tokio::test]
async fn revoked_token_is_refused_on_next_request() {
    let (app, token) = TestServer::with_token("alice").await;
    let response = app.delete_as("/api/tokens", &token).expect(204).await;
    assert!(response.body.is_empty());
    app.assert_token_refused(&token).await;
    app.delete_as("/api/tokens", &token)
        .refused(INVALID_TOKEN)
        .await;
}

#[tokio::test]
async fn revoking_the_current_token_leaves_the_others_alive() {
    let app = TestServer::spawn().await;
    let revoked = app.register_and_issue_token("alice").await;
    let kept = app.token_for("alice", PASSWORD).await;
    app.delete_as("/api/tokens", &revoked).expect(204).await;
    app.assert_token_accepted(&kept).await;
}

#[tokio::test]
async fn revoking_the_current_token_works_with_every_token_form() {
    let app = TestServer::spawn().await;
    app.register("alice", PASSWORD).await;
    for form in ["bearer", "basic", "bare"] {
        let token = app.token_for("alice", PASSWORD).await;
        let authorization = match form {
            "bearer" => format!("bearer {token}"),
            "basic" => basic_header(&token, "x"),
            _ => token.clone(),
        };
        app.delete("/api/tokens")
            .authorization(&authorization)
            .expect(204)
            .await;
        app.assert_token_refused(&token).await;
    }
}

#[tokio::test]
async fn revoking_the_current_token_with_a_password_is_400() {
    let (app, token) = TestServer::with_token("alice").await;
    app.delete("/api/tokens")
        .password("alice")
        .refused(INVALID_REQUEST)
        .await;
    app.assert_token_accepted(&token).await;
}

#[tokio::test]
async fn revoking_the_current_token_needs_credentials() {
    let app = TestServer::spawn().await;
    app.delete("/api/tokens").refused(INVALID_CREDENTIALS).await;
}

#[tokio::test]
async fn revoking_one_token_by_id_kills_it_at_once() {
    let app = TestServer::spawn().await;
    app.register("alice", PASSWORD).await;
    let target = app.issue_token("alice", PASSWORD).await;
    let caller = app.token_for("alice", PASSWORD).await;
    let response = app
        .delete_as(&format!("/api/tokens/{}", id_of(&target)), &caller)
        .expect(204)
        .await;
    assert!(response.body.is_empty());
    app.assert_token_refused(&secret(&target)).await;
    app.assert_token_accepted(&caller).await;
    let list = app.get_as("/api/tokens", &caller).expect_json().await;
    assert_eq!(items(&list).len(), 1);
    assert_eq!(items(&list)[0]["current"], true);
    // A second revocation finds nothing.
    app.delete_as(&format!("/api/tokens/{}", id_of(&target)), &caller)
        .refused(NOT_FOUND)
        .await;
}

#[tokio::test]
async fn revoking_one_token_by_id_works_with_a_password() {
    let app = TestServer::spawn().await;
    app.register("alice", PASSWORD).await;
    let target = app.issue_token("alice", PASSWORD).await;
    app.delete(&format!("/api/tokens/{}", id_of(&target)))
        .password("alice")
        .expect(204)
        .await;
    app.assert_token_refused(&secret(&target)).await;
}

#[tokio::test]
async fn revoking_a_token_by_its_own_id_kills_it() {
    let app = TestServer::spawn().await;
    app.register("alice", PASSWORD).await;
    let issued = app.issue_token("alice", PASSWORD).await;
    let token = secret(&issued);
    app.delete_as(&format!("/api/tokens/{}", id_of(&issued)), &token)
        .expect(204)
        .await;
    app.assert_token_refused(&token).await;
}

#[tokio::test]
async fn another_users_token_cannot_be_revoked_and_is_404() {
    let app = TestServer::spawn().await;
    app.register("alice", PASSWORD).await;
    let alices = app.issue_token("alice", PASSWORD).await;
    let bob = app.register_and_issue_token("bob").await;
    app.delete_as(&format!("/api/tokens/{}", id_of(&alices)), &bob)
        .refused(NOT_FOUND)
        .await;
    app.delete(&format!("/api/tokens/{}", id_of(&alices)))
        .password("bob")
        .refused(NOT_FOUND)
        .await;
    app.assert_token_accepted(&secret(&alices)).await;
}

#[tokio::test]
async fn revoking_an_unknown_token_id_is_404() {
    let (app, token) = TestServer::with_token("alice").await;
    app.delete_as("/api/tokens/999999", &token)
        .refused(NOT_FOUND)
        .await;
}

#[tokio::test]
async fn expired_token_is_refused_and_no_longer_listed() {
    let app = TestServer::spawn_with(|cfg| cfg.tokens.ttl_seconds = 2).await;
    app.register("alice", PASSWORD).await;
    let issued = app.issue_token("alice", PASSWORD).await;
    assert_eq!(issued["expires_in"], 2);
    let token = secret(&issued);
    // Expiry is counted in whole seconds, so a 2 s token lives at least 1 s.
    app.assert_token_accepted(&token).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    for path in ["/api/resource", "/api/me", "/api/tokens"] {
        app.get_as(path, &token).refused(INVALID_TOKEN).await;
    }
    let list = app.get_json_with_password("/api/tokens", "alice").await;
    assert_eq!(list["items"], json!([]));
}

#[tokio::test]
async fn a_one_second_token_is_dead_two_seconds_later() {
    let app = TestServer::spawn_with(|cfg| cfg.tokens.ttl_seconds = 1).await;
    let token = app.register_and_issue_token("alice").await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    app.assert_token_refused(&token).await;
}
